/*
 * The echo provider: offline, deterministic, no HTTP. It lets demos and tests
 * run the whole agent loop, tools included, without a network or a key. The
 * rules (reply text, the "#tool <name> <json-args>" convention, token counts)
 * are documented with provider_echo_answer in provider.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/status.h"
#include "common/xalloc.h"
#include "runtime/provider_internal.h"

#define ECHO_TOOL_PREFIX "#tool "

static int64_t echo_tokens_in(const struct provider_conv *c)
{
	int64_t n = provider_count_words(c->c_system);

	for (size_t i = 0; i < c->c_n; i++)
		n += provider_count_words(c->c_msgs[i].m_text);
	return n;
}

static size_t echo_assistant_turns(const struct provider_conv *c)
{
	size_t n = 0;

	for (size_t i = 0; i < c->c_n; i++)
		n += c->c_msgs[i].m_role == PROVIDER_ROLE_ASSISTANT;
	return n;
}

/* The message echoed: the last one, unless that is an assistant message
 * (a conversation the caller did not finish); then the last user message. */
static const struct provider_message *echo_source(const struct provider_conv *c)
{
	for (size_t i = c->c_n; i > 0; i--)
		if (c->c_msgs[i - 1].m_role != PROVIDER_ROLE_ASSISTANT)
			return &c->c_msgs[i - 1];
	return &c->c_msgs[c->c_n - 1];
}

/* Splits "#tool <name> <args>" (line without its newline) into name and
 * compact JSON arguments. Returns 0, or -1 when the line is malformed. */
static int echo_parse_tool_line(const char *line, size_t len, char *name, size_t name_n, char **args)
{
	const char *p = line + strlen(ECHO_TOOL_PREFIX), *end = line + len, *name_end;
	json_t *v;

	while (p < end && isblank((unsigned char)*p))
		p++;
	for (name_end = p; name_end < end && !isspace((unsigned char)*name_end); name_end++)
		;
	if (name_end == p || (size_t)(name_end - p) >= name_n)
		return -1;
	memcpy(name, p, (size_t)(name_end - p));
	name[name_end - p] = '\0';
	for (p = name_end; p < end && isblank((unsigned char)*p); p++)
		;
	if (p == end) {
		*args = xstrdup("{}");
		return *args != NULL ? 0 : -1;
	}
	v = json_loadb(p, (size_t)(end - p), 0, NULL);
	if (!json_is_object(v)) {
		json_decref(v);
		return -1;
	}
	*args = json_dumps(v, JSON_COMPACT);
	json_decref(v);
	return *args != NULL ? 0 : -1;
}

/* Adds one call per leading "#tool" line of text. Returns the number of calls
 * added, or -1 with *bad set to the first malformed line (its length in
 * *bad_len). */
static int echo_tool_calls(const char *text, size_t turn, struct provider_reply *out, const char **bad, size_t *bad_len,
			   bbb_status *st)
{
	const char *line = text;
	int k = 0;

	while (strncmp(line, ECHO_TOOL_PREFIX, strlen(ECHO_TOOL_PREFIX)) == 0) {
		const char *nl = strchr(line, '\n');
		size_t len = nl != NULL ? (size_t)(nl - line) : strlen(line);
		char name[128], id[64], *args = NULL;
		int rc;

		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (echo_parse_tool_line(line, len, name, sizeof(name), &args) != 0) {
			*bad = line;
			*bad_len = len;
			return -1;
		}
		snprintf(id, sizeof(id), "echo_%zu_%d", turn, k + 1);
		rc = provider_reply_add_call(out, id, name, args, st);
		free(args);
		if (rc != 0)
			return -2;
		k++;
		if (nl == NULL)
			break;
		line = nl + 1;
	}
	return k;
}

int provider_echo_answer(const struct provider_request *req, struct provider_reply *out, bbb_status *st)
{
	const struct provider_conv *c = req->pr_conv;
	const struct provider_message *last;
	const char *bad = NULL;
	size_t bad_len = 0;
	char *text = NULL;
	int calls = 0;

	memset(out, 0, sizeof(*out));
	if (provider_check_request(req, st) != 0)
		return -1;
	last = echo_source(c);
	if (last->m_role == PROVIDER_ROLE_USER && last == &c->c_msgs[c->c_n - 1])
		calls = echo_tool_calls(last->m_text, echo_assistant_turns(c) + 1, out, &bad, &bad_len, st);
	if (calls == -2)
		goto fail;
	if (calls > 0) {
		out->r_stop = PROVIDER_STOP_TOOL_USE;
		out->r_stop_reason = xstrdup("tool_use");
		out->r_tokens_out = calls;
	} else {
		/* A malformed #tool line drops any calls parsed before it. */
		provider_reply_free(out);
		if (bad != NULL)
			text = xasprintf("echo: bad #tool line: %.*s", (int)bad_len, bad);
		else
			text = xasprintf("echo: %s", last->m_text);
		out->r_text = text;
		out->r_stop = PROVIDER_STOP_END;
		out->r_stop_reason = xstrdup("end_turn");
		out->r_tokens_out = provider_count_words(text);
	}
	out->r_tokens_in = echo_tokens_in(c);
	out->r_model = xstrdup(req->pr_model);
	if (provider_reply_finish(out, st) != 0)
		goto fail;
	return 0;
fail:
	provider_reply_free(out);
	return -1;
}

/* The echo provider has nothing to build or parse: it answers directly. */
const struct provider_ops provider_echo = {
	.p_name = "echo",
	.p_default_base = NULL,
	.p_build = NULL,
	.p_parse = NULL,
	.p_answer = provider_echo_answer,
};
