/*
 * events/alerts.c on a real database migrated to the binary's schema: the
 * operator's acknowledgement and resolution by id, next to the server's own
 * raise and resolve by dedup key. An acknowledged alert stays open, keeps its
 * acknowledgement when its cause repeats, and is closed by the server when
 * the cause clears; a resolved alert refuses both commands.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit_db.h"

#include "common/arena.h"
#include "common/status.h"
#include "events/alerts.h"
#include "store/alert_store.h"
#include "store/event_store.h"
#include "store/migrate.h"
#include "store/store.h"

#define OPEN BEEBEEBRAIN__V1__ALERT_STATUS__ALERT_STATUS_OPEN
#define RESOLVED BEEBEEBRAIN__V1__ALERT_STATUS__ALERT_STATUS_RESOLVED

struct fixture {
	char dir[UNIT_DB_DIR_MAX];
	struct db *db;
	struct arena a;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	unit_db_open(f->dir, "alerts", &f->db);
	arena_init(&f->a);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int rc;

	arena_reset(&f->a);
	rc = unit_db_close(f->dir, f->db);
	free(f);
	return rc;
}

static int64_t raise_lock(struct fixture *f, enum alert_outcome *how)
{
	struct alert_spec spec = {
		.as_code = "DB_LOCKED",
		.as_severity = BEEBEEBRAIN__V1__SEVERITY__SEVERITY_ERROR,
		.as_dedup_key = "DB_LOCKED:/x.db",
		.as_title = "lock",
		.as_message = "held",
		.as_project_id = 3,
	};
	int64_t id = 0;
	bbb_status st;

	status_clear(&st);
	assert_int_equal(alert_raise(f->db, &spec, &id, how, &st), 0);
	return id;
}

/* Types of the events stored after `after`, comma-separated. */
static const char *event_types(struct fixture *f, int64_t after)
{
	static char out[256];
	Beebeebrain__V1__Event **evs;
	bbb_status st;
	size_t n;

	out[0] = '\0';
	status_clear(&st);
	assert_int_equal(store_event_list(f->db, after, 0, 50, "", 0, &f->a, &evs, &n, NULL, &st), 0);
	for (size_t i = 0; i < n; i++)
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s", i > 0 ? "," : "", evs[i]->event_type);
	return out;
}

static void an_acknowledged_alert_stays_open_and_keeps_its_ack_when_its_cause_repeats(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__Alert *al = NULL;
	enum alert_outcome how;
	int64_t id = raise_lock(f, &how), head;
	bbb_status st;

	assert_int_equal(how, ALERT_RAISED);
	head = store_event_head(f->db);
	status_clear(&st);
	assert_int_equal(alert_ack(f->db, id, "alice", "on it", "t1", &f->a, &al, &st), 0);
	assert_int_equal(al->status, OPEN);
	assert_string_equal(al->acked_by, "alice");
	assert_string_equal(al->ack_note, "on it");
	assert_true(al->acked_at_ms > 0);
	assert_int_equal(al->project_id, 3);
	assert_string_equal(event_types(f, head), "alert.acknowledged");

	/* The cause again: the same alert counts it; still open, still acknowledged. */
	assert_int_equal(raise_lock(f, &how), id);
	assert_int_equal(how, ALERT_BUMPED);
	assert_int_equal(store_alert_get(f->db, id, &f->a, &al, &st), 0);
	assert_int_equal(al->raise_count, 2);
	assert_int_equal(al->status, OPEN);
	assert_string_equal(al->acked_by, "alice");

	/* A second acknowledgement changes nothing and writes nothing. */
	head = store_event_head(f->db);
	assert_int_equal(alert_ack(f->db, id, "bob", "me too", "", &f->a, &al, &st), 0);
	assert_string_equal(al->acked_by, "alice");
	assert_string_equal(event_types(f, head), "");

	/* The cause clears: the server resolves it as before. */
	assert_int_equal(alert_resolve(f->db, "DB_LOCKED:/x.db", "", &how, &st), 0);
	assert_int_equal(how, ALERT_RESOLVED);
	assert_int_equal(store_alert_get(f->db, id, &f->a, &al, &st), 0);
	assert_int_equal(al->status, RESOLVED);
	assert_string_equal(al->resolved_by, "");
}

static void resolving_by_hand_records_who_and_a_new_raise_opens_a_new_alert(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__Alert *al = NULL;
	enum alert_outcome how;
	int64_t id = raise_lock(f, &how), head = store_event_head(f->db);
	bbb_status st;

	status_clear(&st);
	assert_int_equal(alert_resolve_by(f->db, id, "bob", "fixed", "", &f->a, &al, &st), 0);
	assert_int_equal(al->status, RESOLVED);
	assert_string_equal(al->resolved_by, "bob");
	assert_string_equal(al->resolve_note, "fixed");
	assert_true(al->resolved_at_ms > 0);
	assert_string_equal(event_types(f, head), "alert.resolved");
	assert_int_not_equal(raise_lock(f, &how), id);
	assert_int_equal(how, ALERT_RAISED);
}

static void a_resolved_or_missing_alert_is_refused(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__Alert *al = NULL;
	enum alert_outcome how;
	int64_t id = raise_lock(f, &how), head;
	bbb_status st;

	status_clear(&st);
	assert_int_equal(alert_resolve(f->db, "DB_LOCKED:/x.db", "", &how, &st), 0);
	head = store_event_head(f->db);
	assert_int_equal(alert_ack(f->db, id, "a", "", "", &f->a, &al, &st), -1);
	assert_int_equal(st.code, BBB_FAILED_PRECONDITION);
	assert_string_equal(st.reason, "ALERT_ALREADY_RESOLVED");
	status_clear(&st);
	assert_int_equal(alert_resolve_by(f->db, id, "a", "", "", &f->a, &al, &st), -1);
	assert_string_equal(st.reason, "ALERT_ALREADY_RESOLVED");
	status_clear(&st);
	assert_int_equal(alert_ack(f->db, id + 100, "a", "", "", &f->a, &al, &st), -1);
	assert_int_equal(st.code, BBB_NOT_FOUND);
	assert_string_equal(st.reason, "ALERT_NOT_FOUND");
	assert_string_equal(event_types(f, head), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			an_acknowledged_alert_stays_open_and_keeps_its_ack_when_its_cause_repeats, setup, teardown),
		cmocka_unit_test_setup_teardown(resolving_by_hand_records_who_and_a_new_raise_opens_a_new_alert, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_resolved_or_missing_alert_is_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
