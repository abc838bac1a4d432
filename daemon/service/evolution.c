/* The evolution thread: runs the steady-state evolution step beside training, on copies the
 * trainer thread makes when it hands a step over (the live weights into a mirror model, the
 * replay buffer and the hold-out window), so that training never stops for it. The handoff
 * and what each side owns are written down at evw in service_internal.h. Latency is timed with the
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
#include "clock.h"
#include "ctl.h"
#include "service_internal.h"

enum { EVW_IDLE = 0, EVW_POSTED, EVW_RUNNING, EVW_DONE };

static double clock_us(void *ctx) {
  (void)ctx;
  return clk_mono_us();
}

static double thread_cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* quiet(1): ask the trainer to hold off feeding and wait (at most 50 ms) until it is out of
 * its current feed; quiet(0): let it go on. */
static void quiet(void *ctx, int begin) {
  petra_service *s = ctx;
  if (!begin) {
    atomic_store(&s->evw.quiet, 0);
    return;
  }
  atomic_store(&s->evw.quiet, 1);
  for (int i = 0; i < 1000 && atomic_load(&s->evw.in_feed); i++) usleep(50);
}

void svc_evo_feed_begin(petra_service *s) {
  for (;;) { /* Dekker-style: announce, then look; back off while the worker times */
    atomic_store(&s->evw.in_feed, 1);
    if (!atomic_load(&s->evw.quiet)) return;
    atomic_store(&s->evw.in_feed, 0);
    for (int i = 0; i < 2000 && atomic_load(&s->evw.quiet); i++) usleep(20);
  }
}

void svc_evo_feed_end(petra_service *s) { atomic_store(&s->evw.in_feed, 0); }

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
static void publish_population(petra_service *s, double step_ms) {
  sbuf pop, par;
  sb_init(&pop);
  sb_init(&par);
  const petra_member *ch = petra_evo_champion(s->evw.evo);
  sb_put(&pop, "[", 1);
  for (int i = 0; i < petra_evo_size(s->evw.evo); i++) {
    if (i) sb_put(&pop, ",", 1);
    member_json(&pop, petra_evo_member(s->evw.evo, i), ch);
  }
  sb_put(&pop, "]", 1);
  const petra_member *front[PETRA_EVO_MAX_POP * 4];
  int nf = petra_evo_front(s->evw.evo, front, (int)(sizeof front / sizeof front[0]));
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
  pthread_mutex_lock(&s->info_mu);
  free(s->info.population_json);
  free(s->info.pareto_json);
  s->info.population_json = pop.p;
  s->info.pareto_json = par.p;
  memcpy(s->info.front, pts, sizeof pts[0] * (size_t)np);
  s->info.n_front = np;
  s->info.front_budget_us = s->evw.ts.latency_budget_ratio * s->evw.baseline_p99_us;
  s->info.front_base_metric = s->evw.baseline_metric;
  s->info.front_base_p99_us = s->evw.baseline_p99_us;
  s->info.evolution_step_ms = step_ms;
  pthread_mutex_unlock(&s->info_mu);
}


/* One steady-state evolution step on the job's copies (worker thread). */
static void setup_candidate(petra_service *s) {
  petra_candidate *c = &s->evw.cand;
  c->base = s->evw.mirror;
  c->tune = s->evw.tune;
  c->n_tune = s->evw.n_tune;
  c->holdout = s->evw.hold;
  c->n_holdout = s->evw.n_hold;
  c->clock = clock_us;
  c->latency_reps = 200;
  c->seed = s->conf.seed;
  c->quiet = quiet;
  c->quiet_ctx = s;
}

static void evolution_step(petra_service *s) {
  petra_candidate *c = &s->evw.cand;
  const svc_settings *ts = &s->evw.ts;
  int hib = s->conf.spec.kind == PETRA_MODEL_SEQ;
  if (!s->evw.evo || petra_evo_steps(s->evw.evo) % 10 == 0) {
    petra_genome id;
    petra_genome_identity(&id);
    petra_fitness base;
    if (petra_candidate_eval(c, &id, &base)) return;
    /* forecasters: the floor is relative to the better of the model and the naive forecast
     * on the same window (a compressed model worse than carrying the last value forward is
     * not a candidate) */
    double ref = base.metric;
    if (!hib) {
      petra_metrics *nm = petra_metrics_new(0, petra_model_n_outputs(s->evw.mirror), s->evw.n_hold);
      if (nm && petra_evaluate_naive(s->evw.mirror, s->evw.n_hold, s->evw.hold, nm) == 0 &&
          petra_metrics_mse(nm) < ref)
        ref = petra_metrics_mse(nm);
      petra_metrics_free(nm);
    }
    double tol = ts->evolution_tolerance > 0 ? (hib ? ts->evolution_tolerance : ts->evolution_tolerance * fabs(ref))
                                             : (hib ? 0.005 : 0.02 * fabs(ref));
    s->evw.tolerance = tol;
    double floor = hib ? base.metric - 4 * tol : ref + 4 * tol;
    if (!s->evw.evo) {
      petra_evo_conf ec = petra_evo_defaults();
      ec.population = 12;
      petra_evo_conf_layers(&ec, &s->conf.spec);
      int nl = ec.n_layers;
      ec.higher_is_better = hib;
      ec.baseline_metric = base.metric;
      ec.metric_floor = floor;
      ec.metric_tolerance = tol;
      ec.latency_budget_us = ts->latency_budget_ratio * base.p99_us;
      ec.seed = s->conf.seed;
      petra_err err = {0};
      s->evw.evo = petra_evo_new(&ec, petra_candidate_eval, c, &err);
      if (!s->evw.evo) {
        LOG_ERROR("evolution_unavailable", "error=\"%s\"", err.msg);
        return;
      }
      s->evw.baseline_p99_us = base.p99_us;
      s->evw.baseline_metric = base.metric;
      LOG_INFO("evolution_started", "baseline_metric=%.4f baseline_p99_us=%.1f budget_us=%.1f layers=%d",
               base.metric, base.p99_us, ec.latency_budget_us, nl);
    } else {
      /* the budget follows the quietest baseline measurement seen */
      if (base.p99_us > 0 && base.p99_us < s->evw.baseline_p99_us) s->evw.baseline_p99_us = base.p99_us;
      s->evw.baseline_metric = base.metric;
      petra_evo_set_baseline(s->evw.evo, base.metric, floor, ts->latency_budget_ratio * s->evw.baseline_p99_us);
    }
  }
  double t0 = clk_mono_us();
  int rc = petra_evo_step(s->evw.evo);
  atomic_fetch_add(&s->st.evolution_steps, 1);
  const petra_member *ch = petra_evo_champion(s->evw.evo);
  s->evw.step_ms = (clk_mono_us() - t0) / 1000;
  publish_population(s, s->evw.step_ms);
  LOG_DEBUG("evolution_step", "step=%llu rc=%d ms=%.0f champion=%d",
            (unsigned long long)petra_evo_steps(s->evw.evo), rc, s->evw.step_ms, ch != NULL);
#if defined(__GLIBC__)
  /* A candidate's models, trainer and plan (megabytes) were freed: glibc raises its mmap
   * threshold after the first such free and keeps later ones in the arena, so hand the free
   * pages back, or RSS creeps up over hours (tests/reliability/soak.sh). */
  malloc_trim(0);
#endif
  s->evw.have_champion = ch != NULL;
  if (ch) s->evw.champion = ch->genome;
}

/* Compiles the champion from the job's copy of the weights (worker thread). */
static void build_step(petra_service *s) {
  petra_candidate *c = &s->evw.cand;
  petra_genome id;
  petra_genome_identity(&id);
  s->evw.build_fp32_rc = petra_candidate_eval(c, &id, &s->evw.build_fp32);
  c->keep_result = 1;
  s->evw.build_rc = petra_candidate_eval(c, &s->evw.build_genome, &s->evw.build_champion);
  c->keep_result = 0;
}

static void *worker_main(void *arg) {
  petra_service *s = arg;
  pthread_mutex_lock(&s->evw.mu);
  for (;;) {
    while (!s->evw.stop && s->evw.state != EVW_POSTED) pthread_cond_wait(&s->evw.cv, &s->evw.mu);
    if (s->evw.stop) break;
    s->evw.state = EVW_RUNNING;
    pthread_mutex_unlock(&s->evw.mu);
    setup_candidate(s);
    if (s->evw.job == SVC_EVO_BUILD) build_step(s);
    else evolution_step(s);
    atomic_store(&s->st.evo_cpu_s, thread_cpu_s());
    atomic_store(&s->st.evo_step_ms, s->evw.step_ms);
    pthread_mutex_lock(&s->evw.mu);
    s->evw.state = EVW_DONE;
  }
  pthread_mutex_unlock(&s->evw.mu);
  return NULL;
}

int svc_evo_start(petra_service *s, char *err, size_t n) {
  pthread_mutex_init(&s->evw.mu, NULL);
  pthread_cond_init(&s->evw.cv, NULL);
  petra_err pe = {0};
  s->evw.mirror = petra_model_new(&s->conf.spec, 1, &pe);
  if (!s->evw.mirror) {
    snprintf(err, n, "evolution: %s", pe.msg);
    return -1;
  }
  if (pthread_create(&s->evw.thread, NULL, worker_main, s)) {
    snprintf(err, n, "cannot start the evolution thread");
    petra_model_free(s->evw.mirror);
    s->evw.mirror = NULL;
    return -1;
  }
  s->evw.started = 1;
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

int svc_evo_post(petra_service *s, int job, const petra_genome *g) {
  if (!s->evw.started) return 0;
  const petra_replay *r = petra_trainer_replay(s->trainer);
  if (r->size < 512 || s->hold_n < 256) return 0;
  pthread_mutex_lock(&s->evw.mu);
  int idle = s->evw.state == EVW_IDLE;
  pthread_mutex_unlock(&s->evw.mu);
  if (!idle) return 0; /* one step at a time: this interval's step is skipped */
  int ef = s->conf.example_floats;
  if (petra_model_n_params(s->evw.mirror) != petra_model_n_params(s->model) ||
      petra_model_n_state(s->evw.mirror) != petra_model_n_state(s->model)) {
    static int told;
    if (!told++) LOG_ERROR("evolution_unavailable", "error=\"the model's layout differs from its spec\"");
    return 0;
  }
  if (copy_examples(&s->evw.tune, &s->evw.cap_tune, r->size, ef) ||
      copy_examples(&s->evw.hold, &s->evw.cap_hold, s->hold_n, ef))
    return 0;
  /* the copies, while the worker is idle: it reads none of them until POSTED */
  memcpy(petra_model_params(s->evw.mirror), petra_model_params(s->model),
         sizeof(float) * petra_model_n_params(s->model));
  if (petra_model_n_state(s->model))
    memcpy(petra_model_state(s->evw.mirror), petra_model_state(s->model),
           sizeof(float) * petra_model_n_state(s->model));
  memcpy(s->evw.tune, r->data, sizeof(float) * (size_t)r->size * (size_t)ef);
  s->evw.n_tune = r->size;
  int start = (s->hold_head - s->hold_n + s->hold_cap) % s->hold_cap;
  for (int i = 0; i < s->hold_n; i++)
    memcpy(s->evw.hold + (size_t)i * ef, s->holdout + (size_t)((start + i) % s->hold_cap) * ef,
           sizeof(float) * (size_t)ef);
  s->evw.n_hold = s->hold_n;
  s->evw.ts = s->ts;
  s->evw.job = job;
  if (g) s->evw.build_genome = *g;
  atomic_store(&s->st.evo_memory_bytes,
               (uint64_t)(sizeof(float) * (petra_model_n_params(s->model) * 2 /* mirror + a candidate */ +
                                           (size_t)(s->evw.cap_tune + s->evw.cap_hold) * (size_t)ef)));
  pthread_mutex_lock(&s->evw.mu);
  s->evw.state = EVW_POSTED;
  atomic_store(&s->st.evo_busy, 1);
  pthread_cond_signal(&s->evw.cv);
  pthread_mutex_unlock(&s->evw.mu);
  return 1;
}

int svc_evo_take(petra_service *s) {
  if (!s->evw.started) return 0;
  pthread_mutex_lock(&s->evw.mu);
  int done = s->evw.state == EVW_DONE ? s->evw.job : 0;
  if (done) {
    s->evw.state = EVW_IDLE;
    atomic_store(&s->st.evo_busy, 0);
  }
  pthread_mutex_unlock(&s->evw.mu);
  return done;
}

void svc_evo_stop(petra_service *s) {
  if (!s->evw.started) return;
  pthread_mutex_lock(&s->evw.mu);
  s->evw.stop = 1;
  pthread_cond_signal(&s->evw.cv);
  pthread_mutex_unlock(&s->evw.mu);
  pthread_join(s->evw.thread, NULL); /* a running step finishes first */
  s->evw.started = 0;
  petra_evo_free(s->evw.evo);
  s->evw.evo = NULL;
  petra_model_free(s->evw.cand.model);
  petra_plan_free(s->evw.cand.plan);
  s->evw.cand.model = NULL;
  s->evw.cand.plan = NULL;
  petra_model_free(s->evw.mirror);
  s->evw.mirror = NULL;
  free(s->evw.tune);
  free(s->evw.hold);
  s->evw.tune = s->evw.hold = NULL;
  pthread_mutex_destroy(&s->evw.mu);
  pthread_cond_destroy(&s->evw.cv);
}
