/* ingest_journal_reader: cursors over the segments and the notify fd (see
 * the header). Reads go through the page cache with pread; the journal's
 * lock is held only to look at the segment list and the durable bounds. */
#include "ingest_journal_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "halo_log.h"
#include "ingest_journal_state.h"

void ingest_journal_reader_signal(ingest_journal_t *self)
{
    /* Unarmed, a signal would cost a syscall and a wake of the reader's
     * thread per group commit, for records nobody reads yet. */
    if (!__atomic_exchange_n(&self->notify_armed, false, __ATOMIC_SEQ_CST))
        return;
    uint64_t one = 1;
    if (write(self->notify_fd, &one, sizeof one) < 0) {
        /* EAGAIN: the counter is already non-zero, the reader will wake */
    }
}

int ingest_journal_notify_fd(const ingest_journal_t *self)
{
    return self->notify_fd;
}

void ingest_journal_notify_arm(ingest_journal_t *self)
{
    __atomic_store_n(&self->notify_armed, true, __ATOMIC_SEQ_CST);
}

void ingest_journal_notify_clear(ingest_journal_t *self)
{
    uint64_t value;
    if (read(self->notify_fd, &value, sizeof value) < 0) {
        /* EAGAIN: nothing pending */
    }
}

void ingest_journal_cursor_init(ingest_journal_t *self, ingest_journal_cursor_t *cur)
{
    pthread_mutex_lock(&self->lock);
    *cur = (ingest_journal_cursor_t){.segment = 0, .offset = 0, .min_seq = self->checkpoint, .fd = -1};
    pthread_mutex_unlock(&self->lock);
}

void ingest_journal_cursor_close(ingest_journal_cursor_t *cur)
{
    if (cur && cur->fd >= 0) {
        close(cur->fd);
        cur->fd = -1;
    }
}

/* Index of the segment named first_seq, or -1. Lock held. */
static ssize_t s_find_segment(const ingest_journal_t *self, uint64_t first_seq)
{
    for (size_t i = self->segs.n; i-- > 0;)
        if (self->segs.v[i].first_seq == first_seq)
            return (ssize_t)i;
    return -1;
}

/* Reads len bytes at off; 0, or -1 on an error or end of file. */
static int s_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

/* Moves the cursor to the start of the segment named segment (its file
 * closed first); 0, or -1 when that file cannot be opened (logged). */
static int s_open_segment(ingest_journal_t *self, ingest_journal_cursor_t *cur, uint64_t segment)
{
    char path[INGEST_JOURNAL_PATH_MAX];
    ingest_journal_cursor_close(cur);
    ingest_journal_segment_path(self->dir, segment, path, sizeof path);
    cur->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (cur->fd < 0) {
        HALO_ERROR("journal segment not readable", "segment=%s error=\"%s\"", path, strerror(errno));
        return -1;
    }
    cur->segment = segment;
    cur->offset = 0;
    return 0;
}

int ingest_journal_read(ingest_journal_t *self, ingest_journal_cursor_t *cur, uint64_t *seq, void *buf, size_t cap,
                        size_t *len)
{
    for (;;) {
        pthread_mutex_lock(&self->lock);
        ssize_t idx = cur->fd >= 0 ? s_find_segment(self, cur->segment) : -1;
        if (idx < 0) {
            /* No file open, or ours was compacted away: move to the next one. */
            uint64_t from = cur->fd >= 0 ? cur->segment + 1 : cur->segment;
            uint64_t next = 0;
            bool found = false;
            for (size_t i = 0; i < self->segs.n && !found; i++)
                if (self->segs.v[i].first_seq >= from) {
                    next = self->segs.v[i].first_seq;
                    found = true;
                }
            pthread_mutex_unlock(&self->lock);
            if (!found) {
                ingest_journal_cursor_close(cur);
                return 1;
            }
            if (s_open_segment(self, cur, next) != 0)
                return -1;
            continue;
        }
        const ingest_journal_segment_t *seg = &self->segs.v[idx];
        bool complete = seg->first_seq < self->durable_segment;
        uint64_t limit = complete ? seg->size : seg->first_seq == self->durable_segment ? self->durable_offset : 0;
        bool has_next = (size_t)idx + 1 < self->segs.n;
        uint64_t next = has_next ? self->segs.v[idx + 1].first_seq : 0;
        pthread_mutex_unlock(&self->lock);
        if (cur->offset + INGEST_JOURNAL_HEADER > limit) {
            if (!complete || !has_next)
                return 1;
            if (s_open_segment(self, cur, next) != 0)
                return -1;
            continue;
        }
        unsigned char h[INGEST_JOURNAL_HEADER];
        uint32_t rlen = 0;
        uint64_t rseq = 0;
        bool ok = s_pread_full(cur->fd, h, sizeof h, cur->offset) == 0 &&
                  ingest_journal_header_check(h, &rlen, &rseq) == 0 &&
                  cur->offset + INGEST_JOURNAL_HEADER + rlen <= limit;
        if (ok && rlen > cap)
            return -1;
        ok = ok && s_pread_full(cur->fd, buf, rlen, cur->offset + INGEST_JOURNAL_HEADER) == 0 &&
             ingest_journal_crc_check(h, buf, rlen);
        if (!ok) {
            /* Checked at open and fsynced since: only bit rot gets here. Skip the rest. */
            HALO_ERROR("journal record unreadable, skipping rest of segment", "segment=%" PRIu64 " offset=%" PRIu64,
                       cur->segment, cur->offset);
            cur->offset = limit;
            if (!complete)
                return -1;
            continue;
        }
        cur->offset += INGEST_JOURNAL_HEADER + rlen;
        if (rseq < cur->min_seq)
            continue;
        *seq = rseq;
        *len = rlen;
        return 0;
    }
}
