/* petrad's Kafka side, all on the loop thread: consumer and producer served through
 * librdkafka queue io events on eventfds watched by uv_poll; input decoding and dispatch;
 * dead letters; snapshot and metrics production; the embedded mock cluster and generator. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "kclient.h"
#include "log.h"
#include "petra/sha256.h"
#include "petra/snapshot.h"
#include "kclient.h"
#include "petrad.h"
#include "wire.h"

static const uint64_t one = 1;

#define GEN_MAX_AHEAD 60000

static double mono_us(void);

static void wake_fd(int fd) {
  ssize_t w = write(fd, &one, sizeof one);
  (void)w;
}
static void drain_fd(int fd) {
  uint64_t v;
  ssize_t r = read(fd, &v, sizeof v);
  (void)r;
}

/* ---------------------------------------------------------------- configuration */

static int conf_set(rd_kafka_conf_t *conf, const char *k, const char *v, char *err, size_t n) {
  char e[512];
  if (rd_kafka_conf_set(conf, k, v, e, sizeof e) != RD_KAFKA_CONF_OK) {
    snprintf(err, n, "librdkafka property %s = %s: %s", k, v, e);
    return -1;
  }
  return 0;
}

static int apply_pass(petrad *d, rd_kafka_conf_t *conf, const char *scope, char *err, size_t n) {
  return kclient_apply(conf, &d->cfg, scope, err, n);
}

/* librdkafka calls this from the loop thread's polls (consumer, producer, lease consumer):
 * brokers_down and the auth error are loop-owned. */
void petrad_kafka_on_error(rd_kafka_t *rk, int code, const char *reason, void *opaque) {
  petrad *d = opaque;
  if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) d->brokers_down = 1;
  if (kclient_fatal(code)) {
    kclient_explain(code, reason, &d->cfg, d->kafka_auth_error, sizeof d->kafka_auth_error);
    if (!d->kafka_auth_error_ms) LOG_ERROR("kafka_auth_failed", "client=%s reason=\"%s\"", rd_kafka_name(rk), d->kafka_auth_error);
    d->kafka_auth_error_ms = clk_mono_ms();
  }
  LOG_WARN("kafka_error", "client=%s code=%s reason=\"%s\"", rd_kafka_name(rk),
           rd_kafka_err2name((rd_kafka_resp_err_t)code), reason);
}

/* ---------------------------------------------------------------- offsets */

static offset_entry *offset_slot(petrad *d, const char *topic, int32_t part) {
  /* consecutive messages mostly come from the same partition */
  if (d->in.last_offset_slot >= 0 && d->in.last_offset_slot < d->in.n_offsets &&
      d->in.offsets[d->in.last_offset_slot].partition == part &&
      d->in.offsets[d->in.last_offset_slot].topic_ptr == topic)
    return &d->in.offsets[d->in.last_offset_slot];
  for (int i = 0; i < d->in.n_offsets; i++)
    if (d->in.offsets[i].partition == part &&
        (d->in.offsets[i].topic_ptr == topic || !strcmp(d->in.offsets[i].topic, topic))) {
      d->in.offsets[i].topic_ptr = topic;
      d->in.last_offset_slot = i;
      return &d->in.offsets[i];
    }
  if (d->in.n_offsets == CKPT_MAX_OFFSETS) return NULL;
  offset_entry *o = &d->in.offsets[d->in.n_offsets++];
  snprintf(o->topic, sizeof o->topic, "%s", topic);
  o->partition = part;
  o->next = -1;
  o->topic_ptr = topic;
  d->in.last_offset_slot = d->in.n_offsets - 1;
  return o;
}

int petrad_kafka_caught_up(petrad *d) {
  rd_kafka_topic_partition_list_t *a = NULL;
  if (!d->in.consumer || rd_kafka_assignment(d->in.consumer, &a) || !a) return 0;
  int ok = a->cnt > 0 && d->in.batch_i >= d->in.batch_n;
  if (ok && rd_kafka_position(d->in.consumer, a)) ok = 0;
  for (int i = 0; i < a->cnt && ok; i++) {
    int64_t lo = -1, hi = -1;
    if (rd_kafka_get_watermark_offsets(d->in.consumer, a->elems[i].topic, a->elems[i].partition, &lo, &hi) ||
        hi < 0)
      ok = 0;
    else if (hi > lo && a->elems[i].offset < hi) /* an empty partition has nothing to read */
      ok = 0;
  }
  rd_kafka_topic_partition_list_destroy(a);
  return ok;
}

void petrad_kafka_store_offsets(petrad *d, const ckpt *c) {
  if (!d->in.consumer || c->n_offsets == 0 || d->cfg.ha_enabled) return; /* ha: transactions commit them */
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(c->n_offsets);
  for (int i = 0; i < c->n_offsets; i++)
    if (c->offsets[i].offset >= 0)
      rd_kafka_topic_partition_list_add(l, c->offsets[i].topic, c->offsets[i].partition)->offset =
          c->offsets[i].offset;
  rd_kafka_offsets_store(d->in.consumer, l);
  /* Per-partition errors (ERR__STATE / _UNKNOWN_PARTITION) mean the partition is not
   * assigned to us right now: its input will be redelivered, and our own checkpointed
   * offsets are applied when it is assigned again. Nothing is lost; note it at debug. */
  for (int i = 0; i < l->cnt; i++)
    if (l->elems[i].err)
      LOG_DEBUG("offset_not_stored", "topic=%s partition=%d error=%s", l->elems[i].topic,
                l->elems[i].partition, rd_kafka_err2name(l->elems[i].err));
  rd_kafka_topic_partition_list_destroy(l);
}

/* ---------------------------------------------------------------- rebalance */

/* A revoked partition leaves the offset table (no more lag, health or checkpoint entries for
 * it); where we stopped is remembered, so that if it comes back the model resumes from its
 * own position rather than the startup checkpoint's. */
static void forget_partition(petrad *d, const char *topic, int32_t part) {
  for (int i = 0; i < d->in.n_offsets; i++) {
    offset_entry *o = &d->in.offsets[i];
    if (o->partition != part || strcmp(o->topic, topic)) continue;
    if (o->next >= 0) {
      int k = 0;
      while (k < d->in.restored.n_offsets &&
             (d->in.restored.offsets[k].partition != part || strcmp(d->in.restored.offsets[k].topic, topic)))
        k++;
      if (k == d->in.restored.n_offsets && k < CKPT_MAX_OFFSETS) {
        d->in.restored.n_offsets++;
        snprintf(d->in.restored.offsets[k].topic, sizeof d->in.restored.offsets[k].topic, "%s", topic);
        d->in.restored.offsets[k].partition = part;
      }
      if (k < CKPT_MAX_OFFSETS) d->in.restored.offsets[k].offset = o->next;
    }
    d->in.offsets[i] = d->in.offsets[--d->in.n_offsets];
    d->in.last_offset_slot = -1;
    return;
  }
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
  petrad *d = opaque;
  int coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    /* resume from our own checkpointed offsets where we have them (effectively-once for the
     * model state even when commits lag) */
    for (int i = 0; i < parts->cnt; i++) {
      rd_kafka_topic_partition_t *p = &parts->elems[i];
      for (int k = 0; k < d->in.restored.n_offsets; k++)
        if (d->in.restored.offsets[k].partition == p->partition &&
            !strcmp(d->in.restored.offsets[k].topic, p->topic) && d->in.restored.offsets[k].offset >= 0)
          p->offset = d->in.restored.offsets[k].offset;
      LOG_INFO("partition_assigned", "topic=%s partition=%d offset=%lld", p->topic, p->partition,
               (long long)p->offset);
    }
    if (coop)
      rd_kafka_error_destroy(rd_kafka_incremental_assign(rk, parts));
    else
      rd_kafka_assign(rk, parts);
    /* the pause state is ours, not librdkafka's: a partition paused before it was revoked can
     * come back still paused (its handle keeps the flag), and nothing would resume it */
    if (d->in.paused) rd_kafka_pause_partitions(rk, parts);
    else rd_kafka_resume_partitions(rk, parts);
  } else {
    if (rd_kafka_assignment_lost(rk)) d->in.lost = 1;
    for (int i = 0; i < parts->cnt; i++) {
      LOG_INFO("partition_revoked", "topic=%s partition=%d lost=%d", parts->elems[i].topic,
               parts->elems[i].partition, rd_kafka_assignment_lost(rk));
      forget_partition(d, parts->elems[i].topic, parts->elems[i].partition);
    }
    if (coop)
      rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
    else
      rd_kafka_assign(rk, NULL);
  }
}

void petrad_kafka_pause(petrad *d, int pause) {
  if (!d->in.consumer || d->in.paused == pause) return;
  rd_kafka_topic_partition_list_t *a = NULL;
  if (rd_kafka_assignment(d->in.consumer, &a) == RD_KAFKA_RESP_ERR_NO_ERROR && a) {
    if (pause)
      rd_kafka_pause_partitions(d->in.consumer, a);
    else
      rd_kafka_resume_partitions(d->in.consumer, a);
    rd_kafka_topic_partition_list_destroy(a);
  }
  d->in.paused = pause;
  if (pause) d->in.pauses++;
  LOG_INFO(pause ? "consumption_paused" : "consumption_resumed", "queue=%d", exq_len(d->q));
}

/* ---------------------------------------------------------------- input */

static void dead_letter(petrad *d, const rd_kafka_message_t *m, const char *why) {
  d->in.dead_letters++;
  if (petrad_txn_ensure(d)) return; /* ha: fenced, nothing more is produced */
  const char *topic = rd_kafka_topic_name(m->rkt);
  if (d->in.dead_letters <= 5 || d->in.dead_letters % 100 == 0)
    LOG_WARN("dead_letter", "topic=%s partition=%d offset=%lld reason=\"%s\" total=%llu", topic,
             m->partition, (long long)m->offset, why, (unsigned long long)d->in.dead_letters);
  uint8_t *buf;
  size_t n = wire_deadletter(topic, m->partition, m->offset, why, m->payload, m->len, m->key,
                             m->key_len, (int64_t)clk_wall_ms(), &buf);
  if (!n) return;
  if (!(buf = sreg_frame_owned(&d->wire, SREG_DEAD_LETTERS, SREG_MSG_DEADLETTER, buf, &n))) return;
  rd_kafka_resp_err_t e = rd_kafka_producev(
      d->out.producer, RD_KAFKA_V_TOPIC(d->cfg.topic_deadletter), RD_KAFKA_V_VALUE(buf, n),
      RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_END);
  if (e) {
    LOG_ERROR("dead_letter_produce_failed", "error=%s", rd_kafka_err2name(e));
    free(buf);
  }
}

/* Which input a topic handle is, cached by handle (librdkafka keeps one per topic). */
enum { IN_OTHER = 0, IN_EVENTS, IN_LABELS, IN_SERIES };
static int topic_kind(petrad *d, rd_kafka_topic_t *rkt) {
  for (int i = 0; i < d->in.n_topic_cache; i++)
    if (d->in.topic_cache[i].rkt == rkt) return d->in.topic_cache[i].kind;
  const char *t = rd_kafka_topic_name(rkt);
  int kind = !strcmp(t, d->cfg.topic_events)   ? IN_EVENTS
             : !strcmp(t, d->cfg.topic_labels) ? IN_LABELS
             : !strcmp(t, d->cfg.topic_series) ? IN_SERIES
                                               : IN_OTHER;
  if (d->in.n_topic_cache < PETRAD_TOPIC_CACHE) {
    d->in.topic_cache[d->in.n_topic_cache].rkt = rkt;
    d->in.topic_cache[d->in.n_topic_cache++].kind = kind;
  }
  return kind;
}

/* Returns 0 when handled, −1 when it must be retried later (queue full). */
static int handle_message(petrad *d, rd_kafka_message_t *m) {
  const char *topic = rd_kafka_topic_name(m->rkt);
  char err[256];
  int made = 0, bad = 0;
  uint64_t tag = 0;
  int room = exq_free_slots(d->q);
  if (room < 1) return -1;
  if (room > PETRAD_MAX_EXAMPLES_PER_MESSAGE) room = PETRAD_MAX_EXAMPLES_PER_MESSAGE;
  int kind = topic_kind(d, m->rkt);
  const void *pl = m->payload;
  size_t plen = m->len;
  static const sreg_role role_of[] = {[IN_EVENTS] = SREG_EVENTS, [IN_LABELS] = SREG_LABELS,
                                      [IN_SERIES] = SREG_SERIES};
  if (kind != IN_OTHER && sreg_unframe(&d->wire, role_of[kind], m->payload, m->len, &pl, &plen, NULL, err,
                                       sizeof err)) {
    if (kind == IN_LABELS)
      d->in.labels++;
    else
      d->in.events++;
    bad = 1;
  } else if (kind == IN_EVENTS) {
    d->in.events++;
    Petra__V1__Event *e = wire_decode_event_in(&d->in.arena, pl, plen, err, sizeof err);
    if (!e || (made = features_event(d->in.feat, e, d->in.example, room, err, sizeof err)) < 0) bad = 1;
    if (e) tag = e->event_id;
  } else if (kind == IN_LABELS) {
    d->in.labels++;
    Petra__V1__Label *l = wire_decode_label_in(&d->in.arena, pl, plen, err, sizeof err);
    if (!l || (made = features_label(d->in.feat, l, d->in.example, err, sizeof err)) < 0) bad = 1;
  } else if (kind == IN_SERIES) {
    d->in.events++;
    Petra__V1__SeriesPoint *p = wire_decode_series_in(&d->in.arena, pl, plen, err, sizeof err);
    if (!p || (made = features_series(d->in.feat, p, d->in.example, err, sizeof err)) < 0) bad = 1;
  } else {
    snprintf(err, sizeof err, "message from unexpected topic %s", topic);
    bad = 1;
  }
  if (bad) {
    dead_letter(d, m, err);
  } else {
    for (int i = 0; i < made; i++)
      if (exq_push_example(d->q, d->in.example + (size_t)i * d->in.ef, tag) == 0) d->in.examples_queued++;
  }
  offset_entry *o = offset_slot(d, topic, m->partition);
  if (o) o->next = m->offset + 1;
  return 0;
}


static void on_consumer_ready(uv_poll_t *h, int status, int events);

/* Backpressure: the trainer's queue is full. Stop taking messages from librdkafka (keeping
 * the rest of the batch in hand) until the queue has drained to half; meanwhile librdkafka's
 * own prefetch queue fills to consumer.queued.max.messages.kbytes and it stops fetching, so
 * memory stays bounded, nothing is dropped, and there is no pause/seek/refetch round trip. */
static void hold(petrad *d) {
  if (!d->in.backpressure) d->in.pauses++;
  d->in.backpressure = 1;
  uv_poll_stop(&d->in.cpoll);
  uv_timer_start(&d->resume_timer, petrad_resume_check, 5, 5);
}

void petrad_kafka_unblock(petrad *d) {
  d->in.backpressure = 0;
  if (d->stopping || !d->in.consumer) return;
  uv_poll_start(&d->in.cpoll, UV_READABLE, on_consumer_ready);
  wake_fd(d->in.cfd);
}

/* Processes the batch in hand from batch_i. Returns 0 when done, −1 when the trainer's queue
 * filled (the rest stays in hand). */
static int serve_batch(petrad *d) {
  while (d->in.batch_i < d->in.batch_n) {
    rd_kafka_message_t *m = d->in.batch[d->in.batch_i];
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        LOG_WARN("consume_error", "error=\"%s\"", rd_kafka_message_errstr(m));
    } else if (handle_message(d, m) < 0) {
      return -1;
    }
    rd_kafka_message_destroy(m);
    d->in.batch_i++;
  }
  d->in.batch_i = d->in.batch_n = 0;
  return 0;
}

static void on_consumer_ready(uv_poll_t *h, int status, int events) {
  (void)status;
  (void)events;
  petrad *d = h->data;
  drain_fd(d->in.cfd);
  int budget = d->cfg.poll_budget;
  uint64_t events_before = d->in.events + d->in.labels + d->in.dead_letters;
  int more = 0;
  if (serve_batch(d) < 0) {
    hold(d);
    return;
  }
  /* bounded in messages and in time, so that timers and control clients wait at most
   * about a millisecond behind a backlog. Messages come one rd_kafka_consumer_poll at a time:
   * librdkafka 2.0's rd_kafka_consume_batch_queue skips offsets when partitions are paused
   * and resumed or rebalanced (fixed in 2.1, PR #4235), and petractl pause and rebalances
   * are routine. */
  double t_end = mono_us() + 1000;
  while (budget > 0 && !d->stopping) {
    if (mono_us() > t_end) {
      more = 1;
      break;
    }
    int want = budget < PETRAD_CONSUME_BATCH ? budget : PETRAD_CONSUME_BATCH;
    int n = 0;
    while (n < want) {
      rd_kafka_message_t *m = rd_kafka_consumer_poll(d->in.consumer, 0);
      if (!m) break;
      d->in.batch[n++] = m;
    }
    if (n <= 0) break;
    d->in.batch_i = 0;
    d->in.batch_n = (int)n;
    budget -= (int)n;
    if (serve_batch(d) < 0) {
      hold(d); /* queue full: keep the rest, take no more until there is room */
      break;
    }
    if (budget <= 0) more = 1;
  }
  if (more && !d->in.backpressure) wake_fd(d->in.cfd); /* more may be waiting: come back after other work */
  if (d->in.events + d->in.labels + d->in.dead_letters != events_before) {
    uint64_t now = clk_mono_ms();
    /* not brokers_down: librdkafka hands over prefetched messages long after the broker went
     * away; only a delivery (on_delivery) shows a broker answering */
    d->kafka_auth_error_ms = 0;
    if (!d->in.first_msg_ms) d->in.first_msg_ms = now;
    d->in.last_msg_ms = now;
  }
  if (d->in.examples_queued - d->in.examples_at_ckpt >= (uint64_t)d->cfg.checkpoint_interval_examples)
    petrad_request_checkpoint(d, 0);
}

/* ---------------------------------------------------------------- output */

typedef struct pub {
  int kind; /* PETRAD_PUB_SNAPSHOT */
  uint64_t version;
  int pending, failed;
  double built_us; /* when the trainer finished building it */
} pub;

static double mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  petrad *d = opaque;
  pub *p = m->_private;
  if (!m->err) d->brokers_down = 0; /* a broker took it */
  if (p && petrad_state_delivered(d, m)) return;
  if (!p) {
    if (m->err)
      LOG_WARN("produce_failed", "topic=%s error=%s", rd_kafka_topic_name(m->rkt),
               rd_kafka_err2name(m->err));
    return;
  }
  if (m->err) p->failed = 1;
  if (--p->pending == 0) {
    if (p->failed) {
      d->out.snapshot_publish_failures++;
      LOG_ERROR("snapshot_publish_failed", "version=%llu error=%s", (unsigned long long)p->version,
                rd_kafka_err2name(m->err));
    } else {
      d->out.snapshots_published++;
      d->brokers_down = 0;
      d->kafka_auth_error_ms = 0;
      d->out.last_snapshot_ms = clk_mono_ms();
      if (p->version > d->out.last_published_version) d->out.last_published_version = p->version;
      double ms = (mono_us() - p->built_us) / 1000.0;
      /* the first publish also pays for producer start-up and topic metadata: kept apart */
      if (d->out.first_publish_ms < 0)
        d->out.first_publish_ms = ms;
      else
        d->out.publish_ms[d->out.n_publish++ % PETRAD_PUBLISH_SAMPLES] = ms;
      prom_hist_observe(&d->out.publish_hist, ms / 1000.0);
      LOG_DEBUG("snapshot_published", "version=%llu", (unsigned long long)p->version);
    }
    free(p);
  }
}

static void on_producer_ready(uv_poll_t *h, int status, int events) {
  (void)status;
  (void)events;
  petrad *d = h->data;
  drain_fd(d->out.pfd);
  rd_kafka_poll(d->out.producer, 0);
}

uint8_t *petrad_chunk_pack(const char *set_id, const char *model_id, uint64_t version, uint32_t seq,
                           uint32_t total, const uint8_t *data, size_t len, const uint8_t digest[32],
                           size_t *n) {
  Petra__V1__SnapshotChunk c = PETRA__V1__SNAPSHOT_CHUNK__INIT;
  c.schema_version = PETRA_SCHEMA_VERSION;
  c.snapshot_id = (char *)set_id;
  c.model_id = (char *)model_id;
  c.version = version;
  c.seq = seq;
  c.total = total;
  c.data.len = len;
  c.data.data = (uint8_t *)data;
  c.sha256_of_whole.len = 32;
  c.sha256_of_whole.data = (uint8_t *)digest;
  *n = petra__v1__snapshot_chunk__get_packed_size(&c);
  uint8_t *buf = malloc(*n);
  if (buf) petra__v1__snapshot_chunk__pack(&c, buf);
  return buf;
}

void petrad_produce_snapshot(petrad *d, svc_out *m) {
  if (!d->out.producer || petrad_txn_ensure(d)) return;
  if (m->version > d->out.txn_snapshot_version) d->out.txn_snapshot_version = m->version;
  size_t limit = (size_t)d->cfg.max_message_bytes - 1024;
  const char *key = d->cfg.model_id;
  pub *p = calloc(1, sizeof *p);
  if (!p) return;
  p->kind = PETRAD_PUB_SNAPSHOT;
  p->version = m->version;
  p->built_us = m->built_us;
  if (m->len <= limit) {
    p->pending = 1;
    uint8_t *framed = NULL;
    size_t flen = 0;
    if (d->wire.confluent &&
        !(framed = sreg_frame(&d->wire, SREG_SNAPSHOTS, SREG_MSG_SNAPSHOT, m->bytes, m->len, &flen))) {
      free(p);
      d->out.snapshot_publish_failures++;
      return;
    }
    rd_kafka_resp_err_t e = rd_kafka_producev(
        d->out.producer, RD_KAFKA_V_TOPIC(d->cfg.topic_snapshots), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE(framed ? (void *)framed : m->bytes, framed ? flen : m->len),
        RD_KAFKA_V_HEADER("petra-type", "snapshot", -1), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(p), RD_KAFKA_V_END);
    free(framed);
    if (e) {
      LOG_ERROR("snapshot_produce_failed", "error=%s", rd_kafka_err2name(e));
      d->out.snapshot_publish_failures++;
      free(p);
    }
    return;
  }
  /* chunked: keys <model>/<version>/<seq> so compaction keeps every chunk */
  uint32_t total = (uint32_t)((m->len + limit - 1) / limit);
  uint8_t digest[32];
  petra_sha256_digest(m->bytes, m->len, digest);
  char sid[192];
  snprintf(sid, sizeof sid, "%s/%llu", d->cfg.model_id, (unsigned long long)m->version);
  p->pending = (int)total;
  for (uint32_t s = 0; s < total; s++) {
    size_t off = (size_t)s * limit, n;
    uint8_t *buf = petrad_chunk_pack(sid, d->cfg.model_id, m->version, s, total, m->bytes + off,
                                     m->len - off < limit ? m->len - off : limit, digest, &n);
    buf = sreg_frame_owned(&d->wire, SREG_SNAPSHOTS, SREG_MSG_CHUNK, buf, &n);
    if (!buf) {
      p->failed = 1;
      p->pending--;
      continue;
    }
    char ckey[256];
    snprintf(ckey, sizeof ckey, "%s/%u", sid, s);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        d->out.producer, RD_KAFKA_V_TOPIC(d->cfg.topic_snapshots), RD_KAFKA_V_KEY(ckey, strlen(ckey)),
        RD_KAFKA_V_VALUE(buf, n), RD_KAFKA_V_HEADER("petra-type", "chunk", -1),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_OPAQUE(p), RD_KAFKA_V_END);
    if (e) {
      free(buf);
      p->failed = 1;
      p->pending--;
    }
  }
  if (p->pending == 0) {
    d->out.snapshot_publish_failures++;
    free(p);
  }
}

void petrad_produce_metrics(petrad *d) {
  if (!d->out.producer || petrad_txn_ensure(d)) return; /* a standby publishes nothing */
  Petra__V1__Metrics m = PETRA__V1__METRICS__INIT;
  m.schema_version = PETRA_SCHEMA_VERSION;
  m.model_id = d->cfg.model_id;
  m.model_version = d->out.last_published_version;
  m.metric_name = (char *)petra_metric_name_for(d->spec.kind == PETRA_MODEL_SEQ ? d->spec.classes : 0);
  m.metric = atomic_load(&d->st->metric);
  if (d->spec.kind == PETRA_MODEL_TS) {
    m.naive_metric = atomic_load(&d->st->naive_metric);
    m.skill = m.metric > 0 ? m.naive_metric / m.metric : 0;
  }
  m.higher_is_better = d->spec.kind == PETRA_MODEL_SEQ;
  m.size_bytes = atomic_load(&d->st->champion_bytes);
  m.latency_p50_us = atomic_load(&d->st->champion_p50_us);
  m.latency_p99_us = atomic_load(&d->st->champion_p99_us);
  m.events = d->in.events;
  m.examples = atomic_load(&d->st->examples);
  m.train_steps = atomic_load(&d->st->train_steps);
  m.evolution_steps = atomic_load(&d->st->evolution_steps);
  m.dead_letters = d->in.dead_letters;
  m.loss = atomic_load(&d->st->loss);
  m.time_ms = (int64_t)clk_wall_ms();
  size_t n = petra__v1__metrics__get_packed_size(&m);
  uint8_t *buf = malloc(n ? n : 1);
  if (!buf) return;
  petra__v1__metrics__pack(&m, buf);
  if (!(buf = sreg_frame_owned(&d->wire, SREG_METRICS, SREG_MSG_METRICS, buf, &n))) return;
  rd_kafka_resp_err_t e = rd_kafka_producev(
      d->out.producer, RD_KAFKA_V_TOPIC(d->cfg.topic_metrics),
      RD_KAFKA_V_KEY(d->cfg.model_id, strlen(d->cfg.model_id)), RD_KAFKA_V_VALUE(buf, n),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_END);
  if (e) free(buf);
}

/* ---------------------------------------------------------------- embedded generator */

void petrad_gen_tick(uv_timer_t *t) {
  petrad *d = t->data;
  uint64_t now = clk_mono_ms();
  double due = d->gen_carry + d->cfg.embedded_rate * (double)(now - d->gen_last_ms) / 1000.0;
  d->gen_last_ms = now;
  int n = (int)due;
  if (n > 2500) n = 2500; /* per 10 ms tick (250k/s): keeps each tick short for the loop */
  /* The mock cluster keeps only the newest 100,000 messages (5 MB) per partition: a
   * generator far ahead of the consumer would have its input trimmed away before it is
   * read. So the embedded source is bounded like a real one: at most GEN_MAX_AHEAD
   * messages produced and not yet consumed (embedded.rate is then a ceiling). */
  int64_t consumed = (int64_t)(d->in.events + d->in.labels + d->in.dead_letters) - (int64_t)d->gen_consumed_at_start;
  int64_t room = GEN_MAX_AHEAD - ((int64_t)d->gen_made - consumed);
  if (room < n) {
    n = room > 0 ? (int)room : 0;
    d->gen_carry = 0;
    d->gen_throttled++;
  }
  d->gen_carry = due - n > 1 ? 0 : due - n;
  uint8_t buf[1024];
  char key[64];
  for (int i = 0; i < n; i++) {
    size_t len;
    const char *topic;
    if (d->spec.kind == PETRA_MODEL_TS) {
      len = gen_next_series(d->generator, buf, sizeof buf - SREG_MAX_HEADER); /* room to frame */
      topic = d->cfg.topic_series;
      snprintf(key, sizeof key, "gen-0");
    } else {
      int kind;
      len = gen_next_tx(d->generator, buf, sizeof buf - SREG_MAX_HEADER, &kind, key, sizeof key);
      topic = kind == GEN_EVENT ? d->cfg.topic_events : d->cfg.topic_labels;
    }
    /* one malformed message in 50,000 shows the dead-letter path working */
    if ((d->gen_made + 1) % 50000 == 0) {
      memcpy(buf, "\xff\xfe not protobuf", 16);
      len = 16;
      d->gen_bad++;
    } else if (d->wire.confluent) {
      sreg_role r = topic == d->cfg.topic_series ? SREG_SERIES : topic == d->cfg.topic_events ? SREG_EVENTS : SREG_LABELS;
      int mi = r == SREG_SERIES ? SREG_MSG_SERIES : r == SREG_EVENTS ? SREG_MSG_EVENT : SREG_MSG_LABEL;
      len = sreg_frame_into(buf, sizeof buf, d->wire.id[r], mi, buf, len);
      if (!len) continue;
    }
    rd_kafka_resp_err_t e = rd_kafka_producev(
        d->gen_producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE(buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) break; /* the generator waits; nothing is lost */
    d->gen_made++;
  }
  rd_kafka_poll(d->gen_producer, 0);
}

/* ---------------------------------------------------------------- start / close */

int petrad_kafka_make_consumer(petrad *d, char *err, size_t n) {
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  char sto[32];
  snprintf(sto, sizeof sto, "%d", d->cfg.ha_session_timeout_ms);
  int ha = d->cfg.ha_enabled;
  if (conf_set(conf, "bootstrap.servers", d->bootstrap, err, n) ||
      conf_set(conf, "group.id", d->cfg.group_id, err, n) ||
      conf_set(conf, "enable.auto.offset.store", "false", err, n) ||
      /* ha: offsets are committed only inside the owner's transactions */
      conf_set(conf, "enable.auto.commit", ha ? "false" : "true", err, n) ||
      conf_set(conf, "isolation.level", "read_committed", err, n) ||
      (ha && conf_set(conf, "session.timeout.ms", sto, err, n)) ||
      conf_set(conf, "auto.offset.reset", "earliest", err, n) ||
      conf_set(conf, "client.id", "petrad-consumer", err, n) ||
      /* librdkafka stops fetching a partition once this many messages are prefetched and
       * (2.0) notices the queue has drained only on its broker thread's next wakeup, up to a
       * second later: at its default of 100,000 a backlog is read at ~200k events/s. 300,000
       * reads it at ~460k/s (tests/bench/ingest.sh); memory stays bounded by
       * queued.max.messages.kbytes and about 250 bytes per queued message. */
      conf_set(conf, "queued.min.messages", "300000", err, n) ||
      (d->opt.embedded && conf_set(conf, "session.timeout.ms", "6000", err, n)) ||
      apply_pass(d, conf, "consumer", err, n)) {
    rd_kafka_conf_destroy(conf);
    return -1;
  }
  rd_kafka_conf_set_opaque(conf, d);
  rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
  rd_kafka_conf_set_error_cb(conf, petrad_kafka_on_error);
  char e[512];
  d->in.consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
  if (!d->in.consumer) {
    snprintf(err, n, "consumer: %s", e);
    return -1;
  }
  rd_kafka_poll_set_consumer(d->in.consumer);
  d->in.cq = rd_kafka_queue_get_consumer(d->in.consumer);
  d->in.cfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  rd_kafka_queue_io_event_enable(d->in.cq, d->in.cfd, &one, sizeof one);
  uv_poll_init(d->loop, &d->in.cpoll, d->in.cfd);
  d->in.cpoll.data = d;
  uv_poll_start(&d->in.cpoll, UV_READABLE, on_consumer_ready);
  wake_fd(d->in.cfd); /* events queued before the enable are not signalled */

  rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(2);
  if (d->spec.kind == PETRA_MODEL_SEQ) {
    rd_kafka_topic_partition_list_add(topics, d->cfg.topic_events, RD_KAFKA_PARTITION_UA);
    rd_kafka_topic_partition_list_add(topics, d->cfg.topic_labels, RD_KAFKA_PARTITION_UA);
  } else {
    rd_kafka_topic_partition_list_add(topics, d->cfg.topic_series, RD_KAFKA_PARTITION_UA);
  }
  rd_kafka_resp_err_t se = rd_kafka_subscribe(d->in.consumer, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (se) {
    snprintf(err, n, "subscribe: %s", rd_kafka_err2str(se));
    return -1;
  }
  return 0;
}

int petrad_kafka_make_producer(petrad *d, char *err, size_t n) {
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  char maxb[32];
  snprintf(maxb, sizeof maxb, "%d", d->cfg.max_message_bytes + 4096);
  if (conf_set(conf, "bootstrap.servers", d->bootstrap, err, n) ||
      conf_set(conf, "enable.idempotence", "true", err, n) ||
      (d->cfg.ha_enabled && conf_set(conf, "transactional.id", d->ha.txn_id, err, n)) ||
      conf_set(conf, "message.max.bytes", maxb, err, n) ||
      conf_set(conf, "linger.ms", "5", err, n) ||
      conf_set(conf, "client.id", "petrad-producer", err, n) ||
      apply_pass(d, conf, "producer", err, n)) {
    rd_kafka_conf_destroy(conf);
    return -1;
  }
  rd_kafka_conf_set_opaque(conf, d);
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_error_cb(conf, petrad_kafka_on_error);
  char e[512];
  d->out.producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
  if (!d->out.producer) {
    snprintf(err, n, "producer: %s", e);
    return -1;
  }
  d->out.pq = rd_kafka_queue_get_main(d->out.producer);
  d->out.pfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  rd_kafka_queue_io_event_enable(d->out.pq, d->out.pfd, &one, sizeof one);
  uv_poll_init(d->loop, &d->out.ppoll, d->out.pfd);
  d->out.ppoll.data = d;
  uv_poll_start(&d->out.ppoll, UV_READABLE, on_producer_ready);
  wake_fd(d->out.pfd);
  return 0;
}

static int start_embedded(petrad *d, char *err, size_t n) {
  char e[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "client.id", "petrad-mock", e, sizeof e);
  d->mock_owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
  if (!d->mock_owner) {
    snprintf(err, n, "mock cluster owner: %s", e);
    return -1;
  }
  d->mock = rd_kafka_mock_cluster_new(d->mock_owner, 1);
  if (!d->mock) {
    snprintf(err, n, "cannot start librdkafka's mock cluster");
    return -1;
  }
  snprintf(d->bootstrap, sizeof d->bootstrap, "%s", rd_kafka_mock_cluster_bootstraps(d->mock));
  const char *in[] = {d->cfg.topic_events, d->cfg.topic_labels, d->cfg.topic_series};
  const char *out[] = {d->cfg.topic_snapshots, d->cfg.topic_metrics, d->cfg.topic_deadletter};
  for (int i = 0; i < 3; i++) {
    rd_kafka_mock_topic_create(d->mock, in[i], 2, 1);
    rd_kafka_mock_topic_create(d->mock, out[i], 1, 1);
  }
  conf = rd_kafka_conf_new();
  if (conf_set(conf, "bootstrap.servers", d->bootstrap, err, n) ||
      conf_set(conf, "linger.ms", "20", err, n) ||
      conf_set(conf, "queue.buffering.max.messages", "200000", err, n) ||
      conf_set(conf, "client.id", "petrad-generator", err, n)) {
    rd_kafka_conf_destroy(conf);
    return -1;
  }
  d->gen_producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
  if (!d->gen_producer) {
    snprintf(err, n, "generator producer: %s", e);
    return -1;
  }
  gen_conf gc = gen_defaults();
  gc.seed = (uint64_t)d->cfg.seed;
  gc.entities = d->cfg.embedded_entities;
  if (d->spec.kind == PETRA_MODEL_SEQ) {
    gc.vocab = d->spec.n_fields > 0 ? d->spec.fields[0].vocab : 400;
    gc.channels = d->spec.n_fields > 1 ? d->spec.fields[1].vocab : 4;
  } else {
    gc.series_channels = d->spec.channels;
  }
  if (d->cfg.embedded_drift_at_s > 0)
    gc.drift_at_ms = gc.start_ms + (int64_t)(d->cfg.embedded_drift_at_s * 1000 * 50);
  d->generator = gen_new(&gc);
  if (!d->generator) {
    snprintf(err, n, "generator: out of memory");
    return -1;
  }
  d->gen_last_ms = clk_mono_ms();
  d->gen_consumed_at_start = d->in.events + d->in.labels + d->in.dead_letters;
  uv_timer_init(d->loop, &d->gen_timer);
  d->gen_timer.data = d;
  uv_timer_start(&d->gen_timer, petrad_gen_tick, 10, 10);
  LOG_INFO("embedded_cluster_started", "bootstrap=%s rate=%g entities=%d", d->bootstrap,
           d->cfg.embedded_rate, d->cfg.embedded_entities);
  return 0;
}

int petrad_kafka_start(petrad *d, char *err, size_t n) {
  if (d->opt.embedded) {
    if (start_embedded(d, err, n)) return -1;
  } else {
    snprintf(d->bootstrap, sizeof d->bootstrap, "%s", d->cfg.brokers);
  }
  if (petrad_kafka_make_producer(d, err, n) || petrad_kafka_make_consumer(d, err, n)) return -1;
  return 0;
}

void petrad_kafka_close(petrad *d) {
  if (d->in.consumer) {
    uv_poll_stop(&d->in.cpoll);
    /* messages in hand were not processed: redelivered after a restart */
    for (; d->in.batch_i < d->in.batch_n; d->in.batch_i++) rd_kafka_message_destroy(d->in.batch[d->in.batch_i]);
    d->in.batch_i = d->in.batch_n = 0;
    if (d->cfg.ha_enabled) {
      /* what the last transaction holds besides the final checkpoint (which committed) */
      if ((d->out.txn_open || petrad_txn_committing(d)) && !d->out.txn_fatal) petrad_txn_commit(d, NULL, 0, 1);
    } else {
      /* the final checkpoint's offsets are stored when the state topic has it: deliver first */
      if (d->out.producer && d->cfg.topic_state[0]) rd_kafka_flush(d->out.producer, 10000);
      rd_kafka_resp_err_t e = rd_kafka_commit(d->in.consumer, NULL, 0);
      if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
        LOG_WARN("final_commit_failed", "error=%s", rd_kafka_err2name(e));
    }
    rd_kafka_queue_destroy(d->in.cq);
    /* (a petrad that lost its lease was frozen or cut off past its session too: kclient.h) */
    kclient_consumer_close(d->in.consumer, d->in.lost || d->ha.lease_lost);
    d->in.consumer = NULL;
    close(d->in.cfd);
  }
  if (d->out.producer) {
    uv_poll_stop(&d->out.ppoll);
    if ((d->out.txn_open || petrad_txn_committing(d)) && !d->out.txn_fatal) petrad_txn_commit(d, NULL, 0, 1); /* a standby-to-be's last Metrics */
    rd_kafka_resp_err_t e = rd_kafka_flush(d->out.producer, d->out.txn_fatal || d->ha.lease_lost ? 1000 : 10000);
    if (e) {
      LOG_WARN("producer_flush_incomplete", "outstanding=%d action=\"dropped\"", rd_kafka_outq_len(d->out.producer));
      /* purged, their delivery reports (failed) come here and free what tracks them */
      rd_kafka_purge(d->out.producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      for (int i = 0; i < 20 && rd_kafka_outq_len(d->out.producer) > 0; i++) rd_kafka_poll(d->out.producer, 50);
    }
    rd_kafka_queue_destroy(d->out.pq);
    /* (a sender still waiting inside librdkafka keeps the producer: the process ends anyway) */
    if (petrad_txn_sender_stop(d, 5000) == 0) rd_kafka_destroy(d->out.producer);
    d->out.producer = NULL;
    close(d->out.pfd);
  }
  if (d->gen_producer) {
    rd_kafka_flush(d->gen_producer, 2000);
    rd_kafka_destroy(d->gen_producer);
    d->gen_producer = NULL;
  }
  if (d->mock) {
    rd_kafka_mock_cluster_destroy(d->mock);
    d->mock = NULL;
  }
  if (d->mock_owner) {
    rd_kafka_destroy(d->mock_owner);
    d->mock_owner = NULL;
  }
  gen_free(d->generator);
  d->generator = NULL;
}
