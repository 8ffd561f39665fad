/* Counterfactual search (counterfactual.h): proximal gradient descent on the change d = x' - x0.
 * Each step: a forward on x0 + d, the goal's hinge and its input gradient from the plugin's own
 * reverse pass (dx_backward seeded at the logit layer or at the heads), that gradient scaled to
 * RMS 1 over the pixels allowed to change (so that lr is a step in pixel units whatever the
 * model's score scale), plus tv times TV's subgradient; then the L1 proximal step (soft
 * threshold lr * l1), the projection onto x' in [0,1], and d = 0 outside the mask. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "counterfactual/counterfactual.h"
#include "detect.h"
#include "engine.h"
#include "error.h"
#include "io/image.h"
#include "memory.h"
#include "model.h"
#include "targets.h"

/* The search's state shared by the goal's evaluations. */
typedef struct {
    const dx_cf_goal *g;
    float margin;
    dx_box ref;   /* detectors: the goal's box in the network input frame (fractions), on x0 */
    float *seed;  /* the largest head's or the logit layer's outputs floats */
    float *tmp;   /* the same: one box target's seed */
} goal_state;

static int is_head(const dx_layer *l) { return l->type == DX_LAYER_YOLO || l->type == DX_LAYER_REGION; }

/* The largest of j != skip among v[0..n) (index). */
static int best_other(const float *v, int n, int skip)
{
    int best = -1;
    for (int j = 0; j < n; ++j)
        if (j != skip && (best < 0 || v[j] > v[best])) best = j;
    return best;
}

/* Classifiers: gap = logit[up] - logit[down] for the pair the goal compares; the hinge's
 * gradient d(margin - gap)/dx into grad when the hinge is active. */
static int classifier_goal(dx_model *m, goal_state *s, float *grad, float *gap, int *active, dx_error *err)
{
    const dx_cf_goal *g = s->g;
    int L = dx_find_logit_layer(m), n = dx_class_count(m);
    const float *logit = dx_output_of(m, L);
    int up, down;
    if (g->kind == DX_CF_TO_CLASS) up = g->to, down = best_other(logit, n, g->to);
    else down = g->cls, up = best_other(logit, n, g->cls);
    *gap = logit[up] - logit[down];
    *active = *gap < s->margin;
    if (!grad || !*active) return 0;
    memset(s->seed, 0, sizeof(float) * m->net->layers[L].outputs);
    s->seed[up] = -1.f;
    s->seed[down] = 1.f;
    if (dx_backward(m, L, s->seed, -1, err) != 0) return -1;
    memcpy(grad, dx_grad_of(m, -1), sizeof(float) * m->net->inputs);
    return 0;
}

/* Adds w x d(score of (layer, anchor, row, col, cls))/d(head output) to s->seed. */
static int add_term(dx_model *m, goal_state *s, int layer, int anchor, int cell, int cls, float w, dx_error *err)
{
    const dx_layer *l = &m->net->layers[layer];
    dx_detection d = {.layer = layer, .anchor = anchor, .row = cell / l->w, .col = cell % l->w, .cls = cls};
    dx_target t;
    if (dx_box_target_of(m, &d, DX_BOX_SCORE, &t, err) != 0) return -1;
    t.eval(&t, m, s->tmp);
    for (int k = 0; k < l->outputs; ++k) s->seed[k] += w * s->tmp[k];
    return 0;
}

/* Detectors, over every head's anchor and cell whose box overlaps the goal's by DX_CF_OVERLAP:
 * the highest score of the box's class (to push under thresh - margin) and of class `to`
 * (DX_CF_BOX_CLASS: to lift over thresh + margin). gap = the smaller of thresh - the first and
 * the second - thresh. With grad: one backward per head holding an active hinge term. */
static int detector_goal(dx_model *m, goal_state *s, float *grad, float *gap, int *active, dx_error *err)
{
    const dx_cf_goal *g = s->g;
    const dx_net *net = m->net;
    int push = g->kind == DX_CF_DISAPPEAR ? -1 : g->box.cls, lift = g->kind == DX_CF_BOX_CLASS;
    float high = 0, best_to = 0; /* scores are >= 0 */
    int to_layer = -1, to_anchor = 0, to_cell = 0;
    for (int i = 0; i < m->n; ++i) {
        const dx_layer *l = &net->layers[i];
        if (!is_head(l)) continue;
        for (int a = 0; a < l->n; ++a)
            for (int cell = 0; cell < l->w * l->h; ++cell) {
                if (dx_iou(dx_head_box(l, a, cell / l->w, cell % l->w, net->w, net->h), s->ref) < DX_CF_OVERLAP)
                    continue;
                float obj = dx_head_objectness(l, a, cell);
                for (int k = 0; k < l->classes; ++k) {
                    float sc = obj * dx_head_class_prob(l, a, cell, k);
                    if ((push < 0 || k == push) && sc > high) high = sc;
                    if (lift && k == g->to && (to_layer < 0 || sc > best_to))
                        best_to = sc, to_layer = i, to_anchor = a, to_cell = cell;
                }
            }
    }
    *gap = g->thresh - high;
    if (lift && best_to - g->thresh < *gap) *gap = best_to - g->thresh;
    *active = *gap < s->margin;
    if (!grad || !*active) return 0;
    memset(grad, 0, sizeof(float) * net->inputs);
    for (int i = 0; i < m->n; ++i) {
        const dx_layer *l = &net->layers[i];
        if (!is_head(l)) continue;
        int terms = 0;
        memset(s->seed, 0, sizeof(float) * l->outputs);
        for (int a = 0; a < l->n; ++a)
            for (int cell = 0; cell < l->w * l->h; ++cell) {
                if (dx_iou(dx_head_box(l, a, cell / l->w, cell % l->w, net->w, net->h), s->ref) < DX_CF_OVERLAP)
                    continue;
                float obj = dx_head_objectness(l, a, cell);
                for (int k = 0; k < l->classes; ++k)
                    if ((push < 0 || k == push) && obj * dx_head_class_prob(l, a, cell, k) > g->thresh - s->margin) {
                        if (add_term(m, s, i, a, cell, k, 1.f, err) != 0) return -1;
                        ++terms;
                    }
            }
        if (lift && i == to_layer && best_to < g->thresh + s->margin) {
            if (add_term(m, s, i, to_anchor, to_cell, g->to, -1.f, err) != 0) return -1;
            ++terms;
        }
        if (!terms) continue;
        if (dx_backward(m, i, s->seed, -1, err) != 0) return -1;
        const float *gi = dx_grad_of(m, -1);
        for (int k = 0; k < net->inputs; ++k) grad[k] += gi[k];
    }
    return 0;
}

/* Detectors: whether the boxes Darknet would report on the current forward state meet the goal. */
static int boxes_meet_goal(dx_model *m, const dx_cf_goal *g, int *meets, dx_error *err)
{
    dx_detection *b;
    int n, orig = 0, to = 0;
    if (dx_decode_boxes(m, g->photo_w, g->photo_h, g->thresh, g->hier, g->nms, &b, &n, err) != 0) return -1;
    for (int k = 0; k < n; ++k) {
        if (dx_iou(b[k].bbox, g->box.bbox) < DX_CF_OVERLAP) continue;
        if (g->kind == DX_CF_DISAPPEAR || b[k].cls == g->box.cls) ++orig;
        if (g->kind == DX_CF_BOX_CLASS && b[k].cls == g->to) ++to;
    }
    free(b);
    *meets = orig == 0 && (g->kind != DX_CF_BOX_CLASS || to > 0);
    return 0;
}

/* Forward on x, the gap, success (gap > need, and for detectors the decoded boxes agree) and,
 * with grad, the hinge's input gradient (zero when inactive). */
static int goal_eval(dx_model *m, goal_state *s, const float *x, float need, float *grad, float *gap, int *success,
                     dx_error *err)
{
    int active;
    dx_forward(m, x);
    int detector = s->g->kind == DX_CF_DISAPPEAR || s->g->kind == DX_CF_BOX_CLASS;
    if ((detector ? detector_goal : classifier_goal)(m, s, grad, gap, &active, err) != 0) return -1;
    if (grad && !active) memset(grad, 0, sizeof(float) * m->net->inputs);
    *success = *gap > need;
    if (*success && detector && boxes_meet_goal(m, s->g, success, err) != 0) return -1;
    return 0;
}

static int goal_init(dx_model *m, const dx_cf_goal *g, float margin, goal_state *s, dx_error *err)
{
    memset(s, 0, sizeof *s);
    s->g = g;
    s->margin = margin;
    int detector = g->kind == DX_CF_DISAPPEAR || g->kind == DX_CF_BOX_CLASS, classes = dx_cf_classes(m);
    if (detector != dx_is_detector(m)) {
        dx_set_error(err, "%s: a %s goal for a %s", m->cfg_path, detector ? "box" : "class",
                     dx_is_detector(m) ? "detector" : "classifier");
        return -1;
    }
    int cls = g->kind == DX_CF_NOT_TOP ? g->cls : g->kind == DX_CF_DISAPPEAR ? 0 : g->to;
    if (cls < 0 || cls >= classes) {
        dx_set_error(err, "class %d is out of range: the model has %d classes (0..%d)", cls, classes, classes - 1);
        return -1;
    }
    if (g->kind == DX_CF_BOX_CLASS && g->to == g->box.cls) {
        dx_set_error(err, "-to %d: the box is already of class %d (%s)", g->to, g->to, dx_class_name(m, g->to));
        return -1;
    }
    size_t len = (size_t)m->net->layers[dx_find_logit_layer(m)].outputs;
    if (detector) {
        if (g->photo_w <= 0 || g->photo_h <= 0) {
            dx_set_error(err, "the goal's photo size %dx%d is not positive", g->photo_w, g->photo_h);
            return -1;
        }
        /* the box from the photo's fractions into the network input's, where the heads decode
         * (the inverse of detect.c's mapping onto the photo) */
        dx_letterbox lb;
        dx_fit_geometry(m, g->photo_w, g->photo_h, &lb);
        s->ref.x = g->box.bbox.x * lb.inner_w / lb.net_w + (lb.net_w - lb.inner_w) / 2.f / lb.net_w;
        s->ref.y = g->box.bbox.y * lb.inner_h / lb.net_h + (lb.net_h - lb.inner_h) / 2.f / lb.net_h;
        s->ref.w = g->box.bbox.w * lb.inner_w / lb.net_w;
        s->ref.h = g->box.bbox.h * lb.inner_h / lb.net_h;
        for (int i = 0; i < m->n; ++i)
            if (is_head(&m->net->layers[i]) && (size_t)m->net->layers[i].outputs > len)
                len = (size_t)m->net->layers[i].outputs;
    }
    s->seed = dx_alloc(len, sizeof(float), "the counterfactual's seed", err);
    s->tmp = s->seed ? dx_alloc(len, sizeof(float), "the counterfactual's seed", err) : NULL;
    return s->tmp ? 0 : -1;
}

static void goal_free(goal_state *s)
{
    free(s->seed);
    free(s->tmp);
}

static float soft_threshold(float v, float t) { return v > t ? v - t : v < -t ? v + t : 0.f; }

/* tvg += the subgradient of sum |d[p] - d[q]| over horizontal and vertical neighbours, per plane. */
static void tv_subgradient(const float *d, int c, int h, int w, float *tvg)
{
    for (int k = 0; k < c; ++k) {
        const float *p = d + (size_t)k * h * w;
        float *g = tvg + (size_t)k * h * w;
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) {
                int i = y * w + x;
                if (x + 1 < w) {
                    float s = (p[i] > p[i + 1]) - (p[i] < p[i + 1]);
                    g[i] += s, g[i + 1] -= s;
                }
                if (y + 1 < h) {
                    float s = (p[i] > p[i + w]) - (p[i] < p[i + w]);
                    g[i] += s, g[i + w] -= s;
                }
            }
    }
}

/* One proximal step of d (x0 + d in [0,1], d = 0 outside the mask) along the hinge's gradient. */
static void step(const dx_net *net, const dx_cf_options *o, const float *x0, const float *grad, float *tvg, float *d)
{
    size_t n = (size_t)net->inputs, spatial = (size_t)net->h * net->w;
    double sq = 0;
    long free_floats = 0;
    for (size_t k = 0; k < n; ++k)
        if (!o->mask || o->mask[k % spatial]) sq += (double)grad[k] * grad[k], ++free_floats;
    float scale = sq > 0 ? (float)(1 / sqrt(sq / free_floats)) : 0.f;
    memset(tvg, 0, sizeof(float) * n);
    if (o->tv > 0) tv_subgradient(d, net->c, net->h, net->w, tvg);
    for (size_t k = 0; k < n; ++k) {
        if (o->mask && !o->mask[k % spatial]) continue;
        float v = soft_threshold(d[k] - o->lr * (scale * grad[k] + o->tv * tvg[k]), o->lr * o->l1);
        d[k] = fminf(fmaxf(v, -x0[k]), 1.f - x0[k]);
    }
}

/* r's distances from x0, and the counterfactual clamped into [0,1] (x0 + d may round past 1). */
static void measure(const dx_net *net, const float *x0, dx_cf_result *r)
{
    size_t spatial = (size_t)net->h * net->w;
    r->l1 = r->l2 = 0;
    r->changed = 0;
    for (size_t p = 0; p < spatial; ++p) {
        int changed = 0;
        for (int c = 0; c < net->c; ++c) {
            size_t k = (size_t)c * spatial + p;
            r->x[k] = fminf(fmaxf(r->x[k], 0.f), 1.f);
            double dk = (double)r->x[k] - x0[k];
            r->l1 += fabs(dk);
            r->l2 += dk * dk;
            changed |= dk != 0;
        }
        r->changed += changed;
    }
    r->l2 = sqrt(r->l2);
}

int dx_counterfactual(dx_model *m, const float *x0, const dx_cf_goal *g, const dx_cf_options *o, dx_cf_result *r,
                      dx_error *err)
{
    memset(r, 0, sizeof *r);
    r->first_success = -1;
    goal_state s;
    if (goal_init(m, g, o->margin, &s, err) != 0) {
        goal_free(&s);
        return -1;
    }
    size_t n = (size_t)m->net->inputs;
    float *d = dx_alloc(n, sizeof(float), "the counterfactual", err);
    float *best = d ? dx_alloc(n, sizeof(float), "the counterfactual", err) : NULL;
    float *x = best ? dx_alloc(n, sizeof(float), "the counterfactual", err) : NULL;
    float *grad = x ? dx_alloc(n, sizeof(float), "the counterfactual's gradient", err) : NULL;
    float *tvg = grad ? dx_alloc(n, sizeof(float), "the counterfactual's gradient", err) : NULL;
    r->path = tvg ? dx_alloc((size_t)o->steps + 1, sizeof(dx_cf_step), "the counterfactual's path", err) : NULL;
    int rc = -1;
    double best_l1 = INFINITY;
    if (!r->path) goto done;
    for (int it = 0;; ++it) {
        double l1 = 0;
        for (size_t k = 0; k < n; ++k) x[k] = x0[k] + d[k], l1 += fabsf(d[k]);
        dx_cf_step *p = &r->path[r->n_path++];
        if (goal_eval(m, &s, x, o->margin / 2, grad, &p->gap, &p->success, err) != 0) goto done;
        p->l1 = (float)l1;
        if (it == 0) r->gap0 = p->gap;
        if (dx_count_nonfinite(grad, n)) {
            dx_set_error(err, "%s: the counterfactual's input gradient is not finite at step %d", dx_model_file(m), it);
            goto done;
        }
        if (p->success && l1 < best_l1) {
            best_l1 = l1;
            memcpy(best, d, sizeof(float) * n);
            if (r->first_success < 0) r->first_success = it;
        }
        if (it == o->steps || (r->first_success >= 0 && it >= r->first_success + o->polish)) break;
        step(m->net, o, x0, grad, tvg, d);
        r->iterations = it + 1;
    }
    r->x = x;
    x = NULL;
    const float *chosen = r->first_success >= 0 ? best : d;
    for (size_t k = 0; k < n; ++k) r->x[k] = x0[k] + chosen[k];
    measure(m->net, x0, r);
    rc = dx_cf_check(m, r->x, g, &r->gap, &r->succeeded, err);
done:
    free(d);
    free(best);
    free(x);
    free(grad);
    free(tvg);
    goal_free(&s);
    if (rc != 0) dx_cf_result_free(r);
    return rc;
}

int dx_cf_check(dx_model *m, const float *x, const dx_cf_goal *g, float *gap, int *success, dx_error *err)
{
    goal_state s;
    int rc = goal_init(m, g, 0, &s, err) == 0 ? goal_eval(m, &s, x, 0, NULL, gap, success, err) : -1;
    goal_free(&s);
    return rc;
}

int dx_cf_classes(const dx_model *m)
{
    const dx_layer *head = &m->net->layers[m->head];
    return is_head(head) ? head->classes : dx_class_count(m);
}

void dx_cf_result_free(dx_cf_result *r)
{
    free(r->x);
    free(r->path);
    memset(r, 0, sizeof *r);
}
