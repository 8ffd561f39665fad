/* [convolutional] and [connected]: the layers with weights, and batch norm at inference. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include "layers.h"

static int is_rectifier(dx_activation a)
{
    return a == DX_ACT_RELU || a == DX_ACT_LEAKY || a == DX_ACT_RELIE || a == DX_ACT_RAMP || a == DX_ACT_ELU || a == DX_ACT_SELU;
}

void dx_activation_grad(const dx_rule *rule, const dx_layer *l, const float *output, const float *gout,
                        float *d)
{
    int n = l->outputs;
    dx_rule_kind kind = is_rectifier(l->activation) ? rule->kind : DX_RULE_GRADIENT;
    for (int k = 0; k < n; ++k) d[k] = kind == DX_RULE_GRADIENT || gout[k] > 0.f ? gout[k] : 0.f;
    if (kind != DX_RULE_DECONV) dx_backend_gradient(output, l->activation_input, n, l->activation, d);
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
 * d = gout * act' * bn; then per group gin_g += col2im(W_g^T d_g). A 1x1 kernel with stride 1
 * and no padding has the input itself as its column matrix, so the adjoint writes straight into
 * the input gradient. */
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
void dx_forward_grouped_convolutional(dx_model *m, int i, const float *input)
{
    const dx_layer *l = &m->net->layers[i];
    dx_rect whole = {0, 0, l->out_h, l->out_w};
    for (int b = 0; b < l->batch; ++b)
        grouped_sums(l, input + (size_t)b * l->inputs, whole, l->output + (size_t)b * l->outputs);
    dx_bn_bias_forward(l, l->output, l->batch, l->n, l->out_h * l->out_w);
    dx_activate(l->output, l->outputs * l->batch, l->activation);
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

/* LRP of the layers with weights. A linear layer z = W a + b over a grouped convolution's
 * geometry; a connected layer is a 1x1 convolution of its inputs on a 1x1 image. */
typedef struct {
    dx_conv_geometry conv; /* one group's */
    int c, h, w, n, groups, size, out_h, out_w;
} lrp_geometry;

/* z (n x out_h x out_w) += conv(in, w); in: c x h x w, w: n x (c/groups*size*size) */
static void lrp_conv_forward(const lrp_geometry *g, const float *in, const float *w, float *col, float *z)
{
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

/* adj (c x h x w) = conv^T(s, w), the adjoint of lrp_conv_forward */
static void lrp_conv_adjoint(const lrp_geometry *g, const float *w, const float *s, float *col,
                             float *adj)
{
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

static float lrp_modify_weight(dx_weight_mod mod, float w)
{
    switch (mod) {
    case DX_W_SAME: return w;
    case DX_W_ABS: return fabsf(w);
    case DX_W_POS: return w > 0.f ? w : 0.f;
    case DX_W_NEG: return w < 0.f ? w : 0.f;
    case DX_W_SQUARE: return w * w;
    case DX_W_ONES: return 1.f;
    }
    return w;
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
static void lrp_fold_batchnorm(const dx_layer *l, int n, size_t per_output, float *w, float *b)
{
    for (int j = 0; j < n; ++j) {
        float f = l->batch_normalize ? l->scales[j] / (float)dx_bn_divisor(l, j) : 1.f;
        for (size_t k = 0; k < per_output; ++k) w[j * per_output + k] = f * l->weights[j * per_output + k];
        b[j] = l->batch_normalize ? l->biases[j] - f * l->rolling_mean[j] : l->biases[j];
    }
}

/* R_i += sum_t in_t(a)_i (W_t^T u_t)_i with u_t = sum_p coef_p c_pt s_p, s_p = R / stab(z'_p):
 * see lrp/lrp.h. The activation passes relevance through: the relevance of f(z_j) is z_j's. */
static int lrp_linear(dx_model *m, dx_pass *p, int i, const lrp_geometry *g, const float *rout,
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
    /* folded W, b; each base's weights, input, convolution B and back-projected u; columns; adjoint */
    float *buf = dx_pass_work(p, (1 + nb) * weights + g->n + (1 + nb) * in_len + 2 * nb * out_len + col_len);
    if (!buf) {
        dx_set_error(err, "out of memory");
        return -1;
    }
    float *w_fold = buf, *b_fold = w_fold + weights, *w_base = b_fold + g->n, *in_base = w_base + nb * weights;
    float *conv = in_base + nb * in_len, *u = conv + nb * out_len, *col = direct ? NULL : u + nb * out_len;
    float *adj = u + nb * out_len + col_len;
    lrp_fold_batchnorm(l, g->n, per_output, w_fold, b_fold);

    const float *a = dx_output_of(m, i - 1), *in_t[4];
    float *rin = dx_pass_buf(p, i - 1);
    memset(conv, 0, sizeof(float) * 2 * nb * out_len); /* and u */
    for (int t = 0; t < nb; ++t) {
        in_t[t] = lrp_modify_input(form.bases[t].in, rule, a, in_len, in_base + t * in_len);
        float *w_t = w_base + t * weights;
        for (size_t k = 0; k < weights; ++k) w_t[k] = lrp_modify_weight(form.bases[t].w, w_fold[k]);
        if (in_t[t]) lrp_conv_forward(g, in_t[t], w_t, col, conv + t * out_len);
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
        lrp_conv_adjoint(g, w_base + t * weights, u + t * out_len, col, adj);
        for (size_t k = 0; k < in_len; ++k) rin[k] += in_t[t][k] * adj[k];
    }
    p->absorbed += total - passed;
    return 0;
}

int dx_lrp_convolutional(dx_model *m, dx_pass *p, int i, const float *rout, dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    if (l->binary) {
        dx_set_error(err, "layer %d [convolutional]: binary/xnor convolutions have no LRP rule", i);
        return -1;
    }
    lrp_geometry g = {dx_conv_geometry_of(l), l->c, l->h, l->w, l->n, l->groups, l->size, l->out_h, l->out_w};
    return lrp_linear(m, p, i, &g, rout, err);
}

int dx_lrp_connected(dx_model *m, dx_pass *p, int i, const float *rout, dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    lrp_geometry g = {{l->inputs, 1, 1, 1, 1, 1, 0, 1, 1, 1}, l->inputs, 1, 1, l->outputs, 1, 1, 1, 1};
    return lrp_linear(m, p, i, &g, rout, err);
}
