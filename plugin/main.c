/* darknet-explain: the stand-alone command, linked against the installed Darknet library. */
#include "cli.h"

int main(int argc, char **argv)
{
    dx_blas_best_kernel();
    dx_cli_exit(dx_cli_run("darknet-explain", argc - 1, argv + 1));
}
