/* save-random-weights: a .weights file for any cfg of AlexeyAB's Darknet, with seeded random
 * parameters, written by the fork's own save_weights (so its layout is the fork's, whatever the
 * cfg holds). Tests and parity checks use it where no trained weights exist.
 *   save-random-weights CFG OUT.weights [SEED]      (SEED: a non-negative integer, default 1)
 * Built against the fork's include/darknet.h and libdarknet.so (make BACKEND=alexeyab
 * build-alexeyab/save-random-weights). The cfg is parsed as the fork's detector parses it: batch 1,
 * inference allocation (parse_network_cfg_custom(cfg, 1, 1)).
 *
 * The values, per parameter (fan_in: the inputs one output reads):
 *   conv / connected / local weights   N(0, sqrt(2 / fan_in))    (He: unit-scale activations)
 *   biases                             U(-0.1, 0.1)
 *   batch-norm scales                  U(0.75, 1.25)
 *   batch-norm rolling_mean            U(-0.1, 0.1)
 *   batch-norm rolling_variance        U(0.5, 1.5)               (so 1/sqrt(var + eps) stays ~1)
 *   [shortcut] weights (weights_type)  1 + 0.2 N(0, 1)           (around the fork's initial 1)
 *   [implicit] weights                 their initial mean + 0.1 N(0, 1)
 * Recurrent layers' inner conv/connected layers get the same. A given SEED gives the same file on
 * every run: the draws come from the fork's rand_uniform / rand_normal after srand(SEED).
 * Exit status: 0 written, 1 bad input or failure (one line on stderr; no file left behind, except
 * where the fork itself exits on a cfg it cannot parse, before anything is written), 2 usage. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <darknet.h>

/* libdarknet.so exports these; the fork declares them in src/parser.h and src/utils.h, which it
 * does not install */
network parse_network_cfg_custom(char *filename, int batch, int time_steps);
void save_weights(network net, char *filename);
float rand_uniform(float min, float max);
float rand_normal(void);

static void fill_uniform(float *x, int n, float lo, float hi)
{
    for (int i = 0; i < n; ++i) x[i] = rand_uniform(lo, hi);
}

static void fill_normal(float *x, int n, float mean, float sd)
{
    for (int i = 0; i < n; ++i) x[i] = mean + sd * rand_normal();
}

/* Batch-norm statistics that leave the normalised values at about unit scale. */
static void fill_batchnorm(float *scales, float *rolling_mean, float *rolling_variance, int n)
{
    fill_uniform(scales, n, 0.75f, 1.25f);
    fill_uniform(rolling_mean, n, -0.1f, 0.1f);
    fill_uniform(rolling_variance, n, 0.5f, 1.5f);
}

/* Exactly what save_convolutional_weights writes: biases[n], BN statistics[n] when
 * batch_normalize, weights[nweights]. */
static void fill_convolutional(layer *l)
{
    fill_uniform(l->biases, l->n, -0.1f, 0.1f);
    if (l->batch_normalize) fill_batchnorm(l->scales, l->rolling_mean, l->rolling_variance, l->n);
    int fan_in = l->c / l->groups * l->size * l->size;
    fill_normal(l->weights, l->nweights, 0.0f, sqrtf(2.0f / fan_in));
}

/* save_connected_weights: biases[outputs], weights[outputs x inputs], BN statistics[outputs]. */
static void fill_connected(layer *l)
{
    fill_uniform(l->biases, l->outputs, -0.1f, 0.1f);
    fill_normal(l->weights, l->outputs * l->inputs, 0.0f, sqrtf(2.0f / l->inputs));
    if (l->batch_normalize) fill_batchnorm(l->scales, l->rolling_mean, l->rolling_variance, l->outputs);
}

/* Every parameter save_weights_upto writes for this layer, in no particular order (the file's
 * order is save_weights' business). */
static void fill_layer(layer *l)
{
    switch (l->type) {
    case CONVOLUTIONAL:
        if (!l->share_layer) fill_convolutional(l); /* a shared layer's weights are not saved */
        break;
    case CONNECTED:
        fill_connected(l);
        break;
    case BATCHNORM:
        fill_uniform(l->biases, l->c, -0.1f, 0.1f);
        fill_batchnorm(l->scales, l->rolling_mean, l->rolling_variance, l->c);
        break;
    case SHORTCUT:
        fill_normal(l->weights, l->nweights, 1.0f, 0.2f);
        break;
    case IMPLICIT: {
        double mean = 0;
        for (int i = 0; i < l->nweights; ++i) mean += l->weights[i];
        if (l->nweights) mean /= l->nweights;
        fill_normal(l->weights, l->nweights, (float)mean, 0.1f);
        break;
    }
    case LOCAL:
        fill_uniform(l->biases, l->outputs, -0.1f, 0.1f);
        fill_normal(l->weights, l->size * l->size * l->c * l->n * l->out_w * l->out_h, 0.0f,
                    sqrtf(2.0f / (l->size * l->size * l->c)));
        break;
    case RNN:
    case CRNN:
        fill_layer(l->input_layer);
        fill_layer(l->self_layer);
        fill_layer(l->output_layer);
        break;
    case GRU: {
        layer *inner[] = {l->input_z_layer, l->input_r_layer, l->input_h_layer,
                          l->state_z_layer, l->state_r_layer, l->state_h_layer};
        for (size_t k = 0; k < sizeof inner / sizeof *inner; ++k) fill_layer(inner[k]);
        break;
    }
    case LSTM:
    case CONV_LSTM: { /* the peephole (vf, vi, vo) and bottleneck layers exist only when used */
        layer *inner[] = {l->wf, l->wi, l->wg, l->wo, l->uf, l->ui, l->ug, l->uo, l->vf, l->vi, l->vo};
        for (size_t k = 0; k < sizeof inner / sizeof *inner; ++k)
            if (inner[k]) fill_layer(inner[k]);
        break;
    }
    default:
        break;
    }
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: save-random-weights CFG OUT.weights [SEED]\n");
        return 2;
    }
    const char *cfg = argv[1], *out = argv[2];
    unsigned seed = 1;
    if (argc == 4) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(argv[3], &end, 10);
        if (errno || *end || end == argv[3] || argv[3][0] == '-' || v > UINT_MAX) {
            fprintf(stderr, "save-random-weights: SEED %s is not a non-negative integer\n", argv[3]);
            return 2;
        }
        seed = (unsigned)v;
    }
    /* The fork's parser exits without a word on an unreadable file: say which one first. */
    FILE *f = fopen(cfg, "r");
    if (!f) {
        fprintf(stderr, "save-random-weights: %s: %s\n", cfg, strerror(errno));
        return 1;
    }
    fclose(f);

    network net = parse_network_cfg_custom((char *)cfg, 1, 1);
    srand(seed);
    for (int i = 0; i < net.n; ++i) fill_layer(&net.layers[i]);

    /* The fork's save_weights exits on a file it cannot open, and writes in place: write a part
     * file that this program can open, then rename it. */
    size_t len = strlen(out);
    char *part = malloc(len + 6);
    if (!part) {
        fprintf(stderr, "save-random-weights: out of memory\n");
        return 1;
    }
    memcpy(part, out, len);
    memcpy(part + len, ".part", 6);
    if (!(f = fopen(part, "wb"))) {
        fprintf(stderr, "save-random-weights: %s: %s\n", out, strerror(errno));
        free(part);
        free_network(net);
        return 1;
    }
    fclose(f);
    save_weights(net, part);
    int rc = 0;
    if (rename(part, out) != 0) {
        fprintf(stderr, "save-random-weights: %s: %s\n", out, strerror(errno));
        remove(part);
        rc = 1;
    } else {
        fprintf(stderr, "save-random-weights: wrote %s (seed %u)\n", out, seed);
    }
    free(part);
    free_network(net);
    return rc;
}
