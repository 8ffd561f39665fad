/* The API's explain call: image -> letterbox -> Darknet's forward -> target -> method -> map
 * over the photo. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "internal.h"
#include "io/image.h"
#include "methods/methods.h"

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

/* Runs the method for targets t[0..n) on the forward already run on photo (the perturbation
 * methods score all of them on each perturbed forward; their time is shared out evenly), and
 * maps each native map onto the photo's pixels. */
static int run_method(dx_model *m, dx_image photo, const dx_request *req, const dx_target *t, int n,
                      dx_result *r, dx_error *err)
{
    double t0 = dx_now_ms();
    m->ms_backward = 0;
    if (dx_run_method(m, req, t, n, r, err) != 0) return -1;
    dx_letterbox g;
    dx_fit_geometry(m, photo.w, photo.h, &g);
    for (int k = 0; k < n; ++k) {
        r[k].ms_method = (dx_now_ms() - t0) / n;
        r[k].ms_backward = m->ms_backward / n;
        r[k].map = dx_native_to_photo(r[k].native, r[k].native_h, r[k].native_w, &g, photo.w, photo.h);
        r[k].h = photo.h;
        r[k].w = photo.w;
        if (!r[k].map) {
            dx_set_error(err, "out of memory");
            return -1;
        }
        size_t native = (size_t)r[k].native_h * r[k].native_w, photo_px = (size_t)r[k].h * r[k].w;
        long bad = dx_count_nonfinite(r[k].native, native) + dx_count_nonfinite(r[k].map, photo_px);
        if (bad) { /* the forward was finite: the method's gradients or scores overflowed */
            dx_set_error(err, "%s: the %s map holds %ld non-finite values (NaN or inf): its gradients or "
                              "scores overflow; no map written",
                         dx_model_file(m), dx_method_name(req->method), bad);
            return -1;
        }
        r[k].map_min = r[k].map_max = r[k].map[0];
        for (int p = 1; p < r[k].h * r[k].w; ++p) {
            if (r[k].map[p] < r[k].map_min) r[k].map_min = r[k].map[p];
            if (r[k].map[p] > r[k].map_max) r[k].map_max = r[k].map[p];
        }
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
static int check_finite_forward(const dx_model *m, dx_error *err)
{
    for (int i = 0; i < m->n; ++i) {
        const dx_layer *l = &m->net->layers[i];
        long bad = dx_count_nonfinite(l->output, (size_t)l->outputs);
        if (bad) {
            dx_set_error(err, "%s: layer %d (%s) outputs %ld non-finite values (NaN or inf) of %d: non-finite "
                              "weights or an overflow; nothing explained",
                         dx_model_file(m), i, l->type_name, bad, l->outputs);
            return -1;
        }
    }
    return 0;
}

/* as `darknet classifier predict` and `darknet detector test`: letterbox, then forward, whose
 * wall-clock time goes to *ms; -1 when the forward is not finite */
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

static int letterbox_forward(dx_model *m, dx_image photo, double *ms, dx_error *err)
{
    if (m->net->letterbox && dx_letterbox_check(photo.w, photo.h, m->net->w, m->net->h, NULL, err) != 0) return -1;
    dx_image boxed = dx_fit_photo(m, photo);
    double t0 = dx_now_ms();
    dx_forward(m, boxed.data);
    *ms = dx_now_ms() - t0;
    dx_free_image(boxed);
    return check_finite_forward(m, err);
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
    if (letterbox_forward(m, photo, &r->ms_forward, err) != 0) goto fail;

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
    if (run_method(m, photo, req, &target, 1, r, err) != 0) goto fail;
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
        letterbox_forward(m, photo, &ms, err) != 0)
        return -1;
    return dx_decode_boxes(m, photo.w, photo.h, req->thresh, req->hier, req->nms, boxes, n, err);
}

/* Box d's result fields and target on the forward already run on photo (r is zeroed by the
 * caller); the method runs afterwards, for all boxes at once. */
static int box_result(dx_model *m, dx_image photo, const dx_request *req, const dx_detection *d,
                      double ms_forward, dx_result *r, dx_target *target, dx_error *err)
{
    r->method = req->method;
    r->request = *req;
    if (dx_copy_photo(photo, &r->photo, err) != 0) return -1;
    r->ms_forward = ms_forward;
    r->has_box = 1;
    r->box = *d;
    r->box_target = req->box_target;
    r->class_id = d->cls;
    r->prob = d->score;
    if (dx_box_target_of(m, d, req->box_target, target, err) != 0) return -1;
    r->logit = dx_target_score(target, m);
    if (!isfinite(r->logit)) { /* finite outputs, but w and h are exp() of them */
        dx_set_error(err, "%s: box at layer %d anchor %d cell %d,%d: its target's value is %g: the head's "
                          "outputs overflow",
                     dx_model_file(m), d->layer, d->anchor, d->row, d->col, r->logit);
        return -1;
    }
    return 0;
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
    if (letterbox_forward(m, photo, &ms, err) == 0 && box_result(m, photo, req, d, ms, r, &target, err) == 0 &&
        run_method(m, photo, req, &target, 1, r, err) == 0)
        return 0;
    dx_result_free(r);
    return -1;
}

int dx_explain_boxes(dx_model *m, dx_image photo, const dx_request *asked, dx_box_explanations *e,
                     dx_error *err)
{
    dx_request runs;
    dx_request_effective(asked, &runs);
    const dx_request *req = &runs;
    memset(e, 0, sizeof *e);
    e->req = *req;
    e->photo_w = photo.w;
    e->photo_h = photo.h;
    double ms_forward;
    if (check_request(m, photo, req, err) != 0 || dx_check_detector(m, err) != 0 ||
        letterbox_forward(m, photo, &ms_forward, err) != 0)
        return -1;
    dx_best_score(m, &e->best_score, &e->best_class);
    dx_detection *boxes = NULL;
    dx_target *targets = NULL;
    int n = 0;
    if (req->use_region) {
        boxes = malloc(sizeof *boxes);
        if (!boxes || dx_region_box(m, photo.w, photo.h, req->region, boxes, err) != 0) goto fail;
        n = 1;
        if (req->class_id >= 0) { /* the region's anchor, for the class asked */
            dx_target t;
            boxes[0].cls = req->class_id;
            if (dx_box_target_of(m, &boxes[0], DX_BOX_CLASS, &t, err) != 0) goto fail;
            boxes[0].class_prob = dx_target_score(&t, m);
            boxes[0].score = boxes[0].objectness * boxes[0].class_prob;
        }
    } else {
        if (dx_decode_boxes(m, photo.w, photo.h, req->thresh, req->hier, req->nms, &boxes, &n, err) != 0)
            goto fail;
        if (req->box >= 0 && n > 0) {
            if (req->box >= n) {
                dx_set_error(err, "box %d does not exist: %d box%s detected above -thresh %g (0..%d)",
                             req->box, n, n == 1 ? "" : "es", req->thresh, n - 1);
                goto fail;
            }
            boxes[0] = boxes[req->box];
            n = 1;
        }
    }
    e->results = n ? calloc(n, sizeof *e->results) : NULL;
    if (n && !e->results) {
        dx_set_error(err, "out of memory");
        goto fail;
    }
    targets = n ? malloc(sizeof *targets * n) : NULL;
    if (n && !targets) {
        dx_set_error(err, "out of memory");
        goto fail;
    }
    e->n = n;
    for (int k = 0; k < n; ++k) {
        if (box_result(m, photo, req, &boxes[k], ms_forward, &e->results[k], &targets[k], err) != 0) goto fail;
    }
    /* one forward for every box: each method leaves the forward state as it found it */
    if (n && run_method(m, photo, req, targets, n, e->results, err) != 0) goto fail;
    free(targets);
    free(boxes);
    return 0;
fail:
    free(targets);
    free(boxes);
    dx_box_explanations_free(e);
    return -1;
}

int dx_explain_boxes_file(dx_model *m, const char *image_path, const dx_request *req,
                          dx_box_explanations *e, dx_error *err)
{
    memset(e, 0, sizeof *e);
    dx_image photo;
    if (dx_load_model_photo(m, image_path, &photo, err) != 0) return -1;
    int rc = dx_explain_boxes(m, photo, req, e, err);
    dx_free_image(photo);
    if (rc == 0) {
        snprintf(e->image_path, sizeof e->image_path, "%s", image_path);
        for (int k = 0; k < e->n; ++k)
            snprintf(e->results[k].image_path, sizeof e->results[k].image_path, "%s", image_path);
    }
    return rc;
}

void dx_box_explanations_free(dx_box_explanations *e)
{
    for (int k = 0; k < e->n; ++k) dx_result_free(&e->results[k]);
    free(e->results);
    memset(e, 0, sizeof *e);
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
