/* Mapping CSV rows to input messages, shared by `petra train` and `petra replay`:
 * --entity, --time, --amount, --categorical FIELD=COL,..., --numeric COL,..., --label COL
 * for events; --time, --channels, --series-id for series points. */
#ifndef PETRA_CSVMAP_H
#define PETRA_CSVMAP_H
#include <stdint.h>

#include "csv.h"
#include "petra.pb-c.h"
#include "petra/model.h"

typedef struct csvmap_opts {
  const char *entity, *time, *amount, *categorical, *numeric, *label;
} csvmap_opts;

typedef struct csvmap {
  int c_ent, c_time, c_amt, c_lab;
  int ncat, nnum;
  int cat_col[PETRA_MAX_FIELDS], num_col[64];
  char cat_field[PETRA_MAX_FIELDS][PETRA_NAME_MAX];
  char num_name[64][PETRA_NAME_MAX];
  char numerics_csv[2048]; /* the numeric names, comma-separated, for features_new */
  /* storage the produced Event points into (valid until the next row) */
  Petra__V1__Category cs[PETRA_MAX_FIELDS], *cps[PETRA_MAX_FIELDS];
  Petra__V1__Numeric ns[64], *nps[64];
} csvmap;

/* Resolves column names against the reader's header; err names a missing column. */
int csvmap_init(csvmap *m, const csvmap_opts *o, const csv_reader *r, char *err, size_t n);
/* Fills e from a row (e's pointers point into the row and into m). Returns 0, or −1 when a
 * value does not parse (err says which). */
int csvmap_event(csvmap *m, char **fields, Petra__V1__Event *e, char *err, size_t n);
/* "YYYY-MM-DD[ HH:MM[:SS]]" (or with slashes) or a number (small numbers are days, as trans_date; large are ms). */
int csvmap_time_ms(const char *s, int64_t *ms);
int csvmap_number(const char *s, double *v);
#endif
