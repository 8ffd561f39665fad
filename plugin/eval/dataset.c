/* eval's inputs: the image list, the label file beside each image, and each image of the run
 * loaded, fitted to the network and run once (a classifier's top-1 class, or a detector's boxes
 * matched to the image's labels). Declared in eval/results.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "detect.h"
#include "engine.h"
#include "error.h"
#include "eval/eval.h"
#include "eval/results.h"
#include "io/image.h"
#include "memory.h"
#include "model.h"

/* ---- the list and the labels ---- */

int dx_eval_read_list(const char *path, dx_eval_list *list, dx_error *err)
{
    memset(list, 0, sizeof *list);
    FILE *f = fopen(path, "r");
    if (!f) {
        dx_set_error(err, "%s: cannot read the image list: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    for (int number = 1; (len = getline(&line, &cap, f)) >= 0; ++number) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ')) line[--len] = 0;
        if (len == 0 || line[0] == '#') continue;
        char **grown = dx_realloc_array(list->paths, (size_t)list->n + 1, sizeof(char *), path, err);
        if (grown) list->paths = grown;
        int *grown_lines = grown ? dx_realloc_array(list->lines, (size_t)list->n + 1, sizeof(int), path, err) : NULL;
        if (grown_lines) list->lines = grown_lines;
        char *copy = grown_lines ? dx_strdup(line, path, err) : NULL;
        if (!copy) { /* err says so; not a shorter list */
            free(line);
            fclose(f);
            dx_eval_list_free(list);
            return -1;
        }
        list->lines[list->n] = number;
        list->paths[list->n++] = copy;
    }
    free(line);
    fclose(f);
    if (list->n == 0) {
        dx_set_error(err, "%s: the image list names no image", path);
        dx_eval_list_free(list);
        return -1;
    }
    return 0;
}

void dx_eval_list_free(dx_eval_list *list)
{
    for (int k = 0; k < list->n; ++k) free(list->paths[k]);
    free(list->paths);
    free(list->lines);
    memset(list, 0, sizeof *list);
}

/* A box given by its centre and size as fractions of the photo, in the network frame. */
static dx_pixel_box network_box(const dx_letterbox *g, float cx, float cy, float w, float h)
{
    return (dx_pixel_box){g->dx + (cx - w / 2) * g->inner_w, g->dy + (cy - h / 2) * g->inner_h,
                    g->dx + (cx + w / 2) * g->inner_w, g->dy + (cy + h / 2) * g->inner_h};
}

/* The classes a label may name: a detector's head's, or the classifier's outputs. */
static int model_classes(const dx_model *m)
{
    return dx_is_detector(m) ? m->net->layers[m->head].classes : dx_class_count(m);
}

int dx_eval_read_labels(const char *image_path, const dx_letterbox *g, int n_classes, dx_pixel_box **boxes,
                        int **classes, dx_error *err)
{
    char path[1100];
    const char *dot = strrchr(image_path, '.'), *slash = strrchr(image_path, '/');
    int stem = dot && (!slash || dot > slash) ? (int)(dot - image_path) : (int)strlen(image_path);
    snprintf(path, sizeof path, "%.*s.txt", stem, image_path);
    *boxes = NULL;
    *classes = NULL;
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int n = 0, line = 0, cls = 0;
    float cx = 0, cy = 0, w = 0, h = 0;
    char *text = NULL; /* a whole line, however long */
    size_t cap = 0;
    while (getline(&text, &cap, f) >= 0) {
        ++line;
        char extra;
        int len = (int)strcspn(text, "\r\n");
        if (text[strspn(text, " \t\r\n")] == 0) continue; /* blank line */
        int fields = sscanf(text, "%d %f %f %f %f %c", &cls, &cx, &cy, &w, &h, &extra);
        /* the comparisons are false for NaN */
        int fractions = cx >= 0 && cx <= 1 && cy >= 0 && cy <= 1 && w > 0 && w <= 1 && h > 0 && h <= 1;
        int ok = 0;
        if (fields != 5)
            dx_set_error(err, "%s:%d: a label line is 'class cx cy w h' (relative to the image)", path, line);
        else if (!fractions)
            dx_set_error(err, "%s:%d: '%.*s': cx cy w h are fractions of the image (in [0,1]; w, h > 0)", path,
                         line, len, text);
        else if (cls < 0 || cls >= n_classes)
            dx_set_error(err, "%s:%d: class %d: the model has %d classes (0..%d)", path, line, cls, n_classes,
                         n_classes - 1);
        else
            ok = 1;
        dx_pixel_box *grown = ok ? dx_realloc_array(*boxes, (size_t)n + 1, sizeof(dx_pixel_box), path, err) : NULL;
        if (grown) *boxes = grown;
        int *grown_classes = grown ? dx_realloc_array(*classes, (size_t)n + 1, sizeof(int), path, err) : NULL;
        if (grown_classes) *classes = grown_classes;
        if (!grown_classes) { /* err says why: the line, or out of memory (not fewer labels) */
            free(*boxes);
            free(*classes);
            *boxes = NULL;
            *classes = NULL;
            free(text);
            fclose(f);
            return -1;
        }
        (*classes)[n] = cls;
        (*boxes)[n++] = network_box(g, cx, cy, w, h);
    }
    free(text);
    fclose(f);
    return n;
}

/* ---- one image of the run ---- */

void dx_eval_image_state_free(dx_eval_image_state *st)
{
    if (st->boxed.data) dx_free_image(st->boxed);
    free(st->labels);
    free(st->label_classes);
    free(st->dets);
    free(st->match);
    memset(st, 0, sizeof *st);
}

dx_pixel_box dx_eval_detection_box(const dx_letterbox *g, const dx_detection *d)
{
    return network_box(g, d->bbox.x, d->bbox.y, d->bbox.w, d->bbox.h);
}

int dx_eval_image_prepare(const dx_eval_args *a, dx_model *m, const char *path, dx_eval_image_state *st,
                          dx_error *err)
{
    memset(st, 0, sizeof *st);
    dx_image photo;
    if (dx_load_model_photo(m, path, &photo, err) != 0) return -1;
    dx_fit_geometry(m, photo.w, photo.h, &st->g);
    st->photo_scale = (float)photo.w / st->g.inner_w; /* a stretched input: the horizontal scale */
    st->boxed = dx_fit_photo(m, photo);
    st->photo_w = photo.w;
    st->photo_h = photo.h;
    dx_free_image(photo);
    st->n_labels = dx_eval_read_labels(path, &st->g, model_classes(m), &st->labels, &st->label_classes, err);
    if (st->n_labels < 0) {
        dx_eval_image_state_free(st);
        return -1;
    }
    dx_forward(m, st->boxed.data);
    if (dx_is_detector(m)) {
        int rc = dx_decode_boxes(m, st->photo_w, st->photo_h, a->method.thresh, a->method.hier, a->method.nms,
                                 &st->dets, &st->n_all, err);
        if (rc == 0 && !(st->match = dx_alloc((size_t)st->n_all + 1, sizeof(int), "the boxes' labels", err))) rc = -1;
        if (rc != 0) {
            dx_eval_image_state_free(st);
            return -1;
        }
        for (int k = 0; k < st->n_all; ++k) {
            dx_pixel_box frame = dx_eval_detection_box(&st->g, &st->dets[k]);
            st->match[k] = dx_eval_match_label(&frame, st->dets[k].cls, st->labels, st->label_classes, st->n_labels,
                                               NULL);
        }
        st->n_dets = st->n_all < a->max_boxes ? st->n_all : a->max_boxes;
        return 0;
    }
    const float *out = dx_output_of(m, m->head);
    for (int k = 1; k < dx_class_count(m); ++k)
        if (out[k] > out[st->cls]) st->cls = k;
    return 0;
}

int dx_eval_check_inputs(const dx_eval_args *a, const dx_model *m, const dx_eval_list *list, dx_error *err)
{
    for (int index = a->shard_index; index < list->n; index += a->shard_count) {
        dx_letterbox unused = {0};
        dx_pixel_box *labels;
        int *classes;
        if (dx_check_model_photo(m, list->paths[index], err) != 0 ||
            dx_eval_read_labels(list->paths[index], &unused, model_classes(m), &labels, &classes, err) < 0)
            return -1;
        free(labels);
        free(classes);
    }
    return 0;
}
