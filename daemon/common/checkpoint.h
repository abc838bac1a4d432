/* petrad's checkpoint file: trainer state (libpetra's checkpoint bytes), feature state,
 * per-partition input offsets and the daemon's counters, with a hash over all of it.
 * Written atomically: temp file, fsync, the previous file kept as `<name>.prev`, rename,
 * fsync of the directory. Loading tries the file, then `.prev`; a corrupt file is moved
 * aside as `<name>.corrupt-<unix time>` and reported. */
#ifndef PETRA_CHECKPOINT_H
#define PETRA_CHECKPOINT_H
#include <stddef.h>
#include <stdint.h>

#define CKPT_MAX_OFFSETS 1024

typedef struct ckpt_offset {
  char topic[128];
  int32_t partition;
  int64_t offset; /* next offset to consume */
} ckpt_offset;

typedef struct ckpt {
  uint64_t generation;       /* 1, 2, ... per checkpoint of this model (the newer of two wins) */
  uint64_t snapshot_version; /* last snapshot version handed to the producer */
  uint64_t events, dead_letters;
  int n_offsets;
  ckpt_offset offsets[CKPT_MAX_OFFSETS];
  uint8_t *trainer;  /* libpetra trainer checkpoint */
  size_t trainer_len;
  uint8_t *features; /* feature state */
  size_t features_len;
} ckpt;

/* Serializes and writes c to dir/name atomically. Returns 0 or −errno (message in err). */
int ckpt_write(const char *dir, const char *name, const ckpt *c, char *err, size_t errlen);
/* Loads dir/name (or .prev). Returns 1 loaded, 0 none present, −1 on error (all candidates
 * corrupt: they are moved aside; err says what happened). c's blobs are malloc'ed. */
int ckpt_read(const char *dir, const char *name, ckpt *c, char *err, size_t errlen);
void ckpt_clear(ckpt *c);
/* Writes buf to dir/name atomically (temp file, fsync, rename, fsync of dir); keep_prev
 * renames an existing file to name.prev first. Returns 0 or −errno (message in err). */
int atomic_write_file(const char *dir, const char *name, const void *buf, size_t len,
                      int keep_prev, char *err, size_t errlen);
/* Reads a whole small file; returns 0, −ENOENT when absent, or −errno. *buf is malloc'ed. */
int read_whole_file(const char *path, uint8_t **buf, size_t *len);

/* Encode/decode without files (for tests and fuzzing). */
int ckpt_encode(const ckpt *c, uint8_t **buf, size_t *len);
int ckpt_decode(const uint8_t *buf, size_t len, ckpt *c, char *err, size_t errlen);
#endif
