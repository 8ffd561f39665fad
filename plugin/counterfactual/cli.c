/* `darknet-explain counterfactual <cfg> <weights> <image>`: the goal from the options, the search
 * (counterfactual.c) on the letterboxed photo, and its files, all or nothing:
 *   PREFIX_counterfactual.png  the counterfactual at the network input's size (letterbox border
 *                              included: fed back to the command, it letterboxes to itself)
 *   PREFIX_counterfactual.npy  the same as float32 (c, h, w), exact
 *   PREFIX.raw.npy             the signed change x' - x (c, h, w), network input frame
 *   PREFIX.npy, PREFIX.png     the difference map sum_c |x' - x| resampled onto the photo's pixels
 *   PREFIX.json                goal, options, outcome, distances, scores, the path step by step */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "counterfactual/cf_cli.h"
#include "counterfactual/counterfactual.h"
#include "detect.h"
#include "engine.h"
#include "error.h"
#include "io/atomic.h"
#include "io/image.h"
#include "io/json.h"
#include "io/npy.h"
#include "io/render.h"
#include "memory.h"
#include "model.h"
#include "options.h"

typedef struct {
    const char *cfg, *weights, *image;
    const char *to, *cls, *goal, *region, *out, *names;
    int box, steps, polish, verbose;
    float lr, l1, tv, margin, thresh, nms;
    float rect[4]; /* -region, parsed */
} cf_args;

#define AT(field) offsetof(cf_args, field)
static const dx_option options[] = {
    {"-to", OPT_TEXT, AT(to), 0, 0, NULL,
     "N|NAME  the class to reach (classifiers: top-1; detectors: with -goal class); classifiers without it: "
     "the explained class leaves the top"},
    {"-class", OPT_CLASSIFIERS | OPT_TEXT, AT(cls), 0, 0, NULL, "N|NAME  classifiers: the explained class (default the top-1)"},
    {"-box", OPT_DETECTORS | OPT_INT, AT(box), 0, INT_MAX, NULL, "K  detectors: the box (default 0, the highest score)"},
    {"-goal", OPT_DETECTORS | OPT_TEXT, AT(goal), 0, 0, NULL,
     "disappear|class  detectors: the box falls under -thresh, or becomes class -to (default disappear)"},
    {"-region", OPT_TEXT, AT(region), 0, 0, NULL, "x,y,w,h  change only the photo pixels in this rectangle"},
    {"-steps", OPT_INT, AT(steps), 1, DX_MAX_STEPS, NULL, "N  gradient steps at most"},
    {"-polish", OPT_INT, AT(polish), 0, DX_MAX_STEPS, NULL, "N  steps after the first success, shrinking the change"},
    {"-lr", OPT_FLOAT, AT(lr), 1e-5, 1, NULL, "S  step size in pixel units"},
    {"-l1", OPT_FLOAT, AT(l1), 0, 100, NULL, "W  weight of |x' - x|_1 against the goal's gradient at RMS 1"},
    {"-tv", OPT_FLOAT, AT(tv), 0, 100, NULL, "W  weight of the change's total variation, same units"},
    {"-margin", OPT_FLOAT, AT(margin), 0, 1000, NULL,
     "M  the hinge's margin: classifiers in logits (default 1), detectors in box score (default 0.1)"},
    {"-thresh", OPT_DETECTORS | OPT_FLOAT, AT(thresh), 0, 1, NULL, "T  detectors: box score threshold"},
    {"-nms", OPT_DETECTORS | OPT_FLOAT, AT(nms), 0, 1, NULL, "T  detectors: NMS IoU threshold, 0 for none"},
    {"-out", OPT_TEXT, AT(out), 0, 0, NULL, "PREFIX  output files' prefix (default <image name>_counterfactual)"},
    {"-names", OPT_TEXT, AT(names), 0, 0, NULL, "FILE  class names (a names list or a .data file)"},
    {"-verbose", OPT_FLAG, AT(verbose), 0, 0, NULL, "show Darknet's layer table and loading messages"},
};
#undef AT
#define N_OPTIONS (sizeof options / sizeof options[0])

/* The arguments before the command line: the parser's start and -h's defaults; the detector's
 * thresholds as every method's (dx_request_init). */
static void defaults(cf_args *a)
{
    dx_request req;
    dx_request_init(&req);
    *a = (cf_args){.steps = 300, .polish = 30, .lr = 0.01f, .l1 = 0.5f, .tv = 0.05f, .margin = -1, .thresh = req.thresh,
                   .nms = req.nms};
}

void dx_counterfactual_usage(const char *program, FILE *f)
{
    fprintf(f, "usage: %s counterfactual <cfg> <weights> <image> [options]\n"
               "the smallest change of the input (L1 + total variation, pixels in [0,1]) that reaches the goal,\n"
               "by the plugin's own gradients (docs/counterfactual.md)\noptions:\n", program);
    cf_args d;
    defaults(&d);
    dx_options_usage(f, options, N_OPTIONS, 9, NULL, &d);
}

/* N: 0 and *cls; a name (not a number): 1; neither: -1 */
static int class_word(const char *text, int *cls)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (*text >= '0' && *text <= '9' && !*end && !errno && v <= INT_MAX) {
        *cls = (int)v;
        return 0;
    }
    return *text && !(*text == '-' || (*text >= '0' && *text <= '9')) ? 1 : -1;
}

/* Parses and checks everything that needs no file: -1 to go on, else the exit status. */
static int prepare(const char *program, int argc, char **argv, cf_args *a)
{
    defaults(a);
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        dx_counterfactual_usage(program, stdout);
        return 0;
    }
    char who[256];
    snprintf(who, sizeof who, "%s counterfactual", program);
    const char *pos[3];
    int npos, cls;
    if (dx_options_parse(who, options, N_OPTIONS, argc, argv, a, pos, 3, &npos) != 0) return 2;
    if (npos < 3) {
        fprintf(stderr, "%s: needs <cfg> <weights> <image> (see %s -h)\n", who, who);
        return 2;
    }
    a->cfg = pos[0], a->weights = pos[1], a->image = pos[2];
    const char *bad = NULL, *value = NULL;
    char tail;
    float *r = a->rect;
    if (a->region && (sscanf(a->region, "%f,%f,%f,%f%c", &r[0], &r[1], &r[2], &r[3], &tail) != 4 || !isfinite(r[0]) ||
                      !isfinite(r[1]) || !isfinite(r[2]) || !isfinite(r[3]) || !(r[2] > 0) || !(r[3] > 0)))
        bad = "-region takes x,y,w,h in photo pixels, finite numbers with w, h > 0", value = a->region;
    else if (a->to && class_word(a->to, &cls) != 0 && (!a->names || class_word(a->to, &cls) < 0))
        bad = "-to takes a class number >= 0, or a class name with -names", value = a->to;
    else if (a->cls && class_word(a->cls, &cls) != 0 && (!a->names || class_word(a->cls, &cls) < 0))
        bad = "-class takes a class number >= 0, or a class name with -names", value = a->cls;
    else if (a->goal && strcmp(a->goal, "disappear") && strcmp(a->goal, "class"))
        bad = "-goal takes disappear or class", value = a->goal;
    else if (a->goal && !strcmp(a->goal, "class") && !a->to)
        bad = "-goal class needs -to N|NAME, the class the box becomes", value = a->goal;
    if (bad) {
        fprintf(stderr, "%s: %s, not '%s'\n", who, bad, value);
        return 2;
    }
    if (!a->out) return -1;
    return dx_cli_check_out_dir(stderr, who, a->out) == 0 ? -1 : 2;
}

int dx_counterfactual_check_args(const char *program, int argc, char **argv)
{
    cf_args a;
    return prepare(program, argc, argv, &a);
}

/* -to or -class of model m: 0 and *cls, or -1 with err naming the option. */
static int resolve_class(const dx_model *m, const char *flag, const char *text, int *cls, dx_error *err)
{
    if (class_word(text, cls) == 0) {
        if (*cls < dx_cf_classes(m)) return 0;
        dx_set_error(err, "%s %s: the model has %d classes (0..%d)", flag, text, dx_cf_classes(m), dx_cf_classes(m) - 1);
        return -1;
    }
    int matches;
    *cls = dx_class_from_name(m, text, &matches);
    if (matches == 1) return 0;
    dx_set_error(err, "%s '%s': %s", flag, text, matches ? "several classes have that name; give its number" : "no class of that name");
    return -1;
}

/* The network input pixels whose centre lies in the photo rectangle r (x, y, w, h): mask, 1 there.
 * -1 with err when none does. */
static int region_mask(const dx_model *m, int photo_w, int photo_h, const float r[4], unsigned char *mask, dx_error *err)
{
    dx_letterbox g;
    dx_fit_geometry(m, photo_w, photo_h, &g);
    long inside = 0;
    for (int y = 0; y < g.net_h; ++y)
        for (int x = 0; x < g.net_w; ++x) {
            float px = (x + .5f - g.dx) * photo_w / g.inner_w, py = (y + .5f - g.dy) * photo_h / g.inner_h;
            int in = px >= 0 && py >= 0 && px < photo_w && py < photo_h && px >= r[0] && px < r[0] + r[2] &&
                     py >= r[1] && py < r[1] + r[3];
            mask[y * g.net_w + x] = (unsigned char)in;
            inside += in;
        }
    if (inside) return 0;
    dx_set_error(err, "-region %g,%g,%g,%g covers no pixel of the %dx%d photo", r[0], r[1], r[2], r[3], photo_w, photo_h);
    return -1;
}

/* The goal the options ask for, on the forward state of x0. */
static int make_goal(dx_model *m, const cf_args *a, dx_image photo, dx_cf_goal *g, dx_error *err)
{
    memset(g, 0, sizeof *g);
    g->photo_w = photo.w, g->photo_h = photo.h;
    g->thresh = a->thresh, g->hier = .5f, g->nms = a->nms;
    if (a->to && resolve_class(m, "-to", a->to, &g->to, err) != 0) return -1;
    if (!dx_is_detector(m)) {
        const float *p = dx_output_of(m, m->head);
        g->cls = 0;
        for (int k = 1; k < dx_class_count(m); ++k)
            if (p[k] > p[g->cls]) g->cls = k;
        if (a->cls && resolve_class(m, "-class", a->cls, &g->cls, err) != 0) return -1;
        g->kind = a->to ? DX_CF_TO_CLASS : DX_CF_NOT_TOP;
        return 0;
    }
    dx_detection *b;
    int n;
    dx_request req;
    dx_request_init(&req);
    req.thresh = a->thresh, req.nms = a->nms;
    if (dx_detect_image(m, photo, &req, &b, &n, err) != 0) return -1;
    if (a->box >= n) {
        dx_set_error(err, "%s: -box %d: %d box%s detected above -thresh %g", a->image, a->box, n, n == 1 ? "" : "es", a->thresh);
        free(b);
        return -1;
    }
    g->box = b[a->box];
    free(b);
    g->kind = a->goal && !strcmp(a->goal, "class") ? DX_CF_BOX_CLASS : DX_CF_DISAPPEAR;
    return 0;
}

static const char *goal_name(dx_cf_goal_kind k)
{
    static const char *const names[] = {"not_top", "to_class", "disappear", "box_class"};
    return names[k];
}

/* What the model says on its current forward state: a classifier's top classes (softmax
 * probabilities), or a detector's boxes overlapping the goal's box (IoU >= DX_CF_OVERLAP) with
 * their scores, highest first. */
#define CF_SCORES 5
typedef struct {
    int n, cls[CF_SCORES];
    float score[CF_SCORES];
} cf_scores;

static int scores_of(dx_model *m, const dx_cf_goal *g, cf_scores *s, dx_error *err)
{
    s->n = 0;
    if (!dx_is_detector(m)) {
        const float *p = dx_output_of(m, m->head);
        for (int k = 0; k < dx_class_count(m); ++k) {
            int at = s->n < CF_SCORES ? s->n++ : CF_SCORES;
            while (at > 0 && p[k] > s->score[at - 1]) {
                if (at < CF_SCORES) s->cls[at] = s->cls[at - 1], s->score[at] = s->score[at - 1];
                --at;
            }
            if (at < CF_SCORES) s->cls[at] = k, s->score[at] = p[k];
        }
        return 0;
    }
    dx_detection *b;
    int n;
    if (dx_decode_boxes(m, g->photo_w, g->photo_h, g->thresh, g->hier, g->nms, &b, &n, err) != 0) return -1;
    for (int k = 0; k < n && s->n < CF_SCORES; ++k)
        if (dx_iou(b[k].bbox, g->box.bbox) >= DX_CF_OVERLAP) s->cls[s->n] = b[k].cls, s->score[s->n++] = b[k].score;
    free(b);
    return 0;
}

static void json_scores(dx_json *j, const dx_model *m, const char *key, const cf_scores *s)
{
    dx_json_key(j, key);
    dx_json_arr_begin(j);
    for (int k = 0; k < s->n; ++k) {
        dx_json_obj_begin(j);
        dx_json_key(j, "class"); dx_json_int(j, s->cls[k]);
        dx_json_key(j, "name"); dx_json_str(j, dx_class_name(m, s->cls[k]));
        dx_json_key(j, "score"); dx_json_num(j, s->score[k]);
        dx_json_obj_end(j);
    }
    dx_json_arr_end(j);
}

/* PREFIX.json */
static int write_json(const char *path, const dx_model *m, const cf_args *a, const dx_cf_goal *g, const dx_cf_options *o,
                      const dx_cf_result *r, const cf_scores scores[2], int png_success, float png_gap, double ms,
                      dx_error *err)
{
    dx_atomic_file f;
    if (dx_atomic_fopen(&f, path, err) != 0) return -1;
    dx_json j;
    dx_json_begin(&j, f.f);
    dx_json_obj_begin(&j);
    dx_json_key(&j, "command"); dx_json_str(&j, "counterfactual");
    dx_json_key(&j, "model"); dx_json_str(&j, m->cfg_path);
    dx_json_key(&j, "weights"); dx_json_str(&j, m->weights_path);
    dx_json_key(&j, "image"); dx_json_str(&j, a->image);
    dx_json_key(&j, "goal"); dx_json_str(&j, goal_name(g->kind));
    dx_json_key(&j, "class"); g->kind == DX_CF_NOT_TOP ? dx_json_int(&j, g->cls) : dx_json_null(&j);
    dx_json_key(&j, "to"); a->to ? dx_json_int(&j, g->to) : dx_json_null(&j);
    if (g->kind == DX_CF_DISAPPEAR || g->kind == DX_CF_BOX_CLASS) {
        dx_json_key(&j, "box");
        dx_json_obj_begin(&j);
        dx_json_key(&j, "index"); dx_json_int(&j, a->box);
        dx_json_key(&j, "class"); dx_json_int(&j, g->box.cls);
        dx_json_key(&j, "score"); dx_json_num(&j, g->box.score);
        dx_json_key(&j, "x"); dx_json_num(&j, g->box.x);
        dx_json_key(&j, "y"); dx_json_num(&j, g->box.y);
        dx_json_key(&j, "w"); dx_json_num(&j, g->box.w);
        dx_json_key(&j, "h"); dx_json_num(&j, g->box.h);
        dx_json_obj_end(&j);
    }
    dx_json_key(&j, "parameters");
    dx_json_obj_begin(&j);
    dx_json_key(&j, "steps"); dx_json_int(&j, o->steps);
    dx_json_key(&j, "polish"); dx_json_int(&j, o->polish);
    dx_json_key(&j, "lr"); dx_json_num(&j, o->lr);
    dx_json_key(&j, "l1"); dx_json_num(&j, o->l1);
    dx_json_key(&j, "tv"); dx_json_num(&j, o->tv);
    dx_json_key(&j, "margin"); dx_json_num(&j, o->margin);
    dx_json_key(&j, "region"); dx_json_str(&j, a->region);
    dx_json_obj_end(&j);
    dx_json_key(&j, "succeeded"); dx_json_bool(&j, r->succeeded);
    dx_json_key(&j, "succeeded_png"); dx_json_bool(&j, png_success);
    dx_json_key(&j, "first_success"); dx_json_int(&j, r->first_success);
    dx_json_key(&j, "iterations"); dx_json_int(&j, r->iterations);
    dx_json_key(&j, "distance_l1"); dx_json_num(&j, r->l1);
    dx_json_key(&j, "distance_l2"); dx_json_num(&j, r->l2);
    dx_json_key(&j, "changed_pixels"); dx_json_int(&j, r->changed);
    dx_json_key(&j, "input_pixels"); dx_json_int(&j, (long)m->net->w * m->net->h);
    dx_json_key(&j, "gap_start"); dx_json_num(&j, r->gap0);
    dx_json_key(&j, "gap"); dx_json_num(&j, r->gap);
    dx_json_key(&j, "gap_png"); dx_json_num(&j, png_gap);
    json_scores(&j, m, "scores_before", &scores[0]);
    json_scores(&j, m, "scores_after", &scores[1]);
    dx_json_key(&j, "ms"); dx_json_num(&j, ms);
    dx_json_key(&j, "path");
    dx_json_arr_begin(&j);
    for (int k = 0; k < r->n_path; ++k) {
        dx_json_obj_begin(&j);
        dx_json_key(&j, "step"); dx_json_int(&j, k);
        dx_json_key(&j, "gap"); dx_json_num(&j, r->path[k].gap);
        dx_json_key(&j, "l1"); dx_json_num(&j, r->path[k].l1);
        dx_json_key(&j, "success"); dx_json_bool(&j, r->path[k].success);
        dx_json_obj_end(&j);
    }
    dx_json_arr_end(&j);
    dx_json_obj_end(&j);
    return dx_atomic_fclose(&f, dx_json_end(&j) == 0, err);
}

/* Every file, staged then committed together; the PNG read back and checked (succeeded_png). */
static int write_files(dx_model *m, const cf_args *a, const char *prefix, dx_image photo, const float *x0,
                       const dx_cf_goal *g, const dx_cf_options *o, dx_cf_result *r, const cf_scores scores[2], double ms,
                       dx_error *err)
{
    const dx_net *net = m->net;
    size_t n = (size_t)net->inputs, spatial = (size_t)net->h * net->w;
    int chw[3] = {net->c, net->h, net->w}, png_success = 0, rc = -1;
    float png_gap = NAN, *diff = dx_alloc(n, sizeof(float), "the difference map", err), *map = NULL;
    float *amount = diff ? dx_alloc(spatial, sizeof(float), "the difference map", err) : NULL;
    dx_image back = {0};
    dx_atomic_set set = {0};
    char path[1200];
    const char *part;
    if (!amount) goto done;
    for (size_t k = 0; k < n; ++k) diff[k] = r->x[k] - x0[k], amount[k % spatial] += fabsf(diff[k]);
    dx_letterbox lb;
    dx_fit_geometry(m, photo.w, photo.h, &lb);
    if (!(map = dx_native_to_photo(amount, net->h, net->w, &lb, photo.w, photo.h))) {
        dx_set_error(err, "out of memory for the %dx%d map", photo.w, photo.h);
        goto done;
    }
    int map_shape[2] = {photo.h, photo.w};
    char title[256];
    snprintf(title, sizeof title, "counterfactual %s: %s, L1 %.3g", goal_name(g->kind),
             r->succeeded ? "succeeded" : "failed", r->l1);
    snprintf(path, sizeof path, "%s_counterfactual.png", prefix);
    if (!(part = dx_atomic_add(&set, path, err)) ||
        dx_write_png(dx_image_over(net->w, net->h, net->c, r->x), part, err) != 0 ||
        dx_load_photo(part, &back, err) != 0)
        goto done;
    dx_image fed = dx_fit_photo(m, back);
    int fed_ok = fed.data != NULL;
    if (fed_ok) fed_ok = dx_cf_check(m, fed.data, g, &png_gap, &png_success, err) == 0;
    dx_free_image(fed);
    if (!fed_ok) goto done;
    snprintf(path, sizeof path, "%s_counterfactual.npy", prefix);
    if (!(part = dx_atomic_add(&set, path, err)) || dx_npy_write(part, r->x, 3, chw, err) != 0) goto done;
    snprintf(path, sizeof path, "%s.raw.npy", prefix);
    if (!(part = dx_atomic_add(&set, path, err)) || dx_npy_write(part, diff, 3, chw, err) != 0) goto done;
    snprintf(path, sizeof path, "%s.npy", prefix);
    if (!(part = dx_atomic_add(&set, path, err)) || dx_npy_write(part, map, 2, map_shape, err) != 0) goto done;
    snprintf(path, sizeof path, "%s.png", prefix);
    if (!(part = dx_atomic_add(&set, path, err)) ||
        dx_render_overlay(photo, map, photo.h, photo.w, 0, title, NULL, part, err) != 0)
        goto done;
    snprintf(path, sizeof path, "%s.json", prefix);
    if (!(part = dx_atomic_add(&set, path, err)) ||
        write_json(part, m, a, g, o, r, scores, png_success, png_gap, ms, err) != 0)
        goto done;
    rc = 0;
done:
    rc = dx_atomic_commit(&set, rc, err);
    if (rc == 0)
        printf("counterfactual %s: %s after %d steps (first at %d): L1 %.4g, L2 %.4g, %ld of %dx%d input pixels "
               "changed; gap %.4g -> %.4g (PNG: %.4g, %s)\nwrote %s_counterfactual.png %s_counterfactual.npy %s.npy "
               "%s.raw.npy %s.png %s.json\n",
               goal_name(g->kind), r->succeeded ? "succeeded" : "failed", r->iterations, r->first_success, r->l1, r->l2,
               r->changed, net->w, net->h, r->gap0, r->gap, png_gap, png_success ? "succeeded" : "failed", prefix, prefix,
               prefix, prefix, prefix, prefix);
    dx_free_image(back);
    free(diff);
    free(amount);
    free(map);
    return rc;
}

int dx_counterfactual_cli(const char *program, int argc, char **argv)
{
    cf_args a;
    int rc = prepare(program, argc, argv, &a);
    if (rc >= 0) return rc;
    dx_error err;
    dx_open_options oo = {a.names, a.verbose, 0};
    dx_model *m = dx_open(a.cfg, a.weights, &oo, &err);
    dx_image photo = {0}, boxed = {0};
    unsigned char *mask = NULL;
    dx_cf_result r = {0};
    rc = 1;
    if (!m) goto fail;
    const dx_option *o = dx_options_out_of_scope(options, N_OPTIONS, argc, argv,
                                                 dx_is_detector(m) ? OPT_DETECTORS : OPT_CLASSIFIERS);
    if (o) {
        fprintf(stderr, "%s counterfactual: %s is for %s, and %s is not one\n", program, o->flag,
                OPT_SCOPE(o) & OPT_DETECTORS ? "detectors" : "classifiers", a.cfg);
        rc = 2;
        goto done;
    }
    if (dx_load_model_photo(m, a.image, &photo, &err) != 0) goto fail;
    if (photo.c != m->net->c) {
        dx_set_error(&err, "%s: %d channels, the model's input %d", a.image, photo.c, m->net->c);
        goto fail;
    }
    boxed = dx_fit_photo(m, photo);
    if (!boxed.data) {
        dx_set_error(&err, "out of memory for the network input");
        goto fail;
    }
    dx_forward(m, boxed.data);
    dx_cf_goal g;
    cf_scores scores[2]; /* on the input, on the counterfactual */
    if (make_goal(m, &a, photo, &g, &err) != 0 || scores_of(m, &g, &scores[0], &err) != 0) goto fail;
    if (a.region) {
        if (!(mask = dx_alloc((size_t)m->net->w * m->net->h, 1, "the region's mask", &err)) ||
            region_mask(m, photo.w, photo.h, a.rect, mask, &err) != 0)
            goto fail;
    }
    float margin = a.margin >= 0 ? a.margin : dx_is_detector(m) ? 0.1f : 1.f;
    dx_cf_options opt = {a.steps, a.polish, a.lr, a.l1, a.tv, margin, mask};
    double t0 = dx_now_ms();
    if (dx_counterfactual(m, boxed.data, &g, &opt, &r, &err) != 0) goto fail;
    double ms = dx_now_ms() - t0;
    if (scores_of(m, &g, &scores[1], &err) != 0) goto fail; /* the search left the forward on r.x */
    char prefix[1024];
    if (a.out) snprintf(prefix, sizeof prefix, "%s", a.out);
    else {
        const char *slash = strrchr(a.image, '/'), *name = slash ? slash + 1 : a.image, *dot = strrchr(name, '.');
        int stem = dot && dot != name ? (int)(dot - name) : (int)strlen(name);
        snprintf(prefix, sizeof prefix, "%.*s_counterfactual", stem, name);
    }
    if (write_files(m, &a, prefix, photo, boxed.data, &g, &opt, &r, scores, ms, &err) != 0) goto fail;
    rc = 0; /* a search that fails is an answer (succeeded: false), not an error */
    goto done;
fail:
    fprintf(stderr, "%s counterfactual: %s\n", program, err.msg);
done:
    dx_cf_result_free(&r);
    free(mask);
    dx_free_image(boxed);
    dx_free_image(photo);
    dx_close(m);
    return rc;
}
