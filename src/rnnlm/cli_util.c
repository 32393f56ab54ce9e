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

int cli_max_threads(void)
{
    int64_t v = 1;
    if (rnn_limit_get(RNN_LIMIT_THREADS, &v) != RNN_OK || v < 1) v = 1;
    return v > INT32_MAX ? INT32_MAX : (int)v;
}

int cli_set_threads(rnn_model *m, int n)
{
    if (n <= 0) { /* not given: one per online CPU */
        long cpus = sysconf(_SC_NPROCESSORS_ONLN), most = cli_max_threads();
        n = cpus < 1 ? 1 : cpus > most ? (int)most : (int)cpus;
    }
    if (openblas_set_num_threads) openblas_set_num_threads(1); /* librnn's threads split the products */
    if (rnn_model_set_threads(m, n) != RNN_OK) {
        fprintf(stderr, "rnnlm: --threads %d: %s\n", n, rnn_model_errmsg(m));
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
    int rc = rnn_model_load(out, path, NULL, 0, err, sizeof err);
    if (rc != RNN_OK && err[0] && strstr(err, path)) return cli_error(CLI_RUNTIME, "%s", err);
    if (rc != RNN_OK)
        return cli_error(CLI_RUNTIME, "cannot load %s: %s", path, err[0] ? err : rnn_status_string(rc));
    int words = 0;
    rnn_vocab_get_size(*out, &words);
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
    if (rnn_vocab_get_size(m, &words) != RNN_OK || words <= 0)
        return cli_error(CLI_RUNTIME, "the model has no vocabulary");
    corpus_vocab *v;
    if (vocab_create(&v) != RNN_OK) return cli_error(CLI_RUNTIME, "out of memory");
    for (int id = 0; id < words; id++) {
        const char *w = NULL;
        int32_t got = -1;
        if (rnn_vocab_get_word(m, id, &w) != RNN_OK || vocab_add(v, w, strlen(w), &got) != RNN_OK) {
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

int cli_chunk(const corpus_batches *b, size_t k, int32_t *tok_buf, int32_t *tgt_buf,
              const int32_t **tok, const int32_t **tgt, int *steps, int *stride)
{
    int s = corpus_batches_steps(b, k);
    *steps = s;
    if (s == 0) return RNN_ERR_INVALID;
    /* main.py's batchify: stream r is data[r * stream_len ..], chunk k starts at k * bptt in each,
       and its targets one token later, so the chunk is a column slice of the [batch][stream_len]
       array: rows stream_len apart. The seed's batching ends every row with RNN_IGNORE: copied. */
    if (b->mode == CORPUS_BATCH_MAIN && b->stream_len <= INT32_MAX) {
        size_t i = k * (size_t)b->bptt;
        *tok = b->data + i;
        *tgt = b->data + i + 1;
        *stride = (int)b->stream_len;
        return RNN_OK;
    }
    *tok = tok_buf, *tgt = tgt_buf, *stride = 0;
    return corpus_batches_get(b, k, tok_buf, tgt_buf, NULL);
}

/* The targets of a chunk that count in the loss (not RNN_IGNORE): batch rows of steps, stride
   apart (0: steps). */
static size_t scored_targets(const int32_t *tgt, int batch, int steps, int stride)
{
    size_t c = 0, st = (size_t)(stride ? stride : steps);
    for (size_t r = 0; r < (size_t)batch; r++)
        for (size_t i = 0; i < (size_t)steps; i++) c += tgt[r * st + i] != RNN_IGNORE;
    return c;
}

int cli_evaluate(rnn_model *m, const corpus_batches *b, double *loss, size_t *scored)
{
    size_t cap = (size_t)b->batch * (size_t)b->bptt;
    int32_t *tok_buf = malloc(cap * sizeof *tok_buf), *tgt_buf = malloc(cap * sizeof *tgt_buf);
    int rc = (tok_buf && tgt_buf) ? rnn_model_reset_hidden(m, b->batch) : RNN_ERR_NOMEM;
    double total = 0.0;
    if (scored) *scored = 0;
    for (size_t k = 0; rc == RNN_OK && k < b->num_chunks; k++) {
        int steps = 0, stride = 0;
        const int32_t *tok = NULL, *tgt = NULL;
        double l = 0.0;
        rc = cli_chunk(b, k, tok_buf, tgt_buf, &tok, &tgt, &steps, &stride);
        if (rc == RNN_OK) rc = rnn_evaluate(m, tok, tgt, b->batch, steps, stride, &l, NULL);
        if (rc != RNN_OK) break;
        total += (double)steps * l;
        if (scored) *scored += scored_targets(tgt, b->batch, steps, stride);
    }
    free(tok_buf);
    free(tgt_buf);
    if (rc != RNN_OK)
        return cli_error(CLI_RUNTIME, "evaluation failed: %s (%s)", rnn_status_string(rc),
                         rnn_model_errmsg(m));
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
