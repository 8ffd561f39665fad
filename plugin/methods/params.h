/* The methods' own options: one row each, written once here and expanded into the option tables
 * of the command line (cli.c: into cli_args.req), of eval (eval/cli.c: into its request) and of
 * the library (params.c: into a dx_request, for -h, the JSON's "parameters" and the checks).
 * Which method takes which option, and the defaults that differ between methods, are the
 * registry's (registry.c); the other defaults are dx_request_init's (explain.c). A row's help
 * says what the value is, never its default: -h, the man page and docs/cli.md print the default
 * from dx_request_init_for, so it is written in one place.
 *
 * X(id, flag, kind, field of dx_request, lo, hi, choices, help); the help's words before its
 * first two-space gap name the value, as in every option table (options.h). */
#ifndef DX_METHODS_PARAMS_H
#define DX_METHODS_PARAMS_H
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include "explain.h"
#include "io/json.h"
#include "options.h"

/* The options eval takes as they are (eval/cli.c). */
#define DX_METHOD_OPTIONS_OWN(X)                                                                              \
    X(LAYER, "-layer", OPT_LAYERS, layers, 0, INT_MAX, NULL,                                                  \
      "L[,L2..]|auto  the layer(s) whose maps are averaged (default: the last feature layer before the "      \
      "target's head, docs/methods.md); auto: per target, its head's default layer and the last layer of "    \
      "each coarser-than-1/8 resolution feeding it (multi-scale, as LayerCAM fuses stages); lrp: the one "    \
      "layer whose relevance is mapped (default: the input)")                                                 \
    X(RELU, "-relu", OPT_INT, relu, 0, 1, NULL, "0|1  clamp the map at 0; 0 keeps the negative evidence")     \
    X(EIGEN_SMOOTH, "-eigen_smooth", OPT_FLAG, eigen_smooth, 0, 0, NULL,                                      \
      "the map is the first principal component of the weighted activations instead of their channel sum")   \
    X(AUG_SMOOTH, "-aug_smooth", OPT_FLAG, aug_smooth, 0, 0, NULL,                                            \
      "average the maps of the input, its mirror and both zoomed 1.1x, each mapped back")                    \
    X(COMPOSITE, "-composite", OPT_TEXT, lrp_composite, 0, 0, NULL,                                           \
      "NAME  the rules by layer kind, docs/lrp.md: epsilon-plus-flat-nobias, or Zennit's epsilon-plus-flat, " \
      "epsilon-plus, epsilon-gamma-box")                                                                      \
    X(RULES, "-rules", OPT_TEXT, lrp_rules, 0, 0, NULL,                                                       \
      "SPEC  rules per layer range instead of a composite, e.g. 0:zb,1-10:gamma=0.25,11-:epsilon=0.01")      \
    X(STEPS, "-steps", OPT_INT, steps, 1, DX_MAX_STEPS, NULL,                                                 \
      "N  intervals of the path from the baseline, N + 1 forward/backward passes")                          \
    X(BASELINE, "-baseline", OPT_TEXT, baseline, 0, 0, NULL,                                                  \
      "B  ig: the path's start, deeplift: the reference: black (zeros), blur (the input blurred by a Gaussian of sigma = network width / " \
      "16 pixels), noise (uniform [0,1), from -seed) or an image file, letterboxed as the photo")           \
    X(RULE, "-rule", OPT_CHOICE, deeplift_rule, 0, 0, "rescale|revealcancel",                                \
      "rescale|revealcancel  deeplift's rule at the nonlinearities: Rescale on the whole difference, or "    \
      "RevealCancel with its positive and negative parts apart (docs/methods.md)")                          \
    X(SAMPLES, "-samples", OPT_INT, samples, 1, DX_MAX_SAMPLES, NULL,                                         \
      "N  smoothgrad, smoothgrad2, vargrad: noisy copies; lime: perturbed inputs, the photo and the "         \
      "baseline included; kernelshap: coalitions scored besides the full and the empty one")                  \
    X(NOISE, "-noise", OPT_FLOAT, noise, 0, 10, NULL, "S  Gaussian noise sd as a fraction of the input's range") \
    X(OCCLUDE, "-occlude", OPT_CHOICE, occlude, 0, 0, "black|mean|blur",                                      \
      "black|mean|blur  what removed pixels become: zeros, each channel's mean, or the input blurred")       \
    X(WINDOW, "-window", OPT_INT, window, 1, 100000, NULL, "W  the occluding square's side, network-input pixels") \
    X(STRIDE, "-stride", OPT_INT, stride, 1, 100000, NULL,                                                    \
      "S  the step between windows; the last one lies flush with the far edge")                             \
    X(MASKS, "-masks", OPT_INT, masks, 1, DX_MAX_MASKS, NULL, "N  random masks, one forward each")            \
    X(CELL, "-cell", OPT_INT, cell, 1, 1000, NULL, "s  mask grid cells per side")                             \
    X(P, "-p", OPT_FLOAT, keep_prob, 0.01, 1, NULL, "P  the probability that a grid cell is kept")           \
    X(SEGMENTS, "-segments", OPT_INT, segments, 1, DX_MAX_SEGMENTS, NULL,                                     \
      "K  SLIC superpixels asked for, compactness 10")                                                       \
    X(KERNEL_WIDTH, "-kernel_width", OPT_FLOAT, kernel_width, 1e-3, 100, NULL,                                \
      "w  the width of LIME's kernel on cosine distance")

/* The options eval has rows of its own for: its -seed is the methods' seed too, its -score and
 * -batch are its metrics' (its methods explain the logit, one forward per pass). */
#define DX_METHOD_OPTIONS_SHARED(X)                                                                            \
    X(SCORE, "-score", OPT_CLASSIFIERS | OPT_CHOICE, score, 0, 0, "logit|prob",                               \
      "logit|prob  classifiers: explain the class's pre-softmax logit or its softmax probability")           \
    X(SEED, "-seed", OPT_U64, seed, 0, 0, NULL, "S  the seed of every random draw: the same seed, the same map") \
    X(BATCH, "-batch", OPT_INT, batch, 1, 4096, NULL, "N  inputs (perturbed or masked) scored per forward pass")

#define DX_METHOD_OPTION_ID(id, ...) DX_MOPT_##id,
typedef enum {
    DX_METHOD_OPTIONS_OWN(DX_METHOD_OPTION_ID) DX_METHOD_OPTIONS_SHARED(DX_METHOD_OPTION_ID) DX_MOPT_COUNT
} dx_method_option;
#undef DX_METHOD_OPTION_ID

/* A method's set of options: bit 1u << o for each dx_method_option o it takes. */
#define DX_MOPT(id) (1u << DX_MOPT_##id)
_Static_assert(DX_MOPT_COUNT <= 32, "a method's option set is an unsigned int");

/* The row of option o, its offset into a dx_request; NULL when out of range. */
const dx_option *dx_method_option_row(dx_method_option o);
/* The method option whose field lies at `offset` in a dx_request (an option table's row
 * expanded from these, its offset less the request's in the table's struct), or -1. */
int dx_method_option_at(size_t offset);
int dx_method_takes(dx_method m, dx_method_option o);

/* A method's option in argv that none of methods[0..n) takes (argv parsed by `options`, whose
 * dx_request sits at request_offset in the table's struct) is refused rather than ignored: one
 * line on errs, "<who>: <method> does not take -flag (its options: ...; see <program> <method>
 * -h)", or with `list` (the -methods given) "<who>: -flag: none of -methods <list> takes it",
 * and -1; else 0. */
int dx_method_options_check(FILE *errs, const char *who, const char *program, const dx_option *options,
                            size_t n_options, size_t request_offset, const dx_method *methods, int n,
                            const char *list, int argc, char **argv);

/* req's value of option o as the command line writes it ("64", "0.15", "black", "8,12", "auto")
 * into buf; -1 when it has none to write (an unset flag, no text, no -layer). */
int dx_method_option_text(const dx_request *req, dx_method_option o, char *buf, size_t len);
/* Which methods take option o, and the default of each: "ig; default 64", "smoothgrad,
 * smoothgrad2, vargrad: default 25; lime, kernelshap: default 400" (-h, the man page, cli.md). */
void dx_method_option_note(dx_method_option o, char *buf, size_t len);
/* The note of an option table's row when it sets a method option (dx_method_option_of_row): 0,
 * else -1 (the tables' dx_option_note_fn). */
int dx_method_option_row_note(const dx_option *row, size_t request_offset, char *buf, size_t len);
/* An option table's row whose offset, less request_offset (where the table's struct holds its
 * dx_request), is a method option's: that option, else -1. */
int dx_method_option_of_row(const dx_option *row, size_t request_offset);
/* `<method> -h` without its usage line: what the method computes, then its options, each with its
 * help and default (wrapped within 100 columns). */
void dx_method_usage(FILE *f, dx_method m);

/* The request the method runs: req with the values that stand for "the method's default" (0
 * samples, masks, cell; no -baseline; lrp without -composite or -rules) replaced by it. */
void dx_request_effective(const dx_request *req, dx_request *out);

/* "parameters": the value of every option req's method takes, named as the flag without its
 * '-' (classifiers' options left out for a detector), in the command line's words: numbers,
 * strings, booleans for flags, -layer as its text (null: the method's default layer). Running
 * the method again with these options gives the same map. */
void dx_json_parameters(dx_json *j, const dx_request *req, int detector);
#endif
