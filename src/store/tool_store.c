/* ToolService idempotency records (see tool_store.h). */
#include "store/tool_store.h"

#include <string.h>

#include "common/clock.h"
#include "common/status.h"
#include "store/store.h"

int store_tool_call_get(struct db *db, const char *key, struct arena *a, struct tool_call *out, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc, found = 0;

	if (store_prepare(db, "SELECT tool, task_id, response FROM tool_calls WHERE idempotency_key = ?", &stmt, st) !=
	    0)
		return -1;
	db_bind_text(stmt, 1, key);
	rc = db_step(stmt);
	if (rc == DB_ROW) {
		uint8_t *buf;
		out->tc_tool = store_col_text(a, stmt, 0);
		out->tc_task_id = db_col_i64(stmt, 1);
		out->tc_len = (size_t)db_col_bytes(stmt, 2);
		buf = arena_alloc(a, out->tc_len + 1);
		if (out->tc_len > 0)
			memcpy(buf, db_col_blob(stmt, 2), out->tc_len);
		out->tc_response = buf;
		found = 1;
	}
	store_release(stmt);
	if (rc != DB_ROW && rc != DB_DONE)
		return store_fail(st, db, rc, "get tool call");
	return found;
}

int store_tool_call_put(struct db *db, const char *key, const struct tool_call *c, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	if (store_prepare(db,
			  "INSERT INTO tool_calls (idempotency_key, tool, task_id, response, created_at) "
			  "VALUES (?, ?, ?, ?, ?)",
			  &stmt, st) != 0)
		return -1;
	db_bind_text(stmt, 1, key);
	db_bind_text(stmt, 2, c->tc_tool);
	db_bind_i64(stmt, 3, c->tc_task_id);
	db_bind_blob(stmt, 4, c->tc_response, c->tc_len);
	db_bind_i64(stmt, 5, clock_now_ms());
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "store tool call");
	return 0;
}
