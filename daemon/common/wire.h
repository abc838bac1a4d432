/* Decoding and validation of input messages (Event, Label, SeriesPoint) and encoding of
 * DeadLetter. Every input path goes through here: a message is either fully valid or
 * rejected with a reason that names the field. Decoding uses a capped allocator so a hostile
 * message cannot make the decoder allocate without bound. */
#ifndef PETRA_WIRE_H
#define PETRA_WIRE_H
#include <stddef.h>
#include <stdint.h>

#include "petra.pb-c.h"

#define WIRE_MAX_MESSAGE (4u << 20) /* bytes accepted per input message */
#define WIRE_MAX_ID 128             /* bytes of entity/series id */
#define WIRE_MAX_REPEATED 4096      /* categories, numerics or values per message */

/* Each returns the decoded message (free with wire_free) or NULL with a reason in err. */
Petra__V1__Event *wire_decode_event(const void *buf, size_t len, char *err, size_t errlen);
Petra__V1__Label *wire_decode_label(const void *buf, size_t len, char *err, size_t errlen);
Petra__V1__SeriesPoint *wire_decode_series(const void *buf, size_t len, char *err, size_t errlen);
void wire_free(void *msg);

/* The same, decoding into a reusable arena (no per-field malloc/free): the message is valid
 * until the next decode with the same arena. For the hot input path. */
#define WIRE_ARENA_SPILLS 64
typedef struct wire_arena {
  uint8_t *buf;
  size_t cap, used, budget;
  void *spill[WIRE_ARENA_SPILLS];
  int n_spill;
} wire_arena;
Petra__V1__Event *wire_decode_event_in(wire_arena *a, const void *buf, size_t len, char *err,
                                       size_t errlen);
/* The same through protobuf-c (the Event decoder above is hand-written for speed); kept to
 * check one against the other (tests, fuzz_wire). */
Petra__V1__Event *wire_decode_event_pbc_in(wire_arena *a, const void *buf, size_t len, char *err,
                                           size_t errlen);
/* The hand-written decoder alone (no validation), for comparing with protobuf-c. */
Petra__V1__Event *wire_fast_event_in(wire_arena *a, const void *buf, size_t len);
Petra__V1__Label *wire_decode_label_in(wire_arena *a, const void *buf, size_t len, char *err,
                                       size_t errlen);
Petra__V1__SeriesPoint *wire_decode_series_in(wire_arena *a, const void *buf, size_t len,
                                              char *err, size_t errlen);
void wire_arena_reset(wire_arena *a);
void wire_arena_free(wire_arena *a);

/* Serializes a DeadLetter for a rejected message; *out is malloc'ed. Returns its length. */
size_t wire_deadletter(const char *topic, int32_t partition, int64_t offset, const char *error,
                       const void *payload, size_t payload_len, const void *key, size_t key_len,
                       int64_t now_ms, uint8_t **out);
#endif
