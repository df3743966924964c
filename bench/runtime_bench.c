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
 * PostgreSQL: --pg CONNINFO (a libpq keyword=value string without dbname;
 * "" takes everything from the PG* variables) runs the echo passes on
 * PostgreSQL instead, with --servers LIST (1,2,3) servers on one fresh
 * database per pass: the tasks are created through the first server, the
 * RunTask threads spread over all of them (thread i calls server i mod S),
 * and each server's dispatcher runs what it claims. Per run it adds the
 * database round trips (beebeebrain_store_round_trips_total, summed over the
 * servers; their idle work during the pass, heartbeats and lease renewals,
 * included). RESULT keys runtime.echo.pg.s<S>[.durability].*, with
 * round_trips_per_run. No fsync is counted there: the database's own are
 * PostgreSQL's.
 *
 * fsyncs are counted, not inferred: the echo servers run with
 * bench/preload/fsync_count.c preloaded, which counts every fsync() and
 * fdatasync() of the process in a file the benchmark reads before and
 * after. With durability full a commit in WAL mode syncs the WAL once, and a
 * checkpoint (every 1000 WAL pages) syncs the WAL and the database file;
 * with durability normal only checkpoints sync.
 *
 * Tasks are created off the clock; the RunTask calls are made by --threads T
 * (8) threads over one client per server. Ends are read from the database
 * (task_runs.ended_at, on a read-only connection), so the figures are the
 * server's own.
 *
 * Usage: runtime_bench --server build/beebeebrain [--runs N] [--delay-ms MS]
 *            [--echo-runs M] [--threads T] [--durability full|normal|both]
 *            [--repeat R] [--workers W] [--fake PATH/fake_llm.py]
 *            [--pg CONNINFO [--servers 1,2,3]]
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
#include "store/db.h"
#include "store/store.h"

#define AGENT_MAX_RUNS 64
#define MAX_THREADS 64
#define MAX_REPEAT 15
#define MAX_SERVERS 8

struct bench_opts {
	const char *bo_server;
	const char *bo_fake;
	const char *bo_durability; /* full, normal or both */
	const char *bo_workers; /* the server's --workers, NULL: its default */
	const char *bo_pg; /* --pg: the echo passes on PostgreSQL; NULL: SQLite */
	int bo_runs, bo_delay_ms, bo_echo_runs, bo_threads, bo_repeat;
	int bo_servers[MAX_SERVERS], bo_n_servers; /* --servers, with --pg */
};

/* The figures printed last, as `RESULT <key> <value>` lines (the convention
 * of scripts/bench.sh). */
#define MAX_RESULTS 160 /* every key of 8 server counts, both durabilities */
static struct bench_result_line {
	char rl_key[96];
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

/* One RunTask thread: runs the tasks bt_tasks[i] for i = bt_first, +step ...
 * through bt_c. */
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

/* RunTask for every task, from `threads` threads, thread i through
 * clients[i % n_clients]. Returns the failures. */
static int bench_run_all(bbb_client *const *clients, int n_clients, const int64_t *tasks, int n, int threads)
{
	pthread_t tid[MAX_THREADS];
	struct bench_thread t[MAX_THREADS];
	int failed = 0;

	for (int i = 0; i < threads; i++) {
		t[i] = (struct bench_thread){clients[i % n_clients], tasks, n, i, threads, 0};
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

/* Where the runs of the given project stand, from the database (SQL both
 * engines run alike). */
static int bench_progress(struct db *db, int64_t project_id, struct bench_progress *p)
{
	struct db_stmt *stmt;
	bbb_status st;
	int rc;

	if (store_prepare(
		    db,
		    "SELECT coalesce(sum(f), 0), coalesce(sum(CASE WHEN r.run_status = 'succeeded' THEN 1 ELSE 0 "
		    "END), 0), coalesce(sum(CASE WHEN r.run_status = 'running' THEN 1 ELSE 0 END), 0), "
		    "coalesce(max(f * r.ended_at), 0), coalesce(sum(f * (r.ended_at - r.created_at)), 0) FROM "
		    "(SELECT *, CASE WHEN run_status IN ('succeeded', 'failed', 'cancelled') THEN 1 ELSE 0 END AS f "
		    "FROM task_runs) r JOIN tasks t ON t.id = r.task_id WHERE t.project_id = ?",
		    &stmt, &st) != 0)
		return -1;
	db_bind_i64(stmt, 1, project_id);
	rc = db_step(stmt) == DB_ROW ? 0 : -1;
	if (rc == 0) {
		p->bp_ended = db_col_int(stmt, 0);
		p->bp_succeeded = db_col_int(stmt, 1);
		p->bp_running = db_col_int(stmt, 2);
		p->bp_last_end = db_col_i64(stmt, 3);
		p->bp_latency_sum = db_col_i64(stmt, 4);
	}
	store_release(stmt);
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
	bbb_client *const *rn_clients;
	int rn_n_clients;
	const int64_t *rn_tasks;
	int rn_n, rn_threads, rn_failed;
	int64_t rn_done_ms; /* wall time when the last RunTask answered */
};

static void *bench_runner_main(void *arg)
{
	struct bench_runner *rn = arg;

	rn->rn_failed = bench_run_all(rn->rn_clients, rn->rn_n_clients, rn->rn_tasks, rn->rn_n, rn->rn_threads);
	rn->rn_done_ms = bench_wall_ms();
	return NULL;
}

/* Starts RunTask for every task and watches, every poll_ms, the server's
 * threads and the runs' progress, until all n ended or timeout_ms passed.
 * The watching reads the database, which costs the server's machine CPU:
 * the echo passes, whose figures come from the rows anyway, look less often.
 * The calls go through clients[0..n_clients), h is the server watched.
 * 0 when every run succeeded. */
static int bench_phase(const struct harness *h, struct db *db, bbb_client *const *clients, int n_clients,
		       int64_t project_id, const int64_t *tasks, int n, int threads, int poll_ms, int64_t timeout_ms,
		       struct bench_result *res)
{
	struct bench_runner rn = {clients, n_clients, tasks, n, threads, 0, 0};
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

static int bench_in_flight(const struct bench_opts *o, const struct harness *h, struct db *db, bbb_client *c,
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
	rc = bench_phase(h, db, &c, 1, project_id, tasks, o->bo_runs, o->bo_threads, 20, 120000, &r);
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
	double bc_trips; /* PostgreSQL's round trips; -1 on SQLite */
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
	bc->bc_trips = bench_metric(text, "beebeebrain_store_round_trips_total");
	bc->bc_fsyncs = f->bf_counter != NULL ? atomic_load(f->bf_counter) : 0;
	bench_thread_ticks(h->h_pid, bc);
	return bc->bc_commits < 0 || bc->bc_writes < 0 || bc->bc_cpu_s < 0 ? -1 : 0;
}

/* ---- one server --------------------------------------------------------- */

/* A server of the harness, a client on it and, for the first server of a
 * pass, a read-only connection to its database. */
struct bench_server {
	struct harness bs_h;
	bbb_client *bs_c;
	struct db *bs_db;
};

/* Starts a server on db (NULL: a SQLite file of its own); `reader`: open
 * bs_db too. */
static int bench_server_start(struct bench_server *s, const struct bench_opts *o, const char *durability,
			      const char *db, int reader)
{
	const char *args[] = {"--durability", durability, o->bo_workers != NULL ? "--workers" : NULL, o->bo_workers,
			      NULL};
	bbb_status st;

	memset(s, 0, sizeof(*s));
	if (harness_start_db(&s->bs_h, o->bo_server, db, args) != 0)
		return -1;
	if ((s->bs_c = harness_client(&s->bs_h, 30000, &st)) == NULL) {
		fprintf(stderr, "client: %s %s\n", st.reason, st.message);
		return -1;
	}
	if (reader && store_conn_open(s->bs_h.h_db_path, 1, 1, 5000, &s->bs_db, &st) != 0) {
		fprintf(stderr, "open the database: %s %s\n", st.reason, st.message);
		return -1;
	}
	return 0;
}

/* Stops the server; 0 when it exited cleanly. Its log is printed when
 * something failed (failed != 0) or it did not exit cleanly. */
static int bench_server_stop(struct bench_server *s, int failed)
{
	int rc = 0;

	store_conn_close(s->bs_db);
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

/* ---- a fresh PostgreSQL database per pass -------------------------------- */

/* Runs sql on the --pg connection's default database; 0 or -1 (printed). */
static int bench_pg_admin(const struct bench_opts *o, const char *sql)
{
	struct db *db;
	bbb_status st;
	int rc = -1;

	if (store_pg_open(o->bo_pg, &db, &st) != 0) {
		fprintf(stderr, "runtime_bench: %s\n", st.message);
		return -1;
	}
	if (db_exec(db, sql) == DB_OK)
		rc = 0;
	else
		fprintf(stderr, "runtime_bench: %s: %s\n", sql, db_errmsg(db));
	store_conn_close(db);
	return rc;
}

/* ---- the echo passes ---------------------------------------------------- */

/* What one echo pass measured. */
struct bench_echo_pass {
	double ep_runs_per_s, ep_latency_ms, ep_queue_per_s;
	double ep_commits, ep_writes, ep_fsyncs, ep_events, ep_cpu_ms, ep_top_ms, ep_trips; /* per run */
};

/* The per-run figures of a pass from every server's counters before and
 * after: sums over the servers, but events (each server publishes every
 * event, whoever committed it) and the busiest thread: the most of any. */
static void bench_echo_counts(const struct bench_counters *before, const struct bench_counters *after, int n_servers,
			      int n, struct bench_echo_pass *ep)
{
	double top = 0, events = 0;

	ep->ep_trips = 0;
	for (int i = 0; i < n_servers; i++) {
		double t = bench_top_thread_ms(&before[i], &after[i]);
		double ev = (after[i].bc_events - before[i].bc_events) / n;

		ep->ep_commits += (after[i].bc_commits - before[i].bc_commits) / n;
		ep->ep_writes += (after[i].bc_writes - before[i].bc_writes) / n;
		ep->ep_cpu_ms += (after[i].bc_cpu_s - before[i].bc_cpu_s) * 1000.0 / n;
		ep->ep_trips = after[i].bc_trips < 0 || ep->ep_trips < 0
				       ? -1
				       : ep->ep_trips + (after[i].bc_trips - before[i].bc_trips) / n;
		top = t > top ? t : top;
		events = ev > events ? ev : events;
	}
	ep->ep_events = events;
	ep->ep_top_ms = top / n;
}

/* One pass on fresh servers and a fresh database: tasks off the clock (on
 * the first server), then every RunTask, spread over the n_servers. */
static int bench_echo_pass(const struct bench_opts *o, const char *durability, struct bench_fsyncs *f, int n_servers,
			   struct bench_echo_pass *ep)
{
	static int pass_no;
	struct bench_server s[MAX_SERVERS];
	struct bench_counters before[MAX_SERVERS], after[MAX_SERVERS];
	bbb_client *clients[MAX_SERVERS];
	struct bench_result r;
	char root[PATH_MAX], dbname[64], sql[128], target[1024];
	const char *db = NULL;
	int64_t project_id, agent, *tasks = NULL;
	int n = o->bo_echo_runs, rc = -1, started = 0;

	memset(ep, 0, sizeof(*ep));
	if (o->bo_pg != NULL) {
		snprintf(dbname, sizeof(dbname), "bbb_bench_%d_%d", (int)getpid(), ++pass_no);
		snprintf(sql, sizeof(sql), "CREATE DATABASE %s", dbname);
		if (bench_pg_admin(o, sql) != 0)
			return -1;
		snprintf(target, sizeof(target), "%s%sdbname=%s", o->bo_pg, o->bo_pg[0] != '\0' ? " " : "", dbname);
		db = target;
	} else if (f->bf_path[0] != '\0') {
		setenv("LD_PRELOAD", BENCH_FSYNC_LIB, 1);
		setenv("BBB_FSYNC_COUNT_FILE", f->bf_path, 1);
	}
	for (; started < n_servers; started++) {
		if (bench_server_start(&s[started], o, durability, db, started == 0) != 0) {
			started++;
			goto done;
		}
		clients[started] = s[started].bs_c;
	}
	unsetenv("LD_PRELOAD");
	unsetenv("BBB_FSYNC_COUNT_FILE");
	harness_path(&s[0].bs_h, "workspace-echo", root, sizeof(root));
	mkdir(root, 0755);
	if ((project_id = bench_create_project(s[0].bs_c, root)) == 0 ||
	    (agent = bench_create_agent(s[0].bs_c, project_id, "echo", "echo")) == 0 ||
	    (tasks = bench_create_tasks(s[0].bs_c, project_id, &agent, 1, n)) == NULL)
		goto done;
	/* The writer settles (the last CreateTask's commit is counted before). */
	bench_sleep_ms(200);
	for (int i = 0; i < n_servers; i++)
		if (bench_counters_read(&s[i].bs_h, f, &before[i]) != 0)
			goto done;
	fprintf(stderr, "runtime_bench: echo pass on server pid %d%s\n", (int)s[0].bs_h.h_pid,
		n_servers > 1 ? " and others" : "");
	if (bench_phase(&s[0].bs_h, s[0].bs_db, clients, n_servers, project_id, tasks, n, o->bo_threads, 100, 300000,
			&r) != 0)
		goto done;
	for (int i = 0; i < n_servers; i++)
		if (bench_counters_read(&s[i].bs_h, f, &after[i]) != 0)
			goto done;
	ep->ep_runs_per_s = r.br_wall_ms > 0 ? r.br_succeeded * 1000.0 / (double)r.br_wall_ms : 0.0;
	ep->ep_queue_per_s = r.br_queue_ms > 0 ? n * 1000.0 / (double)r.br_queue_ms : 0.0;
	ep->ep_latency_ms = r.br_ended > 0 ? (double)r.br_latency_sum / r.br_ended : 0.0;
	ep->ep_fsyncs =
		f->bf_counter != NULL && db == NULL ? (double)(after[0].bc_fsyncs - before[0].bc_fsyncs) / n : -1;
	bench_echo_counts(before, after, n_servers, n, ep);
	rc = 0;
done:
	unsetenv("LD_PRELOAD");
	unsetenv("BBB_FSYNC_COUNT_FILE");
	free(tasks);
	for (int i = started - 1; i >= 0; i--)
		if (bench_server_stop(&s[i], rc != 0) != 0)
			rc = -1;
	if (db != NULL) {
		snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", dbname);
		bench_pg_admin(o, sql);
	}
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

static void bench_echo_print(const char *label, const struct bench_echo_pass *p, int pg)
{
	printf("  %-8s %7.0f %9.0f %10.1f  %12.2f %7.2f %7.2f %7.2f %8.3f %8.3f", label, p->ep_runs_per_s,
	       p->ep_queue_per_s, p->ep_latency_ms, p->ep_commits, p->ep_fsyncs, p->ep_writes, p->ep_events,
	       p->ep_cpu_ms, p->ep_top_ms);
	if (pg)
		printf(" %11.1f", p->ep_trips);
	printf("\n");
}

/* The passes of one durability (and on PostgreSQL one server count) and
 * their median; its RESULT keys carry the durability when the invocation
 * measures both. */
static int bench_echo(const struct bench_opts *o, const char *durability, struct bench_fsyncs *f, int n_servers)
{
	struct bench_echo_pass passes[MAX_REPEAT], med;
	char label[32], key[48], where[64] = "";
	int pg = o->bo_pg != NULL;

	if (pg)
		snprintf(where, sizeof(where), " on PostgreSQL, %d server(s) on one database", n_servers);
	printf("runtime_bench: %d echo runs%s, %d RunTask threads, durability %s, %d pass(es) on fresh %s%s%s\n",
	       o->bo_echo_runs, where, o->bo_threads, durability, o->bo_repeat, pg ? "databases" : "servers",
	       o->bo_workers != NULL ? ", --workers " : "", o->bo_workers != NULL ? o->bo_workers : "");
	printf("                                          ------------------------ per run "
	       "-------------------------%s\n"
	       "            runs/s RunTask/s latency ms  transactions  fsyncs  writes  events   CPU ms  busiest%s\n",
	       pg ? "------------" : "", pg ? " round trips" : "");
	fflush(stdout);
	for (int i = 0; i < o->bo_repeat; i++) {
		if (bench_echo_pass(o, durability, f, n_servers, &passes[i]) != 0)
			return -1;
		snprintf(label, sizeof(label), "pass %d", i + 1);
		bench_echo_print(label, &passes[i], pg);
		fflush(stdout);
	}
#define MED(field) bench_median(passes, o->bo_repeat, offsetof(struct bench_echo_pass, field))
	med = (struct bench_echo_pass){MED(ep_runs_per_s), MED(ep_latency_ms), MED(ep_queue_per_s), MED(ep_commits),
				       MED(ep_writes),     MED(ep_fsyncs),     MED(ep_events),      MED(ep_cpu_ms),
				       MED(ep_top_ms),     MED(ep_trips)};
#undef MED
	bench_echo_print("median", &med, pg);
	if (pg)
		snprintf(key, sizeof(key),
			 strcmp(o->bo_durability, "both") == 0 ? "runtime.echo.pg.s%d.%s" : "runtime.echo.pg.s%d",
			 n_servers, durability);
	else
		snprintf(key, sizeof(key), strcmp(o->bo_durability, "both") == 0 ? "runtime.echo.%s" : "runtime.echo",
			 durability);
	bench_result(key, "runs_per_s", med.ep_runs_per_s);
	bench_result(key, "runtask_calls_per_s", med.ep_queue_per_s);
	bench_result(key, "transactions_per_run", med.ep_commits);
	if (!pg)
		bench_result(key, "fsyncs_per_run", med.ep_fsyncs);
	bench_result(key, "writes_per_run", med.ep_writes);
	bench_result(key, "events_per_run", med.ep_events);
	bench_result(key, "cpu_us_per_run", med.ep_cpu_ms * 1000.0);
	bench_result(key, "writer_cpu_us_per_run", med.ep_top_ms * 1000.0);
	if (pg)
		bench_result(key, "round_trips_per_run", med.ep_trips);
	printf("  runs/s: first RunTask to the last run's end; RunTask/s: the calls alone; latency: queued to ended,\n"
	       "  mean. Per run: transactions committed by the writer%s; fsyncs of the WAL and the database file\n"
	       "  %s; writes: store_write calls grouped into those transactions; events\n"
	       "  published; CPU ms of the server%s, all threads, and of its busiest thread (the writer)%s.\n",
	       pg ? "s" : "",
	       pg                      ? "(not counted on PostgreSQL: -1)"
	       : f->bf_counter != NULL ? "(counted by bench/preload/fsync_count.c)"
				       : "(not counted: -1)",
	       pg ? "s" : "", pg ? "; round trips to PostgreSQL of all the servers" : "");
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
	if (bench_server_start(&s, o, "full", NULL, 1) == 0) {
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

/* --servers: a comma-separated list of server counts, 1 to MAX_SERVERS. */
static int bench_parse_servers(const char *list, struct bench_opts *o)
{
	char *end;

	o->bo_n_servers = 0;
	for (const char *p = list; *p != '\0'; p = *end == ',' ? end + 1 : end) {
		long v = strtol(p, &end, 10);

		if (end == p || v < 1 || v > MAX_SERVERS || o->bo_n_servers == MAX_SERVERS ||
		    (*end != ',' && *end != '\0'))
			return -1;
		o->bo_servers[o->bo_n_servers++] = (int)v;
	}
	return o->bo_n_servers > 0 ? 0 : -1;
}

static int bench_usage(void)
{
	fprintf(stderr, "usage: runtime_bench --server BIN [--runs N] [--delay-ms MS] [--echo-runs M] [--threads T]\n"
			"                     [--durability full|normal|both] [--repeat R] [--workers W]\n"
			"                     [--fake fake_llm.py] [--pg CONNINFO [--servers 1,2,3]]\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct bench_opts o = {NULL, NULL, "both", NULL, NULL, 1000, 1000, 2000, 8, 3, {1, 2, 3}, 3};
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
		else if (v != NULL && strcmp(argv[i], "--pg") == 0)
			o.bo_pg = argv[++i];
		else if (v != NULL && strcmp(argv[i], "--servers") == 0) {
			if (bench_parse_servers(argv[++i], &o) != 0)
				return bench_usage();
		} else
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
	if (o.bo_pg == NULL)
		o.bo_n_servers = 1, o.bo_servers[0] = 1;
	for (int i = 0; o.bo_echo_runs > 0 && i < o.bo_n_servers; i++) {
		if (strcmp(o.bo_durability, "normal") != 0 && bench_echo(&o, "full", &f, o.bo_servers[i]) != 0)
			goto done;
		if (strcmp(o.bo_durability, "full") != 0 && bench_echo(&o, "normal", &f, o.bo_servers[i]) != 0)
			goto done;
	}
	for (int i = 0; i < bench_n_results; i++)
		printf("RESULT %s %.6g\n", bench_results[i].rl_key, bench_results[i].rl_value);
	rc = 0;
done:
	bench_fsyncs_close(&f);
	rmdir(tmp);
	return rc;
}
