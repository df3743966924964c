/*
 * A migrated temporary database for the store's unit tests: a temp dir of
 * its own and one read-write connection (store_conn_open's pragmas,
 * durability normal) on a file migrated to this binary's schema.
 */
#ifndef BBB_TESTS_UNIT_DB_H
#define BBB_TESTS_UNIT_DB_H

#include <stdio.h>
#include <stdlib.h>

#include "store/migrate.h"
#include "store/store.h"

#define UNIT_DB_DIR_MAX 64

/* Makes /tmp/bbb-<tag>-XXXXXX in dir and opens its database on *db. */
static inline void unit_db_open(char dir[UNIT_DB_DIR_MAX], const char *tag, struct db **db)
{
	struct migration_set set = migrate_builtin();
	char path[UNIT_DB_DIR_MAX + 16];
	bbb_status st;
	int applied;

	snprintf(dir, UNIT_DB_DIR_MAX, "/tmp/bbb-%.24s-XXXXXX", tag);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/t.db", dir);
	assert_int_equal(store_conn_open(path, 0, 0, 5000, db, &st), 0);
	assert_int_equal(migrate_up(*db, &set, 0, &applied, &st), 0);
}

/* A statement of its own for sql (store_prepare_once): 0, or SQLite's error. */
static inline int unit_prepare(struct db *db, const char *sql, struct db_stmt **stmt)
{
	bbb_status st;

	return store_prepare_once(db, sql, stmt, &st) == 0 ? 0 : db_errcode(db);
}

/* Closes db and removes dir; 0, or -1 when the removal failed. */
static inline int unit_db_close(const char *dir, struct db *db)
{
	char cmd[UNIT_DB_DIR_MAX + 16];

	store_conn_close(db);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

#endif
