/* The column matrix of a convolution (im2col) and its adjoint, for any stride, padding and
 * dilation: row (ci, ky, kx) holds, at column oy * out_w + ox, the input at
 * (ci, oy * stride_y - pad + ky * dilation, ox * stride_x - pad + kx * dilation), 0 outside the
 * image. The layout of Darknet's im2col_cpu (and AlexeyAB's im2col_cpu_ext), so one gemm with
 * the n x (c * size * size) weights gives the convolution. */
#include "layers.h"

void dx_im2col(const float *in, const dx_conv_geometry *g, float *col)
{
    int rows = g->c * g->size * g->size, cols = g->out_h * g->out_w;
    for (int row = 0; row < rows; ++row) {
        int ci = row / (g->size * g->size), ky = row / g->size % g->size, kx = row % g->size;
        const float *plane = in + (size_t)ci * g->h * g->w;
        float *dst = col + (size_t)row * cols;
        for (int oy = 0; oy < g->out_h; ++oy) {
            int iy = oy * g->stride_y - g->pad + ky * g->dilation;
            for (int ox = 0; ox < g->out_w; ++ox) {
                int ix = ox * g->stride_x - g->pad + kx * g->dilation;
                *dst++ = iy < 0 || iy >= g->h || ix < 0 || ix >= g->w ? 0.f : plane[iy * g->w + ix];
            }
        }
    }
}

void dx_col2im_add(const float *col, const dx_conv_geometry *g, float *in)
{
    int rows = g->c * g->size * g->size;
    for (int row = 0; row < rows; ++row) {
        int ci = row / (g->size * g->size), ky = row / g->size % g->size, kx = row % g->size;
        float *plane = in + (size_t)ci * g->h * g->w;
        const float *src = col + (size_t)row * g->out_h * g->out_w;
        for (int oy = 0; oy < g->out_h; ++oy) {
            int iy = oy * g->stride_y - g->pad + ky * g->dilation;
            for (int ox = 0; ox < g->out_w; ++ox, ++src) {
                int ix = ox * g->stride_x - g->pad + kx * g->dilation;
                if (iy >= 0 && iy < g->h && ix >= 0 && ix < g->w) plane[iy * g->w + ix] += *src;
            }
        }
    }
}

dx_conv_geometry dx_conv_geometry_of(const dx_layer *l)
{
    dx_conv_geometry g = {l->c / l->groups, l->h, l->w, l->size, l->stride_y, l->stride_x, l->pad,
                          l->dilation, l->out_h, l->out_w};
    return g;
}
