/* Assembling petrad's training state from the records of topics.state (pure: no Kafka; the
 * reader in daemon/petrad/state_topic.c feeds it what it consumes, fuzz_state feeds it
 * anything). Records of one model, as compaction would keep them (the newest value of a key
 * wins, whatever it holds): chunks keyed <model>/state/<slot>/<seq>, the manifest keyed
 * <model>/state naming generation, slot, chunk count, length and sha256, and (ha) the version
 * record <model>/state/version. Records of other models are ignored. */
#ifndef PETRA_STATESET_H
#define PETRA_STATESET_H
#include <stddef.h>
#include <stdint.h>

#define STATESET_MAX_CHUNKS 4096

typedef struct state_found {
  uint8_t *buf;              /* the checkpoint (malloc'ed), NULL when there is none */
  size_t len;
  uint64_t generation;
  uint64_t snapshot_version; /* newest committed snapshot version (ha), 0 = unknown */
  char owner[160];           /* who wrote the newest manifest or version record */
} state_found;

typedef struct stateset stateset;

stateset *stateset_new(const char *model_id);
void stateset_feed(stateset *s, const void *key, size_t klen, const void *val, size_t vlen);
/* 1 with out->buf (the set the newest manifest names, whole and matching its sha256), 0 when
 * there is no manifest (out->snapshot_version may still be set), −1 with err when the set is
 * incomplete or does not match. */
int stateset_result(stateset *s, state_found *out, char *err, size_t n);
void stateset_free(stateset *s);
#endif
