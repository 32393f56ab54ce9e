/*
 * cli_opts.c -- flag parsing for rnnlm: --name VALUE and --name=VALUE, typed and range-checked,
 * with one clear "rnnlm: ..." line for every bad flag or value.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_error(int status, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    fflush(stdout);
    fprintf(stderr, "rnnlm: %s\n", buf);
    return status;
}

const cli_opt *cli_find(const cli_opt *opts, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(opts[i].name, name) == 0) return &opts[i];
    return NULL;
}

/* The option whose name is arg[0..len), or NULL. */
static cli_opt *find_len(cli_opt *opts, int n, const char *arg, size_t len)
{
    for (int i = 0; i < n; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, arg, len) == 0) return &opts[i];
    return NULL;
}

/* A description of the allowed range, e.g. "a positive integer" or "in [0, 1)". */
static void range_text(const cli_opt *o, char *buf, size_t n)
{
    int integer = o->kind == CLI_INT || o->kind == CLI_I64;
    if (!o->lo_open && o->lo == 1 && o->hi >= INT_MAX && integer)
        snprintf(buf, n, "a positive integer");
    else if (!o->lo_open && o->lo == 0 && isinf(o->hi))
        snprintf(buf, n, "a %snumber >= 0", integer ? "whole " : "");
    else if (!o->lo_open && o->lo == 0 && o->hi >= INT_MAX && integer)
        snprintf(buf, n, "an integer >= 0");
    else if (o->lo_open && o->lo == 0 && isinf(o->hi))
        snprintf(buf, n, "a number > 0");
    else
        snprintf(buf, n, "%s in %c%g, %g%c", integer ? "an integer" : "a number",
                 o->lo_open ? '(' : '[', o->lo, o->hi, o->hi_open ? ')' : ']');
}

static int in_range(const cli_opt *o, double x)
{
    if (o->lo_open ? !(x > o->lo) : !(x >= o->lo)) return 0;
    if (o->hi_open ? !(x < o->hi) : !(x <= o->hi)) return 0;
    return 1;
}

static int bad_value(const cli_opt *o, const char *val, const char *what)
{
    char r[96];
    range_text(o, r, sizeof r);
    if (what) return cli_error(CLI_USAGE, "--%s: '%s' is not %s", o->name, val, what);
    return cli_error(CLI_USAGE, "--%s must be %s, got '%s'", o->name, r, val);
}

static int parse_integer(cli_opt *o, const char *val)
{
    errno = 0;
    char *end;
    long long x = strtoll(val, &end, 10);
    if (end == val || *end || errno == ERANGE || !*val || isspace((unsigned char)val[0]))
        return bad_value(o, val, "an integer");
    if (!in_range(o, (double)x)) return bad_value(o, val, NULL);
    if (o->kind == CLI_INT) *(int *)o->dst = (int)x;
    else *(long long *)o->dst = x;
    return CLI_OK;
}

static int parse_real(cli_opt *o, const char *val)
{
    errno = 0;
    char *end;
    double x = strtod(val, &end);
    if (end == val || *end || !*val || isspace((unsigned char)val[0]))
        return bad_value(o, val, "a number");
    if (!isfinite(x)) return bad_value(o, val, "a finite number");
    if (!in_range(o, x)) return bad_value(o, val, NULL);
    *(double *)o->dst = x;
    return CLI_OK;
}

static int set_value(cli_opt *o, const char *val)
{
    switch (o->kind) {
    case CLI_INT:
    case CLI_I64: return parse_integer(o, val);
    case CLI_REAL: return parse_real(o, val);
    case CLI_STR:
        if (!*val) return cli_error(CLI_USAGE, "--%s needs a non-empty value", o->name);
        *(const char **)o->dst = val;
        return CLI_OK;
    case CLI_FLAG: *(int *)o->dst = 1; return CLI_OK;
    }
    return CLI_USAGE;
}

/* One flag at argv[*i]; advances *i past its value. */
static int parse_one(const char *cmd, int argc, char **argv, int *i, cli_opt *opts, int n)
{
    const char *arg = argv[*i];
    if (strncmp(arg, "--", 2) != 0 || !arg[2])
        return cli_error(CLI_USAGE, "%s: unexpected argument '%s' (see rnnlm %s --help)", cmd, arg,
                         cmd);
    const char *name = arg + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    cli_opt *o = find_len(opts, n, name, len);
    if (!o)
        return cli_error(CLI_USAGE, "%s: unknown flag '--%.*s' (see rnnlm %s --help)", cmd,
                         (int)len, name, cmd);
    o->seen = 1;
    if (o->kind == CLI_FLAG) {
        if (eq) return cli_error(CLI_USAGE, "--%s takes no value", o->name);
        return set_value(o, "");
    }
    const char *val = eq ? eq + 1 : NULL;
    if (!val) {
        if (*i + 1 >= argc) return cli_error(CLI_USAGE, "--%s needs a value", o->name);
        val = argv[++*i];
    }
    return set_value(o, val);
}

int cli_parse(const char *cmd, int argc, char **argv, cli_opt *opts, int n, int *help)
{
    *help = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            *help = 1;
            return CLI_OK;
        }
    }
    for (int i = 1; i < argc; i++) {
        int rc = parse_one(cmd, argc, argv, &i, opts, n);
        if (rc != CLI_OK) return rc;
    }
    return CLI_OK;
}

int cli_batching_mode(const char *s)
{
    if (strcmp(s, "torch") == 0) return CORPUS_BATCH_MAIN;
    if (strcmp(s, "seed") == 0) return CORPUS_BATCH_SEED;
    return -1;
}
