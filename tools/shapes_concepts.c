/* The generator's concepts per pixel (shapes_concepts.h), from shapes_draw_truth. */
#include <stdlib.h>
#include <string.h>
#include "engine.h"
#include "error.h"
#include "model.h"
#include "shapes_concepts.h"

const char *const shapes_concept_names[SHAPES_CONCEPTS] = {
    "circle", "square", "triangle", "cross", "grey", "red", "yellow", "green", "cyan", "blue", "magenta", "striped"};
const char *const shapes_concept_categories[SHAPES_CONCEPTS] = {
    "shape", "shape", "shape", "shape", "colour", "colour", "colour", "colour", "colour", "colour", "colour",
    "texture"};

#define GREY 4    /* shapes_concept_names' first colour; the hue sectors follow it */
#define STRIPED 11

int shapes_colour_concept(const float rgb[3])
{
    float r = rgb[0], g = rgb[1], b = rgb[2];
    float hi = r > g ? (r > b ? r : b) : (g > b ? g : b), lo = r < g ? (r < b ? r : b) : (g < b ? g : b);
    float chroma = hi - lo;
    if (chroma < 0.25f) return GREY;
    float hue; /* degrees, as HSV's */
    if (hi == r) hue = 60 * (g - b) / chroma;
    else if (hi == g) hue = 60 * (2 + (b - r) / chroma);
    else hue = 60 * (4 + (r - g) / chroma);
    if (hue < 0) hue += 360;
    return GREY + 1 + (int)((hue + 30) / 60) % 6;
}

int shapes_draw_concepts(unsigned long long seed, int index, int size, int max_objects, dx_image *out,
                         shapes_object *objs, unsigned char *masks)
{
    size_t np = (size_t)size * size;
    unsigned char *shape = malloc(np);
    if (!shape) {
        out->data = NULL;
        return 0;
    }
    memset(masks, 0, SHAPES_CONCEPTS * np);
    int n = shapes_draw_truth(seed, index, size, max_objects, out, objs, shape, masks + STRIPED * np);
    for (int y = 0; y < size; ++y)
        for (int x = 0; x < size; ++x) {
            size_t p = (size_t)y * size + x;
            if (!shape[p]) continue;
            masks[(shape[p] - 1) * np + p] = 1;
            /* the objects never overlap, nor do their boxes: the box names the object */
            for (int i = 0; i < n; ++i)
                if (x >= objs[i].x0 && x <= objs[i].x1 && y >= objs[i].y0 && y <= objs[i].y1)
                    masks[shapes_colour_concept(objs[i].rgb) * np + p] = 1;
        }
    free(shape);
    return n;
}

int shapes_dissect(dx_model *m, int layer, unsigned long long seed, int n, int shifted, dx_dissect_layer *L,
                   dx_error *err)
{
    if (layer < 0 || layer >= m->n) {
        dx_set_error(err, "shapes_dissect: no layer %d (the model has %d)", layer, m->n);
        return -1;
    }
    const dx_layer *ly = &m->net->layers[layer];
    int size = m->net->w;
    if (m->net->h != size) {
        dx_set_error(err, "shapes_dissect: the network input is not square");
        return -1;
    }
    if (dx_dissect_init(L, layer, ly->out_c, ly->out_h, ly->out_w, n, SHAPES_CONCEPTS, err) != 0) return -1;
    size_t units = (size_t)ly->out_c, plane = (size_t)ly->out_h * ly->out_w, np = (size_t)size * size;
    unsigned char *masks = malloc(SHAPES_CONCEPTS * np * (size_t)n);
    float *copy = shifted ? malloc(sizeof(float) * plane * units * n) : NULL;
    int rc = masks && (copy || !shifted) ? 0 : -1;
    if (rc) dx_set_error(err, "shapes_dissect: out of memory");
    for (int i = 0; rc == 0 && i < n; ++i) {
        dx_image im;
        shapes_object objs[SHAPES_MAX_OBJECTS];
        shapes_draw_concepts(seed, i, size, 1, &im, objs, masks + SHAPES_CONCEPTS * np * i);
        if (!im.data) {
            dx_set_error(err, "shapes_dissect: out of memory");
            rc = -1;
            break;
        }
        dx_forward(m, im.data);
        memcpy(dx_dissect_acts(L, i), dx_output_of(m, layer), plane * units * sizeof(float));
        dx_free_image(im);
    }
    if (rc == 0 && shifted) {
        memcpy(copy, L->acts, sizeof(float) * plane * units * n);
        for (int i = 0; i < n; ++i)
            for (size_t k = 0; k < units; ++k)
                memcpy(dx_dissect_acts(L, i) + k * plane, copy + (((size_t)i + 1 + k) % n * units + k) * plane,
                       plane * sizeof(float));
    }
    for (int i = 0; rc == 0 && i < n; ++i) dx_dissect_record(L, i);
    if (rc == 0) rc = dx_dissect_thresholds(L, DX_DISSECT_QUANTILE, err);
    dx_letterbox g = {size, size, size, size, 0, 0};
    for (int i = 0; rc == 0 && i < n; ++i)
        rc = dx_dissect_accumulate(L, i, masks + SHAPES_CONCEPTS * np * i, size, size, &g, err);
    free(masks);
    free(copy);
    if (rc) dx_dissect_free(L);
    return rc;
}
