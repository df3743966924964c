/* Run log lines (see log_store.h). */
#include "store/log_store.h"

#include <stdint.h>

#include "common/clock.h"
#include "common/enum_text.h"
#include "common/status.h"
#include "store/run_store.h"
#include "store/store.h"

#define LOG_COLS "id, project_id, task_id, run_id, level, source, message, trace_id, created_at, event_id"
/* Rank of the level text, to compare with a minimum. */
#define LOG_RANK "(CASE level WHEN 'debug' THEN 1 WHEN 'info' THEN 2 WHEN 'warning' THEN 3 ELSE 4 END)"
/* ?1 before id, ?2 project, ?3 task, ?4 run, ?5 minimum rank, ?6 limit,
 * ?7 offset, ?8 exact rank (0: any). */
#define LOG_REST                                                                                                       \
	" AND id < ?1 AND (?2 = 0 OR project_id = ?2) AND (?3 = 0 OR task_id = ?3) AND (?4 = 0 OR run_id = ?4) "       \
	"AND " LOG_RANK " >= ?5 AND (?8 = 0 OR " LOG_RANK " = ?8) ORDER BY id DESC LIMIT ?6 OFFSET ?7"

/* One statement per leading filter, each bound to the index that serves it:
 * an equality on the index's first column, then ids downwards. SQLite is
 * told the index (INDEXED BY); PostgreSQL's planner has no such clause and
 * picks it from the equality. */
#define LOG_SQL(run, task, project)                                                                                    \
	{                                                                                                              \
		"SELECT " LOG_COLS " FROM run_logs " run " WHERE run_id = ?4" LOG_REST,                                \
			"SELECT " LOG_COLS " FROM run_logs " task " WHERE task_id = ?3" LOG_REST,                      \
			"SELECT " LOG_COLS " FROM run_logs " project " WHERE project_id = ?2" LOG_REST,                \
			"SELECT " LOG_COLS " FROM run_logs WHERE 1 = 1" LOG_REST,                                      \
	}
static const char *const log_sql[] =
	LOG_SQL("INDEXED BY run_logs_run", "INDEXED BY run_logs_task", "INDEXED BY run_logs_project");
static const char *const log_sql_pg[] = LOG_SQL("", "", "");

static void *log_row(struct db_stmt *stmt, struct arena *a)
{
	Beebeebrain__V1__LogLine *l =
		(Beebeebrain__V1__LogLine *)arena_message(a, &beebeebrain__v1__log_line__descriptor);
	int level = 0;

	l->id = db_col_i64(stmt, 0);
	l->project_id = db_col_i64(stmt, 1);
	l->task_id = db_col_i64(stmt, 2);
	l->run_id = db_col_i64(stmt, 3);
	enum_from_text(&beebeebrain__v1__log_level__descriptor, db_col_text(stmt, 4), &level);
	l->level = (Beebeebrain__V1__LogLevel)level;
	l->source = store_col_text(a, stmt, 5);
	l->message = store_col_text(a, stmt, 6);
	l->trace_id = store_col_text(a, stmt, 7);
	l->created_at_ms = db_col_i64(stmt, 8);
	l->event_id = db_col_i64(stmt, 9);
	return l;
}

int store_log_insert(struct db *db, Beebeebrain__V1__LogLine *l, bbb_status *st)
{
	struct db_stmt *stmt;
	char level[32];
	int rc;

	if (store_prepare(db,
			  "INSERT INTO run_logs (project_id, task_id, run_id, level, source, message, trace_id, "
			  "created_at, event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
			  &stmt, st) != 0)
		return -1;
	if (l->created_at_ms == 0)
		l->created_at_ms = clock_now_ms();
	enum_text(&beebeebrain__v1__log_level__descriptor, l->level, level, sizeof(level));
	db_bind_i64(stmt, 1, l->project_id);
	db_bind_i64(stmt, 2, l->task_id);
	db_bind_i64(stmt, 3, l->run_id);
	db_bind_text(stmt, 4, level);
	store_bind_free_text(stmt, 5, l->source);
	store_bind_free_text(stmt, 6, l->message);
	db_bind_text(stmt, 7, l->trace_id);
	db_bind_i64(stmt, 8, l->created_at_ms);
	db_bind_i64(stmt, 9, l->event_id);
	rc = store_step_insert(stmt, &l->id);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "insert log line");
	return 0;
}

const char *store_log_query_sql(const struct db *db, const struct log_query *q)
{
	const char *const *sql = db_kind(db) == DB_POSTGRES ? log_sql_pg : log_sql;

	if (q->lq_run_id != 0)
		return sql[0];
	if (q->lq_task_id != 0)
		return sql[1];
	if (q->lq_project_id != 0)
		return sql[2];
	return sql[3];
}

int store_log_query(struct db *db, const struct log_query *q, struct arena *a, Beebeebrain__V1__LogLine ***out,
		    size_t *n, int *more, bbb_status *st)
{
	const char *sql = store_log_query_sql(db, q);
	struct db_stmt *stmt;

	if (store_prepare(db, sql, &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, q->lq_before_id != 0 ? q->lq_before_id : INT64_MAX);
	db_bind_i64(stmt, 2, q->lq_project_id);
	db_bind_i64(stmt, 3, q->lq_task_id);
	db_bind_i64(stmt, 4, q->lq_run_id);
	db_bind_i64(stmt, 5, q->lq_min_level);
	db_bind_i64(stmt, 6, q->lq_limit + 1);
	db_bind_i64(stmt, 7, q->lq_offset);
	db_bind_i64(stmt, 8, q->lq_level);
	return store_collect(db, stmt, q->lq_limit, log_row, a, (void ***)out, n, more, "query logs", st);
}

int store_log_repeating_runs(struct db *db, int last, int min_same, int limit, struct arena *a,
			     struct store_run_ref **out, size_t *n, bbb_status *st)
{
	struct db_stmt *stmt;
	size_t cap = (size_t)(limit > 0 ? limit : 1);
	int rc;

	*n = 0;
	*out = arena_alloc(a, cap * sizeof(**out));
	if (store_prepare(db,
			  "SELECT run_id, task_id, project_id, max(c) FROM (SELECT l.run_id, l.task_id, l.project_id, "
			  "count(*) AS c FROM (SELECT * FROM run_logs x WHERE x.run_id IN (SELECT id FROM task_runs "
			  "WHERE run_status = 'running') AND x.id IN (SELECT y.id FROM run_logs y WHERE y.run_id = "
			  "x.run_id ORDER BY y.id DESC LIMIT ?1)) l GROUP BY l.run_id, l.task_id, l.project_id, "
			  "l.message) AS per_message GROUP BY run_id, task_id, project_id "
			  "HAVING max(c) >= ?2 ORDER BY run_id LIMIT ?3",
			  &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, last);
	db_bind_i64(stmt, 2, min_same);
	db_bind_i64(stmt, 3, (int)cap);
	while ((rc = db_step(stmt)) == DB_ROW && *n < cap) {
		struct store_run_ref *r = &(*out)[(*n)++];

		r->rf_run_id = db_col_i64(stmt, 0);
		r->rf_task_id = db_col_i64(stmt, 1);
		r->rf_project_id = db_col_i64(stmt, 2);
		r->rf_count = db_col_i64(stmt, 3);
	}
	store_release(stmt);
	if (rc != DB_DONE && rc != DB_ROW)
		return store_fail(st, db, rc, "list repeating runs");
	return 0;
}
