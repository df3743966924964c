/*
 * Table `replies` (migration 0011): the reply cache shared by the servers of
 * one PostgreSQL database (services/reply_share.c), a row per mutating call
 * sent with a request_id, keyed by request_id and method as the dispatcher's
 * in-memory cache is. A server claims the key before it runs the call (state
 * 'running', owner its id, expires_at the claim's lease), renews the leases
 * of its claims while their calls run, and stores the packed reply when the
 * call ends (state 'done', expires_at the end of the reply's time to live),
 * or deletes its claim when the call did not run. A row past expires_at,
 * whatever its state, is as good as absent: the next claim replaces it, and
 * the prune deletes it.
 *
 * Every statement here is its own transaction on a read-write connection in
 * autocommit (store_session_open), except the renewal and the prune, which
 * run on the writer (store_write_fn). Times are wall ms (clock_now_ms): the
 * servers judge each other's leases by their own clocks, as they do runs'.
 * The claim is PostgreSQL's SQL only; on SQLite the table stays empty.
 */
#ifndef BBB_REPLY_STORE_H
#define BBB_REPLY_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <beebeebrain/status.h>

#include "store/db.h"

/* Who holds the key of one call, as one claim found it. */
enum store_reply_state {
	STORE_REPLY_CLAIMED, /* the caller holds it now: run the call, then finish or drop */
	STORE_REPLY_DONE, /* the reply is stored: rs_reply, rs_len */
	STORE_REPLY_RUNNING, /* another claim is live (or the row changed under the claim): ask again later */
};

struct store_reply_claim {
	enum store_reply_state rs_state;
	int rs_took_over; /* CLAIMED from a claim whose lease had passed (its server died) */
	char rs_owner[65]; /* the owner found: the former one when rs_took_over, else the holder ("" when unknown) */
	uint8_t *rs_reply; /* DONE: a malloc'd copy, the caller frees it; else NULL */
	size_t rs_len;
};

/* One statement: claims (request_id, method) for `owner` until lease_until_ms
 * when there is no row, only one past its expires_at at now_ms, or a claim
 * of `owner` itself; else says who holds it. A server runs one copy of a
 * call at a time (its in-memory cache), so a claim of its own that it finds
 * is one whose end it could not write (a claim committed as the connection
 * broke): it takes it back rather than wait for itself. 0 with *out, or -1
 * with st (DB_UNAVAILABLE, DB_LOCKED, ...). PostgreSQL only. */
int store_reply_claim(struct db *db, const char *request_id, const char *method, const char *owner, int64_t now_ms,
		      int64_t lease_until_ms, struct store_reply_claim *out, bbb_status *st);

/* Stores the reply of a key `owner` claimed, kept until expires_ms. *stored
 * is 0 when the claim was no longer the owner's (its lease passed and
 * another server took it over): nothing was written. */
int store_reply_finish(struct db *db, const char *request_id, const char *method, const char *owner,
		       const uint8_t *reply, size_t len, int64_t expires_ms, int *stored, bbb_status *st);

/* Deletes the claim `owner` holds on the key (a call that did not run); no
 * such claim: nothing, no error. */
int store_reply_drop(struct db *db, const char *request_id, const char *method, const char *owner, bbb_status *st);

/* Moves the lease of every claim `owner` holds that was made at or after
 * since_ms to lease_until_ms; *renewed how many. */
int store_reply_renew(struct db *db, const char *owner, int64_t since_ms, int64_t lease_until_ms, int *renewed,
		      bbb_status *st);

/* Deletes up to `limit` rows past their expires_at at now_ms; *removed how
 * many. */
int store_reply_prune(struct db *db, int64_t now_ms, int limit, int *removed, bbb_status *st);

#endif
