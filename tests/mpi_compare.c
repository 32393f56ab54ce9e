/*
 * mpi_compare.c -- for tests/mpi.sh: `mpi_compare A B TOL` loads two model files and prints the
 * largest tensor-relative difference, max |a - b| / max |b| over each tensor (the measure
 * tests/testutil.h's tu_rel_err uses against PyTorch), with the tensor's name; exits 0 when it is
 * at most TOL, 1 when larger, 2 when a file cannot be read or the models differ in shape.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rnn.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: mpi_compare A B TOL\n");
        return 2;
    }
    rnn_model *a = NULL, *b = NULL;
    char err[256];
    for (int i = 0; i < 2; i++)
        if (rnn_model_load(i ? &b : &a, argv[1 + i], NULL, RNN_LOAD_NO_STATE, err, sizeof err) != RNN_OK) {
            fprintf(stderr, "mpi_compare: %s: %s\n", argv[1 + i], err);
            return 2;
        }
    int na = 0, nb = 0;
    rnn_param_get_count(a, &na), rnn_param_get_count(b, &nb);
    double worst = 0.0;
    const char *where = "";
    for (int i = 0; i < na && na == nb; i++) {
        rnn_param pa = {sizeof pa}, pb = {sizeof pb};
        if (rnn_param_get(a, i, &pa) != RNN_OK || rnn_param_get(b, i, &pb) != RNN_OK || pa.size != pb.size) {
            na = -1;
            break;
        }
        double num = 0.0, den = 0.0;
        for (size_t j = 0; j < pa.size; j++) {
            double d = fabs((double)pa.data[j] - (double)pb.data[j]);
            if (d > num || d != d) num = d;
            if (fabs((double)pb.data[j]) > den) den = fabs((double)pb.data[j]);
        }
        double e = num / (den > 1e-30 ? den : 1e-30);
        if (e > worst || e != e) worst = e, where = pa.name;
    }
    if (na != nb || na < 0) {
        fprintf(stderr, "mpi_compare: %s and %s differ in shape\n", argv[1], argv[2]);
        return 2;
    }
    printf("%.3g %s\n", worst, where);
    int ok = worst <= atof(argv[3]);
    rnn_model_free(a), rnn_model_free(b);
    return ok ? 0 : 1;
}
