/* Inbox items. Messages returned are allocated from the given arena. */
#ifndef BBB_INBOX_STORE_H
#define BBB_INBOX_STORE_H

#include "store/db.h"

#include "beebeebrain/v1/common.pb-c.h"
#include "common/arena.h"
#include <beebeebrain/status.h>

/* Inserts it (project, source, type, title, content) as open; sets id,
 * created_at, status and version 1. RESOURCE_CONFLICT when a system-raised
 * item of that type is open for the source already. */
int store_inbox_insert(struct db *db, Beebeebrain__V1__InboxItem *it, bbb_status *st);
/* INBOX_ITEM_NOT_FOUND when absent. */
int store_inbox_get(struct db *db, int64_t id, struct arena *a, Beebeebrain__V1__InboxItem **out, bbb_status *st);
/* The open item of a type for a source; *out NULL when none. */
int store_inbox_open_for(struct db *db, int type, int64_t source_id, struct arena *a, Beebeebrain__V1__InboxItem **out,
			 bbb_status *st);
/* Up to `limit` items, newest first, with id < before_id (0: from the
 * newest) after skipping `offset` of them; project, type and status 0 match
 * any. */
int store_inbox_list(struct db *db, int64_t project_id, int type, int status, int64_t before_id, int limit, int offset,
		     struct arena *a, Beebeebrain__V1__InboxItem ***out, size_t *n, int *more, bbb_status *st);
/* Open items of one type (not operator_note), newest first: at most
 * `limit` in *out, and *total counts them all. Served by the open-dedup
 * partial index, so closed items cost nothing. */
int store_inbox_list_open_of_type(struct db *db, int type, int limit, struct arena *a,
				  Beebeebrain__V1__InboxItem ***out, size_t *n, int64_t *total, bbb_status *st);
/* Writes status, resolved_at, resolver and user_input where the row still has
 * version it->version; bumps it->version. TASK_VERSION_CONFLICT otherwise. */
int store_inbox_save(struct db *db, Beebeebrain__V1__InboxItem *it, bbb_status *st);

#endif
