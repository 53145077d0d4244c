/* ingest_auth: the tenant registry cache and the webhook credential checks
 * (see the header). The registry is an immutable sorted array swapped under
 * a read-write lock; readers copy the entry they need. */
#include "ingest_auth.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "halo_clock.h"
#include "halo_crypto.h"
#include "halo_log.h"
#include "halo_msg.h"
#include "halo_pg.h"

#define S_HASH_MAX (HALO_SHA256_HEX_LEN + 1)
#define S_TOKEN_MAX 256       /* longer path tokens are refused unread */
#define S_BASIC_MAX 1024      /* bytes of a decoded Basic credential */
#define S_CONNECT_TIMEOUT_S 5 /* libpq connect_timeout of the refresh connection */
#define S_CACHE_VERSION 1
#define S_EMPTY_HASH "-" /* never equal to a SHA-256 hex */

typedef struct {
    char slug[HALO_TENANT_MAX];
    bool enabled;
    char token_hash[S_HASH_MAX];
    char prev_hash[S_HASH_MAX];
    int64_t prev_until_ms;
    char basic_hash[S_HASH_MAX]; /* "" = no Basic auth */
    bool trust_payload;          /* journal the objects webhooks carry (docs/security.md) */
} s_tenant_t;

typedef struct {
    s_tenant_t *tenants;
    size_t count;
} s_table_t;

struct _ingest_auth_t {
    char *conninfo; /* with connect_timeout appended; NULL: no database */
    char *cache_path;
    int64_t refresh_ms;
    pthread_rwlock_t lock;
    s_table_t *table; /* NULL until loaded */
    int64_t refreshed_at;
    char *saved_json; /* what the cache file holds, to write only on change */
    halo_pg_t *pg;    /* refresh thread only */
    int64_t db_gen;   /* halo.tenants_gen.gen the table was read at ... */
    bool db_loaded;   /* ... once read from this connection */
    uint64_t loads;   /* registry reads (rows, not generation looks) */
    bool pg_down_logged;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    bool stopping;
};

static const char *const s_result_names[] = {
    [INGEST_AUTH_OK] = "ok",
    [INGEST_AUTH_NOT_LOADED] = "registry_unavailable",
    [INGEST_AUTH_UNKNOWN_TENANT] = "unknown_tenant",
    [INGEST_AUTH_BAD_TOKEN] = "bad_token",
    [INGEST_AUTH_BAD_BASIC] = "bad_basic_auth",
    [INGEST_AUTH_DISABLED] = "tenant_disabled",
};

const char *ingest_auth_result_name(ingest_auth_result_t result)
{
    return result <= INGEST_AUTH_DISABLED ? s_result_names[result] : "?";
}

static void s_table_free(s_table_t **table_p)
{
    if (!table_p || !*table_p)
        return;
    free((*table_p)->tenants);
    free(*table_p);
    *table_p = NULL;
}

static int s_cmp_tenant(const void *a, const void *b)
{
    return strcmp(((const s_tenant_t *)a)->slug, ((const s_tenant_t *)b)->slug);
}

/* conninfo with a connect timeout, so the refresh thread never hangs long on a dead host. */
static char *s_conninfo_with_timeout(const char *conninfo)
{
    char *out = NULL;
    int rc;
    if (strncmp(conninfo, "postgres://", 11) == 0 || strncmp(conninfo, "postgresql://", 13) == 0)
        rc = asprintf(&out, "%s%sconnect_timeout=%d", conninfo, strchr(conninfo, '?') ? "&" : "?", S_CONNECT_TIMEOUT_S);
    else
        rc = asprintf(&out, "%s connect_timeout=%d", conninfo, S_CONNECT_TIMEOUT_S);
    return rc < 0 ? NULL : out;
}

ingest_auth_t *ingest_auth_new(const char *conninfo, const char *cache_path, int64_t refresh_ms)
{
    ingest_auth_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    pthread_rwlock_init(&self->lock, NULL);
    pthread_mutex_init(&self->stop_lock, NULL);
    pthread_cond_init(&self->stop_cond, NULL);
    self->refresh_ms = refresh_ms;
    self->cache_path = strdup(cache_path);
    if (conninfo && *conninfo)
        self->conninfo = s_conninfo_with_timeout(conninfo);
    if (!self->cache_path || (conninfo && *conninfo && !self->conninfo)) {
        ingest_auth_destroy(&self);
        return NULL;
    }
    return self;
}

void ingest_auth_destroy(ingest_auth_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ingest_auth_t *self = *self_p;
    if (self->thread_started) {
        pthread_mutex_lock(&self->stop_lock);
        self->stopping = true;
        pthread_cond_signal(&self->stop_cond);
        pthread_mutex_unlock(&self->stop_lock);
        pthread_join(self->thread, NULL);
    }
    halo_pg_destroy(&self->pg);
    s_table_free(&self->table);
    pthread_rwlock_destroy(&self->lock);
    pthread_mutex_destroy(&self->stop_lock);
    pthread_cond_destroy(&self->stop_cond);
    free(self->saved_json);
    free(self->conninfo);
    free(self->cache_path);
    free(self);
    *self_p = NULL;
}

/* Copies a hash-like string from JSON/SQL into out; "" when absent or malformed. */
static void s_copy_hash(const char *in, char *out)
{
    size_t n = in ? strlen(in) : 0;
    if (n != HALO_SHA256_HEX_LEN) {
        out[0] = '\0';
        return;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[n] = '\0';
}

/* Serialises a table as the cache file's JSON (caller frees), NULL on failure. */
static char *s_table_dump(const s_table_t *table)
{
    json_t *root = json_object(), *list = json_array();
    for (size_t i = 0; root && list && i < table->count; i++) {
        const s_tenant_t *t = &table->tenants[i];
        json_array_append_new(list, json_pack("{s:s, s:b, s:s, s:s, s:I, s:s, s:b}", "slug", t->slug, "enabled",
                                              t->enabled, "token_hash", t->token_hash, "prev_hash", t->prev_hash,
                                              "prev_until_ms", (json_int_t)t->prev_until_ms, "basic_hash",
                                              t->basic_hash, "trust_payload", t->trust_payload));
    }
    char *text = NULL;
    if (root && list) {
        json_object_set_new(root, "version", json_integer(S_CACHE_VERSION));
        json_object_set(root, "tenants", list);
        text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
    }
    json_decref(list);
    json_decref(root);
    return text;
}

/* Parses the cache file's JSON into a table; NULL if it is not one. */
static s_table_t *s_table_load(const char *text, size_t len)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    json_t *list = root ? json_object_get(root, "tenants") : NULL;
    s_table_t *table = NULL;
    if (json_is_array(list) && json_integer_value(json_object_get(root, "version")) == S_CACHE_VERSION)
        table = calloc(1, sizeof *table);
    if (table && json_array_size(list) > 0) {
        table->tenants = calloc(json_array_size(list), sizeof *table->tenants);
        if (!table->tenants)
            s_table_free(&table);
    }
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        if (!table)
            break;
        const char *slug = json_string_value(json_object_get(item, "slug"));
        if (!slug || strlen(slug) >= HALO_TENANT_MAX)
            continue;
        s_tenant_t *t = &table->tenants[table->count++];
        snprintf(t->slug, sizeof t->slug, "%s", slug);
        t->enabled = json_is_true(json_object_get(item, "enabled"));
        s_copy_hash(json_string_value(json_object_get(item, "token_hash")), t->token_hash);
        s_copy_hash(json_string_value(json_object_get(item, "prev_hash")), t->prev_hash);
        s_copy_hash(json_string_value(json_object_get(item, "basic_hash")), t->basic_hash);
        t->prev_until_ms = json_integer_value(json_object_get(item, "prev_until_ms"));
        t->trust_payload = json_is_true(json_object_get(item, "trust_payload"));
    }
    json_decref(root);
    if (table && table->count > 1)
        qsort(table->tenants, table->count, sizeof *table->tenants, s_cmp_tenant);
    return table;
}

/* Writes text to the cache file atomically (0600: hashes are not secrets,
 * but close); never through a symlink planted at the temporary name. */
static int s_save_cache(ingest_auth_t *self, const char *text)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", self->cache_path);
    int flags = O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC;
    int fd = open(tmp, flags, 0600);
    if (fd < 0 && errno == ELOOP) {
        HALO_WARN("registry cache temporary file was a symlink, removed", "path=%s", tmp);
        if (unlink(tmp) == 0)
            fd = open(tmp, flags, 0600);
    }
    if (fd < 0)
        return -1;
    size_t len = strlen(text);
    int rc = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0 ? 0 : -1;
    close(fd);
    if (rc == 0 && rename(tmp, self->cache_path) != 0)
        rc = -1;
    if (rc != 0)
        unlink(tmp);
    return rc;
}

/* Replaces the registry with table (taking ownership). */
static void s_swap(ingest_auth_t *self, s_table_t *table)
{
    pthread_rwlock_wrlock(&self->lock);
    s_table_t *old = self->table;
    self->table = table;
    pthread_rwlock_unlock(&self->lock);
    s_table_free(&old);
}

static void s_load_cache_file(ingest_auth_t *self)
{
    FILE *f = fopen(self->cache_path, "re");
    if (!f) {
        HALO_INFO("registry cache absent", "path=%s", self->cache_path);
        return;
    }
    json_error_t jerr;
    json_t *root = json_loadf(f, 0, &jerr);
    fclose(f);
    char *text = root ? json_dumps(root, 0) : NULL;
    json_decref(root);
    s_table_t *table = text ? s_table_load(text, strlen(text)) : NULL;
    free(text);
    if (!table) {
        HALO_WARN("registry cache unreadable, ignored", "path=%s", self->cache_path);
        return;
    }
    HALO_INFO("registry loaded from cache", "path=%s tenants=%zu", self->cache_path, table->count);
    s_swap(self, table);
}

int ingest_auth_refresh(ingest_auth_t *self, char *err, size_t errlen)
{
    if (!self->conninfo) {
        snprintf(err, errlen, "no database configured");
        return -1;
    }
    if (!self->pg) {
        self->pg = halo_pg_new(self->conninfo, 0, err, errlen);
        if (!self->pg)
            return -1;
    }
    /* One row says whether any tenant changed since the last read: an idle
     * refresh costs the same with 10 or 10,000 tenants. Read before the rows,
     * so a change committed in between is seen next time. */
    PGresult *res = halo_pg_exec(self->pg, "SELECT gen FROM halo.tenants_gen", 0, NULL);
    int64_t gen = res && PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : -1;
    PQclear(res);
    if (res && self->db_loaded && gen >= 0 && gen == self->db_gen) {
        pthread_rwlock_wrlock(&self->lock);
        self->refreshed_at = halo_clock_wall_ms();
        pthread_rwlock_unlock(&self->lock);
        return 0;
    }
    res = res ? halo_pg_exec(self->pg,
                             "SELECT slug, enabled, webhook_token_hash, coalesce(webhook_token_prev_hash, ''), "
                             "coalesce((extract(epoch FROM webhook_token_prev_until) * 1000)::bigint, 0), "
                             "coalesce(basic_auth_hash, ''), trust_payload FROM halo.tenants",
                             0, NULL)
              : NULL;
    if (!res) {
        snprintf(err, errlen, "%s", halo_pg_error(self->pg));
        if (halo_pg_lost(self->pg)) {
            halo_pg_destroy(&self->pg);
            self->db_loaded = false;
        }
        return -1;
    }
    int rows = PQntuples(res);
    s_table_t *table = calloc(1, sizeof *table);
    if (table && rows > 0)
        table->tenants = calloc((size_t)rows, sizeof *table->tenants);
    if (!table || (rows > 0 && !table->tenants)) {
        PQclear(res);
        s_table_free(&table);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int r = 0; r < rows; r++) {
        s_tenant_t *t = &table->tenants[table->count];
        if (PQgetlength(res, r, 0) >= HALO_TENANT_MAX)
            continue;
        snprintf(t->slug, sizeof t->slug, "%s", PQgetvalue(res, r, 0));
        t->enabled = strcmp(PQgetvalue(res, r, 1), "t") == 0;
        s_copy_hash(PQgetvalue(res, r, 2), t->token_hash);
        s_copy_hash(PQgetvalue(res, r, 3), t->prev_hash);
        t->prev_until_ms = strtoll(PQgetvalue(res, r, 4), NULL, 10);
        s_copy_hash(PQgetvalue(res, r, 5), t->basic_hash);
        t->trust_payload = strcmp(PQgetvalue(res, r, 6), "t") == 0;
        table->count++;
    }
    PQclear(res);
    if (table->count > 1)
        qsort(table->tenants, table->count, sizeof *table->tenants, s_cmp_tenant);
    char *text = s_table_dump(table);
    size_t count = table->count;
    s_swap(self, table);
    self->db_gen = gen;
    self->db_loaded = true;
    pthread_rwlock_wrlock(&self->lock);
    self->loads++;
    self->refreshed_at = halo_clock_wall_ms();
    pthread_rwlock_unlock(&self->lock);
    if (text && (!self->saved_json || strcmp(text, self->saved_json) != 0)) {
        if (s_save_cache(self, text) != 0) {
            HALO_WARN("registry cache not saved", "path=%s error=\"%s\"", self->cache_path, strerror(errno));
            free(text);
        } else {
            HALO_INFO("registry saved", "path=%s tenants=%zu", self->cache_path, count);
            free(self->saved_json);
            self->saved_json = text;
        }
    } else {
        free(text);
    }
    return 0;
}

/* Refresh thread: reads the registry every refresh_ms until stopped. */
static void *s_refresh_loop(void *arg)
{
    ingest_auth_t *self = arg;
    for (;;) {
        char err[512];
        if (ingest_auth_refresh(self, err, sizeof err) != 0) {
            if (!self->pg_down_logged)
                HALO_WARN("registry refresh failed, using cached copy", "error=\"%s\"", err);
            self->pg_down_logged = true;
        } else if (self->pg_down_logged) {
            HALO_INFO("registry refresh works again", "");
            self->pg_down_logged = false;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += self->refresh_ms / 1000;
        until.tv_nsec += (self->refresh_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&self->stop_lock);
        while (!self->stopping && pthread_cond_timedwait(&self->stop_cond, &self->stop_lock, &until) == 0)
            ;
        bool stop = self->stopping;
        pthread_mutex_unlock(&self->stop_lock);
        if (stop)
            return NULL;
    }
}

int ingest_auth_start(ingest_auth_t *self)
{
    s_load_cache_file(self);
    if (!self->conninfo)
        return 0;
    if (pthread_create(&self->thread, NULL, s_refresh_loop, self) != 0)
        return -1;
    self->thread_started = true;
    return 0;
}

/* Valid tenant slug (the CHECK of halo.tenants.slug). */
static bool s_slug_ok(const char *slug)
{
    size_t n = strlen(slug);
    if (n == 0 || n >= HALO_TENANT_MAX || !(islower((unsigned char)slug[0]) || isdigit((unsigned char)slug[0])))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)slug[i];
        if (!(islower(c) || isdigit(c) || c == '_' || c == '-'))
            return false;
    }
    return true;
}

int ingest_auth_base64_decode(const char *in, char *out, size_t cap)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    bool padding = false;
    for (const char *p = in; *p; p++) {
        if (*p == '=') {
            padding = true;
            continue;
        }
        const char *pos = strchr(alphabet, *p);
        if (!pos || padding)
            return -1;
        acc = (acc << 6) | (uint32_t)(pos - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n + 1 >= cap)
                return -1;
            out[n++] = (char)((acc >> bits) & 0xFF);
        }
    }
    out[n] = '\0';
    return (int)n;
}

/* True if authorization is "Basic <base64 of user:password>" whose SHA-256 hex is hash. */
static bool s_basic_ok(const char *authorization, const char *hash)
{
    char decoded[S_BASIC_MAX], hex[HALO_SHA256_HEX_LEN + 1];
    if (!authorization || strncasecmp(authorization, "Basic ", 6) != 0)
        return false;
    const char *b64 = authorization + 6;
    while (*b64 == ' ')
        b64++;
    int n = ingest_auth_base64_decode(b64, decoded, sizeof decoded);
    if (n < 0 || !memchr(decoded, ':', (size_t)n))
        return false;
    halo_crypto_sha256_hex(decoded, (size_t)n, hex);
    explicit_bzero(decoded, sizeof decoded);
    return halo_crypto_equal(hex, hash);
}

ingest_auth_result_t ingest_auth_check(ingest_auth_t *self, const char *slug, const char *token,
                                       const char *authorization, int64_t now_wall_ms)
{
    s_tenant_t tenant;
    bool found = false;
    pthread_rwlock_rdlock(&self->lock);
    if (!self->table) {
        pthread_rwlock_unlock(&self->lock);
        return INGEST_AUTH_NOT_LOADED;
    }
    if (s_slug_ok(slug) && self->table->count > 0) {
        s_tenant_t key;
        snprintf(key.slug, sizeof key.slug, "%s", slug);
        const s_tenant_t *t = bsearch(&key, self->table->tenants, self->table->count, sizeof key, s_cmp_tenant);
        if (t) {
            tenant = *t;
            found = true;
        }
    }
    pthread_rwlock_unlock(&self->lock);
    if (!found)
        return INGEST_AUTH_UNKNOWN_TENANT;
    size_t token_len = strnlen(token, S_TOKEN_MAX + 1);
    if (token_len == 0 || token_len > S_TOKEN_MAX)
        return INGEST_AUTH_BAD_TOKEN;
    char hex[HALO_SHA256_HEX_LEN + 1];
    halo_crypto_sha256_hex(token, token_len, hex);
    bool prev_valid = tenant.prev_hash[0] && tenant.prev_until_ms > now_wall_ms;
    /* Both comparisons always run, so timing does not tell which one matched. */
    bool current = halo_crypto_equal(hex, tenant.token_hash[0] ? tenant.token_hash : S_EMPTY_HASH);
    bool previous = halo_crypto_equal(hex, prev_valid ? tenant.prev_hash : S_EMPTY_HASH);
    if (!current && !previous)
        return INGEST_AUTH_BAD_TOKEN;
    if (tenant.basic_hash[0] && !s_basic_ok(authorization, tenant.basic_hash))
        return INGEST_AUTH_BAD_BASIC;
    if (!tenant.enabled)
        return INGEST_AUTH_DISABLED;
    return INGEST_AUTH_OK;
}

bool ingest_auth_trusts_payload(ingest_auth_t *self, const char *slug)
{
    bool trust = false;
    pthread_rwlock_rdlock(&self->lock);
    if (self->table && slug && strlen(slug) < HALO_TENANT_MAX) {
        s_tenant_t key;
        snprintf(key.slug, sizeof key.slug, "%s", slug);
        const s_tenant_t *t = bsearch(&key, self->table->tenants, self->table->count, sizeof key, s_cmp_tenant);
        /* Never without Basic authentication, whatever the row says. */
        trust = t && t->trust_payload && t->basic_hash[0];
    }
    pthread_rwlock_unlock(&self->lock);
    return trust;
}

size_t ingest_auth_count(ingest_auth_t *self)
{
    pthread_rwlock_rdlock(&self->lock);
    size_t n = self->table ? self->table->count : 0;
    pthread_rwlock_unlock(&self->lock);
    return n;
}

uint64_t ingest_auth_loads(ingest_auth_t *self)
{
    pthread_rwlock_rdlock(&self->lock);
    uint64_t n = self->loads;
    pthread_rwlock_unlock(&self->lock);
    return n;
}

int64_t ingest_auth_refreshed_at(ingest_auth_t *self)
{
    pthread_rwlock_rdlock(&self->lock);
    int64_t at = self->refreshed_at;
    pthread_rwlock_unlock(&self->lock);
    return at;
}
