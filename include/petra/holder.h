/* Hot swap of the thing scorers use (a compiled plan with its snapshot metadata) while
 * scoring continues.
 *
 * Readers never block and never see a half-built value: a value is built completely before
 * petra_holder_swap publishes it with one atomic exchange. Reclamation uses hazard pointers:
 * a reader announces the value it uses in its own slot (petra_holder_acquire) and clears it
 * when done (petra_holder_release); the swapper frees the old value once no slot announces
 * it — "when its last reader is done" — waiting (yielding) only in the swapping thread.
 *
 * Each reader thread takes one slot with petra_holder_reader (at most max_readers slots).
 * acquire/release are a handful of atomic operations, no lock and no allocation. */
#ifndef PETRA_HOLDER_H
#define PETRA_HOLDER_H
#include <stdint.h>

typedef struct petra_holder petra_holder;

/* free_fn destroys a value that was swapped out (and the last one at petra_holder_free). */
petra_holder *petra_holder_new(int max_readers, void (*free_fn)(void *));
/* Frees the current value; no reader may be inside acquire/release any more. */
void petra_holder_free(petra_holder *h);
/* A reader slot for the calling thread (0..max_readers−1), or −1 when all are taken. */
int petra_holder_reader(petra_holder *h);
/* The current value (NULL before the first swap), safe to use until release. */
void *petra_holder_acquire(petra_holder *h, int slot);
void petra_holder_release(petra_holder *h, int slot);
/* Publishes next (may be NULL) and frees the previous value after its readers are done.
 * One swapper at a time (callers serialize swaps). Returns how many microseconds were spent
 * waiting for readers. */
double petra_holder_swap(petra_holder *h, void *next);
/* Number of swaps so far. */
uint64_t petra_holder_swaps(const petra_holder *h);
#endif
