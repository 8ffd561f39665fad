/* Scoring many inputs (the perturbation methods' inner loop). At batch 1 the inputs are spread
 * over workers.c's threads, each forwarding the inputs it claims on its own copy of the network
 * (the copies are kept in m for the next calls). At batch N the network runs on the caller's
 * batch of inputs per forward pass through a batch-N copy of the model, and the targets
 * are evaluated on each batch item through a view of the model whose layer outputs point at
 * that item, so every target's eval works unchanged. Several targets (the boxes of one photo)
 * share each forward. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "error.h"
#include "memory.h"
#include "model.h"
#include "scoring.h"
#include "workers.h"

void dx_target_scores(const dx_target *t, int n_targets, const dx_model *m, float *scores)
{
    for (int j = 0; j < n_targets; ++j) scores[j] = dx_target_score(&t[j], m);
}

typedef struct {
    const dx_target *t;
    int n;
} target_set;

static void read_targets(void *ctx, const dx_model *m, float *scores)
{
    const target_set *s = ctx;
    dx_target_scores(s->t, s->n, m, scores);
}

/* Inputs 0..n-2 claimed one at a time by whichever worker is free; each score lands at its
 * input's index, so the scores do not depend on the workers' count or timing. Worker 0 (on m
 * itself) scores input n-1 last, after the claims are over: m's forward state ends on it. */
typedef struct {
    dx_read_scores_fn read;
    void *ctx;
    int n_scores;
    const float *inputs;
    int n;
    float *scores;
    pthread_mutex_t lock; /* guards next */
    int next;
    int scored[DX_MAX_WORKERS]; /* inputs each worker scored */
} spread_job;

static int score_claimed(void *arg, int worker, int workers, dx_model *m, dx_error *err)
{
    (void)workers, (void)err; /* a forward allocates nothing counted: no worker fails */
    spread_job *j = arg;
    size_t per_input = (size_t)m->net->inputs;
    for (;;) {
        pthread_mutex_lock(&j->lock);
        int k = j->next < j->n - 1 ? j->next++ : -1;
        pthread_mutex_unlock(&j->lock);
        if (k < 0 && worker == 0) k = j->n - 1;
        else if (k < 0) return 0;
        dx_forward(m, j->inputs + (size_t)k * per_input);
        j->read(j->ctx, m, j->scores + (size_t)k * j->n_scores);
        j->scored[worker]++;
        if (k == j->n - 1) return 0;
    }
}

int dx_score_inputs_read(dx_model *m, dx_read_scores_fn read, void *ctx, int n_scores, const float *inputs, int n,
                         float *scores, dx_error *err)
{
    if (n < 1) return 0;
    int workers = dx_worker_count(n / DX_SPREAD_MIN_INPUTS);
    spread_job j = {read, ctx, n_scores, inputs, n, scores, PTHREAD_MUTEX_INITIALIZER, 0, {0}};
    int rc = workers > 1 ? dx_workers_run(m, workers, score_claimed, &j, err) : score_claimed(&j, 0, 1, m, err);
    m->scored_by = 0;
    for (int w = 0; w < DX_MAX_WORKERS; ++w) m->scored_by += j.scored[w] > 0;
    return rc;
}

int dx_score_chunk(int batch, int n)
{
    int chunk = batch > 1 ? batch : dx_worker_count(n) * DX_SCORE_CHUNK_PER_WORKER;
    return chunk < n ? chunk : n;
}

int dx_score_inputs(dx_model *m, const dx_target *t, const float *inputs, int n, int batch, float *scores,
                    dx_error *err)
{
    return dx_score_inputs_targets(m, t, 1, inputs, n, batch, scores, err);
}

int dx_score_inputs_targets(dx_model *m, const dx_target *t, int n_targets, const float *inputs, int n,
                            int batch, float *scores, dx_error *err)
{
    if (batch > n) batch = n;
    if (batch <= 1) {
        target_set set = {t, n_targets};
        return dx_score_inputs_read(m, read_targets, &set, n_targets, inputs, n, scores, err);
    }
    if (m->batched && m->batched->net->batch != batch) {
        dx_close(m->batched);
        m->batched = 0;
    }
    if (!m->batched && !(m->batched = dx_open_batch_copy(m, batch, err))) return -1;
    dx_model *b = m->batched;
    size_t per_input = (size_t)m->net->inputs;
    /* the view: item k of b, as a batch-1 model */
    dx_layer *items = dx_alloc(b->n, sizeof(dx_layer), "the batch's layers", err);
    if (!items) return -1;
    memcpy(items, b->net->layers, sizeof(dx_layer) * b->n);
    dx_net item_net = *b->net;
    item_net.layers = items;
    item_net.batch = 1;
    dx_model item = *b;
    item.net = &item_net;
    for (int first = 0; first < n; first += batch) {
        int count = n - first < batch ? n - first : batch; /* a short last batch leaves old slots */
        memcpy(b->input, inputs + first * per_input, sizeof(float) * per_input * count);
        dx_backend_forward(b->net, b->input);
        for (int k = 0; k < count; ++k) {
            for (int i = 0; i < b->n; ++i) {
                items[i].output = b->net->layers[i].output + (size_t)k * items[i].outputs;
                items[i].batch = 1;
            }
            item.input = b->input + k * per_input;
            dx_target_scores(t, n_targets, &item, scores + (size_t)(first + k) * n_targets);
        }
    }
    free(items);
    /* the batch-1 model's forward state on the last input, as the contract says */
    dx_forward(m, inputs + (size_t)(n - 1) * per_input);
    return 0;
}
