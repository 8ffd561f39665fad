/* benchmark-gt: every method of the registry scored against ground truth on generated images
 * (tools/shapes.c), where the evidence for the class is known to be the object's box.
 *
 *   benchmark-gt CFG WEIGHTS N SEED
 *
 * explains the true class of images 0..N-1 of the set SEED (64x64, one object each) with each
 * method and prints a markdown table: the pointing game (the map's maximum inside the box) and
 * the energy in the box (the share of the map's positive mass inside it), as means over the
 * images, beside a map of uniform noise (its pointing accuracy is the box's share of the image). */
#include <stdio.h>
#include <stdlib.h>
#include "internal.h"
#include "shapes.h"

#define SIZE 64

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: benchmark-gt CFG WEIGHTS N SEED\n");
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
    printf("%d generated images (seed %llu), the true class explained, %s\n\n", n, seed, argv[1]);
    printf("| method | pointing game | energy in box | ms per image |\n|---|---|---|---|\n");
    for (int k = 0; k < DX_METHOD_COUNT; ++k) {
        dx_request req;
        dx_request_init(&req);
        req.method = (dx_method)k;
        double hits = 0, energy = 0, ms = 0;
        int done = 0;
        for (int i = 0; i < n; ++i) {
            image im;
            shapes_object o;
            shapes_draw(seed, i, SIZE, 1, &im, &o);
            req.class_id = o.cls;
            dx_result res;
            int rc = dx_explain_image(m, im, &req, &res, &err);
            free_image(im);
            if (rc != 0) break;
            hits += shapes_pointing_hit(res.map, res.h, res.w, &o);
            energy += shapes_energy_in_box(res.map, res.h, res.w, &o);
            ms += res.ms_forward + res.ms_method; /* ms_method includes the backward */
            dx_result_free(&res);
            ++done;
        }
        if (done < n) printf("| %s | n/a: %s | | |\n", dx_method_name((dx_method)k), err.msg);
        else printf("| %s | %.3f | %.3f | %.2f |\n", dx_method_name((dx_method)k), hits / n, energy / n, ms / n);
        fflush(stdout);
    }
    dx_rng rng;
    dx_rng_init(&rng, seed);
    float *noise = malloc(sizeof(float) * SIZE * SIZE);
    double hits = 0, energy = 0;
    for (int i = 0; i < n; ++i) {
        image im;
        shapes_object o;
        shapes_draw(seed, i, SIZE, 1, &im, &o);
        free_image(im);
        for (int p = 0; p < SIZE * SIZE; ++p) noise[p] = (float)dx_rng_uniform(&rng);
        hits += shapes_pointing_hit(noise, SIZE, SIZE, &o);
        energy += shapes_energy_in_box(noise, SIZE, SIZE, &o);
    }
    printf("| *random map* | %.3f | %.3f | |\n", hits / n, energy / n);
    free(noise);
    dx_close(m);
    return 0;
}
