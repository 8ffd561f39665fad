/* The embedded models and the ground-truth benchmark (tools/shapes.c, cfg/shapes-*): the
 * generator is deterministic and its labels say where the objects are; the committed models
 * reach their stated accuracy on held-out generated images; Grad-CAM points at the object far
 * more often than a random map. Everything here comes from the repository itself. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>
#include "../tools/shapes.h"
#include "helpers.h"
#include "io/image.h"
#include "rng.h"

/* The held-out splits of `make models` (tools/train-models.sh): seed 2 classifier, 4 detector. */
#define CLS_SEED 2
#define DET_SEED 4
#define CLS_TOP1_FLOOR 0.85      /* measured with the committed weights: 0.923 */
#define DET_RECALL_FLOOR 0.85     /* measured: 0.938 (270 of 288 objects) */
#define DET_PRECISION_FLOOR 0.90  /* measured: 0.989 */
#define GRADCAM_POINTING_FLOOR 0.90 /* measured: 0.987; the random map: 0.110 */
#define POINTING_MARGIN 0.50     /* Grad-CAM minus the random map's pointing accuracy */

static void project_path(const char *rel, char *out, size_t len)
{
    const char *root = getenv("DX_ROOT");
    snprintf(out, len, "%s/%s", root ? root : ".", rel);
}

/* gen-shapes sits beside the CLI in the build folder */
static void run_gen(const char *dir, const char *split, int seed, int n, int size, int objects)
{
    const char *cli = getenv("DX_CLI");
    cr_assert(cli, "DX_CLI is not set (run through make test)");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%.*s/gen-shapes %s %s %d %d %d %d", (int)(strrchr(cli, '/') - cli), cli,
             dir, split, seed, n, size, objects);
    cr_assert_eq(system(cmd), 0, "%s failed", cmd);
}

static long slurp(const char *path, char **data)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    *data = malloc(n + 1);
    cr_assert_eq(fread(*data, 1, n, f), (size_t)n);
    (*data)[n] = 0;
    fclose(f);
    return n;
}

/* Is file rel the same bytes in dirs a and b? */
static int same_file(const char *a, const char *b, const char *rel)
{
    char pa[1024], pb[1024], *da, *db;
    snprintf(pa, sizeof pa, "%s/%s", a, rel);
    snprintf(pb, sizeof pb, "%s/%s", b, rel);
    long na = slurp(pa, &da), nb = slurp(pb, &db);
    int same = na == nb && !memcmp(da, db, na);
    free(da);
    free(db);
    return same;
}

Test(shapes, generator_is_deterministic)
{
    char a[64], b[64], c[64];
    snprintf(a, sizeof a, "%s", temp_dir());
    snprintf(b, sizeof b, "%s", temp_dir());
    snprintf(c, sizeof c, "%s", temp_dir());
    run_gen(a, "det", 7, 6, 96, 3);
    run_gen(b, "det", 7, 6, 96, 3);
    run_gen(c, "det", 8, 6, 96, 3);
    cr_assert(same_file(a, b, "det.list"));
    int differ = 0;
    for (int i = 0; i < 6; ++i) {
        char rel[64];
        snprintf(rel, sizeof rel, "det/%05d.png", i);
        cr_assert(same_file(a, b, rel), "%s differs between two runs with seed 7", rel);
        differ += !same_file(a, c, rel);
        snprintf(rel, sizeof rel, "det/%05d.txt", i);
        cr_assert(same_file(a, b, rel), "%s differs between two runs with seed 7", rel);
    }
    cr_assert_eq(differ, 6, "seed 8 repeats %d of seed 7's images", 6 - differ);
}

static int same_colour(dx_image im, int x, int y, const float c[3])
{
    for (int k = 0; k < 3; ++k)
        if (fabsf(im.data[(k * im.h + y) * im.w + x] - c[k]) > 0.5f / 255) return 0;
    return 1;
}

/* The object region: pixels 4-connected to (x, y) of its colour; returns its size and box. */
static int flood(dx_image im, int x, int y, const float c[3], unsigned char *seen, int box[4])
{
    int *stack = malloc(sizeof(int) * im.w * im.h), top = 0, count = 0;
    stack[top++] = y * im.w + x;
    seen[y * im.w + x] = 1;
    box[0] = box[2] = x, box[1] = box[3] = y;
    while (top) {
        int p = stack[--top], px = p % im.w, py = p / im.w;
        ++count;
        if (px < box[0]) box[0] = px;
        if (px > box[2]) box[2] = px;
        if (py < box[1]) box[1] = py;
        if (py > box[3]) box[3] = py;
        const int nx[4] = {px - 1, px + 1, px, px}, ny[4] = {py, py, py - 1, py + 1};
        for (int k = 0; k < 4; ++k)
            if (nx[k] >= 0 && ny[k] >= 0 && nx[k] < im.w && ny[k] < im.h && !seen[ny[k] * im.w + nx[k]] &&
                same_colour(im, nx[k], ny[k], c)) {
                seen[ny[k] * im.w + nx[k]] = 1;
                stack[top++] = ny[k] * im.w + nx[k];
            }
    }
    free(stack);
    return count;
}

/* Each label line, read back from the files: at its box's centre a flat-coloured region whose
 * bounding box is exactly the label's box, shaped as its class says (fill ratio and corners). */
static void check_labels(const char *dir, const char *list_name, int size)
{
    char path[1024], *list;
    snprintf(path, sizeof path, "%s/%s", dir, list_name);
    slurp(path, &list);
    int objects = 0, per_class[SHAPES_CLASSES] = {0};
    for (char *line = strtok(list, "\n"); line; line = strtok(NULL, "\n")) {
        dx_image im;
        dx_error err;
        snprintf(path, sizeof path, "%s/%s", dir, line);
        cr_assert_eq(dx_load_photo(path, &im, &err), 0, "%s", err.msg);
        cr_assert(im.w == size && im.h == size);
        strcpy(path + strlen(path) - 3, "txt");
        FILE *f = fopen(path, "r");
        cr_assert(f, "no label file %s", path);
        int cls;
        float cx, cy, bw, bh;
        unsigned char *seen = calloc(size * size, 1);
        while (fscanf(f, "%d %f %f %f %f", &cls, &cx, &cy, &bw, &bh) == 5) {
            cr_assert(cls >= 0 && cls < SHAPES_CLASSES);
            if (strstr(line, "_")) cr_assert(strstr(line, shapes_names[cls]), "%s: label says %s", line, shapes_names[cls]);
            int x0 = (int)lroundf((cx - bw / 2) * size), x1 = (int)lroundf((cx + bw / 2) * size) - 1;
            int y0 = (int)lroundf((cy - bh / 2) * size), y1 = (int)lroundf((cy + bh / 2) * size) - 1;
            int mx = (x0 + x1) / 2, my = (y0 + y1) / 2, box[4];
            float c[3];
            for (int k = 0; k < 3; ++k) c[k] = im.data[(k * size + my) * size + mx];
            int area = flood(im, mx, my, c, seen, box);
            cr_assert(box[0] == x0 && box[1] == y0 && box[2] == x1 && box[3] == y1,
                      "%s: the object at the centre spans %d,%d-%d,%d, the label %d,%d-%d,%d", line, box[0],
                      box[1], box[2], box[3], x0, y0, x1, y1);
            double fill = (double)area / ((x1 - x0 + 1) * (y1 - y0 + 1));
            int corner_tl = same_colour(im, x0, y0, c) && seen[y0 * size + x0];
            int corner_bl = same_colour(im, x0, y1, c) && seen[y1 * size + x0];
            int mid_left = seen[my * size + x0];
            switch (cls) {
            case 0: cr_assert(fill > 0.7 && fill < 0.86 && !corner_tl, "%s: not a circle (fill %.2f)", line, fill); break;
            case 1: cr_assert(fill > 0.97 && corner_tl && corner_bl, "%s: not a square (fill %.2f)", line, fill); break;
            case 2: cr_assert(fill > 0.4 && fill < 0.62 && !corner_tl && corner_bl, "%s: not a triangle (fill %.2f)", line, fill); break;
            default: cr_assert(fill > 0.45 && fill < 0.65 && !corner_tl && !corner_bl && mid_left, "%s: not a cross (fill %.2f)", line, fill);
            }
            ++objects, ++per_class[cls];
        }
        fclose(f);
        free(seen);
        dx_free_image(im);
    }
    free(list);
    for (int k = 0; k < SHAPES_CLASSES; ++k) cr_assert(per_class[k] > 0, "no %s among %d objects", shapes_names[k], objects);
}

Test(shapes, labels_are_where_the_objects_are)
{
    char dir[64];
    snprintf(dir, sizeof dir, "%s", temp_dir());
    run_gen(dir, "cls", 11, 24, 64, 1);
    run_gen(dir, "det", 12, 16, 96, 3);
    check_labels(dir, "cls.list", 64);
    check_labels(dir, "det.list", 96);
}

static dx_model *open_shapes(const char *which)
{
    char rel[256], cfg[1024], weights[1024], names[1024];
    snprintf(rel, sizeof rel, "cfg/shapes-%s.cfg", which);
    project_path(rel, cfg, sizeof cfg);
    snprintf(rel, sizeof rel, "cfg/shapes-%s.weights", which);
    project_path(rel, weights, sizeof weights);
    project_path("cfg/shapes.names", names, sizeof names);
    dx_open_options opt = {.names = names};
    dx_error err;
    dx_model *m = dx_open(cfg, weights, &opt, &err);
    cr_assert(m, "%s", err.msg);
    return m;
}

#define CLS_IMAGES 300

Test(shapes, classifier_top1_on_held_out_images)
{
    dx_model *m = open_shapes("classifier");
    dx_request req;
    dx_request_init(&req);
    int correct = 0;
    for (int i = 0; i < CLS_IMAGES; ++i) {
        dx_image im;
        shapes_object o;
        shapes_draw(CLS_SEED, i, 64, 1, &im, &o);
        dx_result res;
        dx_error err;
        cr_assert_eq(dx_explain_image(m, im, &req, &res, &err), 0, "%s", err.msg);
        correct += res.top[0].cls == o.cls;
        dx_result_free(&res);
        dx_free_image(im);
    }
    double top1 = (double)correct / CLS_IMAGES;
    cr_log_info("shapes classifier: top-1 %.3f on %d held-out images (floor %.2f)", top1, CLS_IMAGES, CLS_TOP1_FLOOR);
    cr_assert(top1 >= CLS_TOP1_FLOOR, "top-1 %.3f < %.2f", top1, CLS_TOP1_FLOOR);
    dx_close(m);
}

/* Grad-CAM of the true class against a map of uniform noise (its maximum is a uniformly random
 * pixel): pointing game over the same images. */
Test(shapes, gradcam_points_at_the_object)
{
    dx_model *m = open_shapes("classifier");
    dx_request req;
    dx_request_init(&req);
    dx_rng rng;
    dx_rng_init(&rng, 1);
    int hits = 0, random_hits = 0;
    float *noise = malloc(sizeof(float) * 64 * 64);
    for (int i = 0; i < CLS_IMAGES; ++i) {
        dx_image im;
        shapes_object o;
        shapes_draw(CLS_SEED, i, 64, 1, &im, &o);
        req.class_id = o.cls;
        dx_result res;
        dx_error err;
        cr_assert_eq(dx_explain_image(m, im, &req, &res, &err), 0, "%s", err.msg);
        cr_assert(res.h == 64 && res.w == 64);
        hits += shapes_pointing_hit(res.map, res.h, res.w, &o);
        for (int k = 0; k < 64 * 64; ++k) noise[k] = (float)dx_rng_uniform(&rng);
        random_hits += shapes_pointing_hit(noise, 64, 64, &o);
        dx_result_free(&res);
        dx_free_image(im);
    }
    free(noise);
    double acc = (double)hits / CLS_IMAGES, random_acc = (double)random_hits / CLS_IMAGES;
    cr_log_info("pointing game on %d images: Grad-CAM %.3f (floor %.2f), random map %.3f", CLS_IMAGES, acc,
                GRADCAM_POINTING_FLOOR, random_acc);
    cr_assert(acc >= GRADCAM_POINTING_FLOOR, "Grad-CAM pointing %.3f < %.2f", acc, GRADCAM_POINTING_FLOOR);
    cr_assert(acc >= random_acc + POINTING_MARGIN, "Grad-CAM %.3f is not %.2f above the random map's %.3f", acc,
              POINTING_MARGIN, random_acc);
    dx_close(m);
}

static float iou(box a, box b)
{
    float w = fminf(a.x + a.w / 2, b.x + b.w / 2) - fmaxf(a.x - a.w / 2, b.x - b.w / 2);
    float h = fminf(a.y + a.h / 2, b.y + b.h / 2) - fmaxf(a.y - a.h / 2, b.y - b.h / 2);
    if (w <= 0 || h <= 0) return 0;
    return w * h / (a.w * a.h + b.w * b.h - w * h);
}

#define DET_IMAGES 150
#define DET_THRESH 0.5f

/* Darknet's own post-processing (get_network_boxes + do_nms_sort, as `detector test` does); a
 * detection is a (box, class) with probability >= DET_THRESH; it matches an unmatched object
 * of its class at IoU >= 0.5. */
Test(shapes, detector_recall_and_precision_on_held_out_images)
{
    dx_model *m = open_shapes("detector");
    network *net = dx_network(m);
    int objects = 0, found = 0, detections = 0, right = 0;
    for (int i = 0; i < DET_IMAGES; ++i) {
        dx_image im;
        shapes_object objs[SHAPES_MAX_OBJECTS];
        int n = shapes_draw(DET_SEED, i, 64, 3, &im, objs);
        cr_assert(net->w == 64 && net->h == 64);
        network_predict(net, im.data);
        int nboxes = 0;
        detection *dets = get_network_boxes(net, 64, 64, DET_THRESH, 0.5f, 0, 1, &nboxes);
        do_nms_sort(dets, nboxes, SHAPES_CLASSES, 0.45f);
        int matched[SHAPES_MAX_OBJECTS] = {0};
        for (int d = 0; d < nboxes; ++d)
            for (int c = 0; c < SHAPES_CLASSES; ++c) {
                if (dets[d].prob[c] < DET_THRESH) continue;
                ++detections;
                for (int k = 0; k < n; ++k) {
                    const shapes_object *o = &objs[k];
                    box truth = {(o->x0 + o->x1 + 1) / 2.0f / 64, (o->y0 + o->y1 + 1) / 2.0f / 64,
                                 (o->x1 - o->x0 + 1) / 64.0f, (o->y1 - o->y0 + 1) / 64.0f};
                    if (!matched[k] && o->cls == c && iou(dets[d].bbox, truth) >= 0.5f) {
                        matched[k] = 1;
                        ++right;
                        break;
                    }
                }
            }
        for (int k = 0; k < n; ++k) found += matched[k];
        objects += n;
        free_detections(dets, nboxes);
        dx_free_image(im);
    }
    double recall = (double)found / objects, precision = detections ? (double)right / detections : 0;
    cr_log_info("shapes detector at IoU .5, p >= %.1f: recall %.3f (%d/%d), precision %.3f (%d/%d)", DET_THRESH,
                recall, found, objects, precision, right, detections);
    cr_assert(recall >= DET_RECALL_FLOOR, "recall %.3f < %.2f", recall, DET_RECALL_FLOOR);
    cr_assert(precision >= DET_PRECISION_FLOOR, "precision %.3f < %.2f", precision, DET_PRECISION_FLOOR);
    dx_close(m);
}

/* The perturbation methods score every box of a photo on each perturbed forward: each box's map
 * equals the map of that box explained alone, and says it shared the forwards. */
Test(shapes, perturbation_methods_score_all_boxes_together)
{
    dx_model *m = open_shapes("detector");
    dx_image im = {0};
    dx_detection *boxes = NULL;
    int n = 0, index = 0;
    dx_request req;
    dx_request_init(&req);
    dx_error err;
    for (; index < 20 && n < 2; ++index) { /* the first held-out image with two detections */
        shapes_object objs[SHAPES_MAX_OBJECTS];
        if (im.data) dx_free_image(im);
        free(boxes);
        shapes_draw(DET_SEED, index, 64, 3, &im, objs);
        cr_assert_eq(dx_detect_image(m, im, &req, &boxes, &n, &err), 0, "%s", err.msg);
    }
    cr_assert_geq(n, 2, "no image with two detections among the first 20");
    const dx_method methods[] = {DX_METHOD_OCCLUSION, DX_METHOD_RISE, DX_METHOD_LIME, DX_METHOD_KERNELSHAP,
                                 DX_METHOD_DRISE};
    for (int k = 0; k < 5; ++k) {
        req.method = methods[k];
        req.window = 12;
        req.stride = 6;
        req.masks = 60;
        req.samples = 80;
        req.segments = 12;
        req.box = DX_ALL_BOXES;
        dx_box_explanations all;
        cr_assert_eq(dx_explain_boxes(m, im, &req, &all, &err), 0, "%s", err.msg);
        cr_assert_eq(all.n, n);
        for (int b = 0; b < n; ++b) {
            const dx_result *r = &all.results[b];
            double shared = 0;
            for (int s = 0; s < r->n_stats; ++s)
                if (!strcmp(r->stats[s].name, "targets_per_forward")) shared = r->stats[s].value;
            cr_expect_eq(shared, n, "%s box %d: scored with %g targets per forward, not %d",
                         dx_method_name(methods[k]), b, shared, n);
        }
        expect_each_box_alone(m, im, &req, &all);
        dx_box_explanations_free(&all);
    }
    cr_log_info("image %d: %d boxes, five perturbation methods: all boxes together = each alone", index - 1, n);
    free(boxes);
    dx_free_image(im);
    dx_close(m);
}

/* shapes_draw_truth: the same image and objects as shapes_draw; every pixel marked as an
 * object's is inside that object's box and has its colour (8-bit rounded), the object's box is
 * exactly the marked pixels' extent, and stripes are marked on the background only. */
Test(shapes, per_pixel_truth_matches_the_image)
{
    enum { S = 96 };
    static unsigned char shape[S * S], stripe[S * S];
    for (int index = 0; index < 20; ++index) {
        shapes_object a[SHAPES_MAX_OBJECTS], b[SHAPES_MAX_OBJECTS];
        dx_image plain, im;
        int n = shapes_draw(9, index, S, 3, &plain, a);
        cr_assert_eq(shapes_draw_truth(9, index, S, 3, &im, b, shape, stripe), n);
        cr_assert(!memcmp(plain.data, im.data, sizeof(float) * S * S * 3), "image %d differs", index);
        long striped = 0;
        for (int i = 0; i < n; ++i) {
            int x0 = S, y0 = S, x1 = -1, y1 = -1;
            float c[3];
            for (int k = 0; k < 3; ++k) c[k] = roundf(b[i].rgb[k] * 255) / 255;
            for (int p = 0; p < S * S; ++p) {
                if (shape[p] != 1 + b[i].cls) continue;
                int x = p % S, y = p / S;
                if (x < b[i].x0 || x > b[i].x1 || y < b[i].y0 || y > b[i].y1) continue; /* another object of the class */
                cr_assert(same_colour(im, x, y, c), "image %d pixel %d,%d", index, x, y);
                x0 = x < x0 ? x : x0, x1 = x > x1 ? x : x1, y0 = y < y0 ? y : y0, y1 = y > y1 ? y : y1;
            }
            cr_assert(x0 == b[i].x0 && x1 == b[i].x1 && y0 == b[i].y0 && y1 == b[i].y1, "image %d object %d", index, i);
        }
        for (int p = 0; p < S * S; ++p) {
            cr_assert(!(shape[p] && stripe[p]), "image %d pixel %d is an object's and striped", index, p);
            cr_assert(shape[p] <= SHAPES_CLASSES);
            striped += stripe[p];
        }
        cr_assert(striped > S * S / 10 && striped < S * S, "image %d: %ld striped pixels", index, striped);
        dx_free_image(plain);
        dx_free_image(im);
    }
}
