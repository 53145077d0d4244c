/* halo_crypto: AES-256-GCM sealing of secrets at rest, SHA-256 hashing of
 * webhook tokens, random tokens and constant-time comparison, all OpenSSL. */
#include "halo_crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#define SEAL_PREFIX "v1:"
#define SEAL_NONCE_LEN 12
#define SEAL_TAG_LEN 16
#define SEAL_MAX_PLAINTEXT (64 * 1024)

static void s_key(const char *key_text, unsigned char key[32])
{
    SHA256((const unsigned char *)key_text, strlen(key_text), key);
}

/* Ends a seal or open: frees the cipher context and the raw buffer, wipes
 * the key, and returns out (caller owns it) when ok, else frees it and
 * returns NULL. */
static char *s_finish(EVP_CIPHER_CTX *ctx, unsigned char key[32], unsigned char *raw, char *out, int ok)
{
    EVP_CIPHER_CTX_free(ctx);
    OPENSSL_cleanse(key, 32);
    free(raw);
    if (!ok) {
        free(out);
        return NULL;
    }
    return out;
}

char *halo_crypto_seal(const char *key_text, const char *plaintext)
{
    size_t plen = strlen(plaintext);
    if (!key_text || plen > SEAL_MAX_PLAINTEXT)
        return NULL;
    unsigned char key[32];
    s_key(key_text, key);
    size_t raw_len = SEAL_NONCE_LEN + plen + SEAL_TAG_LEN;
    unsigned char *raw = malloc(raw_len);
    char *out = malloc(strlen(SEAL_PREFIX) + 4 * ((raw_len + 2) / 3) + 1);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len = 0, ok = raw && out && ctx;
    ok = ok && RAND_bytes(raw, SEAL_NONCE_LEN) == 1;
    ok = ok && EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, raw) == 1;
    ok = ok && EVP_EncryptUpdate(ctx, raw + SEAL_NONCE_LEN, &len, (const unsigned char *)plaintext, (int)plen) == 1;
    ok = ok && EVP_EncryptFinal_ex(ctx, raw + SEAL_NONCE_LEN + len, &len) == 1;
    ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG_LEN, raw + SEAL_NONCE_LEN + plen) == 1;
    if (ok) {
        strcpy(out, SEAL_PREFIX);
        EVP_EncodeBlock((unsigned char *)out + strlen(SEAL_PREFIX), raw, (int)raw_len);
    }
    return s_finish(ctx, key, raw, out, ok);
}

char *halo_crypto_open(const char *key_text, const char *sealed)
{
    if (!key_text || !sealed || strncmp(sealed, SEAL_PREFIX, strlen(SEAL_PREFIX)) != 0)
        return NULL;
    const char *b64 = sealed + strlen(SEAL_PREFIX);
    size_t b64_len = strlen(b64);
    if (b64_len % 4 != 0 || b64_len > 4 * (SEAL_MAX_PLAINTEXT / 3 + 64))
        return NULL;
    unsigned char *raw = malloc(b64_len / 4 * 3 + 1);
    if (!raw)
        return NULL;
    int raw_len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)b64_len);
    /* EVP_DecodeBlock counts '=' padding as zero bytes. */
    if (raw_len > 0 && b64_len >= 1 && b64[b64_len - 1] == '=')
        raw_len--;
    if (raw_len > 0 && b64_len >= 2 && b64[b64_len - 2] == '=')
        raw_len--;
    if (raw_len < SEAL_NONCE_LEN + SEAL_TAG_LEN) {
        free(raw);
        return NULL;
    }
    int plen = raw_len - SEAL_NONCE_LEN - SEAL_TAG_LEN;
    unsigned char key[32];
    s_key(key_text, key);
    char *out = malloc((size_t)plen + 1);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len = 0, ok = out && ctx;
    ok = ok && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, raw) == 1;
    ok = ok && EVP_DecryptUpdate(ctx, (unsigned char *)out, &len, raw + SEAL_NONCE_LEN, plen) == 1;
    ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG_LEN, raw + SEAL_NONCE_LEN + plen) == 1;
    ok = ok && EVP_DecryptFinal_ex(ctx, (unsigned char *)out + len, &len) == 1;
    if (ok)
        out[plen] = '\0';
    return s_finish(ctx, key, raw, out, ok);
}

void halo_crypto_sha256_hex(const void *data, size_t len, char *hex)
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    static const char digits[] = "0123456789abcdef";
    SHA256(data, len, digest);
    /* Not sprintf: this runs for every webhook (the token hash), and 32
     * sprintf calls cost more than the hash itself. */
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 0x0F];
    }
    hex[HALO_SHA256_HEX_LEN] = '\0';
}

int halo_crypto_random_hex(size_t nbytes, char *out, size_t outlen)
{
    unsigned char buf[64];
    if (nbytes == 0 || nbytes > sizeof buf || outlen < 2 * nbytes + 1)
        return -1;
    if (RAND_bytes(buf, (int)nbytes) != 1)
        return -1;
    for (size_t i = 0; i < nbytes; i++)
        sprintf(out + 2 * i, "%02x", buf[i]);
    out[2 * nbytes] = '\0';
    return 0;
}

bool halo_crypto_equal(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    size_t alen = strlen(a), blen = strlen(b);
    if (alen != blen)
        return false;
    return CRYPTO_memcmp(a, b, alen) == 0;
}
