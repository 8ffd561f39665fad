/* Incremental inference: after a forward on a clean input, run the network on an input that
 * differs from it only inside a rectangle (an occluded window), recomputing in each layer only
 * the outputs that rectangle reaches. A convolution or a max-pool widens the changed rectangle
 * by its kernel and shrinks it by its stride; a layer that mixes all positions (avgpool,
 * connected, softmax, a head) or one without a region forward is recomputed whole by Darknet.
 * Outputs outside the rectangles keep their clean values, so the result equals a full forward
 * up to the summation order of the matrix products (tests/test_incremental.c).
 *
 * The walk is here; each layer type's reach and the arithmetic of a region are beside the
 * layer's backward in layers/ (its row of the table, layers/table.c). */
#include <stdlib.h>
#include <string.h>
#include "error.h"
#include "layers/layers.h"
#include "memory.h"
#include "model.h"

struct dx_incremental {
    dx_model *m;
    float *clean_input;   /* net c x h x w */
    float **clean;        /* each layer's output at the clean input */
    dx_rect *changed;     /* n + 1: [0] the input, [i + 1] layer i's output, since the clean forward */
    unsigned char *whole; /* n + 1: the whole output changed (also for outputs without a geometry) */
};

static int is_empty(dx_rect r) { return r.y0 >= r.y1 || r.x0 >= r.x1; }

static dx_rect union_of(dx_rect a, dx_rect b)
{
    if (is_empty(a)) return b;
    if (is_empty(b)) return a;
    return (dx_rect){a.y0 < b.y0 ? a.y0 : b.y0, a.x0 < b.x0 ? a.x0 : b.x0,
                     a.y1 > b.y1 ? a.y1 : b.y1, a.x1 > b.x1 ? a.x1 : b.x1};
}

static int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

dx_rect dx_window_reach(dx_rect in, int size, int stride, int offset, int out_h, int out_w)
{
    dx_rect r = {floor_div(in.y0 - offset - size + 1 + stride - 1, stride), floor_div(in.x0 - offset - size + 1 + stride - 1, stride),
                 floor_div(in.y1 - 1 - offset, stride) + 1, floor_div(in.x1 - 1 - offset, stride) + 1};
    if (r.y0 < 0) r.y0 = 0;
    if (r.x0 < 0) r.x0 = 0;
    if (r.y1 > out_h) r.y1 = out_h;
    if (r.x1 > out_w) r.x1 = out_w;
    return r;
}

/* The changed rectangle of layer j's output (j = -1: the input); *whole set when all of it. */
static dx_rect changed_of(const dx_incremental *inc, int j, int *whole)
{
    *whole = inc->whole[j + 1];
    return inc->changed[j + 1];
}

/* Whether layer i's output is a c x h x w image the rectangles can index. */
static int has_geometry(const dx_layer *l)
{
    return l->out_h > 0 && l->out_w > 0 && (long)l->out_c * l->out_h * l->out_w == l->outputs;
}

/* What changed in layer i's output, from what changed below it: a rectangle, or *whole. */
static dx_rect reach(const dx_incremental *inc, int i, int *whole)
{
    const dx_layer *l = &inc->m->net->layers[i];
    dx_rect none = {0, 0, 0, 0};
    int below_whole;
    dx_rect below = changed_of(inc, i - 1, &below_whole);
    *whole = 0;
    if (l->type == DX_LAYER_ROUTE || dx_layer_source_count(l) > 1) {
        int sources = dx_layer_source_count(l), any_whole = 0;
        dx_rect r = none;
        for (int s = 0; s < sources; ++s) {
            int j = dx_layer_source(l, i, s), w;
            dx_rect c = changed_of(inc, j, &w);
            const dx_layer *src = &inc->m->net->layers[j];
            if (w || (!is_empty(c) && (src->out_w != l->out_w || src->out_h != l->out_h))) any_whole = 1;
            r = union_of(r, c);
        }
        if (l->type == DX_LAYER_SHORTCUT && (l->w != l->out_w || l->h != l->out_h || l->c != l->out_c)) any_whole = !is_empty(r) || any_whole;
        *whole = any_whole || (!is_empty(r) && (!has_geometry(l) || !dx_layer_has_region_forward(l)));
        return *whole ? none : r;
    }
    if (!below_whole && is_empty(below)) return none;
    if (!below_whole && has_geometry(l) && dx_layer_has_region_forward(l) && dx_layer_ops_of(l)->reach)
        return dx_layer_ops_of(l)->reach(l, below);
    *whole = 1;
    return none;
}

dx_incremental *dx_incremental_begin(dx_model *m, dx_error *err)
{
    const char *subject = "a copy of every layer's output";
    dx_incremental *inc = dx_alloc(1, sizeof *inc, subject, err);
    int n = m->n;
    if (inc) {
        inc->m = m;
        inc->clean_input = dx_alloc(m->net->inputs, sizeof(float), subject, err);
        inc->clean = dx_alloc(n, sizeof(float *), subject, err);
        inc->changed = dx_alloc((size_t)n + 1, sizeof(dx_rect), subject, err);
        inc->whole = dx_alloc((size_t)n + 1, 1, subject, err);
    }
    int ok = inc && inc->clean_input && inc->clean && inc->changed && inc->whole;
    for (int i = 0; ok && i < n; ++i) {
        const dx_layer *l = &m->net->layers[i];
        ok = (inc->clean[i] = dx_alloc(l->outputs, sizeof(float), subject, err)) != NULL;
        if (ok) memcpy(inc->clean[i], l->output, sizeof(float) * l->outputs);
    }
    if (!ok) {
        dx_incremental_end(inc);
        return NULL;
    }
    memcpy(inc->clean_input, m->input, sizeof(float) * m->net->inputs);
    return inc;
}

long dx_incremental_forward(dx_incremental *inc, dx_rect changed)
{
    dx_model *m = inc->m;
    long recomputed = 0;
    inc->changed[0] = changed;
    inc->whole[0] = 0;
    for (int i = 0; i < m->n; ++i) {
        int whole;
        dx_rect r = reach(inc, i, &whole);
        inc->changed[i + 1] = r;
        inc->whole[i + 1] = (unsigned char)whole;
        const dx_layer *l = &m->net->layers[i];
        if (whole || (r.y0 == 0 && r.x0 == 0 && r.y1 == l->out_h && r.x1 == l->out_w)) {
            inc->whole[i + 1] = 1;
            dx_forward_layer(m, i);
            recomputed += l->outputs;
        } else if (!is_empty(r)) {
            dx_layer_forward_region(m, i, r);
            recomputed += (long)l->out_c * (r.y1 - r.y0) * (r.x1 - r.x0);
        }
    }
    return recomputed;
}

/* Copies rectangle r of every channel of a c x h x w image from src to dst. */
static void copy_rect(float *dst, const float *src, int c, int h, int w, dx_rect r)
{
    for (int k = 0; k < c; ++k)
        for (int y = r.y0; y < r.y1; ++y) {
            size_t at = ((size_t)k * h + y) * w + r.x0;
            memcpy(dst + at, src + at, sizeof(float) * (r.x1 - r.x0));
        }
}

void dx_incremental_restore(dx_incremental *inc)
{
    dx_model *m = inc->m;
    const dx_net *net = m->net;
    copy_rect(m->input, inc->clean_input, net->c, net->h, net->w, inc->changed[0]);
    for (int i = 0; i < m->n; ++i) {
        const dx_layer *l = &net->layers[i];
        if (inc->whole[i + 1]) memcpy(l->output, inc->clean[i], sizeof(float) * l->outputs);
        else if (!is_empty(inc->changed[i + 1])) copy_rect(l->output, inc->clean[i], l->out_c, l->out_h, l->out_w, inc->changed[i + 1]);
        inc->changed[i + 1] = (dx_rect){0, 0, 0, 0};
        inc->whole[i + 1] = 0;
    }
    inc->changed[0] = (dx_rect){0, 0, 0, 0};
}

void dx_incremental_end(dx_incremental *inc)
{
    if (!inc) return;
    for (int i = 0; inc->clean && i < inc->m->n; ++i) free(inc->clean[i]);
    free(inc->clean);
    free(inc->clean_input);
    free(inc->changed);
    free(inc->whole);
    free(inc);
}
