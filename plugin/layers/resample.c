/* Layers that only move values around: [upsample], [reorg], [crop], [dropout]. */
#include "error.h"
#include "layers.h"
#include "model.h"

/* gin[nearest source] += factor * gout over an upsample's output (in: c x h x w -> out:
 * c x h*stride x w*stride) */
static void upsample_adjoint(const dx_layer *l, const float *gout, float factor, float *gin)
{
    int s = l->stride;
    for (int k = 0; k < l->c; ++k)
        for (int y = 0; y < l->h * s; ++y)
            for (int x = 0; x < l->w * s; ++x)
                gin[k * l->w * l->h + (y / s) * l->w + x / s] +=
                    factor * gout[k * l->w * l->h * s * s + y * l->w * s + x];
}

/* Incremental inference: rectangle r of scale * nearest(in). */
void dx_forward_region_upsample(dx_model *m, int i, dx_rect r)
{
    const dx_layer *l = &m->net->layers[i];
    const float *in = dx_output_of(m, i - 1);
    int s = l->stride;
    for (int k = 0; k < l->c; ++k)
        for (int y = r.y0; y < r.y1; ++y)
            for (int x = r.x0; x < r.x1; ++x)
                l->output[((size_t)k * l->out_h + y) * l->out_w + x] = l->scale * in[((size_t)k * l->h + y / s) * l->w + x / s];
}

dx_rect dx_reach_upsample(const dx_layer *l, dx_rect below)
{
    int s = l->stride;
    return (dx_rect){below.y0 * s, below.x0 * s, below.y1 * s, below.x1 * s};
}

/* [dropout] is the identity at inference (its output is its input's buffer): nothing to compute,
 * and a change reaches the same outputs. */
void dx_forward_region_none(dx_model *m, int i, dx_rect r)
{
}

dx_rect dx_reach_same(const dx_layer *l, dx_rect below) { return below; }

static int upsample_check(const dx_layer *l, int i, dx_error *err)
{
    if (!l->reverse) return 0;
    /* Darknet's downsampling forward adds l.output into its input and leaves the output 0 */
    dx_set_error(err, "layer %d [upsample] with a negative stride: Darknet's forward outputs zeros there, there is nothing to explain", i);
    return -1;
}

/* out = scale * nearest(in) */
int dx_backward_upsample(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    if (upsample_check(l, i, err) != 0) return -1;
    upsample_adjoint(l, gout, l->scale, dx_pass_buf(p, i - 1));
    return 0;
}

/* LRP: each output is a copy of one input (times scale), so the input gets its copies' relevance. */
int dx_lrp_upsample(dx_model *m, dx_pass *p, int i, const float *rout, dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    if (upsample_check(l, i, err) != 0) return -1;
    upsample_adjoint(l, rout, 1.f, dx_pass_buf(p, i - 1));
    return 0;
}

/* [reorg] is a permutation (or a copy with zero padding for extra=): input element P(a) gets
 * output element a's value, with P as Darknet's reorg_cpu/flatten index it. in: c x h x w. */
static void reorg_adjoint(const dx_layer *l, const float *gout, float *gin)
{
    if (l->flatten) {
        int size = l->w * l->h, layers = l->c;
        for (int c = 0; c < layers; ++c)
            for (int p = 0; p < size; ++p) {
                int planar = c * size + p, interleaved = p * layers + c;
                if (l->reverse) gin[interleaved] += gout[planar];   /* out[planar] = in[interleaved] */
                else gin[planar] += gout[interleaved];              /* out[interleaved] = in[planar] */
            }
        return;
    }
    if (l->extra) {
        for (int k = 0; k < l->inputs; ++k) gin[k] += gout[k];
        return;
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
}

int dx_backward_reorg(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err)
{
    reorg_adjoint(&m->net->layers[i], gout, dx_pass_buf(p, i - 1));
    return 0;
}

/* LRP: a permutation moves relevance exactly as it moves gradients. */
int dx_lrp_reorg(dx_model *m, dx_pass *p, int i, const float *rout, dx_error *err)
{
    reorg_adjoint(&m->net->layers[i], rout, dx_pass_buf(p, i - 1));
    return 0;
}

/* in: c x h x w -> out: c x out_h x out_w, the centre crop at inference, scaled by 2 and
 * shifted by -1 unless noadjust=1 (Darknet maps [0,1] pixels to [-1,1] there). */
int dx_backward_crop(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    float *gin = dx_pass_buf(p, i - 1);
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
int dx_backward_identity(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    float *gin = dx_pass_buf(p, i - 1);
    for (int k = 0; k < l->outputs; ++k) gin[k] += gout[k];
    return 0;
}

/* LRP of [crop]: out = scale * in + shift (shift -1 unless noadjust=1) is linear with a bias,
 * so the input gets R * scale*in / stab(out) and the shift's share is absorbed. */
int dx_lrp_crop(dx_model *m, dx_pass *p, int i, const float *rout, dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    const float *in = dx_output_of(m, i - 1);
    float *rin = dx_pass_buf(p, i - 1);
    float scale = l->noadjust ? 1.f : 2.f, shift = l->noadjust ? 0.f : -1.f;
    int dy = (l->h - l->out_h) / 2, dx = (l->w - l->out_w) / 2;
    for (int c = 0; c < l->c; ++c)
        for (int y = 0; y < l->out_h; ++y)
            for (int x = 0; x < l->out_w; ++x) {
                int from = (x + dx) + l->w * ((y + dy) + l->h * c);
                float r = rout[x + l->out_w * (y + l->out_h * c)], z = scale * in[from];
                float s = dx_lrp_share(r, z + shift, dx_rule_of(p, i)->epsilon);
                rin[from] += s * z;
                p->absorbed += r - (double)s * z;
            }
    return 0;
}
