/* sim_util: small helpers shared by the simulator modules: a deterministic
 * random generator (splitmix64), Halo-style date formatting and parsing
 * (UTC without a zone), webhook timestamps and GUIDs. */
#ifndef SIM_UTIL_H
#define SIM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_DATE_MAX 40 /* bytes for any date text we format */
#define SIM_GUID_LEN 36 /* chars of a GUID, without NUL */
#define SIM_EMPTY_DATE "1900-01-01T00:00:00"

typedef struct {
    uint64_t state;
} sim_rng_t;

/* Seeds rng from a 64-bit value (any value, including 0, is fine). */
void sim_rng_seed(sim_rng_t *rng, uint64_t seed);
/* Seeds rng from a seed and up to three stream numbers (per-object streams). */
void sim_rng_seed_stream(sim_rng_t *rng, uint64_t seed, uint64_t a, uint64_t b, uint64_t c);
/* Next 64 random bits. */
uint64_t sim_rng_next(sim_rng_t *rng);
/* Uniform integer in [lo, hi] (inclusive); lo when hi <= lo. */
int64_t sim_rng_range(sim_rng_t *rng, int64_t lo, int64_t hi);
/* Uniform double in [0, 1). */
double sim_rng_unit(sim_rng_t *rng);
/* True with probability p. */
bool sim_rng_chance(sim_rng_t *rng, double p);
/* Picks one of n strings. */
const char *sim_rng_pick(sim_rng_t *rng, const char *const *items, size_t n);

/* Formats wall ms as Halo does: "2026-09-01T08:00:00" (UTC, no zone), with
 * ".mmm" when with_fraction; ms <= 0 gives "1900-01-01T00:00:00" (empty). */
void sim_format_date(int64_t wall_ms, bool with_fraction, char *buf, size_t buflen);
/* Formats wall ms as a webhook timestamp "2026-09-25T06:41:08.7895915Z". */
void sim_format_timestamp(int64_t wall_ms, char *buf, size_t buflen);
/* Parses a Halo date (halo_time_parse; zone-less means UTC) into ms; -1 if
 * malformed or empty (1900 or earlier). */
int64_t sim_parse_date(const char *text);
/* Writes a random version-4 GUID (lowercase) from rng into buf (>= 37 bytes). */
void sim_format_guid(sim_rng_t *rng, char *buf, size_t buflen);
/* Parses a decimal integer (whole text); false if malformed or out of range. */
bool sim_parse_int(const char *text, int64_t min, int64_t max, int64_t *out);
/* Parses true/false/1/0/yes/no (case-insensitive); def for NULL or unknown. */
bool sim_parse_bool(const char *text, bool def);

/* Flags for every json_dumps of Halo data: compact, and money such as 1234.56
 * printed as Halo does rather than 1234.5599999999999 (needs jansson.h). */
#define SIM_JSON_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

#endif
