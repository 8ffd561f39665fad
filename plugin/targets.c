/* Targets: the score a backward pass starts from, and its gradient at one layer's output.
 * Class targets: the default score is the class's logit (the softmax's input): the Grad-CAM
 * paper's y^c, not saturated when the model is confident, and not mixed with the other
 * classes' scores as the softmax probability's gradient is. -score prob explains the
 * probability instead (the softmax's Jacobian is applied by its backward). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "detect.h"
#include "error.h"
#include "layers/layers.h"
#include "memory.h"
#include "model.h"
#include "targets.h"

int dx_find_logit_layer(const dx_model *m)
{
    if (m->net->layers[m->head].type == DX_LAYER_SOFTMAX && m->head > 0) return m->head - 1;
    return m->head;
}

/* score = output[cls]; seed = one-hot */
static float class_eval(const dx_target *t, const dx_model *m, float *seed)
{
    const dx_layer *l = &m->net->layers[t->layer];
    if (seed) {
        memset(seed, 0, sizeof(float) * l->outputs);
        seed[t->cls] = 1.f;
    }
    return l->output[t->cls];
}

int dx_class_target(const dx_model *m, int cls, dx_score kind, dx_target *t, dx_error *err)
{
    const dx_layer *head = &m->net->layers[m->head];
    if (head->type == DX_LAYER_OTHER) { /* e.g. AlexeyAB's [Gaussian_yolo]: neither classes nor boxes we know */
        dx_set_error(err, "%s: its output layer %d [%s] is a head darknet-explain does not read", m->cfg_path,
                     m->head, head->type_name);
        return -1;
    }
    int classes = dx_class_count(m);
    if (cls < 0 || cls >= classes) {
        dx_set_error(err, "class %d is out of range: the model has %d classes (0..%d)", cls, classes,
                     classes - 1);
        return -1;
    }
    memset(t, 0, sizeof *t);
    t->layer = kind == DX_SCORE_PROB ? m->head : dx_find_logit_layer(m);
    t->eval = class_eval;
    t->cls = cls;
    return 0;
}

/* Box targets, from the head's output at the box's anchor and cell (Darknet's forward has
 * already applied the logistic / softmax there, and the head's backward applies their
 * derivatives, so the seed is the derivative with respect to those outputs):
 *   score = objectness x class probability     seed: obj entry = prob, class entry = obj
 *   class, obj: that entry                     seed: 1 there
 *   x = (col + out_x) / grid width             seed: 1 / grid width (y alike)
 *   w = exp(out_w) x anchor width / net width  seed: w (h alike; [region] anchors are in cells;
 *       [yolo] new_coords=1: w = 4 out_w^2 x anchor width / net width, seed 8 out_w anchor / net)
 * [region] with background=1 has objectness 1 (a constant: its seed is 0). */
static float box_eval(const dx_target *t, const dx_model *m, float *seed)
{
    const dx_layer *l = &m->net->layers[t->layer];
    int coords = dx_head_coords(l), cell = t->row * l->w + t->col;
    int base = dx_head_entry(l, t->anchor, 0, cell), plane = l->w * l->h;
    int obj_at = dx_head_entry(l, t->anchor, coords, cell), cls_at = dx_head_entry(l, t->anchor, coords + 1 + t->cls, cell);
    int constant_obj = l->type == DX_LAYER_REGION && l->background;
    float obj = constant_obj ? 1.f : l->output[obj_at], prob = l->output[cls_at];
    if (seed) memset(seed, 0, sizeof(float) * l->outputs);
    float score = 0;
    switch (t->box_kind) {
    case DX_BOX_SCORE:
        score = obj * prob;
        if (seed) {
            if (!constant_obj) seed[obj_at] = prob;
            seed[cls_at] = obj;
        }
        break;
    case DX_BOX_CLASS:
        score = prob;
        if (seed) seed[cls_at] = 1.f;
        break;
    case DX_BOX_OBJ:
        score = obj;
        if (seed && !constant_obj) seed[obj_at] = 1.f;
        break;
    case DX_BOX_X:
    case DX_BOX_Y: {
        int is_y = t->box_kind == DX_BOX_Y, grid = is_y ? l->h : l->w;
        int at = base + is_y * plane;
        score = ((is_y ? t->row : t->col) + l->output[at]) / grid;
        if (seed) seed[at] = 1.f / grid;
        break;
    }
    case DX_BOX_W:
    case DX_BOX_H: {
        int is_h = t->box_kind == DX_BOX_H, at = base + (2 + is_h) * plane;
        int anchor = l->type == DX_LAYER_YOLO ? l->mask[t->anchor] : t->anchor;
        float size = l->type == DX_LAYER_YOLO ? (is_h ? m->net->h : m->net->w) : (is_h ? l->h : l->w);
        float v = l->output[at], prior = l->biases[2 * anchor + is_h] / size;
        if (l->type == DX_LAYER_YOLO && l->new_coords) { /* w = 4 v^2 prior */
            score = v * v * 4 * prior;
            if (seed) seed[at] = 8 * v * prior;
        } else {
            score = expf(v) * prior;
            if (seed) seed[at] = score;
        }
        break;
    }
    }
    return score;
}

int dx_box_target_of(const dx_model *m, const dx_detection *d, dx_box_target kind, dx_target *t,
                     dx_error *err)
{
    const dx_layer *l = d->layer >= 0 && d->layer < m->n ? &m->net->layers[d->layer] : NULL;
    if (!l || (l->type != DX_LAYER_YOLO && l->type != DX_LAYER_REGION)) {
        dx_set_error(err, "box target: layer %d is not a [yolo] or [region] head", d->layer);
        return -1;
    }
    if (d->anchor < 0 || d->anchor >= l->n || d->row < 0 || d->row >= l->h || d->col < 0 ||
        d->col >= l->w || d->cls < 0 || d->cls >= l->classes || (unsigned)kind > DX_BOX_H) {
        dx_set_error(err, "box target: anchor %d, cell (%d, %d), class %d, target %d out of range for "
                          "layer %d (%d anchors, %dx%d cells, %d classes)", d->anchor, d->row, d->col,
                     d->cls, (int)kind, d->layer, l->n, l->h, l->w, l->classes);
        return -1;
    }
    memset(t, 0, sizeof *t);
    t->layer = d->layer;
    t->eval = box_eval;
    t->cls = d->cls;
    t->anchor = d->anchor;
    t->row = d->row;
    t->col = d->col;
    t->box_kind = kind;
    return 0;
}

float dx_target_score(const dx_target *t, const dx_model *m) { return t->eval(t, m, NULL); }

int dx_target_backward(dx_model *m, const dx_target *t, int stop, float *score, dx_error *err)
{
    size_t outputs = (size_t)m->net->layers[t->layer].outputs;
    float *seed = dx_alloc(outputs, sizeof(float), "the target's gradient", err);
    if (!seed) return -1;
    float s = t->eval(t, m, seed);
    if (score) *score = s;
    int rc = dx_backward(m, t->layer, seed, stop, err);
    free(seed);
    return rc;
}

int dx_auto_layers(const dx_model *m, int top, int *layers, dx_error *err)
{
    int start = dx_default_layer_for(m, top);
    if (start < 0) {
        dx_set_error(err, "-layer auto: no layer with a feature map feeds layer %d", top);
        return -1;
    }
    const dx_net *net = m->net;
    /* feeds[i]: layer i's output reaches `start` */
    char *feeds = dx_alloc((size_t)start + 1, 1, "the layers feeding the target", err);
    if (!feeds) return -1;
    feeds[start] = 1;
    int n = 0;
    for (int i = start; i >= 0 && n < DX_MAX_LAYERS; --i) {
        if (!feeds[i]) continue;
        const dx_layer *l = &net->layers[i];
        for (int s = 0; s < dx_layer_source_count(l); ++s) {
            int j = dx_layer_source(l, i, s);
            if (j >= 0 && j < i) feeds[j] = 1;
        }
        /* the last layer of each resolution from stride 8 down (a YOLO head's P3..P5 and coarser) */
        int keep = i == start || (l->out_w * l->out_h > 1 && l->out_w * 8 <= net->w);
        for (int k = 0; k < n && keep; ++k)
            keep = net->layers[layers[k]].out_w != l->out_w || net->layers[layers[k]].out_h != l->out_h;
        if (keep) layers[n++] = i;
    }
    free(feeds);
    return n;
}
