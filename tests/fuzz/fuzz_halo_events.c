/* fuzz_halo_events: libFuzzer target for halo_events, the mapping of Halo's
 * webhook event names (attacker-controlled text in every webhook body). The
 * input is a raw event name. Mapping must never crash; a known name maps to a
 * known entity and op whose API resource and list key exist, its canonical name
 * maps to itself, and the same name upper-cased and padded with blanks maps
 * the same way. The lookups by wrapper key and entity must not crash either. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "halo_entity.h"
#include "halo_events.h"

#define FUZZ_NAME_MAX 4096 /* far past the 128-byte names the map accepts */
#define FUZZ_PAD "  \t "

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void s_fail(const char *what, const char *name)
{
    fprintf(stderr, "fuzz_halo_events: %s: \"%s\"\n", what, name);
    abort();
}

static int s_one_of(const char *text, const char *const *words)
{
    for (; *words; words++)
        if (strcmp(text, *words) == 0)
            return 1;
    return 0;
}

static int s_same(const halo_event_map_t *a, const halo_event_map_t *b)
{
    return strcmp(a->entity, b->entity) == 0 && strcmp(a->op, b->op) == 0 && strcmp(a->canonical, b->canonical) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const entities[] = {"ticket", "site", "user", "invoice", NULL};
    static const char *const ops[] = {"upsert", "delete", NULL};
    static char name[FUZZ_NAME_MAX + 1];
    static char shout[sizeof FUZZ_PAD + FUZZ_NAME_MAX + sizeof FUZZ_PAD];
    if (size > FUZZ_NAME_MAX)
        size = FUZZ_NAME_MAX;
    memcpy(name, data, size);
    name[size] = '\0';

    (void)halo_events_entity_for_wrapper(name);
    (void)halo_entity_by_name(name);

    halo_event_map_t map, again;
    if (halo_events_map(name, &map) != 0)
        return 0;
    if (!map.entity || !map.op || !map.canonical || !*map.canonical)
        s_fail("known event with an empty mapping", name);
    if (!s_one_of(map.entity, entities) || !s_one_of(map.op, ops))
        s_fail("known event maps to an unknown entity or op", name);
    const halo_entity_t *row = halo_entity_by_name(map.entity);
    if (!row || !row->resource[0] || !row->list_key[0])
        s_fail("entity without a halo_entity row, API resource or list key", map.entity);
    if (halo_events_map(map.canonical, &again) != 0 || !s_same(&map, &again))
        s_fail("canonical name does not map to itself", map.canonical);

    size_t n = strlen(name);
    char *q = shout;
    memcpy(q, FUZZ_PAD, strlen(FUZZ_PAD));
    q += strlen(FUZZ_PAD);
    for (size_t i = 0; i < n; i++)
        *q++ = (char)toupper((unsigned char)name[i]);
    memcpy(q, FUZZ_PAD, sizeof FUZZ_PAD);
    if (halo_events_map(shout, &again) != 0 || !s_same(&map, &again))
        s_fail("upper-cased, padded name maps differently", name);
    return 0;
}
