/*
 * test_state.c -- inference states (rnn_state_*) and the sampling chain, against include/rnn.h.
 *
 * Every model has random weights (written into the parameter block) and dropout 0.5, so a state
 * that applied dropout would disagree with rnn_evaluate and with itself. One TCase per topic:
 *   score      rnn_state_score == step-by-step logprobs + feed(1) == rnn_evaluate's log-probs; the
 *              hidden states agree; a zero state predicts log_softmax(decoder.bias)
 *   feed       one feed of n steps == n feeds of one step
 *   long       long inputs run in chunks (model.h: rnn__chunk_steps): feed and score bit-identical to
 *              one pass, for every cell, with librnn's threads too
 *   stride     feed / score over a column slice of a [batch][n] array == the same tokens dense
 *   beam       a beam search over a pool of forked states; every hypothesis rescored from scratch
 *   batch      stream b of a batch-4 state with seed S generates what a one-stream state with seed
 *              S + b generates (plain, top-k, top-p, all three)
 *   fork       rnn_state_draw does not advance, rnn_state_reset replays, copy/clone carry the
 *              generators, copy across batch/model is RNN_ERR_STATE, greedy == top_k 1 == argmax
 *   sampling   a model whose distribution is p at every state (decoder.weight 0, decoder.bias
 *              log p): greedy, top-k with ties, top-p boundaries, top-k then top-p, temperature
 *              first, frequencies within 5 sigma; bad sampling values
 *   numeric    a distribution that is not one (NaN, +inf, all -inf): draw and generate return
 *              RNN_ERR_NUMERIC; draw leaves the state as it was, generate as after the tokens before
 *   threads    4 threads, one model, one state each == the same work done sequentially (bitwise)
 *   alloc      no allocation after create (+ the largest score), free releases everything; a
 *              100,000-token score and a long feed allocate what one chunk needs, a feed no logits
 *   args       bad arguments give the documented code and leave the state (and generator) as it was
 *   readonly   states leave the model (parameters, gradients, hidden state, generator) untouched
 *
 * Set TEST_STATE_VERBOSE=1 to print which comparisons were bit-identical.
 */
#include "testutil.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RNN_EXPERT_API /* rnn_param_get_block, rnn_model_get_hidden_grad */
#include "rnn.h"
#include "model.h" /* rnn__chunk_steps, and a state's ctx.chunk_steps (one pass) */

/* The 1.0 structs that grow carry their size. */
#define SMP_SIZE sizeof(rnn_sampling)
/* An rnn_sampling of the 1.0 fields (designated: the 1.1 fields are 0, their defaults). */
#define SMPL(size, t, k, p) {.struct_size = (size), .temperature = (t), .top_k = (k), .top_p = (p)}
#define PARAM_INIT {.struct_size = sizeof(rnn_param)}
/* rnn_sample's sampling at temperature t (top_k 0, top_p 1: the plain draw of 0.1's rnn_sample) */
#define SMP(t) (&(rnn_sampling)SMPL(SMP_SIZE, (t), 0, 1.0f))

enum { V = 37, E = 9, H = 12, L = 2, NCELLS = 4, MAXB = 8 };
static const char *const CELL_NAME[NCELLS] = {"RNN_TANH", "RNN_RELU", "LSTM", "GRU"};
static int VERBOSE;

#define OK(call)                                                                                   \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        ck_assert_msg(rc_ == RNN_OK, "%s -> %d (%s)", #call, rc_, rnn_status_string(rc_));             \
    } while (0)

#define NOTE(...)                                                                                  \
    do {                                                                                           \
        if (VERBOSE) {                                                                             \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

/* ---- helpers ---------------------------------------------------------------------------------- */
static void randomize(rnn_model *m, uint64_t seed)
{
    int n;
    OK(rnn_param_get_count(m, &n));
    uint64_t s = seed;
    for (int i = 0; i < n; i++) {
        rnn_param p = PARAM_INIT;
        OK(rnn_param_get(m, i, &p));
        /* recurrent tensors smaller, so that RELU stays bounded over hundreds of steps */
        float sc = strncmp(p.name, "rnn.", 4) == 0 ? 0.35f : 0.9f;
        for (size_t j = 0; j < p.size; j++) p.data[j] = (float)((2.0 * tu_uniform(&s) - 1.0) * sc);
    }
}

static rnn_config small_cfg(int cell, int vocab, int emb, int hid, uint64_t seed)
{
    rnn_config c;
    rnn_config_init(&c, sizeof c);
    c.cell = cell;
    c.vocab_size = vocab;
    c.emb_size = emb;
    c.hidden_size = hid;
    c.num_layers = L;
    c.dropout = 0.5f;
    c.seed = seed;
    return c;
}

static rnn_model *make_model_al(int cell, uint64_t seed, const rnn_allocator *al)
{
    rnn_config c = small_cfg(cell, V, E, H, seed);
    rnn_model *m = NULL;
    int rc = rnn_model_create(&m, &c, al, NULL, 0);
    ck_assert_msg(rc == RNN_OK, "rnn_model_create: %d", rc);
    randomize(m, seed * 7919u + 13u);
    return m;
}
static rnn_model *make_model(int cell, uint64_t seed) { return make_model_al(cell, seed, NULL); }

static rnn_state *make_state(const rnn_model *m, int batch, uint64_t seed)
{
    rnn_state *st = NULL;
    int rc = rnn_state_create(&st, m, batch, seed);
    ck_assert_msg(rc == RNN_OK, "rnn_state_create(batch %d): %d", batch, rc);
    ck_assert_ptr_nonnull(st);
    return st;
}

static rnn_state *clone_of(const rnn_state *src)
{
    rnn_state *st = NULL;
    OK(rnn_state_clone(&st, src));
    ck_assert_ptr_nonnull(st);
    return st;
}

static void fill_tokens(int32_t *t, size_t n, int vocab, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) t[i] = (int32_t)(tu_next(&s) % (uint64_t)vocab);
}

/* hidden state snapshot: h and c, L x MAXB x H each (c zero for non-LSTM cells) */
typedef struct {
    float h[L * MAXB * H], c[L * MAXB * H];
    size_t n;
} hs;

static void take(const rnn_state *st, hs *s)
{
    int b;
    OK(rnn_state_get_batch(st, &b));
    memset(s, 0, sizeof *s);
    s->n = (size_t)L * b * H;
    OK(rnn_state_get_hidden(st, s->h, s->c));
}

static int hs_bitequal(const hs *a, const hs *b)
{
    return a->n == b->n && memcmp(a->h, b->h, a->n * sizeof(float)) == 0 &&
           memcmp(a->c, b->c, a->n * sizeof(float)) == 0;
}

static double hs_relerr(const hs *a, const hs *b)
{
    ck_assert_uint_eq(a->n, b->n);
    double e1 = tu_rel_err(a->h, b->h, a->n), e2 = tu_rel_err(a->c, b->c, a->n);
    return e1 > e2 ? e1 : e2;
}

/* relative difference of two log-probabilities (scale at least 1) */
static double lp_diff(double a, double b) { return fabs(a - b) / fmax(1.0, fabs(b)); }

static int argmax_row(const float *row, int n)
{
    int a = 0;
    for (int k = 1; k < n; k++)
        if (row[k] > row[a]) a = k;
    return a;
}

/* ---- score -------------------------------------------------------------------------------------- */
enum { SB = 3, SP = 5, SN = 6, ST = SP + SN };

START_TEST(test_score_consistency)
{
    int cell = _i;
    rnn_model *m = make_model(cell, 11 + cell);
    int32_t pre[SB * SP], w[SB * SN];
    fill_tokens(pre, SB * SP, V, 100 + cell);
    fill_tokens(w, SB * SN, V, 200 + cell);

    rnn_state *s1 = make_state(m, SB, 77);
    OK(rnn_state_feed(s1, pre, SP, 0));
    rnn_state *s2 = clone_of(s1);
    rnn_state *s3 = clone_of(s1);

    double sc[SB];
    OK(rnn_state_score(s1, w, SN, 0, sc));

    /* step by step: the distribution of the state as it is, then feed the token */
    double acc[SB] = {0};
    float lp[SB * V];
    for (int t = 0; t < SN; t++) {
        int32_t col[SB];
        OK(rnn_state_get_logprobs(s2, lp));
        for (int b = 0; b < SB; b++) {
            col[b] = w[b * SN + t];
            acc[b] += lp[b * V + col[b]];
        }
        OK(rnn_state_feed(s2, col, 1, 0));
    }
    for (int b = 0; b < SB; b++) {
        ck_assert_msg(isfinite(sc[b]) && sc[b] < 0, "%s: score[%d] = %g", CELL_NAME[cell], b, sc[b]);
        ck_assert_msg(lp_diff(sc[b], acc[b]) <= 1e-5, "%s: score[%d] %.9g vs step-by-step %.9g", CELL_NAME[cell], b,
                      sc[b], acc[b]);
    }
    hs a, c;
    take(s1, &a);
    take(s2, &c);
    double e = hs_relerr(&a, &c);
    ck_assert_msg(e <= 1e-6, "%s: state after score vs after step-by-step feeds: rel err %g", CELL_NAME[cell], e);
    NOTE("score/%s: score vs step-by-step max diff %.3g; state after score vs 1-step feeds bit-identical: %s (rel %.3g)",
         CELL_NAME[cell], fmax(fmax(fabs(sc[0] - acc[0]), fabs(sc[1] - acc[1])), fabs(sc[2] - acc[2])),
         hs_bitequal(&a, &c) ? "yes" : "no", e);

    /* score leaves the state where rnn_state_feed of the same tokens leaves it */
    OK(rnn_state_feed(s3, w, SN, 0));
    hs f;
    take(s3, &f);
    ck_assert_msg(hs_bitequal(&a, &f), "%s: state after score(n) != state after feed(n) (rel %g)", CELL_NAME[cell],
                  hs_relerr(&a, &f));

    /* scoring is deterministic (no dropout draws): a second clone scores bit-identically */
    rnn_state *s4 = make_state(m, SB, 5);
    rnn_state *s5 = make_state(m, SB, 6);
    OK(rnn_state_feed(s4, pre, SP, 0));
    OK(rnn_state_feed(s5, pre, SP, 0));
    double sc4[SB], sc5[SB];
    OK(rnn_state_score(s4, w, SN, 0, sc4));
    OK(rnn_state_score(s5, w, SN, 0, sc5));
    ck_assert(memcmp(sc4, sc, sizeof sc) == 0 && memcmp(sc5, sc, sizeof sc) == 0);

    /* rnn_evaluate over seq = pre ++ w: inputs seq[0..ST-2], targets seq[1..ST-1], the targets that
     * are prompt tokens ignored; position t = SP-1+j predicts w[j] from the state after pre ++ w[0..j) */
    int32_t seq[SB * ST], tok[SB * (ST - 1)], tgt[SB * (ST - 1)];
    for (int b = 0; b < SB; b++) {
        for (int t = 0; t < SP; t++) seq[b * ST + t] = pre[b * SP + t];
        for (int t = 0; t < SN; t++) seq[b * ST + SP + t] = w[b * SN + t];
        for (int t = 0; t < ST - 1; t++) {
            tok[b * (ST - 1) + t] = seq[b * ST + t];
            tgt[b * (ST - 1) + t] = t < SP - 1 ? RNN_IGNORE : seq[b * ST + t + 1];
        }
    }
    static float elp[SB * (ST - 1) * V];
    double loss = -1;
    OK(rnn_model_reset_hidden(m, SB));
    OK(rnn_evaluate(m, tok, tgt, SB, ST - 1, 0, &loss, elp));
    double total = 0;
    for (int b = 0; b < SB; b++) {
        double ev = 0;
        for (int t = SP - 1; t < ST - 1; t++) ev += elp[((size_t)b * (ST - 1) + t) * V + seq[b * ST + t + 1]];
        ck_assert_msg(lp_diff(sc[b], ev) <= 1e-5, "%s: score[%d] %.9g vs rnn_evaluate %.9g", CELL_NAME[cell], b, sc[b],
                      ev);
        total += sc[b];
    }
    ck_assert_msg(lp_diff(-loss * SB * SN, total) <= 1e-5, "%s: evaluate loss %.9g vs mean score %.9g", CELL_NAME[cell],
                  loss, -total / (SB * SN));
    /* and the model's state after the last token equals the state's */
    int32_t last[SB];
    for (int b = 0; b < SB; b++) last[b] = seq[b * ST + ST - 1];
    OK(rnn_evaluate(m, last, NULL, SB, 1, 0, NULL, NULL));
    hs mm;
    memset(&mm, 0, sizeof mm);
    mm.n = (size_t)L * SB * H;
    OK(rnn_model_get_hidden(m, SB, mm.h, mm.c));
    e = hs_relerr(&a, &mm);
    ck_assert_msg(e <= 1e-6, "%s: state vs model hidden state after the same tokens: rel %g", CELL_NAME[cell], e);
    NOTE("score/%s: state vs rnn_evaluate hidden state bit-identical: %s", CELL_NAME[cell],
         hs_bitequal(&a, &mm) ? "yes" : "no");

    /* a zero state predicts log_softmax(decoder.bias) */
    rnn_state *z = make_state(m, SB, 1);
    rnn_param db = PARAM_INIT;
    OK(rnn_param_find(m, "decoder.bias", &db));
    double mx = -INFINITY, s = 0;
    for (int k = 0; k < V; k++) mx = fmax(mx, db.data[k]);
    for (int k = 0; k < V; k++) s += exp(db.data[k] - mx);
    double lse = mx + log(s);
    OK(rnn_state_get_logprobs(z, lp));
    for (int b = 0; b < SB; b++)
        for (int k = 0; k < V; k++)
            ck_assert_msg(fabs(lp[b * V + k] - (db.data[k] - lse)) <= 1e-5, "%s: zero-state logprob[%d][%d] %g vs %g",
                          CELL_NAME[cell], b, k, lp[b * V + k], db.data[k] - lse);
    double z1[SB];
    int32_t first[SB] = {0, 5, V - 1};
    OK(rnn_state_score(z, first, 1, 0, z1));
    for (int b = 0; b < SB; b++)
        ck_assert_msg(lp_diff(z1[b], db.data[first[b]] - lse) <= 1e-5, "%s: zero-state score %g vs %g",
                      CELL_NAME[cell], z1[b], db.data[first[b]] - lse);

    rnn_state_free(s1);
    rnn_state_free(s2);
    rnn_state_free(s3);
    rnn_state_free(s4);
    rnn_state_free(s5);
    rnn_state_free(z);
    rnn_model_free(m);
}
END_TEST

/* ---- feed in one pass == one by one ------------------------------------------------------------- */
START_TEST(test_feed_one_pass)
{
    int cell = _i;
    enum { B = 3, N = 12 };
    rnn_model *m = make_model(cell, 21 + cell);
    int32_t tok[B * N];
    fill_tokens(tok, B * N, V, 300 + cell);
    rnn_state *a = make_state(m, B, 1), *b = make_state(m, B, 1);
    OK(rnn_state_feed(a, tok, N, 0));
    for (int t = 0; t < N; t++) {
        int32_t col[B];
        for (int r = 0; r < B; r++) col[r] = tok[r * N + t];
        OK(rnn_state_feed(b, col, 1, 0));
    }
    hs x, y;
    take(a, &x);
    take(b, &y);
    double e = hs_relerr(&x, &y);
    ck_assert_msg(e <= 1e-6, "%s: feed(%d) vs %d x feed(1): rel err %g", CELL_NAME[cell], N, N, e);
    float la[B * V], lb[B * V];
    OK(rnn_state_get_logprobs(a, la));
    OK(rnn_state_get_logprobs(b, lb));
    ck_assert_msg(tu_rel_err(la, lb, B * V) <= 1e-5, "%s: logprobs after feed(%d) vs feed(1)s", CELL_NAME[cell], N);
    /* splitting the chunk anywhere gives the same as well */
    rnn_state *c = make_state(m, B, 1);
    int32_t part1[B * 5], part2[B * (N - 5)];
    for (int r = 0; r < B; r++) {
        memcpy(part1 + r * 5, tok + r * N, 5 * sizeof(int32_t));
        memcpy(part2 + r * (N - 5), tok + r * N + 5, (N - 5) * sizeof(int32_t));
    }
    OK(rnn_state_feed(c, part1, 5, 0));
    OK(rnn_state_feed(c, part2, N - 5, 0));
    hs z;
    take(c, &z);
    ck_assert_msg(hs_relerr(&z, &x) <= 1e-6, "%s: feed(5)+feed(%d) vs feed(%d)", CELL_NAME[cell], N - 5, N);
    NOTE("feed/%s: feed(%d) vs %d x feed(1) bit-identical: %s (rel %.3g); feed(5)+feed(7) vs feed(12): %s",
         CELL_NAME[cell], N, N, hs_bitequal(&x, &y) ? "yes" : "no", e, hs_bitequal(&z, &x) ? "yes" : "no");
    rnn_state_free(a);
    rnn_state_free(b);
    rnn_state_free(c);
    rnn_model_free(m);
}
END_TEST

/* ---- long inputs: chunks ------------------------------------------------------------------------ */
/* Feed and score run long inputs in chunks of rnn__chunk_steps(batch) steps; a state whose
 * ctx.chunk_steps is larger runs its layers over as many steps in one pass. The layers' products
 * are row-wise and the decoder is cut at the same steps, so all give the same bits; and the score is
 * right: within rounding of the step-by-step sum of rnn_state_get_logprobs. With threads too. */
START_TEST(test_chunk_one_pass)
{
    int cell = _i % NCELLS, threads = 1 + _i / NCELLS;
    enum { B = 3, N = 200, STRIDE = 203, P = 4 };
    int S = rnn__chunk_steps(B);
    ck_assert_int_lt(2 * S, N);
    rnn_model *m = make_model(cell, 131 + cell);
    OK(rnn_model_set_threads(m, threads));
    static int32_t tok[B * STRIDE];
    int32_t pre[B * P];
    fill_tokens(tok, B * STRIDE, V, 140 + cell);
    fill_tokens(pre, B * P, V, 150 + cell);
    /* the default chunks, one pass, chunks of two decoder blocks; and a one-step reference */
    rnn_state *st[4];
    int chunk[3] = {0, N, 2 * S};
    for (int k = 0; k < 4; k++) {
        st[k] = make_state(m, B, 1);
        if (k < 3) st[k]->ctx.chunk_steps = chunk[k];
        OK(rnn_state_feed(st[k], pre, P, 0));
    }
    double sc[3][B], ref[B] = {0};
    for (int k = 0; k < 3; k++) OK(rnn_state_score(st[k], tok, N, STRIDE, sc[k]));
    float lp[B * V];
    for (int t = 0; t < N; t++) {
        int32_t col[B];
        OK(rnn_state_get_logprobs(st[3], lp));
        for (int b = 0; b < B; b++) {
            col[b] = tok[b * STRIDE + t];
            ref[b] += lp[b * V + col[b]];
        }
        OK(rnn_state_feed(st[3], col, 1, 0));
    }
    hs h[4];
    for (int k = 0; k < 4; k++) take(st[k], &h[k]);
    for (int k = 1; k < 3; k++) {
        ck_assert_msg(memcmp(sc[k], sc[0], sizeof sc[0]) == 0, "%s, %d threads: score in chunks of %d != of %d steps",
                      CELL_NAME[cell], threads, S, chunk[k]);
        ck_assert_msg(hs_bitequal(&h[k], &h[0]), "%s, %d threads: state after a score in chunks of %d != of %d",
                      CELL_NAME[cell], threads, S, chunk[k]);
    }
    for (int b = 0; b < B; b++)
        ck_assert_msg(lp_diff(sc[0][b], ref[b]) <= 1e-5, "%s: score[%d] %.9g vs step by step %.9g", CELL_NAME[cell], b,
                      sc[0][b], ref[b]);
    ck_assert_msg(hs_bitequal(&h[3], &h[0]), "%s: state after a score in chunks != after %d feeds of one step",
                  CELL_NAME[cell], N);
    /* feed: the same */
    for (int k = 0; k < 3; k++) {
        OK(rnn_state_reset(st[k]));
        OK(rnn_state_feed(st[k], tok, N, STRIDE));
        take(st[k], &h[k]);
    }
    ck_assert(hs_bitequal(&h[1], &h[0]) && hs_bitequal(&h[2], &h[0]));
    for (int k = 0; k < 4; k++) rnn_state_free(st[k]);
    rnn_model_free(m);
}
END_TEST

/* ---- strides: a column slice of a [batch][n] array == the same tokens copied densely ----------- */
START_TEST(test_stride_feed_score)
{
    int cell = _i;
    enum { B = 3, N = 5, W = 2 * N + 3, OFF = 4 };
    rnn_model *m = make_model(cell, 131 + cell);
    int32_t dense[B * N], dense2[B * N], wide[B * W], wide2[B * W];
    fill_tokens(dense, B * N, V, 1300 + cell);
    fill_tokens(dense2, B * N, V, 1400 + cell);
    /* junk outside the slice: out of range, so reading it would fail */
    for (int i = 0; i < B * W; i++) wide[i] = wide2[i] = (i % 2) ? V + 100 + i : -5 - i;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < N; t++) {
            wide[b * W + OFF + t] = dense[b * N + t];
            wide2[b * W + OFF + t] = dense2[b * N + t];
        }
    rnn_state *st[3];
    double sc[3][B];
    float lp[3][B * V];
    hs h[3];
    int32_t gen[3][B * 8];
    for (int k = 0; k < 3; k++) { /* stride 0, stride N (dense, explicit), stride W (a slice) */
        const int stride = k == 0 ? 0 : k == 1 ? N : W;
        const int32_t *x = k < 2 ? dense : wide + OFF, *x2 = k < 2 ? dense2 : wide2 + OFF;
        st[k] = make_state(m, B, 9);
        OK(rnn_state_feed(st[k], x, N, stride));
        OK(rnn_state_score(st[k], x2, N, stride, sc[k]));
        OK(rnn_state_get_logprobs(st[k], lp[k]));
        take(st[k], &h[k]);
        OK(rnn_state_generate(st[k], NULL, 8, gen[k]));
    }
    for (int k = 1; k < 3; k++) {
        const int stride = k == 1 ? N : W;
        ck_assert_msg(memcmp(sc[k], sc[0], sizeof sc[0]) == 0, "%s: score with stride %d differs from dense",
                      CELL_NAME[cell], stride);
        ck_assert_msg(memcmp(lp[k], lp[0], sizeof lp[0]) == 0, "%s: logprobs after stride %d differ from dense",
                      CELL_NAME[cell], stride);
        ck_assert_msg(hs_bitequal(&h[k], &h[0]), "%s: hidden state after stride %d differs from dense",
                      CELL_NAME[cell], stride);
        ck_assert(memcmp(gen[k], gen[0], sizeof gen[0]) == 0);
    }
    /* stride == steps is valid (also one step, stride 1); stride in (0, steps) or negative is not,
     * and the state stays as it was */
    OK(rnn_state_feed(st[0], dense, 1, 1));
    double one[B];
    OK(rnn_state_score(st[0], dense, 1, 1, one));
    hs before, after;
    take(st[0], &before);
    for (int s = 1; s < N; s++) {
        int rc = rnn_state_feed(st[0], dense, N, s);
        ck_assert_msg(rc == RNN_ERR_INVALID, "%s: feed with stride %d < steps %d: got %d", CELL_NAME[cell], s, N, rc);
        ck_assert_int_eq(rnn_state_errcode(st[0]), RNN_ERR_INVALID);
        rc = rnn_state_score(st[0], dense, N, s, one);
        ck_assert_msg(rc == RNN_ERR_INVALID, "%s: score with stride %d < steps %d: got %d", CELL_NAME[cell], s, N, rc);
    }
    ck_assert_int_eq(rnn_state_feed(st[0], dense, N, -N), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_state_score(st[0], dense, N, -1, one), RNN_ERR_INVALID);
    take(st[0], &after);
    ck_assert_msg(hs_bitequal(&before, &after), "%s: a refused stride changed the state", CELL_NAME[cell]);
    for (int k = 0; k < 3; k++) rnn_state_free(st[k]);
    rnn_model_free(m);
}
END_TEST

/* ---- beam search -------------------------------------------------------------------------------- */
enum { BEAM = 3, BSTEPS = 4, BEXP = 3, BPROMPT = 6 };

typedef struct {
    double score;
    int parent;
    int32_t tok;
} cand;

static int cand_cmp(const void *pa, const void *pb)
{
    const cand *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    if (a->parent != b->parent) return a->parent - b->parent;
    return a->tok - b->tok;
}

START_TEST(test_beam_search)
{
    int cell = _i;
    rnn_model *m = make_model(cell, 31 + cell);
    int32_t prompt[BPROMPT];
    fill_tokens(prompt, BPROMPT, V, 400 + cell);
    rnn_state *base = make_state(m, 1, 5);
    OK(rnn_state_feed(base, prompt, BPROMPT, 0));

    rnn_state *cur[BEAM], *nxt[BEAM];
    for (int i = 0; i < BEAM; i++) {
        cur[i] = clone_of(base);                /* forks by clone */
        nxt[i] = make_state(m, 1, 1000 + i);    /* overwritten by copy */
    }
    int32_t words[BEAM][BSTEPS], nwords[BEAM][BSTEPS];
    double score[BEAM] = {0}, nscore[BEAM];
    int nh = 1;
    float lp[V];
    for (int step = 0; step < BSTEPS; step++) {
        cand cs[BEAM * BEXP];
        int nc = 0;
        for (int h = 0; h < nh; h++) {
            OK(rnn_state_get_logprobs(cur[h], lp));
            int used[V] = {0};
            for (int k = 0; k < BEXP; k++) { /* top BEXP tokens, lower id first on ties */
                int best = -1;
                for (int v = 0; v < V; v++)
                    if (!used[v] && (best < 0 || lp[v] > lp[best])) best = v;
                used[best] = 1;
                cs[nc++] = (cand){score[h] + lp[best], h, best};
            }
        }
        qsort(cs, (size_t)nc, sizeof cs[0], cand_cmp);
        int keep = nc < BEAM ? nc : BEAM;
        for (int i = 0; i < keep; i++) {
            OK(rnn_state_copy(nxt[i], cur[cs[i].parent]));
            OK(rnn_state_feed(nxt[i], &cs[i].tok, 1, 0));
            memcpy(nwords[i], words[cs[i].parent], sizeof words[0]);
            nwords[i][step] = cs[i].tok;
            nscore[i] = cs[i].score;
        }
        for (int i = 0; i < BEAM; i++) {
            rnn_state *t = cur[i];
            cur[i] = nxt[i], nxt[i] = t;
        }
        memcpy(words, nwords, sizeof words);
        memcpy(score, nscore, sizeof score);
        nh = keep;
    }
    ck_assert_int_eq(nh, BEAM);
    for (int i = 0; i < nh; i++) {
        rnn_state *fresh = make_state(m, 1, 999);
        OK(rnn_state_feed(fresh, prompt, BPROMPT, 0));
        double s;
        OK(rnn_state_score(fresh, words[i], BSTEPS, 0, &s));
        ck_assert_msg(lp_diff(score[i], s) <= 1e-5, "%s: hypothesis %d [%d %d %d %d]: beam score %.9g, rescored %.9g",
                      CELL_NAME[cell], i, words[i][0], words[i][1], words[i][2], words[i][3], score[i], s);
        hs a, b;
        take(fresh, &a);
        take(cur[i], &b);
        ck_assert_msg(hs_relerr(&a, &b) <= 1e-6, "%s: hypothesis %d state differs from a fresh replay",
                      CELL_NAME[cell], i);
        if (i > 0) ck_assert(score[i] <= score[i - 1]);
        rnn_state_free(fresh);
    }
    /* the hypotheses are distinct */
    ck_assert(memcmp(words[0], words[1], sizeof words[0]) != 0 && memcmp(words[1], words[2], sizeof words[0]) != 0 &&
              memcmp(words[0], words[2], sizeof words[0]) != 0);
    for (int i = 0; i < BEAM; i++) {
        rnn_state_free(cur[i]);
        rnn_state_free(nxt[i]);
    }
    rnn_state_free(base);
    rnn_model_free(m);
}
END_TEST

/* ---- batched generation == one-stream states seeded seed + b ------------------------------------ */
enum { GB = 4, GP = 5, GN = 60, NSAMP = 4 };
static const rnn_sampling SAMPLINGS[NSAMP] = {SMPL(SMP_SIZE, 1.0f, 0, 1.0f), SMPL(SMP_SIZE, 1.0f, 5, 1.0f), SMPL(SMP_SIZE, 1.0f, 0, 0.9f), SMPL(SMP_SIZE, 0.8f, 8, 0.95f)};

START_TEST(test_batched_generation)
{
    int cell = _i % NCELLS, si = _i / NCELLS;
    const rnn_sampling *smp = &SAMPLINGS[si];
    uint64_t S = 1000 + (uint64_t)_i;
    rnn_model *m = make_model(cell, 41 + cell);
    int32_t pre[GB * GP], out4[GB * GN], out1[GN];
    fill_tokens(pre, GB * GP, V, 500 + _i);
    rnn_state *s4 = make_state(m, GB, S);
    OK(rnn_state_feed(s4, pre, GP, 0));
    float lp4[GB * V], lp1[V];
    OK(rnn_state_get_logprobs(s4, lp4));
    OK(rnn_state_generate(s4, smp, GN, out4));
    hs h4;
    take(s4, &h4);
    int lp_bits = 1, h_bits = 1;
    double lp_err = 0, h_err = 0;
    for (int b = 0; b < GB; b++) {
        rnn_state *s1 = make_state(m, 1, S + (uint64_t)b);
        OK(rnn_state_feed(s1, pre + b * GP, GP, 0));
        OK(rnn_state_get_logprobs(s1, lp1));
        lp_bits &= memcmp(lp1, lp4 + b * V, sizeof lp1) == 0;
        lp_err = fmax(lp_err, tu_rel_err(lp1, lp4 + b * V, V));
        OK(rnn_state_generate(s1, smp, GN, out1));
        int first = -1;
        for (int t = 0; t < GN && first < 0; t++)
            if (out1[t] != out4[b * GN + t]) first = t;
        ck_assert_msg(first < 0,
                      "%s, sampling {T %g, k %d, p %g}: stream %d of a batch-%d state (seed %llu) differs from a "
                      "one-stream state (seed %llu) at token %d: %d vs %d",
                      CELL_NAME[cell], smp->temperature, smp->top_k, smp->top_p, b, GB, (unsigned long long)S,
                      (unsigned long long)(S + b), first, out4[b * GN + first], out1[first]);
        hs h1;
        take(s1, &h1);
        for (int l = 0; l < L; l++) {
            const float *x4 = h4.h + ((size_t)l * GB + b) * H, *x1 = h1.h + (size_t)l * H;
            const float *c4 = h4.c + ((size_t)l * GB + b) * H, *c1 = h1.c + (size_t)l * H;
            h_bits &= memcmp(x4, x1, H * sizeof(float)) == 0 && memcmp(c4, c1, H * sizeof(float)) == 0;
            h_err = fmax(h_err, fmax(tu_rel_err(x1, x4, H), tu_rel_err(c1, c4, H)));
        }
        rnn_state_free(s1);
    }
    ck_assert_msg(lp_err <= 1e-6 && h_err <= 1e-5, "%s: batch-4 vs batch-1 logprobs rel %g, final state rel %g",
                  CELL_NAME[cell], lp_err, h_err);
    NOTE("batch/%s/{T %g,k %d,p %g}: %d tokens x %d streams equal; logprobs after prompt bit-identical: %s (rel %.3g); "
         "state after generation bit-identical: %s (rel %.3g)",
         CELL_NAME[cell], smp->temperature, smp->top_k, smp->top_p, GN, GB, lp_bits ? "yes" : "no", lp_err,
         h_bits ? "yes" : "no", h_err);
    rnn_state_free(s4);
    rnn_model_free(m);
}
END_TEST

/* ---- draw / reset / copy / clone ---------------------------------------------------------------- */
START_TEST(test_fork_reset)
{
    int cell = _i;
    enum { B = 2, P = 4, N = 25 };
    rnn_model *m = make_model(cell, 51 + cell);
    int32_t pre[B * P], other[B * 3];
    fill_tokens(pre, B * P, V, 600 + cell);
    fill_tokens(other, B * 3, V, 700 + cell);
    rnn_sampling smp;
    memset(&smp, 0x5A, sizeof smp);
    OK(rnn_sampling_init(&smp, sizeof smp));
    ck_assert(smp.struct_size == sizeof smp);
    ck_assert(smp.temperature == 1.0f && smp.top_k == 0 && smp.top_p == 1.0f);

    /* rnn_state_draw does not advance the state */
    rnn_state *st = make_state(m, B, 42);
    ck_assert_str_eq(rnn_state_errmsg(st), "");
    OK(rnn_state_feed(st, pre, P, 0));
    hs h0, h1;
    float lp0[B * V], lp1[B * V];
    take(st, &h0);
    OK(rnn_state_get_logprobs(st, lp0));
    int32_t nx[B];
    for (int i = 0; i < 5; i++) {
        OK(rnn_state_draw(st, NULL, nx));
        OK(rnn_state_draw(st, &smp, nx));
        for (int b = 0; b < B; b++) ck_assert(nx[b] >= 0 && nx[b] < V);
    }
    take(st, &h1);
    OK(rnn_state_get_logprobs(st, lp1));
    ck_assert_msg(hs_bitequal(&h0, &h1), "%s: rnn_state_draw changed the hidden state", CELL_NAME[cell]);
    ck_assert_msg(memcmp(lp0, lp1, sizeof lp0) == 0, "%s: logprobs changed across rnn_state_draw", CELL_NAME[cell]);

    /* reset replays: zero state, creation seed */
    rnn_state *r = make_state(m, B, 42);
    int32_t g1[B * N], g2[B * N], g3[B * N];
    OK(rnn_state_feed(r, pre, P, 0));
    OK(rnn_state_generate(r, &smp, N, g1));
    OK(rnn_state_draw(r, NULL, nx));
    OK(rnn_state_reset(r));
    hs z;
    take(r, &z);
    for (size_t i = 0; i < z.n; i++) ck_assert(z.h[i] == 0.0f && z.c[i] == 0.0f);
    OK(rnn_state_feed(r, pre, P, 0));
    OK(rnn_state_generate(r, &smp, N, g2));
    ck_assert_msg(memcmp(g1, g2, sizeof g1) == 0, "%s: generation after rnn_state_reset differs", CELL_NAME[cell]);
    /* st (same seed, some draw calls already made) resets to the same */
    OK(rnn_state_reset(st));
    OK(rnn_state_feed(st, pre, P, 0));
    OK(rnn_state_generate(st, &smp, N, g3));
    ck_assert(memcmp(g1, g3, sizeof g1) == 0);
    /* a different seed gives a different generation (the seed matters) */
    rnn_state *d = make_state(m, B, 43);
    OK(rnn_state_feed(d, pre, P, 0));
    OK(rnn_state_generate(d, &smp, N, g3));
    ck_assert_msg(memcmp(g1, g3, sizeof g1) != 0, "%s: seeds 42 and 43 generate the same", CELL_NAME[cell]);

    /* copy and clone carry the generators: every fork continues identically */
    rnn_state *A = make_state(m, B, 7);
    OK(rnn_state_feed(A, pre, P, 0));
    OK(rnn_state_generate(A, &smp, 5, g1)); /* advance state and generators */
    rnn_state *Bc = clone_of(A);
    rnn_state *C = make_state(m, B, 12345);
    OK(rnn_state_feed(C, other, 3, 0));
    OK(rnn_state_draw(C, NULL, nx));
    OK(rnn_state_copy(C, A));
    hs ha, hb, hc;
    take(A, &ha);
    take(Bc, &hb);
    take(C, &hc);
    ck_assert(hs_bitequal(&ha, &hb) && hs_bitequal(&ha, &hc));
    int32_t na[B], nb[B], nc[B];
    OK(rnn_state_draw(A, &smp, na));
    OK(rnn_state_draw(Bc, &smp, nb));
    OK(rnn_state_draw(C, &smp, nc));
    ck_assert(memcmp(na, nb, sizeof na) == 0 && memcmp(na, nc, sizeof na) == 0);
    OK(rnn_state_generate(A, &smp, N, g1));
    OK(rnn_state_generate(Bc, &smp, N, g2));
    OK(rnn_state_generate(C, &smp, N, g3));
    ck_assert_msg(memcmp(g1, g2, sizeof g1) == 0, "%s: a clone generates a different continuation", CELL_NAME[cell]);
    ck_assert_msg(memcmp(g1, g3, sizeof g1) == 0, "%s: a copy generates a different continuation", CELL_NAME[cell]);
    /* copying a state onto itself is harmless */
    OK(rnn_state_copy(A, A));

    /* copy across batch sizes or models: RNN_ERR_STATE, nothing changes */
    rnn_state *D = make_state(m, 3, 7);
    rnn_model *m2 = make_model(cell, 51 + cell); /* same config, same weights: still another model */
    rnn_state *F = make_state(m2, B, 7);
    OK(rnn_state_feed(F, pre, P, 0));
    hs dA0, dD0, dF0, x;
    take(A, &dA0);
    take(D, &dD0);
    take(F, &dF0);
    ck_assert_int_eq(rnn_state_copy(D, A), RNN_ERR_STATE);
    ck_assert(strlen(rnn_state_errmsg(D)) > 0);
    ck_assert_int_eq(rnn_state_copy(A, D), RNN_ERR_STATE);
    ck_assert(strlen(rnn_state_errmsg(A)) > 0);
    ck_assert_int_eq(rnn_state_copy(F, A), RNN_ERR_STATE);
    ck_assert(strlen(rnn_state_errmsg(F)) > 0);
    ck_assert_int_eq(rnn_state_copy(A, F), RNN_ERR_STATE);
    take(A, &x);
    ck_assert(hs_bitequal(&x, &dA0));
    take(D, &x);
    ck_assert(hs_bitequal(&x, &dD0));
    take(F, &x);
    ck_assert(hs_bitequal(&x, &dF0));
    /* ... and A's generators were not touched either: it still matches Bc */
    OK(rnn_state_generate(A, &smp, N, g1));
    OK(rnn_state_generate(Bc, &smp, N, g2));
    ck_assert(memcmp(g1, g2, sizeof g1) == 0);

    /* greedy == top_k 1 == argmax of logprobs (lowest id on ties), whatever the temperature */
    rnn_state *G1 = make_state(m, B, 1), *G2 = make_state(m, B, 2), *G3 = make_state(m, B, 3);
    OK(rnn_state_feed(G1, pre, P, 0));
    OK(rnn_state_feed(G2, pre, P, 0));
    OK(rnn_state_feed(G3, pre, P, 0));
    rnn_sampling greedy = SMPL(SMP_SIZE, 0.0f, 0, 1.0f), k1 = SMPL(SMP_SIZE, 1.0f, 1, 1.0f), k1hot = SMPL(SMP_SIZE, 3.0f, 1, 0.5f);
    for (int t = 0; t < 15; t++) {
        int32_t a1[B], a2[B], a3[B];
        float lp[B * V];
        OK(rnn_state_get_logprobs(G1, lp));
        OK(rnn_state_draw(G1, &greedy, a1));
        OK(rnn_state_draw(G2, &k1, a2));
        OK(rnn_state_draw(G3, &k1hot, a3));
        for (int b = 0; b < B; b++) {
            ck_assert_int_eq(a1[b], argmax_row(lp + b * V, V));
            ck_assert_int_eq(a2[b], a1[b]);
            ck_assert_int_eq(a3[b], a1[b]);
        }
        OK(rnn_state_feed(G1, a1, 1, 0));
        OK(rnn_state_feed(G2, a1, 1, 0));
        OK(rnn_state_feed(G3, a1, 1, 0));
    }
    rnn_state *G4 = make_state(m, B, 9), *G5 = make_state(m, B, 10);
    OK(rnn_state_feed(G4, pre, P, 0));
    OK(rnn_state_feed(G5, pre, P, 0));
    OK(rnn_state_generate(G4, &greedy, N, g1));
    OK(rnn_state_generate(G5, &k1, N, g2));
    ck_assert(memcmp(g1, g2, sizeof g1) == 0);

    rnn_state *all[] = {st, r, d, A, Bc, C, D, F, G1, G2, G3, G4, G5};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) rnn_state_free(all[i]);
    rnn_model_free(m2);
    rnn_model_free(m);
}
END_TEST

/* ---- the sampling chain on a model whose distribution is p everywhere ---------------------------- */
enum { DB = 8, DCALLS = 2500, DRAWS = DB * DCALLS, DMAXV = 16 };

static rnn_model *make_dist_model(const double *p, int nv)
{
    rnn_config c = small_cfg(RNN_CELL_LSTM, nv, 4, 5, 99);
    rnn_model *m = NULL;
    OK(rnn_model_create(&m, &c, NULL, NULL, 0));
    randomize(m, 1234);
    rnn_param w = PARAM_INIT, b = PARAM_INIT;
    OK(rnn_param_find(m, "decoder.weight", &w));
    OK(rnn_param_find(m, "decoder.bias", &b));
    memset(w.data, 0, w.size * sizeof(float));
    for (int k = 0; k < nv; k++) b.data[k] = (float)log(p[k]);
    return m;
}

/* a primed state: the distribution must not depend on it */
static rnn_state *dist_state(const rnn_model *m, int nv, uint64_t seed)
{
    rnn_state *st = make_state(m, DB, seed);
    int32_t pre[DB * 3];
    fill_tokens(pre, DB * 3, nv, seed);
    OK(rnn_state_feed(st, pre, 3, 0));
    return st;
}

/* DRAWS draws; every count within 5 sigma of DRAWS * q (q unnormalised here), zero where q is 0 */
static void check_draws(const rnn_model *m, int nv, const rnn_sampling *smp, const double *qin, const char *what)
{
    double q[DMAXV], sum = 0;
    for (int k = 0; k < nv; k++) sum += qin[k];
    for (int k = 0; k < nv; k++) q[k] = qin[k] / sum;
    rnn_state *st = dist_state(m, nv, 31337);
    long cnt[DMAXV] = {0};
    int32_t nx[DB];
    long bad = 0;
    for (int i = 0; i < DCALLS; i++) {
        int rc = rnn_state_draw(st, smp, nx);
        if (rc != RNN_OK) ck_assert_msg(0, "%s: rnn_state_draw -> %d", what, rc);
        for (int b = 0; b < DB; b++) {
            if (nx[b] >= 0 && nx[b] < nv) cnt[nx[b]]++;
            else bad++;
        }
    }
    ck_assert_msg(bad == 0, "%s: %ld draws outside [0, %d)", what, bad, nv);
    for (int k = 0; k < nv; k++) {
        if (q[k] == 0) {
            ck_assert_msg(cnt[k] == 0, "%s: token %d is outside the kept set but was drawn %ld times", what, k, cnt[k]);
            continue;
        }
        double mu = DRAWS * q[k], sd = sqrt(DRAWS * q[k] * (1 - q[k]));
        ck_assert_msg(fabs(cnt[k] - mu) <= 5 * sd + 1, "%s: token %d drawn %ld times, expected %.1f +- %.1f", what, k,
                      cnt[k], mu, sd);
    }
    rnn_state_free(st);
}

/* every draw equals want */
static void check_always(const rnn_model *m, int nv, const rnn_sampling *smp, int32_t want, const char *what)
{
    rnn_state *st = dist_state(m, nv, 4711);
    int32_t nx[DB];
    long bad = 0;
    int32_t got = want;
    for (int i = 0; i < 200; i++) {
        OK(rnn_state_draw(st, smp, nx));
        for (int b = 0; b < DB; b++)
            if (nx[b] != want) bad++, got = nx[b];
    }
    ck_assert_msg(bad == 0, "%s: %ld of %d draws differ from %d (e.g. %d)", what, bad, 200 * DB, want, got);
    int32_t g[DB * 10];
    OK(rnn_state_generate(st, smp, 10, g));
    for (int i = 0; i < DB * 10; i++) ck_assert_msg(g[i] == want, "%s (generate): %d vs %d", what, g[i], want);
    rnn_state_free(st);
}

START_TEST(test_sampling_greedy_topk)
{
    /* ties: 1 and 3 at 0.2, and 2, 4, 5 at 0.1 */
    static const double p[7] = {0.05, 0.2, 0.1, 0.2, 0.1, 0.1, 0.25};
    rnn_model *m = make_dist_model(p, 7);
    /* the state's distribution is p, whatever the state */
    rnn_state *st = dist_state(m, 7, 1);
    float lp[DB * 7];
    OK(rnn_state_get_logprobs(st, lp));
    for (int b = 0; b < DB; b++)
        for (int k = 0; k < 7; k++) ck_assert(fabs(lp[b * 7 + k] - log(p[k])) <= 1e-5);
    rnn_state_free(st);

    rnn_sampling g0 = SMPL(SMP_SIZE, 0.0f, 0, 1.0f), k1 = SMPL(SMP_SIZE, 1.0f, 1, 1.0f), k1t = SMPL(SMP_SIZE, 2.5f, 1, 1.0f), k1p = SMPL(SMP_SIZE, 1.0f, 1, 0.3f);
    check_always(m, 7, &g0, 6, "greedy");
    check_always(m, 7, &k1, 6, "top_k 1");
    check_always(m, 7, &k1t, 6, "top_k 1, temperature 2.5");
    check_always(m, 7, &k1p, 6, "top_k 1, top_p 0.3");
    rnn_sampling pp = SMPL(SMP_SIZE, 1.0f, 0, 0.2f); /* 0.25 alone reaches 0.2 */
    check_always(m, 7, &pp, 6, "top_p 0.2");

    double q[7];
    rnn_sampling s = SMPL(SMP_SIZE, 1.0f, 0, 1.0f);
    check_draws(m, 7, &s, p, "plain");
    /* top-2: 6 and, of the tied 1 and 3, the lower id 1 */
    s.top_k = 2;
    memcpy(q, (double[7]){0, 0.2, 0, 0, 0, 0, 0.25}, sizeof q);
    check_draws(m, 7, &s, q, "top_k 2 (tie 1/3)");
    s.top_k = 3;
    memcpy(q, (double[7]){0, 0.2, 0, 0.2, 0, 0, 0.25}, sizeof q);
    check_draws(m, 7, &s, q, "top_k 3");
    /* top-4: of the tied 2, 4, 5 the lowest id 2 */
    s.top_k = 4;
    memcpy(q, (double[7]){0, 0.2, 0.1, 0.2, 0, 0, 0.25}, sizeof q);
    check_draws(m, 7, &s, q, "top_k 4 (tie 2/4/5)");
    s.top_k = 5;
    memcpy(q, (double[7]){0, 0.2, 0.1, 0.2, 0.1, 0, 0.25}, sizeof q);
    check_draws(m, 7, &s, q, "top_k 5 (tie 2/4/5)");
    s.top_k = 7;
    check_draws(m, 7, &s, p, "top_k V");
    s.top_k = 1000;
    check_draws(m, 7, &s, p, "top_k > V");
    /* temperature 2 with top-k 3: q ~ sqrt(p) over {1, 3, 6} */
    s.temperature = 2.0f, s.top_k = 3;
    memcpy(q, (double[7]){0, sqrt(0.2), 0, sqrt(0.2), 0, 0, sqrt(0.25)}, sizeof q);
    check_draws(m, 7, &s, q, "temperature 2, top_k 3");
    /* greedy with ties at the top: the lowest id */
    static const double pt[4] = {0.1, 0.3, 0.3, 0.3};
    rnn_model *mt = make_dist_model(pt, 4);
    check_always(mt, 4, &g0, 1, "greedy, tie 1/2/3");
    check_always(mt, 4, &k1, 1, "top_k 1, tie 1/2/3");
    s.temperature = 1.0f, s.top_k = 2, s.top_p = 1.0f;
    check_draws(mt, 4, &s, (double[4]){0, 0.3, 0.3, 0}, "top_k 2, tie 1/2/3");
    rnn_model_free(mt);
    rnn_model_free(m);
}
END_TEST

START_TEST(test_sampling_top_p)
{
    /* p = [0.5, 0.3, 0.15, 0.05] stored out of order so that the sort matters */
    static const double p[4] = {0.15, 0.5, 0.05, 0.3};
    rnn_model *m = make_dist_model(p, 4);
    rnn_sampling s = SMPL(SMP_SIZE, 1.0f, 0, 1.0f);
    struct {
        float top_p;
        double q[4];
    } cases[] = {
        {0.81f, {0.15, 0.5, 0, 0.3}},    /* needs the 0.15 */
        {0.79f, {0, 0.5, 0, 0.3}},
        {0.7999f, {0, 0.5, 0, 0.3}},
        {0.8001f, {0.15, 0.5, 0, 0.3}},
        {0.49f, {0, 0.5, 0, 0}},
        {0.51f, {0, 0.5, 0, 0.3}},
        {0.94f, {0.15, 0.5, 0, 0.3}},
        {0.96f, {0.15, 0.5, 0.05, 0.3}},
        {1.0f, {0.15, 0.5, 0.05, 0.3}},
        {1e-30f, {0, 1, 0, 0}},          /* tiny: the top token alone */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "top_p %.9g", (double)cases[i].top_p);
        s.top_p = cases[i].top_p;
        check_draws(m, 4, &s, cases[i].q, what);
    }
    /* top_p 0.8f: the mass of {0, 1} is 0.8, the float 0.8f is 0.800000012 -- below what float weights
     * resolve, so either {0, 1} or {0, 1, 2} is right; nothing else is */
    {
        s.top_p = 0.8f;
        rnn_state *st = dist_state(m, 4, 77);
        long cnt[4] = {0};
        int32_t nx[DB];
        for (int i = 0; i < DCALLS; i++) {
            OK(rnn_state_draw(st, &s, nx));
            for (int b = 0; b < DB; b++) cnt[nx[b]]++;
        }
        rnn_state_free(st);
        ck_assert_msg(cnt[2] == 0, "top_p 0.8: the 0.05 token drawn %ld times", cnt[2]);
        int with2 = cnt[0] > 0;
        double q[4] = {with2 ? 0.15 : 0, 0.5, 0, 0.3};
        check_draws(m, 4, &s, q, with2 ? "top_p 0.8f (kept {0,1,2})" : "top_p 0.8f (kept {0,1})");
        NOTE("sampling: p = [.5 .3 .15 .05], top_p 0.8f keeps %s", with2 ? "{0,1,2}" : "{0,1}");
    }
    /* top-k first, then top-p on the renormalised top-k: p' = [.5, .3, .15]/.95; top_p 0.8 of that
     * needs 0.5/.95 + 0.3/.95 = 0.842 >= 0.8 -> {0, 1}; top_p 0.85 -> {0, 1, 2} (top-p first on the
     * full distribution would give the same sets here, so also a case where the order shows:) */
    s.top_k = 3, s.top_p = 0.85f;
    check_draws(m, 4, &s, (double[4]){0.15, 0.5, 0, 0.3}, "top_k 3 then top_p 0.85");
    s.top_k = 3, s.top_p = 0.83f;
    check_draws(m, 4, &s, (double[4]){0, 0.5, 0, 0.3}, "top_k 3 then top_p 0.83");
    s.top_k = 1, s.top_p = 0.99f;
    check_draws(m, 4, &s, (double[4]){0, 1, 0, 0}, "top_k 1 then top_p 0.99");
    rnn_model_free(m);

    /* a boundary that float weights represent exactly: p = [.25, .5, .25] gives weights [.5, 1, .5]
     * (expf(logf(.25) - logf(.5)) rounds to .5); top_p 0.75 is reached by {1, 0} exactly (of the tied
     * 0 and 2, the lower id); just above it needs all three */
    static const double p3[3] = {0.25, 0.5, 0.25};
    m = make_dist_model(p3, 3);
    s.temperature = 1.0f, s.top_k = 0, s.top_p = 0.75f;
    check_draws(m, 3, &s, (double[3]){0.25, 0.5, 0}, "top_p 0.75 exactly reached (tie 0/2)");
    s.top_p = 0.7501f;
    check_draws(m, 3, &s, p3, "top_p 0.7501");
    s.top_p = 0.5f;
    check_always(m, 3, &s, 1, "top_p 0.5 exactly reached");
    s.top_p = 0.5001f;
    check_draws(m, 3, &s, (double[3]){0.25, 0.5, 0}, "top_p 0.5001");
    rnn_model_free(m);

    /* p = [0.4, 0.3, 0.2, 0.1]: top_k 3 then top_p 0.75 keeps {0, 1} (0.7/0.9 = 0.78 >= 0.75); top-p
     * first would keep {0, 1, 2} (0.7 < 0.75) */
    static const double p2[4] = {0.4, 0.3, 0.2, 0.1};
    m = make_dist_model(p2, 4);
    s.temperature = 1.0f, s.top_k = 3, s.top_p = 0.75f;
    check_draws(m, 4, &s, (double[4]){0.4, 0.3, 0, 0}, "top_k 3 then top_p 0.75");
    s.top_k = 0;
    check_draws(m, 4, &s, (double[4]){0.4, 0.3, 0.2, 0}, "top_p 0.75 alone");
    /* temperature first: T 0.5 gives q ~ p^2 = [16, 9, 4, 1]/30; top_p 0.8 keeps {0, 1} (25/30 = 0.833);
     * top-p before the temperature would keep {0, 1, 2} */
    s.temperature = 0.5f, s.top_k = 0, s.top_p = 0.8f;
    check_draws(m, 4, &s, (double[4]){16, 9, 0, 0}, "temperature 0.5 then top_p 0.8");
    s.top_p = 1.0f;
    check_draws(m, 4, &s, (double[4]){16, 9, 4, 1}, "temperature 0.5");
    /* T 2 gives q ~ sqrt(p); with top_p 0.55: sqrt-mass cumsum .332 .620 -> {0, 1} */
    s.temperature = 2.0f, s.top_p = 0.55f;
    check_draws(m, 4, &s, (double[4]){sqrt(0.4), sqrt(0.3), 0, 0}, "temperature 2 then top_p 0.55");
    /* all three: T 0.5, top_k 3, top_p 0.9: p^2 over top-3 = [16, 9, 4]/29, cumsum .552 .862 1 -> {0,1,2} */
    s.temperature = 0.5f, s.top_k = 3, s.top_p = 0.9f;
    check_draws(m, 4, &s, (double[4]){16, 9, 4, 0}, "T 0.5, top_k 3, top_p 0.9");
    s.top_p = 0.85f;
    check_draws(m, 4, &s, (double[4]){16, 9, 0, 0}, "T 0.5, top_k 3, top_p 0.85");
    rnn_model_free(m);
}
END_TEST

START_TEST(test_sampling_bad_values)
{
    rnn_model *m = make_model(RNN_CELL_GRU, 61);
    enum { B = 3 };
    int32_t pre[B * 4];
    fill_tokens(pre, B * 4, V, 61);
    rnn_state *st = make_state(m, B, 8), *twin;
    OK(rnn_state_feed(st, pre, 4, 0));
    twin = clone_of(st);
    hs h0, h1;
    take(st, &h0);
    const rnn_sampling bad[] = {
        SMPL(SMP_SIZE, 1.0f, -1, 1.0f),      SMPL(SMP_SIZE, 1.0f, -1000, 0.5f),    SMPL(SMP_SIZE, 1.0f, 0, 0.0f),     SMPL(SMP_SIZE, 1.0f, 0, -0.0f),
        SMPL(SMP_SIZE, 1.0f, 0, -0.5f),      SMPL(SMP_SIZE, 1.0f, 0, 1.0001f),     SMPL(SMP_SIZE, 1.0f, 0, 0x1.000002p0f), SMPL(SMP_SIZE, 1.0f, 0, NAN),
        SMPL(SMP_SIZE, 1.0f, 0, INFINITY),   SMPL(SMP_SIZE, 1.0f, 0, -INFINITY),   SMPL(SMP_SIZE, -1.0f, 0, 1.0f),    SMPL(SMP_SIZE, -1e-30f, 0, 1.0f),
        SMPL(SMP_SIZE, NAN, 0, 1.0f),        SMPL(SMP_SIZE, INFINITY, 0, 1.0f),    SMPL(SMP_SIZE, -INFINITY, 0, 1.0f), SMPL(SMP_SIZE, 1.0f, 5, 2.0f),
        /* 1.0: struct_size below its own size, or cutting a field */
        SMPL(0, 1.0f, 0, 1.0f),              SMPL(3, 1.0f, 0, 1.0f),               SMPL(sizeof(size_t) - 1, 1.0f, 0, 1.0f),
        SMPL(offsetof(rnn_sampling, temperature) + 2, 1.0f, 0, 1.0f),          SMPL(offsetof(rnn_sampling, top_p) + 1, 1.0f, 0, 1.0f),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t nx[B] = {-7, -7, -7}, out[B * 3];
        for (int k = 0; k < B * 3; k++) out[k] = -7;
        int rc = rnn_state_draw(st, &bad[i], nx);
        ck_assert_msg(rc == RNN_ERR_INVALID, "draw with {T %g, k %d, p %g}: %d, expected RNN_ERR_INVALID",
                      bad[i].temperature, bad[i].top_k, bad[i].top_p, rc);
        ck_assert_msg(strlen(rnn_state_errmsg(st)) > 0, "empty errmsg for bad sampling %zu", i);
        rc = rnn_state_generate(st, &bad[i], 3, out);
        ck_assert_msg(rc == RNN_ERR_INVALID, "generate with {T %g, k %d, p %g}: %d, expected RNN_ERR_INVALID",
                      bad[i].temperature, bad[i].top_k, bad[i].top_p, rc);
        ck_assert(strlen(rnn_state_errmsg(st)) > 0);
        for (int k = 0; k < B * 3; k++) ck_assert_int_eq(out[k], -7); /* nothing generated */
    }
    take(st, &h1);
    ck_assert(hs_bitequal(&h0, &h1));
    /* the generators did not move: st and its twin generate the same */
    int32_t g1[B * 20], g2[B * 20];
    OK(rnn_state_generate(st, NULL, 20, g1));
    OK(rnn_state_generate(twin, NULL, 20, g2));
    ck_assert(memcmp(g1, g2, sizeof g1) == 0);
    /* borderline good values */
    const rnn_sampling good[] = {SMPL(SMP_SIZE, 0.0f, 0, 1.0f), SMPL(SMP_SIZE, -0.0f, 0, 1.0f), SMPL(SMP_SIZE, 1e-30f, 0, 1.0f), SMPL(SMP_SIZE, 1e30f, 0, 1.0f),
                                 SMPL(SMP_SIZE, 1.0f, 0, 1e-30f), SMPL(SMP_SIZE, 1.0f, V + 5, 1.0f), SMPL(SMP_SIZE, 1.0f, 0x7fffffff, 1.0f)};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int32_t nx[B];
        int rc = rnn_state_draw(st, &good[i], nx);
        ck_assert_msg(rc == RNN_OK, "draw with {T %g, k %d, p %g}: %d", good[i].temperature, good[i].top_k,
                      good[i].top_p, rc);
        for (int b = 0; b < B; b++) ck_assert(nx[b] >= 0 && nx[b] < V);
    }
    rnn_state_free(st);
    rnn_state_free(twin);
    rnn_model_free(m);
}
END_TEST

/* ---- threads ------------------------------------------------------------------------------------ */
enum { NTHR = 4, TN = 200, TB = 2, TP = 6 };
typedef struct {
    const rnn_model *m;
    uint64_t seed;
    rnn_sampling smp;
    int32_t pre[TB * TP];
    int32_t out[TB * TN];
    double score[TB];
    float h[L * TB * H], c[L * TB * H];
    int rc;
    pthread_barrier_t *bar;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    if (j->bar) pthread_barrier_wait(j->bar);
    rnn_state *st = NULL;
    j->rc = rnn_state_create(&st, j->m, TB, j->seed);
    if (!j->rc) j->rc = rnn_state_feed(st, j->pre, TP, 0);
    if (!j->rc) j->rc = rnn_state_generate(st, &j->smp, TN, j->out);
    if (!j->rc) j->rc = rnn_state_score(st, j->pre, TP, 0, j->score);
    if (!j->rc) j->rc = rnn_state_get_hidden(st, j->h, j->c);
    rnn_state_free(st);
    return NULL;
}

START_TEST(test_threads)
{
    int cell = _i;
    rnn_model *m = make_model(cell, 71 + cell);
    static job seq[NTHR], par[NTHR];
    memset(seq, 0, sizeof seq);
    for (int i = 0; i < NTHR; i++) {
        seq[i].m = m;
        seq[i].seed = 900 + 17 * (uint64_t)i;
        OK(rnn_sampling_init(&seq[i].smp, sizeof seq[i].smp));
        if (i == 1) seq[i].smp.top_k = 10;
        if (i == 2) seq[i].smp.top_p = 0.9f, seq[i].smp.temperature = 0.7f;
        if (i == 3) seq[i].smp = (rnn_sampling)SMPL(SMP_SIZE, 1.3f, 12, 0.95f);
        fill_tokens(seq[i].pre, TB * TP, V, 800 + i);
        par[i] = seq[i];
        run_job(&seq[i]);
        ck_assert_int_eq(seq[i].rc, RNN_OK);
    }
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, NTHR);
    pthread_t th[NTHR];
    for (int i = 0; i < NTHR; i++) {
        par[i].bar = &bar;
        ck_assert_int_eq(pthread_create(&th[i], NULL, run_job, &par[i]), 0);
    }
    for (int i = 0; i < NTHR; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&bar);
    for (int i = 0; i < NTHR; i++) {
        ck_assert_int_eq(par[i].rc, RNN_OK);
        ck_assert_msg(memcmp(par[i].out, seq[i].out, sizeof seq[i].out) == 0, "%s: thread %d generated differently",
                      CELL_NAME[cell], i);
        ck_assert(memcmp(par[i].score, seq[i].score, sizeof seq[i].score) == 0);
        ck_assert(memcmp(par[i].h, seq[i].h, sizeof seq[i].h) == 0 && memcmp(par[i].c, seq[i].c, sizeof seq[i].c) == 0);
    }
    /* different seeds/samplings really produce different streams */
    ck_assert(memcmp(seq[0].out, seq[1].out, sizeof seq[0].out) != 0);
    rnn_model_free(m);
}
END_TEST

/* ---- allocation --------------------------------------------------------------------------------- */
typedef struct {
    long allocs, frees;
    long long live;
    size_t largest; /* the largest allocation asked for */
    size_t limit;   /* nonzero: allocations larger than this fail */
} counter;

static void *c_alloc(void *user, size_t size)
{
    counter *c = user;
    if (size > c->largest) c->largest = size;
    if (c->limit && size > c->limit) return NULL;
    size_t *p = malloc(size + 16);
    if (!p) return NULL;
    p[0] = size;
    c->allocs++;
    c->live += (long long)size;
    return (char *)p + 16;
}

static void c_free(void *user, void *ptr)
{
    counter *c = user;
    ck_assert_ptr_nonnull(ptr);
    size_t *p = (size_t *)((char *)ptr - 16);
    c->frees++;
    c->live -= (long long)p[0];
    free(p);
}

START_TEST(test_alloc)
{
    int cell = _i;
    counter cnt = {.allocs = 0};
    rnn_allocator al = {sizeof(rnn_allocator), c_alloc, c_free, &cnt};
    rnn_model *m = make_model_al(cell, 81 + cell, &al);
    long long base_live = cnt.live;
    long base_allocs = cnt.allocs, base_frees = cnt.frees;
    enum { B = 3, BIG = 9 };
    int32_t big[B * BIG], small[B * 2];
    fill_tokens(big, B * BIG, V, 81);
    fill_tokens(small, B * 2, V, 82);
    rnn_sampling smp = SMPL(SMP_SIZE, 0.9f, 7, 0.9f);
    rnn_state *a = NULL, *b = NULL;
    OK(rnn_state_create(&a, m, B, 1));
    OK(rnn_state_create(&b, m, B, 2));
    ck_assert(cnt.allocs > base_allocs);

    /* right after create: nothing that does not grow the workspace allocates */
    long n0 = cnt.allocs;
    float lp[B * V];
    int32_t nx[B], out[B * 30];
    double sc[B];
    hs h;
    OK(rnn_state_get_logprobs(a, lp));
    OK(rnn_state_draw(a, &smp, nx));
    OK(rnn_state_draw(a, NULL, nx));
    OK(rnn_state_generate(a, &smp, 30, out));
    OK(rnn_state_feed(a, nx, 1, 0));
    OK(rnn_state_score(a, nx, 1, 0, sc));
    OK(rnn_state_copy(b, a));
    OK(rnn_state_reset(b));
    take(a, &h);
    OK(rnn_state_set_hidden(b, h.h, h.c));
    int bs;
    OK(rnn_state_get_batch(a, &bs));
    ck_assert_int_eq(rnn_state_feed(a, NULL, 1, 0), RNN_ERR_INVALID);
    ck_assert_msg(cnt.allocs == n0, "%s: %ld allocations after rnn_state_create without growth", CELL_NAME[cell],
                  cnt.allocs - n0);

    /* grow once (a score of the largest steps; a feed reserves no logits), then nothing allocates */
    OK(rnn_state_feed(a, big, BIG, 0));
    OK(rnn_state_score(a, big, BIG, 0, sc));
    OK(rnn_state_feed(b, big, BIG, 0));
    OK(rnn_state_score(b, big, BIG, 0, sc));
    long n1 = cnt.allocs;
    for (int rep = 0; rep < 3; rep++) {
        OK(rnn_state_feed(a, big, BIG, 0));
        OK(rnn_state_feed(a, small, 2, 0));
        OK(rnn_state_score(a, big, BIG, 0, sc));
        OK(rnn_state_score(b, small, 2, 0, sc));
        OK(rnn_state_score(b, big, BIG, 0, sc));
        OK(rnn_state_draw(a, &smp, nx));
        OK(rnn_state_generate(b, &smp, 30, out));
        OK(rnn_state_generate(a, NULL, 30, out));
        OK(rnn_state_copy(b, a));
        OK(rnn_state_get_logprobs(b, lp));
        OK(rnn_state_reset(a));
        ck_assert_int_eq(rnn_state_feed(a, (int32_t[B * 2]){0, 1, 2, V, 3, 4}, 2, 0), RNN_ERR_RANGE);
    }
    ck_assert_msg(cnt.allocs == n1, "%s: %ld allocations in the steady state (feed/score/draw/generate/copy/logprobs)",
                  CELL_NAME[cell], cnt.allocs - n1);

    /* clone allocates, free releases everything */
    rnn_state *c = NULL;
    OK(rnn_state_clone(&c, a));
    long n2 = cnt.allocs;
    OK(rnn_state_score(c, big, BIG, 0, sc)); /* the clone got the source's workspace size */
    OK(rnn_state_feed(c, big, BIG, 0));
    ck_assert_msg(cnt.allocs == n2, "%s: a clone allocated on a feed no larger than its source's", CELL_NAME[cell]);
    rnn_state_free(c);
    rnn_state_free(a);
    rnn_state_free(b);
    ck_assert_msg(cnt.live == base_live, "%s: %lld bytes still live after freeing the states", CELL_NAME[cell],
                  cnt.live - base_live);
    ck_assert_int_eq(cnt.allocs - base_allocs, cnt.frees - base_frees);

    /* a score of more steps than any feed before: it may grow once, then not again */
    OK(rnn_state_create(&a, m, B, 1));
    OK(rnn_state_score(a, big, BIG, 0, sc));
    long n3 = cnt.allocs;
    OK(rnn_state_score(a, big, BIG, 0, sc));
    OK(rnn_state_feed(a, big, BIG, 0));
    ck_assert(cnt.allocs == n3);
    rnn_state_free(a);
    /* and a score before a feed of the same steps suffices for the feed */
    OK(rnn_state_create(&a, m, B, 1));
    OK(rnn_state_score(a, big, BIG, 0, sc));
    long n4 = cnt.allocs;
    OK(rnn_state_feed(a, big, BIG, 0));
    ck_assert_msg(cnt.allocs == n4, "%s: rnn_state_feed(%d) allocated after rnn_state_score(%d)", CELL_NAME[cell],
                  BIG, BIG);
    rnn_state_free(a);
    ck_assert(cnt.live == base_live);
    rnn_state_free(NULL);
    rnn_model_free(m);
    ck_assert_int_eq(cnt.live, 0);
    ck_assert_int_eq(cnt.allocs, cnt.frees);
}
END_TEST

/* a failing allocator: create reports RNN_ERR_NOMEM and leaks nothing, at every allocation */
static long fail_at;
static void *f_alloc(void *user, size_t size)
{
    if (fail_at >= 0 && fail_at-- == 0) return NULL;
    return c_alloc(user, size);
}

START_TEST(test_alloc_fail)
{
    counter cnt = {.allocs = 0};
    rnn_allocator al = {sizeof(rnn_allocator), f_alloc, c_free, &cnt};
    fail_at = -1;
    rnn_model *m = make_model_al(RNN_CELL_LSTM, 91, &al);
    long long base = cnt.live;
    int ok = 0;
    for (long k = 0; k < 64 && !ok; k++) {
        fail_at = k;
        rnn_state *st = (rnn_state *)&cnt;
        int rc = rnn_state_create(&st, m, 3, 1);
        if (rc == RNN_OK) {
            ok = 1;
            rnn_state_free(st);
        } else {
            ck_assert_int_eq(rc, RNN_ERR_NOMEM);
            ck_assert_ptr_null(st);
        }
        ck_assert_msg(cnt.live == base, "create failing at allocation %ld leaked %lld bytes", k, cnt.live - base);
    }
    ck_assert(ok);
    /* workspace growth failing: RNN_ERR_NOMEM, the state unchanged and usable */
    fail_at = -1;
    rnn_state *st = make_state(m, 3, 1);
    int32_t pre[3 * 2] = {1, 2, 3, 4, 5, 6}, big[3 * 20];
    fill_tokens(big, 3 * 20, V, 1);
    OK(rnn_state_feed(st, pre, 2, 0));
    hs h0, h1;
    take(st, &h0);
    fail_at = 0;
    int rc = rnn_state_feed(st, big, 20, 0);
    fail_at = -1;
    if (rc != RNN_OK) { /* (the library may have reserved enough; then there is nothing to test) */
        ck_assert_int_eq(rc, RNN_ERR_NOMEM);
        ck_assert(strlen(rnn_state_errmsg(st)) > 0);
        take(st, &h1);
        ck_assert(hs_bitequal(&h0, &h1));
        OK(rnn_state_feed(st, big, 20, 0));
    }
    rnn_state_free(st);
    rnn_model_free(m);
    ck_assert_int_eq(cnt.live, 0);
}
END_TEST

/* Memory does not depend on the input's length: a 100,000-token score asks for what a 600-token
 * one does (one chunk), and a feed reserves no V-wide logits. */
START_TEST(test_long_input_memory)
{
    enum { LONG = 100000, SHORT = 600, BV = 1000, FV = 20000 };
    counter cnt = {.limit = (size_t)64 << 20}; /* the one-pass workspace of LONG tokens: ~450 MB */
    rnn_allocator al = {sizeof(rnn_allocator), c_alloc, c_free, &cnt};
    int32_t *tok = malloc(sizeof(int32_t) * LONG);
    ck_assert_ptr_nonnull(tok);
    ck_assert_int_lt(2 * rnn__chunk_steps(1), SHORT);
    for (int k = 0; k < 2; k++) {
        int vocab = k ? FV : BV;
        rnn_config c = small_cfg(RNN_CELL_LSTM, vocab, 8, 8, 5);
        rnn_model *m = NULL;
        OK(rnn_model_create(&m, &c, &al, NULL, 0));
        randomize(m, 31);
        fill_tokens(tok, LONG, vocab, 32);
        rnn_state *a = NULL, *b = NULL;
        OK(rnn_state_create(&a, m, 1, 1));
        OK(rnn_state_create(&b, m, 1, 1));
        double sa, sb;
        cnt.largest = 0;
        if (k == 0) OK(rnn_state_score(a, tok, SHORT, 0, &sa));
        else OK(rnn_state_feed(a, tok, SHORT, 0));
        size_t one_chunk = cnt.largest;
        long n = cnt.allocs;
        cnt.largest = 0;
        if (k == 0) {
            OK(rnn_state_score(b, tok, LONG, 0, &sb));
            ck_assert(isfinite(sb) && sb < sa);
        } else {
            OK(rnn_state_feed(b, tok, LONG, 0));
            /* one chunk of a feed is the layers' activations, not 256 x V logits */
            ck_assert_msg(one_chunk < (size_t)FV * sizeof(float) * 8, "feed of %d tokens asked for %zu bytes",
                          SHORT, one_chunk);
        }
        ck_assert_msg(cnt.largest <= one_chunk && cnt.allocs - n <= 1, "%s of %d tokens: %ld allocations, the largest "
                      "%zu bytes; %d tokens: %zu", k ? "feed" : "score", LONG, cnt.allocs - n, cnt.largest, SHORT,
                      one_chunk);
        ck_assert(one_chunk < (size_t)LONG * vocab * sizeof(float) / 100); /* 1% of LONG x V logits */
        rnn_state_free(a);
        rnn_state_free(b);
        rnn_model_free(m);
    }
    ck_assert_int_eq(cnt.live, 0);
    free(tok);
}
END_TEST

/* ---- argument errors ---------------------------------------------------------------------------- */
START_TEST(test_args)
{
    int cell = _i;
    enum { B = 2 };
    rnn_model *m = make_model(cell, 101 + cell);
    rnn_state *st, *out;
    /* create */
    out = (rnn_state *)m;
    ck_assert_int_eq(rnn_state_create(NULL, m, 1, 1), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_state_create(&out, NULL, 1, 1), RNN_ERR_INVALID);
    ck_assert_ptr_null(out);
    out = (rnn_state *)m;
    ck_assert_int_eq(rnn_state_create(&out, m, 0, 1), RNN_ERR_INVALID);
    ck_assert_ptr_null(out);
    out = (rnn_state *)m;
    ck_assert_int_eq(rnn_state_create(&out, m, -3, 1), RNN_ERR_INVALID);
    ck_assert_ptr_null(out);
    /* NULL handles */
    int32_t tok[B * 3] = {1, 2, 3, 4, 5, 6}, nx[B];
    float lp[B * V], hbuf[L * B * H], cbuf[L * B * H];
    double sc[B];
    int bs;
    ck_assert_int_eq(rnn_state_reset(NULL), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_state_copy(NULL, NULL), RNN_ERR_INVALID);
    out = (rnn_state *)m;
    ck_assert_int_eq(rnn_state_clone(&out, NULL), RNN_ERR_INVALID);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(rnn_state_get_batch(NULL, &bs), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_state_get_hidden(NULL, hbuf, cbuf), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_state_set_hidden(NULL, hbuf, cbuf), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_state_feed(NULL, tok, 1, 0), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_state_score(NULL, tok, 1, 0, sc), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_state_get_logprobs(NULL, lp), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_state_draw(NULL, NULL, nx), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_state_generate(NULL, NULL, 3, nx), RNN_ERR_INVALID);
    rnn_state_free(NULL);
    ck_assert_ptr_nonnull(rnn_state_errmsg(NULL));
    ck_assert_int_eq(rnn_sampling_init(NULL, sizeof(rnn_sampling)), RNN_ERR_INVALID);

    /* bad arguments on a live state: documented code, message, and nothing changes */
    st = make_state(m, B, 3);
    OK(rnn_state_feed(st, tok, 3, 0));
    rnn_state *twin = clone_of(st);
    hs h0, h1;
    take(st, &h0);
    OK(rnn_state_get_batch(st, &bs));
    ck_assert_int_eq(bs, B);
    int32_t bad_hi[B * 3] = {1, 2, 3, 4, V, 6}, bad_neg[B * 3] = {1, RNN_IGNORE, 3, 4, 5, 6}, huge[B] = {0, INT32_MAX};
    struct {
        const char *what;
        int rc, want;
    } r[] = {
        {"copy(st, NULL)", rnn_state_copy(st, NULL), RNN_ERR_INVALID},
        {"copy(NULL, st)", rnn_state_copy(NULL, st), RNN_ERR_INVALID},
        {"clone(NULL, st)", rnn_state_clone(NULL, st), RNN_ERR_INVALID},
        {"get_batch(st, NULL)", rnn_state_get_batch(st, NULL), RNN_ERR_INVALID},
        {"get_hidden(st, NULL, c)", rnn_state_get_hidden(st, NULL, cbuf), RNN_ERR_INVALID},
        {"set_hidden(st, NULL, c)", rnn_state_set_hidden(st, NULL, cbuf), RNN_ERR_INVALID},
        {"feed(st, NULL, 1)", rnn_state_feed(st, NULL, 1, 0), RNN_ERR_INVALID},
        {"feed(st, tok, 0)", rnn_state_feed(st, tok, 0, 0), RNN_ERR_INVALID},
        {"feed(st, tok, -1)", rnn_state_feed(st, tok, -1, 0), RNN_ERR_INVALID},
        {"feed(st, tok=V, 3)", rnn_state_feed(st, bad_hi, 3, 0), RNN_ERR_RANGE},
        {"feed(st, tok=-1, 3)", rnn_state_feed(st, bad_neg, 3, 0), RNN_ERR_RANGE},
        {"feed(st, tok=INT32_MAX, 1)", rnn_state_feed(st, huge, 1, 0), RNN_ERR_RANGE},
        {"feed(st, tok, 3, stride 1)", rnn_state_feed(st, tok, 3, 1), RNN_ERR_INVALID},
        {"feed(st, tok, 3, stride 2)", rnn_state_feed(st, tok, 3, 2), RNN_ERR_INVALID},
        {"feed(st, tok, 3, stride -1)", rnn_state_feed(st, tok, 3, -1), RNN_ERR_INVALID},
        {"feed(st, tok, 1, stride INT_MIN)", rnn_state_feed(st, tok, 1, INT_MIN), RNN_ERR_INVALID},
        {"score(st, tok, 1, NULL)", rnn_state_score(st, tok, 1, 0, NULL), RNN_ERR_INVALID},
        {"score(st, NULL, 1, sc)", rnn_state_score(st, NULL, 1, 0, sc), RNN_ERR_INVALID},
        {"score(st, tok, 0, sc)", rnn_state_score(st, tok, 0, 0, sc), RNN_ERR_INVALID},
        {"score(st, tok, -2, sc)", rnn_state_score(st, tok, -2, 0, sc), RNN_ERR_INVALID},
        {"score(st, tok=V, 3, sc)", rnn_state_score(st, bad_hi, 3, 0, sc), RNN_ERR_RANGE},
        {"score(st, tok=-1, 3, sc)", rnn_state_score(st, bad_neg, 3, 0, sc), RNN_ERR_RANGE},
        {"score(st, tok, 3, stride 2, sc)", rnn_state_score(st, tok, 3, 2, sc), RNN_ERR_INVALID},
        {"score(st, tok, 2, stride -2, sc)", rnn_state_score(st, tok, 2, -2, sc), RNN_ERR_INVALID},
        {"get_logprobs(st, NULL)", rnn_state_get_logprobs(st, NULL), RNN_ERR_INVALID},
        {"draw(st, NULL, NULL)", rnn_state_draw(st, NULL, NULL), RNN_ERR_INVALID},
        {"generate(st, NULL, 3, NULL)", rnn_state_generate(st, NULL, 3, NULL), RNN_ERR_INVALID},
        {"generate(st, NULL, -1, out)", rnn_state_generate(st, NULL, -1, nx), RNN_ERR_INVALID},
    };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
        ck_assert_msg(r[i].rc == r[i].want, "%s: %s -> %d, expected %d", CELL_NAME[cell], r[i].what, r[i].rc,
                      r[i].want);
    }
    take(st, &h1);
    ck_assert_msg(hs_bitequal(&h0, &h1), "%s: a failed call changed the state", CELL_NAME[cell]);
    /* each failure sets a message (checked call by call) */
    const char *msg;
#define MSG(call)                                                                                  \
    do {                                                                                           \
        ck_assert_int_ne((call), RNN_OK);                                                          \
        msg = rnn_state_errmsg(st);                                                                \
        ck_assert_msg(msg && strlen(msg) > 0, "%s: empty rnn_state_errmsg after %s", CELL_NAME[cell], #call); \
        OK(rnn_state_get_logprobs(twin, lp)); /* (another handle: st's message must not depend on it) */ \
    } while (0)
    MSG(rnn_state_feed(st, bad_hi, 3, 0));
    MSG(rnn_state_feed(st, tok, 0, 0));
    MSG(rnn_state_feed(st, NULL, 1, 0));
    MSG(rnn_state_score(st, tok, 1, 0, NULL));
    MSG(rnn_state_score(st, bad_neg, 3, 0, sc));
    MSG(rnn_state_get_logprobs(st, NULL));
    MSG(rnn_state_draw(st, NULL, NULL));
    MSG(rnn_state_generate(st, NULL, 3, NULL));
    MSG(rnn_state_get_hidden(st, NULL, NULL));
    MSG(rnn_state_set_hidden(st, NULL, NULL));
    MSG(rnn_state_get_batch(st, NULL));
#undef MSG
    take(st, &h1);
    ck_assert(hs_bitequal(&h0, &h1));
    /* the generators did not move either */
    int32_t g1[B * 20], g2[B * 20];
    OK(rnn_state_generate(st, NULL, 20, g1));
    OK(rnn_state_generate(twin, NULL, 20, g2));
    ck_assert(memcmp(g1, g2, sizeof g1) == 0);

    /* get/set round trip; set with c NULL zeros LSTM's cell state */
    take(st, &h0);
    OK(rnn_state_reset(twin));
    OK(rnn_state_set_hidden(twin, h0.h, h0.c));
    take(twin, &h1);
    ck_assert(hs_bitequal(&h0, &h1));
    OK(rnn_state_set_hidden(twin, h0.h, NULL));
    take(twin, &h1);
    ck_assert(memcmp(h1.h, h0.h, h0.n * sizeof(float)) == 0);
    for (size_t i = 0; i < h1.n; i++) ck_assert(h1.c[i] == 0.0f);
    /* get with c NULL is fine */
    OK(rnn_state_get_hidden(st, hbuf, NULL));
    ck_assert(memcmp(hbuf, h0.h, h0.n * sizeof(float)) == 0);
    /* generate of 0 tokens is a no-op or an error, never a change */
    int rc0 = rnn_state_generate(st, NULL, 0, nx);
    ck_assert(rc0 == RNN_OK || rc0 == RNN_ERR_INVALID);
    take(st, &h1);
    ck_assert(hs_bitequal(&h0, &h1));

    rnn_state_free(st);
    rnn_state_free(twin);
    rnn_model_free(m);
}
END_TEST

/* ---- the model is only read --------------------------------------------------------------------- */
START_TEST(test_model_readonly)
{
    int cell = _i;
    enum { B = 2 };
    rnn_model *m = make_model(cell, 111 + cell), *twin = make_model(cell, 111 + cell);
    int32_t tok[B * 5];
    fill_tokens(tok, B * 5, V, 111);
    OK(rnn_model_reset_hidden(m, B));
    OK(rnn_model_reset_hidden(twin, B));
    OK(rnn_evaluate(m, tok, NULL, B, 5, 0, NULL, NULL));
    OK(rnn_evaluate(twin, tok, NULL, B, 5, 0, NULL, NULL));
    float *p, *g;
    size_t n;
    OK(rnn_param_get_block(m, &p, &g, &n));
    float *p0 = malloc(n * sizeof(float)), *g0 = malloc(n * sizeof(float));
    memcpy(p0, p, n * sizeof(float));
    memcpy(g0, g, n * sizeof(float));
    rnn_state *st = make_state(m, 3, 1);
    int32_t t3[3 * 5], out[3 * 40];
    double sc[3];
    float lp[3 * V];
    fill_tokens(t3, 3 * 5, V, 112);
    OK(rnn_state_feed(st, t3, 5, 0));
    OK(rnn_state_score(st, t3, 5, 0, sc));
    OK(rnn_state_generate(st, &(rnn_sampling)SMPL(SMP_SIZE, 0.9f, 5, 0.9f), 40, out));
    OK(rnn_state_get_logprobs(st, lp));
    OK(rnn_state_reset(st));
    ck_assert(memcmp(p, p0, n * sizeof(float)) == 0);
    ck_assert(memcmp(g, g0, n * sizeof(float)) == 0);
    int mb;
    OK(rnn_model_get_batch(m, &mb));
    ck_assert_int_eq(mb, B);
    /* the model's hidden state and generator are untouched: it keeps agreeing with its twin */
    int32_t a[B], b[B];
    for (int i = 0; i < 10; i++) {
        OK(rnn_sample(m, tok, B, SMP(1.0f), a));
        OK(rnn_sample(twin, tok, B, SMP(1.0f), b));
        ck_assert(a[0] == b[0] && a[1] == b[1]);
    }
    float hm[L * B * H], ht[L * B * H];
    OK(rnn_model_get_hidden(m, B, hm, NULL));
    OK(rnn_model_get_hidden(twin, B, ht, NULL));
    ck_assert(memcmp(hm, ht, sizeof hm) == 0);
    ck_assert_str_eq(rnn_model_errmsg(m), "");
    rnn_state_free(st);
    free(p0);
    free(g0);
    rnn_model_free(m);
    rnn_model_free(twin);
}
END_TEST

/* ---- numeric ---------------------------------------------------------------------------------- */
/* decoder.bias made into a distribution that is not one: how 0 a NaN logit, 1 a +inf one, 2 all -inf */
static void spoil(float *bias, int how)
{
    for (int v = 0; v < V; v++)
        if (how == 2 || v == 4) bias[v] = how == 0 ? NAN : how == 1 ? INFINITY : -INFINITY;
}

/* A next-token distribution that is not one (a NaN or +inf logit, every logit -inf), in any
 * sampling mode: rnn_state_draw and rnn_state_generate return RNN_ERR_NUMERIC with a message and
 * write nothing; the state, its generators included, is left as it was (a twin that never failed
 * keeps agreeing). A single -inf logit is a distribution (that token is never drawn). generate
 * failing at token i leaves what generate of i tokens leaves. */
START_TEST(test_draw_nonfinite)
{
    int cell = _i;
    enum { B = 2, P = 3, X = 7 };
    const rnn_sampling modes[] = {SMPL(SMP_SIZE, 1.0f, 0, 1.0f), SMPL(SMP_SIZE, 0.0f, 0, 1.0f), SMPL(SMP_SIZE, 0.7f, 5, 0.9f)};
    rnn_model *m = make_model(cell, 151 + cell);
    rnn_param db = PARAM_INIT, enc = PARAM_INIT;
    OK(rnn_param_find(m, "decoder.bias", &db));
    OK(rnn_param_find(m, "encoder.weight", &enc));
    float keep[V];
    memcpy(keep, db.data, sizeof keep);
    int32_t pre[B * P], nx[B], nt[B], out[B * 4];
    fill_tokens(pre, B * P, V, 160 + cell);
    rnn_state *st = make_state(m, B, 3), *twin = make_state(m, B, 3);
    OK(rnn_state_feed(st, pre, P, 0));
    OK(rnn_state_feed(twin, pre, P, 0));
    hs h0, h1;
    take(st, &h0);
    for (int bad = 0; bad < 3; bad++)
        for (int k = 0; k < 3; k++) {
            spoil(db.data, bad);
            for (int b = 0; b < B; b++) nx[b] = -5;
            for (int i = 0; i < B * 4; i++) out[i] = -5;
            int rc = rnn_state_draw(st, &modes[k], nx);
            ck_assert_msg(rc == RNN_ERR_NUMERIC, "%s: bad %d, mode %d: draw -> %d", CELL_NAME[cell], bad, k, rc);
            ck_assert_int_eq(rnn_state_errcode(st), RNN_ERR_NUMERIC);
            ck_assert(strstr(rnn_state_errmsg(st), "stream 0") != NULL);
            rc = rnn_state_generate(st, &modes[k], 4, out);
            ck_assert_msg(rc == RNN_ERR_NUMERIC, "%s: bad %d, mode %d: generate -> %d", CELL_NAME[cell], bad, k, rc);
            ck_assert_msg(strstr(rnn_state_errmsg(st), "token 0 of 4") != NULL, "%s", rnn_state_errmsg(st));
            for (int b = 0; b < B; b++) ck_assert_int_eq(nx[b], -5);
            for (int i = 0; i < B * 4; i++) ck_assert_int_eq(out[i], -5);
            memcpy(db.data, keep, sizeof keep);
            take(st, &h1);
            ck_assert(hs_bitequal(&h0, &h1));
        }
    for (int r = 0; r < 5; r++) {
        OK(rnn_state_draw(st, NULL, nx));
        OK(rnn_state_draw(twin, NULL, nt));
        ck_assert(memcmp(nx, nt, sizeof nx) == 0);
    }
    db.data[4] = -INFINITY;
    for (int r = 0; r < 50; r++) {
        OK(rnn_state_draw(st, NULL, nx));
        for (int b = 0; b < B; b++) ck_assert_int_ne(nx[b], 4);
    }
    memcpy(db.data, keep, sizeof keep);
    /* token X is every stream's first greedy draw, and its embedding is NaN: the draw of token 1
     * fails; token 0 stands and the state is past it, as after generate(st, greedy, 1, ...) */
    db.data[X] = 1000.0f;
    enc.data[(size_t)X * E] = NAN;
    for (int i = 0; i < B * 4; i++) out[i] = -5;
    int rc = rnn_state_generate(st, &modes[1], 4, out);
    ck_assert_msg(rc == RNN_ERR_NUMERIC, "%s: generate into a NaN state -> %d", CELL_NAME[cell], rc);
    ck_assert_msg(strstr(rnn_state_errmsg(st), "token 1 of 4") != NULL, "%s", rnn_state_errmsg(st));
    int32_t one[B];
    OK(rnn_state_generate(twin, &modes[1], 1, one));
    for (int b = 0; b < B; b++) {
        ck_assert_int_eq(out[b * 4], X);
        ck_assert_int_eq(one[b], X);
        for (int i = 1; i < 4; i++) ck_assert_int_eq(out[b * 4 + i], -5);
    }
    take(st, &h0);
    take(twin, &h1);
    ck_assert(hs_bitequal(&h0, &h1));
    ck_assert(isnan(h0.h[0]));
    rnn_state_free(st);
    rnn_state_free(twin);
    rnn_model_free(m);
}
END_TEST

int main(void)
{
    VERBOSE = getenv("TEST_STATE_VERBOSE") != NULL;
    Suite *s = suite_create("state");
    TCase *tc;

    tc = tcase_create("score");
    tcase_add_loop_test(tc, test_score_consistency, 0, NCELLS);
    suite_add_tcase(s, tc);

    tc = tcase_create("feed");
    tcase_add_loop_test(tc, test_feed_one_pass, 0, NCELLS);
    suite_add_tcase(s, tc);

    tc = tcase_create("long");
    tcase_add_loop_test(tc, test_chunk_one_pass, 0, 2 * NCELLS);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);

    tc = tcase_create("stride");
    tcase_add_loop_test(tc, test_stride_feed_score, 0, NCELLS);
    suite_add_tcase(s, tc);

    tc = tcase_create("beam");
    tcase_add_loop_test(tc, test_beam_search, 0, NCELLS);
    suite_add_tcase(s, tc);

    tc = tcase_create("batch");
    tcase_add_loop_test(tc, test_batched_generation, 0, NCELLS * NSAMP);
    suite_add_tcase(s, tc);

    tc = tcase_create("fork");
    tcase_add_loop_test(tc, test_fork_reset, 0, NCELLS);
    suite_add_tcase(s, tc);

    tc = tcase_create("sampling");
    tcase_add_test(tc, test_sampling_greedy_topk);
    tcase_add_test(tc, test_sampling_top_p);
    tcase_add_test(tc, test_sampling_bad_values);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("numeric");
    tcase_add_loop_test(tc, test_draw_nonfinite, 0, NCELLS);
    suite_add_tcase(s, tc);

    tc = tcase_create("threads");
    tcase_add_loop_test(tc, test_threads, 0, NCELLS);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("alloc");
    tcase_add_loop_test(tc, test_alloc, 0, NCELLS);
    tcase_add_test(tc, test_alloc_fail);
    tcase_add_test(tc, test_long_input_memory);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);

    tc = tcase_create("args");
    tcase_add_loop_test(tc, test_args, 0, NCELLS);
    suite_add_tcase(s, tc);

    tc = tcase_create("readonly");
    tcase_add_loop_test(tc, test_model_readonly, 0, NCELLS);
    suite_add_tcase(s, tc);

    return tu_run(s);
}
