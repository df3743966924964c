/* HealthService: Check (liveness) and Ready (named readiness checks). */
#include <stdio.h>
#include <unistd.h>

#include "beebeebrain/v1/health.pb-c.h"
#include "common/clock.h"
#include "common/status.h"
#include "services/services.h"
#include "store/migrate.h"

static int check(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	Beebeebrain__V1__CheckResponse *resp = (void *)out;
	struct service_env *env = svc_env(call);

	(void)in;
	(void)st;
	resp->status = "ok";
	resp->service = "beebeebrain";
	resp->version = BBB_VERSION;
	resp->env = (char *)env->se_env_name;
	resp->uptime_ms = clock_mono_ms() - env->se_started_mono_ms;
	return 0;
}

static Beebeebrain__V1__ReadyCheck *ready_check(struct arena *a, const char *name, int ok, char *detail)
{
	Beebeebrain__V1__ReadyCheck *c = (void *)arena_message(a, &beebeebrain__v1__ready_check__descriptor);

	c->name = (char *)name;
	c->ok = ok;
	c->detail = detail;
	return c;
}

static int ready_noop_write(sqlite3 *db, void *arg, bbb_status *st)
{
	(void)db;
	(void)arg;
	(void)st;
	return 0;
}

/* Highest applied migration as the readers see it. */
static int ready_schema_version(sqlite3 *db)
{
	sqlite3_stmt *stmt;
	int v = -1;

	if (sqlite3_prepare_v2(db, "SELECT coalesce(max(version), 0) FROM schema_migrations", -1, &stmt, NULL) !=
	    SQLITE_OK)
		return -1;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return v;
}

/* Every project's root must be a directory the server can write. */
static Beebeebrain__V1__ReadyCheck *ready_workspace(struct arena *a, sqlite3 *db)
{
	sqlite3_stmt *stmt;
	int bad = 0, total = 0;
	char *detail = "no projects";

	if (sqlite3_prepare_v2(db, "SELECT root_path FROM projects ORDER BY id", -1, &stmt, NULL) != SQLITE_OK)
		return ready_check(a, "workspace", 0, arena_strdup(a, sqlite3_errmsg(db)));
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		const char *root = (const char *)sqlite3_column_text(stmt, 0);
		total++;
		if (access(root, W_OK | X_OK) != 0 && bad++ == 0)
			detail = arena_printf(a, "%s is not a writable directory", root);
	}
	sqlite3_finalize(stmt);
	if (bad == 0 && total > 0)
		detail = arena_printf(a, "%d project root(s) writable", total);
	return ready_check(a, "workspace", bad == 0, detail);
}

static int ready(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	Beebeebrain__V1__ReadyResponse *resp = (void *)out;
	struct arena *a = call->c_arena;
	sqlite3 *db = svc_reader(call);
	struct migration_set set = migrate_builtin();
	int latest = set.count > 0 ? set.m[set.count - 1].version : 0;
	int version = ready_schema_version(db);
	bbb_status wst;
	int64_t t0;

	(void)in;
	(void)st;
	resp->n_checks = 5;
	resp->checks = arena_alloc(a, sizeof(*resp->checks) * resp->n_checks);
	resp->checks[0] = ready_check(a, "database", version >= 0,
				      version >= 0 ? "readable" : arena_strdup(a, sqlite3_errmsg(db)));
	resp->checks[1] = ready_check(a, "migrations", version == latest,
				      arena_printf(a, "schema version %d of %d", version, latest));
	status_clear(&wst);
	t0 = clock_mono_ms();
	if (store_write(svc_env(call)->se_store, ready_noop_write, NULL, clock_mono_ms() + 2000, &wst) == 0)
		resp->checks[2] = ready_check(
			a, "writer", 1, arena_printf(a, "write lock in %lld ms", (long long)(clock_mono_ms() - t0)));
	else
		resp->checks[2] = ready_check(a, "writer", 0, arena_printf(a, "%s: %s", wst.reason, wst.message));
	resp->checks[3] = ready_workspace(a, db);
	resp->checks[4] = ready_check(a, "providers", 1, "echo");
	resp->ready = 1;
	for (size_t i = 0; i < resp->n_checks; i++)
		resp->ready = resp->ready && resp->checks[i]->ok;
	return 0;
}

static const struct rpc_method health_methods[] = {
	{"Check", check, RPC_READ},
	{"Ready", ready, RPC_READ},
};

const struct rpc_service health_service = {
	.s_desc = &beebeebrain__v1__health_service__descriptor,
	.s_methods = health_methods,
	.s_n_methods = sizeof(health_methods) / sizeof(health_methods[0]),
	.s_public = 1,
};
