/* Topic administration through librdkafka's Admin API, blocking (start-up and tools only):
 * how many partitions a topic has, and creating one. */
#ifndef PETRA_KADMIN_H
#define PETRA_KADMIN_H
#include <librdkafka/rdkafka.h>
#include <stddef.h>

/* Partitions of topic (>0), 0 when it does not exist, −1 with err when the metadata could
 * not be read. Does not create it (auto-creation answers "unknown" first). */
int kadmin_partitions(rd_kafka_t *rk, const char *topic, char *err, size_t n);
/* The same, waiting at most timeout_ms for the metadata (kadmin_partitions waits 10 s). */
int kadmin_partitions_within(rd_kafka_t *rk, const char *topic, int timeout_ms, char *err, size_t n);
/* Creates topic with this many partitions and the broker's replication factor;
 * cleanup_policy NULL or e.g. "compact". Already existing is success. 0 or −1 with err. */
int kadmin_create(rd_kafka_t *rk, const char *topic, int partitions, const char *cleanup_policy, char *err,
                  size_t n);
/* kadmin_partitions, and kadmin_create when missing: the partition count after, or −1. */
int kadmin_ensure(rd_kafka_t *rk, const char *topic, int partitions, const char *cleanup_policy, char *err,
                  size_t n);
#endif
