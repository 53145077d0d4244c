/* halo_pg: a libpq connection with retrying connect, checked parameterized
 * execution and reconnection after a broken connection. */
#include "halo_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "halo_clock.h"
#include "halo_log.h"

#define PG_ERR_MAX 1024
#define PG_RETRY_FIRST_MS 100
#define PG_RETRY_MAX_MS 2000

struct _halo_pg_t {
    char *conninfo;
    PGconn *conn;
    char error[PG_ERR_MAX];
    char sqlstate[8];
    bool lost;
    /* Statements prepared on this connection (halo_pg_exec_prepared): the
     * text's address, named halo_p<index>; forgotten at each (re)connect. */
    const char *prepared[HALO_PG_PREPARED_MAX];
    int nprepared;
};

/* One connection attempt; 0 or -1 with error set. */
static int s_connect(halo_pg_t *self)
{
    if (self->conn)
        PQfinish(self->conn);
    self->nprepared = 0; /* a new session has none */
    /* The process name as application_name unless the URL sets one: who
     * holds what shows in pg_stat_activity (and the benchmarks split
     * PostgreSQL's CPU by it). */
    const char *const keys[] = {"dbname", "fallback_application_name", NULL};
    const char *const values[] = {self->conninfo, halo_log_process(), NULL};
    self->conn = PQconnectdbParams(keys, values, 1);
    if (!self->conn || PQstatus(self->conn) != CONNECTION_OK) {
        snprintf(self->error, sizeof self->error, "%s", self->conn ? PQerrorMessage(self->conn) : "out of memory");
        self->error[strcspn(self->error, "\n")] = '\0';
        return -1;
    }
    /* Quiet NOTICEs (e.g. IF NOT EXISTS) so they do not clutter stderr. */
    PGresult *res = PQexec(self->conn, "SET client_min_messages = warning");
    PQclear(res);
    return 0;
}

/* Checks that conninfo parses, without ever echoing it (libpq's parse
 * errors quote the text, which may hold the password), and registers its
 * password as a log secret. 0, or -1 with a generic reason in err. */
static int s_check_conninfo(const char *conninfo, char *err, size_t errlen)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
    if (!opts) {
        snprintf(err, errlen, "invalid connection string (libpq cannot parse it; value not shown)");
        PQfreemem(perr);
        return -1;
    }
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val && *o->val)
            halo_log_add_secret(o->val);
    PQconninfoFree(opts);
    return 0;
}

halo_pg_t *halo_pg_new(const char *conninfo, int wait_ms, char *err, size_t errlen)
{
    if (s_check_conninfo(conninfo, err, errlen) != 0)
        return NULL; /* retrying cannot fix a malformed string */
    halo_pg_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->conninfo = strdup(conninfo);
    if (!self->conninfo) {
        snprintf(err, errlen, "out of memory");
        free(self);
        return NULL;
    }
    int64_t deadline = halo_clock_mono_ms() + wait_ms;
    int64_t delay = PG_RETRY_FIRST_MS;
    while (s_connect(self) != 0) {
        if (halo_clock_mono_ms() + delay > deadline) {
            snprintf(err, errlen, "%s", self->error);
            halo_pg_destroy(&self);
            return NULL;
        }
        halo_clock_sleep_ms(delay);
        delay = delay * 2 > PG_RETRY_MAX_MS ? PG_RETRY_MAX_MS : delay * 2;
    }
    return self;
}

void halo_pg_destroy(halo_pg_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    halo_pg_t *self = *self_p;
    if (self->conn)
        PQfinish(self->conn);
    free(self->conninfo);
    free(self);
    *self_p = NULL;
}

PGconn *halo_pg_conn(halo_pg_t *self)
{
    return self->conn;
}

int halo_pg_ensure(halo_pg_t *self)
{
    if (self->conn && PQstatus(self->conn) == CONNECTION_OK)
        return 0;
    if (s_connect(self) != 0) {
        self->lost = true;
        return -1;
    }
    HALO_INFO("reconnected to postgresql", "");
    return 0;
}

/* Records the failure of res (may be NULL) and clears it. */
static void s_fail(halo_pg_t *self, PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(self->sqlstate, sizeof self->sqlstate, "%s", state ? state : "");
    snprintf(self->error, sizeof self->error, "%s",
             res && *PQresultErrorMessage(res) ? PQresultErrorMessage(res) : PQerrorMessage(self->conn));
    self->error[strcspn(self->error, "\n")] = '\0';
    self->lost = PQstatus(self->conn) != CONNECTION_OK || strncmp(self->sqlstate, "08", 2) == 0 ||
                 strcmp(self->sqlstate, "57P01") == 0;
    PQclear(res);
}

/* The prepared name of sql on this connection (preparing it now), or -1
 * with the failure recorded; -2: no room left (run it unprepared). */
static int s_prepared(halo_pg_t *self, const char *sql, int nparams)
{
    for (int i = 0; i < self->nprepared; i++)
        if (self->prepared[i] == sql)
            return i;
    if (self->nprepared == HALO_PG_PREPARED_MAX)
        return -2;
    char name[32];
    snprintf(name, sizeof name, "halo_p%d", self->nprepared);
    PGresult *res = PQprepare(self->conn, name, sql, nparams, NULL);
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
        s_fail(self, res);
        return -1;
    }
    PQclear(res);
    self->prepared[self->nprepared] = sql;
    return self->nprepared++;
}

/* halo_pg_exec, or halo_pg_exec_prepared when prepare. */
static PGresult *s_exec(halo_pg_t *self, const char *sql, int nparams, const char *const *params, bool prepare)
{
    self->error[0] = '\0';
    self->sqlstate[0] = '\0';
    self->lost = false;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (halo_pg_ensure(self) != 0)
            return NULL;
        bool in_tx = PQtransactionStatus(self->conn) != PQTRANS_IDLE;
        int slot = prepare ? s_prepared(self, sql, nparams) : -2;
        PGresult *res = NULL;
        if (slot == -2) {
            res = PQexecParams(self->conn, sql, nparams, NULL, params, NULL, NULL, 0);
        } else if (slot >= 0) {
            char name[32];
            snprintf(name, sizeof name, "halo_p%d", slot);
            res = PQexecPrepared(self->conn, name, nparams, params, NULL, NULL, 0);
        }
        if (slot != -1) {
            ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
            if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
                return res;
            s_fail(self, res);
        }
        /* Retry once on a fresh connection, but never inside a transaction:
         * its earlier statements died with the old connection. */
        if (!self->lost || in_tx || attempt > 0)
            return NULL;
        if (s_connect(self) != 0)
            return NULL;
        HALO_WARN("postgresql connection lost, reconnected", "");
    }
    return NULL;
}

PGresult *halo_pg_exec(halo_pg_t *self, const char *sql, int nparams, const char *const *params)
{
    return s_exec(self, sql, nparams, params, false);
}

PGresult *halo_pg_exec_prepared(halo_pg_t *self, const char *sql, int nparams, const char *const *params)
{
    return s_exec(self, sql, nparams, params, true);
}

int halo_pg_command(halo_pg_t *self, const char *sql, int nparams, const char *const *params)
{
    PGresult *res = halo_pg_exec(self, sql, nparams, params);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

int halo_pg_exec_script(halo_pg_t *self, const char *sql)
{
    if (halo_pg_ensure(self) != 0)
        return -1;
    PGresult *res = PQexec(self->conn, sql);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        PQclear(res);
        return 0;
    }
    s_fail(self, res);
    return -1;
}

bool halo_pg_lost(const halo_pg_t *self)
{
    return self->lost;
}

const char *halo_pg_sqlstate(const halo_pg_t *self)
{
    return self->sqlstate;
}

const char *halo_pg_error(const halo_pg_t *self)
{
    return self->error;
}

void halo_pg_ids_text(const int64_t *ids, int n, char *out, size_t outlen)
{
    if (outlen < 3) {
        if (outlen)
            out[0] = '\0';
        return;
    }
    size_t used = 0;
    out[used++] = '{';
    for (int i = 0; i < n; i++) {
        char one[24];
        int len = snprintf(one, sizeof one, "%s%lld", i ? "," : "", (long long)ids[i]);
        if (len < 0 || used + (size_t)len + 2 > outlen)
            break;
        memcpy(out + used, one, (size_t)len);
        used += (size_t)len;
    }
    out[used++] = '}';
    out[used] = '\0';
}
