/* fuzz_halo_config: libFuzzer target for halo_config_load. The input is the
 * environment: NUL-separated values for the variables of a table holding every
 * type (string, secret, bounded and unbounded integer and number, boolean,
 * choice, required ones); variables past the last value are unset. Loading must
 * never crash and either succeed with values that honour the table, or fail
 * with "NAME: reason" naming a variable of the table, the same reason that
 * variable gives alone, and never the value of a secret. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "halo_config.h"
#include "halo_log.h"

#define FUZZ_VALUE_MAX 8192 /* longer than the loader's 4095-byte limit */
#define FUZZ_NAME_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const halo_config_var_t s_table[] = {
    HALO_CONFIG_VAR_LOG_LEVEL,
    HALO_CONFIG_VAR_DATABASE_URL,
    {"HALO_FZ_STRING", HALO_CFG_STRING, "text", 0, 0, NULL, false, "string with a default"},
    {"HALO_FZ_SECRET", HALO_CFG_STRING, "default-secret", 0, 0, NULL, true, "secret with a default"},
    {"HALO_FZ_PORT", HALO_CFG_INT, "8080", 1, 65535, NULL, false, "bounded integer"},
    {"HALO_FZ_COUNT", HALO_CFG_INT, "0", 0, 0, NULL, false, "unbounded integer"},
    {"HALO_FZ_NEEDED", HALO_CFG_INT, NULL, -10, 10, NULL, false, "required bounded integer"},
    {"HALO_FZ_RATIO", HALO_CFG_DOUBLE, "0.5", 0, 1, NULL, false, "bounded number"},
    {"HALO_FZ_SCALE", HALO_CFG_DOUBLE, "1e3", 0, 0, NULL, false, "unbounded number"},
    {"HALO_FZ_FLAG", HALO_CFG_BOOL, "true", 0, 0, NULL, false, "boolean"},
    {"HALO_FZ_MODE", HALO_CFG_ENUM, "b", 0, 0, "a|b|longer-word", false, "choice"},
};
#define TABLE_COUNT (sizeof s_table / sizeof s_table[0])

/* putenv keeps our buffers (setenv would keep every value ever set). */
static char s_env[TABLE_COUNT][FUZZ_NAME_MAX + 1 + FUZZ_VALUE_MAX + 1];
static const char *s_value[TABLE_COUNT]; /* value set for each variable, NULL if unset */

static void s_fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_halo_config: %s: %s\n", what, detail);
    abort();
}

/* Sets variable i to value (len bytes, no NUL inside), or unsets it if value is NULL. */
static void s_set(size_t i, const uint8_t *value, size_t len)
{
    const char *name = s_table[i].name;
    if (!value) {
        unsetenv(name);
        s_value[i] = NULL;
        return;
    }
    if (len > FUZZ_VALUE_MAX)
        len = FUZZ_VALUE_MAX;
    size_t nlen = strlen(name);
    memcpy(s_env[i], name, nlen);
    s_env[i][nlen] = '=';
    memcpy(s_env[i] + nlen + 1, value, len);
    s_env[i][nlen + 1 + len] = '\0';
    s_value[i] = s_env[i] + nlen + 1;
    if (putenv(s_env[i]) != 0)
        s_fail("putenv", name);
}

/* Index of the variable err names ("NAME: ..."), or -1. */
static int s_named(const char *err)
{
    for (size_t i = 0; i < TABLE_COUNT; i++) {
        size_t nlen = strlen(s_table[i].name);
        if (strncmp(err, s_table[i].name, nlen) == 0 && err[nlen] == ':')
            return (int)i;
    }
    return -1;
}

static int s_enum_has(const char *choices, const char *text)
{
    size_t len = strlen(text);
    for (const char *p = choices; p;) {
        const char *bar = strchr(p, '|');
        size_t wlen = bar ? (size_t)(bar - p) : strlen(p);
        if (wlen == len && strncmp(p, text, len) == 0)
            return 1;
        p = bar ? bar + 1 : NULL;
    }
    return 0;
}

/* Checks every value of a loaded config against the table. */
static void s_check_loaded(const halo_config_t *config)
{
    for (size_t i = 0; i < TABLE_COUNT; i++) {
        const halo_config_var_t *var = &s_table[i];
        const char *text = halo_config_str(config, var->name);
        if (!text || !*text)
            s_fail("loaded variable has no text", var->name);
        if (s_value[i] && *s_value[i] && strcmp(text, s_value[i]) != 0)
            s_fail("loaded text differs from the environment", var->name);
        bool bounded = var->min != var->max;
        if (var->type == HALO_CFG_INT && bounded) {
            int64_t v = halo_config_int(config, var->name);
            if (v < var->min || v > var->max)
                s_fail("integer out of its bounds", var->name);
        }
        if (var->type == HALO_CFG_DOUBLE) {
            double v = halo_config_double(config, var->name);
            if (!isfinite(v) || (bounded && (v < var->min || v > var->max)))
                s_fail("number not finite or out of its bounds", var->name);
        }
        if (var->type == HALO_CFG_ENUM && !s_enum_has(var->choices, text))
            s_fail("choice not among the choices", var->name);
    }
}

/* Checks a failed load: names a variable, which fails alone too, secret kept. */
static void s_check_error(const char *err)
{
    int i = s_named(err);
    if (i < 0)
        s_fail("error names no variable of the table", err);
    char alone[512];
    alone[0] = '\0';
    halo_config_t *config = halo_config_load(&s_table[i], 1, alone, sizeof alone);
    if (config)
        s_fail("variable named by the error loads alone", err);
    if (strcmp(alone, err) != 0)
        s_fail("variable alone gives another error", alone);
    const char *value = s_value[i];
    if (s_table[i].secret && value && *value && strstr(err + strlen(s_table[i].name) + 1, value))
        s_fail("error shows a secret value", s_table[i].name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    size_t i = 0;
    while (size > 0 && i < TABLE_COUNT) {
        const uint8_t *nul = memchr(p, '\0', (size_t)(end - p));
        s_set(i++, p, nul ? (size_t)(nul - p) : (size_t)(end - p));
        if (!nul)
            break;
        p = nul + 1;
    }
    for (; i < TABLE_COUNT; i++)
        s_set(i, NULL, 0);
    char err[512];
    err[0] = '\0';
    halo_config_t *config = halo_config_load(s_table, TABLE_COUNT, err, sizeof err);
    if (config) {
        s_check_loaded(config);
        halo_config_destroy(&config);
        halo_config_destroy(&config); /* safe twice */
    } else {
        s_check_error(err);
    }
    halo_log_clear_secrets();
    return 0;
}
