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

kprod *kprod_new(const char *brokers, char *err, size_t errlen);
/* Copies the payload; blocks (polling) while the local queue is full. Returns 0 or −1. */
int kprod_send(kprod *p, const char *topic, const void *key, size_t klen, const void *val,
               size_t vlen);
/* Flushes and frees; returns the number of messages that failed delivery (or were still
 * undelivered at the timeout). */
uint64_t kprod_close(kprod *p, int timeout_ms);
#endif
