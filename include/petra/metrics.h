/* Prequential (test-then-train) metrics over a sliding window of the most recent examples:
 * AUC (exact, binary), log loss, accuracy, MSE, MAE. */
#ifndef PETRA_METRICS_H
#define PETRA_METRICS_H
#include <stddef.h>
#include <stdint.h>

typedef struct petra_metrics petra_metrics;

/* classes: 1 = binary on logits, K > 1 = multi-class on K logits, 0 = regression with
 * `width` outputs per example. window: examples remembered. */
petra_metrics *petra_metrics_new(int classes, int width, int window);
void petra_metrics_free(petra_metrics *m);
void petra_metrics_reset(petra_metrics *m);
/* Adds one example: its outputs (logits or forecasts) and target (label, or width values). */
void petra_metrics_add(petra_metrics *m, const float *out, const float *target);
size_t petra_metrics_count(const petra_metrics *m); /* examples in the window */
uint64_t petra_metrics_total(const petra_metrics *m); /* examples ever added */

double petra_metrics_auc(const petra_metrics *m);     /* binary only; NaN otherwise or one class */
double petra_metrics_logloss(const petra_metrics *m); /* classification */
double petra_metrics_accuracy(const petra_metrics *m);
double petra_metrics_mse(const petra_metrics *m);     /* regression */
double petra_metrics_mae(const petra_metrics *m);
/* The target metric of a model with `classes` (1 binary, K > 1 multi-class, 0 regression):
 * "auc", "accuracy" or "mse". The one place the name is derived. */
const char *petra_metric_name_for(int classes);
/* The model's target metric: "auc" (binary), "accuracy" (multi-class), "mse" (regression). */
const char *petra_metrics_name(const petra_metrics *m);
double petra_metrics_value(const petra_metrics *m);
int petra_metrics_higher_is_better(const petra_metrics *m);
/* Binary: the standard deviation of the window's AUC if scores were unrelated to labels
 * (Mann-Whitney under the null, from the window's class counts); NaN otherwise. */
double petra_metrics_auc_null_sd(const petra_metrics *m);

/* Exact AUC of n scores against 0/1 labels, ties counted as one half. NaN when a class is
 * absent. */
double petra_auc(size_t n, const float *scores, const float *labels);
#endif
