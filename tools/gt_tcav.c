/* gt-tcav: TCAV against the generator's planted truth (tools/concept_sets.h), for `make
 * benchmark-gt`. Prints a markdown table of concept x class TCAV scores (mean over the runs, *
 * where significant) beside the random-vs-random CAVs' scores, the truth, and the run's time.
 *
 *   gt-tcav CFG WEIGHTS NAMES [LAYER [SEED [RUNS]]]   (defaults 9, 11, 10)
 *
 * Concept sets of 30 images, 330 random images (11 sets), 40 images to score (10 a class). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "concept_sets.h"
#include "concepts/tcav.h"
#include "io/image.h"
#include "model.h"
#include "shapes.h"
#include "targets.h"

/* The model's own answer to what TCAV measures, in input space: for 50 generator images of each
 * class c, the share whose logit of c rises when the image is edited by a concept (red, striped). */
static void intervention(dx_model *m, unsigned long long seed)
{
    const int edits[] = {4, 5}, n = 50;
    unsigned char shape[64 * 64];
    printf("\nintervention (the same edits on the image itself): share of 50 images of the class whose logit "
           "rises\n\n| edit | circle | square | triangle | cross |\n|---|---|---|---|---|\n");
    int logits = dx_find_logit_layer(m);
    for (int e = 0; e < 2; ++e) {
        int rises[SHAPES_CLASSES] = {0}, seen[SHAPES_CLASSES] = {0};
        dx_rng rng;
        dx_rng_init(&rng, seed + 7);
        for (int i = 0; i < 4000; ++i) {
            dx_image im;
            shapes_object o[SHAPES_MAX_OBJECTS];
            shapes_draw_truth(seed * 1000 + 3, i, 64, 1, &im, o, shape, NULL);
            int c = o[0].cls;
            if (seen[c] < n) { /* 64 x 64: the network input itself */
                dx_forward(m, im.data);
                float before = dx_output_of(m, logits)[c];
                concept_set_edit(edits[e], im, shape, o[0].rgb, &rng);
                dx_forward(m, im.data);
                rises[c] += dx_output_of(m, logits)[c] > before;
                seen[c]++;
            }
            dx_free_image(im);
        }
        printf("| %s |", concept_set_names[edits[e]]);
        for (int c = 0; c < SHAPES_CLASSES; ++c) printf(" %.2f |", (double)rises[c] / seen[c]);
        printf("\n");
    }
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 7) {
        fprintf(stderr, "usage: gt-tcav CFG WEIGHTS NAMES [LAYER [SEED [RUNS]]]\n");
        return 2;
    }
    int layer = argc > 4 ? atoi(argv[4]) : 9, runs = argc > 6 ? atoi(argv[6]) : 10;
    unsigned long long seed = argc > 5 ? strtoull(argv[5], NULL, 10) : 11;
    char dir[] = "/tmp/gt-tcav-XXXXXX";
    dx_error err;
    dx_open_options open = {.names = argv[3]};
    dx_model *m = mkdtemp(dir) ? dx_open(argv[1], argv[2], &open, &err) : NULL;
    if (!m || concept_sets_write(dir, seed, 30, 330, 40, 64, &err) != 0) {
        fprintf(stderr, "gt-tcav: %s\n", m ? err.msg : "cannot open the model or a temporary folder");
        return 1;
    }
    dx_tcav_options o;
    dx_tcav_options_init(&o);
    o.layers[0] = layer;
    o.n_layers = 1;
    o.runs = runs;
    o.seed = seed;
    o.bonferroni = 1;
    static char paths[CONCEPT_SETS][64], random_dir[64], images[64];
    for (int k = 0; k < CONCEPT_SETS; ++k) {
        snprintf(paths[k], sizeof paths[k], "%s/%s", dir, concept_set_names[k]);
        o.concepts[k] = (dx_tcav_concept){concept_set_names[k], paths[k]};
    }
    o.n_concepts = CONCEPT_SETS;
    snprintf(random_dir, sizeof random_dir, "%s/random", dir);
    snprintf(images, sizeof images, "%s/images", dir);
    o.random_dir = random_dir;
    o.images = images;
    dx_tcav_result r;
    int rc = dx_tcav_run(m, &o, &r, &err);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "gt-tcav: could not remove %s\n", dir);
    if (rc != 0) {
        fprintf(stderr, "gt-tcav: %s\n", err.msg);
        dx_close(m);
        return 1;
    }
    printf("TCAV on %s, layer %d, %d runs, seed %llu: mean score over the runs (* significant: two-sided "
           "t-test vs the random CAVs, p < %.4f = 0.05 / %d concepts)\n\n", argv[1], layer, runs, seed, r.alpha_used,
           r.n_concepts);
    printf("| concept | planted truth |");
    for (int c = 0; c < r.n_classes; ++c) printf(" %s |", dx_class_name(m, c));
    printf(" CAV accuracy |\n|---|---|");
    for (int c = 0; c < r.n_classes; ++c) printf("---|");
    printf("---|\n");
    int planted_hits = 0, independent_sig = 0, independent = 0;
    double planted_mean = 0;
    for (int k = 0; k <= r.n_concepts; ++k) {
        int tied = k < r.n_concepts ? concept_set_class(k) : -1;
        if (k < r.n_concepts)
            printf("| %s | %s |", concept_set_names[k], tied >= 0 ? shapes_names[tied] : "none");
        else
            printf("| random vs random (baseline) | none |");
        for (int c = 0; c < r.n_classes; ++c) {
            const dx_tcav_cell *x = dx_tcav_cell_of(&r, 0, k, c);
            printf(" %.2f%s |", x->mean, k < r.n_concepts && x->significant ? "*" : "");
            if (k == r.n_concepts) continue;
            if (tied == c) planted_hits += x->significant && x->mean > 0.5, planted_mean += x->mean / SHAPES_CLASSES;
            if (tied < 0) independent_sig += x->significant, ++independent;
        }
        double acc = 0;
        const double *a = k < r.n_concepts ? r.accuracy[k] : r.random_accuracy[0];
        for (int i = 0; i < runs; ++i) acc += a[i] / runs;
        printf(" %.2f |\n", acc);
    }
    double random_mean = 0;
    for (int c = 0; c < r.n_classes; ++c) random_mean += dx_tcav_cell_of(&r, 0, r.n_concepts, c)->mean / r.n_classes;
    printf("\nplanted (shape of class c, for c): %d of %d significant with score > 0.5, mean score %.2f (random CAVs "
           "%.2f); class-independent concepts significant in %d of %d cells; %.1f s per run (%d CAVs, %d images "
           "scored)\n", planted_hits, SHAPES_CLASSES, planted_mean, random_mean, independent_sig, independent,
           r.ms / 1000, (r.n_concepts + 1) * runs, r.n_images);
    dx_tcav_result_free(&r);
    intervention(m, seed);
    dx_close(m);
    return 0;
}
