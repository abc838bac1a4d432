#include "feature_state.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "petra/bytes.h"
#include "wire.h"

#define MAX_NUMERICS 64
#define FEATURES_FORMAT 2u /* seq: encoder in the state, schema names transforms */

struct features {
  petra_model_spec spec;
  int kind;
  int L, F, N, C, W, H; /* seq: L events, F fields, N numerics; ts: C channels, W, H */
  int n_user, age;
  char user[MAX_NUMERICS][PETRA_NAME_MAX];
  petra_encoder *enc; /* seq: numeric statistics and category maps */
  int release_at;     /* features_release_parked's cursor */
  char schema[1024];
  int ef;
  /* entities (or series): slots with LRU links and an open-addressing index */
  int cap, used;
  char (*ids)[WIRE_MAX_ID + 1];
  int *prev, *next;
  int lru_head, lru_tail; /* head = most recently seen */
  int *count, *ring_head;
  int64_t *last_time;
  int32_t *codes;  /* seq: [cap][L][F] raw codes, PETRA_ENCODER_MISSING when absent */
  float *nums;     /* seq: [cap][L][N]; ts: [cap][W+H][C] */
  int64_t *times;  /* seq: [cap][L] */
  int *index;      /* hash slots -> entity slot or −1 */
  uint64_t *ihash; /* the full hash of index[h]'s id: probes compare it before the string */
  size_t index_mask;
  /* labels parked until their entity's events reach the label time: a pool of entries
   * linked per entity (phead[slot] -> pnext ...), free entries linked from pfree */
  int *phead, *pnext, pfree;
  int64_t *ptime;
  float *pvalue;
  features_stats stats;
};

static uint64_t hash_id(const char *s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
  /* FNV's low bits mix poorly for ids that differ in their last characters: finalize
   * (MurmurHash3 fmix64) before masking */
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

static int ring_len(const features *f) { return f->kind == PETRA_MODEL_SEQ ? f->L : f->W + f->H; }

/* Empties the entity table, the LRU list and the parked-label pool. */
static void clear_state(features *f) {
  for (size_t i = 0; i <= f->index_mask; i++) f->index[i] = -1;
  for (int i = 0; i < f->cap; i++) {
    f->phead[i] = -1;
    f->pnext[i] = i + 1 < f->cap ? i + 1 : -1;
  }
  f->pfree = 0;
  f->stats.parked = 0;
  f->stats.entities = 0;
  f->used = 0;
  f->lru_head = f->lru_tail = -1;
}

/* Splits "a,b,c" into names of 1..PETRA_NAME_MAX−1 bytes; returns the count or −1. */
static int split_names(const char *csv, char (*out)[PETRA_NAME_MAX], int max) {
  int n = 0;
  if (!csv || !*csv) return 0;
  for (const char *p = csv; *p;) {
    const char *c = strchr(p, ',');
    size_t l = c ? (size_t)(c - p) : strlen(p);
    if (l == 0 || l >= PETRA_NAME_MAX || n == max) return -1;
    memcpy(out[n], p, l);
    out[n++][l] = 0;
    p += l + (c ? 1 : 0);
  }
  return n;
}

int features_conf_numeric(const features_conf *conf) {
  char tmp[MAX_NUMERICS][PETRA_NAME_MAX];
  int n = split_names(conf->numerics, tmp, MAX_NUMERICS);
  return 2 + (n > 0 ? n : 0) + (conf->event_age ? 1 : 0);
}

/* Looks NAME up in "NAME=VALUE,..."; copies VALUE (empty when absent). Returns −1 when the
 * list is malformed. */
static int find_setting(const char *list, const char *name, char *val, size_t n) {
  val[0] = 0;
  if (!list) return 0;
  size_t nl = strlen(name);
  for (const char *p = list; *p;) {
    const char *c = strchr(p, ',');
    size_t l = c ? (size_t)(c - p) : strlen(p);
    const char *eq = memchr(p, '=', l);
    if (!eq || eq == p) return -1;
    if ((size_t)(eq - p) == nl && !memcmp(p, name, nl)) {
      size_t vl = l - (size_t)(eq - p) - 1;
      if (vl >= n) return -1;
      memcpy(val, eq + 1, vl);
      val[vl] = 0;
    }
    p += l + (c ? 1 : 0);
  }
  return 0;
}

/* Every NAME of "NAME=VALUE,..." must be one of names[0..n). */
static int check_setting_names(const char *list, const char (*names)[PETRA_NAME_MAX], int n,
                               const char *what, const char *among, char *err, size_t en) {
  if (!list) return 0;
  for (const char *p = list; *p;) {
    const char *c = strchr(p, ',');
    size_t l = c ? (size_t)(c - p) : strlen(p);
    const char *eq = memchr(p, '=', l);
    if (!eq || eq == p) {
      snprintf(err, en, "%s '%s': expected NAME=VALUE,...", what, list);
      return -1;
    }
    int found = 0;
    for (int i = 0; i < n && !found; i++)
      found = strlen(names[i]) == (size_t)(eq - p) && !memcmp(names[i], p, (size_t)(eq - p));
    if (!found) {
      snprintf(err, en, "%s: '%.*s' is not one of the model's %s", what, (int)(eq - p), p, among);
      return -1;
    }
    p += l + (c ? 1 : 0);
  }
  return 0;
}

features *features_new(const petra_model_spec *spec, const char *numerics_csv, int max_entities,
                       char *err, size_t n) {
  features_conf c = {.numerics = numerics_csv, .max_entities = max_entities};
  return features_new_conf(spec, &c, err, n);
}

features *features_new_conf(const petra_model_spec *spec, const features_conf *conf, char *err,
                            size_t n) {
  int max_entities = conf->max_entities;
  features *f = calloc(1, sizeof *f);
  if (!f) goto oom;
  f->spec = *spec;
  f->kind = spec->kind;
  if (max_entities < 1) {
    snprintf(err, n, "features: max_entities must be >= 1");
    goto fail;
  }
  if (spec->kind == PETRA_MODEL_SEQ) {
    f->L = spec->seq_len;
    f->F = spec->n_fields;
    f->N = spec->n_numeric;
    f->age = conf->event_age != 0;
    f->n_user = split_names(conf->numerics, f->user, MAX_NUMERICS);
    if (f->n_user < 0) {
      snprintf(err, n, "features.numerics '%s': names must be 1..%d bytes, at most %d",
               conf->numerics, PETRA_NAME_MAX - 1, MAX_NUMERICS);
      goto fail;
    }
    if (f->N != 2 + f->n_user + f->age) {
      snprintf(err, n, "model has %d numeric inputs; features give 2 + %d named%s", f->N, f->n_user,
               f->age ? " + event age" : "");
      goto fail;
    }
    /* the encoder's columns: amount, gap, the named numerics (age uses gap's) */
    char cols[MAX_NUMERICS + 2][PETRA_NAME_MAX];
    snprintf(cols[0], PETRA_NAME_MAX, "amount");
    snprintf(cols[1], PETRA_NAME_MAX, "gap");
    for (int i = 0; i < f->n_user; i++) memcpy(cols[2 + i], f->user[i], PETRA_NAME_MAX);
    int nc = 2 + f->n_user;
    petra_num_transform tr[MAX_NUMERICS + 2];
    if (check_setting_names(conf->transforms, (const char (*)[PETRA_NAME_MAX])cols, nc,
                            "features.transforms", "numeric columns (amount, gap, features.numerics)", err, n))
      goto fail;
    for (int i = 0; i < nc; i++) {
      char v[32];
      if (find_setting(conf->transforms, cols[i], v, sizeof v) ||
          (v[0] && petra_num_transform_parse(v, &tr[i]))) {
        snprintf(err, n, "features.transforms: column %s: '%s' is not log, z, raw or auto", cols[i], v);
        goto fail;
      }
      if (!v[0]) tr[i] = PETRA_NUM_LOG;
    }
    char fields[PETRA_MAX_FIELDS][PETRA_NAME_MAX];
    petra_cat_mode modes[PETRA_MAX_FIELDS];
    int vocab[PETRA_MAX_FIELDS];
    for (int j = 0; j < f->F; j++) {
      memcpy(fields[j], spec->fields[j].name, PETRA_NAME_MAX);
      vocab[j] = spec->fields[j].vocab;
    }
    if (check_setting_names(conf->categories, (const char (*)[PETRA_NAME_MAX])fields, f->F,
                            "features.categories", "categorical fields", err, n))
      goto fail;
    for (int j = 0; j < f->F; j++) {
      char v[32];
      if (find_setting(conf->categories, fields[j], v, sizeof v) ||
          (v[0] && petra_cat_mode_parse(v, &modes[j]))) {
        snprintf(err, n, "features.categories: field %s: '%s' is not index, hash or vocab", fields[j], v);
        goto fail;
      }
      if (!v[0]) modes[j] = PETRA_CAT_INDEX;
      if (modes[j] != PETRA_CAT_INDEX && vocab[j] < 2) {
        snprintf(err, n, "features.categories: field %s needs a vocabulary of at least 2 for %s "
                 "(id 0 is the missing/unknown bucket)", fields[j], v);
        goto fail;
      }
    }
    petra_err pe = {0};
    f->enc = petra_encoder_new(nc, tr, f->F, modes, vocab, &pe);
    if (!f->enc) {
      snprintf(err, n, "features: %s", pe.msg);
      goto fail;
    }
    int o = snprintf(f->schema, sizeof f->schema, "seq/%u len=%d fields=", FEATURES_FORMAT, f->L);
    for (int i = 0; i < f->F; i++)
      o += snprintf(f->schema + o, sizeof f->schema - (size_t)o, "%s%s:%d:%s", i ? "," : "",
                    spec->fields[i].name, spec->fields[i].vocab, petra_cat_mode_name(modes[i]));
    o += snprintf(f->schema + o, sizeof f->schema - (size_t)o, " numerics=");
    for (int i = 0; i < nc && o < (int)sizeof f->schema; i++)
      o += snprintf(f->schema + o, sizeof f->schema - (size_t)o, "%s%s:%s", i ? "," : "", cols[i],
                    petra_num_transform_name(tr[i]));
    if (f->age && o < (int)sizeof f->schema) snprintf(f->schema + o, sizeof f->schema - (size_t)o, ",age:gap");
  } else {
    f->C = spec->channels;
    f->W = spec->window;
    f->H = spec->horizon;
    snprintf(f->schema, sizeof f->schema, "ts/1 window=%d horizon=%d channels=%d", f->W, f->H, f->C);
  }
  f->ef = spec->kind == PETRA_MODEL_SEQ ? 1 + f->L * (f->F + f->N) + 1 : (f->W + f->H) * f->C;
  f->cap = max_entities;
  size_t R = (size_t)ring_len(f);
  size_t isz = 1;
  while (isz < (size_t)max_entities * 2) isz <<= 1;
  f->index_mask = isz - 1;
  f->ids = calloc((size_t)f->cap, sizeof *f->ids);
  f->prev = malloc(sizeof(int) * f->cap);
  f->next = malloc(sizeof(int) * f->cap);
  f->count = calloc((size_t)f->cap, sizeof(int));
  f->ring_head = calloc((size_t)f->cap, sizeof(int));
  f->last_time = calloc((size_t)f->cap, sizeof(int64_t));
  f->index = malloc(sizeof(int) * isz);
  f->ihash = malloc(sizeof(uint64_t) * isz);
  if (!f->index || !f->ihash) goto oom;
  f->phead = malloc(sizeof(int) * f->cap);
  f->pnext = malloc(sizeof(int) * f->cap);
  f->ptime = malloc(sizeof(int64_t) * f->cap);
  f->pvalue = malloc(sizeof(float) * f->cap);
  if (!f->phead || !f->pnext || !f->ptime || !f->pvalue) goto oom;
  if (spec->kind == PETRA_MODEL_SEQ) {
    f->codes = calloc((size_t)f->cap * R * (f->F ? f->F : 1), sizeof(int32_t));
    f->nums = calloc((size_t)f->cap * R * f->N, sizeof(float));
    f->times = calloc((size_t)f->cap * R, sizeof(int64_t));
    if (!f->codes || !f->nums || !f->times) goto oom;
  } else {
    f->nums = calloc((size_t)f->cap * R * f->C, sizeof(float));
    if (!f->nums) goto oom;
  }
  if (!f->ids || !f->prev || !f->next || !f->count || !f->ring_head || !f->last_time || !f->index)
    goto oom;
  clear_state(f);
  return f;
oom:
  snprintf(err, n, "features: out of memory for %d entities", max_entities);
fail:
  features_free(f);
  return NULL;
}

void features_free(features *f) {
  if (!f) return;
  free(f->ids);
  free(f->prev);
  free(f->next);
  free(f->count);
  free(f->ring_head);
  free(f->last_time);
  free(f->codes);
  free(f->nums);
  free(f->times);
  free(f->index);
  free(f->ihash);
  free(f->phead);
  free(f->pnext);
  free(f->ptime);
  free(f->pvalue);
  petra_encoder_free(f->enc);
  free(f);
}

const char *features_schema(const features *f) { return f->schema; }
int features_example_floats(const features *f) { return f->ef; }
const features_stats *features_get_stats(const features *f) { return &f->stats; }

/* ---------------------------------------------------------------- index + LRU */

static int find(const features *f, const char *id) {
  uint64_t full = hash_id(id);
  size_t h = full & f->index_mask;
  for (;;) {
    int s = f->index[h];
    if (s < 0) return -1;
    if (f->ihash[h] == full && !strcmp(f->ids[s], id)) return s;
    h = (h + 1) & f->index_mask;
  }
}

static void index_insert(features *f, int slot) {
  uint64_t full = hash_id(f->ids[slot]);
  size_t h = full & f->index_mask;
  while (f->index[h] >= 0) h = (h + 1) & f->index_mask;
  f->index[h] = slot;
  f->ihash[h] = full;
}

/* Removes slot from the index with backward-shift deletion (no tombstones). */
static void index_remove(features *f, int slot) {
  size_t h = hash_id(f->ids[slot]) & f->index_mask;
  while (f->index[h] != slot) h = (h + 1) & f->index_mask;
  size_t hole = h;
  for (size_t j = (hole + 1) & f->index_mask; f->index[j] >= 0; j = (j + 1) & f->index_mask) {
    size_t home = f->ihash[j] & f->index_mask;
    /* move j into the hole when its home is not in (hole, j] cyclically */
    int between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (!between) {
      f->index[hole] = f->index[j];
      f->ihash[hole] = f->ihash[j];
      hole = j;
    }
  }
  f->index[hole] = -1;
}

static void lru_unlink(features *f, int s) {
  if (f->prev[s] >= 0) f->next[f->prev[s]] = f->next[s];
  else f->lru_head = f->next[s];
  if (f->next[s] >= 0) f->prev[f->next[s]] = f->prev[s];
  else f->lru_tail = f->prev[s];
}

static void lru_push_front(features *f, int s) {
  f->prev[s] = -1;
  f->next[s] = f->lru_head;
  if (f->lru_head >= 0) f->prev[f->lru_head] = s;
  f->lru_head = s;
  if (f->lru_tail < 0) f->lru_tail = s;
}

/* Asks for entity s's whole ring (its codes, numerics and times) ahead of the example that
 * reads it: with many entities it is cold, and waiting for it line by line was 13% of petra
 * score's time. */
static void prefetch_ring(const features *f, int s) {
  const char *at[3] = {(const char *)(f->nums + (size_t)s * f->L * f->N),
                       (const char *)(f->codes + (size_t)s * f->L * f->F), (const char *)(f->times + (size_t)s * f->L)};
  const size_t len[3] = {sizeof(float) * (size_t)f->L * f->N, sizeof(int32_t) * (size_t)f->L * f->F,
                         sizeof(int64_t) * (size_t)f->L};
  for (int i = 0; i < 3; i++)
    for (size_t o = 0; o < len[i]; o += 64) __builtin_prefetch(at[i] + o);
}

static int touch_or_create(features *f, const char *id) {
  int s = find(f, id);
  if (s >= 0) {
    lru_unlink(f, s);
    lru_push_front(f, s);
    return s;
  }
  if (f->used < f->cap) {
    s = f->used++;
  } else {
    s = f->lru_tail;
    index_remove(f, s);
    lru_unlink(f, s);
    f->stats.evictions++;
    while (f->phead[s] >= 0) { /* its parked labels go with it */
      int p = f->phead[s];
      f->phead[s] = f->pnext[p];
      f->pnext[p] = f->pfree;
      f->pfree = p;
      f->stats.parked--;
      f->stats.labels_dropped++;
    }
  }
  snprintf(f->ids[s], sizeof f->ids[s], "%s", id);
  f->count[s] = 0;
  f->ring_head[s] = 0;
  f->last_time[s] = 0;
  index_insert(f, s);
  lru_push_front(f, s);
  f->stats.entities = (uint64_t)f->used;
  return s;
}

/* ---------------------------------------------------------------- seq */

static int check_label(const features *f, float v, char *err, size_t n) {
  int K = f->spec.classes;
  if (K == 1 ? !(v == 0 || v == 1) : !(v >= 0 && v < K && v == floorf(v))) {
    snprintf(err, n, "label %g is not valid for %s", (double)v,
             K == 1 ? "a binary model (0 or 1)" : "this multi-class model");
    return -1;
  }
  return 0;
}

/* Writes an example from entity s's events with time <= until (all when until < 0); event
 * ages are measured to until (or to the newest event). Numerics are scaled here, with the
 * encoder's current statistics. */
static void seq_example(const features *f, int s, int64_t until, float label, float *ex) {
  const int L = f->L, F = f->F, N = f->N, nc = N - f->age;
  memset(ex, 0, sizeof(float) * f->ef);
  int cnt = f->count[s] < L ? f->count[s] : L;
  /* ring holds events oldest..newest ending before ring_head */
  int start = (f->ring_head[s] - cnt + L) % L;
  int len = 0;
  int64_t ref = until;
  if (ref < 0) ref = f->last_time[s];
  /* each column's scaling prepared once for the window (the sd's square root) */
  enum { NPREP = 64 }; /* columns past these are scaled one by one */
  petra_scale_prep prep[NPREP];
  for (int c = 0; c < nc && c < NPREP; c++) petra_encoder_scale_prep(f->enc, c, &prep[c]);
  petra_scale_prep age_prep;
  if (f->age) petra_encoder_scale_prep(f->enc, 1, &age_prep);
  int r = start;
  for (int k = 0; k < cnt; k++, r = r + 1 == L ? 0 : r + 1) {
    size_t base = (size_t)s * L + r;
    if (until >= 0 && f->times[base] > until) break;
    /* the ring keeps raw codes: ids come from the encoder's current vocabularies */
    for (int j = 0; j < F; j++)
      ex[1 + len * F + j] = (float)petra_encoder_id(f->enc, j, f->codes[base * F + j]);
    float *dst = ex + 1 + L * F + len * N;
    const float *pre = f->nums + base * N;
    for (int c = 0; c < nc; c++)
      dst[c] = c < NPREP ? petra_encoder_scale_apply(&prep[c], pre[c]) : petra_encoder_scale(f->enc, c, pre[c]);
    if (f->age) {
      double age_s = (double)(ref - f->times[base]) / 1000.0;
      dst[nc] = petra_encoder_scale_apply(&age_prep, petra_encoder_pre(f->enc, 1, age_s > 0 ? age_s : 0));
    }
    len++;
  }
  ex[0] = (float)len;
  ex[f->ef - 1] = label;
}

/* Parks a label on entity s; returns 0, or −1 when the pool is full (label dropped). */
static int park(features *f, int s, int64_t t, float v) {
  if (f->pfree < 0) {
    f->stats.labels_dropped++;
    return -1;
  }
  int p = f->pfree;
  f->pfree = f->pnext[p];
  f->ptime[p] = t;
  f->pvalue[p] = v;
  f->pnext[p] = f->phead[s];
  f->phead[s] = p;
  f->stats.parked++;
  f->stats.labels_parked_total++;
  return 0;
}

/* Joins entity s's parked labels with time <= until, writing examples from ex[out] on while
 * out < max; each joined label leaves the pool. Returns the new out. */
static int join_parked(features *f, int s, int64_t until, float *ex, int out, int max) {
  for (int *pp = &f->phead[s]; *pp >= 0 && out < max;) {
    int p = *pp;
    if (f->ptime[p] > until) {
      pp = &f->pnext[p];
      continue;
    }
    float *dst = ex + (size_t)out * f->ef;
    seq_example(f, s, f->ptime[p], f->pvalue[p], dst);
    if (dst[0] >= 1) out++;
    else f->stats.unknown_entity++;
    *pp = f->pnext[p];
    f->pnext[p] = f->pfree;
    f->pfree = p;
    f->stats.parked--;
  }
  return out;
}

int features_event(features *f, const Petra__V1__Event *e, float *ex, int max, char *err,
                   size_t n) {
  if (f->kind != PETRA_MODEL_SEQ) {
    snprintf(err, n, "this model forecasts series; events are not used");
    return -1;
  }
  /* find each field's raw code and refuse bad input before anything is learned from it */
  int32_t raw[PETRA_MAX_FIELDS], codes[PETRA_MAX_FIELDS]; /* codes: what the ring keeps */
  int present[PETRA_MAX_FIELDS];
  for (int j = 0; j < f->F; j++) {
    present[j] = 0;
    raw[j] = 0;
    /* producers usually send the fields in the model's order: try index j first */
    size_t first = (size_t)j < e->n_categories ? (size_t)j : 0;
    for (size_t k = 0; k < e->n_categories; k++) {
      size_t i = (first + k) % e->n_categories;
      if (!strcmp(e->categories[i]->field, f->spec.fields[j].name)) {
        raw[j] = e->categories[i]->code;
        present[j] = 1;
        if (petra_encoder_mode(f->enc, j) == PETRA_CAT_INDEX &&
            (raw[j] < 0 || raw[j] >= f->spec.fields[j].vocab)) {
          snprintf(err, n, "category %s code %d outside [0, %d) (set features.categories %s=hash or "
                   "=vocab to take raw codes)", f->spec.fields[j].name, raw[j], f->spec.fields[j].vocab,
                   f->spec.fields[j].name);
          return -1;
        }
        break;
      }
    }
  }
  if (e->has_label && check_label(f, e->label, err, n)) return -1;
  for (int j = 0; j < f->F; j++) {
    codes[j] = PETRA_ENCODER_MISSING;
    if (present[j]) {
      int32_t id;
      petra_encoder_code(f->enc, j, raw[j], &id); /* learns a vocab-mode code */
      codes[j] = raw[j];
    }
  }
  int s = touch_or_create(f, e->entity_id);
  prefetch_ring(f, s);
  const int L = f->L;
  size_t base = (size_t)s * L + f->ring_head[s];
  for (int j = 0; j < f->F; j++) f->codes[base * f->F + j] = codes[j];
  float *num = f->nums + base * f->N;
  num[0] = petra_encoder_pre(f->enc, 0, e->amount);
  petra_encoder_observe(f->enc, 0, num[0]);
  double gap = f->count[s] ? (double)(e->event_time_ms - f->last_time[s]) / 1000.0 : 0.0;
  num[1] = petra_encoder_pre(f->enc, 1, gap > 0 ? gap : 0);
  if (f->count[s]) petra_encoder_observe(f->enc, 1, num[1]); /* a first event has no gap */
  for (int u = 0; u < f->n_user; u++) {
    double v = 0;
    size_t first = (size_t)u < e->n_numerics ? (size_t)u : 0;
    for (size_t k = 0; k < e->n_numerics; k++) {
      size_t i = (first + k) % e->n_numerics;
      if (e->numerics[i]->name && !strcmp(e->numerics[i]->name, f->user[u])) {
        v = e->numerics[i]->value;
        break;
      }
    }
    num[2 + u] = petra_encoder_pre(f->enc, 2 + u, v);
    petra_encoder_observe(f->enc, 2 + u, num[2 + u]);
  }
  if (f->age) num[2 + f->n_user] = 0; /* computed when an example is formed */
  f->times[base] = e->event_time_ms;
  if (e->event_time_ms > f->last_time[s] || f->count[s] == 0) f->last_time[s] = e->event_time_ms;
  f->ring_head[s] = (f->ring_head[s] + 1) % L;
  f->count[s]++;
  int out = 0;
  if (e->has_label && out < max) {
    seq_example(f, s, -1, e->label, ex);
    out++;
  }
  /* parked labels whose time this entity's events have now reached */
  return join_parked(f, s, e->event_time_ms, ex, out, max);
}

int features_label(features *f, const Petra__V1__Label *l, float *ex, char *err, size_t n) {
  if (f->kind != PETRA_MODEL_SEQ) {
    snprintf(err, n, "this model forecasts series; labels are not used");
    return -1;
  }
  if (check_label(f, l->value, err, n)) return -1;
  int s = find(f, l->entity_id);
  if (s < 0 || f->count[s] == 0 || f->last_time[s] < l->label_time_ms) {
    /* the entity's events have not reached the label time yet (labels consumed ahead of
     * events, e.g. on catch-up): wait for them */
    if (s < 0) s = touch_or_create(f, l->entity_id);
    park(f, s, l->label_time_ms, l->value);
    return 0;
  }
  seq_example(f, s, l->label_time_ms, l->value, ex);
  if (ex[0] < 1) {
    f->stats.unknown_entity++; /* no event at or before the label time */
    return 0;
  }
  return 1;
}

int features_entity_example(features *f, const char *id, float *ex) {
  return features_entity_example_at(f, id, -1, ex);
}

int features_entity_example_at(features *f, const char *id, int64_t at_ms, float *ex) {
  int s = find(f, id);
  if (s < 0) return 0;
  if (f->kind == PETRA_MODEL_SEQ) {
    seq_example(f, s, at_ms, 0, ex);
    return 1;
  }
  /* ts: the newest W points as the window (a forecast of the next H), target zero */
  const int R = f->W + f->H, C = f->C;
  if (f->count[s] < f->W) return 0;
  const float *slot = f->nums + (size_t)s * R * C;
  for (int k = 0; k < f->W; k++) {
    int at = ((f->ring_head[s] - f->W + k) % R + R) % R;
    memcpy(ex + (size_t)k * C, slot + (size_t)at * C, sizeof(float) * C);
  }
  memset(ex + (size_t)f->W * C, 0, sizeof(float) * (size_t)f->H * C);
  return 1;
}

int features_release_parked(features *f, int64_t until, float *ex, int max) {
  if (f->kind != PETRA_MODEL_SEQ || f->stats.parked == 0) return 0;
  int out = 0;
  /* resume where the last call stopped, so releasing everything 16 at a time is one sweep */
  const int start = f->release_at < f->used ? f->release_at : 0;
  for (int k = 0; k < f->used && out < max; k++) {
    int s = (start + k) % f->used;
    f->release_at = s;
    out = join_parked(f, s, until, ex, out, max);
  }
  return out;
}

petra_encoder *features_encoder(features *f) { return f->enc; }

int features_use_encoder(features *f, const petra_encoder *src, int freeze, char *err, size_t n) {
  if (!f->enc) {
    snprintf(err, n, "this model's features have no input encoder");
    return -1;
  }
  petra_err pe = {0};
  if (petra_encoder_copy_state(f->enc, src, &pe)) {
    snprintf(err, n, "%s", pe.msg);
    return -1;
  }
  petra_encoder_freeze(f->enc, freeze);
  return 0;
}

/* ---------------------------------------------------------------- ts */

int features_series(features *f, const Petra__V1__SeriesPoint *p, float *ex, char *err, size_t n) {
  if (f->kind != PETRA_MODEL_TS) {
    snprintf(err, n, "this model classifies event sequences; series are not used");
    return -1;
  }
  if ((int)p->n_values != f->C) {
    snprintf(err, n, "series point has %zu values; the model has %d channels", p->n_values, f->C);
    return -1;
  }
  int s = touch_or_create(f, p->series_id);
  const int R = f->W + f->H, C = f->C;
  float *slot = f->nums + (size_t)s * R * C;
  memcpy(slot + (size_t)f->ring_head[s] * C, p->values, sizeof(float) * C);
  f->ring_head[s] = (f->ring_head[s] + 1) % R;
  f->count[s]++;
  f->last_time[s] = p->time_ms;
  if (f->count[s] < R) return 0;
  /* oldest point is at ring_head (the ring is full) */
  for (int k = 0; k < R; k++)
    memcpy(ex + (size_t)k * C, slot + (size_t)((f->ring_head[s] + k) % R) * C, sizeof(float) * C);
  return 1;
}

/* ---------------------------------------------------------------- state */

int features_save(const features *f, uint8_t **buf, size_t *len) {
  petra_bytes_w w = {0};
  petra_bw_u32(&w, FEATURES_FORMAT);
  petra_bw_str(&w, f->schema);
  petra_bw_u64(&w, f->stats.evictions);
  petra_bw_u64(&w, f->stats.unknown_entity);
  {
    uint8_t *eb = NULL;
    size_t el = 0;
    if (f->enc && petra_encoder_save(f->enc, &eb, &el)) w.err = 1;
    petra_bw_u32(&w, (uint32_t)el);
    petra_bw_raw(&w, eb, el);
    free(eb);
  }
  petra_bw_u32(&w, (uint32_t)f->used);
  const int R = ring_len(f);
  /* least recently seen first, so loading in order rebuilds the LRU order */
  for (int s = f->lru_tail; s >= 0; s = f->prev[s]) {
    petra_bw_str(&w, f->ids[s]);
    petra_bw_u32(&w, (uint32_t)f->count[s]);
    petra_bw_u32(&w, (uint32_t)f->ring_head[s]);
    petra_bw_u64(&w, (uint64_t)f->last_time[s]);
    uint32_t np = 0;
    for (int p = f->phead[s]; p >= 0; p = f->pnext[p]) np++;
    petra_bw_u32(&w, np);
    for (int p = f->phead[s]; p >= 0; p = f->pnext[p]) {
      petra_bw_u64(&w, (uint64_t)f->ptime[p]);
      petra_bw_f32s(&w, &f->pvalue[p], 1);
    }
    if (f->kind == PETRA_MODEL_SEQ) {
      for (int k = 0; k < R * f->F; k++)
        petra_bw_u32(&w, (uint32_t)f->codes[(size_t)s * R * f->F + k]);
      petra_bw_f32s(&w, f->nums + (size_t)s * R * f->N, (size_t)R * f->N);
      for (int k = 0; k < R; k++) petra_bw_u64(&w, (uint64_t)f->times[(size_t)s * R + k]);
    } else {
      petra_bw_f32s(&w, f->nums + (size_t)s * R * f->C, (size_t)R * f->C);
    }
  }
  if (w.err) {
    free(w.p);
    return -1;
  }
  *buf = w.p;
  *len = w.len;
  return 0;
}

int features_load(features *f, const uint8_t *buf, size_t len, char *err, size_t n) {
  petra_bytes_r r = {buf, len, 0, 0};
  uint32_t ver = petra_br_u32(&r);
  char schema[1024];
  petra_br_str(&r, schema, sizeof schema);
  if (r.err || ver != FEATURES_FORMAT || strcmp(schema, f->schema) != 0) {
    snprintf(err, n, "feature state was saved for '%s', this model uses '%s'",
             r.err ? "?" : schema, f->schema);
    return -1;
  }
  uint64_t ev = petra_br_u64(&r), unk = petra_br_u64(&r);
  uint32_t el = petra_br_u32(&r);
  if (r.err || el > r.len - r.off || (el == 0) != (f->enc == NULL)) {
    snprintf(err, n, "feature state: input encoder missing or truncated");
    return -1;
  }
  /* checked now, applied only once the rest has loaded */
  petra_encoder *le = NULL;
  if (f->enc) {
    petra_err pe = {0};
    petra_encoder *probe = petra_encoder_clone(f->enc);
    le = petra_encoder_load(r.p + r.off, el, &pe);
    if (!le || !probe || petra_encoder_copy_state(probe, le, &pe)) {
      snprintf(err, n, "feature state: %s", le ? pe.msg : pe.msg[0] ? pe.msg : "out of memory");
      petra_encoder_free(le);
      petra_encoder_free(probe);
      return -1;
    }
    petra_encoder_free(probe);
  }
  r.off += el;
  uint32_t used = petra_br_u32(&r);
  clear_state(f);
  const int R = ring_len(f);
  for (uint32_t i = 0; i < used && !r.err; i++) {
    char id[WIRE_MAX_ID + 1];
    petra_br_str(&r, id, sizeof id);
    if (r.err || !id[0]) break;
    int s = touch_or_create(f, id);
    f->count[s] = (int)petra_br_u32(&r);
    f->ring_head[s] = (int)petra_br_u32(&r);
    f->last_time[s] = (int64_t)petra_br_u64(&r);
    uint32_t np = petra_br_u32(&r);
    if (np > (uint32_t)f->cap) r.err = 1;
    for (uint32_t k = 0; k < np && !r.err; k++) {
      int64_t t = (int64_t)petra_br_u64(&r);
      float v;
      petra_br_f32s(&r, &v, 1);
      park(f, s, t, v);
    }
    if (f->ring_head[s] < 0 || f->ring_head[s] >= R || f->count[s] < 0) r.err = 1;
    if (f->kind == PETRA_MODEL_SEQ) {
      for (int k = 0; k < R * f->F && !r.err; k++) {
        int32_t c = (int32_t)petra_br_u32(&r);
        if (petra_encoder_mode(f->enc, k % f->F) == PETRA_CAT_INDEX && c != PETRA_ENCODER_MISSING &&
            (c < 0 || c >= f->spec.fields[k % f->F].vocab))
          r.err = 1;
        f->codes[(size_t)s * R * f->F + k] = c;
      }
      petra_br_f32s(&r, f->nums + (size_t)s * R * f->N, (size_t)R * f->N);
      for (int k = 0; k < R; k++) f->times[(size_t)s * R + k] = (int64_t)petra_br_u64(&r);
    } else {
      petra_br_f32s(&r, f->nums + (size_t)s * R * f->C, (size_t)R * f->C);
    }
  }
  if (r.err || r.off != r.len) {
    snprintf(err, n, "feature state is truncated or corrupt");
    clear_state(f);
    petra_encoder_free(le);
    return -1;
  }
  if (le) petra_encoder_copy_state(f->enc, le, NULL);
  petra_encoder_free(le);
  f->stats.evictions = ev;
  f->stats.unknown_entity = unk;
  f->stats.entities = (uint64_t)f->used;
  return 0;
}
