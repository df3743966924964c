/*
 * fsync_floor: how many durable commits per second SQLite itself makes on this
 * disk, the floor the server's writes are measured against (issue 13's
 * "CreateTask, durability full" row; docs/performance.md).
 *
 * What it measures. One row per commit: BEGIN IMMEDIATE, one INSERT of a
 * task-sized row, COMMIT, on a connection opened by store_conn_open with
 * durability full, so the pragmas are the server's own (WAL,
 * synchronous=FULL: every commit fsyncs the WAL; busy_timeout; foreign keys).
 * The statements are prepared once: what is left is SQLite's commit and the
 * fsync. Two cases:
 *
 *   writers 1  one thread, one connection: the floor a writer without group
 *              commit cannot beat. The server's group commit should reach a
 *              multiple of it (several jobs per fsync).
 *   writers 8  eight threads, each committing its own rows on its own
 *              connection, as eight processes sharing a file would:
 *              SQLite's write lock serializes them, and its busy handler
 *              sleeps, so a writer that finds the lock taken sleeps while
 *              the one holding it commits again: the total stays near the
 *              single writer's, shared very unevenly ("starved" counts the
 *              writers that made no commit at all in the window, and the
 *              latencies are those of the commits that happened). It shows
 *              what eight writers get without a writer thread.
 *
 * The database is a fresh file per run in a temp dir made where the
 * benchmarks' harness puts the server's database ($TMPDIR, else /tmp; --dir
 * overrides), so the fsync is the same file system's; the temp dir is
 * removed at the end. The file system type is printed: on tmpfs an fsync
 * costs nothing and the figure is no floor at all. Every case runs --runs
 * times (default 3), interleaved; the table shows the run with the median
 * commits/s, with that run's commit latencies. The first ~10% of each run
 * (at most 250 ms) is a warm-up and not counted.
 *
 * --fsync-delay-us N makes every fsync take N us more (bench/preload/
 * fsync_count.c, preloaded into this process by a re-exec): the floor of a
 * disk that really flushes its cache, where group commit matters most.
 *
 * Usage: fsync_floor [--seconds S] [--runs N] [--dir DIR] [--fsync-delay-us N]
 * Prints `RESULT <key> <value>` lines at the end (scripts/bench.sh).
 */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "bench_stats.h"
#include "store/store.h"

#define FLOOR_MAX_WRITERS 8
#define FLOOR_MAX_RUNS 15
#define FLOOR_BUSY_TIMEOUT_MS 5000
#define FLOOR_INSERT "INSERT INTO floor_rows(writer, seq, title, body) VALUES (?1, ?2, ?3, ?4)"

static const int floor_writer_counts[] = {1, FLOOR_MAX_WRITERS};
#define FLOOR_N_CASES (sizeof(floor_writer_counts) / sizeof(floor_writer_counts[0]))

/* About what CreateTask writes for a task: a title and a description. */
static const char floor_body[] = "a row of about the size of a task: its description, its status, its assignee, "
				 "timestamps and a version, written once and committed durably";

struct floor_opts {
	double fo_seconds;
	int fo_runs;
	const char *fo_dir; /* NULL: $TMPDIR, else /tmp */
	long fo_delay_us; /* --fsync-delay-us */
};

struct floor_run;

struct floor_writer {
	struct floor_run *fw_run;
	pthread_t fw_thread;
	int fw_index;
	struct lat_buf fw_lat;
	uint64_t fw_busy; /* commits given up after busy_timeout */
	char fw_error[256];
};

struct floor_run {
	const char *fr_path;
	uint64_t fr_start_ns, fr_warm_ns, fr_end_ns;
	int fr_writers;
	pthread_barrier_t fr_barrier;
	struct floor_writer fr_w[FLOOR_MAX_WRITERS];
};

struct floor_result {
	double r_commits_per_s;
	double r_p50_us, r_p99_us;
	uint64_t r_busy;
	int r_starved; /* writers that made no commit in the measured window */
	char r_error[256];
};

static uint64_t floor_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_result(const void *a, const void *b)
{
	double x = ((const struct floor_result *)a)->r_commits_per_s;
	double y = ((const struct floor_result *)b)->r_commits_per_s;

	return (x > y) - (x < y);
}

static int floor_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	snprintf(err, errlen, "%s: %s", sql, sqlite3_errmsg(db));
	return -1;
}

/* One durable commit of one row. Returns 0, 1 when the write lock stayed
 * taken past busy_timeout (counted, not fatal), or -1 on any other error. */
static int floor_commit_one(sqlite3 *db, sqlite3_stmt *begin, sqlite3_stmt *insert, sqlite3_stmt *commit,
			    struct floor_writer *w, int64_t seq)
{
	int rc = sqlite3_step(begin);

	sqlite3_reset(begin);
	if (rc == SQLITE_BUSY)
		return 1;
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_bind_int(insert, 1, w->fw_index);
	sqlite3_bind_int64(insert, 2, seq);
	sqlite3_bind_text(insert, 3, "a task title of a usual length", -1, SQLITE_STATIC);
	sqlite3_bind_text(insert, 4, floor_body, -1, SQLITE_STATIC);
	rc = sqlite3_step(insert);
	sqlite3_reset(insert);
	if (rc != SQLITE_DONE)
		goto fail;
	rc = sqlite3_step(commit);
	sqlite3_reset(commit);
	if (rc == SQLITE_DONE)
		return 0;
fail:
	snprintf(w->fw_error, sizeof(w->fw_error), "writer %d: %s", w->fw_index, sqlite3_errmsg(db));
	return -1;
}

static void *floor_writer_main(void *arg)
{
	struct floor_writer *w = arg;
	struct floor_run *r = w->fw_run;
	sqlite3_stmt *begin = NULL, *insert = NULL, *commit = NULL;
	struct db *conn = NULL;
	sqlite3 *db = NULL;
	bbb_status st;
	int64_t seq = 0;
	int ok = 0;

	/* The store's own pragmas; then SQLite's own calls, as plain as a floor gets. */
	if (store_conn_open(r->fr_path, 0, 1, FLOOR_BUSY_TIMEOUT_MS, &conn, &st) != 0) {
		snprintf(w->fw_error, sizeof(w->fw_error), "writer %d: %.200s", w->fw_index, st.message);
	} else if ((db = db_sqlite(conn)) == NULL ||
		   sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, NULL) != SQLITE_OK ||
		   sqlite3_prepare_v2(db, FLOOR_INSERT, -1, &insert, NULL) != SQLITE_OK ||
		   sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL) != SQLITE_OK) {
		snprintf(w->fw_error, sizeof(w->fw_error), "writer %d: prepare: %s", w->fw_index, sqlite3_errmsg(db));
	} else {
		ok = 1;
	}
	/* Every writer waits here, ready or not, so that the clock starts once. */
	pthread_barrier_wait(&r->fr_barrier);
	while (ok) {
		uint64_t t0 = floor_now_ns(), t1;
		int rc;

		if (t0 >= r->fr_end_ns)
			break;
		rc = floor_commit_one(db, begin, insert, commit, w, ++seq);
		if (rc < 0)
			break;
		t1 = floor_now_ns();
		if (rc > 0) {
			w->fw_busy++;
		} else if (t0 >= r->fr_warm_ns && t1 <= r->fr_end_ns && lat_push(&w->fw_lat, t1 - t0) != 0) {
			snprintf(w->fw_error, sizeof(w->fw_error), "writer %d: out of memory", w->fw_index);
			break;
		}
	}
	sqlite3_finalize(begin);
	sqlite3_finalize(insert);
	sqlite3_finalize(commit);
	store_conn_close(conn);
	return NULL;
}

/* A fresh database with the one table, in dir. */
static int floor_create_db(const char *path, char *err, size_t errlen)
{
	struct db *db;
	bbb_status st;
	int rc;

	if (store_conn_open(path, 0, 1, FLOOR_BUSY_TIMEOUT_MS, &db, &st) != 0) {
		snprintf(err, errlen, "%.200s", st.message);
		return -1;
	}
	rc = floor_exec(db_sqlite(db),
			"CREATE TABLE floor_rows(id INTEGER PRIMARY KEY, writer INTEGER NOT NULL, "
			"seq INTEGER NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL)",
			err, errlen);
	store_conn_close(db);
	return rc;
}

static int floor_unlink_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Folds the writers' latencies into one result: commits/s over the measured
 * window, and the percentiles of every commit in it. */
static void floor_collect(struct floor_run *r, struct floor_result *res)
{
	double window_s = (double)(r->fr_end_ns - r->fr_warm_ns) / 1e9;
	size_t n = 0;
	uint64_t *all;

	memset(res, 0, sizeof(*res));
	for (int i = 0; i < r->fr_writers; i++) {
		n += r->fr_w[i].fw_lat.lb_n;
		res->r_busy += r->fr_w[i].fw_busy;
		res->r_starved += r->fr_w[i].fw_lat.lb_n == 0;
		if (r->fr_w[i].fw_error[0] != '\0' && res->r_error[0] == '\0')
			memcpy(res->r_error, r->fr_w[i].fw_error, sizeof(res->r_error));
	}
	all = malloc((n > 0 ? n : 1) * sizeof(*all));
	if (all == NULL) {
		snprintf(res->r_error, sizeof(res->r_error), "out of memory");
		return;
	}
	n = 0;
	for (int i = 0; i < r->fr_writers; i++) {
		memcpy(all + n, r->fr_w[i].fw_lat.lb_v, r->fr_w[i].fw_lat.lb_n * sizeof(*all));
		n += r->fr_w[i].fw_lat.lb_n;
	}
	qsort(all, n, sizeof(*all), cmp_u64);
	res->r_commits_per_s = (double)n / window_s;
	res->r_p50_us = percentile_us(all, n, 50);
	res->r_p99_us = percentile_us(all, n, 99);
	free(all);
}

/* One run of `writers` writers on a fresh database file in dir. */
static int floor_run_once(const struct floor_opts *o, const char *dir, int run, int writers, struct floor_result *res)
{
	struct floor_run r;
	uint64_t span = (uint64_t)(o->fo_seconds * 1e9), warm = span / 10;
	char path[4200];
	int started = 0, rc = -1;

	memset(&r, 0, sizeof(r));
	memset(res, 0, sizeof(*res));
	snprintf(path, sizeof(path), "%s/floor-%d-%d.db", dir, writers, run);
	if (floor_create_db(path, res->r_error, sizeof(res->r_error)) != 0)
		return -1;
	if (warm > 250000000u)
		warm = 250000000u;
	r.fr_path = path;
	r.fr_writers = writers;
	pthread_barrier_init(&r.fr_barrier, NULL, (unsigned)writers + 1);
	for (; started < writers; started++) {
		r.fr_w[started].fw_run = &r;
		r.fr_w[started].fw_index = started;
		if (pthread_create(&r.fr_w[started].fw_thread, NULL, floor_writer_main, &r.fr_w[started]) != 0)
			break;
	}
	if (started < writers) {
		/* The barrier counts writers + 1: without them all it would never open. */
		fprintf(stderr, "fsync_floor: cannot start %d threads\n", writers);
		abort();
	}
	r.fr_start_ns = floor_now_ns();
	r.fr_warm_ns = r.fr_start_ns + warm;
	r.fr_end_ns = r.fr_start_ns + warm + span;
	pthread_barrier_wait(&r.fr_barrier);
	for (int i = 0; i < writers; i++)
		pthread_join(r.fr_w[i].fw_thread, NULL);
	floor_collect(&r, res);
	if (res->r_error[0] == '\0')
		rc = 0;
	for (int i = 0; i < writers; i++)
		free(r.fr_w[i].fw_lat.lb_v);
	pthread_barrier_destroy(&r.fr_barrier);
	return rc;
}

/* The name of the file system holding dir, for the reader to judge the floor. */
static const char *floor_fs_name(const char *dir)
{
	struct statfs sfs;

	if (statfs(dir, &sfs) != 0)
		return "unknown";
	switch ((unsigned long)sfs.f_type) {
	case 0xEF53UL:
		return "ext2/3/4";
	case 0x58465342UL:
		return "xfs";
	case 0x9123683EUL:
		return "btrfs";
	case 0x01021994UL:
		return "tmpfs: fsync is free here, this is no floor";
	case 0x794C7630UL:
		return "overlayfs";
	case 0x2FC12FC1UL:
		return "zfs";
	default:
		return "other";
	}
}

static const char floor_usage[] = "usage: fsync_floor [--seconds S] [--runs N] [--dir DIR] [--fsync-delay-us N]\n"
				  "  --seconds S  measured time of each run (default 3)\n"
				  "  --runs N     runs per case; the median is shown (default 3)\n"
				  "  --dir DIR    where the temp dir goes (default $TMPDIR, else /tmp: where the\n"
				  "               benchmarks' harness puts the server's database)\n"
				  "  --fsync-delay-us N  every fsync takes N us more (0-1000000): a disk that\n"
				  "               really flushes its write cache\n";

static int floor_parse(int argc, char **argv, struct floor_opts *o)
{
	o->fo_seconds = 3;
	o->fo_runs = 3;
	o->fo_dir = NULL;
	o->fo_delay_us = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
			return printf("%s", floor_usage), 1;
		if (v == NULL)
			return fprintf(stderr, "fsync_floor: %s needs a value\n%s", a, floor_usage), -1;
		if (strcmp(a, "--seconds") == 0)
			o->fo_seconds = atof(v);
		else if (strcmp(a, "--runs") == 0)
			o->fo_runs = atoi(v);
		else if (strcmp(a, "--dir") == 0)
			o->fo_dir = v;
		else if (strcmp(a, "--fsync-delay-us") == 0)
			o->fo_delay_us = atol(v);
		else
			return fprintf(stderr, "fsync_floor: unknown option %s\n%s", a, floor_usage), -1;
		i++;
	}
	if (o->fo_seconds <= 0 || o->fo_runs < 1 || o->fo_runs > FLOOR_MAX_RUNS || o->fo_delay_us < 0 ||
	    o->fo_delay_us > 1000000)
		return fprintf(stderr, "fsync_floor: bad --seconds, --runs or --fsync-delay-us\n%s", floor_usage), -1;
	if (o->fo_dir == NULL) {
		const char *tmp = getenv("TMPDIR");

		o->fo_dir = tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp";
	}
	return 0;
}

static void floor_print(const struct floor_opts *o, struct floor_result res[FLOOR_N_CASES][FLOOR_MAX_RUNS])
{
	printf("\n%-8s %10s %9s %9s %8s %8s\n", "writers", "commits/s", "p50 us", "p99 us", "busy", "starved");
	for (size_t ci = 0; ci < FLOOR_N_CASES; ci++) {
		struct floor_result *med;

		qsort(res[ci], (size_t)o->fo_runs, sizeof(res[ci][0]), cmp_result);
		med = &res[ci][o->fo_runs / 2];
		printf("%-8d %10.0f %9.1f %9.1f %8llu %8d\n", floor_writer_counts[ci], med->r_commits_per_s,
		       med->r_p50_us, med->r_p99_us, (unsigned long long)med->r_busy, med->r_starved);
	}
	printf("\n");
	for (size_t ci = 0; ci < FLOOR_N_CASES; ci++)
		printf("RESULT fsync.w%d.commits_per_s %.0f\n", floor_writer_counts[ci],
		       res[ci][o->fo_runs / 2].r_commits_per_s);
	printf("RESULT fsync.w1.p50_us %.1f\n", res[0][o->fo_runs / 2].r_p50_us);
}

int main(int argc, char **argv)
{
	static struct floor_result res[FLOOR_N_CASES][FLOOR_MAX_RUNS];
	struct floor_opts o;
	char dir[4096];
	int rc = floor_parse(argc, argv, &o);

	if (rc != 0)
		return rc < 0 ? 2 : 0;
	if (o.fo_delay_us > 0 && getenv("BBB_FSYNC_DELAY_US") == NULL) {
		/* The preload slows this process's own fsyncs: run again with it. */
		char us[32];

		snprintf(us, sizeof(us), "%ld", o.fo_delay_us);
		setenv("BBB_FSYNC_DELAY_US", us, 1);
		setenv("LD_PRELOAD", BENCH_FSYNC_LIB, 1);
		execv("/proc/self/exe", argv);
		fprintf(stderr, "fsync_floor: cannot run again with the preload: %s\n", strerror(errno));
		return 1;
	}
	unsetenv("LD_PRELOAD");
	snprintf(dir, sizeof(dir), "%s/bbb-fsync-XXXXXX", o.fo_dir);
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "fsync_floor: mkdtemp %s: %s\n", dir, strerror(errno));
		return 1;
	}
	printf("fsync_floor: %s (%s), SQLite %s, WAL, synchronous=FULL (store_conn_open's pragmas)\n", dir,
	       floor_fs_name(dir), sqlite3_libversion());
	if (o.fo_delay_us > 0)
		printf("every fsync takes %ld us more than this disk's (--fsync-delay-us)\n", o.fo_delay_us);
	printf("one row per commit (BEGIN IMMEDIATE, INSERT, COMMIT); %.1f s x %d runs, median run shown;\n"
	       "busy = commits given up after a %d ms busy_timeout; starved = writers without a commit\n",
	       o.fo_seconds, o.fo_runs, FLOOR_BUSY_TIMEOUT_MS);
	rc = 0;
	for (int run = 0; run < o.fo_runs && rc == 0; run++)
		for (size_t ci = 0; ci < FLOOR_N_CASES && rc == 0; ci++) {
			fprintf(stderr, "\rwriters %d run %d/%d ", floor_writer_counts[ci], run + 1, o.fo_runs);
			if (floor_run_once(&o, dir, run, floor_writer_counts[ci], &res[ci][run]) != 0) {
				fprintf(stderr, "\nfsync_floor: %s\n", res[ci][run].r_error);
				rc = 1;
			}
		}
	fprintf(stderr, "\r%40s\r", "");
	if (rc == 0)
		floor_print(&o, res);
	nftw(dir, floor_unlink_cb, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}
