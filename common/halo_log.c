/* halo_log: one key=value line per event on stderr, with the process name,
 * and every registered secret replaced before the line is written. String
 * values are escaped ('"' and '\\', control bytes), so text from outside can
 * neither forge a field nor start a line. */
#include "halo_log.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "halo_clock.h"

#define LOG_LINE_MAX 4096            /* printed bytes of one line, newline included */
#define LOG_FIELDS_MAX (1024 * 1024) /* formatted fields beyond this are dropped, not cut */
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
static const char *s_level_names[] = {"debug", "info", "warn", "error"};

const char *halo_log_process(void)
{
    return s_process;
}

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

/* A growing text buffer for the formatted fields; too_long once past LOG_FIELDS_MAX. */
typedef struct {
    char *text;
    size_t len, cap;
    bool too_long;
} s_fields_t;

/* Appends n bytes to b (sets too_long beyond LOG_FIELDS_MAX or out of memory). */
static void s_fields_put(s_fields_t *b, const char *bytes, size_t n)
{
    if (b->too_long)
        return;
    if (b->len + n > LOG_FIELDS_MAX) {
        b->too_long = true;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->text, cap);
        if (!grown) {
            b->too_long = true;
            return;
        }
        b->text = grown;
        b->cap = cap;
    }
    memcpy(b->text + b->len, bytes, n);
    b->len += n;
    b->text[b->len] = '\0';
}

/* Appends a string value: secrets redacted first (escaping would hide them from
 * the line's redaction), then '"' and '\\' escaped; outside quotes a value with a
 * blank, '=', '"' or '\\' is quoted, so no value can forge another field. */
static void s_fields_put_value(s_fields_t *b, const char *value, bool quoted)
{
    char *copy = strdup(value);
    pthread_mutex_lock(&s_lock);
    char *clean = copy ? s_redact(copy) : NULL;
    pthread_mutex_unlock(&s_lock);
    if (!clean) {
        b->too_long = true;
        return;
    }
    bool wrap = !quoted && strpbrk(clean, " =\"\\") != NULL;
    if (wrap)
        s_fields_put(b, "\"", 1);
    for (const char *p = clean; *p; p++) {
        if (*p == '"' || *p == '\\')
            s_fields_put(b, "\\", 1);
        s_fields_put(b, p, 1);
    }
    if (wrap)
        s_fields_put(b, "\"", 1);
    free(clean);
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
/* Formats one conversion spec (spec, its '*' width/precision already read) with
 * its argument taken from ap; string arguments go through s_fields_put_value. */
static void s_fields_put_conversion(s_fields_t *b, const char *spec, char conv, const char *length, int stars,
                                    const int star_args[2], bool quoted, va_list *ap)
{
    char tmp[512];
    int n = -1;
#define S_FMT(arg)                                                                                                     \
    (stars == 2   ? snprintf(tmp, sizeof tmp, spec, star_args[0], star_args[1], arg)                                   \
     : stars == 1 ? snprintf(tmp, sizeof tmp, spec, star_args[0], arg)                                                 \
                  : snprintf(tmp, sizeof tmp, spec, arg))
    bool big_l = strcmp(length, "L") == 0, l = strcmp(length, "l") == 0, ll = strcmp(length, "ll") == 0;
    bool z = strcmp(length, "z") == 0, j = strcmp(length, "j") == 0, t = strcmp(length, "t") == 0;
    switch (conv) {
    case 'd':
    case 'i':
        n = ll  ? S_FMT(va_arg(*ap, long long))
            : l ? S_FMT(va_arg(*ap, long))
            : z ? S_FMT(va_arg(*ap, ssize_t))
            : j ? S_FMT(va_arg(*ap, intmax_t))
            : t ? S_FMT(va_arg(*ap, ptrdiff_t))
                : S_FMT(va_arg(*ap, int));
        break;
    case 'u':
    case 'o':
    case 'x':
    case 'X':
        n = ll  ? S_FMT(va_arg(*ap, unsigned long long))
            : l ? S_FMT(va_arg(*ap, unsigned long))
            : z ? S_FMT(va_arg(*ap, size_t))
            : j ? S_FMT(va_arg(*ap, uintmax_t))
            : t ? S_FMT(va_arg(*ap, ptrdiff_t))
                : S_FMT(va_arg(*ap, unsigned int));
        break;
    case 'c': n = S_FMT(va_arg(*ap, int)); break;
    case 'p': n = S_FMT(va_arg(*ap, void *)); break;
    case 'f':
    case 'F':
    case 'e':
    case 'E':
    case 'g':
    case 'G':
    case 'a':
    case 'A': n = big_l ? S_FMT(va_arg(*ap, long double)) : S_FMT(va_arg(*ap, double)); break;
    case 's': {
        const char *value = va_arg(*ap, const char *);
        if (!value)
            value = "(null)";
        int len = stars == 2   ? snprintf(NULL, 0, spec, star_args[0], star_args[1], value)
                  : stars == 1 ? snprintf(NULL, 0, spec, star_args[0], value)
                               : snprintf(NULL, 0, spec, value);
        char *text = len >= 0 && len <= LOG_FIELDS_MAX ? malloc((size_t)len + 1) : NULL;
        if (!text) {
            b->too_long = true;
            return;
        }
        if (stars == 2)
            snprintf(text, (size_t)len + 1, spec, star_args[0], star_args[1], value);
        else if (stars == 1)
            snprintf(text, (size_t)len + 1, spec, star_args[0], value);
        else
            snprintf(text, (size_t)len + 1, spec, value);
        s_fields_put_value(b, text, quoted);
        free(text);
        return;
    }
    default: /* %n and unknown conversions: the format is checked at compile time */ b->too_long = true; return;
    }
#undef S_FMT
    if (n < 0 || (size_t)n >= sizeof tmp) {
        b->too_long = true;
        return;
    }
    s_fields_put(b, tmp, (size_t)n);
}
#pragma GCC diagnostic pop

/* Formats fmt with ap like vsnprintf, except that string arguments are
 * escaped (s_fields_put_value); returns the malloc'd text, NULL if it is too
 * long (LOG_FIELDS_MAX) or out of memory. */
static char *s_format_fields(const char *fmt, va_list ap)
{
    s_fields_t b = {NULL, 0, 0, false};
    va_list args;
    va_copy(args, ap);
    bool quoted = false;
    const char *p = fmt;
    while (*p && !b.too_long) {
        if (*p != '%') {
            if (*p == '"' && (p == fmt || p[-1] != '\\'))
                quoted = !quoted;
            s_fields_put(&b, p++, 1);
            continue;
        }
        if (p[1] == '%') {
            s_fields_put(&b, "%", 1);
            p += 2;
            continue;
        }
        const char *start = p++;
        int stars = 0, star_args[2] = {0, 0};
        p += strspn(p, "-+ #0'");
        if (*p == '*') {
            star_args[stars++] = va_arg(args, int);
            p++;
        }
        p += strspn(p, "0123456789");
        if (*p == '.') {
            p++;
            if (*p == '*') {
                star_args[stars++] = va_arg(args, int);
                p++;
            }
            p += strspn(p, "0123456789");
        }
        char length[3] = "";
        size_t length_len = strspn(p, "hljztL");
        if (length_len > 2 || *p == '\0') {
            b.too_long = true;
            break;
        }
        memcpy(length, p, length_len);
        length[length_len] = '\0';
        p += length_len;
        char conv = *p;
        if (conv == '\0' || (size_t)(p - start) + 2 > 64) {
            b.too_long = true;
            break;
        }
        p++;
        char spec[64];
        memcpy(spec, start, (size_t)(p - start));
        spec[p - start] = '\0';
        s_fields_put_conversion(&b, spec, conv, length, stars, star_args, quoted, &args);
    }
    va_end(args);
    if (b.too_long) {
        free(b.text);
        return NULL;
    }
    return b.text ? b.text : strdup("");
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
        fields = s_format_fields(fmt, ap);
        va_end(ap);
    }
    s_fields_t m = {NULL, 0, 0, false};
    s_fields_put_value(&m, msg ? msg : "", true);
    char *line = NULL;
    if (asprintf(&line, "ts=%s level=%s proc=%s msg=\"%s\"%s%s", ts, s_level_names[level], s_process,
                 m.text && !m.too_long ? m.text : "", fmt && *fmt ? " " : "",
                 fields ? fields : (fmt && *fmt ? "fields_dropped=too_long" : "")) < 0)
        line = NULL;
    free(m.text);
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
