/* darknet-explain: the stand-alone command, linked against the installed Darknet library. */
#include "cli.h"

int main(int argc, char **argv)
{
    /* help and usage errors are answered before the re-execution for OpenBLAS's kernel */
    int rc = dx_cli_check_args("darknet-explain", argc - 1, argv + 1);
    if (rc >= 0) dx_cli_exit(rc);
    dx_blas_reexec(argv);
    dx_cli_exit(dx_cli_run("darknet-explain", argc - 1, argv + 1));
}
