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
#include <sys/stat.h>
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
    ingest_journal_t *j = ingest_journal_open(dir, segment_bytes, max_bytes, err, sizeof err);
    if (!j)
        fail_msg("open %s: %s", dir, err);
    return j;
}

static uint64_t s_append_text(ingest_journal_t *j, const char *text)
{
    ingest_journal_item_t item = { text, strlen(text) };
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
    ingest_journal_item_t items[] = { { "rec-3", 5 }, { "rec-4", 5 }, { "rec-5", 5 } };
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
        ingest_journal_item_t item = { text, sizeof text - 1 };
        uint64_t seq;
        if (ingest_journal_append(w->j, &item, 1, &seq) != INGEST_JOURNAL_OK)
            w->failures++;
    }
    return NULL;
}

static void test_group_commit_many_threads(void **state)
{
    char *dir = halo_test_tmpdir("journal-group");
    ingest_journal_t *j = s_open(dir, 4096, BIG); /* small segments: rolls under concurrency too */
    enum { THREADS = 8, EACH = 150 };
    pthread_t threads[THREADS];
    s_writer_t writers[THREADS];
    for (int i = 0; i < THREADS; i++) {
        writers[i] = (s_writer_t){ j, EACH, 0 };
        pthread_create(&threads[i], NULL, s_writer, &writers[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(writers[i].failures, 0);
    }
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
    unsigned char torn[INGEST_JOURNAL_HEADER + 3] = { 0x48, 0x4A, 0x52, 0x31, 100, 0, 0, 0, 4 };
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
    ingest_journal_item_t item = { "rec-12", 6 };
    uint64_t seq;
    assert_int_equal(ingest_journal_append(j, &item, 1, &seq), INGEST_JOURNAL_FULL);
    assert_int_equal(ingest_journal_release(j, 9), 0); /* frees two segments */
    assert_int_equal(ingest_journal_append(j, &item, 1, &seq), INGEST_JOURNAL_OK);
    assert_int_equal(seq, 12);
    char err[512];
    assert_null(ingest_journal_open(dir, 110, 300, err, sizeof err));
    assert_non_null(strstr(err, "lock"));
    ingest_journal_destroy(&j);
    s_rmdir(dir);
}

/* True when the notify fd is readable now. */
static bool s_notified(ingest_journal_t *j)
{
    struct pollfd pfd = { .fd = ingest_journal_notify_fd(j), .events = POLLIN };
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
        cmocka_unit_test(test_notify_only_when_armed),
        cmocka_unit_test(test_crc32_known_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
