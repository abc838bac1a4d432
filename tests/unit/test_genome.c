/* Genome text form: round trip, defaults for unnamed layers, and a table of bad inputs. */
#include "check.h"
#include "petra/genome.h"

TEST(genome_text_round_trips_and_defaults_apply) {
  petra_genome g, h;
  petra_err err = {0};
  REQUIRE(petra_genome_parse("gru0:keep=0.5,bits=8;dense0:keep=0.75,bits=8,sparsity=0.3;head:bits=4,rank=0.25;"
                             "global:l1=1e-5,finetune_steps=200,finetune_lr=0.002",
                             &g, &err) == 0);
  CHECK_EQ_INT(g.n_layers, 3);
  petra_layer_gene gru = petra_genome_gene(&g, "gru0");
  CHECK(gru.keep == 0.5f && gru.bits == 8 && gru.rank == 1.0f && gru.sparsity == 0.0f);
  petra_layer_gene none = petra_genome_gene(&g, "emb.mcc");
  CHECK(none.keep == 1.0f && none.bits == 32);
  CHECK_EQ_INT(g.finetune_steps, 200);
  CHECK_NEAR(g.l1, 1e-5, 1e-12);
  char text[1024];
  petra_genome_format(&g, text, sizeof text);
  REQUIRE(petra_genome_parse(text, &h, &err) == 0);
  CHECK_MSG(memcmp(&g, &h, sizeof g) == 0, "%s", text);
  /* a later mention of a layer updates it */
  REQUIRE(petra_genome_parse("gru0:keep=0.5;gru0:bits=8", &g, &err) == 0);
  CHECK_EQ_INT(g.n_layers, 1);
  CHECK(g.layers[0].keep == 0.5f && g.layers[0].bits == 8);
  REQUIRE(petra_genome_parse("", &g, &err) == 0);
  CHECK_EQ_INT(g.n_layers, 0);
  /* a transformer layer dropped: in the text only when set */
  REQUIRE(petra_genome_parse("tf0:drop=1;tf1:bits=8", &g, &err) == 0);
  CHECK(petra_genome_gene(&g, "tf0").drop == 1 && petra_genome_gene(&g, "tf1").drop == 0);
  petra_genome_format(&g, text, sizeof text);
  CHECK_MSG(strstr(text, "tf0:keep=1,sparsity=0,bits=32,rank=1,drop=1;tf1:keep=1,sparsity=0,bits=8,rank=1;") == text,
            "%s", text);
  REQUIRE(petra_genome_parse(text, &h, &err) == 0);
  CHECK_MSG(memcmp(&g, &h, sizeof g) == 0, "%s", text);
}

TEST(bad_genomes_are_rejected_with_reasons) {
  struct {
    const char *text, *expect;
  } bad[] = {
      {"gru0", "not layer:key=value"},
      {":keep=1", "not layer:key=value"},
      {"gru0:keep", "'keep' is not key=value"},
      {"gru0:keep=0", "keep=0: expected a number in (0, 1]"},
      {"gru0:keep=1.5", "keep=1.5"},
      {"gru0:keep=abc", "keep=abc"},
      {"gru0:bits=16", "bits=16: expected 32, 8 or 4"},
      {"gru0:sparsity=1", "sparsity=1"},
      {"gru0:rank=0", "rank=0"},
      {"tf0:drop=2", "drop=2: expected 0 or 1"},
      {"tf0:drop=", "drop=: expected 0 or 1"},
      {"gru0:color=red", "unknown key 'color' for gru0"},
      {"global:keep=0.5", "unknown key 'keep' for global"},
      {"global:finetune_steps=1.5", "expected an integer"},
      {"global:finetune_lr=0", "finetune_lr=0"},
      {"global:l1=-1", "l1=-1"},
      /* libFuzzer (fuzz_text): positive as a double, zero as the float it is stored in */
      {"gru0:keep=5e-89", "keep=5e-89"},
  };
  for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    petra_genome g;
    petra_err err = {0};
    CHECK_MSG(petra_genome_parse(bad[i].text, &g, &err) < 0, "accepted: %s", bad[i].text);
    CHECK_MSG(strstr(err.msg, bad[i].expect) != NULL, "'%s' -> '%s', wanted '%s'", bad[i].text,
              err.msg, bad[i].expect);
  }
}
