/* ingest_journal_reader: reading the journal back. A cursor (plain data in
 * ingest_journal.h) follows the segments in order, reads only what is
 * durable, skips records below its starting checkpoint, and moves on when
 * its segment is complete or was compacted away. The notify eventfd tells
 * an armed reader that new records are durable. ingest_journal_cursor_*,
 * ingest_journal_read and ingest_journal_notify_* (ingest_journal.h) are
 * defined here. One reader thread (the main loop). */
#ifndef INGEST_JOURNAL_READER_H
#define INGEST_JOURNAL_READER_H

#include "ingest_journal.h"

/* Signals the notify fd if the reader armed it (then disarms it). Writer side, any thread. */
void ingest_journal_reader_signal(ingest_journal_t *self);

#endif
