/* Streaming CSV reader (RFC 4180: comma separated, double-quoted fields with "" escapes,
 * LF or CRLF line ends). Errors name the file and line. */
#ifndef PETRA_CSV_H
#define PETRA_CSV_H
#include <stddef.h>
#include <stdio.h>

#define CSV_MAX_FIELDS 1024
#define CSV_MAX_LINE (1 << 20)

typedef struct csv_reader csv_reader;

/* Opens path ("-" = stdin) and reads the header row. */
csv_reader *csv_open(const char *path, char *err, size_t errlen);
/* Reads from a memory buffer (fuzzing, tests); the buffer must outlive the reader. */
csv_reader *csv_open_mem(const char *data, size_t len, const char *name, char *err, size_t errlen);
void csv_close(csv_reader *r);
/* Column index of a header name, or −1. */
int csv_column(const csv_reader *r, const char *name);
int csv_columns(const csv_reader *r);
const char *csv_header(const csv_reader *r, int i);
/* Next row: 1 with fields/nfields set (valid until the next call), 0 at end, −1 on error
 * (malformed quoting, wrong number of fields, line too long). */
int csv_next(csv_reader *r, char ***fields, int *nfields, char *err, size_t errlen);
long csv_line(const csv_reader *r);
#endif
