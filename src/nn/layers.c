/* layers — activations, pooling, linear, dropout, upsampling, zero padding
 * and cropping, and joins
 * (see include/medssl/layers.h; convolution lives in conv.c, batchnorm in
 * batchnorm.c, the shared vector kernels in vec.c).
 *
 * Dimension legend:
 *   N  batch size          C  channels            H, W  input height, width
 *   HW = H*W               M = N*HW (values per channel that batchnorm normalises)
 *   I, O  linear in/out features                  n  flat element count
 *
 * Forward overwrites `out`; backward accumulates (+=) into every gradient it
 * is given and skips NULL ones.
 *
 * Hot elementwise loops are written with a fixed-width inner block (VEC_FOR):
 * at -O2, GCC 12's "very cheap" vectoriser cost model leaves a plain loop with an
 * unknown trip count scalar but vectorises a constant 8-iteration body.
 * Per-channel sums use VW float lanes flushed to a double every block, which
 * keeps both the speed of float SIMD and the accuracy of a double total.
 */
#include "medssl/layers.h"
#include "medssl/common.h"
#include "medssl/parallel.h"
#include "medssl/rng.h"
#include "vec.h"

#include <math.h>
#include <string.h>

/* Elementwise kernels. GCC honours restrict reliably on parameters (and keeps it
 * through inlining), not on local pointer variables, so the loops live here. */

/* z (n) = x (n) + y (n) */
static void add3(float *restrict z, const float *restrict x, const float *restrict y, size_t n)
{
    VEC_FOR(i, n, z[i] = x[i] + y[i]);
}

/* ---- activations ------------------------------------------------------------------ */

/* The slope factor f = x > 0 ? 1 : slope is computed as m + (1-m)*slope with m in
 * {0,1}: exact, and (unlike a ternary) vectorised at -O2. NaN propagates. */

static void relu_inplace(float *x, size_t n, float slope)
{
    size_t b = 0;
    for (; b + VW <= n; b += VW) {
        float m[VW];
        for (int j = 0; j < VW; j++) m[j] = (float)(x[b + j] > 0.0f);
        for (int j = 0; j < VW; j++) x[b + j] *= m[j] + (1.0f - m[j]) * slope;
    }
    for (; b < n; b++) x[b] = x[b] > 0.0f ? x[b] : slope * x[b];
}

static void relu_copy(float *restrict y, const float *restrict x, size_t n, float slope)
{
    size_t b = 0;
    for (; b + VW <= n; b += VW) {
        float m[VW];
        for (int j = 0; j < VW; j++) m[j] = (float)(x[b + j] > 0.0f);
        for (int j = 0; j < VW; j++) y[b + j] = x[b + j] * (m[j] + (1.0f - m[j]) * slope);
    }
    for (; b < n; b++) y[b] = x[b] > 0.0f ? x[b] : slope * x[b];
}

/* out (n) = inp > 0 ? inp : slope * inp; out may equal inp. */
void relu_forward(float *out, const float *inp, size_t n, float slope)
{
    CHECKM(slope >= 0.0f, "backward reads the sign of the output");
    if (out == inp)
        PARALLEL_BLOCKS(n, relu_inplace(out + lo, len, slope));
    else
        PARALLEL_BLOCKS(n, relu_copy(out + lo, inp + lo, len, slope));
}

/* dx (n) += dy (n) * (y (n) > 0 ? 1 : slope) */
static void relu_grad(float *restrict dx, const float *restrict dy, const float *restrict y,
                      size_t n, float slope)
{
    size_t b = 0;
    for (; b + VW <= n; b += VW) {
        float m[VW];
        for (int j = 0; j < VW; j++) m[j] = (float)(y[b + j] > 0.0f);
        for (int j = 0; j < VW; j++) dx[b + j] += dy[b + j] * (m[j] + (1.0f - m[j]) * slope);
    }
    for (; b < n; b++) dx[b] += y[b] > 0.0f ? dy[b] : slope * dy[b];
}

/* Inverts out = inp > 0 ? inp : slope*inp (sign(out) == sign(inp) for slope >= 0):
 * dinp (n) += dout (n) * (out (n) > 0 ? 1 : slope). */
static void mask_by_positive(float *restrict dy, const float *restrict y, size_t n)
{
    VEC_FOR(i, n, dy[i] = y[i] > 0.0f ? dy[i] : 0.0f);
}

void relu_mask_grad(float *dout, const float *out, size_t n)
{
    PARALLEL_BLOCKS(n, mask_by_positive(dout + lo, out + lo, len));
}

void relu_backward(float *dinp, const float *dout, const float *out, size_t n, float slope)
{
    if (dinp) PARALLEL_BLOCKS(n, relu_grad(dinp + lo, dout + lo, out + lo, len, slope));
}

/* ---- pooling ---------------------------------------------------------------------- */

/* out, argmax (N,C,H/2,W/2) <- inp (N,C,H,W); an odd last row/column is dropped.
 * Ties go to the first maximum in row-major order; a NaN wins (as PyTorch). */
/* One output row of the 2x2 max pool: rows r0, r1 (2*OW inputs each) give
 * yr (OW) and ar (OW, flat input indices from top), outputs from `from` on.
 * Branch-free: the first of equal maxima wins (order r0[2o], r0[2o+1],
 * r1[2o], r1[2o+1]); a NaN wins (propagates). */
static void pool_row(float *restrict yr, int32_t *restrict ar, const float *restrict r0, const float *restrict r1,
                     int OW, int32_t top, int W, int from)
{
    for (int ow = from; ow < OW; ow++) {
        float v = r0[2 * ow];
        int32_t best = top + 2 * ow;
        float u = r0[2 * ow + 1];
        int take = (u > v) | (u != u);
        v = take ? u : v;
        best = take ? top + 2 * ow + 1 : best;
        u = r1[2 * ow];
        take = (u > v) | (u != u);
        v = take ? u : v;
        best = take ? top + W + 2 * ow : best;
        u = r1[2 * ow + 1];
        take = (u > v) | (u != u);
        v = take ? u : v;
        best = take ? top + W + 2 * ow + 1 : best;
        yr[ow] = v;
        ar[ow] = best;
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define POOL_AVX2 1
/* The even and odd columns of 16 consecutive floats, in order. */
#define POOL_EVEN(a, b) _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8))
#define POOL_ODD(a, b) _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8))

/* One step of the rule on 8 lanes: u replaces v (and its index) when u > v or u is NaN. */
__attribute__((target("avx2"))) static inline void pool_take(__m256 *v, __m256i *best, __m256 u, __m256i at)
{
    const __m256 take = _mm256_or_ps(_mm256_cmp_ps(u, *v, _CMP_GT_OQ), _mm256_cmp_ps(u, u, _CMP_UNORD_Q));
    *v = _mm256_blendv_ps(*v, u, take);
    *best = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(*best), _mm256_castsi256_ps(at), take));
}

/* pool_row 8 outputs at a time with AVX2 (the same comparisons lane by
 * lane, so the same results); returns the outputs done. */
__attribute__((target("avx2"))) static int pool_row_avx2(float *yr, int32_t *ar, const float *r0, const float *r1,
                                                        int OW, int32_t top, int W)
{
    int ow = 0;
    const __m256i lane2 = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    for (; ow + 8 <= OW; ow += 8) {
        const __m256 a0 = _mm256_loadu_ps(r0 + 2 * ow), a1 = _mm256_loadu_ps(r0 + 2 * ow + 8);
        const __m256 b0 = _mm256_loadu_ps(r1 + 2 * ow), b1 = _mm256_loadu_ps(r1 + 2 * ow + 8);
        const __m256i at = _mm256_add_epi32(_mm256_set1_epi32(top + 2 * ow), lane2);
        __m256 v = POOL_EVEN(a0, a1);
        __m256i best = at;
        pool_take(&v, &best, POOL_ODD(a0, a1), _mm256_add_epi32(at, _mm256_set1_epi32(1)));
        pool_take(&v, &best, POOL_EVEN(b0, b1), _mm256_add_epi32(at, _mm256_set1_epi32(W)));
        pool_take(&v, &best, POOL_ODD(b0, b1), _mm256_add_epi32(at, _mm256_set1_epi32(W + 1)));
        _mm256_storeu_ps(yr + ow, v);
        _mm256_storeu_si256((__m256i *)(ar + ow), best);
    }
    return ow;
}
#else
#define POOL_AVX2 0
#endif

void maxpool2x2_forward(float *out, int32_t *argmax, const float *inp, int N, int C, int H, int W)
{
    CHECK(N > 0 && C > 0 && H >= 2 && W >= 2);
    const int OH = H / 2, OW = W / 2;
#if POOL_AVX2
    const int avx2 = parallel_avx2();
#endif
    PARALLEL_FOR((size_t)N * C * H * W)
    for (size_t p = 0; p < (size_t)N * C; p++) {
        const float *x = inp + p * H * W;       /* (H,W) */
        float *y = out + p * OH * OW;           /* (OH,OW) */
        int32_t *am = argmax + p * OH * OW;     /* (OH,OW) */
        for (int oh = 0; oh < OH; oh++) {
            const float *r0 = x + (size_t)(2 * oh) * W, *r1 = r0 + W;
            float *yr = y + (size_t)oh * OW;
            int32_t *ar = am + (size_t)oh * OW;
            int done = 0;
#if POOL_AVX2
            if (avx2) done = pool_row_avx2(yr, ar, r0, r1, OW, 2 * oh * W, W);
#endif
            pool_row(yr, ar, r0, r1, OW, 2 * oh * W, W, done);
        }
    }
}

void maxpool2x2_backward(float *dinp, const float *dout, const int32_t *argmax, int N, int C,
                         int H, int W)
{
    if (!dinp) return;
    const size_t OHW = (size_t)(H / 2) * (W / 2);
    PARALLEL_FOR((size_t)N * C * H * W)
    for (size_t p = 0; p < (size_t)N * C; p++) {
        float *dx = dinp + p * H * W;
        const float *dy = dout + p * OHW;
        const int32_t *am = argmax + p * OHW;
        for (size_t o = 0; o < OHW; o++) dx[am[o]] += dy[o];
    }
}

/* out (N,C) = mean over HW of inp (N,C,HW). */
void gap_forward(float *out, const float *inp, int N, int C, int HW)
{
    CHECK(N > 0 && C > 0 && HW > 0);
    PARALLEL_FOR((size_t)N * C * HW)
    for (size_t p = 0; p < (size_t)N * C; p++)
        out[p] = (float)(vec_sum(inp + p * HW, (size_t)HW) / HW);
}

/* Inverts out = sum(inp)/HW: dinp (N,C,HW) += dout (N,C) / HW. */
void gap_backward(float *dinp, const float *dout, int N, int C, int HW)
{
    if (!dinp) return;
    const float inv = 1.0f / (float)HW;
    PARALLEL_FOR((size_t)N * C * HW)
    for (size_t p = 0; p < (size_t)N * C; p++) {
        float *dx = dinp + p * HW;
        const float g = dout[p] * inv;
        VEC_FOR(i, HW, dx[i] += g);
    }
}

/* ---- linear ------------------------------------------------------------------------ */

/* The header's I and O are spelled in_f and out_f here: <cblas.h> pulls in
 * <complex.h>, which defines I as the imaginary unit. */

/* out (N,O) = inp (N,I) * w^T (I,O) + bias (O) (NULL = none); w (O,I). */
void linear_forward(float *out, const float *inp, const float *w, const float *bias, int N,
                    int in_f, int out_f)
{
    CHECK(N > 0 && in_f > 0 && out_f > 0);
    parallel_sgemm(0, 1, N, out_f, in_f, 1.0f, inp, in_f, w,
                in_f, 0.0f, out, out_f);
    if (bias)
        for (int n = 0; n < N; n++) vec_add_into(out + (size_t)n * out_f, bias, (size_t)out_f);
}

/* Inverts out (N,O) = inp (N,I) * w^T + bias:
 *   dinp (N,I) += dout (N,O) * w (O,I) ; dw (O,I) += dout^T (O,N) * inp (N,I) ;
 *   dbias (O) += sum over N of dout.  Each may be NULL. */
void linear_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                     const float *w, int N, int in_f, int out_f)
{
    CHECK(N > 0 && in_f > 0 && out_f > 0);
    if (dinp)
        parallel_sgemm(0, 0, N, in_f, out_f, 1.0f, dout, out_f,
                    w, in_f, 1.0f, dinp, in_f);
    if (dw)
        parallel_sgemm(1, 0, out_f, in_f, N, 1.0f, dout, out_f,
                    inp, in_f, 1.0f, dw, in_f);
    if (dbias)
        for (int n = 0; n < N; n++) vec_add_into(dbias, dout + (size_t)n * out_f, (size_t)out_f);
}

/* ---- dropout ----------------------------------------------------------------------- */

/* out (n) = keep(i) ? inp (n) / (1-p) : 0, keep(i) = rng_uniform_at(key, i) >= p. */
void dropout_forward(float *out, const float *inp, size_t n, float p, uint64_t key)
{
    CHECK(p >= 0.0f && p < 1.0f);
    if (p == 0.0f) {
        if (out != inp) memmove(out, inp, n * sizeof(float));
        return;
    }
    const float scale = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++)
        out[i] = rng_uniform_at(key, i) >= p ? inp[i] * scale : 0.0f;
}

/* Inverts the same mask: dinp (n) += keep(i) ? dout (n) / (1-p) : 0. */
void dropout_backward(float *dinp, const float *dout, size_t n, float p, uint64_t key)
{
    CHECK(p >= 0.0f && p < 1.0f);
    if (!dinp) return;
    if (p == 0.0f) {
        vec_add_into(dinp, dout, n);
        return;
    }
    const float scale = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++)
        if (rng_uniform_at(key, i) >= p) dinp[i] += dout[i] * scale;
}

/* ---- 2x upsampling ------------------------------------------------------------------ */

/* out (N,C,2H,2W)[2h+a][2w+b] = inp (N,C,H,W)[h][w]. */
void upsample2x_nearest_forward(float *out, const float *inp, int N, int C, int H, int W)
{
    CHECK(N > 0 && C > 0 && H > 0 && W > 0);
    const int OW = 2 * W;
    PARALLEL_FOR((size_t)N * C * H * W)
    for (size_t p = 0; p < (size_t)N * C; p++)
        for (int h = 0; h < H; h++) {
            const float *x = inp + (p * H + h) * W;
            float *y = out + (p * 2 * H + 2 * h) * OW; /* row 2h; row 2h+1 copies it */
            for (int w = 0; w < W; w++) y[2 * w] = y[2 * w + 1] = x[w];
            memcpy(y + OW, y, (size_t)OW * sizeof(float));
        }
}

/* Inverts the copies: dinp (N,C,H,W)[h][w] += sum of dout (N,C,2H,2W) over its 2x2 block. */
void upsample2x_nearest_backward(float *dinp, const float *dout, int N, int C, int H, int W)
{
    if (!dinp) return;
    const int OW = 2 * W;
    PARALLEL_FOR((size_t)N * C * H * W)
    for (size_t p = 0; p < (size_t)N * C; p++)
        for (int h = 0; h < H; h++) {
            float *dx = dinp + (p * H + h) * W;
            const float *d0 = dout + (p * 2 * H + 2 * h) * OW, *d1 = d0 + OW;
            for (int w = 0; w < W; w++)
                dx[w] += (d0[2 * w] + d0[2 * w + 1]) + (d1[2 * w] + d1[2 * w + 1]);
        }
}

/* Bilinear, align_corners=False, scale 2, per axis: output o reads source
 * (o + 0.5)/2 - 0.5 clamped at 0, i.e.
 *   out[2k]   = 0.75*in[k] + 0.25*in[max(k-1, 0)]
 *   out[2k+1] = 0.75*in[k] + 0.25*in[min(k+1, L-1)]
 * Output row 2k+a blends input rows k (0.75) and near_index(k, a) (0.25). */
static int near_index(int k, int a, int L)
{
    if (a == 0) return k > 0 ? k - 1 : 0;
    return k + 1 < L ? k + 1 : L - 1;
}

/* out (N,C,2H,2W) <- inp (N,C,H,W). */
void upsample2x_bilinear_forward(float *out, const float *inp, int N, int C, int H, int W)
{
    CHECK(N > 0 && C > 0 && H > 0 && W > 0);
    const int OW = 2 * W;
    PARALLEL_FOR((size_t)N * C * H * W)
    for (size_t p = 0; p < (size_t)N * C; p++) {
        const float *plane = inp + p * H * W;
        for (int oh = 0; oh < 2 * H; oh++) {
            const int k = oh / 2;
            const float *x0 = plane + (size_t)k * W;                        /* 0.75 */
            const float *x1 = plane + (size_t)near_index(k, oh & 1, H) * W; /* 0.25 */
            float *y = out + (p * 2 * H + oh) * OW;
            /* v_w = vertical blend of column w; then the horizontal blend of
             * v_{w-1}, v_w, v_{w+1} (clamped at the edges). */
            float v_prev = 0.75f * x0[0] + 0.25f * x1[0], v = v_prev;
            for (int w = 0; w < W; w++) {
                const float v_next = w + 1 < W ? 0.75f * x0[w + 1] + 0.25f * x1[w + 1] : v;
                y[2 * w] = 0.75f * v + 0.25f * v_prev;
                y[2 * w + 1] = 0.75f * v + 0.25f * v_next;
                v_prev = v;
                v = v_next;
            }
        }
    }
}

/* Inverts the forward's two blends. Per output row oh, the horizontal transpose
 *   g[w] = 0.75*(d[2w] + d[2w+1]) + 0.25*(d[max(2w-1,0)] + d[min(2w+2, 2W-1)])
 * is then spread vertically: dinp row k += 0.75*g, row near_index += 0.25*g
 * (1.0*g when both are the same clamped row). dinp (N,C,H,W); dout (N,C,2H,2W). */
void upsample2x_bilinear_backward(float *dinp, const float *dout, int N, int C, int H, int W)
{
    if (!dinp) return;
    const int OW = 2 * W;
    PARALLEL_FOR((size_t)N * C * H * W)
    for (size_t p = 0; p < (size_t)N * C; p++) {
        float *plane = dinp + p * H * W;
        for (int oh = 0; oh < 2 * H; oh++) {
            const int k = oh / 2, k1 = near_index(k, oh & 1, H);
            const float *d = dout + (p * 2 * H + oh) * OW;
            float *dx0 = plane + (size_t)k * W;
            float *dx1 = plane + (size_t)k1 * W;
            const float w0 = k1 == k ? 1.0f : 0.75f, w1 = k1 == k ? 0.0f : 0.25f;
            for (int w = 0; w < W; w++) {
                const int lo = 2 * w > 0 ? 2 * w - 1 : 0, hi = 2 * w + 2 < OW ? 2 * w + 2 : OW - 1;
                const float g = 0.75f * (d[2 * w] + d[2 * w + 1]) + 0.25f * (d[lo] + d[hi]);
                dx0[w] += w0 * g;
                if (k1 != k) dx1[w] += w1 * g;
            }
        }
    }
}

/* ---- zero padding and cropping ------------------------------------------------------ */

/* A planar window (rows, cols), per (n, c): dst (N,C,DH,DW)[dt:dt+rows, dl:dl+cols]
 * = (or += when add) src (N,C,SH,SW)[st:st+rows, sl:sl+cols]. zero_first: the
 * rest of each dst plane becomes 0 (it is zeroed whole first). */
typedef struct { int H, W, top, left; } plane_window;

static void copy_window(float *dst, plane_window d, const float *src, plane_window s, int N, int C, int rows,
                        int cols, int add, int zero_first)
{
    const size_t DHW = (size_t)d.H * d.W, SHW = (size_t)s.H * s.W;
    PARALLEL_FOR((size_t)N * C * (DHW > SHW ? DHW : SHW))
    for (size_t p = 0; p < (size_t)N * C; p++) {
        float *dp = dst + p * DHW;
        const float *sp = src + p * SHW;
        if (zero_first) memset(dp, 0, DHW * sizeof(float));
        for (int h = 0; h < rows; h++) {
            float *dr = dp + (size_t)(d.top + h) * d.W + d.left;       /* (cols) */
            const float *sr = sp + (size_t)(s.top + h) * s.W + s.left; /* (cols) */
            if (add) vec_add_into(dr, sr, (size_t)cols);
            else memcpy(dr, sr, (size_t)cols * sizeof(float));
        }
    }
}

static void check_window(int N, int C, int H, int W, int PH, int PW, int top, int left)
{
    CHECK(N > 0 && C > 0 && H > 0 && W > 0 && top >= 0 && left >= 0 && top + H <= PH && left + W <= PW);
}

/* out (N,C,PH,PW) = zeros with inp (N,C,H,W) at (top, left). */
void pad2d_forward(float *out, const float *inp, int N, int C, int H, int W, int PH, int PW, int top, int left)
{
    check_window(N, C, H, W, PH, PW, top, left);
    copy_window(out, (plane_window){ PH, PW, top, left }, inp, (plane_window){ H, W, 0, 0 }, N, C, H, W, 0, 1);
}

/* Inverts the placement: dinp (N,C,H,W) += dout (N,C,PH,PW)[top:top+H, left:left+W]. */
void pad2d_backward(float *dinp, const float *dout, int N, int C, int H, int W, int PH, int PW, int top, int left)
{
    check_window(N, C, H, W, PH, PW, top, left);
    if (dinp)
        copy_window(dinp, (plane_window){ H, W, 0, 0 }, dout, (plane_window){ PH, PW, top, left }, N, C, H, W, 1, 0);
}

/* out (N,C,H,W) = inp (N,C,PH,PW)[top:top+H, left:left+W]. */
void crop2d_forward(float *out, const float *inp, int N, int C, int H, int W, int PH, int PW, int top, int left)
{
    check_window(N, C, H, W, PH, PW, top, left);
    copy_window(out, (plane_window){ H, W, 0, 0 }, inp, (plane_window){ PH, PW, top, left }, N, C, H, W, 0, 0);
}

/* Inverts the window: dinp (N,C,PH,PW)[top:top+H, left:left+W] += dout (N,C,H,W). */
void crop2d_backward(float *dinp, const float *dout, int N, int C, int H, int W, int PH, int PW, int top, int left)
{
    check_window(N, C, H, W, PH, PW, top, left);
    if (dinp)
        copy_window(dinp, (plane_window){ PH, PW, top, left }, dout, (plane_window){ H, W, 0, 0 }, N, C, H, W, 1, 0);
}

/* ---- joins ------------------------------------------------------------------------- */

/* out (N, Ca+Cb, HW) = [a (N,Ca,HW), b (N,Cb,HW)] along channels. */
void concat_forward(float *out, const float *a, const float *b, int N, int Ca, int Cb, int HW)
{
    CHECK(N > 0 && Ca >= 0 && Cb >= 0 && HW > 0);
    const size_t na = (size_t)Ca * HW, nb = (size_t)Cb * HW;
    for (int n = 0; n < N; n++) {
        float *y = out + (size_t)n * (na + nb);
        memcpy(y, a + (size_t)n * na, na * sizeof(float));
        memcpy(y + na, b + (size_t)n * nb, nb * sizeof(float));
    }
}

/* Inverts the copies: da (N,Ca,HW) += dout[:, :Ca]; db (N,Cb,HW) += dout[:, Ca:]. */
void concat_backward(float *da, float *db, const float *dout, int N, int Ca, int Cb, int HW)
{
    const size_t na = (size_t)Ca * HW, nb = (size_t)Cb * HW;
    for (int n = 0; n < N; n++) {
        const float *d = dout + (size_t)n * (na + nb);
        if (da) vec_add_into(da + (size_t)n * na, d, na);
        if (db) vec_add_into(db + (size_t)n * nb, d + na, nb);
    }
}

/* out (n) = a (n) + b (n); out may equal a or b. */
void add_forward(float *out, const float *a, const float *b, size_t n)
{
    if (out == a && out == b) { VEC_FOR(i, n, out[i] += out[i]); return; }
    if (out == a) { vec_add_into(out, b, n); return; }
    if (out == b) { vec_add_into(out, a, n); return; }
    PARALLEL_BLOCKS(n, add3(out + lo, a + lo, b + lo, len));
}

/* Inverts out = a + b: da (n) += dout (n), db (n) += dout (n); da may equal db. */
void add_backward(float *da, float *db, const float *dout, size_t n)
{
    if (da) PARALLEL_BLOCKS(n, vec_add_into(da + lo, dout + lo, len));
    if (db) PARALLEL_BLOCKS(n, vec_add_into(db + lo, dout + lo, len));
}
