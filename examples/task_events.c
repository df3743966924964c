/*
 * task_events: a small program on the installed BeeBeeBrain C client library.
 *
 *     task_events STATE_FILE [TITLE]
 *
 * 1. creates a task TITLE (default "example task") assigned to agent 1, with a
 *    request_id of its own, so that a retry after a lost reply (UNAVAILABLE or
 *    DEADLINE_EXCEEDED) cannot create it twice;
 * 2. runs it and waits for the final state (RunTask with wait);
 * 3. follows the event stream losslessly (bbb_subscriber) from the id saved in
 *    STATE_FILE, or from the oldest kept event when there is none, printing
 *    one line per event, and saves the id of each event it printed; it stops
 *    after 1.5 s without an event. Run it again with the same STATE_FILE and
 *    it goes on after the last event it printed, none lost, none twice.
 *
 * The server is $BEEBEEBRAIN_RPC_URL (default tcp://127.0.0.1:7420). Output:
 *     task <id> created
 *     run <id> <status>
 *     event <id> <type> task=<id>
 * Exit status 0, or 1 with the error on stderr.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <beebeebrain/client.h>
#include <beebeebrain/subscriber.h>

#define QUIET_MS 1500
#define CALL_ATTEMPTS 3

static int fail(const char *what, const bbb_status *st)
{
	fprintf(stderr, "task_events: %s: %s %s: %s\n", what, bbb_code_name(st->code), st->reason, st->message);
	return 1;
}

/* The id saved by an earlier run, 0 when there is none. */
static int64_t state_load(const char *path)
{
	FILE *f = fopen(path, "r");
	int64_t id = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%" SCNd64, &id) != 1)
		id = 0;
	fclose(f);
	return id;
}

/* Saves id: written to a temporary file and renamed over STATE_FILE, so a
 * crash leaves the old id or the new one, never half of one. */
static int state_save(const char *path, int64_t id)
{
	char tmp[4096];
	FILE *f;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -1;
	f = fopen(tmp, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "%" PRId64 "\n", id);
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, path);
}

/* A write whose reply was lost may or may not have run: send it again with
 * the same request_id and the server answers from its reply cache. */
static int retryable(const bbb_status *st)
{
	return st->code == BBB_UNAVAILABLE || st->code == BBB_DEADLINE_EXCEEDED;
}

static int create_task(bbb_client *c, const char *title, int64_t *task_id)
{
	Beebeebrain__V1__CreateTaskRequest req = BEEBEEBRAIN__V1__CREATE_TASK_REQUEST__INIT;
	Beebeebrain__V1__CreateTaskResponse *resp = NULL;
	char rid[BBB_REQUEST_ID_LEN + 1];
	bbb_call_opts opts = {0};
	bbb_status st;
	int rc = -1;

	if (bbb_request_id_new(rid) != 0) {
		fprintf(stderr, "task_events: no randomness for a request id\n");
		return -1;
	}
	opts.request_id = rid;
	req.title = (char *)title;
	req.assignee_agent_id = 1;
	for (int i = 0; i < CALL_ATTEMPTS && rc != 0; i++) {
		rc = bbb_task_create_task_ex(c, &req, &resp, &opts, &st);
		if (rc != 0 && !retryable(&st))
			break;
	}
	if (rc != 0) {
		fail("CreateTask", &st);
		return -1;
	}
	*task_id = resp->task->id;
	bbb_free(resp);
	return 0;
}

static int run_task(bbb_client *c, int64_t task_id)
{
	Beebeebrain__V1__RunTaskRequest req = BEEBEEBRAIN__V1__RUN_TASK_REQUEST__INIT;
	Beebeebrain__V1__RunTaskResponse *resp;
	bbb_call_opts opts = {.timeout_ms = 120000};
	bbb_status st;
	const char *status;

	req.task_id = task_id;
	req.prompt = "say hello";
	req.wait = 1;
	if (bbb_task_run_task_ex(c, &req, &resp, &opts, &st) != 0) {
		fail("RunTask", &st);
		return -1;
	}
	status = bbb_run_status_name(resp->run->run_status);
	printf("run %" PRId64 " %s\n", resp->run->id, status != NULL ? status : "(unknown)");
	bbb_free(resp);
	return 0;
}

static int follow(bbb_client *c, const char *state_path)
{
	struct bbb_subscriber_options so = {0};
	Beebeebrain__V1__Event *ev;
	bbb_subscriber *sub;
	bbb_status st;
	int rc;

	so.client = c;
	so.after_id = state_load(state_path);
	sub = bbb_subscriber_open(&so, &st);
	if (sub == NULL) {
		fail("subscribe", &st);
		return -1;
	}
	while ((rc = bbb_subscriber_next(sub, QUIET_MS, &ev, &st)) == 1) {
		printf("event %" PRId64 " %s task=%" PRId64 "\n", ev->id, ev->event_type, ev->task_id);
		if (state_save(state_path, ev->id) != 0) {
			fprintf(stderr, "task_events: saving %s: %s\n", state_path, strerror(errno));
			rc = -2;
		}
		bbb_free(ev);
		if (rc == -2)
			break;
	}
	if (rc == -1)
		fail("events", &st);
	bbb_subscriber_close(sub);
	return rc == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *title = argc > 2 ? argv[2] : "example task";
	bbb_client *c;
	bbb_status st;
	int64_t task_id;
	int rc = 1;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: task_events STATE_FILE [TITLE]\n");
		return 2;
	}
	c = bbb_client_open(NULL, &st);
	if (c == NULL)
		return fail("connect", &st);
	if (create_task(c, title, &task_id) == 0) {
		printf("task %" PRId64 " created\n", task_id);
		fflush(stdout);
		if (run_task(c, task_id) == 0 && follow(c, argv[1]) == 0)
			rc = 0;
	}
	bbb_client_close(c);
	return rc;
}
