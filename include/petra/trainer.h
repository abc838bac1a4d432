/* Incremental trainer: prequential (test-then-train) scoring of every fresh example, then
 * mini-batches that mix fresh examples with a reservoir replay sample; Adam; gradient
 * clipping; Page-Hinkley drift detection on the prequential loss; checkpoints that restore
 * bit-exact.
 *
 * The trainer borrows the model (the caller keeps it alive and frees it after the trainer)
 * and is used by one thread at a time. */
#ifndef PETRA_TRAINER_H
#define PETRA_TRAINER_H
#include <stddef.h>
#include <stdint.h>

#include "petra/error.h"
#include "petra/metrics.h"
#include "petra/model.h"
#include "petra/optim.h"
#include "petra/replay.h"

typedef struct petra_trainer_conf {
  int batch;             /* examples per optimizer step */
  float replay_frac;     /* share of a batch drawn from the replay buffer, [0, 1) */
  int replay_capacity;   /* examples kept for replay */
  petra_adam_conf adam;
  int metrics_window;    /* prequential metrics over the last N examples */
  double drift_delta, drift_lambda;
  int drift_min_samples;
  uint64_t seed;
  float l1, group_lasso; /* regularizers added to the loss (petra/regularize.h); 0 = off */
  int keep_zeros;        /* weights of the weight matrices (dense0.w, gru0.wih, gru0.whh,
                            head.w) that are zero when the trainer is created stay zero: the
                            sparsity mask of a recovery fine-tune */
} petra_trainer_conf;

typedef struct petra_trainer_stats {
  uint64_t examples;    /* fed through petra_trainer_feed */
  uint64_t steps;       /* optimizer steps */
  double last_loss;     /* mean training loss of the last step */
  double ema_loss;      /* exponential average of the prequential loss */
  uint64_t drift_alarms;
  int drift_since_read; /* set on an alarm, cleared by petra_trainer_take_drift */
  /* Non-finite guard: a batch whose loss or gradient norm is not finite is skipped (no
   * update); weights that come out of a step non-finite are rolled back to the last good
   * copy (kept every PETRA_TRAINER_GOOD_EVERY steps, with the optimizer's moments). */
  uint64_t skipped_nonfinite;
  uint64_t rollbacks;
  char last_nonfinite[96];  /* what the last skip or rollback saw ("" = none yet) */
} petra_trainer_stats;
#define PETRA_TRAINER_GOOD_EVERY 32

petra_trainer_conf petra_trainer_defaults(void);

typedef struct petra_trainer petra_trainer;

petra_trainer *petra_trainer_new(petra_model *m, const petra_trainer_conf *conf, petra_err *err);
void petra_trainer_free(petra_trainer *t);
petra_model *petra_trainer_model(petra_trainer *t);

/* Test-then-train: scores the n examples with the current weights (updating the
 * prequential metrics and the drift test), then queues them and runs an optimizer step
 * each time enough fresh examples are queued. Returns the number of steps run, or a negative
 * error (a malformed example: nothing of the call is used). */
int petra_trainer_feed(petra_trainer *t, int n, const float *examples);

/* One optimizer step on exactly these examples (offline training). Returns the batch loss
 * through loss (may be NULL). A non-finite loss or gradient skips the step (counted in the
 * stats; returns 0 with *loss the non-finite value). */
int petra_trainer_step(petra_trainer *t, int n, const float *examples, double *loss);

/* Changes the base learning rate (schedules, operator steering). */
void petra_trainer_set_lr(petra_trainer *t, float lr);
float petra_trainer_get_lr(const petra_trainer *t);

/* Adds examples to the replay buffer without training on them. */
void petra_trainer_remember(petra_trainer *t, int n, const float *examples);
petra_replay *petra_trainer_replay(petra_trainer *t);

const petra_trainer_stats *petra_trainer_get_stats(const petra_trainer *t);
const petra_metrics *petra_trainer_metrics(const petra_trainer *t);
/* ts models: the same prequential window for the naive forecast (each horizon step = the
 * window's last value), the bar a forecaster must clear; NULL for seq models. */
const petra_metrics *petra_trainer_naive_metrics(const petra_trainer *t);
/* Returns 1 once after each drift alarm. */
int petra_trainer_take_drift(petra_trainer *t);
/* Queued fresh examples not yet trained on. */
int petra_trainer_pending(const petra_trainer *t);

/* Scores n examples with model m into a fresh metrics object (hold-out evaluation). */
int petra_evaluate(petra_model *m, int n, const float *examples, petra_metrics *out);
/* The same for the naive forecast of a ts model (petra_model_naive_forecast): the bar its
 * metric must clear. PETRA_EINVAL for a seq model. */
int petra_evaluate_naive(const petra_model *m, int n, const float *examples, petra_metrics *out);

/* Checkpoint: model spec, weights, normalizer state, model RNG, optimizer state, replay
 * buffer, queued examples, counters and drift state, with a hash over all of it. *buf is
 * malloc'ed; the caller frees it. */
int petra_trainer_save(const petra_trainer *t, uint8_t **buf, size_t *len);
/* Rebuilds model and trainer from a checkpoint; conf gives the tunables (learning rate,
 * batch) — the state comes from the checkpoint. On success *model_out owns the new model. */
petra_trainer *petra_trainer_restore(const uint8_t *buf, size_t len, const petra_trainer_conf *conf,
                                     petra_model **model_out, petra_err *err);
#endif
