/* Minimal test harness: TEST(name) defines a test; main() runs the one named in argv[1]
 * (ctest registers each separately) or all of them with no argument. CHECK* macros report
 * file:line and the values, and fail the test without stopping at the first failure. */
#ifndef PETRA_TEST_CHECK_H
#define PETRA_TEST_CHECK_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*test_fn)(void);
struct test_case {
  const char *name;
  test_fn fn;
};
#define MAX_TESTS 256
static struct test_case tests_[MAX_TESTS];
static int ntests_;
static int failures_;

#define TEST(name)                                                                     \
  static void test_##name(void);                                                       \
  __attribute__((constructor)) static void register_##name(void) {                     \
    if (ntests_ < MAX_TESTS) tests_[ntests_++] = (struct test_case){#name, test_##name}; \
  }                                                                                    \
  static void test_##name(void)

#define CHECK(cond)                                                                   \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);        \
      failures_++;                                                                    \
    }                                                                                 \
  } while (0)
#define CHECK_MSG(cond, ...)                                                          \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);        \
      fprintf(stderr, __VA_ARGS__);                                                   \
      fputc('\n', stderr);                                                            \
      failures_++;                                                                    \
    }                                                                                 \
  } while (0)
#define CHECK_EQ_INT(a, b)                                                                       \
  do {                                                                                           \
    long long a_ = (long long)(a), b_ = (long long)(b);                                          \
    if (a_ != b_) {                                                                              \
      fprintf(stderr, "%s:%d: CHECK_EQ_INT failed: %s = %lld, %s = %lld\n", __FILE__, __LINE__, \
              #a, a_, #b, b_);                                                                   \
      failures_++;                                                                               \
    }                                                                                            \
  } while (0)
#define CHECK_NEAR(a, b, tol)                                                                  \
  do {                                                                                         \
    double a_ = (double)(a), b_ = (double)(b);                                                 \
    if (!(fabs(a_ - b_) <= (tol))) {                                                           \
      fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s = %.9g, %s = %.9g, tol %g\n", __FILE__,    \
              __LINE__, #a, a_, #b, b_, (double)(tol));                                        \
      failures_++;                                                                             \
    }                                                                                          \
  } while (0)
#define CHECK_STR(a, b)                                                                    \
  do {                                                                                     \
    const char *a_ = (a), *b_ = (b);                                                       \
    if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                               \
      fprintf(stderr, "%s:%d: CHECK_STR failed: %s = \"%s\", %s = \"%s\"\n", __FILE__,     \
              __LINE__, #a, a_ ? a_ : "(null)", #b, b_ ? b_ : "(null)");                   \
      failures_++;                                                                         \
    }                                                                                      \
  } while (0)
#define REQUIRE(cond)                                                                 \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond);      \
      failures_++;                                                                    \
      return;                                                                         \
    }                                                                                 \
  } while (0)

int main(int argc, char **argv) {
  int ran = 0;
  for (int i = 0; i < ntests_; i++) {
    if (argc > 1 && strcmp(argv[1], tests_[i].name) != 0) continue;
    int before = failures_;
    tests_[i].fn();
    fprintf(stderr, "%s %s\n", failures_ == before ? "PASS" : "FAIL", tests_[i].name);
    ran++;
  }
  if (ran == 0) {
    fprintf(stderr, "no test named %s\n", argc > 1 ? argv[1] : "(any)");
    return 2;
  }
  return failures_ ? 1 : 0;
}
#endif
