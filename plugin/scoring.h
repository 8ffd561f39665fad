/* scoring.c: many inputs scored, batched. */
#ifndef DX_SCORING_H
#define DX_SCORING_H
#include "explain.h"
#include "targets.h"

/* Runs the network on n inputs (the network frame, net->inputs floats each) and writes each
 * one's score, `batch` inputs per forward pass (a request's -batch; <= 1: one by one, on the
 * model itself; more: through its batch-N copy, m->batched, kept for the next call) (scoring.c).
 * Leaves the model's forward state on the last of them. */
int dx_score_inputs(dx_model *m, const dx_target *t, const float *inputs, int n, int batch, float *scores,
                    dx_error *err);
/* The same for n_targets targets on each input: scores[k * n_targets + j] is target j on input k. */
int dx_score_inputs_targets(dx_model *m, const dx_target *t, int n_targets, const float *inputs, int n,
                            int batch, float *scores, dx_error *err);
/* scores[j] = the score of target j of the current forward state */
void dx_target_scores(const dx_target *t, int n_targets, const dx_model *m, float *scores);
#endif
