/*
 * test_threads.c -- one loaded model shared read-only by several threads, each with its own
 * rnn_state, gives exactly what a single thread gives; distinct model handles train in parallel
 * with the results of a sequential run; librnn's own threads (rnn_model_set_threads) give what one
 * thread gives. `make tsan` runs this suite under ThreadSanitizer.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <signal.h>

#define RNN_EXPERT_API /* rnn_param_get_block */
#include "rnn.h"
#include "testutil.h"

/* OpenBLAS's own thread count is the process's: pin it to 1 (when linked) so that every call,
 * from whichever thread, computes the same bits. Weak: absent with the reference CBLAS. */
extern void openblas_set_num_threads(int n) __attribute__((weak));

#define NTHREADS 6
#define NSEEDS 12
#define NGEN 120
#define NPROMPT 7
#define REPEAT 2

static rnn_model *g_model; /* loaded from a file, then only read */
static int32_t g_prompt[NPROMPT] = {3, 1, 4, 1, 5, 9, 2};
static int32_t g_ref[NSEEDS][NGEN];         /* single-thread text per seed */
static int32_t g_ref_clone[NSEEDS][NGEN];   /* continuation of a clone taken after NGEN/2 */
static double g_ref_score[NSEEDS];
static int32_t g_ref_batch[NSEEDS][3][NGEN]; /* batch-3 states seeded with seed */
static int g_V;

static void load_shared_model(int cell)
{
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    cfg.cell = cell, cfg.vocab_size = 50, cfg.emb_size = 24, cfg.hidden_size = 32, cfg.num_layers = 2;
    cfg.dropout = 0.1f, cfg.seed = 99;
    rnn_model *m = NULL;
    ck_assert_int_eq(rnn_model_create(&m, &cfg, NULL, NULL, 0), RNN_OK);
    /* a few training steps, so that the weights are not just the initialisation */
    int32_t tok[4 * 10], tgt[4 * 10];
    uint64_t s = 5;
    ck_assert_int_eq(rnn_model_reset_hidden(m, 4), RNN_OK);
    for (int step = 0; step < 5; step++) {
        for (int i = 0; i < 40; i++) tok[i] = (int32_t)(tu_next(&s) % 50), tgt[i] = (int32_t)(tu_next(&s) % 50);
        double loss;
        ck_assert_int_eq(rnn_forward(m, tok, tgt, 4, 10, 0, &loss), RNN_OK);
        ck_assert_int_eq(rnn_zero_grad(m), RNN_OK);
        ck_assert_int_eq(rnn_backward(m), RNN_OK);
        ck_assert_int_eq(rnn_clip_grad_norm(m, 0.25f, NULL), RNN_OK);
        ck_assert_int_eq(rnn_sgd_step(m, 5.0f), RNN_OK);
    }
    char path[] = "/tmp/rnn-threads-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(rnn_model_save(m, path, 0, NULL, 0), RNN_OK);
    rnn_model_free(m);
    char err[256];
    ck_assert_msg(rnn_model_load(&g_model, path, NULL, 0, err, sizeof err) == RNN_OK, "%s", err);
    unlink(path);
    g_V = 50;
}

/* Everything one seed produces: a generated text with its prompt, the text of a clone taken
 * halfway, a score, and a batch-3 state's texts. Returns 0 on success. */
static int run_seed(int seed, int32_t *text, int32_t *clone_text, double *score, int32_t (*batch)[NGEN])
{
    rnn_state *st = NULL, *cl = NULL, *b3 = NULL;
    rnn_sampling sp;
    rnn_sampling_init(&sp, sizeof sp);
    sp.temperature = 0.9f, sp.top_k = 20, sp.top_p = 0.95f;
    int rc = rnn_state_create(&st, g_model, 1, (uint64_t)seed);
    if (!rc) rc = rnn_state_feed(st, g_prompt, NPROMPT, 0);
    if (!rc) rc = rnn_state_generate(st, &sp, NGEN / 2, text);
    if (!rc) rc = rnn_state_clone(&cl, st);
    if (!rc) rc = rnn_state_generate(st, &sp, NGEN - NGEN / 2, text + NGEN / 2);
    if (!rc) rc = rnn_state_generate(cl, NULL, NGEN, clone_text);
    if (!rc) rc = rnn_state_reset(st);
    if (!rc) rc = rnn_state_score(st, text, NGEN, 0, score);
    if (!rc) rc = rnn_state_create(&b3, g_model, 3, (uint64_t)seed);
    int32_t out[3 * NGEN];
    if (!rc) rc = rnn_state_generate(b3, NULL, NGEN, out);
    for (int b = 0; !rc && b < 3; b++) memcpy(batch[b], out + b * NGEN, sizeof batch[b]);
    rnn_state_free(st);
    rnn_state_free(cl);
    rnn_state_free(b3);
    return rc;
}

static void make_reference(void)
{
    for (int s = 0; s < NSEEDS; s++)
        ck_assert_int_eq(run_seed(100 + s, g_ref[s], g_ref_clone[s], &g_ref_score[s], g_ref_batch[s]), RNN_OK);
    /* the reference itself: stream b of a batched state is the one-stream state seeded seed + b */
    for (int s = 0; s + 2 < NSEEDS; s++)
        for (int b = 0; b < 3; b++) {
            rnn_state *st = NULL;
            int32_t out[NGEN];
            ck_assert_int_eq(rnn_state_create(&st, g_model, 1, (uint64_t)(100 + s + b)), RNN_OK);
            ck_assert_int_eq(rnn_state_generate(st, NULL, NGEN, out), RNN_OK);
            ck_assert(memcmp(out, g_ref_batch[s][b], sizeof out) == 0);
            rnn_state_free(st);
        }
}

typedef struct job {
    int id;
    int mismatches, errors;
} job;

static void *worker(void *arg)
{
    job *j = arg;
    for (int r = 0; r < REPEAT; r++)
        for (int s = j->id; s < NSEEDS; s += NTHREADS) {
            int32_t text[NGEN], clone_text[NGEN], batch[3][NGEN];
            double score;
            if (run_seed(100 + s, text, clone_text, &score, batch) != RNN_OK) {
                j->errors++;
                continue;
            }
            if (memcmp(text, g_ref[s], sizeof text) != 0) j->mismatches++;
            if (memcmp(clone_text, g_ref_clone[s], sizeof clone_text) != 0) j->mismatches++;
            if (memcmp(&score, &g_ref_score[s], sizeof score) != 0) j->mismatches++;
            if (memcmp(batch, g_ref_batch[s], sizeof batch) != 0) j->mismatches++;
        }
    return NULL;
}

static void shared_model_case(int cell)
{
    load_shared_model(cell);
    make_reference();
    pthread_t th[NTHREADS];
    job jobs[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        jobs[i] = (job){i, 0, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, worker, &jobs[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(jobs[i].errors == 0, "thread %d: %d calls failed", i, jobs[i].errors);
        ck_assert_msg(jobs[i].mismatches == 0, "thread %d: %d results differ from the single-thread run", i,
                      jobs[i].mismatches);
    }
    rnn_model_free(g_model);
    g_model = NULL;
}

START_TEST(test_shared_model_generate)
{
    static const int cells[4] = {RNN_CELL_LSTM, RNN_CELL_GRU, RNN_CELL_TANH, RNN_CELL_RELU};
    shared_model_case(cells[_i]);
}
END_TEST

/* ---- distinct handles train at the same time ----------------------------------------------- */
#define TRAIN_STEPS 8

typedef struct train_job {
    int cell;
    float *params; /* out: the parameter block after training (malloc'd) */
    size_t n;
    double loss;
    int rc;
} train_job;

static void *train_worker(void *arg)
{
    train_job *j = arg;
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    cfg.cell = j->cell, cfg.vocab_size = 40, cfg.emb_size = 16, cfg.hidden_size = 16, cfg.num_layers = 2;
    cfg.dropout = 0.3f, cfg.seed = 7;
    rnn_model *m = NULL;
    j->rc = rnn_model_create(&m, &cfg, NULL, NULL, 0);
    if (j->rc) return NULL;
    int32_t tok[3 * 8], tgt[3 * 8];
    uint64_t s = 11;
    j->rc = rnn_model_reset_hidden(m, 3);
    for (int step = 0; step < TRAIN_STEPS && !j->rc; step++) {
        for (int i = 0; i < 24; i++) tok[i] = (int32_t)(tu_next(&s) % 40), tgt[i] = (int32_t)(tu_next(&s) % 40);
        double loss = 0;
        j->rc = rnn_forward(m, tok, tgt, 3, 8, 0, &loss);
        if (!j->rc) j->rc = rnn_zero_grad(m);
        if (!j->rc) j->rc = rnn_backward(m);
        if (!j->rc) j->rc = rnn_clip_grad_norm(m, 0.25f, NULL);
        if (!j->rc) j->rc = rnn_sgd_step(m, 10.0f);
        j->loss += loss;
    }
    float *d, *g;
    rnn_param_get_block(m, &d, &g, &j->n);
    j->params = malloc(j->n * sizeof *d);
    memcpy(j->params, d, j->n * sizeof *d);
    rnn_model_free(m);
    return NULL;
}

START_TEST(test_distinct_handles_train)
{
    train_job ref[4], par[2][4];
    for (int c = 0; c < 4; c++) {
        ref[c] = (train_job){c, NULL, 0, 0, 0};
        train_worker(&ref[c]);
        ck_assert_int_eq(ref[c].rc, RNN_OK);
    }
    pthread_t th[8];
    for (int k = 0; k < 8; k++) {
        par[k / 4][k % 4] = (train_job){k % 4, NULL, 0, 0, 0};
        ck_assert_int_eq(pthread_create(&th[k], NULL, train_worker, &par[k / 4][k % 4]), 0);
    }
    for (int k = 0; k < 8; k++) pthread_join(th[k], NULL);
    for (int k = 0; k < 8; k++) {
        train_job *p = &par[k / 4][k % 4], *r = &ref[k % 4];
        ck_assert_int_eq(p->rc, RNN_OK);
        ck_assert(p->n == r->n && memcmp(p->params, r->params, r->n * sizeof(float)) == 0);
        ck_assert(memcmp(&p->loss, &r->loss, sizeof p->loss) == 0);
        free(p->params);
    }
    for (int c = 0; c < 4; c++) free(ref[c].params);
}
END_TEST

/* ---- the calls documented as callable from any thread ----------------------------------------- */
static void *strerror_worker(void *arg)
{
    int *bad = arg;
    for (int i = 0; i < 2000; i++) {
        if (!rnn_status_string(i % 10) || !rnn_version_string() || rnn_version_number() != RNN_VERSION_NUMBER) (*bad)++;
        int64_t lim = 0;
        if (rnn_limit_get(i % 6, &lim) != RNN_OK || lim <= 0) (*bad)++;
        const char *name = NULL;
        int cell = -1;
        if (rnn_cell_name(i % RNN_CELL_COUNT, &name) != RNN_OK || rnn_cell_find(name, &cell) != RNN_OK ||
            cell != i % RNN_CELL_COUNT)
            (*bad)++;
        rnn_config cfg;
        rnn_sampling smp;
        if (rnn_config_init(&cfg, sizeof cfg) != RNN_OK || cfg.hidden_size != 200 ||
            rnn_sampling_init(&smp, sizeof smp) != RNN_OK || smp.temperature != 1.0f)
            (*bad)++;
    }
    return NULL;
}

START_TEST(test_static_calls_any_thread)
{
    pthread_t th[4];
    int bad[4] = {0};
    for (int i = 0; i < 4; i++) ck_assert_int_eq(pthread_create(&th[i], NULL, strerror_worker, &bad[i]), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(bad[i], 0);
    }
}
END_TEST

/* ---- librnn's own threads (rnn_model_set_threads) ----------------------------------------------------- */
START_TEST(test_set_threads_args)
{
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    cfg.vocab_size = 30, cfg.emb_size = 8, cfg.hidden_size = 8;
    rnn_model *m = NULL;
    ck_assert_int_eq(rnn_model_create(&m, &cfg, NULL, NULL, 0), RNN_OK);
    int n = 0;
    ck_assert_int_eq(rnn_model_get_threads(m, &n), RNN_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(rnn_model_set_threads(NULL, 2), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_model_get_threads(NULL, &n), RNN_ERR_INVALID);
    ck_assert_int_eq(rnn_model_get_threads(m, NULL), RNN_ERR_INVALID);
    int64_t max_threads = 0;
    ck_assert_int_eq(rnn_limit_get(RNN_LIMIT_THREADS, &max_threads), RNN_OK);
    char want[64];
    snprintf(want, sizeof want, "threads must be in [1, %lld]", (long long)max_threads);
    const int bad[] = {0, -1, (int)max_threads + 1, -2147483647 - 1};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(rnn_model_set_threads(m, bad[i]), RNN_ERR_INVALID);
        ck_assert_int_eq(rnn_model_errcode(m), RNN_ERR_INVALID);
        ck_assert_msg(strstr(rnn_model_errmsg(m), want) != NULL, "message \"%s\" lacks \"%s\"", rnn_model_errmsg(m), want);
        ck_assert_int_eq(rnn_model_get_threads(m, &n), RNN_OK);
        ck_assert_int_eq(n, 1); /* unchanged */
    }
    /* start, restart with another count, stop, start again; free with workers running */
    const int seq[] = {3, 2, 2, 1, 1, 4};
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(rnn_model_set_threads(m, seq[i]), RNN_OK);
        ck_assert_int_eq(rnn_model_get_threads(m, &n), RNN_OK);
        ck_assert_int_eq(n, seq[i]);
    }
    rnn_model_free(m);
}
END_TEST

/* A model big enough that the products are split too (above 2^20 multiply-adds). */
static rnn_model *threaded_model(int cell, int threads, const rnn_allocator *al)
{
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    cfg.cell = cell, cfg.vocab_size = 1500, cfg.emb_size = 48, cfg.hidden_size = 64, cfg.num_layers = 2;
    cfg.dropout = 0.2f, cfg.seed = 21;
    rnn_model *m = NULL;
    ck_assert_int_eq(rnn_model_create(&m, &cfg, al, NULL, 0), RNN_OK);
    ck_assert_int_eq(rnn_model_set_threads(m, threads), RNN_OK);
    return m;
}

#define TB 6
#define TT 24
typedef struct run_out {
    double loss[4], norm[4], eval;
    float *params, *logp;
    size_t n;
} run_out;

/* 4 training steps (forward, zero_grad, backward, clip, sgd), then an evaluation with logprobs */
static void train_run(int cell, int threads, run_out *o, const rnn_allocator *al, long *allocs_in_loop,
                      const long *counter)
{
    rnn_model *m = threaded_model(cell, threads, al);
    int32_t tok[TB * TT], tgt[TB * TT];
    uint64_t s = 77;
    ck_assert_int_eq(rnn_model_reset_hidden(m, TB), RNN_OK);
    long before = 0;
    for (int step = 0; step < 4; step++) {
        if (step == 1 && counter) before = *counter; /* the first step sizes the workspace */
        for (int i = 0; i < TB * TT; i++) tok[i] = (int32_t)(tu_next(&s) % 1500), tgt[i] = (int32_t)(tu_next(&s) % 1500);
        tgt[5] = RNN_IGNORE;
        ck_assert_int_eq(rnn_forward(m, tok, tgt, TB, TT, 0, &o->loss[step]), RNN_OK);
        ck_assert_int_eq(rnn_zero_grad(m), RNN_OK);
        ck_assert_int_eq(rnn_backward(m), RNN_OK);
        ck_assert_int_eq(rnn_clip_grad_norm(m, 0.25f, &o->norm[step]), RNN_OK);
        ck_assert_int_eq(rnn_sgd_step(m, 5.0f), RNN_OK);
    }
    if (counter) *allocs_in_loop = *counter - before;
    o->logp = malloc(sizeof(float) * TB * 4 * 1500);
    ck_assert_int_eq(rnn_evaluate(m, tok, tgt, TB, 4, 0, &o->eval, o->logp), RNN_OK);
    float *d, *g;
    rnn_param_get_block(m, &d, &g, &o->n);
    o->params = malloc(o->n * sizeof *d);
    memcpy(o->params, d, o->n * sizeof *d);
    rnn_model_free(m);
}

static long g_count;
static void *count_alloc(void *u, size_t n)
{
    (void)u;
    __atomic_add_fetch(&g_count, 1, __ATOMIC_RELAXED);
    return malloc(n);
}
static void count_free(void *u, void *p)
{
    (void)u;
    free(p);
}

/* Training and evaluation on 2 and 3 threads match one thread: the row and parameter sums are
 * chunked independently of the thread count, only the split products may differ in the last bits
 * (they do with Debian's OpenBLAS 0.3.21 on AMD Zen 3: its sgemm kernel rounds an element of C
 * differently depending on where the element's tile falls, so a product cut in two is not the
 * whole product's bits; at this model's size they agree). Zero allocations per step with threads. */
START_TEST(test_threads_train_match)
{
    int cell = _i;
    run_out ref;
    train_run(cell, 1, &ref, NULL, NULL, NULL);
    for (int threads = 2; threads <= 3; threads++) {
        run_out o;
        rnn_allocator al = {sizeof al, count_alloc, count_free, NULL};
        long allocs = -1;
        train_run(cell, threads, &o, &al, &allocs, &g_count);
        ck_assert_int_eq(allocs, 0);
        for (int k = 0; k < 4; k++) {
            ck_assert_double_le(fabs(o.loss[k] - ref.loss[k]), 1e-6 * fabs(ref.loss[k]));
            ck_assert_double_le(fabs(o.norm[k] - ref.norm[k]), 1e-5 * fabs(ref.norm[k]));
        }
        ck_assert_double_le(fabs(o.eval - ref.eval), 1e-6 * fabs(ref.eval));
        ck_assert_uint_eq(o.n, ref.n);
        double ep = tu_rel_err(o.params, ref.params, ref.n), el = tu_rel_err(o.logp, ref.logp, TB * 4 * 1500);
        ck_assert_msg(ep <= 1e-5 && el <= 1e-5, "cell %d threads %d: params %.3g logprobs %.3g", cell, threads, ep, el);
        free(o.params), free(o.logp);
    }
    free(ref.params), free(ref.logp);
}
END_TEST

/* States split the decoder's row-wise dots over the threads: every output element is the same dot,
 * so text, log-probabilities and hidden states are bit-identical to one thread's. */
START_TEST(test_threads_state_bitwise)
{
    int cell = _i;
    int32_t prompt[5] = {7, 300, 1499, 0, 42};
    int32_t text[2][4][40];
    float *lp[2], *h[2];
    double score[2][4];
    for (int v = 0; v < 2; v++) {
        rnn_model *m = threaded_model(cell, v == 0 ? 1 : 3, NULL);
        rnn_state *st = NULL;
        ck_assert_int_eq(rnn_state_create(&st, m, 4, 123), RNN_OK);
        int32_t p4[4 * 5];
        for (int b = 0; b < 4; b++) memcpy(p4 + b * 5, prompt, sizeof prompt);
        ck_assert_int_eq(rnn_state_feed(st, p4, 5, 0), RNN_OK);
        lp[v] = malloc(sizeof(float) * 4 * 1500);
        ck_assert_int_eq(rnn_state_get_logprobs(st, lp[v]), RNN_OK);
        rnn_sampling smp;
        rnn_sampling_init(&smp, sizeof smp);
        smp.top_p = 0.9f;
        int32_t out[40 * 4];
        ck_assert_int_eq(rnn_state_generate(st, &smp, 40, out), RNN_OK);
        for (int b = 0; b < 4; b++)
            for (int t = 0; t < 40; t++) text[v][b][t] = out[b * 40 + t];
        h[v] = malloc(sizeof(float) * 2 * 4 * 64 * 2);
        ck_assert_int_eq(rnn_state_get_hidden(st, h[v], cell == RNN_CELL_LSTM ? h[v] + 2 * 4 * 64 : NULL), RNN_OK);
        ck_assert_int_eq(rnn_state_score(st, p4, 5, 0, score[v]), RNN_OK);
        rnn_state_free(st);
        rnn_model_free(m);
    }
    ck_assert(memcmp(text[0], text[1], sizeof text[0]) == 0);
    ck_assert(memcmp(lp[0], lp[1], sizeof(float) * 4 * 1500) == 0);
    ck_assert(memcmp(h[0], h[1], sizeof(float) * 2 * 4 * 64 * (cell == RNN_CELL_LSTM ? 2 : 1)) == 0);
    for (int b = 0; b < 4; b++) ck_assert_double_le(fabs(score[1][b] - score[0][b]), 1e-6 * fabs(score[0][b]));
    for (int v = 0; v < 2; v++) free(lp[v]), free(h[v]);
}
END_TEST

/* After fork() the child has none of the parent's workers: its copy of a threaded model (and of a
 * threaded state) still computes, on the calling thread, with the same bits, and frees cleanly. */
START_TEST(test_threads_fork_child)
{
    rnn_model *m = threaded_model(RNN_CELL_LSTM, 2, NULL);
    rnn_state *st = NULL;
    ck_assert_int_eq(rnn_state_create(&st, m, 2, 5), RNN_OK);
    int32_t tok[TB * TT], tgt[TB * TT], gen_ref[2 * 10];
    uint64_t s = 3;
    for (int i = 0; i < TB * TT; i++) tok[i] = (int32_t)(tu_next(&s) % 1500), tgt[i] = (int32_t)(tu_next(&s) % 1500);
    double ref = 0, loss = 0;
    ck_assert_int_eq(rnn_model_reset_hidden(m, TB), RNN_OK);
    ck_assert_int_eq(rnn_model_set_seed(m, 8), RNN_OK);
    ck_assert_int_eq(rnn_forward(m, tok, tgt, TB, TT, 0, &ref), RNN_OK);
    rnn_sampling smp;
    rnn_sampling_init(&smp, sizeof smp);
    ck_assert_int_eq(rnn_state_generate(st, &smp, 10, gen_ref), RNN_OK);
    ck_assert_int_eq(rnn_state_reset(st), RNN_OK);
    ck_assert_int_eq(rnn_model_reset_hidden(m, TB), RNN_OK);
    ck_assert_int_eq(rnn_model_set_seed(m, 8), RNN_OK);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int32_t gen[2 * 10];
        int ok = rnn_forward(m, tok, tgt, TB, TT, 0, &loss) == RNN_OK && memcmp(&loss, &ref, sizeof loss) == 0 &&
                 rnn_zero_grad(m) == RNN_OK && rnn_backward(m) == RNN_OK && rnn_clip_grad_norm(m, 0.25f, NULL) == RNN_OK &&
                 rnn_sgd_step(m, 1.0f) == RNN_OK && rnn_state_generate(st, &smp, 10, gen) == RNN_OK &&
                 memcmp(gen, gen_ref, sizeof gen) == 0 && rnn_model_set_threads(m, 1) == RNN_OK;
        rnn_state_free(st);
        rnn_model_free(m);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    struct timespec nap = {0, 50000000};
    for (int i = 0; i < 600 && waitpid(pid, &status, WNOHANG) == 0; i++) nanosleep(&nap, NULL);
    if (waitpid(pid, &status, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        ck_abort_msg("the forked child hung (30 s)");
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the forked child failed (status %d)", status);
    /* the parent's workers are unaffected */
    ck_assert_int_eq(rnn_forward(m, tok, tgt, TB, TT, 0, &loss), RNN_OK);
    ck_assert(memcmp(&loss, &ref, sizeof loss) == 0);
    rnn_state_free(st);
    rnn_model_free(m);
}
END_TEST

int main(void)
{
    if (openblas_set_num_threads) openblas_set_num_threads(1);
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_shared_model_generate, 0, 4);
    tcase_add_test(tc, test_distinct_handles_train);
    tcase_add_test(tc, test_static_calls_any_thread);
    suite_add_tcase(s, tc);
    TCase *tl = tcase_create("librnn threads");
    tcase_set_timeout(tl, 600);
    tcase_add_test(tl, test_set_threads_args);
    tcase_add_loop_test(tl, test_threads_train_match, 0, 4);
    tcase_add_loop_test(tl, test_threads_state_bitwise, 0, 4);
    tcase_add_test(tl, test_threads_fork_child);
    suite_add_tcase(s, tl);
    return tu_run(s);
}
