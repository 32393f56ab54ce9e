/*
 * cli_ckpt.c -- the application data of an `rnnlm train` checkpoint (SAVE.ckpt).
 *
 * A checkpoint is a model file written with rnn_model_save(m, path, RNN_SAVE_STATE, blob, len):
 * the weights, the vocabulary, the hidden state and the dropout generator; its APPL section (the
 * application data, rnn_model_get_app_data after loading) holds the blob below: the run's flags
 * and where the loop stands.
 *
 * Format, version 2: UTF-8/ASCII text, lines ending in "\n", no other whitespace:
 *
 *     rnnlm-train-checkpoint 2
 *     key=value
 *     ...
 *
 * - The first line names the format and its version; a reader refuses a version it does not know.
 * - Every key appears exactly once, in any order (this writer puts the flags first, in the order
 *   of their table, then the position; earlier writers used another order, read the same).
 *   Unknown keys are an error (a later version that adds keys bumps the version). Version 1 lacks
 *   the keys added by version 2 (added_in_2 below): they read as 0, which is what they mean when
 *   the flags are not given (data.py's vocabulary, all of validation and test, no early stopping,
 *   plain SGD: weight_decay is read only with use_optimizer; the full softmax: adaptive_cutoffs
 *   empty, div_value 0 and head_bias 0).
 * - Integers are decimal ("-12"); uint64 hashes are 16 lowercase hex digits; real numbers are C99
 *   hexadecimal floats ("%a", e.g. 0x1.4p+4), so they round-trip exactly, independent of locale
 *   and endianness; strings are bytes with '%', '=', control bytes and 0x7f written as %XX (two
 *   hex digits). An empty string means "not given" for the optional ones (metrics, init).
 *
 * Keys: the train flags, each under its checkpoint key in train_command's table (data model
 * vocab_size min_count emsize nhid nlayers lr clip use_optimizer weight_decay epochs patience
 * batch_size bptt dropout tied adaptive_cutoffs div_value head_bias
 * seed log_interval save dry_run max_batches max_eval_batches threads metrics init batching
 * checkpoint_every; paths as absolute paths; seed the one drawn for --seed -1), its value
 * as the flag's kind says (CLI_INT and CLI_FLAG: integer; CLI_I64: integer; CLI_REAL: real;
 * CLI_STR: string, optional unless the flag is required or has a default), and the loop's
 * position (pos_fields below; train_pos in cli_train.h): epoch batch step cur_lr saved best
 * best_hash iv_loss last_loss iv_n corpus_hash n_train n_valid n_test nbatches stale.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_train.h"

#define MAGIC "rnnlm-train-checkpoint"
#define VERSION 2

/* The keys version 2 added (version 1 blobs lack them; they read as 0). */
static const char *const added_in_2[] = {"vocab_size", "min_count", "patience", "max_eval_batches",
                                         "stale", "use_optimizer", "weight_decay", "adaptive_cutoffs",
                                         "div_value", "head_bias"};

static int added_after(const char *key, int version)
{
    for (size_t i = 0; version < 2 && i < sizeof added_in_2 / sizeof added_in_2[0]; i++)
        if (strcmp(key, added_in_2[i]) == 0) return 1;
    return 0;
}

typedef enum { F_INT, F_I64, F_U64, F_HEX, F_REAL, F_STR, F_OPTSTR } field_kind;

/* One key=value of the blob: the value at p (int *, long long *, uint64_t *, uint64_t *, double *,
   const char **). */
typedef struct field {
    const char *key;
    field_kind kind;
    void *p;
} field;

/* The loop's position. */
static const struct {
    const char *key;
    field_kind kind;
    size_t off;
} pos_fields[] = {
    {"epoch", F_INT, offsetof(train_pos, epoch)},
    {"batch", F_U64, offsetof(train_pos, batch)},
    {"step", F_U64, offsetof(train_pos, step)},
    {"cur_lr", F_REAL, offsetof(train_pos, lr)},
    {"saved", F_INT, offsetof(train_pos, saved)},
    {"best", F_REAL, offsetof(train_pos, best)},
    {"best_hash", F_HEX, offsetof(train_pos, best_hash)},
    {"iv_loss", F_REAL, offsetof(train_pos, iv_loss)},
    {"last_loss", F_REAL, offsetof(train_pos, last_loss)},
    {"iv_n", F_U64, offsetof(train_pos, iv_n)},
    {"corpus_hash", F_HEX, offsetof(train_pos, corpus_hash)},
    {"n_train", F_U64, offsetof(train_pos, n_train)},
    {"n_valid", F_U64, offsetof(train_pos, n_valid)},
    {"n_test", F_U64, offsetof(train_pos, n_test)},
    {"nbatches", F_U64, offsetof(train_pos, nbatches)},
    {"stale", F_INT, offsetof(train_pos, stale)},
};
#define NPOS ((int)(sizeof pos_fields / sizeof pos_fields[0]))
#define MAX_FIELDS (CLI_MAX_FLAGS + NPOS)

/* A flag's value in the blob. */
static field_kind flag_field_kind(const cli_flag *f)
{
    switch (f->kind) {
    case CLI_I64: return F_I64;
    case CLI_REAL: return F_REAL;
    case CLI_STR: return (f->what & CLI_REQUIRED) || f->def ? F_STR : F_OPTSTR;
    case CLI_INT:
    case CLI_FLAG: break;
    }
    return F_INT;
}

/* The fields of the blob for a and p (the table both directions use): the train flags that have a
   checkpoint key, then the position. Returns their number. */
static int fields(field *f, train_args *a, train_pos *p)
{
    int n = 0;
    for (int i = 0; i < train_command.nflags; i++) {
        const cli_flag *fl = &train_command.flags[i];
        if (fl->key) f[n++] = (field){fl->key, flag_field_kind(fl), (char *)a + fl->off};
    }
    for (int i = 0; i < NPOS; i++)
        f[n++] = (field){pos_fields[i].key, pos_fields[i].kind, (char *)p + pos_fields[i].off};
    return n;
}

/* ---- Writing ----------------------------------------------------------------------------------- */
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
    field f[MAX_FIELDS];
    int n = fields(f, (train_args *)a, (train_pos *)p);
    sbuf b = {0};
    sb_printf(&b, "%s %d\n", MAGIC, VERSION);
    for (int i = 0; i < n; i++) {
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

/* ---- Reading ----------------------------------------------------------------------------------- */
/* The start of every message of ckpt_decode (with the checkpoint's path). */
#define NOT_CKPT "%s is not a checkpoint of rnnlm train (--checkpoint-every): "

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

/* The key=value lines after the first one into f[0..n) (seen[i]: f[i] was there) of a blob of
   this version. */
static int decode_lines(const char *path, int version, char *line, field *f, int n, int *seen)
{
    for (char *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        *nl = 0;
        char *eq = strchr(line, '=');
        RETURN_ERROR_IF(!eq, CLI_RUNTIME, NOT_CKPT "the training state has a malformed line '%.40s'",
                        path, line);
        *eq = 0;
        int i = 0;
        while (i < n && strcmp(f[i].key, line) != 0) i++;
        RETURN_ERROR_IF(i == n || added_after(line, version), CLI_RUNTIME,
                        NOT_CKPT "the training state has an unknown key '%.40s'", path, line);
        RETURN_ERROR_IF(seen[i], CLI_RUNTIME, NOT_CKPT "the training state has '%s' twice", path, line);
        seen[i] = 1;
        RETURN_ERROR_IF(parse_value(&f[i], eq + 1) != 0, CLI_RUNTIME,
                        NOT_CKPT "the training state has a bad value for '%s'", path, line);
    }
    for (int i = 0; i < n; i++)
        RETURN_ERROR_IF(!seen[i] && !added_after(f[i].key, version), CLI_RUNTIME,
                        NOT_CKPT "the training state lacks '%s'", path, f[i].key);
    return CLI_OK;
}

int ckpt_decode(const char *path, const void *data, size_t len, train_args *a, train_pos *p,
                char **store)
{
    *store = NULL;
    RETURN_ERROR_IF(!data || len == 0, CLI_RUNTIME, NOT_CKPT "it holds no training state", path);
    char head[64];
    int hl = snprintf(head, sizeof head, "%s ", MAGIC);
    RETURN_ERROR_IF(len < (size_t)hl || memcmp(data, head, (size_t)hl) != 0, CLI_RUNTIME,
                    NOT_CKPT "its application data is not an rnnlm training state", path);
    char *s = malloc(len + 1);
    RETURN_ERROR_IF(!s, CLI_RUNTIME, NOT_CKPT "out of memory", path);
    memcpy(s, data, len);
    s[len] = 0;
    *store = s;
    RETURN_ERROR_IF(memchr(s, 0, len) || s[len - 1] != '\n', CLI_RUNTIME,
                    NOT_CKPT "the training state is malformed", path);
    memset(a, 0, sizeof *a);
    memset(p, 0, sizeof *p);
    field f[MAX_FIELDS];
    int seen[MAX_FIELDS] = {0}, n = fields(f, a, p);
    char *nl = strchr(s, '\n');
    *nl = 0;
    int version = atoi(s + hl);
    RETURN_ERROR_IF(version < 1 || version > VERSION, CLI_RUNTIME,
                    NOT_CKPT "its training state has version '%s' (this rnnlm reads 1 to %d)", path, s + hl,
                    VERSION);
    return decode_lines(path, version, nl + 1, f, n, seen);
}
