/*
 * MetricsService: RunsSummary (runs of a project and start window: counts by
 * status, retries, tokens, cost, durations) and UsageDaily (api_usage_daily by
 * provider, model and date range, newest date first). Both are one or two SQL
 * queries (store/metrics_store.c).
 */
#include "beebeebrain/v1/metrics.pb-c.h"
#include "common/status.h"
#include "domain/validate.h"
#include "services/services.h"
#include "store/metrics_store.h"

static int runs_summary(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__RunsSummaryRequest *req = (const void *)in;
	Beebeebrain__V1__RunsSummaryResponse *resp = (void *)out;

	validate_id(st, "project_id", req->project_id, 0);
	if (req->from_ms < 0)
		status_violation(st, "from_ms", "must be a time after 1970");
	if (req->to_ms < 0)
		status_violation(st, "to_ms", "must be a time after 1970");
	if (req->to_ms != 0 && req->to_ms <= req->from_ms)
		status_violation(st, "to_ms", "must be after from_ms");
	if (st->code != BBB_OK)
		return -1;
	return store_metrics_runs_summary(svc_reader(call), req->project_id, req->from_ms, req->to_ms, call->c_arena,
					  resp, st);
}

static int usage_daily(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__UsageDailyRequest *req = (const void *)in;
	Beebeebrain__V1__UsageDailyResponse *resp = (void *)out;
	struct usage_query q = {req->provider, req->model, req->from_date, req->to_date, 0, 0};
	int more;
	char token[32];

	validate_provider(st, "provider", req->provider, 0);
	validate_text(st, "model", req->model, 0, 120);
	validate_date(st, "from_date", req->from_date, 0);
	validate_date(st, "to_date", req->to_date, 0);
	validate_range(st, "offset", req->offset, 0, INT32_MAX);
	/* Rows have no id to continue after: the token holds the offset reached. */
	if (paging_parse(st, req->page_token, req->limit, 50, 365, &q.uq_offset, &q.uq_limit) != 0 ||
	    st->code != BBB_OK)
		return -1;
	q.uq_offset += req->offset;
	if (store_metrics_usage_daily(svc_reader(call), &q, call->c_arena, &resp->days, &resp->n_days, &more, st) != 0)
		return -1;
	if (more) {
		paging_token(q.uq_offset + (int64_t)resp->n_days, token, sizeof(token));
		resp->next_page_token = arena_strdup(call->c_arena, token);
	}
	return 0;
}

static const struct rpc_method metrics_methods[] = {
	{"RunsSummary", runs_summary, RPC_READ},
	{"UsageDaily", usage_daily, RPC_READ},
};

const struct rpc_service metrics_service = {
	.s_desc = &beebeebrain__v1__metrics_service__descriptor,
	.s_methods = metrics_methods,
	.s_n_methods = sizeof(metrics_methods) / sizeof(metrics_methods[0]),
};
