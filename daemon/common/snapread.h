/* Reading snapshots from the snapshots topic: whole ModelSnapshot messages (header
 * petra-type: snapshot, or no header) and SnapshotChunk sets (petra-type: chunk),
 * reassembled by snapshot id; incomplete or inconsistent sets are discarded. Shared by
 * petra inspect and petra score. With w->confluent the messages are Schema Registry framed
 * (sreg.h; w may be NULL for raw). */
#ifndef PETRA_SNAPREAD_H
#define PETRA_SNAPREAD_H
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "petra/snapshot.h"
#include "sreg.h"

/* The reassembly itself is libpetra's (petra_snapshot_assembler); this adds the Kafka side. */
typedef petra_snapshot_assembler snapread;

snapread *snapread_new(void);
void snapread_free(snapread *s);
/* Feeds one consumed message (unframed first when w says so). Returns 1 when a complete serialized snapshot is ready
 * (out and len valid until the next call), 0 when more chunks are needed or the message was
 * discarded (err set when discarded for a reason). */
int snapread_feed(snapread *s, const sreg_wire *w, const rd_kafka_message_t *m, const uint8_t **out,
                  size_t *len, char *err, size_t errlen);
/* Same, from raw parts (type: "snapshot" or "chunk"); for tests and fuzzing. */
int snapread_feed_raw(snapread *s, const char *type, const void *payload, size_t plen,
                      const uint8_t **out, size_t *len, char *err, size_t errlen);
#endif
