#include "petra/holder.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

/* one cache line per slot: readers on different cores do not share lines */
typedef struct slot {
  _Atomic(void *) hazard;
  _Atomic int taken;
  char pad[64 - sizeof(void *) - sizeof(int)];
} slot;

struct petra_holder {
  _Atomic(void *) current;
  _Atomic uint64_t swaps;
  void (*free_fn)(void *);
  int max_readers;
  slot *slots;
};

petra_holder *petra_holder_new(int max_readers, void (*free_fn)(void *)) {
  if (max_readers < 1 || max_readers > 4096) return NULL;
  petra_holder *h = calloc(1, sizeof *h);
  if (!h) return NULL;
  h->slots = aligned_alloc(64, sizeof(slot) * (size_t)max_readers);
  if (!h->slots) {
    free(h);
    return NULL;
  }
  for (int i = 0; i < max_readers; i++) {
    atomic_init(&h->slots[i].hazard, NULL);
    atomic_init(&h->slots[i].taken, 0);
  }
  atomic_init(&h->current, NULL);
  atomic_init(&h->swaps, 0);
  h->free_fn = free_fn;
  h->max_readers = max_readers;
  return h;
}

void petra_holder_free(petra_holder *h) {
  if (!h) return;
  void *v = atomic_load(&h->current);
  if (v && h->free_fn) h->free_fn(v);
  free(h->slots);
  free(h);
}

int petra_holder_reader(petra_holder *h) {
  for (int i = 0; i < h->max_readers; i++) {
    int expect = 0;
    if (atomic_compare_exchange_strong(&h->slots[i].taken, &expect, 1)) return i;
  }
  return -1;
}

void *petra_holder_acquire(petra_holder *h, int slot_i) {
  slot *s = &h->slots[slot_i];
  void *v = atomic_load(&h->current);
  for (;;) {
    /* announce, then confirm it is still current: a swapper that exchanged after our
     * load either sees our hazard (seq_cst order) or we see its new value and retry */
    atomic_store(&s->hazard, v);
    void *again = atomic_load(&h->current);
    if (again == v) return v;
    v = again;
  }
}

void petra_holder_release(petra_holder *h, int slot_i) { atomic_store(&h->slots[slot_i].hazard, NULL); }

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

double petra_holder_swap(petra_holder *h, void *next) {
  void *old = atomic_exchange(&h->current, next);
  atomic_fetch_add(&h->swaps, 1);
  if (!old) return 0;
  double t0 = now_us();
  for (int i = 0; i < h->max_readers; i++)
    for (int spins = 0; atomic_load(&h->slots[i].hazard) == old; spins++) {
      if (spins < 100) {
        sched_yield();
      } else { /* the reader is descheduled: let it run */
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
      }
    }
  double waited = now_us() - t0;
  if (h->free_fn) h->free_fn(old);
  return waited;
}

uint64_t petra_holder_swaps(const petra_holder *h) { return atomic_load(&((petra_holder *)h)->swaps); }
