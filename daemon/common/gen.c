#include "gen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "petra.pb-c.h"
#include "petra/snapshot.h"

#define GROUPS 20
#define MAX_PENDING_LABELS 4096

typedef struct entity {
  int cls;
  int64_t clock_ms;
  int group_pref[3];
  int channel_pref;
  double amount_mu, amount_sigma;
  double gap_mean_s;
  int burst_left;
  int until_label;
} entity;

typedef struct pending_label {
  int entity;
  int64_t due_event_no; /* emit after this many more events overall */
  int64_t time_ms;
  float value;
} pending_label;

struct gen {
  gen_conf c;
  petra_rng rng;
  entity *ents;
  uint64_t events;
  int64_t sim_ms;
  pending_label pending[MAX_PENDING_LABELS];
  int n_pending;
  /* series */
  uint64_t series_t;
  double level[64], amp[64], phase[64], trend[64];
};

gen_conf gen_defaults(void) {
  return (gen_conf){.seed = 1, .entities = 5000, .risky_frac = 0.2, .label_noise = 0.05,
                    .vocab = 400, .channels = 4, .start_ms = 1700000000000LL,
                    .series_channels = 7};
}

static void setup_entity(gen *g, entity *e, int drifted) {
  petra_rng *r = &g->rng;
  if (e->cls) {
    /* risky: groups 12..19 (after drift 4..11), online-leaning, wide amounts, bursts */
    int base = drifted ? 4 : 12;
    for (int k = 0; k < 3; k++) e->group_pref[k] = base + (int)petra_rng_below(r, 8);
    e->channel_pref = 2 + (int)petra_rng_below(r, 2);
    e->amount_mu = 3.5 + petra_rng_normal(r) * 0.5;
    e->amount_sigma = 1.4;
    e->gap_mean_s = 1800;
  } else {
    for (int k = 0; k < 3; k++) e->group_pref[k] = (int)petra_rng_below(r, 14);
    e->channel_pref = (int)petra_rng_below(r, 3);
    e->amount_mu = 3.0 + petra_rng_normal(r) * 0.5;
    e->amount_sigma = 0.8;
    e->gap_mean_s = 6 * 3600;
  }
}

gen *gen_new(const gen_conf *c) {
  gen *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  g->c = *c;
  if (g->c.entities < 1) g->c.entities = 1;
  if (g->c.series_channels < 1) g->c.series_channels = 1;
  if (g->c.series_channels > 64) g->c.series_channels = 64;
  petra_rng_seed(&g->rng, c->seed);
  g->ents = calloc((size_t)g->c.entities, sizeof *g->ents);
  if (!g->ents) {
    free(g);
    return NULL;
  }
  g->sim_ms = c->start_ms;
  for (int i = 0; i < g->c.entities; i++) {
    entity *e = &g->ents[i];
    e->cls = petra_rng_uniform(&g->rng) < c->risky_frac;
    e->clock_ms = c->start_ms + (int64_t)(petra_rng_uniform(&g->rng) * 86400000.0);
    e->until_label = 8 + (int)petra_rng_below(&g->rng, 33);
    setup_entity(g, e, 0);
  }
  for (int ch = 0; ch < g->c.series_channels; ch++) {
    g->level[ch] = 5 + 10 * petra_rng_uniform(&g->rng);
    g->amp[ch] = 1 + 3 * petra_rng_uniform(&g->rng);
    g->phase[ch] = 6.283185307 * petra_rng_uniform(&g->rng);
    g->trend[ch] = 0.0005 * petra_rng_normal(&g->rng);
  }
  return g;
}

void gen_free(gen *g) {
  if (!g) return;
  free(g->ents);
  free(g);
}

uint64_t gen_events_made(const gen *g) { return g->events; }
int gen_entity_class(const gen *g, int i) { return g->ents[i].cls; }

static size_t pack_label(gen *g, const pending_label *p, uint8_t *buf, char *key, size_t keycap) {
  Petra__V1__Label l = PETRA__V1__LABEL__INIT;
  char id[32];
  snprintf(id, sizeof id, "ent-%d", p->entity);
  snprintf(key, keycap, "%s", id);
  l.schema_version = PETRA_SCHEMA_VERSION;
  l.entity_id = id;
  l.label_time_ms = p->time_ms;
  l.value = p->value;
  (void)g;
  return petra__v1__label__pack(&l, buf);
}

size_t gen_next_tx(gen *g, uint8_t *buf, size_t cap, int *kind, char *key, size_t keycap) {
  (void)cap;
  /* a due label goes first */
  for (int i = 0; i < g->n_pending; i++) {
    if (g->pending[i].due_event_no <= (int64_t)g->events) {
      pending_label p = g->pending[i];
      g->pending[i] = g->pending[--g->n_pending];
      *kind = GEN_LABEL;
      return pack_label(g, &p, buf, key, keycap);
    }
  }
  petra_rng *r = &g->rng;
  int ei = (int)petra_rng_below(r, (uint64_t)g->c.entities);
  entity *e = &g->ents[ei];
  int drifted = g->c.drift_at_ms > 0 && e->clock_ms >= g->c.drift_at_ms;
  if (drifted && e->cls && e->group_pref[0] >= 12) setup_entity(g, e, 1);
  /* time gap: exponential, risky entities burst */
  double mean = e->gap_mean_s;
  if (e->cls && e->burst_left > 0) {
    mean = 60;
    e->burst_left--;
  } else if (e->cls && petra_rng_uniform(r) < 0.1) {
    e->burst_left = 3 + (int)petra_rng_below(r, 5);
  }
  double u = petra_rng_uniform(r);
  e->clock_ms += (int64_t)(-log(1 - u) * mean * 1000.0) + 1;
  /* merchant category: 70% from preferred groups, else anywhere */
  int group = petra_rng_uniform(r) < 0.7 ? e->group_pref[petra_rng_below(r, 3)]
                                          : (int)petra_rng_below(r, GROUPS);
  int per_group = g->c.vocab / GROUPS;
  int code = group * per_group + (int)petra_rng_below(r, (uint64_t)per_group);
  if (code >= g->c.vocab) code = g->c.vocab - 1;
  int chan = petra_rng_uniform(r) < 0.75 ? e->channel_pref : (int)petra_rng_below(r, (uint64_t)g->c.channels);
  if (chan >= g->c.channels) chan = g->c.channels - 1;
  double amount = exp(e->amount_mu + e->amount_sigma * petra_rng_normal(r));
  if (petra_rng_uniform(r) < 0.03) amount = -amount; /* refunds */
  double hour = (double)((e->clock_ms / 1000) % 86400) / 3600.0;

  char id[32];
  snprintf(id, sizeof id, "ent-%d", ei);
  snprintf(key, keycap, "%s", id);
  Petra__V1__Category c1 = PETRA__V1__CATEGORY__INIT, c2 = PETRA__V1__CATEGORY__INIT;
  c1.field = "mcc";
  c1.code = code;
  c2.field = "channel";
  c2.code = chan;
  Petra__V1__Category *cats[] = {&c1, &c2};
  Petra__V1__Numeric n1 = PETRA__V1__NUMERIC__INIT, n2 = PETRA__V1__NUMERIC__INIT;
  n1.name = "hour_sin";
  n1.value = (float)sin(6.283185307 * hour / 24);
  n2.name = "hour_cos";
  n2.value = (float)cos(6.283185307 * hour / 24);
  Petra__V1__Numeric *nums[] = {&n1, &n2};
  Petra__V1__Event ev = PETRA__V1__EVENT__INIT;
  ev.schema_version = PETRA_SCHEMA_VERSION;
  ev.entity_id = id;
  ev.event_time_ms = e->clock_ms;
  ev.amount = round(amount * 100) / 100;
  ev.n_categories = 2;
  ev.categories = cats;
  ev.n_numerics = 2;
  ev.numerics = nums;
  ev.event_id = ++g->events;
  size_t len = petra__v1__event__pack(&ev, buf);
  *kind = GEN_EVENT;

  if (--e->until_label <= 0) {
    e->until_label = 8 + (int)petra_rng_below(r, 33);
    if (g->n_pending < MAX_PENDING_LABELS) {
      pending_label *p = &g->pending[g->n_pending++];
      p->entity = ei;
      p->time_ms = e->clock_ms;
      p->due_event_no = (int64_t)g->events + 1 + (int64_t)petra_rng_below(r, 50);
      int y = e->cls;
      if (petra_rng_uniform(r) < g->c.label_noise) y = !y;
      p->value = (float)y;
    }
  }
  return len;
}

size_t gen_next_series(gen *g, uint8_t *buf, size_t cap) {
  (void)cap;
  petra_rng *r = &g->rng;
  int C = g->c.series_channels;
  float vals[64];
  double t = (double)g->series_t;
  /* regime change about every 500 hours */
  if (petra_rng_uniform(r) < 1.0 / 500) {
    int ch = (int)petra_rng_below(r, (uint64_t)C);
    g->level[ch] += 3 * petra_rng_normal(r);
    g->amp[ch] *= 0.6 + 0.8 * petra_rng_uniform(r);
  }
  for (int ch = 0; ch < C; ch++) {
    double daily = sin(6.283185307 * t / 24 + g->phase[ch]);
    double weekly = 0.5 * sin(6.283185307 * t / 168 + 2 * g->phase[ch]);
    double v = g->level[ch] + g->trend[ch] * t + g->amp[ch] * (daily + weekly) +
               0.3 * petra_rng_normal(r);
    if (ch == C - 1 && C > 1) v = 0.5 * v + 0.5 * vals[0]; /* a channel driven by another */
    vals[ch] = (float)v;
  }
  Petra__V1__SeriesPoint p = PETRA__V1__SERIES_POINT__INIT;
  p.schema_version = PETRA_SCHEMA_VERSION;
  p.series_id = "gen-0";
  p.time_ms = g->c.start_ms + (int64_t)g->series_t * 3600000LL;
  p.n_values = (size_t)C;
  p.values = vals;
  g->series_t++;
  return petra__v1__series_point__pack(&p, buf);
}
