/* Page-Hinkley test for an upward shift in the mean of a stream (here: the prequential loss).
 * Alarm when the cumulative deviation above the running mean, less its running minimum,
 * exceeds lambda; delta is the magnitude of change tolerated. */
#ifndef PETRA_DRIFT_H
#define PETRA_DRIFT_H
#include <stdint.h>

typedef struct petra_drift {
  double delta, lambda;
  int min_samples;
  uint64_t n;
  double mean, cum, min_cum;
  uint64_t alarms;
} petra_drift;

void petra_drift_init(petra_drift *d, double delta, double lambda, int min_samples);
/* Adds one observation; returns 1 on an alarm (and restarts the test), else 0. */
int petra_drift_update(petra_drift *d, double x);
#endif
