/* Wire schema: every message survives pack/unpack unchanged, and a reader tolerates
 * fields that a newer writer added. */
#include "check.h"
#include "petra.pb-c.h"

#include <stdint.h>

/* Pack msg, unpack it with desc, pack the result again: both encodings must be identical. */
static void *roundtrip(const ProtobufCMessage *msg, size_t *len_out) {
  size_t len = protobuf_c_message_get_packed_size(msg);
  uint8_t *buf = malloc(len ? len : 1);
  CHECK_EQ_INT(protobuf_c_message_pack(msg, buf), len);
  ProtobufCMessage *back = protobuf_c_message_unpack(msg->descriptor, NULL, len, buf);
  CHECK(back != NULL);
  if (back) {
    size_t len2 = protobuf_c_message_get_packed_size(back);
    CHECK_EQ_INT(len2, len);
    uint8_t *buf2 = malloc(len2 ? len2 : 1);
    protobuf_c_message_pack(back, buf2);
    CHECK(memcmp(buf, buf2, len) == 0);
    free(buf2);
  }
  free(buf);
  *len_out = len;
  return back;
}

TEST(event_roundtrip_preserves_every_field) {
  Petra__V1__Category c1 = PETRA__V1__CATEGORY__INIT, c2 = PETRA__V1__CATEGORY__INIT;
  c1.field = "mcc";
  c1.code = 5411;
  c2.field = "channel";
  c2.code = 2;
  Petra__V1__Category *cats[] = {&c1, &c2};
  Petra__V1__Numeric n1 = PETRA__V1__NUMERIC__INIT;
  n1.name = "balance_z";
  n1.value = -0.25f;
  Petra__V1__Numeric *nums[] = {&n1};
  Petra__V1__Event e = PETRA__V1__EVENT__INIT;
  e.schema_version = 1;
  e.entity_id = "card-42";
  e.event_time_ms = 1700000000123;
  e.amount = -12.5;
  e.n_categories = 2;
  e.categories = cats;
  e.n_numerics = 1;
  e.numerics = nums;
  e.has_label = 1;
  e.label = 1.0f;
  e.event_id = UINT64_C(0xfeedfacecafebeef);
  size_t len;
  Petra__V1__Event *b = roundtrip(&e.base, &len);
  REQUIRE(b);
  CHECK_EQ_INT(b->schema_version, 1);
  CHECK_STR(b->entity_id, "card-42");
  CHECK_EQ_INT(b->event_time_ms, 1700000000123);
  CHECK(b->amount == -12.5);
  REQUIRE(b->n_categories == 2);
  CHECK_STR(b->categories[1]->field, "channel");
  CHECK_EQ_INT(b->categories[0]->code, 5411);
  REQUIRE(b->n_numerics == 1);
  CHECK(b->numerics[0]->value == -0.25f);
  CHECK(b->has_label && b->label == 1.0f);
  CHECK(b->event_id == UINT64_C(0xfeedfacecafebeef));
  petra__v1__event__free_unpacked(b, NULL);
}

TEST(label_and_series_roundtrip) {
  Petra__V1__Label l = PETRA__V1__LABEL__INIT;
  l.schema_version = 1;
  l.entity_id = "acct-7";
  l.label_time_ms = 5;
  l.value = 3.0f;
  size_t len;
  Petra__V1__Label *lb = roundtrip(&l.base, &len);
  REQUIRE(lb);
  CHECK_STR(lb->entity_id, "acct-7");
  CHECK(lb->value == 3.0f);
  petra__v1__label__free_unpacked(lb, NULL);

  float vals[7] = {1, 2, 3, 4, 5, 6, 30.5f};
  char *chans[] = {"HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"};
  Petra__V1__SeriesPoint p = PETRA__V1__SERIES_POINT__INIT;
  p.schema_version = 1;
  p.series_id = "etth1";
  p.time_ms = 1467331200000;
  p.n_values = 7;
  p.values = vals;
  p.n_channels = 7;
  p.channels = chans;
  Petra__V1__SeriesPoint *pb = roundtrip(&p.base, &len);
  REQUIRE(pb);
  REQUIRE(pb->n_values == 7);
  CHECK(pb->values[6] == 30.5f);
  CHECK_STR(pb->channels[6], "OT");
  petra__v1__series_point__free_unpacked(pb, NULL);
}

TEST(snapshot_chunk_genome_metrics_deadletter_score_roundtrip) {
  Petra__V1__LayerGene g1 = PETRA__V1__LAYER_GENE__INIT;
  g1.layer = "gru0";
  g1.keep = 0.5f;
  g1.bits = 8;
  g1.rank = 1.0f;
  Petra__V1__LayerGene *genes[] = {&g1};
  Petra__V1__Genome g = PETRA__V1__GENOME__INIT;
  g.schema_version = 1;
  g.n_layers = 1;
  g.layers = genes;
  g.finetune_steps = 50;
  g.finetune_lr = 1e-3f;

  Petra__V1__Metrics m = PETRA__V1__METRICS__INIT;
  m.schema_version = 1;
  m.model_id = "fraud-eu";
  m.metric_name = "auc";
  m.metric = 0.91;
  m.higher_is_better = 1;
  m.size_bytes = 12345;
  m.latency_p99_us = 17.5;

  uint32_t shape[] = {64, 32};
  float scales[] = {0.5f, 0.25f};
  uint8_t data[] = {1, 2, 3, 255};
  Petra__V1__Tensor t = PETRA__V1__TENSOR__INIT;
  t.name = "dense0.w";
  t.n_shape = 2;
  t.shape = shape;
  t.dtype = PETRA__V1__DTYPE__DTYPE_I8;
  t.n_scales = 2;
  t.scales = scales;
  t.data.len = sizeof data;
  t.data.data = data;
  Petra__V1__Tensor *tensors[] = {&t};
  uint8_t sha[32] = {9};
  Petra__V1__ModelSnapshot s = PETRA__V1__MODEL_SNAPSHOT__INIT;
  s.schema_version = 1;
  s.model_id = "fraud-eu";
  s.version = 7;
  s.base_version = 6;
  s.genome = &g;
  s.model_spec = "seq";
  s.feature_schema_hash = 0x3f2a;
  s.n_tensors = 1;
  s.tensors = tensors;
  s.metrics = &m;
  s.sha256.len = 32;
  s.sha256.data = sha;
  size_t len;
  Petra__V1__ModelSnapshot *sb = roundtrip(&s.base, &len);
  REQUIRE(sb);
  CHECK_EQ_INT(sb->version, 7);
  REQUIRE(sb->genome && sb->genome->n_layers == 1);
  CHECK_EQ_INT(sb->genome->layers[0]->bits, 8);
  REQUIRE(sb->n_tensors == 1);
  CHECK_EQ_INT(sb->tensors[0]->dtype, PETRA__V1__DTYPE__DTYPE_I8);
  CHECK(sb->tensors[0]->data.len == 4 && sb->tensors[0]->data.data[3] == 255);
  CHECK(sb->metrics && sb->metrics->metric == 0.91);
  petra__v1__model_snapshot__free_unpacked(sb, NULL);

  Petra__V1__SnapshotChunk c = PETRA__V1__SNAPSHOT_CHUNK__INIT;
  c.schema_version = 1;
  c.snapshot_id = "fraud-eu/7";
  c.seq = 2;
  c.total = 3;
  c.data.len = 4;
  c.data.data = data;
  Petra__V1__SnapshotChunk *cb = roundtrip(&c.base, &len);
  REQUIRE(cb);
  CHECK(cb->seq == 2 && cb->total == 3);
  petra__v1__snapshot_chunk__free_unpacked(cb, NULL);

  Petra__V1__DeadLetter d = PETRA__V1__DEAD_LETTER__INIT;
  d.schema_version = 1;
  d.topic = "events";
  d.partition = 3;
  d.offset = 99;
  d.error = "amount is NaN";
  d.payload.len = 4;
  d.payload.data = data;
  Petra__V1__DeadLetter *db = roundtrip(&d.base, &len);
  REQUIRE(db);
  CHECK_STR(db->error, "amount is NaN");
  CHECK_EQ_INT(db->offset, 99);
  petra__v1__dead_letter__free_unpacked(db, NULL);

  float sc[] = {0.75f};
  Petra__V1__Score so = PETRA__V1__SCORE__INIT;
  so.schema_version = 1;
  so.entity_id = "card-1";
  so.model_version = 7;
  so.n_scores = 1;
  so.scores = sc;
  Petra__V1__Score *sob = roundtrip(&so.base, &len);
  REQUIRE(sob);
  CHECK(sob->n_scores == 1 && sob->scores[0] == 0.75f);
  petra__v1__score__free_unpacked(sob, NULL);
}

/* A newer writer appends field 100 (varint) and field 101 (length-delimited); an old
 * reader must still decode the fields it knows. */
TEST(unknown_fields_from_newer_writer_are_tolerated) {
  Petra__V1__Label l = PETRA__V1__LABEL__INIT;
  l.schema_version = 2;
  l.entity_id = "x";
  l.value = 1.0f;
  size_t len = petra__v1__label__get_packed_size(&l);
  uint8_t buf[128];
  petra__v1__label__pack(&l, buf);
  /* field 100, wire type 0: key = (100 << 3) | 0 = 800 = varint 0xa0 0x06 */
  buf[len++] = 0xa0;
  buf[len++] = 0x06;
  buf[len++] = 0x2a;
  /* field 101, wire type 2: key = 810 = 0xaa 0x06, length 3, "new" */
  buf[len++] = 0xaa;
  buf[len++] = 0x06;
  buf[len++] = 3;
  memcpy(buf + len, "new", 3);
  len += 3;
  Petra__V1__Label *b = petra__v1__label__unpack(NULL, len, buf);
  REQUIRE(b);
  CHECK_EQ_INT(b->schema_version, 2);
  CHECK_STR(b->entity_id, "x");
  CHECK(b->value == 1.0f);
  CHECK_EQ_INT(b->base.n_unknown_fields, 2);
  petra__v1__label__free_unpacked(b, NULL);
}

TEST(truncated_input_is_rejected) {
  Petra__V1__Event e = PETRA__V1__EVENT__INIT;
  e.schema_version = 1;
  e.entity_id = "a-rather-long-entity-identifier";
  size_t len = petra__v1__event__get_packed_size(&e);
  uint8_t buf[128];
  petra__v1__event__pack(&e, buf);
  CHECK(petra__v1__event__unpack(NULL, len - 3, buf) == NULL);
}
