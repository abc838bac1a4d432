/* Models: parameter layout, forward and backward passes for seq and ts. */
#include "petra/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "petra/dense.h"
#include "petra/embedding.h"
#include "petra/gru.h"
#include "petra/norm.h"
#include "petra/rng.h"
#include "block.h"
#include "core.h"

/* embeddings; dense and layer norm (4); a recurrent core's 4 per layer, or a block's;
 * head (2); dlinear's trend (1) */
#define MAX_TENSORS (PETRA_MAX_FIELDS + 4 + PETRA_BLOCK_MAX_TENSORS + 3)

/* Indices into m->t[] for the tensors each model kind uses (−1 when absent). */
typedef struct layout {
  int emb[PETRA_MAX_FIELDS];
  int d_w, d_b, ln_g, ln_b;  /* seq dense + layer norm, ts MLP first layer */
  int g_wih[PETRA_MAX_CORE_LAYERS], g_whh[PETRA_MAX_CORE_LAYERS], g_bih[PETRA_MAX_CORE_LAYERS],
      g_bhh[PETRA_MAX_CORE_LAYERS]; /* recurrent layers (ts: one GRU) */
  int h_w, h_b;              /* head (seq) / output layer (ts; dlinear: the remainder's map) */
  int t_w;                   /* ts dlinear: the trend's map */
  const petra_block *block;         /* the spec's block (engine/block.h), or NULL */
  int blk[PETRA_BLOCK_MAX_TENSORS]; /* its tensors, in its own order */
} layout;

/* Workspace for a batch of up to cap examples. */
typedef struct workspace {
  int cap;
  float *block;
  int32_t *codes;   /* [T][B][F] */
  float *x0;        /* seq: [T][B][E] concatenated inputs; ts: [R][in] */
  float *z1, *st, *a1, *a2, *mask, *a3; /* dense pre-act, LN stats, LN out, act out, dropout */
  float *hs, *gws, *gbws;               /* recurrent layer 0: states and workspaces */
  float *stack;                         /* layers 1..: their own, in one block */
  float *shs[PETRA_MAX_CORE_LAYERS], *sgws[PETRA_MAX_CORE_LAYERS], *sgbws[PETRA_MAX_CORE_LAYERS];
  float *sdx[PETRA_MAX_CORE_LAYERS];    /* grad wrt layer l's input: layer l−1's outputs [T][B][H] */
  float *bws;                           /* a block's workspace (engine/block.h) */
  const float *btop;                    /* its outputs [B][W] from the last forward pass */
  float *out;       /* [B][K] (seq) or [R][Hout] (ts, normalized) */
  float *dout, *dh, *dxg, *da, *db2, *dx0;
  float *tgt;       /* ts: normalized targets [R][Hout] */
  float *shift, *scale; /* ts: per-row normalization (value = x·scale + shift) */
  int *len;         /* [B] */
} workspace;

struct petra_model {
  petra_model_spec spec;
  size_t n_params, n_state;
  float *p, *g, *state;
  int n_t;
  petra_tensor_info t[MAX_TENSORS];
  layout L;
  petra_rng rng;
  /* derived sizes */
  int E;        /* seq: per-event input width */
  int ex_floats, n_out, tgt_floats;
  int ts_rows_per_ex, ts_in, ts_out, ts_cout; /* ts: rows per example, in/out width per row */
  workspace w;
};

/* ---------------------------------------------------------------- layout */

static int add_tensor(petra_model *m, const char *name, int rows, int cols) {
  if (m->n_t == MAX_TENSORS) abort(); /* a layout this table was not sized for: a bug here */
  petra_tensor_info *t = &m->t[m->n_t];
  size_t nl = strlen(name);
  if (nl >= sizeof t->name) nl = sizeof t->name - 1;
  memcpy(t->name, name, nl);
  t->name[nl] = 0;
  t->offset = m->n_params;
  t->rows = rows;
  t->cols = cols;
  m->n_params += (size_t)rows * cols;
  return m->n_t++;
}
int petra_model_add_tensor(petra_model *m, const char *name, int rows, int cols) { return add_tensor(m, name, rows, cols); }

/* n zeroed floats on a 64-byte boundary: the weights' rows then sit where the AVX-512 loads
 * want them whatever the heap did before (a 64-byte load across two cache lines costs two;
 * R1's batch-1 forward moved by 22% with the allocator's luck). Freed with free(). */
static float *zalloc64(size_t n) {
  size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
  float *x = aligned_alloc(64, bytes ? bytes : 64);
  if (x) memset(x, 0, bytes ? bytes : 64);
  return x;
}

static float *P(petra_model *m, int i) { return i < 0 ? NULL : m->p + m->t[i].offset; }
static float *Gr(petra_model *m, int i) { return i < 0 ? NULL : m->g + m->t[i].offset; }

static void init_uniform(petra_model *m, int i, float bound) {
  float *x = P(m, i);
  size_t n = (size_t)m->t[i].rows * m->t[i].cols;
  for (size_t k = 0; k < n; k++) x[k] = (float)((petra_rng_uniform(&m->rng) * 2.0 - 1.0) * bound);
}

static void build_layout(petra_model *m) {
  petra_model_spec *s = &m->spec;
  layout *L = &m->L;
  memset(L, -1, sizeof *L);
  L->block = NULL;
  char name[PETRA_NAME_MAX + 8];
  if (s->kind == PETRA_MODEL_SEQ) {
    m->E = s->n_numeric;
    for (int f = 0; f < s->n_fields; f++) {
      snprintf(name, sizeof name, "emb.%s", s->fields[f].name);
      L->emb[f] = add_tensor(m, name, s->fields[f].vocab, s->fields[f].dim);
      m->E += s->fields[f].dim;
    }
    int in = m->E;
    if (s->dense > 0) {
      L->d_w = add_tensor(m, "dense0.w", s->dense, in);
      L->d_b = add_tensor(m, "dense0.b", 1, s->dense);
      if (s->layernorm) {
        L->ln_g = add_tensor(m, "ln0.g", 1, s->dense);
        L->ln_b = add_tensor(m, "ln0.b", 1, s->dense);
      }
      in = s->dense;
    }
    if ((L->block = petra_block_of(s))) L->block->layout(m, in, L->blk);
    const petra_core *core = petra_core_of(s);
    for (int l = 0; l < petra_spec_core_layers(s); l++) { /* each layer reads the one below */
      petra_core_names nm = petra_core_layer_names(core, l);
      int H = petra_spec_core_units(s, l), G = core->gates * H;
      L->g_wih[l] = add_tensor(m, nm.wih, G, in);
      L->g_whh[l] = add_tensor(m, nm.whh, G, H);
      L->g_bih[l] = add_tensor(m, nm.bih, 1, G);
      L->g_bhh[l] = add_tensor(m, nm.bhh, 1, G);
      in = H;
    }
    L->h_w = add_tensor(m, "head.w", s->classes, petra_spec_core_top(s));
    L->h_b = add_tensor(m, "head.b", 1, s->classes);
    m->ex_floats = 1 + s->seq_len * (s->n_fields + s->n_numeric) + 1;
    m->n_out = s->classes;
    m->tgt_floats = 1;
  } else {
    int C = s->channels, cout = s->target < 0 ? C : 1;
    m->ts_cout = cout;
    if (s->ci) {
      m->ts_rows_per_ex = cout;
      m->ts_in = s->window;
      m->ts_out = s->horizon;
    } else {
      m->ts_rows_per_ex = 1;
      m->ts_in = s->window * C;
      m->ts_out = s->horizon * cout;
    }
    int in = m->ts_in;
    if (s->arch == PETRA_TS_MLP) {
      L->d_w = add_tensor(m, "dense0.w", s->hidden, in);
      L->d_b = add_tensor(m, "dense0.b", 1, s->hidden);
      in = s->hidden;
    } else if (s->arch == PETRA_TS_GRU) {
      int gin = s->ci ? 1 : C;
      petra_core_names nm = petra_core_layer_names(petra_core_of(s), 0);
      L->g_wih[0] = add_tensor(m, nm.wih, 3 * s->gru, gin);
      L->g_whh[0] = add_tensor(m, nm.whh, 3 * s->gru, s->gru);
      L->g_bih[0] = add_tensor(m, nm.bih, 1, 3 * s->gru);
      L->g_bhh[0] = add_tensor(m, nm.bhh, 1, 3 * s->gru);
      in = s->gru;
    }
    L->h_w = add_tensor(m, "head.w", m->ts_out, in);
    L->h_b = add_tensor(m, "head.b", 1, m->ts_out);
    if (s->arch == PETRA_TS_DLINEAR) L->t_w = add_tensor(m, "trend.w", m->ts_out, in);
    m->ex_floats = (s->window + s->horizon) * C;
    m->n_out = s->horizon * cout;
    m->tgt_floats = s->horizon * C;
    if (s->norm == PETRA_NORM_RUNNING) m->n_state = 3 * (size_t)C; /* count, mean, M2 */
  }
}

/* PyTorch's default initialization: U(−1/√fan_in, 1/√fan_in) for dense and GRU, N(0, 1)
 * for embeddings, ones/zeros for layer norm. */
static void init_params(petra_model *m) {
  layout *L = &m->L;
  for (int f = 0; f < m->spec.n_fields && m->spec.kind == PETRA_MODEL_SEQ; f++) {
    float *x = P(m, L->emb[f]);
    size_t n = (size_t)m->t[L->emb[f]].rows * m->t[L->emb[f]].cols;
    for (size_t k = 0; k < n; k++) x[k] = (float)petra_rng_normal(&m->rng);
  }
  if (L->d_w >= 0) {
    float b = 1.0f / sqrtf((float)m->t[L->d_w].cols);
    init_uniform(m, L->d_w, b);
    init_uniform(m, L->d_b, b);
  }
  if (L->ln_g >= 0) {
    for (int j = 0; j < m->t[L->ln_g].cols; j++) {
      P(m, L->ln_g)[j] = 1.0f;
      P(m, L->ln_b)[j] = 0.0f;
    }
  }
  for (int l = 0; l < PETRA_MAX_CORE_LAYERS && L->g_wih[l] >= 0; l++) {
    float b = 1.0f / sqrtf((float)m->t[L->g_whh[l]].cols);
    init_uniform(m, L->g_wih[l], b);
    init_uniform(m, L->g_whh[l], b);
    init_uniform(m, L->g_bih[l], b);
    init_uniform(m, L->g_bhh[l], b);
  }
  if (L->block) L->block->init(m, L->blk);
  float b = 1.0f / sqrtf((float)m->t[L->h_w].cols);
  init_uniform(m, L->h_w, b);
  init_uniform(m, L->h_b, b);
  if (L->t_w >= 0) init_uniform(m, L->t_w, b);
  if (m->spec.kind == PETRA_MODEL_TS && m->spec.zero_head) { /* calloc'ed: leave the head at 0 */
    if (L->t_w >= 0) memset(P(m, L->t_w), 0, sizeof(float) * (size_t)m->t[L->t_w].rows * m->t[L->t_w].cols);
    memset(P(m, L->h_w), 0, sizeof(float) * (size_t)m->t[L->h_w].rows * m->t[L->h_w].cols);
    memset(P(m, L->h_b), 0, sizeof(float) * (size_t)m->t[L->h_b].rows * m->t[L->h_b].cols);
    if (m->spec.zero_head == 2 && m->spec.arch != PETRA_TS_GRU && m->spec.arch != PETRA_TS_MLP) {
      /* init=mean (DLinear's own initialization): every weight 1/window, so each map starts by
       * forecasting the mean of its input over the window (non-ci: of the same channel) */
      const petra_model_spec *s = &m->spec;
      const int C = s->ci ? 1 : s->channels, cout = m->ts_cout, in = m->ts_in;
      int maps[2] = {L->h_w, L->t_w};
      for (int k = 0; k < 2; k++) {
        if (maps[k] < 0) continue;
        float *w = P(m, maps[k]);
        for (int o = 0; o < m->ts_out; o++) {
          int oc = s->ci ? 0 : (s->target < 0 ? o % cout : s->target);
          for (int t = 0; t < s->window; t++) w[(size_t)o * in + (size_t)t * C + oc] = 1.0f / (float)s->window;
        }
      }
    }
  }
}

size_t petra_model_spec_n_params(const petra_model_spec *spec) {
  petra_model *m = calloc(1, sizeof *m);
  if (!m) return 0;
  m->spec = *spec;
  build_layout(m);
  size_t n = m->n_params;
  free(m);
  return n;
}

petra_model *petra_model_new(const petra_model_spec *spec, uint64_t seed, petra_err *err) {
  petra_model *m = calloc(1, sizeof *m);
  if (!m) {
    petra_err_set(err, PETRA_ENOMEM, "model: out of memory");
    return NULL;
  }
  m->spec = *spec;
  petra_rng_seed(&m->rng, seed);
  build_layout(m);
  m->p = zalloc64(m->n_params);
  m->g = zalloc64(m->n_params);
  m->state = m->n_state ? calloc(m->n_state, sizeof(float)) : NULL;
  if (!m->p || !m->g || (m->n_state && !m->state)) {
    petra_err_set(err, PETRA_ENOMEM, "model: cannot allocate %zu parameters", m->n_params);
    petra_model_free(m);
    return NULL;
  }
  init_params(m);
  return m;
}

void petra_model_free(petra_model *m) {
  if (!m) return;
  free(m->p);
  free(m->g);
  free(m->state);
  free(m->w.block);
  free(m->w.stack);
  free(m->w.codes);
  free(m->w.len);
  free(m);
}

const petra_model_spec *petra_model_get_spec(const petra_model *m) { return &m->spec; }
size_t petra_model_n_params(const petra_model *m) { return m->n_params; }
float *petra_model_params(petra_model *m) { return m->p; }
float *petra_model_grads(petra_model *m) { return m->g; }
int petra_model_n_tensors(const petra_model *m) { return m->n_t; }
const petra_tensor_info *petra_model_tensor(const petra_model *m, int i) {
  return i >= 0 && i < m->n_t ? &m->t[i] : NULL;
}
const petra_tensor_info *petra_model_find_tensor(const petra_model *m, const char *name) {
  for (int i = 0; i < m->n_t; i++)
    if (!strcmp(m->t[i].name, name)) return &m->t[i];
  return NULL;
}
struct petra_rng *petra_model_rng(petra_model *m) { return &m->rng; }
size_t petra_model_n_state(const petra_model *m) { return m->n_state; }
float *petra_model_state(petra_model *m) { return m->state; }
int petra_model_example_floats(const petra_model *m) { return m->ex_floats; }
int petra_model_n_outputs(const petra_model *m) { return m->n_out; }

int petra_model_naive_forecast(const petra_model *m, const float *ex, float *out) {
  const petra_model_spec *s = &m->spec;
  if (s->kind != PETRA_MODEL_TS) return PETRA_EINVAL;
  const int C = s->channels, W = s->window, oc = s->target >= 0 ? 1 : C;
  for (int h = 0; h < s->horizon; h++)
    for (int c = 0; c < oc; c++) out[(size_t)h * oc + c] = ex[(size_t)(W - 1) * C + (s->target >= 0 ? s->target : c)];
  return 0;
}
int petra_model_target_floats(const petra_model *m) { return m->tgt_floats; }
const float *petra_model_example_target(const petra_model *m, const float *ex) {
  return ex + m->ex_floats - m->tgt_floats;
}

/* ---------------------------------------------------------------- workspace */

static int ensure_ws(petra_model *m, int n) {
  workspace *w = &m->w;
  if (n <= w->cap) return 0;
  free(w->block);
  free(w->stack);
  free(w->codes);
  free(w->len);
  memset(w, 0, sizeof *w);
  const petra_model_spec *s = &m->spec;
  size_t T, B = (size_t)n, H = (size_t)s->gru, in_g, rows, D = (size_t)s->dense;
  size_t sizes[24] = {0};
  /* order: x0 z1 st a1 a2 mask a3 hs gws gbws out dout dh dxg da db2 dx0 tgt shift scale */
  if (s->kind == PETRA_MODEL_SEQ) {
    T = (size_t)s->seq_len;
    rows = T * B;
    in_g = D ? D : (size_t)m->E;
    sizes[0] = rows * m->E;
    if (D) {
      sizes[1] = rows * D;
      sizes[2] = rows * 2;
      sizes[3] = s->layernorm ? rows * D : 0;
      sizes[4] = rows * D;
      sizes[5] = s->dropout > 0 ? rows * D : 0;
      sizes[6] = s->dropout > 0 ? rows * D : 0;
      sizes[14] = rows * D;
      sizes[15] = rows * D;
    }
    sizes[7] = (T + 1) * B * H;
    sizes[8] = petra_core_of(s)->fwd_ws_floats((int)T, n, (int)H);
    sizes[9] = petra_core_of(s)->bwd_ws_floats((int)T, n, (int)H);
    sizes[10] = B * s->classes;
    sizes[11] = B * s->classes;
    size_t Hmax = H;
    for (int l = 1; l < petra_spec_core_layers(s); l++)
      if ((size_t)petra_spec_core_units(s, l) > Hmax) Hmax = (size_t)petra_spec_core_units(s, l);
    sizes[12] = B * Hmax;
    sizes[13] = rows * in_g;
    sizes[16] = rows * m->E;
  } else {
    rows = B * m->ts_rows_per_ex;
    T = (size_t)s->window;
    sizes[0] = rows * m->ts_in;
    if (s->arch == PETRA_TS_MLP) {
      sizes[1] = rows * s->hidden;
      sizes[4] = rows * s->hidden;
      sizes[14] = rows * s->hidden;
    } else if (s->arch == PETRA_TS_DLINEAR) {
      sizes[1] = rows * m->ts_in; /* z1: the trend of each row */
      sizes[4] = rows * m->ts_in; /* a2: the remainder */
    } else if (s->arch == PETRA_TS_GRU) {
      sizes[7] = (T + 1) * rows * H;
      sizes[8] = petra_gru_fwd_ws_floats((int)T, (int)rows, (int)H);
      sizes[9] = petra_gru_bwd_ws_floats((int)T, (int)rows, (int)H);
      sizes[12] = rows * H;
      sizes[13] = rows * m->ts_in;
    }
    sizes[10] = rows * m->ts_out;
    sizes[11] = rows * m->ts_out;
    sizes[17] = rows * m->ts_out;
    sizes[18] = rows * (size_t)(s->ci ? 1 : s->channels);
    sizes[19] = rows * (size_t)(s->ci ? 1 : s->channels);
  }
  size_t total = 0;
  for (int i = 0; i < 24; i++) total += sizes[i];
  w->block = zalloc64(total ? total : 1);
  w->codes = calloc((size_t)n * s->seq_len * (s->n_fields ? s->n_fields : 1) + 1, sizeof(int32_t));
  w->len = calloc((size_t)n, sizeof(int));
  if (!w->block || !w->codes || !w->len) return PETRA_ENOMEM;
  float *p = w->block;
  float **dst[20] = {&w->x0, &w->z1, &w->st, &w->a1, &w->a2, &w->mask, &w->a3, &w->hs,
                     &w->gws, &w->gbws, &w->out, &w->dout, &w->dh, &w->dxg, &w->da,
                     &w->db2, &w->dx0, &w->tgt, &w->shift, &w->scale};
  for (int i = 0; i < 20; i++) {
    *dst[i] = sizes[i] ? p : NULL;
    p += sizes[i];
  }
  if (m->L.block) { /* a block's workspace, in the block of the stacked layers */
    if (!(w->stack = zalloc64(m->L.block->ws_floats(m, m->L.blk, n)))) return PETRA_ENOMEM;
    w->bws = w->stack;
  }
  /* stacked recurrent layers: states, workspaces and the grad wrt their input */
  if (s->kind == PETRA_MODEL_SEQ && s->n_stack > 0) {
    const petra_core *core = petra_core_of(s);
    size_t ssz[PETRA_MAX_CORE_LAYERS][4] = {{0}}, stotal = 0;
    for (int l = 1; l < petra_spec_core_layers(s); l++) {
      int Hl = petra_spec_core_units(s, l);
      ssz[l][0] = (T + 1) * B * (size_t)Hl;
      ssz[l][1] = core->fwd_ws_floats((int)T, n, Hl);
      ssz[l][2] = core->bwd_ws_floats((int)T, n, Hl);
      ssz[l][3] = T * B * (size_t)petra_spec_core_units(s, l - 1);
      stotal += ssz[l][0] + ssz[l][1] + ssz[l][2] + ssz[l][3];
    }
    if (!(w->stack = zalloc64(stotal))) return PETRA_ENOMEM;
    float *q = w->stack;
    for (int l = 1; l < petra_spec_core_layers(s); l++) {
      float **d4[4] = {&w->shs[l], &w->sgws[l], &w->sgbws[l], &w->sdx[l]};
      for (int k = 0; k < 4; k++) {
        *d4[k] = q;
        q += ssz[l][k];
      }
    }
  }
  w->cap = n;
  return 0;
}

/* ---------------------------------------------------------------- examples */

int petra_model_check_example(const petra_model *m, const float *ex, petra_err *err) {
  const petra_model_spec *s = &m->spec;
  for (int i = 0; i < m->ex_floats; i++)
    if (!isfinite(ex[i]))
      return petra_err_set(err, PETRA_EINVAL, "example: value %d is not finite", i);
  if (s->kind == PETRA_MODEL_SEQ) {
    float lf = ex[0];
    if (!(lf >= 1 && lf <= s->seq_len) || lf != floorf(lf))
      return petra_err_set(err, PETRA_ERANGE, "example: length %g outside [1, %d]", (double)lf,
                           s->seq_len);
    int len = (int)lf, F = s->n_fields;
    const float *codes = ex + 1;
    for (int t = 0; t < len; t++)
      for (int f = 0; f < F; f++) {
        float c = codes[t * F + f];
        if (!(c >= 0 && c < s->fields[f].vocab) || c != floorf(c))
          return petra_err_set(err, PETRA_ERANGE, "example: field %s code %g outside [0, %d)",
                               s->fields[f].name, (double)c, s->fields[f].vocab);
      }
    float y = ex[m->ex_floats - 1];
    if (s->classes == 1 ? !(y == 0 || y == 1) : !(y >= 0 && y < s->classes && y == floorf(y)))
      return petra_err_set(err, PETRA_ERANGE, "example: label %g invalid for %d class(es)",
                           (double)y, s->classes);
  }
  return 0;
}

/* seq: fills codes, lengths and the concatenated per-event inputs x0 [T][B][E]. */
static int seq_gather(petra_model *m, int n, const float *ex) {
  const petra_model_spec *s = &m->spec;
  workspace *w = &m->w;
  const int T = s->seq_len, F = s->n_fields, N = s->n_numeric, E = m->E;
  for (int b = 0; b < n; b++) {
    const float *e = ex + (size_t)b * m->ex_floats;
    float lf = e[0];
    if (!(lf >= 1 && lf <= T)) return PETRA_EINVAL;
    int len = (int)lf;
    w->len[b] = len;
    const float *codes = e + 1, *nums = e + 1 + T * F;
    for (int t = 0; t < T; t++) {
      int32_t *c = w->codes + ((size_t)t * n + b) * (F ? F : 1);
      float *row = w->x0 + ((size_t)t * n + b) * E;
      int off = 0;
      for (int f = 0; f < F; f++) {
        float cv = t < len ? codes[t * F + f] : 0.0f;
        if (!(cv >= 0 && cv < s->fields[f].vocab)) return PETRA_EINVAL;
        c[f] = (int32_t)cv;
        off += s->fields[f].dim;
      }
      if (t < len)
        memcpy(row + off, nums + t * N, sizeof(float) * N);
      else
        memset(row + off, 0, sizeof(float) * N);
    }
  }
  /* embeddings, field by field, into their column ranges of x0 */
  int off = 0;
  for (int f = 0; f < F; f++) {
    const float *tab = P(m, m->L.emb[f]);
    int d = s->fields[f].dim;
    for (size_t r = 0; r < (size_t)T * n; r++)
      memcpy(w->x0 + r * E + off, tab + (size_t)w->codes[r * F + f] * d, sizeof(float) * d);
    off += d;
  }
  return 0;
}

static int seq_forward(petra_model *m, int n, const float *ex, int train) {
  const petra_model_spec *s = &m->spec;
  workspace *w = &m->w;
  const layout *L = &m->L;
  int rc = seq_gather(m, n, ex);
  if (rc) return rc;
  const int T = s->seq_len, D = s->dense, H = s->gru;
  const size_t rows = (size_t)T * n;
  const float *xg = w->x0;
  int in_g = m->E;
  if (D) {
    petra_dense_forward((int)rows, m->E, D, w->x0, P(m, L->d_w), P(m, L->d_b), w->z1);
    const float *pre = w->z1;
    if (s->layernorm) {
      petra_layernorm_forward((int)rows, D, w->z1, P(m, L->ln_g), P(m, L->ln_b), w->a1, w->st);
      pre = w->a1;
    }
    petra_act_forward(s->act, rows * D, pre, w->a2);
    xg = w->a2;
    if (s->dropout > 0) {
      if (train) {
        petra_dropout_forward((int)(rows * D), s->dropout, &m->rng, w->a2, w->a3, w->mask);
        xg = w->a3;
      }
    }
    in_g = D;
  }
  const petra_block *blk = L->block;
  if (blk) {
    w->btop = blk->forward(m, L->blk, n, xg, w->len, (petra_block_events){w->x0, m->E}, w->bws, train);
    petra_dense_forward(n, H, s->classes, w->btop, P(m, L->h_w), P(m, L->h_b), w->out);
    return 0;
  }
  const petra_core *core = petra_core_of(s);
  core->forward(T, n, in_g, H, xg, w->len, NULL, P(m, L->g_wih[0]), P(m, L->g_whh[0]), P(m, L->g_bih[0]),
                P(m, L->g_bhh[0]), w->hs, w->gws);
  const float *top = w->hs; /* [(T+1)][B][Ht]: the top layer's states */
  int Ht = H;
  for (int l = 1; l < petra_spec_core_layers(s); l++) { /* layer l reads layer l−1's steps 1..T */
    int Hl = petra_spec_core_units(s, l);
    core->forward(T, n, Ht, Hl, top + (size_t)n * Ht, w->len, NULL, P(m, L->g_wih[l]), P(m, L->g_whh[l]),
                  P(m, L->g_bih[l]), P(m, L->g_bhh[l]), w->shs[l], w->sgws[l]);
    top = w->shs[l];
    Ht = Hl;
  }
  petra_dense_forward(n, Ht, s->classes, top + (size_t)T * n * Ht, P(m, L->h_w), P(m, L->h_b), w->out);
  return 0;
}

static void seq_backward(petra_model *m, int n) {
  const petra_model_spec *s = &m->spec;
  workspace *w = &m->w;
  const layout *L = &m->L;
  const int T = s->seq_len, D = s->dense, H = s->gru;
  const size_t rows = (size_t)T * n;
  const petra_block *blk = L->block;
  if (blk) {
    petra_dense_backward(n, H, s->classes, w->btop, P(m, L->h_w), w->dout, w->dh, Gr(m, L->h_w), Gr(m, L->h_b));
    const float *xg = D ? (s->dropout > 0 ? w->a3 : w->a2) : w->x0;
    blk->backward(m, L->blk, n, xg, w->len, (petra_block_events){w->x0, m->E}, w->bws, w->dh, w->dxg);
  } else {
  const petra_core *core = petra_core_of(s);
  const int NL = petra_spec_core_layers(s), Ht = petra_spec_core_top(s);
  const float *hT = (NL > 1 ? w->shs[NL - 1] : w->hs) + (size_t)T * n * Ht;
  petra_dense_backward(n, Ht, s->classes, hT, P(m, L->h_w), w->dout, w->dh, Gr(m, L->h_w), Gr(m, L->h_b));
  /* the stack top down: layer l's input grad is the grad on every output step of layer l−1 */
  for (int l = NL - 1; l >= 1; l--) {
    int Hl = petra_spec_core_units(s, l), Hb = petra_spec_core_units(s, l - 1);
    const float *xl = (l > 1 ? w->shs[l - 1] : w->hs) + (size_t)n * Hb;
    core->backward(T, n, Hb, Hl, xl, w->len, P(m, L->g_wih[l]), P(m, L->g_whh[l]), w->shs[l], w->sgws[l],
                   l < NL - 1 ? w->sdx[l + 1] : NULL, l == NL - 1 ? w->dh : NULL, w->sdx[l], NULL,
                   Gr(m, L->g_wih[l]), Gr(m, L->g_whh[l]), Gr(m, L->g_bih[l]), Gr(m, L->g_bhh[l]), w->sgbws[l]);
  }
  const float *xg = D ? (s->dropout > 0 ? w->a3 : w->a2) : w->x0;
  int in_g = D ? D : m->E;
  core->backward(T, n, in_g, H, xg, w->len, P(m, L->g_wih[0]), P(m, L->g_whh[0]), w->hs, w->gws,
                 NL > 1 ? w->sdx[1] : NULL, NL > 1 ? NULL : w->dh, w->dxg, NULL, Gr(m, L->g_wih[0]),
                 Gr(m, L->g_whh[0]), Gr(m, L->g_bih[0]), Gr(m, L->g_bhh[0]), w->gbws);
  }
  float *dx0;
  if (D) {
    float *d = w->dxg; /* grad wrt GRU input */
    if (s->dropout > 0) petra_dropout_backward((int)(rows * D), w->mask, d, d);
    const float *pre = s->layernorm ? w->a1 : w->z1;
    petra_act_backward(s->act, rows * D, pre, w->a2, d, w->da);
    float *dz = w->da;
    if (s->layernorm) {
      petra_layernorm_backward((int)rows, D, w->z1, P(m, L->ln_g), w->st, w->da, w->db2,
                               Gr(m, L->ln_g), Gr(m, L->ln_b));
      dz = w->db2;
    }
    petra_dense_backward((int)rows, m->E, D, w->x0, P(m, L->d_w), dz, s->n_fields ? w->dx0 : NULL,
                         Gr(m, L->d_w), Gr(m, L->d_b));
    dx0 = w->dx0;
  } else {
    dx0 = w->dxg;
  }
  int off = 0;
  for (int f = 0; f < s->n_fields; f++) {
    int d = s->fields[f].dim, F = s->n_fields;
    float *gt = Gr(m, L->emb[f]);
    for (size_t r = 0; r < rows; r++) {
      int t = (int)(r / n), b = (int)(r % n);
      if (t >= w->len[b]) continue;
      float *row = gt + (size_t)w->codes[r * F + f] * d;
      const float *g = dx0 + r * m->E + off;
      for (int j = 0; j < d; j++) row[j] += g[j];
    }
    off += d;
  }
}

/* ---------------------------------------------------------------- ts */

/* Fills x0 [R][in] (normalized inputs), tgt (normalized targets) and the per-row
 * normalization so that value = normalized·scale + shift. Row r of a ci model is
 * (example r / cout, channel). */
static void ts_gather(petra_model *m, int n, const float *ex) {
  const petra_model_spec *s = &m->spec;
  workspace *w = &m->w;
  const int W = s->window, C = s->channels, Hz = s->horizon, cout = m->ts_cout;
  const int nch = s->ci ? 1 : C;
  for (int b = 0; b < n; b++) {
    const float *win = ex + (size_t)b * m->ex_floats;
    const float *tg = win + (size_t)W * C;
    for (int k = 0; k < m->ts_rows_per_ex; k++) {
      size_t r = (size_t)b * m->ts_rows_per_ex + k;
      float *x = w->x0 + r * m->ts_in;
      float *y = w->tgt + r * m->ts_out;
      for (int c2 = 0; c2 < nch; c2++) {
        int ch = s->ci ? (s->target < 0 ? k : s->target) : c2;
        float shift = 0, scale = 1;
        if (s->norm != PETRA_NORM_RUNNING) {
          petra_ts_window_norm(s->norm, win, W, C, ch, &shift, &scale);
        } else if (m->state[ch] > 1) {
          shift = m->state[C + ch];
          float var = m->state[2 * C + ch] / (m->state[ch] - 1);
          scale = sqrtf(var > 1e-12f ? var : 1e-12f);
        }
        w->shift[r * nch + c2] = shift;
        w->scale[r * nch + c2] = scale;
        float inv = 1.0f / scale;
        /* ci: x[t]; non-ci: x[t*C + c] (time-major, as the GRU wants) */
        for (int t = 0; t < W; t++)
          x[s->ci ? t : t * C + c2] = (win[(size_t)t * C + ch] - shift) * inv;
        (void)cout;
      }
      /* targets in the output layout of the row */
      for (int h = 0; h < Hz; h++) {
        if (s->ci) {
          int ch = s->target < 0 ? k : s->target;
          y[h] = (tg[(size_t)h * C + ch] - w->shift[r]) / w->scale[r];
        } else {
          for (int c2 = 0; c2 < cout; c2++) {
            int ch = s->target < 0 ? c2 : s->target;
            int nc = s->target < 0 ? c2 : ch;
            y[h * cout + c2] = (tg[(size_t)h * C + ch] - w->shift[r * nch + nc]) / w->scale[r * nch + nc];
          }
        }
      }
    }
  }
}

/* DLinear's series decomposition of each row of x [R][in]: trend = moving average over time
 * (kernel k, the window edge-padded with its first and last values), remainder = x − trend.
 * ci rows are [W]; non-ci rows are [W][C] time-major, averaged per channel. */
static void ts_decompose(const petra_model_spec *s, int R, int in, const float *x, float *trend, float *rem) {
  const int W = s->window, C = s->ci ? 1 : s->channels, p = s->ma_kernel / 2;
  const float inv = 1.0f / (float)s->ma_kernel;
  for (int r = 0; r < R; r++) {
    const float *xr = x + (size_t)r * in;
    float *tr = trend + (size_t)r * in, *rr = rem + (size_t)r * in;
    for (int c = 0; c < C; c++)
      for (int t = 0; t < W; t++) {
        float acc = 0;
        for (int d = -p; d <= p; d++) {
          int u = t + d < 0 ? 0 : t + d >= W ? W - 1 : t + d;
          acc += xr[(size_t)u * C + c];
        }
        tr[(size_t)t * C + c] = acc * inv;
        rr[(size_t)t * C + c] = xr[(size_t)t * C + c] - acc * inv;
      }
  }
}

petra_model *petra_model_fold(const petra_model *m, petra_err *err) {
  const petra_model_spec *s = &m->spec;
  petra_model_spec ls = *s;
  if (s->kind == PETRA_MODEL_TS && s->arch == PETRA_TS_DLINEAR) ls.arch = PETRA_TS_LINEAR;
  petra_model *f = petra_model_new(&ls, 1, err);
  if (!f) return NULL;
  if (m->n_state) memcpy(f->state, m->state, sizeof(float) * m->n_state);
  if (ls.arch == s->arch || s->kind != PETRA_MODEL_TS) {
    memcpy(f->p, m->p, sizeof(float) * m->n_params);
    return f;
  }
  /* W[o][j] = W_rem[o][j] + Σ_i (W_trend − W_rem)[o][i] · A[i][j], A the moving average as a
   * matrix: row i of the trend averages rows clamp(i+d) of the window */
  const int W = s->window, C = s->ci ? 1 : s->channels, p = s->ma_kernel / 2, in = m->ts_in, out = m->ts_out;
  const float inv = 1.0f / (float)s->ma_kernel;
  const float *wr = m->p + m->t[m->L.h_w].offset, *wt = m->p + m->t[m->L.t_w].offset;
  float *dst = f->p + f->t[f->L.h_w].offset;
  for (int o = 0; o < out; o++) {
    const float *ro = wr + (size_t)o * in, *to = wt + (size_t)o * in;
    float *fo = dst + (size_t)o * in;
    memcpy(fo, ro, sizeof(float) * (size_t)in);
    for (int c = 0; c < C; c++)
      for (int t = 0; t < W; t++) {
        float dlt = (to[(size_t)t * C + c] - ro[(size_t)t * C + c]) * inv;
        for (int d = -p; d <= p; d++) {
          int u = t + d < 0 ? 0 : t + d >= W ? W - 1 : t + d;
          fo[(size_t)u * C + c] += dlt;
        }
      }
  }
  memcpy(f->p + f->t[f->L.h_b].offset, m->p + m->t[m->L.h_b].offset, sizeof(float) * (size_t)out);
  return f;
}

static void ts_forward(petra_model *m, int n, const float *ex) {
  const petra_model_spec *s = &m->spec;
  workspace *w = &m->w;
  const layout *L = &m->L;
  ts_gather(m, n, ex);
  const int R = n * m->ts_rows_per_ex;
  const float *h = w->x0;
  int in = m->ts_in;
  if (s->arch == PETRA_TS_MLP) {
    petra_dense_forward(R, in, s->hidden, w->x0, P(m, L->d_w), P(m, L->d_b), w->z1);
    petra_act_forward(s->act, (size_t)R * s->hidden, w->z1, w->a2);
    h = w->a2;
    in = s->hidden;
  } else if (s->arch == PETRA_TS_GRU) {
    /* x0 rows are [W][nch] per row; the GRU wants [W][R][nch] */
    int nch = s->ci ? 1 : s->channels, W = s->window;
    float *xt = w->dxg; /* reuse as the time-major copy during forward */
    for (int r = 0; r < R; r++)
      for (int t = 0; t < W; t++)
        memcpy(xt + ((size_t)t * R + r) * nch, w->x0 + (size_t)r * m->ts_in + (size_t)t * nch,
               sizeof(float) * nch);
    petra_gru_forward(W, R, nch, s->gru, xt, NULL, NULL, P(m, L->g_wih[0]), P(m, L->g_whh[0]),
                      P(m, L->g_bih[0]), P(m, L->g_bhh[0]), w->hs, w->gws);
    h = w->hs + (size_t)W * R * s->gru;
    in = s->gru;
  } else if (s->arch == PETRA_TS_DLINEAR) {
    ts_decompose(s, R, m->ts_in, w->x0, w->z1, w->a2);
    petra_dense_forward(R, in, m->ts_out, w->a2, P(m, L->h_w), P(m, L->h_b), w->out);
    /* + trend map: out += trend · W_tᵀ */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, R, m->ts_out, in, 1.0f, w->z1, in, P(m, L->t_w), in, 1.0f,
                w->out, m->ts_out);
    return;
  }
  petra_dense_forward(R, in, m->ts_out, h, P(m, L->h_w), P(m, L->h_b), w->out);
}

static void ts_backward(petra_model *m, int n) {
  const petra_model_spec *s = &m->spec;
  workspace *w = &m->w;
  const layout *L = &m->L;
  const int R = n * m->ts_rows_per_ex;
  if (s->arch == PETRA_TS_LINEAR) {
    petra_dense_backward(R, m->ts_in, m->ts_out, w->x0, P(m, L->h_w), w->dout, NULL,
                         Gr(m, L->h_w), Gr(m, L->h_b));
  } else if (s->arch == PETRA_TS_DLINEAR) {
    petra_dense_backward(R, m->ts_in, m->ts_out, w->a2, P(m, L->h_w), w->dout, NULL, Gr(m, L->h_w), Gr(m, L->h_b));
    petra_dense_backward(R, m->ts_in, m->ts_out, w->z1, P(m, L->t_w), w->dout, NULL, Gr(m, L->t_w), NULL);
  } else if (s->arch == PETRA_TS_MLP) {
    petra_dense_backward(R, s->hidden, m->ts_out, w->a2, P(m, L->h_w), w->dout, w->da,
                         Gr(m, L->h_w), Gr(m, L->h_b));
    petra_act_backward(s->act, (size_t)R * s->hidden, w->z1, w->a2, w->da, w->da);
    petra_dense_backward(R, m->ts_in, s->hidden, w->x0, P(m, L->d_w), w->da, NULL,
                         Gr(m, L->d_w), Gr(m, L->d_b));
  } else {
    int nch = s->ci ? 1 : s->channels, W = s->window;
    const float *hT = w->hs + (size_t)W * R * s->gru;
    petra_dense_backward(R, s->gru, m->ts_out, hT, P(m, L->h_w), w->dout, w->dh, Gr(m, L->h_w),
                         Gr(m, L->h_b));
    petra_gru_backward(W, R, nch, s->gru, w->dxg, NULL, P(m, L->g_wih[0]), P(m, L->g_whh[0]), w->hs,
                       w->gws, NULL, w->dh, NULL, NULL, Gr(m, L->g_wih[0]), Gr(m, L->g_whh[0]),
                       Gr(m, L->g_bih[0]), Gr(m, L->g_bhh[0]), w->gbws);
  }
}

/* ts: normalized row outputs -> data units in [b][h][cout] order. */
static void ts_emit(const petra_model *m, int n, float *out) {
  const petra_model_spec *s = &m->spec;
  const workspace *w = &m->w;
  const int Hz = s->horizon, cout = m->ts_cout, nch = s->ci ? 1 : s->channels;
  for (int b = 0; b < n; b++) {
    float *o = out + (size_t)b * m->n_out;
    for (int k = 0; k < m->ts_rows_per_ex; k++) {
      size_t r = (size_t)b * m->ts_rows_per_ex + k;
      const float *y = w->out + r * m->ts_out;
      for (int h = 0; h < Hz; h++) {
        if (s->ci) {
          o[h * cout + k] = y[h] * w->scale[r] + w->shift[r];
        } else {
          for (int c = 0; c < cout; c++) {
            int nc = s->target < 0 ? c : s->target;
            o[h * cout + c] = y[h * cout + c] * w->scale[r * nch + nc] + w->shift[r * nch + nc];
          }
        }
      }
    }
  }
}

/* norm=revin: the loss of the denormalized forecast against the raw targets, as RevIN trains
 * (each window's normalization differs, so the normalized loss would weight windows by 1/σ²);
 * dout in normalized units by the chain rule (d/d normalized = d/d data · σ). */
static int ts_loss_data_units(petra_model *m, int R, double *loss) {
  const petra_model_spec *s = &m->spec;
  workspace *w = &m->w;
  const int no = m->ts_out, nch = s->ci ? 1 : s->channels, cout = m->ts_cout;
  size_t N = (size_t)R * no;
  float *o = malloc(sizeof(float) * N * 3);
  if (!o) return PETRA_ENOMEM;
  float *t = o + N, *d = t + N;
  for (int r = 0; r < R; r++)
    for (int j = 0; j < no; j++) {
      int c = s->ci ? 0 : (s->target < 0 ? j % cout : s->target);
      size_t k = (size_t)r * no + j, q = (size_t)r * nch + (s->ci ? 0 : c);
      o[k] = w->out[k] * w->scale[q] + w->shift[q];
      t[k] = w->tgt[k] * w->scale[q] + w->shift[q];
    }
  *loss = petra_loss_eval(s->loss, R, no, o, t, d);
  for (int r = 0; r < R; r++)
    for (int j = 0; j < no; j++) {
      int c = s->ci ? 0 : (s->target < 0 ? j % cout : s->target);
      size_t k = (size_t)r * no + j;
      w->dout[k] = d[k] * w->scale[(size_t)r * nch + (s->ci ? 0 : c)];
    }
  free(o);
  return 0;
}

/* ---------------------------------------------------------------- public passes */

int petra_model_forward(petra_model *m, int n, const float *ex, float *out) {
  if (n <= 0) return n == 0 ? 0 : PETRA_EINVAL;
  if (ensure_ws(m, n)) return PETRA_ENOMEM;
  if (m->spec.kind == PETRA_MODEL_SEQ) {
    int rc = seq_forward(m, n, ex, 0);
    if (rc) return rc;
    memcpy(out, m->w.out, sizeof(float) * n * m->n_out);
  } else {
    ts_forward(m, n, ex);
    ts_emit(m, n, out);
  }
  return 0;
}

int petra_model_loss_grad(petra_model *m, int n, const float *ex, double *loss, float *out) {
  if (n <= 0) return PETRA_EINVAL;
  if (ensure_ws(m, n)) return PETRA_ENOMEM;
  memset(m->g, 0, sizeof(float) * m->n_params);
  workspace *w = &m->w;
  if (m->spec.kind == PETRA_MODEL_SEQ) {
    int rc = seq_forward(m, n, ex, 1);
    if (rc) return rc;
    /* labels gathered into tgt-like scratch: reuse dh (B×H >= B) */
    float labels[256];
    float *lab = n <= 256 ? labels : malloc(sizeof(float) * n);
    if (!lab) return PETRA_ENOMEM;
    for (int b = 0; b < n; b++) lab[b] = ex[(size_t)b * m->ex_floats + m->ex_floats - 1];
    *loss = petra_loss_eval(m->spec.loss, n, m->spec.classes, w->out, lab, w->dout);
    if (lab != labels) free(lab);
    if (out) memcpy(out, w->out, sizeof(float) * n * m->n_out);
    seq_backward(m, n);
  } else {
    ts_forward(m, n, ex);
    int R = n * m->ts_rows_per_ex;
    if (m->spec.norm == PETRA_NORM_REVIN) {
      int rc = ts_loss_data_units(m, R, loss);
      if (rc) return rc;
    } else {
      *loss = petra_loss_eval(m->spec.loss, R, m->ts_out, w->out, w->tgt, w->dout);
    }
    if (out) ts_emit(m, n, out);
    ts_backward(m, n);
  }
  return 0;
}

double petra_model_loss(const petra_model *m, int n, const float *ex, const float *out) {
  const petra_model_spec *s = &m->spec;
  if (n <= 0) return 0;
  double total = 0;
  if (s->kind == PETRA_MODEL_SEQ) {
    for (int b = 0; b < n; b++) {
      float y = ex[(size_t)b * m->ex_floats + m->ex_floats - 1];
      total += petra_loss_eval(s->loss, 1, s->classes, out + (size_t)b * m->n_out, &y, NULL);
    }
    return total / n;
  }
  /* ts: loss in data units against the target channel(s) */
  /* all channels: the target block [h][c] already has the output layout; one target
   * channel: gather it (on the stack; this runs once per example in the trainer) */
  float stack[1024];
  float *tg = NULL;
  if (s->target >= 0) {
    tg = m->n_out <= 1024 ? stack : malloc(sizeof(float) * m->n_out);
    if (!tg) return NAN;
  }
  for (int b = 0; b < n; b++) {
    const float *t = petra_model_example_target(m, ex + (size_t)b * m->ex_floats);
    if (tg) {
      for (int h = 0; h < s->horizon; h++) tg[h] = t[(size_t)h * s->channels + s->target];
      t = tg;
    }
    total += petra_loss_eval(s->loss, 1, m->n_out, out + (size_t)b * m->n_out, t, NULL);
  }
  if (tg != stack) free(tg);
  return total / n;
}

void petra_model_observe(petra_model *m, int n, const float *ex) {
  const petra_model_spec *s = &m->spec;
  if (s->kind != PETRA_MODEL_TS || s->norm != PETRA_NORM_RUNNING) return;
  const int C = s->channels;
  float *cnt = m->state, *mean = m->state + C, *m2 = m->state + 2 * C;
  /* Welford over the newest window row of each example */
  for (int b = 0; b < n; b++) {
    const float *row = ex + (size_t)b * m->ex_floats + (size_t)(s->window - 1) * C;
    for (int c = 0; c < C; c++) {
      cnt[c] += 1;
      float d = row[c] - mean[c];
      mean[c] += d / cnt[c];
      m2[c] += d * (row[c] - mean[c]);
    }
  }
}

float *petra_model_random_examples(const petra_model *m, int n, uint64_t seed, int full_length,
                                   double ts_offset) {
  const petra_model_spec *s = petra_model_get_spec(m);
  int ef = petra_model_example_floats(m);
  float *ex = calloc((size_t)(n > 0 ? n : 1) * ef, sizeof(float));
  petra_rng r;
  petra_rng_seed(&r, seed);
  for (int b = 0; b < n && ex; b++) {
    float *e = ex + (size_t)b * ef;
    if (s->kind == PETRA_MODEL_SEQ) {
      int L = s->seq_len, F = s->n_fields, N = s->n_numeric;
      int len = full_length ? L : 1 + (int)petra_rng_below(&r, (uint64_t)L);
      e[0] = (float)len;
      for (int t = 0; t < len; t++) {
        for (int f = 0; f < F; f++) e[1 + t * F + f] = (float)petra_rng_below(&r, (uint64_t)s->fields[f].vocab);
        for (int k = 0; k < N; k++) e[1 + L * F + t * N + k] = (float)petra_rng_normal(&r);
      }
      e[ef - 1] = (float)petra_rng_below(&r, (uint64_t)(s->classes == 1 ? 2 : s->classes));
    } else {
      for (int i = 0; i < ef; i++) e[i] = (float)(petra_rng_normal(&r) + ts_offset);
    }
  }
  return ex;
}
