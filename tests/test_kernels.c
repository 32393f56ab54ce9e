/* test_kernels.c -- the vectorised element-wise kernels against libm and plain loops, and the
 * 8-lane (AVX2) and 16-lane (AVX-512F) builds against the 4-lane one, bit for bit. */
#include "testutil.h"

#include "kernels.h"

#include <stdio.h>

#include <float.h>
#include <string.h>

static double ulp_err(float got, double want)
{
    if (want == 0) return got == 0 ? 0 : 1e9;
    return fabs(got - want) / fabs(want) / FLT_EPSILON;
}

START_TEST(test_exp_accuracy)
{
    double worst = 0;
    for (float x = -87.0f; x <= 88.0f; x += 0.0137f) {
        double e = ulp_err(rnn__expf(x), exp((double)x));
        if (e > worst) worst = e;
    }
    printf("kernels: rnn__expf worst relative error %.2f ulp on [-87, 88]\n", worst);
    ck_assert_double_lt(worst, 4.0);
    ck_assert_float_eq(rnn__expf(-200.0f), 0.0f);
    ck_assert(isinf(rnn__expf(200.0f)));
    ck_assert_float_eq(rnn__expf(0.0f), 1.0f);
    ck_assert(isnan(rnn__expf(NAN)));
}
END_TEST

START_TEST(test_tanh_sigmoid_accuracy)
{
    double wt = 0, ws = 0;
    for (float x = -20.0f; x <= 20.0f; x += 0.00731f) {
        double t = tanh((double)x), s = 1.0 / (1.0 + exp(-(double)x));
        double et = fabs(rnn__tanhf(x) - t), es = fabs(rnn__sigmoid(x) - s) / s;
        if (et > wt) wt = et;
        if (es > ws) ws = es;
    }
    printf("kernels: tanh worst abs error %.2e, sigmoid worst rel error %.2e\n", wt, ws);
    ck_assert_double_lt(wt, 4e-7);
    ck_assert_double_lt(ws, 4e-7);
    ck_assert_float_eq(rnn__tanhf(1e-20f), 1e-20f); /* tiny inputs keep their value */
    ck_assert_float_eq(rnn__tanhf(-30.0f), -1.0f);
}
END_TEST

/* vector bodies and scalar tails agree bit for bit, for every length and offset */
START_TEST(test_tails_match_bodies)
{
    float a[67], b[67], bias[67];
    uint64_t s = 3;
    for (int i = 0; i < 67; i++) a[i] = (float)(tu_uniform(&s) * 20 - 10), bias[i] = (float)(tu_uniform(&s) - 0.5);
    for (int n = 0; n <= 9; n++)
        for (int off = 0; off < 4; off++) {
            memcpy(b, a, sizeof a);
            rnn__k_tanh_bias(b + off, bias + off, n);
            for (int k = 0; k < n; k++) ck_assert_float_eq(b[off + k], rnn__tanhf(a[off + k] + bias[off + k]));
            memcpy(b, a, sizeof a);
            rnn__k_sigmoid_bias(b + off, bias + off, n);
            for (int k = 0; k < n; k++) ck_assert_float_eq(b[off + k], rnn__sigmoid(a[off + k] + bias[off + k]));
        }
}
END_TEST

START_TEST(test_reductions)
{
    enum { N = 5000 };
    static float a[N], row[N], bias[N];
    uint64_t s = 9;
    double ss = 0, es = 0, sa = 0, sabs = 0;
    float mx = -INFINITY;
    for (int i = 0; i < N; i++) {
        a[i] = (float)(tu_uniform(&s) * 8 - 4), bias[i] = (float)(tu_uniform(&s) - 0.5);
        ss += (double)a[i] * a[i], sa += a[i], sabs += fabs(a[i]);
        float v = a[i] + bias[i];
        mx = v > mx ? v : mx;
    }
    for (int i = 0; i < N; i++) es += exp((double)(a[i] + bias[i]) - mx);
    ck_assert_double_eq_tol(rnn__k_sumsq(a, N), ss, ss * 1e-6);
    ck_assert_double_eq_tol(rnn__k_sum(a, N), sa, sabs * 1e-6);
    memcpy(row, a, sizeof a);
    ck_assert_float_eq(rnn__k_add_bias_max(row, bias, N), mx);
    double got = rnn__k_exp_sum(row, mx, N, 1);
    ck_assert_double_eq_tol(got, es, es * 1e-6);
    ck_assert_float_eq_tol(row[17], (float)exp((double)(a[17] + bias[17]) - mx), 1e-6f);
    float p[N], g[N];
    memcpy(p, a, sizeof p);
    memcpy(g, bias, sizeof g);
    rnn__k_axpy(p, -0.5f, g, N);
    for (int i = 0; i < N; i++) {
        float t = -0.5f * g[i];
        ck_assert_float_eq(p[i], a[i] + t);
    }
}
END_TEST

/* the 4-row dot kernel gives every output bit-identical to the 1-row kernel (batch invariance),
 * and both compute beta * out + dot(a_r, b_j) */
START_TEST(test_dots4_matches_dots)
{
    enum { K = 203, N = 37 };
    static float a[4 * K], b[N * K], init[4 * N], o1[4 * N], o4[4 * N];
    uint64_t s = 11;
    for (int i = 0; i < 4 * K; i++) a[i] = (float)(tu_uniform(&s) - 0.5);
    for (int i = 0; i < N * K; i++) b[i] = (float)(tu_uniform(&s) - 0.5);
    for (int i = 0; i < 4 * N; i++) init[i] = (float)tu_uniform(&s);
    memcpy(o1, init, sizeof o1);
    memcpy(o4, init, sizeof o4);
    for (int r = 0; r < 4; r++) rnn__k_dots(o1 + r * N, a + r * K, b, K, N, K, 0.5f);
    rnn__k_dots4(o4, N, a, K, b, K, N, K, 0.5f);
    ck_assert_int_eq(memcmp(o1, o4, sizeof o1), 0);
    for (int r = 0; r < 4; r++)
        for (int j = 0; j < N; j++) {
            double want = 0.5 * init[r * N + j];
            for (int k = 0; k < K; k++) want += (double)a[r * K + k] * b[j * K + k];
            ck_assert_double_eq_tol(o1[r * N + j], want, 1e-5);
        }
}
END_TEST

/* rnn__k_proj: every product rounded, then added in k order (a plain scalar loop gives the same
 * bits), for every row count around the 4-row groups and lengths around the lanes; rnn__k_dot:
 * the sum of the rounded products, to double accuracy */
START_TEST(test_proj_and_dot)
{
    enum { K = 13, LD = 1100 };
    static float p[7 * K], wt[K * LD], z[7 * LD];
    uint64_t s = 5;
    for (int i = 0; i < 7 * K; i++) p[i] = (float)(tu_uniform(&s) - 0.5);
    for (int i = 0; i < K * LD; i++) wt[i] = (float)(tu_uniform(&s) * 4 - 2);
    const int ns[] = {1, 7, 8, 17, 1024, 1037};
    for (int k = 1; k <= K; k += 4)
        for (int rows = 1; rows <= 7; rows++)
            for (unsigned ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
                int n = ns[ni];
                memset(z, 0, sizeof z);
                rnn__k_proj(z, LD, p, K, rows, wt, LD, n, k);
                for (int r = 0; r < rows; r++)
                    for (int j = 0; j < n; j++) {
                        volatile float t = p[r * K] * wt[j]; /* (volatile: rounded at every step) */
                        for (int q = 1; q < k; q++) {
                            volatile float prod = p[r * K + q] * wt[q * LD + j];
                            t = t + prod;
                        }
                        ck_assert_msg(z[r * LD + j] == t, "proj K %d rows %d n %d: z[%d][%d] %.9g, want %.9g", k, rows, n,
                                      r, j, (double)z[r * LD + j], (double)t);
                    }
                ck_assert(z[rows * LD - LD + n] == 0.0f || n == LD); /* nothing past n */
            }
    for (unsigned ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
        int n = ns[ni];
        double want = 0, mag = 0;
        for (int j = 0; j < n; j++) {
            float prod = wt[j] * wt[LD + j];
            want += prod, mag += fabs(prod);
        }
        ck_assert_double_eq_tol(rnn__k_dot(wt, wt + LD, (size_t)n), want, mag * 1e-6);
    }
}
END_TEST

/* Every kernel of the 8-lane and 16-lane builds gives the 4-lane build's bits: lengths around the
 * 16-element groups and the 1024-element flush, values spanning exp's overflow and underflow, NaN,
 * +-0. Each build is run where the CPU has it. */
#if RNN_HAVE_K16
typedef struct kbuild {
    const char *name;
    float (*add_bias_max)(float *, const float *, int);
    float (*bias_max)(const float *, const float *, int);
    float (*max)(const float *, int);
    double (*exp_sum)(float *, const float *, float, int, int);
    void (*log_softmax)(float *, const float *, const float *, float, float, int);
    void (*scale)(float *, float, size_t);
    void (*sub)(float *, const float *, float, int);
    double (*sumsq)(const float *, size_t);
    double (*sumsq_from)(double, const float *, size_t);
    double (*sum)(const float *, size_t);
    void (*axpy)(float *, float, const float *, size_t);
    void (*add)(float *, const float *, size_t);
    void (*mul)(float *, const float *, size_t);
    void (*sigmoid_bias)(float *, const float *, int);
    void (*tanh_bias)(float *, const float *, int);
    void (*tanh)(float *, const float *, int);
    double (*dot)(const float *, const float *, size_t);
    void (*proj)(float *, size_t, const float *, size_t, int, const float *, size_t, int, int);
} kbuild;
#define KBUILD(P, label)                                                                            \
    {label, P##add_bias_max, P##bias_max, P##max, P##exp_sum, P##log_softmax, P##scale, P##sub,     \
     P##sumsq, P##sumsq_from, P##sum, P##axpy, P##add, P##mul, P##sigmoid_bias, P##tanh_bias, P##tanh,  \
     P##dot, P##proj}
static const kbuild k4 = KBUILD(rnn__k4_, "4 lanes"), k8 = KBUILD(rnn__k8_, "8 lanes (AVX2)"),
                    k16 = KBUILD(rnn__k16_, "16 lanes (AVX-512F)");

static void fill(float *a, int n, uint64_t *s, float scale)
{
    for (int i = 0; i < n; i++) a[i] = (float)((tu_uniform(s) - 0.5) * scale);
}
#define SAME(a, b, n) ck_assert_msg(memcmp((a), (b), sizeof(float) * (size_t)(n)) == 0, "%s, n = %d: %s", w->name, n, #a)
/* the same value; a zero maximum may be +0 in one build and -0 in another (kernels.h) */
#define SAME_MAX(a, b) ck_assert_msg((a) == (b) || ((a) != (a) && (b) != (b)), "%s, n = %d: max %g, %g", w->name, n, (double)(a), (double)(b))
static void same_bits(const kbuild *w)
{
    enum { MAXN = 33278 };
    static float x[MAXN], b[MAXN], r4[MAXN], rw[MAXN], o4[MAXN], ow[MAXN];
    const int lens[] = {0, 1, 3, 4, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 1023, 1024, 1025, 1040, 2049, 4111, MAXN};
    uint64_t s = 2024;
    for (unsigned li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        int n = lens[li];
        for (int rep = 0; rep < 3; rep++) {
            float scale = rep == 0 ? 4.0f : rep == 1 ? 60.0f : 400.0f; /* 400: beyond exp's range */
            fill(x, n, &s, scale), fill(b, n, &s, scale);
            if (rep == 2 && n > 5) x[n / 2] = NAN, x[1] = -0.0f, x[2] = 0.0f, b[3] = -INFINITY;
            memcpy(r4, x, sizeof(float) * n), memcpy(rw, x, sizeof(float) * n);
            float m4 = k4.add_bias_max(r4, b, n), mw = w->add_bias_max(rw, b, n);
            ck_assert(memcmp(&m4, &mw, sizeof m4) == 0);
            SAME(r4, rw, n);
            m4 = k4.bias_max(x, b, n), mw = w->bias_max(x, b, n);
            ck_assert(memcmp(&m4, &mw, sizeof m4) == 0);
            m4 = k4.max(x, n), mw = w->max(x, n);
            SAME_MAX(m4, mw);
            float plain = -INFINITY; /* the maximum as a plain loop finds it */
            for (int k = 0; k < n; k++) plain = x[k] > plain ? x[k] : plain;
            SAME_MAX(m4, plain);
            for (int store = 0; store < 2; store++)
                for (int withb = 0; withb < 2; withb++) {
                    memcpy(r4, x, sizeof(float) * n), memcpy(rw, x, sizeof(float) * n);
                    double s4 = k4.exp_sum(r4, withb ? b : NULL, 1.5f, n, store);
                    double sw = w->exp_sum(rw, withb ? b : NULL, 1.5f, n, store);
                    ck_assert(memcmp(&s4, &sw, sizeof s4) == 0);
                    SAME(r4, rw, n);
                }
            k4.log_softmax(o4, x, b, 0.75f, 1.5f, n), w->log_softmax(ow, x, b, 0.75f, 1.5f, n);
            SAME(o4, ow, n);
            k4.sub(o4, x, 0.75f, n), w->sub(ow, x, 0.75f, n);
            SAME(o4, ow, n);
            double q4 = k4.sumsq(x, (size_t)n), qw = w->sumsq(x, (size_t)n);
            ck_assert(memcmp(&q4, &qw, sizeof q4) == 0);
            q4 = k4.sumsq_from(0.5, x, (size_t)n), qw = w->sumsq_from(0.5, x, (size_t)n);
            ck_assert(memcmp(&q4, &qw, sizeof q4) == 0);
            q4 = k4.sum(x, (size_t)n), qw = w->sum(x, (size_t)n);
            ck_assert(memcmp(&q4, &qw, sizeof q4) == 0);
            q4 = k4.dot(x, b, (size_t)n), qw = w->dot(x, b, (size_t)n);
            ck_assert(memcmp(&q4, &qw, sizeof q4) == 0);
            if (n >= 5 * 3) { /* 5 rows of a 3-unit projection (x) through b as (3, n / 3) */
                int m = n / 3;
                k4.proj(o4, (size_t)m / 5, x, 3, 5, b, (size_t)m, m / 5, 3);
                w->proj(ow, (size_t)m / 5, x, 3, 5, b, (size_t)m, m / 5, 3);
                SAME(o4, ow, m / 5 * 5);
            }
#define ONE(call4, callw)                                                                        \
    memcpy(r4, x, sizeof(float) * n), memcpy(rw, x, sizeof(float) * n);                          \
    call4, callw;                                                                                 \
    SAME(r4, rw, n)
            ONE(k4.scale(r4, 0.3f, (size_t)n), w->scale(rw, 0.3f, (size_t)n));
            ONE(k4.axpy(r4, -0.7f, b, (size_t)n), w->axpy(rw, -0.7f, b, (size_t)n));
            ONE(k4.add(r4, b, (size_t)n), w->add(rw, b, (size_t)n));
            ONE(k4.mul(r4, b, (size_t)n), w->mul(rw, b, (size_t)n));
            ONE(k4.sigmoid_bias(r4, b, n), w->sigmoid_bias(rw, b, n));
            ONE(k4.tanh_bias(r4, b, n), w->tanh_bias(rw, b, n));
            k4.tanh(o4, x, n), w->tanh(ow, x, n);
            SAME(o4, ow, n);
        }
    }
}

START_TEST(test_avx2_build_same_bits)
{
    if (!rnn__k_avx2()) {
        printf("kernels: this CPU has no AVX2; the 8-lane build is not run here\n");
        return;
    }
    same_bits(&k8);
}
END_TEST

START_TEST(test_wide_build_same_bits)
{
    if (!rnn__k_wide()) {
        printf("kernels: this CPU has no AVX-512F; the 16-lane build is not run here\n");
        return;
    }
    same_bits(&k16);
}
END_TEST
#endif

int main(void)
{
    Suite *s = suite_create("kernels");
    TCase *tc = tcase_create("kernels");
    tcase_add_test(tc, test_exp_accuracy);
    tcase_add_test(tc, test_tanh_sigmoid_accuracy);
    tcase_add_test(tc, test_tails_match_bodies);
    tcase_add_test(tc, test_reductions);
    tcase_add_test(tc, test_dots4_matches_dots);
    tcase_add_test(tc, test_proj_and_dot);
#if RNN_HAVE_K16
    tcase_add_test(tc, test_avx2_build_same_bits);
    tcase_add_test(tc, test_wide_build_same_bits);
#endif
    suite_add_tcase(s, tc);
    return tu_run(s);
}
