/*
 * Anthropic Messages API (https://docs.anthropic.com/en/api/messages).
 *
 * Request:  {"model", "max_tokens", "system"?, "messages": [...], "tools"?: [{"name",
 *           "description", "input_schema"}]}
 * Reply:    {"content": [{"type": "text", "text"} | {"type": "tool_use", "id", "name",
 *           "input"}], "stop_reason", "model", "usage": {"input_tokens", "output_tokens",
 *           "cache_creation_input_tokens"?, "cache_read_input_tokens"?}}
 *
 * Messages must alternate user/assistant, and the tool results of an assistant
 * turn must come back in the next user message, first in its content. So every
 * run of non-assistant messages of the conversation (tool results, then
 * possibly user text) becomes one user message of content blocks; a lone user
 * text stays a plain string.
 *
 * The API refuses a text block that is empty or only whitespace ("text content
 * blocks must contain non-whitespace text"), and a model may well answer "\n\n"
 * before its tool calls. Such text is not sent back: a blank text beside tool
 * calls or tool results is left out, and an assistant message with neither
 * text nor calls is left out whole (the user messages around it then merge
 * into one, as the API would merge them).
 * Cached input tokens are counted as input tokens: they are sent, and counting
 * them keeps token_in comparable across calls. They are also kept apart
 * (cache_read_input_tokens, cache_creation_input_tokens), because the price
 * table prices them apart: a cache read costs a tenth of the input price, a
 * cache write more than it. Requests carry no cache_control with a 1-hour
 * TTL, so every cache write is a 5-minute one (usage.cache_creation's
 * breakdown is not read).
 */
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "runtime/provider_internal.h"

#define ANTHROPIC_DEFAULT_BASE "https://api.anthropic.com"
#define ANTHROPIC_VERSION "2023-06-01"

static json_t *anthropic_text_block(const char *text)
{
	return json_pack("{s:s, s:s}", "type", "text", "text", text);
}

static json_t *anthropic_tool_result_block(const struct provider_message *m)
{
	json_t *b = json_pack("{s:s, s:s, s:s}", "type", "tool_result", "tool_use_id", m->m_tool_call_id, "content",
			      m->m_text);

	if (b != NULL && m->m_is_error && json_object_set_new(b, "is_error", json_true()) != 0) {
		json_decref(b);
		return NULL;
	}
	return b;
}

static json_t *anthropic_assistant(const struct provider_message *m)
{
	json_t *blocks;
	int err = 0;

	if (m->m_n_calls == 0)
		return json_pack("{s:s, s:s}", "role", "assistant", "content", m->m_text);
	blocks = json_array();
	if (blocks == NULL)
		return NULL;
	if (!provider_text_blank(m->m_text))
		provider_jpush(blocks, anthropic_text_block(m->m_text), &err);
	for (size_t i = 0; i < m->m_n_calls; i++) {
		const struct provider_tool_call *tc = &m->m_calls[i];

		provider_jpush(blocks,
			       json_pack("{s:s, s:s, s:s, s:o}", "type", "tool_use", "id", tc->tc_id, "name",
					 tc->tc_name, "input", provider_arguments_object(tc->tc_arguments)),
			       &err);
	}
	if (err) {
		json_decref(blocks);
		return NULL;
	}
	return json_pack("{s:s, s:o}", "role", "assistant", "content", blocks);
}

/* An assistant message that says nothing: no calls, blank text. Not sent. */
static int anthropic_silent(const struct provider_message *m)
{
	return m->m_role == PROVIDER_ROLE_ASSISTANT && m->m_n_calls == 0 && provider_text_blank(m->m_text);
}

/* One user message from msgs[from, to): tool results and user texts, and
 * silent assistant messages (skipped). Blank user text beside other blocks is
 * left out; a lone user text stays a string, blank or not (a blank prompt is
 * the caller's to refuse). */
static json_t *anthropic_user(const struct provider_message *msgs, size_t from, size_t to)
{
	json_t *blocks;
	size_t n = 0, last = from;
	int err = 0;

	for (size_t i = from; i < to; i++)
		if (!anthropic_silent(&msgs[i])) {
			n++;
			last = i;
		}
	if (n == 1 && msgs[last].m_role == PROVIDER_ROLE_USER)
		return json_pack("{s:s, s:s}", "role", "user", "content", msgs[last].m_text);
	blocks = json_array();
	if (blocks == NULL)
		return NULL;
	for (size_t i = from; i < to; i++) {
		if (msgs[i].m_role == PROVIDER_ROLE_TOOL)
			provider_jpush(blocks, anthropic_tool_result_block(&msgs[i]), &err);
		else if (msgs[i].m_role == PROVIDER_ROLE_USER && !provider_text_blank(msgs[i].m_text))
			provider_jpush(blocks, anthropic_text_block(msgs[i].m_text), &err);
	}
	if (err) {
		json_decref(blocks);
		return NULL;
	}
	return json_pack("{s:s, s:o}", "role", "user", "content", blocks);
}

static json_t *anthropic_messages(const struct provider_conv *c)
{
	json_t *out = json_array();
	size_t i = 0;
	int err = 0;

	if (out == NULL)
		return NULL;
	while (i < c->c_n) {
		size_t j = i;

		if (anthropic_silent(&c->c_msgs[i])) {
			i++;
			continue;
		}
		if (c->c_msgs[i].m_role == PROVIDER_ROLE_ASSISTANT) {
			provider_jpush(out, anthropic_assistant(&c->c_msgs[i]), &err);
			i++;
			continue;
		}
		while (j < c->c_n &&
		       (c->c_msgs[j].m_role != PROVIDER_ROLE_ASSISTANT || anthropic_silent(&c->c_msgs[j])))
			j++;
		provider_jpush(out, anthropic_user(c->c_msgs, i, j), &err);
		i = j;
	}
	if (err) {
		json_decref(out);
		return NULL;
	}
	return out;
}

static json_t *anthropic_tools(const struct provider_request *req)
{
	json_t *out = json_array();
	int err = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < req->pr_n_tools; i++) {
		const struct provider_tool *t = provider_tool_find(req->pr_tools[i]);

		provider_jpush(out,
			       json_pack("{s:s, s:s, s:o}", "name", t->t_name, "description", t->t_description,
					 "input_schema", provider_tool_schema(t)),
			       &err);
	}
	if (err) {
		json_decref(out);
		return NULL;
	}
	return out;
}

static int anthropic_build(const struct provider_endpoint *ep, const struct provider_request *req,
			   struct provider_http_request *out, bbb_status *st)
{
	const char *base = provider_pick(ep != NULL ? ep->pe_base_url : NULL, ANTHROPIC_DEFAULT_BASE);
	const char *key = provider_pick(ep != NULL ? ep->pe_api_key : NULL, NULL);
	json_t *root = NULL;
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (provider_check_request(req, st) != 0)
		return -1;
	root = json_pack("{s:s, s:i}", "model", req->pr_model, "max_tokens",
			 req->pr_max_tokens > 0 ? req->pr_max_tokens : PROVIDER_DEFAULT_MAX_TOKENS);
	if (root == NULL)
		goto oom;
	if (req->pr_conv->c_system != NULL)
		provider_jset(root, "system", json_string(req->pr_conv->c_system), &err);
	provider_jset(root, "messages", anthropic_messages(req->pr_conv), &err);
	if (req->pr_n_tools > 0)
		provider_jset(root, "tools", anthropic_tools(req), &err);
	if (err)
		goto oom;
	if (provider_set_url(out, base, "/v1/messages", st) != 0 || provider_set_body(out, root, st) != 0 ||
	    provider_add_header(out, st, "content-type: application/json") != 0 ||
	    provider_add_header(out, st, "accept: application/json") != 0 ||
	    provider_add_header(out, st, "anthropic-version: %s", ANTHROPIC_VERSION) != 0 ||
	    (key != NULL && key[0] != '\0' && provider_add_header(out, st, "x-api-key: %s", key) != 0))
		goto fail;
	json_decref(root);
	return 0;
oom:
	provider_json_error(st);
fail:
	json_decref(root);
	provider_http_request_free(out);
	return -1;
}

static enum provider_stop anthropic_stop(const char *reason)
{
	if (reason == NULL)
		return PROVIDER_STOP_OTHER;
	if (strcmp(reason, "end_turn") == 0 || strcmp(reason, "stop_sequence") == 0)
		return PROVIDER_STOP_END;
	if (strcmp(reason, "tool_use") == 0)
		return PROVIDER_STOP_TOOL_USE;
	if (strcmp(reason, "max_tokens") == 0)
		return PROVIDER_STOP_MAX_TOKENS;
	return PROVIDER_STOP_OTHER;
}

static int anthropic_block(const json_t *b, struct provider_reply *out, bbb_status *st)
{
	const char *type = provider_jstr(b, "type");
	char *args;
	int rc;

	if (type == NULL)
		return provider_protocol_error(st, "anthropic: content block without a type");
	if (strcmp(type, "text") == 0) {
		if (provider_jstr(b, "text") == NULL)
			return provider_protocol_error(st, "anthropic: text block without text");
		return provider_reply_append_text(out, provider_jstr(b, "text"), st);
	}
	if (strcmp(type, "tool_use") != 0)
		return 0; /* thinking, redacted_thinking, server tools: not ours */
	if (provider_jstr(b, "id") == NULL || provider_jstr(b, "name") == NULL)
		return provider_protocol_error(st, "anthropic: tool_use block without id or name");
	args = json_is_object(json_object_get(b, "input")) ? json_dumps(json_object_get(b, "input"), JSON_COMPACT)
							   : xstrdup("{}");
	if (args == NULL)
		return provider_json_error(st);
	rc = provider_reply_add_call(out, provider_jstr(b, "id"), provider_jstr(b, "name"), args, st);
	free(args);
	return rc;
}

static int anthropic_parse(const char *body, size_t len, struct provider_reply *out, bbb_status *st)
{
	json_t *root, *content, *usage;
	json_error_t jerr;
	int64_t read, write;
	size_t i;
	json_t *b;

	memset(out, 0, sizeof(*out));
	root = json_loadb(body, len, 0, &jerr);
	if (root == NULL)
		return provider_protocol_error(st, "anthropic: reply is not JSON: %s (line %d)", jerr.text, jerr.line);
	content = json_object_get(root, "content");
	if (!json_is_array(content)) {
		provider_protocol_error(st, "anthropic: reply has no content array");
		goto fail;
	}
	json_array_foreach(content, i, b)
	{
		if (anthropic_block(b, out, st) != 0)
			goto fail;
	}
	usage = json_object_get(root, "usage");
	write = provider_jcount(usage, "cache_creation_input_tokens");
	read = provider_jcount(usage, "cache_read_input_tokens");
	provider_reply_set_usage(
		out, provider_count_add(provider_count_add(provider_jcount(usage, "input_tokens"), write), read),
		provider_jcount(usage, "output_tokens"), read, write);
	out->r_stop = anthropic_stop(provider_jstr(root, "stop_reason"));
	if (provider_jstr(root, "stop_reason") != NULL)
		out->r_stop_reason = xstrdup(provider_jstr(root, "stop_reason"));
	if (provider_jstr(root, "model") != NULL)
		out->r_model = xstrdup(provider_jstr(root, "model"));
	if (provider_reply_finish(out, st) != 0)
		goto fail;
	json_decref(root);
	return 0;
fail:
	json_decref(root);
	provider_reply_free(out);
	return -1;
}

const struct provider_ops provider_anthropic = {
	.p_name = "anthropic",
	.p_default_base = ANTHROPIC_DEFAULT_BASE,
	.p_build = anthropic_build,
	.p_parse = anthropic_parse,
	.p_answer = NULL,
};
