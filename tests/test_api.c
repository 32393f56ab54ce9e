/*
 * test_api.c -- the public contract of include/rnn.h, call by call.
 *
 * One TCase per topic:
 *   misc        version, rnn_status_string, rnn_config_init, rnn_model_errmsg, rnn_model_free(NULL),
 *               config copy, the vocabulary calls, rnn_limit_get, rnn_cell_name / rnn_cell_find,
 *               rnn_model_errcode / rnn_state_errcode, rnn_vocab_find
 *   encode      rnn_vocab_encode: str.split() semantics, <eos>, <unk> handling, RNN_ERR_SIZE, UTF-8
 *   config      rnn_model_create rejects every bad configuration with RNN_ERR_INVALID, *out = NULL,
 *               and says why in errbuf
 *   struct_size the rules for structs that grow: shorter (older) and longer (newer) callers,
 *               struct_size values that cut a field
 *   stride      rnn_forward / rnn_evaluate over a column slice == the same tokens copied densely
 *   null        every call given a NULL handle; rnn_model_load's argument checks
 *   badcall     every bad argument / out-of-order call on a live handle (each cell type): the
 *               documented code, a non-empty rnn_model_errmsg, and a model left exactly as it was.
 *               The check runs against a twin handle that never saw the bad call: parameters,
 *               gradients, hidden state compare byte for byte, and the twins keep agreeing afterwards
 *               (a pending backward, the generator, later training steps and samples)
 *   params      tensor names, order, shapes and tiling of the blocks, rnn_param_find, tying,
 *               initialisation ranges
 *   alloc       the allocation hooks: balance, zero steady-state allocations, rnn_model_reserve,
 *               failing allocators in rnn_model_create, rnn_model_reset_hidden and workspace growth;
 *               the workspace sized for the call's shape, not the history's; a long rnn_evaluate
 *               without targets in chunks of bounded memory
 *   numeric     non-finite weights: NaN losses (never a finite one), RNN_ERR_NUMERIC from rnn_sample
 *   determinism seeds: bit-identical training, rnn_model_set_seed, distinct handles in two threads
 *   semantics   evaluate vs forward, log-probs, RNN_IGNORE, SGD, gradient clipping, the carried
 *               hidden state, gradient accumulation, [batch][steps] layout
 *   sampling    empirical frequencies at temperature 1 and 0.5, greedy ties, reproducibility,
 *               top_k 1 == greedy
 *   state       get/set/grad round trips
 */
#include "testutil.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define RNN_EXPERT_API /* rnn_param_get_block, rnn_model_get_hidden_grad */
#include "rnn.h"
#include "model.h" /* rnn__chunk_steps: where long inputs are cut */

/* The 1.0 structs that grow carry their size. */
#define SMP_SIZE sizeof(rnn_sampling)
/* An rnn_sampling of the 1.0 fields (designated: the 1.1 fields are 0, their defaults). */
#define SMPL(size, t, k, p) {.struct_size = (size), .temperature = (t), .top_k = (k), .top_p = (p)}
#define PARAM_INIT {.struct_size = sizeof(rnn_param)}
/* rnn_sample's sampling at temperature t (top_k 0, top_p 1: the plain draw of 0.1's rnn_sample) */
#define SMP(t) (&(rnn_sampling)SMPL(SMP_SIZE, (t), 0, 1.0f))

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
    rnn_config_init(&c, sizeof c);
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
    int rc = rnn_model_create(&m, cfg, NULL, NULL, 0);
    ck_assert_msg(rc == RNN_OK, "rnn_model_create: %d (%s)", rc, rnn_status_string(rc));
    ck_assert_ptr_nonnull(m);
    return m;
}

#define OK(call)                                                                                   \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        ck_assert_msg(rc_ == RNN_OK, "%s -> %d (%s)", #call, rc_, rnn_status_string(rc_));             \
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
    OK(rnn_param_get_block(m, &p, &g, &s->n));
    s->p = malloc(s->n * sizeof(float));
    s->g = malloc(s->n * sizeof(float));
    memcpy(s->p, p, s->n * sizeof(float));
    memcpy(s->g, g, s->n * sizeof(float));
    OK(rnn_model_get_batch(m, &s->batch));
    rnn_config cfg;
    OK(rnn_config_init(&cfg, sizeof cfg));
    OK(rnn_model_get_config(m, &cfg));
    if (s->batch > 0) {
        s->ns = (size_t)cfg.num_layers * s->batch * cfg.hidden_size;
        s->h = malloc(s->ns * sizeof(float));
        s->c = malloc(s->ns * sizeof(float));
        memset(s->c, 0, s->ns * sizeof(float));
        OK(rnn_model_get_hidden(m, s->batch, s->h, cfg.cell == RNN_CELL_LSTM ? s->c : NULL));
    }
    OK(rnn_vocab_get_size(m, &s->nvocab));
    for (int i = 0; i < s->nvocab && i < 64; i++) {
        const char *w = NULL;
        OK(rnn_vocab_get_word(m, i, &w));
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

START_TEST(test_status_string)
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
    ck_assert_int_eq(RNN_ERR_SIZE, 9);
    ck_assert_int_eq(RNN_IGNORE, -1);
    const char *s[10];
    for (int i = 0; i <= 9; i++) {
        s[i] = rnn_status_string(i);
        ck_assert_ptr_nonnull(s[i]);
        ck_assert_msg(s[i][0] != '\0', "rnn_status_string(%d) is empty", i);
        ck_assert_msg(strcmp(s[i], "unknown status") != 0, "rnn_status_string(%d) is 'unknown status'", i);
        for (int j = 0; j < i; j++)
            ck_assert_msg(strcmp(s[i], s[j]) != 0, "rnn_status_string(%d) == rnn_status_string(%d)", i, j);
    }
    const int unknown[] = {-1, 10, 11, 100, INT_MAX, INT_MIN};
    for (size_t k = 0; k < sizeof unknown / sizeof *unknown; k++) {
        const char *u = rnn_status_string(unknown[k]);
        ck_assert_ptr_nonnull(u);
        ck_assert_str_eq(u, "unknown status");
    }
}
END_TEST

START_TEST(test_config_init)
{
    rnn_config c;
    memset(&c, 0x5A, sizeof c);
    OK(rnn_config_init(&c, sizeof c));
    ck_assert(c.struct_size == sizeof c);
    ck_assert_int_eq(c.cell, RNN_CELL_LSTM);
    ck_assert_int_eq(c.vocab_size, 0);
    ck_assert_int_eq(c.emb_size, 200);
    ck_assert_int_eq(c.hidden_size, 200);
    ck_assert_int_eq(c.num_layers, 2);
    ck_assert(c.dropout == 0.2f);
    ck_assert_int_eq(c.tied, 0);
    ck_assert(c.seed == 1111);
    ck_assert_int_eq(rnn_config_init(NULL, sizeof(rnn_config)), RNN_ERR_INVALID); /* no crash */
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
    OK(rnn_vocab_get_size(m, &n));
    ck_assert_int_eq(n, 0);
    char buf[V][8];
    const char *words[V];
    for (int i = 0; i < V; i++) snprintf(buf[i], sizeof buf[i], "w%d", i), words[i] = buf[i];
    OK(rnn_vocab_set(m, words, V));
    memset(buf, 'z', sizeof buf); /* the words were copied */
    OK(rnn_vocab_get_size(m, &n));
    ck_assert_int_eq(n, V);
    for (int i = 0; i < V; i++) {
        const char *w = NULL;
        char want[8];
        snprintf(want, sizeof want, "w%d", i);
        OK(rnn_vocab_get_word(m, i, &w));
        ck_assert_ptr_nonnull(w);
        ck_assert_str_eq(w, want);
    }
    OK(rnn_vocab_set(m, WORDS, V)); /* replaced */
    for (int i = 0; i < V; i++) {
        const char *w = NULL;
        OK(rnn_vocab_get_word(m, i, &w));
        ck_assert_str_eq(w, WORDS[i]);
    }
    rnn_model_free(m);
}
END_TEST

START_TEST(test_free_null_errmsg_model_config)
{
    rnn_model_free(NULL); /* a no-op */
    const char *e = rnn_model_errmsg(NULL);
    ck_assert_ptr_nonnull(e);
    rnn_config cfg = tiny_cfg(RNN_CELL_GRU, 3, 0.25f);
    cfg.seed = 0xDEADBEEFCAFEull;
    rnn_model *m = make_model(&cfg);
    ck_assert_ptr_nonnull(rnn_model_errmsg(m));
    ck_assert_str_eq(rnn_model_errmsg(m), ""); /* nothing failed yet */
    rnn_config got;
    memset(&got, 0, sizeof got);
    got.struct_size = sizeof got;
    OK(rnn_model_get_config(m, &got));
    ck_assert_int_eq(got.cell, cfg.cell);
    ck_assert_int_eq(got.vocab_size, cfg.vocab_size);
    ck_assert_int_eq(got.emb_size, cfg.emb_size);
    ck_assert_int_eq(got.hidden_size, cfg.hidden_size);
    ck_assert_int_eq(got.num_layers, cfg.num_layers);
    ck_assert(got.dropout == cfg.dropout);
    ck_assert(!got.tied == !cfg.tied);
    ck_assert(got.seed == cfg.seed);
    int b = -7;
    OK(rnn_model_get_batch(m, &b));
    ck_assert_int_eq(b, 0); /* no state before rnn_model_reset_hidden */
    /* the config is copied: changing ours later changes nothing */
    cfg.vocab_size = 99;
    OK(rnn_model_get_config(m, &got));
    ck_assert_int_eq(got.vocab_size, V);
    /* a failing call fills the message; a later successful one need not clear it */
    ck_assert_int_eq(rnn_model_reset_hidden(m, 0), RNN_ERR_INVALID);
    ck_assert_ptr_nonnull(rnn_model_errmsg(m));
    ck_assert(rnn_model_errmsg(m)[0] != '\0');
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
static void mut_cellcount(rnn_config *c) { c->cell = RNN_CELL_COUNT; }
static void mut_layers_max(rnn_config *c) { c->num_layers = 1024 + 1; }       /* RNN_LIMIT_LAYERS + 1 */
static void mut_hidden_max(rnn_config *c) { c->hidden_size = 16777216 + 1; } /* RNN_LIMIT_DIM + 1 */
static void mut_hidden_intmax(rnn_config *c) { c->hidden_size = INT_MAX; }

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
    {"cell 1000", mut_cellbig},       {"cell RNN_CELL_COUNT", mut_cellcount},
    {"num_layers RNN_LIMIT_LAYERS + 1", mut_layers_max},
    {"hidden_size RNN_LIMIT_DIM + 1", mut_hidden_max},
    {"hidden_size INT_MAX", mut_hidden_intmax},
};

START_TEST(test_create_rejects_config)
{
    for (size_t k = 0; k < sizeof CFG_CASES / sizeof *CFG_CASES; k++) {
        rnn_config c = tiny_cfg(RNN_CELL_LSTM, 2, 0.2f);
        CFG_CASES[k].mutate(&c);
        rnn_model *m = (rnn_model *)&c; /* a non-NULL sentinel that must be overwritten */
        int rc = rnn_model_create(&m, &c, NULL, NULL, 0);
        ck_assert_msg(rc == RNN_ERR_INVALID, "%s: got %d, want RNN_ERR_INVALID", CFG_CASES[k].what, rc);
        ck_assert_msg(m == NULL, "%s: *out not set to NULL", CFG_CASES[k].what);
        /* 1.0: with an errbuf, the reason */
        char err[256];
        err[0] = '\0';
        m = (rnn_model *)&c;
        rc = rnn_model_create(&m, &c, NULL, err, sizeof err);
        ck_assert_msg(rc == RNN_ERR_INVALID, "%s (errbuf): got %d, want RNN_ERR_INVALID", CFG_CASES[k].what, rc);
        ck_assert_ptr_null(m);
        ck_assert_msg(memchr(err, '\0', sizeof err) != NULL, "%s: errbuf not NUL-terminated", CFG_CASES[k].what);
        ck_assert_msg(err[0] != '\0', "%s: errbuf empty", CFG_CASES[k].what);
    }
}
END_TEST

START_TEST(test_create_rejects_args)
{
    rnn_config c = tiny_cfg(RNN_CELL_LSTM, 2, 0.2f);
    ck_assert_int_eq(rnn_model_create(NULL, &c, NULL, NULL, 0), RNN_ERR_INVALID);
    rnn_model *m = (rnn_model *)&c;
    ck_assert_int_eq(rnn_model_create(&m, NULL, NULL, NULL, 0), RNN_ERR_INVALID);
    ck_assert_ptr_null(m);
    /* hooks with only one of alloc / free */
    rnn_allocator only_alloc = {sizeof(rnn_allocator), dummy_alloc, NULL, NULL};
    rnn_allocator only_free = {sizeof(rnn_allocator), NULL, dummy_free, NULL};
    m = (rnn_model *)&c;
    ck_assert_int_eq(rnn_model_create(&m, &c, &only_alloc, NULL, 0), RNN_ERR_INVALID);
    ck_assert_ptr_null(m);
    m = (rnn_model *)&c;
    ck_assert_int_eq(rnn_model_create(&m, &c, &only_free, NULL, 0), RNN_ERR_INVALID);
    ck_assert_ptr_null(m);
    /* both NULL: malloc/free */
    rnn_allocator none = {sizeof(rnn_allocator), NULL, NULL, &c};
    OK(rnn_model_create(&m, &c, &none, NULL, 0));
    ck_assert_ptr_nonnull(m);
    rnn_model_free(m);
    rnn_allocator both = {sizeof(rnn_allocator), dummy_alloc, dummy_free, NULL};
    OK(rnn_model_create(&m, &c, &both, NULL, 0));
    rnn_model_free(m);
    /* valid edges: dropout 0, one layer, tied with E == H, any nonzero tied value */
    c.dropout = 0.0f, c.num_layers = 1, c.tied = 3, c.emb_size = c.hidden_size = 4;
    OK(rnn_model_create(&m, &c, NULL, NULL, 0));
    rnn_model_free(m);
    c.dropout = 0.99f, c.vocab_size = 1;
    OK(rnn_model_create(&m, &c, NULL, NULL, 0));
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
    rnn_param p = PARAM_INIT;
    rnn_config cfg;
    OK(rnn_config_init(&cfg, sizeof cfg));
    float *pd, *pg;
    size_t cnt;
    ck_assert_int_eq(rnn_model_get_config(NULL, &cfg), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_model_reset_hidden(NULL, 1), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_model_reserve(NULL, 1, 1), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_model_get_batch(NULL, &n), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_model_get_hidden(NULL, 1, h, c), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_model_set_hidden(NULL, 1, h, c), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_model_get_hidden_grad(NULL, 1, h, c), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_forward(NULL, tok, tok, 1, 1, 0, &loss), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_backward(NULL), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_zero_grad(NULL), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_clip_grad_norm(NULL, 0.25f, &norm), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_sgd_step(NULL, 0.1f), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_evaluate(NULL, tok, tok, 1, 1, 0, &loss, NULL), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_sample(NULL, tok, 1, SMP(1.0f), next), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_model_set_seed(NULL, 1), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_param_get_count(NULL, &n), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_param_get(NULL, 0, &p), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_param_find(NULL, "encoder.weight", &p), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_param_get_block(NULL, &pd, &pg, &cnt), RNN_ERR_INVALID);
    const char *w;
    ck_assert_int_eq(rnn_vocab_set(NULL, WORDS, V), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_vocab_get_size(NULL, &n), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_vocab_get_word(NULL, 0, &w), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_model_save(NULL, "/tmp/test_api_never_written.rnn", 0, NULL, 0), RNN_ERR_INVALID);
    ck_assert_ptr_nonnull(rnn_model_errmsg(NULL));
    /* the calls new in 1.0 */
    int32_t id;
    size_t len, unk;
    const void *ad;
    ck_assert_int_eq(rnn_model_errcode(NULL), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_model_set_threads(NULL, 1), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_model_get_threads(NULL, &n), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_vocab_find(NULL, "the", &id), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_vocab_encode(NULL, "the", 3, 0, tok, B * T, &len, &unk), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_model_get_app_data(NULL, &ad, &len), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_model_save_mem(NULL, NULL, 0, &len, 0, NULL, 0), RNN_ERR_INVALID);
    rnn_model_free(NULL);
}
END_TEST

/* rnn_model_load's argument checks: out is NULL on every failure, errbuf says why */
START_TEST(test_load_args)
{
    rnn_config c = tiny_cfg(RNN_CELL_LSTM, 1, 0.0f);
    char err[256];
    rnn_model *m;
    ck_assert_int_eq(rnn_model_load(NULL, "/nonexistent/x.rnn", NULL, 0, err, sizeof err), RNN_ERR_INVALID);
    m = (rnn_model *)&c;
    err[0] = 0;
    ck_assert_int_eq(rnn_model_load(&m, NULL, NULL, 0, err, sizeof err), RNN_ERR_INVALID);
    ck_assert_ptr_null(m);
    ck_assert(err[0] != '\0');
    m = (rnn_model *)&c;
    ck_assert_int_eq(rnn_model_load(&m, "/nonexistent/dir/x.rnn", NULL, 0, NULL, 0), RNN_ERR_IO);
    ck_assert_ptr_null(m);
    rnn_allocator only_alloc = {sizeof(rnn_allocator), dummy_alloc, NULL, NULL};
    rnn_allocator only_free = {sizeof(rnn_allocator), NULL, dummy_free, NULL};
    m = (rnn_model *)&c;
    err[0] = 0;
    int rc = rnn_model_load(&m, "/nonexistent/dir/x.rnn", &only_alloc, 0, err, sizeof err);
    ck_assert_int_eq(rc, RNN_ERR_INVALID);
    ck_assert_msg(m == NULL, "rnn_model_load with only an alloc hook: *out not set to NULL");
    ck_assert(err[0] != '\0');
    m = (rnn_model *)&c;
    rc = rnn_model_load(&m, "/nonexistent/dir/x.rnn", &only_free, 0, err, sizeof err);
    ck_assert_int_eq(rc, RNN_ERR_INVALID);
    ck_assert_msg(m == NULL, "rnn_model_load with only a free hook: *out not set to NULL");
}
END_TEST

/* ---- badcall: bad arguments and wrong order on a live handle -------------------------------- */
/*
 * Preparation levels. Every one makes only successful calls, so rnn_model_errmsg stays "".
 *   CREATED  rnn_model_create only (no hidden state)
 *   RESET    + rnn_model_reset_hidden(B)
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
    if (level >= LV_RESET) OK(rnn_model_reset_hidden(m, B));
    if (level >= LV_FORWARD) OK(rnn_forward(m, TOK, TGT, B, T, 0, &loss));
    if (level >= LV_IDLE) {
        OK(rnn_zero_grad(m));
        OK(rnn_backward(m));
        OK(rnn_clip_grad_norm(m, 5.0f, NULL));
        OK(rnn_sgd_step(m, 0.5f));
    }
    if (level >= LV_PENDING) OK(rnn_forward(m, TOK2, TGT2, B, T, 0, &loss));
    ck_assert_str_eq(rnn_model_errmsg(m), "");
    return m;
}

/* Scratch for the bad calls (all large enough for batch B+2, L layers, 2T steps). */
static float SH[L * MAXB * H], SC[L * MAXB * H];
static int32_t SNEXT[MAXB];
static int32_t BADTOK[MAXB * MAXT];
static double SLOSS;
static float SLOGP[MAXB * MAXT * V];
static rnn_param SPARAM;

/* a fresh rnn_param (struct_size set) for each call */
static rnn_param *sparam(void)
{
    memset(&SPARAM, 0, sizeof SPARAM);
    SPARAM.struct_size = sizeof SPARAM;
    return &SPARAM;
}

/* a sampling struct with the given struct_size and fields; smp_longer: a newer program's longer struct
 * whose unknown tail is `extra` */
static rnn_sampling SSMP;
static struct {
    rnn_sampling s;
    uint64_t extra;
} SSMPX;
static const rnn_sampling *smp_with(size_t size, float t, int k, float p)
{
    memset(&SSMP, 0, sizeof SSMP);
    SSMP.struct_size = size, SSMP.temperature = t, SSMP.top_k = k, SSMP.top_p = p;
    return &SSMP;
}
static const rnn_sampling *smp_longer(uint64_t extra)
{
    memset(&SSMPX, 0, sizeof SSMPX);
    SSMPX.s.struct_size = sizeof SSMPX, SSMPX.s.temperature = 1.0f, SSMPX.s.top_k = 0, SSMPX.s.top_p = 1.0f;
    SSMPX.extra = extra;
    return &SSMPX.s;
}

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

BADCALL(bc_reset0, rnn_model_reset_hidden(m, 0))
BADCALL(bc_resetneg, rnn_model_reset_hidden(m, -3))
BADCALL(bc_resetmin, rnn_model_reset_hidden(m, INT_MIN))
BADCALL(bc_reserve_b0, rnn_model_reserve(m, 0, T))
BADCALL(bc_reserve_t0, rnn_model_reserve(m, B, 0))
BADCALL(bc_reserve_neg, rnn_model_reserve(m, -1, -1))
BADCALL(bc_reserve_tneg, rnn_model_reserve(m, B, -4))
BADCALL(bc_state_batch_null, rnn_model_get_batch(m, NULL))
BADCALL(bc_get_null, rnn_model_get_hidden(m, B, NULL, SC))
BADCALL(bc_get_bigger, rnn_model_get_hidden(m, B + 1, SH, SC))
BADCALL(bc_get_smaller, rnn_model_get_hidden(m, B - 1, SH, SC))
BADCALL(bc_get_b, rnn_model_get_hidden(m, B, SH, SC))
BADCALL(bc_set_null, rnn_model_set_hidden(m, B, NULL, SC))
BADCALL(bc_set_bigger, rnn_model_set_hidden(m, B + 1, SH, SC))
BADCALL(bc_set_smaller, rnn_model_set_hidden(m, B - 1, SH, SC))
BADCALL(bc_set_b, rnn_model_set_hidden(m, B, SH, SC))
BADCALL(bc_sgrad_null, rnn_model_get_hidden_grad(m, B, NULL, SC))
BADCALL(bc_sgrad_bigger, rnn_model_get_hidden_grad(m, B + 1, SH, SC))
BADCALL(bc_sgrad_b, rnn_model_get_hidden_grad(m, B, SH, SC))
/* rnn_forward */
BADCALL(bc_fw_tok_null, rnn_forward(m, NULL, TGT, B, T, 0, &SLOSS))
BADCALL(bc_fw_tgt_null, rnn_forward(m, TOK, NULL, B, T, 0, &SLOSS))
BADCALL(bc_fw_b0, rnn_forward(m, TOK, TGT, 0, T, 0, &SLOSS))
BADCALL(bc_fw_bneg, rnn_forward(m, TOK, TGT, -1, T, 0, &SLOSS))
BADCALL(bc_fw_t0, rnn_forward(m, TOK, TGT, B, 0, 0, &SLOSS))
BADCALL(bc_fw_tneg, rnn_forward(m, TOK, TGT, B, -2, 0, &SLOSS))
BADCALL(bc_fw_tok_neg, rnn_forward(m, tok_with(5, -1), TGT, B, T, 0, &SLOSS))
BADCALL(bc_fw_tok_v, rnn_forward(m, tok_with(0, V), TGT, B, T, 0, &SLOSS))
BADCALL(bc_fw_tok_last, rnn_forward(m, tok_with(B * T - 1, V), TGT, B, T, 0, &SLOSS))
BADCALL(bc_fw_tok_max, rnn_forward(m, tok_with(3, INT32_MAX), TGT, B, T, 0, &SLOSS))
BADCALL(bc_fw_tok_min, rnn_forward(m, tok_with(7, INT32_MIN), TGT, B, T, 0, &SLOSS))
BADCALL(bc_fw_tgt_v, rnn_forward(m, TOK, tgt_with(2, V), B, T, 0, &SLOSS))
BADCALL(bc_fw_tgt_last, rnn_forward(m, TOK, tgt_with(B * T - 1, V + 100), B, T, 0, &SLOSS))
BADCALL(bc_fw_tgt_m2, rnn_forward(m, TOK, tgt_with(4, -2), B, T, 0, &SLOSS))
BADCALL(bc_fw_tgt_min, rnn_forward(m, TOK, tgt_with(6, INT32_MIN), B, T, 0, &SLOSS))
BADCALL(bc_fw_bigger, rnn_forward(m, TOK, TGT, B + 1, T, 0, &SLOSS))
BADCALL(bc_fw_smaller, rnn_forward(m, TOK, TGT, B - 1, T, 0, &SLOSS))
BADCALL(bc_fw_b, rnn_forward(m, TOK, TGT, B, T, 0, &SLOSS))
/* rnn_evaluate */
BADCALL(bc_ev_tok_null, rnn_evaluate(m, NULL, TGT, B, T, 0, &SLOSS, SLOGP))
BADCALL(bc_ev_b0, rnn_evaluate(m, TOK, TGT, 0, T, 0, &SLOSS, SLOGP))
BADCALL(bc_ev_bneg, rnn_evaluate(m, TOK, TGT, -3, T, 0, &SLOSS, SLOGP))
BADCALL(bc_ev_t0, rnn_evaluate(m, TOK, TGT, B, 0, 0, &SLOSS, SLOGP))
BADCALL(bc_ev_tneg, rnn_evaluate(m, TOK, TGT, B, -1, 0, &SLOSS, SLOGP))
BADCALL(bc_ev_tok_neg, rnn_evaluate(m, tok_with(1, -1), TGT, B, T, 0, &SLOSS, SLOGP))
BADCALL(bc_ev_tok_v, rnn_evaluate(m, tok_with(B * T - 1, V), TGT, B, T, 0, &SLOSS, NULL))
BADCALL(bc_ev_tgt_v, rnn_evaluate(m, TOK, tgt_with(B * T - 1, V), B, T, 0, &SLOSS, SLOGP))
BADCALL(bc_ev_tgt_m2, rnn_evaluate(m, TOK, tgt_with(0, -2), B, T, 0, &SLOSS, SLOGP))
BADCALL(bc_ev_bigger, rnn_evaluate(m, TOK, TGT, B + 1, T, 0, &SLOSS, SLOGP))
BADCALL(bc_ev_smaller, rnn_evaluate(m, TOK, TGT, 1, T, 0, &SLOSS, SLOGP))
BADCALL(bc_ev_b, rnn_evaluate(m, TOK, TGT, B, T, 0, &SLOSS, SLOGP))
/* rnn_sample */
BADCALL(bc_sa_tok_null, rnn_sample(m, NULL, B, SMP(1.0f), SNEXT))
BADCALL(bc_sa_next_null, rnn_sample(m, TOK, B, SMP(1.0f), NULL))
BADCALL(bc_sa_b0, rnn_sample(m, TOK, 0, SMP(1.0f), SNEXT))
BADCALL(bc_sa_bneg, rnn_sample(m, TOK, -1, SMP(1.0f), SNEXT))
BADCALL(bc_sa_bigger, rnn_sample(m, TOK, B + 1, SMP(1.0f), SNEXT))
BADCALL(bc_sa_smaller, rnn_sample(m, TOK, B - 1, SMP(1.0f), SNEXT))
BADCALL(bc_sa_b, rnn_sample(m, TOK, B, SMP(1.0f), SNEXT))
BADCALL(bc_sa_tok_neg, rnn_sample(m, tok_with(B - 1, -1), B, SMP(1.0f), SNEXT))
BADCALL(bc_sa_tok_v, rnn_sample(m, tok_with(0, V), B, SMP(0.0f), SNEXT))
BADCALL(bc_sa_temp_neg, rnn_sample(m, TOK, B, SMP(-0.5f), SNEXT))
BADCALL(bc_sa_temp_tiny_neg, rnn_sample(m, TOK, B, SMP(-1e-38f), SNEXT))
BADCALL(bc_sa_temp_nan, rnn_sample(m, TOK, B, SMP(NAN), SNEXT))
BADCALL(bc_sa_temp_inf, rnn_sample(m, TOK, B, SMP(INFINITY), SNEXT))
BADCALL(bc_sa_temp_ninf, rnn_sample(m, TOK, B, SMP(-INFINITY), SNEXT))
BADCALL(bc_sa_topk_neg, rnn_sample(m, TOK, B, smp_with(SMP_SIZE, 1.0f, -1, 1.0f), SNEXT))
BADCALL(bc_sa_topp_0, rnn_sample(m, TOK, B, smp_with(SMP_SIZE, 1.0f, 0, 0.0f), SNEXT))
BADCALL(bc_sa_topp_big, rnn_sample(m, TOK, B, smp_with(SMP_SIZE, 1.0f, 0, 1.5f), SNEXT))
BADCALL(bc_sa_topp_nan, rnn_sample(m, TOK, B, smp_with(SMP_SIZE, 1.0f, 0, NAN), SNEXT))
BADCALL(bc_sa_size_0, rnn_sample(m, TOK, B, smp_with(0, 1.0f, 0, 1.0f), SNEXT))
BADCALL(bc_sa_size_small, rnn_sample(m, TOK, B, smp_with(sizeof(size_t) - 1, 1.0f, 0, 1.0f), SNEXT))
BADCALL(bc_sa_size_cut, rnn_sample(m, TOK, B, smp_with(offsetof(rnn_sampling, temperature) + 2, 1.0f, 0, 1.0f), SNEXT))
BADCALL(bc_sa_size_tail, rnn_sample(m, TOK, B, smp_longer(1), SNEXT))
/* strides: 0 (dense) or >= steps */
BADCALL(bc_fw_stride1, rnn_forward(m, TOK, TGT, B, T, 1, &SLOSS))
BADCALL(bc_fw_stride_short, rnn_forward(m, TOK, TGT, B, T, T - 1, &SLOSS))
BADCALL(bc_fw_stride_neg, rnn_forward(m, TOK, TGT, B, T, -1, &SLOSS))
BADCALL(bc_fw_stride_min, rnn_forward(m, TOK, TGT, B, T, INT_MIN, &SLOSS))
BADCALL(bc_fw_stride_tok, rnn_forward(m, tok_with(2 * T + T - 1, V), TGT, B, T, 2 * T, &SLOSS))
BADCALL(bc_fw_stride_tgt, rnn_forward(m, TOK, tgt_with(2 * 2 * T, -2), B, T, 2 * T, &SLOSS))
BADCALL(bc_ev_stride_short, rnn_evaluate(m, TOK, TGT, B, T, T - 1, &SLOSS, SLOGP))
BADCALL(bc_ev_stride_neg, rnn_evaluate(m, TOK, TGT, B, T, -T, &SLOSS, SLOGP))
BADCALL(bc_ev_stride_tok, rnn_evaluate(m, tok_with(2 * T + 1, -1), TGT, B, T, 2 * T, &SLOSS, SLOGP))
/* rnn_clip_grad_norm, rnn_sgd_step */
BADCALL(bc_clip0, rnn_clip_grad_norm(m, 0.0f, NULL))
BADCALL(bc_clipneg, rnn_clip_grad_norm(m, -1.0f, NULL))
BADCALL(bc_clipnan, rnn_clip_grad_norm(m, NAN, NULL))
BADCALL(bc_clipinf, rnn_clip_grad_norm(m, INFINITY, NULL))
BADCALL(bc_sgdnan, rnn_sgd_step(m, NAN))
BADCALL(bc_sgdinf, rnn_sgd_step(m, INFINITY))
BADCALL(bc_sgdninf, rnn_sgd_step(m, -INFINITY))
/* parameters */
BADCALL(bc_pcount_null, rnn_param_get_count(m, NULL))
BADCALL(bc_pget_null, rnn_param_get(m, 0, NULL))
BADCALL(bc_pget_neg, rnn_param_get(m, -1, sparam()))
BADCALL(bc_pget_end, rnn_param_get(m, 4 * L + 3, sparam()))
BADCALL(bc_pget_big, rnn_param_get(m, INT_MAX, sparam()))
BADCALL(bc_pfind_null_name, rnn_param_find(m, NULL, sparam()))
BADCALL(bc_pfind_null_out, rnn_param_find(m, "encoder.weight", NULL))
BADCALL(bc_pfind_unknown, rnn_param_find(m, "no.such.parameter", sparam()))
BADCALL(bc_pfind_prefix, rnn_param_find(m, "encoder.weigh", sparam()))
BADCALL(bc_pfind_longer, rnn_param_find(m, "encoder.weights", sparam()))
BADCALL(bc_pfind_layer, rnn_param_find(m, "rnn.weight_ih_l2", sparam()))
BADCALL(bc_pfind_empty, rnn_param_find(m, "", sparam()))
BADCALL(bc_pfind_case, rnn_param_find(m, "Decoder.bias", sparam()))
BADCALL(bc_config_null, rnn_model_get_config(m, NULL))
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
/* 1.0: duplicates, whitespace (as rnn_vocab_encode splits) and over-long words are refused */
static const char *SWORDS[V];
static const char *const *words_with(int idx, const char *w)
{
    memcpy(SWORDS, WORDS2, sizeof SWORDS);
    SWORDS[idx] = w;
    return SWORDS;
}
static char LONGWORD[1048576 + 2]; /* RNN_LIMIT_WORD_BYTES + 1 bytes and a NUL */
static const char *long_word(size_t len)
{
    memset(LONGWORD, 'q', len);
    LONGWORD[len] = '\0';
    return LONGWORD;
}
VOCABCALL(bc_vset_dup, rnn_vocab_set(m, words_with(9, "x3"), V))
VOCABCALL(bc_vset_dup_first, rnn_vocab_set(m, words_with(10, "x0"), V))
VOCABCALL(bc_vset_space, rnn_vocab_set(m, words_with(4, "far away"), V))
VOCABCALL(bc_vset_lead_space, rnn_vocab_set(m, words_with(0, " x"), V))
VOCABCALL(bc_vset_tab, rnn_vocab_set(m, words_with(5, "a\tb"), V))
VOCABCALL(bc_vset_newline, rnn_vocab_set(m, words_with(6, "dog\n"), V))
VOCABCALL(bc_vset_nbsp, rnn_vocab_set(m, words_with(7, "x\xc2\xa0y"), V))
VOCABCALL(bc_vset_only_nbsp, rnn_vocab_set(m, words_with(7, "\xc2\xa0"), V))
VOCABCALL(bc_vset_ideo_space, rnn_vocab_set(m, words_with(8, "x\xe3\x80\x80y"), V))
VOCABCALL(bc_vset_unit_sep, rnn_vocab_set(m, words_with(8, "x\x1fy"), V))
VOCABCALL(bc_vset_too_long, rnn_vocab_set(m, words_with(3, long_word(1048576 + 1)), V))
VOCABCALL(bc_vsize_null, rnn_vocab_get_size(m, NULL))
VOCABCALL(bc_vword_null, rnn_vocab_get_word(m, 0, NULL))
VOCABCALL(bc_vword_neg, rnn_vocab_get_word(m, -1, &SWORD))
VOCABCALL(bc_vword_v, rnn_vocab_get_word(m, V, &SWORD))
BADCALL(bc_vword_none, rnn_vocab_get_word(m, 0, &SWORD))
VOCABCALL(bc_save_null, rnn_model_save(m, NULL, 0, NULL, 0))
VOCABCALL(bc_save_empty, rnn_model_save(m, "", 0, NULL, 0))
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
    OK(rnn_evaluate(m, TOK2, TGT2, B, T, 0, &l, NULL));
    return bad ? rnn_backward(m) : RNN_OK;
}
static int bc_bw_after_eval_smaller(rnn_model *m, int bad)
{
    double l;
    OK(rnn_evaluate(m, TOK2, TGT2, B, 1, 0, &l, NULL)); /* fits in the workspace: no regrowth */
    return bad ? rnn_backward(m) : RNN_OK;
}
static int bc_bw_after_sample(rnn_model *m, int bad)
{
    int32_t nx[B];
    OK(rnn_sample(m, TOK2, B, SMP(1.0f), nx));
    return bad ? rnn_backward(m) : RNN_OK;
}
static int bc_bw_after_reset(rnn_model *m, int bad)
{
    OK(rnn_model_reset_hidden(m, B));
    return bad ? rnn_backward(m) : RNN_OK;
}
static int bc_bw_after_reset_other(rnn_model *m, int bad)
{
    OK(rnn_model_reset_hidden(m, 1));
    return bad ? rnn_backward(m) : RNN_OK;
}
static int bc_bw_after_set(rnn_model *m, int bad)
{
    float h[L * B * H], c[L * B * H];
    OK(rnn_model_get_hidden(m, B, h, c));
    OK(rnn_model_set_hidden(m, B, h, c));
    return bad ? rnn_backward(m) : RNN_OK;
}
/* a batch mismatch after the state changed size */
static int bc_fw_after_shrink(rnn_model *m, int bad)
{
    OK(rnn_model_reset_hidden(m, 1));
    return bad ? rnn_forward(m, TOK, TGT, B, T, 0, &SLOSS) : RNN_OK;
}

typedef struct {
    const char *name;
    int level;
    bad_fn fn;
    int expect;
} bad_case;

static const bad_case BAD_CASES[] = {
    {"reset_hidden(0)", LV_PENDING, bc_reset0, RNN_ERR_INVALID},
    {"reset_hidden(-3)", LV_PENDING, bc_resetneg, RNN_ERR_INVALID},
    {"reset_hidden(INT_MIN)", LV_CREATED, bc_resetmin, RNN_ERR_INVALID},
    {"reserve(0, T)", LV_PENDING, bc_reserve_b0, RNN_ERR_INVALID},
    {"reserve(B, 0)", LV_PENDING, bc_reserve_t0, RNN_ERR_INVALID},
    {"reserve(-1, -1)", LV_CREATED, bc_reserve_neg, RNN_ERR_INVALID},
    {"reserve(B, -4)", LV_IDLE, bc_reserve_tneg, RNN_ERR_INVALID},
    {"get_batch(NULL)", LV_PENDING, bc_state_batch_null, RNN_ERR_INVALID},
    {"get_hidden(h NULL)", LV_PENDING, bc_get_null, RNN_ERR_INVALID},
    {"get_hidden(B+1)", LV_PENDING, bc_get_bigger, RNN_ERR_STATE},
    {"get_hidden(B-1)", LV_PENDING, bc_get_smaller, RNN_ERR_STATE},
    {"get_hidden before reset_hidden", LV_CREATED, bc_get_b, RNN_ERR_STATE},
    {"set_hidden(h NULL)", LV_PENDING, bc_set_null, RNN_ERR_INVALID},
    {"set_hidden(B+1)", LV_PENDING, bc_set_bigger, RNN_ERR_STATE},
    {"set_hidden(B-1)", LV_PENDING, bc_set_smaller, RNN_ERR_STATE},
    {"set_hidden before reset_hidden", LV_CREATED, bc_set_b, RNN_ERR_STATE},
    {"get_hidden_grad(dh NULL)", LV_PENDING, bc_sgrad_null, RNN_ERR_INVALID},
    {"get_hidden_grad(B+1)", LV_PENDING, bc_sgrad_bigger, RNN_ERR_STATE},
    {"get_hidden_grad before any backward (created)", LV_CREATED, bc_sgrad_b, RNN_ERR_STATE},
    {"get_hidden_grad before any backward (reset)", LV_RESET, bc_sgrad_b, RNN_ERR_STATE},
    {"get_hidden_grad before any backward (forward)", LV_FORWARD, bc_sgrad_b, RNN_ERR_STATE},
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
    {"forward before reset_hidden", LV_CREATED, bc_fw_b, RNN_ERR_STATE},
    {"forward(batch B) after reset_hidden(1)", LV_PENDING, bc_fw_after_shrink, RNN_ERR_STATE},
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
    {"evaluate before reset_hidden", LV_CREATED, bc_ev_b, RNN_ERR_STATE},
    {"sample(tokens NULL)", LV_PENDING, bc_sa_tok_null, RNN_ERR_INVALID},
    {"sample(next NULL)", LV_PENDING, bc_sa_next_null, RNN_ERR_INVALID},
    {"sample(batch 0)", LV_PENDING, bc_sa_b0, RNN_ERR_INVALID},
    {"sample(batch -1)", LV_PENDING, bc_sa_bneg, RNN_ERR_INVALID},
    {"sample(batch B+1)", LV_PENDING, bc_sa_bigger, RNN_ERR_STATE},
    {"sample(batch B-1)", LV_PENDING, bc_sa_smaller, RNN_ERR_STATE},
    {"sample before reset_hidden", LV_CREATED, bc_sa_b, RNN_ERR_STATE},
    {"sample(token -1)", LV_PENDING, bc_sa_tok_neg, RNN_ERR_RANGE},
    {"sample(token V)", LV_PENDING, bc_sa_tok_v, RNN_ERR_RANGE},
    {"sample(temperature -0.5)", LV_PENDING, bc_sa_temp_neg, RNN_ERR_INVALID},
    {"sample(temperature -1e-38)", LV_PENDING, bc_sa_temp_tiny_neg, RNN_ERR_INVALID},
    {"sample(temperature NaN)", LV_PENDING, bc_sa_temp_nan, RNN_ERR_INVALID},
    {"sample(temperature +inf)", LV_PENDING, bc_sa_temp_inf, RNN_ERR_INVALID},
    {"sample(temperature -inf)", LV_PENDING, bc_sa_temp_ninf, RNN_ERR_INVALID},
    {"sample(top_k -1)", LV_PENDING, bc_sa_topk_neg, RNN_ERR_INVALID},
    {"sample(top_p 0)", LV_PENDING, bc_sa_topp_0, RNN_ERR_INVALID},
    {"sample(top_p 1.5)", LV_PENDING, bc_sa_topp_big, RNN_ERR_INVALID},
    {"sample(top_p NaN)", LV_PENDING, bc_sa_topp_nan, RNN_ERR_INVALID},
    {"sample(sampling struct_size 0)", LV_PENDING, bc_sa_size_0, RNN_ERR_INVALID},
    {"sample(sampling struct_size < sizeof(size_t))", LV_PENDING, bc_sa_size_small, RNN_ERR_INVALID},
    {"sample(sampling struct_size cuts temperature)", LV_PENDING, bc_sa_size_cut, RNN_ERR_INVALID},
    {"sample(longer sampling, nonzero tail)", LV_PENDING, bc_sa_size_tail, RNN_ERR_INVALID},
    {"forward(stride 1)", LV_PENDING, bc_fw_stride1, RNN_ERR_INVALID},
    {"forward(stride T-1)", LV_PENDING, bc_fw_stride_short, RNN_ERR_INVALID},
    {"forward(stride -1)", LV_PENDING, bc_fw_stride_neg, RNN_ERR_INVALID},
    {"forward(stride INT_MIN)", LV_IDLE, bc_fw_stride_min, RNN_ERR_INVALID},
    {"forward(stride 2T, token V in row 1)", LV_PENDING, bc_fw_stride_tok, RNN_ERR_RANGE},
    {"forward(stride 2T, target -2 in row 2)", LV_PENDING, bc_fw_stride_tgt, RNN_ERR_RANGE},
    {"evaluate(stride T-1)", LV_PENDING, bc_ev_stride_short, RNN_ERR_INVALID},
    {"evaluate(stride -T)", LV_PENDING, bc_ev_stride_neg, RNN_ERR_INVALID},
    {"evaluate(stride 2T, token -1 in row 1)", LV_PENDING, bc_ev_stride_tok, RNN_ERR_RANGE},
    {"clip_grad_norm(0)", LV_PENDING, bc_clip0, RNN_ERR_INVALID},
    {"clip_grad_norm(-1)", LV_PENDING, bc_clipneg, RNN_ERR_INVALID},
    {"clip_grad_norm(NaN)", LV_PENDING, bc_clipnan, RNN_ERR_INVALID},
    {"clip_grad_norm(inf)", LV_PENDING, bc_clipinf, RNN_ERR_INVALID},
    {"sgd_step(NaN)", LV_PENDING, bc_sgdnan, RNN_ERR_INVALID},
    {"sgd_step(inf)", LV_PENDING, bc_sgdinf, RNN_ERR_INVALID},
    {"sgd_step(-inf)", LV_PENDING, bc_sgdninf, RNN_ERR_INVALID},
    {"param_get_count(NULL)", LV_PENDING, bc_pcount_null, RNN_ERR_INVALID},
    {"param_get(out NULL)", LV_PENDING, bc_pget_null, RNN_ERR_INVALID},
    {"param_get(-1)", LV_PENDING, bc_pget_neg, RNN_ERR_RANGE},
    {"param_get(count)", LV_PENDING, bc_pget_end, RNN_ERR_RANGE},
    {"param_get(INT_MAX)", LV_PENDING, bc_pget_big, RNN_ERR_RANGE},
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
    {"vocab_set(a duplicate word)", LV_PENDING, bc_vset_dup, RNN_ERR_INVALID},
    {"vocab_set(a duplicate of word 0)", LV_PENDING, bc_vset_dup_first, RNN_ERR_INVALID},
    {"vocab_set(a word with a space)", LV_PENDING, bc_vset_space, RNN_ERR_INVALID},
    {"vocab_set(a word with a leading space)", LV_PENDING, bc_vset_lead_space, RNN_ERR_INVALID},
    {"vocab_set(a word with a tab)", LV_PENDING, bc_vset_tab, RNN_ERR_INVALID},
    {"vocab_set(a word with a newline)", LV_PENDING, bc_vset_newline, RNN_ERR_INVALID},
    {"vocab_set(a word with U+00A0)", LV_PENDING, bc_vset_nbsp, RNN_ERR_INVALID},
    {"vocab_set(the word U+00A0)", LV_PENDING, bc_vset_only_nbsp, RNN_ERR_INVALID},
    {"vocab_set(a word with U+3000)", LV_PENDING, bc_vset_ideo_space, RNN_ERR_INVALID},
    {"vocab_set(a word with \\x1f)", LV_PENDING, bc_vset_unit_sep, RNN_ERR_INVALID},
    {"vocab_set(a word of RNN_LIMIT_WORD_BYTES + 1 bytes)", LV_PENDING, bc_vset_too_long, RNN_ERR_INVALID},
    {"vocab_get_size(NULL)", LV_PENDING, bc_vsize_null, RNN_ERR_INVALID},
    {"vocab_get_word(word NULL)", LV_PENDING, bc_vword_null, RNN_ERR_INVALID},
    {"vocab_get_word(-1)", LV_PENDING, bc_vword_neg, RNN_ERR_RANGE},
    {"vocab_get_word(V)", LV_PENDING, bc_vword_v, RNN_ERR_RANGE},
    {"vocab_get_word(0) without a vocabulary", LV_PENDING, bc_vword_none, RNN_ERR_RANGE},
    {"model_save(path NULL)", LV_PENDING, bc_save_null, RNN_ERR_INVALID},
    {"model_save(path \"\")", LV_PENDING, bc_save_empty, RNN_ERR_INVALID},
    {"backward on a fresh model", LV_CREATED, bc_backward, RNN_ERR_STATE},
    {"backward after reset_hidden only", LV_RESET, bc_backward, RNN_ERR_STATE},
    {"backward with nothing pending", LV_IDLE, bc_backward, RNN_ERR_STATE},
    {"backward twice after one forward", LV_PENDING, bc_bw_twice, RNN_ERR_STATE},
    {"backward twice after the first forward", LV_FORWARD, bc_bw_twice, RNN_ERR_STATE},
    {"backward after sgd_step", LV_PENDING, bc_bw_after_sgd, RNN_ERR_STATE},
    {"backward after backward + sgd_step", LV_PENDING, bc_bw_after_bw_sgd, RNN_ERR_STATE},
    {"backward after evaluate", LV_PENDING, bc_bw_after_eval, RNN_ERR_STATE},
    {"backward after a smaller evaluate", LV_PENDING, bc_bw_after_eval_smaller, RNN_ERR_STATE},
    {"backward after sample", LV_PENDING, bc_bw_after_sample, RNN_ERR_STATE},
    {"backward after reset_hidden", LV_PENDING, bc_bw_after_reset, RNN_ERR_STATE},
    {"backward after reset_hidden(other batch)", LV_PENDING, bc_bw_after_reset_other, RNN_ERR_STATE},
    {"backward after set_hidden", LV_PENDING, bc_bw_after_set, RNN_ERR_STATE},
};
enum { NBAD = sizeof BAD_CASES / sizeof *BAD_CASES };

/* After the bad call: both twins must go on exactly alike. */
static void continue_twins(rnn_model *a, rnn_model *b, const char *what)
{
    int ra = rnn_backward(a), rb = rnn_backward(b); /* a pending backward must have survived */
    ck_assert_msg(ra == rb, "%s: rnn_backward afterwards: twin %d, model %d", what, ra, rb);
    expect_same_model(a, b, what);
    int ba, bb;
    OK(rnn_model_get_batch(a, &ba));
    OK(rnn_model_get_batch(b, &bb));
    ck_assert_int_eq(ba, bb);
    if (ba != B) {
        OK(rnn_model_reset_hidden(a, B));
        OK(rnn_model_reset_hidden(b, B));
    }
    for (int step = 0; step < 2; step++) {
        double la, lb;
        OK(rnn_forward(a, TOK2, TGT2, B, T, 0, &la));
        OK(rnn_forward(b, TOK2, TGT2, B, T, 0, &lb));
        ck_assert_msg(memcmp(&la, &lb, sizeof la) == 0, "%s: later losses differ (%.17g vs %.17g)", what, la, lb);
        OK(rnn_zero_grad(a));
        OK(rnn_zero_grad(b));
        OK(rnn_backward(a));
        OK(rnn_backward(b));
        OK(rnn_sgd_step(a, 0.3f));
        OK(rnn_sgd_step(b, 0.3f));
        int32_t na[B], nb[B];
        OK(rnn_sample(a, TOK, B, SMP(1.0f), na));
        OK(rnn_sample(b, TOK, B, SMP(1.0f), nb));
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
                      rnn_status_string(rc), bc->expect, rnn_status_string(bc->expect), rnn_model_errmsg(b));
        /* the message is valid until the next call: keep a copy, check it after the model checks */
        char msg[512];
        ck_assert_ptr_nonnull(rnn_model_errmsg(b));
        snprintf(msg, sizeof msg, "%s", rnn_model_errmsg(b));
        ck_assert_str_eq(rnn_model_errmsg(a), "");
        expect_same_model(a, b, what);
        continue_twins(a, b, what);
        ck_assert_msg(msg[0] != '\0', "%s: rnn_model_errmsg is empty after the failure", what);
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
    OK(rnn_model_reset_hidden(a, B));
    OK(rnn_model_reset_hidden(b, B));
    OK(rnn_forward(a, TOK, TGT, B, T, 0, &la));
    OK(rnn_forward(b, TOK, TGT, B, T, 0, &lb));
    ck_assert_int_eq(rnn_forward(b, tok_with(0, -5), TGT, B, T, 0, &lb), RNN_ERR_RANGE);
    ck_assert_int_eq(rnn_evaluate(b, TOK, tgt_with(1, V), B, T, 0, &lb, NULL), RNN_ERR_RANGE);
    ck_assert_int_eq(rnn_sample(b, TOK, B, SMP(-1.0f), SNEXT), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_model_reset_hidden(b, 0), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_model_set_hidden(b, B + 1, SH, NULL), RNN_ERR_STATE);
    OK(rnn_zero_grad(a));
    OK(rnn_zero_grad(b));
    OK(rnn_backward(a));
    OK(rnn_backward(b));
    float *ga, *gb;
    size_t n;
    OK(rnn_param_get_block(a, NULL, &ga, &n));
    OK(rnn_param_get_block(b, NULL, &gb, NULL));
    ck_assert(memcmp(ga, gb, n * sizeof(float)) == 0);
    float dha[L * B * H], dhb[L * B * H];
    OK(rnn_model_get_hidden_grad(a, B, dha, NULL));
    OK(rnn_model_get_hidden_grad(b, B, dhb, NULL));
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
    OK(rnn_param_get_count(m, &count));
    ck_assert_msg(count == nw, "%s: rnn_param_get_count %d, want %d", what, count, nw);
    ck_assert_int_eq(count, 4 * layers + (tied ? 2 : 3));
    float *pd = NULL, *pg = NULL;
    size_t total = 0;
    OK(rnn_param_get_block(m, &pd, &pg, &total));
    ck_assert_ptr_nonnull(pd);
    ck_assert_ptr_nonnull(pg);
    ck_assert(pd != pg);
    size_t off = 0;
    for (int i = 0; i < count; i++) {
        rnn_param p;
        memset(&p, 0, sizeof p);
        p.struct_size = sizeof p;
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
        rnn_param q = PARAM_INIT;
        OK(rnn_param_find(m, w[i].name, &q));
        ck_assert_str_eq(q.name, p.name);
        ck_assert(q.data == p.data && q.grad == p.grad && q.rows == p.rows && q.cols == p.cols &&
                  q.size == p.size);
    }
    ck_assert_msg(off == total, "%s: views cover %zu floats, block has %zu", what, off, total);
    /* decoder.weight: its own tensor, or (tied) the encoder's */
    rnn_param dw = PARAM_INIT, ew = PARAM_INIT;
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
    ck_assert_int_eq(rnn_param_get(m, count, &dw), RNN_ERR_RANGE);
    /* the config keeps tied */
    rnn_config got;
    OK(rnn_config_init(&got, sizeof got));
    OK(rnn_model_get_config(m, &got));
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
    OK(rnn_param_get_count(m, &count));
    for (int i = 0; i < count; i++) {
        rnn_param p = PARAM_INIT;
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
    OK(rnn_param_get_block(a, &pa, NULL, &n));
    OK(rnn_param_get_block(b, &pb, NULL, NULL));
    OK(rnn_param_get_block(c, &pc, NULL, NULL));
    ck_assert(memcmp(pa, pb, n * sizeof(float)) == 0);
    ck_assert(memcmp(pa, pc, n * sizeof(float)) != 0);
    /* rnn_param_get_block with NULL outputs is allowed */
    OK(rnn_param_get_block(a, NULL, NULL, NULL));
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
    OK(rnn_model_reset_hidden(m, B));
    double l1, l2;
    OK(rnn_evaluate(m, TOK, TGT, B, T, 0, &l1, NULL));
    rnn_param db = PARAM_INIT;
    OK(rnn_param_find(m, "decoder.bias", &db));
    db.data[TGT[0]] += 3.0f; /* makes the first target more likely */
    OK(rnn_model_reset_hidden(m, B));
    OK(rnn_evaluate(m, TOK, TGT, B, T, 0, &l2, NULL));
    ck_assert(l2 != l1);
    /* training a tied model moves the shared weight; the decoder view sees it */
    rnn_param dw = PARAM_INIT, ew = PARAM_INIT;
    OK(rnn_param_find(m, "decoder.weight", &dw));
    OK(rnn_param_find(m, "encoder.weight", &ew));
    float before = dw.data[0];
    OK(rnn_model_reset_hidden(m, B));
    OK(rnn_forward(m, TOK, TGT, B, T, 0, &l1));
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
    size_t largest;  /* the largest allocation asked for */
    size_t limit;    /* nonzero: allocations larger than this fail */
} counter;

#define CNT_HDR 16
#define CNT_MAGIC ((size_t)0xA110CA7Eu)

static void *cnt_alloc(void *user, size_t size)
{
    counter *c = user;
    if (size > c->largest) c->largest = size;
    if (c->limit && size > c->limit) {
        c->failed++;
        return NULL;
    }
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
    OK(rnn_model_reset_hidden(m, batch));
    OK(rnn_forward(m, TOK, TGT, batch, steps, 0, &loss));
    OK(rnn_zero_grad(m));
    OK(rnn_backward(m));
    OK(rnn_clip_grad_norm(m, 0.25f, &norm));
    OK(rnn_sgd_step(m, 0.1f));
    OK(rnn_forward(m, TOK2, TGT2, batch, steps, 0, NULL));
    OK(rnn_backward(m));
    OK(rnn_sgd_step(m, 0.1f));
    OK(rnn_evaluate(m, TOK, TGT, batch, steps, 0, &loss, logp));
    OK(rnn_evaluate(m, TOK, TGT, batch, steps, 0, NULL, NULL));
    OK(rnn_sample(m, TOK, batch, SMP(1.0f), next));
    OK(rnn_sample(m, next, batch, SMP(0.0f), next));
}

/* the calls that never allocate */
static void misc_calls(rnn_model *m, int batch)
{
    float h[L * MAXB * H], c[L * MAXB * H];
    rnn_param p = PARAM_INIT;
    int n;
    OK(rnn_model_get_hidden(m, batch, h, c));
    OK(rnn_model_set_hidden(m, batch, h, c));
    OK(rnn_forward(m, TOK, TGT, batch, 1, 0, NULL));
    OK(rnn_backward(m));
    OK(rnn_model_get_hidden_grad(m, batch, h, c));
    OK(rnn_model_set_seed(m, 77));
    OK(rnn_param_get_count(m, &n));
    OK(rnn_param_get(m, 0, &p));
    OK(rnn_param_find(m, "decoder.bias", &p));
    OK(rnn_model_get_batch(m, &n));
    rnn_config cfg;
    cfg.struct_size = sizeof cfg;
    OK(rnn_model_get_config(m, &cfg));
    OK(rnn_vocab_get_size(m, &n));
    const char *w;
    if (n > 0) OK(rnn_vocab_get_word(m, n - 1, &w));
    /* failures do not allocate either */
    ck_assert_int_eq(rnn_forward(m, tok_with(0, -1), TGT, batch, 1, 0, NULL), RNN_ERR_RANGE);
    ck_assert_int_eq(rnn_param_find(m, "nope", &p), RNN_ERR_NOTFOUND);
}

START_TEST(test_alloc_balance)
{
    for (int cell = 0; cell < NCELLS; cell++) {
        counter c;
        counter_init(&c);
        rnn_allocator al = {sizeof(rnn_allocator), cnt_alloc, cnt_free, &c};
        rnn_config cfg = tiny_cfg(cell, L, 0.3f);
        rnn_model *m = NULL;
        OK(rnn_model_create(&m, &cfg, &al, NULL, 0));
        ck_assert_msg(c.allocs > 0, "rnn_model_create did not use the allocator");
        al.alloc = NULL; /* the struct is copied: later changes to ours do not matter */
        full_step(m, B, T);
        full_step(m, MAXB, MAXT);
        OK(rnn_model_reserve(m, 7, 9));
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
    rnn_allocator al = {sizeof(rnn_allocator), cnt_alloc, cnt_free, &c};
    rnn_config cfg = tiny_cfg(RNN_CELL_LSTM, L, 0.3f);
    rnn_model *m = NULL;
    OK(rnn_model_create(&m, &cfg, &al, NULL, 0));
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

/* after rnn_model_reserve + rnn_model_reset_hidden, even the first training step allocates nothing */
START_TEST(test_alloc_reserve)
{
    for (int cell = 0; cell < NCELLS; cell++) {
        counter c;
        counter_init(&c);
        rnn_allocator al = {sizeof(rnn_allocator), cnt_alloc, cnt_free, &c};
        rnn_config cfg = tiny_cfg(cell, L, 0.3f);
        rnn_model *m = NULL;
        OK(rnn_model_create(&m, &cfg, &al, NULL, 0));
        OK(rnn_model_reserve(m, MAXB, MAXT));
        OK(rnn_model_reset_hidden(m, MAXB));
        size_t before = c.allocs;
        full_step(m, MAXB, MAXT);
        misc_calls(m, MAXB);
        full_step(m, 2, MAXT);
        full_step(m, MAXB, 2);
        OK(rnn_model_reserve(m, 2, 2)); /* smaller: nothing to do */
        OK(rnn_model_reserve(m, MAXB, MAXT));
        ck_assert_msg(c.allocs == before, "%s: %zu allocations after rnn_model_reserve", CELL_NAME[cell],
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
    rnn_allocator al = {sizeof(rnn_allocator), cnt_alloc, cnt_free, &c};
    rnn_config cfg = tiny_cfg(RNN_CELL_GRU, 1, 0.0f);
    rnn_model *m = NULL;
    OK(rnn_model_create(&m, &cfg, &al, NULL, 0));
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
            ck_assert(rnn_model_errmsg(m)[0] != '\0');
            c.fail_after = -1;
            int n;
            OK(rnn_vocab_get_size(m, &n));
            ck_assert_int_eq(n, V);
            for (int i = 0; i < V; i++) {
                const char *w;
                OK(rnn_vocab_get_word(m, i, &w));
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
            rnn_allocator al = {sizeof(rnn_allocator), cnt_alloc, cnt_free, &c};
            rnn_model *m = NULL;
            OK(rnn_model_create(&m, &cfg, &al, NULL, 0));
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
                    int rc = rnn_model_create(&m, &cfg, &al, NULL, 0);
                    ck_assert_msg(rc == RNN_ERR_NOMEM, "%s tied=%d: failure after %zu allocations (once=%d): got %d",
                                  CELL_NAME[cell], tied, k, once, rc);
                    ck_assert_msg(m == NULL, "*out not NULL after RNN_ERR_NOMEM");
                    ck_assert(c.failed >= 1);
                    expect_balanced(&c, "failed create");
                }
            counter_init(&c);
            c.fail_after = (long)need; /* exactly enough */
            OK(rnn_model_create(&m, &cfg, &al, NULL, 0));
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
        rnn_allocator al = {sizeof(rnn_allocator), cnt_alloc, cnt_free, &c};
        rnn_config cfg = tiny_cfg(cell, L, 0.3f);
        rnn_model *m = NULL, *twin = NULL;
        OK(rnn_model_create(&m, &cfg, &al, NULL, 0));
        OK(rnn_model_create(&twin, &cfg, NULL, NULL, 0));
        double lm, lt;
        rnn_model *both[2] = {m, twin};
        for (int i = 0; i < 2; i++) {
            OK(rnn_model_reset_hidden(both[i], 2));
            OK(rnn_forward(both[i], TOK, TGT, 2, 3, 0, NULL));
            OK(rnn_backward(both[i]));
            OK(rnn_sgd_step(both[i], 0.2f));
            OK(rnn_forward(both[i], TOK2, TGT2, 2, 3, 0, NULL)); /* pending */
        }
        /* from now on every allocation fails */
        c.fail_after = 0;
        ck_assert_int_eq(rnn_forward(m, TOK, TGT, 2, 6, 0, &lm), RNN_ERR_NOMEM);
        ck_assert(rnn_model_errmsg(m)[0] != '\0');
        /* (an evaluation needs less than a training step of its shape: 2 x 20 is more than 2 x 3's) */
        ck_assert_int_eq(rnn_evaluate(m, TOK, TGT, 2, 20, 0, &lm, NULL), RNN_ERR_NOMEM);
        ck_assert_int_eq(rnn_model_reserve(m, 2, 8), RNN_ERR_NOMEM);
        ck_assert_int_eq(rnn_model_reserve(m, 4, 3), RNN_ERR_NOMEM);
        ck_assert_int_eq(rnn_model_reset_hidden(m, 5), RNN_ERR_NOMEM);
        int sb;
        OK(rnn_model_get_batch(m, &sb));
        ck_assert_int_eq(sb, 2);
        ck_assert(c.failed >= 5);
        expect_same_model(m, twin, "after failed growth");
        /* the pending backward survived; the model works at the old shape, without allocating */
        for (int i = 0; i < 2; i++) {
            OK(rnn_backward(both[i]));
            OK(rnn_sgd_step(both[i], 0.2f));
        }
        size_t allocs = c.allocs;
        OK(rnn_forward(m, TOK, TGT, 2, 3, 0, &lm));
        OK(rnn_forward(twin, TOK, TGT, 2, 3, 0, &lt));
        ck_assert(memcmp(&lm, &lt, sizeof lm) == 0);
        OK(rnn_zero_grad(m));
        OK(rnn_zero_grad(twin));
        OK(rnn_backward(m));
        OK(rnn_backward(twin));
        int32_t nm[2], nt[2];
        OK(rnn_sample(m, TOK, 2, SMP(1.0f), nm));
        OK(rnn_sample(twin, TOK, 2, SMP(1.0f), nt));
        ck_assert(memcmp(nm, nt, sizeof nm) == 0);
        OK(rnn_model_reset_hidden(m, 1)); /* smaller: no allocation */
        OK(rnn_model_reset_hidden(twin, 1));
        OK(rnn_evaluate(m, TOK, TGT, 1, 2, 0, &lm, NULL));
        OK(rnn_evaluate(twin, TOK, TGT, 1, 2, 0, &lt, NULL));
        ck_assert(memcmp(&lm, &lt, sizeof lm) == 0);
        expect_same_model(m, twin, "after failed growth, old shape");
        ck_assert_int_eq(c.allocs, allocs);
        /* the allocator recovers: growth works again */
        c.fail_after = -1;
        OK(rnn_model_reset_hidden(m, 5));
        OK(rnn_model_reset_hidden(twin, 5));
        OK(rnn_forward(m, TOK, TGT, 5, 7, 0, &lm));
        OK(rnn_forward(twin, TOK, TGT, 5, 7, 0, &lt));
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

/* The workspace is sized for the shape of the call that grows it, not for the largest batch and the
 * largest steps seen apart: after a 64 x 35 training step, evaluating one 1 x 5000 sequence asks for
 * what it asks for on a fresh model (and not for 64 x 5000). */
START_TEST(test_alloc_sized_for_call)
{
    enum { TB = 64, TT = 35, EN = 5000 };
    static int32_t tok[TB * TT], tgt[TB * TT], etok[EN], etgt[EN];
    uint64_t s = 17;
    for (int i = 0; i < TB * TT; i++) tok[i] = (int32_t)(tu_next(&s) % V), tgt[i] = (int32_t)(tu_next(&s) % V);
    for (int i = 0; i < EN; i++) etok[i] = (int32_t)(tu_next(&s) % V), etgt[i] = (int32_t)(tu_next(&s) % V);
    for (int cell = 0; cell < NCELLS; cell++) {
        rnn_config cfg = tiny_cfg(cell, L, 0.3f);
        counter c;
        counter_init(&c);
        rnn_allocator al = {sizeof(rnn_allocator), cnt_alloc, cnt_free, &c};
        rnn_model *fresh = NULL, *m = NULL;
        double lf, lm;
        OK(rnn_model_create(&fresh, &cfg, &al, NULL, 0));
        OK(rnn_model_reset_hidden(fresh, 1));
        c.largest = 0;
        OK(rnn_evaluate(fresh, etok, etgt, 1, EN, 0, &lf, NULL));
        size_t need = c.largest;
        OK(rnn_model_create(&m, &cfg, &al, NULL, 0));
        OK(rnn_model_reset_hidden(m, TB));
        OK(rnn_forward(m, tok, tgt, TB, TT, 0, NULL));
        OK(rnn_backward(m));
        OK(rnn_sgd_step(m, 0.0f));
        OK(rnn_model_reset_hidden(m, 1));
        c.largest = 0;
        c.limit = 4 * need; /* 64 x 5000 would be about 64 times more: refused, not allocated */
        size_t before = c.allocs;
        int rc = rnn_evaluate(m, etok, etgt, 1, EN, 0, &lm, NULL);
        ck_assert_msg(rc == RNN_OK && c.largest == need, "%s: evaluate 1 x %d after a %d x %d step: %s, asked for "
                      "%zu bytes, %zu on a fresh model", CELL_NAME[cell], EN, TB, TT, rnn_status_string(rc),
                      c.largest, need);
        ck_assert(c.allocs - before == 1 && memcmp(&lf, &lm, sizeof lf) == 0);
        /* and the training shape still runs without allocating (the block holds the larger of the two) */
        before = c.allocs;
        OK(rnn_model_reset_hidden(m, TB));
        OK(rnn_forward(m, tok, tgt, TB, TT, 0, NULL));
        OK(rnn_model_reset_hidden(m, 1));
        OK(rnn_evaluate(m, etok, etgt, 1, EN, 0, &lm, NULL));
        ck_assert_int_eq(c.allocs, before);
        rnn_model_free(fresh);
        rnn_model_free(m);
        expect_balanced(&c, CELL_NAME[cell]);
    }
}
END_TEST

/* rnn_evaluate without targets and logprobs (priming) runs long inputs in chunks of
 * rnn__chunk_steps(batch) steps without logits: a 100,000-token prompt allocates what a 600-token
 * one does, far below one float per token; the state is what one call per chunk gives (bit for
 * bit), and what a state's feed gives (within rounding: the model's products are CBLAS ones). */
START_TEST(test_alloc_prime_long)
{
    enum { LONG = 100000, SHORT = 600, BV = 20000 };
    int32_t *tok = malloc(sizeof(int32_t) * LONG);
    ck_assert_ptr_nonnull(tok);
    uint64_t s = 23;
    for (int i = 0; i < LONG; i++) tok[i] = (int32_t)(tu_next(&s) % BV);
    int S = rnn__chunk_steps(1);
    ck_assert_int_lt(2 * S, SHORT);
    for (int cell = 0; cell < NCELLS; cell++) {
        rnn_config cfg = tiny_cfg(cell, L, 0.3f);
        cfg.vocab_size = BV;
        counter c;
        counter_init(&c);
        c.limit = (size_t)64 << 20; /* the one-pass workspace of LONG tokens would be gigabytes */
        rnn_allocator al = {sizeof(rnn_allocator), cnt_alloc, cnt_free, &c};
        rnn_model *m = NULL, *pieces = NULL;
        OK(rnn_model_create(&m, &cfg, &al, NULL, 0));
        OK(rnn_model_create(&pieces, &cfg, NULL, NULL, 0));
        OK(rnn_model_reset_hidden(m, 1));
        OK(rnn_model_reset_hidden(pieces, 1));
        c.largest = 0;
        double loss = -1;
        OK(rnn_evaluate(m, tok, NULL, 1, SHORT, 0, &loss, NULL));
        ck_assert(loss == 0.0);
        size_t one_chunk = c.largest;
        ck_assert_msg(one_chunk < (size_t)BV * sizeof(float) * 8, "%s: priming %d tokens asked for %zu bytes: "
                      "logits?", CELL_NAME[cell], SHORT, one_chunk);
        /* the same tokens, one call per chunk */
        for (int t0 = 0; t0 < SHORT; t0 += S)
            OK(rnn_evaluate(pieces, tok + t0, NULL, 1, SHORT - t0 < S ? SHORT - t0 : S, 0, NULL, NULL));
        float h1[L * H], h2[L * H], c1[L * H] = {0}, c2[L * H] = {0};
        OK(rnn_model_get_hidden(m, 1, h1, c1));
        OK(rnn_model_get_hidden(pieces, 1, h2, c2));
        ck_assert_msg(memcmp(h1, h2, sizeof h1) == 0 && memcmp(c1, c2, sizeof c1) == 0,
                      "%s: chunked priming != one call per chunk", CELL_NAME[cell]);
        rnn_state *st = NULL;
        OK(rnn_state_create(&st, m, 1, 1));
        OK(rnn_state_feed(st, tok, SHORT, 0));
        OK(rnn_state_get_hidden(st, h2, c2));
        ck_assert_msg(tu_rel_err(h1, h2, L * H) <= 1e-5 && tu_rel_err(c1, c2, L * H) <= 1e-5,
                      "%s: priming vs a state's feed", CELL_NAME[cell]);
        rnn_state_free(st);
        OK(rnn_model_reset_hidden(m, 1));
        c.largest = 0;
        OK(rnn_evaluate(m, tok, NULL, 1, LONG, 0, NULL, NULL));
        ck_assert_msg(c.largest <= one_chunk, "%s: priming %d tokens asked for %zu bytes, %d tokens %zu",
                      CELL_NAME[cell], LONG, c.largest, SHORT, one_chunk);
        OK(rnn_model_get_hidden(m, 1, h1, c1));
        for (int i = 0; i < L * H; i++) ck_assert(isfinite(h1[i]));
        rnn_model_free(m);
        rnn_model_free(pieces);
        expect_balanced(&c, CELL_NAME[cell]);
    }
    free(tok);
}
END_TEST

/* ---- determinism ----------------------------------------------------------------------------- */
static void train3(rnn_model *m, double *losses)
{
    OK(rnn_model_reset_hidden(m, B));
    for (int s = 0; s < 3; s++) {
        const int32_t *x = s % 2 ? TOK2 : TOK, *y = s % 2 ? TGT2 : TGT;
        OK(rnn_forward(m, x, y, B, T, 0, &losses[s]));
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
        OK(rnn_param_get_block(a, &pa, NULL, &n));
        OK(rnn_param_get_block(c, &pc, NULL, NULL));
        ck_assert_msg(memcmp(pa, pc, n * sizeof(float)) != 0, "%s: another seed, same weights", CELL_NAME[cell]);
        ck_assert(memcmp(la, lc, sizeof la) != 0);
        rnn_model_free(a);
        rnn_model_free(b);
        rnn_model_free(c);
    }
}
END_TEST

/* rnn_model_set_seed: the same forward gives the same loss; dropout draws differ otherwise */
START_TEST(test_determinism_set_seed)
{
    rnn_config cfg = tiny_cfg(RNN_CELL_LSTM, L, 0.5f);
    rnn_model *m = make_model(&cfg);
    double l0, l1, l2, l3, l4;
    /* as if created with this seed: the first forward of a fresh handle */
    OK(rnn_model_reset_hidden(m, B));
    OK(rnn_forward(m, TOK, TGT, B, T, 0, &l0));
    OK(rnn_model_reset_hidden(m, B));
    OK(rnn_forward(m, TOK, TGT, B, T, 0, &l1));
    ck_assert_msg(l1 != l0, "dropout active: two forwards should draw different masks");
    OK(rnn_model_set_seed(m, cfg.seed));
    OK(rnn_model_reset_hidden(m, B));
    OK(rnn_forward(m, TOK, TGT, B, T, 0, &l2));
    ck_assert_msg(memcmp(&l2, &l0, sizeof l0) == 0, "set_seed(config seed) should replay the first forward");
    OK(rnn_model_set_seed(m, 99));
    OK(rnn_model_reset_hidden(m, B));
    OK(rnn_forward(m, TOK, TGT, B, T, 0, &l3));
    OK(rnn_model_set_seed(m, 99));
    OK(rnn_model_reset_hidden(m, B));
    OK(rnn_forward(m, TOK, TGT, B, T, 0, &l4));
    ck_assert(memcmp(&l3, &l4, sizeof l3) == 0);
    ck_assert(l3 != l0);
    /* evaluate has no dropout: it does not depend on the generator */
    double e1, e2;
    OK(rnn_model_reset_hidden(m, B));
    OK(rnn_evaluate(m, TOK, TGT, B, T, 0, &e1, NULL));
    OK(rnn_model_set_seed(m, 5));
    OK(rnn_model_reset_hidden(m, B));
    OK(rnn_evaluate(m, TOK, TGT, B, T, 0, &e2, NULL));
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
    j->rc = rnn_model_create(&m, &cfg, NULL, NULL, 0);
    if (j->rc) return NULL;
    for (int rep = 0; rep < 20 && !j->rc; rep++) {
        if ((j->rc = rnn_model_reset_hidden(m, B))) break;
        for (int s = 0; s < 3 && !j->rc; s++) {
            j->rc = rnn_forward(m, s % 2 ? TOK2 : TOK, s % 2 ? TGT2 : TGT, B, T, 0, &j->losses[s]);
            if (!j->rc) j->rc = rnn_zero_grad(m);
            if (!j->rc) j->rc = rnn_backward(m);
            if (!j->rc) j->rc = rnn_clip_grad_norm(m, 0.25f, NULL);
            if (!j->rc) j->rc = rnn_sgd_step(m, 0.5f);
        }
    }
    float *p;
    if (!j->rc) j->rc = rnn_param_get_block(m, &p, NULL, &j->n);
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
        OK(rnn_model_reset_hidden(m, B));
        OK(rnn_forward(m, TOK, TGT, B, T, 0, &lf[0]));
        OK(rnn_forward(m, TOK2, TGT2, B, T, 0, &lf[1]));
        OK(rnn_model_get_hidden(m, B, hf, cell == RNN_CELL_LSTM ? cf : NULL));
        OK(rnn_model_reset_hidden(m, B));
        OK(rnn_evaluate(m, TOK, TGT, B, T, 0, &le[0], NULL));
        OK(rnn_evaluate(m, TOK2, TGT2, B, T, 0, &le[1], NULL));
        OK(rnn_model_get_hidden(m, B, he, cell == RNN_CELL_LSTM ? ce : NULL));
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
    rnn_param p = PARAM_INIT;
    OK(rnn_param_find(m, "decoder.bias", &p));
    for (size_t k = 0; k < p.size; k++) p.data[k] = 1e30f;
    OK(rnn_model_reset_hidden(m, 1));
    int32_t tok[2] = {1, 2}, tgt[2] = {2, 3};
    float *lp = malloc(sizeof(float) * 2 * (size_t)cfg.vocab_size);
    double loss = 0;
    OK(rnn_evaluate(m, tok, tgt, 1, 2, 0, &loss, lp));
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
        OK(rnn_model_reset_hidden(m, B));
        OK(rnn_evaluate(m, TOK, tgt, B, T, 0, &loss, lp));
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
            OK(rnn_model_reset_hidden(m, 1));
            OK(rnn_evaluate(m, TOK + b * T, tgt + b * T, 1, T, 0, &l1, lp1));
            ck_assert_msg(tu_rel_err(lp1, lp + (size_t)b * T * V, T * V) <= 1e-5, "%s: stream %d differs alone",
                          CELL_NAME[cell], b);
        }
        /* loss may be NULL; logprobs may be NULL */
        OK(rnn_model_reset_hidden(m, B));
        OK(rnn_evaluate(m, TOK, tgt, B, T, 0, NULL, NULL));
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
        OK(rnn_model_reset_hidden(m, B));
        OK(rnn_evaluate(m, TOK, TGT, B, T, 0, &la, lp_a));
        OK(rnn_evaluate(m, TOK2, TGT2, B, T, 0, &lb, lp_b));
        float h1[L * B * H], h2[L * B * H];
        OK(rnn_model_get_hidden(m, B, h1, NULL));
        OK(rnn_model_reset_hidden(m, B));
        OK(rnn_evaluate(m, cat_x, cat_y, B, 2 * T, 0, &lcat, lp_cat));
        OK(rnn_model_get_hidden(m, B, h2, NULL));
        ck_assert_msg(fabs(lcat - (la + lb) / 2) <= 1e-6 * lcat, "%s: concatenated %.9g vs chunks %.9g",
                      CELL_NAME[cell], lcat, (la + lb) / 2);
        ck_assert(tu_rel_err(h1, h2, L * B * H) <= 1e-5);
        for (int b = 0; b < B; b++) {
            ck_assert(tu_rel_err(lp_a + (size_t)b * T * V, lp_cat + (size_t)b * 2 * T * V, T * V) <= 1e-5);
            ck_assert(tu_rel_err(lp_b + (size_t)b * T * V, lp_cat + ((size_t)b * 2 * T + T) * V, T * V) <= 1e-5);
        }
        /* training mode: chunk 2 after chunk 1 differs from chunk 2 after a reset */
        double f1, f2, f2fresh;
        OK(rnn_model_reset_hidden(m, B));
        OK(rnn_forward(m, TOK, TGT, B, T, 0, &f1));
        OK(rnn_forward(m, TOK2, TGT2, B, T, 0, &f2));
        OK(rnn_model_reset_hidden(m, B));
        OK(rnn_forward(m, TOK2, TGT2, B, T, 0, &f2fresh));
        ck_assert_msg(f2 != f2fresh, "%s: the hidden state is not carried", CELL_NAME[cell]);
        ck_assert(fabs(f2 - lb) <= 1e-6 * lb);
        OK(rnn_model_reset_hidden(m, B));
        OK(rnn_evaluate(m, TOK2, TGT2, B, T, 0, &lfresh, NULL));
        ck_assert(fabs(f2fresh - lfresh) <= 1e-6 * lfresh);
        rnn_model_free(m);
    }
}
END_TEST

/* rnn_model_reset_hidden zeros h (and c); state batch bookkeeping; reuse at a smaller batch */
START_TEST(test_reset_zeros)
{
    for (int cell = 0; cell < NCELLS; cell++) {
        rnn_config cfg = tiny_cfg(cell, L, 0.0f);
        rnn_model *m = make_model(&cfg), *fresh = make_model(&cfg);
        float h[L * MAXB * H], c[L * MAXB * H];
        int sb;
        OK(rnn_model_reset_hidden(m, MAXB));
        OK(rnn_model_get_batch(m, &sb));
        ck_assert_int_eq(sb, MAXB);
        OK(rnn_forward(m, TOK, TGT, MAXB, T, 0, NULL));
        OK(rnn_model_get_hidden(m, MAXB, h, c));
        int nonzero = 0;
        for (size_t i = 0; i < state_len(MAXB); i++) nonzero += h[i] != 0.0f;
        ck_assert(nonzero > 0);
        OK(rnn_model_reset_hidden(m, MAXB));
        memset(h, 0x7F, sizeof h), memset(c, 0x7F, sizeof c);
        OK(rnn_model_get_hidden(m, MAXB, h, c));
        for (size_t i = 0; i < state_len(MAXB); i++) {
            ck_assert(h[i] == 0.0f);
            if (cell == RNN_CELL_LSTM) ck_assert(c[i] == 0.0f);
        }
        /* a smaller batch after a larger one behaves as a fresh handle at that batch */
        OK(rnn_forward(m, TOK, TGT, MAXB, T, 0, NULL));
        OK(rnn_model_reset_hidden(m, 2));
        OK(rnn_model_get_batch(m, &sb));
        ck_assert_int_eq(sb, 2);
        OK(rnn_model_get_hidden(m, 2, h, c));
        for (size_t i = 0; i < state_len(2); i++) {
            ck_assert(h[i] == 0.0f);
            if (cell == RNN_CELL_LSTM) ck_assert(c[i] == 0.0f);
        }
        double lm, lf;
        float hf[L * 2 * H], cf[L * 2 * H];
        OK(rnn_model_reset_hidden(fresh, 2));
        OK(rnn_evaluate(m, TOK2, TGT2, 2, T, 0, &lm, NULL));
        OK(rnn_evaluate(fresh, TOK2, TGT2, 2, T, 0, &lf, NULL));
        ck_assert(fabs(lm - lf) <= 1e-6 * lf);
        OK(rnn_evaluate(m, TOK, TGT, 2, T, 0, &lm, NULL));
        OK(rnn_evaluate(fresh, TOK, TGT, 2, T, 0, &lf, NULL));
        ck_assert(fabs(lm - lf) <= 1e-6 * lf);
        OK(rnn_model_get_hidden(m, 2, h, c));
        OK(rnn_model_get_hidden(fresh, 2, hf, cf));
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
        OK(rnn_model_reset_hidden(m, B));
        /* nonzero gradients first, so zero_grad matters */
        OK(rnn_forward(m, TOK, TGT, B, T, 0, &loss));
        OK(rnn_backward(m));
        OK(rnn_forward(m, TOK, ign, B, T, 0, &loss));
        ck_assert_msg(loss == 0.0, "%s: loss %g with every target ignored", CELL_NAME[cell], loss);
        OK(rnn_zero_grad(m));
        OK(rnn_backward(m));
        float *g;
        size_t n;
        OK(rnn_param_get_block(m, NULL, &g, &n));
        for (size_t i = 0; i < n; i++) ck_assert_msg(g[i] == 0.0f, "%s: grad[%zu] = %g", CELL_NAME[cell], i, (double)g[i]);
        float dh[L * B * H], dc[L * B * H];
        OK(rnn_model_get_hidden_grad(m, B, dh, dc));
        for (size_t i = 0; i < state_len(B); i++) {
            ck_assert(dh[i] == 0.0f);
            if (cell == RNN_CELL_LSTM) ck_assert(dc[i] == 0.0f);
        }
        double e = 5;
        OK(rnn_evaluate(m, TOK, ign, B, T, 0, &e, NULL));
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
    OK(rnn_model_reset_hidden(m, B));
    OK(rnn_forward(m, TOK, tgt, B, T, 0, &lf));
    OK(rnn_model_reset_hidden(m, B));
    OK(rnn_evaluate(m, TOK, tgt, B, T, 0, &le, NULL));
    ck_assert(fabs(lf - le) <= 1e-9 * le);
    /* one kept target: loss = -logprob of that one; the decoder bias gradient is softmax - onehot */
    static float lp[B * T * V];
    OK(rnn_model_reset_hidden(m, B));
    OK(rnn_evaluate(m, TOK, one, B, T, 0, &le, lp));
    ck_assert(fabs(le + lp[5 * V + TGT[5]]) <= 1e-6 * le);
    OK(rnn_model_reset_hidden(m, B));
    OK(rnn_forward(m, TOK, one, B, T, 0, &lf));
    OK(rnn_zero_grad(m));
    OK(rnn_backward(m));
    rnn_param db = PARAM_INIT;
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
    OK(rnn_param_get_block(m, NULL, &g, &n));
    OK(rnn_model_reset_hidden(m, B));
    OK(rnn_forward(m, TOK, TGT, B, T, 0, NULL));
    OK(rnn_zero_grad(m));
    OK(rnn_backward(m));
    float *g1 = malloc(n * sizeof(float)), *g2 = malloc(n * sizeof(float));
    memcpy(g1, g, n * sizeof(float));
    OK(rnn_model_reset_hidden(m, B));
    OK(rnn_forward(m, TOK, TGT, B, T, 0, NULL));
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
    OK(rnn_param_get_block(m, &p, &g, &n));
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
        OK(rnn_param_get_block(m, &p, &g, &n));
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
        OK(rnn_param_get_count(m, &cnt));
        for (int i = 0; i < cnt; i++) {
            rnn_param q = PARAM_INIT;
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
            ck_assert(rnn_model_errmsg(m)[0] != '\0');
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
    OK(rnn_config_init(&cfg, sizeof cfg));
    cfg.cell = cell, cfg.vocab_size = SV, cfg.emb_size = 4, cfg.hidden_size = 4, cfg.num_layers = 1;
    cfg.dropout = 0.5f, cfg.seed = 31337; /* dropout must not matter for sampling */
    rnn_model *m = make_model(&cfg);
    rnn_param dw = PARAM_INIT, db = PARAM_INIT;
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
    OK(rnn_model_reset_hidden(m, SB));
    for (int i = 0; i < SDRAWS; i++) {
        OK(rnn_sample(m, tok, SB, SMP(temperature), next));
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
    rnn_param db = PARAM_INIT;
    OK(rnn_param_find(m, "decoder.bias", &db));
    ck_assert(db.data[1] == db.data[3] && db.data[3] == db.data[5]); /* exact ties */
    int32_t tok[SB] = {6, 5, 4, 3}, next[SB];
    OK(rnn_model_reset_hidden(m, SB));
    for (int i = 0; i < 50; i++) {
        OK(rnn_sample(m, tok, SB, SMP(0.0f), next));
        for (int b = 0; b < SB; b++) ck_assert_msg(next[b] == 1, "greedy tie broken to %d, want 1", next[b]);
    }
    /* ties at the very first id */
    for (int k = 0; k < SV; k++) db.data[k] = 0.0f;
    OK(rnn_sample(m, tok, SB, SMP(0.0f), next));
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
        rnn_param dw = PARAM_INIT;
        OK(rnn_param_find(m, "decoder.weight", &dw));
        for (size_t i = 0; i < dw.size; i++) dw.data[i] *= 30.0f;
        float lp[B * V], h1[L * B * H], h2[L * B * H], c1[L * B * H], c2[L * B * H];
        memset(c1, 0, sizeof c1), memset(c2, 0, sizeof c2);
        int32_t x[B] = {1, 5, 9}, next[B];
        OK(rnn_model_reset_hidden(m, B));
        for (int step = 0; step < 6; step++) {
            /* evaluate one step from a copy of the state, then sample from the same state */
            float hs[L * B * H], cs[L * B * H];
            OK(rnn_model_get_hidden(m, B, hs, cs));
            OK(rnn_evaluate(m, x, x, B, 1, 0, NULL, lp));
            OK(rnn_model_get_hidden(m, B, h1, c1));
            OK(rnn_model_set_hidden(m, B, hs, cs));
            OK(rnn_sample(m, x, B, SMP(0.0f), next));
            OK(rnn_model_get_hidden(m, B, h2, c2));
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
            OK(rnn_model_set_seed(m, 2024));
            OK(rnn_model_reset_hidden(m, B));
            for (int i = 0; i < 40; i++) {
                OK(rnn_sample(m, t, B, SMP(1.0f), t));
                memcpy(seq[rep] + i * B, t, sizeof t);
            }
        }
        ck_assert(memcmp(seq[0], seq[1], sizeof seq[0]) == 0);
        /* another seed gives another sequence (on a flatter model) */
        for (size_t i = 0; i < dw.size; i++) dw.data[i] /= 30.0f;
        int32_t s3[2][40 * B];
        for (int rep = 0; rep < 2; rep++) {
            int32_t t[B] = {0, 1, 2};
            OK(rnn_model_set_seed(m, rep ? 2025 : 2024));
            OK(rnn_model_reset_hidden(m, B));
            for (int i = 0; i < 40; i++) {
                OK(rnn_sample(m, t, B, SMP(1.0f), t));
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
        OK(rnn_model_reset_hidden(m, B));
        OK(rnn_model_set_hidden(m, B, h, c));
        memset(h2, 0, sizeof h2);
        for (int i = 0; i < N; i++) c2[i] = 12345.0f; /* sentinel */
        OK(rnn_model_get_hidden(m, B, h2, c2));
        ck_assert(memcmp(h, h2, sizeof h) == 0);
        if (cell == RNN_CELL_LSTM) {
            ck_assert(memcmp(c, c2, sizeof c) == 0);
        } else {
            for (int i = 0; i < N; i++) ck_assert_msg(c2[i] == 12345.0f, "%s: c written for a non-LSTM cell", CELL_NAME[cell]);
        }
        OK(rnn_model_get_hidden(m, B, h2, NULL)); /* c may be NULL */
        ck_assert(memcmp(h, h2, sizeof h) == 0);
        /* the set state is the one the next chunk starts from */
        double l1, l2, l3;
        OK(rnn_evaluate(m, TOK, TGT, B, T, 0, &l1, NULL));
        OK(rnn_model_set_hidden(m, B, h, c));
        OK(rnn_evaluate(m, TOK, TGT, B, T, 0, &l2, NULL));
        ck_assert(memcmp(&l1, &l2, sizeof l1) == 0);
        OK(rnn_model_reset_hidden(m, B));
        OK(rnn_evaluate(m, TOK, TGT, B, T, 0, &l3, NULL));
        ck_assert(l3 != l1);
        /* the state after a forward round-trips too */
        OK(rnn_forward(m, TOK2, TGT2, B, T, 0, NULL));
        OK(rnn_model_get_hidden(m, B, h, c));
        OK(rnn_model_set_hidden(m, B, h, c));
        OK(rnn_model_get_hidden(m, B, h2, c2));
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
        ck_assert_int_eq(rnn_model_get_hidden_grad(m, B, dh, dc), RNN_ERR_STATE);
        OK(rnn_model_reset_hidden(m, B));
        ck_assert_int_eq(rnn_model_get_hidden_grad(m, B, dh, dc), RNN_ERR_STATE);
        OK(rnn_forward(m, TOK, TGT, B, T, 0, NULL));
        ck_assert_int_eq(rnn_model_get_hidden_grad(m, B, dh, dc), RNN_ERR_STATE);
        ck_assert(rnn_model_errmsg(m)[0] != '\0');
        OK(rnn_zero_grad(m));
        OK(rnn_backward(m));
        for (int i = 0; i < N; i++) dc[i] = 777.0f;
        OK(rnn_model_get_hidden_grad(m, B, dh, dc));
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
        OK(rnn_model_get_hidden_grad(m, B, dh2, NULL)); /* dc may be NULL; reading twice is fine */
        ck_assert(memcmp(dh, dh2, sizeof dh) == 0);
        ck_assert_int_eq(rnn_model_get_hidden_grad(m, B + 1, dh2, dc2), RNN_ERR_STATE);
        /* the gradient w.r.t. a nonzero entering state, by central differences on a few components
         * (not for RNN_RELU, whose kinks make a finite difference unreliable; test_grad covers it) */
        if (cell == RNN_CELL_RELU) {
            rnn_model_free(m);
            continue;
        }
        float h0[N], c0[N], hp[N];
        memset(c0, 0, sizeof c0);
        for (int i = 0; i < N; i++) h0[i] = 0.1f * (float)((i % 5) - 2);
        OK(rnn_model_set_hidden(m, B, h0, c0));
        OK(rnn_forward(m, TOK, TGT, B, T, 0, NULL));
        OK(rnn_zero_grad(m));
        OK(rnn_backward(m));
        OK(rnn_model_get_hidden_grad(m, B, dh, NULL));
        const int idx[] = {0, N / 2, N - 1};
        for (int j = 0; j < 3; j++) {
            double lp, lm, eps = 1e-2;
            memcpy(hp, h0, sizeof hp);
            hp[idx[j]] += (float)eps;
            OK(rnn_model_set_hidden(m, B, hp, c0));
            OK(rnn_evaluate(m, TOK, TGT, B, T, 0, &lp, NULL));
            hp[idx[j]] -= (float)(2 * eps);
            OK(rnn_model_set_hidden(m, B, hp, c0));
            OK(rnn_evaluate(m, TOK, TGT, B, T, 0, &lm, NULL));
            double fd = (lp - lm) / (2 * eps);
            ck_assert_msg(fabs(fd - dh[idx[j]]) <= 2e-3 * fmax(1e-2, fabs(fd)) + 2e-4,
                          "%s: dh[%d] = %.6g, central difference %.6g", CELL_NAME[cell], idx[j], (double)dh[idx[j]], fd);
        }
        rnn_model_free(m);
    }
}
END_TEST

/* ---- 1.0: limits, cells, error codes ------------------------------------------------------------ */
START_TEST(test_limits)
{
    static const struct {
        int id;
        const char *name;
        int64_t want;
    } lim[] = {
        {RNN_LIMIT_DIM, "RNN_LIMIT_DIM", 16777216},
        {RNN_LIMIT_LAYERS, "RNN_LIMIT_LAYERS", 1024},
        {RNN_LIMIT_THREADS, "RNN_LIMIT_THREADS", 256},
        {RNN_LIMIT_CHUNK, "RNN_LIMIT_CHUNK", INT_MAX / 8},
        {RNN_LIMIT_WORD_BYTES, "RNN_LIMIT_WORD_BYTES", 1048576},
        {RNN_LIMIT_APP_DATA, "RNN_LIMIT_APP_DATA", 16 * 1024 * 1024},
        {RNN_LIMIT_REPEAT_WINDOW, "RNN_LIMIT_REPEAT_WINDOW", 1024},
        {RNN_LIMIT_CUTOFFS, "RNN_LIMIT_CUTOFFS", RNN_MAX_CUTOFFS},
    };
    ck_assert_int_eq(RNN_LIMIT_DIM, 0);
    ck_assert_int_eq(RNN_LIMIT_APP_DATA, 5);
    for (size_t k = 0; k < sizeof lim / sizeof *lim; k++) {
        int64_t v = -12345;
        int rc = rnn_limit_get(lim[k].id, &v);
        ck_assert_msg(rc == RNN_OK, "rnn_limit_get(%s) -> %d", lim[k].name, rc);
        ck_assert_msg(v == lim[k].want, "rnn_limit_get(%s) = %lld, want %lld", lim[k].name, (long long)v,
                      (long long)lim[k].want);
    }
    ck_assert_int_eq(RNN_LIMIT_REPEAT_WINDOW, 6);
    ck_assert_int_eq(RNN_LIMIT_CUTOFFS, 7);
    const int unknown[] = {-1, 8, 9, 100, INT_MAX, INT_MIN};
    for (size_t k = 0; k < sizeof unknown / sizeof *unknown; k++) {
        int64_t v = -12345;
        ck_assert_msg(rnn_limit_get(unknown[k], &v) == RNN_ERR_INVALID, "rnn_limit_get(%d) not RNN_ERR_INVALID",
                      unknown[k]);
    }
    ck_assert_int_eq(rnn_limit_get(RNN_LIMIT_DIM, NULL), RNN_ERR_INVALID);

    /* the limits are enforced: vocab_size RNN_LIMIT_DIM + 1 (the rest tiny, so that a library that
     * failed to check would not need much memory to show it) */
    int64_t dim, threads;
    OK(rnn_limit_get(RNN_LIMIT_DIM, &dim));
    OK(rnn_limit_get(RNN_LIMIT_THREADS, &threads));
    rnn_config c = tiny_cfg(RNN_CELL_TANH, 1, 0.0f);
    c.emb_size = c.hidden_size = 1;
    c.vocab_size = (int)dim + 1;
    rnn_model *m = (rnn_model *)&c;
    char err[256] = "";
    int rc = rnn_model_create(&m, &c, NULL, err, sizeof err);
    ck_assert_msg(rc == RNN_ERR_INVALID, "vocab_size RNN_LIMIT_DIM + 1: got %d (%s), want RNN_ERR_INVALID", rc,
                  rnn_status_string(rc));
    ck_assert_ptr_null(m);
    ck_assert(err[0] != '\0');
    if (rc == RNN_OK) rnn_model_free(m);
    c.vocab_size = V;
    c.emb_size = INT_MAX; /* (not dim + 1: a library without the check could allocate gigabytes) */
    m = (rnn_model *)&c;
    ck_assert_int_eq(rnn_model_create(&m, &c, NULL, NULL, 0), RNN_ERR_INVALID);
    ck_assert_ptr_null(m);

    /* rnn_model_set_threads: [1, RNN_LIMIT_THREADS] */
    c = tiny_cfg(RNN_CELL_TANH, 1, 0.0f);
    m = make_model(&c);
    int t = -1;
    OK(rnn_model_get_threads(m, &t));
    ck_assert_int_eq(t, 1); /* the default */
    OK(rnn_model_set_threads(m, 2));
    OK(rnn_model_get_threads(m, &t));
    ck_assert_int_eq(t, 2);
    const int bad[] = {(int)threads + 1, 0, -1, INT_MAX, INT_MIN};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        rc = rnn_model_set_threads(m, bad[k]);
        ck_assert_msg(rc == RNN_ERR_INVALID, "rnn_model_set_threads(%d): got %d, want RNN_ERR_INVALID", bad[k], rc);
        ck_assert(rnn_model_errmsg(m)[0] != '\0');
        OK(rnn_model_get_threads(m, &t));
        ck_assert_msg(t == 2, "rnn_model_set_threads(%d) failed but the setting changed to %d", bad[k], t);
    }
    OK(rnn_model_set_threads(m, 1));
    ck_assert_int_eq(rnn_model_get_threads(m, NULL), RNN_ERR_INVALID);
    rnn_model_free(m);
}
END_TEST

START_TEST(test_cell_names)
{
    ck_assert_int_eq(RNN_CELL_COUNT, NCELLS);
    ck_assert_int_eq(RNN_CELL_TANH, 0);
    ck_assert_int_eq(RNN_CELL_RELU, 1);
    ck_assert_int_eq(RNN_CELL_LSTM, 2);
    ck_assert_int_eq(RNN_CELL_GRU, 3);
    for (int id = 0; id < RNN_CELL_COUNT; id++) {
        const char *name = NULL;
        OK(rnn_cell_name(id, &name));
        ck_assert_ptr_nonnull(name);
        ck_assert_msg(strcmp(name, CELL_NAME[id]) == 0, "rnn_cell_name(%d) = \"%s\", want \"%s\"", id, name,
                      CELL_NAME[id]);
        int back = -1;
        OK(rnn_cell_find(name, &back));
        ck_assert_int_eq(back, id);
        char copy[32]; /* found by content, not by pointer */
        snprintf(copy, sizeof copy, "%s", CELL_NAME[id]);
        back = -1;
        OK(rnn_cell_find(copy, &back));
        ck_assert_int_eq(back, id);
    }
    const int bad_ids[] = {-1, RNN_CELL_COUNT, RNN_CELL_COUNT + 1, 1000, INT_MAX, INT_MIN};
    for (size_t k = 0; k < sizeof bad_ids / sizeof *bad_ids; k++) {
        const char *name = NULL;
        ck_assert_msg(rnn_cell_name(bad_ids[k], &name) == RNN_ERR_INVALID, "rnn_cell_name(%d) not RNN_ERR_INVALID",
                      bad_ids[k]);
    }
    ck_assert_int_eq(rnn_cell_name(RNN_CELL_LSTM, NULL), RNN_ERR_INVALID);
    const char *bad_names[] = {"lstm", "Lstm", "LSTM ", " LSTM", "LSTM\n", "RNN", "TANH", "RNN_TANH_", "GRU2", "",
                               "rnn_relu", "RNN_RELUX", "LST"};
    for (size_t k = 0; k < sizeof bad_names / sizeof *bad_names; k++) {
        int cell = -1;
        int rc = rnn_cell_find(bad_names[k], &cell);
        ck_assert_msg(rc == RNN_ERR_NOTFOUND, "rnn_cell_find(\"%s\"): got %d, want RNN_ERR_NOTFOUND", bad_names[k], rc);
    }
    int cell;
    ck_assert_int_eq(rnn_cell_find(NULL, &cell), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_cell_find("GRU", NULL), RNN_ERR_INVALID);
}
END_TEST

START_TEST(test_errcode)
{
    rnn_config cfg = tiny_cfg(RNN_CELL_LSTM, L, 0.0f);
    rnn_model *m = make_model(&cfg), *other = make_model(&cfg);
    ck_assert_int_eq(rnn_model_errcode(m), RNN_OK); /* nothing failed yet */
    ck_assert_str_eq(rnn_model_errmsg(m), "");
    ck_assert_int_eq(rnn_model_reset_hidden(m, 0), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_model_errcode(m), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_forward(m, TOK, TGT, B, T, 0, NULL), RNN_ERR_STATE); /* no hidden state yet */
    ck_assert_int_eq(rnn_model_errcode(m), RNN_ERR_STATE);
    /* the status of the last FAILED call: a success in between does not change it */
    OK(rnn_model_reset_hidden(m, B));
    ck_assert_int_eq(rnn_model_errcode(m), RNN_ERR_STATE);
    ck_assert_int_eq(rnn_forward(m, tok_with(3, V), TGT, B, T, 0, NULL), RNN_ERR_RANGE);
    ck_assert_int_eq(rnn_model_errcode(m), RNN_ERR_RANGE);
    rnn_param p = PARAM_INIT;
    ck_assert_int_eq(rnn_param_find(m, "no.such", &p), RNN_ERR_NOTFOUND);
    ck_assert_int_eq(rnn_model_errcode(m), RNN_ERR_NOTFOUND);
    ck_assert_int_eq(rnn_backward(m), RNN_ERR_STATE);
    ck_assert_int_eq(rnn_model_errcode(m), RNN_ERR_STATE);
    /* per handle */
    ck_assert_int_eq(rnn_model_errcode(other), RNN_OK);
    ck_assert_int_eq(rnn_model_errcode(NULL), RNN_ERR_INVALID);

    /* rnn_state_errcode */
    OK(rnn_model_reset_hidden(other, B));
    ck_assert_int_eq(rnn_model_errcode(other), RNN_OK);
    rnn_state *st = NULL;
    OK(rnn_state_create(&st, other, B, 7));
    ck_assert_int_eq(rnn_state_errcode(st), RNN_OK);
    ck_assert_str_eq(rnn_state_errmsg(st), "");
    ck_assert_int_eq(rnn_state_feed(st, NULL, T, 0), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_state_errcode(st), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_state_feed(st, tok_with(0, -1), T, 0), RNN_ERR_RANGE);
    ck_assert_int_eq(rnn_state_errcode(st), RNN_ERR_RANGE);
    OK(rnn_state_feed(st, TOK, T, 0));
    ck_assert_int_eq(rnn_state_errcode(st), RNN_ERR_RANGE);
    rnn_state *st2 = NULL;
    OK(rnn_state_create(&st2, other, 1, 7));
    ck_assert_int_eq(rnn_state_copy(st2, st), RNN_ERR_STATE); /* another batch */
    ck_assert_int_eq(rnn_state_errcode(st2), RNN_ERR_STATE);
    ck_assert_int_eq(rnn_state_errcode(NULL), RNN_ERR_INVALID);
    /* failures on a state do not touch the model's */
    ck_assert_int_eq(rnn_model_errcode(other), RNN_OK);
    ck_assert_str_eq(rnn_model_errmsg(other), "");
    rnn_state_free(st);
    rnn_state_free(st2);
    rnn_model_free(m);
    rnn_model_free(other);
}
END_TEST

/* rnn_model_create's errbuf, since no handle exists */
/* an allocator that refuses anything over 64 kB */
static void *small_alloc(void *user, size_t n) { (void)user; return n > 65536 ? NULL : malloc(n); }
static void small_free(void *user, void *p) { (void)user; free(p); }

/* A creation that runs out of memory says how many bytes the parameters need (issue 15, item 13). */
START_TEST(test_create_nomem_bytes)
{
    rnn_config c;
    OK(rnn_config_init(&c, sizeof c));
    c.vocab_size = 33278; /* the example's default LSTM: 13,987,678 parameters */
    rnn_allocator al = {sizeof al, small_alloc, small_free, NULL};
    char err[256] = "";
    rnn_model *m = NULL;
    ck_assert_int_eq(rnn_model_create(&m, &c, &al, err, sizeof err), RNN_ERR_NOMEM);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err, "13987678 parameters need 55950712 bytes") != NULL, "errbuf \"%s\" gives no size", err);
}
END_TEST

START_TEST(test_create_errbuf)
{
    rnn_config c;
    OK(rnn_config_init(&c, sizeof c));
    c.vocab_size = V, c.emb_size = 200, c.hidden_size = 100, c.tied = 1;
    char err[256];
    memset(err, 'Z', sizeof err);
    rnn_model *m = (rnn_model *)&c;
    int rc = rnn_model_create(&m, &c, NULL, err, sizeof err);
    ck_assert_int_eq(rc, RNN_ERR_INVALID);
    ck_assert_ptr_null(m);
    ck_assert_msg(memchr(err, '\0', sizeof err) != NULL, "errbuf not NUL-terminated");
    ck_assert_msg(strstr(err, "tied") != NULL, "errbuf \"%s\" does not mention \"tied\"", err);
    /* errbuf is optional */
    m = (rnn_model *)&c;
    ck_assert_int_eq(rnn_model_create(&m, &c, NULL, NULL, 0), RNN_ERR_INVALID);
    ck_assert_ptr_null(m);
    m = (rnn_model *)&c;
    ck_assert_int_eq(rnn_model_create(&m, &c, NULL, NULL, 100), RNN_ERR_INVALID);
    ck_assert_ptr_null(m);
    m = (rnn_model *)&c;
    ck_assert_int_eq(rnn_model_create(&m, &c, NULL, err, 0), RNN_ERR_INVALID);
    ck_assert_ptr_null(m);
    /* the library writes at most errlen bytes */
    char small[32];
    memset(small, 'Z', sizeof small);
    m = (rnn_model *)&c;
    ck_assert_int_eq(rnn_model_create(&m, &c, NULL, small, 6), RNN_ERR_INVALID);
    ck_assert_ptr_null(m);
    for (size_t i = 6; i < sizeof small; i++) ck_assert_msg(small[i] == 'Z', "errbuf written past errlen at %zu", i);
    memset(small, 'Z', sizeof small);
    ck_assert_int_eq(rnn_model_create(&m, &c, NULL, small, 1), RNN_ERR_INVALID);
    for (size_t i = 1; i < sizeof small; i++) ck_assert_msg(small[i] == 'Z', "errbuf written past errlen at %zu", i);
    /* a valid configuration succeeds with an errbuf */
    c.hidden_size = 200, c.emb_size = 200, c.vocab_size = 5, c.num_layers = 1;
    OK(rnn_model_create(&m, &c, NULL, err, sizeof err));
    rnn_model_free(m);
}
END_TEST

/* ---- struct_size: older (shorter) and newer (longer) callers ---------------------------------- */
static void expect_same_weights(const rnn_model *a, const rnn_model *b, int want_equal, const char *what)
{
    float *pa, *pb;
    size_t na, nb;
    OK(rnn_param_get_block(a, &pa, NULL, &na));
    OK(rnn_param_get_block(b, &pb, NULL, &nb));
    ck_assert_msg(na == nb, "%s: %zu vs %zu parameters", what, na, nb);
    int eq = memcmp(pa, pb, na * sizeof(float)) == 0;
    ck_assert_msg(eq == want_equal, "%s: weights %s", what, want_equal ? "differ" : "are equal");
}

/* (a) a config one field (the seed) shorter than the library's: the seed takes its default 1111 */
START_TEST(test_struct_size_config_older)
{
    rnn_config full = tiny_cfg(RNN_CELL_LSTM, L, 0.2f);
    full.seed = 1111;
    rnn_model *want = make_model(&full);
    rnn_config old = tiny_cfg(RNN_CELL_LSTM, L, 0.2f);
    ck_assert(old.seed != 1111);
    old.seed = 4242; /* past struct_size: must not be read */
    old.struct_size = offsetof(rnn_config, seed);
    rnn_model *m = make_model(&old);
    expect_same_weights(m, want, 1, "struct_size offsetof(seed) vs seed 1111");
    full.seed = 4242;
    rnn_model *m4242 = make_model(&full);
    expect_same_weights(m, m4242, 0, "struct_size offsetof(seed) vs seed 4242");
    rnn_config got;
    OK(rnn_config_init(&got, sizeof got));
    got.seed = 0;
    OK(rnn_model_get_config(m, &got));
    ck_assert_msg(got.seed == 1111, "seed %llu, want the default 1111", (unsigned long long)got.seed);
    ck_assert_int_eq(got.cell, RNN_CELL_LSTM);
    ck_assert_int_eq(got.vocab_size, V);
    ck_assert_int_eq(got.emb_size, E);
    ck_assert_int_eq(got.hidden_size, H);
    ck_assert_int_eq(got.num_layers, L);
    ck_assert(got.dropout == 0.2f);
    /* two fields shorter: tied (past struct_size, here an invalid 1 with E != H) takes its default 0 */
    rnn_config older = tiny_cfg(RNN_CELL_GRU, 1, 0.0f);
    older.tied = 1;
    older.seed = 99;
    older.struct_size = offsetof(rnn_config, tied);
    rnn_model *m2 = NULL;
    int rc = rnn_model_create(&m2, &older, NULL, NULL, 0);
    ck_assert_msg(rc == RNN_OK, "struct_size offsetof(tied): got %d, want RNN_OK (tied past the struct)", rc);
    OK(rnn_model_get_config(m2, &got));
    ck_assert_int_eq(got.tied, 0);
    ck_assert(got.seed == 1111);
    ck_assert_int_eq(got.cell, RNN_CELL_GRU);
    rnn_model_free(m2);
    rnn_model_free(m);
    rnn_model_free(m4242);
    rnn_model_free(want);
}
END_TEST

/* (b) a longer config (a newer program): accepted when the unknown bytes are zero */
START_TEST(test_struct_size_config_newer)
{
    struct newer_config {
        rnn_config c;
        uint64_t extra;
    } big;
    memset(&big, 0, sizeof big);
    ck_assert_uint_eq(offsetof(struct newer_config, extra), sizeof(rnn_config));
    unsigned char *extra = (unsigned char *)&big.extra;
    rnn_config base = tiny_cfg(RNN_CELL_TANH, L, 0.1f);
    big.c = base;
    memset((unsigned char *)&big + sizeof big.c, 0, sizeof big - sizeof big.c);
    big.c.struct_size = sizeof big;
    rnn_model *m = NULL, *ref = make_model(&base);
    char err[256] = "";
    int rc = rnn_model_create(&m, &big.c, NULL, err, sizeof err);
    ck_assert_msg(rc == RNN_OK, "longer config, zero tail: got %d (%s)", rc, err);
    expect_same_weights(m, ref, 1, "longer config with a zero tail");
    rnn_model_free(m);
    char off[32];
    snprintf(off, sizeof off, "%zu", sizeof(rnn_config));
    for (size_t k = 0; k < sizeof big.extra; k++) {
        big.extra = 0;
        extra[k] = (unsigned char)(k == 0 ? 1 : 0x80);
        m = (rnn_model *)&big;
        err[0] = '\0';
        rc = rnn_model_create(&m, &big.c, NULL, err, sizeof err);
        ck_assert_msg(rc == RNN_ERR_INVALID, "longer config, nonzero byte %zu past the struct: got %d", k, rc);
        ck_assert_ptr_null(m);
        if (k == 0) /* the first unknown field's offset is named */
            ck_assert_msg(strstr(err, off) != NULL, "errbuf \"%s\" does not name offset %s", err, off);
    }
    /* rnn_model_get_config into a longer struct: the unknown tail is set to zero, struct_size kept */
    memset(&big, 0xFF, sizeof big);
    big.c.struct_size = sizeof big;
    OK(rnn_model_get_config(ref, &big.c));
    ck_assert(big.c.struct_size == sizeof big);
    ck_assert_int_eq(big.c.vocab_size, V);
    ck_assert(big.c.seed == base.seed);
    ck_assert_msg(big.extra == 0, "get_config: the unknown tail was not zeroed (0x%016llx)",
                  (unsigned long long)big.extra);
    /* ... and into a shorter one: nothing past struct_size is written */
    rnn_config shorter;
    memset(&shorter, 0xAB, sizeof shorter);
    shorter.struct_size = offsetof(rnn_config, seed);
    OK(rnn_model_get_config(ref, &shorter));
    ck_assert_int_eq(shorter.vocab_size, V);
    ck_assert_int_eq(shorter.hidden_size, H);
    ck_assert(shorter.dropout == 0.1f);
    const unsigned char *sb = (const unsigned char *)&shorter;
    for (size_t i = offsetof(rnn_config, seed); i < sizeof shorter; i++)
        ck_assert_msg(sb[i] == 0xAB, "get_config wrote byte %zu past struct_size %zu", i, offsetof(rnn_config, seed));
    rnn_model_free(ref);
}
END_TEST

/* (c) a struct_size that cuts a field, or is smaller than struct_size itself */
START_TEST(test_struct_size_config_bad)
{
    const size_t bad[] = {0, 1, 4, sizeof(size_t) - 1, offsetof(rnn_config, cell) + 2, offsetof(rnn_config, vocab_size) + 1,
                          offsetof(rnn_config, dropout) + 3, offsetof(rnn_config, seed) + 4,
                          offsetof(rnn_config, dropout_masks) + sizeof(int) - 1 /* (its tail padding would not cut a field) */};
    rnn_model *ref;
    {
        rnn_config c = tiny_cfg(RNN_CELL_LSTM, 1, 0.0f);
        ref = make_model(&c);
    }
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        rnn_config c = tiny_cfg(RNN_CELL_LSTM, 1, 0.0f);
        c.struct_size = bad[k];
        rnn_model *m = (rnn_model *)&c;
        int rc = rnn_model_create(&m, &c, NULL, NULL, 0);
        ck_assert_msg(rc == RNN_ERR_INVALID, "rnn_model_create with struct_size %zu: got %d, want RNN_ERR_INVALID",
                      bad[k], rc);
        ck_assert_ptr_null(m);
        rnn_config out;
        memset(&out, 0, sizeof out);
        out.struct_size = bad[k];
        rc = rnn_model_get_config(ref, &out);
        ck_assert_msg(rc == RNN_ERR_INVALID, "rnn_model_get_config with struct_size %zu: got %d, want RNN_ERR_INVALID",
                      bad[k], rc);
        /* rnn_config_init with that size (e) */
        memset(&out, 0x3C, sizeof out);
        rc = rnn_config_init(&out, bad[k]);
        ck_assert_msg(rc == RNN_ERR_INVALID, "rnn_config_init with size %zu: got %d, want RNN_ERR_INVALID", bad[k], rc);
    }
    rnn_model_free(ref);
}
END_TEST

/* (e) rnn_config_init / rnn_sampling_init: sizes too small are refused; a shorter (older) size is
 * filled up to that size only */
START_TEST(test_struct_size_init)
{
    rnn_config c;
    const size_t small[] = {0, 1, sizeof(size_t) - 1};
    for (size_t k = 0; k < sizeof small / sizeof *small; k++) {
        ck_assert_int_eq(rnn_config_init(&c, small[k]), RNN_ERR_INVALID);
        rnn_sampling s;
        ck_assert_int_eq(rnn_sampling_init(&s, small[k]), RNN_ERR_INVALID);
    }
    rnn_sampling s;
    ck_assert_int_eq(rnn_sampling_init(&s, offsetof(rnn_sampling, temperature) + 2), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_sampling_init(&s, offsetof(rnn_sampling, top_k) + 1), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_config_init(&c, offsetof(rnn_config, seed) + 4), RNN_ERR_INVALID);
    /* an older caller's size: defaults up to it, nothing past it */
    memset(&c, 0x3C, sizeof c);
    OK(rnn_config_init(&c, offsetof(rnn_config, seed)));
    ck_assert(c.struct_size == offsetof(rnn_config, seed));
    ck_assert_int_eq(c.cell, RNN_CELL_LSTM);
    ck_assert_int_eq(c.emb_size, 200);
    ck_assert_int_eq(c.tied, 0);
    const unsigned char *cb = (const unsigned char *)&c;
    for (size_t i = offsetof(rnn_config, seed); i < sizeof c; i++)
        ck_assert_msg(cb[i] == 0x3C, "rnn_config_init wrote byte %zu past size %zu", i, offsetof(rnn_config, seed));
    memset(&s, 0x3C, sizeof s);
    OK(rnn_sampling_init(&s, offsetof(rnn_sampling, top_p)));
    ck_assert(s.struct_size == offsetof(rnn_sampling, top_p));
    ck_assert(s.temperature == 1.0f && s.top_k == 0);
    const unsigned char *sb = (const unsigned char *)&s;
    for (size_t i = offsetof(rnn_sampling, top_p); i < sizeof s; i++)
        ck_assert_msg(sb[i] == 0x3C, "rnn_sampling_init wrote byte %zu past size %zu", i, offsetof(rnn_sampling, top_p));
    OK(rnn_sampling_init(&s, sizeof s));
    ck_assert(s.struct_size == sizeof s && s.temperature == 1.0f && s.top_k == 0 && s.top_p == 1.0f);
}
END_TEST

/* (d) rnn_param: a shorter struct is filled up to its size and not past it; a longer one gets its
 * unknown tail zeroed; a cut size is refused */
START_TEST(test_struct_size_param)
{
    rnn_config cfg = tiny_cfg(RNN_CELL_GRU, L, 0.0f);
    rnn_model *m = make_model(&cfg);
    int count;
    OK(rnn_param_get_count(m, &count));
    for (int i = 0; i < count; i++) {
        rnn_param full = PARAM_INIT;
        OK(rnn_param_get(m, i, &full));
        struct {
            rnn_param p;
            unsigned char canary[64];
        } buf;
        const size_t sizes[] = {offsetof(rnn_param, size), offsetof(rnn_param, rows)};
        for (int k = 0; k < 2; k++) {
            for (int by_name = 0; by_name < 2; by_name++) {
                memset(&buf, 0xA5, sizeof buf);
                buf.p.struct_size = sizes[k];
                if (by_name) OK(rnn_param_find(m, full.name, &buf.p));
                else OK(rnn_param_get(m, i, &buf.p));
                ck_assert(buf.p.struct_size == sizes[k]);
                ck_assert(buf.p.name != NULL && strcmp(buf.p.name, full.name) == 0);
                ck_assert(buf.p.data == full.data && buf.p.grad == full.grad);
                if (sizes[k] > offsetof(rnn_param, cols))
                    ck_assert(buf.p.rows == full.rows && buf.p.cols == full.cols);
                const unsigned char *b = (const unsigned char *)&buf;
                for (size_t j = sizes[k]; j < sizeof buf; j++)
                    ck_assert_msg(b[j] == 0xA5, "%s (struct_size %zu, %s): byte %zu written", full.name, sizes[k],
                                  by_name ? "rnn_param_find" : "rnn_param_get", j);
            }
        }
    }
    /* longer: the unknown tail is zeroed */
    struct {
        rnn_param p;
        uint64_t extra[2];
    } big;
    memset(&big, 0xFF, sizeof big);
    big.p.struct_size = sizeof big;
    OK(rnn_param_get(m, 0, &big.p));
    ck_assert(big.p.struct_size == sizeof big);
    ck_assert_str_eq(big.p.name, "encoder.weight");
    ck_assert(big.p.size == (size_t)V * E);
    ck_assert_msg(big.extra[0] == 0 && big.extra[1] == 0, "rnn_param_get: the unknown tail was not zeroed");
    memset(&big, 0xFF, sizeof big);
    big.p.struct_size = sizeof big;
    OK(rnn_param_find(m, "decoder.bias", &big.p));
    ck_assert(big.p.size == V);
    ck_assert(big.extra[0] == 0 && big.extra[1] == 0);
    /* cut sizes */
    const size_t bad[] = {0, 3, sizeof(size_t) - 1, offsetof(rnn_param, name) + 4, offsetof(rnn_param, rows) + 2,
                          offsetof(rnn_param, size) + 4};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        rnn_param p;
        memset(&p, 0, sizeof p);
        p.struct_size = bad[k];
        ck_assert_msg(rnn_param_get(m, 0, &p) == RNN_ERR_INVALID, "rnn_param_get with struct_size %zu", bad[k]);
        p.struct_size = bad[k];
        ck_assert_msg(rnn_param_find(m, "encoder.weight", &p) == RNN_ERR_INVALID, "rnn_param_find with struct_size %zu",
                      bad[k]);
    }
    rnn_model_free(m);
}
END_TEST

/* rnn_allocator and rnn_sampling follow the same rules */
START_TEST(test_struct_size_alloc_sampling)
{
    rnn_config c = tiny_cfg(RNN_CELL_LSTM, 1, 0.0f);
    const size_t bad[] = {0, 3, sizeof(size_t) - 1, offsetof(rnn_allocator, alloc) + 4};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        rnn_allocator al = {sizeof(rnn_allocator), dummy_alloc, dummy_free, NULL};
        al.struct_size = bad[k];
        rnn_model *m = (rnn_model *)&c;
        int rc = rnn_model_create(&m, &c, &al, NULL, 0);
        ck_assert_msg(rc == RNN_ERR_INVALID, "allocator struct_size %zu: got %d, want RNN_ERR_INVALID", bad[k], rc);
        ck_assert_ptr_null(m);
    }
    struct {
        rnn_allocator a;
        uint64_t extra;
    } big;
    memset(&big, 0, sizeof big);
    big.a.struct_size = sizeof big, big.a.alloc = dummy_alloc, big.a.free = dummy_free;
    rnn_model *m = NULL;
    OK(rnn_model_create(&m, &c, &big.a, NULL, 0));
    rnn_model_free(m);
    big.extra = 2;
    m = (rnn_model *)&c;
    ck_assert_int_eq(rnn_model_create(&m, &c, &big.a, NULL, 0), RNN_ERR_INVALID);
    ck_assert_ptr_null(m);

    /* rnn_sample with an older (shorter) sampling struct: top_p (garbage past struct_size) takes its
     * default 1, so top_k 1 is greedy */
    c = tiny_cfg(RNN_CELL_GRU, L, 0.0f);
    rnn_model *a = make_model(&c), *b = make_model(&c);
    OK(rnn_model_reset_hidden(a, B));
    OK(rnn_model_reset_hidden(b, B));
    rnn_sampling older = SMPL(SMP_SIZE, 1.0f, 1, -5.0f);
    older.struct_size = offsetof(rnn_sampling, top_p);
    int32_t x[B] = {1, 2, 3}, na[B], nb[B];
    for (int i = 0; i < 10; i++) {
        OK(rnn_sample(a, x, B, &older, na));
        OK(rnn_sample(b, x, B, SMP(0.0f), nb));
        ck_assert_msg(memcmp(na, nb, sizeof na) == 0, "older sampling struct (top_k 1) differs from greedy");
        memcpy(x, na, sizeof x);
    }
    /* a longer one with a zero tail is the same as the plain one */
    OK(rnn_model_set_seed(a, 5));
    OK(rnn_model_set_seed(b, 5));
    for (int i = 0; i < 10; i++) {
        OK(rnn_sample(a, x, B, smp_longer(0), na));
        OK(rnn_sample(b, x, B, NULL, nb)); /* NULL: the defaults */
        ck_assert_msg(memcmp(na, nb, sizeof na) == 0, "longer sampling struct with a zero tail differs from NULL");
        memcpy(x, na, sizeof x);
    }
    rnn_model_free(a);
    rnn_model_free(b);
}
END_TEST

/* ---- stride: a column slice of a [batch][n] array == the same tokens copied densely ------------- */
enum { SW = 2 * T + 3, SOFF = 2 }; /* row length of the wide arrays; first column of the slice */

/* wide[b][SW] holds dense[b][steps] at columns SOFF.. and junk (out of range for tokens and targets)
 * everywhere else, which the library must not read */
static void make_wide(int32_t *wide, const int32_t *dense, int batch, int steps)
{
    for (int i = 0; i < batch * SW; i++) wide[i] = (i % 2) ? V + 1000 + i : -1000 - i;
    for (int b = 0; b < batch; b++)
        for (int t = 0; t < steps; t++) wide[b * SW + SOFF + t] = dense[b * steps + t];
}

START_TEST(test_stride_evaluate)
{
    int cell = _i;
    rnn_config cfg = tiny_cfg(cell, L, 0.3f);
    rnn_model *m = make_model(&cfg);
    static int32_t wtok[MAXB * SW], wtgt[MAXB * SW], wtok2[MAXB * SW];
    make_wide(wtok, TOK, B, T);
    make_wide(wtgt, TGT, B, T);
    make_wide(wtok2, TOK2, B, T);
    static float lp[3][B * T * V];
    double loss[3], loss2[3];
    float h[3][L * B * H], c[3][L * B * H];
    memset(c, 0, sizeof c);
    for (int k = 0; k < 3; k++) { /* stride 0, stride T (dense, explicit), stride SW (a slice) */
        const int32_t *x = k < 2 ? TOK : wtok + SOFF, *y = k < 2 ? TGT : wtgt + SOFF;
        const int32_t *x2 = k < 2 ? TOK2 : wtok2 + SOFF;
        int stride = k == 0 ? 0 : k == 1 ? T : SW;
        OK(rnn_model_reset_hidden(m, B));
        OK(rnn_evaluate(m, x, y, B, T, stride, &loss[k], lp[k]));
        OK(rnn_evaluate(m, x2, NULL, B, T, stride, NULL, NULL)); /* targets NULL: only advances */
        OK(rnn_evaluate(m, x, y, B, T, stride, &loss2[k], NULL));
        OK(rnn_model_get_hidden(m, B, h[k], cell == RNN_CELL_LSTM ? c[k] : NULL));
    }
    for (int k = 1; k < 3; k++) {
        ck_assert_msg(memcmp(&loss[k], &loss[0], sizeof loss[0]) == 0, "%s stride %d: loss %.17g vs dense %.17g",
                      CELL_NAME[cell], k == 1 ? T : SW, loss[k], loss[0]);
        ck_assert_msg(memcmp(lp[k], lp[0], sizeof lp[0]) == 0, "%s stride %d: logprobs differ from dense",
                      CELL_NAME[cell], k == 1 ? T : SW);
        ck_assert(memcmp(&loss2[k], &loss2[0], sizeof loss2[0]) == 0);
        ck_assert_msg(memcmp(h[k], h[0], sizeof h[0]) == 0 && memcmp(c[k], c[0], sizeof c[0]) == 0,
                      "%s stride %d: hidden state differs from dense", CELL_NAME[cell], k == 1 ? T : SW);
    }
    /* stride == steps is the smallest valid stride, also for one step; stride in (0, steps) is not */
    OK(rnn_model_reset_hidden(m, B));
    OK(rnn_evaluate(m, TOK, TGT, B, 1, 1, NULL, NULL));
    for (int s = 1; s < T; s++) {
        int rc = rnn_evaluate(m, TOK, TGT, B, T, s, &loss[0], NULL);
        ck_assert_msg(rc == RNN_ERR_INVALID, "%s: evaluate with stride %d < steps %d: got %d", CELL_NAME[cell], s, T, rc);
    }
    rnn_model_free(m);
}
END_TEST

START_TEST(test_stride_forward)
{
    int cell = _i;
    rnn_config cfg = tiny_cfg(cell, L, 0.3f); /* dropout on: the same seed draws the same masks */
    static int32_t wtok[MAXB * SW], wtgt[MAXB * SW], wtok2[MAXB * SW], wtgt2[MAXB * SW];
    make_wide(wtok, TOK, B, T);
    make_wide(wtgt, TGT, B, T);
    make_wide(wtok2, TOK2, B, T);
    make_wide(wtgt2, TGT2, B, T);
    rnn_model *m[3];
    double loss[3][2];
    for (int k = 0; k < 3; k++) {
        const int stride = k == 0 ? 0 : k == 1 ? T : SW;
        const int32_t *x = k < 2 ? TOK : wtok + SOFF, *y = k < 2 ? TGT : wtgt + SOFF;
        const int32_t *x2 = k < 2 ? TOK2 : wtok2 + SOFF, *y2 = k < 2 ? TGT2 : wtgt2 + SOFF;
        m[k] = make_model(&cfg);
        OK(rnn_model_reset_hidden(m[k], B));
        OK(rnn_forward(m[k], x, y, B, T, stride, &loss[k][0]));
        OK(rnn_zero_grad(m[k]));
        OK(rnn_backward(m[k]));
        OK(rnn_sgd_step(m[k], 0.5f));
        OK(rnn_forward(m[k], x2, y2, B, T, stride, &loss[k][1]));
        OK(rnn_zero_grad(m[k]));
        OK(rnn_backward(m[k]));
    }
    for (int k = 1; k < 3; k++) {
        char what[96];
        snprintf(what, sizeof what, "%s forward stride %d vs dense", CELL_NAME[cell], k == 1 ? T : SW);
        ck_assert_msg(memcmp(loss[k], loss[0], sizeof loss[0]) == 0, "%s: losses %.17g %.17g vs %.17g %.17g", what,
                      loss[k][0], loss[k][1], loss[0][0], loss[0][1]);
        expect_same_model(m[k], m[0], what); /* parameters, gradients (backward read the strided targets), state */
        float dh0[L * B * H], dhk[L * B * H];
        OK(rnn_model_get_hidden_grad(m[0], B, dh0, NULL));
        OK(rnn_model_get_hidden_grad(m[k], B, dhk, NULL));
        ck_assert_msg(memcmp(dh0, dhk, sizeof dh0) == 0, "%s: hidden-state gradients differ", what);
    }
    /* stride in (0, steps) and negative strides are refused, leaving the pending backward alone */
    OK(rnn_forward(m[0], TOK, TGT, B, T, 0, NULL));
    for (int s = 1; s < T; s++) {
        int rc = rnn_forward(m[0], TOK, TGT, B, T, s, NULL);
        ck_assert_msg(rc == RNN_ERR_INVALID, "%s: forward with stride %d < steps %d: got %d", CELL_NAME[cell], s, T, rc);
    }
    ck_assert_int_eq(rnn_forward(m[0], TOK, TGT, B, T, -SW, NULL), RNN_ERR_INVALID);
    OK(rnn_backward(m[0]));
    for (int k = 0; k < 3; k++) rnn_model_free(m[k]);
}
END_TEST

/* ---- rnn_sample with top_k 1 is greedy ------------------------------------------------------------ */
START_TEST(test_sample_topk1_greedy)
{
    for (int cell = 0; cell < NCELLS; cell++) {
        rnn_config cfg = tiny_cfg(cell, L, 0.3f);
        rnn_model *g = make_model(&cfg), *k1 = make_model(&cfg), *k1hot = make_model(&cfg);
        rnn_param dw = PARAM_INIT; /* spread the logits */
        rnn_model *all[3] = {g, k1, k1hot};
        for (int i = 0; i < 3; i++) {
            OK(rnn_param_find(all[i], "decoder.weight", &dw));
            for (size_t j = 0; j < dw.size; j++) dw.data[j] *= 10.0f;
            OK(rnn_model_reset_hidden(all[i], B));
        }
        const rnn_sampling greedy = SMPL(SMP_SIZE, 0.0f, 0, 1.0f), top1 = SMPL(SMP_SIZE, 1.0f, 1, 1.0f),
                           top1hot = SMPL(SMP_SIZE, 3.0f, 1, 0.5f);
        int32_t x[B] = {0, 4, 8}, a[B], b[B], c[B];
        for (int step = 0; step < 25; step++) {
            OK(rnn_sample(g, x, B, &greedy, a));
            OK(rnn_sample(k1, x, B, &top1, b));
            OK(rnn_sample(k1hot, x, B, &top1hot, c));
            for (int s = 0; s < B; s++) {
                ck_assert_msg(b[s] == a[s], "%s step %d stream %d: top_k 1 drew %d, greedy %d", CELL_NAME[cell], step, s,
                              b[s], a[s]);
                ck_assert_msg(c[s] == a[s], "%s step %d stream %d: top_k 1 (T 3, top_p 0.5) drew %d, greedy %d",
                              CELL_NAME[cell], step, s, c[s], a[s]);
            }
            memcpy(x, a, sizeof x);
        }
        for (int i = 0; i < 3; i++) rnn_model_free(all[i]);
    }
}
END_TEST

/* ---- vocabulary lookup and the tokenizer ---------------------------------------------------------- */
START_TEST(test_vocab_find)
{
    rnn_config cfg = tiny_cfg(RNN_CELL_TANH, 1, 0.0f);
    rnn_model *m = make_model(&cfg);
    int32_t id = -5;
    ck_assert_int_eq(rnn_vocab_find(m, "the", &id), RNN_ERR_NOTFOUND); /* no vocabulary */
    ck_assert_int_eq(rnn_vocab_find(m, "<eos>", &id), RNN_ERR_NOTFOUND);
    OK(rnn_vocab_set(m, WORDS, V));
    for (int i = 0; i < V; i++) {
        char copy[32];
        snprintf(copy, sizeof copy, "%s", WORDS[i]);
        id = -5;
        OK(rnn_vocab_find(m, copy, &id));
        ck_assert_msg(id == i, "rnn_vocab_find(\"%s\") = %d, want %d", copy, (int)id, i);
    }
    const char *missing[] = {"zebra", "th", "thee", "The", "the ", " the", "<EOS>", "x0", ""};
    for (size_t k = 0; k < sizeof missing / sizeof *missing; k++) {
        int rc = rnn_vocab_find(m, missing[k], &id);
        ck_assert_msg(rc == RNN_ERR_NOTFOUND, "rnn_vocab_find(\"%s\"): got %d, want RNN_ERR_NOTFOUND", missing[k], rc);
    }
    ck_assert_int_eq(rnn_vocab_find(m, NULL, &id), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_vocab_find(m, "the", NULL), RNN_ERR_INVALID);
    /* a refused rnn_vocab_set keeps the old vocabulary (and its lookup) */
    const char *dup[V] = {"x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x1"};
    ck_assert_int_eq(rnn_vocab_set(m, dup, V), RNN_ERR_INVALID);
    const char *sp[V] = {"x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x 10"};
    ck_assert_int_eq(rnn_vocab_set(m, sp, V), RNN_ERR_INVALID);
    sp[10] = "x\t10";
    ck_assert_int_eq(rnn_vocab_set(m, sp, V), RNN_ERR_INVALID);
    sp[10] = "x\xc2\xa0" "10";
    ck_assert_int_eq(rnn_vocab_set(m, sp, V), RNN_ERR_INVALID);
    OK(rnn_vocab_find(m, "dog", &id));
    ck_assert_int_eq(id, 7);
    ck_assert_int_eq(rnn_vocab_find(m, "x1", &id), RNN_ERR_NOTFOUND);
    /* a replaced vocabulary: the new words are found, the old ones not */
    OK(rnn_vocab_set(m, WORDS2, V));
    OK(rnn_vocab_find(m, "x10", &id));
    ck_assert_int_eq(id, 10);
    ck_assert_int_eq(rnn_vocab_find(m, "dog", &id), RNN_ERR_NOTFOUND);
    /* non-ASCII words; a word that only looks like whitespace (U+200B is not whitespace to str.split) */
    const char *u[V] = {"<eos>", "\xc3\xa9t\xc3\xa9", "\xe2\x80\x8b", "a", "b", "c", "d", "e", "f", "g", "h"};
    OK(rnn_vocab_set(m, u, V));
    OK(rnn_vocab_find(m, "\xc3\xa9t\xc3\xa9", &id));
    ck_assert_int_eq(id, 1);
    OK(rnn_vocab_find(m, "\xe2\x80\x8b", &id));
    ck_assert_int_eq(id, 2);
    rnn_model_free(m);
}
END_TEST

/* the tokenizer's vocabulary: <eos> 0, a 1, b 2, c 3, d 4, <unk> 5, ... */
static const char *const EWORDS[V] = {"<eos>", "a", "b", "c", "d", "<unk>", "the", "cat", "\xc3\xa9t\xc3\xa9", "x", "y"};
enum { E_EOS = 0, E_A = 1, E_B = 2, E_C = 3, E_D = 4, E_UNK = 5, E_ETE = 8, E_X = 9 };

static rnn_model *encode_model(const char *const *words)
{
    rnn_config cfg = tiny_cfg(RNN_CELL_TANH, 1, 0.0f);
    rnn_model *m = make_model(&cfg);
    if (words) OK(rnn_vocab_set(m, words, V));
    return m;
}

/* rnn_vocab_encode of a NUL-terminated text into room for 64 ids; checks the ids when rc is RNN_OK */
static void expect_encode(const rnn_model *m, const char *text, unsigned flags, const int32_t *want, size_t nwant,
                          size_t want_unknown, const char *what)
{
    int32_t ids[64];
    for (int i = 0; i < 64; i++) ids[i] = -7;
    size_t count = 999, unknown = 999;
    int rc = rnn_vocab_encode(m, text, strlen(text), flags, ids, 64, &count, &unknown);
    ck_assert_msg(rc == RNN_OK, "%s: rnn_vocab_encode -> %d (%s): %s", what, rc, rnn_status_string(rc),
                  rnn_model_errmsg(m));
    ck_assert_msg(count == nwant, "%s: count %zu, want %zu", what, count, nwant);
    ck_assert_msg(unknown == want_unknown, "%s: unknown %zu, want %zu", what, unknown, want_unknown);
    for (size_t i = 0; i < nwant; i++)
        ck_assert_msg(ids[i] == want[i], "%s: id[%zu] = %d, want %d", what, i, (int)ids[i], (int)want[i]);
    ck_assert_msg(ids[nwant] == -7, "%s: written past count", what);
}

START_TEST(test_encode_split)
{
    rnn_model *m = encode_model(EWORDS);
    /* str.split(): runs of whitespace, leading and trailing, U+00A0 too */
    const char *text = "  a b\tc \xc2\xa0" "d ";
    expect_encode(m, text, RNN_ENCODE_EOS, (const int32_t[]){E_A, E_B, E_C, E_D, E_EOS}, 5, 0, "split + EOS");
    expect_encode(m, text, 0, (const int32_t[]){E_A, E_B, E_C, E_D}, 4, 0, "split");
    /* every whitespace str.split() knows, between two words */
    const char *ws[] = {" ", "\t", "\n", "\v", "\f", "\r", "\x1c", "\x1d", "\x1e", "\x1f", "\xc2\x85", "\xc2\xa0",
                        "\xe1\x9a\x80", "\xe2\x80\x80", "\xe2\x80\x85", "\xe2\x80\x8a", "\xe2\x80\xa8", "\xe2\x80\xa9",
                        "\xe2\x80\xaf", "\xe2\x81\x9f", "\xe3\x80\x80", " \t\xe3\x80\x80\r\n"};
    for (size_t k = 0; k < sizeof ws / sizeof *ws; k++) {
        char buf[64], what[64];
        snprintf(buf, sizeof buf, "a%sb%s", ws[k], ws[k]);
        snprintf(what, sizeof what, "separator #%zu", k);
        expect_encode(m, buf, RNN_ENCODE_EOS, (const int32_t[]){E_A, E_B, E_EOS}, 3, 0, what);
    }
    /* not whitespace: U+200B (zero width space), U+FEFF, U+00A1; a multi-byte word */
    expect_encode(m, "a\xe2\x80\x8b" "b", RNN_ENCODE_UNK_MAP, (const int32_t[]){E_UNK}, 1, 1, "U+200B");
    expect_encode(m, "\xef\xbb\xbf" "a", RNN_ENCODE_UNK_MAP, (const int32_t[]){E_UNK}, 1, 1, "U+FEFF");
    expect_encode(m, "a\xc2\xa1", RNN_ENCODE_UNK_MAP, (const int32_t[]){E_UNK}, 1, 1, "U+00A1");
    expect_encode(m, "x \xc3\xa9t\xc3\xa9\xe3\x80\x80x", 0, (const int32_t[]){E_X, E_ETE, E_X}, 3, 0, "UTF-8 word");
    /* empty and blank lines */
    expect_encode(m, "", RNN_ENCODE_EOS, (const int32_t[]){E_EOS}, 1, 0, "empty + EOS");
    expect_encode(m, "", 0, NULL, 0, 0, "empty");
    expect_encode(m, " \t \xc2\xa0 ", RNN_ENCODE_EOS, (const int32_t[]){E_EOS}, 1, 0, "blank + EOS");
    /* the words "<eos>" and "<unk>" in the text are ordinary words */
    expect_encode(m, "<eos> <unk>", 0, (const int32_t[]){E_EOS, E_UNK}, 2, 0, "literal <eos> <unk>");
    /* len is respected: the text need not end there */
    int32_t ids[8];
    size_t count = 0;
    OK(rnn_vocab_encode(m, "a b c d", 3, RNN_ENCODE_EOS, ids, 8, &count, NULL));
    ck_assert_uint_eq(count, 3);
    ck_assert(ids[0] == E_A && ids[1] == E_B && ids[2] == E_EOS);
    OK(rnn_vocab_encode(m, "ab", 1, 0, ids, 8, &count, NULL)); /* "a", not "ab" */
    ck_assert_uint_eq(count, 1);
    ck_assert_int_eq(ids[0], E_A);
    /* text may be NULL when len is 0? Not documented: not tested. unknown may be NULL. */
    rnn_model_free(m);
}
END_TEST

START_TEST(test_encode_unknown)
{
    rnn_model *m = encode_model(EWORDS);
    int32_t ids[16];
    size_t count = 0, unknown = 0;
    /* default: an unknown word fails with RNN_ERR_NOTFOUND, naming it */
    int rc = rnn_vocab_encode(m, "a zebra b", 9, RNN_ENCODE_EOS, ids, 16, &count, &unknown);
    ck_assert_int_eq(rc, RNN_ERR_NOTFOUND);
    ck_assert_msg(strstr(rnn_model_errmsg(m), "zebra") != NULL, "errmsg \"%s\" does not name the word",
                  rnn_model_errmsg(m));
    expect_encode(m, "a zebra b yak", RNN_ENCODE_UNK_MAP, (const int32_t[]){E_A, E_UNK, E_B, E_UNK}, 4, 2, "UNK_MAP");
    expect_encode(m, "a zebra b", RNN_ENCODE_UNK_MAP | RNN_ENCODE_EOS, (const int32_t[]){E_A, E_UNK, E_B, E_EOS}, 4, 1,
                  "UNK_MAP + EOS");
    expect_encode(m, "a zebra b yak", RNN_ENCODE_UNK_SKIP, (const int32_t[]){E_A, E_B}, 2, 2, "UNK_SKIP");
    expect_encode(m, "zebra", RNN_ENCODE_UNK_SKIP | RNN_ENCODE_EOS, (const int32_t[]){E_EOS}, 1, 1, "UNK_SKIP + EOS");
    expect_encode(m, "a b", RNN_ENCODE_UNK_MAP, (const int32_t[]){E_A, E_B}, 2, 0, "UNK_MAP, none unknown");
    /* unknown may be NULL */
    OK(rnn_vocab_encode(m, "zebra a", 7, RNN_ENCODE_UNK_MAP, ids, 16, &count, NULL));
    ck_assert_uint_eq(count, 2);
    /* both UNK flags, or an unknown flag bit: RNN_ERR_INVALID */
    ck_assert_int_eq(rnn_vocab_encode(m, "a b", 3, RNN_ENCODE_UNK_MAP | RNN_ENCODE_UNK_SKIP, ids, 16, &count, NULL),
                     RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_vocab_encode(m, "a b", 3, 8u, ids, 16, &count, NULL), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_vocab_encode(m, "a b", 3, 0x80000000u | RNN_ENCODE_EOS, ids, 16, &count, NULL),
                     RNN_ERR_INVALID);
    rnn_model_free(m);
    /* UNK_MAP without "<unk>" in the vocabulary: an error (WORDS has <eos> but no <unk>) */
    m = encode_model(WORDS);
    for (int i = 0; i < 16; i++) ids[i] = -7;
    rc = rnn_vocab_encode(m, "the zebra", 9, RNN_ENCODE_UNK_MAP, ids, 16, &count, &unknown);
    ck_assert_msg(rc != RNN_OK, "UNK_MAP with no <unk> in the vocabulary succeeded");
    ck_assert(rnn_model_errmsg(m)[0] != '\0');
    /* ... UNK_SKIP is fine there */
    expect_encode(m, "the zebra cat", RNN_ENCODE_UNK_SKIP | RNN_ENCODE_EOS, (const int32_t[]){1, 3, 0}, 3, 1,
                  "UNK_SKIP without <unk>");
    rnn_model_free(m);
}
END_TEST

/* ids NULL and cap 0 measure: the header says "the call only measures: RNN_OK and *count" (as
 * rnn_model_save_mem with a NULL buffer). */
START_TEST(test_encode_measure)
{
    rnn_model *m = encode_model(EWORDS);
    size_t count = 0, unknown = 0;
    int rc = rnn_vocab_encode(m, " a zebra b ", 11, RNN_ENCODE_UNK_MAP | RNN_ENCODE_EOS, NULL, 0, &count, &unknown);
    ck_assert_msg(count == 4, "measured count %zu, want 4", count);
    ck_assert_msg(rc == RNN_OK, "ids NULL, cap 0, 4 ids: got %d (%s), want RNN_OK (measuring)", rc,
                  rnn_status_string(rc));
    count = 9;
    OK(rnn_vocab_encode(m, " ", 1, 0, NULL, 0, &count, NULL)); /* nothing to write: fits */
    ck_assert_uint_eq(count, 0);
    rnn_model_free(m);
}
END_TEST

START_TEST(test_encode_size_and_errors)
{
    rnn_model *m = encode_model(EWORDS);
    int32_t ids[16];
    size_t count, unknown;
    /* cap too small: RNN_ERR_SIZE, *count = needed, nothing written */
    for (size_t cap = 0; cap < 5; cap++) {
        for (int i = 0; i < 16; i++) ids[i] = -7;
        count = 0;
        int rc = rnn_vocab_encode(m, "a b c d", 7, RNN_ENCODE_EOS, ids, cap, &count, &unknown);
        ck_assert_msg(rc == RNN_ERR_SIZE, "cap %zu: got %d, want RNN_ERR_SIZE", cap, rc);
        ck_assert_msg(count == 5, "cap %zu: count %zu, want 5", cap, count);
        for (int i = 0; i < 16; i++) ck_assert_msg(ids[i] == -7, "cap %zu: id %d written on RNN_ERR_SIZE", cap, i);
    }
    OK(rnn_vocab_encode(m, "a b c d", 7, RNN_ENCODE_EOS, ids, 5, &count, NULL)); /* exactly enough */
    ck_assert_uint_eq(count, 5);
    /* bad arguments */
    ck_assert_int_eq(rnn_vocab_encode(m, "a", 1, 0, NULL, 4, &count, NULL), RNN_ERR_INVALID); /* ids NULL, cap > 0 */
    ck_assert_int_eq(rnn_vocab_encode(m, "a", 1, 0, ids, 16, NULL, NULL), RNN_ERR_INVALID);   /* count NULL */
    ck_assert_int_eq(rnn_vocab_encode(m, NULL, 3, 0, ids, 16, &count, NULL), RNN_ERR_INVALID); /* text NULL */
    /* not UTF-8 (strict, as Python's codec): RNN_ERR_FORMAT, whatever the flags */
    const char *bad[] = {"\xff", "a \xff b", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                         "a\xc3", "\x80", "\xc3\x28", "\xf8\x88\x80\x80\x80"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++)
        for (unsigned fl = 0; fl <= RNN_ENCODE_UNK_SKIP; fl += RNN_ENCODE_UNK_MAP) {
            int rc = rnn_vocab_encode(m, bad[k], strlen(bad[k]), fl | RNN_ENCODE_EOS, ids, 16, &count, NULL);
            ck_assert_msg(rc == RNN_ERR_FORMAT, "invalid UTF-8 #%zu (flags %u): got %d, want RNN_ERR_FORMAT", k, fl, rc);
        }
    /* a NUL byte inside len */
    ck_assert_int_eq(rnn_vocab_encode(m, "a\0b", 3, 0, ids, 16, &count, NULL), RNN_ERR_FORMAT);
    ck_assert_int_eq(rnn_vocab_encode(m, "a b\0", 4, RNN_ENCODE_UNK_SKIP, ids, 16, &count, NULL), RNN_ERR_FORMAT);
    /* a word longer than RNN_LIMIT_WORD_BYTES: RNN_ERR_FORMAT (not an unknown word), also with UNK_SKIP */
    size_t n = 1048576 + 1;
    char *longw = malloc(n + 3);
    ck_assert_ptr_nonnull(longw);
    memset(longw, 'z', n + 2);
    longw[0] = 'a', longw[1] = ' '; /* "a zzz...z" */
    longw[n + 2] = '\0';
    ck_assert_int_eq(rnn_vocab_encode(m, longw, n + 2, 0, ids, 16, &count, NULL), RNN_ERR_FORMAT);
    ck_assert_int_eq(rnn_vocab_encode(m, longw, n + 2, RNN_ENCODE_UNK_SKIP, ids, 16, &count, NULL), RNN_ERR_FORMAT);
    /* exactly RNN_LIMIT_WORD_BYTES: an ordinary unknown word */
    ck_assert_int_eq(rnn_vocab_encode(m, longw, n + 1, RNN_ENCODE_UNK_MAP, ids, 16, &count, &unknown), RNN_OK);
    ck_assert_uint_eq(count, 2);
    ck_assert_uint_eq(unknown, 1);
    free(longw);
    rnn_model_free(m);
    /* no vocabulary: RNN_ERR_STATE */
    m = encode_model(NULL);
    ck_assert_int_eq(rnn_vocab_encode(m, "a b", 3, 0, ids, 16, &count, NULL), RNN_ERR_STATE);
    ck_assert_int_eq(rnn_vocab_encode(m, "", 0, RNN_ENCODE_EOS, ids, 16, &count, NULL), RNN_ERR_STATE);
    ck_assert(rnn_model_errmsg(m)[0] != '\0');
    rnn_model_free(m);
}
END_TEST

/* ---- main ------------------------------------------------------------------------------------ */
/* ---- numeric ----------------------------------------------------------------------------------- */
/* A NaN weight gives a NaN loss in every cell (RNN_RELU kept NaN out: relu(NaN) was 0), a NaN
 * hidden state exactly where the NaN reached, and a +inf logit a NaN loss: never a finite one. */
START_TEST(test_nonfinite_loss)
{
    for (int cell = 0; cell < NCELLS; cell++) {
        rnn_config cfg = tiny_cfg(cell, L, 0.0f);
        rnn_model *m = make_model(&cfg);
        rnn_param enc = PARAM_INIT, db = PARAM_INIT;
        OK(rnn_param_find(m, "encoder.weight", &enc));
        OK(rnn_param_find(m, "decoder.bias", &db));
        /* token V-1 is stream 0's input at step 1 only, and its embedding holds a NaN */
        int32_t tok[B * T];
        for (int i = 0; i < B * T; i++) tok[i] = TOK[i] % (V - 1);
        tok[1] = V - 1;
        enc.data[(size_t)(V - 1) * E + 2] = NAN;
        static float lp[B * T * V];
        float h[L * B * H], c[L * B * H];
        double loss = 0;
        OK(rnn_model_reset_hidden(m, B));
        OK(rnn_evaluate(m, tok, TGT, B, T, 0, &loss, lp));
        ck_assert_msg(isnan(loss), "%s: evaluate loss %g with a NaN weight", CELL_NAME[cell], loss);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                for (int k = 0; k < V; k++) {
                    float v = lp[((size_t)b * T + t) * V + k];
                    ck_assert_msg(b == 0 && t >= 1 ? isnan(v) : isfinite(v), "%s: logprob [%d][%d][%d] = %g",
                                  CELL_NAME[cell], b, t, k, v);
                }
        OK(rnn_model_get_hidden(m, B, h, c));
        for (int l = 0; l < L; l++)
            for (int b = 0; b < B; b++)
                for (int j = 0; j < H; j++) {
                    float v = h[((size_t)l * B + b) * H + j];
                    ck_assert_msg(b == 0 ? isnan(v) : isfinite(v), "%s: h[%d][%d][%d] = %g", CELL_NAME[cell], l, b, j, v);
                }
        OK(rnn_model_reset_hidden(m, B));
        OK(rnn_forward(m, tok, TGT, B, T, 0, &loss));
        ck_assert_msg(isnan(loss), "%s: forward loss %g with a NaN weight", CELL_NAME[cell], loss);
        OK(rnn_zero_grad(m));
        OK(rnn_backward(m));
        ck_assert_int_eq(rnn_clip_grad_norm(m, 0.25f, NULL), RNN_ERR_NUMERIC);
        /* a +inf logit: log_softmax is NaN (inf - inf), so is the loss */
        enc.data[(size_t)(V - 1) * E + 2] = 0.5f;
        db.data[3] = INFINITY;
        OK(rnn_model_reset_hidden(m, B));
        OK(rnn_evaluate(m, TOK, TGT, B, T, 0, &loss, NULL));
        ck_assert_msg(isnan(loss), "%s: evaluate loss %g with a +inf logit", CELL_NAME[cell], loss);
        OK(rnn_forward(m, TOK, TGT, B, T, 0, &loss));
        ck_assert_msg(isnan(loss), "%s: forward loss %g with a +inf logit", CELL_NAME[cell], loss);
        rnn_model_free(m);
    }
}
END_TEST

/* decoder.bias made into a distribution that is not one: how 0 a NaN logit, 1 a +inf one, 2 all -inf */
static void spoil(float *bias, int how)
{
    for (int v = 0; v < V; v++)
        if (how == 2 || v == 4) bias[v] = how == 0 ? NAN : how == 1 ? INFINITY : -INFINITY;
}

/* rnn_sample with a distribution that is not one (a NaN or +inf logit, every logit -inf), in any
 * sampling mode: RNN_ERR_NUMERIC with a message, next not written, and the model as it was: the
 * fed tokens taken back, the generator not advanced (a twin that never failed keeps agreeing). */
START_TEST(test_sample_nonfinite)
{
    const rnn_sampling modes[] = {SMPL(SMP_SIZE, 1.0f, 0, 1.0f), SMPL(SMP_SIZE, 0.0f, 0, 1.0f), SMPL(SMP_SIZE, 0.7f, 3, 0.9f)};
    for (int cell = 0; cell < NCELLS; cell++) {
        rnn_config cfg = tiny_cfg(cell, L, 0.3f);
        rnn_model *m = make_model(&cfg), *twin = make_model(&cfg);
        rnn_param db = PARAM_INIT;
        OK(rnn_param_find(m, "decoder.bias", &db));
        float keep[V];
        memcpy(keep, db.data, sizeof keep);
        int32_t next[B], nt[B];
        for (int i = 0; i < 2; i++) {
            rnn_model *x = i ? twin : m;
            OK(rnn_model_reset_hidden(x, B));
            OK(rnn_sample(x, TOK, B, NULL, next));
        }
        for (int bad = 0; bad < 3; bad++)
            for (int k = 0; k < 3; k++) {
                spoil(db.data, bad);
                for (int b = 0; b < B; b++) next[b] = -5;
                int rc = rnn_sample(m, TOK + B, B, &modes[k], next);
                ck_assert_msg(rc == RNN_ERR_NUMERIC, "%s: bad %d, mode %d: rnn_sample -> %d", CELL_NAME[cell], bad, k,
                              rc);
                ck_assert_int_eq(rnn_model_errcode(m), RNN_ERR_NUMERIC);
                ck_assert(strstr(rnn_model_errmsg(m), "stream 0") != NULL);
                for (int b = 0; b < B; b++) ck_assert_int_eq(next[b], -5);
                memcpy(db.data, keep, sizeof keep);
                expect_same_model(m, twin, "after a failed rnn_sample");
            }
        for (int r = 0; r < 5; r++) {
            OK(rnn_sample(m, TOK + B, B, NULL, next));
            OK(rnn_sample(twin, TOK + B, B, NULL, nt));
            ck_assert(memcmp(next, nt, sizeof next) == 0);
        }
        /* one -inf logit is a distribution: that token is never drawn */
        db.data[4] = -INFINITY;
        for (int r = 0; r < 50; r++) {
            OK(rnn_sample(m, TOK + B, B, NULL, next));
            for (int b = 0; b < B; b++) ck_assert_int_ne(next[b], 4);
        }
        rnn_model_free(m);
        rnn_model_free(twin);
    }
}
END_TEST

int main(void)
{
    init_inputs();
    Suite *s = suite_create("api");
    TCase *tc;

    tc = tcase_create("misc");
    tcase_add_test(tc, test_version);
    tcase_add_test(tc, test_status_string);
    tcase_add_test(tc, test_config_init);
    tcase_add_test(tc, test_vocab);
    tcase_add_test(tc, test_free_null_errmsg_model_config);
    tcase_add_test(tc, test_limits);
    tcase_add_test(tc, test_cell_names);
    tcase_add_test(tc, test_errcode);
    tcase_add_test(tc, test_vocab_find);
    suite_add_tcase(s, tc);

    tc = tcase_create("encode");
    tcase_add_test(tc, test_encode_split);
    tcase_add_test(tc, test_encode_unknown);
    tcase_add_test(tc, test_encode_size_and_errors);
    tcase_add_test(tc, test_encode_measure);
    suite_add_tcase(s, tc);

    tc = tcase_create("config");
    tcase_add_test(tc, test_create_rejects_config);
    tcase_add_test(tc, test_create_rejects_args);
    tcase_add_test(tc, test_create_errbuf);
    tcase_add_test(tc, test_create_nomem_bytes);
    suite_add_tcase(s, tc);

    tc = tcase_create("struct_size");
    tcase_add_test(tc, test_struct_size_config_older);
    tcase_add_test(tc, test_struct_size_config_newer);
    tcase_add_test(tc, test_struct_size_config_bad);
    tcase_add_test(tc, test_struct_size_init);
    tcase_add_test(tc, test_struct_size_param);
    tcase_add_test(tc, test_struct_size_alloc_sampling);
    suite_add_tcase(s, tc);

    tc = tcase_create("stride");
    tcase_add_loop_test(tc, test_stride_evaluate, 0, NCELLS);
    tcase_add_loop_test(tc, test_stride_forward, 0, NCELLS);
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
    tcase_add_test(tc, test_alloc_sized_for_call);
    tcase_add_test(tc, test_alloc_prime_long);
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
    tcase_add_test(tc, test_sample_topk1_greedy);
    suite_add_tcase(s, tc);

    tc = tcase_create("numeric");
    tcase_add_test(tc, test_nonfinite_loss);
    tcase_add_test(tc, test_sample_nonfinite);
    suite_add_tcase(s, tc);

    tc = tcase_create("state");
    tcase_add_test(tc, test_state_roundtrip);
    tcase_add_test(tc, test_state_grad);
    suite_add_tcase(s, tc);

    return tu_run(s);
}
