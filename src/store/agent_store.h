/* Agents table. Messages returned are allocated from the given arena. */
#ifndef BBB_AGENT_STORE_H
#define BBB_AGENT_STORE_H

#include "store/db.h"

#include "beebeebrain/v1/common.pb-c.h"
#include "common/arena.h"
#include <beebeebrain/status.h>

/* Inserts ag (every field but id, times and version); sets those.
 * RESOURCE_CONFLICT when the project has an agent of that name. */
int store_agent_insert(struct db *db, Beebeebrain__V1__Agent *ag, bbb_status *st);
/* AGENT_NOT_FOUND when absent. */
int store_agent_get(struct db *db, int64_t id, struct arena *a, Beebeebrain__V1__Agent **out, bbb_status *st);
/* Up to `limit` agents with id > after_id, ascending, the first `offset` of
 * them skipped; project 0 and status 0
 * match any. */
int store_agent_list(struct db *db, int64_t project_id, int status, int64_t after_id, int limit, int offset,
		     struct arena *a, Beebeebrain__V1__Agent ***out, size_t *n, int *more, bbb_status *st);
/* Writes ag's mutable fields where the row still has version ag->version;
 * bumps ag->version and updated_at. TASK_VERSION_CONFLICT when it changed,
 * RESOURCE_CONFLICT for a name taken in the project. */
int store_agent_save(struct db *db, Beebeebrain__V1__Agent *ag, bbb_status *st);
/* Deletes the agent after unassigning its tasks (each such task's version is
 * raised) and detaching its runs; *unassigned gets the number of tasks. */
int store_agent_delete(struct db *db, int64_t id, int *unassigned, bbb_status *st);

#endif
