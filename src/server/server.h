/*
 * `beebeebrain serve`: start-up, the run loop and shutdown of the server.
 *
 * Start-up order: take the database lock file, check and migrate the schema
 * (backing the database up first when it already holds data), open the store
 * (writer thread), start the RPC workers and listeners. Then wait for SIGTERM
 * or SIGINT, and stop in reverse: RPC first (in-flight calls finish), then
 * the writer (queued writes commit), then the lock.
 */
#ifndef BBB_SERVER_H
#define BBB_SERVER_H

#include <stdint.h>

#define SERVER_MAX_URLS 16

struct server_config {
	const char *db_path;
	const char *rpc_urls[SERVER_MAX_URLS];
	int n_rpc_urls;
	const char *event_urls[SERVER_MAX_URLS];
	int n_event_urls;
	int workers; /* 0: 2 x cores, at least 4 */
	int autorun;
	int durability_full;
	int fault_injection;
	const char *api_key; /* NULL or "": no authentication */
	int64_t event_retention_ms; /* 0: 30 days */
	int busy_timeout_ms; /* SQLite busy timeout; $BEEBEEBRAIN_BUSY_TIMEOUT_MS, default 5000 */
};

/* Defaults and environment ($BEEBEEBRAIN_DB, $BEEBEEBRAIN_API_KEY,
 * $BEEBEEBRAIN_BUSY_TIMEOUT_MS). */
void server_config_defaults(struct server_config *c);
/* Runs the server until a signal; returns the process exit status. */
int server_run(const struct server_config *c);

#endif
