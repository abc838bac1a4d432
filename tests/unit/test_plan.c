/* Plans: an all-fp32 plan scores like the model (1e-5); int8 plans stay close; int8 kernel
 * variants are bit-exact; plans are smaller as promised; concurrent scoring is safe. */
#include <pthread.h>

#include <float.h>

#include "check.h"
#include "exgen.h"
#include "block.h"
#include "core.h"
#include "kernels.h"
#include "petra/plan.h"
#include "petra/prune.h"
#include "petra/rng.h"

static float *examples(const petra_model *m, int n, uint64_t seed) { return exgen(m, n, seed, 2.0); }

static const char *fixed_specs[] = {
    "seq fields=mcc:400:16 numeric=16 len=32 dense=32 act=relu gru=64 classes=1",
    "seq fields=mcc:50:4,ch:4:2 numeric=3 len=7 dense=8 layernorm=1 act=gelu gru=6 classes=3",
    "seq fields=mcc:50:4 numeric=2 len=5 dense=0 gru=5",
    "seq fields=mcc:50:4,ch:4:2 numeric=3 len=7 dense=8 act=relu lstm=6 classes=1",
    "seq fields=mcc:50:4 numeric=3 len=7 dense=8 act=relu gru=8,6 classes=1",
    "seq fields=mcc:50:4 numeric=2 len=6 dense=0 lstm=6,5,4 classes=1",
    "seq fields=mcc:50:4 numeric=3 len=7 dense=8 act=relu tf=2:2:8 ffn=16,12 classes=1",
    "seq fields=mcc:50:4 numeric=2 len=6 dense=0 tf=1:4:16 causal=1 pool=mean classes=3",
    "seq fields=mcc:50:4,ch:4:2 numeric=3 len=7 dense=0 tf=2:2:8 ffn=16,12 pos=time:2 classes=1",
    "ts window=24 horizon=6 channels=3 arch=linear ci=1 norm=last",
    "ts window=24 horizon=6 channels=3 arch=mlp hidden=16 ci=0 target=2 norm=none",
    "ts window=12 horizon=4 channels=2 arch=gru gru=8 ci=1 norm=last",
    "ts window=24 horizon=6 channels=3 arch=dlinear kernel=5 ci=1 norm=last",
    "ts window=24 horizon=6 channels=3 arch=linear ci=0 norm=revin",
};
/* the specs above, then one two-layer model per recurrent core of engine/core.c's table and one
 * model per block by its example (a kind added there is planned, compressed and scored by
 * every test here) */
static unsigned n_specs(void) {
  return (unsigned)(sizeof fixed_specs / sizeof fixed_specs[0]) + (unsigned)petra_n_cores + (unsigned)petra_n_blocks;
}
static const char *spec_at(unsigned k) {
  static char gen[8][160];
  unsigned nf = (unsigned)(sizeof fixed_specs / sizeof fixed_specs[0]), nc = (unsigned)petra_n_cores;
  if (k < nf) return fixed_specs[k];
  if (k < nf + nc)
    snprintf(gen[(k - nf) % 8], sizeof gen[0], "seq fields=mcc:50:4,ch:4:2 numeric=3 len=7 dense=8 act=relu %s=7,5 classes=1",
             petra_cores[k - nf].key);
  else
    snprintf(gen[(k - nf) % 8], sizeof gen[0], "seq fields=mcc:50:4,ch:4:2 numeric=3 len=7 dense=8 act=relu %s classes=1",
             petra_blocks[k - nf - nc]->example);
  return gen[(k - nf) % 8];
}

static double max_rel_diff(const float *a, const float *b, int n) {
  double num = 0, den = 0;
  for (int i = 0; i < n; i++) {
    num = fmax(num, fabs((double)a[i] - b[i]));
    den = fmax(den, fabs((double)b[i]));
  }
  return num / fmax(den, 1e-6);
}

TEST(fp32_plan_scores_like_the_model_and_int8_stays_close) {
  for (unsigned k = 0; k < n_specs(); k++) {
    petra_model_spec spec;
    petra_err err = {0};
    REQUIRE(petra_model_spec_parse(spec_at(k), &spec, &err) == 0);
    petra_model *m = petra_model_new(&spec, 11 + k, &err);
    REQUIRE(m);
    int n = 9, no = petra_model_n_outputs(m);
    float *ex = examples(m, n, 5 + k);
    float *ref = malloc(sizeof(float) * n * no), *got = malloc(sizeof(float) * n * no);
    REQUIRE(petra_model_forward(m, n, ex, ref) == 0);
    petra_genome g;
    petra_genome_identity(&g);
    petra_plan *p = petra_plan_build(m, &g, &err);
    REQUIRE(p);
    void *scratch = malloc(petra_plan_scratch_bytes(p, n));
    REQUIRE(petra_plan_score(p, n, ex, got, scratch) == 0);
    double d32 = max_rel_diff(got, ref, n * no);
    CHECK_MSG(d32 < 1e-5, "%s: fp32 plan differs by %.2e", spec_at(k), d32);
    /* batch 1 gives the same as batch n */
    float one[64];
    REQUIRE(petra_plan_score(p, 1, ex + 2 * petra_model_example_floats(m), one, scratch) == 0);
    for (int i = 0; i < no; i++) CHECK_NEAR(one[i], got[2 * no + i], 1e-5 * fmax(1, fabs(got[2 * no + i])));
    size_t b32 = petra_plan_bytes(p);
    petra_plan_free(p);
    free(scratch);

    petra_genome_parse("emb.mcc:bits=8;dense0:bits=8;gru0:bits=8;head:bits=8", &g, &err);
    p = petra_plan_build(m, &g, &err);
    REQUIRE(p);
    scratch = malloc(petra_plan_scratch_bytes(p, n));
    REQUIRE(petra_plan_score(p, n, ex, got, scratch) == 0);
    double d8 = max_rel_diff(got, ref, n * no);
    fprintf(stderr, "%-70s fp32 %.1e int8 %.1e bytes %zu -> %zu\n", spec_at(k), d32, d8, b32,
            petra_plan_bytes(p));
    CHECK_MSG(d8 < 0.05, "%s: int8 plan differs by %.3f", spec_at(k), d8);
    CHECK(petra_plan_bytes(p) < (k == 0 ? b32 * 0.3 : (double)b32)); /* biases stay fp32 */
    petra_plan_free(p);
    free(scratch);
    free(ex);
    free(ref);
    free(got);
    petra_model_free(m);
  }
}

/* petra score scores a consumed batch in one call and must give each event the score it would
 * get alone: every row of a batch, bit for bit, in every kind of plan. */
TEST(batched_plans_score_every_row_as_one_example_alone) {
  static const char *genomes[] = {
      "",
      "emb.mcc:bits=8;dense0:bits=8;gru0:bits=8;head:bits=8",
      "emb.mcc:bits=4;dense0:bits=4;gru0:bits=4;head:bits=4",
      "dense0:rank=0.5;gru0:rank=0.5,bits=8;head:bits=8",
      "dense0:bits=32;gru0:keep=0.5,bits=8;head:bits=8",
  };
  for (unsigned k = 0; k < n_specs(); k++)
    for (unsigned gi = 0; gi < sizeof genomes / sizeof genomes[0]; gi++) {
      petra_model_spec spec;
      petra_err err = {0};
      REQUIRE(petra_model_spec_parse(spec_at(k), &spec, &err) == 0);
      petra_model *m = petra_model_new(&spec, 21 + k, &err);
      REQUIRE(m);
      petra_genome g;
      petra_genome_identity(&g);
      if (genomes[gi][0]) REQUIRE(petra_genome_parse(genomes[gi], &g, &err) == 0);
      petra_plan *p = petra_plan_build(m, &g, &err);
      if (!p) fprintf(stderr, "%s / %s: %s\n", spec_at(k), genomes[gi], err.msg);
      REQUIRE(p);
      const int n = 37, no = petra_plan_n_outputs(p), ef = petra_plan_example_floats(p); /* 4-row blocks and a tail */
      float *ex = examples(m, n, 3 + k), *all = malloc(sizeof(float) * n * no), *one = malloc(sizeof(float) * no);
      void *scratch = malloc(petra_plan_scratch_bytes(p, n));
      REQUIRE(petra_plan_score(p, n, ex, all, scratch) == 0);
      int differ = 0;
      for (int i = 0; i < n; i++) {
        REQUIRE(petra_plan_score(p, 1, ex + (size_t)i * ef, one, scratch) == 0);
        differ += memcmp(one, all + (size_t)i * no, sizeof(float) * no) != 0;
      }
      CHECK_MSG(differ == 0, "%s / %s: %d of %d rows differ from their batch-1 score", spec_at(k),
                genomes[gi][0] ? genomes[gi] : "fp32", differ, n);
      free(scratch);
      free(ex);
      free(all);
      free(one);
      petra_plan_free(p);
      petra_model_free(m);
    }
}

TEST(int8_kernels_are_bit_exact_across_variants) {
  const petra_kernels *ref = petra_kernels_variant(0);
  petra_rng r;
  petra_rng_seed(&r, 8);
  enum { ROWS = 37, IN = 203 };
  int8_t W[ROWS * IN];
  uint8_t xu0[IN], xu1[IN];
  float x[IN];
  for (int i = 0; i < ROWS * IN; i++) W[i] = (int8_t)((int)petra_rng_below(&r, 255) - 127);
  /* edge rows: all zero, all max magnitude */
  memset(W, 0, IN);
  for (int i = 0; i < IN; i++) W[IN + i] = (i & 1) ? 127 : -127;
  for (int i = 0; i < IN; i++) x[i] = (float)petra_rng_normal(&r) * 3;
  int32_t a0[ROWS], a1[ROWS];
  for (int v = 1; v < 3; v++) {
    const petra_kernels *k = petra_kernels_variant(v);
    if (!k) continue;
    float s0 = ref->quant_row(IN, x, xu0), s1 = k->quant_row(IN, x, xu1);
    CHECK(s0 == s1);
    CHECK(memcmp(xu0, xu1, IN) == 0);
    ref->qdot(ROWS, IN, W, xu0, a0);
    k->qdot(ROWS, IN, W, xu0, a1);
    CHECK_MSG(memcmp(a0, a1, sizeof a0) == 0, "%s qdot differs", k->name);
    /* packed layout: same sums for every variant and as the plain product */
    static int8_t Wp[48 * 204];
    uint8_t xp[204];
    memcpy(xp, xu0, IN);
    xp[203] = 128;
    petra_qpack(ROWS, IN, W, Wp);
    int32_t p0[48], p1[48];
    ref->qdot_packed(48, 204, Wp, xp, p0);
    k->qdot_packed(48, 204, Wp, xp, p1);
    CHECK_MSG(memcmp(p0, p1, sizeof p0) == 0, "%s qdot_packed differs", k->name);
    for (int o = 0; o < ROWS; o++) CHECK_EQ_INT(p0[o], a0[o]);
    /* all-zero input quantizes to the offset only */
    float z[IN] = {0};
    CHECK(k->quant_row(IN, z, xu1) == 1.0f);
    for (int i = 0; i < IN; i++) CHECK(xu1[i] == 128);
  }
  /* the reference agrees with plain integer arithmetic */
  ref->quant_row(IN, x, xu0);
  ref->qdot(ROWS, IN, W, xu0, a0);
  for (int o = 0; o < ROWS; o++) {
    int64_t s = 0;
    for (int i = 0; i < IN; i++) s += (int64_t)xu0[i] * W[o * IN + i];
    CHECK_EQ_INT(a0[o], s);
  }
}

/* The batched forms: quant_rows on rows of every width 1..40 (vector tails, masks) with
 * zero rows, ±FLT_MAX, infinities and NaN among them, and qgemm_packed on 0..9 rows (the
 * four-row blocks and their remainders) equal, byte for byte, the portable single-row
 * kernels. */
TEST(batched_int8_kernels_match_single_row_reference) {
  const petra_kernels *ref = petra_kernels_variant(0);
  petra_rng r;
  petra_rng_seed(&r, 81);
  enum { NR = 9, MAXIN = 40, LD = 48, ROWS = 37 };
  float x[NR * MAXIN];
  uint8_t u0[NR * LD], u1[NR * LD], one[LD];
  float s0[NR], s1[NR];
  for (int v = 0; v < 3; v++) {
    const petra_kernels *k = petra_kernels_variant(v);
    if (!k) continue;
    for (int in = 1; in <= MAXIN; in++) {
      for (int i = 0; i < NR * in; i++) x[i] = (float)petra_rng_normal(&r) * 5;
      for (int i = 0; i < in; i++) x[i] = 0.0f;                  /* row 0: all zero */
      x[in] = FLT_MAX, x[2 * in - 1] = -FLT_MAX;                  /* row 1: max magnitudes */
      x[2 * in] = INFINITY;                                       /* row 2: an infinity */
      if (in > 1) x[3 * in + 1] = NAN;                            /* row 3: a NaN (ignored by the max) */
      memset(u0, 0, sizeof u0);
      memset(u1, 0, sizeof u1);
      k->quant_rows(NR, in, LD, x, u1, s1);
      for (int q = 0; q < NR; q++) {
        s0[q] = ref->quant_row(in, x + q * in, one);
        memcpy(u0 + q * LD, one, (size_t)in);
        memset(u0 + q * LD + in, 128, (size_t)(LD - in));
      }
      CHECK_MSG(memcmp(u0, u1, sizeof u0) == 0, "%s quant_rows bytes differ at width %d", k->name, in);
      CHECK_MSG(memcmp(s0, s1, sizeof s0) == 0, "%s quant_rows scales differ at width %d", k->name, in);
      CHECK(s1[0] == 1.0f && u1[0] == 128);
    }
    static int8_t W[ROWS * 44], Wp[48 * 44];
    for (int i = 0; i < ROWS * 44; i++) W[i] = (int8_t)((int)petra_rng_below(&r, 255) - 127);
    for (int i = 0; i < 44; i++) W[44 + i] = -127;
    petra_qpack(ROWS, 44, W, Wp);
    uint8_t xs[NR * 44];
    for (int i = 0; i < NR * 44; i++) xs[i] = (uint8_t)petra_rng_below(&r, 256);
    memset(xs + 44, 255, 44);
    int32_t g[(NR + 1) * 48], ref1[48];
    for (int n = 0; n <= NR; n++) {
      for (int i = 0; i < (NR + 1) * 48; i++) g[i] = -1;
      k->qgemm_packed(n, 48, 44, Wp, xs, g);
      for (int q = 0; q < n; q++) {
        ref->qdot_packed(48, 44, Wp, xs + q * 44, ref1);
        CHECK_MSG(memcmp(ref1, g + q * 48, sizeof ref1) == 0, "%s qgemm_packed row %d of %d", k->name, q, n);
      }
      CHECK(g[n * 48] == -1); /* nothing written past n rows */
    }
  }
}

/* Sparse fp32 layers: stored in CSR (the plan is smaller), and the sparse kernel, forced on
 * or off or chosen by timing, scores like the model's forward pass (1e-5), for one example
 * and a batch, on a sequence model and the ts shapes. */
TEST(sparse_plans_score_like_the_model_and_are_smaller) {
  for (unsigned k = 0; k < n_specs(); k++) {
    petra_model_spec spec;
    petra_err err = {0};
    REQUIRE(petra_model_spec_parse(spec_at(k), &spec, &err) == 0);
    petra_model *m0 = petra_model_new(&spec, 21 + k, &err);
    petra_genome g, id;
    petra_genome_identity(&id);
    REQUIRE(petra_genome_parse("dense0:sparsity=0.8;gru0:sparsity=0.8;head:sparsity=0.8", &g, &err) == 0);
    petra_model *m = petra_prune(m0, &g, &err);
    REQUIRE(m);
    int n = 7, no = petra_model_n_outputs(m);
    float *ex = examples(m, n, 9 + k), *ref = malloc(sizeof(float) * n * no), *got = malloc(sizeof(float) * n * no);
    REQUIRE(petra_model_forward(m, n, ex, ref) == 0);
    petra_plan *dense = petra_plan_build(m0, &id, &err); /* the same shapes without zeros */
    REQUIRE(dense);
    const int modes[3] = {PETRA_SPARSE_ALWAYS, PETRA_SPARSE_NEVER, PETRA_SPARSE_AUTO};
    for (int mi = 0; mi < 3; mi++) {
      petra_plan_opts o = {.sparse = modes[mi]};
      petra_plan *p = petra_plan_build_ex(m, &g, &o, &err);
      REQUIRE(p);
      if (modes[mi] == PETRA_SPARSE_ALWAYS) CHECK(petra_plan_sparse_layers(p, 1) >= 1);
      if (modes[mi] == PETRA_SPARSE_NEVER) CHECK(petra_plan_sparse_layers(p, 64) == 0);
      if (petra_plan_sparse_layers(p, 1) > 0 || modes[mi] != PETRA_SPARSE_AUTO)
        CHECK_MSG(petra_plan_bytes(p) < petra_plan_bytes(dense), "%s: %zu vs %zu", spec_at(k), petra_plan_bytes(p),
                  petra_plan_bytes(dense));
      void *scratch = malloc(petra_plan_scratch_bytes(p, n));
      REQUIRE(petra_plan_score(p, n, ex, got, scratch) == 0);
      double d = max_rel_diff(got, ref, n * no);
      CHECK_MSG(d < 1e-5, "%s mode %d: sparse plan differs by %.2e", spec_at(k), mi, d);
      float one[64];
      REQUIRE(petra_plan_score(p, 1, ex + 3 * petra_model_example_floats(m), one, scratch) == 0);
      for (int i = 0; i < no; i++) CHECK_NEAR(one[i], ref[3 * no + i], 1e-5 * fmax(1, fabs(ref[3 * no + i])));
      if (mi == 2)
        fprintf(stderr, "%-70s sparse 0.8: bytes %zu (dense %zu), sparse kernels batch-1 %d batch-64 %d\n",
                spec_at(k), petra_plan_bytes(p), petra_plan_bytes(dense), petra_plan_sparse_layers(p, 1),
                petra_plan_sparse_layers(p, 64));
      free(scratch);
      petra_plan_free(p);
    }
    petra_plan_free(dense);
    free(ex);
    free(ref);
    free(got);
    petra_model_free(m);
    petra_model_free(m0);
  }
}

typedef struct job {
  const petra_plan *p;
  const float *ex;
  int n;
  float out[64 * 4];
} job;
static void *score_job(void *arg) {
  job *j = arg;
  void *scratch = malloc(petra_plan_scratch_bytes(j->p, 1));
  for (int rep = 0; rep < 200; rep++)
    for (int i = 0; i < j->n; i++)
      petra_plan_score(j->p, 1, j->ex + (size_t)i * petra_plan_example_floats(j->p), j->out + i, scratch);
  free(scratch);
  return NULL;
}

TEST(one_plan_scores_concurrently_from_many_threads) {
  petra_model_spec spec;
  petra_model_spec_parse(spec_at(0), &spec, NULL);
  petra_model *m = petra_model_new(&spec, 1, NULL);
  petra_genome g;
  petra_genome_parse("gru0:bits=8;dense0:bits=8", &g, NULL);
  petra_plan *p = petra_plan_build(m, &g, NULL);
  REQUIRE(p);
  float *ex = examples(m, 16, 2);
  job jobs[4];
  pthread_t th[4];
  for (int i = 0; i < 4; i++) {
    jobs[i] = (job){.p = p, .ex = ex, .n = 16};
    pthread_create(&th[i], NULL, score_job, &jobs[i]);
  }
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  for (int i = 1; i < 4; i++) CHECK(memcmp(jobs[0].out, jobs[i].out, sizeof(float) * 16) == 0);
  free(ex);
  petra_plan_free(p);
  petra_model_free(m);
}

TEST(pruned_int8_plan_of_r1_is_under_15_percent_of_fp32) {
  petra_model_spec spec;
  petra_model_spec_parse(spec_at(0), &spec, NULL);
  petra_model *m = petra_model_new(&spec, 1, NULL);
  petra_genome id, g;
  petra_genome_identity(&id);
  petra_genome_parse("emb.mcc:keep=0.5,bits=8;dense0:keep=0.5,bits=8;gru0:keep=0.5,bits=8;head:bits=8", &g, NULL);
  petra_err err = {0};
  petra_plan *p32 = petra_plan_build(m, &id, &err);
  petra_model *pr = petra_prune(m, &g, &err);
  REQUIRE(p32 && pr);
  petra_plan *p8 = petra_plan_build(pr, &g, &err);
  REQUIRE(p8);
  fprintf(stderr, "R1 plan bytes: fp32 %zu, int8 + 50%% units %zu (%.1f%%)\n", petra_plan_bytes(p32),
          petra_plan_bytes(p8), 100.0 * petra_plan_bytes(p8) / petra_plan_bytes(p32));
  CHECK(petra_plan_bytes(p8) <= 0.15 * petra_plan_bytes(p32));
  petra_plan_free(p32);
  petra_plan_free(p8);
  petra_model_free(pr);
  petra_model_free(m);
}

TEST(int4_kernel_is_bit_exact_across_variants_and_matches_integers) {
  const petra_kernels *ref = petra_kernels_variant(0);
  petra_rng r;
  petra_rng_seed(&r, 21);
  enum { ROWS = 19, IN = 141, NB = 5, R16 = 32 };
  static int8_t q[ROWS * IN];
  static uint8_t W4[R16 * NB * 128], xu[NB * 32];
  for (int i = 0; i < ROWS * IN; i++) q[i] = (int8_t)((int)petra_rng_below(&r, 16) - 8);
  /* edge rows: all zero, all −8, all +7 */
  for (int i = 0; i < IN; i++) q[i] = 0, q[IN + i] = -8, q[2 * IN + i] = 7;
  petra_qpack4(ROWS, IN, q, W4);
  for (int trial = 0; trial < 3; trial++) {
    for (int i = 0; i < NB * 32; i++) xu[i] = trial == 0 ? (uint8_t)petra_rng_below(&r, 256) : trial == 1 ? 255 : 0;
    int32_t a0[R16 * NB], a1[R16 * NB];
    ref->qdot4(R16, NB, W4, xu, a0);
    for (int o = 0; o < R16; o++)
      for (int b = 0; b < NB; b++) {
        int64_t s = 0;
        for (int j = 0; j < 32; j++) {
          int col = b * 32 + j;
          if (o < ROWS && col < IN) s += (int64_t)xu[col] * q[o * IN + col];
        }
        CHECK_EQ_INT(a0[o * NB + b], s);
      }
    for (int v = 1; v < 3; v++) {
      const petra_kernels *k = petra_kernels_variant(v);
      if (!k) continue;
      k->qdot4(R16, NB, W4, xu, a1);
      CHECK_MSG(memcmp(a0, a1, sizeof a0) == 0, "%s qdot4 differs", k->name);
    }
  }
  /* the batched form, every variant including the portable one, on 0..6 rows (random, all
   * 255, all 0) against the single-row reference, in its block-major layout */
  enum { NR = 6 };
  static uint8_t xs[NR * NB * 32];
  static int32_t g[(NR + 1) * NB * R16], one[R16 * NB];
  for (int i = 0; i < NR * NB * 32; i++) xs[i] = (uint8_t)petra_rng_below(&r, 256);
  memset(xs + NB * 32, 255, NB * 32);
  memset(xs + 2 * NB * 32, 0, NB * 32);
  for (int v = 0; v < 3; v++) {
    const petra_kernels *k = petra_kernels_variant(v);
    if (!k) continue;
    for (int n = 0; n <= NR; n++) {
      for (int i = 0; i < (NR + 1) * NB * R16; i++) g[i] = -1;
      k->qgemm4(n, R16, NB, W4, xs, g);
      for (int row = 0; row < n; row++) {
        ref->qdot4(R16, NB, W4, xs + (size_t)row * NB * 32, one);
        int bad = 0;
        for (int o = 0; o < R16; o++)
          for (int b = 0; b < NB; b++) bad += g[((size_t)row * NB + b) * R16 + o] != one[o * NB + b];
        CHECK_MSG(bad == 0, "%s qgemm4 row %d of %d: %d differ", k->name, row, n, bad);
      }
      CHECK(g[(size_t)n * NB * R16] == -1); /* nothing written past n rows */
    }
  }
}

/* Mean |plan − model| over examples, relative to the mean |model| output. */
static double plan_error(const petra_model *m, const petra_plan *p, int n, const float *ex) {
  int no = petra_model_n_outputs(m);
  float *a = malloc(sizeof(float) * (size_t)n * no), *b = malloc(sizeof(float) * (size_t)n * no);
  void *scr = malloc(petra_plan_scratch_bytes(p, n));
  petra_model_forward((petra_model *)m, n, ex, a);
  petra_plan_score(p, n, ex, b, scr);
  double num = 0, den = 0;
  for (int i = 0; i < n * no; i++) {
    num += fabs((double)a[i] - b[i]);
    den += fabs((double)a[i]);
  }
  free(a);
  free(b);
  free(scr);
  return num / fmax(den, 1e-9);
}

TEST(int4_plans_are_smaller_than_int8_and_stay_close) {
  for (unsigned k = 0; k < n_specs(); k++) {
    petra_model_spec spec;
    REQUIRE(petra_model_spec_parse(spec_at(k), &spec, NULL) == 0);
    petra_model *m = petra_model_new(&spec, 31 + k, NULL);
    float *ex = examples(m, 16, 3 + k);
    petra_genome g8, g4;
    petra_genome_parse("dense0:bits=8;gru0:bits=8;head:bits=8", &g8, NULL);
    petra_genome_parse("dense0:bits=4;gru0:bits=4;head:bits=4", &g4, NULL);
    petra_err err = {0};
    petra_plan *p8 = petra_plan_build(m, &g8, &err), *p4 = petra_plan_build(m, &g4, &err);
    REQUIRE(p8 && p4);
    double e8 = plan_error(m, p8, 16, ex), e4 = plan_error(m, p4, 16, ex);
    fprintf(stderr, "%s: bytes int8 %zu int4 %zu; mean rel error int8 %.4f int4 %.4f\n", spec_at(k),
            petra_plan_bytes(p8), petra_plan_bytes(p4), e8, e4);
    /* int4 where it is smaller (layers of 32+ inputs), int8 where blocks would pad more */
    CHECK(petra_plan_bytes(p4) <= petra_plan_bytes(p8));
    if (k == 0) CHECK(petra_plan_bytes(p8) - petra_plan_bytes(p4) > 7000); /* R1: linear weights ~40% smaller */
    CHECK_MSG(e4 < 0.25, "int4 error %g", e4);
    /* the same plan scores the same twice (deterministic) */
    float o1[64], o2[64];
    void *scr = malloc(petra_plan_scratch_bytes(p4, 1));
    petra_plan_score(p4, 1, ex, o1, scr);
    petra_plan_score(p4, 1, ex, o2, scr);
    CHECK(memcmp(o1, o2, sizeof(float) * (size_t)petra_plan_n_outputs(p4)) == 0);
    free(scr);
    petra_plan_free(p8);
    petra_plan_free(p4);
    free(ex);
    petra_model_free(m);
  }
}

TEST(low_rank_plan_is_exact_on_low_rank_weights_and_smaller) {
  petra_model_spec spec;
  REQUIRE(petra_model_spec_parse("seq fields=mcc:50:16 numeric=16 len=6 dense=32 act=relu gru=16 classes=1", &spec, NULL) == 0);
  petra_model *m = petra_model_new(&spec, 5, NULL);
  /* make dense0.w [32 × 32] exactly rank 4 */
  const petra_tensor_info *t = petra_model_find_tensor(m, "dense0.w");
  float *w = petra_model_params(m) + t->offset;
  petra_rng r;
  petra_rng_seed(&r, 4);
  float a[32 * 4], b[4 * 32];
  for (int i = 0; i < 128; i++) a[i] = (float)petra_rng_normal(&r) * 0.3f, b[i] = (float)petra_rng_normal(&r) * 0.3f;
  for (int i = 0; i < t->rows; i++)
    for (int j = 0; j < t->cols; j++) {
      float s = 0;
      for (int k = 0; k < 4; k++) s += a[i * 4 + k] * b[k * t->cols + j];
      w[i * t->cols + j] = s;
    }
  float *ex = examples(m, 8, 9);
  petra_genome id, lr;
  petra_genome_identity(&id);
  petra_genome_parse("dense0:rank=0.125", &lr, NULL); /* r = 4 of 32 */
  petra_err err = {0};
  petra_plan *p32 = petra_plan_build(m, &id, &err), *plr = petra_plan_build(m, &lr, &err);
  REQUIRE(p32 && plr);
  double e = plan_error(m, plr, 8, ex);
  fprintf(stderr, "rank-4 dense0: bytes %zu -> %zu, mean rel error %.2e\n", petra_plan_bytes(p32), petra_plan_bytes(plr), e);
  CHECK_MSG(e < 1e-4, "low-rank error on exactly low-rank weights: %g", e);
  CHECK(petra_plan_bytes(plr) < petra_plan_bytes(p32));
  CHECK_EQ_INT((int)(petra_plan_bytes(p32) - petra_plan_bytes(plr)), (int)(sizeof(float) * (32 * 32 - 4 * (32 + 32))));
  /* a rank that would not save anything is ignored */
  petra_genome big;
  petra_genome_parse("dense0:rank=0.9", &big, NULL);
  petra_plan *pb = petra_plan_build(m, &big, &err);
  REQUIRE(pb);
  CHECK_EQ_INT((int)petra_plan_bytes(pb), (int)petra_plan_bytes(p32));
  /* low rank with int8 and int4 factors */
  petra_genome q;
  petra_genome_parse("dense0:rank=0.125,bits=4;gru0:rank=0.5,bits=8", &q, NULL);
  petra_plan *pq = petra_plan_build(m, &q, &err);
  REQUIRE(pq);
  CHECK(plan_error(m, pq, 8, ex) < 0.25);
  CHECK(petra_plan_bytes(pq) < petra_plan_bytes(plr));
  petra_plan_free(pq);
  petra_plan_free(pb);
  petra_plan_free(p32);
  petra_plan_free(plr);
  free(ex);
  petra_model_free(m);
}
