/*
 * beebeebrain migrate | backup | restore: database maintenance. migrate and
 * restore are offline and refuse a database a server holds; backup goes
 * through the server's AdminService when one holds the database, else it
 * copies the file directly. Both paths make the same consistent copy.
 */
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "beebeebrain/v1/admin.pb-c.h"
#include "cli/cli.h"
#include "common/arena.h"
#include "common/clock.h"
#include "common/status.h"
#include "common/xalloc.h"
#include "domain/server_rules.h"
#include "server/config.h"
#include "store/backup.h"
#include "store/lockfile.h"
#include "store/migrate.h"
#include "store/server_store.h"
#include "store/store.h"

extern char **environ;

/* --db, else BEEBEEBRAIN_DB, else the default, by the server's rules
 * (server/config.h). NULL, with the error printed, for a refused value. */
static const char *store_db_path(struct cli *cli, const struct cli_args *a)
{
	const char *db;
	bbb_status st;

	if (config_db_path(environ, cli_opt(a, "--db"), &db, &st) == 0)
		return db;
	return cli_usage_error(cli, "%s: %s", st.violations[0].field, st.violations[0].description), NULL;
}

static void migrate_print(const ProtobufCMessage *m)
{
	const Beebeebrain__V1__MigrationStatusResponse *r = (const void *)m;

	printf("schema version %d of %d\n", r->current_version, r->latest_version);
	if (r->held)
		printf("held at version %d by `migrate down`: serve refuses to start until `beebeebrain migrate up` "
		       "(or `beebeebrain serve --migrate`)\n",
		       r->held_version);
	cli_print_table((ProtobufCMessage *const *)r->migrations, r->n_migrations,
			"version,name,applied,applied_at_ms,checksum");
}

/* Fills a MigrationStatusResponse from the database (offline). */
static int migrate_status_local(struct db *db, Beebeebrain__V1__MigrationStatusResponse **out, bbb_status *st)
{
	struct migration_set set = migrate_builtin_for(db);
	struct migrate_row rows[64];
	struct migrate_state state;
	Beebeebrain__V1__MigrationStatusResponse *r;
	int n = 0;

	if (migrate_status(db, &set, rows, 64, &n, &state, st) != 0)
		return -1;
	r = xcalloc(1, sizeof(*r));
	beebeebrain__v1__migration_status_response__init(r);
	r->current_version = state.current;
	r->latest_version = state.latest;
	r->held = state.held;
	r->held_version = state.held_version;
	r->held_at_ms = state.held_at_ms;
	r->migrations = xcalloc((size_t)(n > 0 ? n : 1), sizeof(*r->migrations));
	r->n_migrations = (size_t)n;
	for (int i = 0; i < n; i++) {
		Beebeebrain__V1__Migration *m = xcalloc(1, sizeof(*m));
		beebeebrain__v1__migration__init(m);
		m->version = rows[i].version;
		m->name = xstrdup(rows[i].name);
		m->checksum = xstrdup(rows[i].checksum);
		m->applied = rows[i].applied;
		m->applied_at_ms = rows[i].applied_at_ms;
		r->migrations[i] = m;
	}
	*out = r;
	return 0;
}

/* migrate status while a server holds the database: ask it. */
static int migrate_status_remote(struct cli *cli)
{
	Beebeebrain__V1__MigrationStatusRequest req = BEEBEEBRAIN__V1__MIGRATION_STATUS_REQUEST__INIT;
	Beebeebrain__V1__MigrationStatusResponse *resp;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	if (bbb_admin_migration_status(c, &req, &resp, &st) != 0)
		return cli_report(&st);
	return cli_output(cli, &resp->base, migrate_print);
}

/* The version that made table `servers`, the rows the check below reads. */
#define MIGRATE_SERVERS_VERSION 10

/* PostgreSQL has no lock file to say a server holds the database: its rows in
 * `servers` say it instead. 0 when none is alive (not stopped, a heartbeat
 * within the last 3), else FAILED_PRECONDITION DB_IN_USE naming one: a
 * server must not run on a schema it was not built for. */
static int migrate_pg_unused(struct db *db, bbb_status *st)
{
	Beebeebrain__V1__Server **rows;
	int64_t now = clock_now_ms();
	struct migration_set set;
	struct migrate_state state;
	struct arena a;
	size_t n = 0;
	int version = 0, rc = 0;

	arena_init(&a);
	set = migrate_builtin_for(db);
	if (migrate_check(db, &set, &state, st) != 0 ||
	    ((version = state.current) >= MIGRATE_SERVERS_VERSION &&
	     store_server_list(db, now - SERVER_HEARTBEAT_MS * SERVER_MISSED_HEARTBEATS, 64, &a, &rows, &n, st) != 0))
		rc = -1;
	for (size_t i = 0; rc == 0 && version >= MIGRATE_SERVERS_VERSION && i < n; i++)
		if (server_rules_alive(now, rows[i]->heartbeat_at_ms, rows[i]->stopped_at_ms))
			rc = status_fail(
				st, "DB_IN_USE",
				"the database is in use by beebeebrain server %s (pid %d, %s; heartbeat %lld s "
				"ago): stop every server first (docs/runbook.md)",
				rows[i]->id, (int)rows[i]->pid, rows[i]->address,
				(long long)((now - rows[i]->heartbeat_at_ms) / 1000));
	arena_reset(&a);
	return rc;
}

/* Opens db_path, runs `migrate sub` (status, up, down) with N and prints the
 * status after it. The caller holds SQLite's lock file. PostgreSQL has none:
 * up and down first check that no server is alive (migrate_pg_unused), on
 * the connection they then migrate with; a server that starts between the
 * check and the migration's advisory lock is not seen (docs/runbook.md: stop
 * every server first). */
static int migrate_apply(struct cli *cli, const char *sub, int64_t n, const char *db_path)
{
	Beebeebrain__V1__MigrationStatusResponse *resp = NULL;
	struct migration_set set;
	struct db *db = NULL;
	char shown[512];
	bbb_status st;
	int done = 0, rc = 0;

	status_clear(&st);
	if (store_conn_open(db_path, 0, 1, 5000, &db, &st) != 0)
		return cli_report(&st);
	set = migrate_builtin_for(db);
	if (db_kind(db) == DB_POSTGRES && strcmp(sub, "status") != 0 && migrate_pg_unused(db, &st) != 0)
		rc = -1;
	else if (strcmp(sub, "up") == 0)
		rc = migrate_up(db, &set, (int)n, &done, &st);
	else if (strcmp(sub, "down") == 0)
		rc = migrate_down(db, &set, (int)(n > 0 ? n : 1), &done, &st);
	if (rc == 0)
		rc = migrate_status_local(db, &resp, &st);
	store_conn_close(db);
	if (rc != 0)
		return cli_report(&st);
	db_target_display(db_path, shown, sizeof(shown));
	if (strcmp(sub, "status") != 0 && !cli->c_json)
		printf("%s: %d migration(s) %s\n", shown, done, strcmp(sub, "up") == 0 ? "applied" : "reverted");
	return cli_output(cli, &resp->base, migrate_print);
}

int cmd_migrate(struct cli *cli, int argc, char **argv)
{
	static const char usage[] =
		"beebeebrain migrate status|up|down [N] [--db PATH|URL]\n"
		"  status: applied and pending migrations (asks the server when one holds the database)\n"
		"  up [N]: apply N pending migrations (default all)\n"
		"  down [N]: revert the N newest migrations (default 1)\n"
		"up and down are offline: refused while a server holds the database (on PostgreSQL:\n"
		"while any server of the database is alive by its heartbeat).";
	struct cli_args a;
	const char *db_path, *sub;
	int64_t n = 0;
	int rc;
	struct lockfile lock;
	bbb_status st;

	cli->c_usage = usage;
	status_clear(&st);
	if (cli_parse(cli, argc, argv, "--db= --help", 2, &a) != 0)
		return CLI_USAGE;
	if (cli_flag(&a, "--help"))
		return printf("usage: %s\n", usage), CLI_OK;
	if (a.a_npos == 0)
		return cli_usage_error(cli, "missing subcommand: status, up or down");
	sub = a.a_pos[0];
	if (strcmp(sub, "status") != 0 && strcmp(sub, "up") != 0 && strcmp(sub, "down") != 0)
		return cli_usage_error(cli, "unknown subcommand 'migrate %s'", sub);
	if (a.a_npos == 2 && (strcmp(sub, "status") == 0 || cli_pos_id(cli, &a, 1, "N", &n) != 0))
		return strcmp(sub, "status") == 0 ? cli_usage_error(cli, "migrate status takes no N") : CLI_USAGE;
	if ((db_path = store_db_path(cli, &a)) == NULL)
		return CLI_USAGE;
	/* PostgreSQL: every server must be stopped first (docs/runbook.md). */
	if (db_target_kind(db_path) == DB_POSTGRES)
		return migrate_apply(cli, sub, n, db_path);
	if (strcmp(sub, "status") == 0 && lockfile_holder(db_path) != 0)
		return migrate_status_remote(cli);
	/* status looks, it does not create (taking the lock would). */
	if (strcmp(sub, "status") == 0 && access(db_path, F_OK) != 0) {
		status_fail(&st, "INTERNAL_ERROR", "database %s does not exist", db_path);
		return cli_report(&st);
	}
	/* Hold the server lock while migrating, so no server starts meanwhile. */
	if (lockfile_acquire(&lock, db_path, &st) != 0)
		return cli_report(&st);
	rc = migrate_apply(cli, sub, n, db_path);
	lockfile_release(&lock);
	return rc;
}

static void backup_print(const ProtobufCMessage *m)
{
	const Beebeebrain__V1__BackupResponse *r = (const void *)m;

	printf("backup %s\n", r->path);
	if (r->db_path[0] != '\0')
		printf("  of %s\n", r->db_path);
	printf("  %lld bytes in %lld ms, integrity %s\n", (long long)r->size_bytes, (long long)r->duration_ms,
	       r->integrity);
}

/* Offline copies of a large database say how far they are, on stderr, at
 * most every 2 s (a copy that takes less prints nothing). */
static void backup_progress_line(void *arg, int done, int total)
{
	int64_t *next = arg, now = clock_mono_ms();

	if (now < *next || done >= total || total <= 0)
		return;
	*next = now + 2000;
	fprintf(stderr, "backup: %d%% (%d of %d pages)\n", (int)((int64_t)done * 100 / total), done, total);
}

/* Backup without a server: a consistent copy straight from the file. */
static int backup_local(const char *db_path, const char *out, Beebeebrain__V1__BackupResponse **resp, bbb_status *st)
{
	char path[PATH_MAX], integrity[64];
	int64_t size = 0, t0 = clock_mono_ms(), next = t0 + 2000;
	struct backup_progress p = {backup_progress_line, &next};
	struct db *db;
	int rc;

	if (access(db_path, F_OK) != 0)
		return status_fail(st, "INTERNAL_ERROR", "database %s does not exist", db_path);
	if (out != NULL)
		snprintf(path, sizeof(path), "%s", out);
	else
		backup_default_path(db_path, clock_now_ms(), path, sizeof(path));
	if (store_conn_open(db_path, 1, 1, 5000, &db, st) != 0)
		return -1;
	rc = backup_run_progress(db_sqlite(db), path, &size, integrity, sizeof(integrity), &p, st);
	store_conn_close(db);
	if (rc != 0)
		return -1;
	*resp = xcalloc(1, sizeof(**resp));
	beebeebrain__v1__backup_response__init(*resp);
	(*resp)->path = xstrdup(path);
	(*resp)->size_bytes = size;
	(*resp)->integrity = xstrdup(integrity);
	(*resp)->db_path = xstrdup(db_path);
	(*resp)->duration_ms = clock_mono_ms() - t0;
	return 0;
}

/* While the server copies, the client cannot see its pages: it says on
 * stderr that it is still waiting, every 5 s after the first 2 s. */
struct backup_wait {
	pthread_mutex_t bw_mu;
	pthread_cond_t bw_cv;
	int bw_done;
	const char *bw_url;
};

static void *backup_wait_main(void *arg)
{
	struct backup_wait *w = arg;
	int64_t t0 = clock_now_ms(), next = t0 + 2000;
	struct timespec ts;

	pthread_mutex_lock(&w->bw_mu);
	while (!w->bw_done) {
		ts.tv_sec = (time_t)(next / 1000);
		ts.tv_nsec = (long)(next % 1000) * 1000000;
		if (pthread_cond_timedwait(&w->bw_cv, &w->bw_mu, &ts) != 0 && !w->bw_done) {
			fprintf(stderr, "backup: the server on %s is still copying (%lld s)\n", w->bw_url,
				(long long)((clock_now_ms() - t0) / 1000));
			next = clock_now_ms() + 5000;
		}
	}
	pthread_mutex_unlock(&w->bw_mu);
	return NULL;
}

/* Backup by the server on --rpc. The status says SERVER_UNREACHABLE
 * (bbb_status_unreachable) when none answers there. */
static int backup_remote(struct cli *cli, const char *out, Beebeebrain__V1__BackupResponse **resp, bbb_status *st)
{
	Beebeebrain__V1__BackupRequest req = BEEBEEBRAIN__V1__BACKUP_REQUEST__INIT;
	struct bbb_client_options o = {.url = cli->c_rpc_url};
	char abs[PATH_MAX];

	/* The server writes the file: give it an absolute path. */
	if (out != NULL && out[0] != '/') {
		if (getcwd(abs, sizeof(abs)) == NULL || strlen(abs) + strlen(out) + 2 > sizeof(abs))
			return status_violation(st, "out", "cannot make --out %.300s absolute", out);
		strcat(abs, "/");
		strcat(abs, out);
		out = abs;
	}
	if (out != NULL)
		req.out_path = (char *)out;
	if (cli->c_client == NULL && (cli->c_client = bbb_client_open(&o, st)) == NULL)
		return -1;
	bbb_client_set_timeout(cli->c_client, 600000);
	struct backup_wait w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, cli->c_rpc_url};
	pthread_t t;
	int started = pthread_create(&t, NULL, backup_wait_main, &w) == 0;
	int rc = bbb_admin_backup(cli->c_client, &req, resp, st);

	if (started) {
		pthread_mutex_lock(&w.bw_mu);
		w.bw_done = 1;
		pthread_cond_signal(&w.bw_cv);
		pthread_mutex_unlock(&w.bw_mu);
		pthread_join(t, NULL);
	}
	return rc;
}

int cmd_backup(struct cli *cli, int argc, char **argv)
{
	static const char usage[] = "beebeebrain backup [--out PATH] [--db PATH]\n"
				    "Consistent online copy (SQLite backup API) checked with PRAGMA integrity_check;\n"
				    "default path <db>.<YYYYmmdd-HHMMSS>.bak, next to the database. Prints the path,\n"
				    "the database copied, the size, the duration and the integrity result.\n"
				    "Without --db it asks the server on --rpc, which knows its own database; when\n"
				    "none answers there it copies $BEEBEEBRAIN_DB (else ./beebeebrain.db) itself.\n"
				    "With --db PATH it copies that file itself (offline), or asks the server on\n"
				    "--rpc when a server holds it. An offline copy of a large database prints its\n"
				    "progress on stderr.";
	Beebeebrain__V1__BackupResponse *resp = NULL;
	const char *out, *db_path;
	struct cli_args a;
	bbb_status st;
	int holder;

	cli->c_usage = usage;
	status_clear(&st);
	if (cli_parse(cli, argc, argv, "--out= --db= --help", 0, &a) != 0)
		return CLI_USAGE;
	if (cli_flag(&a, "--help"))
		return printf("usage: %s\n", usage), CLI_OK;
	out = cli_opt(&a, "--out");
	if ((db_path = store_db_path(cli, &a)) == NULL)
		return CLI_USAGE;
	if (cli_opt(&a, "--db") != NULL && store_file_only(db_path, "backup", &st) != 0)
		return cli_report(&st);
	if (cli_opt(&a, "--db") == NULL) {
		/* The server knows its database; the default path is a guess. */
		if (backup_remote(cli, out, &resp, &st) == 0)
			return cli_output(cli, &resp->base, backup_print);
		if (!bbb_status_unreachable(&st))
			return cli_report(&st);
		/* Copied here then: only a SQLite file can be. */
		if (store_file_only(db_path, "backup", &st) != 0)
			return cli_report(&st);
		if ((holder = lockfile_holder(db_path)) > 0) {
			status_fail(&st, "SERVER_UNREACHABLE",
				    "database %s is held by a server (pid %d) that does not answer on %s; give its "
				    "--rpc URL",
				    db_path, holder, cli->c_rpc_url);
			st.code = BBB_UNAVAILABLE;
			return cli_report(&st);
		}
		if (access(db_path, F_OK) != 0) {
			status_fail(&st, "SERVER_UNREACHABLE",
				    "no server answers on %s and database %s does not exist: give the server's --rpc "
				    "URL, or --db PATH for an offline backup",
				    cli->c_rpc_url, db_path);
			st.code = BBB_UNAVAILABLE;
			return cli_report(&st);
		}
	} else if (lockfile_holder(db_path) > 0) {
		if (backup_remote(cli, out, &resp, &st) != 0)
			return cli_report(&st);
		return cli_output(cli, &resp->base, backup_print);
	}
	if (backup_local(db_path, out, &resp, &st) != 0)
		return cli_report(&st);
	return cli_output(cli, &resp->base, backup_print);
}

int cmd_restore(struct cli *cli, int argc, char **argv)
{
	static const char usage[] = "beebeebrain restore FILE [--db PATH]\n"
				    "Offline: checks FILE (integrity, schema) and swaps it in atomically; the\n"
				    "current database is kept as <db>.pre-restore.<YYYYmmdd-HHMMSS>.bak.";
	struct cli_args a;
	const char *db_path;
	char saved[PATH_MAX] = "";
	struct lockfile lock;
	struct stat sb;
	bbb_status st;
	int rc, existed;

	cli->c_usage = usage;
	status_clear(&st);
	if (cli_parse(cli, argc, argv, "--db= --help", 1, &a) != 0)
		return CLI_USAGE;
	if (cli_flag(&a, "--help"))
		return printf("usage: %s\n", usage), CLI_OK;
	if (a.a_npos != 1)
		return cli_usage_error(cli, "restore needs FILE");
	if ((db_path = store_db_path(cli, &a)) == NULL)
		return CLI_USAGE;
	if (store_file_only(db_path, "restore", &st) != 0)
		return cli_report(&st);
	existed = access(db_path, F_OK) == 0;
	if (lockfile_acquire(&lock, db_path, &st) != 0)
		return cli_report(&st);
	rc = backup_restore(a.a_pos[0], db_path, saved, sizeof(saved), &st);
	/* A failed restore leaves no trace: not even the empty file the lock
	 * created where there was no database. */
	if (rc != 0 && !existed && stat(db_path, &sb) == 0 && sb.st_size == 0)
		unlink(db_path);
	lockfile_release(&lock);
	if (rc != 0)
		return cli_report(&st);
	if (cli->c_json) {
		json_t *o =
			json_pack("{s:s, s:s, s:s}", "path", db_path, "restored_from", a.a_pos[0], "previous", saved);
		json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("\n");
		json_decref(o);
	} else
		printf("restored %s from %s%s%s\n", db_path, a.a_pos[0], saved[0] ? "; previous database kept at " : "",
		       saved);
	return CLI_OK;
}
