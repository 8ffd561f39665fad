/* Scoring many inputs (the perturbation methods' inner loop): the network runs on the caller's
 * batch of inputs per forward pass through a batch-N copy of the model, and the targets
 * are evaluated on each batch item through a view of the model whose layer outputs point at
 * that item, so every target's eval works unchanged. Several targets (the boxes of one photo)
 * share each forward. */
#include <stdlib.h>
#include <string.h>
#include "error.h"
#include "memory.h"
#include "model.h"
#include "scoring.h"

void dx_target_scores(const dx_target *t, int n_targets, const dx_model *m, float *scores)
{
    for (int j = 0; j < n_targets; ++j) scores[j] = dx_target_score(&t[j], m);
}

static int score_one_by_one(dx_model *m, const dx_target *t, int n_targets, const float *inputs, int n,
                            float *scores)
{
    for (int k = 0; k < n; ++k) {
        dx_forward(m, inputs + (size_t)k * m->net->inputs);
        dx_target_scores(t, n_targets, m, scores + (size_t)k * n_targets);
    }
    return 0;
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
    if (batch <= 1) return score_one_by_one(m, t, n_targets, inputs, n, scores);
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
