#include "statuspage.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "minijson.h"

static void esc(sbuf *b, const char *s) {
  for (; s && *s; s++) {
    switch (*s) {
      case '<': sb_put(b, "&lt;", 4); break;
      case '>': sb_put(b, "&gt;", 4); break;
      case '&': sb_put(b, "&amp;", 5); break;
      case '"': sb_put(b, "&quot;", 6); break;
      case '\'': sb_put(b, "&#39;", 5); break;
      default: sb_put(b, s, 1);
    }
  }
}

static const mj *path(const mj *o, const char *a, const char *b) {
  const mj *x = o ? mj_get(o, a) : NULL;
  return b && x ? mj_get(x, b) : x;
}

static double num(const mj *v) { return v && (v->type == MJ_NUM || v->type == MJ_BOOL) ? v->num : NAN; }
static const char *str(const mj *v) { return v && v->type == MJ_STR ? v->str : ""; }

/* One table row: label, value printed with fmt (a number), or "–" */
static void row_num(sbuf *b, const char *label, const char *id, const char *fmt, double v) {
  sb_printf(b, "<tr><th>%s</th><td id='%s'>", label, id);
  if (isfinite(v)) sb_printf(b, fmt, v);
  else sb_put(b, "–", 3);
  sb_printf(b, "</td></tr>\n");
}

static void row_str(sbuf *b, const char *label, const char *id, const char *v) {
  sb_printf(b, "<tr><th>%s</th><td id='%s'>", label, id);
  esc(b, v[0] ? v : "–");
  sb_printf(b, "</td></tr>\n");
}

void status_page_html(sbuf *b, const char *status_json, const char *health_json, const page_history *h,
                      const page_front *f, int refresh_s) {
  char err[256];
  mj_doc *sd = mj_parse(status_json, strlen(status_json), err, sizeof err);
  mj_doc *hd = sd ? mj_parse(health_json, strlen(health_json), err, sizeof err) : NULL;
  const mj *s = sd ? mj_root(sd) : NULL, *hl = hd ? mj_root(hd) : NULL;
  /* it goes into a class attribute and the title: only the known words */
  static const char *const known[] = {"ok", "degraded", "failing", "standby", "unknown"};
  const char *given = hl ? str(mj_get(hl, "health")) : "";
  int hi = 4;
  for (int i = 0; i < 4; i++)
    if (!strcmp(given, known[i])) hi = i;
  const char *health = known[hi];
  sb_printf(b, "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>\n");
  if (refresh_s > 0) sb_printf(b, "<meta http-equiv='refresh' content='%d'>\n", refresh_s);
  sb_printf(b, "<title>petrad ");
  esc(b, s ? str(mj_get(s, "model_id")) : "");
  sb_printf(b, ": %s</title>\n", health);
  sb_printf(b,
            "<style>body{font-family:sans-serif;margin:16px;color:#222;background:#fafafa}"
            "h1{font-size:20px;margin:0 0 8px}h2{font-size:15px;margin:16px 0 6px}"
            ".badge{display:inline-block;padding:2px 10px;border-radius:10px;color:#fff;font-weight:bold}"
            ".ok{background:#2e7d32}.degraded{background:#ef6c00}.failing{background:#c62828}"
            ".standby{background:#1565c0}.unknown{background:#757575}"
            "table{border-collapse:collapse;font-size:13px}th{text-align:left;font-weight:normal;color:#555;"
            "padding:2px 12px 2px 0}td{padding:2px 12px 2px 0;font-variant-numeric:tabular-nums}"
            ".grid{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}"
            "ul{margin:4px 0;padding-left:20px;font-size:13px}code{font-size:12px}"
            "#champion{max-width:560px;word-break:break-all;font-size:11px}</style>\n");
  sb_printf(b, "</head><body>\n");
  if (!s || !hl) {
    sb_printf(b, "<h1>petrad</h1><p id='health'>status unavailable: ");
    esc(b, err);
    sb_printf(b, "</p></body></html>\n");
    if (sd) mj_free(sd);
    if (hd) mj_free(hd);
    return;
  }
  sb_printf(b, "<h1>petrad — ");
  esc(b, str(mj_get(s, "model_id")));
  sb_printf(b, " <span id='health' class='badge %s'>%s</span></h1>\n", health, health);
  const mj *rs = mj_get(hl, "reasons");
  sb_printf(b, "<ul id='reasons'>");
  int nr = 0;
  for (const mj *r = rs && rs->type == MJ_ARR ? rs->child : NULL; r; r = r->next, nr++) {
    sb_printf(b, "<li>");
    esc(b, str(r));
    sb_printf(b, "</li>");
  }
  if (!nr) sb_printf(b, "<li>no reasons: everything within its thresholds</li>");
  sb_printf(b, "</ul>\n<div class='grid'>\n<div><h2>Model</h2><table>\n");
  row_str(b, "role", "role", str(mj_get(s, "role")));
  const mj *ha = mj_get(s, "ha");
  if (ha) row_str(b, "owner", "owner", str(mj_get(ha, "owner")));
  row_num(b, "uptime", "uptime", "%.0f s", num(mj_get(s, "uptime_s")));
  row_num(b, "events/s", "events_per_s", "%.0f", num(mj_get(s, "events_per_s")));
  row_num(b, "events", "events", "%.0f", num(mj_get(s, "events")));
  row_num(b, "examples", "examples", "%.0f", num(mj_get(s, "examples")));
  row_num(b, "train steps", "train_steps", "%.0f", num(mj_get(s, "train_steps")));
  row_num(b, "loss", "loss", "%.5f", num(mj_get(s, "loss")));
  char mlabel[64];
  snprintf(mlabel, sizeof mlabel, "prequential %s", str(mj_get(s, "metric_name")));
  row_num(b, mlabel, "metric", "%.4f", num(mj_get(s, "metric")));
  if (isfinite(num(mj_get(s, "skill")))) row_num(b, "skill vs naive", "skill", "%.3f", num(mj_get(s, "skill")));
  row_num(b, "dead letters", "dead_letters", "%.0f", num(mj_get(s, "dead_letters")));
  row_num(b, "queue", "queue", "%.0f", num(mj_get(s, "queue_depth")));
  double lag = 0;
  int np = 0;
  const mj *parts = mj_get(s, "partitions");
  for (const mj *p = parts && parts->type == MJ_ARR ? parts->child : NULL; p; p = p->next, np++)
    if (isfinite(num(mj_get(p, "lag")))) lag += num(mj_get(p, "lag"));
  char lab[64];
  snprintf(lab, sizeof lab, "lag (%d partition%s)", np, np == 1 ? "" : "s");
  row_num(b, lab, "lag", "%.0f", np ? lag : NAN);
  row_num(b, "last snapshot version", "snapshot_version", "%.0f", num(path(s, "last_snapshot", "version")));
  row_num(b, "last snapshot age", "snapshot_age", "%.0f s", num(path(s, "last_snapshot", "age_s")));
  row_num(b, "last checkpoint age", "checkpoint_age", "%.0f s", num(mj_get(s, "last_checkpoint_age_s")));
  sb_printf(b, "</table></div>\n<div><h2>Champion</h2><table>\n");
  const mj *ch = mj_get(s, "champion");
  const char *genome = str(mj_get(ch, "genome"));
  row_str(b, "genome", "champion", genome[0] ? genome : "fp32 (no compressed champion yet)");
  row_num(b, "bytes", "champion_bytes", "%.0f", num(mj_get(ch, "bytes")));
  row_num(b, "p50, batch 1", "champion_p50", "%.1f µs", num(mj_get(ch, "p50_us")));
  row_num(b, "p99, batch 1", "champion_p99", "%.1f µs", num(mj_get(ch, "p99_us")));
  row_num(b, "evolution steps", "evolution_steps", "%.0f", num(mj_get(s, "evolution_steps")));
  sb_printf(b, "</table></div>\n</div>\n<div class='grid'>\n<div><h2>Pareto front</h2>\n");
  if (f && f->n > 0)
    svg_pareto(b, f->pts, f->n, f->budget_us, f->base_metric, f->base_p99_us, str(mj_get(s, "metric_name")));
  else
    sb_printf(b, "<p id='pareto'>no evolution step yet</p>\n");
  sb_printf(b, "</div>\n<div><h2>History</h2>\n");
  if (h && h->n > 0) {
    svg_series(b, "hist_metric", str(mj_get(s, "metric_name")), h->t_s, h->metric, h->n, "%.4f", 420, 110);
    sb_printf(b, "<br>");
    svg_series(b, "hist_bytes", "champion bytes", h->t_s, h->bytes, h->n, "%.0f", 420, 110);
    sb_printf(b, "<br>");
    svg_series(b, "hist_p99", "champion p99 (µs)", h->t_s, h->p99_us, h->n, "%.1f", 420, 110);
    sb_printf(b, "<br>");
    svg_series(b, "hist_rate", "events/s", h->t_s, h->events_per_s, h->n, "%.0f", 420, 110);
  } else {
    sb_printf(b, "<p>no history yet</p>\n");
  }
  sb_printf(b, "</div>\n</div>\n<p style='font-size:11px;color:#777'>petrad %s; reloads every %d s; "
               "the same figures: <code>petractl status</code>, <a href='/metrics'>/metrics</a></p>\n",
            str(mj_get(s, "version")), refresh_s);
  sb_printf(b, "</body></html>\n");
  mj_free(sd);
  mj_free(hd);
}
