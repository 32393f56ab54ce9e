/*
 * test_golden.c -- librnn against PyTorch: golden data written by tests/torch_golden.py (see the
 * file format at the top of that script) into the folder named by RNN_GOLDEN_DIR.
 *
 * One Check test per case (cell x layers x tied). Each case loads PyTorch's weights and initial
 * state into a fresh model and compares, with the tensor-relative error tu_rel_err <= 1e-4:
 *   - rnn_evaluate's log-probs, loss and final state;
 *   - rnn_forward + rnn_backward: loss, every parameter gradient, the final state (h, c) and the
 *     gradient w.r.t. the entering state (rnn_model_get_hidden_grad);
 *   - 5 steps of the example's training loop (forward, zero_grad, backward, clip_grad_norm, SGD):
 *     each loss, each total norm, the final weights and the total weight change;
 *   - the first two again with one encoder weight NaN (stream 0 turns NaN at one step): every
 *     NaN where PyTorch has one and nowhere else, the finite values within the tolerance.
 * Without data (RNN_GOLDEN_DIR unset, or no .bin files there) every test passes, saying why.
 * After the run, one line per cell type gives the worst relative error seen; with
 * RNN_GOLDEN_VERBOSE set, every comparison prints its error.
 */
#include "testutil.h"
#include "golden.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define RNN_EXPERT_API /* rnn_model_get_hidden_grad */
#include "rnn.h"

#define TOL 1e-4

static const char *const CELL_NAMES[] = {"RNN_TANH", "RNN_RELU", "LSTM", "GRU"};
enum { NCELLS = 4, NLAYERS = 3, NCASES = NCELLS * NLAYERS * 2 };

/* ---- One case's bookkeeping: every comparison goes through cmp_* ---------------------------- */
typedef struct {
    char name[64];      /* e.g. "LSTM_L2_tied" */
    int cell;
    int nfail;
    char msg[2048];     /* the failures, for ck_assert_msg */
    int ncmp;           /* comparisons made */
    int phase;          /* 0: the single chunk, 1: the SGD replay, 2: the NaN chunk */
    double phase_worst[3];
    double worst;       /* the largest relative error seen */
    char worst_what[96];
} golden_case;

static void gc_fail(golden_case *gc, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "golden %s: %s\n", gc->name, line);
    size_t used = strlen(gc->msg);
    if (gc->nfail++ < 6 && used + 1 < sizeof gc->msg)
        snprintf(gc->msg + used, sizeof gc->msg - used, "%s%s", used ? "; " : "", line);
}

static int g_verbose;          /* RNN_GOLDEN_VERBOSE set: print every comparison */

static void record(golden_case *gc, const char *what, double err)
{
    gc->ncmp++;
    if (g_verbose) printf("golden %s: %s rel err %.3g\n", gc->name, what, err);
    if (err > gc->phase_worst[gc->phase] || err != err) gc->phase_worst[gc->phase] = err;
    if (err > gc->worst || err != err) {
        gc->worst = err;
        snprintf(gc->worst_what, sizeof gc->worst_what, "%s", what);
    }
    if (!(err <= TOL)) gc_fail(gc, "%s: rel err %.3g > %g", what, err, TOL);
}

/* Compares n floats with the reference array `ref` (whose size must be n). */
static void cmp_tensor(golden_case *gc, const char *what, const float *got, const garray *ref,
                       size_t n)
{
    if (!ref) {
        gc_fail(gc, "%s: missing from the golden file", what);
        return;
    }
    if (ref->n != n) {
        gc_fail(gc, "%s: %zu values in the golden file, %zu in the model", what, ref->n, n);
        return;
    }
    record(gc, what, tu_rel_err(got, (const float *)ref->data, n));
}

/* 0 finite, 1 NaN, 2 +inf, 3 -inf */
static int fclass(double v) { return v == v ? (isinf(v) ? (v > 0 ? 2 : 3) : 0) : 1; }

/* Compares n floats that may hold NaN or infinities: the same class (NaN, +inf, -inf) at every
 * position, and the finite values with the tensor-relative error over the finite positions. */
static void cmp_nonfinite(golden_case *gc, const char *what, const float *got, const garray *ref, size_t n)
{
    if (!ref || ref->n != n) {
        gc_fail(gc, "%s: missing from the golden file or %zu values there, %zu in the model", what,
                ref ? ref->n : 0, n);
        return;
    }
    const float *r = ref->data;
    size_t diff = 0, first = 0, nonfinite = 0;
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        int cg = fclass(got[i]), cr = fclass(r[i]);
        nonfinite += cr != 0;
        if (cg != cr) {
            if (!diff++) first = i;
        } else if (cr == 0) {
            num = fmax(num, fabs((double)got[i] - (double)r[i]));
            den = fmax(den, fabs((double)r[i]));
        }
    }
    if (diff)
        gc_fail(gc, "%s: %zu of %zu values differ in being NaN / infinite (first [%zu]: %g, PyTorch %g)", what,
                diff, n, first, (double)got[first], (double)r[first]);
    if (g_verbose) printf("golden %s: %s %zu of %zu values not finite\n", gc->name, what, nonfinite, n);
    record(gc, what, num / (den > 1e-30 ? den : 1e-30));
}

static void cmp_scalar(golden_case *gc, const char *what, double got, double ref)
{
    if (fclass(got) || fclass(ref)) { /* a NaN or infinite reference: the same class */
        if (fclass(got) != fclass(ref)) gc_fail(gc, "%s: %g, PyTorch %g", what, got, ref);
        record(gc, what, 0.0);
        return;
    }
    double den = fabs(ref) > 1e-30 ? fabs(ref) : 1e-30;
    record(gc, what, fabs(got - ref) / den);
}

/* ---- Global state (the runner does not fork, see main) -------------------------------------- */
static const char *g_dir;       /* RNN_GOLDEN_DIR, or NULL */
static int g_nfiles;            /* .bin files found there */
static double g_worst[NCELLS], g_phase_worst[NCELLS][3];
static char g_worst_where[NCELLS][160];
static int g_ran[NCELLS];       /* cases run */
static int g_ncmp[NCELLS];      /* comparisons made */

static void case_name(int i, char *out, size_t len, int *cell, int *layers, int *tied)
{
    *cell = i / (NLAYERS * 2);
    *layers = (i / 2) % NLAYERS + 1;
    *tied = i % 2;
    snprintf(out, len, "%s_L%d_%s", CELL_NAMES[*cell], *layers, *tied ? "tied" : "untied");
}

/* Copies every init/<name> (or final/<name>) tensor of the file into the model, by name. */
static int load_weights(golden_case *gc, rnn_model *m, const gfile *g)
{
    int copied = 0;
    for (int i = 0; i < g->count; i++) {
        const garray *a = &g->a[i];
        if (strncmp(a->name, "init/", 5) != 0) continue;
        rnn_param p = {.struct_size = sizeof p};
        int rc = rnn_param_find(m, a->name + 5, &p);
        if (rc != RNN_OK) {
            gc_fail(gc, "rnn_param_find(\"%s\") -> %s", a->name + 5, rnn_status_string(rc));
            return -1;
        }
        if (a->dtype != G_F32 || a->n != p.size) {
            gc_fail(gc, "%s: %zu values in PyTorch, %zu in the model", a->name + 5, a->n, p.size);
            return -1;
        }
        memcpy(p.data, a->data, p.size * sizeof(float));
        copied++;
    }
    return copied;
}

/* One chunk of a case from the state h0 (c0) with the model's weights as they are. */
typedef struct {
    golden_case *gc;
    rnn_model *m;
    const gfile *g;
    int B, T, nparam, lstm;
    size_t nstate, nlp;
    const float *h0, *c0;
    float *buf, *buf2; /* nlp and nstate floats */
} chunk_ctx;

#define CHUNK_CALL(expr)                                                                          \
    do {                                                                                          \
        int rc_ = (expr);                                                                         \
        if (rc_ != RNN_OK) {                                                                      \
            gc_fail(c->gc, "%s -> %s (%s)", #expr, rnn_status_string(rc_), rnn_model_errmsg(m));     \
            return -1;                                                                            \
        }                                                                                         \
    } while (0)

/* rnn_evaluate (log-probs, loss, final state), then rnn_forward + rnn_backward (loss, every
 * gradient, final state, gradient w.r.t. the entering state), against the arrays prefix + name;
 * NaN and infinities must sit where PyTorch's are. Returns 0, or -1 when a call failed. */
static int check_chunk(const chunk_ctx *c, const char *prefix, const int32_t *tok, const int32_t *tgt)
{
    rnn_model *m = c->m;
    int B = c->B;
    char what[160], name[160];
    double loss;
#define REF(n) (snprintf(name, sizeof name, "%s%s", prefix, (n)), gfile_get(c->g, name, G_F32))
#define CMP(label, got, n, count) (snprintf(what, sizeof what, "%s%s", prefix, (label)), \
                                   cmp_nonfinite(c->gc, what, (got), REF(n), (count)))
    const garray *loss_a = REF("loss");
    if (!loss_a || loss_a->n != 1) {
        gc_fail(c->gc, "array %s missing from the golden file", name);
        return -1;
    }
    double ref_loss = *(const float *)loss_a->data;
    CHUNK_CALL(rnn_model_reset_hidden(m, B));
    CHUNK_CALL(rnn_model_set_hidden(m, B, c->h0, c->c0));
    CHUNK_CALL(rnn_evaluate(m, tok, tgt, B, c->T, 0, &loss, c->buf));
    CMP("evaluate logprobs", c->buf, "logprobs", c->nlp);
    snprintf(what, sizeof what, "%sevaluate loss", prefix);
    cmp_scalar(c->gc, what, loss, ref_loss);
    CHUNK_CALL(rnn_model_get_hidden(m, B, c->buf, c->lstm ? c->buf2 : NULL));
    CMP("evaluate h1", c->buf, "h1", c->nstate);
    if (c->lstm) CMP("evaluate c1", c->buf2, "c1", c->nstate);

    CHUNK_CALL(rnn_model_set_hidden(m, B, c->h0, c->c0));
    CHUNK_CALL(rnn_forward(m, tok, tgt, B, c->T, 0, &loss));
    CHUNK_CALL(rnn_zero_grad(m));
    CHUNK_CALL(rnn_backward(m));
    snprintf(what, sizeof what, "%sforward loss", prefix);
    cmp_scalar(c->gc, what, loss, ref_loss);
    for (int k = 0; k < c->nparam; k++) {
        rnn_param p = {.struct_size = sizeof p};
        CHUNK_CALL(rnn_param_get(m, k, &p));
        char g[140];
        snprintf(g, sizeof g, "grad/%s", p.name);
        CMP(g, p.grad, g, p.size);
    }
    CHUNK_CALL(rnn_model_get_hidden(m, B, c->buf, c->lstm ? c->buf2 : NULL));
    CMP("h1", c->buf, "h1", c->nstate);
    if (c->lstm) CMP("c1", c->buf2, "c1", c->nstate);
    CHUNK_CALL(rnn_model_get_hidden_grad(m, B, c->buf, c->lstm ? c->buf2 : NULL));
    CMP("dh0", c->buf, "dh0", c->nstate);
    if (c->lstm) CMP("dc0", c->buf2, "dc0", c->nstate);
#undef CMP
#undef REF
    return 0;
}

#define CALL(expr)                                                                            \
    do {                                                                                      \
        int rc_ = (expr);                                                                     \
        if (rc_ != RNN_OK) {                                                                  \
            gc_fail(&gc, "%s -> %s (%s)", #expr, rnn_status_string(rc_), rnn_model_errmsg(m));   \
            goto done;                                                                        \
        }                                                                                     \
    } while (0)

#define NEED(var, name, dtype)                                                                \
    do {                                                                                      \
        if (!((var) = gfile_get(&g, (name), (dtype)))) {                                      \
            gc_fail(&gc, "array %s missing from the golden file", (name));                       \
            goto done;                                                                        \
        }                                                                                     \
    } while (0)

static void run_case(int i)
{
    golden_case gc;
    memset(&gc, 0, sizeof gc);
    int cell, layers, tied;
    case_name(i, gc.name, sizeof gc.name, &cell, &layers, &tied);
    gc.cell = cell;

    char path[4096], err[4200];
    snprintf(path, sizeof path, "%s/%s.bin", g_dir, gc.name);
    gfile g = {0, NULL};
    rnn_model *m = NULL;
    float *buf = NULL, *buf2 = NULL;
    const garray *cfg_a, *lr_a, *clip_a, *h0, *c0 = NULL, *tok, *tgt;
    const garray *tr_tok, *tr_tgt, *tr_loss, *tr_norm;

    if (gfile_load(&g, path, err, sizeof err) != 0) {
        gc_fail(&gc, "%s (%d .bin files in the folder: regenerate with tests/torch_golden.py)",
                err, g_nfiles);
        goto done;
    }
    NEED(cfg_a, "config", G_I32);
    NEED(lr_a, "lr", G_F32);
    NEED(clip_a, "clip", G_F32);
    const int32_t *cf = cfg_a->data;
    if (cfg_a->n != 9 || cf[0] != cell || cf[4] != layers || cf[5] != tied) {
        gc_fail(&gc, "config array does not describe this case");
        goto done;
    }
    const int V = cf[1], E = cf[2], H = cf[3], L = cf[4], B = cf[6], T = cf[7], S = cf[8];
    const float lr = *(const float *)lr_a->data, clip = *(const float *)clip_a->data;
    const int lstm = cell == RNN_CELL_LSTM;
    const size_t nstate = (size_t)L * B * H;

    NEED(h0, "h0", G_F32);
    if (lstm) NEED(c0, "c0", G_F32);
    NEED(tok, "tokens", G_I32);
    NEED(tgt, "targets", G_I32);
    NEED(tr_tok, "train/tokens", G_I32);
    NEED(tr_tgt, "train/targets", G_I32);
    NEED(tr_loss, "train/loss", G_F32);
    NEED(tr_norm, "train/norm", G_F32);
    if (h0->n != nstate || (c0 && c0->n != nstate) || tok->n != (size_t)B * T ||
        tgt->n != tok->n || tr_tok->n != (size_t)S * B * T || tr_tgt->n != tr_tok->n ||
        tr_loss->n != (size_t)S || tr_norm->n != (size_t)S) {
        gc_fail(&gc, "golden arrays have unexpected sizes");
        goto done;
    }
    const float *c0d = c0 ? c0->data : NULL;

    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    cfg.cell = cell;
    cfg.vocab_size = V;
    cfg.emb_size = E;
    cfg.hidden_size = H;
    cfg.num_layers = L;
    cfg.tied = tied;
    cfg.dropout = 0.0f;
    char cerr[256] = "";
    int crc = rnn_model_create(&m, &cfg, NULL, cerr, sizeof cerr);
    if (crc != RNN_OK) {
        gc_fail(&gc, "rnn_model_create -> %s (%s)", rnn_status_string(crc), cerr);
        goto done;
    }

    /* Parameters: the same names, shapes and order as PyTorch's model.parameters(). */
    int nparam = 0, ninit = 0;
    CALL(rnn_param_get_count(m, &nparam));
    for (int k = 0; k < g.count; k++) {
        if (strncmp(g.a[k].name, "init/", 5) != 0) continue;
        rnn_param p = {.struct_size = sizeof p};
        if (rnn_param_get(m, ninit, &p) != RNN_OK) {
            gc_fail(&gc, "rnn_param_get(%d) failed; PyTorch has %s there", ninit, g.a[k].name + 5);
        } else if (strcmp(p.name, g.a[k].name + 5) != 0) {
            gc_fail(&gc, "parameter %d is %s, PyTorch has %s", ninit, p.name, g.a[k].name + 5);
        } else {
            size_t rows = g.a[k].ndims == 2 ? g.a[k].dims[0] : 1;
            size_t cols = g.a[k].ndims == 2 ? g.a[k].dims[1] : g.a[k].dims[0];
            if ((size_t)p.rows != rows || (size_t)p.cols != cols)
                gc_fail(&gc, "%s is %dx%d, PyTorch %zux%zu", p.name, p.rows, p.cols, rows, cols);
        }
        ninit++;
    }
    if (nparam != ninit)
        gc_fail(&gc, "rnn_param_get_count %d, PyTorch has %d parameters", nparam, ninit);
    if (gc.nfail) goto done;
    if (tied) {
        rnn_param enc = {.struct_size = sizeof enc}, dec = {.struct_size = sizeof dec};
        CALL(rnn_param_find(m, "encoder.weight", &enc));
        CALL(rnn_param_find(m, "decoder.weight", &dec));
        if (enc.data != dec.data) gc_fail(&gc, "tied decoder.weight is not encoder.weight");
    }
    if (load_weights(&gc, m, &g) != nparam) goto done;

    size_t nlp = (size_t)B * T * V;
    if (!(buf = malloc((nlp > 2 * nstate ? nlp : 2 * nstate) * sizeof(float))) ||
        !(buf2 = malloc(nstate * sizeof(float)))) {
        gc_fail(&gc, "out of memory");
        goto done;
    }
    const garray *ref;
    char what[160];
    double loss;

    /* (a) one chunk: evaluation, then training forward + backward. */
    chunk_ctx cc = {&gc, m, &g, B, T, nparam, lstm, nstate, nlp, h0->data, c0d, buf, buf2};
    if (check_chunk(&cc, "", tok->data, tgt->data)) goto done;

    /* (b) the example's training loop from the same weights and state. */
    gc.phase = 1;
    if (load_weights(&gc, m, &g) != nparam) goto done;
    CALL(rnn_model_reset_hidden(m, B));
    CALL(rnn_model_set_hidden(m, B, h0->data, c0d));
    for (int s = 0; s < S; s++) {
        const int32_t *x = (const int32_t *)tr_tok->data + (size_t)s * B * T;
        const int32_t *y = (const int32_t *)tr_tgt->data + (size_t)s * B * T;
        double norm;
        CALL(rnn_forward(m, x, y, B, T, 0, &loss));
        CALL(rnn_zero_grad(m));
        CALL(rnn_backward(m));
        CALL(rnn_clip_grad_norm(m, clip, &norm));
        CALL(rnn_sgd_step(m, lr));
        snprintf(what, sizeof what, "train step %d loss", s);
        cmp_scalar(&gc, what, loss, ((const float *)tr_loss->data)[s]);
        snprintf(what, sizeof what, "train step %d norm", s);
        cmp_scalar(&gc, what, norm, ((const float *)tr_norm->data)[s]);
    }
    for (int k = 0; k < nparam; k++) {
        rnn_param p = {.struct_size = sizeof p};
        CALL(rnn_param_get(m, k, &p));
        snprintf(what, sizeof what, "final/%s", p.name);
        cmp_tensor(&gc, what, p.data, ref = gfile_get(&g, what, G_F32), p.size);
        /* The change over training, final - init, so that a wrong update is not hidden by the
           size of the weights themselves. */
        snprintf(what, sizeof what, "init/%s", p.name);
        const garray *ini = gfile_get(&g, what, G_F32);
        if (!ref || !ini || ref->n != p.size || ini->n != p.size) continue;
        float *dgot = malloc(p.size * sizeof(float)), *dref = malloc(p.size * sizeof(float));
        if (dgot && dref) {
            for (size_t j = 0; j < p.size; j++) {
                dgot[j] = p.data[j] - ((const float *)ini->data)[j];
                dref[j] = ((const float *)ref->data)[j] - ((const float *)ini->data)[j];
            }
            snprintf(what, sizeof what, "final-init/%s", p.name);
            cmp_tensor(&gc, what, dgot, &(garray){.n = p.size, .data = dref}, p.size);
        } else {
            gc_fail(&gc, "out of memory");
        }
        free(dgot);
        free(dref);
    }

    /* (c) (a) with one encoder weight NaN: the NaN positions and the finite values. */
    gc.phase = 2;
    const garray *where, *ntok, *ntgt;
    NEED(where, "nan/where", G_I32);
    NEED(ntok, "nan/tokens", G_I32);
    NEED(ntgt, "nan/targets", G_I32);
    if (where->n != 2 || ntok->n != tok->n || ntgt->n != tok->n) {
        gc_fail(&gc, "golden NaN arrays have unexpected sizes");
        goto done;
    }
    if (load_weights(&gc, m, &g) != nparam) goto done;
    rnn_param enc = {.struct_size = sizeof enc};
    CALL(rnn_param_find(m, "encoder.weight", &enc));
    const int32_t *wh = where->data;
    enc.data[(size_t)wh[0] * enc.cols + wh[1]] = NAN;
    if (check_chunk(&cc, "nan/", ntok->data, ntgt->data)) goto done;

done:
    rnn_model_free(m);
    free(buf);
    free(buf2);
    gfile_free(&g);
    g_ran[cell]++;
    g_ncmp[cell] += gc.ncmp;
    for (int ph = 0; ph < 3; ph++) {
        double w = gc.phase_worst[ph];
        if (w > g_phase_worst[cell][ph] || w != w) g_phase_worst[cell][ph] = w;
    }
    if (gc.worst > g_worst[cell] || gc.worst != gc.worst) {
        g_worst[cell] = gc.worst;
        snprintf(g_worst_where[cell], sizeof g_worst_where[cell], "%s %s", gc.name,
                 gc.worst_what);
    }
    ck_assert_msg(gc.nfail == 0, "golden %s: %d failure(s): %s", gc.name, gc.nfail, gc.msg);
}

START_TEST(test_golden_case)
{
    if (g_nfiles == 0) {
        static int said;
        if (!said++) printf("SKIP: no PyTorch golden data (install python3-torch)\n");
        return;
    }
    run_case(_i);
}
END_TEST

static int count_bin_files(const char *dir)
{
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".bin") == 0) n++;
    }
    closedir(d);
    return n;
}

int main(void)
{
    g_dir = getenv("RNN_GOLDEN_DIR");
    if (g_dir && !*g_dir) g_dir = NULL;
    g_nfiles = count_bin_files(g_dir);
    g_verbose = getenv("RNN_GOLDEN_VERBOSE") != NULL;

    Suite *s = suite_create("golden");
    TCase *tc = tcase_create("pytorch");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_golden_case, 0, NCASES);
    suite_add_tcase(s, tc);

    /* No fork: the per-cell worst errors are gathered in this process. Every case frees its
       model before its single ck_assert, so a failure leaks nothing. */
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    for (int c = 0; c < NCELLS && g_nfiles > 0; c++) {
        if (g_ncmp[c])
            printf("golden %s worst rel err %.2g (one chunk %.2g, SGD replay %.2g, NaN chunk %.2g; %d cases, "
                   "%d comparisons; worst: %s)\n",
                   CELL_NAMES[c], g_worst[c], g_phase_worst[c][0], g_phase_worst[c][1], g_phase_worst[c][2], g_ran[c],
                   g_ncmp[c], g_worst_where[c]);
        else
            printf("golden %s: no comparison made (%d cases failed early)\n", CELL_NAMES[c],
                   g_ran[c]);
    }
    return failed == 0 ? 0 : 1;
}
