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

static void a_shown_target_never_holds_its_password(void **state)
{
	char out[256];

	(void)state;
	db_target_display("postgres://bbb:s3cret@db1:5432/bbb?sslmode=require", out, sizeof(out));
	assert_string_equal(out, "postgres://bbb:***@db1:5432/bbb?sslmode=require");
	db_target_display("postgresql://bbb@db1/bbb", out, sizeof(out));
	assert_string_equal(out, "postgresql://bbb@db1/bbb");
	db_target_display("postgresql://db1/x@y", out, sizeof(out)); /* an '@' in the path is not userinfo */
	assert_string_equal(out, "postgresql://db1/x@y");
	db_target_display("host=db1 password=s3cret dbname=bbb", out, sizeof(out));
	assert_string_equal(out, "host=db1 password=*** dbname=bbb");
	db_target_display("password='a b\\' c' host=db1", out, sizeof(out));
	assert_string_equal(out, "password=*** host=db1");
	db_target_display("host=db1 dbname=bbb", out, sizeof(out));
	assert_string_equal(out, "host=db1 dbname=bbb");
	db_target_display("/var/lib/bbb/password=x.db", out, sizeof(out));
	assert_string_equal(out, "/var/lib/bbb/password=x.db");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(uris_and_keyword_strings_are_postgres),
		cmocka_unit_test(paths_are_sqlite_files),
		cmocka_unit_test(a_shown_target_never_holds_its_password),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
