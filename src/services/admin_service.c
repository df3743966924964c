/* AdminService: Backup (online) and MigrationStatus. InjectFault comes with
 * the fault-injection drills and answers UNIMPLEMENTED until then. */
#include <stdio.h>

#include "beebeebrain/v1/admin.pb-c.h"
#include "common/clock.h"
#include "common/status.h"
#include "services/services.h"
#include "store/backup.h"
#include "store/migrate.h"

static int backup(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__BackupRequest *req = (const void *)in;
	Beebeebrain__V1__BackupResponse *resp = (void *)out;
	char path[4096], integrity[64];
	int64_t size = 0;

	if (req->out_path[0] != '\0') {
		if (req->out_path[0] != '/')
			return status_violation(st, "out_path",
						"must be an absolute path (the server's working "
						"directory is not the client's)");
		snprintf(path, sizeof(path), "%s", req->out_path);
	} else {
		backup_default_path(svc_env(call)->se_db_path, clock_now_ms(), path, sizeof(path));
	}
	if (backup_run(svc_reader(call), path, &size, integrity, sizeof(integrity), st) != 0)
		return -1;
	resp->path = arena_strdup(call->c_arena, path);
	resp->size_bytes = size;
	resp->integrity = arena_strdup(call->c_arena, integrity);
	return 0;
}

static int migration_status(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	Beebeebrain__V1__MigrationStatusResponse *resp = (void *)out;
	struct migration_set set = migrate_builtin();
	struct migrate_row rows[64];
	struct migrate_state state;
	int n = 0;

	(void)in;
	if (migrate_status(svc_reader(call), &set, rows, 64, &n, &state, st) != 0)
		return -1;
	resp->current_version = state.current;
	resp->latest_version = state.latest;
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

static const struct rpc_method admin_methods[] = {
	{"Backup", backup, RPC_MUTATES},
	{"MigrationStatus", migration_status, RPC_READ},
};

const struct rpc_service admin_service = {
	.s_desc = &beebeebrain__v1__admin_service__descriptor,
	.s_methods = admin_methods,
	.s_n_methods = sizeof(admin_methods) / sizeof(admin_methods[0]),
};
