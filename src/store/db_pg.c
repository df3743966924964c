/*
 * The PostgreSQL driver of db.h, over libpq: several servers share one
 * database through it. A connection is a PGconn used by one thread at a time.
 *
 * Statements. The store writes SQL once, with SQLite's `?` and `?N`;
 * dr_prepare turns them into `$N` (db_pg_translate) and nothing else: the
 * statement goes to the server at its first step, because PostgreSQL wants
 * the parameters' types when it parses and those come from the bindings
 * (int64 -> int8, double -> float8, text -> text, blob -> bytea, NULL -> 0,
 * which lets the server infer one). A statement that is not kept runs once
 * with PQexecParams. A kept one (the statement cache's) is a named
 * server-side statement, "bbb_<n>", prepared at its first step and run with
 * PQexecPrepared after that. When a later run binds a value of another type
 * than it was prepared with, it is prepared again under a new name, so a
 * kept statement runs as an unnamed one with the same bindings would; a NULL
 * goes with any type. Names that are no longer used are deallocated later,
 * when the connection is outside a transaction: a DEALLOCATE that failed
 * inside one would abort it, and a statement is often dropped right after
 * an error (stmt_cache.c finalizes a statement whose step failed).
 *
 * Values go as text, bytea as binary (its bytes, no escaping); results come
 * back as text and are parsed by the column calls (bytea unescaped).
 *
 * Round trips. Every request whose answer the driver waits for (a statement
 * run, a PREPARE, an exec, the batched DEALLOCATEs) is one round trip to the
 * server, counted in beebeebrain_store_round_trips_total (docs/metrics.md):
 * on PostgreSQL they, more than the SQL, bound what a run costs. libpq's
 * connection handshake is not counted; the session's setup after it is.
 *
 * Errors. A failed call returns PG_ERROR and leaves the SQLSTATE and the
 * server's message on the connection until the next prepare, step or exec;
 * db_errcode is the SQLSTATE packed as db_pg_errcode says, store_fail maps
 * it to a reason (db_pg_reason). An error inside a transaction leaves it
 * refusing every statement until ROLLBACK or ROLLBACK TO a savepoint, which
 * is what the writer does (store_savepoint).
 *
 * A lost connection (the database restarted, failed over, or the network
 * between them broke) fails the call under way with DB_UNAVAILABLE; a session
 * the server ended between calls is seen before the next one (its socket
 * reads the end). The next call starts a new session (a new connection with
 * the same string, which tries its hosts again, and the session's settings)
 * and goes on; a session whose setup failed is closed, never used half set
 * up. After an attempt that failed, the next is a second after its end. The
 * named statements are prepared again as they run. Unless the
 * session was lost inside a transaction: that transaction is gone with it,
 * and a later statement of it must not run on its own in a new session, so
 * every call fails until the caller ends the transaction (ROLLBACK, which
 * then succeeds at once) or starts another (an exec beginning with BEGIN).
 *
 * A deferred connection (store_pg_open_deferred) starts its first session the
 * same way, at its first call: a worker's read connection that is never used
 * costs the database no backend.
 */
#include "store/db_pg.h"

#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "common/clock.h"
#include "common/dbuf.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/status.h"
#include "common/xalloc.h"
#include "store/db_driver.h"
#include "store/store.h"

/* Built-in type OIDs (PostgreSQL's pg_type.dat; fixed for ever). */
#define PG_OID_BOOL 16
#define PG_OID_BYTEA 17
#define PG_OID_INT8 20
#define PG_OID_TEXT 25
#define PG_OID_FLOAT8 701

/* What a failed call returns (SQLite's SQLITE_ERROR): the details are on the
 * connection. */
#define PG_ERROR 1

/* SQLSTATEs of errors that libpq or this driver make, which carry none. */
#define PG_STATE_LOST "08006" /* connection_failure: the session is gone */
#define PG_STATE_CLIENT "XX000" /* internal_error: libpq refused, or a misuse */
#define PG_STATE_SYNTAX "42601" /* syntax_error: a parameter number out of range */

#define PG_MSG_MAX 1024
#define PG_STALE_MAX ((size_t)1 << 20) /* DEALLOCATEs waiting for an idle moment */

/*
 * Session settings. UTC: time the server formats reads the same from every
 * server process. UTF8: the store's text. standard_conforming_strings: a
 * backslash in '...' is a plain character, as db_pg_translate assumes.
 * extra_float_digits: a float8 reads back as the same double (servers since
 * 12 send the shortest exact text whatever the value above 0). Notices below
 * warnings are not worth a log line. lock_timeout: a statement waiting for a
 * lock another server holds fails (55P03, DB_LOCKED) after SQLite's default
 * busy timeout instead of holding the writer for ever. No statement_timeout:
 * the store's statements are short, and a slow write that would succeed (a
 * large prune) is better than one failed half-way by a clock.
 */
#define PG_SESSION_SQL                                                                                                 \
	"SET TIME ZONE 'UTC'; SET client_encoding = 'UTF8'; SET standard_conforming_strings = on; "                    \
	"SET extra_float_digits = 3; SET client_min_messages = warning; SET lock_timeout = '5s'"

struct pg_conn {
	PGconn *pc_conn; /* NULL: no session (not started yet, or the last attempt failed) */
	char *pc_conninfo; /* what every session connects with */
	int pc_had_session; /* a session was up once: a new one is a reconnection */
	unsigned pc_generation; /* sessions so far: a statement named in an older one is gone */
	unsigned long long pc_names; /* the last statement name given, "bbb_<n>" */
	int64_t pc_changes; /* rows of the last INSERT, UPDATE, DELETE or MERGE */
	char pc_state[6]; /* the last error's SQLSTATE; "" when none */
	char pc_msg[PG_MSG_MAX]; /* and its message */
	struct dbuf pc_stale; /* "DEALLOCATE bbb_<n>;" of statements no longer used */
	struct metrics_series *pc_trips; /* the process's round trips (pg_trip) */
	char *pc_session; /* the caller's settings (store_pg_configure), run again in a new session */
	int pc_in_tx; /* a transaction was open after the last call */
	int64_t pc_retry_at; /* clock_mono_ms before which no new session is tried */
};

/* Between two attempts at a new session after the connection was lost. */
#define PG_RECONNECT_MS 1000

struct pg_blob {
	unsigned char *pb_bytes; /* PQunescapeBytea's; NULL: not read in this row */
	size_t pb_len;
};

struct pg_stmt {
	struct pg_conn *ps_conn;
	char *ps_sql; /* with $N */
	int ps_nparams;
	unsigned char *ps_used; /* [ps_nparams] (db_pg_sql) */
	int ps_keep;
	/* The bindings, [ps_nparams] each, as libpq takes them: the type (0:
	 * NULL), the value (NULL: SQL NULL), a bytea's length and format (1:
	 * binary), and what the statement frees at the next bind or reset. */
	Oid *ps_types;
	const char **ps_values;
	int *ps_lengths;
	int *ps_formats;
	void **ps_owned;
	/* The named statement (keep): "" until prepared in session ps_gen,
	 * with the types in ps_prepared. */
	char ps_name[32];
	unsigned ps_gen;
	Oid *ps_prepared;
	/* The run. */
	int ps_ran; /* the first step happened */
	int ps_rc; /* its error, DB_OK when none */
	PGresult *ps_res;
	int ps_row; /* the current row; -1 before the first */
	struct pg_blob *ps_blobs; /* [columns] of the current row, allocated at the first bytea read */
};

static const struct db_driver pg_driver;

/* ---- round trips */

/* The process's count of round trips, one series for every connection. */
static struct metrics_series *pg_trips_series(void)
{
	static const struct metrics_spec spec = {
		METRICS_COUNTER,
		"beebeebrain_store_round_trips_total",
		"Requests sent to PostgreSQL whose answer was awaited (statements, prepares, transaction "
		"control), over every connection of the process.",
		NULL,
		0,
		NULL,
		0};

	return metrics_series_get(metrics_family(metrics_default(), &spec), NULL);
}

/* res, the answer of one round trip to the server, counted. */
static PGresult *pg_trip(struct pg_conn *c, PGresult *res)
{
	metrics_series_add(c->pc_trips, 1);
	return res;
}

/* ---- errors */

static void pg_error_clear(struct pg_conn *c)
{
	c->pc_state[0] = '\0';
	c->pc_msg[0] = '\0';
}

static int pg_error_set(struct pg_conn *c, const char *state, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int pg_error_set(struct pg_conn *c, const char *state, const char *fmt, ...)
{
	char msg[PG_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(c->pc_state, sizeof(c->pc_state), "%s", state);
	db_pg_one_line(c->pc_msg, sizeof(c->pc_msg), msg);
	return PG_ERROR;
}

/* Keeps the error of res (NULL: libpq could not even make a result). */
static int pg_error_from(struct pg_conn *c, const PGresult *res)
{
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	if (msg == NULL)
		msg = res != NULL && PQresultErrorMessage(res)[0] != '\0' ? PQresultErrorMessage(res)
									  : PQerrorMessage(c->pc_conn);
	/* libpq's own errors have no SQLSTATE: a broken connection is one. */
	if (state == NULL || strlen(state) != 5)
		state = PQstatus(c->pc_conn) == CONNECTION_BAD ? PG_STATE_LOST : PG_STATE_CLIENT;
	return pg_error_set(c, state, "%s", msg);
}

static void pg_count_changes(struct pg_conn *c, const PGresult *res)
{
	const char *tag = PQcmdStatus((PGresult *)res);

	/* SQLite's changes() counts only these; PQcmdTuples counts a SELECT's rows too. */
	if (strncmp(tag, "INSERT ", 7) == 0 || strncmp(tag, "UPDATE ", 7) == 0 || strncmp(tag, "DELETE ", 7) == 0 ||
	    strncmp(tag, "MERGE ", 6) == 0)
		c->pc_changes = strtoll(PQcmdTuples((PGresult *)res), NULL, 10);
}

/* Drops the statements whose names wait in pc_stale, when no transaction is
 * open (failures are of no consequence there). */
static void pg_flush_stale(struct pg_conn *c)
{
	if (dbuf_len(&c->pc_stale) == 0 || PQtransactionStatus(c->pc_conn) != PQTRANS_IDLE)
		return;
	PQclear(pg_trip(c, PQexec(c->pc_conn, dbuf_str(&c->pc_stale))));
	dbuf_free(&c->pc_stale);
}

static int pg_session_start(struct pg_conn *c, bbb_status *st);
static PGconn *pg_connect(const char *conninfo);

/* A session for c in place of whatever it had: a connection with
 * pc_conninfo, then the session's settings. 0, or -1 with the error kept
 * (08006: DB_UNAVAILABLE) and no connection left, so that the next attempt
 * starts from nothing and no call ever runs on a session half set up. */
static int pg_session_new(struct pg_conn *c)
{
	bbb_status st;
	char msg[PG_MSG_MAX];

	PQfinish(c->pc_conn);
	c->pc_conn = pg_connect(c->pc_conninfo); /* NULL only without memory: CONNECTION_BAD */
	/* The old session's named statements are gone with it: each is
	 * prepared again at its next run, and none is deallocated. */
	c->pc_generation++;
	dbuf_free(&c->pc_stale);
	c->pc_in_tx = 0;
	if (PQstatus(c->pc_conn) != CONNECTION_OK) {
		/* libpq names the server and the cause, never the password. */
		db_pg_one_line(msg, sizeof(msg), c->pc_conn != NULL ? PQerrorMessage(c->pc_conn) : "out of memory");
		pg_error_set(c, PG_STATE_LOST, "cannot %s to PostgreSQL: %s",
			     c->pc_had_session ? "reconnect" : "connect", msg);
	} else if (pg_session_start(c, &st) != 0) {
		pg_error_set(c, PG_STATE_LOST, "%s", st.message);
	} else {
		if (c->pc_had_session)
			log_info("store", "reconnected to PostgreSQL: a new session replaces the lost one");
		c->pc_had_session = 1;
		return 0;
	}
	PQfinish(c->pc_conn);
	c->pc_conn = NULL;
	return -1;
}

/* A new session for a lost one (the head of this file), or the first of a
 * deferred connection: 0, or -1 with the error kept. `fresh`: the call
 * starts a transaction of its own. */
static int pg_reconnect(struct pg_conn *c, int fresh)
{
	if (c->pc_in_tx && !fresh)
		return pg_error_set(c, PG_STATE_LOST,
				    "the connection to the PostgreSQL server was lost with the transaction under way");
	c->pc_in_tx = 0;
	if (clock_mono_ms() < c->pc_retry_at) /* the failed attempt's error stands */
		return pg_error_set(c, PG_STATE_LOST, "%s", c->pc_msg);
	/* No second attempt from inside this one (its setup's calls). */
	c->pc_retry_at = clock_mono_ms() + PG_RECONNECT_MS;
	if (pg_session_new(c) != 0) {
		/* After a failed attempt, the next waits, counted from its end (an
		 * attempt may last the connect timeout): a database out of reach
		 * costs each call an error, not a connection attempt. */
		c->pc_retry_at = clock_mono_ms() + PG_RECONNECT_MS;
		return PG_ERROR;
	}
	c->pc_retry_at = 0;
	return DB_OK;
}

/* Before a call that goes to the server: 0, or -1 with the error kept when
 * the session is gone and no new one could be started. */
static int pg_call_begin(struct pg_conn *c, int fresh)
{
	struct pollfd pfd = {.fd = PQsocket(c->pc_conn), .events = POLLIN};

	/* Between calls the server sends nothing unasked but its last words: a
	 * session it ended (a restart, pg_terminate_backend) is seen here, and
	 * replaced before the call instead of failing it. */
	for (int i = 0; i < 4 && PQstatus(c->pc_conn) == CONNECTION_OK && pfd.fd >= 0 && poll(&pfd, 1, 0) > 0; i++)
		if (PQconsumeInput(c->pc_conn) == 0) /* the message, then the end (a read of 0 bytes) */
			break;
	if (PQstatus(c->pc_conn) != CONNECTION_OK && pg_reconnect(c, fresh) != DB_OK)
		return -1;
	pg_error_clear(c);
	pg_flush_stale(c);
	return 0;
}

/* res when it is a success; else NULL, its error kept and res freed. */
static PGresult *pg_call_end(struct pg_conn *c, PGresult *res)
{
	ExecStatusType rs = PQresultStatus(res);
	PGTransactionStatusType ts = PQtransactionStatus(c->pc_conn);

	/* UNKNOWN: lost now; whether a transaction was open stays as it was. */
	if (ts != PQTRANS_UNKNOWN)
		c->pc_in_tx = ts != PQTRANS_IDLE;
	if (rs == PGRES_TUPLES_OK || rs == PGRES_COMMAND_OK || rs == PGRES_EMPTY_QUERY) {
		pg_count_changes(c, res);
		return res;
	}
	pg_error_from(c, res);
	PQclear(res);
	return NULL;
}

static void pg_forget(struct pg_stmt *s)
{
	if (s->ps_name[0] != '\0' && s->ps_gen == s->ps_conn->pc_generation)
		(void)dbuf_printf(&s->ps_conn->pc_stale, "DEALLOCATE %s;", s->ps_name);
	s->ps_name[0] = '\0';
}

/* ---- statements */

/* Clears every binding. A parameter the text never uses stays a text
 * without a value: PostgreSQL cannot infer a type for it and would refuse
 * the statement (SQLite lets "?1, ?3" leave ?2 out). */
static void pg_unbind_all(struct pg_stmt *s)
{
	for (int i = 0; i < s->ps_nparams; i++) {
		free(s->ps_owned[i]);
		s->ps_owned[i] = NULL;
		s->ps_types[i] = s->ps_used[i] ? 0 : PG_OID_TEXT;
		s->ps_values[i] = NULL;
		s->ps_lengths[i] = 0;
		s->ps_formats[i] = 0;
	}
}

static int pg_prepare(struct db *db, const char *sql, int keep, void **impl)
{
	struct pg_conn *c = db->db_impl;
	struct pg_stmt *s;
	struct db_pg_sql q;
	const char *err;
	size_t n;

	*impl = NULL;
	pg_error_clear(c);
	if (db_pg_translate(sql, &q, &err) != 0) {
		db_pg_sql_free(&q);
		return pg_error_set(c, PG_STATE_SYNTAX, "%s", err);
	}
	s = xcalloc(1, sizeof(*s));
	n = (size_t)q.pq_nparams + 1; /* + 1: no zero-sized allocations */
	s->ps_conn = c;
	s->ps_sql = q.pq_text;
	s->ps_nparams = q.pq_nparams;
	s->ps_used = q.pq_used;
	s->ps_keep = keep;
	s->ps_types = xcalloc(n, sizeof(*s->ps_types));
	s->ps_values = xcalloc(n, sizeof(*s->ps_values));
	s->ps_lengths = xcalloc(n, sizeof(*s->ps_lengths));
	s->ps_formats = xcalloc(n, sizeof(*s->ps_formats));
	s->ps_owned = xcalloc(n, sizeof(*s->ps_owned));
	s->ps_prepared = xcalloc(n, sizeof(*s->ps_prepared));
	s->ps_row = -1;
	pg_unbind_all(s);
	*impl = s;
	return DB_OK;
}

static void pg_blobs_clear(struct pg_stmt *s)
{
	int n = s->ps_res != NULL ? PQnfields(s->ps_res) : 0;

	for (int i = 0; s->ps_blobs != NULL && i < n; i++) {
		PQfreemem(s->ps_blobs[i].pb_bytes);
		s->ps_blobs[i].pb_bytes = NULL;
	}
}

/* Ends the run and clears the bindings: the run's error, DB_OK when none. */
static int pg_reset(void *impl)
{
	struct pg_stmt *s = impl;
	int rc = s->ps_rc;

	pg_blobs_clear(s);
	free(s->ps_blobs);
	s->ps_blobs = NULL;
	PQclear(s->ps_res);
	s->ps_res = NULL;
	s->ps_ran = 0;
	s->ps_rc = DB_OK;
	s->ps_row = -1;
	pg_unbind_all(s);
	return rc;
}

static void pg_finalize(void *impl)
{
	struct pg_stmt *s = impl;

	if (s == NULL)
		return;
	pg_reset(s);
	pg_forget(s);
	free(s->ps_sql);
	free(s->ps_used);
	free(s->ps_types);
	free(s->ps_values);
	free(s->ps_lengths);
	free(s->ps_formats);
	free(s->ps_owned);
	free(s->ps_prepared);
	free(s);
}

/* Binds parameter idx to a value of `type` (0 and NULL: SQL NULL; len: a
 * bytea's bytes); `owned` is freed at the next bind or reset, also when the
 * bind fails. */
static int pg_bind(struct pg_stmt *s, int idx, Oid type, const char *value, int len, void *owned)
{
	int i = idx - 1;

	if (idx < 1 || idx > s->ps_nparams) {
		free(owned);
		return pg_error_set(s->ps_conn, PG_STATE_CLIENT, "parameter %d out of range (the statement has %d)",
				    idx, s->ps_nparams);
	}
	free(s->ps_owned[i]);
	s->ps_owned[i] = owned;
	if (!s->ps_used[i])
		return DB_OK; /* never sent (pg_unbind_all) */
	s->ps_types[i] = value != NULL ? type : 0;
	s->ps_values[i] = value;
	s->ps_lengths[i] = len;
	s->ps_formats[i] = type == PG_OID_BYTEA;
	return DB_OK;
}

static int pg_bind_i64(void *impl, int idx, int64_t v)
{
	char *num = xasprintf("%lld", (long long)v);

	return pg_bind(impl, idx, PG_OID_INT8, num, 0, num);
}

static int pg_bind_double(void *impl, int idx, double v)
{
	/* %.17g reads back as the same double; float8in takes inf and nan too. */
	char *num = xasprintf("%.17g", v);

	return pg_bind(impl, idx, PG_OID_FLOAT8, num, 0, num);
}

static int pg_bind_null(void *impl, int idx)
{
	return pg_bind(impl, idx, 0, NULL, 0, NULL);
}

/* v (len bytes) as `own` says: *owned is what the statement frees. A copy
 * ends with a NUL, for a text. */
static const char *pg_hold(const void *v, size_t len, enum db_own own, void **owned)
{
	*owned = own == DB_OWNED ? (void *)v : NULL;
	if (own == DB_COPY) {
		*owned = xmalloc(len + 1);
		memcpy(*owned, v, len);
		((char *)*owned)[len] = '\0';
	}
	return *owned != NULL ? *owned : v;
}

/* A NULL pointer binds NULL, text or blob, as in SQLite. */
static int pg_bind_text(void *impl, int idx, const char *text, enum db_own own)
{
	void *owned = NULL;
	const char *v = text != NULL ? pg_hold(text, strlen(text), own, &owned) : NULL;

	return pg_bind(impl, idx, PG_OID_TEXT, v, 0, owned);
}

static int pg_bind_blob(void *impl, int idx, void *p, size_t n, enum db_own own)
{
	struct pg_stmt *s = impl;
	void *owned = NULL;
	const char *v;

	if (n > (size_t)INT32_MAX) {
		if (own == DB_OWNED)
			free(p);
		return pg_error_set(s->ps_conn, PG_STATE_CLIENT, "a blob of %zu bytes is too big", n);
	}
	v = p != NULL ? pg_hold(p, n, own, &owned) : NULL;
	return pg_bind(s, idx, PG_OID_BYTEA, v, (int)n, owned);
}

/* Whether the named statement takes this run's bindings: every value of the
 * type it was prepared with (a NULL fits any). */
static int pg_types_fit(const struct pg_stmt *s)
{
	for (int i = 0; i < s->ps_nparams; i++)
		if (s->ps_types[i] != 0 && s->ps_types[i] != s->ps_prepared[i])
			return 0;
	return 1;
}

/* Makes sure s has a named statement for this run's types: 0, or -1 with
 * the error kept. */
static int pg_prepare_named(struct pg_stmt *s)
{
	struct pg_conn *c = s->ps_conn;
	char name[sizeof(s->ps_name)];
	PGresult *res;

	if (s->ps_name[0] != '\0' && s->ps_gen == c->pc_generation && pg_types_fit(s))
		return 0;
	pg_forget(s);
	snprintf(name, sizeof(name), "bbb_%llu", ++c->pc_names);
	res = pg_trip(c, PQprepare(c->pc_conn, name, s->ps_sql, s->ps_nparams, s->ps_types));
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		pg_error_from(c, res);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	memcpy(s->ps_prepared, s->ps_types, (size_t)s->ps_nparams * sizeof(*s->ps_types));
	memcpy(s->ps_name, name, sizeof(name));
	s->ps_gen = c->pc_generation;
	return 0;
}

static int pg_next_row(struct pg_stmt *s)
{
	int rows = PQntuples(s->ps_res);

	pg_blobs_clear(s);
	if (s->ps_row < rows)
		s->ps_row++;
	return s->ps_row < rows ? DB_ROW : DB_DONE;
}

/* The first step: runs the statement and keeps its whole result. */
static int pg_run(struct pg_stmt *s)
{
	struct pg_conn *c = s->ps_conn;

	s->ps_ran = 1;
	if (pg_call_begin(c, 0) != 0)
		return s->ps_rc = PG_ERROR;
	if (!s->ps_keep)
		s->ps_res = pg_trip(c, PQexecParams(c->pc_conn, s->ps_sql, s->ps_nparams, s->ps_types, s->ps_values,
						    s->ps_lengths, s->ps_formats, 0));
	else if (pg_prepare_named(s) == 0)
		s->ps_res = pg_trip(c, PQexecPrepared(c->pc_conn, s->ps_name, s->ps_nparams, s->ps_values,
						      s->ps_lengths, s->ps_formats, 0));
	else
		return s->ps_rc = PG_ERROR;
	if ((s->ps_res = pg_call_end(c, s->ps_res)) == NULL)
		return s->ps_rc = PG_ERROR;
	return pg_next_row(s);
}

static int pg_step(void *impl)
{
	struct pg_stmt *s = impl;

	if (!s->ps_ran)
		return pg_run(s);
	if (s->ps_rc != DB_OK)
		return s->ps_rc;
	return pg_next_row(s);
}

/* ---- columns */

/* The text of col in the current row; NULL for SQL NULL, no row or no such
 * column. */
static const char *pg_col_text(void *impl, int col)
{
	struct pg_stmt *s = impl;

	if (s->ps_res == NULL || s->ps_row < 0 || s->ps_row >= PQntuples(s->ps_res) || col < 0 ||
	    col >= PQnfields(s->ps_res) || PQgetisnull(s->ps_res, s->ps_row, col))
		return NULL;
	return PQgetvalue(s->ps_res, s->ps_row, col);
}

static double pg_col_double(void *impl, int col)
{
	struct pg_stmt *s = impl;
	const char *v = pg_col_text(s, col);

	if (v == NULL)
		return 0;
	if (PQftype(s->ps_res, col) == PG_OID_BOOL)
		return v[0] == 't';
	return strtod(v, NULL);
}

static int64_t pg_col_i64(void *impl, int col)
{
	struct pg_stmt *s = impl;
	const char *v = pg_col_text(s, col);

	if (v == NULL)
		return 0;
	return PQftype(s->ps_res, col) == PG_OID_BOOL ? v[0] == 't' : db_pg_parse_i64(v);
}

/* The bytes of col: a bytea unescaped (kept until the next step or the
 * reset), anything else its text. */
static const void *pg_blob(struct pg_stmt *s, int col, size_t *n)
{
	const char *v = pg_col_text(s, col);
	struct pg_blob *b;

	*n = 0;
	if (v == NULL)
		return NULL;
	if (PQftype(s->ps_res, col) != PG_OID_BYTEA) {
		*n = (size_t)PQgetlength(s->ps_res, s->ps_row, col);
		return v;
	}
	if (s->ps_blobs == NULL)
		s->ps_blobs = xcalloc((size_t)PQnfields(s->ps_res), sizeof(*s->ps_blobs));
	b = &s->ps_blobs[col];
	if (b->pb_bytes == NULL) {
		b->pb_bytes = PQunescapeBytea((const unsigned char *)v, &b->pb_len);
		if (b->pb_bytes == NULL)
			xalloc_oom(strlen(v) / 2);
	}
	*n = b->pb_len;
	return b->pb_bytes;
}

static const void *pg_col_blob(void *impl, int col)
{
	size_t n;

	return pg_blob(impl, col, &n);
}

static size_t pg_col_bytes(void *impl, int col)
{
	size_t n;

	pg_blob(impl, col, &n);
	return n;
}

static int pg_col_is_null(void *impl, int col)
{
	return pg_col_text(impl, col) == NULL;
}

/* ---- the connection */

static int pg_exec(struct db *db, const char *sql)
{
	struct pg_conn *c = db->db_impl;
	PGresult *res;

	/* No session (a deferred one not started, or the transaction lost
	 * with it): nothing to roll back. */
	if (PQstatus(c->pc_conn) != CONNECTION_OK && strcmp(sql, "ROLLBACK") == 0) {
		c->pc_in_tx = 0;
		return DB_OK;
	}
	if (pg_call_begin(c, strncmp(sql, "BEGIN", 5) == 0) != 0 ||
	    (res = pg_call_end(c, pg_trip(c, PQexec(c->pc_conn, sql)))) == NULL)
		return PG_ERROR;
	PQclear(res);
	return DB_OK;
}

static int pg_in_transaction(struct db *db)
{
	PGTransactionStatusType ts = PQtransactionStatus(((struct pg_conn *)db->db_impl)->pc_conn);

	/* INERROR (a statement failed; ROLLBACK [TO] ends it) is a transaction
	 * still open. UNKNOWN, a lost connection, is none: the server rolled it
	 * back when the session ended, and the writer must hear it was lost. */
	return ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR || ts == PQTRANS_ACTIVE;
}

static const char *pg_sql(void *impl)
{
	return ((struct pg_stmt *)impl)->ps_sql;
}

static int64_t pg_changes(struct db *db)
{
	return ((struct pg_conn *)db->db_impl)->pc_changes;
}

static const char *pg_errmsg(struct db *db)
{
	return ((struct pg_conn *)db->db_impl)->pc_msg;
}

static int pg_errcode(struct db *db)
{
	return db_pg_errcode(((struct pg_conn *)db->db_impl)->pc_state);
}

static int pg_fail(bbb_status *st, struct db *db, int rc, const char *what)
{
	struct pg_conn *c = db != NULL ? db->db_impl : NULL;

	if (c == NULL || c->pc_state[0] == '\0')
		return status_fail(st, "INTERNAL_ERROR", "%s: failed (%d) without a PostgreSQL error", what, rc);
	return status_fail(st, db_pg_reason(c->pc_state), "%s: %s", what, c->pc_msg);
}

static void pg_close(struct db *db)
{
	struct pg_conn *c = db->db_impl;

	PQfinish(c->pc_conn);
	dbuf_free(&c->pc_stale);
	free(c->pc_session);
	free(c->pc_conninfo);
	free(c);
}

static const struct db_driver pg_driver = {
	.dr_kind = DB_POSTGRES,
	.dr_prepare = pg_prepare,
	.dr_finalize = pg_finalize,
	.dr_reset = pg_reset,
	.dr_bind_i64 = pg_bind_i64,
	.dr_bind_double = pg_bind_double,
	.dr_bind_null = pg_bind_null,
	.dr_bind_text = pg_bind_text,
	.dr_bind_blob = pg_bind_blob,
	.dr_step = pg_step,
	.dr_col_i64 = pg_col_i64,
	.dr_col_double = pg_col_double,
	.dr_col_text = pg_col_text,
	.dr_col_blob = pg_col_blob,
	.dr_col_bytes = pg_col_bytes,
	.dr_col_is_null = pg_col_is_null,
	.dr_exec = pg_exec,
	.dr_in_transaction = pg_in_transaction,
	.dr_changes = pg_changes,
	.dr_sql = pg_sql,
	.dr_errmsg = pg_errmsg,
	.dr_errcode = pg_errcode,
	.dr_fail = pg_fail,
	.dr_close = pg_close,
};

/* The server's warnings go to our log, not to libpq's stderr. */
static void pg_notice(void *arg, const char *message)
{
	char line[PG_MSG_MAX];

	(void)arg;
	db_pg_one_line(line, sizeof(line), message);
	log_warn("store", "PostgreSQL: %s", line);
}

static int pg_session_start(struct pg_conn *c, bbb_status *st)
{
	struct db tmp = {.db_drv = &pg_driver, .db_impl = c};
	PGresult *res;

	PQsetNoticeProcessor(c->pc_conn, pg_notice, NULL);
	for (int i = 0; i < 2; i++) {
		const char *sql = i == 0 ? PG_SESSION_SQL : c->pc_session;

		if (sql == NULL)
			break;
		if (pg_call_begin(c, 1) != 0 || (res = pg_call_end(c, pg_trip(c, PQexec(c->pc_conn, sql)))) == NULL)
			return pg_fail(st, &tmp, PG_ERROR, "cannot set up the PostgreSQL session");
		PQclear(res);
	}
	return 0;
}

/* Connects with our defaults for a network that fails quietly, each
 * overridden by the connection string: a connection attempt gives up after
 * 10 s (unless PGCONNECT_TIMEOUT says otherwise), an idle session whose peer
 * went away is found within a minute (TCP keepalives), and a request the
 * database does not acknowledge within 30 s fails (tcp_user_timeout) instead
 * of holding the writer until the kernel gives up, minutes later. */
static PGconn *pg_connect(const char *conninfo)
{
	const char *keys[] = {"keepalives_idle",
			      "keepalives_interval",
			      "keepalives_count",
			      "tcp_user_timeout",
			      "connect_timeout",
			      "dbname",
			      NULL};
	const char *values[] = {"30", "10", "3", "30000", "10", conninfo != NULL ? conninfo : "", NULL};
	PQconninfoOption *defaults = PQconndefaults(); /* libpq's own, the environment's (PG*) applied */

	for (PQconninfoOption *o = defaults; o != NULL && o->keyword != NULL; o++)
		if (strcmp(o->keyword, "connect_timeout") == 0 && o->val != NULL && o->val[0] != '\0')
			values[4] = ""; /* ignored: PGCONNECT_TIMEOUT's stands */
	PQconninfoFree(defaults);
	/* expand_dbname: the connection string is read in dbname's place, and
	 * what it sets wins over the keywords before it. */
	return PQconnectdbParams(keys, values, 1);
}

struct db *store_pg_open_deferred(const char *conninfo)
{
	struct pg_conn *c = xcalloc(1, sizeof(*c));

	c->pc_conninfo = xstrdup(conninfo != NULL ? conninfo : "");
	c->pc_trips = pg_trips_series();
	dbuf_init(&c->pc_stale, PG_STALE_MAX);
	return db_wrap(&pg_driver, c);
}

int store_pg_open(const char *conninfo, struct db **out, bbb_status *st)
{
	struct db *db = store_pg_open_deferred(conninfo);
	struct pg_conn *c = db->db_impl;

	*out = NULL;
	if (pg_reconnect(c, 1) != DB_OK) { /* its first session, now */
		status_fail(st, "DB_UNAVAILABLE", "%s", c->pc_msg);
		store_conn_close(db);
		return -1;
	}
	*out = db;
	return 0;
}

int store_pg_failing(struct db *db)
{
	const struct pg_conn *c = db != NULL && db_kind(db) == DB_POSTGRES ? db->db_impl : NULL;

	return c != NULL && c->pc_conn == NULL && clock_mono_ms() < c->pc_retry_at;
}

int store_pg_configure(struct db *db, const char *sql, bbb_status *st)
{
	struct pg_conn *c = db->db_impl;
	int rc;

	if (db_kind(db) != DB_POSTGRES)
		return status_fail(st, "INTERNAL_ERROR", "store_pg_configure on a connection that is not PostgreSQL's");
	/* A deferred connection runs it when its first session starts. */
	if (c->pc_conn != NULL && (rc = pg_exec(db, sql)) != DB_OK)
		return pg_fail(st, db, rc, "configure the session");
	free(c->pc_session);
	c->pc_session = xstrdup(sql);
	return 0;
}

int store_pg_wait_notify(struct db *db, int wake_fd, int timeout_ms, bbb_status *st)
{
	struct pg_conn *c = db->db_impl;
	int got = 0;

	for (int waited = 0;; waited = 1) {
		PGnotify *n;

		if (PQconsumeInput(c->pc_conn) == 0)
			return status_fail(st, "DB_UNAVAILABLE", "listening for other servers' commits: %s",
					   PQerrorMessage(c->pc_conn));
		while ((n = PQnotifies(c->pc_conn)) != NULL) {
			PQfreemem(n);
			got = 1;
		}
		if (got || waited)
			return got;
		struct pollfd fds[2] = {{.fd = PQsocket(c->pc_conn), .events = POLLIN},
					{.fd = wake_fd, .events = POLLIN}};
		if (fds[0].fd < 0)
			return status_fail(st, "DB_UNAVAILABLE", "listening for other servers' commits: no connection");
		if (poll(fds, wake_fd >= 0 ? 2 : 1, timeout_ms) <= 0 || (fds[1].revents & POLLIN))
			return 0;
	}
}
