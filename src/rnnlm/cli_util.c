/*
 * cli_util.c -- helpers shared by the rnnlm commands: loading a checkpoint with its vocabulary and
 * a data folder, main.py's evaluate(), threads, clocks, JSON numbers, paths, hashes and output
 * files (written atomically by the library's rnn__atomic).
 */
#define RNN_EXPERT_API /* rnn_param_get_block: the weights are checked for finiteness */
#define _GNU_SOURCE    /* sched_getaffinity, CPU_COUNT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic.h"
#include "cli.h"
#include "cli_mpi.h"

/* OpenBLAS's thread control, if the BLAS linked in has it (reference BLAS does not). */
extern void openblas_set_num_threads(int n) __attribute__((weak));

int cli_max_threads(void) { return (int)cli_limit(RNN_LIMIT_THREADS); }

/* The CPUs this process may run on: its affinity mask, which mpirun's binding, taskset or a cpuset
   may have narrowed (the online CPUs where the system does not say). */
static long usable_cpus(void)
{
#ifdef __linux__
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
#endif
    return sysconf(_SC_NPROCESSORS_ONLN);
}

int cli_threads(int n)
{
    long cpus = usable_cpus(), most = cli_max_threads();
    return n > 0 ? n : cpus < 1 ? 1 : cpus > most ? (int)most : (int)cpus;
}

int cli_set_threads(rnn_model *m, int n)
{
    long cpus = usable_cpus();
    if (n > 0 && cpus >= 1 && n > cpus && mpi_rank() == 0)
        fprintf(stderr, "rnnlm: warning: --threads %d, but this process may run on %ld CPU%s only, so its threads "
                "will take turns%s\n", n, cpus, cpus == 1 ? "" : "s",
                mpi_launched() ? " (mpirun binds each process to one core when -np is 1 or 2: add --bind-to none, or "
                                 "--map-by slot:PE=N for N cores each)" : "");
    n = cli_threads(n); /* (0, not given: one per CPU this process may run on) */
    if (openblas_set_num_threads) openblas_set_num_threads(1); /* librnn's threads split the products */
    RETURN_ERROR_IF(rnn_model_set_threads(m, n) != RNN_OK, CLI_RUNTIME, "--threads %d: %s", n,
                    rnn_model_errmsg(m));
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

void cli_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20 || c == 0x7f) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

const char *cli_basename(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

int cli_weights_finite(const rnn_model *m, char *where, size_t n)
{
    float *w = NULL;
    size_t count = 0, i = 0;
    if (rnn_param_get_block(m, &w, NULL, &count) != RNN_OK || !w) return 1;
    while (i < count && isfinite(w[i])) i++;
    if (i == count) return 1;
    int np = 0;
    rnn_param_get_count(m, &np);
    snprintf(where, n, "weight %zu is %g", i, (double)w[i]);
    for (int k = 0; k < np; k++) { /* name the tensor, the row and the column */
        rnn_param p;
        p.struct_size = sizeof p;
        if (rnn_param_get(m, k, &p) != RNN_OK || w + i < p.data || w + i >= p.data + p.size) continue;
        size_t at = (size_t)(w + i - p.data), cols = (size_t)p.cols;
        if (p.rows > 1) snprintf(where, n, "%s[%zu][%zu] is %g", p.name, at / cols, at % cols, (double)w[i]);
        else snprintf(where, n, "%s[%zu] is %g", p.name, at, (double)w[i]);
    }
    return 0;
}

int cli_check_trainable(const rnn_model *m, const char *flag, const char *path)
{
    int wt = RNN_WEIGHTS_FP32;
    rnn_model_get_weight_type(m, &wt);
    RETURN_ERROR_IF(wt != RNN_WEIGHTS_FP32, CLI_RUNTIME,
                    "%s %s: the model's weights are quantized (%s, rnnlm quantize), which is for inference only: "
                    "train from the fp32 model it was made from", flag, path, wt == RNN_WEIGHTS_Q8 ? "q8" : "bf16");
    return CLI_OK;
}

/* Whether path begins as a file of PyTorch's torch.save does: a zip archive ("PK\3\4", since 1.6)
   or a pickle (protocol 2+ starts with 0x80: the legacy format). */
static int is_pytorch_file(const char *path)
{
    unsigned char head[4];
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    return (n == 4 && memcmp(head, "PK\x03\x04", 4) == 0) || (n >= 1 && head[0] == 0x80);
}

int cli_load_model(const char *path, rnn_model **out)
{
    char err[PATH_MAX + 512] = "";
    *out = NULL;
    int rc = rnn_model_load(out, path, NULL, 0, err, sizeof err);
    RETURN_ERROR_IF(rc == RNN_ERR_FORMAT && is_pytorch_file(path), CLI_RUNTIME,
                    "%s is a PyTorch file, not a librnn model: convert it with tools/torch2rnn.py", path);
    RETURN_ERROR_IF(rc != RNN_OK && err[0] && strstr(err, path), CLI_RUNTIME, "%s", err);
    RETURN_ERROR_IF(rc != RNN_OK, CLI_RUNTIME, "cannot load %s: %s", path,
                    err[0] ? err : rnn_status_string(rc));
    int words = 0;
    char where[128];
    rnn_vocab_get_size(*out, &words);
    int finite = cli_weights_finite(*out, where, sizeof where);
    if (words > 0 && finite) return CLI_OK;
    rnn_model_free(*out);
    *out = NULL;
    RETURN_ERROR_IF(words <= 0, CLI_RUNTIME, "%s has no vocabulary (it was not saved by rnnlm train)",
                    path);
    RETURN_ERROR(CLI_RUNTIME, "%s holds weights that are not finite (%s): the model is broken (saved "
                              "from a diverged run?)", path, where);
}

/* The words of m into v with the same ids. */
static int copy_words(const rnn_model *m, int words, corpus_vocab *v)
{
    for (int id = 0; id < words; id++) {
        const char *w = NULL;
        int32_t got = -1;
        RETURN_ERROR_IF(rnn_vocab_get_word(m, id, &w) != RNN_OK ||
                            vocab_add(v, w, strlen(w), &got) != RNN_OK,
                        CLI_RUNTIME, "cannot read word %d of the model's vocabulary", id);
        RETURN_ERROR_IF(got != id, CLI_RUNTIME, "the model's vocabulary has the word '%s' twice", w);
    }
    return CLI_OK;
}

int cli_model_vocab(const rnn_model *m, corpus_vocab **out)
{
    int words = 0;
    *out = NULL;
    RETURN_ERROR_IF(rnn_vocab_get_size(m, &words) != RNN_OK || words <= 0, CLI_RUNTIME,
                    "the model has no vocabulary");
    corpus_vocab *v;
    RETURN_ERROR_IF(vocab_create(&v) != RNN_OK, CLI_RUNTIME, "out of memory");
    int rc = copy_words(m, words, v);
    if (rc == CLI_OK) *out = v;
    else vocab_free(v);
    return rc;
}

/* ---- Tokenizing with an --unk-policy ----------------------------------------------------------- */
#define UNKNOWN_SHOWN 4 /* unknown words a message names */

typedef struct tok_run {
    cli_tokens *t;
    const corpus_vocab *v;
    unsigned policy;
    int32_t unk, eos;                /* -1: not in the vocabulary */
    cli_span_fn *span;
    cli_line_fn *on_line;
    void *user;
    int status;                      /* on_line's CLI status when it stopped the read */
    size_t unknown;                  /* unknown words that are errors */
    char shown[UNKNOWN_SHOWN][48];   /* the first distinct ones (at most 40 bytes each) */
    unsigned long long shown_line[UNKNOWN_SHOWN];
    int nshown, more;                /* more: other distinct ones were not kept */
} tok_run;

static int push_token(cli_tokens *t, int32_t id, int oov)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 4096;
        int32_t *ids = cap <= SIZE_MAX / sizeof *ids ? realloc(t->ids, cap * sizeof *ids) : NULL;
        if (ids) t->ids = ids;
        unsigned char *o = ids ? realloc(t->oov, cap) : NULL;
        if (!o) return RNN_ERR_NOMEM;
        t->oov = o, t->cap = cap;
    }
    t->ids[t->n] = id, t->oov[t->n++] = (unsigned char)oov;
    return RNN_OK;
}

static void note_unknown(tok_run *r, const char *w, size_t len, unsigned long long lineno)
{
    r->unknown++;
    size_t keep = len;
    if (keep > 40) { /* cut at a character boundary */
        keep = 40;
        while (keep > 0 && ((unsigned char)w[keep] & 0xc0) == 0x80) keep--;
    }
    for (int i = 0; i < r->nshown; i++)
        if (strncmp(r->shown[i], w, keep) == 0 && r->shown[i][keep] == 0) return;
    if (r->nshown == UNKNOWN_SHOWN) {
        r->more = 1;
        return;
    }
    memcpy(r->shown[r->nshown], w, keep);
    r->shown[r->nshown][keep] = 0;
    r->shown_line[r->nshown++] = lineno;
}

/* One word (or the line's <eos>) by the policy. */
static int token_of(tok_run *r, const char *w, size_t len, unsigned long long lineno, int32_t id)
{
    if (id >= 0) return push_token(r->t, id, 0);
    if (r->policy & RNN_ENCODE_UNK_SKIP) return r->t->oovs++, RNN_OK;
    if ((r->policy & RNN_ENCODE_UNK_MAP) && r->unk >= 0) {
        r->t->oovs++, r->t->mapped++;
        return push_token(r->t, r->unk, 1);
    }
    note_unknown(r, w, len, lineno);
    return RNN_OK;
}

/* corpus_line_fn: the line's words, then <eos> */
static int tokenize_line(void *user, const char *line, size_t len, unsigned long long lineno)
{
    tok_run *r = user;
    size_t pos = 0, wl = 0, first = r->t->n, end = len;
    r->t->lines++;
    if (r->span && (r->status = r->span(r->user, line, len, lineno, &pos, &end)) != CLI_OK) return RNN_ERR_INVALID;
    for (; rnn_text_next_word(line, end, &pos, &wl) == RNN_OK; pos += wl) {
        r->t->words++;
        if (token_of(r, line + pos, wl, lineno, vocab_lookup(r->v, line + pos, wl)) != RNN_OK) return RNN_ERR_NOMEM;
    }
    if (token_of(r, CORPUS_EOS, sizeof CORPUS_EOS - 1, lineno, r->eos) != RNN_OK) return RNN_ERR_NOMEM;
    if (r->unknown || !r->on_line) return RNN_OK; /* failing anyway: the rest only counts */
    r->status = r->on_line(r->user, line, len, lineno, first, r->t->n - first);
    return r->status == CLI_OK ? RNN_OK : RNN_ERR_INVALID;
}

/* The message for unknown words that the policy does not allow. */
static int unknown_error(const tok_run *r, const char *name)
{
    char list[UNKNOWN_SHOWN * 72] = "";
    size_t used = 0;
    for (int i = 0; i < r->nshown && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s \"%s\" (line %llu)", i ? "," : "", r->shown[i],
                                 r->shown_line[i]);
    const char *more = r->more ? ", ..." : "";
    if (r->policy & RNN_ENCODE_UNK_MAP)
        RETURN_ERROR(CLI_RUNTIME, "%s: %zu word%s not in the model's vocabulary, which has no <unk> to map them to:%s%s; "
                     "give --unk-policy skip to leave them out", name, r->unknown, r->unknown == 1 ? "" : "s", list, more);
    RETURN_ERROR(CLI_RUNTIME, "%s: %zu word%s not in the model's vocabulary (--unk-policy error):%s%s; give "
                 "--unk-policy %s", name, r->unknown, r->unknown == 1 ? "" : "s", list, more,
                 r->unk >= 0 ? "map (to <unk>) or skip" : "skip (the model has no <unk>)");
}

/* cli_tokenize over the model's words in v */
static int tokenize_with(const corpus_vocab *v, FILE *f, const char *name, unsigned policy, cli_span_fn *span,
                         cli_line_fn *on_line, void *user, cli_tokens *t)
{
    tok_run r;
    memset(&r, 0, sizeof r);
    r.t = t, r.v = v, r.policy = policy, r.span = span, r.on_line = on_line, r.user = user;
    r.unk = vocab_lookup(v, CORPUS_UNK, sizeof CORPUS_UNK - 1);
    r.eos = vocab_lookup(v, CORPUS_EOS, sizeof CORPUS_EOS - 1);
    char err[CORPUS_ERR_SIZE];
    int rc = corpus_read_lines(f, name, tokenize_line, &r, err, sizeof err);
    if (rc != RNN_OK && r.status != CLI_OK) return r.status; /* on_line printed it */
    RETURN_ERROR_IF(rc == RNN_ERR_NOMEM, CLI_RUNTIME, "%s: out of memory after %zu tokens", name, t->n);
    RETURN_ERROR_IF(rc != RNN_OK, CLI_RUNTIME, "%s", err);
    if (r.unknown) return unknown_error(&r, name);
    return CLI_OK;
}

int cli_tokenize(const rnn_model *m, FILE *f, const char *name, unsigned policy, cli_span_fn *span,
                 cli_line_fn *on_line, void *user, cli_tokens *t)
{
    corpus_vocab *v = NULL;
    memset(t, 0, sizeof *t);
    FORWARD_IF_ERROR(cli_model_vocab(m, &v));
    int rc = tokenize_with(v, f, name, policy, span, on_line, user, t);
    vocab_free(v);
    return rc;
}

void cli_tokens_free(cli_tokens *t)
{
    free(t->ids);
    free(t->oov);
    memset(t, 0, sizeof *t);
}

/* The tokens of data (when not NULL) over m's vocabulary, then run. */
static int tokenize_and_run(rnn_model *m, const char *data, cli_model_fn *run, const void *args)
{
    corpus_vocab *v = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    char err[CORPUS_ERR_SIZE];
    if (!data) return run(args, m, NULL, 0);
    FORWARD_IF_ERROR(cli_model_vocab(m, &v));
    int lrc = corpus_tokenize_file(v, data, 0, &ids, &n, err, sizeof err);
    vocab_free(v);
    RETURN_ERROR_IF(lrc != RNN_OK, CLI_RUNTIME, "%s", err);
    int rc = run(args, m, ids, n);
    free(ids);
    return rc;
}

/* cli_set_threads, then tokenize_and_run. */
static int threads_and_run(rnn_model *m, int threads, const char *data, cli_model_fn *run,
                           const void *args)
{
    FORWARD_IF_ERROR(cli_set_threads(m, threads));
    return tokenize_and_run(m, data, run, args);
}

int cli_run_model(const char *path, int threads, const char *data, cli_model_fn *run, const void *args)
{
    rnn_model *m = NULL;
    FORWARD_IF_ERROR(cli_load_model(path, &m));
    int rc = threads_and_run(m, threads, data, run, args);
    rnn_model_free(m);
    return rc;
}

int cli_load_corpus(corpus *c, const char *dir, corpus_vocab *v)
{
    char err[CORPUS_ERR_SIZE];
    int rc = corpus_load_dir(c, dir, v, err, sizeof err);
    RETURN_ERROR_IF(rc != RNN_OK, CLI_RUNTIME, "%s", err);
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
       array: rows stream_len apart. The lecture note's batching ends every row with RNN_IGNORE: copied. */
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

int cli_chunk_buffers(const corpus_batches *b, int32_t **tok, int32_t **tgt)
{
    /* chunk 0 is the largest: batch x min(bptt, what the data holds) */
    size_t cap = (size_t)b->batch * (size_t)corpus_batches_steps(b, 0);
    *tok = malloc(cap * sizeof **tok);
    *tgt = malloc(cap * sizeof **tgt);
    RETURN_ERROR_IF(!*tok || !*tgt, CLI_RUNTIME,
                    "out of memory: the chunk buffers for batch size %d x %d steps need %zu bytes",
                    b->batch, corpus_batches_steps(b, 0), 2 * cap * sizeof **tok);
    return CLI_OK;
}

int cli_evaluate(rnn_model *m, const corpus_batches *b, double *loss, size_t *scored)
{
    int32_t *tok_buf = NULL, *tgt_buf = NULL;
    int crc = cli_chunk_buffers(b, &tok_buf, &tgt_buf);
    int rc = crc == CLI_OK ? rnn_model_reset_hidden(m, b->batch) : RNN_OK;
    double total = 0.0;
    size_t n_scored = 0;
    for (size_t k = 0; crc == CLI_OK && rc == RNN_OK && k < b->num_chunks; k++) {
        int steps = 0, stride = 0;
        const int32_t *tok = NULL, *tgt = NULL;
        double l = 0.0;
        rc = cli_chunk(b, k, tok_buf, tgt_buf, &tok, &tgt, &steps, &stride);
        if (rc == RNN_OK) rc = rnn_evaluate(m, tok, tgt, b->batch, steps, stride, &l, NULL);
        if (rc != RNN_OK) break;
        total += (double)steps * l;
        n_scored += scored_targets(tgt, b->batch, steps, stride);
    }
    free(tok_buf);
    free(tgt_buf);
    FORWARD_IF_ERROR(crc);
    RETURN_ERROR_IF(rc != RNN_OK, CLI_RUNTIME, "evaluation failed: %s (%s)", rnn_status_string(rc),
                    rnn_model_errmsg(m));
    RETURN_ERROR_IF(n_scored == 0, CLI_RUNTIME, "evaluation failed: no chunk has a target to score");
    if (scored) *scored = n_scored;
    *loss = total / (double)corpus_batches_eval_denominator(b);
    return CLI_OK;
}

int cli_out_open(cli_outfile *o, const char *path)
{
    memset(o, 0, sizeof *o);
    if (strcmp(path, "-") == 0) {
        o->f = stdout, o->to_stdout = 1;
        return CLI_OK;
    }
    o->at = malloc(sizeof *o->at);
    RETURN_ERROR_IF(!o->at, CLI_RUNTIME, "out of memory");
    char err[PATH_MAX + 512];
    errno = 0;
    int rc = rnn__atomic_open(o->at, path, err, sizeof err), e = errno;
    if (rc != RNN_OK) {
        free(o->at);
        o->at = NULL;
    }
    RETURN_ERROR_IF(rc != RNN_OK, CLI_RUNTIME, "cannot write %s: %s", path, e ? strerror(e) : err);
    o->f = o->at->f;
    /* 0666 less the umask, also over an existing file (rnn__atomic would keep that file's mode);
       never on a device, FIFO or socket written in place (that would change the node itself) */
    if (!o->at->direct) {
        mode_t mask = umask(0);
        umask(mask);
        (void)fchmod(fileno(o->f), 0666 & ~mask);
    }
    return CLI_OK;
}

int cli_stdout_flush(void)
{
    errno = 0;
    int bad = fflush(stdout) != 0, e = errno;
    RETURN_ERROR_IF(bad || ferror(stdout), CLI_RUNTIME,
                    "cannot write to stdout%s%s: the output is incomplete", bad && e ? ": " : "",
                    bad && e ? strerror(e) : "");
    return CLI_OK;
}

int cli_out_close(cli_outfile *o, int ok)
{
    if (o->to_stdout) {
        if (ok) FORWARD_IF_ERROR(cli_stdout_flush());
        return ok ? CLI_OK : CLI_RUNTIME;
    }
    char err[PATH_MAX + 512];
    int rc = rnn__atomic_close(o->at, ok, err, sizeof err);
    free(o->at);
    o->at = NULL, o->f = NULL;
    RETURN_ERROR_IF(rc != RNN_OK, CLI_RUNTIME, "%s", err);
    return ok ? CLI_OK : CLI_RUNTIME;
}

/* ---- Outputs that must not overwrite inputs, or what is not a model ---------------------------- */
int cli_check_outputs(const cli_path *out, int nout, const cli_path *in, int nin)
{
    for (int o = 0; o < nout; o++) {
        struct stat so, si;
        if (!out[o].path || stat(out[o].path, &so) != 0) continue; /* not there yet: nothing to lose */
        for (int i = 0; i < nin; i++)
            RETURN_ERROR_IF(in[i].path && stat(in[i].path, &si) == 0 && si.st_dev == so.st_dev &&
                                si.st_ino == so.st_ino,
                            CLI_RUNTIME, "%s %s is the same file as the input %s %s: an output must not "
                                         "overwrite an input",
                            out[o].what, out[o].path, in[i].what, in[i].path);
    }
    return CLI_OK;
}

int cli_check_model_output(const char *what, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return CLI_OK; /* not there yet (the save says why when it fails) */
    RETURN_ERROR_IF(S_ISDIR(st.st_mode), CLI_RUNTIME, "cannot save to %s: it is a folder", path);
    RETURN_ERROR_IF(!S_ISREG(st.st_mode), CLI_RUNTIME,
                    "%s %s exists and is not a regular file: refusing to replace it with a model", what,
                    path);
    FILE *f = fopen(path, "rb");
    RETURN_ERROR_IF(!f, CLI_RUNTIME, "cannot read %s (%s) to check that it is a model: %s", what, path,
                    strerror(errno));
    char head[8];
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    RETURN_ERROR_IF(n != sizeof head || memcmp(head, "RNNMODEL", sizeof head) != 0, CLI_RUNTIME,
                    "%s %s exists and is not a librnn model (it does not begin with RNNMODEL): "
                    "refusing to overwrite it", what, path);
    return CLI_OK;
}

/* ---- An advisory lock with the holder's PID in it ---------------------------------------------- */
/* The PID written in the lock file fd (0 when none is there yet). */
static long lock_holder(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return 0;
    buf[n] = 0;
    return strtol(buf, NULL, 10);
}

int cli_lock(const char *path, const char *flag, const char *target, int *fd_out)
{
    *fd_out = -1;
    for (int tries = 0; tries < 100; tries++) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        RETURN_ERROR_IF(fd < 0, CLI_RUNTIME, "cannot create the lock %s for %s %s: %s", path, flag,
                        target, strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            long pid = e == EWOULDBLOCK ? lock_holder(fd) : 0;
            close(fd);
            RETURN_ERROR_IF(e != EWOULDBLOCK, CLI_RUNTIME, "cannot lock %s for %s %s: %s", path, flag,
                            target, strerror(e));
            char who[48] = "";
            if (pid > 0) snprintf(who, sizeof who, " (PID %ld)", pid);
            RETURN_ERROR(CLI_RUNTIME,
                         "%s %s is in use by another rnnlm%s, which holds the lock %s: wait for it to end "
                         "or give another %s", flag, target, who, path, flag);
        }
        /* the file locked must still be the one at path (a holder removes it when it ends) */
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
            char pid[32];
            int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
            /* the PID only serves the message of a second run: a failed write is no error */
            if (ftruncate(fd, 0) == 0 && write(fd, pid, (size_t)n) != n) (void)ftruncate(fd, 0);
            *fd_out = fd;
            return CLI_OK;
        }
        close(fd);
    }
    RETURN_ERROR(CLI_RUNTIME, "cannot lock %s for %s %s: it keeps being replaced", path, flag, target);
}

void cli_unlock(const char *path, int fd)
{
    if (fd < 0) return;
    unlink(path); /* while still holding it: a waiting run then locks a fresh file */
    close(fd);
}
