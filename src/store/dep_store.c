/* Task dependencies (see dep_store.h). */
#include "store/dep_store.h"

#include "common/clock.h"
#include "common/status.h"
#include "store/store.h"

int store_dep_insert(sqlite3 *db, int64_t task_id, int64_t depends_on, const char *type, bbb_status *st)
{
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(db,
			  "INSERT INTO task_dependencies (task_id, depends_on_task_id, dependency_type, created_at) "
			  "VALUES (?, ?, ?, ?)",
			  &stmt, st) != 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, task_id);
	sqlite3_bind_int64(stmt, 2, depends_on);
	sqlite3_bind_text(stmt, 3, type, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 4, clock_now_ms());
	rc = sqlite3_step(stmt);
	store_release(stmt);
	if (rc != SQLITE_DONE)
		return store_fail(st, db, rc, "insert dependency");
	return 0;
}

int store_dep_delete(sqlite3 *db, int64_t task_id, int64_t depends_on, int *removed, bbb_status *st)
{
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(db, "DELETE FROM task_dependencies WHERE task_id = ? AND depends_on_task_id = ?", &stmt,
			  st) != 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, task_id);
	sqlite3_bind_int64(stmt, 2, depends_on);
	rc = sqlite3_step(stmt);
	store_release(stmt);
	if (rc != SQLITE_DONE)
		return store_fail(st, db, rc, "delete dependency");
	*removed = sqlite3_changes(db) > 0;
	return 0;
}

int store_dep_edges(sqlite3 *db, int64_t project_id, struct arena *a, struct task_edge **out, size_t *n, bbb_status *st)
{
	sqlite3_stmt *stmt;
	size_t cap = 64;
	int rc;

	if (store_prepare(db,
			  "SELECT d.task_id, d.depends_on_task_id FROM task_dependencies d "
			  "JOIN tasks t ON t.id = d.task_id WHERE t.project_id = ?",
			  &stmt, st) != 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, project_id);
	*out = arena_alloc(a, sizeof(**out) * cap);
	*n = 0;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (*n == cap) {
			struct task_edge *bigger = arena_alloc(a, sizeof(**out) * cap * 2);
			for (size_t i = 0; i < *n; i++)
				bigger[i] = (*out)[i];
			*out = bigger;
			cap *= 2;
		}
		(*out)[*n].e_from = sqlite3_column_int64(stmt, 0);
		(*out)[*n].e_to = sqlite3_column_int64(stmt, 1);
		(*n)++;
	}
	store_release(stmt);
	if (rc != SQLITE_DONE)
		return store_fail(st, db, rc, "list dependencies");
	return 0;
}
