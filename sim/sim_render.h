/* sim_render: sim_data's rows as Halo renders them: a list row, a single GET,
 * or a single GET with includedetails, quirks included (ids as doubles, -1
 * for unset, zone-less dates with or without milliseconds, 1900 for empty,
 * the entity's own spelling of its last-update field). */
#ifndef SIM_RENDER_H
#define SIM_RENDER_H

#include "sim_rows.h"

#include <jansson.h>

/* Row i of entity e in the given view; caller owns, NULL for a bad entity. */
json_t *sim_render_row(const sim_data_t *self, sim_entity_t e, size_t i, sim_view_t view);

#endif
