/*
 * fault_helper.c -- a helper for tests/faults.sh (fault injection around model files).
 *
 *   fault_helper poison IN OUT nan|inf|huge   a copy of IN with decoder.bias[0] = NaN / +inf, or
 *                                              every weight +-3e38 (huge: finite weights whose
 *                                              products overflow)
 *   fault_helper poison IN OUT word:W         a copy of IN with the embedding row of word W NaN
 *   fault_helper save IN OUT                  load IN, rnn_model_save it (with its application
 *                                              data) to OUT; prints the library's message;
 *                                              exit 0 saved, 3 RNN_ERR_IO, 4 another error
 *   fault_helper load FILE                    exit 0 when FILE loads, else prints why, exit 1
 *   fault_helper killtest PATH N              N times: a child process saves a ~3 MB model over
 *                                              PATH and is SIGKILLed at a random moment; PATH must
 *                                              then load as exactly the old or the new model
 * Built by faults.sh against the library under test.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RNN_EXPERT_API /* rnn_param_get_block */
#include "rnn.h"

static rnn_model *load_or_die(const char *path)
{
    rnn_model *m = NULL;
    char err[512];
    if (rnn_model_load(&m, path, NULL, 0, err, sizeof err) != RNN_OK) {
        fprintf(stderr, "fault_helper: cannot load %s: %s\n", path, err);
        exit(1);
    }
    return m;
}

/* rnn_model_save of a loaded model, carrying the application data of the file it came from (an
 * rnnlm checkpoint keeps its training counters there), as 0.1's rnn_model_save did. */
static int save_as_loaded(const rnn_model *m, const char *out)
{
    const void *app = NULL;
    size_t app_len = 0;
    int rc = rnn_model_get_app_data(m, &app, &app_len);
    if (rc != RNN_OK) return rc;
    return rnn_model_save(m, out, 0, app, app_len);
}

static int cmd_poison(const char *in, const char *out, const char *mode)
{
    rnn_model *m = load_or_die(in);
    if (strcmp(mode, "huge") == 0) {
        float *d, *g;
        size_t n;
        rnn_param_get_block(m, &d, &g, &n);
        for (size_t i = 0; i < n; i++) d[i] = d[i] < 0 ? -3e38f : 3e38f;
    } else if (strncmp(mode, "word:", 5) == 0) {
        int nv = 0, id = -1;
        rnn_vocab_get_size(m, &nv);
        for (int i = 0; i < nv; i++) {
            const char *w;
            if (rnn_vocab_get_word(m, i, &w) == RNN_OK && strcmp(w, mode + 5) == 0) id = i;
        }
        rnn_param p = {.struct_size = sizeof p};
        if (id < 0 || rnn_param_find(m, "encoder.weight", &p) != RNN_OK) return 1;
        for (int j = 0; j < p.cols; j++) p.data[(size_t)id * p.cols + j] = NAN;
    } else {
        rnn_param p = {.struct_size = sizeof p};
        if (rnn_param_find(m, "decoder.bias", &p) != RNN_OK) return 1;
        p.data[0] = strcmp(mode, "inf") == 0 ? INFINITY : NAN;
    }
    if (save_as_loaded(m, out) != RNN_OK) {
        fprintf(stderr, "fault_helper: %s\n", rnn_model_errmsg(m));
        return 1;
    }
    rnn_model_free(m);
    return 0;
}

static int cmd_save(const char *in, const char *out)
{
    rnn_model *m = load_or_die(in);
    int rc = save_as_loaded(m, out);
    if (rc != RNN_OK) printf("%s: %s\n", rnn_status_string(rc), rnn_model_errmsg(m));
    rnn_model_free(m);
    return rc == RNN_OK ? 0 : rc == RNN_ERR_IO ? 3 : 4;
}

static rnn_model *big_model(uint64_t seed)
{
    rnn_config cfg;
    rnn_config_init(&cfg, sizeof cfg);
    cfg.vocab_size = 1000, cfg.emb_size = 200, cfg.hidden_size = 200, cfg.num_layers = 1;
    cfg.seed = seed;
    rnn_model *m = NULL;
    if (rnn_model_create(&m, &cfg, NULL, NULL, 0) != RNN_OK) exit(1);
    return m;
}

static int same_params(const rnn_model *a, const rnn_model *b)
{
    float *da, *db, *g;
    size_t na, nb;
    rnn_param_get_block(a, &da, &g, &na);
    rnn_param_get_block(b, &db, &g, &nb);
    return na == nb && memcmp(da, db, na * sizeof *da) == 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Removes PATH.tmp.* left by killed savers; returns how many there were. */
static int sweep_temps(const char *path)
{
    char dir[4096], prefix[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    const char *base = path;
    if (slash) *slash = 0, base = slash + 1;
    else snprintf(dir, sizeof dir, ".");
    snprintf(prefix, sizeof prefix, "%s.tmp.", base);
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            char p[8192];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
            n++;
        }
    }
    if (d) closedir(d);
    return n;
}

static int cmd_killtest(const char *path, int n)
{
    rnn_model *old = big_model(1000);
    if (rnn_model_save(old, path, 0, NULL, 0) != RNN_OK) {
        fprintf(stderr, "fault_helper: %s\n", rnn_model_errmsg(old));
        return 1;
    }
    /* calibrate: how long does a save take? */
    double t0 = now_s();
    if (rnn_model_save(old, path, 0, NULL, 0) != RNN_OK) return 1;
    double save_s = now_s() - t0;
    long window_us = (long)(save_s * 1.5e6) + 1000;
    srand((unsigned)getpid());
    int killed = 0, finished = 0, got_old = 0, got_new = 0, temps = 0;
    for (int i = 1; i <= n; i++) {
        rnn_model *neu = big_model(1000 + (uint64_t)i);
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) return 1;
        if (pid == 0) _exit(rnn_model_save(neu, path, 0, NULL, 0) == RNN_OK ? 0 : 7);
        struct timespec ts = {0, (long)(rand() % window_us) * 1000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        if (WIFSIGNALED(status)) killed++;
        else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) finished++;
        else {
            fprintf(stderr, "fault_helper: the saver failed (status %d)\n", status);
            return 1;
        }
        rnn_model *got = NULL;
        char err[512];
        if (rnn_model_load(&got, path, NULL, 0, err, sizeof err) != RNN_OK) {
            fprintf(stderr, "fault_helper: kill %d: %s does not load: %s\n", i, path, err);
            return 1;
        }
        if (same_params(got, neu)) {
            got_new++;
            rnn_model_free(old);
            old = neu;
        } else if (same_params(got, old)) {
            got_old++;
            rnn_model_free(neu);
        } else {
            fprintf(stderr, "fault_helper: kill %d: %s is neither the old nor the new model\n", i, path);
            return 1;
        }
        rnn_model_free(got);
        temps += sweep_temps(path);
    }
    rnn_model_free(old);
    printf("saves %d (one save %.1f ms, kill window %.1f ms): killed %d, finished %d; "
           "then the file was the old model %d times, the new %d times, torn 0; %d temporary files left by "
           "killed savers\n",
           n, save_s * 1e3, window_us / 1e3, killed, finished, got_old, got_new, temps);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "poison") == 0) return cmd_poison(argv[2], argv[3], argv[4]);
    if (argc == 4 && strcmp(argv[1], "save") == 0) return cmd_save(argv[2], argv[3]);
    if (argc == 3 && strcmp(argv[1], "load") == 0) return rnn_model_free(load_or_die(argv[2])), 0;
    if (argc == 4 && strcmp(argv[1], "killtest") == 0) return cmd_killtest(argv[2], atoi(argv[3]));
    fprintf(stderr, "usage: see tests/fault_helper.c\n");
    return 2;
}
