/*
 * RuntimeService: Status, what the dispatcher holds (its snapshot of the last
 * tick, runtime_status through the environment: services do not link the
 * runtime) and the runs waiting for it in the database (runtime_fill_status,
 * also what AdminService/Triage reports); ResetBreaker, an
 * operator's reset of a breaker, done by the dispatcher on its own thread
 * (runtime_reset_breaker: this worker only posts it and waits).
 */
#include <string.h>

#include "beebeebrain/v1/runtime.pb-c.h"
#include "common/clock.h"
#include "common/status.h"
#include "services/services.h"
#include "store/run_store.h"

int runtime_fill_status(struct rpc_call *call, Beebeebrain__V1__RuntimeStatusResponse *resp, bbb_status *st)
{
	struct service_env *env = svc_env(call);
	int64_t queued, retry_scheduled;

	if (env->se_runtime_status != NULL)
		env->se_runtime_status(env->se_runtime_status_arg, call->c_arena, resp);
	if (store_run_waiting_counts(svc_reader(call), &queued, &retry_scheduled, st) != 0)
		return -1;
	resp->runs_queued = (int32_t)queued;
	resp->runs_retry_scheduled = (int32_t)retry_scheduled;
	/* Due runs an open breaker keeps from starting wait in the database, not
	 * in the dispatcher: counted as the breaker's release counts them. */
	for (size_t i = 0; i < resp->n_endpoints; i++) {
		Beebeebrain__V1__RuntimeEndpoint *e = resp->endpoints[i];
		int64_t held;

		if (e->breaker_state[0] == '\0' || strcmp(e->breaker_state, "closed") == 0)
			continue;
		if (store_run_held_count(svc_reader(call), e->provider, clock_now_ms(), &held, st) != 0)
			return -1;
		e->held_runs += (int32_t)held;
	}
	return 0;
}

static int reset_breaker_call(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__ResetBreakerRequest *req = (const void *)in;
	struct service_env *env = svc_env(call);

	if (req->endpoint[0] == '\0')
		return status_violation(st, "endpoint",
					"required: a provider name (anthropic, openai, claude_code) or a base_url as "
					"`beebeebrain runtime status` shows it");
	if (strlen(req->endpoint) > 256)
		return status_violation(st, "endpoint", "at most 256 bytes");
	if (env->se_reset_breaker == NULL)
		return status_fail(st, "ENDPOINT_NOT_FOUND",
				   "this server runs no runtime: there is no breaker to reset");
	return env->se_reset_breaker(env->se_runtime_status_arg, req->endpoint, call->c_trace_id, call->c_deadline_ms,
				     call->c_arena, (void *)out, st);
}

static int runtime_status_call(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	(void)in;
	return runtime_fill_status(call, (void *)out, st);
}

static const struct rpc_method runtime_methods[] = {
	{"Status", runtime_status_call, RPC_READ},
	{"ResetBreaker", reset_breaker_call, RPC_MUTATES},
};

const struct rpc_service runtime_service = {
	.s_desc = &beebeebrain__v1__runtime_service__descriptor,
	.s_methods = runtime_methods,
	.s_n_methods = sizeof(runtime_methods) / sizeof(runtime_methods[0]),
};
