/* The standard outputs of one explanation: PREFIX.png, PREFIX.npy, PREFIX.raw.npy, PREFIX.json.
 * Each call's files are one set of the atomic writer (io/atomic.h): written beside their final
 * names (".part") and renamed only when all of them succeeded. */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backends/backend.h"
#include "error.h"
#include "hooks.h"
#include "io/atomic.h"
#include "io/drawing.h"
#include "io/image.h"
#include "io/json.h"
#include "io/npy.h"
#include "io/render.h"
#include "memory.h"
#include "methods/params.h"
#include "model.h"
#include "outputs.h"

enum { OUT_PNG, OUT_MAP, OUT_NATIVE, OUT_JSON, OUT_COUNT };
static const char *const suffixes[OUT_COUNT] = {".png", ".npy", ".raw.npy", ".json"};

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* "tool", "method", "parameters" (the method's options as it ran, from req: methods/params.h;
 * none for a result put together by hand, whose request is another method's), "model" and
 * "image", the members every JSON starts with */
/* How the photo became the network's input: letterboxed (pjreddie's Darknet; the forks with [net]
 * letter_box=1) or stretched (the forks otherwise), and the Darknet command that does the same.
 * The forks' classifiers crop (resize_min + centre crop): no command is claimed for them. */
static const char *preprocessing(const dx_model *m, int detector)
{
    if (detector) return m->net->letterbox ? "letterbox (as darknet detector test)" : "stretch (as darknet detector test)";
    if (!m->net->letterbox) return "stretch";
    return strcmp(dx_backend_name(), "pjreddie") == 0 ? "letterbox (as darknet classifier predict)" : "letterbox";
}

static void json_header(dx_json *j, const dx_model *m, dx_method method, const dx_request *req,
                        const char *image_path, int w, int h, int detector)
{
    const dx_net *net = m->net;
    dx_json_key(j, "tool"); dx_json_str(j, "darknet-explain " DX_VERSION);
    dx_json_key(j, "method"); dx_json_str(j, dx_method_name(method));
    if (req->method == method) {
        dx_json_key(j, "parameters");
        dx_json_parameters(j, req, dx_is_detector(m));
    }
    dx_json_key(j, "model");
    dx_json_obj_begin(j);
    dx_json_key(j, "cfg"); dx_json_str(j, m->cfg_path);
    dx_json_key(j, "weights"); dx_json_str(j, m->weights_path);
    dx_json_key(j, "input_whc");
    dx_json_arr_begin(j); dx_json_int(j, net->w); dx_json_int(j, net->h); dx_json_int(j, net->c); dx_json_arr_end(j);
    dx_json_key(j, "layers"); dx_json_int(j, m->n);
    dx_json_obj_end(j);
    dx_json_key(j, "image");
    dx_json_obj_begin(j);
    dx_json_key(j, "path"); dx_json_str(j, image_path);
    dx_json_key(j, "width"); dx_json_int(j, w);
    dx_json_key(j, "height"); dx_json_int(j, h);
    dx_json_key(j, "preprocessing"); dx_json_str(j, preprocessing(m, detector));
    dx_json_obj_end(j);
}

static const char *const box_target_names[] = {"score", "class", "obj", "x", "y", "w", "h"};

/* a detection's members: where it is, what it is, where it came from */
static void json_box(dx_json *j, const dx_model *m, const dx_detection *d)
{
    dx_json_key(j, "x"); dx_json_num(j, d->x);
    dx_json_key(j, "y"); dx_json_num(j, d->y);
    dx_json_key(j, "w"); dx_json_num(j, d->w);
    dx_json_key(j, "h"); dx_json_num(j, d->h);
    dx_json_key(j, "class"); dx_json_int(j, d->cls);
    dx_json_key(j, "name"); dx_json_str(j, dx_class_name(m, d->cls));
    dx_json_key(j, "score"); dx_json_num(j, d->score);
    dx_json_key(j, "objectness"); dx_json_num(j, d->objectness);
    dx_json_key(j, "class_probability"); dx_json_num(j, d->class_prob);
    dx_json_key(j, "head");
    dx_json_obj_begin(j);
    dx_json_key(j, "layer"); dx_json_int(j, d->layer);
    dx_json_key(j, "type"); dx_json_str(j, m->net->layers[d->layer].type_name);
    dx_json_key(j, "anchor"); dx_json_int(j, d->anchor);
    dx_json_key(j, "row"); dx_json_int(j, d->row);
    dx_json_key(j, "col"); dx_json_int(j, d->col);
    dx_json_obj_end(j);
}

/* "method_stats": what the method reports about its run (none: no key) */
static void json_method_stats(dx_json *j, const dx_result *r)
{
    if (r->n_stats == 0) return;
    dx_json_key(j, "method_stats");
    dx_json_obj_begin(j);
    for (int k = 0; k < r->n_stats; ++k) {
        dx_json_key(j, r->stats[k].name);
        dx_json_num(j, r->stats[k].value);
    }
    dx_json_obj_end(j);
}

/* "map_blank" (every value of the map is the same, e.g. 0 after a ReLU: nothing to see) and
 * "png": what the PNG's colours mean */
static void json_display(dx_json *j, const dx_result *r, const dx_png_display *d)
{
    dx_json_key(j, "map_blank"); dx_json_bool(j, r->map_min == r->map_max);
    dx_json_key(j, "png");
    dx_json_obj_begin(j);
    dx_json_key(j, "scale");
    dx_json_arr_begin(j); dx_json_num(j, d->scale.lo); dx_json_num(j, d->scale.hi); dx_json_arr_end(j);
    dx_json_key(j, "clip_percentile"); dx_json_num(j, d->scale.clip_percentile);
    dx_json_key(j, "clipped"); dx_json_bool(j, d->scale.clipped);
    dx_json_key(j, "blend"); dx_json_str(j, d->fade ? "fade" : "constant");
    dx_json_key(j, "opacity"); dx_json_num(j, d->opacity);
    dx_json_obj_end(j);
}

/* With layer timing on (-timing): "layer_forward", each layer's time (ms) in the photo's forward
 * (the one "forward" or a detector's "forward_ms" times: their parts, whatever forwards ran before
 * it or the method ran after it), the kernels OpenBLAS runs: "blas_kernel" (its core name),
 * "blas_threads" (its pool), and "onednn_layers": how many layers oneDNN computed in the last
 * forward (its convolutions; 0 with oneDNN off or missing). */
static void json_layer_timings(dx_json *j, const dx_model *m)
{
    if (!m->timing) return;
    dx_json_key(j, "layer_forward");
    dx_json_arr_begin(j);
    for (int i = 0; i < m->n; ++i) dx_json_num(j, m->hooks[i].ms_photo);
    dx_json_arr_end(j);
    dx_json_key(j, "blas_kernel"); dx_json_str(j, openblas_get_corename());
    dx_json_key(j, "blas_threads"); dx_json_int(j, openblas_get_num_threads());
    dx_json_key(j, "onednn_layers"); dx_json_int(j, dx_onednn_layers_ran(m));
}

static int write_json(const dx_model *m, const dx_result *r, const dx_png_display *display,
                      char finals[OUT_COUNT][1100], const char *path, dx_error *err)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        dx_set_error(err, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    const dx_net *net = m->net;
    dx_json j;
    dx_json_begin(&j, f);
    dx_json_obj_begin(&j);
    json_header(&j, m, r->method, &r->request, r->image_path, r->w, r->h, r->has_box);
    dx_json_key(&j, "target");
    dx_json_obj_begin(&j);
    dx_json_key(&j, "class"); dx_json_int(&j, r->class_id);
    dx_json_key(&j, "name"); dx_json_str(&j, dx_class_name(m, r->class_id));
    dx_json_key(&j, "score"); dx_json_str(&j, r->score_kind == DX_SCORE_PROB ? "probability" : "logit");
    dx_json_key(&j, "logit"); dx_json_num(&j, r->logit);
    dx_json_key(&j, "probability"); dx_json_num(&j, r->prob);
    if (r->has_box) {
        dx_json_key(&j, "box_target"); dx_json_str(&j, box_target_names[r->box_target]);
        dx_json_key(&j, "box");
        dx_json_obj_begin(&j);
        json_box(&j, m, &r->box);
        dx_json_obj_end(&j);
    }
    dx_json_obj_end(&j);
    dx_json_key(&j, "layer");
    if (r->layer < 0) {
        dx_json_null(&j);
    } else {
        const dx_layer *l = &net->layers[r->layer];
        dx_json_obj_begin(&j);
        dx_json_key(&j, "index"); dx_json_int(&j, r->layer);
        dx_json_key(&j, "type"); dx_json_str(&j, l->type_name);
        dx_json_key(&j, "output_chw");
        dx_json_arr_begin(&j); dx_json_int(&j, l->out_c); dx_json_int(&j, l->out_h); dx_json_int(&j, l->out_w); dx_json_arr_end(&j);
        dx_json_obj_end(&j);
    }
    dx_json_key(&j, "predictions");
    dx_json_arr_begin(&j);
    for (int k = 0; k < r->ntop; ++k) {
        dx_json_obj_begin(&j);
        dx_json_key(&j, "class"); dx_json_int(&j, r->top[k].cls);
        dx_json_key(&j, "name"); dx_json_str(&j, dx_class_name(m, r->top[k].cls));
        dx_json_key(&j, "probability"); dx_json_num(&j, r->top[k].prob);
        dx_json_obj_end(&j);
    }
    dx_json_arr_end(&j);
    dx_json_key(&j, "outputs");
    dx_json_obj_begin(&j);
    dx_json_key(&j, "overlay_png"); dx_json_str(&j, base_name(finals[OUT_PNG]));
    dx_json_key(&j, "map_npy"); dx_json_str(&j, base_name(finals[OUT_MAP]));
    dx_json_key(&j, "map_shape_hw");
    dx_json_arr_begin(&j); dx_json_int(&j, r->h); dx_json_int(&j, r->w); dx_json_arr_end(&j);
    dx_json_key(&j, "map_frame"); dx_json_str(&j, "the photo's pixels (letterbox border removed, bilinear)");
    dx_json_key(&j, "raw_npy"); dx_json_str(&j, base_name(finals[OUT_NATIVE]));
    dx_json_key(&j, "raw_shape_hw");
    dx_json_arr_begin(&j); dx_json_int(&j, r->native_h); dx_json_int(&j, r->native_w); dx_json_arr_end(&j);
    dx_json_key(&j, "raw_frame");
    dx_json_str(&j, r->layer < 0 ? "the network input (letterboxed photo)"
                                 : "the layer's feature map over the network input (letterboxed photo)");
    dx_json_key(&j, "signed"); dx_json_bool(&j, r->signed_map);
    dx_json_key(&j, "map_min"); dx_json_num(&j, r->map_min);
    dx_json_key(&j, "map_max"); dx_json_num(&j, r->map_max);
    json_display(&j, r, display);
    dx_json_obj_end(&j);
    json_method_stats(&j, r);
    dx_json_key(&j, "timings_ms");
    dx_json_obj_begin(&j);
    dx_json_key(&j, "forward"); dx_json_num(&j, r->ms_forward);
    dx_json_key(&j, "backward"); dx_json_num(&j, r->ms_backward);
    dx_json_key(&j, "method"); dx_json_num(&j, r->ms_method);
    json_layer_timings(&j, m);
    dx_json_obj_end(&j);
    dx_json_obj_end(&j);
    int rc = dx_json_end(&j);
    if (fclose(f) != 0 || rc != 0) {
        dx_set_error(err, "%s: write failed", path);
        return -1;
    }
    return 0;
}

/* The label of a box: "name 94%" */
static void detection_label(const dx_model *m, const dx_detection *d, char *out, size_t len)
{
    snprintf(out, len, "%s %.0f%%", dx_class_name(m, d->cls), 100.f * d->score);
}

/* A box in photo pixels, in the drawing's pixels. */
static dx_render_box drawn_box(const dx_detection *b, const dx_drawing *d, const char *label)
{
    return (dx_render_box){b->x * d->sx, b->y * d->sy, b->w * d->sx, b->h * d->sy, {1, 1, 1}, label};
}

/* The overlay at png_width (0: the photo's size); with r's box if it has one. */
static int write_overlay(const dx_model *m, const dx_result *r, int png_width, const dx_png_display *display,
                         const char *title, const char *path, dx_error *err)
{
    dx_drawing d;
    if (dx_drawing_size(r->w, r->h, png_width, &d, err) != 0) return -1;
    char label[160];
    dx_render_box box = {0};
    if (r->has_box) {
        detection_label(m, &r->box, label, sizeof label);
        box = drawn_box(&r->box, &d, label); /* white: not in jet */
    }
    dx_image photo = dx_drawn(r->photo, &d, path, err);
    dx_image map = photo.data ? dx_drawn(dx_image_over(r->w, r->h, 1, r->map), &d, path, err) : (dx_image){0};
    dx_render_style style = {.opacity = display->opacity, .fade = display->fade, .scale = &display->scale};
    int rc = !map.data ? -1 : dx_render_overlay_boxes(photo, map.data, d.h, d.w, r->signed_map, &box, r->has_box,
                                                      title, &style, path, err);
    dx_free_image(photo);
    dx_free_image(map);
    return rc;
}

int dx_write_outputs(const dx_model *m, const dx_result *r, const char *prefix,
                     const dx_output_options *opt, dx_error *err)
{
    char finals[OUT_COUNT][1100];
    if (strlen(prefix) >= 1024) {
        dx_set_error(err, "%.60s...: output prefix longer than 1023 characters", prefix);
        return -1;
    }
    if (dx_check_output_options(opt, err) != 0 || dx_check_finite_result(r, prefix, err) != 0) return -1;
    dx_atomic_set set = {0};
    const char *parts[OUT_COUNT];
    for (int k = 0; k < OUT_COUNT; ++k) { /* fits: the prefix is shorter than 1024 */
        snprintf(finals[k], sizeof finals[k], "%s%s", prefix, suffixes[k]);
        if (!(parts[k] = dx_atomic_add(&set, finals[k], err))) return dx_atomic_commit(&set, -1, err);
    }
    char title[256];
    snprintf(title, sizeof title, "%s  %s %.1f%%  %s", dx_method_name(r->method),
             dx_class_name(m, r->class_id), 100.f * r->prob,
             r->layer >= 0 ? "" : "input");
    if (r->layer >= 0)
        snprintf(title + strlen(title), sizeof title - strlen(title), "layer %d", r->layer);
    dx_png_display display;
    dx_png_display_of(r, opt, &display);

    int map_shape[2] = {r->h, r->w}, native_shape[2] = {r->native_h, r->native_w};
    int rc = write_overlay(m, r, opt ? opt->png_width : 0, &display, title, parts[OUT_PNG], err);
    if (rc == 0) rc = dx_npy_write(parts[OUT_MAP], r->map, 2, map_shape, err);
    if (rc == 0) rc = dx_npy_write(parts[OUT_NATIVE], r->native, 2, native_shape, err);
    if (rc == 0) rc = write_json(m, r, &display, finals, parts[OUT_JSON], err);
    return dx_atomic_commit(&set, rc, err);
}

int dx_write_panel(const dx_model *m, const dx_result *results, int n, const char *path,
                   const dx_output_options *opt, dx_error *err)
{
    if (n <= 0) {
        dx_set_error(err, "%s: a panel needs at least one explanation", path);
        return -1;
    }
    const dx_result *first = &results[0];
    dx_drawing d;
    int width = opt && opt->png_width != 0 ? opt->png_width : first->w < 320 ? 0 : 320;
    if (dx_check_output_options(opt, err) != 0 || dx_drawing_size(first->w, first->h, width, &d, err) != 0) return -1;
    for (int k = 0; k < n; ++k)
        if (dx_check_finite_result(&results[k], path, err) != 0) return -1;
    dx_atomic_set set = {0};
    const char *part = dx_atomic_add(&set, path, err);
    if (!part) return -1;
    dx_image photo = dx_drawn(first->photo, &d, path, err);
    dx_image *maps = dx_alloc(n, sizeof(dx_image), path, err);
    const float **planes = dx_alloc(n, sizeof(float *), path, err);
    int *signs = dx_alloc(n, sizeof(int), path, err);
    const char **labels = dx_alloc(n, sizeof(char *), path, err);
    dx_png_display *displays = dx_alloc(n, sizeof *displays, path, err);
    dx_render_style *styles = dx_alloc(n, sizeof *styles, path, err);
    int rc = -1;
    if (!photo.data || !maps || !planes || !signs || !labels || !displays || !styles) goto done;
    for (int k = 0; k < n; ++k) {
        if (results[k].w != first->w || results[k].h != first->h) {
            dx_set_error(err, "%s: the explanations are of photos of different sizes", path);
            goto done;
        }
        maps[k] = dx_drawn(dx_image_over(first->w, first->h, 1, results[k].map), &d, path, err);
        if (!maps[k].data) goto done;
        planes[k] = maps[k].data;
        signs[k] = results[k].signed_map;
        labels[k] = dx_method_name(results[k].method);
        dx_png_display_of(&results[k], opt, &displays[k]);
        styles[k] = (dx_render_style){.opacity = displays[k].opacity, .fade = displays[k].fade,
                                       .scale = &displays[k].scale};
    }
    char title[256];
    snprintf(title, sizeof title, "%.120s  %.60s %.1f%%", base_name(first->image_path),
             dx_class_name(m, first->class_id), 100.f * first->prob);
    if (first->has_box) /* which box the maps explain */
        snprintf(title + strlen(title), sizeof title - strlen(title), " at %.0f,%.0f %.0fx%.0f", first->box.x,
                 first->box.y, first->box.w, first->box.h);
    rc = dx_render_panel(photo, planes, signs, styles, labels, n, title, part, err);
done:
    for (int k = 0; k < n && maps; ++k)
        if (maps[k].data) dx_free_image(maps[k]);
    free(maps);
    free(planes);
    free(signs);
    free(labels);
    free(displays);
    free(styles);
    dx_free_image(photo);
    return dx_atomic_commit(&set, rc, err);
}

/* ---- detectors: one map per box ---- */

/* The name stem of result k: box<K> with K the box's index among the detections, or region. */
void dx_box_stem(const dx_box_explanations *e, int k, char *out, size_t len)
{
    if (e->req.use_region) snprintf(out, len, "region");
    else snprintf(out, len, "box%d", e->req.box >= 0 ? e->req.box : k);
}

/* The detector JSON up to its "boxes" array, opened. */
static void boxes_json_head(dx_json *j, const dx_model *m, const dx_box_explanations *e)
{
    dx_json_obj_begin(j);
    json_header(j, m, e->req.method, &e->req, e->image_path, e->photo_w, e->photo_h, 1);
    dx_json_key(j, "detection");
    dx_json_obj_begin(j);
    dx_json_key(j, "thresh"); dx_json_num(j, e->req.thresh);
    dx_json_key(j, "hier"); dx_json_num(j, e->req.hier);
    dx_json_key(j, "nms"); dx_json_num(j, e->req.nms);
    dx_json_key(j, "box_target"); dx_json_str(j, box_target_names[e->req.box_target]);
    dx_json_key(j, "region");
    if (e->req.use_region) {
        dx_json_arr_begin(j);
        for (int k = 0; k < 4; ++k) dx_json_num(j, e->req.region[k]);
        dx_json_arr_end(j);
    } else {
        dx_json_null(j);
    }
    dx_json_key(j, "box_frame"); dx_json_str(j, "x, y: top-left corner, w, h: size, in the photo's pixels");
    dx_json_key(j, "best"); /* the best score of any anchor, cell and class: how far below thresh */
    dx_json_obj_begin(j);
    dx_json_key(j, "score"); dx_json_num(j, e->best_score);
    dx_json_key(j, "class"); dx_json_int(j, e->best_class);
    dx_json_key(j, "name"); dx_json_str(j, dx_class_name(m, e->best_class));
    dx_json_obj_end(j);
    dx_json_obj_end(j);
    if (e->n == 0) {
        char note[128];
        snprintf(note, sizeof note, "no detection above thresh %g", e->req.thresh);
        dx_json_key(j, "note"); dx_json_str(j, note);
    }
    dx_json_key(j, "boxes");
    dx_json_arr_begin(j);
}

/* Box r's member of "boxes", its files named png and npy. */
static void boxes_json_entry(dx_json *j, const dx_model *m, const char *stem, const dx_result *r,
                             const dx_png_display *display, const char *png, const char *npy)
{
    dx_json_obj_begin(j);
    dx_json_key(j, "id"); dx_json_str(j, stem);
    json_box(j, m, &r->box);
    dx_json_key(j, "target_value"); dx_json_num(j, r->logit);
    dx_json_key(j, "map_layer");
    if (r->layer < 0) dx_json_null(j);
    else dx_json_int(j, r->layer);
    dx_json_key(j, "map_min"); dx_json_num(j, r->map_min);
    dx_json_key(j, "map_max"); dx_json_num(j, r->map_max);
    dx_json_key(j, "signed"); dx_json_bool(j, r->signed_map);
    json_display(j, r, display);
    dx_json_key(j, "overlay_png"); dx_json_str(j, base_name(png));
    dx_json_key(j, "map_npy"); dx_json_str(j, base_name(npy));
    json_method_stats(j, r);
    dx_json_key(j, "timings_ms");
    dx_json_obj_begin(j);
    dx_json_key(j, "backward"); dx_json_num(j, r->ms_backward);
    dx_json_key(j, "method"); dx_json_num(j, r->ms_method);
    dx_json_obj_end(j);
    dx_json_obj_end(j);
}

/* A detector's files written a box at a time: what it keeps is the combined figure's tints
 * (the drawn photo's pixels) and a box and label per box. */
struct dx_box_writer {
    const dx_model *m;
    dx_box_explanations e;        /* the header: n, the photo's size, the request, the best score */
    dx_image photo;               /* borrowed */
    const dx_output_options *opt; /* borrowed; may be NULL */
    char prefix[1024];
    dx_atomic_set set;
    const char **parts;           /* per box .png and .npy, then the combined .png (when boxes), the .json */
    int count, added;
    FILE *json_file;
    dx_json json;
    double forward_ms;            /* the first box's: the forward all boxes share */
    dx_drawing drawing;           /* the combined figure's */
    dx_box_tints tints;
    dx_render_box *boxes;         /* n, drawn; their labels: */
    char (*labels)[160];
};

/* part i's final name */
static void final_name(const dx_box_writer *w, int i, char *out, size_t len)
{
    if (i < 2 * w->e.n) {
        char stem[32];
        dx_box_stem(&w->e, i / 2, stem, sizeof stem);
        snprintf(out, len, "%s_%s.%s", w->prefix, stem, i % 2 ? "npy" : "png");
    } else {
        snprintf(out, len, i < w->count - 1 ? "%s_boxes.png" : "%s.json", w->prefix);
    }
}

dx_box_writer *dx_box_writer_open(const dx_model *m, const dx_box_explanations *e, dx_image photo,
                                  const char *prefix, const dx_output_options *opt, dx_error *err)
{
    if (strlen(prefix) >= 1024) {
        dx_set_error(err, "%.60s...: output prefix longer than 1023 characters", prefix);
        return NULL;
    }
    int n = e->n;
    dx_box_writer *w = dx_alloc(1, sizeof *w, prefix, err);
    if (w) {
        *w = (dx_box_writer){m, *e, photo, opt, .count = 2 * n + (n > 0) + 1};
        w->e.results = NULL;
        snprintf(w->prefix, sizeof w->prefix, "%s", prefix);
        w->parts = dx_alloc(w->count, sizeof *w->parts, prefix, err);
        w->boxes = dx_alloc(n, sizeof *w->boxes, prefix, err);
        w->labels = dx_alloc(n, sizeof *w->labels, prefix, err);
    }
    if (!w || !w->parts || !w->boxes || !w->labels) {
        dx_box_writer_close(w, -1, err);
        return NULL;
    }
    int rc = dx_check_output_options(opt, err);
    for (int i = 0; i < w->count && rc == 0; ++i) {
        char final[1100];
        final_name(w, i, final, sizeof final);
        if (!(w->parts[i] = dx_atomic_add(&w->set, final, err))) rc = -1;
    }
    if (rc == 0 && n > 0) rc = dx_drawing_size(e->photo_w, e->photo_h, opt ? opt->png_width : 0, &w->drawing, err);
    if (rc == 0 && n > 0 && dx_box_tints_init(&w->tints, w->drawing.w, w->drawing.h) != 0) {
        dx_set_error(err, "out of memory for %s", w->parts[2 * n]);
        rc = -1;
    }
    const char *json = w->parts[w->count - 1];
    if (rc == 0 && !(w->json_file = fopen(json, "w"))) {
        dx_set_error(err, "%s: cannot write: %s", json, strerror(errno));
        rc = -1;
    }
    if (rc != 0) {
        dx_box_writer_close(w, rc, err);
        return NULL;
    }
    dx_json_begin(&w->json, w->json_file);
    boxes_json_head(&w->json, m, &w->e);
    return w;
}

int dx_box_writer_add(dx_box_writer *w, const dx_result *r, dx_error *err)
{
    int k = w->added;
    if (k >= w->e.n) {
        dx_set_error(err, "%s: a box more than the %d it was opened for", w->prefix, w->e.n);
        return -1;
    }
    if (dx_check_finite_result(r, w->prefix, err) != 0) return -1;
    const dx_model *m = w->m;
    char stem[32], title[256], png[1100], npy[1100];
    dx_box_stem(&w->e, k, stem, sizeof stem);
    snprintf(title, sizeof title, "%s  %s: %s %.1f%%  target %s  %s", dx_method_name(r->method), stem,
             dx_class_name(m, r->box.cls), 100.f * r->box.score, box_target_names[r->box_target],
             r->layer >= 0 ? "" : "input");
    if (r->layer >= 0) snprintf(title + strlen(title), sizeof title - strlen(title), "layer %d", r->layer);
    dx_png_display display;
    dx_png_display_of(r, w->opt, &display);
    int shape[2] = {r->h, r->w};
    int rc = write_overlay(m, r, w->opt ? w->opt->png_width : 0, &display, title, w->parts[2 * k], err);
    if (rc == 0) rc = dx_npy_write(w->parts[2 * k + 1], r->map, 2, shape, err);
    if (rc != 0) return -1;
    final_name(w, 2 * k, png, sizeof png);
    final_name(w, 2 * k + 1, npy, sizeof npy);
    boxes_json_entry(&w->json, m, stem, r, &display, png, npy);
    /* the combined figure: each box's map on the scale of its own figure */
    detection_label(m, &r->box, w->labels[k], sizeof w->labels[k]);
    snprintf(w->labels[k] + strlen(w->labels[k]), sizeof w->labels[k] - strlen(w->labels[k]), " (%s)", stem);
    w->boxes[k] = drawn_box(&r->box, &w->drawing, w->labels[k]);
    dx_box_colour(k, w->boxes[k].rgb);
    dx_image drawn = dx_drawn(dx_image_over(r->w, r->h, 1, r->map), &w->drawing, w->prefix, err);
    if (!drawn.data) return -1;
    dx_box_tints_add(&w->tints, k, &w->boxes[k], drawn.data, r->signed_map, &display.scale);
    dx_free_image(drawn);
    if (k == 0) w->forward_ms = r->ms_forward;
    w->added++;
    return 0;
}

int dx_box_writer_close(dx_box_writer *w, int rc, dx_error *err)
{
    if (!w) return -1;
    int n = w->e.n;
    if (rc == 0 && w->added != n) {
        dx_set_error(err, "%s: %d boxes written of %d", w->prefix, w->added, n);
        rc = -1;
    }
    if (rc == 0 && n > 0) {
        dx_image photo = dx_drawn(w->photo, &w->drawing, w->parts[2 * n], err);
        char title[160];
        snprintf(title, sizeof title, "%s  %d box%s", dx_method_name(w->e.req.method), n, n == 1 ? "" : "es");
        rc = !photo.data ? -1 : dx_render_box_tints(photo, &w->tints, w->boxes, n, title, w->parts[2 * n], err);
        dx_free_image(photo);
    }
    if (w->json_file && rc == 0) {
        dx_json *j = &w->json;
        dx_json_arr_end(j);
        dx_json_key(j, "boxes_png");
        char combined[1100];
        final_name(w, 2 * n, combined, sizeof combined);
        if (n > 0) dx_json_str(j, base_name(combined));
        else dx_json_null(j);
        dx_json_key(j, "map_frame"); dx_json_str(j, "the photo's pixels (letterbox border removed, bilinear)");
        dx_json_key(j, "forward_ms"); dx_json_num(j, w->forward_ms);
        if (w->m->timing) { /* the boxes' own timings_ms hold their backward and method */
            dx_json_key(j, "timings_ms");
            dx_json_obj_begin(j);
            json_layer_timings(j, w->m);
            dx_json_obj_end(j);
        }
        dx_json_obj_end(j);
        rc = dx_json_end(j);
        if (fclose(w->json_file) != 0 || rc != 0) {
            dx_set_error(err, "%s: write failed", w->parts[w->count - 1]);
            rc = -1;
        }
    } else if (w->json_file) {
        fclose(w->json_file);
    }
    rc = dx_atomic_commit(&w->set, rc, err);
    dx_box_tints_free(&w->tints);
    free(w->parts);
    free(w->boxes);
    free(w->labels);
    free(w);
    return rc;
}

int dx_write_box_outputs(const dx_model *m, const dx_box_explanations *e, const char *prefix,
                         const dx_output_options *opt, dx_error *err)
{
    dx_box_writer *w = dx_box_writer_open(m, e, e->n ? e->results[0].photo : (dx_image){0}, prefix, opt, err);
    int rc = w ? 0 : -1;
    for (int k = 0; w && k < e->n && rc == 0; ++k) rc = dx_box_writer_add(w, &e->results[k], err);
    return w ? dx_box_writer_close(w, rc, err) : -1;
}
