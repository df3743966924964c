/*
 * A run's conversation as recorded turns (store/turn_store.h) and back: the
 * one way a turn enters a conversation, whether it was just answered or read
 * back when a retried, resumed or recovered run starts again, so the
 * conversation a run continues is the one it would have had.
 *
 * A turn adds, in order: the assistant's answer (its text and tool calls;
 * an answer with neither, or with only whitespace and no call, adds nothing,
 * as the APIs refuse empty assistant messages), one tool result per call, and
 * the follow_up text as a user message. A call without a recorded result was
 * in flight when the server stopped: it is never run again; the conversation
 * gets TURNS_UNKNOWN_RESULT (an error result) for it instead, and the caller
 * records that.
 *
 * Also here: the texts the runtime writes into a conversation on its own
 * behalf. No I/O; malloc'd results are the caller's to free.
 */
#ifndef BBB_TURNS_H
#define BBB_TURNS_H

#include <stddef.h>

#include "runtime/provider.h"
#include "store/turn_store.h"

/* The result of a tool call that was started and whose result was never
 * recorded. */
#define TURNS_UNKNOWN_RESULT                                                                                           \
	"outcome unknown: the server stopped while this tool call ran, before its result was recorded. It is not "     \
	"run again; check what it did (for example read the file) before repeating it."

/* The user text that asks for the rest of an answer cut at the output
 * limit. */
char *turns_continue_text(int max_output_tokens);
/* The result of a tool call in an answer cut at the output limit: not run,
 * its arguments may be cut too. */
char *turns_cut_call_result(int max_output_tokens);

/* Appends the assistant's answer of turn t. */
void turns_conv_add_answer(struct provider_conv *c, const struct store_turn *t);
/* Appends the tool results of turn t, then its follow_up. A call without a
 * result gets TURNS_UNKNOWN_RESULT, set in t (stc_result, stc_is_error) so
 * the caller can record it. Returns how many calls got it. */
size_t turns_conv_add_results(struct provider_conv *c, struct store_turn *t);
/* Appends turns[0..n) (answer, then results, each). Returns how many calls
 * got TURNS_UNKNOWN_RESULT. */
size_t turns_conv_restore(struct provider_conv *c, struct store_turn *turns, size_t n);

/* The text of the last answers that were cut and continued (their follow_up
 * asks for the rest), concatenated: the beginning of the answer the run is
 * still writing. NULL when the last turn is no such answer. */
char *turns_cut_text(const struct store_turn *turns, size_t n);

#endif
