/*
 * ToolService: FinishTask, BlockTask, RequestInput, the calls an agent makes
 * back while it works on a task (docs/protocol.md, Services).
 *
 * One write function serves all three. Inside the transaction it looks the
 * idempotency key up in tool_calls: a key seen before returns the packed
 * first response with idempotency_hit = true and changes nothing; a new key
 * applies the tool and stores its response. Every call, applied, replayed or
 * refused, writes a tool.command.audit event; a refusal is reported the way
 * task commands report theirs (the write function returns 0 so the audit
 * commits, and the handler answers with the refusal). Refusals are not
 * stored under the key: a retry after the cause is fixed can succeed.
 */
#include <string.h>

#include "beebeebrain/v1/tool.pb-c.h"
#include "common/redact.h"
#include "common/status.h"
#include "domain/tool_rules.h"
#include "domain/validate.h"
#include "events/emit.h"
#include "services/services.h"
#include "ops/task_ops.h"
#include "store/inbox_store.h"
#include "store/run_store.h"
#include "store/task_store.h"
#include "store/tool_store.h"

#define I(x) BEEBEEBRAIN__V1__INBOX_ITEM_TYPE__INBOX_ITEM_TYPE_##x

struct tool_call_req {
	struct taskop_ctx tl_ctx;
	enum tool_kind tl_kind;
	int64_t tl_task_id;
	int64_t tl_run_id;
	const char *tl_key;
	const char *tl_note; /* BlockTask reason, RequestInput title */
	const char *tl_title; /* RequestInput */
	const char *tl_content; /* RequestInput */
	ProtobufCMessage *tl_resp; /* the typed response to fill */
	bbb_status tl_refusal;
};

static int tool_audit(struct tool_call_req *tl, int hit, bbb_status *st)
{
	Beebeebrain__V1__Task *t = NULL;
	bbb_status ignore;
	struct emit_tool_audit ta = {
		.eta_task_id = tl->tl_task_id,
		.eta_run_id = tl->tl_run_id,
		.eta_tool = tool_name(tl->tl_kind),
		.eta_key = tl->tl_key,
		.eta_hit = hit,
		.eta_refusal = &tl->tl_refusal,
		.eta_note = tl->tl_note,
	};

	if (store_task_get(tl->tl_ctx.o_db, tl->tl_task_id, tl->tl_ctx.o_arena, &t, &ignore) == 0)
		ta.eta_project_id = t->project_id;
	return emit_tool_command_audit(tl->tl_ctx.o_db, tl->tl_ctx.o_trace_id, &ta, st);
}

/* The response's `task` and `idempotency_hit` fields, by tool. */
static void tool_set_result(struct tool_call_req *tl, Beebeebrain__V1__Task *t, Beebeebrain__V1__InboxItem *item,
			    int hit)
{
	switch (tl->tl_kind) {
	case TOOL_FINISH_TASK:
		((Beebeebrain__V1__FinishTaskResponse *)tl->tl_resp)->task = t;
		((Beebeebrain__V1__FinishTaskResponse *)tl->tl_resp)->idempotency_hit = hit;
		break;
	case TOOL_BLOCK_TASK:
		((Beebeebrain__V1__BlockTaskResponse *)tl->tl_resp)->task = t;
		((Beebeebrain__V1__BlockTaskResponse *)tl->tl_resp)->idempotency_hit = hit;
		break;
	case TOOL_REQUEST_INPUT:
		((Beebeebrain__V1__RequestInputResponse *)tl->tl_resp)->task = t;
		((Beebeebrain__V1__RequestInputResponse *)tl->tl_resp)->item = item;
		((Beebeebrain__V1__RequestInputResponse *)tl->tl_resp)->idempotency_hit = hit;
		break;
	}
}

/* A repeated key: the first response again (or IDEMPOTENCY_KEY_CONFLICT). */
static int tool_replay(struct tool_call_req *tl, const struct tool_call *first, bbb_status *st)
{
	ProtobufCMessage *resp;

	if (tool_replay_check(first->tc_tool, first->tc_task_id, tl->tl_kind, tl->tl_task_id, &tl->tl_refusal) != 0)
		return tool_audit(tl, 0, st);
	resp = protobuf_c_message_unpack(tl->tl_resp->descriptor, &tl->tl_ctx.o_arena->a_pb, first->tc_len,
					 first->tc_response);
	if (resp == NULL)
		return status_fail(st, "INTERNAL_ERROR", "the stored result of key %.80s does not decode", tl->tl_key);
	tl->tl_resp = resp;
	switch (tl->tl_kind) {
	case TOOL_FINISH_TASK:
		((Beebeebrain__V1__FinishTaskResponse *)resp)->idempotency_hit = 1;
		break;
	case TOOL_BLOCK_TASK:
		((Beebeebrain__V1__BlockTaskResponse *)resp)->idempotency_hit = 1;
		break;
	case TOOL_REQUEST_INPUT:
		((Beebeebrain__V1__RequestInputResponse *)resp)->idempotency_hit = 1;
		break;
	}
	return tool_audit(tl, 1, st);
}

/* RequestInput's inbox item: the open await_user_input item of the task, or a
 * new one (at most one is open per task). */
static int tool_input_item(struct tool_call_req *tl, const Beebeebrain__V1__Task *t, Beebeebrain__V1__InboxItem **out,
			   bbb_status *st)
{
	Beebeebrain__V1__InboxItem *it;

	if (store_inbox_open_for(tl->tl_ctx.o_db, I(AWAIT_USER_INPUT), t->id, tl->tl_ctx.o_arena, out, st) != 0)
		return -1;
	if (*out != NULL)
		return 0;
	it = (void *)arena_message(tl->tl_ctx.o_arena, &beebeebrain__v1__inbox_item__descriptor);
	it->project_id = t->project_id;
	it->source_type = BEEBEEBRAIN__V1__SOURCE_TYPE__SOURCE_TYPE_TASK;
	it->source_id = t->id;
	it->item_type = I(AWAIT_USER_INPUT);
	it->title = (char *)tl->tl_title;
	it->content = (char *)tl->tl_content;
	if (taskop_inbox_create(&tl->tl_ctx, it, st) != 0)
		return -1;
	*out = it;
	return 0;
}

/* FinishTask also closes the task's open task_completed item: the review it
 * asked for has happened. */
static int tool_close_completed(struct tool_call_req *tl, const Beebeebrain__V1__Task *t, bbb_status *st)
{
	Beebeebrain__V1__InboxItem *it;

	if (store_inbox_open_for(tl->tl_ctx.o_db, I(TASK_COMPLETED), t->id, tl->tl_ctx.o_arena, &it, st) != 0)
		return -1;
	if (it == NULL)
		return 0;
	return taskop_inbox_close(&tl->tl_ctx, it, "agent", "", st);
}

static int tool_apply(struct tool_call_req *tl, bbb_status *st)
{
	Beebeebrain__V1__InboxItem *item = NULL;
	Beebeebrain__V1__Task *t;
	Beebeebrain__V1__TaskRun *run;
	struct tool_call record;
	size_t len;
	uint8_t *buf;

	if (store_task_get(tl->tl_ctx.o_db, tl->tl_task_id, tl->tl_ctx.o_arena, &t, &tl->tl_refusal) != 0) {
		if (tl->tl_refusal.code == BBB_NOT_FOUND)
			return tool_audit(tl, 0, st);
		*st = tl->tl_refusal;
		return -1;
	}
	if (tl->tl_run_id != 0 &&
	    (store_run_get(tl->tl_ctx.o_db, tl->tl_run_id, tl->tl_ctx.o_arena, &run, &tl->tl_refusal) != 0 ||
	     run->task_id != t->id)) {
		status_clear(&tl->tl_refusal);
		status_fail(&tl->tl_refusal, "TASK_RUN_NOT_FOUND", "run %lld is not a run of task %lld",
			    (long long)tl->tl_run_id, (long long)t->id);
		return tool_audit(tl, 0, st);
	}
	if (task_transition_check(t->status, tool_target(tl->tl_kind), &tl->tl_refusal) != 0)
		return tool_audit(tl, 0, st);
	if (taskop_set_status(&tl->tl_ctx, t, tool_target(tl->tl_kind), st) != 0)
		return -1;
	if (tl->tl_kind == TOOL_FINISH_TASK && tool_close_completed(tl, t, st) != 0)
		return -1;
	if (tl->tl_kind == TOOL_REQUEST_INPUT && tool_input_item(tl, t, &item, st) != 0)
		return -1;
	tool_set_result(tl, t, item, 0);

	/* The stored copy is free text too (the item's title and content). */
	redact_message(tl->tl_ctx.o_arena, tl->tl_resp);
	len = protobuf_c_message_get_packed_size(tl->tl_resp);
	buf = arena_alloc(tl->tl_ctx.o_arena, len + 1);
	protobuf_c_message_pack(tl->tl_resp, buf);
	record = (struct tool_call){(char *)tool_name(tl->tl_kind), t->id, buf, len};
	if (store_tool_call_put(tl->tl_ctx.o_db, tl->tl_key, &record, st) != 0)
		return -1;
	return tool_audit(tl, 0, st);
}

static int tool_write(struct db *db, void *arg, bbb_status *st)
{
	struct tool_call_req *tl = arg;
	struct tool_call first;
	int found;

	tl->tl_ctx.o_db = db;
	status_clear(&tl->tl_refusal);
	found = store_tool_call_get(db, tl->tl_key, tl->tl_ctx.o_arena, &first, st);
	if (found < 0)
		return -1;
	if (found)
		return tool_replay(tl, &first, st);
	return tool_apply(tl, st);
}

static int tool_run(struct rpc_call *call, struct tool_call_req *tl, ProtobufCMessage **out, bbb_status *st)
{
	tl->tl_ctx = (struct taskop_ctx){.o_arena = call->c_arena, .o_trace_id = call->c_trace_id, .o_actor = "agent"};
	validate_id(st, "task_id", tl->tl_task_id, 1);
	validate_id(st, "run_id", tl->tl_run_id, 0);
	tool_key_check(st, tl->tl_key);
	if (st->code != BBB_OK)
		return -1;
	if (svc_write(call, tool_write, tl, st) != 0)
		return -1;
	if (tl->tl_refusal.code != BBB_OK) {
		*st = tl->tl_refusal;
		return -1;
	}
	/* A replay answers with the stored message, not the one the dispatcher made. */
	*out = tl->tl_resp;
	return 0;
}

/* The dispatcher packs the response object it allocated: a replayed response
 * (same message type, unpacked into the call's arena) is copied into it. */
static void tool_copy_back(ProtobufCMessage *dst, const ProtobufCMessage *src)
{
	if (dst != src)
		memcpy(dst, src, dst->descriptor->sizeof_message);
}

static int finish_task(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__FinishTaskRequest *req = (const void *)in;
	struct tool_call_req tl = {.tl_kind = TOOL_FINISH_TASK,
				   .tl_task_id = req->task_id,
				   .tl_run_id = req->run_id,
				   .tl_key = req->idempotency_key,
				   .tl_note = "",
				   .tl_resp = out};
	ProtobufCMessage *resp;

	if (tool_run(call, &tl, &resp, st) != 0)
		return -1;
	tool_copy_back(out, resp);
	return 0;
}

static int block_task(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__BlockTaskRequest *req = (const void *)in;
	struct tool_call_req tl = {.tl_kind = TOOL_BLOCK_TASK,
				   .tl_task_id = req->task_id,
				   .tl_run_id = req->run_id,
				   .tl_key = req->idempotency_key,
				   .tl_note = req->reason,
				   .tl_resp = out};
	ProtobufCMessage *resp;

	validate_text(st, "reason", req->reason, 0, 2000);
	if (tool_run(call, &tl, &resp, st) != 0)
		return -1;
	tool_copy_back(out, resp);
	return 0;
}

static int request_input(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__RequestInputRequest *req = (const void *)in;
	struct tool_call_req tl = {.tl_kind = TOOL_REQUEST_INPUT,
				   .tl_task_id = req->task_id,
				   .tl_run_id = req->run_id,
				   .tl_key = req->idempotency_key,
				   .tl_note = req->title,
				   .tl_title = req->title,
				   .tl_content = req->content,
				   .tl_resp = out};
	ProtobufCMessage *resp;

	validate_text(st, "title", req->title, 1, 160);
	if (validate_utf8_len(req->content) < 0)
		status_violation(st, "content", "must be valid UTF-8");
	if (tool_run(call, &tl, &resp, st) != 0)
		return -1;
	tool_copy_back(out, resp);
	return 0;
}

static const struct rpc_method tool_methods[] = {
	{"FinishTask", finish_task, RPC_MUTATES},
	{"BlockTask", block_task, RPC_MUTATES},
	{"RequestInput", request_input, RPC_MUTATES},
};

const struct rpc_service tool_service = {
	.s_desc = &beebeebrain__v1__tool_service__descriptor,
	.s_methods = tool_methods,
	.s_n_methods = sizeof(tool_methods) / sizeof(tool_methods[0]),
};
