/* ingest_journal_format: what the journal's files look like on disk, and
 * nothing else (no threads, no journal state). A record is magic "HJR1"
 * (u32 LE), payload length (u32 LE), sequence (u64 LE), CRC-32 (u32 LE) of
 * the payload followed by the 16 header bytes before it, then the payload.
 * Segment files are named by the sequence of their first record, 20 digits,
 * ".seg"; the checkpoint file holds the lowest unacknowledged sequence in
 * decimal. Here: encoding and checking records, naming and listing
 * segments, the scan at open that keeps a segment's valid prefix and cuts
 * the rest (tail repair), and the checkpoint file. Format in docs/ingest.md. */
#ifndef INGEST_JOURNAL_FORMAT_H
#define INGEST_JOURNAL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest_journal.h"

#define INGEST_JOURNAL_MAGIC 0x31524A48u /* "HJR1" little-endian */
#define INGEST_JOURNAL_NAME_DIGITS 20
#define INGEST_JOURNAL_SUFFIX ".seg"
#define INGEST_JOURNAL_PATH_MAX 4096
#define INGEST_JOURNAL_DIR_MODE 0700  /* events carry tenant data: owner only */
#define INGEST_JOURNAL_FILE_MODE 0600 /* segments, spare, lock, checkpoint */
/* The scan's read buffer: 1 MiB reads plus room for one whole record. */
#define INGEST_JOURNAL_SCAN_BUF (1024 * 1024 + INGEST_JOURNAL_MAX_RECORD + INGEST_JOURNAL_HEADER)

/* One segment file: its name and the bytes of whole records in it. */
typedef struct {
    uint64_t first_seq;
    uint64_t size;
} ingest_journal_segment_t;

/* A growable array of segments, sorted by first_seq (plain data). */
typedef struct {
    ingest_journal_segment_t *v;
    size_t n;
    size_t cap;
} ingest_journal_segments_t;

/* What the scans at open cut: torn or corrupt tails, and unused space. */
typedef struct {
    uint64_t cut_bytes;    /* torn or corrupt tails (logged at warn) */
    uint64_t unused_bytes; /* zeros or a recycled file's old records after the last record */
} ingest_journal_scan_t;

/* Stores v at p, little-endian. */
void ingest_journal_put32(unsigned char *p, uint32_t v);
/* Stores v at p, little-endian. */
void ingest_journal_put64(unsigned char *p, uint64_t v);
/* Reads a little-endian u32 at p. */
uint32_t ingest_journal_get32(const unsigned char *p);
/* Reads a little-endian u64 at p. */
uint64_t ingest_journal_get64(const unsigned char *p);
/* Checks a header's magic, length bound and sequence; 0 with *len and *seq, -1 if not a record. */
int ingest_journal_header_check(const unsigned char *h, uint32_t *len, uint64_t *seq);
/* Whether the header's CRC matches the payload of len bytes and the header. */
bool ingest_journal_crc_check(const unsigned char *h, const void *payload, uint32_t len);
/* Writes magic and length into a record's header (sequence and CRC come later). */
void ingest_journal_header_begin(unsigned char *h, uint32_t len);
/* Fills in a begun header's sequence and CRC, from the payload's CRC (ingest_journal_crc32). */
void ingest_journal_header_seal(unsigned char *h, uint64_t seq, uint32_t payload_crc);
/* The segment's file name ("<20 digits>.seg") into name. */
void ingest_journal_segment_name(uint64_t first_seq, char *name, size_t cap);
/* The segment's path under dir into path. */
void ingest_journal_segment_path(const char *dir, uint64_t first_seq, char *path, size_t cap);
/* Appends a segment to segs; 0, or -1 out of memory. */
int ingest_journal_segments_push(ingest_journal_segments_t *segs, uint64_t first_seq, uint64_t size)
    __attribute__((warn_unused_result));
/* Removes the first count segments of segs. */
void ingest_journal_segments_drop(ingest_journal_segments_t *segs, size_t count);
/* Lists dir's segment files into segs (sorted, sizes 0); 0, or -1 with err. */
int ingest_journal_segments_list(const char *dir, ingest_journal_segments_t *segs, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Scans one segment with buf (INGEST_JOURNAL_SCAN_BUF bytes): keeps the
 * valid prefix of records with increasing sequences (seg->size), cuts and
 * counts the rest in tally; updates *last_seq. 0, or -1 with err. */
int ingest_journal_segment_scan(const char *dir, ingest_journal_segment_t *seg, unsigned char *buf, uint64_t *last_seq,
                                ingest_journal_scan_t *tally, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* The sequence in dir's checkpoint file, 0 if there is none. */
uint64_t ingest_journal_checkpoint_read(const char *dir);
/* Writes the checkpoint file atomically: a temporary file (never through a
 * symlink planted at its name), fsync, rename, fsync of the directory
 * (dir_fd). 0, or -1 with errno. */
int ingest_journal_checkpoint_write(const char *dir, int dir_fd, uint64_t low_seq) __attribute__((warn_unused_result));

#endif
