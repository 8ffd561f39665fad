/* gen-shapes: a synthetic data set with Darknet's labels, deterministic from a seed.
 *
 *   gen-shapes DIR SPLIT SEED N SIZE MAX_OBJECTS [ZOOM]
 *
 * writes DIR/SPLIT/NNNNN.png (SIZE x SIZE) with DIR/SPLIT/NNNNN.txt beside it (one Darknet
 * label "class cx cy w h" per object, relative), and DIR/SPLIT.list (the images, relative to
 * DIR). With MAX_OBJECTS 1 each image has one object and its class name is in the file name
 * (NNNNN_circle.png): Darknet's classifier finds an image's label as a substring of its path.
 * ZOOM > 1 writes each image ZOOM times larger, pixels repeated (for figures; the labels are
 * relative, so they hold). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include "io/image.h"
#include "io/render.h"
#include "shapes.h"

static int usage(void)
{
    fprintf(stderr, "usage: gen-shapes DIR SPLIT SEED N SIZE MAX_OBJECTS [ZOOM]\n");
    return 2;
}

int main(int argc, char **argv)
{
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
    snprintf(path, sizeof path, "%s/%s.list", dir, split);
    FILE *list = fopen(path, "w");
    if (!list) {
        fprintf(stderr, "gen-shapes: cannot write %s\n", path);
        return 1;
    }
    for (int i = 0; i < n; ++i) {
        dx_image im;
        shapes_object objs[SHAPES_MAX_OBJECTS];
        int count = shapes_draw(seed, i, size, max_objects, &im, objs);
        if (zoom > 1) {
            dx_image big = dx_make_image(size * zoom, size * zoom, 3);
            for (int k = 0; k < 3; ++k)
                for (int y = 0; y < big.h; ++y)
                    for (int x = 0; x < big.w; ++x)
                        big.data[(k * big.h + y) * big.w + x] = im.data[(k * size + y / zoom) * size + x / zoom];
            dx_free_image(im);
            im = big;
        }
        char stem[256], line[128];
        if (max_objects == 1) snprintf(stem, sizeof stem, "%s/%05d_%s", split, i, shapes_names[objs[0].cls]);
        else snprintf(stem, sizeof stem, "%s/%05d", split, i);
        dx_error err;
        snprintf(path, sizeof path, "%s/%s.png", dir, stem);
        int failed = dx_write_png(im, path, &err) != 0;
        dx_free_image(im);
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
