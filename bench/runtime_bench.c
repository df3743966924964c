/*
 * runtime_bench: the runtime end to end (docs/runtime.md), on the real server.
 *
 * Two measurements, each on servers started with the test harness on a temp
 * database:
 *
 *   1. In flight: --runs N (1000) runs queued at once on the fake provider
 *      (tests/fake_llm/fake_llm.py as the anthropic endpoint), which answers
 *      every call after --delay-ms (1000). Printed: wall time from the first
 *      RunTask to the last run's end (ideal: the delay plus the time to queue
 *      them), the most runs seen `running` at once, the server's thread count
 *      (/proc/PID/status Threads) before and at its peak, and its peak
 *      resident memory (VmHWM). BEEBEEBRAIN_MAX_IN_FLIGHT is set to N; an
 *      agent may have at most 64 runs, so the runs are spread over
 *      ceil(N / 64) agents.
 *   2. Echo: --echo-runs M (2000) runs with the in-process echo provider, for
 *      each --durability (full and normal), --repeat R (3) passes, each on a
 *      fresh server and database so that passes do not inherit each other's
 *      rows. Per pass: runs per second end to end (first RunTask to the last
 *      run's end), the mean queue-to-end latency, and per run: write
 *      transactions (beebeebrain_store_commits_total of the server's
 *      /metrics, after minus before), writes (beebeebrain_store_writes_total;
 *      writes per commit shows how much group commit groups), fsyncs, events
 *      published (beebeebrain_events_published_total), the server's CPU
 *      time (process_cpu_seconds_total) and that of its busiest thread
 *      (/proc/PID/task: the store's writer). Then the median of the passes.
 *
 * The output ends with `RESULT <key> <value>` lines (scripts/bench.sh):
 * runtime.inflight.{wall_ms, threads_before, threads_peak, rss_peak_kib} and
 * runtime.echo[.full|.normal].{runs_per_s, runtask_calls_per_s,
 * transactions_per_run, fsyncs_per_run, writes_per_run, events_per_run,
 * cpu_us_per_run, writer_cpu_us_per_run}, the durability in the key only
 * when both are measured.
 *
 * fsyncs are counted, not inferred: the echo servers run with
 * bench/preload/fsync_count.c preloaded, which counts every fsync() and
 * fdatasync() of the process in a file the benchmark reads before and
 * after. With durability full a commit in WAL mode syncs the WAL once, and a
 * checkpoint (every 1000 WAL pages) syncs the WAL and the database file;
 * with durability normal only checkpoints sync.
 *
 * Tasks are created off the clock; the RunTask calls are made by --threads T
 * (8) threads over one client. Ends are read from the database file
 * (task_runs.ended_at, read-only), so the figures are the server's own.
 *
 * Usage: runtime_bench --server build/beebeebrain [--runs N] [--delay-ms MS]
 *            [--echo-runs M] [--threads T] [--durability full|normal|both]
 *            [--repeat R] [--workers W] [--fake PATH/fake_llm.py]
 * --runs 0 skips the in-flight measurement, --echo-runs 0 the echo one.
 * --workers is passed to the servers: each RPC worker waits for the commit
 * of the write it runs, so the workers bound how many RunTask writes one
 * commit can carry (transactions per run).
 * Needs /usr/bin/python3. Never run by the tests.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <beebeebrain/client.h>

#include "../tests/fake_llm/fake_llm_proc.c"
#include "harness.h"

#define AGENT_MAX_RUNS 64
#define MAX_THREADS 64
#define MAX_REPEAT 15

struct bench_opts {
	const char *bo_server;
	const char *bo_fake;
	const char *bo_durability; /* full, normal or both */
	const char *bo_workers; /* the server's --workers, NULL: its default */
	int bo_runs, bo_delay_ms, bo_echo_runs, bo_threads, bo_repeat;
};

/* The figures printed last, as `RESULT <key> <value>` lines (the convention
 * of scripts/bench.sh). */
#define MAX_RESULTS 32
static struct bench_result_line {
	char rl_key[64];
	double rl_value;
} bench_results[MAX_RESULTS];
static int bench_n_results;

static void bench_result(const char *prefix, const char *metric, double value)
{
	if (bench_n_results == MAX_RESULTS)
		return;
	snprintf(bench_results[bench_n_results].rl_key, sizeof(bench_results[0].rl_key), "%s.%s", prefix, metric);
	bench_results[bench_n_results++].rl_value = value;
}

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

/* Starts RunTask for every task and watches, every poll_ms, the server's
 * threads and the runs' progress, until all n ended or timeout_ms passed.
 * The watching reads the database, which costs the server's machine CPU:
 * the echo passes, whose figures come from the rows anyway, look less often.
 * 0 when every run succeeded. */
static int bench_phase(const struct harness *h, sqlite3 *db, bbb_client *c, int64_t project_id, const int64_t *tasks,
		       int n, int threads, int poll_ms, int64_t timeout_ms, struct bench_result *res)
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
		bench_sleep_ms(poll_ms);
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
	long rss;
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
	rc = bench_phase(h, db, c, project_id, tasks, o->bo_runs, o->bo_threads, 20, 120000, &r);
	printf("runtime_bench: %d runs in flight, the provider answers after %d ms (%d agents of %d)\n", o->bo_runs,
	       o->bo_delay_ms, n_agents, AGENT_MAX_RUNS);
	printf("  wall time          %lld ms (first RunTask to the last run's end; queuing them took %lld ms)\n",
	       (long long)r.br_wall_ms, (long long)r.br_queue_ms);
	printf("  runs               %d succeeded of %d ended; at most %d running at once\n", r.br_succeeded,
	       r.br_ended, r.br_peak_running);
	printf("  server threads     %ld before, %ld at peak\n", r.br_threads_before, r.br_threads_peak);
	rss = bench_proc_field(h->h_pid, "VmHWM");
	printf("  server peak RSS    %ld KiB (VmHWM)\n", rss);
	bench_result("runtime.inflight", "wall_ms", (double)r.br_wall_ms);
	bench_result("runtime.inflight", "threads_before", (double)r.br_threads_before);
	bench_result("runtime.inflight", "threads_peak", (double)r.br_threads_peak);
	bench_result("runtime.inflight", "rss_peak_kib", (double)rss);
done:
	free(agents);
	free(tasks);
	return rc;
}

/* ---- the server's own counters ----------------------------------------- */

/* What a pass reads from the server before and after: /metrics, and the
 * fsync counter of the preload library. */
#define BENCH_MAX_TIDS 256

struct bench_counters {
	double bc_commits, bc_writes, bc_events, bc_cpu_s;
	uint64_t bc_fsyncs;
	/* CPU ticks of each server thread (/proc/PID/task/TID/stat) */
	int bc_n_tids;
	pid_t bc_tid[BENCH_MAX_TIDS];
	uint64_t bc_ticks[BENCH_MAX_TIDS];
};

/* The shared counter of bench/preload/fsync_count.c: a file of 8 bytes. */
struct bench_fsyncs {
	char bf_path[PATH_MAX]; /* "" when not counting */
	_Atomic uint64_t *bf_counter;
};

static int bench_fsyncs_open(struct bench_fsyncs *f, const char *dir)
{
	int fd;
	void *p;

	snprintf(f->bf_path, sizeof(f->bf_path), "%s/fsync-count", dir);
	fd = open(f->bf_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, sizeof(uint64_t)) != 0) {
		if (fd >= 0)
			close(fd);
		f->bf_path[0] = '\0';
		return -1;
	}
	p = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		f->bf_path[0] = '\0';
		return -1;
	}
	f->bf_counter = p;
	return 0;
}

static void bench_fsyncs_close(struct bench_fsyncs *f)
{
	if (f->bf_counter != NULL)
		munmap((void *)f->bf_counter, sizeof(uint64_t));
	if (f->bf_path[0] != '\0')
		unlink(f->bf_path);
}

/* GET /metrics from the server's HTTP listener (http://127.0.0.1:PORT)
 * into buf, NUL-terminated. 0 on a complete answer. */
static int bench_get_metrics(const struct harness *h, char *buf, size_t n)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)h->h_http_port)};
	const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
	size_t used = 0;
	ssize_t got;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while (used + 1 < n && (got = read(fd, buf + used, n - 1 - used)) > 0)
		used += (size_t)got;
	close(fd);
	buf[used] = '\0';
	return used + 1 < n && strncmp(buf, "HTTP/1.", 7) == 0 ? 0 : -1;
}

/* The value of the unlabelled sample `name` in a metrics text, or -1. */
static double bench_metric(const char *text, const char *name)
{
	size_t n = strlen(name);

	for (const char *line = text; line != NULL && *line != '\0';) {
		if (strncmp(line, name, n) == 0 && line[n] == ' ')
			return strtod(line + n + 1, NULL);
		line = strchr(line, '\n');
		if (line != NULL)
			line++;
	}
	return -1;
}

/* User plus system CPU ticks of every thread of pid. */
static void bench_thread_ticks(pid_t pid, struct bench_counters *bc)
{
	char path[64], line[512];
	struct dirent *e;
	DIR *d;

	bc->bc_n_tids = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((d = opendir(path)) == NULL)
		return;
	while ((e = readdir(d)) != NULL && bc->bc_n_tids < BENCH_MAX_TIDS) {
		unsigned long long ut, stt;
		const char *p;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/stat", (int)pid, e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		/* After "(comm)": state, then fields 4..13; utime and stime are 14 and 15. */
		if (fgets(line, sizeof(line), f) != NULL && (p = strrchr(line, ')')) != NULL &&
		    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &stt) == 2) {
			bc->bc_tid[bc->bc_n_tids] = (pid_t)atoi(e->d_name);
			bc->bc_ticks[bc->bc_n_tids++] = ut + stt;
		}
		fclose(f);
	}
	closedir(d);
}

/* The CPU ms of the server thread that used the most between before and
 * after: the thread that bounds the rate when it is busy all the time. */
static double bench_top_thread_ms(const struct bench_counters *before, const struct bench_counters *after)
{
	uint64_t top = 0;

	for (int i = 0; i < after->bc_n_tids; i++) {
		uint64_t was = 0;

		for (int j = 0; j < before->bc_n_tids; j++)
			if (before->bc_tid[j] == after->bc_tid[i])
				was = before->bc_ticks[j];
		if (after->bc_ticks[i] - was > top)
			top = after->bc_ticks[i] - was;
	}
	return (double)top * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

static int bench_counters_read(const struct harness *h, const struct bench_fsyncs *f, struct bench_counters *bc)
{
	static char text[1 << 20];

	if (bench_get_metrics(h, text, sizeof(text)) != 0) {
		fprintf(stderr, "cannot read the server's /metrics\n");
		return -1;
	}
	bc->bc_commits = bench_metric(text, "beebeebrain_store_commits_total");
	bc->bc_writes = bench_metric(text, "beebeebrain_store_writes_total");
	bc->bc_events = bench_metric(text, "beebeebrain_events_published_total");
	bc->bc_cpu_s = bench_metric(text, "process_cpu_seconds_total");
	bc->bc_fsyncs = f->bf_counter != NULL ? atomic_load(f->bf_counter) : 0;
	bench_thread_ticks(h->h_pid, bc);
	return bc->bc_commits < 0 || bc->bc_writes < 0 || bc->bc_cpu_s < 0 ? -1 : 0;
}

/* ---- one server --------------------------------------------------------- */

/* A server of the harness, a client on it and the database file read-only. */
struct bench_server {
	struct harness bs_h;
	bbb_client *bs_c;
	sqlite3 *bs_db;
};

static int bench_server_start(struct bench_server *s, const struct bench_opts *o, const char *durability)
{
	const char *args[] = {"--durability", durability, o->bo_workers != NULL ? "--workers" : NULL, o->bo_workers,
			      NULL};
	bbb_status st;

	memset(s, 0, sizeof(*s));
	if (harness_start(&s->bs_h, o->bo_server, args) != 0)
		return -1;
	if ((s->bs_c = harness_client(&s->bs_h, 30000, &st)) == NULL) {
		fprintf(stderr, "client: %s %s\n", st.reason, st.message);
		return -1;
	}
	if (sqlite3_open_v2(s->bs_h.h_db_path, &s->bs_db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		fprintf(stderr, "open %s: %s\n", s->bs_h.h_db_path, sqlite3_errmsg(s->bs_db));
		return -1;
	}
	sqlite3_busy_timeout(s->bs_db, 5000);
	return 0;
}

/* Stops the server; 0 when it exited cleanly. Its log is printed when
 * something failed (failed != 0) or it did not exit cleanly. */
static int bench_server_stop(struct bench_server *s, int failed)
{
	int rc = 0;

	sqlite3_close(s->bs_db);
	s->bs_db = NULL;
	if (s->bs_c != NULL)
		bbb_client_close(s->bs_c);
	s->bs_c = NULL;
	if (s->bs_h.h_pid != 0 && harness_stop(&s->bs_h) != 0) {
		fprintf(stderr, "the server did not exit cleanly\n");
		rc = -1;
	}
	if ((failed || rc != 0) && s->bs_h.h_dir[0] != '\0')
		harness_dump_log(&s->bs_h);
	harness_cleanup(&s->bs_h);
	return rc;
}

/* ---- the echo passes ---------------------------------------------------- */

/* What one echo pass measured. */
struct bench_echo_pass {
	double ep_runs_per_s, ep_latency_ms, ep_queue_per_s;
	double ep_commits, ep_writes, ep_fsyncs, ep_events, ep_cpu_ms, ep_top_ms; /* per run */
};

/* One pass on a fresh server: tasks off the clock, then every RunTask. */
static int bench_echo_pass(const struct bench_opts *o, const char *durability, struct bench_fsyncs *f,
			   struct bench_echo_pass *ep)
{
	struct bench_server s;
	struct bench_counters before, after;
	struct bench_result r;
	char root[PATH_MAX];
	int64_t project_id, agent, *tasks = NULL;
	int n = o->bo_echo_runs, rc = -1;

	if (f->bf_path[0] != '\0') {
		setenv("LD_PRELOAD", BENCH_FSYNC_LIB, 1);
		setenv("BBB_FSYNC_COUNT_FILE", f->bf_path, 1);
	}
	rc = bench_server_start(&s, o, durability);
	unsetenv("LD_PRELOAD");
	unsetenv("BBB_FSYNC_COUNT_FILE");
	if (rc != 0)
		goto done;
	rc = -1;
	harness_path(&s.bs_h, "workspace-echo", root, sizeof(root));
	mkdir(root, 0755);
	if ((project_id = bench_create_project(s.bs_c, root)) == 0 ||
	    (agent = bench_create_agent(s.bs_c, project_id, "echo", "echo")) == 0 ||
	    (tasks = bench_create_tasks(s.bs_c, project_id, &agent, 1, n)) == NULL)
		goto done;
	/* The writer settles (the last CreateTask's commit is counted before). */
	bench_sleep_ms(200);
	if (bench_counters_read(&s.bs_h, f, &before) != 0)
		goto done;
	fprintf(stderr, "runtime_bench: echo pass on server pid %d\n", (int)s.bs_h.h_pid);
	if (bench_phase(&s.bs_h, s.bs_db, s.bs_c, project_id, tasks, n, o->bo_threads, 100, 300000, &r) != 0 ||
	    bench_counters_read(&s.bs_h, f, &after) != 0)
		goto done;
	ep->ep_runs_per_s = r.br_wall_ms > 0 ? r.br_succeeded * 1000.0 / (double)r.br_wall_ms : 0.0;
	ep->ep_queue_per_s = r.br_queue_ms > 0 ? n * 1000.0 / (double)r.br_queue_ms : 0.0;
	ep->ep_latency_ms = r.br_ended > 0 ? (double)r.br_latency_sum / r.br_ended : 0.0;
	ep->ep_commits = (after.bc_commits - before.bc_commits) / n;
	ep->ep_writes = (after.bc_writes - before.bc_writes) / n;
	ep->ep_fsyncs = f->bf_counter != NULL ? (double)(after.bc_fsyncs - before.bc_fsyncs) / n : -1;
	ep->ep_events = (after.bc_events - before.bc_events) / n;
	ep->ep_cpu_ms = (after.bc_cpu_s - before.bc_cpu_s) * 1000.0 / n;
	ep->ep_top_ms = bench_top_thread_ms(&before, &after) / n;
	rc = 0;
done:
	free(tasks);
	if (bench_server_stop(&s, rc != 0) != 0)
		rc = -1;
	return rc;
}

static int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of field `off` (a double) over n passes. */
static double bench_median(const struct bench_echo_pass *p, int n, size_t off)
{
	double v[MAX_REPEAT];

	for (int i = 0; i < n; i++)
		v[i] = *(const double *)((const char *)&p[i] + off);
	qsort(v, (size_t)n, sizeof(v[0]), bench_cmp_double);
	return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void bench_echo_print(const char *label, const struct bench_echo_pass *p)
{
	printf("  %-8s %7.0f %9.0f %10.1f  %12.2f %7.2f %7.2f %7.2f %8.3f %8.3f\n", label, p->ep_runs_per_s,
	       p->ep_queue_per_s, p->ep_latency_ms, p->ep_commits, p->ep_fsyncs, p->ep_writes, p->ep_events,
	       p->ep_cpu_ms, p->ep_top_ms);
}

/* The passes of one durability and their median; its RESULT keys carry the
 * durability when the invocation measures both. */
static int bench_echo(const struct bench_opts *o, const char *durability, struct bench_fsyncs *f)
{
	struct bench_echo_pass passes[MAX_REPEAT], med;
	char label[32], key[32];

	printf("runtime_bench: %d echo runs, %d RunTask threads, durability %s, %d pass(es) on fresh servers%s%s\n",
	       o->bo_echo_runs, o->bo_threads, durability, o->bo_repeat, o->bo_workers != NULL ? ", --workers " : "",
	       o->bo_workers != NULL ? o->bo_workers : "");
	printf("                                          ------------------------ per run -------------------------\n"
	       "            runs/s RunTask/s latency ms  transactions  fsyncs  writes  events   CPU ms  busiest\n");
	fflush(stdout);
	for (int i = 0; i < o->bo_repeat; i++) {
		if (bench_echo_pass(o, durability, f, &passes[i]) != 0)
			return -1;
		snprintf(label, sizeof(label), "pass %d", i + 1);
		bench_echo_print(label, &passes[i]);
		fflush(stdout);
	}
#define MED(field) bench_median(passes, o->bo_repeat, offsetof(struct bench_echo_pass, field))
	med = (struct bench_echo_pass){MED(ep_runs_per_s), MED(ep_latency_ms), MED(ep_queue_per_s),
				       MED(ep_commits),    MED(ep_writes),     MED(ep_fsyncs),
				       MED(ep_events),     MED(ep_cpu_ms),     MED(ep_top_ms)};
#undef MED
	bench_echo_print("median", &med);
	snprintf(key, sizeof(key), strcmp(o->bo_durability, "both") == 0 ? "runtime.echo.%s" : "runtime.echo",
		 durability);
	bench_result(key, "runs_per_s", med.ep_runs_per_s);
	bench_result(key, "runtask_calls_per_s", med.ep_queue_per_s);
	bench_result(key, "transactions_per_run", med.ep_commits);
	bench_result(key, "fsyncs_per_run", med.ep_fsyncs);
	bench_result(key, "writes_per_run", med.ep_writes);
	bench_result(key, "events_per_run", med.ep_events);
	bench_result(key, "cpu_us_per_run", med.ep_cpu_ms * 1000.0);
	bench_result(key, "writer_cpu_us_per_run", med.ep_top_ms * 1000.0);
	printf("  runs/s: first RunTask to the last run's end; RunTask/s: the calls alone; latency: queued to ended,\n"
	       "  mean. Per run: transactions committed by the writer; fsyncs of the WAL and the database file\n"
	       "  %s; writes: store_write calls grouped into those transactions; events\n"
	       "  published; CPU ms of the server, all threads, and of its busiest thread (the writer).\n",
	       f->bf_counter != NULL ? "(counted by bench/preload/fsync_count.c)" : "(not counted: -1)");
	return 0;
}

/* ---- in flight ---------------------------------------------------------- */

static int bench_in_flight_server(const struct bench_opts *o)
{
	struct bench_server s;
	struct fake_llm fake = {0};
	char in_flight[32], root[PATH_MAX];
	int64_t project_id;
	int rc = -1;

	if (fake_llm_start(&fake, o->bo_fake) != 0)
		return -1;
	/* The harness passes this environment on to the server. */
	snprintf(in_flight, sizeof(in_flight), "%d", o->bo_runs);
	setenv("ANTHROPIC_BASE_URL", fake.fl_base_url, 1);
	setenv("ANTHROPIC_API_KEY", "bench-key", 1);
	setenv("BEEBEEBRAIN_MAX_IN_FLIGHT", in_flight, 1);
	setenv("BEEBEEBRAIN_LLM_TIMEOUT_S", "120", 1);
	if (bench_server_start(&s, o, "full") == 0) {
		harness_path(&s.bs_h, "workspace", root, sizeof(root));
		mkdir(root, 0755);
		project_id = bench_create_project(s.bs_c, root);
		if (project_id != 0 && bench_in_flight(o, &s.bs_h, s.bs_db, s.bs_c, &fake, project_id) == 0)
			rc = 0;
	}
	if (bench_server_stop(&s, rc != 0) != 0)
		rc = -1;
	unsetenv("ANTHROPIC_BASE_URL");
	unsetenv("ANTHROPIC_API_KEY");
	unsetenv("BEEBEEBRAIN_MAX_IN_FLIGHT");
	unsetenv("BEEBEEBRAIN_LLM_TIMEOUT_S");
	fake_llm_stop(&fake);
	return rc;
}

static int bench_usage(void)
{
	fprintf(stderr, "usage: runtime_bench --server BIN [--runs N] [--delay-ms MS] [--echo-runs M] [--threads T]\n"
			"                     [--durability full|normal|both] [--repeat R] [--workers W]\n"
			"                     [--fake fake_llm.py]\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct bench_opts o = {NULL, NULL, "both", NULL, 1000, 1000, 2000, 8, 3};
	struct bench_fsyncs f = {"", NULL};
	struct rlimit rl;
	char tmp[] = "/tmp/runtime_bench.XXXXXX";
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
		else if (v != NULL && strcmp(argv[i], "--repeat") == 0)
			o.bo_repeat = atoi(argv[++i]);
		else if (v != NULL && strcmp(argv[i], "--workers") == 0)
			o.bo_workers = argv[++i];
		else
			return bench_usage();
	}
	if (o.bo_server == NULL || o.bo_runs < 0 || o.bo_delay_ms < 0 || o.bo_echo_runs < 0 || o.bo_threads < 1 ||
	    o.bo_threads > MAX_THREADS || o.bo_repeat < 1 || o.bo_repeat > MAX_REPEAT ||
	    (strcmp(o.bo_durability, "full") != 0 && strcmp(o.bo_durability, "normal") != 0 &&
	     strcmp(o.bo_durability, "both") != 0))
		return bench_usage();
	/* One socket per call in flight, in the server (a child: it inherits this). */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (mkdtemp(tmp) == NULL || bench_fsyncs_open(&f, tmp) != 0)
		fprintf(stderr, "runtime_bench: fsyncs will not be counted\n");
	if (o.bo_runs > 0) {
		if (bench_in_flight_server(&o) != 0)
			goto done;
		printf("\n");
	}
	if (o.bo_echo_runs > 0 && strcmp(o.bo_durability, "normal") != 0 && bench_echo(&o, "full", &f) != 0)
		goto done;
	if (o.bo_echo_runs > 0 && strcmp(o.bo_durability, "full") != 0 && bench_echo(&o, "normal", &f) != 0)
		goto done;
	for (int i = 0; i < bench_n_results; i++)
		printf("RESULT %s %.6g\n", bench_results[i].rl_key, bench_results[i].rl_value);
	rc = 0;
done:
	bench_fsyncs_close(&f);
	rmdir(tmp);
	return rc;
}
