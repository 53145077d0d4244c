/* ingest_webhook: parsing and mapping of Halo webhook bodies (see the header).
 * Decisions (docs/ingest.md): a body is one object or a non-empty array of
 * objects; "event" is required (400 without it); a known event needs an
 * object id, taken from "object_id" (integer, integral double such as
 * 4242.0, or numeric string) or else from the wrapper object's "id" (400
 * without either); an unknown event is accepted with entity "unknown" and
 * never fetched. */
#include "ingest_webhook.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "halo_events.h"

#define S_OBJECT_ID_MAX 9007199254740992.0 /* 2^53: largest id a double holds exactly */

void ingest_batch_clear(ingest_batch_t *batch)
{
    if (!batch)
        return;
    free(batch->events);
    batch->events = NULL;
    batch->count = 0;
}

int ingest_webhook_depth(const char *text, size_t len, int limit)
{
    int depth = 0, max = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++; /* skip the escaped character, whatever it is */
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max) {
                max = depth;
                if (max > limit)
                    return limit + 1;
            }
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return max;
}

/* Positive integer id from a JSON value (int, integral double, numeric
 * string); -1 if the value is absent, unset (<= 0) or not a number. */
static int64_t s_object_id(const json_t *value)
{
    if (json_is_integer(value)) {
        json_int_t v = json_integer_value(value);
        return v > 0 ? (int64_t)v : -1;
    }
    double d = -1;
    if (json_is_real(value)) {
        d = json_real_value(value);
    } else if (json_is_string(value)) {
        const char *s = json_string_value(value);
        char *end = NULL;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno == 0 && end != s && *end == '\0' && isdigit((unsigned char)s[0]))
            return v > 0 ? (int64_t)v : -1;
        errno = 0;
        d = strtod(s, &end);
        if (errno != 0 || end == s || *end != '\0' || !isdigit((unsigned char)s[0]))
            return -1;
    } else {
        return -1;
    }
    if (!isfinite(d) || d < 1 || d > S_OBJECT_ID_MAX || floor(d) != d)
        return -1;
    return (int64_t)d;
}

/* The entity object a webhook wraps ("ticket": {...}), borrowed, or NULL. */
static json_t *s_wrapper(json_t *obj)
{
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value)
    {
        if (json_is_object(value) && halo_events_entity_for_wrapper(key))
            return value;
    }
    return NULL;
}

/* Copies text trimmed of surrounding blanks into out; -1 if it does not fit. */
static int s_copy_trimmed(const char *text, char *out, size_t cap)
{
    while (isspace((unsigned char)*text))
        text++;
    size_t n = strlen(text);
    while (n > 0 && isspace((unsigned char)text[n - 1]))
        n--;
    if (n >= cap)
        return -1;
    memcpy(out, text, n);
    out[n] = '\0';
    return 0;
}

/* Fills ev from one webhook object; 0, or -1 with the reason in err. */
static int s_parse_object(json_t *obj, ingest_event_t *ev, char *err, size_t errlen)
{
    memset(ev, 0, sizeof *ev);
    ev->object_id = -1;
    json_t *event = json_object_get(obj, "event");
    if (!event || json_is_null(event)) {
        snprintf(err, errlen, "missing event");
        return -1;
    }
    if (!json_is_string(event)) {
        snprintf(err, errlen, "event is not a string");
        return -1;
    }
    if (s_copy_trimmed(json_string_value(event), ev->raw_event, sizeof ev->raw_event) != 0) {
        snprintf(err, errlen, "event name too long (max %d bytes)", HALO_EVENT_MAX - 1);
        return -1;
    }
    if (ev->raw_event[0] == '\0') {
        snprintf(err, errlen, "missing event");
        return -1;
    }
    json_t *id = json_object_get(obj, "id");
    if (json_is_string(id)) {
        if (s_copy_trimmed(json_string_value(id), ev->delivery_id, sizeof ev->delivery_id) != 0) {
            snprintf(err, errlen, "id too long (max %d bytes)", HALO_NAME_MAX - 1);
            return -1;
        }
    } else if (json_is_integer(id)) {
        snprintf(ev->delivery_id, sizeof ev->delivery_id, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
    }
    ev->object_id = s_object_id(json_object_get(obj, "object_id"));
    if (ev->object_id < 0) {
        json_t *wrapper = s_wrapper(obj);
        if (wrapper)
            ev->object_id = s_object_id(json_object_get(wrapper, "id"));
    }
    halo_event_map_t map;
    if (halo_events_map(ev->raw_event, &map) == 0) {
        ev->known = true;
        snprintf(ev->entity, sizeof ev->entity, "%s", map.entity);
        snprintf(ev->op, sizeof ev->op, "%s", map.op);
        snprintf(ev->event, sizeof ev->event, "%s", map.canonical);
        if (ev->object_id < 0) {
            snprintf(err, errlen, "missing object_id for event '%s'", map.canonical);
            return -1;
        }
    } else {
        snprintf(ev->entity, sizeof ev->entity, "unknown");
        snprintf(ev->op, sizeof ev->op, "unknown");
        snprintf(ev->event, sizeof ev->event, "%s", ev->raw_event);
    }
    return 0;
}

int ingest_webhook_parse(const char *body, size_t len, ingest_batch_t *batch, char *err, size_t errlen)
{
    batch->count = 0;
    batch->events = NULL;
    if (ingest_webhook_depth(body, len, INGEST_WEBHOOK_MAX_DEPTH) > INGEST_WEBHOOK_MAX_DEPTH) {
        snprintf(err, errlen, "json nested deeper than %d levels", INGEST_WEBHOOK_MAX_DEPTH);
        return -1;
    }
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (!root) {
        snprintf(err, errlen, "malformed json: %s at line %d column %d", jerr.text, jerr.line, jerr.column);
        return -1;
    }
    size_t count = 0;
    if (json_is_object(root)) {
        count = 1;
    } else if (json_is_array(root)) {
        count = json_array_size(root);
        if (count == 0 || count > INGEST_WEBHOOK_MAX_BATCH) {
            snprintf(err, errlen, count ? "batch of more than %d objects" : "empty array", INGEST_WEBHOOK_MAX_BATCH);
            json_decref(root);
            return -1;
        }
    } else {
        snprintf(err, errlen, "body is neither an object nor an array");
        json_decref(root);
        return -1;
    }
    batch->events = calloc(count, sizeof *batch->events);
    if (!batch->events) {
        snprintf(err, errlen, "out of memory");
        json_decref(root);
        return -1;
    }
    char why[256];
    for (size_t i = 0; i < count; i++) {
        json_t *obj = json_is_array(root) ? json_array_get(root, i) : root;
        int rc = -1;
        if (!json_is_object(obj))
            snprintf(why, sizeof why, "not an object");
        else
            rc = s_parse_object(obj, &batch->events[i], why, sizeof why);
        if (rc != 0) {
            if (json_is_array(root))
                snprintf(err, errlen, "element %zu: %s", i, why);
            else
                snprintf(err, errlen, "%s", why);
            json_decref(root);
            ingest_batch_clear(batch);
            return -1;
        }
    }
    batch->count = count;
    json_decref(root);
    return 0;
}
