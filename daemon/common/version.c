#include "version.h"

#include <librdkafka/rdkafka.h>
#include <protobuf-c/protobuf-c.h>
#include <stdio.h>
#include <uv.h>

void petra_print_version(const char *prog, FILE *out) {
  fprintf(out, "%s %s (librdkafka %s, libuv %s, protobuf-c %s)\n", prog, PETRA_VERSION,
          rd_kafka_version_str(), uv_version_string(), protobuf_c_version());
}
