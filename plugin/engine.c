/* The reverse pass: Darknet computes the forward; the plugin owns every gradient buffer and
 * walks the layers from the target down, in inference mode (frozen batch norm, dropout as the
 * identity, no weight gradients). Darknet's backward pointers are never called. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "internal.h"

double dx_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int dx_forward(dx_model *m, const float *input)
{
    if (input != m->input) memcpy(m->input, input, sizeof(float) * m->net->inputs);
    dx_backend_forward(m->net, m->input);
    return 0;
}

void dx_forward_layer(dx_model *m, int i)
{
    dx_backend_forward_layer(m->net, i, i > 0 ? m->net->layers[i - 1].output : m->input);
}

void dx_forward_from(dx_model *m, int first)
{
    for (int i = first; i < m->n; ++i) dx_forward_layer(m, i);
}

const float *dx_output_of(const dx_model *m, int j)
{
    return j < 0 ? m->input : m->net->layers[j].output;
}

float *dx_grad_of(dx_model *m, int j)
{
    if (j < 0) return m->grad_input;
    m->touched[j] = 1;
    return m->grad[j];
}

float *dx_scratch(dx_model *m, size_t floats)
{
    (void)floats; /* within m->scratch_len: dx_layer_scratch_floats */
    return m->scratch;
}

int dx_backward(dx_model *m, int top, const float *seed, int stop, dx_error *err)
{
    if (top < 0 || top >= m->n || stop < -1 || stop >= top) {
        dx_set_error(err, "backward from layer %d down to %d: no such range (the model has layers 0..%d)",
                     top, stop, m->n - 1);
        return -1;
    }
    if (dx_reserve_reverse(m, m->grad, top, stop, err) != 0) return -1;
    for (int j = 0; j < m->n; ++j) {
        if (m->touched[j]) memset(m->grad[j], 0, sizeof(float) * m->net->layers[j].outputs);
        m->touched[j] = 0;
    }
    double t0 = dx_now_ms();
    memset(m->grad_input, 0, sizeof(float) * m->net->inputs);
    memcpy(dx_grad_of(m, top), seed, sizeof(float) * m->net->layers[top].outputs);
    /* Layers are in topological order: once every layer above `stop` has been walked, the
     * gradient of stop's output is complete. Untouched layers feed nothing to the target. */
    for (int i = top; i > stop; --i) {
        if (!m->touched[i]) continue;
        if (dx_layer_backward(m, i, m->grad[i], err) != 0) return -1;
    }
    m->ms_backward += dx_now_ms() - t0;
    /* a gradient that overflowed would reach the maps as NaN, which a ReLU or a max turns into 0 */
    const float *g = stop < 0 ? m->grad_input : m->touched[stop] ? m->grad[stop] : NULL;
    long bad = dx_count_nonfinite(g, (size_t)(stop < 0 ? m->net->inputs : m->net->layers[stop].outputs));
    if (bad) {
        char where[32] = "the input";
        if (stop >= 0) snprintf(where, sizeof where, "layer %d", stop);
        dx_set_error(err, "%s: the gradient reaching %s holds %ld non-finite values (NaN or inf): the backward "
                          "from layer %d overflows",
                     dx_model_file(m), where, bad, top);
        return -1;
    }
    return 0;
}
