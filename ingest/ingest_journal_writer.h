/* ingest_journal_writer: the journal's group commit. Appends are encoded in
 * the submitting thread and queued; one flusher thread takes everything
 * queued, assigns sequences, writes the group at the end of the active
 * segment (one pwritev + one fdatasync, or in a preallocated segment one
 * O_DIRECT|O_DSYNC write of whole blocks) and only then reports each append
 * durable. It rolls to a new segment (the spare, when one is ready) when the
 * next append would pass the segment size. ingest_journal_submit and
 * ingest_journal_append (ingest_journal.h) are defined here. */
#ifndef INGEST_JOURNAL_WRITER_H
#define INGEST_JOURNAL_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "ingest_journal.h"

/* Creates the segment file for first_seq and makes it the active one: the
 * spare renamed, when one is ready, else a new empty file; opens it for
 * direct I/O when that is on and it is preallocated. 0, or -1 with err.
 * Lock held (or at open, before the threads start). */
int ingest_journal_writer_new_segment(ingest_journal_t *self, uint64_t first_seq, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Starts the flusher thread; 0, or -1. */
int ingest_journal_writer_start(ingest_journal_t *self) __attribute__((warn_unused_result));
/* Stops the flusher thread once every queued append is answered; safe if never started. */
void ingest_journal_writer_stop(ingest_journal_t *self);

#endif
