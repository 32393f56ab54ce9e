/* kernels.c -- see kernels.h. */
#include "kernels.h"

#include <math.h>
#include <string.h>




/* 4 lanes: SSE2 is the x86-64 baseline (and NEON's width), so no target-specific code is needed */
typedef float vf __attribute__((vector_size(16)));
typedef int32_t vi __attribute__((vector_size(16)));
#define W 4

static inline vf load(const float *p)
{
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void store(float *p, vf v) { memcpy(p, &v, sizeof v); }
static inline vf splat(float x) { return (vf){x, x, x, x}; }
/* m ? a : b per lane (m: all ones or zeros) */
static inline vf select(vi m, vf a, vf b) { return (vf)(((vi)a & m) | ((vi)b & ~m)); }
static inline vf vmax(vf a, vf b) { return select(a > b, a, b); } /* lanes where a is NaN take b */

/* exp(x): Cody-Waite reduction by ln 2 and a degree-6 polynomial (Cephes expf); relative error
 * below 2e-7 on [-87, 88]; below -87.3 gives 0, above 88.7 gives +inf. */
static inline vf vexp(vf x)
{
    const vf hi = splat(88.7228f), lo = splat(-87.3365f);
    vi big = x > hi, small = x < lo;
    x = select(big, hi, x);
    x = select(small, lo, x);
    vf n = x * splat(1.44269504088896341f) + splat(12582912.0f); /* round to nearest */
    n = n - splat(12582912.0f);
    vf r = x - n * splat(0.693359375f);
    r = r - n * splat(-2.12194440e-4f);
    vf p = splat(1.9875691500e-4f);
    p = p * r + splat(1.3981999507e-3f);
    p = p * r + splat(8.3334519073e-3f);
    p = p * r + splat(4.1665795894e-2f);
    p = p * r + splat(1.6666665459e-1f);
    p = p * r + splat(5.0000001201e-1f);
    p = p * r * r + r + splat(1.0f);
    vi e = (__builtin_convertvector(n, vi) + 127) << 23;
    vf res = p * (vf)e;
    res = select(small, splat(0.0f), res);
    return select(big, splat(INFINITY), res);
}

static inline vf vsigmoid(vf x) { return splat(1.0f) / (splat(1.0f) + vexp(-x)); }
/* tanh(x) = 1 - 2 / (exp(2x) + 1); |x| < 2^-10 returns x itself (no cancellation) */
static inline vf vtanh(vf x)
{
    vf t = splat(1.0f) - splat(2.0f) / (vexp(x + x) + splat(1.0f));
    vf ax = select(x < splat(0.0f), -x, x);
    return select(ax < splat(0x1p-10f), x, t);
}

/* one lane through the vector code, so scalar tails give the same bits as vector bodies */
#define LANE1(fn, x) (fn(splat(x))[0])
float rnn_expf(float x) { return LANE1(vexp, x); }
float rnn_tanhf(float x) { return LANE1(vtanh, x); }
float rnn_sigmoid(float x) { return LANE1(vsigmoid, x); }

float rnn_k_add_bias_max(float *row, const float *bias, int n)
{
    vf m = splat(-INFINITY);
    int k = 0;
    for (; k + W <= n; k += W) {
        vf v = load(row + k) + load(bias + k);
        store(row + k, v);
        m = vmax(v, m);
    }
    float mx = -INFINITY;
    for (int j = 0; j < W; j++) mx = m[j] > mx ? m[j] : mx;
    for (; k < n; k++) {
        row[k] += bias[k];
        mx = row[k] > mx ? row[k] : mx;
    }
    return mx;
}

float rnn_k_bias_max(const float *row, const float *bias, int n)
{
    vf m = splat(-INFINITY);
    int k = 0;
    for (; k + W <= n; k += W) m = vmax(load(row + k) + load(bias + k), m);
    float mx = -INFINITY;
    for (int j = 0; j < W; j++) mx = m[j] > mx ? m[j] : mx;
    for (; k < n; k++) {
        float v = row[k] + bias[k];
        mx = v > mx ? v : mx;
    }
    return mx;
}

/* sum_k exp(row[k] (+ bias[k]) - shift), optionally stored; bias may be NULL (inlined into the two
 * entry points below, so the test is resolved at compile time) */
static inline double exp_sum(float *row, const float *bias, float shift, int n, int store_exp)
{
    double total = 0;
    vf sh = splat(shift);
    int k = 0;
    while (k + W <= n) {
        vf acc = splat(0.0f);
        int end = k + 1024 < n ? k + 1024 : n;
        for (; k + W <= end; k += W) {
            vf v = bias ? load(row + k) + load(bias + k) : load(row + k);
            vf e = vexp(v - sh);
            if (store_exp) store(row + k, e);
            acc += e;
        }
        for (int j = 0; j < W; j++) total += acc[j];
    }
    for (; k < n; k++) {
        float e = rnn_expf((bias ? row[k] + bias[k] : row[k]) - shift);
        if (store_exp) row[k] = e;
        total += e;
    }
    return total;
}

double rnn_k_exp_sum_bias(float *row, const float *bias, float shift, int n, int store_exp)
{
    return exp_sum(row, bias, shift, n, store_exp);
}

void rnn_k_bias_sub(float *dst, const float *src, const float *bias, float shift, int n)
{
    int k = 0;
    for (; k + W <= n; k += W) store(dst + k, load(src + k) + load(bias + k) - splat(shift));
    for (; k < n; k++) dst[k] = src[k] + bias[k] - shift;
}

double rnn_k_exp_sum(float *row, float shift, int n, int store_exp)
{
    return exp_sum(row, NULL, shift, n, store_exp);
}

void rnn_k_scale(float *a, float s, size_t n)
{
    size_t k = 0;
    for (; k + W <= n; k += W) store(a + k, load(a + k) * splat(s));
    for (; k < n; k++) a[k] *= s;
}

void rnn_k_sub(float *dst, const float *src, float shift, int n)
{
    int k = 0;
    for (; k + W <= n; k += W) store(dst + k, load(src + k) - splat(shift));
    for (; k < n; k++) dst[k] = src[k] - shift;
}

double rnn_k_sumsq(const float *a, size_t n)
{
    double total = 0;
    size_t k = 0;
    while (k + W <= n) {
        vf acc = splat(0.0f);
        size_t end = k + 1024 < n ? k + 1024 : n;
        for (; k + W <= end; k += W) {
            vf v = load(a + k);
            acc += v * v;
        }
        for (int j = 0; j < W; j++) total += acc[j];
    }
    for (; k < n; k++) total += (double)a[k] * a[k];
    return total;
}

void rnn_k_axpy(float *p, float alpha, const float *g, size_t n)
{
    size_t k = 0;
    for (; k + W <= n; k += W) {
        vf t = splat(alpha) * load(g + k);
        store(p + k, load(p + k) + t);
    }
    for (; k < n; k++) {
        float t = alpha * g[k];
        p[k] += t;
    }
}

void rnn_k_add(float *acc, const float *a, size_t n)
{
    size_t k = 0;
    for (; k + W <= n; k += W) store(acc + k, load(acc + k) + load(a + k));
    for (; k < n; k++) acc[k] += a[k];
}

void rnn_k_mul(float *a, const float *m, size_t n)
{
    size_t k = 0;
    for (; k + W <= n; k += W) store(a + k, load(a + k) * load(m + k));
    for (; k < n; k++) a[k] *= m[k];
}

void rnn_k_sigmoid_bias(float *x, const float *b, int n)
{
    int k = 0;
    for (; k + W <= n; k += W) store(x + k, vsigmoid(load(x + k) + load(b + k)));
    for (; k < n; k++) x[k] = rnn_sigmoid(x[k] + b[k]);
}

void rnn_k_tanh_bias(float *x, const float *b, int n)
{
    int k = 0;
    for (; k + W <= n; k += W) store(x + k, vtanh(load(x + k) + load(b + k)));
    for (; k < n; k++) x[k] = rnn_tanhf(x[k] + b[k]);
}

void rnn_k_tanh(float *y, const float *x, int n)
{
    int k = 0;
    for (; k + W <= n; k += W) store(y + k, vtanh(load(x + k)));
    for (; k < n; k++) y[k] = rnn_tanhf(x[k]);
}

static inline float hsum(vf v)
{
    float a = v[0] + v[1], b = v[2] + v[3];
    return a + b;
}

void rnn_k_dots(float *out, const float *a, const float *B, int ldb, int N, int K, float beta)
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

void rnn_k_dots4(float *out, int ldo, const float *a, int lda, const float *B, int ldb, int N, int K, float beta)
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
