/*
 * store_bench: the store's own cost per call, without RPC, threads or fsync.
 *
 * On a temp database migrated to the binary's schema, one thread, one
 * connection (store_conn_open, as the server's readers and writer have):
 *
 *   task_get     store_task_get of one of 1,000 tasks (GetTask's query)
 *   task_list    store_task_list, a page of 50 (ListTasks' query)
 *   task_create  store_task_insert and store_event_append (CreateTask's
 *                statements), 100 per transaction, synchronous=NORMAL: the
 *                SQL, not the disk
 *
 * Each case runs --runs times (default 3) for --seconds (default 1); the
 * median calls/s is printed with microseconds per call, then the memory the
 * connection's prepared statements hold. What it shows is what parsing,
 * planning and stepping cost on this machine; the RPC path adds the transport
 * and the thread hand-offs (rpc_bench).
 *
 * Usage: store_bench [--seconds S] [--runs N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "beebeebrain/v1/event.pb-c.h"
#include "common/arena.h"
#include "common/status.h"
#include "store/event_store.h"
#include "store/migrate.h"
#include "store/store.h"
#include "store/task_store.h"

#define BENCH_TASKS 1000
#define BENCH_RUNS_MAX 15

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const bbb_status *st)
{
	fprintf(stderr, "store_bench: %s: %s %s\n", what, st->reason, st->message);
	exit(1);
}

static int insert_task(struct db *db, int64_t i, bbb_status *st)
{
	Beebeebrain__V1__Task t = BEEBEEBRAIN__V1__TASK__INIT;
	Beebeebrain__V1__Event ev = BEEBEEBRAIN__V1__EVENT__INIT;
	char title[32];

	snprintf(title, sizeof(title), "task %lld", (long long)i);
	t.project_id = 1;
	t.title = title;
	t.description = "a task of the benchmark";
	t.status = BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_TODO;
	t.priority = 3;
	if (store_task_insert(db, &t, st) != 0)
		return -1;
	ev.project_id = 1;
	ev.task_id = t.id;
	ev.event_type = "task.created";
	ev.trace_id = "";
	return store_event_append(db, &ev, st);
}

typedef int (*bench_fn)(struct db *db, int64_t i, struct arena *a, bbb_status *st);

static int case_get(struct db *db, int64_t i, struct arena *a, bbb_status *st)
{
	Beebeebrain__V1__Task *t;

	return store_task_get(db, 1 + i % BENCH_TASKS, a, &t, st);
}

static int case_list(struct db *db, int64_t i, struct arena *a, bbb_status *st)
{
	struct task_filter f = {.tf_project_id = 1};
	Beebeebrain__V1__Task **out;
	size_t n;
	int more;

	return store_task_list(db, &f, i % (BENCH_TASKS - 50), 50, a, &out, &n, &more, st);
}

static int case_create(struct db *db, int64_t i, struct arena *a, bbb_status *st)
{
	(void)a;
	if (i % 100 == 0 && db_exec(db, "BEGIN") != DB_OK)
		return store_fail(st, db, SQLITE_ERROR, "BEGIN");
	if (insert_task(db, BENCH_TASKS + i, st) != 0)
		return -1;
	if (i % 100 == 99 && db_exec(db, "COMMIT") != DB_OK)
		return store_fail(st, db, SQLITE_ERROR, "COMMIT");
	return 0;
}

/* Calls per second of fn over `seconds`. */
static double bench_run(struct db *db, bench_fn fn, double seconds, int64_t *next)
{
	struct arena a;
	bbb_status st;
	int64_t calls = 0;
	double t0 = now_s(), t;

	arena_init(&a);
	do {
		for (int k = 0; k < 100; k++, calls++) {
			if (fn(db, (*next)++, &a, &st) != 0)
				die("call", &st);
			arena_reset(&a);
		}
		t = now_s();
	} while (t - t0 < seconds);
	return (double)calls / (t - t0);
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return (a > b) - (a < b);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		bench_fn fn;
	} cases[] = {{"task_get", case_get}, {"task_list", case_list}, {"task_create", case_create}};
	struct migration_set set = migrate_builtin();
	double seconds = 1, rates[3][BENCH_RUNS_MAX];
	int64_t next[3] = {0, 0, 0};
	char dir[] = "/tmp/bbb-store-bench-XXXXXX", path[64], cmd[96];
	int runs = 3, applied, stmt_bytes = 0, hi = 0;
	struct db *db;
	bbb_status st;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--seconds") == 0)
			seconds = atof(argv[i + 1]);
		else if (strcmp(argv[i], "--runs") == 0)
			runs = atoi(argv[i + 1]);
	}
	if (runs < 1 || runs > BENCH_RUNS_MAX || seconds <= 0) {
		fprintf(stderr, "usage: store_bench [--seconds S] [--runs 1..%d]\n", BENCH_RUNS_MAX);
		return 2;
	}
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/b.db", dir);
	if (store_conn_open(path, 0, 0, 5000, &db, &st) != 0 || migrate_up(db, &set, 0, &applied, &st) != 0)
		die("open", &st);
	if (db_exec(db, "INSERT INTO projects (id, name, root_path, created_at, updated_at) "
			"VALUES (1, 'bench', '/tmp/bench', 0, 0)") != DB_OK)
		die("project", &st);
	db_exec(db, "BEGIN");
	for (int64_t i = 1; i <= BENCH_TASKS; i++)
		if (insert_task(db, i, &st) != 0)
			die("seed", &st);
	db_exec(db, "COMMIT");

	/* Interleaved, so that a noisy moment hits every case alike. */
	for (int r = 0; r < runs; r++)
		for (int c = 0; c < 3; c++)
			rates[c][r] = bench_run(db, cases[c].fn, seconds, &next[c]);
	if (db_in_transaction(db))
		db_exec(db, "COMMIT");
	printf("%-12s %12s %10s   (median of %d runs of %.1f s)\n", "case", "calls/s", "us/call", runs, seconds);
	for (int c = 0; c < 3; c++) {
		double med;

		qsort(rates[c], (size_t)runs, sizeof(double), cmp_double);
		med = rates[c][runs / 2];
		printf("%-12s %12.0f %10.2f\n", cases[c].name, med, 1e6 / med);
	}
	if (sqlite3_db_status(db_sqlite(db), SQLITE_DBSTATUS_STMT_USED, &stmt_bytes, &hi, 0) == DB_OK)
		printf("prepared statements held by the connection: %d KiB\n", stmt_bytes / 1024);
	store_conn_close(db);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
