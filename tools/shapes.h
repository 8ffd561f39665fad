/* Synthetic shapes with known boxes: the ground truth for the embedded models and the
 * benchmark. Each image is a function of (seed, index) alone: a textured background, clutter
 * that belongs to no class (thin lines, dots), then the objects, never overlapping. */
#ifndef DX_TOOLS_SHAPES_H
#define DX_TOOLS_SHAPES_H
#include "explain.h"

#define SHAPES_CLASSES 4
#define SHAPES_MAX_OBJECTS 4

extern const char *const shapes_names[SHAPES_CLASSES]; /* circle square triangle cross */

typedef struct {
    int cls;
    int x0, y0, x1, y1; /* the drawn pixels' bounding box, inclusive */
    float rgb[3];       /* the object's flat colour */
} shapes_object;

/* Draws image `index` of the set `seed`: size x size RGB in [0,1] (*out is new), with
 * values on 8-bit levels (exactly what its PNG decodes to), 1..max_objects objects (exactly one when max_objects == 1), each `size`*[0.2, 0.45] wide.
 * Returns the number of objects written to objs (at most SHAPES_MAX_OBJECTS). */
int shapes_draw(unsigned long long seed, int index, int size, int max_objects, dx_image *out,
                shapes_object *objs);

/* The generator's per-pixel truth for image `index`, for concept methods (dissection, TCAV):
 * the same image and objects as shapes_draw, and size*size bytes (row-major, caller-owned):
 *   shape[p]  = 1 + the class of the object covering pixel p, 0 on the background;
 *   stripe[p] = 1 where the background's stripes are visible at p (|stripe| > half its
 *               amplitude, objects excluded), else 0.
 * Either array may be NULL. The object's colour is in objs[i].rgb. */
int shapes_draw_truth(unsigned long long seed, int index, int size, int max_objects,
                      dx_image *out, shapes_object *objs, unsigned char *shape,
                      unsigned char *stripe);

/* Is the pixel centre (px, py) inside shape cls of side s centred at (cx, cy)? */
int shapes_inside(int cls, float cx, float cy, float s, float px, float py);

/* Darknet's label line for an object: "class cx cy w h", relative to the image size. */
void shapes_label(const shapes_object *o, int size, char *line, int cap);

/* The metrics of the ground-truth benchmark, for a map h x w over the image (row-major):
 * pointing game: is the map's maximum (the first, in row-major order) inside the box?
 * energy in box: the share of the map's positive mass inside the box (0 for an all-zero map). */
int shapes_pointing_hit(const float *map, int h, int w, const shapes_object *o);
double shapes_energy_in_box(const float *map, int h, int w, const shapes_object *o);
#endif
