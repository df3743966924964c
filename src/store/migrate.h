/*
 * Schema migrations. Each migration is a pair of SQL scripts,
 * migrations/NNNN_name.up.sql and .down.sql, compiled into the binary
 * (cmake/embed_migrations.cmake -> migrations_builtin). Applying or reverting
 * one runs in its own transaction and records/deletes its row in
 * schema_migrations (version, name, checksum, applied_at). The checksum is
 * FNV-1a 64 of the up script, in hex: a database whose recorded checksums
 * differ from the binary's, or that has a version the binary does not know,
 * is refused.
 *
 * Scripts run with foreign key enforcement off (SQLite's own recipe for
 * schema changes that rebuild tables; the pragma is a no-op inside a
 * transaction, so it is switched around each one) and, when the connection
 * had it on, `PRAGMA foreign_key_check` must come back empty before the
 * migration commits. A script must not BEGIN or COMMIT itself.
 *
 * The hold. `migrate down` is an operator's decision to run below the
 * binary's schema (a rollback); a server starting on the database must not
 * undo it by applying the pending migrations again. So every reverted
 * migration also records, in the same transaction, the version it leaves in
 * the one row of schema_hold (bookkeeping beside schema_migrations, not a
 * numbered migration: it must survive every down script). Every applied
 * migration moves the hold up with it, and the one that reaches the latest
 * version removes it. A database is held while that row exists and
 * migrations are pending; the server refuses to start on a held database
 * unless told to migrate (SCHEMA_HELD).
 */
#ifndef BBB_MIGRATE_H
#define BBB_MIGRATE_H

#include <stdint.h>

#include "store/db.h"

#include <beebeebrain/status.h>

struct migration {
	int version;
	const char *name;
	const char *up_sql;
	const char *down_sql;
};

/* Migrations sorted by strictly increasing version (> 0). */
struct migration_set {
	const struct migration *m;
	int count;
};

extern const struct migration migrations_builtin[];
extern const int migrations_builtin_count;
/* The same migrations for PostgreSQL, from the scripts in migrations/postgres. */
extern const struct migration migrations_builtin_pg[];
extern const int migrations_builtin_pg_count;

/* The migrations compiled into this binary. */
struct migration_set migrate_builtin(void);
/* The migrations compiled into this binary for db's engine: migrations/ for
 * SQLite, migrations/postgres/ for PostgreSQL (the same versions and names). */
struct migration_set migrate_builtin_for(struct db *db);

struct migrate_state {
	int current; /* highest applied version, 0 when none */
	int latest; /* highest version in the set */
	int pending; /* number of migrations not yet applied */
	int held; /* 1: `migrate down` holds the schema below latest */
	int held_version; /* the version the operator left, when held */
	int64_t held_at_ms; /* when, when held */
};

/* One migration of a set as seen in a database (migrate_status). */
struct migrate_row {
	int version;
	char name[64];
	char checksum[17]; /* of the binary's up script */
	int applied; /* 1 when recorded in schema_migrations */
	int64_t applied_at_ms; /* 0 when not applied */
};

/* Creates schema_migrations when missing, then checks the database against
 * the set: FAILED_PRECONDITION "SCHEMA_MISMATCH" when a recorded version is
 * unknown to the set (newer database) or its checksum differs (tampered).
 * `out` may be NULL. */
int migrate_check(struct db *db, const struct migration_set *set, struct migrate_state *out, bbb_status *st);
/* Applies up to `n` pending migrations (n <= 0: all), oldest first, each in
 * its own BEGIN IMMEDIATE transaction. *applied gets the count committed,
 * also on failure (a failed migration is rolled back entirely). Moves the
 * hold up with each one; reaching the latest version releases it. */
int migrate_up(struct db *db, const struct migration_set *set, int n, int *applied, bbb_status *st);
/* Reverts the `n` newest applied migrations (n <= 0 means 1; more than are
 * applied means all), newest first. *reverted as *applied above. Each one
 * records the hold at the version it leaves. */
int migrate_down(struct db *db, const struct migration_set *set, int n, int *reverted, bbb_status *st);
/* Every migration of the set, in version order, into rows[0..*n) (max must be
 * >= set->count, else INTERNAL_ERROR), and the state. Runs migrate_check and
 * returns its result, but fills rows, *n and *state even when the check fails,
 * so that a status command can show the table next to the error. */
int migrate_status(struct db *db, const struct migration_set *set, struct migrate_row *rows, int max, int *n,
		   struct migrate_state *state, bbb_status *st);
/* The highest applied version as db sees it, 0 when none. Reads only: a
 * database without schema_migrations is an error (store_fail), not created. */
int migrate_current_version(struct db *db, int *version, bbb_status *st);
/* Hex FNV-1a 64 of `sql` into buf (at least 17 bytes). */
void migrate_checksum(const char *sql, char *buf);

#endif
