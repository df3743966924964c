/* Triage's own reads (see triage_store.h). */
#include "store/triage_store.h"

#include <string.h>

#include "beebeebrain/v1/events.pb-c.h"
#include "common/enum_text.h"
#include "common/status.h"
#include "store/store.h"

#define TRIAGE_5_MIN_MS (5 * 60 * 1000)
#define TRIAGE_60_MIN_MS (60 * 60 * 1000)

int store_triage_run_counts(struct db *db, int64_t by_status[STORE_TRIAGE_RUN_STATUSES], bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	memset(by_status, 0, sizeof(int64_t) * STORE_TRIAGE_RUN_STATUSES);
	/* A scan of the task_runs_status index, not of the table. */
	if (store_prepare(db, "SELECT run_status, count(*) FROM task_runs GROUP BY run_status", &stmt, st) != 0)
		return -1;
	while ((rc = db_step(stmt)) == DB_ROW) {
		int v = 0;

		if (enum_from_text(&beebeebrain__v1__run_status__descriptor, db_col_text(stmt, 0), &v) == 0 && v > 0 &&
		    v < STORE_TRIAGE_RUN_STATUSES)
			by_status[v] = db_col_i64(stmt, 1);
	}
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "count runs by status");
	return 0;
}

int store_triage_retries(struct db *db, int64_t now_ms, int64_t *last_5m, int64_t *last_60m, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	*last_5m = *last_60m = 0;
	/* Newest first on events_type (event_type, id), up to the first event
	 * older than the hour: ids grow with created_at, because the one writer
	 * stamps each event as it appends it. (Only a wall clock stepped back
	 * by more than the rest of the hour can hide an event of the hour behind
	 * an older one; the count is advice, not an account.) */
	if (store_prepare(db,
			  "SELECT created_at, payload FROM events WHERE event_type = 'run.status.changed' "
			  "ORDER BY id DESC",
			  &stmt, st) != 0)
		return -1;
	while ((rc = db_step(stmt)) == DB_ROW) {
		int64_t at = db_col_i64(stmt, 0);
		Beebeebrain__V1__Event *ev;

		if (at < now_ms - TRIAGE_60_MIN_MS)
			break;
		ev = beebeebrain__v1__event__unpack(NULL, (size_t)db_col_bytes(stmt, 1), db_col_blob(stmt, 1));
		/* A payload this binary cannot decode is no retry it knows of. */
		if (ev == NULL)
			continue;
		if (ev->payload_case == BEEBEEBRAIN__V1__EVENT__PAYLOAD_RUN_STATUS_CHANGED &&
		    ev->run_status_changed->to_status == BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_RETRY_SCHEDULED) {
			(*last_60m)++;
			if (at >= now_ms - TRIAGE_5_MIN_MS)
				(*last_5m)++;
		}
		beebeebrain__v1__event__free_unpacked(ev, NULL);
	}
	store_release(stmt);
	if (rc != DB_ROW && rc != DB_DONE)
		return store_fail(st, db, rc, "count the retries of the last hour");
	return 0;
}

int store_triage_failures(struct db *db, const char *error_code, int64_t since_ms, size_t max_projects, struct arena *a,
			  struct store_triage_failures *out, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	memset(out, 0, sizeof(*out));
	out->tf_project_ids = arena_alloc(a, sizeof(int64_t) * (max_projects > 0 ? max_projects : 1));
	/* `error_code <> ''` is the partial index's condition, stated so that
	 * SQLite uses it. */
	if (store_prepare(db,
			  "SELECT count(*), coalesce(max(ended_at), 0) FROM task_runs "
			  "WHERE error_code = ?1 AND error_code <> '' AND ended_at >= ?2",
			  &stmt, st) != 0)
		return -1;
	db_bind_text(stmt, 1, error_code);
	db_bind_i64(stmt, 2, since_ms);
	rc = db_step(stmt);
	if (rc == DB_ROW) {
		out->tf_count = db_col_i64(stmt, 0);
		out->tf_last_at_ms = db_col_i64(stmt, 1);
	}
	store_release(stmt);
	if (rc != DB_ROW)
		return store_fail(st, db, rc, "count failed runs");
	if (out->tf_count == 0 || max_projects == 0)
		return 0;
	if (store_prepare(db,
			  "SELECT DISTINCT t.project_id FROM task_runs r JOIN tasks t ON t.id = r.task_id "
			  "WHERE r.error_code = ?1 AND r.error_code <> '' AND r.ended_at >= ?2 "
			  "ORDER BY t.project_id LIMIT ?3",
			  &stmt, st) != 0)
		return -1;
	db_bind_text(stmt, 1, error_code);
	db_bind_i64(stmt, 2, since_ms);
	db_bind_i64(stmt, 3, (int64_t)max_projects);
	while ((rc = db_step(stmt)) == DB_ROW)
		out->tf_project_ids[out->tf_n_projects++] = db_col_i64(stmt, 0);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "list the projects of failed runs");
	return 0;
}
