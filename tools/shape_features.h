/* The shapes generator's images with their TRUE concept features, for the global surrogate's
 * ground truth (tools/gt_distill.c, tests/test_distill.c): per image, which shape it shows (one
 * column per class, 0/1), the object's colour (r, g, b), the share of the background covered by
 * visible stripes, and the object's size (its box's height over the image's). Only the shape
 * decides the class (tools/shapes.h); colour, stripes and size are drawn independently of it. */
#ifndef DX_TOOLS_SHAPE_FEATURES_H
#define DX_TOOLS_SHAPE_FEATURES_H

#define SHAPE_FEATURES (4 + 3 + 2)
extern const char *const shape_feature_names[SHAPE_FEATURES]; /* circle .. cross, r, g, b, stripes, size */

/* Writes images 0..n-1 of the set `seed` (size x size, one object each) as DIR/NNNNN_CLASS.png,
 * DIR/shapes.list (their paths DIR/NNNNN_CLASS.png, as the CSVs name them) and, for each non-empty column selection
 * `columns` (a bit per feature of shape_feature_names: bit k keeps column k), DIR/NAME.csv with
 * header "image,..." and a row per image. names[j] is the CSV's name for selection j. 0, or -1
 * with a message on stderr. */
int shape_features_write(const char *dir, unsigned long long seed, int n, int size, const unsigned *columns,
                         const char *const *names, int n_csv);
#endif
