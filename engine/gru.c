#include "petra/gru.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "petra/dense.h"
#include "recurrent.h"

/* Forward workspace layout: gates [T][B][3H] (first x·Wihᵀ + bih, then overwritten step by
 * step with the activated r, z, n), hn [T][B][H] (W_hn h + b_hn), hh [B][3H] scratch, and
 * Whhᵀ [H][3H] (a non-transposed operand lets OpenBLAS use its small-matrix kernels for the
 * per-step product instead of packing Whh every step). */
size_t petra_gru_fwd_ws_floats(int T, int B, int H) {
  return (size_t)T * B * 3 * H + (size_t)T * B * H + (size_t)B * 3 * H + (size_t)H * 3 * H;
}

size_t petra_gru_bwd_ws_floats(int T, int B, int H) {
  return 2 * (size_t)T * B * 3 * H + 3 * (size_t)B * H;
}

void petra_gru_step_rows(int H, int R, float *xi, const float *hh, const float *h, float *aux, float *hn,
                         const int *len, int t) {
  (void)len, (void)t;
  petra_kernels_best()->gru_fwd_rows(H, R, xi, hh, h, aux, hn);
}

void petra_gru_forward(int T, int B, int in, int H, const float *x, const int *len,
                       const float *h0, const float *Wih, const float *Whh, const float *bih,
                       const float *bhh, float *hs, float *ws) {
  const int G = 3 * H;
  float *gates = ws;
  float *hn = gates + (size_t)T * B * G;
  float *hh = hn + (size_t)T * B * H;
  float *whhT = hh + (size_t)B * G;
  const size_t rows = (size_t)T * B;
  petra_transpose(G, H, Whh, whhT);
  const petra_kernels *k = petra_kernels_best();
  petra_dense_forward((int)rows, in, G, x, Wih, bih, gates); /* gates = x · Wihᵀ + bih */
  if (h0)
    memcpy(hs, h0, sizeof(float) * B * H);
  else
    memset(hs, 0, sizeof(float) * B * H);

  for (int t = 0; t < T; t++) {
    const float *hp = hs + (size_t)t * B * H;
    float *hc = hs + (size_t)(t + 1) * B * H;
    petra_rec_hidden_product(k, B, H, G, hp, Whh, whhT, bhh, hh);
    float *g_t = gates + (size_t)t * B * G;
    float *hn_t = hn + (size_t)t * B * H;
    /* every row in one call (the rows' chains overlap); a row past its length keeps its state
     * (its gates are not read by the backward pass) */
    k->gru_fwd_rows(H, B, g_t, hh, hp, hn_t, hc);
    if (len)
      for (int b = 0; b < B; b++)
        if (t >= len[b]) memcpy(hc + (size_t)b * H, hp + (size_t)b * H, sizeof(float) * H);
  }
}

void petra_gru_backward(int T, int B, int in, int H, const float *x, const int *len,
                        const float *Wih, const float *Whh, const float *hs, const float *ws,
                        const float *dhs, const float *dhT, float *dx, float *dh0, float *dWih,
                        float *dWhh, float *dbih, float *dbhh, float *bws) {
  const int G = 3 * H;
  const float *gates = ws;
  const float *hn = gates + (size_t)T * B * G;
  float *dG = bws;                        /* input-side pre-activation grads [T][B][3H] */
  float *dHh = dG + (size_t)T * B * G;    /* hidden-side pre-activation grads [T][B][3H] */
  float *dh = dHh + (size_t)T * B * G;    /* grad wrt current state [B][H] */
  float *dhp = dh + (size_t)B * H;        /* grad wrt previous state [B][H] */
  float *dhw = dhp + (size_t)B * H;       /* dHh_t · Whh [B][H] */
  if (dhT)
    memcpy(dh, dhT, sizeof(float) * B * H);
  else
    memset(dh, 0, sizeof(float) * B * H);
  const petra_kernels *k = petra_kernels_best();

  for (int t = T - 1; t >= 0; t--) {
    if (dhs) {
      const float *d = dhs + (size_t)t * B * H;
      for (int i = 0; i < B * H; i++) dh[i] += d[i];
    }
    const float *g_t = gates + (size_t)t * B * G;
    const float *hn_t = hn + (size_t)t * B * H;
    const float *hp = hs + (size_t)t * B * H;
    float *dG_t = dG + (size_t)t * B * G;
    float *dHh_t = dHh + (size_t)t * B * G;
    for (int b = 0; b < B; b++) {
      float *dgb = dG_t + (size_t)b * G, *dhhb = dHh_t + (size_t)b * G;
      const float *dhb = dh + (size_t)b * H;
      float *dhpb = dhp + (size_t)b * H;
      if (len && t >= len[b]) {
        memset(dgb, 0, sizeof(float) * G);
        memset(dhhb, 0, sizeof(float) * G);
        memcpy(dhpb, dhb, sizeof(float) * H);
        continue;
      }
      k->gru_bwd(H, g_t + (size_t)b * G, hn_t + (size_t)b * H, hp + (size_t)b * H, dhb, dgb, dhhb,
                 dhpb);
    }
    /* dh_prev += dHh_t · Whh ([B×3H]·[3H×H]; Whh row-major is the kernel's transposed
     * operand as it is); rows of skipped steps are zero. */
    if (k->fp32_fast) {
      k->sgemm_rows(B, G, H, H, dHh_t, Whh, NULL, dhw);
      for (size_t i = 0; i < (size_t)B * H; i++) dhp[i] += dhw[i];
    } else {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, H, G, 1.0f, dHh_t, G, Whh, H, 1.0f,
                  dhp, H);
    }
    float *tmp = dh;
    dh = dhp;
    dhp = tmp;
  }
  if (dh0) memcpy(dh0, dh, sizeof(float) * B * H);

  const int rows = T * B;
  /* dWhh += Σ_t dHh_tᵀ · h_{t−1};  dWih += dGᵀ · x; the biases; dx */
  petra_rec_param_grads(k, rows, in, H, G, x, hs, Wih, dG, dHh, dWih, dWhh, dbih, dbhh, dx);
}
