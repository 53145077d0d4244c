/* ingest_payload: see the header. The wrapper is found as ingest_webhook's
 * reference parser finds it (the first member whose key names an entity and
 * whose value is an object), and must agree with the parsed event. */
#include "ingest_payload.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "halo_entity.h"
#include "halo_msg.h"

/* Whether the JSON value is the object id (an integer, or an integral double). */
static bool s_same_id(const json_t *value, int64_t id)
{
    if (json_is_integer(value))
        return json_integer_value(value) == id;
    if (json_is_real(value))
        return isfinite(json_real_value(value)) && json_real_value(value) == (double)id;
    if (json_is_string(value)) {
        char *end = NULL;
        long long v = strtoll(json_string_value(value), &end, 10);
        return end && *end == '\0' && v == id;
    }
    return false;
}

/* The full object of one webhook object for ev, or NULL (borrowed). */
static json_t *s_full_object(json_t *obj, const ingest_event_t *ev)
{
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value)
    {
        const halo_entity_t *entity = halo_entity_by_wrapper(key);
        if (!entity || !json_is_object(value))
            continue;
        if (strcmp(entity->name, ev->entity) != 0 || !s_same_id(json_object_get(value, "id"), ev->object_id))
            return NULL;
        for (const char *const *k = entity->last_update_keys; *k; k++)
            if (json_is_string(json_object_get(value, *k)))
                return value;
        return NULL;
    }
    return NULL;
}

int ingest_payload_objects(const char *body, size_t len, const ingest_batch_t *batch, char **objects, size_t *lens)
{
    for (size_t i = 0; i < batch->count; i++) {
        objects[i] = NULL;
        lens[i] = 0;
    }
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (!root)
        return -1;
    size_t count = json_is_array(root) ? json_array_size(root) : 1;
    if (count != batch->count) {
        json_decref(root);
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        const ingest_event_t *ev = &batch->events[i];
        json_t *obj = json_is_array(root) ? json_array_get(root, i) : root;
        if (strcmp(ev->op, "upsert") != 0 || ev->object_id <= 0 || !json_is_object(obj))
            continue;
        json_t *full = s_full_object(obj, ev);
        char *text = full ? json_dumps(full, JSON_COMPACT) : NULL;
        if (text && strlen(text) <= HALO_MSG_JOB_OBJECT_MAX) {
            objects[i] = text;
            lens[i] = strlen(text);
        } else {
            free(text);
        }
    }
    json_decref(root);
    return 0;
}
