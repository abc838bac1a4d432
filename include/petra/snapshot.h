/* Model snapshots: what petrad publishes and scoring pipelines load (protobuf
 * petra.v1.ModelSnapshot, see proto/petra.proto).
 *
 * The sha256 field covers the message serialized with sha256 empty. Readers check it,
 * the schema version, and (when they give one) the feature-schema hash, and refuse a
 * mismatch with a message that says which. */
#ifndef PETRA_SNAPSHOT_H
#define PETRA_SNAPSHOT_H
#include <stddef.h>
#include <stdint.h>

#include "petra/error.h"
#include "petra/model.h"

#define PETRA_SCHEMA_VERSION 1u

typedef struct petra_snapshot_info {
  char model_id[128];
  uint64_t version, base_version;
  int64_t created_ms;
  uint64_t examples_seen, train_steps;
  char feature_schema[512];
  uint64_t feature_schema_hash;
  char genome[1024];         /* text form; empty for the uncompressed model. The snapshot
                              * carries the (pruned) weights as the genome compiles them
                              * (int8 rows, int4 blocks, CSR for sparse fp32, else fp32) and
                              * this genome; a scorer compiles the same plan from them (the
                              * same integers; scales within an ulp). */
  char metric_name[32];
  double metric;
  int higher_is_better;
  uint64_t size_bytes;       /* packed weights */
  double latency_p50_us, latency_p99_us, throughput_per_s;
  /* encode: the input encoder whose state the snapshot carries (borrowed; NULL = none).
   * decode: NULL (petra_loaded.encoder and petra_snapshot_decode_encoder give it). */
  const struct petra_encoder *encoder;
} petra_snapshot_info;

/* Hash of a feature schema text (FNV-1a 64), as stored in snapshots. */
uint64_t petra_feature_schema_hash(const char *schema);

/* Serializes the model's weights, compressed as info->genome says, with info
 * (feature_schema_hash is computed from feature_schema). *buf is malloc'ed. */
int petra_snapshot_encode_model(const petra_model *m, const petra_snapshot_info *info,
                                uint8_t **buf, size_t *len, petra_err *err);

/* Verifies and decodes a snapshot into a new model. expect_schema_hash 0 accepts any
 * feature schema. info (may be NULL) receives the metadata. */
petra_model *petra_snapshot_decode_model(const uint8_t *buf, size_t len,
                                         uint64_t expect_schema_hash, petra_snapshot_info *info,
                                         petra_err *err);

/* The input encoder a snapshot carries: 1 with *out set (the caller frees it), 0 when the
 * snapshot has none, negative with err when it is undecodable or corrupt. Verifies the
 * snapshot's checksum first. */
int petra_snapshot_decode_encoder(const uint8_t *buf, size_t len, struct petra_encoder **out,
                                  petra_err *err);

/* A snapshot ready to score with: verified, decoded and compiled into its plan (the genome
 * it carries applied to its weights). What a scoring pipeline holds, and swaps with
 * petra_holder (petra/holder.h) when a new snapshot arrives. */
typedef struct petra_loaded {
  struct petra_plan *plan;
  petra_snapshot_info info;
  struct petra_encoder *encoder; /* the input state to score with (NULL: none), frozen */
  double load_us; /* decode + verify + plan build, µs */
} petra_loaded;

/* Verifies, decodes and compiles a serialized ModelSnapshot. NULL with err on any
 * mismatch (checksum, schema version, feature schema, genome, weights). */
petra_loaded *petra_snapshot_load(const uint8_t *buf, size_t len, uint64_t expect_schema_hash,
                                  petra_err *err);
/* Frees a petra_loaded (void * so that it can be a petra_holder's free function). */
void petra_loaded_free(void *loaded);

/* Reassembling what the snapshots topic carries: a whole ModelSnapshot per message (header
 * petra-type: snapshot, or no header) or a set of SnapshotChunk messages (petra-type: chunk)
 * in order, checked against the set's sha256_of_whole; an incomplete, out-of-order or
 * inconsistent set is discarded with a reason. At most 256 MiB per snapshot. */
typedef struct petra_snapshot_assembler petra_snapshot_assembler;
petra_snapshot_assembler *petra_snapshot_assembler_new(void);
void petra_snapshot_assembler_free(petra_snapshot_assembler *a);
/* type: the message's petra-type header ("snapshot", "chunk") or NULL. Returns 1 when a
 * complete serialized snapshot is ready (out/len valid until the next call; then verify it
 * with petra_snapshot_load), 0 when more chunks are needed or the message was discarded
 * (err says why, empty when simply waiting). */
int petra_snapshot_assembler_feed(petra_snapshot_assembler *a, const char *type, const void *payload, size_t plen,
                                  const uint8_t **out, size_t *len, char *err, size_t errlen);
#endif
