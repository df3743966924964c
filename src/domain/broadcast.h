/*
 * BroadcastCommand rules (docs/protocol.md, Services): one task command over up to 200
 * tasks of a project, chosen by id or by status, each with its own outcome.
 * Pure: the service selects the rows, these functions check the request and
 * name the outcomes.
 */
#ifndef BBB_BROADCAST_H
#define BBB_BROADCAST_H

#include <stddef.h>
#include <stdint.h>

#include <beebeebrain/status.h>

#include "domain/task_state.h"

#define BROADCAST_MAX 200

/* Checks the request's ids, their expected versions (none, or one per id)
 * and limit (0 -> BROADCAST_MAX, else 1..BROADCAST_MAX), adding a violation
 * for each offending field. On success removes repeated ids in place (the
 * first one and its version stay), sets *n_out to the ids left and *limit_out
 * to the number of tasks to select by status. */
int broadcast_check(bbb_status *st, task_command cmd, int64_t *ids, int64_t *versions, size_t n_ids, size_t n_versions,
		    int32_t limit, size_t *n_out, int *limit_out);

/* The statuses a command can act on, as a bit set (1 << status): what a
 * broadcast without ids and without a status filter selects. */
unsigned broadcast_default_statuses(task_command cmd);

/* The outcome of one target from the refusal of its command (code 0 = the
 * command was applied): "applied", "conflict" for TASK_VERSION_CONFLICT,
 * "rejected" for anything else. */
const char *broadcast_outcome(const bbb_status *refusal);

#endif
