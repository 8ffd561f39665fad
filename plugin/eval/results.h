/* The eval module's internal header (not installed), shared by its files: eval's arguments
 * (cli.c); the image list, the labels and each image of a run (dataset.c); the run (run.c); the
 * rows of a run (results.csv) and what is made from them, summary.json and report.html
 * (results.c, report.c), shared by `eval` and `eval-merge` (merge.c). */
#ifndef DX_EVAL_RESULTS_H
#define DX_EVAL_RESULTS_H
#include <stddef.h>
#include "eval/eval.h"
#include "io/atomic.h"
#include "io/image.h"
#include "rng.h"

/* The image list (dataset.c): one path a line; blank lines, lines starting with '#' and trailing
 * blanks and line ends are skipped. 0 with list->paths (each malloc'd) and list->n >= 1, or -1
 * with err naming the file (missing, unreadable, or naming no image). Free with
 * dx_eval_list_free. */
typedef struct {
    char **paths;
    int *lines;      /* each path's line number in the file (1-based), for messages */
    int n;
} dx_eval_list;
int dx_eval_read_list(const char *path, dx_eval_list *list, dx_error *err);
void dx_eval_list_free(dx_eval_list *list);
/* Darknet's label file beside the image (same name, .txt): "class cx cy w h" per line, relative
 * to the photo (cx, cy, w, h in [0,1], w and h > 0; class one of the model's n_classes), a line
 * read whole however long; blank lines skipped. Converted to network-frame boxes through the
 * letterbox geometry g, with their classes (*boxes and *classes malloc'd, NULL when none).
 * Returns the number of boxes (0 when there is no label file), -1 with err naming the file and
 * line on a malformed one. */
int dx_eval_read_labels(const char *image_path, const dx_letterbox *g, int n_classes, dx_pixel_box **boxes,
                        int **classes, dx_error *err);

/* The baselines the run knows besides the registry's methods. */
typedef enum { DX_EVAL_BASELINE_NONE, DX_EVAL_BASELINE_RANDOM, DX_EVAL_BASELINE_CENTRE } dx_eval_baseline;

#define DX_EVAL_MAX_NAMES 64

/* eval's arguments (cli.c): the options as given, then their names parsed. */
typedef struct {
    const char *cfg, *weights, *list, *methods, *metrics, *out, *shard, *names;
    int resume, png_width, verbose, max_boxes, max_pixels;
    dx_eval_options opt;
    dx_request method; /* the methods' own options (method and class are set per map) */
    /* parsed */
    char *method_names[DX_EVAL_MAX_NAMES], *metric_names[DX_EVAL_MAX_NAMES];
    int n_methods, n_metrics;
    dx_method method_ids[DX_EVAL_MAX_NAMES];
    dx_eval_baseline baselines[DX_EVAL_MAX_NAMES];
    dx_metric metric_ids[DX_EVAL_MAX_NAMES];
    int shard_index, shard_count;
} dx_eval_args;

/* eval's and eval-merge's usage (cli.c), to f. */
void dx_eval_usage(const char *program, FILE *f);

/* One image of the list, letterboxed and run once: its labels and what is explained. */
typedef struct {
    dx_image boxed;            /* the network input */
    dx_letterbox g;
    int photo_w, photo_h;
    float photo_scale;      /* photo pixels per network pixel */
    dx_pixel_box *labels;         /* ground truth, network frame */
    int *label_classes, n_labels;
    int cls;                /* classifiers: the top-1 class */
    dx_detection *dets;     /* detectors: every box above the threshold, highest score first */
    int n_dets, n_all;      /* the first n_dets (max_boxes) are explained, of n_all */
    int *match;             /* per box of n_all: its label (dx_eval_match_label), -1 none */
} dx_eval_image_state;
void dx_eval_image_state_free(dx_eval_image_state *st);
/* Loads the image and fits it to the network (dx_fit_photo), reads its labels and runs the
 * forward: the top-1 class of a classifier, or a detector's boxes (at most max_boxes). */
int dx_eval_image_prepare(const dx_eval_args *a, dx_model *m, const char *path, dx_eval_image_state *st,
                          dx_error *err);
/* A box given by Darknet's relative centre and size, in the network frame. */
dx_pixel_box dx_eval_detection_box(const dx_letterbox *g, const dx_detection *d);
/* Every image of the run (this shard's) and its label file, before the first is explained: a
 * missing, unreadable or non-image path or a bad label stops the run before it writes anything. */
int dx_eval_check_inputs(const dx_eval_args *a, const dx_model *m, const dx_eval_list *list, dx_error *err);


/* A detector's unit: a detected box, scored; or what the detector missed, whose rows have no
 * map and every value NaN: an image without any box above the threshold, a label no box matched. */
typedef enum { DX_EVAL_DETECTED, DX_EVAL_NO_DETECTION, DX_EVAL_MISSED_LABEL } dx_eval_miss;

/* results.csv: one row per image x method x metric (classifiers) or unit x method x metric
 * (detectors, with the box columns; an image's units: its boxes, then its misses). */
typedef struct {
    int image_index; /* the image's line in the list (0-based, blank and # lines not counted) */
    char *image, *method, *metric;
    int box;         /* detectors: the box's rank in its image (0: the highest score); -1: none, a miss */
    int cls;         /* the class explained (a detector's: the box's or missed label's); -1: none */
    char *class_name;/* its name (-names; "class N" without), "" for none */
    float score;     /* detectors: the box's score (objectness x class probability); NaN for a miss */
    float x, y, w, h;/* detectors: the box or missed label in photo pixels (top-left corner, size); NaN: none */
    int label;       /* detectors: the label matched to the box, or the missed label (its index among the
                      * label file's boxes, 0-based); -1: none */
    dx_eval_miss miss; /* detectors: written as "", "no_detection", "missed_label" */
    double value;
} dx_eval_row;

typedef struct {
    dx_eval_row *rows;
    int n, cap;
    int boxes;       /* the rows are a detector's: the CSV has the box columns */
} dx_eval_rows;

#define DX_EVAL_CSV_HEADER "image_index,image,class,class_name,method,metric,value"
#define DX_EVAL_CSV_HEADER_BOXES "image_index,image,box,class,class_name,score,x,y,w,h,label,miss,method,metric,value"

/* Reads path's complete rows; a last line without its newline (a run killed while writing) is
 * dropped, and *complete_bytes (may be NULL) receives the length up to the last complete row. */
int dx_eval_rows_read(const char *path, dx_eval_rows *out, long *complete_bytes, dx_error *err);
/* Appends a copy of r (its strings duplicated). */
int dx_eval_rows_add(dx_eval_rows *rows, const dx_eval_row *r);
void dx_eval_rows_free(dx_eval_rows *rows);
/* The header line (without its newline), and one CSV line (with its newline) for a row. */
const char *dx_eval_csv_header(int boxes);
void dx_eval_row_write(FILE *f, const dx_eval_row *r, int boxes);

/* What the rows hold, each unit (image, box, label) counted once: images; a detector's boxes
 * scored, those matched to a label, labels missed and images without a box. */
typedef struct {
    int images, boxes, matched, missed_labels, no_detection;
} dx_eval_counts;
void dx_eval_count(const dx_eval_rows *rows, dx_eval_counts *c);
/* Whether two rows are of one unit of one image (their box, label and miss agree). */
int dx_eval_same_unit(const dx_eval_row *a, const dx_eval_row *b);

/* eval's progress line (run.c; no line end), exposed for tests: dx_progress_text (io/folder.h) of
 * "eval", the images a resumed run found in results.csv "already in results.csv". */
void dx_eval_progress_text(char *out, size_t len, int done, int total, int computed, double seconds, int tty);

/* eval's run with the arguments cli.c parsed: its exit code (0, or 1 after a one-line error on
 * stderr). */
int dx_eval_run(const char *program, dx_eval_args *a);
/* A whole file's text (malloc'd), NULL when it cannot be read. */
char *dx_eval_slurp(const char *path);
/* dir/run.json, atomically */
int dx_eval_write_run_json(const char *dir, const char *text, dx_error *err);

/* The metrics' shared pieces (metrics.c, faithfulness.c). Indices 0..n-1 by decreasing key (NaN
 * last), ties by index (malloc'd): */
int *dx_eval_order_desc(const float *key, int n, dx_error *err); /* NULL with err when out of memory */
/* the random draws of metric k on sample s */
void dx_eval_sample_rng(dx_rng *r, const dx_eval_sample *s, dx_metric k);
/* the Pearson correlation of a and b (NaN when either is constant) */
double dx_eval_pearson(const double *a, const double *b, int n);
/* The metrics of faithfulness.c, dx_eval_metric's cases: 0 with *value, or -1 with err. The
 * deletion (insert = 0) or insertion AUC: */
int dx_eval_curve_auc(dx_model *m, const dx_eval_sample *s, const float *map, int insert,
                      const dx_eval_options *o, double *value, dx_error *err);
int dx_eval_faithfulness(dx_model *m, const dx_eval_sample *s, const float *map, const dx_eval_options *o,
                         double *value, dx_error *err);
int dx_eval_road(dx_model *m, const dx_eval_sample *s, const float *map, const dx_eval_options *o,
                 double *value, dx_error *err);
int dx_eval_aopc(dx_model *m, const dx_eval_sample *s, const float *map, const dx_eval_options *o,
                 double *value, dx_error *err);


/* The map thumbnail of an image, a box (-1: none) and a method, relative to the output folder. */
void dx_eval_map_path(char *out, size_t len, int image_index, int box, const char *method);

/* An output file of the run folder, written through the atomic writer (io/atomic.h): as
 * dir/name.part, renamed over dir/name on commit, removed on failure or a signal. */
typedef dx_atomic_file dx_eval_file;
/* Opens dir/name.part for writing (out->f); 0, or -1 with err naming it. */
int dx_eval_file_open(dx_eval_file *out, const char *dir, const char *name, dx_error *err);
/* Closes it and renames it over dir/name when ok and every write succeeded; otherwise removes
 * the part file and returns -1 with err. */
int dx_eval_file_commit(dx_eval_file *out, int ok, dx_error *err);

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
/* -1 with err when out of memory (err may be NULL) */
int dx_eval_stat_of(const dx_eval_rows *rows, const char *method, const char *metric,
                    unsigned long long seed, dx_eval_stat *s, dx_error *err);
#endif
