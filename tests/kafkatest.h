/* Helpers for integration tests against the real broker started by the ctest fixture
 * (tests/kafka/broker.sh): its bootstrap address, unique topic names, produce/consume. */
#ifndef PETRA_TEST_KAFKATEST_H
#define PETRA_TEST_KAFKATEST_H
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Bootstrap address of the fixture's broker, or NULL (with a message) when none runs. */
static inline const char *kt_bootstrap(void) {
  static char addr[128];
  const char *dir = getenv("PETRA_KAFKA_DIR");
  if (!dir) dir = PETRA_BINARY_DIR "/kafka";
  char path[512];
  snprintf(path, sizeof path, "%s/bootstrap", dir);
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "no broker: %s missing (run through ctest, which starts the fixture)\n", path);
    return NULL;
  }
  if (!fgets(addr, sizeof addr, f)) addr[0] = 0;
  fclose(f);
  addr[strcspn(addr, "\r\n")] = 0;
  return addr[0] ? addr : NULL;
}

/* A topic name unique to this process and moment, so reruns never see old data. */
static inline void kt_unique(char *out, size_t n, const char *base) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  snprintf(out, n, "%s-%ld-%ld", base, (long)getpid(), (long)(ts.tv_nsec / 1000));
}

typedef void (*kt_dr_cb)(rd_kafka_t *, const rd_kafka_message_t *, void *);

/* A client of the given type; kv is a NULL-terminated list of key, value pairs; dr, when
 * not NULL, is the producer's delivery report callback. */
static inline rd_kafka_t *kt_client(rd_kafka_type_t type, const char *bootstrap,
                                    const char *const *kv, kt_dr_cb dr) {
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (dr) rd_kafka_conf_set_dr_msg_cb(conf, dr);
  if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err) != RD_KAFKA_CONF_OK)
    goto bad;
  for (; kv && kv[0]; kv += 2)
    if (rd_kafka_conf_set(conf, kv[0], kv[1], err, sizeof err) != RD_KAFKA_CONF_OK) goto bad;
  rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
  if (!rk) fprintf(stderr, "rd_kafka_new: %s\n", err);
  return rk;
bad:
  fprintf(stderr, "config: %s\n", err);
  rd_kafka_conf_destroy(conf);
  return NULL;
}
#endif
