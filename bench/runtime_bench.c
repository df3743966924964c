/*
 * runtime_bench: the runtime end to end (docs/runtime.md), on the real server.
 *
 * Two measurements, on one server (started with the test harness, on a temp
 * database) whose anthropic endpoint is tests/fake_llm/fake_llm.py:
 *
 *   1. In flight: --runs N (1000) runs queued at once on the fake provider,
 *      which answers every call after --delay-ms (1000). Printed: wall time
 *      from the first RunTask to the last run's end (ideal: the delay plus the
 *      time to queue them), the most runs seen `running` at once, the
 *      server's thread count (/proc/PID/status Threads) before and at its
 *      peak, and its peak resident memory (VmHWM). BEEBEEBRAIN_MAX_IN_FLIGHT
 *      is set to N; an agent may have at most 64 runs, so the runs are spread
 *      over ceil(N / 64) agents.
 *   2. Echo: --echo-runs M (2000) runs with the in-process echo provider:
 *      runs per second end to end (first RunTask to the last run's end; every
 *      run is three write transactions: queue, start, outcome) and the mean
 *      queue-to-end latency.
 *
 * Tasks are created off the clock; the RunTask calls are made by --threads T
 * (8) threads over one client. Ends are read from the database file
 * (task_runs.ended_at, read-only), so the figures are the server's own.
 *
 * Usage: runtime_bench --server build/beebeebrain [--runs N] [--delay-ms MS]
 *            [--echo-runs M] [--threads T] [--durability full|normal]
 *            [--fake PATH/fake_llm.py]
 * Needs /usr/bin/python3. Never run by the tests.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <beebeebrain/client.h>

#include "../tests/fake_llm/fake_llm_proc.c"
#include "harness.h"

#define AGENT_MAX_RUNS 64
#define MAX_THREADS 64

struct bench_opts {
	const char *bo_server;
	const char *bo_fake;
	const char *bo_durability;
	int bo_runs, bo_delay_ms, bo_echo_runs, bo_threads;
};

/* One RunTask thread: runs the tasks bt_tasks[i] for i = bt_first, +step ... */
struct bench_thread {
	bbb_client *bt_c;
	const int64_t *bt_tasks;
	int bt_n, bt_first, bt_step;
	int bt_failed;
};

static int64_t bench_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void bench_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* A "Name: value" field of /proc/PID/status, or -1. */
static long bench_proc_field(pid_t pid, const char *name)
{
	char path[64], line[256];
	size_t n = strlen(name);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, name, n) == 0 && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	if (f != NULL)
		fclose(f);
	return v;
}

static int64_t bench_create_project(bbb_client *c, const char *root)
{
	Beebeebrain__V1__CreateProjectRequest req = BEEBEEBRAIN__V1__CREATE_PROJECT_REQUEST__INIT;
	Beebeebrain__V1__CreateProjectResponse *resp;
	bbb_status st;
	int64_t id;

	req.name = "bench";
	req.root_path = (char *)root;
	if (bbb_project_create_project(c, &req, &resp, &st) != 0) {
		fprintf(stderr, "create project: %s %s\n", st.reason, st.message);
		return 0;
	}
	id = resp->project->id;
	bbb_free(resp);
	return id;
}

static int64_t bench_create_agent(bbb_client *c, int64_t project_id, const char *name, const char *provider)
{
	Beebeebrain__V1__CreateAgentRequest req = BEEBEEBRAIN__V1__CREATE_AGENT_REQUEST__INIT;
	Beebeebrain__V1__CreateAgentResponse *resp;
	bbb_status st;
	int64_t id;

	req.project_id = project_id;
	req.name = (char *)name;
	req.role = "bench";
	req.model_provider = (char *)provider;
	req.model_name = strcmp(provider, "echo") == 0 ? "echo" : "claude-sonnet-4-5";
	req.max_concurrency = AGENT_MAX_RUNS;
	if (bbb_agent_create_agent(c, &req, &resp, &st) != 0) {
		fprintf(stderr, "create agent: %s %s\n", st.reason, st.message);
		return 0;
	}
	id = resp->agent->id;
	bbb_free(resp);
	return id;
}

/* n tasks, task i assigned to agents[i % n_agents]. Returns a malloc'd array
 * of their ids (caller frees), or NULL. */
static int64_t *bench_create_tasks(bbb_client *c, int64_t project_id, const int64_t *agents, int n_agents, int n)
{
	int64_t *ids = calloc((size_t)n, sizeof(*ids));

	for (int i = 0; ids != NULL && i < n; i++) {
		Beebeebrain__V1__CreateTaskRequest req = BEEBEEBRAIN__V1__CREATE_TASK_REQUEST__INIT;
		Beebeebrain__V1__CreateTaskResponse *resp;
		bbb_status st;
		char title[64];

		snprintf(title, sizeof(title), "bench task %d", i);
		req.project_id = project_id;
		req.title = title;
		req.assignee_agent_id = agents[i % n_agents];
		if (bbb_task_create_task(c, &req, &resp, &st) != 0) {
			fprintf(stderr, "create task: %s %s\n", st.reason, st.message);
			free(ids);
			return NULL;
		}
		ids[i] = resp->task->id;
		bbb_free(resp);
	}
	return ids;
}

static void *bench_run_main(void *arg)
{
	struct bench_thread *t = arg;

	for (int i = t->bt_first; i < t->bt_n; i += t->bt_step) {
		Beebeebrain__V1__RunTaskRequest req = BEEBEEBRAIN__V1__RUN_TASK_REQUEST__INIT;
		Beebeebrain__V1__RunTaskResponse *resp;
		bbb_status st;
		char prompt[64];

		snprintf(prompt, sizeof(prompt), "bench run %d", i);
		req.task_id = t->bt_tasks[i];
		req.prompt = prompt;
		if (bbb_task_run_task(t->bt_c, &req, &resp, &st) != 0) {
			if (t->bt_failed++ == 0)
				fprintf(stderr, "run task: %s %s\n", st.reason, st.message);
			continue;
		}
		bbb_free(resp);
	}
	return NULL;
}

/* RunTask for every task, from `threads` threads. Returns the failures. */
static int bench_run_all(bbb_client *c, const int64_t *tasks, int n, int threads)
{
	pthread_t tid[MAX_THREADS];
	struct bench_thread t[MAX_THREADS];
	int failed = 0;

	for (int i = 0; i < threads; i++) {
		t[i] = (struct bench_thread){c, tasks, n, i, threads, 0};
		pthread_create(&tid[i], NULL, bench_run_main, &t[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(tid[i], NULL);
		failed += t[i].bt_failed;
	}
	return failed;
}

struct bench_progress {
	int bp_ended, bp_succeeded, bp_running;
	int64_t bp_last_end, bp_latency_sum;
};

/* Where the runs of the given project stand, from the database file. */
static int bench_progress(sqlite3 *db, int64_t project_id, struct bench_progress *p)
{
	sqlite3_stmt *stmt;
	int rc;

	if (sqlite3_prepare_v2(
		    db,
		    "SELECT coalesce(sum(f), 0), coalesce(sum(r.run_status = 'succeeded'), 0), "
		    "coalesce(sum(r.run_status = 'running'), 0), coalesce(max(f * r.ended_at), 0), "
		    "coalesce(sum(f * (r.ended_at - r.created_at)), 0) FROM (SELECT *, run_status IN "
		    "('succeeded', 'failed', 'cancelled') AS f FROM task_runs) r JOIN tasks t ON t.id = r.task_id "
		    "WHERE t.project_id = ?",
		    -1, &stmt, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(stmt, 1, project_id);
	rc = sqlite3_step(stmt) == SQLITE_ROW ? 0 : -1;
	if (rc == 0) {
		p->bp_ended = sqlite3_column_int(stmt, 0);
		p->bp_succeeded = sqlite3_column_int(stmt, 1);
		p->bp_running = sqlite3_column_int(stmt, 2);
		p->bp_last_end = sqlite3_column_int64(stmt, 3);
		p->bp_latency_sum = sqlite3_column_int64(stmt, 4);
	}
	sqlite3_finalize(stmt);
	return rc;
}

struct bench_result {
	int64_t br_wall_ms, br_queue_ms;
	int br_succeeded, br_ended, br_peak_running;
	long br_threads_before, br_threads_peak;
	int64_t br_latency_sum;
};

/* The RunTask calls of one phase, made on a thread of their own. */
struct bench_runner {
	bbb_client *rn_c;
	const int64_t *rn_tasks;
	int rn_n, rn_threads, rn_failed;
	int64_t rn_done_ms; /* wall time when the last RunTask answered */
};

static void *bench_runner_main(void *arg)
{
	struct bench_runner *rn = arg;

	rn->rn_failed = bench_run_all(rn->rn_c, rn->rn_tasks, rn->rn_n, rn->rn_threads);
	rn->rn_done_ms = bench_wall_ms();
	return NULL;
}

/* Starts RunTask for every task and watches, every 20 ms, the server's
 * threads and the runs' progress, until all n ended or timeout_ms passed.
 * 0 when every run succeeded. */
static int bench_phase(const struct harness *h, sqlite3 *db, bbb_client *c, int64_t project_id, const int64_t *tasks,
		       int n, int threads, int64_t timeout_ms, struct bench_result *res)
{
	struct bench_runner rn = {c, tasks, n, threads, 0, 0};
	struct bench_progress p = {0};
	pthread_t runner;
	int64_t t0, deadline;

	memset(res, 0, sizeof(*res));
	res->br_threads_before = res->br_threads_peak = bench_proc_field(h->h_pid, "Threads");
	t0 = bench_wall_ms();
	deadline = t0 + timeout_ms;
	pthread_create(&runner, NULL, bench_runner_main, &rn);
	while (bench_wall_ms() < deadline) {
		long threads = bench_proc_field(h->h_pid, "Threads");
		if (threads > res->br_threads_peak)
			res->br_threads_peak = threads;
		if (bench_progress(db, project_id, &p) == 0) {
			if (p.bp_running > res->br_peak_running)
				res->br_peak_running = p.bp_running;
			if (p.bp_ended >= n)
				break;
		}
		bench_sleep_ms(20);
	}
	pthread_join(runner, NULL);
	bench_progress(db, project_id, &p);
	res->br_wall_ms = p.bp_last_end - t0;
	res->br_queue_ms = rn.rn_done_ms - t0;
	res->br_succeeded = p.bp_succeeded;
	res->br_ended = p.bp_ended;
	res->br_latency_sum = p.bp_latency_sum;
	if (rn.rn_failed > 0)
		fprintf(stderr, "%d RunTask calls failed\n", rn.rn_failed);
	return p.bp_ended >= n && p.bp_succeeded == n && rn.rn_failed == 0 ? 0 : -1;
}

static int bench_in_flight(const struct bench_opts *o, const struct harness *h, sqlite3 *db, bbb_client *c,
			   const struct fake_llm *fake, int64_t project_id)
{
	int n_agents = (o->bo_runs + AGENT_MAX_RUNS - 1) / AGENT_MAX_RUNS;
	int64_t *agents = calloc((size_t)n_agents, sizeof(*agents)), *tasks = NULL;
	struct bench_result r;
	char mode[128];
	int rc = -1;

	for (int i = 0; agents != NULL && i < n_agents; i++) {
		char name[32];
		snprintf(name, sizeof(name), "llm-%d", i);
		if ((agents[i] = bench_create_agent(c, project_id, name, "anthropic")) == 0)
			goto done;
	}
	if (agents == NULL || (tasks = bench_create_tasks(c, project_id, agents, n_agents, o->bo_runs)) == NULL)
		goto done;
	snprintf(mode, sizeof(mode), "{\"status\": 200, \"delay_ms\": %d}", o->bo_delay_ms);
	if (fake_llm_post(fake, "/_reset", "{}", NULL) != 200 || fake_llm_post(fake, "/_mode", mode, NULL) != 200)
		goto done;
	rc = bench_phase(h, db, c, project_id, tasks, o->bo_runs, o->bo_threads, 120000, &r);
	printf("runtime_bench: %d runs in flight, the provider answers after %d ms (%d agents of %d)\n", o->bo_runs,
	       o->bo_delay_ms, n_agents, AGENT_MAX_RUNS);
	printf("  wall time          %lld ms (first RunTask to the last run's end; queuing them took %lld ms)\n",
	       (long long)r.br_wall_ms, (long long)r.br_queue_ms);
	printf("  runs               %d succeeded of %d ended; at most %d running at once\n", r.br_succeeded,
	       r.br_ended, r.br_peak_running);
	printf("  server threads     %ld before, %ld at peak\n", r.br_threads_before, r.br_threads_peak);
	printf("  server peak RSS    %ld KiB (VmHWM)\n", bench_proc_field(h->h_pid, "VmHWM"));
done:
	free(agents);
	free(tasks);
	return rc;
}

static int bench_echo(const struct bench_opts *o, const struct harness *h, sqlite3 *db, bbb_client *c)
{
	char root[PATH_MAX];
	int64_t project_id, agent, *tasks;
	struct bench_result r;
	int rc;

	harness_path(h, "workspace-echo", root, sizeof(root));
	mkdir(root, 0755);
	if ((project_id = bench_create_project(c, root)) == 0 ||
	    (agent = bench_create_agent(c, project_id, "echo", "echo")) == 0 ||
	    (tasks = bench_create_tasks(c, project_id, &agent, 1, o->bo_echo_runs)) == NULL)
		return -1;
	rc = bench_phase(h, db, c, project_id, tasks, o->bo_echo_runs, o->bo_threads, 300000, &r);
	printf("runtime_bench: %d echo runs, %d RunTask threads, durability %s\n", o->bo_echo_runs, o->bo_threads,
	       o->bo_durability);
	printf("  wall time          %lld ms: %.0f runs/s end to end\n", (long long)r.br_wall_ms,
	       r.br_wall_ms > 0 ? r.br_succeeded * 1000.0 / (double)r.br_wall_ms : 0.0);
	printf("  runs               %d succeeded of %d ended; mean queue-to-end latency %.1f ms\n", r.br_succeeded,
	       r.br_ended, r.br_ended > 0 ? (double)r.br_latency_sum / r.br_ended : 0.0);
	free(tasks);
	return rc;
}

static int bench_usage(void)
{
	fprintf(stderr, "usage: runtime_bench --server BIN [--runs N] [--delay-ms MS] [--echo-runs M] [--threads T]\n"
			"                     [--durability full|normal] [--fake fake_llm.py]\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct bench_opts o = {NULL, NULL, "full", 1000, 1000, 2000, 8};
	struct harness h = {0};
	struct fake_llm fake = {0};
	struct rlimit rl;
	char in_flight[32], root[PATH_MAX];
	const char *args[] = {"--durability", NULL, NULL};
	sqlite3 *db = NULL;
	bbb_client *c = NULL;
	int64_t project_id;
	bbb_status st;
	int rc = 1;

	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (v != NULL && strcmp(argv[i], "--server") == 0)
			o.bo_server = argv[++i];
		else if (v != NULL && strcmp(argv[i], "--fake") == 0)
			o.bo_fake = argv[++i];
		else if (v != NULL && strcmp(argv[i], "--durability") == 0)
			o.bo_durability = argv[++i];
		else if (v != NULL && strcmp(argv[i], "--runs") == 0)
			o.bo_runs = atoi(argv[++i]);
		else if (v != NULL && strcmp(argv[i], "--delay-ms") == 0)
			o.bo_delay_ms = atoi(argv[++i]);
		else if (v != NULL && strcmp(argv[i], "--echo-runs") == 0)
			o.bo_echo_runs = atoi(argv[++i]);
		else if (v != NULL && strcmp(argv[i], "--threads") == 0)
			o.bo_threads = atoi(argv[++i]);
		else
			return bench_usage();
	}
	if (o.bo_server == NULL || o.bo_runs < 1 || o.bo_delay_ms < 0 || o.bo_echo_runs < 0 || o.bo_threads < 1 ||
	    o.bo_threads > MAX_THREADS)
		return bench_usage();
	/* One socket per call in flight, in the server (a child: it inherits this). */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (fake_llm_start(&fake, o.bo_fake) != 0)
		return 1;
	/* The harness passes this environment on to the server. */
	snprintf(in_flight, sizeof(in_flight), "%d", o.bo_runs);
	setenv("ANTHROPIC_BASE_URL", fake.fl_base_url, 1);
	setenv("ANTHROPIC_API_KEY", "bench-key", 1);
	setenv("BEEBEEBRAIN_MAX_IN_FLIGHT", in_flight, 1);
	setenv("BEEBEEBRAIN_LLM_TIMEOUT_S", "120", 1);
	args[1] = o.bo_durability;
	if (harness_start(&h, o.bo_server, args) != 0)
		goto done;
	if ((c = harness_client(&h, 30000, &st)) == NULL) {
		fprintf(stderr, "client: %s %s\n", st.reason, st.message);
		goto done;
	}
	if (sqlite3_open_v2(h.h_db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		fprintf(stderr, "open %s: %s\n", h.h_db_path, sqlite3_errmsg(db));
		goto done;
	}
	sqlite3_busy_timeout(db, 5000);
	harness_path(&h, "workspace", root, sizeof(root));
	mkdir(root, 0755);
	project_id = bench_create_project(c, root);
	if (project_id == 0 || bench_in_flight(&o, &h, db, c, &fake, project_id) != 0)
		goto done;
	printf("\n");
	if (o.bo_echo_runs > 0 && bench_echo(&o, &h, db, c) != 0)
		goto done;
	rc = 0;
done:
	if (rc != 0 && h.h_pid != 0)
		harness_dump_log(&h);
	sqlite3_close(db);
	if (c != NULL)
		bbb_client_close(c);
	if (h.h_pid != 0 && harness_stop(&h) != 0) {
		fprintf(stderr, "the server did not exit cleanly\n");
		rc = 1;
	}
	harness_cleanup(&h);
	fake_llm_stop(&fake);
	return rc;
}
