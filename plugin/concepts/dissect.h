/* Network dissection (Bau et al. 2017, "Network Dissection: Quantifying Interpretability of Deep
 * Visual Representations"): each unit (channel) of a layer is matched with the concept whose
 * masks its high activations cover best.
 *
 * For unit k: T_k is the top-`quantile` level of its activations over every image and position
 * of the data set (raw activations, before any resampling); each image's activation map is
 * resampled bilinearly onto the photo's pixels (the network frame's letterbox border dropped, as
 * the maps of every method are: dx_native_to_photo) and thresholded, M_k = {a > T_k}; for concept
 * c with masks L_c (1 = present),
 *     IoU_k,c = sum_images |M_k ∩ L_c| / sum_images |M_k ∪ L_c|
 * and the unit's label is argmax_c IoU_k,c. The paper calls a unit a detector of its label when
 * that IoU exceeds 0.04 (DX_DISSECT_DETECTOR_IOU).
 *
 * One dx_dissect_layer per dissected layer: its activations are kept for the whole data set (the
 * thresholds need all of them before the first IoU), n_images x units x h x w floats. */
#ifndef DX_CONCEPTS_DISSECT_H
#define DX_CONCEPTS_DISSECT_H
#include <stdio.h>
#include "explain.h"
#include "io/image.h"

#define DX_DISSECT_QUANTILE 0.005     /* the paper's top 0.5% */
#define DX_DISSECT_DETECTOR_IOU 0.04  /* the paper's cut */

typedef struct {
    int layer;               /* the network's layer index (-1 in hand-made uses) */
    int units, h, w;         /* its output: units maps of h x w */
    int n_images, n_concepts;
    float *acts;             /* n_images x units x h x w; dx_dissect_acts(image) is one image's */
    float *image_max;        /* n_images x units: each map's maximum (the unit's top images) */
    float *threshold;        /* units: T_k (dx_dissect_thresholds) */
    double *inter;           /* units x n_concepts: sum of |M_k ∩ L_c| in photo pixels */
    double *unit_area;       /* units: sum of |M_k| */
    double *concept_area;    /* n_concepts: sum of |L_c| */
} dx_dissect_layer;

/* Allocates L (zeroed sums) for units maps of h x w over n_images images and n_concepts
 * concepts; 0, or -1 with err (out of memory, naming the layer). Free it with dx_dissect_free. */
int dx_dissect_init(dx_dissect_layer *L, int layer, int units, int h, int w, int n_images, int n_concepts,
                    dx_error *err);
void dx_dissect_free(dx_dissect_layer *L);
/* Image i's activations (units x h x w), to be filled by the caller, then dx_dissect_record(L, i). */
float *dx_dissect_acts(dx_dissect_layer *L, int image);
void dx_dissect_record(dx_dissect_layer *L, int image); /* its maxima, after its acts are in place */
/* T_k for every unit: the value of rank ceil(quantile * N) + 1 from the top among its N =
 * n_images * h * w activations, so that the count of activations > T_k is ceil(quantile * N)
 * (fewer only where values tie at T_k). 0, or -1 with err (out of memory). */
int dx_dissect_thresholds(dx_dissect_layer *L, double quantile, dx_error *err);
/* Adds image i: masks are n_concepts planes of photo_h x photo_w bytes (non-zero = the concept is
 * at that pixel), g places the photo in the network frame. After dx_dissect_thresholds. 0, or -1
 * with err (out of memory). */
int dx_dissect_accumulate(dx_dissect_layer *L, int image, const unsigned char *masks, int photo_w, int photo_h,
                          const dx_letterbox *g, dx_error *err);
/* Unit k's thresholded map of image i over the photo (photo_h x photo_w bytes, 1 where a > T_k,
 * into out); 0, or -1 with err (out of memory). */
int dx_dissect_unit_mask(const dx_dissect_layer *L, int image, int k, int photo_w, int photo_h,
                         const dx_letterbox *g, unsigned char *out, dx_error *err);

/* What dissection says of one unit. */
typedef struct {
    int best, second;          /* concept indices (second -1 with a single concept) */
    double iou, second_iou;
} dx_dissect_unit;
double dx_dissect_iou(const dx_dissect_layer *L, int k, int c); /* 0 when the union is empty */
void dx_dissect_label(const dx_dissect_layer *L, int k, dx_dissect_unit *out);
/* The images of unit k's top n activations (largest map maximum first, ties by index): writes
 * min(n, n_images) indices to out and returns how many. */
int dx_dissect_top_images(const dx_dissect_layer *L, int k, int n, int *out);

/* ---- the command: darknet-explain dissect (dissect_cli.c, its outputs dissect_report.c) ---- */

typedef struct {
    const char *cfg, *weights, *list, *outdir;
    const char *masks, *boxes; /* -masks DIR (concept PNGs), -boxes NAMES (label files' boxes); either or both */
    int layers[DX_MAX_LAYERS]; /* -layer L[,L2..]; n_layers follows (options.h's OPT_LAYERS) */
    int n_layers;
    double quantile;           /* -quantile (DX_DISSECT_QUANTILE) */
    int top, thumb, verbose;   /* top images per unit, their width in pixels, Darknet's messages */
} dx_dissect_args;

/* A finished dissection, as the report writes it. */
typedef struct {
    const dx_dissect_args *args;
    dx_dissect_layer *layers;  /* args->n_layers */
    char **concepts, **categories; /* n_concepts names; categories "" when concepts.txt gives none */
    int n_concepts;
    char **images;             /* n_images photo paths as opened */
    int n_images;
    int *photo_w, *photo_h;
    dx_letterbox *geom;        /* each photo in the network frame */
    double ms_forward, ms_iou; /* the two passes' wall time */
} dx_dissection;

/* Writes dissect.csv, dissect.json, report.html and one PNG of top images per unit into
 * args->outdir (which exists), all or none. 0, or -1 with err naming the file. */
int dx_dissect_write(const dx_dissection *d, dx_error *err);

/* commands.c's row: the argument check (-1 when the run would go on, else the exit status:
 * 0 after -h, 2 after one usage line) and the run (its exit status). */
int dx_dissect_check_args(const char *program, int argc, char **argv);
int dx_dissect_cli(const char *program, int argc, char **argv);
void dx_dissect_usage(const char *program, FILE *f); /* what `dissect -h` prints */
#endif
