#include "petra/snapshot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "petra/bytes.h"
#include "petra.pb-c.h"
#include "petra/genome.h"
#include "petra/plan.h"
#include <time.h>
#include "petra/sha256.h"
#include "petra/encoder.h"
#include "quant.h"

uint64_t petra_feature_schema_hash(const char *schema) {
  return petra_fnv1a64(schema, strlen(schema));
}

/* ---------------------------------------------------------------- tensor encodings */

/* The genome layer a tensor belongs to, and whether it is a weight matrix the plan
 * compresses (biases and layer norm stay fp32). */
static int tensor_layer(const char *name, char *layer, size_t n) {
  if (strncmp(name, "emb.", 4)) return petra_weight_matrix_layer(name, layer, n);
  snprintf(layer, n, "%s", name);
  return 1;
}

/* Per-tensor buffers the encoder allocates (freed after packing). */
typedef struct enc_bufs {
  void *p[4];
} enc_bufs;

/* int8, one scale per row: exactly the plan's quantization (petra/plan.h), so the plan a
 * reader compiles from the dequantized weights has the same integers. */
static int enc_i8(Petra__V1__Tensor *t, const float *w, int rows, int cols, enc_bufs *b) {
  size_t n = (size_t)rows * cols;
  int8_t *q = malloc(n ? n : 1);
  float *sc = malloc(sizeof(float) * (size_t)(rows ? rows : 1));
  b->p[0] = q;
  b->p[1] = sc;
  if (!q || !sc) return -1;
  petra_quant_i8_rows(w, rows, cols, q, sc, NULL);
  t->dtype = PETRA__V1__DTYPE__DTYPE_I8;
  t->n_scales = (size_t)rows;
  t->scales = sc;
  t->data.len = (size_t)rows * cols;
  t->data.data = (uint8_t *)q;
  return 0;
}

/* int4 in blocks of 32 inputs per row, one scale per block (max|w|/7), as the plan does;
 * element k of the row-major matrix in byte k/2, low nibble first, stored as q + 8. */
static int enc_i4(Petra__V1__Tensor *t, const float *w, int rows, int cols, enc_bufs *b) {
  int nb = (cols + 31) / 32;
  size_t n = (size_t)rows * cols, nsc = (size_t)rows * nb;
  uint8_t *q = calloc((n + 1) / 2 ? (n + 1) / 2 : 1, 1);
  int8_t *v = malloc(n ? n : 1);
  float *sc = malloc(sizeof(float) * (nsc ? nsc : 1));
  b->p[0] = q;
  b->p[1] = sc;
  if (!q || !sc || !v) {
    free(v);
    return -1;
  }
  petra_quant_i4_blocks(w, rows, cols, v, sc, NULL);
  for (size_t k = 0; k < n; k++) q[k / 2] |= (uint8_t)(k % 2 ? (v[k] + 8) << 4 : v[k] + 8);
  free(v);
  t->dtype = PETRA__V1__DTYPE__DTYPE_I4;
  t->n_scales = (size_t)rows * nb;
  t->scales = sc;
  t->data.len = (n + 1) / 2;
  t->data.data = q;
  return 0;
}

/* fp32 CSR when it is smaller than dense (a sparse layer). Returns 1 when used. */
static int enc_csr(Petra__V1__Tensor *t, const float *w, int rows, int cols, enc_bufs *b) {
  size_t n = (size_t)rows * cols, nnz = 0;
  for (size_t i = 0; i < n; i++) nnz += w[i] != 0.0f;
  /* values 4 bytes, column varints up to 3, row starts up to 4 */
  if (nnz * 7 + 4 * ((size_t)rows + 1) >= n * sizeof(float)) return 0;
  uint32_t *rp = malloc(sizeof(uint32_t) * ((size_t)rows + 1)), *ci = malloc(sizeof(uint32_t) * (nnz ? nnz : 1));
  float *v = malloc(sizeof(float) * (nnz ? nnz : 1));
  b->p[0] = rp;
  b->p[1] = ci;
  b->p[2] = v;
  if (!rp || !ci || !v) return -1;
  size_t k = 0;
  for (int r = 0; r < rows; r++) {
    rp[r] = (uint32_t)k;
    for (int c = 0; c < cols; c++)
      if (w[(size_t)r * cols + c] != 0.0f) {
        ci[k] = (uint32_t)c;
        v[k++] = w[(size_t)r * cols + c];
      }
  }
  rp[rows] = (uint32_t)k;
  t->n_row_ptr = (size_t)rows + 1;
  t->row_ptr = rp;
  t->n_col_idx = nnz;
  t->col_idx = ci;
  t->data.len = nnz * sizeof(float);
  t->data.data = (uint8_t *)v;
  return 1;
}

/* Encodes one tensor as the genome compiles it: int8 or int4 where the plan quantizes (and
 * the layer is not low-rank: the plan factorizes the fp32 weights), CSR where a sparse fp32
 * matrix is smaller so, fp32 otherwise. */
static int enc_tensor(Petra__V1__Tensor *t, const petra_tensor_info *ti, const float *w, const petra_genome *g,
                      enc_bufs *b) {
  t->dtype = PETRA__V1__DTYPE__DTYPE_F32;
  /* fp32 little-endian: on x86/ARM-LE the in-memory floats are the wire bytes */
  t->data.len = (size_t)ti->rows * ti->cols * sizeof(float);
  t->data.data = (uint8_t *)w;
  char layer[64];
  if (!tensor_layer(ti->name, layer, sizeof layer)) return 0;
  petra_layer_gene gene = petra_genome_gene(g, layer);
  if (!strncmp(layer, "emb.", 4)) return gene.bits == 32 ? 0 : enc_i8(t, w, ti->rows, ti->cols, b);
  if (gene.rank < 1.0f && gene.bits != 32) return 0;
  if (gene.bits == 32) return enc_csr(t, w, ti->rows, ti->cols, b) < 0 ? -1 : 0;
  if (petra_plan_linear_bits(gene.bits, ti->cols) == 4) return enc_i4(t, w, ti->rows, ti->cols, b);
  return enc_i8(t, w, ti->rows, ti->cols, b);
}

int petra_snapshot_encode_model(const petra_model *m, const petra_snapshot_info *info,
                                uint8_t **buf, size_t *len, petra_err *err) {
  int nt = petra_model_n_tensors(m);
  const float *params = petra_model_params((petra_model *)m);
  Petra__V1__Tensor *ts = calloc((size_t)nt, sizeof *ts);
  Petra__V1__Tensor **tp = calloc((size_t)nt, sizeof *tp);
  uint32_t *shapes = calloc((size_t)nt * 2, sizeof *shapes);
  if (!ts || !tp || !shapes) {
    free(ts);
    free(tp);
    free(shapes);
    return petra_err_set(err, PETRA_ENOMEM, "snapshot: out of memory");
  }
  petra_genome tg;
  if (!info->genome[0] || petra_genome_parse(info->genome, &tg, NULL)) petra_genome_identity(&tg);
  enc_bufs *eb = calloc((size_t)nt, sizeof *eb);
  if (!eb) {
    free(ts);
    free(tp);
    free(shapes);
    return petra_err_set(err, PETRA_ENOMEM, "snapshot: out of memory");
  }
  uint64_t bytes = 0;
  int erc = 0;
  for (int i = 0; i < nt; i++) {
    const petra_tensor_info *ti = petra_model_tensor(m, i);
    petra__v1__tensor__init(&ts[i]);
    ts[i].name = (char *)ti->name;
    shapes[2 * i] = (uint32_t)ti->rows;
    shapes[2 * i + 1] = (uint32_t)ti->cols;
    ts[i].n_shape = 2;
    ts[i].shape = &shapes[2 * i];
    if (!erc) erc = enc_tensor(&ts[i], ti, params + ti->offset, &tg, &eb[i]);
    bytes += ts[i].data.len + sizeof(float) * ts[i].n_scales + 4 * (ts[i].n_row_ptr + ts[i].n_col_idx);
    tp[i] = &ts[i];
  }
  char spec[1024];
  petra_model_spec_format(petra_model_get_spec(m), spec, sizeof spec);
  Petra__V1__Metrics met = PETRA__V1__METRICS__INIT;
  met.schema_version = PETRA_SCHEMA_VERSION;
  met.model_id = (char *)info->model_id;
  met.model_version = info->version;
  met.metric_name = (char *)info->metric_name;
  met.metric = info->metric;
  met.higher_is_better = info->higher_is_better;
  met.size_bytes = info->size_bytes ? info->size_bytes : bytes;
  met.latency_p50_us = info->latency_p50_us;
  met.latency_p99_us = info->latency_p99_us;
  met.throughput_per_s = info->throughput_per_s;
  met.examples = info->examples_seen;
  met.train_steps = info->train_steps;
  met.time_ms = info->created_ms;
  Petra__V1__Genome gen = PETRA__V1__GENOME__INIT;
  gen.schema_version = PETRA_SCHEMA_VERSION;
  petra_genome pg;
  Petra__V1__LayerGene lg[PETRA_GENOME_MAX_LAYERS], *lgp[PETRA_GENOME_MAX_LAYERS];
  if (info->genome[0]) {
    if (petra_genome_parse(info->genome, &pg, err)) {
      free(ts);
      free(tp);
      free(shapes);
      for (int i = 0; i < nt; i++)
        for (int k = 0; k < 4; k++) free(eb[i].p[k]);
      free(eb);
      return err ? err->code : PETRA_EINVAL;
    }
    for (int i = 0; i < pg.n_layers; i++) {
      petra__v1__layer_gene__init(&lg[i]);
      lg[i].layer = pg.layers[i].layer;
      lg[i].keep = pg.layers[i].keep;
      lg[i].sparsity = pg.layers[i].sparsity;
      lg[i].bits = (uint32_t)pg.layers[i].bits;
      lg[i].rank = pg.layers[i].rank;
      lgp[i] = &lg[i];
    }
    gen.n_layers = (size_t)pg.n_layers;
    gen.layers = lgp;
    gen.l1 = pg.l1;
    gen.group_lasso = pg.group_lasso;
    gen.finetune_steps = (uint32_t)pg.finetune_steps;
    gen.finetune_lr = pg.finetune_lr;
  }
  Petra__V1__ModelSnapshot s = PETRA__V1__MODEL_SNAPSHOT__INIT;
  s.schema_version = PETRA_SCHEMA_VERSION;
  s.model_id = (char *)info->model_id;
  s.version = info->version;
  s.base_version = info->base_version;
  s.genome = &gen;
  s.model_spec = spec;
  s.feature_schema = (char *)info->feature_schema;
  s.feature_schema_hash = petra_feature_schema_hash(info->feature_schema);
  s.n_tensors = (size_t)nt;
  s.tensors = tp;
  s.metrics = &met;
  s.created_time_ms = info->created_ms;
  s.examples_seen = info->examples_seen;
  s.train_steps = info->train_steps;
  uint8_t *encb = NULL;
  size_t encl = 0;
  if (info->encoder && petra_encoder_save(info->encoder, &encb, &encl)) erc = 1;
  s.input_encoder.data = encb;
  s.input_encoder.len = encl;
  /* hash the message with an empty sha256, then pack again with it */
  size_t n = petra__v1__model_snapshot__get_packed_size(&s);
  uint8_t *out = erc ? NULL : malloc(n + 64);
  int rc = 0;
  if (erc) {
    rc = petra_err_set(err, PETRA_ENOMEM, "snapshot: out of memory encoding tensors");
  } else if (!out) {
    rc = petra_err_set(err, PETRA_ENOMEM, "snapshot: out of memory (%zu bytes)", n);
  } else {
    petra__v1__model_snapshot__pack(&s, out);
    uint8_t digest[32];
    petra_sha256_digest(out, n, digest);
    s.sha256.len = 32;
    s.sha256.data = digest;
    *len = petra__v1__model_snapshot__pack(&s, out);
    *buf = out;
  }
  free(encb);
  for (int i = 0; i < nt; i++)
    for (int k = 0; k < 4; k++) free(eb[i].p[k]);
  free(eb);
  free(ts);
  free(tp);
  free(shapes);
  return rc;
}

/* Upper bound on the weights a tensor's bytes can stand for (checked before the model is
 * allocated: a small message must not make the reader allocate a huge one). CSR counts at
 * most 128 weights per stored value or row (genome sparsity is at most 0.99). */
static size_t tensor_capacity(const Petra__V1__Tensor *t) {
  if (t->n_row_ptr) return 128 * (t->n_col_idx + t->n_row_ptr);
  switch (t->dtype) {
    case PETRA__V1__DTYPE__DTYPE_I8: return t->data.len;
    case PETRA__V1__DTYPE__DTYPE_I4: return 2 * t->data.len;
    default: return t->data.len / sizeof(float);
  }
}

static int bad_scales(const Petra__V1__Tensor *t, size_t want, petra_err *err) {
  if (t->n_scales != want)
    return petra_err_set(err, PETRA_ESHAPE, "snapshot: tensor %s has %zu scales, expected %zu", t->name,
                         t->n_scales, want);
  for (size_t i = 0; i < want; i++)
    if (!(t->scales[i] > 0) || !isfinite(t->scales[i]))
      return petra_err_set(err, PETRA_EINVAL, "snapshot: tensor %s has a scale that is not finite and > 0",
                           t->name);
  return 0;
}

/* Decodes one tensor (fp32 dense or CSR, int8 with row scales, int4 with block scales) into
 * rows × cols floats, checking every count and index. */
static int dec_tensor(const Petra__V1__Tensor *t, int rows, int cols, float *dst, petra_err *err) {
  size_t n = (size_t)rows * cols;
  if (t->n_row_ptr || t->n_col_idx) {
    if (t->dtype != PETRA__V1__DTYPE__DTYPE_F32 || t->n_scales)
      return petra_err_set(err, PETRA_EINVAL, "snapshot: tensor %s: CSR is for f32 tensors", t->name);
    if (t->n_row_ptr != (size_t)rows + 1 || t->data.len != t->n_col_idx * sizeof(float) ||
        t->row_ptr[0] != 0 || t->row_ptr[rows] != t->n_col_idx)
      return petra_err_set(err, PETRA_ESHAPE, "snapshot: tensor %s: CSR counts do not match its shape", t->name);
    memset(dst, 0, sizeof(float) * n);
    for (int r = 0; r < rows; r++) {
      if (t->row_ptr[r] > t->row_ptr[r + 1] || t->row_ptr[r + 1] > t->n_col_idx)
        return petra_err_set(err, PETRA_ESHAPE, "snapshot: tensor %s: CSR row starts decrease or overrun", t->name);
      for (uint32_t k = t->row_ptr[r]; k < t->row_ptr[r + 1]; k++) {
        if (t->col_idx[k] >= (uint32_t)cols)
          return petra_err_set(err, PETRA_ESHAPE, "snapshot: tensor %s: CSR column %u outside [0, %d)", t->name,
                               t->col_idx[k], cols);
        memcpy(&dst[(size_t)r * cols + t->col_idx[k]], t->data.data + (size_t)k * 4, 4);
      }
    }
    return 0;
  }
  switch (t->dtype) {
    case PETRA__V1__DTYPE__DTYPE_F32:
      if (t->n_scales) return petra_err_set(err, PETRA_EINVAL, "snapshot: f32 tensor %s has scales", t->name);
      if (t->data.len != n * sizeof(float))
        return petra_err_set(err, PETRA_ESHAPE, "snapshot: tensor %s has %zu bytes, expected %zu", t->name,
                             t->data.len, n * sizeof(float));
      memcpy(dst, t->data.data, n * sizeof(float));
      return 0;
    case PETRA__V1__DTYPE__DTYPE_I8:
      if (t->data.len != n)
        return petra_err_set(err, PETRA_ESHAPE, "snapshot: int8 tensor %s has %zu bytes, expected %zu", t->name,
                             t->data.len, n);
      if (bad_scales(t, (size_t)rows, err)) return err ? err->code : PETRA_EINVAL;
      for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
          int8_t q = (int8_t)t->data.data[(size_t)r * cols + c];
          if (q == -128)
            return petra_err_set(err, PETRA_EINVAL, "snapshot: int8 tensor %s holds -128 (range is ±127)", t->name);
          dst[(size_t)r * cols + c] = t->scales[r] * (float)q;
        }
      return 0;
    case PETRA__V1__DTYPE__DTYPE_I4: {
      size_t nb = ((size_t)cols + 31) / 32;
      if (t->data.len != (n + 1) / 2)
        return petra_err_set(err, PETRA_ESHAPE, "snapshot: int4 tensor %s has %zu bytes, expected %zu", t->name,
                             t->data.len, (n + 1) / 2);
      if (bad_scales(t, (size_t)rows * nb, err)) return err ? err->code : PETRA_EINVAL;
      for (size_t k = 0; k < n; k++) {
        int v = (k % 2 ? t->data.data[k / 2] >> 4 : t->data.data[k / 2]) & 15;
        if (v == 0)
          return petra_err_set(err, PETRA_EINVAL, "snapshot: int4 tensor %s holds -8 (range is ±7)", t->name);
        size_t r = k / (size_t)cols, c = k % (size_t)cols;
        dst[k] = t->scales[r * nb + c / 32] * (float)(v - 8);
      }
      return 0;
    }
    default:
      return petra_err_set(err, PETRA_EINVAL, "snapshot: tensor %s has unknown dtype %d", t->name, t->dtype);
  }
}

/* Unpacks and verifies the checksum and schema version; NULL with err otherwise. */
static Petra__V1__ModelSnapshot *unpack_verified(const uint8_t *buf, size_t len, petra_err *err) {
  Petra__V1__ModelSnapshot *s = petra__v1__model_snapshot__unpack(NULL, len, buf);
  if (!s) {
    petra_err_set(err, PETRA_EINVAL, "snapshot: not a decodable ModelSnapshot (%zu bytes)", len);
    return NULL;
  }
  if (s->schema_version != PETRA_SCHEMA_VERSION) {
    petra_err_set(err, PETRA_EVERSION, "snapshot: schema version %u, this build reads %u",
                  s->schema_version, PETRA_SCHEMA_VERSION);
    goto out;
  }
  if (s->sha256.len != 32) {
    petra_err_set(err, PETRA_ECHECKSUM, "snapshot %s v%llu: no sha256", s->model_id,
                  (unsigned long long)s->version);
    goto out;
  }
  {
    uint8_t want[32], got[32];
    memcpy(want, s->sha256.data, 32);
    ProtobufCBinaryData keep = s->sha256;
    s->sha256.len = 0;
    s->sha256.data = NULL;
    size_t n = petra__v1__model_snapshot__get_packed_size(s);
    uint8_t *tmp = malloc(n ? n : 1);
    if (!tmp) {
      s->sha256 = keep;
      petra_err_set(err, PETRA_ENOMEM, "snapshot: out of memory");
      goto out;
    }
    petra__v1__model_snapshot__pack(s, tmp);
    petra_sha256_digest(tmp, n, got);
    free(tmp);
    s->sha256 = keep;
    if (memcmp(want, got, 32) != 0) {
      petra_err_set(err, PETRA_ECHECKSUM, "snapshot %s v%llu: sha256 mismatch (corrupt)",
                    s->model_id, (unsigned long long)s->version);
      goto out;
    }
  }
  return s;
out:
  petra__v1__model_snapshot__free_unpacked(s, NULL);
  return NULL;
}

static petra_encoder *decode_encoder(const Petra__V1__ModelSnapshot *s, petra_err *err) {
  petra_encoder *e = petra_encoder_load(s->input_encoder.data, s->input_encoder.len, err);
  if (e) petra_encoder_freeze(e, 1);
  return e;
}

int petra_snapshot_decode_encoder(const uint8_t *buf, size_t len, petra_encoder **out,
                                  petra_err *err) {
  *out = NULL;
  Petra__V1__ModelSnapshot *s = unpack_verified(buf, len, err);
  if (!s) return err ? err->code : PETRA_EINVAL;
  int rc = 0;
  if (s->input_encoder.len) {
    *out = decode_encoder(s, err);
    rc = *out ? 1 : (err ? err->code : PETRA_EINVAL);
  }
  petra__v1__model_snapshot__free_unpacked(s, NULL);
  return rc;
}

static petra_model *decode_model(const uint8_t *buf, size_t len, uint64_t expect_schema_hash,
                                 petra_snapshot_info *info, petra_encoder **enc_out,
                                 petra_err *err) {
  Petra__V1__ModelSnapshot *s = unpack_verified(buf, len, err);
  petra_model *m = NULL;
  if (!s) return NULL;
  if (expect_schema_hash && s->feature_schema_hash != expect_schema_hash) {
    petra_err_set(err, PETRA_ECHECKSUM,
                  "snapshot %s v%llu: feature schema hash %016llx does not match the expected "
                  "%016llx: the scorer is configured for a different model's features",
                  s->model_id, (unsigned long long)s->version,
                  (unsigned long long)s->feature_schema_hash,
                  (unsigned long long)expect_schema_hash);
    goto out;
  }
  if (s->feature_schema && petra_feature_schema_hash(s->feature_schema) != s->feature_schema_hash) {
    petra_err_set(err, PETRA_ECHECKSUM, "snapshot: feature schema text does not match its hash");
    goto out;
  }
  petra_model_spec spec;
  if (petra_model_spec_parse(s->model_spec, &spec, err)) goto out;
  {
    /* the tensors must carry every weight the spec asks for: check before allocating */
    size_t have = 0;
    for (size_t i = 0; i < s->n_tensors; i++) have += tensor_capacity(s->tensors[i]);
    size_t need = petra_model_spec_n_params(&spec);
    if (need == 0 || need > have) {
      petra_err_set(err, PETRA_ESHAPE, "snapshot: spec needs %zu weights, the tensors hold at most %zu",
                    need, have);
      goto out;
    }
  }
  m = petra_model_new(&spec, 0, err);
  if (!m) goto out;
  if ((int)s->n_tensors != petra_model_n_tensors(m)) {
    petra_err_set(err, PETRA_ESHAPE, "snapshot: %zu tensors, model spec needs %d", s->n_tensors,
                  petra_model_n_tensors(m));
    goto fail;
  }
  for (size_t i = 0; i < s->n_tensors; i++) {
    const Petra__V1__Tensor *t = s->tensors[i];
    const petra_tensor_info *ti = petra_model_tensor(m, (int)i);
    if (strcmp(t->name, ti->name) || t->n_shape != 2 || t->shape[0] != (uint32_t)ti->rows ||
        t->shape[1] != (uint32_t)ti->cols) {
      petra_err_set(err, PETRA_ESHAPE, "snapshot: tensor %zu (%s) does not match %s [%d×%d]", i,
                    t->name, ti->name, ti->rows, ti->cols);
      goto fail;
    }
    float *dst = petra_model_params(m) + ti->offset;
    if (dec_tensor(t, ti->rows, ti->cols, dst, err)) goto fail;
    for (size_t k = 0; k < (size_t)ti->rows * ti->cols; k++)
      if (!isfinite(dst[k])) {
        petra_err_set(err, PETRA_EINVAL, "snapshot: tensor %s holds a non-finite weight", t->name);
        goto fail;
      }
  }
  if (enc_out && s->input_encoder.len) {
    if (!(*enc_out = decode_encoder(s, err))) goto fail;
  }
  if (info) {
    memset(info, 0, sizeof *info);
    snprintf(info->model_id, sizeof info->model_id, "%s", s->model_id);
    info->version = s->version;
    info->base_version = s->base_version;
    info->created_ms = s->created_time_ms;
    info->examples_seen = s->examples_seen;
    info->train_steps = s->train_steps;
    snprintf(info->feature_schema, sizeof info->feature_schema, "%s", s->feature_schema);
    info->feature_schema_hash = s->feature_schema_hash;
    if (s->genome && s->genome->n_layers > 0) {
      petra_genome pg;
      petra_genome_identity(&pg);
      for (size_t i = 0; i < s->genome->n_layers && i < PETRA_GENOME_MAX_LAYERS; i++) {
        const Petra__V1__LayerGene *l = s->genome->layers[i];
        petra_layer_gene gene = {.keep = l->keep, .sparsity = l->sparsity, .bits = (int)l->bits,
                                 .rank = l->rank};
        snprintf(gene.layer, sizeof gene.layer, "%s", l->layer ? l->layer : "");
        petra_genome_set(&pg, &gene);
      }
      pg.l1 = s->genome->l1;
      pg.group_lasso = s->genome->group_lasso;
      pg.finetune_steps = (int)s->genome->finetune_steps;
      pg.finetune_lr = s->genome->finetune_lr;
      petra_genome_format(&pg, info->genome, sizeof info->genome);
    }
    if (s->metrics) {
      snprintf(info->metric_name, sizeof info->metric_name, "%s", s->metrics->metric_name);
      info->metric = s->metrics->metric;
      info->higher_is_better = s->metrics->higher_is_better;
      info->size_bytes = s->metrics->size_bytes;
      info->latency_p50_us = s->metrics->latency_p50_us;
      info->latency_p99_us = s->metrics->latency_p99_us;
      info->throughput_per_s = s->metrics->throughput_per_s;
    }
  }
  goto out;
fail:
  petra_model_free(m);
  m = NULL;
out:
  petra__v1__model_snapshot__free_unpacked(s, NULL);
  return m;
}

petra_model *petra_snapshot_decode_model(const uint8_t *buf, size_t len,
                                         uint64_t expect_schema_hash, petra_snapshot_info *info,
                                         petra_err *err) {
  return decode_model(buf, len, expect_schema_hash, info, NULL, err);
}

static double mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

petra_loaded *petra_snapshot_load(const uint8_t *buf, size_t len, uint64_t expect_schema_hash,
                                  petra_err *err) {
  double t0 = mono_us();
  petra_loaded *l = calloc(1, sizeof *l);
  if (!l) {
    petra_err_set(err, PETRA_ENOMEM, "out of memory");
    return NULL;
  }
  petra_model *m = decode_model(buf, len, expect_schema_hash, &l->info, &l->encoder, err);
  if (!m) {
    free(l);
    return NULL;
  }
  petra_genome g;
  if (l->info.genome[0]) {
    if (petra_genome_parse(l->info.genome, &g, err)) {
      petra_model_free(m);
      petra_encoder_free(l->encoder);
      free(l);
      return NULL;
    }
  } else {
    petra_genome_identity(&g);
  }
  l->plan = petra_plan_build(m, &g, err);
  petra_model_free(m);
  if (!l->plan) {
    petra_encoder_free(l->encoder);
    free(l);
    return NULL;
  }
  l->load_us = mono_us() - t0;
  return l;
}

void petra_loaded_free(void *p) {
  petra_loaded *l = p;
  if (!l) return;
  petra_plan_free(l->plan);
  petra_encoder_free(l->encoder);
  free(l);
}
