/* petrad against the real broker: generated transactions (with malformed messages mixed in)
 * are produced to Kafka; petrad consumes, trains, checkpoints and publishes; the test then
 * reads the snapshot topic and verifies every snapshot (sha256, schema hash, versions
 * increasing), finds Metrics messages, and finds each malformed message in the dead-letter
 * topic with its original offset. A SIGTERM'd restart resumes from its checkpoint. */
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include "check.h"
#include "gen.h"
#include "kafkatest.h"
#include "petra.pb-c.h"
#include "petra/snapshot.h"
#include "snapread.h"

extern char **environ;

static char topic_events[128], topic_labels[128], topic_snap[128], topic_metrics[128],
    topic_dead[128], group[128];

/* Offsets of the malformed messages in the (one-partition) events topic, in order: the
 * idempotent producer keeps order, so an event's offset is the count of events before it. */
static int64_t bad_offsets[64];
static int n_bad_offsets;
static int64_t events_produced;

static int produce_stream(const char *bs, int n_records, uint64_t seed, int bad_every) {
  const char *pconf[] = {"enable.idempotence", "true", "linger.ms", "10", NULL};
  rd_kafka_t *p = kt_client(RD_KAFKA_PRODUCER, bs, pconf, NULL);
  if (!p) return -1;
  gen_conf gc = gen_defaults();
  gc.seed = seed;
  gc.entities = 500;
  gen *g = gen_new(&gc);
  uint8_t buf[1024];
  char key[64];
  int bad = 0;
  for (int i = 0; i < n_records; i++) {
    int kind;
    size_t n = gen_next_tx(g, buf, sizeof buf, &kind, key, sizeof key);
    const char *topic = kind == GEN_EVENT ? topic_events : topic_labels;
    if (bad_every && i % bad_every == bad_every - 1) {
      memcpy(buf, "\x08\x01\x1a\x03not-an-event", 16); /* truncated length field */
      n = 16;
      topic = topic_events;
      bad++;
      if (n_bad_offsets < 64) bad_offsets[n_bad_offsets++] = events_produced;
    }
    if (topic == topic_events) events_produced++;
    while (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                             RD_KAFKA_V_VALUE(buf, n), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
      rd_kafka_poll(p, 10);
  }
  rd_kafka_flush(p, 30000);
  rd_kafka_destroy(p);
  gen_free(g);
  return bad;
}

static pid_t spawn_petrad(const char *bs, const char *state, const char *run_for) {
  char a_brokers[256], a_events[200], a_labels[200], a_snap[200], a_met[200], a_dead[200],
      a_group[200];
  snprintf(a_brokers, sizeof a_brokers, "kafka.brokers=%s", bs);
  snprintf(a_events, sizeof a_events, "topics.events=%s", topic_events);
  snprintf(a_labels, sizeof a_labels, "topics.labels=%s", topic_labels);
  snprintf(a_snap, sizeof a_snap, "topics.snapshots=%s", topic_snap);
  snprintf(a_met, sizeof a_met, "topics.metrics=%s", topic_metrics);
  snprintf(a_dead, sizeof a_dead, "topics.deadletter=%s", topic_dead);
  snprintf(a_group, sizeof a_group, "kafka.group_id=%s", group);
  char *argv[] = {PETRA_BINARY_DIR "/petrad", "--quiet", "--control-socket", "", "--state-dir", (char *)state,
                  "--set", a_brokers, "--set", a_events, "--set", a_labels, "--set", a_snap,
                  "--set", a_met, "--set", a_dead, "--set", a_group,
                  "--set", "snapshot.interval_s=2", "--set", "checkpoint.interval_s=1",
                  "--set", "metrics.interval_s=1", "--set", "kafka.max_message_bytes=40000",
                  "--run-for", (char *)run_for, NULL};
  pid_t pid;
  if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ)) return -1;
  return pid;
}

typedef struct seen {
  int snapshots, chunks_assembled, bad_snapshots, metrics, dead;
  uint64_t last_version;
  int versions_regressed;
  int64_t dead_offsets[64];
} seen;

/* Reassembles chunked snapshots (this test uses a small message limit to force chunking). */
static void read_outputs(const char *bs, seen *s) {
  char g2[160];
  kt_unique(g2, sizeof g2, "e2e-reader");
  const char *cconf[] = {"group.id", g2, "auto.offset.reset", "earliest", NULL};
  rd_kafka_t *c = kt_client(RD_KAFKA_CONSUMER, bs, cconf, NULL);
  rd_kafka_poll_set_consumer(c);
  rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(3);
  rd_kafka_topic_partition_list_add(t, topic_snap, RD_KAFKA_PARTITION_UA);
  rd_kafka_topic_partition_list_add(t, topic_metrics, RD_KAFKA_PARTITION_UA);
  rd_kafka_topic_partition_list_add(t, topic_dead, RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(c, t);
  rd_kafka_topic_partition_list_destroy(t);
  snapread *sr = snapread_new(); /* the readers' reassembly: whole messages and chunk sets */
  int idle = 0;
  uint64_t hash = 0;
  while (idle < 50) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
    if (!m) {
      idle++;
      continue;
    }
    if (m->err) {
      rd_kafka_message_destroy(m);
      continue;
    }
    idle = 0;
    const char *topic = rd_kafka_topic_name(m->rkt);
    if (!strcmp(topic, topic_snap)) {
      const uint8_t *snap;
      size_t snap_len;
      char err[256];
      rd_kafka_headers_t *hdrs;
      const void *hv;
      size_t hl;
      int chunk = rd_kafka_message_headers(m, &hdrs) == 0 &&
                  rd_kafka_header_get_last(hdrs, "petra-type", &hv, &hl) == 0 && hl == 5 &&
                  !memcmp(hv, "chunk", 5);
      if (snapread_feed(sr, NULL, m, &snap, &snap_len, err, sizeof err) == 1) {
        if (chunk) s->chunks_assembled++;
        petra_snapshot_info info;
        petra_err perr = {0};
        petra_model *mod = petra_snapshot_decode_model(snap, snap_len, hash, &info, &perr);
        if (!mod) {
          s->bad_snapshots++;
          fprintf(stderr, "snapshot rejected: %s\n", perr.msg);
        } else {
          hash = info.feature_schema_hash; /* all later ones must match the first */
          s->snapshots++;
          if (info.version <= s->last_version) s->versions_regressed++;
          s->last_version = info.version;
          petra_model_free(mod);
        }
      } else if (err[0]) {
        s->bad_snapshots++;
        fprintf(stderr, "snapshot chunk rejected: %s\n", err);
      }
    } else if (!strcmp(topic, topic_metrics)) {
      Petra__V1__Metrics *mm = petra__v1__metrics__unpack(NULL, m->len, m->payload);
      if (mm && mm->schema_version == 1) s->metrics++;
      if (mm) petra__v1__metrics__free_unpacked(mm, NULL);
    } else if (!strcmp(topic, topic_dead)) {
      Petra__V1__DeadLetter *dl = petra__v1__dead_letter__unpack(NULL, m->len, m->payload);
      if (dl && !strcmp(dl->topic, topic_events) && dl->payload.len == 16 && s->dead < 64)
        s->dead_offsets[s->dead++] = dl->offset;
      if (dl) petra__v1__dead_letter__free_unpacked(dl, NULL);
    }
    rd_kafka_message_destroy(m);
  }
  snapread_free(sr);
  rd_kafka_consumer_close(c);
  rd_kafka_destroy(c);
}

static int wait_exit(pid_t pid) {
  int st;
  if (waitpid(pid, &st, 0) != pid) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

TEST(petrad_trains_from_real_kafka_and_publishes_verified_snapshots) {
  const char *bs = kt_bootstrap();
  REQUIRE(bs);
  kt_unique(topic_events, sizeof topic_events, "e2e-events");
  kt_unique(topic_labels, sizeof topic_labels, "e2e-labels");
  kt_unique(topic_snap, sizeof topic_snap, "e2e-snapshots");
  kt_unique(topic_metrics, sizeof topic_metrics, "e2e-metrics");
  kt_unique(topic_dead, sizeof topic_dead, "e2e-dead");
  kt_unique(group, sizeof group, "e2e-petrad");
  int bad = produce_stream(bs, 60000, 1, 10000);
  CHECK_EQ_INT(bad, 6);
  char state[] = "/tmp/petra-e2e-XXXXXX";
  REQUIRE(mkdtemp(state));
  pid_t pid = spawn_petrad(bs, state, "12");
  REQUIRE(pid > 0);
  CHECK_EQ_INT(wait_exit(pid), 0);
  seen s = {0};
  read_outputs(bs, &s);
  fprintf(stderr, "snapshots=%d (chunked %d) bad=%d metrics=%d dead=%d last_version=%llu\n",
          s.snapshots, s.chunks_assembled, s.bad_snapshots, s.metrics, s.dead,
          (unsigned long long)s.last_version);
  CHECK(s.snapshots >= 2);
  CHECK(s.chunks_assembled >= 2); /* ~104 KB snapshots over a 40 KB message limit */
  CHECK_EQ_INT(s.bad_snapshots, 0);
  CHECK_EQ_INT(s.versions_regressed, 0);
  CHECK(s.metrics >= 3);
  CHECK_EQ_INT(s.dead, 6);
  /* each dead letter names the offset of one malformed message, each malformed message once */
  int64_t got[64];
  int ng = s.dead < 64 ? s.dead : 64;
  memcpy(got, s.dead_offsets, sizeof(int64_t) * (size_t)ng);
  for (int i = 1; i < ng; i++) /* sort: the dead letters may arrive in any order */
    for (int j = i; j > 0 && got[j - 1] > got[j]; j--) {
      int64_t t = got[j];
      got[j] = got[j - 1];
      got[j - 1] = t;
    }
  CHECK_EQ_INT(ng, n_bad_offsets);
  for (int i = 0; i < ng && i < n_bad_offsets; i++)
    CHECK_MSG(got[i] == bad_offsets[i], "dead letter %d at offset %lld, malformed message at %lld", i,
              (long long)got[i], (long long)bad_offsets[i]);

  /* a second run resumes from the checkpoint: versions continue upward, no dead letter is
   * produced twice for input already checkpointed */
  produce_stream(bs, 10000, 2, 0);
  uint64_t first_last = s.last_version;
  pid = spawn_petrad(bs, state, "6");
  REQUIRE(pid > 0);
  CHECK_EQ_INT(wait_exit(pid), 0);
  seen s2 = {0};
  read_outputs(bs, &s2);
  CHECK(s2.last_version > first_last);
  CHECK_EQ_INT(s2.versions_regressed, 0);
  CHECK_EQ_INT(s2.dead, 6);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf %s", state);
  CHECK(system(cmd) == 0);
}
