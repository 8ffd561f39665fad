/* darknet-explain visualize <cfg> <weights> (-class N|NAME|all | [-layer L] -channel C|all) [options]
 *
 * visualize's command line: its option table, the arguments checked before any file is opened,
 * the units resolved against the model, the run and its outputs (visualize.h). */
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "memory.h"
#include "model.h"
#include "options.h"
#include "targets.h"
#include "visualize/visualize.h"

typedef struct {
    const char *cfg, *weights, *channels, *classes, *names, *out, *outdir;
    int layer; /* -1: not given */
    int verbose;
    dx_vis_options vis;
} vis_args;

#define AT(field) offsetof(vis_args, field)
static const dx_option options[] = {
    {"-class", OPT_TEXT, AT(classes), 0, 0, NULL,
     "N|NAME|all  classes to visualise (a,b,..: several): the class logit, at the logit layer"},
    {"-layer", OPT_INT, AT(layer), 0, INT_MAX, NULL, "L  with -channel: the layer (default: the CAM layer)"},
    {"-channel", OPT_TEXT, AT(channels), 0, 0, NULL, "C|all  channels of -layer (a,b,..: several): their mean activation"},
    {"-names", OPT_TEXT, AT(names), 0, 0, NULL, "FILE  class names (default: the .data file beside the cfg, if any)"},
    {"-steps", OPT_INT, AT(vis.steps), 1, 100000, NULL, "N  gradient steps"},
    {"-lr", OPT_FLOAT, AT(vis.lr), 1e-6, 10, NULL, "R  step per rms-normalised gradient, in pixel units"},
    {"-jitter", OPT_INT, AT(vis.jitter), 0, 1000, NULL, "PX  roll the image by up to PX pixels each step"},
    {"-blur", OPT_FLOAT, AT(vis.blur), 0, 10, NULL, "SIGMA  Gaussian blur of SIGMA pixels, 0: none"},
    {"-blur_every", OPT_INT, AT(vis.blur_every), 1, 100000, NULL, "K  blur every K steps"},
    {"-l2", OPT_FLOAT, AT(vis.l2), 0, 1e6, NULL, "W  weight of the L2 pull toward grey"},
    {"-tv", OPT_FLOAT, AT(vis.tv), 0, 1e6, NULL, "W  weight of the total variation"},
    {"-seed", OPT_U64, AT(vis.seed), 0, 0, NULL, "S  seed of the initial noise and the jitter"},
    {"-out", OPT_TEXT, AT(out), 0, 0, NULL, "PREFIX  write PREFIX_class<N>.png/.npy, PREFIX_grid.png, PREFIX.json "
                                             "(default: the cfg's name)"},
    {"-outdir", OPT_TEXT, AT(outdir), 0, 0, NULL, "DIR  write them into DIR (an existing folder), named after the cfg"},
    {"-verbose", OPT_FLAG, AT(verbose), 0, 0, NULL, "show Darknet's layer table and loading messages"},
};
#undef AT
#define N_OPTIONS (sizeof options / sizeof options[0])

/* The arguments before the command line: the parser's start and -h's defaults. */
static void defaults(vis_args *a)
{
    *a = (vis_args){.layer = -1};
    dx_vis_options_init(&a->vis);
}

void dx_visualize_usage(const char *program, FILE *f)
{
    fprintf(f, "usage: %s visualize <cfg> <weights> -class N|NAME|all [options]\n"
               "       %s visualize <cfg> <weights> [-layer L] -channel C|all [options]\n"
               "activation maximisation: the image that maximises each unit, by gradient ascent from noise\n"
               "(docs/visualize.md)\noptions:\n", program, program);
    vis_args d;
    defaults(&d);
    dx_options_usage(f, options, N_OPTIONS, 12, NULL, &d);
}

/* Parses and checks what needs no file: -1 when the run goes on, else the exit status. */
static int prepare(const char *program, int argc, char **argv, vis_args *a)
{
    defaults(a);
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        dx_visualize_usage(program, stdout);
        return 0;
    }
    char who[256];
    snprintf(who, sizeof who, "%s visualize", program);
    const char *positional[2];
    int npos;
    if (dx_options_parse(who, options, N_OPTIONS, argc, argv, a, positional, 2, &npos) != 0) return 2;
    const char *wrong = npos < 2 ? "needs <cfg> <weights>"
                        : !a->classes == !a->channels ? "needs either -class or -channel"
                        : a->classes && a->layer >= 0 ? "-class visualises the logit layer's units; -layer goes with -channel"
                        : a->out && a->outdir ? "takes -out PREFIX or -outdir DIR, not both"
                                              : NULL;
    if (wrong) {
        fprintf(stderr, "%s: %s (see %s visualize -h)\n", who, wrong, program);
        return 2;
    }
    a->cfg = positional[0];
    a->weights = positional[1];
    return -1;
}

int dx_visualize_check_args(const char *program, int argc, char **argv)
{
    vis_args a;
    return prepare(program, argc, argv, &a);
}

/* One word of -class or -channel: a whole number, or (m != NULL) a class name; -1 when neither. */
static int class_of(const dx_model *m, const char *word, size_t len)
{
    char buf[256];
    if (len >= sizeof buf) return -1;
    memcpy(buf, word, len);
    buf[len] = 0;
    char *end;
    long v = strtol(buf, &end, 10);
    if (len > 0 && !*end && v >= 0 && v <= INT_MAX) return (int)v;
    if (!m) return -1;
    int matches, cls = dx_class_from_name(m, buf, &matches);
    return matches == 1 ? cls : -1;
}

/* The units of -class or -channel (a,b,.. or all) into *units (malloc'd), their count; -1 after
 * one line (a usage error), -2 out of memory (err). */
static int resolve_units(const char *who, const dx_model *m, const vis_args *a, dx_vis_unit **units, dx_error *err)
{
    const char *list = a->classes ? a->classes : a->channels;
    int layer = a->classes ? dx_find_logit_layer(m) : a->layer >= 0 ? a->layer : dx_default_layer(m);
    if (a->channels && (layer < 0 || layer >= m->n)) {
        fprintf(stderr, "%s: -layer %d is out of range: %s has layers 0..%d\n", who, layer, a->cfg, m->n - 1);
        return -1;
    }
    if (a->classes && dx_is_detector(m)) {
        fprintf(stderr, "%s: -class is for classifiers, and %s is a detector: use -layer L -channel C\n", who, a->cfg);
        return -1;
    }
    int all = !strcmp(list, "all");
    int count = all ? (a->classes ? dx_class_count(m) : m->net->layers[layer].out_c) : 1;
    for (const char *p = list; !all && *p; ++p) count += *p == ',';
    if (!(*units = dx_alloc((size_t)count, sizeof **units, "the units", err))) return -2;
    const char *p = list;
    for (int k = 0; k < count; ++k) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        int v = all ? k : a->classes ? class_of(m, p, len) : class_of(NULL, p, len);
        dx_vis_unit u = a->classes ? (dx_vis_unit){layer, -1, v} : (dx_vis_unit){layer, v, -1};
        if (v < 0) {
            fprintf(stderr, "%s: %s takes a,b,.. of %s or all, not '%.*s'\n", who, a->classes ? "-class" : "-channel",
                    a->classes ? "class numbers or names (-names)" : "whole numbers", (int)len, p);
            return -1;
        }
        if (dx_vis_check_unit(m, &u, err) != 0) {
            fprintf(stderr, "%s: %s\n", who, err->msg);
            return -1;
        }
        (*units)[k] = u;
        p = comma ? comma + 1 : p + len;
    }
    return count;
}

/* The cfg's .data beside it (PATH.cfg -> PATH.data) when it exists, for the class names. */
static const char *data_beside(const char *cfg, char *buf, size_t len)
{
    size_t n = strlen(cfg);
    struct stat st;
    if (n < 4 || strcmp(cfg + n - 4, ".cfg") || n + 2 > len) return NULL;
    snprintf(buf, len, "%.*s.data", (int)(n - 4), cfg);
    return stat(buf, &st) == 0 && S_ISREG(st.st_mode) ? buf : NULL;
}

int dx_visualize_cli(const char *program, int argc, char **argv)
{
    vis_args a;
    int rc = prepare(program, argc, argv, &a);
    if (rc >= 0) return rc;
    char who[256], data[1100], prefix[1100];
    snprintf(who, sizeof who, "%s visualize", program);
    /* the default prefix: the cfg's name without folder and extension */
    const char *base = strrchr(a.cfg, '/') ? strrchr(a.cfg, '/') + 1 : a.cfg;
    int stem_len = strlen(base) > 4 && !strcmp(base + strlen(base) - 4, ".cfg") ? (int)strlen(base) - 4 : (int)strlen(base);
    int len = a.out ? snprintf(prefix, sizeof prefix, "%s", a.out)
                    : snprintf(prefix, sizeof prefix, "%s%s%.*s", a.outdir ? a.outdir : "", a.outdir ? "/" : "",
                               stem_len, base);
    if (len < 0 || (size_t)len + 32 > sizeof prefix) { /* room for _L<layer>_c<channel>.png.part */
        fprintf(stderr, "%s: %s: the output prefix is too long\n", who, a.out ? "-out" : "-outdir");
        return 2;
    }
    struct stat st;
    if (a.outdir && (stat(a.outdir, &st) != 0 || !S_ISDIR(st.st_mode))) {
        fprintf(stderr, "%s: -outdir %s: not an existing folder\n", who, a.outdir);
        return 1;
    }
    dx_error err;
    dx_open_options opt = {.names = a.names ? a.names : data_beside(a.cfg, data, sizeof data), .verbose = a.verbose};
    dx_model *m = dx_open(a.cfg, a.weights, &opt, &err);
    if (!m) {
        fprintf(stderr, "%s: %s\n", who, err.msg);
        return 1;
    }
    dx_vis_unit *units = NULL;
    dx_vis_result *results = NULL;
    int n = resolve_units(who, m, &a, &units, &err), done = 0;
    rc = n == -1 ? 2 : 1;
    if (n < 0) goto finish;
    if (!(results = dx_alloc((size_t)n, sizeof *results, "the visualised images", &err))) goto finish;
    for (; done < n; ++done) {
        dx_vis_result *r = &results[done];
        if (dx_visualize(m, &units[done], &a.vis, r, &err) != 0) goto finish;
        char label[128];
        if (units[done].cls >= 0) snprintf(label, sizeof label, "class %d %s", units[done].cls, dx_class_name(m, units[done].cls));
        else snprintf(label, sizeof label, "layer %d channel %d", units[done].layer, units[done].channel);
        printf("%s: objective %.4g (noise %.4g)", label, r->objective, r->start_objective);
        if (r->top1 >= 0) printf(", top-1 %s %.3f", dx_class_name(m, r->top1), r->top1_prob);
        printf(", %.0f ms\n", r->ms);
    }
    rc = dx_vis_write(m, units, results, n, &a.vis, prefix, &err) == 0 ? 0 : 1;
finish:
    if (rc == 1 && n >= 0) fprintf(stderr, "%s: %s\n", who, err.msg);
    if (n == -2) fprintf(stderr, "%s: %s\n", who, err.msg);
    for (int k = 0; k < done; ++k) free(results[k].image);
    free(results);
    free(units);
    dx_close(m);
    return rc;
}
