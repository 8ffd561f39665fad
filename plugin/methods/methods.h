/* The methods. Each turns one forward (already run) and a target seed into a native map:
 * r->native (native_h x native_w over the network input frame) and r->layer. */
#ifndef DX_METHODS_H
#define DX_METHODS_H
#include "internal.h"

typedef struct {
    int layer;    /* where the seed is placed */
    float *seed;  /* d(score)/d(that layer's output) */
} dx_target;

typedef int (*dx_method_fn)(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r,
                            dx_error *err);

int dx_method_gradcam(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err);
int dx_method_saliency(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err);
#endif
