/* Evolution on synthetic problems plugged in through the evaluation interface: converges on
 * ZDT1 to a stated hypervolume; never crowns an infeasible champion; operators keep genomes
 * valid; a fixed seed reproduces the run exactly. */
#include "check.h"
#include "petra/evolve.h"

static const char *layers[] = {"l0", "l1", "l2", "l3", "l4"};

static petra_evo_conf conf(int n_layers, uint64_t seed) {
  petra_evo_conf c = petra_evo_defaults();
  c.population = 16;
  c.n_layers = n_layers;
  for (int i = 0; i < n_layers; i++) snprintf(c.layers[i], sizeof c.layers[i], "%s", layers[i]);
  c.allow_bits8 = 0; /* the synthetic problems read keep only */
  c.allow_bits4 = 0;
  c.allow_sparsity = 0;
  c.allow_rank = 0;
  c.allow_regularizers = 0;
  c.seed = seed;
  return c;
}

static double x_of(const petra_genome *g, int i) {
  return (petra_genome_gene(g, layers[i]).keep - 0.125) / 0.875;
}

/* ZDT1 on 5 variables: minimize f1 = x0 (as bytes) and f2 (as the metric, lower is better). */
static int zdt1(void *ctx, const petra_genome *g, petra_fitness *f) {
  (*(int *)ctx)++;
  double x0 = x_of(g, 0), s = 0;
  for (int i = 1; i < 5; i++) s += x_of(g, i);
  double gg = 1 + 9 * s / 4;
  memset(f, 0, sizeof *f);
  f->bytes = x0;
  f->metric = gg * (1 - sqrt(x0 / gg));
  return 0;
}

static double hypervolume(const petra_member **m, int n) {
  /* 2-D: points (bytes, metric), reference (1, 1), both minimized */
  double xs[64], ys[64];
  int k = 0;
  for (int i = 0; i < n; i++)
    if (m[i]->fit.bytes < 1 && m[i]->fit.metric < 1) {
      xs[k] = m[i]->fit.bytes;
      ys[k++] = m[i]->fit.metric;
    }
  for (int a = 1; a < k; a++)
    for (int b = a; b > 0 && xs[b] < xs[b - 1]; b--) {
      double t = xs[b]; xs[b] = xs[b - 1]; xs[b - 1] = t;
      t = ys[b]; ys[b] = ys[b - 1]; ys[b - 1] = t;
    }
  double hv = 0, best_y = 1;
  for (int i = 0; i < k; i++) {
    double next_x = i + 1 < k ? xs[i + 1] : 1;
    if (ys[i] < best_y) best_y = ys[i];
    hv += (next_x - xs[i]) * (1 - best_y);
  }
  return hv;
}

TEST(zdt1_front_reaches_the_stated_hypervolume) {
  petra_evo_conf c = conf(5, 3);
  c.higher_is_better = 0;
  c.metric_floor = INFINITY; /* no metric constraint: floor at +inf for lower-is-better */
  c.metric_floor = -INFINITY;
  int evals = 0;
  petra_evo *e = petra_evo_new(&c, zdt1, &evals, NULL);
  REQUIRE(e);
  for (int s = 0; s < 600; s++) REQUIRE(petra_evo_step(e) == 0);
  const petra_member *front[64];
  int n = petra_evo_front(e, front, 64);
  double hv = hypervolume(front, n);
  /* the best the 8-level keep grid allows is 0.585 (continuous ZDT1: 2/3) */
  fprintf(stderr, "ZDT1: %d evaluations, front %d points, hypervolume %.3f\n", evals, n, hv);
  CHECK(hv >= 0.50);
  petra_evo_free(e);
}

/* size = product of keeps, latency = 100·size µs, metric = mean keep (higher is better) */
static int constrained(void *ctx, const petra_genome *g, petra_fitness *f) {
  (void)ctx;
  double size = 1, mean = 0;
  for (int i = 0; i < 3; i++) {
    double k = petra_genome_gene(g, layers[i]).keep;
    size *= k;
    mean += k / 3;
  }
  memset(f, 0, sizeof *f);
  f->bytes = size;
  f->p99_us = 100 * size;
  f->p50_us = 80 * size;
  f->metric = mean;
  return 0;
}

TEST(champion_is_always_feasible) {
  petra_evo_conf c = conf(3, 5);
  c.latency_budget_us = 20;   /* needs size <= 0.2 */
  c.metric_floor = 0.55;      /* and mean keep >= 0.55 */
  c.baseline_metric = 1.0;
  c.metric_tolerance = 0.5;   /* champion: metric >= 0.5 */
  petra_evo *e = petra_evo_new(&c, constrained, NULL, NULL);
  int seen_infeasible = 0, champions = 0;
  for (int s = 0; s < 300; s++) {
    petra_evo_step(e);
    for (int i = 0; i < petra_evo_size(e); i++)
      seen_infeasible |= petra_evo_member(e, i)->evaluated && petra_evo_member(e, i)->violation > 0;
    const petra_member *ch = petra_evo_champion(e);
    if (ch) {
      champions++;
      CHECK(ch->violation == 0 && ch->fit.p99_us <= 20 && ch->fit.metric >= 0.55);
    }
  }
  CHECK(seen_infeasible); /* the constraint really bit */
  CHECK(champions > 100);
  const petra_member *ch = petra_evo_champion(e);
  REQUIRE(ch);
  fprintf(stderr, "constrained champion: size %.3f p99 %.1f metric %.3f\n", ch->fit.bytes,
          ch->fit.p99_us, ch->fit.metric);
  petra_evo_free(e);
}

TEST(operators_keep_genomes_valid) {
  petra_evo_conf c = conf(4, 9);
  c.allow_bits8 = c.allow_bits4 = c.allow_sparsity = c.allow_rank = c.allow_regularizers = 1;
  int seen_bits4 = 0, seen_sparse = 0, seen_rank = 0, seen_l1 = 0, seen_gl = 0;
  petra_evo *e = petra_evo_new(&c, constrained, NULL, NULL);
  petra_genome a, b, ch;
  petra_genome_identity(&a);
  petra_genome_identity(&b);
  for (int i = 0; i < 5000; i++) {
    petra_evo_mutate(e, &a);
    petra_evo_mutate(e, &b);
    petra_evo_crossover(e, &a, &b, &ch);
    char text[2048];
    petra_genome_format(&ch, text, sizeof text);
    petra_genome back;
    petra_err err = {0};
    CHECK_MSG(petra_genome_parse(text, &back, &err) == 0, "%s: %s", text, err.msg);
    CHECK(ch.n_layers <= 4);
    for (int l = 0; l < ch.n_layers; l++) {
      CHECK(ch.layers[l].keep > 0 && ch.layers[l].keep <= 1);
      CHECK(ch.layers[l].bits == 4 || ch.layers[l].bits == 8 || ch.layers[l].bits == 32);
      CHECK(ch.layers[l].sparsity >= 0 && ch.layers[l].sparsity <= 0.9f);
      CHECK(ch.layers[l].rank >= 0.25f && ch.layers[l].rank <= 1);
      seen_bits4 |= ch.layers[l].bits == 4;
      seen_sparse |= ch.layers[l].sparsity > 0;
      seen_rank |= ch.layers[l].rank < 1;
    }
    CHECK(ch.finetune_steps >= 0 && ch.finetune_steps <= 400);
    CHECK(ch.l1 >= 0 && ch.l1 <= 1e-3f && ch.group_lasso >= 0 && ch.group_lasso <= 1e-3f);
    seen_l1 |= ch.l1 > 0;
    seen_gl |= ch.group_lasso > 0;
  }
  /* every kind of gene is reached */
  CHECK(seen_bits4 && seen_sparse && seen_rank && seen_l1 && seen_gl);
  petra_evo_free(e);
}

/* A transformer's layers: mutation and crossover reach drop=1 on each, never on every one at
 * once, never on another layer; member 2 starts as member 1 with the first layer dropped. */
TEST(transformer_layer_drops_are_searched_and_never_drop_every_layer) {
  petra_model_spec spec;
  REQUIRE(petra_model_spec_parse("seq fields=mcc:20:4 numeric=3 len=6 dense=8 tf=3:2:8", &spec, NULL) == 0);
  petra_evo_conf c = petra_evo_defaults();
  c.population = 8;
  c.seed = 5;
  petra_evo_conf_layers(&c, &spec);
  petra_evo *e = petra_evo_new(&c, constrained, NULL, NULL);
  REQUIRE(e);
  const petra_genome *m2 = &petra_evo_member(e, 2)->genome;
  CHECK(petra_genome_gene(m2, "tf0").drop == 1 && petra_genome_gene(m2, "tf1").drop == 0);
  CHECK(petra_genome_gene(&petra_evo_member(e, 1)->genome, "tf0").drop == 0);
  petra_genome a, b, ch;
  petra_genome_identity(&a);
  petra_genome_identity(&b);
  int seen[3] = {0};
  for (int i = 0; i < 3000; i++) {
    petra_evo_mutate(e, &a);
    petra_evo_mutate(e, &b);
    petra_evo_crossover(e, &a, &b, &ch);
    const petra_genome *gs[3] = {&a, &b, &ch};
    for (int k = 0; k < 3; k++) {
      int dropped = 0;
      for (int l = 0; l < gs[k]->n_layers; l++) {
        const petra_layer_gene *g = &gs[k]->layers[l];
        int tfl = !strncmp(g->layer, "tf", 2) && g->layer[2] >= '0' && g->layer[2] <= '9';
        CHECK_MSG(!g->drop || tfl, "drop on %s", g->layer);
        if (g->drop && tfl) seen[g->layer[2] - '0'] = 1, dropped++;
      }
      CHECK(dropped < 3);
    }
  }
  CHECK(seen[0] && seen[1] && seen[2]);
  petra_evo_free(e);
  /* a GRU model's search never drops */
  REQUIRE(petra_model_spec_parse("seq fields=mcc:20:4 numeric=3 len=6 dense=8 gru=8", &spec, NULL) == 0);
  c = petra_evo_defaults();
  c.seed = 6;
  petra_evo_conf_layers(&c, &spec);
  e = petra_evo_new(&c, constrained, NULL, NULL);
  petra_genome_identity(&a);
  for (int i = 0; i < 2000; i++) {
    petra_evo_mutate(e, &a);
    for (int l = 0; l < a.n_layers; l++) CHECK(!a.layers[l].drop);
  }
  petra_evo_free(e);
}

TEST(fixed_seed_reproduces_the_run_bit_for_bit) {
  petra_evo *r[2];
  for (int k = 0; k < 2; k++) {
    petra_evo_conf c = conf(3, 77);
    c.latency_budget_us = 30;
    r[k] = petra_evo_new(&c, constrained, NULL, NULL);
    for (int s = 0; s < 200; s++) petra_evo_step(r[k]);
  }
  for (int i = 0; i < petra_evo_size(r[0]); i++) {
    const petra_member *a = petra_evo_member(r[0], i), *b = petra_evo_member(r[1], i);
    CHECK(memcmp(&a->genome, &b->genome, sizeof a->genome) == 0);
    CHECK(memcmp(&a->fit, &b->fit, sizeof a->fit) == 0);
  }
  petra_evo_free(r[0]);
  petra_evo_free(r[1]);
}
