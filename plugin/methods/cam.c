/* The CAM family: map = sum_k w_k * A_k over the channels of one layer's output A (c x h x w),
 * ReLU'd. Methods differ only in how they weigh the channels. */
#include <stdlib.h>
#include <string.h>
#include "methods.h"

static int cam_combine(const float *acts, const float *weights, int channels, int spatial, int relu,
                       dx_result *r)
{
    float *map = calloc((size_t)spatial, sizeof(float));
    if (!map) return -1;
    for (int k = 0; k < channels; ++k) {
        if (weights[k] == 0.f) continue;
        const float *a = acts + (size_t)k * spatial;
        for (int p = 0; p < spatial; ++p) map[p] += weights[k] * a[p];
    }
    if (relu)
        for (int p = 0; p < spatial; ++p) map[p] = map[p] > 0.f ? map[p] : 0.f;
    r->native = map;
    return 0;
}

static int cam_layer(const dx_model *m, const dx_request *req, dx_error *err)
{
    int index = req->layer >= 0 ? req->layer : dx_default_layer(m);
    if (index < 0 || index >= m->n) {
        dx_set_error(err, "layer %d does not exist: the model has layers 0..%d", req->layer, m->n - 1);
        return -1;
    }
    const layer *l = &m->net->layers[index];
    if (l->out_h * l->out_w <= 1) {
        dx_set_error(err, "layer %d [%s] has no spatial extent (%dx%dx%d output); CAM methods need a "
                          "layer with a feature map", index, dx_layer_type_name(l->type), l->out_w,
                     l->out_h, l->out_c);
        return -1;
    }
    return index;
}

/* Grad-CAM (Selvaraju et al.): w_k = mean over pixels of d(score)/dA_k. */
int dx_method_gradcam(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err)
{
    int at = cam_layer(m, req, err);
    if (at < 0) return -1;
    if (at >= t->layer) {
        dx_set_error(err, "layer %d is not below the target's layer %d", at, t->layer);
        return -1;
    }
    if (dx_backward(m, t->layer, t->seed, at, err) != 0) return -1;
    const layer *l = &m->net->layers[at];
    int spatial = l->out_h * l->out_w;
    const float *grad = dx_grad_of(m, at);
    float *weights = calloc((size_t)l->out_c, sizeof(float));
    if (!weights) return -1;
    for (int k = 0; k < l->out_c; ++k) {
        double sum = 0;
        for (int p = 0; p < spatial; ++p) sum += grad[(size_t)k * spatial + p];
        weights[k] = (float)(sum / spatial);
    }
    int rc = cam_combine(dx_output_of(m, at), weights, l->out_c, spatial, req->relu, r);
    free(weights);
    r->native_h = l->out_h;
    r->native_w = l->out_w;
    r->layer = at;
    return rc;
}
