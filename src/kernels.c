/* kernels.c -- see kernels.h: the 4-lane build of kernels_body.h, the wider builds' dispatch,
 * and the row-wise dot products. */
#include "kernels.h"

#include <math.h>
#include <string.h>

/* 4 lanes: SSE2 is the x86-64 baseline (and NEON's width), so no target-specific code is needed */
typedef float vf __attribute__((vector_size(16)));
typedef int32_t vi __attribute__((vector_size(16)));
#define W 4
#define KNAME(name) rnn__k4_##name
#include "kernels_body.h"

float rnn__expf(float x) { return expf1(x); }
float rnn__tanhf(float x) { return tanhf1(x); }
float rnn__sigmoid(float x) { return sigmoid1(x); }

/* The 16-lane build (kernels_avx512.c), taken when the CPU and the OS support AVX-512F, else the
 * 8-lane one (kernels_avx2.c) where they support AVX2. All builds give the same bits
 * (kernels_body.h), so this choice never changes a result. */
#if RNN_HAVE_K16
int rnn__k_wide(void) { return __builtin_cpu_supports("avx512f"); }
int rnn__k_avx2(void) { return __builtin_cpu_supports("avx2"); }
#define PICK(name, ...)                                                                             \
    (rnn__k_wide()   ? rnn__k16_##name(__VA_ARGS__)                                                 \
     : rnn__k_avx2() ? rnn__k8_##name(__VA_ARGS__)                                                  \
                     : rnn__k4_##name(__VA_ARGS__))
#else
int rnn__k_wide(void) { return 0; }
int rnn__k_avx2(void) { return 0; }
#define PICK(name, ...) rnn__k4_##name(__VA_ARGS__)
#endif

float rnn__k_add_bias_max(float *row, const float *bias, int n) { return PICK(add_bias_max, row, bias, n); }
float rnn__k_bias_max(const float *row, const float *bias, int n) { return PICK(bias_max, row, bias, n); }
float rnn__k_max(const float *row, int n) { return PICK(max, row, n); }
double rnn__k_exp_sum_bias(float *row, const float *bias, float shift, int n, int store_exp)
{
    return PICK(exp_sum, row, bias, shift, n, store_exp);
}
double rnn__k_exp_sum(float *row, float shift, int n, int store_exp)
{
    return PICK(exp_sum, row, NULL, shift, n, store_exp);
}
void rnn__k_log_softmax(float *dst, const float *src, const float *bias, float mx, float logsum, int n)
{
    PICK(log_softmax, dst, src, bias, mx, logsum, n);
}
void rnn__k_scale(float *a, float s, size_t n) { PICK(scale, a, s, n); }
void rnn__k_sub(float *dst, const float *src, float shift, int n) { PICK(sub, dst, src, shift, n); }
double rnn__k_sumsq(const float *a, size_t n) { return PICK(sumsq, a, n); }
double rnn__k_sumsq_from(double total, const float *a, size_t n) { return PICK(sumsq_from, total, a, n); }
double rnn__k_sum(const float *a, size_t n) { return PICK(sum, a, n); }
double rnn__k_dot(const float *a, const float *b, size_t n) { return PICK(dot, a, b, n); }
void rnn__k_proj(float *z, size_t ldz, const float *p, size_t ldp, int rows, const float *wt, size_t ldw, int n,
                 int K)
{
    PICK(proj, z, ldz, p, ldp, rows, wt, ldw, n, K);
}
void rnn__k_axpy(float *p, float alpha, const float *g, size_t n) { PICK(axpy, p, alpha, g, n); }
void rnn__k_add(float *acc, const float *a, size_t n) { PICK(add, acc, a, n); }
void rnn__k_mul(float *a, const float *m, size_t n) { PICK(mul, a, m, n); }
void rnn__k_sigmoid_bias(float *x, const float *b, int n) { PICK(sigmoid_bias, x, b, n); }
void rnn__k_tanh_bias(float *x, const float *b, int n) { PICK(tanh_bias, x, b, n); }
void rnn__k_tanh(float *y, const float *x, int n) { PICK(tanh, y, x, n); }

/* ---- row-wise dot products (4 lanes in every build: their order is part of a state's results) ---- */
static inline float hsum(vf v)
{
    float a = v[0] + v[1], b = v[2] + v[3];
    return a + b;
}

void rnn__k_dots(float *out, const float *a, const float *B, int ldb, int N, int K, float beta)
{
    int j = 0;
    for (; j + 4 <= N; j += 4) { /* four rows of B at once: independent accumulators */
        const float *b0 = B + (size_t)j * ldb, *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
        vf s0 = splat(0.0f), s1 = s0, s2 = s0, s3 = s0;
        int k = 0;
        for (; k + W <= K; k += W) {
            vf x = load(a + k);
            s0 += x * load(b0 + k), s1 += x * load(b1 + k), s2 += x * load(b2 + k), s3 += x * load(b3 + k);
        }
        float d0 = hsum(s0), d1 = hsum(s1), d2 = hsum(s2), d3 = hsum(s3);
        for (; k < K; k++) {
            float x = a[k];
            d0 += x * b0[k], d1 += x * b1[k], d2 += x * b2[k], d3 += x * b3[k];
        }
        float *o = out + j;
        if (beta == 0.0f) o[0] = d0, o[1] = d1, o[2] = d2, o[3] = d3;
        else o[0] = beta * o[0] + d0, o[1] = beta * o[1] + d1, o[2] = beta * o[2] + d2, o[3] = beta * o[3] + d3;
    }
    for (; j < N; j++) {
        const float *b0 = B + (size_t)j * ldb;
        vf s0 = splat(0.0f);
        int k = 0;
        for (; k + W <= K; k += W) s0 += load(a + k) * load(b0 + k);
        float d0 = hsum(s0);
        for (; k < K; k++) d0 += a[k] * b0[k];
        out[j] = beta == 0.0f ? d0 : beta * out[j] + d0;
    }
}

void rnn__k_dots4(float *out, int ldo, const float *a, int lda, const float *B, int ldb, int N, int K, float beta)
{
    const float *a0 = a, *a1 = a + lda, *a2 = a1 + lda, *a3 = a2 + lda;
    for (int j = 0; j < N; j++) {
        const float *b = B + (size_t)j * ldb;
        vf s0 = splat(0.0f), s1 = s0, s2 = s0, s3 = s0;
        int k = 0;
        for (; k + W <= K; k += W) {
            vf y = load(b + k);
            s0 += load(a0 + k) * y, s1 += load(a1 + k) * y, s2 += load(a2 + k) * y, s3 += load(a3 + k) * y;
        }
        float d[4] = {hsum(s0), hsum(s1), hsum(s2), hsum(s3)};
        for (; k < K; k++) {
            float y = b[k];
            d[0] += a0[k] * y, d[1] += a1[k] * y, d[2] += a2[k] * y, d[3] += a3[k] * y;
        }
        for (int r = 0; r < 4; r++) {
            float *o = out + (size_t)r * ldo + j;
            *o = beta == 0.0f ? d[r] : beta * *o + d[r];
        }
    }
}
