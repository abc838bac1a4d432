#include "quant.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

const petra_weight_matrix petra_weight_matrices[PETRA_N_WEIGHT_MATRICES] = {
#define CORE_LAYER(k, l) {#k #l ".wih", #k #l}, {#k #l ".whh", #k #l}
    {"dense0.w", "dense0"}, CORE_LAYER(gru, 0), CORE_LAYER(gru, 1), CORE_LAYER(gru, 2), CORE_LAYER(gru, 3),
    CORE_LAYER(lstm, 0), CORE_LAYER(lstm, 1), CORE_LAYER(lstm, 2), CORE_LAYER(lstm, 3), {"head.w", "head"},
#define TF_LAYER(l) {"tf" #l ".wqkv", "tf" #l}, {"tf" #l ".wo", "tf" #l}, {"tf" #l ".w1", "tf" #l}, {"tf" #l ".w2", "tf" #l}
    {"tf.in.w", "tf"}, TF_LAYER(0), TF_LAYER(1), TF_LAYER(2), TF_LAYER(3)};
#undef TF_LAYER
#undef CORE_LAYER

const char *petra_weight_matrix_layer(const char *tensor) {
  for (int i = 0; i < PETRA_N_WEIGHT_MATRICES; i++)
    if (!strcmp(tensor, petra_weight_matrices[i].tensor)) return petra_weight_matrices[i].layer;
  return NULL;
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
