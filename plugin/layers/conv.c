/* [convolutional] and [connected]: the layers with weights, and batch norm at inference. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include "error.h"
#include "layers.h"
#include "layers/onednn.h"
#include "model.h"

static int is_rectifier(dx_activation a)
{
    return a == DX_ACT_RELU || a == DX_ACT_LEAKY || a == DX_ACT_RELIE || a == DX_ACT_RAMP || a == DX_ACT_ELU || a == DX_ACT_SELU;
}

/* d (n) *= f'(output) for Darknet's activation a: linear, leaky and relu here, with the factors of
 * Darknet's gradient_array (1 above 0, else leaky's 0.1f and relu's 0; at a NaN output 0.1f as
 * Debian's -Ofast build gives, though a forward with NaN never gets here), bit for bit but for
 * subnormal gradients, which that build flushes to zero (tests/test_gradients.c: layer::
 * activation_derivative_equals_darknets), without a call per element: they were 7% of a saliency
 * map on yolov3-tiny (issue #18). The other activations through the backend's Darknet. */
void dx_activation_derivative(const float *output, const float *activation_input, int n, dx_activation a, float *d)
{
    if (a == DX_ACT_LINEAR) return;
    if (a == DX_ACT_LEAKY)
        for (int k = 0; k < n; ++k) d[k] *= output[k] > 0.f ? 1.f : .1f;
    else if (a == DX_ACT_RELU)
        for (int k = 0; k < n; ++k) d[k] *= output[k] > 0.f ? 1.f : 0.f;
    else
        dx_backend_gradient(output, activation_input, n, a, d);
}

void dx_activation_grad(const dx_rule *rule, const dx_layer *l, const float *output, const float *gout,
                        float *d)
{
    int n = l->outputs;
    dx_rule_kind kind = is_rectifier(l->activation) || rule->kind == DX_RULE_RESCALE ? rule->kind : DX_RULE_GRADIENT;
    for (int k = 0; k < n; ++k) d[k] = kind == DX_RULE_GRADIENT || kind == DX_RULE_RESCALE || gout[k] > 0.f ? gout[k] : 0.f;
    if (kind != DX_RULE_DECONV) dx_activation_derivative(output, l->activation_input, n, l->activation, d);
    const dx_reference_layer *ref = rule->reference;
    if (kind != DX_RULE_RESCALE || !ref->z) return;
    /* DeepLIFT's Rescale: the multiplier of the activation, the gradient where z' ~ z */
    for (int k = 0; k < n; ++k) {
        float dz = ref->z[k] - ref->z_ref[k];
        if (fabsf(dz) >= DX_RESCALE_THRESHOLD) d[k] = gout[k] * ((output[k] - ref->out_ref[k]) / dz);
    }
}

double dx_bn_divisor(const dx_layer *l, int k)
{
    return l->bn_form == DX_BN_SQRT_PLUS_EPS ? sqrt(l->rolling_variance[k]) + .000001f
                                             : sqrt(l->rolling_variance[k] + .00001f);
}

void dx_bn_bias_forward(const dx_layer *l, float *x, int batch, int n, int spatial)
{
    for (int b = 0; b < batch; ++b)
        for (int k = 0; k < n; ++k) {
            float *xk = x + ((size_t)b * n + k) * spatial;
            if (l->batch_normalize) {
                double divisor = dx_bn_divisor(l, k);
                for (int p = 0; p < spatial; ++p) xk[p] = (float)((xk[p] - l->rolling_mean[k]) / divisor);
                for (int p = 0; p < spatial; ++p) xk[p] *= l->scales[k];
            }
            for (int p = 0; p < spatial; ++p) xk[p] += l->biases[k];
        }
}

void dx_batchnorm_grad(const dx_layer *l, int channels, int spatial, float *d)
{
    for (int c = 0; c < channels; ++c) {
        /* the same expression as the Darknet's forward, so the factor matches it */
        float factor = l->scales[c] / (float)dx_bn_divisor(l, c);
        float *dc = d + (size_t)c * spatial;
        for (int k = 0; k < spatial; ++k) dc[k] *= factor;
    }
}

/* in: c x h x w -> out: n x out_h x out_w; weights: n x (c/groups) x size x size.
 * d = gout * act' * bn; then gin += W^T d: through oneDNN's backward-data when the model's
 * convolutions run through oneDNN (layers/onednn.h), else per group gin_g += col2im(W_g^T d_g).
 * A 1x1 kernel with stride 1 and no padding has the input itself as its column matrix, so the
 * adjoint writes straight into the input gradient. */
int dx_backward_convolutional(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    if (l->binary) {
        dx_set_error(err, "layer %d [convolutional]: binary/xnor convolutions are not differentiable", i);
        return -1;
    }
    int spatial = l->out_h * l->out_w;
    int group_out = l->n / l->groups;                 /* output channels per group */
    int group_in = l->c / l->groups;                  /* input channels per group */
    int k = l->size * l->size * group_in;             /* rows of the column matrix */
    dx_conv_geometry geo = dx_conv_geometry_of(l);
    int direct = l->size == 1 && l->stride_x == 1 && l->stride_y == 1 && l->pad == 0;
    float *d = dx_scratch(m, (size_t)l->outputs + (direct ? 0 : (size_t)k * spatial));
    float *col = d + l->outputs;

    dx_activation_grad(dx_rule_of(p, i), l, l->output, gout, d);
    if (l->batch_normalize) dx_batchnorm_grad(l, l->n, spatial, d);

    float *gin = dx_pass_buf(p, i - 1);
    if (m->onednn && dx_onednn_supports(l) && dx_backward_onednn_convolutional(m, i, d, gin) == 0) return 0;
    for (int g = 0; g < l->groups; ++g) {
        const float *w = l->weights + (size_t)g * (l->nweights / l->groups);
        const float *dg = d + (size_t)g * group_out * spatial;
        float *gin_g = gin + (size_t)g * group_in * l->h * l->w;
        if (direct) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, spatial, group_out, 1.f, w, k,
                        dg, spatial, 1.f, gin_g, spatial);
        } else {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, spatial, group_out, 1.f, w, k,
                        dg, spatial, 0.f, col, spatial);
            dx_col2im_add(col, &geo, gin_g);
        }
    }
    return 0;
}

/* Darknet's activate_array, with the common activations inlined (Darknet calls a function with
 * a switch per element, a third of an incremental forward's time); the same expressions as
 * Darknet's activations.h, so the results are identical. */
void dx_activate(float *x, int n, dx_activation a)
{
    switch (a) {
    case DX_ACT_LINEAR: return;
    case DX_ACT_LEAKY:
        for (int k = 0; k < n; ++k) {
            float v = x[k], negative = (float)(.1 * v); /* in double, as Darknet's .1*x */
            x[k] = v > 0 ? v : negative;
        }
        return;
    case DX_ACT_RELU: for (int k = 0; k < n; ++k) x[k] = x[k] * (x[k] > 0); return;
    default: dx_backend_activate(x, n, a);
    }
}

/* A grouped (e.g. depthwise) convolution's sums over the outputs in rectangle r, done in place
 * term by term in gemm_nn's order (k = input channel, ky, kx; padding terms are zeros and
 * skipped): Darknet's im2col and one gemm per group add the same terms in the same order.
 * in: c x h x w -> z: n x rh x rw (overwritten); weights: n x (c/groups) x size x size. */
static void grouped_sums(const dx_layer *l, const float *in, dx_rect r, float *z)
{
    int group_out = l->n / l->groups, group_in = l->c / l->groups;
    int s = l->stride, size = l->size, rw = r.x1 - r.x0;
    size_t plane = (size_t)l->h * l->w, cols = (size_t)(r.y1 - r.y0) * rw;
    memset(z, 0, sizeof(float) * l->n * cols);
    for (int o = 0; o < l->n; ++o) {
        float *out = z + o * cols;
        const float *w = l->weights + (size_t)o * group_in * size * size;
        const float *in_g = in + (size_t)(o / group_out) * group_in * plane;
        for (int ci = 0; ci < group_in; ++ci)
            for (int ky = 0; ky < size; ++ky)
                for (int kx = 0; kx < size; ++kx) {
                    float wk = w[(ci * size + ky) * size + kx];
                    /* output columns whose input column x*s - pad + kx is inside the image */
                    int x0 = l->pad > kx ? (l->pad - kx + s - 1) / s : 0;
                    int last = l->w - 1 + l->pad - kx;
                    int x1 = last < 0 ? 0 : last / s + 1;
                    if (x0 < r.x0) x0 = r.x0;
                    if (x1 > r.x1) x1 = r.x1;
                    int shift = kx - l->pad;
                    for (int y = r.y0; y < r.y1; ++y) {
                        int iy = y * s - l->pad + ky;
                        if (iy < 0 || iy >= l->h) continue;
                        const float *row = in_g + ci * plane + (size_t)iy * l->w;
                        float *orow = out + (size_t)(y - r.y0) * rw - r.x0;
                        for (int x = x0; x < x1; ++x) orow[x] += wk * row[x * s + shift];
                    }
                }
    }
}

/* Forward of a grouped convolution, standing in for Darknet's through the hooks (Darknet runs
 * im2col plus one gemm per group and image, thousands of tiny products on depthwise layers):
 * the sums in place, then Darknet's own batch norm (frozen statistics), bias and activation.
 * in: batch x c x h x w -> out: batch x n x out_h x out_w. */
int dx_forward_grouped_convolutional(dx_model *m, int i, const float *input)
{
    const dx_layer *l = &m->net->layers[i];
    dx_rect whole = {0, 0, l->out_h, l->out_w};
    for (int b = 0; b < l->batch; ++b)
        grouped_sums(l, input + (size_t)b * l->inputs, whole, l->output + (size_t)b * l->outputs);
    dx_bn_bias_forward(l, l->output, l->batch, l->n, l->out_h * l->out_w);
    dx_activate(l->output, l->outputs * l->batch, l->activation);
    return 0;
}

/* Incremental inference: the outputs in rectangle r only. The column matrix of r's windows and
 * one gemm (grouped convolutions: their sums in place, as the stand-in above), then Darknet's inference batch norm, bias and activation in the same
 * expressions as its forward (normalize_cpu, scale_bias, add_bias, activate_array).
 * in: c x h x w -> out[:, r]: n x rh x rw; column matrix: (c/groups)*size*size x rh*rw. */
void dx_forward_region_convolutional(dx_model *m, int i, dx_rect r)
{
    const dx_layer *l = &m->net->layers[i];
    const float *in = dx_output_of(m, i - 1);
    int rh = r.y1 - r.y0, rw = r.x1 - r.x0, cols = rh * rw, size = l->size;
    int k = l->groups > 1 ? 0 : l->c * size * size; /* rows of the column matrix */
    float *col = dx_scratch(m, (size_t)k * cols + (size_t)l->n * cols), *z = col + (size_t)k * cols;
    if (l->groups > 1) {
        grouped_sums(l, in, r, z);
    } else {
        for (int row = 0; row < k; ++row) {
            int ci = row / (size * size), ky = row / size % size, kx = row % size;
            const float *plane = in + (size_t)ci * l->h * l->w;
            float *dst = col + (size_t)row * cols;
            for (int y = r.y0; y < r.y1; ++y) {
                int iy = y * l->stride - l->pad + ky;
                for (int x = r.x0; x < r.x1; ++x) {
                    int ix = x * l->stride - l->pad + kx;
                    *dst++ = iy < 0 || iy >= l->h || ix < 0 || ix >= l->w ? 0.f : plane[iy * l->w + ix];
                }
            }
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, l->n, cols, k, 1.f, l->weights, k, col, cols,
                    0.f, z, cols);
    }
    for (int o = 0; o < l->n; ++o) {
        float *zo = z + (size_t)o * cols, mean = l->batch_normalize ? l->rolling_mean[o] : 0, bias = l->biases[o];
        float scale = l->batch_normalize ? l->scales[o] : 1;
        double sd = l->batch_normalize ? dx_bn_divisor(l, o) : 1;
        for (int p = 0; p < cols; ++p) zo[p] = l->batch_normalize ? (float)((zo[p] - mean) / sd) * scale + bias : zo[p] + bias;
    }
    dx_activate(z, l->n * cols, l->activation);
    for (int o = 0; o < l->n; ++o)
        for (int y = r.y0; y < r.y1; ++y)
            memcpy(l->output + ((size_t)o * l->out_h + y) * l->out_w + r.x0, z + (size_t)o * cols + (size_t)(y - r.y0) * rw,
                   sizeof(float) * rw);
}

dx_rect dx_reach_convolutional(const dx_layer *l, dx_rect below)
{
    return dx_window_reach(below, l->size, l->stride, -l->pad, l->out_h, l->out_w);
}

/* in: inputs -> out: outputs; weights: outputs x inputs. gin += W^T (gout * act' * bn). */
int dx_backward_connected(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    float *d = dx_scratch(m, l->outputs);
    dx_activation_grad(dx_rule_of(p, i), l, l->output, gout, d);
    if (l->batch_normalize) dx_batchnorm_grad(l, l->outputs, 1, d);
    cblas_sgemv(CblasRowMajor, CblasTrans, l->outputs, l->inputs, 1.f, l->weights, l->inputs, d, 1,
                1.f, dx_pass_buf(p, i - 1), 1);
    return 0;
}

/* [activation] and [logistic] (whose activation the backend gives as logistic): out = f(in),
 * same shape. */
int dx_backward_activation(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    float *d = dx_scratch(m, l->outputs);
    dx_activation_grad(dx_rule_of(p, i), l, l->output, gout, d);
    float *gin = dx_pass_buf(p, i - 1);
    for (int k = 0; k < l->outputs; ++k) gin[k] += d[k];
    return 0;
}

/* LRP of the layers with weights: the linear engine (lrp/linear.c) over each type's geometry; a
 * connected layer is a 1x1 convolution of its inputs on a 1x1 image. */
int dx_lrp_convolutional(dx_model *m, dx_pass *p, int i, const float *rout, dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    if (l->binary) {
        dx_set_error(err, "layer %d [convolutional]: binary/xnor convolutions have no LRP rule", i);
        return -1;
    }
    dx_lrp_geometry g = {dx_conv_geometry_of(l), l->c, l->h, l->w, l->n, l->groups, l->size, l->out_h, l->out_w};
    return dx_lrp_linear(m, p, i, &g, rout, err);
}

int dx_lrp_connected(dx_model *m, dx_pass *p, int i, const float *rout, dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    dx_lrp_geometry g = {{l->inputs, 1, 1, 1, 1, 1, 0, 1, 1, 1}, l->inputs, 1, 1, l->outputs, 1, 1, 1, 1};
    return dx_lrp_linear(m, p, i, &g, rout, err);
}
