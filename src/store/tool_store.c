/* ToolService idempotency records (see tool_store.h). */
#include "store/tool_store.h"

#include <string.h>

#include "common/clock.h"
#include "common/status.h"
#include "store/store.h"

int store_tool_call_get(sqlite3 *db, const char *key, struct arena *a, struct tool_call *out, bbb_status *st)
{
	sqlite3_stmt *stmt;
	int rc, found = 0;

	if (store_prepare(db, "SELECT tool, task_id, response FROM tool_calls WHERE idempotency_key = ?", &stmt, st) !=
	    0)
		return -1;
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		uint8_t *buf;
		out->tc_tool = store_col_text(a, stmt, 0);
		out->tc_task_id = sqlite3_column_int64(stmt, 1);
		out->tc_len = (size_t)sqlite3_column_bytes(stmt, 2);
		buf = arena_alloc(a, out->tc_len + 1);
		if (out->tc_len > 0)
			memcpy(buf, sqlite3_column_blob(stmt, 2), out->tc_len);
		out->tc_response = buf;
		found = 1;
	}
	store_release(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_fail(st, db, rc, "get tool call");
	return found;
}

int store_tool_call_put(sqlite3 *db, const char *key, const struct tool_call *c, bbb_status *st)
{
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(db,
			  "INSERT INTO tool_calls (idempotency_key, tool, task_id, response, created_at) "
			  "VALUES (?, ?, ?, ?, ?)",
			  &stmt, st) != 0)
		return -1;
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, c->tc_tool, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, c->tc_task_id);
	sqlite3_bind_blob(stmt, 4, c->tc_response, (int)c->tc_len, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 5, clock_now_ms());
	rc = sqlite3_step(stmt);
	store_release(stmt);
	if (rc != SQLITE_DONE)
		return store_fail(st, db, rc, "store tool call");
	return 0;
}
