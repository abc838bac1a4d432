#include "petra/prune.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "petra/evolve.h"
#include "core.h"
#include "quant.h"

/* Kept indices: the k largest scores, returned in ascending index order. */
int *petra_prune_top_k(const double *score, int n, int k) {
  int *idx = malloc(sizeof(int) * (size_t)n);
  char *take = calloc((size_t)n, 1);
  if (!idx || !take) {
    free(idx);
    free(take);
    return NULL;
  }
  for (int c = 0; c < k; c++) {
    int best = -1;
    for (int i = 0; i < n; i++)
      if (!take[i] && (best < 0 || score[i] > score[best])) best = i;
    take[best] = 1;
  }
  int m = 0;
  for (int i = 0; i < n; i++)
    if (take[i]) idx[m++] = i;
  free(take);
  return idx;
}

int petra_prune_kept(float keep, int n) {
  int k = (int)ceil((double)keep * n - 1e-9);
  return k < 1 ? 1 : (k > n ? n : k);
}

static const float *T(const petra_model *m, const char *name, int *rows, int *cols) {
  if (rows) *rows = 0;
  if (cols) *cols = 0;
  const petra_tensor_info *t = petra_model_find_tensor(m, name);
  if (!t) return NULL;
  if (rows) *rows = t->rows;
  if (cols) *cols = t->cols;
  return petra_model_params((petra_model *)m) + t->offset;
}
static float *Tw(petra_model *m, const char *name) {
  const petra_tensor_info *t = petra_model_find_tensor(m, name);
  return t ? petra_model_params(m) + t->offset : NULL;
}

double petra_prune_row_norm2(const float *w, int cols, int r) {
  double s = 0;
  for (int c = 0; c < cols; c++) s += (double)w[(size_t)r * cols + c] * w[(size_t)r * cols + c];
  return s;
}
double petra_prune_col_norm2(const float *w, int rows, int cols, int c) {
  double s = 0;
  for (int r = 0; r < rows; r++) s += (double)w[(size_t)r * cols + c] * w[(size_t)r * cols + c];
  return s;
}

/* Copies rows `ri` (nr of them) and columns `ci` (nc) of a [*, cols] matrix; NULL = all. */
void petra_prune_gather(const float *src, int cols, const int *ri, int nr, const int *ci, int nc,
                   float *dst) {
  for (int r = 0; r < nr; r++) {
    int sr = ri ? ri[r] : r;
    for (int c = 0; c < nc; c++) dst[(size_t)r * nc + c] = src[(size_t)sr * cols + (ci ? ci[c] : c)];
  }
}

/* GRU rows of the kept units, gate by gate: j, H+j, 2H+j. */
static int *gate_rows(const int *units, int k, int H, int gates) {
  int *r = malloc(sizeof(int) * (size_t)gates * (size_t)k);
  if (!r) return NULL;
  for (int g = 0; g < gates; g++)
    for (int i = 0; i < k; i++) r[g * k + i] = g * H + units[i];
  return r;
}

petra_model *petra_prune(const petra_model *m, const petra_genome *g, petra_err *err) {
  if (petra_model_get_spec(m)->kind == PETRA_MODEL_TS && petra_model_get_spec(m)->arch == PETRA_TS_DLINEAR) {
    /* compressed, a dlinear model is the linear model with its two maps folded */
    petra_model *f = petra_model_fold(m, err);
    if (!f) return NULL;
    petra_model *out = petra_prune(f, g, err);
    petra_model_free(f);
    return out;
  }
  const petra_model_spec *s = petra_model_get_spec(m);
  petra_model_spec ns = *s;
  int *emb_keep[PETRA_MAX_FIELDS] = {0}, *dense_keep = NULL, *core_keep[PETRA_MAX_CORE_LAYERS] = {0};
  int *in_cols = NULL; /* kept input columns of the layer after the embeddings */
  int n_in_cols = 0;
  petra_model *out = NULL;
  int D = 0, K_d = 0, K_c[PETRA_MAX_CORE_LAYERS] = {0};
  const petra_block *blk = petra_block_of(s);
  void *blk_keep = NULL;
  char blk_in[PETRA_NAME_MAX] = ""; /* the tensor that reads the block's input */
  if (blk) blk->input_tensor(s, blk_in, sizeof blk_in);
  const petra_core *core = petra_core_of(s);
  const int NG = core->gates, NL = petra_spec_core_layers(s);
  const int core_used = NL > 0 && (s->kind == PETRA_MODEL_SEQ || s->arch == PETRA_TS_GRU);
  petra_core_names cn[PETRA_MAX_CORE_LAYERS];
  for (int l = 0; l < NL; l++) cn[l] = petra_core_layer_names(core, l);
  int wr = 0, wc = 0;

  if (s->kind == PETRA_MODEL_SEQ) {
    /* the layer that reads the concatenated per-event inputs */
    const char *reader = s->dense > 0 ? "dense0.w" : blk ? blk_in : cn[0].wih;
    int rr = 0, rc = 0;
    const float *rw = T(m, reader, &rr, &rc);
    in_cols = malloc(sizeof(int) * (size_t)rc);
    if (!in_cols) goto oom;
    int off = 0;
    for (int f = 0; f < s->n_fields; f++) {
      char name[PETRA_NAME_MAX + 8];
      snprintf(name, sizeof name, "emb.%s", s->fields[f].name);
      int vr = 0, d = 0;
      const float *tab = T(m, name, &vr, &d);
      int k = petra_prune_kept(petra_genome_gene(g, name).keep, d);
      double *score = malloc(sizeof(double) * (size_t)d);
      if (!score) goto oom;
      for (int j = 0; j < d; j++) score[j] = petra_prune_col_norm2(tab, vr, d, j) * petra_prune_col_norm2(rw, rr, rc, off + j);
      emb_keep[f] = petra_prune_top_k(score, d, k);
      free(score);
      if (!emb_keep[f]) goto oom;
      for (int j = 0; j < k; j++) in_cols[n_in_cols++] = off + emb_keep[f][j];
      ns.fields[f].dim = k;
      off += d;
    }
    for (int j = 0; j < s->n_numeric; j++) in_cols[n_in_cols++] = off + j;
  }

  if (s->dense > 0 || (s->kind == PETRA_MODEL_TS && s->arch == PETRA_TS_MLP)) {
    D = s->kind == PETRA_MODEL_SEQ ? s->dense : s->hidden;
    const float *w = T(m, "dense0.w", &wr, &wc);
    const char *next = s->kind != PETRA_MODEL_SEQ ? "head.w" : blk ? blk_in : cn[0].wih;
    int nr = 0, nc = 0;
    const float *nw = T(m, next, &nr, &nc);
    K_d = petra_prune_kept(petra_genome_gene(g, "dense0").keep, D);
    double *score = malloc(sizeof(double) * (size_t)D);
    if (!score) goto oom;
    for (int o = 0; o < D; o++) score[o] = petra_prune_row_norm2(w, wc, o) * petra_prune_col_norm2(nw, nr, nc, o);
    dense_keep = petra_prune_top_k(score, D, K_d);
    free(score);
    if (!dense_keep) goto oom;
    if (s->kind == PETRA_MODEL_SEQ) ns.dense = K_d;
    else ns.hidden = K_d;
  }

  /* each recurrent layer's units: by their incoming weights (every gate's rows of wih and whh)
   * times their outgoing ones (their whh column and the column of the reader above: the next
   * layer's wih or the head) */
  for (int l = 0; core_used && l < NL; l++) {
    int H = petra_spec_core_units(s, l), ir = 0, ic = 0, hr = 0, hc = 0, or_ = 0, oc = 0;
    const float *wih = T(m, cn[l].wih, &ir, &ic), *whh = T(m, cn[l].whh, &hr, &hc);
    const float *nx = T(m, l + 1 < NL ? cn[l + 1].wih : "head.w", &or_, &oc);
    K_c[l] = petra_prune_kept(petra_genome_gene(g, cn[l].layer).keep, H);
    double *score = malloc(sizeof(double) * (size_t)H);
    if (!score) goto oom;
    for (int j = 0; j < H; j++) {
      double in = 0;
      for (int gte = 0; gte < NG; gte++) in += petra_prune_row_norm2(wih, ic, gte * H + j) + petra_prune_row_norm2(whh, hc, gte * H + j);
      score[j] = in * (petra_prune_col_norm2(whh, hr, hc, j) + petra_prune_col_norm2(nx, or_, oc, j));
    }
    core_keep[l] = petra_prune_top_k(score, H, K_c[l]);
    free(score);
    if (!core_keep[l]) goto oom;
    if (l == 0)
      ns.gru = K_c[0];
    else
      ns.stack[l - 1] = K_c[l];
  }

  /* a block's own rule (a transformer: feed-forward units, layers dropped whole) */
  if (blk && blk->prune_spec(m, g, &ns, &blk_keep, err)) goto fail;
  for (int i = 0; i < g->n_layers; i++) {
    const char *gl = g->layers[i].layer;
    if (g->layers[i].drop && !(petra_block_gene_flags(s, gl) & PETRA_EVO_DROPPABLE)) {
      petra_err_set(err, PETRA_EINVAL, "prune: %s: drop=1 applies to a core's droppable layers (tf0, tf1, ...)", gl);
      goto fail;
    }
  }

  out = petra_model_new(&ns, 0, err);
  if (!out) goto fail;
  if (blk) /* its input columns: the kept dense units, or embedding and numeric columns */
    blk->prune_copy(m, out, blk_keep, dense_keep ? dense_keep : in_cols, dense_keep ? K_d : n_in_cols);
  /* copy kept weights */
  if (s->kind == PETRA_MODEL_SEQ) {
    for (int f = 0; f < s->n_fields; f++) {
      char name[PETRA_NAME_MAX + 8];
      snprintf(name, sizeof name, "emb.%s", s->fields[f].name);
      int vr = 0, d = 0;
      const float *tab = T(m, name, &vr, &d);
      petra_prune_gather(tab, d, NULL, vr, emb_keep[f], ns.fields[f].dim, Tw(out, name));
    }
  }
  if (dense_keep) {
    const float *w = T(m, "dense0.w", &wr, &wc);
    const int *cols = s->kind == PETRA_MODEL_SEQ ? in_cols : NULL;
    int ncols = s->kind == PETRA_MODEL_SEQ ? n_in_cols : wc;
    petra_prune_gather(w, wc, dense_keep, K_d, cols, ncols, Tw(out, "dense0.w"));
    petra_prune_gather(T(m, "dense0.b", NULL, NULL), D, NULL, 1, dense_keep, K_d, Tw(out, "dense0.b"));
  }
  for (int l = 0; core_used && l < NL; l++) {
    int H = petra_spec_core_units(s, l), K = K_c[l];
    int *rows = gate_rows(core_keep[l], K, H, NG);
    if (!rows) goto oom;
    int ir = 0, ic = 0;
    const float *wih = T(m, cn[l].wih, &ir, &ic);
    /* input columns: the layer below's kept units; for layer 0 the kept dense units, or the
     * kept embedding/numeric columns, or all (ts) */
    const int *cols = l > 0 ? core_keep[l - 1] : dense_keep ? dense_keep : (s->kind == PETRA_MODEL_SEQ ? in_cols : NULL);
    int ncols = l > 0 ? K_c[l - 1] : dense_keep ? K_d : (s->kind == PETRA_MODEL_SEQ ? n_in_cols : ic);
    petra_prune_gather(wih, ic, rows, NG * K, cols, ncols, Tw(out, cn[l].wih));
    petra_prune_gather(T(m, cn[l].whh, NULL, NULL), H, rows, NG * K, core_keep[l], K, Tw(out, cn[l].whh));
    petra_prune_gather(T(m, cn[l].bih, NULL, NULL), NG * H, NULL, 1, rows, NG * K, Tw(out, cn[l].bih));
    petra_prune_gather(T(m, cn[l].bhh, NULL, NULL), NG * H, NULL, 1, rows, NG * K, Tw(out, cn[l].bhh));
    free(rows);
  }
  {
    int hr = 0, hc = 0;
    const float *hw = T(m, "head.w", &hr, &hc);
    const int *top = core_used ? core_keep[NL - 1] : NULL;
    const int *cols = top ? top : (s->kind == PETRA_MODEL_TS && dense_keep ? dense_keep : NULL);
    int ncols = top ? K_c[NL - 1] : (s->kind == PETRA_MODEL_TS && dense_keep ? K_d : hc);
    petra_prune_gather(hw, hc, NULL, hr, cols, ncols, Tw(out, "head.w"));
    memcpy(Tw(out, "head.b"), T(m, "head.b", NULL, NULL), sizeof(float) * (size_t)hr);
  }
  if (petra_model_n_state(m))
    memcpy(petra_model_state(out), petra_model_state((petra_model *)m),
           sizeof(float) * petra_model_n_state(m));
  if (petra_sparsify(out, g)) goto oom;
  goto done;
oom:
  petra_err_set(err, PETRA_ENOMEM, "prune: out of memory");
fail:
  petra_model_free(out);
  out = NULL;
done:
  for (int f = 0; f < PETRA_MAX_FIELDS; f++) free(emb_keep[f]);
  free(dense_keep);
  for (int l = 0; l < PETRA_MAX_CORE_LAYERS; l++) free(core_keep[l]);
  if (blk) blk->prune_free(blk_keep);
  free(in_cols);
  return out;
}

/* ---------------------------------------------------------------- unstructured sparsity */

typedef struct mag {
  float a; /* |w| */
  int i;   /* position */
} mag;
static int by_magnitude(const void *pa, const void *pb) {
  const mag *x = pa, *y = pb;
  if (x->a != y->a) return x->a < y->a ? -1 : 1;
  return (x->i > y->i) - (x->i < y->i);
}

/* Zeroes the round(s·n) smallest |w| of one tensor. */
static int sparsify_tensor(petra_model *m, const char *name, float s) {
  const petra_tensor_info *t = petra_model_find_tensor(m, name);
  if (!t || !(s > 0)) return 0;
  size_t n = (size_t)t->rows * t->cols, k = (size_t)lround((double)s * (double)n);
  if (k == 0) return 0;
  float *w = petra_model_params(m) + t->offset;
  mag *v = malloc(sizeof(mag) * n);
  if (!v) return PETRA_ENOMEM;
  for (size_t i = 0; i < n; i++) v[i] = (mag){fabsf(w[i]), (int)i};
  qsort(v, n, sizeof(mag), by_magnitude);
  for (size_t i = 0; i < k && i < n; i++) w[v[i].i] = 0.0f;
  free(v);
  return 0;
}

int petra_sparsify(petra_model *m, const petra_genome *g) {
  for (int i = 0; i < petra_model_n_tensors(m); i++) {
    const petra_tensor_info *ti = petra_model_tensor(m, i);
    char layer[32];
    if (!petra_weight_matrix_layer(ti->name, layer, sizeof layer)) continue;
    int rc = sparsify_tensor(m, ti->name, petra_genome_gene(g, layer).sparsity);
    if (rc) return rc;
  }
  return 0;
}
