#include "wire.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "petra/snapshot.h"

/* protobuf-c allocator with a budget: a decoded tree may use at most `budget` bytes. Each
 * block has a two-word header: [0] its size (so frees give the budget back), [1] free for
 * the owner. The top-level message's word [1] points at its holder, so wire_free(msg) can
 * find the allocator that must free the tree. */
typedef struct capped {
  size_t used, budget;
} capped;

static void *capped_alloc(void *data, size_t size) {
  capped *c = data;
  if (size > c->budget - c->used) return NULL;
  size_t *p = malloc(size + sizeof(size_t) * 2);
  if (!p) return NULL;
  p[0] = size;
  p[1] = 0;
  c->used += size;
  return p + 2;
}
static void capped_free(void *data, void *ptr) {
  capped *c = data;
  if (!ptr) return;
  size_t *p = (size_t *)ptr - 2;
  c->used -= p[0];
  free(p);
}

typedef struct holder {
  ProtobufCAllocator alloc;
  capped cap;
  ProtobufCMessage *msg;
} holder;

_Static_assert(sizeof(size_t) == sizeof(holder *), "header word holds a pointer");

/* Arena allocator: bump allocation in one growing block, frees are no-ops; the whole tree
 * is dropped by resetting the arena. The budget is the same as the capped allocator's. */
static void *arena_alloc(void *data, size_t size) {
  wire_arena *a = data;
  size = (size + 15) & ~(size_t)15;
  if (size > a->budget - a->used) return NULL;
  if (a->used + size > a->cap) {
    /* the tree must stay contiguous-independent: grow only when empty (first allocation) */
    if (a->used) {
      /* spill: chain a separate block (rare: only for messages beyond the first block) */
      void *p = malloc(size);
      if (!p || a->n_spill == WIRE_ARENA_SPILLS) {
        free(p);
        return NULL;
      }
      a->spill[a->n_spill++] = p;
      a->used += size;
      return p;
    }
    size_t cap = a->cap ? a->cap : 65536;
    while (cap < size) cap *= 2;
    uint8_t *nb = realloc(a->buf, cap);
    if (!nb) return NULL;
    a->buf = nb;
    a->cap = cap;
  }
  void *p = a->buf + a->used;
  a->used += size;
  return p;
}
static void arena_free(void *data, void *ptr) {
  (void)data;
  (void)ptr;
}

void wire_arena_reset(wire_arena *a) {
  for (int i = 0; i < a->n_spill; i++) free(a->spill[i]);
  a->n_spill = 0;
  a->used = 0;
}

void wire_arena_free(wire_arena *a) {
  wire_arena_reset(a);
  free(a->buf);
  memset(a, 0, sizeof *a);
}

static ProtobufCMessage *decode_in(wire_arena *a, const ProtobufCMessageDescriptor *d,
                                   const void *buf, size_t len, char *err, size_t errlen) {
  wire_arena_reset(a);
  if (len > WIRE_MAX_MESSAGE) {
    snprintf(err, errlen, "message of %zu bytes exceeds the %u-byte limit", len, WIRE_MAX_MESSAGE);
    return NULL;
  }
  a->budget = 16 * len + 65536;
  ProtobufCAllocator al = {arena_alloc, arena_free, a};
  ProtobufCMessage *m = protobuf_c_message_unpack(d, &al, len, buf);
  if (!m) snprintf(err, errlen, "not a decodable %s (%zu bytes)", d->short_name, len);
  return m;
}

static ProtobufCMessage *decode(const ProtobufCMessageDescriptor *d, const void *buf, size_t len,
                                char *err, size_t errlen) {
  if (len > WIRE_MAX_MESSAGE) {
    snprintf(err, errlen, "message of %zu bytes exceeds the %u-byte limit", len, WIRE_MAX_MESSAGE);
    return NULL;
  }
  holder *h = malloc(sizeof *h);
  if (!h) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  h->cap.used = 0;
  h->cap.budget = 16 * len + 65536;
  h->alloc.alloc = capped_alloc;
  h->alloc.free = capped_free;
  h->alloc.allocator_data = &h->cap;
  h->msg = protobuf_c_message_unpack(d, &h->alloc, len, buf);
  if (!h->msg) {
    snprintf(err, errlen, "not a decodable %s (%zu bytes)", d->short_name, len);
    free(h);
    return NULL;
  }
  /* stash the holder in the slot just before the message (allocation header word 1) */
  ((holder **)h->msg)[-1] = h;
  return h->msg;
}

void wire_free(void *msg) {
  if (!msg) return;
  holder *h = ((holder **)msg)[-1];
  protobuf_c_message_free_unpacked(h->msg, &h->alloc);
  free(h);
}

static int check_version(uint32_t v, char *err, size_t n) {
  if (v != PETRA_SCHEMA_VERSION) {
    snprintf(err, n, "schema_version %u is not supported (this build reads %u)", v,
             PETRA_SCHEMA_VERSION);
    return -1;
  }
  return 0;
}

static int check_id(const char *what, const char *id, char *err, size_t n) {
  size_t l = id ? strlen(id) : 0;
  if (l == 0 || l > WIRE_MAX_ID) {
    snprintf(err, n, "%s must be 1..%d bytes (got %zu)", what, WIRE_MAX_ID, l);
    return -1;
  }
  for (size_t i = 0; i < l; i++)
    if ((unsigned char)id[i] < 0x20) {
      snprintf(err, n, "%s contains a control character", what);
      return -1;
    }
  return 0;
}

static int check_event(Petra__V1__Event *e, char *err, size_t n) {
  if (check_version(e->schema_version, err, n) || check_id("entity_id", e->entity_id, err, n))
    goto bad;
  if (e->event_time_ms < 0) {
    snprintf(err, n, "event_time_ms %lld is negative", (long long)e->event_time_ms);
    goto bad;
  }
  if (!isfinite(e->amount) || fabs(e->amount) > 1e15) {
    snprintf(err, n, "amount %g is not a finite number below 1e15", e->amount);
    goto bad;
  }
  if (e->n_categories > WIRE_MAX_REPEATED || e->n_numerics > WIRE_MAX_REPEATED) {
    snprintf(err, n, "more than %d categories or numerics", WIRE_MAX_REPEATED);
    goto bad;
  }
  for (size_t i = 0; i < e->n_categories; i++) {
    if (!e->categories[i]->field || !e->categories[i]->field[0]) {
      snprintf(err, n, "category %zu has no field name", i);
      goto bad;
    }
    /* raw codes may be negative (a repayment status of −2); the model's field mode decides
     * (features.categories). INT32_MIN is the feature state's "missing" marker. */
    if (e->categories[i]->code == INT32_MIN) {
      snprintf(err, n, "category %s code %d is reserved", e->categories[i]->field,
               e->categories[i]->code);
      goto bad;
    }
  }
  for (size_t i = 0; i < e->n_numerics; i++)
    if (!isfinite(e->numerics[i]->value)) {
      snprintf(err, n, "numeric %s is not finite", e->numerics[i]->name ? e->numerics[i]->name : "?");
      goto bad;
    }
  if (e->has_label && !isfinite(e->label)) {
    snprintf(err, n, "label is not finite");
    goto bad;
  }
  return 0;
bad:
  return -1;
}

Petra__V1__Event *wire_decode_event(const void *buf, size_t len, char *err, size_t n) {
  Petra__V1__Event *e = (Petra__V1__Event *)decode(&petra__v1__event__descriptor, buf, len, err, n);
  if (e && check_event(e, err, n)) {
    wire_free(e);
    e = NULL;
  }
  return e;
}

/* ---------------------------------------------------------------- fast Event decoder
 * The hot path of ingest: a hand-written proto3 decoder for Event into the arena (the same
 * Petra__V1__Event structure protobuf-c builds, without its reflection). It accepts and
 * rejects exactly what protobuf_c_message_unpack (1.4) does for Event, quirks included
 * (fuzz_wire checks both decoders agree on every input): unknown fields of any wire type
 * but groups are skipped, a known field with the wrong wire type fails (except bool, which
 * protobuf-c reads from any), a truncated value fails, later scalars win. */

typedef struct pb {
  const uint8_t *p, *end;
} pb;

/* A varint of at most 10 bytes; bits beyond 64 are dropped (as protobuf-c does). */
static int pb_varint(pb *r, uint64_t *v) {
  uint64_t x = 0;
  for (int i = 0; i < 10; i++) {
    if (r->p == r->end) return -1;
    uint8_t b = *r->p++;
    x |= (uint64_t)(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) {
      *v = x;
      return 0;
    }
  }
  return -1;
}

/* A field key as protobuf-c reads it: at most 5 bytes, a 32-bit field number, and a first
 * byte whose field bits are zero is invalid. */
static int pb_tag(pb *r, uint32_t *field, unsigned *wt) {
  if (r->p == r->end) return -1;
  uint8_t d0 = *r->p;
  if ((d0 & 0xf8) == 0) return -1;
  *wt = d0 & 7;
  uint32_t tag = (uint32_t)(d0 & 0x7f) >> 3;
  if (!(d0 & 0x80)) {
    r->p++;
    *field = tag;
    return 0;
  }
  size_t avail = (size_t)(r->end - r->p), max = avail < 5 ? avail : 5;
  unsigned shift = 4;
  for (size_t i = 1; i < max; i++) {
    uint8_t d = r->p[i];
    tag |= (uint32_t)(d & 0x7f) << shift;
    shift += 7;
    if (!(d & 0x80)) {
      r->p += i + 1;
      *field = tag;
      return 0;
    }
  }
  return -1;
}

/* A length prefix as protobuf-c reads it: at most 5 bytes into 32 bits, at most INT_MAX,
 * and that many bytes must follow. */
static int pb_len(pb *r, pb *sub) {
  size_t avail = (size_t)(r->end - r->p), max = avail < 5 ? avail : 5;
  uint64_t v = 0; /* 64 bits, as protobuf-c's size_t: a fifth byte's high bits must not wrap */
  size_t i = 0;
  for (; i < max; i++) {
    v |= (uint64_t)(r->p[i] & 0x7f) << (7 * i);
    if (!(r->p[i] & 0x80)) break;
  }
  if (i == max || v > INT32_MAX || i + 1 + v > avail) return -1;
  sub->p = r->p + i + 1;
  sub->end = sub->p + v;
  r->p = sub->end;
  return 0;
}

/* Skips a field of wire type wt; −1 on truncation or a group (protobuf-c refuses those). */
static int pb_skip(pb *r, unsigned wt) {
  uint64_t v;
  pb sub;
  switch (wt) {
    case 0: return pb_varint(r, &v);
    case 1:
      if (r->end - r->p < 8) return -1;
      r->p += 8;
      return 0;
    case 2: return pb_len(r, &sub);
    case 5:
      if (r->end - r->p < 4) return -1;
      r->p += 4;
      return 0;
    default: return -1;
  }
}

static char *pb_str(wire_arena *a, const pb *s) {
  size_t n = (size_t)(s->end - s->p);
  char *out = arena_alloc(a, n + 1);
  if (!out) return NULL;
  memcpy(out, s->p, n);
  out[n] = 0;
  return out;
}

static int pb_fixed32(pb *r, uint32_t *v) {
  if (r->end - r->p < 4) return -1;
  memcpy(v, r->p, 4); /* little-endian host (x86-64, as the build requires) */
  r->p += 4;
  return 0;
}

static int pb_fixed64(pb *r, uint64_t *v) {
  if (r->end - r->p < 8) return -1;
  memcpy(v, r->p, 8);
  r->p += 8;
  return 0;
}

static int fast_category(wire_arena *a, pb m, Petra__V1__Category *c) {
  *c = (Petra__V1__Category)PETRA__V1__CATEGORY__INIT;
  while (m.p < m.end) {
    uint64_t v;
    uint32_t f = 0;
    unsigned wt = 0;
    if (pb_tag(&m, &f, &wt)) return -1;
    if (f == 1) {
      pb s;
      if (wt != 2 || pb_len(&m, &s) || !(c->field = pb_str(a, &s))) return -1;
    } else if (f == 2) {
      if (wt != 0 || pb_varint(&m, &v)) return -1;
      c->code = (int32_t)(uint32_t)v;
    } else if (pb_skip(&m, wt)) {
      return -1;
    }
  }
  return 0;
}

static int fast_numeric(wire_arena *a, pb m, Petra__V1__Numeric *x) {
  *x = (Petra__V1__Numeric)PETRA__V1__NUMERIC__INIT;
  while (m.p < m.end) {
    uint32_t f = 0;
    unsigned wt = 0;
    if (pb_tag(&m, &f, &wt)) return -1;
    if (f == 1) {
      pb s;
      if (wt != 2 || pb_len(&m, &s) || !(x->name = pb_str(a, &s))) return -1;
    } else if (f == 2) {
      uint32_t u;
      if (wt != 5 || pb_fixed32(&m, &u)) return -1;
      memcpy(&x->value, &u, 4);
    } else if (pb_skip(&m, wt)) {
      return -1;
    }
  }
  return 0;
}

static Petra__V1__Event *fast_event(wire_arena *a, const uint8_t *buf, size_t len) {
  /* pass 1: count the repeated messages (and check the framing) */
  size_t nc = 0, nn = 0;
  pb r = {buf, buf + len};
  while (r.p < r.end) {
    uint32_t f = 0;
    unsigned wt = 0;
    if (pb_tag(&r, &f, &wt)) return NULL;
    if ((f == 5 || f == 6) && wt == 2) f == 5 ? nc++ : nn++;
    if (pb_skip(&r, wt)) return NULL;
  }
  Petra__V1__Event *e = arena_alloc(a, sizeof *e);
  if (!e) return NULL;
  *e = (Petra__V1__Event)PETRA__V1__EVENT__INIT;
  if (nc) {
    e->categories = arena_alloc(a, sizeof(void *) * nc);
    Petra__V1__Category *cs = arena_alloc(a, sizeof *cs * nc);
    if (!e->categories || !cs) return NULL;
    for (size_t i = 0; i < nc; i++) e->categories[i] = &cs[i];
  }
  if (nn) {
    e->numerics = arena_alloc(a, sizeof(void *) * nn);
    Petra__V1__Numeric *ns = arena_alloc(a, sizeof *ns * nn);
    if (!e->numerics || !ns) return NULL;
    for (size_t i = 0; i < nn; i++) e->numerics[i] = &ns[i];
  }
  /* pass 2: the values */
  r.p = buf;
  while (r.p < r.end) {
    uint64_t v;
    uint32_t f = 0;
    unsigned wt = 0;
    pb_tag(&r, &f, &wt); /* checked in pass 1 */
    pb s;
    switch (f) {
      case 1:
        if (wt != 0 || pb_varint(&r, &v)) return NULL;
        e->schema_version = (uint32_t)v;
        break;
      case 2:
        if (wt != 2 || pb_len(&r, &s) || !(e->entity_id = pb_str(a, &s))) return NULL;
        break;
      case 3:
        if (wt != 0 || pb_varint(&r, &v)) return NULL;
        e->event_time_ms = (int64_t)v;
        break;
      case 4:
        if (wt != 1 || pb_fixed64(&r, &v)) return NULL;
        memcpy(&e->amount, &v, 8);
        break;
      case 5:
        if (wt != 2 || pb_len(&r, &s) || fast_category(a, s, e->categories[e->n_categories++])) return NULL;
        break;
      case 6:
        if (wt != 2 || pb_len(&r, &s) || fast_numeric(a, s, e->numerics[e->n_numerics++])) return NULL;
        break;
      case 7: {
        /* protobuf-c reads a bool from any wire type: true when any byte of the value
         * (length prefix included) has a nonzero low 7 bits */
        const uint8_t *v0 = r.p;
        if (pb_skip(&r, wt)) return NULL;
        e->has_label = 0;
        for (const uint8_t *q = v0; q < r.p; q++)
          if (*q & 0x7f) e->has_label = 1;
        break;
      }
      case 8: {
        uint32_t u;
        if (wt != 5 || pb_fixed32(&r, &u)) return NULL;
        memcpy(&e->label, &u, 4);
        break;
      }
      case 9:
        if (wt != 0 || pb_varint(&r, &v)) return NULL;
        e->event_id = v;
        break;
      default:
        if (pb_skip(&r, wt)) return NULL;
    }
  }
  return e;
}

Petra__V1__Event *wire_decode_event_in(wire_arena *a, const void *buf, size_t len, char *err, size_t n) {
  wire_arena_reset(a);
  if (len > WIRE_MAX_MESSAGE) {
    snprintf(err, n, "message of %zu bytes exceeds the %u-byte limit", len, WIRE_MAX_MESSAGE);
    return NULL;
  }
  a->budget = 16 * len + 65536;
  Petra__V1__Event *e = fast_event(a, buf, len);
  if (!e) {
    snprintf(err, n, "not a decodable Event (%zu bytes)", len);
    return NULL;
  }
  return check_event(e, err, n) == 0 ? e : NULL;
}

Petra__V1__Event *wire_fast_event_in(wire_arena *a, const void *buf, size_t len) {
  wire_arena_reset(a);
  a->budget = 16 * len + 65536;
  return len > WIRE_MAX_MESSAGE ? NULL : fast_event(a, buf, len);
}

Petra__V1__Event *wire_decode_event_pbc_in(wire_arena *a, const void *buf, size_t len, char *err, size_t n) {
  Petra__V1__Event *e = (Petra__V1__Event *)decode_in(a, &petra__v1__event__descriptor, buf, len, err, n);
  return e && check_event(e, err, n) == 0 ? e : NULL;
}

static int check_label(Petra__V1__Label *l, char *err, size_t n) {
  if (check_version(l->schema_version, err, n) || check_id("entity_id", l->entity_id, err, n))
    goto bad;
  if (l->label_time_ms < 0) {
    snprintf(err, n, "label_time_ms %lld is negative", (long long)l->label_time_ms);
    goto bad;
  }
  if (!isfinite(l->value)) {
    snprintf(err, n, "label value is not finite");
    goto bad;
  }
  return 0;
bad:
  return -1;
}

Petra__V1__Label *wire_decode_label(const void *buf, size_t len, char *err, size_t n) {
  Petra__V1__Label *l = (Petra__V1__Label *)decode(&petra__v1__label__descriptor, buf, len, err, n);
  if (l && check_label(l, err, n)) {
    wire_free(l);
    l = NULL;
  }
  return l;
}

Petra__V1__Label *wire_decode_label_in(wire_arena *a, const void *buf, size_t len, char *err, size_t n) {
  Petra__V1__Label *l = (Petra__V1__Label *)decode_in(a, &petra__v1__label__descriptor, buf, len, err, n);
  return l && check_label(l, err, n) == 0 ? l : NULL;
}

static int check_series(Petra__V1__SeriesPoint *p, char *err, size_t n) {
  if (check_version(p->schema_version, err, n) || check_id("series_id", p->series_id, err, n))
    goto bad;
  if (p->n_values == 0 || p->n_values > WIRE_MAX_REPEATED) {
    snprintf(err, n, "values: %zu given, expected 1..%d", p->n_values, WIRE_MAX_REPEATED);
    goto bad;
  }
  if (p->n_channels && p->n_channels != p->n_values) {
    snprintf(err, n, "%zu channel names for %zu values", p->n_channels, p->n_values);
    goto bad;
  }
  for (size_t i = 0; i < p->n_values; i++)
    if (!isfinite(p->values[i]) || fabsf(p->values[i]) > 1e30f) {
      snprintf(err, n, "value %zu is not a finite number", i);
      goto bad;
    }
  return 0;
bad:
  return -1;
}

Petra__V1__SeriesPoint *wire_decode_series(const void *buf, size_t len, char *err, size_t n) {
  Petra__V1__SeriesPoint *p =
      (Petra__V1__SeriesPoint *)decode(&petra__v1__series_point__descriptor, buf, len, err, n);
  if (p && check_series(p, err, n)) {
    wire_free(p);
    p = NULL;
  }
  return p;
}

Petra__V1__SeriesPoint *wire_decode_series_in(wire_arena *a, const void *buf, size_t len,
                                              char *err, size_t n) {
  Petra__V1__SeriesPoint *p =
      (Petra__V1__SeriesPoint *)decode_in(a, &petra__v1__series_point__descriptor, buf, len, err, n);
  return p && check_series(p, err, n) == 0 ? p : NULL;
}

size_t wire_deadletter(const char *topic, int32_t partition, int64_t offset, const char *error,
                       const void *payload, size_t payload_len, const void *key, size_t key_len,
                       int64_t now_ms, uint8_t **out) {
  Petra__V1__DeadLetter d = PETRA__V1__DEAD_LETTER__INIT;
  d.schema_version = PETRA_SCHEMA_VERSION;
  d.topic = (char *)topic;
  d.partition = partition;
  d.offset = offset;
  d.error = (char *)error;
  d.payload.len = payload_len;
  d.payload.data = (uint8_t *)payload;
  d.key.len = key_len;
  d.key.data = (uint8_t *)key;
  d.time_ms = now_ms;
  size_t n = petra__v1__dead_letter__get_packed_size(&d);
  *out = malloc(n ? n : 1);
  if (!*out) return 0;
  return petra__v1__dead_letter__pack(&d, *out);
}
