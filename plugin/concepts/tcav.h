/* Testing with Concept Activation Vectors (Kim et al. 2018, "Interpretability Beyond Feature
 * Attribution: Quantitative Testing with Concept Activation Vectors (TCAV)").
 *
 * A concept is a folder of images. At layer l, a CAV is the unit normal of an L2-regularised
 * logistic regression (logistic.h) that separates the concept's activations (label 1) from a
 * random set's (label 0), pointing towards the concept. A class's TCAV score for a CAV is the
 * fraction of the class's images x whose class logit h_k rises along it: grad h_k(f_l(x)) . v > 0
 * (the plugin's own reverse pass down to layer l). Each concept is trained against R different
 * random sets (run r: set r + 1); R random-vs-random CAVs (run r: set r against set r + 1, so
 * that both sides change from run to run, as the reference code pools random_i against random_j)
 * give the scores of chance, and a two-sided Student t-test of the concept's R scores against
 * them gives p; `significant` is p < alpha (divided by the number of concepts with Bonferroni).
 *
 * Random sets: -random's images, shuffled by the seed, cut into R + 1 disjoint sets of
 * k = min(the largest concept's image count, pool / (R + 1)) images (the paper's random500_0 ..
 * random500_R folders); k >= 2. Each CAV's examples are split (seeded) into 2/3 for training and
 * 1/3 held out; the held-out accuracy is reported. */
#ifndef DX_CONCEPTS_TCAV_H
#define DX_CONCEPTS_TCAV_H
#include <stdio.h>
#include "explain.h"

#define DX_TCAV_MAX_CONCEPTS 32
#define DX_TCAV_MAX_CLASSES 64
#define DX_TCAV_MAX_RUNS 100

typedef struct {
    const char *name; /* [A-Za-z0-9_-]+: it names the output files */
    const char *dir;  /* its images (.png .jpg .jpeg .bmp .ppm .pgm, sorted by name) */
} dx_tcav_concept;

typedef enum {
    DX_TCAV_LABEL_PATH, /* an image's class is the one class name its file name contains (Darknet's rule) */
    DX_TCAV_LABEL_TOP1  /* an image's class is the model's top-1 class */
} dx_tcav_label;

typedef struct {
    int layers[DX_MAX_LAYERS]; /* layer indices (the CLI's -layer) ... */
    int n_layers;              /* ... and their count: must follow layers[] (options.h's OPT_LAYERS) */
    dx_tcav_concept concepts[DX_TCAV_MAX_CONCEPTS];
    int n_concepts;
    const char *random_dir;   /* the pool the random sets come from */
    const char *images;       /* the images to score: a list file (one path a line) or a folder */
    int classes[DX_TCAV_MAX_CLASSES]; /* the classes to score */
    int n_classes;                    /* 0: every class of the model (at most DX_TCAV_MAX_CLASSES) */
    dx_tcav_label label;
    int runs;                 /* R, 2..DX_TCAV_MAX_RUNS (default 10) */
    unsigned long long seed;  /* random sets and the held-out splits (default 1) */
    double lambda;            /* L2 weight of the logistic regression (default 0.01) */
    int iters;                /* its gradient steps (default 300) */
    double alpha;             /* significance level (default 0.05) */
    int bonferroni;           /* alpha / n_concepts */
} dx_tcav_options;

void dx_tcav_options_init(dx_tcav_options *o);

/* One (layer, concept or random, class) cell: the R runs' scores and their test. */
typedef struct {
    double *scores;   /* R TCAV scores, one per run */
    double mean, std; /* std as numpy's np.std (ddof = 0), as the paper reports it */
    double t, p;      /* against the random-vs-random scores (NaN in the random cells) */
    int significant;
} dx_tcav_cell;

typedef struct {
    dx_tcav_options opt;    /* as given; n_classes and classes[] filled when 0 was given */
    int n_layers, n_concepts, n_classes, runs;
    int random_set_size;    /* k */
    int *class_images;      /* per class: how many of the images were scored for it */
    int n_images, n_skipped; /* images read; of which of no requested class */
    int *dims;              /* per layer: its outputs (the CAV's length) */
    /* per layer and concept: R CAVs (R x dims[l] floats, unit length) and their held-out
     * accuracies (R); index [l * n_concepts + k] */
    float **cavs;
    double **accuracy;
    double **random_accuracy; /* per layer: the R random-vs-random CAVs' held-out accuracies */
    /* scores: cells[(l * (n_concepts + 1) + k) * n_classes + c], k == n_concepts: random */
    dx_tcav_cell *cells;
    double alpha_used;      /* alpha, divided by n_concepts with Bonferroni */
    double ms;              /* the whole run */
} dx_tcav_result;

/* Runs TCAV on m. Every folder, list and image is checked before the first forward; errors name
 * the file or folder (a missing folder, one without images, an unreadable image, a class without
 * images). 0, or -1 with err; on failure res holds nothing to free. */
int dx_tcav_run(dx_model *m, const dx_tcav_options *o, dx_tcav_result *res, dx_error *err);
const dx_tcav_cell *dx_tcav_cell_of(const dx_tcav_result *r, int layer, int concept, int cls);
void dx_tcav_result_free(dx_tcav_result *r);
/* The directional derivatives' gradient: d(logit of class cls)/d(layer L's outputs) at m's
 * current forward state, for every layer L >= stop the logit depends on; read it with
 * dx_grad_of(m, L) (engine.h). 0, or -1 with err. */
int dx_tcav_logit_gradient(dx_model *m, int cls, int stop, dx_error *err);
/* Writes DIR/tcav.json (every parameter and every cell), DIR/tcav.csv (one row per layer,
 * concept, class) and DIR/cav_<concept>_L<layer>.npy (R x dims floats) all together or none
 * (io/atomic.h); DIR is created when missing. argv: the command line, recorded in the JSON. */
int dx_tcav_write(const dx_model *m, const dx_tcav_result *r, const char *dir, int argc, char **argv, dx_error *err);

/* The command: `darknet-explain tcav CFG WEIGHTS ...` (tcav_cli.c). check: as dx_cli_check_args
 * (-1 when the run would go on, else the exit code: 0 after -h, 2 after a usage line). */
int dx_tcav_check_args(const char *program, int argc, char **argv);
int dx_tcav_cli(const char *program, int argc, char **argv);
void dx_tcav_usage(const char *program, FILE *f); /* what `tcav -h` prints */
#endif
