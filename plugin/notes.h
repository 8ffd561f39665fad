/* notes.c: what a run of the command line (cli.c, all.c, batch.c) prints beside its files: the
 * photo's class, the note on blank maps, and what the detector's lines need of each box. */
#ifndef DX_NOTES_H
#define DX_NOTES_H
#include "explain.h"

/* The line that says what the photo is: "photo.jpg: malamute 14.18% (class 14)". */
void dx_cli_print_target(const char *image, int names, const dx_model *m, const dx_result *r);

/* The maps of a run that hold one value everywhere (blank figures, a "0 ... 0" bar), collected
 * by dx_blank_add and named in one note line on stderr by dx_blank_note (the exit status ignores
 * it): "PROGRAM: note: the [METHOD ]map(s) of NAMES is/are ...". */
typedef struct {
    char names[512];
    int count;
    int relu_zeros; /* every one is 0 after a ReLU */
} dx_blank_maps;
void dx_blank_add(dx_blank_maps *b, const dx_result *r, const char *name);
void dx_blank_note(const char *program, const dx_blank_maps *b, const char *method);
/* What the lines printed after a detector's files are committed need of each box, gathered
 * box by box (dx_see_box is a dx_box_fn for dx_explain_boxes_write, ctx a dx_boxes_seen): the
 * boxes, and the blank maps named "[PATH ]STEM" (dx_box_stem). Free boxes. */
typedef struct {
    const char *path;    /* NULL: the blank maps are named by their stem alone */
    dx_detection *boxes; /* n, malloc'd */
    int n;
    dx_blank_maps blank;
} dx_boxes_seen;
int dx_see_box(void *ctx, const dx_box_explanations *e, int k, dx_result *r, dx_error *err);
#endif
