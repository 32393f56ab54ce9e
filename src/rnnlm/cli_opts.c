/*
 * cli_opts.c -- the flags of rnnlm from each command's table (cli_flag): defaults, parsing of
 * --name VALUE and --name=VALUE (typed and range-checked, with one clear "rnnlm: ..." line for
 * every bad flag or value), required flags, the flags' part of --help, and cli_error.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* "rank R: " under mpirun on ranks other than 0 (cli_set_error_rank), else "" */
static char g_rank_prefix[32];

void cli_set_error_rank(int rank)
{
    if (rank > 0) snprintf(g_rank_prefix, sizeof g_rank_prefix, "rank %d: ", rank);
    else g_rank_prefix[0] = 0;
}

int cli_error(int status, const char *fmt, ...)
{
    char small[1024], *buf = small;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof small && (buf = malloc((size_t)n + 1)) != NULL) { /* a long path: not cut */
        va_start(ap, fmt);
        vsnprintf(buf, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    if (!buf) buf = small;
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    fflush(stdout);
    fprintf(stderr, "rnnlm: %s%s\n", g_rank_prefix, buf);
    if (buf != small) free(buf);
    return status;
}

int64_t cli_limit(int limit)
{
    int64_t v = 1;
    if (rnn_limit_get(limit, &v) != RNN_OK || v < 1) v = 1;
    return v > INT32_MAX ? INT32_MAX : v;
}

/* The names of librnn's limits (rnn.h's RNN_LIMIT_*), for messages. */
static const char *limit_name(int limit)
{
    static const char *const names[] = {"RNN_LIMIT_DIM", "RNN_LIMIT_LAYERS", "RNN_LIMIT_THREADS",
                                        "RNN_LIMIT_CHUNK", "RNN_LIMIT_WORD_BYTES", "RNN_LIMIT_APP_DATA",
                                        "RNN_LIMIT_REPEAT_WINDOW"};
    return limit >= 0 && limit < (int)(sizeof names / sizeof names[0]) ? names[limit] : "a limit";
}

static void *value_at(const cli_flag *f, void *args) { return (char *)args + f->off; }
static const void *cvalue_at(const cli_flag *f, const void *args) { return (const char *)args + f->off; }

static double upper_bound(const cli_flag *f)
{
    return f->limit ? (double)cli_limit(f->limit - 1) : f->hi;
}

/* A description of the allowed range, e.g. "a positive integer" or "in [0, 1)". */
static void range_text(const cli_flag *f, char *buf, size_t n)
{
    int integer = f->kind == CLI_INT || f->kind == CLI_I64;
    double hi = upper_bound(f);
    if (!f->lo_open && f->lo == 1 && hi >= INT_MAX && integer)
        snprintf(buf, n, "a positive integer");
    else if (!f->lo_open && f->lo == 0 && isinf(hi))
        snprintf(buf, n, "a %snumber >= 0", integer ? "whole " : "");
    else if (!f->lo_open && f->lo == 0 && hi >= INT_MAX && integer)
        snprintf(buf, n, "an integer >= 0");
    else if (f->lo_open && f->lo == 0 && isinf(hi))
        snprintf(buf, n, "a number > 0");
    else if (integer)
        snprintf(buf, n, "an integer in %c%.0f, %.0f%c%s%s%s", f->lo_open ? '(' : '[', f->lo, hi,
                 f->hi_open ? ')' : ']', f->limit ? " (librnn's " : "",
                 f->limit ? limit_name(f->limit - 1) : "", f->limit ? ")" : "");
    else
        snprintf(buf, n, "a number in %c%g, %g%c", f->lo_open ? '(' : '[', f->lo, hi,
                 f->hi_open ? ')' : ']');
}

static int in_range(const cli_flag *f, double x)
{
    double hi = upper_bound(f);
    if (f->lo_open ? !(x > f->lo) : !(x >= f->lo)) return 0;
    if (f->hi_open ? !(x < hi) : !(x <= hi)) return 0;
    return 1;
}

/* The number in args as a double (CLI_INT, CLI_I64, CLI_REAL). */
static double number_at(const cli_flag *f, const void *args)
{
    const void *p = cvalue_at(f, args);
    if (f->kind == CLI_INT) return *(const int *)p;
    if (f->kind == CLI_I64) return (double)*(const long long *)p;
    return *(const double *)p;
}

/* Writes the value text val into args without checks (defaults), for number kinds and strings. */
static void store(const cli_flag *f, void *args, const char *val)
{
    void *p = value_at(f, args);
    switch (f->kind) {
    case CLI_INT: *(int *)p = val ? (int)strtol(val, NULL, 10) : 0; break;
    case CLI_I64: *(long long *)p = val ? strtoll(val, NULL, 10) : 0; break;
    case CLI_REAL: *(double *)p = val ? strtod(val, NULL) : 0.0; break;
    case CLI_STR: *(const char **)p = val; break;
    case CLI_FLAG: *(int *)p = 0; break;
    }
}

/* A CLI_FLOAT flag's value x is in its range also as the float librnn computes with. */
static int float_ok(const cli_flag *f, double x)
{
    float xf = (float)x;
    return !(f->what & CLI_FLOAT) || (isfinite(xf) && in_range(f, xf));
}

int cli_flag_valid(const cli_flag *f, const void *args)
{
    if (f->kind == CLI_STR || f->kind == CLI_FLAG) return 1;
    double x = number_at(f, args), d = f->def ? strtod(f->def, NULL) : 0.0;
    return (in_range(f, x) && float_ok(f, x)) || x == d;
}

void cli_flag_copy(const cli_flag *f, void *dst, const void *src)
{
    static const size_t size[] = {[CLI_INT] = sizeof(int), [CLI_I64] = sizeof(long long),
                                  [CLI_REAL] = sizeof(double), [CLI_STR] = sizeof(const char *),
                                  [CLI_FLAG] = sizeof(int)};
    memcpy(value_at(f, dst), cvalue_at(f, src), size[f->kind]);
}

static int bad_value(const cli_flag *f, const char *val, const char *what)
{
    char r[96];
    range_text(f, r, sizeof r);
    RETURN_ERROR_IF(what, CLI_USAGE, "--%s: '%s' is not %s", f->name, val, what);
    RETURN_ERROR(CLI_USAGE, "--%s must be %s, got '%s'", f->name, r, val);
}

static int parse_integer(const cli_flag *f, void *args, const char *val)
{
    errno = 0;
    char *end;
    long long x = strtoll(val, &end, 10);
    if (end == val || *end || errno == ERANGE || !*val || isspace((unsigned char)val[0]))
        return bad_value(f, val, "an integer");
    if (!in_range(f, (double)x)) return bad_value(f, val, NULL);
    if (f->kind == CLI_INT) *(int *)value_at(f, args) = (int)x;
    else *(long long *)value_at(f, args) = x;
    return CLI_OK;
}

static int parse_real(const cli_flag *f, void *args, const char *val)
{
    errno = 0;
    char *end;
    double x = strtod(val, &end);
    if (end == val || *end || !*val || isspace((unsigned char)val[0]))
        return bad_value(f, val, "a number");
    if (!isfinite(x)) return bad_value(f, val, "a finite number");
    if (!in_range(f, x)) return bad_value(f, val, NULL);
    if (!float_ok(f, x)) { /* e.g. --lr 1e39 (inf as a float), --clip 1e-50 (0 as a float) */
        char r[96];
        range_text(f, r, sizeof r);
        RETURN_ERROR(CLI_USAGE, "--%s must be %s also as a 32-bit float (librnn computes in float), got "
                                "'%s', which is %g as a float", f->name, r, val, (double)(float)x);
    }
    *(double *)value_at(f, args) = x;
    return CLI_OK;
}

static int set_value(const cli_flag *f, void *args, const char *val)
{
    switch (f->kind) {
    case CLI_INT:
    case CLI_I64: return parse_integer(f, args, val);
    case CLI_REAL: return parse_real(f, args, val);
    case CLI_STR:
        RETURN_ERROR_IF(!*val, CLI_USAGE, "--%s needs a non-empty value", f->name);
        *(const char **)value_at(f, args) = val;
        return CLI_OK;
    case CLI_FLAG: *(int *)value_at(f, args) = 1; return CLI_OK;
    }
    return CLI_USAGE;
}

/* The index of the flag whose name is arg[0..len), or -1. */
static int find_len(const cli_command *c, const char *arg, size_t len)
{
    for (int i = 0; i < c->nflags; i++)
        if (strlen(c->flags[i].name) == len && strncmp(c->flags[i].name, arg, len) == 0) return i;
    return -1;
}

/* One flag at argv[*i]; advances *i past its value. */
static int parse_one(const cli_command *c, int argc, char **argv, int *i, void *args, uint64_t *seen)
{
    const char *arg = argv[*i], *cmd = c->name;
    RETURN_ERROR_IF(strncmp(arg, "--", 2) != 0 || !arg[2], CLI_USAGE,
                    "%s: unexpected argument '%s' (see rnnlm %s --help)", cmd, arg, cmd);
    const char *name = arg + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    int k = find_len(c, name, len);
    RETURN_ERROR_IF(k < 0, CLI_USAGE, "%s: unknown flag '--%.*s' (see rnnlm %s --help)", cmd, (int)len,
                    name, cmd);
    const cli_flag *f = &c->flags[k];
    *seen |= (uint64_t)1 << k;
    if (f->kind == CLI_FLAG) {
        RETURN_ERROR_IF(eq, CLI_USAGE, "--%s takes no value", f->name);
        return set_value(f, args, "");
    }
    const char *val = eq ? eq + 1 : NULL;
    if (!val) {
        RETURN_ERROR_IF(*i + 1 >= argc, CLI_USAGE, "--%s needs a value", f->name);
        val = argv[++*i];
    }
    return set_value(f, args, val);
}

int cli_parse(const cli_command *c, int argc, char **argv, void *args, uint64_t *seen, int *help)
{
    uint64_t given = 0;
    *help = 0;
    if (seen) *seen = 0;
    for (int i = 0; i < c->nflags; i++) store(&c->flags[i], args, c->flags[i].def);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            *help = 1;
            return CLI_OK;
        }
    }
    for (int i = 1; i < argc; i++) FORWARD_IF_ERROR(parse_one(c, argc, argv, &i, args, &given));
    if (seen) *seen = given;
    return CLI_OK;
}

int cli_require(const cli_command *c, const void *args)
{
    for (int i = 0; i < c->nflags; i++) {
        const cli_flag *f = &c->flags[i];
        RETURN_ERROR_IF((f->what & CLI_REQUIRED) && !*(const char *const *)cvalue_at(f, args), CLI_USAGE,
                        "%s: --%s %s is required", c->name, f->name, f->arg);
    }
    return CLI_OK;
}

/* "  --name ARG" padded to the column (or on a line of its own when it reaches it), then the help
   text with %D replaced by the default and its lines indented to the column. */
static void print_flag(const cli_command *c, const cli_flag *f, FILE *out)
{
    int n = fprintf(out, "  --%s%s%s", f->name, f->arg ? " " : "", f->arg ? f->arg : "");
    if (n + 2 > c->column) {
        fputc('\n', out);
        n = 0;
    }
    fprintf(out, "%*s", c->column - n, "");
    for (const char *s = f->help; *s; s++) {
        if (s[0] == '%' && s[1] == 'D') {
            fputs(f->def ? f->def : "", out);
            s++;
            continue;
        }
        fputc(*s, out);
        if (*s == '\n') fprintf(out, "%*s", c->column, "");
    }
    fputs((f->what & CLI_REQUIRED) ? " (required)\n" : "\n", out);
}

int cli_help(const cli_command *c)
{
    fputs(c->head, stdout);
    for (int i = 0; i < c->nflags; i++) print_flag(c, &c->flags[i], stdout);
    if (c->tail) fputs(c->tail, stdout);
    return CLI_OK;
}

int cli_batching_mode(const char *s)
{
    if (strcmp(s, "torch") == 0) return CORPUS_BATCH_MAIN;
    if (strcmp(s, "seed") == 0) return CORPUS_BATCH_SEED;
    return -1;
}

int cli_unk_policy(const char *s, unsigned *flags)
{
    if (strcmp(s, "error") == 0) return *flags = 0u, CLI_OK;
    if (strcmp(s, "map") == 0) return *flags = RNN_ENCODE_UNK_MAP, CLI_OK;
    if (strcmp(s, "skip") == 0) return *flags = RNN_ENCODE_UNK_SKIP, CLI_OK;
    RETURN_ERROR(CLI_USAGE, "--unk-policy must be error, map or skip, got '%s'", s);
}

int cli_check_batching(const char *batching, int bptt)
{
    int mode = cli_batching_mode(batching);
    RETURN_ERROR_IF(mode < 0, CLI_USAGE, "--batching must be torch or seed, got '%s'", batching);
    /* the lecture note's loss is output[:, :-1] against batch[:, 1:]: the last token of a chunk
       has no target inside it */
    RETURN_ERROR_IF(mode == CORPUS_BATCH_SEED && bptt < 2, CLI_USAGE,
                    "--batching seed predicts each token of a chunk from the one before it in the "
                    "chunk, so --bptt %d would score no target at all; use --bptt 2 or more", bptt);
    return CLI_OK;
}

int cli_check_chunk(int batch, const char *batch_name, int bptt)
{
    long long n = (long long)batch * bptt, most = (long long)cli_limit(RNN_LIMIT_CHUNK);
    RETURN_ERROR_IF(n > most, CLI_USAGE,
                    "%s %d x --bptt %d = %lld tokens per chunk, more than librnn's limit of %lld "
                    "(RNN_LIMIT_CHUNK)", batch_name, batch, bptt, n, most);
    return CLI_OK;
}
