/* The model service without a broker (daemon/service/): linked against libpetra and the
 * broker-free common core only (tests/CMakeLists.txt), it trains from its queue, checkpoints
 * into a memory store when a mark arrives, publishes snapshots through its outbox, continues
 * versions and generations after a restart from the store, refuses to publish a version it
 * could not reserve, takes settings marks, and the restore choice between a local cache and a
 * remote store follows its rules. */
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "petra/snapshot.h"
#include "service.h"
#include "state_store.h"

#define SPEC "seq fields=c:20:4 numeric=2 len=8 dense=16 gru=16"

typedef struct waiter {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int pending;
} waiter;

static void on_out(void *ctx) {
  waiter *w = ctx;
  pthread_mutex_lock(&w->mu);
  w->pending++;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

/* The next message of `type` within `secs` (others are dropped, counted in *others). */
static svc_out *wait_for(petra_service *s, waiter *w, int type, double secs, int *others) {
  struct timespec end;
  clock_gettime(CLOCK_REALTIME, &end);
  end.tv_sec += (time_t)secs;
  for (;;) {
    svc_out *m;
    while ((m = svc_take(s))) {
      if (m->type == type) return m;
      if (others) (*others)++;
      svc_out_free(m);
    }
    pthread_mutex_lock(&w->mu);
    int rc = 0;
    while (!w->pending && rc == 0) rc = pthread_cond_timedwait(&w->cv, &w->mu, &end);
    w->pending = 0;
    pthread_mutex_unlock(&w->mu);
    if (rc) {
      if ((m = svc_take(s)) && m->type == type) return m;
      svc_out_free(m);
      return NULL;
    }
  }
}

typedef struct fixture {
  petra_model_spec spec;
  waiter w;
  memory_store *store;
  petra_service *svc;
  int ef;
} fixture;

static svc_conf conf_for(fixture *f, double snapshot_interval_s) {
  svc_conf c;
  memset(&c, 0, sizeof c);
  snprintf(c.model_id, sizeof c.model_id, "unit-model");
  c.spec = f->spec;
  c.example_floats = f->ef;
  c.queue_capacity = 4096;
  c.holdout = 512;
  c.seed = 7;
  snprintf(c.feature_schema, sizeof c.feature_schema, "unit/schema");
  c.settings = (svc_settings){.snapshot_interval_s = snapshot_interval_s, .evolution_interval_s = 3600,
                              .latency_budget_ratio = 1, .evolution_tolerance = 0.01, .no_skill_after = 0};
  c.store = &f->store->base;
  c.notify = on_out;
  c.notify_ctx = &f->w;
  return c;
}

/* A service on a fresh model, or resumed from what the store holds (as petrad restores). */
static petra_service *start(fixture *f, double snapshot_interval_s, FILE *audit) {
  svc_conf c = conf_for(f, snapshot_interval_s);
  c.audit = audit;
  char err[256];
  petra_service *s = svc_new(&c, err, sizeof err);
  if (!s) return NULL;
  svc_restored r;
  char warn[256];
  if (svc_restore_pick(&f->store->base, NULL, 0, &r, warn, sizeof warn, err, sizeof err)) return NULL;
  petra_trainer_conf tc = petra_trainer_defaults();
  tc.batch = 32;
  tc.seed = 7;
  petra_err pe = {0};
  svc_resume res = {.snapshot_version = r.snapshot_version, .generation = r.have ? r.c.generation : 0};
  if (r.have) {
    res.trainer = petra_trainer_restore(r.c.trainer, r.c.trainer_len, &tc, &res.model, &pe);
  } else {
    res.model = petra_model_new(&f->spec, 7, &pe);
    res.trainer = petra_trainer_new(res.model, &tc, &pe);
  }
  svc_restored_clear(&r);
  if (!res.trainer || svc_start(s, &res, err, sizeof err)) {
    fprintf(stderr, "start: %s %s\n", err, pe.msg);
    return NULL;
  }
  return s;
}

static void feed(fixture *f, petra_service *s, int n, uint64_t seed, uint64_t first_tag) {
  petra_err pe = {0};
  petra_model *m = petra_model_new(&f->spec, 1, &pe);
  float *ex = petra_model_random_examples(m, n, seed, 0, 0);
  for (int i = 0; i < n; i++)
    while (exq_push_example(svc_queue(s), ex + (size_t)i * f->ef, first_tag + (uint64_t)i)) usleep(1000);
  free(ex);
  petra_model_free(m);
}

static int push_mark(petra_service *s, int stop, int64_t offset) {
  svc_mark *mk = calloc(1, sizeof *mk);
  mk->stop = stop;
  mk->c.events = 123;
  mk->c.n_offsets = 1;
  snprintf(mk->c.offsets[0].topic, sizeof mk->c.offsets[0].topic, "events");
  mk->c.offsets[0].offset = offset;
  return exq_push_mark(svc_queue(s), mk);
}

static void setup(fixture *f) {
  memset(f, 0, sizeof *f);
  petra_model_spec_parse(SPEC, &f->spec, NULL);
  petra_err pe = {0};
  petra_model *m = petra_model_new(&f->spec, 1, &pe);
  f->ef = petra_model_example_floats(m);
  petra_model_free(m);
  pthread_mutex_init(&f->w.mu, NULL);
  pthread_cond_init(&f->w.cv, NULL);
  f->store = state_store_memory();
}

TEST(trains_checkpoints_publishes_and_resumes_without_a_broker) {
  fixture f;
  setup(&f);
  char apath[] = "/tmp/petra-svc-audit-XXXXXX";
  int afd = mkstemp(apath);
  FILE *audit = fdopen(afd, "w+");
  petra_service *s = start(&f, 0.05, audit);
  CHECK(s != NULL);
  if (!s) return;
  feed(&f, s, 600, 11, 1000);
  /* a snapshot within a few seconds, carrying what it was built from */
  svc_out *sn = wait_for(s, &f.w, SVC_OUT_SNAPSHOT, 20, NULL);
  CHECK(sn != NULL);
  if (sn) {
    CHECK_EQ_INT(sn->version, 1);
    petra_err pe = {0};
    petra_loaded *ld = petra_snapshot_load(sn->bytes, sn->len, 0, &pe);
    CHECK_MSG(ld != NULL, "%s", pe.msg);
    if (ld) {
      CHECK(strcmp(ld->info.model_id, "unit-model") == 0);
      CHECK(strcmp(ld->info.feature_schema, "unit/schema") == 0);
      CHECK_EQ_INT(ld->info.version, 1);
      CHECK(ld->info.examples_seen > 0);
      petra_loaded_free(ld);
    }
    svc_out_free(sn);
  }
  CHECK(f.store->version >= 1); /* reserved before it was handed out */
  /* a checkpoint mark: written to the store, its offsets handed back */
  CHECK_EQ_INT(push_mark(s, 0, 600), 0);
  svc_out *ck = wait_for(s, &f.w, SVC_OUT_CHECKPOINT, 20, NULL);
  CHECK(ck != NULL && ck->ok);
  if (ck) {
    CHECK_EQ_INT(ck->version, 1);
    CHECK_EQ_INT(ck->c.n_offsets, 1);
    CHECK_EQ_INT(ck->c.offsets[0].offset, 600);
    CHECK(ck->bytes == NULL); /* not forwarded: no state topic in this conf */
    svc_out_free(ck);
  }
  CHECK_EQ_INT(f.store->saves, 1);
  CHECK(atomic_load(&svc_stats_of(s)->examples) == 600);
  CHECK(atomic_load(&svc_stats_of(s)->checkpoints) == 1);
  /* the stop mark: a last checkpoint, then the trainer ends */
  feed(&f, s, 100, 12, 2000);
  CHECK_EQ_INT(push_mark(s, 1, 700), 0);
  svc_out *last = wait_for(s, &f.w, SVC_OUT_CHECKPOINT, 20, NULL);
  CHECK(last && last->ok && last->version == 2);
  svc_out_free(last);
  svc_out *stopped = wait_for(s, &f.w, SVC_OUT_STOPPED, 20, NULL);
  CHECK(stopped != NULL);
  svc_out_free(stopped);
  uint64_t published = f.store->version;
  svc_free(s);
  /* every trained example in the audit, once, and the checkpoint marks */
  fflush(audit);
  rewind(audit);
  char line[128];
  int ids = 0, marks = 0;
  while (fgets(line, sizeof line, audit)) {
    if (!strncmp(line, "#checkpoint", 11)) marks++;
    else if (line[0] != '#') ids++;
  }
  fclose(audit);
  unlink(apath);
  CHECK_EQ_INT(ids, 700);
  CHECK_EQ_INT(marks, 2);

  /* restart from the store: generation and versions continue */
  s = start(&f, 0.05, NULL);
  CHECK(s != NULL);
  if (!s) return;
  feed(&f, s, 300, 13, 3000);
  sn = wait_for(s, &f.w, SVC_OUT_SNAPSHOT, 20, NULL);
  CHECK(sn && sn->version == published + 1);
  svc_out_free(sn);
  CHECK_EQ_INT(push_mark(s, 1, 1000), 0);
  ck = wait_for(s, &f.w, SVC_OUT_CHECKPOINT, 20, NULL);
  CHECK(ck && ck->ok && ck->version == 3);
  svc_out_free(ck);
  CHECK(atomic_load(&svc_stats_of(s)->examples) == 1000); /* 700 restored + 300 */
  svc_free(s);
  state_store_free(&f.store->base);
}

TEST(a_version_that_cannot_be_reserved_is_not_published) {
  fixture f;
  setup(&f);
  f.store->fail_reserves = 1000000;
  petra_service *s = start(&f, 0.05, NULL);
  CHECK(s != NULL);
  if (!s) return;
  feed(&f, s, 400, 21, 0);
  usleep(500000);
  int others = 0;
  CHECK_EQ_INT(push_mark(s, 1, 400), 0);
  svc_out *ck = wait_for(s, &f.w, SVC_OUT_CHECKPOINT, 20, &others);
  CHECK_EQ_INT(others, 0); /* no snapshot came out */
  CHECK(atomic_load(&svc_stats_of(s)->snapshots_built) == 0);
  /* the checkpoint records the last version handed out: none */
  CHECK(ck && ck->ok);
  svc_out_free(ck);
  svc_free(s);
  ckpt c;
  uint64_t v;
  char owner[8], err[256];
  CHECK_EQ_INT(f.store->base.load(&f.store->base, &c, &v, owner, sizeof owner, err, sizeof err), 1);
  CHECK_EQ_INT(c.snapshot_version, 0);
  ckpt_clear(&c);
  state_store_free(&f.store->base);
}

TEST(a_failed_checkpoint_is_reported_and_the_next_one_succeeds) {
  fixture f;
  setup(&f);
  f.store->fail_saves = 1;
  petra_service *s = start(&f, 3600, NULL);
  CHECK(s != NULL);
  if (!s) return;
  feed(&f, s, 100, 31, 0);
  CHECK_EQ_INT(push_mark(s, 0, 100), 0);
  svc_out *ck = wait_for(s, &f.w, SVC_OUT_CHECKPOINT, 20, NULL);
  CHECK(ck && !ck->ok && strstr(ck->err, "no space left"));
  svc_out_free(ck);
  CHECK_EQ_INT(push_mark(s, 1, 100), 0);
  ck = wait_for(s, &f.w, SVC_OUT_CHECKPOINT, 20, NULL);
  CHECK(ck && ck->ok && ck->version == 1); /* the failed one used no generation */
  svc_out_free(ck);
  CHECK(atomic_load(&svc_stats_of(s)->checkpoint_failures) == 1);
  svc_free(s);
  state_store_free(&f.store->base);
}

TEST(a_settings_mark_changes_the_snapshot_interval) {
  fixture f;
  setup(&f);
  petra_service *s = start(&f, 3600, NULL); /* no snapshot for an hour */
  CHECK(s != NULL);
  if (!s) return;
  feed(&f, s, 300, 41, 0);
  usleep(300000);
  CHECK(atomic_load(&svc_stats_of(s)->snapshots_built) == 0);
  svc_mark *mk = calloc(1, sizeof *mk);
  mk->settings_only = 1;
  mk->settings = (svc_settings){.snapshot_interval_s = 0.05, .evolution_interval_s = 3600, .latency_budget_ratio = 1};
  CHECK_EQ_INT(exq_push_mark(svc_queue(s), mk), 0);
  svc_out *sn = wait_for(s, &f.w, SVC_OUT_SNAPSHOT, 20, NULL);
  CHECK(sn != NULL);
  svc_out_free(sn);
  CHECK_EQ_INT(push_mark(s, 1, 300), 0);
  svc_out_free(wait_for(s, &f.w, SVC_OUT_STOPPED, 20, NULL));
  svc_free(s);
  state_store_free(&f.store->base);
}

/* Examples whose label is the exclusive or of two facts of the last event: its code (< 10)
 * and the sign of its second numeric. A GRU of 16 units learns it; one tanh unit cannot (the
 * exclusive or is not linearly separable). */
static float *two_fact_examples(const petra_model_spec *spec, int n, uint64_t seed) {
  petra_err pe = {0};
  petra_model *m = petra_model_new(spec, 1, &pe);
  float *ex = petra_model_random_examples(m, n, seed, 1, 0);
  const int ef = petra_model_example_floats(m), T = spec->seq_len, F = spec->n_fields, N = spec->n_numeric;
  for (int i = 0; ex && i < n; i++) {
    float *e = ex + (size_t)i * ef;
    int len = (int)e[0];
    e[ef - 1] = (float)((e[1 + (len - 1) * F] < 10) != (e[1 + T * F + (len - 1) * N + 1] > 0));
  }
  petra_model_free(m);
  return ex;
}

/* The search over cores (svc_conf.cores): a live core that cannot learn the stream is
 * replaced by a listed one that can (its snapshot carries the new core, the counters go on,
 * a checkpoint of it resumes as that core); a listed core worse than the live one is not
 * taken. */
static void core_search_run(const char *spec_text, const char *cores, int expect_switch) {
  fixture f;
  setup(&f);
  petra_model_spec_parse(spec_text, &f.spec, NULL);
  svc_conf c = conf_for(&f, 0.5);
  c.settings.evolution_interval_s = 0.2;
  c.settings.latency_budget_ratio = 0.1; /* a core up to 10x slower (fp32) is a candidate */
  snprintf(c.cores, sizeof c.cores, "%s", cores);
  c.core_trial_s = 0.5;
  c.core_trial_epochs = 12;
  c.core_margin = 0.002;
  c.tc = petra_trainer_defaults();
  c.tc.batch = 32;
  c.tc.seed = 7;
  char err[256];
  petra_service *s = svc_new(&c, err, sizeof err);
  REQUIRE(s);
  petra_err pe = {0};
  svc_resume res = {0};
  res.model = petra_model_new(&f.spec, 7, &pe);
  res.trainer = petra_trainer_new(res.model, &c.tc, &pe);
  REQUIRE(svc_start(s, &res, err, sizeof err) == 0);
  enum { NEX = 4000 };
  float *ex = two_fact_examples(&f.spec, NEX, 5);
  REQUIRE(ex);
  for (int i = 0; i < NEX; i++)
    while (exq_push_example(svc_queue(s), ex + (size_t)i * f.ef, (uint64_t)i)) usleep(1000);
  free(ex);
  /* wait for a trial after the stream was trained (its replay then holds it) */
  for (int i = 0; i < 600 && atomic_load(&svc_stats_of(s)->examples) < NEX; i++) usleep(20000);
  uint64_t before = atomic_load(&svc_stats_of(s)->core_trials);
  int switched = 0;
  for (int i = 0; i < 1500 && atomic_load(&svc_stats_of(s)->core_trials) < before + 2; i++) usleep(20000);
  CHECK_MSG(atomic_load(&svc_stats_of(s)->core_trials) >= before + 1, "no core trial ran (%s)", spec_text);
  switched = atomic_load(&svc_stats_of(s)->core_switches) > 0;
  CHECK_MSG(switched == expect_switch, "%s with cores '%s': switched=%d", spec_text, cores, switched);
  const svc_info *inf = svc_info_lock(s);
  char core[256], trial[2048];
  snprintf(core, sizeof core, "%s", inf->core);
  snprintf(trial, sizeof trial, "%s", inf->core_trial_json ? inf->core_trial_json : "");
  svc_info_unlock(s);
  fprintf(stderr, "core search: live core now '%s'; last trial %s\n", core, trial);
  CHECK_MSG(strstr(trial, "\"live\":true") != NULL, "%s", trial);
  if (expect_switch) {
    CHECK_MSG(!strcmp(core, "gru=16"), "live core '%s'", core);
    /* a snapshot of the new core */
    int found = 0;
    for (int k = 0; k < 40 && !found; k++) {
      svc_out *sn = wait_for(s, &f.w, SVC_OUT_SNAPSHOT, 5, NULL);
      if (!sn) continue;
      petra_loaded *ld = petra_snapshot_load(sn->bytes, sn->len, 0, &pe);
      if (ld) {
        const petra_model_spec *ps = petra_plan_spec(ld->plan);
        found = ps->core == PETRA_CORE_GRU && ps->gru == 16;
        petra_loaded_free(ld);
      }
      svc_out_free(sn);
    }
    CHECK_MSG(found, "no snapshot of the new core");
    CHECK(atomic_load(&svc_stats_of(s)->examples) >= NEX); /* the counters go on */
  }
  CHECK_EQ_INT(push_mark(s, 1, NEX), 0);
  svc_out *ck = wait_for(s, &f.w, SVC_OUT_CHECKPOINT, 30, NULL);
  CHECK(ck && ck->ok);
  svc_out_free(ck);
  svc_free(s);
  if (expect_switch) { /* the checkpoint holds the new core's trainer */
    svc_restored r;
    char warn[256];
    REQUIRE(svc_restore_pick(&f.store->base, NULL, 0, &r, warn, sizeof warn, err, sizeof err) == 0 && r.have);
    petra_model *rm = NULL;
    petra_trainer *rt = petra_trainer_restore(r.c.trainer, r.c.trainer_len, &c.tc, &rm, &pe);
    CHECK_MSG(rt && petra_model_get_spec(rm)->core == PETRA_CORE_GRU, "%s", pe.msg);
    petra_trainer_free(rt);
    petra_model_free(rm);
    svc_restored_clear(&r);
  }
  state_store_free(&f.store->base);
}

TEST(a_core_trial_replaces_a_core_that_cannot_learn_the_stream) {
  core_search_run("seq fields=c:20:4 numeric=2 len=8 dense=0 rnn=1", "gru=16", 1);
}

TEST(a_core_trial_keeps_a_live_core_better_than_the_listed_ones) {
  core_search_run("seq fields=c:20:4 numeric=2 len=8 dense=0 gru=16", "rnn=1", 0);
}

/* A store whose load answers what the test says (the remote side of a restore). */
typedef struct fake_remote {
  state_store base;
  int rc;
  uint64_t generation, version;
} fake_remote;

static int fake_load(state_store *s, ckpt *c, uint64_t *version, char *owner, size_t owner_n, char *err, size_t n) {
  fake_remote *r = (fake_remote *)s;
  *version = r->version;
  snprintf(owner, owner_n, "host-b:42");
  if (r->rc < 0) snprintf(err, n, "the state topic cannot be read");
  if (r->rc == 1) {
    memset(c, 0, sizeof *c);
    c->generation = r->generation;
  }
  return r->rc;
}

static void local_with(memory_store *m, uint64_t generation, uint64_t version) {
  ckpt c;
  memset(&c, 0, sizeof c);
  c.generation = generation;
  c.snapshot_version = version;
  uint8_t *b;
  size_t len;
  ckpt_encode(&c, &b, &len);
  char err[64];
  m->base.save(&m->base, b, len, err, sizeof err);
  free(b);
}

TEST(restore_picks_the_newer_and_refuses_to_start_over_unreadable_state) {
  struct {
    int local_gen;      /* 0 = no local checkpoint */
    int remote_rc, remote_gen, ha;
    int want_rc;        /* 0 or −1 */
    const char *want_source;
    int want_gen;
  } rows[] = {
      {0, 0, 0, 0, 0, "", 0},             /* nothing anywhere: fresh */
      {5, 0, 0, 0, 0, "memory", 5},       /* only the local cache */
      {0, 1, 7, 0, 0, "kafka", 7},        /* only the topic (a host with an empty disk) */
      {5, 1, 7, 0, 0, "kafka", 7},        /* the topic is newer */
      {9, 1, 7, 0, 0, "memory", 9},       /* the local cache is newer */
      {9, 1, 7, 1, 0, "kafka", 7},        /* ha: only committed state counts */
      {9, 0, 0, 1, 0, "", 0},             /* ha: nothing committed: a local file is not used */
      {0, -1, 0, 0, -1, "", 0},           /* unreadable topic, no local: refuse */
      {5, -1, 0, 0, 0, "memory", 5},      /* unreadable topic, local: use it (logged) */
      {5, -1, 0, 1, -1, "", 0},           /* ha: unreadable topic: refuse even with local */
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    memory_store *local = state_store_memory();
    if (rows[i].local_gen) local_with(local, (uint64_t)rows[i].local_gen, 3);
    local->version = 4; /* reserved after that checkpoint */
    fake_remote remote = {.base = {.name = "kafka", .load = fake_load}, .rc = rows[i].remote_rc,
                          .generation = (uint64_t)rows[i].remote_gen, .version = 6};
    svc_restored r;
    char warn[256], err[1024] = "";
    int rc = svc_restore_pick(&local->base, &remote.base, rows[i].ha, &r, warn, sizeof warn, err, sizeof err);
    CHECK_MSG(rc == rows[i].want_rc, "row %zu: rc %d", i, rc);
    if (rc == 0) {
      CHECK_MSG(strcmp(r.source, rows[i].want_source) == 0, "row %zu: source %s", i, r.source);
      CHECK_MSG((int)(r.have ? r.c.generation : 0) == rows[i].want_gen, "row %zu", i);
      /* versions continue from the highest either store knows */
      CHECK_MSG(r.snapshot_version == (rows[i].remote_rc < 0 ? 4u : 6u), "row %zu: version %llu", i,
                (unsigned long long)r.snapshot_version);
      svc_restored_clear(&r);
    } else {
      CHECK_MSG(strstr(err, "not starting fresh over it") != NULL, "row %zu: %s", i, err);
    }
    state_store_free(&local->base);
  }
}

TEST(file_store_keeps_the_previous_checkpoint_and_moves_a_corrupt_one_aside) {
  char dir[] = "/tmp/petra-svc-store-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  state_store *fs = state_store_files(dir);
  ckpt c;
  memset(&c, 0, sizeof c);
  char err[512];
  for (uint64_t g = 1; g <= 2; g++) {
    c.generation = g;
    uint8_t *b;
    size_t len;
    ckpt_encode(&c, &b, &len);
    CHECK_EQ_INT(fs->save(fs, b, len, err, sizeof err), 0);
    free(b);
  }
  CHECK_EQ_INT(fs->reserve(fs, 9, err, sizeof err), 0);
  ckpt got;
  uint64_t v;
  char owner[8];
  CHECK_EQ_INT(fs->load(fs, &got, &v, owner, sizeof owner, err, sizeof err), 1);
  CHECK_EQ_INT(got.generation, 2);
  CHECK_EQ_INT(v, 9);
  ckpt_clear(&got);
  /* the newest file damaged: the previous one serves, the damaged one is reported */
  char path[1200];
  snprintf(path, sizeof path, "%s/checkpoint", dir);
  FILE *f = fopen(path, "r+b");
  fseek(f, 20, SEEK_SET);
  fputc(0x5a, f);
  fclose(f);
  CHECK_EQ_INT(fs->load(fs, &got, &v, owner, sizeof owner, err, sizeof err), 1);
  CHECK_EQ_INT(got.generation, 1);
  ckpt_clear(&got);
  state_store_free(fs);
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK_EQ_INT(system(cmd), 0);
}

