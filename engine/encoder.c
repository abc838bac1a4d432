#include "petra/encoder.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "petra/bytes.h"

#define ENC_MAGIC 0x31434e45u /* "ENC1" */
#define ENC_FORMAT 1u

/* A learned vocabulary: open addressing over raw codes; slot_id 0 = empty. */
typedef struct vocab_map {
  size_t mask;
  int32_t *slot_code, *slot_id;
  int32_t *codes; /* codes[id] for id 1..used */
  int used;
} vocab_map;

struct petra_encoder {
  int n_num, n_cat, frozen;
  petra_num_transform tr[PETRA_ENCODER_MAX_NUMERIC];
  petra_num_stats st[PETRA_ENCODER_MAX_NUMERIC];
  petra_cat_mode mode[PETRA_ENCODER_MAX_FIELDS];
  int vocab[PETRA_ENCODER_MAX_FIELDS];
  vocab_map vm[PETRA_ENCODER_MAX_FIELDS];
};

static const char *const tr_names[] = {"log", "z", "raw"};
static const char *const mode_names[] = {"index", "hash", "vocab"};

const char *petra_num_transform_name(petra_num_transform t) {
  return (unsigned)t < 3 ? tr_names[t] : "?";
}
const char *petra_cat_mode_name(petra_cat_mode m) { return (unsigned)m < 3 ? mode_names[m] : "?"; }

int petra_num_transform_parse(const char *s, petra_num_transform *out) {
  for (int i = 0; i < 3; i++)
    if (!strcmp(s, tr_names[i])) {
      *out = (petra_num_transform)i;
      return 0;
    }
  if (!strcmp(s, "auto")) { /* the documented default */
    *out = PETRA_NUM_LOG;
    return 0;
  }
  return PETRA_EINVAL;
}

int petra_cat_mode_parse(const char *s, petra_cat_mode *out) {
  for (int i = 0; i < 3; i++)
    if (!strcmp(s, mode_names[i])) {
      *out = (petra_cat_mode)i;
      return 0;
    }
  return PETRA_EINVAL;
}

static void vocab_free(vocab_map *v) {
  free(v->slot_code);
  free(v->slot_id);
  free(v->codes);
  memset(v, 0, sizeof *v);
}

static int vocab_alloc(vocab_map *v, int vocab) {
  size_t cap = 16;
  while (cap < (size_t)vocab * 2) cap <<= 1;
  v->mask = cap - 1;
  v->slot_code = calloc(cap, sizeof(int32_t));
  v->slot_id = calloc(cap, sizeof(int32_t));
  v->codes = calloc((size_t)vocab + 1, sizeof(int32_t));
  v->used = 0;
  return v->slot_code && v->slot_id && v->codes ? 0 : PETRA_ENOMEM;
}

static uint64_t mix32(int32_t c) {
  uint64_t h = 0xcbf29ce484222325ULL;
  uint32_t u = (uint32_t)c;
  for (int i = 0; i < 4; i++) h = (h ^ ((u >> (8 * i)) & 0xff)) * 0x100000001b3ULL;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

/* The id of code, or 0 when absent; *slot receives where it is or would go. */
static int32_t vocab_find(const vocab_map *v, int32_t code, size_t *slot) {
  size_t h = mix32(code) & v->mask;
  while (v->slot_id[h] && v->slot_code[h] != code) h = (h + 1) & v->mask;
  *slot = h;
  return v->slot_id[h];
}

static void vocab_put(vocab_map *v, size_t slot, int32_t code) {
  v->used++;
  v->slot_code[slot] = code;
  v->slot_id[slot] = v->used;
  v->codes[v->used] = code;
}

petra_encoder *petra_encoder_new(int n_numeric, const petra_num_transform *transforms,
                                 int n_fields, const petra_cat_mode *modes, const int *vocab,
                                 petra_err *err) {
  if (n_numeric < 0 || n_numeric > PETRA_ENCODER_MAX_NUMERIC || n_fields < 0 ||
      n_fields > PETRA_ENCODER_MAX_FIELDS) {
    petra_err_set(err, PETRA_ERANGE, "encoder: %d numeric columns and %d fields (at most %d and %d)",
                  n_numeric, n_fields, PETRA_ENCODER_MAX_NUMERIC, PETRA_ENCODER_MAX_FIELDS);
    return NULL;
  }
  petra_encoder *e = calloc(1, sizeof *e);
  if (!e) goto oom;
  e->n_num = n_numeric;
  e->n_cat = n_fields;
  for (int i = 0; i < n_numeric; i++) {
    e->tr[i] = transforms ? transforms[i] : PETRA_NUM_LOG;
    if ((unsigned)e->tr[i] > PETRA_NUM_RAW) {
      petra_err_set(err, PETRA_EINVAL, "encoder: numeric column %d: unknown transform %d", i, (int)e->tr[i]);
      petra_encoder_free(e);
      return NULL;
    }
  }
  for (int j = 0; j < n_fields; j++) {
    e->mode[j] = modes ? modes[j] : PETRA_CAT_INDEX;
    e->vocab[j] = vocab[j];
    if ((unsigned)e->mode[j] > PETRA_CAT_VOCAB || vocab[j] < 1) {
      petra_err_set(err, PETRA_EINVAL, "encoder: field %d: mode %d with vocabulary %d", j, (int)e->mode[j],
                    vocab[j]);
      petra_encoder_free(e);
      return NULL;
    }
    if (e->mode[j] == PETRA_CAT_VOCAB && vocab_alloc(&e->vm[j], vocab[j])) goto oom;
  }
  return e;
oom:
  petra_err_set(err, PETRA_ENOMEM, "encoder: out of memory");
  petra_encoder_free(e);
  return NULL;
}

void petra_encoder_free(petra_encoder *e) {
  if (!e) return;
  for (int j = 0; j < PETRA_ENCODER_MAX_FIELDS; j++) vocab_free(&e->vm[j]);
  free(e);
}

static int same_layout(const petra_encoder *a, const petra_encoder *b) {
  if (a->n_num != b->n_num || a->n_cat != b->n_cat) return 0;
  for (int i = 0; i < a->n_num; i++)
    if (a->tr[i] != b->tr[i]) return 0;
  for (int j = 0; j < a->n_cat; j++)
    if (a->mode[j] != b->mode[j] || a->vocab[j] != b->vocab[j]) return 0;
  return 1;
}

int petra_encoder_copy_state(petra_encoder *e, const petra_encoder *src, petra_err *err) {
  if (!same_layout(e, src)) {
    char a[512], b[512];
    petra_encoder_describe(e, a, sizeof a);
    petra_encoder_describe(src, b, sizeof b);
    return petra_err_set(err, PETRA_ESHAPE, "encoder: layout '%s' cannot take the state of '%s'", a, b);
  }
  memcpy(e->st, src->st, sizeof e->st);
  for (int j = 0; j < e->n_cat; j++) {
    if (e->mode[j] != PETRA_CAT_VOCAB) continue;
    vocab_map *d = &e->vm[j];
    const vocab_map *s = &src->vm[j];
    memcpy(d->slot_code, s->slot_code, sizeof(int32_t) * (d->mask + 1));
    memcpy(d->slot_id, s->slot_id, sizeof(int32_t) * (d->mask + 1));
    memcpy(d->codes, s->codes, sizeof(int32_t) * ((size_t)e->vocab[j] + 1));
    d->used = s->used;
  }
  return 0;
}

petra_encoder *petra_encoder_clone(const petra_encoder *e) {
  petra_encoder *c = petra_encoder_new(e->n_num, e->tr, e->n_cat, e->mode, e->vocab, NULL);
  if (c && petra_encoder_copy_state(c, e, NULL)) {
    petra_encoder_free(c);
    return NULL;
  }
  if (c) c->frozen = e->frozen;
  return c;
}

void petra_encoder_freeze(petra_encoder *e, int frozen) { e->frozen = frozen != 0; }
int petra_encoder_frozen(const petra_encoder *e) { return e->frozen; }
int petra_encoder_n_numeric(const petra_encoder *e) { return e->n_num; }
int petra_encoder_n_fields(const petra_encoder *e) { return e->n_cat; }
petra_num_transform petra_encoder_transform(const petra_encoder *e, int col) { return e->tr[col]; }
petra_cat_mode petra_encoder_mode(const petra_encoder *e, int field) { return e->mode[field]; }
const petra_num_stats *petra_encoder_stats(const petra_encoder *e, int col) { return &e->st[col]; }
int petra_encoder_vocab_used(const petra_encoder *e, int field) { return e->vm[field].used; }

/* ---------------------------------------------------------------- numerics */

float petra_encoder_pre(const petra_encoder *e, int col, double raw) {
  if (!isfinite(raw)) return 0.0f;
  double v = raw;
  if (e->tr[col] == PETRA_NUM_LOG) v = raw < 0 ? -log1p(-raw) : log1p(raw);
  /* float range: a raw 1e300 stays finite as the largest float, the scale clips it */
  if (v > 3.0e38) v = 3.0e38;
  if (v < -3.0e38) v = -3.0e38;
  return (float)v;
}

void petra_encoder_observe(petra_encoder *e, int col, float pre) {
  if (e->frozen || e->tr[col] == PETRA_NUM_RAW || !isfinite(pre)) return;
  petra_num_stats *s = &e->st[col];
  double x = pre;
  if (s->n < PETRA_ENCODER_WARMUP) {
    s->n++;
    double d = x - s->mean;
    s->mean += d / (double)s->n;
    /* var holds the population variance: M2 / n */
    s->var += (d * (x - s->mean) - s->var) / (double)s->n;
    return;
  }
  double sd = sqrt(s->var);
  double lo = s->mean - 5 * sd, hi = s->mean + 5 * sd;
  if (x < lo) x = lo;
  if (x > hi) x = hi;
  s->n++;
  double a = 1.0 / (double)s->n;
  if (a < 1.0 / PETRA_ENCODER_HORIZON) a = 1.0 / PETRA_ENCODER_HORIZON;
  double d = x - s->mean;
  s->mean += a * d;
  s->var = (1 - a) * (s->var + a * d * d);
}

void petra_encoder_scale_prep(const petra_encoder *e, int col, petra_scale_prep *p) {
  p->raw = e->tr[col] == PETRA_NUM_RAW;
  p->clip = p->raw ? PETRA_ENCODER_RAW_CLIP : PETRA_ENCODER_CLIP;
  p->mean = 0;
  p->sd = 1;
  if (p->raw) return;
  const petra_num_stats *s = &e->st[col];
  double sd = sqrt(s->var);
  /* a constant column (or none seen yet): centre only, so its value maps to 0 and any
   * other value saturates at the clip */
  double floor = 1e-6 * (fabs(s->mean) + 1);
  if (!(sd > floor)) sd = s->n ? floor : 1;
  p->mean = s->mean;
  p->sd = sd;
}

float petra_encoder_scale(const petra_encoder *e, int col, float pre) {
  petra_scale_prep p;
  petra_encoder_scale_prep(e, col, &p);
  return petra_encoder_scale_apply(&p, pre);
}

/* ---------------------------------------------------------------- categories */

int petra_encoder_code(petra_encoder *e, int field, int32_t raw, int32_t *id) {
  int V = e->vocab[field];
  switch (e->mode[field]) {
    case PETRA_CAT_INDEX:
      if (raw < 0 || raw >= V) return PETRA_ERANGE;
      *id = raw;
      return 0;
    case PETRA_CAT_HASH:
      *id = V > 1 ? (int32_t)(1 + mix32(raw) % (uint64_t)(V - 1)) : 0;
      return 0;
    case PETRA_CAT_VOCAB: {
      vocab_map *v = &e->vm[field];
      size_t slot;
      int32_t got = vocab_find(v, raw, &slot);
      if (!got && !e->frozen && v->used < V - 1) {
        vocab_put(v, slot, raw);
        got = v->used;
      }
      *id = got;
      return 0;
    }
  }
  return PETRA_EINVAL;
}

int32_t petra_encoder_id(const petra_encoder *e, int field, int32_t raw) {
  if (raw == PETRA_ENCODER_MISSING) return 0;
  int V = e->vocab[field];
  switch (e->mode[field]) {
    case PETRA_CAT_INDEX: return raw >= 0 && raw < V ? raw : 0;
    case PETRA_CAT_HASH: return V > 1 ? (int32_t)(1 + mix32(raw) % (uint64_t)(V - 1)) : 0;
    case PETRA_CAT_VOCAB: {
      size_t slot;
      return vocab_find(&e->vm[field], raw, &slot);
    }
  }
  return 0;
}

/* ---------------------------------------------------------------- text + bytes */

int petra_encoder_describe(const petra_encoder *e, char *buf, size_t size) {
  size_t o = 0;
  int n = snprintf(buf, size, "num=");
  o = n > 0 ? (size_t)n : 0;
  for (int i = 0; i < e->n_num; i++) {
    n = snprintf(buf + (o < size ? o : size), o < size ? size - o : 0, "%s%s", i ? "," : "",
                 tr_names[e->tr[i]]);
    o += n > 0 ? (size_t)n : 0;
  }
  n = snprintf(buf + (o < size ? o : size), o < size ? size - o : 0, " cat=");
  o += n > 0 ? (size_t)n : 0;
  for (int j = 0; j < e->n_cat; j++) {
    n = snprintf(buf + (o < size ? o : size), o < size ? size - o : 0, "%s%s", j ? "," : "",
                 mode_names[e->mode[j]]);
    o += n > 0 ? (size_t)n : 0;
  }
  return (int)o;
}

int petra_encoder_save(const petra_encoder *e, uint8_t **buf, size_t *len) {
  petra_bytes_w w = {0};
  petra_bw_u32(&w, ENC_MAGIC);
  petra_bw_u32(&w, ENC_FORMAT);
  petra_bw_u32(&w, (uint32_t)e->n_num);
  for (int i = 0; i < e->n_num; i++) {
    petra_bw_u32(&w, (uint32_t)e->tr[i]);
    petra_bw_u64(&w, e->st[i].n);
    petra_bw_f64(&w, e->st[i].mean);
    petra_bw_f64(&w, e->st[i].var);
  }
  petra_bw_u32(&w, (uint32_t)e->n_cat);
  for (int j = 0; j < e->n_cat; j++) {
    petra_bw_u32(&w, (uint32_t)e->mode[j]);
    petra_bw_u32(&w, (uint32_t)e->vocab[j]);
    uint32_t used = e->mode[j] == PETRA_CAT_VOCAB ? (uint32_t)e->vm[j].used : 0;
    petra_bw_u32(&w, used);
    for (uint32_t k = 1; k <= used; k++) petra_bw_u32(&w, (uint32_t)e->vm[j].codes[k]);
  }
  if (w.err) {
    free(w.p);
    return PETRA_ENOMEM;
  }
  *buf = w.p;
  *len = w.len;
  return 0;
}

petra_encoder *petra_encoder_load(const uint8_t *buf, size_t len, petra_err *err) {
  petra_bytes_r r = {buf, len, 0, 0};
  if (petra_br_u32(&r) != ENC_MAGIC || petra_br_u32(&r) != ENC_FORMAT || r.err) {
    petra_err_set(err, PETRA_EVERSION, "encoder state: not an input encoder of format %u", ENC_FORMAT);
    return NULL;
  }
  uint32_t nn = petra_br_u32(&r);
  if (r.err || nn > PETRA_ENCODER_MAX_NUMERIC) goto bad;
  petra_num_transform tr[PETRA_ENCODER_MAX_NUMERIC];
  petra_num_stats st[PETRA_ENCODER_MAX_NUMERIC];
  for (uint32_t i = 0; i < nn; i++) {
    uint32_t t = petra_br_u32(&r);
    st[i].n = petra_br_u64(&r);
    st[i].mean = petra_br_f64(&r);
    st[i].var = petra_br_f64(&r);
    if (r.err || t > PETRA_NUM_RAW || !isfinite(st[i].mean) || !isfinite(st[i].var) || st[i].var < 0)
      goto bad;
    tr[i] = (petra_num_transform)t;
  }
  uint32_t nc = petra_br_u32(&r);
  if (r.err || nc > PETRA_ENCODER_MAX_FIELDS) goto bad;
  petra_cat_mode modes[PETRA_ENCODER_MAX_FIELDS];
  int vocab[PETRA_ENCODER_MAX_FIELDS];
  petra_encoder *e = NULL;
  /* the fields' headers come before each one's codes: read them in one pass, building the
   * encoder once the layout is known */
  size_t code_off[PETRA_ENCODER_MAX_FIELDS];
  uint32_t used[PETRA_ENCODER_MAX_FIELDS];
  for (uint32_t j = 0; j < nc; j++) {
    uint32_t m = petra_br_u32(&r), v = petra_br_u32(&r);
    used[j] = petra_br_u32(&r);
    if (r.err || m > PETRA_CAT_VOCAB || v < 1 || v > 10000000 ||
        (m != PETRA_CAT_VOCAB && used[j]) || (used[j] && used[j] > v - 1) ||
        used[j] > (r.len - r.off) / 4)
      goto bad;
    modes[j] = (petra_cat_mode)m;
    vocab[j] = (int)v;
    code_off[j] = r.off;
    r.off += (size_t)used[j] * 4;
  }
  if (r.off != r.len) goto bad;
  e = petra_encoder_new((int)nn, tr, (int)nc, modes, vocab, err);
  if (!e) return NULL;
  memcpy(e->st, st, sizeof(petra_num_stats) * nn);
  for (uint32_t j = 0; j < nc; j++) {
    petra_bytes_r cr = {buf, len, code_off[j], 0};
    for (uint32_t k = 0; k < used[j]; k++) {
      int32_t code = (int32_t)petra_br_u32(&cr);
      size_t slot;
      if (vocab_find(&e->vm[j], code, &slot)) { /* a code twice: not a state we wrote */
        petra_encoder_free(e);
        goto bad;
      }
      vocab_put(&e->vm[j], slot, code);
    }
  }
  return e;
bad:
  petra_err_set(err, PETRA_EINVAL, "encoder state: truncated or corrupt (%zu bytes)", len);
  return NULL;
}
