/* [route] and [shortcut]: the layers that read other layers than the one below. */
#include <string.h>
#include "layers.h"

/* out = concat(layers[input_layers[0]].output, ...): each source gets its slice back. */
int dx_backward_route(dx_model *m, int i, const float *gout, dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    int offset = 0;
    for (int s = 0; s < l->n; ++s) {
        float *gin = dx_grad_of(m, l->input_layers[s]);
        for (int k = 0; k < l->input_sizes[s]; ++k) gin[k] += gout[offset + k];
        offset += l->input_sizes[s];
    }
    return 0;
}

/* Incremental inference: rectangle r of each source's channels (sources as large as the output). */
void dx_forward_region_route(dx_model *m, int i, dx_rect r)
{
    const dx_layer *l = &m->net->layers[i];
    int plane = l->out_h * l->out_w, channel = 0;
    for (int s = 0; s < l->n; ++s) {
        const float *src = dx_output_of(m, l->input_layers[s]);
        for (int k = 0; k < l->input_sizes[s] / plane; ++k, ++channel)
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

/* out = f(alpha*prev + beta*from) where the two overlap (Darknet's shortcut_cpu: the from layer
 * is sampled with a stride when it is larger, written with a step when it is smaller), and
 * out = f(prev) elsewhere. prev: out_c x out_h x out_w; from: c x h x w. */
int dx_backward_shortcut(dx_model *m, int i, const float *gout, dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    float *d = dx_scratch(m, l->outputs);
    dx_activation_grad(m, l, l->output, gout, d);

    int stride = l->w / l->out_w, sample = l->out_w / l->w;
    if (stride < 1) stride = 1;
    if (sample < 1) sample = 1;
    int minw = l->w < l->out_w ? l->w : l->out_w;
    int minh = l->h < l->out_h ? l->h : l->out_h;
    int minc = l->c < l->out_c ? l->c : l->out_c;

    float *gprev = dx_grad_of(m, i - 1);
    float *gfrom = dx_grad_of(m, l->input_layers[0]);
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
int dx_lrp_route(dx_model *m, dx_lrp *p, int i, const float *rout, dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    int offset = 0;
    for (int s = 0; s < l->n; ++s) {
        float *rin = dx_lrp_rel_of(m, p, l->input_layers[s]);
        for (int k = 0; k < l->input_sizes[s]; ++k) rin[k] += rout[offset + k];
        offset += l->input_sizes[s];
    }
    return 0;
}

/* LRP: the activation passes relevance through; where the two inputs overlap, z = alpha*prev +
 * beta*from is split in proportion to each input's contribution, R_prev = alpha*prev R / stab(z),
 * R_from = beta*from R / stab(z) (Zennit's Sum rule); elsewhere out = prev takes all. */
int dx_lrp_shortcut(dx_model *m, dx_lrp *p, int i, const float *rout, dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    int stride = l->w / l->out_w, sample = l->out_w / l->w;
    if (stride < 1) stride = 1;
    if (sample < 1) sample = 1;
    int minw = l->w < l->out_w ? l->w : l->out_w;
    int minh = l->h < l->out_h ? l->h : l->out_h;
    int minc = l->c < l->out_c ? l->c : l->out_c;
    const float *prev = dx_output_of(m, i - 1), *from = dx_output_of(m, l->input_layers[0]);
    float *r = dx_scratch(m, l->outputs);
    for (int k = 0; k < l->outputs; ++k) r[k] = rout[k];
    float *rfrom = dx_lrp_rel_of(m, p, l->input_layers[0]);
    for (int k = 0; k < minc; ++k)
        for (int y = 0; y < minh; ++y)
            for (int x = 0; x < minw; ++x) {
                int out_index = x * sample + l->out_w * (y * sample + l->out_h * k);
                int from_index = x * stride + l->w * (y * stride + l->h * k);
                float zp = l->alpha * prev[out_index], zf = l->beta * from[from_index];
                float s = dx_lrp_share(r[out_index], zp + zf, p->rules[i].epsilon);
                p->absorbed += r[out_index] - (double)s * (zp + zf);
                rfrom[from_index] += s * zf;
                r[out_index] = s * zp;
            }
    float *rprev = dx_lrp_rel_of(m, p, i - 1);
    for (int k = 0; k < l->outputs; ++k) rprev[k] += r[k];
    return 0;
}
