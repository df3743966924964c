/*
 * First results of ToolService calls (tool_calls), by idempotency key: the
 * packed response message of the call that applied, returned again for a
 * repeated key.
 */
#ifndef BBB_TOOL_STORE_H
#define BBB_TOOL_STORE_H

#include "store/db.h"
#include <stdint.h>

#include "common/arena.h"
#include <beebeebrain/status.h>

struct tool_call {
	char *tc_tool; /* "finish_task" ... */
	int64_t tc_task_id;
	const uint8_t *tc_response; /* packed response message */
	size_t tc_len;
};

/* The stored call of `key`: 1 and *out filled (arena memory), 0 when none,
 * -1 on error. */
int store_tool_call_get(struct db *db, const char *key, struct arena *a, struct tool_call *out, bbb_status *st);
/* Stores the first result of `key`. */
int store_tool_call_put(struct db *db, const char *key, const struct tool_call *c, bbb_status *st);

#endif
