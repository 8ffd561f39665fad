/* gt-visualize: the ground-truth figure of `visualize` (plugin/visualize/) on a classifier.
 *
 *   gt-visualize CFG WEIGHTS SEEDS [NAMES]
 *
 * For each class, visualises it with seeds 1..SEEDS (the command's defaults otherwise) and prints a
 * markdown row: how often the classifier's top-1 on the visualised image is that class, beside how
 * often it is on SEEDS images of uniform noise (chance: 1 / classes), the class's mean probability
 * on the visualised images and on the noise, the milliseconds per image. */
#include <stdio.h>
#include <stdlib.h>
#include "explain.h"
#include "model.h"
#include "rng.h"
#include "visualize/visualize.h"

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5 || atoi(argv[3]) < 1) {
        fprintf(stderr, "usage: %s CFG WEIGHTS SEEDS [NAMES]\n", argv[0]);
        return 2;
    }
    int seeds = atoi(argv[3]);
    dx_error err;
    dx_open_options opt = {.names = argc == 5 ? argv[4] : NULL};
    dx_model *m = dx_open(argv[1], argv[2], &opt, &err);
    if (!m) {
        fprintf(stderr, "%s: %s\n", argv[0], err.msg);
        return 1;
    }
    int classes = dx_class_count(m);
    float *noise = malloc(sizeof(float) * m->net->inputs);
    if (!noise) {
        fprintf(stderr, "%s: out of memory\n", argv[0]);
        dx_close(m);
        return 1;
    }
    dx_vis_options o;
    dx_vis_options_init(&o);
    printf("visualize: %d seeds per class (%d steps each), top-1 of the classifier on the image; noise: %d uniform "
           "images (chance %.2f)\n\n", seeds, o.steps, seeds, 1.0 / classes);
    printf("| class | top-1 = class, visualised | top-1 = class, noise | p(class), visualised | p(class), noise | ms "
           "per image |\n|---|---|---|---|---|---|\n");
    int total_hits = 0, total_noise = 0;
    for (int c = 0; c < classes; ++c) {
        int hits = 0, noise_hits = 0;
        double prob = 0, noise_prob = 0, ms = 0;
        dx_vis_unit u = {-1, -1, c};
        dx_rng rng;
        dx_rng_init(&rng, 1000 + c);
        for (int s = 1; s <= seeds; ++s) {
            o.seed = s;
            dx_vis_result r;
            if (dx_visualize(m, &u, &o, &r, &err) != 0) {
                fprintf(stderr, "%s: %s\n", argv[0], err.msg);
                free(noise);
                dx_close(m);
                return 1;
            }
            hits += r.top1 == c;
            prob += r.class_prob / seeds;
            ms += r.ms / seeds;
            free(r.image);
            /* a uniform-noise image of the network input's size, from the class's own stream */
            for (int i = 0; i < m->net->inputs; ++i) noise[i] = (float)dx_rng_uniform(&rng);
            noise_hits += dx_vis_top1(m, noise, NULL) == c;
            noise_prob += m->net->layers[m->head].output[c] / seeds;
        }
        printf("| %d %s | %d/%d | %d/%d | %.3f | %.3f | %.0f |\n", c, dx_class_name(m, c), hits, seeds, noise_hits, seeds,
               prob, noise_prob, ms);
        total_hits += hits;
        total_noise += noise_hits;
    }
    printf("| all | %.2f | %.2f | | | |\n", (double)total_hits / (classes * seeds), (double)total_noise / (classes * seeds));
    free(noise);
    dx_close(m);
    return 0;
}
