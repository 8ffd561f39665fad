/* Layers that only move values around: [upsample], [reorg], [crop], [dropout]. */
#include "layers.h"

/* in: c x h x w -> out: c x h*stride x w*stride, out = scale * nearest(in). */
int dx_backward_upsample(dx_model *m, int i, const float *gout, dx_error *err)
{
    const layer *l = &m->net->layers[i];
    if (l->reverse) {
        /* Darknet's downsampling forward adds l.output into its input and leaves the output 0 */
        dx_set_error(err, "layer %d [upsample] with a negative stride: Darknet's forward outputs zeros there, there is nothing to explain", i);
        return -1;
    }
    float *gin = dx_grad_of(m, i - 1);
    int s = l->stride;
    for (int k = 0; k < l->c; ++k)
        for (int y = 0; y < l->h * s; ++y)
            for (int x = 0; x < l->w * s; ++x)
                gin[k * l->w * l->h + (y / s) * l->w + x / s] +=
                    l->scale * gout[k * l->w * l->h * s * s + y * l->w * s + x];
    return 0;
}

/* [reorg] is a permutation (or a copy with zero padding for extra=): the gradient of input
 * element P(a) is the gradient of output element a, with P as Darknet's reorg_cpu/flatten
 * index it. in: c x h x w. */
int dx_backward_reorg(dx_model *m, int i, const float *gout, dx_error *err)
{
    const layer *l = &m->net->layers[i];
    float *gin = dx_grad_of(m, i - 1);
    if (l->flatten) {
        int size = l->w * l->h, layers = l->c;
        for (int c = 0; c < layers; ++c)
            for (int p = 0; p < size; ++p) {
                int planar = c * size + p, interleaved = p * layers + c;
                if (l->reverse) gin[interleaved] += gout[planar];   /* out[planar] = in[interleaved] */
                else gin[planar] += gout[interleaved];              /* out[interleaved] = in[planar] */
            }
        return 0;
    }
    if (l->extra) {
        for (int k = 0; k < l->inputs; ++k) gin[k] += gout[k];
        return 0;
    }
    int s = l->stride, out_c = l->c / (s * s);
    for (int k = 0; k < l->c; ++k)
        for (int y = 0; y < l->h; ++y)
            for (int x = 0; x < l->w; ++x) {
                int a = x + l->w * (y + l->h * k);
                int offset = k / out_c;
                int b = (x * s + offset % s) + l->w * s * ((y * s + offset / s) + l->h * s * (k % out_c));
                if (l->reverse) gin[a] += gout[b];   /* out[b] = in[a] */
                else gin[b] += gout[a];              /* out[a] = in[b] */
            }
    return 0;
}

/* in: c x h x w -> out: c x out_h x out_w, the centre crop at inference, scaled by 2 and
 * shifted by -1 unless noadjust=1 (Darknet maps [0,1] pixels to [-1,1] there). */
int dx_backward_crop(dx_model *m, int i, const float *gout, dx_error *err)
{
    const layer *l = &m->net->layers[i];
    float *gin = dx_grad_of(m, i - 1);
    float scale = l->noadjust ? 1.f : 2.f;
    int dy = (l->h - l->out_h) / 2, dx = (l->w - l->out_w) / 2;
    for (int c = 0; c < l->c; ++c)
        for (int y = 0; y < l->out_h; ++y)
            for (int x = 0; x < l->out_w; ++x)
                gin[(x + dx) + l->w * ((y + dy) + l->h * c)] +=
                    scale * gout[x + l->out_w * (y + l->out_h * c)];
    return 0;
}

/* [dropout] is the identity at inference (Darknet's own backward would zero the gradient:
 * its mask is never drawn outside training). */
int dx_backward_identity(dx_model *m, int i, const float *gout, dx_error *err)
{
    const layer *l = &m->net->layers[i];
    float *gin = dx_grad_of(m, i - 1);
    for (int k = 0; k < l->outputs; ++k) gin[k] += gout[k];
    return 0;
}
