/* SVG plots written as text, with no scripts and no fonts but the reader's sans-serif: the
 * Pareto front of the evolution (petra evolve --svg, petrad's status page) and small time
 * series charts (the status page's history). Coordinates are always finite: NaN and
 * infinite values are left out, empty or flat inputs still give a valid frame. */
#ifndef PETRA_SVGPLOT_H
#define PETRA_SVGPLOT_H
#include "ctl.h"

typedef struct svg_point {
  double p99_us, metric, bytes;
  int champion;
} svg_point;

/* Metric against batch-1 p99 latency, one circle per point (area ~ bytes, the champion gold
 * and labelled), the latency budget as a dashed line (budget_us <= 0: none) and the fp32
 * model as a gray ring. */
void svg_pareto(sbuf *b, const svg_point *pts, int n, double budget_us, double base_metric, double base_p99_us,
                const char *metric_name);

/* A small line chart of v over t (seconds, ascending; shown relative to the last), titled,
 * with the newest value printed. w x h pixels. */
void svg_series(sbuf *b, const char *id, const char *title, const double *t_s, const double *v, int n,
                const char *fmt_value, int w, int h);
#endif
