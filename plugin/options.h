/* Command-line options as rows of a table (flag, kind, where the value goes, bounds, help): one
 * parser, one set of messages, for `darknet-explain <method>` and `darknet-explain eval`. */
#ifndef DX_OPTIONS_H
#define DX_OPTIONS_H
#include <stddef.h>
#include <stdio.h>

typedef enum {
    OPT_FLAG,   /* no value: sets an int to 1 */
    OPT_INT,    /* a whole number in [lo, hi] */
    OPT_FLOAT,  /* a number in [lo, hi], into a float */
    OPT_DOUBLE, /* the same, into a double */
    OPT_U64,    /* a whole number >= 0 (seeds) */
    OPT_TEXT,   /* a string (a path, a spec) */
    OPT_CHOICE, /* one of the '|'-separated words of `choices`; stores its index as an int */
    OPT_LAYERS, /* L or L1,L2,..: into a dx_request's layers[] and n_layers (offset of layers) */
    /* Or-ed into a kind: the option means something only for these models; given for another, it
     * is refused rather than silently ignored (dx_options_out_of_scope). */
    OPT_DETECTORS = 0x100,  /* [yolo]/[region] heads */
    OPT_CLASSIFIERS = 0x200
} dx_opt_kind;
#define OPT_KIND(o) ((o)->kind & 0xff)
#define OPT_SCOPE(o) ((o)->kind & (OPT_DETECTORS | OPT_CLASSIFIERS))

/* Upper bounds of the options that set how many passes a method runs (at these, a method takes
 * minutes on a small model; more is a typo or a mistake), for `darknet-explain` and `eval` alike. */
#define DX_MAX_STEPS 1000     /* Integrated Gradients' path intervals (default 64) */
#define DX_MAX_SAMPLES 10000  /* SmoothGrad's noisy copies, LIME's and KernelSHAP's perturbed inputs */
#define DX_MAX_MASKS 10000    /* RISE's and D-RISE's masks (default 300, 1000) */
#define DX_MAX_SEGMENTS 1000  /* LIME's and KernelSHAP's superpixels (default 50) */

typedef struct {
    const char *flag;
    dx_opt_kind kind;
    size_t offset; /* of the field in the caller's argument struct */
    double lo, hi;
    const char *choices;
    const char *help;
} dx_option;

/* Parses argv[1..argc-1] into args: options by the table, the other words into positional (at
 * most max_positional; *npos receives how many). On a bad word prints one line
 * "<who>: what is wrong (see <who> -h)" on stderr and returns -1. */
int dx_options_parse(const char *who, const dx_option *options, size_t n_options, int argc, char **argv,
                     void *args, const char **positional, int max_positional, int *npos);
/* The first option of argv (as dx_options_parse accepted it) for which match(option, ctx) is
 * non-zero, or NULL. */
const dx_option *dx_options_first(const dx_option *options, size_t n_options, int argc, char **argv,
                                  int (*match)(const dx_option *o, void *ctx), void *ctx);
/* The first option of argv whose scope leaves out `models` (OPT_DETECTORS or OPT_CLASSIFIERS),
 * or NULL. */
const dx_option *dx_options_out_of_scope(const dx_option *options, size_t n_options, int argc, char **argv,
                                         dx_opt_kind models);
/* The same with the line on errs (the library's string API, api_args.c, keeps it for dx_error). */
int dx_options_parse_to(FILE *errs, const char *who, const dx_option *options, size_t n_options, int argc,
                        char **argv, void *args, const char **positional, int max_positional, int *npos);
/* What -h adds to an option's help: 0 with the text in buf, or -1 for nothing. */
typedef int (*dx_option_note_fn)(const dx_option *o, char *buf, size_t len);
/* "default V" for a number or a choice whose help does not speak of its default itself: V read
 * from `defaults`, the caller's argument struct as its parser initialises it, so that -h cannot
 * drift from the parser. 0 with the text in buf, -1 for nothing (also for NULL defaults). */
int dx_option_default_note(const dx_option *o, const void *defaults, char *buf, size_t len);
/* One line per option: flag and help, then " [note]" where note (may be NULL) gives one, else
 * " [default V]" where dx_option_default_note gives one. */
void dx_options_usage(FILE *f, const dx_option *options, size_t n_options, int flag_width, dx_option_note_fn note,
                      const void *defaults);

/* The tables the command line parses and prints with -h, for the man page (tools/man.c): the
 * methods' options (cli.c), `all`'s help text (cli.c), eval's options (eval/cli.c). Static
 * storage; *n receives the row count. Their notes: what -h adds to a row: for a method's option,
 * the methods that take it and their defaults (dx_method_option_note); for another, its default
 * (dx_option_default_note). */
const dx_option *dx_cli_option_table(size_t *n);
int dx_cli_option_note(const dx_option *o, char *buf, size_t len);
const char *dx_cli_all_help(void);
const dx_option *dx_eval_option_table(size_t *n);
int dx_eval_option_note(const dx_option *o, char *buf, size_t len);
#endif
