/* ingest_journal_prealloc: the spare segment and its preparer thread (see
 * the header). The spare's state lives in the journal object under its lock;
 * the preparer writes zeros with the lock released. */
#include "ingest_journal_prealloc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "halo_log.h"
#include "ingest_journal_state.h"

#define S_SPARE "spare"         /* the next segment, written in advance */
#define S_SPARE_TMP "spare.tmp" /* the spare being zero-filled */
#define S_ZERO_CHUNK (1024 * 1024)
#define S_SPARE_RETRY_MS 10000 /* after a failed zero-fill (disk full) */

void ingest_journal_prealloc_open(ingest_journal_t *self)
{
    unlinkat(self->dir_fd, S_SPARE_TMP, 0);
    struct stat st;
    if (fstatat(self->dir_fd, S_SPARE, &st, 0) != 0)
        return;
    if (self->preallocate && (uint64_t)st.st_size >= self->segment_bytes)
        self->spare = INGEST_JOURNAL_SPARE_READY;
    else
        unlinkat(self->dir_fd, S_SPARE, 0);
}

/* Zero-fills the spare: S_SPARE_TMP written whole and fdatasynced, then
 * renamed S_SPARE. 0, or -1 (logged; the temporary file removed). */
static int s_zero_spare(ingest_journal_t *self, const unsigned char *zeros)
{
    /* Not on the last free space (less than the spare and one more segment):
     * appends need it more than a spare does. */
    struct statvfs vfs;
    if (fstatvfs(self->dir_fd, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < 2 * self->segment_bytes) {
        if (!self->spare_failing)
            HALO_WARN("journal spare segment not written: little free disk, next segments start empty, "
                      "retrying every 10 s",
                      "free_bytes=%" PRIu64 " bytes=%" PRIu64, (uint64_t)vfs.f_bavail * vfs.f_frsize,
                      self->segment_bytes);
        self->spare_failing = true;
        return -1;
    }
    int fd = openat(self->dir_fd, S_SPARE_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                    INGEST_JOURNAL_FILE_MODE);
    int e = fd < 0 ? errno : 0;
    for (uint64_t off = 0; e == 0 && off < self->segment_bytes;) {
        if (__atomic_load_n(&self->prep_stop, __ATOMIC_RELAXED)) {
            e = ECANCELED;
            break;
        }
        size_t n = self->segment_bytes - off < S_ZERO_CHUNK ? (size_t)(self->segment_bytes - off) : S_ZERO_CHUNK;
        ssize_t w = pwrite(fd, zeros, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            e = w < 0 ? errno : EIO;
        else
            off += (uint64_t)w;
    }
    if (e == 0 && fdatasync(fd) != 0)
        e = errno;
    if (fd >= 0)
        close(fd);
    if (e == 0 && renameat(self->dir_fd, S_SPARE_TMP, self->dir_fd, S_SPARE) != 0)
        e = errno;
    if (e == 0) {
        if (self->spare_failing)
            HALO_INFO("journal spare segment written again", "bytes=%" PRIu64, self->segment_bytes);
        self->spare_failing = false;
        return 0;
    }
    unlinkat(self->dir_fd, S_SPARE_TMP, 0);
    if (e != ECANCELED && !self->spare_failing)
        HALO_WARN("journal spare segment not written, next segments start empty, retrying every 10 s",
                  "error=\"%s\" bytes=%" PRIu64, strerror(e), self->segment_bytes);
    self->spare_failing = e != ECANCELED;
    return -1;
}

/* Whether a spare is needed now: none is there, and the active segment is
 * not preallocated or half full. Waiting for half full gives compaction the
 * time to recycle the segment before it (no writing at all) while fetchers
 * keep up. */
bool ingest_journal_prealloc_needed(const ingest_journal_t *self)
{
    return self->spare == INGEST_JOURNAL_SPARE_NONE &&
           (!self->active_prealloc || self->segs.v[self->segs.n - 1].size >= self->segment_bytes / 2);
}

void ingest_journal_prealloc_wake(ingest_journal_t *self)
{
    pthread_cond_signal(&self->prep_cond);
}

/* The preparer thread: keeps one spare ready while preallocation is on. */
static void *s_preparer_run(void *arg)
{
    ingest_journal_t *self = arg;
    unsigned char *zeros = calloc(1, S_ZERO_CHUNK);
    pthread_mutex_lock(&self->lock);
    while (zeros && !self->prep_stop) {
        if (!ingest_journal_prealloc_needed(self)) {
            pthread_cond_wait(&self->prep_cond, &self->lock);
            continue;
        }
        self->spare = INGEST_JOURNAL_SPARE_PREPARING;
        pthread_mutex_unlock(&self->lock);
        int rc = s_zero_spare(self, zeros);
        pthread_mutex_lock(&self->lock);
        self->spare = rc == 0 ? INGEST_JOURNAL_SPARE_READY : INGEST_JOURNAL_SPARE_NONE;
        if (rc == 0) {
            self->spares_zeroed++;
            continue;
        }
        /* Disk full or similar: try again later, whatever signals meanwhile. */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += S_SPARE_RETRY_MS / 1000;
        while (!self->prep_stop && pthread_cond_timedwait(&self->prep_cond, &self->lock, &until) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&self->lock);
    free(zeros);
    return NULL;
}

int ingest_journal_prealloc_start(ingest_journal_t *self)
{
    if (pthread_create(&self->preparer, NULL, s_preparer_run, self) != 0)
        return -1;
    self->prep_started = true;
    return 0;
}

void ingest_journal_prealloc_stop(ingest_journal_t *self)
{
    if (!self->prep_started)
        return;
    pthread_mutex_lock(&self->lock);
    __atomic_store_n(&self->prep_stop, true, __ATOMIC_RELAXED);
    pthread_cond_signal(&self->prep_cond);
    pthread_mutex_unlock(&self->lock);
    pthread_join(self->preparer, NULL);
    self->prep_started = false;
}

int ingest_journal_prealloc_take(ingest_journal_t *self, const char *name, const char *path)
{
    if (self->spare != INGEST_JOURNAL_SPARE_READY)
        return -1;
    self->spare = INGEST_JOURNAL_SPARE_NONE;
    pthread_cond_signal(&self->prep_cond);
    if (renameat2(self->dir_fd, S_SPARE, self->dir_fd, name, RENAME_NOREPLACE) != 0) {
        HALO_WARN("journal spare segment not usable", "error=\"%s\"", strerror(errno));
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        HALO_WARN("journal spare segment not usable", "error=\"%s\"", strerror(errno));
        unlink(path); /* or the new empty file the caller makes could not take its name */
    }
    return fd;
}

int ingest_journal_prealloc_recycle(ingest_journal_t *self, const char *path)
{
    /* Its blocks are written, which is all a spare needs (its old records
     * are older than any segment it becomes, and the scan at open stops at
     * them). */
    struct stat st;
    if (!self->preallocate || stat(path, &st) != 0 || (uint64_t)st.st_size < self->segment_bytes)
        return -1;
    int rc = -1;
    pthread_mutex_lock(&self->lock);
    if (self->spare == INGEST_JOURNAL_SPARE_NONE && renameat(AT_FDCWD, path, self->dir_fd, S_SPARE) == 0) {
        self->spare = INGEST_JOURNAL_SPARE_READY;
        self->spares_recycled++;
        rc = 0;
    }
    pthread_mutex_unlock(&self->lock);
    if (rc == 0)
        HALO_DEBUG("journal segment recycled as the spare", "segment=%s", path);
    return rc;
}
