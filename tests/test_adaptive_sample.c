/*
 * test_adaptive_sample.c -- sampling from the adaptive output layer (RNN_OUTPUT_ADAPTIVE):
 *   - the two-level draw (temperature 1, no cut, no penalty: the head, then the drawn cluster
 *     only) against log_prob(): a chi-square test of the frequencies of many draws, 1 to 3
 *     clusters, with and without the head's bias;
 *   - that draw is the one taken: with a cluster of probability 0 whose weights are NaN, log_prob()
 *     is not a distribution, and only a draw that never computes that cluster succeeds; every
 *     other setting (temperature, top-k, top-p, min-p, the repetition penalty) goes through the
 *     full log_prob() row and fails there;
 *   - the full path's frequencies under those settings, against log_prob() cut and sharpened;
 *   - the generator's use: one uniform per stream and draw on both paths, so that with the same
 *     seed the two-level draw and the full draw pick the same tokens (but for rounding), for a
 *     state and for rnn_sample; the same draws at 1 and 2 threads;
 *   - greedy (temperature 0), which skips the clusters that cannot hold the maximum: log_prob()'s
 *     first maximum, step after step.
 */
#include "testutil.h"

#define RNN_EXPERT_API /* rnn_param_get_block */
#include <rnn.h>
#include <stdio.h>
#include <string.h>

#define V 40
#define S 50 /* streams of a state */

typedef struct acase {
    int nc, cut[3], bias;
} acase;
static const acase cases[] = {{1, {12}, 0}, {2, {10, 25}, 1}, {3, {6, 15, 28}, 1}, {3, {6, 15, 28}, 0}};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

/* a one-layer LSTM over V words with adaptive output `c`, its weights scaled by 3 so that the
 * distributions are far from uniform */
static rnn_model *make_model(const acase *c)
{
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    cfg.vocab_size = V, cfg.hidden_size = 16, cfg.emb_size = 16, cfg.num_layers = 1, cfg.dropout = 0.0f;
    cfg.output = RNN_OUTPUT_ADAPTIVE, cfg.num_cutoffs = c->nc, cfg.div_value = 2.0f, cfg.head_bias = c->bias;
    for (int i = 0; i < c->nc; i++) cfg.cutoffs[i] = c->cut[i];
    rnn_model *m;
    char err[256];
    ck_assert_msg(rnn_model_create(&m, &cfg, NULL, err, sizeof err) == RNN_OK, "%s", err);
    float *data, *grad;
    size_t n;
    ck_assert_int_eq(rnn_param_get_block(m, &data, &grad, &n), RNN_OK);
    for (size_t i = 0; i < n; i++) data[i] *= 3.0f;
    return m;
}

/* a state of S streams, all fed the same three tokens */
static rnn_state *make_state(const rnn_model *m, uint64_t seed)
{
    rnn_state *st;
    ck_assert_int_eq(rnn_state_create(&st, m, S, seed), RNN_OK);
    int32_t prompt[S * 3];
    for (int b = 0; b < S; b++) prompt[b * 3] = 3, prompt[b * 3 + 1] = 17, prompt[b * 3 + 2] = 33;
    ck_assert_int_eq(rnn_state_feed(st, prompt, 3, 0), RNN_OK);
    return st;
}

/* Pearson's chi-square of counts against probabilities p (summing to 1) over n draws, the cells
 * expecting fewer than 5 pooled; fails above the 1 - 1e-6 quantile (Wilson-Hilferty) */
static void chi_square(const char *what, const long *counts, const double *p, long n)
{
    double stat = 0, pool_e = 0, pool_o = 0;
    int cells = 0;
    for (int k = 0; k < V; k++) {
        double e = p[k] * (double)n;
        if (e < 5.0) {
            pool_e += e, pool_o += (double)counts[k];
            ck_assert_msg(e > 0.0 || counts[k] == 0, "%s: token %d has probability 0 but was drawn %ld times", what,
                          k, counts[k]);
            continue;
        }
        stat += ((double)counts[k] - e) * ((double)counts[k] - e) / e, cells++;
    }
    if (pool_e >= 5.0) stat += (pool_o - pool_e) * (pool_o - pool_e) / pool_e, cells++;
    int dof = cells - 1;
    ck_assert_int_ge(dof, 5);
    double z = 4.753, a = 2.0 / (9.0 * dof), bound = dof * pow(1.0 - a + z * sqrt(a), 3.0);
    if (getenv("RNN_TEST_VERBOSE")) printf("%s: chi-square %.1f, %d dof, bound %.1f\n", what, stat, dof, bound);
    ck_assert_msg(stat <= bound, "%s: chi-square %.1f over %d dof exceeds %.1f", what, stat, dof, bound);
}

/* stream 0's log_prob() (every stream's: they were fed the same) as probabilities */
static void probs(rnn_state *st, double *p)
{
    static float lp[S * V];
    ck_assert_int_eq(rnn_state_get_logprobs(st, lp), RNN_OK);
    double sum = 0;
    for (int k = 0; k < V; k++) sum += p[k] = exp((double)lp[k]);
    ck_assert_double_eq_tol(sum, 1.0, 1e-5);
    for (int k = 0; k < V; k++) p[k] /= sum;
}

/* n rounds of rnn_state_draw over the S streams, counted */
static long draw_counts(rnn_state *st, const rnn_sampling *s, int rounds, long *counts)
{
    int32_t next[S];
    memset(counts, 0, V * sizeof *counts);
    for (int i = 0; i < rounds; i++) {
        ck_assert_int_eq(rnn_state_draw(st, s, next), RNN_OK);
        for (int b = 0; b < S; b++) {
            ck_assert(next[b] >= 0 && next[b] < V);
            counts[next[b]]++;
        }
    }
    return (long)rounds * S;
}

START_TEST(test_fast_frequencies)
{
    rnn_model *m = make_model(&cases[_i]);
    rnn_state *st = make_state(m, 11);
    double p[V];
    long counts[V];
    probs(st, p);
    long n = draw_counts(st, NULL, 4000, counts);
    char what[64];
    snprintf(what, sizeof what, "two-level draw, %d cluster(s)", cases[_i].nc);
    chi_square(what, counts, p, n);
    rnn_state_free(st);
    rnn_model_free(m);
}
END_TEST

/* The full path under settings that make the two-level draw inexact, against log_prob() changed as
 * rnn.h's chain says */
START_TEST(test_full_frequencies)
{
    rnn_model *m = make_model(&cases[_i]);
    rnn_state *st = make_state(m, 5);
    double p[V], q[V];
    long counts[V];
    probs(st, p);
    for (int setting = 0; setting < 3; setting++) {
        rnn_sampling s;
        rnn_sampling_init(&s, sizeof s);
        const char *name;
        double sum = 0, mx = 0;
        for (int k = 0; k < V; k++) mx = p[k] > mx ? p[k] : mx;
        if (setting == 0) { /* temperature 0.6: p^(1/0.6) */
            name = "temperature 0.6", s.temperature = 0.6f;
            for (int k = 0; k < V; k++) q[k] = pow(p[k], 1.0 / 0.6);
        } else if (setting == 1) { /* top-k: the V - 8 most probable */
            name = "top_k V-8", s.top_k = V - 8;
            for (int k = 0; k < V; k++) {
                int above = 0;
                for (int j = 0; j < V; j++) above += p[j] > p[k] || (p[j] == p[k] && j < k);
                q[k] = above < V - 8 ? p[k] : 0.0;
            }
        } else { /* min-p 0.05 */
            name = "min_p 0.05", s.min_p = 0.05f;
            for (int k = 0; k < V; k++) q[k] = p[k] >= 0.05 * mx ? p[k] : 0.0;
        }
        for (int k = 0; k < V; k++) sum += q[k];
        for (int k = 0; k < V; k++) q[k] /= sum;
        long n = draw_counts(st, &s, 3000, counts);
        char what[96];
        snprintf(what, sizeof what, "full draw, %s, %d cluster(s)", name, cases[_i].nc);
        chi_square(what, counts, q, n);
    }
    rnn_state_free(st);
    rnn_model_free(m);
}
END_TEST

/* cluster `c` of a head-biased model made unreachable (its head entry -1e30) and its words' weights
 * NaN: log_prob() holds NaN for them, the two-level draw never looks at them */
static rnn_model *poisoned(const acase *ac, int c)
{
    rnn_model *m = make_model(ac);
    rnn_param hb = {.struct_size = sizeof hb}, w = {.struct_size = sizeof w};
    char name[64];
    ck_assert_int_eq(rnn_param_find(m, "decoder.head.bias", &hb), RNN_OK);
    snprintf(name, sizeof name, "decoder.tail.%d.1.weight", c);
    ck_assert_int_eq(rnn_param_find(m, name, &w), RNN_OK);
    hb.data[ac->cut[0] + c] = -1e30f;
    for (size_t i = 0; i < w.size; i++) w.data[i] = NAN;
    return m;
}

START_TEST(test_fast_path_taken)
{
    const acase *ac = &cases[2]; /* three clusters, head bias */
    for (int c = 0; c < 3; c++) {
        rnn_model *m = poisoned(ac, c);
        rnn_state *st = make_state(m, 9);
        static float lp[S * V];
        ck_assert_int_eq(rnn_state_get_logprobs(st, lp), RNN_OK);
        ck_assert(isnan(lp[ac->cut[c]])); /* log_prob() is not a distribution */
        int32_t next[S], out[S * 20];
        long counts[V];
        rnn_sampling s;
        rnn_sampling_init(&s, sizeof s);
        /* the defaults, and the settings that leave the two-level draw exact */
        draw_counts(st, NULL, 200, counts);
        for (int k = ac->cut[c]; k < (c + 1 < ac->nc ? ac->cut[c + 1] : V); k++) ck_assert_int_eq(counts[k], 0);
        s.top_k = V, s.repeat_penalty = 1.0f;
        ck_assert_int_eq(rnn_state_draw(st, &s, next), RNN_OK);
        ck_assert_int_eq(rnn_state_generate(st, NULL, 20, out), RNN_OK);
        s.temperature = 0.0f; /* greedy skips the cluster too */
        ck_assert_int_eq(rnn_state_draw(st, &s, next), RNN_OK);
        /* rnn_sample on the model's own state */
        int32_t tok[4] = {1, 2, 3, 4};
        ck_assert_int_eq(rnn_model_reset_hidden(m, 4), RNN_OK);
        ck_assert_int_eq(rnn_sample(m, tok, 4, NULL, next), RNN_OK);
        /* every setting that is not exact takes the full row, and meets the NaN */
        for (int setting = 0; setting < 5; setting++) {
            rnn_sampling_init(&s, sizeof s);
            if (setting == 0) s.temperature = 0.9f;
            if (setting == 1) s.top_k = V - 1;
            if (setting == 2) s.top_p = 0.99f;
            if (setting == 3) s.min_p = 0.01f;
            if (setting == 4) s.repeat_penalty = 1.2f;
            ck_assert_int_eq(rnn_state_draw(st, &s, next), RNN_ERR_NUMERIC);
            ck_assert_int_eq(rnn_sample(m, tok, 4, &s, next), RNN_ERR_NUMERIC);
        }
        rnn_state_free(st);
        rnn_model_free(m);
    }
}
END_TEST

/* An unreachable NaN is never a draw; a reachable one is RNN_ERR_NUMERIC, nothing drawn or
 * advanced */
START_TEST(test_fast_path_numeric)
{
    const acase *ac = &cases[1];
    rnn_model *m = make_model(ac);
    rnn_param w = {.struct_size = sizeof w};
    ck_assert_int_eq(rnn_param_find(m, "decoder.tail.0.1.weight", &w), RNN_OK);
    rnn_state *st = make_state(m, 4), *twin;
    ck_assert_int_eq(rnn_state_clone(&twin, st), RNN_OK);
    for (size_t i = 0; i < w.size; i++) w.data[i] = NAN;
    int32_t next[S], seen[S], keep[S];
    for (int b = 0; b < S; b++) next[b] = -7;
    ck_assert_int_eq(rnn_state_draw(st, NULL, next), RNN_ERR_NUMERIC); /* some stream draws cluster 0 */
    ck_assert_ptr_nonnull(strstr(rnn_state_errmsg(st), "stream"));
    for (int b = 0; b < S; b++) ck_assert_int_eq(next[b], -7);
    /* the generators did not move: with the weights back, st draws what its twin draws */
    rnn_model *fresh = make_model(ac);
    rnn_param w2 = {.struct_size = sizeof w2};
    ck_assert_int_eq(rnn_param_find(fresh, "decoder.tail.0.1.weight", &w2), RNN_OK);
    memcpy(w.data, w2.data, w.size * sizeof(float));
    ck_assert_int_eq(rnn_state_draw(st, NULL, seen), RNN_OK);
    ck_assert_int_eq(rnn_state_draw(twin, NULL, keep), RNN_OK);
    for (int b = 0; b < S; b++) ck_assert_int_eq(seen[b], keep[b]);
    rnn_model_free(fresh);
    rnn_state_free(twin);
    rnn_state_free(st);
    rnn_model_free(m);
}
END_TEST

/* One uniform per stream and draw on both paths: the full draw with a min-p too small to cut
 * anything (which takes the full row) picks what the two-level draw picks, from the same seed */
START_TEST(test_same_generator_use)
{
    rnn_model *m = make_model(&cases[_i]);
    rnn_state *a = make_state(m, 21), *b = make_state(m, 21);
    rnn_sampling full;
    rnn_sampling_init(&full, sizeof full);
    full.min_p = 1e-30f;
    int32_t na[S], nb[S];
    long differ = 0, total = 0;
    for (int i = 0; i < 200; i++) {
        ck_assert_int_eq(rnn_state_draw(a, NULL, na), RNN_OK);
        ck_assert_int_eq(rnn_state_draw(b, &full, nb), RNN_OK);
        for (int k = 0; k < S; k++) differ += na[k] != nb[k], total++;
    }
    if (getenv("RNN_TEST_VERBOSE")) printf("two-level vs full draw, %d cluster(s): %ld of %ld differ\n", cases[_i].nc, differ, total);
    ck_assert_msg(differ * 1000 <= total, "%ld of %ld draws differ", differ, total);
    /* the model's shared generator: rnn_sample, fast and full, from the same seed */
    int32_t tok[8] = {0, 5, 9, 13, 21, 30, 38, 39}, sa[8], sb[8];
    differ = total = 0;
    for (int i = 0; i < 100; i++) {
        for (int pass = 0; pass < 2; pass++) {
            ck_assert_int_eq(rnn_model_set_seed(m, 77 + (uint64_t)i), RNN_OK);
            ck_assert_int_eq(rnn_model_reset_hidden(m, 8), RNN_OK);
            ck_assert_int_eq(rnn_sample(m, tok, 8, pass ? &full : NULL, pass ? sb : sa), RNN_OK);
        }
        for (int k = 0; k < 8; k++) differ += sa[k] != sb[k], total++;
    }
    ck_assert_msg(differ * 100 <= total, "rnn_sample: %ld of %ld draws differ", differ, total);
    rnn_state_free(a);
    rnn_state_free(b);
    rnn_model_free(m);
}
END_TEST

/* The draws of a seed do not depend on the thread count (states take the model's) */
START_TEST(test_threads)
{
    rnn_model *m = make_model(&cases[2]);
    int32_t out[2][S * 30];
    for (int t = 0; t < 2; t++) {
        ck_assert_int_eq(rnn_model_set_threads(m, t + 1), RNN_OK);
        rnn_state *st = make_state(m, 3);
        ck_assert_int_eq(rnn_state_generate(st, NULL, 30, out[t]), RNN_OK);
        rnn_state_free(st);
    }
    ck_assert_mem_eq(out[0], out[1], sizeof out[0]);
    rnn_model_free(m);
}
END_TEST

/* Greedy: log_prob()'s first maximum at every step of a greedy generation, and the same on the
 * model's state through rnn_sample */
START_TEST(test_greedy)
{
    rnn_model *m = make_model(&cases[_i]);
    rnn_state *st = make_state(m, 1);
    rnn_sampling s;
    rnn_sampling_init(&s, sizeof s);
    s.temperature = 0.0f;
    static float lp[S * V];
    int32_t next[S], in[S];
    uint64_t seed = 42;
    for (int step = 0; step < 40; step++) {
        ck_assert_int_eq(rnn_state_get_logprobs(st, lp), RNN_OK);
        ck_assert_int_eq(rnn_state_draw(st, &s, next), RNN_OK);
        for (int b = 0; b < S; b++) {
            const float *row = lp + (size_t)b * V;
            int arg = 0;
            for (int k = 1; k < V; k++) arg = row[k] > row[arg] ? k : arg;
            ck_assert_int_eq(next[b], arg);
            in[b] = (int32_t)(tu_next(&seed) % V); /* streams apart: random inputs */
        }
        ck_assert_int_eq(rnn_state_feed(st, in, 1, 0), RNN_OK);
    }
    /* rnn_sample's greedy against rnn_evaluate's log-probabilities of the same step */
    ck_assert_int_eq(rnn_model_reset_hidden(m, S), RNN_OK);
    ck_assert_int_eq(rnn_evaluate(m, in, NULL, S, 1, 0, NULL, lp), RNN_OK);
    ck_assert_int_eq(rnn_model_reset_hidden(m, S), RNN_OK);
    ck_assert_int_eq(rnn_sample(m, in, S, &s, next), RNN_OK);
    for (int b = 0; b < S; b++) {
        const float *row = lp + (size_t)b * V;
        int arg = 0;
        for (int k = 1; k < V; k++) arg = row[k] > row[arg] ? k : arg;
        ck_assert_float_eq(row[next[b]], row[arg]); /* (the products' rows may round apart) */
    }
    rnn_state_free(st);
    rnn_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("adaptive_sample");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_fast_frequencies, 0, NCASES);
    tcase_add_loop_test(tc, test_full_frequencies, 0, NCASES);
    tcase_add_test(tc, test_fast_path_taken);
    tcase_add_test(tc, test_fast_path_numeric);
    tcase_add_loop_test(tc, test_same_generator_use, 0, NCASES);
    tcase_add_test(tc, test_threads);
    tcase_add_loop_test(tc, test_greedy, 0, NCASES);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
