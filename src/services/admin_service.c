/* AdminService: Backup (online), MigrationStatus, InjectFault and ClearFaults
 * (only when the server was started with --enable-fault-injection;
 * docs/runtime.md, Incident drills). */
#include <stdio.h>

#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "beebeebrain/v1/admin.pb-c.h"
#include "common/log.h"
#include "domain/validate.h"
#include "store/fault_lock.h"
#include "common/clock.h"
#include "common/status.h"
#include "services/services.h"
#include "store/backup.h"
#include "store/migrate.h"

/* A long backup says how far it is in the server's log, every few seconds. */
struct admin_backup_log {
	const char *ab_path;
	int64_t ab_next_ms;
};

static void admin_backup_progress(void *arg, int done, int total)
{
	struct admin_backup_log *l = arg;
	int64_t now = clock_mono_ms();

	if (now < l->ab_next_ms || done >= total)
		return;
	l->ab_next_ms = now + 5000;
	log_info("store", "backup %s: %d of %d pages copied", l->ab_path, done, total);
}

static int backup(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__BackupRequest *req = (const void *)in;
	Beebeebrain__V1__BackupResponse *resp = (void *)out;
	char path[4096], integrity[64];
	int64_t size = 0;

	const char *db = svc_env(call)->se_db_path;
	char dir[2048] = "";

	if (store_file_only(db, "Backup", st) != 0)
		return -1;

	/* The client is elsewhere: name the files absolutely. */
	if (db[0] != '/' && getcwd(dir, sizeof(dir) - 1) != NULL)
		strcat(dir, "/");
	else
		dir[0] = '\0';
	db = arena_printf(call->c_arena, "%s%s", dir, db);
	if (req->out_path[0] != '\0') {
		if (req->out_path[0] != '/')
			return status_violation(st, "out_path",
						"must be an absolute path (the server's working "
						"directory is not the client's)");
		snprintf(path, sizeof(path), "%s", req->out_path);
	} else {
		backup_default_path(db, clock_now_ms(), path, sizeof(path));
	}
	struct admin_backup_log l = {path, clock_mono_ms() + 5000};
	struct backup_progress p = {admin_backup_progress, &l};
	int64_t t0 = clock_mono_ms();

	if (backup_run_progress(db_sqlite(svc_reader(call)), path, &size, integrity, sizeof(integrity), &p, st) != 0)
		return -1;
	resp->duration_ms = clock_mono_ms() - t0;
	resp->db_path = (char *)db;
	log_info("store", "backup of %s to %s: %lld bytes in %lld ms, integrity %s", db, path, (long long)size,
		 (long long)resp->duration_ms, integrity);
	resp->path = arena_strdup(call->c_arena, path);
	resp->size_bytes = size;
	resp->integrity = arena_strdup(call->c_arena, integrity);
	return 0;
}

static int migration_status(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	Beebeebrain__V1__MigrationStatusResponse *resp = (void *)out;
	struct migration_set set = migrate_builtin_for(svc_reader(call));
	struct migrate_row rows[64];
	struct migrate_state state;
	int n = 0;

	(void)in;
	if (migrate_status(svc_reader(call), &set, rows, 64, &n, &state, st) != 0)
		return -1;
	resp->current_version = state.current;
	resp->latest_version = state.latest;
	resp->held = state.held;
	resp->held_version = state.held_version;
	resp->held_at_ms = state.held_at_ms;
	resp->n_migrations = (size_t)n;
	resp->migrations = arena_alloc(call->c_arena, sizeof(*resp->migrations) * (size_t)(n > 0 ? n : 1));
	for (int i = 0; i < n; i++) {
		Beebeebrain__V1__Migration *m =
			(void *)arena_message(call->c_arena, &beebeebrain__v1__migration__descriptor);
		m->version = rows[i].version;
		m->name = arena_strdup(call->c_arena, rows[i].name);
		m->checksum = arena_strdup(call->c_arena, rows[i].checksum);
		m->applied = rows[i].applied;
		m->applied_at_ms = rows[i].applied_at_ms;
		resp->migrations[i] = m;
	}
	return 0;
}

static void *fault_exit_main(void *arg)
{
	struct timespec ts = {0, 200 * 1000000};

	(void)arg;
	nanosleep(&ts, NULL);
	log_warn("fault", "injected process_restart: exiting without cleanup");
	_exit(70);
}

static int inject_fault(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__InjectFaultRequest *req = (const void *)in;
	struct service_env *env = svc_env(call);
	pthread_t t;

	(void)out;
	if (!env->se_fault_injection)
		return status_fail(st, "FORBIDDEN",
				   "fault injection is off: start the server with --enable-fault-injection");
	if (strcmp(req->mode, "db_lock") == 0) {
		if (validate_range(st, "duration_ms", req->duration_ms, 1, 600000) != 0)
			return -1;
		return store_fault_hold_lock(env->se_db_path, req->duration_ms, st);
	}
	if (strcmp(req->mode, "process_restart") == 0) {
		/* Reply first, then die as a crash would: no shutdown, no flush. */
		if (pthread_create(&t, NULL, fault_exit_main, NULL) != 0)
			return status_fail(st, "INTERNAL_ERROR", "cannot schedule the exit");
		pthread_detach(t);
		return 0;
	}
	if (env->se_inject_fault != NULL &&
	    env->se_inject_fault(env->se_inject_fault_arg, req->mode, req->count, st) == 0)
		return 0;
	if (st->code != BBB_OK)
		return -1;
	return status_violation(st, "mode",
				"unknown fault mode '%.40s' (db_lock, process_restart, llm_timeout, "
				"llm_transient, file_permission)",
				req->mode);
}

/* How long ClearFaults waits for an injected lock to be let go: a holder
 * wakes at once, then rolls back and closes its connection. */
#define ADMIN_CLEAR_WAIT_MS 5000

static int clear_faults(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	Beebeebrain__V1__ClearFaultsResponse *resp = (void *)out;
	struct service_env *env = svc_env(call);

	(void)in;
	if (!env->se_fault_injection)
		return status_fail(st, "FORBIDDEN",
				   "fault injection is off: start the server with --enable-fault-injection");
	resp->cleared = store_fault_release_all(ADMIN_CLEAR_WAIT_MS);
	if (env->se_clear_faults != NULL)
		resp->cleared += env->se_clear_faults(env->se_inject_fault_arg);
	log_info("fault", "faults cleared: %d", resp->cleared);
	return 0;
}

static const struct rpc_method admin_methods[] = {
	{"Backup", backup, RPC_MUTATES},
	{"MigrationStatus", migration_status, RPC_READ},
	{"InjectFault", inject_fault, RPC_MUTATES},
	{"ClearFaults", clear_faults, RPC_MUTATES},
	{"Triage", admin_triage, RPC_WAITS}, /* Ready's writer probe */
};

const struct rpc_service admin_service = {
	.s_desc = &beebeebrain__v1__admin_service__descriptor,
	.s_methods = admin_methods,
	.s_n_methods = sizeof(admin_methods) / sizeof(admin_methods[0]),
};
