/* darknet-explain eval <cfg> <weights> -list images.txt -methods a,b -metrics x,y [-out DIR]
 *                     [-shard i/n] [-resume] ...
 *
 * eval's command line: its option table, its arguments parsed and checked into dx_eval_args
 * (eval/results.h), and the entry points dx_eval_cli and dx_eval_check_args. The run itself is
 * run.c's; eval-merge's command line is merge.c's. */
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "memory.h"
#include "options.h"
#include "methods/params.h"
#include "eval/eval.h"
#include "eval/results.h"

/* dx_eval_baseline's names in -methods */
static const char *const baseline_names[] = {NULL, "random", "centre"};

#define AT(field) offsetof(dx_eval_args, field)
#define METHOD_ROW(id, flag, kind, field, lo, hi, choices, help) {flag, kind, AT(method.field), lo, hi, choices, help},
static const dx_option options[] = {
    {"-list", OPT_TEXT, AT(list), 0, 0, NULL, "FILE  the images, one path a line (blank and # lines skipped)"},
    {"-methods", OPT_TEXT, AT(methods), 0, 0, NULL, "a,b,..  methods to compare (and the baselines random, centre)"},
    {"-metrics", OPT_TEXT, AT(metrics), 0, 0, NULL, "x,y,..  metrics (default deletion,insertion; see below)"},
    {"-out", OPT_TEXT, AT(out), 0, 0, NULL, "DIR  output folder (default eval-out)"},
    {"-shard", OPT_TEXT, AT(shard), 0, 0, NULL, "i/n  run only the images k with k mod n = i (0 <= i < n)"},
    {"-resume", OPT_FLAG, AT(resume), 0, 0, NULL, "continue the run in DIR (same options), adding only missing rows"},
    {"-seed", OPT_U64, AT(opt.seed), 0, 0, NULL, "S  seed of every random draw, the methods' too"},
    {"-score", OPT_CHOICE, AT(opt.score), 0, 0, "logit|prob", "logit|prob  f_c of the metrics (default logit; RISE: prob)"},
    {"-auc_steps", OPT_INT, AT(opt.steps), 1, INT_MAX, NULL, "N  deletion/insertion steps, ceil(HW/N) pixels each"},
    {"-del_substrate", OPT_CHOICE, AT(opt.deletion_substrate), 0, 0, "black|blur|mean", "black|blur|mean  deletion substrate (default blur; RISE: mean)"},
    {"-ins_substrate", OPT_CHOICE, AT(opt.insertion_substrate), 0, 0, "black|blur|mean", "black|blur|mean  insertion substrate"},
    {"-tolerance", OPT_FLOAT, AT(opt.tolerance), 0, 1e6, NULL, "PX  pointing game tolerance in photo pixels"},
    {"-faith_runs", OPT_INT, AT(opt.faithfulness_runs), 2, 100000, NULL, "N  faithfulness: random subsets"},
    {"-faith_subset", OPT_INT, AT(opt.faithfulness_subset), 1, INT_MAX, NULL, "N  faithfulness: pixels per subset"},
    {"-sens_samples", OPT_INT, AT(opt.sensitivity_samples), 1, 100000, NULL, "N  max-sensitivity: perturbed inputs"},
    {"-sens_radius", OPT_FLOAT, AT(opt.sensitivity_radius), 0, 1, NULL, "R  max-sensitivity: noise U(-R,R) per input value"},
    {"-road_fractions", OPT_INT, AT(opt.road_fractions), 1, 99, NULL, "F  ROAD: q = k/(F+1), k = 1..F (default 4: 20..80%)"},
    {"-aopc_patch", OPT_INT, AT(opt.aopc_patch), 1, 10000, NULL, "P  AOPC: P x P regions"},
    {"-aopc_steps", OPT_INT, AT(opt.aopc_steps), 1, 1000000, NULL, "L  AOPC: regions perturbed"},
    /* the methods' own options, as `darknet-explain <method>` takes them (methods/params.h); -seed
     * above is theirs too */
    DX_METHOD_OPTIONS_OWN(METHOD_ROW)
    {"-ig_steps", OPT_INT, AT(method.steps), 1, DX_MAX_STEPS, NULL, "N  the same as -steps (its older name)"},
    {"-ig_baseline", OPT_TEXT, AT(method.baseline), 0, 0, NULL, "B  the same as -baseline (its older name)"},
    {"-thresh", OPT_FLOAT, AT(method.thresh), 0, 1, NULL, "T  detectors: box score threshold"},
    {"-nms", OPT_FLOAT, AT(method.nms), 0, 1, NULL, "T  detectors: NMS IoU threshold, 0 for none"},
    {"-max_boxes", OPT_INT, AT(max_boxes), 1, 100000, NULL, "N  detectors: the N highest-scoring boxes of an image"},
    {"-batch", OPT_INT, AT(opt.batch), 1, 4096, NULL, "N  inputs scored per call"},
    {"-names", OPT_TEXT, AT(names), 0, 0, NULL, "FILE  class names (a names list or a .data file)"},
    {"-png_width", OPT_INT, AT(png_width), 16, 4096, NULL, "W  width of the report's map thumbnails"},
    {"-verbose", OPT_FLAG, AT(verbose), 0, 0, NULL, "show Darknet's layer table and loading messages"},
    {"-max_pixels", OPT_INT, AT(max_pixels), 1, 1 << 30, NULL, "N  refuse images of more than N pixels"},
};
#undef METHOD_ROW
#undef AT
#define N_OPTIONS (sizeof options / sizeof options[0])

const dx_option *dx_eval_option_table(size_t *n)
{
    *n = N_OPTIONS;
    return options;
}

/* eval's arguments before the command line: the parser's start and -h's defaults. */
static void defaults(dx_eval_args *a)
{
    *a = (dx_eval_args){.metrics = "deletion,insertion", .out = "eval-out", .png_width = 224, .max_boxes = 10,
                        .max_pixels = DX_DEFAULT_MAX_PIXELS};
    dx_eval_options_init(&a->opt);
    dx_request_init(&a->method);
}

int dx_eval_option_note(const dx_option *o, char *buf, size_t len)
{
    if (dx_method_option_row_note(o, offsetof(dx_eval_args, method), buf, len) == 0) return 0;
    dx_eval_args d;
    defaults(&d);
    return dx_option_default_note(o, &d, buf, len);
}

void dx_eval_usage(const char *program, FILE *f)
{
    fprintf(f, "usage: %s eval <cfg> <weights> -list FILE -methods a,b,.. [options]\n"
               "       %s eval-merge [-out DIR] DIR1 DIR2 ..   (the shards' folders)\noptions:\n",
            program, program);
    dx_options_usage(f, options, N_OPTIONS, 15, dx_eval_option_note, NULL);
    fprintf(f, "metrics:\n");
    for (int k = 0; k < DX_METRIC_COUNT; ++k)
        fprintf(f, "  %-14s %s\n", dx_metric_name((dx_metric)k), dx_metric_definition((dx_metric)k));
}

/* Splits a comma list into names (malloc'd); -1 when empty or too long, -2 with err when out of
 * memory. */
static int split_names(const char *list, char **names, int *count, dx_error *err)
{
    int n = 0;
    for (const char *p = list;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0 || n == DX_EVAL_MAX_NAMES) {
            *count = n; /* the names so far are free_args' to free */
            return -1;
        }
        if (!(names[n] = dx_alloc(len + 1, 1, "-methods and -metrics", err))) {
            *count = n;
            return -2;
        }
        memcpy(names[n++], p, len); /* zeroed: terminated */
        if (!comma) break;
        p = comma + 1;
    }
    *count = n;
    return 0;
}

static void free_args(dx_eval_args *a)
{
    for (int k = 0; k < a->n_methods; ++k) free(a->method_names[k]);
    for (int k = 0; k < a->n_metrics; ++k) free(a->metric_names[k]);
}

static int parse_args(const char *program, int argc, char **argv, dx_eval_args *a)
{
    const char *positional[2];
    int npos;
    char who[256];
    snprintf(who, sizeof who, "%s eval", program);
    if (dx_options_parse(who, options, N_OPTIONS, argc, argv, a, positional, 2, &npos) != 0) return -1;
    if (npos < 2 || !a->list || !a->methods) {
        fprintf(stderr, "%s eval: needs <cfg> <weights> -list FILE -methods a,b,.. (see %s eval -h)\n", program,
                program);
        return -1;
    }
    a->cfg = positional[0];
    a->weights = positional[1];
    dx_error err;
    int split = split_names(a->methods, a->method_names, &a->n_methods, &err);
    if (split == 0) split = split_names(a->metrics, a->metric_names, &a->n_metrics, &err);
    if (split == -2) {
        fprintf(stderr, "%s eval: %s\n", program, err.msg);
        return -2;
    }
    if (split != 0) {
        fprintf(stderr, "%s eval: -methods and -metrics take 1 to %d comma-separated names\n", program,
                DX_EVAL_MAX_NAMES);
        return -1;
    }
    for (int k = 0; k < a->n_methods; ++k) {
        a->baselines[k] = DX_EVAL_BASELINE_NONE;
        if (dx_method_from_name(a->method_names[k], &a->method_ids[k]) == 0) continue;
        for (int b = DX_EVAL_BASELINE_RANDOM; b <= DX_EVAL_BASELINE_CENTRE; ++b)
            if (!strcmp(a->method_names[k], baseline_names[b])) a->baselines[k] = (dx_eval_baseline)b;
        if (a->baselines[k] == DX_EVAL_BASELINE_NONE) {
            fprintf(stderr, "%s eval: unknown method '%s' (see %s -h; baselines: random, centre)\n", program,
                    a->method_names[k], program);
            return -1;
        }
    }
    dx_method methods[DX_EVAL_MAX_NAMES]; /* the baselines take no method's option */
    int n = 0;
    for (int k = 0; k < a->n_methods; ++k)
        if (!a->baselines[k]) methods[n++] = a->method_ids[k];
    if (dx_method_options_check(stderr, who, program, options, N_OPTIONS, offsetof(dx_eval_args, method), methods, n,
                                a->methods, argc, argv) != 0)
        return -1;
    for (int k = 0; k < a->n_metrics; ++k)
        if (dx_metric_from_name(a->metric_names[k], &a->metric_ids[k]) != 0) {
            fprintf(stderr, "%s eval: unknown metric '%s' (see %s eval -h)\n", program, a->metric_names[k], program);
            return -1;
        }
    a->shard_index = 0;
    a->shard_count = 1;
    if (a->shard) {
        char *end;
        long index = strtol(a->shard, &end, 10), count = *end == '/' ? strtol(end + 1, &end, 10) : 0;
        if (*end || count < 1 || count > 1000000 || index < 0 || index >= count) {
            fprintf(stderr, "%s eval: -shard takes i/n with 0 <= i < n, not '%s'\n", program, a->shard);
            return -1;
        }
        a->shard_index = (int)index;
        a->shard_count = (int)count;
    }
    return 0;
}

/* eval's arguments, defaults first, parsed and checked: -1 when the run goes on with *a, else the
 * exit code (help printed, or a one-line usage error). The caller frees *a with free_args. */
static int eval_prepare(const char *program, int argc, char **argv, dx_eval_args *a)
{
    defaults(a); /* before -h too: the caller frees *a */
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        dx_eval_usage(program, stdout);
        return 0;
    }
    int rc = parse_args(program, argc, argv, a);
    return rc == 0 ? -1 : rc == -2 ? 1 : 2; /* -2: out of memory, a runtime failure */
}

int dx_eval_check_args(const char *program, int argc, char **argv)
{
    dx_eval_args a;
    int rc = eval_prepare(program, argc, argv, &a);
    free_args(&a);
    return rc;
}

int dx_eval_cli(const char *program, int argc, char **argv)
{
    dx_eval_args a;
    int rc = eval_prepare(program, argc, argv, &a);
    if (rc < 0) rc = dx_eval_run(program, &a);
    free_args(&a);
    return rc;
}
