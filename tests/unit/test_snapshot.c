/* Snapshots: SHA-256 known answers; encode → decode gives the same model; every kind of
 * damage or mismatch is refused with a message naming it. */
#include "check.h"
#include "petra.pb-c.h"
#include "petra/sha256.h"
#include "petra/plan.h"
#include "petra/prune.h"
#include "petra/rng.h"
#include "petra/snapshot.h"
#include "block.h"
#include "core.h"

static void hex(const uint8_t *d, char *out) {
  for (int i = 0; i < 32; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

TEST(sha256_matches_fips_180_vectors) {
  uint8_t d[32];
  char h[65];
  petra_sha256_digest("", 0, d);
  hex(d, h);
  CHECK_STR(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  petra_sha256_digest("abc", 3, d);
  hex(d, h);
  CHECK_STR(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  petra_sha256_digest(m, strlen(m), d);
  hex(d, h);
  CHECK_STR(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  /* streaming in odd pieces gives the same digest as one call */
  static uint8_t big[1000000];
  memset(big, 'a', sizeof big);
  petra_sha256 s;
  petra_sha256_init(&s);
  for (size_t off = 0; off < sizeof big; off += 777)
    petra_sha256_update(&s, big + off, sizeof big - off < 777 ? sizeof big - off : 777);
  petra_sha256_final(&s, d);
  hex(d, h);
  CHECK_STR(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static petra_snapshot_info info_for(const char *schema) {
  petra_snapshot_info i;
  memset(&i, 0, sizeof i);
  snprintf(i.model_id, sizeof i.model_id, "fraud-eu");
  i.version = 3;
  i.base_version = 2;
  i.created_ms = 1700000000000;
  snprintf(i.feature_schema, sizeof i.feature_schema, "%s", schema);
  snprintf(i.metric_name, sizeof i.metric_name, "auc");
  i.metric = 0.93;
  i.higher_is_better = 1;
  return i;
}

static void roundtrip(const char *spec_text);
TEST(snapshot_roundtrip_gives_the_same_model_and_metadata) {
  roundtrip("seq fields=mcc:50:4 numeric=2 len=6 dense=8 gru=8");
  roundtrip("seq fields=mcc:50:4 numeric=2 len=6 dense=8 lstm=8");
  roundtrip("seq fields=mcc:50:4 numeric=2 len=6 dense=8 gru=8,6");
  roundtrip("seq fields=mcc:50:4 numeric=2 len=6 dense=8 tf=2:2:8 ffn=16,12 causal=1");
  roundtrip("seq fields=mcc:50:4 numeric=2 len=6 dense=8 tf=1:2:8 ffn=12 tfid=1"); /* a layer dropped */
  roundtrip("seq fields=mcc:50:4 numeric=2 len=6 dense=8 tf=1:2:8 ffn=12 pos=time:1"); /* time-aware */
  for (int c = 0; c < petra_n_cores; c++) { /* every recurrent core of engine/core.c's table */
    char spec[128];
    snprintf(spec, sizeof spec, "seq fields=mcc:50:4 numeric=2 len=6 dense=8 %s=7,5", petra_cores[c].key);
    roundtrip(spec);
  }
  for (int b = 0; b < petra_n_blocks; b++) { /* and every block (engine/block.h) */
    char spec[128];
    snprintf(spec, sizeof spec, "seq fields=mcc:50:4 numeric=2 len=6 dense=8 %s", petra_blocks[b]->example);
    roundtrip(spec);
  }
}
static void roundtrip(const char *spec_text) {
  petra_model_spec spec;
  REQUIRE(petra_model_spec_parse(spec_text, &spec, NULL) == 0);
  petra_model *m = petra_model_new(&spec, 11, NULL);
  petra_snapshot_info in = info_for("events: mcc; log_amount, log_dt; len 6");
  uint8_t *buf;
  size_t len;
  petra_err err = {0};
  REQUIRE(petra_snapshot_encode_model(m, &in, &buf, &len, &err) == 0);
  petra_snapshot_info out;
  petra_model *m2 = petra_snapshot_decode_model(buf, len, petra_feature_schema_hash(in.feature_schema),
                                                &out, &err);
  REQUIRE(m2);
  CHECK(petra_model_n_params(m2) == petra_model_n_params(m));
  CHECK(memcmp(petra_model_params(m), petra_model_params(m2), petra_model_n_params(m) * 4) == 0);
  CHECK(petra_model_get_spec(m2)->core == spec.core);
  CHECK_STR(out.model_id, "fraud-eu");
  CHECK_EQ_INT(out.version, 3);
  CHECK_EQ_INT(out.base_version, 2);
  CHECK_STR(out.metric_name, "auc");
  CHECK(out.metric == 0.93);
  CHECK_EQ_INT(out.size_bytes, petra_model_n_params(m) * 4);
  petra_model_free(m2);

  /* wrong feature schema */
  CHECK(petra_snapshot_decode_model(buf, len, 12345, NULL, &err) == NULL);
  CHECK(strstr(err.msg, "feature schema hash") != NULL);
  /* any flipped byte is caught (by protobuf or by the sha256) */
  int caught = 0;
  for (size_t i = 0; i < len; i += len / 40 + 1) {
    buf[i] ^= 0x40;
    petra_model *bad = petra_snapshot_decode_model(buf, len, 0, NULL, &err);
    caught += bad == NULL;
    petra_model_free(bad);
    buf[i] ^= 0x40;
  }
  CHECK_EQ_INT(caught, (int)((len - 1) / (len / 40 + 1)) + 1);
  /* truncation */
  CHECK(petra_snapshot_decode_model(buf, len - 10, 0, NULL, &err) == NULL);
  CHECK(petra_snapshot_decode_model(buf, 0, 0, NULL, &err) == NULL);
  free(buf);
  petra_model_free(m);
}

TEST(snapshot_with_unknown_schema_version_is_refused) {
  Petra__V1__ModelSnapshot s = PETRA__V1__MODEL_SNAPSHOT__INIT;
  s.schema_version = 9;
  s.model_id = "x";
  uint8_t buf[64];
  size_t n = petra__v1__model_snapshot__pack(&s, buf);
  petra_err err = {0};
  CHECK(petra_snapshot_decode_model(buf, n, 0, NULL, &err) == NULL);
  CHECK(err.code == PETRA_EVERSION);
  CHECK(strstr(err.msg, "version 9") != NULL);
}

/* Compressed tensors: with an int8 / int4 / sparse genome the snapshot carries int8 rows,
 * int4 blocks and CSR instead of fp32 (much smaller), and the plan a reader compiles from
 * it scores like the writer's plan (same integers; scales within an ulp). */
TEST(snapshots_carry_quantized_and_sparse_tensors) {
  petra_model_spec spec;
  REQUIRE(petra_model_spec_parse("seq fields=mcc:400:16 numeric=16 len=12 dense=32 act=relu gru=64 classes=1",
                                 &spec, NULL) == 0);
  petra_model *m0 = petra_model_new(&spec, 12, NULL);
  const char *genomes[] = {"emb.mcc:bits=8;dense0:bits=8;gru0:bits=8;head:bits=8",
                           "emb.mcc:bits=8;dense0:bits=4;gru0:keep=0.5,bits=4;head:bits=8",
                           "dense0:sparsity=0.8;gru0:sparsity=0.8;head:sparsity=0.5",
                           "dense0:rank=0.5,bits=8;gru0:bits=8"};
  petra_snapshot_info in = info_for("events: mcc; 16 numeric; len 12");
  uint8_t *b32;
  size_t l32;
  REQUIRE(petra_snapshot_encode_model(m0, &in, &b32, &l32, NULL) == 0);
  for (size_t gi = 0; gi < sizeof genomes / sizeof genomes[0]; gi++) {
    petra_genome g;
    petra_err err = {0};
    REQUIRE(petra_genome_parse(genomes[gi], &g, &err) == 0);
    petra_model *m = petra_prune(m0, &g, &err);
    REQUIRE(m);
    snprintf(in.genome, sizeof in.genome, "%s", genomes[gi]);
    uint8_t *buf;
    size_t len;
    REQUIRE(petra_snapshot_encode_model(m, &in, &buf, &len, &err) == 0);
    petra_model *m2 = petra_snapshot_decode_model(buf, len, 0, NULL, &err);
    CHECK_MSG(m2 != NULL, "%s: %s", genomes[gi], err.msg);
    REQUIRE(m2);
    petra_plan_opts o = {.sparse = PETRA_SPARSE_NEVER};
    petra_plan *p1 = petra_plan_build_ex(m, &g, &o, &err), *p2 = petra_plan_build_ex(m2, &g, &o, &err);
    REQUIRE(p1 && p2);
    CHECK(petra_plan_bytes(p1) == petra_plan_bytes(p2));
    int n = 16, ef = petra_model_example_floats(m);
    float *ex = calloc((size_t)n * ef, sizeof(float)), o1[16], o2[16];
    petra_rng r;
    petra_rng_seed(&r, 5 + gi);
    for (int b = 0; b < n; b++) {
      float *e = ex + (size_t)b * ef;
      e[0] = 12;
      for (int t = 0; t < 12; t++) {
        e[1 + t] = (float)petra_rng_below(&r, 400);
        for (int j = 0; j < 16; j++) e[1 + 12 + t * 16 + j] = (float)petra_rng_normal(&r);
      }
    }
    void *sc = malloc(petra_plan_scratch_bytes(p1, n));
    REQUIRE(petra_plan_score(p1, n, ex, o1, sc) == 0);
    REQUIRE(petra_plan_score(p2, n, ex, o2, sc) == 0);
    double worst = 0;
    for (int i = 0; i < n; i++) worst = fmax(worst, fabs(o1[i] - o2[i]) / fmax(1e-3, fabs(o1[i])));
    fprintf(stderr, "%-60s snapshot %zu bytes (fp32 %zu), plan outputs differ by %.1e\n", genomes[gi], len, l32,
            worst);
    CHECK_MSG(worst < 1e-5, "%s: reader's plan differs by %.2e", genomes[gi], worst);
    if (gi < 3) CHECK_MSG(len < l32 * 0.55, "%s: %zu vs fp32 %zu", genomes[gi], len, l32);
    free(sc);
    free(ex);
    petra_plan_free(p1);
    petra_plan_free(p2);
    petra_model_free(m2);
    petra_model_free(m);
    free(buf);
  }
  free(b32);
  petra_model_free(m0);
}

/* Re-signs a tampered snapshot so only the tensor checks can refuse it. */
static size_t resign(Petra__V1__ModelSnapshot *s, uint8_t **out) {
  s->sha256.len = 0;
  s->sha256.data = NULL;
  size_t n = petra__v1__model_snapshot__get_packed_size(s);
  uint8_t *b = malloc(n + 64);
  petra__v1__model_snapshot__pack(s, b);
  static uint8_t d[32];
  petra_sha256_digest(b, n, d);
  s->sha256.len = 32;
  s->sha256.data = d;
  *out = b;
  return petra__v1__model_snapshot__pack(s, b);
}

/* A table of damaged compressed tensors (each correctly signed): every one refused with
 * the reason named. */
TEST(damaged_compressed_tensors_are_refused) {
  petra_model_spec spec;
  REQUIRE(petra_model_spec_parse("seq fields=mcc:50:62 numeric=2 len=6 dense=40 gru=8", &spec, NULL) == 0);
  petra_model *m0 = petra_model_new(&spec, 13, NULL);
  petra_genome g;
  REQUIRE(petra_genome_parse("emb.mcc:bits=8;dense0:bits=4;gru0:sparsity=0.8", &g, NULL) == 0);
  petra_model *m = petra_prune(m0, &g, NULL);
  petra_snapshot_info in = info_for("x");
  snprintf(in.genome, sizeof in.genome, "emb.mcc:bits=8;dense0:bits=4;gru0:sparsity=0.8");
  uint8_t *buf;
  size_t len;
  REQUIRE(petra_snapshot_encode_model(m, &in, &buf, &len, NULL) == 0);
  enum { I8_NSCALES, I8_ZERO_SCALE, I8_NAN_SCALE, I8_MINUS128, I8_SHORT, I4_NIBBLE0, I4_NSCALES, I4_SHORT,
         CSR_COL, CSR_DECREASE, CSR_OVERRUN, CSR_COUNT, CSR_SCALES, DTYPE, N_CASES };
  const char *want[N_CASES] = {"scales", "scale", "scale", "-128", "bytes", "-8", "scales", "bytes",
                               "column", "decrease", "overrun", "counts", "CSR is for f32", "unknown dtype"};
  for (int c = 0; c < N_CASES; c++) {
    Petra__V1__ModelSnapshot *s = petra__v1__model_snapshot__unpack(NULL, len, buf);
    REQUIRE(s);
    Petra__V1__Tensor *emb = NULL, *d0 = NULL, *wih = NULL;
    for (size_t i = 0; i < s->n_tensors; i++) {
      if (!strcmp(s->tensors[i]->name, "emb.mcc")) emb = s->tensors[i];
      if (!strcmp(s->tensors[i]->name, "dense0.w")) d0 = s->tensors[i];
      if (!strcmp(s->tensors[i]->name, "gru0.wih")) wih = s->tensors[i];
    }
    REQUIRE(emb && d0 && wih);
    REQUIRE(emb->dtype == PETRA__V1__DTYPE__DTYPE_I8 && d0->dtype == PETRA__V1__DTYPE__DTYPE_I4 && wih->n_row_ptr > 0);
    switch (c) {
      case I8_NSCALES: emb->n_scales--; break;
      case I8_ZERO_SCALE: emb->scales[3] = 0; break;
      case I8_NAN_SCALE: emb->scales[0] = NAN; break;
      case I8_MINUS128: emb->data.data[5] = 0x80; break;
      case I8_SHORT: emb->data.len--; break;
      case I4_NIBBLE0: d0->data.data[2] &= 0xf0; break;
      case I4_NSCALES: d0->n_scales--; break;
      case I4_SHORT: d0->data.len -= 1; break;
      case CSR_COL: wih->col_idx[0] = 1000; break;
      case CSR_DECREASE: wih->row_ptr[1] = wih->row_ptr[2] + 1; break;
      /* a row start past the values, later rows ending in range (found by fuzz_state) */
      case CSR_OVERRUN: wih->row_ptr[1] = (uint32_t)wih->n_col_idx + 50; break;
      case CSR_COUNT: wih->n_col_idx--; break;
      case CSR_SCALES: wih->n_scales = emb->n_scales; wih->scales = emb->scales; break;
      case DTYPE: emb->dtype = 7; break;
    }
    uint8_t *b2;
    ProtobufCBinaryData orig = s->sha256; /* owned by the unpacked message */
    size_t l2 = resign(s, &b2);
    petra_err err = {0};
    petra_model *bad = petra_snapshot_decode_model(b2, l2, 0, NULL, &err);
    CHECK_MSG(bad == NULL, "case %d accepted", c);
    CHECK_MSG(strstr(err.msg, want[c]) != NULL, "case %d: '%s' lacks '%s'", c, err.msg, want[c]);
    petra_model_free(bad);
    if (c == CSR_SCALES) wih->n_scales = 0, wih->scales = NULL; /* not owned */
    free(b2);
    s->sha256 = orig;
    petra__v1__model_snapshot__free_unpacked(s, NULL);
  }
  free(buf);
  petra_model_free(m);
  petra_model_free(m0);
}

TEST(dlinear_snapshot_round_trips_and_its_compressed_form_is_the_folded_linear) {
  petra_model_spec spec;
  REQUIRE(petra_model_spec_parse("ts window=24 horizon=6 channels=2 arch=dlinear kernel=5 ci=1 norm=revin", &spec,
                                 NULL) == 0);
  petra_model *m = petra_model_new(&spec, 4, NULL);
  REQUIRE(m);
  petra_snapshot_info in = info_for("series: 2 channels");
  uint8_t *buf;
  size_t len;
  petra_err err = {0};
  REQUIRE(petra_snapshot_encode_model(m, &in, &buf, &len, &err) == 0);
  petra_model *m2 = petra_snapshot_decode_model(buf, len, 0, NULL, &err);
  REQUIRE(m2);
  CHECK(petra_model_get_spec(m2)->arch == PETRA_TS_DLINEAR && petra_model_get_spec(m2)->ma_kernel == 5);
  CHECK(petra_model_n_params(m2) == petra_model_n_params(m));
  CHECK(memcmp(petra_model_params(m), petra_model_params(m2), petra_model_n_params(m) * 4) == 0);
  free(buf);
  /* int8 champion: pruned = folded into the linear arch, half the tensors, same forecasts */
  petra_genome g;
  REQUIRE(petra_genome_parse("head:bits=8", &g, NULL) == 0);
  petra_model *p = petra_prune(m, &g, &err);
  REQUIRE(p);
  CHECK(petra_model_get_spec(p)->arch == PETRA_TS_LINEAR);
  CHECK(petra_model_n_params(p) < petra_model_n_params(m));
  petra_model_free(p);
  petra_model_free(m2);
  petra_model_free(m);
}
