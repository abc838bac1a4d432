#include "state_store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* ---------------------------------------------------------------- files */

typedef struct file_store {
  state_store base;
  char dir[1024];
} file_store;

static int files_load(state_store *s, ckpt *c, uint64_t *version, char *owner, size_t owner_n, char *err,
                      size_t n) {
  file_store *f = (file_store *)s;
  if (owner_n) owner[0] = 0;
  *version = 0;
  /* versions reserved after the checkpoint was written */
  char vpath[1100];
  snprintf(vpath, sizeof vpath, "%s/snapshot_version", f->dir);
  uint8_t *vb;
  size_t vlen;
  if (read_whole_file(vpath, &vb, &vlen) == 0) {
    char text[32];
    size_t k = vlen < sizeof text - 1 ? vlen : sizeof text - 1;
    memcpy(text, vb, k);
    text[k] = 0;
    *version = strtoull(text, NULL, 10);
    free(vb);
  }
  int rc = ckpt_read(f->dir, "checkpoint", c, err, n);
  if (rc == 1 && c->snapshot_version > *version) *version = c->snapshot_version;
  return rc;
}

static int files_save(state_store *s, const uint8_t *b, size_t len, char *err, size_t n) {
  file_store *f = (file_store *)s;
  char e2[768];
  int rc = atomic_write_file(f->dir, "checkpoint", b, len, 1, e2, sizeof e2);
  if (rc) snprintf(err, n, "checkpoint: %.480s", e2);
  return rc ? -1 : 0;
}

static int files_reserve(state_store *s, uint64_t v, char *err, size_t n) {
  file_store *f = (file_store *)s;
  char text[32];
  int l = snprintf(text, sizeof text, "%llu\n", (unsigned long long)v);
  return atomic_write_file(f->dir, "snapshot_version", text, (size_t)l, 0, err, n) ? -1 : 0;
}

static void plain_destroy(state_store *s) { free(s); }

state_store *state_store_files(const char *dir) {
  file_store *f = calloc(1, sizeof *f);
  if (!f) return NULL;
  snprintf(f->dir, sizeof f->dir, "%s", dir);
  f->base = (state_store){.name = "file", .load = files_load, .save = files_save, .reserve = files_reserve,
                          .destroy = plain_destroy};
  return &f->base;
}

/* ---------------------------------------------------------------- memory */

static int mem_load(state_store *s, ckpt *c, uint64_t *version, char *owner, size_t owner_n, char *err,
                    size_t n) {
  memory_store *m = (memory_store *)s;
  if (owner_n) owner[0] = 0;
  *version = m->version;
  if (!m->ckpt) return 0;
  if (ckpt_decode(m->ckpt, m->len, c, err, n)) return -1;
  if (c->snapshot_version > *version) *version = c->snapshot_version;
  return 1;
}

static int mem_save(state_store *s, const uint8_t *b, size_t len, char *err, size_t n) {
  memory_store *m = (memory_store *)s;
  if (m->fail_saves) {
    m->fail_saves--;
    snprintf(err, n, "checkpoint: no space left on device (memory store, injected)");
    return -1;
  }
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) {
    snprintf(err, n, "checkpoint: out of memory");
    return -1;
  }
  memcpy(copy, b, len);
  free(m->ckpt);
  m->ckpt = copy;
  m->len = len;
  m->saves++;
  return 0;
}

static int mem_reserve(state_store *s, uint64_t v, char *err, size_t n) {
  memory_store *m = (memory_store *)s;
  if (m->fail_reserves) {
    m->fail_reserves--;
    snprintf(err, n, "snapshot_version: no space left on device (memory store, injected)");
    return -1;
  }
  m->version = v;
  m->reserves++;
  return 0;
}

static void mem_destroy(state_store *s) {
  memory_store *m = (memory_store *)s;
  free(m->ckpt);
  free(m);
}

memory_store *state_store_memory(void) {
  memory_store *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->base = (state_store){.name = "memory", .load = mem_load, .save = mem_save, .reserve = mem_reserve,
                          .destroy = mem_destroy};
  return m;
}

void state_store_free(state_store *s) {
  if (s && s->destroy) s->destroy(s);
}

/* ---------------------------------------------------------------- restore */

void svc_restored_clear(svc_restored *r) {
  if (r->have) ckpt_clear(&r->c);
  memset(r, 0, sizeof *r);
  r->source = "";
}

int svc_restore_pick(state_store *cache, state_store *remote, int remote_is_truth, svc_restored *out,
                     char *warn, size_t warn_n, char *err, size_t n) {
  memset(out, 0, sizeof *out);
  out->source = "";
  if (warn_n) warn[0] = 0;
  ckpt lc, rcp;
  memset(&lc, 0, sizeof lc);
  memset(&rcp, 0, sizeof rcp);
  uint64_t lv = 0, rv = 0;
  char lerr[1024] = "", rerr[768] = "", lowner[8];
  int lrc = cache ? cache->load(cache, &lc, &lv, lowner, sizeof lowner, lerr, sizeof lerr) : 0;
  if (lrc < 0) snprintf(warn, warn_n, "%s", lerr); /* moved aside: start as if it were not there */
  int have_local = lrc == 1;
  int rrc = 0;
  if (remote) {
    rrc = remote->load(remote, &rcp, &rv, out->owner, sizeof out->owner, rerr, sizeof rerr);
    out->committed_version = rv;
    if (rrc < 0 && (!have_local || remote_is_truth)) {
      /* starting fresh would publish generation 1 over the real state: refuse instead (ha: so
       * would an older local file) */
      snprintf(err, n, "%.700s; %s: not starting fresh over it", rerr,
               have_local ? "ha.enabled: the local checkpoint may be older than what was committed"
                          : "no local checkpoint either");
      if (have_local) ckpt_clear(&lc);
      return -1;
    }
    if (rrc < 0) {
      LOG_ERROR("state_topic_unreadable", "error=\"%s\" action=\"using the local checkpoint\"", rerr);
      rv = out->committed_version = 0; /* nothing it says counts */
    }
  }
  out->snapshot_version = lv > rv ? lv : rv;
  if (rrc == 1 && (!have_local || rcp.generation > lc.generation || remote_is_truth)) {
    LOG_INFO("state_topic_newer", "generation=%llu local_generation=%llu", (unsigned long long)rcp.generation,
             have_local ? (unsigned long long)lc.generation : 0ULL);
    if (have_local) ckpt_clear(&lc);
    out->c = rcp;
    out->have = 1;
    out->source = remote->name;
  } else if (remote && remote_is_truth && rrc == 0) {
    /* ha: the topic holds no committed checkpoint, so neither the model nor any input offsets
     * were ever committed: a local file holds state nobody committed (its input is read again
     * from the group's offsets, which are none) — start fresh */
    if (have_local) {
      LOG_WARN("local_checkpoint_uncommitted", "generation=%llu action=\"ignored: starting fresh, as committed\"",
               (unsigned long long)lc.generation);
      ckpt_clear(&lc);
    }
  } else {
    if (rrc == 1) {
      LOG_INFO("state_topic_not_newer", "generation=%llu local_generation=%llu", (unsigned long long)rcp.generation,
               (unsigned long long)lc.generation);
      ckpt_clear(&rcp);
    }
    if (have_local) {
      out->c = lc;
      out->have = 1;
      out->source = cache->name;
    }
  }
  return 0;
}
