/* The training state in Kafka (topics.state): each durable checkpoint is also written to a
 * compacted topic, so that a host that lost its disk, or another host, resumes the model.
 * Layout (proto/petra.proto, StateManifest): the checkpoint's bytes in chunks keyed
 * <model>/state/<slot>/<seq>, then a manifest keyed <model>/state naming generation, slot,
 * chunk count, length and sha256. Generations alternate between two slots, so the set the
 * manifest names is never being overwritten. Input offsets are stored for commit only once
 * every message of the set is delivered: the committed offsets never run ahead of the state a
 * new host would restore. Loop thread only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kclient.h"
#include "log.h"
#include "petra.pb-c.h"
#include "petra/sha256.h"
#include "petra/snapshot.h"
#include "petrad.h"
#include "stateset.h"

/* delivery tracker: the offsets to store once the whole set is delivered */
typedef struct state_pub {
  int kind; /* PETRAD_PUB_STATE (see petrad_pub_kind) */
  int pending, failed;
  uint64_t generation;
  ckpt c; /* offsets only */
} state_pub;

static int produce(petrad *d, const char *key, const char *type, uint8_t *buf, size_t n, state_pub *p) {
  rd_kafka_resp_err_t e = rd_kafka_producev(
      d->out.producer, RD_KAFKA_V_TOPIC(d->cfg.topic_state), RD_KAFKA_V_KEY(key, strlen(key)),
      RD_KAFKA_V_VALUE(buf, n), RD_KAFKA_V_HEADER("petra-type", type, -1),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_OPAQUE(p), RD_KAFKA_V_END);
  if (e) {
    free(buf);
    LOG_ERROR("state_produce_failed", "key=%s error=%s", key, rd_kafka_err2name(e));
    return -1;
  }
  p->pending++;
  return 0;
}

void petrad_state_publish(petrad *d, const svc_out *m) {
  if (petrad_txn_ensure(d)) return; /* ha: not the owner any more, or fenced */
  state_pub *p = calloc(1, sizeof *p);
  if (!p) return;
  p->kind = PETRAD_PUB_STATE;
  p->generation = m->version;
  p->c.n_offsets = m->c.n_offsets;
  memcpy(p->c.offsets, m->c.offsets, sizeof(ckpt_offset) * (size_t)m->c.n_offsets);
  size_t limit = (size_t)d->cfg.max_message_bytes - 1024;
  uint32_t total = (uint32_t)((m->len + limit - 1) / limit);
  uint32_t slot = (uint32_t)(m->version % 2);
  uint8_t digest[32];
  petra_sha256_digest(m->bytes, m->len, digest);
  char sid[192], key[256];
  snprintf(sid, sizeof sid, "%s/state/%u", d->cfg.model_id, slot);
  int bad = 0;
  for (uint32_t s = 0; s < total && !bad; s++) {
    size_t off = (size_t)s * limit, n;
    uint8_t *buf = petrad_chunk_pack(sid, d->cfg.model_id, m->version, s, total, m->bytes + off,
                                     m->len - off < limit ? m->len - off : limit, digest, &n);
    if (!buf) {
      bad = 1;
      break;
    }
    snprintf(key, sizeof key, "%s/%u", sid, s);
    bad = produce(d, key, "state-chunk", buf, n, p) != 0;
  }
  if (!bad) {
    Petra__V1__StateManifest mf = PETRA__V1__STATE_MANIFEST__INIT;
    mf.schema_version = PETRA_SCHEMA_VERSION;
    mf.model_id = d->cfg.model_id;
    mf.generation = m->version;
    mf.slot = slot;
    mf.total = total;
    mf.length = m->len;
    mf.sha256.len = 32;
    mf.sha256.data = digest;
    mf.snapshot_version = d->out.txn_snapshot_version > d->out.committed_snapshot_version ? d->out.txn_snapshot_version
                                                                                   : d->out.committed_snapshot_version;
    mf.owner = d->ha.identity;
    size_t n = petra__v1__state_manifest__get_packed_size(&mf);
    uint8_t *buf = malloc(n);
    if (buf) {
      petra__v1__state_manifest__pack(&mf, buf);
      snprintf(key, sizeof key, "%s/state", d->cfg.model_id);
      bad = produce(d, key, "state-manifest", buf, n, p) != 0;
    } else {
      bad = 1;
    }
  }
  d->out.state_bytes_written += m->len;
  if (bad) p->failed = 1;
  if (p->pending == 0) {
    d->out.state_failures++;
    free(p);
    return;
  }
  if (d->cfg.ha_enabled) {
    /* the set and the input offsets it reflects, in one transaction: either a new owner sees
     * both or neither (the delivery reports arrive during the commit) */
    if (bad && d->out.txn_open) {
      petrad_txn_commit(d, NULL, 0, 0); /* what else is in it still commits; this state does not count */
      d->out.state_failures++;
    } else {
      /* counted when it ends (now, or when the broker answers: ha.c) */
      petrad_txn_commit(d, &m->c, m->version, d->stopping);
    }
  }
}

/* on_delivery's part for state messages; returns 1 when m was one */
int petrad_state_delivered(petrad *d, const rd_kafka_message_t *m) {
  state_pub *p = m->_private;
  if (!p || p->kind != PETRAD_PUB_STATE) return 0;
  if (m->err) p->failed = 1;
  if (--p->pending == 0) {
    if (p->failed) {
      d->out.state_failures++;
      LOG_ERROR("state_publish_failed", "generation=%llu error=%s action=\"offsets not committed for it\"",
                (unsigned long long)p->generation, rd_kafka_err2name(m->err));
    } else if (!d->cfg.ha_enabled) { /* ha: the transaction commits the offsets */
      d->out.state_generation_published = p->generation;
      petrad_kafka_store_offsets(d, &p->c);
      LOG_DEBUG("state_published", "generation=%llu offsets=%d", (unsigned long long)p->generation, p->c.n_offsets);
    }
    free(p);
  }
  return 1;
}

/* ---------------------------------------------------------------- restore */

int petrad_state_fetch(const petrad_config *cfg, const char *bootstrap, state_found *out, char *err, size_t n) {
  char e[512];
  memset(out, 0, sizeof *out);
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, e, sizeof e);
  /* only committed transactions (ha), and the end of a partition is where the reader stands
   * at PARTITION_EOF: with transactions the last offsets are commit markers, never delivered */
  rd_kafka_conf_set(conf, "isolation.level", "read_committed", e, sizeof e);
  rd_kafka_conf_set(conf, "enable.partition.eof", "true", e, sizeof e);
  rd_kafka_conf_set(conf, "enable.auto.commit", "false", e, sizeof e);
  rd_kafka_conf_set(conf, "group.id", "petrad-state-reader", e, sizeof e); /* assign only, no join */
  if (kclient_apply(conf, cfg, NULL, e, sizeof e)) {
    snprintf(err, n, "state reader: %s", e);
    rd_kafka_conf_destroy(conf);
    return -1;
  }
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
  if (!rk) {
    snprintf(err, n, "state reader: %s", e);
    return -1;
  }
  int rc = 0;
  stateset *set = stateset_new(cfg->model_id);
  const rd_kafka_metadata_t *md = NULL;
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, cfg->topic_state, NULL);
  if (!set || rd_kafka_metadata(rk, 0, rkt, &md, 10000) || md->topic_cnt != 1 || md->topics[0].err) {
    /* no topic yet: nothing to restore */
    rc = md && md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ? 0 : -1;
    if (rc) snprintf(err, n, "state topic %s: metadata unavailable", cfg->topic_state);
    goto done;
  }
  int np = md->topics[0].partition_cnt;
  rd_kafka_topic_partition_list_t *as = rd_kafka_topic_partition_list_new(np);
  int64_t *hi = calloc((size_t)np, sizeof *hi);
  int open = 0;
  for (int i = 0; i < np; i++) {
    int64_t lo = 0;
    int32_t pid = md->topics[0].partitions[i].id;
    if (rd_kafka_query_watermark_offsets(rk, cfg->topic_state, pid, &lo, &hi[i], 10000)) hi[i] = -1;
    if (hi[i] > lo) {
      rd_kafka_topic_partition_list_add(as, cfg->topic_state, pid)->offset = RD_KAFKA_OFFSET_BEGINNING;
      open++;
    }
  }
  if (open && !rd_kafka_assign(rk, as)) {
    /* read every partition to the high watermark seen at start, keeping the newest value of
     * each key, as compaction would */
    for (int idle = 0; open > 0 && idle < 300;) {
      rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
      if (!m) {
        idle++;
        continue;
      }
      idle = 0;
      int at_end = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
      if (!m->err && m->key) stateset_feed(set, m->key, m->key_len, m->payload, m->len);
      for (int i = 0; i < np; i++)
        if (md->topics[0].partitions[i].id == m->partition && hi[i] >= 0 && (at_end || m->offset + 1 >= hi[i])) {
          hi[i] = -1; /* read to the end */
          open--;
        }
      rd_kafka_message_destroy(m);
    }
    if (open > 0) {
      snprintf(err, n, "state topic %s: not read to its end within 30 s", cfg->topic_state);
      rc = -1;
    }
  }
  free(hi);
  rd_kafka_topic_partition_list_destroy(as);
  if (rc == 0) {
    char serr[256];
    rc = stateset_result(set, out, serr, sizeof serr);
    if (rc < 0) snprintf(err, n, "state topic %s: %s", cfg->topic_state, serr);
  }
done:
  stateset_free(set);
  if (md) rd_kafka_metadata_destroy(md);
  if (rkt) rd_kafka_topic_destroy(rkt);
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return rc;
}

typedef struct topic_store {
  state_store base;
  const petrad_config *cfg;
} topic_store;

static int topic_load(state_store *s, ckpt *c, uint64_t *version, char *owner, size_t owner_n, char *err, size_t n) {
  topic_store *ts = (topic_store *)s;
  state_found sf;
  int rc = petrad_state_fetch(ts->cfg, ts->cfg->brokers, &sf, err, n);
  *version = sf.snapshot_version;
  snprintf(owner, owner_n, "%s", sf.owner);
  if (rc == 1) {
    char derr[512];
    if (ckpt_decode(sf.buf, sf.len, c, derr, sizeof derr)) {
      snprintf(err, n, "the state topic's generation %llu does not decode: %s", (unsigned long long)sf.generation, derr);
      rc = -1;
    } else if (c->generation != sf.generation) {
      snprintf(err, n, "the state topic's manifest names generation %llu, its checkpoint says %llu",
               (unsigned long long)sf.generation, (unsigned long long)c->generation);
      ckpt_clear(c);
      rc = -1;
    }
  }
  free(sf.buf);
  return rc;
}

static void topic_destroy(state_store *s) { free(s); }

state_store *petrad_state_store(petrad *d) {
  topic_store *ts = calloc(1, sizeof *ts);
  if (!ts) return NULL;
  ts->cfg = &d->cfg;
  ts->base = (state_store){.name = "kafka", .load = topic_load, .destroy = topic_destroy};
  return &ts->base;
}
