/* gt-dissect: network dissection (plugin/concepts/dissect.h) against the generator's truth.
 *
 *   gt-dissect CFG WEIGHTS N SEED L1[,L2..] [CLASS_LAYER]
 *
 * dissects each layer over images 0..N-1 of the set SEED (one object each, drawn at the network's
 * input size) with the generator's concept masks (tools/shapes_concepts.h), and the same maps
 * taken from other images (the baseline: unit k's map of image i is image i+1+k's), and prints a
 * markdown row per layer: the units' mean IoU with their label, the baseline's, the detectors
 * (IoU > 0.04) per category, the run's time. CLASS_LAYER (one unit per class, the class decided
 * by the shape alone): the share of its units labelled with their class's shape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine.h"
#include "shapes_concepts.h"

/* mean best IoU over L's units; detectors per category (shape, colour, texture) into det[3] */
static double summary(const dx_dissect_layer *L, int det[3])
{
    double sum = 0;
    det[0] = det[1] = det[2] = 0;
    for (int k = 0; k < L->units; ++k) {
        dx_dissect_unit u;
        dx_dissect_label(L, k, &u);
        sum += u.iou;
        if (u.iou <= DX_DISSECT_DETECTOR_IOU) continue;
        const char *cat = shapes_concept_categories[u.best];
        ++det[!strcmp(cat, "shape") ? 0 : !strcmp(cat, "colour") ? 1 : 2];
    }
    return sum / L->units;
}

int main(int argc, char **argv)
{
    if (argc != 6 && argc != 7) {
        fprintf(stderr, "usage: gt-dissect CFG WEIGHTS N SEED L1[,L2..] [CLASS_LAYER]\n");
        return 2;
    }
    int n = atoi(argv[3]), class_layer = argc == 7 ? atoi(argv[6]) : -1;
    unsigned long long seed = strtoull(argv[4], NULL, 10);
    dx_error err;
    dx_model *m = dx_open(argv[1], argv[2], NULL, &err);
    if (!m || n < 2) {
        fprintf(stderr, "gt-dissect: %s\n", m ? "N must be at least 2" : err.msg);
        return 1;
    }
    printf("Network dissection of %s, %d generated images (seed %llu, one object each), top %g of each unit, "
           "12 concepts (4 shapes, 7 colours, striped); baseline: each unit's maps taken from other images\n\n",
           argv[1], n, seed, DX_DISSECT_QUANTILE);
    printf("| layer | units | class units labelled with their shape | mean IoU of the label | baseline | "
           "detectors shape/colour/texture | baseline's | ms per run |\n|---|---|---|---|---|---|---|---|\n");
    int rc = 0;
    for (char *p = argv[5]; rc == 0 && *p;) {
        int layer = (int)strtol(p, &p, 10);
        if (*p == ',') ++p;
        dx_dissect_layer L, B;
        double t0 = dx_now_ms();
        if (shapes_dissect(m, layer, seed, n, 0, &L, &err) != 0) {
            fprintf(stderr, "gt-dissect: layer %d: %s\n", layer, err.msg);
            rc = 1;
            break;
        }
        double ms = dx_now_ms() - t0;
        if (shapes_dissect(m, layer, seed, n, 1, &B, &err) != 0) {
            fprintf(stderr, "gt-dissect: layer %d: %s\n", layer, err.msg);
            dx_dissect_free(&L);
            rc = 1;
            break;
        }
        int det[3], bdet[3];
        double mean = summary(&L, det), bmean = summary(&B, bdet);
        char share[64] = "-";
        if (layer == class_layer) {
            int right = 0;
            for (int k = 0; k < L.units && k < SHAPES_CLASSES; ++k) {
                dx_dissect_unit u;
                dx_dissect_label(&L, k, &u);
                right += u.best == k;
            }
            snprintf(share, sizeof share, "%d/%d", right, L.units);
        }
        printf("| %d | %d | %s | %.3f | %.3f | %d/%d/%d | %d/%d/%d | %.0f |\n", layer, L.units, share, mean, bmean,
               det[0], det[1], det[2], bdet[0], bdet[1], bdet[2], ms);
        dx_dissect_free(&L);
        dx_dissect_free(&B);
    }
    dx_close(m);
    return rc;
}
