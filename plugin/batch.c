/* The methods' -list runs (see batch.h, docs/batch.md).
 *
 * Each photo's outputs are written as a single-photo run writes them (dx_write_outputs,
 * dx_write_box_outputs, dx_all_run: each call's files appear whole or not at all), under
 * DIR/STEM_<method>..., STEM the photo's file name without its extension; photos of the list that
 * share a STEM are told apart by their index in the list, STEM@INDEX. Once a photo's outputs are
 * in place, one line saying what was explained (its size, each target's class, score and box, in
 * hexadecimal floats: read back exactly) is appended to the run's log DIR/.batch.log, which
 * starts with the run's parameters (io/folder.h). -resume keeps the photos the log records whose
 * outputs are there (a run killed between the outputs and the line explains that photo again),
 * and the summary, DIR/detections.json or DIR/results.csv, is written at the end from the log's
 * records: so a killed and resumed run writes the files of an uninterrupted one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "all.h"
#include "batch.h"
#include "cli.h"
#include "engine.h"
#include "error.h"
#include "eval/results.h"
#include "io/atomic.h"
#include "io/escape.h"
#include "io/folder.h"
#include "io/image.h"
#include "io/json.h"
#include "memory.h"
#include "model.h"
#include "notes.h"

#define LOG_NAME ".batch.log"
#define LOCK_NAME ".batch.lock"
#define PHOTOS_LINE "photos\n" /* ends the parameters in the log */

/* One photo of the list. */
typedef struct {
    char *stem;             /* its outputs' name in DIR (malloc'd) */
    int recorded;           /* the log has its line */
    int w, h;               /* its size in pixels */
    dx_all_target *targets; /* what was explained: its class, or each box (malloc'd) */
    int n;
} photo;

typedef struct {
    const dx_batch_args *a;
    int detector;
    const dx_eval_list *list;
    photo *photos;
} batch_run;

/* ---- names ---- */

/* `all` with -boxes all on a detector: a map and a panel per box */
static int all_boxes(const batch_run *b)
{
    return b->detector && b->a->req.box == DX_ALL_BOXES && !b->a->req.use_region;
}

/* What follows STEM_<method> in the name of target k's map (as dx_write_box_outputs and `all`
 * name them): "" for a class and for `all`'s one box, else "_boxK" or "_region". */
static void target_suffix(const batch_run *b, int k, char *out, size_t len)
{
    const dx_request *req = &b->a->req;
    if (!b->detector || (b->a->all && !all_boxes(b))) out[0] = 0;
    else if (req->use_region) snprintf(out, len, "_region");
    else snprintf(out, len, "_box%d", req->box >= 0 ? req->box : k);
}

/* A file of photo p's outputs, relative to DIR: STEM_<method i>[target k's suffix]EXT (k < 0:
 * none, the JSON), or with i < 0 the panel of `all`, STEM_panel[suffix].png. */
static void output_name(const batch_run *b, const photo *p, int i, int k, const char *ext, char *out, size_t len)
{
    char suffix[32] = "";
    if (k >= 0) target_suffix(b, k, suffix, sizeof suffix);
    snprintf(out, len, "%s_%s%s%s", p->stem, i < 0 ? "panel" : dx_method_name(b->a->methods[i]), suffix, ext);
}

static void in_dir(const batch_run *b, const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", b->a->outdir, name);
}

/* the photo's file name without its extension, as a single-photo run names its outputs */
static char *plain_stem(const char *path)
{
    const char *slash = strrchr(path, '/'), *name = slash ? slash + 1 : path, *dot = strrchr(name, '.');
    size_t len = dot && dot != name ? (size_t)(dot - name) : strlen(name);
    char *stem = dx_alloc(len + 1, 1, path, NULL); /* the caller reports */
    return stem ? memcpy(stem, name, len) : NULL; /* zeroed: terminated */
}

static const photo *sorted_base;
static int by_stem(const void *x, const void *y)
{
    return strcmp(sorted_base[*(const int *)x].stem, sorted_base[*(const int *)y].stem);
}

/* order[0..n-1]: the photos' indices, sorted by stem (through sorted_base: one sort at a time) */
static void sort_by_stem(const photo *photos, int *order, int n)
{
    sorted_base = photos;
    for (int k = 0; k < n; ++k) order[k] = k;
    qsort(order, n, sizeof *order, by_stem);
}

/* Each photo's stem; the photos that share one get STEM@INDEX. Two photos still sharing a name
 * (a photo called STEM@INDEX) are refused, naming both lines. */
static int name_photos(batch_run *b, dx_error *err)
{
    int n = b->list->n, rc = 0;
    int *order = dx_alloc(n, sizeof(int), b->a->list, err), *shared = dx_alloc(n, sizeof(int), b->a->list, err);
    for (int k = 0; k < n && order && shared && rc == 0; ++k)
        if (!(b->photos[k].stem = plain_stem(b->list->paths[k]))) {
            dx_set_error(err, "out of memory for %s's names", b->a->list);
            rc = -1;
        }
    if (!order || !shared || rc != 0) {
        free(order);
        free(shared);
        return -1;
    }
    sort_by_stem(b->photos, order, n);
    for (int k = 1; k < n; ++k)
        if (!strcmp(b->photos[order[k]].stem, b->photos[order[k - 1]].stem)) shared[order[k]] = shared[order[k - 1]] = 1;
    for (int k = 0; k < n && rc == 0; ++k) {
        photo *p = &b->photos[k];
        char *named = NULL;
        if (shared[k] && asprintf(&named, "%s@%d", p->stem, k) < 0) rc = -1;
        if (shared[k] && rc == 0) free(p->stem), p->stem = named;
    }
    if (rc != 0) dx_set_error(err, "out of memory for %s's names", b->a->list);
    if (rc == 0) sort_by_stem(b->photos, order, n);
    for (int k = 1; k < n && rc == 0; ++k) {
        int x = order[k - 1], y = order[k], first = x < y ? x : y, second = x < y ? y : x;
        if (strcmp(b->photos[first].stem, b->photos[second].stem)) continue;
        dx_set_error(err, "%s:%d and line %d: both photos' outputs would be named %s_*: rename one", b->a->list,
                     b->list->lines[first], b->list->lines[second], b->photos[first].stem);
        rc = -1;
    }
    free(order);
    free(shared);
    return rc;
}

/* ---- the log ---- */

/* What -resume compares: the command line and the model's, list's and photos' identities. */
static char *parameters(const batch_run *b)
{
    int n = b->list->n;
    const char **files = dx_alloc((size_t)n + 3, sizeof(char *), b->a->list, NULL); /* the caller reports */
    if (!files) return NULL;
    files[0] = b->a->cfg;
    files[1] = b->a->weights;
    files[2] = b->a->list;
    for (int k = 0; k < n; ++k) files[3 + k] = b->list->paths[k];
    char *text = dx_run_parameters(b->a->argc, b->a->argv, files, n + 3);
    free(files);
    return text;
}

/* A photo's line: "photo INDEX W H N" and per target " CLS SCORE HAS_BOX X Y W H". */
static void write_record(FILE *f, int index, const photo *p)
{
    fprintf(f, "photo %d %d %d %d", index, p->w, p->h, p->n);
    for (int k = 0; k < p->n; ++k) {
        const dx_all_target *t = &p->targets[k];
        fprintf(f, " %d %a %d %a %a %a %a", t->cls, t->score, t->has_box, t->x, t->y, t->w, t->h);
    }
    fputc('\n', f);
}

/* One line of the log into its photo (a later line of a photo replaces an earlier one); -1 when
 * it is not a record of this list. */
static int read_record(batch_run *b, char *line)
{
    char *at = line;
    long v[4];
    if (strncmp(at, "photo ", 6)) return -1;
    at += 6;
    for (int k = 0; k < 4; ++k) {
        char *end;
        v[k] = strtol(at, &end, 10);
        if (end == at || v[k] < 0 || v[k] > 1 << 30) return -1;
        at = end;
    }
    if (v[0] >= b->list->n || v[3] > 100000) return -1;
    photo *p = &b->photos[v[0]];
    dx_all_target *t = v[3] ? dx_alloc(v[3], sizeof *t, "a photo's record", NULL) : NULL; /* the caller reports */
    if (v[3] && !t) return -1;
    for (int k = 0; k < v[3]; ++k) {
        double x[7]; /* cls, score, has_box, x, y, w, h */
        for (int f = 0; f < 7; ++f) {
            char *end;
            x[f] = f == 0 || f == 2 ? (double)strtol(at, &end, 10) : (double)strtof(at, &end);
            if (end == at) {
                free(t);
                return -1;
            }
            at = end;
        }
        t[k] = (dx_all_target){(int)x[0], (float)x[1], (int)x[2], (float)x[3], (float)x[4], (float)x[5], (float)x[6]};
    }
    if (*at) {
        free(t);
        return -1;
    }
    free(p->targets);
    *p = (photo){p->stem, 1, (int)v[1], (int)v[2], t, (int)v[3]};
    return 0;
}

/* The log of the run to resume: its parameters must be `params`; its records are read into the
 * photos. *complete receives the length up to its last whole line (a run killed while writing a
 * line leaves it torn). */
static int read_log(batch_run *b, const char *path, const char *params, long *complete, dx_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        dx_set_error(err, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    size_t want = strlen(params);
    char *head = dx_alloc(want + sizeof PHOTOS_LINE, 1, path, err), *line = NULL;
    size_t got = head ? fread(head, 1, want + strlen(PHOTOS_LINE), f) : 0, cap = 0;
    int rc = head ? 0 : -1, number = 0;
    if (head && (got != want + strlen(PHOTOS_LINE) || memcmp(head, params, want) ||
                 memcmp(head + want, PHOTOS_LINE, strlen(PHOTOS_LINE)))) {
        dx_set_error(err, "%s: left by a run of other options, model, list or photos: cannot resume it", path);
        rc = -1;
    }
    *complete = (long)got;
    for (ssize_t len; rc == 0 && (len = getline(&line, &cap, f)) > 0;) {
        ++number;
        if (line[len - 1] != '\n') break; /* torn by a kill */
        line[len - 1] = 0;
        if (read_record(b, line) != 0) {
            dx_set_error(err, "%s: record %d is not one of this run: cannot resume it", path, number);
            rc = -1;
        }
        *complete += len;
    }
    free(head);
    free(line);
    fclose(f);
    return rc;
}

/* Refuses a folder that holds a run's log, summary or any output this run would write (its
 * photos' JSON): a run without -resume does not overwrite them. */
static int refuse_existing(const batch_run *b, dx_error *err)
{
    const char *summaries[] = {LOG_NAME, "detections.json", "results.csv"};
    char name[1100], path[2200];
    for (int k = 0; k < b->list->n + 3; ++k)
        for (int i = 0; i < (k < 3 ? 1 : b->a->n_methods); ++i) {
            if (k < 3) snprintf(name, sizeof name, "%s", summaries[k]);
            else output_name(b, &b->photos[k - 3], i, -1, ".json", name, sizeof name);
            in_dir(b, name, path, sizeof path);
            if (access(path, F_OK) != 0) continue;
            if (b->a->resume)
                dx_set_error(err, "%s exists, but no %s of a run to resume: choose another -outdir", path, LOG_NAME);
            else
                dx_set_error(err, "%s exists: pass -resume to continue that run, or choose another -outdir", path);
            return -1;
        }
    return 0;
}

/* Whether a recorded photo's outputs are there (each method's JSON: each call's files appear
 * together). */
static int outputs_present(const batch_run *b, const photo *p)
{
    char name[1100], path[2200];
    for (int i = 0; i < b->a->n_methods; ++i) {
        output_name(b, p, i, -1, ".json", name, sizeof name);
        in_dir(b, name, path, sizeof path);
        if (access(path, F_OK) != 0) return 0;
    }
    return 1;
}

/* ---- one photo ---- */

/* Explains photo `index` with the method (or `all`'s methods) into DIR/STEM...; what was
 * explained into p. */
static int explain_photo(dx_model *m, const batch_run *b, int index, photo *p, dx_error *err)
{
    const dx_batch_args *a = b->a;
    const char *path = b->list->paths[index];
    char stem[1100], prefix[1200];
    in_dir(b, p->stem, stem, sizeof stem);
    free(p->targets);
    p->targets = NULL;
    p->n = 0;
    if (a->all) {
        dx_all_found found = {0};
        dx_all_args all = {a->program, a->cfg, a->weights, path, stem, a->methods, a->n_methods, a->req,
                           a->output, a->resume, a->argc, a->argv, a->names, 1, &found};
        if (dx_all_run(m, &all, err) != 0) return -1;
        *p = (photo){p->stem, 0, found.photo_w, found.photo_h, found.targets, found.n};
        return 0;
    }
    const char *method = dx_method_name(a->methods[0]);
    snprintf(prefix, sizeof prefix, "%s_%s", stem, method);
    dx_blank_maps blank = {.count = 0};
    int rc;
    if (b->detector) {
        dx_box_explanations e;
        dx_boxes_seen seen = {path, NULL, 0, {.count = 0}};
        rc = dx_explain_boxes_write(m, path, &a->req, prefix, &a->output, dx_see_box, &seen, &e, err);
        if (rc == 0 && e.n && !(p->targets = dx_alloc(e.n, sizeof *p->targets, path, err))) rc = -1;
        p->w = e.photo_w;
        p->h = e.photo_h;
        for (int k = 0; rc == 0 && k < e.n; ++k) {
            const dx_detection *d = &seen.boxes[k];
            p->targets[p->n++] = (dx_all_target){d->cls, d->score, 1, d->x, d->y, d->w, d->h};
        }
        blank = seen.blank;
        free(seen.boxes);
    } else {
        dx_result r;
        if (dx_explain_file(m, path, &a->req, &r, err) != 0) return -1;
        rc = dx_write_outputs(m, &r, prefix, &a->output, err);
        if (rc == 0 && !(p->targets = dx_alloc(1, sizeof *p->targets, path, err))) rc = -1;
        if (rc == 0) {
            *p = (photo){p->stem, 0, r.w, r.h, p->targets, 1};
            p->targets[0] = (dx_all_target){r.class_id, r.prob, 0, 0, 0, 0, 0};
            dx_blank_add(&blank, &r, path);
        }
        dx_result_free(&r);
    }
    if (rc == 0) dx_blank_note(a->program, &blank, method);
    return rc;
}

/* An error of one photo's explanation names it, as the single-photo run's need not. */
static void name_photo(dx_error *err, const char *path)
{
    size_t len = strlen(path);
    if (!strncmp(err->msg, path, len) && err->msg[len] == ':') return;
    char msg[sizeof err->msg];
    snprintf(msg, sizeof msg, "%s", err->msg);
    dx_set_error(err, "%s: %s", path, msg);
}

/* ---- the summaries ---- */

/* detections.json: COCO's dataset layout (info, images, categories, annotations), each
 * annotation a box of COCO's results format with its maps. */
static void write_detections(const dx_model *m, const batch_run *b, dx_json *j, int *boxes)
{
    const dx_batch_args *a = b->a;
    char name[1100];
    dx_json_obj_begin(j);
    dx_json_key(j, "info");
    dx_json_obj_begin(j);
    dx_json_key(j, "tool"); dx_json_str(j, "darknet-explain " DX_VERSION);
    dx_json_key(j, "command"); dx_json_str(j, a->command);
    dx_json_key(j, "methods");
    dx_json_arr_begin(j);
    for (int i = 0; i < a->n_methods; ++i) dx_json_str(j, dx_method_name(a->methods[i]));
    dx_json_arr_end(j);
    dx_json_key(j, "cfg"); dx_json_str(j, a->cfg);
    dx_json_key(j, "weights"); dx_json_str(j, a->weights);
    dx_json_key(j, "list"); dx_json_str(j, a->list);
    dx_json_key(j, "thresh"); dx_json_num(j, a->req.thresh);
    dx_json_key(j, "hier"); dx_json_num(j, a->req.hier);
    dx_json_key(j, "nms"); dx_json_num(j, a->req.nms);
    dx_json_key(j, "boxes");
    if (a->req.use_region) dx_json_str(j, "the anchor best matching -region");
    else if (a->req.box == DX_ALL_BOXES) dx_json_str(j, "every box above thresh after NMS (-boxes all)");
    else dx_json_str(j, "the box -box of each image (0: its highest score)");
    dx_json_key(j, "bbox"); dx_json_str(j, "[x, y, w, h]: top-left corner and size in the photo's pixels");
    dx_json_key(j, "category_id"); dx_json_str(j, "the model's class index, from 0");
    dx_json_key(j, "score"); dx_json_str(j, "objectness x class probability, as darknet detector test");
    dx_json_key(j, "paths"); dx_json_str(j, "relative to this file's folder");
    dx_json_obj_end(j);
    dx_json_key(j, "images");
    dx_json_arr_begin(j);
    for (int k = 0; k < b->list->n; ++k) {
        const photo *p = &b->photos[k];
        dx_json_obj_begin(j);
        dx_json_key(j, "id"); dx_json_int(j, k);
        dx_json_key(j, "file_name"); dx_json_str(j, b->list->paths[k]);
        dx_json_key(j, "width"); dx_json_int(j, p->w);
        dx_json_key(j, "height"); dx_json_int(j, p->h);
        dx_json_key(j, "outputs");
        dx_json_arr_begin(j);
        for (int i = 0; i < a->n_methods; ++i) {
            output_name(b, p, i, -1, ".json", name, sizeof name);
            dx_json_str(j, name);
        }
        dx_json_arr_end(j);
        dx_json_obj_end(j);
    }
    dx_json_arr_end(j);
    dx_json_key(j, "categories");
    dx_json_arr_begin(j);
    for (int c = 0; c < m->net->layers[m->head].classes; ++c) {
        dx_json_obj_begin(j);
        dx_json_key(j, "id"); dx_json_int(j, c);
        dx_json_key(j, "name"); dx_json_str(j, dx_class_name(m, c));
        dx_json_obj_end(j);
    }
    dx_json_arr_end(j);
    dx_json_key(j, "annotations");
    dx_json_arr_begin(j);
    for (int k = 0; k < b->list->n; ++k) {
        const photo *p = &b->photos[k];
        for (int t = 0; t < p->n; ++t) {
            const dx_all_target *d = &p->targets[t];
            char suffix[32];
            dx_json_obj_begin(j);
            dx_json_key(j, "id"); dx_json_int(j, (*boxes)++);
            dx_json_key(j, "image_id"); dx_json_int(j, k);
            dx_json_key(j, "file_name"); dx_json_str(j, b->list->paths[k]);
            dx_json_key(j, "category_id"); dx_json_int(j, d->cls);
            if (a->names) {
                dx_json_key(j, "category_name"); dx_json_str(j, dx_class_name(m, d->cls));
            }
            dx_json_key(j, "bbox");
            dx_json_arr_begin(j);
            dx_json_num(j, d->x); dx_json_num(j, d->y); dx_json_num(j, d->w); dx_json_num(j, d->h);
            dx_json_arr_end(j);
            dx_json_key(j, "score"); dx_json_num(j, d->score);
            target_suffix(b, t, suffix, sizeof suffix);
            dx_json_key(j, "box"); dx_json_str(j, *suffix ? suffix + 1 : NULL);
            output_name(b, p, 0, t, ".npy", name, sizeof name);
            dx_json_key(j, "map"); dx_json_str(j, name);
            output_name(b, p, 0, t, ".png", name, sizeof name);
            dx_json_key(j, "map_png"); dx_json_str(j, name);
            dx_json_key(j, "maps");
            dx_json_obj_begin(j);
            for (int i = 0; i < a->n_methods; ++i) {
                dx_json_key(j, dx_method_name(a->methods[i]));
                dx_json_obj_begin(j);
                output_name(b, p, i, t, ".npy", name, sizeof name);
                dx_json_key(j, "npy"); dx_json_str(j, name);
                output_name(b, p, i, t, ".png", name, sizeof name);
                dx_json_key(j, "png"); dx_json_str(j, name);
                dx_json_obj_end(j);
            }
            dx_json_obj_end(j);
            if (a->all) {
                output_name(b, p, -1, t, ".png", name, sizeof name);
                dx_json_key(j, "panel"); dx_json_str(j, name);
            }
            dx_json_obj_end(j);
        }
    }
    dx_json_arr_end(j);
    dx_json_obj_end(j);
}

/* results.csv: a row per photo and method, its class, probability and files. */
static void write_results(const dx_model *m, const batch_run *b, FILE *f, int *rows)
{
    fputs("image_index,image,method,class,class_name,probability,map_npy,map_png,json\n", f);
    for (int k = 0; k < b->list->n; ++k) {
        const photo *p = &b->photos[k];
        for (int i = 0; i < b->a->n_methods && p->n; ++i, ++*rows) {
            char name[1100];
            fprintf(f, "%d,", k);
            dx_csv_field(f, b->list->paths[k]);
            fprintf(f, ",%s,%d,", dx_method_name(b->a->methods[i]), p->targets[0].cls);
            dx_csv_field(f, dx_class_name(m, p->targets[0].cls));
            fprintf(f, ",%.9g", p->targets[0].score);
            const char *ext[] = {".npy", ".png", ".json"};
            for (int e = 0; e < 3; ++e) {
                output_name(b, p, i, e < 2 ? 0 : -1, ext[e], name, sizeof name);
                fputc(',', f);
                dx_csv_field(f, name);
            }
            fputc('\n', f);
        }
    }
}

/* DIR/detections.json or DIR/results.csv, atomically; what it holds on stdout. */
static int write_summary(const dx_model *m, const batch_run *b, dx_error *err)
{
    char path[1100];
    in_dir(b, b->detector ? "detections.json" : "results.csv", path, sizeof path);
    dx_atomic_file out;
    if (dx_atomic_fopen(&out, path, err) != 0) return -1;
    int count = 0, ok = 1;
    if (b->detector) {
        dx_json j;
        dx_json_begin(&j, out.f);
        write_detections(m, b, &j, &count);
        ok = dx_json_end(&j) == 0;
    } else {
        write_results(m, b, out.f, &count);
    }
    if (dx_atomic_fclose(&out, ok, err) != 0) return -1;
    printf("wrote %s (%d %s)\n", path, count, b->detector ? (count == 1 ? "box" : "boxes") : (count == 1 ? "row" : "rows"));
    return 0;
}

/* ---- the run ---- */

int dx_batch_run(dx_model *m, const dx_batch_args *a)
{
    dx_error err;
    dx_eval_list list = {0};
    batch_run b = {a, dx_is_detector(m), &list, NULL};
    char log_path[1100], lock_path[1100];
    char *params = NULL;
    FILE *log = NULL;
    int rc = -1, lock = -1, created_dir = 0, fresh_log = 0, started = 0;
    long complete = -1;
    snprintf(log_path, sizeof log_path, "%s/%s", a->outdir, LOG_NAME);
    if (dx_eval_read_list(a->list, &list, &err) != 0) goto done;
    if (!(b.photos = dx_alloc(list.n, sizeof *b.photos, a->list, &err))) goto done;
    for (int k = 0; k < list.n; ++k) /* every photo before the first is explained */
        if (dx_check_model_photo(m, list.paths[k], &err) != 0) {
            char msg[sizeof err.msg];
            snprintf(msg, sizeof msg, "%s", err.msg);
            dx_set_error(&err, "%s:%d: %s", a->list, list.lines[k], msg);
            goto done;
        }
    if (name_photos(&b, &err) != 0) goto done;
    if (!(params = parameters(&b))) {
        dx_set_error(&err, "out of memory for %s's parameters", a->list);
        goto done;
    }
    if (!(created_dir = mkdir(a->outdir, 0777) == 0) && errno != EEXIST) {
        dx_set_error(&err, "%s: cannot create the output folder: %s", a->outdir, strerror(errno));
        goto done;
    }
    if ((lock = dx_lock_folder(a->outdir, LOCK_NAME, "run of darknet-explain -list", lock_path, sizeof lock_path,
                               &err)) < 0)
        goto done;
    if (a->resume && access(log_path, F_OK) == 0) {
        if (read_log(&b, log_path, params, &complete, &err) != 0) goto done;
        if (truncate(log_path, complete) != 0 || !(log = fopen(log_path, "a"))) {
            dx_set_error(&err, "%s: cannot append: %s", log_path, strerror(errno));
            goto done;
        }
    } else {
        if (refuse_existing(&b, &err) != 0) goto done;
        if (!(log = fopen(log_path, "w")) || !(fresh_log = 1) || fputs(params, log) < 0 ||
            fputs(PHOTOS_LINE, log) < 0 || fflush(log) != 0) {
            dx_set_error(&err, "%s: cannot write: %s", log_path, strerror(errno));
            goto done;
        }
    }

    started = 1;
    dx_progress bar = {a->command, "kept from the interrupted run", list.n, 0, 0, isatty(2), 0};
    for (int k = 0; k < list.n; ++k) {
        photo *p = &b.photos[k];
        bar.done++;
        if (p->recorded && outputs_present(&b, p)) {
            dx_progress_show(&bar);
            continue;
        }
        double t0 = dx_now_ms();
        if (explain_photo(m, &b, k, p, &err) != 0) {
            name_photo(&err, list.paths[k]);
            goto done;
        }
        write_record(log, k, p);
        if (fflush(log) != 0) {
            dx_set_error(&err, "%s: write failed: %s", log_path, strerror(errno));
            goto done;
        }
        bar.computed++;
        bar.seconds += (dx_now_ms() - t0) / 1e3;
        dx_progress_show(&bar);
    }
    printf("wrote the outputs of %d images in %s (%d explained now, %d kept from the interrupted run)\n", list.n,
           a->outdir, bar.computed, list.n - bar.computed);
    rc = write_summary(m, &b, &err);
done:
    if (rc != 0) fprintf(stderr, "%s: %s\n", a->program, err.msg);
    if (log) fclose(log);
    if (rc != 0 && !started && fresh_log) unlink(log_path); /* a failed start leaves the folder as it was */
    dx_unlock_folder(lock, lock_path);
    if (rc != 0 && !started && created_dir) rmdir(a->outdir);
    for (int k = 0; b.photos && k < list.n; ++k) {
        free(b.photos[k].stem);
        free(b.photos[k].targets);
    }
    free(b.photos);
    free(params);
    dx_eval_list_free(&list);
    return rc;
}
