/* Evaluating a compression genome on the live model: prune (petra_prune), fine-tune briefly
 * on replay examples (the genome's budget and rate), compile (petra_plan_build), measure the
 * metric on a hold-out window, the packed size, and batch-1 latency through a clock the
 * caller passes (the engine has no clock of its own): warm-up, repetitions, median and p99,
 * measured again when the spread is wide. Plugs into petra_evo as its evaluation function. */
#ifndef PETRA_CANDIDATE_H
#define PETRA_CANDIDATE_H
#include <stdint.h>

#include "petra/evolve.h"
#include "petra/model.h"
#include "petra/plan.h"

typedef double (*petra_clock_us_fn)(void *clock_ctx);

typedef struct petra_candidate {
  const petra_model *base;      /* current weights (not modified) */
  const float *tune;            /* fine-tune examples (e.g. the replay buffer) */
  int n_tune;
  const float *holdout;         /* recent examples to measure the metric on */
  int n_holdout;
  petra_clock_us_fn clock;      /* monotonic microseconds */
  void *clock_ctx;
  int latency_reps;             /* default 200 */
  /* called with 1 before each timed latency loop and 0 after it (NULL = none): a caller that
   * evaluates candidates beside other work can pause that work for the few milliseconds */
  void (*quiet)(void *ctx, int begin);
  void *quiet_ctx;
  uint64_t seed;
  /* outputs of the last evaluation, owned by the caller when keep_result is set */
  int keep_result;
  petra_model *model;           /* pruned and fine-tuned */
  petra_plan *plan;
} petra_candidate;

/* petra_evo_eval_fn: ctx is a petra_candidate. */
int petra_candidate_eval(void *ctx, const petra_genome *g, petra_fitness *fit);
/* Metric of a plan on examples: AUC (binary), accuracy (multi-class) or MSE (ts); NaN when
 * undefined (one class only). */
double petra_plan_metric(const petra_plan *p, int n, const float *examples);
#endif
