/*
 * api.c -- the public entry points. Each checks every argument before it touches the handle, so
 * a failing call leaves the model as it was and records why in the handle's message.
 */
#include "internal.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- version, errors, allocation -------------------------------------------------------------- */
unsigned rnn_version_number(void) { return RNN_VERSION_NUMBER; }
const char *rnn_version_string(void) { return RNN_VERSION_STRING; }

const char *rnn_strerror(int status)
{
    switch (status) {
    case RNN_OK: return "success";
    case RNN_ERR_INVALID: return "invalid argument";
    case RNN_ERR_RANGE: return "token id out of range";
    case RNN_ERR_STATE: return "call out of order or batch size mismatch";
    case RNN_ERR_NOMEM: return "out of memory";
    case RNN_ERR_IO: return "input/output error";
    case RNN_ERR_FORMAT: return "malformed or unsupported file";
    case RNN_ERR_NUMERIC: return "non-finite value";
    case RNN_ERR_NOTFOUND: return "not found";
    default: return "unknown error";
    }
}

const char *rnn_errmsg(const rnn_model *m) { return m ? m->err : "no model handle (NULL)"; }

int rnn__fail(rnn_model *m, int status, const char *fmt, ...)
{
    if (m) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(m->err, sizeof m->err, fmt, ap);
        va_end(ap);
    }
    return status;
}

void *rnn__default_alloc(void *user, size_t size) { (void)user; return malloc(size); }
void rnn__default_free(void *user, void *p) { (void)user; free(p); }

void *rnn__alloc(rnn_model *m, size_t bytes) { return bytes ? m->al.alloc(m->al.user, bytes) : NULL; }
void rnn__free(rnn_model *m, void *p)
{
    if (p) m->al.free(m->al.user, p);
}

/* a * b, or 0 when it would overflow SIZE_MAX */
static size_t mul_size(size_t a, size_t b) { return (a && b > SIZE_MAX / a) ? 0 : a * b; }

/* ---- configuration and creation ------------------------------------------------------------- */
void rnn_config_init(rnn_config *cfg)
{
    if (!cfg) return;
    memset(cfg, 0, sizeof *cfg);
    cfg->cell = RNN_CELL_LSTM;
    cfg->vocab_size = 0;
    cfg->emb_size = 200;
    cfg->hidden_size = 200;
    cfg->num_layers = 2;
    cfg->dropout = 0.2f;
    cfg->tied = 0;
    cfg->seed = 1111;
}

#define RNN_MAX_DIM (1 << 24)

static const rnn_cell *cell_table(int cell)
{
    switch (cell) {
    case RNN_CELL_TANH: return &rnn_cell_tanh;
    case RNN_CELL_RELU: return &rnn_cell_relu;
    case RNN_CELL_LSTM: return &rnn_cell_lstm;
    case RNN_CELL_GRU: return &rnn_cell_gru;
    default: return NULL;
    }
}

static void add_tensor(rnn_model *m, size_t *off, const char *name, int rows, int cols)
{
    rnn_tensor *t = &m->tensors[m->ntensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->offset = *off, t->rows = rows, t->cols = cols;
    *off += (size_t)rows * cols;
}

int rnn_model_create(rnn_model **out, const rnn_config *cfg, const rnn_allocator *alloc)
{
    if (!out) return RNN_ERR_INVALID;
    *out = NULL;
    if (!cfg) return RNN_ERR_INVALID;
    const rnn_cell *cell = cell_table(cfg->cell);
    int V = cfg->vocab_size, E = cfg->emb_size, H = cfg->hidden_size, L = cfg->num_layers;
    if (!cell || V <= 0 || E <= 0 || H <= 0 || L <= 0 || V > RNN_MAX_DIM || E > RNN_MAX_DIM ||
        H > RNN_MAX_DIM || L > 1024 || !(cfg->dropout >= 0.0f && cfg->dropout < 1.0f) ||
        (cfg->tied && E != H))
        return RNN_ERR_INVALID;
    rnn_allocator al = {rnn__default_alloc, rnn__default_free, NULL};
    if (alloc) {
        if (!alloc->alloc != !alloc->free) return RNN_ERR_INVALID;
        if (alloc->alloc) al = *alloc;
    }
    rnn_model *m = al.alloc(al.user, sizeof *m);
    if (!m) return RNN_ERR_NOMEM;
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->cfg.tied = cfg->tied != 0;
    m->al = al;
    m->cell = cell;
    m->G = cell->gates;

    /* the parameter table, in PyTorch's parameters() order */
    int nt = 1 + 4 * L + (m->cfg.tied ? 0 : 1) + 1;
    m->tensors = rnn__alloc(m, sizeof(rnn_tensor) * (size_t)nt);
    m->layers = rnn__alloc(m, sizeof(rnn_layer_params) * (size_t)L);
    m->lists = rnn__alloc(m, sizeof(float *) * (size_t)L * 8);
    if (!m->tensors || !m->layers || !m->lists) goto nomem;
    float **lists = m->lists;
    m->buf.y = lists, m->buf.cache = lists + L, m->buf.xd = lists + 2 * L, m->buf.md = lists + 3 * L;
    m->measure_buf = m->buf;
    m->measure_buf.y = lists + 4 * L, m->measure_buf.cache = lists + 5 * L;
    m->measure_buf.xd = lists + 6 * L, m->measure_buf.md = lists + 7 * L;

    size_t off = 0;
    char name[RNN_NAME_MAX];
    m->enc = off;
    add_tensor(m, &off, "encoder.weight", V, E);
    for (int l = 0; l < L; l++) {
        rnn_layer_params *lp = &m->layers[l];
        int in = l == 0 ? E : H, GH = m->G * H;
        lp->in = in;
        snprintf(name, sizeof name, "rnn.weight_ih_l%d", l);
        lp->w_ih = off, add_tensor(m, &off, name, GH, in);
        snprintf(name, sizeof name, "rnn.weight_hh_l%d", l);
        lp->w_hh = off, add_tensor(m, &off, name, GH, H);
        snprintf(name, sizeof name, "rnn.bias_ih_l%d", l);
        lp->b_ih = off, add_tensor(m, &off, name, 1, GH);
        snprintf(name, sizeof name, "rnn.bias_hh_l%d", l);
        lp->b_hh = off, add_tensor(m, &off, name, 1, GH);
    }
    m->dec_w = m->enc;
    if (!m->cfg.tied) m->dec_w = off, add_tensor(m, &off, "decoder.weight", V, H);
    m->dec_b = off;
    add_tensor(m, &off, "decoder.bias", 1, V);
    m->nparams = off;
    size_t bytes = mul_size(off, sizeof(float));
    if (!bytes) goto nomem;
    m->params = rnn__alloc(m, bytes);
    m->grads = rnn__alloc(m, bytes);
    if (!m->params || !m->grads) goto nomem;
    memset(m->grads, 0, bytes);

    /* initialisation as the PyTorch example (init_weights) and nn.RNN/LSTM/GRU's reset_parameters */
    rnn_rng init;
    rnn_rng_seed(&init, cfg->seed ^ 0x6A09E667F3BCC908ull);
    float k = 1.0f / sqrtf((float)H);
    for (int i = 0; i < m->ntensors; i++) {
        const rnn_tensor *t = &m->tensors[i];
        float *p = m->params + t->offset;
        size_t n = (size_t)t->rows * t->cols;
        float a = strncmp(t->name, "rnn.", 4) == 0 ? k : 0.1f;
        if (strcmp(t->name, "decoder.bias") == 0) a = 0.0f;
        for (size_t j = 0; j < n; j++) p[j] = a == 0.0f ? 0.0f : -a + 2.0f * a * rnn_rng_float(&init);
    }
    rnn_rng_seed(&m->rng, cfg->seed);
    *out = m;
    return RNN_OK;
nomem:
    rnn_model_free(m);
    return RNN_ERR_NOMEM;
}

void rnn_model_free(rnn_model *m)
{
    if (!m) return;
    rnn__free(m, m->tensors);
    rnn__free(m, m->layers);
    rnn__free(m, m->lists);
    rnn__free(m, m->params);
    rnn__free(m, m->grads);
    rnn__free(m, m->h);
    rnn__free(m, m->ws_raw);
    rnn__free(m, m->vocab_blob);
    rnn__free(m, m->vocab_off);
    rnn__free(m, m->app);
    rnn_allocator al = m->al;
    al.free(al.user, m);
}

int rnn_model_config(const rnn_model *m, rnn_config *out)
{
    if (!m) return RNN_ERR_INVALID;
    if (!out) return rnn__fail((rnn_model *)m, RNN_ERR_INVALID, "out is NULL");
    *out = m->cfg;
    return RNN_OK;
}

/* ---- state ------------------------------------------------------------------------------------ */
int rnn_reset_state(rnn_model *m, int batch)
{
    if (!m) return RNN_ERR_INVALID;
    if (batch <= 0) return rnn__fail(m, RNN_ERR_INVALID, "batch must be > 0 (got %d)", batch);
    size_t LBH = mul_size(mul_size((size_t)m->cfg.num_layers, (size_t)batch), (size_t)m->cfg.hidden_size);
    if (!LBH || !mul_size(LBH, 4 * sizeof(float)))
        return rnn__fail(m, RNN_ERR_NOMEM, "state size overflows for batch %d", batch);
    if (batch > m->batch_cap) {
        float *blk = rnn__alloc(m, LBH * 4 * sizeof(float));
        if (!blk) return rnn__fail(m, RNN_ERR_NOMEM, "cannot allocate the state for batch %d", batch);
        rnn__free(m, m->h);
        m->h = blk, m->dh0 = blk + LBH, m->c = blk + 2 * LBH, m->dc0 = blk + 3 * LBH;
        m->batch_cap = batch;
    }
    /* the blocks are sized for batch_cap; the live (L, batch, H) views start at each block */
    size_t cap = (size_t)m->cfg.num_layers * m->batch_cap * m->cfg.hidden_size;
    m->dh0 = m->h + cap, m->c = m->h + 2 * cap, m->dc0 = m->h + 3 * cap;
    memset(m->h, 0, cap * 4 * sizeof(float));
    if (m->cfg.cell != RNN_CELL_LSTM) m->c = m->dc0 = NULL;
    m->batch = batch;
    m->pending = 0;
    m->have_dstate = 0;
    return RNN_OK;
}

int rnn_reserve(rnn_model *m, int batch, int steps)
{
    if (!m) return RNN_ERR_INVALID;
    if (batch <= 0 || steps <= 0 || (long long)batch * steps > INT_MAX / 8)
        return rnn__fail(m, RNN_ERR_INVALID, "bad shape batch %d x steps %d", batch, steps);
    return rnn__ensure_workspace(m, batch, steps);
}

int rnn_state_batch(const rnn_model *m, int *batch)
{
    if (!m) return RNN_ERR_INVALID;
    if (!batch) return rnn__fail((rnn_model *)m, RNN_ERR_INVALID, "batch is NULL");
    *batch = m->batch;
    return RNN_OK;
}

static int check_state_batch(rnn_model *m, int batch)
{
    if (m->batch == 0) return rnn__fail(m, RNN_ERR_STATE, "no hidden state: call rnn_reset_state first");
    if (batch != m->batch)
        return rnn__fail(m, RNN_ERR_STATE, "batch %d does not match the hidden state's batch %d", batch, m->batch);
    return RNN_OK;
}

static size_t state_floats(const rnn_model *m) { return (size_t)m->cfg.num_layers * m->batch * m->cfg.hidden_size; }

int rnn_get_state(const rnn_model *m, int batch, float *h, float *c)
{
    if (!m) return RNN_ERR_INVALID;
    rnn_model *mm = (rnn_model *)m; /* only the message is written */
    if (!h) return rnn__fail(mm, RNN_ERR_INVALID, "h is NULL");
    int rc = check_state_batch(mm, batch);
    if (rc) return rc;
    memcpy(h, m->h, state_floats(m) * sizeof(float));
    if (c && m->c) memcpy(c, m->c, state_floats(m) * sizeof(float));
    return RNN_OK;
}

int rnn_set_state(rnn_model *m, int batch, const float *h, const float *c)
{
    if (!m) return RNN_ERR_INVALID;
    if (!h) return rnn__fail(m, RNN_ERR_INVALID, "h is NULL");
    int rc = check_state_batch(m, batch);
    if (rc) return rc;
    memcpy(m->h, h, state_floats(m) * sizeof(float));
    if (m->c) {
        if (c) memcpy(m->c, c, state_floats(m) * sizeof(float));
        else memset(m->c, 0, state_floats(m) * sizeof(float));
    }
    m->pending = 0;
    m->have_dstate = 0;
    return RNN_OK;
}

int rnn_get_state_grad(const rnn_model *m, int batch, float *dh, float *dc)
{
    if (!m) return RNN_ERR_INVALID;
    rnn_model *mm = (rnn_model *)m;
    if (!dh) return rnn__fail(mm, RNN_ERR_INVALID, "dh is NULL");
    int rc = check_state_batch(mm, batch);
    if (rc) return rc;
    if (!m->have_dstate) return rnn__fail(mm, RNN_ERR_STATE, "no state gradient: call rnn_backward first");
    memcpy(dh, m->dh0, state_floats(m) * sizeof(float));
    if (dc && m->dc0) memcpy(dc, m->dc0, state_floats(m) * sizeof(float));
    return RNN_OK;
}

/* ---- forward / backward / update ------------------------------------------------------------ */
static int check_chunk(rnn_model *m, const int32_t *tokens, const int32_t *targets, int need_targets,
                       int batch, int steps)
{
    if (!tokens) return rnn__fail(m, RNN_ERR_INVALID, "tokens is NULL");
    if (need_targets && !targets) return rnn__fail(m, RNN_ERR_INVALID, "targets is NULL");
    if (batch <= 0 || steps <= 0)
        return rnn__fail(m, RNN_ERR_INVALID, "batch and steps must be > 0 (got %d x %d)", batch, steps);
    if ((long long)batch * steps > INT_MAX / 8)
        return rnn__fail(m, RNN_ERR_INVALID, "chunk batch %d x steps %d is too large", batch, steps);
    int rc = check_state_batch(m, batch);
    if (rc) return rc;
    int V = m->cfg.vocab_size;
    for (int b = 0; b < batch; b++)
        for (int t = 0; t < steps; t++) {
            int32_t x = tokens[(size_t)b * steps + t];
            if (x < 0 || x >= V)
                return rnn__fail(m, RNN_ERR_RANGE, "token %ld at [%d][%d] is outside [0, %d)", (long)x, b, t, V);
            if (targets) {
                int32_t y = targets[(size_t)b * steps + t];
                if ((y < 0 || y >= V) && y != RNN_IGNORE)
                    return rnn__fail(m, RNN_ERR_RANGE, "target %ld at [%d][%d] is outside [0, %d) and not RNN_IGNORE",
                                     (long)y, b, t, V);
            }
        }
    return rnn__ensure_workspace(m, batch, steps);
}

int rnn_forward(rnn_model *m, const int32_t *tokens, const int32_t *targets, int batch, int steps,
                double *loss)
{
    if (!m) return RNN_ERR_INVALID;
    int rc = check_chunk(m, tokens, targets, 1, batch, steps);
    if (rc) return rc;
    rnn__run_forward(m, tokens, targets, batch, steps, RNN_MODE_TRAIN, loss, NULL, 0.0f, NULL);
    return RNN_OK;
}

int rnn_evaluate(rnn_model *m, const int32_t *tokens, const int32_t *targets, int batch, int steps,
                 double *loss, float *logprobs)
{
    if (!m) return RNN_ERR_INVALID;
    int rc = check_chunk(m, tokens, targets, 0, batch, steps);
    if (rc) return rc;
    rnn__run_forward(m, tokens, targets, batch, steps, RNN_MODE_EVAL, loss, logprobs, 0.0f, NULL);
    return RNN_OK;
}

int rnn_backward(rnn_model *m)
{
    if (!m) return RNN_ERR_INVALID;
    if (!m->pending)
        return rnn__fail(m, RNN_ERR_STATE, "rnn_backward needs a preceding rnn_forward (once per forward)");
    rnn__run_backward(m);
    return RNN_OK;
}

int rnn_zero_grad(rnn_model *m)
{
    if (!m) return RNN_ERR_INVALID;
    memset(m->grads, 0, m->nparams * sizeof(float));
    return RNN_OK;
}

int rnn_clip_grad_norm(rnn_model *m, float max_norm, double *total_norm)
{
    if (!m) return RNN_ERR_INVALID;
    if (!(max_norm > 0.0f) || isinf(max_norm))
        return rnn__fail(m, RNN_ERR_INVALID, "max_norm must be finite and > 0 (got %g)", (double)max_norm);
    double ss = 0;
    for (size_t i = 0; i < m->nparams; i++) ss += (double)m->grads[i] * m->grads[i];
    float total = (float)sqrt(ss);
    if (total_norm) *total_norm = total;
    if (!isfinite(total)) return rnn__fail(m, RNN_ERR_NUMERIC, "gradient norm is not finite (%g)", (double)total);
    float coef = max_norm / (total + 1e-6f);
    if (coef < 1.0f)
        for (size_t i = 0; i < m->nparams; i++) m->grads[i] *= coef;
    return RNN_OK;
}

int rnn_sgd_step(rnn_model *m, float lr)
{
    if (!m) return RNN_ERR_INVALID;
    if (!isfinite(lr)) return rnn__fail(m, RNN_ERR_INVALID, "lr must be finite (got %g)", (double)lr);
    float alpha = -lr;
    for (size_t i = 0; i < m->nparams; i++) m->params[i] += alpha * m->grads[i];
    m->pending = 0;
    return RNN_OK;
}

int rnn_sample(rnn_model *m, const int32_t *tokens, int batch, float temperature, int32_t *next)
{
    if (!m) return RNN_ERR_INVALID;
    if (!next) return rnn__fail(m, RNN_ERR_INVALID, "next is NULL");
    if (!(temperature >= 0.0f) || isinf(temperature))
        return rnn__fail(m, RNN_ERR_INVALID, "temperature must be finite and >= 0 (got %g)", (double)temperature);
    int rc = check_chunk(m, tokens, NULL, 0, batch, 1);
    if (rc) return rc;
    rnn__run_forward(m, tokens, NULL, batch, 1, RNN_MODE_SAMPLE, NULL, NULL, temperature, next);
    return RNN_OK;
}

int rnn_set_seed(rnn_model *m, uint64_t seed)
{
    if (!m) return RNN_ERR_INVALID;
    rnn_rng_seed(&m->rng, seed);
    return RNN_OK;
}

/* ---- parameters by name ----------------------------------------------------------------------- */
int rnn_param_count(const rnn_model *m, int *count)
{
    if (!m) return RNN_ERR_INVALID;
    if (!count) return rnn__fail((rnn_model *)m, RNN_ERR_INVALID, "count is NULL");
    *count = m->ntensors;
    return RNN_OK;
}

static void fill_param(const rnn_model *m, const rnn_tensor *t, rnn_param *out)
{
    out->name = t->name;
    out->data = m->params + t->offset;
    out->grad = m->grads + t->offset;
    out->rows = t->rows, out->cols = t->cols;
    out->size = (size_t)t->rows * t->cols;
}

int rnn_param_get(const rnn_model *m, int index, rnn_param *out)
{
    if (!m) return RNN_ERR_INVALID;
    if (!out) return rnn__fail((rnn_model *)m, RNN_ERR_INVALID, "out is NULL");
    if (index < 0 || index >= m->ntensors)
        return rnn__fail((rnn_model *)m, RNN_ERR_NOTFOUND, "parameter index %d outside [0, %d)", index, m->ntensors);
    fill_param(m, &m->tensors[index], out);
    return RNN_OK;
}

int rnn_param_find(const rnn_model *m, const char *name, rnn_param *out)
{
    if (!m) return RNN_ERR_INVALID;
    if (!name || !out) return rnn__fail((rnn_model *)m, RNN_ERR_INVALID, "%s is NULL", name ? "out" : "name");
    const char *want = (m->cfg.tied && strcmp(name, "decoder.weight") == 0) ? "encoder.weight" : name;
    for (int i = 0; i < m->ntensors; i++)
        if (strcmp(m->tensors[i].name, want) == 0) {
            fill_param(m, &m->tensors[i], out);
            return RNN_OK;
        }
    return rnn__fail((rnn_model *)m, RNN_ERR_NOTFOUND, "no parameter named \"%.64s\"", name);
}

int rnn_param_block(const rnn_model *m, float **data, float **grad, size_t *count)
{
    if (!m) return RNN_ERR_INVALID;
    if (data) *data = m->params;
    if (grad) *grad = m->grads;
    if (count) *count = m->nparams;
    return RNN_OK;
}
