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

static void *project_row(struct db_stmt *stmt, struct arena *a)
{
	Beebeebrain__V1__Project *p =
		(Beebeebrain__V1__Project *)arena_message(a, &beebeebrain__v1__project__descriptor);

	p->id = db_col_i64(stmt, 0);
	p->name = store_col_text(a, stmt, 1);
	p->root_path = store_col_text(a, stmt, 2);
	p->created_at_ms = db_col_i64(stmt, 3);
	p->updated_at_ms = db_col_i64(stmt, 4);
	p->version = db_col_i64(stmt, 5);
	return p;
}

int store_project_insert(struct db *db, Beebeebrain__V1__Project *p, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	if (store_prepare(db,
			  "INSERT INTO projects (name, root_path, created_at, updated_at, version) "
			  "VALUES (?, ?, ?, ?, 1) RETURNING id",
			  &stmt, st) != 0)
		return -1;
	p->created_at_ms = p->updated_at_ms = clock_now_ms();
	p->version = 1;
	db_bind_text(stmt, 1, p->name);
	db_bind_text(stmt, 2, p->root_path);
	db_bind_i64(stmt, 3, p->created_at_ms);
	db_bind_i64(stmt, 4, p->updated_at_ms);
	rc = store_step_insert(stmt, &p->id);
	store_release(stmt);
	if (rc != DB_DONE) {
		store_fail(st, db, rc, "create project");
		if (strcmp(st->reason, "RESOURCE_CONFLICT") == 0) {
			snprintf(st->message, sizeof(st->message), "a project with root_path %.400s already exists",
				 p->root_path);
		}
		return -1;
	}
	return 0;
}

int store_project_get(struct db *db, int64_t id, struct arena *a, Beebeebrain__V1__Project **out, bbb_status *st)
{
	return store_get_by_id(db, "SELECT " PROJECT_COLS " FROM projects WHERE id = ?", id, project_row, a,
			       (void **)out, "PROJECT_NOT_FOUND", "project", st);
}

int64_t store_project_id_by_name(struct db *db, const char *name)
{
	struct db_stmt *stmt;
	bbb_status ignored;
	int64_t id = 0;

	if (store_prepare(db, "SELECT min(id) FROM projects WHERE name = ?", &stmt, &ignored) != 0)
		return 0;
	db_bind_text(stmt, 1, name);
	if (db_step(stmt) == DB_ROW)
		id = db_col_i64(stmt, 0);
	store_release(stmt);
	return id;
}

int store_project_list(struct db *db, int64_t after_id, int limit, int offset, struct arena *a,
		       Beebeebrain__V1__Project ***out, size_t *n, int *more, bbb_status *st)
{
	struct db_stmt *stmt;

	if (store_prepare(db, "SELECT " PROJECT_COLS " FROM projects WHERE id > ? ORDER BY id LIMIT ? OFFSET ?", &stmt,
			  st) != 0)
		return -1;
	db_bind_i64(stmt, 1, after_id);
	db_bind_i64(stmt, 2, limit + 1);
	db_bind_i64(stmt, 3, offset);
	return store_collect(db, stmt, limit, project_row, a, (void ***)out, n, more, "list projects", st);
}

int64_t store_project_id_any(struct db *db)
{
	struct db_stmt *stmt;
	bbb_status ignored;
	int64_t id = 0;

	if (store_prepare(db,
			  "SELECT coalesce((SELECT min(id) FROM projects WHERE name = 'default'), "
			  "(SELECT min(id) FROM projects), 0)",
			  &stmt, &ignored) != 0)
		return 0;
	if (db_step(stmt) == DB_ROW)
		id = db_col_i64(stmt, 0);
	store_release(stmt);
	return id;
}

int store_project_roots(struct db *db, struct arena *a, const char ***roots, size_t *n, bbb_status *st)
{
	const char **list = NULL;
	size_t cap = 0;
	struct db_stmt *stmt;
	int rc;

	*roots = NULL;
	*n = 0;
	if (store_prepare(db, "SELECT root_path FROM projects ORDER BY id", &stmt, st) != 0)
		return -1;
	while ((rc = db_step(stmt)) == DB_ROW) {
		if (*n == cap) {
			cap = cap > 0 ? cap * 2 : 16;
			list = xrealloc(list, cap * sizeof(*list));
		}
		list[(*n)++] = store_col_text(a, stmt, 0);
	}
	store_release(stmt);
	if (rc != DB_DONE) {
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
