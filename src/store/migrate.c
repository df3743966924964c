/*
 * Schema migrations: applying, reverting and checking the scripts of a
 * migration_set against a database's schema_migrations table.
 *
 * The design in brief:
 *   - schema_migrations is the only truth about what a database contains;
 *     its rows are written in the same transaction as the script they record,
 *     so a crash leaves either both or neither.
 *   - Every entry point first runs migrate_check, so nothing is ever applied
 *     to (or reverted from) a database that is newer than the binary or whose
 *     history was changed: the operator is told instead.
 *   - One migration, one BEGIN IMMEDIATE transaction. sqlite3_exec stops at
 *     the first failing statement but does not undo the ones before it; the
 *     ROLLBACK here does, so a failed script leaves no trace.
 *   - Foreign key enforcement is off while a script runs (SQLite cannot
 *     change it inside a transaction, and table rebuilds need it off); when
 *     the connection had it on, PRAGMA foreign_key_check must be empty before
 *     the commit, so the result is exactly as strict.
 */
#include "store/migrate.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/status.h"
#include "store/store.h"

/* The advisory lock of migrations on PostgreSQL: any fixed key of ours. */
#define MIGRATE_PG_LOCK "7062626201"

struct migration_set migrate_builtin(void)
{
	struct migration_set set = {migrations_builtin, migrations_builtin_count};

	return set;
}

struct migration_set migrate_builtin_for(struct db *db)
{
	struct migration_set set = {migrations_builtin_pg, migrations_builtin_pg_count};

	return db_kind(db) == DB_POSTGRES ? set : migrate_builtin();
}

void migrate_checksum(const char *sql, char *buf)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a 64 offset basis */

	for (const unsigned char *p = (const unsigned char *)sql; *p != '\0'; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL; /* FNV-1a 64 prime */
	}
	snprintf(buf, 17, "%016" PRIx64, h);
}

/* Maps a failed SQLite call to a status; BUSY/LOCKED is the caller's to retry. */
static int migrate_fail_sqlite(bbb_status *st, struct db *db, int rc, const char *what)
{
	int primary = rc & 0xff;

	if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
		return status_fail(st, "DB_LOCKED", "%s: database is locked (%s)", what, db_errmsg(db));
	return status_fail(st, "INTERNAL_ERROR", "%s: %s", what, db_errmsg(db));
}

static const struct migration *migrate_find(const struct migration_set *set, int version)
{
	for (int i = 0; i < set->count; i++)
		if (set->m[i].version == version)
			return &set->m[i];
	return NULL;
}

static int migrate_latest(const struct migration_set *set)
{
	return set->count > 0 ? set->m[set->count - 1].version : 0;
}

static int migrate_validate_set(const struct migration_set *set, bbb_status *st)
{
	int prev = 0;

	for (int i = 0; i < set->count; i++) {
		const struct migration *m = &set->m[i];

		if (m->version <= prev || m->name == NULL || m->up_sql == NULL || m->down_sql == NULL)
			return status_fail(st, "INTERNAL_ERROR",
					   "migration set is malformed at entry %d (version %d): versions must "
					   "increase and every migration needs a name, an up and a down script",
					   i, m->version);
		prev = m->version;
	}
	return 0;
}

static int migrate_exec(struct db *db, const char *sql, bbb_status *st)
{
	int rc = db_exec(db, sql);

	if (rc != DB_OK)
		return migrate_fail_sqlite(st, db, rc, sql);
	return 0;
}

/* Runs a one-row, one-integer query; *out gets 0 when there is no row or NULL. */
static int migrate_query_int(struct db *db, const char *sql, int64_t *out, bbb_status *st)
{
	struct db_stmt *stmt = NULL;
	int rc;

	*out = 0;
	if (store_prepare_once(db, sql, &stmt, st) != 0)
		return -1;
	rc = db_step(stmt);
	*out = rc == DB_ROW ? db_col_i64(stmt, 0) : 0;
	if (rc != DB_ROW && rc != DB_DONE) {
		migrate_fail_sqlite(st, db, rc, sql);
		store_release(stmt);
		return -1;
	}
	store_release(stmt);
	return 0;
}

/* *exists: whether the table `name` is in the database (its current schema,
 * on PostgreSQL). */
static int migrate_has_table(struct db *db, const char *name, int64_t *exists, bbb_status *st)
{
	const char *sql = db_kind(db) == DB_POSTGRES
				  ? "SELECT count(*) FROM information_schema.tables "
				    "WHERE table_schema = current_schema() AND table_name = ?1"
				  : "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1";
	struct db_stmt *stmt;
	int rc;

	*exists = 0;
	if (store_prepare_once(db, sql, &stmt, st) != 0)
		return -1;
	db_bind_text(stmt, 1, name);
	rc = db_step(stmt);
	if (rc == DB_ROW)
		*exists = db_col_i64(stmt, 0);
	store_release(stmt);
	return rc == DB_ROW ? 0 : migrate_fail_sqlite(st, db, rc, sql);
}

/* Creates the table only when missing, so that checking a database that is
 * already migrated does not need a write lock. */
static int migrate_ensure_table(struct db *db, bbb_status *st)
{
	int64_t exists;

	if (migrate_has_table(db, "schema_migrations", &exists, st) < 0)
		return -1;
	if (exists)
		return 0;
	return migrate_exec(db,
			    db_kind(db) == DB_POSTGRES
				    ? "CREATE TABLE IF NOT EXISTS schema_migrations ("
				      "version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, "
				      "applied_at BIGINT NOT NULL)"
				    : "CREATE TABLE IF NOT EXISTS schema_migrations ("
				      "version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, "
				      "applied_at INTEGER NOT NULL)",
			    st);
}

/* Reads the hold into *state (read only: no table means no hold). */
static int migrate_read_hold(struct db *db, struct migrate_state *state, bbb_status *st)
{
	static const char sql[] = "SELECT version, held_at FROM schema_hold WHERE id = 1";
	struct db_stmt *stmt = NULL;
	int64_t exists;
	int rc;

	if (migrate_has_table(db, "schema_hold", &exists, st) < 0)
		return -1;
	if (!exists)
		return 0;
	if (store_prepare_once(db, sql, &stmt, st) != 0)
		return -1;
	rc = db_step(stmt);
	/* A hold matters only while something is pending; a stale row (the
	 * schema reached latest some other way) holds nothing. */
	if (rc == DB_ROW && state->pending > 0) {
		state->held = 1;
		state->held_version = db_col_int(stmt, 0);
		state->held_at_ms = db_col_i64(stmt, 1);
	}
	store_release(stmt);
	if (rc != DB_ROW && rc != DB_DONE)
		return migrate_fail_sqlite(st, db, rc, sql);
	return 0;
}

/* Inside a migration's transaction: the hold follows the version the
 * migration leaves. Down records it; up moves an existing one, and the
 * migration that reaches `latest` removes it. */
static int migrate_write_hold(struct db *db, int up, int version, int latest, bbb_status *st)
{
	struct db_stmt *stmt = NULL;
	const char *sql;
	int64_t exists;
	int rc;

	if (up) {
		if (migrate_has_table(db, "schema_hold", &exists, st) < 0)
			return -1;
		if (!exists)
			return 0;
		sql = version >= latest ? "DELETE FROM schema_hold" : "UPDATE schema_hold SET version = ?1";
	} else {
		if (migrate_exec(
			    db,
			    db_kind(db) == DB_POSTGRES
				    ? "CREATE TABLE IF NOT EXISTS schema_hold (id BIGINT PRIMARY KEY CHECK (id = 1), "
				      "version BIGINT NOT NULL, held_at BIGINT NOT NULL)"
				    : "CREATE TABLE IF NOT EXISTS schema_hold (id INTEGER PRIMARY KEY CHECK (id = 1), "
				      "version INTEGER NOT NULL, held_at INTEGER NOT NULL)",
			    st) < 0)
			return -1;
		sql = "INSERT INTO schema_hold (id, version, held_at) VALUES (1, ?1, ?2) "
		      "ON CONFLICT (id) DO UPDATE SET version = excluded.version, held_at = excluded.held_at";
	}
	if (store_prepare_once(db, sql, &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, version); /* when sql has ?1 */
	if (!up)
		db_bind_i64(stmt, 2, clock_now_ms());
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return migrate_fail_sqlite(st, db, rc, "record the schema hold");
	return 0;
}

/* Compares one recorded row with the set. Returns 0 when it matches, else
 * fills *st with SCHEMA_MISMATCH and returns -1. */
static int migrate_check_row(const struct migration_set *set, int version, const char *checksum, bbb_status *st)
{
	const struct migration *m = migrate_find(set, version);
	char expected[17];

	if (m == NULL && version > migrate_latest(set))
		return status_fail(st, "SCHEMA_MISMATCH",
				   "database schema version %d is newer than this binary (latest %d); use a newer "
				   "beebeebrain",
				   version, migrate_latest(set));
	if (m == NULL)
		return status_fail(st, "SCHEMA_MISMATCH",
				   "database has migration %d, which this binary does not know (latest %d)", version,
				   migrate_latest(set));
	migrate_checksum(m->up_sql, expected);
	if (strcmp(expected, checksum) != 0)
		return status_fail(st, "SCHEMA_MISMATCH",
				   "migration %d (%s) was changed after it was applied: checksum %s in database, %s "
				   "in binary",
				   version, m->name, checksum, expected);
	return 0;
}

int migrate_check(struct db *db, const struct migration_set *set, struct migrate_state *out, bbb_status *st)
{
	static const char sql[] = "SELECT version, checksum FROM schema_migrations ORDER BY version";
	struct migrate_state state = {.current = 0, .latest = migrate_latest(set), .pending = set->count};
	struct db_stmt *stmt = NULL;
	int mismatch = 0;
	int rc;

	if (migrate_validate_set(set, st) < 0 || migrate_ensure_table(db, st) < 0)
		return -1;
	if (store_prepare_once(db, sql, &stmt, st) != 0)
		return -1;
	while ((rc = db_step(stmt)) == DB_ROW) {
		int version = db_col_int(stmt, 0);
		const char *checksum = db_col_text(stmt, 1);

		state.current = version;
		if (migrate_find(set, version) != NULL)
			state.pending--;
		/* Keep the first mismatch, but read on so the state is complete. */
		if (!mismatch && migrate_check_row(set, version, checksum ? checksum : "", st) < 0)
			mismatch = 1;
	}
	store_release(stmt);
	if (rc != DB_DONE)
		return migrate_fail_sqlite(st, db, rc, sql);
	if (!mismatch && migrate_read_hold(db, &state, st) < 0)
		return -1;
	if (out != NULL)
		*out = state;
	return mismatch ? -1 : 0;
}

/* 1 when `version` is recorded (with its time in *applied_at), 0 when not,
 * -1 on error. */
static int migrate_is_applied(struct db *db, int version, int64_t *applied_at, bbb_status *st)
{
	static const char sql[] = "SELECT applied_at FROM schema_migrations WHERE version = ?";
	struct db_stmt *stmt = NULL;
	int rc;

	if (store_prepare_once(db, sql, &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, version);
	rc = db_step(stmt);
	if (rc == DB_ROW) {
		*applied_at = db_col_i64(stmt, 0);
		store_release(stmt);
		return 1;
	}
	*applied_at = 0;
	if (rc != DB_DONE)
		migrate_fail_sqlite(st, db, rc, sql);
	store_release(stmt);
	return rc == DB_DONE ? 0 : -1;
}

/* Inserts (up) or deletes (down) the schema_migrations row of m. */
static int migrate_record(struct db *db, const struct migration *m, int up, bbb_status *st)
{
	const char *sql = up ? "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)"
			     : "DELETE FROM schema_migrations WHERE version = ?";
	struct db_stmt *stmt = NULL;
	char checksum[17];
	int rc;

	if (store_prepare_once(db, sql, &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, m->version);
	if (up) {
		migrate_checksum(m->up_sql, checksum);
		db_bind_text(stmt, 2, m->name);
		db_bind_text_copy(stmt, 3, checksum);
		db_bind_i64(stmt, 4, clock_now_ms());
	}
	rc = db_step(stmt);
	if (rc != DB_DONE) {
		migrate_fail_sqlite(st, db, rc, sql);
		store_release(stmt);
		return -1;
	}
	store_release(stmt);
	if (db_changes(db) != 1)
		return status_fail(st, "INTERNAL_ERROR", "migration %d (%s): schema_migrations row not %s", m->version,
				   m->name, up ? "inserted" : "found");
	return 0;
}

/* The first row of PRAGMA foreign_key_check, as a failure. */
static int migrate_fk_check(struct db *db, const struct migration *m, const char *dir, bbb_status *st)
{
	static const char sql[] = "PRAGMA foreign_key_check";
	struct db_stmt *stmt = NULL;
	int rc;

	if (store_prepare_once(db, sql, &stmt, st) != 0)
		return -1;
	rc = db_step(stmt);
	if (rc == DB_ROW) {
		status_fail(st, "INTERNAL_ERROR",
			    "migration %d (%s) %s would leave a foreign key violation: row %lld of table %s "
			    "references missing %s",
			    m->version, m->name, dir, (long long)db_col_i64(stmt, 1), db_col_text(stmt, 0),
			    db_col_text(stmt, 2));
	} else if (rc != DB_DONE) {
		migrate_fail_sqlite(st, db, rc, sql);
	}
	store_release(stmt);
	return rc == DB_DONE ? 0 : -1;
}

/* Runs one script and its bookkeeping in one transaction. */
static int migrate_run_one(struct db *db, const struct migration_set *set, const struct migration *m, int up,
			   bbb_status *st)
{
	const char *dir = up ? "up" : "down";
	int pg = db_kind(db) == DB_POSTGRES;
	char what[128];
	int64_t fk_on, left = 0;
	int rc;

	/* PostgreSQL enforces foreign keys always, and alters tables in place:
	 * nothing to switch. Its BEGIN takes no lock; the advisory lock makes
	 * servers that start together on one database migrate one at a time. */
	if (pg)
		fk_on = 0;
	else if (migrate_query_int(db, "PRAGMA foreign_keys", &fk_on, st) < 0)
		return -1;
	if (fk_on && migrate_exec(db, "PRAGMA foreign_keys = OFF", st) < 0)
		return -1;
	snprintf(what, sizeof(what), "migration %d (%s) %s: BEGIN", m->version, m->name, dir);
	rc = db_exec(db, pg ? "BEGIN; SELECT pg_advisory_xact_lock(" MIGRATE_PG_LOCK ")" : "BEGIN IMMEDIATE");
	if (rc != DB_OK) {
		migrate_fail_sqlite(st, db, rc, what);
		goto fail;
	}
	rc = db_exec(db, up ? m->up_sql : m->down_sql);
	if (rc != DB_OK) {
		status_fail(st, (rc & 0xff) == SQLITE_BUSY ? "DB_LOCKED" : "INTERNAL_ERROR",
			    "migration %d (%s) %s failed: %s", m->version, m->name, dir, db_errmsg(db));
		goto fail;
	}
	/* A COMMIT or ROLLBACK inside the script would have made part of the
	 * migration permanent outside our bookkeeping. */
	if (!db_in_transaction(db)) {
		status_fail(st, "INTERNAL_ERROR",
			    "migration %d (%s) %s ended the transaction itself; scripts must not "
			    "BEGIN, COMMIT or ROLLBACK",
			    m->version, m->name, dir);
		goto fail;
	}
	if (fk_on && migrate_fk_check(db, m, dir, st) < 0)
		goto fail;
	if (migrate_record(db, m, up, st) < 0)
		goto fail;
	/* Down leaves the version below m (the highest one still recorded). */
	if (!up && migrate_query_int(db, "SELECT coalesce(max(version), 0) FROM schema_migrations", &left, st) < 0)
		goto fail;
	if (migrate_write_hold(db, up, up ? m->version : (int)left, migrate_latest(set), st) < 0)
		goto fail;
	snprintf(what, sizeof(what), "migration %d (%s) %s: COMMIT", m->version, m->name, dir);
	rc = db_exec(db, "COMMIT");
	if (rc != DB_OK) {
		migrate_fail_sqlite(st, db, rc, what);
		goto fail;
	}
	if (fk_on)
		return migrate_exec(db, "PRAGMA foreign_keys = ON", st);
	return 0;

fail:
	if (db_in_transaction(db))
		db_exec(db, "ROLLBACK");
	if (fk_on)
		db_exec(db, "PRAGMA foreign_keys = ON");
	return -1;
}

int migrate_up(struct db *db, const struct migration_set *set, int n, int *applied, bbb_status *st)
{
	int64_t applied_at;

	*applied = 0;
	if (migrate_check(db, set, NULL, st) < 0)
		return -1;
	for (int i = 0; i < set->count && (n <= 0 || *applied < n); i++) {
		int is = migrate_is_applied(db, set->m[i].version, &applied_at, st);

		if (is < 0)
			return -1;
		if (is)
			continue;
		if (migrate_run_one(db, set, &set->m[i], 1, st) < 0)
			return -1;
		(*applied)++;
	}
	return 0;
}

int migrate_down(struct db *db, const struct migration_set *set, int n, int *reverted, bbb_status *st)
{
	int64_t newest;

	*reverted = 0;
	if (n <= 0)
		n = 1;
	if (migrate_check(db, set, NULL, st) < 0)
		return -1;
	while (*reverted < n) {
		const struct migration *m;

		if (migrate_query_int(db, "SELECT max(version) FROM schema_migrations", &newest, st) < 0)
			return -1;
		if (newest == 0)
			break;
		/* Only if someone else changed the table since migrate_check. */
		m = migrate_find(set, (int)newest);
		if (m == NULL)
			return status_fail(st, "SCHEMA_MISMATCH", "database schema version %lld appeared meanwhile",
					   (long long)newest);
		if (migrate_run_one(db, set, m, 0, st) < 0)
			return -1;
		(*reverted)++;
	}
	return 0;
}

int migrate_status(struct db *db, const struct migration_set *set, struct migrate_row *rows, int max, int *n,
		   struct migrate_state *state, bbb_status *st)
{
	bbb_status check_st;
	int check_rc;

	*n = 0;
	memset(state, 0, sizeof(*state));
	if (max < set->count)
		return status_fail(st, "INTERNAL_ERROR", "migrate_status: room for %d rows, the set has %d", max,
				   set->count);
	status_clear(&check_st);
	check_rc = migrate_check(db, set, state, &check_st);
	/* Only a mismatch still lets us read the table; anything else is fatal. */
	if (check_rc < 0 && strcmp(check_st.reason, "SCHEMA_MISMATCH") != 0) {
		*st = check_st;
		return -1;
	}
	for (int i = 0; i < set->count; i++) {
		struct migrate_row *r = &rows[i];
		int is;

		memset(r, 0, sizeof(*r));
		r->version = set->m[i].version;
		snprintf(r->name, sizeof(r->name), "%s", set->m[i].name);
		migrate_checksum(set->m[i].up_sql, r->checksum);
		is = migrate_is_applied(db, r->version, &r->applied_at_ms, st);
		if (is < 0)
			return -1;
		r->applied = is;
		(*n)++;
	}
	if (check_rc < 0) {
		*st = check_st;
		return -1;
	}
	return 0;
}

int migrate_current_version(struct db *db, int *version, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	*version = 0;
	if (store_prepare(db, "SELECT coalesce(max(version), 0) FROM schema_migrations", &stmt, st) != 0)
		return -1;
	rc = db_step(stmt);
	if (rc == DB_ROW)
		*version = db_col_int(stmt, 0);
	store_release(stmt);
	return rc == DB_ROW ? 0 : store_fail(st, db, rc, "read the schema version");
}
