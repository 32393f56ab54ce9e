/*
 * test_denominator.c -- rnn_set_loss_denominator (expert, librnn 1.3), the data-parallel driver's
 * call: training losses and gradients over a given denominator instead of the call's kept targets.
 *   - twice the kept targets halves the loss and every gradient exactly (a power of two: the same
 *     bits but the exponent), for the full and the adaptive output layer;
 *   - a batch cut into two parts of its streams, each with the whole batch's kept targets as the
 *     denominator, gives losses and gradients that add up to the whole batch's (what an
 *     all-reduce of two ranks gives; to the order of the sums), with ignored targets unevenly
 *     spread over the parts;
 *   - rnn_evaluate keeps the mean; 0 restores the default; a negative or non-finite denominator is
 *     RNN_ERR_INVALID and changes nothing.
 */
#define RNN_EXPERT_API
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rnn.h"
#include "testutil.h"

enum { V = 300, E = 12, H = 24, B = 4, T = 6 };

/* kind 0: full softmax, 1: adaptive (clusters through 19 units, the BLAS, and 15, thin) */
static rnn_model *make(int kind)
{
    rnn_config c;
    rnn_config_init(&c, sizeof c);
    c.vocab_size = V, c.emb_size = E, c.hidden_size = H, c.num_layers = 2, c.dropout = 0.0f, c.seed = 5;
    c.cell = RNN_CELL_LSTM;
    if (kind == 1) c.output = RNN_OUTPUT_ADAPTIVE, c.num_cutoffs = 2, c.cutoffs[0] = 20, c.cutoffs[1] = 90, c.div_value = 1.25f;
    rnn_model *m;
    ck_assert_int_eq(rnn_model_create(&m, &c, NULL, NULL, 0), RNN_OK);
    return m;
}

static void data(int32_t *tok, int32_t *tgt)
{
    uint64_t s = 3;
    for (int i = 0; i < B * T; i++) tok[i] = (int32_t)(tu_next(&s) % V), tgt[i] = (int32_t)(tu_next(&s) % V);
    tgt[1] = tgt[2] = tgt[T + 4] = RNN_IGNORE; /* 3 ignored in rows 0-1, none in rows 2-3 */
}

/* forward + backward of rows [r0, r0 + rows) from a zero state; the gradient into g (n floats) */
static double step(rnn_model *m, const int32_t *tok, const int32_t *tgt, int r0, int rows, float *g)
{
    float *grad;
    size_t n;
    double loss;
    ck_assert_int_eq(rnn_model_reset_hidden(m, rows), RNN_OK);
    ck_assert_int_eq(rnn_forward(m, tok + r0 * T, tgt + r0 * T, rows, T, 0, &loss), RNN_OK);
    ck_assert_int_eq(rnn_zero_grad(m), RNN_OK);
    ck_assert_int_eq(rnn_backward(m), RNN_OK);
    ck_assert_int_eq(rnn_param_get_block(m, NULL, &grad, &n), RNN_OK);
    memcpy(g, grad, n * sizeof *g);
    return loss;
}

static size_t count(const rnn_model *m)
{
    size_t n;
    ck_assert_int_eq(rnn_param_get_block(m, NULL, NULL, &n), RNN_OK);
    return n;
}

START_TEST(test_twice_halves_exactly)
{
    rnn_model *m = make(_i);
    int32_t tok[B * T], tgt[B * T];
    data(tok, tgt);
    size_t n = count(m);
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    double la = step(m, tok, tgt, 0, B, a);
    ck_assert_int_eq(rnn_set_loss_denominator(m, 2.0 * (B * T - 3)), RNN_OK);
    double lb = step(m, tok, tgt, 0, B, b);
    ck_assert(lb == la / 2);
    size_t nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(b[i] == a[i] * 0.5f, "gradient %zu: %.9g, want %.9g", i, (double)b[i], (double)a[i] * 0.5);
        nonzero += a[i] != 0.0f;
    }
    ck_assert_uint_gt(nonzero, n / 10);
    ck_assert_int_eq(rnn_set_loss_denominator(m, 0.0), RNN_OK); /* the default again */
    ck_assert(step(m, tok, tgt, 0, B, b) == la);
    ck_assert_int_eq(memcmp(a, b, n * sizeof *a), 0);
    free(a), free(b);
    rnn_model_free(m);
}
END_TEST

START_TEST(test_parts_add_up)
{
    rnn_model *m = make(_i);
    int32_t tok[B * T], tgt[B * T];
    data(tok, tgt);
    size_t n = count(m);
    float *whole = malloc(n * sizeof *whole), *p0 = malloc(n * sizeof *p0), *p1 = malloc(n * sizeof *p1);
    double lw = step(m, tok, tgt, 0, B, whole);
    ck_assert_int_eq(rnn_set_loss_denominator(m, B * T - 3), RNN_OK); /* the whole batch's kept */
    double l0 = step(m, tok, tgt, 0, B / 2, p0), l1 = step(m, tok, tgt, B / 2, B / 2, p1);
    ck_assert_double_eq_tol(l0 + l1, lw, 1e-6 * lw);
    ck_assert_double_gt(l0, 0.0);
    ck_assert_double_gt(l1, 0.0);
    float top = 0.0f;
    for (size_t i = 0; i < n; i++) top = fmaxf(top, fabsf(whole[i]));
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabsf(p0[i] + p1[i] - whole[i]) <= 1e-5f * top, "gradient %zu: parts %.9g + %.9g, whole %.9g",
                      i, (double)p0[i], (double)p1[i], (double)whole[i]);
    free(whole), free(p0), free(p1);
    rnn_model_free(m);
}
END_TEST

START_TEST(test_evaluate_and_errors)
{
    rnn_model *m = make(0);
    int32_t tok[B * T], tgt[B * T];
    data(tok, tgt);
    double mean, got;
    ck_assert_int_eq(rnn_model_reset_hidden(m, B), RNN_OK);
    ck_assert_int_eq(rnn_evaluate(m, tok, tgt, B, T, 0, &mean, NULL), RNN_OK);
    ck_assert_int_eq(rnn_set_loss_denominator(m, 1000.0), RNN_OK);
    ck_assert_int_eq(rnn_model_reset_hidden(m, B), RNN_OK);
    ck_assert_int_eq(rnn_evaluate(m, tok, tgt, B, T, 0, &got, NULL), RNN_OK);
    ck_assert(got == mean); /* evaluation keeps the mean */
    const double bad[] = {-1.0, NAN, INFINITY, -INFINITY};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(rnn_set_loss_denominator(m, bad[i]), RNN_ERR_INVALID);
        ck_assert_ptr_nonnull(strstr(rnn_model_errmsg(m), "rnn_set_loss_denominator"));
    }
    ck_assert_int_eq(rnn_set_loss_denominator(NULL, 1.0), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_model_reset_hidden(m, B), RNN_OK); /* still 1000 */
    ck_assert_int_eq(rnn_forward(m, tok, tgt, B, T, 0, &got), RNN_OK);
    ck_assert_double_eq_tol(got, mean * (B * T - 3) / 1000.0, 1e-6 * mean);
    rnn_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("denominator");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, test_twice_halves_exactly, 0, 2);
    tcase_add_loop_test(tc, test_parts_add_up, 0, 2);
    tcase_add_test(tc, test_evaluate_and_errors);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
