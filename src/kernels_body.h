/*
 * kernels_body.h -- the element-wise kernels, written once and compiled three times: by kernels.c with
 * 4-lane vectors (the SSE2/NEON baseline), by kernels_avx2.c with 8-lane vectors and by
 * kernels_avx512.c with 16-lane vectors. The
 * includer defines vf / vi (W lanes of float / int32), W, and KNAME(name) (the function names).
 *
 * Every element's value is computed by the same operations in every build, and every sum runs in the
 * same order: 16 partial sums (lane i of the sum takes elements k with k % 16 == i), added in lane
 * order into a double every 1024 elements, then the tail (n % 16 elements) one by one. With
 * 4 lanes that is four accumulators per 16 elements, with 8 lanes two. So all builds give the same
 * bits.
 */
#if !defined(W) || !defined(KNAME)
#error "define vf, vi, W and KNAME before including kernels_body.h"
#endif

#define NACC (16 / W) /* W-lane accumulators per 16 elements */
/* helpers always inlined: a 64-byte vector passed by value would go through memory */
#define KINL static inline __attribute__((always_inline))

KINL vf load(const float *p)
{
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}
KINL void store(float *p, vf v) { memcpy(p, &v, sizeof v); }
KINL vf splat(float x)
{
    vf v;
    for (int i = 0; i < W; i++) v[i] = x;
    return v;
}
/* m ? a : b per lane (m: all ones or zeros) */
KINL vf select(vi m, vf a, vf b) { return (vf)(((vi)a & m) | ((vi)b & ~m)); }
KINL vf vmax(vf a, vf b) { return select(a > b, a, b); } /* lanes where a is NaN take b */

/* exp(x): Cody-Waite reduction by ln 2 and a degree-6 polynomial (Cephes expf); relative error
 * below 2e-7 on [-87, 88]; below -87.3 gives 0, above 88.7 gives +inf. */
KINL vf vexp(vf x)
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

KINL vf vsigmoid(vf x) { return splat(1.0f) / (splat(1.0f) + vexp(-x)); }
/* tanh(x) = 1 - 2 / (exp(2x) + 1); |x| < 2^-10 returns x itself (no cancellation) */
KINL vf vtanh(vf x)
{
    vf t = splat(1.0f) - splat(2.0f) / (vexp(x + x) + splat(1.0f));
    vf ax = select(x < splat(0.0f), -x, x);
    return select(ax < splat(0x1p-10f), x, t);
}

/* one lane through the vector code, so scalar tails give the same bits as vector bodies */
KINL float expf1(float x) { return vexp(splat(x))[0]; }
KINL float tanhf1(float x) { return vtanh(splat(x))[0]; }
KINL float sigmoid1(float x) { return vsigmoid(splat(x))[0]; }

float KNAME(add_bias_max)(float *row, const float *bias, int n)
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

float KNAME(bias_max)(const float *row, const float *bias, int n)
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

/* max_k row[k] (-inf for n == 0; NaN lanes are skipped) */
float KNAME(max)(const float *row, int n)
{
    vf m = splat(-INFINITY);
    int k = 0;
    for (; k + W <= n; k += W) m = vmax(load(row + k), m);
    float mx = -INFINITY;
    for (int j = 0; j < W; j++) mx = m[j] > mx ? m[j] : mx;
    for (; k < n; k++) mx = row[k] > mx ? row[k] : mx;
    return mx;
}

/* The one summation of the kernels, in the order described at the top: total0 plus the sum over
 * k of a[k] (T_SUM), a[k]^2 (T_SUMSQ), a[k] * bias[k] (T_DOT) or exp(a[k] (+ bias[k]) - shift)
 * (T_EXP; stored back into a[k] when store; bias may be NULL). term and store are constants at every call, so each use
 * compiles to its own loop. */
enum { T_SUM, T_SUMSQ, T_EXP, T_DOT };
KINL double sum16(double total0, float *a, const float *bias, float shift, size_t n, int term, int store_exp)
{
    double total = total0;
    vf sh = splat(shift);
    size_t k = 0;
    while (k + 16 <= n) {
        vf acc[NACC];
        for (int i = 0; i < NACC; i++) acc[i] = splat(0.0f);
        size_t end = k + 1024 < n ? k + 1024 : n;
        for (; k + 16 <= end; k += 16)
            for (int i = 0; i < NACC; i++) {
                size_t o = k + (size_t)i * W;
                vf v = load(a + o);
                if (term == T_EXP) {
                    if (bias) v += load(bias + o);
                    v = vexp(v - sh);
                    if (store_exp) store(a + o, v);
                } else if (term == T_SUMSQ) {
                    v = v * v;
                } else if (term == T_DOT) {
                    v = v * load(bias + o);
                }
                acc[i] += v;
            }
        for (int i = 0; i < NACC; i++)
            for (int j = 0; j < W; j++) total += acc[i][j];
    }
    for (; k < n; k++) {
        if (term == T_EXP) {
            float e = expf1((bias ? a[k] + bias[k] : a[k]) - shift);
            if (store_exp) a[k] = e;
            total += e;
        } else {
            if (term == T_DOT) {
                float t = a[k] * bias[k]; /* rounded as a lane's product */
                total += t;
            } else {
                total += term == T_SUMSQ ? (double)a[k] * a[k] : (double)a[k];
            }
        }
    }
    return total;
}

/* sum_k exp(row[k] (+ bias[k]) - shift), optionally stored; bias may be NULL */
double KNAME(exp_sum)(float *row, const float *bias, float shift, int n, int store_exp)
{
    return store_exp ? sum16(0, row, bias, shift, (size_t)n, T_EXP, 1) : sum16(0, row, bias, shift, (size_t)n, T_EXP, 0);
}

void KNAME(log_softmax)(float *dst, const float *src, const float *bias, float mx, float logsum, int n)
{
    int k = 0;
    for (; k + W <= n; k += W) store(dst + k, load(src + k) + load(bias + k) - splat(mx) - splat(logsum));
    for (; k < n; k++) dst[k] = src[k] + bias[k] - mx - logsum;
}

void KNAME(scale)(float *a, float s, size_t n)
{
    size_t k = 0;
    for (; k + W <= n; k += W) store(a + k, load(a + k) * splat(s));
    for (; k < n; k++) a[k] *= s;
}

void KNAME(sub)(float *dst, const float *src, float shift, int n)
{
    int k = 0;
    for (; k + W <= n; k += W) store(dst + k, load(src + k) - splat(shift));
    for (; k < n; k++) dst[k] = src[k] - shift;
}

/* (the const is kept: T_SUM and T_SUMSQ never store) */
double KNAME(sumsq)(const float *a, size_t n) { return sum16(0, (float *)a, NULL, 0.0f, n, T_SUMSQ, 0); }
double KNAME(sumsq_from)(double total, const float *a, size_t n) { return sum16(total, (float *)a, NULL, 0.0f, n, T_SUMSQ, 0); }
double KNAME(sum)(const float *a, size_t n) { return sum16(0, (float *)a, NULL, 0.0f, n, T_SUM, 0); }
double KNAME(dot)(const float *a, const float *b, size_t n) { return sum16(0, (float *)a, b, 0.0f, n, T_DOT, 0); }

/* z_r[j] = ((p_r[0] * wt_0[j] + p_r[1] * wt_1[j]) + ...) + p_r[K-1] * wt_{K-1}[j] for the rows
 * r < rows (z_r = z + r*ldz, p_r = p + r*ldp) and j < n, wt_k = wt + k*ldw (K >= 1): every product
 * rounded, then added in k order. Four rows at a time share each load of wt. */
void KNAME(proj)(float *z, size_t ldz, const float *p, size_t ldp, int rows, const float *wt, size_t ldw, int n,
                 int K)
{
    int r = 0;
    for (; r + 4 <= rows; r += 4) {
        const float *p0 = p + (size_t)r * ldp, *p1 = p0 + ldp, *p2 = p1 + ldp, *p3 = p2 + ldp;
        float *z0 = z + (size_t)r * ldz, *z1 = z0 + ldz, *z2 = z1 + ldz, *z3 = z2 + ldz;
        int j = 0;
        for (; j + W <= n; j += W) {
            vf w = load(wt + j);
            vf s0 = splat(p0[0]) * w, s1 = splat(p1[0]) * w, s2 = splat(p2[0]) * w, s3 = splat(p3[0]) * w;
            for (int k = 1; k < K; k++) {
                w = load(wt + (size_t)k * ldw + j);
                s0 += splat(p0[k]) * w, s1 += splat(p1[k]) * w, s2 += splat(p2[k]) * w, s3 += splat(p3[k]) * w;
            }
            store(z0 + j, s0), store(z1 + j, s1), store(z2 + j, s2), store(z3 + j, s3);
        }
        for (; j < n; j++) {
            float w = wt[j], s0 = p0[0] * w, s1 = p1[0] * w, s2 = p2[0] * w, s3 = p3[0] * w;
            for (int k = 1; k < K; k++) {
                w = wt[(size_t)k * ldw + j];
                s0 += p0[k] * w, s1 += p1[k] * w, s2 += p2[k] * w, s3 += p3[k] * w;
            }
            z0[j] = s0, z1[j] = s1, z2[j] = s2, z3[j] = s3;
        }
    }
    for (; r < rows; r++) {
        const float *p0 = p + (size_t)r * ldp;
        float *z0 = z + (size_t)r * ldz;
        int j = 0;
        for (; j + W <= n; j += W) {
            vf s0 = splat(p0[0]) * load(wt + j);
            for (int k = 1; k < K; k++) s0 += splat(p0[k]) * load(wt + (size_t)k * ldw + j);
            store(z0 + j, s0);
        }
        for (; j < n; j++) {
            float s0 = p0[0] * wt[j];
            for (int k = 1; k < K; k++) s0 += p0[k] * wt[(size_t)k * ldw + j];
            z0[j] = s0;
        }
    }
}

void KNAME(axpy)(float *p, float alpha, const float *g, size_t n)
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

void KNAME(add)(float *acc, const float *a, size_t n)
{
    size_t k = 0;
    for (; k + W <= n; k += W) store(acc + k, load(acc + k) + load(a + k));
    for (; k < n; k++) acc[k] += a[k];
}

void KNAME(mul)(float *a, const float *m, size_t n)
{
    size_t k = 0;
    for (; k + W <= n; k += W) store(a + k, load(a + k) * load(m + k));
    for (; k < n; k++) a[k] *= m[k];
}

void KNAME(sigmoid_bias)(float *x, const float *b, int n)
{
    int k = 0;
    for (; k + W <= n; k += W) store(x + k, vsigmoid(load(x + k) + load(b + k)));
    for (; k < n; k++) x[k] = sigmoid1(x[k] + b[k]);
}

void KNAME(tanh_bias)(float *x, const float *b, int n)
{
    int k = 0;
    for (; k + W <= n; k += W) store(x + k, vtanh(load(x + k) + load(b + k)));
    for (; k < n; k++) x[k] = tanhf1(x[k] + b[k]);
}

void KNAME(tanh)(float *y, const float *x, int n)
{
    int k = 0;
    for (; k + W <= n; k += W) store(y + k, vtanh(load(x + k)));
    for (; k < n; k++) y[k] = tanhf1(x[k]);
}
