/* save-random-weights: a .weights file for any cfg of AlexeyAB's Darknet, with seeded random
 * parameters, written by the fork's own save_weights (so its layout is the fork's, whatever the
 * cfg holds). Tests and parity checks use it where no trained weights exist.
 *   save-random-weights [-plain] CFG OUT.weights [SEED]    (SEED: a non-negative integer, default 1)
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
 * Recurrent layers' inner conv/connected layers get the same.
 * Then, unless -plain: with statistics fixed a priori the activations of deep residual cfgs grow
 * with every [shortcut] (yolov4: ~1e6, then inf and NaN in the heads), so the batch norms of the
 * network's own conv, connected and batchnorm layers are calibrated on one forward of a photo-like
 * input (colour ramps and waves, 10% seeded noise), layer by layer in order: rolling_mean = m +
 * U(-0.1, 0.1) sqrt(v) and rolling_variance = max(v, 0.01) U(0.8, 1.2), where m and v are the
 * channel's mean and variance of
 * what the batch norm receives (the fork's inference forward, train 0). Every normalised channel
 * then has about unit scale whatever the depth.
 * A given SEED gives the same file on every run: the draws come from the fork's rand_uniform /
 * rand_normal after srand(SEED), and the fork's forward is deterministic.
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

/* rolling_mean/rolling_variance[c] from the statistics of x (channels x spatial, batch 1). */
static void calibrate_statistics(const float *x, int channels, int spatial, float *rolling_mean,
                                 float *rolling_variance)
{
    for (int c = 0; c < channels; ++c) {
        double sum = 0, sq = 0;
        for (int i = 0; i < spatial; ++i) sum += x[c * spatial + i];
        double mean = sum / spatial;
        for (int i = 0; i < spatial; ++i) {
            double d = x[c * spatial + i] - mean;
            sq += d * d;
        }
        double var = sq / spatial;
        rolling_mean[c] = (float)(mean + rand_uniform(-0.1f, 0.1f) * sqrt(var));
        rolling_variance[c] = (float)((var > 0.01 ? var : 0.01) * rand_uniform(0.8f, 1.2f));
    }
}

/* One inference forward as the fork's forward_network runs it, calibrating each top-level batch
 * norm just before its layer runs: a conv or connected layer is first run without its batch norm,
 * bias and activation (a copy of the layer struct, which the fork passes by value) to see what its
 * batch norm will receive. Returns -1 when out of memory. */
static int calibrate(network *net)
{
    int inputs = net->w * net->h * net->c > 0 ? net->w * net->h * net->c : net->inputs;
    int widest = 0;
    for (int i = 0; i < net->n; ++i)
        if (net->layers[i].out_c > widest) widest = net->layers[i].out_c;
    for (int i = 0; i < net->n; ++i)
        if (net->layers[i].outputs > widest) widest = net->layers[i].outputs;
    float *input = malloc(sizeof(float) * inputs), *zeros = calloc(widest, sizeof(float));
    if (!input || !zeros) {
        free(input);
        free(zeros);
        return -1;
    }
    /* photo-like: smooth colour ramps and waves with a little noise (statistics calibrated on pure
     * noise let a photo's activations grow layer after layer until YOLOv4's overflowed) */
    int w = net->w > 0 ? net->w : 1, h = net->h > 0 ? net->h : 1;
    for (int k = 0; k < inputs; ++k) {
        int x = k % w, y = k / w % h, c = k / (w * h);
        float smooth = c % 3 == 0 ? (float)x / w : c % 3 == 1 ? (float)y / h : 0.5f + 0.4f * sinf(0.1f * x + 0.07f * y);
        input[k] = smooth * 0.9f + rand_uniform(0.0f, 0.1f);
    }
    network_state state = {0};
    state.net = *net;
    state.input = input;
    state.workspace = net->workspace;
    for (int i = 0; i < net->n; ++i) {
        layer *l = &net->layers[i];
        state.index = i;
        int conv = l->type == CONVOLUTIONAL && !l->share_layer && !l->antialiasing;
        if ((conv || l->type == CONNECTED) && l->batch_normalize) {
            layer raw = *l;
            raw.batch_normalize = 0;
            raw.activation = LINEAR;
            raw.biases = zeros;
            raw.forward(raw, state);
            if (conv) calibrate_statistics(l->output, l->out_c, l->out_w * l->out_h, l->rolling_mean, l->rolling_variance);
            else calibrate_statistics(l->output, l->outputs, 1, l->rolling_mean, l->rolling_variance);
        } else if (l->type == BATCHNORM) {
            calibrate_statistics(state.input, l->c, l->w * l->h, l->rolling_mean, l->rolling_variance);
        } else if (conv && !l->batch_normalize && i + 1 < net->n &&
                   (net->layers[i + 1].type == YOLO || net->layers[i + 1].type == GAUSSIAN_YOLO ||
                    net->layers[i + 1].type == REGION)) {
            /* a head's logits at unit scale: large ones reach the fork's fast-math logistic as NaN */
            l->forward(*l, state);
            double sq = 0;
            for (int k = 0; k < l->outputs; ++k) sq += (double)l->output[k] * l->output[k];
            float shrink = (float)(1 / sqrt(sq / l->outputs + 1e-12));
            if (shrink < 1) {
                for (int k = 0; k < l->nweights; ++k) l->weights[k] *= shrink;
                for (int k = 0; k < l->n; ++k) l->biases[k] *= shrink;
            }
        }
        l->forward(*l, state);
        state.input = l->output;
    }
    free(input);
    free(zeros);
    return 0;
}

int main(int argc, char **argv)
{
    int plain = argc > 1 && strcmp(argv[1], "-plain") == 0;
    argv += plain;
    argc -= plain;
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: save-random-weights [-plain] CFG OUT.weights [SEED]\n");
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
    if (!plain && calibrate(&net) != 0) {
        fprintf(stderr, "save-random-weights: out of memory\n");
        free_network(net);
        return 1;
    }

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
