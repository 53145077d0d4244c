/* ingest_journal_prealloc: the journal's spare segment, the file that becomes
 * the next segment, written in advance so that an fdatasync after an append
 * has no file size or block allocation to commit (docs/ingest.md,
 * "Preallocated segments"). A spare is either a compacted segment kept
 * instead of deleted, or a file the preparer thread zero-fills (spare.tmp,
 * then renamed spare) once the active segment is half full. Functions
 * marked "lock held" expect the journal's lock. */
#ifndef INGEST_JOURNAL_PREALLOC_H
#define INGEST_JOURNAL_PREALLOC_H

#include <stdbool.h>
#include <stddef.h>

#include "ingest_journal.h"

/* At open: removes a half-written spare, keeps a finished one if it is big
 * enough and preallocation is on (else removes it too). */
void ingest_journal_prealloc_open(ingest_journal_t *self);
/* Starts the preparer thread; 0, or -1. */
int ingest_journal_prealloc_start(ingest_journal_t *self) __attribute__((warn_unused_result));
/* Stops and joins the preparer thread (a zero-fill under way is abandoned); safe if never started. */
void ingest_journal_prealloc_stop(ingest_journal_t *self);
/* Whether the preparer should zero-fill a spare now. Lock held. */
bool ingest_journal_prealloc_needed(const ingest_journal_t *self);
/* Wakes the preparer (a spare was used or may be needed). Lock held. */
void ingest_journal_prealloc_wake(ingest_journal_t *self);
/* When a spare is ready, renames it to the segment name (never over an
 * existing file) and returns it open for writing at path; -1 when there is
 * none or it could not be used (logged). Lock held. */
int ingest_journal_prealloc_take(ingest_journal_t *self, const char *name, const char *path);
/* Keeps the compacted segment at path as the spare, when none is ready or
 * being written and it is big enough. 0 if kept, -1 (then delete it). Lock not held. */
int ingest_journal_prealloc_recycle(ingest_journal_t *self, const char *path);

#endif
