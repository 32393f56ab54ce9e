/*
 * test_adaptive.c -- the adaptive output layer (RNN_OUTPUT_ADAPTIVE, torch's
 * nn.AdaptiveLogSoftmaxWithLoss):
 *   - against PyTorch: golden data from tests/torch_golden.py (the .bin files of RNN_GOLDEN_DIR/adaptive):
 *     the loss, every parameter's gradient and the gradient of the entering state from
 *     rnn_forward / rnn_backward, the loss and log_prob() from rnn_evaluate, and a state's
 *     rnn_state_get_logprobs, rnn_state_score and greedy rnn_state_draw, to 1e-5 relative;
 *   - finite differences of every adaptive parameter (and the rest), RNN_IGNORE targets included;
 *   - the configuration's checks (PyTorch's constructor's, a projection of 0 units, tied) and the
 *     parameter table (names, shapes, order, initialisation bounds);
 *   - saving such a model is refused (the file format has no place for it yet).
 * Without golden data (RNN_GOLDEN_DIR unset or no adaptive/ there) the PyTorch test passes, saying why.
 */
#include "testutil.h"
#include "golden.h"

#define RNN_EXPERT_API /* rnn_model_get_hidden_grad, rnn_param_get_block */
#include <rnn.h>
#include <stdio.h>
#include <string.h>

static const char *cases[] = {"LSTM_c1",         "LSTM_c2_bias_ignore",      "LSTM_c3_empty", "GRU_c1_bias",
                              "GRU_c3_bias_ignore_empty", "RNN_TANH_c2", "RNN_RELU_c2_bias_empty",
                              "LSTM_c2_wide_thin", "GRU_c2_big_thin"};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))
static double g_worst;

static void adaptive_config(rnn_config *cfg, int V, int H, int n, const int *cut, float div, int bias)
{
    rnn_config_init(cfg, sizeof *cfg);
    cfg->vocab_size = V, cfg->hidden_size = H, cfg->emb_size = H;
    cfg->output = RNN_OUTPUT_ADAPTIVE, cfg->num_cutoffs = n, cfg->div_value = div, cfg->head_bias = bias;
    for (int i = 0; i < n; i++) cfg->cutoffs[i] = cut[i];
}

static double cmp(const char *file, const char *what, const float *got, const float *want, size_t n)
{
    double e = tu_rel_err(got, want, n);
    if (getenv("RNN_GOLDEN_VERBOSE")) printf("adaptive golden %s %s: rel err %.3g\n", file, what, e);
    if (e > g_worst) g_worst = e;
    ck_assert_msg(e <= 1e-5, "%s: %s rel err %.3g > 1e-5", file, what, e);
    return e;
}

START_TEST(test_golden)
{
    const char *dir = getenv("RNN_GOLDEN_DIR");
    char path[1024], err[2048];
    if (!dir || !*dir) {
        if (_i == 0) printf("test_adaptive: RNN_GOLDEN_DIR unset, PyTorch comparison skipped\n");
        return;
    }
    snprintf(path, sizeof path, "%s/adaptive/%s.bin", dir, cases[_i]);
    FILE *probe = fopen(path, "rb");
    if (!probe) {
        printf("test_adaptive: %s missing (no python3-torch?), PyTorch comparison skipped\n", path);
        return;
    }
    fclose(probe);
    gfile g;
    ck_assert_msg(gfile_load(&g, path, err, sizeof err) == 0, "%s", err);
    const garray *ca = gfile_get(&g, "config", G_I32), *cu = gfile_get(&g, "cutoffs", G_I32);
    const garray *dv = gfile_get(&g, "div_value", G_F32);
    ck_assert(ca && cu && dv);
    const int32_t *c = ca->data;
    int cell = c[0], V = c[1], E = c[2], H = c[3], L = c[4], B = c[5], T = c[6];
    rnn_config cfg;
    adaptive_config(&cfg, V, H, (int)cu->n, cu->data, *(const float *)dv->data, c[7]);
    cfg.cell = cell, cfg.emb_size = E, cfg.num_layers = L, cfg.dropout = 0.0f;
    rnn_model *m;
    ck_assert_int_eq(rnn_model_create(&m, &cfg, NULL, err, sizeof err), RNN_OK);

    /* the parameter table is PyTorch's: same names in the same order, same shapes */
    int count, k = 0;
    rnn_param_get_count(m, &count);
    for (int i = 0; i < g.count; i++) {
        if (strncmp(g.a[i].name, "init/", 5) != 0) continue;
        rnn_param p = {.struct_size = sizeof p};
        ck_assert_int_eq(rnn_param_get(m, k++, &p), RNN_OK);
        ck_assert_str_eq(p.name, g.a[i].name + 5);
        ck_assert_uint_eq(p.size, g.a[i].n);
        memcpy(p.data, g.a[i].data, p.size * sizeof(float));
    }
    ck_assert_int_eq(k, count);

    const garray *tok = gfile_get(&g, "tokens", G_I32), *tgt = gfile_get(&g, "targets", G_I32);
    const garray *h0 = gfile_get(&g, "h0", G_F32), *c0 = gfile_get(&g, "c0", G_F32);
    const float *want_loss = gfile_get(&g, "loss", G_F32)->data;
    const garray *lp = gfile_get(&g, "logprobs", G_F32), *dh0 = gfile_get(&g, "dh0", G_F32);
    ck_assert(tok && tgt && h0 && lp && dh0);
    const int32_t *tk = tok->data;

    /* training: loss, every gradient, the entering state's gradient */
    ck_assert_int_eq(rnn_model_reset_hidden(m, B), RNN_OK);
    ck_assert_int_eq(rnn_model_set_hidden(m, B, h0->data, c0 ? c0->data : NULL), RNN_OK);
    double loss;
    ck_assert_int_eq(rnn_forward(m, tk, tgt->data, B, T, 0, &loss), RNN_OK);
    float fl = (float)loss;
    cmp(cases[_i], "loss", &fl, want_loss, 1);
    ck_assert_int_eq(rnn_zero_grad(m), RNN_OK);
    ck_assert_int_eq(rnn_backward(m), RNN_OK);
    char what[128];
    for (int i = 0; i < g.count; i++) {
        if (strncmp(g.a[i].name, "grad/", 5) != 0) continue;
        rnn_param p = {.struct_size = sizeof p};
        ck_assert_int_eq(rnn_param_find(m, g.a[i].name + 5, &p), RNN_OK);
        snprintf(what, sizeof what, "%s", g.a[i].name);
        cmp(cases[_i], what, p.grad, g.a[i].data, p.size);
    }
    float *dh = malloc(dh0->n * sizeof(float)), *dc = malloc(dh0->n * sizeof(float));
    ck_assert_int_eq(rnn_model_get_hidden_grad(m, B, dh, dc), RNN_OK);
    cmp(cases[_i], "dh0", dh, dh0->data, dh0->n);

    /* evaluation: the same loss and log_prob() */
    float *logp = malloc(lp->n * sizeof(float));
    ck_assert_int_eq(rnn_model_set_hidden(m, B, h0->data, c0 ? c0->data : NULL), RNN_OK);
    ck_assert_int_eq(rnn_evaluate(m, tk, tgt->data, B, T, 0, &loss, logp), RNN_OK);
    fl = (float)loss;
    cmp(cases[_i], "evaluate loss", &fl, want_loss, 1);
    cmp(cases[_i], "evaluate logprobs", logp, lp->data, lp->n);

    /* a state: the log-probabilities after step 0, the score of steps 1.., a greedy draw */
    rnn_state *st;
    ck_assert_int_eq(rnn_state_create(&st, m, B, 5), RNN_OK);
    ck_assert_int_eq(rnn_state_set_hidden(st, h0->data, c0 ? c0->data : NULL), RNN_OK);
    ck_assert_int_eq(rnn_state_feed(st, tk, 1, T), RNN_OK);
    float *row = malloc((size_t)B * V * sizeof(float)), *want_row = malloc((size_t)B * V * sizeof(float));
    ck_assert_int_eq(rnn_state_get_logprobs(st, row), RNN_OK);
    for (int b = 0; b < B; b++) memcpy(want_row + (size_t)b * V, (const float *)lp->data + (size_t)b * T * V, V * sizeof(float));
    cmp(cases[_i], "state logprobs", row, want_row, (size_t)B * V);
    rnn_sampling greedy;
    rnn_sampling_init(&greedy, sizeof greedy);
    greedy.temperature = 0.0f;
    int32_t next[16];
    rnn_state *fork;
    ck_assert_int_eq(rnn_state_clone(&fork, st), RNN_OK);
    ck_assert_int_eq(rnn_state_draw(fork, &greedy, next), RNN_OK);
    for (int b = 0; b < B; b++) {
        int best = 0;
        for (int v = 1; v < V; v++)
            if (want_row[(size_t)b * V + v] > want_row[(size_t)b * V + best]) best = v;
        ck_assert_int_eq(next[b], best);
    }
    rnn_state_free(fork);
    double score[16];
    ck_assert_int_eq(rnn_state_score(st, tk + 1, T - 1, T, score), RNN_OK);
    for (int b = 0; b < B; b++) {
        double want = 0;
        for (int t = 0; t + 1 < T; t++) want += ((const float *)lp->data)[((size_t)b * T + t) * V + tk[b * T + t + 1]];
        float got = (float)score[b], w = (float)want;
        cmp(cases[_i], "state score", &got, &w, 1);
    }
    rnn_state_free(st);

    /* saved (format version 2, OUTP; test_modelfile.c tests the file) and loaded back whole */
    size_t len = 0;
    ck_assert_int_eq(rnn_model_save_mem(m, NULL, 0, &len, 0, NULL, 0), RNN_OK);
    unsigned char *img = malloc(len);
    ck_assert_ptr_nonnull(img);
    ck_assert_int_eq(rnn_model_save_mem(m, img, len, &len, 0, NULL, 0), RNN_OK);
    rnn_model *back = NULL;
    ck_assert_msg(rnn_model_load_mem(&back, img, len, NULL, 0, err, sizeof err) == RNN_OK, "%s", err);
    rnn_config cb;
    rnn_config_init(&cb, sizeof cb);
    ck_assert_int_eq(rnn_model_get_config(back, &cb), RNN_OK);
    ck_assert_int_eq(cb.output, RNN_OUTPUT_ADAPTIVE);
    ck_assert_int_eq(cb.num_cutoffs, (int)cu->n);
    float *pa, *pb, *ga, *gb;
    size_t na, nb;
    ck_assert_int_eq(rnn_param_get_block(m, &pa, &ga, &na), RNN_OK);
    ck_assert_int_eq(rnn_param_get_block(back, &pb, &gb, &nb), RNN_OK);
    ck_assert_uint_eq(na, nb);
    ck_assert_msg(memcmp(pa, pb, na * sizeof(float)) == 0, "%s: parameters differ after loading", cases[_i]);
    rnn_model_free(back);
    free(img);
    free(dh), free(dc), free(logp), free(row), free(want_row);
    rnn_model_free(m);
    gfile_free(&g);
}
END_TEST

/* ---- finite differences ---------------------------------------------------------------------- */
enum { FV = 23, FB = 2, FT = 4 };
typedef struct {
    rnn_model *m;
    int32_t tok[FB * FT], tgt[FB * FT];
} fdfix;

static double fd_loss(fdfix *f)
{
    double loss;
    ck_assert_int_eq(rnn_model_reset_hidden(f->m, FB), RNN_OK);
    ck_assert_int_eq(rnn_model_set_seed(f->m, 77), RNN_OK);
    ck_assert_int_eq(rnn_forward(f->m, f->tok, f->tgt, FB, FT, 0, &loss), RNN_OK);
    return loss;
}

/* every cell and 1, 2, 3 clusters (with and without head bias), thin and not, dropout on (masks replayed) */
START_TEST(test_finite_differences)
{
    static const int cut[3][3] = {{9}, {6, 15}, {5, 11, 17}};
    int cell = _i % 4, nc = 1 + _i % 3, bias = _i / 4 % 2;
    rnn_config cfg;
    /* 6 // 1.5^3 = 1; with 34 units the first cluster projects to 22 (more than RNN__THIN_PROJ: the
     * BLAS products) and the others to 15 and 10 (thin) */
    adaptive_config(&cfg, FV, _i % 2 ? 34 : 6, nc, cut[nc - 1], 1.5f, bias);
    cfg.cell = cell, cfg.emb_size = 5, cfg.num_layers = 1 + _i % 2, cfg.dropout = 0.3f;
    fdfix f;
    char err[256];
    ck_assert_int_eq(rnn_model_create(&f.m, &cfg, NULL, err, sizeof err), RNN_OK);
    uint64_t s = 99 + (uint64_t)_i;
    float *p, *g;
    size_t n;
    rnn_param_get_block(f.m, &p, &g, &n);
    for (size_t i = 0; i < n; i++) p[i] = (float)(tu_uniform(&s) - 0.5);
    for (int i = 0; i < FB * FT; i++) f.tok[i] = (int32_t)(tu_next(&s) % FV), f.tgt[i] = (int32_t)(tu_next(&s) % FV);
    f.tgt[2] = RNN_IGNORE;
    f.tgt[5] = FV - 1; /* the last cluster has a target */
    fd_loss(&f);
    ck_assert_int_eq(rnn_zero_grad(f.m), RNN_OK);
    ck_assert_int_eq(rnn_backward(f.m), RNN_OK);
    float *an = malloc(n * sizeof(float));
    memcpy(an, g, n * sizeof(float));
    int count, checked = 0;
    rnn_param_get_count(f.m, &count);
    for (int k = 0; k < count; k++) {
        rnn_param prm = {.struct_size = sizeof prm};
        ck_assert_int_eq(rnn_param_get(f.m, k, &prm), RNN_OK);
        size_t base = (size_t)(prm.data - p), step = prm.size > 40 ? prm.size / 40 : 1;
        for (size_t i = 0; i < prm.size; i += step) {
            const float eps = 1e-2f;
            float keep = prm.data[i];
            prm.data[i] = keep + eps;
            double lp = fd_loss(&f);
            prm.data[i] = keep - eps;
            double lm = fd_loss(&f);
            prm.data[i] = keep;
            double fd = (lp - lm) / (2.0 * eps), a = an[base + i];
            if (cell == RNN_CELL_RELU && fabs(fd - a) > 2e-3 + 3e-2 * fabs(fd)) continue; /* a kink */
            ck_assert_msg(fabs(fd - a) <= 2e-3 + 3e-2 * fabs(fd), "%s[%zu]: finite difference %.6g, analytic %.6g",
                          prm.name, i, fd, a);
            checked += strncmp(prm.name, "decoder.", 8) == 0;
        }
    }
    ck_assert_int_gt(checked, 50);
    free(an);
    rnn_model_free(f.m);
}
END_TEST

/* ---- configuration and the parameter table --------------------------------------------------- */
static int create_rc(const rnn_config *cfg, char *err, size_t len)
{
    rnn_model *m = NULL;
    int rc = rnn_model_create(&m, cfg, NULL, err, len);
    rnn_model_free(m);
    return rc;
}

START_TEST(test_config)
{
    char err[256];
    rnn_config cfg;
    int64_t lim;
    ck_assert_int_eq(rnn_limit_get(RNN_LIMIT_CUTOFFS, &lim), RNN_OK);
    ck_assert_int_eq(lim, RNN_MAX_CUTOFFS);
    rnn_config_init(&cfg, sizeof cfg);
    ck_assert_int_eq(cfg.output, RNN_OUTPUT_FULL);
    ck_assert(cfg.num_cutoffs == 0 && cfg.div_value == 0.0f && cfg.head_bias == 0);
    static const struct {
        int n, cut[3];
        float div;
        int tied, H;
        const char *msg;
    } bad[] = {
        {0, {0}, 0, 0, 16, "num_cutoffs"},             /* no cluster */
        {2, {10, 10}, 0, 0, 16, "strictly increasing"}, /* not unique */
        {2, {20, 10}, 0, 0, 16, "strictly increasing"}, /* not sorted */
        {1, {0}, 0, 0, 16, "cutoffs[0]"},              /* not positive */
        {1, {100}, 0, 0, 16, "cutoffs[0]"},            /* V - 1 = 99 is the largest */
        {1, {10}, -2.0f, 0, 16, "div_value"},
        {3, {10, 20, 30}, 0, 0, 16, "projection"},     /* 16 // 64 = 0 */
        {1, {10}, 0, 1, 16, "tied"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        adaptive_config(&cfg, 100, bad[i].H, bad[i].n, bad[i].cut, bad[i].div, 0);
        cfg.tied = bad[i].tied;
        err[0] = 0;
        ck_assert_int_eq(create_rc(&cfg, err, sizeof err), RNN_ERR_INVALID);
        ck_assert_msg(strstr(err, bad[i].msg) != NULL, "case %zu: \"%s\" lacks \"%s\"", i, err, bad[i].msg);
    }
    /* a cutoff past num_cutoffs, and adaptive settings with the full layer, are refused too */
    adaptive_config(&cfg, 100, 16, 1, (const int[]){10}, 0, 0);
    cfg.cutoffs[1] = 50;
    ck_assert_int_eq(create_rc(&cfg, err, sizeof err), RNN_ERR_INVALID);
    adaptive_config(&cfg, 100, 16, 1, (const int[]){10}, 0, 0);
    cfg.output = RNN_OUTPUT_FULL;
    ck_assert_int_eq(create_rc(&cfg, err, sizeof err), RNN_ERR_INVALID);
    cfg.output = 2;
    ck_assert_int_eq(create_rc(&cfg, err, sizeof err), RNN_ERR_INVALID);
    /* 16 // 4^2 = 1 is allowed; cutoffs up to V - 1 */
    adaptive_config(&cfg, 100, 16, 2, (const int[]){10, 99}, 0, 1);
    ck_assert_int_eq(create_rc(&cfg, err, sizeof err), RNN_OK);

    /* the table: names, shapes, order; div_value 0 reads back as 4; Linear's bounds */
    rnn_model *m;
    adaptive_config(&cfg, 100, 16, 2, (const int[]){10, 40}, 0, 1);
    ck_assert_int_eq(rnn_model_create(&m, &cfg, NULL, err, sizeof err), RNN_OK);
    rnn_config got;
    rnn_config_init(&got, sizeof got);
    ck_assert_int_eq(rnn_model_get_config(m, &got), RNN_OK);
    ck_assert(got.div_value == 4.0f && got.head_bias == 1 && got.output == RNN_OUTPUT_ADAPTIVE && got.num_cutoffs == 2);
    static const struct {
        const char *name;
        int rows, cols;
        float bound;
    } want[] = {{"decoder.head.weight", 12, 16, 0.25f},  {"decoder.head.bias", 1, 12, 0.25f},
                {"decoder.tail.0.0.weight", 4, 16, 0.25f}, {"decoder.tail.0.1.weight", 30, 4, 0.5f},
                {"decoder.tail.1.0.weight", 1, 16, 0.25f}, {"decoder.tail.1.1.weight", 60, 1, 1.0f}};
    int count;
    rnn_param_get_count(m, &count);
    ck_assert_int_eq(count, 1 + 4 * 2 + 6);
    for (int i = 0; i < 6; i++) {
        rnn_param p = {.struct_size = sizeof p};
        ck_assert_int_eq(rnn_param_get(m, 9 + i, &p), RNN_OK);
        ck_assert_str_eq(p.name, want[i].name);
        ck_assert_int_eq(p.rows, want[i].rows);
        ck_assert_int_eq(p.cols, want[i].cols);
        float lo = 0, hi = 0;
        for (size_t j = 0; j < p.size; j++) lo = p.data[j] < lo ? p.data[j] : lo, hi = p.data[j] > hi ? p.data[j] : hi;
        ck_assert_msg(hi <= want[i].bound && lo >= -want[i].bound && hi - lo > want[i].bound * (p.size > 20 ? 1.0f : 0.1f),
                      "%s: values in [%g, %g], bound %g", p.name, lo, hi, want[i].bound);
    }
    rnn_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("adaptive");
    TCase *tc = tcase_create("adaptive");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_golden, 0, NCASES);
    tcase_add_loop_test(tc, test_finite_differences, 0, 8);
    tcase_add_test(tc, test_config);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (getenv("RNN_GOLDEN_DIR")) printf("test_adaptive: worst rel err against PyTorch %.2g\n", g_worst);
    return failed == 0 ? 0 : 1;
}
