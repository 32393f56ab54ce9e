/*
 * kernels.h -- the element-wise loops of the hot path, written once (kernels_body.h, GCC/clang
 * vector extensions) and built for 4 lanes (SSE2 on x86-64, NEON on arm64) and, on x86-64, again
 * for 8 lanes (CPUs with AVX2) and 16 lanes (CPUs with AVX-512F), the widest the CPU runs picked
 * per call. Every element is computed by the same
 * operations and every sum in the same order (16 partial sums) in all three, so results do not depend
 * on the build taken or on the compiler's instruction choices.
 */
#ifndef RNN_KERNELS_H
#define RNN_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define RNN_HAVE_K16 1
#else
#define RNN_HAVE_K16 0
#endif
/* 1 when the 16-lane build runs on this machine */
int rnn__k_wide(void);
/* 1 when the 8-lane build can run on this machine (it is taken when the 16-lane one cannot) */
int rnn__k_avx2(void);

/* row[k] += bias[k]; returns max_k row[k] (-inf for n == 0; NaN propagates) */
float rnn__k_add_bias_max(float *row, const float *bias, int n);
/* returns max_k (row[k] + bias[k]) without writing (-inf for n == 0; NaN lanes are skipped) */
float rnn__k_bias_max(const float *row, const float *bias, int n);
/* returns max_k row[k] (-inf for n == 0; NaN entries are skipped; of a maximum of both +0 and -0
 * either may come back, by the build) */
float rnn__k_max(const float *row, int n);
/* returns sum_k exp(row[k] - shift), 16 partial sums flushed to double every 1024 elements;
 * when store, row[k] = exp(row[k] - shift) */
double rnn__k_exp_sum(float *row, float shift, int n, int store);
/* the same for exp(row[k] + bias[k] - shift) */
double rnn__k_exp_sum_bias(float *row, const float *bias, float shift, int n, int store);
/* dst[k] = ((src[k] + bias[k]) - mx) - logsum: log_softmax in PyTorch's order (the shift by the
 * maximum first, so that huge logits keep their differences) */
void rnn__k_log_softmax(float *dst, const float *src, const float *bias, float mx, float logsum, int n);
/* a[k] *= s */
void rnn__k_scale(float *a, float s, size_t n);
/* dst[k] = src[k] - shift */
void rnn__k_sub(float *dst, const float *src, float shift, int n);
/* sum of squares / sum, summed as rnn__k_exp_sum's */
double rnn__k_sumsq(const float *a, size_t n);
double rnn__k_sum(const float *a, size_t n);
/* sum_k a[k] * b[k] (each product rounded to float), summed as rnn__k_exp_sum's */
double rnn__k_dot(const float *a, const float *b, size_t n);
/* the rows r < rows of z (stride ldz), j < n: z_r[j] = ((p_r[0] * wt[j] + p_r[1] * wt[ldw + j]) + ...)
 * + p_r[K-1] * wt[(K-1)*ldw + j], p_r = p + r*ldp: the products of a K-unit projection p with the
 * transposed weights wt (K x ldw), every product rounded and added in k order (no fused
 * multiply-add), the same bits in every build */
void rnn__k_proj(float *z, size_t ldz, const float *p, size_t ldp, int rows, const float *wt, size_t ldw, int n,
                 int K);
/* total + rnn__k_sumsq(a, n), the sum carried on from total: the sum of squares of a run cut into
 * pieces of 1024 elements (the last may be shorter) is the chain of this call over the pieces, to
 * the bit, and a piece of zeros adds nothing, so a pass may leave out pieces known to be zero */
double rnn__k_sumsq_from(double total, const float *a, size_t n);
/* p[k] += alpha * g[k] (multiply, then add: no fused multiply-add) */
void rnn__k_axpy(float *p, float alpha, const float *g, size_t n);
/* acc[k] += a[k] */
void rnn__k_add(float *acc, const float *a, size_t n);
/* a[k] *= m[k] */
void rnn__k_mul(float *a, const float *m, size_t n);
/* x[k] = sigmoid(x[k] + b[k]) / tanh(x[k] + b[k]) */
void rnn__k_sigmoid_bias(float *x, const float *b, int n);
void rnn__k_tanh_bias(float *x, const float *b, int n);
/* y[k] = tanh(x[k]) */
void rnn__k_tanh(float *y, const float *x, int n);
/* out[j] = dot(a, B_j) + beta * out[j] for the N rows B_j = B + j*ldb, each of length K; every dot in
 * the same fixed order (4 lanes, then lanes 0+1+2+3, then the scalar tail) */
void rnn__k_dots(float *out, const float *a, const float *B, int ldb, int N, int K, float beta);
/* rnn__k_dots for 4 rows a_r = a + r*lda into out_r = out + r*ldo at once (each B row is loaded once
 * for the 4): every output bit-identical to rnn__k_dots' */
void rnn__k_dots4(float *out, int ldo, const float *a, int lda, const float *B, int ldb, int N, int K, float beta);
/* The builds behind the rnn__k_* calls above (the tests compare them; rnn__k8_* and rnn__k16_*
 * only where RNN_HAVE_K16, and only to be called when rnn__k_avx2() / rnn__k_wide()). */
#define RNN_K_BUILD(P)                                                                              \
    float P##add_bias_max(float *row, const float *bias, int n);                                    \
    float P##bias_max(const float *row, const float *bias, int n);                                  \
    float P##max(const float *row, int n);                                                          \
    double P##exp_sum(float *row, const float *bias, float shift, int n, int store_exp);            \
    void P##log_softmax(float *dst, const float *src, const float *bias, float mx, float logsum, int n); \
    void P##scale(float *a, float s, size_t n);                                                     \
    void P##sub(float *dst, const float *src, float shift, int n);                                  \
    double P##sumsq(const float *a, size_t n);                                                      \
    double P##sumsq_from(double total, const float *a, size_t n);                                   \
    double P##sum(const float *a, size_t n);                                                        \
    double P##dot(const float *a, const float *b, size_t n);                                        \
    void P##proj(float *z, size_t ldz, const float *p, size_t ldp, int rows, const float *wt, size_t ldw, int n, \
                 int K);                                                                            \
    void P##axpy(float *p, float alpha, const float *g, size_t n);                                  \
    void P##add(float *acc, const float *a, size_t n);                                              \
    void P##mul(float *a, const float *m, size_t n);                                                \
    void P##sigmoid_bias(float *x, const float *b, int n);                                          \
    void P##tanh_bias(float *x, const float *b, int n);                                             \
    void P##tanh(float *y, const float *x, int n);
RNN_K_BUILD(rnn__k4_)
#if RNN_HAVE_K16
RNN_K_BUILD(rnn__k8_)
RNN_K_BUILD(rnn__k16_)
#endif
/* the scalar versions, bit-identical to one lane of the vector code */
float rnn__expf(float x);
float rnn__tanhf(float x);
float rnn__sigmoid(float x);

#endif
