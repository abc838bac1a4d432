#include "petra/dense.h"

#include <cblas.h>
#include <string.h>

void petra_dense_forward(int n, int in, int out, const float *x, const float *W, const float *b,
                         float *y) {
  if (b) {
    for (int i = 0; i < n; i++) memcpy(y + (size_t)i * out, b, sizeof(float) * out);
  }
  if (n == 1) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.0f, W, in, x, 1, b ? 1.0f : 0.0f, y, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, W, in,
              b ? 1.0f : 0.0f, y, out);
}

void petra_dense_backward(int n, int in, int out, const float *x, const float *W,
                          const float *dy, float *dx, float *dW, float *db) {
  if (dW)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f, dy, out, x, in, 1.0f,
                dW, in);
  if (db) {
    for (int i = 0; i < n; i++) {
      const float *r = dy + (size_t)i * out;
      for (int j = 0; j < out; j++) db[j] += r[j];
    }
  }
  if (dx)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, dy, out, W, in, 0.0f,
                dx, in);
}
