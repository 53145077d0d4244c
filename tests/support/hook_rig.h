/* hook_rig: an in-process webhook receiver for tests (libmicrohttpd on a
 * free loopback port): it records the path and the parsed JSON body of every
 * POST, checks HTTP Basic credentials when asked to (401 and a count on a
 * mismatch), and answers 200 otherwise. */
#ifndef HOOK_RIG_H
#define HOOK_RIG_H

#include <jansson.h>

typedef struct _hook_rig_t hook_rig_t;

/* Starts a receiver; user and pass NULL: no credentials wanted. NULL on failure. */
hook_rig_t *hook_rig_new(const char *user, const char *pass);
/* Stops it and frees what it recorded; safe to call twice. */
void hook_rig_destroy(hook_rig_t **self_p);
/* The port it listens on (127.0.0.1). */
int hook_rig_port(const hook_rig_t *self);
/* Moves what was recorded since the last take into *paths (strings) and
 * *bodies (parsed bodies, null when a body was not JSON), in arrival order;
 * the caller owns both arrays. Either may be NULL (that list is dropped). */
void hook_rig_take(hook_rig_t *self, json_t **paths, json_t **bodies);
/* POSTs answered 401 because their credentials were not the wanted ones. */
int hook_rig_bad_auth(hook_rig_t *self);

#endif
