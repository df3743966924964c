/* Inbox items: rows <-> Beebeebrain__V1__InboxItem; enums as short text. */
#include "store/inbox_store.h"

#include <stdint.h>
#include <stdio.h>

#include "common/clock.h"
#include "common/enum_text.h"
#include "common/status.h"
#include "store/store.h"

#define INBOX_COLS                                                                                                     \
	"id, project_id, source_type, source_id, item_type, title, content, status, created_at, "                      \
	"coalesce(resolved_at, 0), resolver, user_input, version"

static int inbox_enum(const ProtobufCEnumDescriptor *d, struct db_stmt *stmt, int col)
{
	int v = 0;

	enum_from_text(d, db_col_text(stmt, col), &v);
	return v;
}

static void *inbox_row(struct db_stmt *stmt, struct arena *a)
{
	Beebeebrain__V1__InboxItem *it =
		(Beebeebrain__V1__InboxItem *)arena_message(a, &beebeebrain__v1__inbox_item__descriptor);

	it->id = db_col_i64(stmt, 0);
	it->project_id = db_col_i64(stmt, 1);
	it->source_type = inbox_enum(&beebeebrain__v1__source_type__descriptor, stmt, 2);
	it->source_id = db_col_i64(stmt, 3);
	it->item_type = inbox_enum(&beebeebrain__v1__inbox_item_type__descriptor, stmt, 4);
	it->title = store_col_text(a, stmt, 5);
	it->content = store_col_text(a, stmt, 6);
	it->status = inbox_enum(&beebeebrain__v1__inbox_status__descriptor, stmt, 7);
	it->created_at_ms = db_col_i64(stmt, 8);
	it->resolved_at_ms = db_col_i64(stmt, 9);
	it->resolver = store_col_text(a, stmt, 10);
	it->user_input = store_col_text(a, stmt, 11);
	it->version = db_col_i64(stmt, 12);
	return it;
}

int store_inbox_insert(struct db *db, Beebeebrain__V1__InboxItem *it, bbb_status *st)
{
	struct db_stmt *stmt;
	char source[32], type[32];
	int rc;

	if (store_prepare(db,
			  "INSERT INTO inbox_items (project_id, source_type, source_id, item_type, title, content, "
			  "status, created_at, version) VALUES (?, ?, ?, ?, ?, ?, 'open', ?, 1) RETURNING id",
			  &stmt, st) != 0)
		return -1;
	it->created_at_ms = clock_now_ms();
	it->status = BEEBEEBRAIN__V1__INBOX_STATUS__INBOX_STATUS_OPEN;
	it->version = 1;
	enum_text(&beebeebrain__v1__source_type__descriptor, it->source_type, source, sizeof(source));
	enum_text(&beebeebrain__v1__inbox_item_type__descriptor, it->item_type, type, sizeof(type));
	db_bind_i64(stmt, 1, it->project_id);
	db_bind_text(stmt, 2, source);
	db_bind_i64(stmt, 3, it->source_id);
	db_bind_text(stmt, 4, type);
	store_bind_free_text(stmt, 5, it->title);
	store_bind_free_text(stmt, 6, it->content);
	db_bind_i64(stmt, 7, it->created_at_ms);
	rc = store_step_insert(stmt, &it->id);
	store_release(stmt);
	if (rc != DB_DONE) {
		store_fail(st, db, rc, "insert inbox item");
		if (st->code == BBB_ALREADY_EXISTS)
			snprintf(st->message, sizeof(st->message), "an open %s item exists for source %lld already",
				 type, (long long)it->source_id);
		return -1;
	}
	return 0;
}

int store_inbox_get(struct db *db, int64_t id, struct arena *a, Beebeebrain__V1__InboxItem **out, bbb_status *st)
{
	return store_get_by_id(db, "SELECT " INBOX_COLS " FROM inbox_items WHERE id = ?", id, inbox_row, a,
			       (void **)out, "INBOX_ITEM_NOT_FOUND", "inbox item", st);
}

int store_inbox_open_for(struct db *db, int type, int64_t source_id, struct arena *a, Beebeebrain__V1__InboxItem **out,
			 bbb_status *st)
{
	struct db_stmt *stmt;
	char type_text[32];
	int rc;

	*out = NULL;
	/* A system-raised type has at most one open item per source: the partial
	 * unique index inbox_items_open_dedup finds it, but only when the query
	 * repeats the index's condition; without it SQLite scans every item, on
	 * each run that ends. Operator notes are not deduplicated: the oldest. */
	if (store_prepare(db,
			  type == BEEBEEBRAIN__V1__INBOX_ITEM_TYPE__INBOX_ITEM_TYPE_OPERATOR_NOTE
				  ? "SELECT " INBOX_COLS " FROM inbox_items WHERE item_type = ? AND source_id = ? "
				    "AND status = 'open' ORDER BY id LIMIT 1"
				  : "SELECT " INBOX_COLS " FROM inbox_items WHERE item_type = ? AND source_id = ? "
				    "AND status = 'open' AND item_type <> 'operator_note'",
			  &stmt, st) != 0)
		return -1;
	enum_text(&beebeebrain__v1__inbox_item_type__descriptor, type, type_text, sizeof(type_text));
	db_bind_text(stmt, 1, type_text);
	db_bind_i64(stmt, 2, source_id);
	rc = db_step(stmt);
	if (rc == DB_ROW)
		*out = inbox_row(stmt, a);
	store_release(stmt);
	if (rc != DB_ROW && rc != DB_DONE)
		return store_fail(st, db, rc, "find open inbox item");
	return 0;
}

int store_inbox_list(struct db *db, int64_t project_id, int type, int status, int64_t before_id, int limit, int offset,
		     struct arena *a, Beebeebrain__V1__InboxItem ***out, size_t *n, int *more, bbb_status *st)
{
	struct db_stmt *stmt;
	char type_text[32] = "", status_text[32] = "";

	if (store_prepare(db,
			  "SELECT " INBOX_COLS " FROM inbox_items WHERE id < ?1 "
			  "AND (?2 = 0 OR project_id = ?2) AND (?3 = '' OR item_type = ?3) "
			  "AND (?4 = '' OR status = ?4) ORDER BY id DESC LIMIT ?5 OFFSET ?6",
			  &stmt, st) != 0)
		return -1;
	if (type != 0)
		enum_text(&beebeebrain__v1__inbox_item_type__descriptor, type, type_text, sizeof(type_text));
	if (status != 0)
		enum_text(&beebeebrain__v1__inbox_status__descriptor, status, status_text, sizeof(status_text));
	db_bind_i64(stmt, 1, before_id != 0 ? before_id : INT64_MAX);
	db_bind_i64(stmt, 2, project_id);
	db_bind_text(stmt, 3, type_text);
	db_bind_text(stmt, 4, status_text);
	db_bind_i64(stmt, 5, limit + 1);
	db_bind_i64(stmt, 6, offset);
	return store_collect(db, stmt, limit, inbox_row, a, (void ***)out, n, more, "list inbox items", st);
}

int store_inbox_list_open_of_type(struct db *db, int type, int limit, struct arena *a,
				  Beebeebrain__V1__InboxItem ***out, size_t *n, int64_t *total, bbb_status *st)
{
	struct db_stmt *stmt;
	char type_text[32] = "";
	int more = 0, rc;

	*total = 0;
	enum_text(&beebeebrain__v1__inbox_item_type__descriptor, type, type_text, sizeof(type_text));
	/* The literal `item_type <> 'operator_note'` is the partial index's own
	 * condition: SQLite uses the index only when the query states it. */
	if (store_prepare(db,
			  "SELECT count(*) FROM inbox_items WHERE status = 'open' AND item_type = ?1 "
			  "AND item_type <> 'operator_note'",
			  &stmt, st) != 0)
		return -1;
	db_bind_text(stmt, 1, type_text);
	rc = db_step(stmt);
	if (rc == DB_ROW)
		*total = db_col_i64(stmt, 0);
	store_release(stmt);
	if (rc != DB_ROW)
		return store_fail(st, db, rc, "count open inbox items");
	if (store_prepare(db,
			  "SELECT " INBOX_COLS " FROM inbox_items WHERE status = 'open' AND item_type = ?1 "
			  "AND item_type <> 'operator_note' ORDER BY id DESC LIMIT ?2",
			  &stmt, st) != 0)
		return -1;
	db_bind_text(stmt, 1, type_text);
	db_bind_i64(stmt, 2, limit + 1);
	return store_collect(db, stmt, limit, inbox_row, a, (void ***)out, n, &more, "list open inbox items", st);
}

int store_inbox_save(struct db *db, Beebeebrain__V1__InboxItem *it, bbb_status *st)
{
	struct db_stmt *stmt;
	char status[32];
	int rc;

	if (store_prepare(db,
			  "UPDATE inbox_items SET status = ?, resolved_at = ?, resolver = ?, user_input = ?, "
			  "version = version + 1 WHERE id = ? AND version = ?",
			  &stmt, st) != 0)
		return -1;
	enum_text(&beebeebrain__v1__inbox_status__descriptor, it->status, status, sizeof(status));
	db_bind_text(stmt, 1, status);
	store_bind_id_or_null(stmt, 2, it->resolved_at_ms);
	store_bind_free_text(stmt, 3, it->resolver);
	store_bind_free_text(stmt, 4, it->user_input);
	db_bind_i64(stmt, 5, it->id);
	db_bind_i64(stmt, 6, it->version);
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "update inbox item");
	if (db_changes(db) == 0)
		return status_fail(st, "TASK_VERSION_CONFLICT", "inbox item %lld changed since version %lld was read",
				   (long long)it->id, (long long)it->version);
	it->version++;
	return 0;
}
