/* The real broker accepts protobuf Events from an idempotent librdkafka producer and hands
 * them back byte-identical to a consumer group, which commits its offsets. */
#include "check.h"
#include "kafkatest.h"
#include "petra.pb-c.h"

#define N_EVENTS 500

static int delivered, delivery_errors;
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  (void)opaque;
  if (m->err) {
    delivery_errors++;
    fprintf(stderr, "delivery failed: %s\n", rd_kafka_err2str(m->err));
  } else {
    delivered++;
  }
}

static size_t make_event(int i, uint8_t *buf) {
  char id[32];
  snprintf(id, sizeof id, "card-%d", i % 17);
  Petra__V1__Category c = PETRA__V1__CATEGORY__INIT;
  c.field = "mcc";
  c.code = i % 400;
  Petra__V1__Category *cats[] = {&c};
  Petra__V1__Event e = PETRA__V1__EVENT__INIT;
  e.schema_version = 1;
  e.entity_id = id;
  e.event_time_ms = 1700000000000LL + i * 1000LL;
  e.amount = 10.0 + i * 0.01;
  e.n_categories = 1;
  e.categories = cats;
  e.event_id = (uint64_t)i;
  return petra__v1__event__pack(&e, buf);
}

TEST(protobuf_events_roundtrip_through_real_broker) {
  const char *bs = kt_bootstrap();
  REQUIRE(bs);
  char topic[128], group[128];
  kt_unique(topic, sizeof topic, "smoke-events");
  kt_unique(group, sizeof group, "smoke-group");

  const char *pconf[] = {"enable.idempotence", "true", "linger.ms", "5", NULL};
  rd_kafka_t *p = kt_client(RD_KAFKA_PRODUCER, bs, pconf, on_delivery);
  REQUIRE(p);
  uint8_t bufs[N_EVENTS][128];
  size_t lens[N_EVENTS];
  for (int i = 0; i < N_EVENTS; i++) {
    lens[i] = make_event(i, bufs[i]);
    rd_kafka_resp_err_t err =
        rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(bufs[i], lens[i]),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    CHECK_MSG(err == RD_KAFKA_RESP_ERR_NO_ERROR, "produce: %s", rd_kafka_err2str(err));
  }
  CHECK_EQ_INT(rd_kafka_flush(p, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
  CHECK_EQ_INT(delivered, N_EVENTS);
  CHECK_EQ_INT(delivery_errors, 0);
  CHECK(rd_kafka_fatal_error(p, NULL, 0) == RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_destroy(p);

  const char *cconf[] = {"group.id", group, "auto.offset.reset", "earliest",
                         "enable.auto.commit", "false", NULL};
  rd_kafka_t *c = kt_client(RD_KAFKA_CONSUMER, bs, cconf, NULL);
  REQUIRE(c);
  rd_kafka_poll_set_consumer(c);
  rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
  CHECK_EQ_INT(rd_kafka_subscribe(c, sub), 0);
  rd_kafka_topic_partition_list_destroy(sub);

  int got = 0, mismatched = 0;
  int64_t last_offset = -1;
  for (int spins = 0; got < N_EVENTS && spins < 600; spins++) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
    if (!m) continue;
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        fprintf(stderr, "consume: %s\n", rd_kafka_message_errstr(m));
      rd_kafka_message_destroy(m);
      continue;
    }
    if (m->offset != got || m->len != lens[got] || memcmp(m->payload, bufs[got], m->len) != 0)
      mismatched++;
    Petra__V1__Event *e = petra__v1__event__unpack(NULL, m->len, m->payload);
    CHECK(e && e->event_id == (uint64_t)got);
    if (e) petra__v1__event__free_unpacked(e, NULL);
    last_offset = m->offset;
    got++;
    rd_kafka_message_destroy(m);
  }
  CHECK_EQ_INT(got, N_EVENTS);
  CHECK_EQ_INT(mismatched, 0);
  CHECK_EQ_INT(rd_kafka_commit(c, NULL, 0), RD_KAFKA_RESP_ERR_NO_ERROR);

  /* the committed offset is what the broker now reports for the group */
  rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(parts, topic, 0);
  CHECK_EQ_INT(rd_kafka_committed(c, parts, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  CHECK_EQ_INT(parts->elems[0].offset, last_offset + 1);
  rd_kafka_topic_partition_list_destroy(parts);
  rd_kafka_consumer_close(c);
  rd_kafka_destroy(c);
}
