#include "petra/rnn.h"

#include <cblas.h>
#include <string.h>

#include "kernels.h"
#include "petra/dense.h"
#include "recurrent.h"

/* Forward workspace: acts [T][B][H] (x·Wihᵀ + bih), hh [B][H] scratch, Whhᵀ [H][H] (the row
 * kernels' operand). The states themselves (hs) are what the backward pass reads. */
size_t petra_rnn_fwd_ws_floats(int T, int B, int H) {
  return (size_t)T * B * H + (size_t)B * H + (size_t)H * H;
}

/* dA [T][B][H] pre-activation grads, dh, dhp [B][H]. */
size_t petra_rnn_bwd_ws_floats(int T, int B, int H) { return (size_t)T * B * H + 2 * (size_t)B * H; }

void petra_rnn_step_rows(int H, int R, float *xi, const float *hh, const float *h, float *aux, float *hn,
                         const int *len, int t) {
  (void)h, (void)aux, (void)len, (void)t;
  const size_t n = (size_t)R * H;
  for (size_t i = 0; i < n; i++) xi[i] += hh[i];
  petra_kernels_best()->tanh(n, xi, hn);
}

void petra_rnn_forward(int T, int B, int in, int H, const float *x, const int *len, const float *h0,
                       const float *Wih, const float *Whh, const float *bih, const float *bhh, float *hs, float *ws) {
  float *acts = ws, *hh = acts + (size_t)T * B * H, *whhT = hh + (size_t)B * H;
  const size_t rows = (size_t)T * B;
  const petra_kernels *k = petra_kernels_best();
  petra_transpose(H, H, Whh, whhT);
  petra_dense_forward((int)rows, in, H, x, Wih, bih, acts);
  if (h0)
    memcpy(hs, h0, sizeof(float) * B * H);
  else
    memset(hs, 0, sizeof(float) * B * H);
  for (int t = 0; t < T; t++) {
    const float *hp = hs + (size_t)t * B * H;
    float *hc = hs + (size_t)(t + 1) * B * H;
    petra_rec_hidden_product(k, B, H, H, hp, Whh, whhT, bhh, hh);
    const float *a = acts + (size_t)t * B * H;
    for (size_t i = 0; i < (size_t)B * H; i++) hh[i] += a[i];
    k->tanh((size_t)B * H, hh, hc);
    if (len)
      for (int b = 0; b < B; b++)
        if (t >= len[b]) memcpy(hc + (size_t)b * H, hp + (size_t)b * H, sizeof(float) * H);
  }
}

void petra_rnn_backward(int T, int B, int in, int H, const float *x, const int *len, const float *Wih,
                        const float *Whh, const float *hs, const float *ws, const float *dhs, const float *dhT,
                        float *dx, float *dh0, float *dWih, float *dWhh, float *dbih, float *dbhh, float *bws) {
  (void)ws;
  float *dA = bws, *dh = dA + (size_t)T * B * H, *dhp = dh + (size_t)B * H;
  if (dhT)
    memcpy(dh, dhT, sizeof(float) * B * H);
  else
    memset(dh, 0, sizeof(float) * B * H);
  for (int t = T - 1; t >= 0; t--) {
    if (dhs) {
      const float *d = dhs + (size_t)t * B * H;
      for (int i = 0; i < B * H; i++) dh[i] += d[i];
    }
    float *dA_t = dA + (size_t)t * B * H;
    for (int b = 0; b < B; b++) {
      float *da = dA_t + (size_t)b * H, *d = dhp + (size_t)b * H;
      const float *dhb = dh + (size_t)b * H, *hc = hs + ((size_t)(t + 1) * B + b) * H;
      if (len && t >= len[b]) { /* h carried: its grad passes through unchanged */
        memset(da, 0, sizeof(float) * H);
        memcpy(d, dhb, sizeof(float) * H);
        continue;
      }
      for (int j = 0; j < H; j++) da[j] = dhb[j] * (1.0f - hc[j] * hc[j]);
      memset(d, 0, sizeof(float) * H);
    }
    /* dh_prev += dA_t · Whh (the skipped rows' dA are zero) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, H, H, 1.0f, dA_t, H, Whh, H, 1.0f, dhp, H);
    float *tmp = dh;
    dh = dhp;
    dhp = tmp;
  }
  if (dh0) memcpy(dh0, dh, sizeof(float) * B * H);
  petra_rec_param_grads(petra_kernels_best(), T * B, in, H, H, x, hs, Wih, dA, dA, dWih, dWhh, dbih, dbhh, dx);
}
