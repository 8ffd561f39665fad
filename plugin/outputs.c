/* The standard outputs of one explanation: PREFIX.png, PREFIX.npy, PREFIX.raw.npy, PREFIX.json.
 * Written beside their final names (".part") and renamed only when all four succeeded. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"
#include "io/json.h"
#include "io/npy.h"
#include "io/render.h"

enum { OUT_PNG, OUT_MAP, OUT_NATIVE, OUT_JSON, OUT_COUNT };
static const char *const suffixes[OUT_COUNT] = {".png", ".npy", ".raw.npy", ".json"};

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static int write_json(const dx_model *m, const dx_result *r, char finals[OUT_COUNT][1100],
                      const char *path, dx_error *err)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        dx_set_error(err, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    const network *net = m->net;
    dx_json j;
    dx_json_begin(&j, f);
    dx_json_obj_begin(&j);
    dx_json_key(&j, "tool"); dx_json_str(&j, "darknet-explain " DX_VERSION);
    dx_json_key(&j, "method"); dx_json_str(&j, dx_method_name(r->method));
    dx_json_key(&j, "model");
    dx_json_obj_begin(&j);
    dx_json_key(&j, "cfg"); dx_json_str(&j, m->cfg_path);
    dx_json_key(&j, "weights"); dx_json_str(&j, m->weights_path);
    dx_json_key(&j, "input_whc");
    dx_json_arr_begin(&j); dx_json_int(&j, net->w); dx_json_int(&j, net->h); dx_json_int(&j, net->c); dx_json_arr_end(&j);
    dx_json_key(&j, "layers"); dx_json_int(&j, m->n);
    dx_json_obj_end(&j);
    dx_json_key(&j, "image");
    dx_json_obj_begin(&j);
    dx_json_key(&j, "path"); dx_json_str(&j, r->image_path);
    dx_json_key(&j, "width"); dx_json_int(&j, r->w);
    dx_json_key(&j, "height"); dx_json_int(&j, r->h);
    dx_json_key(&j, "preprocessing"); dx_json_str(&j, "letterbox (as darknet classifier predict)");
    dx_json_obj_end(&j);
    dx_json_key(&j, "target");
    dx_json_obj_begin(&j);
    dx_json_key(&j, "class"); dx_json_int(&j, r->class_id);
    dx_json_key(&j, "name"); dx_json_str(&j, dx_class_name(m, r->class_id));
    dx_json_key(&j, "score"); dx_json_str(&j, r->score_kind == DX_SCORE_PROB ? "probability" : "logit");
    dx_json_key(&j, "logit"); dx_json_num(&j, r->logit);
    dx_json_key(&j, "probability"); dx_json_num(&j, r->prob);
    dx_json_obj_end(&j);
    dx_json_key(&j, "layer");
    if (r->layer < 0) {
        dx_json_null(&j);
    } else {
        const layer *l = &net->layers[r->layer];
        dx_json_obj_begin(&j);
        dx_json_key(&j, "index"); dx_json_int(&j, r->layer);
        dx_json_key(&j, "type"); dx_json_str(&j, dx_layer_type_name(l->type));
        dx_json_key(&j, "output_chw");
        dx_json_arr_begin(&j); dx_json_int(&j, l->out_c); dx_json_int(&j, l->out_h); dx_json_int(&j, l->out_w); dx_json_arr_end(&j);
        dx_json_obj_end(&j);
    }
    dx_json_key(&j, "predictions");
    dx_json_arr_begin(&j);
    for (int k = 0; k < r->ntop; ++k) {
        dx_json_obj_begin(&j);
        dx_json_key(&j, "class"); dx_json_int(&j, r->top[k].cls);
        dx_json_key(&j, "name"); dx_json_str(&j, dx_class_name(m, r->top[k].cls));
        dx_json_key(&j, "probability"); dx_json_num(&j, r->top[k].prob);
        dx_json_obj_end(&j);
    }
    dx_json_arr_end(&j);
    dx_json_key(&j, "outputs");
    dx_json_obj_begin(&j);
    dx_json_key(&j, "overlay_png"); dx_json_str(&j, base_name(finals[OUT_PNG]));
    dx_json_key(&j, "map_npy"); dx_json_str(&j, base_name(finals[OUT_MAP]));
    dx_json_key(&j, "map_shape_hw");
    dx_json_arr_begin(&j); dx_json_int(&j, r->h); dx_json_int(&j, r->w); dx_json_arr_end(&j);
    dx_json_key(&j, "map_frame"); dx_json_str(&j, "the photo's pixels (letterbox border removed, bilinear)");
    dx_json_key(&j, "raw_npy"); dx_json_str(&j, base_name(finals[OUT_NATIVE]));
    dx_json_key(&j, "raw_shape_hw");
    dx_json_arr_begin(&j); dx_json_int(&j, r->native_h); dx_json_int(&j, r->native_w); dx_json_arr_end(&j);
    dx_json_key(&j, "raw_frame");
    dx_json_str(&j, r->layer < 0 ? "the network input (letterboxed photo)"
                                 : "the layer's feature map over the network input (letterboxed photo)");
    dx_json_key(&j, "signed"); dx_json_bool(&j, r->signed_map);
    dx_json_key(&j, "map_min"); dx_json_num(&j, r->map_min);
    dx_json_key(&j, "map_max"); dx_json_num(&j, r->map_max);
    dx_json_obj_end(&j);
    if (r->n_stats > 0) {
        dx_json_key(&j, "method_stats");
        dx_json_obj_begin(&j);
        for (int k = 0; k < r->n_stats; ++k) {
            dx_json_key(&j, r->stats[k].name);
            dx_json_num(&j, r->stats[k].value);
        }
        dx_json_obj_end(&j);
    }
    dx_json_key(&j, "timings_ms");
    dx_json_obj_begin(&j);
    dx_json_key(&j, "forward"); dx_json_num(&j, r->ms_forward);
    dx_json_key(&j, "backward"); dx_json_num(&j, r->ms_backward);
    dx_json_key(&j, "method"); dx_json_num(&j, r->ms_method);
    if (m->timing) {
        dx_json_key(&j, "layer_forward");
        dx_json_arr_begin(&j);
        for (int i = 0; i < m->n; ++i) dx_json_num(&j, dx_layer_forward_ms(m, i));
        dx_json_arr_end(&j);
    }
    dx_json_obj_end(&j);
    dx_json_obj_end(&j);
    int rc = dx_json_end(&j);
    if (fclose(f) != 0 || rc != 0) {
        dx_set_error(err, "%s: write failed", path);
        return -1;
    }
    return 0;
}

/* The overlay, drawn at the photo's size or scaled down to png_width. */
static int write_overlay(const dx_result *r, int png_width, const char *title, const char *lo_label,
                         const char *hi_label, const char *path, dx_error *err)
{
    if (png_width <= 0 || png_width >= r->w)
        return dx_render_overlay(r->photo, r->map, r->h, r->w, r->signed_map, title, lo_label, hi_label, path, err);
    int h = (int)((double)r->h * png_width / r->w + .5);
    if (h < 1) h = 1;
    image photo = resize_image(r->photo, png_width, h);
    image map = resize_image(float_to_image(r->w, r->h, 1, r->map), png_width, h);
    int rc = dx_render_overlay(photo, map.data, h, png_width, r->signed_map, title, lo_label, hi_label, path, err);
    free_image(photo);
    free_image(map);
    return rc;
}

int dx_write_outputs(const dx_model *m, const dx_result *r, const char *prefix,
                     const dx_output_options *opt, dx_error *err)
{
    char finals[OUT_COUNT][1100], parts[OUT_COUNT][1110];
    if (strlen(prefix) >= 1024) {
        dx_set_error(err, "%.60s...: output prefix longer than 1023 characters", prefix);
        return -1;
    }
    for (int k = 0; k < OUT_COUNT; ++k) { /* both fit: the prefix is shorter than 1024 */
        if (snprintf(finals[k], sizeof finals[k], "%s%s", prefix, suffixes[k]) >= (int)sizeof finals[k] ||
            snprintf(parts[k], sizeof parts[k], "%s.part", finals[k]) >= (int)sizeof parts[k])
            return -1;
    }
    char title[256], lo_label[32], hi_label[32];
    snprintf(title, sizeof title, "%s  %s %.1f%%  %s", dx_method_name(r->method),
             dx_class_name(m, r->class_id), 100.f * r->prob,
             r->layer >= 0 ? "" : "input");
    if (r->layer >= 0)
        snprintf(title + strlen(title), sizeof title - strlen(title), "layer %d", r->layer);
    snprintf(lo_label, sizeof lo_label, "%.3g", r->map_min);
    snprintf(hi_label, sizeof hi_label, "%.3g", r->map_max);

    int map_shape[2] = {r->h, r->w}, native_shape[2] = {r->native_h, r->native_w};
    int rc = write_overlay(r, opt ? opt->png_width : 0, title, lo_label, hi_label, parts[OUT_PNG], err);
    if (rc == 0) rc = dx_npy_write(parts[OUT_MAP], r->map, 2, map_shape, err);
    if (rc == 0) rc = dx_npy_write(parts[OUT_NATIVE], r->native, 2, native_shape, err);
    if (rc == 0) rc = write_json(m, r, finals, parts[OUT_JSON], err);
    int renamed = 0;
    while (rc == 0 && renamed < OUT_COUNT) {
        if (rename(parts[renamed], finals[renamed]) != 0) {
            dx_set_error(err, "%s: cannot write: %s", finals[renamed], strerror(errno));
            rc = -1;
        } else {
            ++renamed;
        }
    }
    if (rc != 0) /* leave no part and no mix of old and new outputs */
        for (int k = 0; k < OUT_COUNT; ++k) {
            unlink(parts[k]);
            if (k < renamed) unlink(finals[k]);
        }
    return rc;
}

int dx_write_panel(const dx_model *m, const dx_result *results, int n, const char *path,
                   const dx_output_options *opt, dx_error *err)
{
    if (n <= 0) {
        dx_set_error(err, "%s: a panel needs at least one explanation", path);
        return -1;
    }
    char part[1100];
    if (snprintf(part, sizeof part, "%s.part", path) >= (int)sizeof part) {
        dx_set_error(err, "%.60s...: output path too long", path);
        return -1;
    }
    const dx_result *first = &results[0];
    int width = opt && opt->png_width > 0 ? opt->png_width : first->w < 320 ? first->w : 320;
    int height = (int)((double)first->h * width / first->w + .5);
    if (height < 1) height = 1;
    image photo = resize_image(first->photo, width, height);
    image *maps = calloc((size_t)n, sizeof(image));
    const float **planes = calloc((size_t)n, sizeof(float *));
    int *signs = calloc((size_t)n, sizeof(int));
    const char **labels = calloc((size_t)n, sizeof(char *));
    int rc = -1;
    if (!maps || !planes || !signs || !labels) {
        dx_set_error(err, "%s: out of memory", path);
        goto done;
    }
    for (int k = 0; k < n; ++k) {
        if (results[k].w != first->w || results[k].h != first->h) {
            dx_set_error(err, "%s: the explanations are of photos of different sizes", path);
            goto done;
        }
        maps[k] = resize_image(float_to_image(first->w, first->h, 1, results[k].map), width, height);
        planes[k] = maps[k].data;
        signs[k] = results[k].signed_map;
        labels[k] = dx_method_name(results[k].method);
    }
    char title[256];
    snprintf(title, sizeof title, "%.120s  %.100s %.1f%%", base_name(first->image_path),
             dx_class_name(m, first->class_id), 100.f * first->prob);
    rc = dx_render_panel(photo, planes, signs, labels, n, title, part, err);
    if (rc == 0 && rename(part, path) != 0) {
        dx_set_error(err, "%s: cannot write: %s", path, strerror(errno));
        unlink(part);
        rc = -1;
    }
done:
    for (int k = 0; k < n && maps; ++k)
        if (maps[k].data) free_image(maps[k]);
    free(maps);
    free(planes);
    free(signs);
    free(labels);
    free_image(photo);
    return rc;
}
