/* What Debian's Darknet reads of each section type (the keys parse_* reads and their kinds, the
 * keys other forks give a meaning Debian's Darknet would ignore, the keys that matter only to
 * training), and the checks of every key's value against them: a value is accepted only when
 * Darknet reads all of it as written. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cfg/cfg.h"

typedef enum {
    K_INT, K_FLOAT, K_STRING,
    K_INT_LIST, K_FLOAT_LIST,
    K_ACTIVATION,  /* one of get_activation's names (others silently become relu) */
    K_COST,        /* one of get_cost_type's names (others silently become sse) */
    K_FILE,        /* a file Darknet opens while parsing and exits or crashes on when missing */
    K_REPLACED     /* batch, subdivisions: the batch-1 copy replaces them */
} value_kind;

typedef struct key_spec {
    const char *key;
    value_kind kind;
} key_spec;

/* A key Debian's Darknet does not read (or reads only to change how it loads weights) whose value
 * decides whether the network is the one the cfg describes: harmless when it equals `neutral`
 * (numerically for numbers), refused with `why` otherwise. */
#define NEVER ""          /* no value is harmless: values are never empty */
#define CHECKED_BELOW NULL /* harmless when it agrees with other keys, which shape.c checks */
typedef struct neutral_key {
    const char *key;
    value_kind kind;
    const char *neutral;
    const char *why; /* what Debian's Darknet would do instead */
} neutral_key;

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

int dx_cfg_check_keys(cfg *c, const section *s, const section_spec *spec)
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

int dx_cfg_check_net_options(const cfg *c, const section *s)
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

const section_spec *dx_cfg_spec_of(const char *type)
{
    for (size_t i = 0; i < N_SECTIONS; ++i)
        if (strcmp(SECTIONS[i].name, type) == 0 ||
            (SECTIONS[i].alias && strcmp(SECTIONS[i].alias, type) == 0))
            return &SECTIONS[i];
    return NULL;
}

int dx_cfg_unknown_section(const cfg *c, const section *s)
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
