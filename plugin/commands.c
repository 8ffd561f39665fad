/* The commands that are not a per-image method (cli.h): one row each, in `darknet-explain -h`'s
 * order. */
#include <string.h>
#include "cli.h"
#include "concepts/dissect.h"
#include "counterfactual/cf_cli.h"
#include "concepts/tcav.h"
#include "distill/distill.h"
#include "eval/eval.h"
#include "eval/results.h"
#include "visualize/visualize.h"

static const dx_cli_command commands[] = {
    {"eval", dx_eval_check_args, dx_eval_cli, dx_eval_usage,
     "evaluation runs: metrics over an image list (and eval-merge)"},
    {"eval-merge", dx_eval_merge_check_args, dx_eval_merge_cli, NULL, NULL},
    {"counterfactual", dx_counterfactual_check_args, dx_counterfactual_cli, dx_counterfactual_usage,
     "the smallest input change that flips a class or removes a box"},
    {"distill", dx_distill_check_args, dx_distill_cli, dx_distill_usage,
     "a decision tree mimicking the classifier (global surrogate)"},
    {"visualize", dx_visualize_check_args, dx_visualize_cli, dx_visualize_usage,
     "activation maximisation: the image each class or channel wants"},
    {"tcav", dx_tcav_check_args, dx_tcav_cli, dx_tcav_usage,
     "concept activation vectors: TCAV scores of concepts (folders of images) per class"},
    {"dissect", dx_dissect_check_args, dx_dissect_cli, dx_dissect_usage,
     "network dissection: each unit's concept (IoU with concept masks)"},
};

const dx_cli_command *dx_cli_commands(size_t *n)
{
    *n = sizeof commands / sizeof *commands;
    return commands;
}

const dx_cli_command *dx_cli_command_named(int argc, char **argv)
{
    for (size_t k = 0; argc >= 1 && k < sizeof commands / sizeof *commands; ++k)
        if (!strcmp(argv[0], commands[k].name)) return &commands[k];
    return NULL;
}
