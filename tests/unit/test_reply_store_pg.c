/*
 * store/reply_store: the claims of request ids in `replies` on PostgreSQL,
 * as two servers (owners "a" and "b") see them. What the shared reply cache
 * depends on: one owner at a time, a stored reply for everyone, a claim
 * taken over only once its lease passed (or by its own owner), and renewal
 * and prune by the times. Run inside tests/pg/with_cluster.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/status.h"
#include "store/migrate.h"
#include "store/reply_store.h"
#include "store/store.h"

#define M "/beebeebrain.v1.TaskService/CreateTask"
#define NOW ((int64_t)1000000)
#define LEASE ((int64_t)30000)

static char target[256];

static int setup(void **state)
{
	struct db *db;
	bbb_status st;

	if (store_conn_open(target, 0, 1, 5000, &db, &st) != 0 || db_exec(db, "DELETE FROM replies") != DB_OK)
		return -1;
	*state = db;
	return 0;
}

static int teardown(void **state)
{
	store_conn_close(*state);
	return 0;
}

static enum store_reply_state claim(struct db *db, const char *id, const char *owner, int64_t now,
				    struct store_reply_claim *c)
{
	bbb_status st;

	status_clear(&st);
	assert_int_equal(store_reply_claim(db, id, M, owner, now, now + LEASE, c, &st), 0);
	return c->rs_state;
}

static void the_first_claim_holds_and_its_stored_reply_answers_the_other_server(void **state)
{
	struct db *db = *state;
	struct store_reply_claim c;
	bbb_status st;
	int stored;

	assert_int_equal(claim(db, "r1", "a", NOW, &c), STORE_REPLY_CLAIMED);
	assert_false(c.rs_took_over);
	assert_int_equal(claim(db, "r1", "b", NOW + 1, &c), STORE_REPLY_RUNNING);
	assert_string_equal(c.rs_owner, "a");
	assert_null(c.rs_reply);
	status_clear(&st);
	assert_int_equal(
		store_reply_finish(db, "r1", M, "a", (const uint8_t *)"\x00reply", 6, NOW + 600000, &stored, &st), 0);
	assert_true(stored);
	assert_int_equal(claim(db, "r1", "b", NOW + 2, &c), STORE_REPLY_DONE);
	assert_int_equal(c.rs_len, 6);
	assert_memory_equal(c.rs_reply, "\x00reply", 6);
	free(c.rs_reply);
	/* The same request_id of another method is another call. */
	status_clear(&st);
	assert_int_equal(
		store_reply_claim(db, "r1", "/beebeebrain.v1.TaskService/DeleteTask", "b", NOW, NOW + LEASE, &c, &st),
		0);
	assert_int_equal(c.rs_state, STORE_REPLY_CLAIMED);
}

static void a_lapsed_claim_is_taken_over_and_its_late_reply_is_not_stored(void **state)
{
	struct db *db = *state;
	struct store_reply_claim c;
	bbb_status st;
	int stored = 1;

	assert_int_equal(claim(db, "r2", "a", NOW, &c), STORE_REPLY_CLAIMED);
	assert_int_equal(claim(db, "r2", "b", NOW + LEASE, &c), STORE_REPLY_RUNNING); /* the lease's last ms */
	assert_int_equal(claim(db, "r2", "b", NOW + LEASE + 1, &c), STORE_REPLY_CLAIMED);
	assert_true(c.rs_took_over);
	assert_string_equal(c.rs_owner, "a");
	status_clear(&st);
	assert_int_equal(store_reply_finish(db, "r2", M, "a", (const uint8_t *)"late", 4, NOW + 600000, &stored, &st),
			 0);
	assert_false(stored);
	assert_int_equal(claim(db, "r2", "a", NOW + LEASE + 2, &c), STORE_REPLY_RUNNING);
	assert_string_equal(c.rs_owner, "b");
}

static void a_reply_past_its_time_is_claimed_again(void **state)
{
	struct db *db = *state;
	struct store_reply_claim c;
	bbb_status st;
	int stored;

	assert_int_equal(claim(db, "r3", "a", NOW, &c), STORE_REPLY_CLAIMED);
	status_clear(&st);
	assert_int_equal(store_reply_finish(db, "r3", M, "a", (const uint8_t *)"x", 1, NOW + 100, &stored, &st), 0);
	assert_int_equal(claim(db, "r3", "b", NOW + 100, &c), STORE_REPLY_DONE);
	free(c.rs_reply);
	assert_int_equal(claim(db, "r3", "b", NOW + 101, &c), STORE_REPLY_CLAIMED);
	assert_false(c.rs_took_over); /* a reply, not a running call, was replaced */
}

static void an_owner_takes_its_own_claim_back_and_a_dropped_claim_is_free(void **state)
{
	struct db *db = *state;
	struct store_reply_claim c;
	bbb_status st;

	assert_int_equal(claim(db, "r4", "a", NOW, &c), STORE_REPLY_CLAIMED);
	assert_int_equal(claim(db, "r4", "a", NOW + 1, &c), STORE_REPLY_CLAIMED);
	status_clear(&st);
	assert_int_equal(store_reply_drop(db, "r4", M, "b", &st), 0); /* not b's: nothing */
	assert_int_equal(claim(db, "r4", "b", NOW + 2, &c), STORE_REPLY_RUNNING);
	assert_int_equal(store_reply_drop(db, "r4", M, "a", &st), 0);
	assert_int_equal(claim(db, "r4", "b", NOW + 3, &c), STORE_REPLY_CLAIMED);
	assert_false(c.rs_took_over);
}

static void renewal_keeps_recent_claims_of_the_owner_and_prune_deletes_what_is_past(void **state)
{
	struct db *db = *state;
	struct store_reply_claim c;
	bbb_status st;
	int n;

	assert_int_equal(claim(db, "old", "a", NOW - 5000, &c), STORE_REPLY_CLAIMED);
	assert_int_equal(claim(db, "new", "a", NOW, &c), STORE_REPLY_CLAIMED);
	assert_int_equal(claim(db, "other", "b", NOW, &c), STORE_REPLY_CLAIMED);
	status_clear(&st);
	/* Claims made since NOW - 1000 only: "old" is left to lapse. */
	assert_int_equal(store_reply_renew(db, "a", NOW - 1000, NOW + 10 * LEASE, &n, &st), 0);
	assert_int_equal(n, 1);
	assert_int_equal(claim(db, "new", "b", NOW + 2 * LEASE, &c), STORE_REPLY_RUNNING);
	assert_int_equal(store_reply_prune(db, NOW + 2 * LEASE, 100, &n, &st), 0);
	assert_int_equal(n, 2); /* "old" and "other" */
	assert_int_equal(store_reply_prune(db, NOW + 2 * LEASE, 100, &n, &st), 0);
	assert_int_equal(n, 0);
	assert_int_equal(claim(db, "new", "b", NOW + 2 * LEASE, &c), STORE_REPLY_RUNNING);
	assert_string_equal(c.rs_owner, "a");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(the_first_claim_holds_and_its_stored_reply_answers_the_other_server,
						setup, teardown),
		cmocka_unit_test_setup_teardown(a_lapsed_claim_is_taken_over_and_its_late_reply_is_not_stored, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_reply_past_its_time_is_claimed_again, setup, teardown),
		cmocka_unit_test_setup_teardown(an_owner_takes_its_own_claim_back_and_a_dropped_claim_is_free, setup,
						teardown),
		cmocka_unit_test_setup_teardown(renewal_keeps_recent_claims_of_the_owner_and_prune_deletes_what_is_past,
						setup, teardown),
	};
	const char *name = getenv("PGDATABASE");
	struct migration_set set;
	struct db *db;
	bbb_status st;
	int applied;

	snprintf(target, sizeof(target), "dbname=%s", name != NULL ? name : "postgres");
	if (store_conn_open(target, 0, 1, 5000, &db, &st) != 0) {
		fprintf(stderr, "test_reply_store_pg: %s (run it inside tests/pg/with_cluster.sh)\n", st.message);
		return 1;
	}
	set = migrate_builtin_for(db);
	if (migrate_up(db, &set, 0, &applied, &st) != 0) {
		fprintf(stderr, "test_reply_store_pg: migrate: %s\n", st.message);
		return 1;
	}
	store_conn_close(db);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
