/*
 * The provider-neutral half of runtime/provider.h: the conversation, the tool
 * set (docs/runtime.md, the agent loop) with its JSON schemas, the provider registry, and the
 * helpers the provider files share (provider_internal.h).
 *
 * The tool schemas are written as JSON text, not built in code, so that they
 * read like the documentation an agent gets; a unit test parses every one.
 */
#include "runtime/provider_internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/status.h"
#include "common/utf8.h"
#include "common/xalloc.h"

/* ---- tools */

static const struct provider_tool provider_tool_set[] = {
	{"read_file", "Read a text file (at most 64 KiB) of the project, by path relative to the project root.",
	 "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\",\"description\":"
	 "\"File path relative to the project root, e.g. src/main.c\"}},"
	 "\"required\":[\"path\"],\"additionalProperties\":false}"},
	{"list_path", "List the entries of a directory of the project (name, type, size).",
	 "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\",\"description\":"
	 "\"Directory relative to the project root; . or empty for the root\"}},"
	 "\"additionalProperties\":false}"},
	{"search_files",
	 "Search the project's text files for a substring; returns matching lines with path and "
	 "line number.",
	 "{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\",\"minLength\":1,\"description\":"
	 "\"Text to look for (case-sensitive substring)\"},\"path\":{\"type\":\"string\",\"description\":"
	 "\"Directory to search under, relative to the project root; default the root\"},"
	 "\"max_results\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":200,\"description\":"
	 "\"Most matches to return (default 50)\"}},\"required\":[\"query\"],\"additionalProperties\":false}"},
	{"write_file", "Create or replace a file of the project (at most 1 MiB), atomically.",
	 "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\",\"description\":"
	 "\"File path relative to the project root; missing directories are created\"},"
	 "\"content\":{\"type\":\"string\",\"description\":\"The whole new content of the file\"}},"
	 "\"required\":[\"path\",\"content\"],\"additionalProperties\":false}"},
	{"append_log", "Append a line to this run's log, for the operators.",
	 "{\"type\":\"object\",\"properties\":{\"message\":{\"type\":\"string\",\"minLength\":1},"
	 "\"level\":{\"type\":\"string\",\"enum\":[\"debug\",\"info\",\"warning\",\"error\"],"
	 "\"description\":\"default info\"}},\"required\":[\"message\"],\"additionalProperties\":false}"},
	{"request_input", "Ask the operator for input; the task waits (blocked) until they answer.",
	 "{\"type\":\"object\",\"properties\":{\"title\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":160,"
	 "\"description\":\"Short question\"},\"content\":{\"type\":\"string\",\"description\":"
	 "\"What is needed and why\"}},\"required\":[\"title\",\"content\"],\"additionalProperties\":false}"},
	{"finish_task", "Declare the task finished; it goes to review.",
	 "{\"type\":\"object\",\"properties\":{\"summary\":{\"type\":\"string\",\"description\":"
	 "\"What was done\"}},\"additionalProperties\":false}"},
};

const struct provider_tool *provider_tools(size_t *n)
{
	*n = sizeof(provider_tool_set) / sizeof(provider_tool_set[0]);
	return provider_tool_set;
}

const struct provider_tool *provider_tool_find(const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(provider_tool_set) / sizeof(provider_tool_set[0]); i++)
		if (strcmp(provider_tool_set[i].t_name, name) == 0)
			return &provider_tool_set[i];
	return NULL;
}

const struct provider_ops *provider_find(const char *name)
{
	static const struct provider_ops *const all[] = {&provider_anthropic, &provider_openai, &provider_echo,
							 &provider_claude_code};

	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(all[i]->p_name, name) == 0)
			return all[i];
	return NULL;
}

/* ---- small helpers */

char *provider_strdup(const char *s)
{
	if (s == NULL)
		return xstrdup("");
	/* Conversation text goes out as JSON, which must be UTF-8: a file or a
	 * reply that is not keeps its bytes, each bad one as U+FFFD. */
	return utf8_repair(NULL, s, strlen(s), NULL);
}

int provider_json_error(bbb_status *st)
{
	/* Memory does not run out here (common/xalloc.h): jansson refuses text
	 * that is not UTF-8, which every text is made before it gets here. */
	return status_fail(st, "INTERNAL_ERROR", "the request cannot be encoded as JSON");
}

const char *provider_pick(const char *value, const char *dflt)
{
	return value != NULL && value[0] != '\0' ? value : dflt;
}

int64_t provider_count_words(const char *s)
{
	int64_t n = 0;
	int in_word = 0;

	for (; s != NULL && *s != '\0'; s++) {
		if (isspace((unsigned char)*s)) {
			in_word = 0;
		} else if (!in_word) {
			in_word = 1;
			n++;
		}
	}
	return n;
}

int provider_token_param_parse(const char *text, enum provider_token_param *out)
{
	*out = PROVIDER_TOKEN_PARAM_AUTO;
	if (text == NULL || text[0] == '\0')
		return 0;
	if (strcmp(text, "max_tokens") == 0)
		*out = PROVIDER_TOKEN_PARAM_MAX_TOKENS;
	else if (strcmp(text, "max_completion_tokens") == 0)
		*out = PROVIDER_TOKEN_PARAM_MAX_COMPLETION_TOKENS;
	else
		return -1;
	return 0;
}

int provider_text_blank(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if (!isspace((unsigned char)*s))
			return 0;
	return 1;
}

int provider_check_request(const struct provider_request *req, bbb_status *st)
{
	if (req->pr_model == NULL || req->pr_model[0] == '\0')
		return status_fail(st, "VALIDATION_ERROR", "provider request: model is required");
	if (req->pr_conv == NULL || req->pr_conv->c_n == 0)
		return status_fail(st, "VALIDATION_ERROR", "provider request: the conversation has no message");
	if (req->pr_max_tokens < 0)
		return status_fail(st, "VALIDATION_ERROR", "provider request: max_tokens %d < 0", req->pr_max_tokens);
	for (size_t i = 0; i < req->pr_n_tools; i++)
		if (provider_tool_find(req->pr_tools[i]) == NULL)
			return status_fail(st, "VALIDATION_ERROR", "provider request: unknown tool \"%s\"",
					   req->pr_tools[i] != NULL ? req->pr_tools[i] : "(null)");
	return 0;
}

/* ---- JSON */

void provider_jset(json_t *obj, const char *key, json_t *v, int *err)
{
	if (v == NULL || json_object_set_new(obj, key, v) != 0)
		*err = 1;
}

void provider_jpush(json_t *arr, json_t *v, int *err)
{
	if (v == NULL || json_array_append_new(arr, v) != 0)
		*err = 1;
}

json_t *provider_tool_schema(const struct provider_tool *t)
{
	return json_loads(t->t_schema, 0, NULL);
}

json_t *provider_arguments_object(const char *text)
{
	json_t *v = text != NULL ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;

	if (json_is_object(v))
		return v;
	json_decref(v);
	return json_object();
}

int64_t provider_jcount(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	int64_t n = json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;

	return n > 0 ? n : 0;
}

int64_t provider_count_add(int64_t a, int64_t b)
{
	int64_t sum;

	return __builtin_add_overflow(a, b, &sum) ? INT64_MAX : sum;
}

void provider_reply_set_usage(struct provider_reply *r, int64_t tokens_in, int64_t tokens_out, int64_t cache_read,
			      int64_t cache_write)
{
	r->r_tokens_in = tokens_in > 0 ? tokens_in : 0;
	r->r_tokens_out = tokens_out > 0 ? tokens_out : 0;
	r->r_cache_read_tokens = cache_read > 0 ? (cache_read < r->r_tokens_in ? cache_read : r->r_tokens_in) : 0;
	cache_write = cache_write > 0 ? cache_write : 0;
	r->r_cache_write_tokens = cache_write < r->r_tokens_in - r->r_cache_read_tokens
					  ? cache_write
					  : r->r_tokens_in - r->r_cache_read_tokens;
}

const char *provider_jstr(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* ---- the HTTP request */

int provider_set_url(struct provider_http_request *r, const char *base, const char *path, bbb_status *st)
{
	size_t n = strlen(base);

	while (n > 0 && base[n - 1] == '/')
		n--;
	free(r->hr_url);
	(void)st;
	r->hr_url = xasprintf("%.*s%s", (int)n, base, path);
	return 0;
}

int provider_add_header(struct provider_http_request *r, bbb_status *st, const char *fmt, ...)
{
	va_list ap;

	(void)st;
	r->hr_headers = xrealloc(r->hr_headers, (r->hr_n_headers + 1) * sizeof(*r->hr_headers));
	va_start(ap, fmt);
	r->hr_headers[r->hr_n_headers++] = xvasprintf(fmt, ap);
	va_end(ap);
	return 0;
}

int provider_set_body(struct provider_http_request *r, const json_t *root, bbb_status *st)
{
	free(r->hr_body);
	r->hr_body = json_dumps(root, JSON_COMPACT);
	if (r->hr_body == NULL)
		return provider_json_error(st);
	r->hr_body_len = strlen(r->hr_body);
	return 0;
}

void provider_http_request_free(struct provider_http_request *r)
{
	for (size_t i = 0; i < r->hr_n_headers; i++)
		free(r->hr_headers[i]);
	free(r->hr_headers);
	free(r->hr_url);
	free(r->hr_body);
	memset(r, 0, sizeof(*r));
}

/* ---- replies */

static void provider_calls_free(struct provider_tool_call *calls, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(calls[i].tc_id);
		free(calls[i].tc_name);
		free(calls[i].tc_arguments);
	}
	free(calls);
}

void provider_reply_free(struct provider_reply *r)
{
	free(r->r_text);
	provider_calls_free(r->r_calls, r->r_n_calls);
	free(r->r_stop_reason);
	free(r->r_model);
	memset(r, 0, sizeof(*r));
}

int provider_reply_append_text(struct provider_reply *r, const char *text, bbb_status *st)
{
	size_t old = r->r_text != NULL ? strlen(r->r_text) : 0;
	size_t add = strlen(text);
	(void)st;
	r->r_text = xrealloc(r->r_text, old + add + 1);
	memcpy(r->r_text + old, text, add + 1);
	return 0;
}

static void provider_call_copy(struct provider_tool_call *dst, const char *id, const char *name, const char *args)
{
	dst->tc_id = provider_strdup(id);
	dst->tc_name = provider_strdup(name);
	dst->tc_arguments = provider_strdup(args != NULL && args[0] != '\0' ? args : "{}");
}

int provider_reply_add_call(struct provider_reply *r, const char *id, const char *name, const char *arguments,
			    bbb_status *st)
{
	(void)st;
	r->r_calls = xrealloc(r->r_calls, (r->r_n_calls + 1) * sizeof(*r->r_calls));
	provider_call_copy(&r->r_calls[r->r_n_calls++], id, name, arguments);
	return 0;
}

int provider_reply_finish(struct provider_reply *r, bbb_status *st)
{
	(void)st;
	if (r->r_text == NULL)
		r->r_text = xstrdup("");
	if (r->r_stop_reason == NULL)
		r->r_stop_reason = xstrdup("");
	if (r->r_model == NULL)
		r->r_model = xstrdup("");
	return 0;
}

int provider_error_message(const char *body, size_t len, char *buf, size_t n)
{
	json_t *root = body != NULL ? json_loadb(body, len, 0, NULL) : NULL;
	json_t *err = json_object_get(root, "error");
	const char *msg = json_is_string(err) ? json_string_value(err) : provider_jstr(err, "message");
	int rc = msg != NULL ? 0 : -1;

	if (n > 0 && snprintf(buf, n, "%s", msg != NULL ? msg : "") >= (int)n)
		utf8_trim(buf); /* the provider's text, cut to fit */
	json_decref(root);
	return rc;
}

/* ---- conversation */

void provider_conv_init(struct provider_conv *c)
{
	memset(c, 0, sizeof(*c));
}

static void provider_message_free(struct provider_message *m)
{
	free(m->m_text);
	provider_calls_free(m->m_calls, m->m_n_calls);
	free(m->m_tool_call_id);
	memset(m, 0, sizeof(*m));
}

void provider_conv_free(struct provider_conv *c)
{
	for (size_t i = 0; i < c->c_n; i++)
		provider_message_free(&c->c_msgs[i]);
	free(c->c_msgs);
	free(c->c_system);
	memset(c, 0, sizeof(*c));
}

int provider_conv_set_system(struct provider_conv *c, const char *text, bbb_status *st)
{
	(void)st;
	free(c->c_system);
	c->c_system = text != NULL && text[0] != '\0' ? provider_strdup(text) : NULL;
	return 0;
}

/* A new zeroed message at the end (not yet counted in c_n). */
static struct provider_message *provider_conv_push(struct provider_conv *c)
{
	if (c->c_n == c->c_cap) {
		size_t cap = c->c_cap > 0 ? c->c_cap * 2 : 8;
		c->c_msgs = xrealloc(c->c_msgs, cap * sizeof(*c->c_msgs));
		c->c_cap = cap;
	}
	memset(&c->c_msgs[c->c_n], 0, sizeof(c->c_msgs[0]));
	return &c->c_msgs[c->c_n];
}

int provider_conv_add_user(struct provider_conv *c, const char *text, bbb_status *st)
{
	struct provider_message *m = provider_conv_push(c);

	(void)st;
	m->m_text = provider_strdup(text);
	m->m_role = PROVIDER_ROLE_USER;
	c->c_n++;
	return 0;
}

int provider_conv_add_reply(struct provider_conv *c, const struct provider_reply *r, bbb_status *st)
{
	struct provider_message *m = provider_conv_push(c);

	(void)st;
	m->m_text = provider_strdup(r->r_text);
	m->m_role = PROVIDER_ROLE_ASSISTANT;
	if (r->r_n_calls > 0)
		m->m_calls = xcalloc(r->r_n_calls, sizeof(*m->m_calls));
	for (size_t i = 0; i < r->r_n_calls; i++) {
		const struct provider_tool_call *tc = &r->r_calls[i];

		provider_call_copy(&m->m_calls[i], tc->tc_id, tc->tc_name, tc->tc_arguments);
		m->m_n_calls++;
	}
	c->c_n++;
	return 0;
}

int provider_conv_add_tool_result(struct provider_conv *c, const char *call_id, const char *content, int is_error,
				  bbb_status *st)
{
	struct provider_message *m;

	if (call_id == NULL || call_id[0] == '\0')
		return status_fail(st, "VALIDATION_ERROR", "tool result without a call id");
	m = provider_conv_push(c);
	m->m_text = provider_strdup(content);
	m->m_tool_call_id = provider_strdup(call_id);
	m->m_role = PROVIDER_ROLE_TOOL;
	m->m_is_error = is_error != 0;
	c->c_n++;
	return 0;
}
