/* Counterfactual explanations: the smallest change of the network input that reaches a goal
 * (another class on top, the explained class no longer on top, a detected box gone or of another
 * class), found by proximal gradient descent with the plugin's own input gradients.
 *
 * Everything here lives in the network input frame: x0 and the counterfactual are net->inputs
 * floats (c x h x w planes, [0,1]), the letterboxed photo as the forward sees it. The command
 * (counterfactual/cli.c) maps the change back onto the photo. docs/counterfactual.md. */
#ifndef DX_COUNTERFACTUAL_H
#define DX_COUNTERFACTUAL_H
#include "explain.h"

typedef enum {
    DX_CF_NOT_TOP,   /* classifier: class `cls` no longer top-1 */
    DX_CF_TO_CLASS,  /* classifier: class `to` top-1 */
    DX_CF_DISAPPEAR, /* detector: no box overlapping `box` (IoU >= DX_CF_OVERLAP) scores >= thresh */
    DX_CF_BOX_CLASS  /* detector: a box of class `to` overlaps `box`, none of box.cls does */
} dx_cf_goal_kind;

/* Two boxes are "the same object" from this IoU on (goal and success check alike). */
#define DX_CF_OVERLAP 0.3f

typedef struct {
    dx_cf_goal_kind kind;
    int cls;                 /* DX_CF_NOT_TOP: the class to push down */
    int to;                  /* DX_CF_TO_CLASS, DX_CF_BOX_CLASS: the class to reach */
    dx_detection box;        /* detectors: the box, as dx_detect_image decoded it on x0 */
    int photo_w, photo_h;    /* detectors: the photo's size (the success check decodes boxes on it) */
    float thresh, hier, nms; /* detectors: as dx_detect_image */
} dx_cf_goal;

typedef struct {
    int steps;    /* at most this many gradient steps */
    int polish;   /* steps after the first success, spent shrinking the change */
    float lr;     /* step size: pixels move about lr per step where the gradient is typical */
    float l1;     /* weight of |x' - x0|_1, relative to the goal's gradient normalised to RMS 1 */
    float tv;     /* weight of the total variation of x' - x0 (anisotropic, per channel), same units */
    float margin; /* the hinge's margin: classifiers in logits, detectors in box score */
    const unsigned char *mask; /* h x w, 1 where the input may change; NULL: everywhere */
} dx_cf_options;

/* One step of the search, on the iterate before the step. */
typedef struct {
    float gap;  /* the goal's gap: > 0 once reached (logit gap; detectors: score below thresh) */
    float l1;   /* |x' - x0|_1 over every input float */
    int success;
} dx_cf_step;

typedef struct {
    float *x;            /* the counterfactual, net->inputs floats (malloc'd) */
    int succeeded;       /* x reaches the goal (dx_cf_check) */
    int first_success;   /* the first step that did (-1: none) */
    int iterations;      /* steps run */
    double l1, l2;       /* |x - x0|_1 and _2 over every input float */
    long changed;        /* input positions (h x w) where some channel differs */
    float gap0, gap;     /* the goal's gap on x0 and on x */
    dx_cf_step *path;    /* iterations + 1 entries (malloc'd) */
    int n_path;
} dx_cf_result;

/* Searches for x' near x0 (net->inputs floats) reaching goal g: loss = hinge(margin - gap(x')) +
 * l1 |x' - x0|_1 + tv TV(x' - x0), x' in [0,1], x' = x0 exactly outside o->mask. A step succeeds
 * when its gap exceeds half the margin (and, for detectors, the decoded boxes agree); the result
 * is the successful step of least L1 (else the last one). Leaves the model's forward state on r->x.
 * 0 (success or not: r->succeeded), or -1 with err (out of memory, a goal out of range, a
 * non-finite gradient). */
int dx_counterfactual(dx_model *m, const float *x0, const dx_cf_goal *g, const dx_cf_options *o, dx_cf_result *r,
                      dx_error *err);
/* The goal's gap on x (a forward on it) and whether the goal holds there: gap > 0 and, for
 * detectors, Darknet's decoded boxes agree (e.g. for a counterfactual read back from a file).
 * 0, or -1 with err. */
int dx_cf_check(dx_model *m, const float *x, const dx_cf_goal *g, float *gap, int *success, dx_error *err);
void dx_cf_result_free(dx_cf_result *r);
/* The classes a goal may name: a classifier's outputs, a detector's head's classes (dx_class_count
 * counts a detector's head outputs). */
int dx_cf_classes(const dx_model *m);
#endif
