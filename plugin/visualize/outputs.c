/* The files of `visualize` (visualize.h's dx_vis_write): per unit a PNG and a float .npy, the grid
 * of all units with their labels, the JSON of the run. One atomic set: all appear, or none. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "error.h"
#include "io/atomic.h"
#include "io/image.h"
#include "io/json.h"
#include "io/npy.h"
#include "io/render.h"
#include "io/text.h"
#include "memory.h"
#include "model.h"
#include "targets.h"
#include "visualize/visualize.h"

#define GRID_PAD 6
#define GRID_MAX_WIDTH 4096 /* the grid's tiles shrink so that it stays this wide */
#define TILE_TARGET 128     /* small inputs are enlarged (nearest neighbour) to about this */

int dx_vis_stem(const dx_vis_unit *u, const char *prefix, char *buf, size_t len)
{
    int n = u->cls >= 0 ? snprintf(buf, len, "%s_class%d", prefix, u->cls)
                        : snprintf(buf, len, "%s_L%d_c%d", prefix, u->layer, u->channel);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* The grid's label of unit u: the class's name, or "L<layer> c<channel>". */
static void unit_label(const dx_model *m, const dx_vis_unit *u, char *buf, size_t len)
{
    if (u->cls >= 0) snprintf(buf, len, "%d %.40s", u->cls, dx_class_name(m, u->cls));
    else snprintf(buf, len, "L%d c%d", u->layer, u->channel);
}

/* The images in rows of ceil(sqrt(n)) tiles on white, each labelled underneath. */
static int write_grid(const dx_model *m, const dx_vis_unit *units, const dx_vis_result *results, int n,
                      const char *path, dx_error *err)
{
    const dx_net *net = m->net;
    int cols = 1;
    while (cols * cols < n) ++cols;
    int rows = (n + cols - 1) / cols, side = net->w > net->h ? net->w : net->h;
    int scale = side < TILE_TARGET ? TILE_TARGET / side : 1;
    int tile_w = net->w * scale, tile_h = net->h * scale;
    if (cols * (tile_w + GRID_PAD) + GRID_PAD > GRID_MAX_WIDTH) { /* shrink, keeping the aspect */
        int fit = (GRID_MAX_WIDTH - GRID_PAD) / cols - GRID_PAD;
        tile_h = tile_h * fit / tile_w > 0 ? tile_h * fit / tile_w : 1;
        tile_w = fit > 0 ? fit : 1;
    }
    char (*labels)[64] = dx_alloc((size_t)n, sizeof *labels, path, err);
    const char **texts = dx_alloc((size_t)n, sizeof *texts, path, err);
    if (!labels || !texts) {
        free(labels);
        free(texts);
        return -1;
    }
    for (int k = 0; k < n; ++k) {
        unit_label(m, &units[k], labels[k], sizeof labels[k]);
        texts[k] = labels[k];
    }
    dx_font fnt;
    dx_font_load(&fnt, tile_h >= 200 ? 1 : 0, texts, n);
    int cell_w = tile_w + GRID_PAD, cell_h = tile_h + GRID_PAD + fnt.height;
    dx_image canvas = {cols * cell_w + GRID_PAD, rows * cell_h + GRID_PAD, 3, NULL};
    canvas.data = dx_alloc((size_t)canvas.w * canvas.h * 3, sizeof(float), path, err);
    int rc = -1;
    if (!canvas.data) goto done;
    for (size_t i = 0; i < (size_t)canvas.w * canvas.h * 3; ++i) canvas.data[i] = 1.f;
    size_t plane = (size_t)canvas.w * canvas.h;
    for (int k = 0; k < n; ++k) {
        int x0 = GRID_PAD + k % cols * cell_w, y0 = GRID_PAD + k / cols * cell_h;
        for (int ch = 0; ch < 3; ++ch) {
            const float *src = results[k].image + (size_t)(net->c == 3 ? ch : 0) * net->w * net->h;
            for (int y = 0; y < tile_h; ++y)
                for (int x = 0; x < tile_w; ++x) /* nearest neighbour */
                    canvas.data[ch * plane + (size_t)(y0 + y) * canvas.w + x0 + x] =
                        src[(size_t)(y * net->h / tile_h) * net->w + x * net->w / tile_w];
        }
        static const float ink[3] = {0, 0, 0};
        int tw = dx_text_width(&fnt, labels[k]);
        dx_draw_text(canvas, &fnt, labels[k], x0 + (tw < tile_w ? (tile_w - tw) / 2 : 0), y0 + tile_h + 1, ink);
    }
    rc = dx_write_png(canvas, path, err);
done:
    dx_font_free(&fnt);
    free(canvas.data);
    free(labels);
    free(texts);
    return rc;
}

/* A float option as its shortest decimal (0.03, not 0.0299999993) */
static void json_float(dx_json *j, float v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%.7g", v);
    dx_json_num(j, strtod(buf, NULL));
}

static int write_json(const dx_model *m, const dx_vis_unit *units, const dx_vis_result *results, int n,
                      const dx_vis_options *o, const char *prefix, const char *part, dx_error *err)
{
    FILE *f = fopen(part, "wb");
    if (!f) {
        dx_set_error(err, "%s: cannot write", part);
        return -1;
    }
    const dx_net *net = m->net;
    dx_json j;
    dx_json_begin(&j, f);
    dx_json_obj_begin(&j);
    dx_json_key(&j, "tool"); dx_json_str(&j, "darknet-explain " DX_VERSION " visualize");
    dx_json_key(&j, "cfg"); dx_json_str(&j, m->cfg_path);
    dx_json_key(&j, "weights"); dx_json_str(&j, m->weights_path);
    dx_json_key(&j, "input_whc");
    dx_json_arr_begin(&j); dx_json_int(&j, net->w); dx_json_int(&j, net->h); dx_json_int(&j, net->c); dx_json_arr_end(&j);
    dx_json_key(&j, "objective");
    dx_json_str(&j, "unit(x) - l2 * mean((x - 0.5)^2) - tv * sum(neighbour differences^2) / n; unit: the class "
                    "logit or the channel's mean activation");
    dx_json_key(&j, "options");
    dx_json_obj_begin(&j);
    dx_json_key(&j, "steps"); dx_json_int(&j, o->steps);
    dx_json_key(&j, "lr"); json_float(&j, o->lr);
    dx_json_key(&j, "jitter"); dx_json_int(&j, o->jitter);
    dx_json_key(&j, "blur"); json_float(&j, o->blur);
    dx_json_key(&j, "blur_every"); dx_json_int(&j, o->blur_every);
    dx_json_key(&j, "l2"); json_float(&j, o->l2);
    dx_json_key(&j, "tv"); json_float(&j, o->tv);
    dx_json_key(&j, "seed"); dx_json_u64(&j, o->seed);
    dx_json_key(&j, "init"); dx_json_str(&j, "uniform noise in [0.4, 0.6)");
    dx_json_key(&j, "parameterisation"); dx_json_str(&j, "pixels, clamped to [0, 1]");
    dx_json_obj_end(&j);
    dx_json_key(&j, "units");
    dx_json_arr_begin(&j);
    for (int k = 0; k < n; ++k) {
        const dx_vis_unit *u = &units[k];
        const dx_vis_result *r = &results[k];
        char stem[1200], file[1300];
        dx_vis_stem(u, prefix, stem, sizeof stem); /* fits: the caller made the files' names */
        dx_json_obj_begin(&j);
        dx_json_key(&j, "layer"); dx_json_int(&j, u->cls >= 0 ? dx_find_logit_layer(m) : u->layer);
        if (u->cls >= 0) {
            dx_json_key(&j, "class"); dx_json_int(&j, u->cls);
            dx_json_key(&j, "name"); dx_json_str(&j, dx_class_name(m, u->cls));
        } else {
            dx_json_key(&j, "channel"); dx_json_int(&j, u->channel);
        }
        snprintf(file, sizeof file, "%s.png", stem);
        dx_json_key(&j, "png"); dx_json_str(&j, file);
        snprintf(file, sizeof file, "%s.npy", stem);
        dx_json_key(&j, "npy"); dx_json_str(&j, file);
        dx_json_key(&j, "objective"); dx_json_num(&j, r->objective);
        dx_json_key(&j, "start_objective"); dx_json_num(&j, r->start_objective);
        dx_json_key(&j, "top1");
        if (r->top1 >= 0) dx_json_int(&j, r->top1);
        else dx_json_null(&j);
        dx_json_key(&j, "top1_name");
        dx_json_str(&j, r->top1 >= 0 ? dx_class_name(m, r->top1) : NULL);
        dx_json_key(&j, "top1_prob");
        if (r->top1 >= 0) dx_json_num(&j, r->top1_prob);
        else dx_json_null(&j);
        if (u->cls >= 0) {
            dx_json_key(&j, "class_prob"); dx_json_num(&j, r->class_prob);
        }
        dx_json_key(&j, "ms"); dx_json_num(&j, r->ms);
        dx_json_obj_end(&j);
    }
    dx_json_arr_end(&j);
    dx_json_obj_end(&j);
    int ok = dx_json_end(&j) == 0;
    if (fclose(f) != 0) ok = 0;
    if (!ok) dx_set_error(err, "%s: cannot write", part);
    return ok ? 0 : -1;
}

int dx_vis_write(const dx_model *m, const dx_vis_unit *units, const dx_vis_result *results, int n,
                 const dx_vis_options *o, const char *prefix, dx_error *err)
{
    const dx_net *net = m->net;
    dx_atomic_set set = {0};
    char stem[1200], path[1300];
    int shape[3] = {net->c, net->h, net->w};
    for (int k = 0; k < n; ++k) {
        if (dx_vis_stem(&units[k], prefix, stem, sizeof stem) != 0) {
            dx_set_error(err, "%s: the output prefix is too long", prefix);
            return dx_atomic_commit(&set, -1, err);
        }
        dx_image im = dx_image_over(net->w, net->h, net->c, results[k].image);
        snprintf(path, sizeof path, "%s.png", stem);
        const char *part = dx_atomic_add(&set, path, err);
        if (!part || dx_write_png(im, part, err) != 0) return dx_atomic_commit(&set, -1, err);
        snprintf(path, sizeof path, "%s.npy", stem);
        if (!(part = dx_atomic_add(&set, path, err)) || dx_npy_write(part, results[k].image, 3, shape, err) != 0)
            return dx_atomic_commit(&set, -1, err);
    }
    snprintf(path, sizeof path, "%s_grid.png", prefix);
    const char *part = dx_atomic_add(&set, path, err);
    if (!part || write_grid(m, units, results, n, part, err) != 0) return dx_atomic_commit(&set, -1, err);
    snprintf(path, sizeof path, "%s.json", prefix);
    part = dx_atomic_add(&set, path, err);
    if (!part || write_json(m, units, results, n, o, prefix, part, err) != 0) return dx_atomic_commit(&set, -1, err);
    return dx_atomic_commit(&set, 0, err);
}
