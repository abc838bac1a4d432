/* Scoring parity, end to end with the real broker: generated transactions go to Kafka (and,
 * from the same seed, to a CSV file); petrad trains on them and publishes snapshots; then
 *   - `petra score` (Kafka mode) scores every event with the newest snapshot into a topic,
 *   - `petra score` (file mode) scores the CSV with that snapshot saved by petra inspect,
 *   - this test recomputes each score itself: the events read back from the topic, the
 *     shared feature state, and the plan compiled from the same snapshot, as petrad's
 *     evaluation does (petra_plan_score),
 * Kafka mode and the reference must agree bit for bit for every event, with the snapshot's
 * version on every Score; file mode scores the same events within 1e-5 (the CSV holds the
 * inputs as rounded text). For this fp32 snapshot the plan must also match the
 * model's forward pass (petrad's prequential scoring) within 1e-5. Then a running scorer is
 * fed a truncated and a corrupted snapshot (rejected, its plan kept) and a valid newer one
 * (taken). */
#include <math.h>
#include <stdarg.h>

#include "check.h"
#include "config.h"
#include "csv.h"
#include "feature_state.h"
#include "kafkatest.h"
#include "petra.pb-c.h"
#include "petra/plan.h"
#include "petra/snapshot.h"
#include "wire.h"

#define N_RECORDS 30000
#define SEED 9

static char tmp[256];

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...) {
  char cmd[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  int rc = system(cmd);
  if (rc) fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
  return rc;
}

typedef struct line {
  char text[128];
} line;
typedef struct lines {
  line *v;
  int n, cap;
} lines;

static void add(lines *l, const char *entity, long long t, float score) {
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 1024;
    l->v = realloc(l->v, sizeof(line) * (size_t)l->cap);
  }
  snprintf(l->v[l->n++].text, sizeof(line), "%s,%lld,%.9g", entity, t, score);
}

static int cmp_line(const void *a, const void *b) { return strcmp(((const line *)a)->text, ((const line *)b)->text); }

static int compare(lines *a, lines *b, const char *what) {
  qsort(a->v, (size_t)a->n, sizeof(line), cmp_line);
  qsort(b->v, (size_t)b->n, sizeof(line), cmp_line);
  int diff = a->n != b->n;
  for (int i = 0; i < a->n && i < b->n; i++)
    if (strcmp(a->v[i].text, b->v[i].text)) {
      if (diff < 5) fprintf(stderr, "%s: %s != %s\n", what, a->v[i].text, b->v[i].text);
      diff++;
    }
  if (a->n != b->n) fprintf(stderr, "%s: %d vs %d scores\n", what, a->n, b->n);
  return diff;
}

/* Reads every message of a topic from the beginning until all partitions hit EOF. */
typedef void (*msg_fn)(void *ctx, const rd_kafka_message_t *m);
static int read_topic(const char *bs, const char *topic, msg_fn fn, void *ctx) {
  char g[200];
  kt_unique(g, sizeof g, "parity-reader");
  const char *kv[] = {"group.id", g, "auto.offset.reset", "earliest", "enable.partition.eof", "true",
                      "enable.auto.commit", "false", NULL};
  rd_kafka_t *k = kt_client(RD_KAFKA_CONSUMER, bs, kv, NULL);
  if (!k) return -1;
  rd_kafka_poll_set_consumer(k);
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(k, topic, NULL);
  int np = 0;
  if (rd_kafka_metadata(k, 0, rkt, &md, 10000) == 0 && md->topic_cnt == 1) np = md->topics[0].partition_cnt;
  rd_kafka_topic_partition_list_t *a = rd_kafka_topic_partition_list_new(np);
  for (int p = 0; p < np; p++) rd_kafka_topic_partition_list_add(a, topic, md->topics[0].partitions[p].id)->offset = RD_KAFKA_OFFSET_BEGINNING;
  if (md) rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(rkt);
  rd_kafka_assign(k, a);
  rd_kafka_topic_partition_list_destroy(a);
  int eof = 0, n = 0;
  time_t t0 = time(NULL);
  while (eof < np && time(NULL) - t0 < 120) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(k, 200);
    if (!m) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) eof++;
    else if (!m->err) {
      fn(ctx, m);
      n++;
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(k);
  rd_kafka_destroy(k);
  return np && eof == np ? n : -1;
}

typedef struct ref_ctx {
  features *feat;
  petra_loaded *l;
  petra_model *model;
  void *scratch;
  float *ex, *tmp;
  lines out;
  int bad;
  double max_fwd_diff;
  uint8_t *snap;
  size_t snap_len;
} ref_ctx;

static void ref_event(void *p, const rd_kafka_message_t *m) {
  ref_ctx *c = p;
  char err[256];
  Petra__V1__Event *e = wire_decode_event(m->payload, m->len, err, sizeof err);
  if (!e || features_event(c->feat, e, c->tmp, 16, err, sizeof err) < 0 ||
      !features_entity_example(c->feat, e->entity_id, c->ex)) {
    c->bad++;
  } else {
    float out[4], fwd[4];
    petra_plan_score(c->l->plan, 1, c->ex, out, c->scratch);
    petra_model_forward(c->model, 1, c->ex, fwd);
    double d = fabs((double)out[0] - fwd[0]) / fmax(1.0, fabs(fwd[0]));
    if (d > c->max_fwd_diff) c->max_fwd_diff = d;
    add(&c->out, e->entity_id, (long long)e->event_time_ms, out[0]);
  }
  wire_free(e);
}

/* The reference scorer: the snapshot petra inspect saved to tmp/snap.bin, its plan and
 * model, and a feature state with its encoder frozen (as scorers use it). */
#define NEED(x)                                                  \
  do {                                                           \
    if (!(x)) {                                                  \
      fprintf(stderr, "reference: %s failed\n", #x);             \
      return -1;                                                 \
    }                                                            \
  } while (0)
static int load_reference(ref_ctx *c) {
  petrad_config cfg;
  petrad_config_defaults(&cfg);
  petra_model_spec spec;
  NEED(petra_model_spec_parse(cfg.model_spec, &spec, NULL) == 0);
  char err[512];
  features_conf fc;
  petrad_config_features(&cfg, &fc);
  c->feat = features_new_conf(&spec, &fc, err, sizeof err);
  NEED(c->feat);
  char path[600];
  snprintf(path, sizeof path, "%s/snap.bin", tmp);
  FILE *sf = fopen(path, "rb");
  NEED(sf);
  static uint8_t sb[1 << 22];
  size_t slen = fread(sb, 1, sizeof sb, sf);
  c->snap = sb;
  c->snap_len = slen;
  fclose(sf);
  petra_err pe = {0};
  c->l = petra_snapshot_load(sb, slen, petra_feature_schema_hash(features_schema(c->feat)), &pe);
  NEED(c->l);
  NEED(c->l->info.genome[0] == 0);
  /* the reference forms inputs with the snapshot's encoder state, frozen, as scorers do */
  NEED(c->l->encoder);
  NEED(features_use_encoder(c->feat, c->l->encoder, 1, err, sizeof err) == 0);
  c->model = petra_snapshot_decode_model(sb, slen, 0, NULL, &pe);
  NEED(c->model);
  c->scratch = aligned_alloc(64, (petra_plan_scratch_bytes(c->l->plan, 1) + 63) / 64 * 64);
  c->ex = malloc(sizeof(float) * (size_t)features_example_floats(c->feat));
  c->tmp = malloc(sizeof(float) * 16 * (size_t)features_example_floats(c->feat));
  return 0;
}
#undef NEED

typedef struct score_ctx {
  lines out;
  uint64_t version;
  int wrong_version, bad;
} score_ctx;

static void score_msg(void *p, const rd_kafka_message_t *m) {
  score_ctx *c = p;
  Petra__V1__Score *s = petra__v1__score__unpack(NULL, m->len, m->payload);
  if (!s || s->n_scores != 1) {
    c->bad++;
  } else {
    if (s->model_version != c->version) c->wrong_version++;
    add(&c->out, s->entity_id, (long long)s->event_time_ms, s->scores[0]);
  }
  if (s) petra__v1__score__free_unpacked(s, NULL);
}

/* Writes tmp/petrad.conf for these topics (plus extra lines), lets petrad train on them for
 * run_for seconds and saves the newest snapshot to tmp/snap.bin. */
static int train_and_save(const char *bs, const char *ev, const char *lab, const char *snap, const char *met,
                          const char *dead, const char *extra, int run_for, char *conf, size_t n) {
  const char *bin = PETRA_BINARY_DIR;
  snprintf(conf, n, "%s/petrad.conf", tmp);
  FILE *f = fopen(conf, "w");
  if (!f) return -1;
  fprintf(f,
          "kafka.brokers = %s\ntopics.events = %s\ntopics.labels = %s\ntopics.snapshots = %s\n"
          "topics.metrics = %s\ntopics.deadletter = %s\nkafka.group_id = %s-g\nsnapshot.interval_s = 2\n"
          "consumer.auto.offset.reset = earliest\nstate.dir = %s/state\n%s",
          bs, ev, lab, snap, met, dead, ev, tmp, extra);
  fclose(f);
  if (run("%s/petrad --config %s --control-socket '' --quiet --run-for %d > %s/petrad.out 2> %s/petrad.err", bin, conf,
          run_for, tmp, tmp))
    return -1;
  return run("%s/petra inspect --from-kafka --brokers %s --topic %s --save %s/snap.bin --wait 20 > %s/inspect.txt", bin,
             bs, snap, tmp, tmp);
}

TEST(petra_score_matches_the_plan_in_kafka_and_file_modes) {
  const char *bs = kt_bootstrap();
  REQUIRE(bs);
  snprintf(tmp, sizeof tmp, "/tmp/petra-parity-XXXXXX");
  REQUIRE(mkdtemp(tmp));
  char ev[128], lab[128], snap[128], met[128], dead[128], out[128];
  kt_unique(ev, sizeof ev, "parity.events");
  kt_unique(lab, sizeof lab, "parity.labels");
  kt_unique(snap, sizeof snap, "parity.snapshots");
  kt_unique(met, sizeof met, "parity.metrics");
  kt_unique(dead, sizeof dead, "parity.dead");
  kt_unique(out, sizeof out, "parity.scores");
  const char *bin = PETRA_BINARY_DIR;
  REQUIRE(run("%s/petra gen --count %d --seed %d --brokers %s --events-topic %s --labels-topic %s 2>/dev/null", bin,
              N_RECORDS, SEED, bs, ev, lab) == 0);
  REQUIRE(run("%s/petra gen --count %d --seed %d > %s/gen.csv", bin, N_RECORDS, SEED, tmp) == 0);
  char conf[512];
  REQUIRE(train_and_save(bs, ev, lab, snap, met, dead, "", 10, conf, sizeof conf) == 0);
  REQUIRE(run("%s/petra score --config %s --start earliest --group %s-score --output-topic %s --wait-snapshot 30 "
              "--exit-at-end > %s/score.json 2> %s/score.err",
              bin, conf, ev, out, tmp, tmp) == 0);
  REQUIRE(run("%s/petra score --config %s --snapshot %s/snap.bin --csv %s/gen.csv --out %s/file.csv > %s/file.json", bin,
              conf, tmp, tmp, tmp, tmp) == 0);

  /* the reference */
  ref_ctx rc = {0};
  REQUIRE(load_reference(&rc) == 0);
  uint8_t *sb = rc.snap;
  size_t slen = rc.snap_len;
  petra_err pe = {0};
  char err[512], path[600];
  int n_events = read_topic(bs, ev, ref_event, &rc);
  CHECK(n_events > N_RECORDS / 2);
  CHECK_EQ_INT(rc.bad, 0);
  CHECK_MSG(rc.max_fwd_diff <= 1e-5, "fp32 plan vs model forward: %g", rc.max_fwd_diff);

  /* Kafka mode */
  score_ctx sc = {.version = rc.l->info.version};
  int n_scores = read_topic(bs, out, score_msg, &sc);
  CHECK(n_scores > 0);
  CHECK_EQ_INT(sc.bad, 0);
  CHECK_EQ_INT(sc.wrong_version, 0);
  CHECK_EQ_INT(compare(&sc.out, &rc.out, "kafka mode vs reference"), 0);

  /* file mode: every event of the CSV */
  lines file = {0};
  snprintf(path, sizeof path, "%s/file.csv", tmp);
  csv_reader *r = csv_open(path, err, sizeof err);
  REQUIRE(r);
  char **fl;
  int nf;
  int wrong_v = 0;
  while (csv_next(r, &fl, &nf, err, sizeof err) == 1) {
    if (strtoull(fl[2], NULL, 10) != rc.l->info.version) wrong_v++;
    add(&file, fl[0], strtoll(fl[1], NULL, 10), strtof(fl[3], NULL));
  }
  csv_close(r);
  CHECK_EQ_INT(wrong_v, 0);
  /* the CSV carries amounts and hour_sin/cos as rounded text (5 decimals), so file mode sees
   * slightly different inputs than the protobuf events: same events, scores within 1e-4 */
  qsort(file.v, (size_t)file.n, sizeof(line), cmp_line);
  qsort(rc.out.v, (size_t)rc.out.n, sizeof(line), cmp_line);
  CHECK_EQ_INT(file.n, rc.out.n);
  double max_d = 0;
  int key_diff = 0;
  for (int i = 0; i < file.n && i < rc.out.n; i++) {
    const char *a = strrchr(file.v[i].text, ','), *b = strrchr(rc.out.v[i].text, ',');
    if (a - file.v[i].text != b - rc.out.v[i].text || strncmp(file.v[i].text, rc.out.v[i].text, (size_t)(a - file.v[i].text))) {
      key_diff++;
      continue;
    }
    double d = fabs(strtod(a + 1, NULL) - strtod(b + 1, NULL));
    if (d > max_d) max_d = d;
  }
  CHECK_EQ_INT(key_diff, 0);
  CHECK_MSG(max_d < 1e-5, "file mode vs reference: max |diff| %g", max_d);
  fprintf(stderr, "parity: %d events, %d kafka-mode scores (bit-exact), %d file-mode scores (max diff %.2g), snapshot v%llu\n",
          n_events, sc.out.n, file.n, max_d, (unsigned long long)rc.l->info.version);
  /* bad snapshots on the topic: a running scorer rejects a truncated and a corrupted one
   * (keeping its plan) and takes a valid newer one */
  {
    char out2[128];
    kt_unique(out2, sizeof out2, "parity.scores2");
    REQUIRE(run("timeout 60 %s/petra score --config %s --group %s-score2 --output-topic %s --wait-snapshot 30 "
                "--run-for 14 > %s/score2.json 2> %s/score2.err &",
                bin, conf, ev, out2, tmp, tmp) == 0);
    sleep(5);
    const char *pc[] = {"enable.idempotence", "true", NULL};
    rd_kafka_t *p = kt_client(RD_KAFKA_PRODUCER, bs, pc, NULL);
    REQUIRE(p);
    uint8_t *flipped = malloc(slen);
    memcpy(flipped, sb, slen);
    flipped[slen / 2] ^= 0x40;
    petra_snapshot_info info = rc.l->info;
    info.version += 100;
    uint8_t *newer;
    size_t newer_len;
    REQUIRE(petra_snapshot_encode_model(rc.model, &info, &newer, &newer_len, &pe) == 0);
    const void *vals[3] = {sb, flipped, newer};
    size_t lens[3] = {slen / 2, slen, newer_len};
    for (int i = 0; i < 3; i++)
      CHECK(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(snap), RD_KAFKA_V_KEY("petra-default", 13),
                              RD_KAFKA_V_VALUE((void *)vals[i], lens[i]), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_END) == 0);
    CHECK_EQ_INT(rd_kafka_flush(p, 10000), 0);
    rd_kafka_destroy(p);
    free(flipped);
    free(newer);
    char jpath[600], js[2048] = "";
    snprintf(jpath, sizeof jpath, "%s/score2.json", tmp);
    for (int i = 0; i < 300 && !strchr(js, '}'); i++) {
      usleep(100000);
      FILE *jf = fopen(jpath, "r");
      if (jf) {
        size_t k = fread(js, 1, sizeof js - 1, jf);
        js[k] = 0;
        fclose(jf);
      }
    }
    char want[64];
    snprintf(want, sizeof want, "\"model_version\":%llu", (unsigned long long)info.version);
    CHECK_MSG(strstr(js, want) != NULL, "the valid newer snapshot was not taken: %s", js);
    const char *rj = strstr(js, "\"snapshots_rejected\":");
    CHECK_MSG(rj && atoi(rj + 21) >= 2, "bad snapshots not rejected: %s", js);
  }

  free(file.v);
  free(sc.out.v);
  free(rc.out.v);
  free(rc.ex);
  free(rc.tmp);
  free(rc.scratch);
  petra_model_free(rc.model);
  petra_loaded_free(rc.l);
  features_free(rc.feat);
  run("rm -rf %s", tmp);
}

/* Scale-out: scorers in one consumer group split a 4-partition events topic and hand
 * partitions over mid-stream (one scores the first 7,000 events and exits, three more share
 * the next stretch and one of them is killed with -9 mid-stream, a last one finishes). Each takes over a partition at the group's committed
 * offset after rebuilding its entities' feature state from the messages before it
 * (--rebuild-events): the union of their scores, duplicates (at-least-once) removed, must equal
 * the single-scorer reference bit for bit. Without the rebuild (--rebuild-events 0) they must
 * not: the test can tell. */
static int scale_out(const char *conf, const char *group, const char *out, long rebuild, int with_kill) {
  const char *bin = PETRA_BINARY_DIR;
  /* each run is bounded (timeout), and the two that share the middle stretch stop after 30 s
   * at the latest: the killed one may have scored so much that they never reach 6,000 */
  const char *common = "--start earliest --wait-snapshot 30";
  if (run("timeout 200 %s/petra score --config %s %s --group %s --output-topic %s --rebuild-events %ld --max-events 7000 "
          "> %s/%s.x.json 2> %s/%s.x.err",
          bin, conf, common, group, out, rebuild, tmp, group, tmp, group))
    return -1;
  /* three at once, one of them killed (-9) mid-stream: its partitions go to the others, from
   * the offsets it last committed */
  if (with_kill &&
      run("(timeout 200 %s/petra score --config %s %s --group %s --output-topic %s --rebuild-events %ld --max-events 6000 --run-for 30 "
          "> %s/%s.y.json 2> %s/%s.y.err & "
          "timeout 200 %s/petra score --config %s %s --group %s --output-topic %s --rebuild-events %ld --max-events 6000 --run-for 30 "
          "> %s/%s.z.json 2> %s/%s.z.err & "
          "%s/petra score --config %s %s --group %s --output-topic %s --rebuild-events %ld "
          "> %s/%s.k.json 2> %s/%s.k.err & k=$!; sleep 4; kill -9 $k; wait)",
          bin, conf, common, group, out, rebuild, tmp, group, tmp, group, bin, conf, common, group, out, rebuild, tmp,
          group, tmp, group, bin, conf, common, group, out, rebuild, tmp, group, tmp, group))
    return -1;
  return run("timeout 200 %s/petra score --config %s %s --group %s --output-topic %s --rebuild-events %ld --exit-at-end "
             "> %s/%s.w.json 2> %s/%s.w.err",
             bin, conf, common, group, out, rebuild, tmp, group, tmp, group);
}

static int dedupe(lines *l) {
  qsort(l->v, (size_t)l->n, sizeof(line), cmp_line);
  int k = 0;
  for (int i = 0; i < l->n; i++)
    if (!k || strcmp(l->v[k - 1].text, l->v[i].text)) l->v[k++] = l->v[i];
  int dup = l->n - k;
  l->n = k;
  return dup;
}

TEST(scorers_in_one_group_score_as_one) {
  const char *bs = kt_bootstrap();
  REQUIRE(bs);
  snprintf(tmp, sizeof tmp, "/tmp/petra-scaleout-XXXXXX");
  REQUIRE(mkdtemp(tmp));
  char ev[128], lab[128], snap[128], met[128], dead[128], out[128], out0[128], g[160], g0[160];
  kt_unique(ev, sizeof ev, "scale.events");
  kt_unique(lab, sizeof lab, "scale.labels");
  kt_unique(snap, sizeof snap, "scale.snapshots");
  kt_unique(met, sizeof met, "scale.metrics");
  kt_unique(dead, sizeof dead, "scale.dead");
  kt_unique(out, sizeof out, "scale.scores");
  kt_unique(out0, sizeof out0, "scale.scores0");
  kt_unique(g, sizeof g, "scale-g");
  kt_unique(g0, sizeof g0, "scale-g0");
  const char *bin = PETRA_BINARY_DIR;
  REQUIRE(run("%s/petra gen --count %d --seed %d --partitions 4 --brokers %s --events-topic %s --labels-topic %s "
              "2>/dev/null",
              bin, N_RECORDS, SEED + 1, bs, ev, lab) == 0);
  char conf[512];
  REQUIRE(train_and_save(bs, ev, lab, snap, met, dead, "evolution.interval_s = 86400\n", 8, conf, sizeof conf) == 0);
  ref_ctx rc = {0};
  REQUIRE(load_reference(&rc) == 0);
  int n_events = read_topic(bs, ev, ref_event, &rc);
  CHECK(n_events > N_RECORDS / 2);
  CHECK_EQ_INT(rc.bad, 0);

  REQUIRE(scale_out(conf, g, out, 100000, 1) == 0);
  score_ctx sc = {.version = rc.l->info.version};
  CHECK(read_topic(bs, out, score_msg, &sc) > 0);
  CHECK_EQ_INT(sc.bad, 0);
  CHECK_EQ_INT(sc.wrong_version, 0);
  int raw = sc.out.n, dup = dedupe(&sc.out);
  int diff = compare(&sc.out, &rc.out, "scale-out vs one scorer");
  char cmd[900];
  snprintf(cmd, sizeof cmd, "grep -h 'assigned' %s/%s.*.err >&2", tmp, g);
  fprintf(stderr, "scale-out: %d events, %d scores from 5 scorer runs, one killed (%d duplicates), %d differ; assignments:\n",
          n_events, raw, dup, diff);
  CHECK(system(cmd) == 0);
  CHECK_EQ_INT(diff, 0);

  /* one scorer with three scoring threads (each its own consumer in the group and its own
   * feature state; the partitions may move between them while they join): the same scores */
  char out3[128], g3[160];
  kt_unique(out3, sizeof out3, "scale.scores3");
  kt_unique(g3, sizeof g3, "scale-g3");
  REQUIRE(run("timeout 200 %s/petra score --config %s --start earliest --wait-snapshot 30 --group %s --output-topic %s "
              "--threads 3 --exit-at-end > %s/threads.json 2> %s/threads.err",
              bin, conf, g3, out3, tmp, tmp) == 0);
  score_ctx s3 = {.version = rc.l->info.version};
  CHECK(read_topic(bs, out3, score_msg, &s3) > 0);
  CHECK_EQ_INT(s3.bad, 0);
  int dup3 = dedupe(&s3.out);
  int diff3 = compare(&s3.out, &rc.out, "--threads 3 vs one scorer");
  fprintf(stderr, "--threads 3: %d scores (%d duplicates), %d differ\n", s3.out.n + dup3, dup3, diff3);
  CHECK_EQ_INT(diff3, 0);
  CHECK_EQ_INT(s3.out.n, rc.out.n);
  snprintf(cmd, sizeof cmd, "grep -q '\"threads\":3' %s/threads.json && grep -q 'to thread 2' %s/threads.err", tmp, tmp);
  CHECK_MSG(system(cmd) == 0, "the summary names 3 threads and thread 2 was given a partition");
  free(s3.out.v);

  /* a hand-over without rebuilding the feature state: scores differ (one hand-over is enough
   * to show it, and keeps the test inside its time under ASan) */
  REQUIRE(scale_out(conf, g0, out0, 0, 0) == 0);
  score_ctx s0 = {.version = rc.l->info.version};
  CHECK(read_topic(bs, out0, score_msg, &s0) > 0);
  dedupe(&s0.out);
  int diff0 = compare(&s0.out, &rc.out, "without rebuild (expected to differ)");
  fprintf(stderr, "without --rebuild-events: %d of %d scores differ\n", diff0, s0.out.n);
  CHECK(diff0 > 100);
  free(sc.out.v);
  free(s0.out.v);
  free(rc.out.v);
  free(rc.ex);
  free(rc.tmp);
  free(rc.scratch);
  petra_model_free(rc.model);
  petra_loaded_free(rc.l);
  features_free(rc.feat);
  run("rm -rf %s", tmp);
}
