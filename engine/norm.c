#include "petra/norm.h"

#include <math.h>

#include "petra/model.h"
#include <string.h>

#include "kernels.h"

void petra_layernorm_forward(int n, int d, const float *x, const float *gamma, const float *beta,
                             float *y, float *stats) {
  /* (in the kernel table: vectorized per instruction set, its sums in 16 partial results) */
  petra_kernels_best()->layernorm_rows(n, d, x, gamma, beta, y, stats);
}

void petra_layernorm_backward(int n, int d, const float *x, const float *gamma,
                              const float *stats, const float *dy, float *dx, float *dgamma,
                              float *dbeta) {
  for (int i = 0; i < n; i++) {
    const float *xr = x + (size_t)i * d, *dyr = dy + (size_t)i * d;
    float *dxr = dx + (size_t)i * d;
    float m = stats[2 * i], rstd = stats[2 * i + 1];
    /* xhat = (x−m)·rstd; dxhat = dy·gamma;
     * dx = rstd · (dxhat − mean(dxhat) − xhat · mean(dxhat · xhat)) */
    double s1 = 0, s2 = 0;
    for (int j = 0; j < d; j++) {
      float xh = (xr[j] - m) * rstd;
      float g = dyr[j] * gamma[j];
      s1 += g;
      s2 += g * xh;
      if (dgamma) dgamma[j] += dyr[j] * xh;
      if (dbeta) dbeta[j] += dyr[j];
    }
    float a = (float)(s1 / d), b = (float)(s2 / d);
    for (int j = 0; j < d; j++) {
      float xh = (xr[j] - m) * rstd;
      dxr[j] = rstd * (dyr[j] * gamma[j] - a - xh * b);
    }
  }
}

void petra_dropout_forward(int n, float p, petra_rng *rng, const float *x, float *y, float *mask) {
  if (p <= 0.0f) {
    if (y != x) memmove(y, x, sizeof(float) * n);
    for (int i = 0; i < n; i++) mask[i] = 1.0f;
    return;
  }
  float scale = 1.0f / (1.0f - p);
  for (int i = 0; i < n; i++) {
    mask[i] = petra_rng_uniform(rng) >= p ? scale : 0.0f;
    y[i] = x[i] * mask[i];
  }
}

void petra_dropout_backward(int n, const float *mask, const float *dy, float *dx) {
  for (int i = 0; i < n; i++) dx[i] = dy[i] * mask[i];
}

void petra_ts_window_norm(int norm, const float *win, int W, int C, int ch, float *shift, float *scale) {
  *shift = 0.0f;
  *scale = 1.0f;
  if (norm == PETRA_NORM_LAST) {
    *shift = win[(size_t)(W - 1) * C + ch];
  } else if (norm == PETRA_NORM_REVIN) {
    double m = 0, v = 0;
    for (int t = 0; t < W; t++) m += win[(size_t)t * C + ch];
    m /= W;
    for (int t = 0; t < W; t++) {
      double d = win[(size_t)t * C + ch] - m;
      v += d * d;
    }
    *shift = (float)m;
    *scale = (float)(sqrt(v / W) + 1e-5);
  }
}
