/* The shapes images and their true concept features (shape_features.h). */
#include <stdio.h>
#include <stdlib.h>
#include "io/image.h"
#include "io/render.h"
#include "shape_features.h"
#include "shapes.h"

const char *const shape_feature_names[SHAPE_FEATURES] = {"circle", "square", "triangle", "cross", "r",
                                                         "g",      "b",      "stripes",  "size"};

static void features_of(unsigned long long seed, int i, int size, dx_image *im, shapes_object *o, float *f)
{
    unsigned char *shape = malloc((size_t)size * size), *stripe = malloc((size_t)size * size);
    if (!shape || !stripe) {
        fprintf(stderr, "shape_features: out of memory\n");
        exit(1);
    }
    shapes_draw_truth(seed, i, size, 1, im, o, shape, stripe);
    int background = 0, striped = 0;
    for (int p = 0; p < size * size; ++p) {
        background += shape[p] == 0;
        striped += stripe[p] != 0;
    }
    for (int c = 0; c < SHAPES_CLASSES; ++c) f[c] = o->cls == c;
    for (int k = 0; k < 3; ++k) f[4 + k] = o->rgb[k];
    f[7] = background ? (float)striped / background : 0;
    f[8] = (float)(o->y1 - o->y0 + 1) / size;
    free(shape);
    free(stripe);
}

int shape_features_write(const char *dir, unsigned long long seed, int n, int size, const unsigned *columns,
                         const char *const *names, int n_csv)
{
    char path[4096];
    FILE *csv[8], *list;
    if (n_csv > 8) return -1;
    snprintf(path, sizeof path, "%s/shapes.list", dir);
    if (!(list = fopen(path, "w"))) {
        fprintf(stderr, "shape_features: cannot write %s\n", path);
        return -1;
    }
    for (int j = 0; j < n_csv; ++j) {
        snprintf(path, sizeof path, "%s/%s.csv", dir, names[j]);
        if (!(csv[j] = fopen(path, "w"))) {
            fprintf(stderr, "shape_features: cannot write %s\n", path);
            return -1;
        }
        fprintf(csv[j], "image");
        for (int k = 0; k < SHAPE_FEATURES; ++k)
            if (columns[j] >> k & 1) fprintf(csv[j], ",%s", shape_feature_names[k]);
        fprintf(csv[j], "\n");
    }
    int rc = 0;
    for (int i = 0; i < n && rc == 0; ++i) {
        dx_image im;
        shapes_object o;
        float f[SHAPE_FEATURES];
        features_of(seed, i, size, &im, &o, f);
        char name[64];
        snprintf(name, sizeof name, "%05d_%s.png", i, shapes_names[o.cls]);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        dx_error err;
        if (dx_write_png(im, path, &err) != 0) {
            fprintf(stderr, "shape_features: %s\n", err.msg);
            rc = -1;
        }
        dx_free_image(im);
        fprintf(list, "%s\n", path);
        for (int j = 0; j < n_csv; ++j) {
            fprintf(csv[j], "%s", path);
            for (int k = 0; k < SHAPE_FEATURES; ++k)
                if (columns[j] >> k & 1) fprintf(csv[j], ",%.6g", f[k]);
            fprintf(csv[j], "\n");
        }
    }
    for (int j = 0; j < n_csv; ++j) rc |= fclose(csv[j]) != 0 ? -1 : 0;
    rc |= fclose(list) != 0 ? -1 : 0;
    return rc;
}
