/* Where the labels of boxes go in a figure: a pure function on rectangles. */
#ifndef DX_IO_LABELS_H
#define DX_IO_LABELS_H

/* A rectangle of pixels: top-left corner (x, y), w x h; it covers x..x+w-1, y..y+h-1.
 * (incremental.c's dx_rect is a region of feature maps, by its edges.) */
typedef struct {
    int x, y, w, h;
} dx_irect;

typedef struct {
    dx_irect at;    /* where label k goes (w, h: its size), in the image's pixels; when it is not
                    * placed, at.x and at.y are 0 */
    int placed;    /* 1: at lies inside the image; 0: the label goes to the legend, or there is no label */
} dx_label_place;

/* Places the labels of n boxes (boxes[k], in the image's pixels; they may reach beyond it) in
 * an image_w x image_h image, greedily in order (box 0 first: callers order by importance).
 * Label k is label_w[k] x label_h[k]; 0 in either means no label (neither placed nor in the
 * legend). Every placed label lies inside the image and intersects no other placed label.
 * Its candidates: above the box's top-left corner, inside it, below it, inside at its bottom,
 * above and below its right end, left and right of it, each shifted by up to
 * DX_LABEL_SHIFT_ROWS label heights (in half heights) and one label width (in quarters) and
 * pushed inside the image. Of the candidates that intersect no label placed before it takes
 * the cheapest: what it hides of the boxes (the sum over the boxes, its own included, of the
 * square of the fraction of each box's area it covers) plus 0.05 per shift step plus 0.01 per rank of the
 * candidate in the list above; on a tie the first. A label with no free candidate (or larger
 * than the image) is not placed: the legend lists it. Returns the number of those. */
#define DX_LABEL_SHIFT_ROWS 3
int dx_place_labels(int image_w, int image_h, const dx_irect *boxes, const int *label_w, const int *label_h, int n,
                    dx_label_place *out);
#endif
