#include "kadmin.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int kadmin_partitions(rd_kafka_t *rk, const char *topic, char *err, size_t n) {
  return kadmin_partitions_within(rk, topic, 10000, err, n);
}

int kadmin_partitions_within(rd_kafka_t *rk, const char *topic, int timeout_ms, char *err, size_t n) {
  /* all topics: asking for one by name makes a broker with auto.create.topics.enable (and a
   * librdkafka producer) create it with the default partition count */
  const rd_kafka_metadata_t *md = NULL;
  rd_kafka_resp_err_t me = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
  if (me) {
    snprintf(err, n, "topic %s: metadata: %s", topic, rd_kafka_err2str(me));
    return -1;
  }
  int parts = 0;
  for (int i = 0; i < md->topic_cnt; i++)
    if (!strcmp(md->topics[i].topic, topic)) {
      if (md->topics[i].err && md->topics[i].err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE) {
        snprintf(err, n, "topic %s: metadata: %s", topic, rd_kafka_err2str(md->topics[i].err));
        parts = -1;
      } else {
        parts = md->topics[i].partition_cnt;
      }
    }
  rd_kafka_metadata_destroy(md);
  return parts;
}

int kadmin_create(rd_kafka_t *rk, const char *topic, int partitions, const char *cleanup_policy, char *err,
                  size_t n) {
  char e[512];
  rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, -1, e, sizeof e);
  if (!nt) {
    snprintf(err, n, "topic %s: %s", topic, e);
    return -1;
  }
  if (cleanup_policy) rd_kafka_NewTopic_set_config(nt, "cleanup.policy", cleanup_policy);
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
  rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
  int rc = -1;
  if (!ev) {
    snprintf(err, n, "topic %s: no answer to CreateTopics within 15 s", topic);
  } else {
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    size_t cnt = 0;
    const rd_kafka_topic_result_t **tr = res ? rd_kafka_CreateTopics_result_topics(res, &cnt) : NULL;
    rd_kafka_resp_err_t te = rd_kafka_event_error(ev);
    if (!te && cnt == 1) te = rd_kafka_topic_result_error(tr[0]);
    if (!te || te == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
      rc = 0;
    else
      snprintf(err, n, "topic %s: create: %s", topic,
               cnt == 1 && rd_kafka_topic_result_error_string(tr[0]) ? rd_kafka_topic_result_error_string(tr[0])
                                                                      : rd_kafka_err2str(te));
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_queue_destroy(q);
  rd_kafka_NewTopic_destroy(nt);
  return rc;
}

int kadmin_ensure(rd_kafka_t *rk, const char *topic, int partitions, const char *cleanup_policy, char *err,
                  size_t n) {
  int p = kadmin_partitions(rk, topic, err, n);
  if (p != 0) return p;
  if (kadmin_create(rk, topic, partitions, cleanup_policy, err, n)) return -1;
  for (int i = 0; i < 50; i++) { /* metadata catches up with the creation */
    p = kadmin_partitions(rk, topic, err, n);
    if (p > 0) return p;
    struct timespec ts = {0, 100000000};
    nanosleep(&ts, NULL);
  }
  snprintf(err, n, "topic %s: created but not visible in metadata after 5 s", topic);
  return -1;
}
