/* One job over threads, each with its own copy of the network (workers.h has the contract).
 * Measured on the shared 2-core machine: feeding N inputs through a batch-N copy does not pay
 * (oneDNN's convolutions and Darknet's batched im2col run image by image), one copy per core does
 * (docs/benchmarks.md#threads-for-the-many-gradient-methods). */
#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "error.h"
#include "hooks.h"
#include "memory.h"
#include "model.h"
#include "workers.h"

int dx_worker_count(int items)
{
    const char *env = getenv("DX_THREADS");
    char *end;
    long n = env ? strtol(env, &end, 10) : 0;
    if (!env || end == env || *end || n < 1) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores < 1 ? 1 : cores > DX_DEFAULT_WORKERS ? DX_DEFAULT_WORKERS : cores;
    }
    if (n > DX_MAX_WORKERS) n = DX_MAX_WORKERS;
    if (n > items) n = items;
    return n < 1 ? 1 : (int)n;
}

typedef struct {
    dx_worker_fn fn;
    void *ctx;
    int workers;
    pthread_mutex_t lock; /* guards failed and *err */
    int failed;
    dx_error *err;
} job;

typedef struct {
    job *j;
    int index;
    dx_model *m;
} worker;

static void *run_worker(void *arg)
{
    worker *w = arg;
    dx_error err = {{0}};
    if (w->j->fn(w->j->ctx, w->index, w->j->workers, w->m, &err) != 0) {
        pthread_mutex_lock(&w->j->lock);
        if (!w->j->failed) *w->j->err = err;
        w->j->failed = 1;
        pthread_mutex_unlock(&w->j->lock);
    }
    return NULL;
}

/* m's copy for worker w > 0, opened when missing, following m's stand-in choices (which may have
 * changed since it was opened). */
static dx_model *copy_for(dx_model *m, int w, dx_error *err)
{
    dx_model **c = &m->copies[w - 1];
    if (!*c && !(*c = dx_open_batch_copy(m, 1, err))) return NULL;
    (*c)->fast_layers = m->fast_layers;
    if ((*c)->onednn != m->onednn) dx_set_onednn(*c, m->onednn);
    return *c;
}

int dx_workers_run(dx_model *m, int wanted, dx_worker_fn fn, void *ctx, dx_error *err)
{
    if (wanted > DX_MAX_WORKERS) wanted = DX_MAX_WORKERS;
    worker ws[DX_MAX_WORKERS];
    pthread_t ids[DX_MAX_WORKERS];
    job j = {fn, ctx, 1, PTHREAD_MUTEX_INITIALIZER, 0, err};
    ws[0] = (worker){&j, 0, m};
    for (; j.workers < wanted; ++j.workers) {
        int w = j.workers;
        /* no room for another network: fewer workers (an allocation that fails is an error) */
        if (!m->copies[w - 1] && !dx_batch_copy_fits(m, 1)) break;
        ws[w] = (worker){&j, w, copy_for(m, w, err)};
        if (!ws[w].m) return -1;
        ws[w].m->ms_backward = 0;
    }
    int workers = j.workers;
    if (workers == 1) { /* as before there were threads: OpenBLAS keeps its count */
        run_worker(&ws[0]);
        return j.failed ? -1 : 0;
    }
    int blas_threads = openblas_get_num_threads(), started = 1;
    openblas_set_num_threads(1);
    /* each thread's first sgemm maps an OpenBLAS buffer (memory.c): no more threads than fit */
    int spawn = 1 + dx_blas_threads_fit(workers - 1);
    for (int w = 1; w < spawn; ++w, ++started)
        if (pthread_create(&ids[w], NULL, run_worker, &ws[w]) != 0) break;
    run_worker(&ws[0]);
    for (int w = 1; w < workers; ++w) {
        if (w < started) pthread_join(ids[w], NULL);
        else run_worker(&ws[w]); /* no thread: the calling one does its share */
    }
    openblas_set_num_threads(blas_threads);
    for (int w = 1; w < workers; ++w) m->ms_backward += ws[w].m->ms_backward;
    return j.failed ? -1 : 0;
}
