/* halo_curve: the process-wide CURVE settings, their application to each
 * socket, and the ZAP handler that lets only allowed client keys in (see the
 * header). */
#include "halo_curve.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "halo_log.h"

#define S_KEY_BYTES 32
#define S_TEXT_MAX (HALO_CURVE_CLIENTS_MAX * (HALO_CURVE_KEY_Z85 + 2) + 64)
#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01" /* fixed by ZMTP's ZAP (RFC 27) */
#define S_ZAP_FRAMES 8

static struct {
    bool server, client;
    uint8_t server_secret[S_KEY_BYTES];
    uint8_t clients[HALO_CURVE_CLIENTS_MAX][S_KEY_BYTES];
    int nclients;
    uint8_t server_public[S_KEY_BYTES];
    uint8_t client_public[S_KEY_BYTES];
    uint8_t client_secret[S_KEY_BYTES];
} s_curve;

/* True if text is "-" or empty (that side off). */
static bool s_off(const char *text)
{
    return !text || !*text || strcmp(text, "-") == 0;
}

/* Decodes one Z85 key of exactly HALO_CURVE_KEY_Z85 characters. 0 or -1. */
static int s_decode(const char *text, size_t len, uint8_t *key)
{
    char buf[HALO_CURVE_KEY_Z85 + 1];
    if (len != HALO_CURVE_KEY_Z85)
        return -1;
    memcpy(buf, text, len);
    buf[len] = '\0';
    return zmq_z85_decode(key, buf) ? 0 : -1;
}

/* Reads file path (a key list) into buf. 0 or -1. */
static int s_read_file(const char *name, const char *path, char *buf, size_t buflen, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: neither a Z85 key nor a readable file (%s)", name, strerror(errno));
        return -1;
    }
    size_t n = fread(buf, 1, buflen - 1, f);
    bool more = fgetc(f) != EOF;
    fclose(f);
    buf[n] = '\0';
    if (more) {
        snprintf(err, errlen, "%s: file too long", name);
        return -1;
    }
    return 0;
}

/* Parses blank- or comma-separated Z85 keys of text into keys[0..max); -1 if
 * a token is not a key or there are more than max. Returns the count. */
static int s_parse_keys(const char *text, uint8_t (*keys)[S_KEY_BYTES], int max)
{
    int n = 0;
    const char *p = text;
    for (;;) {
        p += strspn(p, " \t\r\n,");
        if (!*p)
            return n;
        size_t len = strcspn(p, " \t\r\n,");
        if (n >= max || s_decode(p, len, keys[n]) != 0)
            return -1;
        n++;
        p += len;
    }
}

/* Keys of variable name: the text itself, or the content of the file it names. Count or -1. */
static int s_keys_or_file(const char *name, const char *text, uint8_t (*keys)[S_KEY_BYTES], int max, char *err,
                          size_t errlen)
{
    int n = s_parse_keys(text, keys, max);
    if (n >= 0)
        return n;
    char buf[S_TEXT_MAX];
    if (s_read_file(name, text, buf, sizeof buf, err, errlen) != 0)
        return -1;
    n = s_parse_keys(buf, keys, max);
    if (n < 0)
        snprintf(err, errlen, "%s: the file holds something that is not a Z85 key (or more than %d)", name, max);
    return n;
}

int halo_curve_set(const char *server_secret, const char *clients, const char *server_public, const char *client_secret,
                   char *err, size_t errlen)
{
    halo_curve_reset();
    if (!s_off(server_secret)) {
        if (s_decode(server_secret, strlen(server_secret), s_curve.server_secret) != 0) {
            snprintf(err, errlen, "HALO_CURVE_SERVER_SECRET: not a Z85 key of %d characters", HALO_CURVE_KEY_Z85);
            goto fail;
        }
        if (s_off(clients)) {
            snprintf(err, errlen, "HALO_CURVE_CLIENTS: required with HALO_CURVE_SERVER_SECRET");
            goto fail;
        }
        s_curve.nclients =
            s_keys_or_file("HALO_CURVE_CLIENTS", clients, s_curve.clients, HALO_CURVE_CLIENTS_MAX, err, errlen);
        if (s_curve.nclients <= 0) {
            if (s_curve.nclients == 0)
                snprintf(err, errlen, "HALO_CURVE_CLIENTS: no key");
            goto fail;
        }
        s_curve.server = true;
    }
    if (s_off(server_public) != s_off(client_secret)) {
        snprintf(err, errlen, "HALO_CURVE_SERVER_PUBLIC and HALO_CURVE_CLIENT_SECRET: set both or neither");
        goto fail;
    }
    if (!s_off(server_public)) {
        if (s_keys_or_file("HALO_CURVE_SERVER_PUBLIC", server_public, &s_curve.server_public, 1, err, errlen) != 1) {
            snprintf(err, errlen, "HALO_CURVE_SERVER_PUBLIC: not one Z85 key (or a file holding one)");
            goto fail;
        }
        char secret[HALO_CURVE_KEY_Z85 + 1], public[HALO_CURVE_KEY_Z85 + 1];
        if (s_decode(client_secret, strlen(client_secret), s_curve.client_secret) != 0 ||
            !zmq_z85_encode(secret, s_curve.client_secret, S_KEY_BYTES) || zmq_curve_public(public, secret) != 0 ||
            !zmq_z85_decode(s_curve.client_public, public)) {
            snprintf(err, errlen, "HALO_CURVE_CLIENT_SECRET: not a Z85 key of %d characters", HALO_CURVE_KEY_Z85);
            goto fail;
        }
        s_curve.client = true;
    }
    return 0;
fail:
    halo_curve_reset();
    return -1;
}

int halo_curve_configure(const halo_config_t *cfg, bool server, bool client, char *err, size_t errlen)
{
    if ((server || client) && !zmq_has("curve")) {
        snprintf(err, errlen, "this libzmq was built without CURVE");
        return -1;
    }
    if (halo_curve_set(server ? halo_config_str(cfg, "HALO_CURVE_SERVER_SECRET") : NULL,
                       server ? halo_config_str(cfg, "HALO_CURVE_CLIENTS") : NULL,
                       client ? halo_config_str(cfg, "HALO_CURVE_SERVER_PUBLIC") : NULL,
                       client ? halo_config_str(cfg, "HALO_CURVE_CLIENT_SECRET") : NULL, err, errlen) != 0)
        return -1;
    if (s_curve.server || s_curve.client)
        HALO_INFO("zeromq curve on", "bound=%s connecting=%s allowed_clients=%d", s_curve.server ? "yes" : "no",
                  s_curve.client ? "yes" : "no", s_curve.nclients);
    else
        HALO_INFO("zeromq curve off", "links=plaintext");
    return 0;
}

void halo_curve_reset(void)
{
    memset(&s_curve, 0, sizeof s_curve); /* wipes the secret keys too */
}

bool halo_curve_server_on(void)
{
    return s_curve.server;
}

bool halo_curve_client_on(void)
{
    return s_curve.client;
}

/* ------------------------------------------------------------------ ZAP */

/* True if the 32-byte key is on the allow-list. */
static bool s_allowed(const uint8_t *key)
{
    for (int i = 0; i < s_curve.nclients; i++)
        if (memcmp(s_curve.clients[i], key, S_KEY_BYTES) == 0)
            return true;
    return false;
}

/* Answers ZAP requests on rep until its context ends: 200 for a CURVE client
 * whose key is allowed, 400 otherwise. Owns rep. */
static void *s_zap_run(void *arg)
{
    void *rep = arg;
    for (;;) {
        zmq_msg_t frames[S_ZAP_FRAMES], extra;
        int n = 0, more = 1;
        while (more) {
            zmq_msg_t *m = n < S_ZAP_FRAMES ? &frames[n] : &extra; /* frames past the protocol's are dropped */
            zmq_msg_init(m);
            if (zmq_msg_recv(m, rep, 0) < 0) {
                zmq_msg_close(m);
                for (int i = 0; i < n; i++)
                    zmq_msg_close(&frames[i]);
                if (zmq_errno() == EINTR)
                    goto next;
                zmq_close(rep); /* ETERM: the context is ending */
                return NULL;
            }
            more = zmq_msg_more(m);
            if (m == &extra)
                zmq_msg_close(m);
            else
                n++;
        }
        /* version, request id, domain, address, routing id, mechanism, credentials */
        bool ok = n == 7 && zmq_msg_size(&frames[5]) == 5 && memcmp(zmq_msg_data(&frames[5]), "CURVE", 5) == 0 &&
                  zmq_msg_size(&frames[6]) == S_KEY_BYTES && s_allowed(zmq_msg_data(&frames[6]));
        if (n >= 2) {
            zmq_send(rep, "1.0", 3, ZMQ_SNDMORE);
            zmq_send(rep, zmq_msg_data(&frames[1]), zmq_msg_size(&frames[1]), ZMQ_SNDMORE);
            zmq_send(rep, ok ? "200" : "400", 3, ZMQ_SNDMORE);
            zmq_send(rep, ok ? "OK" : "client key not allowed", ok ? 2 : 22, ZMQ_SNDMORE);
            zmq_send(rep, "", 0, ZMQ_SNDMORE);
            zmq_send(rep, "", 0, 0);
        }
        for (int i = 0; i < n; i++)
            zmq_msg_close(&frames[i]);
    next:;
    }
}

/* Starts the ZAP handler of ctx unless it has one (the endpoint is taken). 0 or -1. */
static int s_zap_start(void *ctx, char *err, size_t errlen)
{
    void *rep = zmq_socket(ctx, ZMQ_REP);
    if (!rep) {
        snprintf(err, errlen, "ZAP handler: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    int linger = 0;
    zmq_setsockopt(rep, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(rep, S_ZAP_ENDPOINT) != 0) {
        int e = zmq_errno();
        zmq_close(rep);
        if (e == EADDRINUSE)
            return 0;
        snprintf(err, errlen, "ZAP handler: bind: %s", zmq_strerror(e));
        return -1;
    }
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&thread, &attr, s_zap_run, rep);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        zmq_close(rep);
        snprintf(err, errlen, "ZAP handler: cannot start its thread");
        return -1;
    }
    return 0;
}

int halo_curve_apply(void *ctx, void *sock, bool bind, char *err, size_t errlen)
{
    int rc = 0;
    if (bind && s_curve.server) {
        int on = 1;
        if (s_zap_start(ctx, err, errlen) != 0)
            return -1;
        rc |= zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, HALO_CURVE_ZAP_DOMAIN, strlen(HALO_CURVE_ZAP_DOMAIN));
        rc |= zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &on, sizeof on);
        rc |= zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, s_curve.server_secret, S_KEY_BYTES);
    } else if (!bind && s_curve.client) {
        rc |= zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, s_curve.server_public, S_KEY_BYTES);
        rc |= zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, s_curve.client_public, S_KEY_BYTES);
        rc |= zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, s_curve.client_secret, S_KEY_BYTES);
    }
    if (rc != 0) {
        snprintf(err, errlen, "CURVE options: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

int halo_curve_keypair(char *public_z85, char *secret_z85)
{
    return zmq_curve_keypair(public_z85, secret_z85) == 0 ? 0 : -1;
}

int halo_curve_public(const char *secret_z85, char *public_z85)
{
    uint8_t key[S_KEY_BYTES];
    if (s_decode(secret_z85, strlen(secret_z85), key) != 0)
        return -1;
    memset(key, 0, sizeof key);
    return zmq_curve_public(public_z85, secret_z85) == 0 ? 0 : -1;
}
