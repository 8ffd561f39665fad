/* gen-shapes: a synthetic data set with Darknet's labels, deterministic from a seed.
 *
 *   gen-shapes DIR SPLIT SEED N SIZE MAX_OBJECTS [ZOOM] [-truth TRUTH]
 *
 * writes DIR/SPLIT/NNNNN.png (SIZE x SIZE) with DIR/SPLIT/NNNNN.txt beside it (one Darknet
 * label "class cx cy w h" per object, relative), and DIR/SPLIT.list (the images, relative to
 * DIR). With MAX_OBJECTS 1 each image has one object and its class name is in the file name
 * (NNNNN_circle.png): Darknet's classifier finds an image's label as a substring of its path.
 * ZOOM > 1 writes each image ZOOM times larger, pixels repeated (for figures; the labels are
 * relative, so they hold).
 *
 * -truth TRUTH writes the generator's concept masks in dissect's mask format
 * (docs/dissect.md): TRUTH/concepts.txt (one "name category" a line, tools/shapes_concepts.h)
 * and, per image NNNNN[_class].png, TRUTH/NNNNN[_class]/<concept>.png (white where the concept
 * is, black elsewhere; zoomed as the image). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "io/image.h"
#include "io/render.h"
#include "shapes.h"
#include "shapes_concepts.h"

static int usage(void)
{
    fprintf(stderr, "usage: gen-shapes DIR SPLIT SEED N SIZE MAX_OBJECTS [ZOOM] [-truth TRUTH]\n");
    return 2;
}

/* im (size x size) with each pixel repeated zoom x zoom times; im itself when zoom is 1 */
static dx_image zoomed(dx_image im, int zoom)
{
    if (zoom == 1) return im;
    dx_image big = dx_make_image(im.w * zoom, im.h * zoom, im.c);
    for (int k = 0; k < im.c; ++k)
        for (int y = 0; y < big.h; ++y)
            for (int x = 0; x < big.w; ++x)
                big.data[(k * big.h + y) * big.w + x] = im.data[(k * im.h + y / zoom) * im.w + x / zoom];
    dx_free_image(im);
    return big;
}

/* TRUTH/concepts.txt; 0 or -1 (said) */
static int write_concepts(const char *truth)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/concepts.txt", truth);
    FILE *f = (mkdir(truth, 0755) && errno != EEXIST) ? NULL : fopen(path, "w");
    if (!f) {
        fprintf(stderr, "gen-shapes: cannot write %s\n", path);
        return -1;
    }
    for (int c = 0; c < SHAPES_CONCEPTS; ++c)
        fprintf(f, "%s %s\n", shapes_concept_names[c], shapes_concept_categories[c]);
    return fclose(f) == 0 ? 0 : -1;
}

/* TRUTH/<name of stem>/<concept>.png for each concept plane of masks (size x size); 0 or -1 (said) */
static int write_masks(const char *truth, const char *stem, const unsigned char *masks, int size, int zoom)
{
    char path[4096];
    const char *name = strrchr(stem, '/') ? strrchr(stem, '/') + 1 : stem;
    snprintf(path, sizeof path, "%s/%s", truth, name);
    if (mkdir(path, 0755) && errno != EEXIST) {
        fprintf(stderr, "gen-shapes: cannot create %s\n", path);
        return -1;
    }
    for (int c = 0; c < SHAPES_CONCEPTS; ++c) {
        dx_image m = dx_make_image(size, size, 1);
        for (int p = 0; p < size * size; ++p) m.data[p] = masks[(size_t)c * size * size + p];
        m = zoomed(m, zoom);
        dx_error err;
        snprintf(path, sizeof path, "%s/%s/%s.png", truth, name, shapes_concept_names[c]);
        int rc = dx_write_png(m, path, &err);
        dx_free_image(m);
        if (rc != 0) {
            fprintf(stderr, "gen-shapes: %s\n", err.msg);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *truth = NULL;
    if (argc >= 3 && !strcmp(argv[argc - 2], "-truth")) {
        truth = argv[argc - 1];
        argc -= 2;
    }
    if (argc != 7 && argc != 8) return usage();
    const char *dir = argv[1], *split = argv[2];
    unsigned long long seed = strtoull(argv[3], NULL, 10);
    int n = atoi(argv[4]), size = atoi(argv[5]), max_objects = atoi(argv[6]);
    int zoom = argc == 8 ? atoi(argv[7]) : 1;
    if (n < 1 || size < 16 || max_objects < 1 || max_objects > SHAPES_MAX_OBJECTS || zoom < 1 || zoom > 16)
        return usage();

    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, split);
    if ((mkdir(dir, 0755) && errno != EEXIST) || (mkdir(path, 0755) && errno != EEXIST)) {
        fprintf(stderr, "gen-shapes: cannot create %s\n", path);
        return 1;
    }
    if (truth && write_concepts(truth) != 0) return 1;
    snprintf(path, sizeof path, "%s/%s.list", dir, split);
    FILE *list = fopen(path, "w");
    if (!list) {
        fprintf(stderr, "gen-shapes: cannot write %s\n", path);
        return 1;
    }
    for (int i = 0; i < n; ++i) {
        dx_image im;
        shapes_object objs[SHAPES_MAX_OBJECTS];
        unsigned char *m = truth ? malloc((size_t)SHAPES_CONCEPTS * size * size) : NULL;
        int count = truth && m ? shapes_draw_concepts(seed, i, size, max_objects, &im, objs, m)
                               : shapes_draw(seed, i, size, max_objects, &im, objs);
        im = zoomed(im, zoom);
        char stem[256], line[128];
        if (max_objects == 1) snprintf(stem, sizeof stem, "%s/%05d_%s", split, i, shapes_names[objs[0].cls]);
        else snprintf(stem, sizeof stem, "%s/%05d", split, i);
        dx_error err;
        snprintf(path, sizeof path, "%s/%s.png", dir, stem);
        int failed = dx_write_png(im, path, &err) != 0;
        dx_free_image(im);
        if (!failed && truth && (!m || write_masks(truth, stem, m, size, zoom) != 0)) {
            if (!m) fprintf(stderr, "gen-shapes: out of memory for the masks\n");
            free(m);
            fclose(list);
            return 1;
        }
        free(m);
        snprintf(path, sizeof path, "%s/%s.txt", dir, stem);
        FILE *labels = failed ? NULL : fopen(path, "w");
        if (!labels) {
            fprintf(stderr, "gen-shapes: %s\n", failed ? err.msg : path);
            fclose(list);
            return 1;
        }
        for (int k = 0; k < count; ++k) {
            shapes_label(&objs[k], size, line, sizeof line);
            fprintf(labels, "%s\n", line);
        }
        fclose(labels);
        fprintf(list, "%s.png\n", stem);
    }
    fclose(list);
    return 0;
}
