/* test_ingest_journal: the journal behind every 200: append and read back,
 * group commit from many threads, reopen and replay from the checkpoint, a
 * torn or corrupt tail cut at open, compaction of whole segments behind the
 * lowest unacknowledged sequence, the byte bound, the directory lock, and
 * the notify fd signalled only when armed.
 * Uses a fresh temporary directory per test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "halo_log.h"
#include "ingest_journal.h"
#include "testutil.h"

#define BIG (1ull << 40)
#define SEG_NAME "%s/00000000000000000001.seg"

/* Removes a test directory and frees its path. */
static void s_rmdir(char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        /* a leftover in /tmp is harmless */
    }
    free(dir);
}

static ingest_journal_t *s_open(const char *dir, uint64_t segment_bytes, uint64_t max_bytes)
{
    char err[512];
    ingest_journal_options_t o = {.segment_bytes = segment_bytes, .max_bytes = max_bytes};
    ingest_journal_t *j = ingest_journal_open(dir, &o, err, sizeof err);
    if (!j)
        fail_msg("open %s: %s", dir, err);
    return j;
}

static uint64_t s_append_text(ingest_journal_t *j, const char *text)
{
    ingest_journal_item_t item = {text, strlen(text)};
    uint64_t seq = 0;
    assert_int_equal(ingest_journal_append(j, &item, 1, &seq), INGEST_JOURNAL_OK);
    return seq;
}

/* Reads every available record from a fresh cursor; returns how many, checks
 * that sequences are increasing and that payload i is "rec-<seq>". */
static size_t s_read_all(ingest_journal_t *j, uint64_t *first, uint64_t *last)
{
    ingest_journal_cursor_t cur;
    ingest_journal_cursor_init(j, &cur);
    char buf[256];
    uint64_t seq = 0, prev = 0;
    size_t len = 0, n = 0;
    int rc;
    while ((rc = ingest_journal_read(j, &cur, &seq, buf, sizeof buf - 1, &len)) == 0) {
        buf[len] = '\0';
        char want[64];
        snprintf(want, sizeof want, "rec-%llu", (unsigned long long)seq);
        assert_string_equal(buf, want);
        assert_true(seq > prev);
        if (n == 0 && first)
            *first = seq;
        prev = seq;
        n++;
    }
    assert_int_equal(rc, 1);
    if (last)
        *last = prev;
    ingest_journal_cursor_close(&cur);
    return n;
}

static void s_append_recs(ingest_journal_t *j, int count)
{
    for (int i = 0; i < count; i++) {
        ingest_journal_stats_t st;
        ingest_journal_stats(j, &st);
        char text[64];
        snprintf(text, sizeof text, "rec-%llu", (unsigned long long)st.next_seq);
        assert_int_equal(s_append_text(j, text), st.next_seq);
    }
}

static void test_append_and_read(void **state)
{
    char *dir = halo_test_tmpdir("journal-basic");
    ingest_journal_t *j = s_open(dir, BIG, BIG);
    s_append_recs(j, 2);
    /* A batch gets consecutive sequences and is written whole. */
    ingest_journal_item_t items[] = {{"rec-3", 5}, {"rec-4", 5}, {"rec-5", 5}};
    uint64_t first = 0;
    assert_int_equal(ingest_journal_append(j, items, 3, &first), INGEST_JOURNAL_OK);
    assert_int_equal(first, 3);
    uint64_t lo = 0, hi = 0;
    assert_int_equal(s_read_all(j, &lo, &hi), 5);
    assert_int_equal(lo, 1);
    assert_int_equal(hi, 5);
    ingest_journal_stats_t st;
    ingest_journal_stats(j, &st);
    assert_int_equal(st.durable_seq, 5);
    assert_int_equal(st.bytes, 5 * INGEST_JOURNAL_HEADER + 5 * 5);
    ingest_journal_destroy(&j);
    ingest_journal_destroy(&j);
    s_rmdir(dir);
}

typedef struct {
    ingest_journal_t *j;
    int count;
    int failures;
} s_writer_t;

static void *s_writer(void *arg)
{
    s_writer_t *w = arg;
    for (int i = 0; i < w->count; i++) {
        char text[] = "payload";
        ingest_journal_item_t item = {text, sizeof text - 1};
        uint64_t seq;
        if (ingest_journal_append(w->j, &item, 1, &seq) != INGEST_JOURNAL_OK)
            w->failures++;
    }
    return NULL;
}

enum { S_GROUP_THREADS = 8, S_GROUP_EACH = 150 };

/* Reads while the writers append: what the reader sees durable must come
 * without a gap, in order, across segment rolls. */
typedef struct {
    ingest_journal_t *j;
    uint64_t expect; /* next sequence */
    int out_of_order;
} s_reader_t;

static void *s_reader(void *arg)
{
    s_reader_t *r = arg;
    ingest_journal_cursor_t cur;
    ingest_journal_cursor_init(r->j, &cur);
    char buf[64];
    uint64_t seq;
    size_t len;
    for (int idle = 0; r->expect <= S_GROUP_THREADS * S_GROUP_EACH && idle < 10000;) {
        int rc = ingest_journal_read(r->j, &cur, &seq, buf, sizeof buf, &len);
        if (rc == 0) {
            r->out_of_order += seq != r->expect;
            r->expect = seq + 1;
            idle = 0;
        } else {
            idle++;
            usleep(1000);
        }
    }
    ingest_journal_cursor_close(&cur);
    return NULL;
}

/* Appends from 8 threads at once while a reader follows; every record is
 * read once, in order, during the run and afterwards. */
static void s_group_commit(ingest_journal_t *j)
{
    enum { THREADS = S_GROUP_THREADS, EACH = S_GROUP_EACH };
    pthread_t threads[THREADS], reader;
    s_writer_t writers[THREADS];
    s_reader_t r = {j, 1, 0};
    assert_int_equal(pthread_create(&reader, NULL, s_reader, &r), 0);
    for (int i = 0; i < THREADS; i++) {
        writers[i] = (s_writer_t){j, EACH, 0};
        pthread_create(&threads[i], NULL, s_writer, &writers[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(writers[i].failures, 0);
    }
    pthread_join(reader, NULL);
    assert_int_equal(r.out_of_order, 0);
    assert_int_equal(r.expect, THREADS * EACH + 1);
    ingest_journal_stats_t st;
    ingest_journal_stats(j, &st);
    assert_int_equal(st.durable_seq, THREADS * EACH);
    assert_true(st.segments > 1);
    ingest_journal_cursor_t cur;
    ingest_journal_cursor_init(j, &cur);
    char buf[64];
    uint64_t seq, expect = 1;
    size_t len;
    while (ingest_journal_read(j, &cur, &seq, buf, sizeof buf, &len) == 0)
        assert_int_equal(seq, expect++);
    assert_int_equal(expect, THREADS * EACH + 1);
    ingest_journal_cursor_close(&cur);
}

static void test_group_commit_many_threads(void **state)
{
    char *dir = halo_test_tmpdir("journal-group");
    ingest_journal_t *j = s_open(dir, 4096, BIG); /* small segments: rolls under concurrency too */
    s_group_commit(j);
    ingest_journal_destroy(&j);
    s_rmdir(dir);
}

static void test_reopen_replays_from_checkpoint(void **state)
{
    char *dir = halo_test_tmpdir("journal-reopen");
    ingest_journal_t *j = s_open(dir, BIG, BIG);
    s_append_recs(j, 5);
    assert_int_equal(ingest_journal_release(j, 3), 0); /* 1 and 2 acknowledged */
    ingest_journal_destroy(&j);
    j = s_open(dir, BIG, BIG);
    uint64_t lo = 0, hi = 0;
    assert_int_equal(s_read_all(j, &lo, &hi), 3);
    assert_int_equal(lo, 3);
    assert_int_equal(hi, 5);
    s_append_recs(j, 1);
    ingest_journal_stats_t st;
    ingest_journal_stats(j, &st);
    assert_int_equal(st.next_seq, 7);
    assert_int_equal(st.checkpoint, 3);
    ingest_journal_destroy(&j);
    s_rmdir(dir);
}

/* Appends raw bytes to the first segment file of dir. */
static void s_append_garbage(const char *dir, const void *bytes, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, SEG_NAME, dir);
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, bytes, len), (ssize_t)len);
    close(fd);
}

static void test_torn_tail_is_cut(void **state)
{
    char *dir = halo_test_tmpdir("journal-torn");
    ingest_journal_t *j = s_open(dir, BIG, BIG);
    s_append_recs(j, 3);
    ingest_journal_destroy(&j);
    /* A crash in the middle of a write: a header and half a payload. */
    unsigned char torn[INGEST_JOURNAL_HEADER + 3] = {0x48, 0x4A, 0x52, 0x31, 100, 0, 0, 0, 4};
    s_append_garbage(dir, torn, sizeof torn);
    j = s_open(dir, BIG, BIG);
    ingest_journal_stats_t st;
    ingest_journal_stats(j, &st);
    assert_int_equal(st.cut_bytes, sizeof torn);
    assert_int_equal(s_read_all(j, NULL, NULL), 3);
    assert_int_equal(st.next_seq, 4);
    s_append_recs(j, 1);
    ingest_journal_destroy(&j);
    j = s_open(dir, BIG, BIG);
    ingest_journal_stats(j, &st);
    assert_int_equal(st.cut_bytes, 0);
    assert_int_equal(s_read_all(j, NULL, NULL), 4);
    ingest_journal_destroy(&j);
    s_rmdir(dir);
}

static void test_corrupt_record_is_cut(void **state)
{
    char *dir = halo_test_tmpdir("journal-crc");
    ingest_journal_t *j = s_open(dir, BIG, BIG);
    s_append_recs(j, 4);
    ingest_journal_destroy(&j);
    /* Flip one payload byte of record 3: records 3 and 4 go, 1 and 2 stay. */
    char path[512];
    snprintf(path, sizeof path, SEG_NAME, dir);
    int fd = open(path, O_RDWR);
    off_t off = 2 * (INGEST_JOURNAL_HEADER + 5) + INGEST_JOURNAL_HEADER + 1;
    assert_int_equal(pwrite(fd, "X", 1, off), 1);
    close(fd);
    j = s_open(dir, BIG, BIG);
    ingest_journal_stats_t st;
    ingest_journal_stats(j, &st);
    assert_int_equal(st.cut_bytes, 2 * (INGEST_JOURNAL_HEADER + 5));
    uint64_t hi = 0;
    assert_int_equal(s_read_all(j, NULL, &hi), 2);
    assert_int_equal(hi, 2);
    assert_int_equal(st.next_seq, 3);
    ingest_journal_destroy(&j);
    s_rmdir(dir);
}

static int s_count_segments(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s/*.seg | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p && fscanf(p, "%d", &n) != 1)
        n = -1;
    if (p)
        pclose(p);
    return n;
}

static void test_compaction_behind_lowest_unacked(void **state)
{
    char *dir = halo_test_tmpdir("journal-compact");
    /* 4 records of 26 bytes per 110-byte segment. */
    ingest_journal_t *j = s_open(dir, 110, BIG);
    s_append_recs(j, 20);
    ingest_journal_stats_t before, after;
    ingest_journal_stats(j, &before);
    assert_int_equal(before.segments, 5);
    assert_int_equal(s_count_segments(dir), 5);
    assert_int_equal(ingest_journal_release(j, 10), 0); /* segments [1..4], [5..8] go; [9..12] holds 10 */
    ingest_journal_stats(j, &after);
    assert_int_equal(after.segments, 3);
    assert_int_equal(s_count_segments(dir), 3);
    assert_true(after.bytes < before.bytes);
    assert_int_equal(ingest_journal_release(j, 5), 0); /* going back is ignored */
    ingest_journal_stats(j, &after);
    assert_int_equal(after.checkpoint, 10);
    /* Everything acked: the active segment always stays. */
    assert_int_equal(ingest_journal_release(j, 21), 0);
    ingest_journal_stats(j, &after);
    assert_int_equal(after.segments, 1);
    ingest_journal_destroy(&j);
    j = s_open(dir, 110, BIG);
    assert_int_equal(s_read_all(j, NULL, NULL), 0);
    ingest_journal_stats(j, &after);
    assert_int_equal(after.next_seq, 21); /* sequences never go back */
    ingest_journal_destroy(&j);
    s_rmdir(dir);
}

static void test_cursor_follows_compaction_and_rolls(void **state)
{
    char *dir = halo_test_tmpdir("journal-cursor");
    ingest_journal_t *j = s_open(dir, 110, BIG);
    ingest_journal_cursor_t cur;
    ingest_journal_cursor_init(j, &cur);
    char buf[64];
    uint64_t seq;
    size_t len;
    assert_int_equal(ingest_journal_read(j, &cur, &seq, buf, sizeof buf, &len), 1);
    s_append_recs(j, 6);
    for (uint64_t want = 1; want <= 6; want++) {
        assert_int_equal(ingest_journal_read(j, &cur, &seq, buf, sizeof buf, &len), 0);
        assert_int_equal(seq, want);
    }
    assert_int_equal(ingest_journal_read(j, &cur, &seq, buf, sizeof buf, &len), 1);
    assert_int_equal(ingest_journal_release(j, 7), 0);
    s_append_recs(j, 5);
    for (uint64_t want = 7; want <= 11; want++) {
        assert_int_equal(ingest_journal_read(j, &cur, &seq, buf, sizeof buf, &len), 0);
        assert_int_equal(seq, want);
    }
    ingest_journal_cursor_close(&cur);
    ingest_journal_destroy(&j);
    s_rmdir(dir);
}

static void test_byte_bound_and_lock(void **state)
{
    char *dir = halo_test_tmpdir("journal-full");
    ingest_journal_t *j = s_open(dir, 110, 300);
    s_append_recs(j, 11); /* 286 bytes */
    ingest_journal_item_t item = {"rec-12", 6};
    uint64_t seq;
    assert_int_equal(ingest_journal_append(j, &item, 1, &seq), INGEST_JOURNAL_FULL);
    assert_int_equal(ingest_journal_release(j, 9), 0); /* frees two segments */
    assert_int_equal(ingest_journal_append(j, &item, 1, &seq), INGEST_JOURNAL_OK);
    assert_int_equal(seq, 12);
    char err[512];
    ingest_journal_options_t o = {.segment_bytes = 110, .max_bytes = 300};
    assert_null(ingest_journal_open(dir, &o, err, sizeof err));
    assert_non_null(strstr(err, "lock"));
    ingest_journal_destroy(&j);
    s_rmdir(dir);
}

static ingest_journal_t *s_open_prealloc(const char *dir, uint64_t segment_bytes)
{
    char err[512];
    ingest_journal_options_t o = {segment_bytes, BIG, true, true}; /* direct I/O too, as ingest's default */
    ingest_journal_t *j = ingest_journal_open(dir, &o, err, sizeof err);
    if (!j)
        fail_msg("open %s: %s", dir, err);
    return j;
}

/* Appends n records "rec-<seq>" in one append (one batch, one segment). */
static ingest_journal_status_t s_append_batch(ingest_journal_t *j, size_t n)
{
    ingest_journal_stats_t st;
    ingest_journal_stats(j, &st);
    char(*texts)[32] = calloc(n, sizeof *texts);
    ingest_journal_item_t *items = calloc(n, sizeof *items);
    assert_non_null(texts);
    assert_non_null(items);
    for (size_t i = 0; i < n; i++) {
        snprintf(texts[i], sizeof texts[i], "rec-%llu", (unsigned long long)(st.next_seq + i));
        items[i] = (ingest_journal_item_t){texts[i], strlen(texts[i])};
    }
    uint64_t first = 0;
    ingest_journal_status_t rc = ingest_journal_append(j, items, n, &first);
    if (rc == INGEST_JOURNAL_OK)
        assert_int_equal(first, st.next_seq);
    free(items);
    free(texts);
    return rc;
}

/* Waits (10 s at most) until the preparer thread has a spare ready. */
static void s_wait_spare(ingest_journal_t *j)
{
    for (int i = 0; i < 1000; i++) {
        ingest_journal_stats_t st;
        ingest_journal_stats(j, &st);
        if (st.spare_ready)
            return;
        usleep(10 * 1000);
    }
    fail_msg("no spare segment after 10 s");
}

/* Size in bytes of the segment file named first_seq. */
static off_t s_segment_size(const char *dir, uint64_t first_seq)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%020llu.seg", dir, (unsigned long long)first_seq);
    struct stat st;
    if (stat(path, &st) != 0)
        fail_msg("stat %s failed", path);
    return st.st_size;
}

/* Appends batches of 100 until the journal has `segments` segments, waiting
 * for the spare whenever the preparer has been asked for one, so that every
 * roll goes to a spare. */
static void s_fill_until_segments(ingest_journal_t *j, uint64_t segments, uint64_t segment_bytes)
{
    for (int guard = 0; guard < 1000; guard++) {
        ingest_journal_stats_t st;
        ingest_journal_stats(j, &st);
        if (st.segments >= segments)
            return;
        if (!st.spare_ready && st.spares_recycled == 0 && st.bytes % segment_bytes >= segment_bytes / 2)
            s_wait_spare(j);
        assert_int_equal(s_append_batch(j, 100), INGEST_JOURNAL_OK);
    }
    fail_msg("the journal never reached %llu segments", (unsigned long long)segments);
}

/* With preallocation, the journal opens a segment, the preparer zero-fills
 * a spare, the next group rolls into it (a file of segment_bytes whose
 * blocks are written), and a segment half full asks for the next spare. At
 * reopen the zeros after the last record are unused space, not a cut tail. */
static void test_preallocated_segments(void **state)
{
    char *dir = halo_test_tmpdir("journal-prealloc");
    const uint64_t seg = 16384;
    ingest_journal_t *j = s_open_prealloc(dir, seg);
    s_wait_spare(j);
    s_append_recs(j, 1); /* into segment 1, made empty at open */
    ingest_journal_stats_t st;
    ingest_journal_stats(j, &st);
    assert_false(st.active_prealloc);
    s_append_recs(j, 1); /* a spare is ready: the group goes to it */
    ingest_journal_stats(j, &st);
    assert_int_equal(st.segments, 2);
    assert_true(st.active_prealloc);
    assert_true(st.active_direct);
    assert_int_equal(st.direct_writes, 1);
    assert_false(st.spare_ready); /* segment 2 is not half full yet */
    assert_int_equal(st.spares_zeroed, 1);
    assert_int_equal(s_segment_size(dir, 2), (off_t)seg);
    s_fill_until_segments(j, 3, seg);
    ingest_journal_stats(j, &st);
    assert_int_equal(st.spares_zeroed, 2);
    assert_true(st.active_prealloc);
    uint64_t third = st.next_seq - 100;
    assert_int_equal(s_segment_size(dir, third), (off_t)seg);
    assert_true(st.direct_writes > 1); /* the groups since segment 2 */
    uint64_t records = st.next_seq - 1;
    ingest_journal_destroy(&j);
    j = s_open(dir, seg, BIG);
    ingest_journal_stats(j, &st);
    assert_int_equal(st.cut_bytes, 0);
    assert_true(st.unused_bytes > 0);
    assert_int_equal(st.next_seq, records + 1);
    uint64_t first = 0, last = 0;
    assert_int_equal(s_read_all(j, &first, &last), records);
    assert_int_equal(first, 1);
    assert_int_equal(last, records);
    assert_true(s_segment_size(dir, third) < (off_t)seg); /* zeros cut at open */
    ingest_journal_destroy(&j);
    s_rmdir(dir);
}

/* Group commit into preallocated segments written with direct I/O: each
 * group rewrites the last partial 4 KiB block, so records that straddle
 * blocks, a reader following the writes, and a reopen must all see every
 * record exactly once. */
static void test_group_commit_direct(void **state)
{
    char *dir = halo_test_tmpdir("journal-direct");
    const uint64_t seg = 16384;
    ingest_journal_t *j = s_open_prealloc(dir, seg);
    s_wait_spare(j);
    s_group_commit(j);
    ingest_journal_stats_t st;
    ingest_journal_stats(j, &st);
    assert_true(st.segments > 2);
    assert_true(st.active_direct);
    assert_true(st.direct_writes > 10);
    uint64_t records = st.next_seq - 1;
    ingest_journal_destroy(&j);
    j = s_open_prealloc(dir, seg);
    ingest_journal_stats(j, &st);
    assert_int_equal(st.cut_bytes, 0);
    assert_int_equal(st.next_seq, records + 1);
    ingest_journal_cursor_t cur;
    ingest_journal_cursor_init(j, &cur);
    char buf[64];
    uint64_t seq, expect = 1;
    size_t len;
    while (ingest_journal_read(j, &cur, &seq, buf, sizeof buf, &len) == 0) {
        assert_int_equal(seq, expect++);
        assert_memory_equal(buf, "payload", 7);
    }
    assert_int_equal(expect, records + 1);
    ingest_journal_cursor_close(&cur);
    ingest_journal_destroy(&j);
    s_rmdir(dir);
}

/* The journal will append from + count next and replays exactly the
 * records from .. from + count - 1. */
static void s_assert_replays(ingest_journal_t *j, uint64_t from, uint64_t count)
{
    ingest_journal_stats_t st;
    ingest_journal_stats(j, &st);
    assert_int_equal(st.next_seq, from + count);
    uint64_t first = 0, last = 0;
    assert_int_equal(s_read_all(j, &first, &last), count);
    assert_int_equal(first, from);
    assert_int_equal(last, from + count - 1);
}

/* Counts the record magics ("HJR1") in a segment file. */
static int s_count_magics(const char *dir, uint64_t first_seq)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%020llu.seg", dir, (unsigned long long)first_seq);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char buf[65536];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    int count = 0;
    for (size_t i = 0; i + 4 <= n; i++)
        count += memcmp(buf + i, "HJR1", 4) == 0;
    return count;
}

/* A compacted segment becomes the spare when none is there (no zero-fill),
 * and its old records, still in the file, are never read back: not by the
 * reader, not after a reopen. */
static void test_recycled_segment(void **state)
{
    char *dir = halo_test_tmpdir("journal-recycle");
    const uint64_t seg = 16384;
    ingest_journal_t *j = s_open_prealloc(dir, seg);
    s_wait_spare(j);
    s_append_recs(j, 2); /* segment 1, then segment 2 in the first spare */
    s_fill_until_segments(j, 3, seg);
    ingest_journal_stats_t st;
    ingest_journal_stats(j, &st);
    assert_false(st.spare_ready);
    assert_int_equal(st.spares_zeroed, 2);
    uint64_t from = st.next_seq;
    assert_int_equal(ingest_journal_release(j, from), 0); /* 1 is deleted (small), 2 recycled */
    ingest_journal_stats(j, &st);
    assert_int_equal(st.segments, 1);
    assert_int_equal(st.spares_recycled, 1);
    assert_true(st.spare_ready);
    s_fill_until_segments(j, 2, seg); /* segment 3 fills, the next is the recycled file */
    s_append_recs(j, 3);
    ingest_journal_stats(j, &st);
    assert_int_equal(st.spares_zeroed, 2); /* nothing zero-filled for it */
    assert_true(st.active_prealloc);
    uint64_t active = st.next_seq - 3 - 100;
    assert_int_equal(s_segment_size(dir, active), (off_t)seg);
    assert_true(s_count_magics(dir, active) > 100 + 3); /* segment 2's records are still there */
    uint64_t want = st.next_seq - from;
    assert_int_equal(s_read_all(j, NULL, NULL), want);
    ingest_journal_destroy(&j);
    j = s_open(dir, seg, BIG);
    ingest_journal_stats(j, &st);
    assert_int_equal(st.cut_bytes, 0);
    assert_true(st.unused_bytes > 0);
    s_assert_replays(j, from, want);
    ingest_journal_destroy(&j);
    s_rmdir(dir);
}

/* Writes a valid record (header, CRC, payload "rec-<seq>") for seq at off
 * in the segment file named first_seq. */
static void s_plant_record(const char *dir, uint64_t first_seq, off_t off, uint64_t seq)
{
    char path[600], payload[32];
    snprintf(path, sizeof path, "%s/%020llu.seg", dir, (unsigned long long)first_seq);
    int plen = snprintf(payload, sizeof payload, "rec-%llu", (unsigned long long)seq);
    unsigned char rec[INGEST_JOURNAL_HEADER + 32];
    const uint32_t magic = 0x31524A48u, len = (uint32_t)plen;
    for (int i = 0; i < 4; i++) {
        rec[i] = (unsigned char)(magic >> (8 * i));
        rec[4 + i] = (unsigned char)(len >> (8 * i));
    }
    for (int i = 0; i < 8; i++)
        rec[8 + i] = (unsigned char)(seq >> (8 * i));
    uint32_t crc = ingest_journal_crc32(ingest_journal_crc32(0, payload, len), rec, 16);
    for (int i = 0; i < 4; i++)
        rec[16 + i] = (unsigned char)(crc >> (8 * i));
    memcpy(rec + INGEST_JOURNAL_HEADER, payload, len);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, rec, INGEST_JOURNAL_HEADER + len, off), (ssize_t)(INGEST_JOURNAL_HEADER + len));
    close(fd);
}

/* A crash where the last group's end marker did not reach the disk but an
 * older segment's record (valid CRC) sits right after the last record of a
 * recycled file: the scan stops there, keeps every record before it, and
 * reads nothing older. */
static void test_recycled_segment_without_marker(void **state)
{
    char *dir = halo_test_tmpdir("journal-nomarker");
    const uint64_t seg = 16384;
    ingest_journal_t *j = s_open_prealloc(dir, seg);
    s_wait_spare(j);
    s_append_recs(j, 2);
    s_fill_until_segments(j, 3, seg);
    ingest_journal_stats_t st;
    ingest_journal_stats(j, &st);
    uint64_t from = st.next_seq;
    assert_int_equal(ingest_journal_release(j, from), 0);
    s_fill_until_segments(j, 2, seg); /* into the recycled file */
    s_append_recs(j, 3);
    ingest_journal_stats(j, &st);
    assert_int_equal(st.spares_recycled, 1);
    uint64_t active = st.next_seq - 3 - 100, end = 0;
    for (uint64_t q = active; q < st.next_seq; q++) {
        char text[32];
        end += INGEST_JOURNAL_HEADER + (uint64_t)snprintf(text, sizeof text, "rec-%llu", (unsigned long long)q);
    }
    uint64_t want = st.next_seq - from;
    ingest_journal_destroy(&j);
    s_plant_record(dir, active, (off_t)end, 5); /* where the end marker was */
    j = s_open(dir, seg, BIG);
    ingest_journal_stats(j, &st);
    assert_true(st.cut_bytes > 0); /* reported as a cut tail, not unused space */
    s_assert_replays(j, from, want);
    ingest_journal_destroy(&j);
    s_rmdir(dir);
}

/* Sequences never go back: the last segment is empty (its first write was
 * lost, or refused on a full disk), the segments before it were compacted,
 * and the checkpoint file is older than all of them. The next record gets
 * the last segment's name, not the old checkpoint (which would put records
 * below the segment's name into it, to be cut at the next open). */
static void test_sequence_after_empty_last_segment(void **state)
{
    char *dir = halo_test_tmpdir("journal-emptylast");
    ingest_journal_t *j = s_open(dir, 110, BIG); /* 4 records of 26 bytes per segment */
    s_append_recs(j, 8);                         /* segments 1 and 5 */
    ingest_journal_destroy(&j);
    char path[600];
    snprintf(path, sizeof path, "%s/%020d.seg", dir, 9);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    assert_true(fd >= 0);
    close(fd);
    snprintf(path, sizeof path, "%s/%020d.seg", dir, 1);
    assert_int_equal(unlink(path), 0);
    snprintf(path, sizeof path, "%s/%020d.seg", dir, 5);
    assert_int_equal(unlink(path), 0);
    snprintf(path, sizeof path, "%s/checkpoint", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("3\n", f);
    fclose(f);
    j = s_open(dir, 110, BIG);
    ingest_journal_stats_t st;
    ingest_journal_stats(j, &st);
    assert_int_equal(st.next_seq, 9);
    s_append_recs(j, 2);
    ingest_journal_destroy(&j);
    j = s_open(dir, 110, BIG);
    ingest_journal_stats(j, &st);
    assert_int_equal(st.cut_bytes, 0);
    assert_int_equal(st.next_seq, 11);
    uint64_t first = 0, last = 0;
    assert_int_equal(s_read_all(j, &first, &last), 2);
    assert_int_equal(first, 9);
    assert_int_equal(last, 10);
    ingest_journal_destroy(&j);
    s_rmdir(dir);
}

/* In the disk-full child (no cmocka there): a failed check exits 1. */
#define S_CHILD_CHECK(cond)                                                                                            \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "disk-full child: check failed at line %d: %s\n", __LINE__, #cond);                        \
            _exit(1);                                                                                                  \
        }                                                                                                              \
    } while (0)

/* Appends batches of 20 records until an append is refused; returns the
 * refusal, *ok the records accepted. */
static ingest_journal_status_t s_child_fill(ingest_journal_t *j, uint64_t *ok)
{
    for (int guard = 0; guard < 100000; guard++) {
        ingest_journal_stats_t st;
        ingest_journal_stats(j, &st);
        char texts[20][32];
        ingest_journal_item_t items[20];
        for (size_t i = 0; i < 20; i++) {
            snprintf(texts[i], sizeof texts[i], "rec-%llu", (unsigned long long)(st.next_seq + i));
            items[i] = (ingest_journal_item_t){texts[i], strlen(texts[i])};
        }
        uint64_t first;
        ingest_journal_status_t rc = ingest_journal_append(j, items, 20, &first);
        if (rc != INGEST_JOURNAL_OK)
            return rc;
        *ok += 20;
    }
    return INGEST_JOURNAL_OK;
}

/* The disk-full scenario on a 64 KiB tmpfs mounted on dir (in a private
 * mount namespace): appends until ENOSPC, which must be NOSPACE (503
 * disk_full), not a failed journal; a reopen finds every accepted record
 * and nothing cut; once compaction frees space, appends work again. */
static void s_disk_full_child(const char *dir, bool prealloc)
{
    if (unshare(CLONE_NEWNS) != 0)
        _exit(77);
    /* For a propagation change the source and type are ignored; they are
     * named all the same (valgrind checks the pointers). */
    if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("halo-test", dir, "tmpfs", 0, "size=64k,mode=0700") != 0)
        _exit(77);
    char err[512];
    ingest_journal_options_t o = {16384, BIG, prealloc, prealloc};
    ingest_journal_t *j = ingest_journal_open(dir, &o, err, sizeof err);
    S_CHILD_CHECK(j != NULL);
    uint64_t ok = 0;
    ingest_journal_status_t rc = s_child_fill(j, &ok);
    S_CHILD_CHECK(rc == INGEST_JOURNAL_NOSPACE);
    S_CHILD_CHECK(ok > 0);
    ingest_journal_stats_t st;
    ingest_journal_stats(j, &st);
    S_CHILD_CHECK(!st.failed);
    S_CHILD_CHECK(st.next_seq == ok + 1);
    ingest_journal_destroy(&j);
    j = ingest_journal_open(dir, &o, err, sizeof err);
    S_CHILD_CHECK(j != NULL);
    ingest_journal_stats(j, &st);
    S_CHILD_CHECK(st.cut_bytes == 0); /* nothing half-written */
    S_CHILD_CHECK(st.next_seq == ok + 1);
    ingest_journal_cursor_t cur;
    ingest_journal_cursor_init(j, &cur);
    char buf[64];
    uint64_t seq, n = 0;
    size_t len;
    while (ingest_journal_read(j, &cur, &seq, buf, sizeof buf, &len) == 0) {
        S_CHILD_CHECK(seq == n + 1);
        n++;
    }
    ingest_journal_cursor_close(&cur);
    S_CHILD_CHECK(n == ok);
    /* Everything acknowledged: whole segments go, and there is room again. */
    S_CHILD_CHECK(ingest_journal_release(j, st.next_seq) == 0);
    uint64_t more = 0;
    rc = s_child_fill(j, &more);
    S_CHILD_CHECK(rc == INGEST_JOURNAL_NOSPACE);
    S_CHILD_CHECK(more > 0);
    ingest_journal_destroy(&j);
    _exit(0);
}

/* Runs the disk-full scenario in a child with its own mount namespace;
 * skipped where mounting a tmpfs is not allowed (not root, containers). */
static void s_disk_full(bool prealloc)
{
    char *dir = halo_test_tmpdir(prealloc ? "journal-enospc-pre" : "journal-enospc");
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        s_disk_full_child(dir, prealloc);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    s_rmdir(dir);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77) {
        fprintf(stderr, "skipped: cannot mount a tmpfs in a new mount namespace here\n");
        skip();
    }
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_disk_full(void **state)
{
    s_disk_full(false);
}

static void test_disk_full_preallocated(void **state)
{
    s_disk_full(true);
}

/* True when the notify fd is readable now. */
static bool s_notified(ingest_journal_t *j)
{
    struct pollfd pfd = {.fd = ingest_journal_notify_fd(j), .events = POLLIN};
    int rc = poll(&pfd, 1, 0);
    assert_true(rc >= 0);
    return rc == 1 && (pfd.revents & POLLIN);
}

/* Commits signal the notify fd only when a reader armed it, once per arming:
 * an idle dispatcher is not woken at every group commit. */
static void test_notify_only_when_armed(void **state)
{
    char *dir = halo_test_tmpdir("journal-notify");
    ingest_journal_t *j = s_open(dir, BIG, BIG);
    s_append_recs(j, 1);
    assert_false(s_notified(j));
    ingest_journal_notify_arm(j);
    assert_false(s_notified(j)); /* arming alone signals nothing */
    s_append_recs(j, 1);
    assert_true(s_notified(j));
    ingest_journal_notify_clear(j);
    assert_false(s_notified(j));
    s_append_recs(j, 1); /* the arming was used up by the previous commit */
    assert_false(s_notified(j));
    assert_int_equal(s_read_all(j, NULL, NULL), 3);
    ingest_journal_destroy(&j);
    s_rmdir(dir);
}

static void test_crc32_known_value(void **state)
{
    assert_int_equal(ingest_journal_crc32(0, "123456789", 9), 0xCBF43926u);
    uint32_t c = ingest_journal_crc32(0, "1234", 4);
    assert_int_equal(ingest_journal_crc32(c, "56789", 5), 0xCBF43926u);
}

int main(void)
{
    halo_log_init("test_ingest_journal", HALO_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_read),
        cmocka_unit_test(test_group_commit_many_threads),
        cmocka_unit_test(test_reopen_replays_from_checkpoint),
        cmocka_unit_test(test_torn_tail_is_cut),
        cmocka_unit_test(test_corrupt_record_is_cut),
        cmocka_unit_test(test_compaction_behind_lowest_unacked),
        cmocka_unit_test(test_cursor_follows_compaction_and_rolls),
        cmocka_unit_test(test_byte_bound_and_lock),
        cmocka_unit_test(test_preallocated_segments),
        cmocka_unit_test(test_group_commit_direct),
        cmocka_unit_test(test_recycled_segment),
        cmocka_unit_test(test_recycled_segment_without_marker),
        cmocka_unit_test(test_sequence_after_empty_last_segment),
        cmocka_unit_test(test_disk_full),
        cmocka_unit_test(test_disk_full_preallocated),
        cmocka_unit_test(test_notify_only_when_armed),
        cmocka_unit_test(test_crc32_known_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
