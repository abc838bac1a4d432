#include "kprod.h"

#include <stdio.h>
#include <stdlib.h>

#include "kclient.h"

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  kprod *p = opaque;
  if (m->err) {
    if (p->failed++ < 5)
      fprintf(stderr, "delivery to %s failed: %s\n", rd_kafka_topic_name(m->rkt),
              rd_kafka_err2str(m->err));
  } else {
    p->delivered++;
  }
}

static int gave_up(void) {
  static int told;
  const char *f = kclient_tool_failed();
  if (f && !told++) fprintf(stderr, "kafka %s\n", f);
  return f != NULL;
}

kprod *kprod_new(const char *brokers, const petrad_config *cfg, char *err, size_t n) {
  kprod *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, n) ||
      rd_kafka_conf_set(conf, "enable.idempotence", "true", err, n) ||
      rd_kafka_conf_set(conf, "linger.ms", "20", err, n) ||
      rd_kafka_conf_set(conf, "queue.buffering.max.messages", "500000", err, n) ||
      rd_kafka_conf_set(conf, "client.id", "petra-tool", err, n) ||
      (cfg && kclient_apply(conf, cfg, "producer", err, n))) {
    rd_kafka_conf_destroy(conf);
    free(p);
    return NULL;
  }
  rd_kafka_conf_set_opaque(conf, p);
  rd_kafka_conf_set_dr_msg_cb(conf, on_dr);
  kclient_tool_watch(conf, cfg);
  p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, n);
  if (!p->rk) {
    free(p);
    return NULL;
  }
  return p;
}

int kprod_send(kprod *p, const char *topic, const void *key, size_t klen, const void *val,
               size_t vlen) {
  for (;;) {
    if (gave_up()) return -1;
    rd_kafka_resp_err_t e = rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_VALUE((void *)val, vlen),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
      p->sent++;
      if (p->sent % 1024 == 0) rd_kafka_poll(p->rk, 0);
      return 0;
    }
    if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      fprintf(stderr, "produce to %s: %s\n", topic, rd_kafka_err2str(e));
      return -1;
    }
    rd_kafka_poll(p->rk, 10);
  }
}

uint64_t kprod_close(kprod *p, int timeout_ms) {
  if (!p) return 0;
  /* in slices, so that an authentication failure ends the wait */
  for (int waited = 0; waited < timeout_ms && rd_kafka_outq_len(p->rk) > 0 && !gave_up(); waited += 100)
    rd_kafka_flush(p->rk, 100);
  if (gave_up()) {
    rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(p->rk, 100); /* their delivery reports: counted as failed */
  }
  uint64_t bad = p->failed + (p->sent - p->delivered - p->failed);
  rd_kafka_destroy(p->rk);
  free(p);
  return bad;
}
