/* halo_mpack: the msgpack primitives under halo_msg's codec: packing strings
 * into a growing buffer, a bounds-checked pre-scan of raw bytes that refuses
 * deep nesting and element counts before msgpack-c allocates anything, and
 * strict typed readers of decoded objects whose errors name the command, the
 * place in the body and the field. halo_msg holds the per-command tables and
 * walks them with these. */
#include "halo_mpack.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Writes a formatted message into err (if any room). */
void halo_mpack_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void halo_mpack_pack_str(halo_mpack_enc_t *e, const char *s, size_t len)
{
    e->rc |= msgpack_pack_str(&e->pk, len);
    e->rc |= msgpack_pack_str_body(&e->pk, s, len);
}

void halo_mpack_pack_key(halo_mpack_enc_t *e, const char *key)
{
    halo_mpack_pack_str(e, key, strlen(key));
}

/* Big-endian unsigned integer of n bytes (n <= 8) at p. */
static uint64_t s_read_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Walks one msgpack object at the start of p without allocating, checking
 * every length against the buffer, nesting against depth_max and the total
 * number of objects against objects_max (counted as soon as a container
 * header announces them). On 0 *end is the offset just past the object. */
int halo_mpack_prescan(const uint8_t *p, size_t len, size_t depth_max, uint64_t objects_max, size_t *end, char *why,
                       size_t whylen)
{
    uint64_t pending[HALO_MPACK_DEPTH_LIMIT + 1]; /* objects still to read at each nesting level */
    if (depth_max > HALO_MPACK_DEPTH_LIMIT)
        depth_max = HALO_MPACK_DEPTH_LIMIT;
    size_t depth = 0, pos = 0;
    uint64_t objects = 1;
    pending[0] = 1;
    for (;;) {
        while (pending[depth] == 0) {
            if (depth == 0) {
                *end = pos;
                return 0;
            }
            depth--;
        }
        pending[depth]--;
        if (pos >= len)
            goto truncated;
        const size_t at = pos;
        const uint8_t b = p[pos++];
        size_t len_bytes = 0;  /* bytes of a length that follows the type byte */
        uint64_t extra = 0;    /* payload bytes besides that length */
        uint64_t children = 0; /* objects inside, for a container */
        bool container = false, is_map = false;
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            /* fixint, nil, bool: the type byte is all */
        } else if (b <= 0x8f) {
            container = is_map = true;
            children = b & 0x0f;
        } else if (b <= 0x9f) {
            container = true;
            children = b & 0x0f;
        } else if (b <= 0xbf) {
            extra = b & 0x1f;
        } else {
            switch (b) {
            case 0xc4:
            case 0xc5:
            case 0xc6: /* bin 8/16/32 */ len_bytes = (size_t)1 << (b - 0xc4); break;
            case 0xc7:
            case 0xc8:
            case 0xc9: /* ext 8/16/32: length, type, data */
                len_bytes = (size_t)1 << (b - 0xc7);
                extra = 1;
                break;
            case 0xca: extra = 4; break; /* float 32 */
            case 0xcb: extra = 8; break; /* float 64 */
            case 0xcc:
            case 0xcd:
            case 0xce:
            case 0xcf: /* uint 8..64 */ extra = (uint64_t)1 << (b - 0xcc); break;
            case 0xd0:
            case 0xd1:
            case 0xd2:
            case 0xd3: /* int 8..64 */ extra = (uint64_t)1 << (b - 0xd0); break;
            case 0xd4:
            case 0xd5:
            case 0xd6:
            case 0xd7:
            case 0xd8: /* fixext 1..16, plus type */ extra = 1 + ((uint64_t)1 << (b - 0xd4)); break;
            case 0xd9:
            case 0xda:
            case 0xdb: /* str 8/16/32 */ len_bytes = (size_t)1 << (b - 0xd9); break;
            case 0xdc:
            case 0xdd: /* array 16/32 */
                container = true;
                len_bytes = (size_t)2 << (b - 0xdc);
                break;
            case 0xde:
            case 0xdf: /* map 16/32 */
                container = is_map = true;
                len_bytes = (size_t)2 << (b - 0xde);
                break;
            default: /* 0xc1: never used */
                halo_mpack_set_err(why, whylen, "invalid byte 0x%02x at offset %zu", b, at);
                return -1;
            }
        }
        if (len_bytes > 0) {
            if (len_bytes > len - pos)
                goto truncated;
            uint64_t n = s_read_be(p + pos, len_bytes);
            pos += len_bytes;
            if (container)
                children = n;
            else
                extra += n;
        }
        if (!container) {
            if (extra > len - pos)
                goto truncated;
            pos += (size_t)extra;
            continue;
        }
        if (is_map)
            children *= 2; /* at most 2^33: no overflow */
        if (children > objects_max - objects) {
            halo_mpack_set_err(why, whylen, "too many elements at offset %zu (max %llu objects)", at,
                               (unsigned long long)objects_max);
            return -1;
        }
        objects += children;
        if (children == 0)
            continue;
        if (depth + 1 > depth_max) {
            halo_mpack_set_err(why, whylen, "nesting too deep at offset %zu (max %zu)", at, depth_max);
            return -1;
        }
        pending[++depth] = children;
    }
truncated:
    halo_mpack_set_err(why, whylen, "truncated at offset %zu", pos);
    return -1;
}

/* Sets err to "<CMD>: <where>field <key>: <what>" and returns -1. */
int halo_mpack_field_err(halo_mpack_ctx_t *d, const char *key, const char *fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    halo_mpack_set_err(d->err, d->errlen, "%s: %sfield %s: %s", d->cmd_name, d->where, key, what);
    return -1;
}

const char *halo_mpack_type_name(msgpack_object_type type)
{
    switch (type) {
    case MSGPACK_OBJECT_NIL: return "nil";
    case MSGPACK_OBJECT_BOOLEAN: return "bool";
    case MSGPACK_OBJECT_POSITIVE_INTEGER: return "unsigned int";
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "negative int";
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return "float";
    case MSGPACK_OBJECT_STR: return "string";
    case MSGPACK_OBJECT_ARRAY: return "array";
    case MSGPACK_OBJECT_MAP: return "map";
    case MSGPACK_OBJECT_BIN: return "binary";
    case MSGPACK_OBJECT_EXT: return "ext";
    }
    return "unknown";
}

/* Copies a msgpack str into buf of size bytes (with NUL); refuses, never truncates. */
int halo_mpack_get_str(halo_mpack_ctx_t *d, const char *key, const msgpack_object *o, char *buf, size_t size)
{
    if (o->type != MSGPACK_OBJECT_STR)
        return halo_mpack_field_err(d, key, "expected string, got %s", halo_mpack_type_name(o->type));
    if (o->via.str.size >= size)
        return halo_mpack_field_err(d, key, "string too long (%u bytes, max %zu)", o->via.str.size, size - 1);
    if (memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL)
        return halo_mpack_field_err(d, key, "string contains a NUL byte");
    memcpy(buf, o->via.str.ptr, o->via.str.size);
    buf[o->via.str.size] = '\0';
    return 0;
}

int halo_mpack_get_uint(halo_mpack_ctx_t *d, const char *key, const msgpack_object *o, uint64_t max, uint64_t *out)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return halo_mpack_field_err(d, key, "expected unsigned int, got %s", halo_mpack_type_name(o->type));
    if (o->via.u64 > max)
        return halo_mpack_field_err(d, key, "out of range (%llu > %llu)", (unsigned long long)o->via.u64,
                                    (unsigned long long)max);
    *out = o->via.u64;
    return 0;
}

int halo_mpack_get_int(halo_mpack_ctx_t *d, const char *key, const msgpack_object *o, int64_t min, int64_t max,
                       int64_t *out)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t)max)
            return halo_mpack_field_err(d, key, "out of range (%llu > %lld)", (unsigned long long)o->via.u64,
                                        (long long)max);
        *out = (int64_t)o->via.u64;
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        if (o->via.i64 < min)
            return halo_mpack_field_err(d, key, "out of range (%lld < %lld)", (long long)o->via.i64, (long long)min);
        *out = o->via.i64;
        return 0;
    }
    return halo_mpack_field_err(d, key, "expected int, got %s", halo_mpack_type_name(o->type));
}

/* Key of a map entry as (ptr, len); -1 with err set if it is not a string. */
int halo_mpack_get_key(halo_mpack_ctx_t *d, const msgpack_object *k, const char *map_name, const char **key,
                       size_t *key_len)
{
    if (k->type != MSGPACK_OBJECT_STR) {
        halo_mpack_set_err(d->err, d->errlen, "%s: %s%s has a non-string key (%s)", d->cmd_name, d->where, map_name,
                           halo_mpack_type_name(k->type));
        return -1;
    }
    *key = k->via.str.ptr;
    *key_len = k->via.str.size;
    return 0;
}

bool halo_mpack_key_is(const char *key, size_t key_len, const char *name)
{
    return strlen(name) == key_len && memcmp(key, name, key_len) == 0;
}

/* Quotes a key for an error message: printable ASCII only, at most 32 bytes. */
const char *halo_mpack_key_for_err(const char *key, size_t key_len, char *buf, size_t size)
{
    size_t n = 0;
    buf[n++] = '"';
    for (size_t i = 0; i < key_len && i < 32 && n + 2 < size; i++)
        buf[n++] = (key[i] >= 0x20 && key[i] < 0x7f) ? key[i] : '?';
    buf[n++] = '"';
    buf[n] = '\0';
    return buf;
}
