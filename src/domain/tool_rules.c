/* ToolService rules (see tool_rules.h). */
#include "domain/tool_rules.h"

#include <string.h>

#include "common/status.h"

const char *tool_name(enum tool_kind k)
{
	switch (k) {
	case TOOL_FINISH_TASK:
		return "finish_task";
	case TOOL_BLOCK_TASK:
		return "block_task";
	case TOOL_REQUEST_INPUT:
		return "request_input";
	}
	return "unknown";
}

task_status tool_target(enum tool_kind k)
{
	return k == TOOL_FINISH_TASK ? BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_DONE
				     : BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_BLOCKED;
}

int tool_key_check(bbb_status *st, const char *key)
{
	size_t n = strlen(key);

	if (n == 0)
		return status_violation(st, "idempotency_key", "is required");
	if (n > TOOL_KEY_MAX)
		return status_violation(st, "idempotency_key", "must be 1..%d characters, got %zu", TOOL_KEY_MAX, n);
	for (size_t i = 0; i < n; i++)
		if (key[i] <= ' ' || key[i] > '~')
			return status_violation(st, "idempotency_key", "must be printable ASCII without spaces");
	return 0;
}

int tool_replay_check(const char *stored_tool, int64_t stored_task, enum tool_kind k, int64_t task_id, bbb_status *st)
{
	if (strcmp(stored_tool, tool_name(k)) != 0 || stored_task != task_id)
		return status_fail(st, "IDEMPOTENCY_KEY_CONFLICT",
				   "the idempotency key was used by %s on task %lld, not %s on task %lld", stored_tool,
				   (long long)stored_task, tool_name(k), (long long)task_id);
	return 0;
}
