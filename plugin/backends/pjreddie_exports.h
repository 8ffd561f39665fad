/* Functions libdarknet.so exports but darknet.h does not declare. The plugin calls Darknet's
 * own helpers so that its backward matches Darknet's forward exactly. */
#ifndef DX_DARKNET_EXPORTS_H
#define DX_DARKNET_EXPORTS_H
#include <darknet.h>

/* delta[i] *= f'(x) where x is the activation's OUTPUT (Darknet's convention) */
void gradient_array(const float *x, const int n, const ACTIVATION a, float *delta);
void activate_array(float *x, const int n, const ACTIVATION a);
/* the column matrix of a convolution's input: (channels*ksize*ksize) x (out_h*out_w) */
void im2col_cpu(float *data_im, int channels, int height, int width, int ksize, int stride, int pad,
                float *data_col);
/* adds the columns back into the image (the adjoint of im2col_cpu) */
void col2im_cpu(float *data_col, int channels, int height, int width, int ksize, int stride,
                int pad, float *data_im);
/* Darknet's inference batch norm (rolling statistics when net.train is 0) and bias, exactly
 * as forward_convolutional_layer applies them */
void forward_batchnorm_layer(layer l, network net);
void add_bias(float *output, float *biases, int batch, int n, int size);
#endif
