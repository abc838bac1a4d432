/* petra gen: synthetic transactions or series, as CSV on stdout or as protobuf to Kafka.
 * petra replay: streams a CSV file to Kafka as protobuf Events or SeriesPoints. */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "csv.h"
#include "csvmap.h"
#include "gen.h"
#include "kadmin.h"
#include "kprod.h"
#include "petra/snapshot.h"
#include "sreg.h"

/* Sleeps as needed so that `done` messages take done/rate seconds since t0. */
static void pace(double t0, uint64_t done, double rate) {
  if (rate <= 0) return;
  double ahead = (double)done / rate - (cli_now_s() - t0);
  if (ahead > 0.001) usleep((useconds_t)(ahead * 1e6));
}

int cli_load_config(const char *path, petrad_config *cfg, const char **brokers, const char *who) {
  if (!path) return 0;
  char err[1024];
  petrad_config_defaults(cfg);
  if (petrad_config_load(cfg, path, err, sizeof err)) {
    fprintf(stderr, "%s: %s\n", who, err);
    return 2;
  }
  if (!*brokers && cfg->brokers[0]) *brokers = cfg->brokers;
  return 0;
}

int cmd_gen(int argc, char **argv) {
  const char *kind = "tx", *brokers = NULL, *t_events = "petra.events", *t_labels = "petra.labels",
             *t_series = "petra.series";
  long count = 10000;
  double rate = 0;
  int bad_every = 0, partitions = 0;
  gen_conf gc = gen_defaults();
  static const struct option opts[] = {
      {"kind", 1, 0, 'k'},          {"count", 1, 0, 'n'},         {"seed", 1, 0, 's'},
      {"entities", 1, 0, 'e'},      {"bad-every", 1, 0, 'b'},     {"brokers", 1, 0, 'B'},
      {"events-topic", 1, 0, 'E'},  {"labels-topic", 1, 0, 'L'},  {"series-topic", 1, 0, 'S'},
      {"rate", 1, 0, 'r'},          {"channels", 1, 0, 'c'},      {"help", 0, 0, 'h'},
      {"partitions", 1, 0, 'P'},    {"schema-id", 1, 0, 'i'},     {"config", 1, 0, 'C'},
      {0, 0, 0, 0}};
  const char *config = NULL;
  int32_t sid[2] = {0, 0}; /* Schema Registry framing: events (or series), labels */
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
      case 'k': kind = optarg; break;
      case 'n': count = atol(optarg); break;
      case 's': gc.seed = strtoull(optarg, NULL, 10); break;
      case 'e': gc.entities = atoi(optarg); break;
      case 'b': bad_every = atoi(optarg); break;
      case 'B': brokers = optarg; break;
      case 'E': t_events = optarg; break;
      case 'L': t_labels = optarg; break;
      case 'S': t_series = optarg; break;
      case 'r': rate = atof(optarg); break;
      case 'c': gc.series_channels = atoi(optarg); break;
      case 'P': partitions = atoi(optarg); break;
      case 'C': config = optarg; break;
      case 'i': {
        char *e;
        long a = strtol(optarg, &e, 10), b = *e == ',' ? strtol(e + 1, &e, 10) : 0;
        if (*e || a < 1 || a > INT32_MAX || b < 0 || b > INT32_MAX) {
          fprintf(stderr, "petra gen: --schema-id %s: expected ID or EVENTS_ID,LABELS_ID (positive)\n", optarg);
          return 2;
        }
        sid[0] = (int32_t)a;
        sid[1] = (int32_t)b;
        break;
      }
      case 'h':
        printf("usage: petra gen [--kind tx|series] [--count N] [--seed S] [--entities N]\n"
               "                 [--channels C] [--bad-every K]\n"
               "                 [--brokers B [--events-topic T] [--labels-topic T] [--series-topic T]\n"
               "                  [--rate MSGS_PER_S] [--partitions N] [--schema-id ID[,ID]]]\n"
               "                 [--config petrad.conf]\n"
               "--config takes kafka.brokers and the librdkafka properties (kafka.*, producer.*:\n"
               "TLS, SASL) from a petrad configuration file.\n"
               "--partitions N creates missing topics with N partitions (messages are keyed by\n"
               "entity, so an entity's events stay in one partition).\n"
               "--schema-id frames messages in the Schema Registry wire format (wire.format =\n"
               "confluent): tx takes EVENTS_ID,LABELS_ID, series one SERIES_ID.\n"
               "Without --brokers, writes CSV to stdout. --bad-every K makes every K-th message\n"
               "malformed (for dead-letter tests).\n");
        return 0;
      default: return 2;
    }
  }
  int tx = !strcmp(kind, "tx");
  if (tx && sid[0] && !sid[1]) {
    fprintf(stderr, "petra gen: --kind tx --schema-id needs EVENTS_ID,LABELS_ID\n");
    return 2;
  }
  if ((!tx && strcmp(kind, "series")) || count < 0 || gc.entities < 1 || bad_every < 0 ||
      gc.series_channels < 1 || gc.series_channels > 64) {
    fprintf(stderr, "petra gen: --kind tx|series, --count >= 0, --entities >= 1, --channels 1..64\n");
    return 2;
  }
  static petrad_config cfg;
  char err[1024];
  if (cli_load_config(config, &cfg, &brokers, "petra gen")) return 2;
  gen *g = gen_new(&gc);
  kprod *p = NULL;
  if (brokers && !(p = kprod_new(brokers, config ? &cfg : NULL, err, sizeof err))) {
    fprintf(stderr, "petra gen: %s\n", err);
    gen_free(g);
    return 1;
  }
  const char *made[2] = {tx ? t_events : t_series, tx ? t_labels : NULL};
  for (int i = 0; p && partitions > 0 && i < 2; i++)
    if (made[i] && kadmin_ensure(p->rk, made[i], partitions, NULL, err, sizeof err) < 0) {
      fprintf(stderr, "petra gen: %s\n", err);
      kprod_close(p, 1000);
      gen_free(g);
      return 1;
    }
  if (!p) {
    if (tx) printf("kind,entity_id,time_ms,amount,mcc,channel,hour_sin,hour_cos,label,event_id\n");
    else {
      printf("time_ms");
      for (int i = 0; i < gc.series_channels; i++) printf(",c%d", i);
      printf("\n");
    }
  }
  uint8_t buf[1024];
  char key[64];
  double t0 = cli_now_s();
  for (long i = 0; i < count; i++) {
    size_t n;
    const char *topic;
    int k = 0;
    if (tx) {
      n = gen_next_tx(g, buf, sizeof buf - SREG_MAX_HEADER, &k, key, sizeof key);
      topic = k == GEN_EVENT ? t_events : t_labels;
    } else {
      n = gen_next_series(g, buf, sizeof buf - SREG_MAX_HEADER);
      topic = t_series;
      snprintf(key, sizeof key, "gen-0");
    }
    if (p) {
      if (bad_every && i % bad_every == bad_every - 1) {
        memcpy(buf, "\x08\x01\x1a\x03" "bad", 7); /* truncated string field */
        n = 7;
      }
      if (sid[0]) {
        int ev = !tx || k == GEN_EVENT;
        n = sreg_frame_into(buf, sizeof buf, sid[ev ? 0 : 1],
                            !tx ? SREG_MSG_SERIES : ev ? SREG_MSG_EVENT : SREG_MSG_LABEL, buf, n);
      }
      if (kprod_send(p, topic, key, strlen(key), buf, n)) break;
      pace(t0, (uint64_t)i + 1, rate);
      continue;
    }
    if (tx && k == GEN_EVENT) {
      Petra__V1__Event *e = petra__v1__event__unpack(NULL, n, buf);
      printf("event,%s,%lld,%.2f,%d,%d,%.5f,%.5f,,%llu\n", e->entity_id, (long long)e->event_time_ms,
             e->amount, e->categories[0]->code, e->categories[1]->code, (double)e->numerics[0]->value,
             (double)e->numerics[1]->value, (unsigned long long)e->event_id);
      petra__v1__event__free_unpacked(e, NULL);
    } else if (tx) {
      Petra__V1__Label *l = petra__v1__label__unpack(NULL, n, buf);
      printf("label,%s,%lld,,,,,,%g,\n", l->entity_id, (long long)l->label_time_ms, (double)l->value);
      petra__v1__label__free_unpacked(l, NULL);
    } else {
      Petra__V1__SeriesPoint *sp = petra__v1__series_point__unpack(NULL, n, buf);
      printf("%lld", (long long)sp->time_ms);
      for (size_t j = 0; j < sp->n_values; j++) printf(",%.5f", (double)sp->values[j]);
      printf("\n");
      petra__v1__series_point__free_unpacked(sp, NULL);
    }
  }
  gen_free(g);
  if (p) {
    uint64_t sent = p->sent;
    uint64_t bad = kprod_close(p, 60000);
    fprintf(stderr, "petra gen: %llu messages sent in %.1f s, %llu not delivered\n",
            (unsigned long long)sent, cli_now_s() - t0, (unsigned long long)bad);
    return bad ? 1 : 0;
  }
  return 0;
}

int cmd_replay(int argc, char **argv) {
  const char *csvp = NULL, *brokers = NULL, *topic = NULL, *kind = "events", *series_id = "series";
  const char *channels = NULL;
  csvmap_opts mo = {0};
  double rate = 0;
  int partitions = 0;
  static const struct option opts[] = {
      {"partitions", 1, 0, 'P'},
      {"csv", 1, 0, 'f'},      {"brokers", 1, 0, 'B'},    {"topic", 1, 0, 't'},
      {"kind", 1, 0, 'k'},     {"rate", 1, 0, 'r'},       {"entity", 1, 0, 'e'},
      {"time", 1, 0, 'T'},     {"amount", 1, 0, 'a'},     {"categorical", 1, 0, 'C'},
      {"numeric", 1, 0, 'N'},  {"label", 1, 0, 'l'},      {"channels", 1, 0, 'c'},
      {"series-id", 1, 0, 'i'}, {"help", 0, 0, 'h'},       {"value", 1, 0, 'v'},
      {"schema-id", 1, 0, 'I'}, {"config", 1, 0, 'G'},     {0, 0, 0, 0}};
  long schema_id = 0;
  const char *config = NULL;
  const char *value_col = "label";
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
      case 'f': csvp = optarg; break;
      case 'B': brokers = optarg; break;
      case 't': topic = optarg; break;
      case 'k': kind = optarg; break;
      case 'r': rate = atof(optarg); break;
      case 'e': mo.entity = optarg; break;
      case 'T': mo.time = optarg; break;
      case 'a': mo.amount = optarg; break;
      case 'C': mo.categorical = optarg; break;
      case 'N': mo.numeric = optarg; break;
      case 'l': mo.label = optarg; break;
      case 'c': channels = optarg; break;
      case 'i': series_id = optarg; break;
      case 'v': value_col = optarg; break;
      case 'P': partitions = atoi(optarg); break;
      case 'G': config = optarg; break;
      case 'I': {
        char *e;
        schema_id = strtol(optarg, &e, 10);
        if (*e || schema_id < 1 || schema_id > INT32_MAX) {
          fprintf(stderr, "petra replay: --schema-id %s: expected a positive schema id\n", optarg);
          return 2;
        }
        break;
      }
      case 'h':
        printf("usage: petra replay --csv FILE --brokers B --topic T [--rate MSGS_PER_S] [--partitions N]\n"
               "  (--config petrad.conf: kafka.brokers and the librdkafka properties, TLS and SASL,\n"
               "  from a petrad configuration file)\n"
               "  (--partitions N creates the topic with N partitions when it is missing; rows are\n"
               "  keyed by entity; --schema-id ID frames each message in the Schema Registry wire\n"
               "  format with that id, for wire.format = confluent)\n"
               "  --kind events: --entity COL --time COL [--amount COL] [--categorical F=COL,...]\n"
               "                 [--numeric COL,...] [--label COL]\n"
               "  --kind series: --time COL [--channels A,B,...] [--series-id ID]\n"
               "  --kind labels: --entity COL --time COL [--value COL (default label)]: one\n"
               "                 petra.v1.Label per row (delayed labels, joined by petrad with the\n"
               "                 entity's events up to the label time)\n");
        return 0;
      default: return 2;
    }
  }
  static petrad_config cfg;
  if (cli_load_config(config, &cfg, &brokers, "petra replay")) return 2;
  int series = !strcmp(kind, "series"), labels = !strcmp(kind, "labels");
  if (!csvp || !brokers || !topic || (!series && !labels && strcmp(kind, "events"))) {
    fprintf(stderr, "petra replay: --csv, --brokers and --topic are required; --kind events|series|labels\n");
    return 2;
  }
  char err[512];
  csv_reader *r = csv_open(csvp, err, sizeof err);
  if (!r) {
    fprintf(stderr, "petra replay: %s\n", err);
    return 1;
  }
  static csvmap map;
  int cols[1024], C = 0, c_time = -1, c_ent = -1, c_val = -1;
  if (labels) {
    const char *need[3] = {mo.entity ? mo.entity : "entity_id", mo.time ? mo.time : "time_ms", value_col};
    c_ent = csv_column(r, need[0]);
    c_time = csv_column(r, need[1]);
    c_val = csv_column(r, need[2]);
    for (int i = 0; i < 3; i++)
      if ((i == 0 ? c_ent : i == 1 ? c_time : c_val) < 0) {
        fprintf(stderr, "petra replay: %s has no column '%s'\n", csvp, need[i]);
        csv_close(r);
        return 2;
      }
  } else if (!series) {
    if (csvmap_init(&map, &mo, r, err, sizeof err)) {
      fprintf(stderr, "petra replay: %s: %s\n", csvp, err);
      csv_close(r);
      return 2;
    }
  } else {
    const char *tcol = mo.time ? mo.time : "date";
    c_time = csv_column(r, tcol);
    if (c_time < 0) {
      fprintf(stderr, "petra replay: %s has no time column '%s'\n", csvp, tcol);
      csv_close(r);
      return 2;
    }
    if (channels) {
      char buf[4096];
      snprintf(buf, sizeof buf, "%s", channels);
      char *names[1024];
      int k = cli_split(buf, names, 1024);
      for (int i = 0; i < k; i++)
        if ((cols[C++] = csv_column(r, names[i])) < 0) {
          fprintf(stderr, "petra replay: %s has no column '%s'\n", csvp, names[i]);
          csv_close(r);
          return 2;
        }
    } else {
      for (int i = 0; i < csv_columns(r); i++)
        if (i != c_time) cols[C++] = i;
    }
  }
  kprod *p = kprod_new(brokers, config ? &cfg : NULL, err, sizeof err);
  if (p && partitions > 0 && kadmin_ensure(p->rk, topic, partitions, NULL, err, sizeof err) < 0) {
    kprod_close(p, 1000);
    p = NULL;
  }
  if (!p) {
    fprintf(stderr, "petra replay: %s\n", err);
    csv_close(r);
    return 1;
  }
  char **f;
  int nf, rc, bad = 0;
  uint64_t n = 0;
  double t0 = cli_now_s();
  float vals[1024];
  while ((rc = csv_next(r, &f, &nf, err, sizeof err)) == 1) {
    uint8_t *buf = NULL;
    size_t len = 0;
    const char *key;
    if (labels) {
      Petra__V1__Label l = PETRA__V1__LABEL__INIT;
      l.schema_version = PETRA_SCHEMA_VERSION;
      l.entity_id = f[c_ent];
      double v;
      if (!f[c_ent][0] || !csvmap_time_ms(f[c_time], &l.label_time_ms) || !csvmap_number(f[c_val], &v)) {
        if (bad++ < 5) fprintf(stderr, "petra replay: %s:%ld: bad entity, time or value (skipped)\n", csvp, csv_line(r));
        continue;
      }
      l.value = (float)v;
      len = petra__v1__label__get_packed_size(&l);
      buf = malloc(len);
      petra__v1__label__pack(&l, buf);
      key = l.entity_id;
    } else if (!series) {
      Petra__V1__Event e;
      if (csvmap_event(&map, f, &e, err, sizeof err)) {
        if (bad++ < 5) fprintf(stderr, "petra replay: %s:%ld: %s (skipped)\n", csvp, csv_line(r), err);
        continue;
      }
      e.event_id = n + 1;
      len = petra__v1__event__get_packed_size(&e);
      buf = malloc(len);
      petra__v1__event__pack(&e, buf);
      key = e.entity_id;
    } else {
      Petra__V1__SeriesPoint sp = PETRA__V1__SERIES_POINT__INIT;
      sp.schema_version = PETRA_SCHEMA_VERSION;
      sp.series_id = (char *)series_id;
      int ok = csvmap_time_ms(f[c_time], &sp.time_ms);
      for (int i = 0; i < C && ok; i++) {
        double v;
        ok = csvmap_number(f[cols[i]], &v);
        vals[i] = (float)v;
      }
      if (!ok) {
        if (bad++ < 5) fprintf(stderr, "petra replay: %s:%ld: not a number (skipped)\n", csvp, csv_line(r));
        continue;
      }
      sp.n_values = (size_t)C;
      sp.values = vals;
      len = petra__v1__series_point__get_packed_size(&sp);
      buf = malloc(len);
      petra__v1__series_point__pack(&sp, buf);
      key = series_id;
    }
    sreg_wire w = {.confluent = schema_id > 0};
    sreg_role role = labels ? SREG_LABELS : series ? SREG_SERIES : SREG_EVENTS;
    w.id[role] = (int32_t)schema_id;
    buf = sreg_frame_owned(&w, role, labels ? SREG_MSG_LABEL : series ? SREG_MSG_SERIES : SREG_MSG_EVENT, buf, &len);
    if (!buf) {
      fprintf(stderr, "petra replay: out of memory\n");
      break;
    }
    int s = kprod_send(p, topic, key, strlen(key), buf, len);
    free(buf);
    if (s) break;
    n++;
    pace(t0, n, rate);
  }
  csv_close(r);
  uint64_t failed = kprod_close(p, 60000);
  if (rc < 0) fprintf(stderr, "petra replay: %s\n", err);
  fprintf(stderr, "petra replay: %llu messages in %.1f s (%d rows skipped), %llu not delivered\n",
          (unsigned long long)n, cli_now_s() - t0, bad, (unsigned long long)failed);
  return rc < 0 || failed ? 1 : 0;
}
