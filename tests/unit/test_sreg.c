/* Schema Registry wire format (daemon/common/sreg.c): byte vectors written from Confluent's
 * documented format (magic 0, big-endian schema id, zig-zag varint message-index list with
 * [0] shortened to one 0 byte), a table of bad framings with the error each must give, the
 * per-topic checks, the message indexes against proto/petra.proto itself, and the config
 * keys. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "sreg.h"
#include "wire.h"

TEST(headers_are_the_documented_bytes) {
  struct {
    int32_t id;
    int idx;
    size_t n;
    uint8_t bytes[SREG_MAX_HEADER];
  } v[] = {
      {1, 0, 6, {0, 0, 0, 0, 1, 0}},                             /* [0]: the one-byte form */
      {0x01020304, SREG_MSG_EVENT, 7, {0, 1, 2, 3, 4, 2, 4}},    /* count 1 -> 2, index 2 -> 4 */
      {7, SREG_MSG_SCORE, 7, {0, 0, 0, 0, 7, 2, 26}},            /* index 13 -> 26 */
      {2147483647, 100, 8, {0, 0x7f, 0xff, 0xff, 0xff, 2, 0xc8, 0x01}}, /* 100 -> 200, two bytes */
  };
  for (unsigned i = 0; i < sizeof v / sizeof v[0]; i++) {
    uint8_t h[SREG_MAX_HEADER];
    size_t n = sreg_header(h, v[i].id, v[i].idx);
    CHECK_EQ_INT((int)n, (int)v[i].n);
    CHECK_MSG(memcmp(h, v[i].bytes, n) == 0, "header %u differs", i);
    int32_t id;
    int mi;
    size_t off;
    char err[256] = "";
    CHECK_MSG(sreg_parse(h, n, &id, &mi, &off, err, sizeof err) == 0, "%u: %s", i, err);
    CHECK_EQ_INT(id, v[i].id);
    CHECK_EQ_INT(mi, v[i].idx);
    CHECK_EQ_INT((int)off, (int)n);
  }
  /* the long form of [0] (count 1, index 0) is accepted too */
  const uint8_t longform[] = {0, 0, 0, 0, 9, 2, 0, 0x08};
  int32_t id;
  int mi;
  size_t off;
  char err[256];
  CHECK(sreg_parse(longform, sizeof longform, &id, &mi, &off, err, sizeof err) == 0);
  CHECK_EQ_INT(id, 9);
  CHECK_EQ_INT(mi, 0);
  CHECK_EQ_INT((int)off, 7);
}

TEST(bad_framings_give_their_error) {
  struct {
    const char *what;
    size_t n;
    uint8_t b[12];
    const char *err;
  } bad[] = {
      {"empty", 0, {0}, "0 bytes, shorter than the 6-byte"},
      {"five bytes", 5, {0, 0, 0, 0, 1}, "5 bytes, shorter"},
      {"magic 1", 7, {1, 0, 0, 0, 1, 2, 4}, "magic byte 0x01, expected 0x00"},
      {"unframed protobuf", 8, {0x08, 0x01, 0x12, 0x03, 'a', 'b', 'c', 0}, "magic byte 0x08"},
      {"count truncated", 6, {0, 0, 0, 0, 1, 0x80}, "message-index count truncated"},
      {"count overlong", 11, {0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, "count longer than 5 bytes"},
      {"count negative", 6, {0, 0, 0, 0, 1, 0x01}, "count -1 out of range [0, 16]"},
      {"count 17", 6, {0, 0, 0, 0, 1, 0x22}, "count 17 out of range"},
      {"index missing", 6, {0, 0, 0, 0, 1, 0x02}, "message index 0 truncated"},
      {"index negative", 7, {0, 0, 0, 0, 1, 0x02, 0x03}, "message index 0 is negative (-2)"},
      {"index fifth byte too big", 11, {0, 0, 0, 0, 1, 0x02, 0xff, 0xff, 0xff, 0xff, 0x1f}, "index 0 longer than 5"},
      {"nested path", 8, {0, 0, 0, 0, 1, 0x04, 0x04, 0x00}, "path of 2 names a nested type"},
  };
  for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int32_t id;
    int mi;
    size_t off;
    char err[256] = "";
    CHECK_MSG(sreg_parse(bad[i].b, bad[i].n, &id, &mi, &off, err, sizeof err) == -1, "%s: accepted", bad[i].what);
    CHECK_MSG(strstr(err, bad[i].err) != NULL, "%s: '%s' lacks '%s'", bad[i].what, err, bad[i].err);
  }
}

TEST(topics_check_their_schema_id_and_message_type) {
  sreg_wire w = {.confluent = 1};
  w.id[SREG_EVENTS] = 41;
  w.id[SREG_SNAPSHOTS] = 43;
  Petra__V1__Event e = PETRA__V1__EVENT__INIT;
  e.schema_version = 1;
  e.entity_id = "card-1";
  e.event_time_ms = 1700000000000;
  e.amount = 12.5;
  size_t n = petra__v1__event__get_packed_size(&e);
  uint8_t *raw = malloc(n);
  petra__v1__event__pack(&e, raw);
  size_t fl;
  uint8_t *f = sreg_frame(&w, SREG_EVENTS, SREG_MSG_EVENT, raw, n, &fl);
  REQUIRE(f);
  CHECK_EQ_INT((int)fl, (int)n + 7);
  const void *pl;
  size_t plen;
  int mi;
  char err[256] = "";
  CHECK_MSG(sreg_unframe(&w, SREG_EVENTS, f, fl, &pl, &plen, &mi, err, sizeof err) == 0, "%s", err);
  CHECK_EQ_INT(mi, SREG_MSG_EVENT);
  CHECK_EQ_INT((int)plen, (int)n);
  Petra__V1__Event *d = wire_decode_event(pl, plen, err, sizeof err);
  CHECK_MSG(d && !strcmp(d->entity_id, "card-1") && d->amount == 12.5, "%s", err);
  wire_free(d);
  /* the same bytes under another id */
  w.id[SREG_EVENTS] = 42;
  CHECK(sreg_unframe(&w, SREG_EVENTS, f, fl, &pl, &plen, &mi, err, sizeof err) == -1);
  CHECK_STR(err, "confluent framing: schema id 41, expected 42 (wire.schema_id.events)");
  w.id[SREG_EVENTS] = 41;
  free(f);
  /* a Label on the events topic */
  f = sreg_frame(&w, SREG_EVENTS, SREG_MSG_LABEL, raw, n, &fl);
  CHECK(sreg_unframe(&w, SREG_EVENTS, f, fl, &pl, &plen, &mi, err, sizeof err) == -1);
  CHECK_STR(err, "confluent framing: message index 3 (petra.v1.Label), the events topic carries petra.v1.Event");
  free(f);
  /* snapshots carry whole snapshots and chunks */
  for (int k = 0; k < 2; k++) {
    int want = k ? SREG_MSG_CHUNK : SREG_MSG_SNAPSHOT;
    f = sreg_frame(&w, SREG_SNAPSHOTS, want, raw, n, &fl);
    CHECK(sreg_unframe(&w, SREG_SNAPSHOTS, f, fl, &pl, &plen, &mi, err, sizeof err) == 0);
    CHECK_EQ_INT(mi, want);
    free(f);
  }
  /* raw mode passes everything through, framed or not */
  sreg_wire r = {0};
  CHECK(sreg_unframe(&r, SREG_EVENTS, raw, n, &pl, &plen, &mi, err, sizeof err) == 0);
  CHECK(pl == raw && plen == n && mi == -1);
  /* in-place framing (the payload already in the buffer) */
  uint8_t buf[64];
  memcpy(buf, "\x08\x01", 2);
  CHECK_EQ_INT((int)sreg_frame_into(buf, sizeof buf, 5, SREG_MSG_LABEL, buf, 2), 9);
  CHECK(memcmp(buf, "\0\0\0\0\x05\x02\x06\x08\x01", 9) == 0);
  CHECK_EQ_INT((int)sreg_frame_into(buf, 8, 5, SREG_MSG_LABEL, buf, 2), 0); /* too small */
  /* a handed-over buffer: raw keeps it, confluent replaces it with the framed copy */
  uint8_t *own = malloc(n);
  memcpy(own, raw, n);
  size_t on = n;
  CHECK(sreg_frame_owned(&r, SREG_EVENTS, SREG_MSG_EVENT, own, &on) == own && on == n);
  own = sreg_frame_owned(&w, SREG_EVENTS, SREG_MSG_EVENT, own, &on);
  REQUIRE(own);
  CHECK_EQ_INT((int)on, (int)n + 7);
  CHECK(sreg_unframe(&w, SREG_EVENTS, own, on, &pl, &plen, &mi, err, sizeof err) == 0 && plen == n &&
        memcmp(pl, raw, n) == 0);
  free(own);
  free(raw);
}

/* The message index is a type's position among the top-level messages of petra.proto: the
 * numbers in sreg.h must be those of the file. */
TEST(message_indexes_are_those_of_petra_proto) {
  FILE *f = fopen(PETRA_SOURCE_DIR "/proto/petra.proto", "r");
  REQUIRE(f);
  char line[512];
  int k = 0;
  while (fgets(line, sizeof line, f)) {
    char name[128];
    if (sscanf(line, "message %127[A-Za-z0-9_]", name) == 1) { /* column 0: top level */
      char full[160];
      snprintf(full, sizeof full, "petra.v1.%s", name);
      CHECK_MSG(!strcmp(sreg_message_name(k), full), "index %d: proto says %s, sreg.h %s", k, full,
                sreg_message_name(k));
      k++;
    }
  }
  fclose(f);
  CHECK_EQ_INT(k, SREG_N_MESSAGES);
  CHECK_STR(sreg_message_name(SREG_MSG_EVENT), "petra.v1.Event");
  CHECK_STR(sreg_message_name(SREG_MSG_LABEL), "petra.v1.Label");
  CHECK_STR(sreg_message_name(SREG_MSG_SERIES), "petra.v1.SeriesPoint");
  CHECK_STR(sreg_message_name(SREG_MSG_METRICS), "petra.v1.Metrics");
  CHECK_STR(sreg_message_name(SREG_MSG_SNAPSHOT), "petra.v1.ModelSnapshot");
  CHECK_STR(sreg_message_name(SREG_MSG_CHUNK), "petra.v1.SnapshotChunk");
  CHECK_STR(sreg_message_name(SREG_MSG_DEADLETTER), "petra.v1.DeadLetter");
  CHECK_STR(sreg_message_name(SREG_MSG_SCORE), "petra.v1.Score");
}

TEST(config_needs_an_id_per_topic_for_confluent) {
  struct {
    const char *text, *err;
  } bad[] = {
      {"wire.format = avro\n", "wire.format = avro: expected raw or confluent"},
      {"wire.format = confluent\n", "needs wire.schema_id.events"},
      {"wire.format = confluent\nwire.schema_id.events = 1\n", "needs wire.schema_id.labels"},
      {"wire.format = confluent\nwire.schema_id.events = 1\nwire.schema_id.labels = 2\n",
       "needs wire.schema_id.snapshots"},
      {"wire.format = confluent\nwire.schema_id.events = 1\nwire.schema_id.labels = 2\n"
       "wire.schema_id.snapshots = 3\nwire.schema_id.metrics = 4\n",
       "needs wire.schema_id.dead_letters"},
      {"model.spec = ts window=8 horizon=2 channels=1\nwire.format = confluent\nwire.schema_id.snapshots = 3\n"
       "wire.schema_id.metrics = 4\nwire.schema_id.dead_letters = 5\n",
       "needs wire.schema_id.series"},
  };
  for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    petrad_config c;
    petrad_config_defaults(&c);
    char err[512] = "";
    CHECK(petrad_config_parse(&c, bad[i].text, "t.conf", err, sizeof err) == 0);
    CHECK_MSG(petrad_config_validate(&c, err, sizeof err) == -1, "%u accepted", i);
    CHECK_MSG(strstr(err, bad[i].err) != NULL, "%u: '%s' lacks '%s'", i, err, bad[i].err);
  }
  petrad_config c;
  petrad_config_defaults(&c);
  char err[512] = "";
  CHECK(petrad_config_parse(&c,
                            "wire.format = confluent\nwire.schema_id.events = 1\nwire.schema_id.labels = 2\n"
                            "wire.schema_id.snapshots = 3\nwire.schema_id.metrics = 4\n"
                            "wire.schema_id.dead_letters = 5\nwire.schema_id.scores = 6\n",
                            "t.conf", err, sizeof err) == 0);
  CHECK_MSG(petrad_config_validate(&c, err, sizeof err) == 0, "%s", err);
  sreg_wire w;
  petrad_config_wire(&c, &w);
  CHECK(w.confluent);
  for (int r = 0; r < SREG_N_ROLES; r++) CHECK_EQ_INT(w.id[r], r == SREG_SERIES ? 0 : r < SREG_SERIES ? r + 1 : r);
  CHECK(petrad_config_parse(&c, "wire.schema_id.events = -1\n", "t.conf", err, sizeof err) == -1);
  CHECK(strstr(err, "expected an integer in [0, 2147483647]") != NULL);
}
