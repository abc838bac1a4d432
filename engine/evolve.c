#include "petra/evolve.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "petra/rng.h"
#include "block.h"
#include "core.h"

#define ARCHIVE_MAX 64

static const float keep_levels[] = {0.125f, 0.25f, 0.375f, 0.5f, 0.625f, 0.75f, 0.875f, 1.0f};
#define N_KEEP 8
static const int ft_levels[] = {0, 50, 100, 200, 400};
#define N_FT 5
#define N_BITS 3
static const float sparsity_levels[] = {0.0f, 0.5f, 0.75f, 0.9f};
#define N_SPARSITY 4
static const float rank_levels[] = {1.0f, 0.5f, 0.25f};
#define N_RANK 3
static const float reg_levels[] = {0.0f, 1e-5f, 1e-4f, 1e-3f};
#define N_REG 4

struct petra_evo {
  petra_evo_conf c;
  petra_evo_eval_fn eval;
  void *ctx;
  petra_rng rng;
  petra_member pop[PETRA_EVO_MAX_POP];
  int n;
  uint64_t steps;
  petra_member archive[ARCHIVE_MAX];
  int n_archive;
};

void petra_evo_conf_layers(petra_evo_conf *c, const petra_model_spec *spec) {
  int nl = 0;
  for (int f = 0; f < spec->n_fields && nl < PETRA_EVO_MAX_LAYERS - 3; f++)
    snprintf(c->layers[nl++], sizeof c->layers[0], "emb.%.26s", spec->fields[f].name);
  if (spec->dense > 0 || (spec->kind == PETRA_MODEL_TS && spec->arch == PETRA_TS_MLP))
    snprintf(c->layers[nl++], sizeof c->layers[0], "dense0");
  memset(c->layer_flags, 0, sizeof c->layer_flags);
  const petra_block *blk = petra_block_of(spec);
  if (blk) nl += blk->genes(spec, c->layers + nl, c->layer_flags + nl, PETRA_EVO_MAX_LAYERS - 1 - nl);
  for (int l = 0; l < petra_spec_core_layers(spec) && nl < PETRA_EVO_MAX_LAYERS - 1; l++)
    snprintf(c->layers[nl++], sizeof c->layers[0], "%s", petra_core_layer_names(petra_core_of(spec), l).layer);
  c->layer_flags[nl] = PETRA_EVO_FIXED_UNITS; /* the outputs */
  snprintf(c->layers[nl++], sizeof c->layers[0], "head");
  c->n_layers = nl;
}

petra_evo_conf petra_evo_defaults(void) {
  petra_evo_conf c;
  memset(&c, 0, sizeof c);
  c.population = 12;
  c.allow_bits8 = 1;
  c.allow_bits4 = 1;
  c.allow_sparsity = 1;
  c.allow_rank = 1;
  c.allow_regularizers = 1;
  c.higher_is_better = 1;
  c.metric_floor = -INFINITY;
  c.metric_tolerance = 0.005;
  c.big_jump = 0.1;
  c.seed = 1;
  return c;
}

static int keep_index(float k) {
  int best = 0;
  for (int i = 1; i < N_KEEP; i++)
    if (fabsf(keep_levels[i] - k) < fabsf(keep_levels[best] - k)) best = i;
  return best;
}
static int ft_index(int s) {
  int best = 0;
  for (int i = 1; i < N_FT; i++)
    if (abs(ft_levels[i] - s) < abs(ft_levels[best] - s)) best = i;
  return best;
}
static int level_index(const float *levels, int n, float v) {
  int best = 0;
  for (int i = 1; i < n; i++)
    if (fabsf(levels[i] - v) < fabsf(levels[best] - v)) best = i;
  return best;
}
/* one step along a ladder of n levels (or a random jump), staying inside it */
static int ladder_step(petra_rng *r, int i, int n, int jump, int dir) {
  if (n < 2) return 0;
  i = jump ? (int)petra_rng_below(r, (uint64_t)n) : i + dir;
  if (i < 0) i = 1;
  if (i >= n) i = n - 2;
  return i;
}

/* ---------------------------------------------------------------- domination */

/* objective vector, all minimized */
static void objectives(const petra_evo *e, const petra_member *m, double o[3]) {
  o[0] = e->c.higher_is_better ? -m->fit.metric : m->fit.metric;
  o[1] = m->fit.bytes;
  o[2] = m->fit.p99_us;
}

static double violation(const petra_evo *e, const petra_fitness *f) {
  double v = 0;
  if (e->c.latency_budget_us > 0 && f->p99_us > e->c.latency_budget_us)
    v += (f->p99_us - e->c.latency_budget_us) / e->c.latency_budget_us;
  if (isfinite(e->c.metric_floor)) {
    double gap = e->c.higher_is_better ? e->c.metric_floor - f->metric : f->metric - e->c.metric_floor;
    if (gap > 0) v += gap / fmax(fabs(e->c.metric_floor), 1e-9);
  }
  if (!isfinite(f->metric)) v += 1e9;
  return v;
}

/* 1 when a constrained-dominates b */
static int dominates(const petra_evo *e, const petra_member *a, const petra_member *b) {
  if (a->violation == 0 && b->violation > 0) return 1;
  if (a->violation > 0 && b->violation == 0) return 0;
  if (a->violation > 0) return a->violation < b->violation;
  double oa[3], ob[3];
  objectives(e, a, oa);
  objectives(e, b, ob);
  int better = 0;
  for (int k = 0; k < 3; k++) {
    if (oa[k] > ob[k]) return 0;
    if (oa[k] < ob[k]) better = 1;
  }
  return better;
}

/* NSGA-II ranks and crowding distances of the evaluated members. */
static void rank_population(petra_evo *e) {
  int n = e->n;
  int assigned = 0, front = 0;
  char done[PETRA_EVO_MAX_POP] = {0};
  for (int i = 0; i < n; i++) {
    e->pop[i].rank = 1 << 20;
    e->pop[i].crowding = 0;
    if (!e->pop[i].evaluated) {
      done[i] = 1;
      assigned++;
    }
  }
  while (assigned < n) {
    int members[PETRA_EVO_MAX_POP], m = 0;
    for (int i = 0; i < n; i++) {
      if (done[i]) continue;
      int dominated = 0;
      for (int j = 0; j < n && !dominated; j++)
        if (j != i && !done[j] && dominates(e, &e->pop[j], &e->pop[i])) dominated = 1;
      if (!dominated) members[m++] = i;
    }
    for (int k = 0; k < m; k++) {
      e->pop[members[k]].rank = front;
      done[members[k]] = 1;
    }
    assigned += m;
    /* crowding within this front, per objective */
    for (int obj = 0; obj < 3 && m > 0; obj++) {
      /* insertion sort of members by objective */
      for (int a = 1; a < m; a++) {
        int x = members[a], b = a - 1;
        double ox[3];
        objectives(e, &e->pop[x], ox);
        while (b >= 0) {
          double ob[3];
          objectives(e, &e->pop[members[b]], ob);
          if (ob[obj] <= ox[obj]) break;
          members[b + 1] = members[b];
          b--;
        }
        members[b + 1] = x;
      }
      double lo[3], hi[3];
      objectives(e, &e->pop[members[0]], lo);
      objectives(e, &e->pop[members[m - 1]], hi);
      e->pop[members[0]].crowding = INFINITY;
      e->pop[members[m - 1]].crowding = INFINITY;
      double span = hi[obj] - lo[obj];
      if (span <= 0) continue;
      for (int k = 1; k + 1 < m; k++) {
        double p[3], q[3];
        objectives(e, &e->pop[members[k - 1]], p);
        objectives(e, &e->pop[members[k + 1]], q);
        e->pop[members[k]].crowding += (q[obj] - p[obj]) / span;
      }
    }
    front++;
  }
}

/* a better than b for selection and survival */
static int better(const petra_member *a, const petra_member *b) {
  if (a->evaluated != b->evaluated) return a->evaluated;
  if (a->rank != b->rank) return a->rank < b->rank;
  return a->crowding > b->crowding;
}

/* ---------------------------------------------------------------- operators */

/* The layer flags (petra_evo_conf_layers): a model's output layer keeps all its units
 * (petra_prune never removes outputs), and so may a core's layer (a transformer's input
 * projection: its width runs through every residual); a core's layer may be droppable whole
 * (a transformer layer). */
static unsigned layer_flags(const petra_evo_conf *c, const char *layer) {
  for (int l = 0; l < c->n_layers; l++)
    if (!strcmp(c->layers[l], layer)) return c->layer_flags[l];
  return 0;
}

/* At least one droppable layer stays: a genome that drops them all gets one back. */
static void keep_one_droppable(petra_evo *e, petra_genome *g) {
  int n = 0, kept = 0, idx[PETRA_EVO_MAX_LAYERS];
  for (int l = 0; l < e->c.n_layers; l++)
    if (e->c.layer_flags[l] & PETRA_EVO_DROPPABLE) {
      idx[n++] = l;
      kept += !petra_genome_gene(g, e->c.layers[l]).drop;
    }
  if (!n || kept) return;
  petra_layer_gene gene = petra_genome_gene(g, e->c.layers[idx[petra_rng_below(&e->rng, (uint64_t)n)]]);
  gene.drop = 0;
  petra_genome_set(g, &gene);
}

static void set_gene(const petra_evo_conf *c, petra_genome *g, const char *layer, int keep_i, int bits) {
  petra_layer_gene gene = petra_genome_gene(g, layer);
  gene.keep = layer_flags(c, layer) & PETRA_EVO_FIXED_UNITS ? 1.0f : keep_levels[keep_i];
  gene.bits = bits;
  petra_genome_set(g, &gene);
}

static void random_genome(petra_evo *e, petra_genome *g) {
  petra_genome_identity(g);
  for (int l = 0; l < e->c.n_layers; l++)
    set_gene(&e->c, g, e->c.layers[l], (int)petra_rng_below(&e->rng, N_KEEP),
             e->c.allow_bits8 && petra_rng_uniform(&e->rng) < 0.5 ? 8 : 32);
  g->finetune_steps = ft_levels[petra_rng_below(&e->rng, N_FT)];
  g->finetune_lr = 1e-3f;
}

/* The genes the search may change: per layer keep (not the output layer), bits (32/8/4 as
 * allowed), sparsity and low-rank ratio (not embeddings: those are lookups), a transformer
 * layer's drop (never every layer's); globally the
 * fine-tune budget and, when allowed, the L1 and group-lasso strengths. */
enum { G_KEEP, G_BITS, G_SPARSITY, G_RANK, G_DROP, G_FT, G_L1, G_GL };
typedef struct slot {
  int kind, layer;
} slot;

static int bits_allowed(const petra_evo_conf *c, int n_out[1], int lv[N_BITS]) {
  int n = 0;
  lv[n++] = 32;
  if (c->allow_bits8) lv[n++] = 8;
  if (c->allow_bits4) lv[n++] = 4;
  n_out[0] = n;
  return n;
}

static int gene_slots(const petra_evo_conf *c, slot *out) {
  int n = 0, nb, lv[N_BITS];
  bits_allowed(c, &nb, lv);
  for (int l = 0; l < c->n_layers; l++) {
    int emb = !strncmp(c->layers[l], "emb.", 4);
    if (!(c->layer_flags[l] & PETRA_EVO_FIXED_UNITS)) out[n++] = (slot){G_KEEP, l};
    if (nb > 1) out[n++] = (slot){G_BITS, l};
    if (c->allow_sparsity && !emb) out[n++] = (slot){G_SPARSITY, l};
    if (c->allow_rank && !emb) out[n++] = (slot){G_RANK, l};
    if (c->layer_flags[l] & PETRA_EVO_DROPPABLE) out[n++] = (slot){G_DROP, l};
  }
  out[n++] = (slot){G_FT, -1};
  if (c->allow_regularizers) {
    out[n++] = (slot){G_L1, -1};
    out[n++] = (slot){G_GL, -1};
  }
  return n;
}

void petra_evo_mutate(petra_evo *e, petra_genome *g) {
  slot slots[5 * PETRA_EVO_MAX_LAYERS + 3];
  int n = gene_slots(&e->c, slots);
  slot s = slots[petra_rng_below(&e->rng, (uint64_t)n)];
  int jump = petra_rng_uniform(&e->rng) < e->c.big_jump;
  int dir = petra_rng_uniform(&e->rng) < 0.5 ? -1 : 1;
  if (s.kind == G_FT) {
    g->finetune_steps = ft_levels[ladder_step(&e->rng, ft_index(g->finetune_steps), N_FT, jump, dir)];
    return;
  }
  if (s.kind == G_L1 || s.kind == G_GL) {
    float *v = s.kind == G_L1 ? &g->l1 : &g->group_lasso;
    *v = reg_levels[ladder_step(&e->rng, level_index(reg_levels, N_REG, *v), N_REG, jump, dir)];
    return;
  }
  const char *layer = e->c.layers[s.layer];
  petra_layer_gene gene = petra_genome_gene(g, layer);
  if (s.kind == G_KEEP) {
    gene.keep = keep_levels[ladder_step(&e->rng, keep_index(gene.keep), N_KEEP, jump, dir)];
  } else if (s.kind == G_BITS) {
    int nb, lv[N_BITS], i = 0;
    bits_allowed(&e->c, &nb, lv);
    while (i < nb - 1 && lv[i] != gene.bits) i++;
    gene.bits = lv[ladder_step(&e->rng, i, nb, jump, dir)];
  } else if (s.kind == G_SPARSITY) {
    gene.sparsity = sparsity_levels[ladder_step(&e->rng, level_index(sparsity_levels, N_SPARSITY, gene.sparsity),
                                                N_SPARSITY, jump, dir)];
  } else if (s.kind == G_DROP) {
    gene.drop = !gene.drop;
  } else {
    gene.rank = rank_levels[ladder_step(&e->rng, level_index(rank_levels, N_RANK, gene.rank), N_RANK, jump, dir)];
  }
  petra_genome_set(g, &gene);
  keep_one_droppable(e, g);
}

void petra_evo_crossover(petra_evo *e, const petra_genome *a, const petra_genome *b,
                         petra_genome *child) {
  *child = *a;
  for (int l = 0; l < e->c.n_layers; l++)
    if (petra_rng_uniform(&e->rng) < 0.5) {
      petra_layer_gene gb = petra_genome_gene(b, e->c.layers[l]);
      petra_genome_set(child, &gb);
    }
  if (petra_rng_uniform(&e->rng) < 0.5) {
    child->finetune_steps = b->finetune_steps;
    child->finetune_lr = b->finetune_lr;
  }
  if (petra_rng_uniform(&e->rng) < 0.5) {
    child->l1 = b->l1;
    child->group_lasso = b->group_lasso;
  }
  keep_one_droppable(e, child);
}

/* ---------------------------------------------------------------- life cycle */

petra_evo *petra_evo_new(const petra_evo_conf *c, petra_evo_eval_fn eval, void *ctx, petra_err *err) {
  if (c->population < 4 || c->population > PETRA_EVO_MAX_POP || c->n_layers < 1 ||
      c->n_layers > PETRA_EVO_MAX_LAYERS) {
    petra_err_set(err, PETRA_ERANGE, "evolve: population must be 4..%d and layers 1..%d",
                  PETRA_EVO_MAX_POP, PETRA_EVO_MAX_LAYERS);
    return NULL;
  }
  petra_evo *e = calloc(1, sizeof *e);
  if (!e) {
    petra_err_set(err, PETRA_ENOMEM, "evolve: out of memory");
    return NULL;
  }
  e->c = *c;
  e->eval = eval;
  e->ctx = ctx;
  petra_rng_seed(&e->rng, c->seed);
  e->n = c->population;
  /* member 0 is the identity genome: the uncompressed reference; member 1 a known-good
   * start (half the units, 8-bit weights where allowed, 200 recovery steps); with two or more
   * transformer layers member 2 is member 1 with the first dropped (a transformer's latency
   * is mostly per layer: attention and norms stay fp32); the rest random */
  petra_genome_identity(&e->pop[0].genome);
  petra_genome_identity(&e->pop[1].genome);
  for (int l = 0; l < c->n_layers; l++)
    set_gene(c, &e->pop[1].genome, c->layers[l], keep_index(0.5f), c->allow_bits8 ? 8 : 32);
  e->pop[1].genome.finetune_steps = 200;
  int first = 2, n_drop = 0, drop_first = -1;
  for (int l = 0; l < c->n_layers; l++)
    if (c->layer_flags[l] & PETRA_EVO_DROPPABLE && n_drop++ == 0) drop_first = l;
  if (n_drop >= 2 && e->n > 2) {
    e->pop[2].genome = e->pop[1].genome;
    petra_layer_gene gene = petra_genome_gene(&e->pop[2].genome, c->layers[drop_first]);
    gene.drop = 1;
    petra_genome_set(&e->pop[2].genome, &gene);
    first = 3;
  }
  for (int i = first; i < e->n; i++) random_genome(e, &e->pop[i].genome);
  return e;
}

void petra_evo_free(petra_evo *e) { free(e); }
uint64_t petra_evo_steps(const petra_evo *e) { return e->steps; }
int petra_evo_size(const petra_evo *e) { return e->n; }
const petra_member *petra_evo_member(const petra_evo *e, int i) {
  return i >= 0 && i < e->n ? &e->pop[i] : NULL;
}

void petra_evo_set_baseline(petra_evo *e, double baseline, double floor, double budget) {
  e->c.baseline_metric = baseline;
  e->c.metric_floor = floor;
  if (budget > 0) e->c.latency_budget_us = budget;
  for (int i = 0; i < e->n; i++)
    if (e->pop[i].evaluated) e->pop[i].violation = violation(e, &e->pop[i].fit);
}

static void archive_add(petra_evo *e, const petra_member *m) {
  if (m->violation > 0) return;
  double om[3];
  objectives(e, m, om);
  for (int i = 0; i < e->n_archive; i++) {
    double oa[3];
    objectives(e, &e->archive[i], oa);
    if (dominates(e, &e->archive[i], m) || (oa[0] == om[0] && oa[1] == om[1] && oa[2] == om[2]))
      return;
  }
  int k = 0;
  for (int i = 0; i < e->n_archive; i++)
    if (!dominates(e, m, &e->archive[i])) e->archive[k++] = e->archive[i];
  e->n_archive = k;
  if (e->n_archive == ARCHIVE_MAX) {
    /* full: drop the oldest entry */
    memmove(&e->archive[0], &e->archive[1], sizeof(petra_member) * (ARCHIVE_MAX - 1));
    e->n_archive--;
  }
  e->archive[e->n_archive++] = *m;
}

static int evaluate(petra_evo *e, petra_member *m) {
  petra_fitness f;
  int rc = e->eval(e->ctx, &m->genome, &f);
  if (rc) return rc;
  m->fit = f;
  m->evaluated = 1;
  m->evaluated_at = e->steps;
  m->violation = violation(e, &f);
  archive_add(e, m);
  return 0;
}

static int tournament(petra_evo *e) {
  int a = (int)petra_rng_below(&e->rng, (uint64_t)e->n), b = (int)petra_rng_below(&e->rng, (uint64_t)e->n);
  return better(&e->pop[a], &e->pop[b]) ? a : b;
}

int petra_evo_step(petra_evo *e) {
  e->steps++;
  for (int i = 0; i < e->n; i++)
    if (!e->pop[i].evaluated) {
      e->pop[i].born = e->steps;
      int rc = evaluate(e, &e->pop[i]);
      rank_population(e);
      return rc;
    }
  rank_population(e);
  petra_member child;
  memset(&child, 0, sizeof child);
  int pa = tournament(e), pb = tournament(e);
  petra_evo_crossover(e, &e->pop[pa].genome, &e->pop[pb].genome, &child.genome);
  petra_evo_mutate(e, &child.genome);
  child.born = e->steps;
  int rc = evaluate(e, &child);
  if (rc == 0) {
    /* replace the worst member (never the identity reference at 0) if the child is better */
    int worst = 1;
    for (int i = 2; i < e->n; i++)
      if (better(&e->pop[worst], &e->pop[i])) worst = i;
    petra_member keep = e->pop[worst];
    e->pop[worst] = child;
    rank_population(e);
    if (better(&keep, &e->pop[worst])) {
      e->pop[worst] = keep; /* the child was the worst after all */
      rank_population(e);
    }
  }
  /* re-evaluate the oldest evaluation so fitness follows the data */
  int oldest = 0;
  for (int i = 1; i < e->n; i++)
    if (e->pop[i].evaluated_at < e->pop[oldest].evaluated_at) oldest = i;
  int rc2 = evaluate(e, &e->pop[oldest]);
  rank_population(e);
  return rc ? rc : rc2;
}

const petra_member *petra_evo_champion(const petra_evo *e) {
  const petra_member *best = NULL;
  for (int i = 0; i < e->n; i++) {
    const petra_member *m = &e->pop[i];
    if (!m->evaluated || m->violation > 0) continue;
    double drop = e->c.higher_is_better ? e->c.baseline_metric - m->fit.metric
                                        : m->fit.metric - e->c.baseline_metric;
    if (drop > e->c.metric_tolerance) continue;
    if (!best) {
      best = m;
      continue;
    }
    double a = e->c.prefer ? m->fit.p99_us : m->fit.bytes;
    double b = e->c.prefer ? best->fit.p99_us : best->fit.bytes;
    if (a < b || (a == b && m->fit.metric > best->fit.metric)) best = m;
  }
  return best;
}

int petra_evo_front(const petra_evo *e, const petra_member **out, int max) {
  int k = 0;
  for (int i = 0; i < e->n_archive && k < max; i++) out[k++] = &e->archive[i];
  return k;
}
