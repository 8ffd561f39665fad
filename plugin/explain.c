/* The API's explain call: image -> letterbox -> Darknet's forward -> target -> method -> map
 * over the photo. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "detect.h"
#include "error.h"
#include "io/image.h"
#include "memory.h"
#include "methods/methods.h"
#include "model.h"
#include "outputs.h"

/* Every default that is the same for each method taking the option; the registry has the
 * others (-samples, -masks, -cell: 0 here, dx_request_init_for fills them in). */
void dx_request_init(dx_request *req)
{
    req->method = DX_METHOD_GRADCAM;
    req->class_id = -1;
    req->score = DX_SCORE_LOGIT;
    memset(req->layers, 0, sizeof req->layers);
    req->n_layers = 0;
    req->relu = 1;
    req->eigen_smooth = 0;
    req->aug_smooth = 0;
    req->seed = 1;
    req->batch = 1;
    req->steps = 64;
    req->baseline = "black";
    req->deeplift_rule = DX_DEEPLIFT_RESCALE;
    req->samples = 0;
    req->noise = 0.15f;
    req->lrp_composite = NULL;
    req->lrp_rules = NULL;
    req->box = 0;
    req->box_target = DX_BOX_SCORE;
    req->thresh = .5f;
    req->hier = .5f;
    req->nms = .45f;
    req->use_region = 0;
    memset(req->region, 0, sizeof req->region);
    req->occlude = DX_OCCLUDE_BLACK;
    req->window = 32;
    req->stride = 16;
    req->masks = 0;
    req->cell = 0;
    req->keep_prob = 0.5f;
    req->segments = 50;
    req->kernel_width = 0.25f;
}

/* Runs the method for targets t[0..n) on the forward already run (the perturbation methods
 * score all of them on each perturbed forward; their time is shared out evenly): r[k]'s native
 * map and timings. */
static int run_method(dx_model *m, const dx_request *req, const dx_target *t, int n, dx_result *r, dx_error *err)
{
    double t0 = dx_now_ms();
    m->ms_backward = 0;
    if (dx_run_method(m, req, t, n, r, err) != 0) return -1;
    for (int k = 0; k < n; ++k) {
        r[k].ms_method = (dx_now_ms() - t0) / n;
        r[k].ms_backward = m->ms_backward / n;
    }
    return 0;
}

/* r's native map onto the photo's pixels (r->map), checked finite, and its range. */
static int map_onto_photo(const dx_model *m, dx_image photo, const dx_request *req, dx_result *r, dx_error *err)
{
    dx_letterbox g;
    dx_fit_geometry(m, photo.w, photo.h, &g);
    r->map = dx_native_to_photo(r->native, r->native_h, r->native_w, &g, photo.w, photo.h);
    r->h = photo.h;
    r->w = photo.w;
    if (!r->map) {
        dx_set_error(err, "out of memory for the %dx%d map", photo.w, photo.h);
        return -1;
    }
    size_t native = (size_t)r->native_h * r->native_w, photo_px = (size_t)r->h * r->w;
    long bad = dx_count_nonfinite(r->native, native) + dx_count_nonfinite(r->map, photo_px);
    if (bad) { /* the forward was finite: the method's gradients or scores overflowed */
        dx_set_error(err, "%s: the %s map holds %ld non-finite values (NaN or inf): its gradients or "
                          "scores overflow; no map written",
                     dx_model_file(m), dx_method_name(req->method), bad);
        return -1;
    }
    r->map_min = r->map_max = r->map[0];
    for (int p = 1; p < r->h * r->w; ++p) {
        if (r->map[p] < r->map_min) r->map_min = r->map[p];
        if (r->map[p] > r->map_max) r->map_max = r->map[p];
    }
    return 0;
}

static int check_request(const dx_model *m, dx_image photo, const dx_request *req, dx_error *err)
{
    if (!dx_method_info_of(req->method)) {
        dx_set_error(err, "unknown method %d", (int)req->method);
        return -1;
    }
    if (photo.c != m->net->c) {
        dx_set_error(err, "the image has %d channels, the model's input %d", photo.c, m->net->c);
        return -1;
    }
    return 0;
}

/* Every layer's output of the current forward state is finite; else -1 naming the first layer
 * with NaN or inf (non-finite weights, or an overflow), so that no score, box or map computed
 * from them is reported. */
/* The k highest of a[0..n) in decreasing order, the lower index first among equals (as Darknet's
 * `classifier predict` lists them). */
static void top_classes(const float *a, int n, int k, int *index)
{
    for (int j = 0; j < k; ++j) index[j] = -1;
    for (int i = 0; i < n; ++i) {
        int at = k;
        while (at > 0 && (index[at - 1] < 0 || a[i] > a[index[at - 1]])) --at;
        if (at == k) continue;
        for (int j = k - 1; j > at; --j) index[j] = index[j - 1];
        index[at] = i;
    }
}

int dx_explain_image(dx_model *m, dx_image photo, const dx_request *asked, dx_result *r, dx_error *err)
{
    dx_request runs; /* the methods see no "default" placeholder */
    dx_request_effective(asked, &runs);
    const dx_request *req = &runs;
    memset(r, 0, sizeof *r);
    if (check_request(m, photo, req, err) != 0) return -1;
    if (dx_is_detector(m)) {
        if (req->box < 0 && !req->use_region) {
            dx_set_error(err, "dx_explain_image explains one box: box %d; use dx_explain_boxes for all",
                         req->box);
            return -1;
        }
        dx_box_explanations e;
        if (dx_explain_boxes(m, photo, req, &e, err) != 0) return -1;
        if (e.n == 0) {
            dx_set_error(err, "no detection above -thresh %g (the best score is %g, %s): no box %d to explain",
                         req->thresh, e.best_score, dx_class_name(m, e.best_class), req->box);
            dx_box_explanations_free(&e);
            return -1;
        }
        *r = e.results[0];
        free(e.results);
        return 0;
    }
    r->method = req->method;
    r->request = *req;
    if (dx_copy_photo(photo, &r->photo, err) != 0) return -1;
    if (dx_forward_photo(m, photo, &r->ms_forward, err) != 0) goto fail;

    const float *probs = dx_output_of(m, m->head);
    int classes = dx_class_count(m);
    r->ntop = classes < DX_TOPK ? classes : DX_TOPK;
    int index[DX_TOPK];
    top_classes(probs, classes, r->ntop, index);
    for (int k = 0; k < r->ntop; ++k) {
        r->top[k].cls = index[k];
        r->top[k].prob = probs[index[k]];
    }
    r->class_id = req->class_id >= 0 ? req->class_id : index[0];
    r->score_kind = req->score;

    dx_target target;
    if (dx_class_target(m, r->class_id, req->score, &target, err) != 0) goto fail;
    r->logit = dx_output_of(m, dx_find_logit_layer(m))[r->class_id];
    r->prob = probs[r->class_id];
    if (run_method(m, req, &target, 1, r, err) != 0 || map_onto_photo(m, photo, req, r, err) != 0) goto fail;
    return 0;
fail:
    dx_result_free(r);
    return -1;
}

int dx_detect_image(dx_model *m, dx_image photo, const dx_request *req, dx_detection **boxes, int *n,
                    dx_error *err)
{
    *boxes = NULL;
    *n = 0;
    double ms;
    if (check_request(m, photo, req, err) != 0 || dx_check_detector(m, err) != 0 ||
        dx_forward_photo(m, photo, &ms, err) != 0)
        return -1;
    return dx_decode_boxes(m, photo.w, photo.h, req->thresh, req->hier, req->nms, boxes, n, err);
}

/* Box d's target on the forward already run, and its value; refused when that is not finite. */
static int box_target(dx_model *m, const dx_request *req, const dx_detection *d, dx_target *target, float *value,
                      dx_error *err)
{
    if (dx_box_target_of(m, d, req->box_target, target, err) != 0) return -1;
    *value = dx_target_score(target, m);
    if (!isfinite(*value)) { /* finite outputs, but w and h are exp() of them */
        dx_set_error(err, "%s: box at layer %d anchor %d cell %d,%d: its target's value is %g: the head's "
                          "outputs overflow",
                     dx_model_file(m), d->layer, d->anchor, d->row, d->col, *value);
        return -1;
    }
    return 0;
}

/* Box d's result fields (r is zeroed by the caller), its target's value `value`; the method
 * makes its maps afterwards. */
static void box_result(const dx_request *req, const dx_detection *d, double ms_forward, float value, dx_result *r)
{
    r->method = req->method;
    r->request = *req;
    r->ms_forward = ms_forward;
    r->has_box = 1;
    r->box = *d;
    r->box_target = req->box_target;
    r->class_id = d->cls;
    r->prob = d->score;
    r->logit = value;
}

int dx_explain_detection(dx_model *m, dx_image photo, const dx_request *asked, const dx_detection *d,
                         dx_result *r, dx_error *err)
{
    dx_request runs;
    dx_request_effective(asked, &runs);
    const dx_request *req = &runs;
    memset(r, 0, sizeof *r);
    if (check_request(m, photo, req, err) != 0 || dx_check_detector(m, err) != 0) return -1;
    dx_target target;
    double ms;
    float value;
    if (dx_forward_photo(m, photo, &ms, err) == 0 && box_target(m, req, d, &target, &value, err) == 0 &&
        dx_copy_photo(photo, &r->photo, err) == 0) {
        box_result(req, d, ms, value, r);
        if (run_method(m, req, &target, 1, r, err) == 0 && map_onto_photo(m, photo, req, r, err) == 0) return 0;
    }
    dx_result_free(r);
    return -1;
}

/* The boxes req asks for on the forward state of photo: the region's best anchor, box req->box,
 * or every box above thresh (*boxes malloc'd, NULL when *n is 0). */
static int boxes_asked(dx_model *m, dx_image photo, const dx_request *req, dx_detection **boxes, int *n,
                       dx_error *err)
{
    *boxes = NULL;
    *n = 0;
    if (!req->use_region) {
        if (dx_decode_boxes(m, photo.w, photo.h, req->thresh, req->hier, req->nms, boxes, n, err) != 0) return -1;
        if (req->box >= 0 && *n > 0) {
            if (req->box >= *n) {
                dx_set_error(err, "box %d does not exist: %d box%s detected above -thresh %g (0..%d)",
                             req->box, *n, *n == 1 ? "" : "es", req->thresh, *n - 1);
                goto fail;
            }
            (*boxes)[0] = (*boxes)[req->box];
            *n = 1;
        }
        return 0;
    }
    if (!(*boxes = dx_alloc(1, sizeof **boxes, "the region's box", err))) return -1;
    dx_detection *b = *boxes;
    if (dx_region_box(m, photo.w, photo.h, req->region, b, err) != 0) goto fail;
    *n = 1;
    if (req->class_id >= 0) { /* the region's anchor, for the class asked */
        dx_target t;
        b->cls = req->class_id;
        if (dx_box_target_of(m, b, DX_BOX_CLASS, &t, err) != 0) goto fail;
        b->class_prob = dx_target_score(&t, m);
        b->score = b->objectness * b->class_prob;
    }
    return 0;
fail:
    free(*boxes);
    *boxes = NULL;
    *n = 0;
    return -1;
}

/* dx_explain_boxes_each, the results and e naming image_path (NULL: none) */
static int explain_boxes_each(dx_model *m, dx_image photo, const char *image_path, const dx_request *asked,
                              dx_box_fn on_box, void *ctx, dx_box_explanations *e, dx_error *err)
{
    dx_request runs;
    dx_request_effective(asked, &runs);
    const dx_request *req = &runs;
    memset(e, 0, sizeof *e);
    e->req = *req;
    e->photo_w = photo.w;
    e->photo_h = photo.h;
    if (image_path) snprintf(e->image_path, sizeof e->image_path, "%s", image_path);
    double ms_forward;
    dx_detection *boxes;
    int n;
    if (check_request(m, photo, req, err) != 0 || dx_check_detector(m, err) != 0 ||
        dx_forward_photo(m, photo, &ms_forward, err) != 0)
        goto failed;
    dx_best_score(m, &e->best_score, &e->best_class);
    if (boxes_asked(m, photo, req, &boxes, &n, err) != 0) goto failed;
    /* Every box's target on the forward the boxes came from; then the methods that score all
     * targets on each perturbed forward take them at once (each box's native map at the network's
     * resolution), the others one box at a time: a box's maps are freed before the next's are made. */
    int chunk = n && !dx_method_info_of(req->method)->run_targets ? 1 : n;
    dx_target *targets = dx_alloc(n, sizeof *targets, "the boxes' targets", err);
    float *values = dx_alloc(n, sizeof *values, "the boxes' targets", err);
    dx_result *r = dx_alloc(chunk, sizeof *r, "the boxes' results", err);
    int rc = targets && values && r ? 0 : -1;
    for (int k = 0; rc == 0 && k < n; ++k) rc = box_target(m, req, &boxes[k], &targets[k], &values[k], err);
    e->n = n;
    for (int k0 = 0; rc == 0 && k0 < n; k0 += chunk) {
        int count = n - k0 < chunk ? n - k0 : chunk;
        for (int j = 0; j < count; ++j) {
            box_result(req, &boxes[k0 + j], ms_forward, values[k0 + j], &r[j]);
            r[j].photo = photo;
            if (image_path) snprintf(r[j].image_path, sizeof r[j].image_path, "%s", image_path);
        }
        /* one forward for every box: each method leaves the forward state as it found it */
        rc = run_method(m, req, &targets[k0], count, r, err);
        for (int j = 0; j < count; ++j) {
            if (rc == 0) rc = map_onto_photo(m, photo, req, &r[j], err);
            if (rc == 0) rc = on_box(ctx, e, k0 + j, &r[j], err);
            free(r[j].map);
            free(r[j].native);
            memset(&r[j], 0, sizeof r[j]);
        }
    }
    free(r);
    free(values);
    free(targets);
    free(boxes);
    if (rc == 0) return 0;
failed:
    memset(e, 0, sizeof *e); /* the contract: zeroed on failure */
    return -1;
}

int dx_explain_boxes_each(dx_model *m, dx_image photo, const dx_request *req, dx_box_fn on_box, void *ctx,
                          dx_box_explanations *out, dx_error *err)
{
    if (!on_box) {
        memset(out, 0, sizeof *out);
        dx_set_error(err, "dx_explain_boxes_each: no on_box to hand the boxes to");
        return -1;
    }
    return explain_boxes_each(m, photo, NULL, req, on_box, ctx, out, err);
}

/* dx_explain_boxes' results, collected: result 0 owns one copy of the photo, the others share it. */
typedef struct {
    dx_result *results;
    int n;
} collected;

static int collect(void *ctx, const dx_box_explanations *e, int k, dx_result *r, dx_error *err)
{
    collected *c = ctx;
    if (k == 0 && (!(c->results = dx_alloc(e->n, sizeof *c->results, "the boxes' results", err)) ||
                   dx_copy_photo(r->photo, &r->photo, err) != 0))
        return -1;
    c->results[k] = *r;
    if (k > 0) c->results[k].photo = c->results[0].photo;
    c->n = k + 1;
    r->map = r->native = NULL; /* taken over */
    return 0;
}

static int explain_boxes(dx_model *m, dx_image photo, const char *image_path, const dx_request *req,
                         dx_box_explanations *e, dx_error *err)
{
    collected c = {NULL, 0};
    int rc = explain_boxes_each(m, photo, image_path, req, collect, &c, e, err);
    e->results = c.results;
    if (rc != 0) { /* what was collected, freed as the whole would have been */
        e->n = c.n;
        dx_box_explanations_free(e);
    }
    return rc;
}

int dx_explain_boxes(dx_model *m, dx_image photo, const dx_request *req, dx_box_explanations *e,
                     dx_error *err)
{
    return explain_boxes(m, photo, NULL, req, e, err);
}

int dx_explain_boxes_file(dx_model *m, const char *image_path, const dx_request *req,
                          dx_box_explanations *e, dx_error *err)
{
    memset(e, 0, sizeof *e);
    dx_image photo;
    if (dx_load_model_photo(m, image_path, &photo, err) != 0) return -1;
    int rc = explain_boxes(m, photo, image_path, req, e, err);
    dx_free_image(photo);
    return rc;
}

void dx_box_explanations_free(dx_box_explanations *e)
{
    for (int k = 1; k < e->n; ++k) e->results[k].photo.data = NULL; /* result 0's */
    for (int k = 0; k < e->n; ++k) dx_result_free(&e->results[k]);
    free(e->results);
    memset(e, 0, sizeof *e);
}

/* dx_explain_boxes_write's way with each box: its files staged, then the caller's on_box */
typedef struct {
    const dx_model *m;
    dx_image photo;
    const char *prefix;
    const dx_output_options *opt;
    dx_box_writer *writer; /* opened at the first box, when e->n is known */
    dx_box_fn on_box;
    void *ctx;
} box_stream;

static int write_box(void *ctx, const dx_box_explanations *e, int k, dx_result *r, dx_error *err)
{
    box_stream *s = ctx;
    if (k == 0 && !(s->writer = dx_box_writer_open(s->m, e, s->photo, s->prefix, s->opt, err))) return -1;
    if (dx_box_writer_add(s->writer, r, err) != 0) return -1;
    return s->on_box ? s->on_box(s->ctx, e, k, r, err) : 0;
}

int dx_explain_boxes_write(dx_model *m, const char *image_path, const dx_request *req, const char *prefix,
                           const dx_output_options *opt, dx_box_fn on_box, void *ctx, dx_box_explanations *out,
                           dx_error *err)
{
    memset(out, 0, sizeof *out);
    dx_image photo;
    if (dx_load_model_photo(m, image_path, &photo, err) != 0) return -1;
    box_stream s = {m, photo, prefix, opt, NULL, on_box, ctx};
    int rc = explain_boxes_each(m, photo, image_path, req, write_box, &s, out, err);
    if (rc == 0 && !s.writer && !(s.writer = dx_box_writer_open(m, out, photo, prefix, opt, err))) rc = -1; /* no box */
    if (s.writer) rc = dx_box_writer_close(s.writer, rc, err);
    dx_free_image(photo);
    if (rc != 0) memset(out, 0, sizeof *out);
    return rc;
}

int dx_explain_file(dx_model *m, const char *image_path, const dx_request *req, dx_result *r,
                    dx_error *err)
{
    memset(r, 0, sizeof *r);
    dx_image photo;
    if (dx_load_model_photo(m, image_path, &photo, err) != 0) return -1;
    int rc = dx_explain_image(m, photo, req, r, err);
    dx_free_image(photo);
    if (rc == 0) snprintf(r->image_path, sizeof r->image_path, "%s", image_path);
    return rc;
}

void dx_result_free(dx_result *r)
{
    free(r->map);
    free(r->native);
    if (r->photo.data) dx_free_image(r->photo);
    memset(r, 0, sizeof *r);
}
