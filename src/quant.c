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
    q->q = rnn__alloc(al, rnn__mul_size((size_t)rows, (size_t)q->nb * RNN_QBLOCK));
    q->scale = rnn__alloc(al, rnn__mul_size(rnn__mul_size((size_t)rows, (size_t)q->nb), sizeof(float)));
    q->st = rows >= 8 ? rnn__alloc(al, rnn__mul_size(rnn__mul_size((size_t)rows / 8 * 8, (size_t)q->nb), sizeof(float))) : NULL;
    return q->q && q->scale && (q->st || rows < 8) ? RNN_OK : RNN_ERR_NOMEM;
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
    for (int r = 0; r < q->rows; r++)
        quant_row(w + (size_t)r * q->cols, q->cols, q->nb, q->q + (size_t)r * kp, q->scale + (size_t)r * q->nb);
    rnn__qmat_index(q);
}

void rnn__qmat_index(rnn__qmat *q)
{
    if (q->type != RNN_WEIGHTS_Q8) return;
    size_t nb = (size_t)q->nb;
    for (size_t g = 0; g < (size_t)q->rows / 8; g++)
        for (size_t b = 0; b < nb; b++)
            for (size_t o = 0; o < 8; o++) q->st[(g * nb + b) * 8 + o] = q->scale[(g * 8 + o) * nb + b];
}

void rnn__qmat_row(const rnn__qmat *q, int r, float *out)
{
    if (q->type == RNN_WEIGHTS_BF16) {
        const uint16_t *b = q->bf + (size_t)r * q->cols;
        for (int k = 0; k < q->cols; k++) out[k] = rnn__bf16_float(b[k]);
        return;
    }
    const int8_t *qr = q->q + (size_t)r * q->nb * RNN_QBLOCK;
    const float *s = q->scale + (size_t)r * q->nb;
    for (int k = 0; k < q->cols; k++) out[k] = (float)qr[k] * s[k / RNN_QBLOCK];
}

/* ---- kernels: out[o] = dot of one activation row with weight rows j0 .. j0+n-1 (n <= 4) --------- */
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

static void q8_dots_c(const int8_t *qa, const float *sa, const int8_t *qw, const float *sw, int nb, int n, float *out)
{
    size_t kp = (size_t)nb * RNN_QBLOCK;
    for (int o = 0; o < n; o++) {
        const int8_t *wr = qw + (size_t)o * kp;
        const float *s = sw + (size_t)o * nb;
        float acc = 0.0f;
        for (int b = 0; b < nb; b++) {
            int32_t sum = 0;
            for (int i = 0; i < RNN_QBLOCK; i++) sum += (int32_t)qa[b * RNN_QBLOCK + i] * wr[b * RNN_QBLOCK + i];
            acc += (float)sum * (s[b] * sa[b]);
        }
        out[o] = acc;
    }
}

#if RNN_HAVE_QAVX2
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2")
#endif

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

/* the 8 int32 partial sums of one 32-byte block's products (exact: |each| <= 4 * 127 * 127) */
static inline __m256i q8_block(__m256i a, __m256i w)
{
    __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(w, a));
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

static void q8_dots_avx2(const int8_t *qa, const float *sa, const int8_t *qw, const float *sw, int nb, int n, float *out)
{
    size_t kp = (size_t)nb * RNN_QBLOCK;
    if (n == 4) { /* four outputs: the block sums of all four reduced together, acc lane o = output o */
        const int8_t *w0 = qw, *w1 = w0 + kp, *w2 = w1 + kp, *w3 = w2 + kp;
        const float *s0 = sw, *s1 = s0 + nb, *s2 = s1 + nb, *s3 = s2 + nb;
        __m128 acc = _mm_setzero_ps();
        for (int b = 0; b < nb; b++) {
            size_t o = (size_t)b * RNN_QBLOCK;
            __m256i a = _mm256_loadu_si256((const __m256i *)(qa + o));
            __m256i p0 = q8_block(a, _mm256_loadu_si256((const __m256i *)(w0 + o)));
            __m256i p1 = q8_block(a, _mm256_loadu_si256((const __m256i *)(w1 + o)));
            __m256i p2 = q8_block(a, _mm256_loadu_si256((const __m256i *)(w2 + o)));
            __m256i p3 = q8_block(a, _mm256_loadu_si256((const __m256i *)(w3 + o)));
            __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(p0, p1), _mm256_hadd_epi32(p2, p3));
            __m128i s = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
            __m128 f = _mm_mul_ps(_mm_set_ps(s3[b], s2[b], s1[b], s0[b]), _mm_set1_ps(sa[b]));
            acc = _mm_add_ps(acc, _mm_mul_ps(_mm_cvtepi32_ps(s), f));
        }
        _mm_storeu_ps(out, acc);
        return;
    }
    for (int o = 0; o < n; o++) {
        const int8_t *wr = qw + (size_t)o * kp;
        const float *s = sw + (size_t)o * nb;
        float acc = 0.0f;
        for (int b = 0; b < nb; b++) {
            size_t at = (size_t)b * RNN_QBLOCK;
            __m256i p = q8_block(_mm256_loadu_si256((const __m256i *)(qa + at)), _mm256_loadu_si256((const __m256i *)(wr + at)));
            __m128i h = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
            h = _mm_hadd_epi32(h, h);
            h = _mm_hadd_epi32(h, h);
            acc += (float)_mm_cvtsi128_si32(h) * (s[b] * sa[b]);
        }
        out[o] = acc;
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

/* the 8 int32 sums of 8 vectors' lanes: lane r = the sum of pr's 8 lanes (exact) */
static inline __m256i sum8x8(__m256i p0, __m256i p1, __m256i p2, __m256i p3, __m256i p4, __m256i p5, __m256i p6,
                             __m256i p7)
{
    __m256i h0 = _mm256_hadd_epi32(_mm256_hadd_epi32(p0, p1), _mm256_hadd_epi32(p2, p3));
    __m256i h1 = _mm256_hadd_epi32(_mm256_hadd_epi32(p4, p5), _mm256_hadd_epi32(p6, p7));
    /* h0 = (rows 0-3, low 128 bits' sums | rows 0-3, high 128 bits' sums), h1 the same for rows 4-7 */
    return _mm256_add_epi32(_mm256_permute2x128_si256(h0, h1, 0x21), _mm256_blend_epi32(h0, h1, 0xF0));
}

/* Eight weight rows (qw, kp bytes apart) against R (1 or 2) activation rows (qa, kp apart; scales
 * sa, nb apart) into out[r * 8 + o]; st[b * 8 + o] is weight row o's scale of block b. Lane o of
 * acc is output o: its blocks added in order, each (float)(exact int32 sum) * (s_w * s_a), which
 * are q8_dots_c's operations. */
static inline __attribute__((always_inline)) void q8_8rows(const int8_t *qa, const float *sa, const int8_t *qw,
                                                           const float *st, int nb, int R, float *out)
{
    size_t kp = (size_t)nb * RNN_QBLOCK;
    const __m256i one = _mm256_set1_epi16(1);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
#define Q8_W(o) __m256i w##o = _mm256_loadu_si256((const __m256i *)(qw + (o) * kp + at))
#define Q8_P(o, a, ua) _mm256_madd_epi16(_mm256_maddubs_epi16(ua, _mm256_sign_epi8(w##o, a)), one)
#define Q8_ROW(r, acc)                                                                                         \
    do {                                                                                                       \
        __m256i a = _mm256_loadu_si256((const __m256i *)(qa + (r) * kp + at)), ua = _mm256_sign_epi8(a, a);   \
        __m256i s = sum8x8(Q8_P(0, a, ua), Q8_P(1, a, ua), Q8_P(2, a, ua), Q8_P(3, a, ua), Q8_P(4, a, ua),     \
                           Q8_P(5, a, ua), Q8_P(6, a, ua), Q8_P(7, a, ua));                                    \
        __m256 f = _mm256_mul_ps(s8, _mm256_set1_ps(sa[(r) * nb + b]));                                        \
        acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_cvtepi32_ps(s), f));                                     \
    } while (0)
    for (int b = 0; b < nb; b++) {
        size_t at = (size_t)b * RNN_QBLOCK;
        __m256 s8 = _mm256_loadu_ps(st + (size_t)b * 8);
        Q8_W(0); Q8_W(1); Q8_W(2); Q8_W(3); Q8_W(4); Q8_W(5); Q8_W(6); Q8_W(7);
        Q8_ROW(0, acc0);
        if (R == 2) Q8_ROW(1, acc1);
    }
#undef Q8_W
#undef Q8_P
#undef Q8_ROW
    _mm256_storeu_ps(out, acc0);
    if (R == 2) _mm256_storeu_ps(out + 8, acc1);
}

static void q8_8rows_1(const int8_t *qa, const float *sa, const int8_t *qw, const float *sw, int nb, float *out)
{
    q8_8rows(qa, sa, qw, sw, nb, 1, out);
}
static void q8_8rows_2(const int8_t *qa, const float *sa, const int8_t *qw, const float *sw, int nb, float *out)
{
    q8_8rows(qa, sa, qw, sw, nb, 2, out);
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

/* ---- the product --------------------------------------------------------------------------------- */
/* activation rows quantized at a time: a tile of at most QTILE rows and QTILE_BYTES bytes of q8
 * (rnn_model_quantize limits the input size to RNN__QMAX_IN, so one row always fits) */
#define QTILE 8
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
        size_t jj = j0;
#if RNN_HAVE_QAVX2
        if (path == 1) /* eight weight rows at a time, against two activation rows at a time */
            for (; jj + 8 <= j1; jj += 8) {
                const int8_t *qw = W->q + jj * kp;
                const float *st = W->st + jj * (size_t)nb; /* (jj is a multiple of 8: rnn__split's unit) */
                if (jj + 24 <= j1) prefetch(qw + 16 * kp, 8 * kp), prefetch(st + 16 * (size_t)nb, 8 * (size_t)nb * 4);
                float o8[16];
                for (int r = 0; r < rows; r += 2) {
                    int two = rows - r >= 2;
                    if (two) q8_8rows_2(qa + (size_t)r * kp, sa + (size_t)r * nb, qw, st, nb, o8);
                    else q8_8rows_1(qa + (size_t)r * kp, sa + (size_t)r * nb, qw, st, nb, o8);
                    for (int t = 0; t <= two; t++) {
                        float *c = j->C + (size_t)(i0 + r + t) * j->ldc + jj;
                        for (int o = 0; o < 8; o++) store_out(c + o, o8[t * 8 + o], j->beta);
                    }
                }
            }
#endif
        for (; jj < j1; jj += 4) {
            int n = j1 - jj < 4 ? (int)(j1 - jj) : 4;
            const int8_t *qw = W->q + jj * kp;
            const float *sw = W->scale + jj * (size_t)nb;
            for (int r = 0; r < rows; r++) {
#if RNN_HAVE_QAVX2
                if (path == 1) q8_dots_avx2(qa + (size_t)r * kp, sa + (size_t)r * nb, qw, sw, nb, n, out);
                else
#endif
                    q8_dots_c(qa + (size_t)r * kp, sa + (size_t)r * nb, qw, sw, nb, n, out);
                float *c = j->C + (size_t)(i0 + r) * j->ldc + jj;
                for (int o = 0; o < n; o++) store_out(c + o, out[o], j->beta);
            }
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
