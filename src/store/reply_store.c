/* Table `replies` (see reply_store.h). */
#include "store/reply_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/status.h"
#include "common/xalloc.h"
#include "store/store.h"

/*
 * The claim in one round trip. `old` is the row as the statement's snapshot
 * has it; `claimed` inserts the claim, or replaces a row past its time
 * (PostgreSQL checks that on the newest version of the row, under its lock,
 * so two servers never both take one over) or a claim of the same owner
 * (see store_reply_claim). Exactly one row comes back:
 * whether the claim was made, and the row it found. A claim that lost a race
 * (a row committed after the snapshot) sees no row, or an old one past its
 * time: it reads as RUNNING and is asked again.
 */
static const char reply_claim_sql[] =
	"WITH old AS (SELECT owner, state, reply, expires_at FROM replies WHERE request_id = ?1 AND method = ?2), "
	"claimed AS (INSERT INTO replies (request_id, method, owner, state, reply, created_at, expires_at) "
	"VALUES (?1, ?2, ?3, 'running', NULL, ?4, ?5) ON CONFLICT (request_id, method) DO UPDATE SET "
	"owner = excluded.owner, state = 'running', reply = NULL, created_at = excluded.created_at, "
	"expires_at = excluded.expires_at WHERE replies.expires_at < excluded.created_at OR "
	"(replies.owner = excluded.owner AND replies.state = 'running') RETURNING 1) "
	"SELECT (SELECT count(*) FROM claimed), old.owner, old.state, old.reply, old.expires_at "
	"FROM (SELECT 1) AS one LEFT JOIN old ON true";

int store_reply_claim(struct db *db, const char *request_id, const char *method, const char *owner, int64_t now_ms,
		      int64_t lease_until_ms, struct store_reply_claim *out, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc, claimed, found, live;
	const char *state;

	memset(out, 0, sizeof(*out));
	if (db_kind(db) != DB_POSTGRES)
		return status_fail(st, "INTERNAL_ERROR", "the shared reply cache is PostgreSQL's only");
	if (store_prepare(db, reply_claim_sql, &stmt, st) != 0)
		return -1;
	db_bind_text(stmt, 1, request_id);
	db_bind_text(stmt, 2, method);
	db_bind_text(stmt, 3, owner);
	db_bind_i64(stmt, 4, now_ms);
	db_bind_i64(stmt, 5, lease_until_ms);
	rc = db_step(stmt);
	if (rc != DB_ROW) {
		store_release(stmt);
		return store_fail(st, db, rc, "claim a request id");
	}
	claimed = db_col_i64(stmt, 0) > 0;
	found = !db_col_is_null(stmt, 1);
	state = found ? db_col_text(stmt, 2) : "";
	live = found && db_col_i64(stmt, 4) >= now_ms;
	if (found)
		snprintf(out->rs_owner, sizeof(out->rs_owner), "%s", db_col_text(stmt, 1));
	if (claimed) {
		out->rs_state = STORE_REPLY_CLAIMED;
		out->rs_took_over = found && strcmp(state, "running") == 0;
	} else if (live && strcmp(state, "done") == 0) {
		out->rs_state = STORE_REPLY_DONE;
		out->rs_len = db_col_bytes(stmt, 3);
		out->rs_reply = xmalloc(out->rs_len > 0 ? out->rs_len : 1);
		memcpy(out->rs_reply, db_col_blob(stmt, 3), out->rs_len);
	} else {
		out->rs_state = STORE_REPLY_RUNNING;
	}
	store_release(stmt);
	return 0;
}

int store_reply_finish(struct db *db, const char *request_id, const char *method, const char *owner,
		       const uint8_t *reply, size_t len, int64_t expires_ms, int *stored, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	*stored = 0;
	if (store_prepare(db,
			  "UPDATE replies SET state = 'done', reply = ?4, expires_at = ?5 "
			  "WHERE request_id = ?1 AND method = ?2 AND owner = ?3 AND state = 'running'",
			  &stmt, st) != 0)
		return -1;
	db_bind_text(stmt, 1, request_id);
	db_bind_text(stmt, 2, method);
	db_bind_text(stmt, 3, owner);
	db_bind_blob(stmt, 4, reply, len);
	db_bind_i64(stmt, 5, expires_ms);
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "store a reply");
	*stored = db_changes(db) > 0;
	return 0;
}

int store_reply_drop(struct db *db, const char *request_id, const char *method, const char *owner, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	if (store_prepare(db,
			  "DELETE FROM replies WHERE request_id = ?1 AND method = ?2 AND owner = ?3 AND state = "
			  "'running'",
			  &stmt, st) != 0)
		return -1;
	db_bind_text(stmt, 1, request_id);
	db_bind_text(stmt, 2, method);
	db_bind_text(stmt, 3, owner);
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "drop a request id's claim");
	return 0;
}

int store_reply_renew(struct db *db, const char *owner, int64_t since_ms, int64_t lease_until_ms, int *renewed,
		      bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	*renewed = 0;
	if (store_prepare(db,
			  "UPDATE replies SET expires_at = ?3 WHERE owner = ?1 AND state = 'running' AND created_at "
			  ">= ?2",
			  &stmt, st) != 0)
		return -1;
	db_bind_text(stmt, 1, owner);
	db_bind_i64(stmt, 2, since_ms);
	db_bind_i64(stmt, 3, lease_until_ms);
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "renew the claims of request ids");
	*renewed = (int)db_changes(db);
	return 0;
}

int store_reply_prune(struct db *db, int64_t now_ms, int limit, int *removed, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	*removed = 0;
	if (store_prepare(db,
			  "DELETE FROM replies WHERE (request_id, method) IN "
			  "(SELECT request_id, method FROM replies WHERE expires_at < ?1 LIMIT ?2)",
			  &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, now_ms);
	db_bind_i64(stmt, 2, limit);
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "prune the replies past their time");
	*removed = (int)db_changes(db);
	return 0;
}
