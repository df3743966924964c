/*
 * What a finished provider call means for its run (docs/runtime.md). Pure:
 * the dispatcher describes the call and the run in plain data, passes the
 * time and a random word, and gets the decision back; it then does what the
 * decision says (feeds the breaker, runs tools, writes rows, makes the next
 * call). Nothing here reads a clock, a socket or the database.
 *
 * run_outcome_of_call, when a call ended:
 *
 *   the run was aborted (pause, cancel,      INTERRUPTED TASK_PAUSED / SHUTTING_DOWN, or
 *     stop) or the call was cancelled          CANCELLED TASK_CANCELLED; the task keeps the
 *                                              status the operator gave it; breaker: abandoned
 *   a usable answer without tool calls       SUCCEEDED; breaker: success
 *   a usable answer with tool calls          TOOL_CALLS: run them, then ask
 *                                              run_outcome_after_tools; breaker: success
 *   a usable answer cut at the output        NEXT_TURN with ro_truncated: its tool calls are
 *     limit (max_tokens, length)               not run, the conversation asks for the rest;
 *                                              on the last turn FAILED LLM_OUTPUT_TRUNCATED
 *                                              (never a success); breaker: success
 *   our own side failed (no request made)    FAILED LLM_INVALID_REQUEST (or rc_class's code);
 *                                              breaker: nothing
 *   any other answer or transport failure    classified by retry_classify (retry_policy.h), or
 *                                              given by the provider (rc_class);
 *                                              RETRY at now + delay while retry_decide allows,
 *                                              else FAILED with the code; breaker: failure for
 *                                              a retryable code, success for a final one (a
 *                                              401 proves the endpoint is up)
 *
 * A RETRY's time is never before the server's Retry-After, also when that is
 * beyond the backoff cap (the provider's word wins), and saturates instead of
 * overflowing. LLM_PROTOCOL_ERROR is retried once per run: the snapshot
 * carries the protocol errors of the run's earlier attempts.
 *
 * run_outcome_after_tools, when the tools of a TOOL_CALLS answer ran:
 *
 *   finish_task                  SUCCEEDED
 *   request_input                INTERRUPTED AWAITING_USER_INPUT, task blocked
 *   a write was denied           FAILED WORKSPACE_PERMISSION_DENIED, task blocked
 *   none of those, turns left    NEXT_TURN
 *   none of those, no turn left  FAILED MAX_TURNS_EXCEEDED
 *
 * run_outcome_on_resume, when a run starts again (retried, resumed after a
 * pause, recovered after a crash) with the turns its conversation recorded:
 * NEXT_TURN while a turn is left, else FAILED MAX_TURNS_EXCEEDED without a
 * call (a crash between a last turn's tools and their record).
 */
#ifndef BBB_RUN_OUTCOME_H
#define BBB_RUN_OUTCOME_H

#include <stddef.h>
#include <stdint.h>

#include "domain/breaker.h"
#include "domain/retry_policy.h"
#include "domain/task_state.h"

/* How the call ended, before any HTTP status is looked at. */
enum run_call_end {
	RUN_CALL_ANSWERED = 0, /* a complete response (or a local answer: echo) */
	RUN_CALL_TIMEOUT,
	RUN_CALL_CONNECTION_FAILED,
	RUN_CALL_CANCELLED, /* aborted by us */
	RUN_CALL_LOCAL_ERROR, /* never sent: unknown provider, a request we could not build */
};

/* Why the dispatcher aborted the run's call, if it did. */
enum run_abort { RUN_ABORT_NONE = 0, RUN_ABORT_PAUSED, RUN_ABORT_CANCELLED, RUN_ABORT_SHUTDOWN };

struct run_call {
	enum run_call_end rc_end;
	int rc_http_status; /* 0 when no response */
	const char *rc_body; /* may be NULL; need not be NUL-terminated */
	size_t rc_body_len;
	int rc_reply_ok; /* 1: the provider's parser accepted the answer */
	int rc_truncated; /* 1: the accepted answer was cut at the output limit */
	size_t rc_n_tool_calls; /* tool calls the accepted answer asks for */
	int64_t rc_retry_after_ms; /* the server's Retry-After, -1: none */
	/* A provider that judges its own calls (claude_code: how its process
	 * ended) gives its classification here, used instead of retry_classify's;
	 * NULL: classify the HTTP answer. With RUN_CALL_LOCAL_ERROR its code
	 * replaces LLM_INVALID_REQUEST (the CLI is missing: LLM_PROVIDER_NOT_FOUND). */
	const struct retry_class *rc_class;
};

/* The run as it stands when its call ended. */
struct run_snapshot {
	enum run_abort rs_abort;
	int rs_retry_count; /* retries scheduled so far (task_runs.retry_count) */
	int rs_protocol_errors; /* earlier attempts of the run that ended LLM_PROTOCOL_ERROR */
	int rs_turn; /* turns of this conversation so far (the call that ended included) */
	int rs_max_turns;
	int rs_has_breaker; /* 0 for the echo provider: nothing is recorded */
};

enum run_outcome_kind {
	RUN_OUTCOME_SUCCEEDED = 0,
	RUN_OUTCOME_TOOL_CALLS, /* run the tools, then run_outcome_after_tools */
	RUN_OUTCOME_NEXT_TURN, /* make the next call of the conversation */
	RUN_OUTCOME_RETRY, /* retry_scheduled until ro_retry_at_ms */
	RUN_OUTCOME_FAILED,
	RUN_OUTCOME_INTERRUPTED,
	RUN_OUTCOME_CANCELLED,
};

struct run_outcome {
	enum run_outcome_kind ro_kind;
	run_status ro_run_status; /* the run's next status; RUNNING for TOOL_CALLS and NEXT_TURN */
	const char *ro_code; /* static: the run's and the attempt's error code, "" when none */
	task_status ro_task_to; /* 0: task_status_after_run(ro_run_status) */
	int ro_keep_task; /* 1: leave the task's status alone (an aborted call) */
	int64_t ro_retry_at_ms; /* RETRY: when the run is due again (the caller's clock) */
	int ro_breaker_record; /* 1: record ro_breaker for the call */
	enum breaker_result ro_breaker;
	int ro_protocol_error; /* this call counts as one of the run's protocol errors */
	int ro_call_error_alert; /* a failure worth the endpoint's call-error alert (retried, not 5xx) */
	int ro_call_ok; /* a usable answer: the endpoint's call-error alert may be resolved */
	int ro_exhausted; /* FAILED only because the attempts ran out */
	int ro_truncated; /* the answer was cut at the output limit: NEXT_TURN asks for the rest */
};

/* Decides what the ended call means (table above). now_ms is the wall clock
 * the retry time is counted from; rnd any random word (retry_splitmix64). */
void run_outcome_of_call(const struct run_call *c, const struct run_snapshot *s, const struct retry_policy *p,
			 int64_t now_ms, uint64_t rnd, struct run_outcome *out);

/* What the tools of one answer came to, the first that ends the run winning. */
enum run_tools_end {
	RUN_TOOLS_CONTINUE = 0, /* every tool ran (or failed) without ending the run */
	RUN_TOOLS_FINISHED, /* finish_task */
	RUN_TOOLS_INPUT_REQUESTED, /* request_input */
	RUN_TOOLS_PERMISSION_DENIED, /* a workspace write was refused (EACCES/EPERM) */
};

/* Decides what follows the tools of a TOOL_CALLS answer (table above). */
void run_outcome_after_tools(const struct run_snapshot *s, enum run_tools_end end, struct run_outcome *out);

/* Decides whether a run starting again with s->rs_turn recorded turns may
 * make its next call (table above). */
void run_outcome_on_resume(const struct run_snapshot *s, struct run_outcome *out);

const char *run_outcome_kind_name(enum run_outcome_kind k);

#endif
