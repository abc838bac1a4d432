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
      petra_evo_conf_layers(&ec, petra_model_get_spec(s->evw.mirror));
      int nl = ec.n_layers;
      ec.higher_is_better = hib;
      ec.baseline_metric = base.metric;
      ec.metric_floor = floor;
      ec.metric_tolerance = tol;
      /* after a change of core the search keeps the first core's budget (svc_conf.cores) */
      if (s->evw.baseline_p99_us > 0 && s->evw.baseline_p99_us < base.p99_us) base.p99_us = s->evw.baseline_p99_us;
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

int svc_core_specs(const petra_model_spec *base, const char *list, petra_model_spec *out, int max, char *err,
                   size_t n) {
  char l[1024], text[3200], b[2048];
  snprintf(l, sizeof l, "%s", list);
  petra_model_spec_format(base, b, sizeof b);
  char *save = NULL;
  int k = 0;
  for (char *q = strtok_r(l, " ", &save); q; q = strtok_r(NULL, " ", &save), k++) {
    if (k == max) {
      if (err) snprintf(err, n, "evolution.cores: at most %d cores", max);
      return -2;
    }
    for (char *p = q; *p; p++)
      if (*p == '+') *p = ' ';
    snprintf(text, sizeof text, "%s %s", b, q); /* the later key wins: the listed core */
    petra_err pe = {0};
    if (petra_model_spec_parse(text, &out[k], &pe)) {
      if (err) snprintf(err, n, "evolution.cores: '%s': %s", q, pe.msg);
      return -1;
    }
  }
  return k;
}

void svc_core_text(const petra_model_spec *s, char *buf, size_t n) {
  char t[2048];
  petra_model_spec_format(s, t, sizeof t);
  char *end = strstr(t, " classes="), *d = strstr(t, " dropout=");
  char *start = d ? strchr(d + 1, ' ') : NULL;
  if (!end || !start || start > end) {
    snprintf(buf, n, "%s", t);
    return;
  }
  *end = 0;
  snprintf(buf, n, "%s", start + 1);
}

/* FNV-1a over an example's floats: the hold-out window's examples are left out of a core
 * trial's training (the trial judges on them). */
static uint64_t example_hash(const float *e, int ef) {
  uint64_t h = 1469598103934665603ull;
  const unsigned char *p = (const unsigned char *)e;
  for (size_t i = 0; i < sizeof(float) * (size_t)ef; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* One core trained from scratch on the trial's examples (worker thread): its model and
 * trainer, or −1. */
static int train_core(petra_service *s, const petra_model_spec *spec, const float *ex, int n, petra_model **mo,
                      petra_trainer **to) {
  petra_err pe = {0};
  const int ef = s->conf.example_floats;
  petra_model *m = petra_model_new(spec, s->conf.seed, &pe);
  petra_trainer *t = m ? petra_trainer_new(m, &s->conf.tc, &pe) : NULL;
  const int B = s->conf.tc.batch > 0 ? s->conf.tc.batch : 32;
  int *order = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
  float *batch = malloc(sizeof(float) * (size_t)B * (size_t)ef);
  if (!t || !order || !batch || petra_model_example_floats(m) != ef) {
    free(order);
    free(batch);
    petra_trainer_free(t);
    petra_model_free(m);
    return -1;
  }
  petra_rng r;
  petra_rng_seed(&r, s->conf.seed ^ 0x636f726573ull);
  for (int i = 0; i < n; i++) order[i] = i;
  for (int e = 0; e < s->conf.core_trial_epochs; e++) {
    for (int i = n - 1; i > 0; i--) { /* a new order each pass */
      int j = (int)petra_rng_below(&r, (uint64_t)i + 1), tmp = order[i];
      order[i] = order[j];
      order[j] = tmp;
    }
    for (int i = 0; i + B <= n; i += B) {
      for (int k = 0; k < B; k++)
        memcpy(batch + (size_t)k * ef, ex + (size_t)order[i + k] * ef, sizeof(float) * (size_t)ef);
      petra_trainer_step(t, B, batch, NULL);
    }
  }
  free(order);
  free(batch);
  *mo = m;
  *to = t;
  return 0;
}

/* A core trial (worker thread): the live model's core and each of conf.cores trained the same
 * way on the replay copy less the hold-out window, measured fp32 on the hold-out; the best one
 * wins (service.h: svc_conf.cores). */
static void core_trial(petra_service *s) {
  petra_candidate c = s->evw.cand;
  c.model = NULL;
  c.plan = NULL;
  const int ef = s->conf.example_floats;
  const petra_model_spec *live = petra_model_get_spec(s->evw.mirror);
  char live_core[256];
  svc_core_text(live, live_core, sizeof live_core);
  s->evw.won_model = NULL;
  s->evw.won_trainer = NULL;
  s->evw.won_core[0] = 0;
  double t0 = clk_mono_us();
  /* the trial's training examples: the replay copy without the hold-out's */
  uint64_t *hh = malloc(sizeof(uint64_t) * (size_t)(s->evw.n_hold > 0 ? s->evw.n_hold : 1));
  float *ex = malloc(sizeof(float) * (size_t)(s->evw.n_tune > 0 ? s->evw.n_tune : 1) * (size_t)ef);
  if (!hh || !ex) {
    free(hh);
    free(ex);
    return;
  }
  for (int i = 0; i < s->evw.n_hold; i++) hh[i] = example_hash(s->evw.hold + (size_t)i * ef, ef);
  qsort(hh, (size_t)s->evw.n_hold, sizeof *hh, cmp_u64);
  int n = 0;
  for (int i = 0; i < s->evw.n_tune; i++) {
    const float *e = s->evw.tune + (size_t)i * ef;
    uint64_t h = example_hash(e, ef);
    if (bsearch(&h, hh, (size_t)s->evw.n_hold, sizeof *hh, cmp_u64)) continue;
    memcpy(ex + (size_t)n++ * ef, e, sizeof(float) * (size_t)ef);
  }
  free(hh);
  /* the live model itself on the hold-out: a winner must stay within tolerance of it */
  petra_genome id;
  petra_genome_identity(&id);
  petra_fitness lf;
  c.base = s->evw.mirror;
  c.keep_result = 0;
  int live_ok = petra_candidate_eval(&c, &id, &lf) == 0;
  /* the cores: the configured spec's, then evolution.cores (checked at startup), each trained
   * and measured alike */
  petra_model_spec specs[SVC_MAX_CORES + 1];
  specs[0] = s->conf.spec;
  int listed = svc_core_specs(&s->conf.spec, s->conf.cores, specs + 1, SVC_MAX_CORES, NULL, 0);
  const int k = 1 + (listed > 0 ? listed : 0);
  petra_model *ms[SVC_MAX_CORES + 1] = {0};
  petra_trainer *tsr[SVC_MAX_CORES + 1] = {0};
  petra_fitness fs[SVC_MAX_CORES + 1];
  int ok[SVC_MAX_CORES + 1] = {0}, inc = -1;
  for (int i = 0; i < k; i++) {
    int dup = 0;
    for (int j = 0; j < i; j++) dup |= ok[j] >= 0 && !memcmp(&specs[j], &specs[i], sizeof specs[i]);
    if (dup) {
      ok[i] = -1;
      continue;
    }
    if (!memcmp(&specs[i], live, sizeof *live)) inc = i;
    if (n >= 64 && train_core(s, &specs[i], ex, n, &ms[i], &tsr[i]) == 0) {
      c.base = ms[i];
      ok[i] = petra_candidate_eval(&c, &id, &fs[i]) == 0 && isfinite(fs[i].metric);
    }
  }
  const double inc_metric = inc >= 0 && ok[inc] > 0 ? fs[inc].metric : NAN;
  const double inc_p50 = inc >= 0 && ok[inc] > 0 ? fs[inc].p50_us : 0;
  sbuf js;
  sb_init(&js);
  sb_put(&js, "[", 1);
  int best_k = -1;
  for (int i = 0; i < k; i++) {
    if (ok[i] < 0) continue;
    char ct[256];
    svc_core_text(&specs[i], ct, sizeof ct);
    /* admissible: the live core's trial ran and this one's fp32 batch-1 latency is at most
     * 1/ratio times its (compressed as far as the budget asks of the live core, it meets the
     * same budget); medians: p99s of microsecond plans are mostly the host's noise */
    const double ratio = s->evw.ts.latency_budget_ratio > 0 ? s->evw.ts.latency_budget_ratio : 1;
    int admissible = ok[i] > 0 && isfinite(inc_metric) && fs[i].p50_us <= inc_p50 / ratio;
    if (js.len > 1) sb_put(&js, ",", 1);
    sb_printf(&js, "{\"core\":");
    sb_json_str(&js, ct);
    sb_printf(&js, ",\"live\":%s,\"metric\":", i == inc ? "true" : "false");
    sb_json_num(&js, ok[i] > 0 ? fs[i].metric : NAN);
    sb_printf(&js, ",\"p50_us\":");
    sb_json_num(&js, ok[i] > 0 ? fs[i].p50_us : NAN);
    sb_printf(&js, ",\"p99_us\":");
    sb_json_num(&js, ok[i] > 0 ? fs[i].p99_us : NAN);
    sb_printf(&js, ",\"bytes\":");
    sb_json_num(&js, ok[i] > 0 ? fs[i].bytes : NAN);
    sb_printf(&js, ",\"admissible\":%s}", admissible ? "true" : "false");
    if (admissible && (best_k < 0 || fs[i].metric > fs[best_k].metric)) best_k = i;
  }
  sb_put(&js, "]", 1);
  const double tol = s->evw.tolerance > 0 ? s->evw.tolerance : 0.005;
  const double best = best_k >= 0 ? fs[best_k].metric : NAN;
  int wins = best_k >= 0 && best_k != inc && best >= inc_metric + s->conf.core_margin && live_ok &&
             best >= lf.metric - tol;
  char bt[256] = "";
  if (best_k >= 0) svc_core_text(&specs[best_k], bt, sizeof bt);
  snprintf(s->evw.trial_log, sizeof s->evw.trial_log,
           "examples=%d live=\"%s\" live_metric=%.4f live_retrained=%.4f best=\"%s\" best_metric=%.4f switch=%d ms=%.0f",
           n, live_core, live_ok ? lf.metric : NAN, inc_metric, bt, best, wins, (clk_mono_us() - t0) / 1000);
  for (int i = 0; i < k; i++) {
    if (wins && i == best_k) {
      petra_trainer_remember(tsr[i], n, ex); /* its replay buffer, as the live trainer's would be */
      s->evw.won_model = ms[i];
      s->evw.won_trainer = tsr[i];
      snprintf(s->evw.won_core, sizeof s->evw.won_core, "%s", bt);
      continue;
    }
    petra_trainer_free(tsr[i]);
    petra_model_free(ms[i]);
  }
  free(ex);
  atomic_fetch_add(&s->st.core_trials, 1);
  if (!js.oom) {
    pthread_mutex_lock(&s->info_mu);
    free(s->info.core_trial_json);
    s->info.core_trial_json = js.p;
    pthread_mutex_unlock(&s->info_mu);
  } else {
    sb_free(&js);
  }
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

/* The population and the last candidate's model and plan (the worker idle or stopped). */
static void drop_population(petra_service *s) {
  petra_evo_free(s->evw.evo);
  s->evw.evo = NULL;
  petra_model_free(s->evw.cand.model);
  petra_plan_free(s->evw.cand.plan);
  s->evw.cand.model = NULL;
  s->evw.cand.plan = NULL;
}

int svc_evo_reset(petra_service *s, const petra_model *m) {
  drop_population(s);
  s->evw.have_champion = 0;
  petra_err pe = {0};
  petra_model *mm = petra_model_new(petra_model_get_spec(m), 1, &pe);
  if (!mm) return -1;
  petra_model_free(s->evw.mirror);
  s->evw.mirror = mm;
  return 0;
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
    else if (s->evw.job == SVC_EVO_CORES) core_trial(s);
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
  s->evw.mirror = petra_model_new(petra_model_get_spec(s->model), 1, &pe); /* (a restored model's core) */
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
  drop_population(s);
  petra_model_free(s->evw.mirror);
  s->evw.mirror = NULL;
  petra_trainer_free(s->evw.won_trainer); /* a core that won as the trainer stopped */
  petra_model_free(s->evw.won_model);
  s->evw.won_trainer = NULL;
  s->evw.won_model = NULL;
  free(s->evw.tune);
  free(s->evw.hold);
  s->evw.tune = s->evw.hold = NULL;
  pthread_mutex_destroy(&s->evw.mu);
  pthread_cond_destroy(&s->evw.cv);
}
