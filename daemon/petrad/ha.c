/* High availability (ha.enabled): one writer per model, standby and takeover, and the
 * owner's output in Kafka transactions. Loop thread only.
 *
 * Leadership is Kafka's group coordination, not a protocol of ours: every petrad of a model
 * joins the consumer group <kafka.group_id>.lease on a one-partition lease topic with the
 * cooperative-sticky assignor. The member assigned partition 0 is the owner; the others are
 * standbys (health "standby", nothing consumed, nothing produced, the control socket
 * answering). A new standby joining does not move the lease (sticky); an owner that dies
 * stops heartbeating and, after ha.session_timeout_ms, a standby is assigned the partition.
 *
 * The takeover order is what makes it safe:
 *   1. the transactional producer's init_transactions under the model's transactional.id:
 *      the broker fences the previous owner (a zombie's next commit fails with _FENCED, and it
 *      exits) and aborts its open transaction;
 *   2. only then the state is read from topics.state (read_committed): the newest committed
 *      checkpoint and the newest committed snapshot version;
 *   3. then the input is subscribed (the group's committed offsets are the checkpoint's) and
 *      the trainer starts.
 * From then on everything the owner produces (snapshots, Metrics, dead letters, state) goes
 * into the open transaction; a checkpoint's state set commits together with its input
 * offsets (send_offsets_to_transaction), the rest commits every ha.commit_interval_s. Losing
 * the lease, or being fenced, stops petrad with exit code 3 (systemd restarts it, and it
 * comes back as a standby). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "kadmin.h"
#include "kclient.h"
#include "log.h"
#include "notify.h"
#include "petra.pb-c.h"
#include "petra/snapshot.h"
#include "petrad.h"

static const uint64_t one = 1;

const char *petrad_role_name(int role) {
  switch (role) {
    case PETRAD_ROLE_SINGLE: return "single";
    case PETRAD_ROLE_JOINING: return "joining";
    case PETRAD_ROLE_STANDBY: return "standby";
    case PETRAD_ROLE_TAKING_OVER: return "taking_over";
    case PETRAD_ROLE_OWNER: return "owner";
  }
  return "?";
}

static double mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---------------------------------------------------------------- transactions */

/* the phases of a commit under way (txn_phase; see petrad_txn_commit) */
enum { TXN_IDLE = 0, TXN_SENDING_OFFSETS, TXN_COMMITTING, TXN_ABORTING };

/* A fatal transactional error: another petrad with our transactional.id started (we are a
 * zombie), or the producer cannot go on. Nothing more is produced; petrad stops with 3. */
static void fenced(petrad *d, const rd_kafka_error_t *e, const char *where) {
  if (d->out.txn_fatal) return;
  d->out.txn_fatal = 1;
  d->out.txn_open = 0;
  LOG_ERROR("ha_fenced", "where=%s error=\"%s\" action=\"stopping: another petrad owns model %s now\"", where,
            rd_kafka_error_string(e), d->cfg.model_id);
  d->exit_code = 3;
  petrad_request_stop(d, "fenced");
}

int petrad_txn_ensure(petrad *d) {
  if (!d->cfg.ha_enabled) return 0;
  if (d->out.txn_fatal || !d->out.producer || d->ha.role != PETRAD_ROLE_OWNER) return -1;
  if (d->ha.lease_lost) return -1; /* another petrad may own the model now: nothing more from us */
  if (d->out.txn_phase != TXN_IDLE) return -1; /* a commit is under way (resumed by txn_timer) */
  if (d->out.txn_open) return 0;
  rd_kafka_error_t *e = rd_kafka_begin_transaction(d->out.producer);
  if (e) {
    if (rd_kafka_error_is_fatal(e)) fenced(d, e, "begin_transaction");
    else LOG_ERROR("txn_begin_failed", "error=\"%s\"", rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    return -1;
  }
  d->out.txn_open = 1;
  d->out.txn_began_ms = clk_mono_ms();
  return 0;
}

/* The newest committed snapshot version, alone under <model>/state/version, in the same
 * transaction as the snapshot: a new owner continues the version sequence from it. */
static int produce_version_record(petrad *d, uint64_t version) {
  Petra__V1__StateManifest mf = PETRA__V1__STATE_MANIFEST__INIT;
  mf.schema_version = PETRA_SCHEMA_VERSION;
  mf.model_id = d->cfg.model_id;
  mf.snapshot_version = version;
  mf.owner = d->ha.identity;
  size_t n = petra__v1__state_manifest__get_packed_size(&mf);
  uint8_t *buf = malloc(n ? n : 1);
  if (!buf) return -1;
  petra__v1__state_manifest__pack(&mf, buf);
  char key[192];
  snprintf(key, sizeof key, "%s/state/version", d->cfg.model_id);
  rd_kafka_resp_err_t e = rd_kafka_producev(
      d->out.producer, RD_KAFKA_V_TOPIC(d->cfg.topic_state), RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(buf, n),
      RD_KAFKA_V_HEADER("petra-type", "state-version", -1), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_END);
  if (e) {
    free(buf);
    return -1;
  }
  return 0;
}

/* A commit runs in steps so that the loop never waits on the broker for long (a broker outage
 * with a transaction open must not stall the control socket, health or the watchdog): each
 * step calls librdkafka with a short timeout; a retriable timeout leaves the commit pending and
 * txn_timer resumes it (commit_transaction and abort_transaction are resumable and honour
 * their timeouts). send_offsets_to_transaction does not: librdkafka 2.0.2 waits for its
 * AddOffsetsToTxn and TxnOffsetCommit answers without a bound whatever timeout it is given (it
 * held the loop 10 s while a broker with a thousand partitions shut down), so the offsets go
 * out from a thread of their own, the sender (below), retried there with the identical offsets
 * and group metadata as librdkafka asks; the loop looks for its answer at each step. While a
 * commit is pending nothing is produced (petrad_txn_ensure says no). */
#define TXN_SLICE_MS 250  /* the first call: a healthy commit takes 40–90 ms here */
#define TXN_RESUME_MS 50  /* each resumed call (a step chains at most three) ... */
#define TXN_RETRY_MS 500  /* ... this often (5–10% of the loop while the broker is away) */
#define TXN_SEND_MS 5000  /* the sender's timeout per call (its own thread: may block) */
#define TXN_STUCK_MS 120000 /* offsets unsent this long with the lease held: stop (systemd restarts) */

/* The sender: one thread per producer, started at the first commit with offsets. Handoff under
 * mu: the loop posts a job (offsets, group metadata; busy = 1) and owns nothing of it from then;
 * the sender sends it, retrying retriable errors until it is abandoned, frees the job and sets
 * finished with the last error (NULL: sent); the loop takes that error (busy = 0). abandon
 * (lease lost, stop) ends the retries; quit ends the thread. */
typedef struct txn_sender {
  uv_thread_t thread;
  uv_mutex_t mu;
  uv_cond_t cv;
  rd_kafka_t *producer;
  rd_kafka_topic_partition_list_t *offsets;
  rd_kafka_consumer_group_metadata_t *gm;
  int busy, finished, abandon, quit;
  rd_kafka_error_t *error;
} txn_sender;

static int is_retriable(const rd_kafka_error_t *e) {
  int r = rd_kafka_error_is_retriable(e) && !rd_kafka_error_is_fatal(e) && !rd_kafka_error_txn_requires_abort(e);
  if (r) LOG_DEBUG("txn_retriable", "error=\"%s\"", rd_kafka_error_string(e));
  return r;
}

static void sender_main(void *arg) {
  txn_sender *s = arg;
  uv_mutex_lock(&s->mu);
  for (;;) {
    while (!s->quit && (!s->busy || s->finished)) uv_cond_wait(&s->cv, &s->mu);
    if (s->quit && (!s->busy || s->finished)) break;
    rd_kafka_topic_partition_list_t *offsets = s->offsets;
    rd_kafka_consumer_group_metadata_t *gm = s->gm;
    const int skip = s->abandon; /* abandoned before it started: not sent */
    uv_mutex_unlock(&s->mu);
    rd_kafka_error_t *e = skip ? rd_kafka_error_new(RD_KAFKA_RESP_ERR__TIMED_OUT, "abandoned before it was sent") : NULL;
    while (!skip) {
      e = rd_kafka_send_offsets_to_transaction(s->producer, offsets, gm, TXN_SEND_MS);
      if (!e || !is_retriable(e)) break;
      uv_mutex_lock(&s->mu);
      int give_up = s->abandon;
      if (!give_up) uv_cond_timedwait(&s->cv, &s->mu, (uint64_t)TXN_RETRY_MS * 1000000u);
      give_up = s->abandon;
      uv_mutex_unlock(&s->mu);
      if (give_up) break;
      rd_kafka_error_destroy(e);
    }
    rd_kafka_topic_partition_list_destroy(offsets);
    rd_kafka_consumer_group_metadata_destroy(gm);
    uv_mutex_lock(&s->mu);
    s->offsets = NULL;
    s->gm = NULL;
    s->error = e;
    s->finished = 1;
    uv_cond_broadcast(&s->cv);
  }
  uv_mutex_unlock(&s->mu);
}

/* Posts the offsets (the sender takes them); −1 when its thread cannot start. */
static int sender_post(petrad *d, rd_kafka_topic_partition_list_t *offsets, rd_kafka_consumer_group_metadata_t *gm) {
  txn_sender *s = d->out.txn_sender;
  if (!s) {
    s = calloc(1, sizeof *s);
    if (!s || uv_mutex_init(&s->mu)) {
      free(s);
      return -1;
    }
    uv_cond_init(&s->cv);
    s->producer = d->out.producer;
    if (uv_thread_create(&s->thread, sender_main, s)) {
      uv_cond_destroy(&s->cv);
      uv_mutex_destroy(&s->mu);
      free(s);
      return -1;
    }
    d->out.txn_sender = s;
  }
  uv_mutex_lock(&s->mu);
  if (s->busy && !s->finished) { /* an abandoned send still inside librdkafka */
    uv_mutex_unlock(&s->mu);
    return -1;
  }
  if (s->error) rd_kafka_error_destroy(s->error);
  s->error = NULL;
  s->offsets = offsets;
  s->gm = gm;
  s->busy = 1;
  s->finished = 0;
  s->abandon = 0;
  uv_cond_broadcast(&s->cv);
  uv_mutex_unlock(&s->mu);
  return 0;
}

/* Waits (s->mu held) up to wait_ms for the job under way to finish; 1 when none is running. */
static int sender_wait(txn_sender *s, int wait_ms) {
  uint64_t end = uv_hrtime() + (uint64_t)wait_ms * 1000000u;
  while (s->busy && !s->finished) {
    uint64_t now = uv_hrtime();
    if (now >= end || uv_cond_timedwait(&s->cv, &s->mu, end - now) == UV_ETIMEDOUT) break;
  }
  return !s->busy || s->finished;
}

/* The sender's answer, waiting up to wait_ms for it: 0 with *e (NULL: sent), 1 not yet. */
static int sender_result(petrad *d, int wait_ms, rd_kafka_error_t **e) {
  txn_sender *s = d->out.txn_sender;
  *e = NULL;
  uv_mutex_lock(&s->mu);
  sender_wait(s, wait_ms);
  int rc = 1;
  if (s->finished) {
    *e = s->error;
    s->error = NULL;
    s->finished = s->busy = 0;
    rc = 0;
  }
  uv_mutex_unlock(&s->mu);
  return rc;
}

/* Its retries end (the lease is lost, or the stop gave up on the commit). */
static void sender_abandon(petrad *d) {
  txn_sender *s = d->out.txn_sender;
  if (!s) return;
  uv_mutex_lock(&s->mu);
  s->abandon = 1;
  uv_cond_broadcast(&s->cv);
  uv_mutex_unlock(&s->mu);
}

int petrad_txn_sender_stop(petrad *d, int wait_ms) {
  txn_sender *s = d->out.txn_sender;
  if (!s) return 0;
  uv_mutex_lock(&s->mu);
  s->abandon = s->quit = 1;
  uv_cond_broadcast(&s->cv);
  int stuck = !sender_wait(s, wait_ms);
  uv_mutex_unlock(&s->mu);
  if (stuck) {
    LOG_WARN("txn_sender_stuck", "ms=%d action=\"the producer is left open: librdkafka still waits for the offsets' answer\"", wait_ms);
    return -1;
  }
  uv_thread_join(&s->thread);
  if (s->error) rd_kafka_error_destroy(s->error);
  uv_cond_destroy(&s->cv);
  uv_mutex_destroy(&s->mu);
  free(s);
  d->out.txn_sender = NULL;
  return 0;
}

static void txn_clear(petrad *d) {
  if (d->out.txn_phase == TXN_SENDING_OFFSETS) sender_abandon(d); /* its answer is not awaited */
  d->out.txn_phase = TXN_IDLE;
  d->out.txn_state_generation = 0;
  if (d->out.txn_timer.loop) uv_timer_stop(&d->out.txn_timer);
}

static void txn_done(petrad *d, int ok) {
  double ms = mono_ms() - d->out.txn_commit_t0;
  if (ok) {
    d->out.txn_commits++;
    d->out.txn_commit_ms_last = ms;
    if (ms > d->out.txn_commit_ms_max) d->out.txn_commit_ms_max = ms;
    if (d->out.txn_pending_version > d->out.committed_snapshot_version) d->out.committed_snapshot_version = d->out.txn_pending_version;
    if (d->out.txn_state_generation) {
      d->out.state_generation_published = d->out.txn_state_generation;
      LOG_DEBUG("state_committed", "generation=%llu ms=%.1f", (unsigned long long)d->out.txn_state_generation, ms);
    }
  } else {
    d->out.txn_aborts++;
    if (d->out.txn_state_generation) d->out.state_failures++;
  }
  d->out.txn_open = 0;
  txn_clear(d);
}

/* One step of the commit under way: 0 committed, 1 still pending, −1 aborted (or fenced). */
static int txn_step(petrad *d, int slice_ms) {
  rd_kafka_error_t *e = NULL;
  const char *where = "commit_transaction";
  if (d->out.txn_phase == TXN_SENDING_OFFSETS) {
    where = "send_offsets_to_transaction";
    if (sender_result(d, slice_ms, &e)) return 1;
    if (!e) d->out.txn_phase = TXN_COMMITTING;
    else if (is_retriable(e)) { /* abandoned by the stop's wait: not sent, so not committed */
      rd_kafka_error_destroy(e);
      e = rd_kafka_error_new(RD_KAFKA_RESP_ERR__TIMED_OUT, "the offsets were not sent");
    }
  }
  if (!e && d->out.txn_phase == TXN_COMMITTING) {
    where = "commit_transaction";
    e = rd_kafka_commit_transaction(d->out.producer, slice_ms);
    if (e && is_retriable(e)) {
      rd_kafka_error_destroy(e);
      return 1;
    }
    if (!e) {
      txn_done(d, 1);
      return 0;
    }
  }
  if (e) { /* the commit failed: fenced, or abort it */
    int abortable = rd_kafka_error_txn_requires_abort(e);
    if (rd_kafka_error_is_fatal(e)) {
      fenced(d, e, where);
      rd_kafka_error_destroy(e);
      txn_clear(d);
      return -1;
    }
    LOG_ERROR("txn_commit_failed", "where=%s error=\"%s\" action=\"%s\"", where, rd_kafka_error_string(e),
              abortable ? "aborting: its output is dropped, its offsets are not committed"
                        : "aborting the transaction");
    rd_kafka_error_destroy(e);
    d->out.txn_phase = TXN_ABORTING;
  }
  /* TXN_ABORTING */
  rd_kafka_error_t *a = rd_kafka_abort_transaction(d->out.producer, slice_ms);
  if (a && is_retriable(a)) {
    rd_kafka_error_destroy(a);
    return 1;
  }
  if (a) {
    if (rd_kafka_error_is_fatal(a)) fenced(d, a, "abort_transaction");
    else LOG_ERROR("txn_abort_failed", "error=\"%s\"", rd_kafka_error_string(a));
    rd_kafka_error_destroy(a);
  }
  txn_done(d, 0);
  return -1;
}

/* Finishes the commit under way while petrad waits for it (the orderly stop): 0 committed, −1
 * not. One that got no answer in 30 s is given up: its output is not counted (the coordinator
 * aborts it at transaction.timeout.ms). */
static int txn_finish(petrad *d) {
  int rc = 1;
  for (int i = 0; i < 120 && d->out.txn_phase != TXN_IDLE && !d->out.txn_fatal; i++) rc = txn_step(d, TXN_SLICE_MS);
  if (d->out.txn_phase == TXN_IDLE) return rc == 0 ? 0 : -1;
  LOG_ERROR("txn_commit_failed", "where=%s error=\"no answer from the transaction coordinator in 30 s\" "
                                 "action=\"its output is not counted\"",
            d->out.txn_phase == TXN_SENDING_OFFSETS ? "send_offsets_to_transaction" : "commit_transaction");
  txn_done(d, 0);
  return -1;
}

static void on_txn_timer(uv_timer_t *t) {
  petrad *d = t->data;
  if (d->ha.lease_lost) { /* nothing more from us: the open transaction is left to abort */
    txn_clear(d);
    d->out.txn_open = 0;
  }
  /* an offsets send librdkafka never answers, with the broker there (else the lease would
   * have gone): nothing is produced meanwhile, so stop rather than stand still */
  if (d->out.txn_phase == TXN_SENDING_OFFSETS && !d->stopping && mono_ms() - d->out.txn_commit_t0 > TXN_STUCK_MS) {
    LOG_ERROR("txn_offsets_stuck", "ms=%.0f action=\"stopping: nothing is produced while it waits (systemd restarts "
                                   "petrad)\"", mono_ms() - d->out.txn_commit_t0);
    d->exit_code = 1;
    petrad_request_stop(d, "transaction stuck");
  }
  if (d->out.txn_phase != TXN_IDLE && !d->out.txn_fatal) txn_step(d, TXN_RESUME_MS);
  if (d->out.txn_phase == TXN_IDLE) uv_timer_stop(t);
}

int petrad_txn_committing(const petrad *d) { return d->out.txn_phase != TXN_IDLE; }

int petrad_txn_commit(petrad *d, const ckpt *offsets, uint64_t state_generation, int wait) {
  if (d->out.txn_fatal) return -1;
  if (d->ha.lease_lost) { /* the open transaction is left to abort (by the successor's fencing or
                           * the coordinator's timeout): what it holds never counted */
    txn_clear(d);
    d->out.txn_open = 0;
    return -1;
  }
  if (d->out.txn_phase != TXN_IDLE) { /* one under way: finish it first when asked to wait */
    if (!wait) return 1;
    txn_finish(d);
  }
  if (!d->out.txn_open) return -1;
  d->out.txn_commit_t0 = mono_ms();
  uint64_t v = d->out.txn_snapshot_version;
  if (v > d->out.committed_snapshot_version && produce_version_record(d, v)) {
    LOG_WARN("txn_version_record_failed", "version=%llu", (unsigned long long)v);
  }
  d->out.txn_pending_version = v;
  d->out.txn_state_generation = state_generation;
  d->out.txn_phase = TXN_COMMITTING;
  if (offsets && offsets->n_offsets > 0 && d->in.consumer) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(offsets->n_offsets);
    for (int i = 0; i < offsets->n_offsets; i++)
      if (offsets->offsets[i].offset >= 0)
        rd_kafka_topic_partition_list_add(l, offsets->offsets[i].topic, offsets->offsets[i].partition)->offset =
            offsets->offsets[i].offset;
    if (l->cnt > 0) {
      rd_kafka_consumer_group_metadata_t *gm = rd_kafka_consumer_group_metadata(d->in.consumer);
      if (sender_post(d, l, gm)) {
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_consumer_group_metadata_destroy(gm);
        LOG_ERROR("txn_commit_failed", "where=send_offsets_to_transaction error=\"the offsets' sender is still busy or did "
                                       "not start\" action=\"aborting the transaction\"");
        d->out.txn_phase = TXN_ABORTING;
      } else {
        d->out.txn_phase = TXN_SENDING_OFFSETS;
      }
    } else {
      rd_kafka_topic_partition_list_destroy(l);
    }
  }
  int rc = txn_step(d, TXN_SLICE_MS);
  if (rc == 1 && wait) rc = txn_finish(d);
  if (rc == 1) {
    if (!d->out.txn_timer.loop) {
      uv_timer_init(d->loop, &d->out.txn_timer);
      d->out.txn_timer.data = d;
    }
    uv_timer_start(&d->out.txn_timer, on_txn_timer, TXN_RETRY_MS, TXN_RETRY_MS);
    if (!d->out.txn_pending_logged++)
      LOG_WARN("txn_commit_pending", "action=\"resumed every %d ms until the broker answers; nothing is produced meanwhile\"",
               TXN_RETRY_MS);
  } else {
    d->out.txn_pending_logged = 0;
  }
  return rc;
}

static void on_commit_timer(uv_timer_t *t) {
  petrad *d = t->data;
  /* a checkpoint commits with its offsets: not now, while its state set is being written */
  if (d->out.txn_open && !d->out.txn_fatal && d->out.txn_phase == TXN_IDLE) petrad_txn_commit(d, NULL, 0, 0);
}

int petrad_txn_init(petrad *d, char *err, size_t n) {
  double t0 = mono_ms();
  rd_kafka_error_t *e = rd_kafka_init_transactions(d->out.producer, 60000);
  if (e) {
    snprintf(err, n, "init_transactions (transactional.id %s): %s", d->ha.txn_id, rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    return -1;
  }
  LOG_INFO("ha_fenced_previous", "transactional_id=%s ms=%.0f", d->ha.txn_id, mono_ms() - t0);
  return 0;
}

/* ---------------------------------------------------------------- lease */

static void on_lease_ready(uv_poll_t *h, int status, int events);

static void takeover(uv_timer_t *t) {
  petrad *d = t->data;
  if (d->ha.role != PETRAD_ROLE_TAKING_OVER || d->stopping) return;
  char err[1024];
  double t0 = mono_ms();
  LOG_INFO("ha_taking_over", "model=%s identity=%s", d->cfg.model_id, d->ha.identity);
  sdn_notify("STATUS=taking over: fencing the previous owner, restoring the state from Kafka");
  if (petrad_become_owner(d, err, sizeof err)) {
    LOG_ERROR("ha_takeover_failed", "error=\"%s\"", err);
    d->exit_code = 1;
    petrad_request_stop(d, "takeover failed");
    return;
  }
  d->ha.role = PETRAD_ROLE_OWNER;
  d->ha.owner[0] = 0;
  snprintf(d->ha.owner, sizeof d->ha.owner, "%s", d->ha.identity);
  d->ha.takeover_ms = mono_ms() - t0;
  d->ha.became_owner_ms = clk_mono_ms();
  uint64_t ci = (uint64_t)(d->cfg.ha_commit_interval_s * 1000);
  if (ci < 1) ci = 1;
  uv_timer_start(&d->ha.commit_timer, on_commit_timer, ci, ci);
  LOG_INFO("ha_owner", "model=%s identity=%s takeover_ms=%.0f restored_from=%s", d->cfg.model_id, d->ha.identity,
           d->ha.takeover_ms, d->restored_from[0] ? d->restored_from : "none");
  sdn_notify("READY=1\nSTATUS=owner: training and publishing");
}

static void lease_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                            void *opaque) {
  petrad *d = opaque;
  int coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
  int has = 0;
  for (int i = 0; i < parts->cnt; i++) has |= parts->elems[i].partition == 0;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    if (coop) rd_kafka_error_destroy(rd_kafka_incremental_assign(rk, parts));
    else rd_kafka_assign(rk, parts);
    if (has && (d->ha.role == PETRAD_ROLE_JOINING || d->ha.role == PETRAD_ROLE_STANDBY)) {
      d->ha.role = PETRAD_ROLE_TAKING_OVER;
      uv_timer_start(&d->ha.takeover_timer, takeover, 0, 0); /* out of the callback */
    } else if (d->ha.role == PETRAD_ROLE_JOINING) {
      d->ha.role = PETRAD_ROLE_STANDBY;
      LOG_INFO("ha_standby", "model=%s identity=%s lease_topic=%s", d->cfg.model_id, d->ha.identity,
               d->cfg.ha_lease_topic);
      sdn_notify("READY=1\nSTATUS=standby: another petrad owns the model");
    }
  } else {
    if (rd_kafka_assignment_lost(rk)) d->ha.lost = 1;
    if (coop) rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
    else rd_kafka_assign(rk, NULL);
    /* (when stopping, leaving the group revokes the lease: that is the hand-over) */
    if (has && !d->stopping && (d->ha.role == PETRAD_ROLE_OWNER || d->ha.role == PETRAD_ROLE_TAKING_OVER)) {
      LOG_ERROR("ha_lease_lost", "model=%s lost=%d action=\"stopping: a standby takes over\"", d->cfg.model_id,
                rd_kafka_assignment_lost(rk));
      d->exit_code = 3;
      d->ha.lease_lost = 1;
      petrad_request_stop(d, "lease lost");
    }
  }
}

static void lease_serve(petrad *d) {
  rd_kafka_message_t *m;
  while (d->ha.lease && (m = rd_kafka_consumer_poll(d->ha.lease, 0))) rd_kafka_message_destroy(m);
}

static void on_lease_ready(uv_poll_t *h, int status, int events) {
  (void)status;
  (void)events;
  petrad *d = h->data;
  uint64_t v;
  ssize_t r = read(d->ha.lease_fd, &v, sizeof v);
  (void)r;
  lease_serve(d);
}

/* The lease topic with one partition: created when missing; more than one is refused (the
 * assignor would then name several owners). */
static int ensure_lease_topic(petrad *d, char *err, size_t n) {
  int parts = kadmin_ensure(d->ha.lease, d->cfg.ha_lease_topic, 1, NULL, err, n);
  if (parts < 0) return -1;
  if (parts > 1) {
    snprintf(err, n, "lease topic %s has %d partitions: it needs exactly one (one owner per model)",
             d->cfg.ha_lease_topic, parts);
    return -1;
  }
  return 0;
}

int petrad_ha_start(petrad *d, char *err, size_t n) {
  char host[128] = "host";
  gethostname(host, sizeof host - 1);
  host[sizeof host - 1] = 0;
  snprintf(d->ha.identity, sizeof d->ha.identity, "%s:%d", host, (int)getpid());
  if (d->cfg.ha_transactional_id[0])
    snprintf(d->ha.txn_id, sizeof d->ha.txn_id, "%s", d->cfg.ha_transactional_id);
  else
    snprintf(d->ha.txn_id, sizeof d->ha.txn_id, "petrad-%s", d->cfg.model_id);
  char group[CFG_STR + 8], cid[200], sto[32];
  snprintf(group, sizeof group, "%s.lease", d->cfg.group_id);
  snprintf(cid, sizeof cid, "petrad-lease-%s-%d", host, (int)getpid());
  snprintf(sto, sizeof sto, "%d", d->cfg.ha_session_timeout_ms);
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  char e[512];
  const char *kv[][2] = {{"bootstrap.servers", d->cfg.brokers},
                         {"group.id", group},
                         {"client.id", cid},
                         {"partition.assignment.strategy", "cooperative-sticky"},
                         {"session.timeout.ms", sto},
                         {"heartbeat.interval.ms", "500"},
                         {"enable.auto.commit", "false"},
                         {"auto.offset.reset", "latest"}};
  for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
    if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], e, sizeof e) != RD_KAFKA_CONF_OK) {
      snprintf(err, n, "lease consumer %s: %s", kv[i][0], e);
      rd_kafka_conf_destroy(conf);
      return -1;
    }
  if (d->cfg.ha_instance_id[0] &&
      rd_kafka_conf_set(conf, "group.instance.id", d->cfg.ha_instance_id, e, sizeof e) != RD_KAFKA_CONF_OK) {
    snprintf(err, n, "ha.instance_id: %s", e);
    rd_kafka_conf_destroy(conf);
    return -1;
  }
  /* kafka.* (security: TLS, SASL) applies to the lease consumer too */
  if (kclient_apply(conf, &d->cfg, NULL, e, sizeof e)) {
    snprintf(err, n, "lease consumer: %s", e);
    rd_kafka_conf_destroy(conf);
    return -1;
  }
  rd_kafka_conf_set_opaque(conf, d);
  rd_kafka_conf_set_error_cb(conf, petrad_kafka_on_error);
  rd_kafka_conf_set_rebalance_cb(conf, lease_rebalance);
  d->ha.lease = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
  if (!d->ha.lease) {
    snprintf(err, n, "lease consumer: %s", e);
    return -1;
  }
  rd_kafka_poll_set_consumer(d->ha.lease);
  /* with the broker away at start (a restart during an outage) the lease topic is checked
   * later, once a second from petrad_ha_tick: the loop and the control socket run meanwhile */
  char me[512];
  if (kadmin_partitions_within(d->ha.lease, d->cfg.ha_lease_topic, 500, me, sizeof me) < 0) {
    LOG_WARN("lease_topic_unchecked", "topic=%s error=\"%s\" action=\"checked again every second\"",
             d->cfg.ha_lease_topic, me);
  } else {
    if (ensure_lease_topic(d, err, n)) return -1;
    d->ha.lease_topic_ok = 1;
  }
  d->ha.lease_q = rd_kafka_queue_get_consumer(d->ha.lease);
  d->ha.lease_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  rd_kafka_queue_io_event_enable(d->ha.lease_q, d->ha.lease_fd, &one, sizeof one);
  uv_poll_init(d->loop, &d->ha.lease_poll, d->ha.lease_fd);
  d->ha.lease_poll.data = d;
  uv_poll_start(&d->ha.lease_poll, UV_READABLE, on_lease_ready);
  uv_timer_init(d->loop, &d->ha.takeover_timer);
  d->ha.takeover_timer.data = d;
  uv_timer_init(d->loop, &d->ha.commit_timer);
  d->ha.commit_timer.data = d;
  d->ha.admin_q = rd_kafka_queue_new(d->ha.lease);
  rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(t, d->cfg.ha_lease_topic, RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t se = rd_kafka_subscribe(d->ha.lease, t);
  rd_kafka_topic_partition_list_destroy(t);
  if (se) {
    snprintf(err, n, "lease subscribe: %s", rd_kafka_err2str(se));
    return -1;
  }
  d->ha.role = PETRAD_ROLE_JOINING;
  ssize_t w = write(d->ha.lease_fd, &one, sizeof one);
  (void)w;
  LOG_INFO("ha_joining", "model=%s lease_group=%s lease_topic=%s transactional_id=%s identity=%s", d->cfg.model_id,
           group, d->cfg.ha_lease_topic, d->ha.txn_id, d->ha.identity);
  return 0;
}

/* Once a second from the ops timer: serve the lease consumer and, on a standby, find out
 * who owns the lease (DescribeConsumerGroups: the member assigned the partition). */
void petrad_ha_tick(petrad *d) {
  if (!d->ha.lease) return;
  if (!d->ha.lease_topic_ok && !d->stopping) {
    char err[512];
    if (kadmin_partitions_within(d->ha.lease, d->cfg.ha_lease_topic, 100, err, sizeof err) >= 0) {
      if (ensure_lease_topic(d, err, sizeof err)) {
        LOG_ERROR("ha_start_failed", "error=\"%s\"", err);
        d->exit_code = 1;
        petrad_request_stop(d, "lease topic unusable");
        return;
      }
      d->ha.lease_topic_ok = 1;
      LOG_INFO("lease_topic_checked", "topic=%s", d->cfg.ha_lease_topic);
    }
  }
  lease_serve(d);
  rd_kafka_event_t *ev;
  while ((ev = rd_kafka_queue_poll(d->ha.admin_q, 0))) {
    const rd_kafka_DescribeConsumerGroups_result_t *res = rd_kafka_event_DescribeConsumerGroups_result(ev);
    size_t ng = 0;
    const rd_kafka_ConsumerGroupDescription_t **gs = res ? rd_kafka_DescribeConsumerGroups_result_groups(res, &ng) : NULL;
    char owner[sizeof d->ha.owner] = "";
    for (size_t g = 0; g < ng; g++) {
      size_t nm = rd_kafka_ConsumerGroupDescription_member_count(gs[g]);
      d->ha.members = (int)nm;
      for (size_t i = 0; i < nm; i++) {
        const rd_kafka_MemberDescription_t *m = rd_kafka_ConsumerGroupDescription_member(gs[g], i);
        const rd_kafka_MemberAssignment_t *a = rd_kafka_MemberDescription_assignment(m);
        const rd_kafka_topic_partition_list_t *p = a ? rd_kafka_MemberAssignment_partitions(a) : NULL;
        if (p && p->cnt > 0)
          snprintf(owner, sizeof owner, "%s (%s)", rd_kafka_MemberDescription_client_id(m),
                   rd_kafka_MemberDescription_host(m));
      }
    }
    if (d->ha.role != PETRAD_ROLE_OWNER) snprintf(d->ha.owner, sizeof d->ha.owner, "%s", owner);
    d->ha.describe_in_flight = 0;
    rd_kafka_event_destroy(ev);
  }
  uint64_t now = clk_mono_ms();
  /* every 5 s, every second while the owner is not known yet */
  if (!d->ha.describe_in_flight && now - d->ha.described_ms >= (d->ha.owner[0] ? 5000u : 1000u)) {
    char group[CFG_STR + 8];
    snprintf(group, sizeof group, "%s.lease", d->cfg.group_id);
    const char *g = group;
    rd_kafka_DescribeConsumerGroups(d->ha.lease, &g, 1, NULL, d->ha.admin_q);
    d->ha.describe_in_flight = 1;
    d->ha.described_ms = now;
  }
}

void petrad_ha_close(petrad *d) {
  if (!d->ha.lease) return;
  if (d->ha.takeover_timer.loop && !uv_is_closing((uv_handle_t *)&d->ha.takeover_timer)) {
    uv_timer_stop(&d->ha.takeover_timer);
    uv_close((uv_handle_t *)&d->ha.takeover_timer, NULL);
  }
  if (d->ha.commit_timer.loop && !uv_is_closing((uv_handle_t *)&d->ha.commit_timer)) {
    uv_timer_stop(&d->ha.commit_timer);
    uv_close((uv_handle_t *)&d->ha.commit_timer, NULL);
  }
  if (d->out.txn_timer.loop && !uv_is_closing((uv_handle_t *)&d->out.txn_timer)) {
    uv_timer_stop(&d->out.txn_timer);
    uv_close((uv_handle_t *)&d->out.txn_timer, NULL);
  }
  uv_poll_stop(&d->ha.lease_poll);
  if (!uv_is_closing((uv_handle_t *)&d->ha.lease_poll)) uv_close((uv_handle_t *)&d->ha.lease_poll, NULL);
  rd_kafka_event_t *ev;
  while ((ev = rd_kafka_queue_poll(d->ha.admin_q, 0))) rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(d->ha.admin_q);
  rd_kafka_queue_destroy(d->ha.lease_q);
  /* leaving the group hands the lease to a standby at once (no session timeout to wait); a
   * lease revoked as lost is not ours to leave (and its close can hang: kclient.h) */
  kclient_consumer_close(d->ha.lease, d->ha.lost || d->ha.lease_lost);
  d->ha.lease = NULL;
  close(d->ha.lease_fd);
}
