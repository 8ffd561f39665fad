/* darknet-explain <method> <cfg> <weights> <image> [-class N] [-layer L] [-out PREFIX] ... */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "options.h"
#include "explain.h"
#include "methods/methods.h"
#include "eval/eval.h"

typedef struct {
    const char *cfg, *weights, *image, *out, *names;
    const char *methods; /* `all`: the methods to run */
    const char *boxes, *region; /* detectors: -boxes all, -region x,y,w,h */
    dx_request req;
    dx_output_options output;
    int verbose, timing;
} cli_args;

/* The options, one row each: the parser, the usage text and the checks come from this table. */
#define AT(field) offsetof(cli_args, field)
static const dx_option options[] = {
    {"-class", OPT_INT, AT(req.class_id), 0, INT_MAX, NULL, "N  class to explain (default: the top-1 class)"},
    {"-score", OPT_CHOICE, AT(req.score), 0, 0, "logit|prob",
     "logit|prob  explain the pre-softmax logit (default) or the probability"},
    {"-layer", OPT_LAYERS, AT(req.layers), 0, INT_MAX, NULL,
     "L[,L2..]  CAM methods: the layer(s) (default: see README); lrp: map layer L's relevance"},
    {"-relu", OPT_INT, AT(req.relu), 0, 1, NULL, "0|1  CAM methods: keep negative evidence with 0 (default 1)"},
    {"-eigen_smooth", OPT_FLAG, AT(req.eigen_smooth), 0, 0, NULL,
     "CAM methods: the map is the first principal component of the weighted activations"},
    {"-aug_smooth", OPT_FLAG, AT(req.aug_smooth), 0, 0, NULL,
     "CAM methods: average the maps of a horizontal flip and a 1.1x zoom"},
    {"-composite", OPT_TEXT, AT(req.lrp_composite), 0, 0, NULL,
     "NAME  lrp: epsilon-gamma-box (default), epsilon-plus or epsilon-plus-flat"},
    {"-rules", OPT_TEXT, AT(req.lrp_rules), 0, 0, NULL, "SPEC  lrp: rules per layer range, e.g. 0:zb,1-10:gamma=0.25,11-:epsilon=0.01"},
    {"-seed", OPT_U64, AT(req.seed), 0, 0, NULL, "S  seed of every random draw (default 1)"},
    {"-batch", OPT_INT, AT(req.batch), 1, 4096, NULL, "N  forward passes per batch for many-pass methods (default 1)"},
    {"-methods", OPT_TEXT, AT(methods), 0, 0, NULL, "a,b,..  with 'all': the methods to run (default: every one that applies)"},
    {"-steps", OPT_INT, AT(req.steps), 1, 100000, NULL, "N  ig: intervals of the path (default 64)"},
    {"-baseline", OPT_TEXT, AT(req.baseline), 0, 0, NULL,
     "B  ig: black (default), blur, noise or an image file"},
    {"-samples", OPT_INT, AT(req.samples), 1, 1000000, NULL,
     "N  smoothgrad, smoothgrad2, vargrad: noisy copies (default 25); lime, kernelshap: perturbed inputs (default 400)"},
    {"-noise", OPT_FLOAT, AT(req.noise), 0, 10, NULL,
     "S  smoothgrad, smoothgrad2, vargrad: noise sd / input range (default 0.15)"},
    {"-box", OPT_INT, AT(req.box), 0, INT_MAX, NULL, "K  detectors: explain box K (default 0, the highest score)"},
    {"-boxes", OPT_TEXT, AT(boxes), 0, 0, NULL, "all  detectors: explain every box above -thresh"},
    {"-target", OPT_CHOICE, AT(req.box_target), 0, 0, "score|class|obj|x|y|w|h",
     "score|class|obj|x|y|w|h  detectors: what a box's map explains (default score = obj x class)"},
    {"-thresh", OPT_FLOAT, AT(req.thresh), 0, 1, NULL, "T  detectors: box score threshold (default .5)"},
    {"-hier", OPT_FLOAT, AT(req.hier), 0, 1, NULL, "T  detectors: hierarchy threshold, as Darknet's (default .5)"},
    {"-nms", OPT_FLOAT, AT(req.nms), 0, 1, NULL, "T  detectors: NMS IoU threshold, 0 for none (default .45)"},
    {"-region", OPT_TEXT, AT(region), 0, 0, NULL,
     "x,y,w,h  detectors: explain the anchor best matching this photo region, even below -thresh"},
    {"-occlude", OPT_CHOICE, AT(req.occlude), 0, 0, "black|mean|blur",
     "black|mean|blur  perturbation methods: what removed pixels become (default black)"},
    {"-window", OPT_INT, AT(req.window), 1, 100000, NULL, "W  occlusion: window side, network-input pixels (default 32)"},
    {"-stride", OPT_INT, AT(req.stride), 1, 100000, NULL, "S  occlusion: window step (default 16)"},
    {"-masks", OPT_INT, AT(req.masks), 1, 1000000, NULL, "N  rise, drise: random masks (default: rise 300, drise 1000)"},
    {"-cell", OPT_INT, AT(req.cell), 1, 1000, NULL, "s  rise, drise: mask grid cells per side (default: rise 7, drise 20)"},
    {"-p", OPT_FLOAT, AT(req.keep_prob), 0.01, 1, NULL, "P  rise, drise: probability a cell is kept (default 0.5)"},
    {"-segments", OPT_INT, AT(req.segments), 1, 10000, NULL, "K  LIME, KernelSHAP: SLIC superpixels (default 50)"},
    {"-kernel_width", OPT_FLOAT, AT(req.kernel_width), 1e-3, 100, NULL,
     "w  LIME: kernel width on cosine distance (default 0.25)"},
    {"-names", OPT_TEXT, AT(names), 0, 0, NULL, "FILE  class names: a names list or a .data file with names="},
    {"-out", OPT_TEXT, AT(out), 0, 0, NULL,
     "PREFIX  write PREFIX.png, .npy, .raw.npy, .json (default: <image name>_<method> here)"},
    {"-png_width", OPT_INT, AT(output.png_width), 1, 100000, NULL, "W  draw the PNG W pixels wide (default: the photo's)"},
    {"-timing", OPT_FLAG, AT(timing), 0, 0, NULL, "add each layer's forward time to the JSON"},
    {"-verbose", OPT_FLAG, AT(verbose), 0, 0, NULL, "show Darknet's own layer table and loading messages"},
};
#undef AT
#define N_OPTIONS (sizeof options / sizeof options[0])

#define ALL_HELP \
    "all: several methods on one image in one model load. Writes each method's outputs as\n" \
    "PREFIX_<method>.png/.npy/.raw.npy/.json and a side-by-side panel PREFIX_panel.png with\n" \
    "each method's name under its map (PREFIX: -out, default the image's name).\n" \
    "  -methods a,b,..  the methods (default: every method that applies to the model)\n" \
    "  -png_width W     the panel's tiles W pixels wide (default: the photo's, at most 320)\n"

static void usage(const char *program, FILE *f)
{
    fprintf(f, "usage: %s <method> <cfg> <weights> <image> [options]\nmethods:", program);
    for (int k = 0; k < DX_METHOD_COUNT; ++k) fprintf(f, " %s", dx_method_name((dx_method)k));
    fprintf(f, " all\noptions:\n");
    dx_options_usage(f, options, N_OPTIONS, 11);
    fprintf(f, "%s <method> -h    help for one method\n", program);
    fprintf(f, "%s eval -h        evaluation runs: metrics over an image list (and eval-merge)\n", program);
}

static int parse_args(const char *program, int argc, char **argv, cli_args *a)
{
    const char *positional[3];
    int npos;
    if (dx_options_parse(program, options, N_OPTIONS, argc, argv, a, positional, 3, &npos) != 0) return -1;
    if (npos < 3) {
        fprintf(stderr, "%s: %s needs <cfg> <weights> <image> (see %s -h)\n", program, argv[0], program);
        return -1;
    }
    if (a->boxes && strcmp(a->boxes, "all")) {
        fprintf(stderr, "%s: -boxes takes all, not '%s'\n", program, a->boxes);
        return -1;
    }
    if (a->boxes) a->req.box = DX_ALL_BOXES;
    if (a->region) {
        float *r = a->req.region;
        char tail;
        if (sscanf(a->region, "%f,%f,%f,%f%c", &r[0], &r[1], &r[2], &r[3], &tail) != 4 || !(r[2] > 0) ||
            !(r[3] > 0)) {
            fprintf(stderr, "%s: -region takes x,y,w,h in photo pixels with w, h > 0, not '%s'\n", program,
                    a->region);
            return -1;
        }
        a->req.use_region = 1;
    }
    a->cfg = positional[0];
    a->weights = positional[1];
    a->image = positional[2];
    return 0;
}

/* <image name without extension>_<method>, in the current directory */
static void default_prefix(const char *image, const char *method, char *out, size_t len)
{
    const char *slash = strrchr(image, '/');
    const char *name = slash ? slash + 1 : image;
    const char *dot = strrchr(name, '.');
    int stem = dot && dot != name ? (int)(dot - name) : (int)strlen(name);
    snprintf(out, len, "%.*s_%s", stem, name, method);
}

static void print_target(const cli_args *a, const dx_model *m, const dx_result *r)
{
    if (a->names)
        printf("%s: %s %.2f%% (class %d)\n", a->image, dx_class_name(m, r->class_id), 100 * r->prob, r->class_id);
    else
        printf("%s: class %d %.2f%%\n", a->image, r->class_id, 100 * r->prob);
}

static int explain_one(const char *program, dx_model *m, const cli_args *a, const char *method_name)
{
    dx_error err;
    dx_result r;
    int rc = dx_explain_file(m, a->image, &a->req, &r, &err);
    if (rc == 0) {
        char prefix[1024];
        if (a->out) snprintf(prefix, sizeof prefix, "%s", a->out);
        else default_prefix(a->image, method_name, prefix, sizeof prefix);
        rc = dx_write_outputs(m, &r, prefix, &a->output, &err);
        if (rc == 0) {
            print_target(a, m, &r);
            printf("wrote %s.png %s.npy %s.raw.npy %s.json\n", prefix, prefix, prefix, prefix);
        }
        dx_result_free(&r);
    }
    if (rc != 0) fprintf(stderr, "%s: %s\n", program, err.msg);
    return rc;
}

/* The methods `all` runs: the -methods list, or every method that applies to the model. */
static int methods_to_run(const char *program, const dx_model *m, const char *list, dx_method *out)
{
    int n = 0;
    if (!list) {
        for (int k = 0; k < DX_METHOD_COUNT; ++k)
            if (dx_method_applies(m, (dx_method)k)) out[n++] = (dx_method)k;
        return n;
    }
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), p);
        if (n == DX_METHOD_COUNT || dx_method_from_name(name, &out[n]) != 0) {
            fprintf(stderr, "%s: -methods: %s '%s' (see %s -h)\n", program,
                    n == DX_METHOD_COUNT ? "too many methods at" : "unknown method", name, program);
            return -1;
        }
        ++n;
        p += len + (p[len] == ',');
    }
    if (n == 0) fprintf(stderr, "%s: -methods: no method given\n", program);
    return n;
}

/* `all`: several methods on one image, one model load; each method's outputs as PREFIX_<method>
 * and a panel PREFIX_panel.png. Nothing is written unless every method succeeded. */
static int explain_all(const char *program, dx_model *m, const cli_args *a)
{
    dx_method methods[DX_METHOD_COUNT];
    int n = methods_to_run(program, m, a->methods, methods);
    if (n <= 0) {
        if (n == 0) fprintf(stderr, "%s: no method applies to %s\n", program, a->cfg);
        return -1;
    }
    dx_result *results = calloc((size_t)n, sizeof *results);
    if (!results) return -1;
    dx_error err;
    int done = 0, rc = 0;
    char stem[1024];
    if (a->out) snprintf(stem, sizeof stem, "%s", a->out);
    else default_prefix(a->image, "", stem, sizeof stem);
    size_t stem_len = strlen(stem);
    if (!a->out && stem_len && stem[stem_len - 1] == '_') stem[--stem_len] = 0;
    for (; done < n && rc == 0; ++done) {
        dx_request req = a->req;
        req.method = methods[done];
        rc = dx_explain_file(m, a->image, &req, &results[done], &err);
        if (rc != 0) done--; /* results[done] was freed by the failed call */
    }
    for (int k = 0; k < n && rc == 0; ++k) {
        char prefix[1100];
        snprintf(prefix, sizeof prefix, "%s_%s", stem, dx_method_name(methods[k]));
        rc = dx_write_outputs(m, &results[k], prefix, &a->output, &err);
        if (rc == 0)
            printf("%s (%.0f ms): wrote %s.png %s.npy %s.raw.npy %s.json\n", dx_method_name(methods[k]),
                   results[k].ms_method, prefix, prefix, prefix, prefix);
    }
    if (rc == 0) {
        char panel[1100];
        snprintf(panel, sizeof panel, "%s_panel.png", stem);
        rc = dx_write_panel(m, results, n, panel, &a->output, &err);
        if (rc == 0) {
            print_target(a, m, &results[0]);
            printf("wrote %s\n", panel);
        }
    }
    if (rc != 0) fprintf(stderr, "%s: %s\n", program, err.msg);
    for (int k = 0; k < done; ++k) dx_result_free(&results[k]);
    free(results);
    return rc;
}

/* Detectors: the boxes' maps and the JSON; no box above -thresh is not an error (the JSON
 * says so, exit 0). */
static int run_detector(dx_model *m, const cli_args *a, const char *method, dx_error *err)
{
    dx_box_explanations e;
    if (dx_explain_boxes_file(m, a->image, &a->req, &e, err) != 0) return -1;
    char prefix[1024];
    if (a->out) snprintf(prefix, sizeof prefix, "%s", a->out);
    else default_prefix(a->image, method, prefix, sizeof prefix);
    int rc = dx_write_box_outputs(m, &e, prefix, &a->output, err);
    if (rc == 0 && e.n == 0)
        printf("%s: no detection above -thresh %g; wrote %s.json\n", a->image, a->req.thresh, prefix);
    for (int k = 0; rc == 0 && k < e.n; ++k) {
        const dx_detection *d = &e.results[k].box;
        char stem[32];
        if (a->req.use_region) snprintf(stem, sizeof stem, "region");
        else snprintf(stem, sizeof stem, "box%d", a->req.box >= 0 ? a->req.box : k);
        printf("%s: %s %s %.2f%% at %.0f,%.0f %.0fx%.0f (layer %d anchor %d cell %d,%d); wrote %s_%s.png %s_%s.npy\n",
               a->image, stem, dx_class_name(m, d->cls), 100 * d->score, d->x, d->y, d->w, d->h, d->layer,
               d->anchor, d->row, d->col, prefix, stem, prefix, stem);
    }
    if (rc == 0 && e.n > 0) printf("wrote %s_boxes.png %s.json\n", prefix, prefix);
    dx_box_explanations_free(&e);
    return rc;
}

/* Everything dx_cli_run does before it opens a file: -1 when it goes on with *a and *all, else
 * the exit code (help printed, or a one-line usage error). */
static int prepare(const char *program, int argc, char **argv, cli_args *a, int *all)
{
    if (argc < 1 || !strcmp(argv[0], "-h") || !strcmp(argv[0], "--help") || !strcmp(argv[0], "help")) {
        usage(program, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    *a = (cli_args){0};
    dx_request_init(&a->req);
    *all = !strcmp(argv[0], "all");
    if (!*all && dx_method_from_name(argv[0], &a->req.method) != 0) {
        fprintf(stderr, "%s: unknown method '%s' (see %s -h)\n", program, argv[0], program);
        return 2;
    }
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("usage: %s %s <cfg> <weights> <image> [options]\n%s(and the options of every method: %s -h)\n",
               program, argv[0], *all ? ALL_HELP : dx_method_help(a->req.method), program);
        return 0;
    }
    if (parse_args(program, argc, argv, a) != 0) return 2;
    if (a->methods && !*all) {
        fprintf(stderr, "%s: -methods goes with 'all', not with '%s'\n", program, argv[0]);
        return 2;
    }
    dx_method listed[DX_METHOD_COUNT];
    if (a->methods && methods_to_run(program, NULL, a->methods, listed) <= 0) return 2;
    return -1;
}

int dx_cli_check_args(const char *program, int argc, char **argv)
{
    if (argc >= 1 && !strcmp(argv[0], "eval")) return dx_eval_check_args(program, argc, argv);
    if (argc >= 1 && !strcmp(argv[0], "eval-merge")) return dx_eval_merge_check_args(program, argc, argv);
    cli_args a;
    int all;
    return prepare(program, argc, argv, &a, &all);
}

int dx_cli_run(const char *program, int argc, char **argv)
{
    if (argc >= 1 && !strcmp(argv[0], "eval")) return dx_eval_cli(program, argc, argv);
    if (argc >= 1 && !strcmp(argv[0], "eval-merge")) return dx_eval_merge_cli(program, argc, argv);
    cli_args a;
    int all, rc = prepare(program, argc, argv, &a, &all);
    if (rc >= 0) return rc;

    dx_error err;
    dx_open_options opt = {.names = a.names, .verbose = a.verbose};
    dx_model *m = dx_open(a.cfg, a.weights, &opt, &err);
    if (!m) {
        fprintf(stderr, "%s: %s\n", program, err.msg);
        return 1;
    }
    dx_set_layer_timing(m, a.timing);
    const char *warnings = dx_warnings(m);
    if (*warnings) fprintf(stderr, "%s", warnings);
    if (dx_is_detector(m) && !all) {
        rc = run_detector(m, &a, argv[0], &err);
        if (rc != 0) fprintf(stderr, "%s: %s\n", program, err.msg);
    } else {
        rc = all ? explain_all(program, m, &a) : explain_one(program, m, &a, argv[0]);
    }
    dx_close(m);
    return rc == 0 ? 0 : 1;
}

/* The second front door: `darknet explain <method> ...` in a Darknet built with patches/, whose
 * dispatcher passes its whole argv (argv[1] is "explain"). */
void run_explain(int argc, char **argv)
{
    exit(dx_cli_run("darknet explain", argc - 2, argv + 2));
}
