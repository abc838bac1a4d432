/* The evolution thread: runs the steady-state evolution step beside training, on copies the
 * trainer thread makes when it hands a step over (the live weights into a mirror model, the
 * replay buffer and the hold-out window), so that training never stops for it. The handoff
 * and what each side owns are written down at evw in petrad.h. Latency is timed with the
 * trainer paused for the timed loop only (quiet/in_feed): on a 2-core host the trainer would
 * otherwise share the core the plan is timed on.
 *
 * Bounded: one step at a time (the trainer posts only to an idle worker and skips otherwise),
 * its memory is the mirror model plus the two example copies plus one candidate's model and
 * plan (status: evolution_worker). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "log.h"
#include "petra/metrics.h"
#include "petra/stats.h"
#include "petrad.h"

enum { EVW_IDLE = 0, EVW_POSTED, EVW_RUNNING, EVW_DONE };

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static double clock_us(void *ctx) {
  (void)ctx;
  return now_us();
}

static double thread_cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* quiet(1): ask the trainer to hold off feeding and wait (at most 50 ms) until it is out of
 * its current feed; quiet(0): let it go on. */
static void quiet(void *ctx, int begin) {
  petrad *d = ctx;
  if (!begin) {
    atomic_store(&d->evw.quiet, 0);
    return;
  }
  atomic_store(&d->evw.quiet, 1);
  for (int i = 0; i < 1000 && atomic_load(&d->evw.in_feed); i++) usleep(50);
}

void petrad_evo_feed_begin(petrad *d) {
  for (;;) { /* Dekker-style: announce, then look; back off while the worker times */
    atomic_store(&d->evw.in_feed, 1);
    if (!atomic_load(&d->evw.quiet)) return;
    atomic_store(&d->evw.in_feed, 0);
    for (int i = 0; i < 2000 && atomic_load(&d->evw.quiet); i++) usleep(20);
  }
}

void petrad_evo_feed_end(petrad *d) { atomic_store(&d->evw.in_feed, 0); }

static void member_json(sbuf *b, const petra_member *m, const petra_member *champion) {
  char g[1024];
  petra_genome_format(&m->genome, g, sizeof g);
  /* the genome last: tables of members stay readable with long genomes */
  sb_printf(b, "{\"champion\":%s,\"evaluated\":%s,\"metric\":", m == champion ? "true" : "false",
            m->evaluated ? "true" : "false");
  sb_json_num(b, m->evaluated ? m->fit.metric : NAN);
  sb_printf(b, ",\"bytes\":");
  sb_json_num(b, m->evaluated ? m->fit.bytes : NAN);
  sb_printf(b, ",\"p50_us\":");
  sb_json_num(b, m->evaluated ? m->fit.p50_us : NAN);
  sb_printf(b, ",\"p99_us\":");
  sb_json_num(b, m->evaluated ? m->fit.p99_us : NAN);
  sb_printf(b, ",\"rank\":%d,\"violation\":", m->rank);
  sb_json_num(b, m->violation);
  sb_printf(b, ",\"born\":%llu,\"genome\":", (unsigned long long)m->born);
  sb_json_str(b, g[0] ? g : "fp32");
  sb_put(b, "}", 1);
}

/* The population and the Pareto archive as JSON for the control socket. */
static void publish_population(petrad *d, double step_ms) {
  sbuf pop, par;
  sb_init(&pop);
  sb_init(&par);
  const petra_member *ch = petra_evo_champion(d->evw.evo);
  sb_put(&pop, "[", 1);
  for (int i = 0; i < petra_evo_size(d->evw.evo); i++) {
    if (i) sb_put(&pop, ",", 1);
    member_json(&pop, petra_evo_member(d->evw.evo, i), ch);
  }
  sb_put(&pop, "]", 1);
  const petra_member *front[PETRA_EVO_MAX_POP * 4];
  int nf = petra_evo_front(d->evw.evo, front, (int)(sizeof front / sizeof front[0]));
  sb_put(&par, "[", 1);
  for (int i = 0; i < nf; i++) {
    if (i) sb_put(&par, ",", 1);
    member_json(&par, front[i], ch);
  }
  sb_put(&par, "]", 1);
  if (pop.oom || par.oom) {
    sb_free(&pop);
    sb_free(&par);
    return;
  }
  svg_point pts[64];
  int np = 0;
  for (int i = 0; i < nf && np < 64; i++)
    if (front[i]->evaluated)
      pts[np++] = (svg_point){front[i]->fit.p99_us, front[i]->fit.metric, front[i]->fit.bytes,
                              ch && !memcmp(&front[i]->genome, &ch->genome, sizeof ch->genome)};
  pthread_mutex_lock(&d->info_mu);
  free(d->info.population_json);
  free(d->info.pareto_json);
  d->info.population_json = pop.p;
  d->info.pareto_json = par.p;
  memcpy(d->info.front, pts, sizeof pts[0] * (size_t)np);
  d->info.n_front = np;
  d->info.front_budget_us = d->evw.ts.latency_budget_ratio * d->evw.baseline_p99_us;
  d->info.front_base_metric = d->evw.baseline_metric;
  d->info.front_base_p99_us = d->evw.baseline_p99_us;
  d->info.evolution_step_ms = step_ms;
  pthread_mutex_unlock(&d->info_mu);
}


/* One steady-state evolution step on the job's copies (worker thread). */
static void setup_candidate(petrad *d) {
  petra_candidate *c = &d->evw.cand;
  c->base = d->evw.mirror;
  c->tune = d->evw.tune;
  c->n_tune = d->evw.n_tune;
  c->holdout = d->evw.hold;
  c->n_holdout = d->evw.n_hold;
  c->clock = clock_us;
  c->latency_reps = 200;
  c->seed = d->evw.seed;
  c->quiet = quiet;
  c->quiet_ctx = d;
}

static void evolution_step(petrad *d) {
  petra_candidate *c = &d->evw.cand;
  const trainer_settings *ts = &d->evw.ts;
  int hib = d->spec.kind == PETRA_MODEL_SEQ;
  if (!d->evw.evo || petra_evo_steps(d->evw.evo) % 10 == 0) {
    petra_genome id;
    petra_genome_identity(&id);
    petra_fitness base;
    if (petra_candidate_eval(c, &id, &base)) return;
    /* forecasters: the floor is relative to the better of the model and the naive forecast
     * on the same window (a compressed model worse than carrying the last value forward is
     * not a candidate) */
    double ref = base.metric;
    if (!hib) {
      petra_metrics *nm = petra_metrics_new(0, petra_model_n_outputs(d->evw.mirror), d->evw.n_hold);
      if (nm && petra_evaluate_naive(d->evw.mirror, d->evw.n_hold, d->evw.hold, nm) == 0 &&
          petra_metrics_mse(nm) < ref)
        ref = petra_metrics_mse(nm);
      petra_metrics_free(nm);
    }
    double tol = ts->evolution_tolerance > 0 ? (hib ? ts->evolution_tolerance : ts->evolution_tolerance * fabs(ref))
                                             : (hib ? 0.005 : 0.02 * fabs(ref));
    d->evw.tolerance = tol;
    double floor = hib ? base.metric - 4 * tol : ref + 4 * tol;
    if (!d->evw.evo) {
      petra_evo_conf ec = petra_evo_defaults();
      ec.population = 12;
      petra_evo_conf_layers(&ec, &d->spec);
      int nl = ec.n_layers;
      ec.higher_is_better = hib;
      ec.baseline_metric = base.metric;
      ec.metric_floor = floor;
      ec.metric_tolerance = tol;
      ec.latency_budget_us = ts->latency_budget_ratio * base.p99_us;
      ec.seed = d->evw.seed;
      petra_err err = {0};
      d->evw.evo = petra_evo_new(&ec, petra_candidate_eval, c, &err);
      if (!d->evw.evo) {
        LOG_ERROR("evolution_unavailable", "error=\"%s\"", err.msg);
        return;
      }
      d->evw.baseline_p99_us = base.p99_us;
      d->evw.baseline_metric = base.metric;
      LOG_INFO("evolution_started", "baseline_metric=%.4f baseline_p99_us=%.1f budget_us=%.1f layers=%d",
               base.metric, base.p99_us, ec.latency_budget_us, nl);
    } else {
      /* the budget follows the quietest baseline measurement seen */
      if (base.p99_us > 0 && base.p99_us < d->evw.baseline_p99_us) d->evw.baseline_p99_us = base.p99_us;
      d->evw.baseline_metric = base.metric;
      petra_evo_set_baseline(d->evw.evo, base.metric, floor, ts->latency_budget_ratio * d->evw.baseline_p99_us);
    }
  }
  double t0 = now_us();
  int rc = petra_evo_step(d->evw.evo);
  atomic_fetch_add(&d->st.evolution_steps, 1);
  const petra_member *ch = petra_evo_champion(d->evw.evo);
  d->evw.step_ms = (now_us() - t0) / 1000;
  publish_population(d, d->evw.step_ms);
  LOG_DEBUG("evolution_step", "step=%llu rc=%d ms=%.0f champion=%d",
            (unsigned long long)petra_evo_steps(d->evw.evo), rc, d->evw.step_ms, ch != NULL);
#if defined(__GLIBC__)
  /* A candidate's models, trainer and plan (megabytes) were freed: glibc raises its mmap
   * threshold after the first such free and keeps later ones in the arena, so hand the free
   * pages back, or RSS creeps up over hours (tests/reliability/soak.sh). */
  malloc_trim(0);
#endif
  d->evw.have_champion = ch != NULL;
  if (ch) d->evw.champion = ch->genome;
}

/* Compiles the champion from the job's copy of the weights (worker thread). */
static void build_step(petrad *d) {
  petra_candidate *c = &d->evw.cand;
  petra_genome id;
  petra_genome_identity(&id);
  d->evw.build_fp32_rc = petra_candidate_eval(c, &id, &d->evw.build_fp32);
  c->keep_result = 1;
  d->evw.build_rc = petra_candidate_eval(c, &d->evw.build_genome, &d->evw.build_champion);
  c->keep_result = 0;
}

static void *worker_main(void *arg) {
  petrad *d = arg;
  pthread_mutex_lock(&d->evw.mu);
  for (;;) {
    while (!d->evw.stop && d->evw.state != EVW_POSTED) pthread_cond_wait(&d->evw.cv, &d->evw.mu);
    if (d->evw.stop) break;
    d->evw.state = EVW_RUNNING;
    pthread_mutex_unlock(&d->evw.mu);
    setup_candidate(d);
    if (d->evw.job == PETRAD_EVO_BUILD) build_step(d);
    else evolution_step(d);
    d->evw.cpu_s = thread_cpu_s();
    atomic_store(&d->evw.cpu_s_pub, d->evw.cpu_s);
    atomic_store(&d->evw.step_ms_pub, d->evw.step_ms);
    pthread_mutex_lock(&d->evw.mu);
    d->evw.state = EVW_DONE;
  }
  pthread_mutex_unlock(&d->evw.mu);
  return NULL;
}

int petrad_evo_start(petrad *d, char *err, size_t n) {
  pthread_mutex_init(&d->evw.mu, NULL);
  pthread_cond_init(&d->evw.cv, NULL);
  petra_err pe = {0};
  d->evw.mirror = petra_model_new(&d->spec, 1, &pe);
  if (!d->evw.mirror) {
    snprintf(err, n, "evolution: %s", pe.msg);
    return -1;
  }
  if (pthread_create(&d->evw.thread, NULL, worker_main, d)) {
    snprintf(err, n, "cannot start the evolution thread");
    petra_model_free(d->evw.mirror);
    d->evw.mirror = NULL;
    return -1;
  }
  d->evw.started = 1;
  return 0;
}

static int copy_examples(float **buf, int *cap, int n, int ef) {
  if (n > *cap) {
    float *nb = realloc(*buf, sizeof(float) * (size_t)n * (size_t)ef);
    if (!nb) return -1;
    *buf = nb;
    *cap = n;
  }
  return 0;
}

int petrad_evo_post(petrad *d, int job, const petra_genome *g) {
  if (!d->evw.started) return 0;
  const petra_replay *r = petra_trainer_replay(d->trainer);
  if (r->size < 512 || d->hold_n < 256) return 0;
  pthread_mutex_lock(&d->evw.mu);
  int idle = d->evw.state == EVW_IDLE;
  pthread_mutex_unlock(&d->evw.mu);
  if (!idle) return 0; /* one step at a time: this interval's step is skipped */
  int ef = d->ef;
  if (petra_model_n_params(d->evw.mirror) != petra_model_n_params(d->model) ||
      petra_model_n_state(d->evw.mirror) != petra_model_n_state(d->model)) {
    static int told;
    if (!told++) LOG_ERROR("evolution_unavailable", "error=\"the model's layout differs from its spec\"");
    return 0;
  }
  if (copy_examples(&d->evw.tune, &d->evw.cap_tune, r->size, ef) ||
      copy_examples(&d->evw.hold, &d->evw.cap_hold, d->hold_n, ef))
    return 0;
  /* the copies, while the worker is idle: it reads none of them until POSTED */
  memcpy(petra_model_params(d->evw.mirror), petra_model_params(d->model),
         sizeof(float) * petra_model_n_params(d->model));
  if (petra_model_n_state(d->model))
    memcpy(petra_model_state(d->evw.mirror), petra_model_state(d->model),
           sizeof(float) * petra_model_n_state(d->model));
  memcpy(d->evw.tune, r->data, sizeof(float) * (size_t)r->size * (size_t)ef);
  d->evw.n_tune = r->size;
  int start = (d->hold_head - d->hold_n + d->hold_cap) % d->hold_cap;
  for (int i = 0; i < d->hold_n; i++)
    memcpy(d->evw.hold + (size_t)i * ef, d->holdout + (size_t)((start + i) % d->hold_cap) * ef,
           sizeof(float) * (size_t)ef);
  d->evw.n_hold = d->hold_n;
  d->evw.ts = d->ts;
  d->evw.job = job;
  if (g) d->evw.build_genome = *g;
  d->evw.seed = (uint64_t)d->cfg.seed;
  atomic_store(&d->evw.memory_bytes,
               (uint64_t)(sizeof(float) * (petra_model_n_params(d->model) * 2 /* mirror + a candidate */ +
                                           (size_t)(d->evw.cap_tune + d->evw.cap_hold) * (size_t)ef)));
  pthread_mutex_lock(&d->evw.mu);
  d->evw.state = EVW_POSTED;
  atomic_store(&d->evw.busy, 1);
  pthread_cond_signal(&d->evw.cv);
  pthread_mutex_unlock(&d->evw.mu);
  return 1;
}

int petrad_evo_take(petrad *d) {
  if (!d->evw.started) return 0;
  pthread_mutex_lock(&d->evw.mu);
  int done = d->evw.state == EVW_DONE ? d->evw.job : 0;
  if (done) {
    d->evw.state = EVW_IDLE;
    atomic_store(&d->evw.busy, 0);
  }
  pthread_mutex_unlock(&d->evw.mu);
  return done;
}

void petrad_evo_stop(petrad *d) {
  if (!d->evw.started) return;
  pthread_mutex_lock(&d->evw.mu);
  d->evw.stop = 1;
  pthread_cond_signal(&d->evw.cv);
  pthread_mutex_unlock(&d->evw.mu);
  pthread_join(d->evw.thread, NULL); /* a running step finishes first */
  d->evw.started = 0;
  petra_evo_free(d->evw.evo);
  d->evw.evo = NULL;
  petra_model_free(d->evw.cand.model);
  petra_plan_free(d->evw.cand.plan);
  d->evw.cand.model = NULL;
  d->evw.cand.plan = NULL;
  petra_model_free(d->evw.mirror);
  d->evw.mirror = NULL;
  free(d->evw.tune);
  free(d->evw.hold);
  d->evw.tune = d->evw.hold = NULL;
  pthread_mutex_destroy(&d->evw.mu);
  pthread_cond_destroy(&d->evw.cv);
}
