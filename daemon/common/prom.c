#include "prom.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void prom_hist_init(prom_hist *h, const double *le, int n) {
  memset(h, 0, sizeof *h);
  h->n = n > PROM_MAX_BUCKETS ? PROM_MAX_BUCKETS : n;
  memcpy(h->le, le, sizeof(double) * (size_t)h->n);
}

void prom_hist_observe(prom_hist *h, double v) {
  if (!isfinite(v)) return;
  for (int i = 0; i < h->n; i++)
    if (v <= h->le[i]) {
      h->count[i]++;
      break;
    }
  h->total++;
  h->sum += v;
}

void prom_family(sbuf *b, const char *name, const char *type, const char *help) {
  sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void value(sbuf *b, double v) {
  if (isnan(v)) sb_put(b, "NaN", 3);
  else if (isinf(v)) sb_printf(b, "%s", v > 0 ? "+Inf" : "-Inf");
  else if (v == floor(v) && fabs(v) < 9e15) sb_printf(b, "%.0f", v);
  else sb_printf(b, "%.9g", v);
}

void prom_sample(sbuf *b, const char *name, const char *labels, double v) {
  if (labels && labels[0]) sb_printf(b, "%s{%s} ", name, labels);
  else sb_printf(b, "%s ", name);
  value(b, v);
  sb_put(b, "\n", 1);
}

void prom_label(char *labels, size_t n, const char *key, const char *v) {
  size_t k = strlen(labels);
  if (k && k + 1 < n) labels[k++] = ',';
  int w = snprintf(labels + k, n > k ? n - k : 0, "%s=\"", key);
  if (w < 0) return;
  k += (size_t)w;
  for (; *v && k + 3 < n; v++) {
    if (*v == '\\' || *v == '"') {
      labels[k++] = '\\';
      labels[k++] = *v;
    } else if (*v == '\n') {
      labels[k++] = '\\';
      labels[k++] = 'n';
    } else {
      labels[k++] = *v;
    }
  }
  if (k + 1 < n) labels[k++] = '"';
  if (k < n) labels[k] = 0;
}

void prom_histogram(sbuf *b, const char *name, const char *help, const prom_hist *h) {
  prom_family(b, name, "histogram", help);
  uint64_t cum = 0;
  char lab[64];
  for (int i = 0; i < h->n; i++) {
    cum += h->count[i];
    snprintf(lab, sizeof lab, "le=\"%.9g\"", h->le[i]);
    sb_printf(b, "%s_bucket{%s} %llu\n", name, lab, (unsigned long long)cum);
  }
  sb_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)h->total);
  sb_printf(b, "%s_sum ", name);
  value(b, h->sum);
  sb_printf(b, "\n%s_count %llu\n", name, (unsigned long long)h->total);
}
