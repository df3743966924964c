/*
 * TaskService: tasks, their commands, dependencies and runs
 * (docs/protocol.md). Handlers validate the request (domain/), then either read through
 * the worker's connection or submit one write function to the writer, which
 * runs it inside one transaction together with its events (task_ops.h).
 *
 * Commands (pause, resume, retry, cancel, and each target of a broadcast) are
 * audited whether applied or refused: their write functions report a refusal
 * in a separate status and return 0, so that the audit event commits; the
 * handler then answers with the refusal.
 */
#include <string.h>

#include "beebeebrain/v1/task.pb-c.h"
#include "common/enum_text.h"
#include "common/status.h"
#include "domain/broadcast.h"
#include "domain/run_rules.h"
#include "domain/task_graph.h"
#include "domain/update_mask.h"
#include "domain/validate.h"
#include "events/emit.h"
#include "services/services.h"
#include "ops/task_ops.h"
#include "store/dep_store.h"
#include "store/event_store.h"
#include "store/run_store.h"
#include "store/task_store.h"

#define T(x) BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_##x
#define C(x) BEEBEEBRAIN__V1__TASK_COMMAND__TASK_COMMAND_##x

static struct taskop_ctx task_ctx(struct rpc_call *call, struct db *db, const char *actor, const char *trace_id)
{
	return (struct taskop_ctx){
		.o_db = db,
		.o_arena = call->c_arena,
		.o_trace_id = trace_id != NULL && trace_id[0] != '\0' ? trace_id : call->c_trace_id,
		.o_actor = actor != NULL && actor[0] != '\0' ? actor : "operator",
		.o_run_timeout_s = svc_env(call)->se_run_timeout_s,
	};
}

/* The agent must exist and belong to the project: INVALID_ASSIGNEE. */
static int task_check_assignee(struct db *db, int64_t agent_id, int64_t project_id, bbb_status *st)
{
	int64_t agent_project;

	if (agent_id == 0)
		return 0;
	if (store_agent_project(db, agent_id, &agent_project, st) != 0 || agent_project != project_id) {
		status_clear(st);
		return status_fail(st, "INVALID_ASSIGNEE", "agent %lld is not an agent of project %lld",
				   (long long)agent_id, (long long)project_id);
	}
	return 0;
}

static int task_check_actor(bbb_status *st, const char *actor, const char *trace_id)
{
	int bad = validate_text(st, "actor", actor, 0, 120);

	if (validate_text(st, "trace_id", trace_id, 0, 64) != 0)
		bad = -1;
	return bad;
}

/* ---- CreateTask, GetTask, ListTasks */

struct task_create {
	struct taskop_ctx tc_ctx;
	const Beebeebrain__V1__CreateTaskRequest *tc_req;
	Beebeebrain__V1__Task *tc_task;
};

static int task_create_write(struct db *db, void *arg, bbb_status *st)
{
	struct task_create *tc = arg;
	const Beebeebrain__V1__CreateTaskRequest *req = tc->tc_req;
	Beebeebrain__V1__Task *t = (void *)arena_message(tc->tc_ctx.o_arena, &beebeebrain__v1__task__descriptor);

	tc->tc_ctx.o_db = db;
	t->project_id = req->project_id;
	if (taskop_resolve_project(db, &t->project_id, st) != 0)
		return -1;
	if (task_check_assignee(db, req->assignee_agent_id, t->project_id, st) != 0)
		return -1;
	if (req->parent_task_id != 0) {
		Beebeebrain__V1__Task *parent;
		if (store_task_get(db, req->parent_task_id, tc->tc_ctx.o_arena, &parent, st) != 0)
			return -1;
		if (parent->project_id != t->project_id)
			return status_violation(st, "parent_task_id", "task %lld belongs to another project",
						(long long)req->parent_task_id);
	}
	t->title = req->title;
	t->description = req->description;
	t->status = T(TODO);
	t->priority = req->priority != 0 ? req->priority : 3;
	t->assignee_agent_id = req->assignee_agent_id;
	t->parent_task_id = req->parent_task_id;
	t->due_at_ms = req->due_at_ms;
	if (store_task_insert(db, t, st) != 0 || emit_task_status_changed(db, tc->tc_ctx.o_trace_id, t, T(UNSPECIFIED),
									  t->status, tc->tc_ctx.o_actor, st) != 0)
		return -1;
	tc->tc_task = t;
	return 0;
}

static int create_task(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__CreateTaskRequest *req = (const void *)in;
	Beebeebrain__V1__CreateTaskResponse *resp = (void *)out;
	struct task_create tc = {.tc_ctx = task_ctx(call, NULL, NULL, NULL), .tc_req = req};

	validate_id(st, "project_id", req->project_id, 0);
	validate_text(st, "title", req->title, 1, 160);
	validate_priority(st, "priority", req->priority);
	validate_id(st, "assignee_agent_id", req->assignee_agent_id, 0);
	validate_id(st, "parent_task_id", req->parent_task_id, 0);
	if (req->due_at_ms < 0)
		status_violation(st, "due_at_ms", "must be a time after 1970");
	if (req->status != T(UNSPECIFIED) && req->status != T(TODO))
		status_violation(st, "status", "a new task must be todo");
	if (validate_utf8_len(req->description) < 0)
		status_violation(st, "description", "must be valid UTF-8");
	if (st->code != BBB_OK)
		return -1;
	if (svc_write(call, task_create_write, &tc, st) != 0)
		return -1;
	resp->task = tc.tc_task;
	return 0;
}

static int get_task(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__GetTaskRequest *req = (const void *)in;
	Beebeebrain__V1__GetTaskResponse *resp = (void *)out;

	if (validate_id(st, "task_id", req->task_id, 1) != 0)
		return -1;
	return store_task_get(svc_reader(call), req->task_id, call->c_arena, &resp->task, st);
}

static int list_tasks(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__ListTasksRequest *req = (const void *)in;
	Beebeebrain__V1__ListTasksResponse *resp = (void *)out;
	struct task_filter f = {req->project_id, (int)req->status, req->assignee_agent_id, req->offset};
	int64_t after;
	int limit, more;
	char token[32];

	validate_id(st, "project_id", req->project_id, 0);
	validate_id(st, "assignee_agent_id", req->assignee_agent_id, 0);
	validate_enum(st, "status", &beebeebrain__v1__task_status__descriptor, (int)req->status, 1);
	validate_range(st, "offset", req->offset, 0, INT32_MAX);
	if (paging_parse(st, req->page_token, req->limit, 50, 100, &after, &limit) != 0 || st->code != BBB_OK)
		return -1;
	if (store_task_list(svc_reader(call), &f, after, limit, call->c_arena, &resp->tasks, &resp->n_tasks, &more,
			    st) != 0)
		return -1;
	if (more) {
		paging_token(resp->tasks[resp->n_tasks - 1]->id, token, sizeof(token));
		resp->next_page_token = arena_strdup(call->c_arena, token);
	}
	return 0;
}

/* ---- UpdateTask, DeleteTask */

/* update_mask names, in bit order. */
enum { TU_TITLE, TU_DESCRIPTION, TU_STATUS, TU_PRIORITY, TU_ASSIGNEE, TU_DUE, TU_PARENT };
static const char *const task_update_fields[] = {
	"title", "description", "status", "priority", "assignee_agent_id", "due_at_ms", "parent_task_id",
};
#define TU(bit) (1u << (bit))

struct task_update {
	struct taskop_ctx tu_ctx;
	const Beebeebrain__V1__UpdateTaskRequest *tu_req;
	unsigned tu_mask;
	Beebeebrain__V1__Task *tu_task;
};

/* A new parent for task t: of its project, and neither t nor below t (the
 * parent chain stays a tree). INVALID_TASK_DEPENDENCY for a missing parent
 * or a cycle (the task addressed exists: what is wrong is the value given). */
static int task_check_parent(struct db *db, struct arena *a, const Beebeebrain__V1__Task *t, int64_t parent_id,
			     bbb_status *st)
{
	Beebeebrain__V1__Task *p;
	int64_t id = parent_id;

	for (int steps = 0; id != 0; steps++) {
		if (id == t->id || steps > 10000)
			return status_fail(st, "INVALID_TASK_DEPENDENCY", "task %lld cannot be under itself",
					   (long long)t->id);
		if (store_task_get(db, id, a, &p, st) != 0) {
			if (st->code == BBB_NOT_FOUND)
				status_fail(st, "INVALID_TASK_DEPENDENCY", "parent task %lld does not exist",
					    (long long)parent_id);
			return -1;
		}
		if (id == parent_id && p->project_id != t->project_id)
			return status_violation(st, "parent_task_id", "task %lld belongs to another project",
						(long long)parent_id);
		id = p->parent_task_id;
	}
	return 0;
}

static int task_update_write(struct db *db, void *arg, bbb_status *st)
{
	struct task_update *tu = arg;
	const Beebeebrain__V1__UpdateTaskRequest *req = tu->tu_req;
	Beebeebrain__V1__Task *t;
	task_status to;

	tu->tu_ctx.o_db = db;
	if (store_task_get(db, req->task_id, tu->tu_ctx.o_arena, &t, st) != 0)
		return -1;
	if (req->expected_version != 0 && req->expected_version != t->version)
		return status_fail(st, "TASK_VERSION_CONFLICT", "task %lld is at version %lld, not %lld",
				   (long long)t->id, (long long)t->version, (long long)req->expected_version);
	to = (tu->tu_mask & TU(TU_STATUS)) ? req->status : t->status;
	if (task_transition_check(t->status, to, st) != 0)
		return -1;
	if ((tu->tu_mask & TU(TU_ASSIGNEE)) && task_check_assignee(db, req->assignee_agent_id, t->project_id, st) != 0)
		return -1;
	if ((tu->tu_mask & TU(TU_PARENT)) && task_check_parent(db, tu->tu_ctx.o_arena, t, req->parent_task_id, st) != 0)
		return -1;
	if (tu->tu_mask & TU(TU_PARENT))
		t->parent_task_id = req->parent_task_id;
	if (tu->tu_mask & TU(TU_TITLE))
		t->title = req->title;
	if (tu->tu_mask & TU(TU_DESCRIPTION))
		t->description = req->description;
	if (tu->tu_mask & TU(TU_PRIORITY))
		t->priority = req->priority;
	if (tu->tu_mask & TU(TU_ASSIGNEE))
		t->assignee_agent_id = req->assignee_agent_id;
	if (tu->tu_mask & TU(TU_DUE))
		t->due_at_ms = req->due_at_ms;
	/* One save, one version: through set_status when the status moves. */
	if (to != t->status) {
		if (taskop_set_status(&tu->tu_ctx, t, to, st) != 0)
			return -1;
	} else if (store_task_save(db, t, st) != 0) {
		return -1;
	}
	tu->tu_task = t;
	return 0;
}

static int update_task(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__UpdateTaskRequest *req = (const void *)in;
	Beebeebrain__V1__UpdateTaskResponse *resp = (void *)out;
	struct task_update tu = {.tu_ctx = task_ctx(call, NULL, req->actor, NULL), .tu_req = req};

	validate_id(st, "task_id", req->task_id, 1);
	validate_id(st, "expected_version", req->expected_version, 0);
	task_check_actor(st, req->actor, "");
	if (update_mask_parse(st, req->update_mask, req->n_update_mask, task_update_fields,
			      sizeof(task_update_fields) / sizeof(task_update_fields[0]), &tu.tu_mask) == 0) {
		if (tu.tu_mask & TU(TU_TITLE))
			validate_text(st, "title", req->title, 1, 160);
		if ((tu.tu_mask & TU(TU_DESCRIPTION)) && validate_utf8_len(req->description) < 0)
			status_violation(st, "description", "must be valid UTF-8");
		if (tu.tu_mask & TU(TU_STATUS))
			validate_enum(st, "status", &beebeebrain__v1__task_status__descriptor, req->status, 0);
		if (tu.tu_mask & TU(TU_PRIORITY))
			validate_range(st, "priority", req->priority, 1, 5);
		if (tu.tu_mask & TU(TU_ASSIGNEE))
			validate_id(st, "assignee_agent_id", req->assignee_agent_id, 0);
		if (tu.tu_mask & TU(TU_PARENT))
			validate_id(st, "parent_task_id", req->parent_task_id, 0);
		if ((tu.tu_mask & TU(TU_DUE)) && req->due_at_ms < 0)
			status_violation(st, "due_at_ms", "must be a time after 1970");
	}
	if (st->code != BBB_OK)
		return -1;
	if (svc_write(call, task_update_write, &tu, st) != 0)
		return -1;
	resp->task = tu.tu_task;
	return 0;
}

struct task_delete {
	struct taskop_ctx td_ctx;
	const Beebeebrain__V1__DeleteTaskRequest *td_req;
};

static int task_delete_write(struct db *db, void *arg, bbb_status *st)
{
	struct task_delete *td = arg;
	Beebeebrain__V1__TaskRun *active;
	Beebeebrain__V1__Task *t;
	int64_t children, dependents;

	td->td_ctx.o_db = db;
	if (store_task_get(db, td->td_req->task_id, td->td_ctx.o_arena, &t, st) != 0)
		return -1;
	if (td->td_req->expected_version != 0 && td->td_req->expected_version != t->version)
		return status_fail(st, "TASK_VERSION_CONFLICT", "task %lld is at version %lld, not %lld",
				   (long long)t->id, (long long)t->version, (long long)td->td_req->expected_version);
	if (store_task_dependents(db, t->id, &children, &dependents, st) != 0)
		return -1;
	if (children > 0 || dependents > 0)
		return status_fail(st, "TASK_HAS_DEPENDENTS",
				   "task %lld has %lld subtask(s) and %lld task(s) depending on it: delete or "
				   "detach those first",
				   (long long)t->id, (long long)children, (long long)dependents);
	if (store_run_active(db, t->id, td->td_ctx.o_arena, &active, st) != 0)
		return -1;
	if (active != NULL)
		return status_fail(st, "TASK_RUN_ALREADY_ACTIVE", "task %lld has active run %lld: cancel it first",
				   (long long)t->id, (long long)active->id);
	if (store_task_delete(db, t->id, st) != 0)
		return -1;
	/* A deletion is the status change to "no task", the mirror of creation. */
	return emit_task_status_changed(db, td->td_ctx.o_trace_id, t, t->status, T(UNSPECIFIED), td->td_ctx.o_actor,
					st);
}

static int delete_task(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__DeleteTaskRequest *req = (const void *)in;
	struct task_delete td = {.td_ctx = task_ctx(call, NULL, NULL, NULL), .td_req = req};

	(void)out;
	validate_id(st, "task_id", req->task_id, 1);
	validate_id(st, "expected_version", req->expected_version, 0);
	if (st->code != BBB_OK)
		return -1;
	return svc_write(call, task_delete_write, &td, st);
}

/* ---- PauseTask, ResumeTask, RetryTask, CancelTask */

struct task_cmd_call {
	struct taskop_ctx cm_ctx;
	task_command cm_cmd;
	int64_t cm_task_id;
	int64_t cm_expected_version;
	Beebeebrain__V1__Task *cm_task;
	bbb_status cm_refusal;
};

static int task_command_write(struct db *db, void *arg, bbb_status *st)
{
	struct task_cmd_call *cm = arg;

	cm->cm_ctx.o_db = db;
	return taskop_command(&cm->cm_ctx, cm->cm_cmd, cm->cm_task_id, cm->cm_expected_version, 0, &cm->cm_task, NULL,
			      &cm->cm_refusal, st);
}

/* The four command methods share their request layout and this handler. */
static int task_run_command(struct rpc_call *call, task_command cmd, int64_t task_id, int64_t expected_version,
			    const char *actor, const char *trace_id, Beebeebrain__V1__Task **task, bbb_status *st)
{
	struct task_cmd_call cm = {
		.cm_ctx = task_ctx(call, NULL, actor, trace_id),
		.cm_cmd = cmd,
		.cm_task_id = task_id,
		.cm_expected_version = expected_version,
	};

	validate_id(st, "task_id", task_id, 1);
	validate_id(st, "expected_version", expected_version, 0);
	task_check_actor(st, actor, trace_id);
	if (st->code != BBB_OK)
		return -1;
	if (svc_write(call, task_command_write, &cm, st) != 0)
		return -1;
	if (cm.cm_refusal.code != BBB_OK) {
		*st = cm.cm_refusal;
		return -1;
	}
	*task = cm.cm_task;
	return 0;
}

static int pause_task(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__PauseTaskRequest *req = (const void *)in;

	return task_run_command(call, C(PAUSE), req->task_id, req->expected_version, req->actor, req->trace_id,
				&((Beebeebrain__V1__PauseTaskResponse *)out)->task, st);
}

static int resume_task(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__ResumeTaskRequest *req = (const void *)in;

	return task_run_command(call, C(RESUME), req->task_id, req->expected_version, req->actor, req->trace_id,
				&((Beebeebrain__V1__ResumeTaskResponse *)out)->task, st);
}

static int retry_task(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__RetryTaskRequest *req = (const void *)in;

	return task_run_command(call, C(RETRY), req->task_id, req->expected_version, req->actor, req->trace_id,
				&((Beebeebrain__V1__RetryTaskResponse *)out)->task, st);
}

static int cancel_task(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__CancelTaskRequest *req = (const void *)in;

	return task_run_command(call, C(CANCEL), req->task_id, req->expected_version, req->actor, req->trace_id,
				&((Beebeebrain__V1__CancelTaskResponse *)out)->task, st);
}

/* ---- BroadcastCommand */

struct task_broadcast {
	struct taskop_ctx tb_ctx;
	const Beebeebrain__V1__BroadcastCommandRequest *tb_req;
	int64_t *tb_ids; /* deduplicated copy of task_ids */
	int64_t *tb_versions; /* parallel to tb_ids, or NULL */
	size_t tb_n;
	int tb_limit;
	Beebeebrain__V1__BroadcastCommandResponse *tb_resp;
};

static int task_broadcast_write(struct db *db, void *arg, bbb_status *st)
{
	struct task_broadcast *tb = arg;
	Beebeebrain__V1__BroadcastCommandResponse *resp = tb->tb_resp;
	int64_t project_id = tb->tb_req->project_id;
	int64_t *ids = tb->tb_ids;
	size_t n = tb->tb_n;

	tb->tb_ctx.o_db = db;
	if (taskop_resolve_project(db, &project_id, st) != 0)
		return -1;
	if (n == 0) {
		unsigned bits = tb->tb_req->status != T(UNSPECIFIED) ? 1u << tb->tb_req->status
								     : broadcast_default_statuses(tb->tb_req->command);
		if (store_task_select(db, project_id, bits, tb->tb_limit, tb->tb_ctx.o_arena, &ids, &n, st) != 0)
			return -1;
	}
	resp->results = arena_alloc(tb->tb_ctx.o_arena, sizeof(Beebeebrain__V1__BroadcastOutcome *) * (n > 0 ? n : 1));
	for (size_t i = 0; i < n; i++) {
		Beebeebrain__V1__BroadcastOutcome *o =
			(void *)arena_message(tb->tb_ctx.o_arena, &beebeebrain__v1__broadcast_outcome__descriptor);
		Beebeebrain__V1__Task *t;
		task_status from;
		bbb_status refusal;

		if (taskop_command(&tb->tb_ctx, tb->tb_req->command, ids[i],
				   tb->tb_versions != NULL ? tb->tb_versions[i] : 0, project_id, &t, &from, &refusal,
				   st) != 0)
			return -1;
		o->task_id = ids[i];
		o->previous_status = from;
		if (t != NULL) {
			o->status = t->status;
			o->version = t->version;
		}
		o->outcome = (char *)broadcast_outcome(&refusal);
		o->reason = arena_strdup(tb->tb_ctx.o_arena, refusal.reason);
		o->message = arena_strdup(tb->tb_ctx.o_arena, refusal.message);
		if (refusal.code == BBB_OK)
			resp->applied++;
		else if (strcmp(o->outcome, "conflict") == 0)
			resp->conflict++;
		else
			resp->rejected++;
		resp->results[resp->n_results++] = o;
	}
	return 0;
}

static int broadcast_command(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__BroadcastCommandRequest *req = (const void *)in;
	struct task_broadcast tb = {
		.tb_ctx = task_ctx(call, NULL, req->actor, NULL),
		.tb_req = req,
		.tb_resp = (void *)out,
	};
	size_t n_ids = req->n_task_ids;

	/* Copies: broadcast_check deduplicates in place. */
	tb.tb_ids = arena_alloc(call->c_arena, sizeof(int64_t) * (n_ids > 0 ? n_ids : 1));
	if (n_ids > 0)
		memcpy(tb.tb_ids, req->task_ids, sizeof(int64_t) * n_ids);
	if (req->n_expected_versions > 0) {
		tb.tb_versions = arena_alloc(call->c_arena, sizeof(int64_t) * req->n_expected_versions);
		memcpy(tb.tb_versions, req->expected_versions, sizeof(int64_t) * req->n_expected_versions);
	}
	validate_id(st, "project_id", req->project_id, 0);
	validate_enum(st, "status", &beebeebrain__v1__task_status__descriptor, req->status, 1);
	if (n_ids > 0 && req->status != T(UNSPECIFIED))
		status_violation(st, "status", "selects tasks when task_ids is empty; give one or the other");
	task_check_actor(st, req->actor, "");
	broadcast_check(st, req->command, tb.tb_ids, tb.tb_versions, n_ids, req->n_expected_versions, req->limit,
			&tb.tb_n, &tb.tb_limit);
	if (st->code != BBB_OK)
		return -1;
	return svc_write(call, task_broadcast_write, &tb, st);
}

/* ---- AddDependency, RemoveDependency, ListReadyTasks */

struct task_dep {
	struct arena *dp_arena;
	int64_t dp_task;
	int64_t dp_on;
	const char *dp_type; /* short text */
	int dp_remove;
};

/* Both tasks exist (TASK_NOT_FOUND) and share a project; returns that project. */
static int task_dep_tasks(struct db *db, const struct task_dep *dp, int64_t *project_id, bbb_status *st)
{
	Beebeebrain__V1__Task *t, *on;

	if (store_task_get(db, dp->dp_task, dp->dp_arena, &t, st) != 0 ||
	    store_task_get(db, dp->dp_on, dp->dp_arena, &on, st) != 0)
		return -1;
	if (t->project_id != on->project_id)
		return status_fail(st, "INVALID_TASK_DEPENDENCY", "tasks %lld and %lld belong to different projects",
				   (long long)t->id, (long long)on->id);
	*project_id = t->project_id;
	return 0;
}

static int task_dep_write(struct db *db, void *arg, bbb_status *st)
{
	struct task_dep *dp = arg;
	struct task_edge *edges;
	int64_t project_id = 0;
	size_t n;
	int removed;

	if (task_dep_tasks(db, dp, &project_id, st) != 0)
		return -1;
	if (dp->dp_remove) {
		if (store_dep_delete(db, dp->dp_task, dp->dp_on, &removed, st) != 0)
			return -1;
		if (!removed)
			return status_fail(st, "INVALID_TASK_DEPENDENCY", "task %lld does not depend on task %lld",
					   (long long)dp->dp_task, (long long)dp->dp_on);
		return 0;
	}
	if (store_dep_edges(db, project_id, dp->dp_arena, &edges, &n, st) != 0)
		return -1;
	if (task_graph_check_new_edge(edges, n, dp->dp_task, dp->dp_on, st) != 0)
		return -1;
	return store_dep_insert(db, dp->dp_task, dp->dp_on, dp->dp_type, st);
}

static int add_dependency(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__AddDependencyRequest *req = (const void *)in;
	Beebeebrain__V1__AddDependencyResponse *resp = (void *)out;
	int type = req->dependency_type != 0 ? (int)req->dependency_type
					     : BEEBEEBRAIN__V1__DEPENDENCY_TYPE__DEPENDENCY_TYPE_FINISH_TO_START;
	struct task_dep dp = {.dp_arena = call->c_arena, .dp_task = req->task_id, .dp_on = req->depends_on_task_id};
	char text[32];

	validate_id(st, "task_id", req->task_id, 1);
	validate_id(st, "depends_on_task_id", req->depends_on_task_id, 1);
	validate_enum(st, "dependency_type", &beebeebrain__v1__dependency_type__descriptor, type, 0);
	if (st->code != BBB_OK)
		return -1;
	dp.dp_type = enum_text(&beebeebrain__v1__dependency_type__descriptor, type, text, sizeof(text));
	if (svc_write(call, task_dep_write, &dp, st) != 0)
		return -1;
	resp->dependency = (void *)arena_message(call->c_arena, &beebeebrain__v1__task_dependency__descriptor);
	resp->dependency->task_id = req->task_id;
	resp->dependency->depends_on_task_id = req->depends_on_task_id;
	resp->dependency->dependency_type = type;
	return 0;
}

static int remove_dependency(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__RemoveDependencyRequest *req = (const void *)in;
	struct task_dep dp = {
		.dp_arena = call->c_arena, .dp_task = req->task_id, .dp_on = req->depends_on_task_id, .dp_remove = 1};

	(void)out;
	validate_id(st, "task_id", req->task_id, 1);
	validate_id(st, "depends_on_task_id", req->depends_on_task_id, 1);
	if (st->code != BBB_OK)
		return -1;
	return svc_write(call, task_dep_write, &dp, st);
}

static int task_ready_keep(const struct task_readiness *r)
{
	return task_is_ready(r->tr_status, r->tr_parent, r->tr_deps, r->tr_n_deps);
}

static int list_ready_tasks(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__ListReadyTasksRequest *req = (const void *)in;
	Beebeebrain__V1__ListReadyTasksResponse *resp = (void *)out;
	int64_t project_id = req->project_id, after[TASK_WALK_KEY];
	int given, more;
	char token[80];

	validate_id(st, "project_id", req->project_id, 0);
	if (req->limit != 0)
		validate_range(st, "limit", req->limit, 1, 100);
	/* The order is not by id: the token holds the last task's sort key. */
	if (paging_parse_key(st, req->page_token, after, TASK_WALK_KEY, &given) != 0 || st->code != BBB_OK)
		return -1;
	if (taskop_resolve_project(svc_reader(call), &project_id, st) != 0)
		return -1;
	if (store_task_todo_walk(svc_reader(call), project_id, task_ready_keep, given ? after : NULL,
				 req->limit != 0 ? req->limit : 50, call->c_arena, &resp->tasks, &resp->n_tasks, &more,
				 st) != 0)
		return -1;
	if (more) {
		store_task_walk_key(resp->tasks[resp->n_tasks - 1], after);
		paging_key_token(after, TASK_WALK_KEY, token, sizeof(token));
		resp->next_page_token = arena_strdup(call->c_arena, token);
	}
	return 0;
}

/* ---- RunTask, GetRun, ListRuns */

struct task_run {
	struct taskop_ctx tr_ctx;
	int64_t tr_task_id;
	struct run_request tr_rq;
	Beebeebrain__V1__TaskRun *tr_run;
};

static int task_run_write(struct db *db, void *arg, bbb_status *st)
{
	struct task_run *tr = arg;

	tr->tr_ctx.o_db = db;
	return taskop_queue_run(&tr->tr_ctx, tr->tr_task_id, &tr->tr_rq, &tr->tr_run, NULL, st);
}

/* RunTask with wait: the answer once the run is final (or, with force, the
 * run as it is now). Polled by the transport; holds no worker thread. */
static int run_wait_poll(const void *arg, void *worker, struct arena *a, ProtobufCMessage *out, int force,
			 bbb_status *st)
{
	Beebeebrain__V1__RunTaskResponse *resp = (void *)out;
	const struct service_worker *w = worker;
	int64_t run_id = *(const int64_t *)arg;

	if (store_run_get(w->sw_reader, run_id, a, &resp->run, st) != 0)
		return 1; /* the error is the answer */
	return force || run_is_final(resp->run->run_status);
}

/* wait=true: the reply is deferred until the run is final or the call's
 * deadline passes (then the run as it is); no worker thread waits. */
static int run_task(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__RunTaskRequest *req = (const void *)in;
	Beebeebrain__V1__RunTaskResponse *resp = (void *)out;
	struct task_run tr = {
		.tr_ctx = task_ctx(call, NULL, "run", NULL),
		.tr_task_id = req->task_id,
		.tr_rq = {req->prompt, req->provider, req->model, req->system_prompt, req->max_turns,
			  req->timeout_seconds, req->idempotency_key, req->max_output_tokens},
	};

	validate_id(st, "task_id", req->task_id, 1);
	run_request_check(st, &tr.tr_rq);
	if (st->code != BBB_OK)
		return -1;
	if (svc_write(call, task_run_write, &tr, st) != 0)
		return -1;
	resp->run = tr.tr_run;
	if (req->wait && !run_is_final(tr.tr_run->run_status)) {
		rpc_call_defer(call, run_wait_poll, &tr.tr_run->id, sizeof(tr.tr_run->id));
		return RPC_DEFERRED;
	}
	return 0;
}

static int get_run(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__GetRunRequest *req = (const void *)in;
	Beebeebrain__V1__GetRunResponse *resp = (void *)out;

	if (validate_id(st, "run_id", req->run_id, 1) != 0)
		return -1;
	if (store_run_get(svc_reader(call), req->run_id, call->c_arena, &resp->run, st) != 0)
		return -1;
	return store_run_attempts(svc_reader(call), req->run_id, call->c_arena, &resp->attempts, &resp->n_attempts, st);
}

static int list_runs(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__ListRunsRequest *req = (const void *)in;
	Beebeebrain__V1__ListRunsResponse *resp = (void *)out;
	int64_t after;
	int limit, more;
	char token[32];

	validate_id(st, "task_id", req->task_id, 0);
	validate_enum(st, "status", &beebeebrain__v1__run_status__descriptor, (int)req->status, 1);
	if (paging_parse(st, req->page_token, req->limit, 50, 100, &after, &limit) != 0 || st->code != BBB_OK)
		return -1;
	if (store_run_list(svc_reader(call), req->task_id, (int)req->status, after, limit, call->c_arena, &resp->runs,
			   &resp->n_runs, &more, st) != 0)
		return -1;
	if (more) {
		paging_token(resp->runs[resp->n_runs - 1]->id, token, sizeof(token));
		resp->next_page_token = arena_strdup(call->c_arena, token);
	}
	return 0;
}

static const struct rpc_method task_methods[] = {
	{"CreateTask", create_task, RPC_MUTATES},
	{"GetTask", get_task, RPC_READ},
	{"ListTasks", list_tasks, RPC_READ},
	{"UpdateTask", update_task, RPC_MUTATES},
	{"DeleteTask", delete_task, RPC_MUTATES},
	{"PauseTask", pause_task, RPC_MUTATES},
	{"ResumeTask", resume_task, RPC_MUTATES},
	{"RetryTask", retry_task, RPC_MUTATES},
	{"CancelTask", cancel_task, RPC_MUTATES},
	{"BroadcastCommand", broadcast_command, RPC_MUTATES},
	{"AddDependency", add_dependency, RPC_MUTATES},
	{"RemoveDependency", remove_dependency, RPC_MUTATES},
	{"ListReadyTasks", list_ready_tasks, RPC_READ},
	{"RunTask", run_task, RPC_MUTATES},
	{"GetRun", get_run, RPC_READ},
	{"ListRuns", list_runs, RPC_READ},
};

const struct rpc_service task_service = {
	.s_desc = &beebeebrain__v1__task_service__descriptor,
	.s_methods = task_methods,
	.s_n_methods = sizeof(task_methods) / sizeof(task_methods[0]),
};
