/*
 * What every RPC service shares: the server-wide environment and the worker's
 * own read connection. Services are thin: validate the request (domain/),
 * read through the worker's connection or write through the store's writer
 * (store/), and map the result to the response. One file per service; each
 * exports one `struct rpc_service` table.
 */
#ifndef BBB_SERVICES_H
#define BBB_SERVICES_H

#include "store/db.h"
#include <stdint.h>

#include "rpc/dispatch.h"
#include "store/store.h"

struct audit_trail;
struct arena;
struct Beebeebrain__V1__RuntimeStatusResponse;
struct Beebeebrain__V1__ResetBreakerResponse;
struct Beebeebrain__V1__CheckResponse;
struct Beebeebrain__V1__ReadyResponse;
struct Beebeebrain__V1__Server;
struct Beebeebrain__V1__Event;

/* Hex digits of a server id (server_new_id). */
#define SERVER_ID_LEN 16

struct service_env {
	struct store *se_store;
	/* This server process's id: new at every start, its row in `servers`
	 * and the owner of the runs it leases (migration 0010). */
	char se_server_id[SERVER_ID_LEN + 1];
	const char *se_db_path;
	const char *se_env_name; /* the deployment's name (configuration), shown by Check */
	int se_run_timeout_s; /* call timeout stored on a run that asks for none (configuration) */
	int64_t se_started_mono_ms;
	int se_fault_injection; /* --enable-fault-injection */
	const char *const *se_event_urls; /* where events are published */
	size_t se_n_event_urls;
	int64_t se_retention_ms; /* events older than this are pruned */
	int se_heartbeat_ms;
	/* Fault modes implemented outside the services (the runtime's llm_timeout,
	 * llm_transient, file_permission): returns 0 when it took the mode, -1
	 * with st untouched when the mode is not its own, -1 with st set on a bad
	 * request. NULL: none. */
	int (*se_inject_fault)(void *arg, const char *mode, int count, bbb_status *st);
	void *se_inject_fault_arg;
	/* Disarms what se_inject_fault armed (arg: se_inject_fault_arg); returns
	 * how many modes were armed. NULL: none. */
	int (*se_clear_faults)(void *arg);
	/* The runtime's state for RuntimeService/Status (runtime_status); NULL:
	 * no runtime. */
	void (*se_runtime_status)(void *arg, struct arena *a, struct Beebeebrain__V1__RuntimeStatusResponse *out);
	void *se_runtime_status_arg;
	/* RuntimeService/ResetBreaker on the dispatcher's thread
	 * (runtime_reset_breaker; arg: se_runtime_status_arg); NULL: no runtime. */
	int (*se_reset_breaker)(void *arg, const char *endpoint, const char *trace_id, int64_t deadline_mono_ms,
				struct arena *a, struct Beebeebrain__V1__ResetBreakerResponse *out, bbb_status *st);
	struct audit_trail *se_audit; /* writes refusals and rows outside a write (events/audit.h); NULL: none */
};

struct service_worker {
	struct db *sw_reader;
	/* PostgreSQL: a read-write connection for the claims of request ids
	 * (services/reply_share.h), opened at its first claim; NULL until then. */
	struct db *sw_session;
};

static inline struct service_env *svc_env(const struct rpc_call *call)
{
	return call->c_env;
}

static inline struct db *svc_reader(const struct rpc_call *call)
{
	return ((struct service_worker *)call->c_worker)->sw_reader;
}

/* store_write with the call's deadline. The write of a mutating call also
 * appends its security.audit.allowed event in the same transaction, once fn
 * succeeded (services/audit.c): no handler writes its own. */
int svc_write(struct rpc_call *call, store_write_fn fn, void *arg, bbb_status *st);

/* The dispatcher's audit hooks (rpc_dispatcher_set_denied_hook and
 * rpc_dispatcher_set_allowed_hook), for a dispatcher whose env is a
 * service_env: refusals are counted by se_audit; a mutating call that
 * succeeded without a write hands its security.audit.allowed to se_audit. */
void svc_audit_denied(void *env, const struct rpc_call *call, const bbb_status *st);
void svc_audit_allowed(void *env, struct rpc_call *call);

/* worker_init / worker_fini for the transport: a read connection per worker
 * (store_worker_reader_open). worker_ready for the pool: 0 while that
 * connection cannot start a session (store_pg_failing). */
int services_worker_init(void *env, void **worker, bbb_status *st);
int services_worker_ready(void *worker);
void services_worker_fini(void *worker);

/* For the HTTP event streams (http/stream.h, stream_read_fn and the start of
 * a stream that asks for the last N): with a worker state from
 * services_worker_init. svc_events_read reads up to `limit` events with id >
 * after_id of every project and type, ascending, from one snapshot with *head
 * the highest id. svc_events_start sets *after_id to where the last n events
 * matching the filters begin (event_service.c). */
int svc_events_read(void *worker, int64_t after_id, int limit, struct arena *a, struct Beebeebrain__V1__Event ***out,
		    size_t *n, int64_t *head, bbb_status *st);
int svc_events_start(void *worker, int n, const char *type_prefix, int64_t project_id, int64_t *after_id,
		     bbb_status *st);

/* What HealthService/Check and Ready answer (health_service.c) and what
 * RuntimeService/Status answers (runtime_service.c), for AdminService/Triage
 * too: one implementation each. The responses must be initialised; what
 * they point to comes from the call's arena. */
void health_fill_check(struct rpc_call *call, struct Beebeebrain__V1__CheckResponse *resp);
void health_fill_ready(struct rpc_call *call, struct Beebeebrain__V1__ReadyResponse *resp);
/* The servers on the database whose heartbeat is at or after since_ms (0:
 * all), newest heartbeat first, at most HEALTH_SERVERS_MAX, each with alive
 * (at now_ms) and this_server set: an arena array, for Ready and Triage. */
#define HEALTH_SERVERS_MAX 50
int health_fill_servers(struct rpc_call *call, int64_t now_ms, int64_t since_ms, struct Beebeebrain__V1__Server ***out,
			size_t *n, bbb_status *st);
int runtime_fill_status(struct rpc_call *call, struct Beebeebrain__V1__RuntimeStatusResponse *resp, bbb_status *st);

/* AdminService/Triage (triage_service.c), in admin_service's method table. */
int admin_triage(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st);

/* Every service this server implements, for the dispatcher. */
extern const struct rpc_service *const services_all[];
extern const size_t services_count;

extern const struct rpc_service health_service;
extern const struct rpc_service project_service;
extern const struct rpc_service task_service;
extern const struct rpc_service agent_service;
extern const struct rpc_service tool_service;
extern const struct rpc_service inbox_service;
extern const struct rpc_service log_service;
extern const struct rpc_service metrics_service;
extern const struct rpc_service admin_service;
extern const struct rpc_service event_service;
extern const struct rpc_service runtime_service;

#endif
