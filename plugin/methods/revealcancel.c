/* DeepLIFT's RevealCancel rule (Shrikumar, Greenside, Kundaje 2017, sec. 3.5.1 and 3.5.3), its
 * own two-channel pass: a difference-from-reference Δ = x - x' travels as a positive and a
 * negative part Δ⁺ >= 0, Δ⁻ <= 0 (Δ⁺ + Δ⁻ = Δ), and the multipliers of the two parts travel
 * back apart, which the engine's one-buffer reverse pass (engine.c) cannot carry.
 *
 * The delta forward (layer by layer, against the reference forward deeplift.c keeps,
 * dx_reference_layer):
 * - a weighted sum y = sum_i w_i x_i + b (convolution, connected, batch norm folded into the
 *   weights as a per-channel factor, shortcut's alpha/beta sum, avgpool's 1/N): the paper's
 *   linear rule (3.5.1, as kundajelab/deeplift's Dense and Conv layers), each term w_i Δx_i
 *   sorted by its sign, Δx_i the input's whole difference:
 *     Δy⁺ = sum_{w_i Δx_i > 0} w_i Δx_i,   Δy⁻ = sum_{w_i Δx_i < 0} w_i Δx_i   (the bias cancels);
 *   a negative batch norm factor s swaps the parts (the folded weights s w flip sign).
 * - an activation y = f(z) (inside a layer, or [activation] / [logistic]), z's parts from the
 *   rule above, against z' and y' on x' (y = the Darknet's own output on x):
 *     Δy⁺ = ½ (f(z' + Δz⁺) - y') + ½ (y - f(z' + Δz⁻)),
 *     Δy⁻ = ½ (f(z' + Δz⁻) - y') + ½ (y - f(z' + Δz⁺)),
 *   the paper's with f(z' + Δz⁺ + Δz⁻) = y, so that Δy⁺ + Δy⁻ = y - y' exactly; multipliers
 *   m± = Δy± / Δz±, or where |Δz±| < DX_RESCALE_THRESHOLD Rescale's (y - y') / (z - z'), or the
 *   gradient f'(z) where that is below the threshold too.
 * - copies (route, dropout, upsample's scale) keep the parts; [maxpool] and the heads below the
 *   target ([yolo], [region], [softmax]) give their output difference's sign split.
 *
 * The backward, the chain rule for multipliers (sec. 3.3, m_{Δx Δt} = sum_y m_{Δx Δy} m_{Δy Δt})
 * with the parts as separate variables. In the linear rule both parts of x_i reach Δy⁺ with
 * multiplier w_i where w_i Δx_i > 0 and Δy⁻ where it is < 0, so both parts of x_i get
 *     m_{x_i} = sum_j w_ji (m_{y_j}⁺ if w_ji Δx_i > 0 else m_{y_j}⁻)
 * (W⁺ᵀ m⁺ + W⁻ᵀ m⁻ where Δx_i > 0, W⁻ᵀ m⁺ + W⁺ᵀ m⁻ where < 0; the mean of the two where Δx_i = 0,
 * which contributes nothing); an activation multiplies each part's multiplier by its own m±;
 * copies hand each part's multiplier to the part it copied. Each step keeps
 * sum (m⁺ Δ⁺ + m⁻ Δ⁻) over the cut (exactly, in real arithmetic), so at the input the
 * attributions m⁺ Δx⁺ + m⁻ Δx⁻ add up to what the seed gives the top layer's difference:
 * f(x) - f(x') for a score linear in it. Sorting by the whole difference keeps the parts as large
 * as sum |w Δx| at most; sorting each part apart would compound them layer by layer (Tiny
 * Darknet: 1e12 against differences of 10, beyond float's precision). [maxpool] takes the
 * multiplier of the part its output difference fell in, hands the difference down as Rescale
 * does (Captum's split, layers/pool.c) and gives both parts of an input the same multiplier, its
 * share over Δ⁺ + Δ⁻ (the gradient below the threshold). A layer without a rule here
 * ([scale_channels], [sam], [reorg], [crop], AlexeyAB's flat shortcut, binary convolutions, the
 * norm_chan activations) fails the pass naming it when the backward reaches it.
 *
 * Frames: planar floats as the layers' own buffers (batch 1); every buffer is the pass's own. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include "engine.h"
#include "error.h"
#include "layers/layers.h"
#include "memory.h"
#include "methods.h"
#include "model.h"

typedef struct {
    dx_model *m;
    const dx_reference_layer *refs;
    float **delta;        /* delta[j + 1]: layer j's Δ⁺ (outputs floats), then its Δ⁻; [0]: the input's */
    float **mult;         /* mult[j + 1]: the multipliers of those parts reaching layer j's outputs */
    float **act;          /* act[j + 1]: layer j's activation's m⁺ then m⁻ (NULL: no nonlinearity) */
    unsigned char *ruled; /* the backward has a rule for layer j (its forward was not a sign split) */
    float *signs;         /* work: W⁺ then W⁻ of the largest layer with weights */
    float *work;          /* work: 3 x the largest layer's outputs (or inputs) */
} rc_pass;

static size_t size_of(const rc_pass *s, int j) { return (size_t)(j < 0 ? s->m->net->inputs : s->m->net->layers[j].outputs); }
static float *pos(const rc_pass *s, int j) { return s->delta[j + 1]; }
static float *neg(const rc_pass *s, int j) { return s->delta[j + 1] + size_of(s, j); }
static float *mpos(const rc_pass *s, int j) { return s->mult[j + 1]; }
static float *mneg(const rc_pass *s, int j) { return s->mult[j + 1] + size_of(s, j); }

/* A copy y = a x: dp, dn += a x (sp, sn), a negative a swapping the parts. */
static void add_scaled(float a, const float *sp, const float *sn, float *dp, float *dn, size_t n)
{
    if (a < 0) { const float *t = sp; sp = sn; sn = t; }
    for (size_t k = 0; k < n; ++k) dp[k] += a * sp[k], dn[k] += a * sn[k];
}

/* Its adjoint: the multipliers gp, gn of (sp, sn) += a x those of (dp, dn), swapped back for a < 0. */
static void add_scaled_adjoint(float a, const float *mp, const float *mn, float *gp, float *gn, size_t n)
{
    if (a < 0) { const float *t = mp; mp = mn; mn = t; }
    for (size_t k = 0; k < n; ++k) gp[k] += a * mp[k], gn[k] += a * mn[k];
}

/* The linear rule's term t = w Δx into the output's parts, and the multiplier of the part it went
 * into (the mean where t = 0: it contributes nothing either way). */
static void add_term(float t, float *p, float *n)
{
    if (t > 0) *p += t;
    else *n += t;
}
static float term_multiplier(float t, float mp, float mn) { return t > 0 ? mp : t < 0 ? mn : 0.5f * (mp + mn); }

/* (p, n) times s, the parts swapped for s < 0: its own adjoint (the map
 * (p, n) -> (s n, s p) is symmetric), so the forward and the backward share it. */
static void scale_parts(float s, float *p, float *n, size_t len)
{
    for (size_t k = 0; k < len; ++k) {
        float a = p[k], b = n[k];
        p[k] = s * (s < 0 ? b : a);
        n[k] = s * (s < 0 ? a : b);
    }
}

/* Batch norm at inference per output channel (dx_batchnorm_grad's factor), forward or backward. */
static void batchnorm_parts(const dx_layer *l, float *p, float *n, int channels, size_t spatial)
{
    if (!l->batch_normalize) return;
    for (int c = 0; c < channels; ++c)
        scale_parts(l->scales[c] / (float)dx_bn_divisor(l, c), p + c * spatial, n + c * spatial, spatial);
}

/* RevealCancel at layer i's activation (the header's formulas): (p, n) hold Δz's parts and become
 * Δy's; the activation's multipliers go to s->act. */
static void activation_forward(rc_pass *s, int i, float *p, float *n)
{
    const dx_layer *l = &s->m->net->layers[i];
    const dx_reference_layer *ref = &s->refs[i];
    float *mp = s->act[i + 1];
    if (!mp) return;
    float *mn = mp + l->outputs, *a = s->work, *b = a + l->outputs, *slope = b + l->outputs;
    const float *y = l->output;
    for (int k = 0; k < l->outputs; ++k) {
        a[k] = ref->z_ref[k] + p[k];
        b[k] = ref->z_ref[k] + n[k];
        slope[k] = 1.f;
    }
    dx_activate(a, l->outputs, l->activation);
    dx_activate(b, l->outputs, l->activation);
    dx_activation_derivative(y, ref->z, l->outputs, l->activation, slope);
    for (int k = 0; k < l->outputs; ++k) {
        float y_ref = ref->out_ref[k], dz = ref->z[k] - ref->z_ref[k];
        float up = 0.5f * (a[k] - y_ref) + 0.5f * (y[k] - b[k]);
        float un = 0.5f * (b[k] - y_ref) + 0.5f * (y[k] - a[k]);
        float fallback = fabsf(dz) >= DX_RESCALE_THRESHOLD ? (y[k] - y_ref) / dz : slope[k];
        mp[k] = fabsf(p[k]) >= DX_RESCALE_THRESHOLD ? up / p[k] : fallback;
        mn[k] = fabsf(n[k]) >= DX_RESCALE_THRESHOLD ? un / n[k] : fallback;
        p[k] = up;
        n[k] = un;
    }
}

/* a convolution's or connected layer's weights (the backend leaves a connected layer's nweights 0) */
static size_t weight_count(const dx_layer *l)
{
    return l->type == DX_LAYER_CONNECTED ? (size_t)l->inputs * l->outputs : (size_t)l->nweights;
}

/* The sign split of the whole difference p + n (the linear rule's input): sp = max(Δ, 0), sn = min(Δ, 0). */
static void split_whole(const float *p, const float *n, float *sp, float *sn, size_t len)
{
    for (size_t k = 0; k < len; ++k) {
        float d = p[k] + n[k];
        sp[k] = d > 0 ? d : 0.f;
        sn[k] = d > 0 ? 0.f : d;
    }
}

/* the activations RevealCancel evaluates one value at a time (not the norm_chan ones) */
static int elementwise(dx_activation a)
{
    return a != DX_ACT_NORM_CHAN && a != DX_ACT_NORM_CHAN_SOFTMAX && a != DX_ACT_NORM_CHAN_SOFTMAX_MAXVAL;
}

/* A convolution's (or, direct, a connected layer's: its input is its one column) linear part
 * between (ip, in) at the input and (op, on) at the output: forward (op, on) += W± (ip, in), or
 * backward (ip, in) += W±ᵀ (op, on), per group. */
static void weights_apply(rc_pass *s, const dx_layer *l, int backward, float *ip, float *in, float *op, float *on)
{
    int connected = l->type == DX_LAYER_CONNECTED, groups = connected ? 1 : l->groups;
    int rows = connected ? l->outputs : l->n / groups, spatial = connected ? 1 : l->out_h * l->out_w;
    int k = connected ? l->inputs : l->size * l->size * (l->c / groups);
    size_t per_group = (size_t)rows * k, in_group = connected ? 0 : (size_t)(l->c / groups) * l->h * l->w;
    dx_conv_geometry geo;
    if (!connected) geo = dx_conv_geometry_of(l);
    float *wp = s->signs, *wn = s->signs + (size_t)groups * per_group;
    for (size_t q = 0; q < (size_t)groups * per_group; ++q) {
        wp[q] = l->weights[q] > 0 ? l->weights[q] : 0.f;
        wn[q] = l->weights[q] < 0 ? l->weights[q] : 0.f;
    }
    float *col = dx_scratch(s->m, (size_t)k * spatial); /* within dx_layer_scratch_floats */
    for (int g = 0; g < groups; ++g) {
        const float *gp = wp + g * per_group, *gn = wn + g * per_group;
        float *ipg = ip + g * in_group, *ing = in + g * in_group;
        float *opg = op + (size_t)g * rows * spatial, *ong = on + (size_t)g * rows * spatial;
        for (int part = 0; part < 2; ++part) {
            float *x = part ? ing : ipg;
            /* the part + reaches (op, on) through (W⁺, W⁻), the part - through (W⁻, W⁺) */
            const float *to_p = part ? gn : gp, *to_n = part ? gp : gn;
            if (!backward) {
                const float *c = x;
                if (!connected) dx_im2col(x, &geo, col), c = col;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, spatial, k, 1.f, to_p, k, c, spatial,
                            1.f, opg, spatial);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, spatial, k, 1.f, to_n, k, c, spatial,
                            1.f, ong, spatial);
                continue;
            }
            float *c = connected ? x : col;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, spatial, rows, 1.f, to_p, k, opg, spatial,
                        connected ? 1.f : 0.f, c, spatial);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, spatial, rows, 1.f, to_n, k, ong, spatial, 1.f,
                        c, spatial);
            if (!connected) dx_col2im_add(col, &geo, x);
        }
    }
}

/* layer i's shortcut sources besides the layer below, or -1 where RevealCancel has no rule for it
 * (AlexeyAB's flat sum, sources of another shape) */
static int shortcut_ruled(const dx_net *net, int i)
{
    const dx_layer *l = &net->layers[i];
    if (l->sum_flat || net->layers[i - 1].outputs != l->outputs) return 0;
    for (int s = 0; s < l->n; ++s)
        if (net->layers[l->input_layers[s]].outputs != l->outputs) return 0;
    return 1;
}

/* Layer i's parts from its sources' (the delta forward); 0 where the backward has no rule for
 * it and its parts are the sign split of y - y'. */
static int delta_forward(rc_pass *s, int i)
{
    const dx_net *net = s->m->net;
    const dx_layer *l = &net->layers[i];
    float *p = pos(s, i), *n = neg(s, i), *bp = pos(s, i - 1), *bn = neg(s, i - 1);
    size_t out = (size_t)l->outputs;
    switch (l->type) {
    case DX_LAYER_CONVOLUTIONAL:
    case DX_LAYER_CONNECTED:
        if (l->binary || !elementwise(l->activation)) break;
        split_whole(bp, bn, s->work, s->work + l->inputs, (size_t)l->inputs);
        weights_apply(s, l, 0, s->work, s->work + l->inputs, p, n);
        batchnorm_parts(l, p, n, l->type == DX_LAYER_CONNECTED ? l->outputs : l->n,
                        l->type == DX_LAYER_CONNECTED ? 1 : (size_t)l->out_h * l->out_w);
        activation_forward(s, i, p, n);
        return 1;
    case DX_LAYER_SHORTCUT:
        if (!shortcut_ruled(net, i) || !elementwise(l->activation)) break;
        for (int t = 0; t <= l->n; ++t) {
            int j = t ? l->input_layers[t - 1] : i - 1;
            float w = t ? l->beta : l->alpha;
            for (size_t k = 0; k < out; ++k) add_term(w * (pos(s, j)[k] + neg(s, j)[k]), p + k, n + k);
        }
        activation_forward(s, i, p, n);
        return 1;
    case DX_LAYER_ACTIVATION:
    case DX_LAYER_LOGISTIC:
    case DX_LAYER_DROPOUT:
        if (!elementwise(l->activation)) break;
        memcpy(p, bp, out * sizeof(float));
        memcpy(n, bn, out * sizeof(float));
        if (l->type != DX_LAYER_DROPOUT) activation_forward(s, i, p, n);
        return 1;
    case DX_LAYER_ROUTE: {
        size_t offset = 0;
        for (int k = 0; k < l->n; ++k) {
            size_t part = (size_t)l->input_sizes[k] / l->groups, from = part * l->group_id;
            memcpy(p + offset, pos(s, l->input_layers[k]) + from, part * sizeof(float));
            memcpy(n + offset, neg(s, l->input_layers[k]) + from, part * sizeof(float));
            offset += part;
        }
        return 1;
    }
    case DX_LAYER_AVGPOOL: {
        size_t spatial = (size_t)l->h * l->w;
        for (int c = 0; c < l->c; ++c)
            for (size_t q = 0; q < spatial; ++q)
                add_term((bp[c * spatial + q] + bn[c * spatial + q]) / spatial, p + c, n + c);
        return 1;
    }
    case DX_LAYER_UPSAMPLE:
        if (l->reverse) break;
        for (int c = 0; c < l->c; ++c)
            for (int y = 0; y < l->out_h; ++y)
                for (int x = 0; x < l->out_w; ++x) {
                    size_t o = ((size_t)c * l->out_h + y) * l->out_w + x;
                    size_t q = ((size_t)c * l->h + y / l->stride) * l->w + x / l->stride;
                    add_scaled(l->scale, bp + q, bn + q, p + o, n + o, 1);
                }
        return 1;
    default: break;
    }
    /* the sign split of the output difference: [maxpool]'s own backward reads it */
    for (size_t k = 0; k < out; ++k) {
        float d = l->output[k] - s->refs[i].out_ref[k];
        p[k] = d > 0 ? d : 0.f;
        n[k] = d > 0 ? 0.f : d;
    }
    return l->type == DX_LAYER_MAXPOOL && !l->maxpool_depth;
}

/* [maxpool]: the module header's rule. */
static void maxpool_backward(rc_pass *s, int i)
{
    const dx_layer *l = &s->m->net->layers[i];
    float *gout = s->work, *share = gout + l->outputs, *grad = share + l->inputs;
    const float *p = pos(s, i), *mp = mpos(s, i), *mn = mneg(s, i);
    for (int k = 0; k < l->outputs; ++k) gout[k] = p[k] > 0 ? mp[k] : mn[k];
    memset(share, 0, 2 * sizeof(float) * l->inputs);
    dx_maxpool_difference_shares(l, dx_output_of(s->m, i - 1), s->refs[i].in_ref, s->refs[i].out_ref, gout, share, grad);
    const float *bp = pos(s, i - 1), *bn = neg(s, i - 1);
    float *gp = mpos(s, i - 1), *gn = mneg(s, i - 1);
    for (int q = 0; q < l->inputs; ++q) {
        float d = bp[q] + bn[q], mult = fabsf(d) >= DX_RESCALE_THRESHOLD ? share[q] / d : grad[q];
        gp[q] += mult;
        gn[q] += mult;
    }
}

/* Layer i hands its parts' multipliers (complete: the layers above it are done) to its sources. */
static int backward(rc_pass *s, int i, dx_error *err)
{
    const dx_net *net = s->m->net;
    const dx_layer *l = &net->layers[i];
    if (!s->ruled[i]) goto refuse;
    float *mp = mpos(s, i), *mn = mneg(s, i);
    size_t out = (size_t)l->outputs;
    if (s->act[i + 1])
        for (size_t k = 0; k < out; ++k) mp[k] *= s->act[i + 1][k], mn[k] *= s->act[i + 1][out + k];
    float *gp = mpos(s, i - 1), *gn = mneg(s, i - 1);
    switch (l->type) {
    case DX_LAYER_CONVOLUTIONAL:
    case DX_LAYER_CONNECTED:
    {
        batchnorm_parts(l, mp, mn, l->type == DX_LAYER_CONNECTED ? l->outputs : l->n,
                        l->type == DX_LAYER_CONNECTED ? 1 : (size_t)l->out_h * l->out_w);
        float *via_pos = s->work, *via_neg = s->work + l->inputs;
        memset(via_pos, 0, 2 * sizeof(float) * l->inputs);
        weights_apply(s, l, 1, via_pos, via_neg, mp, mn);
        const float *bp = pos(s, i - 1), *bn = neg(s, i - 1);
        for (int q = 0; q < l->inputs; ++q) {
            /* the sign of w Δx is w's where Δx > 0, the opposite where Δx < 0: W⁺ᵀ m⁺ + W⁻ᵀ m⁻ for
             * a positive Δx (via_pos), W⁻ᵀ m⁺ + W⁺ᵀ m⁻ for a negative one (via_neg) */
            float m = term_multiplier(bp[q] + bn[q], via_pos[q], via_neg[q]);
            gp[q] += m;
            gn[q] += m;
        }
        return 0;
    }
    case DX_LAYER_SHORTCUT:
        for (int t = 0; t <= l->n; ++t) {
            int j = t ? l->input_layers[t - 1] : i - 1;
            float w = t ? l->beta : l->alpha;
            for (size_t k = 0; k < out; ++k) {
                float m = w * term_multiplier(w * (pos(s, j)[k] + neg(s, j)[k]), mp[k], mn[k]);
                mpos(s, j)[k] += m;
                mneg(s, j)[k] += m;
            }
        }
        return 0;
    case DX_LAYER_ACTIVATION:
    case DX_LAYER_LOGISTIC:
    case DX_LAYER_DROPOUT: add_scaled_adjoint(1.f, mp, mn, gp, gn, out); return 0;
    case DX_LAYER_ROUTE: {
        size_t offset = 0;
        for (int k = 0; k < l->n; ++k) {
            size_t part = (size_t)l->input_sizes[k] / l->groups, from = part * l->group_id;
            add_scaled_adjoint(1.f, mp + offset, mn + offset, mpos(s, l->input_layers[k]) + from,
                               mneg(s, l->input_layers[k]) + from, part);
            offset += part;
        }
        return 0;
    }
    case DX_LAYER_AVGPOOL: {
        size_t spatial = (size_t)l->h * l->w;
        const float *bp = pos(s, i - 1), *bn = neg(s, i - 1);
        for (int c = 0; c < l->c; ++c)
            for (size_t q = 0; q < spatial; ++q) {
                size_t at = c * spatial + q;
                float m = term_multiplier(bp[at] + bn[at], mp[c], mn[c]) / spatial;
                gp[at] += m;
                gn[at] += m;
            }
        return 0;
    }
    case DX_LAYER_UPSAMPLE:
        for (int c = 0; c < l->c; ++c)
            for (int y = 0; y < l->out_h; ++y)
                for (int x = 0; x < l->out_w; ++x) {
                    size_t o = ((size_t)c * l->out_h + y) * l->out_w + x;
                    size_t q = ((size_t)c * l->h + y / l->stride) * l->w + x / l->stride;
                    add_scaled_adjoint(l->scale, mp + o, mn + o, gp + q, gn + q, 1);
                }
        return 0;
    case DX_LAYER_MAXPOOL: maxpool_backward(s, i); return 0;
    default: break;
    }
refuse:
    dx_set_error(err, "layer %d [%s]: DeepLIFT's RevealCancel has no rule for this layer; -rule rescale explains "
                      "through it",
                 i, l->type_name);
    return -1;
}

/* the layers whose activation RevealCancel splits: those deeplift.c keeps z and z' of */
static int has_activation(const dx_reference_layer *ref) { return ref->z != NULL; }

int dx_revealcancel(dx_model *m, int top, const float *mult, const dx_reference_layer *refs, const float *base,
                    float *attr, dx_error *err)
{
    const dx_net *net = m->net;
    size_t n = (size_t)net->inputs, floats = 4 * n, largest = n, weights = 0;
    for (int i = 0; i <= top; ++i) {
        const dx_layer *l = &net->layers[i];
        floats += (size_t)l->outputs * (has_activation(&refs[i]) ? 6 : 4);
        if ((size_t)l->outputs > largest) largest = (size_t)l->outputs;
        if ((size_t)l->inputs > largest) largest = (size_t)l->inputs;
        if ((l->type == DX_LAYER_CONVOLUTIONAL || l->type == DX_LAYER_CONNECTED) && weight_count(l) > weights)
            weights = weight_count(l);
    }
    double t0 = dx_now_ms();
    rc_pass s = {.m = m, .refs = refs};
    const char *what = "DeepLIFT's RevealCancel pass";
    float *block = NULL;
    int rc = -1;
    if (!(block = dx_alloc(floats, sizeof(float), what, err)) ||
        !(s.delta = dx_alloc((size_t)top + 2, sizeof(float *), what, err)) ||
        !(s.mult = dx_alloc((size_t)top + 2, sizeof(float *), what, err)) ||
        !(s.act = dx_alloc((size_t)top + 2, sizeof(float *), what, err)) ||
        !(s.ruled = dx_alloc((size_t)top + 1, 1, what, err)) ||
        !(s.signs = dx_alloc(2 * weights + 1, sizeof(float), what, err)) ||
        !(s.work = dx_alloc(3 * largest, sizeof(float), what, err)))
        goto done;
    float *at = block;
    for (int j = -1; j <= top; ++j) {
        size_t size = size_of(&s, j);
        s.delta[j + 1] = at, at += 2 * size;
        s.mult[j + 1] = at, at += 2 * size;
        if (j >= 0 && has_activation(&refs[j])) s.act[j + 1] = at, at += 2 * size;
    }
    const float *x = dx_output_of(m, -1);
    for (size_t k = 0; k < n; ++k) {
        float d = x[k] - base[k];
        pos(&s, -1)[k] = d > 0 ? d : 0.f;
        neg(&s, -1)[k] = d > 0 ? 0.f : d;
    }
    for (int i = 0; i <= top; ++i) s.ruled[i] = (unsigned char)delta_forward(&s, i);
    /* the seed multiplies both parts of the top layer's difference */
    memcpy(mpos(&s, top), mult, size_of(&s, top) * sizeof(float));
    memcpy(mneg(&s, top), mult, size_of(&s, top) * sizeof(float));
    /* layers in topological order: a layer's multipliers are complete when those above it are
     * done; a layer nothing above reached has all-zero multipliers and is skipped */
    for (int i = top; i >= 0; --i) {
        size_t size = size_of(&s, i);
        int reached = 0;
        for (size_t k = 0; k < 2 * size && !reached; ++k) reached = s.mult[i + 1][k] != 0;
        if (reached && backward(&s, i, err) != 0) goto done;
    }
    for (size_t k = 0; k < n; ++k) attr[k] = mpos(&s, -1)[k] * pos(&s, -1)[k] + mneg(&s, -1)[k] * neg(&s, -1)[k];
    long bad = dx_count_nonfinite(attr, n);
    if (bad) {
        dx_set_error(err, "%s: DeepLIFT's RevealCancel attributions hold %ld non-finite values (NaN or inf): the "
                          "pass from layer %d overflows",
                     dx_model_file(m), bad, top);
        goto done;
    }
    rc = 0;
done:
    m->ms_backward += dx_now_ms() - t0; /* both passes: the JSON's "backward" time */
    free(block);
    free(s.delta);
    free(s.mult);
    free(s.act);
    free(s.ruled);
    free(s.signs);
    free(s.work);
    return rc;
}
