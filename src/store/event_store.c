/* Events: append and list (see event_store.h). */
#include "store/event_store.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/clock.h"
#include "common/pbtext.h"
#include "common/redact.h"
#include "common/status.h"
#include "common/xalloc.h"
#include "store/state_store.h"
#include "store/store.h"

/* The packed payload of ev, valid UTF-8 and redacted: it is published and
 * replayed as is. A copy of the payload is unpacked into the arena and
 * redacted there, because the caller's strings (and the structs they sit in)
 * are not ours to change. *buf is malloc'd. */
static size_t event_pack_redacted(const Beebeebrain__V1__Event *ev, struct arena *a, uint8_t **buf)
{
	Beebeebrain__V1__Event body = *ev, *copy;
	const ProtobufCMessage *blob;
	size_t len;

	/* The blob carries the payload only; everything else is in columns. */
	body.id = body.project_id = body.task_id = body.run_id = body.created_at_ms = 0;
	body.event_type = body.trace_id = (char *)protobuf_c_empty_string;
	blob = pbtext_repair_copy(&body.base, a);
	len = protobuf_c_message_get_packed_size(blob);
	*buf = xmalloc(len > 0 ? len : 1);
	protobuf_c_message_pack(blob, *buf);
	if (!redact_message_needed(blob))
		return len;
	copy = beebeebrain__v1__event__unpack(&a->a_pb, len, *buf);
	if (copy == NULL || redact_message(a, &copy->base) == 0)
		return len;
	free(*buf);
	len = beebeebrain__v1__event__get_packed_size(copy);
	*buf = xmalloc(len > 0 ? len : 1);
	beebeebrain__v1__event__pack(copy, *buf);
	return len;
}

int store_event_append(struct db *db, Beebeebrain__V1__Event *ev, bbb_status *st)
{
	struct db_stmt *stmt;
	struct arena a;
	uint8_t *buf;
	size_t len;
	int rc;

	arena_init(&a);
	len = event_pack_redacted(ev, &a, &buf);
	arena_reset(&a);
	ev->created_at_ms = clock_now_ms();
	if (store_prepare(db,
			  "INSERT INTO events (project_id, event_type, task_id, run_id, trace_id, created_at, payload) "
			  "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
			  &stmt, st) != 0) {
		free(buf);
		return -1;
	}
	db_bind_i64(stmt, 1, ev->project_id);
	db_bind_text(stmt, 2, ev->event_type);
	db_bind_i64(stmt, 3, ev->task_id);
	db_bind_i64(stmt, 4, ev->run_id);
	db_bind_text(stmt, 5, ev->trace_id != NULL ? ev->trace_id : "");
	db_bind_i64(stmt, 6, ev->created_at_ms);
	db_bind_blob_owned(stmt, 7, buf, len);
	rc = store_step_insert(stmt, &ev->id);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "append event");
	return 0;
}

#define EVENT_COLS "id, project_id, event_type, task_id, run_id, trace_id, created_at, payload"

/* The prefix test is written as a range so that the events_type index can
 * serve it: below the prefix followed by the highest code point (SQLite's
 * char(), PostgreSQL's chr()). */
#define EVENT_FILTER_(top)                                                                                             \
	"(?2 = '' OR (event_type >= ?2 AND event_type < ?2 || " top "(1114111))) AND (?3 = 0 OR project_id = ?3)"

static Beebeebrain__V1__Event *event_row(struct db_stmt *stmt, struct arena *a)
{
	Beebeebrain__V1__Event *ev =
		beebeebrain__v1__event__unpack(&a->a_pb, (size_t)db_col_bytes(stmt, 7), db_col_blob(stmt, 7));

	/* A payload this binary cannot decode still yields the event's columns. */
	if (ev == NULL)
		ev = (Beebeebrain__V1__Event *)arena_message(a, &beebeebrain__v1__event__descriptor);
	ev->id = db_col_i64(stmt, 0);
	ev->project_id = db_col_i64(stmt, 1);
	ev->event_type = store_col_text(a, stmt, 2);
	ev->task_id = db_col_i64(stmt, 3);
	ev->run_id = db_col_i64(stmt, 4);
	ev->trace_id = store_col_text(a, stmt, 5);
	ev->created_at_ms = db_col_i64(stmt, 6);
	return ev;
}

int store_event_list(struct db *db, int64_t after_id, int64_t until_id, int limit, const char *type_prefix,
		     int64_t project_id, struct arena *a, Beebeebrain__V1__Event ***out, size_t *n, int *more,
		     bbb_status *st)
{
	struct store_page pg = {0};
	struct db_stmt *stmt;
	int rc;

	if (more != NULL)
		*more = 0;
	if (store_prepare(
		    db,
		    DB_SQL(db,
			   "SELECT " EVENT_COLS
			   " FROM events WHERE id > ?1 AND id <= ?5 AND " EVENT_FILTER_("char") " ORDER BY id LIMIT ?4",
			   "SELECT " EVENT_COLS
			   " FROM events WHERE id > ?1 AND id <= ?5 AND " EVENT_FILTER_("chr") " ORDER BY id LIMIT ?4"),
		    &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, after_id);
	db_bind_text(stmt, 2, type_prefix);
	db_bind_i64(stmt, 3, project_id);
	db_bind_i64(stmt, 4, limit + 1);
	db_bind_i64(stmt, 5, until_id > 0 ? until_id : INT64_MAX);
	*out = arena_alloc(a, sizeof(**out) * (size_t)(limit > 0 ? limit : 1));
	*n = 0;
	while ((rc = db_step(stmt)) == DB_ROW) {
		Beebeebrain__V1__Event *ev;
		if ((int)*n == limit)
			break;
		ev = event_row(stmt, a);
		if (!store_page_add(&pg, &ev->base))
			break;
		(*out)[(*n)++] = ev;
	}
	store_release(stmt);
	if (rc != DB_ROW && rc != DB_DONE)
		return store_fail(st, db, rc, "list events");
	if (more != NULL)
		*more = rc == DB_ROW;
	return 0;
}

int64_t store_event_head(struct db *db)
{
	struct db_stmt *stmt;
	bbb_status ignored;
	int64_t id = 0;

	if (store_prepare(db, "SELECT max(id) FROM events", &stmt, &ignored) != 0)
		return 0;
	if (db_step(stmt) == DB_ROW)
		id = db_col_i64(stmt, 0);
	store_release(stmt);
	return id;
}

int store_event_last_start(struct db *db, int n, int64_t head_id, const char *type_prefix, int64_t project_id,
			   int64_t *after_id, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	/* Ids only: sorting whole rows (payloads included) to take the last n
	 * would hold all of them in memory at once. */
	if (store_prepare(db,
			  DB_SQL(db,
				 "SELECT min(id) FROM (SELECT id FROM events WHERE id <= ?1 AND " EVENT_FILTER_(
					 "char") " ORDER BY id DESC LIMIT ?4) AS last_n",
				 "SELECT min(id) FROM (SELECT id FROM events WHERE id <= ?1 AND " EVENT_FILTER_(
					 "chr") " ORDER BY id DESC LIMIT ?4) AS last_n"),
			  &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, head_id);
	db_bind_text(stmt, 2, type_prefix);
	db_bind_i64(stmt, 3, project_id);
	db_bind_i64(stmt, 4, n);
	rc = db_step(stmt);
	if (rc == DB_ROW)
		*after_id = db_col_is_null(stmt, 0) ? head_id : db_col_i64(stmt, 0) - 1;
	store_release(stmt);
	if (rc != DB_ROW)
		return store_fail(st, db, rc, "find the last events");
	return 0;
}

static int64_t event_scalar(struct db *db, const char *sql, int64_t arg)
{
	struct db_stmt *stmt;
	bbb_status ignored;
	int64_t v = 0;

	if (store_prepare(db, sql, &stmt, &ignored) != 0)
		return 0;
	db_bind_i64(stmt, 1, arg);
	if (db_step(stmt) == DB_ROW)
		v = db_col_i64(stmt, 0);
	store_release(stmt);
	return v;
}

int64_t store_event_oldest(struct db *db)
{
	return event_scalar(db, "SELECT coalesce(min(id), 0) FROM events WHERE ?1 = ?1", 0);
}

int store_event_prune(struct db *db, int64_t cutoff_ms, int batch, int *removed, bbb_status *st)
{
	int64_t oldest = store_event_oldest(db), last;

	struct db_stmt *stmt;
	int rc;

	*removed = 0;
	if (oldest == 0)
		return 0;
	/* Ids grow with time, so "older than the cutoff" is a prefix of the log:
	 * take the highest such id within the batch's range and cut there. */
	if (store_prepare(db, "SELECT coalesce(max(id), 0) FROM events WHERE id < ?1 AND created_at < ?2", &stmt, st) !=
	    0)
		return -1;
	db_bind_i64(stmt, 1, oldest + batch);
	db_bind_i64(stmt, 2, cutoff_ms);
	last = db_step(stmt) == DB_ROW ? db_col_i64(stmt, 0) : 0;
	store_release(stmt);
	if (last == 0)
		return 0;
	if (store_prepare(db, "DELETE FROM events WHERE id <= ?", &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, last);
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "prune events");
	*removed = db_changes(db);
	return store_state_raise(db, "events_pruned_through", last, st);
}

int store_event_status_changes(struct db *db, int64_t after_id, int limit, struct arena *a,
			       struct store_status_change **out, size_t *n, int *more, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	*n = 0;
	*more = 0;
	*out = arena_alloc(a, sizeof(**out) * (size_t)(limit > 0 ? limit : 1));
	if (store_prepare(db,
			  "SELECT e.id, e.task_id, t.status FROM events e JOIN tasks t ON t.id = e.task_id "
			  "WHERE e.event_type = 'task.status.changed' AND e.id > ?1 ORDER BY e.id LIMIT ?2",
			  &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, after_id);
	db_bind_i64(stmt, 2, limit + 1);
	while ((rc = db_step(stmt)) == DB_ROW) {
		struct store_status_change *c;

		if ((int)*n == limit) {
			*more = 1;
			break;
		}
		c = &(*out)[(*n)++];
		c->sc_event_id = db_col_i64(stmt, 0);
		c->sc_task_id = db_col_i64(stmt, 1);
		c->sc_task_status = store_col_text(a, stmt, 2);
	}
	store_release(stmt);
	if (rc != DB_ROW && rc != DB_DONE)
		return store_fail(st, db, rc, "list status changes");
	return 0;
}
