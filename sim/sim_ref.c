/* sim_ref: see sim_ref.h. Field names and types follow the spec's schemas
 * (TStatus, Uname_List, SectionDetail_List, Policy, RequestType_List, SlaHead,
 * Area). One departure: Policy types its id as a string; halo-sim serves the
 * priority's number (priorityid) as id so tickets' priority_id finds it
 * (docs/sim.md). */
#include "sim_ref.h"

#include "sim_gen.h"
#include "sim_rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_COUNT(a) (sizeof(a) / sizeof((a)[0]))

typedef enum { S_STATUS = 0, S_AGENT, S_TEAM, S_PRIORITY, S_TICKETTYPE, S_SLA, S_CLIENT, S_KINDS } s_kind_t;

static const char *const s_resources[S_KINDS] = {"Status", "Agent", "Team", "Priority", "TicketType", "SLA", "Client"};

/* Halo's default statuses as a new tenant has them; 9 is Closed. */
static const struct {
    int id;
    const char *name, *shortname, *colour;
    int type, sequence;
} s_statuses[] = {
    {1, "New", "New", "#3b8eea", 0, 1},
    {2, "In Progress", "InProg", "#f0a30a", 0, 2},
    {3, "Action Required", "Action", "#e51400", 0, 3},
    {4, "Waiting on Customer", "WaitCust", "#a0a0a0", 0, 4},
    {5, "Waiting on Supplier", "WaitSupp", "#a0a0a0", 0, 5},
    {SIM_STATUS_CLOSED, "Closed", "Closed", "#60a917", 1, 9},
};
static const char *const s_agent_firsts[] = {"Sam", "Jo", "Ravi", "Ewa", "Tom", "Aisha"};
static const char *const s_agent_lasts[] = {"Fletcher", "Lindqvist", "Mensah", "Byrne"};
/* Priority id, name and fix hours (sim_gen's s_priority_hours). */
static const struct {
    int id;
    const char *name;
    int response_h, fix_h;
} s_priorities[] = {{1, "Critical", 1, 4}, {2, "High", 2, 8}, {3, "Medium", 4, 24}, {4, "Low", 8, 72}};
static const char *const s_tickettypes[] = {"Incident", "Service Request", "Problem", "Change Request"};
#define S_SLA_ID 1

/* Agent id's name (deterministic, distinct for ids 1..SIM_REF_AGENTS). */
static void s_agent_name(int id, char *buf, size_t len)
{
    snprintf(buf, len, "%s %s", s_agent_firsts[(id - 1) % S_COUNT(s_agent_firsts)],
             s_agent_lasts[(id - 1) / S_COUNT(s_agent_firsts) % S_COUNT(s_agent_lasts)]);
}

/* Number of teams sim_gen knows (sim_gen_team answers "" past the last). */
static int s_team_count(void)
{
    int n = 0;
    while (sim_gen_team(n)[0])
        n++;
    return n;
}

/* Row of kind k at position i (0-based) or NULL past the end; caller owns. */
static json_t *s_row(const sim_data_t *data, s_kind_t k, int i)
{
    char name[64];
    switch (k) {
    case S_STATUS:
        if (i >= (int)S_COUNT(s_statuses))
            return NULL;
        return json_pack("{s:i,s:s,s:s,s:i,s:i,s:s}", "id", s_statuses[i].id, "name", s_statuses[i].name, "shortname",
                         s_statuses[i].shortname, "type", s_statuses[i].type, "sequence", s_statuses[i].sequence,
                         "colour", s_statuses[i].colour);
    case S_AGENT:
        if (i >= SIM_REF_AGENTS)
            return NULL;
        s_agent_name(i + 1, name, sizeof name);
        return json_pack("{s:i,s:s,s:s,s:s,s:b,s:s}", "id", i + 1, "name", name, "email", "agent@example.com", "team",
                         sim_gen_team(i % s_team_count()), "isdisabled", 0, "use", "agent");
    case S_TEAM:
        if (i >= s_team_count())
            return NULL;
        return json_pack("{s:i,s:s,s:s,s:b,s:s}", "id", i + 1, "name", sim_gen_team(i), "department_name", "Service",
                         "inactive", 0, "use", "tickets");
    case S_PRIORITY:
        if (i >= (int)S_COUNT(s_priorities))
            return NULL;
        return json_pack("{s:i,s:i,s:s,s:i,s:f,s:s,s:f,s:s}", "id", s_priorities[i].id, "priorityid",
                         s_priorities[i].id, "name", s_priorities[i].name, "slaid", S_SLA_ID, "responsetime",
                         (double)s_priorities[i].response_h, "responseunits", "hours", "fixtime",
                         (double)s_priorities[i].fix_h, "fixunits", "hours");
    case S_TICKETTYPE:
        if (i >= (int)S_COUNT(s_tickettypes))
            return NULL;
        return json_pack("{s:i,s:s,s:s,s:s}", "id", i + 1, "name", s_tickettypes[i], "group_name", "Service Desk",
                         "use", "tickets");
    case S_SLA:
        if (i >= 1)
            return NULL;
        return json_pack("{s:i,s:s,s:b,s:b}", "id", S_SLA_ID, "name", "Standard SLA", "trackslaresponsetime", 1,
                         "trackslafixbytime", 1);
    case S_CLIENT:
        if (i >= data->nclients)
            return NULL;
        return json_pack("{s:I,s:s,s:s,s:b,s:b}", "id", (json_int_t)sim_rows_client_id(i), "name",
                         sim_rows_client_name(data, i), "toplevel_name", "Customers", "inactive", 0, "is_vip",
                         i % 7 == 0);
    default: return NULL;
    }
}

/* Every row of kind k (from position first, at most max rows); caller owns. */
static json_t *s_rows(const sim_data_t *data, s_kind_t k, int first, int max)
{
    json_t *arr = json_array();
    json_t *row;
    for (int i = first; arr && i - first < max && (row = s_row(data, k, i)) != NULL; i++)
        json_array_append_new(arr, row);
    return arr;
}

/* Number of rows of kind k. */
static int s_count(const sim_data_t *data, s_kind_t k)
{
    json_t *all = s_rows(data, k, 0, 1 << 30);
    int n = (int)json_array_size(all);
    json_decref(all);
    return n;
}

int sim_ref_get(const sim_data_t *data, const char *name, const char *id_text, bool paginate, int page_size,
                int page_no, json_t **out)
{
    int k = 0;
    while (k < S_KINDS && strcasecmp(name, s_resources[k]) != 0)
        k++;
    if (k == S_KINDS)
        return 0;
    *out = NULL;
    int n = s_count(data, (s_kind_t)k);
    if (id_text && *id_text) {
        char *end = NULL;
        long long id = strtoll(id_text, &end, 10);
        for (int i = 0; end != id_text && (*end == '\0' || *end == '/') && i < n && !*out; i++) {
            json_t *row = s_row(data, (s_kind_t)k, i);
            if (json_integer_value(json_object_get(row, "id")) == id)
                *out = row;
            else
                json_decref(row);
        }
        return 1;
    }
    if (k != S_CLIENT) {
        *out = s_rows(data, (s_kind_t)k, 0, n);
        return 1;
    }
    int size = paginate && page_size > 0 ? page_size : n;
    int page = paginate && page_no > 0 ? page_no : 1;
    long first = (long)(page - 1) * size;
    *out = json_pack("{s:i,s:i,s:i,s:o}", "page_no", page, "page_size", size, "record_count", n, "clients",
                     s_rows(data, S_CLIENT, first > n ? n : (int)first, size));
    return 1;
}

json_t *sim_ref_dump(const sim_data_t *data)
{
    json_t *out = json_object();
    for (int k = 0; k < S_KINDS; k++)
        json_object_set_new(out, s_resources[k], s_rows(data, (s_kind_t)k, 0, 1 << 30));
    return out;
}
