/* The output layers: [softmax], [yolo], [region]. Darknet's own backward for these is the
 * identity (it assumes the training loss already put a logit-space delta there); here each is
 * the true Jacobian of its inference forward, so a target may be a probability or a logit. */
#include <math.h>
#include <string.h>
#include "error.h"
#include "layers.h"
#include "model.h"

/* y = softmax(x / temp) over n values spaced stride apart: gx += y * (gy - <y, gy>) / temp */
static void softmax_grad(const float *y, const float *gy, int n, int stride, float temp, float *gx)
{
    double dot = 0;
    for (int k = 0; k < n; ++k) dot += (double)y[k * stride] * gy[k * stride];
    for (int k = 0; k < n; ++k)
        gx[k * stride] += y[k * stride] * (float)(gy[k * stride] - dot) / temp;
}

/* in: inputs -> out: inputs, softmax over `groups` equal slices (or the tree's groups). */
int dx_backward_softmax(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    float *gin = dx_pass_buf(p, i - 1);
    if (l->tree_groups) {
        int offset = 0;
        for (int g = 0; g < l->tree_groups; ++g) {
            int n = l->tree_group_size[g];
            softmax_grad(l->output + offset, gout + offset, n, 1, l->temperature, gin + offset);
            offset += n;
        }
        return 0;
    }
    int n = l->inputs / l->groups;
    for (int g = 0; g < l->groups; ++g)
        softmax_grad(l->output + g * n, gout + g * n, n, 1, l->temperature, gin + g * n);
    return 0;
}

/* y = x on the planes listed identity, logistic(x) elsewhere; gx += gy * y(1-y) there. */
static void logistic_planes_grad(const float *y, const float *gy, int count, float *gx)
{
    for (int k = 0; k < count; ++k) gx[k] += gy[k] * y[k] * (1.f - y[k]);
}

static void copy_planes_grad(const float *gy, int count, float *gx)
{
    for (int k = 0; k < count; ++k) gx[k] += gy[k];
}

/* in = out: n anchors x (4 + 1 + classes) planes x h x w. Logistic on x, y, objectness and
 * the classes, w and h pass through; then x, y = scale_x_y * x - (scale_x_y - 1) / 2. With
 * new_coords=1 (AlexeyAB: the convolution below applied the logistic) only that scaling. */
static void yolo_grad(const dx_layer *l, const float *gout, float *gin)
{
    int plane = l->w * l->h, per_anchor = (4 + 1 + l->classes) * plane;
    float scale = l->scale_x_y, shift = (float)(-0.5 * (scale - 1));
    for (int a = 0; a < l->n; ++a) {
        int base = a * per_anchor;
        if (scale == 1.f && !l->new_coords)
            logistic_planes_grad(l->output + base, gout + base, 2 * plane, gin + base);
        else
            for (int k = base; k < base + 2 * plane; ++k) {
                float s = (l->output[k] - shift) / scale; /* the logistic (or the input) before scaling */
                gin[k] += gout[k] * scale * (l->new_coords ? 1.f : s * (1.f - s));
            }
        copy_planes_grad(gout + base + 2 * plane, 2 * plane, gin + base + 2 * plane);
        if (l->new_coords)
            copy_planes_grad(gout + base + 4 * plane, (1 + l->classes) * plane, gin + base + 4 * plane);
        else
            logistic_planes_grad(l->output + base + 4 * plane, gout + base + 4 * plane,
                                 (1 + l->classes) * plane, gin + base + 4 * plane);
    }
}

int dx_backward_yolo(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    float *gin = dx_pass_buf(p, i - 1);
    if (dx_rule_of(p, i)->kind != DX_RULE_RESCALE) {
        yolo_grad(l, gout, gin);
        return 0;
    }
    /* DeepLIFT's Rescale: each output is a function of its own input, so its multiplier is
     * (y - y') / (z - z'), the gradient where |z - z'| is below the threshold */
    const dx_reference_layer *ref = dx_rule_of(p, i)->reference;
    const float *in = dx_output_of(m, i - 1);
    float *grad = dx_pass_work(p, (size_t)l->outputs, err);
    if (!grad) return -1;
    memset(grad, 0, sizeof(float) * l->outputs);
    yolo_grad(l, gout, grad);
    for (int k = 0; k < l->outputs; ++k) {
        float dz = in[k] - ref->in_ref[k];
        gin[k] += fabsf(dz) >= DX_RESCALE_THRESHOLD ? gout[k] * ((l->output[k] - ref->out_ref[k]) / dz) : grad[k];
    }
    return 0;
}

/* in = out: n anchors x (coords + 1 + classes) planes x h x w. Logistic on x, y and the
 * objectness (unless background=1), the classes by a softmax across planes at each cell
 * (softmax=1, with the background plane when background=1) or logistic. */
int dx_backward_region(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    if (l->tree_groups) {
        dx_set_error(err, "layer %d [region] with a tree= hierarchy is not supported", i);
        return -1;
    }
    float *gin = dx_pass_buf(p, i - 1);
    int plane = l->w * l->h, per_anchor = (l->coords + 1 + l->classes) * plane;
    for (int a = 0; a < l->n; ++a) {
        int base = a * per_anchor;
        const float *y = l->output + base, *gy = gout + base;
        float *gx = gin + base;
        logistic_planes_grad(y, gy, 2 * plane, gx);
        copy_planes_grad(gy + 2 * plane, (l->coords - 2) * plane, gx + 2 * plane);
        int obj = l->coords * plane;
        int softmax_has_obj = l->softmax && l->background; /* the background plane is the softmax's first */
        if (!softmax_has_obj) {
            if (l->background) copy_planes_grad(gy + obj, plane, gx + obj);
            else logistic_planes_grad(y + obj, gy + obj, plane, gx + obj);
        }
        if (l->softmax) {
            int first = (l->coords + !l->background) * plane, n = l->classes + l->background;
            for (int q = 0; q < plane; ++q)
                softmax_grad(y + first + q, gy + first + q, n, plane, 1.f, gx + first + q);
        } else {
            int cls = (l->coords + 1) * plane;
            logistic_planes_grad(y + cls, gy + cls, l->classes * plane, gx + cls);
        }
    }
    return 0;
}

/* LRP through layers that keep the shape and act elementwise: [activation], [logistic],
 * [dropout] (the identity at inference), and the heads [softmax], [yolo], [region]. An
 * activation passes relevance through (the relevance of f(z_j) is that of z_j, as Zennit's
 * Pass rule): relevance starts at the chosen output, e.g. a class logit below the softmax. */
int dx_lrp_pass(dx_model *m, dx_pass *p, int i, const float *rout, dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    float *rin = dx_pass_buf(p, i - 1);
    for (int k = 0; k < l->outputs; ++k) rin[k] += rout[k];
    return 0;
}
