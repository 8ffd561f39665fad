/* `darknet-explain counterfactual`: a row of commands.c's table (counterfactual/cli.c). */
#ifndef DX_COUNTERFACTUAL_CLI_H
#define DX_COUNTERFACTUAL_CLI_H
#include <stdio.h>
/* The arguments' checks that need no file: -1 when they are well formed, else the exit status
 * (0 after -h, 2 after a one-line usage error). */
int dx_counterfactual_check_args(const char *program, int argc, char **argv);
/* The whole command: its exit status (0 whether or not a counterfactual was found; 1 bad input
 * or a runtime failure; 2 a usage error), each error one line on stderr, no file left on failure. */
int dx_counterfactual_cli(const char *program, int argc, char **argv);
void dx_counterfactual_usage(const char *program, FILE *f); /* what `counterfactual -h` prints */
#endif
