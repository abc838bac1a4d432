#include "quant.h"

#include "block.h"
#include "core.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

int petra_layer_of(const char *tensor, const char *stem, const char *const *parts, char *layer, size_t n) {
  size_t k = strlen(stem);
  if (strncmp(tensor, stem, k)) return 0;
  const char *d = tensor + k, *e = d;
  while (*e >= '0' && *e <= '9') e++;
  if (e == d || e - d > 2 || *e != '.') return 0;
  for (int i = 0; parts[i]; i++)
    if (!strcmp(e + 1, parts[i])) {
      if ((size_t)(e - tensor) >= n) return 0;
      memcpy(layer, tensor, (size_t)(e - tensor));
      layer[e - tensor] = 0;
      return 1;
    }
  return 0;
}

int petra_weight_matrix_layer(const char *tensor, char *layer, size_t n) {
  static const char *const core_parts[] = {"wih", "whh", NULL};
  const char *whole = !strcmp(tensor, "dense0.w") ? "dense0" : !strcmp(tensor, "head.w") ? "head" : NULL;
  if (whole) {
    if (strlen(whole) >= n) return 0;
    strcpy(layer, whole);
    return 1;
  }
  for (int i = 0; i < petra_n_cores; i++)
    if (petra_layer_of(tensor, petra_cores[i].key, core_parts, layer, n)) return 1;
  return petra_block_weight_layer(tensor, layer, n);
}

/* Quantizes n weights x with levels ±lim to q; returns the scale, adds Σ q to *sum. */
static float quant_span(const float *x, int n, float lim, int8_t *q, int32_t *sum) {
  float mx = 0;
  for (int j = 0; j < n; j++) mx = fmaxf(mx, fabsf(x[j]));
  float s = mx > 0 ? mx / lim : 1.0f;
  int32_t t = 0;
  for (int j = 0; j < n; j++) {
    int v = (int)fminf(lim, fmaxf(-lim, rintf(x[j] / s)));
    q[j] = (int8_t)v;
    t += v;
  }
  *sum = t;
  return s;
}

void petra_quant_i8_rows(const float *w, int rows, int cols, int8_t *q, float *scale, int32_t *rowsum) {
  for (int r = 0; r < rows; r++) {
    int32_t sum;
    scale[r] = quant_span(w + (size_t)r * cols, cols, 127.0f, q + (size_t)r * cols, &sum);
    if (rowsum) rowsum[r] = sum;
  }
}

void petra_quant_i4_blocks(const float *w, int rows, int cols, int8_t *q, float *scale, int32_t *bsum) {
  const int nb = (cols + 31) / 32;
  for (int r = 0; r < rows; r++)
    for (int b = 0; b < nb; b++) {
      size_t off = (size_t)r * cols + (size_t)b * 32;
      int m = cols - b * 32 < 32 ? cols - b * 32 : 32;
      int32_t sum;
      scale[(size_t)r * nb + b] = quant_span(w + off, m, 7.0f, q + off, &sum);
      if (bsum) bsum[(size_t)r * nb + b] = sum;
    }
}
