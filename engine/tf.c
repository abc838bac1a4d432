#include "petra/tf.h"

#include <math.h>
#include <string.h>

#include "petra/activation.h"
#include "petra/dense.h"
#include "petra/norm.h"
#include "kernels.h"

/* The forward workspace, per layer: its input X, LN1 out and stats, Q|K|V, the attention
 * weights [B][heads][T][T], the heads' outputs O, X1, LN2 out and stats, the feed-forward
 * pre-activation and activation; then X_L, the pooled rows and the final norm's stats. */
typedef struct tf_ws {
  float *X[PETRA_TF_MAX_LAYERS + 1];
  float *Z1[PETRA_TF_MAX_LAYERS], *st1[PETRA_TF_MAX_LAYERS], *QKV[PETRA_TF_MAX_LAYERS], *P[PETRA_TF_MAX_LAYERS];
  float *O[PETRA_TF_MAX_LAYERS], *X1[PETRA_TF_MAX_LAYERS], *Z2[PETRA_TF_MAX_LAYERS], *st2[PETRA_TF_MAX_LAYERS];
  float *Hp[PETRA_TF_MAX_LAYERS], *Hh[PETRA_TF_MAX_LAYERS];
  float *pooled, *stf;
  float *kt; /* scratch: one head's keys transposed, [dh][T] */
} tf_ws;

static size_t carve(const petra_tf_dims *d, float *base, tf_ws *w) {
  const size_t R = (size_t)d->T * d->B, W = (size_t)d->W, TT = (size_t)d->T * d->T * d->heads * d->B;
  size_t off = 0;
#define TAKE(ptr, n)                  \
  do {                                \
    if (base) (ptr) = base + off;     \
    off += (n);                       \
  } while (0)
  for (int l = 0; l < d->layers; l++) {
    const size_t F = (size_t)d->F[l];
    TAKE(w->X[l], R * W);
    TAKE(w->Z1[l], R * W);
    TAKE(w->st1[l], R * 2);
    TAKE(w->QKV[l], R * 3 * W);
    TAKE(w->P[l], TT);
    TAKE(w->O[l], R * W);
    TAKE(w->X1[l], R * W);
    TAKE(w->Z2[l], R * W);
    TAKE(w->st2[l], R * 2);
    TAKE(w->Hp[l], R * F);
    TAKE(w->Hh[l], R * F);
  }
  TAKE(w->X[d->layers], R * W);
  TAKE(w->pooled, (size_t)d->B * W);
  TAKE(w->stf, (size_t)d->B * 2);
  TAKE(w->kt, (size_t)d->T * W);
#undef TAKE
  return off;
}

size_t petra_tf_fwd_ws_floats(const petra_tf_dims *d) {
  tf_ws w;
  return carve(d, NULL, &w);
}

static int maxF(const petra_tf_dims *d) {
  int m = 1;
  for (int l = 0; l < d->layers; l++) m = d->F[l] > m ? d->F[l] : m;
  return m;
}

/* dX, dX1, dZ [R][W], dQKV [R][3W], dO [R][W], dH [R][F], dpool [B][W], dP [T]. */
size_t petra_tf_bwd_ws_floats(const petra_tf_dims *d) {
  const size_t R = (size_t)d->T * d->B, W = (size_t)d->W;
  return 4 * R * W + 3 * R * W + R * (size_t)maxF(d) + (size_t)d->B * W + (size_t)d->T;
}

static int valid_len(const int *len, int b, int T) { return len ? len[b] : T; }

/* Attention of one layer: O [R][W] from QKV [R][3W]; keeps the weights in P (last_only: only
 * each sequence's last valid query, its output in O's row b). Rows past a
 * sequence's length are not computed (0): no valid row reads them (keys are the valid events
 * only, and the pooling takes valid rows), so their values cannot matter. Per head the keys
 * are transposed once (kt [dh][L]) so that the scores' loop runs over the keys; the values are
 * read as rows (kernels.h attn_row). */
static void attention(const petra_tf_dims *d, const float *QKV, const int *len, float *P, float *O, float *kt,
                      int last_only) {
  const int T = d->T, B = d->B, W = d->W, H = d->heads, dh = W / H;
  const float scale = 1.0f / sqrtf((float)dh);
  const petra_kernels *k = petra_kernels_best();
  for (int b = 0; b < B; b++) {
    const int L = valid_len(len, b, T);
    if (!last_only)
      for (int t = L; t < T; t++) memset(O + ((size_t)t * B + b) * W, 0, sizeof(float) * (size_t)W);
    for (int h = 0; h < H; h++) {
      float *Pb = P + ((size_t)b * H + h) * T * T;
      const float *v = QKV + (size_t)b * 3 * W + 2 * W + h * dh; /* key u's value: v + u·B·3W */
      for (int u = 0; u < L; u++) {
        const float *kr = QKV + ((size_t)u * B + b) * 3 * W + W + h * dh;
        for (int j = 0; j < dh; j++) kt[(size_t)j * L + u] = kr[j];
      }
      for (int t = last_only ? L - 1 : 0; t < (last_only ? L : T); t++) {
        float *pr = Pb + (size_t)t * T;
        if (t >= L) {
          memset(pr, 0, sizeof(float) * (size_t)T);
          continue;
        }
        const int n = d->causal ? t + 1 : L; /* keys 0..n-1 */
        float *o = (last_only ? O + (size_t)b * W : O + ((size_t)t * B + b) * W) + h * dh;
        k->attn_row(n, dh, scale, QKV + ((size_t)t * B + b) * 3 * W + h * dh, kt, L, v, (size_t)B * 3 * W, pr, o);
        for (int u = n; u < T; u++) pr[u] = 0;
      }
    }
  }
}

/* Time2Vec of one event time: f [PETRA_TF_T2V]; dpre (when not NULL) gets ∂f_k/∂pre_k. */
static void t2v_features(const petra_tf_params *p, float tau, float *f, float *dpre) {
  f[0] = p->t2v_w[0] * tau + p->t2v_b[0];
  if (dpre) dpre[0] = 1;
  for (int k = 1; k < PETRA_TF_T2V; k++) {
    const float pre = p->t2v_w[k] * tau + p->t2v_b[k];
    f[k] = sinf(pre);
    if (dpre) dpre[k] = cosf(pre);
  }
}

void petra_tf_forward(const petra_tf_dims *d, const petra_tf_params *p, petra_tf_linear lin, void *ctx,
                      const float *x, const int *len, float *ws, float *out) {
  tf_ws w;
  carve(d, ws, &w);
  const int T = d->T, B = d->B, W = d->W, R = T * B;
  lin(ctx, PETRA_TF_IN, R, x, w.X[0]);
  if (d->tau) {
    for (int t = 0; t < T; t++)
      for (int b = 0; b < B; b++) {
        if (t >= valid_len(len, b, T)) continue; /* (never read) */
        float f[PETRA_TF_T2V];
        t2v_features(p, d->tau[((size_t)t * B + b) * d->tau_stride], f, NULL);
        float *r = w.X[0] + ((size_t)t * B + b) * W;
        for (int j = 0; j < W; j++) {
          const float *pj = p->t2v_p + (size_t)j * PETRA_TF_T2V;
          float a = 0;
          for (int k = 0; k < PETRA_TF_T2V; k++) a += pj[k] * f[k];
          r[j] += a;
        }
      }
  } else {
    for (int t = 0; t < T; t++)
      for (int b = 0; b < B; b++) {
        float *r = w.X[0] + ((size_t)t * B + b) * W;
        for (int j = 0; j < W; j++) r[j] += p->pos[(size_t)t * W + j];
      }
  }
  /* out_only with last-event pooling: the last layer past its keys and values on B rows, the
   * last valid event of each sequence (gathered into Z1's first rows once QKV is taken) */
  const int gather = d->out_only && !d->pool_mean;
  for (int l = 0; l < d->layers; l++) {
    const petra_tf_layer_params *q = &p->l[l];
    const int F = d->F[l];
    petra_layernorm_forward(R, W, w.X[l], q->ln1_g, q->ln1_b, w.Z1[l], w.st1[l]);
    lin(ctx, 4 * l + PETRA_TF_QKV, R, w.Z1[l], w.QKV[l]);
    if (gather && l == d->layers - 1) {
      attention(d, w.QKV[l], len, w.P[l], w.O[l], w.kt, 1);
      float *Xg = w.Z1[l];
      for (int b = 0; b < B; b++)
        memcpy(Xg + (size_t)b * W, w.X[l] + ((size_t)(valid_len(len, b, T) - 1) * B + b) * W, sizeof(float) * W);
      lin(ctx, 4 * l + PETRA_TF_O, B, w.O[l], w.X1[l]);
      for (size_t i = 0; i < (size_t)B * W; i++) w.X1[l][i] += Xg[i];
      petra_layernorm_forward(B, W, w.X1[l], q->ln2_g, q->ln2_b, w.Z2[l], w.st2[l]);
      lin(ctx, 4 * l + PETRA_TF_F1, B, w.Z2[l], w.Hp[l]);
      petra_act_forward(PETRA_ACT_GELU, (size_t)B * F, w.Hp[l], w.Hh[l]);
      lin(ctx, 4 * l + PETRA_TF_F2, B, w.Hh[l], w.pooled);
      for (size_t i = 0; i < (size_t)B * W; i++) w.pooled[i] += w.X1[l][i];
      petra_layernorm_forward(B, W, w.pooled, p->lnf_g, p->lnf_b, out, w.stf);
      return;
    }
    attention(d, w.QKV[l], len, w.P[l], w.O[l], w.kt, 0);
    lin(ctx, 4 * l + PETRA_TF_O, R, w.O[l], w.X1[l]);
    for (size_t i = 0; i < (size_t)R * W; i++) w.X1[l][i] += w.X[l][i];
    petra_layernorm_forward(R, W, w.X1[l], q->ln2_g, q->ln2_b, w.Z2[l], w.st2[l]);
    lin(ctx, 4 * l + PETRA_TF_F1, R, w.Z2[l], w.Hp[l]);
    petra_act_forward(PETRA_ACT_GELU, (size_t)R * F, w.Hp[l], w.Hh[l]);
    lin(ctx, 4 * l + PETRA_TF_F2, R, w.Hh[l], w.X[l + 1]);
    for (size_t i = 0; i < (size_t)R * W; i++) w.X[l + 1][i] += w.X1[l][i];
  }
  const float *XL = w.X[d->layers];
  for (int b = 0; b < B; b++) {
    const int L = valid_len(len, b, T);
    float *pb = w.pooled + (size_t)b * W;
    if (d->pool_mean) {
      memset(pb, 0, sizeof(float) * (size_t)W);
      for (int t = 0; t < L; t++)
        for (int j = 0; j < W; j++) pb[j] += XL[((size_t)t * B + b) * W + j];
      for (int j = 0; j < W; j++) pb[j] /= (float)L;
    } else {
      memcpy(pb, XL + ((size_t)(L - 1) * B + b) * W, sizeof(float) * (size_t)W);
    }
  }
  petra_layernorm_forward(B, W, w.pooled, p->lnf_g, p->lnf_b, out, w.stf);
}

/* Attention backward of one layer: dQKV [R][3W] from dO [R][W]. */
static void attention_backward(const petra_tf_dims *d, const float *QKV, const float *P, const int *len,
                               const float *dO, float *dQKV, float *dP) {
  const int T = d->T, B = d->B, W = d->W, H = d->heads, dh = W / H;
  const float scale = 1.0f / sqrtf((float)dh);
  memset(dQKV, 0, sizeof(float) * (size_t)T * B * 3 * W);
  for (int b = 0; b < B; b++) {
    const int L = valid_len(len, b, T);
    for (int h = 0; h < H; h++) {
      const float *Pb = P + ((size_t)b * H + h) * T * T;
      for (int t = 0; t < L; t++) { /* (rows past the length were not computed) */
        const float *pr = Pb + (size_t)t * T;
        const int last = d->causal ? t : L - 1;
        const float *go = dO + ((size_t)t * B + b) * W + h * dh;
        const float *q = QKV + ((size_t)t * B + b) * 3 * W + h * dh;
        float *dq = dQKV + ((size_t)t * B + b) * 3 * W + h * dh;
        float dot = 0;
        for (int u = 0; u <= last; u++) {
          const float *v = QKV + ((size_t)u * B + b) * 3 * W + 2 * W + h * dh;
          float *dv = dQKV + ((size_t)u * B + b) * 3 * W + 2 * W + h * dh;
          float s = 0;
          for (int j = 0; j < dh; j++) {
            s += go[j] * v[j];
            dv[j] += pr[u] * go[j];
          }
          dP[u] = s;
          dot += pr[u] * s;
        }
        for (int u = 0; u <= last; u++) {
          const float ds = pr[u] * (dP[u] - dot) * scale;
          const float *k = QKV + ((size_t)u * B + b) * 3 * W + W + h * dh;
          float *dk = dQKV + ((size_t)u * B + b) * 3 * W + W + h * dh;
          for (int j = 0; j < dh; j++) {
            dq[j] += ds * k[j];
            dk[j] += ds * q[j];
          }
        }
      }
    }
  }
}

void petra_tf_backward(const petra_tf_dims *d, const petra_tf_params *p, const float *x, const int *len,
                       const float *ws, const float *dout, float *dx, const petra_tf_grads *g, float *bws) {
  tf_ws w;
  carve(d, (float *)ws, &w);
  const int T = d->T, B = d->B, W = d->W, R = T * B;
  const size_t RW = (size_t)R * W;
  float *dX = bws, *dX1 = dX + RW, *dZ = dX1 + RW, *dQKV = dZ + RW, *dO = dQKV + 3 * RW;
  float *dH = dO + RW, *dpool = dH + (size_t)R * maxF(d), *dP = dpool + (size_t)B * W;
  petra_layernorm_backward(B, W, w.pooled, p->lnf_g, w.stf, dout, dpool, g->lnf_g, g->lnf_b);
  memset(dX, 0, sizeof(float) * RW);
  for (int b = 0; b < B; b++) {
    const int L = valid_len(len, b, T);
    const float *db = dpool + (size_t)b * W;
    if (d->pool_mean) {
      for (int t = 0; t < L; t++)
        for (int j = 0; j < W; j++) dX[((size_t)t * B + b) * W + j] = db[j] / (float)L;
    } else {
      memcpy(dX + ((size_t)(L - 1) * B + b) * W, db, sizeof(float) * (size_t)W);
    }
  }
  for (int l = d->layers - 1; l >= 0; l--) { /* dX: the grad wrt layer l's output */
    const petra_tf_layer_params *q = &p->l[l];
    const petra_tf_layer_grads *gl = &g->l[l];
    const int F = d->F[l];
    petra_dense_backward(R, F, W, w.Hh[l], q->w2, dX, dH, gl->w2, gl->b2);
    petra_act_backward(PETRA_ACT_GELU, (size_t)R * F, w.Hp[l], w.Hh[l], dH, dH);
    petra_dense_backward(R, W, F, w.Z2[l], q->w1, dH, dZ, gl->w1, gl->b1);
    petra_layernorm_backward(R, W, w.X1[l], q->ln2_g, w.st2[l], dZ, dX1, gl->ln2_g, gl->ln2_b);
    for (size_t i = 0; i < RW; i++) dX1[i] += dX[i];
    petra_dense_backward(R, W, W, w.O[l], q->wo, dX1, dO, gl->wo, gl->bo);
    attention_backward(d, w.QKV[l], w.P[l], len, dO, dQKV, dP);
    petra_dense_backward(R, W, 3 * W, w.Z1[l], q->wqkv, dQKV, dZ, gl->wqkv, gl->bqkv);
    petra_layernorm_backward(R, W, w.X[l], q->ln1_g, w.st1[l], dZ, dX, gl->ln1_g, gl->ln1_b);
    for (size_t i = 0; i < RW; i++) dX[i] += dX1[i];
  }
  if (d->tau) { /* P·f(τ): dP += r fᵀ, dpre_k = (Pᵀ r)_k · f_k', dω_k += dpre_k·τ, dφ_k += dpre_k */
    for (int t = 0; t < T; t++)
      for (int b = 0; b < B; b++) {
        if (t >= valid_len(len, b, T)) continue;
        const float tau = d->tau[((size_t)t * B + b) * d->tau_stride];
        float f[PETRA_TF_T2V], fd[PETRA_TF_T2V], df[PETRA_TF_T2V] = {0};
        t2v_features(p, tau, f, fd);
        const float *r = dX + ((size_t)t * B + b) * W;
        for (int j = 0; j < W; j++) {
          const float *pj = p->t2v_p + (size_t)j * PETRA_TF_T2V;
          float *gj = g->t2v_p + (size_t)j * PETRA_TF_T2V;
          for (int k = 0; k < PETRA_TF_T2V; k++) {
            gj[k] += r[j] * f[k];
            df[k] += pj[k] * r[j];
          }
        }
        for (int k = 0; k < PETRA_TF_T2V; k++) {
          g->t2v_w[k] += df[k] * fd[k] * tau;
          g->t2v_b[k] += df[k] * fd[k];
        }
      }
  } else {
    for (int t = 0; t < T; t++)
      for (int b = 0; b < B; b++) {
        const float *r = dX + ((size_t)t * B + b) * W;
        for (int j = 0; j < W; j++) g->pos[(size_t)t * W + j] += r[j];
      }
  }
  petra_dense_backward(R, d->in, W, x, p->win, dX, dx, g->win, g->bin);
}
