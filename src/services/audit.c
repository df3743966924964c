/*
 * The services' side of the audit trail (docs/security.md). svc_write, the one
 * write path of every handler, appends security.audit.allowed to the
 * transaction of a mutating call's change, after the change succeeded; the
 * dispatcher's hooks hand refusals and the rows of mutating calls that change
 * no row (Backup, InjectFault) to the server's audit_trail, whose thread
 * writes them: no reply waits for them (InjectFault db_lock holds the very
 * lock such a write would need).
 *
 * What a row says is read off the call, so no handler has to say it:
 *   actor     the request's "actor" field when it has one and it is set,
 *             else "api" (it is what the caller claims, not an identity)
 *   action    the method, "TaskService/PauseTask"
 *   resource  see svc_audit_resource
 *   reason    "API key accepted" or "no API key configured"
 *   peer      the caller's address as the transport saw it
 */
#include <stdio.h>
#include <string.h>

#include "common/arena.h"
#include "common/clock.h"
#include "common/dbuf.h"
#include "common/utf8.h"
#include "events/audit.h"
#include "events/emit.h"
#include "services/services.h"

#define SVC_ACTOR_MAX 120
#define SVC_RESOURCE_IDS 8 /* ids of a task_ids list named in the resource */

/* Rows the write touched, seen through the row hook of the writer's
 * connection (db_on_row). The writer runs one write function at a time, so
 * the hook sees only this call's rows. */
struct svc_touched {
	char t_created[48]; /* first row inserted into a resource table: "task/12" */
	char t_changed[48]; /* first row inserted or updated in one */
	char t_event[48]; /* first event inserted: "event/9" */
};

static const struct {
	const char *table;
	const char *noun;
} svc_tables[] = {
	{"projects", "project"}, {"agents", "agent"}, {"tasks", "task"}, {"inbox_items", "inbox"}, {"task_runs", "run"},
};

/* Ids a request may name, in the order they identify its resource. */
static const struct {
	const char *field;
	const char *noun;
} svc_request_ids[] = {
	{"task_id", "task"}, {"item_id", "inbox"},      {"agent_id", "agent"},
	{"run_id", "run"},   {"project_id", "project"}, {"alert_id", "alert"},
};

static void svc_on_row(void *arg, int op, const char *table, int64_t rowid)
{
	struct svc_touched *t = arg;

	if (strcmp(table, "events") == 0) {
		if (op == DB_INSERT && t->t_event[0] == '\0')
			snprintf(t->t_event, sizeof(t->t_event), "event/%lld", (long long)rowid);
		return;
	}
	for (size_t i = 0; i < sizeof(svc_tables) / sizeof(svc_tables[0]); i++) {
		if (strcmp(table, svc_tables[i].table) != 0)
			continue;
		if (op == DB_INSERT && t->t_created[0] == '\0')
			snprintf(t->t_created, sizeof(t->t_created), "%s/%lld", svc_tables[i].noun, (long long)rowid);
		if (op != DB_DELETE && t->t_changed[0] == '\0')
			snprintf(t->t_changed, sizeof(t->t_changed), "%s/%lld", svc_tables[i].noun, (long long)rowid);
		return;
	}
}

static const ProtobufCFieldDescriptor *svc_field(const ProtobufCMessage *m, const char *name, ProtobufCType type)
{
	const ProtobufCFieldDescriptor *f =
		m != NULL ? protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name) : NULL;

	return f != NULL && f->type == type ? f : NULL;
}

/* "task/3,4,5" for a request naming a list of tasks (BroadcastCommand). */
static const char *svc_task_list(struct rpc_call *call)
{
	const ProtobufCFieldDescriptor *f = svc_field(call->c_request, "task_ids", PROTOBUF_C_TYPE_INT64);
	const char *base = (const char *)call->c_request;
	struct dbuf b;
	const char *out;
	size_t n;

	if (f == NULL || f->label != PROTOBUF_C_LABEL_REPEATED ||
	    (n = *(const size_t *)(base + f->quantifier_offset)) == 0)
		return NULL;
	const int64_t *ids = *(int64_t *const *)(base + f->offset);
	dbuf_init(&b, 256);
	(void)dbuf_addstr(&b, "task/");
	for (size_t i = 0; i < n && i < SVC_RESOURCE_IDS; i++)
		(void)dbuf_printf(&b, "%s%lld", i > 0 ? "," : "", (long long)ids[i]);
	if (n > SVC_RESOURCE_IDS)
		(void)dbuf_addstr(&b, ",...");
	out = arena_strdup(call->c_arena, dbuf_str(&b));
	dbuf_free(&b);
	return out;
}

/*
 * The resource of a call, "<noun>/<id>":
 *  1. for a Create method, the row it created ("task/12");
 *  2. else the first id the request names (task_id, item_id, agent_id,
 *     run_id, project_id), or its list of task ids ("task/3,4,5");
 *  3. else the first row it created or changed, then the first event it
 *     wrote ("event/9": Publish);
 *  4. else the service ("AdminService": Backup, InjectFault).
 */
static const char *svc_audit_resource(struct rpc_call *call, const struct svc_touched *t)
{
	const char *action = audit_action(call->c_method), *slash = strchr(action, '/'), *list;

	if (t != NULL && slash != NULL && strncmp(slash + 1, "Create", 6) == 0 && t->t_created[0] != '\0')
		return arena_strdup(call->c_arena, t->t_created);
	for (size_t i = 0; i < sizeof(svc_request_ids) / sizeof(svc_request_ids[0]); i++) {
		const ProtobufCFieldDescriptor *f =
			svc_field(call->c_request, svc_request_ids[i].field, PROTOBUF_C_TYPE_INT64);
		int64_t id;

		if (f == NULL || f->label == PROTOBUF_C_LABEL_REPEATED)
			continue;
		id = *(const int64_t *)((const char *)call->c_request + f->offset);
		if (id > 0)
			return arena_printf(call->c_arena, "%s/%lld", svc_request_ids[i].noun, (long long)id);
	}
	if ((list = svc_task_list(call)) != NULL)
		return list;
	if (t != NULL && t->t_changed[0] != '\0')
		return arena_strdup(call->c_arena, t->t_changed);
	if (t != NULL && t->t_event[0] != '\0')
		return arena_strdup(call->c_arena, t->t_event);
	return slash != NULL ? arena_strndup(call->c_arena, action, (size_t)(slash - action)) : action;
}

static const char *svc_audit_actor(struct rpc_call *call)
{
	const ProtobufCFieldDescriptor *f = svc_field(call->c_request, "actor", PROTOBUF_C_TYPE_STRING);
	const char *actor;

	if (f == NULL || f->label == PROTOBUF_C_LABEL_REPEATED)
		return "api";
	actor = *(char *const *)((const char *)call->c_request + f->offset);
	if (actor == NULL || actor[0] == '\0')
		return "api";
	return arena_strndup(call->c_arena, actor, utf8_cut(actor, strnlen(actor, SVC_ACTOR_MAX)));
}

/* The trace the change's own events carry: the request's trace_id field
 * when it has one and it is set (the task commands), else the call's. */
static const char *svc_audit_trace(struct rpc_call *call)
{
	const ProtobufCFieldDescriptor *f = svc_field(call->c_request, "trace_id", PROTOBUF_C_TYPE_STRING);
	const char *trace;

	if (f == NULL || f->label == PROTOBUF_C_LABEL_REPEATED)
		return call->c_trace_id;
	trace = *(char *const *)((const char *)call->c_request + f->offset);
	return trace != NULL && trace[0] != '\0' ? trace : call->c_trace_id;
}

static struct audit_entry svc_audit_entry(struct rpc_call *call, const struct svc_touched *t)
{
	int64_t now = clock_now_ms();

	return (struct audit_entry){
		.ae_actor = svc_audit_actor(call),
		.ae_action = audit_action(call->c_method),
		.ae_resource = svc_audit_resource(call, t),
		.ae_reason = call->c_key_checked ? "API key accepted" : "no API key configured",
		.ae_peer = call->c_peer,
		.ae_count = 1,
		.ae_first_at_ms = now,
		.ae_last_at_ms = now,
		.ae_trace_id = svc_audit_trace(call),
	};
}

struct svc_audited {
	struct rpc_call *sa_call;
	store_write_fn sa_fn;
	void *sa_arg;
};

/* Runs on the writer thread while the call's worker waits in store_write, so
 * the call (and its arena) is the writer's to use. */
static int svc_audited_write(struct db *db, void *arg, bbb_status *st)
{
	struct svc_audited *sa = arg;
	struct svc_touched t;
	int rc;

	memset(&t, 0, sizeof(t));
	db_on_row(db, svc_on_row, &t);
	rc = sa->sa_fn(db, sa->sa_arg, st);
	db_on_row(db, NULL, NULL);
	if (rc != 0)
		return rc;
	struct audit_entry e = svc_audit_entry(sa->sa_call, &t);
	return emit_security_audit_allowed(db, &e, st);
}

int svc_write(struct rpc_call *call, store_write_fn fn, void *arg, bbb_status *st)
{
	struct store *s = svc_env(call)->se_store;
	struct svc_audited sa = {call, fn, arg};

	if (!(call->c_flags & RPC_MUTATES) || call->c_audited)
		return store_write(s, fn, arg, call->c_deadline_ms, st);
	if (store_write(s, svc_audited_write, &sa, call->c_deadline_ms, st) != 0)
		return -1;
	call->c_audited = 1;
	return 0;
}

void svc_audit_allowed(void *envp, struct rpc_call *call)
{
	struct service_env *env = envp;
	struct audit_entry e = svc_audit_entry(call, NULL);

	audit_trail_post(env->se_audit, 1, &e);
	call->c_audited = 1;
}

void svc_audit_denied(void *envp, const struct rpc_call *call, const bbb_status *st)
{
	struct service_env *env = envp;

	audit_trail_denied(env->se_audit, call->c_method, call->c_peer, st);
}
