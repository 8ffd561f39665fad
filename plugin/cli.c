/* darknet-explain <method> <cfg> <weights> <image> [-class N] [-layer L] [-out PREFIX] ... */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "explain.h"

typedef struct {
    const char *cfg, *weights, *image, *out, *names;
    dx_request req;
    dx_output_options output;
    int verbose, timing;
} cli_args;

/* The options, one row each: the parser, the usage text and the checks come from this table. */
typedef enum {
    OPT_FLAG,   /* no value: sets an int to 1 */
    OPT_INT,    /* a whole number in [lo, hi] */
    OPT_FLOAT,  /* a number in [lo, hi] */
    OPT_U64,    /* a whole number >= 0 (seeds) */
    OPT_TEXT,   /* a string (a path, a spec) */
    OPT_CHOICE, /* one of the '|'-separated words of `choices`; stores its index as an int */
    OPT_LAYERS  /* L or L1,L2,..: into req.layers / req.n_layers */
} opt_kind;

typedef struct {
    const char *flag;
    opt_kind kind;
    size_t offset; /* into cli_args */
    double lo, hi;
    const char *choices;
    const char *help;
} cli_option;

#define AT(field) offsetof(cli_args, field)
static const cli_option options[] = {
    {"-class", OPT_INT, AT(req.class_id), 0, INT_MAX, NULL, "N  class to explain (default: the top-1 class)"},
    {"-score", OPT_CHOICE, AT(req.score), 0, 0, "logit|prob",
     "logit|prob  explain the pre-softmax logit (default) or the probability"},
    {"-layer", OPT_LAYERS, AT(req.layers), 0, INT_MAX, NULL,
     "L[,L2..]  CAM methods: the layer(s) (default: see README)"},
    {"-relu", OPT_INT, AT(req.relu), 0, 1, NULL, "0|1  CAM methods: keep negative evidence with 0 (default 1)"},
    {"-seed", OPT_U64, AT(req.seed), 0, 0, NULL, "S  seed of every random draw (default 1)"},
    {"-batch", OPT_INT, AT(req.batch), 1, 4096, NULL, "N  forward passes per batch for many-pass methods (default 1)"},
    {"-names", OPT_TEXT, AT(names), 0, 0, NULL, "FILE  class names: a names list or a .data file with names="},
    {"-out", OPT_TEXT, AT(out), 0, 0, NULL,
     "PREFIX  write PREFIX.png, .npy, .raw.npy, .json (default: <image name>_<method> here)"},
    {"-png_width", OPT_INT, AT(output.png_width), 1, 100000, NULL, "W  draw the PNG W pixels wide (default: the photo's)"},
    {"-timing", OPT_FLAG, AT(timing), 0, 0, NULL, "add each layer's forward time to the JSON"},
    {"-verbose", OPT_FLAG, AT(verbose), 0, 0, NULL, "show Darknet's own layer table and loading messages"},
};
#undef AT
#define N_OPTIONS (sizeof options / sizeof options[0])

static void usage(const char *program, FILE *f)
{
    fprintf(f, "usage: %s <method> <cfg> <weights> <image> [options]\nmethods:", program);
    for (int k = 0; k < DX_METHOD_COUNT; ++k) fprintf(f, " %s", dx_method_name((dx_method)k));
    fprintf(f, "\noptions:\n");
    for (size_t k = 0; k < N_OPTIONS; ++k) fprintf(f, "  %-11s %s\n", options[k].flag, options[k].help);
    fprintf(f, "%s <method> -h    help for one method\n", program);
}

static int parse_choice(const char *choices, const char *value, int *out)
{
    int index = 0;
    size_t len = strlen(value);
    for (const char *c = choices; *c; ++index) {
        const char *bar = strchr(c, '|');
        size_t n = bar ? (size_t)(bar - c) : strlen(c);
        if (n == len && !strncmp(c, value, n)) {
            *out = index;
            return 0;
        }
        c += n + (bar != NULL);
    }
    return -1;
}

static int parse_layers(const char *value, int *layers, int *count)
{
    int n = 0;
    const char *p = value;
    for (;;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || v < 0 || v > INT_MAX || n == DX_MAX_LAYERS) return -1;
        layers[n++] = (int)v;
        if (*end == 0) break;
        if (*end != ',') return -1;
        p = end + 1;
    }
    *count = n;
    return 0;
}

/* Parses one option's value into a; 0 on success, else prints the one-line reason. */
static int parse_option(const char *program, const cli_option *o, const char *value, cli_args *a)
{
    char *field = (char *)a + o->offset, *end;
    errno = 0;
    switch (o->kind) {
    case OPT_FLAG:
        *(int *)field = 1;
        return 0;
    case OPT_INT: {
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end || v < o->lo || v > o->hi) break;
        *(int *)field = (int)v;
        return 0;
    }
    case OPT_FLOAT: {
        double v = strtod(value, &end);
        if (errno || end == value || *end || !(v >= o->lo && v <= o->hi)) break;
        *(float *)field = (float)v;
        return 0;
    }
    case OPT_U64: {
        if (value[0] == '-') break;
        unsigned long long v = strtoull(value, &end, 10);
        if (errno || end == value || *end) break;
        *(unsigned long long *)field = v;
        return 0;
    }
    case OPT_TEXT:
        *(const char **)field = value;
        return 0;
    case OPT_CHOICE:
        if (parse_choice(o->choices, value, (int *)field) == 0) return 0;
        fprintf(stderr, "%s: %s takes ", program, o->flag);
        for (const char *c = o->choices; *c;) { /* "a|b|c" -> "a, b or c" */
            const char *bar = strchr(c, '|');
            size_t n = bar ? (size_t)(bar - c) : strlen(c);
            fprintf(stderr, "%.*s%s", (int)n, c, !bar ? "" : strchr(bar + 1, '|') ? ", " : " or ");
            c += n + (bar != NULL);
        }
        fprintf(stderr, ", not '%s'\n", value);
        return -1;
    case OPT_LAYERS:
        if (parse_layers(value, a->req.layers, &a->req.n_layers) == 0) return 0;
        fprintf(stderr, "%s: %s takes a layer index or up to %d comma-separated indices, not '%s'\n",
                program, o->flag, DX_MAX_LAYERS, value);
        return -1;
    }
    if (o->kind == OPT_U64)
        fprintf(stderr, "%s: %s takes a whole number >= 0, not '%s'\n", program, o->flag, value);
    else if (o->kind == OPT_INT && o->hi == INT_MAX)
        fprintf(stderr, "%s: %s takes a whole number >= %g, not '%s'\n", program, o->flag, o->lo, value);
    else if (o->kind == OPT_INT)
        fprintf(stderr, "%s: %s takes a whole number from %g to %g, not '%s'\n", program, o->flag, o->lo,
                o->hi, value);
    else
        fprintf(stderr, "%s: %s takes a number from %g to %g, not '%s'\n", program, o->flag, o->lo, o->hi,
                value);
    return -1;
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
        const cli_option *o = NULL;
        for (size_t i = 0; i < N_OPTIONS && !o; ++i)
            if (!strcmp(arg, options[i].flag)) o = &options[i];
        if (!o) {
            fprintf(stderr, "%s: unknown option '%s' (see %s -h)\n", program, arg, program);
            return -1;
        }
        if (o->kind != OPT_FLAG && k + 1 >= argc) {
            fprintf(stderr, "%s: %s needs a value\n", program, arg);
            return -1;
        }
        if (parse_option(program, o, o->kind == OPT_FLAG ? NULL : argv[++k], a) != 0) return -1;
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
               program, argv[0], dx_method_help(a.req.method), program);
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
            if (a.names)
                printf("%s: %s %.2f%% (class %d)\n", a.image, dx_class_name(m, r.class_id), 100 * r.prob, r.class_id);
            else
                printf("%s: class %d %.2f%%\n", a.image, r.class_id, 100 * r.prob);
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
