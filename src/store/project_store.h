/* Projects table. Messages returned are allocated from the given arena. */
#ifndef BBB_PROJECT_STORE_H
#define BBB_PROJECT_STORE_H

#include "store/db.h"

#include "beebeebrain/v1/common.pb-c.h"
#include "common/arena.h"
#include <beebeebrain/status.h>

/* Inserts p (name, root_path); sets id, times and version 1.
 * RESOURCE_CONFLICT when the root_path is taken. */
int store_project_insert(struct db *db, Beebeebrain__V1__Project *p, bbb_status *st);
/* PROJECT_NOT_FOUND when absent. */
int store_project_get(struct db *db, int64_t id, struct arena *a, Beebeebrain__V1__Project **out, bbb_status *st);
/* The project system items (incidents) are filed under: "default", else the
 * oldest project; 0 when there is none. */
int64_t store_project_id_any(struct db *db);
/* Id of the project with this name (lowest id if several), 0 when none. */
int64_t store_project_id_by_name(struct db *db, const char *name);
/* Up to `limit` projects with id > after_id, ascending, the first `offset` of
 * them skipped; *more set when more follow. */
int store_project_list(struct db *db, int64_t after_id, int limit, int offset, struct arena *a,
		       Beebeebrain__V1__Project ***out, size_t *n, int *more, bbb_status *st);
/* Every project's root_path, in id order, into (*roots)[0..*n) from the
 * arena (readiness checks them all). */
int store_project_roots(struct db *db, struct arena *a, const char ***roots, size_t *n, bbb_status *st);

#endif
