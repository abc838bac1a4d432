/* Snapshots: SHA-256 known answers; encode → decode gives the same model; every kind of
 * damage or mismatch is refused with a message naming it. */
#include "check.h"
#include "petra.pb-c.h"
#include "petra/sha256.h"
#include "petra/snapshot.h"

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

TEST(snapshot_roundtrip_gives_the_same_model_and_metadata) {
  petra_model_spec spec;
  REQUIRE(petra_model_spec_parse("seq fields=mcc:50:4 numeric=2 len=6 dense=8 gru=8", &spec, NULL) == 0);
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
