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
#endif
