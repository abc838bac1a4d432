/* The model service: trainer, evolution, hold-out window, snapshot versioning (docs/ARCHITECTURE.md).
 *
 * Depends on engine/ (libpetra), pthreads and the broker-free parts of daemon/common (the
 * checkpoint format, the example queue, logging); it knows nothing of Kafka, libuv or sockets,
 * and its unit tests (tests/unit/test_service.c) run without a broker. petrad's adapters feed it
 * and publish what it makes.
 *
 * Threads and ownership:
 * - the trainer thread (service.c) owns the model, the trainer, the hold-out window, the
 *   champion and the snapshot version counter once svc_start returns;
 * - the evolution thread (evolution.c) owns what `evw` marks (worker) while a job runs;
 * - the caller (petrad's loop thread) owns nothing inside; it talks to the service only:
 *   in  — svc_queue(): examples and marks (checkpoints, settings) on the example queue;
 *         svc_share_encoder(): the input encoder's state for snapshots (under enc_mu);
 *         st.req_evolve / st.req_snapshot: operator requests (atomics);
 *   out — svc_take(): finished checkpoints and built snapshots, announced by conf.notify;
 *         st (atomics) and info (under info_mu): what status pages show.
 *
 * Persistence goes through a state_store (state_store.h): checkpoints and reserved snapshot
 * versions are written to it synchronously by the trainer thread. */
#ifndef PETRA_SERVICE_H
#define PETRA_SERVICE_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "checkpoint.h"
#include "exqueue.h"
#include "state_store.h"
#include "svgplot.h"
#include "petra/candidate.h"
#include "petra/evolve.h"
#include "petra/model.h"
#include "petra/trainer.h"

/* The settings the trainer thread reads; it owns its copy, which a reload replaces through a
 * settings mark on the queue, never by writing it from another thread. */
typedef struct svc_settings {
  double snapshot_interval_s, evolution_interval_s, latency_budget_ratio, evolution_tolerance;
  int no_skill_after;
} svc_settings;

/* caller → trainer control mark (on the example queue, in order with the examples) */
typedef struct svc_mark {
  int stop;                  /* the trainer exits after this checkpoint */
  int settings_only;         /* no checkpoint: replace the trainer's settings */
  svc_settings settings;
  ckpt c;                    /* offsets, counters and feature state at the mark */
} svc_mark;
void svc_mark_free(void *m);

/* trainer → caller */
enum { SVC_OUT_CHECKPOINT = 1, SVC_OUT_SNAPSHOT = 2, SVC_OUT_STOPPED = 3 };
typedef struct svc_out {
  int type;
  struct svc_out *next;
  int ok;
  char err[512];
  ckpt c;                    /* CHECKPOINT: offsets now durable in the store */
  uint8_t *bytes;            /* SNAPSHOT; CHECKPOINT with conf.forward_checkpoints: the checkpoint */
  size_t len;
  uint64_t version;          /* snapshot version; CHECKPOINT: checkpoint generation */
  double built_us;           /* CLOCK_MONOTONIC µs when the snapshot was ready */
} svc_out;

typedef struct svc_stats {
  _Atomic uint64_t examples, train_steps, evolution_steps, snapshots_built;
  _Atomic uint64_t checkpoints, checkpoint_failures;
  _Atomic double loss, metric;
  _Atomic uint64_t champion_bytes;
  _Atomic double champion_p50_us, champion_p99_us;
  _Atomic uint64_t trainer_heartbeat; /* bumped on every pass of the trainer's loop */
  _Atomic uint64_t drifts;            /* drift detections */
  _Atomic int req_evolve, req_snapshot; /* operator requests */
  _Atomic int req_core_trial;         /* operator request: a core trial now */
  _Atomic uint64_t core_trials, core_switches;
  _Atomic uint64_t skipped_nonfinite, rollbacks; /* the trainer's non-finite guard */
  _Atomic uint64_t last_nonfinite_ms;
  _Atomic int no_skill;               /* the model is no better than a constant predictor */
  _Atomic double naive_metric;        /* ts: prequential MSE of the last-value forecast */
  _Atomic int worse_than_naive;       /* ts: over the window, after no_skill_after examples */
  _Atomic uint64_t snapshots_withheld; /* not built because of no_skill */
  _Atomic uint64_t champions_behind;  /* snapshots that fell back to fp32: champion behind it */
  /* the evolution thread, for status */
  _Atomic int evo_busy;               /* a job is posted or running */
  _Atomic double evo_cpu_s, evo_step_ms;
  _Atomic uint64_t evo_memory_bytes;
} svc_stats;

/* What the service shows the status pages: copied under info_mu. */
typedef struct svc_info {
  char champion[1024];       /* genome text of the current snapshot's model ("" = fp32) */
  char *population_json;     /* JSON array of members, after each evolution step */
  char *pareto_json;         /* JSON array of the Pareto archive */
  svg_point front[64];       /* the same archive, for the status page's plot */
  int n_front;
  double front_budget_us, front_base_metric, front_base_p99_us;
  uint64_t last_drift_ms;
  double evolution_step_ms;
  char core[256];            /* the live model's core (its spec's core keys) */
  char *core_trial_json;     /* JSON array: the last core trial, one row per core */
} svc_info;

typedef struct svc_conf {
  char model_id[128];
  petra_model_spec spec;
  int example_floats;        /* floats per queued example */
  int queue_capacity;        /* examples the queue holds */
  int holdout;               /* the hold-out window (examples) the evolution judges on */
  uint64_t seed;
  char feature_schema[512];  /* named in every snapshot */
  svc_settings settings;     /* until the first settings mark */
  state_store *store;        /* checkpoints and reserved versions (not owned) */
  int forward_checkpoints;   /* CHECKPOINT messages carry the bytes too (for a state topic) */
  FILE *audit;               /* trainer.audit_file: ids of the examples trained, checkpoint marks */
  void (*notify)(void *ctx); /* an svc_out is waiting (any thread may be calling) */
  void *notify_ctx;
  /* The search over cores (evolution.cores; seq models): every core_trial_s the evolution
   * thread trains the live model's core and each of these (space-separated; + for a space
   * inside one: tf=2:4:32+pool=mean) from scratch, core_trial_epochs passes over the replay
   * buffer (without the hold-out window's examples), and the live model becomes the best one
   * when it beats the live core so trained by core_margin on the hold-out (and stays within
   * the evolution tolerance of the live model itself), its fp32 batch-1 p50 at most
   * 1/latency_budget_ratio times the live core's. "" = off. tc: the trainer's configuration. */
  char cores[1024];
  double core_trial_s, core_margin;
  int core_trial_epochs;
  petra_trainer_conf tc;
} svc_conf;
#define SVC_MAX_CORES 8
/* The specs of a core list in svc_conf.cores' form: out[i] = base with core i in place of its
 * own. Returns how many (at most max), −1 with err (may be NULL) naming a core that does not
 * parse, −2 when the list holds more than max. */
int svc_core_specs(const petra_model_spec *base, const char *list, petra_model_spec *out, int max, char *err,
                   size_t n);

typedef struct petra_service petra_service;

/* Allocates the service and its queue; no thread runs yet. NULL with err. */
petra_service *svc_new(const svc_conf *c, char *err, size_t n);
/* Where the service resumes from: model m and trainer t (the service owns both from svc_start
 * on), the snapshot version to continue after and the last checkpoint generation. */
typedef struct svc_resume {
  petra_model *model;
  petra_trainer *trainer;
  uint64_t snapshot_version, generation;
  int publish_now;           /* a warm-started model: publish it before the first example */
} svc_resume;
/* Starts the trainer and evolution threads. */
int svc_start(petra_service *s, const svc_resume *r, char *err, size_t n);
int svc_running(const petra_service *s);
/* Waits for the trainer thread to end (it ends after a stop mark). */
void svc_join(petra_service *s);
/* svc_join, then frees everything (what is left in the queue and the outbox too). */
void svc_free(petra_service *s);

exqueue *svc_queue(petra_service *s);
svc_out *svc_take(petra_service *s);
void svc_out_free(svc_out *m);
/* The encoder's state to put into snapshots from now on (the service takes b). */
void svc_share_encoder(petra_service *s, uint8_t *b, size_t len);
svc_stats *svc_stats_of(petra_service *s);
/* info under its mutex: lock, read, unlock. */
const svc_info *svc_info_lock(petra_service *s);
void svc_info_unlock(petra_service *s);
/* The model's outputs: for status (the spec is the service's, fixed at svc_new). */
const petra_model_spec *svc_spec(const petra_service *s);
#endif
