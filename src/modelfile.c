/*
 * modelfile.c -- the model file and its memory image (specified in docs/FORMAT.md):
 *
 *   magic "RNNMODEL" | u32 format version | u32 0
 *   sections: u32 tag | u64 payload length | payload | u32 CRC-32C of tag, length and payload
 *   tags: "CONF" configuration, "OUTP" the output layer (adaptive only), "VOCB" vocabulary,
 *         "PARM" parameters, "STAT" hidden state and generator (RNN_SAVE_STATE), "ADMW" AdamW's
 *         state (RNN_SAVE_STATE, after a step), "APPL" application data, "DROP"
 *         RNN_DROPOUT_COUNTER and its position (RNN_SAVE_STATE, such a model only), "END " (empty,
 *         last)
 *
 * All integers and floats little-endian. Readers skip sections with tags they do not know. A model
 * with the full output layer is a version-1 file without OUTP, byte for byte what librnn 1.0
 * writes; an adaptive one is version 2 with OUTP, which a version-1 reader refuses from the header
 * (its PARM holds tensors that reader would misread as a full decoder's).
 */
#include "atomic.h"
#include "model.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "RNNMODEL"
#define FORMAT_VERSION 1u /* the plain model */
/* The header's version is the highest feature the file needs (docs/FORMAT.md): 1 the plain model,
 * 2 an output layer in OUTP (adaptive), 3 quantized weights (QPRM instead of PARM). A reader reads
 * every version up to the highest it knows. */
#define FORMAT_VERSION_2 2u
#define FORMAT_VERSION_QUANT 3u
#define TAG(a, b, c, d) ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#define TAG_CONF TAG('C', 'O', 'N', 'F')
#define TAG_VOCB TAG('V', 'O', 'C', 'B')
#define TAG_PARM TAG('P', 'A', 'R', 'M')
#define TAG_STAT TAG('S', 'T', 'A', 'T')
#define TAG_APPL TAG('A', 'P', 'P', 'L')
#define TAG_ADMW TAG('A', 'D', 'M', 'W')
#define TAG_DROP TAG('D', 'R', 'O', 'P')
#define TAG_OUTP TAG('O', 'U', 'T', 'P')
#define TAG_QPRM TAG('Q', 'P', 'R', 'M')
#define TAG_END TAG('E', 'N', 'D', ' ')

/* ---- application data ---------------------------------------------------------------------------- */
int rnn_model_get_app_data(const rnn_model *m, const void **data, size_t *len)
{
    if (!m) return RNN_ERR_INVALID;
    if (!data || !len) return rnn__fail((rnn_model *)m, RNN_ERR_INVALID, "%s is NULL", data ? "len" : "data");
    *data = m->app, *len = m->app_len;
    return RNN_OK;
}

/* ---- CRC-32C (Castagnoli), bytewise with a table built on the stack ---------------------------- */
typedef struct { uint32_t t[256]; } crc_table;
static void crc_init(crc_table *ct)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
        ct->t[i] = c;
    }
}
static uint32_t crc_update(const crc_table *ct, uint32_t crc, const void *data, size_t n)
{
    const unsigned char *p = data;
    crc = ~crc;
    while (n--) crc = ct->t[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

/* ---- little-endian helpers ---------------------------------------------------------------------- */
static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const unsigned char *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }
static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ---- writing ------------------------------------------------------------------------------------- */
/* Writes to a file (f), into memory (buf, cap), or only counts (neither): pos is always the bytes
 * the model takes so far. */
typedef struct writer {
    FILE *f;
    unsigned char *buf;
    size_t cap, pos;
    crc_table ct;
    uint32_t crc; /* of the current section's tag, length and payload so far */
    int failed;
    int err; /* errno of the first failed write */
} writer;

static void w_raw(writer *w, const void *p, size_t n)
{
    if (w->f) {
        if (!w->failed && n && fwrite(p, 1, n, w->f) != n) w->failed = 1, w->err = errno ? errno : EIO;
    } else if (w->buf && n && w->pos <= w->cap && n <= w->cap - w->pos) {
        memcpy(w->buf + w->pos, p, n);
    }
    w->pos += n;
}
static void w_bytes(writer *w, const void *p, size_t n)
{
    w->crc = crc_update(&w->ct, w->crc, p, n);
    w_raw(w, p, n);
}
static void w_u32(writer *w, uint32_t v)
{
    unsigned char b[4];
    put32(b, v);
    w_bytes(w, b, 4);
}
static void section_begin(writer *w, uint32_t tag, uint64_t len)
{
    unsigned char b[12];
    put32(b, tag);
    put64(b + 4, len);
    w->crc = 0;
    w_bytes(w, b, 12);
}
static void section_end(writer *w)
{
    unsigned char b[4];
    put32(b, w->crc);
    w_raw(w, b, 4);
}

static void w_floats(writer *w, const float *p, size_t total)
{
    unsigned char chunk[4096];
    for (size_t i0 = 0; i0 < total; i0 += 1024) {
        size_t k = total - i0 < 1024 ? total - i0 : 1024;
        for (size_t j = 0; j < k; j++) put32(chunk + 4 * j, f2u(p[i0 + j]));
        w_bytes(w, chunk, 4 * k);
    }
}

/* the PARM payload's length: 4 + sum over tensors of (4 + len(name) + 8 + 4 rows cols) */
static uint64_t parm_bytes(const rnn_model *m)
{
    uint64_t len = 4;
    for (int i = 0; i < m->ntensors; i++)
        len += 4 + strlen(m->tensors[i].name) + 8 + 4 * (uint64_t)m->tensors[i].rows * m->tensors[i].cols;
    return len;
}

/* ---- QPRM: the parameters of a quantized model (typed tensors; docs/FORMAT.md) -------------------- */
/* one tensor's value bytes as `type` stores them: f32 4 a value; bf16 2; q8 a f32 scale per block
 * of 32 (per row) then an int8 per value */
static uint64_t qtensor_bytes(int type, uint64_t rows, uint64_t cols)
{
    if (type == RNN_WEIGHTS_BF16) return 2 * rows * cols;
    if (type == RNN_WEIGHTS_Q8) return rows * ((cols + RNN_QBLOCK - 1) / RNN_QBLOCK) * 4 + rows * cols;
    return 4 * rows * cols;
}

/* the QPRM payload's length for weights of `type`: 8 + sum over tensors of (4 + len(name) + 12 +
 * the values) */
static uint64_t qprm_bytes(const rnn_model *m, int type)
{
    uint64_t len = 8;
    for (int i = 0; i < m->ntensors; i++) {
        const rnn__tensor *t = &m->tensors[i];
        len += 4 + strlen(t->name) + 12 + qtensor_bytes(rnn__q_tensor(t) ? type : 0, (uint64_t)t->rows, (uint64_t)t->cols);
    }
    return len;
}

static void write_qprm(writer *w, const rnn_model *m)
{
    section_begin(w, TAG_QPRM, qprm_bytes(m, m->wtype));
    w_u32(w, (uint32_t)m->ntensors), w_u32(w, (uint32_t)m->wtype);
    for (int i = 0; i < m->ntensors; i++) {
        const rnn__tensor *t = &m->tensors[i];
        size_t n = strlen(t->name);
        int q = rnn__q_tensor(t);
        w_u32(w, (uint32_t)n);
        w_bytes(w, t->name, n);
        w_u32(w, (uint32_t)t->rows), w_u32(w, (uint32_t)t->cols), w_u32(w, q ? (uint32_t)m->wtype : 0);
        if (!q) {
            w_floats(w, m->params + t->offset, (size_t)t->rows * t->cols);
            continue;
        }
        const rnn__qmat *qm = &m->qm[i];
        if (qm->type == RNN_WEIGHTS_BF16) {
            unsigned char b[2];
            for (size_t k = 0, nv = (size_t)t->rows * t->cols; k < nv; k++) {
                b[0] = (unsigned char)qm->bf[k], b[1] = (unsigned char)(qm->bf[k] >> 8);
                w_bytes(w, b, 2);
            }
        } else {
            w_floats(w, qm->scale, (size_t)t->rows * qm->nb);
            int8_t qr[256]; /* (a row in pieces: the caller's stack may be small) */
            for (int r = 0; r < t->rows; r++)
                for (int k0 = 0; k0 < t->cols; k0 += (int)sizeof qr) {
                    int len = t->cols - k0 < (int)sizeof qr ? t->cols - k0 : (int)sizeof qr;
                    rnn__qmat_qrow(qm, r, k0, len, qr), w_bytes(w, qr, (size_t)len);
                }
        }
    }
    section_end(w);
}

/* the ADMW payload's length: the step count and two moments of every parameter */
static uint64_t admw_bytes(const rnn_model *m) { return 8 + 8 * (uint64_t)m->nparams; }

static void write_model(writer *w, const rnn_model *m, unsigned flags, const void *app, size_t app_len)
{
    const rnn_config *c = &m->cfg;
    unsigned char hdr[16];
    memcpy(hdr, MAGIC, 8);
    put32(hdr + 8, m->wtype ? FORMAT_VERSION_QUANT : m->ad.nc ? FORMAT_VERSION_2 : FORMAT_VERSION);
    put32(hdr + 12, 0);
    w_raw(w, hdr, 16);

    int masks = c->dropout_masks != RNN_DROPOUT_GENERATOR;
    section_begin(w, TAG_CONF, 36);
    w_u32(w, (uint32_t)c->cell), w_u32(w, (uint32_t)c->vocab_size), w_u32(w, (uint32_t)c->emb_size);
    w_u32(w, (uint32_t)c->hidden_size), w_u32(w, (uint32_t)c->num_layers), w_u32(w, (uint32_t)c->tied);
    w_u32(w, f2u(c->dropout)), w_u32(w, (uint32_t)c->seed), w_u32(w, (uint32_t)(c->seed >> 32));
    section_end(w);

    if (m->ad.nc) { /* u32 kind | u32 n | u32 cutoffs[n] | f32 div_value | u32 head_bias */
        section_begin(w, TAG_OUTP, 16 + 4 * (uint64_t)c->num_cutoffs);
        w_u32(w, (uint32_t)c->output), w_u32(w, (uint32_t)c->num_cutoffs);
        for (int i = 0; i < c->num_cutoffs; i++) w_u32(w, (uint32_t)c->cutoffs[i]);
        w_u32(w, f2u(c->div_value)), w_u32(w, (uint32_t)c->head_bias);
        section_end(w);
    }

    if (m->vocab_count) {
        uint64_t len = 4;
        for (int i = 0; i < m->vocab_count; i++) len += 4 + strlen(m->vocab_blob + m->vocab_off[i]);
        section_begin(w, TAG_VOCB, len);
        w_u32(w, (uint32_t)m->vocab_count);
        for (int i = 0; i < m->vocab_count; i++) {
            const char *word = m->vocab_blob + m->vocab_off[i];
            size_t n = strlen(word);
            w_u32(w, (uint32_t)n);
            w_bytes(w, word, n);
        }
        section_end(w);
    }

    if (m->wtype) { /* a quantized model: typed tensors in QPRM instead of PARM */
        write_qprm(w, m);
    } else {
        section_begin(w, TAG_PARM, parm_bytes(m));
        w_u32(w, (uint32_t)m->ntensors);
        for (int i = 0; i < m->ntensors; i++) {
            const rnn__tensor *t = &m->tensors[i];
            size_t n = strlen(t->name);
            w_u32(w, (uint32_t)n);
            w_bytes(w, t->name, n);
            w_u32(w, (uint32_t)t->rows), w_u32(w, (uint32_t)t->cols);
            w_floats(w, m->params + t->offset, (size_t)t->rows * t->cols);
        }
        section_end(w);
    }

    if (flags & RNN_SAVE_STATE) {
        /* u32 batch | u32 has_c | u64 rng[4] | f32 h[L][batch][H] | f32 c[L][batch][H] (LSTM) */
        int has_c = m->cfg.cell == RNN_CELL_LSTM;
        size_t n = (size_t)m->cfg.num_layers * m->train.batch * m->cfg.hidden_size;
        section_begin(w, TAG_STAT, 40 + 4 * (uint64_t)n * (1 + has_c));
        w_u32(w, (uint32_t)m->train.batch), w_u32(w, (uint32_t)has_c);
        for (int i = 0; i < 4; i++) w_u32(w, (uint32_t)m->train.rng.s[i]), w_u32(w, (uint32_t)(m->train.rng.s[i] >> 32));
        if (m->train.batch) {
            w_floats(w, m->train.h, n);
            if (has_c) w_floats(w, m->train.c, n);
        }
        section_end(w);
    }
    if ((flags & RNN_SAVE_STATE) && masks) {
        /* u32 dropout_masks | u32 0 | u64 key | u64 stream | u64 step: a training setting, saved with
           the training state only (a file without it is the model itself, as 1.0 and PyTorch's
           converters write it, byte for byte) */
        const uint64_t v[3] = {m->train.drop_key, m->train.drop_stream, m->train.drop_step};
        section_begin(w, TAG_DROP, 32);
        w_u32(w, (uint32_t)c->dropout_masks), w_u32(w, 0);
        for (int i = 0; i < 3; i++) w_u32(w, (uint32_t)v[i]), w_u32(w, (uint32_t)(v[i] >> 32));
        section_end(w);
    }
    if ((flags & RNN_SAVE_STATE) && m->adamw_m) {
        /* u64 step | f32 exp_avg[nparams] | f32 exp_avg_sq[nparams] */
        section_begin(w, TAG_ADMW, admw_bytes(m));
        w_u32(w, (uint32_t)m->adamw_step), w_u32(w, (uint32_t)((uint64_t)m->adamw_step >> 32));
        w_floats(w, m->adamw_m, m->nparams);
        w_floats(w, m->adamw_v, m->nparams);
        section_end(w);
    }
    if (app_len) {
        section_begin(w, TAG_APPL, app_len);
        w_bytes(w, app, app_len);
        section_end(w);
    }
    section_begin(w, TAG_END, 0);
    section_end(w);
}

/* the arguments every save checks */
static int save_args(const rnn_model *m, unsigned flags, const void *app, size_t app_len)
{
    rnn_model *mm = (rnn_model *)m; /* only the message is written */
    if (flags & ~RNN_SAVE_STATE) return rnn__fail(mm, RNN_ERR_INVALID, "unknown save flags 0x%x", flags);
    if (app_len && !app) return rnn__fail(mm, RNN_ERR_INVALID, "app_data is NULL but app_len is %zu", app_len);
    if (app_len > RNN__MAX_APP)
        return rnn__fail(mm, RNN_ERR_INVALID, "application data of %zu bytes exceeds %zu (RNN_LIMIT_APP_DATA)", app_len,
                         RNN__MAX_APP);
    return RNN_OK;
}

int rnn_model_save_mem(const rnn_model *m, void *buf, size_t cap, size_t *len, unsigned flags, const void *app_data,
                       size_t app_len)
{
    if (!m) return RNN_ERR_INVALID;
    if (!len) return rnn__fail((rnn_model *)m, RNN_ERR_INVALID, "len is NULL");
    int rc = save_args(m, flags, app_data, app_len);
    if (rc) return rc;
    writer w = {0};
    crc_init(&w.ct);
    write_model(&w, m, flags, app_data, app_len); /* counting */
    *len = w.pos;
    if (!buf) return RNN_OK;
    if (w.pos > cap)
        return rnn__fail((rnn_model *)m, RNN_ERR_SIZE, "the model takes %zu bytes; the buffer holds %zu", w.pos, cap);
    writer wm = {0};
    crc_init(&wm.ct);
    wm.buf = buf, wm.cap = cap;
    write_model(&wm, m, flags, app_data, app_len);
    return RNN_OK;
}

int rnn_model_save(const rnn_model *m, const char *path, unsigned flags, const void *app_data, size_t app_len)
{
    if (!m) return RNN_ERR_INVALID;
    int rc = save_args(m, flags, app_data, app_len);
    if (rc) return rc;
    rnn_model *mm = (rnn_model *)m; /* only the message is written */
    if (!path || !path[0]) return rnn__fail(mm, RNN_ERR_INVALID, "no path to save to");
    rnn__atomic af;
    char msg[RNN_ERR_LEN];
    /* a link is followed; a device, FIFO, socket or folder is refused */
    if (rnn__atomic_openf(&af, path, 0, msg, sizeof msg)) return rnn__fail(mm, RNN_ERR_IO, "%s", msg);
    writer w = {0};
    crc_init(&w.ct);
    w.f = af.f;
    write_model(&w, m, flags, app_data, app_len);
    rc = rnn__atomic_close(&af, !w.failed, msg, sizeof msg);
    if (w.failed) return rnn__fail(mm, RNN_ERR_IO, "cannot write %.200s: %s", path, strerror(w.err));
    return rc ? rnn__fail(mm, RNN_ERR_IO, "%s", msg) : RNN_OK;
}

/* ---- reading ------------------------------------------------------------------------------------- */
typedef struct cursor {
    const unsigned char *p;
    size_t left;
} cursor;

static int c_take(cursor *c, size_t n, const unsigned char **out)
{
    if (n > c->left) return 0;
    *out = c->p;
    c->p += n, c->left -= n;
    return 1;
}
static int c_u32(cursor *c, uint32_t *v)
{
    const unsigned char *p;
    if (!c_take(c, 4, &p)) return 0;
    *v = get32(p);
    return 1;
}

/* Where the bytes come from: a file (f) or memory (data); size is known before reading. */
typedef struct loader {
    char *err;
    size_t errlen;
    rnn_allocator al; /* the model's hooks, also for the temporary section buffers */
    unsigned flags;   /* RNN_LOAD_* */
    FILE *f;
    const unsigned char *data;
    uint64_t size, at; /* total bytes, and the next byte to read (memory) */
    uint32_t version;  /* the header's: 1, or 2 (the model is made when OUTP has been read) */
} loader;

/* reads n bytes; 0 when they are not there */
static int l_read(loader *ld, void *dst, size_t n)
{
    if (ld->f) return fread(dst, 1, n, ld->f) == n;
    if (n > ld->size - ld->at) return 0;
    memcpy(dst, ld->data + ld->at, n);
    ld->at += n;
    return 1;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int lfail(loader *ld, int status, const char *fmt, ...)
{
    if (ld->err && ld->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ld->err, ld->errlen, fmt, ap);
        va_end(ap);
    }
    return status;
}

static int parse_conf(loader *ld, cursor *c, rnn_config *cfg)
{
    uint32_t v[9];
    for (int i = 0; i < 9; i++)
        if (!c_u32(c, &v[i])) return lfail(ld, RNN_ERR_FORMAT, "CONF section is truncated");
    rnn__config_defaults(cfg);
    for (int i = 0; i < 6; i++)
        if (v[i] > INT_MAX) return lfail(ld, RNN_ERR_FORMAT, "CONF field %d is out of range (%u)", i, v[i]);
    cfg->cell = (int)v[0], cfg->vocab_size = (int)v[1], cfg->emb_size = (int)v[2];
    cfg->hidden_size = (int)v[3], cfg->num_layers = (int)v[4], cfg->tied = (int)v[5];
    cfg->dropout = u2f(v[6]);
    cfg->seed = (uint64_t)v[7] | (uint64_t)v[8] << 32;
    return RNN_OK;
}

/* The largest OUTP payload: kind, count, RNN_MAX_CUTOFFS cutoffs, div_value, head_bias. */
#define OUTP_MAX (16 + 4 * RNN_MAX_CUTOFFS)

/* OUTP into cfg (CONF's, already read): exactly 16 + 4n bytes; the kind must be
 * RNN_OUTPUT_ADAPTIVE (a full output layer is a version-1 file without OUTP); the caller then
 * checks the whole configuration with rnn__config_check, as rnn_model_create does. */
static int parse_outp(loader *ld, cursor *c, rnn_config *cfg)
{
    uint32_t kind, n, v = 0;
    if (!c_u32(c, &kind) || !c_u32(c, &n)) return lfail(ld, RNN_ERR_FORMAT, "OUTP section is truncated");
    if (kind != RNN_OUTPUT_ADAPTIVE)
        return lfail(ld, RNN_ERR_FORMAT, "OUTP kind %u is not RNN_OUTPUT_ADAPTIVE (%d); a full output layer has no OUTP",
                     kind, RNN_OUTPUT_ADAPTIVE);
    if (n < 1 || n > RNN_MAX_CUTOFFS)
        return lfail(ld, RNN_ERR_FORMAT, "OUTP holds %u cutoffs (num_cutoffs must be in [1, %d])", n, RNN_MAX_CUTOFFS);
    if (c->left != 4 * (size_t)n + 8)
        return lfail(ld, RNN_ERR_FORMAT, "OUTP holds %zu bytes; %u cutoffs take %zu", c->left + 8, n, 16 + 4 * (size_t)n);
    cfg->output = (int)kind, cfg->num_cutoffs = (int)n;
    for (uint32_t i = 0; i < n; i++) {
        c_u32(c, &v);
        if (v > INT_MAX) return lfail(ld, RNN_ERR_FORMAT, "OUTP cutoff %u is out of range (%u)", i, v);
        cfg->cutoffs[i] = (int)v;
    }
    c_u32(c, &v);
    cfg->div_value = u2f(v);
    c_u32(c, &v);
    if (v > INT_MAX) return lfail(ld, RNN_ERR_FORMAT, "OUTP head_bias is out of range (%u)", v);
    cfg->head_bias = (int)v;
    return RNN_OK;
}

static int parse_vocab(loader *ld, rnn_model *m, cursor *c)
{
    uint32_t n;
    if (!c_u32(c, &n)) return lfail(ld, RNN_ERR_FORMAT, "VOCB section is truncated");
    if (n != (uint32_t)m->cfg.vocab_size)
        return lfail(ld, RNN_ERR_FORMAT, "VOCB holds %u words but vocab_size is %d", n, m->cfg.vocab_size);
    /* every word takes at least 5 bytes: a lie about n is caught before allocating */
    if ((uint64_t)n * 5 > c->left) return lfail(ld, RNN_ERR_FORMAT, "VOCB word count %u exceeds the section", n);
    /* the words, NUL-terminated, fit in the section's own size; then rnn__vocab_set checks them */
    char *blob = rnn__alloc(&m->al, c->left);
    const char **words = rnn__alloc(&m->al, sizeof(char *) * n);
    int rc = RNN_OK;
    if (!blob || !words) rc = lfail(ld, RNN_ERR_NOMEM, "cannot allocate the vocabulary");
    for (uint32_t i = 0, at = 0; !rc && i < n; i++) {
        uint32_t len;
        const unsigned char *w;
        if (!c_u32(c, &len) || !c_take(c, len, &w) || len == 0 || memchr(w, 0, len)) {
            rc = lfail(ld, RNN_ERR_FORMAT, "VOCB word %u is truncated, empty or contains a NUL byte", i);
            break;
        }
        memcpy(blob + at, w, len);
        blob[at + len] = 0;
        words[i] = blob + at;
        at += len + 1;
    }
    if (!rc) {
        char msg[RNN_ERR_LEN];
        rc = rnn__vocab_set(m, words, (int)n, msg, sizeof msg);
        if (rc) lfail(ld, rc == RNN_ERR_NOMEM ? rc : (rc = RNN_ERR_FORMAT), "VOCB: %s", msg);
    }
    rnn__free(&m->al, blob);
    rnn__free(&m->al, words);
    return rc;
}

static int parse_state(loader *ld, rnn_model *m, cursor *c)
{
    uint32_t batch, has_c, lo, hi;
    uint64_t rng[4];
    if (!c_u32(c, &batch) || !c_u32(c, &has_c)) return lfail(ld, RNN_ERR_FORMAT, "STAT section is truncated");
    for (int i = 0; i < 4; i++) {
        if (!c_u32(c, &lo) || !c_u32(c, &hi)) return lfail(ld, RNN_ERR_FORMAT, "STAT section is truncated");
        rng[i] = (uint64_t)lo | (uint64_t)hi << 32;
    }
    if (has_c != (uint32_t)(m->cfg.cell == RNN_CELL_LSTM))
        return lfail(ld, RNN_ERR_FORMAT, "STAT has_c is %u for a %s model", has_c, m->cell->name);
    if (!(rng[0] | rng[1] | rng[2] | rng[3])) return lfail(ld, RNN_ERR_FORMAT, "STAT generator state is all zero");
    /* bytes of state per stream (< 2^37); the claimed batch must account for the payload exactly */
    uint64_t per = 4 * (uint64_t)m->cfg.num_layers * (uint64_t)m->cfg.hidden_size * (1 + has_c);
    if (batch > INT_MAX || batch > c->left / per || c->left != batch * per)
        return lfail(ld, RNN_ERR_FORMAT, "STAT holds %zu bytes of state, which does not fit batch %u", c->left, batch);
    size_t n = (size_t)m->cfg.num_layers * batch * (size_t)m->cfg.hidden_size;
    if (batch) {
        int rc = rnn_model_reset_hidden(m, (int)batch);
        if (rc) return lfail(ld, rc, "cannot allocate the hidden state for batch %u", batch);
        const unsigned char *p = NULL;
        c_take(c, 4 * n, &p);
        for (size_t i = 0; i < n; i++) m->train.h[i] = u2f(get32(p + 4 * i));
        if (has_c) {
            c_take(c, 4 * n, &p);
            for (size_t i = 0; i < n; i++) m->train.c[i] = u2f(get32(p + 4 * i));
        }
    }
    for (int i = 0; i < 4; i++) m->train.rng.s[i] = rng[i];
    return RNN_OK;
}

/* DROP (32 bytes, checked by check_header): the mode, then the key, stream and step of
 * RNN_DROPOUT_COUNTER (restored unless RNN_LOAD_NO_STATE) */
static int parse_drop(loader *ld, rnn_model *m, cursor *c)
{
    uint32_t mode = 0, zero = 0;
    c_u32(c, &mode), c_u32(c, &zero);
    if (mode != RNN_DROPOUT_COUNTER || zero)
        return lfail(ld, RNN_ERR_FORMAT, "DROP holds dropout_masks %u (reserved %u): only %d is known", mode, zero,
                     RNN_DROPOUT_COUNTER);
    m->cfg.dropout_masks = (int)mode;
    if (ld->flags & RNN_LOAD_NO_STATE) return RNN_OK;
    uint64_t v[3];
    for (int i = 0; i < 3; i++) {
        uint32_t lo = 0, hi = 0;
        c_u32(c, &lo), c_u32(c, &hi);
        v[i] = (uint64_t)lo | (uint64_t)hi << 32;
    }
    m->train.drop_key = v[0], m->train.drop_stream = v[1], m->train.drop_step = v[2];
    return RNN_OK;
}

/* ADMW (its length checked by check_header): the step count (>= 1) and the moments; exp_avg may
 * not be NaN, exp_avg_sq must be >= 0 (not NaN). Infinities are kept: a finite gradient whose
 * square overflows makes exp_avg_sq +inf, in PyTorch as here. */
static int parse_adamw(loader *ld, rnn_model *m, cursor *c)
{
    uint32_t lo, hi;
    if (!c_u32(c, &lo) || !c_u32(c, &hi)) return lfail(ld, RNN_ERR_FORMAT, "ADMW section is truncated");
    uint64_t step = (uint64_t)lo | (uint64_t)hi << 32;
    if (step < 1 || step > INT64_MAX)
        return lfail(ld, RNN_ERR_FORMAT, "ADMW step count %llu is outside [1, 2^63 - 1]", (unsigned long long)step);
    size_t n = m->nparams, bytes = n * sizeof(float);
    const unsigned char *pm = NULL, *pv = NULL;
    if (!c_take(c, bytes, &pm) || !c_take(c, bytes, &pv) || c->left)
        return lfail(ld, RNN_ERR_FORMAT, "ADMW holds %zu bytes; %zu parameters need %zu", (size_t)(8 + c->left), n, 8 + 2 * bytes);
    for (size_t i = 0; i < n; i++) {
        float a = u2f(get32(pm + 4 * i)), v = u2f(get32(pv + 4 * i));
        if (a != a) return lfail(ld, RNN_ERR_FORMAT, "ADMW exp_avg %zu is NaN", i);
        if (!(v >= 0.0f)) return lfail(ld, RNN_ERR_FORMAT, "ADMW exp_avg_sq %zu is %g (must be >= 0)", i, (double)v);
    }
    float *a = rnn__alloc(&m->al, bytes), *v = rnn__alloc(&m->al, bytes);
    if (!a || !v) {
        rnn__free(&m->al, a);
        rnn__free(&m->al, v);
        return lfail(ld, RNN_ERR_NOMEM, "cannot allocate the AdamW moments");
    }
    for (size_t i = 0; i < n; i++) a[i] = u2f(get32(pm + 4 * i)), v[i] = u2f(get32(pv + 4 * i));
    m->adamw_m = a, m->adamw_v = v, m->adamw_step = (int64_t)step;
    return RNN_OK;
}

static int parse_params(loader *ld, rnn_model *m, cursor *c)
{
    uint32_t n;
    if (!c_u32(c, &n)) return lfail(ld, RNN_ERR_FORMAT, "PARM section is truncated");
    if (n != (uint32_t)m->ntensors)
        return lfail(ld, RNN_ERR_FORMAT, "PARM holds %u tensors; this configuration has %d", n, m->ntensors);
    for (int i = 0; i < m->ntensors; i++) {
        const rnn__tensor *t = &m->tensors[i];
        uint32_t len, rows, cols;
        const unsigned char *name, *data;
        if (!c_u32(c, &len) || !c_take(c, len, &name) || !c_u32(c, &rows) || !c_u32(c, &cols))
            return lfail(ld, RNN_ERR_FORMAT, "PARM tensor %d header is truncated", i);
        if (len != strlen(t->name) || memcmp(name, t->name, len) != 0)
            return lfail(ld, RNN_ERR_FORMAT, "PARM tensor %d is \"%.*s\"; expected \"%s\"", i, (int)(len < 64 ? len : 64),
                         (const char *)name, t->name);
        if (rows != (uint32_t)t->rows || cols != (uint32_t)t->cols)
            return lfail(ld, RNN_ERR_FORMAT, "PARM tensor %s has shape %ux%u; expected %dx%d", t->name, rows, cols,
                         t->rows, t->cols);
        size_t count = (size_t)t->rows * t->cols;
        if (!c_take(c, count * 4, &data)) return lfail(ld, RNN_ERR_FORMAT, "PARM tensor %s data is truncated", t->name);
        float *p = m->params + t->offset;
        for (size_t j = 0; j < count; j++) p[j] = u2f(get32(data + 4 * j));
    }
    return RNN_OK;
}

/* Where QPRM's payload comes from: memory (c, its CRC already checked) or, for a file, the stream
 * itself (f), each byte read once, straight into the storage it ends in, and added to the CRC,
 * which the caller checks after the payload: a quantized model never holds its payload in a
 * buffer beside its weights, nor fp32 weights (the model was made without them). */
typedef struct qsrc {
    loader *ld;
    const crc_table *ct;
    uint32_t crc;     /* file: of the section's header and the payload read so far */
    cursor c;         /* memory */
    uint64_t left;    /* payload bytes not read yet */
    int ioerr;
} qsrc;

static int s_read(qsrc *s, void *dst, size_t n)
{
    if (n > s->left) return 0;
    if (s->ld->f) {
        if (!l_read(s->ld, dst, n)) return s->ioerr = 1, 0;
        s->crc = crc_update(s->ct, s->crc, dst, n);
    } else {
        const unsigned char *p = NULL;
        if (!c_take(&s->c, n, &p)) return 0;
        memcpy(dst, p, n);
    }
    s->left -= n;
    return 1;
}
static int s_u32(qsrc *s, uint32_t *v)
{
    unsigned char b[4];
    if (!s_read(s, b, 4)) return 0;
    *v = get32(b);
    return 1;
}
/* reads and drops n bytes (through the CRC) */
static int s_skip(qsrc *s, uint64_t n)
{
    unsigned char chunk[4096];
    while (n) {
        size_t k = n < sizeof chunk ? (size_t)n : sizeof chunk;
        if (!s_read(s, chunk, k)) return 0;
        n -= k;
    }
    return 1;
}

/* QPRM (its length at most parm_bytes + 4, checked by check_header): the count and the weight type,
 * then the tensors as PARM's, each with its type (the weight type for a weight matrix, 0 (f32) for
 * a bias). The payload must take exactly what the type gives before anything is allocated; q8
 * values must be in [-127, 127], scales finite and > 0, or 0 for a block of zeros. Each tensor's
 * bytes are read into its final storage (the quantized matrices, and the biases' block in the
 * order rnn__model_quantize_commit lays it out) and converted there, in place; the commit then
 * gives them to the model, which was made without fp32 weights. */
static int parse_qprm(loader *ld, rnn_model *m, qsrc *s)
{
    uint32_t n, type;
    if (!s_u32(s, &n) || !s_u32(s, &type)) return lfail(ld, RNN_ERR_FORMAT, "QPRM section is truncated");
    if (n != (uint32_t)m->ntensors)
        return lfail(ld, RNN_ERR_FORMAT, "QPRM holds %u tensors; this configuration has %d", n, m->ntensors);
    if (type != RNN_WEIGHTS_BF16 && type != RNN_WEIGHTS_Q8)
        return lfail(ld, RNN_ERR_FORMAT, "QPRM weight type %u is unknown (1 bf16, 2 q8)", type);
    if (m->ad.nc) return lfail(ld, RNN_ERR_FORMAT, "QPRM: an adaptive output layer cannot be quantized");
    if (m->cfg.emb_size > RNN__QMAX_IN || m->cfg.hidden_size > RNN__QMAX_IN)
        return lfail(ld, RNN_ERR_FORMAT, "QPRM: quantized weights take inputs of at most %d units", RNN__QMAX_IN);
    if (s->left != qprm_bytes(m, (int)type) - 8)
        return lfail(ld, RNN_ERR_FORMAT, "QPRM holds %zu bytes of tensors; %s weights of this configuration take %llu",
                     (size_t)s->left, type == RNN_WEIGHTS_Q8 ? "q8" : "bf16",
                     (unsigned long long)(qprm_bytes(m, (int)type) - 8));
    rnn__qmat *q;
    float *fp;
    if (rnn__model_quantize_alloc(m, (int)type, &q, &fp)) return lfail(ld, RNN_ERR_NOMEM, "cannot allocate the quantized weights");
    int rc = RNN_OK;
    size_t foff = 0; /* the next bias's place in fp: table order, as the commit lays them out */
    for (int i = 0; !rc && i < m->ntensors; i++) {
        const rnn__tensor *t = &m->tensors[i];
        uint32_t len, rows, cols, tt, want = rnn__q_tensor(t) ? type : 0;
        char name[64];
        if (!s_u32(s, &len) || len > s->left || !s_read(s, name, len < sizeof name ? len : sizeof name) ||
            !s_skip(s, len < sizeof name ? 0 : len - sizeof name) || !s_u32(s, &rows) || !s_u32(s, &cols) ||
            !s_u32(s, &tt)) {
            rc = lfail(ld, RNN_ERR_FORMAT, "QPRM tensor %d header is truncated", i);
            break;
        }
        if (len != strlen(t->name) || memcmp(name, t->name, len) != 0)
            rc = lfail(ld, RNN_ERR_FORMAT, "QPRM tensor %d is \"%.*s\"; expected \"%s\"", i, (int)(len < 64 ? len : 64),
                       name, t->name);
        else if (rows != (uint32_t)t->rows || cols != (uint32_t)t->cols)
            rc = lfail(ld, RNN_ERR_FORMAT, "QPRM tensor %s has shape %ux%u; expected %dx%d", t->name, rows, cols, t->rows,
                       t->cols);
        else if (tt != want)
            rc = lfail(ld, RNN_ERR_FORMAT, "QPRM tensor %s has type %u; expected %u", t->name, tt, want);
        else if (qtensor_bytes((int)tt, rows, cols) > s->left)
            rc = lfail(ld, RNN_ERR_FORMAT, "QPRM tensor %s data is truncated", t->name);
        if (rc) break;
        size_t count = (size_t)rows * cols;
        if (tt == 0) { /* little-endian bytes, converted in place */
            float *p = fp + foff;
            foff += count;
            if (!s_read(s, p, count * 4)) break;
            for (size_t j = 0; j < count; j++) p[j] = u2f(get32((const unsigned char *)(p + j)));
        } else if (tt == RNN_WEIGHTS_BF16) {
            uint16_t *b = q[i].bf;
            if (!s_read(s, b, count * 2)) break;
            for (size_t j = 0; j < count; j++) {
                const unsigned char *u = (const unsigned char *)(b + j);
                b[j] = (uint16_t)(u[0] | u[1] << 8);
            }
        } else { /* the scales, then each row's values into its padded row (zeros past cols) */
            int nb = q[i].nb;
            size_t kp = (size_t)nb * RNN_QBLOCK, ns = (size_t)rows * nb;
            float *sc = q[i].scale;
            if (!s_read(s, sc, ns * 4)) break;
            for (size_t j = 0; j < ns; j++) sc[j] = u2f(get32((const unsigned char *)(sc + j)));
            for (uint32_t r = 0; r < rows; r++) {
                int8_t *qr = q[i].q + (size_t)r * kp;
                memset(qr + cols, 0, kp - cols);
                if (!s_read(s, qr, cols)) break;
            }
            if (s->ioerr) break;
            for (uint32_t r = 0; !rc && r < rows; r++) {
                const int8_t *qr = q[i].q + (size_t)r * kp;
                for (int b = 0; !rc && b < nb; b++) {
                    float v = sc[(size_t)r * nb + b];
                    int nz = 0;
                    for (uint32_t k = (uint32_t)b * RNN_QBLOCK; k < cols && k < (uint32_t)(b + 1) * RNN_QBLOCK; k++) {
                        if (qr[k] == -128) {
                            rc = lfail(ld, RNN_ERR_FORMAT, "QPRM tensor %s row %u holds -128 (q8 values are in [-127, 127])",
                                       t->name, r);
                            break;
                        }
                        nz |= qr[k] != 0;
                    }
                    if (!rc && !(isfinite(v) && (v > 0.0f || (v == 0.0f && !nz))))
                        rc = lfail(ld, RNN_ERR_FORMAT, "QPRM tensor %s row %u block %d has scale %g (finite and > 0, or 0 "
                                   "for a block of zeros)", t->name, r, b, (double)v);
                }
            }
        }
    }
    if (!rc && s->ioerr) rc = lfail(ld, RNN_ERR_IO, "read error in section 'QPRM'");
    if (rc) {
        for (int i = 0; i < m->ntensors; i++) rnn__qmat_free(&q[i], &m->al);
        rnn__free(&m->al, q);
        rnn__free(&m->al, fp);
        return rc;
    }
    rnn__model_quantize_commit(m, (int)type, q, fp, 0);
    return RNN_OK;
}

/* QPRM from a file (sh: its 12-byte header; len checked by check_header): parsed as it is read,
 * then the rest of the payload (after a failure) and the CRC. A CRC that does not match is the
 * error, as for every other section, whatever the parse said. */
static int load_qprm_file(loader *ld, const crc_table *ct, const unsigned char *sh, uint64_t len, rnn_model *m)
{
    qsrc s = {ld, ct, crc_update(ct, 0, sh, 12), {NULL, 0}, len, 0};
    int rc = parse_qprm(ld, m, &s);
    unsigned char cb[4];
    if (!s.ioerr) s_skip(&s, s.left);
    if (s.ioerr || !l_read(ld, cb, 4)) return lfail(ld, RNN_ERR_IO, "read error in section '%.4s'", (const char *)sh);
    if (s.crc != get32(cb))
        return lfail(ld, RNN_ERR_FORMAT, "checksum mismatch in section '%.4s' (the file is corrupt)", (const char *)sh);
    return rc;
}

/* 1 when the parameters of a valid configuration cannot fit in `left` bytes (4 per float) */
static int conf_too_big(const rnn_config *cfg, uint64_t left, uint32_t version)
{
    return rnn__config_params(cfg) > (version >= FORMAT_VERSION_QUANT ? left : left / 4); /* q8: >= 1 byte each */
}

/* The largest CONF payload read: 36 bytes now; newer writers may append fields. */
#define CONF_MAX 4096

/* What a section's header alone decides, before any of its payload is read or allocated: the
 * order and number of the known sections, and each one's largest payload from the configuration
 * (CONF: CONF_MAX; OUTP: OUTP_MAX, only in version 2, after CONF and before VOCB and PARM; VOCB:
 * V words of at most RNN_LIMIT_WORD_BYTES; PARM: exactly what the configuration takes; STAT: 40
 * bytes and whole streams of state; APPL: RNN_LIMIT_APP_DATA; END: empty). A shorter payload is
 * left to the parser, which says what is missing. */
static int check_header(loader *ld, const rnn_model *m, const unsigned char *sh, uint64_t len, int have_conf,
                        int have_outp, int have_parm, int have_stat, int have_admw)
{
    uint32_t tag = get32(sh);
    unsigned long long n = (unsigned long long)len;
    if (tag == TAG_CONF) {
        if (have_conf) return lfail(ld, RNN_ERR_FORMAT, "two CONF sections");
        if (len > CONF_MAX)
            return lfail(ld, RNN_ERR_FORMAT, "CONF holds %llu bytes (at most %d are read)", n, CONF_MAX);
    } else if (tag == TAG_OUTP) {
        if (ld->version != FORMAT_VERSION_2)
            return lfail(ld, RNN_ERR_FORMAT, "section 'OUTP' in a format version %u file (an output layer in OUTP "
                                             "makes a version 2 file)", ld->version);
        if (!have_conf) return lfail(ld, RNN_ERR_FORMAT, "section 'OUTP' before CONF");
        if (have_outp) return lfail(ld, RNN_ERR_FORMAT, "two OUTP sections");
        if (len > OUTP_MAX) return lfail(ld, RNN_ERR_FORMAT, "OUTP holds %llu bytes (at most %d)", n, OUTP_MAX);
    } else if (tag == TAG_VOCB || tag == TAG_PARM || tag == TAG_QPRM) {
        if (!m && have_conf) /* version 2: the model is made from CONF and OUTP */
            return lfail(ld, RNN_ERR_FORMAT, "section '%.4s' before OUTP (a format version 2 file has its output "
                                             "layer in OUTP, after CONF)", (const char *)sh);
        if (!m) return lfail(ld, RNN_ERR_FORMAT, "section '%.4s' before CONF", (const char *)sh);
        /* QPRM: 4 more bytes than PARM's header, at most 2 bytes a value */
        uint64_t most = tag == TAG_PARM ? parm_bytes(m) : tag == TAG_QPRM ? parm_bytes(m) + 4
                                                                           : 4 + (uint64_t)m->cfg.vocab_size * (4 + RNN__MAX_WORD);
        if (tag == TAG_VOCB && m->vocab_count) return lfail(ld, RNN_ERR_FORMAT, "two VOCB sections");
        if (tag != TAG_VOCB && have_parm) return lfail(ld, RNN_ERR_FORMAT, "two PARM / QPRM sections");
        if (len > most)
            return lfail(ld, RNN_ERR_FORMAT, "%.4s holds %llu bytes; this configuration allows at most %llu",
                         (const char *)sh, n, (unsigned long long)most);
    } else if (tag == TAG_STAT || tag == TAG_APPL) {
        if (!have_parm) return lfail(ld, RNN_ERR_FORMAT, "section '%.4s' before PARM", (const char *)sh);
        if (tag == TAG_STAT && have_stat) return lfail(ld, RNN_ERR_FORMAT, "two STAT sections");
        if (tag == TAG_APPL && m->app_len) return lfail(ld, RNN_ERR_FORMAT, "two APPL sections");
        if (tag == TAG_APPL && len > RNN__MAX_APP)
            return lfail(ld, RNN_ERR_FORMAT, "APPL holds %llu bytes (over RNN_LIMIT_APP_DATA)", n);
        /* bytes of state per stream (< 2^37); parse_state checks the batch the payload claims */
        uint64_t per = 4 * (uint64_t)m->cfg.num_layers * (uint64_t)m->cfg.hidden_size;
        per *= 1 + (m->cfg.cell == RNN_CELL_LSTM);
        int parsed = tag == TAG_STAT && !(ld->flags & RNN_LOAD_NO_STATE) && len >= 40;
        if (parsed && ((len - 40) % per || (len - 40) / per > INT_MAX))
            return lfail(ld, RNN_ERR_FORMAT, "STAT holds %llu bytes, which is not 40 plus whole streams of state", n);
    } else if (tag == TAG_ADMW) {
        if (!have_parm) return lfail(ld, RNN_ERR_FORMAT, "section 'ADMW' before PARM");
        if (have_admw) return lfail(ld, RNN_ERR_FORMAT, "two ADMW sections");
        if (len != admw_bytes(m))
            return lfail(ld, RNN_ERR_FORMAT, "ADMW holds %llu bytes; this configuration's %zu parameters take %llu", n,
                         m->nparams, (unsigned long long)admw_bytes(m));
    } else if (tag == TAG_DROP) {
        if (!have_parm) return lfail(ld, RNN_ERR_FORMAT, "section 'DROP' before PARM");
        if (len != 32) return lfail(ld, RNN_ERR_FORMAT, "DROP holds %llu bytes; it holds 32", n);
    } else if (tag == TAG_END && len) {
        return lfail(ld, RNN_ERR_FORMAT, "END holds %llu bytes; it is empty", n);
    }
    return RNN_OK;
}

/* Reads the payload (len bytes, inside the file) and the CRC of the section whose 12-byte header
 * is sh, and verifies the CRC. keep: *p gets the payload (in place for memory; from a file, in *buf
 * from the allocator, which the caller frees); otherwise the payload only goes through the CRC, a
 * chunk at a time, so a section skipped costs no memory whatever its length. */
static int read_section(loader *ld, const crc_table *ct, const unsigned char *sh, uint64_t len, int keep,
                        const unsigned char **p, unsigned char **buf)
{
    uint32_t crc = crc_update(ct, 0, sh, 12);
    int ok = 1;
    if (!ld->f) {
        *p = ld->data + ld->at;
        crc = crc_update(ct, crc, *p, (size_t)len);
        ld->at += len;
    } else if (keep) {
        *p = *buf = rnn__alloc(&ld->al, len ? (size_t)len : 1);
        if (!*buf)
            return lfail(ld, RNN_ERR_NOMEM, "cannot allocate %llu bytes for section '%.4s'", (unsigned long long)len,
                         (const char *)sh);
        ok = l_read(ld, *buf, (size_t)len);
        crc = crc_update(ct, crc, *buf, (size_t)len);
    } else {
        unsigned char chunk[4096];
        for (uint64_t left = len; ok && left;) {
            size_t k = left < sizeof chunk ? (size_t)left : sizeof chunk;
            ok = l_read(ld, chunk, k);
            crc = crc_update(ct, crc, chunk, k);
            left -= k;
        }
    }
    unsigned char cb[4];
    if (!ok || !l_read(ld, cb, 4)) return lfail(ld, RNN_ERR_IO, "read error in section '%.4s'", (const char *)sh);
    if (crc != get32(cb))
        return lfail(ld, RNN_ERR_FORMAT, "checksum mismatch in section '%.4s' (the file is corrupt)", (const char *)sh);
    return RNN_OK;
}

static int load(loader *ld, rnn_model **out)
{
    uint64_t fsize = ld->size;
    crc_table ct;
    crc_init(&ct);
    unsigned char hdr[16];
    if (fsize < 16 || !l_read(ld, hdr, 16)) return lfail(ld, RNN_ERR_FORMAT, "file too short for the header");
    if (memcmp(hdr, MAGIC, 8) != 0) return lfail(ld, RNN_ERR_FORMAT, "not a librnn model file (bad magic)");
    uint32_t version = get32(hdr + 8);
    if (version < FORMAT_VERSION || version > FORMAT_VERSION_QUANT)
        return lfail(ld, RNN_ERR_FORMAT, "format version %u is not supported (this library reads versions %u to %u)",
                     version, FORMAT_VERSION, FORMAT_VERSION_QUANT);
    ld->version = version;
    if (get32(hdr + 12) != 0) return lfail(ld, RNN_ERR_FORMAT, "reserved header word is %u, not 0", get32(hdr + 12));
    uint64_t pos = 16;
    rnn_model *m = NULL;
    unsigned char *payload = NULL;
    int rc = RNN_OK, have_conf = 0, have_outp = 0, have_parm = 0, have_stat = 0, have_admw = 0, ended = 0;
    rnn_config cfg; /* CONF's, and (version 2) OUTP's; the model is made from it once it is whole */
    rnn__config_defaults(&cfg);
    /* sections are read one at a time; a payload is read only after its length has been checked
     * against the bytes that remain in the file and against its section's limit */
    while (!ended) {
        unsigned char sh[12];
        if (fsize - pos < 12 || !l_read(ld, sh, 12)) {
            rc = lfail(ld, RNN_ERR_FORMAT, "truncated: no END section");
            break;
        }
        pos += 12;
        uint32_t tag = get32(sh);
        uint64_t len = get64(sh + 4);
        if (len > fsize - pos || fsize - pos - len < 4) {
            rc = lfail(ld, RNN_ERR_FORMAT, "section '%.4s' claims %llu bytes (+4 for its CRC); only %llu remain", (const char *)sh,
                       (unsigned long long)len, (unsigned long long)(fsize - pos));
            break;
        }
        rc = check_header(ld, m, sh, len, have_conf, have_outp, have_parm, have_stat, have_admw);
        /* unknown sections (from a newer writer) and a state not wanted: checked and skipped */
        if (!rc && tag == TAG_QPRM && version < FORMAT_VERSION_QUANT)
            rc = lfail(ld, RNN_ERR_FORMAT, "QPRM (quantized weights) in a version %u file (needs version %u)", version,
                       FORMAT_VERSION_QUANT);
        if (!rc && tag == TAG_PARM && version == FORMAT_VERSION_QUANT)
            rc = lfail(ld, RNN_ERR_FORMAT, "PARM in a format version %u file (its weights are in QPRM)", version);
        if (!rc && tag == TAG_ADMW && m && m->wtype) rc = lfail(ld, RNN_ERR_FORMAT, "ADMW in a quantized model");
        int keep = tag == TAG_CONF || tag == TAG_OUTP || tag == TAG_VOCB || tag == TAG_PARM || tag == TAG_QPRM ||
                   tag == TAG_APPL || tag == TAG_END || tag == TAG_DROP ||
                   ((tag == TAG_STAT || tag == TAG_ADMW) && !(ld->flags & RNN_LOAD_NO_STATE));
        if (!rc && tag == TAG_QPRM && ld->f) { /* from a file: straight into the quantized storage */
            rc = load_qprm_file(ld, &ct, sh, len, m);
            if (rc) break;
            pos += len + 4;
            have_parm = 1;
            continue;
        }
        const unsigned char *p = NULL;
        if (!rc) rc = read_section(ld, &ct, sh, len, keep, &p, &payload);
        if (rc) break;
        pos += len + 4;
        cursor c = {p, (size_t)len};
        if (tag == TAG_CONF || tag == TAG_OUTP) {
            /* CONF (with the full output layer's zeros), then in version 2 OUTP's fields: each
             * time the configuration so far is checked as rnn_model_create checks it, and once it
             * is whole, its parameters must fit in the file before the model is made */
            rc = tag == TAG_CONF ? parse_conf(ld, &c, &cfg) : parse_outp(ld, &c, &cfg);
            char msg[RNN_ERR_LEN];
            if (!rc && rnn__config_check(&cfg, msg, sizeof msg))
                rc = lfail(ld, RNN_ERR_FORMAT, "%.4s holds an invalid configuration: %s", (const char *)sh, msg);
            int whole = tag == TAG_OUTP || ld->version != FORMAT_VERSION_2;
            if (!rc && whole && conf_too_big(&cfg, fsize - pos, ld->version)) /* before allocating anything for it */
                rc = lfail(ld, RNN_ERR_FORMAT, "%.4s describes a model larger than the file (V %d, E %d, H %d, L %d)",
                           (const char *)sh, cfg.vocab_size, cfg.emb_size, cfg.hidden_size, cfg.num_layers);
            if (!rc && whole) {
                /* a quantized file's model has no fp32 weights: QPRM's are read into their own storage */
                rc = rnn__model_new(&m, &cfg, &ld->al, ld->version != FORMAT_VERSION_QUANT);
                if (rc) lfail(ld, rc, "cannot create the model: %s", rnn_status_string(rc));
            }
            have_conf = 1, have_outp |= tag == TAG_OUTP;
        } else if (tag == TAG_STAT) {
            rc = keep ? parse_state(ld, m, &c) : RNN_OK;
            have_stat = 1;
        } else if (tag == TAG_DROP) {
            rc = parse_drop(ld, m, &c);
        } else if (tag == TAG_ADMW) {
            rc = keep ? parse_adamw(ld, m, &c) : RNN_OK;
            have_admw = 1;
        } else if (tag == TAG_APPL) {
            if (len) {
                m->app = rnn__alloc(&m->al, (size_t)len);
                if (!m->app) rc = lfail(ld, RNN_ERR_NOMEM, "cannot allocate the application data");
                else memcpy(m->app, p, (size_t)len), m->app_len = (size_t)len;
            }
        } else if (tag == TAG_VOCB || tag == TAG_PARM || tag == TAG_QPRM) {
            if (tag == TAG_QPRM) { /* from memory: its CRC checked, copied into the quantized storage */
                qsrc s = {ld, &ct, 0, c, c.left, 0};
                rc = parse_qprm(ld, m, &s);
                c.left = (size_t)s.left;
            } else {
                rc = tag == TAG_VOCB ? parse_vocab(ld, m, &c) : parse_params(ld, m, &c);
            }
            have_parm |= tag != TAG_VOCB;
            if (!rc && c.left) /* (CONF may grow: newer writers append fields) */
                rc = lfail(ld, RNN_ERR_FORMAT, "%zu unexpected bytes at the end of section '%.4s'", c.left, (const char *)sh);
        } else if (tag == TAG_END) {
            ended = 1;
        }
        rnn__free(&ld->al, payload);
        payload = NULL;
        if (rc) break;
    }
    rnn__free(&ld->al, payload);
    if (!rc && (!have_conf || !have_parm))
        rc = lfail(ld, RNN_ERR_FORMAT, "missing %s section", !have_conf ? "CONF" : ld->version == FORMAT_VERSION_2 && !have_outp ? "OUTP" : "PARM");
    if (rc) {
        rnn_model_free(m);
        return rc;
    }
    *out = m;
    return RNN_OK;
}

/* the arguments every load checks; fills ld */
static int load_args(loader *ld, rnn_model **out, const rnn_allocator *alloc, unsigned flags, char *errbuf, size_t errlen)
{
    memset(ld, 0, sizeof *ld);
    ld->err = errbuf, ld->errlen = errlen, ld->flags = flags;
    if (errbuf && errlen) errbuf[0] = 0;
    if (!out) return lfail(ld, RNN_ERR_INVALID, "out is NULL");
    *out = NULL;
    if (flags & ~RNN_LOAD_NO_STATE) return lfail(ld, RNN_ERR_INVALID, "unknown load flags 0x%x", flags);
    return rnn__allocator_init(&ld->al, alloc, errbuf, errlen);
}

int rnn_model_load_mem(rnn_model **out, const void *data, size_t len, const rnn_allocator *alloc, unsigned flags,
                       char *errbuf, size_t errlen)
{
    loader ld;
    int rc = load_args(&ld, out, alloc, flags, errbuf, errlen);
    if (rc) return rc;
    if (!data && len) return lfail(&ld, RNN_ERR_INVALID, "data is NULL");
    ld.data = data, ld.size = len;
    return load(&ld, out);
}

int rnn_model_load(rnn_model **out, const char *path, const rnn_allocator *alloc, unsigned flags, char *errbuf,
                   size_t errlen)
{
    loader ld;
    int rc = load_args(&ld, out, alloc, flags, errbuf, errlen);
    if (rc) return rc;
    if (!path) return lfail(&ld, RNN_ERR_INVALID, "path is NULL");
    /* O_NONBLOCK: a FIFO must not block the open; only regular files are read */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return lfail(&ld, RNN_ERR_IO, "cannot open %.200s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return lfail(&ld, RNN_ERR_IO, "%.200s is not a regular file", path);
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    ld.f = fdopen(fd, "rb");
    if (!ld.f) {
        close(fd);
        return lfail(&ld, RNN_ERR_IO, "cannot read %.200s: %s", path, strerror(errno));
    }
    ld.size = (uint64_t)st.st_size;
    rc = load(&ld, out);
    fclose(ld.f);
    return rc;
}
