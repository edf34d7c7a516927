/* testutil — the tiny test harness (see testutil.h). */
#include "testutil.h"
#include "medssl/rng.h"

#include <math.h>
#include <stdio.h>

int tu_checks_failed;
int tu_cases_passed, tu_cases_failed;

void tu_run(const char *name, void (*fn)(void))
{
    tu_checks_failed = 0;
    fprintf(stderr, "[ RUN  ] %s\n", name);
    fn();
    if (tu_checks_failed) {
        tu_cases_failed++;
        fprintf(stderr, "[ FAIL ] %s (%d checks failed)\n", name, tu_checks_failed);
    } else {
        tu_cases_passed++;
        fprintf(stderr, "[  OK  ] %s\n", name);
    }
}

int tu_summary(void)
{
    printf("%d passed, %d failed\n", tu_cases_passed, tu_cases_failed);
    return tu_cases_failed ? 1 : 0;
}

void tu_fill_normal(float *x, size_t n, uint64_t seed, float scale)
{
    ms_rng r = rng_stream(rng_key(seed, 0, 0, RNG_DATA));
    for (size_t i = 0; i < n; i++) x[i] = scale * rng_normal(&r);
}

void tu_fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi)
{
    ms_rng r = rng_stream(rng_key(seed, 0, 1, RNG_DATA));
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng_uniform(&r);
}

double tu_max_rel_err(const float *a, const float *b, size_t n, double atol, double rtol)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double diff = fabs((double)a[i] - b[i]);
        if (diff == 0) continue; /* exact, also with atol = rtol = 0 */
        double e = diff / (atol + rtol * fabs((double)b[i]));
        if (isnan(e)) return INFINITY;
        if (e > worst) worst = e;
    }
    return worst;
}

void tu_allclose_at(const float *a, const float *b, size_t n, double atol, double rtol,
                    const char *an, const char *bn, const char *file, int line)
{
    size_t worst_i = 0;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double diff = fabs((double)a[i] - b[i]);
        if (diff == 0) continue; /* exact, also with atol = rtol = 0 */
        double e = diff / (atol + rtol * fabs((double)b[i]));
        if (isnan(e) || e > worst) { worst = isnan(e) ? INFINITY : e; worst_i = i; }
    }
    if (worst > 1.0) {
        tu_checks_failed++;
        fprintf(stderr, "  FAIL %s:%d: %s vs %s: worst at [%zu]: %.9g vs %.9g (%.3g x tolerance)\n",
                file, line, an, bn, worst_i, a[worst_i], b[worst_i], worst);
    }
}

int tu_gradcheck(const char *what, double (*f)(void *ctx), void *ctx, float *x,
                 const float *analytic, size_t n, const unsigned char *skip, float h,
                 double atol, double rtol, size_t max_checks)
{
    size_t stride = (max_checks && n > max_checks) ? n / max_checks : 1;
    int bad = 0, checked = 0;
    for (size_t i = 0; i < n; i += stride) {
        if (skip && skip[i]) continue;
        float x0 = x[i];
        x[i] = x0 + h;
        double fp = f(ctx);
        x[i] = x0 - h;
        double fm = f(ctx);
        x[i] = x0;
        double num = (fp - fm) / (2.0 * (double)h);
        double ana = analytic[i];
        double scale = fabs(num) > fabs(ana) ? fabs(num) : fabs(ana);
        checked++;
        if (!(fabs(num - ana) <= atol + rtol * scale)) {
            if (bad < 5)
                fprintf(stderr, "  gradcheck %s[%zu]: numeric %.6g analytic %.6g\n", what, i, num, ana);
            bad++;
        }
    }
    if (checked == 0) {
        fprintf(stderr, "  gradcheck %s: nothing checked\n", what);
        return 1;
    }
    if (bad) tu_checks_failed++;
    return bad;
}
