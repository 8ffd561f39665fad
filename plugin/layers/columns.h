/* The column matrix of a convolution and its adjoint (columns.c), shared by the layers' reverse
 * functions and LRP's linear engine (lrp/linear.c). */
#ifndef DX_COLUMNS_H
#define DX_COLUMNS_H
#include "backends/backend.h"

/* One group of a convolution (columns.c): c input channels of h x w, a size x size kernel. */
typedef struct {
    int c, h, w, size, stride_y, stride_x, pad, dilation, out_h, out_w;
} dx_conv_geometry;
dx_conv_geometry dx_conv_geometry_of(const dx_layer *l); /* c: the input channels of one group */
/* col ((c*size*size) x (out_h*out_w)) = the columns of in (c x h x w) */
void dx_im2col(const float *in, const dx_conv_geometry *g, float *col);
/* in += the adjoint of dx_im2col applied to col */
void dx_col2im_add(const float *col, const dx_conv_geometry *g, float *in);
#endif
