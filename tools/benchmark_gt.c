/* benchmark-gt: every method of the registry scored against ground truth on generated images
 * (tools/shapes.c), where the evidence for the class is known to be the object's box.
 *
 *   benchmark-gt CFG WEIGHTS N SEED [NAME...]
 *
 * explains the true class of images 0..N-1 of the set SEED (64x64, one object each) with each
 * method (each row of rows(): the registry's methods with their defaults, then the variants
 * below; only the rows named NAME when given, e.g. deeplift) and prints a markdown table: the pointing game (the map's maximum inside the box) and
 * the energy in the box (the share of the map's positive mass inside it), as means over the
 * images, beside a map of uniform noise (its pointing accuracy is the box's share of the image).
 * For a detector the images hold 1..3 objects and the unit is a detection: every box found
 * above Darknet's default threshold is explained (its own target) and scored against the
 * ground-truth object of its class it overlaps most (IoU >= 0.5; unmatched boxes are counted,
 * not scored). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "io/image.h"
#include "rng.h"
#include "shapes.h"

#define SIZE 64

#define DETECTOR_OBJECTS 3

/* The rows besides the registry's methods at their defaults: a method with another option. */
static const struct {
    dx_method method;
    dx_deeplift_rule rule;
    const char *label;
} variants[] = {{DX_METHOD_DEEPLIFT, DX_DEEPLIFT_REVEALCANCEL, "deeplift -rule revealcancel"}};
#define ROWS (DX_METHOD_COUNT + (int)(sizeof variants / sizeof *variants))

/* Row k's request (the method's defaults, or a variant's) and its label. */
static const char *row_request(int k, dx_request *req)
{
    dx_request_init(req);
    if (k < DX_METHOD_COUNT) {
        req->method = (dx_method)k;
        return dx_method_name((dx_method)k);
    }
    req->method = variants[k - DX_METHOD_COUNT].method;
    req->deeplift_rule = variants[k - DX_METHOD_COUNT].rule;
    return variants[k - DX_METHOD_COUNT].label;
}

/* The rows named on the command line (all without names): by method name. */
static int row_wanted(int k, int argc, char **argv)
{
    dx_request req;
    row_request(k, &req);
    for (int a = 5; a < argc; ++a)
        if (!strcmp(argv[a], dx_method_name(req.method))) return 1;
    return argc <= 5;
}

/* IoU of a detection (photo pixels, top-left corner) with an object's inclusive pixel box */
static float overlap(const dx_detection *d, const shapes_object *o)
{
    float ox = o->x0, oy = o->y0, ow = o->x1 - o->x0 + 1, oh = o->y1 - o->y0 + 1;
    float iw = fminf(d->x + d->w, ox + ow) - fmaxf(d->x, ox), ih = fminf(d->y + d->h, oy + oh) - fmaxf(d->y, oy);
    if (iw <= 0 || ih <= 0) return 0;
    return iw * ih / (d->w * d->h + ow * oh - iw * ih);
}

/* Per detection: each method over every box of images 0..n-1, scored against its object. The
 * uniform-noise row draws one map per scored detection. */
static void detector_table(dx_model *m, int n, unsigned long long seed, int argc, char **argv)
{
    printf("%d generated images (seed %llu, 1-%d objects each), every detected box explained\n\n", n, seed,
           DETECTOR_OBJECTS);
    printf("| method | detections scored | pointing game | energy in box | ms per image |\n|---|---|---|---|---|\n");
    dx_rng rng;
    dx_rng_init(&rng, seed);
    double noise_hits = 0, noise_energy = 0;
    int noise_scored = 0, noise_done = 0;
    for (int k = 0; k < ROWS; ++k) {
        if (!row_wanted(k, argc, argv)) continue;
        dx_request req;
        const char *label = row_request(k, &req);
        req.box = DX_ALL_BOXES;
        double hits = 0, energy = 0, ms = 0;
        int scored = 0, found = 0, i = 0;
        dx_error err;
        for (; i < n; ++i) {
            dx_image im;
            shapes_object objs[SHAPES_MAX_OBJECTS];
            int count = shapes_draw(seed, i, SIZE, DETECTOR_OBJECTS, &im, objs);
            dx_box_explanations e;
            int rc = dx_explain_boxes(m, im, &req, &e, &err);
            dx_free_image(im);
            if (rc != 0) break;
            for (int b = 0; b < e.n; ++b) {
                const dx_result *r = &e.results[b];
                ++found;
                ms += r->ms_method + (b == 0 ? r->ms_forward : 0);
                const shapes_object *best = NULL;
                float best_iou = .5f;
                for (int o = 0; o < count; ++o)
                    if (objs[o].cls == r->box.cls && overlap(&r->box, &objs[o]) >= best_iou) {
                        best_iou = overlap(&r->box, &objs[o]);
                        best = &objs[o];
                    }
                if (!best) continue;
                ++scored;
                hits += shapes_pointing_hit(r->map, r->h, r->w, best);
                energy += shapes_energy_in_box(r->map, r->h, r->w, best);
                if (!noise_done) { /* the noise baseline, on the first row's detections */
                    float noise[SIZE * SIZE];
                    for (int p = 0; p < SIZE * SIZE; ++p) noise[p] = (float)dx_rng_uniform(&rng);
                    noise_hits += shapes_pointing_hit(noise, SIZE, SIZE, best);
                    noise_energy += shapes_energy_in_box(noise, SIZE, SIZE, best);
                    ++noise_scored;
                }
            }
            dx_box_explanations_free(&e);
        }
        noise_done = 1;
        if (i < n) printf("| %s | n/a: %s | | | |\n", label, err.msg);
        else printf("| %s | %d of %d | %.3f | %.3f | %.2f |\n", label, scored, found,
                    scored ? hits / scored : 0, scored ? energy / scored : 0, ms / n);
        fflush(stdout);
    }
    printf("| *random map* | %d | %.3f | %.3f | |\n", noise_scored, noise_scored ? noise_hits / noise_scored : 0,
           noise_scored ? noise_energy / noise_scored : 0);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: benchmark-gt CFG WEIGHTS N SEED [NAME...]\n");
        return 2;
    }
    int n = atoi(argv[3]);
    unsigned long long seed = strtoull(argv[4], NULL, 10);
    dx_error err;
    dx_model *m = dx_open(argv[1], argv[2], NULL, &err);
    if (!m || n < 1) {
        fprintf(stderr, "benchmark-gt: %s\n", m ? "N must be positive" : err.msg);
        return 1;
    }
    if (dx_is_detector(m)) {
        detector_table(m, n, seed, argc, argv);
        dx_close(m);
        return 0;
    }
    printf("%d generated images (seed %llu), the true class explained, %s\n\n", n, seed, argv[1]);
    printf("| method | pointing game | energy in box | ms per image |\n|---|---|---|---|\n");
    for (int k = 0; k < ROWS; ++k) {
        if (!row_wanted(k, argc, argv)) continue;
        dx_request req;
        const char *label = row_request(k, &req);
        double hits = 0, energy = 0, ms = 0;
        int done = 0;
        for (int i = 0; i < n; ++i) {
            dx_image im;
            shapes_object o;
            shapes_draw(seed, i, SIZE, 1, &im, &o);
            req.class_id = o.cls;
            dx_result res;
            int rc = dx_explain_image(m, im, &req, &res, &err);
            dx_free_image(im);
            if (rc != 0) break;
            hits += shapes_pointing_hit(res.map, res.h, res.w, &o);
            energy += shapes_energy_in_box(res.map, res.h, res.w, &o);
            ms += res.ms_forward + res.ms_method; /* ms_method includes the backward */
            dx_result_free(&res);
            ++done;
        }
        if (done < n) printf("| %s | n/a: %s | | |\n", label, err.msg);
        else printf("| %s | %.3f | %.3f | %.2f |\n", label, hits / n, energy / n, ms / n);
        fflush(stdout);
    }
    dx_rng rng;
    dx_rng_init(&rng, seed);
    float *noise = malloc(sizeof(float) * SIZE * SIZE);
    double hits = 0, energy = 0;
    for (int i = 0; i < n; ++i) {
        dx_image im;
        shapes_object o;
        shapes_draw(seed, i, SIZE, 1, &im, &o);
        dx_free_image(im);
        for (int p = 0; p < SIZE * SIZE; ++p) noise[p] = (float)dx_rng_uniform(&rng);
        hits += shapes_pointing_hit(noise, SIZE, SIZE, &o);
        energy += shapes_energy_in_box(noise, SIZE, SIZE, &o);
    }
    printf("| *random map* | %.3f | %.3f | |\n", hits / n, energy / n);
    free(noise);
    dx_close(m);
    return 0;
}
