/* Hot swap (petra/holder.h): concurrent scorers while another thread swaps snapshots as fast
 * as it can. Every value a reader acquires must be whole (its checksum holds) and alive (a
 * freed value is poisoned first, and ASan/TSan builds catch any use after free or race);
 * every swapped-out value is freed exactly once; scores from real plans equal the reference
 * scores of the plan version the reader held. Run under TSan by tests/run.sh. */
#include <pthread.h>
#include <stdatomic.h>

#include "check.h"
#include "exgen.h"
#include "petra/holder.h"
#include "petra/plan.h"
#include "petra/snapshot.h"

enum { N_READERS = 3, WORDS = 64 };

typedef struct value {
  _Atomic uint64_t magic;
  uint64_t id;
  uint64_t words[WORDS];
  uint64_t sum;
} value;

static _Atomic uint64_t freed;

static void value_free(void *p) {
  value *v = p;
  atomic_store(&v->magic, 0xdeadULL); /* a reader still using it would see this */
  atomic_fetch_add(&freed, 1);
  free(v);
}

static value *value_new(uint64_t id) {
  value *v = malloc(sizeof *v);
  atomic_init(&v->magic, 0x5ca1ab1eULL);
  v->id = id;
  v->sum = 0;
  for (int i = 0; i < WORDS; i++) v->sum += v->words[i] = id * 2654435761u + (uint64_t)i;
  return v;
}

typedef struct reader_arg {
  petra_holder *h;
  _Atomic int *stop;
  _Atomic uint64_t *total; /* reads by all readers, for the writer to pace itself */
  uint64_t reads, bad, nulls, max_id_seen, went_back;
} reader_arg;

static void *reader(void *p) {
  reader_arg *a = p;
  int slot = petra_holder_reader(a->h);
  if (slot < 0) {
    a->bad++;
    return NULL;
  }
  uint64_t last = 0;
  while (!atomic_load(a->stop)) {
    value *v = petra_holder_acquire(a->h, slot);
    if (!v) {
      a->nulls++;
    } else {
      uint64_t s = 0;
      for (int i = 0; i < WORDS; i++) s += v->words[i];
      if (atomic_load(&v->magic) != 0x5ca1ab1eULL || s != v->sum) a->bad++;
      if (v->id < last) a->went_back++; /* swaps only move forward */
      last = v->id;
      if (v->id > a->max_id_seen) a->max_id_seen = v->id;
    }
    petra_holder_release(a->h, slot);
    a->reads++;
    if (a->total) atomic_fetch_add(a->total, 1);
  }
  return NULL;
}

TEST(readers_see_whole_live_values_while_swapping) {
  atomic_store(&freed, 0);
  petra_holder *h = petra_holder_new(8, value_free);
  REQUIRE(h);
  _Atomic int stop = 0;
  _Atomic uint64_t total = 0;
  pthread_t t[N_READERS];
  reader_arg a[N_READERS];
  memset(a, 0, sizeof a);
  for (int i = 0; i < N_READERS; i++) {
    a[i].h = h;
    a[i].stop = &stop;
    a[i].total = &total;
    pthread_create(&t[i], NULL, reader, &a[i]);
  }
  /* at least 2000 swaps, and on until the readers have read 1000 times while they ran (on a
   * busy host the readers may not be scheduled during the first 2000) */
  uint64_t swaps = 0;
  while (swaps < 2000 || atomic_load(&total) < 1000) petra_holder_swap(h, value_new(++swaps));
  atomic_store(&stop, 1);
  uint64_t reads = 0;
  for (int i = 0; i < N_READERS; i++) {
    pthread_join(t[i], NULL);
    CHECK_EQ_INT((int)a[i].bad, 0);
    CHECK_EQ_INT((int)a[i].went_back, 0);
    reads += a[i].reads;
  }
  CHECK(reads >= 1000);
  CHECK_EQ_INT((int)atomic_load(&freed), (int)swaps - 1); /* all but the current one */
  CHECK_EQ_INT((int)petra_holder_swaps(h), (int)swaps);
  value *cur = petra_holder_acquire(h, 0);
  CHECK(cur && cur->id == swaps);
  petra_holder_release(h, 0);
  petra_holder_free(h);
  CHECK_EQ_INT((int)atomic_load(&freed), (int)swaps);
}

TEST(reader_slots_are_bounded) {
  petra_holder *h = petra_holder_new(2, NULL);
  REQUIRE(h);
  CHECK_EQ_INT(petra_holder_reader(h), 0);
  CHECK_EQ_INT(petra_holder_reader(h), 1);
  CHECK_EQ_INT(petra_holder_reader(h), -1);
  CHECK(petra_holder_acquire(h, 0) == NULL); /* nothing published yet */
  petra_holder_release(h, 0);
  petra_holder_free(h);
  CHECK(petra_holder_new(0, NULL) == NULL);
}

/* real plans: two snapshots of different weights; scorers check each output against the
 * reference for the version they held */
typedef struct plan_arg {
  petra_holder *h;
  _Atomic int *stop;
  const float *ex;
  const float *ref[3]; /* by version */
  int n_out;
  uint64_t scored, mismatched;
} plan_arg;

static void *plan_reader(void *p) {
  plan_arg *a = p;
  int slot = petra_holder_reader(a->h);
  float out[8];
  void *scratch = NULL;
  size_t scratch_n = 0;
  while (!atomic_load(a->stop)) {
    petra_loaded *l = petra_holder_acquire(a->h, slot);
    if (l) {
      size_t need = petra_plan_scratch_bytes(l->plan, 1);
      if (need > scratch_n) {
        free(scratch);
        scratch = aligned_alloc(64, (need + 63) / 64 * 64);
        scratch_n = need;
      }
      petra_plan_score(l->plan, 1, a->ex, out, scratch);
      if (memcmp(out, a->ref[l->info.version], sizeof(float) * (size_t)a->n_out)) a->mismatched++;
      a->scored++;
    }
    petra_holder_release(a->h, slot);
  }
  free(scratch);
  return NULL;
}

TEST(plans_swap_under_concurrent_scoring) {
  petra_model_spec spec;
  petra_err err = {0};
  REQUIRE(petra_model_spec_parse("seq fields=mcc:50:4 numeric=2 len=6 dense=8 act=relu gru=8 classes=1", &spec, &err) == 0);
  uint8_t *buf[3] = {0};
  size_t len[3] = {0};
  float ref[3][8];
  float *ex = NULL;
  for (int v = 1; v <= 2; v++) {
    petra_model *m = petra_model_new(&spec, 100 + (uint64_t)v, &err);
    REQUIRE(m);
    if (!ex) ex = exgen(m, 1, 7, 2.0);
    petra_snapshot_info info;
    memset(&info, 0, sizeof info);
    snprintf(info.model_id, sizeof info.model_id, "m");
    info.version = (uint64_t)v;
    snprintf(info.genome, sizeof info.genome, "%s", v == 2 ? "dense0:bits=8;gru0:bits=8" : "");
    REQUIRE(petra_snapshot_encode_model(m, &info, &buf[v], &len[v], &err) == 0);
    petra_loaded *l = petra_snapshot_load(buf[v], len[v], 0, &err);
    REQUIRE(l);
    void *scr = aligned_alloc(64, (petra_plan_scratch_bytes(l->plan, 1) + 63) / 64 * 64);
    petra_plan_score(l->plan, 1, ex, ref[v], scr);
    free(scr);
    petra_loaded_free(l);
    petra_model_free(m);
  }
  petra_holder *h = petra_holder_new(4, petra_loaded_free);
  _Atomic int stop = 0;
  plan_arg a[2];
  pthread_t t[2];
  for (int i = 0; i < 2; i++) {
    memset(&a[i], 0, sizeof a[i]);
    a[i].h = h;
    a[i].stop = &stop;
    a[i].ex = ex;
    a[i].ref[1] = ref[1];
    a[i].ref[2] = ref[2];
    a[i].n_out = 1;
    pthread_create(&t[i], NULL, plan_reader, &a[i]);
  }
  for (int k = 0; k < 400; k++) {
    int v = 1 + k % 2;
    petra_loaded *l = petra_snapshot_load(buf[v], len[v], 0, &err);
    REQUIRE(l);
    petra_holder_swap(h, l);
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < 2; i++) {
    pthread_join(t[i], NULL);
    CHECK(a[i].scored > 0);
    CHECK_EQ_INT((int)a[i].mismatched, 0);
  }
  CHECK(ref[1][0] != ref[2][0]); /* the two versions do score differently */
  petra_holder_free(h);
  free(buf[1]);
  free(buf[2]);
  free(ex);
}
