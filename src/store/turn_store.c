/* The turns of a run's conversation (see turn_store.h). */
#include "store/turn_store.h"

#include <string.h>

#include "common/status.h"
#include "store/store.h"

static int turn_insert_call(struct db *db, int64_t run_id, int turn, int k, const struct store_tool_call *c,
			    bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	if (store_prepare(db,
			  "INSERT INTO run_tool_calls (run_id, turn, k, call_id, name, arguments, result, is_error) "
			  "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			  &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, run_id);
	db_bind_i64(stmt, 2, turn);
	db_bind_i64(stmt, 3, k);
	db_bind_text(stmt, 4, c->stc_id);
	db_bind_text(stmt, 5, c->stc_name);
	store_bind_free_text(stmt, 6, c->stc_arguments);
	if (c->stc_result != NULL)
		store_bind_free_text(stmt, 7, c->stc_result);
	db_bind_i64(stmt, 8, c->stc_is_error != 0);
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "insert tool call");
	return 0;
}

int store_turn_insert(struct db *db, int64_t run_id, const struct store_turn *t, int64_t now_ms, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	if (store_prepare(db,
			  "INSERT INTO run_turns (run_id, n, attempt_n, text, stop_reason, follow_up, created_at) "
			  "VALUES (?, ?, ?, ?, ?, ?, ?)",
			  &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, run_id);
	db_bind_i64(stmt, 2, t->stu_n);
	db_bind_i64(stmt, 3, t->stu_attempt_n);
	store_bind_free_text(stmt, 4, t->stu_text);
	db_bind_text(stmt, 5, t->stu_stop_reason);
	store_bind_free_text(stmt, 6, t->stu_follow_up);
	db_bind_i64(stmt, 7, now_ms);
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "insert turn");
	for (size_t i = 0; i < t->stu_n_calls; i++)
		if (turn_insert_call(db, run_id, t->stu_n, (int)i + 1, &t->stu_calls[i], st) != 0)
			return -1;
	return 0;
}

int store_turn_results(struct db *db, int64_t run_id, const struct store_turn *t, bbb_status *st)
{
	for (size_t i = 0; i < t->stu_n_calls; i++) {
		const struct store_tool_call *c = &t->stu_calls[i];
		struct db_stmt *stmt;
		int rc;

		if (c->stc_result == NULL)
			continue;
		if (store_prepare(db,
				  "UPDATE run_tool_calls SET result = ?, is_error = ? WHERE run_id = ? AND turn = ? "
				  "AND k = ?",
				  &stmt, st) != 0)
			return -1;
		store_bind_free_text(stmt, 1, c->stc_result);
		db_bind_i64(stmt, 2, c->stc_is_error != 0);
		db_bind_i64(stmt, 3, run_id);
		db_bind_i64(stmt, 4, t->stu_n);
		db_bind_i64(stmt, 5, (int)i + 1);
		rc = db_step(stmt);
		store_release(stmt);
		if (rc != DB_DONE)
			return store_fail(st, db, rc, "record a tool result");
		if (db_changes(db) == 0)
			return status_fail(st, "INTERNAL_ERROR", "run %lld has no tool call %zu in turn %d",
					   (long long)run_id, i + 1, t->stu_n);
	}
	return 0;
}

int store_turn_settle_unknown(struct db *db, int64_t run_id, const char *result, int *n, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	*n = 0;
	if (store_prepare(db, "UPDATE run_tool_calls SET result = ?, is_error = 1 WHERE run_id = ? AND result IS NULL",
			  &stmt, st) != 0)
		return -1;
	store_bind_free_text(stmt, 1, result);
	db_bind_i64(stmt, 2, run_id);
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "settle tool calls");
	*n = db_changes(db);
	return 0;
}

/* Hands out the next call of turn t from the calls query, which is ordered
 * like the turns; a call of an unknown turn cannot be (foreign key). */
static void turn_add_call(struct arena *a, struct store_turn *t, struct db_stmt *stmt)
{
	struct store_tool_call *c = &t->stu_calls[t->stu_n_calls++];

	c->stc_id = store_col_text(a, stmt, 2);
	c->stc_name = store_col_text(a, stmt, 3);
	c->stc_arguments = store_col_text(a, stmt, 4);
	c->stc_result = db_col_is_null(stmt, 5) ? NULL : store_col_text(a, stmt, 5);
	c->stc_is_error = db_col_int(stmt, 6);
}

static int turn_read_calls(struct db *db, int64_t run_id, struct arena *a, struct store_turn *turns, size_t n,
			   bbb_status *st)
{
	struct db_stmt *stmt;
	size_t i = 0;
	int rc;

	if (store_prepare(db,
			  "SELECT turn, (SELECT count(*) FROM run_tool_calls o WHERE o.run_id = c.run_id AND "
			  "o.turn = c.turn), call_id, name, arguments, result, is_error FROM run_tool_calls c "
			  "WHERE run_id = ? ORDER BY turn, k",
			  &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, run_id);
	while ((rc = db_step(stmt)) == DB_ROW) {
		int turn = db_col_int(stmt, 0);

		while (i < n && turns[i].stu_n < turn)
			i++;
		if (i == n || turns[i].stu_n != turn)
			continue;
		if (turns[i].stu_calls == NULL)
			turns[i].stu_calls =
				arena_alloc(a, sizeof(struct store_tool_call) * (size_t)db_col_int(stmt, 1));
		turn_add_call(a, &turns[i], stmt);
	}
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "read tool calls");
	return 0;
}

int store_turns_of_run(struct db *db, int64_t run_id, struct arena *a, struct store_turn **out, size_t *n,
		       bbb_status *st)
{
	struct db_stmt *stmt;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (store_prepare(db,
			  "SELECT n, attempt_n, text, stop_reason, follow_up FROM run_turns WHERE run_id = ? "
			  "ORDER BY n",
			  &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, run_id);
	while ((rc = db_step(stmt)) == DB_ROW) {
		struct store_turn *t;

		if (*n == cap) {
			struct store_turn *bigger;

			cap = cap > 0 ? cap * 2 : 8;
			bigger = arena_alloc(a, sizeof(*bigger) * cap);
			if (*n > 0)
				memcpy(bigger, *out, sizeof(*bigger) * *n);
			*out = bigger;
		}
		t = &(*out)[(*n)++];
		memset(t, 0, sizeof(*t));
		t->stu_n = db_col_int(stmt, 0);
		t->stu_attempt_n = db_col_int(stmt, 1);
		t->stu_text = store_col_text(a, stmt, 2);
		t->stu_stop_reason = store_col_text(a, stmt, 3);
		t->stu_follow_up = store_col_text(a, stmt, 4);
	}
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "read turns");
	return *n > 0 ? turn_read_calls(db, run_id, a, *out, *n, st) : 0;
}
