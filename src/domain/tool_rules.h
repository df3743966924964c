/*
 * ToolService rules (docs/protocol.md, Services): what each tool does to its task and how
 * a repeated idempotency key is judged. Pure.
 */
#ifndef BBB_TOOL_RULES_H
#define BBB_TOOL_RULES_H

#include <stdint.h>

#include <beebeebrain/status.h>

#include "domain/task_state.h"

#define TOOL_KEY_MAX 120

enum tool_kind {
	TOOL_FINISH_TASK, /* review -> done */
	TOOL_BLOCK_TASK, /* -> blocked */
	TOOL_REQUEST_INPUT, /* -> blocked, plus an await_user_input inbox item */
};

/* "finish_task", "block_task", "request_input". */
const char *tool_name(enum tool_kind k);
/* The status the tool moves its task to (checked against the state machine
 * by the caller, with task_transition_check). */
task_status tool_target(enum tool_kind k);
/* An idempotency key: 1..120 printable ASCII characters, no spaces. */
int tool_key_check(bbb_status *st, const char *key);
/* A stored first call with the same key must be the same tool on the same
 * task; else ALREADY_EXISTS IDEMPOTENCY_KEY_CONFLICT. */
int tool_replay_check(const char *stored_tool, int64_t stored_task, enum tool_kind k, int64_t task_id, bbb_status *st);

#endif
