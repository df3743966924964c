/*
 * The claude_code provider (docs/runtime.md): Claude Code, the `claude` CLI,
 * run in headless mode as a child process whose working directory is the
 * project's root. The CLI runs a whole agent conversation of its own, with its
 * own tools, and ends with one result; to the runtime one run's attempt is one
 * process. Pure like the other providers: this file builds the command and
 * its environment, reads the CLI's output line by line, and judges how the
 * process ended; the process loop (proc_loop.h) runs it, agent_proc.c joins
 * the two.
 *
 * The command (provider_claude_command):
 *
 *   claude -p --output-format stream-json --verbose --model MODEL
 *          [--max-turns N] [--append-system-prompt SYSTEM]
 *          --allowedTools A,B,.. --disallowedTools C,D,.. [--settings FILE]
 *          -- PROMPT
 *
 * N is the run's max_turns: the CLI counts its own turns (0: its default).
 * PROMPT is the conversation's first user message and SYSTEM its system
 * prompt (the run's, else the agent's persona), appended to Claude Code's
 * own system prompt so that its tool instructions stay. Each is one
 * command-line argument: longer than PROVIDER_CLAUDE_ARG_MAX is refused
 * (VALIDATION_ERROR) before anything runs. "--" keeps a prompt that starts
 * with '-' from being read as an option.
 *
 * Tools: the agent's tool list (all of ours when it has none) mapped to
 * Claude Code's own; --allowedTools lets those run without asking, and
 * --disallowedTools denies every other tool we know of, with deny rules for
 * the names the workspace gateway treats as secrets and for `.claude/` (the
 * CLI's project settings, whose hooks run commands). Deny rules win over any
 * allow rule of a settings file. A tool that asks for permission is refused in
 * headless mode, since nobody can grant it.
 *
 *   read_file      Read, NotebookRead
 *   list_path      LS, Glob
 *   search_files   Grep, Glob
 *   write_file     Write, Edit, MultiEdit, NotebookEdit
 *   shell          Bash, BashOutput, KillShell (only when the agent lists it:
 *                  never part of "all")
 *   append_log, request_input, finish_task, block_task: no counterpart; the
 *                  run ends when the CLI does, with its result.
 *   always denied  WebFetch, WebSearch, Task, SlashCommand
 *
 * The environment is exactly the entries given (the server passes PATH, HOME,
 * the locale and, when set, ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL), plus
 * DISABLE_AUTOUPDATER=1; a BEEBEEBRAIN_* entry is dropped whatever the caller
 * gives.
 *
 * The stream (--output-format stream-json --verbose), one JSON object a line:
 *
 *   {"type":"system","subtype":"init","session_id":"..","model":"..","tools":[..],"cwd":".."}
 *   {"type":"assistant","message":{a Messages API message: text and tool_use blocks},"session_id":".."}
 *   {"type":"user","message":{"role":"user","content":[{"type":"tool_result",..}]},"session_id":".."}
 *   {"type":"result","subtype":"success","is_error":false,"num_turns":3,"result":"the answer",
 *    "session_id":"..","total_cost_usd":0.0123,"usage":{"input_tokens":..,"output_tokens":..,
 *    "cache_creation_input_tokens":..,"cache_read_input_tokens":..}}
 *
 * Other types and other members are ignored (newer CLIs add some); a blank
 * line is skipped; a line that is not a JSON object is LLM_PROTOCOL_ERROR. The
 * last result line counts.
 *
 * How the process ended (provider_claude_judge, when it exited by itself):
 *
 *   a result, success and not is_error   the answer: the result text, the
 *                                        usage, total_cost_usd as the cost
 *   a result, error_max_turns            MAX_TURNS_EXCEEDED, final
 *   a result, is_error or another        final, with the CLI's message: "API Error: NNN ..." is
 *     error subtype                        that HTTP status's code (retry_policy.h), an
 *                                          authentication failure LLM_AUTHENTICATION_FAILED,
 *                                          "prompt is too long" LLM_CONTEXT_LIMIT_EXCEEDED,
 *                                          anything else LLM_PROVIDER_ERROR
 *   no result, exit status 0             LLM_PROTOCOL_ERROR (retried once per run)
 *   no result, another status or signal  LLM_PROVIDER_UNAVAILABLE, retryable; the message
 *                                          has the status and the end of stderr
 *
 * Tokens: input = input + cache creation + cache read tokens (as the
 * anthropic provider counts them), output = output tokens.
 *
 * Ownership: every struct here owns what it points to and is released with
 * its _free function (which accepts a zeroed struct and leaves one behind).
 */
#ifndef BBB_PROVIDER_CLAUDE_H
#define BBB_PROVIDER_CLAUDE_H

#include <stddef.h>
#include <stdint.h>

#include <beebeebrain/status.h>

#include "domain/retry_policy.h"
#include "runtime/provider.h"

#define PROVIDER_CLAUDE_DEFAULT_CLI "claude"
/* Linux's limit on one argument (MAX_ARG_STRLEN), less its NUL. */
#define PROVIDER_CLAUDE_ARG_MAX (32 * 4096 - 1)
/* The agent tool that lets Claude Code use a shell. */
#define PROVIDER_CLAUDE_SHELL_TOOL "shell"

/* What the server's configuration says about the CLI; strings borrowed. */
struct provider_claude_settings {
	const char *cs_cli; /* a name looked up in PATH, or an absolute path; NULL or "": "claude" */
	const char *cs_settings; /* an absolute path given to --settings; NULL or "": none */
	const char *const *cs_env; /* "NAME=value" entries the CLI gets, NULL-ended; NULL: none */
};

/* A program to run: what proc_loop.h takes. */
struct provider_command {
	char *cmd_program;
	char **cmd_argv; /* NULL-ended */
	char **cmd_envp; /* NULL-ended */
};

void provider_command_free(struct provider_command *c);

/* Builds the command of one call (*out zeroed first). -1 with
 * VALIDATION_ERROR (and *out empty) for a request without model or prompt,
 * or with a prompt or system prompt too long for one argument. */
int provider_claude_command(const struct provider_claude_settings *s, const struct provider_request *req, int max_turns,
			    struct provider_command *out, bbb_status *st);

/* The Claude Code tools an agent tool maps to (table above), NULL-ended;
 * NULL for a tool without counterpart. Static storage. */
const char *const *provider_claude_tools_of(const char *agent_tool);

#define PROVIDER_CLAUDE_TOOL_KINDS 8

/* What the stream said, line after line. */
struct provider_claude_stream {
	int cs_lines; /* JSON objects read */
	char *cs_session_id; /* from init or result; NULL until seen */
	char *cs_model; /* from init */
	int cs_tool_uses; /* tool_use blocks of assistant messages */
	struct {
		char tk_name[32];
		int tk_count;
	} cs_tools[PROVIDER_CLAUDE_TOOL_KINDS]; /* the first kinds seen, by name */
	int cs_have_result;
	char *cs_subtype;
	int cs_is_error;
	int64_t cs_num_turns;
	char *cs_result; /* the result text; NULL when absent */
	char *cs_error; /* the first of "errors", when the result has them */
	int64_t cs_tokens_in, cs_tokens_out, cs_cache_write, cs_cache_read;
	int cs_have_cost;
	int64_t cs_cost_micros;
	char cs_refused[200]; /* why a line was refused ("" while none was) */
};

void provider_claude_stream_free(struct provider_claude_stream *s);

/* Reads one line of output (without its newline; not NUL-ended). 0, or -1
 * with LLM_PROTOCOL_ERROR (and cs_refused set) for a line that is not a JSON
 * object. */
int provider_claude_line(struct provider_claude_stream *s, const char *line, size_t len, bbb_status *st);

/* The ending of a process that exited by itself (table above): 0 with the
 * answer in *reply (zeroed first), or -1 with *cls and *message (malloc'd,
 * the caller frees it). exit_code -1 when it did not call exit; term_signal
 * 0 when no signal ended it. */
int provider_claude_judge(const struct provider_claude_stream *s, int exit_code, int term_signal,
			  const char *stderr_tail, struct provider_reply *reply, struct retry_class *cls,
			  char **message);

/* One line for the run's log about the session (id, outcome, turns, tool
 * uses, cost); malloc'd. */
char *provider_claude_summary(const struct provider_claude_stream *s);

#endif
