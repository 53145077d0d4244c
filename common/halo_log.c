/* halo_log: one key=value line per event on stderr, with the process name,
 * and every registered secret replaced before the line is written. */
#include "halo_log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "halo_clock.h"

#define LOG_LINE_MAX 4096                /* printed bytes of one line, newline included */
#define LOG_FIELDS_MAX (1024 * 1024)     /* formatted fields beyond this are dropped, not cut */
#define LOG_SECRETS_MAX 64
#define LOG_SECRET_MIN_LEN 4
#define LOG_REDACTED "[redacted]"

static char s_process[64] = "halo";
static halo_log_level_t s_level = HALO_LOG_INFO;
static FILE *s_out = NULL;
static char *s_secrets[LOG_SECRETS_MAX];
static int s_secret_count = 0;
static int s_pinned = 0; /* the first s_pinned secrets (configuration) are never forgotten */
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *s_level_names[] = { "debug", "info", "warn", "error" };

void halo_log_init(const char *process, halo_log_level_t level)
{
    snprintf(s_process, sizeof s_process, "%s", process ? process : "halo");
    s_level = level;
}

int halo_log_level_parse(const char *text)
{
    for (int i = 0; text && i < 4; i++)
        if (strcmp(text, s_level_names[i]) == 0)
            return i;
    return -1;
}

void halo_log_set_output(FILE *out)
{
    pthread_mutex_lock(&s_lock);
    s_out = out;
    pthread_mutex_unlock(&s_lock);
}

void halo_log_add_secret(const char *value)
{
    if (!value || strlen(value) < LOG_SECRET_MIN_LEN)
        return;
    pthread_mutex_lock(&s_lock);
    int known = 0;
    for (int i = 0; i < s_secret_count; i++)
        if (strcmp(s_secrets[i], value) == 0)
            known = 1;
    if (!known && s_secret_count == LOG_SECRETS_MAX && s_pinned < LOG_SECRETS_MAX) {
        /* Full (tokens are refreshed for ever): forget the oldest unpinned. */
        free(s_secrets[s_pinned]);
        memmove(&s_secrets[s_pinned], &s_secrets[s_pinned + 1],
                (size_t)(LOG_SECRETS_MAX - 1 - s_pinned) * sizeof s_secrets[0]);
        s_secret_count--;
    }
    if (!known && s_secret_count == LOG_SECRETS_MAX)
        known = 1; /* every slot pinned: nothing can be forgotten */
    if (!known) {
        char *copy = strdup(value);
        if (copy)
            s_secrets[s_secret_count++] = copy;
    }
    pthread_mutex_unlock(&s_lock);
}

void halo_log_clear_secrets(void)
{
    pthread_mutex_lock(&s_lock);
    for (int i = 0; i < s_secret_count; i++)
        free(s_secrets[i]);
    s_secret_count = 0;
    s_pinned = 0;
    pthread_mutex_unlock(&s_lock);
}

void halo_log_pin_secrets(void)
{
    pthread_mutex_lock(&s_lock);
    s_pinned = s_secret_count;
    pthread_mutex_unlock(&s_lock);
}

/* Returns a malloc'd copy of text with every occurrence of secret replaced,
 * or text itself (not copied) when it does not occur; NULL if out of memory. */
static char *s_replace(char *text, const char *secret)
{
    size_t slen = strlen(secret), rlen = strlen(LOG_REDACTED), hits = 0;
    for (const char *p = strstr(text, secret); p; p = strstr(p + slen, secret))
        hits++;
    if (hits == 0)
        return text;
    size_t len = strlen(text);
    char *out = malloc(len - hits * slen + hits * rlen + 1);
    if (!out)
        return NULL;
    char *w = out;
    const char *r = text;
    for (const char *p = strstr(r, secret); p; p = strstr(r, secret)) {
        memcpy(w, r, (size_t)(p - r));
        w += p - r;
        memcpy(w, LOG_REDACTED, rlen);
        w += rlen;
        r = p + slen;
    }
    strcpy(w, r);
    return out;
}

/* Replaces every registered secret in the whole line (owned, may be
 * reallocated); the line is cut to its printed length only afterwards, so a
 * secret can never be printed in part. NULL if out of memory. */
static char *s_redact(char *line)
{
    for (int i = 0; line && i < s_secret_count; i++) {
        char *next = s_replace(line, s_secrets[i]);
        if (next != line)
            free(line);
        line = next;
    }
    return line;
}

/* Escapes control bytes (CR, LF, ESC...) as \\xNN so that a value from
 * outside can neither start a forged log line nor drive a terminal. Takes
 * ownership of line; NULL if out of memory. */
static char *s_escape_controls(char *line)
{
    if (!line)
        return NULL;
    size_t controls = 0, len = 0;
    for (const unsigned char *p = (const unsigned char *)line; *p; p++, len++)
        controls += *p < 0x20 || *p == 0x7f;
    if (controls == 0)
        return line;
    char *out = malloc(len + controls * 3 + 1);
    if (out) {
        char *w = out;
        for (const unsigned char *p = (const unsigned char *)line; *p; p++) {
            if (*p < 0x20 || *p == 0x7f)
                w += sprintf(w, "\\x%02x", *p);
            else
                *w++ = (char)*p;
        }
        *w = '\0';
    }
    free(line);
    return out;
}

void halo_log_write(halo_log_level_t level, const char *msg, const char *fmt, ...)
{
    if (level < s_level || level > HALO_LOG_ERROR)
        return;
    char ts[40];
    halo_clock_format_iso(halo_clock_wall_ms(), ts, sizeof ts);
    char *fields = NULL;
    if (fmt && *fmt) {
        va_list ap;
        va_start(ap, fmt);
        int need = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (need >= 0 && need <= LOG_FIELDS_MAX && (fields = malloc((size_t)need + 1)) != NULL) {
            va_start(ap, fmt);
            vsnprintf(fields, (size_t)need + 1, fmt, ap);
            va_end(ap);
        }
    }
    char *line = NULL;
    if (asprintf(&line, "ts=%s level=%s proc=%s msg=\"%s\"%s%s", ts, s_level_names[level], s_process, msg ? msg : "",
                 fmt && *fmt ? " " : "", fields ? fields : (fmt && *fmt ? "fields_dropped=too_long" : "")) < 0)
        line = NULL;
    free(fields);
    pthread_mutex_lock(&s_lock);
    line = s_redact(line);
    line = s_escape_controls(line);
    if (line) {
        FILE *out = s_out ? s_out : stderr;
        fprintf(out, "%.*s\n", LOG_LINE_MAX - 1, line);
        fflush(out);
    }
    pthread_mutex_unlock(&s_lock);
    free(line);
}
