/* `darknet-explain all` (all.c): several methods on one image in one model load, committed all
 * or nothing, resumable. Part of the command line; not installed. */
#ifndef DX_ALL_H
#define DX_ALL_H
#include "explain.h"

/* What `all` explained, for the summaries of -list runs (batch.c): the photo's size and the first
 * method's targets, a class or each box explained. */
typedef struct {
    int cls;
    float score;               /* a class's probability, a box's score */
    int has_box;
    float x, y, w, h;          /* the box in the photo's pixels: top-left corner, size */
} dx_all_target;
typedef struct {
    int photo_w, photo_h;
    dx_all_target *targets;    /* malloc'd (NULL when n is 0) */
    int n;
} dx_all_found;

typedef struct {
    const char *program;       /* names the notes on stderr */
    const char *cfg, *weights, *image;
    const char *stem;          /* outputs STEM_<method>.* and STEM_panel.png */
    const dx_method *methods;
    int n_methods;
    dx_request req;            /* .method is set per method; .box DX_ALL_BOXES on a detector: every box */
    dx_output_options output;
    int resume;                /* reuse what an interrupted run of the same command finished */
    int argc;                  /* the command line (argv[0] "all"): recorded, so that -resume */
    char **argv;               /* reuses only a run of the same parameters */
    int names;                 /* -names was given: the summary names the class */
    int quiet;                 /* -list runs: no progress or summary lines (the notes stay) */
    dx_all_found *found;       /* NULL, or receives what was explained (on success) */
} dx_all_args;

/* Runs `all`: progress per method on stderr, what it wrote on stdout. Returns 0, or -1 with err
 * (nothing written; what an interrupted run left for -resume is removed only when this run
 * started over). */
int dx_all_run(dx_model *m, const dx_all_args *a, dx_error *err);
#endif
