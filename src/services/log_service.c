/*
 * LogService: AppendLog (a run's log line from an agent, a tool or an
 * operator) and QueryLogs (by project, task, run and minimum level, newest
 * first, cursor paging). Lines live in run_logs, whose indexes serve the
 * queries (store/log_store.c); each appended line is also a run.log event,
 * written in the same transaction: emit_run_log (events/emit.h) writes both,
 * and the stores redact both (common/redact.h).
 */
#include <string.h>

#include "beebeebrain/v1/log.pb-c.h"
#include "common/status.h"
#include "domain/validate.h"
#include "events/emit.h"
#include "services/services.h"
#include "store/log_store.h"
#include "store/run_store.h"

#define LOG_MESSAGE_MAX 16384
#define LOG_QUERY_MAX 200

struct log_append {
	struct arena *la_arena;
	const char *la_trace_id;
	Beebeebrain__V1__LogLine *la_line;
};

static int log_append_write(struct db *db, void *arg, bbb_status *st)
{
	struct log_append *la = arg;
	Beebeebrain__V1__LogLine *l = la->la_line;

	if (store_run_project(db, l->run_id, &l->project_id, &l->task_id, st) != 0)
		return -1;
	return emit_run_log(db, la->la_trace_id, la->la_arena, l, st);
}

static int append_log(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__AppendLogRequest *req = (const void *)in;
	Beebeebrain__V1__AppendLogResponse *resp = (void *)out;
	struct log_append la = {.la_arena = call->c_arena, .la_trace_id = call->c_trace_id};
	Beebeebrain__V1__LogLine *l;

	validate_id(st, "run_id", req->run_id, 1);
	validate_enum(st, "level", &beebeebrain__v1__log_level__descriptor, req->level, 1);
	validate_text(st, "message", req->message, 1, LOG_MESSAGE_MAX);
	validate_text(st, "source", req->source, 0, 80);
	if (st->code != BBB_OK)
		return -1;
	l = (void *)arena_message(call->c_arena, &beebeebrain__v1__log_line__descriptor);
	l->run_id = req->run_id;
	l->level = req->level != 0 ? req->level : BEEBEEBRAIN__V1__LOG_LEVEL__LOG_LEVEL_INFO;
	l->message = req->message;
	l->source = req->source[0] != '\0' ? req->source : "api";
	l->trace_id = (char *)call->c_trace_id;
	la.la_line = l;
	if (svc_write(call, log_append_write, &la, st) != 0)
		return -1;
	resp->line = l;
	return 0;
}

static int query_logs(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__QueryLogsRequest *req = (const void *)in;
	Beebeebrain__V1__QueryLogsResponse *resp = (void *)out;
	struct log_query q = {
		.lq_project_id = req->project_id,
		.lq_task_id = req->task_id,
		.lq_run_id = req->run_id,
		.lq_min_level = req->min_level,
		.lq_offset = req->offset,
		.lq_level = req->level,
	};
	int more;
	char token[32];

	validate_id(st, "project_id", req->project_id, 0);
	validate_id(st, "task_id", req->task_id, 0);
	validate_id(st, "run_id", req->run_id, 0);
	validate_enum(st, "min_level", &beebeebrain__v1__log_level__descriptor, req->min_level, 1);
	validate_enum(st, "level", &beebeebrain__v1__log_level__descriptor, req->level, 1);
	validate_range(st, "offset", req->offset, 0, INT32_MAX);
	if (paging_parse(st, req->page_token, req->limit, 50, LOG_QUERY_MAX, &q.lq_before_id, &q.lq_limit) != 0 ||
	    st->code != BBB_OK)
		return -1;
	if (store_log_query(svc_reader(call), &q, call->c_arena, &resp->lines, &resp->n_lines, &more, st) != 0)
		return -1;
	if (more) {
		paging_token(resp->lines[resp->n_lines - 1]->id, token, sizeof(token));
		resp->next_page_token = arena_strdup(call->c_arena, token);
	}
	return 0;
}

static const struct rpc_method log_methods[] = {
	{"QueryLogs", query_logs, RPC_READ},
	{"AppendLog", append_log, RPC_MUTATES},
};

const struct rpc_service log_service = {
	.s_desc = &beebeebrain__v1__log_service__descriptor,
	.s_methods = log_methods,
	.s_n_methods = sizeof(log_methods) / sizeof(log_methods[0]),
};
