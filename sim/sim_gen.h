/* sim_gen: the random content of sim_data: the dataset generated from a seed
 * and sizes, new objects and the random changes mutations make, all drawn
 * from per-object random streams (seed, entity, index) so one object does not
 * change when another size changes. */
#ifndef SIM_GEN_H
#define SIM_GEN_H

#include "sim_rows.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define SIM_GEN_SPAN_MS (365 * 24LL * 3600 * 1000) /* generated history length, ending at epoch_ms */

/* Generates clients, sites, users, tickets and invoices from self->params
 * into the empty tables, referentially consistent. 0, or -1 when out of memory. */
int sim_gen_dataset(sim_data_t *self);
/* Appends a new object of e created at now; returns its index or -1. */
long sim_gen_create(sim_data_t *self, sim_entity_t e, int64_t now);
/* Changes something in row i of e at now (self->rng decides what);
 * *status_changed tells whether a ticket's status changed and Halo's finer
 * event is to be sent. */
void sim_gen_update(sim_data_t *self, sim_entity_t e, size_t i, int64_t now, bool *status_changed);
/* An invoice's lines (appended to lines when not NULL) and totals in cents, a
 * pure function of (seed, id), so they never need storing. */
void sim_gen_invoice_lines(const sim_data_t *self, int64_t id, json_t *lines, int64_t *net, int64_t *tax);
/* Name of team index (borrowed). */
const char *sim_gen_team(int team);
/* Name of category index (borrowed). */
const char *sim_gen_category(int category);

#endif
