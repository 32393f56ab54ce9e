/*
 * pool.c -- librnn's own worker threads (rnn_model_set_threads): a fixed set of n - 1 workers that run
 * the parts of one job at a time while the calling thread runs part 0.
 *
 * A job is split into exactly n parts, part i on thread i, and rnn__pool_run returns when every part
 * is done, so a job is a parallel for-loop with a barrier at its end. Workers spin briefly for the
 * next job (generation dispatches one job per token) and then sleep on a condition variable. They
 * are created with every signal blocked, so an application's handlers keep running on its threads.
 * A pool remembers the process that made it: after fork() the child's copy has no workers, so
 * there every job runs all its parts on the caller.
 */
#include "pool.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#define SPIN 20000 /* polls of the job counter before a worker sleeps (some tens of microseconds) */

typedef struct rnn__worker {
    struct rnn__pool *pool;
    int id;
    pthread_t tid;
} rnn__worker;

struct rnn__pool {
    int n;                   /* threads, the caller included */
    int started;             /* workers actually created */
    rnn__worker *w;           /* [n - 1] */
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    atomic_uint gen;         /* job counter: a worker runs a job when it changes */
    atomic_int pending;      /* parts of the current job not finished yet */
    int sleepers;            /* workers waiting on go (under mu) */
    int quit;
    pid_t pid;               /* the process the workers run in */
    rnn__job fn;
    void *arg;
};

static void *worker_main(void *a)
{
    rnn__worker *w = a;
    rnn__pool *p = w->pool;
    unsigned seen = 0;
    for (;;) {
        unsigned g = atomic_load_explicit(&p->gen, memory_order_acquire);
        for (int i = 0; i < SPIN && g == seen; i++) g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            p->sleepers++;
            while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen && !p->quit)
                pthread_cond_wait(&p->go, &p->mu);
            p->sleepers--;
            int quit = p->quit;
            pthread_mutex_unlock(&p->mu);
            if (quit) return NULL;
        }
        seen = g;
        p->fn(p->arg, w->id, p->n);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

void rnn__pool_free(rnn__pool *p, const rnn_allocator *al)
{
    if (!p) return;
    if (p->pid != getpid()) { /* a forked child: the workers (and any lock holder) are not here */
        rnn__free(al, p->w);
        rnn__free(al, p);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->started; i++) pthread_join(p->w[i].tid, NULL);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    rnn__free(al, p->w);
    rnn__free(al, p);
}

int rnn__pool_create(rnn__pool **out, int n, const rnn_allocator *al)
{
    *out = NULL;
    if (n <= 1) return RNN_OK; /* no pool: jobs run as one part on the caller */
    rnn__pool *p = rnn__alloc(al, sizeof *p);
    if (!p) return RNN_ERR_NOMEM;
    memset(p, 0, sizeof *p);
    p->n = n;
    p->pid = getpid();
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    p->w = rnn__alloc(al, sizeof(rnn__worker) * (size_t)(n - 1));
    int ok = p->w != NULL;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (int i = 0; ok && i < n - 1; i++) {
        p->w[i].pool = p, p->w[i].id = i + 1;
        if (pthread_create(&p->w[i].tid, NULL, worker_main, &p->w[i]) != 0) ok = 0;
        else p->started++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!ok) {
        rnn__pool_free(p, al);
        return RNN_ERR_NOMEM;
    }
    *out = p;
    return RNN_OK;
}

void rnn__pool_run(rnn__pool *p, rnn__job fn, void *arg)
{
    if (!p || p->pid != getpid()) { /* no pool, or a forked child's copy of one: the caller alone */
        int n = p ? p->n : 1;
        for (int i = 0; i < n; i++) fn(arg, i, n);
        return;
    }
    p->fn = fn, p->arg = arg;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    if (p->sleepers) pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, p->n);
    for (int i = 0; i < SPIN && atomic_load_explicit(&p->pending, memory_order_acquire); i++)
        ;
    if (atomic_load_explicit(&p->pending, memory_order_acquire)) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load_explicit(&p->pending, memory_order_acquire)) pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}
