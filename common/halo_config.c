/* halo_config: validates HALO_* variables against a declarative table and
 * keeps their values; the same table prints --help, and --version is answered
 * here too, so every process that loads its config this way gets both. A
 * secret variable NAME may instead come from the file named by NAME_FILE
 * (Docker secrets), and HALO_DATABASE_PASSWORD(_FILE) is merged into
 * HALO_DATABASE_URL; secrets still holding .env.example's placeholder are
 * refused. */
#include "halo_config.h"

#include <errno.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "halo_log.h"
#include "halo_version.h"

#define CONFIG_VALUE_MAX 4096
#define CONFIG_NAME_MAX 128
#define CONFIG_DB_URL "HALO_DATABASE_URL"
#define CONFIG_DB_PASSWORD "HALO_DATABASE_PASSWORD"

typedef struct {
    const halo_config_var_t *var;
    char *text;
    int64_t ival;
    double dval;
    bool bval;
} s_value_t;

struct _halo_config_t {
    size_t count;
    s_value_t *values;
};

static const char *s_type_name(halo_cfg_type_t type)
{
    switch (type) {
    case HALO_CFG_STRING: return "string";
    case HALO_CFG_INT: return "integer";
    case HALO_CFG_DOUBLE: return "number";
    case HALO_CFG_BOOL: return "boolean";
    case HALO_CFG_ENUM: return "choice";
    }
    return "?";
}

static int s_parse_bool(const char *text, bool *out)
{
    static const char *yes[] = {"1", "true", "yes", "on"};
    static const char *no[] = {"0", "false", "no", "off"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

static bool s_enum_has(const char *choices, const char *text)
{
    size_t len = strlen(text);
    const char *p = choices;
    while (p && *p) {
        const char *bar = strchr(p, '|');
        size_t wlen = bar ? (size_t)(bar - p) : strlen(p);
        if (wlen == len && strncmp(p, text, len) == 0)
            return true;
        p = bar ? bar + 1 : NULL;
    }
    return false;
}

/* Parses text for var into value; 0, or -1 with "NAME: reason" in err. */
static int s_parse(const halo_config_var_t *var, const char *text, s_value_t *value, char *err, size_t errlen)
{
    bool bounded = var->min != var->max;
    if (strlen(text) >= CONFIG_VALUE_MAX) {
        snprintf(err, errlen, "%s: value too long (max %d bytes)", var->name, CONFIG_VALUE_MAX - 1);
        return -1;
    }
    switch (var->type) {
    case HALO_CFG_STRING:
        if (*text == '\0') {
            snprintf(err, errlen, "%s: must not be empty", var->name);
            return -1;
        }
        if (bounded && (strlen(text) < var->min || strlen(text) > var->max)) {
            snprintf(err, errlen, "%s: must be %.0f to %.0f characters long", var->name, var->min, var->max);
            return -1;
        }
        break;
    case HALO_CFG_INT: {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (errno || end == text || *end != '\0') {
            snprintf(err, errlen, "%s: expected an integer, got \"%s\"", var->name, var->secret ? "…" : text);
            return -1;
        }
        if (bounded && (v < var->min || v > var->max)) {
            if (var->secret)
                snprintf(err, errlen, "%s: out of range [%.0f, %.0f]", var->name, var->min, var->max);
            else
                snprintf(err, errlen, "%s: %lld is out of range [%.0f, %.0f]", var->name, v, var->min, var->max);
            return -1;
        }
        value->ival = v;
        value->dval = (double)v;
        break;
    }
    case HALO_CFG_DOUBLE: {
        char *end = NULL;
        errno = 0;
        double v = strtod(text, &end);
        if (errno || end == text || *end != '\0' || !isfinite(v)) {
            snprintf(err, errlen, "%s: expected a number, got \"%s\"", var->name, var->secret ? "…" : text);
            return -1;
        }
        if (bounded && (v < var->min || v > var->max)) {
            if (var->secret)
                snprintf(err, errlen, "%s: out of range [%g, %g]", var->name, var->min, var->max);
            else
                snprintf(err, errlen, "%s: %g is out of range [%g, %g]", var->name, v, var->min, var->max);
            return -1;
        }
        value->dval = v;
        /* Saturate: casting a double beyond int64's range is undefined. */
        value->ival = v >= 9.2e18 ? INT64_MAX : v <= -9.2e18 ? INT64_MIN : (int64_t)v;
        break;
    }
    case HALO_CFG_BOOL:
        if (s_parse_bool(text, &value->bval) != 0) {
            snprintf(err, errlen, "%s: expected true or false, got \"%s\"", var->name, var->secret ? "…" : text);
            return -1;
        }
        break;
    case HALO_CFG_ENUM:
        if (!s_enum_has(var->choices, text)) {
            snprintf(err, errlen, "%s: expected one of %s, got \"%s\"", var->name, var->choices,
                     var->secret ? "…" : text);
            return -1;
        }
        break;
    }
    value->text = strdup(text);
    if (!value->text) {
        snprintf(err, errlen, "%s: out of memory", var->name);
        return -1;
    }
    return 0;
}

/* Reads the secret file of variable name into buf (one trailing newline
 * dropped); 0, or -1 with "NAME_FILE: reason" in err. */
static int s_read_secret_file(const char *name, const char *path, char *buf, size_t buflen, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "%s_FILE: cannot read %s: %s", name, path, strerror(errno));
        return -1;
    }
    size_t n = fread(buf, 1, buflen - 1, f);
    bool more = fgetc(f) != EOF;
    bool failed = ferror(f) != 0;
    fclose(f);
    if (failed || more) {
        snprintf(err, errlen, "%s_FILE: %s %s", name, path,
                 failed ? "could not be read" : "is too long (max 4095 bytes)");
        return -1;
    }
    buf[n] = '\0';
    if (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    if (n > 0 && buf[n - 1] == '\r')
        buf[--n] = '\0';
    if (memchr(buf, '\0', n) || n == 0) {
        snprintf(err, errlen, "%s_FILE: %s is %s", name, path, n == 0 ? "empty" : "not text");
        return -1;
    }
    return 0;
}

/* The text of variable name: NAME, or for a secret the content of the file
 * named by NAME_FILE (into buf). *out is NULL when neither is set. 0 or -1. */
static int s_lookup(const char *name, bool secret, char *buf, size_t buflen, const char **out, char *err, size_t errlen)
{
    *out = getenv(name);
    if (*out && **out == '\0')
        *out = NULL;
    if (!secret)
        return 0;
    char file_var[CONFIG_NAME_MAX];
    snprintf(file_var, sizeof file_var, "%s_FILE", name);
    const char *path = getenv(file_var);
    if (!path || !*path)
        return 0;
    if (*out) {
        snprintf(err, errlen, "%s and %s are both set: use one", name, file_var);
        return -1;
    }
    if (s_read_secret_file(name, path, buf, buflen, err, errlen) != 0)
        return -1;
    *out = buf;
    return 0;
}

/* True for a value still holding .env.example's placeholder ("change-me"). */
static bool s_is_placeholder(const char *text)
{
    return strcasestr(text, "change-me") != NULL || strcasestr(text, "changeme") != NULL;
}

/* Appends keyword='value' (libpq quoting: \\ and \' escaped) to out. */
static void s_append_conninfo(char *out, size_t outlen, const char *keyword, const char *value)
{
    size_t n = strlen(out);
    n += (size_t)snprintf(out + n, n < outlen ? outlen - n : 0, "%s%s='", n ? " " : "", keyword);
    for (const char *c = value; *c && n + 3 < outlen; c++) {
        if (*c == '\\' || *c == '\'')
            out[n++] = '\\';
        out[n++] = *c;
    }
    if (n + 2 <= outlen) {
        out[n++] = '\'';
        out[n] = '\0';
    }
}

/* Replaces the password of connection string url (libpq key=value or URI)
 * by password; the result, in key=value form, goes to out. 0 or -1. */
static int s_merge_password(const char *url, const char *password, char *out, size_t outlen, char *err, size_t errlen)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &perr);
    PQfreemem(perr); /* libpq's text may quote the string: never shown */
    if (!opts) {
        snprintf(err, errlen, "%s: not a valid libpq connection string", CONFIG_DB_URL);
        return -1;
    }
    out[0] = '\0';
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (o->val && strcmp(o->keyword, "password") != 0)
            s_append_conninfo(out, outlen, o->keyword, o->val);
    PQconninfoFree(opts);
    s_append_conninfo(out, outlen, "password", password);
    if (strlen(out) + 1 >= outlen) {
        snprintf(err, errlen, "%s: too long with the password", CONFIG_DB_URL);
        return -1;
    }
    return 0;
}

/* With HALO_DATABASE_PASSWORD or HALO_DATABASE_PASSWORD_FILE set, puts the
 * password into the HALO_DATABASE_URL value (if the table has one). 0 or -1. */
static int s_apply_db_password(s_value_t *value, char *err, size_t errlen)
{
    char buf[CONFIG_VALUE_MAX];
    const char *password = NULL;
    if (s_lookup(CONFIG_DB_PASSWORD, true, buf, sizeof buf, &password, err, errlen) != 0)
        return -1;
    if (!password)
        return 0;
    if (s_is_placeholder(password)) {
        snprintf(err, errlen, "%s: still the placeholder of .env.example: set a real password", CONFIG_DB_PASSWORD);
        return -1;
    }
    halo_log_add_secret(password);
    char *merged = malloc(2 * CONFIG_VALUE_MAX + 64);
    if (!merged) {
        snprintf(err, errlen, "%s: out of memory", CONFIG_DB_URL);
        return -1;
    }
    if (s_merge_password(value->text, password, merged, 2 * CONFIG_VALUE_MAX + 64, err, errlen) != 0) {
        free(merged);
        return -1;
    }
    free(value->text);
    value->text = merged;
    halo_log_add_secret(merged);
    return 0;
}

halo_config_t *halo_config_load(const halo_config_var_t *table, size_t count, char *err, size_t errlen)
{
    halo_config_t *self = calloc(1, sizeof *self);
    if (!self)
        goto fail;
    self->values = calloc(count ? count : 1, sizeof *self->values);
    if (!self->values)
        goto fail;
    self->count = count;
    for (size_t i = 0; i < count; i++) {
        const halo_config_var_t *var = &table[i];
        self->values[i].var = var;
        char file_text[CONFIG_VALUE_MAX];
        const char *text = NULL;
        if (s_lookup(var->name, var->secret, file_text, sizeof file_text, &text, err, errlen) != 0)
            goto fail;
        if (!text) {
            if (!var->default_value) {
                snprintf(err, errlen, "%s: required but not set (%s)", var->name, var->help);
                goto fail;
            }
            text = var->default_value;
        }
        if (var->secret && s_is_placeholder(text)) {
            snprintf(err, errlen, "%s: still the placeholder of .env.example: set a real secret", var->name);
            goto fail;
        }
        if (s_parse(var, text, &self->values[i], err, errlen) != 0)
            goto fail;
        if (var->secret)
            halo_log_add_secret(self->values[i].text);
        if (strcmp(var->name, CONFIG_DB_URL) == 0 && s_apply_db_password(&self->values[i], err, errlen) != 0)
            goto fail;
    }
    halo_log_pin_secrets();
    return self;
fail:
    if (self && !self->values)
        snprintf(err, errlen, "out of memory");
    halo_config_destroy(&self);
    return NULL;
}

void halo_config_print_help(FILE *out, const halo_config_var_t *table, size_t count)
{
    fprintf(out, "Environment variables:\n");
    for (size_t i = 0; i < count; i++) {
        const halo_config_var_t *var = &table[i];
        char def[256];
        if (!var->default_value)
            snprintf(def, sizeof def, "required");
        else if (var->secret)
            snprintf(def, sizeof def, "default: (secret)");
        else
            snprintf(def, sizeof def, "default: %s", var->default_value);
        fprintf(out, "  %-28s %s", var->name, var->help);
        if (var->type == HALO_CFG_ENUM)
            fprintf(out, " (%s)", var->choices);
        else if (var->min != var->max && var->type == HALO_CFG_STRING)
            fprintf(out, " (%.0f to %.0f characters)", var->min, var->max);
        else if (var->min != var->max && var->type == HALO_CFG_INT)
            fprintf(out, " (%s in [%.0f, %.0f])", s_type_name(var->type), var->min, var->max);
        else if (var->min != var->max)
            fprintf(out, " (%s in [%g, %g])", s_type_name(var->type), var->min, var->max);
        else
            fprintf(out, " (%s)", s_type_name(var->type));
        if (var->secret)
            fprintf(out, "; %s; secret, never logged; or read from the file named by %s_FILE\n", def, var->name);
        else
            fprintf(out, "; %s\n", def);
    }
}

halo_config_t *halo_config_load_or_exit(const char *progname, const char *summary, const halo_config_var_t *table,
                                        size_t count, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("Usage: %s [--help | --version]\n%s\n\n", progname, summary);
            halo_config_print_help(stdout, table, count);
            exit(0);
        }
        if (strcmp(argv[i], "--version") == 0) {
            halo_version_print(stdout, progname);
            exit(0);
        }
        fprintf(stderr, "%s: unknown argument \"%s\" (configuration is by environment; see --help)\n", progname,
                argv[i]);
        exit(HALO_CONFIG_EXIT_INVALID);
    }
    char err[512];
    halo_config_t *self = halo_config_load(table, count, err, sizeof err);
    if (!self) {
        fprintf(stderr, "%s: invalid configuration: %s\n", progname, err);
        exit(HALO_CONFIG_EXIT_INVALID);
    }
    return self;
}

void halo_config_destroy(halo_config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    halo_config_t *self = *self_p;
    for (size_t i = 0; self->values && i < self->count; i++)
        free(self->values[i].text);
    free(self->values);
    free(self);
    *self_p = NULL;
}

static const s_value_t *s_find(const halo_config_t *self, const char *name)
{
    for (size_t i = 0; self && i < self->count; i++)
        if (strcmp(self->values[i].var->name, name) == 0)
            return &self->values[i];
    return NULL;
}

const char *halo_config_str(const halo_config_t *self, const char *name)
{
    const s_value_t *v = s_find(self, name);
    return v ? v->text : NULL;
}

int64_t halo_config_int(const halo_config_t *self, const char *name)
{
    const s_value_t *v = s_find(self, name);
    return v ? v->ival : 0;
}

double halo_config_double(const halo_config_t *self, const char *name)
{
    const s_value_t *v = s_find(self, name);
    return v ? v->dval : 0;
}

bool halo_config_bool(const halo_config_t *self, const char *name)
{
    const s_value_t *v = s_find(self, name);
    return v ? v->bval : false;
}
