/* The images that stand in for removed pixels: black, each channel's mean, a Gaussian blur. One
 * maker for the perturbation methods' -occlude, the -baseline of Integrated Gradients and
 * DeepLIFT and eval's deletion/insertion substrates. Images are c x h x w planar floats. */
#ifndef DX_METHODS_BASELINE_H
#define DX_METHODS_BASELINE_H
#include "explain.h"

/* Beyond the image's border a blur reads the edge pixel repeated, or 0. */
typedef enum { DX_EDGE_CLAMP, DX_EDGE_ZERO } dx_edge;

/* x blurred separably (rows, then columns) by a Gaussian of standard deviation sigma pixels
 * truncated at radius, its taps normalised to sum 1, into out (not aliasing x). 0, or -1 with
 * err when its temporaries do not fit in memory. */
int dx_gaussian_blur(const float *x, int c, int h, int w, float sigma, int radius, dx_edge edge, float *out,
                     dx_error *err);

/* The image that replaces removed pixels, into out: zeros; each channel's mean; or x blurred with
 * sigma = 1/16 of its smaller side (at least half a pixel), truncated at 3 sigma, edges clamped.
 * 0, or -1 with err. */
int dx_baseline_image(const float *x, int c, int h, int w, dx_occlude kind, float *out, dx_error *err);
/* The reference x' that -baseline (req->baseline) names for the network input x (net->inputs
 * floats), into base: black (zeros), blur (x blurred, sigma = network width / 16), noise
 * (uniform [0, 1) from req->seed) or an image file letterboxed as the photo. 0, or -1 with a
 * one-line err naming the file. */
int dx_request_baseline(const dx_model *m, const dx_request *req, const float *x, float *base, dx_error *err);
#endif
