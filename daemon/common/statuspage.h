/* petrad's live status page (HTML at / on the metrics HTTP port): rendered from the same
 * status and health JSON the control socket answers with, plus the history of a few figures
 * and the Pareto front. Self-contained: inline CSS and SVG, no scripts, no fonts or anything
 * else from the network; it reloads itself (meta refresh). A pure function of its inputs. */
#ifndef PETRA_STATUSPAGE_H
#define PETRA_STATUSPAGE_H
#include "ctl.h"
#include "svgplot.h"

typedef struct page_history {
  int n;                   /* samples, oldest first */
  const double *t_s;       /* when (seconds, any epoch) */
  const double *metric, *bytes, *p99_us, *events_per_s;
} page_history;

typedef struct page_front {
  const svg_point *pts;
  int n;
  double budget_us, base_metric, base_p99_us;
} page_front;

/* status_json: the object petractl status prints (without the reply's "ok"/"command");
 * health_json: {"health":"ok|degraded|failing|standby","reasons":[...]}. Unreadable JSON gives
 * a page that says so. refresh_s: seconds between reloads (0 = none). */
void status_page_html(sbuf *out, const char *status_json, const char *health_json, const page_history *h,
                      const page_front *f, int refresh_s);
#endif
