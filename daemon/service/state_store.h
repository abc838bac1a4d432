/* Where the model service keeps its state: a small interface with three implementations —
 * atomic files in the state directory (state_store_files, the local cache), memory (tests),
 * and Kafka's state topic (daemon/petrad/state_topic.c: read at start; written by petrad's
 * publisher inside its transactions, so its `save` is NULL).
 *
 * What a store holds: the newest checkpoint (ckpt, checkpoint.h: weights, optimizer, replay,
 * feature state, input offsets, generation) and the highest snapshot version reserved. A
 * snapshot version is reserved durably before the snapshot can be published, so that a restart
 * from an older checkpoint never publishes a version number twice.
 *
 * Not thread-safe: one thread uses a store at a time (the trainer thread once the service runs;
 * before that, whoever restores). */
#ifndef PETRA_STATE_STORE_H
#define PETRA_STATE_STORE_H
#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"

typedef struct state_store state_store;
struct state_store {
  const char *name; /* "file", "kafka", "memory": where a restore came from */
  /* The newest checkpoint: 1 with *c (blobs malloc'ed), 0 when there is none, −1 with err when
   * the store cannot be read or holds only damaged data. *version: the highest snapshot version
   * this store knows (reserved or committed; 0 = none), set in all three cases; owner: who wrote
   * it, when the store knows ("" otherwise). */
  int (*load)(state_store *s, ckpt *c, uint64_t *version, char *owner, size_t owner_n, char *err, size_t n);
  /* Stores the encoded checkpoint durably before returning 0 (−1 with err). NULL: written
   * elsewhere (kafka). */
  int (*save)(state_store *s, const uint8_t *b, size_t len, char *err, size_t n);
  /* Reserves snapshot version v durably (0, or −1 with err). NULL: not kept here. */
  int (*reserve)(state_store *s, uint64_t v, char *err, size_t n);
  void (*destroy)(state_store *s);
};

/* Files in dir: `checkpoint` (with `.prev`, corrupt files moved aside; checkpoint.h) and
 * `snapshot_version`. NULL when out of memory. */
state_store *state_store_files(const char *dir);
/* Memory (tests): fail_saves/fail_reserves make the next writes fail. */
typedef struct memory_store {
  state_store base;
  uint8_t *ckpt;
  size_t len;
  uint64_t version;
  int fail_saves, fail_reserves;
  int saves, reserves;
} memory_store;
memory_store *state_store_memory(void);
void state_store_free(state_store *s);

/* What a restore found: the checkpoint to resume from (or none) and the versions to continue. */
typedef struct svc_restored {
  int have;                 /* c holds a checkpoint */
  ckpt c;
  const char *source;       /* the store it came from ("" = none) */
  uint64_t snapshot_version; /* the next snapshot is this + 1 */
  uint64_t committed_version; /* what the remote store says was committed (0 = unknown) */
  char owner[160];          /* the remote's last writer, if it says */
} svc_restored;

/* The newer of the local cache and the remote store (NULL = none), by checkpoint generation.
 * Snapshot versions continue from the highest either knows. Refuses (−1 with err) when the
 * remote cannot be read and starting from the cache could publish over newer state: there is no
 * local checkpoint, or `remote_is_truth` (ha: only committed state counts; then the remote wins
 * whenever it has a checkpoint, even an older one — a local file may hold a generation whose
 * transaction never committed — and with none there, the start is fresh). Damaged local files
 * are moved aside and reported in warn. */
int svc_restore_pick(state_store *cache, state_store *remote, int remote_is_truth, svc_restored *out,
                     char *warn, size_t warn_n, char *err, size_t n);
void svc_restored_clear(svc_restored *r);
#endif
