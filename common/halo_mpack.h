/* halo_mpack: msgpack primitives for halo_msg's codec: string packing, a
 * pre-scan that bounds nesting and element counts before msgpack-c allocates,
 * and strict typed readers whose errors say "<CMD>: <where>field <key>: ...". */
#ifndef HALO_MPACK_H
#define HALO_MPACK_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HALO_MPACK_DEPTH_LIMIT 8 /* deepest nesting halo_mpack_prescan can be asked to allow */

/* An encoder: a growing buffer, its packer and the first failure. */
typedef struct {
    msgpack_sbuffer sbuf;
    msgpack_packer pk;
    int rc; /* nonzero once a pack call failed (out of memory) */
    const char *cmd_name;
    char *err;
    size_t errlen;
} halo_mpack_enc_t;

/* A decoder's error context: the command and where in the body it is. */
typedef struct {
    const char *cmd_name;
    char where[48]; /* context inside the body, e.g. "records[3]: " */
    char *err;
    size_t errlen;
} halo_mpack_ctx_t;

/* Writes a formatted message into err (if any room). */
void halo_mpack_set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Packs a msgpack str of len bytes; a failure is remembered in e->rc. */
void halo_mpack_pack_str(halo_mpack_enc_t *e, const char *s, size_t len);
/* Packs a NUL-terminated map key. */
void halo_mpack_pack_key(halo_mpack_enc_t *e, const char *key);
/* Walks one msgpack object at the start of p without allocating; refuses
 * nesting beyond depth_max (<= HALO_MPACK_DEPTH_LIMIT) and more than
 * objects_max objects. 0 with *end just past the object, or -1 with why. */
int halo_mpack_prescan(const uint8_t *p, size_t len, size_t depth_max, uint64_t objects_max, size_t *end, char *why,
                       size_t whylen) __attribute__((warn_unused_result));
/* Sets err to "<CMD>: <where>field <key>: <what>" and returns -1. */
int halo_mpack_field_err(halo_mpack_ctx_t *d, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Name of a msgpack type for error messages (static string). */
const char *halo_mpack_type_name(msgpack_object_type type);
/* Copies a msgpack str into buf of size bytes (with NUL); refuses, never truncates. 0 or -1. */
int halo_mpack_get_str(halo_mpack_ctx_t *d, const char *key, const msgpack_object *o, char *buf, size_t size);
/* A non-negative int <= max into *out. 0 or -1. */
int halo_mpack_get_uint(halo_mpack_ctx_t *d, const char *key, const msgpack_object *o, uint64_t max, uint64_t *out);
/* An int within [min, max] into *out. 0 or -1. */
int halo_mpack_get_int(halo_mpack_ctx_t *d, const char *key, const msgpack_object *o, int64_t min, int64_t max,
                       int64_t *out);
/* Key of a map entry as (ptr, len); -1 with err set if it is not a string. */
int halo_mpack_get_key(halo_mpack_ctx_t *d, const msgpack_object *k, const char *map_name, const char **key,
                       size_t *key_len);
/* True when the (ptr, len) key equals name. */
bool halo_mpack_key_is(const char *key, size_t key_len, const char *name);
/* Quotes a key for an error message into buf: printable ASCII only, at most 32 bytes. */
const char *halo_mpack_key_for_err(const char *key, size_t key_len, char *buf, size_t size);

#endif
