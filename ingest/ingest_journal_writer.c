/* ingest_journal_writer: group commit (see the header). The flusher thread
 * is the only writer of segment files; it holds the journal's lock only to
 * take a group, to roll a segment and to publish what became durable, never
 * across a write or an fdatasync of a group. */
#include "ingest_journal_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "halo_log.h"
#include "ingest_journal_prealloc.h"
#include "ingest_journal_reader.h"
#include "ingest_journal_state.h"

#define S_DIO_ALIGN 4096 /* offset, length and memory alignment of direct writes */

/* One submitted append: its records, encoded (sequence and CRC filled in by
 * the flusher), and who to tell. One allocation: the struct, then the bytes. */
struct ingest_journal_pending {
    ingest_journal_pending_t *next;
    ingest_journal_done_fn done;
    void *arg;
    size_t count;
    size_t total;       /* bytes of all records */
    uint64_t first_seq; /* assigned by the flusher */
    ingest_journal_status_t status;
    uint32_t *crcs;     /* payload CRCs, count of them, after the struct */
    unsigned char *buf; /* the records, total bytes, after the CRCs */
};

int ingest_journal_writer_new_segment(ingest_journal_t *self, uint64_t first_seq, char *err, size_t errlen)
{
    char path[INGEST_JOURNAL_PATH_MAX], name[INGEST_JOURNAL_NAME_DIGITS + sizeof INGEST_JOURNAL_SUFFIX];
    ingest_journal_segment_path(self->dir, first_seq, path, sizeof path);
    ingest_journal_segment_name(first_seq, name, sizeof name);
    int fd = ingest_journal_prealloc_take(self, name, path);
    bool prealloc = fd >= 0;
    if (fd < 0)
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, INGEST_JOURNAL_FILE_MODE);
    if (fd < 0) {
        snprintf(err, errlen, "create %s: %s", path, strerror(errno));
        return -1;
    }
    if (fsync(self->dir_fd) != 0 || ingest_journal_segments_push(&self->segs, first_seq, 0) != 0) {
        snprintf(err, errlen, "create %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    if (self->active_fd >= 0)
        close(self->active_fd);
    self->active_fd = fd;
    self->active_prealloc = prealloc;
    if (self->direct_fd >= 0)
        close(self->direct_fd);
    self->direct_fd = -1;
    self->dio_tail = 0;
    if (prealloc && self->direct_io) {
        self->direct_fd = open(path, O_RDWR | O_DIRECT | O_DSYNC | O_CLOEXEC);
        if (self->direct_fd < 0) {
            self->direct_io = false;
            HALO_INFO("journal direct I/O not available here, using fdatasync", "error=\"%s\"", strerror(errno));
        }
    }
    return 0;
}

/* Closes the active segment (already durable: the flusher syncs a group
 * before it rolls) and starts a new one at next_seq. Lock held. */
static int s_roll_locked(ingest_journal_t *self)
{
    if (fdatasync(self->active_fd) != 0) {
        self->failed = true;
        HALO_ERROR("journal fsync failed, refusing appends until restart", "error=\"%s\"", strerror(errno));
        return -1;
    }
    char err[INGEST_JOURNAL_PATH_MAX + 128];
    if (ingest_journal_writer_new_segment(self, self->next_seq, err, sizeof err) != 0) {
        HALO_ERROR("journal segment not created", "error=\"%s\"", err);
        return -1;
    }
    self->durable_segment = self->next_seq;
    self->durable_offset = 0;
    ingest_journal_reader_signal(self);
    return 0;
}

/* Writes iovcnt buffers at off, however the kernel splits it; 0, or an errno. */
static int s_pwritev_all(int fd, struct iovec *iov, int iovcnt, uint64_t off)
{
    while (iovcnt > 0) {
        ssize_t n = pwritev(fd, iov, iovcnt < IOV_MAX ? iovcnt : IOV_MAX, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? errno : EIO;
        off += (uint64_t)n;
        while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
            n -= (ssize_t)iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (char *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
    return 0;
}

/* Reads the active segment's last partial block (start not a multiple of
 * S_DIO_ALIGN) into dio_buf with a direct read. 0, or an errno. */
static int s_load_tail(ingest_journal_t *self, int fd, uint64_t start)
{
    size_t tail = start % S_DIO_ALIGN;
    if (tail > 0) {
        ssize_t n = pread(fd, self->dio_buf, S_DIO_ALIGN, (off_t)(start - tail));
        if (n < 0)
            return errno;
        if ((size_t)n < tail)
            return EIO;
    }
    self->dio_tail = tail;
    return 0;
}

/* Writes the group at start through the direct descriptor: the kept partial
 * block, the records, and zeros to the next block boundary (at least an end
 * marker's worth), in one aligned O_DIRECT|O_DSYNC write, durable when it
 * returns. Flusher thread, lock not held. 0, or an errno (EINVAL: the
 * filesystem refuses this alignment). */
static int s_write_direct(ingest_journal_t *self, int fd, const ingest_journal_pending_t *group, size_t bytes,
                          uint64_t start)
{
    size_t end = start % S_DIO_ALIGN + bytes;
    size_t len = (end + INGEST_JOURNAL_HEADER + S_DIO_ALIGN - 1) & ~(size_t)(S_DIO_ALIGN - 1);
    if (len > self->dio_cap) {
        size_t cap = self->dio_cap ? self->dio_cap : 64 * 1024;
        while (cap < len)
            cap *= 2;
        void *buf = NULL;
        if (posix_memalign(&buf, S_DIO_ALIGN, cap) != 0)
            return ENOMEM;
        if (self->dio_buf)
            memcpy(buf, self->dio_buf, self->dio_tail);
        free(self->dio_buf);
        self->dio_buf = buf;
        self->dio_cap = cap;
    }
    if (self->dio_tail != start % S_DIO_ALIGN) {
        int e = s_load_tail(self, fd, start);
        if (e != 0)
            return e;
    }
    size_t off = self->dio_tail;
    for (const ingest_journal_pending_t *p = group; p; p = p->next) {
        memcpy(self->dio_buf + off, p->buf, p->total);
        off += p->total;
    }
    memset(self->dio_buf + end, 0, len - end);
    struct iovec iov = {self->dio_buf, len};
    int e = s_pwritev_all(fd, &iov, 1, start - start % S_DIO_ALIGN);
    if (e != 0)
        return e;
    size_t keep = end % S_DIO_ALIGN;
    memmove(self->dio_buf, self->dio_buf + end - keep, keep);
    self->dio_tail = keep;
    return 0;
}

/* Takes from *list the appends that go into the active segment in one write:
 * refuses those that cannot be written (failed journal, byte bound), assigns
 * sequences and finishes the headers of the others, and stops before one that
 * needs a new segment (rolling first if the group is empty). Refused appends
 * go to *done. Lock held. Returns the group; *bytes its size. */
static ingest_journal_pending_t *s_take_group_locked(ingest_journal_t *self, ingest_journal_pending_t **list,
                                                     ingest_journal_pending_t ***done, size_t *bytes)
{
    ingest_journal_pending_t *group = NULL, **tail = &group;
    *bytes = 0;
    while (*list) {
        ingest_journal_pending_t *p = *list;
        if (self->failed) {
            p->status = INGEST_JOURNAL_IOERROR;
        } else if (self->bytes + *bytes + p->total > self->max_bytes) {
            p->status = INGEST_JOURNAL_FULL;
        } else {
            uint64_t size = self->segs.v[self->segs.n - 1].size + *bytes;
            /* Full, or (started empty, at open or without a spare) a spare is there now. */
            bool to_spare = !self->active_prealloc && self->spare == INGEST_JOURNAL_SPARE_READY;
            if (size > 0 && (size + p->total > self->segment_bytes || to_spare)) {
                if (group)
                    break; /* this group first, then the roll */
                if (s_roll_locked(self) != 0)
                    p->status = INGEST_JOURNAL_IOERROR;
            }
        }
        *list = p->next;
        p->next = NULL;
        if (p->status != INGEST_JOURNAL_OK) {
            **done = p;
            *done = &p->next;
            continue;
        }
        p->first_seq = self->next_seq;
        size_t off = 0;
        for (size_t i = 0; i < p->count; i++) {
            uint32_t len = ingest_journal_get32(p->buf + off + 4);
            ingest_journal_header_seal(p->buf + off, p->first_seq + i, p->crcs[i]);
            off += INGEST_JOURNAL_HEADER + len;
        }
        self->next_seq += p->count;
        *bytes += p->total;
        *tail = p;
        tail = &p->next;
    }
    return group;
}

/* Writes one group with pwritev at the end of the active segment and fsyncs
 * it, the lock released meanwhile (the flusher is the only writer). Sets
 * every member's status. */
static void s_write_group(ingest_journal_t *self, ingest_journal_pending_t *group, size_t bytes)
{
    /* In a preallocated segment a header of zeros follows the group: the end
     * a scan at open finds, where a recycled file has its old bytes. */
    static const unsigned char end_marker[INGEST_JOURNAL_HEADER];
    size_t n = 1;
    for (ingest_journal_pending_t *p = group; p; p = p->next)
        n++;
    struct iovec stack_iov[64];
    struct iovec *iov = n <= 64 ? stack_iov : malloc(n * sizeof *iov);
    pthread_mutex_lock(&self->lock);
    ingest_journal_segment_t *active = &self->segs.v[self->segs.n - 1];
    uint64_t start = active->size, first_seq = group->first_seq;
    uint64_t segment = active->first_seq;
    int fd = self->active_fd;
    bool marker = self->active_prealloc;
    int direct_fd = marker ? self->direct_fd : -1;
    pthread_mutex_unlock(&self->lock);
    int e = ENOMEM, sync_e = 0;
    bool direct = false;
    if (direct_fd >= 0) {
        e = s_write_direct(self, direct_fd, group, bytes, start);
        direct = e == 0;
        if (e == EINVAL) {
            /* Nothing was written: the filesystem takes no such direct write. */
            HALO_WARN("journal direct I/O refused, using fdatasync from now on", "error=\"%s\"", strerror(e));
            pthread_mutex_lock(&self->lock);
            self->direct_io = false;
            close(self->direct_fd);
            self->direct_fd = -1;
            pthread_mutex_unlock(&self->lock);
            direct_fd = -1;
        }
    }
    if (direct_fd < 0 && iov) {
        size_t i = 0;
        for (ingest_journal_pending_t *p = group; p; p = p->next)
            iov[i++] = (struct iovec){p->buf, p->total};
        if (marker)
            iov[i++] = (struct iovec){(void *)end_marker, sizeof end_marker};
        n = i;
        e = s_pwritev_all(fd, iov, (int)n, start);
    }
    if (iov != stack_iov)
        free(iov);
    if (e == 0 && !direct && fdatasync(fd) != 0)
        sync_e = errno;
    ingest_journal_status_t status = INGEST_JOURNAL_OK;
    pthread_mutex_lock(&self->lock);
    active = &self->segs.v[self->segs.n - 1];
    if (e != 0) {
        status = e == ENOSPC || e == EDQUOT ? INGEST_JOURNAL_NOSPACE : INGEST_JOURNAL_IOERROR;
        HALO_ERROR("journal write failed", "error=\"%s\" bytes=%zu", strerror(e), bytes);
        /* Nothing half-written may stay: cut back to the last whole record
         * (and the preallocated rest with it: the next spare replaces it). */
        self->active_prealloc = false;
        if (self->preallocate)
            ingest_journal_prealloc_wake(self);
        if (ftruncate(fd, (off_t)start) != 0) {
            self->failed = true;
            HALO_ERROR("journal truncate failed, refusing appends until restart", "error=\"%s\"", strerror(errno));
        }
        self->next_seq = first_seq; /* the sequences were not used */
    } else {
        active->size += bytes;
        self->bytes += bytes;
        if (sync_e != 0) {
            /* After a failed fsync the page cache state is unknown: never retry. */
            status = INGEST_JOURNAL_IOERROR;
            self->failed = true;
            HALO_ERROR("journal fsync failed, refusing appends until restart", "error=\"%s\"", strerror(sync_e));
        } else {
            if (direct)
                self->direct_writes++;
            self->durable_seq = self->next_seq - 1;
            self->durable_segment = segment;
            self->durable_offset = active->size;
            ingest_journal_reader_signal(self);
            if (self->preallocate && ingest_journal_prealloc_needed(self))
                ingest_journal_prealloc_wake(self);
        }
    }
    pthread_mutex_unlock(&self->lock);
    for (ingest_journal_pending_t *p = group; p; p = p->next)
        p->status = status;
}

/* Tells each append of list its outcome and frees it. */
static void s_complete(ingest_journal_pending_t *list)
{
    while (list) {
        ingest_journal_pending_t *next = list->next;
        list->done(list->arg, list->status, list->status == INGEST_JOURNAL_OK ? list->first_seq : 0);
        free(list);
        list = next;
    }
}

/* The flusher thread: takes everything queued, writes it in as few groups
 * as segment rolls allow (one pwritev and one fdatasync each), then answers
 * every append. Appends queued meanwhile form the next group. */
static void *s_flusher_run(void *arg)
{
    ingest_journal_t *self = arg;
    for (;;) {
        pthread_mutex_lock(&self->queue_lock);
        while (!self->queue_head && !self->flusher_stop) {
            self->flusher_idle = true;
            pthread_cond_wait(&self->queue_cond, &self->queue_lock);
            self->flusher_idle = false;
        }
        ingest_journal_pending_t *list = self->queue_head;
        self->queue_head = NULL;
        self->queue_tail = &self->queue_head;
        pthread_mutex_unlock(&self->queue_lock);
        if (!list)
            return NULL; /* stopping, and nothing left */
        while (list) {
            ingest_journal_pending_t *done = NULL, **done_tail = &done;
            size_t bytes = 0;
            pthread_mutex_lock(&self->lock);
            ingest_journal_pending_t *group = s_take_group_locked(self, &list, &done_tail, &bytes);
            pthread_mutex_unlock(&self->lock);
            if (group)
                s_write_group(self, group, bytes);
            s_complete(done);
            s_complete(group);
        }
    }
}

void ingest_journal_submit(ingest_journal_t *self, const ingest_journal_item_t *items, size_t count,
                           ingest_journal_done_fn done, void *arg)
{
    size_t total = 0;
    for (size_t i = 0; i < count; i++) {
        if (items[i].len > INGEST_JOURNAL_MAX_RECORD) {
            done(arg, INGEST_JOURNAL_IOERROR, 0);
            return;
        }
        total += INGEST_JOURNAL_HEADER + items[i].len;
    }
    if (count == 0) {
        done(arg, INGEST_JOURNAL_OK, 0);
        return;
    }
    ingest_journal_pending_t *p = malloc(sizeof *p + count * sizeof(uint32_t) + total);
    if (!p) {
        done(arg, INGEST_JOURNAL_IOERROR, 0);
        return;
    }
    *p = (ingest_journal_pending_t){
        .done = done, .arg = arg, .count = count, .total = total, .status = INGEST_JOURNAL_OK};
    p->crcs = (uint32_t *)(p + 1);
    p->buf = (unsigned char *)(p->crcs + count);
    /* Everything but the sequence is prepared here, in the caller's thread. */
    size_t off = 0;
    for (size_t i = 0; i < count; i++) {
        ingest_journal_header_begin(p->buf + off, (uint32_t)items[i].len);
        memcpy(p->buf + off + INGEST_JOURNAL_HEADER, items[i].data, items[i].len);
        p->crcs[i] = ingest_journal_crc32(0, items[i].data, items[i].len);
        off += INGEST_JOURNAL_HEADER + items[i].len;
    }
    pthread_mutex_lock(&self->queue_lock);
    *self->queue_tail = p;
    self->queue_tail = &p->next;
    bool wake = self->flusher_idle;
    pthread_mutex_unlock(&self->queue_lock);
    if (wake)
        pthread_cond_signal(&self->queue_cond);
}

/* What a blocking append waits on. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    ingest_journal_status_t status;
    uint64_t first_seq;
} s_waiter_t;

static void s_waiter_done(void *arg, ingest_journal_status_t status, uint64_t first_seq)
{
    s_waiter_t *w = arg;
    pthread_mutex_lock(&w->lock);
    w->status = status;
    w->first_seq = first_seq;
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

ingest_journal_status_t ingest_journal_append(ingest_journal_t *self, const ingest_journal_item_t *items, size_t count,
                                              uint64_t *first_seq)
{
    s_waiter_t w = {.done = false};
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
    ingest_journal_submit(self, items, count, s_waiter_done, &w);
    pthread_mutex_lock(&w.lock);
    while (!w.done)
        pthread_cond_wait(&w.cond, &w.lock);
    pthread_mutex_unlock(&w.lock);
    pthread_mutex_destroy(&w.lock);
    pthread_cond_destroy(&w.cond);
    if (w.status == INGEST_JOURNAL_OK && count > 0)
        *first_seq = w.first_seq;
    return w.status;
}

int ingest_journal_writer_start(ingest_journal_t *self)
{
    if (pthread_create(&self->flusher, NULL, s_flusher_run, self) != 0)
        return -1;
    self->flusher_started = true;
    return 0;
}

void ingest_journal_writer_stop(ingest_journal_t *self)
{
    if (!self->flusher_started)
        return;
    /* The flusher finishes every queued append before it exits. */
    pthread_mutex_lock(&self->queue_lock);
    self->flusher_stop = true;
    pthread_cond_signal(&self->queue_cond);
    pthread_mutex_unlock(&self->queue_lock);
    pthread_join(self->flusher, NULL);
    self->flusher_started = false;
}
