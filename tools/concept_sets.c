/* Concept sets from the shapes generator (see concept_sets.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "concept_sets.h"
#include "error.h"
#include "io/image.h"
#include "io/render.h"
#include "rng.h"
#include "shapes.h"

const char *const concept_set_names[CONCEPT_SETS] = {"shape-circle", "shape-square", "shape-triangle", "shape-cross",
                                                     "red", "striped", "large", "small", "control"};

int concept_set_class(int concept) { return concept < SHAPES_CLASSES ? concept : -1; }

/* The generator's object size is U(0.2, 0.45) x size: large and small take its top and bottom
 * fifths (by the drawn box's width). */
static int size_band(const shapes_object *o, int size)
{
    float w = (float)(o->x1 - o->x0 + 1) / size;
    return w >= 0.40f ? 1 : w <= 0.25f ? -1 : 0;
}

/* Does a drawn image with object o fit concept k? */
static int fits(int k, int size, const shapes_object *o)
{
    if (k < SHAPES_CLASSES) return o->cls == k;
    if (k == 6) return size_band(o, size) == 1;
    if (k == 7) return size_band(o, size) == -1;
    return 1;
}

/* red: the object's pixels a red of the object's own luminance (0.299 R + 0.587 G + 0.114 B),
 * so that only the hue changes, not the contrast with the background that the shape is seen by:
 * (L / 0.299, 0, 0) up to pure red, then (1, x, x); striped: stripes of amplitude 0.15 over the
 * background (the generator's own reach 0.12) */
void concept_set_edit(int k, dx_image im, const unsigned char *shape, const float rgb[3], dx_rng *r)
{
    int n = im.w * im.h;
    if (k == 4) {
        float lum = 0.299f * rgb[0] + 0.587f * rgb[1] + 0.114f * rgb[2], red[3];
        if (lum <= 0.299f) red[0] = lum / 0.299f, red[1] = red[2] = 0;
        else red[0] = 1, red[1] = red[2] = (lum - 0.299f) / 0.701f;
        for (int p = 0; p < n; ++p)
            if (shape[p])
                for (int c = 0; c < 3; ++c) im.data[c * n + p] = roundf(red[c] * 255) / 255;
    } else if (k == 5) {
        float theta = (float)(dx_rng_uniform(r) * M_PI), freq = 0.5f + 0.5f * (float)dx_rng_uniform(r);
        for (int y = 0; y < im.h; ++y)
            for (int x = 0; x < im.w; ++x) {
                if (shape[y * im.w + x]) continue;
                float s = 0.15f * sinf(freq * (x * cosf(theta) + y * sinf(theta)));
                for (int c = 0; c < 3; ++c) {
                    float *v = &im.data[c * n + y * im.w + x];
                    *v = roundf(fminf(1, fmaxf(0, *v + s)) * 255) / 255;
                }
            }
    }
}

static int make_dir(const char *path, dx_error *err)
{
    if (mkdir(path, 0777) == 0 || errno == EEXIST) return 0;
    dx_set_error(err, "%s: cannot create: %s", path, strerror(errno));
    return -1;
}

/* n images of set `name` (generator seed `set_seed`), those of concept k (k < 0: any; -2: the
 * four classes in turn, named by class) */
static int write_set(const char *dir, const char *name, unsigned long long set_seed, int k, int n, int size,
                     dx_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (make_dir(path, err) != 0) return -1;
    unsigned char *shape = malloc((size_t)size * size);
    if (!shape) return dx_set_error(err, "out of memory for the concept sets"), -1;
    dx_rng r;
    dx_rng_init(&r, set_seed);
    int rc = 0;
    for (int i = 0, index = 0; rc == 0 && i < n; ++index) {
        dx_image im;
        shapes_object o[SHAPES_MAX_OBJECTS];
        shapes_draw_truth(set_seed, index, size, 1, &im, o, shape, NULL);
        int want = k == -2 ? i % SHAPES_CLASSES : -1;
        if ((k >= 0 && !fits(k, size, &o[0])) || (want >= 0 && o[0].cls != want)) {
            dx_free_image(im);
            continue;
        }
        if (k >= 0) concept_set_edit(k, im, shape, o[0].rgb, &r);
        if (k == -2) snprintf(path, sizeof path, "%s/%s/%05d_%s.png", dir, name, i, shapes_names[o[0].cls]);
        else snprintf(path, sizeof path, "%s/%s/%05d.png", dir, name, i);
        rc = dx_write_png(im, path, err);
        dx_free_image(im);
        ++i;
    }
    free(shape);
    return rc;
}

int concept_sets_write(const char *dir, unsigned long long seed, int n_concept, int n_random, int n_images,
                       int size, dx_error *err)
{
    if (make_dir(dir, err) != 0) return -1;
    /* each set its own generator seed: no image is in two sets */
    for (int k = 0; k < CONCEPT_SETS; ++k)
        if (write_set(dir, concept_set_names[k], seed * 1000 + 10 + k, k, n_concept, size, err) != 0) return -1;
    if (write_set(dir, "random", seed * 1000 + 1, -1, n_random, size, err) != 0) return -1;
    return write_set(dir, "images", seed * 1000 + 2, -2, n_images, size, err);
}
