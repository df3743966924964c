/* Projects: rows <-> Beebeebrain__V1__Project. */
#include "store/project_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/status.h"
#include "common/xalloc.h"
#include "store/store.h"

#define PROJECT_COLS "id, name, root_path, created_at, updated_at, version"

static void *project_row(sqlite3_stmt *stmt, struct arena *a)
{
	Beebeebrain__V1__Project *p =
		(Beebeebrain__V1__Project *)arena_message(a, &beebeebrain__v1__project__descriptor);

	p->id = sqlite3_column_int64(stmt, 0);
	p->name = store_col_text(a, stmt, 1);
	p->root_path = store_col_text(a, stmt, 2);
	p->created_at_ms = sqlite3_column_int64(stmt, 3);
	p->updated_at_ms = sqlite3_column_int64(stmt, 4);
	p->version = sqlite3_column_int64(stmt, 5);
	return p;
}

int store_project_insert(sqlite3 *db, Beebeebrain__V1__Project *p, bbb_status *st)
{
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(db,
			  "INSERT INTO projects (name, root_path, created_at, updated_at, version) "
			  "VALUES (?, ?, ?, ?, 1)",
			  &stmt, st) != 0)
		return -1;
	p->created_at_ms = p->updated_at_ms = clock_now_ms();
	p->version = 1;
	sqlite3_bind_text(stmt, 1, p->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, p->root_path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, p->created_at_ms);
	sqlite3_bind_int64(stmt, 4, p->updated_at_ms);
	rc = sqlite3_step(stmt);
	store_release(stmt);
	if (rc != SQLITE_DONE) {
		if (sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_UNIQUE) {
			store_fail(st, db, rc, "create project");
			snprintf(st->message, sizeof(st->message), "a project with root_path %.400s already exists",
				 p->root_path);
			return -1;
		}
		return store_fail(st, db, rc, "insert project");
	}
	p->id = sqlite3_last_insert_rowid(db);
	return 0;
}

int store_project_get(sqlite3 *db, int64_t id, struct arena *a, Beebeebrain__V1__Project **out, bbb_status *st)
{
	return store_get_by_id(db, "SELECT " PROJECT_COLS " FROM projects WHERE id = ?", id, project_row, a,
			       (void **)out, "PROJECT_NOT_FOUND", "project", st);
}

int64_t store_project_id_by_name(sqlite3 *db, const char *name)
{
	sqlite3_stmt *stmt;
	bbb_status ignored;
	int64_t id = 0;

	if (store_prepare(db, "SELECT min(id) FROM projects WHERE name = ?", &stmt, &ignored) != 0)
		return 0;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		id = sqlite3_column_int64(stmt, 0);
	store_release(stmt);
	return id;
}

int store_project_list(sqlite3 *db, int64_t after_id, int limit, int offset, struct arena *a,
		       Beebeebrain__V1__Project ***out, size_t *n, int *more, bbb_status *st)
{
	sqlite3_stmt *stmt;

	if (store_prepare(db, "SELECT " PROJECT_COLS " FROM projects WHERE id > ? ORDER BY id LIMIT ? OFFSET ?", &stmt,
			  st) != 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, after_id);
	sqlite3_bind_int(stmt, 2, limit + 1);
	sqlite3_bind_int(stmt, 3, offset);
	return store_collect(db, stmt, limit, project_row, a, (void ***)out, n, more, "list projects", st);
}

int64_t store_project_id_any(sqlite3 *db)
{
	sqlite3_stmt *stmt;
	bbb_status ignored;
	int64_t id = 0;

	if (store_prepare(db,
			  "SELECT coalesce((SELECT min(id) FROM projects WHERE name = 'default'), "
			  "(SELECT min(id) FROM projects), 0)",
			  &stmt, &ignored) != 0)
		return 0;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		id = sqlite3_column_int64(stmt, 0);
	store_release(stmt);
	return id;
}

int store_project_roots(sqlite3 *db, struct arena *a, const char ***roots, size_t *n, bbb_status *st)
{
	const char **list = NULL;
	size_t cap = 0;
	sqlite3_stmt *stmt;
	int rc;

	*roots = NULL;
	*n = 0;
	if (store_prepare(db, "SELECT root_path FROM projects ORDER BY id", &stmt, st) != 0)
		return -1;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap > 0 ? cap * 2 : 16;
			list = xrealloc(list, cap * sizeof(*list));
		}
		list[(*n)++] = store_col_text(a, stmt, 0);
	}
	store_release(stmt);
	if (rc != SQLITE_DONE) {
		free(list);
		*n = 0;
		return store_fail(st, db, rc, "list project roots");
	}
	if (*n > 0) {
		*roots = arena_alloc(a, *n * sizeof(*list));
		memcpy(*roots, list, *n * sizeof(*list));
	}
	free(list);
	return 0;
}
