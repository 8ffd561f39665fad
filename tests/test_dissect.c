/* Network dissection (plugin/concepts/dissect.h, `darknet-explain dissect`): the IoU and the
 * threshold by hand; on the generator's truth, the classifier's class-score units labelled with
 * their class's shape (the class is decided by the shape alone) far above a baseline whose maps
 * come from other images; the command's outputs, its bad inputs, Tiny Darknet. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include <stb_image.h>
#include "../tools/shapes_concepts.h"
#include "concepts/dissect.h"
#include "engine.h"
#include "helpers.h"
#include "io/render.h"
#include "model.h"

#define CLASS_SCORES 17   /* cfg/shapes-classifier.cfg's 4-channel map before the average pool */
#define HELD_OUT_SEED 2   /* tools/train-models.sh's held-out classifier split */
#define GT_IMAGES 100
#define GT_IOU_FLOOR 0.06     /* measured (100 images): 0.108 0.084 0.387 0.185 */
#define GT_BASELINE_RATIO 5.0 /* measured: 37; the baseline: the same maps taken from other images */

/* An identity placement: the photo is the network input, w x h. */
static dx_letterbox identity(int w, int h)
{
    return (dx_letterbox){w, h, w, h, 0, 0};
}

Test(dissect, iou_by_hand)
{
    /* one unit, 2x2 maps on 2x2 photos, two images; pixels p = y*2 + x */
    dx_dissect_layer L;
    dx_error err;
    cr_assert_eq(dx_dissect_init(&L, -1, 1, 2, 2, 2, 2, &err), 0, "%s", err.msg);
    const float a0[4] = {5, 1, 0, 0}, a1[4] = {0, 4, 3, 0};
    memcpy(dx_dissect_acts(&L, 0), a0, sizeof a0);
    memcpy(dx_dissect_acts(&L, 1), a1, sizeof a1);
    dx_dissect_record(&L, 0);
    dx_dissect_record(&L, 1);
    /* 8 activations, top 25%: 2 above T, T = the third largest, 3 */
    cr_assert_eq(dx_dissect_thresholds(&L, 0.25, &err), 0);
    cr_expect_eq(L.threshold[0], 3.0f);
    /* M: image 0 {p0}, image 1 {p1}. Concept A: {p0, p1}, {p1}; concept B: {p3}, {p1, p2} */
    const unsigned char m0[8] = {1, 1, 0, 0, /* B */ 0, 0, 0, 1}, m1[8] = {0, 1, 0, 0, /* B */ 0, 1, 1, 0};
    dx_letterbox g = identity(2, 2);
    cr_assert_eq(dx_dissect_accumulate(&L, 0, m0, 2, 2, &g, &err), 0);
    cr_assert_eq(dx_dissect_accumulate(&L, 1, m1, 2, 2, &g, &err), 0);
    /* A: |M∩A| = 1 + 1, |M∪A| = 2 + 3 - 2; B: |M∩B| = 0 + 1, |M∪B| = 2 + 3 - 1 */
    cr_expect_float_eq(dx_dissect_iou(&L, 0, 0), 2.0 / 3, 1e-12);
    cr_expect_float_eq(dx_dissect_iou(&L, 0, 1), 1.0 / 4, 1e-12);
    dx_dissect_unit u;
    dx_dissect_label(&L, 0, &u);
    cr_expect_eq(u.best, 0);
    cr_expect_eq(u.second, 1);
    cr_expect_float_eq(u.second_iou, 0.25, 1e-12);
    int top[2];
    cr_expect_eq(dx_dissect_top_images(&L, 0, 5, top), 2);
    cr_expect(top[0] == 0 && top[1] == 1, "top images %d %d: image 0's maximum 5 beats image 1's 4", top[0], top[1]);
    dx_dissect_free(&L);
}

Test(dissect, upsampled_map_is_thresholded_bilinear)
{
    /* a 2x2 map over a 2x2 network frame, the photo 4x4 over it: pixel centres aligned, photo pixel
     * x at cell coordinate (x + 0.5) / 2 - 0.5, bilinear, clamped at the edges */
    dx_dissect_layer L;
    dx_error err;
    cr_assert_eq(dx_dissect_init(&L, -1, 1, 2, 2, 1, 1, &err), 0);
    const float a[4] = {0, 8, 0, 0};
    memcpy(dx_dissect_acts(&L, 0), a, sizeof a);
    dx_dissect_record(&L, 0);
    L.threshold[0] = 3.9f; /* set by hand */
    unsigned char m[16];
    dx_letterbox g = identity(2, 2);
    g.net_w = g.net_h = 2; /* the map covers the network frame; the photo is 4x4 over it */
    cr_assert_eq(dx_dissect_unit_mask(&L, 0, 0, 4, 4, &g, m, &err), 0);
    /* cell coordinates -0.25, 0.25, 0.75, 1.25: row 0 is 0 2 6 8, row 1 0 1.5 4.5 6 (3/4 of it),
     * row 2 a quarter, row 3 zero */
    const unsigned char want[16] = {0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    for (int p = 0; p < 16; ++p) cr_expect_eq(m[p], want[p], "pixel %d: %d", p, m[p]);
    dx_dissect_free(&L);
}

Test(dissect, quantile_threshold_is_exact)
{
    dx_dissect_layer L;
    dx_error err;
    const int n = 7, units = 3, h = 5, w = 9, N = n * h * w;
    cr_assert_eq(dx_dissect_init(&L, -1, units, h, w, n, 1, &err), 0);
    rng r = {11};
    for (int i = 0; i < n; ++i) {
        float *a = dx_dissect_acts(&L, i);
        for (int k = 0; k < units * h * w; ++k) a[k] = (float)rng_normal(&r) * (k % 3 + 1);
    }
    const double qs[] = {0.005, 0.01, 0.1, 0.25, 0.5};
    for (size_t q = 0; q < sizeof qs / sizeof *qs; ++q) {
        cr_assert_eq(dx_dissect_thresholds(&L, qs[q], &err), 0);
        for (int k = 0; k < units; ++k) {
            int above = 0;
            for (int i = 0; i < n; ++i)
                for (int p = 0; p < h * w; ++p) above += dx_dissect_acts(&L, i)[k * h * w + p] > L.threshold[k];
            cr_expect(fabs(above - qs[q] * N) <= 1, "q %g unit %d: %d of %d above T, want %g", qs[q], k, above, N,
                      qs[q] * N);
            cr_expect_eq(above, (int)ceil(qs[q] * N), "q %g unit %d", qs[q], k);
        }
    }
    dx_dissect_free(&L);
}

/* The classifier's layer over n held-out images (tools/shapes_concepts.h) */
static void dissect_shapes(dx_model *m, int layer, int n, int shifted, dx_dissect_layer *L)
{
    dx_error err;
    cr_assert_eq(shapes_dissect(m, layer, HELD_OUT_SEED, n, shifted, L, &err), 0, "%s", err.msg);
}

static dx_model *open_classifier(void)
{
    char cfg[1024], weights[1024];
    const char *root = getenv("DX_ROOT") ? getenv("DX_ROOT") : ".";
    snprintf(cfg, sizeof cfg, "%s/cfg/shapes-classifier.cfg", root);
    snprintf(weights, sizeof weights, "%s/cfg/shapes-classifier.weights", root);
    dx_error err;
    dx_model *m = dx_open(cfg, weights, NULL, &err);
    cr_assert(m, "%s", err.msg);
    return m;
}

Test(dissect, class_units_are_their_shapes)
{
    dx_model *m = open_classifier();
    cr_assert_eq(m->net->layers[CLASS_SCORES].out_c, SHAPES_CLASSES);
    dx_dissect_layer L, B;
    dissect_shapes(m, CLASS_SCORES, GT_IMAGES, 0, &L);
    dissect_shapes(m, CLASS_SCORES, GT_IMAGES, 1, &B);
    double sum = 0, base = 0;
    for (int c = 0; c < SHAPES_CLASSES; ++c) {
        dx_dissect_unit u, b;
        dx_dissect_label(&L, c, &u);
        dx_dissect_label(&B, c, &b);
        cr_expect_eq(u.best, c, "unit %d labelled %s (IoU %.3f), not %s (IoU %.3f)", c, shapes_concept_names[u.best],
                     u.iou, shapes_concept_names[c], dx_dissect_iou(&L, c, c));
        cr_expect_gt(u.iou, GT_IOU_FLOOR, "unit %d: IoU %.3f", c, u.iou);
        cr_log_info("unit %d: %s IoU %.3f (second %s %.3f); baseline: %s %.3f, its own shape %.3f", c,
                    shapes_concept_names[u.best], u.iou, shapes_concept_names[u.second], u.second_iou,
                    shapes_concept_names[b.best], b.iou, dx_dissect_iou(&B, c, c));
        sum += dx_dissect_iou(&L, c, c);
        base += dx_dissect_iou(&B, c, c);
    }
    cr_expect_gt(sum, GT_BASELINE_RATIO * base, "mean IoU with the class's shape %.4f, baseline %.4f",
                 sum / SHAPES_CLASSES, base / SHAPES_CLASSES);
    dx_dissect_free(&L);
    dx_dissect_free(&B);
    dx_close(m);
}

Test(dissect, generator_concepts_match_its_truth)
{
    /* the colour bins */
    const float colours[][3] = {{1, 0, 0}, {1, 1, 0}, {0, 1, 0}, {0, 1, 1}, {0, 0, 1}, {1, 0, 1}, {.5f, .5f, .6f},
                                {.9f, .2f, .15f}, {.2f, .3f, .9f}};
    const char *want[] = {"red", "yellow", "green", "cyan", "blue", "magenta", "grey", "red", "blue"};
    for (size_t k = 0; k < sizeof want / sizeof *want; ++k)
        cr_expect_str_eq(shapes_concept_names[shapes_colour_concept(colours[k])], want[k], "colour %zu", k);
    /* per pixel: the shape planes are the truth's shape, each object pixel has one colour (its object's),
     * the background none; striped only off the objects */
    for (int i = 0; i < 20; ++i) {
        unsigned char masks[SHAPES_CONCEPTS * 64 * 64], shape[64 * 64], stripe[64 * 64];
        dx_image im, im2;
        shapes_object objs[SHAPES_MAX_OBJECTS], objs2[SHAPES_MAX_OBJECTS];
        int n = shapes_draw_concepts(7, i, 64, 3, &im, objs, masks);
        cr_assert_eq(shapes_draw_truth(7, i, 64, 3, &im2, objs2, shape, stripe), n);
        for (int p = 0; p < 64 * 64; ++p) {
            int shapes = 0, colours = 0;
            for (int c = 0; c < SHAPES_CLASSES; ++c) shapes += masks[c * 64 * 64 + p] ? c + 1 : 0;
            for (int c = SHAPES_CLASSES; c < SHAPES_CONCEPTS - 1; ++c) colours += masks[c * 64 * 64 + p];
            cr_assert_eq(shapes, shape[p], "image %d pixel %d", i, p);
            cr_assert_eq(colours, shape[p] != 0, "image %d pixel %d: %d colours", i, p, colours);
            cr_assert_eq(masks[(SHAPES_CONCEPTS - 1) * 64 * 64 + p], stripe[p]);
        }
        for (int k = 0; k < n; ++k) { /* the object's colour is its concept at its box's pixels */
            int c = shapes_colour_concept(objs[k].rgb), x = (objs[k].x0 + objs[k].x1) / 2;
            int inside = 0;
            for (int y = objs[k].y0; y <= objs[k].y1; ++y) inside += masks[c * 64 * 64 + y * 64 + x];
            cr_expect_gt(inside, 0, "image %d object %d: no pixel of its colour %s", i, k, shapes_concept_names[c]);
        }
        dx_free_image(im);
        dx_free_image(im2);
    }
}

/* ---- the command ---- */

static char gen_dir[1024];

/* n generated one-object images (seed 2) and their masks in a fresh folder: DIR/val.list,
 * DIR/truth; returns DIR */
static const char *generated(int n)
{
    strcpy(gen_dir, "/tmp/dx-dissect-XXXXXX");
    cr_assert(mkdtemp(gen_dir));
    const char *cli = getenv("DX_CLI");
    cr_assert(cli, "DX_CLI is not set (run through make test)");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%.*s/gen-shapes %s val %d %d 64 1 -truth %s/truth", (int)(strrchr(cli, '/') - cli),
             cli, gen_dir, HELD_OUT_SEED, n, gen_dir);
    cr_assert_eq(system(cmd), 0, "%s failed", cmd);
    return gen_dir;
}

static void remove_generated(void)
{
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf %s", gen_dir);
    if (gen_dir[0]) cr_expect_eq(system(cmd), 0);
}

static int count_lines(const char *path)
{
    char *text = read_text(path);
    int n = 0;
    for (char *c = text; c && *c; ++c) n += *c == '\n';
    free(text);
    return n;
}

Test(dissect, command_writes_the_report, .fini = remove_generated)
{
    const char *dir = generated(60);
    char args[4096], path[1200];
    const char *root = getenv("DX_ROOT") ? getenv("DX_ROOT") : ".";
    snprintf(args, sizeof args,
             "dissect %s/cfg/shapes-classifier.cfg %s/cfg/shapes-classifier.weights -list val.list -masks truth "
             "-layer %d,16 -outdir out -top 3",
             root, root, CLASS_SCORES);
    run_result r = run_dx(dir, args);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    snprintf(path, sizeof path, "%s/out/dissect.csv", dir);
    cr_expect_eq(count_lines(path), 1 + SHAPES_CLASSES + 64, "dissect.csv: a header and one row per unit");
    char *csv = read_text(path);
    cr_assert(csv);
    for (int c = 0; c < SHAPES_CLASSES; ++c) {
        char row[64];
        snprintf(row, sizeof row, "\n%d,%d,%s,shape,", CLASS_SCORES, c, shapes_names[c]);
        cr_expect(strstr(csv, row), "no row '%s' in dissect.csv:\n%.600s", row + 1, csv);
    }
    free(csv);
    const char *files[] = {"dissect.json", "report.html", "L17_u0.png", "L17_u3.png", "L16_u63.png"};
    for (size_t k = 0; k < sizeof files / sizeof *files; ++k) {
        snprintf(path, sizeof path, "%s/out/%s", dir, files[k]);
        cr_expect(exists(path), "%s is missing", path);
    }
    snprintf(path, sizeof path, "%s/out/L17_u0.png", dir);
    int w, h, c;
    cr_expect(stbi_info(path, &w, &h, &c), "%s", path);
    cr_expect_eq(w, 3 * 96 + 2 * 2, "three 96-pixel thumbnails, 2 pixels apart: %d", w);
    snprintf(path, sizeof path, "%s/out/dissect.json", dir);
    char *json = read_text(path);
    cr_expect(json && strstr(json, "\"quantile\": 0.005"), "%.400s", json);
    free(json);
    /* -quantile is a double: a float written over one left the default in place */
    snprintf(args, sizeof args,
             "dissect %s/cfg/shapes-classifier.cfg %s/cfg/shapes-classifier.weights -list val.list -masks truth "
             "-layer %d -outdir out2 -top 1 -quantile 0.01",
             root, root, CLASS_SCORES);
    r = run_dx(dir, args);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    snprintf(path, sizeof path, "%s/out2/dissect.json", dir);
    json = read_text(path);
    cr_expect(json && strstr(json, "\"quantile\": 0.01,"), "%.400s", json);
    free(json);
}

/* unit's "label,category,iou" in a dissect.csv (static storage) */
static const char *csv_row(const char *path, int layer, int unit)
{
    static char row[256];
    char *csv = read_text(path), head[32];
    cr_assert(csv, "%s", path);
    snprintf(head, sizeof head, "\n%d,%d,", layer, unit);
    const char *at = strstr(csv, head);
    cr_assert(at, "%s: no row for unit %d", path, unit);
    at += strlen(head);
    const char *end = at;
    for (int commas = 0; *end && *end != '\n' && !(*end == ',' && ++commas == 3);) ++end;
    snprintf(row, sizeof row, "%.*s", (int)(end - at), at);
    free(csv);
    return row;
}

Test(dissect, square_boxes_are_square_masks, .fini = remove_generated)
{
    /* -boxes: a class's concept is its label boxes; a square fills its box exactly, so the square
     * unit's IoU with the square boxes is its IoU with the generator's square masks */
    const char *dir = generated(60);
    char args[4096], path[1200];
    const char *root = getenv("DX_ROOT") ? getenv("DX_ROOT") : ".";
    const char *runs[] = {"-masks truth -outdir masks", "-boxes %s/cfg/shapes.names -outdir boxes"};
    for (int k = 0; k < 2; ++k) {
        char source[1200];
        snprintf(source, sizeof source, runs[k], root);
        snprintf(args, sizeof args,
                 "dissect %s/cfg/shapes-classifier.cfg %s/cfg/shapes-classifier.weights -list val.list %s "
                 "-layer %d -top 1",
                 root, root, source, CLASS_SCORES);
        run_result r = run_dx(dir, args);
        cr_assert_eq(r.status, 0, "`%s`: exit %d: %s", args, r.status, r.err);
    }
    char masks_row[256];
    snprintf(path, sizeof path, "%s/masks/dissect.csv", dir);
    snprintf(masks_row, sizeof masks_row, "%s", csv_row(path, CLASS_SCORES, 1));
    cr_expect(!strncmp(masks_row, "square,shape,", 13), "%s", masks_row);
    snprintf(path, sizeof path, "%s/boxes/dissect.csv", dir);
    const char *boxes_row = csv_row(path, CLASS_SCORES, 1);
    cr_expect(!strncmp(boxes_row, "square,object,", 14), "%s", boxes_row);
    cr_expect_str_eq(strrchr(boxes_row, ',') + 1, strrchr(masks_row, ',') + 1, "square unit's IoU: boxes %s, masks %s",
                     boxes_row, masks_row);
}

/* run in dir: exit 1, one line that names `needle`, no output folder */
static void expect_refused(const char *dir, const char *args, const char *needle)
{
    run_result r = run_dx(dir, args);
    cr_expect_eq(r.status, 1, "`%s`: exit %d; stderr: %s", args, r.status, r.err);
    cr_expect_eq(r.err_lines, 1, "`%s`: %d lines: %s", args, r.err_lines, r.err);
    cr_expect(strstr(r.err, needle), "`%s`: '%s' does not name %s", args, r.err, needle);
    char out[1200];
    snprintf(out, sizeof out, "%s/out", dir);
    cr_expect(!exists(out), "`%s` left %s", args, out);
}

Test(dissect, bad_input_names_the_file, .fini = remove_generated)
{
    const char *dir = generated(3);
    char args[4096], path[1200];
    const char *root = getenv("DX_ROOT") ? getenv("DX_ROOT") : ".";
    snprintf(args, sizeof args,
             "dissect %s/cfg/shapes-classifier.cfg %s/cfg/shapes-classifier.weights -list val.list -masks truth "
             "-layer 17 -outdir out",
             root, root);
    /* usage errors: exit 2, one line */
    const char *usage[] = {"dissect a.cfg a.weights -list val.list -masks truth -outdir out",
                           "dissect a.cfg a.weights -list val.list -masks truth -layer 3,3 -outdir out",
                           "dissect a.cfg a.weights -list val.list -layer 3 -outdir out"};
    for (int k = 0; k < 3; ++k) {
        run_result r = run_dx(dir, usage[k]);
        cr_expect_eq(r.status, 2, "`%s`: exit %d: %s", usage[k], r.status, r.err);
        cr_expect_eq(r.err_lines, 1, "`%s`: %s", usage[k], r.err);
    }
    /* a missing mask PNG */
    snprintf(path, sizeof path, "%s/truth/00001_triangle/red.png", dir);
    cr_assert_eq(rename(path, "/tmp/dx-dissect-red.png"), 0);
    expect_refused(dir, args, "truth/00001_triangle/red.png");
    /* a mask of another size than its photo */
    dx_image small = dx_make_image(32, 32, 1);
    dx_error err;
    cr_assert_eq(dx_write_png(small, path, &err), 0);
    dx_free_image(small);
    unlink("/tmp/dx-dissect-red.png");
    expect_refused(dir, args, "truth/00001_triangle/red.png: the mask is 32x32");
    /* no concepts list */
    snprintf(path, sizeof path, "%s/truth/concepts.txt", dir);
    cr_assert_eq(unlink(path), 0);
    expect_refused(dir, args, "truth/concepts.txt");
    /* a layer the model does not have */
    write_text(path, "circle shape\n");
    snprintf(args, sizeof args,
             "dissect %s/cfg/shapes-classifier.cfg %s/cfg/shapes-classifier.weights -list val.list -masks truth "
             "-layer 40 -outdir out",
             root, root);
    expect_refused(dir, args, "-layer 40");
    /* -boxes: a label naming a class the names list lacks */
    char first[256]; /* the list's first photo's label file */
    snprintf(path, sizeof path, "%s/val.list", dir);
    read_text_into(path, first, sizeof first);
    cr_assert(strstr(first, ".png\n"), "%s", first);
    strcpy(strstr(first, ".png\n"), ".txt");
    snprintf(path, sizeof path, "%s/%s", dir, first);
    write_text(path, "7 0.5 0.5 0.2 0.2\n");
    char needle[300];
    snprintf(needle, sizeof needle, "%s:1: class 7", first);
    snprintf(args, sizeof args,
             "dissect %s/cfg/shapes-classifier.cfg %s/cfg/shapes-classifier.weights -list val.list -boxes "
             "%s/cfg/shapes.names -layer 17 -outdir out",
             root, root, root);
    expect_refused(dir, args, needle);
}

Test(dissect, tiny_darknet, .fini = remove_generated)
{
    const char *shared = shared_dir();
    if (!shared) cr_skip_test("../shared is absent: Tiny Darknet skipped");
    const char *dir = generated(8);
    char args[4096], path[1200];
    /* layer 7: 128 units, 28x28 maps at Tiny Darknet's 224x224 input */
    snprintf(args, sizeof args,
             "dissect %s/models/imagenet/tiny.cfg %s/models/imagenet/tiny.weights -list val.list -masks truth "
             "-layer 7 -outdir out -top 1",
             shared, shared);
    run_result r = run_dx(dir, args);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    snprintf(path, sizeof path, "%s/out/dissect.csv", dir);
    cr_expect_eq(count_lines(path), 1 + 128);
    snprintf(path, sizeof path, "%s/out/L7_u127.png", dir);
    cr_expect(exists(path), "%s", path);
}
