/*
 * Table `servers` (migration 0010): a row per server process on the
 * database, written by that process. It inserts its row at start
 * (store_server_register), renews heartbeat_at every few seconds while it
 * runs (store_server_heartbeat), sets stopped_at at a clean shutdown
 * (store_server_stop); HealthService/Ready and AdminService/Triage read the
 * rows (store_server_list), and every server deletes those stopped or silent
 * for long (store_server_prune), so the table stays small. Whether a row's
 * server is alive is domain/server_rules.h's to say, not the store's.
 *
 * The writes run on the writer (store_write_fn); the list on any read
 * connection. SQL valid on SQLite and PostgreSQL alike.
 */
#ifndef BBB_SERVER_STORE_H
#define BBB_SERVER_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "beebeebrain/v1/common.pb-c.h"
#include "common/arena.h"
#include "store/db.h"
#include <beebeebrain/status.h>

/* What a server says about itself at start. */
struct store_server_info {
	const char *srv_id; /* 1..64 bytes, new at every start */
	const char *srv_address; /* its RPC listen URL(s) */
	const char *srv_version;
	int64_t srv_pid;
};

/* Inserts the row of a server starting at now_ms (started_at = heartbeat_at
 * = now_ms, not stopped). An id already there is ALREADY_EXISTS
 * RESOURCE_CONFLICT. */
int store_server_register(struct db *db, const struct store_server_info *info, int64_t now_ms, bbb_status *st);

/* heartbeat_at = now_ms for the row of id. *found is 0 when there is no such
 * row (deleted by someone), and nothing was written. */
int store_server_heartbeat(struct db *db, const char *id, int64_t now_ms, int *found, bbb_status *st);

/* stopped_at = heartbeat_at = now_ms for the row of id: its last sign of
 * life is its clean stop. No row: nothing written, no error. */
int store_server_stop(struct db *db, const char *id, int64_t now_ms, bbb_status *st);

/* The rows whose heartbeat_at is at or after since_ms (0: every row),
 * newest heartbeat first (then by id), at most limit (1..): an arena array
 * of Server messages from the arena, with id, address, version, pid and the
 * three times set; alive and this_server left false for the caller. */
int store_server_list(struct db *db, int64_t since_ms, int limit, struct arena *a, Beebeebrain__V1__Server ***out,
		      size_t *n, bbb_status *st);

/* Deletes the rows, except keep_id's (NULL: none), that stopped before
 * cutoff_ms or whose heartbeat is older than cutoff_ms; *removed how many. */
int store_server_prune(struct db *db, int64_t cutoff_ms, const char *keep_id, int *removed, bbb_status *st);

#endif
