/* The CAM family: at a layer with activations A (c x h x w), map = sum_k W_k ⊙ A_k, ReLU'd.
 * Methods differ only in the weights W (c x h x w; most give one weight per channel, repeated
 * over the channel's pixels). With several layers (-layer 8,12) each layer's map is scaled to
 * [0, 1] by its largest magnitude, resized bilinearly to the finest layer's resolution, and
 * the maps are averaged (as pytorch-grad-cam aggregates target layers). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "methods.h"

/* Fills weights (A's c x h x w) for layer `at`. */
typedef int (*cam_weights_fn)(dx_model *m, const dx_request *req, const dx_target *t, int at,
                              float *weights, dx_error *err);

static int cam_layer(const dx_model *m, int requested, const dx_target *t, dx_error *err)
{
    int index = requested >= 0 ? requested : dx_default_layer(m);
    if (index < 0 || index >= m->n) {
        dx_set_error(err, "layer %d does not exist: the model has layers 0..%d", requested, m->n - 1);
        return -1;
    }
    const layer *l = &m->net->layers[index];
    if (l->out_h * l->out_w <= 1) {
        dx_set_error(err, "layer %d [%s] has no spatial extent (%dx%dx%d output); CAM methods need a "
                          "layer with a feature map", index, dx_layer_type_name(l->type), l->out_w,
                     l->out_h, l->out_c);
        return -1;
    }
    if (index >= t->layer) {
        dx_set_error(err, "layer %d is not below the target's layer %d", index, t->layer);
        return -1;
    }
    return index;
}

/* One layer's map: out_h x out_w floats (malloc'd), or NULL. */
static float *cam_map(dx_model *m, const dx_request *req, const dx_target *t, int at,
                      cam_weights_fn weigh, dx_error *err)
{
    const layer *l = &m->net->layers[at];
    size_t spatial = (size_t)l->out_h * l->out_w;
    float *weights = malloc(sizeof(float) * spatial * l->out_c);
    float *map = calloc(spatial, sizeof(float));
    if (!weights || !map) {
        dx_set_error(err, "out of memory");
        goto fail;
    }
    if (weigh(m, req, t, at, weights, err) != 0) goto fail;
    const float *acts = dx_output_of(m, at);
    for (size_t i = 0; i < spatial * l->out_c; ++i) map[i % spatial] += weights[i] * acts[i];
    if (req->relu)
        for (size_t p = 0; p < spatial; ++p) map[p] = map[p] > 0.f ? map[p] : 0.f;
    free(weights);
    return map;
fail:
    free(weights);
    free(map);
    return NULL;
}

static void scale_to_unit(float *map, size_t n)
{
    float peak = 0.f;
    for (size_t p = 0; p < n; ++p) peak = fmaxf(peak, fabsf(map[p]));
    if (peak > 0.f)
        for (size_t p = 0; p < n; ++p) map[p] /= peak;
}

static int cam_run(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r,
                   cam_weights_fn weigh, dx_error *err)
{
    int n = req->n_layers > 0 ? req->n_layers : 1;
    int at[DX_MAX_LAYERS], finest = -1;
    for (int k = 0; k < n; ++k) {
        at[k] = cam_layer(m, req->n_layers > 0 ? req->layers[k] : -1, t, err);
        if (at[k] < 0) return -1;
        const layer *l = &m->net->layers[at[k]];
        if (finest < 0 || l->out_h * l->out_w > m->net->layers[finest].out_h * m->net->layers[finest].out_w)
            finest = at[k];
    }
    int h = m->net->layers[finest].out_h, w = m->net->layers[finest].out_w;
    float *sum = n > 1 ? calloc((size_t)h * w, sizeof(float)) : NULL;
    if (n > 1 && !sum) {
        dx_set_error(err, "out of memory");
        return -1;
    }
    for (int k = 0; k < n; ++k) {
        float *map = cam_map(m, req, t, at[k], weigh, err);
        if (!map) {
            free(sum);
            return -1;
        }
        if (n == 1) {
            r->native = map;
            break;
        }
        const layer *l = &m->net->layers[at[k]];
        scale_to_unit(map, (size_t)l->out_h * l->out_w);
        image resized = resize_image(float_to_image(l->out_w, l->out_h, 1, map), w, h);
        for (int p = 0; p < h * w; ++p) sum[p] += resized.data[p] / n;
        free_image(resized);
        free(map);
    }
    if (n > 1) r->native = sum;
    r->native_h = h;
    r->native_w = w;
    r->layer = finest;
    return 0;
}

/* Grad-CAM (Selvaraju et al.): W_k = mean over pixels of d(score)/dA_k. */
static int gradcam_weights(dx_model *m, const dx_request *req, const dx_target *t, int at,
                           float *weights, dx_error *err)
{
    if (dx_target_backward(m, t, at, NULL, err) != 0) return -1;
    const layer *l = &m->net->layers[at];
    size_t spatial = (size_t)l->out_h * l->out_w;
    const float *grad = dx_grad_of(m, at);
    for (int k = 0; k < l->out_c; ++k) {
        double sum = 0;
        for (size_t p = 0; p < spatial; ++p) sum += grad[k * spatial + p];
        for (size_t p = 0; p < spatial; ++p) weights[k * spatial + p] = (float)(sum / spatial);
    }
    return 0;
}

int dx_method_gradcam(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err)
{
    return cam_run(m, req, t, r, gradcam_weights, err);
}
