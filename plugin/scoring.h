/* scoring.c: many inputs scored, batched. */
#ifndef DX_SCORING_H
#define DX_SCORING_H
#include "explain.h"
#include "targets.h"

/* Runs the network on n inputs (the network frame, net->inputs floats each) and writes each
 * one's score, `batch` inputs per forward pass (a request's -batch; <= 1: one by one, on the
 * model itself and, with at least DX_SPREAD_MIN_INPUTS inputs per worker, on workers.c's copies
 * too (dx_worker_count, DX_THREADS), the same scores bit for bit; more: through its batch-N copy,
 * m->batched, kept for the next call) (scoring.c). Leaves the model's forward state on the last
 * of them. */
int dx_score_inputs(dx_model *m, const dx_target *t, const float *inputs, int n, int batch, float *scores,
                    dx_error *err);
/* The same for n_targets targets on each input: scores[k * n_targets + j] is target j on input k. */
int dx_score_inputs_targets(dx_model *m, const dx_target *t, int n_targets, const float *inputs, int n,
                            int batch, float *scores, dx_error *err);
/* Inputs per worker below which batch-1 scoring stays on the calling thread: a thread's start
 * and the imbalance of worker 0 scoring the last input alone are then not paid back. The
 * callers (dx_score_perturbed, Score-CAM, eval's scorer) hand DX_SCORE_CHUNK_PER_WORKER inputs
 * per worker to each call. */
#define DX_SPREAD_MIN_INPUTS 2
#define DX_SCORE_CHUNK_PER_WORKER 8
/* How many of n inputs a caller hands to each scoring call at the request's -batch: the batch
 * itself when above 1, else DX_SCORE_CHUNK_PER_WORKER per worker (dx_worker_count(n)); at most n. */
int dx_score_chunk(int batch, int n);
/* Writes the n_scores scores of m's current forward state into scores. Called from the workers'
 * threads at once, each on its own model: it must only read m and ctx. */
typedef void (*dx_read_scores_fn)(void *ctx, const dx_model *m, float *scores);
/* The batch-1 scoring of dx_score_inputs_targets for any reader: input k's forward, then
 * read(ctx, model, scores + k * n_scores), the inputs spread over the workers as said above. */
int dx_score_inputs_read(dx_model *m, dx_read_scores_fn read, void *ctx, int n_scores, const float *inputs, int n,
                         float *scores, dx_error *err);
/* scores[j] = the score of target j of the current forward state */
void dx_target_scores(const dx_target *t, int n_targets, const dx_model *m, float *scores);
#endif
