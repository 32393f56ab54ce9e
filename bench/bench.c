/*
 * bench.c -- librnn's side of the benchmark against PyTorch's examples/word_language_model
 * (bench/torch_ref.py is the PyTorch side, bench/run.sh the orchestrator; see bench/README.md).
 *
 *   build/bench run  [--data DIR] [--cell LSTM|GRU|RNN_TANH] [--train-batches N] [--warmup W]
 *                    [--eval-chunks N] [--gen-tokens N] [--run I] [--setting S] [--threads N]
 *                    [--lib-threads N] [--max-seconds S] [--output full|adaptive]
 *                    [--cutoffs C1,C2,...] [--div-value D] [--head-bias 0|1] [--freq-order 0|1]
 *                    [--weights fp32|bf16|q8]
 *       One process = one measurement of every figure, printed as one JSON line:
 *       training tokens/s (main.py's loop: forward, zero_grad, backward, clip 0.25, sgd lr 20;
 *       batch 20, bptt 35, W warm-up batches then N timed), peak RSS (VmHWM read right after the
 *       training loop), evaluation tokens/s (rnn_evaluate, batch 10, bptt 35, on valid.txt),
 *       generation tokens/s (batch-1 rnn_state, one token at a time, sampling at temperature 1),
 *       and the allocations made inside each timed loop (a counting rnn_allocator; must be 0).
 *       Threads: --lib-threads N calls rnn_model_set_threads(N) (default 1); the environment's
 *       OPENBLAS_NUM_THREADS is the BLAS's (reported as blas_threads; --threads is only the label).
 *       --max-seconds S: evaluation and generation each stop after S seconds (at least 3 chunks /
 *       20 tokens); the JSON gives the chunks and tokens actually timed. --eval-chunks 0 /
 *       --gen-tokens 0 skip evaluation / both generation figures (bench/zipf.py's vocabulary scan).
 *       --output adaptive: the model's output layer is PyTorch's AdaptiveLogSoftmaxWithLoss with
 *       --cutoffs (default 2000,10000), --div-value (default 4) and --head-bias (default 0); word
 *       ids are then ordered by descending training-set frequency, ties by first appearance
 *       (--freq-order 1, the default with adaptive; --freq-order 1 also works with full), and the
 *       JSON gives each cluster's share of the training tokens (cluster_freq, head first).
 *       --weights bf16|q8: after the training loop (and its RSS), rnn_model_quantize converts the
 *       model, so that evaluation and generation run the reduced-precision weights; the JSON then
 *       has "weights". Every run's JSON gives file_mb (rnn_model_save_mem's size of the model that
 *       evaluation and generation ran) and eval_cpu_tok_s / gen_cpu_tok_s (tokens per CPU-second
 *       of the process, all threads counted).
 *
 *   build/bench gemm [--reps R]
 *       cblas_sgemm GFLOP/s for every GEMM shape of a training step of the default model
 *       (batch 20, bptt 35, E = H = 200, V = 33278; G = 4, 3, 1 gates), best of R, one JSON line
 *       per shape, then per cell the GEMM FLOPs per training token and the roofline limit in
 *       tokens/s (every GEMM at its measured rate, nothing else costing time).
 *
 *   build/bench gemm-adaptive [--reps R] [--data DIR] [--cutoffs C1,C2,...] [--div-value D]
 *                             [--cell LSTM|GRU|RNN_TANH]
 *       The adaptive roofline: the corpus is loaded and ordered by frequency as `run --output
 *       adaptive` does, each cluster's share p_i of the training tokens gives its rows in a batch of
 *       700 (n_i = p_i * 700, the mean), and every GEMM of a training step (the cell's layers, the
 *       head, each cluster's two projections, forward and backward) is timed as above; one JSON
 *       line per shape, then the FLOPs per token of the output layer and of the whole step, and
 *       the limit in tokens/s.
 *
 * Build: cc -O2 -Iinclude -Isrc/rnnlm $(pkg-config --cflags openblas) bench/bench.c
 *        src/rnnlm/corpus.c lib/librnn.a $(pkg-config --libs openblas) -lm -o build/bench
 */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "corpus.h"
#include "rnn.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time of the process: at 1 BLAS thread, the time the core actually spent on the GEMM, which
   the shared machine's other load does not inflate (wall time does, by preemption). */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "bench: %s: %s\n", what, detail);
    exit(1);
}

#define CHECK(call, m)                                                                           \
    do {                                                                                         \
        int rc_ = (call);                                                                        \
        if (rc_ != RNN_OK) die(#call, (m) ? rnn_model_errmsg(m) : rnn_status_string(rc_));       \
    } while (0)

/* ---- a counting allocator ------------------------------------------------------------------- */
static long n_alloc, n_free;
static void *count_alloc(void *user, size_t size)
{
    (void)user;
    n_alloc++;
    return malloc(size);
}
static void count_free(void *user, void *p)
{
    (void)user;
    n_free++;
    free(p);
}

/* Peak resident set size so far (VmHWM), in MiB; -1 if unreadable. */
static double peak_rss_mb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    double kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) kb = atof(line + 6);
    fclose(f);
    return kb < 0 ? -1 : kb / 1024.0;
}

static int cell_of(const char *s)
{
    int cell = -1;
    if (rnn_cell_find(s, &cell) != RNN_OK) die("unknown cell", s);
    return cell;
}

/* "2000,10000" -> cutoffs[], the count in *n (at most RNN_MAX_CUTOFFS). */
static void parse_cutoffs(const char *s, int *cutoffs, int *n)
{
    *n = 0;
    for (const char *p = s; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || *n >= RNN_MAX_CUTOFFS || v <= 0 || v > INT32_MAX) die("bad --cutoffs", s);
        cutoffs[(*n)++] = (int)v;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') die("bad --cutoffs", s);
    }
    if (*n == 0) die("bad --cutoffs", s);
}

/* Word ids by descending training-set frequency, ties by first appearance (the order data.py gave
   them: train, then valid, then test), which adaptive softmax needs; the same order on PyTorch's
   side (bench/torch_main.py's order_by_frequency). Remaps the three token arrays in place. */
static const size_t *g_count;
static int by_frequency(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (g_count[x] != g_count[y]) return g_count[x] > g_count[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}
static void order_by_frequency(corpus *c, int V)
{
    size_t *count = calloc((size_t)V, sizeof *count);
    int32_t *order = malloc(sizeof(int32_t) * (size_t)V), *newid = malloc(sizeof(int32_t) * (size_t)V);
    if (!count || !order || !newid) die("malloc", "out of memory");
    for (size_t i = 0; i < c->n_train; i++) count[c->train[i]]++;
    for (int i = 0; i < V; i++) order[i] = i;
    g_count = count;
    qsort(order, (size_t)V, sizeof *order, by_frequency);
    for (int i = 0; i < V; i++) newid[order[i]] = i;
    for (size_t i = 0; i < c->n_train; i++) c->train[i] = newid[c->train[i]];
    for (size_t i = 0; i < c->n_valid; i++) c->valid[i] = newid[c->valid[i]];
    for (size_t i = 0; i < c->n_test; i++) c->test[i] = newid[c->test[i]];
    free(count);
    free(order);
    free(newid);
}

/* Share of the training tokens in the head (freq[0]: ids below cutoffs[0]) and in each cluster
   (freq[i+1]: ids in [cutoffs[i], cutoffs[i+1]), the last up to V). */
static void cluster_freq(const corpus *c, const int *cutoffs, int n, double *freq)
{
    for (int i = 0; i <= n; i++) freq[i] = 0;
    for (size_t t = 0; t < c->n_train; t++) {
        int k = 0;
        while (k < n && c->train[t] >= cutoffs[k]) k++;
        freq[k] += 1;
    }
    for (int i = 0; i <= n; i++) freq[i] /= (double)c->n_train;
}

/* A checksum of the token ids of train, valid and test (in that order, positions i counted
   through all three): sum of id_i * (i mod 1000003 + 1), which torch_ref.py computes the same way,
   so that the report can check that both sides numbered the words alike. */
static uint64_t ids_check(const corpus *c)
{
    uint64_t h = 0, i = 0;
    const int32_t *part[3] = {c->train, c->valid, c->test};
    size_t n[3] = {c->n_train, c->n_valid, c->n_test};
    for (int k = 0; k < 3; k++)
        for (size_t t = 0; t < n[k]; t++, i++) h += (uint64_t)part[k][t] * (i % 1000003 + 1);
    return h;
}

static void print_list(const char *key, const double *v, int n)
{
    printf(", \"%s\": [", key);
    for (int i = 0; i < n; i++) printf("%s%.6f", i ? ", " : "", v[i]);
    printf("]");
}

static int blas_threads(void)
{
#ifdef OPENBLAS_VERSION
    return openblas_get_num_threads();
#else
    const char *e = getenv("OPENBLAS_NUM_THREADS");
    return e ? atoi(e) : 0;
#endif
}

/* ---- run: train, RSS, evaluate, generate ----------------------------------------------------- */
static int cmd_run(int argc, char **argv)
{
    const char *data = "../shared/data/wikitext-2", *cellname = "LSTM", *setting = "";
    int nb = 30, warm = 3, neval = 50, ngen = 2000, run = 0, threads = 0, lib_threads = 1;
    double cap = 0; /* seconds: evaluation and generation each stop early after this long (0: no cap) */
    const char *output = "full", *cutoff_list = "2000,10000";
    float div_value = 4.0f;
    int head_bias = 0, freq_order = -1; /* -1: on with adaptive, off with full */
    const char *weights = "fp32";
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--data")) data = v;
        else if (!strcmp(k, "--cell")) cellname = v;
        else if (!strcmp(k, "--train-batches")) nb = atoi(v);
        else if (!strcmp(k, "--warmup")) warm = atoi(v);
        else if (!strcmp(k, "--eval-chunks")) neval = atoi(v);
        else if (!strcmp(k, "--gen-tokens")) ngen = atoi(v);
        else if (!strcmp(k, "--run")) run = atoi(v);
        else if (!strcmp(k, "--threads")) threads = atoi(v); /* a label: OPENBLAS_NUM_THREADS sets it */
        else if (!strcmp(k, "--setting")) setting = v;
        else if (!strcmp(k, "--lib-threads")) lib_threads = atoi(v);
        else if (!strcmp(k, "--max-seconds")) cap = atof(v);
        else if (!strcmp(k, "--output")) output = v;
        else if (!strcmp(k, "--cutoffs")) cutoff_list = v;
        else if (!strcmp(k, "--div-value")) div_value = (float)atof(v);
        else if (!strcmp(k, "--head-bias")) head_bias = atoi(v);
        else if (!strcmp(k, "--freq-order")) freq_order = atoi(v);
        else if (!strcmp(k, "--weights")) weights = v;
        else die("unknown option", k);
    }
    int wtype = !strcmp(weights, "fp32") ? RNN_WEIGHTS_FP32 : !strcmp(weights, "bf16") ? RNN_WEIGHTS_BF16
              : !strcmp(weights, "q8") ? RNN_WEIGHTS_Q8 : -1;
    if (wtype < 0) die("unknown --weights", weights);
    int adaptive = !strcmp(output, "adaptive");
    if (!adaptive && strcmp(output, "full")) die("unknown --output", output);
    if (freq_order < 0) freq_order = adaptive;
    char err[CORPUS_ERR_SIZE];
    corpus c;
    if (corpus_load_dir(&c, data, NULL, err, sizeof err) != RNN_OK) die("corpus", err);
    const int V = vocab_size(c.vocab);
    if (freq_order) order_by_frequency(&c, V);
    int cutoffs[RNN_MAX_CUTOFFS] = {0}, ncut = 0;
    double freq[RNN_MAX_CUTOFFS + 1];
    if (adaptive) {
        parse_cutoffs(cutoff_list, cutoffs, &ncut);
        cluster_freq(&c, cutoffs, ncut, freq);
    }

    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg); /* LSTM/E 200/H 200/L 2/dropout 0.2/untied/seed 1111 */
    cfg.cell = cell_of(cellname);
    cfg.vocab_size = V;
    if (adaptive) {
        cfg.output = RNN_OUTPUT_ADAPTIVE;
        cfg.num_cutoffs = ncut;
        memcpy(cfg.cutoffs, cutoffs, sizeof cutoffs);
        cfg.div_value = div_value;
        cfg.head_bias = head_bias;
    }
    rnn_allocator al = {sizeof al, count_alloc, count_free, NULL};
    rnn_model *m;
    char cerr[256] = "";
    int crc = rnn_model_create(&m, &cfg, &al, cerr, sizeof cerr);
    if (crc != RNN_OK) die("rnn_model_create", cerr[0] ? cerr : rnn_status_string(crc));
    CHECK(rnn_model_set_threads(m, lib_threads), m);

    /* training: main.py's train(), batch 20, bptt 35 */
    const int B = 20, T = 35, EB = 10;
    corpus_batches tb;
    if (corpus_batches_init(&tb, c.train, c.n_train, B, T, CORPUS_BATCH_MAIN, err, sizeof err)) die("batches", err);
    if ((size_t)(warm + nb) > tb.num_chunks) die("train", "too many batches");
    int32_t *tok = malloc(sizeof(int32_t) * B * T), *tgt = malloc(sizeof(int32_t) * B * T);
    if (!tok || !tgt) die("malloc", "out of memory");
    CHECK(rnn_model_reset_hidden(m, B), m);
    double loss = 0, t0 = 0, c0 = 0, tokens = 0;
    long a0 = 0;
    for (int k = 0; k < warm + nb; k++) {
        int steps;
        corpus_batches_get(&tb, (size_t)k, tok, tgt, &steps);
        if (k == warm) { t0 = now(); c0 = cpu_now(); a0 = n_alloc; }
        CHECK(rnn_forward(m, tok, tgt, B, steps, 0, &loss), m);
        CHECK(rnn_zero_grad(m), m);
        CHECK(rnn_backward(m), m);
        CHECK(rnn_clip_grad_norm(m, 0.25f, NULL), m);
        CHECK(rnn_sgd_step(m, 20.0f), m);
        if (k >= warm) tokens += (double)B * steps;
    }
    double train_s = now() - t0, train_cpu_s = cpu_now() - c0;
    long allocs_train = n_alloc - a0;
    double rss = peak_rss_mb();
    if (wtype != RNN_WEIGHTS_FP32) CHECK(rnn_model_quantize(m, wtype), m);
    size_t file_bytes = 0;
    CHECK(rnn_model_save_mem(m, NULL, 0, &file_bytes, 0, NULL, 0), m);

    /* evaluation: main.py's evaluate(), batch 10, bptt 35, on the validation set */
    corpus_batches vb;
    if (corpus_batches_init(&vb, c.valid, c.n_valid, EB, T, CORPUS_BATCH_MAIN, err, sizeof err)) die("batches", err);
    int ewarm = neval > 0 ? 2 : 0; /* --eval-chunks 0: no evaluation */
    if ((size_t)(ewarm + neval) > vb.num_chunks) die("eval", "too many chunks");
    CHECK(rnn_model_reset_hidden(m, EB), m);
    double eval_s = 0, etokens = 0, eloss = 0;
    long allocs_eval = 0;
    int echunks = 0;
    for (int k = 0; k < ewarm + neval; k++) {
        int steps;
        corpus_batches_get(&vb, (size_t)k, tok, tgt, &steps);
        if (k == ewarm) { t0 = now(); c0 = cpu_now(); a0 = n_alloc; }
        CHECK(rnn_evaluate(m, tok, tgt, EB, steps, 0, &eloss, NULL), m);
        if (k >= ewarm) {
            etokens += (double)EB * steps;
            echunks++;
            if (cap > 0 && echunks >= 3 && now() - t0 > cap) break;
        }
    }
    eval_s = now() - t0;
    double eval_cpu_s = cpu_now() - c0;
    allocs_eval = n_alloc - a0;
    if (neval <= 0) { eval_s = eval_cpu_s = 1; allocs_eval = 0; } /* no evaluation: 0 tokens/s in the JSON */

    /* generation: generate.py's loop, batch 1, temperature 1, one token per step (--gen-tokens 0:
       neither generation figure) */
    rnn_state *st = NULL;
    int32_t *out = NULL;
    int gtokens = 0, g8 = 0;
    double gen_s = 1, gen8_s = 1, gen_cpu_s = 1;
    long allocs_gen = 0;
    enum { GB = 8 };
    if (ngen > 0) {
        CHECK(rnn_state_create(&st, m, 1, 1111), m);
        int32_t start = (int32_t)(V / 2);
        out = malloc(sizeof(int32_t) * (size_t)(ngen + 20));
        if (!out) die("malloc", "out of memory");
        if (rnn_state_feed(st, &start, 1, 0) || rnn_state_generate(st, NULL, 20, out))
            die("generate", rnn_state_errmsg(st)); /* warm-up */
        t0 = now();
        c0 = cpu_now();
        a0 = n_alloc;
        while (gtokens < ngen) { /* blocks of <= 10 tokens, so that the time cap can be checked */
            int n = ngen - gtokens < 10 ? ngen - gtokens : 10;
            if (rnn_state_generate(st, NULL, n, out + gtokens)) die("generate", rnn_state_errmsg(st));
            gtokens += n;
            if (cap > 0 && gtokens >= 20 && now() - t0 > cap) break;
        }
        gen_s = now() - t0;
        gen_cpu_s = cpu_now() - c0;
        allocs_gen = n_alloc - a0;

        /* batched generation: 8 independent streams advanced together (one state, batch 8) */
        rnn_state *st8;
        CHECK(rnn_state_create(&st8, m, GB, 1111), m);
        int32_t starts[GB], *out8 = malloc(sizeof(int32_t) * GB * 10);
        if (!out8) die("malloc", "out of memory");
        for (int b = 0; b < GB; b++) starts[b] = (int32_t)((V / 2 + 97 * b) % V);
        if (rnn_state_feed(st8, starts, 1, 0) || rnn_state_generate(st8, NULL, 5, out8))
            die("generate", rnn_state_errmsg(st8)); /* warm-up */
        t0 = now();
        a0 = n_alloc;
        while (g8 < ngen / 2) {
            if (rnn_state_generate(st8, NULL, 10, out8)) die("generate", rnn_state_errmsg(st8));
            g8 += 10;
            if (cap > 0 && g8 >= 20 && now() - t0 > cap) break;
        }
        gen8_s = now() - t0;
        allocs_gen += n_alloc - a0;
        rnn_state_free(st8);
        free(out8);
    }

    printf("{\"impl\": \"ours\", \"output\": \"%s\", \"cutoffs\": \"%s\", \"vocab\": %d, \"freq_order\": %d, "
           "\"ids_check\": %llu, ",
           output, adaptive ? cutoff_list : "", V, freq_order, (unsigned long long)ids_check(&c));
    if (wtype != RNN_WEIGHTS_FP32) printf("\"weights\": \"%s\", ", weights);
    if (adaptive) {
        printf("\"div_value\": %g, \"head_bias\": %d", (double)div_value, head_bias);
        print_list("cluster_freq", freq, ncut + 1);
        printf(", ");
    }
    printf("\"cell\": \"%s\", \"threads\": %d, \"lib_threads\": %d, \"blas_threads\": %d, \"setting\": \"%s\", "
           "\"run\": %d, \"train_batches\": %d, \"train_tokens\": %.0f, \"train_s\": %.4f, \"train_cpu_s\": %.4f, \"train_tok_s\": %.1f, "
           "\"last_loss\": %.4f, \"peak_rss_mb\": %.1f, \"eval_chunks\": %d, \"eval_tok_s\": %.1f, "
           "\"gen_tokens\": %d, \"gen_tok_s\": %.1f, \"gen8_tok_s\": %.1f, \"allocs_train\": %ld, \"allocs_eval\": %ld, "
           "\"allocs_gen\": %ld, \"file_mb\": %.2f, \"eval_cpu_tok_s\": %.1f, \"gen_cpu_tok_s\": %.1f}\n",
           cellname, threads ? threads : blas_threads(), lib_threads, blas_threads(), setting, run, nb, tokens, train_s, train_cpu_s,
           tokens / train_s, loss, rss,
           echunks, etokens / eval_s, gtokens, gtokens / gen_s, GB * g8 / gen8_s, allocs_train, allocs_eval,
           allocs_gen, file_bytes / 1e6, etokens / eval_cpu_s, gtokens / gen_cpu_s);
    fflush(stdout);
    rnn_state_free(st);
    rnn_model_free(m);
    free(out);
    free(tok);
    free(tgt);
    corpus_free(&c);
    return (allocs_train || allocs_eval || allocs_gen) ? 2 : 0;
}

/* ---- gemm: the roofline --------------------------------------------------------------------- */
typedef struct shape {
    const char *name;
    int ta, tb, M, N, K;
    int per_chunk; /* calls per training chunk (per layer for layer shapes) */
} shape;

/* The 6 products of one recurrent layer in a chunk of B x T tokens (N = B T rows), gate width GH,
 * input size E, hidden size H (every layer has input size E or H = 200: the same shapes for both);
 * `gemm` and `gemm-adaptive` time the same list. */
static void layer_shapes(shape lay[6], int B, int T, int E, int H, int GH)
{
    const int N = B * T;
    const shape s[6] = {
        {"layer fwd  input  X W_ih^T (all steps)", 0, 1, N, GH, E, 1},
        {"layer fwd  recur  h W_hh^T (per step)", 0, 1, B, GH, H, T},
        {"layer bwd  dW_ih = dG^T X", 1, 0, GH, E, N, 1},
        {"layer bwd  dX = dG W_ih", 0, 0, N, E, GH, 1},
        {"layer bwd  dW_hh = dG^T h (all steps)", 1, 0, GH, H, N, 1},
        {"layer bwd  dh = dG W_hh (per step)", 0, 0, B, H, GH, T},
    };
    memcpy(lay, s, sizeof s);
}

/* Best time of one call over reps timings: CPU time (returned) and wall time (*wall). */
static double time_gemm(const shape *s, int reps, float *A, float *Bm, float *C, double *wall)
{
    int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    double best = 1e30, bestw = 1e30;
    for (int r = 0; r < reps; r++) {
        /* small shapes are timed over many calls, so that one timing is >= ~20 ms */
        int inner = 1;
        double flops = 2.0 * s->M * s->N * s->K;
        if (flops < 2e8) inner = (int)(2e8 / flops) + 1;
        double t = cpu_now(), w = now();
        for (int i = 0; i < inner; i++)
            cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans, s->M,
                        s->N, s->K, 1.0f, A, lda, Bm, ldb, 1.0f, C, s->N);
        t = (cpu_now() - t) / inner;
        w = (now() - w) / inner;
        if (t < best) best = t;
        if (w < bestw) bestw = w;
    }
    *wall = bestw;
    return best;
}

static int cmd_gemm(int argc, char **argv)
{
    int reps = 5;
    for (int i = 2; i + 1 < argc; i += 2)
        if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else die("unknown option", argv[i]);
    const int B = 20, T = 35, N = B * T, H = 200, E = 200, V = 33278;
    float *A = malloc(sizeof(float) * (size_t)V * N), *Bm = malloc(sizeof(float) * (size_t)V * N),
          *C = malloc(sizeof(float) * (size_t)V * N);
    if (!A || !Bm || !C) die("malloc", "out of memory");
    for (size_t i = 0; i < (size_t)V * N; i++) A[i] = Bm[i] = C[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;

    const shape dec[3] = {
        {"decoder fwd  logits = X W^T", 0, 1, N, V, H, 1},
        {"decoder bwd  dW = dY^T X", 1, 0, V, H, N, 1},
        {"decoder bwd  dX = dY W", 0, 0, N, H, V, 1},
    };
    const char *cells[3] = {"LSTM", "GRU", "RNN_TANH"};
    const int gates[3] = {4, 3, 1};
    double dec_t = 0;
    for (int i = 0; i < 3; i++) {
        double w, t = time_gemm(&dec[i], reps, A, Bm, C, &w), f = 2.0 * dec[i].M * dec[i].N * dec[i].K;
        dec_t += t;
        printf("{\"kind\": \"gemm\", \"shape\": \"%s\", \"trans\": \"%c%c\", \"M\": %d, \"N\": %d, \"K\": %d, "
               "\"calls_per_chunk\": 1, \"gflops\": %.2f, \"gflops_wall\": %.2f}\n",
               dec[i].name, dec[i].ta ? 'T' : 'N', dec[i].tb ? 'T' : 'N', dec[i].M, dec[i].N, dec[i].K, f / t * 1e-9,
               f / w * 1e-9);
        fflush(stdout);
    }
    for (int c = 0; c < 3; c++) {
        int GH = gates[c] * H;
        shape lay[6];
        layer_shapes(lay, B, T, E, H, GH);
        double lay_t = 0, lay_f = 0;
        for (int i = 0; i < 6; i++) {
            double w, t = time_gemm(&lay[i], reps, A, Bm, C, &w), f = 2.0 * lay[i].M * lay[i].N * lay[i].K;
            lay_t += t * lay[i].per_chunk;
            lay_f += f * lay[i].per_chunk;
            printf("{\"kind\": \"gemm\", \"cell\": \"%s\", \"shape\": \"%s\", \"trans\": \"%c%c\", \"M\": %d, "
                   "\"N\": %d, \"K\": %d, \"calls_per_chunk\": %d, \"gflops\": %.2f, \"gflops_wall\": %.2f}\n",
                   cells[c], lay[i].name, lay[i].ta ? 'T' : 'N', lay[i].tb ? 'T' : 'N', lay[i].M, lay[i].N, lay[i].K,
                   lay[i].per_chunk, f / t * 1e-9, f / w * 1e-9);
            fflush(stdout);
        }
        const int L = 2;
        double flops_tok = 6.0 * H * V + L * 6.0 * GH * (E + H); /* == (dec_f + L * lay_f) / N */
        double chunk_t = dec_t + L * lay_t;
        printf("{\"kind\": \"roofline\", \"cell\": \"%s\", \"flops_per_token\": %.0f, \"check\": %.0f, "
               "\"gemm_s_per_batch\": %.4f, \"limit_tok_s\": %.1f, \"gflops_mixed\": %.2f}\n",
               cells[c], flops_tok, (6.0 * H * V * N + L * lay_f) / N, chunk_t, N / chunk_t,
               flops_tok * N / chunk_t * 1e-9);
        fflush(stdout);
    }
    free(A);
    free(Bm);
    free(C);
    return 0;
}

/* ---- gemm-adaptive: the adaptive roofline ----------------------------------------------------- */
static double time_print(const shape *s, int reps, float *A, float *Bm, float *C, const char *cell)
{
    double w, t = time_gemm(s, reps, A, Bm, C, &w), f = 2.0 * s->M * s->N * s->K;
    printf("{\"kind\": \"gemm\", \"output\": \"adaptive\", \"cell\": \"%s\", \"shape\": \"%s\", \"trans\": \"%c%c\", "
           "\"M\": %d, \"N\": %d, \"K\": %d, \"calls_per_chunk\": %d, \"gflops\": %.2f, \"gflops_wall\": %.2f}\n",
           cell, s->name, s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', s->M, s->N, s->K, s->per_chunk, f / t * 1e-9,
           f / w * 1e-9);
    fflush(stdout);
    return t * s->per_chunk;
}

static int cmd_gemm_adaptive(int argc, char **argv)
{
    int reps = 5;
    const char *data = "../shared/data/wikitext-2", *cutoff_list = "2000,10000", *cellname = "LSTM";
    double div_value = 4.0;
    for (int i = 2; i + 1 < argc; i += 2)
        if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--data")) data = argv[i + 1];
        else if (!strcmp(argv[i], "--cutoffs")) cutoff_list = argv[i + 1];
        else if (!strcmp(argv[i], "--div-value")) div_value = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--cell")) cellname = argv[i + 1];
        else die("unknown option", argv[i]);
    int G = 0;
    switch (cell_of(cellname)) {
    case RNN_CELL_LSTM: G = 4; break;
    case RNN_CELL_GRU: G = 3; break;
    default: G = 1;
    }
    char err[CORPUS_ERR_SIZE];
    corpus c;
    if (corpus_load_dir(&c, data, NULL, err, sizeof err) != RNN_OK) die("corpus", err);
    const int V = vocab_size(c.vocab);
    order_by_frequency(&c, V);
    int cutoffs[RNN_MAX_CUTOFFS + 1], n = 0;
    double freq[RNN_MAX_CUTOFFS + 1];
    parse_cutoffs(cutoff_list, cutoffs, &n);
    cluster_freq(&c, cutoffs, n, freq);
    corpus_free(&c);
    cutoffs[n] = V;

    const int B = 20, T = 35, N = B * T, H = 200, E = 200, L = 2, GH = G * H;
    const int head = cutoffs[0] + n;
    size_t big = (size_t)N * (size_t)(V > GH ? V : GH);
    float *A = malloc(sizeof(float) * big), *Bm = malloc(sizeof(float) * big), *C = malloc(sizeof(float) * big);
    if (!A || !Bm || !C) die("malloc", "out of memory");
    for (size_t i = 0; i < big; i++) A[i] = Bm[i] = C[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;

    /* the layers: as `gemm` */
    shape lay[6];
    layer_shapes(lay, B, T, E, H, GH);
    double lay_t = 0;
    for (int i = 0; i < 6; i++) lay_t += time_print(&lay[i], reps, A, Bm, C, cellname);
    /* the head: every row */
    const shape hd[3] = {
        {"head fwd  X W_head^T", 0, 1, N, head, H, 1},
        {"head bwd  dW_head = dY^T X", 1, 0, head, H, N, 1},
        {"head bwd  dX = dY W_head", 0, 0, N, H, head, 1},
    };
    double out_t = 0, out_f = 6.0 * H * head; /* FLOPs per token of the output layer */
    for (int i = 0; i < 3; i++) out_t += time_print(&hd[i], reps, A, Bm, C, cellname);
    /* cluster i: the rows whose target is in it (n_i = p_i * N, the mean over the corpus), each
       through Linear(H, d) then Linear(d, size): 2 GEMMs forward, 4 backward */
    double d_div = 1;
    char names[RNN_MAX_CUTOFFS][6][64];
    for (int i = 0; i < n; i++) {
        d_div *= div_value;
        int d = (int)(H / d_div), size = cutoffs[i + 1] - cutoffs[i];
        int rows = (int)(freq[i + 1] * N + 0.5);
        if (rows < 1) rows = 1;
        out_f += 6.0 * freq[i + 1] * d * (H + size);
        snprintf(names[i][0], 64, "tail %d fwd  P = X W0^T", i);
        snprintf(names[i][1], 64, "tail %d fwd  Z = P W1^T", i);
        snprintf(names[i][2], 64, "tail %d bwd  dW1 = dZ^T P", i);
        snprintf(names[i][3], 64, "tail %d bwd  dP = dZ W1", i);
        snprintf(names[i][4], 64, "tail %d bwd  dW0 = dP^T X", i);
        snprintf(names[i][5], 64, "tail %d bwd  dX = dP W0", i);
        const shape tl[6] = {
            {names[i][0], 0, 1, rows, d, H, 1},    {names[i][1], 0, 1, rows, size, d, 1},
            {names[i][2], 1, 0, size, d, rows, 1}, {names[i][3], 0, 0, rows, d, size, 1},
            {names[i][4], 1, 0, d, H, rows, 1},    {names[i][5], 0, 0, rows, H, d, 1},
        };
        for (int k = 0; k < 6; k++) out_t += time_print(&tl[k], reps, A, Bm, C, cellname);
    }
    double lay_f = L * 6.0 * GH * (E + H), chunk_t = L * lay_t + out_t;
    printf("{\"kind\": \"roofline\", \"output\": \"adaptive\", \"cell\": \"%s\", \"cutoffs\": \"%s\", \"div_value\": %g, "
           "\"vocab\": %d",
           cellname, cutoff_list, div_value, V);
    print_list("cluster_freq", freq, n + 1);
    printf(", \"output_flops_per_token\": %.0f, \"full_output_flops_per_token\": %.0f, \"flops_per_token\": %.0f, "
           "\"output_gemm_s_per_batch\": %.5f, \"gemm_s_per_batch\": %.5f, \"limit_tok_s\": %.1f, \"gflops_mixed\": %.2f}\n",
           out_f, 6.0 * H * V, out_f + lay_f, out_t, chunk_t, N / chunk_t, (out_f + lay_f) * N / chunk_t * 1e-9);
    fflush(stdout);
    free(A);
    free(Bm);
    free(C);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "run")) return cmd_run(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "gemm")) return cmd_gemm(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "gemm-adaptive")) return cmd_gemm_adaptive(argc, argv);
    fprintf(stderr, "usage: bench run [options] | bench gemm [--reps R] | bench gemm-adaptive [options]   (see bench/README.md)\n");
    return 1;
}
