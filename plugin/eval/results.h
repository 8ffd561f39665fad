/* The rows of an evaluation run (results.csv) and what is made from them: summary.json and
 * report.html. Shared by `eval` and `eval-merge`. Not installed. */
#ifndef DX_EVAL_RESULTS_H
#define DX_EVAL_RESULTS_H
#include "internal.h"

/* results.csv: image_index,image,class,method,metric,value (one row per image x method x metric) */
typedef struct {
    int image_index; /* the image's line in the list (0-based, blank and # lines not counted) */
    char *image, *method, *metric;
    int cls;
    double value;
} dx_eval_row;

typedef struct {
    dx_eval_row *rows;
    int n, cap;
} dx_eval_rows;

#define DX_EVAL_CSV_HEADER "image_index,image,class,method,metric,value"

/* Reads path's complete rows; a last line without its newline (a run killed while writing) is
 * dropped, and *complete_bytes (may be NULL) receives the length up to the last complete row. */
int dx_eval_rows_read(const char *path, dx_eval_rows *out, long *complete_bytes, dx_error *err);
int dx_eval_rows_add(dx_eval_rows *rows, int image_index, const char *image, int cls, const char *method,
                     const char *metric, double value);
void dx_eval_rows_free(dx_eval_rows *rows);
/* One CSV line (with its newline) for a row. */
void dx_eval_row_write(FILE *f, const dx_eval_row *r);

/* The map thumbnail of an image and a method, relative to the output folder. */
void dx_eval_map_path(char *out, size_t len, int image_index, const char *method);

/* summary.json: run_json (the run's configuration, a JSON object's text) followed by mean, std
 * and a seeded 95% bootstrap interval per method x metric. Written atomically. */
int dx_eval_write_summary(const char *dir, const char *run_json, const dx_eval_rows *rows,
                          unsigned long long seed, dx_error *err);
/* report.html: the summary table and, per image, every method's map with its values. */
int dx_eval_write_report(const char *dir, const char *title, const dx_eval_rows *rows,
                         unsigned long long seed, dx_error *err);

/* The statistics of one method x metric (finite values only). */
typedef struct {
    int n;
    double mean, std, lo, hi;
} dx_eval_stat;
void dx_eval_stat_of(const dx_eval_rows *rows, const char *method, const char *metric,
                     unsigned long long seed, dx_eval_stat *s);
#endif
