/* fuzz_common.h -- helpers shared by the libFuzzer targets (tests/fuzz/fuzz_*.c). */
#ifndef RNN_FUZZ_COMMON_H
#define RNN_FUZZ_COMMON_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Aborts (a crash the fuzzer records) with a message when an invariant fails. */
#define FZ_ASSERT(cond, ...)                                                                    \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__, __LINE__, #cond);       \
            fprintf(stderr, __VA_ARGS__);                                                       \
            fputc('\n', stderr);                                                                \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

/* One anonymous in-memory file per process (memfd), reached by its /proc/self/fd path so that
 * the code under test opens it like any file. */
typedef struct fz_file {
    int fd;
    char path[64];
} fz_file;

static inline void fz_file_write(fz_file *f, const char *name, const uint8_t *p1, size_t n1, const uint8_t *p2,
                                 size_t n2)
{
    if (f->fd <= 0) {
        f->fd = memfd_create(name, 0);
        if (f->fd < 0) {
            perror("memfd_create");
            abort();
        }
        snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
    }
    if (ftruncate(f->fd, 0) != 0) abort();
    if (n1 && pwrite(f->fd, p1, n1, 0) != (ssize_t)n1) abort();
    if (n2 && pwrite(f->fd, p2, n2, (off_t)n1) != (ssize_t)n2) abort();
}

/* The whole file at path in malloc'd memory (*n bytes; one byte more allocated). */
static inline uint8_t *fz_read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    FZ_ASSERT(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)sz + 1);
    FZ_ASSERT(p && fread(p, 1, (size_t)sz, f) == (size_t)sz, "cannot read %s", path);
    fclose(f);
    *n = (size_t)sz;
    return p;
}

/* A byte reader over the fuzzer's input: past the end it yields zeros. */
typedef struct fz_in {
    const uint8_t *p;
    size_t n, pos;
} fz_in;

static inline unsigned fz_u8(fz_in *in) { return in->pos < in->n ? in->p[in->pos++] : 0u; }
static inline unsigned fz_u16(fz_in *in) { unsigned a = fz_u8(in); return a | fz_u8(in) << 8; }
static inline uint32_t fz_u32(fz_in *in) { uint32_t a = fz_u16(in); return a | (uint32_t)fz_u16(in) << 16; }
static inline int fz_left(const fz_in *in) { return in->pos < in->n; }
/* An integer in [lo, hi]. */
static inline int fz_range(fz_in *in, int lo, int hi) { return lo + (int)(fz_u8(in) % (unsigned)(hi - lo + 1)); }

/* CRC-32C (docs/FORMAT.md), bitwise. */
static inline uint32_t fz_crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    }
    return ~crc;
}

/* Not instrumented for coverage: the reference code of the oracles should not steer the fuzzer. */
#define FZ_NO_COV __attribute__((no_sanitize("coverage"), noinline))

/* Decodes one strict UTF-8 scalar (Python's "utf8" codec: no overlongs, no surrogates, at most
 * U+10FFFF) at p[0..n); returns its length, or 0 if invalid. */
FZ_NO_COV static inline size_t fz_utf8_decode(const uint8_t *p, size_t n, uint32_t *cp)
{
    uint8_t c = p[0];
    if (c < 0x80) return *cp = c, 1;
    size_t len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) len = 2, v = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, v = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, v = c & 0x07, min = 0x10000;
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        v = v << 6 | (p[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    return *cp = v, len;
}

/* The code points Python's str.split() splits at (str.isspace()). */
FZ_NO_COV static inline int fz_is_space(uint32_t c)
{
    return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}
#endif
