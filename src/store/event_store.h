/*
 * The events table: the durable, ordered log behind the event stream. An
 * event is written in the same transaction as the change it describes. Its
 * id, project, type, task, run, trace and time are columns; the packed Event
 * with only its payload oneof set is the payload blob.
 */
#ifndef BBB_EVENT_STORE_H
#define BBB_EVENT_STORE_H

#include "store/db.h"

#include "beebeebrain/v1/events.pb-c.h"
#include "common/arena.h"
#include <beebeebrain/status.h>

/* Appends ev; sets ev->id and ev->created_at_ms. Every string of the stored
 * payload is redacted (common/redact.h); ev itself is not changed. This is
 * the one place that guarantees an event is stored redacted, whatever its
 * type. Called by the emitters only (events/emit.h), one per event type. */
int store_event_append(struct db *db, Beebeebrain__V1__Event *ev, bbb_status *st);
/* Events with after_id < id <= until_id (until_id 0: no upper end) matching
 * the filters, ascending: at most `limit` of them and at most one page of
 * bytes (STORE_PAGE_BYTES, store.h; always at least one event). *more (may
 * be NULL) says whether matching events in that range were left out: the
 * next call continues with after_id = the last id returned. type_prefix "" =
 * all; project_id 0 = all. */
int store_event_list(struct db *db, int64_t after_id, int64_t until_id, int limit, const char *type_prefix,
		     int64_t project_id, struct arena *a, Beebeebrain__V1__Event ***out, size_t *n, int *more,
		     bbb_status *st);
/* Where the last `n` events with id <= head_id matching the filters begin:
 * *after_id gets the id to list after (one below the first of them; head_id
 * when there are none). Reads ids only. */
int store_event_last_start(struct db *db, int n, int64_t head_id, const char *type_prefix, int64_t project_id,
			   int64_t *after_id, bbb_status *st);
/* Lowest event id kept, 0 when none. */
int64_t store_event_oldest(struct db *db);
/* Removes events created before cutoff_ms, at most `batch` of them, oldest
 * first, and raises server_state events_pruned_through. *removed gets the
 * count. Call again while it removes a full batch. */
int store_event_prune(struct db *db, int64_t cutoff_ms, int batch, int *removed, bbb_status *st);
/* Highest event id, 0 when none. */
int64_t store_event_head(struct db *db);

/* A task.status.changed event, with the status its task has now (for the
 * dispatcher's pause and cancel: a run is paused or cancelled only with its
 * task, and what the runtime changes itself it knows). */
struct store_status_change {
	int64_t sc_event_id;
	int64_t sc_task_id;
	const char *sc_task_status; /* "running", "blocked", ... */
};
/* Up to `limit` such events with id > after_id, ascending; *more when more
 * follow. */
int store_event_status_changes(struct db *db, int64_t after_id, int limit, struct arena *a,
			       struct store_status_change **out, size_t *n, int *more, bbb_status *st);

#endif
