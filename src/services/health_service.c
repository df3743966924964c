/*
 * HealthService: Check (liveness) and Ready (named readiness checks), also
 * reported by AdminService/Triage through health_fill_check and
 * health_fill_ready (one implementation for both).
 *
 * Ready's "writer" check proves the writer can commit: a real write through
 * the writer (store_state_probe_write: one server_state row, overwritten
 * each time), so a read-only or full disk, a lost write lock or a stuck
 * writer shows here, not at the next user's write. A probe is a commit (an
 * fsync with durability full), so its result is reused for
 * READY_PROBE_REUSE_MS: a poller, or many, cost the writer at most one commit
 * per second, and concurrent callers wait for the probe under way instead of
 * starting their own. One server per process, so one cache per process.
 *
 * Ready also lists the servers on the database (table `servers`), each
 * marked alive or not by domain/server_rules.h and this_server for the one
 * answering: shown, never a check, so that one server stays ready whatever
 * became of the others sharing its database.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "beebeebrain/v1/health.pb-c.h"
#include "common/clock.h"
#include "common/status.h"
#include "domain/server_rules.h"
#include "services/services.h"
#include "store/migrate.h"
#include "store/project_store.h"
#include "store/server_store.h"
#include "store/state_store.h"

#define READY_PROBE_REUSE_MS 1000
#define READY_PROBE_DEADLINE_MS 2000

void health_fill_check(struct rpc_call *call, Beebeebrain__V1__CheckResponse *resp)
{
	struct service_env *env = svc_env(call);

	resp->status = "ok";
	resp->service = "beebeebrain";
	resp->version = BBB_VERSION;
	resp->env = (char *)env->se_env_name;
	resp->uptime_ms = clock_mono_ms() - env->se_started_mono_ms;
}

static int check(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	(void)in;
	(void)st;
	health_fill_check(call, (void *)out);
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

static struct {
	pthread_mutex_t rp_mu; /* held during a probe: callers meanwhile wait for its result */
	int64_t rp_at_ms; /* CLOCK_MONOTONIC ms of the last probe; 0: none yet */
	int rp_ok;
	char rp_detail[600];
} ready_probe = {.rp_mu = PTHREAD_MUTEX_INITIALIZER};

/* The writer check: a fresh probe, or the last one if it is recent. */
static Beebeebrain__V1__ReadyCheck *ready_writer(struct rpc_call *call)
{
	struct arena *a = call->c_arena;
	Beebeebrain__V1__ReadyCheck *c;
	int64_t now;

	pthread_mutex_lock(&ready_probe.rp_mu);
	now = clock_mono_ms();
	if (ready_probe.rp_at_ms == 0 || now - ready_probe.rp_at_ms >= READY_PROBE_REUSE_MS) {
		bbb_status wst;

		status_clear(&wst);
		if (store_write(svc_env(call)->se_store, store_state_probe_write, NULL, now + READY_PROBE_DEADLINE_MS,
				&wst) == 0)
			snprintf(ready_probe.rp_detail, sizeof(ready_probe.rp_detail), "write committed in %lld ms",
				 (long long)(clock_mono_ms() - now));
		else
			snprintf(ready_probe.rp_detail, sizeof(ready_probe.rp_detail), "%s: %s", wst.reason,
				 wst.message);
		ready_probe.rp_ok = wst.code == BBB_OK;
		ready_probe.rp_at_ms = clock_mono_ms();
	}
	c = ready_check(a, "writer", ready_probe.rp_ok, arena_strdup(a, ready_probe.rp_detail));
	pthread_mutex_unlock(&ready_probe.rp_mu);
	return c;
}

static char *ready_failure(struct arena *a, const bbb_status *st)
{
	return arena_printf(a, "%s: %s", st->reason, st->message);
}

/* Every project's root must be a directory the server can write. */
static Beebeebrain__V1__ReadyCheck *ready_workspace(struct arena *a, struct db *db)
{
	const char **roots;
	size_t n, bad = 0;
	char *detail = "no projects";
	bbb_status st;

	status_clear(&st);
	if (store_project_roots(db, a, &roots, &n, &st) != 0)
		return ready_check(a, "workspace", 0, ready_failure(a, &st));
	for (size_t i = 0; i < n; i++)
		if (access(roots[i], W_OK | X_OK) != 0 && bad++ == 0)
			detail = arena_printf(a, "%s is not a writable directory", roots[i]);
	if (bad == 0 && n > 0)
		detail = arena_printf(a, "%zu project root(s) writable", n);
	return ready_check(a, "workspace", bad == 0, detail);
}

void health_fill_ready(struct rpc_call *call, Beebeebrain__V1__ReadyResponse *resp)
{
	struct arena *a = call->c_arena;
	struct db *db = svc_reader(call);
	struct migration_set set = migrate_builtin_for(db);
	int latest = set.count > 0 ? set.m[set.count - 1].version : 0;
	int version, readable;
	bbb_status vst;

	status_clear(&vst);
	readable = migrate_current_version(db, &version, &vst) == 0;
	if (!readable)
		version = -1;
	resp->n_checks = 5;
	resp->checks = arena_alloc(a, sizeof(*resp->checks) * resp->n_checks);
	resp->checks[0] = ready_check(a, "database", readable, readable ? "readable" : ready_failure(a, &vst));
	resp->checks[1] = ready_check(a, "migrations", version == latest,
				      arena_printf(a, "schema version %d of %d", version, latest));
	resp->checks[2] = ready_writer(call);
	resp->checks[3] = ready_workspace(a, db);
	resp->checks[4] = ready_check(a, "providers", 1, "echo");
	resp->ready = 1;
	for (size_t i = 0; i < resp->n_checks; i++)
		resp->ready = resp->ready && resp->checks[i]->ok;
}

int health_fill_servers(struct rpc_call *call, int64_t now_ms, int64_t since_ms, struct Beebeebrain__V1__Server ***out,
			size_t *n, bbb_status *st)
{
	const char *self = svc_env(call)->se_server_id;

	if (store_server_list(svc_reader(call), since_ms, HEALTH_SERVERS_MAX, call->c_arena, out, n, st) != 0)
		return -1;
	for (size_t i = 0; i < *n; i++) {
		Beebeebrain__V1__Server *s = (*out)[i];

		s->alive = server_rules_alive(now_ms, s->heartbeat_at_ms, s->stopped_at_ms);
		s->this_server = strcmp(s->id, self) == 0;
	}
	return 0;
}

static int ready(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	Beebeebrain__V1__ReadyResponse *resp = (void *)out;
	bbb_status sst;

	(void)in;
	(void)st;
	health_fill_ready(call, resp);
	/* Ready always answers with its checks: a database that cannot list the
	 * servers fails the "database" check already, so the list is left
	 * empty instead. */
	status_clear(&sst);
	if (health_fill_servers(call, clock_now_ms(), 0, &resp->servers, &resp->n_servers, &sst) != 0)
		resp->n_servers = 0;
	return 0;
}

static const struct rpc_method health_methods[] = {
	{"Check", check, RPC_READ}, {"Ready", ready, RPC_WAITS}, /* probes the writer */
};

const struct rpc_service health_service = {
	.s_desc = &beebeebrain__v1__health_service__descriptor,
	.s_methods = health_methods,
	.s_n_methods = sizeof(health_methods) / sizeof(health_methods[0]),
	.s_public = 1,
};
