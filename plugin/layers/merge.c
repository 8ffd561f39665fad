/* [route] and [shortcut]: the layers that read other layers than the one below. */
#include <float.h>
#include <math.h>
#include <string.h>
#include "layers.h"
#include "model.h"

/* out = concat(slice of layers[input_layers[0]].output, ...): of each source (input_sizes[s]
 * floats) the part group_id of `groups` equal parts. Each source gets its part back. */
int dx_backward_route(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    int offset = 0;
    for (int s = 0; s < l->n; ++s) {
        int part = l->input_sizes[s] / l->groups;
        float *gin = dx_pass_buf(p, l->input_layers[s]) + (size_t)part * l->group_id;
        for (int k = 0; k < part; ++k) gin[k] += gout[offset + k];
        offset += part;
    }
    return 0;
}

/* Incremental inference: rectangle r of each source's channels (sources as large as the output). */
void dx_forward_region_route(dx_model *m, int i, dx_rect r)
{
    const dx_layer *l = &m->net->layers[i];
    int plane = l->out_h * l->out_w, channel = 0;
    for (int s = 0; s < l->n; ++s) {
        int part = l->input_sizes[s] / l->groups;
        const float *src = dx_output_of(m, l->input_layers[s]) + (size_t)part * l->group_id;
        for (int k = 0; k < part / plane; ++k, ++channel)
            for (int y = r.y0; y < r.y1; ++y)
                memcpy(l->output + (size_t)channel * plane + (size_t)y * l->out_w + r.x0,
                       src + (size_t)k * plane + (size_t)y * l->out_w + r.x0, sizeof(float) * (r.x1 - r.x0));
    }
}

/* Incremental inference, for a shortcut whose two inputs have the output's shape: rectangle r
 * of f(alpha*prev + beta*from). */
void dx_forward_region_shortcut(dx_model *m, int i, dx_rect r)
{
    const dx_layer *l = &m->net->layers[i];
    const float *prev = dx_output_of(m, i - 1), *from = dx_output_of(m, l->input_layers[0]);
    for (int k = 0; k < l->out_c; ++k)
        for (int y = r.y0; y < r.y1; ++y) {
            size_t at = ((size_t)k * l->out_h + y) * l->out_w + r.x0;
            for (int x = 0; x < r.x1 - r.x0; ++x) l->output[at + x] = l->alpha * prev[at + x] + l->beta * from[at + x];
            dx_activate(l->output + at, r.x1 - r.x0, l->activation);
        }
}

/* AlexeyAB's shortcut (sum_flat): out[k] = f(sum_t w_t(k) a_t[k]) over t = 0 (the layer below)
 * and t = s + 1 (input_layers[s], only for k < input_sizes[s]); w = 1 without weights, else
 * weights[k / step + t * layer_step] normalised as the fork's shortcut_multilayer_cpu does (relu:
 * relu(w) / (1e-4 + sum relu), softmax: exp(w - max) / (1e-4 + sum exp)), per feature or channel. */
static float flat_weight(const dx_layer *l, int k, int t)
{
    if (!l->nweights) return 1.f;
    int layer_step = l->nweights / (l->n + 1), step = l->outputs / layer_step;
    const float *w = l->weights + k / step;
    if (!l->weights_normalization) return w[t * layer_step];
    float max = -FLT_MAX, sum = .0001f;
    for (int u = 0; u <= l->n; ++u)
        if (max < w[u * layer_step]) max = w[u * layer_step];
    for (int u = 0; u <= l->n; ++u)
        sum += l->weights_normalization == 1 ? (w[u * layer_step] > 0 ? w[u * layer_step] : 0)
                                             : expf(w[u * layer_step] - max);
    float wt = w[t * layer_step];
    return l->weights_normalization == 1 ? (wt > 0 ? wt : 0) / sum : expf(wt - max) / sum;
}

static const float *flat_input(dx_model *m, const dx_layer *l, int i, int t)
{
    return dx_output_of(m, t == 0 ? i - 1 : l->input_layers[t - 1]);
}

static int flat_size(const dx_layer *l, int t) { return t == 0 ? l->outputs : l->input_sizes[t - 1]; }

static int backward_shortcut_flat(dx_model *m, dx_pass *p, int i, const float *gout)
{
    const dx_layer *l = &m->net->layers[i];
    float *d = dx_scratch(m, l->outputs);
    dx_activation_grad(dx_rule_of(p, i), l, l->output, gout, d);
    for (int t = 0; t <= l->n; ++t) {
        float *g = dx_pass_buf(p, t == 0 ? i - 1 : l->input_layers[t - 1]);
        int size = flat_size(l, t) < l->outputs ? flat_size(l, t) : l->outputs;
        for (int k = 0; k < size; ++k) g[k] += d[k] * flat_weight(l, k, t);
    }
    return 0;
}

/* LRP of the flat sum: z_t = w_t a_t[k] shares R[k] in proportion (Zennit's Sum rule). */
static int lrp_shortcut_flat(dx_model *m, dx_pass *p, int i, const float *rout)
{
    const dx_layer *l = &m->net->layers[i];
    float *s = dx_scratch(m, l->outputs);
    for (int k = 0; k < l->outputs; ++k) {
        double z = 0;
        for (int t = 0; t <= l->n; ++t)
            if (k < flat_size(l, t)) z += flat_weight(l, k, t) * flat_input(m, l, i, t)[k];
        s[k] = dx_lrp_share(rout[k], (float)z, dx_rule_of(p, i)->epsilon);
        p->absorbed += rout[k] - (double)s[k] * z;
    }
    for (int t = 0; t <= l->n; ++t) {
        float *r = dx_pass_buf(p, t == 0 ? i - 1 : l->input_layers[t - 1]);
        const float *a = flat_input(m, l, i, t);
        int size = flat_size(l, t) < l->outputs ? flat_size(l, t) : l->outputs;
        for (int k = 0; k < size; ++k) r[k] += s[k] * flat_weight(l, k, t) * a[k];
    }
    return 0;
}

/* out = f(alpha*prev + beta*from) where the two overlap (Darknet's shortcut_cpu: the from layer
 * is sampled with a stride when it is larger, written with a step when it is smaller), and
 * out = f(prev) elsewhere. prev: out_c x out_h x out_w; from: c x h x w. */
int dx_backward_shortcut(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    if (l->sum_flat) return backward_shortcut_flat(m, p, i, gout);
    float *d = dx_scratch(m, l->outputs);
    dx_activation_grad(dx_rule_of(p, i), l, l->output, gout, d);

    int stride = l->w / l->out_w, sample = l->out_w / l->w;
    if (stride < 1) stride = 1;
    if (sample < 1) sample = 1;
    int minw = l->w < l->out_w ? l->w : l->out_w;
    int minh = l->h < l->out_h ? l->h : l->out_h;
    int minc = l->c < l->out_c ? l->c : l->out_c;

    float *gprev = dx_pass_buf(p, i - 1);
    float *gfrom = dx_pass_buf(p, l->input_layers[0]);
    /* gfrom first: when index == i-1 the two buffers are the same and both terms add up */
    for (int k = 0; k < minc; ++k)
        for (int y = 0; y < minh; ++y)
            for (int x = 0; x < minw; ++x) {
                int out_index = x * sample + l->out_w * (y * sample + l->out_h * k);
                int from_index = x * stride + l->w * (y * stride + l->h * k);
                gfrom[from_index] += l->beta * d[out_index];
                d[out_index] *= l->alpha;
            }
    for (int k = 0; k < l->outputs; ++k) gprev[k] += d[k];
    return 0;
}

/* LRP: each source gets its slice back (sources may be any layers below). */
int dx_lrp_route(dx_model *m, dx_pass *p, int i, const float *rout, dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    int offset = 0;
    for (int s = 0; s < l->n; ++s) {
        int part = l->input_sizes[s] / l->groups;
        float *rin = dx_pass_buf(p, l->input_layers[s]) + (size_t)part * l->group_id;
        for (int k = 0; k < part; ++k) rin[k] += rout[offset + k];
        offset += part;
    }
    return 0;
}

/* LRP: the activation passes relevance through; where the two inputs overlap, z = alpha*prev +
 * beta*from is split in proportion to each input's contribution, R_prev = alpha*prev R / stab(z),
 * R_from = beta*from R / stab(z) (Zennit's Sum rule); elsewhere out = prev takes all. */
int dx_lrp_shortcut(dx_model *m, dx_pass *p, int i, const float *rout, dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    if (l->sum_flat) return lrp_shortcut_flat(m, p, i, rout);
    int stride = l->w / l->out_w, sample = l->out_w / l->w;
    if (stride < 1) stride = 1;
    if (sample < 1) sample = 1;
    int minw = l->w < l->out_w ? l->w : l->out_w;
    int minh = l->h < l->out_h ? l->h : l->out_h;
    int minc = l->c < l->out_c ? l->c : l->out_c;
    const float *prev = dx_output_of(m, i - 1), *from = dx_output_of(m, l->input_layers[0]);
    float *r = dx_scratch(m, l->outputs);
    for (int k = 0; k < l->outputs; ++k) r[k] = rout[k];
    float *rfrom = dx_pass_buf(p, l->input_layers[0]);
    for (int k = 0; k < minc; ++k)
        for (int y = 0; y < minh; ++y)
            for (int x = 0; x < minw; ++x) {
                int out_index = x * sample + l->out_w * (y * sample + l->out_h * k);
                int from_index = x * stride + l->w * (y * stride + l->h * k);
                float zp = l->alpha * prev[out_index], zf = l->beta * from[from_index];
                float s = dx_lrp_share(r[out_index], zp + zf, dx_rule_of(p, i)->epsilon);
                p->absorbed += r[out_index] - (double)s * (zp + zf);
                rfrom[from_index] += s * zf;
                r[out_index] = s * zp;
            }
    float *rprev = dx_pass_buf(p, i - 1);
    for (int k = 0; k < l->outputs; ++k) rprev[k] += r[k];
    return 0;
}
