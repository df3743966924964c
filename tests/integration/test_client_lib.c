/*
 * End-to-end tests of the C client library against the real server.
 *
 * Every test gets a server of its own (harness.c: temp dir, free port, fork and
 * exec of the binary given as argv[1]) and a client on it, so no test depends
 * on another's data or order. The teardown stops the server with SIGTERM and
 * requires exit status 0: a clean shutdown is checked after every test.
 *
 * Covered: every method of the first slice through its typed function
 * (HealthService Check/Ready; ProjectService Create/Get/List; TaskService
 * CreateTask/GetTask/ListTasks; AdminService Backup/MigrationStatus), the
 * error contract of docs/protocol.md, Errors (code, reason, one violation per
 * offending field), what the library reports when nobody answers, many
 * threads sharing one client, and asynchronous calls (bbb_call_async): many
 * in flight on one client, error answers, and closing with calls in flight.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <beebeebrain/client.h>
#include <beebeebrain/v1/rpc.pb-c.h>

#include "harness.h"

/* Generous: the same tests run under ASan/UBSan. */
#define TEST_TIMEOUT_MS 15000
#define CONC_THREADS 8
#define CONC_CALLS 50
#define ASYNC_CALLS 256
#define ASYNC_TASKS 16
#define ASYNC_CHAINS 16

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
	if (code != 0) {
		fprintf(stderr, "server exited with status %d after SIGTERM (want 0)\n", code);
		harness_dump_log(&f->f_h);
	}
	harness_cleanup(&f->f_h);
	free(f);
	return code == 0 ? 0 : -1;
}

/* ---- helpers ---------------------------------------------------------- */

/* Fails the test with the server's words when a call that should succeed
 * did not. */
static void expect_ok(int rc, const bbb_status *st)
{
	if (rc != 0)
		fail_msg("call failed: code %d (%s) %s: %s", st->code, bbb_code_name(st->code), st->reason,
			 st->message);
}

static void expect_error(int rc, const bbb_status *st, int code, const char *reason)
{
	if (rc == 0)
		fail_msg("call succeeded; expected %s %s", bbb_code_name(code), reason);
	if (st->code != code || strcmp(st->reason, reason) != 0)
		fail_msg("got code %d %s (%s), expected %d %s", st->code, st->reason, st->message, code, reason);
}

static int has_violation(const bbb_status *st, const char *field)
{
	for (int i = 0; i < st->n_violations; i++)
		if (strcmp(st->violations[i].field, field) == 0)
			return 1;
	return 0;
}

static void expect_violations(const bbb_status *st, int n, ...)
{
	va_list ap;

	if (st->n_violations != n) {
		for (int i = 0; i < st->n_violations; i++)
			fprintf(stderr, "  violation %s: %s\n", st->violations[i].field, st->violations[i].description);
		fail_msg("%d violation(s), expected %d", st->n_violations, n);
	}
	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		const char *field = va_arg(ap, const char *);
		if (!has_violation(st, field))
			fail_msg("no violation for field '%s'", field);
	}
	va_end(ap);
}

static Beebeebrain__V1__Project *make_project(bbb_client *c, const char *name, const char *root)
{
	Beebeebrain__V1__CreateProjectRequest req = BEEBEEBRAIN__V1__CREATE_PROJECT_REQUEST__INIT;
	Beebeebrain__V1__CreateProjectResponse *resp;
	Beebeebrain__V1__Project *p;
	bbb_status st;

	req.name = (char *)name;
	req.root_path = (char *)root;
	expect_ok(bbb_project_create_project(c, &req, &resp, &st), &st);
	assert_non_null(resp->project);
	p = resp->project;
	resp->project = NULL;
	bbb_free(resp);
	return p; /* freed with bbb_free */
}

static int64_t make_project_id(bbb_client *c, const char *name, const char *root)
{
	Beebeebrain__V1__Project *p = make_project(c, name, root);
	int64_t id = p->id;

	bbb_free(p);
	return id;
}

static Beebeebrain__V1__Task *make_task(bbb_client *c, int64_t project_id, const char *title)
{
	Beebeebrain__V1__CreateTaskRequest req = BEEBEEBRAIN__V1__CREATE_TASK_REQUEST__INIT;
	Beebeebrain__V1__CreateTaskResponse *resp;
	Beebeebrain__V1__Task *t;
	bbb_status st;

	req.project_id = project_id;
	req.title = (char *)title;
	expect_ok(bbb_task_create_task(c, &req, &resp, &st), &st);
	assert_non_null(resp->task);
	t = resp->task;
	resp->task = NULL;
	bbb_free(resp);
	return t;
}

static int64_t make_task_id(bbb_client *c, int64_t project_id, const char *title)
{
	Beebeebrain__V1__Task *t = make_task(c, project_id, title);
	int64_t id = t->id;

	bbb_free(t);
	return id;
}

/* Calls ListTasks with req as given, following next_page_token to the end.
 * Stores up to max ids in ids; returns how many tasks there were and how
 * many pages it took in *pages. */
static int list_all_task_ids(bbb_client *c, Beebeebrain__V1__ListTasksRequest *req, int64_t *ids, int max, int *pages)
{
	char token[64] = "";
	int n = 0;

	*pages = 0;
	do {
		Beebeebrain__V1__ListTasksResponse *resp;
		bbb_status st;

		req->page_token = token;
		expect_ok(bbb_task_list_tasks(c, req, &resp, &st), &st);
		for (size_t i = 0; i < resp->n_tasks; i++, n++)
			if (n < max)
				ids[n] = resp->tasks[i]->id;
		if (req->limit > 0)
			assert_true(resp->n_tasks <= (size_t)req->limit);
		assert_true(strlen(resp->next_page_token) < sizeof(token));
		snprintf(token, sizeof(token), "%s", resp->next_page_token);
		bbb_free(resp);
		(*pages)++;
		assert_true(*pages < 10000);
	} while (token[0] != '\0');
	req->page_token = NULL;
	return n;
}

static int cmp_int64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- HealthService ----------------------------------------------------- */

static void health_check_reports_ok_service_and_version(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__CheckRequest req = BEEBEEBRAIN__V1__CHECK_REQUEST__INIT;
	Beebeebrain__V1__CheckResponse *resp;
	bbb_status st;

	expect_ok(bbb_health_check(f->f_c, &req, &resp, &st), &st);
	assert_int_equal(st.code, BBB_OK);
	assert_string_equal(resp->status, "ok");
	assert_string_equal(resp->service, "beebeebrain");
	assert_true(strlen(resp->version) > 0);
	assert_true(resp->uptime_ms >= 0);
	bbb_free(resp);
}

static void health_ready_reports_ready_with_a_passing_database_check(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__ReadyRequest req = BEEBEEBRAIN__V1__READY_REQUEST__INIT;
	Beebeebrain__V1__ReadyResponse *resp;
	bbb_status st;
	int saw_database = 0;

	expect_ok(bbb_health_ready(f->f_c, &req, &resp, &st), &st);
	assert_true(resp->ready);
	assert_true(resp->n_checks > 0);
	for (size_t i = 0; i < resp->n_checks; i++) {
		if (!resp->checks[i]->ok)
			fail_msg("check %s not ok: %s", resp->checks[i]->name, resp->checks[i]->detail);
		if (strcmp(resp->checks[i]->name, "database") == 0)
			saw_database = 1;
	}
	assert_true(saw_database);
	bbb_free(resp);
}

/* ---- ProjectService ---------------------------------------------------- */

static void create_project_then_get_returns_same_project(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__GetProjectRequest req = BEEBEEBRAIN__V1__GET_PROJECT_REQUEST__INIT;
	Beebeebrain__V1__GetProjectResponse *resp;
	int64_t before = wall_ms();
	Beebeebrain__V1__Project *p = make_project(f->f_c, "alpha", "/srv/alpha");
	bbb_status st;

	assert_true(p->id > 0);
	assert_string_equal(p->name, "alpha");
	assert_string_equal(p->root_path, "/srv/alpha");
	assert_int_equal(p->version, 1);
	assert_true(p->created_at_ms >= before - 1000 && p->created_at_ms <= wall_ms() + 1000);
	assert_int_equal(p->updated_at_ms, p->created_at_ms);

	req.project_id = p->id;
	expect_ok(bbb_project_get_project(f->f_c, &req, &resp, &st), &st);
	assert_non_null(resp->project);
	assert_int_equal(resp->project->id, p->id);
	assert_string_equal(resp->project->name, p->name);
	assert_string_equal(resp->project->root_path, p->root_path);
	assert_int_equal(resp->project->created_at_ms, p->created_at_ms);
	assert_int_equal(resp->project->updated_at_ms, p->updated_at_ms);
	assert_int_equal(resp->project->version, p->version);
	bbb_free(resp);
	bbb_free(p);
}

static void list_projects_pages_with_limit_1_via_next_page_token(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__ListProjectsRequest req = BEEBEEBRAIN__V1__LIST_PROJECTS_REQUEST__INIT;
	int64_t made[3], seen[4];
	char token[64] = "";
	int n = 0, pages = 0;

	made[0] = make_project_id(f->f_c, "p1", "/srv/p1");
	made[1] = make_project_id(f->f_c, "p2", "/srv/p2");
	made[2] = make_project_id(f->f_c, "p3", "/srv/p3");

	req.limit = 1;
	do {
		Beebeebrain__V1__ListProjectsResponse *resp;
		bbb_status st;

		req.page_token = token;
		expect_ok(bbb_project_list_projects(f->f_c, &req, &resp, &st), &st);
		assert_true(resp->n_projects <= 1);
		if (resp->n_projects == 1 && n < 4)
			seen[n++] = resp->projects[0]->id;
		snprintf(token, sizeof(token), "%s", resp->next_page_token);
		bbb_free(resp);
		pages++;
	} while (token[0] != '\0' && pages < 10);

	assert_int_equal(n, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(seen[i], made[i]);
	/* The last page says it is the last: no token to an empty page. */
	assert_int_equal(pages, 3);
}

static void list_projects_without_limit_returns_all_in_one_page(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__ListProjectsRequest req = BEEBEEBRAIN__V1__LIST_PROJECTS_REQUEST__INIT;
	Beebeebrain__V1__ListProjectsResponse *resp;
	bbb_status st;

	make_project_id(f->f_c, "p1", "/srv/p1");
	make_project_id(f->f_c, "p2", "/srv/p2");
	expect_ok(bbb_project_list_projects(f->f_c, &req, &resp, &st), &st);
	assert_int_equal(resp->n_projects, 2);
	assert_string_equal(resp->projects[0]->name, "p1");
	assert_string_equal(resp->projects[1]->name, "p2");
	assert_string_equal(resp->next_page_token, "");
	bbb_free(resp);
}

static void get_unknown_project_is_project_not_found(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__GetProjectRequest req = BEEBEEBRAIN__V1__GET_PROJECT_REQUEST__INIT;
	Beebeebrain__V1__GetProjectResponse *resp = (void *)1;
	bbb_status st;
	int rc;

	req.project_id = 4242;
	rc = bbb_project_get_project(f->f_c, &req, &resp, &st);
	expect_error(rc, &st, BBB_NOT_FOUND, "PROJECT_NOT_FOUND");
	assert_int_equal(rc, -1);
	assert_null(resp);
}

static void create_project_with_empty_name_and_relative_root_lists_both_fields(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__CreateProjectRequest req = BEEBEEBRAIN__V1__CREATE_PROJECT_REQUEST__INIT;
	Beebeebrain__V1__CreateProjectResponse *resp;
	bbb_status st;

	req.name = "";
	req.root_path = "relative/path";
	expect_error(bbb_project_create_project(f->f_c, &req, &resp, &st), &st, BBB_INVALID_ARGUMENT,
		     "VALIDATION_ERROR");
	expect_violations(&st, 2, "name", "root_path");
}

static void create_project_with_taken_root_path_is_resource_conflict(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__CreateProjectRequest req = BEEBEEBRAIN__V1__CREATE_PROJECT_REQUEST__INIT;
	Beebeebrain__V1__CreateProjectResponse *resp;
	bbb_status st;

	make_project_id(f->f_c, "first", "/srv/shared");
	req.name = "second";
	req.root_path = "/srv/shared";
	expect_error(bbb_project_create_project(f->f_c, &req, &resp, &st), &st, BBB_ALREADY_EXISTS,
		     "RESOURCE_CONFLICT");
}

static void list_projects_with_bad_page_token_is_invalid_page_token(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__ListProjectsRequest req = BEEBEEBRAIN__V1__LIST_PROJECTS_REQUEST__INIT;
	Beebeebrain__V1__ListProjectsResponse *resp;
	bbb_status st;

	make_project_id(f->f_c, "p1", "/srv/p1");
	req.page_token = "not-a-token";
	expect_error(bbb_project_list_projects(f->f_c, &req, &resp, &st), &st, BBB_INVALID_ARGUMENT,
		     "INVALID_PAGE_TOKEN");
}

static void list_projects_with_limit_over_100_is_validation_error(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__ListProjectsRequest req = BEEBEEBRAIN__V1__LIST_PROJECTS_REQUEST__INIT;
	Beebeebrain__V1__ListProjectsResponse *resp;
	bbb_status st;

	req.limit = 101;
	expect_error(bbb_project_list_projects(f->f_c, &req, &resp, &st), &st, BBB_INVALID_ARGUMENT,
		     "VALIDATION_ERROR");
	expect_violations(&st, 1, "limit");
}

/* ---- TaskService ------------------------------------------------------- */

static void create_task_then_get_returns_same_task(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__CreateTaskRequest creq = BEEBEEBRAIN__V1__CREATE_TASK_REQUEST__INIT;
	Beebeebrain__V1__CreateTaskResponse *cresp;
	Beebeebrain__V1__GetTaskRequest greq = BEEBEEBRAIN__V1__GET_TASK_REQUEST__INIT;
	Beebeebrain__V1__GetTaskResponse *gresp;
	int64_t pid = make_project_id(f->f_c, "alpha", "/srv/alpha");
	const Beebeebrain__V1__Task *a, *b;
	bbb_status st;

	creq.project_id = pid;
	creq.title = "write the integration tests";
	creq.description = "through the C library, against the real server";
	creq.priority = 1;
	creq.due_at_ms = 1893456000000;
	expect_ok(bbb_task_create_task(f->f_c, &creq, &cresp, &st), &st);
	a = cresp->task;
	assert_non_null(a);
	assert_true(a->id > 0);
	assert_int_equal(a->project_id, pid);
	assert_string_equal(a->title, creq.title);
	assert_string_equal(a->description, creq.description);
	assert_int_equal(a->priority, 1);
	assert_int_equal(a->due_at_ms, creq.due_at_ms);

	greq.task_id = a->id;
	expect_ok(bbb_task_get_task(f->f_c, &greq, &gresp, &st), &st);
	b = gresp->task;
	assert_non_null(b);
	assert_int_equal(b->id, a->id);
	assert_int_equal(b->project_id, a->project_id);
	assert_string_equal(b->title, a->title);
	assert_string_equal(b->description, a->description);
	assert_int_equal(b->status, a->status);
	assert_int_equal(b->priority, a->priority);
	assert_int_equal(b->assignee_agent_id, a->assignee_agent_id);
	assert_int_equal(b->parent_task_id, a->parent_task_id);
	assert_int_equal(b->due_at_ms, a->due_at_ms);
	assert_int_equal(b->created_at_ms, a->created_at_ms);
	assert_int_equal(b->updated_at_ms, a->updated_at_ms);
	assert_int_equal(b->version, a->version);
	bbb_free(gresp);
	bbb_free(cresp);
}

static void create_task_defaults_priority_3_status_todo_version_1(void **state)
{
	struct fixture *f = *state;
	int64_t pid = make_project_id(f->f_c, "alpha", "/srv/alpha");
	Beebeebrain__V1__Task *t = make_task(f->f_c, pid, "defaults");

	assert_int_equal(t->priority, 3);
	assert_int_equal(t->status, BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_TODO);
	assert_int_equal(t->version, 1);
	assert_int_equal(t->assignee_agent_id, 0);
	assert_int_equal(t->parent_task_id, 0);
	assert_int_equal(t->due_at_ms, 0);
	assert_string_equal(t->description, "");
	assert_true(t->created_at_ms > 0);
	assert_int_equal(t->updated_at_ms, t->created_at_ms);
	bbb_free(t);
}

static void create_task_with_project_0_uses_project_named_default(void **state)
{
	struct fixture *f = *state;
	int64_t other = make_project_id(f->f_c, "other", "/srv/other");
	int64_t dflt = make_project_id(f->f_c, "default", "/srv/default");
	Beebeebrain__V1__Task *t = make_task(f->f_c, 0, "lands in default");

	assert_int_not_equal(other, dflt);
	assert_int_equal(t->project_id, dflt);
	bbb_free(t);
}

static void create_task_with_project_0_and_no_default_project_is_validation_error(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__CreateTaskRequest req = BEEBEEBRAIN__V1__CREATE_TASK_REQUEST__INIT;
	Beebeebrain__V1__CreateTaskResponse *resp;
	bbb_status st;

	make_project_id(f->f_c, "not-default", "/srv/nd");
	req.title = "homeless";
	expect_error(bbb_task_create_task(f->f_c, &req, &resp, &st), &st, BBB_INVALID_ARGUMENT, "VALIDATION_ERROR");
	expect_violations(&st, 1, "project_id");
}

static void create_task_in_unknown_project_is_project_not_found(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__CreateTaskRequest req = BEEBEEBRAIN__V1__CREATE_TASK_REQUEST__INIT;
	Beebeebrain__V1__CreateTaskResponse *resp;
	bbb_status st;

	req.project_id = 777;
	req.title = "orphan";
	expect_error(bbb_task_create_task(f->f_c, &req, &resp, &st), &st, BBB_NOT_FOUND, "PROJECT_NOT_FOUND");
}

static void get_unknown_task_is_task_not_found(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__GetTaskRequest req = BEEBEEBRAIN__V1__GET_TASK_REQUEST__INIT;
	Beebeebrain__V1__GetTaskResponse *resp = (void *)1;
	bbb_status st;

	req.task_id = 999999;
	expect_error(bbb_task_get_task(f->f_c, &req, &resp, &st), &st, BBB_NOT_FOUND, "TASK_NOT_FOUND");
	assert_null(resp);
	assert_true(strlen(st.message) > 0);
}

static void get_task_with_id_0_is_validation_error_on_task_id(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__GetTaskRequest req = BEEBEEBRAIN__V1__GET_TASK_REQUEST__INIT;
	Beebeebrain__V1__GetTaskResponse *resp;
	bbb_status st;

	expect_error(bbb_task_get_task(f->f_c, &req, &resp, &st), &st, BBB_INVALID_ARGUMENT, "VALIDATION_ERROR");
	expect_violations(&st, 1, "task_id");
}

static void create_task_with_empty_title_and_priority_9_lists_two_violations(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__CreateTaskRequest req = BEEBEEBRAIN__V1__CREATE_TASK_REQUEST__INIT;
	Beebeebrain__V1__CreateTaskResponse *resp = (void *)1;
	bbb_status st;

	make_project_id(f->f_c, "default", "/srv/default");
	req.title = "";
	req.priority = 9;
	expect_error(bbb_task_create_task(f->f_c, &req, &resp, &st), &st, BBB_INVALID_ARGUMENT, "VALIDATION_ERROR");
	assert_null(resp);
	expect_violations(&st, 2, "title", "priority");
}

static void create_task_with_status_running_is_validation_error_on_status(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__CreateTaskRequest req = BEEBEEBRAIN__V1__CREATE_TASK_REQUEST__INIT;
	Beebeebrain__V1__CreateTaskResponse *resp;
	bbb_status st;

	req.project_id = make_project_id(f->f_c, "alpha", "/srv/alpha");
	req.title = "born running";
	req.status = BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_RUNNING;
	expect_error(bbb_task_create_task(f->f_c, &req, &resp, &st), &st, BBB_INVALID_ARGUMENT, "VALIDATION_ERROR");
	expect_violations(&st, 1, "status");
}

static void create_task_with_title_over_160_characters_is_validation_error(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__CreateTaskRequest req = BEEBEEBRAIN__V1__CREATE_TASK_REQUEST__INIT;
	Beebeebrain__V1__CreateTaskResponse *resp;
	char title[162];
	bbb_status st;

	req.project_id = make_project_id(f->f_c, "alpha", "/srv/alpha");
	memset(title, 'x', 161);
	title[161] = '\0';
	req.title = title;
	expect_error(bbb_task_create_task(f->f_c, &req, &resp, &st), &st, BBB_INVALID_ARGUMENT, "VALIDATION_ERROR");
	expect_violations(&st, 1, "title");

	title[160] = '\0';
	expect_ok(bbb_task_create_task(f->f_c, &req, &resp, &st), &st);
	assert_int_equal(strlen(resp->task->title), 160);
	bbb_free(resp);
}

static void list_tasks_filters_by_project(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__ListTasksRequest req = BEEBEEBRAIN__V1__LIST_TASKS_REQUEST__INIT;
	int64_t a = make_project_id(f->f_c, "a", "/srv/a");
	int64_t b = make_project_id(f->f_c, "b", "/srv/b");
	int64_t in_a[3], ids[8];
	int pages, n;

	in_a[0] = make_task_id(f->f_c, a, "a1");
	make_task_id(f->f_c, b, "b1");
	in_a[1] = make_task_id(f->f_c, a, "a2");
	make_task_id(f->f_c, b, "b2");
	in_a[2] = make_task_id(f->f_c, a, "a3");

	req.project_id = a;
	n = list_all_task_ids(f->f_c, &req, ids, 8, &pages);
	assert_int_equal(n, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(ids[i], in_a[i]);

	req.project_id = 0;
	assert_int_equal(list_all_task_ids(f->f_c, &req, ids, 8, &pages), 5);

	req.project_id = b + 1000;
	assert_int_equal(list_all_task_ids(f->f_c, &req, ids, 8, &pages), 0);
}

static void list_tasks_filters_by_status(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__ListTasksRequest req = BEEBEEBRAIN__V1__LIST_TASKS_REQUEST__INIT;
	Beebeebrain__V1__ListTasksResponse *resp;
	int64_t pid = make_project_id(f->f_c, "a", "/srv/a");
	bbb_status st;

	make_task_id(f->f_c, pid, "t1");
	make_task_id(f->f_c, pid, "t2");

	req.status = BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_TODO;
	expect_ok(bbb_task_list_tasks(f->f_c, &req, &resp, &st), &st);
	assert_int_equal(resp->n_tasks, 2);
	for (size_t i = 0; i < resp->n_tasks; i++)
		assert_int_equal(resp->tasks[i]->status, BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_TODO);
	bbb_free(resp);

	/* New tasks are todo; nothing in this slice moves them elsewhere. */
	req.status = BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_RUNNING;
	expect_ok(bbb_task_list_tasks(f->f_c, &req, &resp, &st), &st);
	assert_int_equal(resp->n_tasks, 0);
	assert_string_equal(resp->next_page_token, "");
	bbb_free(resp);

	req.status = BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_DONE;
	req.project_id = pid;
	expect_ok(bbb_task_list_tasks(f->f_c, &req, &resp, &st), &st);
	assert_int_equal(resp->n_tasks, 0);
	bbb_free(resp);
}

static void list_tasks_pages_in_id_order_via_next_page_token(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__ListTasksRequest req = BEEBEEBRAIN__V1__LIST_TASKS_REQUEST__INIT;
	int64_t pid = make_project_id(f->f_c, "a", "/srv/a");
	int64_t made[7], ids[16];
	char title[16];
	int pages, n;

	for (int i = 0; i < 7; i++) {
		snprintf(title, sizeof(title), "t%d", i);
		made[i] = make_task_id(f->f_c, pid, title);
	}
	req.limit = 3;
	n = list_all_task_ids(f->f_c, &req, ids, 16, &pages);
	assert_int_equal(n, 7);
	assert_int_equal(pages, 3);
	for (int i = 0; i < 7; i++)
		assert_int_equal(ids[i], made[i]);

	req.limit = 1;
	assert_int_equal(list_all_task_ids(f->f_c, &req, ids, 16, &pages), 7);
	assert_int_equal(pages, 7);
}

static void list_tasks_with_bad_page_token_is_invalid_page_token(void **state)
{
	static const char *const bad[] = {"garbage", "c", "c-1", "c0", "c12x", "x12", "c99999999999999999999"};
	struct fixture *f = *state;
	Beebeebrain__V1__ListTasksRequest req = BEEBEEBRAIN__V1__LIST_TASKS_REQUEST__INIT;
	Beebeebrain__V1__ListTasksResponse *resp;
	bbb_status st;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		req.page_token = (char *)bad[i];
		expect_error(bbb_task_list_tasks(f->f_c, &req, &resp, &st), &st, BBB_INVALID_ARGUMENT,
			     "INVALID_PAGE_TOKEN");
	}
}

static void list_tasks_with_unknown_status_and_negative_project_lists_both_fields(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__ListTasksRequest req = BEEBEEBRAIN__V1__LIST_TASKS_REQUEST__INIT;
	Beebeebrain__V1__ListTasksResponse *resp;
	bbb_status st;

	req.project_id = -1;
	req.status = 99;
	expect_error(bbb_task_list_tasks(f->f_c, &req, &resp, &st), &st, BBB_INVALID_ARGUMENT, "VALIDATION_ERROR");
	expect_violations(&st, 2, "project_id", "status");
}

/* ---- AdminService ------------------------------------------------------ */

/* Backup copies the SQLite file. On PostgreSQL it copies nothing and says so,
 * pointing at pg_dump (docs/runbook.md), whatever the request asks: returns
 * 1 when that was checked, for a test about the file's copy to end there. */
static int backup_refused_on_postgresql(struct fixture *f, const Beebeebrain__V1__BackupRequest *req)
{
	Beebeebrain__V1__BackupResponse *resp = NULL;
	bbb_status st;

	if (!harness_engine_pg())
		return 0;
	expect_error(bbb_admin_backup(f->f_c, req, &resp, &st), &st, BBB_FAILED_PRECONDITION, "DB_ENGINE_UNSUPPORTED");
	assert_non_null(strstr(st.message, "pg_dump"));
	assert_null(resp);
	return 1;
}

static void backup_writes_a_checked_copy_to_out_path(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__BackupRequest req = BEEBEEBRAIN__V1__BACKUP_REQUEST__INIT;
	Beebeebrain__V1__BackupResponse *resp;
	char path[PATH_MAX];
	struct stat sb;
	bbb_status st;

	make_task_id(f->f_c, make_project_id(f->f_c, "default", "/srv/default"), "keep me");
	req.out_path = harness_path(&f->f_h, "copy.bak", path, sizeof(path));
	if (backup_refused_on_postgresql(f, &req)) {
		assert_int_equal(stat(path, &sb), -1);
		return;
	}
	expect_ok(bbb_admin_backup(f->f_c, &req, &resp, &st), &st);
	assert_string_equal(resp->path, path);
	assert_true(resp->size_bytes > 0);
	assert_string_equal(resp->integrity, "ok");
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, resp->size_bytes);
	bbb_free(resp);
}

static void backup_without_out_path_writes_next_to_the_database(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__BackupRequest req = BEEBEEBRAIN__V1__BACKUP_REQUEST__INIT;
	Beebeebrain__V1__BackupResponse *resp;
	size_t dbn = strlen(f->f_h.h_db_path);
	struct stat sb;
	bbb_status st;

	if (backup_refused_on_postgresql(f, &req))
		return;
	expect_ok(bbb_admin_backup(f->f_c, &req, &resp, &st), &st);
	/* <db>.<YYYYmmdd-HHMMSS>.bak */
	assert_int_equal(strlen(resp->path), dbn + 1 + 15 + 4);
	assert_memory_equal(resp->path, f->f_h.h_db_path, dbn);
	assert_int_equal(resp->path[dbn], '.');
	assert_string_equal(resp->path + dbn + 16, ".bak");
	assert_string_equal(resp->integrity, "ok");
	assert_true(resp->size_bytes > 0);
	assert_int_equal(stat(resp->path, &sb), 0);
	assert_int_equal(sb.st_size, resp->size_bytes);
	bbb_free(resp);
}

static void backup_to_an_existing_file_is_refused_and_leaves_it_alone(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__BackupRequest req = BEEBEEBRAIN__V1__BACKUP_REQUEST__INIT;
	Beebeebrain__V1__BackupResponse *resp;
	char path[PATH_MAX], buf[16] = "";
	bbb_status st;
	FILE *fp;

	harness_path(&f->f_h, "precious", path, sizeof(path));
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("precious", fp);
	fclose(fp);

	req.out_path = path;
	if (!backup_refused_on_postgresql(f, &req))
		expect_error(bbb_admin_backup(f->f_c, &req, &resp, &st), &st, BBB_ALREADY_EXISTS, "RESOURCE_CONFLICT");
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	assert_string_equal(buf, "precious");
}

static void backup_with_relative_out_path_is_validation_error(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__BackupRequest req = BEEBEEBRAIN__V1__BACKUP_REQUEST__INIT;
	Beebeebrain__V1__BackupResponse *resp;
	bbb_status st;

	req.out_path = "relative.bak";
	if (backup_refused_on_postgresql(f, &req))
		return;
	expect_error(bbb_admin_backup(f->f_c, &req, &resp, &st), &st, BBB_INVALID_ARGUMENT, "VALIDATION_ERROR");
	expect_violations(&st, 1, "out_path");
}

/* A fresh database is migrated to the binary's latest schema at start-up:
 * every migration the binary knows (versions 1..latest, in order) is applied.
 * The count is not fixed here, so adding a migration does not break this. */
static void migration_status_reports_every_migration_applied_and_current_at_latest(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__MigrationStatusRequest req = BEEBEEBRAIN__V1__MIGRATION_STATUS_REQUEST__INIT;
	Beebeebrain__V1__MigrationStatusResponse *resp;
	bbb_status st;

	expect_ok(bbb_admin_migration_status(f->f_c, &req, &resp, &st), &st);
	assert_true(resp->latest_version >= 1);
	assert_int_equal(resp->current_version, resp->latest_version);
	/* Versions ascend but need not be contiguous (a migration may land
	 * before a lower-numbered one); the last is the latest. */
	assert_true(resp->n_migrations >= 1 && resp->n_migrations <= (size_t)resp->latest_version);
	assert_int_equal(resp->migrations[resp->n_migrations - 1]->version, resp->latest_version);
	for (size_t i = 0; i < resp->n_migrations; i++) {
		const Beebeebrain__V1__Migration *m = resp->migrations[i];

		assert_true(m->version > (i > 0 ? resp->migrations[i - 1]->version : 0));
		if (!m->applied)
			fail_msg("migration %d (%s) is not applied", m->version, m->name);
		assert_true(m->applied_at_ms > 0);
		assert_true(strlen(m->name) > 0);
		assert_true(strlen(m->checksum) > 0);
	}
	bbb_free(resp);
}

/* ---- the library itself ------------------------------------------------ */

static void client_opened_on_a_port_without_server_is_server_unreachable(void **state)
{
	struct bbb_client_options o = {.timeout_ms = 2000};
	char url[64];
	bbb_status st;
	bbb_client *c;
	int64_t t0 = mono_ms();

	(void)state;
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", harness_free_port());
	o.url = url;
	c = bbb_client_open(&o, &st);
	assert_null(c);
	assert_int_equal(st.code, BBB_UNAVAILABLE);
	assert_string_equal(st.reason, "SERVER_UNREACHABLE");
	assert_true(bbb_status_unreachable(&st));
	assert_non_null(strstr(st.message, url));
	/* Reported at once, not after the call timeout. */
	assert_true(mono_ms() - t0 < 1000);
}

static void call_after_the_server_stopped_is_server_unreachable_within_the_timeout(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__CheckRequest req = BEEBEEBRAIN__V1__CHECK_REQUEST__INIT;
	Beebeebrain__V1__CheckResponse *resp = (void *)1;
	bbb_status st;
	int64_t t0;
	int rc;

	assert_int_equal(harness_stop(&f->f_h), 0);
	bbb_client_set_timeout(f->f_c, 500);
	t0 = mono_ms();
	rc = bbb_health_check(f->f_c, &req, &resp, &st);
	assert_int_equal(rc, -1);
	assert_null(resp);
	/* Nobody to send to: the request never left, which client.h calls
	 * SERVER_UNREACHABLE (DEADLINE_EXCEEDED would claim a sent request
	 * went unanswered). */
	if (!bbb_status_unreachable(&st))
		fail_msg("got %d %s: %s", st.code, st.reason, st.message);
	/* timeout 500 ms + the library's margin of 500 ms, plus slack. */
	assert_true(mono_ms() - t0 < 3000);
	/* Restart so that the teardown has a server to stop. */
	bbb_client_close(f->f_c);
	harness_cleanup(&f->f_h);
	assert_int_equal(harness_start(&f->f_h, server_bin, NULL), 0);
	f->f_c = harness_client(&f->f_h, TEST_TIMEOUT_MS, &st);
	assert_non_null(f->f_c);
}

static void trace_id_set_on_the_client_is_echoed_back(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__GetTaskRequest req = BEEBEEBRAIN__V1__GET_TASK_REQUEST__INIT;
	Beebeebrain__V1__GetTaskResponse *resp;
	Beebeebrain__V1__CheckRequest creq = BEEBEEBRAIN__V1__CHECK_REQUEST__INIT;
	Beebeebrain__V1__CheckResponse *cresp;
	bbb_status st;

	/* On an error reply ... */
	bbb_client_set_trace_id(f->f_c, "trace-it-0123456789");
	req.task_id = 12345;
	expect_error(bbb_task_get_task(f->f_c, &req, &resp, &st), &st, BBB_NOT_FOUND, "TASK_NOT_FOUND");
	assert_string_equal(st.trace_id, "trace-it-0123456789");
	/* ... and on a success. */
	expect_ok(bbb_health_check(f->f_c, &creq, &cresp, &st), &st);
	assert_string_equal(st.trace_id, "trace-it-0123456789");
	bbb_free(cresp);

	/* None set: the server makes one, trace-<16 hex>. */
	bbb_client_set_trace_id(f->f_c, NULL);
	expect_ok(bbb_health_check(f->f_c, &creq, &cresp, &st), &st);
	bbb_free(cresp);
	assert_int_equal(strlen(st.trace_id), 6 + 16);
	assert_memory_equal(st.trace_id, "trace-", 6);
	assert_int_equal(strspn(st.trace_id + 6, "0123456789abcdef"), 16);
}

/* ---- the request size limit ------------------------------------------ */

#define SIZE_KEY "size-test-key"

/* The size of the envelope bbb_call makes for req with key SIZE_KEY, the
 * client's timeout and no trace id: the same fields, with a request_id of
 * the same 32 characters. */
static size_t client_envelope_bytes(const ProtobufCMessage *req, uint32_t timeout_ms)
{
	Beebeebrain__V1__RpcRequest env = BEEBEEBRAIN__V1__RPC_REQUEST__INIT;
	size_t len = protobuf_c_message_get_packed_size(req);
	uint8_t *payload = malloc(len);

	assert_non_null(payload);
	protobuf_c_message_pack(req, payload);
	env.method = "/beebeebrain.v1.TaskService/CreateTask";
	env.payload.data = payload;
	env.payload.len = len;
	env.timeout_ms = timeout_ms;
	env.api_key = SIZE_KEY;
	env.request_id = "0123456789abcdef0123456789abcdef";
	len = protobuf_c_message_get_packed_size(&env.base);
	free(payload);
	return len;
}

static void request_of_4_mib_is_answered_and_one_byte_more_is_refused_by_the_client(void **state)
{
	struct fixture *f = *state;
	struct bbb_client_options o = {.url = f->f_h.h_url, .api_key = SIZE_KEY, .timeout_ms = TEST_TIMEOUT_MS};
	Beebeebrain__V1__CreateTaskRequest req = BEEBEEBRAIN__V1__CREATE_TASK_REQUEST__INIT;
	Beebeebrain__V1__CreateTaskResponse *resp = NULL;
	Beebeebrain__V1__CheckRequest creq = BEEBEEBRAIN__V1__CHECK_REQUEST__INIT;
	Beebeebrain__V1__CheckResponse *cresp;
	size_t n = BBB_REQUEST_MAX_BYTES - 1024;
	char *description = malloc(BBB_REQUEST_MAX_BYTES + 1);
	bbb_status st;
	bbb_client *c = bbb_client_open(&o, &st);
	int rc;

	assert_non_null(c);
	assert_non_null(description);
	memset(description, 'd', BBB_REQUEST_MAX_BYTES);
	req.title = "big";
	req.description = description;
	description[n] = '\0';
	/* Grow the description by what the envelope lacks of 4 MiB. */
	size_t missing = BBB_REQUEST_MAX_BYTES - client_envelope_bytes(&req.base, TEST_TIMEOUT_MS);
	description[n] = 'd';
	n += missing;
	description[n] = '\0';
	assert_int_equal(client_envelope_bytes(&req.base, TEST_TIMEOUT_MS), BBB_REQUEST_MAX_BYTES);

	/* Exactly 4 MiB: the server answers (however it judges the task). */
	rc = bbb_task_create_task(c, &req, &resp, &st);
	if (rc != 0 && (st.code == BBB_UNAVAILABLE || st.code == BBB_DEADLINE_EXCEEDED ||
			strcmp(st.reason, "MESSAGE_TOO_LARGE") == 0))
		fail_msg("a request of exactly 4 MiB was not answered: %d %s %s", st.code, st.reason, st.message);
	assert_int_equal(strncmp(st.trace_id, "trace-", 6), 0);
	bbb_free(resp);

	/* One byte more: refused by the client, nothing sent. */
	description[n] = 'd';
	description[n + 1] = '\0';
	expect_error(bbb_task_create_task(c, &req, &resp, &st), &st, BBB_RESOURCE_EXHAUSTED, "MESSAGE_TOO_LARGE");
	assert_string_equal(st.trace_id, "");
	free(description);

	/* The connection is the same as before and still serves. */
	expect_ok(bbb_health_check(c, &creq, &cresp, &st), &st);
	bbb_free(cresp);
	bbb_client_close(c);
}

struct conc_worker {
	bbb_client *w_client;
	int64_t w_project;
	int w_index;
	int w_ok;
	int64_t w_ids[CONC_CALLS];
	char w_error[1024];
};

static void *conc_create_tasks(void *arg)
{
	struct conc_worker *w = arg;
	char title[64];

	for (int i = 0; i < CONC_CALLS; i++) {
		Beebeebrain__V1__CreateTaskRequest req = BEEBEEBRAIN__V1__CREATE_TASK_REQUEST__INIT;
		Beebeebrain__V1__CreateTaskResponse *resp;
		bbb_status st;

		snprintf(title, sizeof(title), "thread %d call %d", w->w_index, i);
		req.project_id = w->w_project;
		req.title = title;
		if (bbb_task_create_task(w->w_client, &req, &resp, &st) != 0) {
			snprintf(w->w_error, sizeof(w->w_error), "%s: %d %s %s", title, st.code, st.reason, st.message);
			continue;
		}
		if (strcmp(resp->task->title, title) == 0)
			w->w_ids[w->w_ok++] = resp->task->id;
		else
			snprintf(w->w_error, sizeof(w->w_error), "%s came back as '%s'", title, resp->task->title);
		bbb_free(resp);
	}
	return NULL;
}

static void eight_threads_creating_tasks_on_one_client_all_succeed_with_distinct_ids(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__ListTasksRequest req = BEEBEEBRAIN__V1__LIST_TASKS_REQUEST__INIT;
	static struct conc_worker w[CONC_THREADS];
	static int64_t made[CONC_THREADS * CONC_CALLS], listed[CONC_THREADS * CONC_CALLS + 8];
	pthread_t th[CONC_THREADS];
	int64_t pid = make_project_id(f->f_c, "busy", "/srv/busy");
	int n = 0, pages;

	for (int i = 0; i < CONC_THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].w_client = f->f_c;
		w[i].w_project = pid;
		w[i].w_index = i;
		assert_int_equal(pthread_create(&th[i], NULL, conc_create_tasks, &w[i]), 0);
	}
	for (int i = 0; i < CONC_THREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < CONC_THREADS; i++) {
		if (w[i].w_ok != CONC_CALLS)
			fail_msg("thread %d: %d of %d calls succeeded; last error %s", i, w[i].w_ok, CONC_CALLS,
				 w[i].w_error);
		memcpy(made + n, w[i].w_ids, sizeof(w[i].w_ids));
		n += CONC_CALLS;
	}
	qsort(made, (size_t)n, sizeof(made[0]), cmp_int64);
	for (int i = 1; i < n; i++)
		if (made[i] == made[i - 1])
			fail_msg("id %lld returned twice", (long long)made[i]);

	req.project_id = pid;
	req.limit = 100;
	assert_int_equal(list_all_task_ids(f->f_c, &req, listed, CONC_THREADS * CONC_CALLS + 8, &pages),
			 CONC_THREADS * CONC_CALLS);
	/* Pages come in id order, so the listing is the sorted set of ids. */
	for (int i = 0; i < n; i++)
		assert_int_equal(listed[i], made[i]);
}

/* ---- asynchronous calls ------------------------------------------------ */

/* What one asynchronous call's callback saw. */
struct async_slot {
	int64_t as_expect_id; /* the task asked for */
	int as_calls; /* callbacks run for this call */
	int as_code;
	char as_reason[48];
	char as_trace_id[72];
	int as_n_violations;
	char as_violation[64]; /* the first one's field */
	int64_t as_got_id; /* the task answered, 0 for none */
	char as_title[64];
};

static void async_get_task_done(void *arg, const bbb_status *st, ProtobufCMessage *resp)
{
	struct async_slot *s = arg;
	Beebeebrain__V1__GetTaskResponse *r = (Beebeebrain__V1__GetTaskResponse *)resp;

	s->as_calls++;
	s->as_code = st->code;
	snprintf(s->as_reason, sizeof(s->as_reason), "%s", st->reason);
	snprintf(s->as_trace_id, sizeof(s->as_trace_id), "%s", st->trace_id);
	s->as_n_violations = st->n_violations;
	if (st->n_violations > 0)
		snprintf(s->as_violation, sizeof(s->as_violation), "%s", st->violations[0].field);
	if (r != NULL && r->task != NULL) {
		s->as_got_id = r->task->id;
		snprintf(s->as_title, sizeof(s->as_title), "%s", r->task->title);
	}
	bbb_free(resp);
}

static int async_get_task(bbb_client *c, int64_t task_id, struct async_slot *s, bbb_status *st)
{
	Beebeebrain__V1__GetTaskRequest req = BEEBEEBRAIN__V1__GET_TASK_REQUEST__INIT;

	req.task_id = task_id;
	s->as_expect_id = task_id;
	return bbb_call_async(c, &beebeebrain__v1__task_service__descriptor, "GetTask", &req.base, NULL,
			      async_get_task_done, s, st);
}

static void async_get_tasks_256_in_flight_on_one_client_are_all_answered_correctly(void **state)
{
	struct fixture *f = *state;
	static struct async_slot slots[ASYNC_CALLS];
	int64_t pid = make_project_id(f->f_c, "async", "/srv/async"), ids[ASYNC_TASKS];
	char title[64];
	bbb_status st;

	for (int i = 0; i < ASYNC_TASKS; i++) {
		snprintf(title, sizeof(title), "async task %d", i);
		ids[i] = make_task_id(f->f_c, pid, title);
	}
	memset(slots, 0, sizeof(slots));
	/* All started before any is waited for: one thread, one client. */
	for (int i = 0; i < ASYNC_CALLS; i++)
		if (async_get_task(f->f_c, ids[i % ASYNC_TASKS], &slots[i], &st) != 0)
			fail_msg("call %d not started: %d %s %s", i, st.code, st.reason, st.message);
	bbb_client_drain(f->f_c);

	for (int i = 0; i < ASYNC_CALLS; i++) {
		struct async_slot *s = &slots[i];

		snprintf(title, sizeof(title), "async task %d", i % ASYNC_TASKS);
		if (s->as_calls != 1 || s->as_code != BBB_OK)
			fail_msg("call %d: %d callback(s), code %d %s", i, s->as_calls, s->as_code, s->as_reason);
		assert_int_equal(s->as_got_id, s->as_expect_id);
		assert_string_equal(s->as_title, title);
		assert_int_equal(strncmp(s->as_trace_id, "trace-", 6), 0);
	}
}

static void async_error_answers_reach_the_callback_with_code_reason_and_violations(void **state)
{
	struct fixture *f = *state;
	struct async_slot missing = {0}, invalid = {0};
	bbb_status st;

	expect_ok(async_get_task(f->f_c, 999999, &missing, &st), &st);
	expect_ok(async_get_task(f->f_c, 0, &invalid, &st), &st);
	bbb_client_drain(f->f_c);

	assert_int_equal(missing.as_calls, 1);
	assert_int_equal(missing.as_code, BBB_NOT_FOUND);
	assert_string_equal(missing.as_reason, "TASK_NOT_FOUND");
	assert_int_equal(missing.as_got_id, 0);
	assert_int_equal(strncmp(missing.as_trace_id, "trace-", 6), 0);

	assert_int_equal(invalid.as_calls, 1);
	assert_int_equal(invalid.as_code, BBB_INVALID_ARGUMENT);
	assert_string_equal(invalid.as_reason, "VALIDATION_ERROR");
	assert_int_equal(invalid.as_n_violations, 1);
	assert_string_equal(invalid.as_violation, "task_id");
}

static void async_call_refused_before_sending_never_calls_back(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__CheckRequest wrong = BEEBEEBRAIN__V1__CHECK_REQUEST__INIT;
	struct async_slot s = {0};
	bbb_status st;

	assert_int_equal(bbb_call_async(f->f_c, &beebeebrain__v1__task_service__descriptor, "GetTask", &wrong.base,
					NULL, async_get_task_done, &s, &st),
			 -1);
	assert_int_equal(st.code, BBB_INVALID_ARGUMENT);
	assert_string_equal(st.reason, "MALFORMED_REQUEST");
	assert_int_equal(bbb_call_async(f->f_c, &beebeebrain__v1__task_service__descriptor, "NoSuchMethod", &wrong.base,
					NULL, async_get_task_done, &s, &st),
			 -1);
	assert_string_equal(st.reason, "UNKNOWN_METHOD");
	bbb_client_drain(f->f_c);
	assert_int_equal(s.as_calls, 0);
}

/* Chains of calls, each callback starting the next call of its chain, as a
 * pipelined program does, until the client is closed under them. */
struct async_chains {
	bbb_client *ac_client;
	int64_t ac_task_id;
	atomic_int ac_started; /* calls bbb_call_async accepted */
	atomic_int ac_done; /* callbacks run */
	atomic_int ac_ok;
	atomic_int ac_refused; /* starts refused with CANCELLED CLIENT_CLOSED */
	atomic_int ac_other; /* anything else: a failure */
	pthread_mutex_t ac_lock;
	pthread_cond_t ac_cv; /* ac_done moved */
};

static void async_chain_next(struct async_chains *a);

static void async_chain_done(void *arg, const bbb_status *st, ProtobufCMessage *resp)
{
	struct async_chains *a = arg;

	if (st->code == BBB_OK && resp != NULL)
		atomic_fetch_add(&a->ac_ok, 1);
	else
		atomic_fetch_add(&a->ac_other, 1);
	bbb_free(resp);
	async_chain_next(a);
	pthread_mutex_lock(&a->ac_lock);
	atomic_fetch_add(&a->ac_done, 1);
	pthread_cond_broadcast(&a->ac_cv);
	pthread_mutex_unlock(&a->ac_lock);
}

static void async_chain_next(struct async_chains *a)
{
	Beebeebrain__V1__GetTaskRequest req = BEEBEEBRAIN__V1__GET_TASK_REQUEST__INIT;
	bbb_status st;

	req.task_id = a->ac_task_id;
	if (bbb_call_async(a->ac_client, &beebeebrain__v1__task_service__descriptor, "GetTask", &req.base, NULL,
			   async_chain_done, a, &st) == 0)
		atomic_fetch_add(&a->ac_started, 1);
	else if (st.code == BBB_CANCELLED && strcmp(st.reason, "CLIENT_CLOSED") == 0)
		atomic_fetch_add(&a->ac_refused, 1);
	else
		atomic_fetch_add(&a->ac_other, 1);
}

static void closing_a_client_with_async_calls_in_flight_lets_each_end_once(void **state)
{
	struct fixture *f = *state;
	static struct async_chains a;
	int64_t pid = make_project_id(f->f_c, "async", "/srv/async");
	bbb_status st;

	memset(&a, 0, sizeof(a));
	pthread_mutex_init(&a.ac_lock, NULL);
	pthread_cond_init(&a.ac_cv, NULL);
	a.ac_task_id = make_task_id(f->f_c, pid, "read while closing");
	a.ac_client = harness_client(&f->f_h, TEST_TIMEOUT_MS, &st);
	assert_non_null(a.ac_client);
	for (int i = 0; i < ASYNC_CHAINS; i++)
		async_chain_next(&a);
	/* Let the chains run a while: several answers per chain. */
	pthread_mutex_lock(&a.ac_lock);
	while (atomic_load(&a.ac_done) < 4 * ASYNC_CHAINS && atomic_load(&a.ac_other) == 0)
		pthread_cond_wait(&a.ac_cv, &a.ac_lock);
	pthread_mutex_unlock(&a.ac_lock);

	bbb_client_close(a.ac_client);
	/* Every accepted call was answered, once, before close returned; each
	 * chain's next start was refused; nothing else happened. */
	assert_int_equal(atomic_load(&a.ac_other), 0);
	assert_int_equal(atomic_load(&a.ac_done), atomic_load(&a.ac_started));
	assert_int_equal(atomic_load(&a.ac_ok), atomic_load(&a.ac_done));
	assert_int_equal(atomic_load(&a.ac_refused), ASYNC_CHAINS);
	pthread_cond_destroy(&a.ac_cv);
	pthread_mutex_destroy(&a.ac_lock);
}

/* ---- the CLI sees what the library wrote ------------------------------- */

static void cli_task_get_shows_a_task_created_through_the_library(void **state)
{
	struct fixture *f = *state;
	int64_t pid = make_project_id(f->f_c, "default", "/srv/default");
	int64_t tid = make_task_id(f->f_c, pid, "seen by the cli");
	char id[32], out[8192], err[2048];
	const char *args[] = {"task", "get", id, "-o", "json", NULL};

	snprintf(id, sizeof(id), "%lld", (long long)tid);
	assert_int_equal(harness_run_cli(&f->f_h, args, out, sizeof(out), err, sizeof(err)), 0);
	assert_non_null(strstr(out, "\"title\": \"seen by the cli\""));
	assert_non_null(strstr(out, "TASK_STATUS_TODO"));
	assert_string_equal(err, "");
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, server_setup, server_teardown)
		T(health_check_reports_ok_service_and_version),
		T(health_ready_reports_ready_with_a_passing_database_check),
		T(create_project_then_get_returns_same_project),
		T(list_projects_pages_with_limit_1_via_next_page_token),
		T(list_projects_without_limit_returns_all_in_one_page),
		T(get_unknown_project_is_project_not_found),
		T(create_project_with_empty_name_and_relative_root_lists_both_fields),
		T(create_project_with_taken_root_path_is_resource_conflict),
		T(list_projects_with_bad_page_token_is_invalid_page_token),
		T(list_projects_with_limit_over_100_is_validation_error),
		T(create_task_then_get_returns_same_task),
		T(create_task_defaults_priority_3_status_todo_version_1),
		T(create_task_with_project_0_uses_project_named_default),
		T(create_task_with_project_0_and_no_default_project_is_validation_error),
		T(create_task_in_unknown_project_is_project_not_found),
		T(get_unknown_task_is_task_not_found),
		T(get_task_with_id_0_is_validation_error_on_task_id),
		T(create_task_with_empty_title_and_priority_9_lists_two_violations),
		T(create_task_with_status_running_is_validation_error_on_status),
		T(create_task_with_title_over_160_characters_is_validation_error),
		T(list_tasks_filters_by_project),
		T(list_tasks_filters_by_status),
		T(list_tasks_pages_in_id_order_via_next_page_token),
		T(list_tasks_with_bad_page_token_is_invalid_page_token),
		T(list_tasks_with_unknown_status_and_negative_project_lists_both_fields),
		T(backup_writes_a_checked_copy_to_out_path),
		T(backup_without_out_path_writes_next_to_the_database),
		T(backup_to_an_existing_file_is_refused_and_leaves_it_alone),
		T(backup_with_relative_out_path_is_validation_error),
		T(migration_status_reports_every_migration_applied_and_current_at_latest),
		cmocka_unit_test(client_opened_on_a_port_without_server_is_server_unreachable),
		T(call_after_the_server_stopped_is_server_unreachable_within_the_timeout),
		T(trace_id_set_on_the_client_is_echoed_back),
		T(request_of_4_mib_is_answered_and_one_byte_more_is_refused_by_the_client),
		T(eight_threads_creating_tasks_on_one_client_all_succeed_with_distinct_ids),
		T(async_get_tasks_256_in_flight_on_one_client_are_all_answered_correctly),
		T(async_error_answers_reach_the_callback_with_code_reason_and_violations),
		T(async_call_refused_before_sending_never_calls_back),
		T(closing_a_client_with_async_calls_in_flight_lets_each_end_once),
		T(cli_task_get_shows_a_task_created_through_the_library),
#undef T
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH-TO-beebeebrain\n", argv[0]);
		return 2;
	}
	server_bin = argv[1];
	return cmocka_run_group_tests_name("client_lib", tests, NULL, NULL);
}
