/*
 * store/server_store on a real migrated database, and domain/server_rules:
 * a server's row as registered, renewed and stopped, the list newest
 * heartbeat first within its window and limit, the prune of rows stopped or
 * silent for 7 days (never the caller's own), and which rows are alive.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "unit_db.h"

#include "common/arena.h"
#include "common/status.h"
#include "domain/server_rules.h"
#include "store/server_store.h"

#define T0 1800000000000LL
#define DAY_MS ((int64_t)24 * 3600 * 1000)

struct fixture {
	char dir[UNIT_DB_DIR_MAX];
	struct db *db;
	struct arena a;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	unit_db_open(f->dir, "servers", &f->db);
	arena_init(&f->a);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	arena_reset(&f->a);
	assert_int_equal(unit_db_close(f->dir, f->db), 0);
	free(f);
	return 0;
}

static void register_at(struct fixture *f, const char *id, int64_t pid, int64_t now_ms)
{
	struct store_server_info info = {.srv_id = id,
					 .srv_address = "tcp://127.0.0.1:7420,ipc:///tmp/bbb",
					 .srv_version = "9.8.7",
					 .srv_pid = pid};
	bbb_status st;

	assert_int_equal(store_server_register(f->db, &info, now_ms, &st), 0);
}

static Beebeebrain__V1__Server **list(struct fixture *f, int64_t since_ms, int limit, size_t *n)
{
	Beebeebrain__V1__Server **out;
	bbb_status st;

	assert_int_equal(store_server_list(f->db, since_ms, limit, &f->a, &out, n, &st), 0);
	return out;
}

static void a_registered_server_is_listed_as_it_said_and_not_stopped(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__Server **s;
	size_t n;

	register_at(f, "00000000000000aa", 4242, T0);
	s = list(f, 0, 10, &n);
	assert_int_equal(n, 1);
	assert_string_equal(s[0]->id, "00000000000000aa");
	assert_string_equal(s[0]->address, "tcp://127.0.0.1:7420,ipc:///tmp/bbb");
	assert_string_equal(s[0]->version, "9.8.7");
	assert_int_equal(s[0]->pid, 4242);
	assert_int_equal(s[0]->started_at_ms, T0);
	assert_int_equal(s[0]->heartbeat_at_ms, T0);
	assert_int_equal(s[0]->stopped_at_ms, 0);
	assert_false(s[0]->alive); /* the caller's to say */
	assert_false(s[0]->this_server);
}

static void registering_an_id_twice_is_a_conflict(void **state)
{
	struct fixture *f = *state;
	struct store_server_info info = {
		.srv_id = "00000000000000aa", .srv_address = "", .srv_version = "", .srv_pid = 1};
	bbb_status st;

	register_at(f, "00000000000000aa", 1, T0);
	assert_int_equal(store_server_register(f->db, &info, T0 + 1, &st), -1);
	assert_string_equal(st.reason, "RESOURCE_CONFLICT");
}

static void a_heartbeat_renews_its_row_and_the_newest_comes_first(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__Server **s;
	bbb_status st;
	size_t n;
	int found = 0;

	register_at(f, "00000000000000aa", 1, T0);
	register_at(f, "00000000000000bb", 2, T0 + 1000);
	s = list(f, 0, 10, &n);
	assert_int_equal(n, 2);
	assert_string_equal(s[0]->id, "00000000000000bb");
	assert_int_equal(store_server_heartbeat(f->db, "00000000000000aa", T0 + 5000, &found, &st), 0);
	assert_true(found);
	s = list(f, 0, 10, &n);
	assert_int_equal(n, 2);
	assert_string_equal(s[0]->id, "00000000000000aa");
	assert_int_equal(s[0]->heartbeat_at_ms, T0 + 5000);
	assert_int_equal(s[0]->started_at_ms, T0);
	assert_string_equal(s[1]->id, "00000000000000bb");
}

static void a_heartbeat_without_a_row_says_so_and_writes_nothing(void **state)
{
	struct fixture *f = *state;
	bbb_status st;
	size_t n;
	int found = 1;

	assert_int_equal(store_server_heartbeat(f->db, "00000000000000cc", T0, &found, &st), 0);
	assert_false(found);
	list(f, 0, 10, &n);
	assert_int_equal(n, 0);
}

static void a_stop_sets_stopped_at_and_the_last_heartbeat(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__Server **s;
	bbb_status st;
	size_t n;

	register_at(f, "00000000000000aa", 1, T0);
	assert_int_equal(store_server_stop(f->db, "00000000000000aa", T0 + 7000, &st), 0);
	s = list(f, 0, 10, &n);
	assert_int_equal(n, 1);
	assert_int_equal(s[0]->stopped_at_ms, T0 + 7000);
	assert_int_equal(s[0]->heartbeat_at_ms, T0 + 7000);
	/* A row nobody has: nothing to do, no error. */
	assert_int_equal(store_server_stop(f->db, "00000000000000cc", T0, &st), 0);
}

static void the_list_keeps_to_its_window_and_its_limit(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__Server **s;
	size_t n;

	register_at(f, "00000000000000aa", 1, T0 - 2 * DAY_MS);
	register_at(f, "00000000000000bb", 2, T0 - 1000);
	register_at(f, "00000000000000cc", 3, T0);
	s = list(f, T0 - DAY_MS, 10, &n);
	assert_int_equal(n, 2);
	assert_string_equal(s[0]->id, "00000000000000cc");
	assert_string_equal(s[1]->id, "00000000000000bb");
	s = list(f, 0, 2, &n);
	assert_int_equal(n, 2);
	assert_string_equal(s[1]->id, "00000000000000bb");
	s = list(f, 0, 10, &n);
	assert_int_equal(n, 3);
	assert_string_equal(s[2]->id, "00000000000000aa");
}

static void prune_deletes_rows_stopped_or_silent_past_the_cutoff_but_never_its_own(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__Server **s;
	int64_t cutoff = T0 - SERVER_ROW_KEEP_MS;
	bbb_status st;
	size_t n;
	int removed = -1;

	register_at(f, "000000000000000a", 1, cutoff - 1); /* silent too long: goes */
	register_at(f, "000000000000000b", 2, cutoff - 10); /* stopped too long ago: goes */
	assert_int_equal(store_server_stop(f->db, "000000000000000b", cutoff - 5, &st), 0);
	register_at(f, "000000000000000c", 3, cutoff); /* silent exactly 7 days: stays */
	register_at(f, "000000000000000d", 4, T0 - 1000); /* stopped lately: stays */
	assert_int_equal(store_server_stop(f->db, "000000000000000d", T0 - 500, &st), 0);
	register_at(f, "000000000000000e", 5, cutoff - DAY_MS); /* the caller's own, however old: stays */
	assert_int_equal(store_server_prune(f->db, cutoff, "000000000000000e", &removed, &st), 0);
	assert_int_equal(removed, 2);
	s = list(f, 0, 10, &n);
	assert_int_equal(n, 3);
	assert_string_equal(s[0]->id, "000000000000000d");
	assert_string_equal(s[1]->id, "000000000000000c");
	assert_string_equal(s[2]->id, "000000000000000e");
	assert_int_equal(store_server_prune(f->db, cutoff, NULL, &removed, &st), 0);
	assert_int_equal(removed, 1);
}

static void a_server_is_alive_for_three_heartbeats_unless_stopped(void **state)
{
	int64_t window = (int64_t)SERVER_MISSED_HEARTBEATS * SERVER_HEARTBEAT_MS;

	(void)state;
	assert_int_equal(SERVER_HEARTBEAT_MS, 5000);
	assert_true(server_rules_alive(T0, T0, 0));
	assert_true(server_rules_alive(T0, T0 - window, 0));
	assert_false(server_rules_alive(T0, T0 - window - 1, 0));
	assert_true(server_rules_dead(T0, T0 - window - 1, 0));
	assert_true(server_rules_alive(T0, T0 + 60000, 0)); /* its clock ahead of ours */
	assert_false(server_rules_alive(T0, INT64_MIN, 0));
	assert_true(server_rules_dead(T0, INT64_MIN, 0));
	/* Stopped: neither alive nor dead, however fresh or old. */
	assert_false(server_rules_alive(T0, T0, T0));
	assert_false(server_rules_dead(T0, T0, T0));
	assert_false(server_rules_dead(T0, T0 - 10 * window, T0 - 10 * window));
	assert_false(server_rules_dead(T0, T0, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(a_registered_server_is_listed_as_it_said_and_not_stopped, setup,
						teardown),
		cmocka_unit_test_setup_teardown(registering_an_id_twice_is_a_conflict, setup, teardown),
		cmocka_unit_test_setup_teardown(a_heartbeat_renews_its_row_and_the_newest_comes_first, setup, teardown),
		cmocka_unit_test_setup_teardown(a_heartbeat_without_a_row_says_so_and_writes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(a_stop_sets_stopped_at_and_the_last_heartbeat, setup, teardown),
		cmocka_unit_test_setup_teardown(the_list_keeps_to_its_window_and_its_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(prune_deletes_rows_stopped_or_silent_past_the_cutoff_but_never_its_own,
						setup, teardown),
		cmocka_unit_test(a_server_is_alive_for_three_heartbeats_unless_stopped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
