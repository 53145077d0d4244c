/* sim_rows: how sim_data keeps the simulated tenant: one compact C row per
 * object in a growable table per entity, ids = base + index (O(1) lookup),
 * deleted rows kept in place with a flag (tombstones for /_sim/dump). Beside
 * the rows sit what the list endpoints read on every request: a flags byte
 * and a filter date per row, refreshed by sim_rows_reindex() whenever a row
 * changes, and per sort field the row indexes in order, built on first use
 * and kept sorted by sim_rows_order_update(). The types are open because
 * sim_data's parts (generation in sim_gen, JSON in sim_render, queries and
 * mutations in sim_data) all read the rows; only sim_data is public. */
#ifndef SIM_ROWS_H
#define SIM_ROWS_H

#include "sim_data.h"
#include "sim_util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_TEXT_MAX 96
#define SIM_STATUS_CLOSED 9

/* Per-row quirk bits, drawn once per object. */
#define SIM_Q_LASTUPDATE_NO_US 0x01u /* ticket: "lastupdate" instead of "last_update" */
#define SIM_Q_CATEGORY1 0x02u        /* ticket: "category1" instead of "category_1" */
#define SIM_Q_CLIENT_DOUBLE 0x04u    /* client_id rendered as 21.0 */
#define SIM_Q_SITE_DOUBLE 0x08u      /* site_id rendered as 18.0 */
#define SIM_Q_FRACTION 0x10u         /* dates with milliseconds */
#define SIM_Q_NO_DUEDATE 0x20u       /* invoice: duedate 1900 (empty) */
#define SIM_Q_USER_DOUBLE 0x40u      /* user_id rendered as 3.0 */

/* Bits of a row that the list filters read. */
#define SIM_ROW_DELETED 0x01u
#define SIM_ROW_INACTIVE 0x02u
#define SIM_ROW_CLOSED 0x04u

typedef struct {
    char name[SIM_TEXT_MAX];
} sim_client_row_t;

typedef struct {
    int client; /* index */
    char name[SIM_TEXT_MAX];
    char phone[24];
    char city[32];
    int64_t lastupdate;
    int maincontact; /* user index or -1 */
    uint32_t quirks, version;
    bool inactive, deleted;
} sim_site_row_t;

typedef struct {
    int site; /* index or -1 */
    char first[24], last[32];
    char email[160];
    char phone[24];
    char jobtitle[32];
    int64_t lastupdate;
    uint32_t quirks, version;
    bool inactive, important, deleted;
} sim_user_row_t;

typedef struct {
    int user, site, client; /* indexes or -1 */
    int status_id, agent_id, team, priority_id, tickettype_id, sla_id, category;
    int64_t dateoccurred, fixby, respondby, response, closed, lastupdate;
    char summary[SIM_TEXT_MAX];
    uint32_t quirks, version;
    bool deleted;
} sim_ticket_row_t;

typedef struct {
    int client, site; /* indexes or -1 */
    int64_t invoice_date, duedate, lastupdate;
    int64_t net_cents, tax_cents, paid_cents;
    uint32_t quirks, version;
    bool posted, deleted;
} sim_invoice_row_t;

/* Sort fields of the list endpoints (Halo's "order" parameter). */
typedef enum {
    SIM_F_ID = 0,
    SIM_F_NAME,
    SIM_F_LASTUPDATE,
    SIM_F_DATE,
    SIM_F_CLIENT,
    SIM_F_STATUS,
    SIM_F_TOTAL,
    SIM_F_COUNT
} sim_field_t;

/* A growable array of rows of one size, plus the filter columns (flags, and
 * the date the date filters compare: last update, or invoice date for
 * invoices) and per sort field the row indexes in ascending order (NULL
 * until first asked for), all with the same capacity as the rows. */
typedef struct {
    void *rows;
    uint8_t *flags;     /* SIM_ROW_* */
    int64_t *filter_ms; /* epoch ms */
    uint32_t *order[SIM_F_COUNT];
    size_t n, cap, size;
} sim_table_t;

struct _sim_data_t {
    sim_data_params_t params;
    sim_client_row_t *clients;
    int nclients;
    sim_table_t tables[SIM_ENTITY_COUNT];
    sim_rng_t rng; /* mutation choices */
    int64_t last_mutation_ms;
    uint64_t mutations;
};

/* Sets each table's row size (before the first append). */
void sim_rows_init(sim_data_t *self);
/* Frees every table's arrays. */
void sim_rows_free(sim_data_t *self);
/* Row i of entity e (borrowed; cast to the entity's row type). */
void *sim_rows_row(const sim_data_t *self, sim_entity_t e, size_t i);
/* Appends a zeroed row; returns its index or -1 when full or out of memory. */
long sim_rows_append(sim_data_t *self, sim_entity_t e);
/* Halo id of row index of entity e. */
int64_t sim_rows_id(sim_entity_t e, size_t index);
/* Row index of id in entity e, or -1. */
long sim_rows_index(const sim_data_t *self, sim_entity_t e, int64_t id);
/* Whether row i of e is deleted. */
bool sim_rows_deleted(const sim_data_t *self, sim_entity_t e, size_t i);
/* Marks row i of e deleted or live (call sim_rows_reindex after). */
void sim_rows_set_deleted(sim_data_t *self, sim_entity_t e, size_t i, bool deleted);
/* Refreshes row i's filter columns from the row. */
void sim_rows_reindex(sim_data_t *self, sim_entity_t e, size_t i);
/* Live row index of entity e picked with r, or -1 when there is none. */
long sim_rows_pick_live(sim_data_t *self, sim_entity_t e, sim_rng_t *r);
/* Name of client index (borrowed; "" when out of range). */
const char *sim_rows_client_name(const sim_data_t *self, int client);
/* Halo id of client index, or -1. */
int64_t sim_rows_client_id(int client);
/* Sort field of Halo's "order" value; SIM_F_ID for NULL or unknown (Halo ignores what it does not know). */
sim_field_t sim_rows_field_parse(const char *name);
/* Row indexes of e in ascending order of f, built on first use; borrowed, NULL when out of memory. */
const uint32_t *sim_rows_order_get(sim_data_t *self, sim_entity_t e, sim_field_t f);
/* Moves row i to its place in every built order of e after it changed;
 * appended when i is a new row, not in the orders yet. */
void sim_rows_order_update(sim_data_t *self, sim_entity_t e, size_t i, bool appended);

#endif
