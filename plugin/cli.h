/* The command line, shared by the `darknet-explain` program and `darknet explain` inside a
 * patched Darknet: one parser, one implementation, two front doors. */
#ifndef DX_CLI_H
#define DX_CLI_H
#include <stdio.h>
#include "explain.h"

/* dx_cli_run, the command line itself, is public (explain.h): the Python package runs it. What
 * a run prints beside its files is notes.h's. */

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
/* commands.c — the commands that are not a per-image method, each with its own arguments after
 * its name (argv[0]). check: as dx_cli_check_args, -1 when the arguments are well formed (the
 * run would go on), else the exit status after -h (0) or one usage line (2). run: the whole command, its exit status. usage: what
 * `<name> -h` prints (NULL: another row's usage covers it). help: the line `darknet-explain -h`
 * shows for it, or NULL. */
typedef struct {
    const char *name;
    int (*check)(const char *program, int argc, char **argv);
    int (*run)(const char *program, int argc, char **argv);
    void (*usage)(const char *program, FILE *f);
    const char *help;
} dx_cli_command;
const dx_cli_command *dx_cli_commands(size_t *n);
/* the command argv[0] names, or NULL (argc 0 too) */
const dx_cli_command *dx_cli_command_named(int argc, char **argv);
/* `darknet explain ...`: the entry point patches/ registers in Darknet's dispatcher */
void run_explain(int argc, char **argv);
/* Ends the process with exit code rc (see cli.c for when it skips the exit handlers). */
void dx_cli_exit(int rc) __attribute__((noreturn));
#endif
