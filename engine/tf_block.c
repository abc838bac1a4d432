/* The transformer encoder (petra/tf.h) as a model core: its row of engine/block.h's table. Its
 * tensors and their initialization, its passes on the model's fp32 weights, its plan (the
 * input projection and each layer's QKV, O, W1, W2 compiled as the genome says; norms,
 * positions and biases in fp32), its pruning rule (a layer's feed-forward units; a layer
 * dropped whole) and its genome layers: "tf" (the input projection), "tf0", "tf1"... */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "core.h"
#include "petra/dense.h"
#include "petra/evolve.h"
#include "petra/rng.h"
#include "petra/tf.h"
#include "quant.h"

extern const petra_block petra_tf_block;

/* idx: the tensors outside the layers (ONE of them: in.w, in.b, pos, lnf.g, lnf.b, t2v.w,
 * t2v.b, t2v.p; −1 when absent), then per layer the 12 of tf_parts */
enum { IN_W, IN_B, POS, LNF_G, LNF_B, T2V_W, T2V_B, T2V_P, ONE };

/* A layer's tensors in petra_tf_layer_params order, and their shapes in rows × cols of
 * (W, 3W, F): 'w' W, 't' 3W, 'f' F, '1' one row. */
static const struct {
  const char *name;
  char rows, cols;
} tf_parts[12] = {{"ln1.g", '1', 'w'}, {"ln1.b", '1', 'w'}, {"wqkv", 't', 'w'},
                  {"bqkv", '1', 't'},  {"wo", 'w', 'w'},    {"bo", '1', 'w'},
                  {"ln2.g", '1', 'w'}, {"ln2.b", '1', 'w'}, {"w1", 'f', 'w'},
                  {"b1", '1', 'f'},    {"w2", 'w', 'f'},    {"b2", '1', 'w'}};
/* the four matrices of a layer (petra/tf.h ids QKV, O, F1, F2): their index in tf_parts; the
 * bias is the next */
static const int mat_part[4] = {2, 4, 8, 10};

static float *par(petra_model *m, int i) {
  return i < 0 ? NULL : petra_model_params(m) + petra_model_tensor(m, i)->offset;
}
static float *grad(petra_model *m, int i) {
  return i < 0 ? NULL : petra_model_grads(m) + petra_model_tensor(m, i)->offset;
}

/* ---------------------------------------------------------------- spec */

/* The spec keys: tf=LAYERS:HEADS:WIDTH, ffn=, tfid=, causal=, pool=, pos=. Nonzero when the key
 * is one of them (its result in *rc), 0 when not. */
static int parse(petra_model_spec *s, const char *k, const char *v, int *rc, petra_err *err) {
  if (!strcmp(k, "tf")) { /* LAYERS:HEADS:WIDTH */
    int L = 0, H = 0, W = 0, used = 0;
    if (sscanf(v, "%d:%d:%d%n", &L, &H, &W, &used) != 3 || v[used] || L < 1 ||
        L > PETRA_MAX_CORE_LAYERS || H < 1 || W < 1 || W > 1024 || W % H)
      return *rc = petra_err_set(err, PETRA_ERANGE,
                                 "model spec: tf=%s: expected LAYERS:HEADS:WIDTH, 1..%d layers, "
                                 "WIDTH <= 1024 a multiple of HEADS",
                                 v, PETRA_MAX_CORE_LAYERS);
    s->core = PETRA_CORE_TF;
    s->tf_layers = L, s->tf_heads = H, s->gru = W, s->n_stack = 0;
    for (int l = 0; l < PETRA_MAX_CORE_LAYERS; l++) s->tf_ffn[l] = 2 * W, s->tf_id[l] = l;
  } else if (!strcmp(k, "ffn")) { /* after tf=: one value for every layer, or one per layer */
    int n = petra_spec_parse_int_list(k, v, 1, 65536, PETRA_MAX_CORE_LAYERS, s->tf_ffn, err);
    if (n == -1) return *rc = PETRA_ERANGE, 1;
    if (n == -2)
      return *rc = petra_err_set(err, PETRA_ERANGE, "model spec: ffn=%s: at most %d layers", v,
                                 PETRA_MAX_CORE_LAYERS);
    if (n == 0)
      return *rc = petra_err_set(err, PETRA_ERANGE,
                                 "model spec: ffn=%s: expected units per layer, e.g. ffn=64,48", v);
    for (int l = n; l < PETRA_MAX_CORE_LAYERS; l++) s->tf_ffn[l] = s->tf_ffn[n - 1];
  } else if (!strcmp(k, "tfid")) { /* after tf=: the layers' numbers, increasing */
    int ids[PETRA_MAX_CORE_LAYERS];
    int n = petra_spec_parse_int_list(k, v, 0, PETRA_MAX_CORE_LAYERS - 1, PETRA_MAX_CORE_LAYERS,
                                      ids, err);
    if (n == -1) return *rc = PETRA_ERANGE, 1;
    if (n == -2 || n == 0 || n != s->tf_layers)
      return *rc = petra_err_set(err, PETRA_ERANGE,
                                 "model spec: tfid=%s: expected one number per layer of tf=", v);
    for (int l = 0; l < n; l++) {
      if (l && ids[l] <= ids[l - 1])
        return *rc = petra_err_set(err, PETRA_ERANGE,
                                   "model spec: tfid=%s: expected increasing numbers", v);
      s->tf_id[l] = ids[l];
    }
  } else if (!strcmp(k, "causal")) {
    *rc = petra_spec_parse_int(k, v, 0, 1, &s->tf_causal, err);
  } else if (!strcmp(k, "pos")) {
    if (!strcmp(v, "index")) {
      s->tf_time = 0;
    } else if (!strncmp(v, "time:", 5)) {
      int c = 0;
      if ((*rc = petra_spec_parse_int(k, v + 5, 0, 4095, &c, err))) return 1;
      s->tf_time = c + 1;
    } else {
      return *rc = petra_err_set(
                 err, PETRA_EINVAL,
                 "model spec: pos=%s: expected index or time:COLUMN (a numeric column)", v);
    }
  } else if (!strcmp(k, "pool")) {
    if (strcmp(v, "last") && strcmp(v, "mean"))
      return *rc =
                 petra_err_set(err, PETRA_EINVAL, "model spec: pool=%s: expected last or mean", v);
    s->tf_pool_mean = !strcmp(v, "mean");
  } else {
    return 0;
  }
  return 1;
}

static int check(petra_model_spec *s, petra_err *err) {
  const int is_tf = petra_block_of(s) == &petra_tf_block;
  /* the transformer keeps every layer's attention weights per example for its backward
   * pass: heads × len² floats per layer (len=4096, 4 heads, 2 layers would be 512 MiB an
   * example); refused past 2^24 floats (64 MiB) */
  if (is_tf && (double)s->tf_heads * s->seq_len * s->seq_len * s->tf_layers > 16777216.0)
    return petra_err_set(
        err, PETRA_ERANGE,
        "model spec: tf=%d:%d:%d with len=%d keeps %.0f attention weights per example "
        "(layers x heads x len^2); at most 16777216: a shorter len or fewer heads",
        s->tf_layers, s->tf_heads, s->gru, s->seq_len,
        (double)s->tf_heads * s->seq_len * s->seq_len * s->tf_layers);
  if (s->tf_time && !is_tf)
    return petra_err_set(err, PETRA_EINVAL,
                         "model spec: pos=time:%d applies to a transformer core (tf=)",
                         s->tf_time - 1);
  if (s->tf_time > s->n_numeric)
    return petra_err_set(
        err, PETRA_ERANGE,
        "model spec: pos=time:%d but the model has %d numeric input(s) (columns 0..%d)",
        s->tf_time - 1, s->n_numeric, s->n_numeric - 1);
  /* canonical: feed-forward widths only for the transformer's layers; no layers unless the
   * core is this (tf=2:4:32 then gru=64: the GRU) */
  if (!is_tf) s->tf_layers = s->tf_heads = 0;
  for (int l = is_tf ? s->tf_layers : 0; l < PETRA_MAX_CORE_LAYERS; l++)
    s->tf_ffn[l] = s->tf_id[l] = 0;
  return 0;
}

/* tf=LAYERS:HEADS:WIDTH ffn=... as the spec text writes it (what follows "tf=") */
static void format(const petra_model_spec *s, char *buf, size_t n) {
  size_t uo;
  uo = (size_t)snprintf(buf, n, "%d:%d:%d ffn=%d", s->tf_layers, s->tf_heads, s->gru, s->tf_ffn[0]);
  for (int l = 1; l < s->tf_layers && uo < n; l++)
    uo += (size_t)snprintf(buf + uo, n - uo, ",%d", s->tf_ffn[l]);
  int renumbered = 0;
  for (int l = 0; l < s->tf_layers; l++) renumbered |= s->tf_id[l] != l;
  for (int l = 0; renumbered && l < s->tf_layers && uo < n; l++)
    uo += (size_t)snprintf(buf + uo, n - uo, "%s%d", l ? "," : " tfid=", s->tf_id[l]);
  if (uo < n)
    uo += (size_t)snprintf(buf + uo, n - uo, " causal=%d pool=%s", s->tf_causal,
                           s->tf_pool_mean ? "mean" : "last");
  if (s->tf_time && uo < n) /* (pos=index, the default, is not written: older spec texts) */
    snprintf(buf + uo, n - uo, " pos=time:%d", s->tf_time - 1);
}

/* ---------------------------------------------------------------- genome */

static int genes(const petra_model_spec *s, char (*names)[32], unsigned char *flags, int max) {
  int n = 0;
  for (int l = -1; l < s->tf_layers && n < max; l++, n++) {
    petra_tf_name(s, l, NULL, names[n], sizeof names[0]);
    /* the input projection's width runs through every residual: its units stay; a layer's
     * keep prunes its feed-forward units, and the layer may be dropped whole */
    flags[n] = l < 0 ? PETRA_EVO_FIXED_UNITS : PETRA_EVO_DROPPABLE;
  }
  return n;
}

static int weight_layer(const char *tensor, char *layer, size_t n) {
  static const char *const parts[] = {"wqkv", "wo", "w1", "w2", NULL};
  if (!strcmp(tensor, "tf.in.w")) {
    if (n < 3) return 0;
    strcpy(layer, "tf");
    return 1;
  }
  return petra_layer_of(tensor, "tf", parts, layer, n);
}

static void input_tensor(const petra_model_spec *s, char *buf, size_t n) {
  petra_tf_name(s, -1, "in.w", buf, n);
}

/* ---------------------------------------------------------------- model */

static void layout(petra_model *m, int in, int *idx) {
  const petra_model_spec *s = petra_model_get_spec(m);
  char nm[PETRA_NAME_MAX];
  const int W = s->gru;
  for (int i = 0; i < ONE; i++) idx[i] = -1;
  petra_tf_name(s, -1, "in.w", nm, sizeof nm);
  idx[IN_W] = petra_model_add_tensor(m, nm, W, in);
  petra_tf_name(s, -1, "in.b", nm, sizeof nm);
  idx[IN_B] = petra_model_add_tensor(m, nm, 1, W);
  if (s->tf_time) {
    static const char *t2v[3] = {"t2v.w", "t2v.b", "t2v.p"};
    for (int k = 0; k < 3; k++) {
      petra_tf_name(s, -1, t2v[k], nm, sizeof nm);
      idx[T2V_W + k] = petra_model_add_tensor(m, nm, k == 2 ? W : 1, PETRA_TF_T2V);
    }
  } else {
    petra_tf_name(s, -1, "pos", nm, sizeof nm);
    idx[POS] = petra_model_add_tensor(m, nm, s->seq_len, W);
  }
  for (int l = 0; l < s->tf_layers; l++)
    for (int k = 0; k < 12; k++) {
      int dim[2];
      for (int e = 0; e < 2; e++) {
        char c = e ? tf_parts[k].cols : tf_parts[k].rows;
        dim[e] = c == '1' ? 1 : c == 'w' ? W : c == 't' ? 3 * W : s->tf_ffn[l];
      }
      petra_tf_name(s, l, tf_parts[k].name, nm, sizeof nm);
      idx[ONE + 12 * l + k] = petra_model_add_tensor(m, nm, dim[0], dim[1]);
    }
  petra_tf_name(s, -1, "lnf.g", nm, sizeof nm);
  idx[LNF_G] = petra_model_add_tensor(m, nm, 1, W);
  petra_tf_name(s, -1, "lnf.b", nm, sizeof nm);
  idx[LNF_B] = petra_model_add_tensor(m, nm, 1, W);
}

static void init_uniform(petra_model *m, int i, float bound) {
  float *x = par(m, i);
  size_t n = (size_t)petra_model_tensor(m, i)->rows * petra_model_tensor(m, i)->cols;
  for (size_t k = 0; k < n; k++)
    x[k] = (float)((petra_rng_uniform(petra_model_rng(m)) * 2.0 - 1.0) * bound);
}

/* linear maps as PyTorch's nn.Linear, norms at 1 and 0, positions N(0, 0.02²) */
static void init(petra_model *m, const int *idx) {
  const petra_model_spec *s = petra_model_get_spec(m);
  petra_rng *rng = petra_model_rng(m);
  float bi = 1.0f / sqrtf((float)petra_model_tensor(m, idx[IN_W])->cols);
  init_uniform(m, idx[IN_W], bi);
  init_uniform(m, idx[IN_B], bi);
  if (idx[POS] >= 0) {
    float *pos = par(m, idx[POS]);
    for (int i = 0; i < s->seq_len * s->gru; i++) pos[i] = (float)(0.02 * petra_rng_normal(rng));
  } else { /* Time2Vec: frequencies N(0, 1), phases U(0, 2π), P N(0, 0.02²) as the table */
    for (int k = 0; k < PETRA_TF_T2V; k++) {
      par(m, idx[T2V_W])[k] = (float)petra_rng_normal(rng);
      par(m, idx[T2V_B])[k] = (float)(6.283185307179586 * petra_rng_uniform(rng));
    }
    for (int i = 0; i < s->gru * PETRA_TF_T2V; i++)
      par(m, idx[T2V_P])[i] = (float)(0.02 * petra_rng_normal(rng));
  }
  int ones[] = {0, 6};
  for (int l = 0; l < s->tf_layers; l++) {
    const int *t = idx + ONE + 12 * l;
    for (int k = 0; k < 12; k++) {
      if (k == 0 || k == 1 || k == 6 || k == 7) continue;
      int fan = k == 3 || k == 5 ? s->gru
                : k == 9         ? s->gru
                : k == 11        ? s->tf_ffn[l]
                                 : petra_model_tensor(m, t[k])->cols;
      init_uniform(m, t[k], 1.0f / sqrtf((float)fan));
    }
    for (int e = 0; e < 2; e++)
      for (int j = 0; j < s->gru; j++) par(m, t[ones[e]])[j] = 1.0f;
  }
  for (int j = 0; j < s->gru; j++) par(m, idx[LNF_G])[j] = 1.0f;
}

/* The dimensions for B sequences of in inputs; time-aware positions read the event times from
 * numeric column C of x0's rows (0 past a length). */
static petra_tf_dims dims(const petra_model_spec *s, int B, int in, petra_block_events ev) {
  petra_tf_dims d = {.T = s->seq_len,
                     .B = B,
                     .in = in,
                     .W = s->gru,
                     .heads = s->tf_heads,
                     .layers = s->tf_layers,
                     .causal = s->tf_causal,
                     .pool_mean = s->tf_pool_mean};
  for (int l = 0; l < s->tf_layers; l++) d.F[l] = s->tf_ffn[l];
  if (s->tf_time && ev.x0) {
    d.tau = ev.x0 + (ev.E - s->n_numeric + s->tf_time - 1);
    d.tau_stride = ev.E;
  }
  return d;
}
static petra_tf_dims model_dims(const petra_model *m, const int *idx, int B,
                                petra_block_events ev) {
  return dims(petra_model_get_spec(m), B, petra_model_tensor(m, idx[IN_W])->cols, ev);
}

/* The model's tensors as the transformer's parameters or gradients (pos or t2v absent: NULL). */
static void bind(petra_model *m, const int *idx, float *(*at)(petra_model *, int), float **v) {
  for (int i = 0; i < ONE + 12 * petra_model_get_spec(m)->tf_layers; i++) v[i] = at(m, idx[i]);
}
/* petra_tf_params and petra_tf_grads have the same members (const or not): one filler */
#define TF_FILL(Struct, Layer, at)                                                                 \
  float *v[ONE + 12 * PETRA_MAX_CORE_LAYERS] = {0};                                                \
  bind(m, idx, at, v);                                                                             \
  Struct r = {.win = v[IN_W], .bin = v[IN_B], .pos = v[POS], .lnf_g = v[LNF_G], .lnf_b = v[LNF_B], \
              .t2v_w = v[T2V_W], .t2v_b = v[T2V_B], .t2v_p = v[T2V_P]};                            \
  for (int l = 0; l < petra_model_get_spec(m)->tf_layers; l++) {                                   \
    float **q = v + ONE + 12 * l;                                                                  \
    r.l[l] = (Layer){q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7], q[8], q[9], q[10], q[11]};    \
  }                                                                                                \
  return r
static petra_tf_params params(petra_model *m, const int *idx) { TF_FILL(petra_tf_params, petra_tf_layer_params, par); }
static petra_tf_grads grads(petra_model *m, const int *idx) { TF_FILL(petra_tf_grads, petra_tf_layer_grads, grad); }
#undef TF_FILL

/* petra_tf_linear on the model's fp32 weights */
typedef struct model_ctx {
  petra_model *m;
  const int *idx;
} model_ctx;
static void model_linear(void *ctx, int id, int n, const float *x, float *y) {
  model_ctx *c = ctx;
  int w = id == PETRA_TF_IN ? c->idx[IN_W] : c->idx[ONE + 12 * (id / 4) + mat_part[id % 4]];
  int b = id == PETRA_TF_IN ? c->idx[IN_B] : c->idx[ONE + 12 * (id / 4) + mat_part[id % 4] + 1];
  const petra_tensor_info *t = petra_model_tensor(c->m, w);
  petra_dense_forward(n, t->cols, t->rows, x, par(c->m, w), par(c->m, b), y);
}

/* The workspace: the forward pass's (kept for the backward), the backward's, the outputs [B][W]. */
static size_t ws_floats(const petra_model *m, const int *idx, int B) {
  petra_tf_dims d = model_dims(m, idx, B, (petra_block_events){0});
  return petra_tf_fwd_ws_floats(&d) + petra_tf_bwd_ws_floats(&d) + (size_t)B * d.W;
}

static const float *forward(petra_model *m, const int *idx, int B, const float *x, const int *len,
                            petra_block_events ev, float *ws, int train) {
  petra_tf_dims d = model_dims(m, idx, B, ev);
  float *out = ws + petra_tf_fwd_ws_floats(&d) + petra_tf_bwd_ws_floats(&d);
  d.out_only = !train; /* evaluation: no backward pass reads the workspace */
  petra_tf_params tp = params(m, idx);
  model_ctx c = {m, idx};
  petra_tf_forward(&d, &tp, model_linear, &c, x, len, ws, out);
  return out;
}

static void backward(petra_model *m, const int *idx, int B, const float *x, const int *len,
                     petra_block_events ev, float *ws, const float *dtop, float *dx) {
  petra_tf_dims d = model_dims(m, idx, B, ev);
  petra_tf_params tp = params(m, idx);
  petra_tf_grads tg = grads(m, idx);
  petra_tf_backward(&d, &tp, x, len, ws, dtop, dx, &tg, ws + petra_tf_fwd_ws_floats(&d));
}

/* ---------------------------------------------------------------- plan */

typedef struct tf_plan {
  petra_model_spec s;
  int in;
  float *f32;        /* one block: the fp32 vectors of p point into it */
  petra_tf_params p; /* (its weight pointers unused: the products are the compiled linears) */
  int h_in, h[PETRA_MAX_CORE_LAYERS][4]; /* the linears' handles: input, per layer QKV, O, W1, W2 */
} tf_plan;

static void plan_free(void *st) {
  tf_plan *t = st;
  if (!t) return;
  free(t->f32);
  free(t);
}

static const float *tensor(const petra_model *m, const char *name) {
  const petra_tensor_info *t = petra_model_find_tensor(m, name);
  return t ? petra_model_params((petra_model *)m) + t->offset : NULL;
}

static void *plan_build(const petra_model *m, int in, petra_block_linker *lk,
                        size_t *bytes_f32, petra_err *err) {
  const petra_model_spec *s = petra_model_get_spec(m);
  const int W = s->gru, T = s->seq_len;
  tf_plan *t = calloc(1, sizeof *t);
  size_t nf = (s->tf_time ? (size_t)(W + 2) * PETRA_TF_T2V : (size_t)T * W) +
              3 * (size_t)W; /* pos, lnf g/b, in bias */
  for (int l = 0; l < s->tf_layers; l++)
    nf += 4 * (size_t)W + 3 * (size_t)W + W + (size_t)s->tf_ffn[l] + W;
  if (!t || !(t->f32 = malloc(sizeof(float) * nf))) {
    plan_free(t);
    petra_err_set(err, PETRA_ENOMEM, "plan: out of memory");
    return NULL;
  }
  t->s = *s;
  t->in = in;
  float *q = t->f32;
  char nm[PETRA_NAME_MAX], gl[16];
#define TFV(dst, l, part, n)                       \
  do {                                             \
    petra_tf_name(s, l, part, nm, sizeof nm);      \
    memcpy(q, tensor(m, nm), sizeof(float) * (n)); \
    (dst) = q;                                     \
    q += (n);                                      \
  } while (0)
  const float *bin;
  if (s->tf_time) {
    TFV(t->p.t2v_w, -1, "t2v.w", (size_t)PETRA_TF_T2V);
    TFV(t->p.t2v_b, -1, "t2v.b", (size_t)PETRA_TF_T2V);
    TFV(t->p.t2v_p, -1, "t2v.p", (size_t)W * PETRA_TF_T2V);
  } else {
    TFV(t->p.pos, -1, "pos", (size_t)T * W);
  }
  TFV(t->p.lnf_g, -1, "lnf.g", (size_t)W);
  TFV(t->p.lnf_b, -1, "lnf.b", (size_t)W);
  TFV(bin, -1, "in.b", (size_t)W);
  petra_tf_name(s, -1, NULL, gl, sizeof gl);
  petra_tf_name(s, -1, "in.w", nm, sizeof nm);
  int bad = (t->h_in = lk->add(lk, tensor(m, nm), W, in, gl, bin)) < 0;
  for (int l = 0; l < s->tf_layers; l++) {
    petra_tf_layer_params *lp = &t->p.l[l];
    const float *bq, *bo, *b1, *b2;
    const int F = s->tf_ffn[l];
    TFV(lp->ln1_g, l, "ln1.g", (size_t)W);
    TFV(lp->ln1_b, l, "ln1.b", (size_t)W);
    TFV(lp->ln2_g, l, "ln2.g", (size_t)W);
    TFV(lp->ln2_b, l, "ln2.b", (size_t)W);
    TFV(bq, l, "bqkv", 3 * (size_t)W);
    TFV(bo, l, "bo", (size_t)W);
    TFV(b1, l, "b1", (size_t)F);
    TFV(b2, l, "b2", (size_t)W);
    petra_tf_name(s, l, NULL, gl, sizeof gl);
    const int rows[4] = {3 * W, W, F, W}, cols[4] = {W, W, W, F};
    const float *bs[4] = {bq, bo, b1, b2};
    for (int k = 0; k < 4; k++) {
      petra_tf_name(s, l, tf_parts[mat_part[k]].name, nm, sizeof nm);
      bad |= (t->h[l][k] = lk->add(lk, tensor(m, nm), rows[k], cols[k], gl, bs[k])) < 0;
    }
  }
#undef TFV
  if (bad) {
    plan_free(t);
    petra_err_set(err, PETRA_ENOMEM, "plan: out of memory");
    return NULL;
  }
  *bytes_f32 = sizeof(float) * nf;
  return t;
}

static petra_tf_dims plan_dims(const tf_plan *t, int B, petra_block_events ev) {
  petra_tf_dims d = dims(&t->s, B, t->in, ev);
  d.out_only = 1;
  return d;
}

/* the forward pass's workspace, then the outputs [B][W] */
static size_t plan_ws_floats(const void *st, int B) {
  const tf_plan *t = st;
  petra_tf_dims d = plan_dims(t, B, (petra_block_events){0});
  return petra_tf_fwd_ws_floats(&d) + (size_t)B * t->s.gru;
}

/* petra_tf_linear on the plan's compiled linears */
typedef struct plan_ctx {
  const tf_plan *t;
  petra_block_apply apply;
  void *ctx;
} plan_ctx;
static void plan_linear(void *ctx, int id, int n, const float *x, float *y) {
  plan_ctx *c = ctx;
  c->apply(c->ctx, id == PETRA_TF_IN ? c->t->h_in : c->t->h[id / 4][id % 4], n, x, y);
}

static const float *plan_forward(const void *st, int B, const float *x, const int *len,
                                 petra_block_events ev, float *ws, petra_block_apply apply,
                                 void *actx) {
  const tf_plan *t = st;
  petra_tf_dims d = plan_dims(t, B, ev);
  float *out = ws + petra_tf_fwd_ws_floats(&d);
  plan_ctx c = {t, apply, actx};
  petra_tf_forward(&d, &t->p, plan_linear, &c, x, len, ws, out);
  return out;
}

/* ---------------------------------------------------------------- pruning */

/* Kept feed-forward units per layer of m (NULL: the layer is dropped). */
typedef struct tf_keep {
  int *ffn[PETRA_MAX_CORE_LAYERS];
  int k[PETRA_MAX_CORE_LAYERS];
} tf_keep;

static void prune_free(void *keep) {
  tf_keep *k = keep;
  if (!k) return;
  for (int l = 0; l < PETRA_MAX_CORE_LAYERS; l++) free(k->ffn[l]);
  free(k);
}

/* A layer's feed-forward units by their W1 row times their W2 column; a layer whose gene drops
 * it is left out whole (the others keep their numbers: ns->tf_id). */
static int prune_spec(const petra_model *m, const petra_genome *g, petra_model_spec *ns,
                      void **keep, petra_err *err) {
  const petra_model_spec *s = petra_model_get_spec(m);
  tf_keep *k = calloc(1, sizeof *k);
  if (!k) return petra_err_set(err, PETRA_ENOMEM, "prune: out of memory");
  int kept = 0;
  for (int l = 0; l < s->tf_layers; l++) {
    char n1[PETRA_NAME_MAX], n2[PETRA_NAME_MAX], gname[16];
    petra_tf_name(s, l, "w1", n1, sizeof n1);
    petra_tf_name(s, l, "w2", n2, sizeof n2);
    petra_tf_name(s, l, NULL, gname, sizeof gname);
    petra_layer_gene gene = petra_genome_gene(g, gname);
    if (gene.drop) continue;
    const int F = s->tf_ffn[l];
    const petra_tensor_info *t1 = petra_model_find_tensor(m, n1),
                            *t2 = petra_model_find_tensor(m, n2);
    const float *w1 = tensor(m, n1), *w2 = tensor(m, n2);
    k->k[l] = petra_prune_kept(gene.keep, F);
    double *score = malloc(sizeof(double) * (size_t)F);
    if (!score) {
      prune_free(k);
      return petra_err_set(err, PETRA_ENOMEM, "prune: out of memory");
    }
    for (int j = 0; j < F; j++)
      score[j] =
          petra_prune_row_norm2(w1, t1->cols, j) * petra_prune_col_norm2(w2, t2->rows, t2->cols, j);
    k->ffn[l] = petra_prune_top_k(score, F, k->k[l]);
    free(score);
    if (!k->ffn[l]) {
      prune_free(k);
      return petra_err_set(err, PETRA_ENOMEM, "prune: out of memory");
    }
    ns->tf_ffn[kept] = k->k[l];
    ns->tf_id[kept++] = s->tf_id[l];
  }
  if (!kept) {
    prune_free(k);
    return petra_err_set(err, PETRA_EINVAL,
                         "prune: the genome drops every transformer layer (keep one)");
  }
  for (int l = kept; l < PETRA_MAX_CORE_LAYERS; l++) ns->tf_ffn[l] = ns->tf_id[l] = 0;
  ns->tf_layers = kept;
  *keep = k;
  return 0;
}

/* The input projection's columns as the block's input; the feed-forward units kept; the rest
 * as they are, each kept layer under its own name. */
static void prune_copy(const petra_model *m, petra_model *out, const void *keep, const int *in_cols,
                       int n_in_cols) {
  const petra_model_spec *s = petra_model_get_spec(m);
  const tf_keep *k = keep;
  for (int i = 0; i < petra_model_n_tensors(m); i++) {
    const petra_tensor_info *ti = petra_model_tensor(m, i);
    if (strncmp(ti->name, "tf", 2)) continue;
    int l = -1; /* the layer's position in m (its name carries its number, s->tf_id) */
    const char *part = strchr(ti->name, '.') + 1;
    if (ti->name[2] != '.')
      for (int j = 0; j < s->tf_layers; j++)
        if (s->tf_id[j] == ti->name[2] - '0') l = j;
    if (l >= 0 && !k->ffn[l]) continue;
    const petra_tensor_info *to = petra_model_find_tensor(out, ti->name);
    float *dst = petra_model_params(out) + to->offset;
    const float *src = petra_model_params((petra_model *)m) + ti->offset;
    if (l < 0 && !strcmp(part, "in.w")) {
      petra_prune_gather(src, ti->cols, NULL, ti->rows, in_cols, in_cols ? n_in_cols : ti->cols,
                         dst);
    } else if (l >= 0 && !strcmp(part, "w1")) {
      petra_prune_gather(src, ti->cols, k->ffn[l], k->k[l], NULL, ti->cols, dst);
    } else if (l >= 0 && !strcmp(part, "b1")) {
      petra_prune_gather(src, ti->cols, NULL, 1, k->ffn[l], k->k[l], dst);
    } else if (l >= 0 && !strcmp(part, "w2")) {
      petra_prune_gather(src, ti->cols, NULL, ti->rows, k->ffn[l], k->k[l], dst);
    } else {
      memcpy(dst, src, sizeof(float) * (size_t)ti->rows * ti->cols);
    }
  }
}

const petra_block petra_tf_block = {
    .kind = PETRA_CORE_TF,
    .key = "tf",
    .example = "tf=2:2:8 ffn=12,8",
    .parse = parse,
    .check = check,
    .format = format,
    .genes = genes,
    .weight_layer = weight_layer,
    .input_tensor = input_tensor,
    .layout = layout,
    .init = init,
    .ws_floats = ws_floats,
    .forward = forward,
    .backward = backward,
    .plan_build = plan_build,
    .plan_ws_floats = plan_ws_floats,
    .plan_forward = plan_forward,
    .plan_free = plan_free,
    .prune_spec = prune_spec,
    .prune_copy = prune_copy,
    .prune_free = prune_free,
};
