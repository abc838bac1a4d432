/* Input validation: a table of bad Event, Label and SeriesPoint messages, each rejected with
 * the reason; good ones pass; dead letters carry the original. */
#include "check.h"
#include "gen.h"
#include "petra/snapshot.h"
#include "wire.h"

static size_t pack_event(Petra__V1__Event *e, uint8_t *buf) { return petra__v1__event__pack(e, buf); }

static Petra__V1__Event good_event(void) {
  Petra__V1__Event e = PETRA__V1__EVENT__INIT;
  e.schema_version = PETRA_SCHEMA_VERSION;
  e.entity_id = "card-1";
  e.event_time_ms = 1000;
  e.amount = 12.5;
  return e;
}

TEST(bad_events_are_rejected_with_reasons) {
  uint8_t buf[4096];
  char err[256];
  Petra__V1__Event e = good_event();
  Petra__V1__Event *d = wire_decode_event(buf, pack_event(&e, buf), err, sizeof err);
  CHECK(d != NULL);
  wire_free(d);

  Petra__V1__Category neg = PETRA__V1__CATEGORY__INIT, noname = PETRA__V1__CATEGORY__INIT;
  neg.field = "mcc";
  neg.code = INT32_MIN; /* the feature state's "missing" marker; other negatives are raw codes */
  noname.field = "";
  Petra__V1__Category *negs[] = {&neg}, *nonames[] = {&noname};
  Petra__V1__Numeric nanv = PETRA__V1__NUMERIC__INIT;
  nanv.name = "x";
  nanv.value = NAN;
  Petra__V1__Numeric *nans[] = {&nanv};
  char longid[200];
  memset(longid, 'a', sizeof longid - 1);
  longid[sizeof longid - 1] = 0;
  struct {
    const char *what;
    Petra__V1__Event e;
  } bad[12];
  int nb = 0;
  bad[nb].what = "schema_version 2";
  bad[nb].e = good_event();
  bad[nb++].e.schema_version = 2;
  bad[nb].what = "schema_version 0";
  bad[nb].e = good_event();
  bad[nb++].e.schema_version = 0;
  bad[nb].what = "entity_id must be";
  bad[nb].e = good_event();
  bad[nb++].e.entity_id = "";
  bad[nb].what = "entity_id must be";
  bad[nb].e = good_event();
  bad[nb++].e.entity_id = longid;
  bad[nb].what = "control character";
  bad[nb].e = good_event();
  bad[nb++].e.entity_id = "a\nb";
  bad[nb].what = "negative";
  bad[nb].e = good_event();
  bad[nb++].e.event_time_ms = -1;
  bad[nb].what = "amount";
  bad[nb].e = good_event();
  bad[nb++].e.amount = INFINITY;
  bad[nb].what = "amount";
  bad[nb].e = good_event();
  bad[nb++].e.amount = NAN;
  bad[nb].what = "is reserved";
  bad[nb].e = good_event();
  bad[nb].e.n_categories = 1;
  bad[nb++].e.categories = negs;
  bad[nb].what = "no field name";
  bad[nb].e = good_event();
  bad[nb].e.n_categories = 1;
  bad[nb++].e.categories = nonames;
  bad[nb].what = "numeric x is not finite";
  bad[nb].e = good_event();
  bad[nb].e.n_numerics = 1;
  bad[nb++].e.numerics = nans;
  bad[nb].what = "label is not finite";
  bad[nb].e = good_event();
  bad[nb].e.has_label = 1;
  bad[nb++].e.label = NAN;
  for (int i = 0; i < nb; i++) {
    size_t n = pack_event(&bad[i].e, buf);
    err[0] = 0;
    Petra__V1__Event *x = wire_decode_event(buf, n, err, sizeof err);
    CHECK_MSG(x == NULL, "accepted: %s", bad[i].what);
    wire_free(x);
    CHECK_MSG(strstr(err, bad[i].what) != NULL, "'%s' lacks '%s'", err, bad[i].what);
  }
  /* garbage, truncation, oversize */
  CHECK(wire_decode_event("\xff\xff\xff\xff", 4, err, sizeof err) == NULL);
  CHECK(strstr(err, "not a decodable") != NULL);
  e = good_event();
  size_t n = pack_event(&e, buf);
  CHECK(wire_decode_event(buf, n - 2, err, sizeof err) == NULL);
  static uint8_t huge[WIRE_MAX_MESSAGE + 1];
  CHECK(wire_decode_event(huge, sizeof huge, err, sizeof err) == NULL);
  CHECK(strstr(err, "exceeds") != NULL);
}

TEST(bad_labels_and_series_are_rejected_with_reasons) {
  uint8_t buf[1024];
  char err[256];
  Petra__V1__Label l = PETRA__V1__LABEL__INIT;
  l.schema_version = 1;
  l.entity_id = "e";
  l.value = 1;
  Petra__V1__Label *dl = wire_decode_label(buf, petra__v1__label__pack(&l, buf), err, sizeof err);
  CHECK(dl != NULL);
  wire_free(dl);
  l.value = INFINITY;
  CHECK(wire_decode_label(buf, petra__v1__label__pack(&l, buf), err, sizeof err) == NULL);
  CHECK(strstr(err, "not finite") != NULL);
  l.value = 1;
  l.label_time_ms = -5;
  CHECK(wire_decode_label(buf, petra__v1__label__pack(&l, buf), err, sizeof err) == NULL);

  float v[3] = {1, 2, 3};
  char *names[2] = {"a", "b"};
  Petra__V1__SeriesPoint p = PETRA__V1__SERIES_POINT__INIT;
  p.schema_version = 1;
  p.series_id = "s";
  p.n_values = 3;
  p.values = v;
  Petra__V1__SeriesPoint *dp = wire_decode_series(buf, petra__v1__series_point__pack(&p, buf), err, sizeof err);
  CHECK(dp != NULL);
  wire_free(dp);
  p.n_channels = 2;
  p.channels = names;
  CHECK(wire_decode_series(buf, petra__v1__series_point__pack(&p, buf), err, sizeof err) == NULL);
  CHECK(strstr(err, "2 channel names for 3 values") != NULL);
  p.n_channels = 0;
  v[1] = NAN;
  CHECK(wire_decode_series(buf, petra__v1__series_point__pack(&p, buf), err, sizeof err) == NULL);
  CHECK(strstr(err, "value 1") != NULL);
  p.n_values = 0;
  CHECK(wire_decode_series(buf, petra__v1__series_point__pack(&p, buf), err, sizeof err) == NULL);
}

TEST(a_message_claiming_huge_repeated_fields_cannot_exhaust_memory) {
  /* field 5 (categories), length-delimited, claiming 2^31 bytes, then nothing */
  uint8_t buf[] = {0x2a, 0x80, 0x80, 0x80, 0x80, 0x08};
  char err[256];
  CHECK(wire_decode_event(buf, sizeof buf, err, sizeof err) == NULL);
}

TEST(dead_letter_carries_the_original_message) {
  uint8_t *out;
  size_t n = wire_deadletter("petra.events", 3, 77, "amount is NaN", "\x01\x02", 2, "k", 1, 5, &out);
  REQUIRE(n > 0);
  Petra__V1__DeadLetter *d = petra__v1__dead_letter__unpack(NULL, n, out);
  REQUIRE(d);
  CHECK_STR(d->topic, "petra.events");
  CHECK_EQ_INT(d->partition, 3);
  CHECK_EQ_INT(d->offset, 77);
  CHECK_STR(d->error, "amount is NaN");
  CHECK(d->payload.len == 2 && d->payload.data[1] == 2);
  petra__v1__dead_letter__free_unpacked(d, NULL);
  free(out);
}

/* The hand-written Event decoder (the ingest hot path) against protobuf-c on protobuf-c's
 * quirks that fuzzing found (kept as regressions), and on generated events. */
static void same_verdict_and_fields(const uint8_t *b, size_t n, const char *what) {
  static wire_arena fast;
  Petra__V1__Event *ref = petra__v1__event__unpack(NULL, n, b);
  Petra__V1__Event *e = wire_fast_event_in(&fast, b, n);
  CHECK_MSG(!ref == !e, "%s: protobuf-c %s, fast decoder %s", what, ref ? "accepts" : "rejects",
            e ? "accepts" : "rejects");
  if (e && ref) {
    CHECK_STR(e->entity_id, ref->entity_id);
    CHECK(e->event_time_ms == ref->event_time_ms);
    CHECK(memcmp(&e->amount, &ref->amount, 8) == 0);
    CHECK_EQ_INT(e->has_label, ref->has_label);
    CHECK(e->event_id == ref->event_id);
    CHECK_EQ_INT((int)e->n_categories, (int)ref->n_categories);
    CHECK_EQ_INT((int)e->n_numerics, (int)ref->n_numerics);
  }
  if (ref) petra__v1__event__free_unpacked(ref, NULL);
}

TEST(fast_event_decoder_agrees_with_protobuf_c) {
  static const struct {
    const char *what;
    const char *bytes;
    size_t n;
  } cases[] = {
      {"bool from a fixed64", "\x08\x01\x12\x01x\x39\x00\x00\x00\x00\x00\x00\x00\x01", 14},
      {"bool from a fixed64 of zeros", "\x08\x01\x12\x01x\x39\x00\x00\x00\x00\x00\x00\x00\x80", 14},
      {"unknown field number above 2^29 (5-byte key)", "\x08\x01\x12\x01x\xd5\xf9\xf2\x83\x6d\x01\x02\x03\x04", 14},
      {"6-byte key", "\x08\x01\x12\x01x\xd5\xf9\xf2\x83\xed\x01\x01\x02\x03\x04", 15},
      {"field 0", "\x08\x01\x12\x01x\x00\x01", 7},
      {"field 0 in a two-byte key", "\x08\x01\x12\x01x\x80\x00\x01", 8},
      {"10-byte varint with a high last byte", "\x08\x01\x12\x01x\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 16},
      {"11-byte varint", "\x08\x01\x12\x01x\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 17},
      {"string with the wrong wire type", "\x08\x01\x10\x05", 4},
      {"group", "\x08\x01\x12\x01x\x1b\x1c", 7},
      {"truncated double", "\x08\x01\x12\x01x\x21\x00\x00", 8},
      {"length beyond the end", "\x08\x01\x12\x05x", 5},
      {"6-byte length prefix", "\x08\x01\x12\x81\x80\x80\x80\x80\x00x", 10},
      /* found by fuzz_wire: 2^32 in a 5-byte length wrapped to 0 in the fast decoder */
      {"5-byte length of 2^32", "\x08\x01\x12\x01x\x32\x80\x80\x80\x80\x10\x32\x00", 13},
      {"category with an unknown fixed32", "\x08\x01\x12\x01x\x2a\x0a\x0a\x03mcc\x10\x07\x1d\x01\x02\x03\x04", 17},
      {"numeric with a varint value", "\x08\x01\x12\x01x\x32\x04\x0a\x01n\x10\x01", 11},
      {"repeated scalar: the last wins", "\x08\x01\x12\x01x\x18\x05\x18\x07\x12\x01y", 11},
  };
  for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++)
    same_verdict_and_fields((const uint8_t *)cases[i].bytes, cases[i].n, cases[i].what);
  /* and every generated event */
  gen_conf gc = gen_defaults();
  gc.seed = 3;
  gen *g = gen_new(&gc);
  uint8_t buf[1024];
  char key[64];
  for (int i = 0; i < 2000; i++) {
    int kind;
    size_t n = gen_next_tx(g, buf, sizeof buf, &kind, key, sizeof key);
    if (kind == GEN_EVENT) same_verdict_and_fields(buf, n, "generated event");
  }
  gen_free(g);
}
