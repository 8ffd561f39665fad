/* `darknet-explain <method>|all CFG WEIGHTS -list FILE -outdir DIR` (batch.c): every photo of a
 * list explained in one model load, each photo's outputs in DIR under the names a single-photo
 * run gives them with `-out DIR/`, and a summary of the list (DIR/detections.json, COCO-style, for
 * a detector; DIR/results.csv for a classifier); resumable. Part of the command line; not
 * installed. docs/batch.md is the user's description. */
#ifndef DX_BATCH_H
#define DX_BATCH_H
#include "explain.h"

typedef struct {
    const char *program;       /* names the errors and notes on stderr */
    const char *command;       /* argv[0]: the method's name or "all" (the progress line's name) */
    const char *cfg, *weights; /* as given: recorded in the summary */
    const char *list, *outdir;
    const dx_method *methods;  /* the method, or the methods `all` runs */
    int n_methods;
    int all;                   /* `all`: each photo's panel(s) too */
    dx_request req;            /* .method is set per method; .box DX_ALL_BOXES: every box */
    dx_output_options output;
    int resume;                /* continue the interrupted run of the same command in outdir */
    int names;                 /* -names was given: the summary names the classes */
    int argc;                  /* the command line (argv[0] the method): recorded, so that */
    char **argv;               /* -resume continues only a run of the same parameters */
} dx_batch_args;

/* Checks every photo of the list, then explains them in order into outdir (created when missing,
 * held with a lock), with a progress line per photo on stderr and what it wrote on stdout.
 * Returns 0, or -1 after one line on stderr (before the first photo: nothing written). */
int dx_batch_run(dx_model *m, const dx_batch_args *a);
#endif
