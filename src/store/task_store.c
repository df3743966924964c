/* Tasks: rows <-> Beebeebrain__V1__Task. Status is stored as its short text. */
#include "store/task_store.h"

#include "common/clock.h"
#include "common/enum_text.h"
#include "common/status.h"
#include "store/store.h"

#define TASK_COLS                                                                                                      \
	"id, project_id, title, description, status, priority, coalesce(assignee_agent_id, 0), "                       \
	"coalesce(parent_task_id, 0), coalesce(due_at, 0), created_at, updated_at, version"

static Beebeebrain__V1__Task *task_row(sqlite3_stmt *stmt, struct arena *a)
{
	Beebeebrain__V1__Task *t = (Beebeebrain__V1__Task *)arena_message(a, &beebeebrain__v1__task__descriptor);
	int status = 0;

	t->id = sqlite3_column_int64(stmt, 0);
	t->project_id = sqlite3_column_int64(stmt, 1);
	t->title = store_col_text(a, stmt, 2);
	t->description = store_col_text(a, stmt, 3);
	enum_from_text(&beebeebrain__v1__task_status__descriptor, (const char *)sqlite3_column_text(stmt, 4), &status);
	t->status = (Beebeebrain__V1__TaskStatus)status;
	t->priority = sqlite3_column_int(stmt, 5);
	t->assignee_agent_id = sqlite3_column_int64(stmt, 6);
	t->parent_task_id = sqlite3_column_int64(stmt, 7);
	t->due_at_ms = sqlite3_column_int64(stmt, 8);
	t->created_at_ms = sqlite3_column_int64(stmt, 9);
	t->updated_at_ms = sqlite3_column_int64(stmt, 10);
	t->version = sqlite3_column_int64(stmt, 11);
	return t;
}

int store_task_insert(sqlite3 *db, Beebeebrain__V1__Task *t, bbb_status *st)
{
	sqlite3_stmt *stmt;
	char status[32];
	int rc;

	if (store_prepare(db,
			  "INSERT INTO tasks (project_id, title, description, status, priority, assignee_agent_id, "
			  "parent_task_id, due_at, created_at, updated_at, version) "
			  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
			  &stmt, st) != 0)
		return -1;
	t->created_at_ms = t->updated_at_ms = clock_now_ms();
	t->version = 1;
	enum_text(&beebeebrain__v1__task_status__descriptor, t->status, status, sizeof(status));
	sqlite3_bind_int64(stmt, 1, t->project_id);
	sqlite3_bind_text(stmt, 2, t->title, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, t->description, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, status, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 5, t->priority);
	store_bind_id_or_null(stmt, 6, t->assignee_agent_id);
	store_bind_id_or_null(stmt, 7, t->parent_task_id);
	store_bind_id_or_null(stmt, 8, t->due_at_ms);
	sqlite3_bind_int64(stmt, 9, t->created_at_ms);
	sqlite3_bind_int64(stmt, 10, t->updated_at_ms);
	rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return store_fail(st, db, rc, "insert task");
	t->id = sqlite3_last_insert_rowid(db);
	return 0;
}

int store_task_get(sqlite3 *db, int64_t id, struct arena *a, Beebeebrain__V1__Task **out, bbb_status *st)
{
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(db, "SELECT " TASK_COLS " FROM tasks WHERE id = ?", &stmt, st) != 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*out = task_row(stmt, a);
	sqlite3_finalize(stmt);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return status_fail(st, "TASK_NOT_FOUND", "task %lld does not exist", (long long)id);
	return store_fail(st, db, rc, "get task");
}

int store_task_list(sqlite3 *db, const struct task_filter *f, int64_t after_id, int limit, struct arena *a,
		    Beebeebrain__V1__Task ***out, size_t *n, int *more, bbb_status *st)
{
	sqlite3_stmt *stmt;
	char status[32] = "";
	int rc;

	if (store_prepare(db,
			  "SELECT " TASK_COLS " FROM tasks WHERE id > ?1 AND (?2 = 0 OR project_id = ?2) "
			  "AND (?3 = '' OR status = ?3) AND (?4 = 0 OR assignee_agent_id = ?4) "
			  "ORDER BY id LIMIT ?5",
			  &stmt, st) != 0)
		return -1;
	if (f->tf_status != 0)
		enum_text(&beebeebrain__v1__task_status__descriptor, f->tf_status, status, sizeof(status));
	sqlite3_bind_int64(stmt, 1, after_id);
	sqlite3_bind_int64(stmt, 2, f->tf_project_id);
	sqlite3_bind_text(stmt, 3, status, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 4, f->tf_assignee_id);
	sqlite3_bind_int(stmt, 5, limit + 1);
	*out = arena_alloc(a, sizeof(**out) * (size_t)(limit + 1));
	*n = 0;
	*more = 0;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if ((int)*n == limit) {
			*more = 1;
			break;
		}
		(*out)[(*n)++] = task_row(stmt, a);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_fail(st, db, rc, "list tasks");
	return 0;
}

int store_agent_project(sqlite3 *db, int64_t id, int64_t *project_id, bbb_status *st)
{
	sqlite3_stmt *stmt;
	int rc;

	*project_id = 0;
	if (store_prepare(db, "SELECT project_id FROM agents WHERE id = ?", &stmt, st) != 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*project_id = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return status_fail(st, "AGENT_NOT_FOUND", "agent %lld does not exist", (long long)id);
	return store_fail(st, db, rc, "get agent");
}
