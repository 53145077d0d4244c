/* ingest_journal: segment files, group commit, tail repair, checkpoint and
 * compaction (see the header and docs/ingest.md for the format).
 *
 * Record: magic "HJR1" (u32 LE 0x31524A48), payload length (u32 LE), sequence
 * (u64 LE), CRC-32 (u32 LE) of the payload followed by the 16 header bytes
 * before it, then the payload. Segment files are named by the sequence of
 * their first record, zero-padded to 20 digits, ".seg". The checkpoint file
 * holds the lowest unacknowledged sequence in decimal. */
#include "ingest_journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include "halo_log.h"

#define S_MAGIC 0x31524A48u /* "HJR1" little-endian */
#define S_SCAN_BUF (1024 * 1024 + INGEST_JOURNAL_MAX_RECORD + INGEST_JOURNAL_HEADER)
#define S_NAME_DIGITS 20
#define S_SUFFIX ".seg"
#define S_PATH_MAX 4096
#define S_SPARE "spare"         /* the next segment, written in advance */
#define S_SPARE_TMP "spare.tmp" /* the spare being zero-filled */
#define S_ZERO_CHUNK (1024 * 1024)
#define S_SPARE_RETRY_MS 10000             /* after a failed zero-fill (disk full) */
#define S_DIO_ALIGN 4096                   /* offset, length and memory alignment of direct writes */

/* The spare segment's state (lock held to read or change it). */
typedef enum { S_SPARE_NONE, S_SPARE_PREPARING, S_SPARE_READY } s_spare_state_t;

typedef struct {
    uint64_t first_seq; /* name of the file */
    uint64_t size;      /* bytes of whole records in it */
} s_segment_t;

/* One submitted append: its records, encoded (sequence and CRC filled in by
 * the flusher), and who to tell. One allocation: the struct, then the bytes. */
typedef struct s_pending_t {
    struct s_pending_t *next;
    ingest_journal_done_fn done;
    void *arg;
    size_t count;
    size_t total;       /* bytes of all records */
    uint64_t first_seq; /* assigned by the flusher */
    ingest_journal_status_t status;
    uint32_t *crcs;     /* payload CRCs, count of them, after the struct */
    unsigned char *buf; /* the records, total bytes, after the CRCs */
} s_pending_t;

struct _ingest_journal_t {
    char *dir;
    int dir_fd;
    int lock_fd;
    int notify_fd;
    bool notify_armed; /* the reader waits for the next commit (atomic) */
    uint64_t segment_bytes;
    uint64_t max_bytes;
    pthread_mutex_t lock; /* the state below; held by the flusher across I/O only to roll a segment */
    s_segment_t *segs;    /* sorted by first_seq; the last one is active */
    size_t nsegs;
    size_t segs_cap;
    int active_fd;
    uint64_t bytes;
    uint64_t next_seq;
    uint64_t durable_seq;     /* last record fsynced */
    uint64_t durable_segment; /* readers read this segment up to durable_offset... */
    uint64_t durable_offset;  /* ...and segments before it whole */
    bool failed;
    uint64_t checkpoint;       /* lowest unacknowledged sequence (in memory) */
    uint64_t checkpoint_saved; /* ...and in the checkpoint file */
    bool checkpoint_failing;   /* the last write failed (release's thread only) */
    uint64_t cut_bytes;
    uint64_t unused_bytes; /* zeros or stale records after the last record, cut at open */
    /* Preallocation: a spare file of at least segment_bytes whose blocks are
     * written (zeros, or a compacted segment's old records) becomes the next
     * segment, so an fdatasync after a write inside it has no file size or
     * extent to commit. The preparer thread zero-fills one when there is none. */
    bool preallocate;
    bool active_prealloc; /* the active segment is such a file */
    s_spare_state_t spare;
    uint64_t spares_zeroed;   /* spares the preparer wrote */
    uint64_t spares_recycled; /* compacted segments kept as the spare */
    pthread_cond_t prep_cond; /* with lock: the spare was used, or stop */
    bool prep_stop;
    bool prep_started;
    bool spare_failing; /* the last zero-fill failed (preparer thread only) */
    /* Direct I/O in preallocated segments (flusher thread only, but
     * direct_fd changes under lock at a roll): each group is one aligned
     * O_DIRECT|O_DSYNC write from dio_buf, whose first dio_tail bytes are
     * the active segment's last partial block, written again each time. */
    bool direct_io;
    int direct_fd; /* the active segment, O_RDWR|O_DIRECT|O_DSYNC; -1 if not */
    unsigned char *dio_buf;
    size_t dio_cap;
    size_t dio_tail;
    uint64_t direct_writes;
    pthread_t preparer;
    /* Appends waiting for the flusher thread (the only writer of segments). */
    pthread_mutex_t queue_lock;
    pthread_cond_t queue_cond;
    s_pending_t *queue_head;
    s_pending_t **queue_tail;
    bool flusher_idle; /* waiting on queue_cond: a submit must signal it */
    bool flusher_stop;
    bool flusher_started;
    pthread_t flusher;
};

static uint32_t s_crc_table[256];
static pthread_once_t s_crc_once = PTHREAD_ONCE_INIT;

static void s_crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        s_crc_table[i] = c;
    }
}

uint32_t ingest_journal_crc32(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&s_crc_once, s_crc_init);
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < len; i++)
        crc = s_crc_table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

static void s_put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void s_put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t s_get32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t s_get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Checks a header and payload; 0 with *seq and *len, -1 if not a valid record. */
static int s_check_header(const unsigned char *h, uint32_t *len, uint64_t *seq)
{
    if (s_get32(h) != S_MAGIC)
        return -1;
    *len = s_get32(h + 4);
    *seq = s_get64(h + 8);
    return *len <= INGEST_JOURNAL_MAX_RECORD && *seq > 0 ? 0 : -1;
}

static bool s_check_crc(const unsigned char *h, const void *payload, uint32_t len)
{
    uint32_t crc = ingest_journal_crc32(ingest_journal_crc32(0, payload, len), h, 16);
    return crc == s_get32(h + 16);
}

static void s_segment_path(const ingest_journal_t *self, uint64_t first_seq, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%0*" PRIu64 S_SUFFIX, self->dir, S_NAME_DIGITS, first_seq);
}

static int s_segs_push(ingest_journal_t *self, uint64_t first_seq, uint64_t size)
{
    if (self->nsegs == self->segs_cap) {
        size_t cap = self->segs_cap ? self->segs_cap * 2 : 16;
        s_segment_t *segs = realloc(self->segs, cap * sizeof *segs);
        if (!segs)
            return -1;
        self->segs = segs;
        self->segs_cap = cap;
    }
    self->segs[self->nsegs++] = (s_segment_t){first_seq, size};
    return 0;
}

static int s_cmp_seg(const void *a, const void *b)
{
    const s_segment_t *x = a, *y = b;
    return x->first_seq < y->first_seq ? -1 : x->first_seq > y->first_seq;
}

/* Lists the segment files of the directory into self->segs, sorted. */
static int s_list_segments(ingest_journal_t *self, char *err, size_t errlen)
{
    DIR *d = opendir(self->dir);
    if (!d) {
        snprintf(err, errlen, "opendir %s: %s", self->dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        if (strlen(name) != S_NAME_DIGITS + strlen(S_SUFFIX) || strcmp(name + S_NAME_DIGITS, S_SUFFIX) != 0)
            continue;
        uint64_t seq = 0;
        bool digits = true;
        for (int i = 0; i < S_NAME_DIGITS; i++) {
            if (name[i] < '0' || name[i] > '9')
                digits = false;
            else
                seq = seq * 10 + (uint64_t)(name[i] - '0');
        }
        if (digits && s_segs_push(self, seq, 0) != 0) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
    }
    closedir(d);
    if (self->nsegs > 1)
        qsort(self->segs, self->nsegs, sizeof *self->segs, s_cmp_seg);
    return rc;
}

/* Scans one segment: keeps the valid prefix of records with increasing
 * sequences, cuts the rest (torn or corrupt tail). Updates *last_seq. */
static int s_scan_segment(ingest_journal_t *self, s_segment_t *seg, unsigned char *buf, uint64_t *last_seq, char *err,
                          size_t errlen)
{
    char path[S_PATH_MAX];
    s_segment_path(self, seg->first_seq, path, sizeof path);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "open %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "stat %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    uint64_t buf_off = 0, valid_end = 0, records = 0;
    size_t have = 0, pos = 0;
    bool eof = false, stale = false;
    const char *why = NULL;
    for (;;) {
        size_t avail = have - pos;
        uint32_t len = 0;
        uint64_t seq = 0;
        bool header_ok = avail >= INGEST_JOURNAL_HEADER;
        if (header_ok && s_check_header(buf + pos, &len, &seq) != 0) {
            static const unsigned char zeros[INGEST_JOURNAL_HEADER];
            /* Zeros: the end marker, or the unwritten rest of a zero-filled spare. */
            stale = memcmp(buf + pos, zeros, INGEST_JOURNAL_HEADER) == 0;
            why = stale ? NULL : "bad header";
            break;
        }
        if ((!header_ok || avail < INGEST_JOURNAL_HEADER + len) && !eof) {
            memmove(buf, buf + pos, avail);
            buf_off += pos;
            have = avail;
            pos = 0;
            ssize_t n = read(fd, buf + have, S_SCAN_BUF - have);
            if (n < 0) {
                snprintf(err, errlen, "read %s: %s", path, strerror(errno));
                close(fd);
                return -1;
            }
            eof = n == 0;
            have += (size_t)n;
            continue;
        }
        if (!header_ok) {
            why = avail ? "torn header" : NULL;
            break;
        }
        if (avail < INGEST_JOURNAL_HEADER + len) {
            why = "torn record";
            break;
        }
        if (seq < seg->first_seq) {
            /* An older segment's record in a recycled file, where the end
             * marker should be: a torn write let it show. */
            why = "record of an older segment";
            break;
        }
        if (seq <= *last_seq) {
            why = "sequence out of order";
            break;
        }
        if (!s_check_crc(buf + pos, buf + pos + INGEST_JOURNAL_HEADER, len)) {
            why = "crc mismatch";
            break;
        }
        *last_seq = seq;
        records++;
        pos += INGEST_JOURNAL_HEADER + len;
        valid_end = buf_off + pos;
    }
    if ((uint64_t)st.st_size > valid_end) {
        uint64_t cut = (uint64_t)st.st_size - valid_end;
        if (stale) {
            HALO_DEBUG("journal segment's unused space cut", "segment=%s offset=%" PRIu64 " bytes=%" PRIu64, path,
                       valid_end, cut);
            self->unused_bytes += cut;
        } else {
            HALO_WARN("journal tail cut", "segment=%s offset=%" PRIu64 " bytes=%" PRIu64 " reason=\"%s\"", path,
                      valid_end, cut, why ? why : "trailing bytes");
            self->cut_bytes += cut;
        }
        if (ftruncate(fd, (off_t)valid_end) != 0 || fsync(fd) != 0) {
            snprintf(err, errlen, "truncate %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
    }
    seg->size = valid_end;
    close(fd);
    HALO_DEBUG("journal segment scanned", "segment=%s records=%" PRIu64 " bytes=%" PRIu64, path, records, valid_end);
    return 0;
}

static uint64_t s_read_checkpoint(const ingest_journal_t *self)
{
    char path[S_PATH_MAX], text[32] = "";
    snprintf(path, sizeof path, "%s/checkpoint", self->dir);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    uint64_t v = 0;
    if (fgets(text, sizeof text, f))
        v = strtoull(text, NULL, 10);
    fclose(f);
    return v;
}

/* Creates the segment file for first_seq and makes it the active one: the
 * spare renamed, when one is ready, else a new empty file. Lock held. */
static int s_create_segment(ingest_journal_t *self, uint64_t first_seq, char *err, size_t errlen)
{
    char path[S_PATH_MAX], name[S_NAME_DIGITS + sizeof S_SUFFIX];
    s_segment_path(self, first_seq, path, sizeof path);
    snprintf(name, sizeof name, "%0*" PRIu64 S_SUFFIX, S_NAME_DIGITS, first_seq);
    int fd = -1;
    bool prealloc = false;
    if (self->spare == S_SPARE_READY) {
        self->spare = S_SPARE_NONE;
        pthread_cond_signal(&self->prep_cond);
        if (renameat2(self->dir_fd, S_SPARE, self->dir_fd, name, RENAME_NOREPLACE) == 0) {
            fd = open(path, O_WRONLY | O_CLOEXEC);
            prealloc = fd >= 0;
            if (fd < 0) {
                HALO_WARN("journal spare segment not usable", "error=\"%s\"", strerror(errno));
                unlink(path); /* or the new empty file below could not take its name */
            }
        } else {
            HALO_WARN("journal spare segment not usable", "error=\"%s\"", strerror(errno));
        }
    }
    if (fd < 0)
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "create %s: %s", path, strerror(errno));
        return -1;
    }
    if (fsync(self->dir_fd) != 0 || s_segs_push(self, first_seq, 0) != 0) {
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

/* Zero-fills the spare: S_SPARE_TMP written whole and fdatasynced, then
 * renamed S_SPARE. 0, or -1 (logged; the temporary file removed). */
static int s_zero_spare(ingest_journal_t *self, const unsigned char *zeros)
{
    /* Not on the last free space (less than the spare and one more segment):
     * appends need it more than a spare does. */
    struct statvfs vfs;
    if (fstatvfs(self->dir_fd, &vfs) == 0 &&
        (uint64_t)vfs.f_bavail * vfs.f_frsize < 2 * self->segment_bytes) {
        if (!self->spare_failing)
            HALO_WARN("journal spare segment not written: little free disk, next segments start empty, "
                      "retrying every 10 s",
                      "free_bytes=%" PRIu64 " bytes=%" PRIu64, (uint64_t)vfs.f_bavail * vfs.f_frsize,
                      self->segment_bytes);
        self->spare_failing = true;
        return -1;
    }
    int fd = openat(self->dir_fd, S_SPARE_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
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

/* Whether the preparer should zero-fill a spare now: none is there, and the
 * active segment is not preallocated or half full. Waiting for half full
 * gives compaction the time to recycle the segment before it (no writing at
 * all) while fetchers keep up. Lock held. */
static bool s_spare_needed(const ingest_journal_t *self)
{
    return self->spare == S_SPARE_NONE &&
           (!self->active_prealloc || self->segs[self->nsegs - 1].size >= self->segment_bytes / 2);
}

/* The preparer thread: keeps one spare ready while preallocation is on. */
static void *s_preparer_run(void *arg)
{
    ingest_journal_t *self = arg;
    unsigned char *zeros = calloc(1, S_ZERO_CHUNK);
    pthread_mutex_lock(&self->lock);
    while (zeros && !self->prep_stop) {
        if (!s_spare_needed(self)) {
            pthread_cond_wait(&self->prep_cond, &self->lock);
            continue;
        }
        self->spare = S_SPARE_PREPARING;
        pthread_mutex_unlock(&self->lock);
        int rc = s_zero_spare(self, zeros);
        pthread_mutex_lock(&self->lock);
        self->spare = rc == 0 ? S_SPARE_READY : S_SPARE_NONE;
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

/* Signals the notify fd if the reader armed it: a syscall and a wake of the
 * reader's thread per group commit otherwise, for records nobody reads yet. */
static void s_notify(ingest_journal_t *self)
{
    if (!__atomic_exchange_n(&self->notify_armed, false, __ATOMIC_SEQ_CST))
        return;
    uint64_t one = 1;
    if (write(self->notify_fd, &one, sizeof one) < 0) {
        /* EAGAIN: the counter is already non-zero, the reader will wake */
    }
}

static void *s_flusher_run(void *arg);

/* At open: removes a half-written spare, keeps a finished one if it is big
 * enough and preallocation is on. */
static void s_open_spare(ingest_journal_t *self)
{
    unlinkat(self->dir_fd, S_SPARE_TMP, 0);
    struct stat st;
    if (fstatat(self->dir_fd, S_SPARE, &st, 0) != 0)
        return;
    if (self->preallocate && (uint64_t)st.st_size >= self->segment_bytes)
        self->spare = S_SPARE_READY;
    else
        unlinkat(self->dir_fd, S_SPARE, 0);
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
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
        goto fail;
    }
    self->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (self->dir_fd < 0) {
        snprintf(err, errlen, "open %s: %s", dir, strerror(errno));
        goto fail;
    }
    char path[S_PATH_MAX];
    snprintf(path, sizeof path, "%s/lock", dir);
    self->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (self->lock_fd < 0 || flock(self->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, errlen, "lock %s: %s (another halo-ingest uses this journal?)", path, strerror(errno));
        goto fail;
    }
    self->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->notify_fd < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        goto fail;
    }
    self->checkpoint = self->checkpoint_saved = s_read_checkpoint(self);
    if (s_list_segments(self, err, errlen) != 0)
        goto fail;
    /* Whole segments below the checkpoint were acknowledged: drop them unread. */
    size_t drop = 0;
    while (drop + 1 < self->nsegs && self->segs[drop + 1].first_seq <= self->checkpoint) {
        s_segment_path(self, self->segs[drop].first_seq, path, sizeof path);
        unlink(path);
        drop++;
    }
    if (drop > 0) {
        memmove(self->segs, self->segs + drop, (self->nsegs - drop) * sizeof *self->segs);
        self->nsegs -= drop;
    }
    buf = malloc(S_SCAN_BUF);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    uint64_t last_seq = 0;
    for (size_t i = 0; i < self->nsegs; i++) {
        if (s_scan_segment(self, &self->segs[i], buf, &last_seq, err, errlen) != 0)
            goto fail;
        self->bytes += self->segs[i].size;
    }
    free(buf);
    buf = NULL;
    s_open_spare(self);
    /* Sequences never go back: not below the last record, the checkpoint,
     * nor the name of the last segment (which may hold no record: written
     * nothing yet, or its records cut, after the segments before it were
     * compacted and while the checkpoint file is older than them). */
    self->next_seq = last_seq + 1;
    if (self->next_seq < self->checkpoint)
        self->next_seq = self->checkpoint;
    if (self->nsegs > 0 && self->next_seq < self->segs[self->nsegs - 1].first_seq)
        self->next_seq = self->segs[self->nsegs - 1].first_seq;
    if (self->nsegs == 0) {
        if (s_create_segment(self, self->next_seq, err, errlen) != 0)
            goto fail;
    } else {
        s_segment_path(self, self->segs[self->nsegs - 1].first_seq, path, sizeof path);
        self->active_fd = open(path, O_WRONLY | O_CLOEXEC);
        /* What a killed predecessor wrote may still be only in the page cache. */
        if (self->active_fd < 0 || fdatasync(self->active_fd) != 0) {
            snprintf(err, errlen, "open %s: %s", path, strerror(errno));
            goto fail;
        }
    }
    self->durable_seq = last_seq;
    self->durable_segment = self->segs[self->nsegs - 1].first_seq;
    self->durable_offset = self->segs[self->nsegs - 1].size;
    if (pthread_create(&self->flusher, NULL, s_flusher_run, self) != 0) {
        snprintf(err, errlen, "cannot start the journal flusher thread");
        goto fail;
    }
    self->flusher_started = true;
    if (self->preallocate) {
        if (pthread_create(&self->preparer, NULL, s_preparer_run, self) != 0) {
            snprintf(err, errlen, "cannot start the journal preparer thread");
            goto fail;
        }
        self->prep_started = true;
    }
    HALO_INFO("journal opened",
              "dir=%s segments=%zu bytes=%" PRIu64 " checkpoint=%" PRIu64 " next_seq=%" PRIu64 " cut_bytes=%" PRIu64
              " preallocate=%s direct_io=%s",
              dir, self->nsegs, self->bytes, self->checkpoint, self->next_seq, self->cut_bytes,
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
    if (self->flusher_started) {
        /* The flusher finishes every queued append before it exits. */
        pthread_mutex_lock(&self->queue_lock);
        self->flusher_stop = true;
        pthread_cond_signal(&self->queue_cond);
        pthread_mutex_unlock(&self->queue_lock);
        pthread_join(self->flusher, NULL);
    }
    if (self->prep_started) {
        pthread_mutex_lock(&self->lock);
        __atomic_store_n(&self->prep_stop, true, __ATOMIC_RELAXED);
        pthread_cond_signal(&self->prep_cond);
        pthread_mutex_unlock(&self->lock);
        pthread_join(self->preparer, NULL);
    }
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
        close(self->lock_fd); /* releases the flock */
    if (self->dir_fd >= 0)
        close(self->dir_fd);
    pthread_mutex_destroy(&self->lock);
    pthread_cond_destroy(&self->prep_cond);
    pthread_mutex_destroy(&self->queue_lock);
    pthread_cond_destroy(&self->queue_cond);
    free(self->segs);
    free(self->dir);
    free(self);
    *self_p = NULL;
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
    char err[S_PATH_MAX + 128];
    if (s_create_segment(self, self->next_seq, err, sizeof err) != 0) {
        HALO_ERROR("journal segment not created", "error=\"%s\"", err);
        return -1;
    }
    self->durable_segment = self->next_seq;
    self->durable_offset = 0;
    s_notify(self);
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
static int s_write_direct(ingest_journal_t *self, int fd, const s_pending_t *group, size_t bytes, uint64_t start)
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
    for (const s_pending_t *p = group; p; p = p->next) {
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
static s_pending_t *s_take_group_locked(ingest_journal_t *self, s_pending_t **list, s_pending_t ***done, size_t *bytes)
{
    s_pending_t *group = NULL, **tail = &group;
    *bytes = 0;
    while (*list) {
        s_pending_t *p = *list;
        if (self->failed) {
            p->status = INGEST_JOURNAL_IOERROR;
        } else if (self->bytes + *bytes + p->total > self->max_bytes) {
            p->status = INGEST_JOURNAL_FULL;
        } else {
            uint64_t size = self->segs[self->nsegs - 1].size + *bytes;
            /* Full, or (started empty, at open or without a spare) a spare is there now. */
            bool to_spare = !self->active_prealloc && self->spare == S_SPARE_READY;
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
            uint32_t len = s_get32(p->buf + off + 4);
            s_put64(p->buf + off + 8, p->first_seq + i);
            s_put32(p->buf + off + 16, ingest_journal_crc32(p->crcs[i], p->buf + off, 16));
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
static void s_write_group(ingest_journal_t *self, s_pending_t *group, size_t bytes)
{
    /* In a preallocated segment a header of zeros follows the group: the end
     * a scan at open finds, where a recycled file has its old bytes. */
    static const unsigned char end_marker[INGEST_JOURNAL_HEADER];
    size_t n = 1;
    for (s_pending_t *p = group; p; p = p->next)
        n++;
    struct iovec stack_iov[64];
    struct iovec *iov = n <= 64 ? stack_iov : malloc(n * sizeof *iov);
    pthread_mutex_lock(&self->lock);
    s_segment_t *active = &self->segs[self->nsegs - 1];
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
        for (s_pending_t *p = group; p; p = p->next)
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
    active = &self->segs[self->nsegs - 1];
    if (e != 0) {
        status = e == ENOSPC || e == EDQUOT ? INGEST_JOURNAL_NOSPACE : INGEST_JOURNAL_IOERROR;
        HALO_ERROR("journal write failed", "error=\"%s\" bytes=%zu", strerror(e), bytes);
        /* Nothing half-written may stay: cut back to the last whole record
         * (and the preallocated rest with it: the next spare replaces it). */
        self->active_prealloc = false;
        if (self->preallocate)
            pthread_cond_signal(&self->prep_cond);
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
            s_notify(self);
            if (self->preallocate && s_spare_needed(self))
                pthread_cond_signal(&self->prep_cond);
        }
    }
    pthread_mutex_unlock(&self->lock);
    for (s_pending_t *p = group; p; p = p->next)
        p->status = status;
}

/* Tells each append of list its outcome and frees it. */
static void s_complete(s_pending_t *list)
{
    while (list) {
        s_pending_t *next = list->next;
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
        s_pending_t *list = self->queue_head;
        self->queue_head = NULL;
        self->queue_tail = &self->queue_head;
        pthread_mutex_unlock(&self->queue_lock);
        if (!list)
            return NULL; /* stopping, and nothing left */
        while (list) {
            s_pending_t *done = NULL, **done_tail = &done;
            size_t bytes = 0;
            pthread_mutex_lock(&self->lock);
            s_pending_t *group = s_take_group_locked(self, &list, &done_tail, &bytes);
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
    s_pending_t *p = malloc(sizeof *p + count * sizeof(uint32_t) + total);
    if (!p) {
        done(arg, INGEST_JOURNAL_IOERROR, 0);
        return;
    }
    *p = (s_pending_t){.done = done, .arg = arg, .count = count, .total = total, .status = INGEST_JOURNAL_OK};
    p->crcs = (uint32_t *)(p + 1);
    p->buf = (unsigned char *)(p->crcs + count);
    /* Everything but the sequence is prepared here, in the caller's thread. */
    size_t off = 0;
    for (size_t i = 0; i < count; i++) {
        s_put32(p->buf + off, S_MAGIC);
        s_put32(p->buf + off + 4, (uint32_t)items[i].len);
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
    for (size_t i = self->nsegs; i-- > 0;)
        if (self->segs[i].first_seq == first_seq)
            return (ssize_t)i;
    return -1;
}

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

int ingest_journal_read(ingest_journal_t *self, ingest_journal_cursor_t *cur, uint64_t *seq, void *buf, size_t cap,
                        size_t *len)
{
    char path[S_PATH_MAX];
    for (;;) {
        pthread_mutex_lock(&self->lock);
        ssize_t idx = cur->fd >= 0 ? s_find_segment(self, cur->segment) : -1;
        if (idx < 0) {
            /* No file open, or ours was compacted away: move to the next one. */
            uint64_t from = cur->fd >= 0 ? cur->segment + 1 : cur->segment;
            uint64_t next = 0;
            bool found = false;
            for (size_t i = 0; i < self->nsegs && !found; i++)
                if (self->segs[i].first_seq >= from) {
                    next = self->segs[i].first_seq;
                    found = true;
                }
            pthread_mutex_unlock(&self->lock);
            ingest_journal_cursor_close(cur);
            if (!found)
                return 1;
            s_segment_path(self, next, path, sizeof path);
            cur->fd = open(path, O_RDONLY | O_CLOEXEC);
            if (cur->fd < 0) {
                HALO_ERROR("journal segment not readable", "segment=%s error=\"%s\"", path, strerror(errno));
                return -1;
            }
            cur->segment = next;
            cur->offset = 0;
            continue;
        }
        const s_segment_t *seg = &self->segs[idx];
        bool complete = seg->first_seq < self->durable_segment;
        uint64_t limit = complete ? seg->size : seg->first_seq == self->durable_segment ? self->durable_offset : 0;
        bool has_next = (size_t)idx + 1 < self->nsegs;
        uint64_t next = has_next ? self->segs[idx + 1].first_seq : 0;
        pthread_mutex_unlock(&self->lock);
        if (cur->offset + INGEST_JOURNAL_HEADER > limit) {
            if (complete && has_next) {
                ingest_journal_cursor_close(cur);
                s_segment_path(self, next, path, sizeof path);
                cur->fd = open(path, O_RDONLY | O_CLOEXEC);
                if (cur->fd < 0) {
                    HALO_ERROR("journal segment not readable", "segment=%s error=\"%s\"", path, strerror(errno));
                    return -1;
                }
                cur->segment = next;
                cur->offset = 0;
                continue;
            }
            return 1;
        }
        unsigned char h[INGEST_JOURNAL_HEADER];
        uint32_t rlen = 0;
        uint64_t rseq = 0;
        bool ok = s_pread_full(cur->fd, h, sizeof h, cur->offset) == 0 && s_check_header(h, &rlen, &rseq) == 0 &&
                  cur->offset + INGEST_JOURNAL_HEADER + rlen <= limit;
        if (ok && rlen > cap)
            return -1;
        ok = ok && s_pread_full(cur->fd, buf, rlen, cur->offset + INGEST_JOURNAL_HEADER) == 0 &&
             s_check_crc(h, buf, rlen);
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

/* Writes the checkpoint file atomically: temporary file, fsync, rename, fsync dir. */
static int s_write_checkpoint(ingest_journal_t *self, uint64_t low_seq)
{
    char tmp[S_PATH_MAX], path[S_PATH_MAX], text[32];
    snprintf(tmp, sizeof tmp, "%s/checkpoint.tmp", self->dir);
    snprintf(path, sizeof path, "%s/checkpoint", self->dir);
    int n = snprintf(text, sizeof text, "%" PRIu64 "\n", low_seq);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    int rc = write(fd, text, (size_t)n) == n && fsync(fd) == 0 ? 0 : -1;
    close(fd);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -1;
    if (rc == 0 && fsync(self->dir_fd) != 0)
        rc = -1;
    return rc;
}

/* Keeps a compacted segment as the spare when none is ready or being
 * written and it is big enough: its blocks are written, which is all a
 * spare needs (its old records are older than any segment it becomes, and
 * the scan at open stops at them). 0 if kept. */
static int s_recycle(ingest_journal_t *self, const char *path)
{
    struct stat st;
    if (!self->preallocate || stat(path, &st) != 0 || (uint64_t)st.st_size < self->segment_bytes)
        return -1;
    int rc = -1;
    pthread_mutex_lock(&self->lock);
    if (self->spare == S_SPARE_NONE && renameat(AT_FDCWD, path, self->dir_fd, S_SPARE) == 0) {
        self->spare = S_SPARE_READY;
        self->spares_recycled++;
        rc = 0;
    }
    pthread_mutex_unlock(&self->lock);
    if (rc == 0)
        HALO_DEBUG("journal segment recycled as the spare", "segment=%s", path);
    return rc;
}

int ingest_journal_release(ingest_journal_t *self, uint64_t low_seq)
{
    /* Whole segments below low_seq go first, the checkpoint is written
     * after: deleting first frees the disk (on a full disk the checkpoint's
     * new file could not be written before), and a checkpoint left older
     * than the segments only makes a restart replay acknowledged records
     * again, which fetchers and the store take as duplicates. */
    char path[S_PATH_MAX];
    pthread_mutex_lock(&self->lock);
    if (low_seq > self->checkpoint)
        self->checkpoint = low_seq;
    bool save = low_seq > self->checkpoint_saved;
    for (;;) {
        uint64_t doomed[64];
        size_t ndoomed = 0;
        while (ndoomed < 64 && self->nsegs > 1 && self->segs[1].first_seq <= low_seq) {
            doomed[ndoomed++] = self->segs[0].first_seq;
            self->bytes -= self->segs[0].size;
            memmove(self->segs, self->segs + 1, (self->nsegs - 1) * sizeof *self->segs);
            self->nsegs--;
        }
        if (ndoomed == 0)
            break;
        pthread_mutex_unlock(&self->lock);
        for (size_t i = 0; i < ndoomed; i++) {
            s_segment_path(self, doomed[i], path, sizeof path);
            if (s_recycle(self, path) == 0)
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
    if (s_write_checkpoint(self, low_seq) != 0) {
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
        .segments = self->nsegs,
        .next_seq = self->next_seq,
        .durable_seq = self->durable_seq,
        .checkpoint = self->checkpoint_saved,
        .cut_bytes = self->cut_bytes,
        .unused_bytes = self->unused_bytes,
        .failed = self->failed,
        .active_prealloc = self->active_prealloc,
        .spare_ready = self->spare == S_SPARE_READY,
        .active_direct = self->direct_fd >= 0,
        .direct_writes = self->direct_writes,
        .spares_zeroed = self->spares_zeroed,
        .spares_recycled = self->spares_recycled,
    };
    pthread_mutex_unlock(&self->lock);
}
