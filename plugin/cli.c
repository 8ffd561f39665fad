/* darknet-explain <method> <cfg> <weights> <image> [-class N] [-layer L] [-out PREFIX] ... */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "all.h"
#include "batch.h"
#include "cli.h"
#include "io/sniff.h"
#include "memory.h"
#include "methods/methods.h"
#include "notes.h"
#include "options.h"
#include "outputs.h"

typedef struct {
    const char *cfg, *weights, *image, *out, *names;
    const char *methods; /* `all`: the methods to run */
    const char *boxes, *region; /* detectors: -boxes all, -region x,y,w,h */
    const char *class_text; /* -class N or NAME, resolved once the names are loaded */
    const char *out_dir;    /* -out DIR/ (or an existing directory): the usual names, in DIR */
    const char *list, *outdir; /* -list FILE -outdir DIR: every photo of FILE (batch.c) */
    dx_request req;
    dx_output_options output;
    int verbose, timing, resume, max_pixels;
} cli_args;

/* The options, one row each: the parser, the usage text and the checks come from this table. */
#define AT(field) offsetof(cli_args, field)
#define METHOD_ROW(id, flag, kind, field, lo, hi, choices, help) {flag, kind, AT(req.field), lo, hi, choices, help},
static const dx_option options[] = {
    {"-class", OPT_TEXT, AT(class_text), 0, 0, NULL,
     "N|NAME  class to explain, by number or by its name in -names (default: the top-1 class)"},
    /* the methods' own options (methods/params.h); each method takes some (`<method> -h`) */
    DX_METHOD_OPTIONS_SHARED(METHOD_ROW)
    DX_METHOD_OPTIONS_OWN(METHOD_ROW)
    {"-methods", OPT_TEXT, AT(methods), 0, 0, NULL, "a,b,..  with 'all': the methods to run (default: every one that applies)"},
    {"-resume", OPT_FLAG, AT(resume), 0, 0, NULL,
     "with -list: keep the photos an interrupted run of the same command finished; with 'all': its methods"},
    {"-box", OPT_DETECTORS | OPT_INT, AT(req.box), 0, INT_MAX, NULL, "K  detectors: explain box K (default 0, the highest score)"},
    {"-boxes", OPT_DETECTORS | OPT_TEXT, AT(boxes), 0, 0, NULL, "all  detectors: explain every box above -thresh"},
    {"-target", OPT_DETECTORS | OPT_CHOICE, AT(req.box_target), 0, 0, "score|class|obj|x|y|w|h",
     "score|class|obj|x|y|w|h  detectors: what a box's map explains (default score = obj x class)"},
    {"-thresh", OPT_DETECTORS | OPT_FLOAT, AT(req.thresh), 0, 1, NULL, "T  detectors: box score threshold"},
    {"-hier", OPT_DETECTORS | OPT_FLOAT, AT(req.hier), 0, 1, NULL, "T  detectors: hierarchy threshold, as Darknet's"},
    {"-nms", OPT_DETECTORS | OPT_FLOAT, AT(req.nms), 0, 1, NULL, "T  detectors: NMS IoU threshold, 0 for none"},
    {"-region", OPT_DETECTORS | OPT_TEXT, AT(region), 0, 0, NULL,
     "x,y,w,h  detectors: explain the anchor best matching this photo region, even below -thresh"},
    {"-names", OPT_TEXT, AT(names), 0, 0, NULL, "FILE  class names: a names list or a .data file with names="},
    {"-out", OPT_TEXT, AT(out), 0, 0, NULL,
     "PREFIX|DIR/  write PREFIX.png, .npy, .raw.npy, .json, or the default names into DIR (default: "
     "<image name>_<method> here)"},
    {"-list", OPT_TEXT, AT(list), 0, 0, NULL,
     "FILE  instead of <image>: every photo of FILE (one path a line), one model load (docs/batch.md)"},
    {"-outdir", OPT_TEXT, AT(outdir), 0, 0, NULL,
     "DIR  with -list: each photo's outputs, named as -out DIR/ names them, and detections.json or results.csv"},
    {"-max_pixels", OPT_INT, AT(max_pixels), 1, 1 << 30, NULL,
     "N  refuse photos of more than N pixels, before decoding them"},
    {"-png_width", OPT_INT, AT(output.png_width), DX_PNG_WIDTH_MIN, DX_PNG_WIDTH_MAX, NULL,
     "W  draw the photo in the PNG W pixels wide, enlarged or shrunk (default: its own width)"},
    {"-png_opacity", OPT_FLOAT, AT(output.png_opacity), 0.01, 1, NULL,
     "A  the map's weight over the photo in the PNG, 0.01 to 1 (default 0.45)"},
    {"-png_clip", OPT_FLOAT, AT(output.png_clip), DX_PNG_CLIP_MIN, 100, NULL,
     "P  the PNG's colour scale ends at the P-th percentile of the map's mass, 50 to 100 (Captum's "
     "100 - outlier_perc; default 98 for signed and pixel-level maps, 100 = none for CAM maps)"},
    {"-timing", OPT_FLAG, AT(timing), 0, 0, NULL, "add each layer's forward time to the JSON"},
    {"-verbose", OPT_FLAG, AT(verbose), 0, 0, NULL, "show Darknet's own layer table and loading messages"},
};
#undef METHOD_ROW
#define N_OPTIONS (sizeof options / sizeof options[0])

#define ALL_HELP \
    "all: several methods on one image in one model load. Writes each method's outputs as\n" \
    "PREFIX_<method>.png/.npy/.raw.npy/.json and a side-by-side panel PREFIX_panel.png with\n" \
    "each method's name under its map (PREFIX: -out, default the image's name); with -boxes all\n" \
    "on a detector each method's box outputs and a panel per box, PREFIX_panel_boxK.png.\n" \
    "All files appear at the end, or none. Progress on stderr, one line per method.\n" \
    "  -methods a,b,..  the methods (default: every method that applies to the model)\n" \
    "  -png_width W     the panel's tiles W pixels wide, 16 to 4096 (default: the photo's, at most 320)\n" \
    "  -resume          keep the methods an interrupted run of the same command finished\n" \
    "                   (kept in the hidden folder .PREFIX_all.part beside the outputs)\n"

const dx_option *dx_cli_option_table(size_t *n)
{
    *n = N_OPTIONS;
    return options;
}

/* The arguments before the command line: `all`'s request (a method's own: dx_request_init_for). */
static void defaults(cli_args *a)
{
    *a = (cli_args){.max_pixels = DX_DEFAULT_MAX_PIXELS};
    dx_request_init(&a->req);
}

int dx_cli_option_note(const dx_option *o, char *buf, size_t len)
{
    if (dx_method_option_row_note(o, AT(req), buf, len) == 0) return 0;
    cli_args d;
    defaults(&d);
    return dx_option_default_note(o, &d, buf, len);
}

const char *dx_cli_all_help(void) { return ALL_HELP; }

static void usage(const char *program, FILE *f)
{
    fprintf(f, "usage: %s <method> <cfg> <weights> <image> [options]\n"
               "       %s <method> <cfg> <weights> -list FILE -outdir DIR [options]\nmethods:", program, program);
    for (int k = 0; k < DX_METHOD_COUNT; ++k) fprintf(f, " %s", dx_method_name((dx_method)k));
    fprintf(f, " all\noptions:\n");
    dx_options_usage(f, options, N_OPTIONS, 11, dx_cli_option_note, NULL);
    fprintf(f, "%s <method> -h        help for one method\n", program);
    size_t n;
    const dx_cli_command *commands = dx_cli_commands(&n);
    for (size_t k = 0; k < n; ++k)
        if (commands[k].help) {
            int pad = 16 - (int)strlen(commands[k].name);
            fprintf(f, "%s %s -h%*s%s\n", program, commands[k].name, pad > 1 ? pad : 1, "", commands[k].help);
        }
}

/* -class N: a whole number >= 0 (0), or -1 when the text is not one (a class name, perhaps) */
static int class_number(const char *text, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < 0 || v > INT_MAX || !(*text >= '0' && *text <= '9')) return -1;
    *out = (int)v;
    return 0;
}

/* A method's option given to a method that does not take it: one line on errs, -1. `list`: the
 * -methods of `all`, or NULL for the one method. */
static int refuse_untaken(FILE *errs, const char *program, const dx_method *methods, int n, const char *list,
                          int argc, char **argv)
{
    return dx_method_options_check(errs, program, program, options, N_OPTIONS, AT(req), methods, n, list, argc, argv);
}

/* The table's options, then -boxes, -region and -class checked; positional words into
 * positional[3]. Each error is one line on errs. */
static int parse_options(FILE *errs, const char *program, int argc, char **argv, cli_args *a,
                         const char **positional, int *npos)
{
    if (dx_options_parse_to(errs, program, options, N_OPTIONS, argc, argv, a, positional, 3, npos) != 0)
        return -1;
    if (a->boxes && strcmp(a->boxes, "all")) {
        fprintf(errs, "%s: -boxes takes all, not '%s'\n", program, a->boxes);
        return -1;
    }
    if (a->boxes) a->req.box = DX_ALL_BOXES;
    if (a->region) {
        float *r = a->req.region;
        char tail;
        if (sscanf(a->region, "%f,%f,%f,%f%c", &r[0], &r[1], &r[2], &r[3], &tail) != 4 || !isfinite(r[0]) ||
            !isfinite(r[1]) || !isfinite(r[2]) || !isfinite(r[3]) || !(r[2] > 0) || !(r[3] > 0)) {
            fprintf(errs, "%s: -region takes x,y,w,h in photo pixels, finite numbers with w, h > 0, not '%s'\n",
                    program, a->region);
            return -1;
        }
        a->req.use_region = 1;
    }
    if (a->class_text && class_number(a->class_text, &a->req.class_id) != 0 && !a->names) {
        fprintf(errs, "%s: -class takes a whole number >= 0, or a class name with -names, not '%s'\n", program,
                a->class_text);
        return -1;
    }
    return 0;
}

static int parse_args(const char *program, int argc, char **argv, cli_args *a)
{
    const char *positional[3];
    int npos;
    if (parse_options(stderr, program, argc, argv, a, positional, &npos) != 0) return -1;
    const char *wrong = NULL; /* -list and -outdir go together, in place of <image> and -out */
    if (a->list && npos == 3) wrong = "-list FILE replaces <image>: give one or the other";
    else if (a->list && !a->outdir) wrong = "-list needs -outdir DIR, the folder of the outputs";
    else if (a->list && a->out) wrong = "-out names one image's outputs; with -list, -outdir DIR";
    else if (!a->list && a->outdir) wrong = "-outdir goes with -list (one image's outputs: -out DIR/)";
    else if (a->outdir && strlen(a->outdir) > 700) wrong = "-outdir: longer than 700 characters";
    if (wrong) {
        fprintf(stderr, "%s: %s\n", program, wrong);
        return -1;
    }
    if (npos < (a->list ? 2 : 3)) {
        fprintf(stderr, "%s: %s needs <cfg> <weights> %s (see %s -h)\n", program, argv[0],
                a->list ? "-list FILE -outdir DIR" : "<image>, or -list FILE -outdir DIR", program);
        return -1;
    }
    a->cfg = positional[0];
    a->weights = positional[1];
    a->image = a->list ? NULL : positional[2];
    return 0;
}

/* Which call of the string API an option belongs to; -out, -methods, -resume: none (the CLI's own). */
static int scope_of(const dx_option *o)
{
    size_t at = o->offset;
    if ((at >= AT(req) && at < AT(req) + sizeof(dx_request)) || at == AT(boxes) || at == AT(region) ||
        at == AT(class_text))
        return DX_ARGS_REQUEST;
    if (at >= AT(output) && at < AT(output) + sizeof(dx_output_options)) return DX_ARGS_OUTPUT;
    if (at == AT(names) || at == AT(verbose) || at == AT(timing) || at == AT(max_pixels)) return DX_ARGS_OPEN;
    return -1;
}

static const dx_option *find_option(const char *flag)
{
    for (size_t k = 0; k < N_OPTIONS; ++k)
        if (!strcmp(flag, options[k].flag)) return &options[k];
    return NULL;
}

int dx_cli_option_takes_value(const char *flag)
{
    const dx_option *o = find_option(flag);
    return o ? OPT_KIND(o) != OPT_FLAG : -1;
}

int dx_cli_parse_scope(FILE *errs, const char *who, dx_args_scope scope, int argc, char **argv, dx_args *out)
{
    static const char *const calls[] = {"opening the model", "an explanation", "writing the outputs"};
    for (int k = 1; k < argc; ++k) { /* an option of another call: named before any value is parsed */
        const dx_option *o = find_option(argv[k]);
        if (!o) continue;
        int s = scope_of(o);
        if (s != (int)scope) {
            fprintf(errs, "%s: %s goes with %s, not with %s\n", who, o->flag,
                    s < 0 ? "the command line" : calls[s], calls[scope]);
            return -1;
        }
        k += OPT_KIND(o) != OPT_FLAG;
    }
    cli_args a = {0};
    dx_method method = DX_METHOD_GRADCAM;
    if (scope == DX_ARGS_REQUEST && dx_method_from_name(argv[0], &method) != 0) {
        fprintf(errs, "%s: unknown method '%s' (see %s -h)\n", who, argv[0], who);
        return -1;
    }
    dx_request_init_for(&a.req, method);
    const char *positional[3];
    int npos;
    if (parse_options(errs, who, argc, argv, &a, positional, &npos) != 0 ||
        (scope == DX_ARGS_REQUEST && refuse_untaken(errs, who, &method, 1, NULL, argc, argv) != 0))
        return -1;
    if (npos > 0) {
        fprintf(errs, "%s: unexpected argument '%s'\n", who, positional[0]);
        return -1;
    }
    out->req = a.req;
    out->output = a.output;
    out->open = (dx_open_options){.names = a.names, .verbose = a.verbose, .max_pixels = a.max_pixels};
    out->timing = a.timing;
    return 0;
}

#undef AT

/* Files given in the wrong order are named as what they are: a photo where the cfg belongs would
 * otherwise read as a cfg with Windows line endings (the PNG signature holds "\r\n"), a photo
 * where the weights belong as weights of the wrong size. */
static int check_roles(const char *program, const cli_args *a)
{
    const struct {
        const char *path, *role;
        dx_file_kind wrong[2]; /* besides images */
    } files[] = {{a->cfg, "a .cfg", {DX_KIND_WEIGHTS, DX_KIND_WEIGHTS}},
                 {a->weights, "a .weights file", {DX_KIND_CFG, DX_KIND_CFG}},
                 {a->image, "an image", {DX_KIND_CFG, DX_KIND_WEIGHTS}}};
    for (int k = 0; k < (a->image ? 3 : 2); ++k) {
        dx_file_kind kind = dx_sniff_file(files[k].path);
        int wrong = (k < 2 && dx_kind_is_image(kind)) || kind == files[k].wrong[0] || kind == files[k].wrong[1];
        if (!wrong) continue;
        fprintf(stderr, "%s: %s: this is %s, not %s (usage: %s METHOD CFG WEIGHTS IMAGE)\n", program,
                files[k].path, dx_kind_description(kind), files[k].role, program);
        return -1;
    }
    return 0;
}

/* -out PREFIX: its directory must exist (checked before the model loads). -out DIR/, or a PREFIX
 * that names an existing directory: the default names, in DIR. Returns 2 (usage), 1 (a missing
 * directory) or 0. */
static int check_out(const char *program, cli_args *a)
{
    if (!a->out) return 0;
    size_t len = strlen(a->out);
    if (len == 0) {
        fprintf(stderr, "%s: -out takes a file prefix or a directory ending in '/', not ''\n", program);
        return 2;
    }
    if (len > 700) { /* DIR/ + an image name (at most 255) + _method stays under the writers' 1024 */
        fprintf(stderr, "%s: -out %.60s...: longer than 700 characters\n", program, a->out);
        return 2;
    }
    struct stat st;
    int is_dir = stat(a->out, &st) == 0 && S_ISDIR(st.st_mode);
    if (a->out[len - 1] == '/' || is_dir) {
        if (!is_dir) {
            fprintf(stderr, "%s: -out %s: no such directory\n", program, a->out);
            return 1;
        }
        a->out_dir = a->out;
        return 0;
    }
    return dx_cli_check_out_dir(stderr, program, a->out) == 0 ? 0 : 1;
}

int dx_cli_check_out_dir(FILE *errs, const char *who, const char *prefix)
{
    const char *slash = strrchr(prefix, '/');
    char dir[1024];
    struct stat st;
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - prefix) + 1 : 2, slash ? prefix : "./");
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(errs, "%s: -out %s: no such directory %s\n", who, prefix, dir);
        return -1;
    }
    return 0;
}

/* The output prefix: -out PREFIX, else <out dir or here>/<image name without extension>_<method>
 * (method "" for `all`: the image name alone). */
static void output_prefix(const cli_args *a, const char *method, char *out, size_t len)
{
    if (a->out && !a->out_dir) {
        snprintf(out, len, "%s", a->out);
        return;
    }
    const char *slash = strrchr(a->image, '/');
    const char *name = slash ? slash + 1 : a->image;
    const char *dot = strrchr(name, '.');
    int stem = dot && dot != name ? (int)(dot - name) : (int)strlen(name);
    const char *dir = a->out_dir ? a->out_dir : "";
    const char *sep = *dir && dir[strlen(dir) - 1] != '/' ? "/" : "";
    snprintf(out, len, "%s%s%.*s%s%s", dir, sep, stem, name, *method ? "_" : "", method);
}

static int explain_one(const char *program, dx_model *m, const cli_args *a, const char *method_name)
{
    dx_error err;
    dx_result r;
    int rc = dx_explain_file(m, a->image, &a->req, &r, &err);
    if (rc == 0) {
        char prefix[1024];
        output_prefix(a, method_name, prefix, sizeof prefix);
        rc = dx_write_outputs(m, &r, prefix, &a->output, &err);
        if (rc == 0) {
            dx_cli_print_target(a->image, a->names != NULL, m, &r);
            printf("wrote %s.png %s.npy %s.raw.npy %s.json\n", prefix, prefix, prefix, prefix);
            dx_blank_maps blank = {.count = 0};
            dx_blank_add(&blank, &r, method_name);
            dx_blank_note(program, &blank, NULL);
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

/* `all` (all.c): the methods, the output stem (-out, or the image's name), the command line. */
static int explain_all(const char *program, dx_model *m, const cli_args *a, int argc, char **argv)
{
    dx_method methods[DX_METHOD_COUNT];
    int n = methods_to_run(program, m, a->methods, methods);
    if (n <= 0) {
        if (n == 0) fprintf(stderr, "%s: no method applies to %s\n", program, a->cfg);
        return -1;
    }
    char stem[1024];
    output_prefix(a, "", stem, sizeof stem);
    dx_all_args all = {program, a->cfg, a->weights, a->image, stem, methods, n, a->req, a->output, a->resume,
                       argc, argv, a->names != NULL, 0, NULL};
    dx_error err;
    int rc = dx_all_run(m, &all, &err);
    if (rc != 0) fprintf(stderr, "%s: %s\n", program, err.msg);
    return rc;
}

/* -list (batch.c): the method, or the methods `all` runs, on every photo of the list. */
static int run_batch(const char *program, dx_model *m, const cli_args *a, int all, int argc, char **argv)
{
    dx_method methods[DX_METHOD_COUNT] = {a->req.method};
    int n = all ? methods_to_run(program, m, a->methods, methods) : 1;
    if (n == 0) fprintf(stderr, "%s: no method applies to %s\n", program, a->cfg);
    if (n <= 0) return -1;
    dx_batch_args b = {program, argv[0], a->cfg, a->weights, a->list, a->outdir, methods, n, all, a->req,
                       a->output, a->resume, a->names != NULL, argc, argv};
    return dx_batch_run(m, &b);
}

/* Detectors: the boxes' maps and the JSON; no box above -thresh is not an error (the JSON
 * says so, exit 0). */
static int run_detector(const char *program, dx_model *m, const cli_args *a, const char *method, dx_error *err)
{
    char prefix[1024];
    output_prefix(a, method, prefix, sizeof prefix);
    dx_box_explanations e;
    dx_boxes_seen seen = {NULL, NULL, 0, {.count = 0}};
    int rc = dx_explain_boxes_write(m, a->image, &a->req, prefix, &a->output, dx_see_box, &seen, &e, err);
    if (rc == 0 && e.n == 0)
        printf("%s: no detection above -thresh %g (the best score is %.2f%%, %s); wrote %s.json\n", a->image,
               a->req.thresh, 100 * e.best_score, dx_class_name(m, e.best_class), prefix);
    for (int k = 0; rc == 0 && k < e.n; ++k) {
        const dx_detection *d = &seen.boxes[k];
        char stem[32];
        dx_box_stem(&e, k, stem, sizeof stem);
        printf("%s: %s %s %.2f%% at %.0f,%.0f %.0fx%.0f (layer %d anchor %d cell %d,%d); wrote %s_%s.png %s_%s.npy\n",
               a->image, stem, dx_class_name(m, d->cls), 100 * d->score, d->x, d->y, d->w, d->h, d->layer,
               d->anchor, d->row, d->col, prefix, stem, prefix, stem);
    }
    if (rc == 0 && e.n > 0) printf("wrote %s_boxes.png %s.json\n", prefix, prefix);
    if (rc == 0) dx_blank_note(program, &seen.blank, method);
    free(seen.boxes);
    return rc;
}

/* Options that mean nothing for this model are refused, not ignored: the detectors' on a
 * classifier, -score on a detector (its boxes have -target), and -class on a detector unless it
 * picks the class of a -region. */
static int check_scope(const char *program, const dx_model *m, const cli_args *a, int argc, char **argv)
{
    int detector = dx_is_detector(m);
    const dx_option *o =
        dx_options_out_of_scope(options, N_OPTIONS, argc, argv, detector ? OPT_DETECTORS : OPT_CLASSIFIERS);
    if (o) {
        fprintf(stderr, "%s: %s is for %s, and %s is a %s\n", program, o->flag,
                OPT_SCOPE(o) & OPT_DETECTORS ? "detectors" : "classifiers", a->cfg, detector ? "detector" : "classifier");
        return -1;
    }
    if (detector && a->class_text && !a->region) {
        fprintf(stderr, "%s: -class goes with -region on a detector: %s explains its detected boxes (-box K, "
                "-boxes all)\n", program, a->cfg);
        return -1;
    }
    return 0;
}

/* -class NAME: the class of that name in -names (exactly one). */
static int resolve_class(const char *program, const dx_model *m, cli_args *a)
{
    if (!a->class_text || class_number(a->class_text, &a->req.class_id) == 0) return 0;
    int matches, cls = dx_class_from_name(m, a->class_text, &matches);
    if (matches == 1) {
        a->req.class_id = cls;
        return 0;
    }
    if (matches == 0)
        fprintf(stderr, "%s: -class '%s': no class of that name in %s\n", program, a->class_text, a->names);
    else
        fprintf(stderr, "%s: -class '%s': %d classes of %s have that name (the first is %d); give its number\n",
                program, a->class_text, matches, a->names, cls);
    return -1;
}

/* Everything dx_cli_run does before it opens a file: -1 when it goes on with *a and *all, else
 * the exit code (help printed, or a one-line usage error). */
static int prepare(const char *program, int argc, char **argv, cli_args *a, int *all)
{
    if (argc < 1 || !strcmp(argv[0], "-h") || !strcmp(argv[0], "--help") || !strcmp(argv[0], "help")) {
        usage(program, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    defaults(a);
    *all = !strcmp(argv[0], "all");
    dx_method method = DX_METHOD_GRADCAM;
    if (!*all && dx_method_from_name(argv[0], &method) != 0) {
        fprintf(stderr, "%s: unknown method '%s' (see %s -h)\n", program, argv[0], program);
        return 2;
    }
    /* `all`: each method's defaults where the request leaves them 0 (dx_request_effective) */
    if (!*all) dx_request_init_for(&a->req, method);
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("usage: %s %s <cfg> <weights> <image> [options]\n", program, argv[0]);
        if (*all) fputs(ALL_HELP, stdout);
        else dx_method_usage(stdout, method);
        printf("(and the options of every method: %s -h)\n", program);
        return 0;
    }
    if (parse_args(program, argc, argv, a) != 0) return 2;
    if ((a->methods || (a->resume && !a->list)) && !*all) {
        fprintf(stderr, "%s: %s goes with 'all'%s, not with '%s' alone\n", program, a->methods ? "-methods" : "-resume",
                a->methods ? "" : " or -list", argv[0]);
        return 2;
    }
    dx_method listed[DX_METHOD_COUNT] = {method};
    int n = a->methods ? methods_to_run(program, NULL, a->methods, listed) : 1;
    if (n <= 0) return 2;
    if ((!*all || a->methods) && refuse_untaken(stderr, program, listed, n, a->methods, argc, argv) != 0) return 2;
    return -1;
}

int dx_cli_check_args(const char *program, int argc, char **argv)
{
    const dx_cli_command *c = dx_cli_command_named(argc, argv);
    if (c) return c->check(program, argc, argv);
    cli_args a;
    int all;
    return prepare(program, argc, argv, &a, &all);
}

int dx_cli_run(const char *program, int argc, char **argv)
{
    /* A command's large buffers (a photo's maps, a box's panel) mmap'd and given back when freed:
     * glibc raises its mmap threshold after the first such free, and its heap then kept what the
     * boxes of -boxes all left behind (66 boxes peaked 4.5-9.6 MB above one, moving with the
     * heap's layout; tests/test_boxes.c). */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    const dx_cli_command *c = dx_cli_command_named(argc, argv);
    if (c) return c->run(program, argc, argv);
    cli_args a;
    int all, rc = prepare(program, argc, argv, &a, &all);
    if (rc >= 0) return rc;
    if (check_roles(program, &a) != 0) return 2;
    if ((rc = check_out(program, &a)) != 0) return rc;

    dx_error err;
    dx_open_options opt = {.names = a.names, .verbose = a.verbose, .max_pixels = a.max_pixels};
    dx_model *m = dx_open(a.cfg, a.weights, &opt, &err);
    if (!m) {
        fprintf(stderr, "%s: %s\n", program, err.msg);
        return 1;
    }
    if (check_scope(program, m, &a, argc, argv) != 0 || resolve_class(program, m, &a) != 0) {
        dx_close(m);
        return 2;
    }
    dx_set_layer_timing(m, a.timing);
    const char *warnings = dx_warnings(m);
    if (*warnings) fprintf(stderr, "%s", warnings);
    if (a.list) {
        rc = run_batch(program, m, &a, all, argc, argv);
    } else if (dx_is_detector(m) && !all) {
        rc = run_detector(program, m, &a, argv[0], &err);
        if (rc != 0) fprintf(stderr, "%s: %s\n", program, err.msg);
    } else {
        rc = all ? explain_all(program, m, &a, argc, argv) : explain_one(program, m, &a, argv[0]);
    }
    dx_close(m);
    return rc == 0 ? 0 : 1;
}

/* The second front door: `darknet explain <method> ...` in a Darknet built with patches/, whose
 * dispatcher passes its whole argv (argv[1] is "explain"). */
void run_explain(int argc, char **argv)
{
    dx_blas_best_kernel();
    dx_cli_exit(dx_cli_run("darknet explain", argc - 2, argv + 2));
}

void dx_cli_exit(int rc)
{
    /* Under an address-space limit too tight for one more OpenBLAS buffer, the pool threads
     * OpenBLAS started before main may be stuck in blas_memory_alloc (it retries a failed mapping
     * forever), and its exit handler joins them: the process would never end. */
    if (dx_blas_may_hang()) {
        fflush(NULL);
        _exit(rc);
    }
    exit(rc);
}
