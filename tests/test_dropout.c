/*
 * test_dropout.c -- RNN_DROPOUT_COUNTER (rnn_config.dropout_masks) and the dropout position:
 * a batch's streams split over two models (as data-parallel ranks split them) draw the masks the
 * whole batch draws in one model, step after step; the position advances with rnn_forward only,
 * and is saved and loaded with RNN_SAVE_STATE; the default (1.0's generator) is untouched.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define RNN_EXPERT_API
#include "rnn.h"
#include "testutil.h"

#define V 50
#define B 4
#define T 6
#define STEPS 3

static rnn_model *make(int masks, int cell)
{
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    cfg.vocab_size = V, cfg.emb_size = 8, cfg.hidden_size = 12, cfg.num_layers = 2;
    cfg.cell = cell, cfg.dropout = 0.3f, cfg.seed = 77, cfg.dropout_masks = masks;
    rnn_model *m = NULL;
    ck_assert_int_eq(rnn_model_create(&m, &cfg, NULL, NULL, 0), RNN_OK);
    return m;
}

/* tokens and targets [B][T] of step s */
static void chunk(int s, int32_t *tok, int32_t *tgt)
{
    uint64_t r = 1000 + (uint64_t)s;
    for (int i = 0; i < B * T; i++) tok[i] = (int32_t)(tu_next(&r) % V), tgt[i] = (int32_t)(tu_next(&r) % V);
}

/* One step of the whole batch in `whole`, and of rows [0, 2) and [2, 4) in `lo` and `hi`; the
 * largest relative difference between whole's gradient and the mean of the halves'. */
static double split_step(rnn_model *whole, rnn_model *lo, rnn_model *hi, int s)
{
    int32_t tok[B * T], tgt[B * T];
    chunk(s, tok, tgt);
    double lw, l0, l1;
    ck_assert_int_eq(rnn_forward(whole, tok, tgt, B, T, 0, &lw), RNN_OK);
    ck_assert_int_eq(rnn_forward(lo, tok, tgt, B / 2, T, T, &l0), RNN_OK);
    ck_assert_int_eq(rnn_forward(hi, tok + B / 2 * T, tgt + B / 2 * T, B / 2, T, T, &l1), RNN_OK);
    ck_assert_msg(fabs(lw - (l0 + l1) / 2) <= 1e-6 * fabs(lw), "step %d: loss %.9g vs halves %.9g", s, lw,
                  (l0 + l1) / 2);
    rnn_model *ms[3] = {whole, lo, hi};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(rnn_zero_grad(ms[i]), RNN_OK);
        ck_assert_int_eq(rnn_backward(ms[i]), RNN_OK);
    }
    float *gw, *g0, *g1;
    size_t n;
    rnn_param_get_block(whole, NULL, &gw, &n);
    rnn_param_get_block(lo, NULL, &g0, &n);
    rnn_param_get_block(hi, NULL, &g1, &n);
    float *mean = malloc(n * sizeof *mean);
    for (size_t i = 0; i < n; i++) mean[i] = 0.5f * (g0[i] + g1[i]);
    double e = tu_rel_err(mean, gw, n);
    free(mean);
    /* the same SGD step on all three, as every rank takes the reduced one: here each its own,
       which differ only by the sums' order */
    for (int i = 0; i < 3; i++) ck_assert_int_eq(rnn_sgd_step(ms[i], 0.0f), RNN_OK);
    return e;
}

START_TEST(test_split_streams)
{
    int cell = _i;
    rnn_model *whole = make(RNN_DROPOUT_COUNTER, cell), *lo = make(RNN_DROPOUT_COUNTER, cell);
    rnn_model *hi = make(RNN_DROPOUT_COUNTER, cell);
    ck_assert_int_eq(rnn_model_reset_hidden(whole, B), RNN_OK);
    ck_assert_int_eq(rnn_model_reset_hidden(lo, B / 2), RNN_OK);
    ck_assert_int_eq(rnn_model_reset_hidden(hi, B / 2), RNN_OK);
    ck_assert_int_eq(rnn_model_set_dropout_position(hi, B / 2, 0), RNN_OK);
    for (int s = 0; s < STEPS; s++) {
        double e = split_step(whole, lo, hi, s);
        ck_assert_msg(e < 1e-5, "cell %d step %d: gradient differs by %g", cell, s, e);
    }
    uint64_t st, sp;
    ck_assert_int_eq(rnn_model_get_dropout_position(hi, &st, &sp), RNN_OK);
    ck_assert_uint_eq(st, B / 2);
    ck_assert_uint_eq(sp, STEPS * T);
    rnn_model_free(whole), rnn_model_free(lo), rnn_model_free(hi);
}
END_TEST

/* The generator's masks depend on what shares the call: the split above fails with them (so the
 * test above can tell the modes apart). */
START_TEST(test_generator_differs)
{
    rnn_model *whole = make(RNN_DROPOUT_GENERATOR, RNN_CELL_LSTM), *lo = make(RNN_DROPOUT_GENERATOR, RNN_CELL_LSTM);
    rnn_model *hi = make(RNN_DROPOUT_GENERATOR, RNN_CELL_LSTM);
    rnn_model_reset_hidden(whole, B), rnn_model_reset_hidden(lo, B / 2), rnn_model_reset_hidden(hi, B / 2);
    int32_t tok[B * T], tgt[B * T];
    chunk(0, tok, tgt);
    double lw, l0, l1;
    ck_assert_int_eq(rnn_forward(whole, tok, tgt, B, T, 0, &lw), RNN_OK);
    ck_assert_int_eq(rnn_forward(lo, tok, tgt, B / 2, T, T, &l0), RNN_OK);
    ck_assert_int_eq(rnn_forward(hi, tok + B / 2 * T, tgt + B / 2 * T, B / 2, T, T, &l1), RNN_OK);
    ck_assert_msg(fabs(lw - (l0 + l1) / 2) > 1e-6 * fabs(lw), "the generator's masks did not depend on the split");
    rnn_model_free(whole), rnn_model_free(lo), rnn_model_free(hi);
}
END_TEST

/* The position and the key travel with RNN_SAVE_STATE: the loaded model's next step is the
 * original's; the configuration keeps the mode with or without the state. */
START_TEST(test_save_load)
{
    rnn_model *a = make(RNN_DROPOUT_COUNTER, RNN_CELL_GRU);
    ck_assert_int_eq(rnn_model_set_seed(a, 5), RNN_OK);
    ck_assert_int_eq(rnn_model_reset_hidden(a, B), RNN_OK);
    ck_assert_int_eq(rnn_model_set_dropout_position(a, 3, 40), RNN_OK);
    int32_t tok[B * T], tgt[B * T];
    chunk(0, tok, tgt);
    double la, lb;
    ck_assert_int_eq(rnn_forward(a, tok, tgt, B, T, 0, NULL), RNN_OK);
    size_t len = 0;
    ck_assert_int_eq(rnn_model_save_mem(a, NULL, 0, &len, RNN_SAVE_STATE, NULL, 0), RNN_OK);
    unsigned char *buf = malloc(len);
    ck_assert_int_eq(rnn_model_save_mem(a, buf, len, &len, RNN_SAVE_STATE, NULL, 0), RNN_OK);
    rnn_model *b = NULL, *c = NULL;
    ck_assert_int_eq(rnn_model_load_mem(&b, buf, len, NULL, 0, NULL, 0), RNN_OK);
    ck_assert_int_eq(rnn_model_load_mem(&c, buf, len, NULL, RNN_LOAD_NO_STATE, NULL, 0), RNN_OK);
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    ck_assert_int_eq(rnn_model_get_config(c, &cfg), RNN_OK);
    ck_assert_int_eq(cfg.dropout_masks, RNN_DROPOUT_COUNTER);
    uint64_t st, sp;
    rnn_model_get_dropout_position(b, &st, &sp);
    ck_assert_uint_eq(st, 3);
    ck_assert_uint_eq(sp, 40 + T);
    rnn_model_get_dropout_position(c, &st, &sp);
    ck_assert_uint_eq(st, 0);
    ck_assert_uint_eq(sp, 0);
    chunk(1, tok, tgt);
    ck_assert_int_eq(rnn_forward(a, tok, tgt, B, T, 0, &la), RNN_OK);
    ck_assert_int_eq(rnn_forward(b, tok, tgt, B, T, 0, &lb), RNN_OK);
    ck_assert_msg(la == lb, "loaded model's step: %.17g vs %.17g", lb, la);
    free(buf);
    rnn_model_free(a), rnn_model_free(b), rnn_model_free(c);
}
END_TEST

START_TEST(test_bad_values)
{
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    cfg.vocab_size = V, cfg.dropout_masks = 2;
    rnn_model *m = NULL;
    char err[256] = "";
    ck_assert_int_eq(rnn_model_create(&m, &cfg, NULL, err, sizeof err), RNN_ERR_INVALID);
    ck_assert_msg(strstr(err, "dropout_masks") != NULL, "%s", err);
    ck_assert_int_eq(rnn_model_set_dropout_position(NULL, 0, 0), RNN_ERR_INVALID);
    m = make(RNN_DROPOUT_COUNTER, RNN_CELL_LSTM);
    uint64_t x;
    ck_assert_int_eq(rnn_model_get_dropout_position(m, &x, NULL), RNN_ERR_INVALID);
    rnn_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dropout");
    TCase *tc = tcase_create("counter");
    tcase_add_loop_test(tc, test_split_streams, 0, RNN_CELL_COUNT);
    tcase_add_test(tc, test_generator_differs);
    tcase_add_test(tc, test_save_load);
    tcase_add_test(tc, test_bad_values);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
