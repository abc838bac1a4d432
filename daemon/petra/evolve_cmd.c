/* petra evolve: trains a model (preset R1 on generator data), then runs the steady-state
 * evolutionary search under a latency budget, shows progress, and prints the Pareto front
 * as a table, writes it as an SVG plot, and (--json) ends with one JSON line. */
#include <cblas.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "svgplot.h"
#include "petra/metrics.h"
#include "petra/candidate.h"
#include "petra/evolve.h"

static double clock_us(void *ctx) {
  (void)ctx;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void write_svg(const char *path, const petra_member **front, int n, const petra_member *champ,
                      double budget, double base_metric, double base_p99, const char *metric_name) {
  svg_point pts[64];
  int k = 0;
  for (int i = 0; i < n && k < 64; i++, k++)
    pts[k] = (svg_point){front[i]->fit.p99_us, front[i]->fit.metric, front[i]->fit.bytes,
                         champ && !memcmp(&front[i]->genome, &champ->genome, sizeof champ->genome)};
  sbuf b;
  sb_init(&b);
  svg_pareto(&b, pts, k, budget, base_metric, base_p99, metric_name);
  FILE *f = fopen(path, "w");
  if (!f || b.oom || fwrite(b.p, 1, b.len, f) != b.len) fprintf(stderr, "petra evolve: cannot write %s\n", path);
  if (f) fclose(f);
  sb_free(&b);
}

int evolve_search(petra_model *base, const exset *tune, const exset *hold, const evolve_params *p,
                  evolve_result *res) {
  const petra_model_spec *spec = petra_model_get_spec(base);
  int hib = spec->kind == PETRA_MODEL_SEQ;
  memset(res, 0, sizeof *res);
  petra_candidate cand = {.base = base, .tune = tune->x, .n_tune = tune->n, .holdout = hold->x,
                          .n_holdout = hold->n, .clock = clock_us, .latency_reps = 300, .seed = p->seed};
  petra_genome id;
  petra_genome_identity(&id);
  petra_fitness bf;
  if (petra_candidate_eval(&cand, &id, &bf)) return 1;
  const char *mname = petra_metric_name_for(hib ? spec->classes : 0);
  fprintf(stderr, "baseline fp32: %.0f bytes, p99 %.1f us, %s %.4f\n", bf.bytes, bf.p99_us, mname, bf.metric);
  double tol = p->tol > 0 ? p->tol : (hib ? 0.005 : 0.02 * fabs(bf.metric));
  petra_evo_conf ec = petra_evo_defaults();
  ec.population = p->pop;
  petra_evo_conf_layers(&ec, spec);
  ec.latency_budget_us = p->budget_us > 0 ? p->budget_us : p->ratio * bf.p99_us;
  ec.higher_is_better = hib;
  ec.baseline_metric = bf.metric;
  ec.metric_floor = hib ? bf.metric - 4 * tol : bf.metric + 4 * tol;
  ec.metric_tolerance = tol;
  ec.seed = p->seed;
  petra_err err = {0};
  petra_evo *e = petra_evo_new(&ec, petra_candidate_eval, &cand, &err);
  if (!e) {
    fprintf(stderr, "petra evolve: %s\n", err.msg);
    return 1;
  }
  double e0 = cli_now_s();
  for (int s = 1; s <= p->steps; s++) {
    petra_evo_step(e);
    if (s % 10 == 0 || s == p->steps) {
      const petra_member *ch = petra_evo_champion(e);
      const petra_member *front[64];
      int nf = petra_evo_front(e, front, 64);
      double best = hib ? -INFINITY : INFINITY;
      for (int i = 0; i < petra_evo_size(e); i++)
        if (petra_evo_member(e, i)->evaluated)
          best = hib ? fmax(best, petra_evo_member(e, i)->fit.metric) : fmin(best, petra_evo_member(e, i)->fit.metric);
      fprintf(stderr, "step %4d  best %s %.4f  champion %s%.0f bytes p99 %.1f us  front %d  %.2f s/step\n",
              s, mname, best, ch ? "" : "(none) ", ch ? ch->fit.bytes : 0, ch ? ch->fit.p99_us : 0, nf,
              (cli_now_s() - e0) / s);
    }
  }
  double per_step = p->steps ? (cli_now_s() - e0) / p->steps : 0;
  const petra_member *front[64];
  int nf = petra_evo_front(e, front, 64);
  const petra_member *ch = petra_evo_champion(e);
  printf("%-8s %-8s %-9s %-9s  %s\n", mname, "bytes", "p50_us", "p99_us", "genome");
  char text[2048];
  for (int i = 0; i < nf; i++) {
    petra_genome_format(&front[i]->genome, text, sizeof text);
    printf("%-8.4f %-8.0f %-9.1f %-9.1f  %s%s\n", front[i]->fit.metric, front[i]->fit.bytes,
           front[i]->fit.p50_us, front[i]->fit.p99_us, text,
           ch && !memcmp(&front[i]->genome, &ch->genome, sizeof ch->genome) ? "   <- champion" : "");
  }
  if (p->svg) {
    write_svg(p->svg, front, nf, ch, ec.latency_budget_us, bf.metric, bf.p99_us, mname);
    fprintf(stderr, "Pareto front plot: %s\n", p->svg);
  }
  res->base = bf;
  res->latency_budget_us = ec.latency_budget_us;
  res->seconds_per_step = per_step;
  res->front_size = nf;
  if (ch) {
    res->have_champion = 1;
    res->champion = ch->genome;
    res->champ = ch->fit;
  }
  if (p->json) {
    char gtext[2048] = "";
    if (ch) petra_genome_format(&ch->genome, gtext, sizeof gtext);
    printf("{\"baseline\":{\"bytes\":%.0f,\"p99_us\":%.2f,\"metric\":%.4f},", bf.bytes, bf.p99_us, bf.metric);
    if (ch)
      printf("\"champion\":{\"genome\":\"%s\",\"bytes\":%.0f,\"p99_us\":%.2f,\"metric\":%.4f,"
             "\"size_ratio\":%.4f,\"p99_ratio\":%.4f,\"metric_drop\":%.4f},",
             gtext, ch->fit.bytes, ch->fit.p99_us, ch->fit.metric, ch->fit.bytes / bf.bytes,
             ch->fit.p99_us / bf.p99_us, hib ? bf.metric - ch->fit.metric : ch->fit.metric - bf.metric);
    else
      printf("\"champion\":null,");
    printf("\"metric_name\":\"%s\",\"steps\":%d,\"seconds_per_step\":%.3f,\"front_size\":%d,"
           "\"latency_budget_us\":%.2f}\n",
           mname, p->steps, per_step, nf, ec.latency_budget_us);
  }
  petra_evo_free(e);
  return ch ? 0 : 1;
}

static void usage(FILE *o) {
  fprintf(o,
          "usage: petra evolve --preset r1 [--steps N] [--latency-budget-ratio R] [--population P]\n"
          "                    [--tolerance T] [--seed S] [--svg FILE] [--json]\n"
          "       petra evolve --csv FILE --spec SPEC [petra train's data and training flags]\n"
          "                    [--steps N] [--latency-budget-ratio R] [--population P]\n"
          "                    [--tolerance T] [--svg FILE] [--json] [--save FILE]\n"
          "                    [--cores \"CORE CORE...\"]\n"
          "Trains the model (the R1 preset on generator data, or with --csv the user's data exactly as\n"
          "petra train does), then runs the steady-state evolutionary search over pruning, bits,\n"
          "sparsity, low rank and regularization under a p99 latency budget (ratio of the fp32\n"
          "model's), and prints the Pareto front. With --csv the search fine-tunes on the training\n"
          "part and judges candidates on a validation part (entities hashing to 1 mod 5, or the 10%%\n"
          "of labelled events before the hold-out); the champion is then measured on the hold-out,\n"
          "and --save writes it as the snapshot petrad would publish. --svg FILE draws the front.\n"
          "--cores (seq models) makes the core a gene: each (gru=64, lstm=64, gru=64,32,\n"
          "tf=2:4:32; + for a space inside one: tf=2:4:32+pool=mean) replaces the spec's, is trained\n"
          "and searched under the first core's latency budget, and the champion with the best\n"
          "validation metric is kept (--save).\n");
}

int cmd_evolve(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--csv") || !strncmp(argv[i], "--csv=", 6)) return cmd_train_evolve(argc, argv);
  const char *preset = "r1", *svg = NULL;
  int steps = 100, json = 0, pop = 12, records = 400000;
  double ratio = 0.5, tol = 0.005;
  uint64_t seed = 1;
  static const struct option opts[] = {
      {"preset", 1, 0, 'p'}, {"steps", 1, 0, 's'}, {"latency-budget-ratio", 1, 0, 'r'},
      {"json", 0, 0, 'j'},   {"svg", 1, 0, 'g'},   {"population", 1, 0, 'n'},
      {"seed", 1, 0, 'S'},   {"tolerance", 1, 0, 't'}, {"records", 1, 0, 'R'},
      {"help", 0, 0, 'h'},   {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
      case 'p': preset = optarg; break;
      case 's': steps = atoi(optarg); break;
      case 'r': ratio = atof(optarg); break;
      case 'j': json = 1; break;
      case 'g': svg = optarg; break;
      case 'n': pop = atoi(optarg); break;
      case 'S': seed = strtoull(optarg, NULL, 10); break;
      case 't': tol = atof(optarg); break;
      case 'R': records = atoi(optarg); break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (strcmp(preset, "r1") || steps < 0 || !(ratio > 0) || pop < 4 || pop > PETRA_EVO_MAX_POP) {
    fprintf(stderr, "petra evolve: --preset r1 (or --csv FILE), --steps >= 0, --latency-budget-ratio > 0, "
                    "--population 4..%d\n", PETRA_EVO_MAX_POP);
    return 2;
  }
  openblas_set_num_threads(1);
  petra_model_spec spec;
  petra_model_spec_parse(R1_SPEC, &spec, NULL);
  exset all;
  if (r1_data(&spec, records, &all)) return 1;
  exset tr = {all.n * 4 / 5, all.ef, all.x};
  exset te = {all.n - tr.n, all.ef, all.x + (size_t)tr.n * all.ef};
  petra_model *base = petra_model_new(&spec, seed, NULL);
  double t0 = cli_now_s();
  train_steps(base, &tr, 2500, 2e-3f, seed, 0);
  fprintf(stderr, "trained R1 on %d examples in %.1f s\n", tr.n, cli_now_s() - t0);
  evolve_params ep = {.steps = steps, .pop = pop, .ratio = ratio, .tol = tol, .seed = seed, .svg = svg, .json = json};
  evolve_result er;
  int rc = evolve_search(base, &tr, &te, &ep, &er);
  petra_model_free(base);
  free(all.x);
  return rc;
}
