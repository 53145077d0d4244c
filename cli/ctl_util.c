/* ctl_util: see ctl_util.h. */
#include "ctl_util.h"

#include "halo_clock.h"
#include "halo_entity.h"
#include "halo_log.h"
#include "halo_status.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

halo_config_t *ctl_config_load(const halo_config_var_t *table, size_t count)
{
    char err[512];
    halo_config_t *cfg = halo_config_load(table, count, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "haloctl: %s\n", err);
        return NULL;
    }
    const char *level = halo_config_str(cfg, "HALO_LOG_LEVEL");
    int parsed = level ? halo_log_level_parse(level) : HALO_LOG_WARN;
    halo_log_init("haloctl", parsed < 0 ? HALO_LOG_WARN : (halo_log_level_t)parsed);
    return cfg;
}

int ctl_usage(FILE *out, const char *usage, const halo_config_var_t *table, size_t count, int code)
{
    fprintf(out, "%s\nEnvironment:\n", usage);
    halo_config_print_help(out, table, count);
    return code;
}

halo_pg_t *ctl_db_connect(const halo_config_t *cfg)
{
    char err[512];
    halo_pg_t *pg = halo_pg_new(halo_config_str(cfg, "HALO_DATABASE_URL"), 5000, err, sizeof err);
    if (!pg)
        fprintf(stderr, "haloctl: cannot connect to PostgreSQL (HALO_DATABASE_URL): %s\n", err);
    return pg;
}

bool ctl_valid_slug(const char *slug)
{
    size_t len = strlen(slug);
    if (len == 0 || len > 63)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = slug[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '-' && c != '_')))
            return false;
    }
    return true;
}

int ctl_tenant_id(halo_pg_t *pg, const char *slug, int64_t *id)
{
    const char *params[1] = {slug};
    PGresult *res = halo_pg_exec(pg, "SELECT id FROM halo.tenants WHERE slug = $1", 1, params);
    if (!res) {
        fprintf(stderr, "haloctl: cannot read tenants: %s\n", halo_pg_error(pg));
        return -1;
    }
    int rc = -1;
    if (PQntuples(res) == 1) {
        *id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        rc = 0;
    } else {
        fprintf(stderr, "haloctl: no tenant \"%s\" (see haloctl tenants; haloctl connect adds one)\n", slug);
    }
    PQclear(res);
    return rc;
}

/* Removes trailing CR and LF. */
static void s_chomp(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

int ctl_secret_from_file(const char *path, char *out, size_t outlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "haloctl: cannot read secret file %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = 0;
    if (!fgets(out, (int)outlen, f))
        out[0] = '\0';
    fclose(f);
    s_chomp(out);
    if (!out[0]) {
        fprintf(stderr, "haloctl: secret file %s is empty\n", path);
        rc = -1;
    }
    return rc;
}

int ctl_secret_from_stdin(const char *prompt, char *out, size_t outlen)
{
    bool tty = isatty(STDIN_FILENO);
    struct termios saved, quiet;
    if (tty && tcgetattr(STDIN_FILENO, &saved) == 0) {
        quiet = saved;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        fprintf(stderr, "%s: ", prompt);
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    } else {
        tty = false;
    }
    char *line = fgets(out, (int)outlen, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
        fputc('\n', stderr);
    }
    if (!line)
        out[0] = '\0';
    s_chomp(out);
    if (!out[0]) {
        fprintf(stderr, "haloctl: no secret on standard input\n");
        return -1;
    }
    return 0;
}

int ctl_secret_from_env(const char *name, char *out, size_t outlen)
{
    const char *value = getenv(name);
    if (!value || !*value) {
        fprintf(stderr, "haloctl: environment variable %s is not set\n", name);
        return -1;
    }
    if (strlen(value) >= outlen) {
        fprintf(stderr, "haloctl: environment variable %s is too long\n", name);
        return -1;
    }
    snprintf(out, outlen, "%s", value);
    return 0;
}

void ctl_webhook_url(const char *public_url, const char *slug, const char *token, char *out, size_t outlen)
{
    size_t n = strlen(public_url);
    while (n > 0 && public_url[n - 1] == '/')
        n--;
    snprintf(out, outlen, "%.*s/hooks/%s/%s", (int)n, public_url, slug, token);
}

int ctl_entity_parse(const char *text, char *out, size_t outlen)
{
    const halo_entity_t *entity = halo_entity_parse(text);
    if (entity) {
        snprintf(out, outlen, "%s", entity->name);
        return 0;
    }
    char names[256];
    ctl_entity_list(false, ", ", " or ", names, sizeof names);
    fprintf(stderr, "haloctl: unknown entity \"%s\" (expected %s)\n", text, names);
    return -1;
}

void ctl_entity_list(bool plural, const char *sep, const char *last, char *out, size_t outlen)
{
    size_t count = halo_entity_count(), used = 0;
    if (outlen > 0)
        out[0] = '\0';
    for (size_t i = 0; i < count && used < outlen; i++) {
        const halo_entity_t *e = halo_entity_at(i);
        int n = snprintf(out + used, outlen - used, "%s%s", i == 0 ? "" : (i + 1 == count ? last : sep),
                         plural ? e->table : e->name);
        used += n > 0 ? (size_t)n : 0;
    }
}

int ctl_usage_entity(FILE *out, const char *usage, const halo_config_var_t *table, size_t count, int code)
{
    char names[256];
    ctl_entity_list(false, "|", "|", names, sizeof names);
    fprintf(out, "%sENTITY: %s (or a plural or Halo resource, any case).\n", usage, names);
    return ctl_usage(out, "", table, count, code);
}

void ctl_wipe(void *buf, size_t len)
{
    volatile unsigned char *p = buf;
    while (len--)
        *p++ = 0;
}

int64_t ctl_now_ms(const halo_config_t *cfg)
{
    return halo_clock_wall_ms() + halo_config_int(cfg, HALO_STATUS_CLOCK_OFFSET_VAR) * 1000;
}

void ctl_format_duration(int64_t ms, char *out, size_t outlen)
{
    int64_t s = ms / 1000;
    if (s < 120)
        snprintf(out, outlen, "%lld s", (long long)s);
    else if (s < 7200)
        snprintf(out, outlen, "%lld min", (long long)(s / 60));
    else if (s < 2 * 86400)
        snprintf(out, outlen, "%.1f h", (double)s / 3600.0);
    else
        snprintf(out, outlen, "%.1f days", (double)s / 86400.0);
}

void ctl_format_when(int64_t at_ms, int64_t now_ms, char *out, size_t outlen)
{
    if (at_ms < 0) {
        snprintf(out, outlen, "never");
        return;
    }
    char iso[40], age[32];
    halo_clock_format_iso(at_ms, iso, sizeof iso);
    iso[16] = '\0'; /* minutes are enough on a terminal */
    iso[10] = ' ';
    if (now_ms >= at_ms) {
        ctl_format_duration(now_ms - at_ms, age, sizeof age);
        snprintf(out, outlen, "%s UTC (%s ago)", iso, age);
    } else {
        snprintf(out, outlen, "%s UTC", iso);
    }
}
