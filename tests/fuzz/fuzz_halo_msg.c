/* fuzz_halo_msg: libFuzzer target for the message codec (halo_msg).
 * The first input byte picks the command, the rest is the msgpack body. Decoding
 * must never crash or leak; any decode that succeeds must encode, decode again
 * and encode to the same bytes. Built with -DHALO_FUZZ=ON (docs/hardening.md);
 * seeds in corpus/fuzz_halo_msg/ are one valid body of each command. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "halo_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reports a broken property and aborts, which libFuzzer records as a crash. */
static void s_fail(const char *what, const char *err)
{
    fprintf(stderr, "fuzz_halo_msg: %s: %s\n", what, err);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static halo_msg_t msg, again;
    char err[256];
    if (size < 1)
        return 0;
    halo_cmd_t cmd = (halo_cmd_t)(data[0] % HALO_CMD_COUNT);
    /* The command-frame parser sees the same bytes as a frame name. */
    int parsed = halo_msg_cmd_parse(data + 1, size - 1);
    if (parsed >= 0 && halo_msg_cmd_name((halo_cmd_t)parsed) == NULL)
        s_fail("parsed command has no name", "");
    if (halo_msg_decode(cmd, data + 1, size - 1, &msg, err, sizeof err) != 0) {
        if (err[0] == '\0')
            s_fail("decode failed without a reason", "");
        halo_msg_clear(&msg);
        return 0;
    }
    char *body = NULL, *body2 = NULL;
    size_t len = 0, len2 = 0;
    if (halo_msg_encode(&msg, &body, &len, err, sizeof err) != 0)
        s_fail("decoded message does not encode", err);
    if (halo_msg_decode(cmd, body, len, &again, err, sizeof err) != 0)
        s_fail("encoded message does not decode", err);
    if (halo_msg_encode(&again, &body2, &len2, err, sizeof err) != 0)
        s_fail("re-decoded message does not encode", err);
    if (len2 != len || memcmp(body, body2, len) != 0)
        s_fail("round trip is not stable", halo_msg_cmd_name(cmd));
    free(body);
    free(body2);
    halo_msg_clear(&again);
    halo_msg_clear(&msg);
    return 0;
}
