/* The trainer thread: owns the model and trainer. Pops examples and marks from the queue,
 * trains (prequential test-then-train), writes checkpoints when a mark arrives, and builds
 * snapshots on the freshness interval; results go to the loop through the outbox. Evolution
 * steps are handed to the evolution thread (evo_worker.c) and never stop training. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__GLIBC__) /* defined by the libc headers above */
#include <malloc.h>
#endif

#include "petra/plan.h"

#include "log.h"
#include "petra/snapshot.h"
#include "petra/stats.h"
#include "petrad.h"

#define POP_MAX 256

void petrad_mark_free(void *p) {
  mark *m = p;
  if (!m) return;
  ckpt_clear(&m->c);
  free(m);
}

void petrad_outbox_push(petrad *d, outmsg *m) {
  m->next = NULL;
  pthread_mutex_lock(&d->out_mu);
  if (d->out_tail)
    d->out_tail->next = m;
  else
    d->out_head = m;
  d->out_tail = m;
  pthread_mutex_unlock(&d->out_mu);
  uv_async_send(&d->wake);
}

outmsg *petrad_outbox_take(petrad *d) {
  pthread_mutex_lock(&d->out_mu);
  outmsg *m = d->out_head;
  if (m) {
    d->out_head = m->next;
    if (!d->out_head) d->out_tail = NULL;
  }
  pthread_mutex_unlock(&d->out_mu);
  return m;
}

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}


/* Batch-1 latency of the current model on recent replay examples: p50 and p99 in µs. */
static void measure_latency(petrad *d, double *p50, double *p99) {
  const petra_replay *r = petra_trainer_replay(d->trainer);
  *p50 = *p99 = 0;
  if (r->size == 0) return;
  enum { REPS = 200 };
  double t[REPS];
  float out[1024];
  int no = petra_model_n_outputs(d->model);
  if (no > 1024) return;
  for (int i = 0; i < 20; i++) petra_model_forward(d->model, 1, petra_replay_get(r, i % r->size), out);
  for (int i = 0; i < REPS; i++) {
    double t0 = now_us();
    petra_model_forward(d->model, 1, petra_replay_get(r, i % r->size), out);
    t[i] = now_us() - t0;
  }
  petra_sort_doubles(t, REPS);
  *p50 = petra_quantile_sorted(t, REPS, 0.5);
  *p99 = petra_quantile_sorted(t, REPS, 0.99);
}

/* Publishes a snapshot of snap_model (the live fp32 model, or a champion compiled by the
 * evolution thread with fitness cf and genome text gtext). Trainer thread. */
static void publish_snapshot(petrad *d, const petra_model *snap_model, const petra_fitness *cf, const char *gtext) {
  double p50, p99;
  if (snap_model == d->model) {
    measure_latency(d, &p50, &p99);
  } else {
    p50 = cf->p50_us;
    p99 = cf->p99_us;
  }
  const petra_metrics *met = petra_trainer_metrics(d->trainer);
  const petra_trainer_stats *ts = petra_trainer_get_stats(d->trainer);
  petra_snapshot_info info;
  memset(&info, 0, sizeof info);
  snprintf(info.model_id, sizeof info.model_id, "%s", d->cfg.model_id);
  info.version = d->snapshot_version + 1;
  info.base_version = d->snapshot_version;
  info.created_ms = (int64_t)petrad_wall_ms();
  info.examples_seen = ts->examples;
  info.train_steps = ts->steps;
  snprintf(info.feature_schema, sizeof info.feature_schema, "%s", features_schema(d->feat));
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
  pthread_mutex_lock(&d->enc_mu);
  if (d->enc_len) enc = petra_encoder_load(d->enc_bytes, d->enc_len, NULL);
  pthread_mutex_unlock(&d->enc_mu);
  info.encoder = enc;
  if (snap_model != d->model) {
    info.metric = cf->metric;
    info.size_bytes = (uint64_t)cf->bytes;
  }
  outmsg *m = calloc(1, sizeof *m);
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
  char vtext[32], verr[512];
  int vl = snprintf(vtext, sizeof vtext, "%llu\n", (unsigned long long)info.version);
  if (atomic_write_file(d->cfg.state_dir, "snapshot_version", vtext, (size_t)vl, 0, verr, sizeof verr)) {
    LOG_ERROR("snapshot_version_not_saved", "error=\"%s\" action=\"snapshot not published\"", verr);
    free(m->bytes);
    free(m);
    return;
  }
  m->type = OUT_SNAPSHOT;
  m->version = info.version;
  m->built_us = now_us();
  d->snapshot_version = info.version;
  snprintf(d->champion_text, sizeof d->champion_text, "%s", gtext);
  pthread_mutex_lock(&d->info_mu);
  snprintf(d->info.champion, sizeof d->info.champion, "%s", gtext);
  pthread_mutex_unlock(&d->info_mu);
  atomic_store(&d->st.champion_bytes,
               snap_model != d->model ? (uint64_t)cf->bytes : (uint64_t)petra_model_n_params(d->model) * 4);
  atomic_store(&d->st.champion_p50_us, p50);
  atomic_store(&d->st.champion_p99_us, p99);
  atomic_fetch_add(&d->st.snapshots_built, 1);
  petrad_outbox_push(d, m);
}

/* A snapshot is due: the fp32 model is published at once; with a champion, the evolution
 * thread compiles it from a copy of the current weights first (snapshot_wanted, served in the
 * trainer's loop; took_build publishes it when done). */
static void build_snapshot(petrad *d) {
  if (atomic_load(&d->st.no_skill)) {
    atomic_fetch_add(&d->st.snapshots_withheld, 1);
    return;
  }
  if (d->have_champion && d->evw.started) {
    d->snapshot_wanted = 1;
    return;
  }
  publish_snapshot(d, d->model, NULL, "");
}

/* The evolution thread compiled the champion (d->evw.build_*): its fitness was measured on
 * older weights and the uncompressed model may have moved ahead since, so it is published only
 * if it is still within the tolerance of the uncompressed model on the same window (else the
 * fp32 model is). */
static void took_build(petrad *d) {
  int hib = d->spec.kind == PETRA_MODEL_SEQ;
  const petra_fitness *bf = &d->evw.build_fp32, *cf = &d->evw.build_champion;
  int ok = d->evw.build_rc == 0 && d->evw.cand.model;
  int behind = ok && d->evw.build_fp32_rc == 0 &&
               (hib ? cf->metric < bf->metric - d->evo_tolerance : cf->metric > bf->metric + d->evo_tolerance);
  if (atomic_load(&d->st.no_skill)) {
    atomic_fetch_add(&d->st.snapshots_withheld, 1);
  } else if (behind || !ok) {
    if (behind) {
      atomic_fetch_add(&d->st.champions_behind, 1);
      LOG_INFO("champion_behind", "champion_metric=%.4f fp32_metric=%.4f tolerance=%.4f action=\"fp32 published\"",
               cf->metric, bf->metric, d->evo_tolerance);
    }
    publish_snapshot(d, d->model, NULL, "");
  } else {
    char gtext[1024];
    petra_genome_format(&d->evw.build_genome, gtext, sizeof gtext);
    publish_snapshot(d, d->evw.cand.model, cf, gtext); /* the worker touches it again only when posted */
  }
}

/* A classifier no better than a constant predictor (after health.no_skill_after labelled
 * examples) is reported and publishes nothing: binary — prequential AUC not significantly
 * above 0.5 (at most 0.5 + 2.5 null standard deviations of the window's AUC);
 * multi-class — accuracy at most 1/K + 0.01 (a uniform guess; the window keeps no labels to
 * know the majority share). */
static void check_skill(petrad *d) {
  const petra_metrics *pm = petra_trainer_metrics(d->trainer);
  uint64_t seen = petra_trainer_get_stats(d->trainer)->examples;
  int none = 0;
  if (d->spec.kind == PETRA_MODEL_SEQ && d->ts.no_skill_after > 0 &&
      seen >= (uint64_t)d->ts.no_skill_after) {
    double v = petra_metrics_value(pm);
    if (d->spec.classes == 1) none = !(v > 0.5 + 2.5 * petra_metrics_auc_null_sd(pm));
    else none = !(v > 1.0 / d->spec.classes + 0.01);
  }
  const petra_metrics *nm = petra_trainer_naive_metrics(d->trainer);
  if (nm && petra_metrics_count(nm) > 0) {
    double naive = petra_metrics_mse(nm), mse = petra_metrics_value(pm);
    atomic_store(&d->st.naive_metric, naive);
    int worse = d->ts.no_skill_after > 0 && seen >= (uint64_t)d->ts.no_skill_after && mse > naive;
    if (worse != atomic_exchange(&d->st.worse_than_naive, worse))
      LOG_WARN(worse ? "worse_than_naive" : "better_than_naive", "examples=%llu mse=%.6g naive_mse=%.6g skill=%.3f",
               (unsigned long long)seen, mse, naive, mse > 0 ? naive / mse : 0.0);
  }
  int was = atomic_exchange(&d->st.no_skill, none);
  if (none != was) {
    if (none)
      LOG_WARN("no_skill", "examples=%llu %s=%.4f action=\"no snapshots until the model beats a constant predictor\"",
               (unsigned long long)seen, petra_metrics_name(pm), petra_metrics_value(pm));
    else
      LOG_INFO("skill_regained", "examples=%llu %s=%.4f", (unsigned long long)seen, petra_metrics_name(pm),
               petra_metrics_value(pm));
  }
}

static void refresh_metric(petrad *d) {
  double mv = petra_metrics_value(petra_trainer_metrics(d->trainer));
  if (isfinite(mv)) atomic_store(&d->st.metric, mv);
  check_skill(d);
}

/* Keeps the most recent examples as the evaluation window. */
static void remember_recent(petrad *d, int n, const float *ex) {
  for (int i = 0; i < n; i++) {
    memcpy(d->holdout + (size_t)d->hold_head * d->ef, ex + (size_t)i * d->ef, sizeof(float) * (size_t)d->ef);
    d->hold_head = (d->hold_head + 1) % d->hold_cap;
    if (d->hold_n < d->hold_cap) d->hold_n++;
  }
}

static void do_checkpoint(petrad *d, mark *mk) {
  outmsg *m = calloc(1, sizeof *m);
  if (!m) {
    petrad_mark_free(mk);
    return;
  }
  m->type = OUT_CHECKPOINT;
  ckpt *c = &mk->c;
  c->snapshot_version = d->snapshot_version;
  c->generation = d->ckpt_generation + 1;
  int rc = petra_trainer_save(d->trainer, &c->trainer, &c->trainer_len);
  uint8_t *bytes = NULL;
  size_t len = 0;
  if (rc == 0 && ckpt_encode(c, &bytes, &len)) {
    rc = -1;
    snprintf(m->err, sizeof m->err, "checkpoint: out of memory");
  } else if (rc == 0) {
    char e2[768];
    rc = atomic_write_file(d->cfg.state_dir, "checkpoint", bytes, len, 1, e2, sizeof e2);
    if (rc) snprintf(m->err, sizeof m->err, "checkpoint: %.480s", e2);
  } else {
    snprintf(m->err, sizeof m->err, "serializing the trainer failed: %s", petra_strerror(rc));
  }
  if (rc == 0) {
    d->ckpt_generation = c->generation;
    m->version = c->generation;
    /* the audit's lineage: the ids above this line, back to the previous mark, are in this
     * generation (tests/audit_lineage.py keeps those of generations a later run restored) */
    if (d->audit) {
      fprintf(d->audit, "#checkpoint %llu\n", (unsigned long long)c->generation);
      fflush(d->audit);
    }
    if (d->cfg.topic_state[0]) { /* the loop writes the same bytes to the state topic */
      m->bytes = bytes;
      m->len = len;
      bytes = NULL;
    }
  }
  free(bytes);
  m->ok = rc == 0;
  if (m->ok) atomic_fetch_add(&d->st.checkpoints, 1);
  else atomic_fetch_add(&d->st.checkpoint_failures, 1);
  /* hand the offsets (not the blobs) back to the loop */
  m->c.n_offsets = c->n_offsets;
  memcpy(m->c.offsets, c->offsets, sizeof(ckpt_offset) * (size_t)c->n_offsets);
  petrad_mark_free(mk);
  petrad_outbox_push(d, m);
}

static void *trainer_main(void *arg) {
  petrad *d = arg;
  float *buf = malloc(sizeof(float) * POP_MAX * (size_t)d->ef);
  uint64_t tags[POP_MAX];
  uint64_t last_snapshot = petrad_now_ms(), last_evo = petrad_now_ms(), last_metric_ms = 0;
  double feed_us = 0;
  uint64_t feed_calls = 0, feed_examples = 0;
  int stop = 0, drift_pending = 0, metric_dirty = 0;
  d->hold_cap = d->cfg.evolution_holdout;
  d->holdout = malloc(sizeof(float) * (size_t)d->hold_cap * d->ef);
  d->hold_lin = malloc(sizeof(float) * (size_t)d->hold_cap * d->ef);
  char eerr[256];
  if (petrad_evo_start(d, eerr, sizeof eerr)) LOG_ERROR("evolution_unavailable", "error=\"%s\"", eerr);
  /* a model started from a snapshot file is publishable as it is: scorers get it before the
   * first example arrives (and the warm start can be checked against the file) */
  if (d->warm_started) build_snapshot(d);
  if (d->audit) {
    fprintf(d->audit, "#restored %llu %llu\n", (unsigned long long)d->ckpt_generation,
            (unsigned long long)petrad_wall_ms());
    fflush(d->audit);
  }
  while (!stop && buf) {
    exq_item it;
    atomic_fetch_add(&d->st.trainer_heartbeat, 1);
    int n = exq_pop(d->q, buf, tags, POP_MAX, 100, &it);
    if (it.type == EXQ_EXAMPLE && n > 0) {
      double tf0 = now_us();
      petrad_evo_feed_begin(d); /* waits while the evolution thread times a plan */
      int rc = petra_trainer_feed(d->trainer, n, buf);
      petrad_evo_feed_end(d);
      feed_us += now_us() - tf0;
      feed_calls++;
      feed_examples += (uint64_t)n;
      remember_recent(d, n, buf);
      if (rc < 0) LOG_ERROR("train_failed", "error=%s", petra_strerror(rc));
      if (d->audit && rc >= 0) { /* only what the trainer took: a refused batch trained nothing */
        /* written to the kernel at once (fflush) so that it survives kill -9 */
        for (int i = 0; i < n; i++) fprintf(d->audit, "%llu\n", (unsigned long long)tags[i]);
        fflush(d->audit);
      }
      const petra_trainer_stats *s = petra_trainer_get_stats(d->trainer);
      atomic_store(&d->st.examples, s->examples);
      atomic_store(&d->st.train_steps, s->steps);
      atomic_store(&d->st.loss, s->ema_loss);
      /* the windowed AUC sorts the window: refresh the published value at most 4× a second,
       * not on every pop (small pops are frequent when the queue runs near empty) */
      uint64_t tnow = petrad_now_ms();
      metric_dirty = 1;
      if (tnow - last_metric_ms >= 250) {
        refresh_metric(d);
        last_metric_ms = tnow;
        metric_dirty = 0;
      }
      if (s->skipped_nonfinite != atomic_load(&d->st.skipped_nonfinite) ||
          s->rollbacks != atomic_load(&d->st.rollbacks)) {
        LOG_WARN("nonfinite_training", "skipped=%llu rollbacks=%llu last=\"%s\"",
                 (unsigned long long)s->skipped_nonfinite, (unsigned long long)s->rollbacks, s->last_nonfinite);
        atomic_store(&d->st.skipped_nonfinite, s->skipped_nonfinite);
        atomic_store(&d->st.rollbacks, s->rollbacks);
        atomic_store(&d->st.last_nonfinite_ms, tnow);
      }
      if (petra_trainer_take_drift(d->trainer)) {
        drift_pending = 1; /* re-search the compression now: the champion was chosen on old data */
        atomic_fetch_add(&d->st.drifts, 1);
        pthread_mutex_lock(&d->info_mu);
        d->info.last_drift_ms = petrad_now_ms();
        pthread_mutex_unlock(&d->info_mu);
        LOG_INFO("drift_detected", "examples=%llu loss=%.4f", (unsigned long long)s->examples,
                 s->ema_loss);
      }
    } else if (it.type != EXQ_MARK && metric_dirty) {
      /* the queue ran dry: publish the metric of the last examples too (the refresh above is
       * rate-limited, and a stream that stops would leave an older window's value) */
      refresh_metric(d);
      last_metric_ms = petrad_now_ms();
      metric_dirty = 0;
    } else if (it.type == EXQ_MARK) {
      mark *mk = it.mark;
      if (mk->settings_only) {
        d->ts = mk->settings;
        petrad_mark_free(mk);
      } else {
        stop = mk->stop;
        do_checkpoint(d, mk);
      }
    }
    uint64_t now = petrad_now_ms();
    if (!stop && d->holdout && d->hold_lin &&
        ((double)(now - last_evo) >= d->ts.evolution_interval_s * 1000 || atomic_exchange(&d->st.req_evolve, 0) ||
         drift_pending)) {
      if (drift_pending) LOG_INFO("evolution_on_drift", "steps=%llu", (unsigned long long)atomic_load(&d->st.evolution_steps));
      /* handed to the evolution thread (skipped while it still runs the last one, or has a
       * snapshot's champion to compile first) */
      if ((!d->snapshot_wanted && petrad_evo_post(d, PETRAD_EVO_STEP, NULL)) || !drift_pending) last_evo = now;
      drift_pending = 0;
    }
    if (d->snapshot_wanted && petrad_evo_post(d, PETRAD_EVO_BUILD, &d->champion)) d->snapshot_wanted = 0;
    int took = petrad_evo_take(d);
    if (took == PETRAD_EVO_BUILD) took_build(d);
    if (took == PETRAD_EVO_STEP) { /* a step finished: its champion, if it changed, is published */
      d->have_champion = d->evw.have_champion;
      d->champion = d->evw.champion;
      d->evo_tolerance = d->evw.tolerance;
      if (d->have_champion) {
        char text[1024];
        petra_genome_format(&d->champion, text, sizeof text);
        if (strcmp(text, d->champion_text)) {
          LOG_INFO("champion_changed", "genome=\"%s\"", text);
          build_snapshot(d);
          last_snapshot = now;
        }
      }
    }
    if (!stop &&
        ((double)(now - last_snapshot) >= d->ts.snapshot_interval_s * 1000 ||
         atomic_exchange(&d->st.req_snapshot, 0)) &&
        petra_trainer_get_stats(d->trainer)->steps > 0) {
      build_snapshot(d);
      last_snapshot = now;
    }
  }
  free(buf);
  LOG_INFO("trainer_summary", "examples=%llu feed_calls=%llu feed_seconds=%.2f examples_per_feed_s=%.0f",
           (unsigned long long)feed_examples, (unsigned long long)feed_calls, feed_us / 1e6,
           feed_us > 0 ? (double)feed_examples / (feed_us / 1e6) : 0.0);
  petrad_evo_stop(d);
  free(d->holdout);
  free(d->hold_lin);
  outmsg *m = calloc(1, sizeof *m);
  if (m) {
    m->type = OUT_STOPPED;
    petrad_outbox_push(d, m);
  }
  return NULL;
}

int petrad_trainer_start(petrad *d, char *err, size_t n) {
  if (pthread_create(&d->trainer_thread, NULL, trainer_main, d)) {
    snprintf(err, n, "cannot start the trainer thread");
    return -1;
  }
  return 0;
}
