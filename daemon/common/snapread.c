#include "snapread.h"

#include <string.h>

snapread *snapread_new(void) { return petra_snapshot_assembler_new(); }
void snapread_free(snapread *s) { petra_snapshot_assembler_free(s); }
int snapread_feed_raw(snapread *s, const char *type, const void *payload, size_t plen, const uint8_t **out,
                      size_t *len, char *err, size_t n) {
  return petra_snapshot_assembler_feed(s, type, payload, plen, out, len, err, n);
}

int snapread_feed(snapread *s, const rd_kafka_message_t *m, const uint8_t **out, size_t *len,
                  char *err, size_t n) {
  char type[16] = "snapshot";
  rd_kafka_headers_t *h;
  const void *v;
  size_t vl;
  if (rd_kafka_message_headers(m, &h) == 0 && rd_kafka_header_get_last(h, "petra-type", &v, &vl) == 0 &&
      vl < sizeof type) {
    memcpy(type, v, vl);
    type[vl] = 0;
  }
  return snapread_feed_raw(s, type, m->payload, m->len, out, len, err, n);
}
