#include "petra/lstm.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "petra/dense.h"
#include "recurrent.h"

/* Forward workspace (kept for the backward pass): acts [T][B][4H] (first x·Wihᵀ + bih, then
 * step by step the activated i, f, g, o), cs [(T+1)][B][H] cell states, hh [B][4H] scratch,
 * Whhᵀ [H][4H] (the row kernels' operand, as the GRU's). The cell is the kernels' lstm_fwd_rows
 * (kernels.h), which the plans run too. */
size_t petra_lstm_fwd_ws_floats(int T, int B, int H) {
  return (size_t)T * B * 4 * H + (size_t)(T + 1) * B * H + (size_t)B * 4 * H + (size_t)H * 4 * H;
}

/* dA [T][B][4H] pre-activation grads, dh, dhp, dc [B][H], tanh(c) [H]. */
size_t petra_lstm_bwd_ws_floats(int T, int B, int H) { return (size_t)T * B * 4 * H + 3 * (size_t)B * H + (size_t)H; }

void petra_lstm_step_rows(int H, int R, float *xi, const float *hh, const float *h, float *aux, float *hn,
                          const int *len, int t) {
  (void)h;
  petra_kernels_best()->lstm_fwd_rows(H, R, xi, hh, aux, hn, len, t);
}

void petra_lstm_forward(int T, int B, int in, int H, const float *x, const int *len,
                        const float *h0, const float *Wih, const float *Whh, const float *bih,
                        const float *bhh, float *hs, float *ws) {
  const int G = 4 * H;
  float *acts = ws, *cs = acts + (size_t)T * B * G, *hh = cs + (size_t)(T + 1) * B * H;
  float *whhT = hh + (size_t)B * G;
  const size_t rows = (size_t)T * B;
  const petra_kernels *k = petra_kernels_best();
  petra_transpose(G, H, Whh, whhT);
  petra_dense_forward((int)rows, in, G, x, Wih, bih, acts);
  if (h0)
    memcpy(hs, h0, sizeof(float) * B * H);
  else
    memset(hs, 0, sizeof(float) * B * H);
  memset(cs, 0, sizeof(float) * B * H);
  for (int t = 0; t < T; t++) {
    const float *hp = hs + (size_t)t * B * H;
    float *hc = hs + (size_t)(t + 1) * B * H;
    const float *cp = cs + (size_t)t * B * H;
    float *cc = cs + (size_t)(t + 1) * B * H;
    petra_rec_hidden_product(k, B, H, G, hp, Whh, whhT, bhh, hh);
    memcpy(cc, cp, sizeof(float) * B * H);
    k->lstm_fwd_rows(H, B, acts + (size_t)t * B * G, hh, cc, hc, len, t);
    if (len) /* carried over; the gates of a skipped step are not read */
      for (int b = 0; b < B; b++)
        if (t >= len[b]) memcpy(hc + (size_t)b * H, hp + (size_t)b * H, sizeof(float) * H);
  }
}

void petra_lstm_backward(int T, int B, int in, int H, const float *x, const int *len,
                         const float *Wih, const float *Whh, const float *hs, const float *ws,
                         const float *dhs, const float *dhT, float *dx, float *dh0, float *dWih,
                         float *dWhh, float *dbih, float *dbhh, float *bws) {
  const int G = 4 * H;
  const float *acts = ws, *cs = acts + (size_t)T * B * G;
  float *dA = bws, *dh = dA + (size_t)T * B * G, *dhp = dh + (size_t)B * H, *dc = dhp + (size_t)B * H;
  float *tcs = dc + (size_t)B * H;
  const petra_kernels *k = petra_kernels_best();
  if (dhT)
    memcpy(dh, dhT, sizeof(float) * B * H);
  else
    memset(dh, 0, sizeof(float) * B * H);
  memset(dc, 0, sizeof(float) * B * H);
  for (int t = T - 1; t >= 0; t--) {
    if (dhs) {
      const float *d = dhs + (size_t)t * B * H;
      for (int i = 0; i < B * H; i++) dh[i] += d[i];
    }
    const float *a_t = acts + (size_t)t * B * G;
    float *dA_t = dA + (size_t)t * B * G;
    for (int b = 0; b < B; b++) {
      float *da = dA_t + (size_t)b * G, *dcb = dc + (size_t)b * H;
      const float *dhb = dh + (size_t)b * H;
      if (len && t >= len[b]) { /* h and c carried: their grads pass through unchanged */
        memset(da, 0, sizeof(float) * G);
        continue;
      }
      const float *a = a_t + (size_t)b * G;
      const float *cp = cs + ((size_t)t * B + b) * H, *cc = cs + ((size_t)(t + 1) * B + b) * H;
      k->tanh((size_t)H, cc, tcs); /* as the forward pass computed it */
      for (int j = 0; j < H; j++) {
        float i = a[j], f = a[H + j], g = a[2 * H + j], o = a[3 * H + j];
        float tc = tcs[j];
        float dcj = dcb[j] + dhb[j] * o * (1.0f - tc * tc);
        da[j] = dcj * g * i * (1.0f - i);
        da[H + j] = dcj * cp[j] * f * (1.0f - f);
        da[2 * H + j] = dcj * i * (1.0f - g * g);
        da[3 * H + j] = dhb[j] * tc * o * (1.0f - o);
        dcb[j] = dcj * f;
      }
    }
    /* dh_prev = dh for skipped rows, dA_t · Whh for the others (their dA rows are zero, so
     * one product serves both after the copy of the skipped rows' dh) */
    for (int b = 0; b < B; b++) {
      float *d = dhp + (size_t)b * H;
      if (len && t >= len[b])
        memcpy(d, dh + (size_t)b * H, sizeof(float) * H);
      else
        memset(d, 0, sizeof(float) * H);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, H, G, 1.0f, dA_t, G, Whh, H, 1.0f, dhp, H);
    float *tmp = dh;
    dh = dhp;
    dhp = tmp;
  }
  if (dh0) memcpy(dh0, dh, sizeof(float) * B * H);
  petra_rec_param_grads(k, T * B, in, H, G, x, hs, Wih, dA, dA, dWih, dWhh, dbih, dbhh, dx);
}
