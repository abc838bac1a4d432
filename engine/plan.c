#include "petra/plan.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "block.h"
#include "core.h"
#include "kernels.h"
#include "quant.h"
#include "petra/dense.h"
#include "petra/norm.h"

/* A linear layer y = x·Wᵀ + b in fp32, int8 or int4, optionally low-rank: W ≈ U·V with
 * V [r × in] in `lr` (applied first, no bias) and this layer holding U [out × r]. */
typedef struct qlinear {
  int out, in, bits;
  float *w;        /* fp32 [out × in] (bits 32; build only: freed once wt and the CSR are made) */
  float *wt;       /* fp32 transposed [in × out16] (bits 32), for sgemm_rows */
  int8_t *q;       /* int8, packed for qdot_packed: round16(out) × round4(in) bytes */
  int out16, in4;
  float *scale;    /* per output row (bits 8) */
  int32_t *rowsum; /* Σ_i q[o][i], for the +128 activation offset */
  /* bits 4: nb blocks of 32 inputs per row, one scale per block (max|w|/7), nibbles q + 8 */
  int nb;
  uint8_t *q4;     /* [out × nb × 16] */
  float *bscale;   /* [out × nb] */
  int32_t *bsum;   /* [out × nb]: Σ q over the block, for the +128 offset */
  float *bscale_t; /* the same two block-major [nb × out], for the epilogue's vector loops */
  int32_t *bsum_t;
  /* bits 32 with zeros: CSR (row starts [out + 1], uint16 columns, values) when that is
   * smaller than dense; the kernel (sparse or dense) chosen by timing both at build */
  int nnz;
  int32_t *sp;
  uint16_t *scol;
  float *sv;
  int rows1;         /* rows the layer sees when one example is scored */
  int sparse_mode;   /* petra_plan_opts.sparse, for the build */
  int sparse_small;  /* use CSR for calls of up to 4·rows1 rows */
  int sparse_large;  /* ... and for larger ones */
  struct qlinear *lr;
  const float *b;  /* bias [out] or NULL (points into the plan's fp32 block) */
} qlinear;

typedef struct qembed {
  int vocab, dim, bits;
  float *w;       /* fp32 [vocab × dim] */
  int8_t *q;      /* int8 [vocab × dim] */
  float *scale;   /* per code */
} qembed;

struct petra_plan {
  petra_model_spec spec;
  petra_genome genome;
  int ef, n_out, E; /* E: seq per-event input width */
  qembed emb[PETRA_MAX_FIELDS];
  qlinear dense, head;
  qlinear wih[PETRA_MAX_CORE_LAYERS], whh[PETRA_MAX_CORE_LAYERS]; /* the recurrent layers */
  int n_core;
  /* a block (engine/block.h): its plan state and the linears it compiled (by handle) */
  const petra_block *blk;
  void *bstate;
  qlinear blin[PETRA_BLOCK_MAX_LINEARS];
  int n_blin;
  float *ln_g, *ln_b, *dense_b, *head_b;
  float *bih[PETRA_MAX_CORE_LAYERS], *bhh[PETRA_MAX_CORE_LAYERS];
  size_t bytes;
  const petra_kernels *k;
};

/* ---------------------------------------------------------------- build */

/* bytes zeroed on a 64-byte boundary (the packed and transposed weights the kernels load 64
 * bytes at a time: a load across two cache lines costs two); freed with free(). */
static void *zalloc64(size_t bytes) {
  size_t b = (bytes + 63) / 64 * 64;
  void *x = aligned_alloc(64, b ? b : 64);
  if (x) memset(x, 0, b ? b : 64);
  return x;
}

/* ---------------------------------------------------------------- sparse fp32 */

/* y [n × out] = x [n × in] · Wᵀ + b with W in CSR. */
static void csr_apply(const qlinear *l, int n, const float *x, float *y) {
  for (int r = 0; r < n; r++) {
    const float *xr = x + (size_t)r * l->in;
    float *yr = y + (size_t)r * l->out;
    for (int o = 0; o < l->out; o++) {
      /* four partial sums: the loop is bound by the add latency, not the loads */
      float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
      int k = l->sp[o];
      const int e = l->sp[o + 1];
      for (; k + 4 <= e; k += 4) {
        a0 += l->sv[k] * xr[l->scol[k]];
        a1 += l->sv[k + 1] * xr[l->scol[k + 1]];
        a2 += l->sv[k + 2] * xr[l->scol[k + 2]];
        a3 += l->sv[k + 3] * xr[l->scol[k + 3]];
      }
      for (; k < e; k++) a0 += l->sv[k] * xr[l->scol[k]];
      yr[o] = ((a0 + a1) + (a2 + a3)) + (l->b ? l->b[o] : 0.0f);
    }
  }
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Best of five timings of `rows` rows through the dense (sparse = 0) or CSR kernel. */
static double time_kernel(const qlinear *l, int rows, int sparse, const float *x, float *y) {
  double best = 1e30;
  for (int rep = 0; rep < 5; rep++) {
    double t0 = now_s();
    if (sparse)
      csr_apply(l, rows, x, y);
    else
      petra_kernels_best()->sgemm_rows(rows, l->in, l->out, l->out16, x, l->wt, l->b, y);
    double dt = now_s() - t0;
    if (dt < best) best = dt;
  }
  return best;
}

/* CSR storage when the layer has zeros enough for it to be smaller (nnz·(4 + 2) + 4·(out + 1)
 * bytes against 4·out·in), then the kernel for small and large calls by measurement (or as
 * the options force). */
static int make_sparse(qlinear *l, int mode) {
  size_t nnz = 0, dense = (size_t)l->out * l->in;
  for (size_t i = 0; i < dense; i++) nnz += l->w[i] != 0.0f;
  if (l->in > 65535 || nnz * 6 + 4 * ((size_t)l->out + 1) >= dense * sizeof(float)) return 0;
  l->nnz = (int)nnz;
  l->sp = malloc(sizeof(int32_t) * ((size_t)l->out + 1));
  l->scol = malloc(sizeof(uint16_t) * (nnz ? nnz : 1));
  l->sv = malloc(sizeof(float) * (nnz ? nnz : 1));
  if (!l->sp || !l->scol || !l->sv) return -1;
  int k = 0;
  for (int o = 0; o < l->out; o++) {
    l->sp[o] = k;
    for (int i = 0; i < l->in; i++) {
      float v = l->w[(size_t)o * l->in + i];
      if (v != 0.0f) {
        l->scol[k] = (uint16_t)i;
        l->sv[k++] = v;
      }
    }
  }
  l->sp[l->out] = k;
  if (mode != PETRA_SPARSE_AUTO) {
    l->sparse_small = l->sparse_large = mode == PETRA_SPARSE_ALWAYS;
    return 0;
  }
  int rows[2] = {l->rows1 > 0 ? l->rows1 : 1, 64 * (l->rows1 > 0 ? l->rows1 : 1)};
  float *x = malloc(sizeof(float) * (size_t)rows[1] * l->in), *y = malloc(sizeof(float) * (size_t)rows[1] * l->out);
  if (!x || !y) {
    free(x);
    free(y);
    return -1;
  }
  for (size_t i = 0; i < (size_t)rows[1] * l->in; i++) x[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
  for (int c = 0; c < 2; c++) {
    time_kernel(l, rows[c], 0, x, y); /* warm both */
    time_kernel(l, rows[c], 1, x, y);
    int faster = time_kernel(l, rows[c], 1, x, y) < time_kernel(l, rows[c], 0, x, y);
    if (c == 0)
      l->sparse_small = faster;
    else
      l->sparse_large = faster;
  }
  free(x);
  free(y);
  return 0;
}

int petra_plan_linear_bits(int bits, int in) {
  if (bits == 32) return 32;
  /* int4 blocks pad rows to 32 inputs: for narrow layers int8 is smaller, and is used */
  if (bits == 4 && (size_t)((in + 31) / 32) * (16 + sizeof(float)) < (size_t)in + sizeof(float)) return 4;
  return 8;
}

static int make_linear_full(qlinear *l, const float *w, int out, int in, int bits, const float *b) {
  l->out = out;
  l->in = in;
  l->b = b;
  bits = l->bits = petra_plan_linear_bits(bits, in);
  if (bits == 4) {
    l->nb = (in + 31) / 32;
    l->out16 = (out + 15) / 16 * 16;
    size_t nbk = (size_t)out * l->nb;
    int8_t *q = calloc((size_t)out * in, 1);
    l->q4 = zalloc64((size_t)l->out16 * l->nb * 128);
    l->bscale = malloc(sizeof(float) * nbk);
    l->bsum = malloc(sizeof(int32_t) * nbk);
    if (!q || !l->q4 || !l->bscale || !l->bsum) {
      free(q);
      return -1;
    }
    petra_quant_i4_blocks(w, out, in, q, l->bscale, l->bsum);
    petra_qpack4(out, in, q, l->q4);
    free(q);
    l->bscale_t = malloc(sizeof(float) * nbk);
    l->bsum_t = malloc(sizeof(int32_t) * nbk);
    if (!l->bscale_t || !l->bsum_t) return -1;
    for (int o = 0; o < out; o++)
      for (int bk = 0; bk < l->nb; bk++) {
        l->bscale_t[(size_t)bk * out + o] = l->bscale[(size_t)o * l->nb + bk];
        l->bsum_t[(size_t)bk * out + o] = l->bsum[(size_t)o * l->nb + bk];
      }
    return 0;
  }
  if (bits == 32) {
    l->w = malloc(sizeof(float) * (size_t)out * in);
    if (!l->w) return -1;
    memcpy(l->w, w, sizeof(float) * (size_t)out * in);
    l->out16 = (out + 15) / 16 * 16;
    l->wt = zalloc64(sizeof(float) * (size_t)in * l->out16);
    if (!l->wt) return -1;
    for (int o = 0; o < out; o++)
      for (int i = 0; i < in; i++) l->wt[(size_t)i * l->out16 + o] = w[(size_t)o * in + i];
    int rc = make_sparse(l, l->sparse_mode);
    free(l->w);
    l->w = NULL;
    return rc;
  }
  l->out16 = (out + 15) / 16 * 16;
  l->in4 = (in + 3) / 4 * 4;
  int8_t *q = malloc((size_t)out * in);
  l->q = zalloc64((size_t)l->out16 * l->in4);
  l->scale = malloc(sizeof(float) * (size_t)out);
  l->rowsum = malloc(sizeof(int32_t) * (size_t)out);
  if (!q || !l->q || !l->scale || !l->rowsum) {
    free(q);
    return -1;
  }
  petra_quant_i8_rows(w, out, in, q, l->scale, l->rowsum);
  petra_qpack(out, in, q, l->q);
  free(q);
  return 0;
}

/* Low-rank when the gene asks for it and it saves weights: truncated SVD (LAPACKE sgesdd)
 * W [out × in] = U Σ Vᵀ, keeping r = ceil(rank · min(out, in)) singular values: this layer
 * becomes (UΣ)_r [out × r] and lr holds Vᵀ_r [r × in]; both at the gene's bits. */
static int make_linear(qlinear *l, const float *w, int out, int in, int bits, const float *b, float rank,
                       int rows1, int sparse_mode) {
  l->rows1 = rows1;
  l->sparse_mode = sparse_mode;
  int k = out < in ? out : in;
  int r = (int)ceilf(rank * (float)k);
  if (r < 1) r = 1;
  if (!(rank < 1.0f) || (size_t)r * (size_t)(out + in) >= (size_t)out * in)
    return make_linear_full(l, w, out, in, bits, b);
  float *a = malloc(sizeof(float) * (size_t)out * in), *sv = malloc(sizeof(float) * (size_t)k);
  float *u = malloc(sizeof(float) * (size_t)out * k), *vt = malloc(sizeof(float) * (size_t)k * in);
  float *ur = malloc(sizeof(float) * (size_t)out * r);
  int rc = -1;
  l->lr = calloc(1, sizeof(qlinear));
  if (l->lr) {
    l->lr->rows1 = rows1;
    l->lr->sparse_mode = sparse_mode;
  }
  if (a && sv && u && vt && ur && l->lr) {
    memcpy(a, w, sizeof(float) * (size_t)out * in);
    if (LAPACKE_sgesdd(LAPACK_ROW_MAJOR, 'S', out, in, a, in, sv, u, k, vt, in) == 0) {
      for (int o = 0; o < out; o++)
        for (int j = 0; j < r; j++) ur[(size_t)o * r + j] = u[(size_t)o * k + j] * sv[j];
      rc = make_linear_full(l->lr, vt, r, in, bits, NULL);
      if (rc == 0) rc = make_linear_full(l, ur, out, r, bits, b);
    }
  }
  free(a);
  free(sv);
  free(u);
  free(vt);
  free(ur);
  return rc;
}

static size_t linear_bytes(const qlinear *l) {
  if (!l->out) return 0;
  /* int8: the weights and one scale per row (padding of the packed layout not counted);
   * int4: half a byte per weight (blocks padded to 32) and one scale per block */
  size_t w = l->bits == 32  ? (l->sp ? (size_t)l->nnz * (sizeof(float) + sizeof(uint16_t)) +
                                             sizeof(int32_t) * ((size_t)l->out + 1)
                                       : sizeof(float) * (size_t)l->out * l->in)
             : l->bits == 4 ? (size_t)l->out * l->nb * (16 + sizeof(float))
                            : (size_t)l->out * l->in + sizeof(float) * (size_t)l->out;
  return w + (l->b ? sizeof(float) * (size_t)l->out : 0) + (l->lr ? linear_bytes(l->lr) : 0);
}

static void free_linear(qlinear *l) {
  free(l->w);
  free(l->wt);
  free(l->sp);
  free(l->scol);
  free(l->sv);
  free(l->q);
  free(l->scale);
  free(l->rowsum);
  free(l->q4);
  free(l->bscale);
  free(l->bsum);
  free(l->bscale_t);
  free(l->bsum_t);
  if (l->lr) {
    free_linear(l->lr);
    free(l->lr);
  }
}

static int gene_bits(const petra_genome *g, const char *layer) {
  int b = petra_genome_gene(g, layer).bits;
  return b == 32 ? 32 : b == 4 ? 4 : 8;
}

static const float *tensor(const petra_model *m, const char *name) {
  const petra_tensor_info *t = petra_model_find_tensor(m, name);
  return t ? petra_model_params((petra_model *)m) + t->offset : NULL;
}

static float *dup(const float *x, size_t n) {
  if (!x) return NULL;
  float *d = malloc(sizeof(float) * (n ? n : 1));
  if (d) memcpy(d, x, sizeof(float) * n);
  return d;
}

/* petra_block_linker: a block's matrices become the plan's linears blin[] */
typedef struct block_linker {
  petra_block_linker lk;
  petra_plan *p;
  const petra_genome *g;
  int rows1, sparse_mode;
} block_linker;
static int link_add(petra_block_linker *lk, const float *w, int rows, int cols, const char *layer, const float *bias) {
  block_linker *b = (block_linker *)lk;
  petra_plan *p = b->p;
  if (p->n_blin == PETRA_BLOCK_MAX_LINEARS) return -1;
  qlinear *l = &p->blin[p->n_blin++];
  if (make_linear(l, w, rows, cols, gene_bits(b->g, layer), bias, petra_genome_gene(b->g, layer).rank, b->rows1,
                  b->sparse_mode))
    return -1;
  return p->n_blin - 1;
}

petra_plan *petra_plan_build(const petra_model *m, const petra_genome *g, petra_err *err) {
  return petra_plan_build_ex(m, g, NULL, err);
}

petra_plan *petra_plan_build_ex(const petra_model *m, const petra_genome *g, const petra_plan_opts *o,
                                petra_err *err) {
  const petra_model_spec *ms = petra_model_get_spec(m);
  if (ms->kind == PETRA_MODEL_TS && ms->arch == PETRA_TS_DLINEAR) { /* a linear function: its plan is linear */
    petra_model *f = petra_model_fold(m, err);
    if (!f) return NULL;
    petra_plan *fp = petra_plan_build_ex(f, g, o, err);
    petra_model_free(f);
    return fp;
  }
  const int sm = o ? o->sparse : PETRA_SPARSE_AUTO;
  petra_plan *p = calloc(1, sizeof *p);
  if (!p) {
    petra_err_set(err, PETRA_ENOMEM, "plan: out of memory");
    return NULL;
  }
  const petra_model_spec *s = petra_model_get_spec(m);
  p->spec = *s;
  p->genome = *g;
  p->ef = petra_model_example_floats(m);
  p->n_out = petra_model_n_outputs(m);
  p->k = petra_kernels_best();
  if (s->kind == PETRA_MODEL_TS && s->norm == PETRA_NORM_RUNNING) {
    petra_err_set(err, PETRA_EINVAL, "plan: ts models with norm=running are not compiled yet");
    goto fail;
  }
  int rc = 0;
  if (s->kind == PETRA_MODEL_SEQ) {
    p->E = s->n_numeric;
    for (int f = 0; f < s->n_fields; f++) {
      char name[PETRA_NAME_MAX + 8];
      snprintf(name, sizeof name, "emb.%s", s->fields[f].name);
      qembed *e = &p->emb[f];
      e->vocab = s->fields[f].vocab;
      e->dim = s->fields[f].dim;
      e->bits = petra_genome_gene(g, name).bits == 32 ? 32 : 8;
      const float *t = tensor(m, name);
      size_t nw = (size_t)e->vocab * e->dim;
      if (e->bits == 32) {
        if (!(e->w = dup(t, nw))) rc = -1;
        p->bytes += nw * sizeof(float);
      } else {
        e->q = malloc(nw);
        e->scale = malloc(sizeof(float) * (size_t)e->vocab);
        if (!e->q || !e->scale) rc = -1;
        if (!rc) petra_quant_i8_rows(t, e->vocab, e->dim, e->q, e->scale, NULL);
        p->bytes += nw + sizeof(float) * (size_t)e->vocab;
      }
      p->E += e->dim;
    }
  }
  int in = s->kind == PETRA_MODEL_SEQ ? p->E : (s->ci ? s->window : s->window * s->channels);
  /* rows each layer sees for one example: R1 rows of T1 steps (the sparse kernel choice) */
  const int T1 = s->kind == PETRA_MODEL_SEQ ? s->seq_len : s->window;
  const int R1 = s->kind == PETRA_MODEL_SEQ ? 1 : (s->ci ? (s->target < 0 ? s->channels : 1) : 1);
  const int rows1 = s->kind == PETRA_MODEL_SEQ ? T1 : R1;
  int D = s->kind == PETRA_MODEL_SEQ ? s->dense : (s->arch == PETRA_TS_MLP ? s->hidden : 0);
  if (D > 0) {
    p->dense_b = dup(tensor(m, "dense0.b"), (size_t)D);
    rc |= make_linear(&p->dense, tensor(m, "dense0.w"), D, in, gene_bits(g, "dense0"), p->dense_b,
                      petra_genome_gene(g, "dense0").rank, rows1, sm);
    if (s->layernorm) {
      p->ln_g = dup(tensor(m, "ln0.g"), (size_t)D);
      p->ln_b = dup(tensor(m, "ln0.b"), (size_t)D);
      p->bytes += 2 * sizeof(float) * (size_t)D;
    }
    in = D;
  }
  if ((p->blk = petra_block_of(s))) {
    block_linker lk = {{link_add}, p, g, T1 * R1, sm};
    size_t bf = 0;
    if (!(p->bstate = p->blk->plan_build(m, in, &lk.lk, &bf, err))) goto fail;
    p->bytes += bf;
    in = petra_spec_core_top(s);
  }
  if (s->gru > 0 && !p->blk && (s->kind == PETRA_MODEL_SEQ || s->arch == PETRA_TS_GRU)) {
    const petra_core *core = petra_core_of(s);
    int gin = s->kind == PETRA_MODEL_SEQ ? in : (s->ci ? 1 : s->channels);
    p->n_core = petra_spec_core_layers(s);
    for (int l = 0; l < p->n_core; l++) { /* each layer reads the one below */
      petra_core_names nm = petra_core_layer_names(core, l);
      int H = petra_spec_core_units(s, l), G = core->gates * H, bits = gene_bits(g, nm.layer);
      float rank = petra_genome_gene(g, nm.layer).rank;
      p->bih[l] = dup(tensor(m, nm.bih), (size_t)G);
      p->bhh[l] = dup(tensor(m, nm.bhh), (size_t)G);
      rc |= make_linear(&p->wih[l], tensor(m, nm.wih), G, gin, bits, p->bih[l], rank, T1 * R1, sm);
      rc |= make_linear(&p->whh[l], tensor(m, nm.whh), G, H, bits, p->bhh[l], rank, R1, sm);
      gin = H;
    }
    in = gin;
  }
  const petra_tensor_info *ht = petra_model_find_tensor(m, "head.w");
  p->head_b = dup(tensor(m, "head.b"), (size_t)ht->rows);
  rc |= make_linear(&p->head, tensor(m, "head.w"), ht->rows, ht->cols, gene_bits(g, "head"), p->head_b,
                    petra_genome_gene(g, "head").rank, R1, sm);
  if (rc) {
    petra_err_set(err, PETRA_ENOMEM, "plan: out of memory");
    goto fail;
  }
  p->bytes += linear_bytes(&p->dense) + linear_bytes(&p->head);
  for (int i = 0; i < p->n_blin; i++) p->bytes += linear_bytes(&p->blin[i]);
  for (int l = 0; l < p->n_core; l++) p->bytes += linear_bytes(&p->wih[l]) + linear_bytes(&p->whh[l]);
  return p;
fail:
  petra_plan_free(p);
  return NULL;
}

void petra_plan_free(petra_plan *p) {
  if (!p) return;
  for (int f = 0; f < PETRA_MAX_FIELDS; f++) {
    free(p->emb[f].w);
    free(p->emb[f].q);
    free(p->emb[f].scale);
  }
  free_linear(&p->dense);
  if (p->blk) p->blk->plan_free(p->bstate);
  for (int i = 0; i < p->n_blin; i++) free_linear(&p->blin[i]);
  for (int l = 0; l < PETRA_MAX_CORE_LAYERS; l++) {
    free_linear(&p->wih[l]);
    free_linear(&p->whh[l]);
    free(p->bih[l]);
    free(p->bhh[l]);
  }
  free_linear(&p->head);
  free(p->ln_g);
  free(p->ln_b);
  free(p->dense_b);
  free(p->head_b);
  free(p);
}

const petra_model_spec *petra_plan_spec(const petra_plan *p) { return &p->spec; }
const petra_genome *petra_plan_genome(const petra_plan *p) { return &p->genome; }
size_t petra_plan_bytes(const petra_plan *p) { return p->bytes; }
int petra_plan_example_floats(const petra_plan *p) { return p->ef; }
int petra_plan_n_outputs(const petra_plan *p) { return p->n_out; }

/* ---------------------------------------------------------------- scoring */

/* Quantized layers take their input rows this many at a time. */
#define QCHUNK 64

/* Scratch layout (floats unless noted), sized for n examples. */
typedef struct scratch {
  float *x0, *a1, *st, *xi, *h, *hh, *out2, *lr;
  float *seq; /* a stacked layer's outputs [T][R][H]: the next layer's input */
  float *bws;  /* a block's workspace (engine/block.h) */
  float *sx;   /* [QCHUNK] activation scales */
  uint8_t *xu; /* [QCHUNK × padded width] quantized activations */
  int32_t *acc;
} scratch;

/* y [n × out] = x [n × in] · Wᵀ + b (no low-rank factor). */
static void linear_apply1(const petra_plan *p, const qlinear *l, int n, const float *x, float *y, scratch *sc) {
  if (l->sp && (n <= 4 * l->rows1 ? l->sparse_small : l->sparse_large)) {
    csr_apply(l, n, x, y);
    return;
  }
  if (l->bits == 32) {
    p->k->sgemm_rows(n, l->in, l->out, l->out16, x, l->wt, l->b, y);
    return;
  }
  /* quantized layers: QCHUNK rows at a time (their activations, scales and accumulators
   * fit the scratch and stay in cache) */
  for (int r0 = 0; r0 < n; r0 += QCHUNK) {
    const int m = n - r0 < QCHUNK ? n - r0 : QCHUNK;
    const float *xr = x + (size_t)r0 * l->in;
    float *y0 = y + (size_t)r0 * l->out;
    if (l->bits == 4) {
      const int nb = l->nb, ld = nb * 32, o16 = l->out16;
      p->k->quant_rows(m, l->in, ld, xr, sc->xu, sc->sx);
      p->k->qgemm4(m, o16, nb, l->q4, sc->xu, sc->acc);
      /* y_o = s_x·Σ_b s_ob·(acc_ob − 128·Σq_ob) + bias_o (kernels.h: alike on every CPU) */
      p->k->q4dequant_rows(m, l->out, nb, o16, sc->acc, sc->sx, l->bscale_t, l->bsum_t, l->b, y0);
      continue;
    }
    p->k->quant_rows(m, l->in, l->in4, xr, sc->xu, sc->sx);
    p->k->qgemm_packed(m, l->out16, l->in4, l->q, sc->xu, sc->acc);
    p->k->qdequant_rows(m, l->out, l->out16, sc->acc, sc->sx, l->scale, l->rowsum, l->b, y0);
  }
}

static void linear_apply(const petra_plan *p, const qlinear *l, int n, const float *x, float *y, scratch *sc) {
  if (!l->lr) {
    linear_apply1(p, l, n, x, y, sc);
    return;
  }
  linear_apply1(p, l->lr, n, x, sc->lr, sc);
  linear_apply1(p, l, n, sc->lr, y, sc);
}

/* Scratch layout (floats unless noted), sized for n examples. */
/* int32 accumulators a layer needs per input row */
static size_t acc_need(const qlinear *l) {
  if (!l->out) return 0;
  size_t a = l->bits == 4 ? (size_t)l->out16 * l->nb : (size_t)l->out16;
  size_t b = l->lr ? acc_need(l->lr) : 0;
  return a > b ? a : b;
}

static size_t layout(const petra_plan *p, int n, void *base, scratch *sc_out) {
  scratch dummy;
  scratch *sc = sc_out ? sc_out : &dummy; /* sizes only when base is NULL */
  const petra_model_spec *s = &p->spec;
  size_t T = s->kind == PETRA_MODEL_SEQ ? (size_t)s->seq_len : (size_t)s->window;
  size_t R = s->kind == PETRA_MODEL_SEQ ? (size_t)n : (size_t)n * (s->ci ? (s->target < 0 ? s->channels : 1) : 1);
  size_t rows = s->kind == PETRA_MODEL_SEQ ? T * n : R;
  size_t in0 = s->kind == PETRA_MODEL_SEQ ? (size_t)p->E : (size_t)(s->ci ? s->window : s->window * s->channels);
  size_t D = (size_t)(p->dense.out ? p->dense.out : 1), H = 1; /* H: the widest recurrent layer */
  for (int l = 0; l < p->n_core; l++)
    if ((size_t)petra_spec_core_units(s, l) > H) H = (size_t)petra_spec_core_units(s, l);
  size_t maxin = in0 > D ? in0 : D;
  if (H > maxin) maxin = H;
  size_t a1 = rows * D > rows * in0 ? rows * D : rows * in0; /* also the ts GRU's time-major input */
  const qlinear *ls[2 + PETRA_BLOCK_MAX_LINEARS + 2 * PETRA_MAX_CORE_LAYERS] = {&p->dense, &p->head};
  int nls = 2;
  for (int i = 0; i < p->n_blin; i++) {
    ls[nls++] = &p->blin[i];
    if ((size_t)p->blin[i].in > maxin) maxin = (size_t)p->blin[i].in;
  }
  for (int l = 0; l < p->n_core; l++) {
    ls[nls++] = &p->wih[l];
    ls[nls++] = &p->whh[l];
  }
  size_t maxr = 0, accn = 64;
  for (int i = 0; i < nls; i++) {
    if (ls[i]->lr && (size_t)ls[i]->lr->out > maxr) maxr = (size_t)ls[i]->lr->out;
    if (acc_need(ls[i]) > accn) accn = acc_need(ls[i]);
  }
  size_t maxrows = rows > R * T ? rows : R * T;
  const size_t G = (size_t)petra_core_of(s)->gates * H;
  size_t bw = p->blk ? p->blk->plan_ws_floats(p->bstate, n) : 0;
  size_t sizes[10] = {rows * in0, a1, rows * 2, T * R * G + G, 3 * R * H, R * G,
                      R * (size_t)(p->head.out), maxrows * maxr, p->n_core > 1 ? T * R * H : 0, bw};
  size_t off = 0;
  float **dst[10] = {&sc->x0, &sc->a1, &sc->st, &sc->xi, &sc->h, &sc->hh, &sc->out2, &sc->lr, &sc->seq, &sc->bws};
  for (int i = 0; i < 10; i++) {
    if (base) *dst[i] = (float *)((char *)base + off);
    off += ((sizes[i] * sizeof(float)) + 63) & ~(size_t)63;
  }
  /* QCHUNK rows of quantized activations (int4 blocks pad to 32), their scales and
   * accumulators */
  size_t xub = (size_t)QCHUNK * (maxin + 64);
  if (base) sc->xu = (uint8_t *)base + off;
  off += (xub + 63) & ~(size_t)63;
  if (base) sc->sx = (float *)((char *)base + off);
  off += sizeof(float) * QCHUNK;
  if (base) sc->acc = (int32_t *)((char *)base + off);
  off += sizeof(int32_t) * (QCHUNK * accn + 16);
  return off;
}

size_t petra_plan_scratch_bytes(const petra_plan *p, int n) { return layout(p, n, NULL, NULL) + 64; }

/* petra_block_apply on the plan's linears (fp32, int8, int4, CSR or low rank). */
typedef struct block_ctx {
  const petra_plan *p;
  scratch *sc;
} block_ctx;
static void block_apply(void *ctx, int handle, int n, const float *x, float *y) {
  block_ctx *c = ctx;
  linear_apply(c->p, &c->p->blin[handle], n, x, y, c->sc);
}

/* The recurrent core over T steps for R rows; x [T][R][in]; the top layer's final states in
 * h (first R·H floats). A stacked layer writes every step's state to sc->seq, which the next
 * layer reads (its input products are taken before its steps overwrite it). The state
 * alternates between two buffers (the step reads one, writes the other); a row past its
 * length keeps its state. The middle third of h is the core's aux buffer (the GRU's
 * W_hn h + b_hn, the LSTM's cell state). */
static void core_run(const petra_plan *p, int T, int R, const float *x, const int *len, scratch *sc) {
  const petra_core *core = petra_core_of(&p->spec);
  int H = 0;
  for (int l = 0; l < p->n_core; l++) {
    H = petra_spec_core_units(&p->spec, l);
    const int G = core->gates * H, last = l == p->n_core - 1;
    linear_apply(p, &p->wih[l], T * R, l ? sc->seq : x, sc->xi, sc);
    float *ha = sc->h, *hn = sc->h + (size_t)R * H, *hb = sc->h + 2 * (size_t)R * H;
    memset(ha, 0, sizeof(float) * (size_t)R * H);
    if (core->aux_state) memset(hn, 0, sizeof(float) * (size_t)R * H);
    for (int t = 0; t < T; t++) {
      linear_apply(p, &p->whh[l], R, ha, sc->hh, sc);
      core->step_rows(H, R, sc->xi + (size_t)t * R * G, sc->hh, ha, hn, hb, len, t);
      if (len)
        for (int r = 0; r < R; r++)
          if (t >= len[r]) memcpy(hb + (size_t)r * H, ha + (size_t)r * H, sizeof(float) * H);
      if (!last) memcpy(sc->seq + (size_t)t * R * H, hb, sizeof(float) * (size_t)R * H);
      float *tmp = ha;
      ha = hb;
      hb = tmp;
    }
    if (ha != sc->h) memcpy(sc->h, ha, sizeof(float) * (size_t)R * H);
  }
}

int petra_plan_score(const petra_plan *p, int n, const float *ex, float *out, void *scratch_mem) {
  if (n <= 0) return n == 0 ? 0 : PETRA_EINVAL;
  const petra_model_spec *s = &p->spec;
  for (int l = 0; l < p->n_core; l++)
    if (petra_spec_core_units(s, l) > 1024) return PETRA_ERANGE;
  scratch sc;
  void *base = (void *)(((uintptr_t)scratch_mem + 63) & ~(uintptr_t)63);
  layout(p, n, base, &sc);
  if (s->kind == PETRA_MODEL_SEQ) {
    const int T = s->seq_len, F = s->n_fields, N = s->n_numeric, E = p->E;
    int lens[256];
    int *len = n <= 256 ? lens : malloc(sizeof(int) * (size_t)n);
    if (!len) return PETRA_ENOMEM;
    for (int b = 0; b < n; b++) {
      const float *e = ex + (size_t)b * p->ef;
      if (!(e[0] >= 1 && e[0] <= T)) {
        if (len != lens) free(len);
        return PETRA_EINVAL;
      }
      len[b] = (int)e[0];
      for (int t = 0; t < T; t++) {
        float *row = sc.x0 + ((size_t)t * n + b) * E;
        int off = 0;
        for (int f = 0; f < F; f++) {
          const qembed *q = &p->emb[f];
          float cv = t < len[b] ? e[1 + t * F + f] : 0.0f;
          if (!(cv >= 0 && cv < q->vocab)) {
            if (len != lens) free(len);
            return PETRA_EINVAL;
          }
          int c = (int)cv;
          if (q->bits == 32) {
            memcpy(row + off, q->w + (size_t)c * q->dim, sizeof(float) * q->dim);
          } else {
            for (int j = 0; j < q->dim; j++) row[off + j] = q->scale[c] * (float)q->q[(size_t)c * q->dim + j];
          }
          off += q->dim;
        }
        if (t < len[b])
          memcpy(row + off, e + 1 + T * F + t * N, sizeof(float) * N);
        else
          memset(row + off, 0, sizeof(float) * N);
      }
    }
    const float *xg = sc.x0;
    size_t rows = (size_t)T * n;
    if (p->dense.out) {
      linear_apply(p, &p->dense, (int)rows, sc.x0, sc.a1, &sc);
      if (p->ln_g) petra_layernorm_forward((int)rows, p->dense.out, sc.a1, p->ln_g, p->ln_b, sc.a1, sc.st);
      petra_act_forward(s->act, rows * p->dense.out, sc.a1, sc.a1);
      xg = sc.a1;
    }
    if (p->blk) {
      block_ctx c = {p, &sc};
      const float *top = p->blk->plan_forward(p->bstate, n, xg, len, (petra_block_events){sc.x0, E}, sc.bws,
                                              block_apply, &c);
      linear_apply(p, &p->head, n, top, out, &sc);
    } else {
      core_run(p, T, n, xg, len, &sc);
      linear_apply(p, &p->head, n, sc.h, out, &sc);
    }
    if (len != lens) free(len);
    return 0;
  }
  /* ts: per-row normalization as the model does (none or last value) */
  const int W = s->window, C = s->channels, Hz = s->horizon;
  const int ci = s->ci, cout = s->target < 0 ? C : 1, rpe = ci ? cout : 1, nch = ci ? 1 : C;
  const int in = ci ? W : W * C, R = n * rpe;
  float shift[4096], scale[4096];
  if (R * nch > 4096) return PETRA_ERANGE;
  for (int b = 0; b < n; b++) {
    const float *win = ex + (size_t)b * p->ef;
    for (int k = 0; k < rpe; k++) {
      int r = b * rpe + k;
      float *x = sc.x0 + (size_t)r * in;
      for (int c2 = 0; c2 < nch; c2++) {
        int ch = ci ? (s->target < 0 ? k : s->target) : c2;
        float sh, sd;
        petra_ts_window_norm(s->norm, win, W, C, ch, &sh, &sd);
        shift[r * nch + c2] = sh;
        scale[r * nch + c2] = sd;
        float inv = 1.0f / sd;
        for (int t = 0; t < W; t++) x[ci ? t : t * C + c2] = (win[(size_t)t * C + ch] - sh) * inv;
      }
    }
  }
  const float *h = sc.x0;
  if (s->arch == PETRA_TS_MLP) {
    linear_apply(p, &p->dense, R, sc.x0, sc.a1, &sc);
    petra_act_forward(s->act, (size_t)R * p->dense.out, sc.a1, sc.a1);
    h = sc.a1;
  } else if (s->arch == PETRA_TS_GRU) {
    /* rows [R][W][nch] -> time-major [W][R][nch] */
    for (int r = 0; r < R; r++)
      for (int t = 0; t < W; t++)
        memcpy(sc.a1 + ((size_t)t * R + r) * nch, sc.x0 + (size_t)r * in + (size_t)t * nch, sizeof(float) * nch);
    core_run(p, W, R, sc.a1, NULL, &sc);
    h = sc.h;
  }
  linear_apply(p, &p->head, R, h, sc.out2, &sc);
  for (int b = 0; b < n; b++) {
    float *o = out + (size_t)b * p->n_out;
    for (int k = 0; k < rpe; k++) {
      int r = b * rpe + k;
      const float *y = sc.out2 + (size_t)r * p->head.out;
      for (int hz = 0; hz < Hz; hz++) {
        if (ci) {
          o[hz * cout + k] = y[hz] * scale[r] + shift[r];
        } else {
          for (int c = 0; c < cout; c++) {
            int nc = s->target < 0 ? c : s->target;
            o[hz * cout + c] = y[hz * cout + c] * scale[r * nch + nc] + shift[r * nch + nc];
          }
        }
      }
    }
  }
  return 0;
}

static int sparse_used(const qlinear *l, int n) {
  if (!l->out) return 0;
  int u = l->sp && (n <= 4 ? l->sparse_small : l->sparse_large);
  return u + (l->lr ? sparse_used(l->lr, n) : 0);
}

int petra_plan_sparse_layers(const petra_plan *p, int n) {
  int u = sparse_used(&p->dense, n) + sparse_used(&p->head, n);
  for (int l = 0; l < p->n_core; l++) u += sparse_used(&p->wih[l], n) + sparse_used(&p->whh[l], n);
  return u;
}
