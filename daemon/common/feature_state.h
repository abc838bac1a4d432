/* Feature state shared by petrad and `petra score`: turns decoded input messages into model
 * examples (see include/petra/model.h for the example layout).
 *
 * seq models: per entity, a ring of its last L events (bounded number of entities, least
 *   recently seen evicted and counted). Per event the numeric columns are, in order: the
 *   amount, the seconds since the entity's previous event (gap), then the Event numerics named
 *   in `numerics` (a missing one is 0), and with event_age the seconds from the event to the
 *   example's time (label time, or the time a scorer asks about). Each column goes through the
 *   input encoder (petra/encoder.h): a transform (default log) whose result the ring stores,
 *   then, when an example is formed, a running robust z-score clipped to ±8 with the
 *   encoder's current statistics (the age column uses the gap column's). Statistics learn from
 *   every accepted event unless the encoder is frozen (a scorer holding a snapshot's values).
 *   A categorical field missing from the event gets id 0; a present code is mapped by the
 *   field's mode (index: must lie in the vocabulary, else bad input; hash; vocab). An event
 *   with has_label yields an example at once; a Label yields one from the entity's events up
 *   to the label time. A Label that arrives before its entity's events have reached the label
 *   time (a catch-up replay reads the labels topic ahead of the events topic) is parked and
 *   joined when an event at or after the label time arrives; parked labels are part of the
 *   saved state, at most max_entities of them.
 * ts models: per series, the last W+H points; each point from the (W+H)-th on yields an
 *   example (window = first W, target = last H). */
#ifndef PETRA_FEATURE_STATE_H
#define PETRA_FEATURE_STATE_H
#include <stddef.h>
#include <stdint.h>

#include "petra.pb-c.h"
#include "petra/encoder.h"
#include "petra/model.h"

typedef struct features features;

typedef struct features_stats {
  uint64_t entities;        /* entities (or series) currently held */
  uint64_t evictions;       /* entities evicted to stay within max_entities */
  uint64_t unknown_entity;  /* labels with no event of their entity at or before label time */
  uint64_t parked;          /* labels now waiting for their entity's events */
  uint64_t labels_parked_total;
  uint64_t labels_dropped;  /* parked labels lost to eviction or a full pool */
} features_stats;

typedef struct features_conf {
  const char *numerics;   /* Event numeric names, comma-separated (features.numerics) */
  const char *transforms; /* "COL=log|z|raw,..." over amount, gap and the numerics; others log */
  const char *categories; /* "FIELD=index|hash|vocab,..."; fields not named: index */
  int event_age;          /* one more numeric per event: time from the event to the example */
  int max_entities;
} features_conf;

features *features_new_conf(const petra_model_spec *spec, const features_conf *conf, char *err,
                            size_t errlen);
/* The defaults for everything but numerics and max_entities. */
features *features_new(const petra_model_spec *spec, const char *numerics_csv, int max_entities,
                       char *err, size_t errlen);
/* Numeric inputs per event the configuration gives (2 + numerics + event_age). */
int features_conf_numeric(const features_conf *conf);
/* The input encoder (statistics and vocabularies); owned by f. */
petra_encoder *features_encoder(features *f);
/* Replaces the encoder's state with src's (a snapshot's) and freezes it when freeze is set.
 * −1 with err when the layouts differ. */
int features_use_encoder(features *f, const petra_encoder *src, int freeze, char *err, size_t errlen);
void features_free(features *f);
/* Text describing exactly how examples are formed; its hash goes into snapshots. */
const char *features_schema(const features *f);
int features_example_floats(const features *f);
const features_stats *features_get_stats(const features *f);

/* features_event writes up to max examples (the event's own label, parked labels it
 * releases) to ex and returns how many; labels beyond max stay parked. features_label and
 * features_series return 1 when an example was written, 0 when none. All return −1 on bad
 * input (err says why; the state is unchanged). */
int features_event(features *f, const Petra__V1__Event *e, float *ex, int max, char *err,
                   size_t errlen);
int features_label(features *f, const Petra__V1__Label *l, float *ex, char *err, size_t errlen);
int features_series(features *f, const Petra__V1__SeriesPoint *p, float *ex, char *err,
                    size_t errlen);
/* The example a scorer feeds for an entity's current history (label 0); for a series, its
 * newest W points as the window (target 0). Returns 1, or 0 if the entity is unknown (or the
 * series has fewer than W points). */
int features_entity_example(features *f, const char *entity_id, float *ex);
/* The same as of time at_ms: only events at or before it, ages measured to it (at_ms < 0:
 * every event, ages to the newest). */
int features_entity_example_at(features *f, const char *entity_id, int64_t at_ms, float *ex);
/* Joins parked labels with time <= until_ms now (INT64_MAX: all of them) from the events
 * their entities have: a caller that knows no more events are coming for now (the events
 * topic is at its end) stops them waiting. Writes up to max examples; returns how many. */
int features_release_parked(features *f, int64_t until_ms, float *ex, int max);

/* Serialized state for checkpoints; load replaces the state. */
int features_save(const features *f, uint8_t **buf, size_t *len);
int features_load(features *f, const uint8_t *buf, size_t len, char *err, size_t errlen);
#endif
