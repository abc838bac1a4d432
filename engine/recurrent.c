#include "recurrent.h"

#include <cblas.h>
#include <string.h>

void petra_rec_hidden_product(const petra_kernels *k, int B, int H, int G, const float *hp, const float *Whh,
                              const float *whhT, const float *bhh, float *hh) {
  if (k->fp32_fast) {
    k->sgemm_rows(B, H, G, G, hp, whhT, bhh, hh);
  } else {
    for (int b = 0; b < B; b++) memcpy(hh + (size_t)b * G, bhh, sizeof(float) * G);
    if (B == 1)
      cblas_sgemv(CblasRowMajor, CblasNoTrans, G, H, 1.0f, Whh, H, hp, 1, 1.0f, hh, 1);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, G, H, 1.0f, hp, H, whhT, G, 1.0f, hh, G);
  }
}

void petra_rec_param_grads(const petra_kernels *k, int rows, int in, int H, int G, const float *x, const float *hs,
                           const float *Wih, const float *dIn, const float *dHid, float *dWih, float *dWhh,
                           float *dbih, float *dbhh, float *dx) {
  if (k->fp32_fast) {
    k->sgemm_tn(rows, G, H, dHid, G, hs, H, dWhh);
    k->sgemm_tn(rows, G, in, dIn, G, x, in, dWih);
  } else {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, G, H, rows, 1.0f, dHid, G, hs, H, 1.0f, dWhh, H);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, G, in, rows, 1.0f, dIn, G, x, in, 1.0f, dWih, in);
  }
  for (int i = 0; i < rows; i++) {
    const float *a = dIn + (size_t)i * G, *c = dHid + (size_t)i * G;
    for (int j = 0; j < G; j++) {
      dbih[j] += a[j];
      dbhh[j] += c[j];
    }
  }
  if (dx && k->fp32_fast)
    k->sgemm_rows(rows, G, in, in, dIn, Wih, NULL, dx); /* Wih [G × in] row-major: the transposed operand */
  else if (dx)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, in, G, 1.0f, dIn, G, Wih, in, 0.0f, dx, in);
}
