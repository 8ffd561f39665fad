/* The generator's concepts per pixel (shapes_concepts.h), from shapes_draw_truth. */
#include <stdlib.h>
#include <string.h>
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
