/* darknet-explain eval-merge [-out DIR] SHARD_DIR...
 *
 * The shards of one eval run (-shard i/n, each in its own folder) merged into one run's folder:
 * their run.json checked to be the same, their rows sorted by image index into one results.csv
 * (so the merged rows are those of a single run), the thumbnails copied from whichever shard made
 * them, then summary.json and report.html. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "error.h"
#include "eval/eval.h"
#include "eval/results.h"
#include "io/folder.h"
#include "memory.h"

static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
    char buf[65536];
    size_t n;
    int ok = in && out;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0) ok = fwrite(buf, 1, n, out) == n;
    if (in) fclose(in);
    if (out && fclose(out) != 0) ok = 0;
    return ok ? 0 : -1;
}

/* by image index, and within an image in the shard's order (a stable sort) */
static int by_image(const void *a, const void *b, void *rows)
{
    int i = *(const int *)a, j = *(const int *)b;
    const dx_eval_row *r = rows;
    if (r[i].image_index != r[j].image_index) return r[i].image_index < r[j].image_index ? -1 : 1;
    return (i > j) - (i < j);
}

#define MAX_SHARDS 1024

/* eval-merge's arguments: -1 when the merge goes on with *out and dirs[0..*n_dirs-1], else the
 * exit code (help printed, or a one-line usage error). */
static int merge_prepare(const char *program, int argc, char **argv, const char **out, const char **dirs,
                         int *n_dirs)
{
    *out = "eval-merged";
    *n_dirs = 0;
    for (int k = 1; k < argc; ++k) {
        if (!strcmp(argv[k], "-h") || !strcmp(argv[k], "--help")) {
            dx_eval_usage(program, stdout);
            return 0;
        }
        if (!strcmp(argv[k], "-out") && k + 1 < argc) *out = argv[++k];
        else if (argv[k][0] == '-') {
            fprintf(stderr, "%s eval-merge: unknown option '%s' (usage: eval-merge [-out DIR] DIR1 DIR2 ..)\n",
                    program, argv[k]);
            return 2;
        } else if (*n_dirs < MAX_SHARDS) dirs[(*n_dirs)++] = argv[k];
    }
    if (*n_dirs == 0) {
        fprintf(stderr, "%s eval-merge: needs the shards' folders (usage: eval-merge [-out DIR] DIR1 DIR2 ..)\n",
                program);
        return 2;
    }
    return -1;
}

int dx_eval_merge_check_args(const char *program, int argc, char **argv)
{
    const char *out, *dirs[MAX_SHARDS];
    int n_dirs;
    return merge_prepare(program, argc, argv, &out, dirs, &n_dirs);
}

int dx_eval_merge_cli(const char *program, int argc, char **argv)
{
    const char *out, *dirs[MAX_SHARDS];
    int n_dirs, prepared = merge_prepare(program, argc, argv, &out, dirs, &n_dirs);
    if (prepared >= 0) return prepared;
    dx_error err;
    dx_eval_rows all = {0};
    char *config = NULL, path[1400], lock_path[1400];
    int rc = 1, lock = -1;
    unsigned long long seed = 1;
    for (int d = 0; d < n_dirs; ++d) {
        snprintf(path, sizeof path, "%s/run.json", dirs[d]);
        char *text = dx_eval_slurp(path);
        if (!text) {
            dx_set_error(&err, "%s: cannot read (not an eval output folder?)", path);
            goto fail;
        }
        if (config && strcmp(config, text) != 0) {
            free(text);
            dx_set_error(&err, "%s: differs from %s/run.json: the shards are not of one run", path, dirs[0]);
            goto fail;
        }
        if (!config) config = text;
        else free(text);
        dx_eval_rows rows;
        snprintf(path, sizeof path, "%s/results.csv", dirs[d]);
        if (dx_eval_rows_read(path, &rows, NULL, &err) != 0) goto fail;
        all.boxes = rows.boxes; /* the same for every shard: their run.json are the same */
        for (int k = 0; k < rows.n; ++k) {
            const dx_eval_row *r = &rows.rows[k];
            for (int j = 0; j < all.n; ++j)
                if (dx_eval_same_unit(&all.rows[j], r) && !strcmp(all.rows[j].method, r->method) &&
                    !strcmp(all.rows[j].metric, r->metric)) {
                    dx_set_error(&err, "%s: image %d (%s, %s) is also in another shard", path, r->image_index,
                                 r->method, r->metric);
                    dx_eval_rows_free(&rows);
                    goto fail;
                }
            if (dx_eval_rows_add(&all, r) != 0) {
                dx_set_error(&err, "out of memory for the merged rows");
                dx_eval_rows_free(&rows);
                goto fail;
            }
        }
        dx_eval_rows_free(&rows);
    }
    int *order = dx_alloc((size_t)all.n + 1, sizeof(int), "the merged rows", &err);
    dx_eval_row *sorted = dx_alloc((size_t)all.n + 1, sizeof(dx_eval_row), "the merged rows", &err);
    if (!order || !sorted) {
        free(order);
        free(sorted);
        goto fail;
    }
    for (int k = 0; k < all.n; ++k) order[k] = k;
    qsort_r(order, all.n, sizeof(int), by_image, all.rows);
    for (int k = 0; k < all.n; ++k) sorted[k] = all.rows[order[k]];
    free(all.rows);
    free(order);
    all.rows = sorted;
    all.cap = all.n + 1;
    const char *seed_at = strstr(config, "\"seed\": ");
    if (seed_at) seed = strtoull(seed_at + 8, NULL, 10);
    snprintf(path, sizeof path, "%s/maps", out);
    if ((mkdir(out, 0777) != 0 && errno != EEXIST) || (mkdir(path, 0777) != 0 && errno != EEXIST)) {
        dx_set_error(&err, "%s: cannot create: %s", path, strerror(errno));
        goto fail;
    }
    /* the merged folder is held as an eval's: no eval nor another merge writes it meanwhile */
    if ((lock = dx_lock_folder(out, ".eval.lock", "eval", lock_path, sizeof lock_path, &err)) < 0) goto fail;
    if (dx_eval_write_run_json(out, config, &err) != 0) goto fail;
    dx_eval_file csv;
    if (dx_eval_file_open(&csv, out, "results.csv", &err) != 0) goto fail;
    fprintf(csv.f, "%s\n", dx_eval_csv_header(all.boxes));
    for (int k = 0; k < all.n; ++k) dx_eval_row_write(csv.f, &all.rows[k], all.boxes);
    if (dx_eval_file_commit(&csv, 1, &err) != 0) goto fail;
    /* the thumbnails, from whichever shard made them */
    for (int k = 0; k < all.n; ++k) {
        const dx_eval_row *r = &all.rows[k], *before = k > 0 ? r - 1 : NULL;
        int same_image = before && r->image_index == before->image_index;
        if (same_image && dx_eval_same_unit(r, before) && !strcmp(r->method, before->method)) continue;
        char rel[256], to[1400], from[1400];
        for (int pass = r->miss ? 1 : 0; pass < 2; ++pass) { /* a miss has no map */
            if (pass == 1 && same_image) break;
            if (pass == 1) dx_eval_map_path(rel, sizeof rel, r->image_index, -1, "photo");
            else dx_eval_map_path(rel, sizeof rel, r->image_index, r->box, r->method);
            snprintf(to, sizeof to, "%s/%s", out, rel);
            for (int d = 0; d < n_dirs; ++d) {
                snprintf(from, sizeof from, "%s/%s", dirs[d], rel);
                if (access(from, F_OK) == 0) {
                    char a_real[PATH_MAX], b_real[PATH_MAX];
                    int same = realpath(from, a_real) && realpath(to, b_real) && !strcmp(a_real, b_real);
                    if (!same && copy_file(from, to) != 0) {
                        dx_set_error(&err, "%s: cannot copy to %s", from, to);
                        goto fail;
                    }
                    break;
                }
            }
        }
    }
    char title[1400];
    snprintf(title, sizeof title, "darknet-explain eval: %d shards merged", n_dirs);
    if (dx_eval_write_summary(out, config, &all, seed, &err) != 0 ||
        dx_eval_write_report(out, title, &all, seed, &err) != 0)
        goto fail;
    printf("wrote %s/results.csv (%d rows), %s/summary.json, %s/report.html\n", out, all.n, out, out);
    rc = 0;
fail:
    if (rc != 0) fprintf(stderr, "%s eval-merge: %s\n", program, err.msg);
    dx_unlock_folder(lock, lock_path);
    dx_eval_rows_free(&all);
    free(config);
    return rc;
}
