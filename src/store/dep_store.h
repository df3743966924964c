/* Task dependencies (task_dependencies): edges of the task graph. */
#ifndef BBB_DEP_STORE_H
#define BBB_DEP_STORE_H

#include "store/db.h"

#include "common/arena.h"
#include "domain/task_graph.h"
#include <beebeebrain/status.h>

/* Inserts task_id -> depends_on with the type's short text; RESOURCE_CONFLICT
 * when the pair exists (checked before by the domain rule). */
int store_dep_insert(struct db *db, int64_t task_id, int64_t depends_on, const char *type, bbb_status *st);
/* Removes the edge; *removed is 0 when there was none. */
int store_dep_delete(struct db *db, int64_t task_id, int64_t depends_on, int *removed, bbb_status *st);
/* Every edge between tasks of the project, into an arena array. */
int store_dep_edges(struct db *db, int64_t project_id, struct arena *a, struct task_edge **out, size_t *n,
		    bbb_status *st);

#endif
