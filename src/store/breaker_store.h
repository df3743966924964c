/*
 * Table `breakers` (migration 0012): the circuit breakers shared by the
 * servers of one PostgreSQL database (docs/runtime.md, Breakers across
 * servers). A row per provider endpoint, keyed by the endpoint's key
 * ("anthropic https://api.anthropic.com"). Each server keeps its own breaker
 * (domain/breaker.h) and follows the rows: the server whose breaker opens
 * writes the row (store_breaker_open); every server reads them at least once
 * a second (store_breaker_list) and keeps its breaker open until the row's
 * open_until; after it, the one server that takes the probe lease
 * (store_breaker_probe_take) sends the probe and writes its result
 * (store_breaker_probe_done): closed, or open again with the cool-down
 * doubled. An operator's reset closes the row (store_breaker_close).
 *
 * Times are wall ms. Writes run on the writer (store_write_fn), inside its
 * transaction; the list on any read connection. SQL valid on SQLite and
 * PostgreSQL alike, though only PostgreSQL servers use it (a SQLite file
 * has one server: its breaker is all there is).
 */
#ifndef BBB_BREAKER_STORE_H
#define BBB_BREAKER_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "store/db.h"
#include <beebeebrain/status.h>

/* A row; strings in the caller's arena. */
struct store_breaker {
	const char *sb_endpoint;
	int sb_open; /* 1: state 'open' */
	int64_t sb_open_until; /* while open: no probe before it */
	int64_t sb_cooldown_ms; /* while open: the current cool-down */
	const char *sb_probe_owner; /* "" when none */
	int64_t sb_probe_until; /* the probe lease's end; 0 when none */
	const char *sb_opened_by;
	int64_t sb_opens; /* openings and re-openings so far */
	int64_t sb_updated_at;
};

/* This server's breaker of `endpoint` opened after failures at now_ms, until
 * `until` with cool-down cooldown_ms. A closed (or missing) row opens, with
 * `me` as opened_by; a row open already (another server opened it first)
 * keeps its owner and probe lease and takes the later of the two times and
 * the longer cool-down. */
int store_breaker_open(struct db *db, const char *endpoint, const char *me, int64_t now_ms, int64_t until,
		       int64_t cooldown_ms, bbb_status *st);

/* Takes the probe lease of an open row whose cool-down is over, until
 * lease_until, when nobody holds it or its holder's lease passed. *won: 1
 * when `me` holds it now, 0 when the row is closed, missing, still cooling
 * down, or another server holds the lease. */
int store_breaker_probe_take(struct db *db, const char *endpoint, const char *me, int64_t now_ms, int64_t lease_until,
			     int *won, bbb_status *st);

/* The probe `me` sent ended: closed (success) or open again until `until`
 * with cool-down cooldown_ms (failure). Applied only while `me` still holds
 * the probe lease (another server took it over when it passed): *applied. */
int store_breaker_probe_done(struct db *db, const char *endpoint, const char *me, int64_t now_ms, int closed,
			     int64_t until, int64_t cooldown_ms, int *applied, bbb_status *st);

/* An operator's reset: the row closes whatever its state and lease. */
int store_breaker_close(struct db *db, const char *endpoint, int64_t now_ms, bbb_status *st);

/* Every row (a few: one per endpoint ever opened), in *out from a. */
int store_breaker_list(struct db *db, struct arena *a, struct store_breaker **out, size_t *n, bbb_status *st);

#endif
