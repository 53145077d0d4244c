/* hook_rig: see hook_rig.h. */
#include "hook_rig.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct _hook_rig_t {
    pthread_mutex_t lock;
    json_t *paths, *bodies;
    int bad_auth;
    char *user, *pass; /* NULL: not checked */
    struct MHD_Daemon *daemon;
    int port;
};

typedef struct {
    char *body;
    size_t len;
} s_upload_t;

/* Collects a POST's body; when it is complete, records it and answers. */
static enum MHD_Result s_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *data, size_t *size, void **con_cls)
{
    (void)method, (void)version;
    hook_rig_t *self = cls;
    s_upload_t *u = *con_cls;
    if (!u) {
        *con_cls = calloc(1, sizeof(s_upload_t));
        return *con_cls ? MHD_YES : MHD_NO;
    }
    if (*size) {
        char *grown = realloc(u->body, u->len + *size + 1);
        if (!grown)
            return MHD_NO;
        u->body = grown;
        memcpy(u->body + u->len, data, *size);
        u->len += *size;
        u->body[u->len] = '\0';
        *size = 0;
        return MHD_YES;
    }
    bool ok = true;
    if (self->user) {
        char *pass = NULL;
        char *user = MHD_basic_auth_get_username_password(conn, &pass);
        ok = user && pass && !strcmp(user, self->user) && !strcmp(pass, self->pass);
        MHD_free(user);
        MHD_free(pass);
    }
    json_t *j = u->body ? json_loadb(u->body, u->len, 0, NULL) : NULL;
    pthread_mutex_lock(&self->lock);
    if (!ok)
        self->bad_auth++;
    json_array_append_new(self->paths, json_string(url));
    json_array_append_new(self->bodies, j ? j : json_null());
    pthread_mutex_unlock(&self->lock);
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    MHD_queue_response(conn, ok ? 200 : 401, resp);
    MHD_destroy_response(resp);
    return MHD_YES;
}

/* Frees a finished upload. */
static void s_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
    (void)cls, (void)c, (void)t;
    s_upload_t *u = *con_cls;
    if (u) {
        free(u->body);
        free(u);
    }
    *con_cls = NULL;
}

hook_rig_t *hook_rig_new(const char *user, const char *pass)
{
    hook_rig_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    pthread_mutex_init(&self->lock, NULL);
    self->paths = json_array();
    self->bodies = json_array();
    if (user) {
        self->user = strdup(user);
        self->pass = strdup(pass ? pass : "");
    }
    self->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL,
                                    s_handler, self, MHD_OPTION_NOTIFY_COMPLETED, s_done, NULL, MHD_OPTION_END);
    if (!self->paths || !self->bodies || (user && (!self->user || !self->pass)) || !self->daemon) {
        hook_rig_destroy(&self);
        return NULL;
    }
    self->port = MHD_get_daemon_info(self->daemon, MHD_DAEMON_INFO_BIND_PORT)->port;
    return self;
}

void hook_rig_destroy(hook_rig_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    hook_rig_t *self = *self_p;
    if (self->daemon)
        MHD_stop_daemon(self->daemon);
    json_decref(self->paths);
    json_decref(self->bodies);
    free(self->user);
    free(self->pass);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

int hook_rig_port(const hook_rig_t *self)
{
    return self->port;
}

void hook_rig_take(hook_rig_t *self, json_t **paths, json_t **bodies)
{
    pthread_mutex_lock(&self->lock);
    json_t *p = self->paths, *b = self->bodies;
    self->paths = json_array();
    self->bodies = json_array();
    pthread_mutex_unlock(&self->lock);
    if (paths)
        *paths = p;
    else
        json_decref(p);
    if (bodies)
        *bodies = b;
    else
        json_decref(b);
}

int hook_rig_bad_auth(hook_rig_t *self)
{
    pthread_mutex_lock(&self->lock);
    int n = self->bad_auth;
    pthread_mutex_unlock(&self->lock);
    return n;
}
