#include "exqueue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Entries are kept in order in a ring of `slots` records; an example record points at its
 * floats in a parallel ring of capacity × width floats. A mark uses a record but no floats. */
typedef struct rec {
  int type;
  void *mark;
  uint64_t tag;
} rec;

struct exqueue {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int cap, width;
  float *data; /* cap × width */
  int data_head, n_examples;
  rec *recs;
  int rec_cap, rec_head, n_recs;
};

exqueue *exq_new(int capacity, int width) {
  exqueue *q = calloc(1, sizeof *q);
  if (!q) return NULL;
  q->cap = capacity;
  q->width = width;
  q->rec_cap = capacity + 1024; /* room for marks beside a full queue of examples */
  q->data = malloc(sizeof(float) * (size_t)capacity * width);
  q->recs = malloc(sizeof(rec) * (size_t)q->rec_cap);
  if (!q->data || !q->recs) {
    free(q->data);
    free(q->recs);
    free(q);
    return NULL;
  }
  pthread_mutex_init(&q->mu, NULL);
  pthread_cond_init(&q->cv, NULL);
  return q;
}

void exq_free(exqueue *q, void (*free_mark)(void *)) {
  if (!q) return;
  for (int i = 0; i < q->n_recs; i++) {
    rec *r = &q->recs[(q->rec_head + i) % q->rec_cap];
    if (r->type == EXQ_MARK && free_mark) free_mark(r->mark);
  }
  pthread_mutex_destroy(&q->mu);
  pthread_cond_destroy(&q->cv);
  free(q->data);
  free(q->recs);
  free(q);
}

int exq_free_slots(exqueue *q) {
  pthread_mutex_lock(&q->mu);
  int f = q->cap - q->n_examples;
  pthread_mutex_unlock(&q->mu);
  return f;
}

int exq_len(exqueue *q) {
  pthread_mutex_lock(&q->mu);
  int n = q->n_examples;
  pthread_mutex_unlock(&q->mu);
  return n;
}

static void push_rec(exqueue *q, int type, void *mark, uint64_t tag) {
  rec *r = &q->recs[(q->rec_head + q->n_recs) % q->rec_cap];
  r->type = type;
  r->mark = mark;
  r->tag = tag;
  q->n_recs++;
}

int exq_push_example(exqueue *q, const float *ex, uint64_t tag) {
  pthread_mutex_lock(&q->mu);
  if (q->n_examples == q->cap || q->n_recs == q->rec_cap) {
    pthread_mutex_unlock(&q->mu);
    return -1;
  }
  int slot = (q->data_head + q->n_examples) % q->cap;
  memcpy(q->data + (size_t)slot * q->width, ex, sizeof(float) * q->width);
  q->n_examples++;
  push_rec(q, EXQ_EXAMPLE, NULL, tag);
  pthread_cond_signal(&q->cv);
  pthread_mutex_unlock(&q->mu);
  return 0;
}

int exq_push_mark(exqueue *q, void *mark) {
  pthread_mutex_lock(&q->mu);
  if (q->n_recs == q->rec_cap) {
    pthread_mutex_unlock(&q->mu);
    return -1;
  }
  push_rec(q, EXQ_MARK, mark, 0);
  pthread_cond_signal(&q->cv);
  pthread_mutex_unlock(&q->mu);
  return 0;
}

int exq_pop(exqueue *q, float *out, uint64_t *tags, int max, int timeout_ms, exq_item *item) {
  pthread_mutex_lock(&q->mu);
  if (q->n_recs == 0 && timeout_ms > 0) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    while (q->n_recs == 0)
      if (pthread_cond_timedwait(&q->cv, &q->mu, &ts) == ETIMEDOUT) break;
  }
  int got = 0;
  item->type = 0;
  item->mark = NULL;
  if (q->n_recs > 0 && q->recs[q->rec_head].type == EXQ_MARK) {
    item->type = EXQ_MARK;
    item->mark = q->recs[q->rec_head].mark;
    q->rec_head = (q->rec_head + 1) % q->rec_cap;
    q->n_recs--;
    got = 1;
  } else {
    while (got < max && q->n_recs > 0 && q->recs[q->rec_head].type == EXQ_EXAMPLE) {
      memcpy(out + (size_t)got * q->width, q->data + (size_t)q->data_head * q->width,
             sizeof(float) * q->width);
      if (tags) tags[got] = q->recs[q->rec_head].tag;
      q->data_head = (q->data_head + 1) % q->cap;
      q->n_examples--;
      q->rec_head = (q->rec_head + 1) % q->rec_cap;
      q->n_recs--;
      got++;
    }
    if (got) item->type = EXQ_EXAMPLE;
  }
  pthread_mutex_unlock(&q->mu);
  return got;
}
