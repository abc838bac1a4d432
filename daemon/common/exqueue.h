/* Bounded single-producer single-consumer queue of examples and control marks between the
 * loop thread (producer) and the trainer thread (consumer). Capacity counts examples; marks
 * do not use example space (they carry a heap blob the consumer takes ownership of). The
 * producer never blocks: it asks exq_free() first and pauses its input when space runs low.
 * The consumer blocks with a timeout. */
#ifndef PETRA_EXQUEUE_H
#define PETRA_EXQUEUE_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

enum { EXQ_EXAMPLE = 1, EXQ_MARK = 2 };

typedef struct exq_item {
  int type;
  void *mark; /* EXQ_MARK: owned by whoever pops it */
} exq_item;

typedef struct exqueue exqueue;

exqueue *exq_new(int capacity, int example_floats);
void exq_free(exqueue *q, void (*free_mark)(void *));
int exq_free_slots(exqueue *q);
int exq_len(exqueue *q);
/* Returns 0, or −1 when full (the caller must not lose the example: it pauses and retries).
 * tag travels with the example (petrad: the input event id, for the training audit). */
int exq_push_example(exqueue *q, const float *ex, uint64_t tag);
/* Marks always fit (they are few); returns −1 only when out of memory. */
int exq_push_mark(exqueue *q, void *mark);
/* Pops up to max examples into out and their tags into tags (may be NULL), stopping before a
 * mark, or one mark. Waits up to timeout_ms when empty. Returns the number of examples (type
 * EXQ_EXAMPLE), 1 for a mark (type EXQ_MARK, item->mark set), 0 on timeout. */
int exq_pop(exqueue *q, float *out, uint64_t *tags, int max, int timeout_ms, exq_item *item);
#endif
