/*
 * base.h -- what every module of the library uses: errors, allocation, limits, and the checks of
 * the public structs that grow (struct_size). Never installed.
 */
#ifndef RNN_BASE_H
#define RNN_BASE_H

/* the library defines every call, the expert ones too */
#define RNN_EXPERT_API
#include "rnn.h"

#include <stddef.h>
#include <stdint.h>

/* ---- limits (rnn_limit_get reports these; nothing else restates them) ------------------------ */
#define RNN__MAX_DIM (1 << 24)              /* V, E, H */
#define RNN__MAX_LAYERS 1024
#define RNN__MAX_THREADS 256
#define RNN__MAX_CHUNK (INT32_MAX / 8)      /* batch * steps of one call */
#define RNN__MAX_WORD ((size_t)1 << 20)     /* bytes of one vocabulary word */
#define RNN__MAX_APP ((size_t)16 << 20)     /* bytes of application data */
#define RNN__MAX_REPEAT 1024                /* rnn_sampling.repeat_last_n: the tokens a stream remembers */
#define RNN__MAX_STRUCT 4096                /* the largest struct_size accepted */

/* ---- errors ---------------------------------------------------------------------------------- */
#define RNN_ERR_LEN 256
/* A handle's last failure: the message and the status. */
typedef struct rnn__err {
    int code;
    char msg[RNN_ERR_LEN];
} rnn__err;

/* Records status and the formatted message in *e (e may be NULL) and returns status. */
int rnn__failf(rnn__err *e, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Writes the formatted message into buf[0..len) (buf may be NULL) and returns status. */
int rnn__bufail(char *buf, size_t len, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* ---- hashes (rnnlm uses them too) ----------------------------------------------------------- */
#define RNN__FNV_INIT 0xcbf29ce484222325ull
/* FNV-1a 64 over p[0..n), continuing from h (start with RNN__FNV_INIT) */
uint64_t rnn__fnv1a(uint64_t h, const void *p, size_t n);
/* splitmix64: advances *state and returns the next value (seeds the generators) */
uint64_t rnn__splitmix64(uint64_t *state);

/* ---- allocation: the one way to reach a handle's hooks --------------------------------------- */
/* Copies the caller's hooks (NULL: malloc/free) into *out. RNN_ERR_INVALID for a bad struct_size
 * or only one of alloc/free set, with the reason in errbuf. */
int rnn__allocator_init(rnn_allocator *out, const rnn_allocator *in, char *errbuf, size_t errlen);
void *rnn__alloc(const rnn_allocator *al, size_t bytes); /* NULL for 0 bytes */
void rnn__free(const rnn_allocator *al, void *p);        /* NULL is fine */
/* a * b, or 0 when it would overflow SIZE_MAX */
size_t rnn__mul_size(size_t a, size_t b);

/* ---- structs that grow (the rules are at the top of rnn.h) ----------------------------------- */
typedef struct rnn__field {
    size_t off, size;
} rnn__field;
#define RNN__FIELD(T, f) {offsetof(T, f), sizeof(((T *)0)->f)}
typedef struct rnn__layout {
    const char *name;       /* "rnn_config" */
    size_t size;            /* the library's sizeof */
    const rnn__field *fields;
    int nfields;
} rnn__layout;
extern const rnn__layout rnn__config_layout, rnn__sampling_layout, rnn__param_layout, rnn__allocator_layout;

/* Reads the caller's struct `in` into `lib` (the library's struct, holding the defaults): the
 * fields the caller's struct_size covers are copied, the others keep their defaults. */
int rnn__struct_read(const rnn__layout *L, void *lib, const void *in, char *err, size_t errlen);
/* Writes the library's struct `lib` into the caller's `out` (out's struct_size says its size). */
int rnn__struct_write(const rnn__layout *L, void *out, const void *lib, char *err, size_t errlen);
/* Fills the caller's struct (size bytes) from the library's defaults `lib`: *_init. */
int rnn__struct_init(const rnn__layout *L, void *out, size_t size, const void *lib);

/* ---- configuration: the one place that knows what a valid configuration is ------------------- */
void rnn__config_defaults(rnn_config *cfg);
/* RNN_OK or RNN_ERR_INVALID with the reason (naming the field and its range) in err. */
int rnn__config_check(const rnn_config *cfg, char *err, size_t errlen);
/* The units of adaptive cluster i's projection, floor(H / div_value^(i+1)) as Python computes it
 * (div_value 0: 4); a double, since an unchecked div_value may make it huge */
double rnn__adaptive_proj(const rnn_config *cfg, int i);
/* The number of parameters (floats) a checked configuration has. */
uint64_t rnn__config_params(const rnn_config *cfg);

#endif
