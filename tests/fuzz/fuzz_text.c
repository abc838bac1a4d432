/* Fuzz target: the text parsers — config file, model spec, genome, CSV (first byte picks). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "csv.h"
#include "petra/genome.h"
#include "petra/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 65536) return 0;
  char *text = malloc(size);
  memcpy(text, data + 1, size - 1);
  text[size - 1] = 0;
  char err[512];
  switch (data[0] % 4) {
    case 0: {
      static petrad_config c;
      petrad_config_defaults(&c);
      if (petrad_config_parse(&c, text, "fuzz.conf", err, sizeof err) == 0)
        petrad_config_validate(&c, err, sizeof err);
      break;
    }
    case 1: {
      petra_model_spec s;
      if (petra_model_spec_parse(text, &s, NULL) == 0) {
        char out[1024];
        petra_model_spec_format(&s, out, sizeof out);
        petra_model_spec back;
        if (petra_model_spec_parse(out, &back, NULL) != 0) abort(); /* format must re-parse */
      }
      break;
    }
    case 2: {
      petra_genome g;
      if (petra_genome_parse(text, &g, NULL) == 0) {
        char out[4096];
        petra_genome_format(&g, out, sizeof out);
        petra_genome back;
        if (petra_genome_parse(out, &back, NULL) != 0) abort();
      }
      break;
    }
    default: {
      csv_reader *r = csv_open_mem(text, size - 1, "fuzz.csv", err, sizeof err);
      if (r) {
        char **f;
        int nf;
        while (csv_next(r, &f, &nf, err, sizeof err) == 1) {
        }
        csv_close(r);
      }
      break;
    }
  }
  free(text);
  return 0;
}
