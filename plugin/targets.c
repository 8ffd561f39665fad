/* Targets: the score a backward pass starts from, and its gradient at one layer's output.
 * Class targets: the default score is the class's logit (the softmax's input): the Grad-CAM
 * paper's y^c, not saturated when the model is confident, and not mixed with the other
 * classes' scores as the softmax probability's gradient is. -score prob explains the
 * probability instead (the softmax's Jacobian is applied by its backward). */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

int dx_find_logit_layer(const dx_model *m)
{
    if (m->net->layers[m->head].type == SOFTMAX && m->head > 0) return m->head - 1;
    return m->head;
}

/* score = output[cls]; seed = one-hot */
static float class_eval(const dx_target *t, const dx_model *m, float *seed)
{
    const layer *l = &m->net->layers[t->layer];
    if (seed) {
        memset(seed, 0, sizeof(float) * l->outputs);
        seed[t->cls] = 1.f;
    }
    return l->output[t->cls];
}

int dx_class_target(const dx_model *m, int cls, dx_score kind, dx_target *t, dx_error *err)
{
    int classes = dx_class_count(m);
    if (cls < 0 || cls >= classes) {
        dx_set_error(err, "class %d is out of range: the model has %d classes (0..%d)", cls, classes,
                     classes - 1);
        return -1;
    }
    memset(t, 0, sizeof *t);
    t->layer = kind == DX_SCORE_PROB ? m->head : dx_find_logit_layer(m);
    t->eval = class_eval;
    t->cls = cls;
    return 0;
}

float dx_target_score(const dx_target *t, const dx_model *m) { return t->eval(t, m, NULL); }

int dx_target_backward(dx_model *m, const dx_target *t, int stop, float *score, dx_error *err)
{
    size_t outputs = (size_t)m->net->layers[t->layer].outputs;
    float *seed = malloc(outputs * sizeof(float));
    if (!seed) {
        dx_set_error(err, "out of memory");
        return -1;
    }
    float s = t->eval(t, m, seed);
    if (score) *score = s;
    int rc = dx_backward(m, t->layer, seed, stop, err);
    free(seed);
    return rc;
}
