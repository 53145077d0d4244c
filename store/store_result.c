/* store_result: naming and classifying the store's results. */
#include "store_result.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

const char *store_result_name(store_result_t r)
{
    switch (r) {
    case STORE_OK: return "ok";
    case STORE_RETRY: return "retry";
    case STORE_DROPPED: return "dropped";
    case STORE_UNKNOWN_TENANT: return "unknown tenant";
    case STORE_DATA_ERROR: return "data error";
    }
    return "?";
}

/* Lost connection, server shutting down, or a conflict worth a retry. */
static store_result_t s_classify(PGconn *conn, const char *state)
{
    bool retry = PQstatus(conn) != CONNECTION_OK || strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
                 strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "53300") == 0;
    return retry ? STORE_RETRY : STORE_DATA_ERROR;
}

store_result_t store_result_of_failure(PGconn *conn, PGresult *res, const char *what, char *err, size_t errlen,
                                       char sqlstate[8])
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(sqlstate, 8, "%s", state ? state : "");
    const char *msg = res && *PQresultErrorMessage(res) ? PQresultErrorMessage(res) : PQerrorMessage(conn);
    snprintf(err, errlen, "%s: %s", what, msg);
    err[strcspn(err, "\n")] = '\0';
    PQclear(res);
    return s_classify(conn, sqlstate);
}

store_result_t store_result_of_pg(halo_pg_t *pg, const char *what, char *err, size_t errlen, char sqlstate[8])
{
    snprintf(sqlstate, 8, "%s", halo_pg_sqlstate(pg));
    snprintf(err, errlen, "%s: %s", what, halo_pg_error(pg));
    err[strcspn(err, "\n")] = '\0';
    return s_classify(halo_pg_conn(pg), sqlstate);
}
