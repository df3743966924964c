/* Task dependencies (see dep_store.h). */
#include "store/dep_store.h"

#include "common/clock.h"
#include "common/status.h"
#include "store/store.h"

int store_dep_insert(struct db *db, int64_t task_id, int64_t depends_on, const char *type, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	if (store_prepare(db,
			  "INSERT INTO task_dependencies (task_id, depends_on_task_id, dependency_type, created_at) "
			  "VALUES (?, ?, ?, ?)",
			  &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, task_id);
	db_bind_i64(stmt, 2, depends_on);
	db_bind_text(stmt, 3, type);
	db_bind_i64(stmt, 4, clock_now_ms());
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "insert dependency");
	return 0;
}

int store_dep_delete(struct db *db, int64_t task_id, int64_t depends_on, int *removed, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	if (store_prepare(db, "DELETE FROM task_dependencies WHERE task_id = ? AND depends_on_task_id = ?", &stmt,
			  st) != 0)
		return -1;
	db_bind_i64(stmt, 1, task_id);
	db_bind_i64(stmt, 2, depends_on);
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "delete dependency");
	*removed = db_changes(db) > 0;
	return 0;
}

int store_dep_edges(struct db *db, int64_t project_id, struct arena *a, struct task_edge **out, size_t *n,
		    bbb_status *st)
{
	struct db_stmt *stmt;
	size_t cap = 64;
	int rc;

	if (store_prepare(db,
			  "SELECT d.task_id, d.depends_on_task_id FROM task_dependencies d "
			  "JOIN tasks t ON t.id = d.task_id WHERE t.project_id = ?",
			  &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, project_id);
	*out = arena_alloc(a, sizeof(**out) * cap);
	*n = 0;
	while ((rc = db_step(stmt)) == DB_ROW) {
		if (*n == cap) {
			struct task_edge *bigger = arena_alloc(a, sizeof(**out) * cap * 2);
			for (size_t i = 0; i < *n; i++)
				bigger[i] = (*out)[i];
			*out = bigger;
			cap *= 2;
		}
		(*out)[*n].e_from = db_col_i64(stmt, 0);
		(*out)[*n].e_to = db_col_i64(stmt, 1);
		(*n)++;
	}
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "list dependencies");
	return 0;
}
