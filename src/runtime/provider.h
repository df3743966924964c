/*
 * LLM providers: a provider-neutral conversation, the agent tool set, and for
 * each provider the request it sends and the reply it parses. No I/O here:
 * building gives a URL, headers and a JSON body for the curl loop
 * (http_loop.h), parsing takes the body the loop got back. JSON with jansson.
 *
 *   anthropic  Messages API: POST {base}/v1/messages, base = the endpoint's
 *              or https://api.anthropic.com; x-api-key, anthropic-version
 *              2023-06-01. Tools as {name, description, input_schema}.
 *   openai     Chat Completions: POST {base}/chat/completions, base = the
 *              endpoint's or https://api.openai.com/v1; Authorization:
 *              Bearer. Tools as {type: function, function: {name, description,
 *              parameters}}. Also Ollama, vLLM, llama.cpp servers through the
 *              base URL. The token cap is sent as the request's pr_token_param
 *              says; by default (AUTO) as max_completion_tokens to the
 *              reasoning families, which refuse max_tokens, whatever the base
 *              URL (o1, o3, o4-mini, gpt-5 ...: see provider_openai_token_key),
 *              and to api.openai.com, and as max_tokens otherwise (what
 *              compatible servers read).
 *   echo       offline and deterministic, no HTTP (provider_echo.c): see
 *              provider_echo_answer below.
 *   claude_code  Claude Code (the `claude` CLI) in headless mode, a child
 *              process in the project's root that runs its own agent loop
 *              with its own tools: no HTTP here either; the command line and
 *              the reading of its stream-json output are in
 *              provider_claude.h, the process is run by proc_loop.h.
 *
 * The conversation is what the agent loop keeps between turns: a system
 * prompt and messages of three roles. An assistant message carries the text
 * and the tool calls of a reply (provider_conv_add_reply); each tool call is
 * answered by one tool message (provider_conv_add_tool_result) before the next
 * call. Each provider maps this to its own shape: Anthropic groups the tool
 * results (and any user text after them) into one user message of content
 * blocks; OpenAI sends one "tool" message per result.
 *
 * Ownership: a provider_conv owns copies of every string given to it; a
 * provider_reply and a provider_http_request own everything they point to and
 * are released with their _free function (which also accepts a zeroed struct,
 * and leaves one behind). Strings handed in by the caller are only read during
 * the call. Nothing here keeps state between calls: every function is safe to
 * call from any thread on distinct objects.
 *
 * Errors: -1 with *st set. A body that is not the API's JSON is reason
 * LLM_PROTOCOL_ERROR (code INTERNAL); an unknown tool name or a bad argument
 * is VALIDATION_ERROR. Memory never runs out here (common/xalloc.h).
 */
#ifndef BBB_PROVIDER_H
#define BBB_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#include <beebeebrain/status.h>

/* ---- conversation */

enum provider_role { PROVIDER_ROLE_USER = 0, PROVIDER_ROLE_ASSISTANT, PROVIDER_ROLE_TOOL };

struct provider_tool_call {
	char *tc_id; /* the provider's id; echoed back in the tool result */
	char *tc_name;
	char *tc_arguments; /* JSON text, normally an object ("{}" when none) */
};

struct provider_message {
	enum provider_role m_role;
	char *m_text; /* user or assistant text, tool result content; never NULL */
	struct provider_tool_call *m_calls; /* assistant only */
	size_t m_n_calls;
	char *m_tool_call_id; /* tool only: the call this answers */
	int m_is_error; /* tool only: the tool failed; m_text says why */
};

struct provider_conv {
	char *c_system; /* NULL: none */
	struct provider_message *c_msgs;
	size_t c_n;
	size_t c_cap;
};

/* A zeroed struct is an empty conversation too. */
void provider_conv_init(struct provider_conv *c);
/* Frees every message and string; c is empty afterwards. */
void provider_conv_free(struct provider_conv *c);
/* Replaces the system prompt (NULL or "" removes it). */
int provider_conv_set_system(struct provider_conv *c, const char *text, bbb_status *st);
int provider_conv_add_user(struct provider_conv *c, const char *text, bbb_status *st);
/* Appends the assistant turn of a parsed reply: its text and tool calls (copied). */
struct provider_reply;
int provider_conv_add_reply(struct provider_conv *c, const struct provider_reply *r, bbb_status *st);
/* Appends the result of tool call `call_id`. */
int provider_conv_add_tool_result(struct provider_conv *c, const char *call_id, const char *content, int is_error,
				  bbb_status *st);

/* ---- tools (docs/runtime.md, the agent loop) */

struct provider_tool {
	const char *t_name; /* read_file, list_path, search_files, write_file, append_log, request_input, finish_task */
	const char *t_description;
	const char *t_schema; /* JSON Schema of the arguments object, as text */
};

/* The full tool set; *n gets its size. Static storage. */
const struct provider_tool *provider_tools(size_t *n);
/* The tool of that name, or NULL. */
const struct provider_tool *provider_tool_find(const char *name);

/* ---- one request and its reply */

/* Which body member carries the output limit (openai only; Anthropic has one). */
enum provider_token_param {
	PROVIDER_TOKEN_PARAM_AUTO = 0, /* by model family and base URL: provider_openai_token_key */
	PROVIDER_TOKEN_PARAM_MAX_TOKENS,
	PROVIDER_TOKEN_PARAM_MAX_COMPLETION_TOKENS,
};

struct provider_request {
	const char *pr_model; /* required */
	int pr_max_tokens; /* 0: PROVIDER_DEFAULT_MAX_TOKENS */
	const struct provider_conv *pr_conv; /* required, at least one message */
	const char *const *pr_tools; /* names of the tools to offer; may be NULL when pr_n_tools is 0 */
	size_t pr_n_tools;
	enum provider_token_param pr_token_param; /* an agent's override; AUTO by default */
};

/* An agent's token_limit_param text ("", "max_tokens", "max_completion_tokens")
 * as the enum. Returns 0, or -1 (and AUTO) for any other text; NULL is "". */
int provider_token_param_parse(const char *text, enum provider_token_param *out);

/* The member an openai request puts its output limit in: the override when it
 * is not AUTO; else "max_completion_tokens" for a reasoning model (o1, o3,
 * o4-mini, o3-pro, gpt-5, gpt-5-mini, gpt-5.1 ...: a name "o<digits>" or
 * "gpt-5" followed by nothing, '-' or '.'; a gateway's "vendor/" prefix is
 * skipped; case is ignored), which refuse max_tokens wherever they are
 * served, or for any model at https://api.openai.com/ (which reads it for
 * every model); else "max_tokens", which compatible servers read. base NULL:
 * the public endpoint. */
const char *provider_openai_token_key(const char *model, const char *base, enum provider_token_param override);

#define PROVIDER_DEFAULT_MAX_TOKENS 4096

/* Where and as whom to call, as the server's configuration says (nothing
 * here reads the environment). A NULL or empty member: the provider's public
 * endpoint (p_default_base), no key. */
struct provider_endpoint {
	const char *pe_base_url;
	const char *pe_api_key;
};

/* What the curl loop needs to make the call. */
struct provider_http_request {
	char *hr_url;
	char **hr_headers; /* "Name: value" */
	size_t hr_n_headers;
	char *hr_body; /* JSON, NUL-terminated */
	size_t hr_body_len;
};

void provider_http_request_free(struct provider_http_request *r);

enum provider_stop {
	PROVIDER_STOP_END = 0, /* the model finished its turn (end_turn, stop, stop_sequence) */
	PROVIDER_STOP_TOOL_USE, /* it wants the tool calls answered */
	PROVIDER_STOP_MAX_TOKENS, /* cut at max_tokens (length) */
	PROVIDER_STOP_OTHER, /* refusal, content_filter, anything else: see r_stop_reason */
};

struct provider_reply {
	char *r_text; /* the text blocks, concatenated; "" when none */
	struct provider_tool_call *r_calls;
	size_t r_n_calls;
	int64_t r_tokens_in; /* Anthropic: input_tokens + cache_creation + cache_read; OpenAI: prompt_tokens */
	int64_t r_tokens_out; /* output_tokens / completion_tokens */
	/* Of r_tokens_in (together never more than it): read from the provider's
	 * prompt cache (Anthropic cache_read_input_tokens, OpenAI
	 * prompt_tokens_details.cached_tokens) and written to it (Anthropic
	 * cache_creation_input_tokens; OpenAI reports none). Priced apart. */
	int64_t r_cache_read_tokens;
	int64_t r_cache_write_tokens;
	enum provider_stop r_stop;
	char *r_stop_reason; /* the provider's word ("end_turn", "tool_calls"); "" when absent */
	char *r_model; /* the model that answered, as reported; "" when absent */
	int r_cost_reported; /* 1: the provider reported what the call cost (claude_code's total_cost_usd) */
	int64_t r_cost_usd_micros; /* that cost, recorded instead of the price table's when r_cost_reported */
};

void provider_reply_free(struct provider_reply *r);

struct provider_ops {
	const char *p_name; /* "anthropic", "openai", "echo", "claude_code" */
	const char *p_default_base; /* the public API's base URL; NULL for echo */
	/* Builds the HTTP request into *out (zeroed first). NULL for echo. */
	int (*p_build)(const struct provider_endpoint *ep, const struct provider_request *req,
		       struct provider_http_request *out, bbb_status *st);
	/* Parses a 2xx body into *out (zeroed first; freed again on failure). NULL for echo. */
	int (*p_parse)(const char *body, size_t len, struct provider_reply *out, bbb_status *st);
	/* Answers without any I/O. NULL for HTTP providers. */
	int (*p_answer)(const struct provider_request *req, struct provider_reply *out, bbb_status *st);
	/* 1: a program run by the process loop (claude_code, provider_claude.h);
	 * p_build, p_parse and p_answer are then NULL. */
	int p_process;
};

/* The provider of that name (anthropic, openai, echo, claude_code), or NULL. */
const struct provider_ops *provider_find(const char *name);

extern const struct provider_ops provider_anthropic;
extern const struct provider_ops provider_openai;
extern const struct provider_ops provider_echo;
extern const struct provider_ops provider_claude_code;

/*
 * Echo provider, for demos and tests (docs/runtime.md), fully deterministic:
 *   - When the last message is a user message whose text starts with lines of
 *     the form
 *         #tool <name> <json-object>
 *     (arguments may be left out: {}), the reply is those tool calls, in
 *     order, with ids "echo_<turn>_<k>" (turn = assistant messages so far + 1,
 *     k from 1) and stop PROVIDER_STOP_TOOL_USE; its text is "". A #tool line
 *     whose arguments are not a JSON object gives the text reply
 *     "echo: bad #tool line: <line>" instead. Any tool name is returned, offered
 *     or not: the agent loop must refuse unknown tools anyway.
 *   - Otherwise the text is "echo: <text>", where <text> is the last user
 *     message's text or, when the last message is a tool result, that
 *     result's content (so a tool round trip shows what the tool returned).
 *     Stop PROVIDER_STOP_END.
 *   - r_tokens_in is the number of whitespace-separated words in the system
 *     prompt and in every message's text; r_tokens_out the words of the reply
 *     text (each tool call counts 1). r_model is the requested model.
 */
int provider_echo_answer(const struct provider_request *req, struct provider_reply *out, bbb_status *st);

/* Number of whitespace-separated words in s (NULL: 0). */
int64_t provider_count_words(const char *s);

/* The "message" of an API error body, Anthropic ({"error":{"message"}}) or
 * OpenAI ({"error":{"message"}} or {"error":"..."}) shaped, copied into buf
 * (truncated, NUL-terminated). Returns 0, or -1 (buf "") when there is none. */
int provider_error_message(const char *body, size_t len, char *buf, size_t n);

#endif
