/* Fuzz target: binary state readers — snapshots (and building their model + plan, and their
 * input encoder; selector 5 re-signs the message so mutated tensors and encoder states get
 * past the digest), snapshot chunk reassembly, petrad checkpoints, libpetra trainer
 * checkpoints, feature state (with a learned vocabulary, so its encoder state is read too). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "feature_state.h"
#include "petra.pb-c.h"
#include "petra/encoder.h"
#include "petra/plan.h"
#include "petra/sha256.h"
#include "petra/snapshot.h"
#include "petra/trainer.h"
#include "snapread.h"
#include "stateset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode_and_build(const uint8_t *p, size_t n) {
  petra_snapshot_info info;
  petra_model *m = petra_snapshot_decode_model(p, n, 0, &info, NULL);
  if (m) {
    /* a snapshot that verified: its input encoder too (unpacking again only then keeps the
     * many mutations that fail the digest cheap) */
    petra_encoder *enc = NULL;
    if (petra_snapshot_decode_encoder(p, n, &enc, NULL) == 1) {
      int32_t id;
      for (int j = 0; j < petra_encoder_n_fields(enc); j++) petra_encoder_code(enc, j, 5411, &id);
      for (int c = 0; c < petra_encoder_n_numeric(enc); c++) petra_encoder_scale(enc, c, 1.5f);
    }
    petra_encoder_free(enc);
    petra_genome g;
    if (petra_genome_parse(info.genome, &g, NULL) != 0) petra_genome_identity(&g);
    petra_plan_opts o = {.sparse = PETRA_SPARSE_ALWAYS}; /* no timing inside a fuzz run */
    petra_plan *pl = petra_plan_build_ex(m, &g, &o, NULL);
    petra_plan_free(pl);
    petra_model_free(m);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const uint8_t *p = data + 1;
  size_t n = size - 1;
  char err[512];
  /* first byte 250..255: state-topic records; otherwise data[0] % 6 picks the decoder (the
   * seed corpus is laid out for that) */
  switch (data[0] >= 250 ? 6 : data[0] % 6) {
    case 6: {
      /* state-topic records: [key length][key][value length, 2 bytes][value] ... */
      stateset *st = stateset_new("m");
      static const char *keys[] = {"m/state", "m/state/version", "m/state/0/0", "m/state/1/0", "m/state/0/1"};
      size_t i = 0;
      while (st && i + 3 <= n) {
        size_t kl = p[i] % 40, vl = (size_t)p[i + 1] | (size_t)p[i + 2] << 8;
        i += 3;
        const char *key = (const char *)p + i;
        if (kl < 5) key = keys[kl], kl = strlen(keys[kl]); /* the real keys, often */
        else if (i + kl > n) break;
        else i += kl;
        if (vl > n - i) vl = n - i;
        stateset_feed(st, key, kl, p + i, vl);
        i += vl;
      }
      state_found f;
      if (st && stateset_result(st, &f, err, sizeof err) == 1) free(f.buf);
      stateset_free(st);
      break;
    }
    case 0:
      decode_and_build(p, n);
      break;
    case 5: {
      /* the same with the digest recomputed, so mutations reach the tensor checks behind it */
      Petra__V1__ModelSnapshot *s = petra__v1__model_snapshot__unpack(NULL, n, p);
      if (!s) break;
      ProtobufCBinaryData orig = s->sha256;
      s->sha256.len = 0;
      s->sha256.data = NULL;
      size_t len = petra__v1__model_snapshot__get_packed_size(s);
      uint8_t *b = malloc(len + 64), d[32];
      if (b) {
        petra__v1__model_snapshot__pack(s, b);
        petra_sha256_digest(b, len, d);
        s->sha256.len = 32;
        s->sha256.data = d;
        len = petra__v1__model_snapshot__pack(s, b);
        decode_and_build(b, len);
        free(b);
      }
      s->sha256 = orig;
      petra__v1__model_snapshot__free_unpacked(s, NULL);
      break;
    }
    case 1: {
      static snapread *sr;
      if (!sr) sr = snapread_new();
      const uint8_t *out;
      size_t len;
      snapread_feed_raw(sr, "chunk", p, n, &out, &len, err, sizeof err);
      break;
    }
    case 2: {
      ckpt c;
      if (ckpt_decode(p, n, &c, err, sizeof err) == 0) ckpt_clear(&c);
      break;
    }
    case 3: {
      petra_trainer_conf tc = petra_trainer_defaults();
      petra_model *m = NULL;
      petra_trainer *t = petra_trainer_restore(p, n, &tc, &m, NULL);
      petra_trainer_free(t);
      petra_model_free(m);
      break;
    }
    default: {
      static features *f;
      if (!f) {
        petra_model_spec s;
        petra_model_spec_parse("seq fields=mcc:400:4 numeric=2 len=4 dense=4 gru=4", &s, NULL);
        features_conf fc = {.categories = "mcc=vocab", .max_entities = 32};
        f = features_new_conf(&s, &fc, err, sizeof err);
      }
      features_load(f, p, n, err, sizeof err);
      break;
    }
  }
  return 0;
}
