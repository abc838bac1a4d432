/* Snapshot chunk reassembly: complete sets verify against sha256_of_whole; out-of-order,
 * inconsistent and corrupt sets are discarded with a reason; fuzz findings stay fixed. */
#include "check.h"
#include "petra.pb-c.h"
#include "petra/sha256.h"
#include "snapread.h"

static size_t chunk(uint8_t *out, const char *id, uint32_t seq, uint32_t total, const void *data,
                    size_t len, const uint8_t sha[32]) {
  Petra__V1__SnapshotChunk c = PETRA__V1__SNAPSHOT_CHUNK__INIT;
  c.schema_version = 1;
  c.snapshot_id = (char *)id;
  c.seq = seq;
  c.total = total;
  c.data.len = len;
  c.data.data = (uint8_t *)data;
  c.sha256_of_whole.len = 32;
  c.sha256_of_whole.data = (uint8_t *)sha;
  return petra__v1__snapshot_chunk__pack(&c, out);
}

TEST(chunks_reassemble_and_bad_sets_are_discarded) {
  const char whole[] = "0123456789abcdefghij";
  uint8_t sha[32], bad_sha[32] = {0}, buf[256];
  petra_sha256_digest(whole, 20, sha);
  snapread *s = snapread_new();
  const uint8_t *out;
  size_t len;
  char err[256];
  size_t n = chunk(buf, "m/1", 0, 2, whole, 10, sha);
  CHECK(snapread_feed_raw(s, "chunk", buf, n, &out, &len, err, sizeof err) == 0);
  n = chunk(buf, "m/1", 1, 2, whole + 10, 10, sha);
  REQUIRE(snapread_feed_raw(s, "chunk", buf, n, &out, &len, err, sizeof err) == 1);
  CHECK(len == 20 && memcmp(out, whole, 20) == 0);
  /* out of order */
  n = chunk(buf, "m/2", 1, 2, whole + 10, 10, sha);
  CHECK(snapread_feed_raw(s, "chunk", buf, n, &out, &len, err, sizeof err) == 0);
  CHECK(strstr(err, "out of order") != NULL);
  /* wrong digest */
  n = chunk(buf, "m/3", 0, 1, whole, 20, bad_sha);
  CHECK(snapread_feed_raw(s, "chunk", buf, n, &out, &len, err, sizeof err) == 0);
  CHECK(strstr(err, "do not match") != NULL);
  /* seq beyond total, garbage, unknown type */
  n = chunk(buf, "m/4", 3, 2, whole, 5, sha);
  CHECK(snapread_feed_raw(s, "chunk", buf, n, &out, &len, err, sizeof err) == 0);
  CHECK(strstr(err, "invalid chunk") != NULL);
  CHECK(snapread_feed_raw(s, "chunk", "\xff\xff", 2, &out, &len, err, sizeof err) == 0);
  CHECK(snapread_feed_raw(s, "blob", "x", 1, &out, &len, err, sizeof err) == 0);
  snapread_free(s);
}

/* libFuzzer (fuzz_state) found memcpy from NULL for a chunk with empty data. */
TEST(empty_chunk_data_is_handled) {
  uint8_t sha[32], buf[256];
  petra_sha256_digest("", 0, sha);
  snapread *s = snapread_new();
  const uint8_t *out;
  size_t len;
  char err[256];
  size_t n = chunk(buf, "e/1", 0, 1, NULL, 0, sha);
  CHECK(snapread_feed_raw(s, "chunk", buf, n, &out, &len, err, sizeof err) == 1);
  CHECK_EQ_INT(len, 0);
  /* the fuzzer's reproducer itself (selector byte stripped) */
  static const uint8_t repro[] = {0x6d, 0x0f, 0x31, 0x28, 0x00, 0x30, 0x01, 0x5d, 0x03, 0x61, 0x62, 0x63,
                                  0x42, 0x20, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x5f, 0xe0, 0x00,
                                  0x02, 0x63, 0xe1, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                  0x00, 0x10, 0x00, 0x01, 0x00, 0x7f, 0xff, 0x6e, 0xa3, 0x35, 0xba, 0x00};
  snapread_feed_raw(s, "chunk", repro, sizeof repro, &out, &len, err, sizeof err);
  snapread_free(s);
}
