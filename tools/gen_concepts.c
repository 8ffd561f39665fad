/* gen-concepts: the concept sets of concept_sets.h, for `darknet-explain tcav`.
 *
 *   gen-concepts DIR SEED N_CONCEPT N_RANDOM N_IMAGES [SIZE]
 *
 * writes DIR/shape-circle/ .. DIR/small/ (N_CONCEPT images each), DIR/random/ (N_RANDOM) and
 * DIR/images/ (N_IMAGES, NNNNN_<class>.png), SIZE x SIZE (default 64, the embedded classifier's). */
#include <stdio.h>
#include <stdlib.h>
#include "concept_sets.h"

int main(int argc, char **argv)
{
    if (argc != 6 && argc != 7) {
        fprintf(stderr, "usage: gen-concepts DIR SEED N_CONCEPT N_RANDOM N_IMAGES [SIZE]\n");
        return 2;
    }
    int n_concept = atoi(argv[3]), n_random = atoi(argv[4]), n_images = atoi(argv[5]);
    int size = argc == 7 ? atoi(argv[6]) : 64;
    if (n_concept < 1 || n_random < 1 || n_images < 1 || size < 16 || size > 4096) {
        fprintf(stderr, "gen-concepts: counts >= 1 and 16 <= SIZE <= 4096\n");
        return 2;
    }
    dx_error err;
    if (concept_sets_write(argv[1], strtoull(argv[2], NULL, 10), n_concept, n_random, n_images, size, &err) != 0) {
        fprintf(stderr, "gen-concepts: %s\n", err.msg);
        return 1;
    }
    return 0;
}
