/* Tasks: rows <-> Beebeebrain__V1__Task. Status is stored as its short text. */
#include "store/task_store.h"

#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/dbuf.h"
#include "common/enum_text.h"
#include "common/status.h"
#include "store/store.h"

#define TASK_COLS                                                                                                      \
	"id, project_id, title, description, status, priority, coalesce(assignee_agent_id, 0), "                       \
	"coalesce(parent_task_id, 0), coalesce(due_at, 0), created_at, updated_at, version"

static void *task_row(struct db_stmt *stmt, struct arena *a)
{
	Beebeebrain__V1__Task *t = (Beebeebrain__V1__Task *)arena_message(a, &beebeebrain__v1__task__descriptor);
	int status = 0;

	t->id = db_col_i64(stmt, 0);
	t->project_id = db_col_i64(stmt, 1);
	t->title = store_col_text(a, stmt, 2);
	t->description = store_col_text(a, stmt, 3);
	enum_from_text(&beebeebrain__v1__task_status__descriptor, db_col_text(stmt, 4), &status);
	t->status = (Beebeebrain__V1__TaskStatus)status;
	t->priority = db_col_int(stmt, 5);
	t->assignee_agent_id = db_col_i64(stmt, 6);
	t->parent_task_id = db_col_i64(stmt, 7);
	t->due_at_ms = db_col_i64(stmt, 8);
	t->created_at_ms = db_col_i64(stmt, 9);
	t->updated_at_ms = db_col_i64(stmt, 10);
	t->version = db_col_i64(stmt, 11);
	return t;
}

int store_task_insert(struct db *db, Beebeebrain__V1__Task *t, bbb_status *st)
{
	struct db_stmt *stmt;
	char status[32];
	int rc;

	if (store_prepare(db,
			  "INSERT INTO tasks (project_id, title, description, status, priority, assignee_agent_id, "
			  "parent_task_id, due_at, created_at, updated_at, version) "
			  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) RETURNING id",
			  &stmt, st) != 0)
		return -1;
	t->created_at_ms = t->updated_at_ms = clock_now_ms();
	t->version = 1;
	enum_text(&beebeebrain__v1__task_status__descriptor, t->status, status, sizeof(status));
	db_bind_i64(stmt, 1, t->project_id);
	store_bind_free_text(stmt, 2, t->title);
	store_bind_free_text(stmt, 3, t->description);
	db_bind_text(stmt, 4, status);
	db_bind_i64(stmt, 5, t->priority);
	store_bind_id_or_null(stmt, 6, t->assignee_agent_id);
	store_bind_id_or_null(stmt, 7, t->parent_task_id);
	store_bind_id_or_null(stmt, 8, t->due_at_ms);
	db_bind_i64(stmt, 9, t->created_at_ms);
	db_bind_i64(stmt, 10, t->updated_at_ms);
	rc = store_step_insert(stmt, &t->id);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "insert task");
	return 0;
}

int store_task_get(struct db *db, int64_t id, struct arena *a, Beebeebrain__V1__Task **out, bbb_status *st)
{
	return store_get_by_id(db, "SELECT " TASK_COLS " FROM tasks WHERE id = ?", id, task_row, a, (void **)out,
			       "TASK_NOT_FOUND", "task", st);
}

int store_task_list(struct db *db, const struct task_filter *f, int64_t after_id, int limit, struct arena *a,
		    Beebeebrain__V1__Task ***out, size_t *n, int *more, bbb_status *st)
{
	struct db_stmt *stmt;
	char status[32] = "";

	if (store_prepare(db,
			  "SELECT " TASK_COLS " FROM tasks WHERE id > ?1 AND (?2 = 0 OR project_id = ?2) "
			  "AND (?3 = '' OR status = ?3) AND (?4 = 0 OR assignee_agent_id = ?4) "
			  "ORDER BY id LIMIT ?5 OFFSET ?6",
			  &stmt, st) != 0)
		return -1;
	if (f->tf_status != 0)
		enum_text(&beebeebrain__v1__task_status__descriptor, f->tf_status, status, sizeof(status));
	db_bind_i64(stmt, 1, after_id);
	db_bind_i64(stmt, 2, f->tf_project_id);
	db_bind_text(stmt, 3, status);
	db_bind_i64(stmt, 4, f->tf_assignee_id);
	db_bind_i64(stmt, 5, limit + 1);
	db_bind_i64(stmt, 6, f->tf_offset);
	return store_collect(db, stmt, limit, task_row, a, (void ***)out, n, more, "list tasks", st);
}

int store_agent_project(struct db *db, int64_t id, int64_t *project_id, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	*project_id = 0;
	if (store_prepare(db, "SELECT project_id FROM agents WHERE id = ?", &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, id);
	rc = db_step(stmt);
	if (rc == DB_ROW)
		*project_id = db_col_i64(stmt, 0);
	store_release(stmt);
	if (rc == DB_ROW)
		return 0;
	if (rc == DB_DONE)
		return status_fail(st, "AGENT_NOT_FOUND", "agent %lld does not exist", (long long)id);
	return store_fail(st, db, rc, "get agent");
}

int store_task_save(struct db *db, Beebeebrain__V1__Task *t, bbb_status *st)
{
	struct db_stmt *stmt;
	char status[32];
	int64_t now = clock_now_ms();
	int rc;

	if (store_prepare(
		    db,
		    "UPDATE tasks SET title = ?, description = ?, status = ?, priority = ?, assignee_agent_id = ?, "
		    "due_at = ?, updated_at = ?, version = version + 1, parent_task_id = ? WHERE id = ? AND version = "
		    "?",
		    &stmt, st) != 0)
		return -1;
	enum_text(&beebeebrain__v1__task_status__descriptor, t->status, status, sizeof(status));
	store_bind_free_text(stmt, 1, t->title);
	store_bind_free_text(stmt, 2, t->description);
	db_bind_text(stmt, 3, status);
	db_bind_i64(stmt, 4, t->priority);
	store_bind_id_or_null(stmt, 5, t->assignee_agent_id);
	store_bind_id_or_null(stmt, 6, t->due_at_ms);
	db_bind_i64(stmt, 7, now);
	store_bind_id_or_null(stmt, 8, t->parent_task_id);
	db_bind_i64(stmt, 9, t->id);
	db_bind_i64(stmt, 10, t->version);
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "update task");
	if (db_changes(db) == 0)
		return status_fail(st, "TASK_VERSION_CONFLICT", "task %lld changed since version %lld was read",
				   (long long)t->id, (long long)t->version);
	t->version++;
	t->updated_at_ms = now;
	return 0;
}

int store_task_delete(struct db *db, int64_t id, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	if (store_prepare(db, "DELETE FROM tasks WHERE id = ?", &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, id);
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "delete task");
	if (db_changes(db) == 0)
		return status_fail(st, "TASK_NOT_FOUND", "task %lld does not exist", (long long)id);
	return 0;
}

int store_task_dependents(struct db *db, int64_t id, int64_t *children, int64_t *dependents, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	if (store_prepare(db,
			  "SELECT (SELECT count(*) FROM tasks WHERE parent_task_id = ?1), "
			  "(SELECT count(*) FROM task_dependencies WHERE depends_on_task_id = ?1)",
			  &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, id);
	rc = db_step(stmt);
	if (rc == DB_ROW) {
		*children = db_col_i64(stmt, 0);
		*dependents = db_col_i64(stmt, 1);
	}
	store_release(stmt);
	if (rc != DB_ROW)
		return store_fail(st, db, rc, "count dependents");
	return 0;
}

/* "'todo','running'" for the statuses in bits, from the arena. */
static char *task_status_list(struct arena *a, unsigned bits)
{
	struct dbuf b;
	char *s;

	dbuf_init(&b, 256); /* 7 statuses of at most 9 letters: never cut */
	for (int i = 1; i < 8; i++) {
		char name[32];
		if (!(bits & (1u << i)))
			continue;
		enum_text(&beebeebrain__v1__task_status__descriptor, i, name, sizeof(name));
		if (dbuf_printf(&b, "%s'%s'", dbuf_len(&b) > 0 ? "," : "", name) != 0)
			break;
	}
	s = arena_strdup(a, dbuf_str(&b));
	dbuf_free(&b);
	return s;
}

int store_task_select(struct db *db, int64_t project_id, unsigned status_bits, int limit, struct arena *a,
		      int64_t **ids, size_t *n, bbb_status *st)
{
	struct db_stmt *stmt;
	char *sql;
	int rc;

	*n = 0;
	*ids = arena_alloc(a, sizeof(**ids) * (size_t)(limit > 0 ? limit : 1));
	if (status_bits == 0)
		return 0;
	/* The list holds only enum names of our own: safe to splice. */
	sql = arena_printf(a, "SELECT id FROM tasks WHERE project_id = ? AND status IN (%s) ORDER BY id LIMIT ?",
			   task_status_list(a, status_bits));
	if (store_prepare_once(db, sql, &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, project_id);
	db_bind_i64(stmt, 2, limit);
	while ((rc = db_step(stmt)) == DB_ROW && (int)*n < limit)
		(*ids)[(*n)++] = db_col_i64(stmt, 0);
	store_release(stmt);
	if (rc != DB_ROW && rc != DB_DONE)
		return store_fail(st, db, rc, "select tasks");
	return 0;
}

/* Parses "done,todo" (group_concat of statuses) into an arena array. */
static size_t task_parse_statuses(struct arena *a, const char *text, task_status **out)
{
	size_t n = 0, cap = 1;
	char *copy, *tok, *save = NULL;

	for (const char *p = text; *p != '\0'; p++)
		cap += *p == ',';
	*out = arena_alloc(a, sizeof(**out) * cap);
	if (text[0] == '\0')
		return 0;
	copy = arena_strdup(a, text);
	for (tok = strtok_r(copy, ",", &save); tok != NULL && n < cap; tok = strtok_r(NULL, ",", &save)) {
		int v = 0;
		enum_from_text(&beebeebrain__v1__task_status__descriptor, tok, &v);
		(*out)[n++] = (task_status)v;
	}
	return n;
}

int store_task_todo_walk(struct db *db, int64_t project_id, int (*keep)(const struct task_readiness *r),
			 const int64_t *after, int limit, struct arena *a, Beebeebrain__V1__Task ***out, size_t *n,
			 int *more, bbb_status *st)
{
	struct store_page pg = {0};
	struct arena scratch; /* one walked row's readiness inputs */
	struct db_stmt *stmt;
	int rc;

	/* The walk reads readiness columns only; a task's row (its description
	 * can be megabytes) is read once it is kept, so neither the sort nor
	 * the arena ever holds the rows passed over. */
	/* The statuses joined with commas: SQLite's group_concat(x),
	 * PostgreSQL's string_agg(x, ','). */
#define TASK_READY_WALK(join)                                                                                          \
	"SELECT t.id, coalesce(p.status, ''), coalesce((SELECT " join " FROM task_dependencies d "                     \
	"JOIN tasks o ON o.id = d.depends_on_task_id WHERE d.task_id = t.id), '') "                                    \
	"FROM tasks t LEFT JOIN tasks p ON p.id = t.parent_task_id WHERE t.project_id = ?1 AND t.status = 'todo' "     \
	"AND (?2 = 0 OR (t.priority, t.created_at, t.id) > (?3, ?4, ?5)) ORDER BY t.priority, t.created_at, t.id"
	if (store_prepare(
		    db,
		    DB_SQL(db, TASK_READY_WALK("group_concat(o.status)"), TASK_READY_WALK("string_agg(o.status, ',')")),
		    &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, project_id);
	db_bind_i64(stmt, 2, after != NULL);
	for (int i = 0; i < TASK_WALK_KEY; i++)
		db_bind_i64(stmt, 3 + i, after != NULL ? after[i] : 0);
	*out = arena_alloc(a, sizeof(Beebeebrain__V1__Task *) * (size_t)(limit > 0 ? limit : 1));
	*n = 0;
	*more = 0;
	arena_init(&scratch);
	while ((rc = db_step(stmt)) == DB_ROW) {
		struct task_readiness r = {.tr_status = BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_TODO};
		const char *parent = db_col_text(stmt, 1);
		Beebeebrain__V1__Task *t;
		int ps = 0, kept;

		if (parent != NULL && parent[0] != '\0')
			enum_from_text(&beebeebrain__v1__task_status__descriptor, parent, &ps);
		r.tr_parent = (task_status)ps;
		r.tr_n_deps = task_parse_statuses(&scratch, db_col_text(stmt, 2), &r.tr_deps);
		kept = keep(&r);
		arena_reset(&scratch);
		if (!kept)
			continue;
		if ((int)*n == limit) {
			*more = 1;
			break;
		}
		if (store_task_get(db, db_col_i64(stmt, 0), a, &t, st) != 0) {
			store_release(stmt);
			return -1;
		}
		if (!store_page_add(&pg, &t->base)) {
			*more = 1;
			break;
		}
		(*out)[(*n)++] = t;
	}
	store_release(stmt);
	if (rc != DB_ROW && rc != DB_DONE)
		return store_fail(st, db, rc, "list ready tasks");
	return 0;
}

void store_task_walk_key(const Beebeebrain__V1__Task *t, int64_t *key)
{
	key[0] = t->priority;
	key[1] = t->created_at_ms;
	key[2] = t->id;
}

int store_task_autorun_ready(struct db *db, int limit, struct arena *a, struct store_ready_task **out, size_t *n,
			     bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	*n = 0;
	*out = arena_alloc(a, sizeof(**out) * (size_t)(limit > 0 ? limit : 1));
	if (store_prepare(db,
			  "SELECT t.id, t.title, t.description FROM tasks t WHERE t.status = 'todo' AND "
			  "t.assignee_agent_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM task_dependencies d "
			  "JOIN tasks o ON o.id = d.depends_on_task_id WHERE d.task_id = t.id AND o.status <> "
			  "'done') AND (t.parent_task_id IS NULL OR (SELECT status FROM tasks p WHERE p.id = "
			  "t.parent_task_id) = 'done') ORDER BY t.priority, t.created_at LIMIT ?1",
			  &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, limit);
	while ((rc = db_step(stmt)) == DB_ROW && (int)*n < limit) {
		struct store_ready_task *t = &(*out)[(*n)++];

		t->rt_task_id = db_col_i64(stmt, 0);
		t->rt_title = store_col_text(a, stmt, 1);
		t->rt_description = store_col_text(a, stmt, 2);
	}
	store_release(stmt);
	if (rc != DB_ROW && rc != DB_DONE)
		return store_fail(st, db, rc, "list tasks ready for autorun");
	return 0;
}
