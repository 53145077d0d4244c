/* test_halo_crypto: sealing round trip and tamper detection, hashes, tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "halo_crypto.h"

static void test_seal_open_round_trip(void **state)
{
    (void)state;
    char *sealed = halo_crypto_seal("operator key", "client-secret-42");
    assert_non_null(sealed);
    assert_null(strstr(sealed, "client-secret-42"));
    assert_memory_equal(sealed, "v1:", 3);
    char *again = halo_crypto_seal("operator key", "client-secret-42");
    assert_string_not_equal(sealed, again); /* fresh nonce every time */
    char *plain = halo_crypto_open("operator key", sealed);
    assert_string_equal(plain, "client-secret-42");
    free(plain);
    plain = halo_crypto_open("operator key", again);
    assert_string_equal(plain, "client-secret-42");
    free(plain);
    free(again);

    char *empty = halo_crypto_seal("k", "");
    plain = halo_crypto_open("k", empty);
    assert_string_equal(plain, "");
    free(plain);
    free(empty);
    free(sealed);
}

static void test_open_rejects_wrong_key_and_tampering(void **state)
{
    (void)state;
    char *sealed = halo_crypto_seal("right", "secret text");
    assert_null(halo_crypto_open("wrong", sealed));
    sealed[10] = sealed[10] == 'A' ? 'B' : 'A';
    assert_null(halo_crypto_open("right", sealed));
    assert_null(halo_crypto_open("right", "v1:"));
    assert_null(halo_crypto_open("right", "v1:abc"));
    assert_null(halo_crypto_open("right", "plain"));
    assert_null(halo_crypto_open("right", NULL));
    assert_null(halo_crypto_open(NULL, sealed));
    free(sealed);
}

static void test_sha256_hex(void **state)
{
    (void)state;
    char hex[HALO_SHA256_HEX_LEN + 1];
    halo_crypto_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_random_hex_tokens(void **state)
{
    (void)state;
    char a[65], b[65];
    assert_int_equal(halo_crypto_random_hex(16, a, sizeof a), 0);
    assert_int_equal(halo_crypto_random_hex(16, b, sizeof b), 0);
    assert_int_equal(strlen(a), 32);
    assert_string_not_equal(a, b);
    assert_int_equal(strspn(a, "0123456789abcdef"), 32);
    assert_int_equal(halo_crypto_random_hex(16, a, 32), -1); /* no room for NUL */
    assert_int_equal(halo_crypto_random_hex(0, a, sizeof a), -1);
}

static void test_constant_time_equal(void **state)
{
    (void)state;
    assert_true(halo_crypto_equal("abc", "abc"));
    assert_false(halo_crypto_equal("abc", "abd"));
    assert_false(halo_crypto_equal("abc", "abcd"));
    assert_false(halo_crypto_equal(NULL, "abc"));
    assert_true(halo_crypto_equal("", ""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seal_open_round_trip), cmocka_unit_test(test_open_rejects_wrong_key_and_tampering),
        cmocka_unit_test(test_sha256_hex),           cmocka_unit_test(test_random_hex_tokens),
        cmocka_unit_test(test_constant_time_equal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
