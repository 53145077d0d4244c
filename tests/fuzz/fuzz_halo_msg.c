/* fuzz_halo_msg: libFuzzer target for the message codec (not built by default).
 * The first input byte picks the command, the rest is the body. Any decode
 * that succeeds must encode, decode again and encode to the same bytes.
 * Build and run from the repository root:
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Icommon \
 *         tests/fuzz/fuzz_halo_msg.c common/halo_msg.c -lmsgpackc -o /tmp/fuzz_halo_msg
 *   /tmp/fuzz_halo_msg -max_len=4096 -max_total_time=60 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "halo_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static halo_msg_t msg, again;
    char err[256];
    if (size < 1)
        return 0;
    halo_cmd_t cmd = (halo_cmd_t)(data[0] % HALO_CMD_COUNT);
    if (halo_msg_decode(cmd, data + 1, size - 1, &msg, err, sizeof(err)) != 0)
        return 0;
    char *body = NULL, *body2 = NULL;
    size_t len = 0, len2 = 0;
    if (halo_msg_encode(&msg, &body, &len, err, sizeof(err)) != 0)
        abort();
    if (halo_msg_decode(cmd, body, len, &again, err, sizeof(err)) != 0)
        abort();
    if (halo_msg_encode(&again, &body2, &len2, err, sizeof(err)) != 0 || len2 != len || memcmp(body, body2, len) != 0)
        abort();
    free(body);
    free(body2);
    halo_msg_clear(&again);
    halo_msg_clear(&msg);
    return 0;
}
