/* Control protocol pieces: the command-line parser (a table of good and bad lines with the
 * error each must give), petractl's JSON reader (valid documents and a table of invalid
 * ones), and the Prometheus writers (label escaping, cumulative histogram buckets). */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "ctl.h"
#include "minijson.h"
#include "prom.h"

TEST(command_lines_parse) {
  struct {
    const char *line;
    ctl_cmd cmd;
    const char *arg;
  } good[] = {
      {"health", CTL_HEALTH, ""},          {"status\n", CTL_STATUS, ""},      {"  metrics \r\n", CTL_METRICS, ""},
      {"loglevel debug", CTL_LOGLEVEL, "debug"}, {"loglevel\twarn\n", CTL_LOGLEVEL, "warn"},
      {"pareto", CTL_PARETO, ""},          {"reload", CTL_RELOAD, ""},        {"help", CTL_HELP, ""},
  };
  for (unsigned i = 0; i < sizeof good / sizeof good[0]; i++) {
    ctl_request rq;
    char err[256] = "";
    CHECK_MSG(ctl_parse(good[i].line, strlen(good[i].line), &rq, err, sizeof err) == 0, "%s: %s", good[i].line, err);
    CHECK_EQ_INT(rq.cmd, good[i].cmd);
    CHECK_STR(rq.arg, good[i].arg);
  }
}

TEST(bad_command_lines_give_their_error) {
  char longline[400];
  memset(longline, 'a', sizeof longline - 1);
  longline[sizeof longline - 1] = 0;
  struct {
    const char *line, *expect;
  } bad[] = {
      {"", "empty command"},
      {"   \n", "empty command"},
      {"frobnicate", "unknown command 'frobnicate'"},
      {"Health", "unknown command"},
      {"status now", "status takes no arguments"},
      {"loglevel", "loglevel needs one argument"},
      {"loglevel a b", "loglevel needs one argument"},
      {"loglevel verbose", "'verbose' is not one of"},
      {"sta\x01tus", "byte 0x01 at column 4"},
      {"st\xc3\xa4tus", "byte 0xc3 at column 3"},
      {"health\rx", "byte 0x0d"},
      {longline, "longer than 254 bytes"},
  };
  for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ctl_request rq;
    char err[256] = "";
    CHECK_MSG(ctl_parse(bad[i].line, strlen(bad[i].line), &rq, err, sizeof err) == -1, "accepted: %s", bad[i].line);
    CHECK_MSG(strstr(err, bad[i].expect) != NULL, "'%s': got '%s', want '%s'", bad[i].line, err, bad[i].expect);
  }
}

TEST(json_reader_reads_what_petrad_writes) {
  sbuf b;
  sb_init(&b);
  sb_printf(&b, "{\"ok\":true,\"s\":");
  sb_json_str(&b, "quote \" back \\ nl \n tab \t bell \a é");
  sb_printf(&b, ",\"n\":");
  sb_json_num(&b, -1.5e-3);
  sb_printf(&b, ",\"nan\":");
  sb_json_num(&b, NAN);
  sb_printf(&b, ",\"big\":");
  sb_json_num(&b, 123456789012.0);
  sb_printf(&b, ",\"a\":[1,{\"x\":false},[]],\"e\":{}}");
  REQUIRE(!b.oom);
  char err[256];
  mj_doc *d = mj_parse(b.p, b.len, err, sizeof err);
  REQUIRE(d);
  const mj *r = mj_root(d);
  CHECK_EQ_INT(r->type, MJ_OBJ);
  CHECK_STR(mj_get(r, "s")->str, "quote \" back \\ nl \n tab \t bell \a é");
  CHECK_NEAR(mj_get(r, "n")->num, -1.5e-3, 1e-12);
  CHECK_EQ_INT(mj_get(r, "nan")->type, MJ_NULL);
  CHECK_NEAR(mj_get(r, "big")->num, 123456789012.0, 0);
  const mj *a = mj_get(r, "a");
  CHECK_EQ_INT(a->n, 3);
  CHECK_EQ_INT(a->child->next->type, MJ_OBJ);
  CHECK_EQ_INT(mj_get(a->child->next, "x")->type, MJ_BOOL);
  CHECK_EQ_INT(mj_get(r, "e")->n, 0);
  CHECK(mj_get(r, "missing") == NULL);
  mj_free(d);
  sb_free(&b);
}

TEST(bad_json_is_rejected) {
  const char *bad[] = {"",          "{",           "{\"a\":}",    "{\"a\" 1}", "[1,]",      "[1 2]",
                       "{\"a\":1,}", "\"abc",       "\"a\\qb\"",   "\"\\u12\"", "\"\\u0000\"", "01",
                       "1.",        "-",           "1e",          "tru",       "nul",       "{} x",
                       "\"a\nb\"",  "{1:2}",       "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"};
  for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char err[256] = "";
    mj_doc *d = mj_parse(bad[i], strlen(bad[i]), err, sizeof err);
    CHECK_MSG(d == NULL, "accepted: %s", bad[i]);
    CHECK_MSG(strstr(err, "JSON:") != NULL, "no message for %s", bad[i]);
    mj_free(d);
  }
}

TEST(prometheus_labels_and_histograms) {
  char lab[128] = "";
  prom_label(lab, sizeof lab, "topic", "a\"b\\c\nd");
  prom_label(lab, sizeof lab, "partition", "3");
  CHECK_STR(lab, "topic=\"a\\\"b\\\\c\\nd\",partition=\"3\"");
  static const double le[] = {0.1, 1, 10};
  prom_hist h;
  prom_hist_init(&h, le, 3);
  double obs[] = {0.05, 0.1, 0.5, 5, 50, NAN};
  for (int i = 0; i < 6; i++) prom_hist_observe(&h, obs[i]);
  CHECK_EQ_INT((int)h.total, 5); /* NaN is not an observation */
  sbuf b;
  sb_init(&b);
  prom_histogram(&b, "petra_x_seconds", "x", &h);
  CHECK(strstr(b.p, "petra_x_seconds_bucket{le=\"0.1\"} 2\n") != NULL);
  CHECK(strstr(b.p, "petra_x_seconds_bucket{le=\"1\"} 3\n") != NULL);
  CHECK(strstr(b.p, "petra_x_seconds_bucket{le=\"10\"} 4\n") != NULL);
  CHECK(strstr(b.p, "petra_x_seconds_bucket{le=\"+Inf\"} 5\n") != NULL);
  CHECK(strstr(b.p, "petra_x_seconds_sum 55.65\n") != NULL);
  CHECK(strstr(b.p, "petra_x_seconds_count 5\n") != NULL);
  CHECK(strncmp(b.p, "# HELP petra_x_seconds x\n# TYPE petra_x_seconds histogram\n", 58) == 0);
  sb_free(&b);
}

/* Scraped again and again across far more than 1,024 observations (the old ring's size), every
 * bucket only rises, _count equals the observations made, and +Inf equals _count: what
 * Prometheus' rate() needs. */
static int scrape(const prom_hist *h, double *v, int max) {
  sbuf b;
  sb_init(&b);
  prom_histogram(&b, "petra_y_seconds", "y", h);
  int n = 0;
  for (const char *p = b.p; (p = strstr(p, "petra_y_seconds_")) && n < max; p++) {
    const char *sp = strchr(p, ' ');
    if (!sp || strncmp(p, "petra_y_seconds_sum", 19) == 0) continue;
    v[n++] = strtod(sp + 1, NULL);
  }
  sb_free(&b);
  return n;
}

TEST(prometheus_histogram_counts_only_rise_past_1024_observations) {
  static const double le[] = {0.001, 0.01, 0.1, 1};
  prom_hist h;
  prom_hist_init(&h, le, 4);
  double prev[8] = {0}, cur[8];
  int scrapes = 0;
  for (int i = 1; i <= 5000; i++) {
    /* a spread of latencies, and a late burst of slow ones after the 1,024th */
    prom_hist_observe(&h, i > 3000 ? 0.5 : (double)(i % 7) * 0.004);
    if (i % 97 == 0 || i == 5000) {
      int n = scrape(&h, cur, 8);
      CHECK_EQ_INT(n, 6); /* 4 bounds, +Inf, _count */
      for (int k = 0; k < n; k++) CHECK_MSG(cur[k] >= prev[k], "scrape %d line %d fell: %g -> %g", scrapes, k, prev[k], cur[k]);
      for (int k = 1; k < 5; k++) CHECK(cur[k] >= cur[k - 1]); /* cumulative */
      CHECK_EQ_INT((long)cur[4], (long)cur[5]);
      CHECK_EQ_INT((long)cur[5], i);
      memcpy(prev, cur, sizeof cur);
      scrapes++;
    }
  }
  CHECK(scrapes > 50);
  CHECK_EQ_INT((long)prev[3] - (long)prev[2], 2000); /* the 2,000 slow ones in le=1 */
}
