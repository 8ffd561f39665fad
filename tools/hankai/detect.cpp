/* hankai-detect: hank-ai's Darknet's own detection of one photo, for the hank-ai backend's parity
 * tests (tests/hankai/): what its detector test (src-lib/detector.cpp test_detector) computes, one
 * line per (box, class) with a score above thresh after its NMS:
 *   CLASS X Y W H SCORE        (box centre and size relative to the photo, %.9g)
 *   hankai-detect CFG WEIGHTS PHOTO THRESH NMS
 * The network is parsed at batch 1 with inference allocation and its weights loaded without
 * fuse_conv_batchnorm (which the detector runs): the forward the plugin runs, so that the two
 * agree to rounding. The photo is decoded, stretched or letterboxed ([net] letter_box=1) by the
 * fork's own functions. The fork's own messages go to stderr. Exit status: 0, or 2 usage (the fork itself ends the process on bad
 * files). Built by make BACKEND=hankai (build-hankai/hankai-detect). */
#include <cstdio>
#include <cstdlib>
#include <unistd.h>
#include "darknet_internal.hpp"

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: hankai-detect CFG WEIGHTS PHOTO THRESH NMS\n");
        return 2;
    }
    const float thresh = strtof(argv[4], nullptr), nms = strtof(argv[5], nullptr);
    FILE *out = fdopen(dup(1), "w"); /* the lines; the fork prints on stdout (std::cout) too */
    if (!out) return 1;
    dup2(2, 1);
    Darknet::Network net = parse_network_cfg_custom(argv[1], 1, 1);
    load_weights(&net, argv[2]);
    Darknet::Image im = Darknet::load_image(argv[3], 0, 0, net.c);
    Darknet::Image sized = net.letter_box ? Darknet::letterbox_image(im, net.w, net.h) : Darknet::resize_image(im, net.w, net.h);
    network_predict(net, sized.data);
    int total = 0;
    Darknet::Detection *dets = get_network_boxes(&net, im.w, im.h, thresh, .5f, nullptr, 1, &total, net.letter_box);
    const Darknet::Layer &last = net.layers[net.n - 1];
    if (last.nms_kind == DEFAULT_NMS) do_nms_sort(dets, total, last.classes, nms);
    else diounms_sort(dets, total, last.classes, nms, last.nms_kind, last.beta_nms);
    for (int d = 0; d < total; ++d)
        for (int k = 0; k < last.classes; ++k)
            if (dets[d].prob[k] > 0)
                fprintf(out, "%d %.9g %.9g %.9g %.9g %.9g\n", k, dets[d].bbox.x, dets[d].bbox.y, dets[d].bbox.w, dets[d].bbox.h,
                       dets[d].prob[k]);
    fclose(out);
    free_detections(dets, total);
    Darknet::free_image(sized);
    Darknet::free_image(im);
    free_network(net);
    return 0;
}
