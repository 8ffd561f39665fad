#ifndef DX_TARGETS_H
#define DX_TARGETS_H
#include "explain.h"

/* targets.c — what a method explains: a differentiable score of the model's current forward
 * state, a function of one layer's output. The method never needs to know whether it is a
 * class logit or a detected box. */
typedef struct dx_target dx_target;
struct dx_target {
    int layer;   /* the score is a function of this layer's output */
    /* The score of the current forward state; when seed != NULL, also writes
     * d(score)/d(output of layer) into seed (all of the layer's outputs floats). */
    float (*eval)(const dx_target *t, const dx_model *m, float *seed);
    int cls;     /* class targets: the class (an index into layer's outputs) */
    /* box targets: layer is the [yolo]/[region] head; the anchor and cell of the box */
    int anchor, row, col;
    dx_box_target box_kind;
};

int dx_find_logit_layer(const dx_model *m);  /* the layer whose outputs are the class scores */
/* The target "class cls of a classifier": its logit, or its probability (kind). */
int dx_class_target(const dx_model *m, int cls, dx_score kind, dx_target *t, dx_error *err);
/* The target "box d of a detector" (see dx_box_target); its score is a function of the raw
 * outputs of the head at d's anchor and cell. */
int dx_box_target_of(const dx_model *m, const dx_detection *d, dx_box_target kind, dx_target *t,
                     dx_error *err);
/* The score of the current forward state. */
float dx_target_score(const dx_target *t, const dx_model *m);
/* Seeds the backward with the target's gradient at the current forward state and propagates it
 * down to layer stop (-1: the input); *score (may be NULL) receives the score. */
int dx_target_backward(dx_model *m, const dx_target *t, int stop, float *score, dx_error *err);
/* -layer auto (targets.c): the layers whose CAM maps are averaged for a target at layer top, as
 * multi-scale LayerCAM fuses a network's stages: dx_default_layer_for(top), then, among the
 * layers whose output reaches it (through [route] and [shortcut] inputs), the last of each
 * other resolution no finer than 1/8 of the network input's width (a DX_LAYER_YOLO head's P3..P5 and
 * coarser). Fills layers (at most DX_MAX_LAYERS, from the top down); returns their count, or -1
 * with a message. */
int dx_auto_layers(const dx_model *m, int top, int *layers, dx_error *err);
#endif
