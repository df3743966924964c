/* domain/schedule: which calls start now: the global limit (calls only, never parked turns), agent limits,
 * conversations before new runs, and what each endpoint's breaker admits (probe, release slots). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/dbuf.h"
#include "domain/schedule.h"

#define OPEN_GATE                                                                                                      \
	{                                                                                                              \
		SIZE_MAX, SIZE_MAX                                                                                     \
	}

static struct schedule_candidate due(int64_t run, int64_t agent, int limit, int gate)
{
	struct schedule_candidate c = {run, agent, limit, gate, SCHEDULE_DUE};

	return c;
}

static struct schedule_candidate turn(int64_t run, int64_t agent, int gate, enum schedule_kind kind)
{
	struct schedule_candidate c = {run, agent, 0, gate, kind};

	return c;
}

/* The run ids chosen, in order, as a string "1 2 3". */
static const char *choose(struct schedule_input *in, const struct schedule_candidate *c, size_t n)
{
	static char out[256];
	size_t chosen[64], k;
	struct dbuf b;

	assert_true(n <= 64);
	k = schedule_choose(in, c, n, chosen);
	dbuf_init(&b, sizeof(out) - 1);
	for (size_t i = 0; i < k; i++)
		assert_int_equal(dbuf_printf(&b, "%s%lld", i ? " " : "", (long long)c[chosen[i]].sc_run_id), 0);
	snprintf(out, sizeof(out), "%s", dbuf_str(&b));
	dbuf_free(&b);
	return out;
}

static void due_runs_start_in_order_within_the_global_limit(void **state)
{
	struct schedule_candidate c[] = {due(5, 0, 4, -1), due(3, 0, 4, -1), due(9, 0, 4, -1), due(1, 0, 4, -1)};
	struct schedule_input in = {.si_max_in_flight = 4, .si_calls_in_flight = 1};

	(void)state;
	assert_string_equal(choose(&in, c, 4), "5 3 9");
	in.si_calls_in_flight = 4;
	assert_string_equal(choose(&in, c, 4), "");
	in.si_calls_in_flight = 6; /* more than the limit (lowered at a restart): nothing, no wrap */
	assert_string_equal(choose(&in, c, 4), "");
}

static void an_agent_at_its_limit_is_skipped_without_blocking_others(void **state)
{
	const struct schedule_busy busy[] = {{100, 7}, {101, 7}};
	struct schedule_candidate c[] = {due(1, 7, 3, -1), due(2, 7, 3, -1), due(3, 8, 1, -1), due(4, 8, 1, -1),
					 due(5, 9, 2, -1)};
	struct schedule_input in = {.si_max_in_flight = 64, .si_busy = busy, .si_n_busy = 2};

	(void)state;
	/* Agent 7 holds 2 of 3: one more. Agent 8 has 1 slot. Agent 9 comes after them and still goes. */
	assert_string_equal(choose(&in, c, 5), "1 3 5");
}

static void runs_without_an_agent_have_no_agent_limit(void **state)
{
	const struct schedule_busy busy[] = {{100, 0}, {101, 0}};
	struct schedule_candidate c[] = {due(1, 0, 1, -1), due(2, 0, 1, -1), due(3, 0, 1, -1)};
	struct schedule_input in = {.si_max_in_flight = 64, .si_busy = busy, .si_n_busy = 2};

	(void)state;
	assert_string_equal(choose(&in, c, 3), "1 2 3");
}

static void a_run_already_held_is_not_started_twice(void **state)
{
	const struct schedule_busy busy[] = {{2, 0}};
	struct schedule_candidate c[] = {due(1, 0, 4, -1), due(2, 0, 4, -1), due(3, 0, 4, -1)};
	struct schedule_input in = {.si_max_in_flight = 64, .si_busy = busy, .si_n_busy = 1};

	(void)state;
	assert_string_equal(choose(&in, c, 3), "1 3");
}

static void parked_turns_do_not_hold_an_in_flight_slot(void **state)
{
	/* Two conversations of agent 1 wait for endpoint 0's open breaker; the limit is 2 calls. */
	const struct schedule_busy busy[] = {{10, 1}, {11, 1}};
	struct schedule_gate gates[] = {{0, 0}, OPEN_GATE};
	struct schedule_candidate c[] = {turn(10, 1, 0, SCHEDULE_PARKED), turn(11, 1, 0, SCHEDULE_PARKED),
					 due(20, 2, 4, 1), due(21, 2, 4, 1), due(22, 2, 4, 1)};
	struct schedule_input in = {
		.si_max_in_flight = 2,
		.si_calls_in_flight = 0, /* parked turns are no calls */
		.si_busy = busy,
		.si_n_busy = 2,
		.si_gates = gates,
		.si_n_gates = 2,
	};

	(void)state;
	/* The other endpoint's runs use both slots. */
	assert_string_equal(choose(&in, c, 5), "20 21");
}

static void conversations_go_before_new_runs(void **state)
{
	const struct schedule_busy busy[] = {{10, 1}, {11, 1}};
	struct schedule_candidate c[] = {due(1, 2, 4, -1), turn(10, 1, -1, SCHEDULE_PARKED), due(2, 2, 4, -1),
					 turn(11, 1, -1, SCHEDULE_TURN)};
	struct schedule_input in = {.si_max_in_flight = 3, .si_busy = busy, .si_n_busy = 2};

	(void)state;
	assert_string_equal(choose(&in, c, 4), "11 10 1");
}

static void turns_of_runs_held_keep_their_agent_slot(void **state)
{
	/* Agent 1 (limit 2) holds two conversations: their turns go, a new run of agent 1 does not. */
	const struct schedule_busy busy[] = {{10, 1}, {11, 1}};
	struct schedule_candidate c[] = {due(1, 1, 2, -1), turn(10, 1, -1, SCHEDULE_TURN),
					 turn(11, 1, -1, SCHEDULE_PARKED)};
	struct schedule_input in = {.si_max_in_flight = 64, .si_busy = busy, .si_n_busy = 2};

	(void)state;
	assert_string_equal(choose(&in, c, 3), "10 11");
}

static void an_open_breaker_holds_its_runs_and_others_go(void **state)
{
	struct schedule_gate gates[] = {{0, 0}, OPEN_GATE};
	struct schedule_candidate c[] = {due(1, 0, 4, 0), turn(2, 0, 0, SCHEDULE_TURN), due(3, 0, 4, 1),
					 due(4, 0, 4, -1)};
	struct schedule_input in = {.si_max_in_flight = 64, .si_gates = gates, .si_n_gates = 2};

	(void)state;
	assert_string_equal(choose(&in, c, 4), "3 4");
}

static void a_half_open_breaker_lets_exactly_one_probe_through_parked_first(void **state)
{
	struct schedule_gate gates[] = {{1, 1}};
	struct schedule_candidate c[] = {due(1, 0, 4, 0), due(2, 0, 4, 0), turn(3, 0, 0, SCHEDULE_PARKED)};
	struct schedule_input in = {.si_max_in_flight = 64, .si_gates = gates, .si_n_gates = 1};

	(void)state;
	assert_string_equal(choose(&in, c, 3), "3");
	assert_int_equal(gates[0].sg_calls, 0);
}

static void release_slots_pace_held_work_but_not_conversations(void **state)
{
	/* Closed, releasing: 2 slots of held work are due now. */
	struct schedule_gate gates[] = {{SIZE_MAX, 2}};
	struct schedule_candidate c[] = {turn(1, 0, 0, SCHEDULE_PARKED), due(2, 0, 4, 0), due(3, 0, 4, 0),
					 turn(4, 0, 0, SCHEDULE_TURN), turn(5, 0, 0, SCHEDULE_TURN)};
	struct schedule_input in = {.si_max_in_flight = 64, .si_gates = gates, .si_n_gates = 1};

	(void)state;
	assert_string_equal(choose(&in, c, 5), "4 5 1 2");
	assert_int_equal(gates[0].sg_held, 0);
}

static void nothing_to_choose_from(void **state)
{
	struct schedule_input in = {.si_max_in_flight = 64};
	size_t chosen[1];

	(void)state;
	assert_int_equal(schedule_choose(&in, NULL, 0, chosen), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(due_runs_start_in_order_within_the_global_limit),
		cmocka_unit_test(an_agent_at_its_limit_is_skipped_without_blocking_others),
		cmocka_unit_test(runs_without_an_agent_have_no_agent_limit),
		cmocka_unit_test(a_run_already_held_is_not_started_twice),
		cmocka_unit_test(parked_turns_do_not_hold_an_in_flight_slot),
		cmocka_unit_test(conversations_go_before_new_runs),
		cmocka_unit_test(turns_of_runs_held_keep_their_agent_slot),
		cmocka_unit_test(an_open_breaker_holds_its_runs_and_others_go),
		cmocka_unit_test(a_half_open_breaker_lets_exactly_one_probe_through_parked_first),
		cmocka_unit_test(release_slots_pace_held_work_but_not_conversations),
		cmocka_unit_test(nothing_to_choose_from),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
