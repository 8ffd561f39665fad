/* Class targets: the seed of every backward pass for a classifier.
 * The default score is the class's logit (the softmax's input): the Grad-CAM paper's y^c, not
 * saturated when the model is confident, and not mixed with the other classes' scores as the
 * softmax probability's gradient is. -score prob explains the probability instead. */
#include <stdlib.h>
#include "internal.h"

int dx_find_logit_layer(const dx_model *m)
{
    if (m->net->layers[m->head].type == SOFTMAX && m->head > 0) return m->head - 1;
    return m->head;
}

int dx_class_seed(dx_model *m, int cls, dx_score kind, int *seed_layer, float **seed, dx_error *err)
{
    int classes = dx_class_count(m);
    if (cls < 0 || cls >= classes) {
        dx_set_error(err, "class %d is out of range: the model has %d classes (0..%d)", cls, classes,
                     classes - 1);
        return -1;
    }
    int top = kind == DX_SCORE_PROB ? m->head : dx_find_logit_layer(m);
    float *s = calloc((size_t)m->net->layers[top].outputs, sizeof(float));
    if (!s) {
        dx_set_error(err, "out of memory");
        return -1;
    }
    s[cls] = 1.f;
    *seed_layer = top;
    *seed = s;
    return 0;
}
