#include "sreg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PATH 16 /* more indexes than this is not a path into any real schema */

static const char *const role_names[SREG_N_ROLES] = {"events",  "labels",       "series", "snapshots",
                                                     "metrics", "dead_letters", "scores"};

static const char *const msg_names[SREG_N_MESSAGES] = {
    "petra.v1.Category",   "petra.v1.Numeric", "petra.v1.Event",         "petra.v1.Label",
    "petra.v1.SeriesPoint", "petra.v1.LayerGene", "petra.v1.Genome",      "petra.v1.Tensor",
    "petra.v1.Metrics",    "petra.v1.ModelSnapshot", "petra.v1.SnapshotChunk", "petra.v1.StateManifest",
    "petra.v1.DeadLetter", "petra.v1.Score"};

/* The message types each topic may carry (the first is the one to name in errors). */
static const int role_msgs[SREG_N_ROLES][2] = {
    [SREG_EVENTS] = {SREG_MSG_EVENT, -1},         [SREG_LABELS] = {SREG_MSG_LABEL, -1},
    [SREG_SERIES] = {SREG_MSG_SERIES, -1},        [SREG_SNAPSHOTS] = {SREG_MSG_SNAPSHOT, SREG_MSG_CHUNK},
    [SREG_METRICS] = {SREG_MSG_METRICS, -1},      [SREG_DEAD_LETTERS] = {SREG_MSG_DEADLETTER, -1},
    [SREG_SCORES] = {SREG_MSG_SCORE, -1}};

const char *sreg_role_name(sreg_role r) { return (unsigned)r < SREG_N_ROLES ? role_names[r] : "?"; }

const char *sreg_message_name(int i) { return i >= 0 && i < SREG_N_MESSAGES ? msg_names[i] : "?"; }

static size_t put_zigzag(uint8_t *out, int32_t v) {
  uint32_t u = ((uint32_t)v << 1) ^ (uint32_t)(v >> 31);
  size_t k = 0;
  while (u >= 0x80) {
    out[k++] = (uint8_t)(u | 0x80);
    u >>= 7;
  }
  out[k++] = (uint8_t)u;
  return k;
}

/* A zig-zag varint of at most 5 bytes (an int32, as Kafka's ByteUtils.readVarint). */
static int get_zigzag(const uint8_t *p, size_t len, size_t *at, int32_t *v) {
  uint32_t u = 0;
  for (int shift = 0; shift < 35; shift += 7) {
    if (*at >= len) return -1;
    uint8_t b = p[(*at)++];
    if (shift == 28 && (b & 0xf0)) return -2;
    u |= (uint32_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = (int32_t)((u >> 1) ^ (~(u & 1) + 1));
      return 0;
    }
  }
  return -2;
}

size_t sreg_header(uint8_t *out, int32_t id, int msg_index) {
  uint32_t u = (uint32_t)id;
  out[0] = 0;
  out[1] = (uint8_t)(u >> 24);
  out[2] = (uint8_t)(u >> 16);
  out[3] = (uint8_t)(u >> 8);
  out[4] = (uint8_t)u;
  if (msg_index == 0) {
    out[5] = 0;
    return 6;
  }
  size_t k = 5;
  k += put_zigzag(out + k, 1);
  k += put_zigzag(out + k, msg_index);
  return k;
}

int sreg_parse(const void *buf, size_t len, int32_t *id, int *msg_index, size_t *payload_off, char *err,
               size_t errlen) {
  const uint8_t *p = buf;
  if (len < 6) {
    snprintf(err, errlen, "confluent framing: %zu bytes, shorter than the 6-byte minimum header", len);
    return -1;
  }
  if (p[0] != 0) {
    snprintf(err, errlen, "confluent framing: magic byte 0x%02x, expected 0x00 (unframed protobuf?)", p[0]);
    return -1;
  }
  *id = (int32_t)((uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4]);
  size_t at = 5;
  int32_t count, idx = 0;
  int r = get_zigzag(p, len, &at, &count);
  if (r) {
    snprintf(err, errlen, "confluent framing: message-index count %s", r == -1 ? "truncated" : "longer than 5 bytes");
    return -1;
  }
  if (count < 0 || count > MAX_PATH) {
    snprintf(err, errlen, "confluent framing: message-index count %d out of range [0, %d]", (int)count, MAX_PATH);
    return -1;
  }
  for (int32_t i = 0; i < count; i++) {
    int32_t v;
    r = get_zigzag(p, len, &at, &v);
    if (r) {
      snprintf(err, errlen, "confluent framing: message index %d %s", (int)i,
               r == -1 ? "truncated" : "longer than 5 bytes");
      return -1;
    }
    if (v < 0) {
      snprintf(err, errlen, "confluent framing: message index %d is negative (%d)", (int)i, (int)v);
      return -1;
    }
    if (i == 0) idx = v;
  }
  if (count > 1) {
    snprintf(err, errlen, "confluent framing: message-index path of %d names a nested type; petra.proto has none",
             (int)count);
    return -1;
  }
  *msg_index = idx;
  *payload_off = at;
  return 0;
}

int sreg_unframe(const sreg_wire *w, sreg_role role, const void *buf, size_t len, const void **payload,
                 size_t *plen, int *msg_index, char *err, size_t errlen) {
  if (!w || !w->confluent) {
    *payload = buf;
    *plen = len;
    if (msg_index) *msg_index = -1;
    return 0;
  }
  int32_t id;
  int idx;
  size_t off;
  if (sreg_parse(buf, len, &id, &idx, &off, err, errlen)) return -1;
  if (id != w->id[role]) {
    snprintf(err, errlen, "confluent framing: schema id %d, expected %d (wire.schema_id.%s)", (int)id,
             (int)w->id[role], role_names[role]);
    return -1;
  }
  if (idx != role_msgs[role][0] && idx != role_msgs[role][1]) {
    snprintf(err, errlen, "confluent framing: message index %d (%s), the %s topic carries %s", idx,
             sreg_message_name(idx), role_names[role], msg_names[role_msgs[role][0]]);
    return -1;
  }
  *payload = (const uint8_t *)buf + off;
  *plen = len - off;
  if (msg_index) *msg_index = idx;
  return 0;
}

size_t sreg_frame_into(uint8_t *dst, size_t cap, int32_t id, int msg_index, const void *payload, size_t n) {
  uint8_t h[SREG_MAX_HEADER];
  size_t k = sreg_header(h, id, msg_index);
  if (cap < k || n > cap - k) return 0;
  memmove(dst + k, payload, n); /* payload may already sit in dst */
  memcpy(dst, h, k);
  return k + n;
}

uint8_t *sreg_frame(const sreg_wire *w, sreg_role role, int msg_index, const void *payload, size_t n,
                    size_t *out_len) {
  uint8_t *b = malloc(n + SREG_MAX_HEADER);
  if (!b) return NULL;
  *out_len = sreg_frame_into(b, n + SREG_MAX_HEADER, w->id[role], msg_index, payload, n);
  return b;
}

uint8_t *sreg_frame_owned(const sreg_wire *w, sreg_role role, int msg_index, uint8_t *payload, size_t *n) {
  if (!w->confluent || !payload) return payload;
  size_t fl;
  uint8_t *f = sreg_frame(w, role, msg_index, payload, *n, &fl);
  free(payload);
  if (f) *n = fl;
  return f;
}
