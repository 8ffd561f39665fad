#ifndef DX_INCREMENTAL_H
#define DX_INCREMENTAL_H
#include "explain.h"

/* incremental.c — incremental inference (occlusion): after a forward on a clean input, forwards
 * on inputs that differ from it inside one rectangle recompute only the outputs it reaches. */
typedef struct {
    int y0, x0, y1, x1; /* rows y0..y1-1, columns x0..x1-1 of every channel; empty when y0 >= y1 */
} dx_rect;
typedef struct dx_incremental dx_incremental;
/* Keeps a copy of every layer's output of the model's current (clean) forward state. */
dx_incremental *dx_incremental_begin(dx_model *m, dx_error *err);
/* The caller changed m->input inside `changed` only: brings every layer's output up to date.
 * Returns how many layer outputs it recomputed (a full forward: the sum of all layers' outputs). */
long dx_incremental_forward(dx_incremental *inc, dx_rect changed);
/* Back to the clean forward state (input included), copying back only what the last forward changed. */
void dx_incremental_restore(dx_incremental *inc);
void dx_incremental_end(dx_incremental *inc);
#endif
