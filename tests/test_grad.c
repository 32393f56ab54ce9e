/*
 * test_grad.c -- finite-difference gradient checks of the whole model.
 *
 * For every cell type, 1 to 3 layers, tied and untied, with and without dropout: the hidden state
 * is carried from a first chunk into a second one (as truncated BPTT does), then the analytic
 * gradient of the second chunk's loss is compared with central differences for entries of every
 * parameter tensor and of the state entering the chunk. Dropout masks are held fixed by reseeding
 * the handle's generator before each forward.
 */
#include "testutil.h"

#define RNN_EXPERT_API /* rnn_model_get_hidden_grad, rnn_param_get_block */
#include <rnn.h>
#include <stdio.h>
#include <string.h>

enum { V = 13, B = 2, T = 4 };

static const char *cell_names[] = {"RNN_TANH", "RNN_RELU", "LSTM", "GRU"};

typedef struct {
    rnn_model *m;
    int L, H, lstm, relu;
    size_t nstate;
    float *h1, *c1;           /* the state entering chunk 2 */
    int32_t tok[B * T], tgt[B * T];
    float dropout;
} fixture;

/* The loss of chunk 2 from state (h1, c1) with the dropout masks of seed 77. */
static double loss_at(fixture *f)
{
    double loss = 0;
    ck_assert_int_eq(rnn_model_set_hidden(f->m, B, f->h1, f->lstm ? f->c1 : NULL), RNN_OK);
    ck_assert_int_eq(rnn_model_set_seed(f->m, 77), RNN_OK);
    ck_assert_int_eq(rnn_forward(f->m, f->tok, f->tgt, B, T, 0, &loss), RNN_OK);
    return loss;
}

static double worst_seen[4];
static int kinks_seen, entries_seen;

/* Compares d(loss)/d(x[i]) with a central difference; returns |fd - an| / (tol scale). A ReLU
 * kink inside [x - eps, x + eps] shows as one-sided differences that disagree; such entries are
 * counted and skipped (the test fails if more than 5% of all entries are). */
static double check_entry(fixture *f, float *x, float analytic, const char *what, size_t i)
{
    const float eps = 1e-2f;
    float keep = *x;
    double l0 = loss_at(f);
    *x = keep + eps;
    double lp = loss_at(f);
    *x = keep - eps;
    double lm = loss_at(f);
    *x = keep;
    double fd = (lp - lm) / (2.0 * eps);
    double err = fabs(fd - analytic), tol = 2e-3 + 3e-2 * fabs(fd);
    double right = (lp - l0) / eps, left = (l0 - lm) / eps;
    entries_seen++;
    if (f->relu && fabs(right - left) > tol) {
        kinks_seen++;
        return 0;
    }
    if (err > tol)
        ck_abort_msg("%s[%zu]: finite difference %.6g, analytic %.6g", what, i, fd, (double)analytic);
    return err / tol;
}

static void run_case(int cell, int L, int tied, float dropout)
{
    fixture f = {0};
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    cfg.cell = cell, cfg.vocab_size = V, cfg.num_layers = L, cfg.tied = tied, cfg.dropout = dropout;
    cfg.hidden_size = 6, cfg.emb_size = tied ? 6 : 5, cfg.seed = 1000 + cell * 10 + L;
    f.L = L, f.H = cfg.hidden_size, f.lstm = cell == RNN_CELL_LSTM, f.relu = cell == RNN_CELL_RELU, f.dropout = dropout;
    ck_assert_int_eq(rnn_model_create(&f.m, &cfg, NULL, NULL, 0), RNN_OK);

    /* larger weights than the default initialisation, so every path carries signal */
    uint64_t s = 42 + (uint64_t)cell * 7 + (uint64_t)L;
    float *p, *g;
    size_t n;
    rnn_param_get_block(f.m, &p, &g, &n);
    for (size_t i = 0; i < n; i++) p[i] = (float)(tu_uniform(&s) - 0.5);

    f.nstate = (size_t)L * B * f.H;
    f.h1 = malloc(f.nstate * sizeof(float));
    f.c1 = malloc(f.nstate * sizeof(float));
    float *dh = malloc(f.nstate * sizeof(float)), *dc = malloc(f.nstate * sizeof(float));

    /* chunk 1 from a random state carries into chunk 2 */
    int32_t tok1[B * T], tgt1[B * T];
    for (int i = 0; i < B * T; i++) {
        tok1[i] = (int32_t)(tu_next(&s) % V), tgt1[i] = (int32_t)(tu_next(&s) % V);
        f.tok[i] = (int32_t)(tu_next(&s) % V), f.tgt[i] = (int32_t)(tu_next(&s) % V);
    }
    f.tgt[3] = RNN_IGNORE; /* ignored targets stay out of the loss and the gradient */
    ck_assert_int_eq(rnn_model_reset_hidden(f.m, B), RNN_OK);
    for (size_t i = 0; i < f.nstate; i++) f.h1[i] = (float)(tu_uniform(&s) - 0.5), f.c1[i] = (float)(tu_uniform(&s) - 0.5);
    ck_assert_int_eq(rnn_model_set_hidden(f.m, B, f.h1, f.c1), RNN_OK);
    double l1;
    ck_assert_int_eq(rnn_forward(f.m, tok1, tgt1, B, T, 0, &l1), RNN_OK);
    ck_assert_int_eq(rnn_model_get_hidden(f.m, B, f.h1, f.c1), RNN_OK);

    /* analytic gradient of chunk 2 */
    loss_at(&f);
    ck_assert_int_eq(rnn_zero_grad(f.m), RNN_OK);
    ck_assert_int_eq(rnn_backward(f.m), RNN_OK);
    ck_assert_int_eq(rnn_model_get_hidden_grad(f.m, B, dh, dc), RNN_OK);
    float *an = malloc(n * sizeof(float));
    memcpy(an, g, n * sizeof(float));

    double worst = 0;
    int count;
    rnn_param_get_count(f.m, &count);
    for (int k = 0; k < count; k++) {
        rnn_param prm = {.struct_size = sizeof prm};
        ck_assert_int_eq(rnn_param_get(f.m, k, &prm), RNN_OK);
        size_t base = (size_t)(prm.data - p);
        /* every entry of small tensors, a spread of entries of large ones */
        size_t stride = prm.size > 40 ? prm.size / 23 + 1 : 1;
        for (size_t i = 0; i < prm.size; i += stride) {
            double r = check_entry(&f, prm.data + i, an[base + i], prm.name, i);
            if (r > worst) worst = r;
        }
    }
    for (size_t i = 0; i < f.nstate; i++) {
        double r = check_entry(&f, f.h1 + i, dh[i], "h0", i);
        if (r > worst) worst = r;
        if (f.lstm) {
            r = check_entry(&f, f.c1 + i, dc[i], "c0", i);
            if (r > worst) worst = r;
        }
    }
    if (worst > worst_seen[cell]) worst_seen[cell] = worst;
    free(an), free(dh), free(dc), free(f.h1), free(f.c1);
    rnn_model_free(f.m);
}

/* _i enumerates cell x layers x tied x dropout */
START_TEST(test_fd)
{
    int cell = _i % 4, L = 1 + (_i / 4) % 3, tied = (_i / 12) % 2;
    float dropout = (_i / 24) ? 0.3f : 0.0f;
    run_case(cell, L, tied, dropout);
}
END_TEST

/* The gradient of the carried state is really cut: chunk 2's gradient does not depend on how the
 * state entering it was produced, only on its value. */
START_TEST(test_detach)
{
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    cfg.cell = RNN_CELL_LSTM, cfg.vocab_size = V, cfg.emb_size = 5, cfg.hidden_size = 6, cfg.dropout = 0;
    rnn_model *a, *b;
    ck_assert_int_eq(rnn_model_create(&a, &cfg, NULL, NULL, 0), RNN_OK);
    ck_assert_int_eq(rnn_model_create(&b, &cfg, NULL, NULL, 0), RNN_OK);
    int32_t t1[B * T], t2[B * T];
    uint64_t s = 5;
    for (int i = 0; i < B * T; i++) t1[i] = (int32_t)(tu_next(&s) % V), t2[i] = (int32_t)(tu_next(&s) % V);
    rnn_model_reset_hidden(a, B);
    rnn_model_reset_hidden(b, B);
    double l;
    /* a: chunk 1 then chunk 2 with backward; b: chunk 2 from a's state, set directly */
    ck_assert_int_eq(rnn_forward(a, t1, t2, B, T, 0, &l), RNN_OK);
    float h[2 * 6 * B], c[2 * 6 * B];
    rnn_model_get_hidden(a, B, h, c);
    rnn_model_set_hidden(b, B, h, c);
    rnn_zero_grad(a);
    ck_assert_int_eq(rnn_forward(a, t2, t1, B, T, 0, &l), RNN_OK);
    ck_assert_int_eq(rnn_backward(a), RNN_OK);
    ck_assert_int_eq(rnn_forward(b, t2, t1, B, T, 0, &l), RNN_OK);
    ck_assert_int_eq(rnn_backward(b), RNN_OK);
    float *pa, *pb, *ga, *gb;
    size_t n;
    ck_assert_int_eq(rnn_param_get_block(a, &pa, &ga, &n), RNN_OK);
    ck_assert_int_eq(rnn_param_get_block(b, &pb, &gb, &n), RNN_OK);
    ck_assert_int_eq(memcmp(ga, gb, n * sizeof(float)), 0);
    rnn_model_free(a);
    rnn_model_free(b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("grad");
    TCase *tc = tcase_create("finite differences");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_fd, 0, 48);
    tcase_add_test(tc, test_detach);
    suite_add_tcase(s, tc);
    setenv("CK_FORK", "no", 1); /* the counters below live in this process */
    int rc = tu_run(s);
    printf("grad: %d entries checked, %d skipped at a ReLU kink\n", entries_seen, kinks_seen);
    if (kinks_seen * 20 > entries_seen) rc = 1;
    for (int c = 0; c < 4; c++)
        printf("grad %-8s worst |fd - analytic| / tolerance: %.3f\n", cell_names[c], worst_seen[c]);
    return rc;
}
