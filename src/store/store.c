/*
 * Connections and the writer thread (group commit). See store.h for the
 * design. Queue discipline: callers append a stack-allocated job and sleep on
 * s_done; the writer takes the whole queue at once, runs it as one
 * transaction and wakes everybody when it has committed.
 */
#include "store/store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/pbtext.h"
#include "common/status.h"
#include "common/xalloc.h"

#define STORE_GROUP_MAX 256

struct store_job {
	store_write_fn j_fn;
	void *j_arg;
	int64_t j_deadline;
	bbb_status *j_st;
	int j_rc;
	int j_done;
	struct store_job *j_next;
};

struct store {
	char *s_path;
	sqlite3 *s_db;
	int s_durability_full;
	int s_busy_timeout_ms;
	pthread_t s_thread;
	pthread_mutex_t s_mu;
	pthread_cond_t s_work; /* writer waits for jobs */
	pthread_cond_t s_done; /* callers wait for their group's commit */
	struct store_job *s_head, *s_tail;
	int s_stopping;
	store_commit_hook s_hook;
	void *s_hook_arg;
	store_lock_hook s_lock_hook;
	void *s_lock_hook_arg;
	int64_t s_lock_quiet_ms;
	unsigned s_lock_failures; /* failed groups not yet reported to the hook */
	int s_lock_reported; /* a failure was reported, recovery not yet */
	int64_t s_last_lock_failure; /* CLOCK_MONOTONIC ms */
	int64_t s_last_event_id;
	struct store_stats s_stats;
};

int store_fail(bbb_status *st, sqlite3 *db, int rc, const char *what)
{
	int ext = db != NULL ? sqlite3_extended_errcode(db) : rc;
	const char *msg = db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc);

	if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
		return status_fail(st, "DB_LOCKED", "%s: database is locked (another connection holds the write lock)",
				   what);
	if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
		return status_fail(st, "RESOURCE_CONFLICT", "%s: %s", what, msg);
	return status_fail(st, "INTERNAL_ERROR", "%s: %s", what, msg);
}

int store_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **stmt, bbb_status *st)
{
	int rc = sqlite3_prepare_v2(db, sql, -1, stmt, NULL);

	if (rc != SQLITE_OK)
		return store_fail(st, db, rc, "prepare");
	return 0;
}

char *store_col_text(struct arena *a, sqlite3_stmt *stmt, int col)
{
	const unsigned char *t = sqlite3_column_text(stmt, col);

	if (t == NULL)
		return arena_strdup(a, "");
	return arena_strndup(a, (const char *)t, (size_t)sqlite3_column_bytes(stmt, col));
}

/* Bytes of a length-delimited field holding n bytes: tag, length, body. */
static size_t store_field_bytes(size_t n)
{
	size_t len = 1;

	for (size_t v = n; v >= 0x80; v >>= 7)
		len++;
	return 1 + len + n; /* the repeated fields of replies have one-byte tags */
}

/* The size row will have in a reply: replies carry text repaired to UTF-8
 * (common/pbtext.h), and a repaired byte takes three. */
static size_t store_row_size(const ProtobufCMessage *row)
{
	struct arena a;
	size_t n;

	if (pbtext_valid(row))
		return protobuf_c_message_get_packed_size(row);
	arena_init(&a);
	n = protobuf_c_message_get_packed_size(pbtext_repair_copy(row, &a));
	arena_reset(&a);
	return n;
}

int store_page_add(struct store_page *pg, const ProtobufCMessage *row)
{
	size_t bytes = store_field_bytes(store_row_size(row));

	if (pg->pg_rows > 0 && pg->pg_bytes + bytes > STORE_PAGE_BYTES)
		return 0;
	pg->pg_rows++;
	pg->pg_bytes += bytes;
	return 1;
}

int store_collect(sqlite3 *db, sqlite3_stmt *stmt, int limit, store_row_fn row, struct arena *a, void ***out, size_t *n,
		  int *more, const char *what, bbb_status *st)
{
	struct store_page pg = {0};
	int rc;

	*out = arena_alloc(a, sizeof(void *) * (size_t)(limit > 0 ? limit : 1));
	*n = 0;
	*more = 0;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		void *r;
		if ((int)*n == limit) {
			*more = 1;
			break;
		}
		r = row(stmt, a);
		if (!store_page_add(&pg, r)) {
			*more = 1;
			break;
		}
		(*out)[(*n)++] = r;
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_fail(st, db, rc, what);
	return 0;
}

int store_get_by_id(sqlite3 *db, const char *sql, int64_t id, store_row_fn row, struct arena *a, void **out,
		    const char *not_found_reason, const char *noun, bbb_status *st)
{
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(db, sql, &stmt, st) != 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*out = row(stmt, a);
	sqlite3_finalize(stmt);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return status_fail(st, not_found_reason, "%s %lld does not exist", noun, (long long)id);
	return store_fail(st, db, rc, noun);
}

int store_bind_text_or_null(sqlite3_stmt *stmt, int idx, const char *s)
{
	if (s == NULL || s[0] == '\0')
		return sqlite3_bind_null(stmt, idx);
	return sqlite3_bind_text(stmt, idx, s, -1, SQLITE_TRANSIENT);
}

int store_bind_id_or_null(sqlite3_stmt *stmt, int idx, int64_t v)
{
	if (v == 0)
		return sqlite3_bind_null(stmt, idx);
	return sqlite3_bind_int64(stmt, idx, v);
}

int store_conn_open(const char *path, int readonly, int durability_full, int busy_timeout_ms, sqlite3 **out,
		    bbb_status *st)
{
	int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	sqlite3 *db = NULL;
	char pragmas[256];
	char *err = NULL;
	int rc;

	flags |= SQLITE_OPEN_NOMUTEX; /* one connection, one thread */
	rc = sqlite3_open_v2(path, &db, flags, NULL);
	if (rc != SQLITE_OK) {
		status_fail(st, "INTERNAL_ERROR", "cannot open database %s: %s", path,
			    db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return -1;
	}
	sqlite3_busy_timeout(db, busy_timeout_ms > 0 ? busy_timeout_ms : 5000);
	snprintf(pragmas, sizeof(pragmas), "%sPRAGMA foreign_keys=ON; PRAGMA synchronous=%s;",
		 readonly ? "" : "PRAGMA journal_mode=WAL; ", durability_full ? "FULL" : "NORMAL");
	rc = sqlite3_exec(db, pragmas, NULL, NULL, &err);
	if (rc != SQLITE_OK) {
		status_fail(st, "INTERNAL_ERROR", "cannot configure database %s: %s", path, err ? err : "?");
		sqlite3_free(err);
		sqlite3_close(db);
		return -1;
	}
	*out = db;
	return 0;
}

void store_conn_close(sqlite3 *db)
{
	sqlite3_stmt *stmt;

	if (db == NULL)
		return;
	while ((stmt = sqlite3_next_stmt(db, NULL)) != NULL)
		sqlite3_finalize(stmt);
	sqlite3_close(db);
}

static int store_exec(sqlite3 *db, const char *sql, bbb_status *st)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return store_fail(st, db, rc, sql);
	return 0;
}

static int64_t store_max_event_id(sqlite3 *db)
{
	sqlite3_stmt *stmt;
	int64_t id = 0;

	if (sqlite3_prepare_v2(db, "SELECT seq FROM sqlite_sequence WHERE name = 'events'", -1, &stmt, NULL) !=
	    SQLITE_OK)
		return 0;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		id = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return id;
}

/* Tells the lock hook about failures since the last group, or recovery. */
static void store_report_lock_health(struct store *s)
{
	bbb_status st;
	enum store_lock_event ev;

	if (s->s_lock_hook == NULL)
		return;
	if (s->s_lock_failures > 0)
		ev = STORE_LOCK_FAILED;
	else if (s->s_lock_reported && clock_mono_ms() - s->s_last_lock_failure >= s->s_lock_quiet_ms)
		ev = STORE_LOCK_RECOVERED;
	else
		return;
	status_clear(&st);
	if (store_exec(s->s_db, "SAVEPOINT h", &st) != 0)
		return;
	if (s->s_lock_hook(s->s_lock_hook_arg, s->s_db, ev, s->s_lock_failures) != 0)
		sqlite3_exec(s->s_db, "ROLLBACK TO h", NULL, NULL, NULL);
	sqlite3_exec(s->s_db, "RELEASE h", NULL, NULL, NULL);
	s->s_lock_reported = ev == STORE_LOCK_FAILED;
	s->s_lock_failures = 0;
}

/* Fails every job of a group that has not failed on its own. */
static void store_fail_group(struct store_job *group, const bbb_status *why)
{
	for (struct store_job *j = group; j != NULL; j = j->j_next) {
		if (j->j_rc == 0) {
			*j->j_st = *why;
			j->j_rc = -1;
		}
	}
}

/* Runs one group as one transaction. Returns the number of writes committed. */
static int store_run_group(struct store *s, struct store_job *group)
{
	bbb_status why;
	int64_t now = clock_mono_ms();
	int n = 0;

	status_clear(&why);
	if (store_exec(s->s_db, "BEGIN IMMEDIATE", &why) != 0) {
		log_warn("store", "write transaction refused: %s", why.message);
		if (strcmp(why.reason, "DB_LOCKED") == 0) {
			s->s_lock_failures++;
			s->s_last_lock_failure = clock_mono_ms();
		}
		store_fail_group(group, &why);
		return 0;
	}
	store_report_lock_health(s);
	for (struct store_job *j = group; j != NULL; j = j->j_next) {
		if (j->j_deadline != 0 && now > j->j_deadline) {
			j->j_rc = status_fail(j->j_st, "DEADLINE_EXCEEDED", "deadline passed before the write started");
			continue;
		}
		if (store_exec(s->s_db, "SAVEPOINT w", j->j_st) != 0) {
			j->j_rc = -1;
			continue;
		}
		j->j_rc = j->j_fn(s->s_db, j->j_arg, j->j_st);
		if (j->j_rc != 0)
			sqlite3_exec(s->s_db, "ROLLBACK TO w", NULL, NULL, NULL);
		sqlite3_exec(s->s_db, "RELEASE w", NULL, NULL, NULL);
		n++;
	}
	if (store_exec(s->s_db, "COMMIT", &why) != 0) {
		log_error("store", "commit failed: %s", why.message);
		sqlite3_exec(s->s_db, "ROLLBACK", NULL, NULL, NULL);
		store_fail_group(group, &why);
		return 0;
	}
	if (s->s_hook != NULL) {
		int64_t last = store_max_event_id(s->s_db);
		if (last != s->s_last_event_id) {
			s->s_last_event_id = last;
			s->s_hook(s->s_hook_arg, last);
		}
	}
	return n;
}

static void *store_writer_main(void *arg)
{
	struct store *s = arg;

	pthread_mutex_lock(&s->s_mu);
	for (;;) {
		struct store_job *group, *j;
		int n = 0;

		while (s->s_head == NULL && !s->s_stopping)
			pthread_cond_wait(&s->s_work, &s->s_mu);
		if (s->s_head == NULL)
			break;
		/* Take up to STORE_GROUP_MAX jobs, in arrival order. */
		group = s->s_head;
		for (j = group; j->j_next != NULL && ++n < STORE_GROUP_MAX; j = j->j_next)
			;
		s->s_head = j->j_next;
		if (s->s_head == NULL)
			s->s_tail = NULL;
		j->j_next = NULL;
		pthread_mutex_unlock(&s->s_mu);

		unsigned failures_before = s->s_lock_failures;
		n = store_run_group(s, group);

		pthread_mutex_lock(&s->s_mu);
		s->s_stats.ss_lock_failures += s->s_lock_failures > failures_before;
		s->s_stats.ss_writes += (uint64_t)n;
		s->s_stats.ss_commits += n > 0;
		for (j = group; j != NULL;) {
			struct store_job *next = j->j_next;
			j->j_done = 1; /* j may be gone once a caller sees this */
			j = next;
		}
		pthread_cond_broadcast(&s->s_done);
	}
	pthread_mutex_unlock(&s->s_mu);
	return NULL;
}

int store_open(struct store **out, const struct store_options *opts, bbb_status *st)
{
	struct store *s = xcalloc(1, sizeof(*s));

	s->s_path = xstrdup(opts->path);
	s->s_durability_full = opts->durability_full;
	s->s_busy_timeout_ms = opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 5000;
	if (store_conn_open(s->s_path, 0, s->s_durability_full, s->s_busy_timeout_ms, &s->s_db, st) != 0) {
		free(s->s_path);
		free(s);
		return -1;
	}
	s->s_last_event_id = store_max_event_id(s->s_db);
	pthread_mutex_init(&s->s_mu, NULL);
	pthread_cond_init(&s->s_work, NULL);
	pthread_cond_init(&s->s_done, NULL);
	if (pthread_create(&s->s_thread, NULL, store_writer_main, s) != 0) {
		store_conn_close(s->s_db);
		free(s->s_path);
		free(s);
		return status_fail(st, "INTERNAL_ERROR", "cannot start the writer thread");
	}
	*out = s;
	return 0;
}

void store_close(struct store *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->s_mu);
	s->s_stopping = 1;
	pthread_cond_signal(&s->s_work);
	pthread_mutex_unlock(&s->s_mu);
	pthread_join(s->s_thread, NULL);
	sqlite3_exec(s->s_db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	store_conn_close(s->s_db);
	pthread_mutex_destroy(&s->s_mu);
	pthread_cond_destroy(&s->s_work);
	pthread_cond_destroy(&s->s_done);
	free(s->s_path);
	free(s);
}

const char *store_path(const struct store *s)
{
	return s->s_path;
}

int store_reader_open(struct store *s, sqlite3 **out, bbb_status *st)
{
	return store_conn_open(s->s_path, 1, s->s_durability_full, s->s_busy_timeout_ms, out, st);
}

int store_write(struct store *s, store_write_fn fn, void *arg, int64_t deadline_ms, bbb_status *st)
{
	struct store_job job = {.j_fn = fn, .j_arg = arg, .j_deadline = deadline_ms, .j_st = st};

	pthread_mutex_lock(&s->s_mu);
	if (s->s_stopping) {
		pthread_mutex_unlock(&s->s_mu);
		return status_fail(st, "SHUTTING_DOWN", "the server is shutting down");
	}
	/* The job lives on this stack frame: we do not return before the writer
	 * has marked it done, and it is never touched after that. */
	if (s->s_tail != NULL)
		s->s_tail->j_next = &job; // cppcheck-suppress autoVariables
	else
		s->s_head = &job; // cppcheck-suppress autoVariables
	s->s_tail = &job; // cppcheck-suppress autoVariables
	pthread_cond_signal(&s->s_work);
	while (!job.j_done)
		pthread_cond_wait(&s->s_done, &s->s_mu);
	pthread_mutex_unlock(&s->s_mu);
	return job.j_rc;
}

void store_set_commit_hook(struct store *s, store_commit_hook hook, void *arg)
{
	pthread_mutex_lock(&s->s_mu);
	s->s_hook = hook;
	s->s_hook_arg = arg;
	pthread_mutex_unlock(&s->s_mu);
}

void store_set_lock_hook(struct store *s, store_lock_hook hook, void *arg, int64_t quiet_ms)
{
	pthread_mutex_lock(&s->s_mu);
	s->s_lock_hook = hook;
	s->s_lock_hook_arg = arg;
	s->s_lock_quiet_ms = quiet_ms;
	pthread_mutex_unlock(&s->s_mu);
}

void store_get_stats(struct store *s, struct store_stats *out)
{
	pthread_mutex_lock(&s->s_mu);
	*out = s->s_stats;
	out->ss_queued = 0;
	for (struct store_job *j = s->s_head; j != NULL; j = j->j_next)
		out->ss_queued++;
	pthread_mutex_unlock(&s->s_mu);
}
