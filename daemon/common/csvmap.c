#include "csvmap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int csvmap_number(const char *s, double *v) {
  char *end;
  *v = strtod(s, &end);
  return end != s && *end == 0 && isfinite(*v);
}

int csvmap_time_ms(const char *s, int64_t *ms) {
  int y, mo, d, h = 0, mi = 0, se = 0;
  /* 2016-07-01 00:00:00, or with slashes and short fields as some data sets write it
   * (1990/1/1 0:00) */
  char t[64];
  size_t k = 0;
  for (; s[k] && k < sizeof t - 1; k++) t[k] = s[k] == '/' ? '-' : s[k];
  t[k] = 0;
  if (strchr(t, '-') && sscanf(t, "%d-%d-%d %d:%d:%d", &y, &mo, &d, &h, &mi, &se) >= 3) {
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 60)
      return 0;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                    .tm_min = mi, .tm_sec = se};
    *ms = (int64_t)timegm(&tm) * 1000;
    return *ms >= 0;
  }
  double v;
  if (!csvmap_number(s, &v) || v < 0 || v > 9e15) return 0;
  *ms = v < 1e7 ? (int64_t)(v * 86400000.0) : (int64_t)v;
  return 1;
}

static int col(const csv_reader *r, const char *name, int *out, char *err, size_t n) {
  *out = csv_column(r, name);
  if (*out < 0) {
    snprintf(err, n, "no column '%s' in the CSV header", name);
    return -1;
  }
  return 0;
}

int csvmap_init(csvmap *m, const csvmap_opts *o, const csv_reader *r, char *err, size_t n) {
  memset(m, 0, sizeof *m);
  m->c_amt = m->c_lab = -1;
  if (!o->entity || !o->time) {
    snprintf(err, n, "events need --entity and --time columns");
    return -1;
  }
  if (col(r, o->entity, &m->c_ent, err, n) || col(r, o->time, &m->c_time, err, n) ||
      (o->amount && col(r, o->amount, &m->c_amt, err, n)) ||
      (o->label && col(r, o->label, &m->c_lab, err, n)))
    return -1;
  char buf[2048];
  if (o->categorical) {
    snprintf(buf, sizeof buf, "%s", o->categorical);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
      if (m->ncat == PETRA_MAX_FIELDS) {
        snprintf(err, n, "more than %d categorical fields", PETRA_MAX_FIELDS);
        return -1;
      }
      char *eq = strchr(t, '=');
      const char *c = eq ? eq + 1 : t;
      if (eq) *eq = 0;
      snprintf(m->cat_field[m->ncat], PETRA_NAME_MAX, "%s", t);
      if (col(r, c, &m->cat_col[m->ncat], err, n)) return -1;
      m->ncat++;
    }
  }
  if (o->numeric) {
    snprintf(buf, sizeof buf, "%s", o->numeric);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
      if (m->nnum == 64) {
        snprintf(err, n, "more than 64 numeric columns");
        return -1;
      }
      snprintf(m->num_name[m->nnum], PETRA_NAME_MAX, "%s", t);
      if (col(r, t, &m->num_col[m->nnum], err, n)) return -1;
      size_t l = strlen(m->numerics_csv);
      snprintf(m->numerics_csv + l, sizeof m->numerics_csv - l, "%s%s", m->nnum ? "," : "", t);
      m->nnum++;
    }
  }
  return 0;
}

int csvmap_event(csvmap *m, char **f, Petra__V1__Event *e, char *err, size_t n) {
  petra__v1__event__init(e);
  e->schema_version = 1;
  e->entity_id = f[m->c_ent];
  double v;
  if (!csvmap_time_ms(f[m->c_time], &e->event_time_ms)) {
    snprintf(err, n, "time '%s' is not a date or a number", f[m->c_time]);
    return -1;
  }
  if (m->c_amt >= 0 && !csvmap_number(f[m->c_amt], &e->amount)) {
    snprintf(err, n, "amount '%s' is not a number", f[m->c_amt]);
    return -1;
  }
  for (int i = 0; i < m->ncat; i++) {
    petra__v1__category__init(&m->cs[i]);
    m->cs[i].field = m->cat_field[i];
    /* any 32-bit integer: the feature state maps raw codes (features.categories) or refuses
     * one outside an index-mode vocabulary */
    if (!csvmap_number(f[m->cat_col[i]], &v) || v != floor(v) || v < -2147483647.0 || v > 2147483647.0) {
      snprintf(err, n, "%s code '%s' is not a 32-bit integer", m->cat_field[i], f[m->cat_col[i]]);
      return -1;
    }
    m->cs[i].code = (int32_t)v;
    m->cps[i] = &m->cs[i];
  }
  e->n_categories = (size_t)m->ncat;
  e->categories = m->cps;
  for (int i = 0; i < m->nnum; i++) {
    petra__v1__numeric__init(&m->ns[i]);
    m->ns[i].name = m->num_name[i];
    if (!csvmap_number(f[m->num_col[i]], &v)) {
      snprintf(err, n, "%s '%s' is not a number", m->num_name[i], f[m->num_col[i]]);
      return -1;
    }
    m->ns[i].value = (float)v;
    m->nps[i] = &m->ns[i];
  }
  e->n_numerics = (size_t)m->nnum;
  e->numerics = m->nps;
  if (m->c_lab >= 0 && f[m->c_lab][0]) {
    if (!csvmap_number(f[m->c_lab], &v)) {
      snprintf(err, n, "label '%s' is not a number", f[m->c_lab]);
      return -1;
    }
    e->has_label = 1;
    e->label = (float)v;
  }
  return 0;
}
