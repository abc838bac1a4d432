/* The status page and its SVG plots (daemon/common/statuspage.c, svgplot.c): what an operator
 * must see is there (health and reasons, the champion, the Pareto plot, the history), text
 * from the daemon is escaped, nothing is fetched from elsewhere, and hostile numbers (NaN,
 * infinities, flat or empty series) never give a non-finite coordinate. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "statuspage.h"

static int count(const char *s, const char *what) {
  int n = 0;
  for (const char *p = s; (p = strstr(p, what)); p++) n++;
  return n;
}

static int finite_numbers_only(const char *s) {
  return !strstr(s, "nan") && !strstr(s, "inf") && !strstr(s, "NaN") && !strstr(s, "Inf");
}

TEST(pareto_plot_draws_each_finite_member_and_the_champion) {
  svg_point p[] = {{10, 0.91, 8000, 0}, {NAN, 0.9, 100, 0}, {5, 0.905, 3000, 1}, {7, INFINITY, 10, 0}, {12, 0.92, NAN, 0}};
  sbuf b;
  sb_init(&b);
  svg_pareto(&b, p, 5, 20, 0.915, 40, "auc");
  CHECK_EQ_INT(count(b.p, "class='member'"), 3);
  CHECK_EQ_INT(count(b.p, ">champion<"), 1);
  CHECK(strstr(b.p, ">budget<") != NULL);
  CHECK(strstr(b.p, ">fp32<") != NULL);
  CHECK(strstr(b.p, "auc vs p99") != NULL);
  CHECK_MSG(finite_numbers_only(b.p), "%s", b.p);
  sb_free(&b);
  /* nothing at all, and no baseline */
  sb_init(&b);
  svg_pareto(&b, NULL, 0, 0, NAN, NAN, "mse");
  CHECK(strstr(b.p, "</svg>") != NULL);
  CHECK_EQ_INT(count(b.p, "<circle"), 0);
  CHECK_MSG(finite_numbers_only(b.p), "%s", b.p);
  sb_free(&b);
}

TEST(series_charts_survive_empty_flat_and_hostile_input) {
  double t[] = {0, 10, 20, 30, 40}, flat[] = {5, 5, 5, 5, 5}, bad[] = {NAN, 1e30, -INFINITY, 2, NAN};
  sbuf b;
  sb_init(&b);
  svg_series(&b, "x", "empty", t, flat, 0, "%.1f", 300, 100);
  CHECK(strstr(b.p, "no data") != NULL);
  CHECK(!strstr(b.p, "<polyline"));
  svg_series(&b, "y", "flat", t, flat, 5, "%.1f", 300, 100);
  CHECK(strstr(b.p, "min 5.0, max 5.0") != NULL);
  svg_series(&b, "z", "hostile", t, bad, 5, "%.3g", 300, 100);
  CHECK(strstr(b.p, ">2<") != NULL); /* the newest finite value */
  CHECK(strstr(b.p, "last 40 s") != NULL);
  CHECK_MSG(finite_numbers_only(b.p), "%s", b.p);
  sb_free(&b);
}

TEST(page_shows_health_champion_plot_and_history_and_escapes_text) {
  const char *status =
      "{\"model_id\":\"card<model>\",\"role\":\"owner\",\"ha\":{\"owner\":\"host-a\"},\"version\":\"0.1.0\","
      "\"uptime_s\":120,\"events\":1000,\"events_per_s\":250.5,\"examples\":900,\"train_steps\":14,\"loss\":0.31,"
      "\"metric_name\":\"auc\",\"metric\":0.8123,\"dead_letters\":2,\"queue_depth\":3,"
      "\"partitions\":[{\"lag\":5},{\"lag\":7}],\"evolution_steps\":4,"
      "\"champion\":{\"genome\":\"dense0:keep=0.5,bits=8\",\"bytes\":4321,\"p50_us\":2.5,\"p99_us\":3.5},"
      "\"last_snapshot\":{\"version\":9,\"age_s\":3},\"last_checkpoint_age_s\":12}";
  const char *health = "{\"health\":\"degraded\",\"reasons\":[\"consumer lag over threshold: <script>x</script>\"]}";
  double t[] = {0, 10, 20}, m[] = {0.7, 0.75, 0.8}, by[] = {NAN, 5000, 4321}, p9[] = {NAN, 4, 3.5}, ra[] = {100, 200, 250};
  page_history h = {3, t, m, by, p9, ra};
  svg_point pts[] = {{3.5, 0.81, 4321, 1}, {6, 0.815, 9000, 0}};
  page_front f = {pts, 2, 20, 0.812, 40};
  sbuf b;
  sb_init(&b);
  status_page_html(&b, status, health, &h, &f, 5);
  CHECK(strstr(b.p, "<span id='health' class='badge degraded'>degraded</span>") != NULL);
  CHECK(strstr(b.p, "&lt;script&gt;x&lt;/script&gt;") != NULL);
  CHECK(!strstr(b.p, "<script"));
  CHECK(strstr(b.p, "card&lt;model&gt;") != NULL);
  CHECK(strstr(b.p, "<td id='champion'>dense0:keep=0.5,bits=8</td>") != NULL);
  CHECK(strstr(b.p, "<td id='champion_bytes'>4321</td>") != NULL);
  CHECK(strstr(b.p, "<td id='lag'>12</td>") != NULL);
  CHECK(strstr(b.p, "<td id='owner'>host-a</td>") != NULL);
  CHECK(strstr(b.p, "id='pareto'") != NULL);
  CHECK_EQ_INT(count(b.p, "class='member'"), 2);
  CHECK_EQ_INT(count(b.p, "class='series'"), 4);
  CHECK(strstr(b.p, "<meta http-equiv='refresh' content='5'>") != NULL);
  /* nothing from elsewhere: no scripts, no remote sources, no font downloads */
  CHECK(!strstr(b.p, "src=") && !strstr(b.p, "@import") && !strstr(b.p, "url("));
  CHECK_EQ_INT(count(b.p, "http"), count(b.p, "http://www.w3.org/2000/svg") + count(b.p, "http-equiv"));
  CHECK_MSG(finite_numbers_only(b.p), "non-finite number in page");
  sb_free(&b);
  /* unreadable status: a page that says so, never a crash */
  sb_init(&b);
  status_page_html(&b, "{\"model_id\":", health, NULL, NULL, 0);
  CHECK(strstr(b.p, "status unavailable") != NULL);
  CHECK(!strstr(b.p, "http-equiv"));
  sb_free(&b);
  /* no evolution, no history yet */
  sb_init(&b);
  status_page_html(&b, "{\"model_id\":\"m\"}", "{\"health\":\"ok\",\"reasons\":[]}", NULL, NULL, 5);
  CHECK(strstr(b.p, "no evolution step yet") != NULL);
  CHECK(strstr(b.p, "no history yet") != NULL);
  CHECK(strstr(b.p, "class='badge ok'") != NULL);
  sb_free(&b);
}
