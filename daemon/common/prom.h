/* Prometheus text exposition (format 0.0.4) writing, and fixed-bucket histograms.
 * Names carry the petra_ prefix and their unit (_seconds, _bytes, _total for counters). */
#ifndef PETRA_PROM_H
#define PETRA_PROM_H
#include <stdint.h>

#include "ctl.h"

#define PROM_MAX_BUCKETS 16

typedef struct prom_hist {
  int n;                            /* finite upper bounds, ascending */
  double le[PROM_MAX_BUCKETS];
  uint64_t count[PROM_MAX_BUCKETS]; /* per bucket, not cumulative */
  uint64_t total;                   /* all observations (the +Inf bucket) */
  double sum;
} prom_hist;

void prom_hist_init(prom_hist *h, const double *le, int n);
void prom_hist_observe(prom_hist *h, double v);

/* # HELP and # TYPE lines; type is counter, gauge or histogram. */
void prom_family(sbuf *b, const char *name, const char *type, const char *help);
/* One sample; labels is "" or `key="value",...` built with prom_label. */
void prom_sample(sbuf *b, const char *name, const char *labels, double v);
/* Appends key="value" (escaped) to a label text of capacity n, comma-separated. */
void prom_label(char *labels, size_t n, const char *key, const char *value);
/* A whole histogram family: HELP, TYPE, cumulative _bucket lines, _sum and _count. */
void prom_histogram(sbuf *b, const char *name, const char *help, const prom_hist *h);
#endif
