/* Schema Registry wire format (Confluent), opt-in with wire.format = confluent.
 *
 * A framed message is
 *   byte 0       magic, 0
 *   bytes 1..4   schema id, big-endian (the registry's id of proto/petra.proto for the topic)
 *   varints      message-index path: zig-zag varint count, then that many zig-zag varints,
 *                each the index of a message type in its scope (top-level types of
 *                petra.proto in file order, enums not counted); the common path [0] may be
 *                written as the single byte 0
 *   the rest     the protobuf message, unchanged
 * (Confluent's documentation, "Wire format"; Kafka's ByteUtils varints are zig-zag.)
 *
 * petra.proto has no nested messages, so every path has one element. Input checks: the
 * magic byte, the schema id configured for the topic, the index naming the message type the
 * topic carries; any mismatch is a reason for a dead letter. Output (snapshots and their
 * chunks, Metrics, DeadLetter, Score) is framed with the ids configured for those topics.
 * The state and lease topics are petra's own and stay unframed. Pure functions, no state. */
#ifndef PETRA_SREG_H
#define PETRA_SREG_H
#include <stddef.h>
#include <stdint.h>

/* The topics that can carry framed messages. */
typedef enum {
  SREG_EVENTS,
  SREG_LABELS,
  SREG_SERIES,
  SREG_SNAPSHOTS,
  SREG_METRICS,
  SREG_DEAD_LETTERS,
  SREG_SCORES,
  SREG_N_ROLES
} sreg_role;

/* Top-level message indexes in proto/petra.proto (a unit test checks them against the file). */
enum {
  SREG_MSG_EVENT = 2,
  SREG_MSG_LABEL = 3,
  SREG_MSG_SERIES = 4,
  SREG_MSG_METRICS = 8,
  SREG_MSG_SNAPSHOT = 9,
  SREG_MSG_CHUNK = 10,
  SREG_MSG_DEADLETTER = 12,
  SREG_MSG_SCORE = 13,
  SREG_N_MESSAGES = 14
};

#define SREG_MAX_HEADER 16 /* magic + id + the longest path we write */

typedef struct sreg_wire {
  int confluent;              /* 0: raw protobuf, nothing added or checked */
  int32_t id[SREG_N_ROLES];   /* schema id per topic (0 = not configured) */
} sreg_wire;

/* "events", "labels", ... (the config key suffix: wire.schema_id.<name>). */
const char *sreg_role_name(sreg_role r);
/* "petra.v1.Event" for SREG_MSG_EVENT, ... ("?" when out of range). */
const char *sreg_message_name(int msg_index);

/* Writes the header for (id, [msg_index]) to out (SREG_MAX_HEADER bytes); returns its length.
 * [0] is written in the short form (one byte 0), as Confluent's serializers do. */
size_t sreg_header(uint8_t *out, int32_t id, int msg_index);

/* Parses a header. Returns 0 and sets id, the message index and the payload offset, or −1
 * with the reason in err (short message, wrong magic, truncated or overlong varint, a count
 * that is negative or above 16, a negative index, a nested path). */
int sreg_parse(const void *buf, size_t len, int32_t *id, int *msg_index, size_t *payload_off, char *err,
               size_t errlen);

/* Input: checks a message consumed from a topic of the given role and points *payload past the
 * header. Raw mode passes the message through. Sets *msg_index (for snapshots: 9 or 10; raw:
 * −1). Returns 0 or −1 with a reason naming the expected id and type. */
int sreg_unframe(const sreg_wire *w, sreg_role role, const void *buf, size_t len, const void **payload,
                 size_t *plen, int *msg_index, char *err, size_t errlen);

/* Output: a malloc'ed copy of payload with the header of role's id and msg_index in front
 * (*out_len its length); NULL when out of memory. Only for w->confluent. */
uint8_t *sreg_frame(const sreg_wire *w, sreg_role role, int msg_index, const void *payload, size_t n,
                    size_t *out_len);
/* For a malloc'ed payload the caller hands over: raw mode returns it as it is; confluent mode
 * returns it framed in a new buffer and frees the old one (*n updated). NULL when out of
 * memory (the payload is freed then too). */
uint8_t *sreg_frame_owned(const sreg_wire *w, sreg_role role, int msg_index, uint8_t *payload, size_t *n);
/* The same into a caller's buffer; returns the length, or 0 when cap is too small. */
size_t sreg_frame_into(uint8_t *dst, size_t cap, int32_t id, int msg_index, const void *payload, size_t n);
#endif
