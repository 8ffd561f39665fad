/* The LRP walk: like the engine's reverse pass (engine.c), top-down over the layers in their
 * topological order, but each layer redistributes relevance with its rule into buffers of its
 * own (dx_layer_lrp, layers/table.c). */
#include <stdlib.h>
#include <time.h>
#include "layers/layers.h"

float *dx_lrp_rel_of(const dx_model *m, dx_lrp *p, int j)
{
    if (j < 0) return p->rel_input;
    p->touched[j] = 1; /* p->rel[j] exists: dx_lrp_walk reserved it */
    return p->rel[j];
}

float *dx_lrp_work(dx_lrp *p, size_t floats)
{
    if (floats > p->work_len) {
        free(p->work);
        p->work = malloc(floats * sizeof(float));
        p->work_len = p->work ? floats : 0;
    }
    return p->work;
}

int dx_lrp_walk(dx_model *m, dx_lrp *p, const dx_target *t, int stop, double *seed_sum,
                double *bypass, dx_error *err)
{
    if (t->layer < 0 || t->layer >= m->n || stop < -1 || stop >= t->layer) {
        dx_set_error(err, "LRP from layer %d down to %d: no such range (the model has layers 0..%d)",
                     t->layer, stop, m->n - 1);
        return -1;
    }
    p->rel = calloc((size_t)m->n, sizeof(float *));
    p->touched = calloc((size_t)m->n, 1);
    p->rel_input = calloc((size_t)m->net->inputs, sizeof(float));
    p->absorbed = 0;
    if (!p->rel || !p->touched || !p->rel_input) {
        dx_set_error(err, "out of memory");
        return -1;
    }
    if (dx_reserve_reverse(m, p->rel, t->layer, stop, err) != 0) return -1;
    double t0 = dx_now_ms();
    /* R = d(score)/d(output) * output: for a one-hot class target, the class's logit */
    float *seed = dx_lrp_rel_of(m, p, t->layer);
    const float *out = dx_output_of(m, t->layer);
    t->eval(t, m, seed);
    *seed_sum = 0;
    for (int k = 0; k < m->net->layers[t->layer].outputs; ++k) {
        seed[k] *= out[k];
        *seed_sum += seed[k];
    }
    for (int i = t->layer; i > stop; --i) {
        if (!p->touched[i]) continue;
        if (dx_layer_lrp(m, p, i, p->rel[i], err) != 0) return -1;
    }
    *bypass = 0;
    for (int j = 0; j < stop; ++j)
        if (p->touched[j])
            for (int k = 0; k < m->net->layers[j].outputs; ++k) *bypass += p->rel[j][k];
    m->ms_backward += dx_now_ms() - t0;
    return 0;
}

void dx_lrp_free(const dx_model *m, dx_lrp *p)
{
    for (int j = 0; p->rel && j < m->n; ++j) free(p->rel[j]);
    free(p->rel);
    free(p->touched);
    free(p->rel_input);
    free(p->work);
    p->work = NULL;
    p->work_len = 0;
    p->rel = NULL;
    p->touched = NULL;
    p->rel_input = NULL;
}
