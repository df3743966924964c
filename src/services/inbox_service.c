/*
 * InboxService: ListItems (newest first), GetItem, CreateItem (an operator
 * note), CloseItem. Closing follows domain/inbox_rules.c: an await_user_input
 * item needs the input and, when its task is blocked, hands the input to a
 * new run of the task; a task_completed item of a task in review moves the
 * task to done. The close and its effects are one transaction.
 */
#include <stdio.h>
#include <string.h>

#include "beebeebrain/v1/inbox.pb-c.h"
#include "common/status.h"
#include "domain/inbox_rules.h"
#include "domain/run_rules.h"
#include "domain/validate.h"
#include "events/emit.h"
#include "services/services.h"
#include "ops/task_ops.h"
#include "store/agent_store.h"
#include "store/inbox_store.h"
#include "store/run_store.h"
#include "store/task_store.h"

#define I(x) BEEBEEBRAIN__V1__INBOX_ITEM_TYPE__INBOX_ITEM_TYPE_##x
#define T(x) BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_##x

static int list_items(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__ListItemsRequest *req = (const void *)in;
	Beebeebrain__V1__ListItemsResponse *resp = (void *)out;
	int64_t before;
	int limit, more;
	char token[32];

	validate_id(st, "project_id", req->project_id, 0);
	validate_enum(st, "item_type", &beebeebrain__v1__inbox_item_type__descriptor, (int)req->item_type, 1);
	validate_enum(st, "status", &beebeebrain__v1__inbox_status__descriptor, (int)req->status, 1);
	validate_range(st, "offset", req->offset, 0, INT32_MAX);
	/* Newest first: the token names the last id seen, the next page starts below it. */
	if (paging_parse(st, req->page_token, req->limit, 50, 100, &before, &limit) != 0 || st->code != BBB_OK)
		return -1;
	if (store_inbox_list(svc_reader(call), req->project_id, (int)req->item_type, (int)req->status, before, limit,
			     req->offset, call->c_arena, &resp->items, &resp->n_items, &more, st) != 0)
		return -1;
	if (more) {
		paging_token(resp->items[resp->n_items - 1]->id, token, sizeof(token));
		resp->next_page_token = arena_strdup(call->c_arena, token);
	}
	return 0;
}

static int get_item(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__GetItemRequest *req = (const void *)in;
	Beebeebrain__V1__GetItemResponse *resp = (void *)out;

	if (validate_id(st, "item_id", req->item_id, 1) != 0)
		return -1;
	return store_inbox_get(svc_reader(call), req->item_id, call->c_arena, &resp->item, st);
}

struct inbox_create {
	struct taskop_ctx ic_ctx;
	Beebeebrain__V1__InboxItem *ic_item;
};

static int inbox_create_write(struct db *db, void *arg, bbb_status *st)
{
	struct inbox_create *ic = arg;

	ic->ic_ctx.o_db = db;
	if (taskop_resolve_project(db, &ic->ic_item->project_id, st) != 0)
		return -1;
	return taskop_inbox_create(&ic->ic_ctx, ic->ic_item, st);
}

static int create_item(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__CreateItemRequest *req = (const void *)in;
	Beebeebrain__V1__CreateItemResponse *resp = (void *)out;
	struct inbox_create ic = {
		.ic_ctx = {.o_arena = call->c_arena, .o_trace_id = call->c_trace_id, .o_actor = "operator"}};
	Beebeebrain__V1__InboxItem *it;

	validate_id(st, "project_id", req->project_id, 0);
	validate_text(st, "title", req->title, 1, 160);
	if (validate_utf8_len(req->content) < 0)
		status_violation(st, "content", "must be valid UTF-8");
	if (st->code != BBB_OK)
		return -1;
	it = (void *)arena_message(call->c_arena, &beebeebrain__v1__inbox_item__descriptor);
	it->project_id = req->project_id;
	it->source_type = BEEBEEBRAIN__V1__SOURCE_TYPE__SOURCE_TYPE_SYSTEM;
	it->item_type = I(OPERATOR_NOTE);
	it->title = req->title;
	it->content = req->content;
	ic.ic_item = it;
	if (svc_write(call, inbox_create_write, &ic, st) != 0)
		return -1;
	resp->item = it;
	return 0;
}

struct inbox_close {
	struct taskop_ctx cl_ctx;
	const Beebeebrain__V1__CloseItemRequest *cl_req;
	Beebeebrain__V1__CloseItemResponse *cl_resp;
};

/* The input of an await_user_input item goes to a new run of its blocked
 * task, with the settings of the task's last run (else its agent's). Any run
 * still active for the task is superseded (cancelled) first. Without a
 * provider to run on, the task goes back to todo for an operator to run. */
static int inbox_input_to_run(struct inbox_close *cl, const Beebeebrain__V1__InboxItem *it, Beebeebrain__V1__Task *t,
			      bbb_status *st)
{
	Beebeebrain__V1__TaskRun *last = NULL;
	Beebeebrain__V1__Agent *agent = NULL;
	struct run_request rq = {.rr_provider = "", .rr_model = "", .rr_system_prompt = ""};
	struct arena *a = cl->cl_ctx.o_arena;

	if (taskop_cancel_active_runs(&cl->cl_ctx, t, "SUPERSEDED_BY_USER_INPUT", st) != 0)
		return -1;
	if (store_run_latest(cl->cl_ctx.o_db, t->id, a, &last, st) != 0)
		return -1;
	if (t->assignee_agent_id != 0 && store_agent_get(cl->cl_ctx.o_db, t->assignee_agent_id, a, &agent, st) != 0)
		return -1;
	if (last != NULL) {
		rq.rr_provider = last->provider;
		rq.rr_model = last->model;
		rq.rr_system_prompt = last->system_prompt;
		rq.rr_max_turns = last->max_turns;
		rq.rr_timeout_s = last->timeout_seconds;
		rq.rr_max_output_tokens = last->max_output_tokens;
	}
	if (rq.rr_provider[0] == '\0' && agent == NULL)
		return taskop_set_status(&cl->cl_ctx, t, T(TODO), st);
	rq.rr_prompt = arena_printf(a, "Input from %s for \"%s\" (inbox item %lld):\n%s", it->resolver, it->title,
				    (long long)it->id, it->user_input);
	rq.rr_key = arena_printf(a, "inbox-%lld-input", (long long)it->id);
	if (taskop_queue_run(&cl->cl_ctx, t->id, &rq, &cl->cl_resp->run, NULL, st) != 0)
		return -1;
	/* The run moved the task; report it as it is now. */
	return store_task_get(cl->cl_ctx.o_db, t->id, a, &cl->cl_resp->task, st);
}

static int inbox_close_write(struct db *db, void *arg, bbb_status *st)
{
	struct inbox_close *cl = arg;
	const Beebeebrain__V1__CloseItemRequest *req = cl->cl_req;
	Beebeebrain__V1__InboxItem *it;
	Beebeebrain__V1__Task *t = NULL;
	enum inbox_close_effect effect;
	bbb_status missing;

	cl->cl_ctx.o_db = db;
	if (store_inbox_get(db, req->item_id, cl->cl_ctx.o_arena, &it, st) != 0)
		return -1;
	if (req->expected_version != 0 && req->expected_version != it->version)
		return status_fail(st, "TASK_VERSION_CONFLICT", "inbox item %lld is at version %lld, not %lld",
				   (long long)it->id, (long long)it->version, (long long)req->expected_version);
	if (inbox_close_check(it->item_type, it->status, req->user_input, st) != 0)
		return -1;
	if (taskop_inbox_close(&cl->cl_ctx, it, cl->cl_ctx.o_actor, req->user_input, st) != 0)
		return -1;
	cl->cl_resp->item = it;
	if (it->item_type == I(AWAIT_USER_INPUT) && emit_user_input_submitted(db, cl->cl_ctx.o_trace_id, it, st) != 0)
		return -1;
	/* An item about a task that is gone has nothing more to do. */
	if (it->source_type == BEEBEEBRAIN__V1__SOURCE_TYPE__SOURCE_TYPE_TASK &&
	    store_task_get(db, it->source_id, cl->cl_ctx.o_arena, &t, &missing) != 0)
		t = NULL;
	if (t == NULL)
		return 0;
	effect = inbox_close_effect(it->item_type, it->source_type, t->status);
	switch (effect) {
	case INBOX_CLOSE_ONLY:
		return 0;
	case INBOX_CLOSE_TASK_DONE:
		if (taskop_set_status(&cl->cl_ctx, t, T(DONE), st) != 0)
			return -1;
		cl->cl_resp->task = t;
		return 0;
	case INBOX_CLOSE_INPUT_TO_RUN:
		cl->cl_resp->task = t;
		return inbox_input_to_run(cl, it, t, st);
	}
	return 0;
}

static int close_item(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__CloseItemRequest *req = (const void *)in;
	struct inbox_close cl = {
		.cl_ctx = {.o_arena = call->c_arena,
			   .o_trace_id = call->c_trace_id,
			   .o_actor = req->resolver[0] != '\0' ? req->resolver : "operator",
			   .o_run_timeout_s = svc_env(call)->se_run_timeout_s},
		.cl_req = req,
		.cl_resp = (void *)out,
	};

	validate_id(st, "item_id", req->item_id, 1);
	validate_id(st, "expected_version", req->expected_version, 0);
	validate_text(st, "resolver", req->resolver, 0, 120);
	validate_text(st, "user_input", req->user_input, 0, RUN_PROMPT_MAX / 2);
	if (st->code != BBB_OK)
		return -1;
	return svc_write(call, inbox_close_write, &cl, st);
}

static const struct rpc_method inbox_methods[] = {
	{"ListItems", list_items, RPC_READ},
	{"GetItem", get_item, RPC_READ},
	{"CreateItem", create_item, RPC_MUTATES},
	{"CloseItem", close_item, RPC_MUTATES},
};

const struct rpc_service inbox_service = {
	.s_desc = &beebeebrain__v1__inbox_service__descriptor,
	.s_methods = inbox_methods,
	.s_n_methods = sizeof(inbox_methods) / sizeof(inbox_methods[0]),
};
