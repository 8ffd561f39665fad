/* Concept sets for TCAV (and any concept method) drawn by the shapes generator (shapes.h), with
 * the truth planted: the embedded classifier decides by the object's shape alone, so
 *   shape-circle, shape-square, shape-triangle, shape-cross  (one object of that shape)
 *                     are tied to their class and to no other;
 *   red               (the object of any shape recoloured red, its luminance kept),
 *   striped           (strong stripes over the background, any shape),
 *   large, small      (the object's size at the top or bottom of the generator's range)
 *                     are independent of every class (each holds the four shapes alike);
 *   control           (plain generator images, as the random sets: no concept at all, the
 *                     null a significance test must not call significant).
 * Folders under DIR: one per concept, `random` (plain generator images, no concept chosen) and
 * `images` (the images to score, NNNNN_<class>.png: Darknet's label rule names their class).
 * Every image is a function of (seed, concept, index) alone. */
#ifndef DX_TOOLS_CONCEPT_SETS_H
#define DX_TOOLS_CONCEPT_SETS_H
#include "explain.h"
#include "rng.h"

#define CONCEPT_SETS 9
extern const char *const concept_set_names[CONCEPT_SETS];
/* the class a concept is tied to (its shape), or -1 for the class-independent ones */
int concept_set_class(int concept);

/* What concept k does to a generator image (in place): red recolours the object (shape: its
 * pixels, shapes_draw_truth's; rgb: its colour), striped adds stripes (orientation and frequency
 * from r) to the background; the other concepts select images and change nothing. */
void concept_set_edit(int k, dx_image im, const unsigned char *shape, const float rgb[3], dx_rng *r);
/* Writes DIR/<concept>/ (n_concept images each), DIR/random/ (n_random), DIR/images/
 * (n_images, the four classes in turn), size x size; DIR is created when missing. 0, or -1 with
 * err naming the file. */
int concept_sets_write(const char *dir, unsigned long long seed, int n_concept, int n_random, int n_images,
                       int size, dx_error *err);
#endif
