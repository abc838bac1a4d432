/* petrad lifecycle on the loop thread: restore, start, timers, signals, checkpoint
 * requests, outbox handling, orderly stop. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "log.h"
#include "petra/snapshot.h"
#include "notify.h"
#include "petrad.h"
#include "petra/stats.h"

static petra_trainer_conf trainer_conf(const petrad_config *c) {
  petra_trainer_conf t = petra_trainer_defaults();
  t.batch = c->batch;
  t.adam.lr = (float)c->lr;
  t.adam.weight_decay = (float)c->weight_decay;
  t.adam.clip_norm = (float)c->clip_norm;
  t.replay_capacity = c->replay_capacity;
  t.replay_frac = (float)c->replay_frac;
  t.metrics_window = c->metrics_window;
  t.seed = (uint64_t)c->seed;
  return t;
}

static int mkdir_p(const char *path) {
  char tmp[1024];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      if (mkdir(tmp, 0750) && errno != EEXIST) return -1;
      *p = '/';
    }
  return mkdir(tmp, 0750) && errno != EEXIST ? -1 : 0;
}

/* ---------------------------------------------------------------- checkpoints */

void petrad_request_checkpoint(petrad *d, int stop) {
  if (d->checkpoint_in_flight && !stop) return;
  if (!d->trainer_running) return; /* ha standby: no model here */
  svc_mark *mk = calloc(1, sizeof *mk);
  if (!mk) return;
  mk->stop = stop;
  ckpt *c = &mk->c;
  c->events = d->in.events;
  c->dead_letters = d->in.dead_letters;
  for (int i = 0; i < d->in.n_offsets; i++) {
    if (d->in.offsets[i].next < 0) continue;
    ckpt_offset *o = &c->offsets[c->n_offsets++];
    snprintf(o->topic, sizeof o->topic, "%s", d->in.offsets[i].topic);
    o->partition = d->in.offsets[i].partition;
    o->offset = d->in.offsets[i].next;
  }
  /* and where the model stands on partitions not assigned now (revoked, or restored and not
   * yet assigned): the model has trained up to there, and it resumes from there */
  for (int k = 0; k < d->in.restored.n_offsets && c->n_offsets < CKPT_MAX_OFFSETS; k++) {
    const ckpt_offset *r = &d->in.restored.offsets[k];
    int held = 0;
    for (int i = 0; i < d->in.n_offsets && !held; i++)
      held = d->in.offsets[i].partition == r->partition && !strcmp(d->in.offsets[i].topic, r->topic);
    if (!held && r->offset >= 0) c->offsets[c->n_offsets++] = *r;
  }
  if (features_save(d->in.feat, &c->features, &c->features_len)) {
    LOG_ERROR("checkpoint_failed", "reason=\"feature state: out of memory\"");
    svc_mark_free(mk);
    return;
  }
  if (exq_push_mark(d->q, mk)) {
    svc_mark_free(mk);
    return;
  }
  d->checkpoint_in_flight = 1;
  d->in.examples_at_ckpt = d->in.examples_queued;
}

static void on_ckpt_timer(uv_timer_t *t) { petrad_request_checkpoint(t->data, 0); }
static void on_metrics(uv_timer_t *t);

svc_settings petrad_trainer_settings(const petrad_config *c) {
  return (svc_settings){.snapshot_interval_s = c->snapshot_interval_s,
                            .evolution_interval_s = c->evolution_interval_s,
                            .latency_budget_ratio = c->latency_budget_ratio,
                            .evolution_tolerance = c->evolution_tolerance,
                            .no_skill_after = c->health_no_skill_after};
}

int petrad_push_trainer_settings(petrad *d) {
  svc_mark *mk = calloc(1, sizeof *mk);
  if (!mk) return -1;
  mk->settings_only = 1;
  mk->settings = petrad_trainer_settings(&d->cfg);
  if (exq_push_mark(d->q, mk)) {
    svc_mark_free(mk);
    return -1;
  }
  return 0;
}

/* ---------------------------------------------------------------- stop */

static void close_cb(uv_handle_t *h) { (void)h; }

static void close_all(petrad *d) {
  uv_timer_t *timers[] = {&d->gen_timer, &d->ckpt_timer, &d->metrics_timer, &d->progress_timer,
                          &d->runfor_timer, &d->resume_timer, &d->watchdog_timer};
  for (size_t i = 0; i < sizeof timers / sizeof timers[0]; i++)
    if (uv_is_active((uv_handle_t *)timers[i]) || timers[i]->loop)
      if (!uv_is_closing((uv_handle_t *)timers[i])) uv_close((uv_handle_t *)timers[i], close_cb);
  uv_signal_t *sigs[] = {&d->sig_term, &d->sig_int, &d->sig_hup};
  for (size_t i = 0; i < 3; i++)
    if (!uv_is_closing((uv_handle_t *)sigs[i])) uv_close((uv_handle_t *)sigs[i], close_cb);
  if (d->in.consumer && !uv_is_closing((uv_handle_t *)&d->in.cpoll)) uv_close((uv_handle_t *)&d->in.cpoll, close_cb);
  if (d->out.producer && !uv_is_closing((uv_handle_t *)&d->out.ppoll)) uv_close((uv_handle_t *)&d->out.ppoll, close_cb);
  uv_close((uv_handle_t *)&d->wake, close_cb);
  petrad_control_close(d);
}

void petrad_request_stop(petrad *d, const char *why) {
  if (d->stopping) return;
  d->stopping = 1;
  sdn_notify("STOPPING=1\nSTATUS=draining, checkpointing and committing");
  LOG_INFO("stopping", "reason=%s queue=%d role=%s", why, exq_len(d->q), petrad_role_name(d->ha.role));
  if (d->generator) uv_timer_stop(&d->gen_timer);
  uv_timer_stop(&d->ckpt_timer);
  uv_timer_stop(&d->resume_timer);
  uv_timer_stop(&d->watchdog_timer);
  if (d->in.consumer) uv_poll_stop(&d->in.cpoll);
  if (!d->trainer_running) { /* a standby (or a takeover that failed): nothing to drain */
    petrad_control_close(d); /* (first, as after a drain: the closes below may block) */
    petrad_kafka_close(d);
    petrad_ha_close(d);
    close_all(d);
    return;
  }
  /* the trainer drains what is queued, checkpoints, and exits */
  petrad_request_checkpoint(d, 1);
}

int petrad_options_config(const petrad_options *o, petrad_config *c, char *err, size_t n) {
  petrad_config_defaults(c);
  if (o->config_path && petrad_config_load(c, o->config_path, err, n)) return -1;
  for (int i = 0; i < o->nsets; i++)
    if (petrad_config_set_kv(c, o->sets[i], err, n)) return -1;
  if (o->control_socket) snprintf(c->control_socket, sizeof c->control_socket, "%s", o->control_socket);
  if (o->state_dir) snprintf(c->state_dir, sizeof c->state_dir, "%s", o->state_dir);
  return 0;
}

/* Keys a reload applies while running; any other changed key makes the reload fail. */
static const char *const reloadable[] = {
    "snapshot.interval_s",  "metrics.interval_s",    "checkpoint.interval_s", "checkpoint.interval_examples",
    "evolution.interval_s", "evolution.latency_budget_ratio", "evolution.metric_tolerance",
    "health.max_lag",       "health.max_checkpoint_age_s", "health.trainer_stall_s", "health.no_skill_after",
    "control.timeout_s",    "control.max_clients",   "log.level",             NULL};

int petrad_reload(petrad *d, char *err, size_t n) {
  if (!d->opt.config_path) {
    snprintf(err, n, "no configuration file to reload (petrad runs on defaults and --set)");
    LOG_INFO("reload_skipped", "reason=\"no config file\"");
    return -1;
  }
  sdn_notify("RELOADING=1");
  static petrad_config c; /* loop thread only; large */
  if (petrad_options_config(&d->opt, &c, err, n) || petrad_config_validate(&c, err, n)) {
    LOG_ERROR("reload_failed", "error=\"%s\" (keeping the running configuration)", err);
    sdn_notify("READY=1\nSTATUS=reload failed; running configuration kept");
    return -1;
  }
  char changed[1024];
  if (petrad_config_changed(&d->cfg, &c, reloadable, changed, sizeof changed)) {
    snprintf(err, n, "%.600s changed in %.200s: a restart applies %s (systemctl restart petrad); nothing was reloaded",
             changed, d->opt.config_path, strchr(changed, ',') ? "them" : "it");
    LOG_ERROR("reload_refused", "restart_only=\"%s\" (keeping the running configuration)", changed);
    sdn_notify("READY=1\nSTATUS=reload refused: restart-only keys changed");
    return -1;
  }
  /* what can change safely while running; the timers are re-armed with new intervals */
  if (c.checkpoint_interval_s != d->cfg.checkpoint_interval_s) {
    uint64_t ck = (uint64_t)(c.checkpoint_interval_s * 1000);
    uv_timer_start(&d->ckpt_timer, on_ckpt_timer, ck, ck);
  }
  if (c.metrics_interval_s != d->cfg.metrics_interval_s) {
    uint64_t mt = (uint64_t)(c.metrics_interval_s * 1000);
    uv_timer_start(&d->metrics_timer, on_metrics, mt, mt);
  }
  d->cfg.snapshot_interval_s = c.snapshot_interval_s;
  d->cfg.metrics_interval_s = c.metrics_interval_s;
  d->cfg.checkpoint_interval_s = c.checkpoint_interval_s;
  d->cfg.checkpoint_interval_examples = c.checkpoint_interval_examples;
  d->cfg.evolution_interval_s = c.evolution_interval_s;
  d->cfg.latency_budget_ratio = c.latency_budget_ratio;
  d->cfg.evolution_tolerance = c.evolution_tolerance;
  d->cfg.health_no_skill_after = c.health_no_skill_after;
  /* the trainer thread takes its settings from the queue, in order with the examples */
  if (petrad_push_trainer_settings(d)) LOG_WARN("reload_partial", "reason=\"trainer settings not queued\"");
  d->cfg.health_max_lag = c.health_max_lag;
  d->cfg.health_max_checkpoint_age_s = c.health_max_checkpoint_age_s;
  d->cfg.health_trainer_stall_s = c.health_trainer_stall_s;
  d->cfg.control_timeout_s = c.control_timeout_s;
  d->cfg.control_max_clients = c.control_max_clients;
  snprintf(d->cfg.log_level, sizeof d->cfg.log_level, "%s", c.log_level);
  plog_set_level(plog_parse_level(c.log_level));
  LOG_INFO("reloaded", "config=%s", d->opt.config_path);
  sdn_notify("READY=1\nSTATUS=configuration reloaded");
  return 0;
}

static void on_signal(uv_signal_t *s, int signum) {
  petrad *d = s->data;
  if (signum == SIGHUP) {
    char err[512];
    petrad_reload(d, err, sizeof err);
    return;
  }
  petrad_request_stop(d, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void on_runfor(uv_timer_t *t) { petrad_request_stop(t->data, "run-for elapsed"); }

void petrad_resume_check(uv_timer_t *t) {
  petrad *d = t->data;
  int room = exq_free_slots(d->q) * 2 >= d->cfg.queue_capacity; /* drained to half */
  if (d->in.backpressure && room) petrad_kafka_unblock(d);
  if (d->in.paused && !d->in.op_paused) petrad_kafka_pause(d, 0); /* a leftover pause */
  if (!d->in.backpressure) uv_timer_stop(t);
}

/* ---------------------------------------------------------------- outbox */

static void on_wake(uv_async_t *a) {
  petrad *d = a->data;
  svc_out *m;
  while ((m = svc_take(d->svc))) {
    switch (m->type) {
      case SVC_OUT_CHECKPOINT:
        d->checkpoint_in_flight = 0;
        if (m->ok) {
          d->last_ckpt_ok_ms = clk_mono_ms();
          /* with a state topic the offsets wait until it holds this checkpoint too */
          if (m->bytes && d->out.producer) petrad_state_publish(d, m);
          else petrad_kafka_store_offsets(d, &m->c);
          LOG_DEBUG("checkpoint_written", "offsets=%d generation=%llu", m->c.n_offsets,
                    (unsigned long long)m->version);
        } else {
          d->last_ckpt_fail_ms = clk_mono_ms();
          snprintf(d->last_ckpt_error, sizeof d->last_ckpt_error, "%s", m->err);
          LOG_ERROR("checkpoint_failed", "error=\"%s\"", m->err);
        }
        break;
      case SVC_OUT_SNAPSHOT:
        petrad_produce_snapshot(d, m);
        break;
      case SVC_OUT_STOPPED:
        d->stopped_trainer = 1;
        break;
    }
    svc_out_free(m);
  }
  if (d->stopped_trainer && d->stopping) {
    /* the control socket first: the teardown below blocks the loop on librdkafka (a bounded
     * flush, the consumers' close; seconds with the brokers down), and a client should be
     * refused at once rather than wait for an answer that cannot come */
    petrad_control_close(d);
    petrad_kafka_close(d); /* final commit of stored offsets (ha: the last transaction), producer flush */
    petrad_ha_close(d);    /* then leave the lease group: a standby takes over at once */
    close_all(d);
  }
}

/* ---------------------------------------------------------------- progress */

static void on_metrics(uv_timer_t *t) {
  petrad_produce_metrics(t->data);
}

/* WATCHDOG=1 only while the trainer thread is alive and not stuck: its heartbeat (set on
 * every pass of its loop, at least every 100 ms) must have moved since the last ping. */
static void on_watchdog(uv_timer_t *t) {
  petrad *d = t->data;
  uint64_t hb = atomic_load(&d->st->trainer_heartbeat);
  if (hb != d->last_heartbeat || !d->trainer_running) sdn_notify("WATCHDOG=1"); /* a standby has no trainer */
  else LOG_WARN("watchdog_withheld", "reason=\"trainer made no progress\"");
  d->last_heartbeat = hb;
}

static void on_progress(uv_timer_t *t) {
  petrad *d = t->data;
  uint64_t now = clk_mono_ms();
  double secs = (double)(now - d->prog_ms) / 1000.0;
  double rate = secs > 0 ? (double)(d->in.events - d->prog_events) / secs : 0;
  d->prog_ms = now;
  d->prog_events = d->in.events;
  const char *mname = petra_metric_name_for(d->spec.kind == PETRA_MODEL_SEQ ? d->spec.classes : 0);
  if (d->opt.print_progress)
    LOG_INFO("progress",
           "events_per_s=%.0f events=%llu examples=%llu loss=%.4f %s=%.4f train_steps=%llu "
           "evolution_steps=%llu champion_bytes=%llu champion_p99_us=%.1f snapshots=%llu "
           "dead_letters=%llu queue=%d paused=%d",
           rate, (unsigned long long)d->in.events, (unsigned long long)atomic_load(&d->st->examples),
           atomic_load(&d->st->loss), mname, atomic_load(&d->st->metric),
           (unsigned long long)atomic_load(&d->st->train_steps),
           (unsigned long long)atomic_load(&d->st->evolution_steps),
           (unsigned long long)atomic_load(&d->st->champion_bytes),
           atomic_load(&d->st->champion_p99_us), (unsigned long long)d->out.snapshots_published,
           (unsigned long long)d->in.dead_letters, exq_len(d->q), d->in.paused);
  char status[256];
  snprintf(status, sizeof status, "STATUS=%.0f events/s, %llu examples, %s %.4f, champion %llu bytes",
           rate, (unsigned long long)atomic_load(&d->st->examples), mname, atomic_load(&d->st->metric),
           (unsigned long long)atomic_load(&d->st->champion_bytes));
  sdn_notify(status);
}

/* ---------------------------------------------------------------- run */


/* model.init_snapshot: weights and input statistics of a snapshot file (no checkpoint yet). */
static int init_from_snapshot(petrad *d, const petra_trainer_conf *tc, char *err, size_t n) {
  const char *path = d->cfg.init_snapshot;
  FILE *f = fopen(path, "rb");
  uint8_t *buf = NULL;
  long sz = -1;
  if (f && fseek(f, 0, SEEK_END) == 0 && (sz = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
      sz < (1L << 30) && (buf = malloc((size_t)sz)) && fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
    free(buf);
    buf = NULL;
  }
  if (f) fclose(f);
  if (!buf) {
    snprintf(err, n, "model.init_snapshot %s: cannot read it (%s)", path, f ? "short read" : strerror(errno));
    return -1;
  }
  petra_err pe = {0};
  petra_snapshot_info info;
  uint64_t want = petra_feature_schema_hash(features_schema(d->in.feat));
  petra_model *m = petra_snapshot_decode_model(buf, (size_t)sz, want, &info, &pe);
  petra_encoder *enc = NULL;
  int erc = m ? petra_snapshot_decode_encoder(buf, (size_t)sz, &enc, &pe) : -1;
  free(buf);
  char have[1024], conf[1024];
  if (m) {
    petra_model_spec_format(petra_model_get_spec(m), have, sizeof have);
    petra_model_spec_format(&d->spec, conf, sizeof conf);
  }
  if (!m || erc < 0) {
    snprintf(err, n, "model.init_snapshot %.200s: %.300s", path, pe.msg);
  } else if (strcmp(have, conf)) {
    snprintf(err, n,
             "model.init_snapshot %.100s: its model is '%.200s' (genome '%.100s'), model.spec is '%.200s': start from "
             "an uncompressed snapshot of this spec (petra train --save)",
             path, have, info.genome, conf);
  } else if (enc && features_use_encoder(d->in.feat, enc, 0, err, n)) {
    /* err says why */
  } else {
    d->model = m;
    d->trainer = petra_trainer_new(m, tc, &pe);
    petra_encoder_free(enc);
    if (!d->trainer) {
      snprintf(err, n, "%s", pe.msg);
      return -1;
    }
    d->warm_started = 1;
    LOG_INFO("init_snapshot", "path=%s model=%s version=%llu examples=%llu encoder=%s", path,
             info.model_id, (unsigned long long)info.version, (unsigned long long)info.examples_seen,
             enc ? "yes" : "no");
    return 0;
  }
  petra_model_free(m);
  petra_encoder_free(enc);
  return -1;
}

/* Spec s is model.spec with one of evolution.cores in place of its core (what a core trial
 * may have made the live model: a checkpoint of it resumes). The item (0-based), −1 for none;
 * −2 with err set for a list that does not parse. */
static int core_variant(const petrad *d, const petra_model_spec *s, char *err, size_t n) {
  petra_model_spec cs[SVC_MAX_CORES];
  int k = svc_core_specs(&d->spec, d->cfg.evolution_cores, cs, SVC_MAX_CORES, err, n);
  if (k < 0) return -2;
  for (int i = 0; s && i < k; i++)
    if (!memcmp(&cs[i], s, sizeof *s)) return i;
  return -1;
}

static int restore_or_create(petrad *d, char *err, size_t n) {
  petra_trainer_conf tc = trainer_conf(&d->cfg);
  petra_err pe = {0};
  /* the newer of the local cache and the state topic (service/state_store.c decides) */
  state_store *remote = d->cfg.topic_state[0] && d->cfg.brokers[0] ? petrad_state_store(d) : NULL;
  svc_restored r;
  char warn[1024];
  int prc = svc_restore_pick(d->store, remote, d->cfg.ha_enabled, &r, warn, sizeof warn, err, n);
  state_store_free(remote);
  if (warn[0]) LOG_ERROR("checkpoint_corrupt", "detail=\"%s\"", warn);
  if (prc) return -1;
  if (r.owner[0]) LOG_INFO("state_topic_owner", "last_writer=%s snapshot_version=%llu", r.owner,
                           (unsigned long long)r.committed_version);
  /* ha: versions continue from what was committed, whoever committed it */
  if (r.snapshot_version > d->snapshot_version) d->snapshot_version = r.snapshot_version;
  d->out.committed_snapshot_version = r.committed_version;
  snprintf(d->restored_from, sizeof d->restored_from, "%s", r.source);
  int rc = r.have;
  ckpt c = r.c;
  if (rc == 1) {
    d->trainer = petra_trainer_restore(c.trainer, c.trainer_len, &tc, &d->model, &pe);
    char ferr[256];
    if (!d->trainer) {
      LOG_ERROR("checkpoint_unusable", "error=\"%s\" action=\"starting fresh\"", pe.msg);
    } else if (memcmp(petra_model_get_spec(d->model), &d->spec, sizeof d->spec) != 0 &&
               core_variant(d, petra_model_get_spec(d->model), NULL, 0) < 0) {
      LOG_ERROR("checkpoint_unusable", "error=\"model spec changed\" action=\"starting fresh\"");
      petra_trainer_free(d->trainer);
      petra_model_free(d->model);
      d->trainer = NULL;
      d->model = NULL;
    } else if (features_load(d->in.feat, c.features, c.features_len, ferr, sizeof ferr)) {
      LOG_ERROR("checkpoint_unusable", "error=\"%s\" action=\"starting fresh\"", ferr);
      petra_trainer_free(d->trainer);
      petra_model_free(d->model);
      d->trainer = NULL;
      d->model = NULL;
    } else {
      d->in.restored = c;
      d->in.restored.trainer = d->in.restored.features = NULL;
      d->in.events = c.events;
      d->in.dead_letters = c.dead_letters;
      if (c.snapshot_version > d->snapshot_version) d->snapshot_version = c.snapshot_version;
      d->out.last_published_version = d->snapshot_version;
      d->ckpt_generation = c.generation;
      for (int i = 0; i < c.n_offsets; i++) {
        offset_entry *o = &d->in.offsets[d->in.n_offsets++];
        snprintf(o->topic, sizeof o->topic, "%s", c.offsets[i].topic);
        o->partition = c.offsets[i].partition;
        o->next = c.offsets[i].offset;
      }
      LOG_INFO("checkpoint_restored", "source=%s generation=%llu examples=%llu steps=%llu offsets=%d snapshot_version=%llu",
               d->restored_from, (unsigned long long)c.generation,
               (unsigned long long)petra_trainer_get_stats(d->trainer)->examples,
               (unsigned long long)petra_trainer_get_stats(d->trainer)->steps, c.n_offsets,
               (unsigned long long)c.snapshot_version);
    }
  }
  free(c.trainer);
  free(c.features);
  if (!d->trainer && d->cfg.init_snapshot[0]) {
    if (init_from_snapshot(d, &tc, err, n)) return -1;
  }
  if (!d->trainer) {
    d->model = petra_model_new(&d->spec, (uint64_t)d->cfg.seed, &pe);
    if (d->model) d->trainer = petra_trainer_new(d->model, &tc, &pe);
    if (!d->trainer) {
      snprintf(err, n, "%s", pe.msg);
      return -1;
    }
  }
  petrad_share_encoder(d);
  return 0;
}

int petrad_become_owner(petrad *d, char *err, size_t n) {
  /* 1. fence: no zombie commits after this (and its open transaction is aborted) */
  if (petrad_kafka_make_producer(d, err, n) || petrad_txn_init(d, err, n)) return -1;
  /* 2. the newest committed state (restore_or_create reads topics.state, read_committed) */
  if (restore_or_create(d, err, n)) return -1;
  /* 3. input from the committed offsets, then the trainer */
  if (petrad_kafka_make_consumer(d, err, n)) return -1;
  if (petrad_trainer_start(d, err, n)) return -1;
  d->trainer_running = 1;
  d->ha.role = PETRAD_ROLE_OWNER; /* before the first produce: transactions open only for the owner */
  d->last_ckpt_ok_ms = clk_mono_ms();
  petrad_produce_metrics(d);
  return 0;
}

void petrad_share_encoder(petrad *d) {
  petra_encoder *e = features_encoder(d->in.feat);
  uint8_t *b = NULL;
  size_t len = 0;
  if (!e || petra_encoder_save(e, &b, &len)) return;
  svc_share_encoder(d->svc, b, len);
}

static void on_service_out(void *ctx) { uv_async_send(ctx); }

/* The service: its conf from the configuration (the settings are its own copy from here on). */
static int make_service(petrad *d, char *err, size_t n) {
  svc_conf sc;
  memset(&sc, 0, sizeof sc);
  snprintf(sc.model_id, sizeof sc.model_id, "%s", d->cfg.model_id);
  sc.spec = d->spec;
  sc.example_floats = d->in.ef;
  sc.queue_capacity = d->cfg.queue_capacity;
  sc.holdout = d->cfg.evolution_holdout;
  sc.seed = (uint64_t)d->cfg.seed;
  snprintf(sc.feature_schema, sizeof sc.feature_schema, "%s", features_schema(d->in.feat));
  sc.settings = petrad_trainer_settings(&d->cfg);
  sc.store = d->store;
  sc.forward_checkpoints = d->cfg.topic_state[0] != 0;
  sc.audit = d->audit;
  sc.notify = on_service_out;
  sc.notify_ctx = &d->wake;
  snprintf(sc.cores, sizeof sc.cores, "%s", d->cfg.evolution_cores);
  sc.core_trial_s = d->cfg.core_trial_s;
  sc.core_trial_epochs = d->cfg.core_trial_epochs;
  sc.core_margin = d->cfg.core_margin;
  sc.tc = trainer_conf(&d->cfg);
  d->svc = svc_new(&sc, err, n);
  if (!d->svc) return -1;
  d->q = svc_queue(d->svc);
  d->st = svc_stats_of(d->svc);
  return 0;
}

int petrad_trainer_start(petrad *d, char *err, size_t n) {
  svc_resume r = {.model = d->model, .trainer = d->trainer, .snapshot_version = d->snapshot_version,
                  .generation = d->ckpt_generation, .publish_now = d->warm_started};
  if (svc_start(d->svc, &r, err, n)) return -1;
  d->model = NULL; /* the service's now */
  d->trainer = NULL;
  return 0;
}

int petrad_run(petrad *d) {
  char err[1024];
  plog_set_level(plog_parse_level(d->cfg.log_level));
  openblas_set_num_threads(d->cfg.threads);
  petra_err pe = {0};
  if (petra_model_spec_parse(d->cfg.model_spec, &d->spec, &pe)) {
    LOG_ERROR("config_invalid", "error=\"%s\"", pe.msg);
    return 2;
  }
  if (d->cfg.evolution_cores[0]) {
    if (d->spec.kind != PETRA_MODEL_SEQ) {
      LOG_ERROR("config_invalid", "error=\"evolution.cores is for event-sequence (seq) models\"");
      return 2;
    }
    if (core_variant(d, NULL, err, sizeof err) == -2) {
      LOG_ERROR("config_invalid", "error=\"%s\"", err);
      return 2;
    }
  }
  features_conf fc;
  petrad_config_features(&d->cfg, &fc);
  d->in.feat = features_new_conf(&d->spec, &fc, err, sizeof err);
  if (!d->in.feat) {
    LOG_ERROR("config_invalid", "error=\"%s\"", err);
    return 2;
  }
  d->in.ef = features_example_floats(d->in.feat);
  d->in.example = calloc((size_t)d->in.ef * PETRAD_MAX_EXAMPLES_PER_MESSAGE, sizeof(float));
  if (mkdir_p(d->cfg.state_dir)) {
    LOG_ERROR("state_dir_unusable", "dir=%s error=\"%s\"", d->cfg.state_dir, strerror(errno));
    return 1;
  }
  if (d->cfg.audit_file[0] && !(d->audit = fopen(d->cfg.audit_file, "a"))) {
    LOG_ERROR("audit_file_unusable", "path=%s error=\"%s\"", d->cfg.audit_file, strerror(errno));
    return 1;
  }
  d->store = state_store_files(d->cfg.state_dir);
  if (!d->store || !d->in.example || make_service(d, err, sizeof err)) {
    LOG_ERROR("out_of_memory", "what=service error=\"%s\"", d->store && d->in.example ? err : "state store");
    return 1;
  }
  if (!d->cfg.ha_enabled && restore_or_create(d, err, sizeof err)) {
    LOG_ERROR("model_init_failed", "error=\"%s\"", err);
    return 1;
  }
  petrad_config_wire(&d->cfg, &d->wire);
  d->out.first_publish_ms = -1;
  static const double publish_le[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
  prom_hist_init(&d->out.publish_hist, publish_le, (int)(sizeof publish_le / sizeof publish_le[0]));
  d->in.last_offset_slot = -1;
  d->loop = uv_default_loop();
  uv_async_init(d->loop, &d->wake, on_wake);
  d->wake.data = d;
  uv_timer_t *timers[] = {&d->ckpt_timer, &d->metrics_timer, &d->progress_timer, &d->runfor_timer,
                          &d->resume_timer, &d->watchdog_timer};
  for (size_t i = 0; i < sizeof timers / sizeof timers[0]; i++) {
    uv_timer_init(d->loop, timers[i]);
    timers[i]->data = d;
  }
  uv_signal_t *sigs[] = {&d->sig_term, &d->sig_int, &d->sig_hup};
  int signums[] = {SIGTERM, SIGINT, SIGHUP};
  for (int i = 0; i < 3; i++) {
    uv_signal_init(d->loop, sigs[i]);
    sigs[i]->data = d;
    uv_signal_start(sigs[i], on_signal, signums[i]);
  }
  d->start_ms = clk_mono_ms();
  if (petrad_control_start(d, err, sizeof err)) {
    LOG_ERROR("control_start_failed", "error=\"%s\"", err);
    petrad_control_close(d);
    return 1;
  }
  if (d->cfg.ha_enabled) {
    /* the role comes from the lease group; the model only once this petrad owns it */
    snprintf(d->bootstrap, sizeof d->bootstrap, "%s", d->cfg.brokers);
    if (petrad_ha_start(d, err, sizeof err)) {
      LOG_ERROR("ha_start_failed", "error=\"%s\"", err);
      petrad_ha_close(d);
      petrad_control_close(d);
      return 1;
    }
  } else {
    if (petrad_kafka_start(d, err, sizeof err)) {
      LOG_ERROR("kafka_start_failed", "error=\"%s\"", err);
      petrad_kafka_close(d);
      return 1;
    }
    if (petrad_trainer_start(d, err, sizeof err)) {
      LOG_ERROR("trainer_start_failed", "error=\"%s\"", err);
      return 1;
    }
    d->trainer_running = 1;
    /* a first Metrics message announces the start and warms the producer (connection,
     * idempotent producer id) so that the first snapshot is not delayed by it */
    petrad_produce_metrics(d);
  }
  uint64_t ck = (uint64_t)(d->cfg.checkpoint_interval_s * 1000);
  uv_timer_start(&d->ckpt_timer, on_ckpt_timer, ck, ck);
  uint64_t mt = (uint64_t)(d->cfg.metrics_interval_s * 1000);
  uv_timer_start(&d->metrics_timer, on_metrics, mt, mt);
  /* progress lines (unless --quiet) and systemd STATUS= every 5 s */
  uv_timer_start(&d->progress_timer, on_progress, 5000, 5000);
  if (d->opt.run_for_s > 0)
    uv_timer_start(&d->runfor_timer, on_runfor, (uint64_t)(d->opt.run_for_s * 1000), 0);
  d->start_ms = d->prog_ms = clk_mono_ms();
  d->events_at_start = d->in.events;
  uint64_t wd = sdn_watchdog_usec();
  if (wd) uv_timer_start(&d->watchdog_timer, on_watchdog, wd / 2000, wd / 2000);
  /* ready: configuration, checkpoint restore and subscription are done (not waiting for a
   * partition assignment, so a broker outage does not fail the start); ha: once the lease
   * group has said standby or the takeover is done (ha.c) */
  if (!d->cfg.ha_enabled) sdn_notify("READY=1\nSTATUS=started");
  LOG_INFO("started", "model=%s spec=\"%s\" bootstrap=%s state_dir=%s embedded=%d ha=%d",
           d->cfg.model_id, d->cfg.model_spec, d->bootstrap, d->cfg.state_dir, d->opt.embedded, d->cfg.ha_enabled);
  uv_run(d->loop, UV_RUN_DEFAULT);
  uv_loop_close(d->loop);
  svc_join(d->svc);

  double secs = (double)(clk_mono_ms() - d->start_ms) / 1000.0;
  double active = (double)(d->in.last_msg_ms - d->in.first_msg_ms) / 1000.0;
  size_t np = d->out.n_publish < PETRAD_PUBLISH_SAMPLES ? (size_t)d->out.n_publish : PETRAD_PUBLISH_SAMPLES;
  double pub_p50 = 0, pub_p99 = 0;
  if (np) {
    double tmp[PETRAD_PUBLISH_SAMPLES];
    memcpy(tmp, d->out.publish_ms, sizeof(double) * np);
    petra_sort_doubles(tmp, np);
    pub_p50 = petra_quantile_sorted(tmp, np, 0.5);
    pub_p99 = petra_quantile_sorted(tmp, np, 0.99);
  }
  const char *mname = petra_metric_name_for(d->spec.kind == PETRA_MODEL_SEQ ? d->spec.classes : 0);
  double metric = atomic_load(&d->st->metric);
  printf("{\"events\":%llu,\"examples\":%llu,\"train_steps\":%llu,\"evolution_steps\":%llu,"
         "\"snapshots_published\":%llu,\"dead_letters\":%llu,\"champion_bytes\":%llu,"
         "\"champion_p99_us\":%.1f,\"metric_name\":\"%s\",\"metric\":%.6f,\"loss\":%.6f,"
         "\"checkpoints\":%llu,\"checkpoint_failures\":%llu,\"seconds\":%.1f,"
         "\"ingest_events_per_s\":%.0f,\"paused_count\":%llu,\"snapshot_publish_first_ms\":%.1f,"
         "\"snapshot_publish_p50_ms\":%.1f,\"snapshot_publish_p99_ms\":%.1f,\"naive_metric\":%.6f,"
         "\"skill\":%.4f}\n",
         (unsigned long long)d->in.events, (unsigned long long)atomic_load(&d->st->examples),
         (unsigned long long)atomic_load(&d->st->train_steps),
         (unsigned long long)atomic_load(&d->st->evolution_steps),
         (unsigned long long)d->out.snapshots_published, (unsigned long long)d->in.dead_letters,
         (unsigned long long)atomic_load(&d->st->champion_bytes), atomic_load(&d->st->champion_p99_us),
         mname, isfinite(metric) ? metric : 0.0, atomic_load(&d->st->loss),
         (unsigned long long)atomic_load(&d->st->checkpoints),
         (unsigned long long)atomic_load(&d->st->checkpoint_failures), secs,
         active > 0 ? (double)(d->in.events - d->events_at_start) / active : 0.0,
         (unsigned long long)d->in.pauses, d->out.first_publish_ms, pub_p50, pub_p99, atomic_load(&d->st->naive_metric),
         metric > 0 && d->spec.kind == PETRA_MODEL_TS ? atomic_load(&d->st->naive_metric) / metric : 0.0);
  fflush(stdout);
  svc_free(d->svc);
  if (d->audit) fclose(d->audit);
  state_store_free(d->store);
  wire_arena_free(&d->in.arena);
  petra_trainer_free(d->trainer); /* a restore that never reached the service (standby) */
  petra_model_free(d->model);
  features_free(d->in.feat);
  free(d->in.example);
  petrad_control_free(d);
  return d->exit_code;
}
