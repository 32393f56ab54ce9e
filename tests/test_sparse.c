/*
 * test_sparse.c -- the sparse block passes (src/params.c): rnn_zero_grad, rnn_clip_grad_norm and
 * rnn_sgd_step leave out the embedding rows whose gradient is known to be zero, with the dense
 * passes' results to the bit:
 *   - training runs on a vocabulary much larger than the rows a step touches (full and adaptive
 *     output; tied, which is always dense), clipping active and inactive, 1 and 3 threads, learning
 *     rates +0.0, -0.0 and negative, and -0.0, inf and NaN weights in untouched rows (untied): every loss,
 *     norm and parameter after every step, and the gradients at the end, the same bits as a twin
 *     model whose passes are dense (it handed out a gradient pointer);
 *   - that the passes do leave the untouched rows out (a value put behind the library's back into
 *     such a row survives rnn_zero_grad), and stop doing so once a gradient pointer was handed out;
 *   - a model that handed out a gradient pointer (rnn_param_get, rnn_param_find or
 *     rnn_param_get_block) in the middle of training, whose caller then writes into an untouched
 *     row's gradient: the norm counts it, rnn_sgd_step applies it, rnn_zero_grad clears it;
 *   - rnn_param_declare_grad_rows: a model that handed out its gradient block, whose caller adds
 *     rows and declares them, is sparse again (and the dense twin's bits) until rnn_zero_grad;
 *   - rnn__k_sumsq_from: a chain over 1024-float pieces, zero pieces left out, is rnn__k_sumsq.
 */
#include "testutil.h"

#include <string.h>

#define RNN_EXPERT_API /* rnn_param_get_block */
#include "rnn.h"
#include "kernels.h"
#include "model.h" /* the sparse passes' bookkeeping, for the test that they skip rows */

enum { V = 3000, E = 24, H = 16, B = 3, T = 4, STEPS = 6 };
/* the steps' tokens are drawn below V - RESERVED; the last RESERVED rows are never touched */
enum { RESERVED = 8 };

static int same_bits(const void *a, const void *b, size_t n) { return memcmp(a, b, n) == 0; }

/* kind 0: full softmax, 1: adaptive, 2: tied (E == H) */
static rnn_model *make(int kind, int threads)
{
    rnn_config c;
    rnn_config_init(&c, sizeof c);
    c.vocab_size = V, c.emb_size = kind == 2 ? H : E, c.hidden_size = H, c.num_layers = 1;
    c.dropout = 0.2f, c.seed = 77;
    if (kind == 1) c.output = RNN_OUTPUT_ADAPTIVE, c.num_cutoffs = 2, c.cutoffs[0] = 50, c.cutoffs[1] = 500;
    if (kind == 2) c.tied = 1;
    rnn_model *m;
    ck_assert_int_eq(rnn_model_create(&m, &c, NULL, NULL, 0), RNN_OK);
    ck_assert_int_eq(rnn_model_set_threads(m, threads), RNN_OK);
    ck_assert_int_eq(rnn_model_reset_hidden(m, B), RNN_OK);
    /* weights the update must keep as they are, in rows no step touches (set through data, which
     * hands out no gradient; not when tied, where the decoder reads every row) */
    if (kind == 2) return m;
    float *p;
    size_t n;
    ck_assert_int_eq(rnn_param_get_block(m, &p, NULL, &n), RNN_OK);
    int e = c.emb_size;
    for (int k = 0; k < e; k++) {
        p[(size_t)(V - 1) * e + k] = -0.0f;
        p[(size_t)(V - 2) * e + k] = k % 2 ? INFINITY : -INFINITY;
        p[(size_t)(V - 3) * e + k] = NAN;
    }
    return m;
}

/* a dense twin: what handing out a gradient pointer does, set here directly so that the twin stays
 * dense whatever the calls that hand one out do */
static rnn_model *make_dense(int kind, int threads)
{
    rnn_model *m = make(kind, threads);
    m->grad_exposed = 1;
    return m;
}

/* the step's tokens: ids below V - 2 * RESERVED, those from MID on moved up by RESERVED, so that
 * rows [MID, MID + RESERVED) and the last RESERVED are never touched */
#define MID (V / 2)
static void tokens(int step, int32_t *tok)
{
    uint64_t s = 1000 + (uint64_t)step;
    for (int i = 0; i < B * (T + 1); i++) {
        int32_t id = (int32_t)(tu_next(&s) % (V - 2 * RESERVED));
        tok[i] = id >= MID ? id + RESERVED : id;
    }
}

typedef struct trace {
    double loss[STEPS], norm[STEPS], sumsq[STEPS];
} trace;

/* one step as the example's loop, recorded in tr */
static void step(rnn_model *m, int k, float max_norm, float lr, trace *tr)
{
    int32_t tok[B * (T + 1)];
    tokens(k, tok);
    ck_assert_int_eq(rnn_zero_grad(m), RNN_OK);
    ck_assert_int_eq(rnn_forward(m, tok, tok + 1, B, T, T + 1, &tr->loss[k]), RNN_OK);
    ck_assert_int_eq(rnn_backward(m), RNN_OK);
    tr->sumsq[k] = rnn__params_pass(m, RNN__SUMSQ, 0.0f); /* (the norm before its cast to float) */
    ck_assert_int_eq(rnn_clip_grad_norm(m, max_norm, &tr->norm[k]), RNN_OK);
    ck_assert_int_eq(rnn_sgd_step(m, lr), RNN_OK);
}

/* the learning rates: the update's -0.0 / +0.0 cases (a negative or -0.0 lr is the dense pass) */
static const float lrs[STEPS] = {0.5f, 0.0f, 0.5f, -0.0f, 0.5f, -0.25f};

START_TEST(test_same_bits_as_dense)
{
    int kind = _i % 3, threads = _i / 3 % 2 ? 3 : 1, clip = _i / 6;
    float max_norm = clip ? 1e-3f : 1e9f;
    rnn_model *s = make(kind, threads), *d = make_dense(kind, threads);
    float *ps, *pd;
    size_t n, nd;
    rnn_param_get_block(s, &ps, NULL, &n), rnn_param_get_block(d, &pd, NULL, &nd);
    ck_assert_uint_eq(n, nd);
    trace ts, td;
    int clipped = 0;
    for (int k = 0; k < STEPS; k++) {
        step(s, k, max_norm, lrs[k], &ts), step(d, k, max_norm, lrs[k], &td);
        ck_assert_msg(same_bits(&ts.loss[k], &td.loss[k], sizeof(double)), "kind %d step %d: loss", kind, k);
        ck_assert_msg(same_bits(&ts.sumsq[k], &td.sumsq[k], sizeof(double)),
                      "kind %d step %d: sum of squares %.17g, dense %.17g", kind, k, ts.sumsq[k], td.sumsq[k]);
        ck_assert(same_bits(&ts.norm[k], &td.norm[k], sizeof(double)));
        ck_assert_msg(same_bits(ps, pd, n * sizeof(float)), "kind %d threads %d clip %d step %d: parameters differ",
                      kind, threads, clip, k);
        clipped += ts.norm[k] > max_norm;
    }
    ck_assert_int_eq(clipped, clip ? STEPS : 0);
    /* the untouched rows' weights as they were set, then as the negative lr leaves them */
    if (kind != 2) ck_assert(isinf(ps[(size_t)(V - 2) * E]) && isnan(ps[(size_t)(V - 3) * E]));
    /* the clipped gradients of the last step */
    float *gs, *gd;
    rnn_param_get_block(s, NULL, &gs, NULL), rnn_param_get_block(d, NULL, &gd, NULL);
    ck_assert_msg(same_bits(gs, gd, n * sizeof(float)), "kind %d: gradients differ", kind);
    rnn_model_free(s), rnn_model_free(d);
}
END_TEST

/* Without the negative lr, a -0.0 weight in an untouched row stays -0.0 (p + -0.0 is p). */
START_TEST(test_negative_zero_weight_kept)
{
    rnn_model *s = make(1, 1);
    float *p;
    rnn_param_get_block(s, &p, NULL, NULL);
    trace tr;
    for (int k = 0; k < 3; k++) step(s, k, 0.25f, lrs[k], &tr);
    ck_assert(p[(size_t)(V - 1) * E] == 0.0f && signbit(p[(size_t)(V - 1) * E]));
    rnn_model_free(s);
}
END_TEST

/* The passes leave the untouched rows out: a value put into one behind the library's back (not
 * through a handed-out pointer) survives rnn_zero_grad; after a pointer was handed out, it does not. */
START_TEST(test_untouched_rows_skipped)
{
    for (int expose = 0; expose < 2; expose++) {
        rnn_model *m = make(1, 1);
        int32_t tok[B * (T + 1)];
        tokens(0, tok);
        double loss;
        ck_assert_int_eq(rnn_forward(m, tok, tok + 1, B, T, T + 1, &loss), RNN_OK);
        ck_assert_int_eq(rnn_backward(m), RNN_OK);
        if (expose) {
            rnn_param p;
            p.struct_size = sizeof p;
            ck_assert_int_eq(rnn_param_get(m, 0, &p), RNN_OK);
        }
        float *row = m->grads + m->enc + (size_t)(MID + 1) * E;
        row[3] = 1.0f;
        ck_assert_int_eq(rnn_zero_grad(m), RNN_OK);
        ck_assert_msg(row[3] == (expose ? 0.0f : 1.0f), "expose %d: %g", expose, (double)row[3]);
        rnn_model_free(m);
    }
}
END_TEST

/* A gradient pointer handed out in the middle of training (how: 0 rnn_param_get, 1 rnn_param_find,
 * 2 rnn_param_get_block), and the caller writes into a row no token touched: the model stays the
 * same bits as a dense twin that got the same write. */
START_TEST(test_exposed_write)
{
    int how = _i;
    rnn_model *s = make(1, 1), *d = make_dense(1, 1);
    float *ps, *pd;
    size_t n;
    rnn_param_get_block(s, &ps, NULL, &n), rnn_param_get_block(d, &pd, NULL, NULL);
    trace ts, td;
    step(s, 0, 1e9f, 0.5f, &ts), step(d, 0, 1e9f, 0.5f, &td);
    rnn_model *both[2] = {s, d};
    for (int k = 1; k < 4; k++)
        for (int i = 0; i < 2; i++) {
            rnn_model *m = both[i];
            trace *tr = i ? &td : &ts;
            int32_t tok[B * (T + 1)];
            tokens(k, tok);
            ck_assert_int_eq(rnn_zero_grad(m), RNN_OK);
            ck_assert_int_eq(rnn_forward(m, tok, tok + 1, B, T, T + 1, &tr->loss[k]), RNN_OK);
            ck_assert_int_eq(rnn_backward(m), RNN_OK);
            if (k == 1) { /* the write, into row MID + 1 (never touched) */
                float *g = NULL;
                rnn_param p;
                p.struct_size = sizeof p;
                int rc = how == 0   ? rnn_param_get(m, 0, &p)
                         : how == 1 ? rnn_param_find(m, "encoder.weight", &p)
                                    : rnn_param_get_block(m, NULL, &g, NULL);
                ck_assert_int_eq(rc, RNN_OK);
                if (how < 2) g = p.grad;
                g[(size_t)(MID + 1) * E + 5] = 2.0f;
            }
            tr->sumsq[k] = rnn__params_pass(m, RNN__SUMSQ, 0.0f);
            ck_assert_int_eq(rnn_clip_grad_norm(m, 1e9f, &tr->norm[k]), RNN_OK);
            float *w = (i ? pd : ps) + (size_t)(MID + 1) * E + 5, before = *w;
            ck_assert_int_eq(rnn_sgd_step(m, 0.5f), RNN_OK);
            /* the row's only gradient is the caller's 2.0 (clipping inactive) */
            ck_assert_msg(*w == (k == 1 ? before + -0.5f * 2.0f : before), "how %d step %d: the write was not applied", how, k);
        }
    for (int k = 1; k < 4; k++)
        ck_assert_msg(same_bits(&ts.sumsq[k], &td.sumsq[k], sizeof(double)),
                      "how %d step %d: sum of squares %.17g, dense %.17g", how, k, ts.sumsq[k], td.sumsq[k]);
    ck_assert_msg(same_bits(ps, pd, n * sizeof(float)), "how %d: parameters differ", how);
    ck_assert(ts.norm[1] > 2.0);
    float *g;
    rnn_param_get_block(s, NULL, &g, NULL);
    ck_assert(g[(size_t)(MID + 1) * E + 5] == 0.0f); /* cleared by the last rnn_zero_grad */
    rnn_model_free(s), rnn_model_free(d);
}
END_TEST

/* rnn_param_declare_grad_rows (the MPI driver's call): a model that handed out its gradient block,
 * whose caller adds "another rank's" gradient into an untouched row R and declares it, gets the
 * dense twin's bits over 4 steps (kind 0 full, 1 adaptive; declared rows repeated and out of
 * order); a value written into an undeclared untouched row Q is left out by the norm, the update
 * and the zeroing (the passes are sparse again), and once rnn_zero_grad ended the declaration the
 * next step's passes count it (dense again). */
START_TEST(test_declared_rows)
{
    int kind = _i;
    rnn_model *s = make(kind, 1), *d = make_dense(kind, 1);
    float *ps, *pd, *gs, *gd;
    size_t n;
    ck_assert_int_eq(rnn_param_get_block(s, &ps, &gs, &n), RNN_OK);
    ck_assert_int_eq(rnn_param_get_block(d, &pd, &gd, NULL), RNN_OK);
    const size_t R = (size_t)MID + 2, Q = (size_t)MID + 5, es = s->enc;
    for (int k = 0; k < 4; k++) {
        trace ts, td;
        for (int i = 0; i < 2; i++) {
            rnn_model *m = i ? d : s;
            float *g = i ? gd : gs;
            trace *tr = i ? &td : &ts;
            int32_t tok[B * (T + 1)];
            tokens(k, tok);
            ck_assert_int_eq(rnn_zero_grad(m), RNN_OK);
            ck_assert_int_eq(rnn_forward(m, tok, tok + 1, B, T, T + 1, &tr->loss[k]), RNN_OK);
            ck_assert_int_eq(rnn_backward(m), RNN_OK);
            for (int c = 0; c < E; c++) g[es + R * E + (size_t)c] += 0.01f * (float)(c + k + 1); /* the other rank's row */
            if (i == 0) {
                int32_t rows[4] = {(int32_t)R, tok[0], (int32_t)R, tok[1]};
                ck_assert_int_eq(rnn_param_declare_grad_rows(m, rows, 4), RNN_OK);
            }
            tr->sumsq[k] = rnn__params_pass(m, RNN__SUMSQ, 0.0f);
            ck_assert_int_eq(rnn_clip_grad_norm(m, 0.25f, &tr->norm[k]), RNN_OK);
            /* undeclared, a false promise: the update and the zeroing leave it out row by row (the
               norm, by pieces of 1024 floats, might share a piece with a touched row) */
            if (i == 0) g[es + Q * E + 3] = 1e3f;
            ck_assert_int_eq(rnn_sgd_step(m, 0.5f), RNN_OK);
            if (i == 0) ck_assert_int_eq(rnn_zero_grad(m), RNN_OK); /* (sparse: still declared) */
            if (i == 0) ck_assert_msg(g[es + Q * E + 3] == 1e3f, "step %d: an undeclared row was zeroed", k);
            if (k < 3) g[es + Q * E + 3] = 0.0f; /* (kept after the last step, for the check below) */
        }
        ck_assert_msg(same_bits(&ts.sumsq[k], &td.sumsq[k], sizeof(double)),
                      "kind %d step %d: sum of squares %.17g, dense %.17g", kind, k, ts.sumsq[k], td.sumsq[k]);
        ck_assert_msg(same_bits(ps, pd, n * sizeof(float)), "kind %d step %d: parameters differ", kind, k);
    }
    /* (the parameters' equality above says the update left Q's weights as they were) */
    /* the zeroing after the last step ended the declaration: a step without one is dense and
       counts Q's value, which that zeroing left */
    int32_t tok[B * (T + 1)];
    tokens(9, tok);
    double loss, norm;
    ck_assert_int_eq(rnn_forward(s, tok, tok + 1, B, T, T + 1, &loss), RNN_OK);
    ck_assert_int_eq(rnn_backward(s), RNN_OK);
    ck_assert_int_eq(rnn_clip_grad_norm(s, 1e9f, &norm), RNN_OK);
    ck_assert_msg(norm >= 1e3, "after rnn_zero_grad the passes must be dense again (norm %g)", norm);
    float before = ps[es + Q * E + 3];
    ck_assert_int_eq(rnn_sgd_step(s, 0.5f), RNN_OK);
    ck_assert_msg(ps[es + Q * E + 3] == before - 0.5f * 1e3f, "the dense update skipped row Q");
    rnn_model_free(s), rnn_model_free(d);
}
END_TEST

/* Bad arguments change nothing; a tied model accepts the call and stays dense. */
START_TEST(test_declared_rows_errors)
{
    rnn_model *m = make(0, 1);
    float *g;
    ck_assert_int_eq(rnn_param_get_block(m, NULL, &g, NULL), RNN_OK);
    int32_t bad[2] = {3, V};
    ck_assert_int_eq(rnn_param_declare_grad_rows(m, bad, 2), RNN_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(rnn_model_errmsg(m), "rows[1] is 3000"));
    bad[1] = -1;
    ck_assert_int_eq(rnn_param_declare_grad_rows(m, bad, 2), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_param_declare_grad_rows(m, NULL, 1), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_param_declare_grad_rows(NULL, bad, 1), RNN_ERR_INVALID);
    ck_assert_int_eq(m->grad_declared, 0);
    ck_assert(!(m->touched[3 / 64] >> 3 & 1)); /* row 3 of the refused call was not marked */
    ck_assert_int_eq(rnn_param_declare_grad_rows(m, NULL, 0), RNN_OK); /* nothing but the others are zero */
    ck_assert_int_eq(m->grad_declared, 1);
    rnn_model_free(m);

    m = make(2, 1); /* tied */
    int32_t one = 5;
    ck_assert_int_eq(rnn_param_declare_grad_rows(m, &one, 1), RNN_OK);
    ck_assert_int_eq(m->grad_declared, 0);
    rnn_model_free(m);
}
END_TEST

START_TEST(test_sumsq_from_chain)
{
    uint64_t s = 5;
    size_t sizes[] = {1, 15, 16, 1000, 1024, 1025, 3072, 5000, 7173};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t n = sizes[i];
        float *a = malloc(n * sizeof *a);
        ck_assert_ptr_nonnull(a);
        for (size_t k = 0; k < n; k++) a[k] = (float)(tu_uniform(&s) - 0.5);
        for (size_t b = 1024; b + 1024 <= n; b += 2048) memset(a + b, 0, 1024 * sizeof *a); /* zero pieces */
        double whole = rnn__k_sumsq(a, n), chain = 0;
        for (size_t b = 0; b < n; b += 1024) {
            size_t len = n - b < 1024 ? n - b : 1024;
            if (b % 2048 == 1024 && len == 1024) continue; /* a zero piece, left out */
            chain = rnn__k_sumsq_from(chain, a + b, len);
        }
        ck_assert_msg(same_bits(&whole, &chain, sizeof whole), "n %zu: %.17g, chain %.17g", n, whole, chain);
        free(a);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sparse");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_same_bits_as_dense, 0, 12);
    tcase_add_test(tc, test_negative_zero_weight_kept);
    tcase_add_test(tc, test_untouched_rows_skipped);
    tcase_add_loop_test(tc, test_exposed_write, 0, 3);
    tcase_add_loop_test(tc, test_declared_rows, 0, 2);
    tcase_add_test(tc, test_declared_rows_errors);
    tcase_add_test(tc, test_sumsq_from_chain);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
