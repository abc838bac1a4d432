/* Operations on the loop thread: the control socket (a Unix stream socket, one JSON line per
 * command line, peer credentials checked), health and status, the Prometheus exposition and
 * its optional HTTP listener (libmicrohttpd, own thread: /metrics and the status page at /,
 * both served from caches the 1 s ops timer renders on the loop thread and hands over under
 * prom_mu, so that a request never touches loop state or waits for the loop).
 *
 * Clients are bounded in number (control.max_clients), in line length (CTL_MAX_LINE), in
 * time per command line (control.timeout_s: a slow or silent client is dropped) and in
 * unread output (a client that does not read its replies is dropped at 1 MiB). None of them
 * can block the loop: every read and write is non-blocking through libuv. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <microhttpd.h>

#include "log.h"
#include "petrad.h"
#include "prom.h"
#include "statuspage.h"
#include "version.h"

#define CTL_MAX_UNREAD (1u << 20)

struct ctl_client {
  uv_pipe_t pipe;
  uv_timer_t timer;
  petrad *d;
  ctl_client *prev, *next;
  char buf[CTL_MAX_LINE];
  size_t len;
  int handles_open;
  int closing;
};

typedef struct wreq {
  uv_write_t req;
  char *data;
} wreq;

static const char *metric_name(const petrad *d) {
  return petra_metric_name_for(d->spec.kind == PETRA_MODEL_SEQ ? d->spec.classes : 0);
}

/* ---------------------------------------------------------------- health */

typedef struct reasons {
  sbuf *b;
  int level, n;
} reasons;

static void __attribute__((format(printf, 3, 4))) reason(reasons *r, int level, const char *fmt, ...) {
  char text[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  if (level > r->level) r->level = level;
  if (r->n++) sb_put(r->b, ",", 1);
  sb_json_str(r->b, text);
}

int petrad_health(petrad *d, sbuf *out) {
  reasons rs = {out, 0, 0}, *r = &rs;
  uint64_t now = clk_mono_ms();
#define REASON(lvl, ...) reason(r, lvl, __VA_ARGS__)
  sb_put(out, "[", 1);
  if (d->ha.role == PETRAD_ROLE_JOINING || d->ha.role == PETRAD_ROLE_TAKING_OVER || d->ha.role == PETRAD_ROLE_STANDBY) {
    if (d->brokers_down) REASON(1, "broker unreachable: all brokers down");
    if (d->kafka_auth_error_ms) REASON(1, "kafka %s", d->kafka_auth_error);
    if (d->ha.role == PETRAD_ROLE_JOINING) REASON(1, "ha: waiting for the lease group %s.lease to name the owner", d->cfg.group_id);
    if (d->ha.role == PETRAD_ROLE_TAKING_OVER) REASON(1, "ha: taking over (fencing the previous owner, restoring the state)");
    if (d->stopping) REASON(1, "stopping");
    sb_put(out, "]", 1);
    return rs.level ? rs.level : d->ha.role == PETRAD_ROLE_STANDBY ? PETRAD_HEALTH_STANDBY : 0;
  }
  double stall = (double)(now - d->ops.hb_changed_ms) / 1000.0;
  if (d->ops.hb_changed_ms && stall > d->cfg.health_trainer_stall_s)
    REASON(2, "trainer stalled: no progress for %.0f s", stall);
  if (d->brokers_down) REASON(1, "broker unreachable: all brokers down");
  if (d->kafka_auth_error_ms) REASON(1, "kafka %s", d->kafka_auth_error);
  for (int i = 0; i < d->in.n_offsets && d->in.consumer; i++) {
    int64_t lo = -1, hi = -1;
    if (d->in.offsets[i].next < 0) continue;
    if (rd_kafka_get_watermark_offsets(d->in.consumer, d->in.offsets[i].topic, d->in.offsets[i].partition, &lo,
                                       &hi) != RD_KAFKA_RESP_ERR_NO_ERROR || hi < 0)
      continue;
    int64_t lag = hi - d->in.offsets[i].next;
    if (lag > d->cfg.health_max_lag)
      REASON(1, "consumer lag over threshold: %s[%d] lags %lld > %lld", d->in.offsets[i].topic,
             d->in.offsets[i].partition, (long long)lag, (long long)d->cfg.health_max_lag);
  }
  double age = (double)(now - d->last_ckpt_ok_ms) / 1000.0;
  if (age > d->cfg.health_max_checkpoint_age_s)
    REASON(1, "last checkpoint age %.0f s > %.0f s", age, d->cfg.health_max_checkpoint_age_s);
  if (d->last_ckpt_fail_ms > d->last_ckpt_ok_ms)
    REASON(1, "last checkpoint failed: %s", d->last_ckpt_error);
  if (d->in.op_paused) REASON(1, "consumption paused by the operator");
  if (atomic_load(&d->st->no_skill))
    REASON(1, "no_skill: the model is no better than a constant predictor after %d labelled examples "
              "(%s %.4f); no snapshot is published (check the inputs: features.transforms, labels)",
           d->cfg.health_no_skill_after, metric_name(d), atomic_load(&d->st->metric));
  if (atomic_load(&d->st->worse_than_naive))
    REASON(1, "worse_than_naive: the forecast's prequential mse %.6g is above the naive forecast's %.6g "
              "(the last value carried forward) over the metrics window",
           atomic_load(&d->st->metric), atomic_load(&d->st->naive_metric));
  uint64_t nf = atomic_load(&d->st->last_nonfinite_ms);
  if (nf && now - nf < 300000)
    REASON(1, "nonfinite: %llu batches skipped for a non-finite loss or gradient, %llu weight "
              "rollbacks (last %.0f s ago)",
           (unsigned long long)atomic_load(&d->st->skipped_nonfinite),
           (unsigned long long)atomic_load(&d->st->rollbacks), (double)(now - nf) / 1000.0);
  if (d->stopping) REASON(1, "stopping");
  sb_put(out, "]", 1);
#undef REASON
  return rs.level;
}

/* ---------------------------------------------------------------- metrics */

static void counter(sbuf *b, const char *name, const char *help, double v) {
  prom_family(b, name, "counter", help);
  prom_sample(b, name, "", v);
}
static void gauge(sbuf *b, const char *name, const char *help, double v) {
  prom_family(b, name, "gauge", help);
  prom_sample(b, name, "", v);
}

void petrad_metrics_text(petrad *d, sbuf *b) {
  char lab[512];
  prom_family(b, "petra_build_info", "gauge", "petrad version and model id (always 1)");
  lab[0] = 0;
  prom_label(lab, sizeof lab, "version", PETRA_VERSION);
  prom_label(lab, sizeof lab, "model_id", d->cfg.model_id);
  prom_sample(b, "petra_build_info", lab, 1);
  gauge(b, "petra_uptime_seconds", "seconds since petrad started",
        (double)(clk_mono_ms() - d->start_ms) / 1000.0);
  prom_family(b, "petra_role", "gauge", "1 for this petrad's role (single, joining, standby, taking_over, owner)");
  lab[0] = 0;
  prom_label(lab, sizeof lab, "role", petrad_role_name(d->ha.role));
  prom_sample(b, "petra_role", lab, 1);
  if (d->cfg.ha_enabled) {
    counter(b, "petra_txn_commits_total", "Kafka transactions committed (ha)", (double)d->out.txn_commits);
    counter(b, "petra_txn_aborts_total", "Kafka transactions aborted (ha)", (double)d->out.txn_aborts);
    gauge(b, "petra_txn_commit_seconds", "duration of the last transaction commit (ha)", d->out.txn_commit_ms_last / 1000.0);
  }
  counter(b, "petra_events_total", "input messages consumed and decoded (events and points)", (double)d->in.events);
  counter(b, "petra_labels_total", "label messages consumed", (double)d->in.labels);
  counter(b, "petra_dead_letters_total", "input messages rejected to the dead-letter topic",
          (double)d->in.dead_letters);
  gauge(b, "petra_events_per_second", "input messages per second over the last 5 s", d->ops.events_per_s);
  counter(b, "petra_examples_total", "examples the trainer has seen", (double)atomic_load(&d->st->examples));
  counter(b, "petra_train_steps_total", "optimizer steps", (double)atomic_load(&d->st->train_steps));
  gauge(b, "petra_train_loss", "exponential moving average of the training loss", atomic_load(&d->st->loss));
  prom_family(b, "petra_model_metric", "gauge", "prequential target metric over the recent window");
  lab[0] = 0;
  prom_label(lab, sizeof lab, "metric", metric_name(d));
  prom_sample(b, "petra_model_metric", lab, atomic_load(&d->st->metric));
  counter(b, "petra_drift_detections_total", "Page-Hinkley drift detections", (double)atomic_load(&d->st->drifts));
  counter(b, "petra_state_bytes_written_total", "checkpoint bytes written to topics.state",
          (double)d->out.state_bytes_written);
  counter(b, "petra_state_failures_total", "checkpoints the state topic did not take", (double)d->out.state_failures);
  counter(b, "petra_nonfinite_batches_total", "training batches skipped for a non-finite loss or gradient",
          (double)atomic_load(&d->st->skipped_nonfinite));
  counter(b, "petra_weight_rollbacks_total", "steps whose non-finite weights were rolled back",
          (double)atomic_load(&d->st->rollbacks));
  {
    const features_stats *fs = features_get_stats(d->in.feat);
    gauge(b, "petra_entities", "entities whose recent events are held", (double)fs->entities);
    gauge(b, "petra_labels_waiting", "labels parked until their entity's events reach the label time",
          (double)fs->parked);
    counter(b, "petra_labels_without_history_total", "labels whose entity had no event at or before the label time",
            (double)fs->unknown_entity);
    counter(b, "petra_labels_dropped_total", "parked labels lost to eviction or a full pool", (double)fs->labels_dropped);
  }
  if (d->spec.kind == PETRA_MODEL_TS) {
    double nv = atomic_load(&d->st->naive_metric), mv = atomic_load(&d->st->metric);
    gauge(b, "petra_naive_metric", "prequential mse of the naive forecast (last value carried forward)", nv);
    gauge(b, "petra_model_skill", "naive mse / model mse over the metrics window (above 1: better than naive)",
          mv > 0 ? nv / mv : 0);
  }
  gauge(b, "petra_model_no_skill", "1 while the model is no better than a constant predictor",
        atomic_load(&d->st->no_skill));
  counter(b, "petra_evolution_steps_total", "steady-state evolution steps", (double)atomic_load(&d->st->evolution_steps));
  counter(b, "petra_evolution_cpu_seconds_total", "CPU time of the evolution thread",
          atomic_load(&d->st->evo_cpu_s));
  gauge(b, "petra_champion_bytes", "packed size of the published model", (double)atomic_load(&d->st->champion_bytes));
  gauge(b, "petra_champion_latency_p50_seconds", "batch-1 p50 latency of the published model",
        atomic_load(&d->st->champion_p50_us) / 1e6);
  gauge(b, "petra_champion_latency_p99_seconds", "batch-1 p99 latency of the published model",
        atomic_load(&d->st->champion_p99_us) / 1e6);
  counter(b, "petra_snapshots_built_total", "snapshots built by the trainer", (double)atomic_load(&d->st->snapshots_built));
  counter(b, "petra_snapshots_published_total", "snapshots confirmed delivered", (double)d->out.snapshots_published);
  counter(b, "petra_snapshot_publish_failures_total", "snapshots whose delivery failed",
          (double)d->out.snapshot_publish_failures);
  gauge(b, "petra_snapshot_version", "last published snapshot version", (double)d->out.last_published_version);
  counter(b, "petra_checkpoints_total", "checkpoints written", (double)atomic_load(&d->st->checkpoints));
  counter(b, "petra_checkpoint_failures_total", "checkpoints that failed",
          (double)atomic_load(&d->st->checkpoint_failures));
  gauge(b, "petra_checkpoint_age_seconds", "seconds since the last good checkpoint",
        (double)(clk_mono_ms() - d->last_ckpt_ok_ms) / 1000.0);
  gauge(b, "petra_queue_depth", "examples waiting for the trainer", exq_len(d->q));
  gauge(b, "petra_queue_capacity_examples", "capacity of the trainer queue", d->cfg.queue_capacity);
  gauge(b, "petra_consumer_paused", "1 while consumption is paused (backpressure or operator)",
        d->in.paused || d->in.backpressure);
  counter(b, "petra_consumer_pauses_total", "times consumption was paused", (double)d->in.pauses);
  counter(b, "petra_control_requests_total", "control socket commands served", (double)d->ops.ctl_requests);
  counter(b, "petra_control_refused_total", "control clients refused (credentials or limits)", (double)d->ops.ctl_refused);
  gauge(b, "petra_control_clients", "control clients connected", d->ops.n_ctl_clients);
  if (d->in.consumer && d->in.n_offsets) {
    prom_family(b, "petra_consumer_lag_messages", "gauge", "high watermark minus next offset to consume");
    for (int i = 0; i < d->in.n_offsets; i++) {
      int64_t lo = -1, hi = -1;
      if (d->in.offsets[i].next < 0 ||
          rd_kafka_get_watermark_offsets(d->in.consumer, d->in.offsets[i].topic, d->in.offsets[i].partition, &lo,
                                         &hi) != RD_KAFKA_RESP_ERR_NO_ERROR || hi < 0)
        continue;
      char p[16];
      snprintf(p, sizeof p, "%d", d->in.offsets[i].partition);
      lab[0] = 0;
      prom_label(lab, sizeof lab, "topic", d->in.offsets[i].topic);
      prom_label(lab, sizeof lab, "partition", p);
      prom_sample(b, "petra_consumer_lag_messages", lab, (double)(hi - d->in.offsets[i].next));
    }
  }
  /* snapshot publish latency: built → delivery confirmed */
  /* cumulative since start, as the exposition format requires (counts only rise) */
  prom_histogram(b, "petra_snapshot_publish_seconds", "snapshot built to delivery confirmed",
                 &d->out.publish_hist);
  int lvl = 0;
  sbuf r;
  sb_init(&r);
  lvl = petrad_health(d, &r);
  sb_free(&r);
  gauge(b, "petra_health_status", "0 ok, 1 degraded, 2 failing", lvl);
}

/* ---------------------------------------------------------------- status */

static void status_json(petrad *d, sbuf *b) {
  uint64_t now = clk_mono_ms();
  sb_printf(b, "\"model_id\":");
  sb_json_str(b, d->cfg.model_id);
  sb_printf(b, ",\"role\":\"%s\"", petrad_role_name(d->ha.role));
  if (d->cfg.ha_enabled) {
    sb_printf(b, ",\"ha\":{\"identity\":");
    sb_json_str(b, d->ha.identity);
    sb_printf(b, ",\"owner\":");
    sb_json_str(b, d->ha.owner[0] ? d->ha.owner : "unknown");
    sb_printf(b, ",\"transactional_id\":");
    sb_json_str(b, d->ha.txn_id);
    sb_printf(b, ",\"lease_members\":%d,\"takeover_ms\":", d->ha.members);
    sb_json_num(b, d->ha.role == PETRAD_ROLE_OWNER ? d->ha.takeover_ms : NAN);
    sb_printf(b, ",\"transactions\":{\"commits\":%llu,\"aborts\":%llu,\"open\":%s,\"fenced\":%s,\"commit_ms_last\":",
              (unsigned long long)d->out.txn_commits, (unsigned long long)d->out.txn_aborts, d->out.txn_open ? "true" : "false",
              d->out.txn_fatal ? "true" : "false");
    sb_json_num(b, d->out.txn_commit_ms_last);
    sb_printf(b, ",\"commit_ms_max\":");
    sb_json_num(b, d->out.txn_commit_ms_max);
    sb_printf(b, ",\"committed_snapshot_version\":%llu}}", (unsigned long long)d->out.committed_snapshot_version);
  }
  sb_printf(b, ",\"version\":\"%s\",\"uptime_s\":%.1f,\"events\":%llu,\"events_per_s\":", PETRA_VERSION,
            (double)(now - d->start_ms) / 1000.0, (unsigned long long)d->in.events);
  sb_json_num(b, d->ops.events_per_s);
  sb_printf(b, ",\"labels\":%llu,\"dead_letters\":%llu,\"examples\":%llu,\"train_steps\":%llu,\"loss\":",
            (unsigned long long)d->in.labels, (unsigned long long)d->in.dead_letters,
            (unsigned long long)atomic_load(&d->st->examples), (unsigned long long)atomic_load(&d->st->train_steps));
  sb_json_num(b, atomic_load(&d->st->loss));
  sb_printf(b, ",\"metric_name\":\"%s\",\"metric\":", metric_name(d));
  sb_json_num(b, atomic_load(&d->st->metric));
  const svc_info *inf = svc_info_lock(d->svc);
  uint64_t last_drift = inf->last_drift_ms;
  char champion[1024], core[256];
  snprintf(champion, sizeof champion, "%s", inf->champion);
  snprintf(core, sizeof core, "%s", inf->core);
  char *trial = inf->core_trial_json ? strdup(inf->core_trial_json) : NULL;
  svc_info_unlock(d->svc);
  sb_printf(b, ",\"drift_detections\":%llu,\"last_drift_age_s\":", (unsigned long long)atomic_load(&d->st->drifts));
  sb_json_num(b, last_drift ? (double)(now - last_drift) / 1000.0 : NAN);
  const features_stats *fs = features_get_stats(d->in.feat);
  sb_printf(b, ",\"entities\":%llu,\"entity_evictions\":%llu,\"labels_waiting\":%llu,"
            "\"labels_without_history\":%llu,\"labels_dropped\":%llu",
            (unsigned long long)fs->entities, (unsigned long long)fs->evictions, (unsigned long long)fs->parked,
            (unsigned long long)fs->unknown_entity, (unsigned long long)fs->labels_dropped);
  if (d->spec.kind == PETRA_MODEL_TS) {
    double nv = atomic_load(&d->st->naive_metric), mv = atomic_load(&d->st->metric);
    sb_printf(b, ",\"naive_mse\":");
    sb_json_num(b, nv);
    sb_printf(b, ",\"skill\":");
    sb_json_num(b, mv > 0 ? nv / mv : NAN);
  }
  sb_printf(b, ",\"restored_from\":\"%s\",\"state_topic\":{\"generation\":%llu,\"bytes_written\":%llu,\"failures\":%llu}",
            d->restored_from, (unsigned long long)d->out.state_generation_published,
            (unsigned long long)d->out.state_bytes_written, (unsigned long long)d->out.state_failures);
  sb_printf(b, ",\"snapshots_built\":%llu,\"champion_fallbacks\":%llu",
            (unsigned long long)atomic_load(&d->st->snapshots_built),
            (unsigned long long)atomic_load(&d->st->champions_behind));
  sb_printf(b, ",\"no_skill\":%s,\"snapshots_withheld\":%llu,\"nonfinite_skipped\":%llu,\"nonfinite_rollbacks\":%llu",
            atomic_load(&d->st->no_skill) ? "true" : "false",
            (unsigned long long)atomic_load(&d->st->snapshots_withheld),
            (unsigned long long)atomic_load(&d->st->skipped_nonfinite),
            (unsigned long long)atomic_load(&d->st->rollbacks));
  sb_printf(b,
            ",\"queue_depth\":%d,\"queue_capacity\":%d,\"paused\":%s,\"backpressure\":%s,\"operator_paused\":%s,"
            "\"pauses\":%llu",
            exq_len(d->q), d->cfg.queue_capacity, d->in.paused || d->in.backpressure ? "true" : "false",
            d->in.backpressure ? "true" : "false", d->in.op_paused ? "true" : "false", (unsigned long long)d->in.pauses);
  sb_printf(b, ",\"partitions\":[");
  int np = 0;
  for (int i = 0; i < d->in.n_offsets; i++) {
    int64_t lo = -1, hi = -1;
    if (d->in.consumer)
      rd_kafka_get_watermark_offsets(d->in.consumer, d->in.offsets[i].topic, d->in.offsets[i].partition, &lo, &hi);
    sb_printf(b, "%s{\"topic\":", np++ ? "," : "");
    sb_json_str(b, d->in.offsets[i].topic);
    sb_printf(b, ",\"partition\":%d,\"next_offset\":%lld,\"high_watermark\":%lld,\"lag\":", d->in.offsets[i].partition,
              (long long)d->in.offsets[i].next, (long long)hi);
    if (hi >= 0 && d->in.offsets[i].next >= 0) sb_printf(b, "%lld}", (long long)(hi - d->in.offsets[i].next));
    else sb_printf(b, "null}");
  }
  sb_printf(b, "],\"evolution_steps\":%llu,\"evolution_worker\":{\"busy\":%s,\"last_step_ms\":",
            (unsigned long long)atomic_load(&d->st->evolution_steps), atomic_load(&d->st->evo_busy) ? "true" : "false");
  sb_json_num(b, atomic_load(&d->st->evo_step_ms));
  sb_printf(b, ",\"cpu_s\":");
  sb_json_num(b, atomic_load(&d->st->evo_cpu_s));
  sb_printf(b, ",\"memory_bytes\":%llu},\"core\":{\"live\":",
            (unsigned long long)atomic_load(&d->st->evo_memory_bytes));
  sb_json_str(b, core);
  sb_printf(b, ",\"search\":%s,\"trials\":%llu,\"switches\":%llu,\"last_trial\":%s}", d->cfg.evolution_cores[0] ? "true" : "false",
            (unsigned long long)atomic_load(&d->st->core_trials), (unsigned long long)atomic_load(&d->st->core_switches),
            trial ? trial : "null");
  free(trial);
  sb_printf(b, ",\"champion\":{\"genome\":");
  sb_json_str(b, champion[0] ? champion : "fp32");
  sb_printf(b, ",\"bytes\":%llu,\"p50_us\":", (unsigned long long)atomic_load(&d->st->champion_bytes));
  sb_json_num(b, atomic_load(&d->st->champion_p50_us));
  sb_printf(b, ",\"p99_us\":");
  sb_json_num(b, atomic_load(&d->st->champion_p99_us));
  sb_printf(b, "},\"last_snapshot\":{\"version\":%llu,\"published\":%llu,\"age_s\":",
            (unsigned long long)d->out.last_published_version, (unsigned long long)d->out.snapshots_published);
  sb_json_num(b, d->out.last_snapshot_ms ? (double)(now - d->out.last_snapshot_ms) / 1000.0 : NAN);
  sb_printf(b, "},\"checkpoints\":%llu,\"checkpoint_failures\":%llu,\"last_checkpoint_age_s\":",
            (unsigned long long)atomic_load(&d->st->checkpoints),
            (unsigned long long)atomic_load(&d->st->checkpoint_failures));
  sb_json_num(b, (double)(now - d->last_ckpt_ok_ms) / 1000.0);
  sb_printf(b, ",\"embedded\":%s,\"bootstrap\":", d->opt.embedded ? "true" : "false");
  sb_json_str(b, d->bootstrap);
  sb_printf(b, ",\"log_level\":\"%s\"", plog_level_name(plog_get_level()));
  /* the reloadable settings in force (what a reload changed) */
  sb_printf(b,
            ",\"settings\":{\"snapshot.interval_s\":%g,\"metrics.interval_s\":%g,\"checkpoint.interval_s\":%g,"
            "\"checkpoint.interval_examples\":%d,\"evolution.interval_s\":%g,\"evolution.latency_budget_ratio\":%g,"
            "\"evolution.metric_tolerance\":%g,\"health.max_lag\":%lld,\"health.max_checkpoint_age_s\":%g,"
            "\"health.trainer_stall_s\":%g,\"health.no_skill_after\":%d,\"control.timeout_s\":%g,"
            "\"control.max_clients\":%d}",
            d->cfg.snapshot_interval_s, d->cfg.metrics_interval_s, d->cfg.checkpoint_interval_s,
            d->cfg.checkpoint_interval_examples, d->cfg.evolution_interval_s, d->cfg.latency_budget_ratio,
            d->cfg.evolution_tolerance, (long long)d->cfg.health_max_lag, d->cfg.health_max_checkpoint_age_s,
            d->cfg.health_trainer_stall_s, d->cfg.health_no_skill_after, d->cfg.control_timeout_s,
            d->cfg.control_max_clients);
}

/* ---------------------------------------------------------------- commands */

static void execute(petrad *d, const char *line, size_t len, sbuf *b) {
  ctl_request rq;
  char err[256];
  d->ops.ctl_requests++;
  if (ctl_parse(line, len, &rq, err, sizeof err)) {
    sb_printf(b, "{\"ok\":false,\"error\":");
    sb_json_str(b, err);
    sb_put(b, "}", 1);
    return;
  }
  if (!d->trainer_running && (rq.cmd == CTL_PAUSE || rq.cmd == CTL_RESUME || rq.cmd == CTL_EVOLVE ||
                              rq.cmd == CTL_SNAPSHOT || rq.cmd == CTL_CHECKPOINT || rq.cmd == CTL_CORE_TRIAL)) {
    sb_printf(b, "{\"ok\":false,\"command\":\"%s\",\"error\":", ctl_cmd_name(rq.cmd));
    char why[600];
    snprintf(why, sizeof why, "this petrad is %s, not the owner of model %s (owner: %s): send it to the owner",
             petrad_role_name(d->ha.role), d->cfg.model_id, d->ha.owner[0] ? d->ha.owner : "unknown");
    sb_json_str(b, why);
    sb_put(b, "}", 1);
    return;
  }
  if (rq.cmd == CTL_CORE_TRIAL && !d->cfg.evolution_cores[0]) {
    sb_printf(b, "{\"ok\":false,\"command\":\"core-trial\",\"error\":\"evolution.cores is empty: no other core to "
                 "try (petrad.conf(5))\"}");
    return;
  }
  sb_printf(b, "{\"ok\":true,\"command\":\"%s\"", ctl_cmd_name(rq.cmd));
  switch (rq.cmd) {
    case CTL_HELP:
      sb_printf(b, ",\"commands\":\"%s\"", ctl_commands());
      break;
    case CTL_HEALTH: {
      sbuf r;
      sb_init(&r);
      int lvl = petrad_health(d, &r);
      static const char *names[] = {"ok", "degraded", "failing", "?", "standby"};
      sb_printf(b, ",\"health\":\"%s\",\"level\":%d,\"role\":\"%s\",\"reasons\":%s", names[lvl], lvl,
                petrad_role_name(d->ha.role), r.p ? r.p : "[]");
      sb_free(&r);
      break;
    }
    case CTL_STATUS:
      sb_put(b, ",", 1);
      status_json(d, b);
      break;
    case CTL_POPULATION:
    case CTL_PARETO: {
      const svc_info *inf = svc_info_lock(d->svc);
      const char *j = rq.cmd == CTL_POPULATION ? inf->population_json : inf->pareto_json;
      sb_printf(b, ",\"evolution_steps\":%llu,\"members\":%s",
                (unsigned long long)atomic_load(&d->st->evolution_steps), j ? j : "[]");
      svc_info_unlock(d->svc);
      break;
    }
    case CTL_METRICS: {
      sbuf m;
      sb_init(&m);
      petrad_metrics_text(d, &m);
      sb_printf(b, ",\"text\":");
      sb_json_str(b, m.p ? m.p : "");
      sb_free(&m);
      break;
    }
    case CTL_PAUSE:
      d->in.op_paused = 1;
      petrad_kafka_pause(d, 1);
      LOG_INFO("operator_pause", "via=control");
      sb_printf(b, ",\"paused\":true");
      break;
    case CTL_RESUME:
      d->in.op_paused = 0;
      LOG_INFO("operator_resume", "via=control");
      /* resumes now if the queue has room, else when it drains (the backpressure timer) */
      petrad_kafka_pause(d, 0);
      sb_printf(b, ",\"paused\":false");
      break;
    case CTL_EVOLVE:
      atomic_store(&d->st->req_evolve, 1);
      sb_printf(b, ",\"queued\":true,\"evolution_steps\":%llu",
                (unsigned long long)atomic_load(&d->st->evolution_steps));
      break;
    case CTL_CORE_TRIAL:
      atomic_store(&d->st->req_core_trial, 1);
      atomic_store(&d->st->req_evolve, 1); /* a trial takes the place of the next step: now */
      sb_printf(b, ",\"queued\":true,\"core_trials\":%llu", (unsigned long long)atomic_load(&d->st->core_trials));
      break;
    case CTL_SNAPSHOT:
      atomic_store(&d->st->req_snapshot, 1);
      sb_printf(b, ",\"queued\":true,\"snapshots_built\":%llu",
                (unsigned long long)atomic_load(&d->st->snapshots_built));
      break;
    case CTL_CHECKPOINT: {
      int was = d->checkpoint_in_flight;
      if (!d->stopping) petrad_request_checkpoint(d, 0);
      sb_printf(b, ",\"queued\":%s,\"checkpoints\":%llu", !was && !d->stopping ? "true" : "false",
                (unsigned long long)atomic_load(&d->st->checkpoints));
      break;
    }
    case CTL_RELOAD: {
      char rerr[512];
      if (petrad_reload(d, rerr, sizeof rerr)) {
        b->len = 0;
        sb_printf(b, "{\"ok\":false,\"command\":\"reload\",\"error\":");
        sb_json_str(b, rerr);
      }
      break;
    }
    case CTL_LOGLEVEL:
      plog_set_level(plog_parse_level(rq.arg));
      snprintf(d->cfg.log_level, sizeof d->cfg.log_level, "%.15s", rq.arg);
      LOG_INFO("log_level_set", "level=%s via=control", rq.arg);
      sb_printf(b, ",\"log_level\":\"%s\"", rq.arg);
      break;
  }
  sb_put(b, "}", 1);
}

/* ---------------------------------------------------------------- clients */

static void client_closed(uv_handle_t *h) {
  ctl_client *c = h->data;
  if (--c->handles_open == 0) free(c);
}

static void unlink_client(ctl_client *c) {
  petrad *d = c->d;
  if (c->prev) c->prev->next = c->next;
  else d->ops.ctl_clients = c->next;
  if (c->next) c->next->prev = c->prev;
  d->ops.n_ctl_clients--;
}

static void client_drop(ctl_client *c) {
  if (c->closing == 2) return;
  if (!c->closing) unlink_client(c);
  c->closing = 2;
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, client_closed);
  uv_close((uv_handle_t *)&c->pipe, client_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  (void)status;
  ctl_client *c = req->data;
  free(req);
  client_drop(c);
}

static void on_flush_timeout(uv_timer_t *t) { client_drop(t->data); }

/* Closes after the queued replies are written (uv_close alone would cancel them), but no
 * later than a second from now for a peer that does not read. */
static void client_finish(ctl_client *c) {
  if (c->closing) return;
  unlink_client(c);
  c->closing = 1;
  /* keep reading (and discarding) until closed: a socket closed with unread input makes
   * the peer's reads fail with ECONNRESET, which could hide the reply just sent */
  uv_shutdown_t *req = malloc(sizeof *req);
  if (!req) {
    client_drop(c);
    return;
  }
  req->data = c;
  if (uv_shutdown(req, (uv_stream_t *)&c->pipe, on_shutdown)) {
    free(req);
    client_drop(c);
    return;
  }
  uv_timer_start(&c->timer, on_flush_timeout, 1000, 0);
}

static void write_done(uv_write_t *req, int status) {
  wreq *w = (wreq *)req;
  (void)status; /* a failed write means the client went away; its read sees EOF */
  free(w->data);
  free(w);
}

/* Queues a reply (the text plus "\n"); the buffer is the sbuf's own, handed to the write. */
static void send_reply(ctl_client *c, sbuf *b) {
  if (c->closing) return;
  sb_put(b, "\n", 1);
  if (b->oom) {
    sb_free(b);
    client_drop(c);
    return;
  }
  wreq *w = malloc(sizeof *w);
  if (!w) {
    sb_free(b);
    client_drop(c);
    return;
  }
  w->data = b->p;
  uv_buf_t buf = uv_buf_init(b->p, (unsigned)b->len);
  sb_init(b);
  if (uv_write(&w->req, (uv_stream_t *)&c->pipe, &buf, 1, write_done)) {
    free(w->data);
    free(w);
    client_drop(c);
    return;
  }
  if (uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) > CTL_MAX_UNREAD) {
    LOG_WARN("control_client_dropped", "reason=\"not reading its replies\"");
    c->d->ops.ctl_dropped++;
    client_drop(c);
  }
}

static void reply_error_and_close(ctl_client *c, const char *msg) {
  sbuf b;
  sb_init(&b);
  sb_printf(&b, "{\"ok\":false,\"error\":");
  sb_json_str(&b, msg);
  sb_put(&b, "}", 1);
  send_reply(c, &b);
  client_finish(c);
}

static void on_client_timeout(uv_timer_t *t) {
  ctl_client *c = t->data;
  c->d->ops.ctl_dropped++;
  LOG_INFO("control_client_dropped", "reason=\"no complete command within %.1f s\"", c->d->cfg.control_timeout_s);
  reply_error_and_close(c, "timeout: no complete command line");
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  static char rbuf[4096]; /* the loop thread's; each read is consumed before the next */
  *buf = uv_buf_init(rbuf, sizeof rbuf);
}

static void on_client_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  ctl_client *c = s->data;
  if (nread < 0) {
    client_drop(c);
    return;
  }
  if (c->closing) return; /* finishing: input is discarded */
  for (ssize_t i = 0; i < nread && !c->closing; i++) {
    char ch = buf->base[i];
    if (c->len == sizeof c->buf) {
      reply_error_and_close(c, "command line too long");
      return;
    }
    c->buf[c->len++] = ch;
    if (ch != '\n') continue;
    sbuf b;
    sb_init(&b);
    execute(c->d, c->buf, c->len, &b);
    c->len = 0;
    send_reply(c, &b);
    if (!c->closing) {
      uint64_t to = (uint64_t)(c->d->cfg.control_timeout_s * 1000);
      uv_timer_start(&c->timer, on_client_timeout, to, 0);
    }
  }
}

/* Is the peer's user listed as a member of group gid (supplementary membership, which
 * SO_PEERCRED does not carry), or is gid its primary group? */
static int in_group(uid_t uid, gid_t peer_gid, gid_t gid) {
  if (peer_gid == gid) return 1;
  struct passwd *pw = getpwuid(uid);
  struct group *g = getgrgid(gid);
  if (!pw || !g) return 0;
  for (char **m = g->gr_mem; *m; m++)
    if (!strcmp(*m, pw->pw_name)) return 1;
  return 0;
}

/* Allowed: root, petrad's own user, members of petrad's own group (the unit's `petra`
 * group: operators join it), and members of control.group. */
static int peer_allowed(petrad *d, int fd, struct ucred *cr) {
  socklen_t l = sizeof *cr;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cr, &l)) return 0;
  if (cr->uid == 0 || cr->uid == geteuid()) return 1;
  if (getegid() != 0 && in_group(cr->uid, cr->gid, getegid())) return 1;
  return d->ops.ctl_gid >= 0 && in_group(cr->uid, cr->gid, (gid_t)d->ops.ctl_gid);
}

static void on_connection(uv_stream_t *server, int status) {
  petrad *d = server->data;
  if (status < 0) {
    LOG_WARN("control_accept_failed", "error=\"%s\"", uv_strerror(status));
    return;
  }
  ctl_client *c = calloc(1, sizeof *c);
  if (!c) return;
  c->d = d;
  uv_pipe_init(d->loop, &c->pipe, 0);
  uv_timer_init(d->loop, &c->timer);
  c->pipe.data = c->timer.data = c;
  c->handles_open = 2;
  c->next = d->ops.ctl_clients;
  if (d->ops.ctl_clients) d->ops.ctl_clients->prev = c;
  d->ops.ctl_clients = c;
  d->ops.n_ctl_clients++;
  if (uv_accept(server, (uv_stream_t *)&c->pipe)) {
    client_drop(c);
    return;
  }
  uv_os_fd_t fd;
  struct ucred cr = {0, (uid_t)-1, (gid_t)-1};
  if (uv_fileno((uv_handle_t *)&c->pipe, &fd) || !peer_allowed(d, fd, &cr)) {
    d->ops.ctl_refused++;
    LOG_WARN("control_refused", "uid=%d gid=%d pid=%d reason=\"peer credentials not allowed\"", (int)cr.uid,
             (int)cr.gid, (int)cr.pid);
    reply_error_and_close(c, "permission denied: uid not allowed on this control socket");
    return;
  }
  if (d->ops.n_ctl_clients > d->cfg.control_max_clients) {
    d->ops.ctl_refused++;
    LOG_WARN("control_refused", "reason=\"too many clients\" max=%d", d->cfg.control_max_clients);
    reply_error_and_close(c, "too many control clients; try again");
    return;
  }
  uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, on_client_read);
  uv_timer_start(&c->timer, on_client_timeout, (uint64_t)(d->cfg.control_timeout_s * 1000), 0);
}

/* ---------------------------------------------------------------- HTTP /metrics */

static enum MHD_Result http_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                    const char *version, const char *upload, size_t *upload_size, void **state) {
  (void)version;
  (void)upload;
  (void)upload_size;
  (void)state;
  petrad *d = cls;
  struct MHD_Response *r;
  unsigned code = MHD_HTTP_OK;
  if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
    code = MHD_HTTP_METHOD_NOT_ALLOWED;
    r = MHD_create_response_from_buffer(19, (void *)"method not allowed\n", MHD_RESPMEM_PERSISTENT);
  } else if (!strcmp(url, "/") || !strcmp(url, "/index.html")) {
    pthread_mutex_lock(&d->ops.prom_mu);
    r = MHD_create_response_from_buffer(d->ops.page_len, d->ops.page_cache ? d->ops.page_cache : (void *)"",
                                        MHD_RESPMEM_MUST_COPY);
    pthread_mutex_unlock(&d->ops.prom_mu);
    if (r) {
      MHD_add_response_header(r, "Content-Type", "text/html; charset=utf-8");
      MHD_add_response_header(r, "Cache-Control", "no-store");
      /* nothing on the page may come from elsewhere: no scripts, no remote fonts or images */
      MHD_add_response_header(r, "Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:");
    }
  } else if (strcmp(url, "/metrics")) {
    code = MHD_HTTP_NOT_FOUND;
    r = MHD_create_response_from_buffer(30, (void *)"not found; try / or /metrics\n", MHD_RESPMEM_PERSISTENT);
  } else {
    pthread_mutex_lock(&d->ops.prom_mu);
    r = MHD_create_response_from_buffer(d->ops.prom_len, d->ops.prom_cache ? d->ops.prom_cache : (void *)"",
                                        MHD_RESPMEM_MUST_COPY);
    pthread_mutex_unlock(&d->ops.prom_mu);
    if (r) MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  }
  if (!r) return MHD_NO;
  enum MHD_Result ret = MHD_queue_response(conn, code, r);
  MHD_destroy_response(r);
  return ret;
}

/* The status page from the status and health JSON, the history ring (at most 360 points a
 * chart: older samples are thinned) and the trainer's Pareto front (copied under info_mu). */
static void render_page(petrad *d, sbuf *page) {
  sbuf st, hb, r;
  sb_init(&st);
  sb_init(&hb);
  sb_init(&r);
  sb_put(&st, "{", 1);
  status_json(d, &st);
  sb_put(&st, "}", 1);
  int lvl = petrad_health(d, &r);
  static const char *names[] = {"ok", "degraded", "failing", "unknown", "standby"};
  sb_printf(&hb, "{\"health\":\"%s\",\"reasons\":%s}", names[lvl >= 0 && lvl <= 4 ? lvl : 3], r.p ? r.p : "[]");
  static double t[360], m[360], by[360], p9[360], ra[360];
  int step = (d->ops.hist_n + 359) / 360, k = 0;
  if (step < 1) step = 1;
  for (int i = (d->ops.hist_n - 1) % step; i < d->ops.hist_n && k < 360; i += step, k++) {
    int j = (d->ops.hist_head - d->ops.hist_n + i + PETRAD_HIST) % PETRAD_HIST;
    t[k] = d->ops.hist_t[j];
    m[k] = d->ops.hist_metric[j];
    by[k] = d->ops.hist_bytes[j];
    p9[k] = d->ops.hist_p99[j];
    ra[k] = d->ops.hist_rate[j];
  }
  page_history h = {k, t, m, by, p9, ra};
  static svg_point pts[64];
  page_front f;
  const svc_info *inf = svc_info_lock(d->svc);
  f.n = inf->n_front;
  memcpy(pts, inf->front, sizeof pts[0] * (size_t)f.n);
  f.budget_us = inf->front_budget_us;
  f.base_metric = inf->front_base_metric;
  f.base_p99_us = inf->front_base_p99_us;
  svc_info_unlock(d->svc);
  f.pts = pts;
  if (!st.oom && !hb.oom) status_page_html(page, st.p, hb.p, &h, &f, 5);
  sb_free(&st);
  sb_free(&hb);
  sb_free(&r);
}

/* One history sample every PETRAD_HIST_EVERY_S (loop thread). */
static void sample_history(petrad *d, uint64_t now) {
  if (d->ops.hist_last_ms && now - d->ops.hist_last_ms < PETRAD_HIST_EVERY_S * 1000) return;
  d->ops.hist_last_ms = now;
  int j = d->ops.hist_head;
  d->ops.hist_t[j] = (double)now / 1000.0;
  /* no example scored yet: the metric is a placeholder, not a point to draw */
  d->ops.hist_metric[j] = atomic_load(&d->st->examples) ? atomic_load(&d->st->metric) : NAN;
  uint64_t cb = atomic_load(&d->st->champion_bytes);
  d->ops.hist_bytes[j] = cb ? (double)cb : NAN;
  double p99 = atomic_load(&d->st->champion_p99_us);
  d->ops.hist_p99[j] = p99 > 0 ? p99 : NAN;
  d->ops.hist_rate[j] = d->ops.events_per_s;
  d->ops.hist_head = (j + 1) % PETRAD_HIST;
  if (d->ops.hist_n < PETRAD_HIST) d->ops.hist_n++;
}

static void refresh_prom_cache(petrad *d) {
  sbuf b, page;
  sb_init(&b);
  sb_init(&page);
  petrad_metrics_text(d, &b);
  render_page(d, &page);
  if (b.oom || page.oom) {
    sb_free(&b);
    sb_free(&page);
    return;
  }
  pthread_mutex_lock(&d->ops.prom_mu);
  free(d->ops.prom_cache);
  d->ops.prom_cache = b.p;
  d->ops.prom_len = b.len;
  free(d->ops.page_cache);
  d->ops.page_cache = page.p;
  d->ops.page_len = page.len;
  pthread_mutex_unlock(&d->ops.prom_mu);
}

/* ---------------------------------------------------------------- ops timer */

static void on_ops(uv_timer_t *t) {
  petrad *d = t->data;
  uint64_t now = clk_mono_ms();
  petrad_ha_tick(d);
  if (!d->trainer_running) d->ops.hb_changed_ms = now; /* nothing to stall before there is a trainer */
  uint64_t hb = atomic_load(&d->st->trainer_heartbeat);
  if (hb != d->ops.hb_seen || !d->ops.hb_changed_ms) {
    d->ops.hb_seen = hb;
    d->ops.hb_changed_ms = now;
  }
  /* Labels wait (parked) for their entity's events to reach the label time. When no input
   * arrived for a whole second and every assigned partition is read to its end, nothing more
   * is coming to complete those histories for now: join the waiting labels with what there is. */
  uint64_t inputs = d->in.events + d->in.labels;
  if (inputs == d->ops.ops_last_inputs && features_get_stats(d->in.feat)->parked > 0 && !d->stopping &&
      petrad_kafka_caught_up(d)) {
    int budget = 4096;
    while (budget > 0 && features_get_stats(d->in.feat)->parked > 0) {
      int room = exq_free_slots(d->q);
      if (room > PETRAD_MAX_EXAMPLES_PER_MESSAGE) room = PETRAD_MAX_EXAMPLES_PER_MESSAGE;
      if (room < 1) break;
      int made = features_release_parked(d->in.feat, INT64_MAX, d->in.example, room);
      for (int i = 0; i < made; i++)
        if (exq_push_example(d->q, d->in.example + (size_t)i * d->in.ef, 0) == 0) d->in.examples_queued++;
      budget -= room;
      if (made == 0 && features_get_stats(d->in.feat)->parked > 0) break; /* none could be joined */
    }
  }
  d->ops.ops_last_inputs = inputs;
  if (d->in.events != d->ops.enc_shared_events) { /* the statistics moved: share them for snapshots */
    petrad_share_encoder(d);
    d->ops.enc_shared_events = d->in.events;
  }
  d->ops.ops_i = (d->ops.ops_i + 1) % 6;
  d->ops.ops_events[d->ops.ops_i] = d->in.events;
  d->ops.ops_ms[d->ops.ops_i] = now;
  int oldest = (d->ops.ops_i + 1) % 6;
  while (!d->ops.ops_ms[oldest] && oldest != d->ops.ops_i) oldest = (oldest + 1) % 6; /* first seconds */
  if (d->ops.ops_ms[oldest] && now > d->ops.ops_ms[oldest])
    d->ops.events_per_s = (double)(d->in.events - d->ops.ops_events[oldest]) * 1000.0 / (double)(now - d->ops.ops_ms[oldest]);
  sample_history(d, now);
  if (d->ops.http) refresh_prom_cache(d);
}

/* ---------------------------------------------------------------- start / close */

static int bind_socket(petrad *d, const char *path, char *err, size_t n) {
  struct stat st;
  if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
    snprintf(err, n, "control socket path '%s' is longer than %zu bytes", path,
             sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
    return -1;
  }
  if (lstat(path, &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      snprintf(err, n, "control socket %s: exists and is not a socket", path);
      return -1;
    }
    /* a live petrad answers there: refuse to steal its socket; a stale one is replaced */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int live = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (fd >= 0) close(fd);
    if (live) {
      snprintf(err, n, "control socket %s: another process is listening on it", path);
      return -1;
    }
    unlink(path);
  }
  /* the runtime directory: systemd makes it (RuntimeDirectory=petra); by hand, make it */
  char dir[CFG_STR];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash && slash != dir) {
    *slash = 0;
    if (mkdir(dir, 0750) && errno != EEXIST) {
      snprintf(err, n, "control socket %s: cannot create %s: %s (set control.socket, or leave it empty to run "
               "without one)", path, dir, strerror(errno));
      return -1;
    }
  }
  uv_pipe_init(d->loop, &d->ops.ctl_server, 0);
  d->ops.ctl_server.data = d;
  mode_t old = umask(0117); /* created 0660 from the start, never wider */
  int rc = uv_pipe_bind(&d->ops.ctl_server, path);
  umask(old);
  if (rc == 0 && d->ops.ctl_gid >= 0 && chown(path, (uid_t)-1, (gid_t)d->ops.ctl_gid)) rc = uv_translate_sys_error(errno);
  if (rc == 0) rc = chmod(path, 0660) ? uv_translate_sys_error(errno) : 0;
  if (rc == 0) rc = uv_listen((uv_stream_t *)&d->ops.ctl_server, 4096, on_connection);
  if (rc) {
    snprintf(err, n, "control socket %s: %s (set control.socket, or leave it empty to run without one)",
             path, uv_strerror(rc));
    uv_close((uv_handle_t *)&d->ops.ctl_server, NULL);
    return -1;
  }
  snprintf(d->ops.ctl_path, sizeof d->ops.ctl_path, "%s", path);
  d->ops.ctl_on = 1;
  return 0;
}

int petrad_control_start(petrad *d, char *err, size_t n) {
  pthread_mutex_init(&d->ops.prom_mu, NULL);
  d->ops.ctl_gid = -1;
  d->last_ckpt_ok_ms = clk_mono_ms();
  uv_timer_init(d->loop, &d->ops.ops_timer);
  d->ops.ops_timer.data = d;
  uv_timer_start(&d->ops.ops_timer, on_ops, 0, 1000);
  if (d->cfg.control_group[0]) {
    struct group *g = getgrnam(d->cfg.control_group);
    if (!g) {
      snprintf(err, n, "control.group %s: no such group", d->cfg.control_group);
      return -1;
    }
    d->ops.ctl_gid = (int)g->gr_gid;
  }
  if (d->cfg.control_socket[0]) {
    if (bind_socket(d, d->cfg.control_socket, err, n)) return -1;
    LOG_INFO("control_listening", "socket=%s", d->ops.ctl_path);
  }
  if (d->cfg.metrics_http_port > 0) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)d->cfg.metrics_http_port)};
    inet_pton(AF_INET, d->cfg.metrics_http_address, &sa.sin_addr);
    refresh_prom_cache(d);
    d->ops.http = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)d->cfg.metrics_http_port,
                               NULL, NULL, http_handler, d, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                               MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                               MHD_OPTION_END);
    if (!d->ops.http) {
      snprintf(err, n, "metrics.http_port %d on %s: cannot listen (in use, or not permitted)",
               d->cfg.metrics_http_port, d->cfg.metrics_http_address);
      return -1;
    }
    LOG_INFO("metrics_http_listening", "address=%s port=%d paths=/,/metrics", d->cfg.metrics_http_address,
             d->cfg.metrics_http_port);
  }
  return 0;
}

static void noop_close(uv_handle_t *h) { (void)h; }

void petrad_control_close(petrad *d) {
  if (d->ops.http) {
    MHD_stop_daemon(d->ops.http);
    d->ops.http = NULL;
  }
  if (d->ops.ops_timer.loop && !uv_is_closing((uv_handle_t *)&d->ops.ops_timer))
    uv_close((uv_handle_t *)&d->ops.ops_timer, noop_close);
  while (d->ops.ctl_clients) client_drop(d->ops.ctl_clients);
  if (d->ops.ctl_on) {
    uv_close((uv_handle_t *)&d->ops.ctl_server, noop_close);
    unlink(d->ops.ctl_path);
    d->ops.ctl_on = 0;
  }
}

void petrad_control_free(petrad *d) {
  free(d->ops.prom_cache);
  d->ops.prom_cache = NULL;
  free(d->ops.page_cache);
  d->ops.page_cache = NULL;
  pthread_mutex_destroy(&d->ops.prom_mu);
}
