/* halo_log: levelled, one-line key=value logs to stderr, with the process name
 * on every line. Values registered as secret are replaced by "[redacted]"
 * wherever they appear in a line, so a secret is never printed. */
#ifndef HALO_LOG_H
#define HALO_LOG_H

#include <stdio.h>

typedef enum { HALO_LOG_DEBUG = 0, HALO_LOG_INFO, HALO_LOG_WARN, HALO_LOG_ERROR } halo_log_level_t;

/* Sets the process name and minimum level; call once at start (name is copied). */
void halo_log_init(const char *process, halo_log_level_t level);
/* The process name set by halo_log_init ("halo" before). */
const char *halo_log_process(void);
/* Parses "debug|info|warn|error"; returns -1 for anything else. */
int halo_log_level_parse(const char *text);
/* Sends log lines to out instead of stderr (tests); NULL restores stderr. */
void halo_log_set_output(FILE *out);
/* Registers a value that must never appear in a log line (copied; values shorter than 4 chars
 * ignored; the newest 64 are kept, so refreshed tokens push out the oldest). */
void halo_log_add_secret(const char *value);
/* Pins the secrets registered so far (configuration): they are never forgotten. */
void halo_log_pin_secrets(void);
/* Forgets every registered secret (tests). */
void halo_log_clear_secrets(void);
/* Writes: ts=... level=... proc=... msg="..." then the fields formatted by fmt
 * (key=value pairs; "" for none). */
void halo_log_write(halo_log_level_t level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define HALO_DEBUG(msg, ...) halo_log_write(HALO_LOG_DEBUG, msg, __VA_ARGS__)
#define HALO_INFO(msg, ...) halo_log_write(HALO_LOG_INFO, msg, __VA_ARGS__)
#define HALO_WARN(msg, ...) halo_log_write(HALO_LOG_WARN, msg, __VA_ARGS__)
#define HALO_ERROR(msg, ...) halo_log_write(HALO_LOG_ERROR, msg, __VA_ARGS__)

#endif
