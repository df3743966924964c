/* The server's life cycle (see server.h). */
#include "server/server.h"
#include "server/server_row.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "common/clock.h"
#include "common/dbuf.h"
#include "common/job_thread.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/status.h"
#include "domain/agent_rules.h"
#include "beebeebrain/v1/events.pb-c.h"
#include "common/redact.h"
#include "events/alerts.h"
#include "events/audit.h"
#include "events/publisher.h"
#include "events/retention.h"
#include "http/http_server.h"
#include "rpc/transport.h"
#include "rpc/work_pool.h"
#include "runtime/runtime.h"
#include "store/agent_store.h"
#include "store/event_store.h"
#include "store/project_store.h"
#include "services/reply_share.h"
#include "services/services.h"
#include "store/backup.h"
#include "store/lockfile.h"
#include "store/migrate.h"
#include "store/store.h"
#include "store/store_metrics.h"

/* Requests: the RpcRequest envelope, as the client library checks it. */
#define SERVER_RECV_MAX BBB_REQUEST_MAX_BYTES

/* Names of environment variables that hold keys, besides the ones we read. */
static int server_secret_name(const char *name, size_t len)
{
	static const char *const suffixes[] = {"_API_KEY", "_TOKEN", "_SECRET", "_PASSWORD", "_ACCESS_KEY"};

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		size_t sl = strlen(suffixes[i]);
		if (len > sl && strncmp(name + len - sl, suffixes[i], sl) == 0)
			return 1;
	}
	return 0;
}

/* Every configured secret goes to the redactor before any thread starts:
 * the API key, the provider keys, and any other *_API_KEY, *_TOKEN,
 * *_SECRET, *_PASSWORD, *_ACCESS_KEY of the environment (a provider may be
 * handed one later). Values are never logged; the count is. */
static void server_register_secrets(const struct config *c)
{
	extern char **environ;
	int short_ones = 0;

	if (!redact_add_secret(c->cf_api_key) && c->cf_api_key != NULL && strlen(c->cf_api_key) < REDACT_SECRET_MIN)
		short_ones++;
	for (char **e = environ; e != NULL && *e != NULL; e++) {
		const char *eq = strchr(*e, '=');
		if (eq == NULL || !server_secret_name(*e, (size_t)(eq - *e)) || eq[1] == '\0')
			continue;
		if (!redact_add_secret(eq + 1) && strlen(eq + 1) < REDACT_SECRET_MIN)
			short_ones++;
	}
	log_info("server", "redacting %zu configured secret value(s)%s", redact_secret_count(),
		 short_ones > 0 ? "; values under 8 characters are not matched as values (too short to tell from words)"
				: "");
}

/* BEEBEEBRAIN_* variables that are no setting: a typo reads as unset, so say so. */
static void server_warn_unknown_variables(void)
{
	extern char **environ;
	static const char prefix[] = "BEEBEEBRAIN_";

	for (char **e = environ; e != NULL && *e != NULL; e++) {
		const char *eq = strchr(*e, '=');
		if (eq == NULL || strncmp(*e, prefix, sizeof(prefix) - 1) != 0 ||
		    config_is_known_variable(*e, (size_t)(eq - *e)))
			continue;
		log_warn("config", "%.*s is not a setting of beebeebrain: ignored (see serve --help)", (int)(eq - *e),
			 *e);
	}
}

/* The runtime's part of the configuration. */
/* A new id for this server process: 64 random bits in hex. Unique among the
 * servers of one database without coordination (a clash is 2^-64 per pair). */
static void server_new_id(char out[SERVER_ID_LEN + 1])
{
	uint64_t v = 0;

	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		v = (uint64_t)clock_now_ms() * 6364136223846793005u ^ (uint64_t)getpid();
	snprintf(out, SERVER_ID_LEN + 1, "%016llx", (unsigned long long)v);
}

static void server_runtime_options(const struct config *c, const struct service_env *env, struct runtime_options *o)
{
	memset(o, 0, sizeof(*o));
	o->ro_server_id = env->se_server_id;
	o->ro_autorun = c->cf_autorun;
	o->ro_paused = c->cf_runtime_off;
	o->ro_llm_timeout_ms = c->cf_llm_timeout_s * 1000;
	o->ro_max_in_flight = (int)c->cf_max_in_flight;
	o->ro_retry.rp_max_attempts = (int)c->cf_retry_max_attempts;
	o->ro_retry.rp_base_ms = c->cf_retry_base_ms;
	o->ro_retry.rp_max_ms = c->cf_retry_max_ms;
	o->ro_breaker.bc_cooldown_ms = c->cf_breaker_cooldown_ms;
	o->ro_release_spread_ms = c->cf_release_spread_ms;
	o->ro_detector_interval_ms = c->cf_detector_interval_ms;
	o->ro_idle_timeout_ms = c->cf_idle_timeout_s * 1000;
	o->ro_lease_ms = c->cf_lease_ms;
	o->ro_cost_threshold_micros = c->cf_cost_threshold_micros;
	o->ro_pricing_path = c->cf_pricing_path;
	o->ro_endpoints[0] =
		(struct runtime_endpoint){"anthropic", {c->cf_anthropic_base_url, c->cf_anthropic_api_key}};
	o->ro_endpoints[1] = (struct runtime_endpoint){"openai", {c->cf_openai_base_url, c->cf_openai_api_key}};
	/* The CLI is where claude_code calls go: its breaker is keyed by it. */
	o->ro_endpoints[2] = (struct runtime_endpoint){"claude_code", {c->cf_claude_cli, NULL}};
	o->ro_n_endpoints = 3;
	o->ro_claude.rc_cli = c->cf_claude_cli;
	o->ro_claude.rc_settings = c->cf_claude_settings;
	o->ro_claude.rc_env = c->cf_claude_env;
	o->ro_claude.rc_search_path = c->cf_search_path;
}

/* The workers (one pool for the RPC and HTTP listeners) run writes and
 * calls that may wait; reads over nng are answered on nng's own threads
 * (rpc/transport.h). A worker waits in store_write
 * while the writer commits, so the workers bound how many writes one
 * group commit can carry, whatever the cores: 8 clients writing at once
 * commit together with 8 (measured: twice the writes per second of 4;
 * 16 was no better within the noise). */
#define SERVER_DEFAULT_WORKERS 8

/* Brings the schema to the binary's latest version, backing up first. */
static int server_migrate(const struct config *c, int *fresh, bbb_status *st)
{
	struct migration_set set; /* the engine's, once the connection is open */
	struct migrate_state state;
	struct db *db;
	char shown[512];
	int applied = 0, rc = -1;

	db_target_display(c->cf_db_path, shown, sizeof(shown));
	if (store_conn_open(c->cf_db_path, 0, c->cf_durability == CONFIG_DURABILITY_FULL, 5000, &db, st) != 0)
		return -1;
	/* Before anything reads the schema or writes: a corrupt file is not
	 * migrated, backed up or served, and a read-only one is refused here,
	 * not at the first write. */
	int64_t t0 = clock_mono_ms();
	set = migrate_builtin_for(db);
	if (store_check_usable(db, c->cf_db_path, st) != 0)
		goto out;
	if (db_kind(db) == DB_SQLITE)
		log_info("store", "%s passed PRAGMA quick_check in %lld ms", shown, (long long)(clock_mono_ms() - t0));
	if (migrate_check(db, &set, &state, st) != 0)
		goto out;
	*fresh = state.current == 0;
	/* A rollback sticks: the schema `migrate down` left is the operator's,
	 * not ours to re-apply (store/migrate.h, the hold). */
	if (state.held && !c->cf_migrate) {
		status_fail(st, "SCHEMA_HELD",
			    "database %s is held at schema version %d by `migrate down` (this binary's is %d, %d "
			    "migration(s) pending); apply them with `beebeebrain migrate up --db %s`, or start with "
			    "`beebeebrain serve --migrate` to apply them after the automatic backup",
			    shown, state.held_version, state.latest, state.pending, shown);
		goto out;
	}
	if (state.held)
		log_warn("store",
			 "schema held at version %d by `migrate down`; --migrate given: applying %d migration(s)",
			 state.held_version, state.pending);
	/* PostgreSQL is backed up with its own tools (docs/runbook.md), before
	 * an upgrade as always. */
	if (state.pending > 0 && state.current > 0 && db_kind(db) == DB_POSTGRES)
		log_warn("store", "%d migration(s) to apply to %s: no automatic backup on PostgreSQL (pg_dump first)",
			 state.pending, shown);
	if (state.pending > 0 && state.current > 0 && db_kind(db) == DB_SQLITE) {
		char path[4096], integrity[64];
		int64_t size;
		backup_default_path(c->cf_db_path, clock_now_ms(), path, sizeof(path));
		if (backup_run(db_sqlite(db), path, &size, integrity, sizeof(integrity), st) != 0)
			goto out;
		log_info("store", "backed up %s to %s (%lld bytes) before migrating", c->cf_db_path, path,
			 (long long)size);
	}
	if (migrate_up(db, &set, 0, &applied, st) != 0)
		goto out;
	if (applied > 0)
		log_info("store", "applied %d migration(s); schema version %d", applied, state.latest);
	rc = 0;
out:
	store_conn_close(db);
	return rc;
}

/* Store lock hook: write-lock contention (SQLite's file lock; on PostgreSQL
 * the writers' lock or a row lock) raises DB_LOCKED, and a minute without it
 * resolves the alert (docs/events.md, Alerts). */
static int server_on_lock(void *arg, struct db *db, enum store_lock_event ev, unsigned failures)
{
	const struct config *c = arg;
	char key[512], message[512];
	bbb_status st;

	status_clear(&st);
	char shown[480];

	db_target_display(c->cf_db_path, shown, sizeof(shown));
	snprintf(key, sizeof(key), "DB_LOCKED:%s", shown);
	if (ev == STORE_LOCK_RECOVERED)
		return alert_resolve(db, key, "", NULL, &st);
	int pg = db_kind(db) == DB_POSTGRES;
	snprintf(message, sizeof(message),
		 "%u write group(s) could not get %s within %d ms: another %s held it. "
		 "Those writes were answered UNAVAILABLE DB_LOCKED and not applied; acknowledged writes are safe.",
		 failures, pg ? "the writers' lock or a row lock" : "the SQLite write lock", (int)c->cf_busy_timeout_ms,
		 pg ? "session" : "connection");
	struct alert_spec spec = {
		.as_code = "DB_LOCKED",
		.as_severity = BEEBEEBRAIN__V1__SEVERITY__SEVERITY_ERROR,
		.as_dedup_key = key,
		.as_title = pg ? "PostgreSQL lock contention" : "SQLite write lock contention",
		.as_message = message,
	};
	log_warn("store", "%s", message);
	return alert_raise(db, &spec, NULL, NULL, &st);
}

static int server_exit_code;

static int server_watchdog_ms;

static void *server_watchdog_main(void *arg)
{
	int ms = server_watchdog_ms;

	pthread_setname_np(pthread_self(), "bbb:watchdog");

	(void)arg;
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0)
		;
	log_warn("server", "closing the nng sockets took over %d ms (nng 1.5.2 close race); exiting anyway", ms);
	_exit(server_exit_code);
}

/* Ends the process with status `code` if the rest of shutdown takes longer
 * than ms. Only armed once all data is committed. */
static void server_arm_exit_watchdog(int ms, int code)
{
	pthread_t t;

	server_exit_code = code;
	server_watchdog_ms = ms;
	if (pthread_create(&t, NULL, server_watchdog_main, NULL) == 0)
		pthread_detach(t);
}

static int server_fail(const char *what, const bbb_status *st)
{
	log_error("server", "%s: %s %s", what, st->reason, st->message);
	fprintf(stderr, "error: %s %s: %s\n", bbb_code_name(st->code), st->reason, st->message);
	return 1;
}

/* Everything a running server holds, torn down in reverse by server_down. */
struct server {
	struct service_env sv_env;
	struct lockfile sv_lock;
	int sv_locked;
	struct publisher *sv_pub;
	struct retention *sv_ret;
	struct server_row *sv_row; /* this server's row in `servers` and its heartbeat */
	struct runtime *_Atomic sv_rt; /* read by the commit hook on the writer thread */
	struct rpc_dispatcher *sv_d;
	struct svc_replies *sv_replies; /* PostgreSQL: the reply cache shared with the other servers */
	struct work_pool *sv_pool; /* the workers and the waiter of both listeners */
	/* Background jobs: "bbb:events" runs the publisher and the HTTP stream
	 * hub (they read and send, never wait on the writer); "bbb:store-jobs"
	 * the audit trail and retention (they wait for their commits, a bounded
	 * batch at a time) and the WAL checkpointer. Stopped last: every job is
	 * off them by then. */
	struct job_thread *sv_events_jt, *sv_store_jt;
	struct rpc_server *_Atomic sv_rpc; /* read by the commit hook too */
	struct http_server *_Atomic sv_http; /* and this one */
	/* The TLS listeners' certificate and key (PEM, NULL: none) and the same
	 * as nng's configuration; freed after every listener closed. */
	char *sv_tls_cert, *sv_tls_key;
	nng_tls_config *sv_tls;
};

/* Commit hook: the publisher sends new events, the runtime looks again. */
/* The commit hook once the listeners and their worker pool are gone
 * (server_down): the publisher and the runtime still hear of every commit. */
static void server_on_commit_stopping(void *arg, int64_t last_event_id)
{
	struct server *sv = arg;
	struct runtime *rt = atomic_load(&sv->sv_rt);

	if (sv->sv_pub != NULL) /* a start that failed before the publisher */
		publisher_notify(sv->sv_pub, last_event_id);
	if (rt != NULL)
		runtime_notify(rt, last_event_id);
}

static void server_on_commit(void *arg, int64_t last_event_id)
{
	struct server *sv = arg;

	server_on_commit_stopping(sv, last_event_id);
	rpc_server_poke(atomic_load(&sv->sv_rpc)); /* deferred calls (RunTask with wait) look again */
	http_server_poke(atomic_load(&sv->sv_http));
}

/* The scrape-time families of the server's parts (docs/metrics.md): the
 * store's, read with the scraping HTTP worker's connection (ctx), the
 * runtime's and the publisher's. */
/* Event subscribers by transport: the pub socket's connections and the
 * HTTP streams (SSE and Connect Subscribe). */
static void server_collect_subscribers(struct server *sv, struct dbuf *out)
{
	static const char name[] = "beebeebrain_events_subscribers";
	static const char *const label[] = {"transport"};
	int64_t nng = publisher_subscribers(sv->sv_pub);

	metrics_write_family(out, name, "Event subscribers connected right now, by transport.", METRICS_GAUGE);
	if (nng >= 0)
		metrics_write_sample(out, name, label, (const char *const[]){"nng"}, 1, (double)nng);
	metrics_write_sample(out, name, label, (const char *const[]){"http"}, 1,
			     (double)http_server_streams(atomic_load(&sv->sv_http)));
}

static void server_collect(void *arg, void *ctx, struct dbuf *out)
{
	struct server *sv = arg;
	const struct service_worker *w = ctx;
	struct runtime *rt = atomic_load(&sv->sv_rt);

	store_metrics_collect(sv->sv_env.se_store, w->sw_reader, out);
	if (rt != NULL)
		runtime_metrics_collect(rt, out);
	server_collect_subscribers(sv, out);
}

/* GET /metrics: the process's registry, on an HTTP worker. */
static void server_metrics(void *env, void *worker, struct dbuf *out)
{
	(void)env;
	metrics_render(metrics_default(), worker, out);
}

/* A new database gets project "default" (root ./workspace) and agent
 * "assistant" on the echo provider, so the first run needs no key. */
static int server_seed_write(struct db *db, void *arg, bbb_status *st)
{
	const char *root = arg;
	Beebeebrain__V1__Project p = BEEBEEBRAIN__V1__PROJECT__INIT;
	Beebeebrain__V1__Agent ag = BEEBEEBRAIN__V1__AGENT__INIT;

	p.name = "default";
	p.root_path = (char *)root;
	if (store_project_insert(db, &p, st) != 0)
		return -1;
	ag.project_id = p.id;
	ag.name = "assistant";
	ag.role = "assistant";
	ag.model_provider = "echo";
	ag.model_name = "echo";
	ag.persona_prompt = "You are a helpful assistant working on the project's tasks.";
	ag.status = BEEBEEBRAIN__V1__AGENT_STATUS__AGENT_STATUS_ACTIVE;
	ag.max_concurrency = AGENT_DEFAULT_MAX_CONCURRENCY;
	return store_agent_insert(db, &ag, st);
}

static int server_seed(struct server *sv, bbb_status *st)
{
	char cwd[4096], root[4200];

	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return status_fail(st, "INTERNAL_ERROR", "cannot read the working directory");
	snprintf(root, sizeof(root), "%s/workspace", cwd);
	if (mkdir(root, 0755) != 0 && errno != EEXIST)
		return status_fail(st, "INTERNAL_ERROR", "cannot create %s: %s", root, strerror(errno));
	if (store_write(sv->sv_env.se_store, server_seed_write, root, 0, st) != 0)
		return -1;
	log_info("server", "new database: created project 'default' (root %s) and agent 'assistant' (echo)", root);
	return 0;
}

/* This server's row in `servers`: its id, its RPC URLs, its version and pid,
 * renewed by the heartbeat job on the store-jobs thread. */
static int server_register(struct server *sv, const struct config *c, bbb_status *st)
{
	struct dbuf address;
	int rc;

	dbuf_init(&address, 4096);
	for (size_t i = 0; i < c->cf_n_rpc_urls; i++)
		(void)dbuf_printf(&address, "%s%s", i > 0 ? "," : "", c->cf_rpc_urls[i]);
	struct store_server_info info = {
		.srv_id = sv->sv_env.se_server_id,
		.srv_address = dbuf_str(&address),
		.srv_version = BBB_VERSION,
		.srv_pid = (int64_t)getpid(),
	};
	rc = server_row_start(&sv->sv_row, sv->sv_env.se_store, &info, sv->sv_store_jt, st);
	dbuf_free(&address);
	return rc;
}

/* Stops whatever was started: durable state first (no call served after the
 * quiesce, the runtime interrupts its calls, the writer commits what is
 * queued), then the sockets, under a watchdog since nng 1.5.2's close can
 * hang. */
static void server_down(struct server *sv, int code)
{
	struct rpc_server *rpc = atomic_load(&sv->sv_rpc);
	struct http_server *http = atomic_load(&sv->sv_http);
	struct runtime *rt;

	if (rpc != NULL)
		rpc_server_quiesce(rpc);
	http_server_quiesce(http); /* no scrape after this */
	/* The listeners' pokes reach the pool, freed next, and the writer still
	 * commits after that (the audit trail's last rows, the runs the runtime
	 * interrupts): from here on a commit pokes no listener. The store
	 * returns once a call of the old hook is over. */
	if (sv->sv_env.se_store != NULL)
		store_set_commit_hook(sv->sv_env.se_store, server_on_commit_stopping, sv);
	work_pool_stop(sv->sv_pool); /* both listeners drained their calls */
	sv->sv_pool = NULL;
	svc_replies_stop(sv->sv_replies); /* every claim was stored or let go with its call */
	sv->sv_replies = NULL;
	metrics_remove_collector(metrics_default(), server_collect, sv);
	metrics_remove_collector(metrics_default(), metrics_collect_process, NULL);
	audit_trail_stop(sv->sv_env.se_audit); /* no call comes any more: write what is pending */
	sv->sv_env.se_audit = NULL;
	rt = atomic_exchange(&sv->sv_rt, NULL);
	/* Likewise for the runtime: no call of the hook still holds rt. */
	if (sv->sv_env.se_store != NULL)
		store_set_commit_hook(sv->sv_env.se_store, server_on_commit_stopping, sv);
	runtime_stop(rt);
	/* Stopped once its runs are handed back (interrupted), never earlier. */
	server_row_stop(sv->sv_row);
	sv->sv_row = NULL;
	retention_stop(sv->sv_ret);
	store_close(sv->sv_env.se_store);
	log_info("server", "stopped: every acknowledged write is committed");
	server_arm_exit_watchdog(3000, code);
	publisher_stop(sv->sv_pub); /* sends what was committed, then closes */
	atomic_store(&sv->sv_rpc, NULL);
	atomic_store(&sv->sv_http, NULL);
	rpc_server_close(rpc); /* its sockets (the read connections closed at the quiesce) */
	http_server_close(http);
	job_thread_stop(sv->sv_events_jt);
	job_thread_stop(sv->sv_store_jt);
	rpc_dispatcher_free(sv->sv_d);
	/* Last: closing the locked descriptor of the database drops this
	 * process's fcntl locks on it, SQLite's included (lockfile.h). If the
	 * watchdog ends the process first, the kernel drops the lock then. */
	if (sv->sv_locked)
		lockfile_release(&sv->sv_lock);
	if (sv->sv_tls != NULL)
		nng_tls_config_free(sv->sv_tls);
	free(sv->sv_tls_cert);
	free(sv->sv_tls_key);
}

/* The certificate and key of the TLS listeners, read once (config.h), and
 * nng's server configuration of them. Nothing when none is set. */
static int server_tls_load(struct server *sv, const struct config *c, bbb_status *st)
{
	int rv;

	if (config_read_tls(c, &sv->sv_tls_cert, &sv->sv_tls_key, st) != 0)
		return -1;
	if (sv->sv_tls_cert == NULL)
		return 0;
	if ((rv = nng_tls_config_alloc(&sv->sv_tls, NNG_TLS_MODE_SERVER)) != 0)
		return status_fail(st, "INTERNAL_ERROR", "cannot set up TLS: %s", nng_strerror(rv));
	if ((rv = nng_tls_config_own_cert(sv->sv_tls, sv->sv_tls_cert, sv->sv_tls_key, NULL)) != 0)
		return status_violation(st, "--tls-cert",
					"and --tls-key are not a certificate and its unencrypted key: %s",
					nng_strerror(rv));
	return 0;
}

/* The soft limit of open files raised to the hard one: every HTTP connection
 * and event stream is a descriptor (up to HTTP_CONNECTIONS_MAX per listener),
 * and the usual soft limit of 1024 would be reached before the server's own
 * limits. */
static void server_raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		log_warn("server", "cannot raise the open files limit to %llu: %s", (unsigned long long)rl.rlim_max,
			 strerror(errno));
}

int server_run(const struct config *c)
{
	static struct server sv; /* one per process; static keeps it off the stack of a long-lived frame */
	struct rpc_server_options ro = {0};
	struct publisher_options po = {0};
	struct runtime_options rto = {0};
	struct service_env *env = &sv.sv_env;
	struct runtime *rt = NULL;
	sigset_t sigs;
	bbb_status st;
	int sig = 0, fresh = 0;

	log_configure((enum log_level)c->cf_log_level, c->cf_log_format == CONFIG_LOG_TEXT);
	server_warn_unknown_variables();
	server_register_secrets(c);
	status_clear(&st);
	/* Signals are taken by sigwait below; every thread inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	server_raise_fd_limit();

	env->se_db_path = c->cf_db_path;
	server_new_id(env->se_server_id);
	env->se_fault_injection = c->cf_fault_injection;
	env->se_started_mono_ms = clock_mono_ms();
	env->se_env_name = c->cf_env_name;
	env->se_run_timeout_s = (int)c->cf_llm_timeout_s;
	/* One server per SQLite file (the lock file); any number on one
	 * PostgreSQL database (docs/scale-out.md). */
	if (db_target_kind(c->cf_db_path) == DB_SQLITE) {
		if (lockfile_acquire(&sv.sv_lock, c->cf_db_path, &st) != 0)
			return server_fail("lock", &st);
		sv.sv_locked = 1;
	}
	if (server_tls_load(&sv, c, &st) != 0)
		goto fail;
	if (server_migrate(c, &fresh, &st) != 0)
		goto fail;
	struct store_options so = {.path = c->cf_db_path,
				   .durability_full = c->cf_durability == CONFIG_DURABILITY_FULL,
				   .busy_timeout_ms = (int)c->cf_busy_timeout_ms};
	if (store_open(&env->se_store, &so, &st) != 0)
		goto fail;

	/* Events: the publisher hears of every commit; retention prunes old ones. */
	po.urls = c->cf_event_urls;
	po.n_urls = c->cf_n_event_urls;
	env->se_event_urls = po.urls;
	env->se_n_event_urls = po.n_urls;
	env->se_retention_ms = c->cf_event_retention_ms;
	env->se_heartbeat_ms = 1000;
	po.heartbeat_ms = env->se_heartbeat_ms;
	po.tls = sv.sv_tls;
	if (job_thread_start(&sv.sv_events_jt, "bbb:events", &st) != 0 ||
	    job_thread_start(&sv.sv_store_jt, "bbb:store-jobs", &st) != 0 ||
	    (db_target_kind(c->cf_db_path) == DB_SQLITE &&
	     store_checkpoint_on(env->se_store, sv.sv_store_jt, &st) != 0))
		goto fail;
	if (publisher_start(&sv.sv_pub, env->se_store, sv.sv_events_jt, &po, &st) != 0)
		goto fail;
	store_set_commit_hook(env->se_store, server_on_commit, &sv);
	store_set_lock_hook(env->se_store, server_on_lock, (void *)c, c->cf_db_locked_quiet_ms);
	if (retention_start(&sv.sv_ret, env->se_store, env->se_retention_ms, sv.sv_store_jt, &st) != 0)
		goto fail;
	if (audit_trail_start(&env->se_audit, env->se_store, AUDIT_DENIAL_WINDOW_MS, sv.sv_store_jt, &st) != 0)
		goto fail;
	if (server_register(&sv, c, &st) != 0)
		goto fail;
	if (fresh && server_seed(&sv, &st) != 0)
		goto fail;

	/* The runtime: recovery of interrupted runs, then the dispatcher. */
	server_runtime_options(c, env, &rto);
	if (runtime_start(&rt, env->se_store, &rto, &st) != 0)
		goto fail;
	atomic_store(&sv.sv_rt, rt);
	env->se_inject_fault = runtime_inject_fault;
	env->se_inject_fault_arg = rt;
	env->se_clear_faults = runtime_clear_faults;
	env->se_runtime_status = runtime_status;
	env->se_runtime_status_arg = rt;
	env->se_reset_breaker = runtime_reset_breaker;

	sv.sv_d = rpc_dispatcher_new(services_all, services_count, c->cf_api_key, env);
	rpc_dispatcher_set_denied_hook(sv.sv_d, svc_audit_denied);
	rpc_dispatcher_set_allowed_hook(sv.sv_d, svc_audit_allowed);
	/* Several servers may answer a retry: their replies meet in the database. */
	if (db_target_kind(c->cf_db_path) == DB_POSTGRES) {
		if (svc_replies_start(&sv.sv_replies, env, c->cf_lease_ms, sv.sv_store_jt, &st) != 0)
			goto fail;
		rpc_dispatcher_set_shared_replies(sv.sv_d, svc_replies_hooks(), sv.sv_replies);
	}
	ro.urls = c->cf_rpc_urls;
	ro.n_urls = c->cf_n_rpc_urls;
	struct work_pool_options wo = {
		.workers = c->cf_workers > 0 ? (int)c->cf_workers : SERVER_DEFAULT_WORKERS,
		.worker_init = services_worker_init,
		.worker_fini = services_worker_fini,
		.worker_ready = services_worker_ready,
		.env = env,
	};
	if (work_pool_start(&sv.sv_pool, &wo, &st) != 0)
		goto fail;
	ro.pool = sv.sv_pool;
	ro.recv_max = SERVER_RECV_MAX;
	ro.tls = sv.sv_tls;
	ro.worker_init = services_worker_init;
	ro.worker_fini = services_worker_fini;
	ro.env = env;
	/* HTTP first: once the RPC listener answers, so does HTTP. */
	if (c->cf_n_http_urls > 0) {
		struct http_server_options ho = {
			.urls = c->cf_http_urls,
			.n_urls = c->cf_n_http_urls,
			.pool = sv.sv_pool,
			.body_max = SERVER_RECV_MAX,
			.tls_cert_pem = sv.sv_tls_cert,
			.tls_key_pem = sv.sv_tls_key,
			.worker_init = services_worker_init,
			.worker_fini = services_worker_fini,
			.env = env,
			.metrics = server_metrics,
			.events_read = svc_events_read,
			.events_thread = sv.sv_events_jt,
			.events_start = svc_events_start,
		};
		struct http_server *http = NULL;
		metrics_add_collector(metrics_default(), metrics_collect_process, NULL);
		metrics_add_collector(metrics_default(), server_collect, &sv);
		if (http_server_start(&http, &ho, sv.sv_d, &st) != 0)
			goto fail;
		atomic_store(&sv.sv_http, http);
		for (size_t i = 0; i < ho.n_urls; i++)
			log_info("server", "serving HTTP on %s (Connect calls, /healthz, /readyz, /metrics)",
				 ho.urls[i]);
	}
	struct rpc_server *rpc = NULL;
	char db_shown[512];
	db_target_display(c->cf_db_path, db_shown, sizeof(db_shown));
	if (rpc_server_start(&rpc, &ro, sv.sv_d, &st) != 0)
		goto fail;
	atomic_store(&sv.sv_rpc, rpc);
	for (size_t i = 0; i < ro.n_urls; i++)
		log_info("server", "serving RPC on %s (database %s, server %s, %d workers, durability %s%s)",
			 ro.urls[i], db_shown, env->se_server_id, wo.workers,
			 c->cf_durability == CONFIG_DURABILITY_FULL ? "full" : "normal",
			 c->cf_autorun ? ", autorun" : "");
	for (size_t i = 0; i < po.n_urls; i++)
		log_info("server", "publishing events on %s", po.urls[i]);

	while (sig != SIGTERM && sig != SIGINT)
		if (sigwait(&sigs, &sig) != 0)
			break;
	log_info("server", "signal %d: shutting down", sig);
	server_down(&sv, 0);
	return 0;
fail:
	server_fail("start", &st);
	server_down(&sv, 1);
	return 1;
}
