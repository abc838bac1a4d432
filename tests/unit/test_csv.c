/* CSV reader: RFC 4180 quoting, CRLF, blank lines; a table of malformed inputs with the
 * error each must give; the real data sets in ../shared/data parse completely. */
#include "check.h"
#include "csv.h"

TEST(quoted_fields_crlf_and_blank_lines) {
  const char *text = "a,b,c\r\n1,\"x,y\",3\r\n\r\n\"he said \"\"hi\"\"\",,\"multi\nline\"\n";
  char err[256];
  csv_reader *r = csv_open_mem(text, strlen(text), "t.csv", err, sizeof err);
  REQUIRE(r);
  CHECK_EQ_INT(csv_columns(r), 3);
  CHECK_EQ_INT(csv_column(r, "c"), 2);
  CHECK_EQ_INT(csv_column(r, "z"), -1);
  char **f;
  int nf;
  REQUIRE(csv_next(r, &f, &nf, err, sizeof err) == 1);
  CHECK_STR(f[1], "x,y");
  REQUIRE(csv_next(r, &f, &nf, err, sizeof err) == 1);
  CHECK_STR(f[0], "he said \"hi\"");
  CHECK_STR(f[1], "");
  CHECK_STR(f[2], "multi\nline");
  CHECK_EQ_INT(csv_next(r, &f, &nf, err, sizeof err), 0);
  csv_close(r);
}

TEST(malformed_csv_is_rejected_with_line_numbers) {
  struct {
    const char *text, *expect;
  } bad[] = {
      {"", "empty (no header row)"},
      {"a,b\n1,2,3\n", "t.csv:2: 3 fields, the header has 2"},
      {"a,b\n1\n", "t.csv:2: 1 fields"},
      {"a,b\n\"1,2\n", "unterminated quoted field"},
      {"a,b\n\"1\"x,2\n", "text after a closing quote"},
      {"a,b\n1\"2,3\n", "quote inside an unquoted field"},
  };
  for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char err[256] = "";
    csv_reader *r = csv_open_mem(bad[i].text, strlen(bad[i].text), "t.csv", err, sizeof err);
    int rc = -1;
    if (r) {
      char **f;
      int nf;
      while ((rc = csv_next(r, &f, &nf, err, sizeof err)) == 1) {
      }
      csv_close(r);
    }
    CHECK_MSG(rc == -1, "accepted: %s", bad[i].text);
    CHECK_MSG(strstr(err, bad[i].expect) != NULL, "'%s' lacks '%s'", err, bad[i].expect);
  }
  char err[256];
  CHECK(csv_open("/nonexistent.csv", err, sizeof err) == NULL);
  CHECK(strstr(err, "cannot open") != NULL);
}

TEST(shared_real_data_sets_parse_completely) {
  struct {
    const char *path;
    int rows, cols;
  } sets[] = {
      {PETRA_SOURCE_DIR "/../shared/data/ett/ETTh1.csv", 17420, 8},
      {PETRA_SOURCE_DIR "/../shared/data/age-sample/age-transactions.csv", 1000, 4},
      {PETRA_SOURCE_DIR "/../shared/data/age-sample/age-bin.csv", 100, 2},
  };
  for (unsigned i = 0; i < 3; i++) {
    char err[256];
    csv_reader *r = csv_open(sets[i].path, err, sizeof err);
    CHECK_MSG(r != NULL, "%s", err);
    if (!r) continue;
    CHECK_EQ_INT(csv_columns(r), sets[i].cols);
    char **f;
    int nf, rows = 0, rc;
    while ((rc = csv_next(r, &f, &nf, err, sizeof err)) == 1) rows++;
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(rows, sets[i].rows);
    csv_close(r);
  }
}
