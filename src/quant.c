/*
 * quant.c -- reduced-precision weights (quant.h): the roundings, the row-wise products over
 * bf16 and q8 matrices in plain C and AVX2 (the same bits: q8 sums exactly in int32, bf16 in a
 * fixed order of fp32 operations), and rnn_model_quantize, which converts a model in place.
 *
 * The definitions (docs/DESIGN.md, "Quantized weights"), all in binary32, round to nearest even:
 *   bf16(w)   = w rounded to its top 16 bits (ties to even)
 *   q8 block  = 32 consecutive inputs of a row (the last block of a row may be shorter):
 *               s = max|w| / 127 (fp32 division), q = rint(w / s) clamped to [-127, 127] (s = 0: q = 0)
 *   q8 dot    = the activation row quantized the same way per block (scale a), then
 *               acc = 0; for each block b in order: acc += (float)(sum of q_a * q_w, exact int32) * (s_w * s_a)
 *   bf16 dot  = 8 fp32 lanes, lane i += a[k] * w[k] for every k with k % 8 == i, in increasing k;
 *               then ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))
 *   output    = beta 0: dot; beta 1: C + dot
 * The q8 weights are interleaved by columns in memory (quant.h, rnn__qmat_index), so that the AVX2
 * kernel's lanes are outputs and an exact int32 block sum needs no horizontal reduction.
 */
#include "quant.h"
#include "model.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define RNN_HAVE_QAVX2 1
#include <immintrin.h>
#else
#define RNN_HAVE_QAVX2 0
#endif

int rnn__q_force = -1;

int rnn__q_have(int path)
{
    if (path == 0) return 1;
#if RNN_HAVE_QAVX2
    if (path == 1) return __builtin_cpu_supports("avx2");
#endif
    return 0;
}

static int q_path(void)
{
    static int best = -1;
    if (rnn__q_force >= 0) return rnn__q_force;
    if (best < 0) best = rnn__q_have(1) ? 1 : 0; /* (a race writes the same value) */
    return best;
}

/* ---- roundings ---------------------------------------------------------------------------------- */
uint16_t rnn__bf16_round(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* One block of n <= 32 values into q[0..32) (zero past n); returns the scale. A NaN or infinite
 * value makes the scale NaN (and q 0): the products of the block are then NaN, as in fp32. */
static float quant_block(const float *x, int n, int8_t *q)
{
    float amax = 0.0f;
    int bad = 0;
    for (int i = 0; i < n; i++) {
        float v = fabsf(x[i]);
        bad |= !(v <= 3.4028235e38f);
        amax = v > amax ? v : amax;
    }
    memset(q, 0, RNN_QBLOCK);
    if (bad) return NAN;
    float s = amax / 127.0f;
    if (s == 0.0f) return 0.0f;
    for (int i = 0; i < n; i++) {
        float r = rintf(x[i] / s);
        q[i] = (int8_t)(r > 127.0f ? 127 : r < -127.0f ? -127 : (int)r);
    }
    return s;
}

static void quant_row(const float *x, int K, int nb, int8_t *q, float *s)
{
    for (int b = 0; b < nb; b++) {
        int n = K - b * RNN_QBLOCK < RNN_QBLOCK ? K - b * RNN_QBLOCK : RNN_QBLOCK;
        s[b] = quant_block(x + (size_t)b * RNN_QBLOCK, n, q + (size_t)b * RNN_QBLOCK);
    }
}

/* ---- matrices ----------------------------------------------------------------------------------- */
int rnn__qmat_alloc(rnn__qmat *q, int type, int rows, int cols, const rnn_allocator *al)
{
    memset(q, 0, sizeof *q);
    q->type = type, q->rows = rows, q->cols = cols;
    q->nb = (cols + RNN_QBLOCK - 1) / RNN_QBLOCK;
    if (type == RNN_WEIGHTS_BF16) {
        q->bf = rnn__alloc(al, rnn__mul_size(rnn__mul_size((size_t)rows, (size_t)cols), 2));
        return q->bf ? RNN_OK : RNN_ERR_NOMEM;
    }
    /* whole groups of 8 rows, and one group more: the scratch of rnn__qmat_index; zeroed, so
     * that the padding rows add nothing to the integer sums */
    size_t g8 = ((size_t)rows + 7) / 8 * 8, qbytes = rnn__mul_size(g8 + 8, (size_t)q->nb * RNN_QBLOCK);
    q->q = rnn__alloc(al, qbytes);
    q->scale = rnn__alloc(al, rnn__mul_size(rnn__mul_size((size_t)rows, (size_t)q->nb), sizeof(float)));
    q->st = rnn__alloc(al, rnn__mul_size(rnn__mul_size(g8, (size_t)q->nb), sizeof(float)));
    if (q->q) memset(q->q, 0, qbytes);
    return q->q && q->scale && q->st ? RNN_OK : RNN_ERR_NOMEM;
}

void rnn__qmat_free(rnn__qmat *q, const rnn_allocator *al)
{
    rnn__free(al, q->bf);
    rnn__free(al, q->q);
    rnn__free(al, q->scale);
    rnn__free(al, q->st);
    memset(q, 0, sizeof *q);
}

void rnn__qmat_fill(rnn__qmat *q, const float *w)
{
    size_t n = (size_t)q->rows * q->cols, kp = (size_t)q->nb * RNN_QBLOCK;
    if (q->type == RNN_WEIGHTS_BF16) {
        for (size_t i = 0; i < n; i++) q->bf[i] = rnn__bf16_round(w[i]);
        return;
    }
    q->packed = 0;
    for (int r = 0; r < q->rows; r++)
        quant_row(w + (size_t)r * q->cols, q->cols, q->nb, q->q + (size_t)r * kp, q->scale + (size_t)r * q->nb);
    rnn__qmat_index(q);
}

/* the byte of weight (r, k) in the interleaved layout (quant.h) */
static inline size_t q_at(size_t kp, size_t r, size_t k) { return r / 8 * 8 * kp + k / 4 * 32 + r % 8 * 4 + k % 4; }

void rnn__qmat_index(rnn__qmat *q)
{
    if (q->type != RNN_WEIGHTS_Q8 || q->packed) return;
    size_t nb = (size_t)q->nb, kp = nb * RNN_QBLOCK, g8 = ((size_t)q->rows + 7) / 8 * 8;
    int8_t *tmp = q->q + g8 * kp; /* the scratch group: each group is copied there, then spread back */
    for (size_t g = 0; g < g8; g += 8) {
        int8_t *grp = q->q + g * kp;
        memcpy(tmp, grp, 8 * kp);
        for (size_t t = 0; t < kp / 4; t++)
            for (size_t o = 0; o < 8; o++) memcpy(grp + t * 32 + o * 4, tmp + o * kp + t * 4, 4);
        for (size_t b = 0; b < nb; b++)
            for (size_t o = 0; o < 8; o++)
                q->st[(g / 8 * nb + b) * 8 + o] = g + o < (size_t)q->rows ? q->scale[(g + o) * nb + b] : 0.0f;
    }
    q->packed = 1;
}

void rnn__qmat_qrow(const rnn__qmat *q, int r, int k0, int n, int8_t *out)
{
    size_t kp = (size_t)q->nb * RNN_QBLOCK;
    for (int k = 0; k < n; k++) out[k] = q->q[q_at(kp, (size_t)r, (size_t)(k0 + k))];
}

void rnn__qmat_row(const rnn__qmat *q, int r, float *out)
{
    if (q->type == RNN_WEIGHTS_BF16) {
        const uint16_t *b = q->bf + (size_t)r * q->cols;
        for (int k = 0; k < q->cols; k++) out[k] = rnn__bf16_float(b[k]);
        return;
    }
    size_t kp = (size_t)q->nb * RNN_QBLOCK;
    const float *s = q->scale + (size_t)r * q->nb;
    for (int k = 0; k < q->cols; k++) out[k] = (float)q->q[q_at(kp, (size_t)r, (size_t)k)] * s[k / RNN_QBLOCK];
}

/* ---- kernels: dots of activation rows with weight rows (the plain C ones define the results) ----- */
static float bf16_tree(const float *l) { return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7])); }

static void bf16_dots_c(const float *a, const uint16_t *w, int K, int n, float *out)
{
    for (int o = 0; o < n; o++) {
        const uint16_t *wr = w + (size_t)o * K;
        float l[8] = {0};
        for (int k = 0; k < K; k++) l[k & 7] += a[k] * rnn__bf16_float(wr[k]);
        out[o] = bf16_tree(l);
    }
}

/* one activation row (qa, sa) against weight row r of W (interleaved), as the definition says */
static float q8_dot_c(const int8_t *qa, const float *sa, const rnn__qmat *W, size_t r)
{
    int nb = W->nb;
    size_t kp = (size_t)nb * RNN_QBLOCK;
    const int8_t *wr = W->q + q_at(kp, r, 0);
    const float *s = W->scale + r * (size_t)nb;
    float acc = 0.0f;
    for (int b = 0; b < nb; b++) {
        int32_t sum = 0;
        for (size_t k = (size_t)b * RNN_QBLOCK; k < (size_t)(b + 1) * RNN_QBLOCK; k++)
            sum += (int32_t)qa[k] * wr[k / 4 * 32 + k % 4];
        acc += (float)sum * (s[b] * sa[b]);
    }
    return acc;
}

#if RNN_HAVE_QAVX2
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2")
#endif

/* activation rows per q8 kernel call */
#define Q8_R 6

static inline __m256 bf16_load8(const uint16_t *p)
{
    __m128i h = _mm_loadu_si128((const __m128i *)p);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

static void bf16_dots_avx2(const float *a, const uint16_t *w, int K, int n, float *out)
{
    int K8 = K & ~7;
    for (int o = 0; o < n; o++) {
        const uint16_t *wr = w + (size_t)o * K;
        __m256 acc = _mm256_setzero_ps();
        for (int k = 0; k < K8; k += 8) acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_loadu_ps(a + k), bf16_load8(wr + k)));
        float l[8];
        _mm256_storeu_ps(l, acc);
        for (int k = K8; k < K; k++) l[k & 7] += a[k] * rnn__bf16_float(wr[k]);
        out[o] = bf16_tree(l);
    }
}

/* NW weight rows (w, K apart) against R activation rows (a, lda apart) into out[r * NW + o]: the
 * NW * R dots run together (independent sums hide the additions' latency, and each weight vector
 * widened once serves every activation row), each lane by lane as bf16_dots_avx2's */
static inline __attribute__((always_inline)) void bf16_rows(const float *a, size_t lda, const uint16_t *w, int K,
                                                            int NW, int R, float *out)
{
    int K8 = K & ~7;
    __m256 acc[8];
#pragma GCC unroll 8
    for (int i = 0; i < NW * R; i++) acc[i] = _mm256_setzero_ps();
    for (int k = 0; k < K8; k += 8) {
        __m256 wv[8];
#pragma GCC unroll 8
        for (int o = 0; o < NW; o++) wv[o] = bf16_load8(w + (size_t)o * K + k);
#pragma GCC unroll 2
        for (int r = 0; r < R; r++) {
            __m256 av = _mm256_loadu_ps(a + r * lda + k);
#pragma GCC unroll 8
            for (int o = 0; o < NW; o++) acc[r * NW + o] = _mm256_add_ps(acc[r * NW + o], _mm256_mul_ps(av, wv[o]));
        }
    }
    for (int r = 0; r < R; r++)
        for (int o = 0; o < NW; o++) {
            const uint16_t *wr = w + (size_t)o * K;
            const float *ar = a + r * lda;
            float l[8];
            _mm256_storeu_ps(l, acc[r * NW + o]);
            for (int k = K8; k < K; k++) l[k & 7] += ar[k] * rnn__bf16_float(wr[k]);
            out[r * NW + o] = bf16_tree(l);
        }
}

/* asks for the bytes [p, p + n) to come into the cache (the kernels read 8 rows at once, which the
 * hardware's stream prefetchers follow less well than one row after another) */
static inline void prefetch(const void *p, size_t n)
{
    for (size_t o = 0; o < n; o += 64) _mm_prefetch((const char *)p + o, _MM_HINT_T0);
}

static void bf16_8rows_1(const float *a, size_t lda, const uint16_t *w, int K, float *out)
{
    bf16_rows(a, lda, w, K, 8, 1, out);
}
static void bf16_4rows_2(const float *a, size_t lda, const uint16_t *w, int K, float *out)
{
    bf16_rows(a, lda, w, K, 4, 2, out);
}

/* R activation rows (qa: the int8 values, sa: the scales; kp and nb apart) against one group of 8
 * weight rows (qw: interleaved; st: their transposed scales) into c[r * ldc + o] (beta 0: the dot;
 * 1: c + the dot), the first n of the 8 outputs. Lane o of is[r] is weight row o: per 4 inputs,
 * sign moves a's signs onto the 4 weights (a 0 gives 0) and maddubs multiplies them by |w| (u8 x
 * s8, pairs into int16: at most 2 * 127 * 127, no saturation), madd with ones adds the pairs into
 * int32; after a block's 8 such steps the lane holds the block's exact sum, and acc[r] takes
 * (float)sum * (s_w * s_a) in block order: q8_dot_c's operations, lane by lane, with no horizontal
 * sum. Each weight vector serves the R rows (6 fit the 16 registers; 8 rows of weights at a time
 * measured faster than 16 here). */
static inline __attribute__((always_inline)) void q8_cols(const int8_t *qa, const float *sa, size_t kp, int nb,
                                                          const int8_t *qw, const float *st, int R, float *c,
                                                          size_t ldc, float beta, int n)
{
    const __m256i one = _mm256_set1_epi16(1);
    __m256 acc[Q8_R];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        __m256i is[Q8_R];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) is[r] = _mm256_setzero_si256();
        const int8_t *wb = qw + (size_t)b * 8 * RNN_QBLOCK, *ab = qa + (size_t)b * RNN_QBLOCK;
#pragma GCC unroll 1 /* (unrolled, GCC reassociates the integer sums and spills them) */
        for (int t = 0; t < RNN_QBLOCK / 4; t++) {
            __m256i w = _mm256_loadu_si256((const __m256i *)(wb + t * 32)), uw = _mm256_abs_epi8(w);
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                int32_t x;
                memcpy(&x, ab + r * kp + t * 4, 4);
                __m256i p = _mm256_maddubs_epi16(uw, _mm256_sign_epi8(_mm256_set1_epi32(x), w));
                is[r] = _mm256_add_epi32(is[r], _mm256_madd_epi16(p, one));
            }
        }
        __m256 sw = _mm256_loadu_ps(st + (size_t)b * 8);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            __m256 f = _mm256_mul_ps(sw, _mm256_set1_ps(sa[r * nb + b]));
            acc[r] = _mm256_add_ps(acc[r], _mm256_mul_ps(_mm256_cvtepi32_ps(is[r]), f));
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        float *cr = c + r * ldc;
        if (n == 8) {
            _mm256_storeu_ps(cr, beta == 0.0f ? acc[r] : _mm256_add_ps(_mm256_loadu_ps(cr), acc[r]));
            continue;
        }
        float o8[8];
        _mm256_storeu_ps(o8, acc[r]);
        for (int o = 0; o < n; o++) cr[o] = beta == 0.0f ? o8[o] : cr[o] + o8[o];
    }
}

#define Q8_COLS(R)                                                                                                \
    static void q8_cols_##R(const int8_t *qa, const float *sa, size_t kp, int nb, const int8_t *qw, const float *st, \
                            float *c, size_t ldc, float beta, int n)                                                 \
    {                                                                                                                \
        q8_cols(qa, sa, kp, nb, qw, st, R, c, ldc, beta, n);                                                         \
    }
Q8_COLS(1) Q8_COLS(2) Q8_COLS(3) Q8_COLS(4) Q8_COLS(5) Q8_COLS(6)
#undef Q8_COLS

typedef void q8_cols_fn(const int8_t *, const float *, size_t, int, const int8_t *, const float *, float *, size_t,
                        float, int);
static q8_cols_fn *const q8_cols_table[Q8_R] = {q8_cols_1, q8_cols_2, q8_cols_3, q8_cols_4, q8_cols_5, q8_cols_6};

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

/* ---- the product --------------------------------------------------------------------------------- */
/* activation rows quantized at a time: a tile of at most QTILE rows and QTILE_BYTES bytes of q8
 * (rnn_model_quantize limits the input size to RNN__QMAX_IN, so one row always fits) */
#define QTILE 128
#define QTILE_BYTES (64 * 1024)

typedef struct qgemm_job {
    int M, lda, ldc;
    const rnn__qmat *W;
    const float *A;
    float beta;
    float *C;
} qgemm_job;

static void store_out(float *c, float v, float beta) { *c = beta == 0.0f ? v : *c + v; }

static void qgemm_cols(const qgemm_job *j, size_t j0, size_t j1)
{
    const rnn__qmat *W = j->W;
    int K = W->cols, nb = W->nb, path = q_path();
    size_t kp = (size_t)nb * RNN_QBLOCK;
    float out[4];
    if (W->type == RNN_WEIGHTS_BF16) {
        int i = 0;
#if RNN_HAVE_QAVX2
        if (path == 1) /* eight weight rows against one activation row, or four against two */
            for (; i < j->M; i += j->M - i >= 2 ? 2 : 1) {
                int two = j->M - i >= 2;
                const float *a = j->A + (size_t)i * j->lda;
                size_t step = two ? 4 : 8, jj = j0;
                float o8[8];
                for (; jj + step <= j1; jj += step) {
                    const uint16_t *w = W->bf + jj * (size_t)K;
                    if (jj + 3 * step <= j1) prefetch(w + 2 * step * (size_t)K, step * (size_t)K * 2);
                    if (two) bf16_4rows_2(a, (size_t)j->lda, w, K, o8);
                    else bf16_8rows_1(a, (size_t)j->lda, w, K, o8);
                    for (int t = 0; t <= two; t++)
                        for (size_t o = 0; o < step; o++)
                            store_out(j->C + (size_t)(i + t) * j->ldc + jj + o, o8[(size_t)t * step + o], j->beta);
                }
                for (int t = 0; t <= two; t++)
                    for (size_t jt = jj; jt < j1; jt += 4) { /* the last rows */
                        int n = j1 - jt < 4 ? (int)(j1 - jt) : 4;
                        bf16_dots_avx2(a + (size_t)t * j->lda, W->bf + jt * (size_t)K, K, n, out);
                        for (int o = 0; o < n; o++) store_out(j->C + (size_t)(i + t) * j->ldc + jt + o, out[o], j->beta);
                    }
            }
#endif
        for (; i < j->M; i++) {
            const float *a = j->A + (size_t)i * j->lda;
            float *c = j->C + (size_t)i * j->ldc;
            for (size_t jj = j0; jj < j1; jj += 4) {
                int n = j1 - jj < 4 ? (int)(j1 - jj) : 4;
                const uint16_t *w = W->bf + jj * (size_t)K;
#if RNN_HAVE_QAVX2
                if (path == 1) bf16_dots_avx2(a, w, K, n, out);
                else
#endif
                    bf16_dots_c(a, w, K, n, out);
                for (int o = 0; o < n; o++) store_out(c + jj + o, out[o], j->beta);
            }
        }
        return;
    }
    int8_t qa[QTILE_BYTES];
    float sa[QTILE_BYTES / RNN_QBLOCK];
    int tile = (int)(QTILE_BYTES / kp);
    tile = tile > QTILE ? QTILE : tile;
    for (int i0 = 0; i0 < j->M; i0 += tile) {
        int rows = j->M - i0 < tile ? j->M - i0 : tile;
        for (int r = 0; r < rows; r++)
            quant_row(j->A + (size_t)(i0 + r) * j->lda, K, nb, qa + (size_t)r * kp, sa + (size_t)r * nb);
#if RNN_HAVE_QAVX2
        if (path == 1) { /* 8 weight rows against Q8_R activation rows at a time, every row of the tile
                          * against one group of weights before the next (which stays in the L1 cache) */
            for (size_t jj = j0; jj < j1; jj += 8) { /* (jj is a multiple of 8: rnn__split's unit is 16) */
                int n = j1 - jj < 8 ? (int)(j1 - jj) : 8;
                const int8_t *qw = W->q + jj * kp;
                const float *st = W->st + jj * (size_t)nb;
                if (jj + 24 <= j1) prefetch(qw + 16 * kp, 8 * kp), prefetch(st + 16 * (size_t)nb, 8 * (size_t)nb * 4);
                for (int r = 0; r < rows; r += Q8_R) {
                    int R = rows - r < Q8_R ? rows - r : Q8_R;
                    q8_cols_table[R - 1](qa + (size_t)r * kp, sa + (size_t)r * nb, kp, nb, qw, st,
                                         j->C + (size_t)(i0 + r) * j->ldc + jj, (size_t)j->ldc, j->beta, n);
                }
            }
            continue;
        }
#endif
        for (int r = 0; r < rows; r++) {
            float *c = j->C + (size_t)(i0 + r) * j->ldc;
            for (size_t jj = j0; jj < j1; jj++) store_out(c + jj, q8_dot_c(qa + (size_t)r * kp, sa + (size_t)r * nb, W, jj), j->beta);
        }
    }
}

static void qgemm_part(void *arg, int part, int parts)
{
    const qgemm_job *j = arg;
    size_t b, e;
    rnn__split((size_t)j->W->rows, part, parts, 16, &b, &e);
    if (e > b) qgemm_cols(j, b, e);
}

void rnn__qgemm_nt(rnn__pool *pool, int M, const rnn__qmat *W, const float *A, int lda, float beta, float *C, int ldc)
{
    if (M <= 0) return;
    qgemm_job j = {M, lda, ldc, W, A, beta, C};
    if (pool && (double)M * W->rows * W->cols >= (double)(1u << 18)) rnn__pool_run(pool, qgemm_part, &j);
    else qgemm_cols(&j, 0, (size_t)W->rows);
}

/* ---- the model ----------------------------------------------------------------------------------- */
/* the tensors that a quantized model stores quantized: every weight matrix (biases stay fp32) */
int rnn__q_tensor(const rnn__tensor *t) { return strstr(t->name, "bias") == NULL; }

int rnn__model_quantize_alloc(rnn_model *m, int type, rnn__qmat **out, float **fparams)
{
    size_t nf = 0;
    for (int i = 0; i < m->ntensors; i++)
        if (!rnn__q_tensor(&m->tensors[i])) nf += (size_t)m->tensors[i].rows * m->tensors[i].cols;
    rnn__qmat *q = rnn__alloc(&m->al, sizeof(rnn__qmat) * (size_t)m->ntensors);
    float *fp = rnn__alloc(&m->al, nf * sizeof(float));
    if (!q || !fp) {
        rnn__free(&m->al, q);
        rnn__free(&m->al, fp);
        return RNN_ERR_NOMEM;
    }
    memset(q, 0, sizeof(rnn__qmat) * (size_t)m->ntensors);
    int rc = RNN_OK;
    for (int i = 0; !rc && i < m->ntensors; i++)
        if (rnn__q_tensor(&m->tensors[i])) rc = rnn__qmat_alloc(&q[i], type, m->tensors[i].rows, m->tensors[i].cols, &m->al);
    if (rc) {
        for (int i = 0; i < m->ntensors; i++) rnn__qmat_free(&q[i], &m->al);
        rnn__free(&m->al, q);
        rnn__free(&m->al, fp);
        return rc;
    }
    *out = q, *fparams = fp;
    return RNN_OK;
}

void rnn__model_quantize_commit(rnn_model *m, int type, rnn__qmat *q, float *fp, int copy)
{
    /* the fp32 tensors (the biases) move to the new, smaller block in table order: layer l's at
     * table entries 3 + 4l and 4 + 4l, the decoder's last; the weights' offsets are no longer used */
    size_t off = 0;
    for (int i = 0; i < m->ntensors; i++) /* (a loader wrote the scales: the kernels' copy from them) */
        if (q[i].rows) rnn__qmat_index(&q[i]);
    for (int i = 0; i < m->ntensors; i++) {
        rnn__tensor *t = &m->tensors[i];
        if (rnn__q_tensor(t)) continue;
        size_t n = (size_t)t->rows * t->cols;
        if (copy) memcpy(fp + off, m->params + t->offset, n * sizeof(float));
        t->offset = off;
        off += n;
    }
    for (int l = 0; l < m->cfg.num_layers; l++)
        m->layers[l].b_ih = m->tensors[3 + 4 * l].offset, m->layers[l].b_hh = m->tensors[4 + 4 * l].offset;
    m->dec_b = m->tensors[m->ntensors - 1].offset;
    rnn__free(&m->al, m->params);
    rnn__free(&m->al, m->grads);
    rnn__adamw_free(m);
    m->params = fp, m->grads = NULL, m->nparams = off;
    m->qm = q, m->wtype = type;
    m->train.pending = 0, m->train.have_dstate = 0;
}

const rnn__qmat *rnn__q_enc(const rnn_model *m) { return &m->qm[0]; }
const rnn__qmat *rnn__q_dec(const rnn_model *m) { return &m->qm[m->cfg.tied ? 0 : 1 + 4 * m->cfg.num_layers]; }
const rnn__qmat *rnn__q_ih(const rnn_model *m, int l) { return &m->qm[1 + 4 * l]; }
const rnn__qmat *rnn__q_hh(const rnn_model *m, int l) { return &m->qm[2 + 4 * l]; }

void rnn__model_quantize_free(rnn_model *m)
{
    if (!m->qm) return;
    for (int i = 0; i < m->ntensors; i++) rnn__qmat_free(&m->qm[i], &m->al);
    rnn__free(&m->al, m->qm);
    m->qm = NULL;
}

int rnn__check_trainable(rnn_model *m, const char *call)
{
    if (!m->wtype) return RNN_OK;
    return rnn__fail(m, RNN_ERR_STATE, "%s: the model's weights are %s (rnn_model_quantize): a quantized model is for "
                     "inference only", call, m->wtype == RNN_WEIGHTS_Q8 ? "q8" : "bf16");
}

int rnn_model_quantize(rnn_model *m, int type)
{
    if (!m) return RNN_ERR_INVALID;
    if (type != RNN_WEIGHTS_FP32 && type != RNN_WEIGHTS_BF16 && type != RNN_WEIGHTS_Q8)
        return rnn__fail(m, RNN_ERR_INVALID, "unknown weight type %d (RNN_WEIGHTS_FP32, _BF16 or _Q8)", type);
    if (type == m->wtype) return RNN_OK;
    if (m->wtype)
        return rnn__fail(m, RNN_ERR_STATE, "the model's weights are already %s: quantization cannot be undone or redone",
                         m->wtype == RNN_WEIGHTS_Q8 ? "q8" : "bf16");
    if (m->ad.nc)
        return rnn__fail(m, RNN_ERR_INVALID, "a model with an adaptive output layer cannot be quantized yet: run it in "
                         "fp32, or quantize a model with the full output layer (RNN_OUTPUT_FULL)");
    if (m->cfg.emb_size > RNN__QMAX_IN || m->cfg.hidden_size > RNN__QMAX_IN)
        return rnn__fail(m, RNN_ERR_INVALID, "quantized weights take inputs of at most %d units (E %d, H %d)",
                         RNN__QMAX_IN, m->cfg.emb_size, m->cfg.hidden_size);
    for (int i = 0; i < m->ntensors; i++) {
        const rnn__tensor *t = &m->tensors[i];
        if (!rnn__q_tensor(t)) continue;
        const float *p = m->params + t->offset;
        for (size_t k = 0, n = (size_t)t->rows * t->cols; k < n; k++) {
            /* bf16 of a value near FLT_MAX would round to infinity */
            if (!isfinite(p[k]) || (type == RNN_WEIGHTS_BF16 && isinf(rnn__bf16_float(rnn__bf16_round(p[k])))))
                return rnn__fail(m, RNN_ERR_NUMERIC, "%s[%zu] is %g: only finite weights can be quantized", t->name, k,
                                 (double)p[k]);
        }
    }
    rnn__qmat *q;
    float *fp;
    if (rnn__model_quantize_alloc(m, type, &q, &fp))
        return rnn__fail(m, RNN_ERR_NOMEM, "cannot allocate the quantized weights");
    for (int i = 0; i < m->ntensors; i++)
        if (q[i].rows) rnn__qmat_fill(&q[i], m->params + m->tensors[i].offset);
    rnn__model_quantize_commit(m, type, q, fp, 1);
    return RNN_OK;
}

int rnn_model_get_weight_type(const rnn_model *m, int *type)
{
    if (!m) return RNN_ERR_INVALID;
    if (!type) return rnn__fail((rnn_model *)m, RNN_ERR_INVALID, "type is NULL");
    *type = m->wtype;
    return RNN_OK;
}
