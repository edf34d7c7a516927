/* testutil — a tiny test harness shared by the unit tests.
 *
 * A test program calls its cases with TU_RUN(fn); each case uses TU_CHECK /
 * TU_CLOSE, which count failures and print file:line with the values. main()
 * ends with `return tu_summary();`, which prints "N passed, N failed" and
 * returns non-zero if anything failed.
 */
#ifndef MEDSSL_TESTUTIL_H
#define MEDSSL_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

extern int tu_checks_failed; /* in the current case */
extern int tu_cases_passed, tu_cases_failed;

#define TU_CHECK(cond) \
    do { if (!(cond)) { tu_checks_failed++; \
        fprintf(stderr, "  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define TU_CHECKF(cond, ...) \
    do { if (!(cond)) { tu_checks_failed++; \
        fprintf(stderr, "  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
        fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)
/* |a-b| <= atol + rtol*|b| */
#define TU_CLOSE(a, b, atol, rtol) \
    do { double tu_a = (a), tu_b = (b); \
        if (!(tu_a - tu_b <= (atol) + (rtol) * (tu_b < 0 ? -tu_b : tu_b) && \
              tu_b - tu_a <= (atol) + (rtol) * (tu_b < 0 ? -tu_b : tu_b))) { \
            tu_checks_failed++; \
            fprintf(stderr, "  FAIL %s:%d: %s = %.9g, expected %s = %.9g\n", __FILE__, __LINE__, \
                    #a, tu_a, #b, tu_b); } } while (0)

#define TU_RUN(fn) tu_run(#fn, fn)
void tu_run(const char *name, void (*fn)(void));
int tu_summary(void);

/* Deterministic test data. */
void tu_fill_normal(float *x, size_t n, uint64_t seed, float scale);
void tu_fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi);

/* Largest |a-b| / (atol + rtol*|b|) over n floats: <= 1 means all close. */
double tu_max_rel_err(const float *a, const float *b, size_t n, double atol, double rtol);
/* Checks a[i] ~ b[i] for all i, reporting the worst index on failure. */
#define TU_ALLCLOSE(a, b, n, atol, rtol) \
    tu_allclose_at((a), (b), (n), (atol), (rtol), #a, #b, __FILE__, __LINE__)
void tu_allclose_at(const float *a, const float *b, size_t n, double atol, double rtol,
                    const char *an, const char *bn, const char *file, int line);

/* Finite-difference gradient check of a scalar function of a float vector.
 * f(ctx) evaluates the loss using the CURRENT contents of x (double for accuracy);
 * analytic (n) holds the gradient to check. Central differences with step h.
 * Entries where f is not smooth can be skipped by the caller before calling
 * (skip (n) non-NULL: skip[i] != 0 means do not check i). Checks at most
 * max_checks evenly spread entries (0 = all). Returns the number of mismatches
 * (|num - ana| > atol + rtol * max(|num|, |ana|)) and reports the first few. */
int tu_gradcheck(const char *what, double (*f)(void *ctx), void *ctx, float *x,
                 const float *analytic, size_t n, const unsigned char *skip, float h,
                 double atol, double rtol, size_t max_checks);

#endif
