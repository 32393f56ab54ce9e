/*
 * api.c -- the public entry points of models, states and parameters. Each checks every argument
 * before it touches the handle, so a failing call leaves the handle as it was and records why in
 * its message; the work is done by the modules (params.c, model.c, output.c, workspace.c).
 */
#include "model.h"
#include "kernels.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors ------------------------------------------------------------------------------------ */
const char *rnn_model_errmsg(const rnn_model *m) { return m ? m->err.msg : "no model handle (NULL)"; }
int rnn_model_errcode(const rnn_model *m) { return m ? m->err.code : RNN_ERR_INVALID; }
const char *rnn_state_errmsg(const rnn_state *st) { return st ? st->err.msg : "no state handle (NULL)"; }
int rnn_state_errcode(const rnn_state *st) { return st ? st->err.code : RNN_ERR_INVALID; }

/* ---- creation ------------------------------------------------------------------------------------ */
int rnn_model_create(rnn_model **out, const rnn_config *cfg, const rnn_allocator *alloc, char *errbuf,
                     size_t errlen)
{
    if (errbuf && errlen) errbuf[0] = 0;
    if (!out) return rnn__bufail(errbuf, errlen, RNN_ERR_INVALID, "out is NULL");
    *out = NULL;
    if (!cfg) return rnn__bufail(errbuf, errlen, RNN_ERR_INVALID, "cfg is NULL");
    rnn_config c;
    rnn_allocator al;
    rnn__config_defaults(&c);
    int rc = rnn__struct_read(&rnn__config_layout, &c, cfg, errbuf, errlen);
    if (!rc) rc = rnn__config_check(&c, errbuf, errlen);
    if (!rc) rc = rnn__allocator_init(&al, alloc, errbuf, errlen);
    if (!rc) rc = rnn__model_new(out, &c, &al, 1);
    if (rc == RNN_ERR_NOMEM) {
        unsigned long long n = rnn__config_params(&c);
        rnn__bufail(errbuf, errlen, rc, "cannot allocate the model: %llu parameters need %llu bytes for the values and "
                    "as many for the gradients", n, n * 4);
    }
    return rc;
}

void rnn_model_free(rnn_model *m)
{
    if (!m) return;
    rnn__free(&m->al, m->tensors);
    rnn__free(&m->al, m->layers);
    rnn__ctx_free(&m->train);
    rnn__free(&m->al, m->params);
    rnn__free(&m->al, m->grads);
    rnn__free(&m->al, m->touched);
    rnn__model_quantize_free(m);
    rnn__adamw_free(m);
    rnn__vocab_clear(m);
    rnn__free(&m->al, m->app);
    rnn_allocator al = m->al;
    rnn__free(&al, m);
}

int rnn_model_get_config(const rnn_model *m, rnn_config *out)
{
    if (!m) return RNN_ERR_INVALID;
    if (!out) return rnn__fail((rnn_model *)m, RNN_ERR_INVALID, "out is NULL");
    char msg[RNN_ERR_LEN];
    int rc = rnn__struct_write(&rnn__config_layout, out, &m->cfg, msg, sizeof msg);
    return rc ? rnn__fail((rnn_model *)m, rc, "%s", msg) : RNN_OK;
}

/* ---- state ------------------------------------------------------------------------------------ */
int rnn_model_reset_hidden(rnn_model *m, int batch)
{
    if (!m) return RNN_ERR_INVALID;
    if (batch <= 0) return rnn__fail(m, RNN_ERR_INVALID, "batch must be > 0 (got %d)", batch);
    return rnn__ctx_reset(&m->train, batch);
}

int rnn_model_reserve(rnn_model *m, int batch, int steps)
{
    if (!m) return RNN_ERR_INVALID;
    if (batch <= 0 || steps <= 0 || (long long)batch * steps > RNN__MAX_CHUNK)
        return rnn__fail(m, RNN_ERR_INVALID, "bad shape batch %d x steps %d", batch, steps);
    int rc = rnn__hist_reserve(&m->train, batch); /* the token history of rnn_sampling too */
    return rc ? rc : rnn__ensure_workspace(&m->train, RNN__WS_TRAIN, batch, steps, (size_t)batch * steps);
}

int rnn_model_get_batch(const rnn_model *m, int *batch)
{
    if (!m) return RNN_ERR_INVALID;
    if (!batch) return rnn__fail((rnn_model *)m, RNN_ERR_INVALID, "batch is NULL");
    *batch = m->train.batch;
    return RNN_OK;
}

static size_t state_floats(const rnn__ctx *x) { return (size_t)x->m->cfg.num_layers * x->batch * x->m->cfg.hidden_size; }

static int ctx_get_state(const rnn__ctx *x, int batch, float *h, float *c)
{
    if (!h) return rnn__failf(x->err, RNN_ERR_INVALID, "h is NULL");
    int rc = rnn__check_batch(x, batch);
    if (rc) return rc;
    memcpy(h, x->h, state_floats(x) * sizeof(float));
    if (c && x->c) memcpy(c, x->c, state_floats(x) * sizeof(float));
    return RNN_OK;
}

static int ctx_set_state(rnn__ctx *x, int batch, const float *h, const float *c)
{
    if (!h) return rnn__failf(x->err, RNN_ERR_INVALID, "h is NULL");
    int rc = rnn__check_batch(x, batch);
    if (rc) return rc;
    memcpy(x->h, h, state_floats(x) * sizeof(float));
    if (x->c) {
        if (c) memcpy(x->c, c, state_floats(x) * sizeof(float));
        else memset(x->c, 0, state_floats(x) * sizeof(float));
    }
    x->pending = 0;
    x->have_dstate = 0;
    x->hist_pos = x->hist_len = 0; /* the history fed into another state is not this one's */
    return RNN_OK;
}

int rnn_model_get_hidden(const rnn_model *m, int batch, float *h, float *c)
{
    return m ? ctx_get_state(&m->train, batch, h, c) : RNN_ERR_INVALID;
}

int rnn_model_set_hidden(rnn_model *m, int batch, const float *h, const float *c)
{
    return m ? ctx_set_state(&m->train, batch, h, c) : RNN_ERR_INVALID;
}

int rnn_model_get_hidden_grad(const rnn_model *m, int batch, float *dh, float *dc)
{
    if (!m) return RNN_ERR_INVALID;
    const rnn__ctx *x = &m->train;
    if (!dh) return rnn__failf(x->err, RNN_ERR_INVALID, "dh is NULL");
    int rc = rnn__check_batch(x, batch);
    if (rc) return rc;
    if (!x->have_dstate) return rnn__failf(x->err, RNN_ERR_STATE, "no state gradient: call rnn_backward first");
    memcpy(dh, x->dh0, state_floats(x) * sizeof(float));
    if (dc && x->dc0) memcpy(dc, x->dc0, state_floats(x) * sizeof(float));
    return RNN_OK;
}

/* ---- forward / backward / update ------------------------------------------------------------ */
int rnn_forward(rnn_model *m, const int32_t *tokens, const int32_t *targets, int batch, int steps, int stride,
                double *loss)
{
    if (!m) return RNN_ERR_INVALID;
    if (!targets) return rnn__fail(m, RNN_ERR_INVALID, "targets is NULL");
    if (m->wtype) return rnn__check_trainable(m, "rnn_forward");
    int rc = rnn__check_tokens(&m->train, tokens, targets, batch, steps, &stride);
    if (!rc) rc = rnn__ws_prepare(&m->train, RNN__WS_TRAIN, batch, steps, (size_t)batch * steps);
    if (rc) return rc;
    const float *top = rnn__run_layers(m, &m->train, tokens, targets, batch, steps, stride, 1);
    double l = rnn__head_loss(m, &m->train, top, batch, steps, 1, NULL);
    if (loss) *loss = l;
    return RNN_OK;
}

int rnn_evaluate(rnn_model *m, const int32_t *tokens, const int32_t *targets, int batch, int steps, int stride,
                 double *loss, float *logprobs)
{
    if (!m) return RNN_ERR_INVALID;
    int rc = rnn__check_tokens(&m->train, tokens, targets, batch, steps, &stride);
    if (rc) return rc;
    if (!targets && !logprobs) { /* only advances the state: in chunks, without logits */
        rc = rnn__run_chunked(m, &m->train, tokens, batch, steps, stride, NULL);
        if (!rc && loss) *loss = 0.0;
        return rc;
    }
    rc = rnn__ws_prepare(&m->train, RNN__WS_EVAL, batch, steps, (size_t)batch * steps);
    if (rc) return rc;
    const float *top = rnn__run_layers(m, &m->train, tokens, targets, batch, steps, stride, 0);
    double l = rnn__head_loss(m, &m->train, top, batch, steps, 0, logprobs);
    if (loss) *loss = l;
    return RNN_OK;
}

int rnn_backward(rnn_model *m)
{
    if (!m) return RNN_ERR_INVALID;
    if (m->wtype) return rnn__check_trainable(m, "rnn_backward");
    if (!m->train.pending)
        return rnn__fail(m, RNN_ERR_STATE, "rnn_backward needs a preceding rnn_forward (once per forward)");
    rnn__run_backward(m, &m->train);
    return RNN_OK;
}

int rnn_zero_grad(rnn_model *m)
{
    if (!m) return RNN_ERR_INVALID;
    if (m->wtype) return rnn__check_trainable(m, "rnn_zero_grad");
    rnn__params_pass(m, RNN__ZERO, 0.0f);
    return RNN_OK;
}

int rnn_clip_grad_norm(rnn_model *m, float max_norm, double *total_norm)
{
    if (!m) return RNN_ERR_INVALID;
    if (m->wtype) return rnn__check_trainable(m, "rnn_clip_grad_norm");
    if (!(max_norm > 0.0f) || isinf(max_norm))
        return rnn__fail(m, RNN_ERR_INVALID, "max_norm must be finite and > 0 (got %g)", (double)max_norm);
    float total = (float)sqrt(rnn__params_pass(m, RNN__SUMSQ, 0.0f));
    if (total_norm) *total_norm = total;
    if (!isfinite(total)) return rnn__fail(m, RNN_ERR_NUMERIC, "gradient norm is not finite (%g)", (double)total);
    float coef = max_norm / (total + 1e-6f);
    if (coef < 1.0f) rnn__params_pass(m, RNN__SCALE, coef);
    return RNN_OK;
}

int rnn_sgd_step(rnn_model *m, float lr)
{
    if (!m) return RNN_ERR_INVALID;
    if (m->wtype) return rnn__check_trainable(m, "rnn_sgd_step");
    if (!isfinite(lr)) return rnn__fail(m, RNN_ERR_INVALID, "lr must be finite (got %g)", (double)lr);
    rnn__params_pass(m, RNN__AXPY, -lr);
    m->train.pending = 0;
    return RNN_OK;
}

int rnn_model_set_threads(rnn_model *m, int threads)
{
    if (!m) return RNN_ERR_INVALID;
    if (threads < 1 || threads > RNN__MAX_THREADS)
        return rnn__fail(m, RNN_ERR_INVALID, "threads must be in [1, %d] (got %d)", RNN__MAX_THREADS, threads);
    if (threads == m->threads) return RNN_OK; /* (1 thread: no pool) */
    rnn__pool *p;
    if (rnn__pool_create(&p, threads, &m->al) != RNN_OK)
        return rnn__fail(m, RNN_ERR_NOMEM, "cannot start %d threads", threads);
    rnn__pool_free(m->train.pool, &m->al);
    m->train.pool = p;
    m->threads = threads;
    return RNN_OK;
}

int rnn_model_get_threads(const rnn_model *m, int *threads)
{
    if (!m) return RNN_ERR_INVALID;
    if (!threads) return rnn__fail((rnn_model *)m, RNN_ERR_INVALID, "threads is NULL");
    *threads = m->threads;
    return RNN_OK;
}

int rnn_sample(rnn_model *m, const int32_t *tokens, int batch, const rnn_sampling *sampling, int32_t *next)
{
    if (!m) return RNN_ERR_INVALID;
    if (!next) return rnn__fail(m, RNN_ERR_INVALID, "next is NULL");
    rnn_sampling s;
    int stride = 1;
    int rc = rnn__sampling_read(&m->err, sampling, &s);
    if (!rc) rc = rnn__check_tokens(&m->train, tokens, NULL, batch, 1, &stride);
    if (!rc) rc = rnn__ws_prepare(&m->train, RNN__WS_EVAL, batch, 1, (size_t)batch);
    if (rc) return rc;
    rnn__ctx *x = &m->train;
    const float *top = rnn__run_layers(m, x, tokens, NULL, batch, 1, 1, 0);
    rc = rnn__head_sample(m, x, top, batch, &s, next);
    if (rc) { /* take the tokens back: the workspace holds the state that entered */
        memcpy(x->h, x->buf.h0, state_floats(x) * sizeof(float));
        if (x->c) memcpy(x->c, x->buf.c0, state_floats(x) * sizeof(float));
        rnn__hist_pop(x);
    }
    return rc;
}

int rnn_model_set_seed(rnn_model *m, uint64_t seed)
{
    if (!m) return RNN_ERR_INVALID;
    rnn__rng_seed(&m->train.rng, seed);
    m->train.drop_key = seed;
    return RNN_OK;
}

int rnn_model_set_dropout_position(rnn_model *m, uint64_t stream, uint64_t step)
{
    if (!m) return RNN_ERR_INVALID;
    m->train.drop_stream = stream, m->train.drop_step = step;
    return RNN_OK;
}

int rnn_model_get_dropout_position(const rnn_model *m, uint64_t *stream, uint64_t *step)
{
    if (!m) return RNN_ERR_INVALID;
    if (!stream || !step) return rnn__fail((rnn_model *)m, RNN_ERR_INVALID, "%s is NULL", stream ? "step" : "stream");
    *stream = m->train.drop_stream, *step = m->train.drop_step;
    return RNN_OK;
}

/* ---- inference states ---------------------------------------------------------------------------- */
int rnn_state_create(rnn_state **out, const rnn_model *m, int batch, uint64_t seed)
{
    if (!out) return RNN_ERR_INVALID;
    *out = NULL;
    if (!m || batch <= 0) return RNN_ERR_INVALID;
    rnn_state *st = rnn__alloc(&m->al, sizeof *st);
    if (!st) return RNN_ERR_NOMEM;
    memset(st, 0, sizeof *st);
    int rc = rnn__ctx_init(&st->ctx, m, &st->err);
    if (!rc) {
        st->ctx.per_stream = 1, st->ctx.row_seed = seed;
        st->gen = rnn__alloc(&m->al, sizeof(int32_t) * (size_t)batch);
        rc = st->gen ? RNN_OK : RNN_ERR_NOMEM;
        if (!rc) rc = rnn__ctx_reset(&st->ctx, batch); /* allocates the state and the generators */
        if (!rc && rnn__pool_create(&st->ctx.pool, m->threads, &m->al) != RNN_OK)
            rc = rnn__failf(&st->err, RNN_ERR_NOMEM, "cannot start %d threads", m->threads);
        if (!rc) rc = rnn__ensure_workspace(&st->ctx, RNN__WS_EVAL, batch, 1, (size_t)batch);
    }
    if (rc) {
        rnn_state_free(st);
        return rc;
    }
    *out = st;
    return RNN_OK;
}

void rnn_state_free(rnn_state *st)
{
    if (!st) return;
    rnn_allocator al = st->ctx.al;
    rnn__free(&al, st->gen);
    rnn__ctx_free(&st->ctx);
    rnn__free(&al, st);
}

int rnn_state_reset(rnn_state *st)
{
    if (!st) return RNN_ERR_INVALID;
    return rnn__ctx_reset(&st->ctx, st->ctx.batch);
}

int rnn_state_copy(rnn_state *dst, const rnn_state *src)
{
    if (!dst || !src) return RNN_ERR_INVALID;
    if (dst->ctx.m != src->ctx.m || dst->ctx.batch != src->ctx.batch)
        return rnn__failf(&dst->err, RNN_ERR_STATE, "states differ in model or batch (%d vs %d)", dst->ctx.batch,
                          src->ctx.batch);
    if (dst == src) return RNN_OK;
    size_t n = state_floats(&src->ctx);
    memcpy(dst->ctx.h, src->ctx.h, n * sizeof(float));
    if (src->ctx.c) memcpy(dst->ctx.c, src->ctx.c, n * sizeof(float));
    memcpy(dst->ctx.row_rng, src->ctx.row_rng, sizeof(rnn__rng) * (size_t)src->ctx.batch);
    dst->ctx.row_seed = src->ctx.row_seed;
    memcpy(dst->ctx.hist, src->ctx.hist, sizeof(int32_t) * RNN__HIST * (size_t)src->ctx.batch);
    dst->ctx.hist_pos = src->ctx.hist_pos, dst->ctx.hist_len = src->ctx.hist_len;
    return RNN_OK;
}

int rnn_state_clone(rnn_state **out, const rnn_state *src)
{
    if (!out) return RNN_ERR_INVALID;
    *out = NULL;
    if (!src) return RNN_ERR_INVALID;
    rnn_state *st;
    int rc = rnn_state_create(&st, src->ctx.m, src->ctx.batch, src->ctx.row_seed);
    if (!rc) rc = rnn_state_copy(st, src);
    if (!rc) rc = rnn__reserve_workspace(&st->ctx, src->ctx.ws.cap);
    if (rc) {
        rnn_state_free(st);
        return rc;
    }
    *out = st;
    return RNN_OK;
}

int rnn_state_get_batch(const rnn_state *st, int *batch)
{
    if (!st) return RNN_ERR_INVALID;
    if (!batch) return rnn__failf(&((rnn_state *)st)->err, RNN_ERR_INVALID, "batch is NULL");
    *batch = st->ctx.batch;
    return RNN_OK;
}

int rnn_state_get_hidden(const rnn_state *st, float *h, float *c)
{
    return st ? ctx_get_state(&st->ctx, st->ctx.batch, h, c) : RNN_ERR_INVALID;
}

int rnn_state_set_hidden(rnn_state *st, const float *h, const float *c)
{
    return st ? ctx_set_state(&st->ctx, st->ctx.batch, h, c) : RNN_ERR_INVALID;
}

int rnn_state_feed(rnn_state *st, const int32_t *tokens, int steps, int stride)
{
    if (!st) return RNN_ERR_INVALID;
    int rc = rnn__check_tokens(&st->ctx, tokens, NULL, st->ctx.batch, steps, &stride);
    return rc ? rc : rnn__run_chunked(st->ctx.m, &st->ctx, tokens, st->ctx.batch, steps, stride, NULL);
}

int rnn_state_score(rnn_state *st, const int32_t *tokens, int steps, int stride, double *logprob)
{
    if (!st) return RNN_ERR_INVALID;
    if (!logprob) return rnn__failf(&st->err, RNN_ERR_INVALID, "logprob is NULL");
    int rc = rnn__check_tokens(&st->ctx, tokens, NULL, st->ctx.batch, steps, &stride);
    return rc ? rc : rnn__run_chunked(st->ctx.m, &st->ctx, tokens, st->ctx.batch, steps, stride, logprob);
}

int rnn_state_score_sentence(rnn_state *st, const int32_t *tokens, int steps, int stride, double *logprob)
{
    if (!st) return RNN_ERR_INVALID;
    rnn__ctx *x = &st->ctx;
    int B = x->batch;
    if (!logprob) return rnn__failf(&st->err, RNN_ERR_INVALID, "logprob is NULL");
    if (steps < 0 || stride < 0)
        return rnn__failf(&st->err, RNN_ERR_INVALID, "steps %d and stride %d must be >= 0", steps, stride);
    /* every check, and the workspace of the score (the one step that can fail), before the state
       changes: a failure leaves it as it was */
    int rc = steps > 0 ? rnn__check_tokens(x, tokens, NULL, B, steps, &stride) : RNN_OK;
    if (!rc && steps > 0) rc = rnn__chunked_reserve(x, B, steps, 1);
    if (rc) return rc;
    /* the sentence start state: zeros, then "<eos>" (a (B, 1) feed, the workspace rnn_state_create
       reserved; the step rnn_state_feed would run). The generators are not touched: scoring draws
       nothing, so rescoring between draws does not change what is drawn. */
    size_t n = state_floats(x);
    memset(x->h, 0, n * sizeof(float));
    if (x->c) memset(x->c, 0, n * sizeof(float));
    int32_t eos = rnn__vocab_eos(x->m);
    if (eos >= 0) {
        for (int b = 0; b < B; b++) st->gen[b] = eos;
        rnn__ws_begin(x, RNN__WS_FEED, B, 1, 0);
        rnn__run_layers(x->m, x, st->gen, NULL, B, 1, 1, 0);
    }
    if (steps == 0) {
        for (int b = 0; b < B; b++) logprob[b] = 0.0;
        return RNN_OK;
    }
    return rnn__run_chunked(x->m, x, tokens, B, steps, stride, logprob);
}

/* the next-token distribution's heads run on the state's top layer, in a (batch, 1) workspace (the
 * size rnn_state_create reserved) */
static int draw(rnn_state *st, const rnn_sampling *s, int32_t *next)
{
    rnn__ws_begin(&st->ctx, RNN__WS_EVAL, st->ctx.batch, 1, (size_t)st->ctx.batch);
    return rnn__head_sample(st->ctx.m, &st->ctx, rnn__ctx_top(&st->ctx), st->ctx.batch, s, next);
}

int rnn_state_draw(rnn_state *st, const rnn_sampling *sampling, int32_t *next)
{
    if (!st) return RNN_ERR_INVALID;
    if (!next) return rnn__failf(&st->err, RNN_ERR_INVALID, "next is NULL");
    rnn_sampling s;
    int rc = rnn__sampling_read(&st->err, sampling, &s);
    return rc ? rc : draw(st, &s, next);
}

int rnn_state_generate(rnn_state *st, const rnn_sampling *sampling, int count, int32_t *out)
{
    if (!st) return RNN_ERR_INVALID;
    if (!out || count < 0) return rnn__failf(&st->err, RNN_ERR_INVALID, "out is NULL or count %d < 0", count);
    rnn_sampling s;
    int rc = rnn__sampling_read(&st->err, sampling, &s);
    if (rc) return rc;
    int B = st->ctx.batch;
    for (int i = 0; i < count; i++) {
        /* draw every stream's token i, then feed them as one step: one GEMM per layer for all */
        rc = draw(st, &s, st->gen);
        if (rc) { /* tokens 0 .. i-1 stand, as if count had been i */
            char msg[RNN_ERR_LEN];
            snprintf(msg, sizeof msg, "%s", st->err.msg);
            return rnn__failf(&st->err, rc, "token %d of %d: %s", i, count, msg);
        }
        for (int b = 0; b < B; b++) out[(size_t)b * count + i] = st->gen[b];
        rnn__ws_begin(&st->ctx, RNN__WS_FEED, B, 1, 0);
        rnn__run_layers(st->ctx.m, &st->ctx, st->gen, NULL, B, 1, 1, 0);
    }
    return RNN_OK;
}

int rnn_state_get_logprobs(rnn_state *st, float *logprobs)
{
    if (!st) return RNN_ERR_INVALID;
    if (!logprobs) return rnn__failf(&st->err, RNN_ERR_INVALID, "logprobs is NULL");
    rnn__ws_begin(&st->ctx, RNN__WS_EVAL, st->ctx.batch, 1, (size_t)st->ctx.batch);
    rnn__head_logprobs(st->ctx.m, &st->ctx, rnn__ctx_top(&st->ctx), st->ctx.batch, logprobs);
    return RNN_OK;
}

/* ---- parameters by name ----------------------------------------------------------------------- */
int rnn_param_get_count(const rnn_model *m, int *count)
{
    if (!m) return RNN_ERR_INVALID;
    if (!count) return rnn__fail((rnn_model *)m, RNN_ERR_INVALID, "count is NULL");
    *count = m->ntensors;
    return RNN_OK;
}

static int fill_param(const rnn_model *m, const rnn__tensor *t, rnn_param *out)
{
    rnn_param p;
    p.struct_size = sizeof p;
    p.name = t->name;
    /* a quantized model: no fp32 copy of a weight matrix, no gradients (rnn_model_quantize) */
    p.data = m->wtype && rnn__q_tensor(t) ? NULL : m->params + t->offset;
    p.grad = m->grads ? m->grads + t->offset : NULL;
    p.rows = t->rows, p.cols = t->cols;
    p.size = (size_t)t->rows * t->cols;
    char msg[RNN_ERR_LEN];
    int rc = rnn__struct_write(&rnn__param_layout, out, &p, msg, sizeof msg);
    if (rc) return rnn__fail((rnn_model *)m, rc, "%s", msg);
    rnn__grads_exposed(m);
    return RNN_OK;
}

int rnn_param_get(const rnn_model *m, int index, rnn_param *out)
{
    if (!m) return RNN_ERR_INVALID;
    if (!out) return rnn__fail((rnn_model *)m, RNN_ERR_INVALID, "out is NULL");
    if (index < 0 || index >= m->ntensors)
        return rnn__fail((rnn_model *)m, RNN_ERR_RANGE, "parameter index %d outside [0, %d)", index, m->ntensors);
    return fill_param(m, &m->tensors[index], out);
}

int rnn_param_find(const rnn_model *m, const char *name, rnn_param *out)
{
    if (!m) return RNN_ERR_INVALID;
    if (!name || !out) return rnn__fail((rnn_model *)m, RNN_ERR_INVALID, "%s is NULL", name ? "out" : "name");
    const char *want = (m->cfg.tied && strcmp(name, "decoder.weight") == 0) ? "encoder.weight" : name;
    for (int i = 0; i < m->ntensors; i++)
        if (strcmp(m->tensors[i].name, want) == 0) return fill_param(m, &m->tensors[i], out);
    return rnn__fail((rnn_model *)m, RNN_ERR_NOTFOUND, "no parameter named \"%.64s\"", name);
}

int rnn_param_declare_grad_rows(rnn_model *m, const int32_t *rows, size_t n)
{
    if (!m) return RNN_ERR_INVALID;
    if (m->wtype) return rnn__check_trainable(m, "rnn_param_declare_grad_rows");
    if (!rows && n > 0) return rnn__fail(m, RNN_ERR_INVALID, "rnn_param_declare_grad_rows: rows is NULL");
    for (size_t i = 0; i < n; i++) /* all checked before any is marked: nothing changes on failure */
        if (rows[i] < 0 || rows[i] >= m->cfg.vocab_size)
            return rnn__fail(m, RNN_ERR_INVALID, "rnn_param_declare_grad_rows: rows[%zu] is %d, not a row of the "
                             "embedding (0 .. %d)", i, (int)rows[i], m->cfg.vocab_size - 1);
    if (!m->touched) return RNN_OK; /* tied: the passes are always dense */
    rnn__grads_touch(m, rows, n);
    m->grad_declared = 1;
    return RNN_OK;
}

int rnn_set_loss_denominator(rnn_model *m, double denom)
{
    if (!m) return RNN_ERR_INVALID;
    if (m->wtype) return rnn__check_trainable(m, "rnn_set_loss_denominator");
    if (!(denom >= 0.0) || !isfinite(denom))
        return rnn__fail(m, RNN_ERR_INVALID, "rnn_set_loss_denominator: %g is not a finite number >= 0", denom);
    m->loss_denom = denom;
    return RNN_OK;
}

int rnn_param_get_block(const rnn_model *m, float **data, float **grad, size_t *count)
{
    if (!m) return RNN_ERR_INVALID;
    if (m->wtype) return rnn__check_trainable((rnn_model *)m, "rnn_param_get_block");
    if (data) *data = m->params;
    if (grad) *grad = m->grads, rnn__grads_exposed(m);
    if (count) *count = m->nparams;
    return RNN_OK;
}
