/* petra inspect: prints a snapshot's metadata, genome, tensors (shape, dtype, bytes) and
 * metrics, after verifying it. From a file, or the latest one on a Kafka topic. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cli.h"
#include "petra.pb-c.h"
#include "petra/snapshot.h"
#include "config.h"
#include "kclient.h"
#include "snapread.h"

static void print_snapshot(const uint8_t *buf, size_t len, int json) {
  petra_snapshot_info info;
  petra_err err = {0};
  petra_model *m = petra_snapshot_decode_model(buf, len, 0, &info, &err);
  if (!m) {
    fprintf(stderr, "petra inspect: %s\n", err.msg);
    return;
  }
  Petra__V1__ModelSnapshot *s = petra__v1__model_snapshot__unpack(NULL, len, buf);
  if (json) {
    printf("{\"model_id\":\"%s\",\"version\":%llu,\"base_version\":%llu,\"bytes\":%zu,"
           "\"tensors\":%zu,\"metric_name\":\"%s\",\"metric\":%.6f,\"size_bytes\":%llu,"
           "\"latency_p50_us\":%.1f,\"latency_p99_us\":%.1f,\"examples_seen\":%llu,"
           "\"feature_schema_hash\":\"%016llx\",\"verified\":true}\n",
           info.model_id, (unsigned long long)info.version, (unsigned long long)info.base_version,
           len, s ? s->n_tensors : 0, info.metric_name, info.metric,
           (unsigned long long)info.size_bytes, info.latency_p50_us, info.latency_p99_us,
           (unsigned long long)info.examples_seen, (unsigned long long)info.feature_schema_hash);
  } else {
    printf("snapshot %s version %llu (base %llu), %zu bytes, sha256 verified\n", info.model_id,
           (unsigned long long)info.version, (unsigned long long)info.base_version, len);
    printf("  spec           %s\n", s ? s->model_spec : "?");
    printf("  features       %s (hash %016llx)\n", info.feature_schema,
           (unsigned long long)info.feature_schema_hash);
    printf("  trained on     %llu examples, %llu steps\n", (unsigned long long)info.examples_seen,
           (unsigned long long)info.train_steps);
    printf("  metric         %s %.4f; size %llu bytes; latency p50 %.1f us p99 %.1f us\n",
           info.metric_name, info.metric, (unsigned long long)info.size_bytes, info.latency_p50_us,
           info.latency_p99_us);
    printf("  genome         %s\n", info.genome[0] ? info.genome : "(uncompressed fp32)");
    printf("  %-16s %-12s %-7s %10s\n", "tensor", "shape", "dtype", "bytes");
    static const char *dt[] = {"?", "f32", "i8", "i4"};
    for (size_t i = 0; s && i < s->n_tensors; i++) {
      const Petra__V1__Tensor *t = s->tensors[i];
      char shape[64] = "";
      for (size_t k = 0; k < t->n_shape; k++)
        snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%u", k ? "x" : "", t->shape[k]);
      /* bytes: values plus scales and CSR indices (as stored, before protobuf varints) */
      printf("  %-16s %-12s %-7s %10zu\n", t->name, shape, t->n_row_ptr ? "f32/csr" : dt[t->dtype <= 3 ? t->dtype : 0],
             t->data.len + sizeof(float) * t->n_scales + sizeof(uint32_t) * (t->n_row_ptr + t->n_col_idx));
    }
  }
  if (s) petra__v1__model_snapshot__free_unpacked(s, NULL);
  petra_model_free(m);
}

/* A consumer that reads a topic from the beginning under a fresh group, committing nothing. */
static rd_kafka_t *reader(const char *brokers, const petrad_config *cfg) {
  char err[1024], group[64];
  snprintf(group, sizeof group, "petra-inspect-%ld", (long)getpid());
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err) ||
      rd_kafka_conf_set(conf, "group.id", group, err, sizeof err) ||
      rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof err) ||
      rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err) ||
      (cfg && kclient_apply(conf, cfg, "consumer", err, sizeof err))) {
    fprintf(stderr, "petra inspect: %s\n", err);
    rd_kafka_conf_destroy(conf);
    return NULL;
  }
  kclient_tool_watch(conf, cfg);
  rd_kafka_t *k = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!k) fprintf(stderr, "petra inspect: %s\n", err);
  else rd_kafka_poll_set_consumer(k);
  return k;
}

int cmd_inspect(int argc, char **argv) {
  const char *brokers = NULL, *topic = "petra.snapshots", *model_id = NULL, *save = NULL;
  int json = 0, from_kafka = 0, history = 0, topic_given = 0;
  double wait_s = 10;
  static const struct option opts[] = {{"from-kafka", 0, 0, 'k'}, {"brokers", 1, 0, 'B'},
                                       {"topic", 1, 0, 't'},      {"model-id", 1, 0, 'm'},
                                       {"json", 0, 0, 'j'},       {"wait", 1, 0, 'w'},
                                       {"save", 1, 0, 's'},       {"help", 0, 0, 'h'},
                                       {"history", 0, 0, 'H'},    {"schema-id", 1, 0, 'i'},
                                       {"config", 1, 0, 'C'},     {0, 0, 0, 0}};
  const char *config = NULL;
  sreg_wire wire = {0};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
      case 'k': from_kafka = 1; break;
      case 'B': brokers = optarg; break;
      case 't':
        topic = optarg;
        topic_given = 1;
        break;
      case 'm': model_id = optarg; break;
      case 'j': json = 1; break;
      case 'H': history = 1; break;
      case 'w': wait_s = atof(optarg); break;
      case 's': save = optarg; break;
      case 'C': config = optarg; break;
      case 'i':
        wire.confluent = 1;
        wire.id[SREG_SNAPSHOTS] = atoi(optarg);
        break;
      case 'h':
        printf("usage: petra inspect SNAPSHOT_FILE [--json]\n"
               "       petra inspect --from-kafka --brokers B [--topic T] [--model-id ID] [--wait S] [--json]\n"
               "                     [--save FILE | --history] [--schema-id ID] [--config petrad.conf]\n"
               "The Kafka form reads the whole topic (committed transactions only, as scorers do)\n"
               "and prints the newest verified snapshot (--save writes it, reassembled, to FILE:\n"
               "e.g. for petra score --snapshot); --history prints every verified snapshot in\n"
               "topic order instead, one line each (partition@offset, model, version, bytes).\n"
               "--schema-id ID: the topic is in the Schema Registry wire format (wire.format =\n"
               "confluent) with this schema id. --config takes kafka.brokers, the librdkafka\n"
               "properties (TLS, SASL) and, unless --topic is given, topics.snapshots from a petrad\n"
               "configuration file.\n");
        return 0;
      default: return 2;
    }
  }
  if (!from_kafka) {
    if (optind >= argc) {
      fprintf(stderr, "petra inspect: give a snapshot file, or --from-kafka\n");
      return 2;
    }
    uint8_t *buf;
    size_t len;
    int rc = read_whole_file(argv[optind], &buf, &len);
    if (rc) {
      fprintf(stderr, "petra inspect: %s: %s\n", argv[optind], strerror(-rc));
      return 1;
    }
    petra_err err = {0};
    petra_model *m = petra_snapshot_decode_model(buf, len, 0, NULL, &err);
    if (!m) {
      fprintf(stderr, "petra inspect: %s: %s\n", argv[optind], err.msg);
      free(buf);
      return 1;
    }
    petra_model_free(m);
    print_snapshot(buf, len, json);
    free(buf);
    return 0;
  }
  static petrad_config cfg;
  if (cli_load_config(config, &cfg, &brokers, "petra inspect")) return 2;
  if (config && !topic_given) topic = cfg.topic_snapshots;
  if (config && !wire.confluent) petrad_config_wire(&cfg, &wire); /* framing as petrad writes it */
  if (!brokers) {
    fprintf(stderr, "petra inspect: --from-kafka needs --brokers (or --config with kafka.brokers)\n");
    return 2;
  }
  rd_kafka_t *k = reader(brokers, config ? &cfg : NULL);
  if (!k) return 1;
  rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(t, topic, RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(k, t);
  rd_kafka_topic_partition_list_destroy(t);
  snapread *sr = snapread_new();
  uint8_t *best = NULL;
  size_t best_len = 0;
  uint64_t best_version = 0;
  int found = 0, rejected = 0;
  double t0 = cli_now_s(), last_msg = 0;
  int failed = 0;
  while (cli_now_s() - t0 < wait_s && !(found && cli_now_s() - last_msg > 2.0)) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(k, 100);
    if (kclient_tool_failed()) { /* wrong password, untrusted certificate: waiting cannot help */
      fprintf(stderr, "petra inspect: kafka %s\n", kclient_tool_failed());
      failed = 1;
      if (m) rd_kafka_message_destroy(m);
      break;
    }
    if (!m) continue;
    if (!m->err) {
      last_msg = cli_now_s();
      const uint8_t *snap;
      size_t len;
      char err[256];
      if (snapread_feed(sr, &wire, m, &snap, &len, err, sizeof err) == 1) {
        petra_snapshot_info info;
        petra_err pe = {0};
        petra_model *mod = petra_snapshot_decode_model(snap, len, 0, &info, &pe);
        if (!mod) {
          rejected++;
          fprintf(stderr, "petra inspect: rejected snapshot at offset %lld: %s\n",
                  (long long)m->offset, pe.msg);
        } else if (history && (!model_id || !strcmp(model_id, info.model_id))) {
          /* one line per verified snapshot in topic order (read_committed: what scorers see) */
          printf(json ? "{\"partition\":%d,\"offset\":%lld,\"model_id\":\"%s\",\"version\":%llu,\"bytes\":%zu}\n"
                      : "%d@%lld %s version %llu, %zu bytes\n",
                 m->partition, (long long)m->offset, info.model_id, (unsigned long long)info.version, len);
          found = 1;
        }
        if (mod && !history && (!model_id || !strcmp(model_id, info.model_id)) && info.version >= best_version) {
          free(best);
          best = malloc(len);
          memcpy(best, snap, len);
          best_len = len;
          best_version = info.version;
          found = 1;
        }
        petra_model_free(mod);
      } else if (err[0]) {
        rejected++;
        fprintf(stderr, "petra inspect: %s\n", err);
      }
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(k);
  rd_kafka_destroy(k);
  snapread_free(sr);
  if (failed) {
    free(best);
    return 1;
  }
  if (!found) {
    fprintf(stderr, "petra inspect: no verified snapshot on %s within %.0f s (%d rejected)\n", topic,
            wait_s, rejected);
    return 1;
  }
  if (history) return rejected ? 1 : 0;
  print_snapshot(best, best_len, json);
  int rc = 0;
  if (save) {
    char err[512];
    FILE *f = fopen(save, "wb");
    if (!f || fwrite(best, 1, best_len, f) != best_len) {
      snprintf(err, sizeof err, "cannot write %s", save);
      fprintf(stderr, "petra inspect: %s\n", err);
      rc = 1;
    }
    if (f && fclose(f)) rc = 1;
  }
  free(best);
  return rc;
}
