/* fetch_wake: generation counter + condition variable (see fetch_wake.h). */
#include "fetch_wake.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct _fetch_wake_t {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    uint64_t generation;
};

fetch_wake_t *fetch_wake_new(void)
{
    fetch_wake_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0) {
        free(self);
        return NULL;
    }
    /* Monotonic: a wall-clock step must not stretch or cut a worker's wait. */
    int rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(&self->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0) {
        free(self);
        return NULL;
    }
    if (pthread_mutex_init(&self->mutex, NULL) != 0) {
        pthread_cond_destroy(&self->cond);
        free(self);
        return NULL;
    }
    return self;
}

void fetch_wake_destroy(fetch_wake_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fetch_wake_t *self = *self_p;
    pthread_cond_destroy(&self->cond);
    pthread_mutex_destroy(&self->mutex);
    free(self);
    *self_p = NULL;
}

uint64_t fetch_wake_generation(fetch_wake_t *self)
{
    pthread_mutex_lock(&self->mutex);
    uint64_t g = self->generation;
    pthread_mutex_unlock(&self->mutex);
    return g;
}

void fetch_wake_signal(fetch_wake_t *self)
{
    pthread_mutex_lock(&self->mutex);
    self->generation++;
    pthread_cond_broadcast(&self->cond);
    pthread_mutex_unlock(&self->mutex);
}

int fetch_wake_wait(fetch_wake_t *self, uint64_t seen, int64_t timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    if (timeout_ms < 0)
        timeout_ms = 0;
    until.tv_sec += (time_t)(timeout_ms / 1000);
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&self->mutex);
    int rc = 0;
    while (self->generation == seen && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&self->cond, &self->mutex, &until);
    int woken = self->generation != seen;
    pthread_mutex_unlock(&self->mutex);
    return woken;
}
