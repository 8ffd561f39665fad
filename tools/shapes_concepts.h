/* The generator's concepts per pixel, for network dissection (plugin/concepts/dissect.h): the
 * object's shape (circle, square, triangle, cross: category shape), the object's colour binned by
 * hue (category colour) and the background's visible stripes (striped: category texture). */
#ifndef DX_TOOLS_SHAPES_CONCEPTS_H
#define DX_TOOLS_SHAPES_CONCEPTS_H
#include "concepts/dissect.h"
#include "shapes.h"

/* circle square triangle cross | grey red yellow green cyan blue magenta | striped */
#define SHAPES_CONCEPTS 12
extern const char *const shapes_concept_names[SHAPES_CONCEPTS];
extern const char *const shapes_concept_categories[SHAPES_CONCEPTS]; /* shape, colour, texture */

/* The colour concept (index into shapes_concept_names) of an RGB colour in [0,1]: grey when its
 * chroma (max - min) is under 0.25, else the hue's 60-degree sector centred on red (0), yellow
 * (60), green (120), cyan (180), blue (240), magenta (300). */
int shapes_colour_concept(const float rgb[3]);

/* Image `index` as shapes_draw draws it (*out is new) and its concept masks: SHAPES_CONCEPTS
 * planes of size*size bytes (caller-owned), 1 where the concept is at the pixel. Returns the
 * number of objects (objs as shapes_draw's). */
int shapes_draw_concepts(unsigned long long seed, int index, int size, int max_objects, dx_image *out,
                         shapes_object *objs, unsigned char *masks);

/* Dissects layer `layer` of m (a square network input: the generated images are drawn at its size,
 * so the network input is the image) over images 0..n-1 of the set `seed` (one object each) and their concept masks, into
 * L (dx_dissect_init'ed here; the caller frees it). shifted: the baseline, unit k's map of image i
 * taken from image i + 1 + k (the same activations, unrelated to the image). 0, or -1 with err. */
int shapes_dissect(dx_model *m, int layer, unsigned long long seed, int n, int shifted, dx_dissect_layer *L,
                   dx_error *err);
#endif
