/* Test helpers: random but sane weights for any cfg, finite-difference gradient checks. */
#ifndef DX_TEST_HELPERS_H
#define DX_TEST_HELPERS_H
#include <stddef.h>
#include <stdint.h>
#include <darknet.h> /* the tests compare with the Darknet itself */
#include "io/image.h"

/* xorshift64*: deterministic, seeded */
typedef struct { uint64_t s; } rng;
double rng_uniform(rng *r);           /* [0,1) */
double rng_normal(rng *r);

/* Writes a file at path holding cfg_text; returns path (static storage per call site's buffer). */
void write_text(const char *path, const char *text);
/* The whole file at path, NUL-terminated, malloc'd (the caller frees); asserts it can be read. */
char *read_text(const char *path);
/* A fresh temporary directory (removed at exit is not needed: /tmp). */
const char *temp_dir(void);

/* Opens cfg with freshly written random weights: conv/connected weights ~ N(0, 2/fan_in),
 * biases ~ U(-0.1, 0.1), batch-norm scales ~ U(0.5, 1.5), means ~ U(-0.1, 0.1),
 * variances ~ U(0.5, 1.5). The weights file is written to weights_out. */
dx_model *open_random(const char *cfg, const char *weights_out, uint64_t seed);
/* cfg_text written as NAME.cfg in a new temporary folder, opened with random weights (seed) */
dx_model *open_cfg_text(const char *name, const char *cfg_text, uint64_t seed);
/* A w x h x c photo of uniform [0,1) pixels, from seed. */
dx_image noise_photo(int w, int h, int c, uint64_t seed);
/* A new weights file at path with Darknet's 0.2 header (major 0, minor 2, revision 0, 64-bit
 * seen 0), open for the floats that follow; asserts it can be written. */
FILE *create_weights_file(const char *path);

/* f(x) = sum_k proj[k] * output_k of layer `top`, in double */
double projected_output(dx_model *m, int top, const float *proj, const float *x);

typedef struct {
    double rel_err;   /* ||analytic - fd|| / ||fd|| over the coordinates used */
    int used;         /* coordinates where the two step sizes agreed */
    int skipped;      /* coordinates where they did not (a kink within the step) */
    int agree;        /* used coordinates where analytic and fd agree to 1% (plus float noise) */
} fd_report;

/* Central differences of f at `count` input coordinates (half the largest |grad|, half random)
 * with steps h and h/2; a coordinate counts only where both agree to 1% (plus float32 noise):
 * where they do not, a kink (ReLU, max) lies within the step. */
fd_report fd_check_coords(dx_model *m, int top, const float *proj, const float *x,
                          const float *grad, int count, float h, uint64_t seed);

/* Directional check: (f(x + h v) - f(x - h v)) / 2h against <grad, v> for unit v. */
double fd_directional(dx_model *m, int top, const float *proj, const float *x, const float *grad,
                      const float *v, float h, double *analytic_out, double *fd_out);

/* Runs the plugin's backward for f and returns a malloc'd copy of d f / d input. */
float *analytic_input_grad(dx_model *m, int top, const float *proj, const float *x);

/* The shared-models folder (../shared next to the project), or NULL when it is absent. */
const char *shared_dir(void);
/* A model of ../shared/models by name ("imagenet/tiny"), with a names file there (may be NULL);
 * skips the test when ../shared is absent. */
dx_model *open_shared_model(const char *name, const char *names);

/* darknet-explain ($DX_CLI) run as a child in dir with args (NULL-terminated, without the program
 * name), stdout and stderr captured outside dir; as_limit > 0: under that RLIMIT_AS (bytes); killed
 * after timeout_s seconds. */
typedef struct {
    int status;     /* the exit code; 128 + the signal when one ended it; -1 when it timed out */
    char out[8192], err[8192];
    int err_lines;
    double seconds;
    long max_rss_kb; /* the child's peak resident set size (wait4's ru_maxrss), in kB */
} cli_result;
cli_result spawn_cli(const char *dir, const char *const *args, long long as_limit, int timeout_s);
/* Files in dir other than those named in keep (NULL-terminated); each is logged. */
int stray_files_in(const char *dir, const char *const *keep);

/* Each box of `all` (dx_explain_boxes with req) explained alone: the same box, the same map
 * within 1e-6 of its peak. */
void expect_each_box_alone(dx_model *m, dx_image photo, const dx_request *req, const dx_box_explanations *all);

/* The darknet-explain command ($DX_CLI) run through the shell in dir with args: its exit code
 * (128 + the signal when killed), what it printed, how many lines on stderr. */
typedef struct {
    int status;
    char out[8192], err[8192];
    int err_lines;
} run_result;
run_result run_dx(const char *dir, const char *args);
/* Starts the command in the background in dir with argv (argv[0] $DX_CLI, NULL-terminated), its
 * streams to dir/stdout.txt and dir/stderr.txt; returns its pid. */
int spawn_dx(const char *dir, const char *const *argv);
/* A fresh directory with the project's test classifier (net.cfg), random net.weights and a
 * 40x30 photo.png (a bright square on grey). */
const char *classifier_fixture(void);
/* Files in dir other than the fixtures' inputs and the captured streams, each logged. */
int stray_files(const char *dir);
/* Expects the files a and b to hold the same text (the first differing line is logged); asserts
 * both can be read. */
void expect_same_file(const char *a, const char *b);
/* path's text (at most len - 1 bytes, NUL-terminated; "" when it cannot be read) */
void read_text_into(const char *path, char *buf, size_t len);
/* `make TARGETS` in the project's root ($DX_ROOT), its output into dir/make.log, without make
 * test's MAKEFLAGS (a jobserver's descriptors are not the test's); asserts it succeeded, showing
 * the start of that log when it did not. */
void assert_make(const char *dir, const char *targets);
/* A scratch directory for each test (a suite's .init = make_scratch, .fini = remove_scratch,
 * which removes it and all in it); scratch_path writes the path of `name` in it to buf. */
void make_scratch(void);
void remove_scratch(void);
const char *scratch_path(char *buf, size_t size, const char *name);
int exists(const char *path); /* the path names something (lstat succeeds: a dangling link too) */
/* The C API example of $DX_ROOT/README.md: the first ```c block after the "## The C API"
 * heading (static storage). */
const char *readme_c_api_example(void);
/* bilinear resize from h x w to h2 x w2, pixel centres aligned, edges clamped */
void resize_centres(const float *src, int h, int w, float *dst, int h2, int w2);
/* For the walks over a fork's cfg folder (tests/alexeyab/, tests/hankai/): a w x h PPM of smooth
 * colours (small enough to stretch or letterbox into any network); the *.cfg file names of dir,
 * sorted, strdup'd into names (at most max; the caller frees); a copy of cfg with its [net] width
 * and height set to side (the layer types are what is walked, not the resolution), except a cfg
 * with a [crop], which keeps its own size. */
void write_smooth_photo(const char *path, int w, int h);
int list_cfgs(const char *dir, char **names, int max);
void copy_cfg_at_side(const char *cfg, const char *copy, int side);
/* Layer i of m re-run by the Darknet's own forward (the stand-ins off, then on again) on what is
 * below it: a copy of its output (batch x outputs floats, malloc'd), the layer's output left so. */
float *darknet_layer_output(dx_model *m, int i);
/* max |a - b| over max |b| (b all zero: 0 when a is too, else infinity); *largest (when not
 * NULL): max |b| */
double rel_diff(const float *a, const float *b, size_t n, double *largest);
/* The input and every layer's output of m's current forward state, concatenated (malloc'd, *len
 * floats). */
float *forward_state(dx_model *m, size_t *len);
/* Explains photo with req on m (its first-time blocks made, its workers' copies closed), then
 * again with each of its allocations made to fail in turn (and two beyond): every run fails with
 * one line saying out of memory or succeeds, the next run gives the reference map bit for bit,
 * and at least half the allocations fail a run. */
void expect_each_failed_allocation_is_one_error(dx_model *m, dx_image photo, const dx_request *req);
#endif
