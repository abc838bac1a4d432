/* petrad configuration: defaults validate; good files set keys; every bad input is an error
 * that names the line and key. */
#include "check.h"
#include "config.h"

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
