/* Activation maximisation: the optimiser of visualize.h. The unit's gradient is the plugin's own
 * reverse pass (dx_backward seeded at the unit's layer); the regularisers' gradients are closed
 * forms computed here. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "engine.h"
#include "error.h"
#include "memory.h"
#include "model.h"
#include "rng.h"
#include "targets.h"
#include "visualize/visualize.h"

void dx_vis_options_init(dx_vis_options *o)
{
    *o = (dx_vis_options){.steps = 128, .lr = 0.03f, .jitter = 2, .blur = 0.5f, .blur_every = 4, .l2 = 1.f,
                          .tv = 4.f, .seed = 1};
}

int dx_vis_check_unit(const dx_model *m, const dx_vis_unit *u, dx_error *err)
{
    if (u->cls >= 0) {
        dx_target t;
        return dx_class_target(m, u->cls, DX_SCORE_LOGIT, &t, err);
    }
    if (u->layer < 0 || u->layer >= m->n) {
        dx_set_error(err, "-layer %d is out of range: %s has layers 0..%d", u->layer, m->cfg_path, m->n - 1);
        return -1;
    }
    const dx_layer *l = &m->net->layers[u->layer];
    if (u->channel < 0 || u->channel >= l->out_c) {
        dx_set_error(err, "-channel %d is out of range: layer %d [%s] has channels 0..%d", u->channel, u->layer,
                     l->type_name, l->out_c - 1);
        return -1;
    }
    return 0;
}

float dx_vis_unit_value(const dx_model *m, const dx_vis_unit *u)
{
    if (u->cls >= 0) return m->net->layers[dx_find_logit_layer(m)].output[u->cls];
    const dx_layer *l = &m->net->layers[u->layer];
    int plane = l->out_h * l->out_w;
    const float *a = l->output + (size_t)u->channel * plane;
    double sum = 0;
    for (int p = 0; p < plane; ++p) sum += a[p];
    return (float)(sum / plane);
}

/* Forward on x, the unit's gradient w.r.t. the input into grad (n floats). */
static int unit_gradient(dx_model *m, const dx_vis_unit *u, const float *x, float *grad, double *unit, dx_error *err)
{
    dx_forward(m, x);
    if (unit) *unit = dx_vis_unit_value(m, u);
    if (!grad) return 0;
    int top = u->cls >= 0 ? dx_find_logit_layer(m) : u->layer;
    const dx_layer *l = &m->net->layers[top];
    float *seed = dx_alloc((size_t)l->outputs, sizeof(float), "the unit's seed", err);
    if (!seed) return -1;
    if (u->cls >= 0) {
        seed[u->cls] = 1.f;
    } else { /* d mean / d a = 1 / (h w) on the channel's plane */
        int plane = l->out_h * l->out_w;
        for (int p = 0; p < plane; ++p) seed[(size_t)u->channel * plane + p] = 1.f / plane;
    }
    int rc = dx_backward(m, top, seed, -1, err);
    free(seed);
    if (rc != 0) return -1;
    memcpy(grad, dx_grad_of(m, -1), sizeof(float) * m->net->inputs);
    return 0;
}

/* The regularisers' penalty at x (c planes of h x w), their negated gradient added to grad
 * (may be NULL). */
static double regularise(const dx_vis_options *o, const float *x, int c, int h, int w, float *grad)
{
    size_t n = (size_t)c * h * w;
    double l2 = 0, tv = 0;
    for (size_t i = 0; i < n; ++i) {
        double d = x[i] - 0.5;
        l2 += d * d;
        if (grad) grad[i] -= (float)(o->l2 * 2 * d / n);
    }
    for (int k = 0; k < c; ++k)
        for (int y = 0; y < h; ++y)
            for (int xx = 0; xx < w; ++xx) {
                size_t i = ((size_t)k * h + y) * w + xx;
                for (int dir = 0; dir < 2; ++dir) {
                    if (dir == 0 ? xx + 1 >= w : y + 1 >= h) continue;
                    size_t j = dir == 0 ? i + 1 : i + w;
                    double d = (double)x[i] - x[j];
                    tv += d * d;
                    if (grad) {
                        float g = (float)(o->tv * 2 * d / n);
                        grad[i] -= g;
                        grad[j] += g;
                    }
                }
            }
    return o->l2 * l2 / n + o->tv * tv / n;
}

int dx_vis_objective(dx_model *m, const dx_vis_unit *u, const dx_vis_options *o, const float *x, float *grad,
                     double *value, double *unit, dx_error *err)
{
    double v;
    if (unit_gradient(m, u, x, grad, &v, err) != 0) return -1;
    const dx_net *net = m->net;
    double penalty = regularise(o, x, net->c, net->h, net->w, grad);
    if (unit) *unit = v;
    if (value) *value = v - penalty;
    return 0;
}

/* dst = src rolled by (dy, dx), wrapping around: dst[y][x] = src[y - dy][x - dx]; (-dy, -dx) rolls
 * back. */
static void roll(const float *src, float *dst, int c, int h, int w, int dy, int dx)
{
    for (int k = 0; k < c; ++k)
        for (int y = 0; y < h; ++y) {
            int sy = ((y - dy) % h + h) % h;
            for (int x = 0; x < w; ++x) {
                int sx = ((x - dx) % w + w) % w;
                dst[((size_t)k * h + y) * w + x] = src[((size_t)k * h + sy) * w + sx];
            }
        }
}

/* A separable Gaussian blur of sigma pixels on each plane of x in place (edges repeated); tmp
 * holds c x h x w floats. */
static void blur(float *x, float *tmp, int c, int h, int w, float sigma)
{
    enum { MAX_RADIUS = 32 };
    float kernel[2 * MAX_RADIUS + 1];
    int r = (int)ceilf(3 * sigma);
    if (r > MAX_RADIUS) r = MAX_RADIUS;
    float sum = 0;
    for (int d = -r; d <= r; ++d) sum += kernel[d + r] = expf(-(float)(d * d) / (2 * sigma * sigma));
    for (int d = 0; d <= 2 * r; ++d) kernel[d] /= sum;
    for (int pass = 0; pass < 2; ++pass) { /* rows into tmp, then columns back into x */
        const float *src = pass == 0 ? x : tmp;
        float *dst = pass == 0 ? tmp : x;
        for (int k = 0; k < c; ++k)
            for (int y = 0; y < h; ++y)
                for (int xx = 0; xx < w; ++xx) {
                    float acc = 0;
                    for (int d = -r; d <= r; ++d) {
                        int sy = pass == 1 ? y + d : y, sx = pass == 0 ? xx + d : xx;
                        sy = sy < 0 ? 0 : sy >= h ? h - 1 : sy;
                        sx = sx < 0 ? 0 : sx >= w ? w - 1 : sx;
                        acc += kernel[d + r] * src[((size_t)k * h + sy) * w + sx];
                    }
                    dst[((size_t)k * h + y) * w + xx] = acc;
                }
    }
}

int dx_vis_top1(dx_model *m, const float *x, double *prob)
{
    dx_forward(m, x);
    const dx_layer *head = &m->net->layers[m->head];
    int best = 0;
    for (int k = 1; k < head->outputs; ++k)
        if (head->output[k] > head->output[best]) best = k;
    if (prob) *prob = head->output[best];
    return best;
}

int dx_visualize(dx_model *m, const dx_vis_unit *u, const dx_vis_options *o, dx_vis_result *r, dx_error *err)
{
    memset(r, 0, sizeof *r);
    if (dx_vis_check_unit(m, u, err) != 0) return -1;
    const dx_net *net = m->net;
    int c = net->c, h = net->h, w = net->w, rc = -1;
    size_t n = (size_t)net->inputs;
    float *x = dx_alloc(n, sizeof(float), "the visualised image", err);
    float *moved = dx_alloc(n, sizeof(float), "the jittered image", err);
    float *g = dx_alloc(n, sizeof(float), "the image's gradient", err);
    float *gx = dx_alloc(n, sizeof(float), "the image's gradient", err);
    if (!x || !moved || !g || !gx) goto done;
    double start = dx_now_ms();
    dx_rng rng;
    dx_rng_init(&rng, o->seed);
    for (size_t i = 0; i < n; ++i) x[i] = (float)(0.4 + 0.2 * dx_rng_uniform(&rng)); /* noise around grey */
    if (unit_gradient(m, u, x, NULL, &r->start_objective, err) != 0) goto done;
    for (int s = 0; s < o->steps; ++s) {
        int dy = 0, dx = 0;
        if (o->jitter > 0) {
            dy = (int)(dx_rng_next(&rng) % (unsigned)(2 * o->jitter + 1)) - o->jitter;
            dx = (int)(dx_rng_next(&rng) % (unsigned)(2 * o->jitter + 1)) - o->jitter;
        }
        roll(x, moved, c, h, w, dy, dx);
        if (unit_gradient(m, u, moved, g, NULL, err) != 0) goto done;
        roll(g, gx, c, h, w, -dy, -dx); /* the chain rule through the roll: its transpose */
        regularise(o, x, c, h, w, gx);
        double ss = 0;
        for (size_t i = 0; i < n; ++i) ss += (double)gx[i] * gx[i];
        float step = (float)(o->lr / (sqrt(ss / n) + 1e-12));
        for (size_t i = 0; i < n; ++i) {
            float v = x[i] + step * gx[i];
            x[i] = v < 0.f ? 0.f : v > 1.f ? 1.f : v;
        }
        if (o->blur > 0 && (s + 1) % o->blur_every == 0) blur(x, moved, c, h, w, o->blur);
    }
    if (unit_gradient(m, u, x, NULL, &r->objective, err) != 0) goto done;
    r->top1 = -1;
    if (!dx_is_detector(m)) {
        r->top1 = dx_vis_top1(m, x, &r->top1_prob);
        if (u->cls >= 0) r->class_prob = m->net->layers[m->head].output[u->cls];
    }
    r->ms = dx_now_ms() - start;
    r->image = x;
    x = NULL;
    rc = 0;
done:
    free(x);
    free(moved);
    free(g);
    free(gx);
    return rc;
}
