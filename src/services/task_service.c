/*
 * TaskService. This slice implements CreateTask, GetTask and ListTasks; the
 * other methods of the service answer UNIMPLEMENTED until they are written.
 */
#include "beebeebrain/v1/events.pb-c.h"
#include "beebeebrain/v1/task.pb-c.h"
#include "common/status.h"
#include "domain/validate.h"
#include "services/services.h"
#include "store/event_store.h"
#include "store/project_store.h"
#include "store/task_store.h"

struct task_create {
	const Beebeebrain__V1__CreateTaskRequest *tc_req;
	const char *tc_trace_id;
	struct arena *tc_arena;
	Beebeebrain__V1__Task *tc_task;
};

/* Resolves project 0 to the project named "default". */
static int task_resolve_project(sqlite3 *db, int64_t *project_id, bbb_status *st)
{
	Beebeebrain__V1__Project *p;
	struct arena a;
	int rc;

	if (*project_id == 0) {
		*project_id = store_project_id_by_name(db, "default");
		if (*project_id == 0)
			return status_violation(st, "project_id", "is required (no project named 'default' exists)");
		return 0;
	}
	arena_init(&a);
	rc = store_project_get(db, *project_id, &a, &p, st);
	arena_reset(&a);
	return rc;
}

static int task_create_write(sqlite3 *db, void *arg, bbb_status *st)
{
	struct task_create *tc = arg;
	const Beebeebrain__V1__CreateTaskRequest *req = tc->tc_req;
	Beebeebrain__V1__Task *t = (void *)arena_message(tc->tc_arena, &beebeebrain__v1__task__descriptor);
	Beebeebrain__V1__Event ev = BEEBEEBRAIN__V1__EVENT__INIT;
	Beebeebrain__V1__TaskStatusChanged change = BEEBEEBRAIN__V1__TASK_STATUS_CHANGED__INIT;

	t->project_id = req->project_id;
	if (task_resolve_project(db, &t->project_id, st) != 0)
		return -1;
	if (req->assignee_agent_id != 0) {
		int64_t agent_project;
		if (store_agent_project(db, req->assignee_agent_id, &agent_project, st) != 0 ||
		    agent_project != t->project_id) {
			status_clear(st);
			return status_fail(st, "INVALID_ASSIGNEE", "agent %lld is not an agent of project %lld",
					   (long long)req->assignee_agent_id, (long long)t->project_id);
		}
	}
	if (req->parent_task_id != 0) {
		Beebeebrain__V1__Task *parent;
		if (store_task_get(db, req->parent_task_id, tc->tc_arena, &parent, st) != 0)
			return -1;
		if (parent->project_id != t->project_id)
			return status_violation(st, "parent_task_id", "task %lld belongs to another project",
						(long long)req->parent_task_id);
	}
	t->title = req->title;
	t->description = req->description;
	t->status = BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_TODO;
	t->priority = req->priority != 0 ? req->priority : 3;
	t->assignee_agent_id = req->assignee_agent_id;
	t->parent_task_id = req->parent_task_id;
	t->due_at_ms = req->due_at_ms;
	if (store_task_insert(db, t, st) != 0)
		return -1;

	change.task_id = t->id;
	change.to_status = t->status;
	change.version = t->version;
	ev.project_id = t->project_id;
	ev.task_id = t->id;
	ev.event_type = "task.status.changed";
	ev.trace_id = (char *)tc->tc_trace_id;
	ev.payload_case = BEEBEEBRAIN__V1__EVENT__PAYLOAD_TASK_STATUS_CHANGED;
	ev.task_status_changed = &change;
	if (store_event_append(db, &ev, st) != 0)
		return -1;
	tc->tc_task = t;
	return 0;
}

static int create_task(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__CreateTaskRequest *req = (const void *)in;
	Beebeebrain__V1__CreateTaskResponse *resp = (void *)out;
	struct task_create tc = {.tc_req = req, .tc_trace_id = call->c_trace_id, .tc_arena = call->c_arena};

	validate_id(st, "project_id", req->project_id, 0);
	validate_text(st, "title", req->title, 1, 160);
	validate_priority(st, "priority", req->priority);
	validate_id(st, "assignee_agent_id", req->assignee_agent_id, 0);
	validate_id(st, "parent_task_id", req->parent_task_id, 0);
	if (req->due_at_ms < 0)
		status_violation(st, "due_at_ms", "must be a time after 1970");
	if (req->status != BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_UNSPECIFIED &&
	    req->status != BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_TODO)
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
	struct task_filter f = {req->project_id, (int)req->status, req->assignee_agent_id};
	int64_t after;
	int limit, more;
	char token[32];

	validate_id(st, "project_id", req->project_id, 0);
	validate_id(st, "assignee_agent_id", req->assignee_agent_id, 0);
	if (protobuf_c_enum_descriptor_get_value(&beebeebrain__v1__task_status__descriptor, (int)req->status) == NULL)
		status_violation(st, "status", "unknown task status %d", (int)req->status);
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

static const struct rpc_method task_methods[] = {
	{"CreateTask", create_task, RPC_MUTATES},
	{"GetTask", get_task, RPC_READ},
	{"ListTasks", list_tasks, RPC_READ},
};

const struct rpc_service task_service = {
	.s_desc = &beebeebrain__v1__task_service__descriptor,
	.s_methods = task_methods,
	.s_n_methods = sizeof(task_methods) / sizeof(task_methods[0]),
};
