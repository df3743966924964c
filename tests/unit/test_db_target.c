/*
 * store/db.h: which engine a database target names (`serve --db`,
 * BEEBEEBRAIN_DB). A file path must never be taken for a connection string,
 * nor a connection string for a file to create.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store/db.h"

static void uris_and_keyword_strings_are_postgres(void **state)
{
	(void)state;
	assert_int_equal(db_target_kind("postgres://bbb@db1/bbb"), DB_POSTGRES);
	assert_int_equal(db_target_kind("postgresql://bbb:secret@db1:5433/bbb?sslmode=require"), DB_POSTGRES);
	assert_int_equal(db_target_kind("postgresql:///bbb"), DB_POSTGRES);
	assert_int_equal(db_target_kind("host=db1 dbname=bbb"), DB_POSTGRES);
	assert_int_equal(db_target_kind("dbname=bbb"), DB_POSTGRES);
	assert_int_equal(db_target_kind("host=/var/run/postgresql dbname=bbb"), DB_POSTGRES);
	assert_int_equal(db_target_kind("service=bbb"), DB_POSTGRES);
}

static void paths_are_sqlite_files(void **state)
{
	(void)state;
	assert_int_equal(db_target_kind("beebeebrain.db"), DB_SQLITE);
	assert_int_equal(db_target_kind("./beebeebrain.db"), DB_SQLITE);
	assert_int_equal(db_target_kind("/var/lib/bbb/state.db"), DB_SQLITE);
	assert_int_equal(db_target_kind("/tmp/a=b.db"), DB_SQLITE);
	assert_int_equal(db_target_kind("./a=b.db"), DB_SQLITE);
	assert_int_equal(db_target_kind("Host=db1"), DB_SQLITE); /* keywords are lower case */
	assert_int_equal(db_target_kind("=x"), DB_SQLITE);
	assert_int_equal(db_target_kind(""), DB_SQLITE);
	assert_int_equal(db_target_kind("postgres:/db"), DB_SQLITE);
	assert_int_equal(db_target_kind("file:state.db"), DB_SQLITE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(uris_and_keyword_strings_are_postgres),
		cmocka_unit_test(paths_are_sqlite_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
