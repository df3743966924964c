/*
 * A small process harness for the C integration tests (and the benchmark):
 * runs the real `beebeebrain` binary as a child process on a free loopback
 * port, in a temp dir of its own, and tears everything down afterwards.
 *
 * Life of one server:
 *
 *     struct harness h;
 *     if (harness_start(&h, argv[1], NULL) != 0) ...   temp dir, port, fork/exec,
 *                                                     wait for HealthService/Check
 *     bbb_client *c = harness_client(&h, &st);        a client on h.h_url
 *     ...
 *     int rc = harness_stop(&h);                      SIGTERM, wait: exit status
 *     harness_cleanup(&h);                            stop if needed, rm -r temp dir
 *
 * The server's stdout and stderr go to h.h_log_path inside the temp dir; when
 * a start fails the harness prints that log to stderr, since nothing else
 * would explain why. Environment variables that would change which database,
 * URL or API key the server uses are not passed on to it.
 *
 * A free port is found by binding port 0 and closing the socket again, so
 * another process can take it before the server binds it; harness_start then
 * sees the server exit early and tries again with a fresh port (a few times).
 *
 * Nothing here is thread-safe: start and stop servers from one thread. Clients
 * on a started server may of course be used from many.
 */
#ifndef BBB_TEST_HARNESS_H
#define BBB_TEST_HARNESS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <beebeebrain/client.h>

#define HARNESS_MAX_ARGS 32

struct harness {
	const char *h_bin; /* the beebeebrain binary */
	char h_dir[PATH_MAX]; /* temp dir, "" when none */
	char h_db_path[PATH_MAX]; /* h_dir/bbb.db, "dbname=t_..." (harness_engine_pg), or harness_start_db's */
	int h_own_pg; /* h_db_path is a PostgreSQL database made for this server: dropped by harness_cleanup */
	char h_log_path[PATH_MAX]; /* h_dir/server.log: the server's stdout and stderr */
	char h_url[64]; /* tcp://127.0.0.1:PORT, the RPC URL */
	char h_events_url[64]; /* tcp://127.0.0.1:PORT, the event publish URL */
	char h_http_url[64]; /* http://127.0.0.1:PORT, the HTTP listener */
	int h_port;
	int h_http_port;
	pid_t h_pid; /* 0 when not running */
};

/* Whether BBB_TEST_ENGINE=postgres: each harness_start then makes a fresh
 * database in the PostgreSQL cluster the PG* variables name (ctest runs the
 * integration_pg.* tests inside tests/pg/with_cluster.sh), instead of a file. */
int harness_engine_pg(void);

/* Makes the temp dir and an empty migrated database in it (a brand-new file
 * would get the default project and agent of a first start), picks free ports and starts `bin serve --db --rpc
 * --events --http` plus extra_args (NULL-terminated, may be NULL, e.g. {"--workers",
 * "8", NULL}), then waits until HealthService/Check answers, at most ~10 s.
 * Returns 0 when the server answers; -1 otherwise, with everything it made
 * undone (the temp dir removed) and the reason printed to stderr. */
int harness_start(struct harness *h, const char *bin, const char *const *extra_args);
/* harness_start on the database `db` instead of a file of its own: a
 * PostgreSQL connection string (db_target_kind), migrated first when it is
 * not yet (several servers may share it). NULL: harness_start. */
int harness_start_db(struct harness *h, const char *bin, const char *db, const char *const *extra_args);

/* Sends SIGTERM and waits for the server (at most ~20 s, then SIGKILL).
 * Returns its exit status, 128 + signal when a signal ended it, or -1 when
 * no server was running. The temp dir stays, so the log can still be read. */
int harness_stop(struct harness *h);

/* Stops the server if it still runs (without looking at the status) and
 * removes the temp dir with everything in it. Safe to call twice. */
void harness_cleanup(struct harness *h);

/* A new client on h's RPC URL with timeout_ms per call (0: the library's
 * default). NULL with *st filled when it cannot be opened. */
bbb_client *harness_client(const struct harness *h, uint32_t timeout_ms, bbb_status *st);

/* A TCP port on 127.0.0.1 that was free a moment ago, or -1. */
int harness_free_port(void);

/* Makes a path inside the temp dir: h_dir/name. Returns buf. */
char *harness_path(const struct harness *h, const char *name, char *buf, size_t n);

/* Runs `bin args...` (args NULL-terminated) with $BEEBEEBRAIN_RPC_URL and
 * $BEEBEEBRAIN_DB set to h's, waits for it (at most ~30 s, then SIGKILL) and
 * captures its stdout into out (NUL-terminated, truncated to n - 1 bytes) and
 * its stderr into err (same; err may be NULL). Returns the exit status (128 +
 * signal when killed), or -1 when it could not be run. */
int harness_run_cli(const struct harness *h, const char *const *args, char *out, size_t n, char *err, size_t err_n);

/* Prints the server's log to stderr, e.g. after a failed check. */
void harness_dump_log(const struct harness *h);

#endif
