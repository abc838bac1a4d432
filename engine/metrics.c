#include "petra/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Per example the window keeps: binary — logit and label; multi-class — loss, correct;
 * regression — squared and absolute error sums. */
struct petra_metrics {
  int classes, width, window;
  size_t head, count;
  uint64_t total;
  float *a, *b; /* window columns, meaning depends on the kind (see above) */
};

petra_metrics *petra_metrics_new(int classes, int width, int window) {
  if (window < 1) return NULL;
  petra_metrics *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->classes = classes;
  m->width = width > 0 ? width : 1;
  m->window = window;
  m->a = calloc((size_t)window, sizeof(float));
  m->b = calloc((size_t)window, sizeof(float));
  if (!m->a || !m->b) {
    petra_metrics_free(m);
    return NULL;
  }
  return m;
}

void petra_metrics_free(petra_metrics *m) {
  if (!m) return;
  free(m->a);
  free(m->b);
  free(m);
}

void petra_metrics_reset(petra_metrics *m) {
  m->head = m->count = 0;
  m->total = 0;
}

void petra_metrics_add(petra_metrics *m, const float *out, const float *target) {
  float a, b;
  if (m->classes == 1) {
    a = out[0];
    b = target[0];
  } else if (m->classes > 1) {
    int y = (int)target[0], best = 0;
    float mx = out[0];
    for (int j = 1; j < m->classes; j++)
      if (out[j] > mx) {
        mx = out[j];
        best = j;
      }
    double se = 0;
    for (int j = 0; j < m->classes; j++) se += exp((double)(out[j] - mx));
    a = (float)(mx + log(se) - out[y]); /* cross-entropy */
    b = best == y;
  } else {
    double se = 0, ae = 0;
    for (int j = 0; j < m->width; j++) {
      double d = (double)out[j] - target[j];
      se += d * d;
      ae += fabs(d);
    }
    a = (float)(se / m->width);
    b = (float)(ae / m->width);
  }
  m->a[m->head] = a;
  m->b[m->head] = b;
  m->head = (m->head + 1) % (size_t)m->window;
  if (m->count < (size_t)m->window) m->count++;
  m->total++;
}

size_t petra_metrics_count(const petra_metrics *m) { return m->count; }

double petra_metrics_auc_null_sd(const petra_metrics *m) {
  if (m->classes != 1) return NAN;
  double pos = 0;
  for (size_t i = 0; i < m->count; i++) pos += m->b[i] > 0.5f;
  double neg = (double)m->count - pos;
  if (pos < 1 || neg < 1) return NAN;
  return sqrt((pos + neg + 1) / (12 * pos * neg));
}
uint64_t petra_metrics_total(const petra_metrics *m) { return m->total; }

typedef struct scored {
  float s, y;
} scored;
static int cmp_scored(const void *x, const void *y) {
  float a = ((const scored *)x)->s, b = ((const scored *)y)->s;
  return (a > b) - (a < b);
}

double petra_auc(size_t n, const float *s, const float *y) {
  scored *v = malloc(sizeof(scored) * (n ? n : 1));
  if (!v) return NAN;
  for (size_t i = 0; i < n; i++) v[i] = (scored){s[i], y[i]};
  qsort(v, n, sizeof *v, cmp_scored);
  double rank_sum = 0, npos = 0;
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    while (j + 1 < n && v[j + 1].s == v[i].s) j++;
    double avg = (double)(i + j) / 2.0 + 1.0; /* 1-based average rank of the tie group */
    for (size_t k = i; k <= j; k++)
      if (v[k].y > 0.5f) {
        rank_sum += avg;
        npos++;
      }
    i = j + 1;
  }
  free(v);
  double nneg = (double)n - npos;
  if (npos == 0 || nneg == 0) return NAN;
  return (rank_sum - npos * (npos + 1) / 2.0) / (npos * nneg);
}

double petra_metrics_auc(const petra_metrics *m) {
  if (m->classes != 1) return NAN;
  return petra_auc(m->count, m->a, m->b);
}

double petra_metrics_logloss(const petra_metrics *m) {
  if (m->classes < 1 || m->count == 0) return NAN;
  double s = 0;
  for (size_t i = 0; i < m->count; i++) {
    if (m->classes == 1) {
      float z = m->a[i], y = m->b[i];
      s += fmaxf(z, 0) - z * y + log1pf(expf(-fabsf(z)));
    } else {
      s += m->a[i];
    }
  }
  return s / m->count;
}

double petra_metrics_accuracy(const petra_metrics *m) {
  if (m->classes < 1 || m->count == 0) return NAN;
  double s = 0;
  for (size_t i = 0; i < m->count; i++)
    s += m->classes == 1 ? ((m->a[i] > 0) == (m->b[i] > 0.5f)) : m->b[i];
  return s / m->count;
}

static double mean_of(const float *x, size_t n) {
  if (n == 0) return NAN;
  double s = 0;
  for (size_t i = 0; i < n; i++) s += x[i];
  return s / n;
}
double petra_metrics_mse(const petra_metrics *m) {
  return m->classes == 0 ? mean_of(m->a, m->count) : NAN;
}
double petra_metrics_mae(const petra_metrics *m) {
  return m->classes == 0 ? mean_of(m->b, m->count) : NAN;
}

const char *petra_metric_name_for(int classes) {
  return classes == 1 ? "auc" : classes > 1 ? "accuracy" : "mse";
}
const char *petra_metrics_name(const petra_metrics *m) { return petra_metric_name_for(m->classes); }
double petra_metrics_value(const petra_metrics *m) {
  return m->classes == 1 ? petra_metrics_auc(m)
         : m->classes > 1 ? petra_metrics_accuracy(m)
                          : petra_metrics_mse(m);
}
int petra_metrics_higher_is_better(const petra_metrics *m) { return m->classes >= 1; }
