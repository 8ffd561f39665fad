/* workers.c — one job spread over threads, each thread computing on its own copy of the network:
 * occlusion's windows, Integrated Gradients' steps, the SmoothGrad family's samples, the
 * perturbed inputs scoring.c scores at batch 1.
 *
 * dx_workers_run(m, wanted, fn, ctx, err) calls fn(ctx, w, workers, model, werr) once for each
 * worker w in 0..workers-1, workers <= wanted:
 *   - worker 0 on m itself, on the calling thread; worker w > 0 on copy w of m's network (batch
 *     1, m's parameters, fast-layer and oneDNN choices), on a thread of its own.
 *   - Threads: OpenBLAS runs one thread per caller meanwhile (its count restored after), and no
 *     more threads start than the address space has room for OpenBLAS buffers
 *     (dx_blas_threads_fit). A worker whose thread cannot start runs on the calling thread after
 *     worker 0 has returned: fn must never wait for another worker to start (claim the work
 *     under a lock rather than assign it, or give each worker a share it does alone).
 *   - Copies: m owns them. They are opened on the first call that needs them (save + load of the
 *     weights, on the calling thread) and kept in m->copies for the next calls; dx_close and
 *     dx_params_changed (weights changed in place) close them. fn may change its model's forward
 *     state and reverse pass as it likes, never its parameters; a copy's forward state is
 *     whatever the last call left, so fn runs its own forwards on it. m's forward state after is
 *     whatever worker 0's fn left (the caller restores it). The copies' reverse-pass time is added
 *     to m->ms_backward.
 *   - Errors: fn returns 0, or -1 with its error in werr (its own). dx_workers_run returns 0 when
 *     every fn returned 0, else -1 with the error of the first worker to fail (in time); stopping
 *     the others is fn's business (a flag in ctx). A copy the memory check finds no room for
 *     (dx_memory_check) is not made: fewer workers, no error (fn learns how many from `workers`).
 *     When a copy that fits cannot be opened, no fn runs and the call fails with that error.
 *     Nothing is left allocated but the kept copies. */
#ifndef DX_WORKERS_H
#define DX_WORKERS_H
#include "explain.h"

#define DX_MAX_WORKERS 16 /* DX_THREADS is capped here */
#define DX_DEFAULT_WORKERS 4 /* without DX_THREADS: one per online core, at most this many */

/* How many workers a job of `items` independent pieces gets: DX_THREADS when it is set to a
 * number from 1 (at most DX_MAX_WORKERS), else one per online core up to DX_DEFAULT_WORKERS; never
 * more than items, at least 1. */
int dx_worker_count(int items);

typedef int (*dx_worker_fn)(void *ctx, int worker, int workers, dx_model *m, dx_error *err);
int dx_workers_run(dx_model *m, int wanted, dx_worker_fn fn, void *ctx, dx_error *err);
#endif
