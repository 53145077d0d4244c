/* halo_config: validates HALO_* variables against a declarative table and
 * keeps their values; the same table prints --help, and --version is answered
 * here too, so every process that loads its config this way gets both. */
#include "halo_config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "halo_log.h"
#include "halo_version.h"

#define CONFIG_VALUE_MAX 4096

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
    static const char *yes[] = { "1", "true", "yes", "on" };
    static const char *no[] = { "0", "false", "no", "off" };
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
        const char *text = getenv(var->name);
        if (!text || *text == '\0') {
            if (!var->default_value) {
                snprintf(err, errlen, "%s: required but not set (%s)", var->name, var->help);
                goto fail;
            }
            text = var->default_value;
        }
        if (s_parse(var, text, &self->values[i], err, errlen) != 0)
            goto fail;
        if (var->secret)
            halo_log_add_secret(self->values[i].text);
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
        fprintf(out, "; %s%s\n", def, var->secret ? "; secret, never logged" : "");
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
