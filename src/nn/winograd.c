/* winograd — F(2x2, 3x3) convolutions over blocks of tiles (see winograd.h).
 *
 * Legend: N batch, C input channels, K output channels, H, W the map (the
 * same in and out: 3x3, stride 1, pad 1). A tile is a 2x2 output patch:
 * TH = ceil(H/2) tile rows and TW = ceil(W/2) tiles per row in each image;
 * a "tile row" q = n*TH + ty runs over all images. xi in [0, 16) is the
 * transformed position, xi = 4*i + j (row i, column j of the 4x4 tile).
 *
 * Work goes block by block, a block being qb consecutive tile rows (tb = qb*TW
 * tiles), so the transformed data of a block stays near the cache and the
 * workspace does not grow with the batch:
 *   V  (16, chans, tb)   transformed input (or output gradient) tiles
 *   M  (16, chans, tb)   GEMM products (forward, dinp), or DY for dw
 *   U  (16, K, C)        transformed weights (dinp: (16, C, K), of the rotated ones)
 *   Mw (16, K, C)        the weight gradient in the transformed domain, summed over blocks
 *
 * Rows of the map are read as even and odd columns (E[i] = x[2(m0+i)],
 * O[i] = x[2(m0+i)-1]) so that every transform is a plain elementwise loop
 * over the tiles of a row (VEC_FOR), in chunks of WT_CHUNK tiles kept on the stack.
 */
#include "winograd.h"
#include "medssl/common.h"
#include "medssl/parallel.h"
#include "vec.h"

#include <stdlib.h>
#include <string.h>

/* Inlined into each ISA variant (WT_VARIANTS below). */
#define WT_KERNEL static inline __attribute__((always_inline))

#define WT_CHUNK 64 /* tiles along a row per inner pass */
#define XI 16       /* transformed positions per tile */

int wino_shape_fits(const ms_conv_shape *cs)
{
    return cs->R == 3 && cs->S == 3 && cs->stride == 1 && cs->pad == 1;
}

/* The blocking of one shape. */
typedef struct {
    int TH, TW;     /* tile rows per image, tiles per tile row */
    int rows;       /* N * TH tile rows in all */
    int qb;         /* tile rows per block */
    size_t tb_max;  /* tiles per full block = qb * TW */
    int chans;      /* max(C, K): rows of V and M */
} wino_plan;

/* Tiles per block: about WT_BLOCK_FLOATS floats of V and M together, and at least
 * WT_MIN_TILES so the GEMMs stay wide enough to run near the GEMM's peak. */
#define WT_BLOCK_FLOATS ((size_t)1 << 20)
#define WT_MIN_TILES 256

static size_t block_tiles_target(int C, int K)
{
    const char *env = getenv("MEDSSL_WINO_TILES"); /* tuning knob for bench/ */
    if (env && atoi(env) > 0) return (size_t)atoi(env);
    size_t t = WT_BLOCK_FLOATS / ((size_t)XI * (size_t)(C + K));
    return t < WT_MIN_TILES ? WT_MIN_TILES : t;
}

static wino_plan plan_of(const ms_conv_shape *cs)
{
    wino_plan p;
    p.TH = (cs->H + 1) / 2;
    p.TW = (cs->W + 1) / 2;
    p.rows = cs->N * p.TH;
    size_t q = block_tiles_target(cs->C, cs->K) / (size_t)p.TW;
    if (q < 1) q = 1;
    if (q > (size_t)p.rows) q = (size_t)p.rows;
    p.qb = (int)q;
    p.tb_max = q * (size_t)p.TW;
    p.chans = cs->C > cs->K ? cs->C : cs->K;
    return p;
}

/* Floats from one transformed position's plane of V or M to the next: chans*tb plus one
 * cache line, so that the 16 planes a transform reads or writes side by side do not
 * fall on the same cache sets (chans*tb is often a power of two; measured on 32
 * channels of 64x64: the weight gradient took 74 ms with planes 128 KiB apart, 27 ms after). */
#define WT_PLANE_PAD 16
static size_t plane_stride(int chans, size_t ld) { return (size_t)chans * ld + WT_PLANE_PAD; }
/* Floats from one row of a plane to the next: the block's tiles plus a quarter line, for
 * the same reason (a block of 1024 tiles made rows 4 KiB apart). */
#define WT_ROW_PAD 4
static int row_ld(int tb) { return tb + WT_ROW_PAD; }

size_t wino_ws_size(const ms_conv_shape *cs)
{
    const wino_plan p = plan_of(cs);
    return 2 * (size_t)XI * cs->K * cs->C + 2 * (size_t)XI * plane_stride(p.chans, (size_t)row_ld((int)p.tb_max));
}

/* ---- transforms ---------------------------------------------------------------------- */

/* Row y of plane (H, W), tiles [m0, m0+nm] of a row (one more than nm, for the
 * right neighbour): E[i] = x[2(m0+i)], O[i] = x[2(m0+i) - 1] (pad-1 tiles start one
 * column left), 0 outside the image. */
WT_KERNEL void load_eo_shifted(float *restrict E, float *restrict O, const float *restrict plane, int y, int H,
                               int W, int m0, int nm)
{
    if (y < 0 || y >= H) {
        memset(E, 0, (size_t)(nm + 1) * sizeof(float));
        memset(O, 0, (size_t)(nm + 1) * sizeof(float));
        return;
    }
    const float *row = plane + (size_t)y * W + 2 * m0;
    const int x0 = 2 * m0;
    /* i in [1, nm) is always inside: 1 <= x0 + 2i - 1 and x0 + 2i <= 2*TW - 2 <= W - 1 */
    E[0] = row[0];
    O[0] = x0 >= 1 ? row[-1] : 0.0f;
    VEC_FOR(i, nm - 1, E[i + 1] = row[2 * i + 2]; O[i + 1] = row[2 * i + 1]);
    E[nm] = x0 + 2 * nm < W ? row[2 * nm] : 0.0f;
    O[nm] = x0 + 2 * nm - 1 < W ? row[2 * nm - 1] : 0.0f;
}

/* Row y of plane (H, W), tiles [m0, m0+nm): E[i] = x[2(m0+i)], O[i] = x[2(m0+i)+1]
 * (output-aligned tiles), 0 outside. */
WT_KERNEL void load_eo_aligned(float *restrict E, float *restrict O, const float *plane, int y, int H, int W,
                            int m0, int nm)
{
    if (y >= H) {
        memset(E, 0, (size_t)nm * sizeof(float));
        memset(O, 0, (size_t)nm * sizeof(float));
        return;
    }
    const float *row = plane + (size_t)y * W + 2 * m0;
    const int x0 = 2 * m0;
    if (x0 + 2 * nm <= W) {
        VEC_FOR(i, nm, E[i] = row[2 * i]; O[i] = row[2 * i + 1]);
        return;
    }
    for (int i = 0; i < nm; i++) {
        E[i] = x0 + 2 * i < W ? row[2 * i] : 0.0f;
        O[i] = x0 + 2 * i + 1 < W ? row[2 * i + 1] : 0.0f;
    }
}

/* The column half of B^T d B for one row of tiles: v0..v3 from the even and odd columns. */
WT_KERNEL void b_columns(float *restrict v0, float *restrict v1, float *restrict v2, float *restrict v3,
                         const float *restrict e, const float *restrict o, int nm)
{
    VEC_FOR(i, nm, v0[i] = o[i] - o[i + 1]; v1[i] = e[i] + o[i + 1]; v2[i] = o[i + 1] - e[i];
            v3[i] = e[i] - e[i + 1]);
}

/* The column half of A dy A^T: [p q] -> [p, p+q, p-q, -q]. */
WT_KERNEL void a_columns(float *restrict t0, float *restrict t1, float *restrict t2, float *restrict t3,
                         const float *restrict p, const float *restrict q, int nm)
{
    VEC_FOR(i, nm, t0[i] = p[i]; t1[i] = p[i] + q[i]; t2[i] = p[i] - q[i]; t3[i] = -q[i]);
}

/* V (16, chans, tb) <- B^T d B for every tile of tile rows [q0, q0+qn) of x (N, chans, H, W). */
WT_KERNEL void input_channel(float *V, size_t ld, const float *x, int chans, int H, int W, const wino_plan *p,
                             int q0, int qn, int c)
{
    const size_t ps = plane_stride(chans, ld);
    {
        float E[4][WT_CHUNK + 1], O[4][WT_CHUNK + 1];
        float DE[4][WT_CHUNK + 1], DO[4][WT_CHUNK + 1];
        for (int qi = 0; qi < qn; qi++) {
            const int q = q0 + qi, n = q / p->TH, ty = q % p->TH;
            const float *plane = x + ((size_t)n * chans + c) * H * W;
            for (int m0 = 0; m0 < p->TW; m0 += WT_CHUNK) {
                const int nm = p->TW - m0 < WT_CHUNK ? p->TW - m0 : WT_CHUNK;
                for (int r = 0; r < 4; r++) load_eo_shifted(E[r], O[r], plane, 2 * ty - 1 + r, H, W, m0, nm);
                /* B^T over the 4 rows */
                VEC_FOR(i, nm + 1, DE[0][i] = E[0][i] - E[2][i]; DE[1][i] = E[1][i] + E[2][i];
                        DE[2][i] = E[2][i] - E[1][i]; DE[3][i] = E[1][i] - E[3][i];
                        DO[0][i] = O[0][i] - O[2][i]; DO[1][i] = O[1][i] + O[2][i];
                        DO[2][i] = O[2][i] - O[1][i]; DO[3][i] = O[1][i] - O[3][i]);
                /* B over the 4 columns x = 2m-1, 2m, 2m+1, 2m+2 = O[m], E[m], O[m+1], E[m+1] */
                float *v = V + (size_t)c * ld + (size_t)qi * p->TW + m0;
                for (int r = 0; r < 4; r++)
                    b_columns(v + (size_t)(4 * r) * ps, v + (size_t)(4 * r + 1) * ps, v + (size_t)(4 * r + 2) * ps,
                              v + (size_t)(4 * r + 3) * ps, DE[r], DO[r], nm);
            }
        }
    }
}

/* DY (16, K, tb) <- A dy A^T for every 2x2 tile of dy (N, K, H, W) in tile rows [q0, q0+qn). */
WT_KERNEL void grad_channel(float *DY, size_t ld, const float *dy, int K, int H, int W, const wino_plan *p,
                            int q0, int qn, int k)
{
    const size_t ps = plane_stride(K, ld);
    {
        float a[WT_CHUNK], b[WT_CHUNK], c[WT_CHUNK], d[WT_CHUNK], P[4][WT_CHUNK], Q[4][WT_CHUNK];
        for (int qi = 0; qi < qn; qi++) {
            const int q = q0 + qi, n = q / p->TH, ty = q % p->TH;
            const float *plane = dy + ((size_t)n * K + k) * H * W;
            for (int m0 = 0; m0 < p->TW; m0 += WT_CHUNK) {
                const int nm = p->TW - m0 < WT_CHUNK ? p->TW - m0 : WT_CHUNK;
                load_eo_aligned(a, b, plane, 2 * ty, H, W, m0, nm);
                load_eo_aligned(c, d, plane, 2 * ty + 1, H, W, m0, nm);
                /* rows (A): [a b], [a+c b+d], [a-c b-d], [-c -d] */
                VEC_FOR(i, nm, P[0][i] = a[i]; Q[0][i] = b[i]; P[1][i] = a[i] + c[i]; Q[1][i] = b[i] + d[i];
                        P[2][i] = a[i] - c[i]; Q[2][i] = b[i] - d[i]; P[3][i] = -c[i]; Q[3][i] = -d[i]);
                float *t = DY + (size_t)k * ld + (size_t)qi * p->TW + m0;
                for (int r = 0; r < 4; r++)
                    a_columns(t + (size_t)(4 * r) * ps, t + (size_t)(4 * r + 1) * ps, t + (size_t)(4 * r + 2) * ps,
                              t + (size_t)(4 * r + 3) * ps, P[r], Q[r], nm);
            }
        }
    }
}

/* y (N, chans, H, W) = (or += when accumulate) A^T M A (+ bias) for the tiles of tile rows
 * [q0, q0+qn); M (16, chans, tb). */
WT_KERNEL void output_channel(float *y, const float *M, size_t ld, int chans, int H, int W, const wino_plan *p,
                              int q0, int qn, const float *bias, int accumulate, int k)
{
    const size_t ps = plane_stride(chans, ld);
    {
        float e0[WT_CHUNK], o0[WT_CHUNK], e1[WT_CHUNK], o1[WT_CHUNK];
        const float bk = bias ? bias[k] : 0.0f;
        for (int qi = 0; qi < qn; qi++) {
            const int q = q0 + qi, n = q / p->TH, ty = q % p->TH;
            float *plane = y + ((size_t)n * chans + k) * H * W;
            for (int m0 = 0; m0 < p->TW; m0 += WT_CHUNK) {
                const int nm = p->TW - m0 < WT_CHUNK ? p->TW - m0 : WT_CHUNK;
                const size_t j0 = (size_t)qi * p->TW + m0;
                const float *m[XI];
                for (int xi = 0; xi < XI; xi++) m[xi] = M + (size_t)xi * ps + (size_t)k * ld + j0;
                /* A^T over rows: P0 = M0 + M1 + M2, P1 = M1 - M2 - M3 (per column j);
                 * then over columns: [e, o] = [P0 + P1 + P2, P1 - P2 - P3] */
                VEC_FOR(i, nm,
                        const float a0 = m[0][i] + m[4][i] + m[8][i], a1 = m[1][i] + m[5][i] + m[9][i];
                        const float a2 = m[2][i] + m[6][i] + m[10][i], a3 = m[3][i] + m[7][i] + m[11][i];
                        const float b0 = m[4][i] - m[8][i] - m[12][i], b1 = m[5][i] - m[9][i] - m[13][i];
                        const float b2 = m[6][i] - m[10][i] - m[14][i], b3 = m[7][i] - m[11][i] - m[15][i];
                        e0[i] = a0 + a1 + a2 + bk; o0[i] = a1 - a2 - a3 + bk;
                        e1[i] = b0 + b1 + b2 + bk; o1[i] = b1 - b2 - b3 + bk);
                for (int half = 0; half < 2; half++) {
                    const int yy = 2 * ty + half;
                    if (yy >= H) break;
                    float *row = plane + (size_t)yy * W + 2 * m0;
                    const float *e = half ? e1 : e0, *o = half ? o1 : o0;
                    const int full = 2 * (m0 + nm) <= W ? nm : nm - 1; /* tiles with both columns inside */
                    if (accumulate) {
                        VEC_FOR(i, full, row[2 * i] += e[i]; row[2 * i + 1] += o[i]);
                        if (full < nm) row[2 * full] += e[full];
                    } else {
                        VEC_FOR(i, full, row[2 * i] = e[i]; row[2 * i + 1] = o[i]);
                        if (full < nm) row[2 * full] = e[full];
                    }
                }
            }
        }
    }
}

/* Each kernel above is compiled twice, for AVX2+FMA and for the baseline, and
 * chosen by a CPU check once (as ggml does); the loops over channels split over
 * the threads. */
static int wt_avx2(void)
{
    static int have = -1; /* a benign race: every thread stores the same answer */
    if (have < 0) have = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return have;
}

#define WT_VARIANTS(name, params, args)                                   \
    __attribute__((target("avx2,fma"))) static void name##_avx2 params { name args; } \
    static void name##_base params { name args; }

WT_VARIANTS(input_channel,
            (float *V, size_t ld, const float *x, int chans, int H, int W, const wino_plan *p, int q0, int qn, int c),
            (V, ld, x, chans, H, W, p, q0, qn, c))
WT_VARIANTS(grad_channel,
            (float *DY, size_t ld, const float *dy, int K, int H, int W, const wino_plan *p, int q0, int qn, int k),
            (DY, ld, dy, K, H, W, p, q0, qn, k))
WT_VARIANTS(output_channel,
            (float *y, const float *M, size_t ld, int chans, int H, int W, const wino_plan *p, int q0, int qn,
             const float *bias, int accumulate, int k),
            (y, M, ld, chans, H, W, p, q0, qn, bias, accumulate, k))

/* V (16, chans, ld) <- B^T d B for every tile of tile rows [q0, q0+qn) of x (N, chans, H, W). */
static void input_transform(float *V, size_t ld, const float *x, int chans, int H, int W, const wino_plan *p,
                            int q0, int qn)
{
    const int avx2 = wt_avx2();
    PARALLEL_FOR((size_t)chans * ld * XI)
    for (int c = 0; c < chans; c++)
        (avx2 ? input_channel_avx2 : input_channel_base)(V, ld, x, chans, H, W, p, q0, qn, c);
}

/* DY (16, K, ld) <- A dy A^T for every 2x2 tile of dy (N, K, H, W) in tile rows [q0, q0+qn). */
static void grad_transform(float *DY, size_t ld, const float *dy, int K, int H, int W, const wino_plan *p,
                           int q0, int qn)
{
    const int avx2 = wt_avx2();
    PARALLEL_FOR((size_t)K * ld * XI)
    for (int k = 0; k < K; k++) (avx2 ? grad_channel_avx2 : grad_channel_base)(DY, ld, dy, K, H, W, p, q0, qn, k);
}

/* y (N, chans, H, W) = (or += when accumulate) A^T M A (+ bias) for the tiles of tile rows
 * [q0, q0+qn); M (16, chans, ld). */
static void output_transform(float *y, const float *M, size_t ld, int chans, int H, int W, const wino_plan *p,
                             int q0, int qn, const float *bias, int accumulate)
{
    const int avx2 = wt_avx2();
    PARALLEL_FOR((size_t)chans * ld * XI)
    for (int k = 0; k < chans; k++)
        (avx2 ? output_channel_avx2 : output_channel_base)(y, M, ld, chans, H, W, p, q0, qn, bias, accumulate, k);
}

/* U (16, A, B) <- G g G^T of each 3x3 filter. Forward: A = K, B = C, g = w[k][c].
 * Input gradient (rotated): A = C, B = K, g[r][s] = w[k][c][2-r][2-s]. */
static void weight_transform(float *U, const float *w, int K, int C, int rotated)
{
    const int A = rotated ? C : K, B = rotated ? K : C;
    for (int k = 0; k < K; k++)
        for (int c = 0; c < C; c++) {
            const float *f = w + ((size_t)k * C + c) * 9;
            float g[9];
            for (int i = 0; i < 9; i++) g[i] = rotated ? f[8 - i] : f[i];
            float t[4][3]; /* G g: rows g0, (g0+g1+g2)/2, (g0-g1+g2)/2, g2 */
            for (int s = 0; s < 3; s++) {
                t[0][s] = g[s];
                t[1][s] = 0.5f * (g[s] + g[3 + s] + g[6 + s]);
                t[2][s] = 0.5f * (g[s] - g[3 + s] + g[6 + s]);
                t[3][s] = g[6 + s];
            }
            const size_t at = rotated ? (size_t)c * B + k : (size_t)k * B + c;
            for (int i = 0; i < 4; i++) {
                const float u[4] = { t[i][0], 0.5f * (t[i][0] + t[i][1] + t[i][2]),
                                     0.5f * (t[i][0] - t[i][1] + t[i][2]), t[i][2] };
                for (int j = 0; j < 4; j++) U[(size_t)(4 * i + j) * A * B + at] = u[j];
            }
        }
}

/* dw (K, C, 3, 3) += G^T X G with X[i][j] = Mw (16, K, C) at xi = 4i + j. */
static void weight_grad_finish(float *dw, const float *Mw, int K, int C)
{
    const size_t KC = (size_t)K * C;
    for (size_t kc = 0; kc < KC; kc++) {
        float x[4][4], z[3][4];
        for (int xi = 0; xi < XI; xi++) x[xi / 4][xi % 4] = Mw[xi * KC + kc];
        for (int j = 0; j < 4; j++) { /* G^T over rows */
            const float h = 0.5f * (x[1][j] + x[2][j]);
            z[0][j] = x[0][j] + h;
            z[1][j] = 0.5f * (x[1][j] - x[2][j]);
            z[2][j] = h + x[3][j];
        }
        float *g = dw + kc * 9;
        for (int r = 0; r < 3; r++) { /* G over columns */
            const float h = 0.5f * (z[r][1] + z[r][2]);
            g[3 * r + 0] += z[r][0] + h;
            g[3 * r + 1] += 0.5f * (z[r][1] - z[r][2]);
            g[3 * r + 2] += h + z[r][3];
        }
    }
}

/* With several threads, the 16 products of a block go to the threads whole (each a
 * single-threaded GEMM: parallel_sgemm does not split inside a parallel region).
 * Splitting each product instead halved the speed on 2 threads: they are small. */
#define WT_GEMM_WORK(K, tb, C) ((size_t)XI * (size_t)(K) * (size_t)(tb) * (size_t)(C))

/* ---- the convolution ------------------------------------------------------------------- */

void wino_forward(const ms_conv_shape *cs, float *out, float *ws, const float *inp, const float *w,
                  const float *bias)
{
    CHECK(wino_shape_fits(cs));
    const wino_plan p = plan_of(cs);
    const int C = cs->C, K = cs->K, H = cs->H, W = cs->W;
    float *U = ws, *V = ws + 2 * (size_t)XI * K * C, *M = V + (size_t)XI * plane_stride(p.chans, (size_t)row_ld((int)p.tb_max));
    weight_transform(U, w, K, C, 0);
    for (int q0 = 0; q0 < p.rows; q0 += p.qb) {
        const int qn = p.rows - q0 < p.qb ? p.rows - q0 : p.qb, tb = qn * p.TW, ld = row_ld(tb);
        input_transform(V, (size_t)ld, inp, C, H, W, &p, q0, qn);
        PARALLEL_FOR(WT_GEMM_WORK(K, tb, C))
        for (size_t xi = 0; xi < XI; xi++) /* M_xi (K, tb) = U_xi (K, C) * V_xi (C, tb) */
            parallel_sgemm(0, 0, K, tb, C, 1.0f, U + xi * K * C, C, V + xi * plane_stride(C, (size_t)ld), ld, 0.0f,
                           M + xi * plane_stride(K, (size_t)ld), ld);
        output_transform(out, M, (size_t)ld, K, H, W, &p, q0, qn, bias, 0);
    }
}

void wino_backward(const ms_conv_shape *cs, float *dinp, float *dw, float *ws, const float *dout,
                   const float *inp, const float *w)
{
    CHECK(wino_shape_fits(cs));
    if (!dinp && !dw) return;
    const wino_plan p = plan_of(cs);
    const int C = cs->C, K = cs->K, H = cs->H, W = cs->W;
    float *U = ws, *Mw = ws + (size_t)XI * K * C;
    float *V = ws + 2 * (size_t)XI * K * C, *M = V + (size_t)XI * plane_stride(p.chans, (size_t)row_ld((int)p.tb_max));
    if (dinp) weight_transform(U, w, K, C, 1);
    for (int q0 = 0; q0 < p.rows; q0 += p.qb) {
        const int qn = p.rows - q0 < p.qb ? p.rows - q0 : p.qb, tb = qn * p.TW, ld = row_ld(tb);
        if (dw) {
            input_transform(V, (size_t)ld, inp, C, H, W, &p, q0, qn);
            grad_transform(M, (size_t)ld, dout, K, H, W, &p, q0, qn);
            const float beta = q0 == 0 ? 0.0f : 1.0f;
            PARALLEL_FOR(WT_GEMM_WORK(K, tb, C))
            for (size_t xi = 0; xi < XI; xi++) /* Mw_xi (K, C) += DY_xi (K, tb) * V_xi^T (tb, C) */
                parallel_sgemm(0, 1, K, C, tb, 1.0f, M + xi * plane_stride(K, (size_t)ld), ld,
                               V + xi * plane_stride(C, (size_t)ld), ld, beta, Mw + xi * K * C, C);
        }
        if (dinp) {
            input_transform(V, (size_t)ld, dout, K, H, W, &p, q0, qn);
            PARALLEL_FOR(WT_GEMM_WORK(K, tb, C))
            for (size_t xi = 0; xi < XI; xi++) /* M_xi (C, tb) = U'_xi (C, K) * V_xi (K, tb) */
                parallel_sgemm(0, 0, C, tb, K, 1.0f, U + xi * C * K, K, V + xi * plane_stride(K, (size_t)ld), ld,
                               0.0f, M + xi * plane_stride(C, (size_t)ld), ld);
            output_transform(dinp, M, (size_t)ld, C, H, W, &p, q0, qn, NULL, 1);
        }
    }
    if (dw) weight_grad_finish(dw, Mw, K, C);
}
