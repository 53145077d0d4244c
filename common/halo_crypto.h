/* halo_crypto: what halo-sync needs of OpenSSL: AES-256-GCM for client
 * secrets at rest (key derived from HALO_SECRET_KEY), SHA-256 hashes of
 * webhook tokens and Basic credentials, random tokens, constant-time compare. */
#ifndef HALO_CRYPTO_H
#define HALO_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#define HALO_SHA256_HEX_LEN 64

/* Encrypts plaintext with AES-256-GCM under SHA-256(key_text); returns a
 * malloc'd "v1:" + base64(nonce|ciphertext|tag) string (caller frees), NULL on error. */
char *halo_crypto_seal(const char *key_text, const char *plaintext);
/* Decrypts what halo_crypto_seal returned; malloc'd plaintext (caller frees),
 * NULL if the key is wrong or the text was altered. */
char *halo_crypto_open(const char *key_text, const char *sealed);
/* Writes the lowercase hex SHA-256 of data into hex (HALO_SHA256_HEX_LEN + 1 bytes). */
void halo_crypto_sha256_hex(const void *data, size_t len, char *hex);
/* Writes a random token of nbytes random bytes, hex-encoded, into out (2*nbytes+1). 0 or -1. */
int halo_crypto_random_hex(size_t nbytes, char *out, size_t outlen) __attribute__((warn_unused_result));
/* Constant-time equality of two NUL-terminated strings (length may leak). */
bool halo_crypto_equal(const char *a, const char *b);

#endif
