/* ingest_journal_format: record encoding and checks, segment names and
 * listing, the scan that repairs a segment's tail at open, and the
 * checkpoint file (see the header; docs/ingest.md for the format). Pure file
 * work: the journal's state and threads are elsewhere. */
#include "ingest_journal_format.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "halo_log.h"

static uint32_t s_crc_table[256];
static pthread_once_t s_crc_once = PTHREAD_ONCE_INIT;

/* Fills the CRC-32 table (reflected IEEE polynomial), once. */
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

void ingest_journal_put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

void ingest_journal_put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

uint32_t ingest_journal_get32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint64_t ingest_journal_get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

int ingest_journal_header_check(const unsigned char *h, uint32_t *len, uint64_t *seq)
{
    if (ingest_journal_get32(h) != INGEST_JOURNAL_MAGIC)
        return -1;
    *len = ingest_journal_get32(h + 4);
    *seq = ingest_journal_get64(h + 8);
    return *len <= INGEST_JOURNAL_MAX_RECORD && *seq > 0 ? 0 : -1;
}

bool ingest_journal_crc_check(const unsigned char *h, const void *payload, uint32_t len)
{
    uint32_t crc = ingest_journal_crc32(ingest_journal_crc32(0, payload, len), h, 16);
    return crc == ingest_journal_get32(h + 16);
}

void ingest_journal_header_begin(unsigned char *h, uint32_t len)
{
    ingest_journal_put32(h, INGEST_JOURNAL_MAGIC);
    ingest_journal_put32(h + 4, len);
}

void ingest_journal_header_seal(unsigned char *h, uint64_t seq, uint32_t payload_crc)
{
    ingest_journal_put64(h + 8, seq);
    ingest_journal_put32(h + 16, ingest_journal_crc32(payload_crc, h, 16));
}

void ingest_journal_segment_name(uint64_t first_seq, char *name, size_t cap)
{
    snprintf(name, cap, "%0*" PRIu64 INGEST_JOURNAL_SUFFIX, INGEST_JOURNAL_NAME_DIGITS, first_seq);
}

void ingest_journal_segment_path(const char *dir, uint64_t first_seq, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%0*" PRIu64 INGEST_JOURNAL_SUFFIX, dir, INGEST_JOURNAL_NAME_DIGITS, first_seq);
}

int ingest_journal_segments_push(ingest_journal_segments_t *segs, uint64_t first_seq, uint64_t size)
{
    if (segs->n == segs->cap) {
        size_t cap = segs->cap ? segs->cap * 2 : 16;
        ingest_journal_segment_t *v = realloc(segs->v, cap * sizeof *v);
        if (!v)
            return -1;
        segs->v = v;
        segs->cap = cap;
    }
    segs->v[segs->n++] = (ingest_journal_segment_t){first_seq, size};
    return 0;
}

void ingest_journal_segments_drop(ingest_journal_segments_t *segs, size_t count)
{
    if (count == 0)
        return;
    memmove(segs->v, segs->v + count, (segs->n - count) * sizeof *segs->v);
    segs->n -= count;
}

/* qsort order of segments: by first sequence. */
static int s_cmp_seg(const void *a, const void *b)
{
    const ingest_journal_segment_t *x = a, *y = b;
    return x->first_seq < y->first_seq ? -1 : x->first_seq > y->first_seq;
}

int ingest_journal_segments_list(const char *dir, ingest_journal_segments_t *segs, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "opendir %s: %s", dir, strerror(errno));
        return -1;
    }
    size_t name_len = INGEST_JOURNAL_NAME_DIGITS + strlen(INGEST_JOURNAL_SUFFIX);
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        if (strlen(name) != name_len || strcmp(name + INGEST_JOURNAL_NAME_DIGITS, INGEST_JOURNAL_SUFFIX) != 0)
            continue;
        uint64_t seq = 0;
        bool digits = true;
        for (int i = 0; i < INGEST_JOURNAL_NAME_DIGITS; i++) {
            if (name[i] < '0' || name[i] > '9')
                digits = false;
            else
                seq = seq * 10 + (uint64_t)(name[i] - '0');
        }
        if (digits && ingest_journal_segments_push(segs, seq, 0) != 0) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
    }
    closedir(d);
    if (segs->n > 1)
        qsort(segs->v, segs->n, sizeof *segs->v, s_cmp_seg);
    return rc;
}

int ingest_journal_segment_scan(const char *dir, ingest_journal_segment_t *seg, unsigned char *buf, uint64_t *last_seq,
                                ingest_journal_scan_t *tally, char *err, size_t errlen)
{
    char path[INGEST_JOURNAL_PATH_MAX];
    ingest_journal_segment_path(dir, seg->first_seq, path, sizeof path);
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
        if (header_ok && ingest_journal_header_check(buf + pos, &len, &seq) != 0) {
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
            ssize_t n = read(fd, buf + have, INGEST_JOURNAL_SCAN_BUF - have);
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
        if (!ingest_journal_crc_check(buf + pos, buf + pos + INGEST_JOURNAL_HEADER, len)) {
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
            tally->unused_bytes += cut;
        } else {
            HALO_WARN("journal tail cut", "segment=%s offset=%" PRIu64 " bytes=%" PRIu64 " reason=\"%s\"", path,
                      valid_end, cut, why ? why : "trailing bytes");
            tally->cut_bytes += cut;
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

uint64_t ingest_journal_checkpoint_read(const char *dir)
{
    char path[INGEST_JOURNAL_PATH_MAX], text[32] = "";
    snprintf(path, sizeof path, "%s/checkpoint", dir);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    uint64_t v = 0;
    if (fgets(text, sizeof text, f))
        v = strtoull(text, NULL, 10);
    fclose(f);
    return v;
}

int ingest_journal_checkpoint_write(const char *dir, int dir_fd, uint64_t low_seq)
{
    char tmp[INGEST_JOURNAL_PATH_MAX], path[INGEST_JOURNAL_PATH_MAX], text[32];
    snprintf(tmp, sizeof tmp, "%s/checkpoint.tmp", dir);
    snprintf(path, sizeof path, "%s/checkpoint", dir);
    int n = snprintf(text, sizeof text, "%" PRIu64 "\n", low_seq);
    int flags = O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC;
    int fd = open(tmp, flags, INGEST_JOURNAL_FILE_MODE);
    if (fd < 0 && errno == ELOOP) {
        /* A symlink where the temporary file goes: removed, never written through. */
        HALO_WARN("journal checkpoint temporary file was a symlink, removed", "path=%s", tmp);
        if (unlink(tmp) == 0)
            fd = open(tmp, flags, INGEST_JOURNAL_FILE_MODE);
    }
    if (fd < 0)
        return -1;
    int rc = write(fd, text, (size_t)n) == n && fsync(fd) == 0 ? 0 : -1;
    close(fd);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -1;
    if (rc == 0 && fsync(dir_fd) != 0)
        rc = -1;
    return rc;
}
