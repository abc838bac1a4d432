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

uint64_t petra_feature_schema_hash(const char *schema) {
  return petra_fnv1a64(schema, strlen(schema));
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
  uint64_t bytes = 0;
  for (int i = 0; i < nt; i++) {
    const petra_tensor_info *ti = petra_model_tensor(m, i);
    petra__v1__tensor__init(&ts[i]);
    ts[i].name = (char *)ti->name;
    shapes[2 * i] = (uint32_t)ti->rows;
    shapes[2 * i + 1] = (uint32_t)ti->cols;
    ts[i].n_shape = 2;
    ts[i].shape = &shapes[2 * i];
    ts[i].dtype = PETRA__V1__DTYPE__DTYPE_F32;
    /* fp32 little-endian: on x86/ARM-LE the in-memory floats are the wire bytes */
    ts[i].data.len = (size_t)ti->rows * ti->cols * sizeof(float);
    ts[i].data.data = (uint8_t *)(params + ti->offset);
    bytes += ts[i].data.len;
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
  /* hash the message with an empty sha256, then pack again with it */
  size_t n = petra__v1__model_snapshot__get_packed_size(&s);
  uint8_t *out = malloc(n + 64);
  int rc = 0;
  if (!out) {
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
  free(ts);
  free(tp);
  free(shapes);
  return rc;
}

petra_model *petra_snapshot_decode_model(const uint8_t *buf, size_t len,
                                         uint64_t expect_schema_hash, petra_snapshot_info *info,
                                         petra_err *err) {
  Petra__V1__ModelSnapshot *s = petra__v1__model_snapshot__unpack(NULL, len, buf);
  petra_model *m = NULL;
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
    for (size_t i = 0; i < s->n_tensors; i++) have += s->tensors[i]->data.len;
    size_t need = petra_model_spec_n_params(&spec);
    if (need == 0 || need > have / sizeof(float)) {
      petra_err_set(err, PETRA_ESHAPE, "snapshot: spec needs %zu weights, the tensors hold %zu bytes",
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
    if (t->dtype != PETRA__V1__DTYPE__DTYPE_F32) {
      petra_err_set(err, PETRA_EINVAL, "snapshot: tensor %s has dtype %d; this reader takes f32",
                    t->name, t->dtype);
      goto fail;
    }
    size_t want = (size_t)ti->rows * ti->cols * sizeof(float);
    if (t->data.len != want) {
      petra_err_set(err, PETRA_ESHAPE, "snapshot: tensor %s has %zu bytes, expected %zu", t->name,
                    t->data.len, want);
      goto fail;
    }
    float *dst = petra_model_params(m) + ti->offset;
    memcpy(dst, t->data.data, want);
    for (size_t k = 0; k < want / 4; k++)
      if (!isfinite(dst[k])) {
        petra_err_set(err, PETRA_EINVAL, "snapshot: tensor %s holds a non-finite weight", t->name);
        goto fail;
      }
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
  petra_model *m = petra_snapshot_decode_model(buf, len, expect_schema_hash, &l->info, err);
  if (!m) {
    free(l);
    return NULL;
  }
  petra_genome g;
  if (l->info.genome[0]) {
    if (petra_genome_parse(l->info.genome, &g, err)) {
      petra_model_free(m);
      free(l);
      return NULL;
    }
  } else {
    petra_genome_identity(&g);
  }
  l->plan = petra_plan_build(m, &g, err);
  petra_model_free(m);
  if (!l->plan) {
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
  free(l);
}
