/* The loop→trainer queue: bounded in examples (a full queue refuses, never overwrites),
 * keeps examples and marks in order, carries tags, and hands work across threads. */
#include <pthread.h>

#include "check.h"
#include "exqueue.h"

TEST(queue_is_bounded_ordered_and_keeps_marks_in_place) {
  exqueue *q = exq_new(4, 2);
  float ex[2], out[16];
  uint64_t tags[8];
  for (int i = 0; i < 4; i++) {
    ex[0] = (float)i;
    ex[1] = (float)-i;
    CHECK(exq_push_example(q, ex, 100 + (uint64_t)i) == 0);
    if (i == 1) CHECK(exq_push_mark(q, (void *)0x1) == 0);
  }
  CHECK_EQ_INT(exq_free_slots(q), 0);
  CHECK(exq_push_example(q, ex, 9) == -1); /* full: refused, nothing overwritten */
  exq_item it;
  CHECK_EQ_INT(exq_pop(q, out, tags, 8, 0, &it), 2); /* stops before the mark */
  CHECK(it.type == EXQ_EXAMPLE && out[0] == 0 && out[2] == 1 && out[3] == -1);
  CHECK(tags[0] == 100 && tags[1] == 101);
  CHECK_EQ_INT(exq_pop(q, out, tags, 8, 0, &it), 1);
  CHECK(it.type == EXQ_MARK && it.mark == (void *)0x1);
  CHECK_EQ_INT(exq_pop(q, out, tags, 1, 0, &it), 1);
  CHECK(out[0] == 2 && tags[0] == 102);
  CHECK_EQ_INT(exq_len(q), 1);
  CHECK_EQ_INT(exq_pop(q, out, NULL, 8, 0, &it), 1);
  CHECK_EQ_INT(exq_pop(q, out, NULL, 8, 10, &it), 0); /* empty: times out */
  CHECK(it.type == 0);
  exq_free(q, NULL);
}

static void *consumer(void *arg) {
  exqueue *q = arg;
  float out[64];
  uint64_t tags[32], expect = 0, *bad = calloc(1, sizeof *bad);
  while (expect < 100000) {
    exq_item it;
    int n = exq_pop(q, out, tags, 32, 100, &it);
    for (int i = 0; i < n && it.type == EXQ_EXAMPLE; i++) {
      if (tags[i] != expect || out[2 * i] != (float)(expect % 1000)) (*bad)++;
      expect++;
    }
  }
  return bad;
}

TEST(examples_cross_threads_in_order_without_loss) {
  exqueue *q = exq_new(64, 2);
  pthread_t th;
  pthread_create(&th, NULL, consumer, q);
  float ex[2] = {0, 0};
  for (uint64_t i = 0; i < 100000;) {
    ex[0] = (float)(i % 1000);
    if (exq_push_example(q, ex, i) == 0) i++;
    else sched_yield();
  }
  uint64_t *bad;
  pthread_join(th, (void **)&bad);
  CHECK_EQ_INT(*bad, 0);
  free(bad);
  exq_free(q, NULL);
}
