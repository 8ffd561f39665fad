/* darknet-explain dissect <cfg> <weights> -list FILE -masks DIR|-boxes NAMES -layer L[,L2..] -outdir DIR
 *                        [-quantile Q] [-top N] [-thumb W]
 *
 * Network dissection's command (dissect.h): every photo of the list run once, each listed
 * layer's activations kept; the per-unit thresholds; the concept masks of every photo read and
 * the IoU sums accumulated; the outputs written (dissect_report.c). Every input is read and
 * checked before the output folder is touched: bad input leaves no file. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "concepts/dissect.h"
#include "engine.h"
#include "error.h"
#include "eval/results.h"
#include "memory.h"
#include "model.h"
#include "options.h"

#define MAX_CONCEPTS 4096

#define AT(field) offsetof(dx_dissect_args, field)
static const dx_option options[] = {
    {"-list", OPT_TEXT, AT(list), 0, 0, NULL, "FILE  the photos, one path a line (relative: to the list's folder)"},
    {"-masks", OPT_TEXT, AT(masks), 0, 0, NULL, "DIR  DIR/concepts.txt and DIR/<photo stem>/<concept>.png"},
    {"-boxes", OPT_TEXT, AT(boxes), 0, 0, NULL, "NAMES  concepts from Darknet's label files beside the photos: box masks per class of NAMES"},
    {"-layer", OPT_LAYERS, AT(layers), 0, 0, NULL, "L[,L2..]  the layers dissected (indices, as Darknet's table)"},
    {"-outdir", OPT_TEXT, AT(outdir), 0, 0, NULL, "DIR  output folder (created when missing)"},
    {"-quantile", OPT_DOUBLE, AT(quantile), 1e-6, 0.5, NULL, "Q  a unit's top share over all photos and positions"},
    {"-top", OPT_INT, AT(top), 1, 100, NULL, "N  top photos shown per unit in report.html"},
    {"-thumb", OPT_INT, AT(thumb), DX_PNG_WIDTH_MIN, 1024, NULL, "W  their width in pixels"},
    {"-verbose", OPT_FLAG, AT(verbose), 0, 0, NULL, "show Darknet's layer table and loading messages"},
};
#undef AT
#define N_OPTIONS (sizeof options / sizeof options[0])

/* The arguments before the command line: the parser's start and -h's defaults. */
static void defaults(dx_dissect_args *a) { *a = (dx_dissect_args){.quantile = DX_DISSECT_QUANTILE, .top = 8, .thumb = 96}; }

void dx_dissect_usage(const char *program, FILE *f)
{
    fprintf(f, "usage: %s dissect <cfg> <weights> -list FILE -masks DIR|-boxes NAMES -layer L[,L2..] -outdir DIR [options]\n"
               "network dissection: each unit of a layer labelled with the concept its top activations\n"
               "overlap best (IoU over the data set; docs/dissect.md)\noptions:\n", program);
    dx_dissect_args d;
    defaults(&d);
    dx_options_usage(f, options, N_OPTIONS, 10, NULL, &d);
}

/* -1 when the run goes on with *a, else the exit status (help, or a usage line printed) */
static int prepare(const char *program, int argc, char **argv, dx_dissect_args *a)
{
    defaults(a);
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        dx_dissect_usage(program, stdout);
        return 0;
    }
    char who[256];
    snprintf(who, sizeof who, "%s dissect", program);
    const char *positional[2];
    int npos;
    if (dx_options_parse(who, options, N_OPTIONS, argc, argv, a, positional, 2, &npos) != 0) return 2;
    if (npos < 2 || !a->list || (!a->masks && !a->boxes) || !a->outdir || a->n_layers == 0) {
        fprintf(stderr, "%s: needs <cfg> <weights> -list FILE -masks DIR (or -boxes NAMES) -layer L -outdir DIR (see %s dissect -h)\n",
                who, program);
        return 2;
    }
    if (a->n_layers < 0) {
        fprintf(stderr, "%s: -layer takes layer indices, not auto\n", who);
        return 2;
    }
    for (int i = 0; i < a->n_layers; ++i)
        for (int j = 0; j < i; ++j)
            if (a->layers[i] == a->layers[j]) {
                fprintf(stderr, "%s: -layer names layer %d twice\n", who, a->layers[i]);
                return 2;
            }
    a->cfg = positional[0];
    a->weights = positional[1];
    return -1;
}

int dx_dissect_check_args(const char *program, int argc, char **argv)
{
    dx_dissect_args a;
    return prepare(program, argc, argv, &a);
}

static void free_names(char **v, int n)
{
    for (int k = 0; v && k < n; ++k) free(v[k]);
    free(v);
}

/* Adds the concepts of a list to d: a concepts.txt ("name [category]" a line, a name a file name:
 * the PNGs are DIR/<stem>/<name>.png) or, with `box_category`, a names list (Darknet's: a class
 * name a line, spaces allowed, its category box_category). Blank and # lines skipped. 0, or -1
 * with err naming the file and line. */
static int read_concepts(const char *path, const char *box_category, dx_dissection *d, dx_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        dx_set_error(err, "%s: cannot read the concepts list: %s", path, strerror(errno));
        return -1;
    }
    if (!d->concepts) d->concepts = dx_alloc(MAX_CONCEPTS, sizeof(char *), path, err);
    if (d->concepts && !d->categories) d->categories = dx_alloc(MAX_CONCEPTS, sizeof(char *), path, err);
    char *line = NULL, name[256], category[256], extra[2];
    size_t cap = 0;
    int rc = d->categories ? 0 : -1, first = d->n_concepts;
    for (int number = 1; rc == 0 && getline(&line, &cap, f) >= 0; ++number) {
        category[0] = 0;
        int words = sscanf(line, "%255s %255s %1s", name, category, extra);
        if (words <= 0 || name[0] == '#') continue;
        if (box_category) { /* the whole line, trimmed */
            char *start = line + strspn(line, " \t");
            size_t len = strcspn(start, "\r\n");
            while (len > 0 && (start[len - 1] == ' ' || start[len - 1] == '\t')) --len;
            snprintf(name, sizeof name, "%.*s", (int)len, start);
            snprintf(category, sizeof category, "%s", box_category);
            words = 2;
        }
        int twice = 0, bad = words > 2 || (!box_category && (strchr(name, '/') || !strcmp(name, ".") ||
                                                          !strcmp(name, "..")));
        for (int k = 0; !bad && k < d->n_concepts; ++k) twice = bad = !strcmp(d->concepts[k], name);
        if (bad || d->n_concepts == MAX_CONCEPTS) {
            dx_set_error(err, "%s:%d: %s%s", path, number,
                         d->n_concepts == MAX_CONCEPTS ? "more than 4096 concepts"
                         : twice                      ? "a second concept named "
                         : words > 2                  ? "a line is 'name [category]'"
                                                      : "a concept's name is a file name (no '/', not . or ..)",
                         twice ? name : "");
            rc = -1;
            break;
        }
        d->concepts[d->n_concepts] = dx_strdup(name, path, err);
        d->categories[d->n_concepts] = d->concepts[d->n_concepts] ? dx_strdup(category, path, err) : NULL;
        if (!d->categories[d->n_concepts]) {
            free(d->concepts[d->n_concepts]);
            rc = -1;
        } else ++d->n_concepts;
    }
    free(line);
    fclose(f);
    if (rc == 0 && d->n_concepts == first) {
        dx_set_error(err, "%s: names no concept", path);
        rc = -1;
    }
    return rc;
}

/* The list's entry as a path: as given when absolute or when it exists from here, else relative to
 * the list's folder (gen-shapes writes lists so). malloc'd, NULL with err. */
static char *resolve(const char *list, const char *entry, dx_error *err)
{
    const char *slash = strrchr(list, '/');
    if (entry[0] == '/' || !slash || access(entry, F_OK) == 0) return dx_strdup(entry, list, err);
    size_t len = (size_t)(slash - list) + 1 + strlen(entry) + 1;
    char *p = dx_alloc(len, 1, list, err);
    if (p) snprintf(p, len, "%.*s/%s", (int)(slash - list), list, entry);
    return p;
}

/* The mask folder's entry of a photo: its file name without the extension. */
static void stem_of(const char *path, char *out, size_t len)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    const char *dot = strrchr(base, '.');
    snprintf(out, len, "%.*s", (int)(dot && dot != base ? dot - base : (ptrdiff_t)strlen(base)), base);
}

/* Pass 1: each photo fitted and run; each layer's activations kept. */
static int forward_pass(dx_model *m, dx_dissection *d, dx_error *err)
{
    for (int i = 0; i < d->n_images; ++i) {
        dx_image photo;
        if (dx_load_model_photo(m, d->images[i], &photo, err) != 0) return -1;
        d->photo_w[i] = photo.w;
        d->photo_h[i] = photo.h;
        dx_fit_geometry(m, photo.w, photo.h, &d->geom[i]);
        dx_image boxed = dx_fit_photo(m, photo);
        dx_free_image(photo);
        if (!boxed.data) {
            dx_set_error(err, "%s: out of memory for the network input", d->images[i]);
            return -1;
        }
        dx_forward(m, boxed.data);
        dx_free_image(boxed);
        for (int l = 0; l < d->args->n_layers; ++l) {
            dx_dissect_layer *L = &d->layers[l];
            size_t n = (size_t)L->units * L->h * L->w;
            const float *out = dx_output_of(m, L->layer);
            if (dx_count_nonfinite(out, n)) {
                dx_set_error(err, "%s: layer %d's output is not finite (NaN or inf)", d->images[i], L->layer);
                return -1;
            }
            memcpy(dx_dissect_acts(L, i), out, n * sizeof(float));
            dx_dissect_record(L, i);
        }
    }
    return 0;
}

/* Concepts first..n_concepts-1 of photo i from its label file (-boxes): each box's pixels in its
 * class's plane. 0, or -1 with err naming the label file and line. */
static int box_masks(const dx_dissection *d, int i, int first, unsigned char *masks, dx_error *err)
{
    int w = d->photo_w[i], h = d->photo_h[i];
    dx_letterbox photo = {w, h, w, h, 0, 0}; /* boxes in photo pixels */
    dx_pixel_box *boxes;
    int *classes, n = dx_eval_read_labels(d->images[i], &photo, d->n_concepts - first, &boxes, &classes, err);
    if (n < 0) return -1;
    size_t np = (size_t)w * h;
    memset(masks + first * np, 0, (d->n_concepts - first) * np);
    for (int b = 0; b < n; ++b) {
        unsigned char *plane = masks + (first + classes[b]) * np;
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x)
                if (x + .5f >= boxes[b].x0 && x + .5f < boxes[b].x1 && y + .5f >= boxes[b].y0 && y + .5f < boxes[b].y1)
                    plane[(size_t)y * w + x] = 1;
    }
    free(boxes);
    free(classes);
    return 0;
}

/* Pass 2: each photo's concept masks read (concepts 0..n_png-1 from PNGs, all of them the size of
 * the photo; the rest from its label file) and added. */
static int mask_pass(dx_dissection *d, int n_png, dx_error *err)
{
    unsigned char *masks = NULL;
    size_t cap = 0;
    int rc = 0;
    for (int i = 0; i < d->n_images && rc == 0; ++i) {
        size_t np = (size_t)d->photo_w[i] * d->photo_h[i];
        if (np * d->n_concepts > cap) {
            free(masks);
            cap = np * d->n_concepts;
            if (!(masks = dx_alloc(cap, 1, "the concept masks", err))) return -1;
        }
        char stem[1024], path[4096];
        stem_of(d->images[i], stem, sizeof stem);
        for (int c = 0; c < n_png && rc == 0; ++c) {
            snprintf(path, sizeof path, "%s/%s/%s.png", d->args->masks, stem, d->concepts[c]);
            dx_image mask;
            if ((rc = dx_load_photo(path, &mask, err)) != 0) break;
            if (mask.w != d->photo_w[i] || mask.h != d->photo_h[i]) {
                dx_set_error(err, "%s: the mask is %dx%d, its photo %s %dx%d", path, mask.w, mask.h, d->images[i],
                             d->photo_w[i], d->photo_h[i]);
                rc = -1;
            }
            for (size_t p = 0; rc == 0 && p < np; ++p) {
                int on = 0;
                for (int k = 0; k < mask.c; ++k) on |= mask.data[k * np + p] > 0;
                masks[c * np + p] = (unsigned char)on;
            }
            dx_free_image(mask);
        }
        if (rc == 0 && n_png < d->n_concepts) rc = box_masks(d, i, n_png, masks, err);
        for (int l = 0; l < d->args->n_layers && rc == 0; ++l)
            rc = dx_dissect_accumulate(&d->layers[l], i, masks, d->photo_w[i], d->photo_h[i], &d->geom[i], err);
    }
    free(masks);
    return rc;
}

/* The layers asked for exist and give maps: 0, or -1 with err naming the option. */
static int check_layers(const dx_model *m, const dx_dissect_args *a, dx_error *err)
{
    for (int l = 0; l < a->n_layers; ++l) {
        int j = a->layers[l];
        if (j < 0 || j >= m->n) {
            dx_set_error(err, "-layer %d: the model has layers 0 to %d", j, m->n - 1);
            return -1;
        }
        const dx_layer *L = &m->net->layers[j];
        if ((size_t)L->out_c * L->out_h * L->out_w != (size_t)L->outputs || L->out_c < 1) {
            dx_set_error(err, "-layer %d: its output is not a stack of maps (channels x height x width)", j);
            return -1;
        }
    }
    return 0;
}

/* The whole run after the arguments: 0, or -1 with err. */
static int run(const dx_dissect_args *a, dx_error *err)
{
    dx_dissection d = {.args = a};
    dx_eval_list list = {0};
    dx_model *m = NULL;
    char concepts[4096];
    snprintf(concepts, sizeof concepts, "%s/concepts.txt", a->masks ? a->masks : "");
    int rc = a->masks ? read_concepts(concepts, NULL, &d, err) : 0, n_png = d.n_concepts;
    if (rc == 0 && a->boxes) rc = read_concepts(a->boxes, "object", &d, err);
    if (rc == 0) rc = dx_eval_read_list(a->list, &list, err);
    if (rc == 0) {
        dx_open_options opt = {.verbose = a->verbose};
        m = dx_open(a->cfg, a->weights, &opt, err);
        rc = m ? check_layers(m, a, err) : -1;
    }
    if (rc == 0) {
        d.n_images = list.n;
        d.images = dx_alloc((size_t)list.n, sizeof(char *), "the list", err);
        d.photo_w = d.images ? dx_alloc((size_t)list.n, sizeof(int), "the list", err) : NULL;
        d.photo_h = d.photo_w ? dx_alloc((size_t)list.n, sizeof(int), "the list", err) : NULL;
        d.geom = d.photo_h ? dx_alloc((size_t)list.n, sizeof(dx_letterbox), "the list", err) : NULL;
        d.layers = d.geom ? dx_alloc((size_t)a->n_layers, sizeof(dx_dissect_layer), "the layers", err) : NULL;
        rc = d.layers ? 0 : -1;
        for (int i = 0; rc == 0 && i < list.n; ++i)
            if (!(d.images[i] = resolve(a->list, list.paths[i], err))) rc = -1;
        for (int l = 0; rc == 0 && l < a->n_layers; ++l) {
            const dx_layer *L = &m->net->layers[a->layers[l]];
            rc = dx_dissect_init(&d.layers[l], a->layers[l], L->out_c, L->out_h, L->out_w, list.n, d.n_concepts, err);
        }
    }
    double t0 = dx_now_ms();
    if (rc == 0) rc = forward_pass(m, &d, err);
    double t1 = dx_now_ms();
    for (int l = 0; rc == 0 && l < a->n_layers; ++l) rc = dx_dissect_thresholds(&d.layers[l], a->quantile, err);
    if (rc == 0) rc = mask_pass(&d, n_png, err);
    d.ms_forward = t1 - t0;
    d.ms_iou = dx_now_ms() - t1;
    int created = 0;
    if (rc == 0 && !(created = mkdir(a->outdir, 0755) == 0) && errno != EEXIST) {
        dx_set_error(err, "%s: cannot create the output folder: %s", a->outdir, strerror(errno));
        rc = -1;
    }
    if (rc == 0 && (rc = dx_dissect_write(&d, err)) != 0 && created) rmdir(a->outdir);
    for (int l = 0; d.layers && l < a->n_layers; ++l) dx_dissect_free(&d.layers[l]);
    free(d.layers);
    free_names(d.images, d.n_images);
    free(d.photo_w);
    free(d.photo_h);
    free(d.geom);
    free_names(d.concepts, d.n_concepts);
    free_names(d.categories, d.n_concepts);
    dx_eval_list_free(&list);
    if (m) dx_close(m);
    return rc;
}

int dx_dissect_cli(const char *program, int argc, char **argv)
{
    dx_dissect_args a;
    int rc = prepare(program, argc, argv, &a);
    if (rc >= 0) return rc;
    dx_error err;
    if (run(&a, &err) != 0) {
        fprintf(stderr, "%s dissect: %s\n", program, err.msg);
        return 1;
    }
    return 0;
}
