/* Validation of a cfg's text before Debian's Darknet (pjreddie, git 2018-09-14) parses it, and the
 * batch-1 copy the plugin hands to Darknet.
 *
 * parse_network_cfg calls exit(), assert()s, divides by zero or reads out of bounds on many
 * malformed cfgs, and silently computes another network on others (an unknown activation becomes
 * relu, keys of other forks are ignored, "3x" is read as 3). The checks here read the text with
 * Darknet's line rules and follow the shapes through the layers as the make_*_layer functions
 * compute them, so that the plugin only hands Darknet cfgs it parses safely and computes as
 * written. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "cfg/cfg.h"
#include "io/sniff.h"

/* One layer's buffers at batch 1. The fuzz harness builds with a smaller budget, so that the
 * networks it hands Darknet stay small enough to parse thousands a second (docs/fuzzing.md). */
#ifndef DX_LAYER_MAX_BYTES
#define DX_LAYER_MAX_BYTES (4.0 * 1024 * 1024 * 1024)
#endif
#define LAYER_MAX_BYTES DX_LAYER_MAX_BYTES
/* Multiply-adds (or comparisons) of one layer's forward pass: minutes on a CPU, some 500 times
 * the largest layer of yolov3 at 608x608. */
#define LAYER_MAX_OPS 1e12

/* ------------------------------------------------------------------------------------------ */
/* What Darknet reads, section by section                                                     */

typedef enum {
    K_INT, K_FLOAT, K_STRING,
    K_INT_LIST, K_FLOAT_LIST,
    K_ACTIVATION,  /* one of get_activation's names (others silently become relu) */
    K_COST,        /* one of get_cost_type's names (others silently become sse) */
    K_FILE,        /* a file Darknet opens while parsing and exits or crashes on when missing */
    K_REPLACED     /* batch, subdivisions: the batch-1 copy replaces them */
} value_kind;

typedef struct {
    const char *key;
    value_kind kind;
} key_spec;

/* A key Debian's Darknet does not read (or reads only to change how it loads weights) whose value
 * decides whether the network is the one the cfg describes: harmless when it equals `neutral`
 * (numerically for numbers), refused with `why` otherwise. */
#define NEVER ""          /* no value is harmless: values are never empty */
#define CHECKED_BELOW NULL /* harmless when it agrees with other keys, which layer_shape checks */
typedef struct {
    const char *key;
    value_kind kind;
    const char *neutral;
    const char *why; /* what Debian's Darknet would do instead */
} neutral_key;

typedef enum {
    T_NET, T_CONV, T_DECONV, T_LOCAL, T_ACTIVATION, T_LOGISTIC, T_L2NORM, T_RNN, T_GRU, T_LSTM,
    T_CRNN, T_CONNECTED, T_CROP, T_COST, T_REGION, T_YOLO, T_ISEG, T_DETECTION, T_SOFTMAX,
    T_NORMALIZATION, T_BATCHNORM, T_MAXPOOL, T_REORG, T_AVGPOOL, T_ROUTE, T_UPSAMPLE, T_SHORTCUT,
    T_DROPOUT
} layer_type;

typedef struct {
    const char *name, *alias; /* as string_to_layer_type spells them */
    layer_type type;
    const key_spec *reads;    /* the keys parse_* reads; {NULL} ends */
    const neutral_key *neutral;
    /* Keys other forks read that change nothing at inference here (training, NMS, tracking),
     * space-separated: accepted without a warning. */
    const char *training_only;
} section_spec;

/* Word lists, space-separated. */
static const char ACTIVATIONS[] = /* get_activation's; it turns any other name into relu */
    "logistic loggy relu elu selu relie plse hardtan lhtan linear ramp leaky tanh stair";
static const char COST_TYPES[] = "seg sse masked smooth L1 wgan"; /* get_cost_type's; else sse */
/* Sections AlexeyAB's Darknet has and pjreddie's lacks (pjreddie makes an empty layer of them). */
static const char ALEXEYAB_SECTIONS[] = "[sam] [scale_channels] [Gaussian_yolo] [reorg3d] "
    "[local_avgpool] [local_avg] [implicit] [contrastive] [conv_lstm] [history] [empty] [silence]";

/* Read for every layer section by parse_network_cfg (all of them matter only to training). */
static const key_spec LAYER_READS[] = {{"truth", K_INT}, {"onlyforward", K_INT},
    {"stopbackward", K_INT}, {"dontsave", K_INT}, {"learning_rate", K_FLOAT}, {"smooth", K_FLOAT},
    {NULL, 0}};
static const neutral_key LAYER_NEUTRAL[] = {
    {"dontload", K_INT, "0", "Debian's Darknet would skip this layer's weights and read the rest "
        "of the weights file misaligned"},
    {"numload", K_INT, "0", "Debian's Darknet would load only that many filters and read the rest "
        "of the weights file misaligned"},
    {"dontloadscales", K_INT, "0", "Debian's Darknet would not read this layer's batch-norm "
        "scales and read the rest of the weights file misaligned"},
    {NULL, 0, NULL, NULL}};
static const char LAYER_TRAINING_ONLY[] = "clip dont_update burnin_update train_only_bn stream "
    "wait_stream";

static const section_spec SECTIONS[] = {
    {"[net]", "[network]", T_NET, (const key_spec[]){
        {"batch", K_REPLACED}, {"subdivisions", K_REPLACED}, {"learning_rate", K_FLOAT},
        {"momentum", K_FLOAT}, {"decay", K_FLOAT}, {"time_steps", K_INT}, {"notruth", K_INT},
        {"random", K_FLOAT}, {"adam", K_INT}, {"B1", K_FLOAT}, {"B2", K_FLOAT}, {"eps", K_FLOAT},
        {"height", K_INT}, {"width", K_INT}, {"channels", K_INT}, {"inputs", K_INT},
        {"max_crop", K_INT}, {"min_crop", K_INT}, {"max_ratio", K_FLOAT}, {"min_ratio", K_FLOAT},
        {"center", K_INT}, {"clip", K_FLOAT}, {"angle", K_FLOAT}, {"aspect", K_FLOAT},
        {"saturation", K_FLOAT}, {"exposure", K_FLOAT}, {"hue", K_FLOAT}, {"policy", K_STRING},
        {"burn_in", K_INT}, {"power", K_FLOAT}, {"step", K_INT}, {"scale", K_FLOAT},
        {"steps", K_INT_LIST}, {"scales", K_FLOAT_LIST}, {"gamma", K_FLOAT},
        {"max_batches", K_INT}, {NULL, 0}},
     (const neutral_key[]){{"letter_box", K_INT, CHECKED_BELOW, NULL}, {NULL, 0, NULL, NULL}},
     "learning_rate_min sgdr_cycle sgdr_mult seq_scales track augment_speed "
     "sequential_subdivisions try_fix_nan weights_reject_freq equidistant_point ema_alpha "
     "badlabels_rejection_percentage num_sigmas_reject_badlabels use_cuda_graph loss_scale "
     "dynamic_minibatch optimized_memory workspace_size_limit_MB flip blur gaussian_noise mixup "
     "cutmix mosaic mosaic_bound contrastive contrastive_jit_flip contrastive_color unsupervised "
     "label_smooth_eps resize_step attention adversarial_lr max_chart_loss show_receptive_field"},
    {"[convolutional]", "[conv]", T_CONV, (const key_spec[]){
        {"filters", K_INT}, {"size", K_INT}, {"stride", K_INT}, {"pad", K_INT}, {"padding", K_INT},
        {"groups", K_INT}, {"activation", K_ACTIVATION}, {"batch_normalize", K_INT},
        {"binary", K_INT}, {"xnor", K_INT}, {"flipped", K_INT}, {"dot", K_FLOAT}, {NULL, 0}},
     (const neutral_key[]){
        {"dilation", K_INT, "1", "AlexeyAB's dilated convolution; Debian's Darknet ignores "
            "dilation and would compute an undilated one"},
        {"antialiasing", K_INT, "0", "AlexeyAB blurs before striding; Debian's Darknet ignores "
            "antialiasing and would not"},
        {"share_index", K_INT, NEVER, "AlexeyAB shares another layer's weights; Debian's Darknet "
            "ignores share_index and would expect this layer's own weights"},
        {"coordconv", K_INT, "0", "AlexeyAB adds coordinate channels; Debian's Darknet ignores "
            "coordconv"},
        {"stride_x", K_INT, CHECKED_BELOW, NULL}, {"stride_y", K_INT, CHECKED_BELOW, NULL},
        {NULL, 0, NULL, NULL}},
     "cbn bin_output sway rotate stretch stretch_sway angle grad_centr reverse "
     "assisted_excitation"},
    {"[deconvolutional]", "[deconv]", T_DECONV, (const key_spec[]){
        {"filters", K_INT}, {"size", K_INT}, {"stride", K_INT}, {"pad", K_INT}, {"padding", K_INT},
        {"activation", K_ACTIVATION}, {"batch_normalize", K_INT}, {NULL, 0}}, NULL, ""},
    {"[local]", NULL, T_LOCAL, (const key_spec[]){
        {"filters", K_INT}, {"size", K_INT}, {"stride", K_INT}, {"pad", K_INT},
        {"activation", K_ACTIVATION}, {NULL, 0}}, NULL, ""},
    {"[activation]", NULL, T_ACTIVATION, (const key_spec[]){{"activation", K_ACTIVATION}, {NULL, 0}},
     NULL, ""},
    {"[logistic]", NULL, T_LOGISTIC, (const key_spec[]){{NULL, 0}}, NULL, ""},
    {"[l2norm]", NULL, T_L2NORM, (const key_spec[]){{NULL, 0}}, NULL, ""},
    {"[rnn]", NULL, T_RNN, (const key_spec[]){
        {"output", K_INT}, {"activation", K_ACTIVATION}, {"batch_normalize", K_INT},
        {"shortcut", K_INT}, {NULL, 0}},
     (const neutral_key[]){{"hidden", K_INT, CHECKED_BELOW, NULL}, {NULL, 0, NULL, NULL}}, ""},
    {"[gru]", NULL, T_GRU, (const key_spec[]){
        {"output", K_INT}, {"batch_normalize", K_INT}, {"tanh", K_INT}, {NULL, 0}}, NULL, ""},
    {"[lstm]", NULL, T_LSTM, (const key_spec[]){
        {"output", K_INT}, {"batch_normalize", K_INT}, {NULL, 0}}, NULL, ""},
    {"[crnn]", NULL, T_CRNN, (const key_spec[]){
        {"output_filters", K_INT}, {"hidden_filters", K_INT}, {"activation", K_ACTIVATION},
        {"batch_normalize", K_INT}, {"shortcut", K_INT}, {NULL, 0}},
     (const neutral_key[]){ /* AlexeyAB's [crnn] options; pjreddie's convolutions are 3x3/1, pad 1 */
        {"output", K_INT, NEVER, "AlexeyAB's name for output_filters; Debian's Darknet ignores it"},
        {"hidden", K_INT, NEVER, "AlexeyAB's name for hidden_filters; Debian's Darknet ignores it"},
        {"size", K_INT, "3", "Debian's Darknet ignores it and would use size=3"},
        {"stride", K_INT, "1", "Debian's Darknet ignores it and would use stride=1"},
        {"dilation", K_INT, "1", "Debian's Darknet ignores it and would not dilate"},
        {"groups", K_INT, "1", "Debian's Darknet ignores it and would use groups=1"},
        {"pad", K_INT, "1", "Debian's Darknet ignores it and would pad by 1"},
        {"padding", K_INT, "1", "Debian's Darknet ignores it and would pad by 1"},
        {"xnor", K_INT, "0", "Debian's Darknet ignores it and would not binarize"},
        {NULL, 0, NULL, NULL}}, ""},
    {"[connected]", "[conn]", T_CONNECTED, (const key_spec[]){
        {"output", K_INT}, {"activation", K_ACTIVATION}, {"batch_normalize", K_INT}, {NULL, 0}},
     NULL, ""},
    {"[crop]", NULL, T_CROP, (const key_spec[]){
        {"crop_height", K_INT}, {"crop_width", K_INT}, {"flip", K_INT}, {"angle", K_FLOAT},
        {"saturation", K_FLOAT}, {"exposure", K_FLOAT}, {"noadjust", K_INT}, {"shift", K_FLOAT},
        {NULL, 0}}, NULL, ""},
    {"[cost]", NULL, T_COST, (const key_spec[]){
        {"type", K_COST}, {"scale", K_FLOAT}, {"ratio", K_FLOAT}, {"noobj", K_FLOAT},
        {"thresh", K_FLOAT}, {NULL, 0}}, NULL, ""},
    {"[region]", NULL, T_REGION, (const key_spec[]){
        {"coords", K_INT}, {"classes", K_INT}, {"num", K_INT}, {"log", K_INT}, {"sqrt", K_INT},
        {"softmax", K_INT}, {"background", K_INT}, {"max", K_INT}, {"jitter", K_FLOAT},
        {"rescore", K_INT}, {"thresh", K_FLOAT}, {"classfix", K_INT}, {"absolute", K_INT},
        {"random", K_FLOAT}, {"coord_scale", K_FLOAT}, {"object_scale", K_FLOAT},
        {"noobject_scale", K_FLOAT}, {"mask_scale", K_FLOAT}, {"class_scale", K_FLOAT},
        {"bias_match", K_INT}, {"tree", K_FILE}, {"map", K_FILE}, {"anchors", K_FLOAT_LIST},
        {NULL, 0}}, NULL, "focal_loss resize"},
    {"[yolo]", NULL, T_YOLO, (const key_spec[]){
        {"classes", K_INT}, {"num", K_INT}, {"mask", K_INT_LIST}, {"max", K_INT},
        {"jitter", K_FLOAT}, {"ignore_thresh", K_FLOAT}, {"truth_thresh", K_FLOAT},
        {"random", K_FLOAT}, {"map", K_FILE}, {"anchors", K_FLOAT_LIST}, {NULL, 0}},
     (const neutral_key[]){
        {"scale_x_y", K_FLOAT, "1", "AlexeyAB stretches the box centres by it; Debian's Darknet "
            "ignores scale_x_y and would decode boxes unstretched"},
        {"new_coords", K_INT, "0", "AlexeyAB's scaled-YOLOv4 box decoding; Debian's Darknet "
            "ignores new_coords and would decode boxes the YOLOv3 way"},
        {NULL, 0, NULL, NULL}},
     "iou_loss iou_thresh_kind iou_normalizer cls_normalizer obj_normalizer delta_normalizer "
     "uc_normalizer nms_kind beta_nms max_delta iou_thresh resize counters_per_class "
     "label_smooth_eps focal_loss objectness_smooth show_details track_history_size sim_thresh "
     "dets_for_track dets_for_show track_ciou_norm embedding_layer yolo_point"},
    {"[iseg]", NULL, T_ISEG, (const key_spec[]){{"classes", K_INT}, {"ids", K_INT}, {NULL, 0}},
     NULL, ""},
    {"[detection]", NULL, T_DETECTION, (const key_spec[]){
        {"coords", K_INT}, {"classes", K_INT}, {"rescore", K_INT}, {"num", K_INT},
        {"side", K_INT}, {"softmax", K_INT}, {"sqrt", K_INT}, {"max", K_INT},
        {"coord_scale", K_FLOAT}, {"forced", K_INT}, {"object_scale", K_FLOAT},
        {"noobject_scale", K_FLOAT}, {"class_scale", K_FLOAT}, {"jitter", K_FLOAT},
        {"random", K_FLOAT}, {"reorg", K_INT}, {NULL, 0}}, NULL, "resize"},
    {"[softmax]", "[soft]", T_SOFTMAX, (const key_spec[]){
        {"groups", K_INT}, {"temperature", K_FLOAT}, {"tree", K_FILE}, {"spatial", K_FLOAT},
        {"noloss", K_INT}, {NULL, 0}}, NULL, ""},
    {"[normalization]", "[lrn]", T_NORMALIZATION, (const key_spec[]){
        {"alpha", K_FLOAT}, {"beta", K_FLOAT}, {"kappa", K_FLOAT}, {"size", K_INT}, {NULL, 0}},
     NULL, ""},
    {"[batchnorm]", NULL, T_BATCHNORM, (const key_spec[]){{NULL, 0}}, NULL, ""},
    {"[maxpool]", "[max]", T_MAXPOOL, (const key_spec[]){
        {"stride", K_INT}, {"size", K_INT}, {"padding", K_INT}, {NULL, 0}},
     (const neutral_key[]){
        {"maxpool_depth", K_INT, "0", "AlexeyAB pools across channels; Debian's Darknet ignores "
            "maxpool_depth and would pool each channel spatially"},
        {"out_channels", K_INT, "1", "AlexeyAB's channel count for maxpool_depth; Debian's "
            "Darknet ignores it and would keep the input's channels"},
        {"antialiasing", K_INT, "0", "AlexeyAB blurs before striding; Debian's Darknet ignores "
            "antialiasing and would not"},
        {"stride_x", K_INT, CHECKED_BELOW, NULL}, {"stride_y", K_INT, CHECKED_BELOW, NULL},
        {NULL, 0, NULL, NULL}}, ""},
    {"[reorg]", NULL, T_REORG, (const key_spec[]){
        {"stride", K_INT}, {"reverse", K_INT}, {"flatten", K_INT}, {"extra", K_INT}, {NULL, 0}},
     NULL, ""},
    {"[avgpool]", "[avg]", T_AVGPOOL, (const key_spec[]){{NULL, 0}}, NULL, ""},
    {"[route]", NULL, T_ROUTE, (const key_spec[]){{"layers", K_INT_LIST}, {NULL, 0}},
     (const neutral_key[]){
        {"groups", K_INT, "1", "AlexeyAB passes on only a 1/groups slice of the channels; "
            "Debian's Darknet ignores groups and would pass all of them"},
        {"group_id", K_INT, "0", "AlexeyAB passes on the group_id-th channel slice; Debian's "
            "Darknet ignores group_id and would pass all channels"},
        {NULL, 0, NULL, NULL}}, ""},
    {"[upsample]", NULL, T_UPSAMPLE, (const key_spec[]){
        {"stride", K_INT}, {"scale", K_FLOAT}, {NULL, 0}}, NULL, ""},
    {"[shortcut]", NULL, T_SHORTCUT, (const key_spec[]){
        {"from", K_INT_LIST}, {"activation", K_ACTIVATION}, {"alpha", K_FLOAT}, {"beta", K_FLOAT},
        {NULL, 0}},
     (const neutral_key[]){
        {"weights_type", K_STRING, "none", "AlexeyAB weights the inputs of the sum; Debian's "
            "Darknet ignores weights_type and would add them unweighted"},
        {"weights_normalization", K_STRING, "none", "AlexeyAB normalizes the sum's weights; "
            "Debian's Darknet ignores weights_normalization"},
        {NULL, 0, NULL, NULL}}, ""},
    {"[dropout]", NULL, T_DROPOUT, (const key_spec[]){{"probability", K_FLOAT}, {NULL, 0}}, NULL,
     "dropblock dropblock_size_rel dropblock_size_abs"},
};
#define N_SECTIONS (sizeof SECTIONS / sizeof SECTIONS[0])

/* ------------------------------------------------------------------------------------------ */
/* Values                                                                                     */

/* Darknet reads numbers with atoi/atof, which stop at the first stray character ("3x" is 3, "16#x"
 * is 16): a value is accepted only when all of it is the number. */
static int parse_int(const char *s, const char **end, long *out)
{
    char *stop;
    errno = 0;
    long v = strtol(s, &stop, 10);
    *end = stop;
    *out = v;
    return stop != s && errno != ERANGE && v >= INT_MIN && v <= INT_MAX ? 0 : -1;
}

static int parse_float(const char *s, const char **end, double *out)
{
    char *stop;
    *out = strtod(s, &stop);
    *end = stop;
    return stop != s && isfinite(*out) ? 0 : -1;
}

static int is_int(const char *s)
{
    const char *end;
    long v;
    return parse_int(s, &end, &v) == 0 && *end == '\0';
}

static int is_float(const char *s)
{
    const char *end;
    double v;
    return parse_float(s, &end, &v) == 0 && *end == '\0';
}

/* Comma lists as Darknet splits them: an empty element (",," or a trailing comma) is read as 0. */
static int is_list(const char *s, int integers)
{
    for (;;) {
        const char *end;
        long i;
        double f;
        if ((integers ? parse_int(s, &end, &i) : parse_float(s, &end, &f)) != 0) return 0;
        if (*end == '\0') return 1;
        if (*end != ',') return 0;
        s = end + 1;
    }
}

/* Whether `word` is one of the space-separated words of `list`. */
static int in_word_list(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, " ");
        if (len == n && strncmp(p, word, n) == 0) return 1;
        p += len + (p[len] == ' ');
    }
    return 0;
}

static const char *comment_hint(const char *value)
{
    return strchr(value, '#') ? " (comments must be on their own line)" : "";
}

static int check_value(const cfg *c, const section *s, const entry *e, value_kind kind)
{
    const char *end;
    long i;
    double f;
    int error = 0;
    switch (kind) {
    case K_INT:
        if (is_int(e->value)) return 0;
        if (parse_int(e->value, &end, &i) != 0 && end != e->value)
            return dx_cfg_fail(c, e->line, "%s=%s in %s is out of int range", e->key, e->value,
                               s->type);
        return dx_cfg_fail(c, e->line, "%s=%s in %s is not an integer (Darknet's atoi would "
                           "silently read %d)%s", e->key, e->value, s->type, atoi(e->value),
                           comment_hint(e->value));
    case K_FLOAT:
        if (is_float(e->value)) return 0;
        parse_float(e->value, &end, &f);
        return dx_cfg_fail(c, e->line, "%s=%s in %s is not a number (Darknet's atof would "
                           "silently read %g)%s", e->key, e->value, s->type,
                           end == e->value ? 0.0 : f, comment_hint(e->value));
    case K_INT_LIST:
    case K_FLOAT_LIST:
        if (is_list(e->value, kind == K_INT_LIST)) return 0;
        return dx_cfg_fail(c, e->line, "%s=%s in %s is not a comma-separated list of %s (Darknet "
                           "would silently read empty or malformed elements as 0)%s", e->key,
                           e->value, s->type, kind == K_INT_LIST ? "integers" : "numbers",
                           comment_hint(e->value));
    case K_ACTIVATION:
        if (in_word_list(ACTIVATIONS, e->value)) return 0;
        return dx_cfg_fail(c, e->line, "activation=%s is unknown to Debian's Darknet, which would "
                           "silently use relu (it knows %s)", e->value, ACTIVATIONS);
    case K_COST:
        if (in_word_list(COST_TYPES, e->value)) return 0;
        return dx_cfg_fail(c, e->line, "type=%s in %s is unknown to Debian's Darknet, which would "
                           "silently use sse (it knows %s)", e->value, s->type, COST_TYPES);
    case K_FILE:
        if (dx_cfg_count_lines(e->value, &error) >= 0) return 0;
        return dx_cfg_fail(c, e->line, "%s=%s in %s cannot be read (%s); Debian's Darknet opens "
                           "it while parsing, relative to the current directory, and would exit "
                           "or crash", e->key, e->value, s->type, strerror(error));
    case K_STRING:
    case K_REPLACED:
        return 0;
    }
    return 0;
}

static int same_value(const char *value, const char *neutral, value_kind kind)
{
    if (kind == K_INT || kind == K_FLOAT) return strtod(value, NULL) == strtod(neutral, NULL);
    return strcmp(value, neutral) == 0;
}

static const key_spec *find_read(const key_spec *reads, const char *key)
{
    for (; reads && reads->key; ++reads)
        if (strcmp(reads->key, key) == 0) return reads;
    return NULL;
}

static const neutral_key *find_neutral(const neutral_key *keys, const char *key)
{
    for (; keys && keys->key; ++keys)
        if (strcmp(keys->key, key) == 0) return keys;
    return NULL;
}

/* Every key of a section: its value has the kind Darknet reads; keys other forks give a meaning
 * have their neutral value; a key given twice keeps one value (Darknet uses the first); keys no
 * one reads are warned about. */
static int dx_cfg_check_keys(cfg *c, const section *s, const section_spec *spec)
{
    int is_layer = spec->type != T_NET;
    for (size_t i = s->first; i < s->first + s->count; ++i) {
        const entry *e = &c->entries[i];
        const entry *first = dx_cfg_find(c, s, e->key);
        const key_spec *read = find_read(spec->reads, e->key);
        if (!read && is_layer) read = find_read(LAYER_READS, e->key);
        const neutral_key *neutral = find_neutral(spec->neutral, e->key);
        if (!neutral && is_layer) neutral = find_neutral(LAYER_NEUTRAL, e->key);
        if (first != e && strcmp(first->value, e->value) != 0 && !(read && read->kind == K_REPLACED))
            return dx_cfg_fail(c, e->line, "%s is set again in %s (first %s=%s at line %d); "
                               "Darknet uses the first value", e->key, s->type, first->key,
                               first->value, first->line);
        if (read) {
            if (check_value(c, s, e, read->kind)) return -1;
        } else if (neutral) {
            if (check_value(c, s, e, neutral->kind)) return -1;
            if (neutral->neutral && !same_value(e->value, neutral->neutral, neutral->kind))
                return dx_cfg_fail(c, e->line, "%s=%s in %s: %s", e->key, e->value, s->type,
                                   neutral->why);
        } else if (!in_word_list(spec->training_only, e->key) &&
                   !(is_layer && in_word_list(LAYER_TRAINING_ONLY, e->key))) {
            dx_cfg_warn(c, e->line, "key '%s' in %s is ignored by Debian's Darknet", e->key,
                        s->type);
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Shapes, as the make_*_layer functions compute them                                         */

/* What a layer costs beyond its outputs, for the budgets. */
typedef struct {
    double weights;   /* floats */
    double workspace; /* floats of the network's shared im2col workspace its forward writes */
    double reserved;  /* floats of that workspace Darknet sizes for it (see check_network) */
    double ops;       /* multiply-adds or comparisons per image, when more than its outputs */
} layer_cost;

typedef struct {
    int index;         /* Darknet's layer index; -1: the network input */
    const char *name;  /* the section name as written */
    long long h, w, c; /* 0, 0, 0: a flat vector */
    long long outputs;
    const char *flat_why;
} shape;

static long int_of(const cfg *c, const section *s, const char *key, long def)
{
    const entry *e = dx_cfg_find(c, s, key);
    return e ? strtol(e->value, NULL, 10) : def;
}

static double float_of(const cfg *c, const section *s, const char *key, double def)
{
    const entry *e = dx_cfg_find(c, s, key);
    return e ? strtod(e->value, NULL) : def;
}

static int line_of(const cfg *c, const section *s, const char *key)
{
    const entry *e = dx_cfg_find(c, s, key);
    return e ? e->line : s->line;
}

/* An integer key that must be > 0 (Darknet divides by it, or allocates by it). */
static int positive(const cfg *c, const section *s, const char *key, long def, long *out)
{
    *out = int_of(c, s, key, def);
    if (*out > 0) return 0;
    return dx_cfg_fail(c, line_of(c, s, key), "%s=%ld in %s must be > 0", key, *out, s->type);
}

static int is_image(const shape *in)
{
    return in->h > 0 && in->w > 0 && in->c > 0;
}

static int need_image(const cfg *c, const section *s, int index, const shape *in)
{
    if (is_image(in)) return 0;
    if (in->index < 0)
        return dx_cfg_fail(c, s->line, "layer %d %s needs an image input but the network input is "
                           "a flat vector (%s)", index, s->type, in->flat_why);
    return dx_cfg_fail(c, s->line, "layer %d %s needs an image input but layer %d %s outputs a "
                       "flat vector (%s)", index, s->type, in->index, in->name, in->flat_why);
}

/* A layer index as route and shortcut resolve it (negative: relative to this layer). */
static int resolve(const cfg *c, const section *s, const char *key, int index, long given,
                   int *out)
{
    long target = given < 0 ? index + given : given;
    if (target >= 0 && target < index) {
        *out = (int)target;
        return 0;
    }
    if (index == 0)
        return dx_cfg_fail(c, line_of(c, s, key), "%s in %s refers to layer %ld, but it is the "
                           "first layer and there is none before it", key, s->type, target);
    return dx_cfg_fail(c, line_of(c, s, key), "%s=%ld in %s (layer %d) refers to layer %ld, out "
                       "of range 0..%d", key, given, s->type, index, target, index - 1);
}

static void keep_shape(shape *out, const shape *in)
{
    out->h = in->h;
    out->w = in->w;
    out->c = in->c;
    out->outputs = in->outputs;
    out->flat_why = in->flat_why;
}

static void set_flat(shape *out, long long outputs, const char *why)
{
    out->h = out->w = out->c = 0;
    out->outputs = outputs;
    out->flat_why = why;
}

/* Sizes arrive in double so that absurd cfg values cannot overflow; anything near the clamp
 * fails the memory budget before it is used. */
static void set_image(shape *out, double h, double w, double c)
{
    const double clamp = 1e15;
    out->h = (long long)fmin(h, clamp);
    out->w = (long long)fmin(w, clamp);
    out->c = (long long)fmin(c, clamp);
    out->outputs = (long long)fmin(h * w * c, clamp);
}

/* A sliding window's output size as Darknet computes it; the window must fit in the padded
 * input (C's division would otherwise round a negative span up to one output). */
static int window_out(const cfg *c, const section *s, long long in, long long padded, long size,
                      long stride, long long *out)
{
    if (in + padded < size)
        return dx_cfg_fail(c, line_of(c, s, "size"), "size=%ld in %s is larger than its input "
                           "(%lld) plus padding (%lld)", size, s->type, in, padded);
    *out = (in + padded - size) / stride + 1;
    return 0;
}

/* [convolutional] and [deconvolutional] padding: pad=1 means size/2, else padding= pixels. */
static int conv_padding(const cfg *c, const section *s, long size, long *padding)
{
    *padding = int_of(c, s, "pad", 0) ? size / 2 : int_of(c, s, "padding", 0);
    if (*padding >= 0) return 0;
    return dx_cfg_fail(c, line_of(c, s, "padding"), "padding=%ld in %s must be >= 0", *padding,
                       s->type);
}

/* AlexeyAB's per-axis strides, which Debian's Darknet ignores. */
static int same_axis_strides(const cfg *c, const section *s, long stride)
{
    const char *axes[] = {"stride_x", "stride_y"};
    for (int i = 0; i < 2; ++i) {
        const entry *e = dx_cfg_find(c, s, axes[i]);
        if (e && strtol(e->value, NULL, 10) != stride)
            return dx_cfg_fail(c, e->line, "%s=%s in %s: AlexeyAB strides that axis differently; "
                               "Debian's Darknet ignores %s and would use stride=%ld", axes[i],
                               e->value, s->type, axes[i], stride);
    }
    return 0;
}

/* [yolo] and [region] anchors: Darknet writes as many as are listed into 2*num slots. */
static int check_anchors(const cfg *c, const section *s, long num)
{
    const entry *e = dx_cfg_find(c, s, "anchors");
    if (!e)
        return dx_cfg_fail(c, s->line, "%s has no anchors= (Darknet would use 0.5 for all %ld "
                           "anchors)", s->type, num);
    if (dx_cfg_list_count(e->value) != 2 * num)
        return dx_cfg_fail(c, e->line, "anchors in %s lists %d numbers but num=%ld needs %ld (one "
                           "width and height per anchor)", s->type, dx_cfg_list_count(e->value),
                           num, 2 * num);
    return 0;
}

/* A tree file's entries must cover exactly the values the softmax tree runs over. */
static int check_tree(const cfg *c, const section *s, long long expected, const char *what)
{
    const entry *e = dx_cfg_find(c, s, "tree");
    int error = 0;
    long entries = e ? dx_cfg_count_lines(e->value, &error) : expected;
    if (entries == expected) return 0;
    return dx_cfg_fail(c, e->line, "tree=%s in %s has %ld entries but %s is %lld", e->value,
                       s->type, entries, what, expected);
}

/* The expected input of [yolo] and [region] (Darknet asserts it equals the actual one). */
static int check_inputs(const cfg *c, const section *s, int index, const shape *in,
                        long long expected, const char *formula)
{
    if (in->outputs == expected) return 0;
    return dx_cfg_fail(c, s->line, "layer %d %s expects %s = %lld inputs but layer %d %s outputs "
                       "%lld (%lldx%lldx%lld); set filters=%lld in the [convolutional] before it",
                       index, s->type, formula, expected, in->index, in->name, in->outputs, in->w,
                       in->h, in->c, in->h > 0 && in->w > 0 ? expected / (in->h * in->w) : 0);
}

/* Computes layer `index`'s output from its input `in` (the previous layer's output) and the
 * layers before it, and what it costs. */
static int dx_cfg_layer_shape(const cfg *c, const section *s, layer_type type, int index,
                              const shape *layers, const shape *in, shape *out, layer_cost *cost)
{
    long filters, size, stride, groups, padding, n, classes, num;
    long long oh, ow;
    *cost = (layer_cost){0, 0, 0, 0};
    switch (type) {
    case T_CONV: {
        if (positive(c, s, "filters", 1, &filters) || positive(c, s, "size", 1, &size) ||
            positive(c, s, "stride", 1, &stride) || positive(c, s, "groups", 1, &groups))
            return -1;
        if (conv_padding(c, s, size, &padding) || same_axis_strides(c, s, stride) ||
            need_image(c, s, index, in))
            return -1;
        if (in->c % groups || filters % groups)
            return dx_cfg_fail(c, line_of(c, s, "groups"), "groups=%ld in %s does not divide its "
                               "%lld input channels and filters=%ld", groups, s->type, in->c,
                               filters);
        if (size == 1 && (stride != 1 || padding != 0))
            return dx_cfg_fail(c, line_of(c, s, "size"), "size=1 with stride=%ld, padding=%ld in "
                               "%s: Debian's Darknet skips im2col for 1x1 kernels and would read "
                               "the input as if stride were 1 and padding 0", stride, padding,
                               s->type);
        if (window_out(c, s, in->h, 2LL * padding, size, stride, &oh) ||
            window_out(c, s, in->w, 2LL * padding, size, stride, &ow))
            return -1;
        set_image(out, oh, ow, filters);
        cost->weights = (double)in->c / groups * filters * size * size;
        cost->workspace = cost->reserved = (double)oh * ow * size * size * in->c / groups;
        cost->ops = cost->weights * oh * ow;
        return 0;
    }
    case T_DECONV: {
        if (positive(c, s, "filters", 1, &filters) || positive(c, s, "size", 1, &size) ||
            positive(c, s, "stride", 1, &stride) || conv_padding(c, s, size, &padding) ||
            need_image(c, s, index, in))
            return -1;
        set_image(out, (in->h - 1) * stride + size - 2LL * padding,
                   (in->w - 1) * stride + size - 2LL * padding, filters);
        if (out->h <= 0 || out->w <= 0)
            return dx_cfg_fail(c, line_of(c, s, "padding"), "padding %ld in %s leaves no output",
                               padding, s->type);
        cost->weights = (double)in->c * filters * size * size;
        cost->workspace = cost->reserved = (double)in->h * in->w * size * size * filters;
        cost->ops = cost->weights * in->h * in->w;
        return 0;
    }
    case T_LOCAL: {
        if (positive(c, s, "filters", 1, &filters) || positive(c, s, "size", 1, &size) ||
            positive(c, s, "stride", 1, &stride) || need_image(c, s, index, in))
            return -1;
        /* local_out_height counts pad as one pixel whatever its value, while im2col pads by it. */
        long pad = int_of(c, s, "pad", 0);
        if (pad != 0 && (pad != 1 || size != 3))
            return dx_cfg_fail(c, line_of(c, s, "pad"), "pad=%ld with size=%ld in %s: Debian's "
                               "Darknet sizes the output for pad=1, size=3 only and would mix up "
                               "positions", pad, size, s->type);
        if (window_out(c, s, in->h, 2 * pad, size, stride, &oh) ||
            window_out(c, s, in->w, 2 * pad, size, stride, &ow))
            return -1;
        set_image(out, oh, ow, filters);
        cost->weights = cost->ops = (double)in->c * filters * size * size * oh * ow;
        cost->workspace = (double)oh * ow * size * size * in->c;
        cost->reserved = cost->workspace / sizeof(float); /* make_local_layer counts bytes as floats */
        return 0;
    }
    case T_ACTIVATION:
    case T_LOGISTIC:
    case T_DROPOUT:
        if (type == T_DROPOUT && index == 0)
            return dx_cfg_fail(c, s->line, "[dropout] cannot be the first layer: Darknet shares "
                               "the output of the layer before it (and would read before the "
                               "start of the layers)");
        keep_shape(out, in);
        return 0;
    case T_BATCHNORM:
        /* forward_batchnorm_layer copies into l.x, which make_batchnorm_layer never allocates */
        return dx_cfg_fail(c, s->line, "[batchnorm] as a layer of its own crashes Debian's "
                           "Darknet in its forward (its l.x buffer is never allocated); use "
                           "batch_normalize=1 in the convolutional layer instead");
    case T_L2NORM:      /* normalizes over out_c: a flat input would pass through unnormalized */
    case T_NORMALIZATION:
        if (type == T_NORMALIZATION && positive(c, s, "size", 5, &size)) return -1;
        if (need_image(c, s, index, in)) return -1;
        keep_shape(out, in);
        if (type == T_NORMALIZATION) cost->ops = (double)out->outputs * size;
        return 0;
    case T_RNN:
    case T_GRU:
    case T_LSTM: {
        if (positive(c, s, "output", 1, &n)) return -1;
        const entry *hidden = type == T_RNN ? dx_cfg_find(c, s, "hidden") : NULL;
        if (hidden && strtol(hidden->value, NULL, 10) != n)
            return dx_cfg_fail(c, hidden->line, "hidden=%s in [rnn]: AlexeyAB's hidden state "
                               "size; Debian's Darknet ignores it and would use output=%ld",
                               hidden->value, n);
        set_flat(out, n, "Darknet gives recurrent layers no width/height/channels");
        cost->weights = cost->ops =
            (type == T_RNN ? 1.0 : type == T_GRU ? 3.0 : 4.0) * n * ((double)in->outputs + n);
        return 0;
    }
    case T_CRNN: {
        long hidden;
        if (positive(c, s, "output_filters", 1, &filters) ||
            positive(c, s, "hidden_filters", 1, &hidden) || need_image(c, s, index, in))
            return -1;
        if (in->h != in->w) /* parse_crnn passes (w, h) where make_crnn_layer expects (h, w) */
            return dx_cfg_fail(c, s->line, "layer %d [crnn] gets a %lldx%lld input: Debian's "
                               "Darknet swaps width and height for [crnn], so only square inputs "
                               "are computed right", index, in->w, in->h);
        set_image(out, in->h, in->w, filters);
        cost->weights = 9.0 * ((double)in->c * hidden + (double)hidden * hidden +
                               (double)hidden * filters);
        /* its 3x3 convolutions share the network's workspace, which make_crnn_layer does not
         * reserve anything of */
        cost->workspace = 9.0 * in->h * in->w * (in->c > hidden ? in->c : hidden);
        cost->ops = cost->weights * in->h * in->w;
        return 0;
    }
    case T_CONNECTED:
        if (positive(c, s, "output", 1, &n)) return -1;
        set_image(out, 1, 1, n);
        cost->weights = cost->ops = (double)in->outputs * n;
        return 0;
    case T_CROP: {
        long crop_h, crop_w;
        if (positive(c, s, "crop_height", 1, &crop_h) || positive(c, s, "crop_width", 1, &crop_w) ||
            need_image(c, s, index, in))
            return -1;
        if (crop_h > in->h || crop_w > in->w)
            return dx_cfg_fail(c, s->line, "crop %ldx%ld in %s is larger than its %lldx%lld input",
                               crop_w, crop_h, s->type, in->w, in->h);
        set_image(out, crop_h, crop_w, in->c);
        return 0;
    }
    case T_COST:
        set_flat(out, in->outputs, "Darknet gives [cost] no width/height/channels");
        return 0;
    case T_REGION: {
        long coords = int_of(c, s, "coords", 4);
        if (positive(c, s, "classes", 20, &classes) || positive(c, s, "num", 1, &num) ||
            need_image(c, s, index, in))
            return -1;
        if (coords < 4)
            return dx_cfg_fail(c, line_of(c, s, "coords"), "coords=%ld in %s: a box needs 4 "
                               "coordinates", coords, s->type);
        if (check_anchors(c, s, num) || check_tree(c, s, classes, "classes")) return -1;
        set_image(out, in->h, in->w, (double)num * (classes + coords + 1));
        return check_inputs(c, s, index, in, out->outputs, "w*h*num*(coords+classes+1)");
    }
    case T_YOLO: {
        if (positive(c, s, "classes", 20, &classes) || positive(c, s, "num", 1, &num) ||
            need_image(c, s, index, in) || check_anchors(c, s, num))
            return -1;
        const entry *mask = dx_cfg_find(c, s, "mask");
        long masked = mask ? dx_cfg_list_count(mask->value) : num;
        for (int i = 0; mask && i < masked; ++i) {
            double m = dx_cfg_list_at(mask->value, i);
            if (m < 0 || m >= num)
                return dx_cfg_fail(c, mask->line, "mask entry %g in %s is not an anchor index "
                                   "(0..%ld, num=%ld)", m, s->type, num - 1, num);
        }
        set_image(out, in->h, in->w, (double)masked * (classes + 5));
        return check_inputs(c, s, index, in, out->outputs, "w*h*masks*(classes+5)");
    }
    case T_ISEG: /* forward_iseg_layer reads net.truth, which network_predict sets to NULL */
        return dx_cfg_fail(c, s->line, "[iseg] crashes Debian's Darknet at inference: its "
                           "forward reads the training truth, which prediction leaves unset");
    case T_DETECTION: {
        long coords = int_of(c, s, "coords", 1), side;
        classes = int_of(c, s, "classes", 1);
        if (positive(c, s, "num", 1, &num) || positive(c, s, "side", 7, &side)) return -1;
        if (coords < 0 || classes < 0)
            return dx_cfg_fail(c, s->line, "coords=%ld, classes=%ld in %s must be >= 0", coords,
                               classes, s->type);
        double expected = (double)side * side * ((1 + coords) * num + classes);
        if (expected != (double)in->outputs)
            return dx_cfg_fail(c, s->line, "layer %d %s expects "
                               "side*side*((1+coords)*num+classes) = %.0f inputs but layer %d %s "
                               "outputs %lld", index, s->type, expected, in->index, in->name,
                               in->outputs);
        set_flat(out, in->outputs, "Darknet gives [detection] no width/height/channels");
        return 0;
    }
    case T_SOFTMAX:
        if (positive(c, s, "groups", 1, &groups)) return -1;
        if (in->outputs % groups)
            return dx_cfg_fail(c, line_of(c, s, "groups"), "groups=%ld in %s does not divide its "
                               "%lld inputs", groups, s->type, in->outputs);
        if (float_of(c, s, "temperature", 1) <= 0)
            return dx_cfg_fail(c, line_of(c, s, "temperature"), "temperature in %s must be > 0",
                               s->type);
        if (float_of(c, s, "spatial", 0) != 0)
            return dx_cfg_fail(c, line_of(c, s, "spatial"), "spatial in %s: only Darknet's GPU "
                               "code honours it; Debian's CPU Darknet would softmax over each "
                               "group instead", s->type);
        if (check_tree(c, s, in->outputs, "its input size")) return -1;
        set_flat(out, in->outputs, "Darknet gives [softmax] no width/height/channels");
        return 0;
    case T_MAXPOOL: {
        if (positive(c, s, "stride", 1, &stride) || positive(c, s, "size", stride, &size))
            return -1;
        padding = int_of(c, s, "padding", size - 1);
        /* forward_maxpool_layer starts windows at -padding/2: beyond 2*size-2 some windows would
         * hold no input at all and output -FLT_MAX. */
        if (padding < 0 || padding > 2 * size - 2)
            return dx_cfg_fail(c, line_of(c, s, "padding"), "padding=%ld in %s must be in 0..%ld "
                               "(2*size-2)", padding, s->type, 2 * size - 2);
        if (same_axis_strides(c, s, stride) || need_image(c, s, index, in) ||
            window_out(c, s, in->h, padding, size, stride, &oh) ||
            window_out(c, s, in->w, padding, size, stride, &ow))
            return -1;
        set_image(out, oh, ow, in->c);
        cost->ops = (double)out->outputs * size * size;
        return 0;
    }
    case T_REORG: {
        long reverse = int_of(c, s, "reverse", 0), flatten = int_of(c, s, "flatten", 0);
        long extra = int_of(c, s, "extra", 0);
        if (positive(c, s, "stride", 1, &stride) || need_image(c, s, index, in)) return -1;
        if (extra < 0)
            return dx_cfg_fail(c, line_of(c, s, "extra"), "extra=%ld in %s must be >= 0", extra,
                               s->type);
        if (extra) {
            set_flat(out, in->outputs + extra, "extra= makes [reorg] flat");
            return 0;
        }
        /* reorg_cpu and flatten move all w*h*c values: the output must hold exactly as many. */
        int spatial_ok = reverse || (in->w % stride == 0 && in->h % stride == 0);
        int channels_ok = (!reverse && flatten) || in->c % (stride * stride) == 0;
        if (!spatial_ok || !channels_ok)
            return dx_cfg_fail(c, line_of(c, s, "stride"), "stride=%ld in %s does not divide its "
                               "%lldx%lldx%lld input (%s)", stride, s->type, in->w, in->h, in->c,
                               spatial_ok ? "channels by stride*stride" : "width and height by stride");
        if (reverse) set_image(out, in->h * stride, in->w * stride, in->c / (stride * stride));
        else set_image(out, in->h / stride, in->w / stride, (double)in->c * stride * stride);
        return 0;
    }
    case T_AVGPOOL:
        if (need_image(c, s, index, in)) return -1;
        set_image(out, 1, 1, in->c);
        return 0;
    case T_ROUTE: {
        const entry *e = dx_cfg_find(c, s, "layers");
        if (!e)
            return dx_cfg_fail(c, s->line, "[route] needs layers= (Darknet would crash reading "
                               "it)");
        out->outputs = 0;
        for (int i = 0; i < dx_cfg_list_count(e->value); ++i) {
            int from;
            if (resolve(c, s, "layers", index, (long)dx_cfg_list_at(e->value, i), &from)) return -1;
            const shape *src = &layers[from];
            out->outputs += src->outputs;
            if (i == 0) {
                out->h = src->h;
                out->w = src->w;
                out->c = src->c;
                out->flat_why = "its input is flat";
            } else if (src->h == out->h && src->w == out->w) {
                out->c += src->c;
            } else {
                out->h = out->w = out->c = 0;
                out->flat_why = "its inputs differ in size";
            }
        }
        return 0;
    }
    case T_UPSAMPLE:
        stride = int_of(c, s, "stride", 2);
        if (stride == 0)
            return dx_cfg_fail(c, line_of(c, s, "stride"), "stride=0 in %s leaves no output (must "
                               "be > 0 to upsample, < 0 to downsample)", s->type);
        if (need_image(c, s, index, in)) return -1;
        if (stride > 0) {
            set_image(out, in->h * stride, in->w * stride, in->c);
            return 0;
        }
        if (in->w % -stride || in->h % -stride)
            return dx_cfg_fail(c, line_of(c, s, "stride"), "stride=%ld in %s does not divide its "
                               "%lldx%lld input", stride, s->type, in->w, in->h);
        set_image(out, in->h / -stride, in->w / -stride, in->c);
        return 0;
    case T_SHORTCUT: {
        const entry *e = dx_cfg_find(c, s, "from");
        int from;
        if (!e) return dx_cfg_fail(c, s->line, "[shortcut] needs from= (Darknet would crash "
                                   "reading it)");
        if (dx_cfg_list_count(e->value) > 1)
            return dx_cfg_fail(c, e->line, "from=%s in [shortcut]: AlexeyAB's shortcut over "
                               "several layers; Debian's Darknet reads only the first index and "
                               "would ignore the others", e->value);
        if (resolve(c, s, "from", index, strtol(e->value, NULL, 10), &from)) return -1;
        const shape *src = &layers[from];
        if (need_image(c, s, index, in) || need_image(c, s, index, src)) return -1;
        /* shortcut_cpu: assert(w1/w2 == h1/h2) and assert(w2/w1 == h2/h1), 1 = from, 2 = output */
        if (src->w / in->w != src->h / in->h || in->w / src->w != in->h / src->h)
            return dx_cfg_fail(c, e->line, "layer %d [shortcut]: from=%s (layer %d, "
                               "%lldx%lldx%lld) cannot be added to layer %d's %lldx%lldx%lld "
                               "output: Darknet asserts that width and height scale by the same "
                               "factor", index, e->value, from, src->w, src->h, src->c, index - 1,
                               in->w, in->h, in->c);
        keep_shape(out, in);
        return 0;
    }
    case T_NET: /* only the first section is the network */
        break;
    }
    return dx_cfg_fail(c, s->line, "a second %s section (Darknet would make an empty layer of it)",
                       s->type);
}

/* The network input from [net]. */
static int dx_cfg_net_shape(const cfg *c, const section *s, shape *in)
{
    static const char *const dims[] = {"height", "width", "channels"};
    long long value[3];
    int given = 0;
    for (int i = 0; i < 3; ++i) {
        value[i] = int_of(c, s, dims[i], 0);
        given += dx_cfg_find(c, s, dims[i]) != NULL;
        if (dx_cfg_find(c, s, dims[i]) && value[i] <= 0)
            return dx_cfg_fail(c, line_of(c, s, dims[i]), "%s=%lld in [net] must be > 0", dims[i],
                               value[i]);
    }
    long inputs = int_of(c, s, "inputs", 0), time_steps = int_of(c, s, "time_steps", 1);
    *in = (shape){.index = -1, .name = s->type};
    if (given > 0 && given < 3)
        return dx_cfg_fail(c, s->line, "[net] needs all of width, height and channels (or only "
                           "inputs=)");
    if (dx_cfg_find(c, s, "inputs") && inputs <= 0)
        return dx_cfg_fail(c, line_of(c, s, "inputs"), "inputs=%ld in [net] must be > 0", inputs);
    if (given == 0 && inputs <= 0)
        return dx_cfg_fail(c, s->line, "[net] sets neither width, height and channels nor inputs "
                           "(Darknet would exit)");
    if (time_steps <= 0)
        return dx_cfg_fail(c, line_of(c, s, "time_steps"), "time_steps=%ld in [net] must be > 0",
                           time_steps);
    if (given == 0) {
        set_flat(in, inputs, "[net] sets inputs= without width, height and channels");
    } else {
        set_image(in, value[0], value[1], value[2]);
        if (inputs && inputs != in->outputs)
            return dx_cfg_fail(c, line_of(c, s, "inputs"), "inputs=%ld in [net] differs from "
                               "height*width*channels = %lld", inputs, in->outputs);
    }
    if (4.0 * in->outputs > LAYER_MAX_BYTES)
        return dx_cfg_fail(c, s->line, "the network input of %lld values is too large",
                           in->outputs);
    return 0;
}

/* [net] options Darknet acts on while parsing, besides the input. */
static int dx_cfg_check_net_options(const cfg *c, const section *s)
{
    const entry *policy = dx_cfg_find(c, s, "policy");
    if (policy && strcmp(policy->value, "steps") == 0) {
        const entry *steps = dx_cfg_find(c, s, "steps"), *scales = dx_cfg_find(c, s, "scales");
        if (!steps || !scales)
            return dx_cfg_fail(c, policy->line, "policy=steps needs steps= and scales= in [net] "
                               "(Darknet would exit)");
        if (dx_cfg_list_count(scales->value) < dx_cfg_list_count(steps->value))
            return dx_cfg_fail(c, scales->line, "scales lists %d values but steps lists %d "
                               "(Darknet would crash reading the missing ones)",
                               dx_cfg_list_count(scales->value), dx_cfg_list_count(steps->value));
    }
    const entry *letter_box = dx_cfg_find(c, s, "letter_box");
    if (letter_box && strtol(letter_box->value, NULL, 10) == 0)
        dx_cfg_warn(c, letter_box->line, "letter_box=0: AlexeyAB's Darknet stretches images to "
                    "the network size; Debian's Darknet letterboxes them (keeps the aspect ratio "
                    "and pads)");
    return 0;
}

static const section_spec *dx_cfg_spec_of(const char *type)
{
    for (size_t i = 0; i < N_SECTIONS; ++i)
        if (strcmp(SECTIONS[i].name, type) == 0 ||
            (SECTIONS[i].alias && strcmp(SECTIONS[i].alias, type) == 0))
            return &SECTIONS[i];
    return NULL;
}

static int dx_cfg_unknown_section(const cfg *c, const section *s)
{
    if (in_word_list(ALEXEYAB_SECTIONS, s->type))
        return dx_cfg_fail(c, s->line, "%s is an AlexeyAB Darknet layer; Debian's Darknet cannot "
                           "run it", s->type);
    char known[400] = "";
    for (size_t i = 1; i < N_SECTIONS; ++i) {
        if (strlen(known) + strlen(SECTIONS[i].name) + 2 > sizeof known) break;
        strcat(known, " ");
        strcat(known, SECTIONS[i].name);
    }
    return dx_cfg_fail(c, s->line, "unknown section %s (Debian's Darknet would make an empty "
                       "layer of it); it knows%s", s->type, known);
}

static int check_budget(const cfg *c, const section *s, int index, const shape *out,
                        const layer_cost *cost)
{
    if (out->outputs <= 0)
        return dx_cfg_fail(c, s->line, "layer %d %s would output %lld values", index, s->type,
                           out->outputs);
    /* Per output: output and delta, and two more for batch norm's x and x_norm or maxpool's
     * indexes (counted for every layer: the estimate errs on the large side); weights and their
     * updates; the im2col workspace. */
    double bytes = 4.0 * (4.0 * out->outputs + 2.0 * cost->weights + cost->workspace);
    if (bytes > LAYER_MAX_BYTES)
        return dx_cfg_fail(c, s->line, "layer %d %s is too large: it would need %.3g GiB at batch "
                           "1 (%lld outputs, %.3g weights); the limit is %.3g GiB per layer", index,
                           s->type, bytes / (1024.0 * 1024 * 1024), out->outputs, cost->weights,
                           LAYER_MAX_BYTES / (1024.0 * 1024 * 1024));
    if (cost->ops > LAYER_MAX_OPS)
        return dx_cfg_fail(c, s->line, "layer %d %s is too large: it would take %.3g operations "
                           "per image (the limit is %.0e)", index, s->type, cost->ops,
                           LAYER_MAX_OPS);
    return 0;
}

/* Darknet allocates one im2col workspace for the network, as large as the largest any layer
 * reserves; [local] reserves a quarter of what it writes and [crnn] nothing, so they overflow
 * it unless another layer reserves enough. */
typedef struct {
    double reserved;          /* floats Darknet allocates */
    double needed;            /* the most any layer writes */
    const section *neediest;
    int neediest_index;
} shared_workspace;

static int check_network(cfg *c)
{
    const section *net = &c->sections[0];
    const section_spec *spec = dx_cfg_spec_of(net->type);
    if (!spec || spec->type != T_NET)
        return dx_cfg_fail(c, net->line, "not a Darknet cfg: the first section is %s, not [net] or "
                           "[network]", net->type);
    if (c->n_sections == 1) return dx_cfg_fail(c, net->line, "[net] is followed by no layers");
    shape input, *layers = calloc(c->n_sections - 1, sizeof *layers);
    if (!layers) return dx_cfg_fail(c, 0, "out of memory");
    shared_workspace workspace = {0, 0, NULL, 0};
    int failed = dx_cfg_check_keys(c, net, spec) || dx_cfg_net_shape(c, net, &input) ||
                 dx_cfg_check_net_options(c, net);
    for (size_t i = 1; !failed && i < c->n_sections; ++i) {
        const section *s = &c->sections[i];
        int index = (int)i - 1;
        layer_cost cost = {0, 0, 0, 0};
        layers[index] = (shape){.index = index, .name = s->type};
        spec = dx_cfg_spec_of(s->type);
        failed = !spec ? dx_cfg_unknown_section(c, s)
               : dx_cfg_check_keys(c, s, spec) ||
                 dx_cfg_layer_shape(c, s, spec->type, index, layers,
                                    index ? &layers[index - 1] : &input, &layers[index], &cost) ||
                 check_budget(c, s, index, &layers[index], &cost);
        workspace.reserved = fmax(workspace.reserved, cost.reserved);
        if (c->size && !failed) {
            c->size->outputs += layers[index].outputs;
            c->size->weights += cost.weights;
        }
        if (cost.workspace > workspace.needed)
            workspace = (shared_workspace){workspace.reserved, cost.workspace, s, index};
    }
    free(layers);
    if (c->size) c->size->workspace = workspace.reserved;
    if (!failed && workspace.needed > workspace.reserved)
        return dx_cfg_fail(c, workspace.neediest->line, "layer %d %s writes %.0f floats of im2col "
                           "workspace but Debian's Darknet allocates only %.0f for the network "
                           "(it under-reserves for [local] and [crnn]); its forward would "
                           "overflow the heap", workspace.neediest_index, workspace.neediest->type,
                           workspace.needed, workspace.reserved);
    return failed ? -1 : 0;
}

int dx_cfg_check(const char *cfg_path, char *warnings, size_t warnings_len, dx_error *err)
{
    return dx_cfg_check_size(cfg_path, warnings, warnings_len, NULL, err);
}

int dx_cfg_check_size(const char *cfg_path, char *warnings, size_t warnings_len, dx_cfg_size *size,
                      dx_error *err)
{
    cfg c = {.path = cfg_path, .warnings = warnings, .warnings_len = warnings_len, .err = err, .size = size};
    if (size) *size = (dx_cfg_size){0, 0, 0};
    /* A photo or the weights given where the cfg belongs (arguments in the wrong order) is named as
     * what it is, not as a cfg with odd line endings or bytes. */
    dx_file_kind kind = dx_sniff_file(cfg_path);
    if (dx_kind_is_image(kind) || kind == DX_KIND_WEIGHTS)
        return dx_cfg_fail(&c, 0, "this is %s, not a Darknet cfg", dx_kind_description(kind));
    size_t len;
    c.text = dx_cfg_read_text(cfg_path, &len, err);
    if (!c.text) return -1;
    int rc = dx_cfg_split_sections(&c, len) || check_network(&c) ? -1 : 0;
    free(c.text);
    free(c.entries);
    free(c.sections);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* The batch-1 copy                                                                           */

/* Whether the line [p, end) starts with `word` once blanks and tabs are ignored (as strip()
 * removes them); *after is where the rest of the line begins. */
static int starts_with_word(const char *p, const char *end, const char *word, const char **after)
{
    for (; p < end && *word; ++p) {
        if (*p == ' ' || *p == '\t') continue;
        if (*p != *word) return 0;
        ++word;
    }
    while (p < end && (*p == ' ' || *p == '\t')) ++p;
    *after = p;
    return *word == '\0';
}

static int sets_key(const char *line, const char *end, const char *key)
{
    const char *after;
    return starts_with_word(line, end, key, &after) && after < end && *after == '=';
}

static int is_net_header(const char *line, const char *end)
{
    const char *after;
    return (starts_with_word(line, end, "[net]", &after) ||
            starts_with_word(line, end, "[network]", &after)) && after == end;
}

static int is_section_header(const char *line, const char *end)
{
    const char *after;
    return starts_with_word(line, end, "[", &after);
}

/* The line starting at p, up to limit: returns its end (the '\n' or limit), *next the line after. */
static const char *line_end(const char *p, const char *limit, const char **next)
{
    const char *eol = memchr(p, '\n', (size_t)(limit - p));
    *next = eol ? eol + 1 : limit;
    return eol ? eol : limit;
}

static const char *const BATCH_KEYS[] = {"batch", "subdivisions"};

typedef struct {
    const char *body, *end; /* [net]'s lines, after its header */
    int has[2];             /* which of BATCH_KEYS it sets */
} net_lines;

static int locate_net(const char *text, size_t len, net_lines *net)
{
    *net = (net_lines){.end = text + len};
    for (const char *line = text, *next; line < text + len; line = next) {
        const char *end = line_end(line, text + len, &next);
        if (is_section_header(line, end)) {
            if (net->body) {
                net->end = line;
                return 0;
            }
            if (!is_net_header(line, end)) return -1;
            net->body = next;
        } else if (net->body) {
            for (int k = 0; k < 2; ++k) net->has[k] |= sets_key(line, end, BATCH_KEYS[k]);
        }
    }
    return net->body ? 0 : -1;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t done = write(fd, p, n);
        if (done < 0 && errno == EINTR) continue;
        if (done <= 0) return -1;
        p += done;
        n -= (size_t)done;
    }
    return 0;
}

/* Writes the text with [net]'s batch set to `batch` and subdivisions to 1: lines that set them
 * are replaced, missing ones are added right after the [net] line, all other bytes are kept. */
static int write_batch(int fd, const char *text, size_t len, const net_lines *net, int batch)
{
    char values[2][16];
    snprintf(values[0], sizeof values[0], "=%d", batch); /* BATCH_KEYS order: batch, subdivisions */
    snprintf(values[1], sizeof values[1], "=1");
    if (write_all(fd, text, (size_t)(net->body - text))) return -1;
    if (net->body[-1] != '\n' && write_all(fd, "\n", 1)) return -1;
    for (int k = 0; k < 2; ++k)
        if (!net->has[k] && (write_all(fd, BATCH_KEYS[k], strlen(BATCH_KEYS[k])) ||
                             write_all(fd, values[k], strlen(values[k])) || write_all(fd, "\n", 1)))
            return -1;
    for (const char *line = net->body, *next; line < net->end; line = next) {
        const char *end = line_end(line, net->end, &next);
        int replaced = -1;
        for (int k = 0; k < 2; ++k)
            if (sets_key(line, end, BATCH_KEYS[k])) replaced = k;
        if (replaced < 0) {
            if (write_all(fd, line, (size_t)(next - line))) return -1;
        } else if (write_all(fd, BATCH_KEYS[replaced], strlen(BATCH_KEYS[replaced])) ||
                   write_all(fd, values[replaced], strlen(values[replaced])) ||
                   (end < next && write_all(fd, "\n", 1))) {
            return -1;
        }
    }
    return write_all(fd, net->end, (size_t)(text + len - net->end));
}

int dx_cfg_batch1_copy(const char *cfg_path, char *path_out, size_t path_len, dx_error *err)
{
    return dx_cfg_batch_copy(cfg_path, 1, path_out, path_len, err);
}

int dx_cfg_batch_copy(const char *cfg_path, int batch, char *path_out, size_t path_len, dx_error *err)
{
    size_t len;
    char *text = dx_cfg_read_text(cfg_path, &len, err);
    if (!text) return -1;
    net_lines net;
    int fd = -1;
    if (locate_net(text, len, &net) != 0) {
        dx_set_error(err, "%s: not a Darknet cfg: the first section is not [net] or [network]",
                     cfg_path);
    } else if ((fd = memfd_create("darknet-explain-cfg", MFD_CLOEXEC)) < 0) {
        dx_set_error(err, "%s: cannot create the batch-%d copy: %s", cfg_path, batch, strerror(errno));
    } else if (write_batch(fd, text, len, &net, batch) != 0) {
        dx_set_error(err, "%s: cannot write the batch-%d copy: %s", cfg_path, batch, strerror(errno));
    } else {
        int n = snprintf(path_out, path_len, "/proc/self/fd/%d", fd);
        if (n > 0 && (size_t)n < path_len) {
            free(text);
            return fd;
        }
        dx_set_error(err, "%s: the path buffer is too small for the batch-%d copy's path", cfg_path, batch);
    }
    if (fd >= 0) close(fd);
    free(text);
    return -1;
}
