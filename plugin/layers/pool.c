/* [maxpool] and [avgpool]. */
#include <float.h>
#include <math.h>
#include <string.h>
#include "error.h"
#include "layers.h"
#include "model.h"

/* The input index of the winner of output (k, y, x)'s window, exactly as Darknet's forward finds
 * it (first strict max, window offset -pad/2, out-of-image cells never win); -1 for none. */
static int window_max(const dx_layer *l, const float *in, int k, int y, int x)
{
    int offset = -l->pad / 2, best_index = -1;
    float best = -FLT_MAX;
    for (int dy = 0; dy < l->size; ++dy) {
        for (int dx = 0; dx < l->size; ++dx) {
            int iy = offset + y * l->stride_y + dy, ix = offset + x * l->stride_x + dx;
            if (iy < 0 || iy >= l->h || ix < 0 || ix >= l->w) continue;
            int index = ix + l->w * (iy + l->h * k);
            if (in[index] > best) { best = in[index]; best_index = index; }
        }
    }
    return best_index;
}

/* The winner the forward actually took: the first input of the window equal to the output. The
 * window's first strict max for a textbook forward, and also for a Darknet whose forward looks at
 * less than the window (AlexeyAB's AVX stride-1 maxpool skips a vector's columns left of the
 * image for all its lanes: its output is then the max of fewer inputs). */
static int maxpool_winner(const dx_layer *l, const float *in, const float *output, int k, int y, int x)
{
    float out = output[x + l->out_w * (y + l->out_h * k)];
    int offset = -l->pad / 2;
    for (int dy = 0; dy < l->size; ++dy)
        for (int dx = 0; dx < l->size; ++dx) {
            int iy = offset + y * l->stride_y + dy, ix = offset + x * l->stride_x + dx;
            if (iy < 0 || iy >= l->h || ix < 0 || ix >= l->w) continue;
            int index = ix + l->w * (iy + l->h * k);
            if (in[index] == out) return index;
        }
    return window_max(l, in, k, y, x);
}

/* Incremental inference: the outputs in rectangle r, each its window's maximum (Darknet's
 * forward; l.indexes is not kept up to date, the backward recomputes the winners). */
void dx_forward_region_maxpool(dx_model *m, int i, dx_rect r)
{
    const dx_layer *l = &m->net->layers[i];
    const float *in = dx_output_of(m, i - 1);
    for (int k = 0; k < l->c; ++k)
        for (int y = r.y0; y < r.y1; ++y)
            for (int x = r.x0; x < r.x1; ++x) {
                int best_index = window_max(l, in, k, y, x);
                l->output[x + l->out_w * (y + l->out_h * k)] = best_index >= 0 ? in[best_index] : -FLT_MAX;
            }
}

dx_rect dx_reach_maxpool(const dx_layer *l, dx_rect below)
{
    return dx_window_reach(below, l->size, l->stride, -(l->pad / 2), l->out_h, l->out_w);
}

/* DeepLIFT's split of a max's output difference, as Captum's DeepLift (captum/attr/_core/
 * deep_lift.py, `maxpool`): window o's y - y' is split at top = max(y, y'): gout[o] (top - y')
 * goes into share[] at the winner of x's window, gout[o] (y - top) (<= 0) at the winner of x''s;
 * grad[] += gout at x's winner (the gradient, for inputs whose difference is too small to divide
 * by). in, in_ref: the layer's input on x and x'; l->output, out_ref its output. share and grad:
 * the layer's inputs floats each, added into. */
void dx_maxpool_difference_shares(const dx_layer *l, const float *in, const float *in_ref, const float *out_ref,
                                  const float *gout, float *share, float *grad)
{
    for (int k = 0; k < l->c; ++k)
        for (int y = 0; y < l->out_h; ++y)
            for (int x = 0; x < l->out_w; ++x) {
                int o = x + l->out_w * (y + l->out_h * k);
                int win = maxpool_winner(l, in, l->output, k, y, x);
                int win_ref = maxpool_winner(l, in_ref, out_ref, k, y, x);
                if (win < 0 || win_ref < 0) continue; /* no input in the window: a constant */
                float top = fmaxf(l->output[o], out_ref[o]);
                grad[win] += gout[o];
                share[win] += gout[o] * (top - out_ref[o]);
                share[win_ref] += gout[o] * (l->output[o] - top);
            }
}

/* DeepLIFT's Rescale through a max: an input's multiplier is its share of the output differences
 * (dx_maxpool_difference_shares) over its difference x_i - x'_i, or the gradient where that is
 * below DX_RESCALE_THRESHOLD. So sum_i mult_i (x_i - x'_i) = sum_j gout_j (y_j - y'_j) up to the
 * threshold's share. work: 2 x the layer's inputs floats. */
static int rescale_maxpool(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    const dx_reference_layer *ref = dx_rule_of(p, i)->reference;
    const float *in = dx_output_of(m, i - 1);
    float *share = dx_pass_work(p, 2 * (size_t)l->inputs, err);
    if (!share) return -1;
    float *grad = share + l->inputs;
    memset(share, 0, 2 * sizeof(float) * l->inputs);
    dx_maxpool_difference_shares(l, in, ref->in_ref, ref->out_ref, gout, share, grad);
    float *gin = dx_pass_buf(p, i - 1);
    for (int q = 0; q < l->inputs; ++q) {
        float d = in[q] - ref->in_ref[q];
        gin[q] += fabsf(d) >= DX_RESCALE_THRESHOLD ? share[q] / d : grad[q];
    }
    return 0;
}

/* in: c x h x w -> out: c x out_h x out_w. The winner of each window gets the gradient. The
 * argmax is recomputed from the input, so it never depends on l.indexes being current. */
int dx_backward_maxpool(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err)
{
    if (dx_rule_of(p, i)->kind == DX_RULE_RESCALE) return rescale_maxpool(m, p, i, gout, err);
    const dx_layer *l = &m->net->layers[i];
    const float *in = dx_output_of(m, i - 1);
    float *gin = dx_pass_buf(p, i - 1);
    for (int k = 0; k < l->c; ++k)
        for (int y = 0; y < l->out_h; ++y)
            for (int x = 0; x < l->out_w; ++x) {
                int best_index = maxpool_winner(l, in, l->output, k, y, x);
                if (best_index >= 0) gin[best_index] += gout[x + l->out_w * (y + l->out_h * k)];
            }
    return 0;
}

/* LRP: the winner takes all (rule wta, the default), or the window's in-image inputs share in
 * proportion to their values (rule proportional: R_i = a_i R_j / stab(sum of the window)). */
int dx_lrp_maxpool(dx_model *m, dx_pass *p, int i, const float *rout, dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    const float *in = dx_output_of(m, i - 1);
    float *rin = dx_pass_buf(p, i - 1);
    int proportional = dx_rule_of(p, i)->kind == DX_RULE_PROPORTIONAL, offset = -l->pad / 2;
    float eps = dx_rule_of(p, i)->epsilon;
    for (int k = 0; k < l->c; ++k)
        for (int y = 0; y < l->out_h; ++y)
            for (int x = 0; x < l->out_w; ++x) {
                float r = rout[x + l->out_w * (y + l->out_h * k)];
                if (!proportional) {
                    int best_index = maxpool_winner(l, in, l->output, k, y, x);
                    if (best_index >= 0) rin[best_index] += r;
                    else p->absorbed += r;
                    continue;
                }
                int y0 = offset + y * l->stride_y, x0 = offset + x * l->stride_x;
                double z = 0;
                for (int iy = y0 < 0 ? 0 : y0; iy < y0 + l->size && iy < l->h; ++iy)
                    for (int ix = x0 < 0 ? 0 : x0; ix < x0 + l->size && ix < l->w; ++ix)
                        z += in[ix + l->w * (iy + l->h * k)];
                float s = dx_lrp_share(r, (float)z, eps);
                for (int iy = y0 < 0 ? 0 : y0; iy < y0 + l->size && iy < l->h; ++iy)
                    for (int ix = x0 < 0 ? 0 : x0; ix < x0 + l->size && ix < l->w; ++ix)
                        rin[ix + l->w * (iy + l->h * k)] += s * in[ix + l->w * (iy + l->h * k)];
                p->absorbed += r - (double)s * (float)z;
            }
    return 0;
}

/* in: c x h x w -> out: c (global average). */
int dx_backward_avgpool(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    float *gin = dx_pass_buf(p, i - 1);
    int spatial = l->h * l->w;
    for (int k = 0; k < l->c; ++k) {
        float share = gout[k] / spatial;
        for (int q = 0; q < spatial; ++q) gin[k * spatial + q] += share;
    }
    return 0;
}

/* LRP: the average is a linear layer with weights 1/N, so each input gets its contribution's
 * share, R_i = (a_i / N) R_k / stab(z_k) (Zennit's Norm rule), conserved up to the stabiliser. */
int dx_lrp_avgpool(dx_model *m, dx_pass *p, int i, const float *rout, dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    const float *in = dx_output_of(m, i - 1);
    float *rin = dx_pass_buf(p, i - 1);
    int spatial = l->h * l->w;
    for (int k = 0; k < l->c; ++k) {
        const float *a = in + (size_t)k * spatial;
        double sum = 0;
        for (int q = 0; q < spatial; ++q) sum += a[q];
        float z = (float)(sum / spatial), s = dx_lrp_share(rout[k], z, dx_rule_of(p, i)->epsilon);
        for (int q = 0; q < spatial; ++q) rin[k * spatial + q] += s * a[q] / spatial;
        p->absorbed += rout[k] - (double)s * z;
    }
    return 0;
}
