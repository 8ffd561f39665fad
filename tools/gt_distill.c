/* gt-distill: the global surrogate's ground truth on the shapes data (`make benchmark-gt`).
 *
 *   gt-distill CFG WEIGHTS N [SEED]
 *
 * Generates N one-object shapes images with their TRUE concept features (shape_features.h),
 * then grows distill's depth-4 trees mimicking the model (a classifier's top-1 class; a
 * detector's best box's class, or none) on: all the concepts, the shape
 * columns alone, the nuisance columns alone (colour, stripes, size: independent of the class by
 * construction), and the penultimate layer's pooled activations. Prints a markdown table: the
 * held-out fidelity beside the majority-class baseline's, the root split, the leaves, the time
 * per run. The truth: the concept tree's root is a shape column and its fidelity reaches the
 * shape-only tree's; the nuisance-only tree stays near the baseline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "distill/distill.h"
#include "shape_features.h"

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: gt-distill CFG WEIGHTS N [SEED]\n");
        return 2;
    }
    int n = atoi(argv[3]);
    unsigned long long seed = argc == 5 ? strtoull(argv[4], NULL, 10) : 19;
    char dir[] = "/tmp/gt-distill-XXXXXX";
    if (n < 10 || !mkdtemp(dir)) {
        fprintf(stderr, "gt-distill: N >= 10 and a temporary folder needed\n");
        return 1;
    }
    const unsigned columns[] = {0x1ff, 0x00f, 0x1f0};
    const char *const csvs[] = {"concepts", "shapes", "nuisance"};
    const char *const what[] = {"true concepts (shape, colour, stripes, size)", "shape columns only",
                                "nuisance columns only (colour, stripes, size)", "penultimate activations"};
    if (shape_features_write(dir, seed, n, 64, columns, csvs, 3) != 0) return 1;
    char list[4200], csv[3][4200], outdir[4200];
    snprintf(list, sizeof list, "%s/shapes.list", dir);
    snprintf(outdir, sizeof outdir, "%s/out", dir);
    printf("Global surrogate (distill): depth-4 CART trees mimicking %s's decisions on %d generated images "
           "(30%% held out, seed %llu)\n\n",
           argv[1], n, seed);
    printf("| features | held-out fidelity | majority baseline | root split | leaves | time per run |\n");
    printf("|---|---|---|---|---|---|\n");
    int rc = 0;
    for (int k = 0; k < 4; ++k) {
        char spec[4300];
        if (k < 3) {
            snprintf(csv[k], sizeof csv[k], "%s/%s.csv", dir, csvs[k]);
            snprintf(spec, sizeof spec, "csv:%s", csv[k]);
        } else {
            snprintf(spec, sizeof spec, "penultimate");
        }
        dx_distill_args a = {.cfg = argv[1], .weights = argv[2], .list = list, .outdir = outdir,
                             .features = spec, .source = k < 3 ? DX_DISTILL_CSV : DX_DISTILL_PENULTIMATE,
                             .csv = k < 3 ? csv[k] : NULL, .tree = {4, 5}, .holdout = 0.3f, .thresh = .5f, .seed = seed};
        dx_distill_figures fig;
        dx_error err;
        if (dx_distill_run(&a, NULL, &fig, &err) != 0) {
            fprintf(stderr, "gt-distill: %s\n", err.msg);
            rc = 1;
            break;
        }
        printf("| %s | %.3f | %.3f | %s | %d | %.2f s |\n", what[k], fig.fidelity_holdout, fig.baseline_holdout,
               fig.root_feature[0] ? fig.root_feature : "(a leaf)", fig.leaves, fig.seconds);
    }
    char rm[4300];
    snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
    if (system(rm) != 0) fprintf(stderr, "gt-distill: could not remove %s\n", dir);
    return rc;
}
