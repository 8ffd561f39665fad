/* report.html: one static page (no script, no network) made from the rows of a run: the summary
 * table (a row per metric, a column per method; the best mean in bold) and, per image, the photo
 * and every method's map thumbnail (maps/, referenced relatively) with its metric values. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "eval/eval.h"
#include "eval/results.h"
#include "io/escape.h"
#include "memory.h"

/* distinct values of a row field, in order of first appearance */
typedef struct {
    const char **names;
    int n;
} name_set;

static int collect(const dx_eval_rows *rows, int by_method, name_set *set, dx_error *err)
{
    set->names = dx_alloc((size_t)rows->n + 1, sizeof(char *), "the report", err);
    set->n = 0;
    for (int k = 0; set->names && k < rows->n; ++k) {
        const char *name = by_method ? rows->rows[k].method : rows->rows[k].metric;
        int seen = 0;
        for (int j = 0; j < set->n && !seen; ++j) seen = !strcmp(set->names[j], name);
        if (!seen) set->names[set->n++] = name;
    }
    return set->names ? 0 : -1;
}

/* the metric a row name belongs to ("randomisation@12" -> randomisation) */
static int metric_of(const char *name, dx_metric *id)
{
    char base[64];
    snprintf(base, sizeof base, "%.*s", (int)strcspn(name, "@"), name);
    return dx_metric_from_name(base, id);
}

static void value(FILE *f, double v)
{
    if (isfinite(v)) fprintf(f, "%.4g", v);
    else fputs("&ndash;", f);
}

/* a row's class: its name, and its number when the name is not just that ("class N") */
static void class_of(FILE *f, const dx_eval_row *r)
{
    char plain[32];
    snprintf(plain, sizeof plain, "class %d", r->cls);
    dx_html_text(f, r->class_name);
    if (strcmp(r->class_name, plain) != 0) fprintf(f, " (class %d)", r->cls);
}

/* every method's thumbnail and values for the rows [from, to) of one image and box */
static void method_figures(FILE *f, const dx_eval_rows *rows, int from, int to, const name_set *methods)
{
    const dx_eval_row *first = &rows->rows[from];
    char rel[256];
    for (int i = 0; i < methods->n; ++i) {
        dx_eval_map_path(rel, sizeof rel, first->image_index, first->box, methods->names[i]);
        fputs("<figure><img src=\"", f);
        dx_html_text(f, rel);
        fputs("\" alt=\"", f);
        dx_html_text(f, methods->names[i]);
        fputs("\"><figcaption><b>", f);
        dx_html_text(f, methods->names[i]);
        fputs("</b><table>", f);
        for (int k = from; k < to; ++k) {
            if (strcmp(rows->rows[k].method, methods->names[i]) != 0) continue;
            fputs("<tr><td>", f);
            dx_html_text(f, rows->rows[k].metric);
            fputs("</td><td>", f);
            value(f, rows->rows[k].value);
            fputs("</td></tr>", f);
        }
        fputs("</table></figcaption></figure>\n", f);
    }
}

int dx_eval_write_report(const char *dir, const char *title, const dx_eval_rows *rows,
                         unsigned long long seed, dx_error *err)
{
    dx_eval_file out;
    if (dx_eval_file_open(&out, dir, "report.html", err) != 0) return -1;
    FILE *f = out.f;
    name_set methods, metrics;
    if ((collect(rows, 1, &methods, err) | collect(rows, 0, &metrics, err)) != 0) {
        free(methods.names);
        free(metrics.names);
        dx_eval_file_commit(&out, 0, NULL); /* err says out of memory; nothing written */
        return -1;
    }
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>", f);
    dx_html_text(f, title);
    fputs("</title>\n<style>\n"
          "body{font-family:sans-serif;margin:1.5em;color:#222}\n"
          "table.summary{border-collapse:collapse;margin:1em 0}\n"
          ".summary td,.summary th{border:1px solid #ccc;padding:.3em .6em;text-align:right}\n"
          ".summary th:first-child,.summary td:first-child{text-align:left}\n"
          ".ci{color:#777;font-size:80%}\n"
          ".image{border-top:1px solid #ccc;padding:.6em 0}\n"
          ".panels{display:flex;flex-wrap:wrap;gap:.8em}\n"
          "figure{margin:0;font-size:80%}\nfigure img{display:block}\n"
          "figure table td{padding:0 .4em 0 0}\n"
          "</style></head><body>\n<h1>", f);
    dx_html_text(f, title);
    const char *unit = rows->boxes ? "detected boxes" : "images";
    fprintf(f, "</h1>\n<h2>Summary</h2>\n<p>Mean &plusmn; standard deviation over the %s; below it the 95%% "
               "bootstrap interval of the mean and the number of %s%s. The best mean of each metric is in bold "
               "(&uarr; higher is better, &darr; lower).</p>\n<table class=\"summary\"><tr><th>metric</th>",
            unit, unit, rows->boxes ? " with a value (no matched label: no pointing value)" : "");
    dx_eval_counts c;
    dx_eval_count(rows, &c);
    if (rows->boxes)
        fprintf(f, "<p>%d images: %d detected boxes scored, %d of them matched to a label; %d labels missed (no "
                   "box above the threshold matched them); %d images without a box.</p>\n",
                c.images, c.boxes, c.matched, c.missed_labels, c.no_detection);
    for (int i = 0; i < methods.n; ++i) {
        fputs("<th>", f);
        dx_html_text(f, methods.names[i]);
        fputs("</th>", f);
    }
    fputs("</tr>\n", f);
    for (int k = 0; k < metrics.n; ++k) {
        dx_metric id;
        int known = metric_of(metrics.names[k], &id) == 0, higher = known && dx_metric_higher_is_better(id);
        dx_eval_stat stats[methods.n > 0 ? methods.n : 1];
        int best = -1;
        for (int i = 0; i < methods.n; ++i) {
            if (dx_eval_stat_of(rows, methods.names[i], metrics.names[k], seed, &stats[i], err) != 0) {
                free(methods.names);
                free(metrics.names);
                dx_eval_file_commit(&out, 0, NULL); /* err says out of memory; nothing written */
                return -1;
            }
            if (isfinite(stats[i].mean) &&
                (best < 0 || (higher ? stats[i].mean > stats[best].mean : stats[i].mean < stats[best].mean)))
                best = i;
        }
        fputs("<tr><td>", f);
        dx_html_text(f, metrics.names[k]);
        fputs(known ? (higher ? " &uarr;" : " &darr;") : "", f);
        fputs("</td>", f);
        for (int i = 0; i < methods.n; ++i) {
            fputs(i == best ? "<td><b>" : "<td>", f);
            value(f, stats[i].mean);
            fputs(" &plusmn; ", f);
            value(f, stats[i].std);
            fputs(i == best ? "</b>" : "", f);
            fputs("<br><span class=\"ci\">[", f);
            value(f, stats[i].lo);
            fputs(", ", f);
            value(f, stats[i].hi);
            fprintf(f, "] n=%d</span></td>", stats[i].n);
        }
        fputs("</tr>\n", f);
    }
    fputs("</table>\n<h2>Definitions</h2>\n<p>f_c is the score explained: a classifier's class logit "
          "(default) or probability (<code>-score prob</code>), a detector's box score (run.json says which). "
          "Deletion, insertion, AOPC and faithfulness are in its units: AUCs are its mean over the steps, "
          "AOPC a mean drop of it.</p>\n<dl>", f);
    for (int k = 0; k < metrics.n; ++k) {
        dx_metric id;
        if (metric_of(metrics.names[k], &id) != 0) continue; /* randomisation@L rows: see run.json */
        fputs("<dt>", f);
        dx_html_text(f, metrics.names[k]);
        fputs("</dt><dd>", f);
        dx_html_text(f, dx_metric_definition(id));
        fputs("</dd>\n", f);
    }
    fputs("</dl>\n<h2>Images</h2>\n", f);
    for (int start = 0; start < rows->n;) {
        int end = start, boxes = 0;
        for (; end < rows->n && rows->rows[end].image_index == rows->rows[start].image_index; ++end)
            boxes += rows->rows[end].miss == DX_EVAL_DETECTED &&
                     (end == start || !dx_eval_same_unit(&rows->rows[end], &rows->rows[end - 1]));
        const dx_eval_row *first = &rows->rows[start];
        char rel[256];
        fprintf(f, "<div class=\"image\"><h3>#%d ", first->image_index);
        dx_html_text(f, first->image);
        fputs(" &mdash; ", f);
        if (rows->boxes) fprintf(f, "%d box%s", boxes, boxes == 1 ? "" : "es");
        else class_of(f, first);
        fputs("</h3>\n<div class=\"panels\">", f);
        dx_eval_map_path(rel, sizeof rel, first->image_index, -1, "photo");
        fprintf(f, "<figure><img src=\"%s\" alt=\"photo\"><figcaption>photo</figcaption></figure>\n", rel);
        /* a detector's units one panel row each: a box, drawn on its thumbnails; a miss, no map */
        for (int from = start, to; from < end; from = to) {
            const dx_eval_row *unit_row = &rows->rows[from];
            for (to = from; to < end && dx_eval_same_unit(&rows->rows[to], unit_row); ++to) {}
            if (!rows->boxes) {
                method_figures(f, rows, from, to, &methods);
                continue;
            }
            fputs("</div>\n<h4>", f);
            if (unit_row->miss == DX_EVAL_NO_DETECTION) {
                fputs("no detection above the threshold", f);
            } else {
                if (unit_row->miss == DX_EVAL_MISSED_LABEL) fprintf(f, "missed label %d: ", unit_row->label);
                else fprintf(f, "box %d: ", unit_row->box);
                class_of(f, unit_row);
                if (unit_row->miss == DX_EVAL_DETECTED) fprintf(f, ", score %.3f", unit_row->score);
                fprintf(f, ", at %.0f,%.0f %.0fx%.0f", unit_row->x, unit_row->y, unit_row->w, unit_row->h);
                if (unit_row->miss == DX_EVAL_DETECTED && unit_row->label >= 0) fprintf(f, ", label %d", unit_row->label);
            }
            fputs("</h4>\n<div class=\"panels\">", f);
            if (unit_row->miss == DX_EVAL_DETECTED) method_figures(f, rows, from, to, &methods);
        }
        fputs("</div></div>\n", f);
        start = end;
    }
    fputs("<h2>Metrics</h2>\n<dl>\n", f);
    for (int id = 0; id < DX_METRIC_COUNT; ++id) { /* each metric of the rows once */
        int present = 0;
        for (int k = 0; k < metrics.n && !present; ++k) {
            dx_metric of;
            present = metric_of(metrics.names[k], &of) == 0 && of == (dx_metric)id;
        }
        if (!present) continue;
        fprintf(f, "<dt>%s</dt><dd>", dx_metric_name((dx_metric)id));
        dx_html_text(f, dx_metric_definition((dx_metric)id));
        fputs("</dd>\n", f);
    }
    fputs("</dl>\n<p>Parameters: run.json and summary.json beside this page; every row: results.csv.</p>\n"
          "</body></html>\n", f);
    free(methods.names);
    free(metrics.names);
    return dx_eval_file_commit(&out, 1, err);
}
