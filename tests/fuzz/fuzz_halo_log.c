/* fuzz_halo_log: libFuzzer target for halo_log's secret redaction, the
 * promise that a registered secret never reaches a log line, not even cut.
 * Input: byte 0 picks the secret's length (4..36), byte 1 how often it occurs
 * (0..3), then the secret (mapped to letters and digits), then free text split
 * on NUL bytes into the pieces around the occurrences (letters, digits and '['
 * mapped to '-', so any letter or digit in the fields comes from the secret).
 * Lines may run past halo_log's line limit. Writing must never crash, the
 * output must not contain the secret, and a cut line must not end in a piece
 * of it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "halo_log.h"

#define FUZZ_SECRET_MIN 4 /* halo_log ignores shorter secrets */
#define FUZZ_SECRET_SPAN 33
#define FUZZ_REPEAT_SPAN 4
#define FUZZ_FIELDS_MAX 16384
#define FUZZ_LINE_MAX 4096 /* halo_log's line buffer, NUL included */
#define FUZZ_REDACTED "[redacted]"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static const char s_alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

static void s_fail(const char *what, const char *secret)
{
    fprintf(stderr, "fuzz_halo_log: %s (secret \"%s\")\n", what, secret);
    abort();
}

static int s_is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Appends the text piece [p, end) up to the next NUL to fields; returns where the next piece starts. */
static const uint8_t *s_piece(const uint8_t *p, const uint8_t *end, char *fields, size_t *n)
{
    for (; p < end && *p != '\0'; p++)
        if (*n + 1 < FUZZ_FIELDS_MAX)
            fields[(*n)++] = (char)(s_is_alnum(*p) || *p == '[' ? '-' : *p);
    return p < end ? p + 1 : p;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    halo_log_init("fuzz", HALO_LOG_DEBUG);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char fields[FUZZ_FIELDS_MAX];
    char secret[FUZZ_SECRET_MIN + FUZZ_SECRET_SPAN + 1];
    if (size < 2)
        return 0;
    size_t slen = FUZZ_SECRET_MIN + data[0] % FUZZ_SECRET_SPAN;
    int repeat = data[1] % FUZZ_REPEAT_SPAN;
    const uint8_t *p = data + 2, *end = data + size;
    for (size_t i = 0; i < slen; i++)
        secret[i] = s_alnum[(p < end ? *p++ : i) % (sizeof s_alnum - 1)];
    secret[slen] = '\0';

    size_t n = 0;
    p = s_piece(p, end, fields, &n);
    for (int r = 0; r < repeat; r++) {
        if (n + slen + 1 < FUZZ_FIELDS_MAX) {
            memcpy(fields + n, secret, slen);
            n += slen;
        }
        p = s_piece(p, end, fields, &n);
    }
    while (p < end)
        p = s_piece(p, end, fields, &n);
    fields[n] = '\0';

    char *out = NULL;
    size_t out_len = 0;
    FILE *f = open_memstream(&out, &out_len);
    if (!f)
        return 0;
    halo_log_add_secret(secret);
    halo_log_set_output(f);
    HALO_INFO("fuzz", "fields=%s", fields);
    halo_log_set_output(NULL);
    halo_log_clear_secrets();
    fclose(f);

    if (!strstr(FUZZ_REDACTED, secret) && memmem(out, out_len, secret, slen))
        s_fail("secret printed", secret);
    size_t line = out_len > 0 && out[out_len - 1] == '\n' ? out_len - 1 : out_len;
    if (line >= FUZZ_LINE_MAX - 1) {
        /* Cut line: letters or digits at its very end come from a secret,
         * unless they are a cut "[redacted]" or a cut "\xNN" escape of a
         * control byte. */
        size_t k = line;
        while (k > 0 && s_is_alnum((unsigned char)out[k - 1]))
            k--;
        if (k < line && (k == 0 || (out[k - 1] != '[' && out[k - 1] != '\\')))
            s_fail("cut line ends in part of the secret", secret);
    }
    free(out);
    return 0;
}
