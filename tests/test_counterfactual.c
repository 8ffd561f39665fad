/* Counterfactual explanations (plugin/counterfactual, `darknet-explain counterfactual`) on the
 * embedded shapes models, whose truth the generator knows: the counterfactual the command writes
 * (its PNG read back, and its float .npy) makes Darknet's own forward give the asked class; the
 * detector no longer finds the box; -region leaves every other pixel as it was; the change lies
 * on the object; a heavier L1 weight gives a smaller change; bad input leaves nothing behind. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>
#include "../tools/shapes.h"
#include "counterfactual/counterfactual.h"
#include "detect.h"
#include "helpers.h"
#include "io/image.h"
#include "io/npy.h"
#include "io/render.h"
#include "model.h"

#define CLS_SEED 2 /* the held-out splits of `make models` */
#define DET_SEED 4
#define SIZE 64

static void project_path(const char *rel, char *out, size_t len)
{
    const char *root = getenv("DX_ROOT");
    snprintf(out, len, "%s/%s", root ? root : ".", rel);
}

static dx_model *open_shapes(const char *which)
{
    char cfg[1024], weights[1024], rel[64];
    snprintf(rel, sizeof rel, "cfg/shapes-%s.cfg", which);
    project_path(rel, cfg, sizeof cfg);
    snprintf(rel, sizeof rel, "cfg/shapes-%s.weights", which);
    project_path(rel, weights, sizeof weights);
    dx_error err;
    dx_model *m = dx_open(cfg, weights, NULL, &err);
    cr_assert(m, "%s", err.msg);
    return m;
}

/* Image `index` of set `seed` (one object) written as dir/img.png; the image itself in *im. */
static shapes_object write_image(const char *dir, unsigned long long seed, int index, dx_image *im)
{
    shapes_object o;
    shapes_draw(seed, index, SIZE, 1, im, &o);
    char path[1024];
    dx_error err;
    snprintf(path, sizeof path, "%s/img.png", dir);
    cr_assert_eq(dx_write_png(*im, path, &err), 0, "%s", err.msg);
    return o;
}

/* The number after "key": in dir/o.json (asserts it is there). */
static double json_number(const char *dir, const char *key)
{
    char path[1024], pattern[64], *text;
    snprintf(path, sizeof path, "%s/o.json", dir);
    text = read_text(path);
    snprintf(pattern, sizeof pattern, "\"%s\": ", key);
    const char *at = strstr(text, pattern);
    cr_assert(at, "%s has no %s", path, key);
    double v = !strncmp(at + strlen(pattern), "true", 4) ? 1 : !strncmp(at + strlen(pattern), "false", 5) ? 0
                                                                                                           : atof(at + strlen(pattern));
    free(text);
    return v;
}

static run_result run_cf(const char *dir, const char *model, const char *extra)
{
    char root[1024], args[4096];
    project_path("cfg", root, sizeof root);
    snprintf(args, sizeof args, "counterfactual %s/shapes-%s.cfg %s/shapes-%s.weights img.png -out o %s", root, model,
             root, model, extra);
    return run_dx(dir, args);
}

static int argmax(const float *v, int n)
{
    int best = 0;
    for (int k = 1; k < n; ++k)
        if (v[k] > v[best]) best = k;
    return best;
}

/* Darknet's own forward (network_predict) on input x (net->inputs floats): its top-1 class. */
static int darknet_top1(dx_model *m, const float *x)
{
    float *in = malloc(sizeof(float) * m->net->inputs);
    memcpy(in, x, sizeof(float) * m->net->inputs);
    float *p = network_predict(dx_network(m), in);
    int top = argmax(p, dx_class_count(m));
    free(in);
    return top;
}

/* dir/o_counterfactual.png read back and letterboxed as a photo (the network input's size) */
static dx_image read_back(const char *dir, dx_model *m)
{
    char path[1024];
    dx_error err;
    dx_image png;
    snprintf(path, sizeof path, "%s/o_counterfactual.png", dir);
    cr_assert_eq(dx_load_photo(path, &png, &err), 0, "%s", err.msg);
    cr_assert(png.w == m->net->w && png.h == m->net->h, "the counterfactual PNG is %dx%d", png.w, png.h);
    dx_image fed = dx_fit_photo(m, png);
    dx_free_image(png);
    return fed;
}

static float *read_npy(const char *dir, const char *name, const dx_model *m)
{
    char path[1024];
    dx_error err;
    int shape[3] = {m->net->c, m->net->h, m->net->w};
    float *v = malloc(sizeof(float) * m->net->inputs);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cr_assert_eq(dx_npy_read(path, v, 3, shape, &err), 0, "%s", err.msg);
    return v;
}

TestSuite(counterfactual, .init = make_scratch, .fini = remove_scratch);

/* -to every other class: Darknet's own forward on the written counterfactual (the PNG read back,
 * and the exact .npy) puts that class on top; the reported L1 is the files' own. */
Test(counterfactual, to_every_other_class_flips_darknets_forward)
{
    dx_model *m = open_shapes("classifier");
    char dir[1024];
    scratch_path(dir, sizeof dir, "");
    for (int index = 0; index < 3; ++index) {
        dx_image im;
        shapes_object o = write_image(dir, CLS_SEED, index, &im);
        dx_image x0 = dx_fit_photo(m, im);
        for (int to = 0; to < SHAPES_CLASSES; ++to) {
            if (to == o.cls) continue;
            char extra[64];
            snprintf(extra, sizeof extra, "-to %d", to);
            run_result r = run_cf(dir, "classifier", extra);
            cr_assert_eq(r.status, 0, "image %d -to %d: %s", index, to, r.err);
            cr_expect_eq(json_number(dir, "succeeded"), 1, "image %d -to %d", index, to);
            dx_image fed = read_back(dir, m);
            cr_expect_eq(darknet_top1(m, fed.data), to, "image %d -to %d: the PNG's top-1", index, to);
            dx_free_image(fed);
            float *x = read_npy(dir, "o_counterfactual.npy", m), *raw = read_npy(dir, "o.raw.npy", m);
            cr_expect_eq(darknet_top1(m, x), to, "image %d -to %d: the .npy's top-1", index, to);
            double l1 = 0, raw_l1 = 0;
            for (int k = 0; k < m->net->inputs; ++k) {
                l1 += fabs((double)x[k] - x0.data[k]);
                raw_l1 += fabs(raw[k]);
                cr_assert(x[k] >= 0 && x[k] <= 1, "pixel %d = %g outside [0,1]", k, x[k]);
            }
            double reported = json_number(dir, "distance_l1");
            cr_expect(l1 > 0 && fabs(l1 - reported) <= 1e-4 * reported, "L1 %g from the files, %g reported", l1, reported);
            cr_expect(fabs(raw_l1 - reported) <= 1e-4 * reported, "L1 %g of the .raw.npy, %g reported", raw_l1, reported);
            free(x);
            free(raw);
        }
        dx_free_image(x0);
        dx_free_image(im);
    }
    dx_close(m);
}

/* -region: the change stays inside it, every other pixel of the PNG and the .npy is the input's. */
Test(counterfactual, region_leaves_every_pixel_outside_bit_identical)
{
    dx_model *m = open_shapes("classifier");
    char dir[1024], extra[128];
    scratch_path(dir, sizeof dir, "");
    dx_image im;
    shapes_object o = write_image(dir, CLS_SEED, 1, &im);
    int x = o.x0, y = o.y0, w = o.x1 - o.x0 + 1, h = o.y1 - o.y0 + 1;
    snprintf(extra, sizeof extra, "-to %d -region %d,%d,%d,%d", (o.cls + 1) % SHAPES_CLASSES, x, y, w, h);
    run_result r = run_cf(dir, "classifier", extra);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect_eq(json_number(dir, "succeeded"), 1);
    dx_image fed = read_back(dir, m);
    float *cf = read_npy(dir, "o_counterfactual.npy", m);
    long outside = 0, changed_inside = 0;
    for (int c = 0; c < 3; ++c)
        for (int py = 0; py < SIZE; ++py)
            for (int px = 0; px < SIZE; ++px) {
                int k = (c * SIZE + py) * SIZE + px, in = px >= x && px < x + w && py >= y && py < y + h;
                if (in) {
                    changed_inside += cf[k] != im.data[k];
                    continue;
                }
                ++outside;
                cr_assert(fed.data[k] == im.data[k] && cf[k] == im.data[k],
                          "pixel (%d, %d) channel %d outside -region changed: %g -> PNG %g, npy %g", px, py, c,
                          im.data[k], fed.data[k], cf[k]);
            }
    cr_expect(outside > 0 && changed_inside > 0, "%ld values outside, %ld changed inside", outside, changed_inside);
    free(cf);
    dx_free_image(fed);
    dx_free_image(im);
    dx_close(m);
}

/* The truth: the class is the object's shape, so the change that turns it into another must
 * lie mostly on the object: its share of the change's mass inside the object's box, far above
 * the box's share of the image (a change spread at random). Measured: 0.42 against 0.10. */
Test(counterfactual, change_lies_on_the_object)
{
    dx_model *m = open_shapes("classifier");
    dx_cf_options opt = {300, 30, 0.01f, 0.5f, 0.05f, 1.f, NULL};
    double inside = 0, area = 0;
    int runs = 0;
    for (int index = 0; index < 4; ++index) {
        dx_image im;
        shapes_object o;
        shapes_draw(CLS_SEED, index, SIZE, 1, &im, &o);
        dx_cf_goal g = {.kind = DX_CF_TO_CLASS};
        for (g.to = 0; g.to < SHAPES_CLASSES; ++g.to) {
            if (g.to == o.cls) continue;
            dx_cf_result r;
            dx_error err;
            cr_assert_eq(dx_counterfactual(m, im.data, &g, &opt, &r, &err), 0, "%s", err.msg);
            cr_expect(r.succeeded, "image %d -to %d", index, g.to);
            float map[SIZE * SIZE] = {0};
            for (int k = 0; k < 3 * SIZE * SIZE; ++k) map[k % (SIZE * SIZE)] += fabsf(r.x[k] - im.data[k]);
            inside += shapes_energy_in_box(map, SIZE, SIZE, &o);
            area += (double)(o.x1 - o.x0 + 1) * (o.y1 - o.y0 + 1) / (SIZE * SIZE);
            ++runs;
            dx_cf_result_free(&r);
        }
        dx_free_image(im);
    }
    inside /= runs, area /= runs;
    cr_log_info("change in the box %.3f, the box's area %.3f", inside, area);
    cr_expect(inside > 0.3 && inside > 2.5 * area, "change in the box %.3f, the box's area %.3f", inside, area);
    dx_close(m);
}

/* A heavier L1 weight buys a smaller change: the mean L1 and the changed pixels fall. */
Test(counterfactual, heavier_l1_gives_a_smaller_change)
{
    dx_model *m = open_shapes("classifier");
    double l1[2] = {0}, changed[2] = {0};
    const float weights[2] = {0.05f, 2.f};
    for (int index = 0; index < 3; ++index) {
        dx_image im;
        shapes_object o;
        shapes_draw(CLS_SEED, index, SIZE, 1, &im, &o);
        dx_cf_goal g = {.kind = DX_CF_NOT_TOP, .cls = o.cls};
        for (int w = 0; w < 2; ++w) {
            dx_cf_options opt = {300, 30, 0.01f, weights[w], 0.05f, 1.f, NULL};
            dx_cf_result r;
            dx_error err;
            cr_assert_eq(dx_counterfactual(m, im.data, &g, &opt, &r, &err), 0, "%s", err.msg);
            cr_expect(r.succeeded, "image %d, -l1 %g", index, weights[w]);
            cr_expect_neq(darknet_top1(m, r.x), o.cls, "image %d, -l1 %g: still class %d", index, weights[w], o.cls);
            l1[w] += r.l1;
            changed[w] += r.changed;
            dx_cf_result_free(&r);
        }
        dx_free_image(im);
    }
    cr_log_info("L1 %.2f -> %.2f, changed pixels %.0f -> %.0f", l1[0], l1[1], changed[0], changed[1]);
    cr_expect(l1[1] < 0.8 * l1[0], "-l1 %g: L1 %.3f, -l1 %g: %.3f", weights[0], l1[0], weights[1], l1[1]);
    cr_expect(changed[1] < changed[0], "changed pixels %.0f, %.0f", changed[0], changed[1]);
    dx_close(m);
}

/* Detector, -goal disappear: on the counterfactual PNG read back, Darknet's boxes (the plugin's
 * dx_detect_image) hold none overlapping the box any more; on the input they did. */
Test(counterfactual, detector_box_disappears)
{
    dx_model *m = open_shapes("detector");
    char dir[1024];
    scratch_path(dir, sizeof dir, "");
    dx_request req;
    dx_request_init(&req);
    int tried = 0;
    for (int index = 0; index < 4; ++index) {
        dx_image im;
        write_image(dir, DET_SEED, index, &im);
        dx_detection *before, *after;
        int nb, na;
        dx_error err;
        cr_assert_eq(dx_detect_image(m, im, &req, &before, &nb, &err), 0, "%s", err.msg);
        if (nb == 0) {
            dx_free_image(im);
            continue;
        }
        ++tried;
        run_result r = run_cf(dir, "detector", "-goal disappear");
        cr_assert_eq(r.status, 0, "image %d: %s", index, r.err);
        cr_expect_eq(json_number(dir, "succeeded_png"), 1, "image %d", index);
        dx_image fed = read_back(dir, m);
        cr_assert_eq(dx_detect_image(m, fed, &req, &after, &na, &err), 0, "%s", err.msg);
        for (int k = 0; k < na; ++k)
            cr_expect(dx_iou(after[k].bbox, before[0].bbox) < DX_CF_OVERLAP,
                      "image %d: box %d (class %d, score %.3f) still overlaps the box by IoU %.2f", index, k, after[k].cls,
                      after[k].score, dx_iou(after[k].bbox, before[0].bbox));
        free(before);
        free(after);
        dx_free_image(fed);
        dx_free_image(im);
    }
    cr_expect(tried >= 3, "only %d images had a box", tried);
    dx_close(m);
}

/* Detector, -goal class -to N: on the PNG read back a box of class N overlaps the box, none of
 * its old class does; -to its own class is refused (one line, exit 1, no file). */
Test(counterfactual, detector_box_changes_class)
{
    dx_model *m = open_shapes("detector");
    char dir[1024], extra[64];
    scratch_path(dir, sizeof dir, "");
    dx_request req;
    dx_request_init(&req);
    const char *keep[] = {"img.png", "stdout.txt", "stderr.txt", NULL};
    for (int index = 0; index < 2; ++index) {
        dx_image im;
        write_image(dir, DET_SEED, index, &im);
        dx_detection *before, *after;
        int nb, na;
        dx_error err;
        cr_assert_eq(dx_detect_image(m, im, &req, &before, &nb, &err), 0, "%s", err.msg);
        cr_assert_gt(nb, 0, "image %d: no box", index);
        int to = (before[0].cls + 1 + index) % SHAPES_CLASSES;
        if (index == 0) { /* before any file is written */
            snprintf(extra, sizeof extra, "-goal class -to %d", before[0].cls);
            run_result r = run_cf(dir, "detector", extra);
            cr_expect(r.status == 1 && r.err_lines == 1 && strstr(r.err, "-to"), "-to its own class: %d %s", r.status,
                      r.err);
            cr_expect_eq(stray_files_in(dir, keep), 0);
            r = run_cf(dir, "detector", "-goal class -to 4"); /* 4 classes (dx_class_count: the head's outputs) */
            cr_expect(r.status == 1 && r.err_lines == 1 && strstr(r.err, "-to 4"), "-to 4: %d %s", r.status, r.err);
            cr_expect_eq(stray_files_in(dir, keep), 0);
        }
        snprintf(extra, sizeof extra, "-goal class -to %d", to);
        run_result r = run_cf(dir, "detector", extra);
        cr_assert_eq(r.status, 0, "image %d: %s", index, r.err);
        cr_expect_eq(json_number(dir, "succeeded_png"), 1, "image %d -to %d: %s", index, to, r.out);
        dx_image fed = read_back(dir, m);
        cr_assert_eq(dx_detect_image(m, fed, &req, &after, &na, &err), 0, "%s", err.msg);
        int found = 0;
        for (int k = 0; k < na; ++k) {
            float iou = dx_iou(after[k].bbox, before[0].bbox);
            found |= after[k].cls == to && iou >= DX_CF_OVERLAP;
            cr_expect(after[k].cls != before[0].cls || iou < DX_CF_OVERLAP, "image %d: class %d still there (IoU %.2f)",
                      index, before[0].cls, iou);
        }
        cr_expect(found, "image %d: no box of class %d over the box", index, to);
        free(before);
        free(after);
        dx_free_image(fed);
        dx_free_image(im);
    }
    dx_close(m);
}

/* Bad input: one line on stderr naming the option, exit 2 (usage) or 1 (the model says no), no file. */
Test(counterfactual, bad_input_one_line_no_file)
{
    char dir[1024];
    scratch_path(dir, sizeof dir, "");
    dx_image im;
    write_image(dir, CLS_SEED, 0, &im);
    dx_free_image(im);
    const struct {
        const char *extra, *flag;
        int status;
    } cases[] = {
        {"-to 7", "-to", 1},           /* 4 classes */
        {"-to circle", "-to", 2},      /* a name without -names */
        {"-region 1,2,0,3", "-region", 2},
        {"-region 1,2,3", "-region", 2},
        {"-region 100,100,5,5", "-region", 1}, /* outside the 64x64 photo */
        {"-box 1", "-box", 2},         /* a detector's option on a classifier */
        {"-steps 0", "-steps", 2},
    };
    const char *keep[] = {"img.png", "stdout.txt", "stderr.txt", NULL};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; ++k) {
        run_result r = run_cf(dir, "classifier", cases[k].extra);
        cr_expect_eq(r.status, cases[k].status, "%s: status %d (%s)", cases[k].extra, r.status, r.err);
        cr_expect_eq(r.err_lines, 1, "%s: %s", cases[k].extra, r.err);
        cr_expect(strstr(r.err, cases[k].flag), "%s: the message does not name %s: %s", cases[k].extra, cases[k].flag,
                  r.err);
        cr_expect_eq(stray_files_in(dir, keep), 0, "%s left files", cases[k].extra);
    }
}

/* Tiny Darknet (../shared): the top class of a photo leaves the top within 100 steps, on the PNG too. */
Test(counterfactual, tiny_darknet_leaves_its_top_class)
{
    const char *shared = shared_dir();
    if (!shared) cr_skip_test("../shared is absent");
    char dir[1024], args[4096];
    scratch_path(dir, sizeof dir, "");
    snprintf(args, sizeof args,
             "counterfactual %s/models/imagenet/tiny.cfg %s/models/imagenet/tiny.weights %s/images/dog.jpg -steps 100 "
             "-polish 5 -out o",
             shared, shared, shared);
    run_result r = run_dx(dir, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect_eq(json_number(dir, "succeeded"), 1, "%s", r.out);
    cr_expect_eq(json_number(dir, "succeeded_png"), 1, "%s", r.out);
    cr_expect(json_number(dir, "gap_start") < 0 && json_number(dir, "distance_l1") > 0, "%s", r.out);
}
