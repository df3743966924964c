/*
 * The agent's tools (docs/runtime.md) as a table, the way provider_ops and the
 * services' method tables work: each tool is {name, handler, needs_gateway,
 * result limit}. A handler reads its JSON arguments, does its work (the file
 * tools through the workspace gateway, confined to the project's root) and
 * writes its result text into a bounded buffer (common/dbuf.h) holding at
 * most the tool's limit; a cut result says so. What a tool means for the run
 * (finish it, ask the operator, a log line, a refused write) is collected in
 * struct tool_effects for the agent loop; run_outcome_after_tools
 * (domain/run_outcome.h) decides what follows.
 *
 * Arguments and names come from the model: hostile input. Arguments that are
 * not a JSON object, an unknown tool, or one the agent does not enable give
 * an error result, never a crash. Runs on the dispatcher thread; no state.
 */
#ifndef BBB_TOOLS_H
#define BBB_TOOLS_H

#include <stddef.h>

#include "domain/run_outcome.h"
#include "runtime/provider.h"

#define TOOLS_MAX_LOGS 16 /* append_log lines one answer may write */
#define TOOLS_LOG_MAX 16384 /* bytes of one of them */

/* What the tools of one answer leave for the run; strings are malloc'd
 * (tool_effects_free). */
struct tool_effects {
	enum run_tools_end te_end; /* the first tool that ends the run decides */
	char *te_output; /* finish_task: the summary */
	char *te_input_title; /* request_input */
	char *te_input_content;
	char *te_denied_path; /* a refused write: the path and the gateway's words */
	char *te_denied_message;
	int te_n_logs;
	struct {
		int tl_level; /* LogLevel */
		char *tl_message;
	} te_logs[TOOLS_MAX_LOGS];
};

/* The run as its tools see it. */
struct tool_run {
	const char *tr_root; /* the project's root_path */
	char *const *tr_enabled; /* the agent's tools; none: all */
	size_t tr_n_enabled;
};

/* Runs one tool call: returns its result text (malloc'd, the caller frees it;
 * cut at the tool's limit, then marked) and sets *is_error; adds what it
 * means for the run to fx. */
char *tools_call(const struct tool_run *run, const struct provider_tool_call *call, struct tool_effects *fx,
		 int *is_error);

#define TOOLS_COUNT 7

/* Writes the names of the tools (static strings), in table order, to
 * out[0..max): the set offered when an agent enables none. Returns how many. */
size_t tools_names(const char **out, size_t max);

void tool_effects_free(struct tool_effects *fx);

#endif
