/* `all` (see all.h). Each method's outputs are written into a hidden staging folder beside the
 * outputs, DIR/.BASE_all.part/ (for the stem DIR/BASE; its files named as their finals), then a
 * marker .METHOD.done saying they are complete; the panels join them there, and one set of the
 * atomic writer renames every file out of it at the end: the outputs appear all at once or not at
 * all. A signal removes only the part being written (io/atomic.h), so the folder keeps the methods
 * an interrupted run finished, and `all ... -resume` reuses them when its parameters (.params,
 * the command line and the input files' sizes and dates) are the same. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "all.h"
#include "cli.h"
#include "engine.h"
#include "error.h"
#include "io/atomic.h"
#include "io/folder.h"
#include "io/image.h"
#include "io/npy.h"
#include "memory.h"
#include "notes.h"
#include "outputs.h"

/* One map of a panel and what the panel's title says about it; the map itself stays in its
 * staged .npy until its panel is drawn (map_path): memory holds one panel's maps at a time. */
typedef struct {
    int signed_map;
    int layer;         /* the map's layer, or -1 at the input: how the panel draws it (dx_png_display_of) */
    int class_id;
    float prob;        /* classifiers: the class's probability; boxes: the box's score */
    int has_box;
    dx_detection box;  /* x, y, w, h, cls and score are what a restart keeps */
} tile;

/* A method's maps: one, or one per box with -boxes all (none when no box is above -thresh). */
typedef struct {
    tile *tiles;
    int n;
} method_maps;

typedef struct {
    const dx_all_args *a;
    dx_image photo;
    int boxes;           /* a detector with -boxes all: the box outputs, a panel per box */
    char dir[1024];      /* the stem up to its last '/' ("" for none) */
    const char *base;    /* the stem after it */
    char stage[2200];    /* dir + "." + base + "_all.part" */
} all_run;

/* ---- the staging folder ---- */

/* Removes the folder and the files in it. */
static void remove_stage(const char *stage)
{
    DIR *d = opendir(stage);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char path[2600];
        snprintf(path, sizeof path, "%s/%s", stage, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(stage);
}

/* path's whole text (malloc'd), or NULL */
static char *read_text_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *text = NULL;
    long len = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (len >= 0 && fseek(f, 0, SEEK_SET) == 0 && (text = dx_alloc((size_t)len + 1, 1, path, NULL))) {
        if (fread(text, 1, len, f) == (size_t)len) text[len] = 0;
        else free(text), text = NULL;
    }
    fclose(f);
    return text;
}

/* What -resume compares: the command line without -resume, and the input files' identities. */
static char *parameters(const dx_all_args *a)
{
    const char *files[] = {a->cfg, a->weights, a->image};
    return dx_run_parameters(a->argc, a->argv, files, 3);
}

/* text into path, atomically */
static int write_small_file(const char *path, const char *text, dx_error *err)
{
    dx_atomic_file out;
    if (dx_atomic_fopen(&out, path, err) != 0) return -1;
    return dx_atomic_fclose(&out, fputs(text, out.f) >= 0, err);
}

/* The staging folder: an interrupted run's of the same parameters with -resume (*resumed = 1), or
 * a fresh one. Refuses to resume another command's. */
static int open_stage(all_run *r, int *resumed, dx_error *err)
{
    char params[2300];
    snprintf(params, sizeof params, "%s/.params", r->stage);
    char *now = parameters(r->a), *before = r->a->resume ? read_text_file(params) : NULL;
    int rc = 0;
    *resumed = 0;
    if (!now) { /* open_memstream's own allocation failed */
        dx_set_error(err, "out of memory for %s", params);
        rc = -1;
    } else if (before && strcmp(before, now)) {
        dx_set_error(err, "%s: left by `all` with other options or input files: cannot resume it (run without "
                          "-resume to start over)", r->stage);
        rc = -1;
    } else if (before) {
        *resumed = 1;
    } else {
        remove_stage(r->stage);
        if (mkdir(r->stage, 0777) != 0) {
            dx_set_error(err, "%s: cannot create: %s", r->stage, strerror(errno));
            rc = -1;
        } else if (write_small_file(params, now, err) != 0) {
            remove_stage(r->stage);
            rc = -1;
        }
    }
    free(now);
    free(before);
    return rc;
}

/* ---- one method ---- */

static void marker_path(const all_run *r, dx_method method, char *out, size_t len)
{
    snprintf(out, len, "%s/.%s.done", r->stage, dx_method_name(method));
}

/* The staged .npy of a method's map k, on the photo's pixels. */
static void map_path(const all_run *r, dx_method method, int k, char *out, size_t len)
{
    if (r->boxes) snprintf(out, len, "%s/%s_%s_box%d.npy", r->stage, r->base, dx_method_name(method), k);
    else snprintf(out, len, "%s/%s_%s.npy", r->stage, r->base, dx_method_name(method));
}

static void free_maps(method_maps *mm)
{
    free(mm->tiles);
    mm->tiles = NULL;
    mm->n = 0;
}

/* The maps a finished method left in the staging folder; 0 when it has none complete. */
static int load_kept(const all_run *r, dx_method method, method_maps *mm)
{
    char path[2400];
    marker_path(r, method, path, sizeof path);
    FILE *f = fopen(path, "r");
    int n = -1, ok = f && fscanf(f, "maps %d", &n) == 1 && n >= 0 && n <= 100000;
    mm->tiles = ok && n ? dx_alloc(n, sizeof *mm->tiles, path, NULL) : NULL; /* not resumed: run again */
    ok = ok && (n == 0 || mm->tiles);
    mm->n = ok ? n : 0;
    int shape[2] = {r->photo.h, r->photo.w};
    /* each .npy read whole: complete */
    float *map = ok ? dx_alloc((size_t)shape[0] * shape[1], sizeof(float), path, NULL) : NULL;
    ok = ok && map;
    for (int k = 0; ok && k < n; ++k) {
        tile *t = &mm->tiles[k];
        dx_detection *b = &t->box;
        dx_error ignored;
        ok = fscanf(f, " tile %d %d %f %d %f %f %f %f %d", &t->signed_map, &t->class_id, &t->prob, &t->has_box, &b->x,
                    &b->y, &b->w, &b->h, &t->layer) == 9;
        b->cls = t->class_id;
        b->score = t->prob;
        map_path(r, method, k, path, sizeof path);
        ok = ok && dx_npy_read(path, map, 2, shape, &ignored) == 0;
    }
    free(map);
    if (f) fclose(f);
    if (!ok) free_maps(mm);
    return ok;
}

/* Keeps what the panels' titles need of an explanation. */
static void keep_tile(const dx_result *res, tile *t)
{
    *t = (tile){res->signed_map, res->layer, res->class_id, res->prob, res->has_box, res->box};
}

/* The marker that says the method's files are complete, and what its tiles' titles say. */
static int write_marker(const all_run *r, dx_method method, const method_maps *mm, dx_error *err)
{
    char *text = NULL, path[2400];
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) { /* open_memstream allocates itself */
        dx_set_error(err, "out of memory for %s's marker", r->stage);
        return -1;
    }
    fprintf(f, "maps %d\n", mm->n);
    for (int k = 0; k < mm->n; ++k) { /* hexadecimal floats: read back exactly */
        const tile *t = &mm->tiles[k];
        fprintf(f, "tile %d %d %a %d %a %a %a %a %d\n", t->signed_map, t->class_id, t->prob, t->has_box, t->box.x,
                t->box.y, t->box.w, t->box.h, t->layer);
    }
    int rc = fclose(f) == 0 ? 0 : -1;
    marker_path(r, method, path, sizeof path);
    if (rc == 0) rc = write_small_file(path, text, err);
    else dx_set_error(err, "out of memory for %s", path);
    free(text);
    return rc;
}

/* dx_explain_boxes_write's on_box for a method's boxes: box k's tile, its blank map named boxK */
typedef struct {
    method_maps *mm;
    dx_blank_maps *blank;
} box_tiles;

static int keep_box_tile(void *ctx, const dx_box_explanations *e, int k, dx_result *res, dx_error *err)
{
    box_tiles *b = ctx;
    if (k == 0 && !(b->mm->tiles = dx_alloc(e->n, sizeof *b->mm->tiles, "the boxes' panels", err))) return -1;
    char box[32];
    dx_box_stem(e, k, box, sizeof box);
    dx_blank_add(b->blank, res, box);
    keep_tile(res, &b->mm->tiles[b->mm->n++]);
    return 0;
}

/* Explains the photo with one method and writes its outputs into the staging folder; the maps
 * that hold one value everywhere are added to blank. */
static int compute(dx_model *m, const all_run *r, dx_method method, method_maps *mm, dx_blank_maps *blank,
                   dx_error *err)
{
    const dx_all_args *a = r->a;
    dx_request req = a->req;
    req.method = method;
    char prefix[2400];
    snprintf(prefix, sizeof prefix, "%s/%s_%s", r->stage, r->base, dx_method_name(method));
    int rc;
    if (r->boxes) {
        dx_box_explanations e;
        box_tiles tiles = {mm, blank};
        rc = dx_explain_boxes_write(m, a->image, &req, prefix, &a->output, keep_box_tile, &tiles, &e, err);
    } else {
        dx_result res;
        if (dx_explain_file(m, a->image, &req, &res, err) != 0) return -1;
        rc = dx_write_outputs(m, &res, prefix, &a->output, err);
        if (rc == 0 && !(mm->tiles = dx_alloc(1, sizeof *mm->tiles, "the panel", err))) rc = -1;
        if (rc == 0) {
            dx_blank_add(blank, &res, "the photo");
            keep_tile(&res, &mm->tiles[mm->n++]);
        }
        dx_result_free(&res);
    }
    if (rc == 0) rc = write_marker(r, method, mm, err);
    return rc;
}

/* ---- the panels and the commit ---- */

/* STEM_panel.png, or with -boxes all STEM_panel_boxK.png for each box K, in the staging folder. */
static int write_panels(const dx_model *m, const all_run *r, const method_maps *maps, dx_error *err)
{
    const dx_all_args *a = r->a;
    int panels = r->boxes ? maps[0].n : 1;
    for (int i = 1; i < a->n_methods; ++i)
        if (maps[i].n != maps[0].n) {
            dx_set_error(err, "%s: %s found %d boxes, %s %d: the methods disagree", a->image,
                         dx_method_name(a->methods[0]), maps[0].n, dx_method_name(a->methods[i]), maps[i].n);
            return -1;
        }
    size_t plane = (size_t)r->photo.h * r->photo.w;
    int shape[2] = {r->photo.h, r->photo.w};
    dx_result *views = dx_alloc(a->n_methods, sizeof *views, "the panels", err);
    float *panel_maps = dx_alloc(plane * a->n_methods, sizeof(float), "the panels", err);
    int rc = views && panel_maps ? 0 : -1;
    for (int k = 0; rc == 0 && k < panels; ++k) {
        char path[2400];
        for (int i = 0; rc == 0 && i < a->n_methods; ++i) { /* what dx_write_panel reads of each */
            const tile *t = &maps[i].tiles[k];
            dx_result *v = &views[i];
            v->method = a->methods[i];
            v->map = panel_maps + plane * i;
            map_path(r, a->methods[i], k, path, sizeof path);
            rc = dx_npy_read(path, v->map, 2, shape, err);
            v->h = r->photo.h;
            v->w = r->photo.w;
            v->signed_map = t->signed_map;
            v->layer = t->layer;
            v->class_id = t->class_id;
            v->prob = t->prob;
            v->has_box = t->has_box;
            v->box = t->box;
        }
        views[0].photo = r->photo;
        snprintf(views[0].image_path, sizeof views[0].image_path, "%s", a->image);
        if (rc != 0) break;
        if (r->boxes) snprintf(path, sizeof path, "%s/%s_panel_box%d.png", r->stage, r->base, k);
        else snprintf(path, sizeof path, "%s/%s_panel.png", r->stage, r->base);
        rc = dx_write_panel(m, views, a->n_methods, path, &a->output, err);
    }
    free(views);
    free(panel_maps);
    return rc;
}

/* Renames every staged output to its final name, all or nothing. The markers go first: a
 * commit cut short by a signal must not look like finished methods to -resume. */
static int commit(const all_run *r, dx_error *err)
{
    char path[2600], final[2400];
    for (int i = 0; i < r->a->n_methods; ++i) {
        marker_path(r, r->a->methods[i], path, sizeof path);
        unlink(path);
    }
    DIR *d = opendir(r->stage);
    if (!d) {
        dx_set_error(err, "%s: cannot read: %s", r->stage, strerror(errno));
        return -1;
    }
    dx_atomic_set set = {0};
    size_t base_len = strlen(r->base);
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d));) {
        /* the outputs are BASE_*; the markers and .params have no '_' after their '.' */
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, r->base, base_len) || e->d_name[base_len] != '_' ||
            (len > 5 && !strcmp(e->d_name + len - 5, ".part")))
            continue;
        snprintf(path, sizeof path, "%s/%s", r->stage, e->d_name);
        snprintf(final, sizeof final, "%s%s", r->dir, e->d_name);
        rc = dx_atomic_adopt(&set, path, final, err);
    }
    closedir(d);
    return dx_atomic_commit(&set, rc, err);
}

/* What was written, on stdout. */
static void print_summary(const dx_model *m, const all_run *r, const method_maps *maps)
{
    const dx_all_args *a = r->a;
    const char *stem = a->stem;
    for (int i = 0; i < a->n_methods; ++i) {
        const char *name = dx_method_name(a->methods[i]);
        if (!r->boxes)
            printf("%s: wrote %s_%s.png %s_%s.npy %s_%s.raw.npy %s_%s.json\n", name, stem, name, stem, name, stem, name,
                   stem, name);
        else if (maps[0].n == 0)
            printf("%s: wrote %s_%s.json\n", name, stem, name);
        else if (maps[0].n == 1)
            printf("%s: wrote %s_%s_box0.png %s_%s_box0.npy %s_%s_boxes.png %s_%s.json\n", name, stem, name, stem,
                   name, stem, name, stem, name);
        else
            printf("%s: wrote %s_%s_box0..%d.png/.npy %s_%s_boxes.png %s_%s.json\n", name, stem, name, maps[0].n - 1,
                   stem, name, stem, name);
    }
    if (!r->boxes) {
        dx_result target = {.class_id = maps[0].tiles[0].class_id, .prob = maps[0].tiles[0].prob};
        dx_cli_print_target(a->image, a->names, m, &target);
        printf("wrote %s_panel.png\n", stem);
        return;
    }
    if (maps[0].n == 0) printf("%s: no detection above -thresh %g: no panel\n", a->image, a->req.thresh);
    for (int k = 0; k < maps[0].n; ++k) {
        const dx_detection *b = &maps[0].tiles[k].box;
        printf("%s: box%d %s %.2f%% at %.0f,%.0f %.0fx%.0f; wrote %s_panel_box%d.png\n", a->image, k,
               dx_class_name(m, b->cls), 100 * b->score, b->x, b->y, b->w, b->h, stem, k);
    }
}

/* *found: the photo's size and the first method's targets */
static int report_found(const all_run *r, const method_maps *first, dx_all_found *found, dx_error *err)
{
    *found = (dx_all_found){r->photo.w, r->photo.h,
                            first->n ? dx_alloc(first->n, sizeof *found->targets, "the targets found", err) : NULL,
                            first->n};
    if (first->n && !found->targets) return -1;
    for (int k = 0; k < first->n; ++k) {
        const tile *t = &first->tiles[k];
        found->targets[k] = (dx_all_target){t->class_id, t->prob, t->has_box, t->box.x, t->box.y, t->box.w, t->box.h};
    }
    return 0;
}

int dx_all_run(dx_model *m, const dx_all_args *a, dx_error *err)
{
    all_run r = {.a = a, .boxes = dx_is_detector(m) && a->req.box == DX_ALL_BOXES && !a->req.use_region};
    if (strlen(a->stem) >= 1000) {
        dx_set_error(err, "%.60s...: output prefix longer than 999 characters", a->stem);
        return -1;
    }
    const char *slash = strrchr(a->stem, '/');
    r.base = slash ? slash + 1 : a->stem;
    snprintf(r.dir, sizeof r.dir, "%.*s", (int)(r.base - a->stem), a->stem);
    snprintf(r.stage, sizeof r.stage, "%s.%s_all.part", r.dir, r.base);
    if (dx_load_model_photo(m, a->image, &r.photo, err) != 0) return -1;
    method_maps *maps = dx_alloc(a->n_methods, sizeof *maps, "the methods' maps", err);
    int resumed, rc = maps ? open_stage(&r, &resumed, err) : -1;
    if (rc != 0) { /* nothing of ours to remove */
        free(maps);
        dx_free_image(r.photo);
        return -1;
    }
    for (int i = 0; rc == 0 && i < a->n_methods; ++i) {
        const char *name = dx_method_name(a->methods[i]);
        if (resumed && load_kept(&r, a->methods[i], &maps[i])) {
            if (!a->quiet) fprintf(stderr, "[%d/%d] %s kept from the interrupted run\n", i + 1, a->n_methods, name);
            continue;
        }
        double t0 = dx_now_ms();
        dx_blank_maps blank = {.count = 0};
        rc = compute(m, &r, a->methods[i], &maps[i], &blank, err);
        if (rc == 0 && !a->quiet)
            fprintf(stderr, "[%d/%d] %s %.1f s\n", i + 1, a->n_methods, name, (dx_now_ms() - t0) / 1e3);
        if (rc == 0) dx_blank_note(a->program, &blank, name);
    }
    if (rc == 0 && (!r.boxes || maps[0].n > 0)) rc = write_panels(m, &r, maps, err);
    if (rc == 0) rc = commit(&r, err);
    remove_stage(r.stage);
    if (rc == 0 && a->found) rc = report_found(&r, &maps[0], a->found, err);
    if (rc == 0 && !a->quiet) print_summary(m, &r, maps);
    for (int i = 0; i < a->n_methods; ++i) free_maps(&maps[i]);
    free(maps);
    dx_free_image(r.photo);
    return rc;
}
