/* petrad configuration: one file of `key = value` lines (# comments, blank lines ignored).
 * Every key is in the table in config.c with its type, range, default and doc line;
 * `petrad --help-config` prints them. Keys under kafka.* (both clients), consumer.* and
 * producer.* go to librdkafka verbatim; such a key ending in _file (kafka.sasl.password_file)
 * sets the property without the suffix to the contents of that file, or, for a name without
 * '/', of that systemd credential ($CREDENTIALS_DIRECTORY/<name>, LoadCredential=). Unknown keys and bad values are errors naming the
 * file, line, key and allowed range. */
#ifndef PETRA_CONFIG_H
#define PETRA_CONFIG_H
#include <stdint.h>
#include <stdio.h>

#define CFG_STR 512
#define CFG_MAX_PASS 64

typedef struct passthrough {
  char scope[16]; /* kafka, consumer, producer */
  char key[128];
  char value[CFG_STR];
  int secret;     /* read from a file or credential (KEY_file): never shown */
} passthrough;

typedef struct petrad_config {
  /* model */
  char model_id[128];
  char model_spec[1024];
  char init_snapshot[CFG_STR];    /* snapshot file to start from when there is no checkpoint */
  char feature_numerics[CFG_STR]; /* user numeric feature names, comma-separated */
  char feature_transforms[CFG_STR]; /* COL=log|z|raw,... */
  char feature_categories[CFG_STR]; /* FIELD=index|hash|vocab,... */
  int feature_event_age;
  int max_entities;
  /* kafka */
  char brokers[CFG_STR]; /* empty = embedded mock cluster */
  char group_id[128];
  char topic_events[128], topic_labels[128], topic_series[128];
  char topic_snapshots[128], topic_metrics[128], topic_deadletter[128], topic_state[128];
  int max_message_bytes;
  int poll_budget;
  /* Schema Registry framing (sreg.h) */
  char wire_format[16];           /* raw | confluent */
  int sid_events, sid_labels, sid_series, sid_snapshots, sid_metrics, sid_dead_letters, sid_scores;
  /* trainer */
  int queue_capacity;
  int batch;
  double lr;
  double weight_decay;
  double clip_norm;
  int replay_capacity;
  double replay_frac;
  int metrics_window;
  int64_t seed;
  int threads;
  char audit_file[CFG_STR];
  /* durability */
  char state_dir[CFG_STR];
  double checkpoint_interval_s;
  int checkpoint_interval_examples;
  /* publishing */
  double snapshot_interval_s;
  double metrics_interval_s;
  /* evolution */
  double evolution_interval_s;
  double latency_budget_ratio;
  int evolution_holdout;
  double evolution_tolerance;
  char evolution_cores[1024];   /* the search over cores (seq): alternative cores, "" = off */
  double core_trial_s, core_margin;
  int core_trial_epochs;
  /* operations */
  char control_socket[CFG_STR];
  char control_group[64];
  int control_max_clients;
  double control_timeout_s;
  int metrics_http_port;
  char metrics_http_address[64];
  int64_t health_max_lag;
  double health_max_checkpoint_age_s, health_trainer_stall_s;
  int health_no_skill_after;      /* labelled examples before "no better than constant" counts */
  /* high availability (daemon/petrad/ha.c) */
  int ha_enabled;                 /* lease + standby + transactions */
  char ha_lease_topic[128];
  char ha_transactional_id[CFG_STR]; /* "" = petrad-<model.id> */
  double ha_commit_interval_s;
  int ha_session_timeout_ms;
  char ha_instance_id[CFG_STR];   /* static membership of the lease group ("" = dynamic) */
  char log_level[16];
  /* embedded default */
  double embedded_rate;
  int embedded_entities;
  double embedded_drift_at_s;
  /* librdkafka pass-through */
  int n_pass;
  passthrough pass[CFG_MAX_PASS];
} petrad_config;

void petrad_config_defaults(petrad_config *c);
/* Sets one key from text. Returns 0, or −1 with a message in err. */
int petrad_config_set(petrad_config *c, const char *key, const char *value, char *err,
                      size_t errlen);
/* "KEY=VALUE" (a --set option). */
int petrad_config_set_kv(petrad_config *c, const char *kv, char *err, size_t errlen);
/* Parses config text; name is used in messages ("petrad.conf:12: ..."). */
int petrad_config_parse(petrad_config *c, const char *text, const char *name, char *err,
                        size_t errlen);
int petrad_config_load(petrad_config *c, const char *path, char *err, size_t errlen);
/* Cross-key checks after loading (e.g. the model spec parses). */
int petrad_config_validate(const petrad_config *c, char *err, size_t errlen);
/* Names (comma-separated into out) the keys whose values differ between a and b, leaving out
 * those listed in except (NULL-terminated); librdkafka pass-through keys count as one entry
 * "kafka., consumer. or producer. properties". Returns how many differ. */
int petrad_config_changed(const petrad_config *a, const petrad_config *b, const char *const *except,
                          char *out, size_t n);
/* The feature-state settings of c (pointers into c). */
struct features_conf;
void petrad_config_features(const petrad_config *c, struct features_conf *out);
/* The framing settings of c (wire.format, wire.schema_id.*). */
struct sreg_wire;
void petrad_config_wire(const petrad_config *c, struct sreg_wire *out);
/* Prints every key with default, range and doc. */
void petrad_config_describe(FILE *out);
#endif
