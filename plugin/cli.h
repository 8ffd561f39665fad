/* The command line, shared by the `darknet-explain` program and `darknet explain` inside a
 * patched Darknet: one parser, one implementation, two front doors. */
#ifndef DX_CLI_H
#define DX_CLI_H
#include "explain.h"

/* argv[0] is the method name (or -h); returns the process exit code: 0 success, 1 failure,
 * 2 usage error. Errors are one line on stderr. */
int dx_cli_run(const char *program, int argc, char **argv);
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

/* `darknet explain ...`: the entry point patches/ registers in Darknet's dispatcher */
void run_explain(int argc, char **argv);
/* Ends the process with exit code rc (see cli.c for when it skips the exit handlers). */
void dx_cli_exit(int rc) __attribute__((noreturn));
#endif
