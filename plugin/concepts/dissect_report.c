/* dissect's outputs (dissect.h's dx_dissect_write), one atomic set (io/atomic.h):
 *   dissect.csv   layer,unit,label,category,iou,detector,second,second_iou,threshold
 *   dissect.json  every parameter, the timings, per layer the detectors per category and the units
 *   report.html   per layer the summary and one row per unit with its top photos
 *   L<layer>_u<unit>.png  those photos side by side, the unit's thresholded map drawn: outside it
 *                 the photo dimmed, its border yellow. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "concepts/dissect.h"
#include "error.h"
#include "io/atomic.h"
#include "io/drawing.h"
#include "io/escape.h"
#include "io/json.h"
#include "io/render.h"
#include "memory.h"

#define GAP 2 /* pixels between the thumbnails of a strip */

static const char *category_of(const dx_dissection *d, int c) { return c >= 0 ? d->categories[c] : ""; }
static const char *concept_of(const dx_dissection *d, int c) { return c >= 0 ? d->concepts[c] : ""; }

static FILE *open_part(dx_atomic_set *set, const char *dir, const char *name, dx_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    const char *part = dx_atomic_add(set, path, err);
    FILE *f = part ? fopen(part, "w") : NULL;
    if (part && !f) dx_set_error(err, "%s: cannot write", path);
    return f;
}

static int close_part(FILE *f, const char *dir, const char *name, dx_error *err)
{
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        dx_set_error(err, "%s/%s: cannot write", dir, name);
        return -1;
    }
    return 0;
}

static int write_csv(const dx_dissection *d, dx_atomic_set *set, dx_error *err)
{
    FILE *f = open_part(set, d->args->outdir, "dissect.csv", err);
    if (!f) return -1;
    fputs("layer,unit,label,category,iou,detector,second,second_iou,threshold\n", f);
    for (int l = 0; l < d->args->n_layers; ++l) {
        const dx_dissect_layer *L = &d->layers[l];
        for (int k = 0; k < L->units; ++k) {
            dx_dissect_unit u;
            dx_dissect_label(L, k, &u);
            fprintf(f, "%d,%d,", L->layer, k);
            dx_csv_field(f, concept_of(d, u.best));
            fputc(',', f);
            dx_csv_field(f, category_of(d, u.best));
            fprintf(f, ",%.6f,%d,", u.iou, u.iou > DX_DISSECT_DETECTOR_IOU);
            dx_csv_field(f, concept_of(d, u.second));
            fprintf(f, ",%.6f,%.9g\n", u.second_iou, L->threshold[k]);
        }
    }
    return close_part(f, d->args->outdir, "dissect.csv", err);
}

/* How many units of L detect a concept of each category (IoU > the cut), into counts[n_concepts]
 * by the category's first concept index; returns the number of detectors. */
static int detectors_by_category(const dx_dissection *d, const dx_dissect_layer *L, int *counts)
{
    memset(counts, 0, sizeof(int) * (size_t)d->n_concepts);
    int total = 0;
    for (int k = 0; k < L->units; ++k) {
        dx_dissect_unit u;
        dx_dissect_label(L, k, &u);
        if (u.iou <= DX_DISSECT_DETECTOR_IOU) continue;
        int first = u.best;
        for (int c = 0; c < u.best; ++c)
            if (!strcmp(d->categories[c], d->categories[u.best])) {
                first = c;
                break;
            }
        ++counts[first];
        ++total;
    }
    return total;
}

static int write_json(const dx_dissection *d, dx_atomic_set *set, int *counts, dx_error *err)
{
    const dx_dissect_args *a = d->args;
    FILE *f = open_part(set, a->outdir, "dissect.json", err);
    if (!f) return -1;
    dx_json j;
    dx_json_begin(&j, f);
    dx_json_obj_begin(&j);
    dx_json_key(&j, "cfg"); dx_json_str(&j, a->cfg);
    dx_json_key(&j, "weights"); dx_json_str(&j, a->weights);
    dx_json_key(&j, "list"); dx_json_str(&j, a->list);
    dx_json_key(&j, "masks"); dx_json_str(&j, a->masks);
    dx_json_key(&j, "boxes"); dx_json_str(&j, a->boxes);
    dx_json_key(&j, "images"); dx_json_int(&j, d->n_images);
    dx_json_key(&j, "quantile"); dx_json_num(&j, a->quantile);
    dx_json_key(&j, "detector_iou"); dx_json_num(&j, DX_DISSECT_DETECTOR_IOU);
    dx_json_key(&j, "top"); dx_json_int(&j, a->top);
    dx_json_key(&j, "thumb"); dx_json_int(&j, a->thumb);
    dx_json_key(&j, "upsampling"); dx_json_str(&j, "bilinear onto the photo's pixels, letterbox border dropped");
    dx_json_key(&j, "ms_forward"); dx_json_num(&j, d->ms_forward);
    dx_json_key(&j, "ms_iou"); dx_json_num(&j, d->ms_iou);
    dx_json_key(&j, "concepts");
    dx_json_arr_begin(&j);
    for (int c = 0; c < d->n_concepts; ++c) {
        dx_json_obj_begin(&j);
        dx_json_key(&j, "name"); dx_json_str(&j, d->concepts[c]);
        dx_json_key(&j, "category"); dx_json_str(&j, d->categories[c]);
        dx_json_obj_end(&j);
    }
    dx_json_arr_end(&j);
    dx_json_key(&j, "layers");
    dx_json_arr_begin(&j);
    for (int l = 0; l < a->n_layers; ++l) {
        const dx_dissect_layer *L = &d->layers[l];
        dx_json_obj_begin(&j);
        dx_json_key(&j, "layer"); dx_json_int(&j, L->layer);
        dx_json_key(&j, "units"); dx_json_int(&j, L->units);
        dx_json_key(&j, "map"); dx_json_arr_begin(&j); dx_json_int(&j, L->h); dx_json_int(&j, L->w); dx_json_arr_end(&j);
        dx_json_key(&j, "detectors"); dx_json_int(&j, detectors_by_category(d, L, counts));
        dx_json_key(&j, "detectors_by_category");
        dx_json_obj_begin(&j);
        for (int c = 0; c < d->n_concepts; ++c)
            if (counts[c]) {
                dx_json_key(&j, d->categories[c][0] ? d->categories[c] : "(none)");
                dx_json_int(&j, counts[c]);
            }
        dx_json_obj_end(&j);
        dx_json_key(&j, "unit_labels");
        dx_json_arr_begin(&j);
        for (int k = 0; k < L->units; ++k) {
            dx_dissect_unit u;
            dx_dissect_label(L, k, &u);
            dx_json_obj_begin(&j);
            dx_json_key(&j, "unit"); dx_json_int(&j, k);
            dx_json_key(&j, "label"); dx_json_str(&j, concept_of(d, u.best));
            dx_json_key(&j, "iou"); dx_json_num(&j, u.iou);
            dx_json_key(&j, "second"); dx_json_str(&j, concept_of(d, u.second));
            dx_json_key(&j, "second_iou"); dx_json_num(&j, u.second_iou);
            dx_json_key(&j, "threshold"); dx_json_num(&j, L->threshold[k]);
            dx_json_obj_end(&j);
        }
        dx_json_arr_end(&j);
        dx_json_obj_end(&j);
    }
    dx_json_arr_end(&j);
    dx_json_obj_end(&j);
    int rc = dx_json_end(&j);
    if (close_part(f, a->outdir, "dissect.json", err) != 0) return -1;
    if (rc != 0) dx_set_error(err, "%s/dissect.json: cannot write", a->outdir);
    return rc;
}

/* Photo i with unit k's thresholded map drawn, at the thumbnail width (a new image). */
static dx_image thumbnail(const dx_dissection *d, const dx_dissect_layer *L, int k, int i, dx_error *err)
{
    dx_image photo, none = {0};
    if (dx_load_photo(d->images[i], &photo, err) != 0) return none;
    int w = photo.w, h = photo.h;
    unsigned char *m = dx_alloc((size_t)w * h, 1, d->images[i], err);
    if (!m || dx_dissect_unit_mask(L, i, k, w, h, &d->geom[i], m, err) != 0) {
        free(m);
        dx_free_image(photo);
        return none;
    }
    static const float yellow[3] = {1, 1, 0};
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            size_t p = (size_t)y * w + x;
            int border = m[p] && ((x > 0 && !m[p - 1]) || (x + 1 < w && !m[p + 1]) || (y > 0 && !m[p - w]) ||
                                  (y + 1 < h && !m[p + w]) || x == 0 || y == 0 || x + 1 == w || y + 1 == h);
            for (int c = 0; c < 3; ++c) {
                float *v = &photo.data[c * (size_t)w * h + p];
                *v = border ? yellow[c] : m[p] ? *v : *v * 0.3f;
            }
        }
    free(m);
    dx_drawing dr;
    dx_image out = none;
    if (dx_drawing_size(w, h, d->args->thumb, &dr, err) == 0) out = dx_drawn(photo, &dr, d->images[i], err);
    dx_free_image(photo);
    return out;
}

/* L<layer>_u<unit>.png: the unit's top photos side by side */
static int write_strip(const dx_dissection *d, const dx_dissect_layer *L, int k, dx_atomic_set *set, dx_error *err)
{
    int top[100], n = dx_dissect_top_images(L, k, d->args->top, top);
    dx_image thumbs[100];
    int w = 0, h = 0, rc = 0, made = 0;
    for (; made < n; ++made) {
        thumbs[made] = thumbnail(d, L, k, top[made], err);
        if (!thumbs[made].data) {
            rc = -1;
            break;
        }
        w += thumbs[made].w + (made ? GAP : 0);
        if (thumbs[made].h > h) h = thumbs[made].h;
    }
    dx_image strip = {0};
    if (rc == 0 && !(strip = dx_make_image(w, h, 3)).data) {
        dx_set_error(err, "out of memory for unit %d's top photos", k);
        rc = -1;
    }
    for (int t = 0, x0 = 0; rc == 0 && t < n; x0 += thumbs[t++].w + GAP)
        for (int c = 0; c < 3; ++c)
            for (int y = 0; y < thumbs[t].h; ++y)
                memcpy(&strip.data[((size_t)c * h + y) * w + x0], &thumbs[t].data[((size_t)c * thumbs[t].h + y) * thumbs[t].w],
                       sizeof(float) * (size_t)thumbs[t].w);
    for (int t = 0; t < made; ++t) dx_free_image(thumbs[t]);
    char path[4096];
    snprintf(path, sizeof path, "%s/L%d_u%d.png", d->args->outdir, L->layer, k);
    const char *part = rc == 0 ? dx_atomic_add(set, path, err) : NULL;
    if (rc == 0) rc = part ? dx_write_png(strip, part, err) : -1;
    dx_free_image(strip);
    return rc;
}

static int write_html(const dx_dissection *d, dx_atomic_set *set, int *counts, dx_error *err)
{
    const dx_dissect_args *a = d->args;
    FILE *f = open_part(set, a->outdir, "report.html", err);
    if (!f) return -1;
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Network dissection</title>\n"
          "<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}"
          ".det{font-weight:bold}</style></head><body>\n<h1>Network dissection: ", f);
    dx_html_text(f, a->cfg);
    fprintf(f, "</h1>\n<p>%d photos of ", d->n_images);
    dx_html_text(f, a->list);
    fprintf(f, ", %d concepts (", d->n_concepts);
    dx_html_text(f, a->masks ? a->masks : "");
    fputs(a->masks && a->boxes ? ", " : "", f);
    if (a->boxes) {
        fputs("boxes of ", f);
        dx_html_text(f, a->boxes);
    }
    fputc(')', f);
    fprintf(f, "; threshold per unit: its top %g of activations; a unit detects its label when IoU &gt; %g "
               "(bold). Thumbnails: the unit's top photos, outside its thresholded map dimmed, the map's "
               "border yellow.</p>\n", a->quantile, DX_DISSECT_DETECTOR_IOU);
    for (int l = 0; l < a->n_layers; ++l) {
        const dx_dissect_layer *L = &d->layers[l];
        int total = detectors_by_category(d, L, counts);
        fprintf(f, "<h2>Layer %d: %d units (%dx%d maps), %d detectors", L->layer, L->units, L->h, L->w, total);
        for (int c = 0; c < d->n_concepts; ++c)
            if (counts[c]) {
                fprintf(f, ", %d ", counts[c]);
                dx_html_text(f, d->categories[c][0] ? d->categories[c] : "(no category)");
            }
        fputs("</h2>\n<table><tr><th>unit</th><th>label</th><th>category</th><th>IoU</th><th>second</th>"
              "<th>threshold</th><th>top photos</th></tr>\n", f);
        for (int k = 0; k < L->units; ++k) {
            dx_dissect_unit u;
            dx_dissect_label(L, k, &u);
            fprintf(f, "<tr%s><td>%d</td><td>", u.iou > DX_DISSECT_DETECTOR_IOU ? " class=\"det\"" : "", k);
            dx_html_text(f, concept_of(d, u.best));
            fputs("</td><td>", f);
            dx_html_text(f, category_of(d, u.best));
            fprintf(f, "</td><td>%.4f</td><td>", u.iou);
            dx_html_text(f, concept_of(d, u.second));
            fprintf(f, " (%.4f)</td><td>%.4g</td><td><img src=\"L%d_u%d.png\" alt=\"unit %d\"></td></tr>\n",
                    u.second_iou, L->threshold[k], L->layer, k, k);
        }
        fputs("</table>\n", f);
    }
    fputs("</body></html>\n", f);
    return close_part(f, a->outdir, "report.html", err);
}

int dx_dissect_write(const dx_dissection *d, dx_error *err)
{
    dx_atomic_set set = {0};
    int *counts = dx_alloc((size_t)d->n_concepts, sizeof(int), "the report", err);
    int rc = counts ? write_csv(d, &set, err) : -1;
    if (rc == 0) rc = write_json(d, &set, counts, err);
    if (rc == 0) rc = write_html(d, &set, counts, err);
    for (int l = 0; rc == 0 && l < d->args->n_layers; ++l)
        for (int k = 0; rc == 0 && k < d->layers[l].units; ++k) rc = write_strip(d, &d->layers[l], k, &set, err);
    free(counts);
    return dx_atomic_commit(&set, rc, err);
}
