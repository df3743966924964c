/*
 * The client library's enum name helpers: the generated bbb_<enum>_name /
 * bbb_<enum>_from_name of <beebeebrain/client_api.h> and the generic
 * bbb_enum_name / bbb_enum_from_name of <beebeebrain/client.h>.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <beebeebrain/client.h>

static void task_status_values_have_the_cli_short_names(void **state)
{
	(void)state;
	assert_string_equal(bbb_task_status_name(BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_TODO), "todo");
	assert_string_equal(bbb_task_status_name(BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_CANCELLED), "cancelled");
	assert_string_equal(bbb_task_status_name(BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_UNSPECIFIED), "unspecified");
	assert_string_equal(bbb_run_status_name(BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_RETRY_SCHEDULED),
			    "retry_scheduled");
}

static void a_value_unknown_to_this_build_has_no_name(void **state)
{
	(void)state;
	assert_null(bbb_task_status_name((Beebeebrain__V1__TaskStatus)999));
	assert_null(bbb_run_status_name((Beebeebrain__V1__RunStatus)-1));
}

static void from_name_takes_short_names_in_any_case_and_full_names(void **state)
{
	Beebeebrain__V1__TaskStatus s = BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_UNSPECIFIED;

	(void)state;
	assert_int_equal(bbb_task_status_from_name("running", &s), 0);
	assert_int_equal(s, BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_RUNNING);
	assert_int_equal(bbb_task_status_from_name("DONE", &s), 0);
	assert_int_equal(s, BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_DONE);
	assert_int_equal(bbb_task_status_from_name("TASK_STATUS_BLOCKED", &s), 0);
	assert_int_equal(s, BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_BLOCKED);
}

static void from_name_refuses_unknown_names_and_unspecified_leaving_the_value(void **state)
{
	Beebeebrain__V1__TaskStatus s = BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_REVIEW;

	(void)state;
	assert_int_equal(bbb_task_status_from_name("finished", &s), -1);
	assert_int_equal(bbb_task_status_from_name("unspecified", &s), -1);
	assert_int_equal(bbb_task_status_from_name("", &s), -1);
	assert_int_equal(s, BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_REVIEW);
}

static void every_name_parses_back_to_its_value(void **state)
{
	const ProtobufCEnumDescriptor *d = &beebeebrain__v1__run_status__descriptor;

	(void)state;
	for (unsigned i = 0; i < d->n_values; i++) {
		int v = d->values[i].value, back = -1;
		const char *name = bbb_run_status_name((Beebeebrain__V1__RunStatus)v);

		assert_non_null(name);
		if (v == 0)
			continue;
		assert_int_equal(bbb_enum_from_name(d, name, &back), 0);
		assert_int_equal(back, v);
	}
}

static void generic_name_writes_into_the_callers_buffer(void **state)
{
	char buf[32], tiny[3];
	int v = 0;

	(void)state;
	assert_string_equal(bbb_enum_name(&beebeebrain__v1__severity__descriptor, 1, buf, sizeof(buf)),
			    bbb_severity_name((Beebeebrain__V1__Severity)1));
	assert_null(bbb_enum_name(&beebeebrain__v1__task_status__descriptor, 1, tiny, sizeof(tiny)));
	assert_null(bbb_enum_name(&beebeebrain__v1__task_status__descriptor, 999, buf, sizeof(buf)));
	assert_int_equal(bbb_enum_from_name(&beebeebrain__v1__task_status__descriptor, NULL, &v), -1);
	assert_int_equal(bbb_enum_from_name(NULL, "todo", &v), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(task_status_values_have_the_cli_short_names),
		cmocka_unit_test(a_value_unknown_to_this_build_has_no_name),
		cmocka_unit_test(from_name_takes_short_names_in_any_case_and_full_names),
		cmocka_unit_test(from_name_refuses_unknown_names_and_unspecified_leaving_the_value),
		cmocka_unit_test(every_name_parses_back_to_its_value),
		cmocka_unit_test(generic_name_writes_into_the_callers_buffer),
	};

	return cmocka_run_group_tests_name("client_enum_names", tests, NULL, NULL);
}
