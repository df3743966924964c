/*
 * The event stream end to end (docs/events.md): a real server, its pub socket
 * and the library's lossless subscriber.
 *
 * Events are made with EventService/Publish (operator.* events) from several
 * client threads; what a subscriber delivers is compared with the events
 * table itself (read from the server's database).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <beebeebrain/client.h>
#include <beebeebrain/subscriber.h>

#include "harness.h"
#include "store/store.h"

#define TIMEOUT_MS 20000
/* Each Publish commits two events: the operator event and its
 * security.audit.allowed (docs/security.md), with consecutive ids. */
#define EVENTS_PER_PUBLISH 2

static const char *server_bin;

struct fixture {
	struct harness f_h;
	bbb_client *f_c;
};

static int start_with(void **state, const char *const *args)
{
	struct fixture *f = calloc(1, sizeof(*f));
	bbb_status st;

	if (f == NULL || harness_start(&f->f_h, server_bin, args) != 0) {
		free(f);
		return -1;
	}
	f->f_c = harness_client(&f->f_h, TIMEOUT_MS, &st);
	if (f->f_c == NULL) {
		harness_cleanup(&f->f_h);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return start_with(state, NULL);
}

static int setup_short_retention(void **state)
{
	const char *args[] = {"--event-retention", "1s", NULL};

	return start_with(state, args);
}

static int setup_fault_injection(void **state)
{
	const char *args[] = {"--enable-fault-injection", NULL};

	setenv("BEEBEEBRAIN_BUSY_TIMEOUT_MS", "200", 1);
	int rc = start_with(state, args);
	unsetenv("BEEBEEBRAIN_BUSY_TIMEOUT_MS");
	return rc;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int code;

	bbb_client_close(f->f_c);
	code = harness_stop(&f->f_h);
	if (code != 0)
		harness_dump_log(&f->f_h);
	harness_cleanup(&f->f_h);
	free(f);
	return code == 0 ? 0 : -1;
}

static int64_t publish(bbb_client *c, const char *type, int i)
{
	Beebeebrain__V1__PublishRequest req = BEEBEEBRAIN__V1__PUBLISH_REQUEST__INIT;
	Beebeebrain__V1__PublishResponse *resp;
	char msg[32];
	bbb_status st;
	int64_t id;

	snprintf(msg, sizeof(msg), "n%d", i);
	req.event_type = (char *)type;
	req.actor = "test";
	req.message = msg;
	if (bbb_event_publish(c, &req, &resp, &st) != 0)
		fail_msg("publish: %s %s", st.reason, st.message);
	id = resp->event->id;
	bbb_free(resp);
	return id;
}

/* A ~68 KiB event: the longest message and the largest data Publish takes. */
static int64_t publish_big(bbb_client *c, const char *type)
{
	static char message[4001], data[64 * 1024 - 8];
	Beebeebrain__V1__PublishRequest req = BEEBEEBRAIN__V1__PUBLISH_REQUEST__INIT;
	Beebeebrain__V1__PublishResponse *resp;
	bbb_status st;
	int64_t id;

	if (message[0] == '\0') {
		memset(message, 'm', sizeof(message) - 1);
		memset(data, 'd', sizeof(data) - 1);
		data[0] = data[sizeof(data) - 2] = '"';
	}
	req.event_type = (char *)type;
	req.actor = "test";
	req.message = message;
	req.data_json = data;
	if (bbb_event_publish(c, &req, &resp, &st) != 0)
		fail_msg("publish: %s %s", st.reason, st.message);
	id = resp->event->id;
	bbb_free(resp);
	return id;
}

struct producer {
	bbb_client *p_c;
	int p_n;
	const char *p_type;
	int p_big;
};

static void *producer_main(void *arg)
{
	struct producer *p = arg;

	for (int i = 0; i < p->p_n; i++) {
		if (p->p_big)
			publish_big(p->p_c, p->p_type);
		else
			publish(p->p_c, p->p_type, i);
	}
	return NULL;
}

/* Starts `threads` producers of n events each; join with join_producers. */
static void start_producers(pthread_t *t, struct producer *p, int threads, bbb_client *c, int n, const char *type)
{
	for (int i = 0; i < threads; i++) {
		p[i] = (struct producer){c, n, type, 0};
		pthread_create(&t[i], NULL, producer_main, &p[i]);
	}
}

static void join_producers(pthread_t *t, int threads)
{
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
}

static int64_t head_id(bbb_client *c)
{
	Beebeebrain__V1__StreamInfoRequest req = BEEBEEBRAIN__V1__STREAM_INFO_REQUEST__INIT;
	Beebeebrain__V1__StreamInfoResponse *r;
	bbb_status st;
	int64_t head;

	assert_int_equal(bbb_event_stream_info(c, &req, &r, &st), 0);
	head = r->head_id;
	bbb_free(r);
	return head;
}

static bbb_subscriber *subscribe(struct fixture *f, struct bbb_subscriber_options o)
{
	bbb_subscriber *s;
	bbb_status st;

	o.client = f->f_c;
	o.events_url = f->f_h.h_events_url;
	s = bbb_subscriber_open(&o, &st);
	if (s == NULL)
		fail_msg("subscribe: %s %s", st.reason, st.message);
	return s;
}

/* Reads events until `want` arrived; checks ids are ascending; returns them. */
static int64_t *collect(bbb_subscriber *s, size_t want, int slow)
{
	int64_t *ids = calloc(want, sizeof(*ids));
	size_t n = 0;

	while (n < want) {
		Beebeebrain__V1__Event *ev;
		bbb_status st;
		int rc = bbb_subscriber_next(s, TIMEOUT_MS, &ev, &st);
		if (rc < 0)
			fail_msg("next: %s %s", st.reason, st.message);
		if (rc == 0)
			fail_msg("no event within %d ms after %zu of %zu", TIMEOUT_MS, n, want);
		ids[n] = ev->id;
		if (n > 0 && ids[n] <= ids[n - 1])
			fail_msg("event %lld after %lld: not in id order", (long long)ids[n], (long long)ids[n - 1]);
		n++;
		bbb_free(ev);
		if (slow && n % 50 == 0)
			usleep(2000);
	}
	return ids;
}

/* No further event arrives within ms. */
static void assert_quiet(bbb_subscriber *s, int ms)
{
	Beebeebrain__V1__Event *ev = NULL;
	bbb_status st;
	int rc = bbb_subscriber_next(s, ms, &ev, &st);

	if (rc == 1) {
		long long id = (long long)ev->id;
		bbb_free(ev);
		fail_msg("unexpected extra event %lld", id);
	}
	assert_int_equal(rc, 0);
}

static void replay_last_50_then_follow_sees_every_event_once_in_order(void **state)
{
	struct fixture *f = *state;
	pthread_t t[4];
	struct producer p[4];
	int64_t *ids, first;
	bbb_subscriber *s;

	for (int i = 0; i < 80; i++)
		publish(f->f_c, "operator.before", i);
	first = head_id(f->f_c) - 49;
	s = subscribe(f, (struct bbb_subscriber_options){.replay_last = 50});
	start_producers(t, p, 4, f->f_c, 50, "operator.live");
	ids = collect(s, 50 + 200 * EVENTS_PER_PUBLISH, 0);
	join_producers(t, 4);
	for (int i = 0; i < 50 + 200 * EVENTS_PER_PUBLISH; i++)
		assert_int_equal(ids[i], first + i);
	assert_quiet(s, 1500);
	free(ids);
	bbb_subscriber_close(s);
}

/* Ids of the events table, in order, with id > after (read from the
 * server's database, SQLite file or PostgreSQL). */
static size_t table_ids(const struct harness *h, int64_t after, int64_t **out)
{
	struct db *db;
	struct db_stmt *stmt;
	bbb_status st;
	size_t n = 0, cap = 1024;

	*out = malloc(cap * sizeof(**out));
	assert_int_equal(store_conn_open(h->h_db_path, 1, 1, 5000, &db, &st), 0);
	assert_int_equal(store_prepare(db, "SELECT id FROM events WHERE id > ? ORDER BY id", &stmt, &st), 0);
	db_bind_i64(stmt, 1, after);
	while (db_step(stmt) == DB_ROW) {
		if (n == cap)
			*out = realloc(*out, (cap *= 2) * sizeof(**out));
		(*out)[n++] = db_col_i64(stmt, 0);
	}
	store_release(stmt);
	store_conn_close(db);
	return n;
}

static void slow_subscriber_with_tiny_buffer_loses_nothing(void **state)
{
	struct fixture *f = *state;
	enum { THREADS = 8, PER_THREAD = 2500, TOTAL = THREADS * PER_THREAD * EVENTS_PER_PUBLISH };
	pthread_t t[THREADS];
	struct producer p[THREADS];
	int64_t *ids, *table, start = head_id(f->f_c);
	uint64_t gaps = 0, dups = 0;
	bbb_subscriber *s;
	size_t n;

	s = subscribe(f, (struct bbb_subscriber_options){.from_head = 1, .recv_buffer = 1});
	start_producers(t, p, THREADS, f->f_c, PER_THREAD, "operator.load");
	ids = collect(s, TOTAL, 1);
	join_producers(t, THREADS);
	n = table_ids(&f->f_h, start, &table);
	assert_int_equal(n, TOTAL);
	for (size_t i = 0; i < n; i++)
		if (ids[i] != table[i])
			fail_msg("delivered[%zu] = %lld, table has %lld", i, (long long)ids[i], (long long)table[i]);
	assert_quiet(s, 1500);
	bbb_subscriber_stats(s, &gaps, &dups);
	print_message("gap replays: %llu, duplicates dropped: %llu\n", (unsigned long long)gaps,
		      (unsigned long long)dups);
	/* The pub socket must have dropped something, or this proved nothing. */
	assert_true(gaps > 0);
	free(ids);
	free(table);
	bbb_subscriber_close(s);
}

/* Replies are capped at about 4 MiB: the last 1000 events of ~68 KiB (68 MB)
 * come in many replies, and gap fills of big events too. */
static void big_events_are_delivered_once_in_order_through_capped_replays(void **state)
{
	struct fixture *f = *state;
	enum { BEFORE = 1000, THREADS = 2, PER_THREAD = 100 };
	pthread_t t[THREADS];
	struct producer p[THREADS];
	int64_t *ids, *table, start = head_id(f->f_c);
	uint64_t gaps = 0;
	bbb_subscriber *s;
	size_t n;

	for (int i = 0; i < BEFORE; i++)
		publish_big(f->f_c, "operator.big");
	/* A one-message receive buffer: the live part is mostly gap fills. */
	s = subscribe(f, (struct bbb_subscriber_options){.replay_last = BEFORE, .recv_buffer = 1});
	for (int i = 0; i < THREADS; i++) {
		p[i] = (struct producer){f->f_c, PER_THREAD, "operator.big", 1};
		pthread_create(&t[i], NULL, producer_main, &p[i]);
	}
	/* The last BEFORE events (big ones and their audits), then every live one. */
	ids = collect(s, BEFORE + THREADS * PER_THREAD * EVENTS_PER_PUBLISH, 0);
	join_producers(t, THREADS);
	n = table_ids(&f->f_h, start, &table);
	assert_int_equal(n, (BEFORE + THREADS * PER_THREAD) * EVENTS_PER_PUBLISH);
	for (size_t i = 0, skip = BEFORE * (EVENTS_PER_PUBLISH - 1); i + skip < n; i++)
		if (ids[i] != table[i + skip])
			fail_msg("delivered[%zu] = %lld, table has %lld", i, (long long)ids[i],
				 (long long)table[i + skip]);
	assert_quiet(s, 1500);
	bbb_subscriber_stats(s, &gaps, NULL);
	print_message("gap replays: %llu\n", (unsigned long long)gaps);
	free(ids);
	free(table);
	bbb_subscriber_close(s);
}

static void resume_after_last_seen_id_continues_without_loss(void **state)
{
	struct fixture *f = *state;
	int64_t *ids, last, first;
	bbb_subscriber *s;

	for (int i = 0; i < 30; i++)
		publish(f->f_c, "operator.first", i);
	s = subscribe(f, (struct bbb_subscriber_options){.after_id = 0});
	ids = collect(s, 20, 0);
	last = bbb_subscriber_last_id(s);
	assert_int_equal(last, ids[19]);
	free(ids);
	bbb_subscriber_close(s);

	first = last + 1;
	for (int i = 0; i < 40; i++)
		publish(f->f_c, "operator.second", i);
	s = subscribe(f, (struct bbb_subscriber_options){.after_id = last});
	ids = collect(s, (30 + 40) * EVENTS_PER_PUBLISH - 20, 0);
	for (int i = 0; i < (30 + 40) * EVENTS_PER_PUBLISH - 20; i++)
		assert_int_equal(ids[i], first + i);
	assert_quiet(s, 1200);
	free(ids);
	bbb_subscriber_close(s);
}

static void alert_prefix_delivers_only_alerts(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__InjectFaultRequest fault = BEEBEEBRAIN__V1__INJECT_FAULT_REQUEST__INIT;
	Beebeebrain__V1__InjectFaultResponse *fr;
	Beebeebrain__V1__CreateProjectRequest cp = BEEBEEBRAIN__V1__CREATE_PROJECT_REQUEST__INIT;
	Beebeebrain__V1__CreateProjectResponse *cr;
	Beebeebrain__V1__Event *ev;
	bbb_subscriber *s;
	bbb_status st;

	s = subscribe(f, (struct bbb_subscriber_options){.from_head = 1, .type_prefix = "alert."});
	for (int i = 0; i < 20; i++)
		publish(f->f_c, "operator.noise", i);
	/* Another connection holds the write lock: a write is refused ... */
	fault.mode = "db_lock";
	fault.duration_ms = 1000;
	assert_int_equal(bbb_admin_inject_fault(f->f_c, &fault, &fr, &st), 0);
	bbb_free(fr);
	cp.name = "locked";
	cp.root_path = "/tmp/bbb-locked";
	assert_int_equal(bbb_project_create_project(f->f_c, &cp, &cr, &st), -1);
	assert_int_equal(st.code, BBB_UNAVAILABLE);
	assert_string_equal(st.reason, "DB_LOCKED");
	/* ... and once the lock is free, the next write commits the DB_LOCKED alert. */
	usleep(1200 * 1000);
	for (int i = 0; i < 20; i++)
		publish(f->f_c, "operator.noise", i);
	assert_int_equal(bbb_subscriber_next(s, TIMEOUT_MS, &ev, &st), 1);
	assert_string_equal(ev->event_type, "alert.raised");
	assert_int_equal(ev->payload_case, BEEBEEBRAIN__V1__EVENT__PAYLOAD_ALERT);
	assert_string_equal(ev->alert->code, "DB_LOCKED");
	assert_int_equal(ev->alert->severity, BEEBEEBRAIN__V1__SEVERITY__SEVERITY_ERROR);
	bbb_free(ev);
	assert_quiet(s, 1500);
	bbb_subscriber_close(s);
}

static void replay_before_the_oldest_kept_event_is_events_pruned(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__ReplayRequest req = BEEBEEBRAIN__V1__REPLAY_REQUEST__INIT;
	Beebeebrain__V1__ReplayResponse *r = NULL;
	struct bbb_subscriber_options o = {.client = f->f_c, .events_url = f->f_h.h_events_url, .after_id = 1};
	bbb_status st;
	int pruned = 0;

	for (int i = 0; i < 5; i++)
		publish(f->f_c, "operator.old", i);
	/* Retention is 1 s and runs every second: wait (bounded) for it. */
	for (int i = 0; i < 100 && !pruned; i++) {
		usleep(100 * 1000);
		req.after_id = 1;
		if (bbb_event_replay(f->f_c, &req, &r, &st) == 0) {
			bbb_free(r);
			continue;
		}
		assert_int_equal(st.code, BBB_OUT_OF_RANGE);
		assert_string_equal(st.reason, "EVENTS_PRUNED");
		pruned = 1;
	}
	assert_true(pruned);
	assert_null(bbb_subscriber_open(&o, &st));
	assert_string_equal(st.reason, "EVENTS_PRUNED");
	/* The last N still works: nothing is left, and that is no error. */
	req.after_id = 0;
	req.last_n = 10;
	assert_int_equal(bbb_event_replay(f->f_c, &req, &r, &st), 0);
	bbb_free(r);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(replay_last_50_then_follow_sees_every_event_once_in_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(slow_subscriber_with_tiny_buffer_loses_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(big_events_are_delivered_once_in_order_through_capped_replays, setup,
						teardown),
		cmocka_unit_test_setup_teardown(resume_after_last_seen_id_continues_without_loss, setup, teardown),
		cmocka_unit_test_setup_teardown(alert_prefix_delivers_only_alerts, setup_fault_injection, teardown),
		cmocka_unit_test_setup_teardown(replay_before_the_oldest_kept_event_is_events_pruned,
						setup_short_retention, teardown),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s BEEBEEBRAIN_BINARY\n", argv[0]);
		return 2;
	}
	server_bin = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
