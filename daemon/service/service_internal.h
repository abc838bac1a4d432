/* The service's own struct, shared by service.c (trainer thread) and evolution.c (evolution
 * thread). Nothing outside daemon/service/ includes this. */
#ifndef PETRA_SERVICE_INTERNAL_H
#define PETRA_SERVICE_INTERNAL_H
#include "service.h"

struct petra_service {
  svc_conf conf;
  /* shared with the caller (see service.h) */
  exqueue *q;
  svc_stats st;
  pthread_mutex_t info_mu;
  svc_info info;
  pthread_mutex_t enc_mu;    /* the encoder's state for snapshots, handed over by the caller */
  uint8_t *enc_bytes;
  size_t enc_len;
  pthread_mutex_t out_mu;    /* the outbox: trainer (and only it) pushes, the caller takes */
  svc_out *out_head, *out_tail;
  /* the trainer thread (after svc_start) */
  pthread_t thread;
  int running;
  petra_model *model;
  petra_trainer *trainer;
  uint64_t examples_base, steps_base; /* counted by trainers replaced on a change of core */
  svc_settings ts;
  uint64_t snapshot_version;
  uint64_t generation;       /* the last checkpoint's */
  int publish_now;           /* publish the model as it is before the first example */
  float *holdout;            /* ring of the most recent examples (the evolution's window) */
  int hold_cap, hold_n, hold_head;
  int snapshot_wanted;       /* a champion snapshot waits for the evolution thread to compile it */
  char champion_text[1024];  /* genome of the last published champion */
  petra_genome champion;     /* the evolution's champion as of its last finished step */
  int have_champion;
  double evo_tolerance;      /* the champion's metric tolerance, from the last baseline */
  /* The evolution runs beside training on its own thread, on a copy of the weights, the
   * replay buffer and the hold-out window made by the trainer thread when it hands a job over.
   * Handoff: state under evw.mu (IDLE → POSTED by the trainer, → RUNNING → DONE by the worker,
   * → IDLE by the trainer once it has read the result). While POSTED/RUNNING the worker owns
   * the job's inputs and everything marked (worker); at IDLE/DONE the trainer may read its
   * outputs. quiet/in_feed: the trainer pauses feeding while the worker times a plan. */
  struct {
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int state, stop;                 /* (mu) */
    petra_model *mirror;             /* job input: the live weights, copied */
    float *tune, *hold;              /* job inputs: replay and hold-out examples */
    int n_tune, n_hold, cap_tune, cap_hold;
    svc_settings ts;                 /* job input */
    int job;                         /* job input: SVC_EVO_STEP or SVC_EVO_BUILD */
    petra_genome build_genome;       /* job input (BUILD): the champion to compile */
    petra_evo *evo;                  /* (worker) */
    petra_candidate cand;            /* (worker) */
    double baseline_p99_us, baseline_metric; /* (worker) */
    /* outputs (worker, read by the trainer at DONE); BUILD: the compiled champion is cand.model */
    int build_rc, build_fp32_rc;
    petra_fitness build_champion, build_fp32;
    int have_champion;
    petra_genome champion;
    double tolerance;
    double step_ms;
    _Atomic int quiet, in_feed;
    /* CORES job outputs (worker, read by the trainer at DONE): when a core won, its model and
     * trainer (the trainer thread takes them over and clears these) */
    petra_model *won_model;
    petra_trainer *won_trainer;
    char won_core[256], trial_log[1024];
  } evw;
};

/* evolution.c, called by the trainer thread */
enum { SVC_EVO_STEP = 1, SVC_EVO_BUILD = 2, SVC_EVO_CORES = 3 };
/* The core part of a spec's text ("gru=64", "tf=2:4:32 ffn=64 causal=0 pool=last"). */
void svc_core_text(const petra_model_spec *s, char *buf, size_t n);
/* The live model's evolution state is for another model: the trainer thread, with the worker
 * idle, drops the population and makes the mirror anew for model m's spec. */
int svc_evo_reset(petra_service *s, const petra_model *m);
int svc_evo_start(petra_service *s, char *err, size_t n);
/* Hands a job over when the worker is idle (1 if posted): an evolution step, or compiling
 * genome g (prune + fine-tune + plan, and the fp32 model measured on the same window) from a
 * copy of the current weights for a snapshot. */
int svc_evo_post(petra_service *s, int job, const petra_genome *g);
/* The job whose result is now readable (0: none finished). */
int svc_evo_take(petra_service *s);
void svc_evo_stop(petra_service *s);
/* Around each petra_trainer_feed: waits while the worker times a plan. */
void svc_evo_feed_begin(petra_service *s);
void svc_evo_feed_end(petra_service *s);
#endif
