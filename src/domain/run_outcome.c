/*
 * What a finished call means for its run (contract and table in
 * run_outcome.h): classification and timing come from retry_policy, this
 * file only puts them together with the run's state.
 */
#include "domain/run_outcome.h"

#include <string.h>

#define R(x) BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_##x
#define T(x) BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_##x

static void run_outcome_set(struct run_outcome *out, enum run_outcome_kind kind, run_status to, const char *code)
{
	out->ro_kind = kind;
	out->ro_run_status = to;
	out->ro_code = code;
}

/* The pause, cancel or stop that aborted the call has already moved the task,
 * and the operator may have moved it again since (a resume right after the
 * pause): mapping the run's outcome onto the task would undo that, e.g. leave
 * a resumed task blocked for good. An interrupted run of a running task is
 * simply due again. */
static void run_outcome_aborted(const struct run_snapshot *s, struct run_outcome *out)
{
	switch (s->rs_abort) {
	case RUN_ABORT_PAUSED:
		run_outcome_set(out, RUN_OUTCOME_INTERRUPTED, R(INTERRUPTED), "TASK_PAUSED");
		break;
	case RUN_ABORT_CANCELLED:
		run_outcome_set(out, RUN_OUTCOME_CANCELLED, R(CANCELLED), "TASK_CANCELLED");
		break;
	case RUN_ABORT_SHUTDOWN:
	case RUN_ABORT_NONE: /* only the HTTP loop stopping cancels a call we did not abort */
		run_outcome_set(out, RUN_OUTCOME_INTERRUPTED, R(INTERRUPTED), "SHUTTING_DOWN");
		break;
	}
	out->ro_keep_task = 1;
	out->ro_breaker_record = s->rs_has_breaker;
	out->ro_breaker = BREAKER_ABANDONED;
}

static enum retry_transport run_outcome_transport(enum run_call_end e)
{
	switch (e) {
	case RUN_CALL_TIMEOUT:
		return RETRY_TRANSPORT_TIMEOUT;
	case RUN_CALL_CONNECTION_FAILED:
		return RETRY_TRANSPORT_CONNECTION_FAILED;
	case RUN_CALL_ANSWERED:
	case RUN_CALL_CANCELLED:
	case RUN_CALL_LOCAL_ERROR:
		break;
	}
	return RETRY_TRANSPORT_OK;
}

static int64_t run_outcome_add_sat(int64_t a, int64_t b)
{
	return b > 0 && a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* A call that failed: retry later, or the run fails with the call's code. */
static void run_outcome_failed_call(const struct retry_class *cls, const struct run_call *c,
				    const struct run_snapshot *s, const struct retry_policy *p, int64_t now_ms,
				    uint64_t rnd, struct run_outcome *out)
{
	struct retry_decision d;
	struct retry_state rs = {
		.rs_attempt = s->rs_retry_count + 1,
		.rs_protocol_errors = s->rs_protocol_errors + out->ro_protocol_error,
		.rs_retry_after_ms = c->rc_retry_after_ms,
	};

	retry_decide(p, cls, &rs, rnd, &d);
	if (!d.rd_retry) {
		run_outcome_set(out, RUN_OUTCOME_FAILED, R(FAILED), cls->rc_code);
		out->ro_exhausted = d.rd_exhausted;
		return;
	}
	run_outcome_set(out, RUN_OUTCOME_RETRY, R(RETRY_SCHEDULED), cls->rc_code);
	out->ro_retry_at_ms = run_outcome_add_sat(now_ms, d.rd_delay_ms);
	/* 5xx has its own alert: the breaker's LLM_PROVIDER_UNAVAILABLE. */
	out->ro_call_error_alert = s->rs_has_breaker && strcmp(cls->rc_code, "LLM_PROVIDER_UNAVAILABLE") != 0;
}

/* A cut answer is never the run's result: the rest is asked for while a
 * turn is left. Its tool calls are not run either: their arguments may be
 * cut too (a write_file with half its content). */
static void run_outcome_truncated(const struct run_snapshot *s, struct run_outcome *out)
{
	out->ro_truncated = 1;
	if (s->rs_turn >= s->rs_max_turns)
		run_outcome_set(out, RUN_OUTCOME_FAILED, R(FAILED), "LLM_OUTPUT_TRUNCATED");
	else
		run_outcome_set(out, RUN_OUTCOME_NEXT_TURN, R(RUNNING), "");
}

void run_outcome_of_call(const struct run_call *c, const struct run_snapshot *s, const struct retry_policy *p,
			 int64_t now_ms, uint64_t rnd, struct run_outcome *out)
{
	struct retry_class cls;

	memset(out, 0, sizeof(*out));
	out->ro_code = "";
	if (s->rs_abort != RUN_ABORT_NONE || c->rc_end == RUN_CALL_CANCELLED) {
		run_outcome_aborted(s, out);
		return;
	}
	if (c->rc_end == RUN_CALL_LOCAL_ERROR) {
		/* Nothing reached the provider: no news about the endpoint. */
		run_outcome_set(out, RUN_OUTCOME_FAILED, R(FAILED),
				c->rc_class != NULL && c->rc_class->rc_code != NULL ? c->rc_class->rc_code
										    : "LLM_INVALID_REQUEST");
		return;
	}
	struct retry_attempt ra = {
		.ra_transport = run_outcome_transport(c->rc_end),
		.ra_http_status = c->rc_http_status,
		.ra_body = c->rc_body,
		.ra_body_len = c->rc_body_len,
		.ra_body_ok = c->rc_reply_ok,
	};
	if (c->rc_class != NULL)
		cls = *c->rc_class;
	else
		retry_classify(&ra, &cls);
	out->ro_breaker_record = s->rs_has_breaker;
	out->ro_breaker = cls.rc_verdict == RETRY_RETRYABLE || cls.rc_verdict == RETRY_RETRYABLE_ONCE ? BREAKER_FAILURE
												      : BREAKER_SUCCESS;
	if (cls.rc_code == NULL) {
		out->ro_call_ok = 1;
		if (c->rc_truncated)
			run_outcome_truncated(s, out);
		else if (c->rc_n_tool_calls > 0)
			run_outcome_set(out, RUN_OUTCOME_TOOL_CALLS, R(RUNNING), "");
		else
			run_outcome_set(out, RUN_OUTCOME_SUCCEEDED, R(SUCCEEDED), "");
		return;
	}
	out->ro_protocol_error = strcmp(cls.rc_code, "LLM_PROTOCOL_ERROR") == 0;
	run_outcome_failed_call(&cls, c, s, p, now_ms, rnd, out);
}

void run_outcome_after_tools(const struct run_snapshot *s, enum run_tools_end end, struct run_outcome *out)
{
	memset(out, 0, sizeof(*out));
	out->ro_code = "";
	switch (end) {
	case RUN_TOOLS_FINISHED:
		run_outcome_set(out, RUN_OUTCOME_SUCCEEDED, R(SUCCEEDED), "");
		return;
	case RUN_TOOLS_INPUT_REQUESTED:
		run_outcome_set(out, RUN_OUTCOME_INTERRUPTED, R(INTERRUPTED), "AWAITING_USER_INPUT");
		out->ro_task_to = T(BLOCKED);
		return;
	case RUN_TOOLS_PERMISSION_DENIED:
		/* Never a crash or a silent failure: the operator fixes it (docs/security.md). */
		run_outcome_set(out, RUN_OUTCOME_FAILED, R(FAILED), "WORKSPACE_PERMISSION_DENIED");
		out->ro_task_to = T(BLOCKED);
		return;
	case RUN_TOOLS_CONTINUE:
		break;
	}
	if (s->rs_turn >= s->rs_max_turns)
		run_outcome_set(out, RUN_OUTCOME_FAILED, R(FAILED), "MAX_TURNS_EXCEEDED");
	else
		run_outcome_set(out, RUN_OUTCOME_NEXT_TURN, R(RUNNING), "");
}

void run_outcome_on_resume(const struct run_snapshot *s, struct run_outcome *out)
{
	memset(out, 0, sizeof(*out));
	out->ro_code = "";
	if (s->rs_turn >= s->rs_max_turns)
		run_outcome_set(out, RUN_OUTCOME_FAILED, R(FAILED), "MAX_TURNS_EXCEEDED");
	else
		run_outcome_set(out, RUN_OUTCOME_NEXT_TURN, R(RUNNING), "");
}

const char *run_outcome_kind_name(enum run_outcome_kind k)
{
	switch (k) {
	case RUN_OUTCOME_SUCCEEDED:
		return "succeeded";
	case RUN_OUTCOME_TOOL_CALLS:
		return "tool_calls";
	case RUN_OUTCOME_NEXT_TURN:
		return "next_turn";
	case RUN_OUTCOME_RETRY:
		return "retry";
	case RUN_OUTCOME_FAILED:
		return "failed";
	case RUN_OUTCOME_INTERRUPTED:
		return "interrupted";
	case RUN_OUTCOME_CANCELLED:
		return "cancelled";
	}
	return "unknown";
}
