/* results.csv rows, their statistics and summary.json (see results.h). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "error.h"
#include "eval/results.h"
#include "io/escape.h"
#include "io/json.h"
#include "memory.h"

int dx_eval_rows_add(dx_eval_rows *rows, const dx_eval_row *from)
{
    if (rows->n == rows->cap) {
        int cap = rows->cap ? 2 * rows->cap : 256;
        /* no dx_error here: -1 tells the callers, which report it */
        dx_eval_row *grown = dx_realloc_array(rows->rows, cap, sizeof(dx_eval_row), "the rows", NULL);
        if (!grown) return -1;
        rows->rows = grown;
        rows->cap = cap;
    }
    dx_eval_row *r = &rows->rows[rows->n];
    *r = *from;
    r->image = dx_strdup(from->image, "the rows", NULL);
    r->method = dx_strdup(from->method, "the rows", NULL);
    r->metric = dx_strdup(from->metric, "the rows", NULL);
    r->class_name = dx_strdup(from->class_name, "the rows", NULL);
    if (!r->image || !r->method || !r->metric || !r->class_name) {
        free(r->image);
        free(r->method);
        free(r->metric);
        free(r->class_name);
        return -1;
    }
    rows->n++;
    return 0;
}

void dx_eval_rows_free(dx_eval_rows *rows)
{
    for (int k = 0; k < rows->n; ++k) {
        free(rows->rows[k].image);
        free(rows->rows[k].method);
        free(rows->rows[k].metric);
        free(rows->rows[k].class_name);
    }
    free(rows->rows);
    memset(rows, 0, sizeof *rows);
}

const char *dx_eval_csv_header(int boxes) { return boxes ? DX_EVAL_CSV_HEADER_BOXES : DX_EVAL_CSV_HEADER; }

static const char *const miss_names[] = {"", "no_detection", "missed_label"};

void dx_eval_row_write(FILE *f, const dx_eval_row *r, int boxes)
{
    fprintf(f, "%d,", r->image_index);
    dx_csv_field(f, r->image);
    if (boxes) fprintf(f, ",%d", r->box);
    fprintf(f, ",%d,", r->cls);
    dx_csv_field(f, r->class_name);
    if (boxes)
        fprintf(f, ",%.9g,%.9g,%.9g,%.9g,%.9g,%d,%s", r->score, r->x, r->y, r->w, r->h, r->label, miss_names[r->miss]);
    fputc(',', f);
    dx_csv_field(f, r->method);
    fputc(',', f);
    dx_csv_field(f, r->metric);
    fprintf(f, ",%.9g\n", r->value);
}

/* Splits one line into at most max fields in place (quotes undone); returns the field count. */
static int split_csv(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        if (n == max) return max + 1;
        char *out = p;
        fields[n++] = p;
        if (*p == '"') {
            char *in = p + 1;
            for (;;) {
                if (*in == 0) return -1;
                if (*in == '"' && in[1] == '"') {
                    *out++ = '"';
                    in += 2;
                } else if (*in == '"') {
                    ++in;
                    break;
                } else {
                    *out++ = *in++;
                }
            }
            p = in;
            if (*p != ',' && *p != 0) return -1;
        } else {
            while (*p && *p != ',') ++p;
            out = p;
        }
        char sep = *p;
        *out = 0;
        if (sep == 0) return n;
        p = p + 1;
    }
}

/* An integer field: 1 when s is one, in *out. */
static int int_field(const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    *out = (int)v;
    return *s && !*end && v >= INT_MIN && v <= INT_MAX;
}

/* One line's fields into r (its strings point into line); the box columns, as in the header.
 * 0, or -1 when a field is missing or not a number. */
static int parse_row(char *line, int boxes, dx_eval_row *r)
{
    enum { FIELDS = 15 };
    char *f[FIELDS], *end;
    int n = split_csv(line, f, FIELDS), at = 2;
    if (n != (boxes ? 15 : 7)) return -1;
    memset(r, 0, sizeof *r);
    r->image = f[1];
    int ok = int_field(f[0], &r->image_index) && r->image_index >= 0;
    r->box = r->label = -1;
    if (boxes) ok = ok && int_field(f[at++], &r->box);
    ok = ok && int_field(f[at++], &r->cls);
    r->class_name = f[at++];
    float *box_values[5] = {&r->score, &r->x, &r->y, &r->w, &r->h};
    for (int k = 0; boxes && k < 5; ++k) {
        *box_values[k] = strtof(f[at], &end);
        ok = ok && *f[at++] && !*end;
    }
    if (boxes) {
        ok = ok && int_field(f[at++], &r->label);
        int miss = 0;
        while (miss < 3 && strcmp(f[at], miss_names[miss]) != 0) ++miss;
        ok = ok && miss < 3;
        r->miss = (dx_eval_miss)miss;
        ++at;
    }
    r->method = f[at++];
    r->metric = f[at++];
    r->value = strtod(f[at], &end);
    return ok && *f[at] && !*end ? 0 : -1;
}

int dx_eval_rows_read(const char *path, dx_eval_rows *out, long *complete_bytes, dx_error *err)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (!f) {
        dx_set_error(err, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long complete = 0;
    int lineno = 0, rc = 0;
    dx_eval_row row;
    while ((len = getline(&line, &cap, f)) > 0) {
        ++lineno;
        if (line[len - 1] != '\n') break; /* torn: the run was killed while writing it */
        line[--len] = 0;
        if (lineno == 1) {
            out->boxes = !strcmp(line, DX_EVAL_CSV_HEADER_BOXES);
            if (!out->boxes && strcmp(line, DX_EVAL_CSV_HEADER) != 0) {
                dx_set_error(err, "%s: not a results.csv of darknet-explain eval (header '%s' or '%s')", path,
                             DX_EVAL_CSV_HEADER, DX_EVAL_CSV_HEADER_BOXES);
                rc = -1;
                break;
            }
        } else if (parse_row(line, out->boxes, &row) != 0) {
            dx_set_error(err, "%s:%d: not a row of %d fields (%s)", path, lineno, out->boxes ? 15 : 7,
                         dx_eval_csv_header(out->boxes));
            rc = -1;
            break;
        } else if (dx_eval_rows_add(out, &row) != 0) {
            dx_set_error(err, "out of memory for %s's rows", path);
            rc = -1;
            break;
        }
        complete += len + 1;
    }
    free(line);
    fclose(f);
    if (rc != 0) dx_eval_rows_free(out);
    else if (complete_bytes) *complete_bytes = complete;
    return rc;
}

int dx_eval_same_unit(const dx_eval_row *a, const dx_eval_row *b)
{
    return a->image_index == b->image_index && a->box == b->box && a->label == b->label && a->miss == b->miss;
}

void dx_eval_count(const dx_eval_rows *rows, dx_eval_counts *c)
{
    memset(c, 0, sizeof *c);
    for (int k = 0; k < rows->n; ++k) {
        const dx_eval_row *r = &rows->rows[k];
        if (k > 0 && dx_eval_same_unit(r, r - 1)) continue;
        c->images += k == 0 || r->image_index != r[-1].image_index;
        c->boxes += rows->boxes && r->miss == DX_EVAL_DETECTED;
        c->matched += rows->boxes && r->miss == DX_EVAL_DETECTED && r->label >= 0;
        c->missed_labels += r->miss == DX_EVAL_MISSED_LABEL;
        c->no_detection += r->miss == DX_EVAL_NO_DETECTION;
    }
}

void dx_eval_map_path(char *out, size_t len, int image_index, int box, const char *method)
{
    if (box < 0) snprintf(out, len, "maps/%05d-%s.png", image_index, method);
    else snprintf(out, len, "maps/%05d-box%d-%s.png", image_index, box, method);
}

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* mean, sample std, and the 2.5/97.5 percentiles of 1000 bootstrap means (seeded) */
int dx_eval_stat_of(const dx_eval_rows *rows, const char *method, const char *metric,
                    unsigned long long seed, dx_eval_stat *s, dx_error *err)
{
    enum { RESAMPLES = 1000 };
    memset(s, 0, sizeof *s);
    s->mean = s->std = s->lo = s->hi = NAN;
    double *v = dx_alloc((size_t)rows->n + 1, sizeof(double), "the summary", err);
    double *means = dx_alloc(RESAMPLES, sizeof(double), "the summary", err);
    if (!v || !means) {
        free(v);
        free(means);
        return -1;
    }
    for (int k = 0; v && k < rows->n; ++k)
        if (!strcmp(rows->rows[k].method, method) && !strcmp(rows->rows[k].metric, metric) &&
            isfinite(rows->rows[k].value))
            v[s->n++] = rows->rows[k].value;
    if (s->n > 0 && means) {
        double sum = 0, sq = 0;
        for (int k = 0; k < s->n; ++k) sum += v[k];
        s->mean = sum / s->n;
        for (int k = 0; k < s->n; ++k) sq += (v[k] - s->mean) * (v[k] - s->mean);
        s->std = s->n > 1 ? sqrt(sq / (s->n - 1)) : 0;
        dx_rng r;
        dx_rng_init(&r, seed);
        for (int b = 0; b < RESAMPLES; ++b) {
            double total = 0;
            for (int k = 0; k < s->n; ++k) total += v[(int)(dx_rng_uniform(&r) * s->n)];
            means[b] = total / s->n;
        }
        qsort(means, RESAMPLES, sizeof(double), by_double);
        s->lo = means[(int)(0.025 * RESAMPLES)];
        s->hi = means[(int)(0.975 * RESAMPLES) - 1];
    }
    free(v);
    free(means);
    return 0;
}

/* index of the first row with this method (or metric), to list each once in order of appearance */
static int first_of(const dx_eval_rows *rows, int k, int by_method)
{
    for (int j = 0; j < k; ++j)
        if (!strcmp(by_method ? rows->rows[j].method : rows->rows[j].metric,
                    by_method ? rows->rows[k].method : rows->rows[k].metric))
            return 0;
    return 1;
}

int dx_eval_file_open(dx_eval_file *out, const char *dir, const char *name, dx_error *err)
{
    char path[1100];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        dx_set_error(err, "%.60s...: output folder path too long", dir);
        return -1;
    }
    return dx_atomic_fopen(out, path, err);
}

int dx_eval_file_commit(dx_eval_file *out, int ok, dx_error *err)
{
    return dx_atomic_fclose(out, ok, err);
}

int dx_eval_write_summary(const char *dir, const char *run_json, const dx_eval_rows *rows,
                          unsigned long long seed, dx_error *err)
{
    dx_eval_file out;
    if (dx_eval_file_open(&out, dir, "summary.json", err) != 0) return -1;
    FILE *f = out.f;
    size_t run_len = strlen(run_json);
    while (run_len > 0 && run_json[run_len - 1] == '\n') --run_len;
    dx_eval_counts c;
    dx_eval_count(rows, &c);
    fprintf(f, "{\n\"run\": %.*s,\n\"images\": %d,\n", (int)run_len, run_json, c.images);
    if (rows->boxes)
        fprintf(f, "\"boxes\": %d,\n\"boxes_matched\": %d,\n\"labels_missed\": %d,\n"
                   "\"images_without_detection\": %d,\n", c.boxes, c.matched, c.missed_labels, c.no_detection);
    fprintf(f, "\"bootstrap\": {\"resamples\": 1000, \"seed\": %llu, "
               "\"interval\": \"95%% percentile of the resampled means\"},\n\"summary\": ", seed);
    dx_json j;
    dx_json_begin(&j, f);
    dx_json_arr_begin(&j);
    int failed = 0; /* out of memory */
    for (int a = 0; a < rows->n && !failed; ++a) {
        if (!first_of(rows, a, 1)) continue;
        for (int b = 0; b < rows->n && !failed; ++b) {
            if (!first_of(rows, b, 0)) continue;
            dx_eval_stat s;
            failed = dx_eval_stat_of(rows, rows->rows[a].method, rows->rows[b].metric, seed, &s, err) != 0;
            if (failed) break;
            int present = 0;
            for (int k = 0; k < rows->n && !present; ++k)
                present = !strcmp(rows->rows[k].method, rows->rows[a].method) &&
                          !strcmp(rows->rows[k].metric, rows->rows[b].metric);
            if (!present) continue;
            dx_json_obj_begin(&j);
            dx_json_key(&j, "method"); dx_json_str(&j, rows->rows[a].method);
            dx_json_key(&j, "metric"); dx_json_str(&j, rows->rows[b].metric);
            dx_json_key(&j, "n"); dx_json_int(&j, s.n);
            dx_json_key(&j, "mean"); dx_json_num(&j, s.mean);
            dx_json_key(&j, "std"); dx_json_num(&j, s.std);
            dx_json_key(&j, "ci95");
            dx_json_arr_begin(&j); dx_json_num(&j, s.lo); dx_json_num(&j, s.hi); dx_json_arr_end(&j);
            dx_json_obj_end(&j);
        }
    }
    dx_json_arr_end(&j);
    int rc = dx_json_end(&j);
    fputs("}\n", f);
    if (failed) { /* err says out of memory; nothing written */
        dx_eval_file_commit(&out, 0, NULL);
        return -1;
    }
    return dx_eval_file_commit(&out, rc == 0, err);
}
