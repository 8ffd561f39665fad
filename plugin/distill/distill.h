/* Global surrogate (distillation): a depth-limited CART decision tree trained to mimic a
 * classifier's top-1 decisions from per-image features (the penultimate layer's pooled
 * activations, any layer's, or concept features from a CSV), its fidelity (agreement with the
 * network) on held-out images, and the tree as text, JSON and a PNG (`darknet-explain distill`,
 * docs/distill.md). Internal header (not installed). */
#ifndef DX_DISTILL_H
#define DX_DISTILL_H
#include <stdio.h>
#include "explain.h"
#include "io/json.h"

/* ---- tree.c: CART on Gini impurity ---- */

typedef struct {
    int max_depth; /* the root is depth 0; a node at max_depth is a leaf (>= 0) */
    int min_leaf;  /* every leaf holds at least this many training samples (>= 1) */
} dx_tree_params;

/* A node: internal when feature >= 0 (x[feature] <= threshold goes left, else right), a leaf
 * otherwise. Every node keeps its training samples' class counts and its majority class (ties:
 * the smallest class index), so that a leaf's class is its majority. */
typedef struct {
    int feature;
    float threshold;
    int left, right;  /* node indices (internal nodes) */
    int depth;
    int n;            /* training samples reaching it */
    int cls;          /* majority class of those */
    double gini;      /* their Gini impurity 1 - sum_k p_k^2 */
    int *counts;      /* n_classes counts (owned) */
} dx_tree_node;

typedef struct {
    int n_features, n_classes;
    dx_tree_params params;
    dx_tree_node *nodes; /* node 0 is the root; children come after their parent (pre-order) */
    int n_nodes;
    int depth;           /* the deepest leaf's depth */
    int leaves;
} dx_tree;

/* Grows the tree on n samples: x row-major n x n_features, y[i] in 0..n_classes-1. Each node
 * splits greedily on the (feature, threshold) that minimises the children's sample-weighted Gini
 * impurity, among the splits leaving >= min_leaf samples on both sides; a threshold is the
 * midpoint between two consecutive distinct values of the feature (rounded down to a float
 * strictly below the upper one). Ties: the lower feature index, then the lower threshold. A node
 * is a leaf when pure, at max_depth, or when no split lowers the impurity. Deterministic. 0, or
 * -1 with err (bad parameters, out of memory). dx_tree_free releases it. */
int dx_tree_fit(const float *x, const int *y, int n, int n_features, int n_classes, const dx_tree_params *p,
                dx_tree *t, dx_error *err);
void dx_tree_free(dx_tree *t);
/* The leaf class of one sample (n_features floats). */
int dx_tree_predict(const dx_tree *t, const float *x);
/* The index of the leaf a sample reaches. */
int dx_tree_leaf(const dx_tree *t, const float *x);
/* Nested if/else, one line per node, with the features' and the classes' names:
 *   if L16.c3 <= 0.25 (n=40 gini=0.5)
 *     -> circle (n=20 agree=18)
 *   else ...
 * 0, or -1 when a write failed. */
int dx_tree_write_text(const dx_tree *t, FILE *f, const char *const *features, const char *const *classes);
/* The tree as a JSON array of nodes (id, depth, n, gini, counts, class; internal: feature, its
 * name, threshold, left, right) into an open JSON value position. */
void dx_tree_write_json(const dx_tree *t, dx_json *j, const char *const *features, const char *const *classes);

/* ---- draw.c ---- */

/* The tree as a figure: a box per node (its test, or its class, and its counts), edges labelled
 * yes/no; into *out (new), or -1 with err when out of memory or the figure would be too large. */
int dx_tree_draw(const dx_tree *t, const char *const *features, const char *const *classes, dx_image *out,
                 dx_error *err);

/* ---- distill.c: features, training, fidelity, outputs ---- */

typedef enum { DX_DISTILL_PENULTIMATE, DX_DISTILL_LAYER, DX_DISTILL_CSV } dx_distill_source;

typedef struct {
    const char *cfg, *weights, *list, *outdir, *names;
    const char *features;   /* penultimate | pooled:L | csv:FILE (as given) */
    dx_distill_source source;
    int layer;              /* DX_DISTILL_LAYER: the layer */
    const char *csv;        /* DX_DISTILL_CSV: the file */
    dx_tree_params tree;
    float holdout;          /* the share of the images held out, [0, 0.9] */
    float thresh;           /* detectors: the box score threshold (the network's decision: the class of
                             * its best box above it after NMS, or `none`) */
    unsigned long long seed;
    int max_pixels;         /* photos with more pixels are refused (0: the default) */
    int verbose;
} dx_distill_args;

/* The layer `penultimate` means: the input of the weighted layer ([convolutional], [connected])
 * that computes the logits (dx_find_logit_layer, below any parameter-free layers such as a global
 * [avgpool]); for a detector, the last feature layer feeding its head (the CAM methods' default
 * layer, dx_default_layer_for). -1 with err when there is none. */
int dx_distill_penultimate(const dx_model *m, dx_error *err);

/* Per-image concept features from a CSV: header "image,NAME1,NAME2,..", then one row per image:
 * its path as the list gives it, then one number per feature. Rows for images not in the list
 * are ignored. rows[i] of list image i (n_images x *n_features floats, malloc'd), the names
 * (malloc'd, each malloc'd). 0, or -1 with err naming the file and line (a missing or extra
 * column, a value that is not a finite number, a repeated image) or the image the CSV lacks. */
int dx_distill_read_csv(const char *path, const char *const *images, int n_images, float **rows,
                        char ***names, int *n_features, dx_error *err);

/* What a run found (as tree.json says it); NaN where not defined (no held-out image, no class
 * in the paths). */
typedef struct {
    int images, holdout_images, features, depth, leaves;
    double fidelity_train, fidelity_holdout;   /* the tree's agreement with the network */
    double baseline_train, baseline_holdout;   /* the majority class's (of the training labels) */
    double tree_accuracy, network_accuracy;    /* held out, against the class named in the path */
    char root_feature[128];                    /* "" when the root is a leaf */
    double seconds;                            /* the whole run */
} dx_distill_figures;

/* The whole command: opens the model, computes the labels (the network's decision: a
 * classifier's top-1 class; a detector's best box's class, or `none`) and the features
 * of every image of the list, splits by seed, grows the tree on the training part, writes
 * outdir/tree.txt, tree.json, tree.png, distill.csv (all or none) and prints a summary to `out`
 * (may be NULL); fig (may be NULL) receives the figures. 0, or -1 with err. */
int dx_distill_run(const dx_distill_args *a, FILE *out, dx_distill_figures *fig, dx_error *err);

/* cli.c: `darknet-explain distill` */
int dx_distill_check_args(const char *program, int argc, char **argv);
int dx_distill_cli(const char *program, int argc, char **argv);
void dx_distill_usage(const char *program, FILE *f); /* what `distill -h` prints */
#endif
