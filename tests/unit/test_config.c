/* petrad configuration: defaults validate; good files set keys; every bad input is an error
 * that names the line and key. */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "kclient.h"

TEST(defaults_are_valid) {
  petrad_config c;
  petrad_config_defaults(&c);
  char err[512] = "";
  CHECK_MSG(petrad_config_validate(&c, err, sizeof err) == 0, "%s", err);
  CHECK_EQ_INT(c.batch, 64);
  CHECK_STR(c.topic_events, "petra.events");
  CHECK(c.brokers[0] == 0);
}

TEST(a_config_file_sets_keys_and_passes_librdkafka_keys_through) {
  petrad_config c;
  petrad_config_defaults(&c);
  const char *text =
      "# comment\n"
      "\n"
      "model.id = fraud-eu\n"
      "  trainer.batch=128  \n"
      "trainer.lr = 0.0005\n"
      "model.spec = \"seq fields=mcc:100:8 numeric=2 len=16 dense=16 gru=32\"\n"
      "features.numerics =\n"
      "kafka.brokers = 127.0.0.1:9092\n"
      "kafka.security.protocol = plaintext\n"
      "consumer.fetch.wait.max.ms = 50\n"
      "producer.linger.ms = 5\n";
  char err[512] = "";
  CHECK_MSG(petrad_config_parse(&c, text, "t.conf", err, sizeof err) == 0, "%s", err);
  CHECK_STR(c.model_id, "fraud-eu");
  CHECK_EQ_INT(c.batch, 128);
  CHECK_NEAR(c.lr, 0.0005, 1e-12);
  CHECK_STR(c.model_spec, "seq fields=mcc:100:8 numeric=2 len=16 dense=16 gru=32");
  CHECK_STR(c.brokers, "127.0.0.1:9092");
  REQUIRE(c.n_pass == 3);
  CHECK_STR(c.pass[0].scope, "kafka");
  CHECK_STR(c.pass[0].key, "security.protocol");
  CHECK_STR(c.pass[1].scope, "consumer");
  CHECK_STR(c.pass[2].key, "linger.ms");
  CHECK_MSG(petrad_config_validate(&c, err, sizeof err) == 0, "%s", err);
}

TEST(bad_config_inputs_are_errors_naming_line_and_key) {
  struct {
    const char *text, *expect;
  } bad[] = {
      {"trainer.batch = 0\n", "t.conf:1: trainer.batch = 0: expected an integer in [1, 65536]"},
      {"\n\ntrainer.batch = 12x\n", "t.conf:3: trainer.batch = 12x"},
      {"trainer.lr = -1\n", "trainer.lr = -1: expected a number"},
      {"trainer.lr = nan\n", "trainer.lr = nan"},
      {"trainer.replay_frac = 1\n", "trainer.replay_frac"},
      {"no.such.key = 1\n", "t.conf:1: unknown key 'no.such.key'"},
      {"just some words\n", "t.conf:1: expected 'key = value'"},
      {" = 5\n", "empty key"},
      {"kafka. = x\n", "unknown key 'kafka.'"},
      {"checkpoint.interval_s = 0\n", "checkpoint.interval_s"},
      {"ha.enabled = 2\n", "ha.enabled = 2: expected an integer in [0, 1]"},
      {"ha.commit_interval_s = 0\n", "ha.commit_interval_s"},
      {"ha.session_timeout_ms = 10\n", "ha.session_timeout_ms"},
  };
  for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    petrad_config c;
    petrad_config_defaults(&c);
    char err[512] = "";
    CHECK_MSG(petrad_config_parse(&c, bad[i].text, "t.conf", err, sizeof err) < 0, "accepted: %s",
              bad[i].text);
    CHECK_MSG(strstr(err, bad[i].expect) != NULL, "'%s' -> '%s', wanted '%s'", bad[i].text, err,
              bad[i].expect);
  }
}

TEST(cross_key_validation_catches_inconsistent_settings) {
  struct {
    const char *key, *value, *expect;
  } bad[] = {
      {"model.spec", "seq gru=abc", "model.spec: model spec: gru=abc"},
      {"features.numerics", "a,b,c", "numeric=4 but the features give 5"},
      {"log.level", "loud", "log.level = loud"},
      {"model.id", "", "model.id must not be empty"},
      {"ha.enabled", "1", "ha.enabled = 1 needs kafka.brokers and topics.state"},
  };
  for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    petrad_config c;
    petrad_config_defaults(&c);
    char err[512] = "";
    CHECK(petrad_config_set(&c, bad[i].key, bad[i].value, err, sizeof err) == 0);
    CHECK_MSG(petrad_config_validate(&c, err, sizeof err) < 0, "accepted %s = %s", bad[i].key,
              bad[i].value);
    CHECK_MSG(strstr(err, bad[i].expect) != NULL, "'%s' lacks '%s'", err, bad[i].expect);
  }
}

TEST(shipped_config_file_loads_and_validates) {
  petrad_config c;
  petrad_config_defaults(&c);
  char err[512] = "";
  CHECK_MSG(petrad_config_load(&c, PETRA_SOURCE_DIR "/configs/petrad.conf", err, sizeof err) == 0,
            "%s", err);
  CHECK_MSG(petrad_config_validate(&c, err, sizeof err) == 0, "%s", err);
  CHECK(petrad_config_load(&c, "/nonexistent/petrad.conf", err, sizeof err) < 0);
  CHECK(strstr(err, "cannot open") != NULL);
}

/* Secrets: KEY_file reads the value from a file or a systemd credential; bad ones are errors
 * naming the key; the value never shows in an error message. */
TEST(secret_files_and_credentials) {
  char dir[] = "/tmp/petra-cred-XXXXXX";
  REQUIRE(mkdtemp(dir));
  char path[600], empty[600];
  snprintf(path, sizeof path, "%s/kafka-password", dir);
  snprintf(empty, sizeof empty, "%s/empty", dir);
  FILE *f = fopen(path, "w");
  REQUIRE(f);
  fputs("s3cr3t-Value\n", f);
  fclose(f);
  fclose(fopen(empty, "w"));
  petrad_config c;
  petrad_config_defaults(&c);
  char err[1024] = "", text[1400];
  snprintf(text, sizeof text, "kafka.sasl.password_file = %s\n", path);
  CHECK_MSG(petrad_config_parse(&c, text, "t.conf", err, sizeof err) == 0, "%s", err);
  CHECK_EQ_INT(c.n_pass, 1);
  CHECK_STR(c.pass[0].key, "sasl.password");
  CHECK_STR(c.pass[0].value, "s3cr3t-Value"); /* trailing newline dropped */
  CHECK(c.pass[0].secret);
  /* a credential name, from $CREDENTIALS_DIRECTORY; a later line replaces the earlier value */
  setenv("CREDENTIALS_DIRECTORY", dir, 1);
  CHECK(petrad_config_parse(&c, "kafka.sasl.password_file = kafka-password\n", "t.conf", err, sizeof err) == 0);
  CHECK_EQ_INT(c.n_pass, 1);
  struct {
    const char *line, *err;
  } bad[] = {
      {"kafka.sasl.password_file = missing\n", "kafka.sasl.password_file: cannot read"},
      {"kafka.sasl.password_file = /nonexistent/pw\n", "cannot read /nonexistent/pw"},
      {"kafka.ssl.key.password_file = EMPTY\n", "is empty"},
  };
  for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char line[800];
    snprintf(line, sizeof line, "%s", bad[i].line);
    if (strstr(line, "EMPTY")) snprintf(line, sizeof line, "kafka.ssl.key.password_file = %s\n", empty);
    CHECK_MSG(petrad_config_parse(&c, line, "t.conf", err, sizeof err) == -1, "%u accepted", i);
    CHECK_MSG(strstr(err, bad[i].err) != NULL, "%u: '%s' lacks '%s'", i, err, bad[i].err);
  }
  unsetenv("CREDENTIALS_DIRECTORY");
  CHECK(petrad_config_parse(&c, "kafka.sasl.password_file = kafka-password\n", "t.conf", err, sizeof err) == -1);
  CHECK(strstr(err, "$CREDENTIALS_DIRECTORY is not set") != NULL);
  /* librdkafka refuses a property: the message names it, never a secret's value */
  petrad_config d;
  petrad_config_defaults(&d);
  CHECK(petrad_config_parse(&d, "kafka.sasl.password = hunter2-XYZ\nkafka.security.protocol = NOPE\n", "t.conf", err,
                            sizeof err) == 0);
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  CHECK(kclient_apply(conf, &d, "consumer", err, sizeof err) == -1);
  CHECK(strstr(err, "security.protocol = NOPE") != NULL); /* not a secret: the value is shown */
  rd_kafka_conf_destroy(conf);
  petrad_config e;
  petrad_config_defaults(&e);
  CHECK(petrad_config_parse(&e, "kafka.ssl.key.password = hunter2-XYZ\n", "t.conf", err, sizeof err) == 0);
  /* a property librdkafka rejects by value, with a secret-looking name */
  snprintf(e.pass[0].key, sizeof e.pass[0].key, "sasl.oauthbearer.client.secret.bogus");
  conf = rd_kafka_conf_new();
  CHECK(kclient_apply(conf, &e, NULL, err, sizeof err) == -1);
  CHECK_MSG(!strstr(err, "hunter2"), "secret in message: %s", err);
  CHECK(strstr(err, "value not shown") != NULL);
  rd_kafka_conf_destroy(conf);
  CHECK(kclient_is_secret("sasl.password") && kclient_is_secret("ssl.key.password") && !kclient_is_secret("sasl.username"));
  remove(path);
  remove(empty);
  rmdir(dir);
}
