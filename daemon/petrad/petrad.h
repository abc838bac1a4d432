/* petrad internals: the daemon context shared by its files.
 *
 * Threads and ownership:
 * - loop thread (libuv): owns the Kafka clients, the feature state, the offsets table and
 *   every timer; it never trains. Its adapters each own a part of struct petrad: ingest `in`
 *   (kafka.c: consumer, decoding, features, offsets), publish `out` (kafka.c, state_topic.c and
 *   ha.c's transactions: producer, snapshots, Metrics, the state topic), ops `ops` (control.c:
 *   control socket, health, Prometheus, status page) and `ha` (ha.c: lease and role); run.c
 *   holds the lifecycle.
 * - the model service (daemon/service/service.h, its trainer and evolution threads): owns the
 *   model, trainer, evolution and snapshot building; its only I/O is its state store (the
 *   checkpoint files in the state directory) and the audit file.
 * They talk through the service's queue (loop → trainer: examples and marks) and its outbox
 *   (trainer → loop: finished checkpoints and built snapshots, announced with uv_async on
 *   `wake`). Counters the loop reads are the service's atomics (svc_stats_of). */
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
#include "service.h"
#include "state_store.h"
#include "clock.h"

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



/* delivery-report opaques start with one of these (kafka.c's snapshot pub, state_topic.c) */
enum { PETRAD_PUB_SNAPSHOT = 1, PETRAD_PUB_STATE = 2 };


typedef struct offset_entry {
  const char *topic_ptr; /* librdkafka's name pointer for this topic (a fast-path key) */
  char topic[128];
  int32_t partition;
  int64_t next;              /* next offset to consume (last processed + 1) */
} offset_entry;



typedef struct ctl_client ctl_client;

/* ha.c: what this petrad is for its model */
enum {
  PETRAD_ROLE_SINGLE = 0,  /* ha.enabled = 0: the only petrad of its model, as configured */
  PETRAD_ROLE_JOINING,     /* waiting for the lease group to say */
  PETRAD_ROLE_STANDBY,     /* another petrad owns the model */
  PETRAD_ROLE_TAKING_OVER, /* assigned the lease: fencing, restoring */
  PETRAD_ROLE_OWNER
};

/* Ingest (kafka.c; loop thread): the consumer, decoding, the feature state and the offsets
 * table. */
typedef struct petrad_ingest {
  rd_kafka_t *consumer;
  rd_kafka_queue_t *cq;
  int cfd;
  uv_poll_t cpoll;
  int paused;                /* partitions paused (the operator's pause or backpressure) */
  int op_paused;             /* paused by the operator (not by backpressure) */
  int backpressure;          /* not taking messages: the trainer's queue is full */
  int lost;                  /* partitions were revoked as lost (kclient_consumer_close) */
  /* messages taken from librdkafka in one batch; [batch_i, batch_n) are not processed yet
   * (held while the trainer's queue is full, processed first on resume) */
  rd_kafka_message_t *batch[PETRAD_CONSUME_BATCH];
  int batch_i, batch_n;
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
  wire_arena arena;          /* decoding scratch */
  /* positions from the checkpoint, applied on assignment; and of revoked partitions, so that
   * one assigned again resumes where this petrad stopped */
  ckpt restored;
  uint64_t events, dead_letters, labels, examples_queued, examples_at_ckpt;
  uint64_t first_msg_ms, last_msg_ms; /* when the first and last input message came */
  uint64_t pauses;
} petrad_ingest;

/* Publish (kafka.c, state_topic.c, ha.c's transactions; loop thread): the producer, snapshots,
 * Metrics, dead letters, the state topic, and the transactions they go out in. */
typedef struct petrad_publish {
  rd_kafka_t *producer;
  rd_kafka_queue_t *pq;
  int pfd;
  uv_poll_t ppoll;
  uint64_t snapshots_published, snapshot_publish_failures, last_published_version;
  uint64_t last_snapshot_ms;
  double publish_ms[PETRAD_PUBLISH_SAMPLES]; /* built → delivered, last samples (p50/p99) */
  prom_hist publish_hist;                    /* the same, every one since start (Prometheus) */
  uint64_t n_publish;
  double first_publish_ms;                   /* −1 until the first snapshot is delivered */
  uint64_t state_bytes_written, state_failures, state_generation_published;
  /* transactions (ha.enabled) */
  int txn_open, txn_fatal;            /* a transaction is open / the producer is fenced */
  int txn_phase;                      /* a commit under way (ha.c), resumed by txn_timer */
  struct txn_sender *txn_sender;      /* the thread that sends a commit's offsets (ha.c) */
  uint64_t txn_state_generation;      /* the state set it carries (0: none) */
  uint64_t txn_pending_version;       /* the snapshot version it makes visible */
  double txn_commit_t0;
  int txn_pending_logged;
  uv_timer_t txn_timer;
  uint64_t txn_began_ms, txn_commits, txn_aborts;
  double txn_commit_ms_last, txn_commit_ms_max;
  uint64_t txn_snapshot_version;      /* newest snapshot version produced (any transaction) */
  uint64_t committed_snapshot_version; /* newest snapshot version committed */
} petrad_publish;

/* Operations (control.c; loop thread, except the caches the HTTP thread copies under prom_mu):
 * the control socket, health inputs, Prometheus, the status page and its history. */
#define PETRAD_HIST 2160
#define PETRAD_HIST_EVERY_S 10
typedef struct petrad_ops {
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
  uint64_t ops_last_inputs;           /* events + labels at the previous ops tick */
  uint64_t enc_shared_events;         /* events when the encoder was last shared */
  void *http;                         /* struct MHD_Daemon * when metrics.http_port is set */
  pthread_mutex_t prom_mu;
  char *prom_cache;                   /* exposition served over HTTP, refreshed by ops_timer */
  size_t prom_len;
  char *page_cache;                   /* status page (HTML) served at /, refreshed with prom_cache */
  size_t page_len;
  /* history for the status page: one sample per PETRAD_HIST_EVERY_S */
  double hist_t[PETRAD_HIST], hist_metric[PETRAD_HIST], hist_bytes[PETRAD_HIST], hist_p99[PETRAD_HIST],
      hist_rate[PETRAD_HIST];
  int hist_n, hist_head;
  uint64_t hist_last_ms;
} petrad_ops;

/* High availability (ha.c; loop thread): the lease and the role. */
typedef struct petrad_ha {
  int role;
  rd_kafka_t *lease;                  /* consumer of the lease group */
  rd_kafka_queue_t *lease_q, *admin_q;
  int lease_fd;
  uv_poll_t lease_poll;
  uv_timer_t takeover_timer, commit_timer;
  char identity[160];                 /* host:pid */
  char owner[400];                    /* owner as the group describes it (standby), or us */
  char txn_id[CFG_STR];
  int members, describe_in_flight, lease_lost;
  int lost;                           /* the lease was revoked as lost (kclient_consumer_close) */
  int lease_topic_ok;                 /* the lease topic exists with one partition (checked) */
  uint64_t described_ms, became_owner_ms;
  double takeover_ms;
} petrad_ha;

/* The daemon: its lifecycle (run.c) and the adapters, each owning its part. */
typedef struct petrad {
  petrad_config cfg;
  petrad_options opt;
  petra_model_spec spec;
  uv_loop_t *loop;
  petrad_ingest in;
  petrad_publish out;
  petrad_ops ops;
  petrad_ha ha;
  /* clients of the embedded default and the error callback's view of all clients */
  rd_kafka_t *mock_owner, *gen_producer;
  rd_kafka_mock_cluster_t *mock;
  char bootstrap[512];
  sreg_wire wire;            /* Schema Registry framing of input and output (from cfg at start) */
  int brokers_down;          /* set by ALL_BROKERS_DOWN, cleared by a delivery */
  char kafka_auth_error[512]; /* authentication / TLS failure, explained */
  uint64_t kafka_auth_error_ms; /* when it last happened; 0 once a message went through */
  /* timers and signals */
  uv_timer_t gen_timer, ckpt_timer, metrics_timer, progress_timer, runfor_timer, resume_timer,
      watchdog_timer;
  uint64_t last_heartbeat;
  uv_signal_t sig_term, sig_int, sig_hup;
  uv_async_t wake;
  int checkpoint_in_flight;
  int stopping, stopped_trainer, exit_code;
  uint64_t last_ckpt_ok_ms, last_ckpt_fail_ms;
  char last_ckpt_error[512];
  /* generator (embedded) */
  gen *generator;
  uint64_t gen_made, gen_bad, gen_throttled, gen_consumed_at_start;
  uint64_t gen_last_ms;
  double gen_carry;
  /* the model service (daemon/service/): trainer, evolution, hold-out window, snapshot
   * versioning; the loop feeds it through its queue and takes its results from its outbox */
  petra_service *svc;
  exqueue *q;                /* the service's queue (not owned) */
  svc_stats *st;             /* the service's counters (not owned; atomics) */
  state_store *store;        /* the local cache (files in the state directory) */
  /* what a restore found, handed to the service when it starts */
  petra_model *model;
  petra_trainer *trainer;
  uint64_t snapshot_version, ckpt_generation;
  int warm_started;          /* the model came from model.init_snapshot: publish it at once */
  char restored_from[16];    /* "file", "kafka" or "" */
  /* progress */
  uint64_t prog_events, prog_ms, events_at_start, start_ms;
  FILE *audit;               /* trainer.audit_file (written by the service; closed at exit) */
  int trainer_running;       /* the service was started (joined at the end) */
} petrad;


/* kafka.c */
int petrad_kafka_start(petrad *d, char *err, size_t n);
void petrad_kafka_pause(petrad *d, int pause);
/* Resumes taking messages after backpressure (resume_timer decides when). */
void petrad_kafka_unblock(petrad *d);
void petrad_kafka_store_offsets(petrad *d, const ckpt *c);
void petrad_produce_snapshot(petrad *d, svc_out *m);
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

/* run.c: starts the service on the restored model (the service owns it from here on). */
int petrad_trainer_start(petrad *d, char *err, size_t n);

/* state_topic.c (loop thread) */
/* Writes an OUT_CHECKPOINT's bytes to topics.state; its offsets are stored once delivered. */
void petrad_state_publish(petrad *d, const svc_out *m);
/* The delivery report of a state message (1), or not one (0). */
int petrad_state_delivered(petrad *d, const rd_kafka_message_t *m);
/* The newest complete checkpoint of cfg's model in topics.state: 1 with *buf (malloc'ed),
 * 0 when there is none, −1 with err when the topic cannot be read or the set is damaged. */
int petrad_state_fetch(const petrad_config *cfg, const char *bootstrap, state_found *out, char *err, size_t n);
/* topics.state as a state store (service/state_store.h) to restore from: its load is
 * petrad_state_fetch; it has no save (the publisher writes it, in transactions under ha). */
state_store *petrad_state_store(petrad *d);

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
/* Commits the open transaction, with these input offsets when given (a checkpoint's, whose
 * state set of generation state_generation is in it). The loop never blocks on the broker for
 * long: 0 committed, 1 under way (resumed on a timer; nothing is produced until it ends), −1
 * aborted (fenced stops petrad). wait: finish it (up to 30 s; for the orderly stop). */
int petrad_txn_commit(petrad *d, const ckpt *offsets, uint64_t state_generation, int wait);
int petrad_txn_committing(const petrad *d);
/* Stops the thread that sends offsets (before the producer is destroyed): 0 when it ended, −1
 * when it is still inside librdkafka after wait_ms (the producer must then be left alone). */
int petrad_txn_sender_stop(petrad *d, int wait_ms);

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
svc_settings petrad_trainer_settings(const petrad_config *c);
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
#endif
