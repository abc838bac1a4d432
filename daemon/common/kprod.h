/* A small synchronous-style Kafka producer for the offline tools (petra gen, petra replay):
 * idempotent, waits when librdkafka's queue is full (nothing dropped), counts deliveries. */
#ifndef PETRA_KPROD_H
#define PETRA_KPROD_H
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kprod {
  rd_kafka_t *rk;
  uint64_t sent, delivered, failed;
} kprod;

/* cfg (may be NULL) supplies librdkafka pass-through properties (kafka.*, producer.*: TLS,
 * SASL). An authentication or TLS failure makes kprod_send and kprod_close give up at once
 * with the reason on stderr instead of waiting for message timeouts. */
struct petrad_config;
kprod *kprod_new(const char *brokers, const struct petrad_config *cfg, char *err, size_t errlen);
/* Copies the payload; blocks (polling) while the local queue is full. Returns 0 or −1. */
int kprod_send(kprod *p, const char *topic, const void *key, size_t klen, const void *val,
               size_t vlen);
/* Flushes and frees; returns the number of messages that failed delivery (or were still
 * undelivered at the timeout). */
uint64_t kprod_close(kprod *p, int timeout_ms);
#endif
