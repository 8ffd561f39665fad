/* darknet-explain tcav <cfg> <weights> -layer L[,L2..] -concept NAME=DIR[,NAME=DIR..] -random DIR
 *                      -images LIST|DIR -outdir DIR [-classes all|a,b..] [-runs R] ...
 * TCAV's command line: its option table, the concept and class lists, the run, the table on
 * stdout. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "concepts/tcav.h"
#include "options.h"

typedef struct {
    dx_tcav_options opt; /* -layer writes opt.layers and opt.n_layers */
    const char *concepts, *classes, *outdir, *names;
    int top1, verbose;
    char concept_text[4096]; /* -concept's text, cut into the names and folders opt.concepts point at */
} tcav_args;

#define AT(field) offsetof(tcav_args, field)
static const dx_option options[] = {
    {"-layer", OPT_LAYERS, AT(opt.layers), 0, 0, NULL, "L[,L2..]  the layers whose activations the CAVs live in"},
    {"-concept", OPT_TEXT, AT(concepts), 0, 0, NULL, "NAME=DIR[,NAME=DIR..]  the concepts, each a folder of images"},
    {"-random", OPT_TEXT, AT(opt.random_dir), 0, 0, NULL,
     "DIR  images of no concept: cut into R + 1 random sets (R concept-vs-random, R random-vs-random CAVs)"},
    {"-images", OPT_TEXT, AT(opt.images), 0, 0, NULL, "LIST|DIR  the images to score (a list file or a folder)"},
    {"-classes", OPT_TEXT, AT(classes), 0, 0, NULL, "all|a,b,..  the classes to score, by number or name (default all)"},
    {"-top1", OPT_FLAG, AT(top1), 0, 0, NULL,
     "an image's class is the model's top-1 (default: the one class name in its file name, as Darknet's)"},
    {"-runs", OPT_INT, AT(opt.runs), 2, DX_TCAV_MAX_RUNS, NULL, "R  CAVs per concept, each against another random set"},
    {"-seed", OPT_U64, AT(opt.seed), 0, 0, NULL, "S  the random sets' and held-out splits' seed"},
    {"-lambda", OPT_DOUBLE, AT(opt.lambda), 0, 1e6, NULL, "L  the logistic regression's L2 weight"},
    {"-iters", OPT_INT, AT(opt.iters), 1, 100000, NULL, "N  its gradient steps"},
    {"-alpha", OPT_DOUBLE, AT(opt.alpha), 1e-12, 0.5, NULL, "A  significance level of the t-test"},
    {"-bonferroni", OPT_FLAG, AT(opt.bonferroni), 0, 0, NULL, "divide -alpha by the number of concepts"},
    {"-outdir", OPT_TEXT, AT(outdir), 0, 0, NULL, "DIR  tcav.json, tcav.csv, cav_<concept>_L<layer>.npy (created when missing)"},
    {"-names", OPT_TEXT, AT(names), 0, 0, NULL, "FILE  class names: a names list or a .data file with names="},
    {"-verbose", OPT_FLAG, AT(verbose), 0, 0, NULL, "show Darknet's layer table and loading messages"},
};
#undef AT
#define N_OPTIONS (sizeof options / sizeof options[0])

/* The arguments before the command line: the parser's start and -h's defaults. */
static void defaults(tcav_args *a)
{
    memset(a, 0, sizeof *a);
    dx_tcav_options_init(&a->opt);
}

void dx_tcav_usage(const char *program, FILE *f)
{
    fprintf(f, "usage: %s tcav <cfg> <weights> -layer L -concept NAME=DIR[,..] -random DIR -images LIST|DIR -outdir DIR "
               "[options]\nTesting with Concept Activation Vectors (docs/tcav.md)\noptions:\n", program);
    tcav_args d;
    defaults(&d);
    dx_options_usage(f, options, N_OPTIONS, 13, NULL, &d);
}

/* -concept's NAME=DIR list into a->opt.concepts: 0, or -1 after one line */
static int parse_concepts(const char *who, tcav_args *a)
{
    if (strlen(a->concepts) >= sizeof a->concept_text) {
        fprintf(stderr, "%s: -concept is longer than %zu characters\n", who, sizeof a->concept_text - 1);
        return -1;
    }
    strcpy(a->concept_text, a->concepts);
    for (char *p = a->concept_text; p;) {
        char *comma = strchr(p, ','), *eq = strchr(p, '=');
        if (comma) *comma = 0;
        if (!eq || eq == p || !eq[1] || a->opt.n_concepts == DX_TCAV_MAX_CONCEPTS) {
            fprintf(stderr, "%s: -concept takes 1 to %d NAME=DIR, comma-separated, not '%s'\n", who,
                    DX_TCAV_MAX_CONCEPTS, a->concepts);
            return -1;
        }
        *eq = 0;
        a->opt.concepts[a->opt.n_concepts++] = (dx_tcav_concept){p, eq + 1};
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

/* -1 with help printed (rc 0) or a usage line (rc 2); 0 when the run goes on */
static int prepare(const char *program, int argc, char **argv, tcav_args *a, const char **positional, int *rc)
{
    defaults(a);
    char who[256];
    snprintf(who, sizeof who, "%s tcav", program);
    *rc = 2;
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        dx_tcav_usage(program, stdout);
        *rc = 0;
        return -1;
    }
    int npos;
    if (dx_options_parse(who, options, N_OPTIONS, argc, argv, a, positional, 2, &npos) != 0) return -1;
    if (npos < 2 || a->opt.n_layers == 0 || !a->concepts || !a->opt.random_dir || !a->opt.images || !a->outdir) {
        fprintf(stderr, "%s: needs <cfg> <weights> -layer L -concept NAME=DIR -random DIR -images LIST|DIR -outdir DIR "
                        "(see %s tcav -h)\n", who, program);
        return -1;
    }
    if (a->opt.n_layers < 0) {
        fprintf(stderr, "%s: -layer takes layer indices (auto is the CAM methods')\n", who);
        return -1;
    }
    a->opt.label = a->top1 ? DX_TCAV_LABEL_TOP1 : DX_TCAV_LABEL_PATH;
    return parse_concepts(who, a);
}

int dx_tcav_check_args(const char *program, int argc, char **argv)
{
    tcav_args a;
    const char *positional[2];
    int rc;
    return prepare(program, argc, argv, &a, positional, &rc) == 0 ? -1 : rc; /* -1: the run would go on */
}

/* -classes by number or name into a->opt.classes (all: left empty); 0 or -1 after one line */
static int parse_classes(const char *program, const dx_model *m, tcav_args *a)
{
    if (!a->classes || !strcmp(a->classes, "all")) return 0;
    char text[4096];
    snprintf(text, sizeof text, "%s", a->classes);
    for (char *p = text, *next; p; p = next) {
        next = strchr(p, ',');
        if (next) *next++ = 0;
        char *end;
        long v = strtol(p, &end, 10);
        int matches = 0, cls = *p && !*end ? (int)v : dx_class_from_name(m, p, &matches);
        if (cls < 0 || cls >= dx_class_count(m) || a->opt.n_classes == DX_TCAV_MAX_CLASSES) {
            fprintf(stderr, "%s tcav: -classes: '%s' is no class of the model (0..%d, or a name of -names), or more "
                            "than %d classes\n", program, p, dx_class_count(m) - 1, DX_TCAV_MAX_CLASSES);
            return -1;
        }
        a->opt.classes[a->opt.n_classes++] = cls;
    }
    return 0;
}

static void print_table(const dx_model *m, const dx_tcav_result *r)
{
    printf("layer  concept          class            TCAV (mean+-std)  random (mean+-std)  p         significant\n");
    for (int l = 0; l < r->n_layers; ++l)
        for (int k = 0; k < r->n_concepts; ++k)
            for (int c = 0; c < r->n_classes; ++c) {
                const dx_tcav_cell *x = dx_tcav_cell_of(r, l, k, c), *rnd = dx_tcav_cell_of(r, l, r->n_concepts, c);
                printf("%-6d %-16s %-16s %.3f +- %.3f     %.3f +- %.3f       %-9.3g %s\n", r->opt.layers[l],
                       r->opt.concepts[k].name, dx_class_name(m, r->opt.classes[c]), x->mean, x->std, rnd->mean,
                       rnd->std, x->p, x->significant ? "yes" : "no");
            }
}

int dx_tcav_cli(const char *program, int argc, char **argv)
{
    tcav_args a;
    const char *positional[2];
    int rc;
    if (prepare(program, argc, argv, &a, positional, &rc) != 0) return rc;
    dx_error err;
    dx_open_options open = {.names = a.names, .verbose = a.verbose};
    dx_model *m = dx_open(positional[0], positional[1], &open, &err);
    if (!m) {
        fprintf(stderr, "%s tcav: %s\n", program, err.msg);
        return 1;
    }
    if (parse_classes(program, m, &a) != 0) {
        dx_close(m);
        return 2;
    }
    dx_tcav_result res;
    rc = dx_tcav_run(m, &a.opt, &res, &err);
    if (rc == 0) {
        rc = dx_tcav_write(m, &res, a.outdir, argc, argv, &err);
        if (rc == 0) {
            print_table(m, &res);
            printf("wrote %s/tcav.json, tcav.csv and %d CAV files (%.1f s)\n", a.outdir, res.n_layers * res.n_concepts,
                   res.ms / 1000);
        }
        dx_tcav_result_free(&res);
    }
    if (rc != 0) fprintf(stderr, "%s tcav: %s\n", program, err.msg);
    dx_close(m);
    return rc == 0 ? 0 : 1;
}
