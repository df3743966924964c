/*
 * The turns of a run's conversation (run_turns, run_tool_calls): what a
 * retried, resumed or recovered run rebuilds its conversation from. A turn is
 * one answer the conversation kept: the assistant's text, its tool calls with
 * their results, and the user text sent after it (follow_up), if any. The
 * prompt and the system prompt are the run's own columns.
 *
 * A tool call is recorded before its tool runs, with no result (NULL); its
 * result is recorded once the tool ran. A call still without a result when
 * the run starts again was in flight when the server stopped: it is never run
 * again (docs/runtime.md, "Durable conversations").
 *
 * Text (the answer, follow_up, a call's arguments and result) is free text:
 * stored redacted (store_bind_free_text), like every other. All of these run
 * inside the writer's transaction; strings read come from the arena.
 */
#ifndef BBB_TURN_STORE_H
#define BBB_TURN_STORE_H

#include "store/db.h"
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include <beebeebrain/status.h>

struct store_tool_call {
	const char *stc_id; /* the provider's call id */
	const char *stc_name;
	const char *stc_arguments; /* JSON text */
	const char *stc_result; /* NULL: not recorded (not run yet, or its run was cut short) */
	int stc_is_error;
};

struct store_turn {
	int stu_n; /* 1, 2, ... in conversation order */
	int stu_attempt_n; /* the run_attempts row whose answer it is */
	const char *stu_text; /* the assistant's text, "" when none */
	const char *stu_stop_reason; /* the provider's word */
	const char *stu_follow_up; /* user text sent after the answer, "" when none */
	struct store_tool_call *stu_calls;
	size_t stu_n_calls;
};

/* Records turn t of the run with its tool calls, each with the result it has
 * (NULL: none yet). RESOURCE_CONFLICT when the run already has turn t->stu_n. */
int store_turn_insert(struct db *db, int64_t run_id, const struct store_turn *t, int64_t now_ms, bbb_status *st);
/* Records the results of turn t's tool calls (a call whose stc_result is NULL
 * is left as it is). INTERNAL_ERROR when a call is not recorded. */
int store_turn_results(struct db *db, int64_t run_id, const struct store_turn *t, bbb_status *st);
/* Gives every tool call of the run still without a result `result`, as an
 * error: calls that were in flight when the server stopped, never to run
 * again. *n gets how many. */
int store_turn_settle_unknown(struct db *db, int64_t run_id, const char *result, int *n, bbb_status *st);
/* The run's turns in order, each with its tool calls in order; *out is an
 * arena array (NULL when none). */
int store_turns_of_run(struct db *db, int64_t run_id, struct arena *a, struct store_turn **out, size_t *n,
		       bbb_status *st);

#endif
