/*
 * kernels.h -- the element-wise loops of the hot path, written once with 4-lane vectors (GCC/clang
 * vector extensions; SSE2 on x86-64, NEON on arm64). The lane count and the order of every
 * operation are fixed, so results do not depend on the compiler's instruction choices.
 */
#ifndef RNN_KERNELS_H
#define RNN_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* row[k] += bias[k]; returns max_k row[k] (-inf for n == 0; NaN propagates) */
float rnn_k_add_bias_max(float *row, const float *bias, int n);
/* returns max_k (row[k] + bias[k]) without writing (-inf for n == 0; NaN lanes are skipped) */
float rnn_k_bias_max(const float *row, const float *bias, int n);
/* returns sum_k exp(row[k] - shift), accumulated in double per 1024 elements;
 * when store, row[k] = exp(row[k] - shift) */
double rnn_k_exp_sum(float *row, float shift, int n, int store);
/* the same for exp(row[k] + bias[k] - shift) */
double rnn_k_exp_sum_bias(float *row, const float *bias, float shift, int n, int store);
/* dst[k] = src[k] + bias[k] - shift */
void rnn_k_bias_sub(float *dst, const float *src, const float *bias, float shift, int n);
/* a[k] *= s */
void rnn_k_scale(float *a, float s, size_t n);
/* dst[k] = src[k] - shift */
void rnn_k_sub(float *dst, const float *src, float shift, int n);
/* sum of squares, in double per 1024 elements */
double rnn_k_sumsq(const float *a, size_t n);
/* p[k] += alpha * g[k] (multiply, then add: no fused multiply-add) */
void rnn_k_axpy(float *p, float alpha, const float *g, size_t n);
/* acc[k] += a[k] */
void rnn_k_add(float *acc, const float *a, size_t n);
/* a[k] *= m[k] */
void rnn_k_mul(float *a, const float *m, size_t n);
/* x[k] = sigmoid(x[k] + b[k]) / tanh(x[k] + b[k]) */
void rnn_k_sigmoid_bias(float *x, const float *b, int n);
void rnn_k_tanh_bias(float *x, const float *b, int n);
/* y[k] = tanh(x[k]) */
void rnn_k_tanh(float *y, const float *x, int n);
/* out[j] = dot(a, B_j) + beta * out[j] for the N rows B_j = B + j*ldb, each of length K; every dot in
 * the same fixed order (4 lanes, then lanes 0+1+2+3, then the scalar tail) */
void rnn_k_dots(float *out, const float *a, const float *B, int ldb, int N, int K, float beta);
/* rnn_k_dots for 4 rows a_r = a + r*lda into out_r = out + r*ldo at once (each B row is loaded once
 * for the 4): every output bit-identical to rnn_k_dots' */
void rnn_k_dots4(float *out, int ldo, const float *a, int lda, const float *B, int ldb, int N, int K, float beta);
/* the scalar versions, bit-identical to one lane of the vector code */
float rnn_expf(float x);
float rnn_tanhf(float x);
float rnn_sigmoid(float x);

#endif
