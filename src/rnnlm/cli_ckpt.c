/*
 * cli_ckpt.c -- the application data of an `rnnlm train` checkpoint (SAVE.ckpt).
 *
 * A checkpoint is a model file written with rnn_model_save(m, path, RNN_SAVE_STATE, blob, len):
 * the weights, the vocabulary, the hidden state and the dropout generator; its APPL section (the
 * application data, rnn_model_get_app_data after loading) holds the blob below: the run's flags
 * and where the loop stands.
 *
 * Format, version 1: UTF-8/ASCII text, lines ending in "\n", no other whitespace:
 *
 *     rnnlm-train-checkpoint 1
 *     key=value
 *     ...
 *
 * - The first line names the format and its version; a reader refuses any other version.
 * - Every key of the table in fields() appears exactly once, in any order. Unknown keys are an
 *   error (a later version that adds keys bumps the version).
 * - Integers are decimal ("-12"); uint64 hashes are 16 lowercase hex digits; real numbers are C99
 *   hexadecimal floats ("%a", e.g. 0x1.4p+4), so they round-trip exactly, independent of locale
 *   and endianness; strings are bytes with '%', '=', control bytes and 0x7f written as %XX (two
 *   hex digits). An empty string means "not given" for the optional ones (metrics, init).
 *
 * Keys: the train flags (data save model emsize nhid nlayers tied lr clip epochs batch_size bptt
 * dropout seed log_interval dry_run threads metrics init max_batches batching checkpoint_every;
 * paths as absolute paths) and the loop's position (see train_pos in cli_train.h): epoch batch
 * step cur_lr saved best best_hash iv_loss last_loss iv_n corpus_hash n_train n_valid
 * n_test nbatches.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_train.h"

#define MAGIC "rnnlm-train-checkpoint"
#define VERSION 1

uint64_t ckpt_hash(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

typedef enum { F_INT, F_I64, F_U64, F_HEX, F_REAL, F_STR, F_OPTSTR } field_kind;

typedef struct field {
    const char *key;
    field_kind kind;
    void *p; /* int *, long long *, uint64_t *, uint64_t *, double *, const char ** */
} field;

#define NFIELDS 37

/* The table both directions use. */
static void fields(field *f, train_args *a, train_pos *p)
{
    field t[NFIELDS] = {
        {"data", F_STR, &a->data},
        {"save", F_STR, &a->save},
        {"model", F_STR, &a->model},
        {"emsize", F_INT, &a->emsize},
        {"nhid", F_INT, &a->nhid},
        {"nlayers", F_INT, &a->nlayers},
        {"tied", F_INT, &a->tied},
        {"lr", F_REAL, &a->lr},
        {"clip", F_REAL, &a->clip},
        {"epochs", F_INT, &a->epochs},
        {"batch_size", F_INT, &a->batch_size},
        {"bptt", F_INT, &a->bptt},
        {"dropout", F_REAL, &a->dropout},
        {"seed", F_I64, &a->seed},
        {"log_interval", F_INT, &a->log_interval},
        {"dry_run", F_INT, &a->dry_run},
        {"threads", F_INT, &a->threads},
        {"metrics", F_OPTSTR, &a->metrics},
        {"init", F_OPTSTR, &a->init},
        {"max_batches", F_INT, &a->max_batches},
        {"batching", F_STR, &a->batching},
        {"checkpoint_every", F_INT, &a->checkpoint_every},
        {"epoch", F_INT, &p->epoch},
        {"batch", F_U64, &p->batch},
        {"step", F_U64, &p->step},
        {"cur_lr", F_REAL, &p->lr},
        {"saved", F_INT, &p->saved},
        {"best", F_REAL, &p->best},
        {"best_hash", F_HEX, &p->best_hash},
        {"iv_loss", F_REAL, &p->iv_loss},
        {"last_loss", F_REAL, &p->last_loss},
        {"iv_n", F_U64, &p->iv_n},
        {"corpus_hash", F_HEX, &p->corpus_hash},
        {"n_train", F_U64, &p->n_train},
        {"n_valid", F_U64, &p->n_valid},
        {"n_test", F_U64, &p->n_test},
        {"nbatches", F_U64, &p->nbatches},
    };
    memcpy(f, t, sizeof t);
}

/* ---- Writing --------------------------------------------------------------------------------- */
typedef struct sbuf {
    char *s;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->s && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 256) + (size_t)n + 1;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s, b->cap = cap;
    }
}

static int needs_escape(unsigned char c) { return c < 0x20 || c == 0x7f || c == '%' || c == '='; }

static void sb_string(sbuf *b, const char *s)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (needs_escape(c)) sb_printf(b, "%%%02X", c);
        else sb_printf(b, "%c", c);
    }
}

char *ckpt_encode(const train_args *a, const train_pos *p, size_t *len)
{
    field f[NFIELDS];
    fields(f, (train_args *)a, (train_pos *)p);
    sbuf b = {0};
    sb_printf(&b, "%s %d\n", MAGIC, VERSION);
    for (int i = 0; i < NFIELDS; i++) {
        sb_printf(&b, "%s=", f[i].key);
        switch (f[i].kind) {
        case F_INT: sb_printf(&b, "%d", *(int *)f[i].p); break;
        case F_I64: sb_printf(&b, "%lld", *(long long *)f[i].p); break;
        case F_U64: sb_printf(&b, "%" PRIu64, *(uint64_t *)f[i].p); break;
        case F_HEX: sb_printf(&b, "%016" PRIx64, *(uint64_t *)f[i].p); break;
        case F_REAL: sb_printf(&b, "%a", *(double *)f[i].p); break;
        case F_STR:
        case F_OPTSTR: sb_string(&b, *(const char **)f[i].p); break;
        }
        sb_printf(&b, "\n");
    }
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    *len = b.len;
    return b.s;
}

/* ---- Reading --------------------------------------------------------------------------------- */
static int fail(char *err, size_t errsz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
    return -1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Undoes the %XX escapes of s in place; -1 on a malformed escape. */
static int unescape(char *s)
{
    char *o = s;
    for (char *i = s; *i; i++) {
        if (*i == '%') {
            int hi = hexval(i[1]), lo = hi < 0 ? -1 : hexval(i[2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return -1;
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        } else {
            *o++ = *i;
        }
    }
    *o = 0;
    return 0;
}

static int parse_value(const field *f, char *v)
{
    char *end = NULL;
    errno = 0;
    switch (f->kind) {
    case F_INT: {
        long long x = strtoll(v, &end, 10);
        if (x < INT32_MIN || x > INT32_MAX) return -1;
        *(int *)f->p = (int)x;
        break;
    }
    case F_I64: *(long long *)f->p = strtoll(v, &end, 10); break;
    case F_U64:
        if (*v == '-') return -1;
        *(uint64_t *)f->p = (uint64_t)strtoull(v, &end, 10);
        break;
    case F_HEX:
        if (strlen(v) != 16 || *v == '-' || *v == '+') return -1;
        *(uint64_t *)f->p = (uint64_t)strtoull(v, &end, 16);
        break;
    case F_REAL: *(double *)f->p = strtod(v, &end); break;
    case F_STR:
    case F_OPTSTR:
        if (unescape(v) != 0 || (f->kind == F_STR && !*v)) return -1;
        *(const char **)f->p = *v ? v : NULL;
        return 0;
    }
    return (end == v || *end || errno == ERANGE) ? -1 : 0;
}

int ckpt_decode(const void *data, size_t len, train_args *a, train_pos *p, char **store, char *err,
                size_t errsz)
{
    *store = NULL;
    if (!data || len == 0) return fail(err, errsz, "it holds no training state");
    char head[64];
    int hl = snprintf(head, sizeof head, "%s ", MAGIC);
    if (len < (size_t)hl || memcmp(data, head, (size_t)hl) != 0)
        return fail(err, errsz, "its application data is not an rnnlm training state");
    char *s = malloc(len + 1);
    if (!s) return fail(err, errsz, "out of memory");
    memcpy(s, data, len);
    s[len] = 0;
    *store = s;
    if (memchr(s, 0, len) || s[len - 1] != '\n')
        return fail(err, errsz, "the training state is malformed");
    memset(a, 0, sizeof *a);
    memset(p, 0, sizeof *p);
    field f[NFIELDS];
    int seen[NFIELDS] = {0};
    fields(f, a, p);
    char *line = s, *nl = strchr(line, '\n');
    *nl = 0;
    int version = atoi(line + hl);
    if (version != VERSION)
        return fail(err, errsz, "its training state has version '%s' (this rnnlm reads %d)", line + hl,
                    VERSION);
    for (line = nl + 1; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        *nl = 0;
        char *eq = strchr(line, '=');
        if (!eq) return fail(err, errsz, "the training state has a malformed line '%.40s'", line);
        *eq = 0;
        int i = 0;
        while (i < NFIELDS && strcmp(f[i].key, line) != 0) i++;
        if (i == NFIELDS) return fail(err, errsz, "the training state has an unknown key '%.40s'", line);
        if (seen[i]) return fail(err, errsz, "the training state has '%s' twice", line);
        seen[i] = 1;
        if (parse_value(&f[i], eq + 1) != 0)
            return fail(err, errsz, "the training state has a bad value for '%s'", line);
    }
    for (int i = 0; i < NFIELDS; i++)
        if (!seen[i]) return fail(err, errsz, "the training state lacks '%s'", f[i].key);
    return 0;
}
