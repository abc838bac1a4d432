#include "kclient.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

int kclient_is_secret(const char *p) {
  return strstr(p, "password") || strstr(p, "secret") || !strcmp(p, "ssl.key.pem") ||
         !strcmp(p, "ssl_key") || !strcmp(p, "sasl.oauthbearer.config") || strstr(p, "private");
}

int kclient_apply(rd_kafka_conf_t *conf, const petrad_config *c, const char *scope, char *err, size_t n) {
  for (int i = 0; i < c->n_pass; i++) {
    const passthrough *p = &c->pass[i];
    if (strcmp(p->scope, "kafka") && (!scope || strcmp(p->scope, scope))) continue;
    char e[512];
    if (rd_kafka_conf_set(conf, p->key, p->value, e, sizeof e) != RD_KAFKA_CONF_OK) {
      if (p->secret || kclient_is_secret(p->key))
        snprintf(err, n, "librdkafka property %s (value not shown): %s", p->key, e);
      else
        snprintf(err, n, "librdkafka property %s = %s: %s", p->key, p->value, e);
      return -1;
    }
  }
  return 0;
}

int kclient_fatal(int code) {
  return code == RD_KAFKA_RESP_ERR__AUTHENTICATION || code == RD_KAFKA_RESP_ERR__SSL ||
         code == RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED;
}

static const char *pass_value(const petrad_config *c, const char *key) {
  for (int i = 0; i < c->n_pass; i++)
    if (!strcmp(c->pass[i].key, key)) return c->pass[i].value;
  return "";
}

void kclient_explain(int code, const char *reason, const petrad_config *c, char *out, size_t n) {
  const char *hint = "";
  char mech[64];
  snprintf(mech, sizeof mech, "%s", c ? pass_value(c, "sasl.mechanisms") : "");
  if (c && !mech[0]) snprintf(mech, sizeof mech, "%s", pass_value(c, "sasl.mechanism"));
  if ((code == RD_KAFKA_RESP_ERR__AUTHENTICATION || code == RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED) &&
      !strncmp(mech, "SCRAM", 5) && rd_kafka_version() < 0x020601ff)
    hint = " (hint: librdkafka before 2.6.1 fails SCRAM against Kafka 4.x brokers even with the right "
           "password, librdkafka#4895; check the password, or use sasl.mechanisms = PLAIN over SASL_SSL)";
  else if (code == RD_KAFKA_RESP_ERR__AUTHENTICATION || code == RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED)
    hint = " (check sasl.username and the password)";
  else if (code == RD_KAFKA_RESP_ERR__SSL && strstr(reason, "verif"))
    hint = " (the broker's certificate is not trusted: set kafka.ssl.ca.location to the CA that signed it)";
  snprintf(out, n, "%s: %s%s", code == RD_KAFKA_RESP_ERR__SSL ? "TLS handshake failed" : "authentication failed",
           reason, hint);
}

/* Written once by the first fatal error: state 0 → 1 (writing) → 2 (msg readable). */
static const petrad_config *tool_cfg;
static _Atomic int tool_state;
static char tool_msg[768];

static void tool_on_error(rd_kafka_t *rk, int code, const char *reason, void *opaque) {
  (void)rk;
  (void)opaque;
  int expect = 0;
  if (!kclient_fatal(code) || !atomic_compare_exchange_strong(&tool_state, &expect, 1)) return;
  kclient_explain(code, reason, tool_cfg, tool_msg, sizeof tool_msg);
  atomic_store(&tool_state, 2);
}

void kclient_tool_watch(rd_kafka_conf_t *conf, const petrad_config *c) {
  if (c) tool_cfg = c;
  rd_kafka_conf_set_error_cb(conf, tool_on_error);
}

const char *kclient_tool_failed(void) { return atomic_load(&tool_state) == 2 ? tool_msg : NULL; }

void kclient_consumer_close(rd_kafka_t *rk, int lost) {
  if (!rk) return;
  if (lost) {
    rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    return;
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
}
