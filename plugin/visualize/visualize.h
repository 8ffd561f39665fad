/* Activation maximisation (feature visualisation): the input image that maximises one unit of the
 * network, found by gradient ascent from noise (`darknet-explain visualize`, docs/visualize.md).
 *
 * A unit is a class logit (the logit layer's output cls, as dx_class_target's) or the mean over
 * positions of channel c of layer L's output. The image lives in pixel space: the network input's
 * size and frame (planar RGB, c x h x w floats in [0, 1]). Each step ascends
 *     J(x) = unit(x) - l2 * mean_i (x_i - 1/2)^2 - tv * sum_(neighbours i,j) (x_i - x_j)^2 / n
 * (n = the input's floats; neighbours: right and lower, within a channel), the unit's gradient
 * taken at the image rolled by a random jitter of up to `jitter` pixels (wrapping around) and
 * rolled back, with a step of lr / rms(gradient), the image clamped to [0, 1] and blurred by a
 * Gaussian of `blur` pixels every `blur_every` steps. Every draw comes from `seed`: the same seed
 * gives the same image bit for bit. */
#ifndef DX_VISUALIZE_H
#define DX_VISUALIZE_H
#include <stdio.h>
#include "explain.h"

typedef struct {
    int steps;              /* gradient steps (default 128) */
    float lr;               /* step length in pixel units per rms-normalised gradient (default 0.03) */
    int jitter;             /* random roll of up to this many pixels per step (default 2) */
    float blur;             /* Gaussian sigma in pixels, 0: none (default 0.5) */
    int blur_every;         /* blur every this many steps (default 4) */
    float l2;               /* weight of the L2 pull toward grey (default 1) */
    float tv;               /* weight of the total variation (default 4) */
    unsigned long long seed; /* the initial noise and the jitters (default 1) */
} dx_vis_options;

void dx_vis_options_init(dx_vis_options *o);

/* What is maximised: cls >= 0: class cls's logit (layer is then the logit layer); else the mean of
 * channel `channel` of layer `layer`'s output. */
typedef struct {
    int layer, channel, cls;
} dx_vis_unit;

/* 0 when u names a unit of m, else -1 with "-layer L is out of range: ..." / "-channel C ...". */
int dx_vis_check_unit(const dx_model *m, const dx_vis_unit *u, dx_error *err);

/* The unit's value at the model's current forward state. */
float dx_vis_unit_value(const dx_model *m, const dx_vis_unit *u);

/* J(x) and, when grad != NULL, dJ/dx into grad (net->inputs floats); *unit (may be NULL) receives
 * the unit's value. Runs a forward on x (and the reverse pass). 0, or -1 with err. */
int dx_vis_objective(dx_model *m, const dx_vis_unit *u, const dx_vis_options *o, const float *x, float *grad,
                     double *value, double *unit, dx_error *err);

typedef struct {
    float *image;          /* net->inputs floats, c x h x w in [0, 1] (the caller frees) */
    double objective;      /* the unit's value on the image */
    double start_objective; /* on the initial noise */
    int top1;              /* classifiers: the top-1 class on the image; -1 for detectors */
    double top1_prob;      /* its output (the softmax's probability) */
    double class_prob;     /* class units: the class's output */
    double ms;             /* the whole optimisation */
} dx_vis_result;

/* Runs the ascent for u (dx_vis_check_unit first). 0, or -1 with err (r->image then NULL). */
int dx_visualize(dx_model *m, const dx_vis_unit *u, const dx_vis_options *o, dx_vis_result *r, dx_error *err);

/* The top-1 of the model's head on x (classifiers): the class, *prob its output. Runs a forward. */
int dx_vis_top1(dx_model *m, const float *x, double *prob);

/* The outputs of n visualised units (outputs.c), all or none: per unit PREFIX_class<N>.png/.npy or
 * PREFIX_L<layer>_c<channel>.png/.npy, PREFIX_grid.png (the images side by side, labelled), and
 * PREFIX.json (every effective option, per unit its files, objective and top-1). */
int dx_vis_write(const dx_model *m, const dx_vis_unit *units, const dx_vis_result *results, int n,
                 const dx_vis_options *o, const char *prefix, dx_error *err);
/* The file stem of unit u under prefix ("PREFIX_class3"), into buf. -1 when it does not fit. */
int dx_vis_stem(const dx_vis_unit *u, const char *prefix, char *buf, size_t len);

/* The command (visualize/cli.c): `darknet-explain visualize cfg weights ...`; exit statuses. */
int dx_visualize_check_args(const char *program, int argc, char **argv);
int dx_visualize_cli(const char *program, int argc, char **argv);
void dx_visualize_usage(const char *program, FILE *f); /* what `visualize -h` prints */
#endif
