/* The gradient family: maps from d(score)/d(input), over the network input (c x h x w). */
#include <math.h>
#include <stdlib.h>
#include "methods.h"

/* Saliency (Simonyan et al.): max over the colour channels of |d(score)/dx|. */
int dx_method_saliency(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err)
{
    if (dx_target_backward(m, t, -1, NULL, err) != 0) return -1;
    const network *net = m->net;
    int spatial = net->h * net->w;
    const float *g = dx_grad_of(m, -1);
    float *map = calloc((size_t)spatial, sizeof(float));
    if (!map) {
        dx_set_error(err, "out of memory");
        return -1;
    }
    for (int c = 0; c < net->c; ++c)
        for (int p = 0; p < spatial; ++p) {
            float v = fabsf(g[(size_t)c * spatial + p]);
            if (v > map[p]) map[p] = v;
        }
    r->native = map;
    r->native_h = net->h;
    r->native_w = net->w;
    r->layer = -1;
    return 0;
}
