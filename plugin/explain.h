/* darknet-explain — the public C API.
 *
 * Open a Darknet model (cfg + weights, validated, loaded at batch 1 with Debian's libdarknet),
 * explain an image for a target class with a method, read the map and its metadata, write
 * the standard outputs, free.  Every function that can fail returns 0 on success and -1 on
 * failure with a one-line message in dx_error (naming the file and what is wrong); nothing
 * here calls exit() or prints.
 *
 *     dx_error err;
 *     dx_model *m = dx_open("tiny.cfg", "tiny.weights", NULL, &err);
 *     dx_request req; dx_request_init(&req);           // Grad-CAM, top-1 class
 *     dx_result res;
 *     if (m && dx_explain_file(m, "dog.jpg", &req, &res, &err) == 0) {
 *         ... res.map is res.h x res.w floats over the photo ...
 *         dx_write_outputs(m, &res, "dog-gradcam", NULL, &err);
 *         dx_result_free(&res);
 *     }
 *     dx_close(m);
 */
#ifndef DARKNET_EXPLAIN_H
#define DARKNET_EXPLAIN_H

#ifdef __cplusplus
extern "C" {
#endif

/* The library's interface: libdarknet-explain.so exports the functions declared with DX_API and
 * nothing else (its objects are compiled with -fvisibility=hidden; a test compares the two). */
#if defined(__GNUC__)
#define DX_API __attribute__((visibility("default")))
#else
#define DX_API
#endif

/* A photo or map: c planes of h rows of w floats (RGB planar, [0,1] for photos). The fields and
 * their order are those of every Darknet's `image` (pjreddie's, AlexeyAB's, hank-ai's
 * DarknetImage), so a Darknet user's image converts field by field:
 *     dx_image photo = {im.w, im.h, im.c, im.data};
 * This header includes no Darknet's header: the same API serves every backend. */
typedef struct dx_image {
    int w, h, c;
    float *data;
} dx_image;

/* A box as Darknet's `box`: centre and size (x, y, w, h), in the frame each use states. */
typedef struct dx_box {
    float x, y, w, h;
} dx_box;

#define DX_VERSION "0.1.0"
#define DX_TOPK 5
#define DX_MAX_STATS 8

typedef struct dx_model dx_model;

typedef struct dx_error {
    char msg[512];
} dx_error;

#define DX_DEFAULT_MAX_PIXELS 50000000L /* photos larger than 50 megapixels are refused */

typedef struct {
    const char *names; /* class names: a names/labels list or a .data file with names=; NULL: none.
                        * Refused when it names fewer classes than the model has (or its .data file
                        * says classes= another number) */
    int verbose;       /* let Darknet print its layer table and loading messages to stderr */
    long max_pixels;   /* photos with more pixels are refused before decoding (0: DX_DEFAULT_MAX_PIXELS) */
} dx_open_options;

/* Validates the cfg text (refusing cfgs Darknet would silently compute differently, e.g. an
 * unknown activation or [route] groups), loads a batch-1 copy, checks the weights file size
 * against the cfg exactly, loads the weights and installs the forward hooks.
 * weights == NULL keeps Darknet's random initialisation (for tests). */
DX_API dx_model *dx_open(const char *cfg, const char *weights, const dx_open_options *opt, dx_error *err);
DX_API void dx_close(dx_model *m);

/* The Darknet's own network (batch 1), for callers that include that Darknet's darknet.h (to run
 * its own forward beside the explanation, as the tests do). Its forward runs through the plugin's
 * hooks, so with oneDNN on (dx_set_onednn) its convolutions are oneDNN's. A caller that changes
 * parameters in place (weights, biases, batch-norm scales or statistics, or loads other weights)
 * calls dx_params_changed before the next forward or explanation. */
DX_API struct network *dx_network(dx_model *m);
/* Layer `layer`'s parameters (layer < 0: any layer's) changed in place: what the plugin derived
 * from them is rebuilt at the next use (oneDNN's folded, reordered weights; the batch-N copy used
 * for -batch scoring, which holds its own copy of the weights). */
DX_API void dx_params_changed(dx_model *m, int layer);
DX_API const char *dx_warnings(const dx_model *m);   /* cfg oddities Darknet ignores, one per line ("" if none) */
DX_API int dx_class_count(const dx_model *m);        /* outputs of the head (classes for classifiers) */
DX_API const char *dx_class_name(const dx_model *m, int cls); /* "class N" when no names were given */
/* The first class named `name` in the names list (-1 when none); *matches: how many have the name. */
DX_API int dx_class_from_name(const dx_model *m, const char *name, int *matches);
DX_API int dx_default_layer(const dx_model *m);      /* the layer CAM methods use by default, see README */
DX_API int dx_is_detector(const dx_model *m);        /* its output layer is [yolo], [region] or [detection] */
/* Per-layer forward timing through the hooks (off by default); the mean milliseconds of each
 * layer's Darknet forward since timing was switched on (-1 for no such layer). */
DX_API void dx_set_layer_timing(dx_model *m, int on);
DX_API double dx_layer_forward_ms(const dx_model *m, int layer);

/* Speed switches, all on by default; off only to measure against Darknet's own forward.
 * BLAS: Darknet's gemm_cpu is replaced by OpenBLAS's sgemm for every model in the process
 * (environment: DX_BLAS=0 turns it off). Fast layers: grouped/depthwise convolutions run the
 * plugin's direct forward instead of Darknet's per-group gemms (DX_FAST_LAYERS=0). */
DX_API void dx_set_blas(int on);
DX_API int dx_blas(void);
/* OpenBLAS's kernels for this CPU (plugin/blas_kernel.c): when OpenBLAS (a DYNAMIC_ARCH build,
 * Debian's) chose weaker kernels than the CPU runs and OPENBLAS_CORETYPE is unset, sets it to the
 * better core type and makes OpenBLAS choose again. Call it first, before any BLAS call and before
 * starting threads: darknet-explain, `darknet explain` and the Python package do. Returns that core
 * type, or NULL when nothing changed. */
DX_API const char *dx_blas_best_kernel(void);
DX_API void dx_set_fast_layers(dx_model *m, int on);
/* oneDNN: every convolution's forward (and the reverse pass's input gradient) through oneDNN
 * (Debian's libdnnl2, loaded at the first use; without it, Darknet's own): batch norm folded
 * into the weights, the activation fused; outputs equal Darknet's within float rounding, not bit
 * for bit. Off: Darknet's own forward, bit-identical to `darknet classifier predict` and
 * `darknet detector test` (DX_ONEDNN=0 in the environment, read as a model opens). A model's
 * batch copy and the copies made from it follow it. */
DX_API void dx_set_onednn(dx_model *m, int on);
/* Incremental inference: occlusion (at batch 1) recomputes in each layer only the outputs its
 * window reaches, and runs the rest of the network (from the first layer that mixes all positions)
 * whole (DX_INCREMENTAL=0 turns it off). */
DX_API void dx_set_incremental(dx_model *m, int on);

/* The methods. Each is one entry of the registry (methods/registry.c): a name for the command
 * line, the function that computes it, what it computes, and the options it takes. */
typedef enum {
    DX_METHOD_GRADCAM,  /* Grad-CAM at a layer: ReLU(sum_k mean(dS/dA_k) * A_k) */
    DX_METHOD_SALIENCY, /* vanilla gradient at the input: max over channels of |dS/dx| */
    DX_METHOD_INPUTXGRAD,    /* x ⊙ dS/dx, summed over channels (signed) */
    DX_METHOD_IG,            /* Integrated Gradients from a baseline, summed over channels (signed) */
    DX_METHOD_SMOOTHGRAD,    /* mean gradient over noisy inputs: max over channels of |mean| */
    DX_METHOD_SMOOTHGRAD2,   /* mean squared gradient over noisy inputs, max over channels */
    DX_METHOD_VARGRAD,       /* variance of the gradient over noisy inputs, max over channels */
    DX_METHOD_GUIDEDBP,      /* guided backpropagation: max over channels of |.| */
    DX_METHOD_DECONVNET,     /* DeconvNet: max over channels of |.| */
    DX_METHOD_GUIDEDGRADCAM, /* guided backprop map ⊙ Grad-CAM resized to the input */
    DX_METHOD_CAM,          /* CAM: the class's weights of a global-average-pool head */
    DX_METHOD_GRADCAMPP,    /* Grad-CAM++ (closed form for an exponential score) */
    DX_METHOD_XGRADCAM,     /* XGrad-CAM: gradients weighted by normalised activations */
    DX_METHOD_HIRESCAM,     /* HiResCAM: sum_k dS/dA_k ⊙ A_k */
    DX_METHOD_LAYERCAM,     /* LayerCAM: sum_k ReLU(dS/dA_k) ⊙ A_k */
    DX_METHOD_EIGENCAM,     /* Eigen-CAM: first principal component of A (class-agnostic) */
    DX_METHOD_EIGENGRADCAM, /* EigenGrad-CAM: first principal component of dS/dA ⊙ A */
    DX_METHOD_SCORECAM,     /* Score-CAM: softmax of the scores of the input masked by each channel */
    DX_METHOD_ABLATIONCAM,  /* Ablation-CAM: relative score drop with each channel zeroed */
    DX_METHOD_LRP,      /* Layer-wise Relevance Propagation, signed, summed over channels */
    DX_METHOD_DRISE,    /* D-RISE (detectors): masks weighted by the best proposal's similarity to the box */
    DX_METHOD_OCCLUSION,  /* score drop when a sliding window is replaced by a baseline */
    DX_METHOD_RISE,       /* score-weighted average of random smooth masks (Petsiuk et al.) */
    DX_METHOD_LIME,       /* weighted ridge regression on superpixels present/absent (Ribeiro et al.) */
    DX_METHOD_KERNELSHAP, /* Shapley values of superpixels by the Shapley kernel (Lundberg & Lee) */
    DX_METHOD_DEEPLIFT,   /* DeepLIFT's Rescale rule against -baseline, summed over channels (signed) */
    DX_METHOD_COUNT
} dx_method;

DX_API const char *dx_method_name(dx_method m);
DX_API const char *dx_method_help(dx_method m);   /* what it computes (CLI text; `<method> -h` adds its options) */
DX_API int dx_method_from_name(const char *name, dx_method *out); /* 0 on success */

typedef enum {
    DX_SCORE_LOGIT, /* the class's pre-softmax score (default: not saturated, as in the Grad-CAM paper) */
    DX_SCORE_PROB   /* the class's softmax probability */
} dx_score;

#define DX_MAX_LAYERS 8
#define DX_LAYERS_AUTO (-1) /* dx_request.n_layers for -layer auto: several resolutions feeding the target's head */
#define DX_ALL_BOXES (-1)

/* Detectors: what a box target explains, from the head's outputs at the box's cell and anchor
 * (see README "YOLO detectors"). */
typedef enum {
    DX_BOX_SCORE, /* objectness x class probability (default: Darknet's score of the box) */
    DX_BOX_CLASS, /* the class probability alone */
    DX_BOX_OBJ,   /* the objectness alone */
    DX_BOX_X,     /* the box centre's x, as a fraction of the network input's width */
    DX_BOX_Y,     /* ... its y, of the height */
    DX_BOX_W,     /* the box width, as a fraction of the network input's width */
    DX_BOX_H      /* ... its height */
} dx_box_target;

/* DeepLIFT's rule at the nonlinearities [-rule] (docs/methods.md). */
typedef enum {
    DX_DEEPLIFT_RESCALE,     /* (f(z) - f(z')) / (z - z') on the whole difference */
    DX_DEEPLIFT_REVEALCANCEL /* the differences' positive and negative parts apart (methods/revealcancel.c) */
} dx_deeplift_rule;

/* What replaces the pixels a perturbation method removes. */
typedef enum {
    DX_OCCLUDE_BLACK, /* zeros (RISE's image x mask) */
    DX_OCCLUDE_MEAN,  /* each channel's mean over the network input */
    DX_OCCLUDE_BLUR   /* the input blurred (Gaussian, sigma = 1/16 of its smaller side) */
} dx_occlude;

/* What to explain and how. Each method reads only the options it takes (`darknet-explain
 * <method> -h` lists them with their defaults, the values dx_request_init_for sets; the
 * command line's names are in brackets). */
typedef struct {
    dx_method method;
    /* the target */
    int class_id;   /* -1: the top-1 class [-class] */
    dx_score score; /* [-score] */
    /* CAM methods (and lrp: one layer) */
    int layers[DX_MAX_LAYERS]; /* the layers whose maps are averaged (each resized to the finest) [-layer] */
    int n_layers;   /* 0: the method's default layer; DX_LAYERS_AUTO: the target's multi-scale set (-layer auto) */
    int relu;       /* clamp the map at 0 [-relu] */
    int eigen_smooth; /* the map is the first principal component of the weighted activations */
    int aug_smooth; /* average over a horizontal flip and a 1.1x zoom (4 passes), mapped back */
    /* methods that draw random numbers or run many forward passes */
    unsigned long long seed; /* every random draw comes from it: same seed, same map */
    int batch;      /* inputs scored per forward pass */
    /* gradient methods */
    int steps;            /* Integrated Gradients: trapezoid intervals on the path */
    const char *baseline; /* ig's path start, deeplift's reference: "black", "blur", "noise" or an image file (NULL: black) */
    dx_deeplift_rule deeplift_rule; /* DeepLIFT [-rule] */
    int samples;          /* SmoothGrad family: noisy copies of the input; LIME, KernelSHAP: perturbed
                           * inputs (0: the method's default) */
    float noise;          /* SmoothGrad family: noise sd as a fraction of the input's range */
    /* LRP: a composite's name or a rules spec (docs/lrp.md); NULL, NULL: epsilon-plus-flat-nobias */
    const char *lrp_composite;
    const char *lrp_rules;
    /* detectors ([yolo]/[region] heads) */
    int box;        /* the detection to explain (0: the highest score, default); DX_ALL_BOXES */
    dx_box_target box_target;
    float thresh, hier, nms; /* as `darknet detector test`: .5, .5, .45 (nms 0: none) */
    int use_region; /* explain region[] (x, y, w, h in photo pixels) instead of a detection: */
    float region[4];/* the anchor and cell whose box overlaps it most, even below thresh */
    /* perturbation methods; sizes are network-input pixels */
    dx_occlude occlude; /* what removed pixels become [-occlude] */
    int window, stride; /* occlusion: square window and its step */
    int masks;          /* RISE, D-RISE: random masks (0: the method's default) */
    int cell;           /* RISE, D-RISE: mask grid cells per side (0: the method's default) */
    float keep_prob;    /* RISE, D-RISE: probability that a grid cell is kept [-p] */
    int segments;       /* LIME, KernelSHAP: SLIC superpixels asked for */
    float kernel_width; /* LIME: width of the kernel on cosine distance */
} dx_request;

/* Grad-CAM on the top-1 class; the options whose default differs between methods (-samples,
 * -masks, -cell) 0, which stands for the method's default. */
DX_API void dx_request_init(dx_request *req);

typedef struct {
    int cls;
    float prob; /* the model's output for that class (softmax probability for classifiers) */
} dx_prediction;

/* One detected box, decoded as Darknet's get_network_boxes(relative=1) + do_nms_sort, with
 * where it came from. A detection scoring above thresh for several classes is several boxes. */
typedef struct {
    dx_box bbox;            /* Darknet's box: centre and size as fractions of the photo */
    float x, y, w, h;    /* the same in the photo's pixels: top-left corner, width, height */
    int cls;
    float score;         /* objectness x class probability, as Darknet reports it */
    float objectness, class_prob;
    int layer;           /* the [yolo]/[region] layer */
    int anchor;          /* the anchor within that layer (0..n-1; [yolo]: the mask's slot) */
    int row, col;        /* the cell of the layer's grid */
} dx_detection;

typedef struct {
    dx_method method;
    /* The map over the photo: h x w floats, row-major, at the original image resolution
     * (the letterbox border removed, resized bilinearly). Raw values, not normalised. */
    float *map;
    int h, w;
    float map_min, map_max;
    /* The map where the method computes it, over the network input frame (letterboxed):
     * the layer's out_h x out_w for CAM methods, the network's h x w for gradient methods. */
    float *native;
    int native_h, native_w;
    int layer;            /* layer index of the native map (the finest of several); -1: the input */
    int class_id;
    dx_score score_kind;
    float logit, prob;    /* the target class's pre-softmax score and probability */
    dx_prediction top[DX_TOPK];
    int ntop;
    double ms_forward, ms_backward, ms_method; /* wall-clock milliseconds */
    int signed_map;       /* the map's sign is meaningful (drawn with a diverging colour map) */
    int relu;             /* the map was clamped at 0 (CAM methods and guided Grad-CAM with relu 1):
                           * all 0 means no positive evidence at the layer */
    /* What a method reports beside its map (e.g. Integrated Gradients' completeness delta),
     * written to the JSON under "method_stats". */
    struct {
        char name[32];
        double value;
    } stats[DX_MAX_STATS];
    int n_stats;
    dx_image photo;          /* a copy of the photo (RGB planar, [0,1]) for rendering */
    char image_path[1024];
    /* detectors: the box explained (prob = its score, logit = the box target's value) */
    int has_box;
    dx_detection box;
    dx_box_target box_target;
    /* The request as the method ran it: the method's defaults in place of 0 -samples, -masks,
     * -cell, no -baseline and lrp's missing composite (n_layers 0 stays: the default layer, in
     * `layer`). Its text values are the caller's request's (or static): valid while those are.
     * The JSON's "parameters" are its values of the options the method takes. */
    dx_request request;
} dx_result;

/* Loads the image (checked first: a missing, corrupt or non-image file is an error, never a
 * crash) and explains it. */
DX_API int dx_explain_file(dx_model *m, const char *image_path, const dx_request *req, dx_result *out,
                           dx_error *err);
/* The same for an image already in memory (Darknet's image: planar RGB in [0,1]). */
DX_API int dx_explain_image(dx_model *m, dx_image photo, const dx_request *req, dx_result *out, dx_error *err);
DX_API void dx_result_free(dx_result *r);

/* Detectors: letterbox, forward, and the boxes above req->thresh after NMS, highest score
 * first (*boxes malloc'd, NULL when *n is 0). */
DX_API int dx_detect_image(dx_model *m, dx_image photo, const dx_request *req, dx_detection **boxes, int *n,
                           dx_error *err);

/* Detectors: explains the box req->box, every box (DX_ALL_BOXES), or the region's best anchor
 * (req->use_region), all from one forward. No detection above thresh is not an error: n = 0.
 * dx_explain_image on a detector explains the single box req->box (an error if there is none).
 * The results hold one copy of the photo: results[0].photo owns it, the others' photo points to
 * it; free them together with dx_box_explanations_free. Each result's maps are its own: memory
 * grows with the boxes (dx_explain_boxes_each and dx_explain_boxes_write do not). */
typedef struct {
    dx_result *results;
    int n;
    int photo_w, photo_h;
    char image_path[1024];
    dx_request req; /* as the method ran it (as dx_result.request) */
    /* the highest objectness x class probability of any anchor, cell and class on the photo
     * (above thresh or not, before NMS) and its class: how far from thresh the best guess was */
    float best_score;
    int best_class;
} dx_box_explanations;

DX_API int dx_explain_boxes(dx_model *m, dx_image photo, const dx_request *req, dx_box_explanations *out,
                            dx_error *err);
DX_API int dx_explain_boxes_file(dx_model *m, const char *image_path, const dx_request *req,
                                 dx_box_explanations *out, dx_error *err);
/* Detectors: explains detection d's head, anchor, cell and class (req->box_target of them) on
 * photo, whatever its score there: d may come from another input or from the model before a
 * change of its weights. out->box is d as given; out->logit the target's value on photo. */
DX_API int dx_explain_detection(dx_model *m, dx_image photo, const dx_request *req, const dx_detection *d,
                                dx_result *out, dx_error *err);
DX_API void dx_box_explanations_free(dx_box_explanations *e);

/* Detectors, a box at a time: what dx_explain_boxes computes, handed to on_box (required) box
 * by box and freed after it, so that memory holds one box's maps whatever the number of boxes.
 * Except for the methods that score every box on each perturbed input (drise, occlusion, rise,
 * lime, kernelshap): their one pass makes every box's native map (native_h x native_w floats at
 * the network's resolution) before the first box is handed over; the maps over the photo are
 * still made one box at a time.
 * *out is filled as dx_explain_boxes fills it (n, photo_w, photo_h, req, best_score, best_class)
 * before the first box; out->results stays NULL. on_box(ctx, out, k, r, err) is called for
 * k = 0..out->n - 1 in order (never when n is 0) with r: box k's result, the same as
 * dx_explain_boxes' results[k] (map: h x w floats over the photo's pixels, native map, box,
 * values; ms_method and ms_backward: this box's, or a shared pass's share), except that r->photo
 * is the caller's photo itself (borrowed, not a copy) and r->image_path is empty. r is on_box's
 * during the call only: it may take r->map and r->native (setting them NULL; it frees them
 * then); the rest is freed when it returns. on_box must not use m (whose forward state the next
 * boxes need). A non-zero return stops the run: -1, with the message on_box left in err. On
 * failure *out is zeroed. */
typedef int (*dx_box_fn)(void *ctx, const dx_box_explanations *e, int k, dx_result *r, dx_error *err);
DX_API int dx_explain_boxes_each(dx_model *m, dx_image photo, const dx_request *req, dx_box_fn on_box, void *ctx,
                                 dx_box_explanations *out, dx_error *err);

/* The photo in a PNG is drawn png_width pixels wide, enlarged or shrunk (bilinear), its height in
 * proportion (at least 2, at most DX_PNG_HEIGHT_MAX pixels); 0: at the photo's own size. */
#define DX_PNG_WIDTH_MIN 16
#define DX_PNG_WIDTH_MAX 4096
#define DX_PNG_HEIGHT_MAX 16384

/* The PNG's colour scale ends at the percentile P of the map's mass (Captum's visualize_image_attr
 * with outlier_perc = 100 - P: the largest values holding 100 - P % of the total are drawn in
 * the end's colour); the .npy stay raw. */
#define DX_PNG_CLIP_DEFAULT 98.f /* for signed maps and maps at the input's resolution */
#define DX_PNG_CLIP_MIN 50.f

typedef struct {
    int png_width;     /* 0 or DX_PNG_WIDTH_MIN..DX_PNG_WIDTH_MAX (else an error); the .npy keep full resolution */
    float png_opacity; /* the map's weight over the photo, (0, 1]; 0: 0.45 */
    float png_clip;    /* DX_PNG_CLIP_MIN..100 (100: no clipping); 0: DX_PNG_CLIP_DEFAULT for signed maps
                        * and maps at the input's resolution, 100 for maps at a layer's (CAM methods) */
} dx_output_options;

/* Writes PREFIX.png (heat map over the photo, with a title and a colour bar), PREFIX.npy (the
 * map at image resolution, float32), PREFIX.raw.npy (the native map) and PREFIX.json (model,
 * image, target, layer, top-k, timings; per-layer forward times when layer timing is on). All or
 * nothing: files are written beside their final names (.part) and renamed at the end; on failure
 * none is left behind, and SIGINT, SIGTERM or SIGHUP meanwhile (where their action is the
 * default) remove the part files before the process dies of the signal. opt may be NULL. */
DX_API int dx_write_outputs(const dx_model *m, const dx_result *r, const char *prefix,
                            const dx_output_options *opt, dx_error *err);

/* Writes PATH: a panel of several explanations of the same photo side by side (each map
 * scaled on its own, its method's name under it), tiles opt->png_width wide (0: the photo's
 * width, at most 320); the title names the photo, the first one's class and probability (a
 * box's: its class, score and place). Written beside PATH and renamed: on failure nothing is left. */
DX_API int dx_write_panel(const dx_model *m, const dx_result *results, int n, const char *path,
                          const dx_output_options *opt, dx_error *err);
/* Detectors: PREFIX_boxK.png (box K's map with the box, its label and score), PREFIX_boxK.npy
 * (the map at image resolution), PREFIX_boxes.png (every box and its map in its own colour) and
 * PREFIX.json (the boxes, where each came from, each one's files; "boxes": [] when none was
 * detected). All or nothing, as dx_write_outputs. */
DX_API int dx_write_box_outputs(const dx_model *m, const dx_box_explanations *e, const char *prefix,
                                const dx_output_options *opt, dx_error *err);
/* Detectors: dx_explain_boxes_file and dx_write_box_outputs as one run, a box at a time (as
 * dx_explain_boxes_each: memory holds one box's maps whatever the number of boxes): the same
 * files, all or nothing. on_box (may be NULL) is called as dx_explain_boxes_each calls it, after
 * box k's files are staged (committed only when every box is written), with r->image_path set;
 * a non-zero return removes every file. *out: the header (out->results NULL); zeroed on failure. */
DX_API int dx_explain_boxes_write(dx_model *m, const char *image_path, const dx_request *req, const char *prefix,
                                  const dx_output_options *opt, dx_box_fn on_box, void *ctx, dx_box_explanations *out,
                                  dx_error *err);

/* ---- The string API, for bindings (python/darknet_explain) ----
 * Options are the command line's words, parsed by its own table with its checks and messages
 * ("-layer", "5", "-boxes", "all"); results are read through accessors: a binding depends on no
 * struct's layout. Errors are the line the CLI prints, without its "darknet-explain: " prefix.
 * Each *_parse error is a usage error (the CLI's exit status 2); the others, status 1. */

/* The option words of one call: argv[0..argc-1] (no method, no positional word). */
DX_API dx_model *dx_open_args(const char *cfg, const char *weights, int argc, const char *const *argv,
                              dx_error *err);          /* -names FILE, -verbose, -timing */
/* method: a dx_method_name; the request's text values are its own copies. *out: free with
 * dx_request_free. */
DX_API int dx_request_parse(const char *method, int argc, const char *const *argv, dx_request **out,
                            dx_error *err);
DX_API void dx_request_free(dx_request *req);
DX_API int dx_output_options_parse(int argc, const char *const *argv, dx_output_options **out,
                                   dx_error *err);     /* -png_width, -png_opacity, -png_clip */
DX_API void dx_output_options_free(dx_output_options *opt);
DX_API int dx_option_takes_value(const char *flag);    /* 1: "-flag VALUE", 0: a bare "-flag", -1: none such */
DX_API int dx_method_count(void);                      /* DX_METHOD_COUNT: dx_method_name(0..count-1) */
/* The command line itself (`python -m darknet_explain`; cli.c): argv[0] is the method name (or
 * -h); returns the process exit code: 0 success, 1 failure, 2 usage error. Errors are one line on
 * stderr. */
DX_API int dx_cli_run(const char *program, int argc, char **argv);

/* A photo to explain: loaded as dx_explain_file loads one, or Darknet's planes (c x h x w floats
 * in [0, 1], RGB, copied; `name` stands for the path in the JSON and the messages). */
typedef struct dx_photo dx_photo;
DX_API dx_photo *dx_photo_load(const char *path, dx_error *err);
DX_API dx_photo *dx_photo_from_planes(const float *chw, int c, int h, int w, const char *name, dx_error *err);
DX_API void dx_photo_free(dx_photo *p);

/* What the command line computes for one method: a classifier's class (dx_explain_image) or a
 * detector's box, boxes or region (dx_explain_boxes), as req says. x keeps a copy of req whose
 * text values point into req's words: free req after x. */
typedef struct dx_explanation dx_explanation;
DX_API int dx_explain_photo(dx_model *m, const dx_photo *p, const dx_request *req, dx_explanation **out,
                            dx_error *err);
DX_API int dx_explanation_count(const dx_explanation *x); /* results: 1, or the boxes explained (0: none) */
DX_API int dx_explanation_is_boxes(const dx_explanation *x);
DX_API const dx_result *dx_explanation_result(const dx_explanation *x, int k); /* NULL out of range */
/* Result k's name in the detector JSON's "id" and file names: "box<K>" or "region" */
DX_API const char *dx_explanation_box_id(const dx_explanation *x, int k, char *buf, int len);
/* Detectors: the best objectness x class probability on the photo, above -thresh or not */
DX_API float dx_explanation_best_score(const dx_explanation *x, int *cls);
/* The command line's files: dx_write_outputs or dx_write_box_outputs (opt may be NULL). */
DX_API int dx_explanation_write(const dx_model *m, const dx_explanation *x, const char *prefix,
                                const dx_output_options *opt, dx_error *err);
DX_API void dx_explanation_free(dx_explanation *x);

/* A result's member by its name in dx_result ("class_id", "prob", "logit", "layer", "h", "w",
 * "native_h", "native_w", "map_min", "map_max", "signed_map", "relu", "score_kind", "method",
 * "ntop", "n_stats", "has_box", "box_target", "ms_forward", "ms_backward", "ms_method"): 0, or -1
 * for no such name. Floats and ints are exact in a double. */
DX_API int dx_result_number(const dx_result *r, const char *name, double *value);
DX_API const float *dx_result_map(const dx_result *r);    /* h x w floats, row-major, the photo's pixels */
DX_API const float *dx_result_native(const dx_result *r); /* native_h x native_w floats, the network frame */
DX_API int dx_result_top(const dx_result *r, int k, int *cls, float *prob);  /* 0 for k < ntop, else -1 */
DX_API const char *dx_result_stat_at(const dx_result *r, int k, double *value); /* name, or NULL past n_stats */
DX_API const dx_detection *dx_result_box(const dx_result *r); /* the box explained; NULL for a class */

/* Detectors: the boxes dx_detect_image finds (req: -thresh, -hier, -nms). */
typedef struct dx_detections dx_detections;
DX_API int dx_detect_photo(dx_model *m, const dx_photo *p, const dx_request *req, dx_detections **out,
                           dx_error *err);
DX_API int dx_detections_count(const dx_detections *d);
DX_API const dx_detection *dx_detections_at(const dx_detections *d, int k); /* NULL out of range */
DX_API void dx_detections_free(dx_detections *d);
/* A detection's member by its name in dx_detection ("x", "y", "w", "h", "cls", "score",
 * "objectness", "class_prob", "layer", "anchor", "row", "col"): 0, or -1 for no such name. */
DX_API int dx_detection_number(const dx_detection *d, const char *name, double *value);
DX_API const char *dx_layer_type(const dx_model *m, int layer); /* Darknet's name of its type; NULL: no such layer */

/* dx_request_init for `method`, with the method's own defaults of the options whose default
 * differs between methods (-samples, -masks, -cell): what `darknet-explain <method>` starts from
 * and `<method> -h` prints. */
DX_API void dx_request_init_for(dx_request *req, dx_method method);

#ifdef __cplusplus
}
#endif
#endif
