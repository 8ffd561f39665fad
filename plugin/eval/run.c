/* eval's run (dx_eval_run, after cli.c has parsed its command line): run.json, the loop over the
 * list (this shard's images), the controls (the baselines random and centre), the thumbnails,
 * the rows of results.csv, progress on stderr and -resume; then summary.json and report.html.
 *
 * A run checks every image and label file of its list first, holds DIR (a lock) while it writes
 * DIR/run.json (the configuration: model, list, methods, every metric's definition and
 * parameters), DIR/results.csv (one row per image x method x metric, flushed row by row; for a
 * detector per image x unit x method x metric, a unit being a detected box or a miss),
 * DIR/maps/ (a thumbnail per image (x box) x method), then DIR/summary.json and DIR/report.html.
 * Rows come in one fixed order (image, box, method, metric), and each value depends only on its
 * image, box, method, metric and the seed: so -resume appends exactly the rows a killed run had
 * not written (an image's boxes are decoded again to know its rows), and shards merged by image
 * index give the rows of a single run. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "detect.h"
#include "engine.h"
#include "error.h"
#include "eval/eval.h"
#include "eval/results.h"
#include "io/folder.h"
#include "io/image.h"
#include "io/json.h"
#include "io/render.h"
#include "memory.h"
#include "methods/params.h"
#include "model.h"

/* ---- the run's configuration (run.json) ---- */

/* The request of method k of -methods (not a baseline): eval's method options and seed; the
 * class is each map's. */
static dx_request method_request(const dx_eval_args *a, int k)
{
    dx_request req = a->method;
    req.method = a->method_ids[k];
    req.seed = a->opt.seed;
    return req;
}

static char *run_json(const dx_eval_args *a, const dx_model *m, int list_images)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return NULL;
    const dx_eval_options *o = &a->opt;
    static const char *const substrates[] = {"black", "blur (Gaussian 11x11, sigma 5, zero padding)",
                                             "mean (each channel's mean over the image)"};
    dx_json j;
    dx_json_begin(&j, f);
    dx_json_obj_begin(&j);
    dx_json_key(&j, "tool"); dx_json_str(&j, "darknet-explain " DX_VERSION " eval");
    dx_json_key(&j, "cfg"); dx_json_str(&j, a->cfg);
    dx_json_key(&j, "weights"); dx_json_str(&j, a->weights);
    dx_json_key(&j, "input_whc");
    dx_json_arr_begin(&j); dx_json_int(&j, m->net->w); dx_json_int(&j, m->net->h); dx_json_int(&j, m->net->c); dx_json_arr_end(&j);
    dx_json_key(&j, "list"); dx_json_str(&j, a->list);
    dx_json_key(&j, "list_images"); dx_json_int(&j, list_images);
    dx_json_key(&j, "names"); dx_json_str(&j, a->names); /* the rows' class_name */
    dx_json_key(&j, "frame"); dx_json_str(&j, "maps and perturbations over the network input (letterboxed, "
                                              "net h x w); native maps resized bilinearly to it");
    int detector = dx_is_detector(m);
    if (detector) {
        dx_json_key(&j, "target");
        dx_json_str(&j, "each detected box (as darknet detector test: score > thresh after NMS), the max_boxes "
                        "highest scores of an image; a row per image x box x method x metric; then the misses, "
                        "every value NaN: an image without a box, each label no box matched");
        dx_json_key(&j, "score");
        dx_json_str(&j, "the box's score, objectness x class probability, at its head, anchor and cell");
        dx_json_key(&j, "thresh"); dx_json_num(&j, a->method.thresh);
        dx_json_key(&j, "nms"); dx_json_num(&j, a->method.nms);
        dx_json_key(&j, "max_boxes"); dx_json_int(&j, a->max_boxes);
    } else {
        dx_json_key(&j, "target"); dx_json_str(&j, "the top-1 class on the letterboxed image");
        dx_json_key(&j, "score"); dx_json_str(&j, o->score == DX_SCORE_PROB ? "softmax probability" : "logit");
    }
    dx_json_key(&j, "seed"); dx_json_u64(&j, o->seed);
    /* each method's options as it runs them, named as the explain JSON's "parameters" */
    dx_json_key(&j, "method_parameters");
    dx_json_obj_begin(&j);
    for (int k = 0; k < a->n_methods; ++k) {
        int again = 0;
        for (int i = 0; i < k; ++i) again |= !strcmp(a->method_names[i], a->method_names[k]);
        if (a->baselines[k] || again) continue;
        dx_request asked = method_request(a, k), runs;
        dx_request_effective(&asked, &runs);
        dx_json_key(&j, a->method_names[k]);
        dx_json_parameters(&j, &runs, detector);
    }
    dx_json_obj_end(&j);
    dx_json_key(&j, "methods");
    dx_json_arr_begin(&j);
    for (int k = 0; k < a->n_methods; ++k) dx_json_str(&j, a->method_names[k]);
    dx_json_arr_end(&j);
    dx_json_key(&j, "baselines");
    dx_json_obj_begin(&j);
    dx_json_key(&j, "random"); dx_json_str(&j, "i.i.d. U(0,1) per pixel, seeded by the seed and the image index");
    dx_json_key(&j, "centre"); dx_json_str(&j, "minus the distance to the centre of the photo area");
    dx_json_obj_end(&j);
    dx_json_key(&j, "metrics");
    dx_json_obj_begin(&j);
    for (int k = 0; k < a->n_metrics; ++k) {
        dx_metric id = a->metric_ids[k];
        dx_json_key(&j, a->metric_names[k]);
        dx_json_obj_begin(&j);
        dx_json_key(&j, "definition"); dx_json_str(&j, dx_metric_definition(id));
        dx_json_key(&j, "better"); dx_json_str(&j, dx_metric_higher_is_better(id) ? "higher" : "lower");
        dx_json_key(&j, "parameters");
        dx_json_obj_begin(&j);
        switch (id) {
        case DX_METRIC_DELETION:
        case DX_METRIC_INSERTION:
            dx_json_key(&j, "steps"); dx_json_int(&j, o->steps);
            dx_json_key(&j, "substrate");
            dx_json_str(&j, substrates[id == DX_METRIC_DELETION ? o->deletion_substrate : o->insertion_substrate]);
            break;
        case DX_METRIC_POINTING:
        case DX_METRIC_EBPG:
            if (id == DX_METRIC_POINTING) {
                dx_json_key(&j, "tolerance_photo_pixels");
                dx_json_num(&j, o->tolerance);
            }
            if (detector) {
                dx_json_key(&j, "ground_truth");
                dx_json_str(&j, "the label matched to the box: of the box's class, the highest IoU with it, "
                                "if that IoU >= 0.5; no such label: NaN (left out of the summary)");
            }
            break;
        case DX_METRIC_FAITHFULNESS:
            dx_json_key(&j, "runs"); dx_json_int(&j, o->faithfulness_runs);
            dx_json_key(&j, "subset_pixels"); dx_json_int(&j, o->faithfulness_subset);
            dx_json_key(&j, "baseline"); dx_json_str(&j, "black");
            break;
        case DX_METRIC_SENSITIVITY:
            dx_json_key(&j, "samples"); dx_json_int(&j, o->sensitivity_samples);
            dx_json_key(&j, "radius"); dx_json_num(&j, o->sensitivity_radius);
            dx_json_key(&j, "norm"); dx_json_str(&j, "Frobenius, relative to the map's");
            break;
        case DX_METRIC_ROAD:
            dx_json_key(&j, "fractions"); dx_json_int(&j, o->road_fractions);
            dx_json_key(&j, "noise_sigma"); dx_json_num(&j, 0.01);
            break;
        case DX_METRIC_AOPC:
            dx_json_key(&j, "patch"); dx_json_int(&j, o->aopc_patch);
            dx_json_key(&j, "steps"); dx_json_int(&j, o->aopc_steps);
            break;
        default: break;
        }
        dx_json_obj_end(&j);
        dx_json_obj_end(&j);
    }
    dx_json_obj_end(&j);
    dx_json_obj_end(&j);
    int rc = dx_json_end(&j);
    fclose(f);
    if (rc != 0) {
        free(text);
        return NULL;
    }
    return text;
}

char *dx_eval_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    char buf[4096];
    size_t n;
    while (mem && (n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, mem);
    fclose(f);
    if (mem) fclose(mem);
    return text;
}

int dx_eval_write_run_json(const char *dir, const char *text, dx_error *err)
{
    dx_eval_file out;
    if (dx_eval_file_open(&out, dir, "run.json", err) != 0) return -1;
    return dx_eval_file_commit(&out, fputs(text, out.f) >= 0, err);
}

/* ---- maps ---- */

typedef struct {
    dx_eval_baseline kind;
    unsigned long long seed;
    float cx, cy; /* the centre of the photo area */
} baseline_ctx;

static int baseline_explain(void *ctx, dx_model *m, const float *input, int cls, const dx_detection *box,
                            float *map, dx_error *err)
{
    (void)input, (void)cls, (void)box, (void)err; /* a baseline ignores the target */
    const baseline_ctx *b = ctx;
    int w = m->net->w, h = m->net->h;
    dx_rng r;
    dx_rng_init(&r, b->seed);
    for (int p = 0; p < w * h; ++p)
        map[p] = b->kind == DX_EVAL_BASELINE_RANDOM ? (float)dx_rng_uniform(&r)
                                                    : -hypotf(p % w + .5f - b->cx, p / w + .5f - b->cy);
    return 0;
}

/* The thumbnail: the photo area of the network input with the map over it, png_width wide;
 * boxes (network-frame pixels) drawn over it. */
static int write_thumbnail(const char *dir, int image_index, int box, const char *method, const float *input,
                           const float *map, int signed_map, const dx_model *m, const dx_letterbox *g,
                           int png_width, const dx_render_box *boxes, int n_boxes, dx_error *err)
{
    char rel[256], path[1400];
    dx_eval_map_path(rel, sizeof rel, image_index, box, method);
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    const dx_net *net = m->net;
    dx_image x = dx_image_over(net->w, net->h, net->c, (float *)input);
    dx_image photo = dx_crop_image(x, g->dx, g->dy, g->inner_w, g->inner_h);
    if (!photo.data) {
        dx_set_error(err, "out of memory for %s", path);
        return -1;
    }
    int w = png_width, h = (int)((double)g->inner_h * png_width / g->inner_w + .5);
    if (h < 2) h = 2; /* Darknet's resize_image divides by h - 1 */
    dx_image small_photo = dx_backend_resize_image(photo, w, h);
    dx_free_image(photo);
    int rc;
    if (map) {
        dx_image area = dx_crop_image(dx_image_over(net->w, net->h, 1, (float *)map), g->dx, g->dy, g->inner_w, g->inner_h);
        if (!area.data) {
            dx_free_image(small_photo);
            dx_set_error(err, "out of memory for %s", path);
            return -1;
        }
        dx_image small_map = dx_backend_resize_image(area, w, h);
        dx_render_box drawn[n_boxes > 0 ? n_boxes : 1];
        float scale = (float)w / g->inner_w; /* network pixels to thumbnail pixels */
        for (int k = 0; k < n_boxes; ++k) {
            drawn[k] = boxes[k];
            drawn[k].x = (boxes[k].x - g->dx) * scale;
            drawn[k].y = (boxes[k].y - g->dy) * scale;
            drawn[k].w = boxes[k].w * scale;
            drawn[k].h = boxes[k].h * scale;
        }
        const dx_render_style thumbnail = {.no_labels = 1};
        rc = n_boxes ? dx_render_overlay_boxes(small_photo, small_map.data, h, w, signed_map, drawn, n_boxes,
                                               NULL, &thumbnail, path, err)
                     : dx_render_overlay(small_photo, small_map.data, h, w, signed_map, NULL, &thumbnail, path, err);
        dx_free_image(area);
        dx_free_image(small_map);
    } else {
        rc = dx_write_png(small_photo, path, err);
    }
    dx_free_image(small_photo);
    return rc;
}

/* ---- progress on stderr ---- */

void dx_eval_progress_text(char *out, size_t len, int done, int total, int computed, double seconds, int tty)
{
    dx_progress_text(out, len, "eval", "already in results.csv", done, total, computed, seconds, tty);
}

/* ---- the run ---- */

/* The rows an image owes, in order: per unit (a classifier's image, box -1; a detector's boxes
 * explained, then its misses: the image when no box is above the threshold, each label no box
 * above it matched), per method, per metric (randomisation: per layer). */
typedef struct {
    int box, label, method, metric, layer;
    dx_eval_miss miss;
    char name[64];
} row_key;

/* Its keys (malloc'd) and their count in *n; NULL when out of memory. */
static row_key *image_keys(const dx_eval_args *a, const dx_eval_image_state *st, int detector, const int *rand_layers,
                           int n_rand, int *n)
{
    int units = detector ? st->n_dets + (st->n_all == 0) + st->n_labels : 1;
    row_key *keys = dx_alloc((size_t)units * a->n_methods * (a->n_metrics + n_rand) + 1, sizeof(row_key), "the rows",
                             NULL); /* the caller reports */
    *n = 0;
    for (int u = 0; keys && u < units; ++u) {
        int box = -1, label = -1, matched = 0;
        dx_eval_miss miss = DX_EVAL_DETECTED;
        if (detector && u < st->n_dets) {
            box = u;
            label = st->match[u];
        } else if (detector && u == st->n_dets && st->n_all == 0) {
            miss = DX_EVAL_NO_DETECTION;
        } else if (detector) {
            label = u - st->n_dets - (st->n_all == 0);
            for (int d = 0; d < st->n_all && !matched; ++d) matched = st->match[d] == label;
            miss = DX_EVAL_MISSED_LABEL;
        }
        for (int i = 0; i < a->n_methods && !matched; ++i)
            for (int k = 0; k < a->n_metrics; ++k) {
                dx_metric id = a->metric_ids[k];
                if ((id == DX_METRIC_POINTING || id == DX_METRIC_EBPG) && st->n_labels == 0) continue;
                for (int l = 0; l < (id == DX_METRIC_RANDOMISATION ? n_rand : 1); ++l) {
                    row_key *key = &keys[(*n)++];
                    *key = (row_key){box, label, i, k, id == DX_METRIC_RANDOMISATION ? rand_layers[l] : -1, miss, ""};
                    if (key->layer >= 0) snprintf(key->name, sizeof key->name, "%s@%d", a->metric_names[k], key->layer);
                    else snprintf(key->name, sizeof key->name, "%s", a->metric_names[k]);
                }
            }
    }
    return keys;
}

typedef struct {
    const dx_eval_args *a;
    dx_model *m;
    FILE *csv;
    const char *dir;
    int *rand_layers, n_rand;
} run_ctx;

/* Appends one row to results.csv, flushed. */
static int append_row(run_ctx *c, const dx_eval_row *row, dx_error *err)
{
    dx_eval_row_write(c->csv, row, dx_is_detector(c->m));
    if (fflush(c->csv) == 0) return 0;
    dx_set_error(err, "%s/results.csv: write failed: %s", c->dir, strerror(errno));
    return -1;
}

/* Computes the map of one unit (a box, or the image) and method and appends its rows keys[0..n);
 * a miss has no map: its rows say what was missed, every value NaN. */
static int run_map(run_ctx *c, int index, const char *path, const dx_eval_image_state *st, const row_key *keys, int n,
                   double *corr, float *map, dx_error *err)
{
    const dx_eval_args *a = c->a;
    dx_model *m = c->m;
    const dx_letterbox *g = &st->g;
    int box = keys[0].box, i = keys[0].method, label = keys[0].label, rc = 0;
    const dx_detection *det = box >= 0 ? &st->dets[box] : NULL;
    const dx_pixel_box *missed = keys[0].miss == DX_EVAL_MISSED_LABEL ? &st->labels[label] : NULL;
    int cls = det ? det->cls : missed ? st->label_classes[label] : keys[0].miss ? -1 : st->cls;
    char name[256];
    snprintf(name, sizeof name, "%s", cls >= 0 ? dx_class_name(m, cls) : "");
    dx_eval_row row = {.image_index = index, .image = (char *)path, .method = a->method_names[i], .box = box,
                       .cls = cls, .class_name = name, .label = label, .miss = keys[0].miss};
    if (keys[0].miss) {
        float sx = (float)st->photo_w / g->inner_w, sy = (float)st->photo_h / g->inner_h;
        row.score = row.x = row.y = row.w = row.h = NAN;
        row.value = NAN;
        if (missed) { /* in photo pixels, as a detected box */
            row.x = (missed->x0 - g->dx) * sx, row.y = (missed->y0 - g->dy) * sy;
            row.w = (missed->x1 - missed->x0) * sx, row.h = (missed->y1 - missed->y0) * sy;
        }
        for (int k = 0; k < n && rc == 0; ++k) {
            row.metric = (char *)keys[k].name;
            rc = append_row(c, &row, err);
        }
        return rc;
    }
    dx_eval_sample s = {.input = st->boxed.data, .cls = cls, .box = det,
                        .boxes = st->labels, .n_boxes = st->n_labels, .photo_scale = st->photo_scale,
                        .inner_x = g->dx, .inner_y = g->dy, .inner_w = g->inner_w, .inner_h = g->inner_h,
                        .seed = a->opt.seed * 1000003ULL + (unsigned long long)index +
                                ((unsigned long long)(box + 1) << 40)};
    dx_render_box drawn[2];
    char caption[300];
    int n_drawn = 0;
    if (det) { /* the box's ground truth is its matched label alone; the thumbnail shows both */
        dx_pixel_box frame = dx_eval_detection_box(g, det);
        s.boxes = label >= 0 ? &st->labels[label] : NULL;
        s.n_boxes = label >= 0;
        row.score = det->score, row.x = det->x, row.y = det->y, row.w = det->w, row.h = det->h;
        if (label >= 0) { /* white, under the box */
            const dx_pixel_box *t = &st->labels[label];
            drawn[n_drawn++] = (dx_render_box){t->x0, t->y0, t->x1 - t->x0, t->y1 - t->y0, {1, 1, 1}, NULL};
        }
        snprintf(caption, sizeof caption, "%s %.2f", name, det->score);
        drawn[n_drawn] = (dx_render_box){frame.x0, frame.y0, frame.x1 - frame.x0, frame.y1 - frame.y0, {0}, caption};
        dx_box_colour(1, drawn[n_drawn++].rgb);
    }
    dx_request req = method_request(a, i);
    req.class_id = s.cls;
    baseline_ctx base = {a->baselines[i], s.seed, g->dx + g->inner_w / 2.f, g->dy + g->inner_h / 2.f};
    dx_explainer ex = a->baselines[i] ? (dx_explainer){baseline_explain, &base}
                                      : (dx_explainer){dx_eval_method_explain, &req};
    int signed_map = 0;
    if (a->baselines[i]) {
        rc = baseline_explain(&base, m, s.input, s.cls, det, map, err);
    } else {
        dx_result r;
        rc = det ? dx_explain_detection(m, st->boxed, &req, det, &r, err) : dx_explain_image(m, st->boxed, &req, &r, err);
        if (rc == 0) {
            memcpy(map, r.map, sizeof(float) * m->net->w * m->net->h);
            signed_map = r.signed_map;
            dx_result_free(&r);
        }
    }
    if (rc == 0)
        rc = write_thumbnail(c->dir, index, box, a->method_names[i], s.input, map, signed_map, m, g, a->png_width,
                             drawn, n_drawn, err);
    int randomised = 0;
    for (int k = 0; k < n && rc == 0; ++k) {
        dx_metric id = a->metric_ids[keys[k].metric];
        if (id == DX_METRIC_RANDOMISATION) {
            if (!randomised) rc = dx_eval_randomisation(m, &s, map, &ex, &a->opt, corr, c->n_rand, err);
            randomised = 1;
            int l = 0;
            while (c->rand_layers[l] != keys[k].layer) ++l;
            row.value = corr[l];
        } else {
            rc = dx_eval_metric(m, id, &s, map, &ex, &a->opt, &row.value, err);
        }
        if (rc != 0) break;
        row.metric = (char *)keys[k].name;
        rc = append_row(c, &row, err);
    }
    if (rc != 0) {
        char prefix[1300];
        if (det) snprintf(prefix, sizeof prefix, "%s (box %d, %s, %s)", path, box, a->method_names[i], err->msg);
        else snprintf(prefix, sizeof prefix, "%s (%s, %s)", path, a->method_names[i], err->msg);
        dx_set_error(err, "%s", prefix);
    }
    return rc;
}

/* Computes and appends the rows keys[from..n) of one image, a map per run of keys of the same
 * unit and method. */
static int run_image(run_ctx *c, int index, const char *path, const dx_eval_image_state *st, const row_key *keys,
                     int from, int n, dx_error *err)
{
    const dx_net *net = c->m->net;
    float *map = dx_alloc((size_t)net->w * net->h, sizeof(float), path, err);
    double *corr = dx_alloc(c->n_rand, sizeof(double), path, err);
    int rc = map && corr ? 0 : -1;
    if (rc == 0 && from == 0)
        rc = write_thumbnail(c->dir, index, -1, "photo", st->boxed.data, NULL, 0, c->m, &st->g, c->a->png_width,
                             NULL, 0, err);
    for (int k = from, end; k < n && rc == 0; k = end) {
        for (end = k; end < n && keys[end].box == keys[k].box && keys[end].label == keys[k].label &&
                      keys[end].method == keys[k].method;
             ++end) {}
        rc = run_map(c, index, path, st, keys + k, end - k, corr, map, err);
    }
    free(map);
    free(corr);
    return rc;
}

/* Report title: the model and the list. */
static void report_title(char *out, size_t len, const char *cfg, const char *list)
{
    snprintf(out, len, "darknet-explain eval: %s on %s", cfg, list);
}

int dx_eval_run(const char *program, dx_eval_args *a)
{
    dx_error err;
    dx_eval_list list = {0};
    char *config = NULL, maps[1200], csv_path[1200], json_path[1200], lock_path[1200];
    dx_eval_rows done = {0};
    FILE *csv = NULL;
    int rc = 1, *rand_layers = NULL, lock = -1, created_out = 0, created_maps = 0, fresh = 0, started = 0;
    long complete = -1; /* -resume: the length of results.csv's complete rows */
    row_key *keys = NULL;
    snprintf(maps, sizeof maps, "%s/maps", a->out);
    snprintf(csv_path, sizeof csv_path, "%s/results.csv", a->out);
    snprintf(json_path, sizeof json_path, "%s/run.json", a->out);
    dx_open_options open_opt = {.names = a->names, .verbose = a->verbose, .max_pixels = a->max_pixels};
    dx_model *m = dx_open(a->cfg, a->weights, &open_opt, &err);
    if (!m) goto fail;
    int detector = dx_is_detector(m);
    if (detector && dx_check_detector(m, &err) != 0) goto fail;
    if (dx_eval_read_list(a->list, &list, &err) != 0) goto fail;
    int n_rand = dx_eval_random_layers(m, NULL, 0);
    rand_layers = dx_alloc((size_t)n_rand + 1, sizeof(int), "the randomised layers", &err);
    if (!rand_layers) goto fail;
    if (!(config = run_json(a, m, list.n))) { /* open_memstream's own allocation failed */
        dx_set_error(&err, "out of memory for %s's run.json", a->out);
        goto fail;
    }
    dx_eval_random_layers(m, rand_layers, n_rand);
    if (dx_eval_check_inputs(a, m, &list, &err) != 0) goto fail;
    if (!(created_out = mkdir(a->out, 0777) == 0) && errno != EEXIST) {
        dx_set_error(&err, "%s: cannot create the output folder: %s", a->out, strerror(errno));
        goto fail;
    }
    if ((lock = dx_lock_folder(a->out, ".eval.lock", "eval", lock_path, sizeof lock_path, &err)) < 0) goto fail;
    /* results.csv: a fresh one, or (-resume) the same run's, cut after its last complete row */
    if (a->resume && access(csv_path, F_OK) == 0) {
        char *previous = dx_eval_slurp(json_path);
        int same = previous && !strcmp(previous, config);
        free(previous);
        if (!same) {
            dx_set_error(&err, "%s: a different run (options, model or list differ): cannot resume it", json_path);
            goto fail;
        }
        if (dx_eval_rows_read(csv_path, &done, &complete, &err) != 0) goto fail;
    } else if (access(csv_path, F_OK) == 0) {
        dx_set_error(&err, "%s exists: pass -resume to continue that run, or choose another -out", csv_path);
        goto fail;
    }
    if (!(created_maps = mkdir(maps, 0777) == 0) && errno != EEXIST) {
        dx_set_error(&err, "%s: cannot create: %s", maps, strerror(errno));
        goto fail;
    }
    if (complete >= 0) {
        if (truncate(csv_path, complete) != 0 || !(csv = fopen(csv_path, "a"))) {
            dx_set_error(&err, "%s: cannot append: %s", csv_path, strerror(errno));
            goto fail;
        }
        if (complete == 0) fprintf(csv, "%s\n", dx_eval_csv_header(detector));
    } else {
        fresh = 1;
        if (dx_eval_write_run_json(a->out, config, &err) != 0) goto fail;
        if (!(csv = fopen(csv_path, "w"))) {
            dx_set_error(&err, "%s: cannot write: %s", csv_path, strerror(errno));
            goto fail;
        }
        fprintf(csv, "%s\n", dx_eval_csv_header(detector));
    }
    if (fflush(csv) != 0) {
        dx_set_error(&err, "%s: write failed: %s", csv_path, strerror(errno));
        goto fail;
    }

    started = 1;
    run_ctx ctx = {a, m, csv, a->out, rand_layers, n_rand};
    dx_progress bar = {"eval", "already in results.csv", 0, 0, 0, isatty(2), 0};
    for (int k = a->shard_index; k < list.n; k += a->shard_count) bar.total++;
    int cursor = 0;
    for (int index = a->shard_index; index < list.n; index += a->shard_count) {
        /* the keys need the forward (a detector's boxes): done rows are matched after it */
        double t0 = dx_now_ms();
        dx_eval_image_state st;
        if (dx_eval_image_prepare(a, m, list.paths[index], &st, &err) != 0) goto fail;
        int n, from = 0;
        keys = image_keys(a, &st, detector, rand_layers, n_rand, &n);
        if (!keys) {
            dx_eval_image_state_free(&st);
            dx_set_error(&err, "out of memory for %s's rows", list.paths[index]);
            goto fail;
        }
        while (from < n && cursor < done.n && done.rows[cursor].image_index == index &&
               done.rows[cursor].box == keys[from].box && done.rows[cursor].label == keys[from].label &&
               !strcmp(done.rows[cursor].method, a->method_names[keys[from].method]) &&
               !strcmp(done.rows[cursor].metric, keys[from].name)) {
            ++from;
            ++cursor;
        }
        if (from < n && cursor < done.n) {
            dx_set_error(&err, "%s: row %d is not the row this run writes next (image %d, box %d, %s, %s): cannot "
                         "resume", csv_path, cursor + 2, index, keys[from].box, a->method_names[keys[from].method],
                         keys[from].name);
            dx_eval_image_state_free(&st);
            goto fail;
        }
        int rc_image = from < n ? run_image(&ctx, index, list.paths[index], &st, keys, from, n, &err) : 0;
        dx_eval_image_state_free(&st);
        free(keys);
        keys = NULL;
        if (rc_image != 0) goto fail;
        bar.done++;
        if (from < n) {
            bar.computed++;
            bar.seconds += (dx_now_ms() - t0) / 1e3;
        }
        dx_progress_show(&bar);
    }
    if (cursor < done.n) {
        dx_set_error(&err, "%s: has rows this run does not write (row %d on): cannot resume", csv_path, cursor + 2);
        goto fail;
    }
    fclose(csv);
    csv = NULL;

    dx_eval_rows_free(&done);
    char title[1400];
    report_title(title, sizeof title, a->cfg, a->list);
    if (dx_eval_rows_read(csv_path, &done, NULL, &err) != 0 ||
        dx_eval_write_summary(a->out, config, &done, a->opt.seed, &err) != 0 ||
        dx_eval_write_report(a->out, title, &done, a->opt.seed, &err) != 0)
        goto fail;
    printf("wrote %s/results.csv (%d rows), %s/summary.json, %s/report.html\n", a->out, done.n, a->out, a->out);
    rc = 0;
fail:
    if (rc != 0) fprintf(stderr, "%s eval: %s\n", program, err.msg);
    if (csv) fclose(csv);
    if (rc != 0 && !started) { /* a failed start leaves the folder as it found it */
        if (fresh) unlink(csv_path), unlink(json_path);
        if (created_maps) rmdir(maps);
    }
    dx_unlock_folder(lock, lock_path);
    if (rc != 0 && !started && created_out) rmdir(a->out);
    dx_eval_rows_free(&done);
    dx_eval_list_free(&list);
    free(config);
    free(rand_layers);
    free(keys);
    dx_close(m);
    return rc;
}
