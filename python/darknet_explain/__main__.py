"""python3 -m darknet_explain METHOD CFG WEIGHTS IMAGE [options]: the command line of
build/darknet-explain, run by the library's own entry (dx_cli_run): the same options, files,
messages and exit statuses."""
import signal
import sys

from ._lib import lib, libc, words

PROGRAM = b"python3 -m darknet_explain"


def main(argv):
    # as a C program: Ctrl-C and a closed pipe end the process (and the library's writer then
    # removes its part files), instead of Python's KeyboardInterrupt and ignored SIGPIPE
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    argc, array = words(argv)
    status = lib.dx_cli_run(PROGRAM, argc, array)
    libc.fflush(None)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
