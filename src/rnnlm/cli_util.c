/*
 * cli_util.c -- helpers shared by the rnnlm commands: loading a checkpoint with its vocabulary,
 * main.py's evaluate(), threads, clocks, JSON numbers and atomic output files.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* OpenBLAS's thread control, if the BLAS linked in has it (reference BLAS does not). */
extern void openblas_set_num_threads(int n) __attribute__((weak));

int cli_set_threads(rnn_model *m, int n)
{
    if (n <= 0) { /* not given: one per online CPU */
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus < 1 ? 1 : cpus > RNN_MAX_THREADS ? RNN_MAX_THREADS : (int)cpus;
    }
    if (openblas_set_num_threads) openblas_set_num_threads(1); /* librnn's threads split the products */
    if (rnn_set_threads(m, n) != RNN_OK) {
        fprintf(stderr, "rnnlm: --threads %d: %s\n", n, rnn_errmsg(m));
        return CLI_RUNTIME;
    }
    return CLI_OK;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cli_json_num(FILE *f, const char *key, double x, int last)
{
    if (isfinite(x)) fprintf(f, "\"%s\":%.10g%s", key, x, last ? "" : ",");
    else fprintf(f, "\"%s\":null%s", key, last ? "" : ",");
}

const char *cli_basename(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

int cli_load_model(const char *path, rnn_model **out)
{
    char err[512] = "";
    *out = NULL;
    int rc = rnn_model_load(out, path, NULL, err, sizeof err);
    if (rc != RNN_OK && err[0] && strstr(err, path)) return cli_error(CLI_RUNTIME, "%s", err);
    if (rc != RNN_OK)
        return cli_error(CLI_RUNTIME, "cannot load %s: %s", path, err[0] ? err : rnn_strerror(rc));
    int words = 0;
    rnn_vocab_size(*out, &words);
    if (words <= 0) {
        rnn_model_free(*out);
        *out = NULL;
        return cli_error(CLI_RUNTIME, "%s has no vocabulary (it was not saved by rnnlm train)", path);
    }
    return CLI_OK;
}

int cli_model_vocab(const rnn_model *m, corpus_vocab **out)
{
    int words = 0;
    *out = NULL;
    if (rnn_vocab_size(m, &words) != RNN_OK || words <= 0)
        return cli_error(CLI_RUNTIME, "the model has no vocabulary");
    corpus_vocab *v;
    if (vocab_create(&v) != RNN_OK) return cli_error(CLI_RUNTIME, "out of memory");
    for (int id = 0; id < words; id++) {
        const char *w = NULL;
        int32_t got = -1;
        if (rnn_vocab_word(m, id, &w) != RNN_OK || vocab_add(v, w, strlen(w), &got) != RNN_OK) {
            vocab_free(v);
            return cli_error(CLI_RUNTIME, "cannot read word %d of the model's vocabulary", id);
        }
        if (got != id) {
            vocab_free(v);
            return cli_error(CLI_RUNTIME, "the model's vocabulary has the word '%s' twice", w);
        }
    }
    *out = v;
    return CLI_OK;
}

/* The targets of a chunk that count in the loss (not RNN_IGNORE). */
static size_t scored_targets(const int32_t *tgt, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += tgt[i] != RNN_IGNORE;
    return c;
}

int cli_evaluate(rnn_model *m, const corpus_batches *b, double *loss, size_t *scored)
{
    size_t cap = (size_t)b->batch * (size_t)b->bptt;
    int32_t *tok = malloc(cap * sizeof *tok), *tgt = malloc(cap * sizeof *tgt);
    int rc = (tok && tgt) ? rnn_reset_state(m, b->batch) : RNN_ERR_NOMEM;
    double total = 0.0;
    if (scored) *scored = 0;
    for (size_t k = 0; rc == RNN_OK && k < b->num_chunks; k++) {
        int steps = 0;
        double l = 0.0;
        rc = corpus_batches_get(b, k, tok, tgt, &steps);
        if (rc == RNN_OK) rc = rnn_evaluate(m, tok, tgt, b->batch, steps, &l, NULL);
        total += (double)steps * l;
        if (scored) *scored += scored_targets(tgt, (size_t)b->batch * (size_t)steps);
    }
    free(tok);
    free(tgt);
    if (rc != RNN_OK)
        return cli_error(CLI_RUNTIME, "evaluation failed: %s (%s)", rnn_strerror(rc), rnn_errmsg(m));
    *loss = total / (double)corpus_batches_eval_denominator(b);
    return CLI_OK;
}

int cli_out_open(cli_outfile *o, const char *path)
{
    memset(o, 0, sizeof *o);
    o->path = path;
    if (strcmp(path, "-") == 0) {
        o->f = stdout;
        return CLI_OK;
    }
    size_t n = strlen(path) + 16;
    o->tmp = malloc(n);
    if (!o->tmp) return cli_error(CLI_RUNTIME, "out of memory");
    snprintf(o->tmp, n, "%s.tmpXXXXXX", path);
    int fd = mkstemp(o->tmp);
    if (fd >= 0) {
        mode_t mask = umask(0);
        umask(mask);
        fchmod(fd, 0666 & ~mask); /* mkstemp's 0600 is too strict for a text file */
        o->f = fdopen(fd, "w");
    }
    if (!o->f) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
            unlink(o->tmp);
        }
        free(o->tmp);
        o->tmp = NULL;
        return cli_error(CLI_RUNTIME, "cannot write %s: %s", path, strerror(e));
    }
    return CLI_OK;
}

int cli_out_close(cli_outfile *o, int ok)
{
    if (!o->tmp) { /* stdout */
        if (fflush(stdout) != 0 && ok) return cli_error(CLI_RUNTIME, "cannot write to stdout");
        return ok ? CLI_OK : CLI_RUNTIME;
    }
    int e = 0;
    if (ok && (ferror(o->f) || fflush(o->f) != 0 || fsync(fileno(o->f)) != 0)) e = errno ? errno : EIO;
    if (fclose(o->f) != 0 && ok && !e) e = errno ? errno : EIO;
    if (ok && !e && rename(o->tmp, o->path) != 0) e = errno;
    if (!ok || e) unlink(o->tmp);
    free(o->tmp);
    o->tmp = NULL;
    o->f = NULL;
    if (e) return cli_error(CLI_RUNTIME, "cannot write %s: %s", o->path, strerror(e));
    return ok ? CLI_OK : CLI_RUNTIME;
}
