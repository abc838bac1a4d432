/* Reassembly of snapshots from the snapshots topic (whole messages or SnapshotChunk sets). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "petra.pb-c.h"
#include "petra/sha256.h"
#include "petra/snapshot.h"

#define MAX_SNAPSHOT (256u << 20)

struct petra_snapshot_assembler {
  char id[256];
  uint32_t next, total;
  uint8_t sha[32];
  uint8_t *buf;
  size_t len, cap;
  uint8_t *done; /* last complete snapshot handed out */
};

petra_snapshot_assembler *petra_snapshot_assembler_new(void) { return calloc(1, sizeof(petra_snapshot_assembler)); }

void petra_snapshot_assembler_free(petra_snapshot_assembler *s) {
  if (!s) return;
  free(s->buf);
  free(s->done);
  free(s);
}

static void reset(petra_snapshot_assembler *s) {
  s->id[0] = 0;
  s->next = s->total = 0;
  s->len = 0;
}

int petra_snapshot_assembler_feed(petra_snapshot_assembler *s, const char *type, const void *payload, size_t plen,
                                  const uint8_t **out, size_t *len, char *err, size_t n) {
  err[0] = 0;
  if (!type || !strcmp(type, "snapshot")) {
    free(s->done);
    s->done = malloc(plen ? plen : 1);
    if (!s->done) return 0;
    memcpy(s->done, payload, plen);
    *out = s->done;
    *len = plen;
    return 1;
  }
  if (strcmp(type, "chunk")) {
    snprintf(err, n, "unknown petra-type '%s'", type);
    return 0;
  }
  Petra__V1__SnapshotChunk *c = petra__v1__snapshot_chunk__unpack(NULL, plen, payload);
  if (!c) {
    snprintf(err, n, "undecodable snapshot chunk");
    return 0;
  }
  int rc = 0;
  if (c->total == 0 || c->seq >= c->total || c->sha256_of_whole.len != 32 || !c->snapshot_id ||
      strlen(c->snapshot_id) >= sizeof s->id) {
    snprintf(err, n, "invalid chunk (seq %u of %u)", c->seq, c->total);
    goto out;
  }
  if (c->seq == 0) {
    reset(s);
    snprintf(s->id, sizeof s->id, "%s", c->snapshot_id);
    s->total = c->total;
    memcpy(s->sha, c->sha256_of_whole.data, 32);
  } else if (strcmp(s->id, c->snapshot_id) || c->seq != s->next || c->total != s->total) {
    snprintf(err, n, "chunk %u of %s out of order: incomplete set discarded", c->seq, c->snapshot_id);
    reset(s);
    goto out;
  }
  if (s->len + c->data.len > MAX_SNAPSHOT) {
    snprintf(err, n, "snapshot %s larger than %u bytes", c->snapshot_id, MAX_SNAPSHOT);
    reset(s);
    goto out;
  }
  if (s->len + c->data.len > s->cap) {
    size_t cap = s->cap ? s->cap : 65536;
    while (cap < s->len + c->data.len) cap *= 2;
    uint8_t *b = realloc(s->buf, cap);
    if (!b) {
      reset(s);
      goto out;
    }
    s->buf = b;
    s->cap = cap;
  }
  if (c->data.len) memcpy(s->buf + s->len, c->data.data, c->data.len); /* empty chunk: data NULL */
  s->len += c->data.len;
  s->next = c->seq + 1;
  if (s->next == s->total) {
    uint8_t got[32];
    petra_sha256_digest(s->buf, s->len, got);
    if (memcmp(got, s->sha, 32)) {
      snprintf(err, n, "snapshot %s: reassembled bytes do not match sha256_of_whole", s->id);
    } else {
      free(s->done);
      s->done = malloc(s->len ? s->len : 1);
      if (s->done) {
        if (s->len) memcpy(s->done, s->buf, s->len); /* an empty snapshot has no buffer */
        *out = s->done;
        *len = s->len;
        rc = 1;
      }
    }
    reset(s);
  }
out:
  petra__v1__snapshot_chunk__free_unpacked(c, NULL);
  return rc;
}

