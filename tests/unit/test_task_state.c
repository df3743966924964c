/* domain/task_state: every pair of states checked against the edge lists of docs/protocol.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/status.h"
#include "domain/task_state.h"

#define T(x) BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_##x
#define R(x) BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_##x
#define C(x) BEEBEEBRAIN__V1__TASK_COMMAND__TASK_COMMAND_##x

/* docs/protocol.md, Task states, written out as "from>to" pairs. */
static const char *const task_spec =
	" todo>running todo>blocked todo>cancelled running>review running>blocked running>failed running>cancelled"
	" review>running review>done review>blocked review>failed review>cancelled blocked>todo blocked>running"
	" blocked>cancelled failed>todo failed>running failed>cancelled cancelled>todo ";
static const char *const run_spec =
	" queued>running queued>cancelled running>succeeded running>failed running>retry_scheduled"
	" running>interrupted running>cancelled retry_scheduled>running retry_scheduled>cancelled"
	" interrupted>running interrupted>failed interrupted>cancelled ";

static int in_spec(const char *spec, const char *from, const char *to)
{
	char edge[64];

	snprintf(edge, sizeof(edge), " %s>%s ", from, to);
	return strstr(spec, edge) != NULL;
}

static void task_transitions_match_the_spec_exactly(void **state)
{
	(void)state;
	for (int f = 1; f <= 7; f++)
		for (int t = 1; t <= 7; t++) {
			int want = f == t || in_spec(task_spec, task_status_name(f), task_status_name(t));
			if (task_transition_allowed(f, t) != want)
				fail_msg("%s -> %s: got %d, spec says %d", task_status_name(f), task_status_name(t),
					 !want, want);
		}
}

static void done_is_final(void **state)
{
	bbb_status st;

	(void)state;
	for (int t = 1; t <= 7; t++) {
		status_clear(&st);
		if (t == T(DONE))
			continue;
		assert_int_equal(task_transition_check(T(DONE), t, &st), -1);
		assert_string_equal(st.reason, "INVALID_TASK_TRANSITION");
		assert_int_equal(st.code, BBB_FAILED_PRECONDITION);
	}
}

static void run_transitions_match_the_spec_exactly(void **state)
{
	(void)state;
	for (int f = 1; f <= 7; f++)
		for (int t = 1; t <= 7; t++) {
			int want = f == t || in_spec(run_spec, run_status_name(f), run_status_name(t));
			if (run_transition_allowed(f, t) != want)
				fail_msg("%s -> %s: got %d, spec says %d", run_status_name(f), run_status_name(t),
					 !want, want);
		}
}

static void commands_apply_only_from_their_sources(void **state)
{
	struct {
		task_command cmd;
		const char *sources;
		task_status target;
	} cases[] = {
		{C(PAUSE), " running ", T(BLOCKED)},
		{C(RESUME), " blocked ", T(RUNNING)},
		{C(RETRY), " failed cancelled ", T(TODO)},
		{C(CANCEL), " todo running review blocked failed ", T(CANCELLED)},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (int from = 1; from <= 7; from++) {
			char name[32];
			task_status to = T(UNSPECIFIED);
			bbb_status st;
			status_clear(&st);
			snprintf(name, sizeof(name), " %s ", task_status_name(from));
			int rc = task_command_target(cases[i].cmd, from, &to, &st);
			if (strstr(cases[i].sources, name) != NULL) {
				assert_int_equal(rc, 0);
				assert_int_equal(to, cases[i].target);
			} else {
				assert_int_equal(rc, -1);
				assert_string_equal(st.reason, "INVALID_TASK_TRANSITION");
			}
		}
}

static void pause_of_todo_task_is_refused(void **state)
{
	task_status to;
	bbb_status st;

	(void)state;
	status_clear(&st);
	assert_int_equal(task_command_target(C(PAUSE), T(TODO), &to, &st), -1);
	assert_string_equal(st.message, "cannot pause a todo task");
}

static void unknown_command_is_invalid_task_command(void **state)
{
	task_status to;
	bbb_status st;

	(void)state;
	status_clear(&st);
	assert_int_equal(task_command_target(C(UNSPECIFIED), T(RUNNING), &to, &st), -1);
	assert_string_equal(st.reason, "INVALID_TASK_COMMAND");
	status_clear(&st);
	assert_int_equal(task_command_target((task_command)99, T(RUNNING), &to, &st), -1);
	assert_string_equal(st.reason, "INVALID_TASK_COMMAND");
}

static void run_outcomes_map_to_task_statuses(void **state)
{
	(void)state;
	assert_int_equal(task_status_after_run(R(SUCCEEDED)), T(REVIEW));
	assert_int_equal(task_status_after_run(R(FAILED)), T(FAILED));
	assert_int_equal(task_status_after_run(R(CANCELLED)), T(CANCELLED));
	assert_int_equal(task_status_after_run(R(INTERRUPTED)), T(BLOCKED));
	assert_int_equal(task_status_after_run(R(RUNNING)), T(UNSPECIFIED));
	assert_true(run_is_active(R(QUEUED)) && run_is_active(R(RUNNING)) && run_is_active(R(RETRY_SCHEDULED)) &&
		    run_is_active(R(INTERRUPTED)));
	assert_true(run_is_final(R(SUCCEEDED)) && run_is_final(R(FAILED)) && run_is_final(R(CANCELLED)));
	assert_false(run_is_active(R(SUCCEEDED)) || run_is_final(R(INTERRUPTED)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(task_transitions_match_the_spec_exactly),
		cmocka_unit_test(done_is_final),
		cmocka_unit_test(run_transitions_match_the_spec_exactly),
		cmocka_unit_test(commands_apply_only_from_their_sources),
		cmocka_unit_test(pause_of_todo_task_is_refused),
		cmocka_unit_test(unknown_command_is_invalid_task_command),
		cmocka_unit_test(run_outcomes_map_to_task_statuses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
