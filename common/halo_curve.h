/* halo_curve: ZeroMQ CURVE (libzmq's own) on the links between processes,
 * when configured with keys (docs/security.md S2, docs/operations.md "ZeroMQ
 * keys"). One server key pair for the sockets that bind (ingest's ROUTER,
 * store's PULL, monitor's telemetry SUB) with an allow-list of client public
 * keys checked by a ZAP handler; a client key pair and the server's public key
 * for the sockets that connect (fetchers, every telemetry PUB). The settings
 * are process-wide, set once at start before any socket exists; halo_zmq
 * applies them to every socket it makes. Keys are Z85 text (40 characters),
 * as zmq_curve_keypair and `haloctl curve-keypair` print them. Errors: -1
 * with the reason in the caller's buffer; key text is never quoted. */
#ifndef HALO_CURVE_H
#define HALO_CURVE_H

#include <stdbool.h>
#include <stddef.h>

#include "halo_config.h"

#define HALO_CURVE_KEY_Z85 40 /* characters of a key in Z85 */
#define HALO_CURVE_CLIENTS_MAX 64
#define HALO_CURVE_ZAP_DOMAIN "halo"

/* Variables of a process whose sockets bind (append to its config table). */
#define HALO_CURVE_VARS_SERVER                                                                                         \
    {"HALO_CURVE_SERVER_SECRET",                                                                                       \
     HALO_CFG_STRING,                                                                                                  \
     "-",                                                                                                              \
     0,                                                                                                                \
     0,                                                                                                                \
     NULL,                                                                                                             \
     true,                                                                                                             \
     "CURVE secret key of the bound ZeroMQ sockets, Z85 ('-' = no CURVE: plaintext, any peer)"},                       \
    {                                                                                                                  \
        "HALO_CURVE_CLIENTS", HALO_CFG_STRING, "-", 0, 0, NULL, false,                                                 \
            "client public keys allowed to connect (Z85, separated by blanks or commas), or the path of a file of "    \
            "them; required with HALO_CURVE_SERVER_SECRET"                                                             \
    }
/* Variables of a process whose sockets connect. */
#define HALO_CURVE_VARS_CLIENT                                                                                         \
    {"HALO_CURVE_SERVER_PUBLIC",                                                                                       \
     HALO_CFG_STRING,                                                                                                  \
     "-",                                                                                                              \
     0,                                                                                                                \
     0,                                                                                                                \
     NULL,                                                                                                             \
     false,                                                                                                            \
     "CURVE public key of the servers (Z85, or the path of a file holding it; '-' = no CURVE)"},                       \
    {                                                                                                                  \
        "HALO_CURVE_CLIENT_SECRET", HALO_CFG_STRING, "-", 0, 0, NULL, true,                                            \
            "CURVE secret key of this process's connecting sockets, Z85 (with HALO_CURVE_SERVER_PUBLIC)"               \
    }

/* Sets the process-wide CURVE settings from cfg: the server variables when
 * server (cfg has HALO_CURVE_VARS_SERVER), the client ones when client. '-'
 * leaves that side off. 0, or -1 (invalid or missing key, err set). */
int halo_curve_configure(const halo_config_t *cfg, bool server, bool client, char *err, size_t errlen);
/* Sets the settings from text (NULL or "-": off): the server secret key and
 * the allowed client keys (a list or a file path, as HALO_CURVE_CLIENTS), the
 * server public key (or a file path) and the client secret key. 0 or -1. */
int halo_curve_set(const char *server_secret, const char *clients, const char *server_public, const char *client_secret,
                   char *err, size_t errlen);
/* Turns CURVE off again (tests). */
void halo_curve_reset(void);
/* Whether bound sockets (server) or connecting sockets (client) use CURVE. */
bool halo_curve_server_on(void);
bool halo_curve_client_on(void);
/* Sets the CURVE options of sock of context ctx before it binds (server
 * side; starts the context's ZAP handler) or connects (client side); nothing
 * when that side is off. 0 or -1. */
int halo_curve_apply(void *ctx, void *sock, bool bind, char *err, size_t errlen);
/* Writes a new key pair as Z85 text (41 bytes each with the NUL). 0 or -1. */
int halo_curve_keypair(char *public_z85, char *secret_z85);
/* Writes the public key of secret_z85 into public_z85 (41 bytes). 0 or -1 (not a key). */
int halo_curve_public(const char *secret_z85, char *public_z85);

#endif
