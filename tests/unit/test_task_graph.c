/* domain/task_graph: dependency edges (self, duplicate, cycles) and the readiness rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/status.h"
#include "domain/task_graph.h"

#define T(x) BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_##x

static void expect_refused(const struct task_edge *e, size_t n, int64_t task, int64_t on, const char *words)
{
	bbb_status st;

	status_clear(&st);
	assert_int_equal(task_graph_check_new_edge(e, n, task, on, &st), -1);
	assert_int_equal(st.code, BBB_INVALID_ARGUMENT);
	assert_string_equal(st.reason, "INVALID_TASK_DEPENDENCY");
	if (strstr(st.message, words) == NULL)
		fail_msg("message '%s' does not say '%s'", st.message, words);
}

static void a_task_cannot_depend_on_itself(void **state)
{
	(void)state;
	expect_refused(NULL, 0, 7, 7, "itself");
}

static void the_same_dependency_twice_is_refused(void **state)
{
	const struct task_edge e[] = {{1, 2}};

	(void)state;
	expect_refused(e, 1, 1, 2, "already depends");
}

static void a_direct_cycle_is_refused(void **state)
{
	const struct task_edge e[] = {{1, 2}};

	(void)state;
	expect_refused(e, 1, 2, 1, "cycle");
}

static void a_cycle_through_other_tasks_is_refused(void **state)
{
	/* 1 -> 2 -> 3 -> 4; adding 4 -> 1 closes the loop. */
	const struct task_edge e[] = {{3, 4}, {1, 2}, {2, 3}};
	bbb_status st;

	(void)state;
	expect_refused(e, 3, 4, 1, "cycle");
	/* The reverse direction only shortcuts the chain: allowed. */
	status_clear(&st);
	assert_int_equal(task_graph_check_new_edge(e, 3, 1, 4, &st), 0);
}

static void a_diamond_is_not_a_cycle(void **state)
{
	/* 1 depends on 2 and 3, both depend on 4. */
	const struct task_edge e[] = {{1, 2}, {1, 3}, {2, 4}, {3, 4}};
	bbb_status st;

	(void)state;
	status_clear(&st);
	assert_int_equal(task_graph_check_new_edge(e, 4, 5, 1, &st), 0);
	assert_int_equal(task_graph_check_new_edge(e, 4, 2, 3, &st), 0);
	expect_refused(e, 4, 4, 1, "cycle");
}

static void reachability_follows_long_chains_and_ignores_other_components(void **state)
{
	enum { N = 5000 };
	struct task_edge *e = calloc(N, sizeof(*e));

	(void)state;
	/* A chain 1 -> 2 -> ... -> N, listed backwards, and a separate pair. */
	for (int i = 0; i < N - 1; i++)
		e[i] = (struct task_edge){N - 1 - i, N - i};
	e[N - 1] = (struct task_edge){100000, 100001};
	assert_int_equal(task_graph_reaches(e, N, 1, N), 1);
	assert_int_equal(task_graph_reaches(e, N, N, 1), 0);
	assert_int_equal(task_graph_reaches(e, N, 1, 100001), 0);
	assert_int_equal(task_graph_reaches(e, N, 42, 42), 1);
	free(e);
}

static void ready_means_todo_with_parent_and_every_dependency_done(void **state)
{
	const task_status done2[] = {T(DONE), T(DONE)};
	const task_status mixed[] = {T(DONE), T(REVIEW)};

	(void)state;
	assert_true(task_is_ready(T(TODO), T(UNSPECIFIED), NULL, 0));
	assert_true(task_is_ready(T(TODO), T(DONE), done2, 2));
	assert_false(task_is_ready(T(TODO), T(UNSPECIFIED), mixed, 2));
	assert_false(task_is_ready(T(TODO), T(RUNNING), done2, 2));
	for (int s = T(RUNNING); s <= T(CANCELLED); s++)
		assert_false(task_is_ready((task_status)s, T(UNSPECIFIED), NULL, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_task_cannot_depend_on_itself),
		cmocka_unit_test(the_same_dependency_twice_is_refused),
		cmocka_unit_test(a_direct_cycle_is_refused),
		cmocka_unit_test(a_cycle_through_other_tasks_is_refused),
		cmocka_unit_test(a_diamond_is_not_a_cycle),
		cmocka_unit_test(reachability_follows_long_chains_and_ignores_other_components),
		cmocka_unit_test(ready_means_todo_with_parent_and_every_dependency_done),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
