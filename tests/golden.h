/*
 * golden.h -- the reader of the PyTorch golden files that tests/torch_golden.py writes (the format
 * is at the top of that script), shared by test_golden.c and test_optim.c. Not part of the library.
 */
#ifndef RNN_GOLDEN_H
#define RNN_GOLDEN_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { G_F32 = 0, G_I32 = 1, G_MAXDIMS = 8 };

typedef struct {
    char *name;
    int dtype;
    int ndims;
    size_t dims[G_MAXDIMS];
    size_t n;    /* number of elements */
    void *data;  /* float or int32_t, n elements */
} garray;

typedef struct {
    int count;
    garray *a;
} gfile;

static void gfile_free(gfile *g)
{
    for (int i = 0; i < g->count; i++) {
        free(g->a[i].name);
        free(g->a[i].data);
    }
    free(g->a);
    g->a = NULL;
    g->count = 0;
}

static int read_u32(FILE *f, uint32_t *v)
{
    unsigned char b[4];
    if (fread(b, 1, 4, f) != 4) return -1;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return 0;
}

/* Loads a whole golden file; on failure returns -1 with a reason in err. Assumes a little-endian
   host for the float / int32 payloads (as does the rest of the test suite). */
static int gfile_load(gfile *g, const char *path, char *err, size_t errlen)
{
    memset(g, 0, sizeof *g);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %s", path);
        return -1;
    }
    char magic[8];
    uint32_t count;
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "RNNGOLD1", 8) != 0 || read_u32(f, &count) ||
        count > 100000) {
        snprintf(err, errlen, "%s: not a RNNGOLD1 file", path);
        fclose(f);
        return -1;
    }
    g->a = calloc(count ? count : 1, sizeof *g->a);
    if (!g->a) goto bad;
    for (uint32_t i = 0; i < count; i++) {
        garray *a = &g->a[i];
        uint32_t len, dtype, ndims, d;
        if (read_u32(f, &len) || len == 0 || len > 1000) goto bad;
        g->count = (int)i + 1;
        if (!(a->name = malloc(len + 1)) || fread(a->name, 1, len, f) != len) goto bad;
        a->name[len] = '\0';
        if (read_u32(f, &dtype) || dtype > G_I32 || read_u32(f, &ndims) || ndims < 1 ||
            ndims > G_MAXDIMS)
            goto bad;
        a->dtype = (int)dtype;
        a->ndims = (int)ndims;
        a->n = 1;
        for (uint32_t k = 0; k < ndims; k++) {
            if (read_u32(f, &d) || d > (1u << 24)) goto bad;
            a->dims[k] = d;
            a->n *= d;
        }
        if (a->n > (1u << 26)) goto bad;
        if (!(a->data = malloc(a->n ? a->n * 4 : 4)) || fread(a->data, 4, a->n, f) != a->n)
            goto bad;
    }
    if (fgetc(f) != EOF) goto bad;
    fclose(f);
    return 0;
bad:
    snprintf(err, errlen, "%s: truncated or malformed (array %d)", path, g->count);
    fclose(f);
    gfile_free(g);
    return -1;
}

static const garray *gfile_get(const gfile *g, const char *name, int dtype)
{
    for (int i = 0; i < g->count; i++)
        if (strcmp(g->a[i].name, name) == 0) return g->a[i].dtype == dtype ? &g->a[i] : NULL;
    return NULL;
}

#endif
