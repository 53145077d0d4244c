/* sim_ref: halo-sim's reference data, the lookups a Halo ticket's ids point
 * at, served as Halo's published spec shapes them: GET /Status (TStatus),
 * /Agent (Uname_List), /Team (SectionDetail_List), /Priority (Policy),
 * /TicketType (RequestType_List) and /SLA (SlaHead) answer a bare JSON array;
 * /Client answers {"record_count", "clients": [...]} (Area), paginated like
 * the other lists. The sets are fixed and match what sim_gen draws tickets
 * from (status 1-5 open and 9 Closed, agents 1..SIM_REF_AGENTS, the teams of
 * sim_gen_team, priorities 1-4, ticket types 1-4, SLA 1) and the tenant's
 * generated clients, so every id a ticket carries has a row here. */
#ifndef SIM_REF_H
#define SIM_REF_H

#include "sim_data.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define SIM_REF_AGENTS 12 /* agent ids 1..12 */

/* The answer to GET /{name}[/{id_text}] when name is a reference resource
 * (any case): 1 with *out set (caller owns; NULL for an unknown id: 404), or
 * 0 when name is not one (*out untouched). paginate/page_size/page_no apply
 * to /Client only, as Halo's other lookups take no paging. */
int sim_ref_get(const sim_data_t *data, const char *name, const char *id_text, bool paginate, int page_size,
                int page_no, json_t **out);
/* Every reference list, keyed by resource ("Status", "Agent", ... "Client"
 * with all clients), for /_sim/dump; caller owns. */
json_t *sim_ref_dump(const sim_data_t *data);

#endif
