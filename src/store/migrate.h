/*
 * Schema migrations. Each migration is a pair of SQL scripts,
 * migrations/NNNN_name.up.sql and .down.sql, compiled into the binary
 * (cmake/embed_migrations.cmake -> migrations_builtin). Applying or reverting
 * one runs in its own transaction and records/deletes its row in
 * schema_migrations (version, name, checksum, applied_at). The checksum is
 * FNV-1a 64 of the up script, in hex: a database whose recorded checksums
 * differ from the binary's, or that has a version the binary does not know,
 * is refused.
 */
#ifndef BBB_MIGRATE_H
#define BBB_MIGRATE_H

#include <sqlite3.h>

#include <beebeebrain/client.h>

struct migration {
	int version;
	const char *name;
	const char *up_sql;
	const char *down_sql;
};

struct migration_set {
	const struct migration *m;
	int count;
};

extern const struct migration migrations_builtin[];
extern const int migrations_builtin_count;

/* The migrations compiled into this binary. */
struct migration_set migrate_builtin(void);

struct migrate_state {
	int current;  /* highest applied version, 0 when none */
	int latest;   /* highest version in the set */
	int pending;  /* number of migrations not yet applied */
};

/* Creates schema_migrations when missing, then checks the database against
 * the set: FAILED_PRECONDITION "MIGRATION_MISMATCH" when a recorded version is
 * unknown to the set (newer database) or its checksum differs (tampered). */
int migrate_check(sqlite3 *db, const struct migration_set *set, struct migrate_state *out, bbb_status *st);
/* Applies up to `n` pending migrations (n <= 0: all). *applied gets the count. */
int migrate_up(sqlite3 *db, const struct migration_set *set, int n, int *applied, bbb_status *st);
/* Reverts the `n` newest applied migrations (n <= 0 means 1). */
int migrate_down(sqlite3 *db, const struct migration_set *set, int n, int *reverted, bbb_status *st);
/* Hex FNV-1a 64 of `sql` into buf (at least 17 bytes). */
void migrate_checksum(const char *sql, char *buf);

#endif
