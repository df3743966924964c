/*
 * Per-call options of the C client (bbb_call_opts, the _ex functions) against
 * the real server: a caller-chosen request_id makes a retried write run once,
 * a per-call trace_id and timeout_ms override the client's for that call
 * only, and a request_id the server would refuse is refused before sending.
 *
 * Every test gets a server of its own (harness.c), as in test_client_lib.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <beebeebrain/client.h>

#include "harness.h"

#define TEST_TIMEOUT_MS 15000

static const char *server_bin;

struct fixture {
	struct harness f_h;
	bbb_client *f_c;
};

static int server_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	bbb_status st;

	if (f == NULL || harness_start(&f->f_h, server_bin, NULL) != 0) {
		free(f);
		return -1;
	}
	f->f_c = harness_client(&f->f_h, TEST_TIMEOUT_MS, &st);
	if (f->f_c == NULL) {
		fprintf(stderr, "client on %s: %s %s\n", f->f_h.h_url, st.reason, st.message);
		harness_cleanup(&f->f_h);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int server_teardown(void **state)
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

static void expect_ok(int rc, const bbb_status *st)
{
	if (rc != 0)
		fail_msg("call failed: code %d (%s) %s: %s", st->code, bbb_code_name(st->code), st->reason,
			 st->message);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t make_project_id(bbb_client *c)
{
	Beebeebrain__V1__CreateProjectRequest req = BEEBEEBRAIN__V1__CREATE_PROJECT_REQUEST__INIT;
	Beebeebrain__V1__CreateProjectResponse *resp;
	bbb_status st;
	int64_t id;

	req.name = "opts";
	req.root_path = "/srv/opts";
	expect_ok(bbb_project_create_project(c, &req, &resp, &st), &st);
	id = resp->project->id;
	bbb_free(resp);
	return id;
}

/* CreateTask with the given options; returns the new task's id. */
static int64_t create_task(bbb_client *c, int64_t project_id, const bbb_call_opts *opts)
{
	Beebeebrain__V1__CreateTaskRequest req = BEEBEEBRAIN__V1__CREATE_TASK_REQUEST__INIT;
	Beebeebrain__V1__CreateTaskResponse *resp;
	bbb_status st;
	int64_t id;

	req.project_id = project_id;
	req.title = "retried write";
	expect_ok(bbb_task_create_task_ex(c, &req, &resp, opts, &st), &st);
	id = resp->task->id;
	bbb_free(resp);
	return id;
}

static size_t count_tasks(bbb_client *c, int64_t project_id)
{
	Beebeebrain__V1__ListTasksRequest req = BEEBEEBRAIN__V1__LIST_TASKS_REQUEST__INIT;
	Beebeebrain__V1__ListTasksResponse *resp;
	bbb_status st;
	size_t n;

	req.project_id = project_id;
	req.limit = 100;
	expect_ok(bbb_task_list_tasks(c, &req, &resp, &st), &st);
	n = resp->n_tasks;
	bbb_free(resp);
	return n;
}

/* The retry after a lost reply: the caller cannot tell whether the first
 * CreateTask ran, so it sends it again with the same request_id. */
static void create_task_retried_with_the_same_request_id_runs_once(void **state)
{
	struct fixture *f = *state;
	char rid[BBB_REQUEST_ID_LEN + 1];
	bbb_call_opts opts = {0};
	int64_t pid = make_project_id(f->f_c), first, again;

	assert_int_equal(bbb_request_id_new(rid), 0);
	assert_int_equal(strlen(rid), BBB_REQUEST_ID_LEN);
	opts.request_id = rid;
	first = create_task(f->f_c, pid, &opts);
	again = create_task(f->f_c, pid, &opts);
	assert_int_equal(again, first);
	assert_int_equal(count_tasks(f->f_c, pid), 1);
}

/* Without a caller's request_id each call gets a fresh one: two rows. */
static void create_task_twice_without_request_id_makes_two_tasks(void **state)
{
	struct fixture *f = *state;
	int64_t pid = make_project_id(f->f_c);

	assert_int_not_equal(create_task(f->f_c, pid, NULL), create_task(f->f_c, pid, NULL));
	assert_int_equal(count_tasks(f->f_c, pid), 2);
}

/* Any text the server accepts works as a key, and different keys are
 * different calls. */
static void different_request_ids_are_different_calls(void **state)
{
	struct fixture *f = *state;
	bbb_call_opts a = {.request_id = "order-42/attempt"}, b = {.request_id = "order-43/attempt"};
	int64_t pid = make_project_id(f->f_c);
	int64_t ta = create_task(f->f_c, pid, &a);

	assert_int_not_equal(create_task(f->f_c, pid, &b), ta);
	assert_int_equal(create_task(f->f_c, pid, &a), ta);
	assert_int_equal(count_tasks(f->f_c, pid), 2);
}

static void request_id_over_128_characters_is_refused_before_sending(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__CreateTaskRequest req = BEEBEEBRAIN__V1__CREATE_TASK_REQUEST__INIT;
	Beebeebrain__V1__CreateTaskResponse *resp = (void *)1;
	char rid[BBB_REQUEST_ID_MAX + 2];
	bbb_call_opts opts = {0};
	int64_t pid = make_project_id(f->f_c);
	bbb_status st;

	memset(rid, 'r', sizeof(rid) - 1);
	rid[sizeof(rid) - 1] = '\0';
	opts.request_id = rid;
	req.project_id = pid;
	req.title = "never sent";
	assert_int_equal(bbb_task_create_task_ex(f->f_c, &req, &resp, &opts, &st), -1);
	assert_null(resp);
	assert_int_equal(st.code, BBB_INVALID_ARGUMENT);
	assert_string_equal(st.reason, "VALIDATION_ERROR");
	assert_int_equal(st.n_violations, 1);
	assert_string_equal(st.violations[0].field, "request_id");
	assert_int_equal(count_tasks(f->f_c, pid), 0);

	/* Exactly 128 characters is accepted. */
	rid[BBB_REQUEST_ID_MAX] = '\0';
	create_task(f->f_c, pid, &opts);
	assert_int_equal(count_tasks(f->f_c, pid), 1);
}

static void per_call_trace_id_is_used_for_that_call_only(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__CheckRequest req = BEEBEEBRAIN__V1__CHECK_REQUEST__INIT;
	Beebeebrain__V1__CheckResponse *resp;
	bbb_call_opts opts = {.trace_id = "per-call.trace:1"};
	bbb_status st;

	bbb_client_set_trace_id(f->f_c, "client-trace");
	expect_ok(bbb_health_check_ex(f->f_c, &req, &resp, &opts, &st), &st);
	bbb_free(resp);
	assert_string_equal(st.trace_id, "per-call.trace:1");
	expect_ok(bbb_health_check(f->f_c, &req, &resp, &st), &st);
	bbb_free(resp);
	assert_string_equal(st.trace_id, "client-trace");
	/* Options with no trace id keep the client's. */
	opts.trace_id = NULL;
	expect_ok(bbb_health_check_ex(f->f_c, &req, &resp, &opts, &st), &st);
	bbb_free(resp);
	assert_string_equal(st.trace_id, "client-trace");
}

/* The client's timeout is 15 s; a call with timeout_ms 300 to a server that
 * is gone gives up after 300 ms plus the library's 500 ms grace. */
static void per_call_timeout_bounds_that_call(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__CheckRequest req = BEEBEEBRAIN__V1__CHECK_REQUEST__INIT;
	Beebeebrain__V1__CheckResponse *resp;
	bbb_call_opts opts = {.timeout_ms = 300};
	bbb_status st;
	int64_t t0;

	assert_int_equal(harness_stop(&f->f_h), 0);
	t0 = mono_ms();
	assert_int_equal(bbb_health_check_ex(f->f_c, &req, &resp, &opts, &st), -1);
	if (!bbb_status_unreachable(&st))
		fail_msg("got %d %s: %s", st.code, st.reason, st.message);
	/* Well under the client's 15 s: the per-call value was used. */
	assert_true(mono_ms() - t0 < 5000);
	assert_non_null(strstr(st.message, "300 ms"));
	bbb_client_close(f->f_c);
	harness_cleanup(&f->f_h);
	assert_int_equal(harness_start(&f->f_h, server_bin, NULL), 0);
	f->f_c = harness_client(&f->f_h, TEST_TIMEOUT_MS, &st);
	assert_non_null(f->f_c);
}

/* The generic call takes the same options. */
static void bbb_call_ex_with_request_id_runs_once(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__CreateTaskRequest req = BEEBEEBRAIN__V1__CREATE_TASK_REQUEST__INIT;
	ProtobufCMessage *r1, *r2;
	bbb_call_opts opts = {.request_id = "generic-1"};
	int64_t pid = make_project_id(f->f_c);
	bbb_status st;

	req.project_id = pid;
	req.title = "generic";
	expect_ok(bbb_call_ex(f->f_c, &beebeebrain__v1__task_service__descriptor, "CreateTask", &req.base, &r1, &opts,
			      &st),
		  &st);
	expect_ok(bbb_call_ex(f->f_c, &beebeebrain__v1__task_service__descriptor, "CreateTask", &req.base, &r2, &opts,
			      &st),
		  &st);
	assert_int_equal(((Beebeebrain__V1__CreateTaskResponse *)r1)->task->id,
			 ((Beebeebrain__V1__CreateTaskResponse *)r2)->task->id);
	bbb_free(r1);
	bbb_free(r2);
	assert_int_equal(count_tasks(f->f_c, pid), 1);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, server_setup, server_teardown)
		T(create_task_retried_with_the_same_request_id_runs_once),
		T(create_task_twice_without_request_id_makes_two_tasks),
		T(different_request_ids_are_different_calls),
		T(request_id_over_128_characters_is_refused_before_sending),
		T(per_call_trace_id_is_used_for_that_call_only),
		T(per_call_timeout_bounds_that_call),
		T(bbb_call_ex_with_request_id_runs_once),
#undef T
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH-TO-beebeebrain\n", argv[0]);
		return 2;
	}
	server_bin = argv[1];
	return cmocka_run_group_tests_name("call_opts", tests, NULL, NULL);
}
