/* store_result: the one result type of the store's writing code, and how a
 * PostgreSQL failure maps onto it (transient: retry later; otherwise the
 * batch's data is to blame). Every store function that can fail in more
 * than one way returns a store_result_t. */
#ifndef STORE_RESULT_H
#define STORE_RESULT_H

#include <libpq-fe.h>
#include <stddef.h>

#include "halo_pg.h"

typedef enum {
    STORE_OK = 0,         /* written (committed, for a transaction) */
    STORE_RETRY,          /* transient (connection lost, conflict, server busy): nothing written, try again later */
    STORE_DROPPED,        /* can never be written (unknown entity or tenant, fails even record by record): given up */
    STORE_UNKNOWN_TENANT, /* no tenant has the batch's slug (the batch is then dropped) */
    STORE_DATA_ERROR      /* a statement failed on the batch's data: roll back, write record by record, or drop */
} store_result_t;

/* A short lowercase name of r (logs, test messages), static. */
const char *store_result_name(store_result_t r);
/* Classifies the failed result res (may be NULL; cleared here) of a
 * statement on conn: STORE_RETRY or STORE_DATA_ERROR. Writes "what: message"
 * into err and the SQLSTATE (or "") into sqlstate. */
store_result_t store_result_of_failure(PGconn *conn, PGresult *res, const char *what, char *err, size_t errlen,
                                       char sqlstate[8]);
/* The same for a failure halo_pg recorded (a halo_ledger call on pg). */
store_result_t store_result_of_pg(halo_pg_t *pg, const char *what, char *err, size_t errlen, char sqlstate[8]);

#endif
