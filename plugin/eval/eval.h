/* darknet-explain evaluation: faithfulness, localisation and robustness metrics of saliency maps.
 *
 * The frame: every map a metric takes is over the NETWORK INPUT frame (net->h x net->w floats,
 * row-major, the letterboxed input the model sees), because the metrics that perturb pixels
 * perturb the network input. A method's native map is resized bilinearly to it (for a photo
 * already at the network size this is exactly dx_result.map). Ground-truth boxes are given in
 * network-frame pixels; distances of the pointing game are converted to photo pixels with
 * photo_scale (photo pixels per network pixel), so its tolerance means what the papers mean.
 *
 * A C program scores its own maps with dx_eval_metric (a model, the network input, the class or
 * a detected box, the map); max-sensitivity and the randomisation check also need an explainer callback that
 * recomputes a map (dx_eval_method_explainer wraps any registered method). */
#ifndef DX_EVAL_H
#define DX_EVAL_H
#include "explain.h"

typedef enum {
    DX_METRIC_DELETION,      /* RISE deletion AUC (lower is better) */
    DX_METRIC_INSERTION,     /* RISE insertion AUC (higher) */
    DX_METRIC_POINTING,      /* pointing game hit, 1 or 0 (higher; needs boxes) */
    DX_METRIC_EBPG,          /* energy-based pointing game (higher; needs boxes) */
    DX_METRIC_FAITHFULNESS,  /* faithfulness correlation, Bhatt et al. (higher) */
    DX_METRIC_SENSITIVITY,   /* max-sensitivity, Yeh et al. (lower; needs an explainer) */
    DX_METRIC_SPARSENESS,    /* Gini index of |map| (higher: sparser) */
    DX_METRIC_COMPLEXITY,    /* entropy of |map| / sum |map| (lower: simpler) */
    DX_METRIC_ROAD,          /* ROAD combined, Rong et al. (higher) */
    DX_METRIC_AOPC,          /* AOPC MoRF, Samek et al. (higher) */
    DX_METRIC_RANDOMISATION, /* model-parameter randomisation: Spearman per layer (lower; needs an explainer) */
    DX_METRIC_COUNT
} dx_metric;

typedef enum { DX_SUBSTRATE_BLACK, DX_SUBSTRATE_BLUR, DX_SUBSTRATE_MEAN } dx_substrate;

typedef struct {
    dx_score score;            /* what f_c is: the class logit (default) or probability (as RISE) */
    int steps;                 /* deletion/insertion: n steps of ceil(h*w/n) pixels (default 224) */
    /* default blur: with black or mean, scattered deleted pixels act as adversarial noise that
     * a pixel-random map exploits (RISE: mean colour, OpenVINO: black) */
    dx_substrate deletion_substrate;
    dx_substrate insertion_substrate; /* default blur (Gaussian 11x11, sigma 5, zero padding) */
    float tolerance;           /* pointing game: hit within this many photo pixels (default 15) */
    int faithfulness_runs;     /* random subsets (default 100, Quantus) */
    int faithfulness_subset;   /* pixels per subset, set to black (default 224, Quantus) */
    int sensitivity_samples;   /* perturbed inputs (default 10, Captum) */
    float sensitivity_radius;  /* delta ~ U(-r, r) per input value, in Darknet's [0,1] units (default 0.02) */
    int road_fractions;        /* q = k/(road_fractions+1), k = 1..road_fractions (default 4: 20..80%) */
    int aopc_patch;            /* regions are patch x patch pixels (default 9, the paper) */
    int aopc_steps;            /* L regions perturbed with uniform noise (default 100) */
    unsigned long long seed;   /* every random draw (default 1) */
    int batch;                 /* inputs scored per dx_score_inputs call (default 16) */
} dx_eval_options;

DX_API void dx_eval_options_init(dx_eval_options *o);

DX_API const char *dx_metric_name(dx_metric k);
DX_API int dx_metric_from_name(const char *name, dx_metric *out); /* 0 on success */
DX_API const char *dx_metric_definition(dx_metric k);  /* one paragraph: what is computed, from where */
DX_API int dx_metric_higher_is_better(dx_metric k);

typedef struct {
    float x0, y0, x1, y1; /* network-frame pixels, x1/y1 exclusive */
} dx_pixel_box;

/* The target f_c: a classifier's class cls (its logit or probability, dx_eval_options.score),
 * or a detector's box (box != NULL): its score objectness x class probability at the box's
 * head, anchor and cell (DX_BOX_SCORE), re-read there on every perturbed input. */
typedef struct {
    const float *input;   /* the network input x: net c x h x w */
    int cls;              /* the class whose score is f_c (a detector's: box->cls) */
    const dx_detection *box; /* detectors: the detected box explained; NULL for classifiers */
    /* ground truth (may be NULL); for a box, only the label matched to it (dx_eval_match_label) */
    const dx_pixel_box *boxes;
    int n_boxes;
    float photo_scale;    /* photo pixels per network pixel (1 if the input is the photo) */
    /* the photo's area inside the network frame (the letterbox inner region); the pointing game
     * looks for the map's maximum there. All zero: the whole frame. */
    int inner_x, inner_y, inner_w, inner_h;
    unsigned long long seed; /* random draws of this sample (the run derives it per image) */
} dx_eval_sample;

/* Recomputes a map (net h x w) on a network input for the sample's target: class cls, or for a
 * detector the box's head, anchor, cell and class (box != NULL), whatever its score there;
 * 0 or -1 with err. */
typedef struct {
    int (*explain)(void *ctx, dx_model *m, const float *input, int cls, const dx_detection *box,
                   float *map, dx_error *err);
    void *ctx;
} dx_explainer;

/* ctx for dx_eval_method_explainer: a request whose method is run (class_id is overwritten). */
DX_API int dx_eval_method_explain(void *request, dx_model *m, const float *input, int cls,
                                  const dx_detection *box, float *map, dx_error *err);

/* The ground truth of a detected box (both in the same frame): among the labels of class cls,
 * the one with the highest IoU with det, if that IoU is >= DX_EVAL_MATCH_IOU (ties: the first).
 * Returns its index, or -1 (unmatched: the box's pointing values are NaN); *iou (may be NULL)
 * receives the best IoU over the labels of class cls (0 when there is none). */
#define DX_EVAL_MATCH_IOU 0.5
DX_API int dx_eval_match_label(const dx_pixel_box *det, int cls, const dx_pixel_box *labels, const int *label_classes, int n,
                               double *iou);

/* One metric of one map: *value (NaN when the metric does not apply, e.g. no boxes). The
 * model's forward state is left on an arbitrary input. explainer may be NULL for the metrics
 * that do not need one. DX_METRIC_RANDOMISATION: use dx_eval_randomisation. */
DX_API int dx_eval_metric(dx_model *m, dx_metric k, const dx_eval_sample *s, const float *map,
                          const dx_explainer *explainer, const dx_eval_options *o, double *value,
                          dx_error *err);

/* The layers the randomisation check re-draws, top-down (convolutional and connected layers,
 * from the one nearest the output): writes up to max indices, returns how many there are. */
DX_API int dx_eval_random_layers(const dx_model *m, int *layers, int max);
/* Cascading randomisation (Adebayo et al.): for k = 0..n-1, re-draws the weights of layers
 * [0..k] of dx_eval_random_layers (He normal, seeded; biases and batch norm kept), recomputes
 * the map and writes the Spearman rank correlation with the original map to corr[k]. The
 * weights are restored before returning, also on failure. */
DX_API int dx_eval_randomisation(dx_model *m, const dx_eval_sample *s, const float *map,
                                 const dx_explainer *explainer, const dx_eval_options *o, double *corr,
                                 int n, dx_error *err);

/* Building blocks, exposed for tests and for callers with their own loop. */
DX_API double dx_eval_gini(const float *map, int n);
DX_API double dx_eval_entropy(const float *map, int n);
DX_API double dx_eval_spearman(const float *a, const float *b, int n);
/* The deletion (insert = 0) or insertion curve: scores[0..n] for k = 0..n steps; returns n, -1 on error. */
DX_API int dx_eval_curve(dx_model *m, const dx_eval_sample *s, const float *map, int insert,
                         const dx_eval_options *o, double *scores, dx_error *err);
DX_API double dx_eval_auc(const double *scores, int n); /* (sum p_k - (p_0 + p_n)/2) / n */

/* The command line: `eval` and `eval-merge` (argv[0] is the subcommand); exit codes as dx_cli_run. */
DX_API int dx_eval_cli(const char *program, int argc, char **argv);
DX_API int dx_eval_merge_cli(const char *program, int argc, char **argv);
/* Their command lines parsed and checked, nothing opened or written: -1 when the command would go
 * on, else its exit code (0 after printing help, 2 after a one-line usage error on stderr). */
DX_API int dx_eval_check_args(const char *program, int argc, char **argv);
DX_API int dx_eval_merge_check_args(const char *program, int argc, char **argv);
#endif
