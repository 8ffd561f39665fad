/* TCAV's output files: tcav.json, tcav.csv, cav_<concept>_L<layer>.npy, as one atomic set. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "concepts/tcav.h"
#include "error.h"
#include "io/atomic.h"
#include "io/json.h"
#include "io/npy.h"
#include "model.h"

static const char *label_name(dx_tcav_label l) { return l == DX_TCAV_LABEL_TOP1 ? "top1" : "path"; }

static void json_cell(dx_json *j, const dx_tcav_cell *cell, int runs, int test)
{
    dx_json_key(j, "scores");
    dx_json_arr_begin(j);
    for (int r = 0; r < runs; ++r) dx_json_num(j, cell->scores[r]);
    dx_json_arr_end(j);
    dx_json_key(j, "mean");
    dx_json_num(j, cell->mean);
    dx_json_key(j, "std");
    dx_json_num(j, cell->std);
    if (!test) return;
    dx_json_key(j, "t");
    dx_json_num(j, cell->t); /* +-inf (both samples constant, means apart): null */
    dx_json_key(j, "p");
    dx_json_num(j, cell->p);
    dx_json_key(j, "significant");
    dx_json_bool(j, cell->significant);
}

static void json_accuracy(dx_json *j, const double *acc, int runs)
{
    double s = 0;
    dx_json_key(j, "cav_accuracy");
    dx_json_arr_begin(j);
    for (int r = 0; r < runs; ++r) dx_json_num(j, acc[r]), s += acc[r];
    dx_json_arr_end(j);
    dx_json_key(j, "cav_accuracy_mean");
    dx_json_num(j, s / runs);
}

static void write_json(const dx_model *m, const dx_tcav_result *r, FILE *f, int argc, char **argv, dx_json *j)
{
    const dx_tcav_options *o = &r->opt;
    dx_json_begin(j, f);
    dx_json_obj_begin(j);
    dx_json_key(j, "command");
    dx_json_arr_begin(j);
    for (int i = 0; i < argc; ++i) dx_json_str(j, argv[i]);
    dx_json_arr_end(j);
    dx_json_key(j, "cfg");
    dx_json_str(j, m->cfg_path);
    dx_json_key(j, "weights");
    dx_json_str(j, m->weights_path);
    dx_json_key(j, "random");
    dx_json_str(j, o->random_dir);
    dx_json_key(j, "images");
    dx_json_str(j, o->images);
    dx_json_key(j, "label");
    dx_json_str(j, label_name(o->label));
    dx_json_key(j, "runs");
    dx_json_int(j, r->runs);
    dx_json_key(j, "seed");
    dx_json_u64(j, o->seed);
    dx_json_key(j, "lambda");
    dx_json_num(j, o->lambda);
    dx_json_key(j, "iters");
    dx_json_int(j, o->iters);
    dx_json_key(j, "test");
    dx_json_str(j, "Student's two-sample t-test, two-sided, concept scores vs random-vs-random scores");
    dx_json_key(j, "alpha");
    dx_json_num(j, o->alpha);
    dx_json_key(j, "correction");
    dx_json_str(j, o->bonferroni ? "bonferroni" : "none");
    dx_json_key(j, "alpha_used");
    dx_json_num(j, r->alpha_used);
    dx_json_key(j, "random_set_size");
    dx_json_int(j, r->random_set_size);
    dx_json_key(j, "images_read");
    dx_json_int(j, r->n_images);
    dx_json_key(j, "images_skipped");
    dx_json_int(j, r->n_skipped);
    dx_json_key(j, "ms");
    dx_json_num(j, r->ms);
    dx_json_key(j, "concepts");
    dx_json_arr_begin(j);
    for (int k = 0; k < r->n_concepts; ++k) {
        dx_json_obj_begin(j);
        dx_json_key(j, "name");
        dx_json_str(j, o->concepts[k].name);
        dx_json_key(j, "dir");
        dx_json_str(j, o->concepts[k].dir);
        dx_json_obj_end(j);
    }
    dx_json_arr_end(j);
    dx_json_key(j, "classes");
    dx_json_arr_begin(j);
    for (int c = 0; c < r->n_classes; ++c) {
        dx_json_obj_begin(j);
        dx_json_key(j, "class");
        dx_json_int(j, o->classes[c]);
        dx_json_key(j, "name");
        dx_json_str(j, dx_class_name(m, o->classes[c]));
        dx_json_key(j, "images");
        dx_json_int(j, r->class_images[c]);
        dx_json_obj_end(j);
    }
    dx_json_arr_end(j);
    dx_json_key(j, "layers");
    dx_json_arr_begin(j);
    for (int l = 0; l < r->n_layers; ++l) {
        dx_json_obj_begin(j);
        dx_json_key(j, "layer");
        dx_json_int(j, o->layers[l]);
        dx_json_key(j, "dims");
        dx_json_int(j, r->dims[l]);
        dx_json_key(j, "random");
        dx_json_obj_begin(j);
        json_accuracy(j, r->random_accuracy[l], r->runs);
        dx_json_key(j, "classes");
        dx_json_arr_begin(j);
        for (int c = 0; c < r->n_classes; ++c) {
            dx_json_obj_begin(j);
            json_cell(j, dx_tcav_cell_of(r, l, r->n_concepts, c), r->runs, 0);
            dx_json_obj_end(j);
        }
        dx_json_arr_end(j);
        dx_json_obj_end(j);
        dx_json_key(j, "concepts");
        dx_json_arr_begin(j);
        for (int k = 0; k < r->n_concepts; ++k) {
            dx_json_obj_begin(j);
            dx_json_key(j, "name");
            dx_json_str(j, o->concepts[k].name);
            json_accuracy(j, r->accuracy[l * r->n_concepts + k], r->runs);
            dx_json_key(j, "classes");
            dx_json_arr_begin(j);
            for (int c = 0; c < r->n_classes; ++c) {
                dx_json_obj_begin(j);
                dx_json_key(j, "class");
                dx_json_str(j, dx_class_name(m, o->classes[c]));
                json_cell(j, dx_tcav_cell_of(r, l, k, c), r->runs, 1);
                dx_json_obj_end(j);
            }
            dx_json_arr_end(j);
            dx_json_obj_end(j);
        }
        dx_json_arr_end(j);
        dx_json_obj_end(j);
    }
    dx_json_arr_end(j);
    dx_json_obj_end(j);
}

static void write_csv(const dx_model *m, const dx_tcav_result *r, FILE *f)
{
    fprintf(f, "layer,concept,class,mean,std,random_mean,random_std,t,p,significant,cav_accuracy\n");
    for (int l = 0; l < r->n_layers; ++l)
        for (int k = 0; k < r->n_concepts; ++k) {
            double acc = 0;
            for (int i = 0; i < r->runs; ++i) acc += r->accuracy[l * r->n_concepts + k][i] / r->runs;
            for (int c = 0; c < r->n_classes; ++c) {
                const dx_tcav_cell *cell = dx_tcav_cell_of(r, l, k, c), *rnd = dx_tcav_cell_of(r, l, r->n_concepts, c);
                fprintf(f, "%d,%s,%s,%.6f,%.6f,%.6f,%.6f,%.6g,%.6g,%d,%.6f\n", r->opt.layers[l], r->opt.concepts[k].name,
                        dx_class_name(m, r->opt.classes[c]), cell->mean, cell->std, rnd->mean, rnd->std, cell->t,
                        cell->p, cell->significant, acc);
            }
        }
}

static int write_text_file(const char *part, const dx_model *m, const dx_tcav_result *r, int json, int argc,
                           char **argv, dx_error *err)
{
    FILE *f = fopen(part, "w");
    if (!f) return dx_set_error(err, "%s: cannot write: %s", part, strerror(errno)), -1;
    int ok = 1;
    if (json) {
        dx_json j;
        write_json(m, r, f, argc, argv, &j);
        ok = dx_json_end(&j) == 0;
    } else {
        write_csv(m, r, f);
    }
    ok = !ferror(f) && ok;
    if (fclose(f) != 0 || !ok) return dx_set_error(err, "%s: cannot write: %s", part, strerror(errno)), -1;
    return 0;
}

int dx_tcav_write(const dx_model *m, const dx_tcav_result *r, const char *dir, int argc, char **argv, dx_error *err)
{
    int created = mkdir(dir, 0777) == 0;
    if (!created && errno != EEXIST) return dx_set_error(err, "%s: cannot create the folder: %s", dir, strerror(errno)), -1;
    dx_atomic_set set = {0};
    char path[4096];
    const char *part;
    int rc = 0;
    snprintf(path, sizeof path, "%s/tcav.json", dir);
    if (!(part = dx_atomic_add(&set, path, err)) || write_text_file(part, m, r, 1, argc, argv, err) != 0) rc = -1;
    snprintf(path, sizeof path, "%s/tcav.csv", dir);
    if (rc == 0 && (!(part = dx_atomic_add(&set, path, err)) || write_text_file(part, m, r, 0, argc, argv, err) != 0))
        rc = -1;
    for (int l = 0; rc == 0 && l < r->n_layers; ++l)
        for (int k = 0; rc == 0 && k < r->n_concepts; ++k) {
            snprintf(path, sizeof path, "%s/cav_%s_L%d.npy", dir, r->opt.concepts[k].name, r->opt.layers[l]);
            int shape[2] = {r->runs, r->dims[l]};
            if (!(part = dx_atomic_add(&set, path, err)) ||
                dx_npy_write(part, r->cavs[l * r->n_concepts + k], 2, shape, err) != 0)
                rc = -1;
        }
    rc = dx_atomic_commit(&set, rc, err);
    if (rc != 0 && created) rmdir(dir);
    return rc;
}
