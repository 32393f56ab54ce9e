/*
 * optim.c -- AdamW (rnn_adamw_step and its calls): torch.optim.AdamW's single-tensor update of
 * PyTorch 1.13 over the whole parameter block, with its state (step count, first and second
 * moments) in the model so that a checkpoint (RNN_SAVE_STATE, modelfile.c) carries it.
 *
 * Precision follows torch exactly: the per-element arithmetic is float32, in torch's order of
 * operations; the scalars (bias corrections, step size) are Python floats (double), each cast to
 * float where torch hands it to a tensor op (a scalar operand takes the tensor's dtype).
 */
#include "model.h"

#include <math.h>
#include <string.h>

static void adamw_defaults(rnn_adamw *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->lr = 1e-3, o->beta1 = 0.9, o->beta2 = 0.999, o->eps = 1e-8, o->weight_decay = 1e-2;
}

static const rnn__field adamw_fields[] = {RNN__FIELD(rnn_adamw, struct_size), RNN__FIELD(rnn_adamw, lr),
                                          RNN__FIELD(rnn_adamw, beta1), RNN__FIELD(rnn_adamw, beta2),
                                          RNN__FIELD(rnn_adamw, eps), RNN__FIELD(rnn_adamw, weight_decay)};
static const rnn__layout adamw_layout = {"rnn_adamw", sizeof(rnn_adamw), adamw_fields,
                                         (int)(sizeof adamw_fields / sizeof adamw_fields[0])};

int rnn_adamw_init(rnn_adamw *opt, size_t size)
{
    rnn_adamw d;
    adamw_defaults(&d);
    return rnn__struct_init(&adamw_layout, opt, size, &d);
}

/* The caller's options (NULL: the defaults) read into *o and checked as torch.optim.AdamW's
 * constructor checks them (plus finiteness, which Python's comparisons let through for +inf). */
static int adamw_read(rnn_model *m, const rnn_adamw *in, rnn_adamw *o)
{
    adamw_defaults(o);
    if (in) {
        char msg[RNN_ERR_LEN] = "";
        int rc = rnn__struct_read(&adamw_layout, o, in, msg, sizeof msg);
        if (rc) return rnn__fail(m, rc, "%s", msg);
    }
    if (!(o->lr >= 0.0) || isinf(o->lr)) return rnn__fail(m, RNN_ERR_INVALID, "lr must be finite and >= 0 (got %g)", o->lr);
    if (!(o->beta1 >= 0.0 && o->beta1 < 1.0))
        return rnn__fail(m, RNN_ERR_INVALID, "beta1 must be in [0, 1) (got %g)", o->beta1);
    if (!(o->beta2 >= 0.0 && o->beta2 < 1.0))
        return rnn__fail(m, RNN_ERR_INVALID, "beta2 must be in [0, 1) (got %g)", o->beta2);
    if (!(o->eps >= 0.0) || isinf(o->eps)) return rnn__fail(m, RNN_ERR_INVALID, "eps must be finite and >= 0 (got %g)", o->eps);
    if (!(o->weight_decay >= 0.0) || isinf(o->weight_decay))
        return rnn__fail(m, RNN_ERR_INVALID, "weight_decay must be finite and >= 0 (got %g)", o->weight_decay);
    return RNN_OK;
}

/* The float32 scalars of one step, as torch casts them. */
typedef struct adamw_job {
    rnn_model *m;
    float decay, b1, c1, b2, c2, bc2_sqrt, eps, neg_step;
    size_t bad[RNN__MAX_THREADS]; /* the check pass: first non-finite gradient of each part */
} adamw_job;

/* Parts of the block: element-wise work, so how it is cut changes nothing in the result. */
static void part_range(const rnn_model *m, int part, int parts, size_t *b, size_t *e)
{
    rnn__split(m->nparams, part, parts, 1024, b, e);
}

static void check_part(void *arg, int part, int parts)
{
    adamw_job *j = arg;
    size_t b, e;
    part_range(j->m, part, parts, &b, &e);
    const float *g = j->m->grads;
    for (size_t i = b; i < e; i++)
        if (!isfinite(g[i])) {
            j->bad[part] = i;
            break;
        }
}

static void step_part(void *arg, int part, int parts)
{
    adamw_job *j = arg;
    size_t b, e;
    part_range(j->m, part, parts, &b, &e);
    float *p = j->m->params, *ea = j->m->adamw_m, *es = j->m->adamw_v;
    const float *g = j->m->grads;
    for (size_t i = b; i < e; i++) {
        /* param.mul_(1 - lr * weight_decay) */
        float pi = p[i] * j->decay;
        /* exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1) */
        float mi = ea[i] * j->b1;
        mi = mi + j->c1 * g[i];
        /* exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2) */
        float vi = es[i] * j->b2;
        vi = vi + j->c2 * g[i] * g[i];
        /* denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps) */
        float d = sqrtf(vi) / j->bc2_sqrt + j->eps;
        /* param.addcdiv_(exp_avg, denom, value=-step_size) */
        p[i] = pi + j->neg_step * mi / d;
        ea[i] = mi, es[i] = vi;
    }
}

/* torch keeps the step count in a float32 tensor (step_t += 1), which stops counting at 2^24: the
 * bias corrections use that count. */
#define TORCH_STEP_MAX 16777216.0

int rnn_adamw_step(rnn_model *m, const rnn_adamw *opt)
{
    if (!m) return RNN_ERR_INVALID;
    if (m->wtype) return rnn__check_trainable(m, "rnn_adamw_step");
    rnn_adamw o;
    int rc = adamw_read(m, opt, &o);
    if (rc) return rc;
    adamw_job j;
    j.m = m;
    for (int k = 0; k < RNN__MAX_THREADS; k++) j.bad[k] = SIZE_MAX;
    rnn__pool_run(m->train.pool, check_part, &j); /* first, so that a refused step changes nothing */
    for (int k = 0; k < RNN__MAX_THREADS; k++) {
        if (j.bad[k] == SIZE_MAX) continue;
        size_t at = j.bad[k];
        const rnn__tensor *t = &m->tensors[0];
        for (int i = 0; i < m->ntensors; i++)
            if (m->tensors[i].offset <= at) t = &m->tensors[i];
        return rnn__fail(m, RNN_ERR_NUMERIC, "the gradient of %s is not finite (%g at element %zu); nothing was updated",
                         t->name, (double)m->grads[at], at - t->offset);
    }
    if (!m->adamw_m) {
        size_t bytes = rnn__mul_size(m->nparams, sizeof(float));
        float *a = bytes ? rnn__alloc(&m->al, bytes) : NULL, *s = bytes ? rnn__alloc(&m->al, bytes) : NULL;
        if (!a || !s) {
            rnn__free(&m->al, a);
            rnn__free(&m->al, s);
            return rnn__fail(m, RNN_ERR_NOMEM, "cannot allocate the AdamW moments (2 x %zu floats)", m->nparams);
        }
        memset(a, 0, bytes), memset(s, 0, bytes);
        m->adamw_m = a, m->adamw_v = s, m->adamw_step = 0;
    }
    m->adamw_step++;
    double t = (double)m->adamw_step < TORCH_STEP_MAX ? (double)m->adamw_step : TORCH_STEP_MAX;
    double bc1 = 1 - pow(o.beta1, t), bc2 = 1 - pow(o.beta2, t);
    j.decay = (float)(1 - o.lr * o.weight_decay);
    j.b1 = (float)o.beta1, j.c1 = (float)(1 - o.beta1);
    j.b2 = (float)o.beta2, j.c2 = (float)(1 - o.beta2);
    j.bc2_sqrt = (float)sqrt(bc2);
    j.eps = (float)o.eps;
    j.neg_step = (float)(-(o.lr / bc1));
    rnn__pool_run(m->train.pool, step_part, &j);
    m->train.pending = 0;
    return RNN_OK;
}

void rnn__adamw_free(rnn_model *m)
{
    rnn__free(&m->al, m->adamw_m);
    rnn__free(&m->al, m->adamw_v);
    m->adamw_m = m->adamw_v = NULL;
    m->adamw_step = 0;
}

int rnn_adamw_reset(rnn_model *m)
{
    if (!m) return RNN_ERR_INVALID;
    rnn__adamw_free(m);
    return RNN_OK;
}

int rnn_adamw_get_step(const rnn_model *m, int64_t *step)
{
    if (!m) return RNN_ERR_INVALID;
    if (!step) return rnn__fail((rnn_model *)m, RNN_ERR_INVALID, "step is NULL");
    *step = m->adamw_step;
    return RNN_OK;
}
