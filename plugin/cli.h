/* The command line, shared by the `darknet-explain` program and `darknet explain` inside a
 * patched Darknet: one parser, one implementation, two front doors. */
#ifndef DX_CLI_H
#define DX_CLI_H
/* argv[0] is the method name (or -h); returns the process exit code: 0 success, 1 failure,
 * 2 usage error. Errors are one line on stderr. */
int dx_cli_run(const char *program, int argc, char **argv);
/* What dx_cli_run does with argv before it opens or writes anything (eval and eval-merge too):
 * -1 when it would go on to open files, else its exit code (0 after printing help, 2 after a
 * one-line usage error on stderr). */
int dx_cli_check_args(const char *program, int argc, char **argv);
/* `darknet explain ...`: the entry point patches/ registers in Darknet's dispatcher */
void run_explain(int argc, char **argv);
#endif
