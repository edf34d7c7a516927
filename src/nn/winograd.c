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
 *   DYt (16, tb, K)      DY transposed, for dw
 *   U  (16, K, C)        transformed weights (dinp: (16, C, K), of the rotated ones)
 *   Ut (16, K, C)        dinp: the rotated ones before their transpose
 *   Mw (16, K, C)        the weight gradient in the transformed domain, summed over blocks
 *                        ((16, C, K) when computed as V * DYt, see wino_backward)
 *
 * Rows of the map are read as even and odd columns (E[i] = x[2(m0+i)],
 * O[i] = x[2(m0+i)-1]) so that every transform is a plain elementwise loop
 * over the tiles of a row (VEC_FOR), in chunks of WT_CHUNK tiles kept on the stack.
 */
#include "winograd.h"
#include "medssl/common.h"
#include "medssl/parallel.h"
#include "vec.h"

#include <immintrin.h>
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
 * WT_MIN_TILES so the GEMMs stay wide enough to run near the GEMM's peak. (Blocks of
 * 128 to 2048 tiles measured within the noise of each other on this project's shapes.) */
#define WT_BLOCK_FLOATS ((size_t)1 << 20)
#define WT_MIN_TILES 256

static size_t block_tiles_target(int C, int K)
{
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

/* The workspace, carved in wino_forward/wino_backward's order. */
typedef struct {
    float *U, *Mw, *Ut, *V, *M, *DYt;
} wino_ws;

static size_t dyt_stride(int K, size_t tb) { return tb * (size_t)K + WT_PLANE_PAD; }

/* Floats of U and Mw (each), and of V and M (each). */
static size_t ws_weights(const ms_conv_shape *cs) { return (size_t)XI * cs->K * cs->C; }
static size_t ws_tiles(const wino_plan *p) { return (size_t)XI * plane_stride(p->chans, (size_t)row_ld((int)p->tb_max)); }

static wino_ws ws_carve(float *ws, const ms_conv_shape *cs, const wino_plan *p)
{
    wino_ws w;
    w.U = ws;
    w.Mw = w.U + ws_weights(cs);
    w.Ut = w.Mw + ws_weights(cs);
    w.V = w.Ut + ws_weights(cs);
    w.M = w.V + ws_tiles(p);
    w.DYt = w.M + ws_tiles(p);
    return w;
}

size_t wino_ws_size(const ms_conv_shape *cs)
{
    const wino_plan p = plan_of(cs);
    return 3 * ws_weights(cs) + 2 * ws_tiles(&p) + (size_t)XI * dyt_stride(cs->K, p.tb_max);
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

/* One channel c of input_transform (below). */
WT_KERNEL void input_channel(float *V, size_t ld, const float *x, int chans, int H, int W, const wino_plan *p,
                             int q0, int qn, int c)
{
    const size_t ps = plane_stride(chans, ld);
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

/* One channel k of grad_transform (below). */
WT_KERNEL void grad_channel(float *DY, size_t ld, const float *dy, int K, int H, int W, const wino_plan *p,
                            int q0, int qn, int k)
{
    const size_t ps = plane_stride(K, ld);
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

/* One channel k of output_transform (below). */
WT_KERNEL void output_channel(float *y, const float *M, size_t ld, int chans, int H, int W, const wino_plan *p,
                              int q0, int qn, const float *bias, int accumulate, int k)
{
    const size_t ps = plane_stride(chans, ld);
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

/* Each kernel above is compiled twice, for AVX2+FMA and for the baseline, and
 * chosen by a CPU check (parallel_avx2, as ggml does); the loops over channels
 * split over the threads. */

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
    const int avx2 = parallel_avx2();
    PARALLEL_FOR((size_t)chans * ld * XI)
    for (int c = 0; c < chans; c++)
        (avx2 ? input_channel_avx2 : input_channel_base)(V, ld, x, chans, H, W, p, q0, qn, c);
}

/* DY (16, K, ld) <- A dy A^T for every 2x2 tile of dy (N, K, H, W) in tile rows [q0, q0+qn). */
static void grad_transform(float *DY, size_t ld, const float *dy, int K, int H, int W, const wino_plan *p,
                           int q0, int qn)
{
    const int avx2 = parallel_avx2();
    PARALLEL_FOR((size_t)K * ld * XI)
    for (int k = 0; k < K; k++) (avx2 ? grad_channel_avx2 : grad_channel_base)(DY, ld, dy, K, H, W, p, q0, qn, k);
}

/* y (N, chans, H, W) = (or += when accumulate) A^T M A (+ bias) for the tiles of tile rows
 * [q0, q0+qn); M (16, chans, ld). */
static void output_transform(float *y, const float *M, size_t ld, int chans, int H, int W, const wino_plan *p,
                             int q0, int qn, const float *bias, int accumulate)
{
    const int avx2 = parallel_avx2();
    PARALLEL_FOR((size_t)chans * ld * XI)
    for (int k = 0; k < chans; k++)
        (avx2 ? output_channel_avx2 : output_channel_base)(y, M, ld, chans, H, W, p, q0, qn, bias, accumulate, k);
}

/* dst (cols, rows), row stride ldd = src (rows, cols)^T, row stride lds; 8x8 blocks
 * through AVX registers where the CPU has them. */
__attribute__((target("avx2"))) static void transpose8_avx2(float *dst, size_t ldd, const float *src, size_t lds)
{
    __m256 r[8], t[8], u[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + i * lds);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_ps(dst + i * ldd, _mm256_permute2f128_ps(u[i], u[i + 4], 0x20));
        _mm256_storeu_ps(dst + (i + 4) * ldd, _mm256_permute2f128_ps(u[i], u[i + 4], 0x31));
    }
}

static void transpose_plane(float *restrict dst, size_t ldd, const float *restrict src, size_t lds, int rows,
                            int cols, int avx2)
{
    const int r8 = avx2 ? rows / 8 * 8 : 0, c8 = avx2 ? cols / 8 * 8 : 0;
    for (int r = 0; r < r8; r += 8)
        for (int c = 0; c < c8; c += 8) transpose8_avx2(dst + (size_t)c * ldd + r, ldd, src + (size_t)r * lds + c, lds);
    for (int r = 0; r < rows; r++) /* what the blocks left: the last rows, the last columns */
        for (int c = r < r8 ? c8 : 0; c < cols; c++) dst[(size_t)c * ldd + r] = src[(size_t)r * lds + c];
}

/* U (16, K, C) at `at` <- G g G^T of the filters g = w[k][c], c in [0, C) (rotated by 180
 * degrees when `rotated`), vectorised over c: the 9 taps are first copied apart, g[i][c]. */
WT_KERNEL void weight_row(float *U, size_t KC, const float *restrict wk, int C, int rotated, size_t at)
{
    float g[9][WT_CHUNK];
    for (int c = 0; c < C; c++)
        for (int i = 0; i < 9; i++) g[i][c] = wk[(size_t)c * 9 + (rotated ? 8 - i : i)];
    const float *g0 = g[0], *g1 = g[1], *g2 = g[2], *g3 = g[3], *g4 = g[4], *g5 = g[5], *g6 = g[6], *g7 = g[7],
                *g8 = g[8];
    float o[XI][WT_CHUNK]; /* the 16 transformed values, in a local array the loop can vectorise into */
    float *u0 = o[0], *u1 = o[1], *u2 = o[2], *u3 = o[3], *u4 = o[4], *u5 = o[5], *u6 = o[6], *u7 = o[7],
          *u8 = o[8], *u9 = o[9], *u10 = o[10], *u11 = o[11], *u12 = o[12], *u13 = o[13], *u14 = o[14], *u15 = o[15];
    /* rows of G g: t0 = g row 0, t1 = (g0+g1+g2)/2 by rows, t2 = (g0-g1+g2)/2, t3 = g row 2;
     * then each row [a b c] -> [a, (a+b+c)/2, (a-b+c)/2, c] */
#define WT_G(d0, d1, d2, d3, a, b, c_) \
    d0[c] = (a); d1[c] = 0.5f * ((a) + (b) + (c_)); d2[c] = 0.5f * ((a) - (b) + (c_)); d3[c] = (c_)
    VEC_FOR(c, C, const float t1a = 0.5f * (g0[c] + g3[c] + g6[c]); const float t1b = 0.5f * (g1[c] + g4[c] + g7[c]);
            const float t1c = 0.5f * (g2[c] + g5[c] + g8[c]); const float t2a = 0.5f * (g0[c] - g3[c] + g6[c]);
            const float t2b = 0.5f * (g1[c] - g4[c] + g7[c]); const float t2c = 0.5f * (g2[c] - g5[c] + g8[c]);
            WT_G(u0, u1, u2, u3, g0[c], g1[c], g2[c]); WT_G(u4, u5, u6, u7, t1a, t1b, t1c);
            WT_G(u8, u9, u10, u11, t2a, t2b, t2c); WT_G(u12, u13, u14, u15, g6[c], g7[c], g8[c]));
#undef WT_G
    for (int xi = 0; xi < XI; xi++) memcpy(U + at + (size_t)xi * KC, o[xi], (size_t)C * sizeof(float));
}

WT_VARIANTS(weight_row, (float *restrict U, size_t KC, const float *restrict wk, int C, int rotated, size_t at),
            (U, KC, wk, C, rotated, at))

/* Forward: U (16, K, C) from w (K, C, 3, 3). Input gradient (rotated): U (16, C, K) of the
 * filters rotated by 180 degrees, through tmp (16, K, C) and a transpose per position. */
static void weight_transform(float *U, float *tmp, const float *w, int K, int C, int rotated)
{
    const int avx2 = parallel_avx2();
    const size_t KC = (size_t)K * C;
    float *dst = rotated ? tmp : U;
    PARALLEL_FOR(KC * XI)
    for (int k = 0; k < K; k++)
        for (int c0 = 0; c0 < C; c0 += WT_CHUNK)
            (avx2 ? weight_row_avx2 : weight_row_base)(dst, KC, w + ((size_t)k * C + c0) * 9,
                                                       C - c0 < WT_CHUNK ? C - c0 : WT_CHUNK, rotated,
                                                       (size_t)k * C + c0);
    if (rotated) {
        PARALLEL_FOR(KC * XI)
        for (int xi = 0; xi < XI; xi++)
            transpose_plane(U + (size_t)xi * KC, (size_t)K, tmp + (size_t)xi * KC, (size_t)C, K, C, avx2);
    }
}

/* dw (K, C, 3, 3) += G^T X G with X[i][j] = Mw at xi = 4i + j, Mw (16, A, B): (A, B) = (C, K)
 * when `ck` (the transposed product), else (K, C). Vectorised over a run of b; the nine
 * results of each filter are then added where the filter lives. */
WT_KERNEL void weight_grad_run(float *restrict dw, const float *restrict Mw, size_t KC, int K, int C, int ck, int a,
                               int b0, int nb)
{
    const float *x[XI];
    for (int xi = 0; xi < XI; xi++) x[xi] = Mw + (size_t)xi * KC + (size_t)a * (ck ? K : C) + b0;
    float z[9][WT_CHUNK];
    /* G^T over rows (z_r = X0 + (X1+X2)/2, (X1-X2)/2, (X1+X2)/2 + X3 per column j), then G over columns */
    VEC_FOR(i, nb,
            const float h0 = 0.5f * (x[4][i] + x[8][i]), h1 = 0.5f * (x[5][i] + x[9][i]);
            const float h2 = 0.5f * (x[6][i] + x[10][i]), h3 = 0.5f * (x[7][i] + x[11][i]);
            const float r00 = x[0][i] + h0, r01 = x[1][i] + h1, r02 = x[2][i] + h2, r03 = x[3][i] + h3;
            const float r10 = 0.5f * (x[4][i] - x[8][i]), r11 = 0.5f * (x[5][i] - x[9][i]);
            const float r12 = 0.5f * (x[6][i] - x[10][i]), r13 = 0.5f * (x[7][i] - x[11][i]);
            const float r20 = h0 + x[12][i], r21 = h1 + x[13][i], r22 = h2 + x[14][i], r23 = h3 + x[15][i];
            const float c0 = 0.5f * (r01 + r02), c1 = 0.5f * (r11 + r12), c2 = 0.5f * (r21 + r22);
            z[0][i] = r00 + c0; z[1][i] = 0.5f * (r01 - r02); z[2][i] = c0 + r03;
            z[3][i] = r10 + c1; z[4][i] = 0.5f * (r11 - r12); z[5][i] = c1 + r13;
            z[6][i] = r20 + c2; z[7][i] = 0.5f * (r21 - r22); z[8][i] = c2 + r23);
    for (int i = 0; i < nb; i++) {
        const int b = b0 + i;
        float *g = dw + ((size_t)(ck ? b : a) * C + (ck ? a : b)) * 9;
        for (int t = 0; t < 9; t++) g[t] += z[t][i];
    }
}

WT_VARIANTS(weight_grad_run, (float *restrict dw, const float *restrict Mw, size_t KC, int K, int C, int ck, int a,
                              int b0, int nb),
            (dw, Mw, KC, K, C, ck, a, b0, nb))

static void weight_grad_finish(float *dw, const float *Mw, int K, int C, int ck)
{
    const int avx2 = parallel_avx2(), A = ck ? C : K, B = ck ? K : C;
    const size_t KC = (size_t)K * C;
    for (int a = 0; a < A; a++)
        for (int b0 = 0; b0 < B; b0 += WT_CHUNK)
            (avx2 ? weight_grad_run_avx2 : weight_grad_run_base)(dw, Mw, KC, K, C, ck, a, b0,
                                                                 B - b0 < WT_CHUNK ? B - b0 : WT_CHUNK);
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
    const wino_ws b = ws_carve(ws, cs, &p);
    float *U = b.U, *V = b.V, *M = b.M;
    weight_transform(U, NULL, w, K, C, 0);
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
    const wino_ws b = ws_carve(ws, cs, &p);
    float *U = b.U, *Mw = b.Mw, *V = b.V, *M = b.M, *DYt = b.DYt;
    const int avx2 = parallel_avx2();
    /* The weight gradient's product: NN through a transpose of DY when a side is thin
     * (<= 32 channels: measured faster, e.g. 96 -> 32 channels at 96x96, 8 images: 27.5
     * -> 20.8 ms), else DY * V^T (NT), which was faster from 128 channels up. */
    const int ck = C <= 32 || K <= 32;
    if (dinp) weight_transform(U, b.Ut, w, K, C, 1);
    for (int q0 = 0; q0 < p.rows; q0 += p.qb) {
        const int qn = p.rows - q0 < p.qb ? p.rows - q0 : p.qb, tb = qn * p.TW, ld = row_ld(tb);
        if (dw) {
            input_transform(V, (size_t)ld, inp, C, H, W, &p, q0, qn);
            grad_transform(M, (size_t)ld, dout, K, H, W, &p, q0, qn);
            const float beta = q0 == 0 ? 0.0f : 1.0f;
            PARALLEL_FOR(WT_GEMM_WORK(K, tb, C))
            for (size_t xi = 0; xi < XI; xi++) {
                const float *dy_xi = M + xi * plane_stride(K, (size_t)ld), *v_xi = V + xi * plane_stride(C, (size_t)ld);
                if (ck) { /* Mw_xi (C, K) += V_xi (C, tb) * DYt_xi (tb, K) */
                    float *dyt = DYt + xi * dyt_stride(K, (size_t)tb);
                    transpose_plane(dyt, (size_t)K, dy_xi, (size_t)ld, K, tb, avx2);
                    parallel_sgemm(0, 0, C, K, tb, 1.0f, v_xi, ld, dyt, K, beta, Mw + xi * K * C, K);
                } else { /* Mw_xi (K, C) += DY_xi (K, tb) * V_xi^T (tb, C) */
                    parallel_sgemm(0, 1, K, C, tb, 1.0f, dy_xi, ld, v_xi, ld, beta, Mw + xi * K * C, C);
                }
            }
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
    if (dw) weight_grad_finish(dw, Mw, K, C, ck);
}
