#ifndef DX_DETECT_H
#define DX_DETECT_H
#include "backends/backend.h"
#include "explain.h"

/* detect.c — the boxes of the current forward state, decoded as Darknet does. */
/* 0 with the supported heads, else -1 naming what is not supported ([detection], tree=). */
int dx_check_detector(const dx_model *m, dx_error *err);
/* The boxes above thresh after NMS (nms 0: none) for a photo of photo_w x photo_h pixels,
 * highest score first; *boxes malloc'd (NULL when none). -1 when a box's geometry is not finite. */
int dx_decode_boxes(const dx_model *m, int photo_w, int photo_h, float thresh, float hier, float nms,
                    dx_detection **boxes, int *n, dx_error *err);
/* The anchor and cell whose box overlaps region (x, y, w, h in photo pixels) most, whatever its
 * score; its class is the anchor's most probable one. Anchors whose box is not finite are left
 * out; -1 when region is not finite (or w, h <= 0) or no anchor is left. */
int dx_region_box(const dx_model *m, int photo_w, int photo_h, const float region[4],
                  dx_detection *out, dx_error *err);
/* The highest objectness x class probability of the current forward state over every head,
 * anchor, cell and class, and its class (-1 and 0 without a head). */
void dx_best_score(const dx_model *m, float *score, int *cls);
/* Darknet's box_iou: intersection over union of two boxes given by centre and size (not named
 * dx_box_iou: AlexeyAB's Darknet has a function of that name). */
float dx_iou(dx_box a, dx_box b);
/* A head's layout: per anchor, planes x, y, w, h (+ [region]'s extra coords), objectness, classes;
 * dx_head_entry is the index of plane e of anchor at cell (row * l->w + col) in its output. */
int dx_head_coords(const dx_layer *l);
int dx_head_entry(const dx_layer *l, int anchor, int e, int cell);
/* A head's decoded outputs at (anchor, cell = row * l->w + col), from its current forward state:
 * the box as fractions of the network input, the objectness (1 for [region] background=1),
 * a class's probability. */
dx_box dx_head_box(const dx_layer *l, int anchor, int row, int col, int net_w, int net_h);
float dx_head_objectness(const dx_layer *l, int anchor, int cell);
float dx_head_class_prob(const dx_layer *l, int anchor, int cell, int cls);
#endif
