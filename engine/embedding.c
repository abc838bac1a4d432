#include "petra/embedding.h"

#include <string.h>

void petra_embedding_forward(int n, int d, const float *table, const int32_t *codes, float *out,
                             int stride) {
  for (int i = 0; i < n; i++)
    memcpy(out + (size_t)i * stride, table + (size_t)codes[i] * d, sizeof(float) * d);
}

void petra_embedding_backward(int n, int d, const int32_t *codes, const float *dout, int stride,
                              float *dtable) {
  for (int i = 0; i < n; i++) {
    float *row = dtable + (size_t)codes[i] * d;
    const float *g = dout + (size_t)i * stride;
    for (int j = 0; j < d; j++) row[j] += g[j];
  }
}
