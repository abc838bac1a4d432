/* Fuzz target: the text parsers — config file, model spec, genome, CSV, control-socket
 * command line, petractl's JSON reader (first byte picks). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "csv.h"
#include "ctl.h"
#include "minijson.h"
#include "petra/genome.h"
#include "petra/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 65536) return 0;
  char *text = malloc(size);
  memcpy(text, data + 1, size - 1);
  text[size - 1] = 0;
  char err[512];
  switch (data[0] % 6) {
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
    case 4: {
      ctl_request rq;
      if (ctl_parse(text, size - 1, &rq, err, sizeof err) == 0) {
        /* an accepted line names a known command and, for loglevel, a valid level */
        if (!strcmp(ctl_cmd_name(rq.cmd), "?")) abort();
        if (rq.cmd == CTL_LOGLEVEL && !rq.arg[0]) abort();
      }
      break;
    }
    case 5: {
      mj_doc *d = mj_parse(text, size - 1, err, sizeof err);
      if (d) {
        const mj *r = mj_root(d);
        if (!r) abort();
        mj_get(r, "ok");
        mj_free(d);
      }
      break;
    }
    case 3: {
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
    default:
      break;
  }
  free(text);
  return 0;
}
