/* kill -9 at random moments, restart, and nothing is lost: every produced labelled event
 * reaches the trainer at least once (the trainer's audit file lists the event id of every
 * example it was fed), and snapshot versions never go backwards on the topic.
 * With ha.enabled (exactly_once_across_kill_9_with_empty_disks) every restart also gets an
 * empty state directory — the host died with its disk — and the state comes from Kafka; the
 * audit's lineage (tests/audit_lineage.py) must hold every event id exactly once, and the
 * committed snapshot versions strictly increase.
 * PETRA_CRASH_KILLS (default 4) and PETRA_CRASH_SEED (default 5) set the number of kills and
 * the seed of their timing: tests/reliability/kill9.sh runs 50+ with random seeds. */
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>

#include "check.h"
#include "kafkatest.h"
#include "petra.pb-c.h"
#include "petra/rng.h"
#include "petra/snapshot.h"

extern char **environ;

#define N_EVENTS 30000

static char topic_events[128], topic_labels[128], topic_snap[128], group[128], audit[128];
static char topic_state[128], topic_lease[128];
static int ha_mode;

static pid_t spawn_petrad(const char *bs, const char *state, const char *run_for) {
  char a[8][320];
  snprintf(a[0], 320, "kafka.brokers=%s", bs);
  snprintf(a[1], 320, "topics.events=%s", topic_events);
  snprintf(a[2], 320, "topics.labels=%s", topic_labels);
  snprintf(a[3], 320, "topics.snapshots=%s", topic_snap);
  snprintf(a[4], 320, "kafka.group_id=%s", group);
  snprintf(a[5], 320, "trainer.audit_file=%s", audit);
  char *argv[64] = {PETRA_BINARY_DIR "/petrad", "--quiet", "--control-socket", "", "--state-dir", (char *)state};
  int k = 6;
  for (int i = 0; i < 6; i++) {
    argv[k++] = "--set";
    argv[k++] = a[i];
  }
  /* static membership: a restarted member takes its partitions back at once instead of
   * waiting for the killed one's session to time out */
  /* evolution off: this test is about durability, and the final run must drain the topic */
  const char *extra[] = {"snapshot.interval_s=0.5", "checkpoint.interval_s=0.7",
                         "consumer.session.timeout.ms=6000", "trainer.queue_capacity=512",
                         "consumer.group.instance.id=petrad-crash-test",
                         "evolution.interval_s=86400", "trainer.replay_capacity=1024"};
  for (int i = 0; i < 7; i++) {
    argv[k++] = "--set";
    argv[k++] = (char *)extra[i];
  }
  static char ha[4][200];
  snprintf(ha[0], sizeof ha[0], "topics.state=%s", topic_state);
  snprintf(ha[1], sizeof ha[1], "ha.lease_topic=%s", topic_lease);
  snprintf(ha[2], sizeof ha[2], "ha.enabled=1");
  /* static membership of the lease too: the restarted petrad takes the lease back at once */
  snprintf(ha[3], sizeof ha[3], "ha.instance_id=petrad-crash-test-lease");
  for (int i = 0; ha_mode && i < 4; i++) {
    argv[k++] = "--set";
    argv[k++] = ha[i];
  }
  if (run_for) {
    argv[k++] = "--run-for";
    argv[k++] = (char *)run_for;
  }
  argv[k] = NULL;
  pid_t pid;
  /* its log goes to our stderr, which ctest keeps */
  if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ)) return -1;
  return pid;
}

static void crash_rounds(void) {
  const char *bs = kt_bootstrap();
  REQUIRE(bs);
  kt_unique(topic_events, sizeof topic_events, "crash-events");
  kt_unique(topic_labels, sizeof topic_labels, "crash-labels");
  kt_unique(topic_snap, sizeof topic_snap, "crash-snapshots");
  kt_unique(group, sizeof group, "crash-petrad");
  kt_unique(topic_state, sizeof topic_state, "crash-state");
  kt_unique(topic_lease, sizeof topic_lease, "crash-lease");
  char state[] = "/tmp/petra-crash-XXXXXX";
  REQUIRE(mkdtemp(state));
  snprintf(audit, sizeof audit, "%s-audit", state);
  char cmd[600];

  /* labelled events: each becomes one example */
  const char *pconf[] = {"enable.idempotence", "true", "linger.ms", "10", NULL};
  rd_kafka_t *p = kt_client(RD_KAFKA_PRODUCER, bs, pconf, NULL);
  REQUIRE(p);
  petra_rng r;
  const char *ke = getenv("PETRA_CRASH_KILLS"), *se = getenv("PETRA_CRASH_SEED");
  int kills = ke ? atoi(ke) : 4;
  uint64_t seed = se ? strtoull(se, NULL, 10) : 5;
  fprintf(stderr, "kills %d, seed %llu\n", kills, (unsigned long long)seed);
  petra_rng_seed(&r, seed);
  for (int i = 0; i < N_EVENTS; i++) {
    char id[32];
    snprintf(id, sizeof id, "ent-%d", (int)petra_rng_below(&r, 300));
    Petra__V1__Category c = PETRA__V1__CATEGORY__INIT;
    c.field = "mcc";
    c.code = (int32_t)petra_rng_below(&r, 400);
    Petra__V1__Category *cats[] = {&c};
    Petra__V1__Event e = PETRA__V1__EVENT__INIT;
    e.schema_version = 1;
    e.entity_id = id;
    e.event_time_ms = 1700000000000LL + i * 1000LL;
    e.amount = 10 + petra_rng_uniform(&r) * 100;
    e.n_categories = 1;
    e.categories = cats;
    e.has_label = 1;
    e.label = (float)(c.code >= 200);
    e.event_id = (uint64_t)i + 1;
    uint8_t buf[256];
    size_t n = petra__v1__event__pack(&e, buf);
    while (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic_events), RD_KAFKA_V_KEY(id, strlen(id)),
                             RD_KAFKA_V_VALUE(buf, n), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
      rd_kafka_poll(p, 10);
  }
  CHECK_EQ_INT(rd_kafka_flush(p, 30000), 0);
  rd_kafka_destroy(p);

  for (int k = 0; k < kills; k++) {
    if (ha_mode) { /* the host died with its disk: nothing local survives */
      snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir %s", state, state);
      CHECK(system(cmd) == 0);
    }
    pid_t pid = spawn_petrad(bs, state, NULL);
    REQUIRE(pid > 0);
    struct timespec ts = {0, 0};
    double wait_s = 1.5 + 2.5 * petra_rng_uniform(&r);
    if (ha_mode) wait_s += 2.0; /* the takeover (fencing, reading the state) and the join take ~2 s */
    ts.tv_sec = (time_t)wait_s;
    ts.tv_nsec = (long)((wait_s - (double)ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    fprintf(stderr, "kill -9 #%d after %.2f s\n", k + 1, wait_s);
  }
  if (ha_mode) {
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir %s", state, state);
    CHECK(system(cmd) == 0);
  }
  pid_t pid = spawn_petrad(bs, state, "40");
  REQUIRE(pid > 0);
  int st;
  waitpid(pid, &st, 0);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);

  /* every event id reached the trainer */
  static unsigned char seen[N_EVENTS + 1];
  FILE *f = fopen(audit, "r");
  REQUIRE(f);
  unsigned long long id;
  long lines = 0;
  char line[128];
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '#' || sscanf(line, "%llu", &id) != 1) continue; /* lineage markers */
    if (id >= 1 && id <= N_EVENTS) seen[id] = 1;
    lines++;
  }
  fclose(f);
  int missing = 0;
  for (int i = 1; i <= N_EVENTS; i++) missing += !seen[i];
  fprintf(stderr, "audit: %ld lines for %d events (%.1f%% duplicates), %d missing\n", lines,
          N_EVENTS, 100.0 * (double)(lines - (N_EVENTS - missing)) / N_EVENTS, missing);
  CHECK_EQ_INT(missing, 0);
  /* exactly once in the model's lineage: across crashes from the local checkpoint (the
   * offsets it carries are where the next run starts), and with ha across empty disks */
  {
    snprintf(cmd, sizeof cmd, "python3 %s/tests/audit_lineage.py %d %s >&2", PETRA_SOURCE_DIR, N_EVENTS, audit);
    CHECK(system(cmd) == 0);
  }

  /* snapshot versions only go up, in topic order */
  char g2[160];
  kt_unique(g2, sizeof g2, "crash-reader");
  const char *cconf[] = {"group.id", g2, "auto.offset.reset", "earliest", NULL};
  rd_kafka_t *c = kt_client(RD_KAFKA_CONSUMER, bs, cconf, NULL);
  rd_kafka_poll_set_consumer(c);
  rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(t, topic_snap, RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(c, t);
  rd_kafka_topic_partition_list_destroy(t);
  int idle = 0, snaps = 0, regress = 0, bad = 0;
  uint64_t last = 0;
  while (idle < 40) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
    if (!m) {
      idle++;
      continue;
    }
    idle = 0;
    if (!m->err) {
      petra_snapshot_info info;
      petra_err err = {0};
      petra_model *mod = petra_snapshot_decode_model(m->payload, m->len, 0, &info, &err);
      if (!mod) {
        bad++;
      } else {
        snaps++;
        if (info.version <= last) regress++;
        last = info.version;
        petra_model_free(mod);
      }
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(c);
  rd_kafka_destroy(c);
  fprintf(stderr, "snapshots: %d, last version %llu, regressions %d\n", snaps,
          (unsigned long long)last, regress);
  CHECK(snaps >= 3);
  CHECK_EQ_INT(bad, 0);
  CHECK_EQ_INT(regress, 0);
  snprintf(cmd, sizeof cmd, "rm -rf %s %s", state, audit);
  CHECK(system(cmd) == 0);
}

TEST(no_event_is_lost_across_kill_9_restarts) {
  ha_mode = 0;
  crash_rounds();
}

TEST(exactly_once_across_kill_9_with_empty_disks) {
  ha_mode = 1;
  crash_rounds();
}
