/* domain/broadcast: limits of BroadcastCommand, deduplication, default selection, outcomes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/status.h"
#include "domain/broadcast.h"

#define T(x) BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_##x
#define C(x) BEEBEEBRAIN__V1__TASK_COMMAND__TASK_COMMAND_##x

static void at_most_200_targets_are_accepted(void **state)
{
	int64_t ids[201];
	size_t n;
	int limit;
	bbb_status st;

	(void)state;
	for (int i = 0; i < 201; i++)
		ids[i] = i + 1;
	status_clear(&st);
	assert_int_equal(broadcast_check(&st, C(PAUSE), ids, NULL, 200, 0, 0, &n, &limit), 0);
	assert_int_equal(n, 200);
	assert_int_equal(limit, 200);
	assert_int_equal(broadcast_check(&st, C(PAUSE), ids, NULL, 201, 0, 0, &n, &limit), -1);
	assert_string_equal(st.reason, "VALIDATION_ERROR");
	assert_string_equal(st.violations[0].field, "task_ids");
}

static void limit_is_1_to_200_and_zero_means_200(void **state)
{
	size_t n;
	int limit;
	bbb_status st;

	(void)state;
	status_clear(&st);
	assert_int_equal(broadcast_check(&st, C(CANCEL), NULL, NULL, 0, 0, 5, &n, &limit), 0);
	assert_int_equal(limit, 5);
	assert_int_equal(broadcast_check(&st, C(CANCEL), NULL, NULL, 0, 0, 201, &n, &limit), -1);
	assert_string_equal(st.violations[0].field, "limit");
	status_clear(&st);
	assert_int_equal(broadcast_check(&st, C(CANCEL), NULL, NULL, 0, 0, -1, &n, &limit), -1);
}

static void every_offending_field_is_listed(void **state)
{
	int64_t ids[] = {3, 0};
	int64_t versions[] = {1};
	size_t n;
	int limit;
	bbb_status st;

	(void)state;
	status_clear(&st);
	assert_int_equal(broadcast_check(&st, 0, ids, versions, 2, 1, 300, &n, &limit), -1);
	assert_int_equal(st.n_violations, 4);
	assert_string_equal(st.violations[0].field, "command");
	assert_string_equal(st.violations[1].field, "task_ids");
	assert_string_equal(st.violations[2].field, "expected_versions");
	assert_string_equal(st.violations[3].field, "limit");
}

static void repeated_ids_are_targeted_once_with_their_first_version(void **state)
{
	int64_t ids[] = {4, 2, 4, 9, 2};
	int64_t versions[] = {1, 2, 3, 4, 5};
	size_t n;
	int limit;
	bbb_status st;

	(void)state;
	status_clear(&st);
	assert_int_equal(broadcast_check(&st, C(RESUME), ids, versions, 5, 5, 0, &n, &limit), 0);
	assert_int_equal(n, 3);
	assert_int_equal(ids[0], 4);
	assert_int_equal(ids[1], 2);
	assert_int_equal(ids[2], 9);
	assert_int_equal(versions[0], 1);
	assert_int_equal(versions[1], 2);
	assert_int_equal(versions[2], 4);
}

static void without_a_filter_each_command_selects_the_states_it_acts_on(void **state)
{
	(void)state;
	assert_int_equal(broadcast_default_statuses(C(PAUSE)), 1u << T(RUNNING));
	assert_int_equal(broadcast_default_statuses(C(RESUME)), 1u << T(BLOCKED));
	assert_int_equal(broadcast_default_statuses(C(RETRY)), (1u << T(FAILED)) | (1u << T(CANCELLED)));
	assert_int_equal(broadcast_default_statuses(C(CANCEL)), (1u << T(TODO)) | (1u << T(RUNNING)) |
									(1u << T(REVIEW)) | (1u << T(BLOCKED)) |
									(1u << T(FAILED)));
	assert_int_equal(broadcast_default_statuses(0), 0);
}

static void outcomes_are_applied_conflict_or_rejected(void **state)
{
	bbb_status st;

	(void)state;
	status_clear(&st);
	assert_string_equal(broadcast_outcome(&st), "applied");
	status_fail(&st, "TASK_VERSION_CONFLICT", "x");
	assert_string_equal(broadcast_outcome(&st), "conflict");
	status_fail(&st, "INVALID_TASK_TRANSITION", "x");
	assert_string_equal(broadcast_outcome(&st), "rejected");
	status_fail(&st, "TASK_NOT_FOUND", "x");
	assert_string_equal(broadcast_outcome(&st), "rejected");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(at_most_200_targets_are_accepted),
		cmocka_unit_test(limit_is_1_to_200_and_zero_means_200),
		cmocka_unit_test(every_offending_field_is_listed),
		cmocka_unit_test(repeated_ids_are_targeted_once_with_their_first_version),
		cmocka_unit_test(without_a_filter_each_command_selects_the_states_it_acts_on),
		cmocka_unit_test(outcomes_are_applied_conflict_or_rejected),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
