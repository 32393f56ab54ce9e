/*
 * base.c -- version, status strings, limits, cell names, errors, allocation, the struct_size
 * rules and the configuration's defaults and checks: what the other modules share.
 */
#include "base.h"
#include "cell.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- version, status, limits ----------------------------------------------------------------- */
unsigned rnn_version_number(void) { return RNN_VERSION_NUMBER; }
const char *rnn_version_string(void) { return RNN_VERSION_STRING; }

const char *rnn_status_string(int status)
{
    switch (status) {
    case RNN_OK: return "success";
    case RNN_ERR_INVALID: return "invalid argument";
    case RNN_ERR_RANGE: return "value out of range";
    case RNN_ERR_STATE: return "call out of order or batch size mismatch";
    case RNN_ERR_NOMEM: return "out of memory";
    case RNN_ERR_IO: return "input/output error";
    case RNN_ERR_FORMAT: return "malformed or unsupported data";
    case RNN_ERR_NUMERIC: return "non-finite value";
    case RNN_ERR_NOTFOUND: return "not found";
    case RNN_ERR_SIZE: return "output buffer too small";
    default: return "unknown status";
    }
}

int rnn_limit_get(int limit, int64_t *value)
{
    if (!value) return RNN_ERR_INVALID;
    switch (limit) {
    case RNN_LIMIT_DIM: *value = RNN__MAX_DIM; return RNN_OK;
    case RNN_LIMIT_LAYERS: *value = RNN__MAX_LAYERS; return RNN_OK;
    case RNN_LIMIT_THREADS: *value = RNN__MAX_THREADS; return RNN_OK;
    case RNN_LIMIT_CHUNK: *value = RNN__MAX_CHUNK; return RNN_OK;
    case RNN_LIMIT_WORD_BYTES: *value = (int64_t)RNN__MAX_WORD; return RNN_OK;
    case RNN_LIMIT_APP_DATA: *value = (int64_t)RNN__MAX_APP; return RNN_OK;
    case RNN_LIMIT_REPEAT_WINDOW: *value = RNN__MAX_REPEAT; return RNN_OK;
    case RNN_LIMIT_CUTOFFS: *value = RNN_MAX_CUTOFFS; return RNN_OK;
    default: return RNN_ERR_INVALID;
    }
}

const rnn__cell *const rnn__cells[RNN_CELL_COUNT] = {&rnn__cell_tanh, &rnn__cell_relu, &rnn__cell_lstm, &rnn__cell_gru};
_Static_assert(RNN_CELL_TANH == 0 && RNN_CELL_RELU == 1 && RNN_CELL_LSTM == 2 && RNN_CELL_GRU == 3 && RNN_CELL_COUNT == 4,
               "rnn__cells is indexed by the RNN_CELL_* ids");

const rnn__cell *rnn__cell_get(int id) { return id >= 0 && id < RNN_CELL_COUNT ? rnn__cells[id] : NULL; }

int rnn_cell_name(int cell, const char **name)
{
    const rnn__cell *c = rnn__cell_get(cell);
    if (!c || !name) return RNN_ERR_INVALID;
    *name = c->name;
    return RNN_OK;
}

int rnn_cell_find(const char *name, int *cell)
{
    if (!name || !cell) return RNN_ERR_INVALID;
    for (int i = 0; i < RNN_CELL_COUNT; i++)
        if (strcmp(rnn__cells[i]->name, name) == 0) {
            *cell = i;
            return RNN_OK;
        }
    return RNN_ERR_NOTFOUND;
}

/* ---- errors ---------------------------------------------------------------------------------- */
int rnn__failf(rnn__err *e, int status, const char *fmt, ...)
{
    if (!e) return status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->code = status;
    return status;
}

int rnn__bufail(char *buf, size_t len, int status, const char *fmt, ...)
{
    if (!buf || !len) return status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return status;
}

/* ---- hashes ------------------------------------------------------------------------------------ */
uint64_t rnn__fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

uint64_t rnn__splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* ---- allocation ------------------------------------------------------------------------------ */
static void *default_alloc(void *user, size_t size) { (void)user; return malloc(size); }
static void default_free(void *user, void *p) { (void)user; free(p); }

int rnn__allocator_init(rnn_allocator *out, const rnn_allocator *in, char *errbuf, size_t errlen)
{
    rnn_allocator al = {sizeof al, default_alloc, default_free, NULL};
    if (in) {
        rnn_allocator got = {sizeof got, NULL, NULL, NULL};
        int rc = rnn__struct_read(&rnn__allocator_layout, &got, in, errbuf, errlen);
        if (rc) return rc;
        if (!got.alloc != !got.free)
            return rnn__bufail(errbuf, errlen, RNN_ERR_INVALID, "rnn_allocator: set both alloc and free, or neither");
        if (got.alloc) al = got;
    }
    *out = al;
    return RNN_OK;
}

void *rnn__alloc(const rnn_allocator *al, size_t bytes) { return bytes ? al->alloc(al->user, bytes) : NULL; }

void rnn__free(const rnn_allocator *al, void *p)
{
    if (p) al->free(al->user, p);
}

size_t rnn__mul_size(size_t a, size_t b) { return (a && b > SIZE_MAX / a) ? 0 : a * b; }

/* ---- structs that grow ----------------------------------------------------------------------- */
static const rnn__field config_fields[] = {
    RNN__FIELD(rnn_config, struct_size), RNN__FIELD(rnn_config, cell),        RNN__FIELD(rnn_config, vocab_size),
    RNN__FIELD(rnn_config, emb_size),    RNN__FIELD(rnn_config, hidden_size), RNN__FIELD(rnn_config, num_layers),
    RNN__FIELD(rnn_config, dropout),     RNN__FIELD(rnn_config, tied),        RNN__FIELD(rnn_config, seed),
    RNN__FIELD(rnn_config, output),      RNN__FIELD(rnn_config, num_cutoffs), RNN__FIELD(rnn_config, cutoffs),
    RNN__FIELD(rnn_config, div_value),   RNN__FIELD(rnn_config, head_bias),   RNN__FIELD(rnn_config, dropout_masks)};
/* rnn_sampling.reserved_1_0 is not listed: never copied, so never read, whatever a 1.0 program
 * left in its tail padding (a 1.0 struct_size of 24 covers it); nor checked, since it lies inside
 * the library's struct */
static const rnn__field sampling_fields[] = {RNN__FIELD(rnn_sampling, struct_size), RNN__FIELD(rnn_sampling, temperature),
                                             RNN__FIELD(rnn_sampling, top_k),       RNN__FIELD(rnn_sampling, top_p),
                                             RNN__FIELD(rnn_sampling, min_p),       RNN__FIELD(rnn_sampling, repeat_penalty),
                                             RNN__FIELD(rnn_sampling, repeat_last_n)};
static const rnn__field param_fields[] = {RNN__FIELD(rnn_param, struct_size), RNN__FIELD(rnn_param, name),
                                          RNN__FIELD(rnn_param, data),        RNN__FIELD(rnn_param, grad),
                                          RNN__FIELD(rnn_param, rows),        RNN__FIELD(rnn_param, cols),
                                          RNN__FIELD(rnn_param, size)};
static const rnn__field allocator_fields[] = {RNN__FIELD(rnn_allocator, struct_size), RNN__FIELD(rnn_allocator, alloc),
                                              RNN__FIELD(rnn_allocator, free), RNN__FIELD(rnn_allocator, user)};
#define LAYOUT(T, f) {#T, sizeof(T), f, (int)(sizeof f / sizeof f[0])}
const rnn__layout rnn__config_layout = LAYOUT(rnn_config, config_fields);
const rnn__layout rnn__sampling_layout = LAYOUT(rnn_sampling, sampling_fields);
const rnn__layout rnn__param_layout = LAYOUT(rnn_param, param_fields);
const rnn__layout rnn__allocator_layout = LAYOUT(rnn_allocator, allocator_fields);

/* A caller's struct_size is valid when it holds at least struct_size itself and ends at no
 * field's inside (a field is either wholly in the caller's struct or wholly past it). */
static int check_size(const rnn__layout *L, size_t s, char *err, size_t errlen)
{
    if (s < sizeof(size_t))
        return rnn__bufail(err, errlen, RNN_ERR_INVALID, "%s.struct_size %zu is too small (set it to sizeof(%s))",
                           L->name, s, L->name);
    if (s > RNN__MAX_STRUCT) /* (far past any struct of 1.x: most likely an uninitialised one) */
        return rnn__bufail(err, errlen, RNN_ERR_INVALID, "%s.struct_size %zu is not a struct's size (was it initialised?)",
                           L->name, s);
    for (int i = 0; i < L->nfields; i++)
        if (L->fields[i].off < s && s < L->fields[i].off + L->fields[i].size)
            return rnn__bufail(err, errlen, RNN_ERR_INVALID, "%s.struct_size %zu ends inside a field (set it to sizeof(%s))",
                               L->name, s, L->name);
    return RNN_OK;
}

int rnn__struct_read(const rnn__layout *L, void *lib, const void *in, char *err, size_t errlen)
{
    size_t s;
    memcpy(&s, in, sizeof s);
    int rc = check_size(L, s, err, errlen);
    if (rc) return rc;
    for (size_t i = L->size; i < s; i++)
        if (((const unsigned char *)in)[i])
            return rnn__bufail(err, errlen, RNN_ERR_INVALID,
                               "%s has a field at offset %zu that librnn %s does not know, set to a non-default value",
                               L->name, i, RNN_VERSION_STRING);
    for (int i = 1; i < L->nfields; i++) {
        const rnn__field *f = &L->fields[i];
        if (f->off + f->size <= s) memcpy((char *)lib + f->off, (const char *)in + f->off, f->size);
    }
    size_t own = L->size;
    memcpy(lib, &own, sizeof own);
    return RNN_OK;
}

int rnn__struct_write(const rnn__layout *L, void *out, const void *lib, char *err, size_t errlen)
{
    size_t s;
    memcpy(&s, out, sizeof s);
    int rc = check_size(L, s, err, errlen);
    if (rc) return rc;
    for (int i = 1; i < L->nfields; i++) {
        const rnn__field *f = &L->fields[i];
        if (f->off + f->size <= s) memcpy((char *)out + f->off, (const char *)lib + f->off, f->size);
    }
    if (s > L->size) memset((char *)out + L->size, 0, s - L->size);
    return RNN_OK;
}

int rnn__struct_init(const rnn__layout *L, void *out, size_t size, const void *lib)
{
    if (!out || check_size(L, size, NULL, 0)) return RNN_ERR_INVALID;
    memset(out, 0, size);
    memcpy(out, &size, sizeof size);
    return rnn__struct_write(L, out, lib, NULL, 0);
}

/* ---- configuration --------------------------------------------------------------------------- */
void rnn__config_defaults(rnn_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->struct_size = sizeof *cfg;
    cfg->cell = RNN_CELL_LSTM;
    cfg->vocab_size = 0;
    cfg->emb_size = 200;
    cfg->hidden_size = 200;
    cfg->num_layers = 2;
    cfg->dropout = 0.2f;
    cfg->tied = 0;
    cfg->seed = 1111;
}

int rnn_config_init(rnn_config *cfg, size_t size)
{
    rnn_config d;
    rnn__config_defaults(&d);
    return rnn__struct_init(&rnn__config_layout, cfg, size, &d);
}

/* Python's float floor division x // y (float_floor_div: fmod, then the rounding fix), which
 * PyTorch's module applies to int // float: floor(x / y) can differ from it by one where x / y
 * rounds up to an integer. */
static double py_floordiv(double x, double y)
{
    double mod = fmod(x, y), div = (x - mod) / y;
    if (mod != 0.0 && ((y < 0) != (mod < 0))) div -= 1.0;
    if (div == 0.0) return 0.0 * (x / y);
    double f = floor(div);
    return div - f > 0.5 ? f + 1.0 : f;
}

double rnn__adaptive_proj(const rnn_config *cfg, int i)
{
    double div = cfg->div_value == 0.0f ? 4.0 : (double)cfg->div_value;
    return py_floordiv((double)cfg->hidden_size, pow(div, (double)(i + 1)));
}

uint64_t rnn__config_params(const rnn_config *cfg)
{
    uint64_t V = (uint64_t)cfg->vocab_size, E = (uint64_t)cfg->emb_size, H = (uint64_t)cfg->hidden_size;
    uint64_t G = (uint64_t)rnn__cell_get(cfg->cell)->gates;
    /* each term < 2^53, at most ~2050 of them: no overflow */
    uint64_t n = V * E;
    if (cfg->output == RNN_OUTPUT_ADAPTIVE) {
        int nc = cfg->num_cutoffs;
        uint64_t HS = (uint64_t)cfg->cutoffs[0] + (uint64_t)nc;
        n += HS * H + (cfg->head_bias ? HS : 0);
        for (int i = 0; i < nc; i++) {
            uint64_t p = (uint64_t)rnn__adaptive_proj(cfg, i);
            uint64_t osz = (uint64_t)((i + 1 < nc ? cfg->cutoffs[i + 1] : cfg->vocab_size) - cfg->cutoffs[i]);
            n += p * H + osz * p;
        }
    } else {
        n += V + (cfg->tied ? 0 : V * H);
    }
    for (uint64_t l = 0; l < (uint64_t)cfg->num_layers; l++) n += G * H * ((l ? H : E) + H + 2);
    return n;
}

static int dim_bad(int v) { return v < 1 || v > RNN__MAX_DIM; }

/* the output layer's settings, as AdaptiveLogSoftmaxWithLoss's constructor validates them */
static int adaptive_check(const rnn_config *c, char *err, size_t errlen)
{
#define BAD(...) return rnn__bufail(err, errlen, RNN_ERR_INVALID, __VA_ARGS__)
    int any = c->num_cutoffs != 0 || c->div_value != 0.0f || c->head_bias != 0;
    for (int i = 0; i < RNN_MAX_CUTOFFS; i++) any |= c->cutoffs[i] != 0;
    if (c->output == RNN_OUTPUT_FULL) {
        if (any) BAD("num_cutoffs, cutoffs, div_value and head_bias are for output RNN_OUTPUT_ADAPTIVE; with "
                     "RNN_OUTPUT_FULL they must be 0");
        return RNN_OK;
    }
    if (c->output != RNN_OUTPUT_ADAPTIVE)
        BAD("output %d is not RNN_OUTPUT_FULL (0) or RNN_OUTPUT_ADAPTIVE (1)", c->output);
    if (c->tied) BAD("an adaptive output layer cannot be tied (its head is not the encoder's shape)");
    int n = c->num_cutoffs;
    if (n < 1 || n > RNN_MAX_CUTOFFS) BAD("num_cutoffs %d is outside [1, %d]", n, RNN_MAX_CUTOFFS);
    for (int i = 0; i < n; i++) {
        if (c->cutoffs[i] < 1 || c->cutoffs[i] > c->vocab_size - 1)
            BAD("cutoffs[%d] %d is outside [1, vocab_size - 1 = %d]", i, c->cutoffs[i], c->vocab_size - 1);
        if (i > 0 && c->cutoffs[i] <= c->cutoffs[i - 1])
            BAD("cutoffs must be strictly increasing (cutoffs[%d] %d after %d)", i, c->cutoffs[i], c->cutoffs[i - 1]);
    }
    for (int i = n; i < RNN_MAX_CUTOFFS; i++)
        if (c->cutoffs[i]) BAD("cutoffs[%d] is %d past num_cutoffs %d (must be 0)", i, c->cutoffs[i], n);
    if (!(c->div_value >= 0.0f) || isinf(c->div_value))
        BAD("div_value %g must be finite and > 0 (0: 4)", (double)c->div_value);
    for (int i = 0; i < n; i++) {
        double p = rnn__adaptive_proj(c, i);
        if (!(p >= 1.0))
            BAD("cluster %d's projection floor(hidden_size %d / div_value %g^%d) has 0 units (lower div_value or "
                "fewer cutoffs)", i, c->hidden_size, c->div_value == 0.0f ? 4.0 : (double)c->div_value, i + 1);
        if (p > RNN__MAX_DIM)
            BAD("cluster %d's projection floor(hidden_size %d / div_value %g^%d) exceeds %d", i, c->hidden_size,
                (double)c->div_value, i + 1, RNN__MAX_DIM);
    }
    return RNN_OK;
#undef BAD
}

int rnn__config_check(const rnn_config *c, char *err, size_t errlen)
{
#define BAD(...) return rnn__bufail(err, errlen, RNN_ERR_INVALID, __VA_ARGS__)
    if (!rnn__cell_get(c->cell)) BAD("cell %d is not an RNN_CELL_* id (0..%d)", c->cell, RNN_CELL_COUNT - 1);
    if (dim_bad(c->vocab_size)) BAD("vocab_size %d is outside [1, %d]", c->vocab_size, RNN__MAX_DIM);
    if (dim_bad(c->emb_size)) BAD("emb_size %d is outside [1, %d]", c->emb_size, RNN__MAX_DIM);
    if (dim_bad(c->hidden_size)) BAD("hidden_size %d is outside [1, %d]", c->hidden_size, RNN__MAX_DIM);
    if (c->num_layers < 1 || c->num_layers > RNN__MAX_LAYERS)
        BAD("num_layers %d is outside [1, %d]", c->num_layers, RNN__MAX_LAYERS);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f)) BAD("dropout %g is outside [0, 1)", (double)c->dropout);
    if (c->dropout_masks != RNN_DROPOUT_GENERATOR && c->dropout_masks != RNN_DROPOUT_COUNTER)
        BAD("dropout_masks %d is not RNN_DROPOUT_GENERATOR (0) or RNN_DROPOUT_COUNTER (1)", c->dropout_masks);
    if (c->tied && c->emb_size != c->hidden_size)
        BAD("tied weights need emb_size == hidden_size (got %d and %d)", c->emb_size, c->hidden_size);
    return adaptive_check(c, err, errlen);
#undef BAD
}
