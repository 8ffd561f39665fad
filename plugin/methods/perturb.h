/* What the perturbation methods share: perturbation.c (occlusion, RISE, the scoring loop and
 * the scoring loop), baseline.c (the baselines), superpixels.c (SLIC), surrogate.c (LIME, KernelSHAP). Images here are in the
 * network frame: c x h x w planar floats. */
#ifndef DX_PERTURB_H
#define DX_PERTURB_H
#include "methods.h"


/* A RISE mask (h x w, in [0, 1]): a gh x gw grid of kept (1) and removed (0) cells, each
 * cell_h x cell_w pixels, bilinear between cell centres (edges clamped), shifted by
 * (shift_y, shift_x) pixels into the grid. */
void dx_upsample_mask(const unsigned char *grid, int gh, int gw, float cell_h, float cell_w, float shift_y,
                      float shift_x, int h, int w, float *mask);

/* Writes perturbed input k (net->inputs floats) into input. */
typedef void (*dx_fill_fn)(void *ctx, int k, float *input);

/* Scores n perturbed inputs for n_targets targets, req->batch inputs per forward, into
 * scores[k * n_targets + j]; then runs the forward again on `original` so that the model's
 * state is back on it. fill runs on the calling thread in index order; at -batch 1 it fills
 * DX_SCORE_CHUNK_PER_WORKER inputs per worker before each scoring call (spread over the
 * workers' threads, scoring.c). */
int dx_score_perturbed(dx_model *m, const dx_target *t, int n_targets, const dx_request *req,
                       const float *original, int n, dx_fill_fn fill, void *ctx, float *scores, dx_error *err);

/* Gives each of the n_targets results a zeroed map over the network input (r[j].native; the
 * caller's dx_result_free frees it), native size, layer -1 and signed_map. */
int dx_perturbation_maps(const dx_model *m, dx_result *r, int n_targets, int signed_map, dx_error *err);

/* SLIC superpixels (superpixels.c): about k connected segments of the image (c x h x w in
 * [0, 1]); labels (h x w) in 0..n-1. Returns n, or -1 (out of memory). */
int dx_slic(const float *image, int c, int h, int w, int k, float compactness, int *labels, dx_error *err);
#define DX_SLIC_COMPACTNESS 10.f /* as skimage's slic in Lab: colour and distance weigh alike */

#endif
