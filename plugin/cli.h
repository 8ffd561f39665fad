/* The command line, shared by the `darknet-explain` program and `darknet explain` inside a
 * patched Darknet: one parser, one implementation, two front doors. */
#ifndef DX_CLI_H
#define DX_CLI_H
#include <stdio.h>
#include "explain.h"

/* dx_cli_run, the command line itself, is public (explain.h): the Python package runs it. */
/* The line that says what the photo is: "photo.jpg: malamute 14.18% (class 14)". */
void dx_cli_print_target(const char *image, int names, const dx_model *m, const dx_result *r);

/* The maps of a run that hold one value everywhere (blank figures, a "0 ... 0" bar), collected
 * by dx_blank_add and named in one note line on stderr by dx_blank_note (the exit status ignores
 * it): "PROGRAM: note: the [METHOD ]map(s) of NAMES is/are ...". */
typedef struct {
    char names[512];
    int count;
    int relu_zeros; /* every one is 0 after a ReLU */
} dx_blank_maps;
void dx_blank_add(dx_blank_maps *b, const dx_result *r, const char *name);
void dx_blank_note(const char *program, const dx_blank_maps *b, const char *method);
/* What the lines printed after a detector's files are committed need of each box, gathered
 * box by box (dx_see_box is a dx_box_fn for dx_explain_boxes_write, ctx a dx_boxes_seen): the
 * boxes, and the blank maps named "[PATH ]STEM" (dx_box_stem). Free boxes. */
typedef struct {
    const char *path;    /* NULL: the blank maps are named by their stem alone */
    dx_detection *boxes; /* n, malloc'd */
    int n;
    dx_blank_maps blank;
} dx_boxes_seen;
int dx_see_box(void *ctx, const dx_box_explanations *e, int k, dx_result *r, dx_error *err);

/* The string API's side of the command line (api_bindings.c): the options of one library call,
 * parsed by the CLI's own table and checks. */
typedef enum {
    DX_ARGS_OPEN,    /* dx_open: -names, -verbose, -timing, -max_pixels */
    DX_ARGS_REQUEST, /* an explanation: the dx_request options, -class, -boxes, -region */
    DX_ARGS_OUTPUT   /* dx_write_outputs: -png_width, -png_opacity, -png_clip */
} dx_args_scope;
typedef struct {
    dx_request req;        /* DX_ARGS_REQUEST */
    dx_output_options output; /* DX_ARGS_OUTPUT */
    dx_open_options open;  /* DX_ARGS_OPEN, with timing */
    int timing;
} dx_args;
/* argv[0] is the method's name (DX_ARGS_REQUEST) or unused, argv[1..argc-1] the options of the
 * scope (an option of another call is refused, so is a positional word); text values point into
 * argv. Returns 0, or -1 with one line "who: what is wrong" on errs (the CLI's usage errors). */
int dx_cli_parse_scope(FILE *errs, const char *who, dx_args_scope scope, int argc, char **argv, dx_args *out);
/* -out PREFIX's directory exists: 0, or -1 with one line "who: -out PREFIX: no such directory
 * DIR" on errs (the CLI checks it before the model loads, the string API before it writes). */
int dx_cli_check_out_dir(FILE *errs, const char *who, const char *prefix);
/* 1: the option takes a value, 0: a bare flag, -1: no such option */
int dx_cli_option_takes_value(const char *flag);

/* What dx_cli_run does with argv before it opens or writes anything (eval and eval-merge too):
 * -1 when it would go on to open files, else its exit code (0 after printing help, 2 after a
 * one-line usage error on stderr). */
int dx_cli_check_args(const char *program, int argc, char **argv);
/* `darknet explain ...`: the entry point patches/ registers in Darknet's dispatcher */
void run_explain(int argc, char **argv);
/* Ends the process with exit code rc (see cli.c for when it skips the exit handlers). */
void dx_cli_exit(int rc) __attribute__((noreturn));
#endif
