/* domain/project_rules: where a project's workspace may live. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/status.h"
#include "domain/project_rules.h"

static int allowed(const char *root, const char *db)
{
	bbb_status st;

	status_clear(&st);
	return project_root_allowed(&st, "root_path", root, db) == 0;
}

static void the_file_system_root_and_system_directories_are_refused(void **state)
{
	(void)state;
	assert_false(allowed("/", NULL));
	assert_false(allowed("/etc", NULL));
	assert_false(allowed("/etc/ssh", NULL));
	assert_false(allowed("/usr/local/lib", NULL));
	assert_false(allowed("/proc/self", NULL));
	assert_false(allowed("/home", NULL));
	assert_false(allowed("/tmp", NULL));
	assert_false(allowed("/var/lib", NULL));
}

static void directories_of_their_own_are_allowed(void **state)
{
	(void)state;
	assert_true(allowed("/home/alice/app", NULL));
	assert_true(allowed("/srv/projects/a", NULL));
	assert_true(allowed("/tmp/pytest-1/workspace", NULL));
	assert_true(allowed("/var/lib/beebeebrain/workspace", NULL));
	assert_true(allowed("/etcetera", NULL)); /* a prefix of a name is not the directory */
}

static void a_root_holding_the_database_is_refused(void **state)
{
	bbb_status st;

	(void)state;
	assert_false(allowed("/srv/bbb", "/srv/bbb/beebeebrain.db"));
	assert_false(allowed("/srv", "/srv/bbb/beebeebrain.db"));
	assert_true(allowed("/srv/bbb/workspace", "/srv/bbb/beebeebrain.db"));
	status_clear(&st);
	project_root_allowed(&st, "root_path", "/srv/bbb", "/srv/bbb/x.db");
	assert_string_equal(st.reason, "VALIDATION_ERROR");
	assert_int_equal(st.n_violations, 1);
	assert_string_equal(st.violations[0].field, "root_path");
	assert_non_null(strstr(st.violations[0].description, "database"));
}

static void nested_roots_overlap_and_siblings_do_not(void **state)
{
	(void)state;
	assert_true(project_roots_overlap("/srv/a", "/srv/a"));
	assert_true(project_roots_overlap("/srv/a", "/srv/a/b"));
	assert_true(project_roots_overlap("/srv/a/b", "/srv/a"));
	assert_false(project_roots_overlap("/srv/a", "/srv/ab"));
	assert_false(project_roots_overlap("/srv/a", "/srv/b"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_file_system_root_and_system_directories_are_refused),
		cmocka_unit_test(directories_of_their_own_are_allowed),
		cmocka_unit_test(a_root_holding_the_database_is_refused),
		cmocka_unit_test(nested_roots_overlap_and_siblings_do_not),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
