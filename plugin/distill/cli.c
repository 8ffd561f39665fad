/* darknet-explain distill <cfg> <weights> -list FILE [-features penultimate|pooled:L|csv:FILE]
 *                         [-depth N] [-min_leaf N] [-holdout F] [-seed S] [-outdir DIR]
 *
 * distill's command line: its option table, the -features spec, the entry points. The run is
 * distill.c's. */
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "distill/distill.h"
#include "options.h"

#define AT(field) offsetof(dx_distill_args, field)
static const dx_option options[] = {
    {"-list", OPT_TEXT, AT(list), 0, 0, NULL, "FILE  the images, one path a line (blank and # lines skipped)"},
    {"-features", OPT_TEXT, AT(features), 0, 0, NULL,
     "penultimate|pooled:L|csv:FILE  what the tree splits on (default penultimate: the input of the logit layer, "
     "averaged per channel; pooled:L: layer L's; csv:FILE: concept features per image)"},
    {"-depth", OPT_INT, AT(tree.max_depth), 0, 12, NULL, "N  the tree's depth limit"},
    {"-min_leaf", OPT_INT, AT(tree.min_leaf), 1, INT_MAX, NULL, "N  training images per leaf, at least"},
    {"-holdout", OPT_FLOAT, AT(holdout), 0, 0.9, NULL, "F  share of the images held out for the fidelity"},
    {"-seed", OPT_U64, AT(seed), 0, 0, NULL, "S  seed of the train/held-out split"},
    {"-outdir", OPT_TEXT, AT(outdir), 0, 0, NULL, "DIR  output folder (default distill-out)"},
    {"-thresh", OPT_FLOAT, AT(thresh), 0, 1, NULL,
     "T  detectors: the decision is the class of the best box scoring above T after NMS, else none"},
    {"-names", OPT_TEXT, AT(names), 0, 0, NULL, "FILE  class names (a names list or a .data file)"},
    {"-verbose", OPT_FLAG, AT(verbose), 0, 0, NULL, "show Darknet's layer table and loading messages"},
    {"-max_pixels", OPT_INT, AT(max_pixels), 1, INT_MAX, NULL, "N  refuse images of more than N pixels"},
};
#undef AT
#define N_OPTIONS (sizeof options / sizeof options[0])

/* The arguments before the command line: the parser's start and -h's defaults; the detector's
 * threshold as every method's (dx_request_init). */
static void defaults(dx_distill_args *a)
{
    dx_request req;
    dx_request_init(&req);
    *a = (dx_distill_args){.features = "penultimate", .outdir = "distill-out", .tree = {4, 5}, .holdout = 0.3f,
                           .thresh = req.thresh, .seed = 1, .max_pixels = DX_DEFAULT_MAX_PIXELS};
}

void dx_distill_usage(const char *program, FILE *f)
{
    fprintf(f, "usage: %s distill <cfg> <weights> -list FILE [options]\n"
               "a depth-limited decision tree (CART, Gini) mimicking the network's decision (a classifier's top-1\n"
               "class; a detector's best box's class or none) from per-image\n"
               "features; its fidelity on held-out images; DIR/tree.txt, tree.json, tree.png, distill.csv\n"
               "options:\n",
            program);
    dx_distill_args d;
    defaults(&d);
    dx_options_usage(f, options, N_OPTIONS, 12, NULL, &d);
}

/* -1 when the run goes on with *a, else the exit code (help printed, or a one-line usage error) */
static int prepare(const char *program, int argc, char **argv, dx_distill_args *a)
{
    defaults(a);
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        dx_distill_usage(program, stdout);
        return 0;
    }
    char who[256];
    snprintf(who, sizeof who, "%s distill", program);
    const char *positional[2];
    int npos;
    if (dx_options_parse(who, options, N_OPTIONS, argc, argv, a, positional, 2, &npos) != 0) return 2;
    if (npos < 2 || !a->list) {
        fprintf(stderr, "%s: needs <cfg> <weights> -list FILE (see %s -h)\n", who, who);
        return 2;
    }
    a->cfg = positional[0];
    a->weights = positional[1];
    const char *f = a->features;
    char *end;
    if (!strcmp(f, "penultimate")) {
        a->source = DX_DISTILL_PENULTIMATE;
    } else if (!strncmp(f, "pooled:", 7) && f[7] >= '0' && f[7] <= '9' &&
               (a->layer = (int)strtol(f + 7, &end, 10), !*end) && a->layer < 100000) {
        a->source = DX_DISTILL_LAYER;
    } else if (!strncmp(f, "csv:", 4) && f[4]) {
        a->source = DX_DISTILL_CSV;
        a->csv = f + 4;
    } else {
        fprintf(stderr, "%s: -features takes penultimate, pooled:L (a layer index) or csv:FILE, not '%s'\n", who, f);
        return 2;
    }
    return -1;
}

int dx_distill_check_args(const char *program, int argc, char **argv)
{
    dx_distill_args a;
    return prepare(program, argc, argv, &a);
}

int dx_distill_cli(const char *program, int argc, char **argv)
{
    dx_distill_args a;
    int rc = prepare(program, argc, argv, &a);
    if (rc >= 0) return rc;
    dx_error err;
    if (dx_distill_run(&a, stdout, NULL, &err) != 0) {
        fprintf(stderr, "%s distill: %s\n", program, err.msg);
        return 1;
    }
    return 0;
}
