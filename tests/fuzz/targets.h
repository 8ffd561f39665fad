/* The fuzz targets: one function per parser the project exposes to untrusted bytes, shared by the
 * AFL++ harness (tests/fuzz/afl_main.c) and the corpus replay in `make test`
 * (tests/test_fuzz_replay.c), so that both run exactly the same code on an input. */
#ifndef DX_FUZZ_TARGETS_H
#define DX_FUZZ_TARGETS_H
#include <stddef.h>

typedef enum {
    DX_FUZZ_CFG,     /* the bytes as a cfg: dx_open (the cfg check, then Darknet's parse), then a
                      * forward and a saliency map when the network is small */
    DX_FUZZ_WEIGHTS, /* the bytes as the weights of cfg/test-classifier.cfg: dx_open, Grad-CAM */
    DX_FUZZ_IMAGE,   /* the bytes as an image file: dx_load_photo (stb's check, Darknet's loader) */
    DX_FUZZ_OPTIONS, /* the bytes split at NUL and newline into argv: dx_cli_check_args */
    DX_FUZZ_LISTS,   /* eval's image list, a NUL, a label file: dx_eval_read_list, dx_eval_read_labels */
    DX_FUZZ_TARGETS
} dx_fuzz_target;

const char *dx_fuzz_target_name(dx_fuzz_target t); /* cfg, weights, image, options, lists */
int dx_fuzz_target_from_name(const char *name, dx_fuzz_target *t); /* 0 on success */

/* Once per process: a private directory under $TMPDIR (or /tmp) becomes the current directory
 * (every file a target writes, and any file Darknet would leave, lands there; it is removed at
 * exit) and root (the project's root, for cfg/test-classifier.cfg) is remembered. From then on an
 * exit() while a target runs aborts, so that the fuzzer and the replay see it as a crash.
 * 0, or -1 with a message on stderr. */
int dx_fuzz_init(const char *root);

typedef enum {
    DX_FUZZ_BROKEN = -1,  /* the target broke a house rule: a refusal without a one-line message,
                           * stray lines on stderr, a file left behind (msg says which) */
    DX_FUZZ_ACCEPTED = 0, /* the input was taken */
    DX_FUZZ_REFUSED = 1   /* refused with one line (msg) */
} dx_fuzz_outcome;

/* Runs target t on the input; msg (msg_len bytes) receives the refusal or what was broken. */
dx_fuzz_outcome dx_fuzz_one(dx_fuzz_target t, const unsigned char *data, size_t size, char *msg,
                            size_t msg_len);
#endif
