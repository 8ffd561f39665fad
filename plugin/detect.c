/* Detection: the boxes of the current forward state, decoded from the [yolo] and [region] heads
 * as `darknet detector test` does (get_network_boxes with relative=1: the letterbox undone,
 * then do_nms_sort), keeping for each box the head, anchor and cell that produced it so that a
 * target can be built on exactly those outputs. A head's output already holds the logistic /
 * softmax of Darknet's forward: objectness, class probabilities and x, y offsets are read as
 * they are, w and h are the raw log-scale values. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "detect.h"
#include "error.h"
#include "io/image.h"
#include "memory.h"
#include "model.h"

int dx_is_detector(const dx_model *m)
{
    dx_layer_kind t = m->net->layers[m->head].type;
    return t == DX_LAYER_YOLO || t == DX_LAYER_REGION || t == DX_LAYER_DETECTION;
}

int dx_check_detector(const dx_model *m, dx_error *err)
{
    int heads = 0;
    for (int i = 0; i < m->n; ++i) {
        const dx_layer *l = &m->net->layers[i];
        if (l->type == DX_LAYER_DETECTION) {
            dx_set_error(err, "%s: layer %d is a YOLOv1 [detection] head; only [yolo] and [region] heads "
                              "are supported", m->cfg_path, i);
            return -1;
        }
        if (l->type == DX_LAYER_REGION && l->tree_groups) {
            dx_set_error(err, "%s: layer %d [region] with a tree= hierarchy is not supported", m->cfg_path, i);
            return -1;
        }
        heads += l->type == DX_LAYER_YOLO || l->type == DX_LAYER_REGION;
    }
    if (!heads) {
        dx_set_error(err, "%s: not a detector (no [yolo] or [region] layer)", m->cfg_path);
        return -1;
    }
    return 0;
}

/* Darknet's box_iou (box.c), the same float arithmetic: boxes by centre and size. */
static float overlap(float x1, float w1, float x2, float w2)
{
    float l1 = x1 - w1 / 2, l2 = x2 - w2 / 2, left = l1 > l2 ? l1 : l2;
    float r1 = x1 + w1 / 2, r2 = x2 + w2 / 2, right = r1 < r2 ? r1 : r2;
    return right - left;
}

float dx_iou(dx_box a, dx_box b)
{
    float w = overlap(a.x, a.w, b.x, b.w), h = overlap(a.y, a.h, b.y, b.h);
    float inter = w < 0 || h < 0 ? 0 : w * h;
    return inter / (a.w * a.h + b.w * b.h - inter);
}

/* AlexeyAB's box_diou / box_diounms: IoU minus (centre distance^2 / enclosing diagonal^2)^beta. */
static float box_diou(dx_box a, dx_box b, double beta)
{
    float top = fminf(a.y - a.h / 2, b.y - b.h / 2), bot = fmaxf(a.y + a.h / 2, b.y + b.h / 2);
    float left = fminf(a.x - a.w / 2, b.x - b.w / 2), right = fmaxf(a.x + a.w / 2, b.x + b.w / 2);
    float w = right - left, h = bot - top, c = w * w + h * h, iou = dx_iou(a, b);
    if (c == 0) return iou;
    float d = (a.x - b.x) * (a.x - b.x) + (a.y - b.y) * (a.y - b.y);
    float u = (float)pow(d / c, beta);
    return iou - u;
}

/* The overlap a detector's NMS compares with its threshold (backend.h, dx_nms_kind). */
static float nms_overlap(const dx_layer *head, dx_box a, dx_box b)
{
    switch (head->nms_kind) {
    case DX_NMS_GREEDY_DIOU: return box_diou(a, b, 0.6); /* a double, as the fork writes it */
    case DX_NMS_DIOU: return box_diou(a, b, head->beta_nms);
    default: return dx_iou(a, b);
    }
}

int dx_head_coords(const dx_layer *l) { return l->type == DX_LAYER_YOLO ? 4 : l->coords; }

int dx_head_entry(const dx_layer *l, int anchor, int e, int cell)
{
    int plane = l->w * l->h;
    return anchor * (dx_head_coords(l) + 1 + l->classes) * plane + e * plane + cell;
}

/* [yolo] anchors are in input pixels (through the layer's mask), [region] anchors in grid cells. */
dx_box dx_head_box(const dx_layer *l, int anchor, int row, int col, int net_w, int net_h)
{
    const float *out = l->output;
    int cell = row * l->w + col;
    dx_box b;
    b.x = (col + out[dx_head_entry(l, anchor, 0, cell)]) / l->w;
    b.y = (row + out[dx_head_entry(l, anchor, 1, cell)]) / l->h;
    if (l->type == DX_LAYER_YOLO && l->new_coords) { /* AlexeyAB: w = (2 out)^2 anchor */
        int a = l->mask[anchor];
        float tw = out[dx_head_entry(l, anchor, 2, cell)], th = out[dx_head_entry(l, anchor, 3, cell)];
        b.w = tw * tw * 4 * l->biases[2 * a] / net_w;
        b.h = th * th * 4 * l->biases[2 * a + 1] / net_h;
    } else if (l->type == DX_LAYER_YOLO) {
        int a = l->mask[anchor];
        b.w = exp(out[dx_head_entry(l, anchor, 2, cell)]) * l->biases[2 * a] / net_w;
        b.h = exp(out[dx_head_entry(l, anchor, 3, cell)]) * l->biases[2 * a + 1] / net_h;
    } else {
        b.w = exp(out[dx_head_entry(l, anchor, 2, cell)]) * l->biases[2 * anchor] / l->w;
        b.h = exp(out[dx_head_entry(l, anchor, 3, cell)]) * l->biases[2 * anchor + 1] / l->h;
    }
    return b;
}

/* From the network input's frame to the photo's (the letterbox border removed), with
 * Darknet's float/double arithmetic so that boxes agree to the last bits. */
static dx_box photo_box(const dx_model *m, dx_box b, int photo_w, int photo_h, int net_w, int net_h)
{
    dx_letterbox g;
    dx_fit_geometry(m, photo_w, photo_h, &g);
    b.x = (b.x - (net_w - g.inner_w) / 2. / net_w) / ((float)g.inner_w / net_w);
    b.y = (b.y - (net_h - g.inner_h) / 2. / net_h) / ((float)g.inner_h / net_h);
    b.w *= (float)net_w / g.inner_w;
    b.h *= (float)net_h / g.inner_h;
    return b;
}

float dx_head_objectness(const dx_layer *l, int anchor, int cell)
{
    return l->type == DX_LAYER_REGION && l->background ? 1.f : l->output[dx_head_entry(l, anchor, dx_head_coords(l), cell)];
}

float dx_head_class_prob(const dx_layer *l, int anchor, int cell, int cls)
{
    return l->output[dx_head_entry(l, anchor, dx_head_coords(l) + 1 + cls, cell)];
}

static void to_pixels(dx_detection *d, int photo_w, int photo_h)
{
    d->x = (d->bbox.x - d->bbox.w / 2) * photo_w;
    d->y = (d->bbox.y - d->bbox.h / 2) * photo_h;
    d->w = d->bbox.w * photo_w;
    d->h = d->bbox.h * photo_h;
}

/* A head's outputs are finite (explain.c checks every forward) but w and h are exp() of them:
 * a large raw value gives an infinite box, which is never drawn or written. */
static int is_finite_box(const dx_detection *d)
{
    return isfinite(d->x) && isfinite(d->y) && isfinite(d->w) && isfinite(d->h);
}

/* A proposal above thresh: its box and its per-class scores (0 below thresh or suppressed). */
typedef struct {
    dx_detection where; /* bbox, objectness, layer, anchor, row, col */
    float *prob;        /* classes */
} proposal;

typedef struct {
    const proposal *props;
    int cls;
} class_key;

/* higher score of class cls first; ties in proposal order */
static int by_class_score(const void *a, const void *b, void *ctx)
{
    const class_key *key = ctx;
    int ia = *(const int *)a, ib = *(const int *)b;
    float pa = key->props[ia].prob[key->cls], pb = key->props[ib].prob[key->cls];
    if (pa != pb) return pa < pb ? 1 : -1;
    return (ia > ib) - (ia < ib);
}

/* highest score first; ties by head, anchor, cell, class */
static int by_score(const void *a, const void *b)
{
    const dx_detection *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    int keys[2][5] = {{x->layer, x->row, x->col, x->anchor, x->cls}, {y->layer, y->row, y->col, y->anchor, y->cls}};
    for (int k = 0; k < 5; ++k)
        if (keys[0][k] != keys[1][k]) return keys[0][k] < keys[1][k] ? -1 : 1;
    return 0;
}

int dx_decode_boxes(const dx_model *m, int photo_w, int photo_h, float thresh, float hier, float nms,
                    dx_detection **boxes, int *n, dx_error *err)
{
    (void)hier; /* Darknet uses it only for tree= hierarchies, which dx_check_detector refuses */
    *boxes = NULL;
    *n = 0;
    if (dx_check_detector(m, err) != 0) return -1;
    const dx_net *net = m->net;
    int classes = net->layers[m->head].classes, total = 0;
    for (int i = 0; i < m->n; ++i) {
        const dx_layer *l = &net->layers[i];
        if (l->type == DX_LAYER_YOLO || l->type == DX_LAYER_REGION) total += l->w * l->h * l->n;
    }
    proposal *props = dx_alloc(total, sizeof *props, "the detections", err);
    float *probs = dx_alloc((size_t)total * classes, sizeof(float), "the detections", err);
    if (!props || !probs) {
        free(props);
        free(probs);
        return -1;
    }
    /* as get_yolo_detections / get_region_detections: a proposal where objectness > thresh,
     * its class scores objectness x probability where that is > thresh */
    int count = 0;
    for (int i = 0; i < m->n; ++i) {
        const dx_layer *l = &net->layers[i];
        if (l->type != DX_LAYER_YOLO && l->type != DX_LAYER_REGION) continue;
        for (int cell = 0; cell < l->w * l->h; ++cell)
            for (int a = 0; a < l->n; ++a) {
                float obj = dx_head_objectness(l, a, cell);
                if (!(obj > thresh)) continue;
                proposal *p = &props[count];
                p->prob = probs + (size_t)count * classes;
                ++count;
                dx_detection *d = &p->where;
                d->layer = i;
                d->anchor = a;
                d->row = cell / l->w;
                d->col = cell % l->w;
                d->objectness = obj;
                d->bbox = photo_box(m, dx_head_box(l, a, d->row, d->col, net->w, net->h), photo_w, photo_h,
                                    net->w, net->h);
                for (int k = 0; k < l->classes && k < classes; ++k) {
                    float prob = obj * dx_head_class_prob(l, a, cell, k);
                    p->prob[k] = prob > thresh ? prob : 0;
                }
            }
    }
    /* as do_nms_sort (diounms_sort for AlexeyAB's greedynms and diounms, after the last head):
     * per class, highest score first, a box suppresses the later ones it overlaps by more than nms */
    const dx_layer *last = &net->layers[m->head];
    int *order = dx_alloc(count, sizeof(int), "the detections", err);
    if (!order) {
        free(props);
        free(probs);
        return -1;
    }
    for (int k = 0; nms > 0 && k < classes; ++k) {
        int listed = 0;
        for (int c = 0; c < count; ++c)
            if (props[c].prob[k] > 0) order[listed++] = c;
        class_key key = {props, k};
        qsort_r(order, listed, sizeof(int), by_class_score, &key);
        for (int s = 0; s < listed; ++s) {
            const proposal *keep = &props[order[s]];
            if (keep->prob[k] == 0) continue;
            for (int t = s + 1; t < listed; ++t)
                if (nms_overlap(last, keep->where.bbox, props[order[t]].where.bbox) > nms) props[order[t]].prob[k] = 0;
        }
    }
    free(order);
    int found = 0;
    for (int c = 0; c < count; ++c)
        for (int k = 0; k < classes; ++k) found += props[c].prob[k] > 0;
    dx_detection *out = found ? dx_alloc(found, sizeof *out, "the detections", err) : NULL;
    if (found && !out) {
        free(props);
        free(probs);
        return -1;
    }
    int next = 0;
    for (int c = 0; c < count; ++c)
        for (int k = 0; k < classes; ++k) {
            if (!(props[c].prob[k] > 0)) continue;
            dx_detection *d = &out[next++];
            *d = props[c].where;
            d->cls = k;
            d->score = props[c].prob[k];
            d->class_prob = dx_head_class_prob(&net->layers[d->layer], d->anchor, d->row * net->layers[d->layer].w + d->col, k);
        }
    free(props);
    free(probs);
    if (found) qsort(out, found, sizeof *out, by_score);
    for (int s = 0; s < found; ++s) {
        const dx_detection *d = &out[s];
        to_pixels(&out[s], photo_w, photo_h);
        if (!is_finite_box(d)) {
            dx_set_error(err, "%s: the detection at layer %d anchor %d cell %d,%d (score %g) has a box that is "
                              "not finite (x %g, y %g, w %g, h %g): the head's outputs overflow",
                         dx_model_file(m), d->layer, d->anchor, d->row, d->col, d->score, d->x, d->y, d->w, d->h);
            free(out);
            return -1;
        }
    }
    *boxes = out;
    *n = found;
    return 0;
}

void dx_best_score(const dx_model *m, float *score, int *cls)
{
    *score = 0;
    *cls = -1;
    for (int i = 0; i < m->n; ++i) {
        const dx_layer *l = &m->net->layers[i];
        if (l->type != DX_LAYER_YOLO && l->type != DX_LAYER_REGION) continue;
        for (int cell = 0; cell < l->w * l->h; ++cell)
            for (int a = 0; a < l->n; ++a)
                for (int k = 0; k < l->classes; ++k) {
                    float s = dx_head_objectness(l, a, cell) * dx_head_class_prob(l, a, cell, k);
                    if (s > *score || *cls < 0) *score = s, *cls = k;
                }
    }
}

int dx_region_box(const dx_model *m, int photo_w, int photo_h, const float region[4],
                  dx_detection *out, dx_error *err)
{
    if (dx_check_detector(m, err) != 0) return -1;
    if (!(region[2] > 0 && region[3] > 0) || !isfinite(region[0]) || !isfinite(region[1]) ||
        !isfinite(region[2]) || !isfinite(region[3])) {
        dx_set_error(err, "region %g,%g,%g,%g: width and height must be > 0 and every value finite", region[0],
                     region[1], region[2], region[3]);
        return -1;
    }
    const dx_net *net = m->net;
    dx_box want = {(region[0] + region[2] / 2) / photo_w, (region[1] + region[3] / 2) / photo_h,
                region[2] / photo_w, region[3] / photo_h};
    /* anchors whose box is not finite (their IoU is NaN) are no candidates; when none is left,
     * there is no box to return */
    float best_iou = -1;
    dx_detection best = {0};
    for (int i = 0; i < m->n; ++i) {
        const dx_layer *l = &net->layers[i];
        if (l->type != DX_LAYER_YOLO && l->type != DX_LAYER_REGION) continue;
        for (int cell = 0; cell < l->w * l->h; ++cell)
            for (int a = 0; a < l->n; ++a) {
                int row = cell / l->w, col = cell % l->w;
                dx_detection d = {.bbox = photo_box(m, dx_head_box(l, a, row, col, net->w, net->h), photo_w, photo_h,
                                                    net->w, net->h)};
                to_pixels(&d, photo_w, photo_h);
                float iou = dx_iou(d.bbox, want);
                if (!is_finite_box(&d) || !(iou > best_iou)) continue;
                best_iou = iou;
                d.layer = i;
                d.anchor = a;
                d.row = row;
                d.col = col;
                d.objectness = dx_head_objectness(l, a, cell);
                for (int k = 1; k < l->classes; ++k)
                    if (dx_head_class_prob(l, a, cell, k) > dx_head_class_prob(l, a, cell, d.cls)) d.cls = k;
                d.class_prob = dx_head_class_prob(l, a, cell, d.cls);
                d.score = d.objectness * d.class_prob;
                best = d;
            }
    }
    if (best_iou < 0) {
        dx_set_error(err, "%s: region %g,%g,%g,%g: no anchor has a finite box to match it", dx_model_file(m),
                     region[0], region[1], region[2], region[3]);
        return -1;
    }
    *out = best;
    return 0;
}
