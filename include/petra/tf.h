/* A small transformer encoder over an event window (pre-layer-norm blocks):
 *   X0 = x·Winᵀ + bin + pos[t]   (or, time-aware, + P·f(τ): see PETRA_TF_T2V)
 *   per layer: X1 = X + Wo·Attn(LN1(X)) + bo;  X' = X1 + W2·gelu(W1·LN2(X1) + b1) + b2
 *   out[b] = LNf(pool(X_L)[b]), pool = the last valid event (t = len[b] − 1) or the mean of
 *   the valid events.
 * Attention: HEADS heads of WIDTH/HEADS dims, scaled dot products, softmax over the keys of
 * the same sequence that are valid (u < len[b]) and, when causal, not later (u <= t). x is
 * [T][B][in] time-major (rows t·B + b), as the recurrent cores take it. The products go
 * through a callback so that the model (fp32 weights) and the plans (int8/int4/low rank
 * linear layers) run the same code; the backward pass is the model's. */
#ifndef PETRA_TF_H
#define PETRA_TF_H
#include <stddef.h>

#define PETRA_TF_MAX_LAYERS 4
/* Time-aware positions (Time2Vec, Kazemi et al. 2019): from an event's time τ, the features
 * f_0 = ω_0·τ + φ_0 and f_k = sin(ω_k·τ + φ_k), k = 1..PETRA_TF_T2V − 1; the event's row gets
 * P·f (P [W × PETRA_TF_T2V]) in place of the learned table's pos[t]. */
#define PETRA_TF_T2V 9

typedef struct petra_tf_dims {
  int T, B, in, W, heads, layers, causal, pool_mean;
  int F[PETRA_TF_MAX_LAYERS]; /* feed-forward units per layer */
  /* 1: only out is wanted, no backward pass follows (plans, evaluation). With last-event
   * pooling the last layer then runs its attention, output projection and feed-forward for
   * each sequence's last event alone (the other events' outputs are never read): the same
   * out, bit for bit, at about half the work of two layers. */
  int out_only;
  /* time-aware positions: the time of row r = t·B + b is tau[r · tau_stride] (read for valid
   * events only); NULL: the learned table pos [T × W] */
  const float *tau;
  int tau_stride;
} petra_tf_dims;

/* Matrices by id: PETRA_TF_IN (Win [W × in]), then per layer l: 4l + QKV (Wqkv [3W × W]),
 * 4l + O (Wo [W × W]), 4l + F1 (W1 [F × W]), 4l + F2 (W2 [W × F]). */
enum { PETRA_TF_IN = -1, PETRA_TF_QKV = 0, PETRA_TF_O = 1, PETRA_TF_F1 = 2, PETRA_TF_F2 = 3 };
/* y [n × out] = x [n × in] · Wᵀ + b for matrix id. */
typedef void (*petra_tf_linear)(void *ctx, int id, int n, const float *x, float *y);

typedef struct petra_tf_layer_params {
  const float *ln1_g, *ln1_b, *wqkv, *bqkv, *wo, *bo, *ln2_g, *ln2_b, *w1, *b1, *w2, *b2;
} petra_tf_layer_params;
typedef struct petra_tf_params {
  const float *win, *bin, *pos, *lnf_g, *lnf_b;
  const float *t2v_w, *t2v_b, *t2v_p; /* time-aware: ω, φ [PETRA_TF_T2V], P [W × PETRA_TF_T2V] */
  petra_tf_layer_params l[PETRA_TF_MAX_LAYERS];
} petra_tf_params;
typedef struct petra_tf_layer_grads {
  float *ln1_g, *ln1_b, *wqkv, *bqkv, *wo, *bo, *ln2_g, *ln2_b, *w1, *b1, *w2, *b2;
} petra_tf_layer_grads;
typedef struct petra_tf_grads {
  float *win, *bin, *pos, *lnf_g, *lnf_b;
  float *t2v_w, *t2v_b, *t2v_p;
  petra_tf_layer_grads l[PETRA_TF_MAX_LAYERS];
} petra_tf_grads;

/* Floats of forward workspace (kept for the backward pass) and of backward workspace. */
size_t petra_tf_fwd_ws_floats(const petra_tf_dims *d);
size_t petra_tf_bwd_ws_floats(const petra_tf_dims *d);

/* out [B × W]. The layer norms' and positions' parameters are read from p; the products go
 * through lin(ctx, id, ...). */
void petra_tf_forward(const petra_tf_dims *d, const petra_tf_params *p, petra_tf_linear lin, void *ctx,
                      const float *x, const int *len, float *ws, float *out);

/* Given dout [B × W]: accumulates every gradient in g and writes dx [T][B][in] when not NULL. */
void petra_tf_backward(const petra_tf_dims *d, const petra_tf_params *p, const float *x, const int *len,
                       const float *ws, const float *dout, float *dx, const petra_tf_grads *g, float *bws);
#endif
