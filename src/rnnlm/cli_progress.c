/*
 * cli_progress.c -- what `rnnlm train` reports while it runs: main.py's log lines on stdout (plus
 * tokens/s), a live progress bar on stderr when it is a terminal, and the --metrics records (JSON
 * lines, written by metrics_write alone).
 */
#define RNN_EXPERT_API /* rnn_param_get_block: the summary counts the parameters */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli_mpi.h"
#include "cli_train.h"

/* ---- --metrics --------------------------------------------------------------------------------- */
typedef struct metric {
    const char *key;
    double x;
} metric;

/* One --metrics record, flushed: {"epoch":E,"batch":B,"key":x,...} (epoch, batch 0: left out),
   and last, when akey is not NULL, "akey":[av[0],...] (an numbers). Returns fflush's result (0
   without a metrics file). */
static int metrics_write_array(trainer *t, int epoch, size_t batch, const metric *m, int n, const char *akey,
                               const double *av, int an)
{
    FILE *f = t->metrics;
    if (!f) return 0;
    fputc('{', f);
    if (epoch) fprintf(f, "\"epoch\":%d,", epoch);
    if (batch) fprintf(f, "\"batch\":%zu,", batch);
    for (int i = 0; i < n; i++) cli_json_num(f, m[i].key, m[i].x, i == n - 1 && !akey);
    if (akey) {
        fprintf(f, "\"%s\":[", akey);
        for (int j = 0; j < an; j++) {
            if (j) fputc(',', f);
            if (isfinite(av[j])) fprintf(f, "%.10g", av[j]);
            else fputs("null", f);
        }
        fputc(']', f);
    }
    fputs("}\n", f);
    return fflush(f);
}

static int metrics_write(trainer *t, int epoch, size_t batch, const metric *m, int n)
{
    return metrics_write_array(t, epoch, batch, m, n, NULL, NULL, 0);
}

/*
 * Under mpirun, the interval's record also holds (rank 0 gathers them; every rank calls this):
 * world_size; rank_tokens_per_s, each rank's tokens per second of its own work (the interval less
 * the exchange and the wait for the other ranks before it: a slow rank shows here, and their sum
 * against tokens_per_s shows what the exchange costs); allreduce_ms, the gradient exchange's time
 * per step (the ranks' mean); allreduce_floats, the floats each step exchanged (fewer than the
 * parameters when the sparse exchange left out embedding rows: cli_train_dp.c).
 */
static void metrics_interval(trainer *t, int epoch, size_t batch, metric *base, int nbase, double el)
{
    int K = mpi_size();
    double steps = t->iv_here ? (double)t->iv_here : 1.0, work = el - t->wait_s - t->reduce_s;
    double mine[3] = {t->iv_tokens * t->rows / t->a->batch_size / (work > 0 ? work : 1e-9),
                      t->reduce_s * 1000.0 / steps, t->reduce_floats / steps};
    double *all = mpi_rank() == 0 ? malloc(sizeof *all * 4 * (size_t)K) : NULL;
    double lost = mpi_rank() == 0 && !all ? 1.0 : 0.0;
    mpi_sum(&lost, 1); /* rank 0 out of memory: every rank skips the gather (no record, no hang) */
    if (lost > 0.0) return;
    mpi_gather_doubles(mine, all, 3);
    if (mpi_rank() == 0) {
        double *speed = all + 3 * (size_t)K, ms = 0.0;
        for (int r = 0; r < K; r++) speed[r] = all[3 * r], ms += all[3 * r + 1] / K;
        metric m[8];
        memcpy(m, base, sizeof *m * (size_t)nbase);
        m[nbase] = (metric){"world_size", K};
        m[nbase + 1] = (metric){"allreduce_ms", ms};
        m[nbase + 2] = (metric){"allreduce_floats", all[2]};
        metrics_write_array(t, epoch, batch, m, nbase + 3, "rank_tokens_per_s", speed, K);
    }
    free(all);
}

/* ---- The progress bar -------------------------------------------------------------------------- */
void progress_clear(const trainer *t)
{
    if (t->bar) fputs("\r\033[K", stderr);
}

static void format_eta(double s, char *buf, size_t n)
{
    long v = s > 0 && s < 1e9 ? (long)(s + 0.5) : 0;
    if (v >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", v / 3600, v / 60 % 60, v % 60);
    else snprintf(buf, n, "%ld:%02ld", v / 60, v % 60);
}

void progress_bar(trainer *t, int epoch, size_t done, int force)
{
    double now = cli_now();
    if (!t->bar || (!force && now - t->bar_drawn < 0.1)) return;
    t->bar_drawn = now;
    const train_pos *p = &t->pos;
    double el = now - t->ep_start, loss = p->iv_n ? p->iv_loss / (double)p->iv_n : p->last_loss;
    char bar[21], eta[32];
    size_t fill = done * 20 / t->nbatches, here = done - t->ep_first;
    for (size_t i = 0; i < 20; i++) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    bar[20] = 0;
    format_eta(here ? el / (double)here * (double)(t->nbatches - done) : 0, eta, sizeof eta);
    fprintf(stderr,
            "\r\033[Kepoch %d [%s] %zu/%zu %3.0f%% | loss %5.2f | ppl %8.2f | lr %.2f"
            " | %.0f tok/s | ETA %s",
            epoch, bar, done, t->nbatches, 100.0 * (double)done / (double)t->nbatches, loss,
            exp(loss), p->lr, t->ep_tokens / (el > 0 ? el : 1e-9), eta);
    fflush(stderr);
}

/* ---- main.py's lines --------------------------------------------------------------------------- */
void progress_rule(char c)
{
    char line[90];
    memset(line, c, 89);
    line[89] = 0;
    puts(line);
}

/*
 * The batches of an epoch, one number everywhere (the summary, the log lines, the progress bar,
 * --resume's line): those the epoch trains, t->nbatches. main.py's loop runs
 * range(0, train_data.size(0) - 1, bptt), ceil((len - 1) / bptt) batches, the last one shorter;
 * its log line divides by len(train_data) // bptt, which leaves that last batch out whenever
 * len % bptt is not 0 or 1 (it printed 17 where 18 batches ran). The count the loop runs is the
 * one that means something (the bar reaches it, a checkpoint's position counts it), so the log
 * line says it too.
 */
static size_t logged_total(const trainer *t) { return t->nbatches; }

/* The loss covers the whole interval (also the batches before a resume); the timings only this
   process's part of it. */
void progress_interval(trainer *t, int epoch, size_t batch)
{
    train_pos *p = &t->pos;
    double now = cli_now(), el = now - t->iv_start;
    double loss = p->iv_loss / (double)p->iv_n, tps = t->iv_tokens / (el > 0 ? el : 1e-9);
    double ms = t->iv_here ? el * 1000.0 / (double)t->iv_here : 0.0;
    progress_clear(t);
    printf("| epoch %3d | %5zu/%5zu batches | lr %02.2f | ms/batch %5.2f | loss %5.2f | ppl %8.2f"
           " | tokens/s %7.0f\n",
           epoch, batch, logged_total(t), p->lr, ms, loss, exp(loss), tps);
    fflush(stdout);
    metric m[] = {{"loss", loss}, {"ppl", exp(loss)}, {"lr", p->lr}, {"tokens_per_s", tps}};
    if (mpi_active()) metrics_interval(t, epoch, batch, m, 4, el);
    else metrics_write(t, epoch, batch, m, 4);
    p->last_loss = loss;
    p->iv_loss = 0.0, p->iv_n = 0;
    t->iv_tokens = 0.0, t->iv_here = 0, t->iv_start = now;
    t->reduce_s = t->wait_s = t->reduce_floats = 0.0;
}

/* The adaptive softmax of cfg (over the corpus c): its settings, then the head and each cluster with
   its words, its projection and its share of the training tokens (the head's: the words it holds;
   a cluster's: its words, reached through the head's entry for it). */
static void summary_adaptive(const rnn_config *cfg, const corpus *c)
{
    int n = cfg->num_cutoffs;
    size_t in[RNN_MAX_CUTOFFS + 1] = {0};
    for (size_t i = 0; i < c->n_train; i++) {
        int k = 0;
        while (k < n && c->train[i] >= cfg->cutoffs[k]) k++;
        in[k]++;
    }
    double all = c->n_train ? (double)c->n_train : 1.0;
    printf("| output: adaptive softmax, cutoffs ");
    for (int i = 0; i < n; i++) printf(i ? ",%d" : "%d", cfg->cutoffs[i]);
    printf(", div_value %g, %s\n", cfg->div_value == 0.0f ? 4.0 : (double)cfg->div_value,
           cfg->head_bias ? "head bias" : "no head bias");
    printf("|   head: words 0-%d (%d) and %d cluster%s: %.1f%% of the training tokens\n", cfg->cutoffs[0] - 1,
           cfg->cutoffs[0], n, n == 1 ? "" : "s", 100.0 * (double)in[0] / all);
    for (int i = 0; i < n; i++) {
        int end = i + 1 < n ? cfg->cutoffs[i + 1] : cfg->vocab_size, proj = (int)rnn__adaptive_proj(cfg, i);
        printf("|   cluster %d: words %d-%d (%d) through %d unit%s: %.1f%% of the training tokens\n", i,
               cfg->cutoffs[i], end - 1, end - cfg->cutoffs[i], proj, proj == 1 ? "" : "s",
               100.0 * (double)in[i + 1] / all);
    }
}

void progress_summary(const trainer *t)
{
    const train_args *a = t->a;
    const corpus *c = &t->c;
    printf("| vocabulary: %d words, ", (int)vocab_size(c->vocab));
    if (a->init) printf("those of --init's model\n");
    else if (!train_vocab_by_count(a) && a->num_cutoffs > 0)
        printf("every word of train, valid and test (data.py), ids by descending count in train.txt "
               "(--adaptive-cutoffs)\n");
    else if (!train_vocab_by_count(a)) printf("every word of train, valid and test (data.py)\n");
    else if (a->vocab_size > 0 && a->min_count > 0)
        printf("<unk> and train.txt's most frequent (--vocab-size %d, --min-count %d)\n", a->vocab_size,
               a->min_count);
    else if (a->vocab_size > 0) printf("<unk> and train.txt's most frequent (--vocab-size %d)\n", a->vocab_size);
    else printf("<unk> and train.txt's words seen %d times or more (--min-count %d)\n", a->min_count,
                a->min_count);
    printf("| tokens: train %zu, valid %zu, test %zu; became <unk>: train %zu, valid %zu, test %zu\n",
           c->n_train, c->n_valid, c->n_test, c->unk_train, c->unk_valid, c->unk_test);
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    size_t np = 0;
    float *block = NULL;
    const char *cell = "?";
    rnn_model_get_config(t->m, &cfg);
    rnn_cell_name(cfg.cell, &cell);
    rnn_param_get_block(t->m, &block, NULL, &np);
    printf("| model: %s, %d layers, emsize %d, nhid %d%s, dropout %.2f: %zu parameters\n", cell, cfg.num_layers, cfg.emb_size, cfg.hidden_size, cfg.tied ? ", tied" : "",
           (double)cfg.dropout, np);
    if (cfg.output == RNN_OUTPUT_ADAPTIVE) summary_adaptive(&cfg, c);
    printf("| batches: %zu", t->nbatches);
    if (t->nbatches < t->train.num_chunks) printf(" of %zu", t->train.num_chunks);
    printf(" per epoch%s, %d x %d tokens; validation %zu", t->nbatches < t->train.num_chunks ? (a->dry_run ? " (--dry-run)" : " (--max-batches)") : "",
           a->batch_size, a->bptt, t->valid.num_chunks);
    if (t->valid.num_chunks < t->valid_all) printf(" of %zu", t->valid_all);
    printf(", test %zu", t->test.num_chunks);
    if (t->test.num_chunks < t->test_all) printf(" of %zu", t->test_all);
    printf("%s, %d x %d tokens\n", t->valid.num_chunks < t->valid_all || t->test.num_chunks < t->test_all
                                       ? (a->dry_run ? " (--dry-run)" : " (--max-eval-batches)") : "",
           TRAIN_EVAL_BATCH, a->bptt);
    printf("| seed: %lld%s\n", a->seed, a->seed_random ? " (drawn at random: --seed -1)" : "");
    if (mpi_active()) {
        int threads = cli_threads(a->threads);
        printf("| processes: %d (mpirun), %d of the %d streams each, %d thread%s each\n", mpi_size(), t->rows,
               a->batch_size, threads, threads == 1 ? "" : "s");
    }
    fflush(stdout);
}

void progress_epoch(trainer *t, int epoch, double val, double secs)
{
    progress_rule('-');
    printf("| end of epoch %3d | time: %5.2fs | valid loss %5.2f | valid ppl %8.2f\n", epoch, secs,
           val, exp(val));
    progress_rule('-');
    fflush(stdout);
    metric m[] = {{"valid_loss", val}, {"valid_ppl", exp(val)}, {"lr", t->pos.lr}, {"seconds", secs}};
    metrics_write(t, epoch, 0, m, 4);
}

int progress_test(trainer *t, double loss)
{
    progress_rule('=');
    printf("| End of training | test loss %5.2f | test ppl %8.2f\n", loss, exp(loss));
    progress_rule('=');
    fflush(stdout);
    metric m[] = {{"test_loss", loss}, {"test_ppl", exp(loss)}};
    RETURN_ERROR_IF(metrics_write(t, 0, 0, m, 2) != 0, CLI_RUNTIME, "cannot write %s", t->a->metrics);
    return CLI_OK;
}
