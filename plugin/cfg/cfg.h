/* plugin/cfg/: validation of a cfg's text before Debian's Darknet (pjreddie, git 2018-09-14)
 * parses it, and the batch-1 copy the plugin hands to Darknet. This header is the module's internal
 * interface; the entry points the rest of the plugin calls are declared in check.h.
 *
 * parse_network_cfg calls exit(), assert()s, divides by zero or reads out of bounds on many
 * malformed cfgs, and silently computes another network on others (an unknown activation becomes
 * relu, keys of other forks are ignored, "3x" is read as 3). The checks read the text with
 * Darknet's line rules and follow the shapes through the layers as the make_*_layer functions
 * compute them, so that the plugin only hands Darknet cfgs it parses safely and computes as
 * written.
 *
 *   lex.c    the text as read_cfg sees it: sections of key=value lines, keys and values looked up
 *   spec.c   what Darknet reads of each section type, and the checks of every key's value
 *   shape.c  each layer's output shape and cost, one function per section type
 *   check.c  the driver: [net], then every layer through spec and shape, and the budgets
 *   copy.c   the copy of the cfg with [net]'s batch and subdivisions replaced
 */
#ifndef DX_CFG_H
#define DX_CFG_H
#include <stddef.h>
#include "cfg/check.h"

/* ------------------------------------------------------------------------------------------ */
/* The cfg as Darknet's read_cfg sees it (lex.c)                                              */

typedef struct {
    const char *key, *value; /* point into the stripped text */
    int line;
} entry;

typedef struct {
    const char *type; /* "[convolutional]", as written */
    int line;
    size_t first, count; /* its entries */
} section;

typedef struct {
    const char *path;
    char *text;
    entry *entries;
    size_t n_entries;
    section *sections;
    size_t n_sections;
    char *warnings;
    size_t warnings_len;
    dx_error *err;
    dx_cfg_size *size; /* receives the network's size when not NULL */
} cfg;

/* Sets c->err to "PATH:LINE: what" ("PATH: what" for line 0, the file as a whole); returns -1. */
int dx_cfg_fail(const cfg *c, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Appends "PATH:LINE: what" as one line to c->warnings (when not NULL); a line that no longer
 * fits is dropped whole, never cut. */
void dx_cfg_warn(const cfg *c, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The whole file, NUL-terminated (the caller frees it) and its length in *len; NULL with err set
 * (missing, unreadable, larger than any cfg). */
char *dx_cfg_read_text(const char *path, size_t *len, dx_error *err);
/* Splits c->text (len bytes, changed in place: the entries point into it) into c->sections and
 * c->entries (the caller frees both arrays) with read_cfg's rules: blanks and tabs are removed
 * everywhere in a line, empty lines and lines starting with '#' or ';' are skipped, '[' starts a
 * section. Refuses what read_cfg would crash on or silently misread (-1 with c->err set). */
int dx_cfg_split_sections(cfg *c, size_t len);
/* The first occurrence of key in s, as option_find returns it; NULL when s does not set it. */
const entry *dx_cfg_find(const cfg *c, const section *s, const char *key);
/* Its value as option_find_int and option_find_float read it (def when unset), and its line (the
 * section's when unset). */
long dx_cfg_int(const cfg *c, const section *s, const char *key, long def);
double dx_cfg_float(const cfg *c, const section *s, const char *key, double def);
int dx_cfg_line_of(const cfg *c, const section *s, const char *key);
/* A comma list's elements (one more than its commas), and element i (< that count) as a number. */
int dx_cfg_list_count(const char *s);
double dx_cfg_list_at(const char *s, int i);
/* Entries in a file Darknet reads line by line (fgetl): one per line. Opens it as Darknet does,
 * relative to the current directory. -1 with *error (an errno) when it cannot be read. */
long dx_cfg_count_lines(const char *path, int *error);

/* ------------------------------------------------------------------------------------------ */
/* What Darknet reads, section by section (spec.c)                                            */

typedef enum {
    T_NET, T_CONV, T_DECONV, T_LOCAL, T_ACTIVATION, T_LOGISTIC, T_L2NORM, T_RNN, T_GRU, T_LSTM,
    T_CRNN, T_CONNECTED, T_CROP, T_COST, T_REGION, T_YOLO, T_ISEG, T_DETECTION, T_SOFTMAX,
    T_NORMALIZATION, T_BATCHNORM, T_MAXPOOL, T_REORG, T_AVGPOOL, T_ROUTE, T_UPSAMPLE, T_SHORTCUT,
    T_DROPOUT
} layer_type;

typedef struct {
    const char *name, *alias; /* as string_to_layer_type spells them */
    layer_type type;
    const struct key_spec *reads;       /* the keys parse_* reads; {NULL} ends */
    const struct neutral_key *neutral;  /* keys of other forks, harmless at one value only */
    /* Keys other forks read that change nothing at inference here (training, NMS, tracking),
     * space-separated: accepted without a warning. */
    const char *training_only;
} section_spec;

/* The spec of a section type as written ("[conv]" or "[convolutional]"); NULL for one Debian's
 * Darknet does not know. */
const section_spec *dx_cfg_spec_of(const char *type);
/* Refuses a section dx_cfg_spec_of does not know, naming an AlexeyAB layer as one or listing the
 * known ones; returns -1. */
int dx_cfg_unknown_section(const cfg *c, const section *s);
/* Every key of a section: its value has the kind Darknet reads; keys other forks give a meaning
 * have their neutral value; a key given twice keeps one value (Darknet uses the first); keys no
 * one reads are warned about. */
int dx_cfg_check_keys(cfg *c, const section *s, const section_spec *spec);
/* [net] options Darknet acts on while parsing, besides the input. */
int dx_cfg_check_net_options(const cfg *c, const section *s);

/* ------------------------------------------------------------------------------------------ */
/* Shapes, as the make_*_layer functions compute them (shape.c)                               */

/* What a layer costs beyond its outputs, for the budgets. */
typedef struct {
    double weights;   /* floats */
    double workspace; /* floats of the network's shared im2col workspace its forward writes */
    double reserved;  /* floats of that workspace Darknet sizes for it (see check.c) */
    double ops;       /* multiply-adds or comparisons per image, when more than its outputs */
} layer_cost;

typedef struct {
    int index;         /* Darknet's layer index; -1: the network input */
    const char *name;  /* the section name as written */
    long long h, w, c; /* 0, 0, 0: a flat vector */
    long long outputs;
    const char *flat_why;
} shape;

/* Sets out to a flat vector of `outputs` values; `why` says why it is flat (for messages). */
void dx_cfg_set_flat(shape *out, long long outputs, const char *why);
/* Sets out to h x w x c. Sizes arrive in double so that absurd cfg values cannot overflow;
 * anything near the clamp fails the memory budget before it is used. */
void dx_cfg_set_image(shape *out, double h, double w, double c);
/* Computes layer `index`'s output (section s of the given type) from its input `in` (the previous
 * layer's output, or the network input) and the layers before it (layers[0..index-1], which
 * [route] and [shortcut] refer to), and what it costs. -1 with c->err set when Debian's Darknet
 * would not compute the layer as written; a second [net] section is refused here. */
int dx_cfg_layer_shape(const cfg *c, const section *s, layer_type type, int index,
                       const shape *layers, const shape *in, shape *out, layer_cost *cost);

#endif
