/* Steady-state constrained multi-objective search over compression genomes (PETRA).
 *
 * Objectives: the target metric (maximized when higher_is_better, else minimized), packed
 * bytes and batch-1 p99 latency (minimized). Constraints: p99 <= latency budget and metric
 * at or beyond the floor; a candidate that violates them loses to every feasible one, and
 * between infeasible ones the smaller relative violation wins (constrained domination).
 * Ranking is NSGA-II's: non-dominated fronts, crowding distance within a front.
 *
 * One step: evaluate a still-unevaluated member if any (so seeding is spread over steps);
 * otherwise two binary tournaments pick parents, uniform per-layer crossover and a mutation
 * (one gene one step along its ladder of levels, or with small probability a random jump;
 * the genes are each layer's keep, bits, sparsity and rank, and globally the fine-tune
 * budget and the regularizer strengths, each as the conf allows) make one child, which is
 * evaluated and replaces the worst member if it is better; then the oldest member is
 * re-evaluated so fitness follows drifting data. Evaluation is the caller's function (the
 * daemon prunes, fine-tunes, compiles and measures; tests plug in synthetic problems).
 * The population starts from the identity genome (the uncompressed reference, never
 * replaced), one known-good genome (half the units, 8-bit weights, 200 recovery steps) and
 * random ones. Deterministic for a given seed and evaluation function. */
#ifndef PETRA_EVOLVE_H
#define PETRA_EVOLVE_H
#include <stdint.h>

#include "petra/error.h"
#include "petra/genome.h"
#include "petra/model.h"

typedef struct petra_fitness {
  double metric;
  double bytes;
  double p50_us, p99_us;
  double throughput_per_s;
} petra_fitness;

typedef struct petra_member {
  petra_genome genome;
  petra_fitness fit;
  int evaluated;
  uint64_t born, evaluated_at; /* step numbers */
  int rank;                    /* front index (0 = non-dominated) */
  double crowding;
  double violation;            /* 0 = feasible */
} petra_member;

/* Returns 0 and fills fit, or a negative error (the candidate is then discarded). */
typedef int (*petra_evo_eval_fn)(void *ctx, const petra_genome *g, petra_fitness *fit);

#define PETRA_EVO_MAX_POP 64
#define PETRA_EVO_MAX_LAYERS 12
/* petra_evo_conf.layer_flags: the layer keeps all its units (keep stays 1); the layer may be
 * dropped whole (gene drop=1; the search keeps at least one such layer) */
#define PETRA_EVO_FIXED_UNITS 1
#define PETRA_EVO_DROPPABLE 2

typedef struct petra_evo_conf {
  int population;             /* 4 .. PETRA_EVO_MAX_POP */
  int n_layers;               /* layers the search may change */
  char layers[PETRA_EVO_MAX_LAYERS][32];
  unsigned char layer_flags[PETRA_EVO_MAX_LAYERS]; /* PETRA_EVO_FIXED_UNITS | PETRA_EVO_DROPPABLE */
  int allow_bits8;            /* genes may choose 8-bit weights */
  int allow_bits4;            /* ... 4-bit weights (bits step along 32 -> 8 -> 4) */
  int allow_sparsity;         /* ... unstructured sparsity 0 / 0.5 / 0.75 / 0.9 */
  int allow_rank;             /* ... low-rank ratio 1 / 0.5 / 0.25 */
  int allow_regularizers;     /* ... L1 and group-lasso strengths 0 / 1e-5 / 1e-4 / 1e-3 */
  double latency_budget_us;   /* p99 constraint; <= 0 = none */
  double metric_floor;        /* constraint on the metric (see higher_is_better) */
  int higher_is_better;
  double baseline_metric;     /* the uncompressed model's metric */
  double metric_tolerance;    /* champion: within this of the baseline */
  int prefer;                 /* champion preference: 0 bytes, 1 latency */
  double big_jump;            /* probability of a random jump instead of one step */
  uint64_t seed;
} petra_evo_conf;

typedef struct petra_evo petra_evo;

petra_evo_conf petra_evo_defaults(void);
/* Fills c's layer list and flags with the layers of spec the search may change (embeddings,
 * the dense layer, the core's layers, the head), in that order. */
void petra_evo_conf_layers(petra_evo_conf *c, const petra_model_spec *spec);
petra_evo *petra_evo_new(const petra_evo_conf *c, petra_evo_eval_fn eval, void *ctx, petra_err *err);
void petra_evo_free(petra_evo *e);
/* One steady-state step (see above). Returns 0 or the evaluation's error. */
int petra_evo_step(petra_evo *e);
uint64_t petra_evo_steps(const petra_evo *e);
int petra_evo_size(const petra_evo *e);
const petra_member *petra_evo_member(const petra_evo *e, int i);
/* The champion: feasible, metric within tolerance of the baseline, smallest (or fastest).
 * NULL when no member qualifies. */
const petra_member *petra_evo_champion(const petra_evo *e);
/* Feasible non-dominated members seen so far (the Pareto archive); returns the count. */
int petra_evo_front(const petra_evo *e, const petra_member **out, int max);
/* Updates the baseline metric, floor and (when > 0) the latency budget: they drift with the
 * data and the host. */
void petra_evo_set_baseline(petra_evo *e, double baseline_metric, double metric_floor,
                            double latency_budget_us);
/* Genome operators, exposed for tests: mutate one gene of g; crossover of a and b. */
void petra_evo_mutate(petra_evo *e, petra_genome *g);
void petra_evo_crossover(petra_evo *e, const petra_genome *a, const petra_genome *b, petra_genome *child);
#endif
