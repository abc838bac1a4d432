/* petra score: a scoring pipeline. Follows the snapshots topic for a model id (from the
 * latest snapshots on it), keeps the same feature state as petrad (daemon/common/
 * feature_state.c, shared code), scores every event (or series point) with the current plan
 * and produces Score messages; or, in file mode, scores a CSV of events into a CSV.
 *
 * Threads (Kafka mode): a snapshot thread consumes the snapshots topic, reassembles chunks,
 * verifies and compiles each new version and swaps it into a petra_holder; the main thread
 * consumes events, scores with whatever plan it acquires (never blocking on a swap) and
 * produces. Offsets of input are stored only after its Score was handed to the producer, and
 * committed at exit after the producer is flushed: at-least-once scores.
 *
 * Scale-out: N instances in one consumer group split the input partitions. An entity's
 * events are in one partition (keyed by entity), so a partition's entities are this
 * instance's alone; when it is assigned a partition (start, rebalance, another instance gone)
 * it first re-reads up to --rebuild-events messages before the committed offset into the
 * feature state without scoring them, then scores from the committed offset: each entity's
 * scores equal a single scorer's as long as its recent history (model.spec len events) lies
 * in that window. Per partition it remembers how far it has fed the feature state, so a
 * partition that comes back is never fed twice. (Main thread only: the rebalance callback
 * runs inside its consumer poll.) */
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>
#include <librdkafka/rdkafka.h>

#include "cli.h"
#include "config.h"
#include "csv.h"
#include "csvmap.h"
#include "feature_state.h"
#include "petra.pb-c.h"
#include "petra/holder.h"
#include "petra/plan.h"
#include "petra/snapshot.h"
#include "petra/stats.h"
#include "kclient.h"
#include "snapread.h"
#include "wire.h"

#define SWAP_SAMPLES 4096
#define SCORE_MAX_PARTITIONS 4096

struct worker;

typedef struct scorer {
  petrad_config cfg;
  sreg_wire wire; /* framing of events/series, snapshots and scores (from cfg) */
  petra_model_spec spec;
  uint64_t schema_hash;
  int64_t as_of_ms;         /* file mode --as-of: score each entity once, as of this time */
  petra_holder *holder;
  _Atomic uint64_t version; /* the version in the holder */
  _Atomic int stop, fatal;
  /* snapshot thread */
  pthread_t snap_thread;
  const char *brokers;
  _Atomic uint64_t snapshots_loaded, snapshots_rejected;
  _Atomic int caught_up; /* the snapshot thread has read up to the end it saw at start */
  double swap_ms[SWAP_SAMPLES]; /* consumed (last chunk polled) → visible to scorers */
  _Atomic uint64_t n_swap;
  /* scoring threads (Kafka mode; file mode uses the first) */
  struct worker *workers;
  int n_threads;
  int64_t rebuild_events; /* --rebuild-events (0 = no rebuild) */
  const char *start;      /* --start: where a partition without a committed offset begins */
  int exit_at_end;
  double run_for, wait_snapshot, t0;
  uint64_t max_events;
  _Atomic uint64_t consumed, delivery_failures;
  rd_kafka_t *prod; /* shared by the scoring threads (librdkafka's producer is thread-safe) */
  rd_kafka_topic_t *out_rkt;
} scorer;

static volatile sig_atomic_t got_signal;
static void on_signal(int s) {
  (void)s;
  got_signal = 1;
}

static double mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}


/* Loads a snapshot and swaps it in if it is for our model and newer. */
static void offer_snapshot(scorer *s, const uint8_t *buf, size_t len, double consumed_ms, const char *where) {
  petra_err err = {0};
  petra_loaded *l = petra_snapshot_load(buf, len, s->schema_hash, &err);
  if (!l) {
    atomic_fetch_add(&s->snapshots_rejected, 1);
    fprintf(stderr, "petra score: snapshot from %s rejected (the current plan stays): %s\n", where, err.msg);
    return;
  }
  if (strcmp(l->info.model_id, s->cfg.model_id) || l->info.version <= atomic_load(&s->version)) {
    petra_loaded_free(l);
    return;
  }
  uint64_t v = l->info.version;
  petra_holder_swap(s->holder, l);
  atomic_store(&s->version, v);
  double ms = mono_ms() - consumed_ms;
  uint64_t k = atomic_fetch_add(&s->n_swap, 1);
  s->swap_ms[k % SWAP_SAMPLES] = ms;
  atomic_fetch_add(&s->snapshots_loaded, 1);
  fprintf(stderr, "petra score: model %s version %llu active (%.2f ms after it was consumed)\n", s->cfg.model_id,
          (unsigned long long)v, ms);
}

/* The pass-through properties (TLS, SASL) and the watch for fatal client errors. */
static int conf_all(rd_kafka_conf_t *conf, const scorer *s, const char *scope, char *err, size_t n) {
  kclient_tool_watch(conf, &s->cfg);
  return kclient_apply(conf, &s->cfg, scope, err, n);
}

/* An authentication or TLS failure of any client ends the run (exit 1) with the reason. */
static int kafka_failed(scorer *s) {
  const char *f = kclient_tool_failed();
  if (!f) return 0;
  if (!atomic_exchange(&s->stop, 1)) fprintf(stderr, "petra score: kafka %s\n", f);
  return 1;
}

static void *snapshot_main(void *arg) {
  scorer *s = arg;
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  char group[256];
  snprintf(group, sizeof group, "petra-score-snapshots-%d", (int)getpid());
  if (rd_kafka_conf_set(conf, "bootstrap.servers", s->brokers, err, sizeof err) ||
      rd_kafka_conf_set(conf, "group.id", group, err, sizeof err) ||
      rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err) ||
      rd_kafka_conf_set(conf, "fetch.message.max.bytes", "104857600", err, sizeof err) ||
      conf_all(conf, s, "consumer", err, sizeof err)) {
    fprintf(stderr, "petra score: snapshot consumer: %s\n", err);
    rd_kafka_conf_destroy(conf);
    atomic_store(&s->stop, 1);
    return NULL;
  }
  rd_kafka_t *k = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!k) {
    fprintf(stderr, "petra score: snapshot consumer: %s\n", err);
    atomic_store(&s->stop, 1);
    return NULL;
  }
  const char *topic = s->cfg.topic_snapshots;
  /* find the partitions and start a little before the end of each: the newest snapshot
   * (its chunks) is there; older versions are skipped by version */
  rd_kafka_topic_partition_list_t *assign = NULL;
  enum { MAXP = 256 };
  int64_t end[MAXP];
  int32_t pid[MAXP];
  int np = 0;
  while (!atomic_load(&s->stop) && !assign) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(k, topic, NULL);
    if (rd_kafka_metadata(k, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 &&
        md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topics[0].partition_cnt > 0) {
      assign = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
      for (int p = 0; p < md->topics[0].partition_cnt; p++) {
        int64_t lo = 0, hi = 0;
        int32_t id = md->topics[0].partitions[p].id;
        if (rd_kafka_query_watermark_offsets(k, topic, id, &lo, &hi, 5000)) lo = hi = 0;
        int64_t start = hi - 512 > lo ? hi - 512 : lo;
        rd_kafka_topic_partition_list_add(assign, topic, id)->offset = start;
        if (np < MAXP && hi > start) {
          pid[np] = id;
          end[np++] = hi;
        }
      }
    }
    if (md) rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_poll(k, 0); /* serves the error callback: an authentication failure stops the run */
    if (!assign) sleep(1);
  }
  if (assign) {
    rd_kafka_assign(k, assign);
    rd_kafka_topic_partition_list_destroy(assign);
  }
  snapread *sr = snapread_new();
  int pending = np; /* partitions not yet read up to their end at start */
  if (!pending) atomic_store(&s->caught_up, 1);
  while (!atomic_load(&s->stop)) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(k, 100);
    if (!m) continue;
    double t = mono_ms();
    if (!m->err) {
      const uint8_t *snap;
      size_t len;
      err[0] = 0;
      int r = snapread_feed(sr, &s->wire, m, &snap, &len, err, sizeof err);
      char where[160];
      snprintf(where, sizeof where, "%s[%d]@%lld", topic, m->partition, (long long)m->offset);
      if (r == 1) offer_snapshot(s, snap, len, t, where);
      else if (err[0]) fprintf(stderr, "petra score: %s: %s\n", where, err);
      /* start scoring only with the newest snapshot there was at start, not an older one */
      for (int i = 0; i < np && pending; i++)
        if (pid[i] == m->partition && end[i] >= 0 && m->offset + 1 >= end[i]) {
          end[i] = -1;
          if (--pending == 0) atomic_store(&s->caught_up, 1);
        }
    }
    rd_kafka_message_destroy(m);
  }
  snapread_free(sr);
  rd_kafka_consumer_close(k);
  rd_kafka_destroy(k);
  return NULL;
}

/* ---------------------------------------------------------------- scoring */

/* Input messages scored together: one plan call for the batch (the plan's batched kernels),
 * one producer hand-over after it. A batch is closed when it is full, when the consumer has
 * nothing more right now, before a rebalance and at exit. */
#define SCORE_BATCH 64
#define SCORE_MAX_THREADS 16

/* One input message of a pending batch, in the order it was consumed. */
typedef struct pend {
  rd_kafka_message_t *m;
  int row;          /* its example's row in the batch, −1: bad input or no history */
  int bad;          /* bad input (counted, offset stored, nothing produced) */
  int64_t when;     /* event/point time */
  size_t ent, ent_len; /* its entity id in the batch's id buffer */
} pend;

/* A scoring thread. It owns everything here; what it shares with the other threads is the
 * holder (plans, acquired through its own slot), the producer (thread-safe) and the run's
 * atomics. Each thread consumes its own share of the input partitions (one consumer group)
 * with its own consumer and feature state: entities are keyed to partitions, so a thread's
 * entities are its own. Its consumer's rebalance callback runs inside its own poll. */
typedef struct worker {
  struct scorer *s;
  int id, slot;
  features *feat;
  uint64_t enc_version; /* the snapshot whose encoder feat uses */
  rd_kafka_t *cons;
  pthread_t th;
  /* per input partition, the next offset not yet fed to the feature state (−1 = none fed) and
   * the first offset to score (what was before it is only fed) */
  int64_t fed_until[SCORE_MAX_PARTITIONS], score_from[SCORE_MAX_PARTITIONS];
  uint64_t rebuilt, assignments, scored, bad, unscored, batches;
  double t_first, t_last;
  /* the pending batch */
  pend p[SCORE_BATCH];
  int n, rows;
  float *ex;                /* [SCORE_BATCH × example floats] */
  float *out;               /* [SCORE_BATCH × outputs] */
  size_t out_cap;
  char *ents;               /* entity ids of the batch, back to back */
  size_t ents_n, ents_cap;
  petra_loaded *l;          /* the plan the batch is scored with (held from its first example) */
  void *scratch;
  size_t scratch_n;
  float *tmp;
  wire_arena arena;
  uint8_t obuf[65536];
  /* --exit-at-end: partitions seen at their end */
  int32_t eof_part[1024];
  int n_eof, assigned_once, held;
  _Atomic int at_end, done;
  _Atomic uint64_t scored_seen, bad_seen; /* scored and bad as of the last batch, for progress */
} worker;

/* Installs a loaded snapshot's input encoder into the worker's feature state (frozen: a
 * scorer never learns statistics of its own). */
static void use_snapshot_encoder(worker *w, const petra_loaded *l) {
  char err[512];
  w->enc_version = l->info.version;
  if (l->encoder && features_use_encoder(w->feat, l->encoder, 1, err, sizeof err))
    fprintf(stderr, "petra score: snapshot v%llu: %s\n", (unsigned long long)l->info.version, err);
}

/* Makes room for n examples' scratch and outputs of plan l; 0 on success. */
static int batch_room(worker *w, const petra_loaded *l, int n) {
  size_t need = petra_plan_scratch_bytes(l->plan, n);
  if (need > w->scratch_n) {
    free(w->scratch);
    w->scratch_n = (need + 63) / 64 * 64;
    w->scratch = aligned_alloc(64, w->scratch_n);
    if (!w->scratch) w->scratch_n = 0;
  }
  size_t no = (size_t)petra_plan_n_outputs(l->plan) * (size_t)n;
  if (no > w->out_cap) {
    free(w->out);
    w->out = malloc(sizeof(float) * no);
    w->out_cap = w->out ? no : 0;
  }
  return w->scratch && w->out ? 0 : -1;
}

/* Adds the current history of entity as the batch's next example row; returns the row, or
 * −1 (no plan or no history). The batch's plan is acquired with its first example and its
 * encoder installed when its version changes: every example of a batch is formed and scored
 * with one snapshot. */
static int batch_example(worker *w, const char *entity, int64_t as_of_ms) {
  if (!w->l) {
    w->l = petra_holder_acquire(w->s->holder, w->slot);
    if (!w->l) {
      petra_holder_release(w->s->holder, w->slot);
      return -1;
    }
    if (w->l->info.version != w->enc_version) use_snapshot_encoder(w, w->l);
  }
  float *ex = w->ex + (size_t)w->rows * (size_t)features_example_floats(w->feat);
  if (!features_entity_example_at(w->feat, entity, as_of_ms, ex)) return -1;
  return w->rows++;
}

/* Scores the batch's example rows with its plan (outputs in w->out, row-major); returns the
 * number of outputs per row, 0 if nothing could be scored. Releases the plan. */
static int batch_score(worker *w, uint64_t *version) {
  int no = 0;
  if (w->l) {
    no = petra_plan_n_outputs(w->l->plan);
    *version = w->l->info.version;
    if (w->rows && (no > 4096 || batch_room(w, w->l, w->rows) ||
                    petra_plan_score(w->l->plan, w->rows, w->ex, w->out, w->scratch)))
      no = 0;
    w->l = NULL;
    petra_holder_release(w->s->holder, w->slot);
  }
  return no;
}

/* File mode: scores the current history of entity alone; returns the number of outputs
 * (in w->out), 0: no plan or no history. */
static int score_one(worker *w, const char *entity, int64_t as_of_ms, uint64_t *version) {
  int row = batch_example(w, entity, as_of_ms);
  int no = batch_score(w, version);
  w->rows = 0;
  return row < 0 ? 0 : no;
}

static int worker_init(worker *w, scorer *s, int id, char *err, size_t n) {
  w->s = s;
  w->id = id;
  features_conf fc;
  petrad_config_features(&s->cfg, &fc);
  w->feat = features_new_conf(&s->spec, &fc, err, n);
  if (!w->feat) return -1;
  if (features_encoder(w->feat)) petra_encoder_freeze(features_encoder(w->feat), 1);
  w->slot = petra_holder_reader(s->holder);
  size_t ef = (size_t)features_example_floats(w->feat);
  w->ex = malloc(sizeof(float) * ef * SCORE_BATCH);
  w->tmp = malloc(sizeof(float) * ef * 16);
  for (int i = 0; i < SCORE_MAX_PARTITIONS; i++) w->fed_until[i] = w->score_from[i] = -1;
  if (w->slot < 0 || !w->ex || !w->tmp) {
    snprintf(err, n, "out of memory");
    return -1;
  }
  return 0;
}

static void worker_free(worker *w) {
  features_free(w->feat);
  wire_arena_free(&w->arena);
  free(w->ex);
  free(w->tmp);
  free(w->out);
  free(w->ents);
  free(w->scratch);
}

/* The spec, the holder and n scoring threads' state (file mode: one). */
static int setup(scorer *s, int n_threads, char *err, size_t n) {
  petra_err pe = {0};
  if (petra_model_spec_parse(s->cfg.model_spec, &s->spec, &pe)) {
    snprintf(err, n, "model.spec: %s", pe.msg);
    return -1;
  }
  s->holder = petra_holder_new(SCORE_MAX_THREADS + 1, petra_loaded_free);
  s->workers = calloc((size_t)n_threads, sizeof(worker));
  if (!s->holder || !s->workers) {
    snprintf(err, n, "out of memory");
    return -1;
  }
  for (; s->n_threads < n_threads; s->n_threads++)
    if (worker_init(&s->workers[s->n_threads], s, s->n_threads, err, n)) return -1;
  s->schema_hash = petra_feature_schema_hash(features_schema(s->workers[0].feat));
  return 0;
}

static void teardown(scorer *s) {
  for (int i = 0; i < s->n_threads; i++) worker_free(&s->workers[i]);
  free(s->workers);
  petra_holder_free(s->holder);
}

static void print_summary(scorer *s, uint64_t scored, uint64_t bad, uint64_t unscored, uint64_t failed, double secs) {
  uint64_t assignments = 0, rebuilt = 0, batches = 0;
  for (int i = 0; i < s->n_threads; i++) {
    assignments += s->workers[i].assignments;
    rebuilt += s->workers[i].rebuilt;
    batches += s->workers[i].batches;
  }
  uint64_t ns = atomic_load(&s->n_swap);
  size_t k = ns < SWAP_SAMPLES ? (size_t)ns : SWAP_SAMPLES;
  double p50 = 0, mx = 0;
  if (k) {
    double tmp[SWAP_SAMPLES];
    memcpy(tmp, s->swap_ms, sizeof(double) * k);
    petra_sort_doubles(tmp, k);
    p50 = petra_quantile_sorted(tmp, k, 0.5);
    mx = tmp[k - 1];
  }
  printf("{\"scored\":%llu,\"bad\":%llu,\"unscored\":%llu,\"delivery_failures\":%llu,\"seconds\":%.2f,"
         "\"events_per_s\":%.0f,\"model_id\":\"%s\",\"model_version\":%llu,\"snapshots_loaded\":%llu,"
         "\"snapshots_rejected\":%llu,\"swap_p50_ms\":%.3f,\"swap_max_ms\":%.3f,\"partitions_assigned\":%llu,"
         "\"rebuilt_events\":%llu,\"threads\":%d,\"batch_mean\":%.1f}\n",
         (unsigned long long)scored, (unsigned long long)bad, (unsigned long long)unscored,
         (unsigned long long)failed, secs, secs > 0 ? (double)scored / secs : 0.0, s->cfg.model_id,
         (unsigned long long)atomic_load(&s->version), (unsigned long long)atomic_load(&s->snapshots_loaded),
         (unsigned long long)atomic_load(&s->snapshots_rejected), p50, mx, (unsigned long long)assignments,
         (unsigned long long)rebuilt, s->n_threads, batches ? (double)(scored + bad + unscored) / (double)batches : 0.0);
  fflush(stdout);
}

/* ---------------------------------------------------------------- file mode */

static int file_mode(scorer *s, const char *snap_path, const char *csv_path, const char *out_path, csvmap_opts *mo) {
  char err[1024];
  uint8_t *buf = NULL;
  size_t len = 0;
  FILE *f = fopen(snap_path, "rb");
  if (f) {
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = sz > 0 ? malloc((size_t)sz) : NULL;
    if (buf && fread(buf, 1, (size_t)sz, f) == (size_t)sz) len = (size_t)sz;
    fclose(f);
  }
  if (!len) {
    fprintf(stderr, "petra score: cannot read snapshot %s\n", snap_path);
    free(buf);
    return 1;
  }
  petra_err pe = {0};
  petra_loaded *l = petra_snapshot_load(buf, len, s->schema_hash, &pe);
  free(buf);
  if (!l) {
    fprintf(stderr, "petra score: %s: %s\n", snap_path, pe.msg);
    return 1;
  }
  snprintf(s->cfg.model_id, sizeof s->cfg.model_id, "%s", l->info.model_id);
  atomic_store(&s->version, l->info.version);
  petra_holder_swap(s->holder, l);
  csv_reader *r = csv_open(csv_path, err, sizeof err);
  if (!r) {
    fprintf(stderr, "petra score: %s\n", err);
    return 1;
  }
  static csvmap map;
  if (csvmap_init(&map, mo, r, err, sizeof err)) {
    fprintf(stderr, "petra score: %s: %s\n", csv_path, err);
    csv_close(r);
    return 2;
  }
  FILE *out = out_path ? fopen(out_path, "w") : stdout;
  if (!out) {
    fprintf(stderr, "petra score: cannot write %s\n", out_path);
    csv_close(r);
    return 1;
  }
  worker *w = &s->workers[0];
  int kind_col = csv_column(r, "kind");
  fprintf(out, "entity_id,event_time_ms,model_version,score\n");
  char **fields;
  int nf;
  uint64_t scored = 0, bad = 0, unscored = 0;
  char **ids = NULL;
  int n_ids = 0, cap_ids = 0;
  double t0 = mono_ms();
  int rc;
  while ((rc = csv_next(r, &fields, &nf, err, sizeof err)) == 1) {
    if (kind_col >= 0 && strcmp(fields[kind_col], "event")) continue; /* petra gen's label rows */
    Petra__V1__Event e;
    if (csvmap_event(&map, fields, &e, err, sizeof err) ||
        features_event(w->feat, &e, w->tmp, 16, err, sizeof err) < 0) {
      if (bad++ < 10) fprintf(stderr, "petra score: %s: %s\n", csv_path, err);
      continue;
    }
    if (s->as_of_ms >= 0) {
      /* remember each new entity; scored once at the end */
      if (features_get_stats(w->feat)->entities > (uint64_t)n_ids) {
        if (n_ids == cap_ids) ids = realloc(ids, sizeof(char *) * (cap_ids = cap_ids * 2 + 64));
        ids[n_ids++] = strdup(e.entity_id);
      }
      continue;
    }
    uint64_t version = 0;
    int no = score_one(w, e.entity_id, s->as_of_ms, &version);
    if (!no) {
      unscored++;
      continue;
    }
    fprintf(out, "%s,%lld,%llu", e.entity_id, (long long)e.event_time_ms, (unsigned long long)version);
    for (int i = 0; i < no; i++) fprintf(out, "%c%.9g", i ? ';' : ',', w->out[i]);
    fputc('\n', out);
    scored++;
  }
  for (int i = 0; i < n_ids; i++) {
    uint64_t version = 0;
    int no = score_one(w, ids[i], s->as_of_ms, &version);
    if (!no) {
      unscored++;
    } else {
      fprintf(out, "%s,%lld,%llu", ids[i], (long long)s->as_of_ms, (unsigned long long)version);
      for (int k = 0; k < no; k++) fprintf(out, "%c%.9g", k ? ';' : ',', w->out[k]);
      fputc('\n', out);
      scored++;
    }
    free(ids[i]);
  }
  free(ids);
  if (rc < 0) fprintf(stderr, "petra score: %s\n", err);
  if (out != stdout) fclose(out);
  csv_close(r);
  print_summary(s, scored, bad, unscored, 0, (mono_ms() - t0) / 1000);
  return rc < 0 ? 1 : 0;
}

/* ---------------------------------------------------------------- Kafka mode */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  if (m->err) atomic_fetch_add((_Atomic uint64_t *)opaque, 1);
}

/* Scores the pending batch, hands its Scores to the producer and stores each input's offset
 * after its Score (in consumption order: an offset is never stored before an earlier input of
 * its partition was handed over). */
static void batch_flush(worker *w) {
  scorer *s = w->s;
  if (!w->n) return;
  uint64_t version = 0;
  int no = batch_score(w, &version);
  w->batches++;
  for (int i = 0; i < w->n; i++) {
    pend *q = &w->p[i];
    if (q->bad) {
      w->bad++;
    } else if (q->row < 0 || !no) {
      w->unscored++;
    } else {
      const char *entity = w->ents + q->ent;
      Petra__V1__Score sc = PETRA__V1__SCORE__INIT;
      sc.schema_version = PETRA_SCHEMA_VERSION;
      sc.entity_id = (char *)entity;
      sc.event_time_ms = q->when;
      sc.model_id = s->cfg.model_id;
      sc.model_version = version;
      sc.n_scores = (size_t)no;
      sc.scores = w->out + (size_t)q->row * (size_t)no;
      size_t n = petra__v1__score__get_packed_size(&sc);
      if (n + SREG_MAX_HEADER <= sizeof w->obuf) {
        petra__v1__score__pack(&sc, w->obuf);
        if (s->wire.confluent)
          n = sreg_frame_into(w->obuf, sizeof w->obuf, s->wire.id[SREG_SCORES], SREG_MSG_SCORE, w->obuf, n);
        while (rd_kafka_produce(s->out_rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, w->obuf, n, entity,
                                q->ent_len, NULL) == -1 &&
               rd_kafka_last_error() == RD_KAFKA_RESP_ERR__QUEUE_FULL)
          rd_kafka_poll(s->prod, 10);
        w->scored++;
      }
    }
    rd_kafka_offset_store(q->m->rkt, q->m->partition, q->m->offset);
    rd_kafka_message_destroy(q->m);
  }
  w->n = w->rows = 0;
  w->ents_n = 0;
  w->t_last = mono_ms();
  atomic_store(&w->scored_seen, w->scored);
  atomic_store(&w->bad_seen, w->bad);
  rd_kafka_poll(s->prod, 0); /* delivery reports */
}

/* A partition assigned to this worker: resume scoring at the group's committed offset, after
 * feeding the feature state from up to rebuild_events messages before it. */
static void on_assign_partition(worker *w, rd_kafka_t *rk, rd_kafka_topic_partition_t *tp) {
  scorer *s = w->s;
  int32_t p = tp->partition;
  if (p < 0 || p >= SCORE_MAX_PARTITIONS) return;
  rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(one, tp->topic, p);
  int64_t committed = RD_KAFKA_OFFSET_INVALID, lo = 0, hi = 0;
  if (!rd_kafka_committed(rk, one, 10000)) committed = one->elems[0].offset;
  rd_kafka_topic_partition_list_destroy(one);
  if (rd_kafka_query_watermark_offsets(rk, tp->topic, p, &lo, &hi, 10000)) lo = hi = -1;
  if (committed < 0) committed = !strcmp(s->start, "earliest") ? lo : hi;
  if (committed < 0) return; /* the broker did not answer: librdkafka's own reset applies */
  int64_t from = committed - s->rebuild_events > lo ? committed - s->rebuild_events : lo;
  if (w->fed_until[p] >= 0) { /* fed before: go on from there (never feed an event twice) */
    if (w->fed_until[p] > from) from = w->fed_until[p];
    if (from > committed) from = committed;
  }
  w->score_from[p] = committed;
  tp->offset = from;
  w->assignments++;
  char who[32] = "";
  if (s->n_threads > 1) snprintf(who, sizeof who, " to thread %d", w->id);
  fprintf(stderr, "petra score: assigned %s[%d]%s: scoring from %lld, feature state from %lld (%lld to re-read)\n",
          tp->topic, p, who, (long long)committed, (long long)from, (long long)(committed - from));
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                         void *opaque) {
  worker *w = opaque;
  /* what was consumed before is scored and handed over first, as if unbatched */
  batch_flush(w);
  int coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    for (int i = 0; i < parts->cnt; i++) on_assign_partition(w, rk, &parts->elems[i]);
    if (coop) rd_kafka_error_destroy(rd_kafka_incremental_assign(rk, parts));
    else rd_kafka_assign(rk, parts);
    w->assigned_once = 1;
  } else {
    /* what was scored and delivered is committed as it goes (auto commit of stored offsets,
     * and once more on revoke); the feature state of the partition is kept (fed_until) */
    if (coop) rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
    else rd_kafka_assign(rk, NULL);
  }
  w->n_eof = 0;
}

/* --exit-at-end: a worker is at the end when every partition it holds is (or it holds none
 * after its first assignment: more threads than partitions); the run stops when every
 * worker is and at least one of them holds partitions. */
static void check_at_end(worker *w) {
  scorer *s = w->s;
  rd_kafka_topic_partition_list_t *asg = NULL;
  int end = 0;
  if (w->assigned_once && !rd_kafka_assignment(w->cons, &asg) && asg) {
    end = asg->cnt == 0 ? 1 : w->n_eof >= asg->cnt ? 2 : 0;
    rd_kafka_topic_partition_list_destroy(asg);
  }
  atomic_store(&w->at_end, end);
  if (!end) return;
  int all = 1, held = 0;
  for (int i = 0; i < s->n_threads; i++) {
    int e = atomic_load(&s->workers[i].at_end);
    all &= e > 0;
    held |= e == 2;
  }
  if (all && held) atomic_store(&s->stop, 1);
}

/* Feeds one consumed input message to the feature state and, unless it is only re-read to
 * rebuild that state, adds it to the pending batch (which takes the message). */
static void take_message(worker *w, rd_kafka_message_t *m) {
  scorer *s = w->s;
  char err[512];
  int is_ts = s->spec.kind == PETRA_MODEL_TS;
  int32_t part = m->partition;
  int known = part >= 0 && part < SCORE_MAX_PARTITIONS;
  int feed = !known || m->offset >= w->fed_until[part];
  int score = !known || m->offset >= w->score_from[part];
  if (!feed && !score) {
    rd_kafka_message_destroy(m);
    return;
  }
  if (!w->t_first) w->t_first = mono_ms();
  const char *entity = NULL;
  int64_t when = 0;
  int ok = 0;
  if (known && feed) w->fed_until[part] = m->offset + 1;
  const void *pl;
  size_t plen;
  if (sreg_unframe(&s->wire, is_ts ? SREG_SERIES : SREG_EVENTS, m->payload, m->len, &pl, &plen, NULL, err,
                   sizeof err)) {
    /* bad framing: not usable input (ok stays 0) */
  } else if (!feed) { /* fed before this partition was revoked, and not committed: score only */
    Petra__V1__Event *e = is_ts ? NULL : wire_decode_event_in(&w->arena, pl, plen, err, sizeof err);
    Petra__V1__SeriesPoint *p = is_ts ? wire_decode_series_in(&w->arena, pl, plen, err, sizeof err) : NULL;
    ok = e || p;
    entity = e ? e->entity_id : p ? p->series_id : NULL;
    when = e ? e->event_time_ms : p ? p->time_ms : 0;
  } else if (is_ts) {
    Petra__V1__SeriesPoint *p = wire_decode_series_in(&w->arena, pl, plen, err, sizeof err);
    if (p && features_series(w->feat, p, w->tmp, err, sizeof err) >= 0) {
      ok = 1;
      entity = p->series_id;
      when = p->time_ms;
    }
  } else {
    Petra__V1__Event *e = wire_decode_event_in(&w->arena, pl, plen, err, sizeof err);
    if (e && features_event(w->feat, e, w->tmp, 16, err, sizeof err) >= 0) {
      ok = 1;
      entity = e->entity_id;
      when = e->event_time_ms;
    }
  }
  if (!score) { /* re-read to rebuild the feature state: scored (and committed) before */
    w->rebuilt++;
    rd_kafka_message_destroy(m);
    return;
  }
  pend *q = &w->p[w->n++];
  *q = (pend){.m = m, .row = -1, .bad = !ok, .when = when};
  if (!ok) {
    if (w->bad + (uint64_t)w->n <= 10)
      fprintf(stderr, "petra score: bad input at offset %lld: %s\n", (long long)m->offset, err);
    return;
  }
  size_t len = strlen(entity);
  if (w->ents_n + len + 1 > w->ents_cap) {
    size_t cap = (w->ents_n + len + 1) * 2 + 4096;
    char *e = realloc(w->ents, cap);
    if (!e) return; /* row stays −1: unscored */
    w->ents = e;
    w->ents_cap = cap;
  }
  memcpy(w->ents + w->ents_n, entity, len + 1);
  q->ent = w->ents_n;
  q->ent_len = len;
  w->ents_n += len + 1;
  q->row = batch_example(w, entity, -1);
}

static void *worker_main(void *arg) {
  worker *w = arg;
  scorer *s = w->s;
  while (!got_signal && !atomic_load(&s->stop)) {
    if (kafka_failed(s)) {
      atomic_store(&s->fatal, 1);
      break;
    }
    if (s->run_for > 0 && mono_ms() - s->t0 > s->run_for * 1000) break;
    if (s->max_events && atomic_load(&s->consumed) >= s->max_events) break;
    rd_kafka_message_t *m = rd_kafka_consumer_poll(w->cons, w->n ? 0 : 100);
    if (!m) {
      batch_flush(w);
      if (!w->n) rd_kafka_poll(s->prod, 0);
      if (s->exit_at_end) check_at_end(w);
      continue;
    }
    if (s->exit_at_end) {
      /* track which partitions sit at their end; stop when all assigned ones do */
      int k = 0;
      while (k < w->n_eof && w->eof_part[k] != m->partition) k++;
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (k == w->n_eof && w->n_eof < 1024) w->eof_part[w->n_eof++] = m->partition;
        batch_flush(w);
        check_at_end(w);
      } else if (k < w->n_eof) {
        w->eof_part[k] = w->eof_part[--w->n_eof];
        atomic_store(&w->at_end, 0);
      }
    }
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        fprintf(stderr, "petra score: consume: %s\n", rd_kafka_message_errstr(m));
      rd_kafka_message_destroy(m);
      continue;
    }
    atomic_fetch_add(&s->consumed, 1);
    take_message(w, m);
    if (w->n == SCORE_BATCH) batch_flush(w);
  }
  batch_flush(w);
  atomic_store(&w->done, 1);
  return NULL;
}

/* Progress every 5 s from the main thread while the workers run. */
static void progress(scorer *s, uint64_t *last, double *t_prog) {
  if (mono_ms() - *t_prog <= 5000) return;
  uint64_t scored = 0, bad = 0;
  for (int i = 0; i < s->n_threads; i++) {
    scored += atomic_load(&s->workers[i].scored_seen);
    bad += atomic_load(&s->workers[i].bad_seen);
  }
  fprintf(stderr, "petra score: scored=%llu events_per_s=%.0f model_version=%llu bad=%llu\n",
          (unsigned long long)scored, (double)(scored - *last) * 1000 / (mono_ms() - *t_prog),
          (unsigned long long)atomic_load(&s->version), (unsigned long long)bad);
  *t_prog = mono_ms();
  *last = scored;
}

static int kafka_mode(scorer *s, const char *group, const char *out_topic) {
  char err[512];
  if (pthread_create(&s->snap_thread, NULL, snapshot_main, s)) return 1;
  double t_wait = mono_ms();
  while ((!atomic_load(&s->version) || !atomic_load(&s->caught_up)) && !atomic_load(&s->stop) && !got_signal) {
    if (kafka_failed(s)) {
      pthread_join(s->snap_thread, NULL);
      return 1;
    }
    if (s->wait_snapshot > 0 && mono_ms() - t_wait > s->wait_snapshot * 1000) {
      fprintf(stderr, "petra score: no snapshot of model %s on %s within %.0f s\n", s->cfg.model_id,
              s->cfg.topic_snapshots, s->wait_snapshot);
      atomic_store(&s->stop, 1);
      pthread_join(s->snap_thread, NULL);
      return 1;
    }
    usleep(20000);
  }
  rd_kafka_conf_t *pc = rd_kafka_conf_new();
  if (rd_kafka_conf_set(pc, "bootstrap.servers", s->brokers, err, sizeof err) ||
      rd_kafka_conf_set(pc, "enable.idempotence", "true", err, sizeof err) ||
      rd_kafka_conf_set(pc, "linger.ms", "5", err, sizeof err) ||
      /* at the plan's pace (~200k Scores/s) librdkafka's default queue (100,000 messages) and
       * batches (10,000) make the scoring thread wait on a full queue a quarter of the time;
       * ~150 bytes a queued Score: ≤ 75 MB (producer.* in the config overrides these) */
      rd_kafka_conf_set(pc, "queue.buffering.max.messages", "500000", err, sizeof err) ||
      rd_kafka_conf_set(pc, "batch.num.messages", "100000", err, sizeof err) ||
      conf_all(pc, s, "producer", err, sizeof err)) {
    fprintf(stderr, "petra score: %s\n", err);
    rd_kafka_conf_destroy(pc);
    atomic_store(&s->stop, 1);
    pthread_join(s->snap_thread, NULL);
    return 2;
  }
  rd_kafka_conf_set_dr_msg_cb(pc, on_delivery);
  rd_kafka_conf_set_opaque(pc, (void *)&s->delivery_failures);
  s->prod = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof err);
  if (!s->prod) {
    fprintf(stderr, "petra score: %s\n", err);
    atomic_store(&s->stop, 1);
    pthread_join(s->snap_thread, NULL);
    return 1;
  }
  s->out_rkt = rd_kafka_topic_new(s->prod, out_topic, NULL);
  int is_ts = s->spec.kind == PETRA_MODEL_TS, rc = 0, started = 0;
  for (int i = 0; i < s->n_threads && !rc; i++) {
    worker *w = &s->workers[i];
    rd_kafka_conf_t *cc = rd_kafka_conf_new();
    if (rd_kafka_conf_set(cc, "bootstrap.servers", s->brokers, err, sizeof err) ||
        rd_kafka_conf_set(cc, "group.id", group, err, sizeof err) ||
        rd_kafka_conf_set(cc, "auto.offset.reset", s->start, err, sizeof err) ||
        rd_kafka_conf_set(cc, "enable.auto.offset.store", "false", err, sizeof err) ||
        rd_kafka_conf_set(cc, "enable.partition.eof", s->exit_at_end ? "true" : "false", err, sizeof err) ||
        /* as petrad's consumer (daemon/petrad/kafka.c): at librdkafka 2.0's default of 100,000
         * prefetched messages a backlog is read at well under the scoring rate */
        rd_kafka_conf_set(cc, "queued.min.messages", "300000", err, sizeof err) ||
        conf_all(cc, s, "consumer", err, sizeof err)) {
      fprintf(stderr, "petra score: %s\n", err);
      rd_kafka_conf_destroy(cc);
      rc = 2;
      break;
    }
    rd_kafka_conf_set_opaque(cc, w);
    rd_kafka_conf_set_rebalance_cb(cc, on_rebalance);
    w->cons = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof err);
    if (!w->cons) {
      fprintf(stderr, "petra score: %s\n", err);
      rc = 1;
      break;
    }
    rd_kafka_poll_set_consumer(w->cons);
    rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(t, is_ts ? s->cfg.topic_series : s->cfg.topic_events, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(w->cons, t);
    rd_kafka_topic_partition_list_destroy(t);
  }
  s->t0 = mono_ms();
  for (int i = 0; i < s->n_threads && !rc; i++, started++)
    if (pthread_create(&s->workers[i].th, NULL, worker_main, &s->workers[i])) {
      fprintf(stderr, "petra score: cannot start scoring thread %d\n", i);
      atomic_store(&s->stop, 1);
      rc = 1;
    }
  uint64_t last = 0;
  double t_prog = mono_ms();
  int running = started;
  while (running) { /* the workers stop on their own (end, limits, a signal, a fatal error) */
    usleep(50000);
    progress(s, &last, &t_prog);
    running = 0;
    for (int i = 0; i < started; i++) running += !atomic_load(&s->workers[i].done);
  }
  for (int i = 0; i < started; i++) pthread_join(s->workers[i].th, NULL);
  int fatal = atomic_load(&s->fatal);
  if (fatal) rd_kafka_purge(s->prod, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  rd_kafka_flush(s->prod, fatal ? 100 : 30000);
  uint64_t undelivered = (uint64_t)rd_kafka_outq_len(s->prod);
  uint64_t failures = atomic_load(&s->delivery_failures) + undelivered;
  uint64_t scored = 0, bad = 0, unscored = 0;
  double t_first = 0, t_last = 0;
  for (int i = 0; i < s->n_threads; i++) {
    worker *w = &s->workers[i];
    if (!w->cons) continue;
    /* commit only what was scored and delivered (stored offsets) */
    if (!failures) rd_kafka_commit(w->cons, NULL, 0);
    rd_kafka_consumer_close(w->cons);
    rd_kafka_destroy(w->cons);
    w->cons = NULL;
    scored += w->scored;
    bad += w->bad;
    unscored += w->unscored;
    if (w->t_first && (!t_first || w->t_first < t_first)) t_first = w->t_first;
    if (w->t_last > t_last) t_last = w->t_last;
  }
  rd_kafka_topic_destroy(s->out_rkt);
  rd_kafka_destroy(s->prod);
  atomic_store(&s->stop, 1);
  pthread_join(s->snap_thread, NULL);
  print_summary(s, scored, bad, unscored, failures, t_last > t_first ? (t_last - t_first) / 1000 : 0);
  return rc ? rc : fatal || failures ? 1 : 0;
}

static void usage(FILE *o) {
  fprintf(o,
          "usage: petra score [--config FILE] [--set KEY=VALUE]... MODE\n"
          "Kafka mode (default): follows topics.snapshots for model.id, scores topics.events (seq\n"
          "  models) or topics.series (ts models), produces petra.v1.Score messages.\n"
          "  --brokers B           bootstrap servers (default kafka.brokers)\n"
          "  --output-topic T      where scores go (default petra.scores)\n"
          "  --group G             consumer group (default petra-score-<model.id>)\n"
          "  --start earliest|latest  where a new group starts (default latest)\n"
          "  --wait-snapshot S     give up if no snapshot arrives within S seconds (default: wait)\n"
          "  --run-for S, --max-events N   stop after this long / this many input messages\n"
          "  --exit-at-end         stop when every assigned partition is read to its end\n"
          "  --rebuild-events N    scale-out: on each partition assigned, re-read up to N messages\n"
          "                        before the group's committed offset into the feature state\n"
          "                        first, unscored (default 100000; 0 = off), so that N scorers in\n"
          "                        one group score as one would\n"
          "  --threads N           scoring threads (default 1, at most 16): each consumes its\n"
          "                        share of the input partitions with its own feature state, as\n"
          "                        N scorers in one group would; use at most one per core and\n"
          "                        per input partition\n"
          "File mode: --snapshot FILE --csv IN [--out OUT]  (events; columns as petra train:\n"
          "  --entity COL --time COL [--amount COL] [--categorical F=COL,...] [--numeric COL,...];\n"
          "  defaults match petra gen's CSV). Output: entity_id,event_time_ms,model_version,score\n"
          "  after every event; with --as-of TIME one row per entity, scored from its events up\n"
          "  to TIME (ages measured to TIME), in the order entities first appear\n"
          "The feature settings (model.spec, features.*) come from the config, as petrad's: the\n"
          "snapshot's feature-schema hash must match them.\n"
          "The last stdout line is a JSON summary (scored, events_per_s, model_version, swaps).\n");
}

int cmd_score(int argc, char **argv) {
  static scorer s;
  memset(&s, 0, sizeof s);
  petrad_config_defaults(&s.cfg);
  const char *config = NULL, *snap = NULL, *csvp = NULL, *outp = NULL, *out_topic = "petra.scores";
  const char *group = NULL, *start = "latest", *brokers = NULL;
  double run_for = 0, wait_snapshot = 0;
  uint64_t max_events = 0;
  int exit_at_end = 0, threads = 1;
  csvmap_opts mo = {"entity_id", "time_ms", "amount", NULL, NULL, NULL};
  s.as_of_ms = -1;
  s.rebuild_events = 100000;
  const char *sets[64];
  int nsets = 0;
  static const struct option opts[] = {
      {"config", 1, 0, 'c'},       {"set", 1, 0, 's'},        {"brokers", 1, 0, 'B'},      {"output-topic", 1, 0, 'o'},
      {"group", 1, 0, 'g'},        {"start", 1, 0, 'S'},      {"wait-snapshot", 1, 0, 'w'}, {"run-for", 1, 0, 'r'},
      {"max-events", 1, 0, 'm'},   {"snapshot", 1, 0, 'f'},   {"csv", 1, 0, 'i'},          {"out", 1, 0, 'O'},
      {"entity", 1, 0, 'e'},       {"time", 1, 0, 'T'},       {"amount", 1, 0, 'a'},       {"categorical", 1, 0, 'C'},
      {"numeric", 1, 0, 'N'},      {"exit-at-end", 0, 0, 'x'}, {"help", 0, 0, 'h'},      {"as-of", 1, 0, 'A'},
      {"rebuild-events", 1, 0, 'R'}, {"threads", 1, 0, 'j'}, {0, 0, 0, 0}};
  int o;
  optind = 1;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (o) {
      case 'c': config = optarg; break;
      case 's':
        if (nsets < 64) sets[nsets++] = optarg;
        break;
      case 'B': brokers = optarg; break;
      case 'o': out_topic = optarg; break;
      case 'g': group = optarg; break;
      case 'S': start = optarg; break;
      case 'w': wait_snapshot = atof(optarg); break;
      case 'r': run_for = atof(optarg); break;
      case 'm': max_events = strtoull(optarg, NULL, 10); break;
      case 'f': snap = optarg; break;
      case 'i': csvp = optarg; break;
      case 'O': outp = optarg; break;
      case 'e': mo.entity = optarg; break;
      case 'T': mo.time = optarg; break;
      case 'a': mo.amount = optarg; break;
      case 'C': mo.categorical = optarg; break;
      case 'N': mo.numeric = optarg; break;
      case 'x': exit_at_end = 1; break;
      case 'R': s.rebuild_events = strtoll(optarg, NULL, 10); break;
      case 'j': {
        char *end = NULL;
        long v = strtol(optarg, &end, 10);
        if (!end || *end || v < 1 || v > SCORE_MAX_THREADS) {
          fprintf(stderr, "petra score: --threads %s: expected 1..%d\n", optarg, SCORE_MAX_THREADS);
          return 2;
        }
        threads = (int)v;
        break;
      }
      case 'A':
        if (!csvmap_time_ms(optarg, &s.as_of_ms)) {
          fprintf(stderr, "petra score: --as-of %s: expected YYYY-MM-DD[ HH:MM:SS] or epoch ms\n", optarg);
          return 2;
        }
        break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  char err[1024];
  if (config && petrad_config_load(&s.cfg, config, err, sizeof err)) {
    fprintf(stderr, "petra score: %s\n", err);
    return 2;
  }
  for (int i = 0; i < nsets; i++)
    if (petrad_config_set_kv(&s.cfg, sets[i], err, sizeof err)) {
      fprintf(stderr, "petra score: %s\n", err);
      return 2;
    }
  if (strcmp(start, "earliest") && strcmp(start, "latest")) {
    fprintf(stderr, "petra score: --start %s: expected earliest or latest\n", start);
    return 2;
  }
  /* one core per scoring thread: BLAS threads would only spin and yield against them */
  openblas_set_num_threads(1);
  if (snap || csvp) threads = 1;
  if (setup(&s, threads, err, sizeof err)) {
    fprintf(stderr, "petra score: %s\n", err);
    teardown(&s);
    return 2;
  }
  petrad_config_wire(&s.cfg, &s.wire);
  if (s.wire.confluent && !(snap || csvp) &&
      (s.wire.id[SREG_SNAPSHOTS] <= 0 || s.wire.id[SREG_SCORES] <= 0 ||
       s.wire.id[s.spec.kind == PETRA_MODEL_TS ? SREG_SERIES : SREG_EVENTS] <= 0)) {
    fprintf(stderr, "petra score: wire.format = confluent needs wire.schema_id.snapshots, .%s and .scores\n",
            s.spec.kind == PETRA_MODEL_TS ? "series" : "events");
    teardown(&s);
    return 2;
  }
  if (strcmp(s.cfg.wire_format, "raw") && !s.wire.confluent) {
    fprintf(stderr, "petra score: wire.format = %s: expected raw or confluent\n", s.cfg.wire_format);
    teardown(&s);
    return 2;
  }
  int rc;
  if (snap || csvp) {
    if (!snap || !csvp) {
      fprintf(stderr, "petra score: file mode needs --snapshot and --csv\n");
      rc = 2;
    } else if (s.spec.kind != PETRA_MODEL_SEQ) {
      fprintf(stderr, "petra score: file mode scores events (seq models)\n");
      rc = 2;
    } else {
      if (!mo.categorical) {
        /* petra gen's columns: each categorical field of the spec is a column of its name */
        static char cats[1024];
        size_t k = 0;
        for (int f = 0; f < s.spec.n_fields && k < sizeof cats - 80; f++)
          k += (size_t)snprintf(cats + k, sizeof cats - k, "%s%s=%s", f ? "," : "", s.spec.fields[f].name,
                                s.spec.fields[f].name);
        mo.categorical = cats;
      }
      if (!mo.numeric && s.cfg.feature_numerics[0]) mo.numeric = s.cfg.feature_numerics;
      rc = file_mode(&s, snap, csvp, outp, &mo);
    }
  } else {
    s.brokers = brokers ? brokers : s.cfg.brokers;
    if (!s.brokers[0]) {
      fprintf(stderr, "petra score: no brokers (--brokers or kafka.brokers)\n");
      rc = 2;
    } else {
      char g[300];
      snprintf(g, sizeof g, "petra-score-%s", s.cfg.model_id);
      signal(SIGINT, on_signal);
      signal(SIGTERM, on_signal);
      s.start = start;
      s.run_for = run_for;
      s.max_events = max_events;
      s.wait_snapshot = wait_snapshot;
      s.exit_at_end = exit_at_end;
      rc = kafka_mode(&s, group ? group : g, out_topic);
    }
  }
  teardown(&s);
  return rc;
}
