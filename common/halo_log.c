/* halo_log: one key=value line per event on stderr, with the process name,
 * and every registered secret replaced before the line is written. */
#include "halo_log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "halo_clock.h"

#define LOG_LINE_MAX 4096
#define LOG_SECRETS_MAX 64
#define LOG_SECRET_MIN_LEN 4
#define LOG_REDACTED "[redacted]"

static char s_process[64] = "halo";
static halo_log_level_t s_level = HALO_LOG_INFO;
static FILE *s_out = NULL;
static char *s_secrets[LOG_SECRETS_MAX];
static int s_secret_count = 0;
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
    if (!known && s_secret_count == LOG_SECRETS_MAX) {
        /* Full (tokens are refreshed for ever): forget the oldest. */
        free(s_secrets[0]);
        memmove(&s_secrets[0], &s_secrets[1], (LOG_SECRETS_MAX - 1) * sizeof s_secrets[0]);
        s_secret_count--;
    }
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
    pthread_mutex_unlock(&s_lock);
}

/* Replaces each occurrence of every secret in line (in place, bounded). */
static void s_redact(char *line, size_t cap)
{
    for (int i = 0; i < s_secret_count; i++) {
        const char *secret = s_secrets[i];
        size_t slen = strlen(secret), rlen = strlen(LOG_REDACTED);
        char *hit = strstr(line, secret);
        while (hit) {
            size_t tail = strlen(hit + slen);
            size_t used = (size_t)(hit - line);
            if (used + rlen + tail + 1 > cap)
                tail = cap - used - rlen - 1;
            memmove(hit + rlen, hit + slen, tail);
            memcpy(hit, LOG_REDACTED, rlen);
            hit[rlen + tail] = '\0';
            hit = strstr(hit + rlen, secret);
        }
    }
}

void halo_log_write(halo_log_level_t level, const char *msg, const char *fmt, ...)
{
    if (level < s_level || level > HALO_LOG_ERROR)
        return;
    char line[LOG_LINE_MAX];
    char ts[40];
    halo_clock_format_iso(halo_clock_wall_ms(), ts, sizeof ts);
    int n = snprintf(line, sizeof line, "ts=%s level=%s proc=%s msg=\"%s\"", ts, s_level_names[level], s_process,
                     msg ? msg : "");
    if (n < 0)
        return;
    if (fmt && *fmt && (size_t)n < sizeof line - 2) {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_lock(&s_lock);
    s_redact(line, sizeof line);
    FILE *out = s_out ? s_out : stderr;
    fprintf(out, "%s\n", line);
    fflush(out);
    pthread_mutex_unlock(&s_lock);
}
