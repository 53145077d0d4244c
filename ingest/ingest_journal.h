/* ingest_journal: the on-disk promise behind every 200. Append-only segment
 * files under one directory, one CRC-checked record per event, each with a
 * sequence number; one flusher thread writes whatever appends are queued
 * with one pwritev and one fdatasync (group commit) and only then reports
 * each of them durable. At open a torn or corrupt tail is cut and the
 * records from the checkpoint (lowest unacknowledged sequence, persisted by
 * ingest_journal_release) are there to be read again; whole segments below
 * the checkpoint are deleted. Format in docs/ingest.md. Thread-safe: submit
 * and append from any thread; the cursor functions and release from one
 * (the main loop). This is the journal's public face; its parts are
 * ingest_journal_format (records, segment names, tail repair, checkpoint
 * file), ingest_journal_writer (group commit), ingest_journal_prealloc (the
 * spare segment) and ingest_journal_reader (cursors, notify fd). */
#ifndef INGEST_JOURNAL_H
#define INGEST_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INGEST_JOURNAL_MAX_RECORD (64 * 1024) /* payload bytes of one record */
#define INGEST_JOURNAL_HEADER 20              /* magic, len, seq, crc */

typedef struct _ingest_journal_t ingest_journal_t;

typedef enum {
    INGEST_JOURNAL_OK = 0,
    INGEST_JOURNAL_FULL,    /* the byte bound would be exceeded (503) */
    INGEST_JOURNAL_NOSPACE, /* ENOSPC/EDQUOT: partial record cut away (503) */
    INGEST_JOURNAL_IOERROR  /* write or fsync failed (503); after a failed fsync the journal stays failed */
} ingest_journal_status_t;

typedef struct {
    const void *data;
    size_t len;
} ingest_journal_item_t;

/* Reading position of the main loop (plain data, start with ingest_journal_cursor_init). */
typedef struct {
    uint64_t segment; /* first seq of the segment being read (its name) */
    uint64_t offset;  /* next record's byte offset in it */
    uint64_t min_seq; /* records below this are skipped */
    int fd;           /* open segment, -1 if none */
} ingest_journal_cursor_t;

typedef struct {
    uint64_t bytes; /* sum of segment sizes */
    uint64_t segments;
    uint64_t next_seq;        /* sequence the next appended record gets */
    uint64_t durable_seq;     /* last record known durable (0 if none) */
    uint64_t checkpoint;      /* persisted lowest unacked sequence */
    uint64_t cut_bytes;       /* bytes of torn/corrupt tails cut at open */
    uint64_t unused_bytes;    /* preallocated space (zeros, recycled records) cut at open */
    bool failed;              /* an fsync failed: appends refused until restart (ingest then exits) */
    bool active_prealloc;     /* the active segment was written in advance */
    bool spare_ready;         /* the next segment is */
    bool active_direct;       /* the active segment is written with direct I/O */
    uint64_t direct_writes;   /* group commits written with direct I/O */
    uint64_t spares_zeroed;   /* spares zero-filled by the preparer thread */
    uint64_t spares_recycled; /* compacted segments kept as the spare */
} ingest_journal_stats_t;

typedef struct {
    uint64_t segment_bytes; /* size at which a new segment starts */
    uint64_t max_bytes;     /* bound of the whole journal */
    /* Keep the next segment's blocks written in advance (a zero-filled file
     * of segment_bytes, made by a background thread, or a compacted
     * segment), so fdatasync after an append has no file size or block
     * allocation to commit; costs up to two segments of extra disk. */
    bool preallocate;
    /* In such a segment, write each group with O_DIRECT|O_DSYNC: one write
     * of whole 4 KiB blocks (the last partial block kept in memory and
     * written again), no page cache and no separate fdatasync. Falls back
     * to pwritev + fdatasync where the filesystem refuses it. */
    bool direct_io;
} ingest_journal_options_t;

/* Opens (creating, 0700) the journal in dir: locks it against a second
 * process, scans every segment, cuts bad tails, deletes segments below the
 * checkpoint. NULL on failure with the reason in err; a permission problem
 * names the uid, the directory's owner and mode, a held lock its holder's pid. */
ingest_journal_t *ingest_journal_open(const char *dir, const ingest_journal_options_t *options, char *err,
                                      size_t errlen);
/* Closes the journal (fsyncs what was written); safe to call twice. */
void ingest_journal_destroy(ingest_journal_t **self_p);
/* Called once per submitted append with its outcome and, when OK, the first
 * record's sequence (the rest follow). Runs on the flusher thread (or on the
 * submitting thread for an append refused at once): it must not block. */
typedef void (*ingest_journal_done_fn)(void *arg, ingest_journal_status_t status, uint64_t first_seq);

/* Queues count records (all or none; copied, items may be freed on return)
 * for the flusher thread, which writes everything queued with one pwritev,
 * fdatasyncs it once, and only then calls done for each append of the group. */
void ingest_journal_submit(ingest_journal_t *self, const ingest_journal_item_t *items, size_t count,
                           ingest_journal_done_fn done, void *arg);
/* Appends count records (all or none) and waits until they are durable
 * (ingest_journal_submit, then a wait). *first_seq gets the first record's
 * sequence (the rest follow). */
ingest_journal_status_t ingest_journal_append(ingest_journal_t *self, const ingest_journal_item_t *items, size_t count,
                                              uint64_t *first_seq) __attribute__((warn_unused_result));
/* A file descriptor that becomes readable when new records are durable (for
 * poll), once armed: commits do not signal it otherwise. */
int ingest_journal_notify_fd(const ingest_journal_t *self);
/* Arms the notify fd for the next durable commit (one signal per arming).
 * A reader arms it before it looks for records (then reads until none is
 * left), so a commit is either seen by that read or signals the fd. Readers
 * with no use for new records leave it unarmed, so group commits do not
 * wake them. */
void ingest_journal_notify_arm(ingest_journal_t *self);
/* Consumes the readiness of the notify fd. */
void ingest_journal_notify_clear(ingest_journal_t *self);
/* Starts cur at the checkpoint: the first record to read is the lowest unacked one. */
void ingest_journal_cursor_init(ingest_journal_t *self, ingest_journal_cursor_t *cur);
/* Closes the cursor's file; safe to call twice. */
void ingest_journal_cursor_close(ingest_journal_cursor_t *cur);
/* Reads the next durable record into buf (cap bytes): 0 with *seq and *len,
 * 1 when there is none yet, -1 on a read error or a record larger than cap. */
int ingest_journal_read(ingest_journal_t *self, ingest_journal_cursor_t *cur, uint64_t *seq, void *buf, size_t cap,
                        size_t *len) __attribute__((warn_unused_result));
/* Records that every sequence below low_seq is acknowledged: persists the
 * checkpoint (atomically) and deletes whole segments below it. 0 or -1. */
int ingest_journal_release(ingest_journal_t *self, uint64_t low_seq) __attribute__((warn_unused_result));
/* Current figures. */
void ingest_journal_stats(ingest_journal_t *self, ingest_journal_stats_t *out);
/* CRC-32 (IEEE 802.3, as zlib's crc32) of len bytes continuing from crc (0 to start). */
uint32_t ingest_journal_crc32(uint32_t crc, const void *data, size_t len);

#endif
