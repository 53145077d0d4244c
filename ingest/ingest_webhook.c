/* ingest_webhook: parsing and mapping of Halo webhook bodies (see the header).
 * Decisions (docs/ingest.md): a body is one object or a non-empty array of
 * objects; "event" is required (400 without it); a known event needs an
 * object id, taken from "object_id" (integer, integral double such as
 * 4242.0, or numeric string) or else from the wrapper object's "id" (400
 * without either); an unknown event is accepted, and fetched like a known
 * one when it has an object id and its wrapper key, name or "message"
 * names an entity (halo_events_infer), else kept with entity "unknown".
 *
 * Two parsers give the same answer. jansson builds a tree of the whole body
 * (a few hundred allocations for a full ticket) and was half of ingest's
 * user CPU per webhook, so a scanner walks the text once first, without
 * allocating: it validates all of it the way jansson does and keeps only
 * "event", "id", "object_id", "message" and the wrapper's "id". It accepts only what it
 * is sure of; anything unusual (escapes in keys or in the values it keeps,
 * duplicate keys, exponents, \u0000 or surrogates, and every refusal) goes
 * to the reference parser, which writes the reasons. tests/fuzz/
 * fuzz_ingest_webhook.c checks that whatever the scanner accepts, the
 * reference accepts with the same events. */
#include "ingest_webhook.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
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

/* Object id from an integer: positive, else -1 (Halo's -1 means unset). */
static int64_t s_id_from_int(int64_t v)
{
    return v > 0 ? v : -1;
}

/* Object id from a double: a positive integral value up to 2^53, else -1. */
static int64_t s_id_from_real(double d)
{
    if (!isfinite(d) || d < 1 || d > S_OBJECT_ID_MAX || floor(d) != d)
        return -1;
    return (int64_t)d;
}

/* Object id from a numeric string ("4242", "4242.0"), else -1. */
static int64_t s_id_from_text(const char *s)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno == 0 && end != s && *end == '\0' && isdigit((unsigned char)s[0]))
        return s_id_from_int(v);
    errno = 0;
    double d = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isdigit((unsigned char)s[0]))
        return -1;
    return s_id_from_real(d);
}

/* Positive integer id from a JSON value (int, integral double, numeric
 * string); -1 if the value is absent, unset (<= 0) or not a number. */
static int64_t s_object_id(const json_t *value)
{
    if (json_is_integer(value))
        return s_id_from_int(json_integer_value(value));
    if (json_is_real(value))
        return s_id_from_real(json_real_value(value));
    if (json_is_string(value))
        return s_id_from_text(json_string_value(value));
    return -1;
}

/* The entity object a webhook wraps ("ticket": {...}), borrowed, or NULL;
 * *entity is set to the entity its key names (or NULL). */
static json_t *s_wrapper(json_t *obj, const char **entity)
{
    const char *key;
    json_t *value;
    *entity = NULL;
    json_object_foreach(obj, key, value)
    {
        if (json_is_object(value) && halo_events_entity_for_wrapper(key)) {
            *entity = halo_events_entity_for_wrapper(key);
            return value;
        }
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

/* The steps shared by both parsers, in the order their refusals are checked. */

/* Sets ev's raw event name from Halo's "event" string; -1 with err. */
static int s_set_event(ingest_event_t *ev, const char *text, char *err, size_t errlen)
{
    if (s_copy_trimmed(text, ev->raw_event, sizeof ev->raw_event) != 0) {
        snprintf(err, errlen, "event name too long (max %d bytes)", HALO_EVENT_MAX - 1);
        return -1;
    }
    if (ev->raw_event[0] == '\0') {
        snprintf(err, errlen, "missing event");
        return -1;
    }
    return 0;
}

/* Sets ev's delivery id from Halo's "id" string; -1 with err. */
static int s_set_delivery_text(ingest_event_t *ev, const char *text, char *err, size_t errlen)
{
    if (s_copy_trimmed(text, ev->delivery_id, sizeof ev->delivery_id) != 0) {
        snprintf(err, errlen, "id too long (max %d bytes)", HALO_NAME_MAX - 1);
        return -1;
    }
    return 0;
}

static void s_set_delivery_int(ingest_event_t *ev, long long id)
{
    snprintf(ev->delivery_id, sizeof ev->delivery_id, "%lld", id);
}

/* Maps ev's raw event (entity, op, canonical name); -1 with err when a known
 * event has no object id. An unknown name with an object id is fetched when
 * something names its entity (wrapper_entity: the entity of the wrapper key,
 * or NULL; else a word of the name or of message, may be NULL): it keeps its
 * raw name as event, so the status counts it as another event. */
static int s_map_event(ingest_event_t *ev, const char *wrapper_entity, const char *message, char *err, size_t errlen)
{
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
    } else if (ev->object_id > 0 && halo_events_infer(ev->raw_event, wrapper_entity, message, &map) == 0) {
        snprintf(ev->entity, sizeof ev->entity, "%s", map.entity);
        snprintf(ev->op, sizeof ev->op, "%s", map.op);
        snprintf(ev->event, sizeof ev->event, "%s", ev->raw_event);
    } else {
        snprintf(ev->entity, sizeof ev->entity, "unknown");
        snprintf(ev->op, sizeof ev->op, "unknown");
        snprintf(ev->event, sizeof ev->event, "%s", ev->raw_event);
    }
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
    if (s_set_event(ev, json_string_value(event), err, errlen) != 0)
        return -1;
    json_t *id = json_object_get(obj, "id");
    if (json_is_string(id)) {
        if (s_set_delivery_text(ev, json_string_value(id), err, errlen) != 0)
            return -1;
    } else if (json_is_integer(id)) {
        s_set_delivery_int(ev, json_integer_value(id));
    }
    const char *wrapper_entity = NULL;
    json_t *wrapper = s_wrapper(obj, &wrapper_entity);
    ev->object_id = s_object_id(json_object_get(obj, "object_id"));
    if (ev->object_id < 0 && wrapper)
        ev->object_id = s_object_id(json_object_get(wrapper, "id"));
    return s_map_event(ev, wrapper_entity, json_string_value(json_object_get(obj, "message")), err, errlen);
}

/* The fast scanner. Every function returns false when it is not sure the
 * text is what jansson would accept with the same meaning; the body then
 * goes to the reference parser. */

#define S_TEXT_MAX 1024   /* longest "event", "id" or object id string the scanner copies */
#define S_KEY_MAX 64      /* longer keys are never wrapper keys */
#define S_INT_DIGITS 18   /* integers with more digits are left to jansson (overflow rules) */
#define S_REAL_DIGITS 300 /* reals with a longer integer part too (jansson refuses overflow) */
#define S_BATCH_INITIAL 4

typedef struct {
    const char *p;
    const char *end;
} s_scan_t;

typedef enum { S_ABSENT = 0, S_STRING, S_INT, S_REAL, S_OTHER } s_kind_t;

typedef struct {
    s_kind_t kind;
    const char *text; /* S_STRING: the bytes between the quotes */
    size_t len;
    bool escaped; /* S_STRING with a backslash: the bytes are not the value */
    int64_t num;  /* S_INT */
} s_val_t;

/* What one webhook object says, collected while scanning it. */
typedef struct {
    s_val_t event, id, object_id, wrapper_id, message;
    int wrappers;               /* wrapper keys seen ("ticket", ...) */
    const char *wrapper_entity; /* entity of the wrapper key whose value is an object, or NULL */
} s_obj_t;

/* The events of a batch as they are scanned. */
typedef struct {
    ingest_event_t *events;
    size_t count, cap;
} s_acc_t;

static bool s_scan_value(s_scan_t *sc, int depth, s_val_t *v);

static void s_scan_ws(s_scan_t *sc)
{
    while (sc->p < sc->end && (*sc->p == ' ' || *sc->p == '\t' || *sc->p == '\n' || *sc->p == '\r'))
        sc->p++;
}

static bool s_at(const s_scan_t *sc, char c)
{
    return sc->p < sc->end && *sc->p == c;
}

static int s_hex(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Length of the UTF-8 sequence at p if jansson accepts it (no overlong
 * forms, no surrogates, at most U+10FFFF), else 0. */
static size_t s_utf8(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    size_t n;
    uint32_t v;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        v = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        v = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        v = c & 0x07u;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0u) != 0x80u)
            return 0;
        v = (v << 6) | (p[i] & 0x3Fu);
    }
    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) || (n == 3 && v < 0x800) || (n == 4 && v < 0x10000))
        return 0;
    return n;
}

/* A string (sc->p at its opening quote). \u0000 and surrogate escapes are
 * left to jansson. */
static bool s_scan_string(s_scan_t *sc, s_val_t *v)
{
    const unsigned char *p = (const unsigned char *)sc->p + 1;
    const unsigned char *end = (const unsigned char *)sc->end;
    *v = (s_val_t){.kind = S_STRING, .text = (const char *)p};
    while (p < end) {
        unsigned char c = *p;
        if (c == '"') {
            v->len = (size_t)((const char *)p - v->text);
            sc->p = (const char *)p + 1;
            return true;
        }
        if (c < 0x20)
            return false;
        if (c == '\\') {
            v->escaped = true;
            if (end - p < 2)
                return false;
            c = p[1];
            if (c == 'u') {
                if (end - p < 6)
                    return false;
                unsigned u = 0;
                for (int i = 2; i < 6; i++) {
                    int h = s_hex(p[i]);
                    if (h < 0)
                        return false;
                    u = u * 16 + (unsigned)h;
                }
                if (u == 0 || (u >= 0xD800 && u <= 0xDFFF))
                    return false;
                p += 6;
            } else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't') {
                p += 2;
            } else {
                return false;
            }
        } else if (c < 0x80) {
            p++;
        } else {
            size_t n = s_utf8(p, end);
            if (n == 0)
                return false;
            p += n;
        }
    }
    return false;
}

static bool s_digit(const s_scan_t *sc)
{
    return sc->p < sc->end && *sc->p >= '0' && *sc->p <= '9';
}

/* A number as JSON writes it; exponents and very long ones are left to jansson. */
static bool s_scan_number(s_scan_t *sc, s_val_t *v)
{
    bool negative = s_at(sc, '-');
    if (negative)
        sc->p++;
    const char *digits = sc->p;
    if (s_at(sc, '0'))
        sc->p++;
    else if (s_digit(sc))
        while (s_digit(sc))
            sc->p++;
    else
        return false;
    size_t ndigits = (size_t)(sc->p - digits);
    if (s_digit(sc) || s_at(sc, 'e') || s_at(sc, 'E'))
        return false; /* leading zero, or an exponent */
    if (s_at(sc, '.')) {
        sc->p++;
        if (!s_digit(sc))
            return false;
        while (s_digit(sc))
            sc->p++;
        if (s_at(sc, 'e') || s_at(sc, 'E') || ndigits > S_REAL_DIGITS)
            return false;
        *v = (s_val_t){.kind = S_REAL};
        return true;
    }
    if (ndigits > S_INT_DIGITS)
        return false;
    int64_t n = 0;
    for (size_t i = 0; i < ndigits; i++)
        n = n * 10 + (digits[i] - '0');
    *v = (s_val_t){.kind = S_INT, .num = negative ? -n : n};
    return true;
}

static bool s_scan_literal(s_scan_t *sc, const char *word, s_val_t *v)
{
    size_t n = strlen(word);
    if ((size_t)(sc->end - sc->p) < n || memcmp(sc->p, word, n) != 0)
        return false;
    sc->p += n;
    *v = (s_val_t){.kind = S_OTHER};
    return true;
}

/* Called for each member of an object with sc->p at its value, which it must scan. */
typedef bool (*s_member_fn)(void *ctx, const s_val_t *key, s_scan_t *sc, int depth);
/* Called for each element of an array with sc->p at it, which it must scan. */
typedef bool (*s_element_fn)(void *ctx, s_scan_t *sc, int depth);

/* An object at nesting depth (sc->p at '{'). */
static bool s_scan_object(s_scan_t *sc, int depth, s_member_fn member, void *ctx)
{
    if (depth > INGEST_WEBHOOK_MAX_DEPTH)
        return false;
    sc->p++;
    s_scan_ws(sc);
    if (s_at(sc, '}')) {
        sc->p++;
        return true;
    }
    for (;;) {
        s_val_t key;
        if (!s_at(sc, '"') || !s_scan_string(sc, &key))
            return false;
        s_scan_ws(sc);
        if (!s_at(sc, ':'))
            return false;
        sc->p++;
        s_scan_ws(sc);
        if (!member(ctx, &key, sc, depth))
            return false;
        s_scan_ws(sc);
        if (s_at(sc, '}')) {
            sc->p++;
            return true;
        }
        if (!s_at(sc, ','))
            return false;
        sc->p++;
        s_scan_ws(sc);
    }
}

/* An array at nesting depth (sc->p at '['). */
static bool s_scan_array(s_scan_t *sc, int depth, s_element_fn element, void *ctx)
{
    if (depth > INGEST_WEBHOOK_MAX_DEPTH)
        return false;
    sc->p++;
    s_scan_ws(sc);
    if (s_at(sc, ']')) {
        sc->p++;
        return true;
    }
    for (;;) {
        if (!element(ctx, sc, depth))
            return false;
        s_scan_ws(sc);
        if (s_at(sc, ']')) {
            sc->p++;
            return true;
        }
        if (!s_at(sc, ','))
            return false;
        sc->p++;
        s_scan_ws(sc);
    }
}

static bool s_skip_member(void *ctx, const s_val_t *key, s_scan_t *sc, int depth)
{
    s_val_t v;
    return s_scan_value(sc, depth + 1, &v);
}

static bool s_skip_element(void *ctx, s_scan_t *sc, int depth)
{
    s_val_t v;
    return s_scan_value(sc, depth + 1, &v);
}

/* Any value at nesting depth (containers only validated, kind S_OTHER). */
static bool s_scan_value(s_scan_t *sc, int depth, s_val_t *v)
{
    if (sc->p >= sc->end)
        return false;
    switch (*sc->p) {
    case '"': return s_scan_string(sc, v);
    case '{': *v = (s_val_t){.kind = S_OTHER}; return s_scan_object(sc, depth, s_skip_member, NULL);
    case '[': *v = (s_val_t){.kind = S_OTHER}; return s_scan_array(sc, depth, s_skip_element, NULL);
    case 't': return s_scan_literal(sc, "true", v);
    case 'f': return s_scan_literal(sc, "false", v);
    case 'n': return s_scan_literal(sc, "null", v);
    default: return s_scan_number(sc, v);
    }
}

static bool s_key_is(const s_val_t *key, const char *name)
{
    size_t n = strlen(name);
    return key->len == n && memcmp(key->text, name, n) == 0;
}

/* A member of the wrapper object: only its "id" is kept. */
static bool s_wrapper_member(void *ctx, const s_val_t *key, s_scan_t *sc, int depth)
{
    s_obj_t *o = ctx;
    if (key->escaped)
        return false; /* might spell "id" */
    if (s_key_is(key, "id")) {
        if (o->wrapper_id.kind != S_ABSENT)
            return false; /* duplicate: left to jansson (the last one counts) */
        return s_scan_value(sc, depth + 1, &o->wrapper_id);
    }
    return s_skip_member(ctx, key, sc, depth);
}

/* The entity a wrapper key names ("ticket", ...), or NULL. */
static const char *s_wrapper_key_entity(const s_val_t *key)
{
    char name[S_KEY_MAX];
    if (key->len >= sizeof name)
        return NULL;
    memcpy(name, key->text, key->len);
    name[key->len] = '\0';
    return halo_events_entity_for_wrapper(name);
}

/* A member of a webhook object: "event", "id", "object_id", "message" and one wrapper are kept. */
static bool s_event_member(void *ctx, const s_val_t *key, s_scan_t *sc, int depth)
{
    s_obj_t *o = ctx;
    if (key->escaped)
        return false; /* might spell a key that matters */
    s_val_t *slot = s_key_is(key, "event")       ? &o->event
                    : s_key_is(key, "id")        ? &o->id
                    : s_key_is(key, "object_id") ? &o->object_id
                    : s_key_is(key, "message")   ? &o->message
                                                 : NULL;
    if (slot) {
        if (slot->kind != S_ABSENT)
            return false; /* duplicate: left to jansson (the last one counts) */
        return s_scan_value(sc, depth + 1, slot);
    }
    const char *entity = s_wrapper_key_entity(key);
    if (entity) {
        if (o->wrappers++ > 0)
            return false; /* which one wraps is jansson's order: left to it */
        if (s_at(sc, '{')) {
            o->wrapper_entity = entity;
            return s_scan_object(sc, depth + 1, s_wrapper_member, o);
        }
    }
    return s_skip_member(ctx, key, sc, depth);
}

/* Copies an unescaped string value into out (NUL-terminated); false if it does not fit. */
static bool s_val_text(const s_val_t *v, char *out, size_t cap)
{
    if (v->kind != S_STRING || v->escaped || v->len >= cap)
        return false;
    memcpy(out, v->text, v->len);
    out[v->len] = '\0';
    return true;
}

/* Object id of a scanned value as s_object_id would read it; false if not sure. */
static bool s_val_object_id(const s_val_t *v, int64_t *id)
{
    char text[S_TEXT_MAX];
    switch (v->kind) {
    case S_INT: *id = s_id_from_int(v->num); return true;
    case S_STRING:
        if (!s_val_text(v, text, sizeof text))
            return false;
        *id = s_id_from_text(text);
        return true;
    case S_REAL: return false; /* rare ("4242.0"): jansson reads the double */
    default: *id = -1; return true;
    }
}

/* Fills ev from a scanned object like s_parse_object; false if it would refuse it or is not sure. */
static bool s_scan_fill(const s_obj_t *o, ingest_event_t *ev)
{
    char text[S_TEXT_MAX], err[256]; /* scratch: refusals are written by the reference parser */
    memset(ev, 0, sizeof *ev);
    ev->object_id = -1;
    if (!s_val_text(&o->event, text, sizeof text) || s_set_event(ev, text, err, sizeof err) != 0)
        return false;
    if (o->id.kind == S_STRING) {
        if (!s_val_text(&o->id, text, sizeof text) || s_set_delivery_text(ev, text, err, sizeof err) != 0)
            return false;
    } else if (o->id.kind == S_INT) {
        s_set_delivery_int(ev, o->id.num);
    }
    if (!s_val_object_id(&o->object_id, &ev->object_id))
        return false;
    if (ev->object_id < 0 && o->wrappers > 0 && !s_val_object_id(&o->wrapper_id, &ev->object_id))
        return false;
    /* "message" as jansson reads it: a string (kept only when unescaped), else absent. */
    char message[S_TEXT_MAX];
    if (o->message.kind == S_STRING && !s_val_text(&o->message, message, sizeof message))
        return false;
    return s_map_event(ev, o->wrapper_entity, o->message.kind == S_STRING ? message : NULL, err, sizeof err) == 0;
}

/* One element of a batch: a webhook object, scanned and filled. */
static bool s_event_element(void *ctx, s_scan_t *sc, int depth)
{
    s_acc_t *acc = ctx;
    if (!s_at(sc, '{') || acc->count >= INGEST_WEBHOOK_MAX_BATCH)
        return false;
    s_obj_t o = {0};
    if (!s_scan_object(sc, depth + 1, s_event_member, &o))
        return false;
    if (acc->count == acc->cap) {
        size_t cap = acc->cap ? acc->cap * 2 : S_BATCH_INITIAL;
        ingest_event_t *events = realloc(acc->events, cap * sizeof *events);
        if (!events)
            return false;
        acc->events = events;
        acc->cap = cap;
    }
    return s_scan_fill(&o, &acc->events[acc->count++]);
}

int ingest_webhook_scan(const char *body, size_t len, ingest_batch_t *batch)
{
    batch->count = 0;
    batch->events = NULL;
    s_scan_t sc = {body, body + len};
    s_acc_t acc = {0};
    s_scan_ws(&sc);
    bool ok = false;
    if (s_at(&sc, '[')) {
        ok = s_scan_array(&sc, 1, s_event_element, &acc);
    } else if (s_at(&sc, '{')) {
        /* A single object is an element at depth 0 (the object itself at depth 1). */
        ok = s_event_element(&acc, &sc, 0);
    }
    s_scan_ws(&sc);
    if (!ok || sc.p != sc.end || acc.count == 0) {
        free(acc.events);
        return 1;
    }
    batch->events = acc.events;
    batch->count = acc.count;
    return 0;
}

int ingest_webhook_parse(const char *body, size_t len, ingest_batch_t *batch, char *err, size_t errlen)
{
    if (ingest_webhook_scan(body, len, batch) == 0)
        return 0;
    return ingest_webhook_parse_reference(body, len, batch, err, errlen);
}

int ingest_webhook_parse_reference(const char *body, size_t len, ingest_batch_t *batch, char *err, size_t errlen)
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
