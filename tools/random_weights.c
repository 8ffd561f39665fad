/* random-weights: a .weights file for a cfg of Debian's Darknet with the parameters Darknet's own
 * initialisation draws (parse_network_cfg), written by Darknet's save_weights, for benchmarks of
 * models whose trained weights are not at hand (tools/bench-settings.sh).
 *   random-weights CFG OUT.weights
 * Darknet leaves the batch norms' rolling variances at 0, which divides by sqrt(0.00001) in every
 * normalised layer (darknet19: inf by layer 9): they are set to 1. Darknet seeds its draws from
 * the clock, so two runs give different files. Exit status: 0 written, 2 usage (Darknet itself
 * exits on a cfg or path it cannot use). */
#include <stdio.h>
#include <darknet.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s CFG OUT.weights\n", argv[0]);
        return 2;
    }
    network *net = parse_network_cfg(argv[1]);
    for (int i = 0; i < net->n; ++i) {
        layer *l = &net->layers[i];
        if (l->batch_normalize && l->rolling_variance)
            for (int c = 0; c < l->out_c; ++c) l->rolling_variance[c] = 1;
    }
    save_weights(net, argv[2]);
    free_network(net);
    return 0;
}
