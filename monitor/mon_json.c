/* mon_json: see mon_json.h. A growing byte buffer and a writer that knows
 * jansson's indented layout: a container's members each on their own line,
 * two spaces per level, "key": value, empty containers as {} and []. */
#include "mon_json.h"

#include "halo_clock.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_DEPTH_MAX 8

typedef struct {
    char *p;
    size_t len, cap;
    bool oom;
    int depth;
    bool empty[S_DEPTH_MAX]; /* nothing written yet in the container open at that depth */
} s_out_t;

/* Appends n bytes of s. */
static void s_put(s_out_t *o, const char *s, size_t n)
{
    if (o->oom)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 1 << 16;
        while (o->len + n + 1 > cap)
            cap *= 2;
        char *grown = realloc(o->p, cap);
        if (!grown) {
            o->oom = true;
            return;
        }
        o->p = grown;
        o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

/* Appends a C string. */
static void s_puts(s_out_t *o, const char *s)
{
    s_put(o, s, strlen(s));
}

/* Starts the next member of the open container: a comma after the previous one, a new line, the indent. */
static void s_next(s_out_t *o)
{
    static const char spaces[] = "                ";
    if (!o->empty[o->depth])
        s_put(o, ",", 1);
    o->empty[o->depth] = false;
    s_put(o, "\n", 1);
    s_put(o, spaces, (size_t)(2 * o->depth));
}

/* Opens an object ('{') or an array ('['). */
static void s_open(s_out_t *o, char c)
{
    s_put(o, &c, 1);
    if (o->depth + 1 < S_DEPTH_MAX)
        o->empty[++o->depth] = true;
}

/* Closes the container opened with s_open ('}' or ']'). */
static void s_close(s_out_t *o, char c)
{
    static const char spaces[] = "                ";
    bool empty = o->empty[o->depth];
    o->depth--;
    if (!empty) {
        s_put(o, "\n", 1);
        s_put(o, spaces, (size_t)(2 * o->depth));
    }
    s_put(o, &c, 1);
}

/* Writes one UTF-16 code unit as \uXXXX. */
static void s_u16(s_out_t *o, unsigned unit)
{
    char esc[8];
    snprintf(esc, sizeof esc, "\\u%04X", unit & 0xFFFF);
    s_put(o, esc, 6);
}

/* Decodes the UTF-8 sequence at s (n bytes left) into *cp; its length, 0 if invalid. */
static size_t s_utf8(const unsigned char *s, size_t n, unsigned *cp)
{
    size_t len = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 0;
    if (len == 0 || len > n || s[0] > 0xF4 || (len == 2 && s[0] < 0xC2))
        return 0;
    unsigned v = s[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF))) || (len == 4 && (v < 0x10000 || v > 0x10FFFF)))
        return 0;
    *cp = v;
    return len;
}

/* Writes text as a JSON string, escaped as jansson's JSON_ENSURE_ASCII does. */
static void s_str(s_out_t *o, const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t n = strlen(text), plain = 0;
    s_put(o, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++, plain++;
            continue;
        }
        s_put(o, (const char *)s + i - plain, plain);
        plain = 0;
        static const char *const short_esc[] = {['\b'] = "\\b", ['\f'] = "\\f", ['\n'] = "\\n", ['\r'] = "\\r",
                                                ['\t'] = "\\t", ['"'] = "\\\"", ['\\'] = "\\\\"};
        if (c < 0x80) {
            if (c < sizeof short_esc / sizeof short_esc[0] && short_esc[c])
                s_put(o, short_esc[c], 2);
            else
                s_u16(o, c);
            i++;
            continue;
        }
        unsigned cp = 0xFFFD;
        size_t len = s_utf8(s + i, n - i, &cp);
        i += len ? len : 1;
        if (cp > 0xFFFF) {
            cp -= 0x10000;
            s_u16(o, 0xD800 | (cp >> 10));
            s_u16(o, 0xDC00 | (cp & 0x3FF));
        } else {
            s_u16(o, cp);
        }
    }
    s_put(o, (const char *)s + n - plain, plain);
    s_put(o, "\"", 1);
}

/* Writes an integer. */
static void s_int(s_out_t *o, int64_t v)
{
    char buf[24], *end = buf + sizeof buf, *p = end;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    s_put(o, p, (size_t)(end - p));
}

/* Writes a real as jansson does (17 significant digits, always a '.' or an
 * exponent, the exponent without '+' or leading zeros); null if not finite. */
static void s_real(s_out_t *o, double v)
{
    if (!isfinite(v)) {
        s_put(o, "null", 4);
        return;
    }
    char buf[48];
    int n = snprintf(buf, sizeof buf - 2, "%.17g", v);
    if (!strchr(buf, '.') && !strchr(buf, 'e')) {
        memcpy(buf + n, ".0", 3);
        n += 2;
    }
    char *e = strchr(buf, 'e');
    if (e) {
        char *start = e + 1;
        if (*start == '-')
            start++;
        char *end = start;
        while (*end == '+' || *end == '0')
            end++;
        memmove(start, end, strlen(end) + 1);
        n = (int)strlen(buf);
    }
    s_put(o, buf, (size_t)n);
}

/* Writes a boolean. */
static void s_bool(s_out_t *o, bool v)
{
    s_puts(o, v ? "true" : "false");
}

/* Writes an ISO time, or null for "never" (< 0). */
static void s_time(s_out_t *o, int64_t ms)
{
    if (ms < 0) {
        s_put(o, "null", 4);
        return;
    }
    char buf[40];
    halo_clock_format_iso(ms, buf, sizeof buf);
    s_put(o, "\"", 1);
    s_puts(o, buf);
    s_put(o, "\"", 1);
}

/* Writes a string, or null when it is empty. */
static void s_str_or_null(s_out_t *o, const char *text)
{
    if (text && *text)
        s_str(o, text);
    else
        s_put(o, "null", 4);
}

/* Starts member key of the open object. */
static void s_key(s_out_t *o, const char *key)
{
    s_next(o);
    s_str(o, key);
    s_put(o, ": ", 2);
}

/* Writes member key with an integer, a boolean, a real, a time, a string, a string or null. */
static void s_kv_int(s_out_t *o, const char *key, int64_t v)
{
    s_key(o, key);
    s_int(o, v);
}

static void s_kv_bool(s_out_t *o, const char *key, bool v)
{
    s_key(o, key);
    s_bool(o, v);
}

static void s_kv_real(s_out_t *o, const char *key, double v)
{
    s_key(o, key);
    s_real(o, v);
}

static void s_kv_time(s_out_t *o, const char *key, int64_t ms)
{
    s_key(o, key);
    s_time(o, ms);
}

static void s_kv_str(s_out_t *o, const char *key, const char *text)
{
    s_key(o, key);
    s_str(o, text);
}

static void s_kv_str_or_null(s_out_t *o, const char *key, const char *text)
{
    s_key(o, key);
    s_str_or_null(o, text);
}

/* One entity's sync object (halo_status.c's s_sync_json), or null. */
static void s_sync(s_out_t *o, const halo_status_sync_t *s)
{
    if (!s->present) {
        s_put(o, "null", 4);
        return;
    }
    s_open(o, '{');
    s_kv_bool(o, "full_requested", s->full_requested);
    s_kv_str(o, "full_status", s->full_status);
    s_key(o, "full_run_id");
    if (s->full_run_id < 0)
        s_put(o, "null", 4);
    else
        s_int(o, s->full_run_id);
    s_kv_int(o, "full_page_no", s->full_page_no);
    s_key(o, "full_total");
    if (s->full_total < 0)
        s_put(o, "null", 4);
    else
        s_int(o, s->full_total);
    s_kv_int(o, "full_seen", s->full_seen);
    s_kv_time(o, "full_started_at", s->full_started_at_ms);
    s_kv_time(o, "full_finished_at", s->full_finished_at_ms);
    s_kv_time(o, "incr_last_at", s->incr_last_at_ms);
    s_kv_time(o, "incr_cursor", s->incr_cursor_ms);
    s_kv_str_or_null(o, "last_error", s->last_error);
    s_kv_int(o, "detail_live", s->detail_live);
    s_kv_int(o, "detail_wanting", s->detail_wanting);
    s_kv_real(o, "detail_coverage_pct", halo_status_detail_coverage(s));
    s_close(o, '}');
}

/* The webhook object of a report. */
static void s_webhook(s_out_t *o, const halo_status_report_t *r)
{
    s_open(o, '{');
    s_kv_str(o, "status", halo_status_message(r->result.status));
    s_kv_str(o, "key", halo_status_key(r->result.status));
    s_kv_str(o, "meaning", halo_status_meaning(r->result.status));
    s_kv_str(o, "suggestion", r->result.suggestion);
    s_kv_time(o, "last_received_at", r->result.last_any_ms);
    s_key(o, "missing_events");
    s_open(o, '[');
    for (size_t i = 0; i < r->result.missing_count; i++) {
        s_next(o);
        s_str(o, r->events[r->result.missing[i]].event);
    }
    s_close(o, ']');
    s_close(o, '}');
}

/* The api_budget object of a report. */
static void s_budget(s_out_t *o, const halo_status_report_t *r)
{
    s_open(o, '{');
    s_kv_int(o, "rate_limit", r->rate_limit);
    s_kv_int(o, "rate_window_s", r->rate_window_s);
    s_kv_real(o, "headroom", r->rate_headroom);
    s_kv_real(o, "limit", r->budget_limit);
    s_kv_real(o, "used", r->budget_used);
    s_kv_int(o, "requests_total", r->api_requests);
    s_kv_int(o, "throttled_total", r->api_throttled);
    s_kv_time(o, "last_429_at", r->last_429_at_ms);
    s_kv_int(o, "rate_limit_configured", r->rate_limit);
    s_kv_int(o, "rate_limit_effective", r->rate_effective);
    s_kv_real(o, "rate_limit_effective_window_s", r->rate_effective_window_s);
    s_key(o, "rate_limit_learned");
    if (r->rate_learned > 0)
        s_int(o, r->rate_learned);
    else
        s_put(o, "null", 4);
    s_key(o, "rate_limit_learned_window_s");
    if (r->rate_learned > 0)
        s_real(o, r->rate_learned_window_s);
    else
        s_put(o, "null", 4);
    s_kv_time(o, "rate_limit_learned_at", r->rate_learned_at_ms);
    s_kv_bool(o, "rate_limit_aimd", r->rate_aimd);
    s_kv_str(o, "rate_limit_summary", r->rate_summary);
    s_close(o, '}');
}

/* One tenant's object (halo_status_report_to_json). */
static void s_report(s_out_t *o, const halo_status_report_t *r)
{
    s_open(o, '{');
    s_kv_str(o, "tenant", r->slug);
    s_kv_bool(o, "enabled", r->enabled);
    s_kv_bool(o, "healthy", r->healthy);
    s_kv_str(o, "resource_url", r->resource_url);
    s_kv_time(o, "connected_at", r->connected_at_ms);
    s_kv_time(o, "computed_at", r->now_ms);
    s_key(o, "webhook");
    s_webhook(o, r);
    s_key(o, "events");
    s_open(o, '[');
    for (size_t i = 0; i < r->event_count; i++) {
        const halo_status_event_t *e = &r->events[i];
        s_next(o);
        s_open(o, '{');
        s_kv_str(o, "event", e->event);
        s_kv_bool(o, "expected", e->expected);
        s_kv_int(o, "received", e->received);
        s_kv_time(o, "last_at", e->received > 0 ? e->last_at_ms : -1);
        s_close(o, '}');
    }
    s_close(o, ']');
    s_key(o, "sync");
    s_open(o, '{');
    for (size_t k = 0; k < HALO_STATUS_ENTITY_COUNT; k++) {
        s_key(o, r->sync[k].entity);
        s_sync(o, &r->sync[k]);
    }
    s_close(o, '}');
    s_key(o, "queue");
    s_open(o, '{');
    s_kv_int(o, "pending", r->queue_pending);
    s_kv_int(o, "leased", r->queue_leased);
    s_kv_int(o, "dead_letters", r->dead_letters);
    s_key(o, "oldest_pending_seconds");
    if (r->oldest_pending_ms < 0)
        s_put(o, "null", 4);
    else
        s_real(o, (double)r->oldest_pending_ms / 1000.0);
    s_kv_str_or_null(o, "last_dead_letter_error", r->last_dead_error);
    s_close(o, '}');
    s_key(o, "api_budget");
    s_budget(o, r);
    s_close(o, '}');
}

char *mon_json_status(const mon_json_head_t *head, const halo_status_report_t *reports, size_t count, size_t *len)
{
    s_out_t o = {.depth = 0};
    bool healthy = true;
    for (size_t i = 0; i < count; i++)
        healthy &= reports[i].healthy;
    s_open(&o, '{');
    s_kv_time(&o, "generated_at", head->now_ms);
    s_kv_time(&o, "refreshed_at", head->refreshed_at_ms);
    s_key(&o, "database");
    s_open(&o, '{');
    s_kv_bool(&o, "ok", head->db_ok);
    s_kv_str_or_null(&o, "error", head->db_error);
    s_close(&o, '}');
    s_kv_bool(&o, "healthy", healthy);
    s_key(&o, "tenants");
    s_open(&o, '[');
    for (size_t i = 0; i < count; i++) {
        s_next(&o);
        s_report(&o, &reports[i]);
    }
    s_close(&o, ']');
    s_close(&o, '}');
    s_put(&o, "\n", 1);
    if (o.oom) {
        free(o.p);
        return NULL;
    }
    o.p[o.len] = '\0';
    *len = o.len;
    return o.p;
}
