/* ingest_journal: the journal object's life: open (the directory and its
 * lock, the scan of every segment, the next sequence, the threads), close,
 * release (compaction of whole segments below the lowest unacknowledged
 * sequence, then the checkpoint) and stats. The record format and tail
 * repair are in ingest_journal_format, the group commit in
 * ingest_journal_writer, the spare segment in ingest_journal_prealloc,
 * cursors in ingest_journal_reader (docs/ingest.md, "Journal"). */
#include "ingest_journal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "halo_log.h"
#include "ingest_journal_format.h"
#include "ingest_journal_prealloc.h"
#include "ingest_journal_state.h"
#include "ingest_journal_writer.h"

/* Explains into err why this process cannot write path (the journal
 * directory, or what failed under it with error e): who owns it and its
 * mode, so a volume owned by root and a process running as another uid is
 * said in so many words. */
static void s_explain_access(const char *dir, const char *path, const char *what, int e, char *err, size_t errlen)
{
    unsigned uid = (unsigned)geteuid();
    struct stat st;
    if (e == EROFS) {
        snprintf(err, errlen, "journal directory %s is on a read-only filesystem (%s %s)", dir, what, path);
        return;
    }
    if (e != EACCES && e != EPERM) {
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(e));
        return;
    }
    if (strcmp(path, dir) != 0 && lstat(path, &st) == 0) {
        snprintf(err, errlen, "journal file %s is not writable by uid %u (owner uid %u, mode %04o)", path, uid,
                 (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
        return;
    }
    if (stat(dir, &st) == 0) {
        snprintf(err, errlen, "journal directory %s is not writable by uid %u (owner uid %u, mode %04o)", dir, uid,
                 (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
        return;
    }
    /* The directory cannot be seen or made: say which directory above stops us. */
    char parent[INGEST_JOURNAL_PATH_MAX];
    snprintf(parent, sizeof parent, "%s", dir);
    for (;;) {
        char *slash = strrchr(parent, '/');
        if (!slash)
            snprintf(parent, sizeof parent, ".");
        else if (slash == parent)
            parent[1] = '\0';
        else
            *slash = '\0';
        if (stat(parent, &st) == 0 || !slash || slash == parent)
            break;
    }
    if (stat(parent, &st) == 0)
        snprintf(err, errlen,
                 "journal directory %s cannot be created or reached by uid %u: %s (owner uid %u, mode %04o) does not "
                 "allow it",
                 dir, uid, parent, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
    else
        snprintf(err, errlen, "journal directory %s is not reachable by uid %u: %s", dir, uid, strerror(e));
}

/* Says into err who holds the lock file at path (flock refused it): a POSIX
 * record lock taken beside the flock publishes the holder's pid (F_GETLK),
 * flock itself tells nothing. */
static void s_explain_holder(int fd, const char *path, char *err, size_t errlen)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    bool held = fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
    if (held && fl.l_pid > 0)
        snprintf(err, errlen, "journal %s is held by pid %ld (another halo-ingest uses this journal directory)", path,
                 (long)fl.l_pid);
    else if (held)
        snprintf(err, errlen, "journal %s is held by a process in another PID namespace (another container?)", path);
    else
        snprintf(err, errlen,
                 "journal %s is held by another open of it (its holder's pid is not published: an older "
                 "halo-ingest, or this process)",
                 path);
}

/* Creates (0700) and opens the directory and takes its lock file: flock
 * against a second ingest (also within one process), and a POSIX record
 * lock so that the refused one can say who holds it. 0, or -1 with err. */
static int s_open_dir(ingest_journal_t *self, const char *dir, char *err, size_t errlen)
{
    if (mkdir(dir, INGEST_JOURNAL_DIR_MODE) != 0 && errno != EEXIST) {
        s_explain_access(dir, dir, "mkdir", errno, err, errlen);
        return -1;
    }
    self->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (self->dir_fd < 0) {
        s_explain_access(dir, dir, "open", errno, err, errlen);
        return -1;
    }
    char path[INGEST_JOURNAL_PATH_MAX];
    snprintf(path, sizeof path, "%s/lock", dir);
    self->lock_fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, INGEST_JOURNAL_FILE_MODE);
    if (self->lock_fd < 0) {
        s_explain_access(dir, path, "lock", errno, err, errlen);
        return -1;
    }
    if (flock(self->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            s_explain_holder(self->lock_fd, path, err, errlen);
        else
            snprintf(err, errlen, "lock %s: %s", path, strerror(errno));
        return -1;
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(self->lock_fd, F_SETLK, &fl) != 0)
        HALO_DEBUG("journal lock holder not published", "error=\"%s\"", strerror(errno));
    /* The lock file may be ours in a directory that is not. */
    if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) != 0) {
        s_explain_access(dir, dir, "access", errno, err, errlen);
        return -1;
    }
    return 0;
}

ingest_journal_t *ingest_journal_open(const char *dir, const ingest_journal_options_t *options, char *err,
                                      size_t errlen)
{
    ingest_journal_t *self = calloc(1, sizeof *self);
    unsigned char *buf = NULL;
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->dir_fd = self->lock_fd = self->notify_fd = self->active_fd = self->direct_fd = -1;
    self->segment_bytes = options->segment_bytes;
    self->max_bytes = options->max_bytes;
    self->preallocate = options->preallocate;
    self->direct_io = options->preallocate && options->direct_io;
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->prep_cond, NULL);
    pthread_mutex_init(&self->queue_lock, NULL);
    pthread_cond_init(&self->queue_cond, NULL);
    self->queue_tail = &self->queue_head;
    self->dir = strdup(dir);
    if (!self->dir) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (s_open_dir(self, dir, err, errlen) != 0)
        goto fail;
    self->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->notify_fd < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        goto fail;
    }
    self->checkpoint = self->checkpoint_saved = ingest_journal_checkpoint_read(dir);
    if (ingest_journal_segments_list(dir, &self->segs, err, errlen) != 0)
        goto fail;
    /* Whole segments below the checkpoint were acknowledged: drop them unread. */
    char path[INGEST_JOURNAL_PATH_MAX];
    size_t drop = 0;
    while (drop + 1 < self->segs.n && self->segs.v[drop + 1].first_seq <= self->checkpoint) {
        ingest_journal_segment_path(dir, self->segs.v[drop].first_seq, path, sizeof path);
        unlink(path);
        drop++;
    }
    ingest_journal_segments_drop(&self->segs, drop);
    buf = malloc(INGEST_JOURNAL_SCAN_BUF);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    uint64_t last_seq = 0;
    for (size_t i = 0; i < self->segs.n; i++) {
        if (ingest_journal_segment_scan(dir, &self->segs.v[i], buf, &last_seq, &self->scan, err, errlen) != 0)
            goto fail;
        self->bytes += self->segs.v[i].size;
    }
    free(buf);
    buf = NULL;
    ingest_journal_prealloc_open(self);
    /* Sequences never go back: not below the last record, the checkpoint,
     * nor the name of the last segment (which may hold no record: written
     * nothing yet, or its records cut, after the segments before it were
     * compacted and while the checkpoint file is older than them). */
    self->next_seq = last_seq + 1;
    if (self->next_seq < self->checkpoint)
        self->next_seq = self->checkpoint;
    if (self->segs.n > 0 && self->next_seq < self->segs.v[self->segs.n - 1].first_seq)
        self->next_seq = self->segs.v[self->segs.n - 1].first_seq;
    if (self->segs.n == 0) {
        if (ingest_journal_writer_new_segment(self, self->next_seq, err, errlen) != 0)
            goto fail;
    } else {
        ingest_journal_segment_path(dir, self->segs.v[self->segs.n - 1].first_seq, path, sizeof path);
        self->active_fd = open(path, O_WRONLY | O_CLOEXEC);
        /* What a killed predecessor wrote may still be only in the page cache. */
        if (self->active_fd < 0 || fdatasync(self->active_fd) != 0) {
            snprintf(err, errlen, "open %s: %s", path, strerror(errno));
            goto fail;
        }
    }
    self->durable_seq = last_seq;
    self->durable_segment = self->segs.v[self->segs.n - 1].first_seq;
    self->durable_offset = self->segs.v[self->segs.n - 1].size;
    if (ingest_journal_writer_start(self) != 0) {
        snprintf(err, errlen, "cannot start the journal flusher thread");
        goto fail;
    }
    if (self->preallocate && ingest_journal_prealloc_start(self) != 0) {
        snprintf(err, errlen, "cannot start the journal preparer thread");
        goto fail;
    }
    HALO_INFO("journal opened",
              "dir=%s segments=%zu bytes=%" PRIu64 " checkpoint=%" PRIu64 " next_seq=%" PRIu64 " cut_bytes=%" PRIu64
              " preallocate=%s direct_io=%s",
              dir, self->segs.n, self->bytes, self->checkpoint, self->next_seq, self->scan.cut_bytes,
              self->preallocate ? "on" : "off", self->direct_io ? "on" : "off");
    return self;
fail:
    free(buf);
    ingest_journal_destroy(&self);
    return NULL;
}

void ingest_journal_destroy(ingest_journal_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ingest_journal_t *self = *self_p;
    ingest_journal_writer_stop(self);
    ingest_journal_prealloc_stop(self);
    if (self->active_fd >= 0) {
        if (fdatasync(self->active_fd) != 0)
            HALO_ERROR("journal fsync failed at close", "error=\"%s\"", strerror(errno));
        close(self->active_fd);
    }
    if (self->direct_fd >= 0)
        close(self->direct_fd);
    free(self->dio_buf);
    if (self->notify_fd >= 0)
        close(self->notify_fd);
    if (self->lock_fd >= 0)
        close(self->lock_fd); /* releases the flock and the record lock */
    if (self->dir_fd >= 0)
        close(self->dir_fd);
    pthread_mutex_destroy(&self->lock);
    pthread_cond_destroy(&self->prep_cond);
    pthread_mutex_destroy(&self->queue_lock);
    pthread_cond_destroy(&self->queue_cond);
    free(self->segs.v);
    free(self->dir);
    free(self);
    *self_p = NULL;
}

int ingest_journal_release(ingest_journal_t *self, uint64_t low_seq)
{
    /* Whole segments below low_seq go first, the checkpoint is written
     * after: deleting first frees the disk (on a full disk the checkpoint's
     * new file could not be written before), and a checkpoint left older
     * than the segments only makes a restart replay acknowledged records
     * again, which fetchers and the store take as duplicates. */
    char path[INGEST_JOURNAL_PATH_MAX];
    pthread_mutex_lock(&self->lock);
    if (low_seq > self->checkpoint)
        self->checkpoint = low_seq;
    bool save = low_seq > self->checkpoint_saved;
    for (;;) {
        uint64_t doomed[64];
        size_t ndoomed = 0;
        while (ndoomed < 64 && self->segs.n > 1 && self->segs.v[1].first_seq <= low_seq) {
            doomed[ndoomed++] = self->segs.v[0].first_seq;
            self->bytes -= self->segs.v[0].size;
            ingest_journal_segments_drop(&self->segs, 1);
        }
        if (ndoomed == 0)
            break;
        pthread_mutex_unlock(&self->lock);
        for (size_t i = 0; i < ndoomed; i++) {
            ingest_journal_segment_path(self->dir, doomed[i], path, sizeof path);
            if (ingest_journal_prealloc_recycle(self, path) == 0)
                continue;
            if (unlink(path) != 0)
                HALO_WARN("journal segment not deleted", "segment=%s error=\"%s\"", path, strerror(errno));
            else
                HALO_DEBUG("journal segment compacted", "segment=%s", path);
        }
        pthread_mutex_lock(&self->lock);
    }
    pthread_mutex_unlock(&self->lock);
    if (!save)
        return 0;
    if (ingest_journal_checkpoint_write(self->dir, self->dir_fd, low_seq) != 0) {
        /* Retried at the next release; logged once per streak of failures. */
        if (!self->checkpoint_failing)
            HALO_ERROR("journal checkpoint not written, retrying", "error=\"%s\" checkpoint=%" PRIu64, strerror(errno),
                       low_seq);
        self->checkpoint_failing = true;
        return -1;
    }
    if (self->checkpoint_failing)
        HALO_INFO("journal checkpoint written again", "checkpoint=%" PRIu64, low_seq);
    self->checkpoint_failing = false;
    pthread_mutex_lock(&self->lock);
    self->checkpoint_saved = low_seq;
    pthread_mutex_unlock(&self->lock);
    return 0;
}

void ingest_journal_stats(ingest_journal_t *self, ingest_journal_stats_t *out)
{
    pthread_mutex_lock(&self->lock);
    *out = (ingest_journal_stats_t){
        .bytes = self->bytes,
        .segments = self->segs.n,
        .next_seq = self->next_seq,
        .durable_seq = self->durable_seq,
        .checkpoint = self->checkpoint_saved,
        .cut_bytes = self->scan.cut_bytes,
        .unused_bytes = self->scan.unused_bytes,
        .failed = self->failed,
        .active_prealloc = self->active_prealloc,
        .spare_ready = self->spare == INGEST_JOURNAL_SPARE_READY,
        .active_direct = self->direct_fd >= 0,
        .direct_writes = self->direct_writes,
        .spares_zeroed = self->spares_zeroed,
        .spares_recycled = self->spares_recycled,
    };
    pthread_mutex_unlock(&self->lock);
}
