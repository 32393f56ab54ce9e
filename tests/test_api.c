/*
 * test_api.c -- the public contract of include/rnn.h, call by call.
 *
 * One TCase per topic:
 *   misc        version, rnn_strerror, rnn_config_init, rnn_errmsg, rnn_model_free(NULL), config copy,
 *               the vocabulary calls
 *   config      rnn_model_create rejects every bad configuration with RNN_ERR_INVALID, *out = NULL
 *   null        every call given a NULL handle; rnn_model_load's argument checks
 *   badcall     every bad argument / out-of-order call on a live handle (each cell type): the
 *               documented code, a non-empty rnn_errmsg, and a model left exactly as it was. The
 *               check runs against a twin handle that never saw the bad call: parameters, gradients,
 *               hidden state compare byte for byte, and the twins keep agreeing afterwards (a
 *               pending backward, the generator, later training steps and samples)
 *   params      tensor names, order, shapes and tiling of the blocks, rnn_param_find, tying,
 *               initialisation ranges
 *   alloc       the allocation hooks: balance, zero steady-state allocations, rnn_reserve, failing
 *               allocators in rnn_model_create, rnn_reset_state and workspace growth
 *   determinism seeds: bit-identical training, rnn_set_seed, distinct handles in two threads
 *   semantics   evaluate vs forward, log-probs, RNN_IGNORE, SGD, gradient clipping, the carried
 *               hidden state, gradient accumulation, [batch][steps] layout
 *   sampling    empirical frequencies at temperature 1 and 0.5, greedy ties, reproducibility
 *   state       get/set/grad round trips
 */
#include "testutil.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "rnn.h"

/* The tiny model most tests use. */
enum { V = 11, E = 5, H = 6, L = 2, B = 3, T = 4 };
enum { NCELLS = 4 };
static const char *const CELL_NAME[NCELLS] = {"RNN_TANH", "RNN_RELU", "LSTM", "GRU"};
static const int CELL_GATES[NCELLS] = {1, 1, 4, 3};

/* Deterministic inputs, filled by main() before the runner forks. Room for batch B+2 x 2T. */
enum { MAXB = B + 2, MAXT = 2 * T };
static int32_t TOK[MAXB * MAXT], TGT[MAXB * MAXT], TOK2[MAXB * MAXT], TGT2[MAXB * MAXT];

static const char *const WORDS[V] = {"<eos>", "the", "a", "cat", "sat", "on", "mat", "dog", "ran", "far", "away"};
static const char *const WORDS2[V] = {"x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10"};

static void init_inputs(void)
{
    uint64_t s = 12345;
    for (int i = 0; i < MAXB * MAXT; i++) {
        TOK[i] = (int32_t)(tu_next(&s) % V);
        TGT[i] = (int32_t)(tu_next(&s) % V);
        TOK2[i] = (int32_t)(tu_next(&s) % V);
        TGT2[i] = (int32_t)(tu_next(&s) % V);
    }
}

static rnn_config tiny_cfg(int cell, int layers, float dropout)
{
    rnn_config c;
    rnn_config_init(&c);
    c.cell = cell;
    c.vocab_size = V;
    c.emb_size = E;
    c.hidden_size = H;
    c.num_layers = layers;
    c.dropout = dropout;
    c.seed = 4242;
    return c;
}

static rnn_model *make_model(const rnn_config *cfg)
{
    rnn_model *m = NULL;
    int rc = rnn_model_create(&m, cfg, NULL);
    ck_assert_msg(rc == RNN_OK, "rnn_model_create: %d (%s)", rc, rnn_strerror(rc));
    ck_assert_ptr_nonnull(m);
    return m;
}

#define OK(call)                                                                                   \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        ck_assert_msg(rc_ == RNN_OK, "%s -> %d (%s)", #call, rc_, rnn_strerror(rc_));             \
    } while (0)

static size_t state_len(int batch) { return (size_t)L * (size_t)batch * H; }

/* ---- Snapshots: parameter block, gradient block, hidden state -------------------------------- */
typedef struct {
    size_t n;
    float *p, *g;
    int batch;
    size_t ns;
    float *h, *c;
    int nvocab;
    char vocab[64][16];
} snap;

static void snap_take(const rnn_model *m, snap *s)
{
    memset(s, 0, sizeof *s);
    float *p, *g;
    OK(rnn_param_block(m, &p, &g, &s->n));
    s->p = malloc(s->n * sizeof(float));
    s->g = malloc(s->n * sizeof(float));
    memcpy(s->p, p, s->n * sizeof(float));
    memcpy(s->g, g, s->n * sizeof(float));
    OK(rnn_state_batch(m, &s->batch));
    rnn_config cfg;
    OK(rnn_model_config(m, &cfg));
    if (s->batch > 0) {
        s->ns = (size_t)cfg.num_layers * s->batch * cfg.hidden_size;
        s->h = malloc(s->ns * sizeof(float));
        s->c = malloc(s->ns * sizeof(float));
        memset(s->c, 0, s->ns * sizeof(float));
        OK(rnn_get_state(m, s->batch, s->h, cfg.cell == RNN_CELL_LSTM ? s->c : NULL));
    }
    OK(rnn_vocab_size(m, &s->nvocab));
    for (int i = 0; i < s->nvocab && i < 64; i++) {
        const char *w = NULL;
        OK(rnn_vocab_word(m, i, &w));
        snprintf(s->vocab[i], sizeof s->vocab[i], "%s", w);
    }
}

static void snap_free(snap *s)
{
    free(s->p);
    free(s->g);
    free(s->h);
    free(s->c);
    memset(s, 0, sizeof *s);
}

static void snap_expect_equal(const snap *a, const snap *b, const char *what)
{
    ck_assert_msg(a->n == b->n, "%s: parameter count %zu vs %zu", what, a->n, b->n);
    ck_assert_msg(memcmp(a->p, b->p, a->n * sizeof(float)) == 0, "%s: parameters changed", what);
    ck_assert_msg(memcmp(a->g, b->g, a->n * sizeof(float)) == 0, "%s: gradients changed", what);
    ck_assert_msg(a->batch == b->batch, "%s: state batch %d vs %d", what, a->batch, b->batch);
    if (a->batch > 0) {
        ck_assert_msg(memcmp(a->h, b->h, a->ns * sizeof(float)) == 0, "%s: hidden state h changed", what);
        ck_assert_msg(memcmp(a->c, b->c, a->ns * sizeof(float)) == 0, "%s: cell state c changed", what);
    }
    ck_assert_msg(a->nvocab == b->nvocab, "%s: vocabulary size %d vs %d", what, a->nvocab, b->nvocab);
    for (int i = 0; i < a->nvocab && i < 64; i++)
        ck_assert_msg(strcmp(a->vocab[i], b->vocab[i]) == 0, "%s: word %d changed", what, i);
}

static void expect_same_model(const rnn_model *a, const rnn_model *b, const char *what)
{
    snap sa, sb;
    snap_take(a, &sa);
    snap_take(b, &sb);
    snap_expect_equal(&sa, &sb, what);
    snap_free(&sa);
    snap_free(&sb);
}

/* ---- misc ------------------------------------------------------------------------------------ */
START_TEST(test_version)
{
    ck_assert_uint_eq(rnn_version_number(), RNN_VERSION_NUMBER);
    ck_assert_ptr_nonnull(rnn_version_string());
    ck_assert_str_eq(rnn_version_string(), RNN_VERSION_STRING);
    char buf[32];
    snprintf(buf, sizeof buf, "%d.%d.%d", RNN_VERSION_MAJOR, RNN_VERSION_MINOR, RNN_VERSION_PATCH);
    ck_assert_str_eq(RNN_VERSION_STRING, buf);
}
END_TEST

START_TEST(test_strerror)
{
    /* the codes are fixed forever */
    ck_assert_int_eq(RNN_OK, 0);
    ck_assert_int_eq(RNN_ERR_INVALID, 1);
    ck_assert_int_eq(RNN_ERR_RANGE, 2);
    ck_assert_int_eq(RNN_ERR_STATE, 3);
    ck_assert_int_eq(RNN_ERR_NOMEM, 4);
    ck_assert_int_eq(RNN_ERR_IO, 5);
    ck_assert_int_eq(RNN_ERR_FORMAT, 6);
    ck_assert_int_eq(RNN_ERR_NUMERIC, 7);
    ck_assert_int_eq(RNN_ERR_NOTFOUND, 8);
    ck_assert_int_eq(RNN_IGNORE, -1);
    const char *s[9];
    for (int i = 0; i <= 8; i++) {
        s[i] = rnn_strerror(i);
        ck_assert_ptr_nonnull(s[i]);
        ck_assert_msg(s[i][0] != '\0', "rnn_strerror(%d) is empty", i);
        ck_assert_msg(strcmp(s[i], "unknown error") != 0, "rnn_strerror(%d) is 'unknown error'", i);
        for (int j = 0; j < i; j++)
            ck_assert_msg(strcmp(s[i], s[j]) != 0, "rnn_strerror(%d) == rnn_strerror(%d)", i, j);
    }
    const int unknown[] = {-1, 9, 10, 100, INT_MAX, INT_MIN};
    for (size_t k = 0; k < sizeof unknown / sizeof *unknown; k++) {
        const char *u = rnn_strerror(unknown[k]);
        ck_assert_ptr_nonnull(u);
        ck_assert_str_eq(u, "unknown error");
    }
}
END_TEST

START_TEST(test_config_init)
{
    rnn_config c;
    memset(&c, 0x5A, sizeof c);
    rnn_config_init(&c);
    ck_assert_int_eq(c.cell, RNN_CELL_LSTM);
    ck_assert_int_eq(c.vocab_size, 0);
    ck_assert_int_eq(c.emb_size, 200);
    ck_assert_int_eq(c.hidden_size, 200);
    ck_assert_int_eq(c.num_layers, 2);
    ck_assert(c.dropout == 0.2f);
    ck_assert_int_eq(c.tied, 0);
    ck_assert(c.seed == 1111);
    rnn_config_init(NULL); /* ignored, no crash */
    /* the defaults plus a vocabulary make a valid model */
    c.vocab_size = 7;
    c.emb_size = c.hidden_size = 4; /* keep it small */
    rnn_model *m = make_model(&c);
    rnn_model_free(m);
}
END_TEST

START_TEST(test_vocab)
{
    rnn_config cfg = tiny_cfg(RNN_CELL_TANH, 1, 0.0f);
    rnn_model *m = make_model(&cfg);
    int n = -1;
    OK(rnn_vocab_size(m, &n));
    ck_assert_int_eq(n, 0);
    char buf[V][8];
    const char *words[V];
    for (int i = 0; i < V; i++) snprintf(buf[i], sizeof buf[i], "w%d", i), words[i] = buf[i];
    OK(rnn_vocab_set(m, words, V));
    memset(buf, 'z', sizeof buf); /* the words were copied */
    OK(rnn_vocab_size(m, &n));
    ck_assert_int_eq(n, V);
    for (int i = 0; i < V; i++) {
        const char *w = NULL;
        char want[8];
        snprintf(want, sizeof want, "w%d", i);
        OK(rnn_vocab_word(m, i, &w));
        ck_assert_ptr_nonnull(w);
        ck_assert_str_eq(w, want);
    }
    OK(rnn_vocab_set(m, WORDS, V)); /* replaced */
    for (int i = 0; i < V; i++) {
        const char *w = NULL;
        OK(rnn_vocab_word(m, i, &w));
        ck_assert_str_eq(w, WORDS[i]);
    }
    rnn_model_free(m);
}
END_TEST

START_TEST(test_free_null_errmsg_model_config)
{
    rnn_model_free(NULL); /* a no-op */
    const char *e = rnn_errmsg(NULL);
    ck_assert_ptr_nonnull(e);
    rnn_config cfg = tiny_cfg(RNN_CELL_GRU, 3, 0.25f);
    cfg.seed = 0xDEADBEEFCAFEull;
    rnn_model *m = make_model(&cfg);
    ck_assert_ptr_nonnull(rnn_errmsg(m));
    ck_assert_str_eq(rnn_errmsg(m), ""); /* nothing failed yet */
    rnn_config got;
    memset(&got, 0, sizeof got);
    OK(rnn_model_config(m, &got));
    ck_assert_int_eq(got.cell, cfg.cell);
    ck_assert_int_eq(got.vocab_size, cfg.vocab_size);
    ck_assert_int_eq(got.emb_size, cfg.emb_size);
    ck_assert_int_eq(got.hidden_size, cfg.hidden_size);
    ck_assert_int_eq(got.num_layers, cfg.num_layers);
    ck_assert(got.dropout == cfg.dropout);
    ck_assert(!got.tied == !cfg.tied);
    ck_assert(got.seed == cfg.seed);
    int b = -7;
    OK(rnn_state_batch(m, &b));
    ck_assert_int_eq(b, 0); /* no state before rnn_reset_state */
    /* the config is copied: changing ours later changes nothing */
    cfg.vocab_size = 99;
    OK(rnn_model_config(m, &got));
    ck_assert_int_eq(got.vocab_size, V);
    /* a failing call fills the message; a later successful one need not clear it */
    ck_assert_int_eq(rnn_reset_state(m, 0), RNN_ERR_INVALID);
    ck_assert_ptr_nonnull(rnn_errmsg(m));
    ck_assert(rnn_errmsg(m)[0] != '\0');
    rnn_model_free(m);
}
END_TEST

/* ---- config: rnn_model_create rejects bad configurations ------------------------------------ */
static void *dummy_alloc(void *u, size_t n) { (void)u; return malloc(n); }
static void dummy_free(void *u, void *p) { (void)u; free(p); }

typedef struct {
    const char *what;
    void (*mutate)(rnn_config *c);
} cfg_case;

static void mut_v0(rnn_config *c) { c->vocab_size = 0; }
static void mut_vneg(rnn_config *c) { c->vocab_size = -5; }
static void mut_vmin(rnn_config *c) { c->vocab_size = INT_MIN; }
static void mut_e0(rnn_config *c) { c->emb_size = 0; }
static void mut_eneg(rnn_config *c) { c->emb_size = -1; }
static void mut_h0(rnn_config *c) { c->hidden_size = 0; }
static void mut_hneg(rnn_config *c) { c->hidden_size = -8; }
static void mut_l0(rnn_config *c) { c->num_layers = 0; }
static void mut_lneg(rnn_config *c) { c->num_layers = -2; }
static void mut_dneg(rnn_config *c) { c->dropout = -0.1f; }
static void mut_dnegz(rnn_config *c) { c->dropout = -1e-30f; }
static void mut_d1(rnn_config *c) { c->dropout = 1.0f; }
static void mut_d15(rnn_config *c) { c->dropout = 1.5f; }
static void mut_dnan(rnn_config *c) { c->dropout = NAN; }
static void mut_dinf(rnn_config *c) { c->dropout = INFINITY; }
static void mut_dninf(rnn_config *c) { c->dropout = -INFINITY; }
static void mut_tied(rnn_config *c) { c->tied = 1, c->emb_size = 5, c->hidden_size = 6; }
static void mut_tied2(rnn_config *c) { c->tied = 7, c->emb_size = 8, c->hidden_size = 4; }
static void mut_cellneg(rnn_config *c) { c->cell = -1; }
static void mut_cell4(rnn_config *c) { c->cell = 4; }
static void mut_cellbig(rnn_config *c) { c->cell = 1000; }

static const cfg_case CFG_CASES[] = {
    {"vocab_size 0", mut_v0},         {"vocab_size -5", mut_vneg},
    {"vocab_size INT_MIN", mut_vmin}, {"emb_size 0", mut_e0},
    {"emb_size -1", mut_eneg},        {"hidden_size 0", mut_h0},
    {"hidden_size -8", mut_hneg},     {"num_layers 0", mut_l0},
    {"num_layers -2", mut_lneg},      {"dropout -0.1", mut_dneg},
    {"dropout -1e-30", mut_dnegz},    {"dropout 1.0", mut_d1},
    {"dropout 1.5", mut_d15},         {"dropout NaN", mut_dnan},
    {"dropout +inf", mut_dinf},       {"dropout -inf", mut_dninf},
    {"tied E 5 != H 6", mut_tied},    {"tied (7) E 8 != H 4", mut_tied2},
    {"cell -1", mut_cellneg},         {"cell 4", mut_cell4},
    {"cell 1000", mut_cellbig},
};

START_TEST(test_create_rejects_config)
{
    for (size_t k = 0; k < sizeof CFG_CASES / sizeof *CFG_CASES; k++) {
        rnn_config c = tiny_cfg(RNN_CELL_LSTM, 2, 0.2f);
        CFG_CASES[k].mutate(&c);
        rnn_model *m = (rnn_model *)&c; /* a non-NULL sentinel that must be overwritten */
        int rc = rnn_model_create(&m, &c, NULL);
        ck_assert_msg(rc == RNN_ERR_INVALID, "%s: got %d, want RNN_ERR_INVALID", CFG_CASES[k].what, rc);
        ck_assert_msg(m == NULL, "%s: *out not set to NULL", CFG_CASES[k].what);
    }
}
END_TEST

START_TEST(test_create_rejects_args)
{
    rnn_config c = tiny_cfg(RNN_CELL_LSTM, 2, 0.2f);
    ck_assert_int_eq(rnn_model_create(NULL, &c, NULL), RNN_ERR_INVALID);
    rnn_model *m = (rnn_model *)&c;
    ck_assert_int_eq(rnn_model_create(&m, NULL, NULL), RNN_ERR_INVALID);
    ck_assert_ptr_null(m);
    /* hooks with only one of alloc / free */
    rnn_allocator only_alloc = {dummy_alloc, NULL, NULL};
    rnn_allocator only_free = {NULL, dummy_free, NULL};
    m = (rnn_model *)&c;
    ck_assert_int_eq(rnn_model_create(&m, &c, &only_alloc), RNN_ERR_INVALID);
    ck_assert_ptr_null(m);
    m = (rnn_model *)&c;
    ck_assert_int_eq(rnn_model_create(&m, &c, &only_free), RNN_ERR_INVALID);
    ck_assert_ptr_null(m);
    /* both NULL: malloc/free */
    rnn_allocator none = {NULL, NULL, &c};
    OK(rnn_model_create(&m, &c, &none));
    ck_assert_ptr_nonnull(m);
    rnn_model_free(m);
    rnn_allocator both = {dummy_alloc, dummy_free, NULL};
    OK(rnn_model_create(&m, &c, &both));
    rnn_model_free(m);
    /* valid edges: dropout 0, one layer, tied with E == H, any nonzero tied value */
    c.dropout = 0.0f, c.num_layers = 1, c.tied = 3, c.emb_size = c.hidden_size = 4;
    OK(rnn_model_create(&m, &c, NULL));
    rnn_model_free(m);
    c.dropout = 0.99f, c.vocab_size = 1;
    OK(rnn_model_create(&m, &c, NULL));
    rnn_model_free(m);
}
END_TEST

/* ---- null: every call with a NULL handle ---------------------------------------------------- */
START_TEST(test_null_handle)
{
    int32_t tok[B * T] = {0}, next[B] = {0};
    float h[64], c[64];
    double loss = 0, norm = 0;
    int n = 0;
    rnn_param p;
    rnn_config cfg;
    float *pd, *pg;
    size_t cnt;
    ck_assert_int_eq(rnn_model_config(NULL, &cfg), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_reset_state(NULL, 1), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_reserve(NULL, 1, 1), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_state_batch(NULL, &n), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_get_state(NULL, 1, h, c), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_set_state(NULL, 1, h, c), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_get_state_grad(NULL, 1, h, c), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_forward(NULL, tok, tok, 1, 1, &loss), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_backward(NULL), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_zero_grad(NULL), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_clip_grad_norm(NULL, 0.25f, &norm), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_sgd_step(NULL, 0.1f), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_evaluate(NULL, tok, tok, 1, 1, &loss, NULL), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_sample(NULL, tok, 1, 1.0f, next), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_set_seed(NULL, 1), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_param_count(NULL, &n), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_param_get(NULL, 0, &p), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_param_find(NULL, "encoder.weight", &p), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_param_block(NULL, &pd, &pg, &cnt), RNN_ERR_INVALID);
    const char *w;
    ck_assert_int_eq(rnn_vocab_set(NULL, WORDS, V), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_vocab_size(NULL, &n), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_vocab_word(NULL, 0, &w), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_model_save(NULL, "/tmp/test_api_never_written.rnn"), RNN_ERR_INVALID);
    ck_assert_ptr_nonnull(rnn_errmsg(NULL));
    rnn_model_free(NULL);
}
END_TEST

/* rnn_model_load's argument checks: out is NULL on every failure, errbuf says why */
START_TEST(test_load_args)
{
    rnn_config c = tiny_cfg(RNN_CELL_LSTM, 1, 0.0f);
    char err[256];
    rnn_model *m;
    ck_assert_int_eq(rnn_model_load(NULL, "/nonexistent/x.rnn", NULL, err, sizeof err), RNN_ERR_INVALID);
    m = (rnn_model *)&c;
    err[0] = 0;
    ck_assert_int_eq(rnn_model_load(&m, NULL, NULL, err, sizeof err), RNN_ERR_INVALID);
    ck_assert_ptr_null(m);
    ck_assert(err[0] != '\0');
    m = (rnn_model *)&c;
    ck_assert_int_eq(rnn_model_load(&m, "/nonexistent/dir/x.rnn", NULL, NULL, 0), RNN_ERR_IO);
    ck_assert_ptr_null(m);
    rnn_allocator only_alloc = {dummy_alloc, NULL, NULL};
    rnn_allocator only_free = {NULL, dummy_free, NULL};
    m = (rnn_model *)&c;
    err[0] = 0;
    int rc = rnn_model_load(&m, "/nonexistent/dir/x.rnn", &only_alloc, err, sizeof err);
    ck_assert_int_eq(rc, RNN_ERR_INVALID);
    ck_assert_msg(m == NULL, "rnn_model_load with only an alloc hook: *out not set to NULL");
    ck_assert(err[0] != '\0');
    m = (rnn_model *)&c;
    rc = rnn_model_load(&m, "/nonexistent/dir/x.rnn", &only_free, err, sizeof err);
    ck_assert_int_eq(rc, RNN_ERR_INVALID);
    ck_assert_msg(m == NULL, "rnn_model_load with only a free hook: *out not set to NULL");
}
END_TEST

/* ---- badcall: bad arguments and wrong order on a live handle -------------------------------- */
/*
 * Preparation levels. Every one makes only successful calls, so rnn_errmsg stays "".
 *   CREATED  rnn_model_create only (no hidden state)
 *   RESET    + rnn_reset_state(B)
 *   FORWARD  + rnn_forward (a backward pending; no backward ever)
 *   IDLE     + forward, zero_grad, backward, clip, sgd_step (nothing pending; gradients nonzero)
 *   PENDING  IDLE + another rnn_forward (a backward pending; state gradient available)
 */
enum { LV_CREATED, LV_RESET, LV_FORWARD, LV_IDLE, LV_PENDING };

static rnn_model *prep(int level, int cell)
{
    rnn_config cfg = tiny_cfg(cell, L, 0.3f);
    rnn_model *m = make_model(&cfg);
    double loss;
    if (level >= LV_RESET) OK(rnn_reset_state(m, B));
    if (level >= LV_FORWARD) OK(rnn_forward(m, TOK, TGT, B, T, &loss));
    if (level >= LV_IDLE) {
        OK(rnn_zero_grad(m));
        OK(rnn_backward(m));
        OK(rnn_clip_grad_norm(m, 5.0f, NULL));
        OK(rnn_sgd_step(m, 0.5f));
    }
    if (level >= LV_PENDING) OK(rnn_forward(m, TOK2, TGT2, B, T, &loss));
    ck_assert_str_eq(rnn_errmsg(m), "");
    return m;
}

/* Scratch for the bad calls (all large enough for batch B+2, L layers, 2T steps). */
static float SH[L * MAXB * H], SC[L * MAXB * H];
static int32_t SNEXT[MAXB];
static int32_t BADTOK[MAXB * MAXT];
static double SLOSS;
static float SLOGP[MAXB * MAXT * V];
static rnn_param SPARAM;

static const int32_t *tok_with(int idx, int32_t v)
{
    memcpy(BADTOK, TOK, sizeof BADTOK);
    BADTOK[idx] = v;
    return BADTOK;
}
static const int32_t *tgt_with(int idx, int32_t v)
{
    memcpy(BADTOK, TGT, sizeof BADTOK);
    BADTOK[idx] = v;
    return BADTOK;
}

/* A bad call: with bad == 0 only its (successful) preamble, with bad != 0 the preamble and the bad
 * call, whose status is returned. */
typedef int (*bad_fn)(rnn_model *m, int bad);
#define BADCALL(fname, expr)                                                                       \
    static int fname(rnn_model *m, int bad)                                                        \
    {                                                                                              \
        if (!bad) return RNN_OK;                                                                   \
        return (expr);                                                                             \
    }

BADCALL(bc_reset0, rnn_reset_state(m, 0))
BADCALL(bc_resetneg, rnn_reset_state(m, -3))
BADCALL(bc_resetmin, rnn_reset_state(m, INT_MIN))
BADCALL(bc_reserve_b0, rnn_reserve(m, 0, T))
BADCALL(bc_reserve_t0, rnn_reserve(m, B, 0))
BADCALL(bc_reserve_neg, rnn_reserve(m, -1, -1))
BADCALL(bc_reserve_tneg, rnn_reserve(m, B, -4))
BADCALL(bc_state_batch_null, rnn_state_batch(m, NULL))
BADCALL(bc_get_null, rnn_get_state(m, B, NULL, SC))
BADCALL(bc_get_bigger, rnn_get_state(m, B + 1, SH, SC))
BADCALL(bc_get_smaller, rnn_get_state(m, B - 1, SH, SC))
BADCALL(bc_get_b, rnn_get_state(m, B, SH, SC))
BADCALL(bc_set_null, rnn_set_state(m, B, NULL, SC))
BADCALL(bc_set_bigger, rnn_set_state(m, B + 1, SH, SC))
BADCALL(bc_set_smaller, rnn_set_state(m, B - 1, SH, SC))
BADCALL(bc_set_b, rnn_set_state(m, B, SH, SC))
BADCALL(bc_sgrad_null, rnn_get_state_grad(m, B, NULL, SC))
BADCALL(bc_sgrad_bigger, rnn_get_state_grad(m, B + 1, SH, SC))
BADCALL(bc_sgrad_b, rnn_get_state_grad(m, B, SH, SC))
/* rnn_forward */
BADCALL(bc_fw_tok_null, rnn_forward(m, NULL, TGT, B, T, &SLOSS))
BADCALL(bc_fw_tgt_null, rnn_forward(m, TOK, NULL, B, T, &SLOSS))
BADCALL(bc_fw_b0, rnn_forward(m, TOK, TGT, 0, T, &SLOSS))
BADCALL(bc_fw_bneg, rnn_forward(m, TOK, TGT, -1, T, &SLOSS))
BADCALL(bc_fw_t0, rnn_forward(m, TOK, TGT, B, 0, &SLOSS))
BADCALL(bc_fw_tneg, rnn_forward(m, TOK, TGT, B, -2, &SLOSS))
BADCALL(bc_fw_tok_neg, rnn_forward(m, tok_with(5, -1), TGT, B, T, &SLOSS))
BADCALL(bc_fw_tok_v, rnn_forward(m, tok_with(0, V), TGT, B, T, &SLOSS))
BADCALL(bc_fw_tok_last, rnn_forward(m, tok_with(B * T - 1, V), TGT, B, T, &SLOSS))
BADCALL(bc_fw_tok_max, rnn_forward(m, tok_with(3, INT32_MAX), TGT, B, T, &SLOSS))
BADCALL(bc_fw_tok_min, rnn_forward(m, tok_with(7, INT32_MIN), TGT, B, T, &SLOSS))
BADCALL(bc_fw_tgt_v, rnn_forward(m, TOK, tgt_with(2, V), B, T, &SLOSS))
BADCALL(bc_fw_tgt_last, rnn_forward(m, TOK, tgt_with(B * T - 1, V + 100), B, T, &SLOSS))
BADCALL(bc_fw_tgt_m2, rnn_forward(m, TOK, tgt_with(4, -2), B, T, &SLOSS))
BADCALL(bc_fw_tgt_min, rnn_forward(m, TOK, tgt_with(6, INT32_MIN), B, T, &SLOSS))
BADCALL(bc_fw_bigger, rnn_forward(m, TOK, TGT, B + 1, T, &SLOSS))
BADCALL(bc_fw_smaller, rnn_forward(m, TOK, TGT, B - 1, T, &SLOSS))
BADCALL(bc_fw_b, rnn_forward(m, TOK, TGT, B, T, &SLOSS))
/* rnn_evaluate */
BADCALL(bc_ev_tok_null, rnn_evaluate(m, NULL, TGT, B, T, &SLOSS, SLOGP))
BADCALL(bc_ev_b0, rnn_evaluate(m, TOK, TGT, 0, T, &SLOSS, SLOGP))
BADCALL(bc_ev_bneg, rnn_evaluate(m, TOK, TGT, -3, T, &SLOSS, SLOGP))
BADCALL(bc_ev_t0, rnn_evaluate(m, TOK, TGT, B, 0, &SLOSS, SLOGP))
BADCALL(bc_ev_tneg, rnn_evaluate(m, TOK, TGT, B, -1, &SLOSS, SLOGP))
BADCALL(bc_ev_tok_neg, rnn_evaluate(m, tok_with(1, -1), TGT, B, T, &SLOSS, SLOGP))
BADCALL(bc_ev_tok_v, rnn_evaluate(m, tok_with(B * T - 1, V), TGT, B, T, &SLOSS, NULL))
BADCALL(bc_ev_tgt_v, rnn_evaluate(m, TOK, tgt_with(B * T - 1, V), B, T, &SLOSS, SLOGP))
BADCALL(bc_ev_tgt_m2, rnn_evaluate(m, TOK, tgt_with(0, -2), B, T, &SLOSS, SLOGP))
BADCALL(bc_ev_bigger, rnn_evaluate(m, TOK, TGT, B + 1, T, &SLOSS, SLOGP))
BADCALL(bc_ev_smaller, rnn_evaluate(m, TOK, TGT, 1, T, &SLOSS, SLOGP))
BADCALL(bc_ev_b, rnn_evaluate(m, TOK, TGT, B, T, &SLOSS, SLOGP))
/* rnn_sample */
BADCALL(bc_sa_tok_null, rnn_sample(m, NULL, B, 1.0f, SNEXT))
BADCALL(bc_sa_next_null, rnn_sample(m, TOK, B, 1.0f, NULL))
BADCALL(bc_sa_b0, rnn_sample(m, TOK, 0, 1.0f, SNEXT))
BADCALL(bc_sa_bneg, rnn_sample(m, TOK, -1, 1.0f, SNEXT))
BADCALL(bc_sa_bigger, rnn_sample(m, TOK, B + 1, 1.0f, SNEXT))
BADCALL(bc_sa_smaller, rnn_sample(m, TOK, B - 1, 1.0f, SNEXT))
BADCALL(bc_sa_b, rnn_sample(m, TOK, B, 1.0f, SNEXT))
BADCALL(bc_sa_tok_neg, rnn_sample(m, tok_with(B - 1, -1), B, 1.0f, SNEXT))
BADCALL(bc_sa_tok_v, rnn_sample(m, tok_with(0, V), B, 0.0f, SNEXT))
BADCALL(bc_sa_temp_neg, rnn_sample(m, TOK, B, -0.5f, SNEXT))
BADCALL(bc_sa_temp_tiny_neg, rnn_sample(m, TOK, B, -1e-38f, SNEXT))
BADCALL(bc_sa_temp_nan, rnn_sample(m, TOK, B, NAN, SNEXT))
BADCALL(bc_sa_temp_inf, rnn_sample(m, TOK, B, INFINITY, SNEXT))
BADCALL(bc_sa_temp_ninf, rnn_sample(m, TOK, B, -INFINITY, SNEXT))
/* rnn_clip_grad_norm, rnn_sgd_step */
BADCALL(bc_clip0, rnn_clip_grad_norm(m, 0.0f, NULL))
BADCALL(bc_clipneg, rnn_clip_grad_norm(m, -1.0f, NULL))
BADCALL(bc_clipnan, rnn_clip_grad_norm(m, NAN, NULL))
BADCALL(bc_clipinf, rnn_clip_grad_norm(m, INFINITY, NULL))
BADCALL(bc_sgdnan, rnn_sgd_step(m, NAN))
BADCALL(bc_sgdinf, rnn_sgd_step(m, INFINITY))
BADCALL(bc_sgdninf, rnn_sgd_step(m, -INFINITY))
/* parameters */
BADCALL(bc_pcount_null, rnn_param_count(m, NULL))
BADCALL(bc_pget_null, rnn_param_get(m, 0, NULL))
BADCALL(bc_pget_neg, rnn_param_get(m, -1, &SPARAM))
BADCALL(bc_pget_end, rnn_param_get(m, 4 * L + 3, &SPARAM))
BADCALL(bc_pget_big, rnn_param_get(m, INT_MAX, &SPARAM))
BADCALL(bc_pfind_null_name, rnn_param_find(m, NULL, &SPARAM))
BADCALL(bc_pfind_null_out, rnn_param_find(m, "encoder.weight", NULL))
BADCALL(bc_pfind_unknown, rnn_param_find(m, "no.such.parameter", &SPARAM))
BADCALL(bc_pfind_prefix, rnn_param_find(m, "encoder.weigh", &SPARAM))
BADCALL(bc_pfind_longer, rnn_param_find(m, "encoder.weights", &SPARAM))
BADCALL(bc_pfind_layer, rnn_param_find(m, "rnn.weight_ih_l2", &SPARAM))
BADCALL(bc_pfind_empty, rnn_param_find(m, "", &SPARAM))
BADCALL(bc_pfind_case, rnn_param_find(m, "Decoder.bias", &SPARAM))
BADCALL(bc_config_null, rnn_model_config(m, NULL))
/* vocabulary and save (each preamble installs a vocabulary first, which must survive) */
static const char *const WORDS_EMPTY[V] = {"<eos>", "the", "", "cat", "sat", "on", "mat", "dog", "ran", "far", "away"};
static const char *const WORDS_NULL[V] = {"<eos>", "the", "a", "cat", "sat", "on", "mat", "dog", "ran", "far", NULL};
#define VOCABCALL(fname, expr)                                                                     \
    static int fname(rnn_model *m, int bad)                                                        \
    {                                                                                              \
        OK(rnn_vocab_set(m, WORDS, V));                                                            \
        if (!bad) return RNN_OK;                                                                   \
        return (expr);                                                                             \
    }
static const char *SWORD;
VOCABCALL(bc_vset_null, rnn_vocab_set(m, NULL, V))
VOCABCALL(bc_vset_short, rnn_vocab_set(m, WORDS2, V - 1))
VOCABCALL(bc_vset_long, rnn_vocab_set(m, WORDS2, V + 1))
VOCABCALL(bc_vset_zero, rnn_vocab_set(m, WORDS2, 0))
VOCABCALL(bc_vset_neg, rnn_vocab_set(m, WORDS2, -1))
VOCABCALL(bc_vset_empty_word, rnn_vocab_set(m, WORDS_EMPTY, V))
VOCABCALL(bc_vset_null_word, rnn_vocab_set(m, WORDS_NULL, V))
VOCABCALL(bc_vsize_null, rnn_vocab_size(m, NULL))
VOCABCALL(bc_vword_null, rnn_vocab_word(m, 0, NULL))
VOCABCALL(bc_vword_neg, rnn_vocab_word(m, -1, &SWORD))
VOCABCALL(bc_vword_v, rnn_vocab_word(m, V, &SWORD))
BADCALL(bc_vword_none, rnn_vocab_word(m, 0, &SWORD))
VOCABCALL(bc_save_null, rnn_model_save(m, NULL))
VOCABCALL(bc_save_empty, rnn_model_save(m, ""))
/* rnn_backward out of order */
BADCALL(bc_backward, rnn_backward(m))
static int bc_bw_twice(rnn_model *m, int bad)
{
    OK(rnn_backward(m));
    return bad ? rnn_backward(m) : RNN_OK;
}
static int bc_bw_after_sgd(rnn_model *m, int bad)
{
    OK(rnn_sgd_step(m, 0.1f));
    return bad ? rnn_backward(m) : RNN_OK;
}
static int bc_bw_after_bw_sgd(rnn_model *m, int bad)
{
    OK(rnn_backward(m));
    OK(rnn_sgd_step(m, 0.1f));
    return bad ? rnn_backward(m) : RNN_OK;
}
static int bc_bw_after_eval(rnn_model *m, int bad)
{
    double l;
    OK(rnn_evaluate(m, TOK2, TGT2, B, T, &l, NULL));
    return bad ? rnn_backward(m) : RNN_OK;
}
static int bc_bw_after_eval_smaller(rnn_model *m, int bad)
{
    double l;
    OK(rnn_evaluate(m, TOK2, TGT2, B, 1, &l, NULL)); /* fits in the workspace: no regrowth */
    return bad ? rnn_backward(m) : RNN_OK;
}
static int bc_bw_after_sample(rnn_model *m, int bad)
{
    int32_t nx[B];
    OK(rnn_sample(m, TOK2, B, 1.0f, nx));
    return bad ? rnn_backward(m) : RNN_OK;
}
static int bc_bw_after_reset(rnn_model *m, int bad)
{
    OK(rnn_reset_state(m, B));
    return bad ? rnn_backward(m) : RNN_OK;
}
static int bc_bw_after_reset_other(rnn_model *m, int bad)
{
    OK(rnn_reset_state(m, 1));
    return bad ? rnn_backward(m) : RNN_OK;
}
static int bc_bw_after_set(rnn_model *m, int bad)
{
    float h[L * B * H], c[L * B * H];
    OK(rnn_get_state(m, B, h, c));
    OK(rnn_set_state(m, B, h, c));
    return bad ? rnn_backward(m) : RNN_OK;
}
/* a batch mismatch after the state changed size */
static int bc_fw_after_shrink(rnn_model *m, int bad)
{
    OK(rnn_reset_state(m, 1));
    return bad ? rnn_forward(m, TOK, TGT, B, T, &SLOSS) : RNN_OK;
}

typedef struct {
    const char *name;
    int level;
    bad_fn fn;
    int expect;
} bad_case;

static const bad_case BAD_CASES[] = {
    {"reset_state(0)", LV_PENDING, bc_reset0, RNN_ERR_INVALID},
    {"reset_state(-3)", LV_PENDING, bc_resetneg, RNN_ERR_INVALID},
    {"reset_state(INT_MIN)", LV_CREATED, bc_resetmin, RNN_ERR_INVALID},
    {"reserve(0, T)", LV_PENDING, bc_reserve_b0, RNN_ERR_INVALID},
    {"reserve(B, 0)", LV_PENDING, bc_reserve_t0, RNN_ERR_INVALID},
    {"reserve(-1, -1)", LV_CREATED, bc_reserve_neg, RNN_ERR_INVALID},
    {"reserve(B, -4)", LV_IDLE, bc_reserve_tneg, RNN_ERR_INVALID},
    {"state_batch(NULL)", LV_PENDING, bc_state_batch_null, RNN_ERR_INVALID},
    {"get_state(h NULL)", LV_PENDING, bc_get_null, RNN_ERR_INVALID},
    {"get_state(B+1)", LV_PENDING, bc_get_bigger, RNN_ERR_STATE},
    {"get_state(B-1)", LV_PENDING, bc_get_smaller, RNN_ERR_STATE},
    {"get_state before reset_state", LV_CREATED, bc_get_b, RNN_ERR_STATE},
    {"set_state(h NULL)", LV_PENDING, bc_set_null, RNN_ERR_INVALID},
    {"set_state(B+1)", LV_PENDING, bc_set_bigger, RNN_ERR_STATE},
    {"set_state(B-1)", LV_PENDING, bc_set_smaller, RNN_ERR_STATE},
    {"set_state before reset_state", LV_CREATED, bc_set_b, RNN_ERR_STATE},
    {"get_state_grad(dh NULL)", LV_PENDING, bc_sgrad_null, RNN_ERR_INVALID},
    {"get_state_grad(B+1)", LV_PENDING, bc_sgrad_bigger, RNN_ERR_STATE},
    {"get_state_grad before any backward (created)", LV_CREATED, bc_sgrad_b, RNN_ERR_STATE},
    {"get_state_grad before any backward (reset)", LV_RESET, bc_sgrad_b, RNN_ERR_STATE},
    {"get_state_grad before any backward (forward)", LV_FORWARD, bc_sgrad_b, RNN_ERR_STATE},
    {"forward(tokens NULL)", LV_PENDING, bc_fw_tok_null, RNN_ERR_INVALID},
    {"forward(targets NULL)", LV_PENDING, bc_fw_tgt_null, RNN_ERR_INVALID},
    {"forward(batch 0)", LV_PENDING, bc_fw_b0, RNN_ERR_INVALID},
    {"forward(batch -1)", LV_PENDING, bc_fw_bneg, RNN_ERR_INVALID},
    {"forward(steps 0)", LV_PENDING, bc_fw_t0, RNN_ERR_INVALID},
    {"forward(steps -2)", LV_PENDING, bc_fw_tneg, RNN_ERR_INVALID},
    {"forward(token -1)", LV_PENDING, bc_fw_tok_neg, RNN_ERR_RANGE},
    {"forward(token V)", LV_PENDING, bc_fw_tok_v, RNN_ERR_RANGE},
    {"forward(last token V)", LV_PENDING, bc_fw_tok_last, RNN_ERR_RANGE},
    {"forward(token INT32_MAX)", LV_IDLE, bc_fw_tok_max, RNN_ERR_RANGE},
    {"forward(token INT32_MIN)", LV_RESET, bc_fw_tok_min, RNN_ERR_RANGE},
    {"forward(target V)", LV_PENDING, bc_fw_tgt_v, RNN_ERR_RANGE},
    {"forward(last target V+100)", LV_PENDING, bc_fw_tgt_last, RNN_ERR_RANGE},
    {"forward(target -2)", LV_PENDING, bc_fw_tgt_m2, RNN_ERR_RANGE},
    {"forward(target INT32_MIN)", LV_RESET, bc_fw_tgt_min, RNN_ERR_RANGE},
    {"forward(batch B+1)", LV_PENDING, bc_fw_bigger, RNN_ERR_STATE},
    {"forward(batch B-1)", LV_PENDING, bc_fw_smaller, RNN_ERR_STATE},
    {"forward before reset_state", LV_CREATED, bc_fw_b, RNN_ERR_STATE},
    {"forward(batch B) after reset_state(1)", LV_PENDING, bc_fw_after_shrink, RNN_ERR_STATE},
    {"evaluate(tokens NULL)", LV_PENDING, bc_ev_tok_null, RNN_ERR_INVALID},
    {"evaluate(batch 0)", LV_PENDING, bc_ev_b0, RNN_ERR_INVALID},
    {"evaluate(batch -3)", LV_PENDING, bc_ev_bneg, RNN_ERR_INVALID},
    {"evaluate(steps 0)", LV_PENDING, bc_ev_t0, RNN_ERR_INVALID},
    {"evaluate(steps -1)", LV_PENDING, bc_ev_tneg, RNN_ERR_INVALID},
    {"evaluate(token -1)", LV_PENDING, bc_ev_tok_neg, RNN_ERR_RANGE},
    {"evaluate(last token V)", LV_PENDING, bc_ev_tok_v, RNN_ERR_RANGE},
    {"evaluate(last target V)", LV_PENDING, bc_ev_tgt_v, RNN_ERR_RANGE},
    {"evaluate(target -2)", LV_PENDING, bc_ev_tgt_m2, RNN_ERR_RANGE},
    {"evaluate(batch B+1)", LV_PENDING, bc_ev_bigger, RNN_ERR_STATE},
    {"evaluate(batch 1)", LV_PENDING, bc_ev_smaller, RNN_ERR_STATE},
    {"evaluate before reset_state", LV_CREATED, bc_ev_b, RNN_ERR_STATE},
    {"sample(tokens NULL)", LV_PENDING, bc_sa_tok_null, RNN_ERR_INVALID},
    {"sample(next NULL)", LV_PENDING, bc_sa_next_null, RNN_ERR_INVALID},
    {"sample(batch 0)", LV_PENDING, bc_sa_b0, RNN_ERR_INVALID},
    {"sample(batch -1)", LV_PENDING, bc_sa_bneg, RNN_ERR_INVALID},
    {"sample(batch B+1)", LV_PENDING, bc_sa_bigger, RNN_ERR_STATE},
    {"sample(batch B-1)", LV_PENDING, bc_sa_smaller, RNN_ERR_STATE},
    {"sample before reset_state", LV_CREATED, bc_sa_b, RNN_ERR_STATE},
    {"sample(token -1)", LV_PENDING, bc_sa_tok_neg, RNN_ERR_RANGE},
    {"sample(token V)", LV_PENDING, bc_sa_tok_v, RNN_ERR_RANGE},
    {"sample(temperature -0.5)", LV_PENDING, bc_sa_temp_neg, RNN_ERR_INVALID},
    {"sample(temperature -1e-38)", LV_PENDING, bc_sa_temp_tiny_neg, RNN_ERR_INVALID},
    {"sample(temperature NaN)", LV_PENDING, bc_sa_temp_nan, RNN_ERR_INVALID},
    {"sample(temperature +inf)", LV_PENDING, bc_sa_temp_inf, RNN_ERR_INVALID},
    {"sample(temperature -inf)", LV_PENDING, bc_sa_temp_ninf, RNN_ERR_INVALID},
    {"clip_grad_norm(0)", LV_PENDING, bc_clip0, RNN_ERR_INVALID},
    {"clip_grad_norm(-1)", LV_PENDING, bc_clipneg, RNN_ERR_INVALID},
    {"clip_grad_norm(NaN)", LV_PENDING, bc_clipnan, RNN_ERR_INVALID},
    {"clip_grad_norm(inf)", LV_PENDING, bc_clipinf, RNN_ERR_INVALID},
    {"sgd_step(NaN)", LV_PENDING, bc_sgdnan, RNN_ERR_INVALID},
    {"sgd_step(inf)", LV_PENDING, bc_sgdinf, RNN_ERR_INVALID},
    {"sgd_step(-inf)", LV_PENDING, bc_sgdninf, RNN_ERR_INVALID},
    {"param_count(NULL)", LV_PENDING, bc_pcount_null, RNN_ERR_INVALID},
    {"param_get(out NULL)", LV_PENDING, bc_pget_null, RNN_ERR_INVALID},
    {"param_get(-1)", LV_PENDING, bc_pget_neg, RNN_ERR_NOTFOUND},
    {"param_get(count)", LV_PENDING, bc_pget_end, RNN_ERR_NOTFOUND},
    {"param_get(INT_MAX)", LV_PENDING, bc_pget_big, RNN_ERR_NOTFOUND},
    {"param_find(name NULL)", LV_PENDING, bc_pfind_null_name, RNN_ERR_INVALID},
    {"param_find(out NULL)", LV_PENDING, bc_pfind_null_out, RNN_ERR_INVALID},
    {"param_find(unknown)", LV_PENDING, bc_pfind_unknown, RNN_ERR_NOTFOUND},
    {"param_find(prefix)", LV_PENDING, bc_pfind_prefix, RNN_ERR_NOTFOUND},
    {"param_find(longer)", LV_PENDING, bc_pfind_longer, RNN_ERR_NOTFOUND},
    {"param_find(layer L)", LV_PENDING, bc_pfind_layer, RNN_ERR_NOTFOUND},
    {"param_find(\"\")", LV_PENDING, bc_pfind_empty, RNN_ERR_NOTFOUND},
    {"param_find(wrong case)", LV_PENDING, bc_pfind_case, RNN_ERR_NOTFOUND},
    {"model_config(NULL)", LV_PENDING, bc_config_null, RNN_ERR_INVALID},
    {"vocab_set(words NULL)", LV_PENDING, bc_vset_null, RNN_ERR_INVALID},
    {"vocab_set(count V-1)", LV_PENDING, bc_vset_short, RNN_ERR_INVALID},
    {"vocab_set(count V+1)", LV_PENDING, bc_vset_long, RNN_ERR_INVALID},
    {"vocab_set(count 0)", LV_PENDING, bc_vset_zero, RNN_ERR_INVALID},
    {"vocab_set(count -1)", LV_PENDING, bc_vset_neg, RNN_ERR_INVALID},
    {"vocab_set(an empty word)", LV_PENDING, bc_vset_empty_word, RNN_ERR_INVALID},
    {"vocab_set(a NULL word)", LV_PENDING, bc_vset_null_word, RNN_ERR_INVALID},
    {"vocab_size(NULL)", LV_PENDING, bc_vsize_null, RNN_ERR_INVALID},
    {"vocab_word(word NULL)", LV_PENDING, bc_vword_null, RNN_ERR_INVALID},
    {"vocab_word(-1)", LV_PENDING, bc_vword_neg, RNN_ERR_RANGE},
    {"vocab_word(V)", LV_PENDING, bc_vword_v, RNN_ERR_RANGE},
    {"vocab_word(0) without a vocabulary", LV_PENDING, bc_vword_none, RNN_ERR_RANGE},
    {"model_save(path NULL)", LV_PENDING, bc_save_null, RNN_ERR_INVALID},
    {"model_save(path \"\")", LV_PENDING, bc_save_empty, RNN_ERR_INVALID},
    {"backward on a fresh model", LV_CREATED, bc_backward, RNN_ERR_STATE},
    {"backward after reset_state only", LV_RESET, bc_backward, RNN_ERR_STATE},
    {"backward with nothing pending", LV_IDLE, bc_backward, RNN_ERR_STATE},
    {"backward twice after one forward", LV_PENDING, bc_bw_twice, RNN_ERR_STATE},
    {"backward twice after the first forward", LV_FORWARD, bc_bw_twice, RNN_ERR_STATE},
    {"backward after sgd_step", LV_PENDING, bc_bw_after_sgd, RNN_ERR_STATE},
    {"backward after backward + sgd_step", LV_PENDING, bc_bw_after_bw_sgd, RNN_ERR_STATE},
    {"backward after evaluate", LV_PENDING, bc_bw_after_eval, RNN_ERR_STATE},
    {"backward after a smaller evaluate", LV_PENDING, bc_bw_after_eval_smaller, RNN_ERR_STATE},
    {"backward after sample", LV_PENDING, bc_bw_after_sample, RNN_ERR_STATE},
    {"backward after reset_state", LV_PENDING, bc_bw_after_reset, RNN_ERR_STATE},
    {"backward after reset_state(other batch)", LV_PENDING, bc_bw_after_reset_other, RNN_ERR_STATE},
    {"backward after set_state", LV_PENDING, bc_bw_after_set, RNN_ERR_STATE},
};
enum { NBAD = sizeof BAD_CASES / sizeof *BAD_CASES };

/* After the bad call: both twins must go on exactly alike. */
static void continue_twins(rnn_model *a, rnn_model *b, const char *what)
{
    int ra = rnn_backward(a), rb = rnn_backward(b); /* a pending backward must have survived */
    ck_assert_msg(ra == rb, "%s: rnn_backward afterwards: twin %d, model %d", what, ra, rb);
    expect_same_model(a, b, what);
    int ba, bb;
    OK(rnn_state_batch(a, &ba));
    OK(rnn_state_batch(b, &bb));
    ck_assert_int_eq(ba, bb);
    if (ba != B) {
        OK(rnn_reset_state(a, B));
        OK(rnn_reset_state(b, B));
    }
    for (int step = 0; step < 2; step++) {
        double la, lb;
        OK(rnn_forward(a, TOK2, TGT2, B, T, &la));
        OK(rnn_forward(b, TOK2, TGT2, B, T, &lb));
        ck_assert_msg(memcmp(&la, &lb, sizeof la) == 0, "%s: later losses differ (%.17g vs %.17g)", what, la, lb);
        OK(rnn_zero_grad(a));
        OK(rnn_zero_grad(b));
        OK(rnn_backward(a));
        OK(rnn_backward(b));
        OK(rnn_sgd_step(a, 0.3f));
        OK(rnn_sgd_step(b, 0.3f));
        int32_t na[B], nb[B];
        OK(rnn_sample(a, TOK, B, 1.0f, na));
        OK(rnn_sample(b, TOK, B, 1.0f, nb));
        ck_assert_msg(memcmp(na, nb, sizeof na) == 0, "%s: later samples differ (generator changed?)", what);
    }
    expect_same_model(a, b, what);
}

START_TEST(test_bad_call)
{
    const bad_case *bc = &BAD_CASES[_i];
    for (int cell = 0; cell < NCELLS; cell++) {
        char what[160];
        snprintf(what, sizeof what, "%s [%s]", bc->name, CELL_NAME[cell]);
        rnn_model *a = prep(bc->level, cell), *b = prep(bc->level, cell);
        expect_same_model(a, b, what);
        ck_assert_msg(bc->fn(a, 0) == RNN_OK, "%s: preamble failed", what);
        int rc = bc->fn(b, 1);
        ck_assert_msg(rc == bc->expect, "%s: got %d (%s), want %d (%s); errmsg \"%s\"", what, rc,
                      rnn_strerror(rc), bc->expect, rnn_strerror(bc->expect), rnn_errmsg(b));
        /* the message is valid until the next call: keep a copy, check it after the model checks */
        char msg[512];
        ck_assert_ptr_nonnull(rnn_errmsg(b));
        snprintf(msg, sizeof msg, "%s", rnn_errmsg(b));
        ck_assert_str_eq(rnn_errmsg(a), "");
        expect_same_model(a, b, what);
        continue_twins(a, b, what);
        ck_assert_msg(msg[0] != '\0', "%s: rnn_errmsg is empty after the failure", what);
        rnn_model_free(a);
        rnn_model_free(b);
    }
}
END_TEST

/* A failed rnn_forward between forward and backward must not disturb the pending backward: the
 * gradients equal those of the same sequence without the failure (direct check, not via twins). */
START_TEST(test_failed_forward_keeps_pending)
{
    rnn_config cfg = tiny_cfg(RNN_CELL_LSTM, 2, 0.0f);
    rnn_model *a = make_model(&cfg), *b = make_model(&cfg);
    double la, lb;
    OK(rnn_reset_state(a, B));
    OK(rnn_reset_state(b, B));
    OK(rnn_forward(a, TOK, TGT, B, T, &la));
    OK(rnn_forward(b, TOK, TGT, B, T, &lb));
    ck_assert_int_eq(rnn_forward(b, tok_with(0, -5), TGT, B, T, &lb), RNN_ERR_RANGE);
    ck_assert_int_eq(rnn_evaluate(b, TOK, tgt_with(1, V), B, T, &lb, NULL), RNN_ERR_RANGE);
    ck_assert_int_eq(rnn_sample(b, TOK, B, -1.0f, SNEXT), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_reset_state(b, 0), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_set_state(b, B + 1, SH, NULL), RNN_ERR_STATE);
    OK(rnn_zero_grad(a));
    OK(rnn_zero_grad(b));
    OK(rnn_backward(a));
    OK(rnn_backward(b));
    float *ga, *gb;
    size_t n;
    OK(rnn_param_block(a, NULL, &ga, &n));
    OK(rnn_param_block(b, NULL, &gb, NULL));
    ck_assert(memcmp(ga, gb, n * sizeof(float)) == 0);
    float dha[L * B * H], dhb[L * B * H];
    OK(rnn_get_state_grad(a, B, dha, NULL));
    OK(rnn_get_state_grad(b, B, dhb, NULL));
    ck_assert(memcmp(dha, dhb, sizeof dha) == 0);
    rnn_model_free(a);
    rnn_model_free(b);
}
END_TEST

/* ---- params ---------------------------------------------------------------------------------- */
typedef struct {
    char name[40];
    int rows, cols;
} want_param;

static int expected_params(int cell, int layers, int tied, int v, int e, int h, want_param *w)
{
    int n = 0, G = CELL_GATES[cell];
    snprintf(w[n].name, sizeof w[n].name, "encoder.weight"), w[n].rows = v, w[n].cols = e, n++;
    for (int l = 0; l < layers; l++) {
        int in = l == 0 ? e : h;
        snprintf(w[n].name, sizeof w[n].name, "rnn.weight_ih_l%d", l), w[n].rows = G * h, w[n].cols = in, n++;
        snprintf(w[n].name, sizeof w[n].name, "rnn.weight_hh_l%d", l), w[n].rows = G * h, w[n].cols = h, n++;
        snprintf(w[n].name, sizeof w[n].name, "rnn.bias_ih_l%d", l), w[n].rows = 1, w[n].cols = G * h, n++;
        snprintf(w[n].name, sizeof w[n].name, "rnn.bias_hh_l%d", l), w[n].rows = 1, w[n].cols = G * h, n++;
    }
    if (!tied) snprintf(w[n].name, sizeof w[n].name, "decoder.weight"), w[n].rows = v, w[n].cols = h, n++;
    snprintf(w[n].name, sizeof w[n].name, "decoder.bias"), w[n].rows = 1, w[n].cols = v, n++;
    return n;
}

/* loop index: cell (4) x layers 1..3 x tied (2) */
START_TEST(test_param_layout)
{
    int cell = _i % NCELLS, layers = 1 + (_i / NCELLS) % 3, tied = _i / (NCELLS * 3);
    int v = 13, e = tied ? 7 : 5, h = 7;
    char what[96];
    snprintf(what, sizeof what, "%s L=%d tied=%d", CELL_NAME[cell], layers, tied);
    rnn_config cfg = tiny_cfg(cell, layers, 0.1f);
    cfg.vocab_size = v, cfg.emb_size = e, cfg.hidden_size = h, cfg.tied = tied;
    rnn_model *m = make_model(&cfg);
    want_param w[64];
    int nw = expected_params(cell, layers, tied, v, e, h, w);
    int count = -1;
    OK(rnn_param_count(m, &count));
    ck_assert_msg(count == nw, "%s: rnn_param_count %d, want %d", what, count, nw);
    ck_assert_int_eq(count, 4 * layers + (tied ? 2 : 3));
    float *pd = NULL, *pg = NULL;
    size_t total = 0;
    OK(rnn_param_block(m, &pd, &pg, &total));
    ck_assert_ptr_nonnull(pd);
    ck_assert_ptr_nonnull(pg);
    ck_assert(pd != pg);
    size_t off = 0;
    for (int i = 0; i < count; i++) {
        rnn_param p;
        memset(&p, 0, sizeof p);
        OK(rnn_param_get(m, i, &p));
        ck_assert_ptr_nonnull(p.name);
        ck_assert_msg(strcmp(p.name, w[i].name) == 0, "%s: param %d is \"%s\", want \"%s\"", what, i, p.name,
                      w[i].name);
        ck_assert_msg(p.rows == w[i].rows && p.cols == w[i].cols, "%s: %s is %dx%d, want %dx%d", what, p.name,
                      p.rows, p.cols, w[i].rows, w[i].cols);
        ck_assert_msg(p.size == (size_t)p.rows * p.cols, "%s: %s size %zu", what, p.name, p.size);
        ck_assert_msg(p.data == pd + off, "%s: %s data is not at block offset %zu", what, p.name, off);
        ck_assert_msg(p.grad == pg + off, "%s: %s grad is not at block offset %zu", what, p.name, off);
        off += p.size;
        /* find by name gives the same view */
        rnn_param q;
        OK(rnn_param_find(m, w[i].name, &q));
        ck_assert_str_eq(q.name, p.name);
        ck_assert(q.data == p.data && q.grad == p.grad && q.rows == p.rows && q.cols == p.cols &&
                  q.size == p.size);
    }
    ck_assert_msg(off == total, "%s: views cover %zu floats, block has %zu", what, off, total);
    /* decoder.weight: its own tensor, or (tied) the encoder's */
    rnn_param dw, ew;
    OK(rnn_param_find(m, "decoder.weight", &dw));
    OK(rnn_param_find(m, "encoder.weight", &ew));
    ck_assert_int_eq(dw.rows, v);
    ck_assert_int_eq(dw.cols, h);
    if (tied) {
        ck_assert(dw.data == ew.data);
        ck_assert(dw.grad == ew.grad);
    } else {
        ck_assert(dw.data != ew.data);
    }
    char name[40];
    snprintf(name, sizeof name, "rnn.weight_ih_l%d", layers);
    ck_assert_int_eq(rnn_param_find(m, name, &dw), RNN_ERR_NOTFOUND);
    ck_assert_int_eq(rnn_param_get(m, count, &dw), RNN_ERR_NOTFOUND);
    /* the config keeps tied */
    rnn_config got;
    OK(rnn_model_config(m, &got));
    ck_assert(!got.tied == !tied);
    rnn_model_free(m);
}
END_TEST

/* initialisation ranges, per cell; gradients zero at creation */
START_TEST(test_param_init)
{
    int cell = _i;
    rnn_config cfg = tiny_cfg(cell, 2, 0.2f);
    cfg.vocab_size = 20, cfg.emb_size = 8, cfg.hidden_size = 8;
    rnn_model *m = make_model(&cfg);
    double k = 1.0 / sqrt(8.0);
    int count;
    OK(rnn_param_count(m, &count));
    for (int i = 0; i < count; i++) {
        rnn_param p;
        OK(rnn_param_get(m, i, &p));
        float lo = INFINITY, hi = -INFINITY;
        for (size_t j = 0; j < p.size; j++) {
            ck_assert_msg(isfinite(p.data[j]), "%s[%zu] not finite", p.name, j);
            ck_assert_msg(p.grad[j] == 0.0f, "%s grad[%zu] = %g at creation", p.name, j, (double)p.grad[j]);
            lo = p.data[j] < lo ? p.data[j] : lo;
            hi = p.data[j] > hi ? p.data[j] : hi;
        }
        if (strcmp(p.name, "decoder.bias") == 0) {
            ck_assert_msg(lo == 0.0f && hi == 0.0f, "decoder.bias not zero: [%g, %g]", (double)lo, (double)hi);
        } else if (strncmp(p.name, "rnn.", 4) == 0) {
            ck_assert_msg(lo >= -k * (1 + 1e-6) && hi <= k * (1 + 1e-6), "%s: [%g, %g] outside +-%g", p.name,
                          (double)lo, (double)hi, k);
            ck_assert_msg(lo < hi, "%s: all values equal", p.name);
            if (p.size >= 64) /* P(all in one half) < 2 * 0.5^64 */
                ck_assert_msg(lo < 0 && hi > 0, "%s: [%g, %g] does not straddle 0", p.name, (double)lo, (double)hi);
        } else { /* encoder.weight, decoder.weight */
            ck_assert_msg(lo >= -0.1f && hi <= 0.1f, "%s: [%g, %g] outside +-0.1", p.name, (double)lo, (double)hi);
            ck_assert_msg(lo < hi, "%s: all values equal", p.name);
            /* 160 draws of U(-0.1, 0.1): P(max < 0.05) = 0.75^160 ~ 1e-20 */
            ck_assert_msg(lo < -0.05f && hi > 0.05f, "%s: [%g, %g] too narrow for U(-0.1, 0.1)", p.name,
                          (double)lo, (double)hi);
        }
    }
    rnn_model_free(m);
}
END_TEST

/* the same seed gives the same weights, another seed other weights */
START_TEST(test_param_init_seed)
{
    rnn_config cfg = tiny_cfg(RNN_CELL_GRU, 2, 0.2f);
    rnn_model *a = make_model(&cfg), *b = make_model(&cfg);
    cfg.seed = 4243;
    rnn_model *c = make_model(&cfg);
    float *pa, *pb, *pc;
    size_t n;
    OK(rnn_param_block(a, &pa, NULL, &n));
    OK(rnn_param_block(b, &pb, NULL, NULL));
    OK(rnn_param_block(c, &pc, NULL, NULL));
    ck_assert(memcmp(pa, pb, n * sizeof(float)) == 0);
    ck_assert(memcmp(pa, pc, n * sizeof(float)) != 0);
    /* param_block with NULL outputs is allowed */
    OK(rnn_param_block(a, NULL, NULL, NULL));
    rnn_model_free(a);
    rnn_model_free(b);
    rnn_model_free(c);
}
END_TEST

/* writing through a view changes the model; tied models share one tensor */
START_TEST(test_param_write_through)
{
    rnn_config cfg = tiny_cfg(RNN_CELL_TANH, 1, 0.0f);
    cfg.emb_size = cfg.hidden_size = 6, cfg.tied = 1;
    rnn_model *m = make_model(&cfg);
    OK(rnn_reset_state(m, B));
    double l1, l2;
    OK(rnn_evaluate(m, TOK, TGT, B, T, &l1, NULL));
    rnn_param db;
    OK(rnn_param_find(m, "decoder.bias", &db));
    db.data[TGT[0]] += 3.0f; /* makes the first target more likely */
    OK(rnn_reset_state(m, B));
    OK(rnn_evaluate(m, TOK, TGT, B, T, &l2, NULL));
    ck_assert(l2 != l1);
    /* training a tied model moves the shared weight; the decoder view sees it */
    rnn_param dw, ew;
    OK(rnn_param_find(m, "decoder.weight", &dw));
    OK(rnn_param_find(m, "encoder.weight", &ew));
    float before = dw.data[0];
    OK(rnn_reset_state(m, B));
    OK(rnn_forward(m, TOK, TGT, B, T, &l1));
    OK(rnn_zero_grad(m));
    OK(rnn_backward(m));
    OK(rnn_sgd_step(m, 1.0f));
    ck_assert(ew.data[0] == dw.data[0]);
    ck_assert(dw.data[0] != before);
    rnn_model_free(m);
}
END_TEST

/* ---- alloc ----------------------------------------------------------------------------------- */
typedef struct {
    size_t allocs, frees, failed, bad_frees;
    size_t live, peak;
    long fail_after; /* -1: never fail; n: n more allocations succeed, then failures */
    int fail_once;   /* after one failure, succeed again */
} counter;

#define CNT_HDR 16
#define CNT_MAGIC ((size_t)0xA110CA7Eu)

static void *cnt_alloc(void *user, size_t size)
{
    counter *c = user;
    if (c->fail_after == 0) {
        c->failed++;
        if (c->fail_once) c->fail_after = -1;
        return NULL;
    }
    if (c->fail_after > 0) c->fail_after--;
    unsigned char *p = malloc(size + CNT_HDR);
    if (!p) return NULL;
    ((size_t *)p)[0] = size;
    ((size_t *)p)[1] = CNT_MAGIC;
    c->allocs++;
    c->live += size;
    if (c->live > c->peak) c->peak = c->live;
    return p + CNT_HDR;
}

static void cnt_free(void *user, void *ptr)
{
    counter *c = user;
    if (!ptr) {
        c->bad_frees++;
        return;
    }
    unsigned char *p = (unsigned char *)ptr - CNT_HDR;
    if (((size_t *)p)[1] != CNT_MAGIC) {
        c->bad_frees++;
        return;
    }
    ((size_t *)p)[1] = 0;
    c->frees++;
    c->live -= ((size_t *)p)[0];
    free(p);
}

static void counter_init(counter *c)
{
    memset(c, 0, sizeof *c);
    c->fail_after = -1;
}

static void expect_balanced(const counter *c, const char *what)
{
    ck_assert_msg(c->bad_frees == 0, "%s: %zu frees of NULL or foreign pointers", what, c->bad_frees);
    ck_assert_msg(c->allocs == c->frees, "%s: %zu allocations, %zu frees", what, c->allocs, c->frees);
    ck_assert_msg(c->live == 0, "%s: %zu bytes still live", what, c->live);
}

/* the whole documented training step, plus evaluate and sample, at (batch, steps) */
static void full_step(rnn_model *m, int batch, int steps)
{
    double loss, norm;
    static float logp[MAXB * MAXT * V];
    int32_t next[MAXB];
    OK(rnn_reset_state(m, batch));
    OK(rnn_forward(m, TOK, TGT, batch, steps, &loss));
    OK(rnn_zero_grad(m));
    OK(rnn_backward(m));
    OK(rnn_clip_grad_norm(m, 0.25f, &norm));
    OK(rnn_sgd_step(m, 0.1f));
    OK(rnn_forward(m, TOK2, TGT2, batch, steps, NULL));
    OK(rnn_backward(m));
    OK(rnn_sgd_step(m, 0.1f));
    OK(rnn_evaluate(m, TOK, TGT, batch, steps, &loss, logp));
    OK(rnn_evaluate(m, TOK, TGT, batch, steps, NULL, NULL));
    OK(rnn_sample(m, TOK, batch, 1.0f, next));
    OK(rnn_sample(m, next, batch, 0.0f, next));
}

/* the calls that never allocate */
static void misc_calls(rnn_model *m, int batch)
{
    float h[L * MAXB * H], c[L * MAXB * H];
    rnn_param p;
    int n;
    OK(rnn_get_state(m, batch, h, c));
    OK(rnn_set_state(m, batch, h, c));
    OK(rnn_forward(m, TOK, TGT, batch, 1, NULL));
    OK(rnn_backward(m));
    OK(rnn_get_state_grad(m, batch, h, c));
    OK(rnn_set_seed(m, 77));
    OK(rnn_param_count(m, &n));
    OK(rnn_param_get(m, 0, &p));
    OK(rnn_param_find(m, "decoder.bias", &p));
    OK(rnn_state_batch(m, &n));
    rnn_config cfg;
    OK(rnn_model_config(m, &cfg));
    OK(rnn_vocab_size(m, &n));
    const char *w;
    if (n > 0) OK(rnn_vocab_word(m, n - 1, &w));
    /* failures do not allocate either */
    ck_assert_int_eq(rnn_forward(m, tok_with(0, -1), TGT, batch, 1, NULL), RNN_ERR_RANGE);
    ck_assert_int_eq(rnn_param_find(m, "nope", &p), RNN_ERR_NOTFOUND);
}

START_TEST(test_alloc_balance)
{
    for (int cell = 0; cell < NCELLS; cell++) {
        counter c;
        counter_init(&c);
        rnn_allocator al = {cnt_alloc, cnt_free, &c};
        rnn_config cfg = tiny_cfg(cell, L, 0.3f);
        rnn_model *m = NULL;
        OK(rnn_model_create(&m, &cfg, &al));
        ck_assert_msg(c.allocs > 0, "rnn_model_create did not use the allocator");
        al.alloc = NULL; /* the struct is copied: later changes to ours do not matter */
        full_step(m, B, T);
        full_step(m, MAXB, MAXT);
        OK(rnn_reserve(m, 7, 9));
        full_step(m, 2, 3);
        misc_calls(m, 2);
        OK(rnn_vocab_set(m, WORDS, V));
        OK(rnn_vocab_set(m, WORDS2, V)); /* replaces: the old one is freed */
        ck_assert(c.live > 0);
        rnn_model_free(m);
        expect_balanced(&c, CELL_NAME[cell]);
    }
}
END_TEST

START_TEST(test_alloc_steady_state)
{
    counter c;
    counter_init(&c);
    rnn_allocator al = {cnt_alloc, cnt_free, &c};
    rnn_config cfg = tiny_cfg(RNN_CELL_LSTM, L, 0.3f);
    rnn_model *m = NULL;
    OK(rnn_model_create(&m, &cfg, &al));
    full_step(m, MAXB, MAXT); /* the first step may allocate */
    misc_calls(m, MAXB);
    size_t before = c.allocs, frees_before = c.frees;
    for (int r = 0; r < 3; r++) {
        full_step(m, MAXB, MAXT);
        misc_calls(m, MAXB);
        full_step(m, 2, 3);
        misc_calls(m, 2);
        full_step(m, MAXB, 1);
        full_step(m, 1, MAXT);
        misc_calls(m, 1);
    }
    size_t extra = c.allocs - before;
    printf("steady-state allocations: %zu\n", extra);
    fflush(stdout);
    ck_assert_msg(extra == 0, "%zu allocations in the steady state", extra);
    ck_assert_msg(c.frees == frees_before, "%zu frees in the steady state", c.frees - frees_before);
    rnn_model_free(m);
    expect_balanced(&c, "steady state");
}
END_TEST

/* after rnn_reserve + rnn_reset_state, even the first training step allocates nothing */
START_TEST(test_alloc_reserve)
{
    for (int cell = 0; cell < NCELLS; cell++) {
        counter c;
        counter_init(&c);
        rnn_allocator al = {cnt_alloc, cnt_free, &c};
        rnn_config cfg = tiny_cfg(cell, L, 0.3f);
        rnn_model *m = NULL;
        OK(rnn_model_create(&m, &cfg, &al));
        OK(rnn_reserve(m, MAXB, MAXT));
        OK(rnn_reset_state(m, MAXB));
        size_t before = c.allocs;
        full_step(m, MAXB, MAXT);
        misc_calls(m, MAXB);
        full_step(m, 2, MAXT);
        full_step(m, MAXB, 2);
        OK(rnn_reserve(m, 2, 2)); /* smaller: nothing to do */
        OK(rnn_reserve(m, MAXB, MAXT));
        ck_assert_msg(c.allocs == before, "%s: %zu allocations after rnn_reserve", CELL_NAME[cell],
                      c.allocs - before);
        rnn_model_free(m);
        expect_balanced(&c, CELL_NAME[cell]);
    }
}
END_TEST

/* rnn_model_create with an allocator that fails at every possible point */
/* rnn_vocab_set with a failing allocator: RNN_ERR_NOMEM, the old vocabulary stays, no leak */
START_TEST(test_alloc_vocab_fails)
{
    counter c;
    counter_init(&c);
    rnn_allocator al = {cnt_alloc, cnt_free, &c};
    rnn_config cfg = tiny_cfg(RNN_CELL_GRU, 1, 0.0f);
    rnn_model *m = NULL;
    OK(rnn_model_create(&m, &cfg, &al));
    OK(rnn_vocab_set(m, WORDS, V));
    size_t before = c.allocs;
    OK(rnn_vocab_set(m, WORDS2, V));
    size_t need = c.allocs - before;
    ck_assert(need >= 1);
    for (int once = 0; once < 2; once++)
        for (size_t k = 0; k < need; k++) {
            c.fail_after = (long)k;
            c.fail_once = once;
            int rc = rnn_vocab_set(m, WORDS, V);
            ck_assert_msg(rc == RNN_ERR_NOMEM, "vocab_set failing after %zu allocations: got %d", k, rc);
            ck_assert(rnn_errmsg(m)[0] != '\0');
            c.fail_after = -1;
            int n;
            OK(rnn_vocab_size(m, &n));
            ck_assert_int_eq(n, V);
            for (int i = 0; i < V; i++) {
                const char *w;
                OK(rnn_vocab_word(m, i, &w));
                ck_assert_str_eq(w, WORDS2[i]);
            }
        }
    rnn_model_free(m);
    expect_balanced(&c, "vocab");
}
END_TEST

START_TEST(test_alloc_create_fails)
{
    for (int cell = 0; cell < NCELLS; cell++)
        for (int tied = 0; tied < 2; tied++) {
            rnn_config cfg = tiny_cfg(cell, 3, 0.3f);
            if (tied) cfg.emb_size = cfg.hidden_size = 6, cfg.tied = 1;
            counter c;
            counter_init(&c);
            rnn_allocator al = {cnt_alloc, cnt_free, &c};
            rnn_model *m = NULL;
            OK(rnn_model_create(&m, &cfg, &al));
            size_t need = c.allocs;
            rnn_model_free(m);
            expect_balanced(&c, "create");
            ck_assert(need >= 1);
            for (int once = 0; once < 2; once++)
                for (size_t k = 0; k < need; k++) {
                    counter_init(&c);
                    c.fail_after = (long)k;
                    c.fail_once = once;
                    m = (rnn_model *)&c;
                    int rc = rnn_model_create(&m, &cfg, &al);
                    ck_assert_msg(rc == RNN_ERR_NOMEM, "%s tied=%d: failure after %zu allocations (once=%d): got %d",
                                  CELL_NAME[cell], tied, k, once, rc);
                    ck_assert_msg(m == NULL, "*out not NULL after RNN_ERR_NOMEM");
                    ck_assert(c.failed >= 1);
                    expect_balanced(&c, "failed create");
                }
            counter_init(&c);
            c.fail_after = (long)need; /* exactly enough */
            OK(rnn_model_create(&m, &cfg, &al));
            rnn_model_free(m);
            expect_balanced(&c, "create with exactly enough");
        }
}
END_TEST

/* failing growth: the workspace (forward / evaluate / sample / reserve) and the state (reset) */
START_TEST(test_alloc_growth_fails)
{
    for (int cell = 0; cell < NCELLS; cell++) {
        counter c;
        counter_init(&c);
        rnn_allocator al = {cnt_alloc, cnt_free, &c};
        rnn_config cfg = tiny_cfg(cell, L, 0.3f);
        rnn_model *m = NULL, *twin = NULL;
        OK(rnn_model_create(&m, &cfg, &al));
        OK(rnn_model_create(&twin, &cfg, NULL));
        double lm, lt;
        rnn_model *both[2] = {m, twin};
        for (int i = 0; i < 2; i++) {
            OK(rnn_reset_state(both[i], 2));
            OK(rnn_forward(both[i], TOK, TGT, 2, 3, NULL));
            OK(rnn_backward(both[i]));
            OK(rnn_sgd_step(both[i], 0.2f));
            OK(rnn_forward(both[i], TOK2, TGT2, 2, 3, NULL)); /* pending */
        }
        /* from now on every allocation fails */
        c.fail_after = 0;
        ck_assert_int_eq(rnn_forward(m, TOK, TGT, 2, 6, &lm), RNN_ERR_NOMEM);
        ck_assert(rnn_errmsg(m)[0] != '\0');
        ck_assert_int_eq(rnn_evaluate(m, TOK, TGT, 2, 5, &lm, NULL), RNN_ERR_NOMEM);
        ck_assert_int_eq(rnn_reserve(m, 2, 8), RNN_ERR_NOMEM);
        ck_assert_int_eq(rnn_reserve(m, 4, 3), RNN_ERR_NOMEM);
        ck_assert_int_eq(rnn_reset_state(m, 5), RNN_ERR_NOMEM);
        int sb;
        OK(rnn_state_batch(m, &sb));
        ck_assert_int_eq(sb, 2);
        ck_assert(c.failed >= 5);
        expect_same_model(m, twin, "after failed growth");
        /* the pending backward survived; the model works at the old shape, without allocating */
        for (int i = 0; i < 2; i++) {
            OK(rnn_backward(both[i]));
            OK(rnn_sgd_step(both[i], 0.2f));
        }
        size_t allocs = c.allocs;
        OK(rnn_forward(m, TOK, TGT, 2, 3, &lm));
        OK(rnn_forward(twin, TOK, TGT, 2, 3, &lt));
        ck_assert(memcmp(&lm, &lt, sizeof lm) == 0);
        OK(rnn_zero_grad(m));
        OK(rnn_zero_grad(twin));
        OK(rnn_backward(m));
        OK(rnn_backward(twin));
        int32_t nm[2], nt[2];
        OK(rnn_sample(m, TOK, 2, 1.0f, nm));
        OK(rnn_sample(twin, TOK, 2, 1.0f, nt));
        ck_assert(memcmp(nm, nt, sizeof nm) == 0);
        OK(rnn_reset_state(m, 1)); /* smaller: no allocation */
        OK(rnn_reset_state(twin, 1));
        OK(rnn_evaluate(m, TOK, TGT, 1, 2, &lm, NULL));
        OK(rnn_evaluate(twin, TOK, TGT, 1, 2, &lt, NULL));
        ck_assert(memcmp(&lm, &lt, sizeof lm) == 0);
        expect_same_model(m, twin, "after failed growth, old shape");
        ck_assert_int_eq(c.allocs, allocs);
        /* the allocator recovers: growth works again */
        c.fail_after = -1;
        OK(rnn_reset_state(m, 5));
        OK(rnn_reset_state(twin, 5));
        OK(rnn_forward(m, TOK, TGT, 5, 7, &lm));
        OK(rnn_forward(twin, TOK, TGT, 5, 7, &lt));
        ck_assert(memcmp(&lm, &lt, sizeof lm) == 0);
        OK(rnn_backward(m));
        OK(rnn_backward(twin));
        expect_same_model(m, twin, "after recovery");
        rnn_model_free(m);
        rnn_model_free(twin);
        expect_balanced(&c, "growth");
    }
}
END_TEST

/* ---- determinism ----------------------------------------------------------------------------- */
static void train3(rnn_model *m, double *losses)
{
    OK(rnn_reset_state(m, B));
    for (int s = 0; s < 3; s++) {
        const int32_t *x = s % 2 ? TOK2 : TOK, *y = s % 2 ? TGT2 : TGT;
        OK(rnn_forward(m, x, y, B, T, &losses[s]));
        OK(rnn_zero_grad(m));
        OK(rnn_backward(m));
        OK(rnn_clip_grad_norm(m, 0.25f, NULL));
        OK(rnn_sgd_step(m, 1.0f));
    }
}

START_TEST(test_determinism_seed)
{
    for (int cell = 0; cell < NCELLS; cell++) {
        rnn_config cfg = tiny_cfg(cell, L, 0.5f);
        rnn_model *a = make_model(&cfg), *b = make_model(&cfg);
        cfg.seed = 4243;
        rnn_model *c = make_model(&cfg);
        double la[3], lb[3], lc[3];
        train3(a, la);
        train3(b, lb);
        train3(c, lc);
        ck_assert_msg(memcmp(la, lb, sizeof la) == 0, "%s: same seed, different losses", CELL_NAME[cell]);
        expect_same_model(a, b, "same seed");
        float *pa, *pc;
        size_t n;
        OK(rnn_param_block(a, &pa, NULL, &n));
        OK(rnn_param_block(c, &pc, NULL, NULL));
        ck_assert_msg(memcmp(pa, pc, n * sizeof(float)) != 0, "%s: another seed, same weights", CELL_NAME[cell]);
        ck_assert(memcmp(la, lc, sizeof la) != 0);
        rnn_model_free(a);
        rnn_model_free(b);
        rnn_model_free(c);
    }
}
END_TEST

/* rnn_set_seed: the same forward gives the same loss; dropout draws differ otherwise */
START_TEST(test_determinism_set_seed)
{
    rnn_config cfg = tiny_cfg(RNN_CELL_LSTM, L, 0.5f);
    rnn_model *m = make_model(&cfg);
    double l0, l1, l2, l3, l4;
    /* as if created with this seed: the first forward of a fresh handle */
    OK(rnn_reset_state(m, B));
    OK(rnn_forward(m, TOK, TGT, B, T, &l0));
    OK(rnn_reset_state(m, B));
    OK(rnn_forward(m, TOK, TGT, B, T, &l1));
    ck_assert_msg(l1 != l0, "dropout active: two forwards should draw different masks");
    OK(rnn_set_seed(m, cfg.seed));
    OK(rnn_reset_state(m, B));
    OK(rnn_forward(m, TOK, TGT, B, T, &l2));
    ck_assert_msg(memcmp(&l2, &l0, sizeof l0) == 0, "set_seed(config seed) should replay the first forward");
    OK(rnn_set_seed(m, 99));
    OK(rnn_reset_state(m, B));
    OK(rnn_forward(m, TOK, TGT, B, T, &l3));
    OK(rnn_set_seed(m, 99));
    OK(rnn_reset_state(m, B));
    OK(rnn_forward(m, TOK, TGT, B, T, &l4));
    ck_assert(memcmp(&l3, &l4, sizeof l3) == 0);
    ck_assert(l3 != l0);
    /* evaluate has no dropout: it does not depend on the generator */
    double e1, e2;
    OK(rnn_reset_state(m, B));
    OK(rnn_evaluate(m, TOK, TGT, B, T, &e1, NULL));
    OK(rnn_set_seed(m, 5));
    OK(rnn_reset_state(m, B));
    OK(rnn_evaluate(m, TOK, TGT, B, T, &e2, NULL));
    ck_assert(memcmp(&e1, &e2, sizeof e1) == 0);
    rnn_model_free(m);
}
END_TEST

typedef struct {
    int cell;
    uint64_t seed;
    int rc;
    size_t n;
    float *params;
    double losses[3];
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    rnn_config cfg = tiny_cfg(j->cell, L, 0.5f);
    cfg.seed = j->seed;
    rnn_model *m = NULL;
    j->rc = rnn_model_create(&m, &cfg, NULL);
    if (j->rc) return NULL;
    for (int rep = 0; rep < 20 && !j->rc; rep++) {
        if ((j->rc = rnn_reset_state(m, B))) break;
        for (int s = 0; s < 3 && !j->rc; s++) {
            j->rc = rnn_forward(m, s % 2 ? TOK2 : TOK, s % 2 ? TGT2 : TGT, B, T, &j->losses[s]);
            if (!j->rc) j->rc = rnn_zero_grad(m);
            if (!j->rc) j->rc = rnn_backward(m);
            if (!j->rc) j->rc = rnn_clip_grad_norm(m, 0.25f, NULL);
            if (!j->rc) j->rc = rnn_sgd_step(m, 0.5f);
        }
    }
    float *p;
    if (!j->rc) j->rc = rnn_param_block(m, &p, NULL, &j->n);
    if (!j->rc) {
        j->params = malloc(j->n * sizeof(float));
        memcpy(j->params, p, j->n * sizeof(float));
    }
    rnn_model_free(m);
    return NULL;
}

/* distinct handles in two threads give the results they give alone */
START_TEST(test_determinism_threads)
{
    job serial[2] = {{RNN_CELL_LSTM, 11, 0, 0, NULL, {0}}, {RNN_CELL_GRU, 12, 0, 0, NULL, {0}}};
    job par[2] = {serial[0], serial[1]};
    run_job(&serial[0]);
    run_job(&serial[1]);
    pthread_t th[2];
    for (int i = 0; i < 2; i++) ck_assert_int_eq(pthread_create(&th[i], NULL, run_job, &par[i]), 0);
    for (int i = 0; i < 2; i++) ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(serial[i].rc, RNN_OK);
        ck_assert_int_eq(par[i].rc, RNN_OK);
        ck_assert(serial[i].n == par[i].n);
        ck_assert(memcmp(serial[i].losses, par[i].losses, sizeof serial[i].losses) == 0);
        ck_assert_msg(memcmp(serial[i].params, par[i].params, serial[i].n * sizeof(float)) == 0,
                      "thread %d: weights differ from the serial run", i);
        free(serial[i].params);
        free(par[i].params);
    }
}
END_TEST

/* ---- semantics ------------------------------------------------------------------------------- */
/* with dropout 0, training forward and evaluate give the same loss and the same carried state */
START_TEST(test_eval_equals_forward)
{
    for (int cell = 0; cell < NCELLS; cell++) {
        rnn_config cfg = tiny_cfg(cell, L, 0.0f);
        rnn_model *m = make_model(&cfg);
        double lf[2], le[2];
        float hf[L * B * H], cf[L * B * H], he[L * B * H], ce[L * B * H];
        memset(cf, 0, sizeof cf), memset(ce, 0, sizeof ce);
        OK(rnn_reset_state(m, B));
        OK(rnn_forward(m, TOK, TGT, B, T, &lf[0]));
        OK(rnn_forward(m, TOK2, TGT2, B, T, &lf[1]));
        OK(rnn_get_state(m, B, hf, cell == RNN_CELL_LSTM ? cf : NULL));
        OK(rnn_reset_state(m, B));
        OK(rnn_evaluate(m, TOK, TGT, B, T, &le[0], NULL));
        OK(rnn_evaluate(m, TOK2, TGT2, B, T, &le[1], NULL));
        OK(rnn_get_state(m, B, he, cell == RNN_CELL_LSTM ? ce : NULL));
        for (int k = 0; k < 2; k++)
            ck_assert_msg(fabs(lf[k] - le[k]) <= 1e-9 * fabs(le[k]), "%s chunk %d: forward %.17g, evaluate %.17g",
                          CELL_NAME[cell], k, lf[k], le[k]);
        ck_assert(tu_rel_err(hf, he, sizeof hf / sizeof *hf) <= 1e-7);
        ck_assert(tu_rel_err(cf, ce, sizeof cf / sizeof *cf) <= 1e-7);
        /* the loss is near log(V) for a fresh model */
        ck_assert(le[0] > 0.5 * log((double)V) && le[0] < 2 * log((double)V));
        rnn_model_free(m);
    }
}
END_TEST

/* log-probs: normalised, [batch][steps][V] layout, the loss is the mean of -logprob[target] over
 * kept positions; streams are independent */
/* Huge logits (a decoder bias of 1e30, reached by the fuzzer through wild SGD steps): log_softmax
 * shifts by the maximum before subtracting log(sum), as PyTorch does, so the log-probabilities stay
 * normalised (max + log(sum) would round to max and give every word probability 1). */
START_TEST(test_logprobs_huge_logits)
{
    rnn_config cfg = tiny_cfg(RNN_CELL_LSTM, 1, 0.0f);
    rnn_model *m = make_model(&cfg);
    rnn_param p;
    OK(rnn_param_find(m, "decoder.bias", &p));
    for (size_t k = 0; k < p.size; k++) p.data[k] = 1e30f;
    OK(rnn_reset_state(m, 1));
    int32_t tok[2] = {1, 2}, tgt[2] = {2, 3};
    float *lp = malloc(sizeof(float) * 2 * (size_t)cfg.vocab_size);
    double loss = 0;
    OK(rnn_evaluate(m, tok, tgt, 1, 2, &loss, lp));
    double want = log((double)cfg.vocab_size); /* every word equally likely: the weights vanish */
    ck_assert_double_eq_tol(loss, want, 1e-5);
    for (int r = 0; r < 2; r++) {
        double sum = 0;
        for (int k = 0; k < cfg.vocab_size; k++) sum += exp((double)lp[r * cfg.vocab_size + k]);
        ck_assert_double_eq_tol(sum, 1.0, 1e-5);
        ck_assert_double_eq_tol(lp[r * cfg.vocab_size + 3], -want, 1e-5);
    }
    free(lp);
    rnn_model_free(m);
}
END_TEST

START_TEST(test_logprobs)
{
    for (int cell = 0; cell < NCELLS; cell++) {
        rnn_config cfg = tiny_cfg(cell, L, 0.4f); /* evaluate ignores dropout */
        rnn_model *m = make_model(&cfg);
        int32_t tgt[B * T];
        memcpy(tgt, TGT, sizeof tgt);
        tgt[1] = RNN_IGNORE, tgt[B * T - 1] = RNN_IGNORE, tgt[T] = RNN_IGNORE;
        static float lp[B * T * V], lp1[T * V];
        double loss;
        OK(rnn_reset_state(m, B));
        OK(rnn_evaluate(m, TOK, tgt, B, T, &loss, lp));
        double sum = 0;
        int kept = 0;
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                const float *row = lp + ((size_t)b * T + t) * V;
                double z = 0;
                for (int k = 0; k < V; k++) {
                    ck_assert(row[k] <= 1e-6f);
                    z += exp((double)row[k]);
                }
                ck_assert_msg(fabs(z - 1.0) <= 1e-5, "%s: sum of probabilities at [%d][%d] is %.9g", CELL_NAME[cell],
                              b, t, z);
                int y = tgt[b * T + t];
                if (y != RNN_IGNORE) sum += -row[y], kept++;
            }
        ck_assert_int_eq(kept, B * T - 3);
        ck_assert_msg(fabs(loss - sum / kept) <= 1e-5 * fabs(loss), "%s: loss %.9g, mean -logprob %.9g",
                      CELL_NAME[cell], loss, sum / kept);
        /* stream b alone (batch 1, row b of the inputs) gives row b of the log-probs */
        for (int b = 0; b < B; b++) {
            double l1;
            OK(rnn_reset_state(m, 1));
            OK(rnn_evaluate(m, TOK + b * T, tgt + b * T, 1, T, &l1, lp1));
            ck_assert_msg(tu_rel_err(lp1, lp + (size_t)b * T * V, T * V) <= 1e-5, "%s: stream %d differs alone",
                          CELL_NAME[cell], b);
        }
        /* loss may be NULL; logprobs may be NULL */
        OK(rnn_reset_state(m, B));
        OK(rnn_evaluate(m, TOK, tgt, B, T, NULL, NULL));
        rnn_model_free(m);
    }
}
END_TEST

/* the state is carried across calls: two chunks equal one concatenated chunk */
START_TEST(test_state_carry)
{
    for (int cell = 0; cell < NCELLS; cell++) {
        rnn_config cfg = tiny_cfg(cell, L, 0.0f);
        rnn_model *m = make_model(&cfg);
        int32_t cat_x[B * 2 * T], cat_y[B * 2 * T];
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                cat_x[b * 2 * T + t] = TOK[b * T + t], cat_y[b * 2 * T + t] = TGT[b * T + t];
                cat_x[b * 2 * T + T + t] = TOK2[b * T + t], cat_y[b * 2 * T + T + t] = TGT2[b * T + t];
            }
        static float lp_a[B * T * V], lp_b[B * T * V], lp_cat[B * 2 * T * V];
        double la, lb, lcat, lfresh;
        OK(rnn_reset_state(m, B));
        OK(rnn_evaluate(m, TOK, TGT, B, T, &la, lp_a));
        OK(rnn_evaluate(m, TOK2, TGT2, B, T, &lb, lp_b));
        float h1[L * B * H], h2[L * B * H];
        OK(rnn_get_state(m, B, h1, NULL));
        OK(rnn_reset_state(m, B));
        OK(rnn_evaluate(m, cat_x, cat_y, B, 2 * T, &lcat, lp_cat));
        OK(rnn_get_state(m, B, h2, NULL));
        ck_assert_msg(fabs(lcat - (la + lb) / 2) <= 1e-6 * lcat, "%s: concatenated %.9g vs chunks %.9g",
                      CELL_NAME[cell], lcat, (la + lb) / 2);
        ck_assert(tu_rel_err(h1, h2, L * B * H) <= 1e-5);
        for (int b = 0; b < B; b++) {
            ck_assert(tu_rel_err(lp_a + (size_t)b * T * V, lp_cat + (size_t)b * 2 * T * V, T * V) <= 1e-5);
            ck_assert(tu_rel_err(lp_b + (size_t)b * T * V, lp_cat + ((size_t)b * 2 * T + T) * V, T * V) <= 1e-5);
        }
        /* training mode: chunk 2 after chunk 1 differs from chunk 2 after a reset */
        double f1, f2, f2fresh;
        OK(rnn_reset_state(m, B));
        OK(rnn_forward(m, TOK, TGT, B, T, &f1));
        OK(rnn_forward(m, TOK2, TGT2, B, T, &f2));
        OK(rnn_reset_state(m, B));
        OK(rnn_forward(m, TOK2, TGT2, B, T, &f2fresh));
        ck_assert_msg(f2 != f2fresh, "%s: the hidden state is not carried", CELL_NAME[cell]);
        ck_assert(fabs(f2 - lb) <= 1e-6 * lb);
        OK(rnn_reset_state(m, B));
        OK(rnn_evaluate(m, TOK2, TGT2, B, T, &lfresh, NULL));
        ck_assert(fabs(f2fresh - lfresh) <= 1e-6 * lfresh);
        rnn_model_free(m);
    }
}
END_TEST

/* rnn_reset_state zeros h (and c); state batch bookkeeping; reuse at a smaller batch */
START_TEST(test_reset_zeros)
{
    for (int cell = 0; cell < NCELLS; cell++) {
        rnn_config cfg = tiny_cfg(cell, L, 0.0f);
        rnn_model *m = make_model(&cfg), *fresh = make_model(&cfg);
        float h[L * MAXB * H], c[L * MAXB * H];
        int sb;
        OK(rnn_reset_state(m, MAXB));
        OK(rnn_state_batch(m, &sb));
        ck_assert_int_eq(sb, MAXB);
        OK(rnn_forward(m, TOK, TGT, MAXB, T, NULL));
        OK(rnn_get_state(m, MAXB, h, c));
        int nonzero = 0;
        for (size_t i = 0; i < state_len(MAXB); i++) nonzero += h[i] != 0.0f;
        ck_assert(nonzero > 0);
        OK(rnn_reset_state(m, MAXB));
        memset(h, 0x7F, sizeof h), memset(c, 0x7F, sizeof c);
        OK(rnn_get_state(m, MAXB, h, c));
        for (size_t i = 0; i < state_len(MAXB); i++) {
            ck_assert(h[i] == 0.0f);
            if (cell == RNN_CELL_LSTM) ck_assert(c[i] == 0.0f);
        }
        /* a smaller batch after a larger one behaves as a fresh handle at that batch */
        OK(rnn_forward(m, TOK, TGT, MAXB, T, NULL));
        OK(rnn_reset_state(m, 2));
        OK(rnn_state_batch(m, &sb));
        ck_assert_int_eq(sb, 2);
        OK(rnn_get_state(m, 2, h, c));
        for (size_t i = 0; i < state_len(2); i++) {
            ck_assert(h[i] == 0.0f);
            if (cell == RNN_CELL_LSTM) ck_assert(c[i] == 0.0f);
        }
        double lm, lf;
        float hf[L * 2 * H], cf[L * 2 * H];
        OK(rnn_reset_state(fresh, 2));
        OK(rnn_evaluate(m, TOK2, TGT2, 2, T, &lm, NULL));
        OK(rnn_evaluate(fresh, TOK2, TGT2, 2, T, &lf, NULL));
        ck_assert(fabs(lm - lf) <= 1e-6 * lf);
        OK(rnn_evaluate(m, TOK, TGT, 2, T, &lm, NULL));
        OK(rnn_evaluate(fresh, TOK, TGT, 2, T, &lf, NULL));
        ck_assert(fabs(lm - lf) <= 1e-6 * lf);
        OK(rnn_get_state(m, 2, h, c));
        OK(rnn_get_state(fresh, 2, hf, cf));
        ck_assert(tu_rel_err(h, hf, state_len(2)) <= 1e-6);
        if (cell == RNN_CELL_LSTM) ck_assert(tu_rel_err(c, cf, state_len(2)) <= 1e-6);
        rnn_model_free(m);
        rnn_model_free(fresh);
    }
}
END_TEST

/* every target RNN_IGNORE: loss 0, gradients 0 */
START_TEST(test_all_ignored)
{
    for (int cell = 0; cell < NCELLS; cell++) {
        rnn_config cfg = tiny_cfg(cell, L, 0.3f);
        rnn_model *m = make_model(&cfg);
        int32_t ign[B * T];
        for (int i = 0; i < B * T; i++) ign[i] = RNN_IGNORE;
        double loss = 123;
        OK(rnn_reset_state(m, B));
        /* nonzero gradients first, so zero_grad matters */
        OK(rnn_forward(m, TOK, TGT, B, T, &loss));
        OK(rnn_backward(m));
        OK(rnn_forward(m, TOK, ign, B, T, &loss));
        ck_assert_msg(loss == 0.0, "%s: loss %g with every target ignored", CELL_NAME[cell], loss);
        OK(rnn_zero_grad(m));
        OK(rnn_backward(m));
        float *g;
        size_t n;
        OK(rnn_param_block(m, NULL, &g, &n));
        for (size_t i = 0; i < n; i++) ck_assert_msg(g[i] == 0.0f, "%s: grad[%zu] = %g", CELL_NAME[cell], i, (double)g[i]);
        float dh[L * B * H], dc[L * B * H];
        OK(rnn_get_state_grad(m, B, dh, dc));
        for (size_t i = 0; i < state_len(B); i++) {
            ck_assert(dh[i] == 0.0f);
            if (cell == RNN_CELL_LSTM) ck_assert(dc[i] == 0.0f);
        }
        double e = 5;
        OK(rnn_evaluate(m, TOK, ign, B, T, &e, NULL));
        ck_assert(e == 0.0);
        rnn_model_free(m);
    }
}
END_TEST

/* partially ignored targets: forward (dropout 0) equals evaluate, which equals the mean of kept */
START_TEST(test_partial_ignore_gradient)
{
    rnn_config cfg = tiny_cfg(RNN_CELL_LSTM, L, 0.0f);
    rnn_model *m = make_model(&cfg);
    int32_t tgt[B * T], one[B * T];
    memcpy(tgt, TGT, sizeof tgt);
    for (int i = 0; i < B * T; i++) one[i] = RNN_IGNORE;
    one[5] = TGT[5];
    for (int i = 0; i < B * T; i += 2) tgt[i] = RNN_IGNORE;
    double lf, le;
    OK(rnn_reset_state(m, B));
    OK(rnn_forward(m, TOK, tgt, B, T, &lf));
    OK(rnn_reset_state(m, B));
    OK(rnn_evaluate(m, TOK, tgt, B, T, &le, NULL));
    ck_assert(fabs(lf - le) <= 1e-9 * le);
    /* one kept target: loss = -logprob of that one; the decoder bias gradient is softmax - onehot */
    static float lp[B * T * V];
    OK(rnn_reset_state(m, B));
    OK(rnn_evaluate(m, TOK, one, B, T, &le, lp));
    ck_assert(fabs(le + lp[5 * V + TGT[5]]) <= 1e-6 * le);
    OK(rnn_reset_state(m, B));
    OK(rnn_forward(m, TOK, one, B, T, &lf));
    OK(rnn_zero_grad(m));
    OK(rnn_backward(m));
    rnn_param db;
    OK(rnn_param_find(m, "decoder.bias", &db));
    for (int k = 0; k < V; k++) {
        double want = exp((double)lp[5 * V + k]) - (k == TGT[5]);
        ck_assert_msg(fabs(db.grad[k] - want) <= 1e-5, "d decoder.bias[%d] = %g, want %g", k, (double)db.grad[k], want);
    }
    rnn_model_free(m);
}
END_TEST

/* backward adds into the gradient block */
START_TEST(test_backward_accumulates)
{
    rnn_config cfg = tiny_cfg(RNN_CELL_GRU, L, 0.0f);
    rnn_model *m = make_model(&cfg);
    float *g;
    size_t n;
    OK(rnn_param_block(m, NULL, &g, &n));
    OK(rnn_reset_state(m, B));
    OK(rnn_forward(m, TOK, TGT, B, T, NULL));
    OK(rnn_zero_grad(m));
    OK(rnn_backward(m));
    float *g1 = malloc(n * sizeof(float)), *g2 = malloc(n * sizeof(float));
    memcpy(g1, g, n * sizeof(float));
    OK(rnn_reset_state(m, B));
    OK(rnn_forward(m, TOK, TGT, B, T, NULL));
    OK(rnn_backward(m)); /* no zero_grad: adds */
    for (size_t i = 0; i < n; i++) g2[i] = 2.0f * g1[i];
    ck_assert(tu_rel_err(g, g2, n) <= 1e-6);
    double nrm = 0;
    for (size_t i = 0; i < n; i++) nrm += (double)g1[i] * g1[i];
    ck_assert(nrm > 0);
    OK(rnn_zero_grad(m));
    for (size_t i = 0; i < n; i++) ck_assert(g[i] == 0.0f);
    free(g1);
    free(g2);
    rnn_model_free(m);
}
END_TEST

START_TEST(test_sgd_exact)
{
    rnn_config cfg = tiny_cfg(RNN_CELL_LSTM, L, 0.2f);
    rnn_model *m = make_model(&cfg);
    float *p, *g;
    size_t n;
    OK(rnn_param_block(m, &p, &g, &n));
    uint64_t s = 7;
    for (size_t i = 0; i < n; i++) g[i] = (float)(tu_uniform(&s) * 4 - 2);
    float *p0 = malloc(n * sizeof(float)), *g0 = malloc(n * sizeof(float));
    memcpy(p0, p, n * sizeof(float));
    memcpy(g0, g, n * sizeof(float));
    const float lrs[] = {0.37f, -0.5f, 0.0f, 20.0f};
    for (size_t k = 0; k < sizeof lrs / sizeof *lrs; k++) {
        volatile float lr = lrs[k];
        memcpy(p0, p, n * sizeof(float));
        OK(rnn_sgd_step(m, lr));
        for (size_t i = 0; i < n; i++) {
            volatile float step = lr * g0[i];
            float want = p0[i] - step;
            ck_assert_msg(p[i] == want, "lr %g: p[%zu] = %.9g, want %.9g", (double)lr, i, (double)p[i], (double)want);
        }
        ck_assert(memcmp(g, g0, n * sizeof(float)) == 0); /* gradients untouched */
    }
    free(p0);
    free(g0);
    rnn_model_free(m);
}
END_TEST

START_TEST(test_clip)
{
    rnn_config cfg = tiny_cfg(RNN_CELL_LSTM, L, 0.2f);
    for (int tied = 0; tied < 2; tied++) {
        cfg.tied = tied;
        if (tied) cfg.emb_size = cfg.hidden_size = 6;
        rnn_model *m = make_model(&cfg);
        float *p, *g;
        size_t n;
        OK(rnn_param_block(m, &p, &g, &n));
        float *g0 = malloc(n * sizeof(float)), *p0 = malloc(n * sizeof(float));
        memcpy(p0, p, n * sizeof(float));
        uint64_t s = 99;
        double ss = 0;
        for (size_t i = 0; i < n; i++) {
            g0[i] = (float)(tu_uniform(&s) - 0.5) * 0.1f;
            ss += (double)g0[i] * g0[i];
        }
        double want = sqrt(ss), got = -1;
        /* the norm counts each tensor once: it is the norm of the views */
        int cnt;
        double ss_views = 0;
        OK(rnn_param_count(m, &cnt));
        for (int i = 0; i < cnt; i++) {
            rnn_param q;
            OK(rnn_param_get(m, i, &q));
            for (size_t j = 0; j < q.size; j++) ss_views += (double)g0[(size_t)(q.grad - g) + j] * g0[(size_t)(q.grad - g) + j];
        }
        ck_assert(fabs(ss_views - ss) <= 1e-12 * ss);
        /* max_norm above the norm: untouched */
        memcpy(g, g0, n * sizeof(float));
        OK(rnn_clip_grad_norm(m, (float)(want * 2), &got));
        ck_assert_msg(fabs(got - want) <= 1e-6 * want, "norm %.9g, want %.9g", got, want);
        ck_assert(memcmp(g, g0, n * sizeof(float)) == 0);
        /* max_norm below the norm: scaled by max_norm / (norm + 1e-6) */
        const double fracs[] = {0.5, 0.01};
        for (int f = 0; f < 2; f++) {
            memcpy(g, g0, n * sizeof(float));
            float mx = (float)(want * fracs[f]);
            got = -1;
            OK(rnn_clip_grad_norm(m, mx, &got));
            ck_assert(fabs(got - want) <= 1e-6 * want);
            double coef = mx / (want + 1e-6);
            for (size_t i = 0; i < n; i++)
                ck_assert_msg(fabs(g[i] - g0[i] * coef) <= 1e-6 * fabs(g0[i] * coef) + 1e-12,
                              "g[%zu] = %.9g, want %.9g", i, (double)g[i], g0[i] * coef);
            double ss2 = 0;
            for (size_t i = 0; i < n; i++) ss2 += (double)g[i] * g[i];
            ck_assert(fabs(sqrt(ss2) - mx) <= 1e-5 * mx);
        }
        /* NULL total_norm is allowed */
        memcpy(g, g0, n * sizeof(float));
        OK(rnn_clip_grad_norm(m, 1e-3f, NULL));
        ck_assert(memcmp(g, g0, n * sizeof(float)) != 0);
        /* zero gradients: norm 0, nothing changes */
        OK(rnn_zero_grad(m));
        OK(rnn_clip_grad_norm(m, 0.25f, &got));
        ck_assert(got == 0.0);
        for (size_t i = 0; i < n; i++) ck_assert(g[i] == 0.0f);
        /* a non-finite gradient: RNN_ERR_NUMERIC, gradients unscaled */
        const float bad[] = {NAN, INFINITY, -INFINITY};
        for (int k = 0; k < 3; k++) {
            memcpy(g, g0, n * sizeof(float));
            g[n / 2 + k] = bad[k];
            float *gb = malloc(n * sizeof(float));
            memcpy(gb, g, n * sizeof(float));
            int rc = rnn_clip_grad_norm(m, 1e-3f, &got);
            ck_assert_msg(rc == RNN_ERR_NUMERIC, "non-finite gradient %d: got %d", k, rc);
            ck_assert(rnn_errmsg(m)[0] != '\0');
            ck_assert_msg(memcmp(g, gb, n * sizeof(float)) == 0, "gradients scaled despite RNN_ERR_NUMERIC");
            ck_assert(memcmp(p, p0, n * sizeof(float)) == 0);
            free(gb);
        }
        free(g0);
        free(p0);
        rnn_model_free(m);
    }
}
END_TEST

/* ---- sampling -------------------------------------------------------------------------------- */
enum { SV = 7, SB = 4, SDRAWS = 5000 }; /* 20000 samples */

/* a model whose next-token distribution is p, whatever the state: decoder.weight 0, bias log p */
static rnn_model *controlled_model(const double *p, int cell)
{
    rnn_config cfg;
    rnn_config_init(&cfg);
    cfg.cell = cell, cfg.vocab_size = SV, cfg.emb_size = 4, cfg.hidden_size = 4, cfg.num_layers = 1;
    cfg.dropout = 0.5f, cfg.seed = 31337; /* dropout must not matter for sampling */
    rnn_model *m = make_model(&cfg);
    rnn_param dw, db;
    OK(rnn_param_find(m, "decoder.weight", &dw));
    OK(rnn_param_find(m, "decoder.bias", &db));
    memset(dw.data, 0, dw.size * sizeof(float));
    for (int k = 0; k < SV; k++) db.data[k] = p[k] > 0 ? (float)log(p[k]) : -INFINITY;
    return m;
}

static void draw(rnn_model *m, float temperature, long *counts)
{
    int32_t tok[SB] = {0, 1, 2, 3}, next[SB];
    memset(counts, 0, SV * sizeof(long));
    OK(rnn_reset_state(m, SB));
    for (int i = 0; i < SDRAWS; i++) {
        OK(rnn_sample(m, tok, SB, temperature, next));
        for (int b = 0; b < SB; b++) {
            ck_assert(next[b] >= 0 && next[b] < SV);
            counts[next[b]]++;
            tok[b] = next[b];
        }
    }
}

static void expect_freqs(const long *counts, const double *q, const char *what)
{
    const double n = (double)SB * SDRAWS;
    for (int k = 0; k < SV; k++) {
        double f = counts[k] / n, sd = sqrt(q[k] * (1 - q[k]) / n);
        if (q[k] == 0)
            ck_assert_msg(counts[k] == 0, "%s: token %d has probability 0 but was drawn %ld times", what, k, counts[k]);
        else
            ck_assert_msg(fabs(f - q[k]) <= 5 * sd, "%s: token %d frequency %.4f, want %.4f (+- %.4f)", what, k, f,
                          q[k], 5 * sd);
    }
}

START_TEST(test_sample_distribution)
{
    const double p[SV] = {0.05, 0.30, 0.10, 0.0, 0.35, 0.15, 0.05};
    rnn_model *m = controlled_model(p, _i);
    long counts[SV];
    draw(m, 1.0f, counts);
    expect_freqs(counts, p, "temperature 1");
    /* temperature 0.5: q proportional to p^2 */
    double q[SV], z = 0;
    for (int k = 0; k < SV; k++) z += q[k] = p[k] * p[k];
    for (int k = 0; k < SV; k++) q[k] /= z;
    draw(m, 0.5f, counts);
    expect_freqs(counts, q, "temperature 0.5");
    /* temperature 2: q proportional to sqrt(p) */
    z = 0;
    for (int k = 0; k < SV; k++) z += q[k] = sqrt(p[k]);
    for (int k = 0; k < SV; k++) q[k] /= z;
    draw(m, 2.0f, counts);
    expect_freqs(counts, q, "temperature 2");
    /* temperature 0: always the argmax */
    draw(m, 0.0f, counts);
    ck_assert_int_eq(counts[4], (long)SB * SDRAWS);
    rnn_model_free(m);
}
END_TEST

START_TEST(test_sample_greedy_ties)
{
    const double p[SV] = {0.1, 0.25, 0.1, 0.25, 0.05, 0.25, 0.0};
    rnn_model *m = controlled_model(p, RNN_CELL_LSTM);
    rnn_param db;
    OK(rnn_param_find(m, "decoder.bias", &db));
    ck_assert(db.data[1] == db.data[3] && db.data[3] == db.data[5]); /* exact ties */
    int32_t tok[SB] = {6, 5, 4, 3}, next[SB];
    OK(rnn_reset_state(m, SB));
    for (int i = 0; i < 50; i++) {
        OK(rnn_sample(m, tok, SB, 0.0f, next));
        for (int b = 0; b < SB; b++) ck_assert_msg(next[b] == 1, "greedy tie broken to %d, want 1", next[b]);
    }
    /* ties at the very first id */
    for (int k = 0; k < SV; k++) db.data[k] = 0.0f;
    OK(rnn_sample(m, tok, SB, 0.0f, next));
    for (int b = 0; b < SB; b++) ck_assert_int_eq(next[b], 0);
    /* uniform at temperature 1 */
    double u[SV];
    for (int k = 0; k < SV; k++) u[k] = 1.0 / SV;
    long counts[SV];
    draw(m, 1.0f, counts);
    expect_freqs(counts, u, "uniform");
    rnn_model_free(m);
}
END_TEST

/* greedy sampling on a general model is the argmax of evaluate's log-probs; sampling advances the
 * state exactly one step like evaluate; the same seed replays the same sequence */
START_TEST(test_sample_consistency)
{
    for (int cell = 0; cell < NCELLS; cell++) {
        rnn_config cfg = tiny_cfg(cell, L, 0.3f);
        rnn_model *m = make_model(&cfg);
        /* sharpen the output so the argmax is well separated */
        rnn_param dw;
        OK(rnn_param_find(m, "decoder.weight", &dw));
        for (size_t i = 0; i < dw.size; i++) dw.data[i] *= 30.0f;
        float lp[B * V], h1[L * B * H], h2[L * B * H], c1[L * B * H], c2[L * B * H];
        memset(c1, 0, sizeof c1), memset(c2, 0, sizeof c2);
        int32_t x[B] = {1, 5, 9}, next[B];
        OK(rnn_reset_state(m, B));
        for (int step = 0; step < 6; step++) {
            /* evaluate one step from a copy of the state, then sample from the same state */
            float hs[L * B * H], cs[L * B * H];
            OK(rnn_get_state(m, B, hs, cs));
            OK(rnn_evaluate(m, x, x, B, 1, NULL, lp));
            OK(rnn_get_state(m, B, h1, c1));
            OK(rnn_set_state(m, B, hs, cs));
            OK(rnn_sample(m, x, B, 0.0f, next));
            OK(rnn_get_state(m, B, h2, c2));
            ck_assert_msg(tu_rel_err(h2, h1, L * B * H) <= 1e-6, "%s: sample advanced the state differently",
                          CELL_NAME[cell]);
            if (cell == RNN_CELL_LSTM) ck_assert(tu_rel_err(c2, c1, L * B * H) <= 1e-6);
            for (int b = 0; b < B; b++) {
                int arg = 0;
                for (int k = 1; k < V; k++)
                    if (lp[b * V + k] > lp[b * V + arg]) arg = k;
                ck_assert_msg(next[b] == arg, "%s: greedy %d, argmax %d", CELL_NAME[cell], next[b], arg);
                x[b] = next[b];
            }
        }
        /* the same seed replays the same sequence at temperature 1 */
        int32_t seq[2][40 * B];
        for (int rep = 0; rep < 2; rep++) {
            int32_t t[B] = {0, 1, 2};
            OK(rnn_set_seed(m, 2024));
            OK(rnn_reset_state(m, B));
            for (int i = 0; i < 40; i++) {
                OK(rnn_sample(m, t, B, 1.0f, t));
                memcpy(seq[rep] + i * B, t, sizeof t);
            }
        }
        ck_assert(memcmp(seq[0], seq[1], sizeof seq[0]) == 0);
        /* another seed gives another sequence (on a flatter model) */
        for (size_t i = 0; i < dw.size; i++) dw.data[i] /= 30.0f;
        int32_t s3[2][40 * B];
        for (int rep = 0; rep < 2; rep++) {
            int32_t t[B] = {0, 1, 2};
            OK(rnn_set_seed(m, rep ? 2025 : 2024));
            OK(rnn_reset_state(m, B));
            for (int i = 0; i < 40; i++) {
                OK(rnn_sample(m, t, B, 1.0f, t));
                memcpy(s3[rep] + i * B, t, sizeof t);
            }
        }
        ck_assert(memcmp(s3[0], s3[1], sizeof s3[0]) != 0);
        rnn_model_free(m);
    }
}
END_TEST

/* ---- state ----------------------------------------------------------------------------------- */
START_TEST(test_state_roundtrip)
{
    for (int cell = 0; cell < NCELLS; cell++) {
        rnn_config cfg = tiny_cfg(cell, L, 0.2f);
        rnn_model *m = make_model(&cfg);
        enum { N = L * B * H };
        float h[N], c[N], h2[N], c2[N];
        uint64_t s = 5 + (uint64_t)cell;
        for (int i = 0; i < N; i++) h[i] = (float)(tu_uniform(&s) * 2 - 1), c[i] = (float)(tu_uniform(&s) * 4 - 2);
        OK(rnn_reset_state(m, B));
        OK(rnn_set_state(m, B, h, c));
        memset(h2, 0, sizeof h2);
        for (int i = 0; i < N; i++) c2[i] = 12345.0f; /* sentinel */
        OK(rnn_get_state(m, B, h2, c2));
        ck_assert(memcmp(h, h2, sizeof h) == 0);
        if (cell == RNN_CELL_LSTM) {
            ck_assert(memcmp(c, c2, sizeof c) == 0);
        } else {
            for (int i = 0; i < N; i++) ck_assert_msg(c2[i] == 12345.0f, "%s: c written for a non-LSTM cell", CELL_NAME[cell]);
        }
        OK(rnn_get_state(m, B, h2, NULL)); /* c may be NULL */
        ck_assert(memcmp(h, h2, sizeof h) == 0);
        /* the set state is the one the next chunk starts from */
        double l1, l2, l3;
        OK(rnn_evaluate(m, TOK, TGT, B, T, &l1, NULL));
        OK(rnn_set_state(m, B, h, c));
        OK(rnn_evaluate(m, TOK, TGT, B, T, &l2, NULL));
        ck_assert(memcmp(&l1, &l2, sizeof l1) == 0);
        OK(rnn_reset_state(m, B));
        OK(rnn_evaluate(m, TOK, TGT, B, T, &l3, NULL));
        ck_assert(l3 != l1);
        /* the state after a forward round-trips too */
        OK(rnn_forward(m, TOK2, TGT2, B, T, NULL));
        OK(rnn_get_state(m, B, h, c));
        OK(rnn_set_state(m, B, h, c));
        OK(rnn_get_state(m, B, h2, c2));
        ck_assert(memcmp(h, h2, sizeof h) == 0);
        if (cell == RNN_CELL_LSTM) ck_assert(memcmp(c, c2, sizeof c) == 0);
        rnn_model_free(m);
    }
}
END_TEST

START_TEST(test_state_grad)
{
    for (int cell = 0; cell < NCELLS; cell++) {
        rnn_config cfg = tiny_cfg(cell, L, 0.0f);
        rnn_model *m = make_model(&cfg);
        enum { N = L * B * H };
        float dh[N], dc[N], dh2[N], dc2[N];
        ck_assert_int_eq(rnn_get_state_grad(m, B, dh, dc), RNN_ERR_STATE);
        OK(rnn_reset_state(m, B));
        ck_assert_int_eq(rnn_get_state_grad(m, B, dh, dc), RNN_ERR_STATE);
        OK(rnn_forward(m, TOK, TGT, B, T, NULL));
        ck_assert_int_eq(rnn_get_state_grad(m, B, dh, dc), RNN_ERR_STATE);
        ck_assert(rnn_errmsg(m)[0] != '\0');
        OK(rnn_zero_grad(m));
        OK(rnn_backward(m));
        for (int i = 0; i < N; i++) dc[i] = 777.0f;
        OK(rnn_get_state_grad(m, B, dh, dc));
        double nh = 0;
        for (int i = 0; i < N; i++) {
            ck_assert(isfinite(dh[i]));
            nh += fabs(dh[i]);
            if (cell != RNN_CELL_LSTM) ck_assert_msg(dc[i] == 777.0f, "dc written for a non-LSTM cell");
        }
        ck_assert_msg(nh > 0, "%s: zero state gradient", CELL_NAME[cell]);
        if (cell == RNN_CELL_LSTM) {
            double nc = 0;
            for (int i = 0; i < N; i++) nc += fabs(dc[i]);
            ck_assert(nc > 0);
        }
        OK(rnn_get_state_grad(m, B, dh2, NULL)); /* dc may be NULL; reading twice is fine */
        ck_assert(memcmp(dh, dh2, sizeof dh) == 0);
        ck_assert_int_eq(rnn_get_state_grad(m, B + 1, dh2, dc2), RNN_ERR_STATE);
        /* the gradient w.r.t. a nonzero entering state, by central differences on a few components
         * (not for RNN_RELU, whose kinks make a finite difference unreliable; test_grad covers it) */
        if (cell == RNN_CELL_RELU) {
            rnn_model_free(m);
            continue;
        }
        float h0[N], c0[N], hp[N];
        memset(c0, 0, sizeof c0);
        for (int i = 0; i < N; i++) h0[i] = 0.1f * (float)((i % 5) - 2);
        OK(rnn_set_state(m, B, h0, c0));
        OK(rnn_forward(m, TOK, TGT, B, T, NULL));
        OK(rnn_zero_grad(m));
        OK(rnn_backward(m));
        OK(rnn_get_state_grad(m, B, dh, NULL));
        const int idx[] = {0, N / 2, N - 1};
        for (int j = 0; j < 3; j++) {
            double lp, lm, eps = 1e-2;
            memcpy(hp, h0, sizeof hp);
            hp[idx[j]] += (float)eps;
            OK(rnn_set_state(m, B, hp, c0));
            OK(rnn_evaluate(m, TOK, TGT, B, T, &lp, NULL));
            hp[idx[j]] -= (float)(2 * eps);
            OK(rnn_set_state(m, B, hp, c0));
            OK(rnn_evaluate(m, TOK, TGT, B, T, &lm, NULL));
            double fd = (lp - lm) / (2 * eps);
            ck_assert_msg(fabs(fd - dh[idx[j]]) <= 2e-3 * fmax(1e-2, fabs(fd)) + 2e-4,
                          "%s: dh[%d] = %.6g, central difference %.6g", CELL_NAME[cell], idx[j], (double)dh[idx[j]], fd);
        }
        rnn_model_free(m);
    }
}
END_TEST

/* ---- main ------------------------------------------------------------------------------------ */
int main(void)
{
    init_inputs();
    Suite *s = suite_create("api");
    TCase *tc;

    tc = tcase_create("misc");
    tcase_add_test(tc, test_version);
    tcase_add_test(tc, test_strerror);
    tcase_add_test(tc, test_config_init);
    tcase_add_test(tc, test_vocab);
    tcase_add_test(tc, test_free_null_errmsg_model_config);
    suite_add_tcase(s, tc);

    tc = tcase_create("config");
    tcase_add_test(tc, test_create_rejects_config);
    tcase_add_test(tc, test_create_rejects_args);
    suite_add_tcase(s, tc);

    tc = tcase_create("null");
    tcase_add_test(tc, test_null_handle);
    tcase_add_test(tc, test_load_args);
    suite_add_tcase(s, tc);

    tc = tcase_create("badcall");
    tcase_add_loop_test(tc, test_bad_call, 0, NBAD);
    tcase_add_test(tc, test_failed_forward_keeps_pending);
    suite_add_tcase(s, tc);

    tc = tcase_create("params");
    tcase_add_loop_test(tc, test_param_layout, 0, NCELLS * 3 * 2);
    tcase_add_loop_test(tc, test_param_init, 0, NCELLS);
    tcase_add_test(tc, test_param_init_seed);
    tcase_add_test(tc, test_param_write_through);
    suite_add_tcase(s, tc);

    tc = tcase_create("alloc");
    tcase_add_test(tc, test_alloc_balance);
    tcase_add_test(tc, test_alloc_steady_state);
    tcase_add_test(tc, test_alloc_reserve);
    tcase_add_test(tc, test_alloc_create_fails);
    tcase_add_test(tc, test_alloc_vocab_fails);
    tcase_add_test(tc, test_alloc_growth_fails);
    suite_add_tcase(s, tc);

    tc = tcase_create("determinism");
    tcase_add_test(tc, test_determinism_seed);
    tcase_add_test(tc, test_determinism_set_seed);
    tcase_add_test(tc, test_determinism_threads);
    suite_add_tcase(s, tc);

    tc = tcase_create("semantics");
    tcase_add_test(tc, test_eval_equals_forward);
    tcase_add_test(tc, test_logprobs);
    tcase_add_test(tc, test_logprobs_huge_logits);
    tcase_add_test(tc, test_state_carry);
    tcase_add_test(tc, test_reset_zeros);
    tcase_add_test(tc, test_all_ignored);
    tcase_add_test(tc, test_partial_ignore_gradient);
    tcase_add_test(tc, test_backward_accumulates);
    tcase_add_test(tc, test_sgd_exact);
    tcase_add_test(tc, test_clip);
    suite_add_tcase(s, tc);

    tc = tcase_create("sampling");
    tcase_add_loop_test(tc, test_sample_distribution, 0, NCELLS);
    tcase_add_test(tc, test_sample_greedy_ties);
    tcase_add_test(tc, test_sample_consistency);
    suite_add_tcase(s, tc);

    tc = tcase_create("state");
    tcase_add_test(tc, test_state_roundtrip);
    tcase_add_test(tc, test_state_grad);
    suite_add_tcase(s, tc);

    return tu_run(s);
}
