#include "petra/loss.h"

#include <math.h>
#include <string.h>

static const char *const names[] = {"bce", "ce", "mse", "huber"};

const char *petra_loss_name(petra_loss l) {
  return (unsigned)l < sizeof names / sizeof names[0] ? names[l] : "?";
}

int petra_loss_parse(const char *name) {
  for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!strcmp(name, names[i])) return (int)i;
  return -1;
}

double petra_loss_eval(petra_loss l, int n, int k, const float *out, const float *target,
                       float *grad) {
  double total = 0;
  switch (l) {
    case PETRA_LOSS_BCE:
      for (int i = 0; i < n; i++) {
        float z = out[i], y = target[i];
        /* log(1+e^z) − z·y, computed without overflow */
        total += fmaxf(z, 0.0f) - z * y + log1pf(expf(-fabsf(z)));
        if (grad) grad[i] = (1.0f / (1.0f + expf(-z)) - y) / n;
      }
      return total / n;
    case PETRA_LOSS_CE:
      for (int i = 0; i < n; i++) {
        const float *z = out + (size_t)i * k;
        int y = (int)target[i];
        float mx = z[0];
        for (int j = 1; j < k; j++) mx = fmaxf(mx, z[j]);
        double se = 0;
        for (int j = 0; j < k; j++) se += exp((double)(z[j] - mx));
        double lse = mx + log(se);
        total += lse - z[y];
        if (grad) {
          float *g = grad + (size_t)i * k;
          for (int j = 0; j < k; j++) g[j] = (float)((exp(z[j] - lse) - (j == y)) / n);
        }
      }
      return total / n;
    case PETRA_LOSS_MSE: {
      size_t m = (size_t)n * k;
      for (size_t i = 0; i < m; i++) {
        float d = out[i] - target[i];
        total += (double)d * d;
        if (grad) grad[i] = 2.0f * d / (float)m;
      }
      return total / (double)m;
    }
    case PETRA_LOSS_HUBER: {
      size_t m = (size_t)n * k;
      for (size_t i = 0; i < m; i++) {
        float d = out[i] - target[i], a = fabsf(d);
        total += a <= 1.0f ? 0.5 * d * d : a - 0.5;
        if (grad) grad[i] = (a <= 1.0f ? d : (d > 0 ? 1.0f : -1.0f)) / (float)m;
      }
      return total / (double)m;
    }
  }
  return NAN;
}
