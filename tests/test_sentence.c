/*
 * test_sentence.c -- rnn_state_score_sentence: each stream's tokens scored as a sentence on its own,
 * from the sentence start state (zeros, then "<eos>" when the vocabulary has it), against
 * include/rnn.h. Every cell, random weights, dropout 0.5 (a state must not apply it). One TCase per
 * topic:
 *   repeat     identical sentences get identical scores (bit for bit) whatever the state scored
 *              or fed before, also on a fresh state
 *   byhand     the score and the state after it equal rnn_state_reset + rnn_state_feed("<eos>") +
 *              rnn_state_score, bit for bit, for a short sentence and one longer than a chunk
 *   batch      a batch-4 state scoring 4 sentences == 4 one-stream states (hidden states bit for
 *              bit, scores within rounding: the decoder is one CBLAS product over all streams)
 *   novocab    a model without a vocabulary, and one whose vocabulary lacks "<eos>", start from the
 *              zero state alone (== rnn_state_reset + rnn_state_score)
 *   empty      steps 0: logprob 0, the state is the start state, tokens may be NULL
 *   generators the per-stream generators are left as they were (a draw after the call equals a draw
 *              from a copy taken before, given the same hidden state)
 *   args       bad arguments give the documented code and leave the state as it was; so does an
 *              allocation failure of the workspace
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "rnn.h"
#include "model.h" /* rnn__chunk_steps: a sentence longer than one chunk */

enum { V = 37, E = 9, H = 12, L = 2, NCELLS = 4, EOS = 5, MAXB = 4, LONG = 300 };
static const char *const CELL_NAME[NCELLS] = {"RNN_TANH", "RNN_RELU", "LSTM", "GRU"};

#define OK(call)                                                                                   \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        ck_assert_msg(rc_ == RNN_OK, "%s -> %d (%s)", #call, rc_, rnn_status_string(rc_));         \
    } while (0)

/* ---- helpers ---------------------------------------------------------------------------------- */
/* An allocator that can be told to fail (the workspace's growth). */
static int fail_allocs;
static void *hook_alloc(void *user, size_t size)
{
    (void)user;
    return fail_allocs ? NULL : malloc(size);
}
static void hook_free(void *user, void *p)
{
    (void)user;
    free(p);
}
static const rnn_allocator HOOKS = {sizeof(rnn_allocator), hook_alloc, hook_free, NULL};

/* vocab: 0 none, 1 words with "<eos>" at EOS, 2 words without "<eos>" */
static rnn_model *make_model(int cell, uint64_t seed, int vocab)
{
    rnn_config c;
    rnn_config_init(&c, sizeof c);
    c.cell = cell, c.vocab_size = V, c.emb_size = E, c.hidden_size = H, c.num_layers = L;
    c.dropout = 0.5f, c.seed = seed;
    rnn_model *m = NULL;
    OK(rnn_model_create(&m, &c, &HOOKS, NULL, 0));
    int n;
    OK(rnn_param_get_count(m, &n));
    uint64_t s = seed * 7919u + 13u;
    for (int i = 0; i < n; i++) {
        rnn_param p = {.struct_size = sizeof(rnn_param)};
        OK(rnn_param_get(m, i, &p));
        float sc = strncmp(p.name, "rnn.", 4) == 0 ? 0.35f : 0.9f;
        for (size_t j = 0; j < p.size; j++) p.data[j] = (float)((2.0 * tu_uniform(&s) - 1.0) * sc);
    }
    if (vocab) {
        char buf[V][8];
        const char *words[V];
        for (int i = 0; i < V; i++) {
            snprintf(buf[i], sizeof buf[i], "w%d", i);
            words[i] = buf[i];
        }
        if (vocab == 1) words[EOS] = "<eos>";
        OK(rnn_vocab_set(m, words, V));
    }
    return m;
}

static rnn_state *make_state(const rnn_model *m, int batch, uint64_t seed)
{
    rnn_state *st = NULL;
    OK(rnn_state_create(&st, m, batch, seed));
    return st;
}

static void fill_tokens(int32_t *t, size_t n, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) t[i] = (int32_t)(tu_next(&s) % V);
}

/* hidden state snapshot: h and c, L x MAXB x H each (c zero for non-LSTM cells) */
typedef struct {
    float h[L * MAXB * H], c[L * MAXB * H];
} hs;

static void take(const rnn_state *st, hs *s)
{
    memset(s, 0, sizeof *s);
    OK(rnn_state_get_hidden(st, s->h, s->c));
}

static int hs_equal(const hs *a, const hs *b) { return memcmp(a, b, sizeof *a) == 0; }

/* ---- tests ------------------------------------------------------------------------------------- */
START_TEST(test_repeat)
{
    int cell = _i;
    rnn_model *m = make_model(cell, 11 + (uint64_t)cell, 1);
    rnn_state *st = make_state(m, 1, 3), *fresh = make_state(m, 1, 3);
    int32_t sent[9], junk[40];
    fill_tokens(sent, 9, 101);
    fill_tokens(junk, 40, 202);
    double a = 0, b = 0, c = 0, d = 0, tmp;
    hs ha, hb;
    OK(rnn_state_score_sentence(st, sent, 9, 0, &a));
    take(st, &ha);
    OK(rnn_state_score(st, junk, 40, 0, &tmp)); /* a state that has moved on */
    OK(rnn_state_score_sentence(st, sent, 9, 0, &b));
    take(st, &hb);
    OK(rnn_state_feed(st, junk, 17, 0));
    OK(rnn_state_score_sentence(st, junk, 5, 0, &tmp)); /* another sentence in between */
    OK(rnn_state_score_sentence(st, sent, 9, 0, &c));
    OK(rnn_state_score_sentence(fresh, sent, 9, 0, &d));
    ck_assert_msg(isfinite(a) && a < 0, "%s: score %g", CELL_NAME[cell], a);
    ck_assert_msg(memcmp(&a, &b, sizeof a) == 0 && memcmp(&a, &c, sizeof a) == 0 && memcmp(&a, &d, sizeof a) == 0,
                  "%s: one sentence scored %.17g, %.17g, %.17g, %.17g", CELL_NAME[cell], a, b, c, d);
    ck_assert_msg(hs_equal(&ha, &hb), "%s: the state after the same sentence differs", CELL_NAME[cell]);
    /* the carried score of the same tokens differs: the test can tell the two apart */
    OK(rnn_state_score(st, sent, 9, 0, &tmp));
    ck_assert_msg(tmp != a, "%s: carried score equals the sentence score", CELL_NAME[cell]);
    rnn_state_free(st);
    rnn_state_free(fresh);
    rnn_model_free(m);
}
END_TEST

START_TEST(test_byhand)
{
    int cell = _i;
    rnn_model *m = make_model(cell, 21 + (uint64_t)cell, 1);
    ck_assert_int_gt(LONG, rnn__chunk_steps(1));
    static int32_t sent[LONG], junk[30];
    fill_tokens(sent, LONG, 303);
    fill_tokens(junk, 30, 404);
    const int lens[2] = {7, LONG};
    for (int k = 0; k < 2; k++) {
        rnn_state *a = make_state(m, 1, 5), *b = make_state(m, 1, 5);
        double sa = 0, sb = 0, tmp;
        OK(rnn_state_score(a, junk, 30, 0, &tmp));
        OK(rnn_state_score_sentence(a, sent, lens[k], 0, &sa));
        int32_t eos = EOS;
        OK(rnn_state_reset(b));
        OK(rnn_state_feed(b, &eos, 1, 0));
        OK(rnn_state_score(b, sent, lens[k], 0, &sb));
        hs ha, hb;
        take(a, &ha);
        take(b, &hb);
        ck_assert_msg(memcmp(&sa, &sb, sizeof sa) == 0, "%s, %d tokens: sentence %.17g vs by hand %.17g",
                      CELL_NAME[cell], lens[k], sa, sb);
        ck_assert_msg(hs_equal(&ha, &hb), "%s, %d tokens: state after the sentence != by hand", CELL_NAME[cell],
                      lens[k]);
        rnn_state_free(a);
        rnn_state_free(b);
    }
    rnn_model_free(m);
}
END_TEST

START_TEST(test_batch)
{
    int cell = _i;
    enum { B = MAXB, N = 11, STRIDE = 16 };
    rnn_model *m = make_model(cell, 31 + (uint64_t)cell, 1);
    rnn_state *big = make_state(m, B, 9);
    int32_t tok[B * STRIDE], junk[B * 6];
    fill_tokens(tok, B * STRIDE, 505);
    fill_tokens(junk, B * 6, 606);
    double sc[B], tmp[B];
    OK(rnn_state_score(big, junk, 6, 0, tmp)); /* whatever came before */
    OK(rnn_state_score_sentence(big, tok, N, STRIDE, sc));
    hs hbig;
    take(big, &hbig);
    for (int b = 0; b < B; b++) {
        rnn_state *one = make_state(m, 1, 9 + (uint64_t)b);
        double s1 = 0;
        OK(rnn_state_score_sentence(one, tok + b * STRIDE, N, 0, &s1));
        ck_assert_msg(fabs(s1 - sc[b]) <= 1e-5 * fmax(1.0, fabs(s1)), "%s: stream %d: batched %.9g vs alone %.9g",
                      CELL_NAME[cell], b, sc[b], s1);
        hs h1;
        take(one, &h1);
        for (int l = 0; l < L; l++) { /* stream b's rows of the batched state, bit for bit */
            ck_assert(memcmp(h1.h + l * H, hbig.h + ((size_t)l * B + b) * H, H * sizeof(float)) == 0);
            ck_assert(memcmp(h1.c + l * H, hbig.c + ((size_t)l * B + b) * H, H * sizeof(float)) == 0);
        }
        rnn_state_free(one);
    }
    rnn_state_free(big);
    rnn_model_free(m);
}
END_TEST

START_TEST(test_novocab)
{
    int cell = _i / 2, vocab = _i % 2 ? 2 : 0; /* none, or one without "<eos>" */
    rnn_model *m = make_model(cell, 41 + (uint64_t)cell, vocab);
    rnn_state *a = make_state(m, 1, 1), *b = make_state(m, 1, 1), *e = make_state(m, 1, 1);
    int32_t sent[8], junk[12];
    fill_tokens(sent, 8, 707);
    fill_tokens(junk, 12, 808);
    double sa = 0, sb = 0, se = 0, tmp;
    OK(rnn_state_feed(a, junk, 12, 0));
    OK(rnn_state_score_sentence(a, sent, 8, 0, &sa));
    OK(rnn_state_reset(b));
    OK(rnn_state_score(b, sent, 8, 0, &sb));
    ck_assert_msg(memcmp(&sa, &sb, sizeof sa) == 0, "%s, vocabulary %d: sentence %.17g vs zero state %.17g",
                  CELL_NAME[cell], vocab, sa, sb);
    hs ha, hb;
    take(a, &ha);
    take(b, &hb);
    ck_assert(hs_equal(&ha, &hb));
    /* and it is not what a start from token EOS gives (the test can tell) */
    int32_t eos = EOS;
    OK(rnn_state_feed(e, &eos, 1, 0));
    OK(rnn_state_score(e, sent, 8, 0, &se));
    ck_assert(se != sa);
    (void)tmp;
    rnn_state_free(a);
    rnn_state_free(b);
    rnn_state_free(e);
    rnn_model_free(m);
}
END_TEST

START_TEST(test_empty)
{
    int cell = _i;
    rnn_model *m = make_model(cell, 51 + (uint64_t)cell, 1);
    rnn_state *a = make_state(m, 2, 1), *b = make_state(m, 2, 1);
    int32_t junk[2 * 5];
    fill_tokens(junk, 10, 909);
    OK(rnn_state_feed(a, junk, 5, 0));
    double lp[2] = {7, 7};
    OK(rnn_state_score_sentence(a, NULL, 0, 0, lp));
    ck_assert(lp[0] == 0.0 && lp[1] == 0.0);
    int32_t eos[2] = {EOS, EOS};
    OK(rnn_state_feed(b, eos, 1, 0));
    hs ha, hb;
    take(a, &ha);
    take(b, &hb);
    ck_assert_msg(hs_equal(&ha, &hb), "%s: steps 0 does not leave the start state", CELL_NAME[cell]);
    rnn_state_free(a);
    rnn_state_free(b);
    rnn_model_free(m);
}
END_TEST

START_TEST(test_generators)
{
    int cell = _i;
    rnn_model *m = make_model(cell, 61 + (uint64_t)cell, 1);
    rnn_state *a = make_state(m, 3, 77), *b = NULL;
    int32_t junk[3 * 4], sent[3 * 6], da[3][8], db[3][8];
    fill_tokens(junk, 12, 111);
    fill_tokens(sent, 18, 222);
    int32_t d[3];
    OK(rnn_state_draw(a, NULL, d)); /* the generators have moved on from their seeds */
    OK(rnn_state_generate(a, NULL, 4, junk));
    OK(rnn_state_clone(&b, a));
    double lp[3];
    OK(rnn_state_score_sentence(a, sent, 6, 0, lp));
    hs ha;
    take(a, &ha);
    OK(rnn_state_set_hidden(b, ha.h, ha.c));
    OK(rnn_state_generate(a, NULL, 8, &da[0][0]));
    OK(rnn_state_generate(b, NULL, 8, &db[0][0]));
    ck_assert_msg(memcmp(da, db, sizeof da) == 0, "%s: the call changed the generators", CELL_NAME[cell]);
    rnn_state_free(a);
    rnn_state_free(b);
    rnn_model_free(m);
}
END_TEST

/* the call fails with want and leaves st's hidden state as `before` */
static void expect_fail(rnn_state *st, const hs *before, int want, const int32_t *tok, int steps, int stride,
                        double *lp, const char *what)
{
    int rc = rnn_state_score_sentence(st, tok, steps, stride, lp);
    ck_assert_msg(rc == want, "%s: got %d, want %d", what, rc, want);
    ck_assert_int_eq(rnn_state_errcode(st), want);
    ck_assert_msg(rnn_state_errmsg(st)[0] != 0, "%s: no message", what);
    hs after;
    take(st, &after);
    ck_assert_msg(hs_equal(before, &after), "%s: the state changed", what);
}

START_TEST(test_args)
{
    rnn_model *m = make_model(RNN_CELL_LSTM, 71, 1);
    rnn_state *st = make_state(m, 2, 1);
    int32_t tok[2 * 8];
    fill_tokens(tok, 16, 333);
    OK(rnn_state_feed(st, tok, 8, 0)); /* not the start state: a reset would show */
    hs before;
    take(st, &before);
    double lp[2];
    ck_assert_int_eq(rnn_state_score_sentence(NULL, tok, 4, 0, lp), RNN_ERR_INVALID);
    expect_fail(st, &before, RNN_ERR_INVALID, tok, 4, 0, NULL, "logprob NULL");
    expect_fail(st, &before, RNN_ERR_INVALID, NULL, 4, 0, lp, "tokens NULL");
    expect_fail(st, &before, RNN_ERR_INVALID, tok, -1, 0, lp, "steps -1");
    expect_fail(st, &before, RNN_ERR_INVALID, tok, 0, -1, lp, "stride -1");
    expect_fail(st, &before, RNN_ERR_INVALID, tok, 8, 4, lp, "stride < steps");
    int32_t bad[2 * 4];
    memcpy(bad, tok, sizeof bad);
    bad[6] = V;
    expect_fail(st, &before, RNN_ERR_RANGE, bad, 4, 0, lp, "token V");
    bad[6] = -1;
    expect_fail(st, &before, RNN_ERR_RANGE, bad, 4, 0, lp, "token -1");
    /* a workspace that cannot grow: RNN_ERR_NOMEM, nothing changed */
    static int32_t longer[2 * LONG];
    fill_tokens(longer, 2 * LONG, 444);
    fail_allocs = 1;
    expect_fail(st, &before, RNN_ERR_NOMEM, longer, LONG, 0, lp, "no memory");
    fail_allocs = 0;
    OK(rnn_state_score_sentence(st, longer, LONG, 0, lp));
    rnn_state_free(st);
    rnn_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sentence");
    TCase *tc = tcase_create("sentence");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_repeat, 0, NCELLS);
    tcase_add_loop_test(tc, test_byhand, 0, NCELLS);
    tcase_add_loop_test(tc, test_batch, 0, NCELLS);
    tcase_add_loop_test(tc, test_novocab, 0, 2 * NCELLS);
    tcase_add_loop_test(tc, test_empty, 0, NCELLS);
    tcase_add_loop_test(tc, test_generators, 0, NCELLS);
    tcase_add_test(tc, test_args);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
