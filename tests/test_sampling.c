/*
 * test_sampling.c -- the 1.1 links of the sampler chain (rnn_sampling: min_p, repeat_penalty,
 * repeat_last_n), the token history behind the penalty, and the struct's growth, against
 * include/rnn.h only.
 *
 *   minp       min-p never draws a token below min_p x the most probable's probability, and draws
 *              the rest with their renormalised probabilities (a chi-square over many draws with a
 *              fixed seed against the distribution rnn_state_get_logprobs gives), alone, after
 *              top-k / top-p, and on the tempered distribution; min_p 1 is greedy
 *   penalty    a model whose logits are its decoder bias (decoder.weight 0), so every penalised
 *              logit is known: greedy picks change exactly as llama.cpp's formula predicts (both
 *              signs, each distinct token once), the window counts only the last n tokens (up to
 *              RNN_LIMIT_REPEAT_WINDOW), feed / score / generate add to the history, draw does not,
 *              reset / set_hidden empty it, copy / clone carry it; rnn_sample on the model's own
 *              state the same (and a failed rnn_sample takes its token back); a penalty that
 *              overflows a logit is RNN_ERR_NUMERIC; the draws' frequencies with the penalty follow
 *              softmax of the penalised logits (chi-square)
 *   struct     a 1.0-sized struct (24 bytes, garbage in its tail padding) works, reserved_1_0 is
 *              ignored, unknown nonzero bytes past the library's struct are still refused; the
 *              defaults (NULL, 1.0 size, penalty 0 or 1, min_p 0) generate bit-identical tokens
 *   values     bad min_p / repeat_penalty / repeat_last_n are RNN_ERR_INVALID with a message
 *              naming the field, nothing drawn; RNN_LIMIT_REPEAT_WINDOW is 1024
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rnn.h"

#define OK(call)                                                                                   \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        ck_assert_msg(rc_ == RNN_OK, "%s -> %d (%s)", #call, rc_, rnn_status_string(rc_));             \
    } while (0)

enum { E = 6, H = 7 };

static rnn_model *make_model(int V, int cell, uint64_t seed)
{
    rnn_config c;
    rnn_config_init(&c, sizeof c);
    c.cell = cell, c.vocab_size = V, c.emb_size = E, c.hidden_size = H, c.num_layers = 2, c.seed = seed;
    rnn_model *m = NULL;
    OK(rnn_model_create(&m, &c, NULL, NULL, 0));
    /* a peaked distribution: a larger decoder than PyTorch's initialisation gives */
    int n;
    OK(rnn_param_get_count(m, &n));
    uint64_t s = seed;
    for (int i = 0; i < n; i++) {
        rnn_param p = {.struct_size = sizeof p};
        OK(rnn_param_get(m, i, &p));
        float sc = strncmp(p.name, "decoder", 7) == 0 ? 3.0f : 0.5f;
        for (size_t j = 0; j < p.size; j++) p.data[j] = (float)((2.0 * tu_uniform(&s) - 1.0) * sc);
    }
    return m;
}

/* a model whose logits are z whatever its state (decoder.weight 0, decoder.bias z) */
static rnn_model *bias_model(const float *z, int V)
{
    rnn_model *m = make_model(V, RNN_CELL_GRU, 5);
    rnn_param w = {.struct_size = sizeof w}, b = {.struct_size = sizeof b};
    OK(rnn_param_find(m, "decoder.weight", &w));
    OK(rnn_param_find(m, "decoder.bias", &b));
    memset(w.data, 0, w.size * sizeof(float));
    memcpy(b.data, z, (size_t)V * sizeof(float));
    return m;
}

static rnn_sampling smp(float temperature, float min_p, float penalty, int last_n)
{
    rnn_sampling s;
    OK(rnn_sampling_init(&s, sizeof s));
    s.temperature = temperature, s.min_p = min_p, s.repeat_penalty = penalty, s.repeat_last_n = last_n;
    return s;
}

/* The chi-square critical value for df degrees of freedom at p = 0.001 (Wilson-Hilferty). */
static double chi2_crit(int df)
{
    double k = df, z = 3.09;
    double t = 1.0 - 2.0 / (9.0 * k) + z * sqrt(2.0 / (9.0 * k));
    return k * t * t * t;
}

/* ndraws draws of stream 0 of st with s; q (nv, sums to 1) the expected distribution: no draw
 * where q is 0, and a chi-square over the rest below the 0.001 critical value */
static void check_freq(rnn_state *st, const rnn_sampling *s, const double *q, int nv, int ndraws, const char *what)
{
    long *cnt = calloc((size_t)nv, sizeof *cnt);
    ck_assert_ptr_nonnull(cnt);
    for (int i = 0; i < ndraws; i++) {
        int32_t nx;
        OK(rnn_state_draw(st, s, &nx));
        ck_assert_msg(nx >= 0 && nx < nv, "%s: drew %d", what, nx);
        cnt[nx]++;
    }
    double chi = 0;
    int kept = 0;
    for (int k = 0; k < nv; k++) {
        if (q[k] == 0) {
            ck_assert_msg(cnt[k] == 0, "%s: token %d is below the cut but was drawn %ld times", what, k, cnt[k]);
            continue;
        }
        double e = ndraws * q[k];
        chi += (cnt[k] - e) * (cnt[k] - e) / e;
        kept++;
    }
    if (kept > 1)
        ck_assert_msg(chi < chi2_crit(kept - 1), "%s: chi-square %.2f over %d tokens (critical %.2f)", what, chi, kept,
                      chi2_crit(kept - 1));
    free(cnt);
}

/* ---- min-p ------------------------------------------------------------------------------------ */
enum { MV = 29, NDRAW = 40000 };

/* q = p^(1/T) renormalised over the tokens that survive top-k (k 0: all) and min-p (relative to the
 * most probable), p = exp(lp); *gap receives the smallest |log(q_k / (min_p q_max))| so the test
 * can avoid rounding at the bar */
static void expected(const float *lp, double T, int top_k, double min_p, double *q, double *gap)
{
    double w[MV], top = 0;
    for (int k = 0; k < MV; k++) w[k] = exp((double)lp[k] / T), top = w[k] > top ? w[k] : top;
    int keep[MV];
    for (int k = 0; k < MV; k++) {
        int better = 0;
        for (int j = 0; j < MV; j++) better += w[j] > w[k] || (w[j] == w[k] && j < k);
        keep[k] = top_k == 0 || better < top_k;
    }
    double sum = 0;
    *gap = INFINITY;
    for (int k = 0; k < MV; k++) {
        if (keep[k] && min_p > 0) {
            double d = fabs(log(w[k] / (min_p * top)));
            *gap = d < *gap ? d : *gap;
            keep[k] = w[k] >= min_p * top;
        }
        q[k] = keep[k] ? w[k] : 0.0;
        sum += q[k];
    }
    for (int k = 0; k < MV; k++) q[k] /= sum;
}

/* a min_p halfway (in log) between two neighbouring tokens of the tempered distribution, below the
 * `rank`-th most probable */
static double min_p_between(const float *lp, double T, int rank)
{
    double s[MV];
    for (int k = 0; k < MV; k++) s[k] = (double)lp[k] / T;
    for (int i = 0; i < MV; i++) /* descending */
        for (int j = i + 1; j < MV; j++)
            if (s[j] > s[i]) {
                double t = s[i];
                s[i] = s[j], s[j] = t;
            }
    return exp(0.5 * (s[rank - 1] + s[rank]) - s[0]);
}

START_TEST(test_min_p_frequencies)
{
    static const int cells[] = {RNN_CELL_LSTM, RNN_CELL_GRU};
    rnn_model *m = make_model(MV, cells[_i], 17 + (uint64_t)_i);
    rnn_state *st = NULL;
    OK(rnn_state_create(&st, m, 1, 99));
    int32_t pre[3] = {1, 4, 9};
    OK(rnn_state_feed(st, pre, 3, 0));
    float lp[MV];
    OK(rnn_state_get_logprobs(st, lp));

    static const struct {
        double T;
        int top_k;
        float top_p;
        int rank;
    } cases[] = {{1.0, 0, 1.0f, 4}, {1.0, 0, 1.0f, 1}, {1.0, 0, 1.0f, 9}, {2.0, 0, 1.0f, 6}, {0.7, 0, 1.0f, 3},
                 {1.0, 7, 1.0f, 5}, {1.0, 0, 0.9999999f, 5}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double min_p = min_p_between(lp, cases[c].T, cases[c].rank), q[MV], gap;
        expected(lp, cases[c].T, cases[c].top_k, min_p, q, &gap);
        ck_assert_msg(gap > 1e-3, "case %zu: a token sits at the bar (gap %g)", c, gap);
        int kept = 0;
        for (int k = 0; k < MV; k++) kept += q[k] > 0;
        ck_assert_int_eq(kept, cases[c].rank);
        rnn_sampling s = smp((float)cases[c].T, (float)min_p, 0.0f, 0);
        s.top_k = cases[c].top_k, s.top_p = cases[c].top_p;
        char what[96];
        snprintf(what, sizeof what, "T %g top_k %d top_p %g min_p %g (%d kept)", cases[c].T, cases[c].top_k,
                 (double)cases[c].top_p, min_p, kept);
        check_freq(st, &s, q, MV, NDRAW, what);
    }
    /* min_p 1: only the most probable */
    int best = 0;
    for (int k = 1; k < MV; k++) best = lp[k] > lp[best] ? k : best;
    rnn_sampling s1 = smp(1.0f, 1.0f, 0.0f, 0);
    for (int i = 0; i < 500; i++) {
        int32_t nx;
        OK(rnn_state_draw(st, &s1, &nx));
        ck_assert_int_eq(nx, best);
    }
    rnn_state_free(st);
    rnn_model_free(m);
}
END_TEST

/* ---- repetition penalty --------------------------------------------------------------------------- */
enum { PV = 8 };
static const float ZPOS[PV] = {3.0f, 2.5f, 1.0f, -1.0f, -2.0f, -2.5f, -3.0f, -4.0f};
static const float ZNEG[PV] = {-1.0f, -1.2f, -3.0f, -3.5f, -4.0f, -4.5f, -5.0f, -6.0f};

/* llama.cpp's rule, written again: the greedy pick of z after penalising each distinct token of
 * the last n of hist[0..len) */
static int predict(const float *z, const int32_t *hist, int len, float penalty, int n)
{
    float v[PV];
    memcpy(v, z, sizeof v);
    int done[PV] = {0};
    for (int i = len - 1; i >= 0 && i >= len - n; i--) {
        int k = hist[i];
        if (done[k]) continue;
        done[k] = 1;
        v[k] = v[k] > 0 ? v[k] / penalty : v[k] * penalty;
    }
    int a = 0;
    for (int k = 1; k < PV; k++) a = v[k] > v[a] ? k : a;
    return a;
}

static int greedy(rnn_state *st, float penalty, int n)
{
    rnn_sampling s = smp(0.0f, 0.0f, penalty, n);
    int32_t nx = -1;
    OK(rnn_state_draw(st, &s, &nx));
    return nx;
}

START_TEST(test_penalty_greedy)
{
    rnn_model *m = bias_model(ZPOS, PV);
    rnn_state *st = NULL, *tw = NULL;
    OK(rnn_state_create(&st, m, 1, 3));
    ck_assert_int_eq(greedy(st, 1.5f, 0), 0); /* an empty history */
    int32_t t0 = 0;
    OK(rnn_state_feed(st, &t0, 1, 0));
    ck_assert_int_eq(greedy(st, 0.0f, 0), 0); /* off */
    ck_assert_int_eq(greedy(st, 1.0f, 0), 0); /* off */
    ck_assert_int_eq(greedy(st, 1.5f, 0), 1); /* 3 / 1.5 = 2 < 2.5 */
    ck_assert_int_eq(greedy(st, 1.1f, 0), 0); /* 3 / 1.1 > 2.5 */
    ck_assert_int_eq(greedy(st, 1.5f, 1), 1);
    ck_assert_int_eq(greedy(st, 1.5f, 0), 1); /* draws do not add to the history */
    /* below 1: encourages the repeat */
    int32_t t1 = 1;
    OK(rnn_state_reset(st));
    OK(rnn_state_feed(st, &t1, 1, 0));
    ck_assert_int_eq(greedy(st, 0.5f, 0), 1); /* 2.5 / 0.5 = 5 > 3 */
    ck_assert_int_eq(greedy(st, 0.9f, 0), 0); /* 2.5 / 0.9 < 3 */
    /* each distinct token once: 0 three times with 1.1 is 3 / 1.1, not 3 / 1.331 (< 2.5) */
    int32_t three[3] = {0, 0, 0};
    OK(rnn_state_reset(st));
    OK(rnn_state_feed(st, three, 3, 0));
    ck_assert_int_eq(greedy(st, 1.1f, 0), 0);
    /* the window: 0 then two others; n = 2 leaves 0 alone, n = 3 (and the default 64) reaches it */
    int32_t seq[3] = {0, 5, 6};
    OK(rnn_state_reset(st));
    ck_assert_int_eq(greedy(st, 1.5f, 0), 0); /* reset emptied it */
    OK(rnn_state_feed(st, seq, 3, 0));
    ck_assert_int_eq(greedy(st, 1.5f, 2), 0);
    ck_assert_int_eq(greedy(st, 1.5f, 3), 1);
    ck_assert_int_eq(greedy(st, 1.5f, 0), 1);
    /* copy and clone carry the history; set_hidden empties it */
    OK(rnn_state_clone(&tw, st));
    ck_assert_int_eq(greedy(tw, 1.5f, 0), 1);
    rnn_state_free(tw);
    OK(rnn_state_create(&tw, m, 1, 3));
    ck_assert_int_eq(greedy(tw, 1.5f, 0), 0);
    OK(rnn_state_copy(tw, st));
    ck_assert_int_eq(greedy(tw, 1.5f, 0), 1);
    float h[2 * H] = {0}, c[2 * H] = {0};
    OK(rnn_state_set_hidden(tw, h, c));
    ck_assert_int_eq(greedy(tw, 1.5f, 0), 0);
    ck_assert_int_eq(greedy(st, 1.5f, 0), 1); /* (the source keeps its own) */
    rnn_state_free(tw);
    /* score adds to the history */
    OK(rnn_state_reset(st));
    double lp;
    OK(rnn_state_score(st, &t0, 1, 0, &lp));
    ck_assert_int_eq(greedy(st, 1.5f, 0), 1);
    /* generate: its own tokens join the history, step by step as predicted */
    for (int n = 1; n <= 4; n++) {
        for (int pi = 0; pi < 3; pi++) {
            static const float pens[3] = {1.5f, 1.15f, 3.0f};
            OK(rnn_state_reset(st));
            int32_t hist[40], out[30];
            int len = 0;
            hist[len++] = 7;
            OK(rnn_state_feed(st, &hist[0], 1, 0));
            rnn_sampling s = smp(0.0f, 0.0f, pens[pi], n);
            OK(rnn_state_generate(st, &s, 30, out));
            for (int i = 0; i < 30; i++) {
                int want = predict(ZPOS, hist, len, pens[pi], n);
                ck_assert_msg(out[i] == want, "n %d penalty %g: token %d is %d, predicted %d", n, (double)pens[pi], i,
                              out[i], want);
                hist[len++] = out[i];
            }
        }
    }
    /* the window reaches RNN_LIMIT_REPEAT_WINDOW tokens back, not one more */
    int64_t lim = 0;
    OK(rnn_limit_get(RNN_LIMIT_REPEAT_WINDOW, &lim));
    int32_t *fill = malloc(sizeof(int32_t) * (size_t)(lim + 5));
    ck_assert_ptr_nonnull(fill);
    for (int64_t i = 0; i < lim + 5; i++) fill[i] = 7;
    OK(rnn_state_reset(st));
    OK(rnn_state_feed(st, &t0, 1, 0));
    OK(rnn_state_feed(st, fill, (int)lim - 1, 0));
    ck_assert_int_eq(greedy(st, 1.5f, (int)lim), 1);     /* 0 is the lim-th newest */
    ck_assert_int_eq(greedy(st, 1.5f, (int)lim - 1), 0);
    OK(rnn_state_feed(st, fill, 1, 0));
    ck_assert_int_eq(greedy(st, 1.5f, (int)lim), 0);     /* now one too far */
    /* one long feed: only its last tokens count */
    fill[0] = 0;
    OK(rnn_state_reset(st));
    OK(rnn_state_feed(st, fill, (int)lim + 5, 0));
    ck_assert_int_eq(greedy(st, 1.5f, (int)lim), 0);
    fill[5] = 0;
    OK(rnn_state_reset(st));
    OK(rnn_state_feed(st, fill, (int)lim + 5, 0));
    ck_assert_int_eq(greedy(st, 1.5f, (int)lim), 1);
    free(fill);
    rnn_state_free(st);
    rnn_model_free(m);

    /* a negative logit is multiplied: -1 * 1.5 < -1.2 */
    m = bias_model(ZNEG, PV);
    OK(rnn_state_create(&st, m, 2, 3));
    int32_t two[2] = {0, 1}; /* stream 0 fed 0, stream 1 fed 1: each its own history */
    OK(rnn_state_feed(st, two, 1, 0));
    rnn_sampling s = smp(0.0f, 0.0f, 1.5f, 0);
    int32_t nx[2];
    OK(rnn_state_draw(st, &s, nx));
    ck_assert_int_eq(nx[0], 1);
    ck_assert_int_eq(nx[1], 0);
    s.repeat_penalty = 1.1f; /* -1.1 > -1.2 */
    OK(rnn_state_draw(st, &s, nx));
    ck_assert_int_eq(nx[0], 0);
    rnn_state_free(st);
    rnn_model_free(m);
}
END_TEST

START_TEST(test_penalty_model_sample)
{
    rnn_model *m = bias_model(ZPOS, PV);
    rnn_sampling s = smp(0.0f, 0.0f, 1.5f, 0), plain = smp(0.0f, 0.0f, 0.0f, 0);
    OK(rnn_model_reset_hidden(m, 1));
    int32_t t0 = 0, t5 = 5, nx = -1;
    OK(rnn_sample(m, &t0, 1, &plain, &nx));
    ck_assert_int_eq(nx, 0);
    OK(rnn_model_reset_hidden(m, 1));
    OK(rnn_sample(m, &t0, 1, &s, &nx)); /* the token it feeds is in the history of its draw */
    ck_assert_int_eq(nx, 1);
    OK(rnn_model_reset_hidden(m, 1));
    OK(rnn_sample(m, &t5, 1, &s, &nx));
    ck_assert_int_eq(nx, 0);
    /* rnn_evaluate's tokens count; set_hidden empties the history */
    OK(rnn_evaluate(m, &t0, NULL, 1, 1, 0, NULL, NULL));
    OK(rnn_sample(m, &t5, 1, &s, &nx));
    ck_assert_int_eq(nx, 1);
    float h[2 * H] = {0};
    OK(rnn_model_set_hidden(m, 1, h, NULL));
    OK(rnn_sample(m, &t5, 1, &s, &nx));
    ck_assert_int_eq(nx, 0);
    /* a failed rnn_sample takes its token back from the history too */
    rnn_param b = {.struct_size = sizeof b};
    OK(rnn_param_find(m, "decoder.bias", &b));
    OK(rnn_model_reset_hidden(m, 1));
    b.data[3] = NAN;
    ck_assert_int_eq(rnn_sample(m, &t0, 1, &s, &nx), RNN_ERR_NUMERIC);
    b.data[3] = ZPOS[3];
    OK(rnn_sample(m, &t5, 1, &s, &nx));
    ck_assert_int_eq(nx, 0);
    /* a penalty that overflows a logit: RNN_ERR_NUMERIC naming it, nothing drawn */
    OK(rnn_model_reset_hidden(m, 1));
    nx = -7;
    s.repeat_penalty = 1e-39f; /* 3 / 1e-39 > FLT_MAX */
    ck_assert_int_eq(rnn_sample(m, &t0, 1, &s, &nx), RNN_ERR_NUMERIC);
    ck_assert_int_eq(nx, -7);
    ck_assert_msg(strstr(rnn_model_errmsg(m), "repetition penalty") != NULL, "%s", rnn_model_errmsg(m));
    rnn_model_free(m);
}
END_TEST

START_TEST(test_penalty_frequencies)
{
    rnn_model *m = bias_model(ZPOS, PV);
    rnn_state *st = NULL;
    OK(rnn_state_create(&st, m, 1, 11));
    int32_t seq[4] = {0, 3, 1, 0};
    OK(rnn_state_feed(st, seq, 4, 0));
    static const float pens[] = {1.3f, 0.8f, 2.0f};
    for (size_t i = 0; i < sizeof pens / sizeof pens[0]; i++)
        for (int n = 1; n <= 4; n++) {
            /* softmax of the penalised logits over the distinct tokens of the last n */
            double v[PV], q[PV], sum = 0;
            for (int k = 0; k < PV; k++) v[k] = ZPOS[k];
            int done[PV] = {0};
            for (int j = 3; j >= 4 - n; j--)
                if (!done[seq[j]]) done[seq[j]] = 1, v[seq[j]] = v[seq[j]] > 0 ? v[seq[j]] / pens[i] : v[seq[j]] * pens[i];
            for (int k = 0; k < PV; k++) sum += q[k] = exp(v[k]);
            for (int k = 0; k < PV; k++) q[k] /= sum;
            rnn_sampling s = smp(1.0f, 0.0f, pens[i], n);
            char what[64];
            snprintf(what, sizeof what, "penalty %g, last %d", (double)pens[i], n);
            check_freq(st, &s, q, PV, 20000, what);
        }
    rnn_state_free(st);
    rnn_model_free(m);
}
END_TEST

/* ---- the struct ------------------------------------------------------------------------------------ */
START_TEST(test_struct_growth)
{
    /* 1.0's layout: struct_size, temperature, top_k, top_p, 4 bytes of tail padding (64-bit) */
    ck_assert_uint_eq(offsetof(rnn_sampling, reserved_1_0), offsetof(rnn_sampling, top_p) + sizeof(float));
    ck_assert_msg(offsetof(rnn_sampling, min_p) >= 24 || sizeof(size_t) < 8, "a 1.1 field in 1.0's padding");
    size_t size10 = offsetof(rnn_sampling, reserved_1_0) + sizeof(int);
    rnn_model *m = make_model(MV, RNN_CELL_LSTM, 3);
    rnn_state *ref = NULL;
    OK(rnn_state_create(&ref, m, 2, 42));
    int32_t pre[4] = {1, 2, 3, 4};
    OK(rnn_state_feed(ref, pre, 2, 0));
    enum { N = 60 };
    int32_t want[2 * N], got[2 * N];
    rnn_state *st = NULL;
    OK(rnn_state_clone(&st, ref));
    OK(rnn_state_generate(st, NULL, N, want));
    rnn_state_free(st);

    /* a 1.0 program's struct: its size, garbage in the padding, and garbage after it (not its) */
    union {
        rnn_sampling s;
        unsigned char b[sizeof(rnn_sampling) + 16];
    } u;
    memset(&u, 0xA5, sizeof u);
    u.s.struct_size = size10, u.s.temperature = 1.0f, u.s.top_k = 0, u.s.top_p = 1.0f;
    /* the defaults, in every spelling, generate what NULL does */
    rnn_sampling full = smp(1.0f, 0.0f, 0.0f, 0), one = smp(1.0f, 0.0f, 1.0f, 0), win = smp(1.0f, 0.0f, 0.0f, 17),
                 junk = smp(1.0f, 0.0f, 1.0f, 1024);
    junk.reserved_1_0 = 0x7fffffff;
    const rnn_sampling *spell[] = {&u.s, &full, &one, &win, &junk};
    for (size_t i = 0; i < sizeof spell / sizeof spell[0]; i++) {
        OK(rnn_state_clone(&st, ref));
        OK(rnn_state_generate(st, spell[i], N, got));
        ck_assert_msg(memcmp(want, got, sizeof want) == 0, "spelling %zu of the defaults generates other tokens", i);
        rnn_state_free(st);
    }
    /* greedy and top-k through the 1.0 struct with garbage in its padding */
    u.s.temperature = 0.0f;
    rnn_sampling g = smp(0.0f, 0.0f, 0.0f, 0);
    int32_t a[2], b[2];
    OK(rnn_state_draw(ref, &u.s, a));
    OK(rnn_state_draw(ref, &g, b));
    ck_assert(a[0] == b[0] && a[1] == b[1]);
    /* a larger struct: zero bytes past the library's are fine, a nonzero one is refused */
    memset(&u, 0, sizeof u);
    u.s = smp(1.0f, 0.0f, 0.0f, 0);
    u.s.struct_size = sizeof u;
    OK(rnn_state_draw(ref, &u.s, a));
    u.b[sizeof(rnn_sampling) + 4] = 1;
    ck_assert_int_eq(rnn_state_draw(ref, &u.s, a), RNN_ERR_INVALID);
    ck_assert_msg(strstr(rnn_state_errmsg(ref), "offset") != NULL, "%s", rnn_state_errmsg(ref));
    /* a size that ends inside a 1.1 field */
    u.s = smp(1.0f, 0.0f, 0.0f, 0);
    u.s.struct_size = offsetof(rnn_sampling, min_p) + 2;
    ck_assert_int_eq(rnn_state_draw(ref, &u.s, a), RNN_ERR_INVALID);
    /* a 1.0-sized struct leaves the 1.1 fields at their defaults even when the caller's copy has others */
    u.s = smp(0.0f, 1.0f, 1.5f, 3);
    u.s.struct_size = size10;
    OK(rnn_state_draw(ref, &u.s, a));
    ck_assert(a[0] == b[0] && a[1] == b[1]);
    rnn_state_free(ref);
    rnn_model_free(m);
}
END_TEST

START_TEST(test_bad_values)
{
    int64_t lim = 0;
    OK(rnn_limit_get(RNN_LIMIT_REPEAT_WINDOW, &lim));
    ck_assert_int_eq(lim, 1024);
    ck_assert_int_eq(RNN_LIMIT_REPEAT_WINDOW, 6);
    rnn_sampling d;
    OK(rnn_sampling_init(&d, sizeof d));
    ck_assert(d.min_p == 0.0f && d.repeat_penalty == 0.0f && d.repeat_last_n == 0 && d.reserved_1_0 == 0);

    rnn_model *m = make_model(MV, RNN_CELL_TANH, 8);
    rnn_state *st = NULL, *tw = NULL;
    OK(rnn_state_create(&st, m, 1, 5));
    int32_t t = 2;
    OK(rnn_state_feed(st, &t, 1, 0));
    OK(rnn_state_clone(&tw, st));
    static const struct {
        float min_p, pen;
        int n;
        const char *field;
    } bad[] = {{-0.01f, 0, 0, "min_p"},        {1.0001f, 0, 0, "min_p"},      {NAN, 0, 0, "min_p"},
               {INFINITY, 0, 0, "min_p"},      {0, -0.5f, 0, "repeat_penalty"}, {0, NAN, 0, "repeat_penalty"},
               {0, INFINITY, 0, "repeat_penalty"}, {0, -INFINITY, 0, "repeat_penalty"}, {0, 1.2f, -1, "repeat_last_n"},
               {0, 1.2f, 1025, "repeat_last_n"}, {0, 0, 1 << 30, "repeat_last_n"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rnn_sampling s = smp(1.0f, bad[i].min_p, bad[i].pen, bad[i].n);
        int32_t nx = -7, out[3] = {-7, -7, -7};
        ck_assert_int_eq(rnn_state_draw(st, &s, &nx), RNN_ERR_INVALID);
        ck_assert_msg(strstr(rnn_state_errmsg(st), bad[i].field) != NULL, "case %zu: %s", i, rnn_state_errmsg(st));
        ck_assert_int_eq(rnn_state_generate(st, &s, 3, out), RNN_ERR_INVALID);
        ck_assert_int_eq(rnn_model_reset_hidden(m, 1), RNN_OK);
        ck_assert_int_eq(rnn_sample(m, &t, 1, &s, &nx), RNN_ERR_INVALID);
        ck_assert_msg(strstr(rnn_model_errmsg(m), bad[i].field) != NULL, "case %zu: %s", i, rnn_model_errmsg(m));
        ck_assert_int_eq(nx, -7);
        ck_assert_int_eq(out[0], -7);
    }
    /* nothing moved: st and its twin still generate the same */
    int32_t g1[20], g2[20];
    OK(rnn_state_generate(st, NULL, 20, g1));
    OK(rnn_state_generate(tw, NULL, 20, g2));
    ck_assert(memcmp(g1, g2, sizeof g1) == 0);
    /* borderline good values */
    rnn_sampling good[] = {smp(1.0f, 1.0f, 0, 0), smp(1.0f, 0.0f, 1e30f, 1024), smp(1.0f, 1e-30f, 0.001f, 1),
                           smp(0.5f, 0.5f, -0.0f, 0)};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int32_t nx = -1;
        OK(rnn_state_draw(st, &good[i], &nx));
        ck_assert(nx >= 0 && nx < MV);
    }
    rnn_state_free(tw);
    rnn_state_free(st);
    rnn_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sampling");
    TCase *tc = tcase_create("minp");
    tcase_add_loop_test(tc, test_min_p_frequencies, 0, 2);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    tc = tcase_create("penalty");
    tcase_add_test(tc, test_penalty_greedy);
    tcase_add_test(tc, test_penalty_model_sample);
    tcase_add_test(tc, test_penalty_frequencies);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    tc = tcase_create("struct");
    tcase_add_test(tc, test_struct_growth);
    suite_add_tcase(s, tc);
    tc = tcase_create("values");
    tcase_add_test(tc, test_bad_values);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
