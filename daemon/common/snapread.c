#include "snapread.h"

#include <stdio.h>
#include <string.h>

snapread *snapread_new(void) { return petra_snapshot_assembler_new(); }
void snapread_free(snapread *s) { petra_snapshot_assembler_free(s); }
int snapread_feed_raw(snapread *s, const char *type, const void *payload, size_t plen, const uint8_t **out,
                      size_t *len, char *err, size_t n) {
  return petra_snapshot_assembler_feed(s, type, payload, plen, out, len, err, n);
}

int snapread_feed(snapread *s, const sreg_wire *w, const rd_kafka_message_t *m, const uint8_t **out,
                  size_t *len, char *err, size_t n) {
  char type[16] = "snapshot";
  rd_kafka_headers_t *h;
  const void *v;
  size_t vl;
  if (rd_kafka_message_headers(m, &h) == 0 && rd_kafka_header_get_last(h, "petra-type", &v, &vl) == 0 &&
      vl < sizeof type) {
    memcpy(type, v, vl);
    type[vl] = 0;
  }
  const void *pl;
  size_t plen;
  int mi;
  if (sreg_unframe(w, SREG_SNAPSHOTS, m->payload, m->len, &pl, &plen, &mi, err, n)) return 0;
  if (mi >= 0) { /* framed: the message index says which of the two it is */
    const char *t = mi == SREG_MSG_CHUNK ? "chunk" : "snapshot";
    if (strcmp(type, t) && (rd_kafka_message_headers(m, &h) == 0 &&
                            rd_kafka_header_get_last(h, "petra-type", &v, &vl) == 0)) {
      snprintf(err, n, "header petra-type: %s but the message index names %s", type, sreg_message_name(mi));
      return 0;
    }
    snprintf(type, sizeof type, "%s", t);
  }
  return snapread_feed_raw(s, type, pl, plen, out, len, err, n);
}
