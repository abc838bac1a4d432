/* Fuzz target: Event/Label/SeriesPoint decode + validation, through both the allocating and
 * the arena path, then the feature state (what petrad does with every input message). The
 * hand-written Event decoder is checked against protobuf-c on every input. A first byte of
 * 250 or more selects the Schema Registry framing (sreg.c) in front of the same decoders:
 * whatever parses must frame back to the same header fields and payload. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "feature_state.h"
#include "sreg.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static features *seq, *ts;
  static wire_arena arena;
  static float ex[4096];
  if (!seq) {
    petra_model_spec s1, s2;
    petra_model_spec_parse("seq fields=mcc:400:4,channel:4:2 numeric=4 len=8 dense=8 gru=8", &s1, NULL);
    petra_model_spec_parse("ts window=8 horizon=2 channels=3", &s2, NULL);
    char err[256];
    seq = features_new(&s1, "hour_sin,hour_cos", 64, err, sizeof err);
    ts = features_new(&s2, "", 8, err, sizeof err);
  }
  if (size < 1) return 0;
  char err[256];
  const uint8_t *p = data + 1;
  size_t n = size - 1;
  if (data[0] >= 250) {
    int32_t id;
    int mi;
    size_t off;
    if (sreg_parse(p, n, &id, &mi, &off, err, sizeof err) == 0) {
      if (off > n || mi < 0) abort();
      /* re-framed, it parses to the same fields and payload */
      uint8_t *re = malloc(n - off + SREG_MAX_HEADER);
      size_t rl = sreg_frame_into(re, n - off + SREG_MAX_HEADER, id, mi, p + off, n - off);
      int32_t id2;
      int mi2;
      size_t off2;
      if (!rl || sreg_parse(re, rl, &id2, &mi2, &off2, err, sizeof err) || id2 != id || mi2 != mi ||
          rl - off2 != n - off || memcmp(re + off2, p + off, n - off))
        abort();
      free(re);
    }
    sreg_wire w = {.confluent = 1};
    sreg_role role = (sreg_role)((data[0] - 250) % 3); /* events, labels, series */
    w.id[role] = 1;
    const void *pl;
    size_t plen;
    if (sreg_unframe(&w, role, p, n, &pl, &plen, &mi, err, sizeof err) == 0) {
      if (role == SREG_EVENTS) {
        Petra__V1__Event *e = wire_decode_event_in(&arena, pl, plen, err, sizeof err);
        if (e) features_event(seq, e, ex, 4, err, sizeof err);
      } else if (role == SREG_LABELS) {
        Petra__V1__Label *l = wire_decode_label_in(&arena, pl, plen, err, sizeof err);
        if (l) features_label(seq, l, ex, err, sizeof err);
      } else {
        Petra__V1__SeriesPoint *sp = wire_decode_series_in(&arena, pl, plen, err, sizeof err);
        if (sp) features_series(ts, sp, ex, err, sizeof err);
      }
    }
    return 0;
  }
  switch (data[0] % 3) {
    case 0: {
      /* the hand-written decoder must decode exactly what protobuf-c decodes (unbudgeted),
       * field for field */
      static wire_arena fast;
      Petra__V1__Event *ref = petra__v1__event__unpack(NULL, n, p);
      Petra__V1__Event *e = n <= WIRE_MAX_MESSAGE ? wire_fast_event_in(&fast, p, n) : NULL;
      if (n <= WIRE_MAX_MESSAGE && !ref != !e) abort();
      if (e && ref) {
        if (e->schema_version != ref->schema_version || strcmp(e->entity_id, ref->entity_id) ||
            e->event_time_ms != ref->event_time_ms || memcmp(&e->amount, &ref->amount, 8) ||
            e->has_label != ref->has_label || memcmp(&e->label, &ref->label, 4) || e->event_id != ref->event_id ||
            e->n_categories != ref->n_categories || e->n_numerics != ref->n_numerics)
          abort();
        for (size_t i = 0; i < e->n_categories; i++)
          if (strcmp(e->categories[i]->field, ref->categories[i]->field) ||
              e->categories[i]->code != ref->categories[i]->code)
            abort();
        for (size_t i = 0; i < e->n_numerics; i++)
          if (strcmp(e->numerics[i]->name, ref->numerics[i]->name) ||
              memcmp(&e->numerics[i]->value, &ref->numerics[i]->value, 4))
            abort();
      }
      if (ref) petra__v1__event__free_unpacked(ref, NULL);
      /* what petrad does: decode + validate (fast), then the feature state */
      e = wire_decode_event_in(&arena, p, n, err, sizeof err);
      if (e) features_event(seq, e, ex, 4, err, sizeof err);
      Petra__V1__Event *a = wire_decode_event(p, n, err, sizeof err);
      if (a) features_event(seq, a, ex, 4, err, sizeof err);
      wire_free(a);
      break;
    }
    case 1: {
      Petra__V1__Label *l = wire_decode_label_in(&arena, p, n, err, sizeof err);
      if (l) features_label(seq, l, ex, err, sizeof err);
      break;
    }
    default: {
      Petra__V1__SeriesPoint *sp = wire_decode_series_in(&arena, p, n, err, sizeof err);
      if (sp) features_series(ts, sp, ex, err, sizeof err);
      break;
    }
  }
  return 0;
}
