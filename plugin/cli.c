/* darknet-explain <method> <cfg> <weights> <image> [-class N] [-layer L] [-out PREFIX] ... */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "explain.h"

static const char *const method_help[DX_METHOD_COUNT] = {
    [DX_METHOD_GRADCAM] =
        "Grad-CAM: weighs each channel of a layer's feature map by the mean gradient of the\n"
        "target score over it, sums, keeps the positive part.\n"
        "  -layer L     the layer (default: the last feature layer before the head)\n"
        "  -relu 0|1    keep negative evidence with 0 (default 1)\n",
    [DX_METHOD_SALIENCY] =
        "Saliency: the gradient of the target score with respect to the input pixels,\n"
        "max of |gradient| over the colour channels.\n",
};

static void usage(const char *program, FILE *f)
{
    fprintf(f,
            "usage: %s <method> <cfg> <weights> <image> [options]\n"
            "methods:", program);
    for (int k = 0; k < DX_METHOD_COUNT; ++k) fprintf(f, " %s", dx_method_name((dx_method)k));
    fprintf(f,
            "\n"
            "options (every method):\n"
            "  -class N        class to explain (default: the top-1 class)\n"
            "  -score logit|prob  explain the pre-softmax logit (default) or the probability\n"
            "  -names FILE     class names: a names list or a .data file with names=\n"
            "  -out PREFIX     write PREFIX.png, PREFIX.npy, PREFIX.raw.npy, PREFIX.json\n"
            "                  (default: <image name>_<method> in the current directory)\n"
            "  -png_width W    draw the PNG W pixels wide (default: the photo's width)\n"
            "  -timing         add each layer's forward time to the JSON\n"
            "  -verbose        show Darknet's own layer table and loading messages\n"
            "%s <method> -h    help for one method\n", program);
}

typedef struct {
    const char *cfg, *weights, *image, *out, *names;
    dx_request req;
    dx_output_options output;
    int verbose, timing;
} cli_args;

static int parse_int(const char *program, const char *flag, const char *value, int lo, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end || v < lo || v > INT_MAX) {
        fprintf(stderr, "%s: %s takes a whole number >= %d, not '%s'\n", program, flag, lo, value);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_args(const char *program, int argc, char **argv, cli_args *a)
{
    const char *positional[3];
    int npos = 0;
    for (int k = 1; k < argc; ++k) {
        const char *arg = argv[k];
        if (arg[0] != '-' || arg[1] == 0) {
            if (npos == 3) {
                fprintf(stderr, "%s: unexpected argument '%s'\n", program, arg);
                return -1;
            }
            positional[npos++] = arg;
            continue;
        }
        if (!strcmp(arg, "-verbose")) {
            a->verbose = 1;
            continue;
        }
        if (!strcmp(arg, "-timing")) {
            a->timing = 1;
            continue;
        }
        if (k + 1 >= argc) {
            fprintf(stderr, "%s: %s needs a value\n", program, arg);
            return -1;
        }
        const char *value = argv[++k];
        int rc = 0;
        if (!strcmp(arg, "-class")) rc = parse_int(program, arg, value, 0, &a->req.class_id);
        else if (!strcmp(arg, "-layer")) rc = parse_int(program, arg, value, 0, &a->req.layer);
        else if (!strcmp(arg, "-png_width")) rc = parse_int(program, arg, value, 1, &a->output.png_width);
        else if (!strcmp(arg, "-relu")) {
            rc = parse_int(program, arg, value, 0, &a->req.relu);
            if (!rc && a->req.relu > 1) {
                fprintf(stderr, "%s: -relu takes 0 or 1, not '%s'\n", program, value);
                rc = -1;
            }
        } else if (!strcmp(arg, "-out")) a->out = value;
        else if (!strcmp(arg, "-names")) a->names = value;
        else if (!strcmp(arg, "-score")) {
            if (!strcmp(value, "logit")) a->req.score = DX_SCORE_LOGIT;
            else if (!strcmp(value, "prob")) a->req.score = DX_SCORE_PROB;
            else {
                fprintf(stderr, "%s: -score takes logit or prob, not '%s'\n", program, value);
                rc = -1;
            }
        } else {
            fprintf(stderr, "%s: unknown option '%s' (see %s -h)\n", program, arg, program);
            rc = -1;
        }
        if (rc) return -1;
    }
    if (npos < 3) {
        fprintf(stderr, "%s: %s needs <cfg> <weights> <image> (see %s -h)\n", program, argv[0], program);
        return -1;
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

int dx_cli_run(const char *program, int argc, char **argv)
{
    if (argc < 1 || !strcmp(argv[0], "-h") || !strcmp(argv[0], "--help") || !strcmp(argv[0], "help")) {
        usage(program, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    cli_args a = {0};
    dx_request_init(&a.req);
    if (dx_method_from_name(argv[0], &a.req.method) != 0) {
        fprintf(stderr, "%s: unknown method '%s' (see %s -h)\n", program, argv[0], program);
        return 2;
    }
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("usage: %s %s <cfg> <weights> <image> [options]\n%s(and the options of every method: %s -h)\n",
               program, argv[0], method_help[a.req.method], program);
        return 0;
    }
    if (parse_args(program, argc, argv, &a) != 0) return 2;

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

    dx_result r;
    int rc = dx_explain_file(m, a.image, &a.req, &r, &err);
    if (rc == 0) {
        char prefix[1024];
        if (a.out) snprintf(prefix, sizeof prefix, "%s", a.out);
        else default_prefix(a.image, argv[0], prefix, sizeof prefix);
        rc = dx_write_outputs(m, &r, prefix, &a.output, &err);
        if (rc == 0) {
            printf("%s: %s %.2f%% (class %d)\n", a.image, dx_class_name(m, r.class_id), 100 * r.prob, r.class_id);
            printf("wrote %s.png %s.npy %s.raw.npy %s.json\n", prefix, prefix, prefix, prefix);
        }
        dx_result_free(&r);
    }
    if (rc != 0) fprintf(stderr, "%s: %s\n", program, err.msg);
    dx_close(m);
    return rc == 0 ? 0 : 1;
}

/* The second front door: `darknet explain <method> ...` in a Darknet built with patches/, whose
 * dispatcher passes its whole argv (argv[1] is "explain"). */
void run_explain(int argc, char **argv)
{
    exit(dx_cli_run("darknet explain", argc - 2, argv + 2));
}
