#include "petra/dense.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

/* The products go through libpetra's AVX-512 row kernels where they run (kernels.h; OpenBLAS
 * 0.3.21 takes its AVX2 kernels on AMD Zen 4, at about half their rate, and its SSE3 Prescott
 * kernels on Intel CPUs newer than it knows), OpenBLAS otherwise. */

/* Rows from which the forward product transposes W once and runs the row kernel (the
 * transpose costs in·out moves, 1/n of the product); fewer go to OpenBLAS, one to sgemv_rm */
enum { DENSE_ROWS_MIN = 8 };

void petra_dense_forward(int n, int in, int out, const float *x, const float *W, const float *b,
                         float *y) {
  const petra_kernels *k = petra_kernels_best();
  if (n == 1 && k->fp32_fast) {
    k->sgemv_rm(out, in, W, x, b, y);
    return;
  }
  /* many rows: W transposed once, then the row kernel */
  float *wt = n >= DENSE_ROWS_MIN && k->fp32_fast ? malloc(sizeof(float) * (size_t)in * out) : NULL;
  if (wt) {
    petra_transpose(out, in, W, wt);
    k->sgemm_rows(n, in, out, out, x, wt, b, y);
    free(wt);
    return;
  }
  if (b)
    for (int i = 0; i < n; i++) memcpy(y + (size_t)i * out, b, sizeof(float) * out);
  if (n == 1)
    cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.0f, W, in, x, 1, b ? 1.0f : 0.0f, y, 1);
  else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, W, in,
                b ? 1.0f : 0.0f, y, out);
}

void petra_dense_backward(int n, int in, int out, const float *x, const float *W,
                          const float *dy, float *dx, float *dW, float *db) {
  const petra_kernels *k = petra_kernels_best();
  if (dW && k->fp32_fast)
    k->sgemm_tn(n, out, in, dy, out, x, in, dW);
  else if (dW)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f, dy, out, x, in, 1.0f,
                dW, in);
  if (db) {
    for (int i = 0; i < n; i++) {
      const float *r = dy + (size_t)i * out;
      for (int j = 0; j < out; j++) db[j] += r[j];
    }
  }
  if (dx && k->fp32_fast)
    k->sgemm_rows(n, out, in, in, dy, W, NULL, dx); /* W [out × in] row-major: the transposed operand */
  else if (dx)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, dy, out, W, in, 0.0f,
                dx, in);
}
