#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <grp.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "feature_state.h"
#include "log.h"
#include "petra/model.h"
#include "sreg.h"

typedef enum { T_STR, T_INT, T_I64, T_DBL } ktype;

typedef struct keydef {
  const char *key;
  ktype type;
  size_t off, size; /* size: buffer size for strings */
  double lo, hi;    /* numeric range */
  const char *def;
  const char *doc;
} keydef;

#define S(field) offsetof(petrad_config, field), sizeof(((petrad_config *)0)->field)
static const keydef keys[] = {
    {"model.id", T_STR, S(model_id), 0, 0, "petra-default", "model id: key of snapshots, label of metrics"},
    {"model.spec", T_STR, S(model_spec), 0, 0,
     "seq fields=mcc:400:16,channel:4:2 numeric=4 len=32 dense=32 act=relu gru=64 classes=1",
     "model spec (see petra(1)); seq models read the events/labels topics, ts models the series topic"},
    {"features.numerics", T_STR, S(feature_numerics), 0, 0, "hour_sin,hour_cos",
     "Event numeric names fed to a seq model after log-amount and log-time-gap (missing = 0)"},
    {"features.transforms", T_STR, S(feature_transforms), 0, 0, "",
     "per numeric column (amount, gap, each features.numerics name) COL=log|z|raw, comma-separated; "
     "a column not named is log: signed log1p, then a running robust z-score clipped to +-8 "
     "(z: the z-score alone; raw: neither, clipped to +-1e4)"},
    {"features.categories", T_STR, S(feature_categories), 0, 0, "",
     "per categorical field FIELD=index|hash|vocab: index takes codes 0..vocab-1 as they are (others "
     "are bad input); hash maps any code to 1..vocab-1; vocab learns up to vocab-1 codes in the order "
     "seen, later ones share the unknown bucket 0"},
    {"features.event_age", T_INT, S(feature_event_age), 0, 1, "0",
     "1: one more numeric per event, the time from the event to the example (label time, or the time "
     "a scorer asks about), scaled like the gap; model.spec numeric= counts it"},
    {"model.init_snapshot", T_STR, S(init_snapshot), 0, 0, "",
     "snapshot file (petra train --save, or a published snapshot) to start from when the state "
     "directory has no checkpoint: its weights and input statistics, then training goes on"},
    {"features.max_entities", T_INT, S(max_entities), 1, 10000000, "50000",
     "entities whose recent events are kept; the least recently seen is evicted beyond this"},
    {"kafka.brokers", T_STR, S(brokers), 0, 0, "",
     "bootstrap servers; empty runs the embedded mock cluster and generator"},
    {"kafka.group_id", T_STR, S(group_id), 0, 0, "petrad", "consumer group"},
    {"topics.events", T_STR, S(topic_events), 0, 0, "petra.events", "Event input topic"},
    {"topics.labels", T_STR, S(topic_labels), 0, 0, "petra.labels", "Label input topic"},
    {"topics.series", T_STR, S(topic_series), 0, 0, "petra.series", "SeriesPoint input topic"},
    {"topics.snapshots", T_STR, S(topic_snapshots), 0, 0, "petra.snapshots",
     "ModelSnapshot output topic (compacted, key = model id)"},
    {"topics.metrics", T_STR, S(topic_metrics), 0, 0, "petra.metrics", "Metrics output topic"},
    {"topics.state", T_STR, S(topic_state), 0, 0, "",
     "compacted topic holding the training state (each checkpoint, chunked); a petrad with an empty "
     "state directory resumes from it; offsets are committed only once it holds them (empty = off)"},
    {"ha.enabled", T_INT, S(ha_enabled), 0, 1, "0",
     "1: one writer per model: petrads of the same model.id elect an owner through a one-partition "
     "lease topic (Kafka group coordination); the others stand by and take over when it dies. The owner "
     "writes snapshots, metrics, dead letters, the state (topics.state, required) and its input offsets "
     "in Kafka transactions, so a zombie is fenced and each input event is in the model once"},
    {"ha.lease_topic", T_STR, S(ha_lease_topic), 0, 0, "petra.lease",
     "one-partition topic whose consumer group (kafka.group_id + \".lease\") names the owner; created "
     "if missing, refused if it has more than one partition (may be shared by models)"},
    {"ha.transactional_id", T_STR, S(ha_transactional_id), 0, 0, "",
     "Kafka transactional.id of the owner's producer (empty = petrad-<model.id>); every petrad of a "
     "model must use the same one: that is what fences a zombie"},
    {"ha.commit_interval_s", T_DBL, S(ha_commit_interval_s), 0.01, 3600, "1",
     "seconds between transaction commits: a snapshot, Metrics or dead letter becomes visible to "
     "read_committed consumers when its transaction commits (checkpoints commit at once)"},
    {"ha.instance_id", T_STR, S(ha_instance_id), 0, 0, "",
     "static membership in the lease group (group.instance.id), one per host: a petrad restarted on "
     "the same host takes its lease back at once instead of after the session timeout (empty = off)"},
    {"ha.session_timeout_ms", T_INT, S(ha_session_timeout_ms), 1000, 3600000, "10000",
     "lease and input group session timeout: how long a dead owner keeps the lease before a standby "
     "takes over"},
    {"topics.deadletter", T_STR, S(topic_deadletter), 0, 0, "petra.deadletter",
     "DeadLetter output topic for input that cannot be used"},
    {"kafka.max_message_bytes", T_INT, S(max_message_bytes), 1024, 100000000, "1000000",
     "largest message produced; bigger snapshots are split into chunks"},
    {"wire.format", T_STR, S(wire_format), 0, 0, "raw",
     "raw: messages are bare protobuf; confluent: Schema Registry wire format (magic byte 0, 4-byte "
     "schema id, message-index list, then the protobuf) on every input and output topic except the "
     "state and lease topics; input whose framing or schema id is wrong goes to the dead letters"},
    {"wire.schema_id.events", T_INT, S(sid_events), 0, 2147483647, "0",
     "registry id of proto/petra.proto as registered for the events topic's subject (confluent)"},
    {"wire.schema_id.labels", T_INT, S(sid_labels), 0, 2147483647, "0", "the same for the labels topic"},
    {"wire.schema_id.series", T_INT, S(sid_series), 0, 2147483647, "0", "the same for the series topic"},
    {"wire.schema_id.snapshots", T_INT, S(sid_snapshots), 0, 2147483647, "0",
     "the same for the snapshots topic (ModelSnapshot and SnapshotChunk)"},
    {"wire.schema_id.metrics", T_INT, S(sid_metrics), 0, 2147483647, "0", "the same for the metrics topic"},
    {"wire.schema_id.dead_letters", T_INT, S(sid_dead_letters), 0, 2147483647, "0",
     "the same for the dead-letter topic"},
    {"wire.schema_id.scores", T_INT, S(sid_scores), 0, 2147483647, "0",
     "the same for petra score's output topic"},
    {"kafka.poll_budget", T_INT, S(poll_budget), 1, 1000000, "2000",
     "messages handled per loop wake-up before yielding to other work"},
    {"trainer.queue_capacity", T_INT, S(queue_capacity), 16, 10000000, "8192",
     "examples queued for the trainer; when full, consumption pauses (nothing is dropped)"},
    {"trainer.batch", T_INT, S(batch), 1, 65536, "64", "examples per optimizer step"},
    {"trainer.lr", T_DBL, S(lr), 1e-9, 10, "0.001", "Adam learning rate"},
    {"trainer.weight_decay", T_DBL, S(weight_decay), 0, 1, "0", "AdamW decoupled weight decay"},
    {"trainer.clip_norm", T_DBL, S(clip_norm), 0, 1e9, "5", "gradient global-norm cap (0 = off)"},
    {"trainer.replay_capacity", T_INT, S(replay_capacity), 0, 10000000, "8192",
     "examples in the reservoir replay buffer"},
    {"trainer.replay_frac", T_DBL, S(replay_frac), 0, 0.99, "0.5",
     "share of each batch drawn from the replay buffer"},
    {"trainer.metrics_window", T_INT, S(metrics_window), 10, 10000000, "5000",
     "prequential metrics are computed over this many recent examples"},
    {"trainer.threads", T_INT, S(threads), 1, 256, "1",
     "OpenBLAS threads of the trainer (1 leaves the other cores to the loop and scorers)"},
    {"trainer.audit_file", T_STR, S(audit_file), 0, 0, "",
     "append the event id of every example fed to the trainer to this file (testing aid)"},
    {"trainer.seed", T_I64, S(seed), 0, 9.2e18, "1", "seed of every random choice"},
    {"state.dir", T_STR, S(state_dir), 0, 0, "/var/lib/petra",
     "checkpoints live here (systemd StateDirectory)"},
    {"checkpoint.interval_s", T_DBL, S(checkpoint_interval_s), 0.1, 86400, "30",
     "seconds between checkpoints; offsets are committed only for checkpointed input"},
    {"checkpoint.interval_examples", T_INT, S(checkpoint_interval_examples), 1, 100000000, "200000",
     "also checkpoint after this many examples"},
    {"snapshot.interval_s", T_DBL, S(snapshot_interval_s), 0.1, 86400, "10",
     "publish a fresh snapshot at least this often"},
    {"metrics.interval_s", T_DBL, S(metrics_interval_s), 0.1, 86400, "5",
     "seconds between Metrics messages"},
    {"evolution.interval_s", T_DBL, S(evolution_interval_s), 0.1, 86400, "15",
     "seconds between steady-state evolution steps"},
    {"evolution.latency_budget_ratio", T_DBL, S(latency_budget_ratio), 0.01, 10, "0.5",
     "latency budget as a fraction of the uncompressed model's p99"},
    {"evolution.metric_tolerance", T_DBL, S(evolution_tolerance), 0, 1, "0",
     "how far below the uncompressed model's metric the champion may be on the hold-out window "
     "(classifiers: AUC points; forecasters: a fraction of the MSE); 0 = 0.005 AUC, 2% MSE"},
    {"evolution.holdout_examples", T_INT, S(evolution_holdout), 256, 1000000, "1024",
     "most recent examples each candidate's metric is measured on (more: a steadier choice of "
     "champion, a slower step)"},
    {"evolution.cores", T_STR, S(evolution_cores), 0, 0, "",
     "seq models: other cores to try in place of model.spec's, space-separated (+ for a space\n"
     "    inside one: \"lstm=64 tf=2:4:32+pool=mean\"); empty = the core stays"},
    {"evolution.core_trial_interval_s", T_DBL, S(core_trial_s), 10, 604800, "1800",
     "seconds between core trials (with evolution.cores)"},
    {"evolution.core_trial_epochs", T_INT, S(core_trial_epochs), 1, 100, "3",
     "passes over the replay buffer that train each core of a trial"},
    {"evolution.core_margin", T_DBL, S(core_margin), 0, 1, "0.01",
     "AUC points by which a core must beat the live core, trained the same way, to replace it"},
    {"control.socket", T_STR, S(control_socket), 0, 0, "/run/petra/petrad.sock",
     "control socket path (mode 0660; empty = no control socket; embedded mode without\n"
     "    --control-socket puts it in the state directory as control.sock)"},
    {"control.group", T_STR, S(control_group), 0, 0, "",
     "group (name) whose members may also use the control socket; the socket is chowned\n"
     "    to it. Always allowed: root, petrad's user and members of petrad's own group"},
    {"control.max_clients", T_INT, S(control_max_clients), 1, 100000, "4096",
     "control clients served at once; more are answered with an error and closed"},
    {"control.timeout_s", T_DBL, S(control_timeout_s), 0.1, 3600, "10",
     "a control client must complete each command line within this time or is dropped"},
    {"metrics.http_port", T_INT, S(metrics_http_port), 0, 65535, "0",
     "serve Prometheus /metrics and the live status page / over HTTP on this port (0 = off)"},
    {"metrics.http_address", T_STR, S(metrics_http_address), 0, 0, "127.0.0.1",
     "IPv4 address the /metrics listener binds (loopback by default)"},
    {"health.max_lag", T_I64, S(health_max_lag), 0, 1e15, "1000000",
     "health is degraded when a partition lags more messages than this"},
    {"health.max_checkpoint_age_s", T_DBL, S(health_max_checkpoint_age_s), 1, 1e9, "600",
     "health is degraded when the last good checkpoint is older than this"},
    {"health.trainer_stall_s", T_DBL, S(health_trainer_stall_s), 1, 1e9, "60",
     "health is failing when the trainer thread makes no progress for this long"},
    {"health.no_skill_after", T_INT, S(health_no_skill_after), 0, 1000000000, "5000",
     "labelled examples after which a classifier whose prequential AUC (accuracy for multi-class) is "
     "no better than a constant predictor makes health degraded and publishes no snapshot; a forecaster "
     "whose prequential mse is above the naive (last value) forecast's makes health degraded (0 = never)"},
    {"log.level", T_STR, S(log_level), 0, 0, "info", "error, warn, info or debug"},
    {"embedded.rate", T_DBL, S(embedded_rate), 1, 10000000, "20000",
     "events per second the embedded generator produces"},
    {"embedded.entities", T_INT, S(embedded_entities), 1, 10000000, "5000",
     "entities the embedded generator simulates"},
    {"embedded.drift_at_s", T_DBL, S(embedded_drift_at_s), 0, 1e9, "0",
     "seconds after start when the generator's behaviour drifts (0 = never)"},
};
#undef S
#define NKEYS (sizeof keys / sizeof keys[0])

static const char *const pass_scopes[] = {"kafka.", "consumer.", "producer."};

static int set_key(petrad_config *c, const keydef *k, const char *v, char *err, size_t n) {
  char *dst = (char *)c + k->off;
  char *end;
  switch (k->type) {
    case T_STR:
      if (strlen(v) >= k->size) {
        snprintf(err, n, "%s: value longer than %zu bytes", k->key, k->size - 1);
        return -1;
      }
      strcpy(dst, v);
      return 0;
    case T_INT:
    case T_I64: {
      errno = 0;
      long long x = strtoll(v, &end, 10);
      if (errno || end == v || *end || (double)x < k->lo || (double)x > k->hi) {
        snprintf(err, n, "%s = %s: expected an integer in [%.0f, %.0f]", k->key, v, k->lo, k->hi);
        return -1;
      }
      if (k->type == T_INT)
        *(int *)dst = (int)x;
      else
        *(int64_t *)dst = x;
      return 0;
    }
    case T_DBL: {
      errno = 0;
      double x = strtod(v, &end);
      if (errno || end == v || *end || !isfinite(x) || x < k->lo || x > k->hi) {
        snprintf(err, n, "%s = %s: expected a number in [%g, %g]", k->key, v, k->lo, k->hi);
        return -1;
      }
      *(double *)dst = x;
      return 0;
    }
  }
  return -1;
}

void petrad_config_defaults(petrad_config *c) {
  memset(c, 0, sizeof *c);
  char err[256];
  for (size_t i = 0; i < NKEYS; i++) set_key(c, &keys[i], keys[i].def, err, sizeof err);
}

/* The value of a KEY_file pass-through key: the file's contents without the trailing newline;
 * a name without '/' is a systemd credential in $CREDENTIALS_DIRECTORY. */
static int read_secret(const char *key, const char *name, char *out, size_t cap, char *err, size_t errlen) {
  char path[1024];
  if (!strchr(name, '/')) {
    const char *dir = getenv("CREDENTIALS_DIRECTORY");
    if (!dir || !dir[0]) {
      snprintf(err, errlen,
               "%s = %s: a name without '/' is a systemd credential, but $CREDENTIALS_DIRECTORY is not set "
               "(LoadCredential=%s:/path in the unit, or give a path)",
               key, name, name);
      return -1;
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
  } else {
    snprintf(path, sizeof path, "%s", name);
  }
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "%s: cannot read %s: %s", key, path, strerror(errno));
    return -1;
  }
  size_t k = fread(out, 1, cap, f);
  int more = fgetc(f) != EOF;
  fclose(f);
  if (more || k >= cap) {
    snprintf(err, errlen, "%s: %s is longer than %zu bytes", key, path, cap - 1);
    return -1;
  }
  out[k] = 0;
  while (k && (out[k - 1] == '\n' || out[k - 1] == '\r')) out[--k] = 0;
  if (strlen(out) != k || !k) {
    snprintf(err, errlen, "%s: %s is empty or holds a NUL byte", key, path);
    return -1;
  }
  return 0;
}

int petrad_config_set(petrad_config *c, const char *key, const char *value, char *err,
                      size_t errlen) {
  for (size_t i = 0; i < NKEYS; i++)
    if (!strcmp(keys[i].key, key)) return set_key(c, &keys[i], value, err, errlen);
  for (size_t s = 0; s < 3; s++) {
    size_t pl = strlen(pass_scopes[s]);
    if (!strncmp(key, pass_scopes[s], pl) && key[pl]) {
      if (c->n_pass == CFG_MAX_PASS) {
        snprintf(err, errlen, "%s: more than %d librdkafka pass-through keys", key, CFG_MAX_PASS);
        return -1;
      }
      if (strlen(key + pl) >= sizeof c->pass[0].key || strlen(value) >= CFG_STR) {
        snprintf(err, errlen, "%s: key or value too long", key);
        return -1;
      }
      passthrough *p = &c->pass[c->n_pass];
      snprintf(p->scope, sizeof p->scope, "%.*s", (int)pl - 1, pass_scopes[s]);
      strcpy(p->key, key + pl);
      size_t kl = strlen(p->key);
      p->secret = 0;
      if (kl > 5 && !strcmp(p->key + kl - 5, "_file")) {
        p->key[kl - 5] = 0; /* sasl.password_file -> sasl.password, from the file */
        if (read_secret(key, value, p->value, sizeof p->value, err, errlen)) return -1;
        p->secret = 1;
      } else {
        strcpy(p->value, value);
      }
      /* a later line for the same property replaces the earlier one */
      for (int i = 0; i < c->n_pass; i++)
        if (!strcmp(c->pass[i].scope, p->scope) && !strcmp(c->pass[i].key, p->key)) {
          c->pass[i] = *p;
          return 0;
        }
      c->n_pass++;
      return 0;
    }
  }
  snprintf(err, errlen, "unknown key '%s' (petrad --help-config lists them)", key);
  return -1;
}

static char *trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  char *e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
  return s;
}

int petrad_config_parse(petrad_config *c, const char *text, const char *name, char *err,
                        size_t errlen) {
  int lineno = 0;
  const char *p = text;
  while (*p) {
    lineno++;
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    char line[2048];
    if (len >= sizeof line) {
      snprintf(err, errlen, "%s:%d: line longer than %zu bytes", name, lineno, sizeof line - 1);
      return -1;
    }
    memcpy(line, p, len);
    line[len] = 0;
    p += len + (nl ? 1 : 0);
    if (memchr(line, 0, len) != NULL && strlen(line) != len) {
      snprintf(err, errlen, "%s:%d: NUL byte in line", name, lineno);
      return -1;
    }
    char *s = trim(line);
    if (!*s || *s == '#') continue;
    char *eq = strchr(s, '=');
    if (!eq) {
      snprintf(err, errlen, "%s:%d: expected 'key = value', got '%.60s'", name, lineno, s);
      return -1;
    }
    *eq = 0;
    char *key = trim(s), *val = trim(eq + 1);
    if (!*key) {
      snprintf(err, errlen, "%s:%d: empty key", name, lineno);
      return -1;
    }
    /* optional double quotes around a value */
    size_t vl = strlen(val);
    if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
      val[vl - 1] = 0;
      val++;
    }
    char e2[512];
    if (petrad_config_set(c, key, val, e2, sizeof e2)) {
      snprintf(err, errlen, "%s:%d: %s", name, lineno, e2);
      return -1;
    }
  }
  return 0;
}

int petrad_config_load(petrad_config *c, const char *path, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  char *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (len + 4096 + 1 > cap) {
      cap = cap ? cap * 2 : 8192;
      if (cap > (1u << 24)) {
        snprintf(err, errlen, "%s: larger than 16 MiB", path);
        free(buf);
        fclose(f);
        return -1;
      }
      char *nb = realloc(buf, cap);
      if (!nb) {
        free(buf);
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
      }
      buf = nb;
    }
    size_t r = fread(buf + len, 1, 4096, f);
    len += r;
    if (r < 4096) break;
  }
  fclose(f);
  buf[len] = 0;
  if (strlen(buf) != len) {
    snprintf(err, errlen, "%s: contains a NUL byte", path);
    free(buf);
    return -1;
  }
  int rc = petrad_config_parse(c, buf, path, err, errlen);
  free(buf);
  return rc;
}

int petrad_config_validate(const petrad_config *c, char *err, size_t errlen) {
  petra_model_spec spec;
  petra_err e = {0};
  if (petra_model_spec_parse(c->model_spec, &spec, &e)) {
    snprintf(err, errlen, "model.spec: %s", e.msg);
    return -1;
  }
  if (plog_parse_level(c->log_level) < 0) {
    snprintf(err, errlen, "log.level = %s: expected error, warn, info or debug", c->log_level);
    return -1;
  }
  if (!c->model_id[0]) {
    snprintf(err, errlen, "model.id must not be empty");
    return -1;
  }
  if (spec.kind == PETRA_MODEL_SEQ) {
    features_conf fc;
    petrad_config_features(c, &fc);
    fc.max_entities = 1;
    char ferr[512];
    features *f = features_new_conf(&spec, &fc, ferr, sizeof ferr);
    if (!f) {
      if (strstr(ferr, "numeric inputs"))
        snprintf(err, errlen,
                 "model.spec has numeric=%d but the features give %d (amount, time gap, %d from "
                 "features.numerics = '%s'%s)",
                 spec.n_numeric, features_conf_numeric(&fc), features_conf_numeric(&fc) - 2 - fc.event_age,
                 c->feature_numerics, fc.event_age ? ", event age" : "");
      else
        snprintf(err, errlen, "%s", ferr);
      return -1;
    }
    features_free(f);
  }
  if (!c->state_dir[0]) {
    snprintf(err, errlen, "state.dir must not be empty");
    return -1;
  }
  if (c->ha_enabled && (!c->brokers[0] || !c->topic_state[0])) {
    snprintf(err, errlen, "ha.enabled = 1 needs kafka.brokers and topics.state (the owner's state must be in "
                          "Kafka for a standby to take over)");
    return -1;
  }
  int confluent = !strcmp(c->wire_format, "confluent");
  if (!confluent && strcmp(c->wire_format, "raw")) {
    snprintf(err, errlen, "wire.format = %s: expected raw or confluent", c->wire_format);
    return -1;
  }
  if (confluent) {
    struct {
      const char *name;
      int id, needed;
    } need[] = {{"events", c->sid_events, spec.kind == PETRA_MODEL_SEQ},
                {"labels", c->sid_labels, spec.kind == PETRA_MODEL_SEQ},
                {"series", c->sid_series, spec.kind == PETRA_MODEL_TS},
                {"snapshots", c->sid_snapshots, 1},
                {"metrics", c->sid_metrics, 1},
                {"dead_letters", c->sid_dead_letters, 1}};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
      if (need[i].needed && need[i].id <= 0) {
        snprintf(err, errlen,
                 "wire.format = confluent needs wire.schema_id.%s: the registry's id of proto/petra.proto "
                 "for that topic's subject (petrad.conf(5), SCHEMA REGISTRY)",
                 need[i].name);
        return -1;
      }
  }
  struct in_addr a;
  if (inet_pton(AF_INET, c->metrics_http_address, &a) != 1) {
    snprintf(err, errlen, "metrics.http_address = '%s': expected an IPv4 address such as 127.0.0.1",
             c->metrics_http_address);
    return -1;
  }
  if (c->control_group[0] && !getgrnam(c->control_group)) {
    snprintf(err, errlen, "control.group = '%s': no such group", c->control_group);
    return -1;
  }
  return 0;
}

int petrad_config_changed(const petrad_config *a, const petrad_config *b, const char *const *except,
                          char *out, size_t n) {
  int count = 0;
  size_t o = 0;
  if (n) out[0] = 0;
  for (size_t i = 0; i < NKEYS; i++) {
    const keydef *k = &keys[i];
    int skip = 0;
    for (const char *const *e = except; e && *e && !skip; e++) skip = !strcmp(*e, k->key);
    if (skip) continue;
    const char *pa = (const char *)a + k->off, *pb = (const char *)b + k->off;
    int differ = k->type == T_STR ? strncmp(pa, pb, k->size) != 0 : memcmp(pa, pb, k->size) != 0;
    if (!differ) continue;
    count++;
    int w = snprintf(out + (o < n ? o : n), o < n ? n - o : 0, "%s%s", count > 1 ? ", " : "", k->key);
    o += w > 0 ? (size_t)w : 0;
  }
  int pass_differ = a->n_pass != b->n_pass;
  for (int i = 0; i < a->n_pass && !pass_differ; i++)
    pass_differ = strcmp(a->pass[i].scope, b->pass[i].scope) || strcmp(a->pass[i].key, b->pass[i].key) ||
                  strcmp(a->pass[i].value, b->pass[i].value);
  if (pass_differ) {
    count++;
    snprintf(out + (o < n ? o : n), o < n ? n - o : 0, "%skafka./consumer./producer. properties", count > 1 ? ", " : "");
  }
  return count;
}

void petrad_config_features(const petrad_config *c, features_conf *out) {
  memset(out, 0, sizeof *out);
  out->numerics = c->feature_numerics;
  out->transforms = c->feature_transforms;
  out->categories = c->feature_categories;
  out->event_age = c->feature_event_age;
  out->max_entities = c->max_entities;
}

void petrad_config_wire(const petrad_config *c, sreg_wire *w) {
  memset(w, 0, sizeof *w);
  w->confluent = !strcmp(c->wire_format, "confluent");
  w->id[SREG_EVENTS] = c->sid_events;
  w->id[SREG_LABELS] = c->sid_labels;
  w->id[SREG_SERIES] = c->sid_series;
  w->id[SREG_SNAPSHOTS] = c->sid_snapshots;
  w->id[SREG_METRICS] = c->sid_metrics;
  w->id[SREG_DEAD_LETTERS] = c->sid_dead_letters;
  w->id[SREG_SCORES] = c->sid_scores;
}

void petrad_config_describe(FILE *out) {
  fprintf(out, "# key = default    (range)  doc\n");
  for (size_t i = 0; i < NKEYS; i++) {
    const keydef *k = &keys[i];
    char range[64] = "";
    if (k->type == T_INT || k->type == T_I64)
      snprintf(range, sizeof range, "  [%.0f, %.0f]", k->lo, k->hi);
    else if (k->type == T_DBL)
      snprintf(range, sizeof range, "  [%g, %g]", k->lo, k->hi);
    fprintf(out, "%s = %s%s\n    %s\n", k->key, k->def, range, k->doc);
  }
  fprintf(out,
          "kafka.<property>, consumer.<property>, producer.<property>\n"
          "    passed to librdkafka verbatim (kafka.* to both clients)\n"
          "kafka.<property>_file = PATH | CREDENTIAL\n"
          "    the property's value read from a file, or from the systemd credential of that name\n"
          "    ($CREDENTIALS_DIRECTORY, LoadCredential=): for secrets such as sasl.password\n");
}

int petrad_config_set_kv(petrad_config *c, const char *kv, char *err, size_t errlen) {
  char buf[1200];
  snprintf(buf, sizeof buf, "%s", kv);
  char *eq = strchr(buf, '=');
  if (!eq) {
    snprintf(err, errlen, "--set %.200s: expected KEY=VALUE", kv);
    return -1;
  }
  *eq = 0;
  if (petrad_config_set(c, buf, eq + 1, err, errlen)) return -1;
  return 0;
}
