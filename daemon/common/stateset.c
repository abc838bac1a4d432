#include "stateset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "petra.pb-c.h"
#include "petra/sha256.h"

typedef struct chunk_slot {
  uint32_t slot, seq;
  uint64_t version;
  uint32_t total;
  uint8_t *data;
  size_t len;
} chunk_slot;

struct stateset {
  char prefix[160], mkey[160], vkey[176];
  chunk_slot *chunks; /* the newest value of each chunk key seen, in first-seen order */
  size_t n, cap;
  Petra__V1__StateManifest *mf;
  uint64_t snapshot_version;
  char owner[160];
};

stateset *stateset_new(const char *model_id) {
  stateset *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  snprintf(s->prefix, sizeof s->prefix, "%s/state/", model_id);
  snprintf(s->mkey, sizeof s->mkey, "%s/state", model_id);
  snprintf(s->vkey, sizeof s->vkey, "%s/state/version", model_id);
  return s;
}

static chunk_slot *find(stateset *s, uint32_t slot, uint32_t seq) {
  for (size_t i = 0; i < s->n; i++)
    if (s->chunks[i].slot == slot && s->chunks[i].seq == seq) return &s->chunks[i];
  return NULL;
}

static int key_is(const void *key, size_t klen, const char *want) {
  return klen == strlen(want) && !memcmp(key, want, klen);
}

void stateset_feed(stateset *s, const void *key, size_t klen, const void *val, size_t vlen) {
  if (!s || !key) return;
  if (key_is(key, klen, s->vkey)) {
    Petra__V1__StateManifest *x = petra__v1__state_manifest__unpack(NULL, vlen, val);
    if (x) {
      if (x->snapshot_version > s->snapshot_version) s->snapshot_version = x->snapshot_version;
      if (x->owner) snprintf(s->owner, sizeof s->owner, "%s", x->owner);
      petra__v1__state_manifest__free_unpacked(x, NULL);
    }
  } else if (key_is(key, klen, s->mkey)) {
    Petra__V1__StateManifest *x = petra__v1__state_manifest__unpack(NULL, vlen, val);
    if (s->mf) petra__v1__state_manifest__free_unpacked(s->mf, NULL);
    s->mf = x; /* the newest value wins even when it is not a manifest: then there is none */
  } else if (klen > strlen(s->prefix) && klen < 200 && !memcmp(key, s->prefix, strlen(s->prefix))) {
    /* the key says which slot and chunk; the newest value of a key wins even when it is not
     * a valid chunk (then the slot entry is empty: the set cannot be assembled) */
    char kb[200];
    memcpy(kb, key, klen);
    kb[klen] = 0;
    unsigned slot = 9, seq = STATESET_MAX_CHUNKS;
    char tail;
    if (sscanf(kb + strlen(s->prefix), "%u/%u%c", &slot, &seq, &tail) != 2 || slot >= 2 ||
        seq >= STATESET_MAX_CHUNKS)
      return;
    chunk_slot *c = find(s, slot, seq);
    if (!c) {
      if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        chunk_slot *g = realloc(s->chunks, cap * sizeof *g);
        if (!g) return;
        s->chunks = g;
        s->cap = cap;
      }
      c = &s->chunks[s->n++];
      c->data = NULL;
    }
    free(c->data);
    memset(c, 0, sizeof *c);
    c->slot = slot;
    c->seq = seq;
    Petra__V1__SnapshotChunk *k = petra__v1__snapshot_chunk__unpack(NULL, vlen, val);
    if (k && k->seq == seq && k->total <= STATESET_MAX_CHUNKS && (c->data = malloc(k->data.len ? k->data.len : 1))) {
      if (k->data.len) memcpy(c->data, k->data.data, k->data.len);
      c->len = k->data.len;
      c->version = k->version;
      c->total = k->total;
    }
    if (k) petra__v1__snapshot_chunk__free_unpacked(k, NULL);
  }
}

int stateset_result(stateset *s, state_found *out, char *err, size_t n) {
  memset(out, 0, sizeof *out);
  out->snapshot_version = s->snapshot_version;
  snprintf(out->owner, sizeof out->owner, "%s", s->owner);
  Petra__V1__StateManifest *mf = s->mf;
  if (!mf) return 0;
  size_t len = (size_t)mf->length, have = 0;
  /* every chunk of the set present, of its generation, adding up to its length: checked
   * before anything of that length is allocated (a manifest may say anything) */
  int ok = mf->slot < 2 && mf->total >= 1 && mf->total <= STATESET_MAX_CHUNKS;
  for (uint32_t i = 0; ok && i < mf->total; i++) {
    chunk_slot *c = find(s, mf->slot, i);
    ok = c && c->data && c->version == mf->generation && c->total == mf->total && (have += c->len) <= len;
  }
  uint8_t *buf = ok && have == len ? malloc(len ? len : 1) : NULL;
  ok = buf != NULL;
  size_t off = 0;
  for (uint32_t i = 0; ok && i < mf->total; i++) {
    chunk_slot *c = find(s, mf->slot, i);
    memcpy(buf + off, c->data, c->len);
    off += c->len;
  }
  uint8_t digest[32];
  if (ok) petra_sha256_digest(buf, len, digest);
  if (!ok || off != len || mf->sha256.len != 32 || memcmp(digest, mf->sha256.data, 32)) {
    snprintf(err, n, "generation %llu is incomplete or does not match its sha256", (unsigned long long)mf->generation);
    free(buf);
    return -1;
  }
  out->buf = buf;
  out->len = len;
  out->generation = mf->generation;
  if (mf->snapshot_version > out->snapshot_version) out->snapshot_version = mf->snapshot_version;
  if (mf->owner && mf->owner[0] && !out->owner[0]) snprintf(out->owner, sizeof out->owner, "%s", mf->owner);
  return 1;
}

void stateset_free(stateset *s) {
  if (!s) return;
  for (size_t i = 0; i < s->n; i++) free(s->chunks[i].data);
  free(s->chunks);
  if (s->mf) petra__v1__state_manifest__free_unpacked(s->mf, NULL);
  free(s);
}
