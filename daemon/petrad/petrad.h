/* petrad internals: the daemon context shared by its files.
 *
 * Threads and ownership:
 * - loop thread (libuv): owns the Kafka clients, the feature state, the offsets table and
 *   every timer; it never trains.
 * - trainer thread: owns the model, trainer and snapshot building; it never does I/O except
 *   writing checkpoint files in the state directory.
 * They talk through `q` (loop → trainer: examples and marks) and the outbox (trainer → loop:
 *   finished checkpoints and built snapshots, signalled with uv_async). Counters the other
 *   thread reads are atomics. */
#ifndef PETRAD_H
#define PETRAD_CONSUME_BATCH 256 /* messages taken from librdkafka per batch (see kafka.c) */
#define PETRAD_H
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "checkpoint.h"
#include "config.h"
#include "ctl.h"
#include "prom.h"
#include "sreg.h"
#include "svgplot.h"
#include "stateset.h"
#include "exqueue.h"
#include "feature_state.h"
#include "gen.h"
#include "wire.h"
#include "petra/candidate.h"
#include "petra/evolve.h"
#include "petra/model.h"
#include "petra/trainer.h"

/* Examples one input message may release (an event's label plus parked labels). */
#define PETRAD_MAX_EXAMPLES_PER_MESSAGE 16
#define PETRAD_PUBLISH_SAMPLES 1024
#define PETRAD_TOPIC_CACHE 16

typedef struct petrad_options {
  const char *config_path;
  const char *sets[64];      /* --set KEY=VALUE, in order */
  int nsets;
  const char *state_dir;     /* --state-dir, or the embedded default's fresh directory */
  const char *control_socket; /* --control-socket, or the embedded default's */
  int embedded;
  double run_for_s;          /* 0 = until signalled */
  int print_progress;
} petrad_options;

/* The settings the trainer thread reads; it owns its copy (petrad.ts), which a reload
 * replaces through a settings mark on the queue, never by writing it from the loop. */
typedef struct trainer_settings {
  double snapshot_interval_s, evolution_interval_s, latency_budget_ratio, evolution_tolerance;
  int no_skill_after;
} trainer_settings;

/* loop → trainer control mark */
typedef struct mark {
  int stop;                  /* the trainer exits after this checkpoint */
  int settings_only;         /* no checkpoint: replace the trainer's settings */
  trainer_settings settings;
  ckpt c;                    /* offsets, counters and feature state at the mark */
} mark;

/* delivery-report opaques start with one of these (kafka.c's snapshot pub, state_topic.c) */
enum { PETRAD_PUB_SNAPSHOT = 1, PETRAD_PUB_STATE = 2 };

/* trainer → loop */
enum { OUT_CHECKPOINT = 1, OUT_SNAPSHOT = 2, OUT_STOPPED = 3 };
typedef struct outmsg {
  int type;
  struct outmsg *next;
  int ok;
  char err[512];
  ckpt c;                    /* OUT_CHECKPOINT: offsets now durable */
  uint8_t *bytes;            /* OUT_SNAPSHOT; OUT_CHECKPOINT with topics.state: the checkpoint */
  size_t len;
  uint64_t version;          /* snapshot version; OUT_CHECKPOINT: checkpoint generation */
  double built_us;           /* CLOCK_MONOTONIC µs when the snapshot was ready */
} outmsg;

typedef struct offset_entry {
  const char *topic_ptr; /* librdkafka's name pointer for this topic (a fast-path key) */
  char topic[128];
  int32_t partition;
  int64_t next;              /* next offset to consume (last processed + 1) */
} offset_entry;

typedef struct shared_stats {
  _Atomic uint64_t examples, train_steps, evolution_steps, snapshots_built;
  _Atomic uint64_t checkpoints, checkpoint_failures;
  _Atomic double loss, metric;
  _Atomic uint64_t champion_bytes;
  _Atomic double champion_p50_us, champion_p99_us;
  _Atomic uint64_t trainer_heartbeat; /* bumped on every pass of the trainer's loop */
  _Atomic uint64_t drifts;            /* drift detections */
  _Atomic int req_evolve, req_snapshot; /* operator requests (control socket) */
  _Atomic uint64_t skipped_nonfinite, rollbacks; /* the trainer's non-finite guard */
  _Atomic uint64_t last_nonfinite_ms;
  _Atomic int no_skill;               /* the model is no better than a constant predictor */
  _Atomic double naive_metric;        /* ts: prequential MSE of the last-value forecast */
  _Atomic int worse_than_naive;       /* ts: over the window, after health.no_skill_after examples */
  _Atomic uint64_t snapshots_withheld; /* not built because of no_skill */
  _Atomic uint64_t champions_behind;  /* snapshots that fell back to fp32: champion behind it */
} shared_stats;

/* What the trainer thread publishes for the control socket: copied under info_mu. */
typedef struct trainer_info {
  char champion[1024];       /* genome text of the current snapshot's model ("" = fp32) */
  char *population_json;     /* JSON array of members, after each evolution step */
  char *pareto_json;         /* JSON array of the Pareto archive */
  svg_point front[64];       /* the same archive, for the status page's plot */
  int n_front;
  double front_budget_us, front_base_metric, front_base_p99_us;
  uint64_t last_drift_ms;
  double evolution_step_ms;
} trainer_info;

typedef struct ctl_client ctl_client;

/* ha.c: what this petrad is for its model */
enum {
  PETRAD_ROLE_SINGLE = 0,  /* ha.enabled = 0: the only petrad of its model, as configured */
  PETRAD_ROLE_JOINING,     /* waiting for the lease group to say */
  PETRAD_ROLE_STANDBY,     /* another petrad owns the model */
  PETRAD_ROLE_TAKING_OVER, /* assigned the lease: fencing, restoring */
  PETRAD_ROLE_OWNER
};

typedef struct petrad {
  petrad_config cfg;
  petrad_options opt;
  petra_model_spec spec;
  uv_loop_t *loop;
  /* kafka */
  rd_kafka_t *consumer, *producer, *mock_owner, *gen_producer;
  rd_kafka_mock_cluster_t *mock;
  char bootstrap[512];
  rd_kafka_queue_t *cq, *pq;
  int cfd, pfd;
  uv_poll_t cpoll, ppoll;
  int paused;                /* partitions paused (the operator's pause) */
  int backpressure;          /* not taking messages: the trainer's queue is full */
  /* messages taken from librdkafka in one batch; [batch_i, batch_n) are not processed yet
   * (held while the trainer's queue is full, processed first on resume) */
  rd_kafka_message_t *batch[PETRAD_CONSUME_BATCH];
  int batch_i, batch_n;
  /* timers and signals */
  uv_timer_t gen_timer, ckpt_timer, metrics_timer, progress_timer, runfor_timer, resume_timer,
      watchdog_timer;
  uint64_t last_heartbeat;
  uv_signal_t sig_term, sig_int, sig_hup;
  uv_async_t wake;
  /* input state */
  features *feat;
  float *example;            /* scratch example */
  int ef;
  offset_entry offsets[CKPT_MAX_OFFSETS];
  int n_offsets, last_offset_slot;
  struct {
    rd_kafka_topic_t *rkt;
    int kind;
  } topic_cache[PETRAD_TOPIC_CACHE];
  int n_topic_cache;
  wire_arena arena;          /* decoding scratch of the loop thread */
  sreg_wire wire;            /* Schema Registry framing of input and output (from cfg at start) */
  ckpt restored;             /* offsets from the checkpoint, applied on assignment */
  uint64_t events, dead_letters, labels, examples_queued, examples_at_ckpt;
  uint64_t snapshots_published, snapshot_publish_failures, last_published_version;
  int checkpoint_in_flight;
  int stopping, stopped_trainer, exit_code;
  /* generator (embedded) */
  gen *generator;
  uint64_t gen_made, gen_bad, gen_throttled, gen_consumed_at_start;
  uint64_t gen_last_ms;
  double gen_carry;
  /* trainer thread */
  pthread_t trainer_thread;
  exqueue *q;
  petra_model *model;
  petra_trainer *trainer;
  uint64_t snapshot_version; /* owned by the trainer thread after start */
  trainer_settings ts;       /* owned by the trainer thread after start (see mark) */
  uint64_t ckpt_generation;  /* trainer thread after start: the last checkpoint's generation */
  /* state topic (loop thread) */
  uint64_t state_bytes_written, state_failures, state_generation_published;
  char restored_from[16];    /* "file", "kafka" or "" */
  int warm_started;          /* the model came from model.init_snapshot: publish it at once */
  /* the hold-out window and snapshot building, owned by the trainer thread */
  int snapshot_wanted;       /* a champion snapshot waits for the evolution thread to compile it */
  float *holdout;            /* ring of the most recent examples (a hold-out window) */
  int hold_cap, hold_n, hold_head;
  float *hold_lin;           /* the ring laid out in order for evaluation */
  char champion_text[1024];  /* genome of the last published champion */
  petra_genome champion;     /* the evolution's champion as of its last finished step */
  int have_champion;
  double evo_tolerance;      /* the champion's metric tolerance, from the last baseline */
  /* The evolution runs beside training on its own thread (evo_worker.c), on a copy of the
   * weights, the replay buffer and the hold-out window made by the trainer thread when it hands
   * a step over. Handoff: state under evw.mu (IDLE → POSTED by the trainer, → RUNNING → DONE
   * by the worker, → IDLE by the trainer once it has read the result). While POSTED/RUNNING the
   * worker owns the job's inputs and everything marked (worker); at IDLE/DONE the trainer may
   * read its outputs. quiet/in_feed: the trainer pauses feeding while the worker times a plan. */
  struct {
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int state, stop;                 /* (mu) */
    petra_model *mirror;             /* job input: the live weights, copied */
    float *tune, *hold;              /* job inputs: replay and hold-out examples */
    int n_tune, n_hold, cap_tune, cap_hold;
    trainer_settings ts;             /* job input */
    uint64_t seed;                   /* job input (trainer.seed) */
    petra_evo *evo;                  /* (worker) */
    petra_candidate cand;            /* (worker) */
    double baseline_p99_us, baseline_metric; /* (worker) */
    int job;                         /* job input: PETRAD_EVO_STEP or PETRAD_EVO_BUILD */
    petra_genome build_genome;       /* job input (BUILD): the champion to compile */
    /* outputs (worker, read by the trainer at DONE); BUILD: the compiled champion is cand.model */
    int build_rc, build_fp32_rc;
    petra_fitness build_champion, build_fp32;
    int have_champion;
    petra_genome champion;
    double tolerance;
    double step_ms, cpu_s;           /* last step's wall time; the worker's CPU time so far */
    _Atomic int busy;                /* for status: POSTED or RUNNING */
    _Atomic int quiet, in_feed;
    _Atomic double cpu_s_pub, step_ms_pub;
    _Atomic uint64_t memory_bytes;
  } evw;
  pthread_mutex_t out_mu;
  outmsg *out_head, *out_tail;
  shared_stats st;
  /* progress */
  uint64_t prog_events, prog_ms;
  uint64_t first_msg_ms, last_msg_ms; /* wall time of the first and last input message */
  uint64_t events_at_start, pauses;
  double publish_ms[PETRAD_PUBLISH_SAMPLES]; /* built → delivered, last samples (p50/p99) */
  prom_hist publish_hist;                    /* the same, every one since start (Prometheus) */
  uint64_t n_publish;
  double first_publish_ms;                   /* −1 until the first snapshot is delivered */
  /* operations (control.c) */
  uv_pipe_t ctl_server;
  int ctl_on;
  char ctl_path[CFG_STR];
  int ctl_gid;                        /* −1 = no extra group */
  ctl_client *ctl_clients;
  int n_ctl_clients;
  uint64_t ctl_requests, ctl_refused, ctl_dropped;
  uv_timer_t ops_timer;               /* 1 s: rates, stall detection, /metrics cache */
  uint64_t ops_events[6], ops_ms[6];  /* ring of (events, time) for a 5 s events/s */
  int ops_i;
  double events_per_s;
  uint64_t hb_seen, hb_changed_ms;
  uint64_t last_ckpt_ok_ms, last_ckpt_fail_ms, last_snapshot_ms;
  char last_ckpt_error[512];
  int op_paused;                      /* paused by the operator (not by backpressure) */
  int brokers_down;
  char kafka_auth_error[512];     /* authentication / TLS failure, explained (loop thread) */
  uint64_t kafka_auth_error_ms;   /* when it last happened; 0 once a message went through */
  void *http;                         /* struct MHD_Daemon * when metrics.http_port is set */
  pthread_mutex_t prom_mu;
  char *page_cache;                   /* status page (HTML) served at /, refreshed with prom_cache */
  size_t page_len;
  /* history for the status page, loop thread: one sample per PETRAD_HIST_EVERY_S */
#define PETRAD_HIST 2160
#define PETRAD_HIST_EVERY_S 10
  double hist_t[PETRAD_HIST], hist_metric[PETRAD_HIST], hist_bytes[PETRAD_HIST], hist_p99[PETRAD_HIST],
      hist_rate[PETRAD_HIST];
  int hist_n, hist_head;
  uint64_t hist_last_ms;
  char *prom_cache;                   /* exposition served over HTTP, refreshed by ops_timer */
  size_t prom_len;
  pthread_mutex_t info_mu;
  trainer_info info;
  /* The input encoder's state for snapshots: the loop thread (owner of the feature state)
   * saves it here every second (petrad_share_encoder); the trainer thread copies it under
   * enc_mu when it builds a snapshot. */
  pthread_mutex_t enc_mu;
  uint8_t *enc_bytes;
  size_t enc_len;
  uint64_t enc_shared_events;         /* loop: d->events when the encoder was last shared */
  uint64_t ops_last_inputs;           /* events + labels at the previous ops tick */
  FILE *audit;                        /* trainer.audit_file: event ids fed to the trainer */
  uint64_t start_ms;
  int trainer_running;                /* the trainer thread was started (joined at the end) */
  /* high availability (ha.c, loop thread) */
  int role;
  rd_kafka_t *lease;                  /* consumer of the lease group */
  rd_kafka_queue_t *lease_q, *ha_admin_q;
  int lease_fd;
  uv_poll_t lease_poll;
  uv_timer_t takeover_timer, commit_timer;
  char ha_identity[160];              /* host:pid */
  char ha_owner[400];                 /* owner as the group describes it (standby), or us */
  char ha_txn_id[CFG_STR];
  int ha_members, ha_describe_in_flight, ha_lease_lost;
  uint64_t ha_described_ms, ha_became_owner_ms;
  double ha_takeover_ms;
  int txn_open, txn_fatal;            /* a transaction is open / the producer is fenced */
  uint64_t txn_began_ms, txn_commits, txn_aborts;
  double txn_commit_ms_last, txn_commit_ms_max;
  uint64_t txn_snapshot_version;      /* newest snapshot version produced (any transaction) */
  uint64_t committed_snapshot_version; /* newest snapshot version committed */
} petrad;

/* Monotonic milliseconds: every interval, age, rate and stall check (a wall-clock step must
 * not fire timers or fake a stall). */
uint64_t petrad_now_ms(void);
/* Wall-clock milliseconds since the epoch: only for timestamps written into messages. */
uint64_t petrad_wall_ms(void);

/* kafka.c */
int petrad_kafka_start(petrad *d, char *err, size_t n);
void petrad_kafka_pause(petrad *d, int pause);
/* Resumes taking messages after backpressure (resume_timer decides when). */
void petrad_kafka_unblock(petrad *d);
void petrad_kafka_store_offsets(petrad *d, const ckpt *c);
void petrad_produce_snapshot(petrad *d, outmsg *m);
/* A serialized SnapshotChunk (snapshots and the state topic share the chunk format);
 * malloc'ed, NULL when out of memory. */
uint8_t *petrad_chunk_pack(const char *set_id, const char *model_id, uint64_t version, uint32_t seq,
                           uint32_t total, const uint8_t *data, size_t len, const uint8_t digest[32],
                           size_t *n);
void petrad_produce_metrics(petrad *d);
void petrad_kafka_close(petrad *d);
int petrad_kafka_make_producer(petrad *d, char *err, size_t n);
int petrad_kafka_make_consumer(petrad *d, char *err, size_t n);
/* 1 when partitions are assigned and each one's position has reached its high watermark (as
 * librdkafka last saw it; no broker round trip). */
int petrad_kafka_caught_up(petrad *d);
void petrad_gen_tick(uv_timer_t *t);

/* trainer_thread.c */
int petrad_trainer_start(petrad *d, char *err, size_t n);
void petrad_outbox_push(petrad *d, outmsg *m);
outmsg *petrad_outbox_take(petrad *d);
void petrad_mark_free(void *m);

/* state_topic.c (loop thread) */
/* Writes an OUT_CHECKPOINT's bytes to topics.state; its offsets are stored once delivered. */
void petrad_state_publish(petrad *d, const outmsg *m);
/* The delivery report of a state message (1), or not one (0). */
int petrad_state_delivered(petrad *d, const rd_kafka_message_t *m);
/* The newest complete checkpoint of cfg's model in topics.state: 1 with *buf (malloc'ed),
 * 0 when there is none, −1 with err when the topic cannot be read or the set is damaged. */
int petrad_state_fetch(const petrad_config *cfg, const char *bootstrap, state_found *out, char *err, size_t n);

/* ha.c (loop thread) */
const char *petrad_role_name(int role);
/* Joins the lease group; the role is known when the group answers (standby or takeover). */
int petrad_ha_start(petrad *d, char *err, size_t n);
void petrad_ha_tick(petrad *d);
void petrad_ha_close(petrad *d);
/* init_transactions: fences the previous owner (blocking, up to 60 s). */
int petrad_txn_init(petrad *d, char *err, size_t n);
/* With ha.enabled: opens a transaction if none is (0), or −1 when nothing may be produced (not
 * the owner, or fenced). Without ha: 0. Called before every produce. */
int petrad_txn_ensure(petrad *d);
/* Commits the open transaction, with these input offsets when given (a checkpoint's). 0 or −1
 * (aborted; fenced stops petrad). Blocks until the broker answers. */
int petrad_txn_commit(petrad *d, const ckpt *offsets);

/* control.c */
int petrad_control_start(petrad *d, char *err, size_t n);
void petrad_control_close(petrad *d);
void petrad_control_free(petrad *d);
/* The Prometheus exposition of the daemon's state (loop thread). */
void petrad_metrics_text(petrad *d, sbuf *b);
/* health level 0 ok, 1 degraded, 2 failing, PETRAD_HEALTH_STANDBY (ha: another petrad owns
 * the model; petractl health exits with it), with reasons as a JSON array into b */
#define PETRAD_HEALTH_STANDBY 4
int petrad_health(petrad *d, sbuf *reasons);

/* run.c */
trainer_settings petrad_trainer_settings(const petrad_config *c);
/* Queues the reloadable trainer settings of d->cfg for the trainer thread. */
int petrad_push_trainer_settings(petrad *d);
/* The configuration the options give: defaults, the file, then --set, --state-dir and
 * --control-socket (what main starts with, and what a reload re-reads). */
int petrad_options_config(const petrad_options *o, petrad_config *c, char *err, size_t n);
/* Loop thread: hands the encoder's current state to the trainer (see enc_mu). */
void petrad_share_encoder(petrad *d);
/* Re-reads the configuration file and applies what can change while running. */
int petrad_reload(petrad *d, char *err, size_t n);
int petrad_run(petrad *d);
/* ha.c's takeover: fences (init_transactions), restores from the topic, subscribes, starts the
 * trainer. */
int petrad_become_owner(petrad *d, char *err, size_t n);
void petrad_request_checkpoint(petrad *d, int stop);
void petrad_request_stop(petrad *d, const char *why);
/* resume_timer callback: resumes consumption once the queue has drained to half. */
void petrad_resume_check(uv_timer_t *t);
/* The error callback of petrad's Kafka clients (kafka.c): brokers down, authentication or TLS
 * failures (health reasons), logged. */
void petrad_kafka_on_error(rd_kafka_t *rk, int code, const char *reason, void *opaque);
/* evo_worker.c: the evolution thread (see evw in struct petrad). */
int petrad_evo_start(petrad *d, char *err, size_t n);
enum { PETRAD_EVO_STEP = 1, PETRAD_EVO_BUILD = 2 };
/* Trainer thread: hands a job over when the worker is idle (returns 1 if posted): an evolution
 * step, or compiling genome g (prune + fine-tune + plan, and the fp32 model measured on the
 * same window) from a copy of the current weights for a snapshot. */
int petrad_evo_post(petrad *d, int job, const petra_genome *g);
/* Trainer thread: the job whose result is now readable (0: none finished). */
int petrad_evo_take(petrad *d);
void petrad_evo_stop(petrad *d);
/* Trainer thread, around each petra_trainer_feed: waits while the worker times a plan. */
void petrad_evo_feed_begin(petrad *d);
void petrad_evo_feed_end(petrad *d);
#endif
