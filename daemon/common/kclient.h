/* Kafka client settings every petra program shares: the librdkafka pass-through properties
 * of the configuration (kafka.* to every client, consumer.* / producer.* to one kind), secrets
 * kept out of messages, and the errors that mean "this will never connect" (authentication,
 * TLS) told apart from outages, with a hint where the cause is known. */
#ifndef PETRA_KCLIENT_H
#define PETRA_KCLIENT_H
#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "config.h"

/* 1 when the value of a librdkafka property is a secret (passwords, private keys, client
 * secrets): such values never appear in a message, a log line or status. */
int kclient_is_secret(const char *prop);

/* Sets the pass-through properties of c for a client of the given scope ("consumer",
 * "producer", or NULL for kafka.* only) on conf. Returns 0, or −1 with a message naming the
 * property (its value only when it is not a secret). */
int kclient_apply(rd_kafka_conf_t *conf, const petrad_config *c, const char *scope, char *err, size_t n);

/* 1 for error codes after which retrying cannot help without a configuration change:
 * authentication failed, TLS handshake failed (untrusted certificate, wrong CA). */
int kclient_fatal(int code);

/* The operator's text for an error: the reason, plus a hint when the cause is known (SCRAM with
 * a librdkafka older than 2.6.1 against a Kafka 4 broker; a certificate not trusted). */
void kclient_explain(int code, const char *reason, const petrad_config *c, char *out, size_t n);

/* For the command-line tools, which must stop rather than retry forever: installs an error
 * callback on conf that records the first fatal error of any client (any thread);
 * kclient_tool_failed() then returns its explained text (NULL while there is none). c may be
 * NULL (no configuration: plain --brokers). */
void kclient_tool_watch(rd_kafka_conf_t *conf, const petrad_config *c);
const char *kclient_tool_failed(void);
/* Closes and destroys a consumer. lost: the group has dropped this member already (its
 * session timed out: a frozen or partitioned host; petrad's lease was lost) — then
 * librdkafka 2.0's rd_kafka_consumer_close can hang forever (seen in tests/integration/ha.sh
 * with a thawed owner; fixed in 2.1), and there is no group to leave and nothing to commit,
 * so the handle is destroyed without the close. (A close served on a queue with a deadline
 * instead, rd_kafka_consumer_close_queue + rd_kafka_queue_poll_callback, aborts in 2.0.2:
 * rdkafka_queue.c:516 "res != RD_KAFKA_OP_RES_PASS".) */
void kclient_consumer_close(rd_kafka_t *rk, int lost);
#endif
