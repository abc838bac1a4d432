#include "petra/drift.h"

#include <math.h>

void petra_drift_init(petra_drift *d, double delta, double lambda, int min_samples) {
  *d = (petra_drift){.delta = delta, .lambda = lambda, .min_samples = min_samples};
}

int petra_drift_update(petra_drift *d, double x) {
  if (!isfinite(x)) return 0;
  d->n++;
  d->mean += (x - d->mean) / (double)d->n;
  d->cum += x - d->mean - d->delta;
  if (d->cum < d->min_cum) d->min_cum = d->cum;
  if (d->n >= (uint64_t)d->min_samples && d->cum - d->min_cum > d->lambda) {
    d->alarms++;
    uint64_t alarms = d->alarms;
    petra_drift_init(d, d->delta, d->lambda, d->min_samples);
    d->alarms = alarms;
    return 1;
  }
  return 0;
}
