/* [maxpool] and [avgpool]. */
#include <float.h>
#include "layers.h"

/* in: c x h x w -> out: c x out_h x out_w. The winner of each window gets the gradient. The
 * argmax is recomputed from the input exactly as Darknet's forward finds it (first strict max,
 * window offset -pad/2, out-of-image cells never win), so it never depends on l.indexes being
 * current. */
int dx_backward_maxpool(dx_model *m, int i, const float *gout, dx_error *err)
{
    const layer *l = &m->net->layers[i];
    const float *in = dx_output_of(m, i - 1);
    float *gin = dx_grad_of(m, i - 1);
    int offset = -l->pad / 2;
    for (int k = 0; k < l->c; ++k) {
        for (int y = 0; y < l->out_h; ++y) {
            for (int x = 0; x < l->out_w; ++x) {
                float best = -FLT_MAX;
                int best_index = -1;
                for (int dy = 0; dy < l->size; ++dy) {
                    for (int dx = 0; dx < l->size; ++dx) {
                        int iy = offset + y * l->stride + dy, ix = offset + x * l->stride + dx;
                        if (iy < 0 || iy >= l->h || ix < 0 || ix >= l->w) continue;
                        int index = ix + l->w * (iy + l->h * k);
                        if (in[index] > best) { best = in[index]; best_index = index; }
                    }
                }
                if (best_index >= 0) gin[best_index] += gout[x + l->out_w * (y + l->out_h * k)];
            }
        }
    }
    return 0;
}

/* in: c x h x w -> out: c (global average). */
int dx_backward_avgpool(dx_model *m, int i, const float *gout, dx_error *err)
{
    const layer *l = &m->net->layers[i];
    float *gin = dx_grad_of(m, i - 1);
    int spatial = l->h * l->w;
    for (int k = 0; k < l->c; ++k) {
        float share = gout[k] / spatial;
        for (int p = 0; p < spatial; ++p) gin[k * spatial + p] += share;
    }
    return 0;
}
