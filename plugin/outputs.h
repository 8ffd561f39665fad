#ifndef DX_OUTPUTS_H
#define DX_OUTPUTS_H
#include <stddef.h>
#include "explain.h"

/* outputs.c: the name stem of explanation k of e in file names and the JSON's "id": box<K> with
 * K the box's index among the detections, or region */
void dx_box_stem(const dx_box_explanations *e, int k, char *out, size_t len);
/* outputs.c: dx_write_box_outputs a box at a time, so that no more than one box's maps need be
 * in memory. open stages every file of e's e->n boxes (e->results unused) and starts the JSON;
 * add writes the next box's .png and .npy (boxes come in order, k = 0..n-1, each once), its
 * JSON member, and folds its map into the combined figure; close writes the figure and the
 * JSON's end and commits them all when rc == 0 (the n boxes added), else removes every file.
 * photo (the one the boxes were found on) and opt (may be NULL) are borrowed until close. */
typedef struct dx_box_writer dx_box_writer;
dx_box_writer *dx_box_writer_open(const dx_model *m, const dx_box_explanations *e, dx_image photo,
                                  const char *prefix, const dx_output_options *opt, dx_error *err);
int dx_box_writer_add(dx_box_writer *w, const dx_result *r, dx_error *err);
int dx_box_writer_close(dx_box_writer *w, int rc, dx_error *err); /* the resulting rc; w freed */
#endif
