#include "svgplot.h"

#include <math.h>
#include <stdio.h>

void svg_pareto(sbuf *b, const svg_point *pts, int n, double budget, double base_metric, double base_p99,
                const char *metric_name) {
  int have_base = isfinite(base_metric) && isfinite(base_p99) && base_p99 > 0;
  double xmax = have_base ? base_p99 * 1.1 : 1, ymin = INFINITY, ymax = -INFINITY, bmax = 1;
  if (isfinite(budget) && budget > 0) xmax = fmax(xmax, budget * 1.1);
  for (int i = 0; i < n; i++) {
    if (!isfinite(pts[i].p99_us) || !isfinite(pts[i].metric)) continue;
    xmax = fmax(xmax, pts[i].p99_us * 1.1);
    ymin = fmin(ymin, pts[i].metric);
    ymax = fmax(ymax, pts[i].metric);
    if (isfinite(pts[i].bytes)) bmax = fmax(bmax, pts[i].bytes);
  }
  if (have_base) {
    ymin = fmin(ymin, base_metric);
    ymax = fmax(ymax, base_metric);
  }
  if (!isfinite(ymin)) ymin = ymax = 0;
  ymin -= 0.005;
  ymax += 0.005;
  const double W = 640, H = 420, L = 70, B = 50, T = 30, R = 20;
#define X(v) (L + (v) / xmax * (W - L - R))
#define Y(v) (H - B - ((v) - ymin) / (ymax - ymin) * (H - B - T))
  sb_printf(b, "<svg xmlns='http://www.w3.org/2000/svg' width='%.0f' height='%.0f' viewBox='0 0 %.0f %.0f' "
               "font-family='sans-serif' font-size='12' id='pareto'>\n",
            W, H, W, H);
  sb_printf(b, "<rect width='100%%' height='100%%' fill='white'/>\n");
  sb_printf(b, "<text x='%.0f' y='18' text-anchor='middle' font-size='14'>Pareto front: %s vs p99 latency (area = bytes)</text>\n",
            W / 2, metric_name);
  sb_printf(b, "<line x1='%.0f' y1='%.0f' x2='%.0f' y2='%.0f' stroke='black'/>\n", L, H - B, W - R, H - B);
  sb_printf(b, "<line x1='%.0f' y1='%.0f' x2='%.0f' y2='%.0f' stroke='black'/>\n", L, T, L, H - B);
  for (int i = 0; i <= 4; i++) {
    double xv = xmax * i / 4, yv = ymin + (ymax - ymin) * i / 4;
    sb_printf(b, "<text x='%.1f' y='%.0f' text-anchor='middle'>%.0f</text>\n", X(xv), H - B + 16, xv);
    sb_printf(b, "<text x='%.0f' y='%.1f' text-anchor='end'>%.3f</text>\n", L - 6, Y(yv) + 4, yv);
  }
  sb_printf(b, "<text x='%.0f' y='%.0f' text-anchor='middle'>p99 latency, batch 1 (µs)</text>\n", (L + W - R) / 2, H - 12);
  sb_printf(b, "<text x='16' y='%.0f' transform='rotate(-90 16 %.0f)' text-anchor='middle'>%s</text>\n",
            (T + H - B) / 2, (T + H - B) / 2, metric_name);
  if (isfinite(budget) && budget > 0)
    sb_printf(b, "<line x1='%.1f' y1='%.0f' x2='%.1f' y2='%.0f' stroke='red' stroke-dasharray='4 3'/><text x='%.1f' y='%.0f' fill='red'>budget</text>\n",
              X(budget), T, X(budget), H - B, X(budget) + 4, T + 12);
  if (have_base)
    sb_printf(b, "<circle cx='%.1f' cy='%.1f' r='14' fill='none' stroke='gray'/><text x='%.1f' y='%.1f' fill='gray'>fp32</text>\n",
              X(base_p99), Y(base_metric), X(base_p99) + 16, Y(base_metric));
  for (int i = 0; i < n; i++) {
    if (!isfinite(pts[i].p99_us) || !isfinite(pts[i].metric)) continue;
    double r = 3 + 12 * sqrt((isfinite(pts[i].bytes) && pts[i].bytes > 0 ? pts[i].bytes : 0) / bmax);
    sb_printf(b, "<circle class='member' cx='%.1f' cy='%.1f' r='%.1f' fill='%s' fill-opacity='0.6' stroke='black'/>\n",
              X(pts[i].p99_us), Y(pts[i].metric), r, pts[i].champion ? "gold" : "steelblue");
    if (pts[i].champion)
      sb_printf(b, "<text x='%.1f' y='%.1f'>champion</text>\n", X(pts[i].p99_us) + r + 3, Y(pts[i].metric) - 3);
  }
  sb_printf(b, "</svg>\n");
#undef X
#undef Y
}

void svg_series(sbuf *b, const char *id, const char *title, const double *t, const double *v, int n,
                const char *fmt, int w, int h) {
  double lo = INFINITY, hi = -INFINITY, t0 = INFINITY, t1 = -INFINITY, last = NAN;
  for (int i = 0; i < n; i++) {
    if (!isfinite(v[i]) || !isfinite(t[i])) continue;
    lo = fmin(lo, v[i]);
    hi = fmax(hi, v[i]);
    t0 = fmin(t0, t[i]);
    t1 = fmax(t1, t[i]);
    last = v[i];
  }
  const double L = 8, R = 8, T = 22, B = 18;
  sb_printf(b, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' viewBox='0 0 %d %d' "
               "font-family='sans-serif' font-size='11' id='%s' class='series'>\n",
            w, h, w, h, id);
  sb_printf(b, "<rect width='100%%' height='100%%' fill='white' stroke='#ccc'/>\n");
  char val[64] = "no data";
  if (isfinite(last)) snprintf(val, sizeof val, fmt, last);
  sb_printf(b, "<text x='%.0f' y='15'>%s</text><text x='%.0f' y='15' text-anchor='end' font-weight='bold'>%s</text>\n",
            L, title, w - R, val);
  if (isfinite(lo)) {
    char a[64], z[64], span_text[32];
    snprintf(a, sizeof a, fmt, lo);
    snprintf(z, sizeof z, fmt, hi);
    if (t1 - t0 >= 120) snprintf(span_text, sizeof span_text, "last %.0f min", (t1 - t0) / 60);
    else snprintf(span_text, sizeof span_text, "last %.0f s", t1 - t0);
    if (hi - lo < 1e-12 * fmax(1, fabs(hi))) { /* flat: a line in the middle */
      lo -= 1;
      hi += 1;
    }
    double span = t1 - t0 > 0 ? t1 - t0 : 1, lx = 0, ly = 0;
    sb_printf(b, "<polyline fill='none' stroke='steelblue' stroke-width='1.5' points='");
    for (int i = 0; i < n; i++) {
      if (!isfinite(v[i]) || !isfinite(t[i])) continue;
      lx = L + (t[i] - t0) / span * (w - L - R);
      ly = h - B - (v[i] - lo) / (hi - lo) * (h - B - T);
      sb_printf(b, "%.1f,%.1f ", lx, ly);
    }
    sb_printf(b, "'/>\n<circle cx='%.1f' cy='%.1f' r='2.5' fill='steelblue'/>\n", lx, ly);
    sb_printf(b, "<text x='%.0f' y='%d' fill='gray'>%s</text><text x='%.0f' y='%d' text-anchor='end' fill='gray'>min %s, max %s</text>\n",
              L, h - 4, span_text, w - R, h - 4, a, z);
  }
  sb_printf(b, "</svg>\n");
}
