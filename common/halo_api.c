/* halo_api: libcurl client for HaloPSA: the OAuth2 client-credentials token
 * request and bearer-authenticated GETs. One easy handle per client, reused
 * so connections are kept alive; TLS peer and host verification always on;
 * connect and total timeouts on every request; response bodies capped at
 * HALO_API_MAX_BODY (or the client's own cap) while they arrive, before any
 * parser sees them. A batch of GETs (halo_api_get_many) runs on a libcurl
 * multi handle with easy handles of its own, all kept for the next batch. It never logs: secrets and tokens pass
 * through only. */
#include "halo_api.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "halo_log.h"

#define API_USER_AGENT "halo-sync/1"
#define API_FORM_MAX 8192
#define API_URL_MAX 4096
#define API_AUTH_HEADER_MAX 8192
#define API_BODY_INITIAL 16384
#define API_MANY_POLL_MS 1000 /* longest wait for activity in a batch (each transfer has its own timeout) */

struct _halo_api_t {
    CURL *curl;
    char *ca_file;
    long connect_timeout_ms;
    long total_timeout_ms;
    size_t max_body;
    CURLM *multi;                  /* halo_api_get_many's, made at its first call */
    CURL *many[HALO_API_MANY_MAX]; /* its easy handles, reused (connections kept alive) */
};

/* Growable response buffer with a hard cap. */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
    size_t max; /* bytes of body refused beyond (NUL excluded) */
    int too_big;
} s_buf_t;

static pthread_once_t s_global_once = PTHREAD_ONCE_INIT;

static void s_global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* curl write callback: appends to the buffer, refusing past buf->max (decoded bytes). */
static size_t s_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    s_buf_t *buf = userdata;
    size_t n = size * nmemb;
    if (n > buf->max || buf->len > buf->max - n) {
        buf->too_big = 1;
        return 0; /* makes curl fail with CURLE_WRITE_ERROR */
    }
    if (buf->len + n + 1 > buf->cap) {
        size_t cap = buf->cap ? buf->cap : API_BODY_INITIAL;
        while (cap < buf->len + n + 1)
            cap *= 2;
        if (cap > buf->max + 1)
            cap = buf->max + 1;
        char *grown = realloc(buf->data, cap);
        if (!grown)
            return 0;
        buf->data = grown;
        buf->cap = cap;
    }
    memcpy(buf->data + buf->len, ptr, n);
    buf->len += n;
    buf->data[buf->len] = '\0';
    return n;
}

/* curl header callback: picks up Retry-After (seconds form only; Halo sends none). */
static size_t s_header_cb(char *ptr, size_t size, size_t nitems, void *userdata)
{
    halo_api_response_t *resp = userdata;
    size_t n = size * nitems;
    static const char name[] = "retry-after:";
    if (n > sizeof name - 1 && strncasecmp(ptr, name, sizeof name - 1) == 0) {
        char value[64];
        size_t vlen = n - (sizeof name - 1);
        if (vlen >= sizeof value)
            vlen = sizeof value - 1;
        memcpy(value, ptr + sizeof name - 1, vlen);
        value[vlen] = '\0';
        char *end = NULL;
        long secs = strtol(value, &end, 10);
        if (end != value && secs >= 0)
            resp->retry_after_s = secs;
    }
    return n;
}

halo_api_t *halo_api_new(const char *ca_file, long connect_timeout_ms, long total_timeout_ms)
{
    pthread_once(&s_global_once, s_global_init);
    halo_api_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->curl = curl_easy_init();
    if (!self->curl)
        goto fail;
    if (ca_file && *ca_file) {
        self->ca_file = strdup(ca_file);
        if (!self->ca_file)
            goto fail;
    }
    self->connect_timeout_ms = connect_timeout_ms > 0 ? connect_timeout_ms : 5000;
    self->total_timeout_ms = total_timeout_ms > 0 ? total_timeout_ms : 30000;
    self->max_body = HALO_API_MAX_BODY;
    return self;
fail:
    halo_api_destroy(&self);
    return NULL;
}

void halo_api_set_max_body(halo_api_t *self, size_t max_body)
{
    if (self)
        self->max_body = max_body > 0 ? max_body : HALO_API_MAX_BODY;
}

void halo_api_destroy(halo_api_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    halo_api_t *self = *self_p;
    if (self->curl)
        curl_easy_cleanup(self->curl);
    for (int i = 0; i < HALO_API_MANY_MAX; i++)
        if (self->many[i])
            curl_easy_cleanup(self->many[i]);
    if (self->multi)
        curl_multi_cleanup(self->multi);
    free(self->ca_file);
    free(self);
    *self_p = NULL;
}

void halo_api_response_clear(halo_api_response_t *resp)
{
    if (!resp)
        return;
    free(resp->body);
    memset(resp, 0, sizeof *resp);
    resp->retry_after_s = -1;
}

/* Sets up handle c for one request (headers and post body given; NULL: GET)
 * whose body goes to buf and headers to resp; resp is emptied. */
static void s_prepare(halo_api_t *self, CURL *c, const char *url, struct curl_slist *headers, const char *post_body,
                      s_buf_t *buf, halo_api_response_t *resp)
{
    memset(resp, 0, sizeof *resp);
    resp->retry_after_s = -1;
    *buf = (s_buf_t){.max = self->max_body};
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (self->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, self->ca_file);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, self->connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, self->total_timeout_ms);
    curl_easy_setopt(c, CURLOPT_USERAGENT, API_USER_AGENT);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    /* A Content-Length above the cap is refused before the body is read; the
     * write callback counts the decoded bytes (a compressed body, chunks). */
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)self->max_body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, buf);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, s_header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
    if (post_body) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, post_body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(post_body));
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
}

/* Turns handle c's outcome rc and buf into resp (buf's data moves to resp).
 * Returns 0 when a response arrived, -1 on a transport error. */
static int s_finish(halo_api_t *self, CURL *c, CURLcode rc, s_buf_t *buf, halo_api_response_t *resp)
{
    /* The handle must not keep pointers to our stack or freed data. */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
    if (rc != CURLE_OK) {
        free(buf->data);
        buf->data = NULL;
        resp->status = 0;
        resp->timed_out = rc == CURLE_OPERATION_TIMEDOUT;
        if (buf->too_big || rc == CURLE_FILESIZE_EXCEEDED)
            snprintf(resp->error, sizeof resp->error, "response larger than %zu bytes", self->max_body);
        else
            snprintf(resp->error, sizeof resp->error, "%s", curl_easy_strerror(rc));
        return -1;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    if (!buf->data) {
        buf->data = strdup("");
        if (!buf->data) {
            resp->status = 0;
            snprintf(resp->error, sizeof resp->error, "out of memory");
            return -1;
        }
    }
    resp->body = buf->data;
    resp->body_len = buf->len;
    buf->data = NULL;
    return 0;
}

/* Runs one request on the reused handle; headers and post body (NULL: GET)
 * given. Returns 0 when a response arrived, -1 on a transport error. */
static int s_perform(halo_api_t *self, const char *url, struct curl_slist *headers, const char *post_body,
                     halo_api_response_t *resp)
{
    s_buf_t buf;
    s_prepare(self, self->curl, url, headers, post_body, &buf, resp);
    CURLcode rc = curl_easy_perform(self->curl);
    return s_finish(self, self->curl, rc, &buf, resp);
}

/* Appends one header line to *list; 0, or -1 (list left as it was) when out of memory. */
static int s_headers_add(struct curl_slist **list, const char *line)
{
    struct curl_slist *grown = curl_slist_append(*list, line);
    if (!grown)
        return -1;
    *list = grown;
    return 0;
}

/* Appends "&key=escaped(value)" (no '&' when first) to form; -1 if it does not fit. */
static int s_form_add(CURL *c, char *form, size_t formlen, const char *key, const char *value)
{
    char *esc = curl_easy_escape(c, value ? value : "", 0);
    if (!esc)
        return -1;
    size_t used = strlen(form);
    int n = snprintf(form + used, formlen - used, "%s%s=%s", used ? "&" : "", key, esc);
    /* Wipe the escaped copy: it may hold the client secret. */
    memset(esc, 0, strlen(esc));
    curl_free(esc);
    return (n < 0 || (size_t)n >= formlen - used) ? -1 : 0;
}

int halo_api_token(halo_api_t *self, const char *auth_url, const char *halo_tenant, const char *client_id,
                   const char *client_secret, const char *scope, char *token, size_t tokenlen, int64_t *expires_in_s,
                   halo_api_response_t *resp)
{
    char url[API_URL_MAX];
    char form[API_FORM_MAX] = "";
    struct curl_slist *headers = NULL;
    json_t *root = NULL;
    int ret = -1;
    memset(resp, 0, sizeof *resp);
    resp->retry_after_s = -1;
    size_t base_len = strlen(auth_url);
    while (base_len > 0 && auth_url[base_len - 1] == '/')
        base_len--;
    if (halo_tenant && *halo_tenant) {
        char *esc = curl_easy_escape(self->curl, halo_tenant, 0);
        if (!esc) {
            snprintf(resp->error, sizeof resp->error, "out of memory");
            return -1;
        }
        int n = snprintf(url, sizeof url, "%.*s/token?tenant=%s", (int)base_len, auth_url, esc);
        curl_free(esc);
        if (n < 0 || (size_t)n >= sizeof url) {
            snprintf(resp->error, sizeof resp->error, "auth url too long");
            return -1;
        }
    } else {
        int n = snprintf(url, sizeof url, "%.*s/token", (int)base_len, auth_url);
        if (n < 0 || (size_t)n >= sizeof url) {
            snprintf(resp->error, sizeof resp->error, "auth url too long");
            return -1;
        }
    }
    if (s_form_add(self->curl, form, sizeof form, "grant_type", "client_credentials") != 0 ||
        s_form_add(self->curl, form, sizeof form, "client_id", client_id) != 0 ||
        s_form_add(self->curl, form, sizeof form, "client_secret", client_secret) != 0 ||
        s_form_add(self->curl, form, sizeof form, "scope", scope && *scope ? scope : "all") != 0) {
        snprintf(resp->error, sizeof resp->error, "token request too long");
        goto fail;
    }
    if (s_headers_add(&headers, "Content-Type: application/x-www-form-urlencoded") != 0 ||
        s_headers_add(&headers, "Accept: application/json") != 0) {
        snprintf(resp->error, sizeof resp->error, "out of memory");
        goto fail;
    }
    if (s_perform(self, url, headers, form, resp) != 0)
        goto fail;
    if (resp->status != 200)
        goto fail;
    json_error_t jerr;
    root = json_loadb(resp->body, resp->body_len, 0, &jerr);
    const char *access = root ? json_string_value(json_object_get(root, "access_token")) : NULL;
    if (!access || !*access) {
        snprintf(resp->error, sizeof resp->error, "token response without access_token");
        goto fail;
    }
    if (strlen(access) + 1 > tokenlen) {
        snprintf(resp->error, sizeof resp->error, "access token too long");
        goto fail;
    }
    json_t *exp = json_object_get(root, "expires_in");
    int64_t expires = 3600;
    if (json_is_integer(exp))
        expires = json_integer_value(exp);
    else if (json_is_real(exp))
        expires = json_real_value(exp) > 0 && json_real_value(exp) < 1e15 ? (int64_t)json_real_value(exp) : -1;
    else if (json_is_string(exp))
        expires = strtoll(json_string_value(exp), NULL, 10);
    if (expires <= 0)
        expires = 3600; /* as Halo's; callers clamp what they keep to their own bounds */
    snprintf(token, tokenlen, "%s", access);
    halo_log_add_secret(token);
    *expires_in_s = expires;
    ret = 0;
fail:
    memset(form, 0, sizeof form);
    if (root)
        json_decref(root);
    curl_slist_free_all(headers);
    return ret;
}

/* Builds the headers of a bearer-authenticated GET into *list (caller frees
 * with curl_slist_free_all). 0, or -1 with the reason in err. */
static int s_bearer_headers(const char *token, struct curl_slist **list, char *err, size_t errlen)
{
    char auth[API_AUTH_HEADER_MAX];
    *list = NULL;
    int n = snprintf(auth, sizeof auth, "Authorization: Bearer %s", token ? token : "");
    if (n < 0 || (size_t)n >= sizeof auth) {
        memset(auth, 0, sizeof auth);
        snprintf(err, errlen, "token too long");
        return -1;
    }
    int hrc = s_headers_add(list, auth);
    if (hrc == 0)
        hrc = s_headers_add(list, "Accept: application/json");
    memset(auth, 0, sizeof auth);
    if (hrc != 0) {
        curl_slist_free_all(*list);
        *list = NULL;
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int halo_api_get(halo_api_t *self, const char *url, const char *token, halo_api_response_t *resp)
{
    struct curl_slist *headers = NULL;
    memset(resp, 0, sizeof *resp);
    resp->retry_after_s = -1;
    if (s_bearer_headers(token, &headers, resp->error, sizeof resp->error) != 0)
        return -1;
    int rc = s_perform(self, url, headers, NULL, resp);
    curl_slist_free_all(headers);
    return rc;
}

/* Makes the multi handle and n easy handles of the batch if not made yet. 0 or -1. */
static int s_many_handles(halo_api_t *self, int n)
{
    if (!self->multi)
        self->multi = curl_multi_init();
    if (!self->multi)
        return -1;
    for (int i = 0; i < n; i++) {
        if (!self->many[i])
            self->many[i] = curl_easy_init();
        if (!self->many[i])
            return -1;
    }
    return 0;
}

/* Drives the multi handle until every transfer ended (each has its own
 * timeout); copies each handle's result into codes (CURLE_OK if it has none). */
static void s_many_run(halo_api_t *self, int n, CURLcode *codes)
{
    int running = 1;
    while (running > 0) {
        CURLMcode mc = curl_multi_perform(self->multi, &running);
        if (mc == CURLM_OK && running > 0)
            mc = curl_multi_poll(self->multi, NULL, 0, API_MANY_POLL_MS, NULL);
        if (mc != CURLM_OK) {
            for (int i = 0; i < n; i++)
                codes[i] = CURLE_RECV_ERROR; /* unless the messages below say it ended */
            break;
        }
    }
    for (;;) {
        int left = 0;
        CURLMsg *msg = curl_multi_info_read(self->multi, &left);
        if (!msg)
            break;
        for (int i = 0; i < n && msg->msg == CURLMSG_DONE; i++)
            if (self->many[i] == msg->easy_handle)
                codes[i] = msg->data.result;
    }
}

int halo_api_get_many(halo_api_t *self, const char *const *urls, int n, const char *token, halo_api_response_t *resps)
{
    int count = n > 0 && n <= HALO_API_MANY_MAX ? n : 0;
    for (int i = 0; i < count; i++) {
        memset(&resps[i], 0, sizeof resps[i]);
        resps[i].retry_after_s = -1;
    }
    if (count == 0)
        return -1;
    char err[sizeof resps[0].error] = "";
    struct curl_slist *headers = NULL;
    if (s_bearer_headers(token, &headers, err, sizeof err) != 0 || s_many_handles(self, count) != 0) {
        for (int i = 0; i < count; i++)
            snprintf(resps[i].error, sizeof resps[i].error, "%s", err[0] ? err : "out of memory");
        curl_slist_free_all(headers);
        return -1;
    }
    s_buf_t bufs[HALO_API_MANY_MAX];
    CURLcode codes[HALO_API_MANY_MAX];
    for (int i = 0; i < count; i++) {
        s_prepare(self, self->many[i], urls[i], headers, NULL, &bufs[i], &resps[i]);
        codes[i] = curl_multi_add_handle(self->multi, self->many[i]) == CURLM_OK ? CURLE_OK : CURLE_OUT_OF_MEMORY;
    }
    s_many_run(self, count, codes);
    int ret = 0;
    for (int i = 0; i < count; i++) {
        curl_multi_remove_handle(self->multi, self->many[i]);
        if (s_finish(self, self->many[i], codes[i], &bufs[i], &resps[i]) != 0)
            ret = -1;
    }
    curl_slist_free_all(headers);
    return ret;
}

int halo_api_post_json(halo_api_t *self, const char *url, const char *json, halo_api_response_t *resp)
{
    struct curl_slist *headers = NULL;
    if (s_headers_add(&headers, "Content-Type: application/json") != 0) {
        curl_slist_free_all(headers);
        memset(resp, 0, sizeof *resp);
        resp->retry_after_s = -1;
        snprintf(resp->error, sizeof resp->error, "out of memory");
        return -1;
    }
    int rc = s_perform(self, url, headers, json, resp);
    curl_slist_free_all(headers);
    return rc;
}
