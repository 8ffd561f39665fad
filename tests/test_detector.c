/* Detectors: the boxes equal Darknet's own get_network_boxes + do_nms_sort on the same forward;
 * box targets' gradients against finite differences; per-box explanations, their outputs and
 * the command line; a pointing-game check of Grad-CAM on real photos. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "detect.h"
#include "engine.h"
#include "helpers.h"
#include "io/image.h"
#include "model.h"
#include "targets.h"

#define DEBIAN_CFG "/usr/share/darknet/cfg"
#define DEBIAN_DATA "/usr/share/darknet/data"

static dx_model *open_shared(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "coco/%s", name);
    return open_shared_model(path, "coco/coco.names");
}

/* The photos (jpg/png) of a folder, sorted; returns their count. */
static int list_photos(const char *dir, char paths[][1200], int max)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return 0;
    for (struct dirent *e; (e = readdir(d)) && n < max;) {
        const char *dot = strrchr(e->d_name, '.');
        if (dot && (!strcmp(dot, ".jpg") || !strcmp(dot, ".png")))
            snprintf(paths[n++], 1200, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    qsort(paths, n, 1200, (int (*)(const void *, const void *))strcmp);
    return n;
}

/* The plugin's boxes against Darknet's get_network_boxes + do_nms_sort on the same forward state:
 * the same (box, class) pairs, coordinates and scores within 1e-5. Returns the number of boxes. */
static int expect_darknet_parity(dx_model *m, const char *path, float thresh, float nms)
{
    dx_image photo;
    dx_error err;
    cr_assert_eq(dx_load_photo(path, &photo, &err), 0, "%s", err.msg);
    dx_request req;
    dx_request_init(&req);
    req.thresh = thresh;
    req.nms = nms;
    dx_detection *boxes;
    int n;
    cr_assert_eq(dx_detect_image(m, photo, &req, &boxes, &n, &err), 0, "%s", err.msg);

    network *net = dx_network(m);
    int total;
    detection *dets = get_network_boxes(net, photo.w, photo.h, thresh, req.hier, 0, 1, &total);
    int classes = net->layers[net->n - 1].classes;
    if (nms > 0) do_nms_sort(dets, total, classes, nms);
    int expected = 0;
    char *matched = calloc(n ? n : 1, 1);
    for (int d = 0; d < total; ++d)
        for (int k = 0; k < classes; ++k) {
            if (!(dets[d].prob[k] > 0)) continue;
            ++expected;
            int found = -1;
            for (int b = 0; b < n && found < 0; ++b) {
                box a = dets[d].bbox; dx_box c = boxes[b].bbox;
                if (!matched[b] && boxes[b].cls == k && fabsf(a.x - c.x) < 1e-5f && fabsf(a.y - c.y) < 1e-5f &&
                    fabsf(a.w - c.w) < 1e-5f && fabsf(a.h - c.h) < 1e-5f && fabsf(dets[d].prob[k] - boxes[b].score) < 1e-5f)
                    found = b;
            }
            cr_expect(found >= 0, "%s: Darknet's box (%g %g %g %g) class %d score %g is not among the plugin's %d",
                      path, dets[d].bbox.x, dets[d].bbox.y, dets[d].bbox.w, dets[d].bbox.h, k, dets[d].prob[k], n);
            if (found >= 0) matched[found] = 1;
        }
    cr_expect_eq(n, expected, "%s: the plugin finds %d boxes, Darknet %d", path, n, expected);
    for (int b = 1; b < n; ++b) cr_expect(boxes[b].score <= boxes[b - 1].score, "%s: boxes not sorted", path);
    /* the provenance is where the box comes from: the head's objectness there is the box's */
    for (int b = 0; b < n; ++b) {
        const layer *l = &net->layers[boxes[b].layer];
        cr_expect(l->type == YOLO || l->type == REGION);
        dx_target t;
        cr_assert_eq(dx_box_target_of(m, &boxes[b], DX_BOX_SCORE, &t, &err), 0, "%s", err.msg);
        cr_expect(fabsf(dx_target_score(&t, m) - boxes[b].score) < 1e-6f, "%s: box %d: target %g, score %g",
                  path, b, dx_target_score(&t, m), boxes[b].score);
    }
    free(matched);
    free_detections(dets, total);
    free(boxes);
    dx_free_image(photo);
    return n;
}

Test(detector, parity_with_darknet_yolo_fastest, .timeout = 300)
{
    const char *models[] = {"yolo-fastest-1.1", "yolo-fastest-1.1-xl"};
    char dir[1200], photos[32][1200];
    snprintf(dir, sizeof dir, "%s/images", shared_dir() ? shared_dir() : ".");
    for (int k = 0; k < 2; ++k) {
        dx_model *m = open_shared(models[k]);
        int n = list_photos(dir, photos, 32), boxes = 0;
        cr_assert(n >= 10, "%d photos in %s", n, dir);
        for (int p = 0; p < n; ++p) {
            boxes += expect_darknet_parity(m, photos[p], .5f, .45f);
            boxes += expect_darknet_parity(m, photos[p], .2f, .45f);
        }
        cr_log_info("%s: %d photos, %d boxes at thresh .5 and .2, all equal to Darknet's", models[k], n, boxes);
        cr_expect(boxes > 2 * n, "%s: only %d boxes", models[k], boxes);
        dx_close(m);
    }
}

/* Debian's cfgs with random weights, on two of Debian's photos. Random weights make most class
 * probabilities large: thresholds are chosen to keep hundreds of boxes, not tens of thousands. */
static void debian_parity(const char *cfg_name, float thresh)
{
    char cfg[256], weights[256];
    snprintf(cfg, sizeof cfg, DEBIAN_CFG "/%s", cfg_name);
    snprintf(weights, sizeof weights, "%s/net.weights", temp_dir());
    dx_model *m = open_random(cfg, weights, 3);
    char photos[32][1200];
    int n = list_photos(DEBIAN_DATA, photos, 32), boxes = 0;
    cr_assert(n >= 5, "%d photos in " DEBIAN_DATA, n);
    n = 2;
    for (int p = 0; p < n; ++p) boxes += expect_darknet_parity(m, photos[p], thresh, .45f);
    boxes += expect_darknet_parity(m, photos[0], thresh, 0); /* without NMS */
    cr_log_info("%s (random weights): %d photos, %d boxes, all equal to Darknet's", cfg_name, n, boxes);
    cr_expect(boxes > n, "%s: only %d boxes", cfg_name, boxes);
    remove(weights);
    dx_close(m);
}

Test(detector, parity_with_darknet_yolov3_tiny, .timeout = 300) { debian_parity("yolov3-tiny.cfg", .9f); }
Test(detector, parity_with_darknet_yolov2_tiny_region, .timeout = 300) { debian_parity("yolov2-tiny.cfg", .3f); }

/* score of the target at input x */
static double target_at(dx_model *m, const dx_target *t, const float *x)
{
    dx_forward(m, x);
    return dx_target_score(t, m);
}

/* |<grad, v> - (f(x + h v) - f(x - h v)) / 2h| within 1% of |grad| (v unit), for v the gradient
 * itself and a random direction. Returns the worst error relative to |grad|. */
static double box_target_directional(dx_model *m, const dx_target *t, const float *x, float h, const char *what)
{
    int n = dx_network(m)->inputs;
    dx_error err;
    dx_forward(m, x);
    cr_assert_eq(dx_target_backward(m, t, -1, NULL, &err), 0, "%s", err.msg);
    float *g = malloc(sizeof(float) * n), *v = malloc(sizeof(float) * n), *xs = malloc(sizeof(float) * n);
    memcpy(g, dx_grad_of(m, -1), sizeof(float) * n);
    double norm = 0, worst = 0;
    for (int k = 0; k < n; ++k) norm += (double)g[k] * g[k];
    norm = sqrt(norm);
    cr_assert(norm > 0, "%s: zero gradient", what);
    rng r = {99};
    for (int dir = 0; dir < 2; ++dir) {
        double vn = 0;
        for (int k = 0; k < n; ++k) {
            v[k] = dir == 0 ? g[k] : (float)rng_normal(&r);
            vn += (double)v[k] * v[k];
        }
        double analytic = 0;
        for (int k = 0; k < n; ++k) {
            v[k] = (float)(v[k] / sqrt(vn));
            analytic += (double)g[k] * v[k];
        }
        for (int k = 0; k < n; ++k) xs[k] = x[k] + h * v[k];
        double up = target_at(m, t, xs);
        for (int k = 0; k < n; ++k) xs[k] = x[k] - h * v[k];
        double fd = (up - target_at(m, t, xs)) / (2 * h);
        double rel = fabs(analytic - fd) / norm;
        if (rel > worst) worst = rel;
        cr_expect(rel < 0.01, "%s: along %s: analytic %.6g, finite differences %.6g (|grad| %.3g)", what,
                  dir ? "a random direction" : "the gradient", analytic, fd, norm);
    }
    dx_forward(m, x);
    free(g);
    free(v);
    free(xs);
    return worst;
}

static const char *const box_kinds[] = {"score", "class", "obj", "x", "y", "w", "h"};

/* Every box target at one anchor/cell of each head of the toy two-head detector (route,
 * upsample, shortcut, depthwise) and of the toy [region] detector (softmax classes, reorg). */
static void toy_box_gradients(const char *cfg_name)
{
    char cfg[1200], weights[256];
    snprintf(cfg, sizeof cfg, "%s/cfg/%s", getenv("DX_ROOT"), cfg_name);
    snprintf(weights, sizeof weights, "%s/net.weights", temp_dir());
    dx_model *m = open_random(cfg, weights, 5);
    network *net = dx_network(m);
    float *x = malloc(sizeof(float) * net->inputs);
    rng r = {5};
    for (int k = 0; k < net->inputs; ++k) x[k] = (float)rng_uniform(&r);
    double worst = 0;
    int checked = 0;
    for (int i = 0; i < net->n; ++i) {
        layer *l = &net->layers[i];
        if (l->type != YOLO && l->type != REGION) continue;
        dx_detection d = {.layer = i, .anchor = l->n - 1, .row = l->h / 2, .col = l->w / 3, .cls = l->classes - 1};
        for (int kind = DX_BOX_SCORE; kind <= DX_BOX_H; ++kind) {
            dx_target t;
            dx_error err;
            cr_assert_eq(dx_box_target_of(m, &d, (dx_box_target)kind, &t, &err), 0, "%s", err.msg);
            char what[128];
            snprintf(what, sizeof what, "%s layer %d, target %s", cfg_name, i, box_kinds[kind]);
            double e = box_target_directional(m, &t, x, 1e-3f, what);
            if (e > worst) worst = e;
            ++checked;
        }
    }
    cr_log_info("%s: %d box targets, worst directional error %.2e of |grad|", cfg_name, checked, worst);
    free(x);
    dx_close(m);
}

Test(detector, box_target_gradients_toy_yolo) { toy_box_gradients("test-detector.cfg"); }
Test(detector, box_target_gradients_toy_region) { toy_box_gradients("test-region.cfg"); }

/* The real detector on a real photo: the score, class and w targets of its detected boxes. */
Test(detector, box_target_gradients_yolo_fastest, .timeout = 300)
{
    dx_model *m = open_shared("yolo-fastest-1.1");
    char path[1200];
    snprintf(path, sizeof path, "%s/images/person.jpg", shared_dir());
    dx_image photo;
    dx_error err;
    cr_assert_eq(dx_load_photo(path, &photo, &err), 0, "%s", err.msg);
    dx_request req;
    dx_request_init(&req);
    dx_detection *boxes;
    int n;
    cr_assert_eq(dx_detect_image(m, photo, &req, &boxes, &n, &err), 0, "%s", err.msg);
    cr_assert(n >= 2, "person.jpg: %d boxes", n);
    network *net = dx_network(m);
    float *x = malloc(sizeof(float) * net->inputs);
    memcpy(x, net->input, sizeof(float) * net->inputs);
    double worst = 0;
    int heads[2] = {0, 0};
    for (int b = 0; b < n; ++b) {
        const dx_box_target kinds[] = {DX_BOX_SCORE, DX_BOX_OBJ, DX_BOX_W};
        for (int k = 0; k < 3; ++k) {
            dx_target t;
            cr_assert_eq(dx_box_target_of(m, &boxes[b], kinds[k], &t, &err), 0, "%s", err.msg);
            char what[160];
            snprintf(what, sizeof what, "yolo-fastest-1.1 person.jpg box %d (%s, layer %d), target %s", b,
                     dx_class_name(m, boxes[b].cls), boxes[b].layer, box_kinds[kinds[k]]);
            double e = box_target_directional(m, &t, x, 1e-4f, what);
            if (e > worst) worst = e;
        }
        heads[boxes[b].layer == m->head]++;
    }
    cr_log_info("yolo-fastest-1.1 person.jpg: %d boxes (%d on the last head), worst directional error %.2e of |grad|",
                n, heads[1], worst);
    free(x);
    free(boxes);
    dx_free_image(photo);
    dx_close(m);
}

/* Pointing game: the Grad-CAM maximum of each detected box lies inside the box, give or take
 * POINTING_TOLERANCE photo pixels. Measured on the 12 shared photos with both models (thresh .5):
 * 38 of 56 boxes (0.68). Most misses are photos with several objects of one class (kite.jpg's
 * kites and people): Grad-CAM's channel weights are pooled over the whole map, so every box of
 * the class points at the strongest instance. */
#define POINTING_TOLERANCE 8
#define POINTING_FLOOR 0.65

Test(detector, pointing_game_gradcam, .timeout = 300)
{
    const char *models[] = {"yolo-fastest-1.1", "yolo-fastest-1.1-xl"};
    char dir[1200], photos[32][1200];
    snprintf(dir, sizeof dir, "%s/images", shared_dir() ? shared_dir() : ".");
    int hits = 0, total = 0;
    for (int k = 0; k < 2; ++k) {
        dx_model *m = open_shared(models[k]);
        int n = list_photos(dir, photos, 32), model_hits = 0, model_total = 0;
        for (int p = 0; p < n; ++p) {
            dx_request req;
            dx_request_init(&req);
            req.box = DX_ALL_BOXES;
            dx_box_explanations e;
            dx_error err;
            cr_assert_eq(dx_explain_boxes_file(m, photos[p], &req, &e, &err), 0, "%s", err.msg);
            for (int b = 0; b < e.n; ++b) {
                const dx_result *r = &e.results[b];
                int best = 0;
                for (int q = 1; q < r->h * r->w; ++q)
                    if (r->map[q] > r->map[best]) best = q;
                float px = best % r->w + .5f, py = best / r->w + .5f, t = POINTING_TOLERANCE;
                const dx_detection *d = &r->box;
                int hit = px >= d->x - t && px <= d->x + d->w + t && py >= d->y - t && py <= d->y + d->h + t;
                model_hits += hit;
                ++model_total;
                if (!hit)
                    cr_log_info("%s %s box %d %s (%.0f,%.0f %.0fx%.0f): Grad-CAM max at (%.0f,%.0f)", models[k],
                                strrchr(photos[p], '/') + 1, b, dx_class_name(m, d->cls), d->x, d->y, d->w, d->h, px, py);
            }
            dx_box_explanations_free(&e);
        }
        cr_log_info("%s: Grad-CAM maximum inside the box (+-%d px) for %d of %d boxes", models[k],
                    POINTING_TOLERANCE, model_hits, model_total);
        hits += model_hits;
        total += model_total;
        dx_close(m);
    }
    cr_log_info("pointing game: %d of %d boxes (%.3f)", hits, total, (double)hits / total);
    cr_expect(total >= 20, "only %d boxes", total);
    cr_expect((double)hits / total >= POINTING_FLOOR, "pointing game: %d of %d boxes (%.3f) < floor %.2f", hits,
              total, (double)hits / total, POINTING_FLOOR);
}

static dx_image shared_photo(const char *name)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/images/%s", shared_dir(), name);
    dx_image photo;
    dx_error err;
    cr_assert_eq(dx_load_photo(path, &photo, &err), 0, "%s", err.msg);
    return photo;
}

/* All boxes from one forward equal each box explained on its own (so the methods leave the
 * forward state as they found it), for a CAM and a gradient method (the perturbation methods,
 * which score all boxes on each perturbed forward: tests/test_shapes.c). */
Test(detector, all_boxes_equal_each_box_alone, .timeout = 300)
{
    dx_model *m = open_shared("yolo-fastest-1.1-xl");
    dx_image photo = shared_photo("dog.jpg");
    const dx_method methods[] = {DX_METHOD_GRADCAM, DX_METHOD_SALIENCY};
    for (int k = 0; k < 2; ++k) {
        dx_request req;
        dx_request_init(&req);
        req.method = methods[k];
        req.box = DX_ALL_BOXES;
        dx_box_explanations all;
        dx_error err;
        cr_assert_eq(dx_explain_boxes(m, photo, &req, &all, &err), 0, "%s", err.msg);
        cr_assert_eq(all.n, 3, "dog.jpg: %d boxes (Darknet: dog, car, bicycle)", all.n);
        expect_each_box_alone(m, photo, &req, &all);
        dx_box_explanations_free(&all);
    }
    /* the boxes of Darknet's own `detector test` on this photo */
    dx_request req;
    dx_request_init(&req);
    dx_detection *boxes;
    int n;
    dx_error err;
    cr_assert_eq(dx_detect_image(m, photo, &req, &boxes, &n, &err), 0, "%s", err.msg);
    const char *names[] = {"dog", "car", "bicycle"};
    for (int b = 0; b < n; ++b) cr_expect_str_eq(dx_class_name(m, boxes[b].cls), names[b]);
    req.box = 3;
    dx_result r;
    cr_expect_eq(dx_explain_image(m, photo, &req, &r, &err), -1);
    cr_expect(strstr(err.msg, "box 3 does not exist: 3 boxes"), "%s", err.msg);
    free(boxes);
    dx_free_image(photo);
    dx_close(m);
}

/* -region: a detected box's own pixels find its own anchor and cell; a region with nothing
 * detected is explained from its best anchor even though that scores below thresh. */
Test(detector, region_finds_the_anchor, .timeout = 300)
{
    dx_model *m = open_shared("yolo-fastest-1.1-xl");
    dx_image photo = shared_photo("dog.jpg");
    dx_request req;
    dx_request_init(&req);
    dx_detection *boxes;
    int n;
    dx_error err;
    cr_assert_eq(dx_detect_image(m, photo, &req, &boxes, &n, &err), 0, "%s", err.msg);
    for (int b = 0; b < n; ++b) {
        dx_detection found;
        float region[4] = {boxes[b].x, boxes[b].y, boxes[b].w, boxes[b].h};
        cr_assert_eq(dx_region_box(m, photo.w, photo.h, region, &found, &err), 0, "%s", err.msg);
        cr_expect(found.layer == boxes[b].layer && found.anchor == boxes[b].anchor && found.row == boxes[b].row &&
                  found.col == boxes[b].col, "box %d: region finds layer %d anchor %d cell %d,%d, not %d %d %d,%d", b,
                  found.layer, found.anchor, found.row, found.col, boxes[b].layer, boxes[b].anchor, boxes[b].row,
                  boxes[b].col);
    }
    /* the tree tops above the car: nothing detected there */
    req.use_region = 1;
    req.region[0] = 0, req.region[1] = 0, req.region[2] = 200, req.region[3] = 100;
    dx_result r;
    cr_assert_eq(dx_explain_image(m, photo, &req, &r, &err), 0, "%s", err.msg);
    cr_log_info("dog.jpg region 0,0,200x100: %s %.4f at layer %d anchor %d cell %d,%d", dx_class_name(m, r.box.cls),
                r.box.score, r.box.layer, r.box.anchor, r.box.row, r.box.col);
    cr_expect(r.box.score < req.thresh, "score %g", r.box.score);
    cr_expect(r.map_max > r.map_min, "the map is constant");
    dx_result_free(&r);
    req.region[2] = 0;
    cr_expect_eq(dx_explain_image(m, photo, &req, &r, &err), -1);
    cr_expect(strstr(err.msg, "width and height must be > 0"), "%s", err.msg);
    free(boxes);
    dx_free_image(photo);
    dx_close(m);
}

/* ---- the command line ---- */

static int files_in(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void slurp(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, len - 1, f) : 0;
    buf[n] = 0;
    if (f) fclose(f);
}

/* runs darknet-explain in dir on Yolo-Fastest-XL and dog.jpg with extra arguments; exit status,
 * stdout and stderr are left in out/err (the streams go outside dir) */
static int run_cli(const char *dir, const char *args, char *out, char *err)
{
    const char *cli = getenv("DX_CLI"), *shared = shared_dir();
    cr_assert(cli, "DX_CLI is not set (run through make test)");
    if (!shared) cr_skip_test("../shared is absent");
    char cmd[4096], streams[1100];
    snprintf(streams, sizeof streams, "%s.streams", dir);
    snprintf(cmd, sizeof cmd,
             "cd %s && %s gradcam %s/models/coco/yolo-fastest-1.1-xl.cfg %s/models/coco/yolo-fastest-1.1-xl.weights "
             "%s/images/dog.jpg -names %s/models/coco/coco.names %s >%s.out 2>%s.err",
             dir, cli, shared, shared, shared, shared, args, streams, streams);
    int status = system(cmd);
    char path[1200];
    snprintf(path, sizeof path, "%s.out", streams);
    slurp(path, out, 8192);
    snprintf(path, sizeof path, "%s.err", streams);
    slurp(path, err, 8192);
    return WEXITSTATUS(status);
}

Test(detector, cli_every_box, .timeout = 300)
{
    const char *dir = temp_dir();
    char out[8192], err[8192], json[65536], path[1200];
    int status = run_cli(dir, "-boxes all -out d -png_width 320", out, err);
    cr_assert_eq(status, 0, "exit %d: %s", status, err);
    cr_expect_str_eq(err, "");
    cr_expect(strstr(out, "box1 car"), "%s", out);
    cr_expect(strstr(out, "wrote d_boxes.png d.json"), "%s", out);
    const char *files[] = {"d_box0.png", "d_box0.npy", "d_box1.png", "d_box1.npy", "d_box2.png", "d_box2.npy",
                           "d_boxes.png", "d.json"};
    for (int k = 0; k < 8; ++k) {
        snprintf(path, sizeof path, "%s/%s", dir, files[k]);
        cr_expect(access(path, R_OK) == 0, "%s is missing", files[k]);
    }
    cr_expect_eq(files_in(dir), 8);
    snprintf(path, sizeof path, "%s/d.json", dir);
    slurp(path, json, sizeof json);
    cr_expect(strstr(json, "\"name\": \"car\""), "%s", json);
    cr_expect(strstr(json, "\"overlay_png\": \"d_box1.png\""), "%s", json);
    cr_expect(strstr(json, "\"map_npy\": \"d_box2.npy\""), "%s", json);
    cr_expect(strstr(json, "\"boxes_png\": \"d_boxes.png\""), "%s", json);
    cr_expect(strstr(json, "\"type\": \"yolo\""), "%s", json);
    /* the .npy maps are at the photo's resolution */
    snprintf(path, sizeof path, "%s/d_box0.npy", dir);
    FILE *f = fopen(path, "rb");
    cr_assert(f);
    fseek(f, 0, SEEK_END);
    cr_expect_eq(ftell(f), 128 + 4 * 768 * 576);
    fclose(f);
}

Test(detector, cli_no_detection_one_box_region_and_errors, .timeout = 300)
{
    const char *dir = temp_dir();
    char out[8192], err[8192], json[65536], path[1200];
    /* nothing scores above 1: exit 0, a JSON with no boxes, no figure; the line names the best
     * score (the first box at threshold 0 without NMS) */
    dx_model *m = open_shared("yolo-fastest-1.1-xl");
    dx_image photo = shared_photo("dog.jpg");
    dx_request req;
    dx_request_init(&req);
    req.thresh = 0;
    req.nms = 0;
    dx_detection *boxes;
    int n;
    dx_error error;
    cr_assert_eq(dx_detect_image(m, photo, &req, &boxes, &n, &error), 0, "%s", error.msg);
    char want[256];
    snprintf(want, sizeof want, "no detection above -thresh 1 (the best score is %.2f%%, %s); wrote none.json",
             100 * boxes[0].score, dx_class_name(m, boxes[0].cls));
    free(boxes);
    dx_free_image(photo);
    dx_close(m);
    int status = run_cli(dir, "-thresh 1 -out none", out, err);
    cr_expect_eq(status, 0, "exit %d: %s", status, err);
    cr_expect(strstr(out, want), "'%s' does not say '%s'", out, want);
    snprintf(path, sizeof path, "%s/none.json", dir);
    slurp(path, json, sizeof json);
    cr_expect(strstr(json, "\"boxes\": []"), "%s", json);
    cr_expect(strstr(json, "\"note\": \"no detection above thresh 1\""), "%s", json);
    cr_expect_eq(files_in(dir), 1);
    /* one box, by index, explaining its width */
    status = run_cli(dir, "-box 1 -target w -out one", out, err);
    cr_expect_eq(status, 0, "exit %d: %s", status, err);
    slurp(strcat(strcpy(path, dir), "/one.json"), json, sizeof json);
    cr_expect(strstr(json, "\"id\": \"box1\"") && strstr(json, "\"box_target\": \"w\""), "%s", json);
    cr_expect_eq(files_in(dir), 5);
    /* a region with nothing detected */
    status = run_cli(dir, "-region 0,0,200,100 -out miss", out, err);
    cr_expect_eq(status, 0, "exit %d: %s", status, err);
    cr_expect(strstr(out, "region"), "%s", out);
    cr_expect_eq(files_in(dir), 9);
    /* errors: one line, the right exit code, nothing written */
    struct {
        const char *args, *needle;
        int code;
    } bad[] = {
        {"-box 7 -out x", "box 7 does not exist: 3 boxes", 1},
        {"-boxes some -out x", "-boxes takes all", 2},
        {"-target size -out x", "-target takes score, class, obj, x, y, w or h", 2},
        {"-region 1,2,3 -out x", "-region takes x,y,w,h", 2},
        {"-thresh 2 -out x", "-thresh takes a number from 0 to 1", 2},
        {"-boxes all -out no/such/dir/x", "-out no/such/dir/x: no such directory no/such/dir/", 1}, /* before loading */
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; ++k) {
        status = run_cli(dir, bad[k].args, out, err);
        cr_expect_eq(status, bad[k].code, "`%s`: exit %d: %s", bad[k].args, status, err);
        cr_expect(strstr(err, bad[k].needle), "`%s`: stderr '%s'", bad[k].args, err);
        cr_expect_eq(strchr(err, '\n'), err + strlen(err) - 1, "`%s`: stderr '%s'", bad[k].args, err);
        cr_expect_eq(files_in(dir), 9, "`%s` left files", bad[k].args);
    }
}

/* ---- D-RISE ---- */

/* Same seed, same map; another seed, another map; the forward state is left as it was. */
Test(detector, drise_is_seeded_and_restores_the_forward)
{
    char cfg[1200], weights[256];
    snprintf(cfg, sizeof cfg, "%s/cfg/test-detector.cfg", getenv("DX_ROOT"));
    snprintf(weights, sizeof weights, "%s/net.weights", temp_dir());
    dx_model *m = open_random(cfg, weights, 5);
    network *net = dx_network(m);
    dx_image photo = dx_make_image(48, 40, 3);
    rng g = {11};
    for (int k = 0; k < 48 * 40 * 3; ++k) photo.data[k] = (float)rng_uniform(&g);
    dx_request req;
    dx_request_init(&req);
    req.method = DX_METHOD_DRISE;
    req.use_region = 1; /* random weights: no box clears a threshold, a region always has an anchor */
    req.region[0] = 10, req.region[1] = 8, req.region[2] = 20, req.region[3] = 16;
    req.masks = 40;
    req.cell = 8; /* 4-pixel cells on the 32x32 toy input */
    dx_result a, b, c;
    dx_error err;
    cr_assert_eq(dx_explain_image(m, photo, &req, &a, &err), 0, "%s", err.msg);
    /* the state left behind is the photo's forward: the head outputs equal a fresh forward's */
    int head = a.box.layer, outputs = net->layers[head].outputs;
    float *after = malloc(sizeof(float) * outputs);
    memcpy(after, dx_output_of(m, head), sizeof(float) * outputs);
    dx_image boxed = dx_backend_letterbox_image(photo, net->w, net->h);
    dx_forward(m, boxed.data);
    cr_expect_eq(memcmp(after, dx_output_of(m, head), sizeof(float) * outputs), 0, "drise left another forward state");
    dx_free_image(boxed);
    free(after);
    cr_assert_eq(dx_explain_image(m, photo, &req, &b, &err), 0, "%s", err.msg);
    req.seed = 2;
    cr_assert_eq(dx_explain_image(m, photo, &req, &c, &err), 0, "%s", err.msg);
    cr_expect_eq(memcmp(a.map, b.map, sizeof(float) * a.h * a.w), 0, "seed 1 twice: different maps");
    cr_expect_neq(memcmp(a.map, c.map, sizeof(float) * a.h * a.w), 0, "seeds 1 and 2: the same map");
    cr_expect(a.map_max > a.map_min && a.map_min >= 0);
    dx_result_free(&a);
    dx_result_free(&b);
    dx_result_free(&c);
    dx_free_image(photo);
    dx_close(m);
}

/* On a real photo the map's mass concentrates in the box: mean inside / mean outside over the
 * photo, for dog.jpg's car (Yolo-Fastest 1.1, 3.8% of the photo) with 64 masks (seeded):
 * measured 1.139 (a uniform map gives 1). */
#define DRISE_CONTRAST_FLOOR 1.1

Test(detector, drise_concentrates_in_the_box, .timeout = 300)
{
    dx_model *m = open_shared("yolo-fastest-1.1");
    dx_image photo = shared_photo("dog.jpg");
    dx_request req;
    dx_request_init(&req);
    req.method = DX_METHOD_DRISE;
    req.box = 2;
    req.masks = 64;
    dx_result r;
    dx_error err;
    cr_assert_eq(dx_explain_image(m, photo, &req, &r, &err), 0, "%s", err.msg);
    cr_assert_str_eq(dx_class_name(m, r.box.cls), "car");
    double inside = 0, outside = 0;
    int n_in = 0;
    for (int y = 0; y < r.h; ++y)
        for (int x = 0; x < r.w; ++x) {
            int in = x + .5f >= r.box.x && x + .5f <= r.box.x + r.box.w && y + .5f >= r.box.y && y + .5f <= r.box.y + r.box.h;
            *(in ? &inside : &outside) += r.map[y * r.w + x];
            n_in += in;
        }
    double contrast = (inside / n_in) / (outside / (r.h * r.w - n_in));
    cr_log_info("drise dog.jpg car, 64 masks: mean inside the box / outside %.3f (%d of %d pixels inside)",
                contrast, n_in, r.h * r.w);
    cr_expect(contrast >= DRISE_CONTRAST_FLOOR, "contrast %.3f < %.2f", contrast, DRISE_CONTRAST_FLOOR);
    dx_result_free(&r);
    dx_free_image(photo);
    dx_close(m);
}
