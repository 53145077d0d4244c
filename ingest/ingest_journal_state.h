/* ingest_journal_state: the journal object's fields, shared by the files of
 * the journal and by nothing else (ingest_journal.c: open, compaction,
 * stats; ingest_journal_writer.c: group commit; ingest_journal_prealloc.c:
 * the spare segment; ingest_journal_reader.c: cursors). Everyone else sees
 * the opaque ingest_journal_t of ingest_journal.h. Which lock guards what
 * is said field by field: `lock` for the segment list, sizes, sequences and
 * the spare; `queue_lock` for the appends waiting for the flusher. */
#ifndef INGEST_JOURNAL_STATE_H
#define INGEST_JOURNAL_STATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ingest_journal.h"
#include "ingest_journal_format.h"

/* The spare segment's state (lock held to read or change it). */
typedef enum {
    INGEST_JOURNAL_SPARE_NONE,
    INGEST_JOURNAL_SPARE_PREPARING,
    INGEST_JOURNAL_SPARE_READY
} ingest_journal_spare_t;

/* One submitted append (the writer's, ingest_journal_writer.c). */
typedef struct ingest_journal_pending ingest_journal_pending_t;

struct _ingest_journal_t {
    char *dir;
    int dir_fd;
    int lock_fd;
    int notify_fd;
    bool notify_armed; /* the reader waits for the next commit (atomic) */
    uint64_t segment_bytes;
    uint64_t max_bytes;
    pthread_mutex_t lock;           /* the state below; held by the flusher across I/O only to roll a segment */
    ingest_journal_segments_t segs; /* sorted by first_seq; the last one is active */
    int active_fd;
    uint64_t bytes;
    uint64_t next_seq;
    uint64_t durable_seq;     /* last record fsynced */
    uint64_t durable_segment; /* readers read this segment up to durable_offset... */
    uint64_t durable_offset;  /* ...and segments before it whole */
    bool failed;
    uint64_t checkpoint;        /* lowest unacknowledged sequence (in memory) */
    uint64_t checkpoint_saved;  /* ...and in the checkpoint file */
    bool checkpoint_failing;    /* the last write failed (release's thread only) */
    ingest_journal_scan_t scan; /* what the scans at open cut */
    /* Preallocation: a spare file of at least segment_bytes whose blocks are
     * written (zeros, or a compacted segment's old records) becomes the next
     * segment, so an fdatasync after a write inside it has no file size or
     * extent to commit. The preparer thread zero-fills one when there is none. */
    bool preallocate;
    bool active_prealloc; /* the active segment is such a file */
    ingest_journal_spare_t spare;
    uint64_t spares_zeroed;   /* spares the preparer wrote */
    uint64_t spares_recycled; /* compacted segments kept as the spare */
    pthread_cond_t prep_cond; /* with lock: the spare was used, or stop */
    bool prep_stop;
    bool prep_started;
    bool spare_failing; /* the last zero-fill failed (preparer thread only) */
    pthread_t preparer;
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
    /* Appends waiting for the flusher thread (the only writer of segments). */
    pthread_mutex_t queue_lock;
    pthread_cond_t queue_cond;
    ingest_journal_pending_t *queue_head;
    ingest_journal_pending_t **queue_tail;
    bool flusher_idle; /* waiting on queue_cond: a submit must signal it */
    bool flusher_stop;
    bool flusher_started;
    pthread_t flusher;
};

#endif
