/* The state-topic assembler (daemon/common/stateset.c): the set the newest manifest names,
 * whole and matching its digest, as compaction would leave the topic; damaged or partial sets
 * refused; other models' records and malformed keys ignored; the ha version record read. */
#include "check.h"
#include "petra.pb-c.h"
#include "petra/sha256.h"
#include "stateset.h"

static size_t chunk(uint8_t *out, uint64_t gen, uint32_t seq, uint32_t total, const uint8_t *data, size_t len) {
  Petra__V1__SnapshotChunk c = PETRA__V1__SNAPSHOT_CHUNK__INIT;
  c.model_id = "m";
  c.version = gen;
  c.seq = seq;
  c.total = total;
  c.data.data = (uint8_t *)data;
  c.data.len = len;
  return petra__v1__snapshot_chunk__pack(&c, out);
}

static size_t manifest(uint8_t *out, uint64_t gen, uint32_t slot, uint32_t total, const uint8_t *whole, size_t len,
                       uint64_t snapv) {
  uint8_t d[32];
  petra_sha256_digest(whole, len, d);
  Petra__V1__StateManifest m = PETRA__V1__STATE_MANIFEST__INIT;
  m.model_id = "m";
  m.generation = gen;
  m.slot = slot;
  m.total = total;
  m.length = len;
  m.sha256.data = d;
  m.sha256.len = 32;
  m.snapshot_version = snapv;
  m.owner = "host:1";
  return petra__v1__state_manifest__pack(&m, out);
}

static void feed(stateset *s, const char *key, const uint8_t *v, size_t n) { stateset_feed(s, key, strlen(key), v, n); }

TEST(the_newest_manifest_names_the_set_and_damage_is_refused) {
  uint8_t whole[3000], b[4096];
  for (int i = 0; i < 3000; i++) whole[i] = (uint8_t)(i * 7);
  stateset *s = stateset_new("m");
  REQUIRE(s);
  /* generation 1 in slot 1 (three chunks), and noise: another model, bad keys */
  for (uint32_t q = 0; q < 3; q++) {
    char key[64];
    snprintf(key, sizeof key, "m/state/1/%u", q);
    feed(s, key, b, chunk(b, 1, q, 3, whole + q * 1000, 1000));
  }
  feed(s, "other/state/1/0", (const uint8_t *)"x", 1);
  feed(s, "m/state/1/0x", (const uint8_t *)"x", 1);
  feed(s, "m/state/7/0", (const uint8_t *)"x", 1);
  feed(s, "m/state", b, manifest(b, 1, 1, 3, whole, 3000, 5));
  state_found f;
  char err[256];
  CHECK_EQ_INT(stateset_result(s, &f, err, sizeof err), 1);
  CHECK(f.len == 3000 && f.buf && memcmp(f.buf, whole, 3000) == 0);
  CHECK(f.generation == 1 && f.snapshot_version == 5);
  CHECK(strcmp(f.owner, "host:1") == 0);
  free(f.buf);
  /* the ha version record raises the committed snapshot version */
  Petra__V1__StateManifest v = PETRA__V1__STATE_MANIFEST__INIT;
  v.snapshot_version = 9;
  feed(s, "m/state/version", b, petra__v1__state_manifest__pack(&v, b));
  CHECK_EQ_INT(stateset_result(s, &f, err, sizeof err), 1);
  CHECK(f.snapshot_version == 9);
  free(f.buf);
  /* a chunk of the named set overwritten with garbage: refused, with the generation */
  feed(s, "m/state/1/2", (const uint8_t *)"garbage", 7);
  CHECK_EQ_INT(stateset_result(s, &f, err, sizeof err), -1);
  CHECK(strstr(err, "generation 1") != NULL);
  CHECK(f.buf == NULL);
  /* a newer manifest for slot 0 whose chunks are of another generation: refused */
  feed(s, "m/state/0/0", b, chunk(b, 1, 0, 1, whole, 3000));
  feed(s, "m/state", b, manifest(b, 2, 0, 1, whole, 3000, 6));
  CHECK_EQ_INT(stateset_result(s, &f, err, sizeof err), -1);
  /* its chunk arrives: whole */
  feed(s, "m/state/0/0", b, chunk(b, 2, 0, 1, whole, 3000));
  CHECK_EQ_INT(stateset_result(s, &f, err, sizeof err), 1);
  CHECK(f.generation == 2 && f.snapshot_version == 9);
  free(f.buf);
  /* the manifest key overwritten by something that is not a manifest: no set */
  feed(s, "m/state", (const uint8_t *)"\xff\xff", 2);
  CHECK_EQ_INT(stateset_result(s, &f, err, sizeof err), 0);
  stateset_free(s);
}

TEST(a_set_longer_than_its_manifest_says_is_refused) {
  uint8_t whole[100], b[512];
  memset(whole, 3, sizeof whole);
  stateset *s = stateset_new("m");
  feed(s, "m/state/0/0", b, chunk(b, 4, 0, 1, whole, 100));
  feed(s, "m/state", b, manifest(b, 4, 0, 1, whole, 60, 0)); /* length 60, digest of 60 */
  state_found f;
  char err[256];
  CHECK_EQ_INT(stateset_result(s, &f, err, sizeof err), -1);
  stateset_free(s);
}
