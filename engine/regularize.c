#include "petra/regularize.h"

#include <math.h>
#include <string.h>

#include "quant.h"

static int regularized(const char *name) {
  char layer[32];
  return petra_weight_matrix_layer(name, layer, sizeof layer);
}

double petra_regularize(const petra_model *m, float l1, float group_lasso, float *grad) {
  if (l1 <= 0 && group_lasso <= 0) return 0;
  const float *w = petra_model_params((petra_model *)m);
  double penalty = 0;
  for (int t = 0;; t++) {
    const petra_tensor_info *ti = petra_model_tensor(m, t);
    if (!ti) break;
    if (!regularized(ti->name)) continue;
    for (int r = 0; r < ti->rows; r++) {
      const float *row = w + ti->offset + (size_t)r * ti->cols;
      float *g = grad ? grad + ti->offset + (size_t)r * ti->cols : NULL;
      double sq = 0, ab = 0;
      for (int c = 0; c < ti->cols; c++) {
        sq += (double)row[c] * row[c];
        ab += fabs((double)row[c]);
      }
      double norm = sqrt(sq);
      penalty += l1 * ab + group_lasso * norm;
      if (!g) continue;
      for (int c = 0; c < ti->cols; c++) {
        float d = 0;
        if (l1 > 0) d += row[c] > 0 ? l1 : row[c] < 0 ? -l1 : 0.0f;
        if (group_lasso > 0 && norm > 0) d += (float)(group_lasso * row[c] / norm);
        g[c] += d;
      }
    }
  }
  return penalty;
}
