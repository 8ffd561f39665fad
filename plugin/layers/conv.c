/* [convolutional] and [connected]: the layers with weights, and batch norm at inference. */
#include <math.h>
#include <cblas.h>
#include "layers.h"
#include "darknet_exports.h"

static int is_rectifier(ACTIVATION a)
{
    return a == RELU || a == LEAKY || a == RELIE || a == RAMP || a == ELU || a == SELU;
}

void dx_activation_grad(const dx_model *m, const layer *l, const float *output, const float *gout,
                        float *d)
{
    int n = l->outputs;
    dx_backward_mode mode = is_rectifier(l->activation) ? m->backward_mode : DX_BACKWARD_GRADIENT;
    for (int k = 0; k < n; ++k) d[k] = mode == DX_BACKWARD_GRADIENT || gout[k] > 0.f ? gout[k] : 0.f;
    if (mode != DX_BACKWARD_DECONV) gradient_array(output, n, l->activation, d);
}

void dx_batchnorm_grad(const layer *l, int channels, int spatial, float *d)
{
    for (int c = 0; c < channels; ++c) {
        /* the same expression as Darknet's normalize_cpu, so the factor matches its forward */
        float factor = l->scales[c] / (float)(sqrt(l->rolling_variance[c]) + .000001f);
        float *dc = d + (size_t)c * spatial;
        for (int k = 0; k < spatial; ++k) dc[k] *= factor;
    }
}

/* in: c x h x w -> out: n x out_h x out_w; weights: n x (c/groups) x size x size.
 * d = gout * act' * bn; then per group gin_g += col2im(W_g^T d_g). For 1x1 kernels Darknet's
 * forward uses the input itself as the column matrix (cfg checking refuses 1x1 kernels with a
 * stride or padding, which it would compute wrongly), so the adjoint writes straight into the
 * input gradient. */
int dx_backward_convolutional(dx_model *m, int i, const float *gout, dx_error *err)
{
    const layer *l = &m->net->layers[i];
    if (l->binary || l->xnor) {
        dx_set_error(err, "layer %d [convolutional]: binary/xnor convolutions are not differentiable", i);
        return -1;
    }
    int spatial = l->out_h * l->out_w;
    int group_out = l->n / l->groups;                 /* output channels per group */
    int group_in = l->c / l->groups;                  /* input channels per group */
    int k = l->size * l->size * group_in;             /* rows of the column matrix */
    float *d = dx_scratch(m, (size_t)l->outputs + (l->size == 1 ? 0 : (size_t)k * spatial));
    float *col = d + l->outputs;

    dx_activation_grad(m, l, l->output, gout, d);
    if (l->batch_normalize) dx_batchnorm_grad(l, l->n, spatial, d);

    float *gin = dx_grad_of(m, i - 1);
    for (int g = 0; g < l->groups; ++g) {
        const float *w = l->weights + (size_t)g * (l->nweights / l->groups);
        const float *dg = d + (size_t)g * group_out * spatial;
        float *gin_g = gin + (size_t)g * group_in * l->h * l->w;
        if (l->size == 1) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, spatial, group_out, 1.f, w, k,
                        dg, spatial, 1.f, gin_g, spatial);
        } else {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, spatial, group_out, 1.f, w, k,
                        dg, spatial, 0.f, col, spatial);
            col2im_cpu(col, group_in, l->h, l->w, l->size, l->stride, l->pad, gin_g);
        }
    }
    return 0;
}

/* in: inputs -> out: outputs; weights: outputs x inputs. gin += W^T (gout * act' * bn). */
int dx_backward_connected(dx_model *m, int i, const float *gout, dx_error *err)
{
    const layer *l = &m->net->layers[i];
    float *d = dx_scratch(m, l->outputs);
    dx_activation_grad(m, l, l->output, gout, d);
    if (l->batch_normalize) dx_batchnorm_grad(l, l->outputs, 1, d);
    cblas_sgemv(CblasRowMajor, CblasTrans, l->outputs, l->inputs, 1.f, l->weights, l->inputs, d, 1,
                1.f, dx_grad_of(m, i - 1), 1);
    return 0;
}

/* [activation] and [logistic]: out = f(in), same shape. */
int dx_backward_activation(dx_model *m, int i, const float *gout, dx_error *err)
{
    const layer *l = &m->net->layers[i];
    layer act = *l;
    if (l->type == LOGXENT) act.activation = LOGISTIC;
    float *d = dx_scratch(m, l->outputs);
    dx_activation_grad(m, &act, l->output, gout, d);
    float *gin = dx_grad_of(m, i - 1);
    for (int k = 0; k < l->outputs; ++k) gin[k] += d[k];
    return 0;
}
