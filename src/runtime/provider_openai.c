/*
 * OpenAI Chat Completions (https://platform.openai.com/docs/api-reference/chat),
 * and the servers that speak it (Ollama, vLLM, llama.cpp) through the base URL.
 *
 * Request:  {"model", "messages": [{"role": "system"}?, ...], "max_completion_tokens" |
 *           "max_tokens", "tools"?: [{"type": "function", "function": {"name",
 *           "description", "parameters"}}]}
 *           The output limit goes in max_completion_tokens or max_tokens as
 *           provider_openai_token_key decides: the reasoning families refuse
 *           max_tokens ("Unsupported parameter ... Use
 *           'max_completion_tokens' instead"), older compatible servers read
 *           only max_tokens, and an agent may force either.
 * Reply:    {"choices": [{"message": {"content": string|null, "tool_calls"?: [{"id",
 *           "type": "function", "function": {"name", "arguments": JSON text}}]},
 *           "finish_reason"}], "model", "usage": {"prompt_tokens", "completion_tokens",
 *           "prompt_tokens_details"?: {"cached_tokens"}}}
 *
 * The system prompt is the first message. A tool result is a "tool" message
 * with the call's id; the API has no error flag for it, so a failed tool's
 * content is prefixed with "ERROR: ". Some compatible servers send content as
 * an array of text parts or tool arguments as an object: both are accepted.
 * Cached prompt tokens are part of prompt_tokens; they are kept apart too, as
 * the price table prices them apart (the API caches on its own and reports no
 * cache writes).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/xalloc.h"
#include "runtime/provider_internal.h"

#define OPENAI_DEFAULT_BASE "https://api.openai.com/v1"

static json_t *openai_assistant(const struct provider_message *m)
{
	json_t *msg, *calls;
	int err = 0;

	if (m->m_n_calls == 0)
		return json_pack("{s:s, s:s}", "role", "assistant", "content", m->m_text);
	msg = json_pack("{s:s, s:o}", "role", "assistant", "content",
			m->m_text[0] != '\0' ? json_string(m->m_text) : json_null());
	calls = json_array();
	for (size_t i = 0; calls != NULL && i < m->m_n_calls; i++) {
		const struct provider_tool_call *tc = &m->m_calls[i];

		provider_jpush(calls,
			       json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", tc->tc_id, "type", "function", "function",
					 "name", tc->tc_name, "arguments", tc->tc_arguments),
			       &err);
	}
	if (msg == NULL || calls == NULL || err) {
		json_decref(msg);
		json_decref(calls);
		return NULL;
	}
	provider_jset(msg, "tool_calls", calls, &err);
	if (err) {
		json_decref(msg);
		return NULL;
	}
	return msg;
}

static json_t *openai_tool_result(const struct provider_message *m)
{
	json_t *msg;
	char *content = NULL;

	if (!m->m_is_error)
		return json_pack("{s:s, s:s, s:s}", "role", "tool", "tool_call_id", m->m_tool_call_id, "content",
				 m->m_text);
	content = xasprintf("ERROR: %s", m->m_text);
	msg = json_pack("{s:s, s:s, s:s}", "role", "tool", "tool_call_id", m->m_tool_call_id, "content", content);
	free(content);
	return msg;
}

static json_t *openai_messages(const struct provider_conv *c)
{
	json_t *out = json_array();
	int err = 0;

	if (out == NULL)
		return NULL;
	if (c->c_system != NULL)
		provider_jpush(out, json_pack("{s:s, s:s}", "role", "system", "content", c->c_system), &err);
	for (size_t i = 0; i < c->c_n; i++) {
		const struct provider_message *m = &c->c_msgs[i];

		switch (m->m_role) {
		case PROVIDER_ROLE_USER:
			provider_jpush(out, json_pack("{s:s, s:s}", "role", "user", "content", m->m_text), &err);
			break;
		case PROVIDER_ROLE_ASSISTANT:
			provider_jpush(out, openai_assistant(m), &err);
			break;
		case PROVIDER_ROLE_TOOL:
			provider_jpush(out, openai_tool_result(m), &err);
			break;
		}
	}
	if (err) {
		json_decref(out);
		return NULL;
	}
	return out;
}

static json_t *openai_tools(const struct provider_request *req)
{
	json_t *out = json_array();
	int err = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < req->pr_n_tools; i++) {
		const struct provider_tool *t = provider_tool_find(req->pr_tools[i]);

		provider_jpush(out,
			       json_pack("{s:s, s:{s:s, s:s, s:o}}", "type", "function", "function", "name", t->t_name,
					 "description", t->t_description, "parameters", provider_tool_schema(t)),
			       &err);
	}
	if (err) {
		json_decref(out);
		return NULL;
	}
	return out;
}

/* o<digits>[-.]..., gpt-5[-.]...: the families that refuse max_tokens. */
static int openai_reasoning_model(const char *model)
{
	const char *name = strrchr(model, '/') != NULL ? strrchr(model, '/') + 1 : model;
	size_t n;

	if ((name[0] == 'o' || name[0] == 'O') && isdigit((unsigned char)name[1])) {
		n = 1;
		while (isdigit((unsigned char)name[n]))
			n++;
		return name[n] == '\0' || name[n] == '-' || name[n] == '.';
	}
	n = strlen("gpt-5");
	return strncasecmp(name, "gpt-5", n) == 0 && (name[n] == '\0' || name[n] == '-' || name[n] == '.');
}

const char *provider_openai_token_key(const char *model, const char *base, enum provider_token_param override)
{
	static const char official[] = "https://api.openai.com/";

	if (override == PROVIDER_TOKEN_PARAM_MAX_TOKENS)
		return "max_tokens";
	if (override == PROVIDER_TOKEN_PARAM_MAX_COMPLETION_TOKENS)
		return "max_completion_tokens";
	if (base == NULL || base[0] == '\0')
		base = OPENAI_DEFAULT_BASE;
	if (openai_reasoning_model(model != NULL ? model : "") || strncmp(base, official, strlen(official)) == 0)
		return "max_completion_tokens";
	return "max_tokens";
}

static int openai_build(const struct provider_endpoint *ep, const struct provider_request *req,
			struct provider_http_request *out, bbb_status *st)
{
	const char *base = provider_pick(ep != NULL ? ep->pe_base_url : NULL, OPENAI_DEFAULT_BASE);
	const char *key = provider_pick(ep != NULL ? ep->pe_api_key : NULL, NULL);
	json_t *root = NULL;
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (provider_check_request(req, st) != 0)
		return -1;
	root = json_pack("{s:s}", "model", req->pr_model);
	if (root == NULL)
		goto oom;
	provider_jset(root, "messages", openai_messages(req->pr_conv), &err);
	provider_jset(root, provider_openai_token_key(req->pr_model, base, req->pr_token_param),
		      json_integer(req->pr_max_tokens > 0 ? req->pr_max_tokens : PROVIDER_DEFAULT_MAX_TOKENS), &err);
	if (req->pr_n_tools > 0)
		provider_jset(root, "tools", openai_tools(req), &err);
	if (err)
		goto oom;
	if (provider_set_url(out, base, "/chat/completions", st) != 0 || provider_set_body(out, root, st) != 0 ||
	    provider_add_header(out, st, "content-type: application/json") != 0 ||
	    provider_add_header(out, st, "accept: application/json") != 0 ||
	    (key != NULL && key[0] != '\0' && provider_add_header(out, st, "authorization: Bearer %s", key) != 0))
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

static enum provider_stop openai_stop(const char *reason)
{
	if (reason == NULL)
		return PROVIDER_STOP_OTHER;
	if (strcmp(reason, "stop") == 0)
		return PROVIDER_STOP_END;
	if (strcmp(reason, "tool_calls") == 0 || strcmp(reason, "function_call") == 0)
		return PROVIDER_STOP_TOOL_USE;
	if (strcmp(reason, "length") == 0)
		return PROVIDER_STOP_MAX_TOKENS;
	return PROVIDER_STOP_OTHER;
}

/* message.content: a string, null, or an array of {"type": "text", "text"} parts. */
static int openai_content(const json_t *content, struct provider_reply *out, bbb_status *st)
{
	size_t i;
	json_t *part;

	if (json_is_null(content) || content == NULL)
		return 0;
	if (json_is_string(content))
		return provider_reply_append_text(out, json_string_value(content), st);
	if (!json_is_array(content))
		return provider_protocol_error(st, "openai: message content is neither text nor parts");
	json_array_foreach(content, i, part)
	{
		if (provider_jstr(part, "text") != NULL &&
		    provider_reply_append_text(out, provider_jstr(part, "text"), st))
			return -1;
	}
	return 0;
}

static int openai_tool_call(const json_t *call, size_t k, struct provider_reply *out, bbb_status *st)
{
	const json_t *fn = json_object_get(call, "function");
	const json_t *args = json_object_get(fn, "arguments");
	const char *id = provider_jstr(call, "id");
	char made_id[32], *dumped = NULL;
	int rc;

	if (provider_jstr(fn, "name") == NULL)
		return provider_protocol_error(st, "openai: tool call %zu without a function name", k);
	if (id == NULL || id[0] == '\0') {
		snprintf(made_id, sizeof(made_id), "call_%zu", k + 1);
		id = made_id;
	}
	if (json_is_object(args) && (dumped = json_dumps(args, JSON_COMPACT)) == NULL)
		return provider_json_error(st);
	rc = provider_reply_add_call(out, id, provider_jstr(fn, "name"),
				     dumped != NULL ? dumped : json_string_value(args), st);
	free(dumped);
	return rc;
}

static int openai_parse(const char *body, size_t len, struct provider_reply *out, bbb_status *st)
{
	json_t *root, *choice, *msg, *calls, *usage, *call;
	json_error_t jerr;
	const char *reason;
	size_t i;

	memset(out, 0, sizeof(*out));
	root = json_loadb(body, len, 0, &jerr);
	if (root == NULL)
		return provider_protocol_error(st, "openai: reply is not JSON: %s (line %d)", jerr.text, jerr.line);
	choice = json_array_get(json_object_get(root, "choices"), 0);
	msg = json_object_get(choice, "message");
	if (!json_is_object(msg)) {
		provider_protocol_error(st, "openai: reply has no choices[0].message");
		goto fail;
	}
	if (openai_content(json_object_get(msg, "content"), out, st) != 0)
		goto fail;
	calls = json_object_get(msg, "tool_calls");
	json_array_foreach(calls, i, call)
	{
		if (openai_tool_call(call, i, out, st) != 0)
			goto fail;
	}
	usage = json_object_get(root, "usage");
	provider_reply_set_usage(out, provider_jcount(usage, "prompt_tokens"),
				 provider_jcount(usage, "completion_tokens"),
				 provider_jcount(json_object_get(usage, "prompt_tokens_details"), "cached_tokens"), 0);
	reason = provider_jstr(choice, "finish_reason");
	out->r_stop = openai_stop(reason);
	if (reason != NULL)
		out->r_stop_reason = xstrdup(reason);
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

const struct provider_ops provider_openai = {
	.p_name = "openai",
	.p_default_base = OPENAI_DEFAULT_BASE,
	.p_build = openai_build,
	.p_parse = openai_parse,
	.p_answer = NULL,
};
