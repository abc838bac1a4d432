#include "csv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct csv_reader {
  FILE *f;
  const char *mem;
  size_t mem_len, mem_off;
  char name[256];
  long line;
  char *buf;     /* current record, unescaped in place */
  size_t cap;
  char *fields[CSV_MAX_FIELDS];
  int nfields;
  char *hdr_buf;
  char *hdr[CSV_MAX_FIELDS];
  int nhdr;
};

static int getch(csv_reader *r) {
  if (r->f) return fgetc(r->f);
  return r->mem_off < r->mem_len ? (unsigned char)r->mem[r->mem_off++] : EOF;
}

/* Reads one record (which may span lines inside quotes) and splits it. */
static int read_record(csv_reader *r, char *err, size_t n) {
  size_t len = 0;
  int nf = 0, inq = 0, any = 0, c;
  size_t field_start = 0;
  int after_quote = 0;
  r->line++;
  long start_line = r->line;
  for (;;) {
    c = getch(r);
    if (c == EOF) {
      if (inq) {
        snprintf(err, n, "%s:%ld: unterminated quoted field", r->name, start_line);
        return -1;
      }
      if (!any) return 0;
      break;
    }
    any = 1;
    if (len + 2 > r->cap) {
      if (r->cap >= CSV_MAX_LINE) {
        snprintf(err, n, "%s:%ld: record longer than %d bytes", r->name, start_line, CSV_MAX_LINE);
        return -1;
      }
      r->cap = r->cap ? r->cap * 2 : 4096;
      char *nb = realloc(r->buf, r->cap);
      if (!nb) {
        snprintf(err, n, "%s: out of memory", r->name);
        return -1;
      }
      r->buf = nb;
    }
    if (inq) {
      if (c == '"') {
        int d = getch(r);
        if (d == '"') {
          r->buf[len++] = '"';
        } else {
          inq = 0;
          after_quote = 1;
          if (d == EOF) break;
          /* re-handle d as a normal character */
          c = d;
          goto normal;
        }
      } else {
        if (c == '\n') r->line++;
        r->buf[len++] = (char)c;
      }
      continue;
    }
  normal:
    if (c == '\r') continue;
    if (c == '\n') break;
    if (c == ',') {
      if (nf == CSV_MAX_FIELDS - 1) {
        snprintf(err, n, "%s:%ld: more than %d fields", r->name, start_line, CSV_MAX_FIELDS);
        return -1;
      }
      r->buf[len++] = 0;
      nf++;
      field_start = len;
      after_quote = 0;
      continue;
    }
    if (after_quote) {
      snprintf(err, n, "%s:%ld: text after a closing quote", r->name, start_line);
      return -1;
    }
    if (c == '"') {
      if (len != field_start) {
        snprintf(err, n, "%s:%ld: quote inside an unquoted field", r->name, start_line);
        return -1;
      }
      inq = 1;
      continue;
    }
    r->buf[len++] = (char)c;
  }
  if (!r->buf) {
    r->cap = 16;
    r->buf = malloc(r->cap);
    if (!r->buf) return -1;
  }
  r->buf[len] = 0;
  nf++;
  /* field pointers: walk the NUL-separated buffer */
  char *p = r->buf;
  for (int i = 0; i < nf; i++) {
    r->fields[i] = p;
    p += strlen(p) + 1;
  }
  r->nfields = nf;
  return 1;
}

static csv_reader *finish_open(csv_reader *r, char *err, size_t n) {
  int rc = read_record(r, err, n);
  if (rc <= 0) {
    if (rc == 0) snprintf(err, n, "%s: empty (no header row)", r->name);
    csv_close(r);
    return NULL;
  }
  size_t total = 0;
  for (int i = 0; i < r->nfields; i++) total += strlen(r->fields[i]) + 1;
  r->hdr_buf = malloc(total ? total : 1);
  if (!r->hdr_buf) {
    csv_close(r);
    return NULL;
  }
  char *p = r->hdr_buf;
  for (int i = 0; i < r->nfields; i++) {
    strcpy(p, r->fields[i]);
    r->hdr[i] = p;
    p += strlen(p) + 1;
  }
  r->nhdr = r->nfields;
  return r;
}

csv_reader *csv_open(const char *path, char *err, size_t n) {
  csv_reader *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  snprintf(r->name, sizeof r->name, "%s", path);
  r->f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
  if (!r->f) {
    snprintf(err, n, "%s: cannot open: %s", path, strerror(errno));
    free(r);
    return NULL;
  }
  return finish_open(r, err, n);
}

csv_reader *csv_open_mem(const char *data, size_t len, const char *name, char *err, size_t n) {
  csv_reader *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  snprintf(r->name, sizeof r->name, "%s", name);
  r->mem = data;
  r->mem_len = len;
  return finish_open(r, err, n);
}

void csv_close(csv_reader *r) {
  if (!r) return;
  if (r->f && r->f != stdin) fclose(r->f);
  free(r->buf);
  free(r->hdr_buf);
  free(r);
}

int csv_column(const csv_reader *r, const char *name) {
  for (int i = 0; i < r->nhdr; i++)
    if (!strcmp(r->hdr[i], name)) return i;
  return -1;
}
int csv_columns(const csv_reader *r) { return r->nhdr; }
const char *csv_header(const csv_reader *r, int i) { return i >= 0 && i < r->nhdr ? r->hdr[i] : NULL; }
long csv_line(const csv_reader *r) { return r->line; }

int csv_next(csv_reader *r, char ***fields, int *nfields, char *err, size_t n) {
  for (;;) {
    int rc = read_record(r, err, n);
    if (rc <= 0) return rc;
    if (r->nfields == 1 && r->fields[0][0] == 0) continue; /* blank line */
    if (r->nfields != r->nhdr) {
      snprintf(err, n, "%s:%ld: %d fields, the header has %d", r->name, r->line, r->nfields,
               r->nhdr);
      return -1;
    }
    *fields = r->fields;
    *nfields = r->nfields;
    return 1;
  }
}
