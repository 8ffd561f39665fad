/* The LRP engine of the linear layers (lrp.h: the forms, dx_lrp_linear): the rule's bases as
 * grouped convolutions of modified inputs with modified (batch-norm-folded) weights, and their
 * adjoints that hand the shares down. The layer types with weights (layers/conv.c) call it with
 * their geometry. A [convolutional] layer's two convolutions run through oneDNN where the model's
 * do (m->onednn; layers/onednn.h, which reorders each base's weights into its layouts at each
 * call), else, and for [connected], through im2col and BLAS. */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <cblas.h>
#include "error.h"
#include "layers/layers.h"
#include "layers/onednn.h"
#include "lrp/lrp.h"
#include "memory.h"
#include "model.h"

/* v where its sign bit is `sign` (0: v >= +0, 1: v <= -0), else +0: the sign read from the
 * bits, so that the loops below have no branch (a branch on the sign of trained weights is
 * mispredicted half the time, and GCC does not turn v > 0 ? v : 0 into maxss). NaN keeps or
 * loses its NaN by its sign bit: no matter, a forward through a NaN weight is non-finite, and
 * explain.c refuses it before any reverse pass (model.c warns of such weights). */
static inline float with_sign_or_zero(float v, uint32_t sign)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    bits &= (bits >> 31 == sign) ? ~0u : 0u;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* out = mod(f w), n floats: one plain loop per modification (at every call where oneDNN runs the
 * convolutions: conv_onednn_lrp.c keeps no weights) */
static void lrp_modify_weights(dx_weight_mod mod, float f, const float *w, float *out, size_t n)
{
    for (size_t k = 0; k < n; ++k) out[k] = f * w[k];
    switch (mod) {
    case DX_W_SAME: break;
    case DX_W_ABS: for (size_t k = 0; k < n; ++k) out[k] = fabsf(out[k]); break;
    case DX_W_POS: for (size_t k = 0; k < n; ++k) out[k] = with_sign_or_zero(out[k], 0); break;
    case DX_W_NEG: for (size_t k = 0; k < n; ++k) out[k] = with_sign_or_zero(out[k], 1); break;
    case DX_W_SQUARE: for (size_t k = 0; k < n; ++k) out[k] *= out[k]; break;
    case DX_W_ONES: for (size_t k = 0; k < n; ++k) out[k] = 1.f; break;
    }
}

static float lrp_modify_bias(dx_bias_mod mod, float b, float gamma)
{
    switch (mod) {
    case DX_B_SAME: return b;
    case DX_B_POS: return b > 0.f ? b : 0.f;
    case DX_B_NEG: return b < 0.f ? b : 0.f;
    case DX_B_GAMMA_POS: return b + gamma * (b > 0.f ? b : 0.f);
    case DX_B_GAMMA_NEG: return b + gamma * (b < 0.f ? b : 0.f);
    case DX_B_NONE: return 0.f;
    }
    return b;
}

/* The input as a base sees it: a itself when unmodified, NULL when it is all zeros (the
 * positive or negative part of an input without such values: the base contributes nothing). */
static const float *lrp_modify_input(dx_input_mod mod, const dx_rule *r, const float *a,
                                     size_t n, float *out)
{
    if (mod == DX_IN_SAME) return a;
    int any = 0;
    for (size_t k = 0; k < n; ++k) {
        float v = a[k];
        switch (mod) {
        case DX_IN_ABS: out[k] = fabsf(v); break;
        case DX_IN_POS: out[k] = v > 0.f ? v : 0.f; break;
        case DX_IN_NEG: out[k] = v < 0.f ? v : 0.f; break;
        case DX_IN_LOW: out[k] = r->low; break;
        case DX_IN_HIGH: out[k] = r->high; break;
        default: out[k] = 1.f; break;
        }
        any |= out[k] != 0.f;
    }
    return any ? out : NULL;
}

/* Batch norm folded into the weights for relevance purposes: Darknet's inference forward is
 * y_j = scale_j (conv_j - mean_j) / (sqrt(var_j) + 1e-6) + bias_j, i.e. W'_j = f_j W_j and
 * b'_j = bias_j - f_j mean_j with f_j = scale_j / (sqrt(var_j) + 1e-6). The folded bias keeps
 * its share of relevance (counted as absorbed), unlike a canonizer that drops it. */
static float bn_factor(const dx_layer *l, int j)
{
    return l->batch_normalize ? l->scales[j] / (float)dx_bn_divisor(l, j) : 1.f;
}

static void lrp_fold_bias(const dx_layer *l, int n, float *b)
{
    for (int j = 0; j < n; ++j) b[j] = l->batch_normalize ? l->biases[j] - bn_factor(l, j) * l->rolling_mean[j] : l->biases[j];
}

/* Each base's weights w_t(W'), W' batch-norm-folded (Darknet's layout), made at the first
 * convolution that needs them; w_blocked: the scratch oneDNN reorders them into (or NULL). */
typedef struct {
    const dx_layer *l;
    const dx_lrp_form *form;
    int n;
    size_t per_output, weights;
    float *w_base, *w_blocked;
    int made[4];
} lrp_weights;

static const float *base_weights(lrp_weights *lw, int t)
{
    float *w_t = lw->w_base + t * lw->weights;
    if (lw->made[t]) return w_t;
    for (int j = 0; j < lw->n; ++j)
        lrp_modify_weights(lw->form->bases[t].w, bn_factor(lw->l, j), lw->l->weights + j * lw->per_output,
                           w_t + j * lw->per_output, lw->per_output);
    lw->made[t] = 1;
    return w_t;
}

/* z (n x out_h x out_w, zeros) += conv(in, w_t); in: c x h x w, w_t: n x (c/groups*size*size).
 * With oneDNN (layer i's convolutions run there: onednn) its forward writes z, else im2col and
 * one gemm per group. */
static void lrp_conv_forward(dx_model *m, int i, int onednn, const dx_lrp_geometry *g, lrp_weights *lw, int t,
                             const float *in, float *col, float *z)
{
    const float *w = base_weights(lw, t);
    if (onednn && dx_onednn_lrp_forward(m, i, w, lw->w_blocked, in, z) == 0) return;
    int spatial = g->out_h * g->out_w, group_in = g->c / g->groups, group_out = g->n / g->groups;
    int k = g->size * g->size * group_in;
    for (int grp = 0; grp < g->groups; ++grp) {
        const float *in_g = in + (size_t)grp * group_in * g->h * g->w, *cols = in_g;
        if (col) {
            dx_im2col(in_g, &g->conv, col);
            cols = col;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, group_out, spatial, k, 1.f,
                    w + (size_t)grp * group_out * k, k, cols, spatial, 1.f,
                    z + (size_t)grp * group_out * spatial, spatial);
    }
}

/* adj (c x h x w) = conv^T(s, w_t), the adjoint of lrp_conv_forward: oneDNN's backward-data, or
 * one gemm per group and col2im. */
static void lrp_conv_adjoint(dx_model *m, int i, int onednn, const dx_lrp_geometry *g, lrp_weights *lw, int t,
                             const float *s, float *col, float *adj)
{
    const float *w = base_weights(lw, t);
    if (onednn && dx_onednn_lrp_adjoint(m, i, w, lw->w_blocked, s, adj) == 0) return;
    int spatial = g->out_h * g->out_w, group_in = g->c / g->groups, group_out = g->n / g->groups;
    int k = g->size * g->size * group_in;
    memset(adj, 0, sizeof(float) * g->c * g->h * g->w);
    for (int grp = 0; grp < g->groups; ++grp) {
        const float *w_g = w + (size_t)grp * group_out * k, *s_g = s + (size_t)grp * group_out * spatial;
        float *adj_g = adj + (size_t)grp * group_in * g->h * g->w;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, spatial, group_out, 1.f, w_g, k, s_g,
                    spatial, 0.f, col ? col : adj_g, spatial);
        if (col) dx_col2im_add(col, &g->conv, adj_g);
    }
}

/* R_i += sum_t in_t(a)_i (W_t^T u_t)_i with u_t = sum_p coef_p c_pt s_p, s_p = R / stab(z'_p):
 * see lrp/lrp.h. The activation passes relevance through: the relevance of f(z_j) is z_j's. */
int dx_lrp_linear(dx_model *m, dx_pass *p, int i, const dx_lrp_geometry *g, const float *rout,
                  dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    const dx_rule *rule = dx_rule_of(p, i);
    dx_lrp_form form;
    if (dx_lrp_form_of(rule, &form) != 0) {
        dx_set_error(err, "layer %d [%s]: the %s rule does not apply to a layer with weights", i,
                     l->type_name, dx_rule_name(rule->kind));
        return -1;
    }
    size_t in_len = (size_t)g->c * g->h * g->w, spatial = (size_t)g->out_h * g->out_w;
    size_t out_len = (size_t)g->n * spatial, per_output = (size_t)g->size * g->size * (g->c / g->groups);
    int direct = g->size == 1 && g->conv.stride_x == 1 && g->conv.stride_y == 1 && g->conv.pad == 0;
    size_t weights = (size_t)g->n * per_output, col_len = direct ? 0 : per_output * spatial;
    int nb = form.n_bases;
    /* oneDNN's convolutions, and the floats of scratch they reorder a base's weights into */
    long blocked = m->onednn && dx_onednn_supports(l) ? dx_onednn_lrp_prepare(m, i) : -1;
    int onednn = blocked >= 0;
    size_t w_blocked_len = onednn && blocked ? (size_t)blocked + 15 : 0; /* + its alignment to 64 bytes */
    /* folded b; each base's weights, input, convolution B and back-projected u; columns; adjoint;
     * the weights in oneDNN's layout */
    float *buf = dx_pass_work(p, nb * weights + g->n + (1 + nb) * in_len + 2 * nb * out_len + col_len + w_blocked_len,
                              err);
    if (!buf) return -1;
    float *b_fold = buf, *w_base = b_fold + g->n, *in_base = w_base + nb * weights;
    float *conv = in_base + nb * in_len, *u = conv + nb * out_len, *col = direct ? NULL : u + nb * out_len;
    float *adj = u + nb * out_len + col_len;
    float *w_blocked = w_blocked_len ? (float *)(((uintptr_t)(adj + in_len) + 63) & ~(uintptr_t)63) : NULL;
    lrp_fold_bias(l, g->n, b_fold);
    lrp_weights lw = {l, &form, g->n, per_output, weights, w_base, w_blocked, {0}};

    const float *a = dx_output_of(m, i - 1), *in_t[4];
    float *rin = dx_pass_buf(p, i - 1);
    memset(conv, 0, sizeof(float) * 2 * nb * out_len); /* and u */
    for (int t = 0; t < nb; ++t) {
        in_t[t] = lrp_modify_input(form.bases[t].in, rule, a, in_len, in_base + t * in_len);
        if (in_t[t]) lrp_conv_forward(m, i, onednn, g, &lw, t, in_t[t], col, conv + t * out_len);
    }
    double total = 0, passed = 0;
    for (size_t q = 0; q < out_len; ++q) total += rout[q];
    for (int pi = 0; pi < form.n_parts; ++pi) {
        const dx_lrp_part *part = &form.parts[pi];
        for (int j = 0; j < g->n; ++j) {
            float b = lrp_modify_bias(part->bias, b_fold[j], rule->gamma);
            for (size_t q = j * spatial; q < (j + 1) * spatial; ++q) {
                /* bases[0] is (a, W) for the parts split by the sign of z = W a + b; an output
                 * with z = 0 belongs to neither (Zennit's Gamma): its relevance is absorbed */
                float zq = conv[q] + b_fold[j];
                if (part->where && !(part->where > 0 ? zq > 0.f : zq < 0.f)) continue;
                float z = 0;
                for (int t = 0; t < nb; ++t) z += part->c[t] * conv[t * out_len + q];
                float s = dx_lrp_share(rout[q], z + b, rule->epsilon);
                passed += (double)part->coef * s * z;
                for (int t = 0; t < nb; ++t) u[t * out_len + q] += part->coef * part->c[t] * s;
            }
        }
    }
    for (int t = 0; t < nb; ++t) {
        if (!in_t[t]) continue;
        lrp_conv_adjoint(m, i, onednn, g, &lw, t, u + t * out_len, col, adj);
        for (size_t k = 0; k < in_len; ++k) rin[k] += in_t[t][k] * adj[k];
    }
    p->absorbed += total - passed;
    return 0;
}
