/* The model service's trainer thread: owns the model and trainer. Pops examples and marks
 * from the queue, trains (prequential test-then-train), writes checkpoints to the state store
 * when a mark arrives, and builds snapshots on the freshness interval; results go to the caller
 * through the outbox. Evolution steps are handed to the evolution thread (evolution.c) and never
 * stop training. Ownership: service.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "petra/encoder.h"
#include "petra/plan.h"
#include "petra/snapshot.h"
#include "petra/stats.h"
#include "service_internal.h"

#define POP_MAX 256

void svc_mark_free(void *p) {
  svc_mark *m = p;
  if (!m) return;
  ckpt_clear(&m->c);
  free(m);
}

void svc_out_free(svc_out *m) {
  if (!m) return;
  free(m->bytes);
  free(m);
}

static void outbox_push(petra_service *s, svc_out *m) {
  m->next = NULL;
  pthread_mutex_lock(&s->out_mu);
  if (s->out_tail)
    s->out_tail->next = m;
  else
    s->out_head = m;
  s->out_tail = m;
  pthread_mutex_unlock(&s->out_mu);
  if (s->conf.notify) s->conf.notify(s->conf.notify_ctx);
}

svc_out *svc_take(petra_service *s) {
  pthread_mutex_lock(&s->out_mu);
  svc_out *m = s->out_head;
  if (m) {
    s->out_head = m->next;
    if (!s->out_head) s->out_tail = NULL;
  }
  pthread_mutex_unlock(&s->out_mu);
  return m;
}

/* Batch-1 latency of the current model on recent replay examples: p50 and p99 in µs. */
static void measure_latency(petra_service *s, double *p50, double *p99) {
  const petra_replay *r = petra_trainer_replay(s->trainer);
  *p50 = *p99 = 0;
  if (r->size == 0) return;
  enum { REPS = 200 };
  double t[REPS];
  float out[1024];
  int no = petra_model_n_outputs(s->model);
  if (no > 1024) return;
  for (int i = 0; i < 20; i++) petra_model_forward(s->model, 1, petra_replay_get(r, i % r->size), out);
  for (int i = 0; i < REPS; i++) {
    double t0 = clk_mono_us();
    petra_model_forward(s->model, 1, petra_replay_get(r, i % r->size), out);
    t[i] = clk_mono_us() - t0;
  }
  petra_sort_doubles(t, REPS);
  *p50 = petra_quantile_sorted(t, REPS, 0.5);
  *p99 = petra_quantile_sorted(t, REPS, 0.99);
}

/* Publishes a snapshot of snap_model (the live fp32 model, or a champion compiled by the
 * evolution thread with fitness cf and genome text gtext). Trainer thread. */
static void publish_snapshot(petra_service *s, const petra_model *snap_model, const petra_fitness *cf, const char *gtext) {
  double p50, p99;
  if (snap_model == s->model) {
    measure_latency(s, &p50, &p99);
  } else {
    p50 = cf->p50_us;
    p99 = cf->p99_us;
  }
  const petra_metrics *met = petra_trainer_metrics(s->trainer);
  const petra_trainer_stats *ts = petra_trainer_get_stats(s->trainer);
  petra_snapshot_info info;
  memset(&info, 0, sizeof info);
  snprintf(info.model_id, sizeof info.model_id, "%s", s->conf.model_id);
  info.version = s->snapshot_version + 1;
  info.base_version = s->snapshot_version;
  info.created_ms = (int64_t)clk_wall_ms();
  info.examples_seen = ts->examples;
  info.train_steps = ts->steps;
  snprintf(info.feature_schema, sizeof info.feature_schema, "%s", s->conf.feature_schema);
  snprintf(info.metric_name, sizeof info.metric_name, "%s", petra_metrics_name(met));
  double mv = petra_metrics_value(met);
  info.metric = isfinite(mv) ? mv : 0;
  info.higher_is_better = petra_metrics_higher_is_better(met);
  info.latency_p50_us = p50;
  info.latency_p99_us = p99;
  info.throughput_per_s = p50 > 0 ? 1e6 / p50 : 0;
  snprintf(info.genome, sizeof info.genome, "%s", gtext);
  /* the loop's latest encoder state travels with the weights */
  petra_encoder *enc = NULL;
  pthread_mutex_lock(&s->enc_mu);
  if (s->enc_len) enc = petra_encoder_load(s->enc_bytes, s->enc_len, NULL);
  pthread_mutex_unlock(&s->enc_mu);
  info.encoder = enc;
  if (snap_model != s->model) {
    info.metric = cf->metric;
    info.size_bytes = (uint64_t)cf->bytes;
  }
  svc_out *m = calloc(1, sizeof *m);
  if (!m) return;
  petra_err err = {0};
  int erc = petra_snapshot_encode_model(snap_model, &info, &m->bytes, &m->len, &err);
  petra_encoder_free(enc);
  if (erc) {
    LOG_ERROR("snapshot_build_failed", "error=\"%s\"", err.msg);
    free(m);
    return;
  }
  /* reserve the version durably before it can be published, so that a restart from an
   * older checkpoint never publishes a version number again */
  char verr[512];
  state_store *st = s->conf.store;
  if (st && st->reserve && st->reserve(st, info.version, verr, sizeof verr)) {
    LOG_ERROR("snapshot_version_not_saved", "error=\"%s\" action=\"snapshot not published\"", verr);
    free(m->bytes);
    free(m);
    return;
  }
  m->type = SVC_OUT_SNAPSHOT;
  m->version = info.version;
  m->built_us = clk_mono_us();
  s->snapshot_version = info.version;
  snprintf(s->champion_text, sizeof s->champion_text, "%s", gtext);
  pthread_mutex_lock(&s->info_mu);
  snprintf(s->info.champion, sizeof s->info.champion, "%s", gtext);
  pthread_mutex_unlock(&s->info_mu);
  atomic_store(&s->st.champion_bytes,
               snap_model != s->model ? (uint64_t)cf->bytes : (uint64_t)petra_model_n_params(s->model) * 4);
  atomic_store(&s->st.champion_p50_us, p50);
  atomic_store(&s->st.champion_p99_us, p99);
  atomic_fetch_add(&s->st.snapshots_built, 1);
  outbox_push(s, m);
}

/* A snapshot is due: the fp32 model is published at once; with a champion, the evolution
 * thread compiles it from a copy of the current weights first (snapshot_wanted, served in the
 * trainer's loop; took_build publishes it when done). */
static void build_snapshot(petra_service *s) {
  if (atomic_load(&s->st.no_skill)) {
    atomic_fetch_add(&s->st.snapshots_withheld, 1);
    return;
  }
  if (s->have_champion && s->evw.started) {
    s->snapshot_wanted = 1;
    return;
  }
  publish_snapshot(s, s->model, NULL, "");
}

/* The evolution thread compiled the champion (s->evw.build_*): its fitness was measured on
 * older weights and the uncompressed model may have moved ahead since, so it is published only
 * if it is still within the tolerance of the uncompressed model on the same window (else the
 * fp32 model is). */
static void took_build(petra_service *s) {
  int hib = s->conf.spec.kind == PETRA_MODEL_SEQ;
  const petra_fitness *bf = &s->evw.build_fp32, *cf = &s->evw.build_champion;
  int ok = s->evw.build_rc == 0 && s->evw.cand.model;
  int behind = ok && s->evw.build_fp32_rc == 0 &&
               (hib ? cf->metric < bf->metric - s->evo_tolerance : cf->metric > bf->metric + s->evo_tolerance);
  if (atomic_load(&s->st.no_skill)) {
    atomic_fetch_add(&s->st.snapshots_withheld, 1);
  } else if (behind || !ok) {
    if (behind) {
      atomic_fetch_add(&s->st.champions_behind, 1);
      LOG_INFO("champion_behind", "champion_metric=%.4f fp32_metric=%.4f tolerance=%.4f action=\"fp32 published\"",
               cf->metric, bf->metric, s->evo_tolerance);
    }
    publish_snapshot(s, s->model, NULL, "");
  } else {
    char gtext[1024];
    petra_genome_format(&s->evw.build_genome, gtext, sizeof gtext);
    publish_snapshot(s, s->evw.cand.model, cf, gtext); /* the worker touches it again only when posted */
  }
}

/* A classifier no better than a constant predictor (after health.no_skill_after labelled
 * examples) is reported and publishes nothing: binary — prequential AUC not significantly
 * above 0.5 (at most 0.5 + 2.5 null standard deviations of the window's AUC);
 * multi-class — accuracy at most 1/K + 0.01 (a uniform guess; the window keeps no labels to
 * know the majority share). */
static void check_skill(petra_service *s) {
  const petra_metrics *pm = petra_trainer_metrics(s->trainer);
  uint64_t seen = petra_trainer_get_stats(s->trainer)->examples;
  int none = 0;
  if (s->conf.spec.kind == PETRA_MODEL_SEQ && s->ts.no_skill_after > 0 &&
      seen >= (uint64_t)s->ts.no_skill_after) {
    double v = petra_metrics_value(pm);
    if (s->conf.spec.classes == 1) none = !(v > 0.5 + 2.5 * petra_metrics_auc_null_sd(pm));
    else none = !(v > 1.0 / s->conf.spec.classes + 0.01);
  }
  const petra_metrics *nm = petra_trainer_naive_metrics(s->trainer);
  if (nm && petra_metrics_count(nm) > 0) {
    double naive = petra_metrics_mse(nm), mse = petra_metrics_value(pm);
    atomic_store(&s->st.naive_metric, naive);
    int worse = s->ts.no_skill_after > 0 && seen >= (uint64_t)s->ts.no_skill_after && mse > naive;
    if (worse != atomic_exchange(&s->st.worse_than_naive, worse))
      LOG_WARN(worse ? "worse_than_naive" : "better_than_naive", "examples=%llu mse=%.6g naive_mse=%.6g skill=%.3f",
               (unsigned long long)seen, mse, naive, mse > 0 ? naive / mse : 0.0);
  }
  int was = atomic_exchange(&s->st.no_skill, none);
  if (none != was) {
    if (none)
      LOG_WARN("no_skill", "examples=%llu %s=%.4f action=\"no snapshots until the model beats a constant predictor\"",
               (unsigned long long)seen, petra_metrics_name(pm), petra_metrics_value(pm));
    else
      LOG_INFO("skill_regained", "examples=%llu %s=%.4f", (unsigned long long)seen, petra_metrics_name(pm),
               petra_metrics_value(pm));
  }
}

static void refresh_metric(petra_service *s) {
  double mv = petra_metrics_value(petra_trainer_metrics(s->trainer));
  if (isfinite(mv)) atomic_store(&s->st.metric, mv);
  check_skill(s);
}

/* Keeps the most recent examples as the evaluation window. */
static void remember_recent(petra_service *s, int n, const float *ex) {
  for (int i = 0; i < n; i++) {
    memcpy(s->holdout + (size_t)s->hold_head * s->conf.example_floats, ex + (size_t)i * s->conf.example_floats, sizeof(float) * (size_t)s->conf.example_floats);
    s->hold_head = (s->hold_head + 1) % s->hold_cap;
    if (s->hold_n < s->hold_cap) s->hold_n++;
  }
}

static void do_checkpoint(petra_service *s, svc_mark *mk) {
  svc_out *m = calloc(1, sizeof *m);
  if (!m) {
    svc_mark_free(mk);
    return;
  }
  m->type = SVC_OUT_CHECKPOINT;
  ckpt *c = &mk->c;
  c->snapshot_version = s->snapshot_version;
  c->generation = s->generation + 1;
  int rc = petra_trainer_save(s->trainer, &c->trainer, &c->trainer_len);
  uint8_t *bytes = NULL;
  size_t len = 0;
  if (rc == 0 && ckpt_encode(c, &bytes, &len)) {
    rc = -1;
    snprintf(m->err, sizeof m->err, "checkpoint: out of memory");
  } else if (rc == 0) {
    state_store *st = s->conf.store;
    if (st && st->save) rc = st->save(st, bytes, len, m->err, sizeof m->err);
  } else {
    snprintf(m->err, sizeof m->err, "serializing the trainer failed: %s", petra_strerror(rc));
  }
  if (rc == 0) {
    s->generation = c->generation;
    m->version = c->generation;
    /* the audit's lineage: the ids above this line, back to the previous mark, are in this
     * generation (tests/audit_lineage.py keeps those of generations a later run restored) */
    if (s->conf.audit) {
      fprintf(s->conf.audit, "#checkpoint %llu\n", (unsigned long long)c->generation);
      fflush(s->conf.audit);
    }
    if (s->conf.forward_checkpoints) { /* the caller writes the same bytes to the state topic */
      m->bytes = bytes;
      m->len = len;
      bytes = NULL;
    }
  }
  free(bytes);
  m->ok = rc == 0;
  if (m->ok) atomic_fetch_add(&s->st.checkpoints, 1);
  else atomic_fetch_add(&s->st.checkpoint_failures, 1);
  /* hand the offsets (not the blobs) back to the loop */
  m->c.n_offsets = c->n_offsets;
  memcpy(m->c.offsets, c->offsets, sizeof(ckpt_offset) * (size_t)c->n_offsets);
  svc_mark_free(mk);
  outbox_push(s, m);
}

/* A core trial finished (s->evw, the worker idle): when a core won, its model and trainer
 * become the live ones, the evolution starts over on them (the population was for the old
 * core's layers) and their fp32 snapshot is published. */
static void took_cores(petra_service *s) {
  LOG_INFO("core_trial", "%s", s->evw.trial_log);
  if (!s->evw.won_model) return;
  petra_model *m = s->evw.won_model;
  petra_trainer *t = s->evw.won_trainer;
  s->evw.won_model = NULL;
  s->evw.won_trainer = NULL;
  if (svc_evo_reset(s, m)) { /* out of memory: the live model stays */
    petra_trainer_free(t);
    petra_model_free(m);
    return;
  }
  char was[256];
  svc_core_text(petra_model_get_spec(s->model), was, sizeof was);
  const petra_trainer_stats *os = petra_trainer_get_stats(s->trainer), *ns = petra_trainer_get_stats(t);
  s->examples_base += os->examples - (ns->examples < os->examples ? ns->examples : os->examples);
  s->steps_base += os->steps - (ns->steps < os->steps ? ns->steps : os->steps);
  petra_trainer_free(s->trainer);
  petra_model_free(s->model);
  s->model = m;
  s->trainer = t;
  s->have_champion = 0;
  s->champion_text[0] = 0;
  atomic_fetch_add(&s->st.core_switches, 1);
  pthread_mutex_lock(&s->info_mu);
  snprintf(s->info.core, sizeof s->info.core, "%s", s->evw.won_core);
  s->info.champion[0] = 0;
  pthread_mutex_unlock(&s->info_mu);
  LOG_INFO("core_changed", "from=\"%s\" to=\"%s\"", was, s->evw.won_core);
  check_skill(s); /* the prequential window starts over with the new model */
  build_snapshot(s);
}

static void *trainer_main(void *arg) {
  petra_service *s = arg;
  float *buf = malloc(sizeof(float) * POP_MAX * (size_t)s->conf.example_floats);
  uint64_t tags[POP_MAX];
  uint64_t last_snapshot = clk_mono_ms(), last_evo = clk_mono_ms(), last_metric_ms = 0;
  double feed_us = 0;
  uint64_t feed_calls = 0, feed_examples = 0;
  int stop = 0, drift_pending = 0, metric_dirty = 0;
  int step_due = 0, last_posted = 0; /* an evolution step waiting for the worker; the kind posted last */
  int trial_due = 0;                  /* a core trial waits for the worker (svc_conf.cores) */
  uint64_t last_trial = clk_mono_ms();
  pthread_mutex_lock(&s->info_mu);
  svc_core_text(petra_model_get_spec(s->model), s->info.core, sizeof s->info.core);
  pthread_mutex_unlock(&s->info_mu);
  s->hold_cap = s->conf.holdout;
  s->holdout = malloc(sizeof(float) * (size_t)s->hold_cap * s->conf.example_floats);
  char eerr[256];
  if (svc_evo_start(s, eerr, sizeof eerr)) LOG_ERROR("evolution_unavailable", "error=\"%s\"", eerr);
  /* a model started from a snapshot file is publishable as it is: scorers get it before the
   * first example arrives (and the warm start can be checked against the file) */
  if (s->publish_now) build_snapshot(s);
  if (s->conf.audit) {
    fprintf(s->conf.audit, "#restored %llu %llu\n", (unsigned long long)s->generation,
            (unsigned long long)clk_wall_ms());
    fflush(s->conf.audit);
  }
  while (!stop && buf) {
    exq_item it;
    atomic_fetch_add(&s->st.trainer_heartbeat, 1);
    int n = exq_pop(s->q, buf, tags, POP_MAX, 100, &it);
    if (it.type == EXQ_EXAMPLE && n > 0) {
      double tf0 = clk_mono_us();
      svc_evo_feed_begin(s); /* waits while the evolution thread times a plan */
      int rc = petra_trainer_feed(s->trainer, n, buf);
      svc_evo_feed_end(s);
      feed_us += clk_mono_us() - tf0;
      feed_calls++;
      feed_examples += (uint64_t)n;
      remember_recent(s, n, buf);
      if (rc < 0) LOG_ERROR("train_failed", "error=%s", petra_strerror(rc));
      if (s->conf.audit && rc >= 0) { /* only what the trainer took: a refused batch trained nothing */
        /* written to the kernel at once (fflush) so that it survives kill -9 */
        for (int i = 0; i < n; i++) fprintf(s->conf.audit, "%llu\n", (unsigned long long)tags[i]);
        fflush(s->conf.audit);
      }
      const petra_trainer_stats *tst = petra_trainer_get_stats(s->trainer);
      atomic_store(&s->st.examples, s->examples_base + tst->examples);
      atomic_store(&s->st.train_steps, s->steps_base + tst->steps);
      atomic_store(&s->st.loss, tst->ema_loss);
      /* the windowed AUC sorts the window: refresh the published value at most 4× a second,
       * not on every pop (small pops are frequent when the queue runs near empty) */
      uint64_t tnow = clk_mono_ms();
      metric_dirty = 1;
      if (tnow - last_metric_ms >= 250) {
        refresh_metric(s);
        last_metric_ms = tnow;
        metric_dirty = 0;
      }
      if (tst->skipped_nonfinite != atomic_load(&s->st.skipped_nonfinite) ||
          tst->rollbacks != atomic_load(&s->st.rollbacks)) {
        LOG_WARN("nonfinite_training", "skipped=%llu rollbacks=%llu last=\"%s\"",
                 (unsigned long long)tst->skipped_nonfinite, (unsigned long long)tst->rollbacks, tst->last_nonfinite);
        atomic_store(&s->st.skipped_nonfinite, tst->skipped_nonfinite);
        atomic_store(&s->st.rollbacks, tst->rollbacks);
        atomic_store(&s->st.last_nonfinite_ms, tnow);
      }
      if (petra_trainer_take_drift(s->trainer)) {
        drift_pending = 1; /* re-search the compression now: the champion was chosen on old data */
        atomic_fetch_add(&s->st.drifts, 1);
        pthread_mutex_lock(&s->info_mu);
        s->info.last_drift_ms = clk_mono_ms();
        pthread_mutex_unlock(&s->info_mu);
        LOG_INFO("drift_detected", "examples=%llu loss=%.4f", (unsigned long long)tst->examples,
                 tst->ema_loss);
      }
    } else if (it.type != EXQ_MARK && metric_dirty) {
      /* the queue ran dry: publish the metric of the last examples too (the refresh above is
       * rate-limited, and a stream that stops would leave an older window's value) */
      refresh_metric(s);
      last_metric_ms = clk_mono_ms();
      metric_dirty = 0;
    } else if (it.type == EXQ_MARK) {
      svc_mark *mk = it.mark;
      if (mk->settings_only) {
        s->ts = mk->settings;
        svc_mark_free(mk);
      } else {
        stop = mk->stop;
        do_checkpoint(s, mk);
      }
    }
    uint64_t now = clk_mono_ms();
    if (!stop && s->holdout && !step_due &&
        ((double)(now - last_evo) >= s->ts.evolution_interval_s * 1000 || atomic_exchange(&s->st.req_evolve, 0) ||
         drift_pending)) {
      if (drift_pending) LOG_INFO("evolution_on_drift", "steps=%llu", (unsigned long long)atomic_load(&s->st.evolution_steps));
      step_due = 1;
      drift_pending = 0;
    }
    if (!stop && s->conf.cores[0] && !trial_due &&
        ((double)(now - last_trial) >= s->conf.core_trial_s * 1000 || atomic_exchange(&s->st.req_core_trial, 0)))
      trial_due = 1;
    /* a core trial goes in the place of an evolution step (it waits for the next due one) */
    if (trial_due && step_due && !stop && (!s->snapshot_wanted || last_posted == SVC_EVO_BUILD) &&
        svc_evo_post(s, SVC_EVO_CORES, NULL)) {
      trial_due = 0;
      step_due = 0;
      last_trial = last_evo = now;
      last_posted = SVC_EVO_STEP;
    }
    /* one job at a time on the evolution thread; a due step and a snapshot's champion take
     * turns, so that neither starves the other (where compiling a champion takes longer than
     * the snapshot interval, as under a sanitizer, steps never ran) */
    if (step_due && !stop && (!s->snapshot_wanted || last_posted == SVC_EVO_BUILD) &&
        svc_evo_post(s, SVC_EVO_STEP, NULL)) {
      step_due = 0;
      last_evo = now;
      last_posted = SVC_EVO_STEP;
    }
    if (s->snapshot_wanted && (!step_due || last_posted != SVC_EVO_BUILD) &&
        svc_evo_post(s, SVC_EVO_BUILD, &s->champion)) {
      s->snapshot_wanted = 0;
      last_posted = SVC_EVO_BUILD;
    }
    int took = svc_evo_take(s);
    if (took == SVC_EVO_BUILD) took_build(s);
    if (took == SVC_EVO_CORES) took_cores(s);
    if (took == SVC_EVO_STEP) { /* a step finished: its champion, if it changed, is published */
      s->have_champion = s->evw.have_champion;
      s->champion = s->evw.champion;
      s->evo_tolerance = s->evw.tolerance;
      if (s->have_champion) {
        char text[1024];
        petra_genome_format(&s->champion, text, sizeof text);
        if (strcmp(text, s->champion_text)) {
          LOG_INFO("champion_changed", "genome=\"%s\"", text);
          build_snapshot(s);
          last_snapshot = now;
        }
      }
    }
    if (!stop &&
        ((double)(now - last_snapshot) >= s->ts.snapshot_interval_s * 1000 ||
         atomic_exchange(&s->st.req_snapshot, 0)) &&
        petra_trainer_get_stats(s->trainer)->steps > 0) {
      build_snapshot(s);
      last_snapshot = now;
    }
  }
  free(buf);
  LOG_INFO("trainer_summary", "examples=%llu feed_calls=%llu feed_seconds=%.2f examples_per_feed_s=%.0f",
           (unsigned long long)feed_examples, (unsigned long long)feed_calls, feed_us / 1e6,
           feed_us > 0 ? (double)feed_examples / (feed_us / 1e6) : 0.0);
  svc_evo_stop(s);
  free(s->holdout);
  svc_out *m = calloc(1, sizeof *m);
  if (m) {
    m->type = SVC_OUT_STOPPED;
    outbox_push(s, m);
  }
  return NULL;
}

petra_service *svc_new(const svc_conf *c, char *err, size_t n) {
  if (c->example_floats <= 0 || c->queue_capacity <= 0 || c->holdout <= 0) {
    snprintf(err, n, "service: example size, queue capacity and hold-out window must be positive");
    return NULL;
  }
  petra_service *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, n, "service: out of memory");
    return NULL;
  }
  s->conf = *c;
  s->ts = c->settings;
  s->q = exq_new(c->queue_capacity, c->example_floats);
  if (!s->q) {
    snprintf(err, n, "service: out of memory for a queue of %d examples", c->queue_capacity);
    free(s);
    return NULL;
  }
  pthread_mutex_init(&s->info_mu, NULL);
  pthread_mutex_init(&s->enc_mu, NULL);
  pthread_mutex_init(&s->out_mu, NULL);
  return s;
}

int svc_start(petra_service *s, const svc_resume *r, char *err, size_t n) {
  if (s->running) {
    snprintf(err, n, "service: already running");
    return -1;
  }
  s->model = r->model;
  s->trainer = r->trainer;
  s->snapshot_version = r->snapshot_version;
  s->generation = r->generation;
  s->publish_now = r->publish_now;
  if (pthread_create(&s->thread, NULL, trainer_main, s)) {
    snprintf(err, n, "cannot start the trainer thread");
    return -1;
  }
  s->running = 1;
  return 0;
}

int svc_running(const petra_service *s) { return s && s->running; }

void svc_join(petra_service *s) {
  if (s && s->running) pthread_join(s->thread, NULL);
  if (s) s->running = 0;
}

void svc_free(petra_service *s) {
  if (!s) return;
  svc_join(s);
  svc_out *m;
  while ((m = svc_take(s))) svc_out_free(m);
  exq_free(s->q, svc_mark_free);
  petra_trainer_free(s->trainer);
  petra_model_free(s->model);
  free(s->info.population_json);
  free(s->info.pareto_json);
  free(s->info.core_trial_json);
  free(s->enc_bytes);
  pthread_mutex_destroy(&s->info_mu);
  pthread_mutex_destroy(&s->enc_mu);
  pthread_mutex_destroy(&s->out_mu);
  free(s);
}

exqueue *svc_queue(petra_service *s) { return s->q; }

void svc_share_encoder(petra_service *s, uint8_t *b, size_t len) {
  pthread_mutex_lock(&s->enc_mu);
  free(s->enc_bytes);
  s->enc_bytes = b;
  s->enc_len = len;
  pthread_mutex_unlock(&s->enc_mu);
}

svc_stats *svc_stats_of(petra_service *s) { return &s->st; }

const svc_info *svc_info_lock(petra_service *s) {
  pthread_mutex_lock(&s->info_mu);
  return &s->info;
}

void svc_info_unlock(petra_service *s) { pthread_mutex_unlock(&s->info_mu); }

const petra_model_spec *svc_spec(const petra_service *s) { return &s->conf.spec; }
