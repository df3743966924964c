/*
 * runtime/provider: request JSON of the Anthropic and OpenAI builders (compared
 * as parsed JSON, never as strings), reply parsing with tool calls, usage and
 * broken bodies, the echo provider's rules, and the tool set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/status.h"
#include "runtime/provider.h"

/* Fails unless got (not consumed) equals the JSON text want. */
static void assert_json_equal(const json_t *got, const char *want_text)
{
	json_error_t err;
	json_t *want = json_loads(want_text, 0, &err);

	if (want == NULL)
		fail_msg("bad expected JSON: %s: %s", err.text, want_text);
	if (!json_equal(got, want)) {
		char *g = json_dumps(got, JSON_SORT_KEYS | JSON_INDENT(1));
		char *w = json_dumps(want, JSON_SORT_KEYS | JSON_INDENT(1));

		print_error("got:\n%s\nwant:\n%s\n", g, w);
		free(g);
		free(w);
		json_decref(want);
		fail();
	}
	json_decref(want);
}

static json_t *body_of(const struct provider_http_request *r)
{
	json_t *v = json_loadb(r->hr_body, r->hr_body_len, 0, NULL);

	assert_non_null(v);
	assert_int_equal(strlen(r->hr_body), r->hr_body_len);
	return v;
}

static int has_header(const struct provider_http_request *r, const char *h)
{
	for (size_t i = 0; i < r->hr_n_headers; i++)
		if (strcasecmp(r->hr_headers[i], h) == 0)
			return 1;
	return 0;
}

static int has_header_named(const struct provider_http_request *r, const char *name)
{
	for (size_t i = 0; i < r->hr_n_headers; i++)
		if (strncasecmp(r->hr_headers[i], name, strlen(name)) == 0)
			return 1;
	return 0;
}

/* A reply as a provider would parse it: text plus tool calls. */
static void make_reply(struct provider_reply *r, const char *text, size_t n, const char *const calls[][3])
{
	memset(r, 0, sizeof(*r));
	r->r_text = strdup(text);
	r->r_calls = calloc(n + 1, sizeof(*r->r_calls));
	for (size_t i = 0; i < n; i++) {
		r->r_calls[i].tc_id = strdup(calls[i][0]);
		r->r_calls[i].tc_name = strdup(calls[i][1]);
		r->r_calls[i].tc_arguments = strdup(calls[i][2]);
	}
	r->r_n_calls = n;
}

/* user "do it"; assistant "ok" + read_file(t1) + list_path(t2); results for t1 and t2 (failed); user "and then?" */
static void tool_round_trip(struct provider_conv *c)
{
	static const char *const calls[][3] = {{"t1", "read_file", "{\"path\":\"a.txt\"}"}, {"t2", "list_path", "{}"}};
	struct provider_reply r;
	bbb_status st;

	provider_conv_init(c);
	assert_int_equal(provider_conv_set_system(c, "You are careful.", &st), 0);
	assert_int_equal(provider_conv_add_user(c, "do it", &st), 0);
	make_reply(&r, "ok", 2, calls);
	assert_int_equal(provider_conv_add_reply(c, &r, &st), 0);
	provider_reply_free(&r);
	assert_int_equal(provider_conv_add_tool_result(c, "t1", "A", 0, &st), 0);
	assert_int_equal(provider_conv_add_tool_result(c, "t2", "denied", 1, &st), 0);
	assert_int_equal(provider_conv_add_user(c, "and then?", &st), 0);
}

static void anthropic_request_matches_the_messages_api(void **state)
{
	static const char *const tools[] = {"read_file", "finish_task"};
	const struct provider_endpoint ep = {"http://127.0.0.1:9/", "sk-ant-test"};
	struct provider_request req = {"claude-sonnet-4", 1024, NULL, tools, 2, PROVIDER_TOKEN_PARAM_AUTO};
	struct provider_http_request http;
	struct provider_conv c;
	json_t *body, *tool0;
	bbb_status st;

	(void)state;
	provider_conv_init(&c);
	provider_conv_set_system(&c, "You are X.", &st);
	provider_conv_add_user(&c, "hello", &st);
	req.pr_conv = &c;
	assert_int_equal(provider_anthropic.p_build(&ep, &req, &http, &st), 0);
	assert_string_equal(http.hr_url, "http://127.0.0.1:9/v1/messages");
	assert_true(has_header(&http, "x-api-key: sk-ant-test"));
	assert_true(has_header(&http, "anthropic-version: 2023-06-01"));
	assert_true(has_header(&http, "content-type: application/json"));
	assert_false(has_header_named(&http, "authorization:"));
	body = body_of(&http);
	/* The tools are checked apart (their descriptions are long); the rest exactly. */
	tool0 = json_incref(json_array_get(json_object_get(body, "tools"), 0));
	assert_int_equal(json_array_size(json_object_get(body, "tools")), 2);
	json_object_del(body, "tools");
	assert_json_equal(body, "{\"model\": \"claude-sonnet-4\", \"max_tokens\": 1024, \"system\": \"You are X.\","
				"\"messages\": [{\"role\": \"user\", \"content\": \"hello\"}]}");
	assert_string_equal(json_string_value(json_object_get(tool0, "name")), "read_file");
	assert_string_equal(json_string_value(json_object_get(tool0, "description")),
			    provider_tool_find("read_file")->t_description);
	assert_json_equal(json_object_get(json_object_get(tool0, "input_schema"), "required"), "[\"path\"]");
	assert_string_equal(json_string_value(json_object_get(json_object_get(tool0, "input_schema"), "type")),
			    "object");
	json_decref(tool0);
	json_decref(body);
	provider_http_request_free(&http);
	provider_conv_free(&c);
}

static void anthropic_groups_tool_results_into_one_user_message(void **state)
{
	const struct provider_endpoint ep = {"http://x", "k"};
	struct provider_request req = {"claude-sonnet-4", 0, NULL, NULL, 0, PROVIDER_TOKEN_PARAM_AUTO};
	struct provider_http_request http;
	struct provider_conv c;
	json_t *body;
	bbb_status st;

	(void)state;
	tool_round_trip(&c);
	req.pr_conv = &c;
	assert_int_equal(provider_anthropic.p_build(&ep, &req, &http, &st), 0);
	body = body_of(&http);
	assert_json_equal(
		body,
		"{\"model\": \"claude-sonnet-4\", \"max_tokens\": 4096, \"system\": \"You are careful.\", "
		"\"messages\": ["
		" {\"role\": \"user\", \"content\": \"do it\"},"
		" {\"role\": \"assistant\", \"content\": [{\"type\": \"text\", \"text\": \"ok\"},"
		"   {\"type\": \"tool_use\", \"id\": \"t1\", \"name\": \"read_file\", \"input\": {\"path\": "
		"\"a.txt\"}},"
		"   {\"type\": \"tool_use\", \"id\": \"t2\", \"name\": \"list_path\", \"input\": {}}]},"
		" {\"role\": \"user\", \"content\": ["
		"   {\"type\": \"tool_result\", \"tool_use_id\": \"t1\", \"content\": \"A\"},"
		"   {\"type\": \"tool_result\", \"tool_use_id\": \"t2\", \"content\": \"denied\", \"is_error\": true},"
		"   {\"type\": \"text\", \"text\": \"and then?\"}]}]}");
	json_decref(body);
	provider_http_request_free(&http);
	provider_conv_free(&c);
}

static void openai_request_matches_chat_completions(void **state)
{
	static const char *const tools[] = {"write_file"};
	const struct provider_endpoint ep = {"http://127.0.0.1:9/v1", "sk-test"};
	struct provider_request req = {"llama3", 500, NULL, tools, 1, PROVIDER_TOKEN_PARAM_AUTO};
	struct provider_http_request http;
	struct provider_conv c;
	json_t *body, *fn;
	bbb_status st;

	(void)state;
	provider_conv_init(&c);
	provider_conv_set_system(&c, "You are X.", &st);
	provider_conv_add_user(&c, "hello", &st);
	req.pr_conv = &c;
	assert_int_equal(provider_openai.p_build(&ep, &req, &http, &st), 0);
	assert_string_equal(http.hr_url, "http://127.0.0.1:9/v1/chat/completions");
	assert_true(has_header(&http, "authorization: Bearer sk-test"));
	assert_true(has_header(&http, "content-type: application/json"));
	assert_false(has_header_named(&http, "x-api-key:"));
	body = body_of(&http);
	fn = json_incref(json_object_get(json_array_get(json_object_get(body, "tools"), 0), "function"));
	assert_string_equal(
		json_string_value(json_object_get(json_array_get(json_object_get(body, "tools"), 0), "type")),
		"function");
	json_object_del(body, "tools");
	/* A compatible server (not api.openai.com) gets max_tokens. */
	assert_json_equal(body, "{\"model\": \"llama3\", \"max_tokens\": 500, \"messages\": ["
				" {\"role\": \"system\", \"content\": \"You are X.\"},"
				" {\"role\": \"user\", \"content\": \"hello\"}]}");
	assert_string_equal(json_string_value(json_object_get(fn, "name")), "write_file");
	assert_json_equal(json_object_get(json_object_get(fn, "parameters"), "required"), "[\"path\", \"content\"]");
	json_decref(fn);
	json_decref(body);
	provider_http_request_free(&http);
	provider_conv_free(&c);
}

static void openai_tool_round_trip_uses_tool_messages(void **state)
{
	const struct provider_endpoint ep = {"https://api.openai.com/v1", "k"};
	struct provider_request req = {"gpt-4o", 0, NULL, NULL, 0, PROVIDER_TOKEN_PARAM_AUTO};
	struct provider_http_request http;
	struct provider_conv c;
	json_t *body;
	bbb_status st;

	(void)state;
	tool_round_trip(&c);
	req.pr_conv = &c;
	assert_int_equal(provider_openai.p_build(&ep, &req, &http, &st), 0);
	body = body_of(&http);
	assert_json_equal(body, "{\"model\": \"gpt-4o\", \"max_completion_tokens\": 4096, \"messages\": ["
				" {\"role\": \"system\", \"content\": \"You are careful.\"},"
				" {\"role\": \"user\", \"content\": \"do it\"},"
				" {\"role\": \"assistant\", \"content\": \"ok\", \"tool_calls\": ["
				"   {\"id\": \"t1\", \"type\": \"function\", \"function\": {\"name\": \"read_file\","
				"    \"arguments\": \"{\\\"path\\\":\\\"a.txt\\\"}\"}},"
				"   {\"id\": \"t2\", \"type\": \"function\", \"function\": {\"name\": \"list_path\", "
				"\"arguments\": \"{}\"}}]},"
				" {\"role\": \"tool\", \"tool_call_id\": \"t1\", \"content\": \"A\"},"
				" {\"role\": \"tool\", \"tool_call_id\": \"t2\", \"content\": \"ERROR: denied\"},"
				" {\"role\": \"user\", \"content\": \"and then?\"}]}");
	json_decref(body);
	provider_http_request_free(&http);
	provider_conv_free(&c);
}

static void assistant_without_text_sends_null_content_to_openai(void **state)
{
	static const char *const calls[][3] = {{"c1", "finish_task", "{}"}};
	const struct provider_endpoint ep = {"http://x/v1", NULL};
	struct provider_request req = {"m", 0, NULL, NULL, 0, PROVIDER_TOKEN_PARAM_AUTO};
	struct provider_http_request http;
	struct provider_reply r;
	struct provider_conv c;
	json_t *body;
	bbb_status st;

	(void)state;
	provider_conv_init(&c);
	provider_conv_add_user(&c, "go", &st);
	make_reply(&r, "", 1, calls);
	provider_conv_add_reply(&c, &r, &st);
	provider_reply_free(&r);
	req.pr_conv = &c;
	assert_int_equal(provider_openai.p_build(&ep, &req, &http, &st), 0);
	assert_false(has_header_named(&http, "authorization:")); /* no key: no header */
	body = body_of(&http);
	assert_json_equal(json_array_get(json_object_get(body, "messages"), 1),
			  "{\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"id\": \"c1\", \"type\": "
			  "\"function\", \"function\": {\"name\": \"finish_task\", \"arguments\": \"{}\"}}]}");
	json_decref(body);
	provider_http_request_free(&http);
	provider_conv_free(&c);
}

/* A model's "\n\n" before its tool calls, or a blank text answer, is not sent
 * back: the Messages API refuses text blocks without non-whitespace text. */
static void anthropic_leaves_out_whitespace_only_text(void **state)
{
	static const char *const calls[][3] = {{"t1", "list_path", "{}"}};
	const struct provider_endpoint ep = {"http://x", "k"};
	struct provider_request req = {.pr_model = "claude-sonnet-4"};
	struct provider_http_request http;
	struct provider_reply r;
	struct provider_conv c;
	json_t *body;
	bbb_status st;

	(void)state;
	provider_conv_init(&c);
	provider_conv_add_user(&c, "go", &st);
	make_reply(&r, "\n\n", 1, calls);
	provider_conv_add_reply(&c, &r, &st);
	provider_reply_free(&r);
	provider_conv_add_tool_result(&c, "t1", "a.txt", 0, &st);
	make_reply(&r, " \t\r\n", 0, NULL); /* a blank answer without calls */
	provider_conv_add_reply(&c, &r, &st);
	provider_reply_free(&r);
	provider_conv_add_user(&c, "  ", &st); /* blank user text beside a tool result */
	provider_conv_add_user(&c, "and then?", &st);
	req.pr_conv = &c;
	assert_int_equal(provider_anthropic.p_build(&ep, &req, &http, &st), 0);
	body = body_of(&http);
	/* The silent assistant turn is gone and the user messages around it are one. */
	assert_json_equal(json_object_get(body, "messages"),
			  "[{\"role\": \"user\", \"content\": \"go\"},"
			  " {\"role\": \"assistant\", \"content\": [{\"type\": \"tool_use\", \"id\": \"t1\", "
			  "\"name\": \"list_path\", \"input\": {}}]},"
			  " {\"role\": \"user\", \"content\": ["
			  "   {\"type\": \"tool_result\", \"tool_use_id\": \"t1\", \"content\": \"a.txt\"},"
			  "   {\"type\": \"text\", \"text\": \"and then?\"}]}]");
	json_decref(body);
	provider_http_request_free(&http);
	provider_conv_free(&c);
}

static const char *openai_key_in_body(const char *model, const char *base, enum provider_token_param p)
{
	const struct provider_endpoint ep = {base, "k"};
	struct provider_request req = {model, 100, NULL, NULL, 0, p};
	struct provider_http_request http;
	struct provider_conv c;
	const char *key;
	json_t *body;
	bbb_status st;

	provider_conv_init(&c);
	provider_conv_add_user(&c, "hi", &st);
	req.pr_conv = &c;
	assert_int_equal(provider_openai.p_build(&ep, &req, &http, &st), 0);
	body = body_of(&http);
	key = json_object_get(body, "max_tokens") != NULL ? "max_tokens" : "max_completion_tokens";
	/* Exactly one of the two, with the limit. */
	assert_true((json_object_get(body, "max_tokens") != NULL) !=
		    (json_object_get(body, "max_completion_tokens") != NULL));
	assert_int_equal(json_integer_value(json_object_get(body, key)), 100);
	json_decref(body);
	provider_http_request_free(&http);
	provider_conv_free(&c);
	return key;
}

/* The reasoning families refuse max_tokens wherever they are served; other
 * models on a compatible server get max_tokens; an agent's choice wins. */
static void openai_token_limit_member_is_chosen_by_model_family(void **state)
{
	static const char *const reasoning[] = {"o1",
						"o1-mini",
						"o3",
						"o3-mini",
						"o4-mini",
						"o3-pro",
						"O3",
						"gpt-5",
						"gpt-5-mini",
						"gpt-5-nano",
						"gpt-5.1",
						"openai/o4-mini",
						"azure/gpt-5-2025-08-07"};
	static const char *const others[] = {"gpt-4o", "gpt-4.1-mini", "llama3",          "omni",   "o", "oa1",
					     "gpt-50", "gpt-5x",       "mistral/o-large", "qwen2.5"};
	const char *gw = "http://gateway.local/v1";
	(void)state;

	for (size_t i = 0; i < sizeof(reasoning) / sizeof(reasoning[0]); i++) {
		assert_string_equal(openai_key_in_body(reasoning[i], gw, PROVIDER_TOKEN_PARAM_AUTO),
				    "max_completion_tokens");
		assert_string_equal(provider_openai_token_key(reasoning[i], gw, PROVIDER_TOKEN_PARAM_AUTO),
				    "max_completion_tokens");
	}
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		assert_string_equal(openai_key_in_body(others[i], gw, PROVIDER_TOKEN_PARAM_AUTO), "max_tokens");
	/* api.openai.com reads max_completion_tokens for every model. */
	assert_string_equal(openai_key_in_body("gpt-4o", "https://api.openai.com/v1", PROVIDER_TOKEN_PARAM_AUTO),
			    "max_completion_tokens");
	assert_string_equal(provider_openai_token_key("gpt-4o", NULL, PROVIDER_TOKEN_PARAM_AUTO),
			    "max_completion_tokens");
	/* The agent's override, both ways. */
	assert_string_equal(openai_key_in_body("my-reasoner", gw, PROVIDER_TOKEN_PARAM_MAX_COMPLETION_TOKENS),
			    "max_completion_tokens");
	assert_string_equal(openai_key_in_body("o3", gw, PROVIDER_TOKEN_PARAM_MAX_TOKENS), "max_tokens");
	assert_string_equal(openai_key_in_body("gpt-4o", "https://api.openai.com/v1", PROVIDER_TOKEN_PARAM_MAX_TOKENS),
			    "max_tokens");
}

static void token_limit_param_text_parses_to_the_enum(void **state)
{
	enum provider_token_param p;

	(void)state;
	assert_int_equal(provider_token_param_parse("", &p), 0);
	assert_int_equal(p, PROVIDER_TOKEN_PARAM_AUTO);
	assert_int_equal(provider_token_param_parse(NULL, &p), 0);
	assert_int_equal(p, PROVIDER_TOKEN_PARAM_AUTO);
	assert_int_equal(provider_token_param_parse("max_tokens", &p), 0);
	assert_int_equal(p, PROVIDER_TOKEN_PARAM_MAX_TOKENS);
	assert_int_equal(provider_token_param_parse("max_completion_tokens", &p), 0);
	assert_int_equal(p, PROVIDER_TOKEN_PARAM_MAX_COMPLETION_TOKENS);
	assert_int_equal(provider_token_param_parse("max_output_tokens", &p), -1);
	assert_int_equal(p, PROVIDER_TOKEN_PARAM_AUTO);
}

/* The endpoint comes from the server's configuration only: the provider
 * never reads the environment, so a variable there changes nothing here. */
static void endpoints_are_the_given_one_else_the_public_api(void **state)
{
	const struct provider_endpoint given = {"http://127.0.0.1:5555", "from-config"};
	const struct provider_endpoint empty = {"", ""};
	struct provider_request req = {"m", 0, NULL, NULL, 0, PROVIDER_TOKEN_PARAM_AUTO};
	struct provider_http_request http;
	struct provider_conv c;
	bbb_status st;

	(void)state;
	provider_conv_init(&c);
	provider_conv_add_user(&c, "hi", &st);
	req.pr_conv = &c;
	setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:6666", 1);
	setenv("ANTHROPIC_API_KEY", "from-env", 1);
	setenv("OPENAI_BASE_URL", "http://127.0.0.1:6666/v1", 1);
	setenv("OPENAI_API_KEY", "from-env", 1);
	assert_int_equal(provider_anthropic.p_build(&given, &req, &http, &st), 0);
	assert_string_equal(http.hr_url, "http://127.0.0.1:5555/v1/messages");
	assert_true(has_header(&http, "x-api-key: from-config"));
	provider_http_request_free(&http);
	assert_int_equal(provider_anthropic.p_build(NULL, &req, &http, &st), 0);
	assert_string_equal(http.hr_url, "https://api.anthropic.com/v1/messages");
	assert_false(has_header_named(&http, "x-api-key:"));
	provider_http_request_free(&http);
	assert_int_equal(provider_anthropic.p_build(&empty, &req, &http, &st), 0);
	assert_string_equal(http.hr_url, "https://api.anthropic.com/v1/messages");
	assert_false(has_header_named(&http, "x-api-key:"));
	provider_http_request_free(&http);
	assert_int_equal(provider_openai.p_build(NULL, &req, &http, &st), 0);
	assert_string_equal(http.hr_url, "https://api.openai.com/v1/chat/completions");
	assert_false(has_header_named(&http, "authorization:"));
	provider_http_request_free(&http);
	assert_string_equal(provider_anthropic.p_default_base, "https://api.anthropic.com");
	assert_string_equal(provider_openai.p_default_base, "https://api.openai.com/v1");
	assert_null(provider_echo.p_default_base);
	unsetenv("ANTHROPIC_BASE_URL");
	unsetenv("ANTHROPIC_API_KEY");
	unsetenv("OPENAI_BASE_URL");
	unsetenv("OPENAI_API_KEY");
	provider_conv_free(&c);
}

static void bad_requests_are_refused(void **state)
{
	static const char *const unknown[] = {"rm_rf"};
	struct provider_request req = {"m", 0, NULL, NULL, 0, PROVIDER_TOKEN_PARAM_AUTO};
	struct provider_http_request http;
	struct provider_reply r;
	struct provider_conv c;
	bbb_status st;

	(void)state;
	provider_conv_init(&c);
	req.pr_conv = &c;
	status_clear(&st);
	assert_int_equal(provider_anthropic.p_build(NULL, &req, &http, &st), -1); /* no message */
	assert_string_equal(st.reason, "VALIDATION_ERROR");
	assert_null(http.hr_url);
	provider_conv_add_user(&c, "hi", &st);
	req.pr_tools = unknown;
	req.pr_n_tools = 1;
	status_clear(&st);
	assert_int_equal(provider_openai.p_build(NULL, &req, &http, &st), -1);
	assert_string_equal(st.reason, "VALIDATION_ERROR");
	assert_non_null(strstr(st.message, "rm_rf"));
	req.pr_n_tools = 0;
	req.pr_model = "";
	assert_int_equal(provider_echo_answer(&req, &r, &st), -1);
	assert_string_equal(st.reason, "VALIDATION_ERROR");
	status_clear(&st);
	assert_int_equal(provider_conv_add_tool_result(&c, "", "x", 0, &st), -1);
	provider_conv_free(&c);
}

static void anthropic_reply_with_text_tool_use_and_usage_is_parsed(void **state)
{
	const char *body = "{\"id\": \"msg_1\", \"type\": \"message\", \"role\": \"assistant\", \"model\": "
			   "\"claude-sonnet-4-20250514\","
			   " \"content\": [{\"type\": \"thinking\", \"thinking\": \"hmm\"}, {\"type\": \"text\", "
			   "\"text\": \"Let me \"},"
			   " {\"type\": \"text\", \"text\": \"look.\"},"
			   " {\"type\": \"tool_use\", \"id\": \"toolu_1\", \"name\": \"read_file\", \"input\": "
			   "{\"path\": \"README.md\"}}],"
			   " \"stop_reason\": \"tool_use\", \"usage\": {\"input_tokens\": 100, \"output_tokens\": 25,"
			   " \"cache_creation_input_tokens\": 7, \"cache_read_input_tokens\": 3}}";
	struct provider_reply r;
	bbb_status st;
	json_t *args;

	(void)state;
	assert_int_equal(provider_anthropic.p_parse(body, strlen(body), &r, &st), 0);
	assert_string_equal(r.r_text, "Let me look.");
	assert_int_equal(r.r_n_calls, 1);
	assert_string_equal(r.r_calls[0].tc_id, "toolu_1");
	assert_string_equal(r.r_calls[0].tc_name, "read_file");
	args = json_loads(r.r_calls[0].tc_arguments, 0, NULL);
	assert_json_equal(args, "{\"path\": \"README.md\"}");
	json_decref(args);
	assert_int_equal(r.r_tokens_in, 110); /* the cache tokens are input tokens too */
	assert_int_equal(r.r_tokens_out, 25);
	assert_int_equal(r.r_cache_write_tokens, 7);
	assert_int_equal(r.r_cache_read_tokens, 3);
	assert_int_equal(r.r_stop, PROVIDER_STOP_TOOL_USE);
	assert_string_equal(r.r_stop_reason, "tool_use");
	assert_string_equal(r.r_model, "claude-sonnet-4-20250514");
	provider_reply_free(&r);
}

static void anthropic_stop_reasons_map_to_neutral_stops(void **state)
{
	static const struct {
		const char *reason;
		enum provider_stop stop;
	} rows[] = {{"end_turn", PROVIDER_STOP_END},
		    {"stop_sequence", PROVIDER_STOP_END},
		    {"max_tokens", PROVIDER_STOP_MAX_TOKENS},
		    {"refusal", PROVIDER_STOP_OTHER}};
	char body[256];
	struct provider_reply r;
	bbb_status st;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		snprintf(body, sizeof(body), "{\"content\": [], \"stop_reason\": \"%s\"}", rows[i].reason);
		assert_int_equal(provider_anthropic.p_parse(body, strlen(body), &r, &st), 0);
		assert_int_equal(r.r_stop, rows[i].stop);
		assert_string_equal(r.r_text, ""); /* never NULL */
		assert_string_equal(r.r_model, "");
		assert_int_equal(r.r_tokens_in, 0);
		provider_reply_free(&r);
	}
}

static void openai_reply_with_tool_calls_and_usage_is_parsed(void **state)
{
	const char *body = "{\"id\": \"chatcmpl-1\", \"model\": \"gpt-4o-2024-08-06\", \"choices\": [{\"index\": 0,"
			   " \"message\": {\"role\": \"assistant\", \"content\": null, \"tool_calls\": ["
			   " {\"id\": \"call_a\", \"type\": \"function\", \"function\": {\"name\": \"write_file\","
			   "  \"arguments\": \"{\\\"path\\\": \\\"x.md\\\", \\\"content\\\": \\\"hi\\\"}\"}},"
			   " {\"id\": \"call_b\", \"type\": \"function\", \"function\": {\"name\": \"finish_task\","
			   "  \"arguments\": \"{}\"}}]}, \"finish_reason\": \"tool_calls\"}],"
			   " \"usage\": {\"prompt_tokens\": 321, \"completion_tokens\": 45, \"total_tokens\": 366,"
			   " \"prompt_tokens_details\": {\"cached_tokens\": 256, \"audio_tokens\": 0}}}";
	struct provider_reply r;
	bbb_status st;
	json_t *args;

	(void)state;
	assert_int_equal(provider_openai.p_parse(body, strlen(body), &r, &st), 0);
	assert_string_equal(r.r_text, "");
	assert_int_equal(r.r_n_calls, 2);
	assert_string_equal(r.r_calls[0].tc_id, "call_a");
	assert_string_equal(r.r_calls[0].tc_name, "write_file");
	args = json_loads(r.r_calls[0].tc_arguments, 0, NULL);
	assert_json_equal(args, "{\"path\": \"x.md\", \"content\": \"hi\"}");
	json_decref(args);
	assert_string_equal(r.r_calls[1].tc_name, "finish_task");
	assert_int_equal(r.r_tokens_in, 321); /* cached ones included, as the API counts them */
	assert_int_equal(r.r_tokens_out, 45);
	assert_int_equal(r.r_cache_read_tokens, 256);
	assert_int_equal(r.r_cache_write_tokens, 0);
	assert_int_equal(r.r_stop, PROVIDER_STOP_TOOL_USE);
	assert_string_equal(r.r_model, "gpt-4o-2024-08-06");
	provider_reply_free(&r);
}

static void openai_compatible_variants_are_accepted(void **state)
{
	/* Content as parts, arguments as an object, no call id, no usage. */
	const char *body = "{\"choices\": [{\"message\": {\"content\": [{\"type\": \"text\", \"text\": \"a\"},"
			   " {\"type\": \"text\", \"text\": \"b\"}], \"tool_calls\": [{\"function\": {\"name\": "
			   "\"list_path\", \"arguments\": {\"path\": \"src\"}}}]}, \"finish_reason\": \"length\"}]}";
	struct provider_reply r;
	bbb_status st;
	json_t *args;

	(void)state;
	assert_int_equal(provider_openai.p_parse(body, strlen(body), &r, &st), 0);
	assert_string_equal(r.r_text, "ab");
	assert_int_equal(r.r_n_calls, 1);
	assert_string_equal(r.r_calls[0].tc_id, "call_1");
	args = json_loads(r.r_calls[0].tc_arguments, 0, NULL);
	assert_json_equal(args, "{\"path\": \"src\"}");
	json_decref(args);
	assert_int_equal(r.r_stop, PROVIDER_STOP_MAX_TOKENS);
	assert_int_equal(r.r_tokens_in, 0);
	provider_reply_free(&r);
}

/* A provider (or whatever answers in its place) may send any integer as a
 * count: sums saturate instead of overflowing (undefined behaviour, found with
 * fuzz_provider_anthropic under UBSan), negative counts are 0. */
static void token_counts_saturate_and_are_never_negative(void **state)
{
	const char *anthropic = "{\"content\": [], \"usage\": {\"input_tokens\": 9223372036854775807,"
				" \"cache_creation_input_tokens\": 9223372036854775807, \"cache_read_input_tokens\": 1,"
				" \"output_tokens\": -7}}";
	const char *openai = "{\"choices\": [{\"message\": {\"content\": \"x\"}}], \"usage\": {\"prompt_tokens\": -3,"
			     " \"completion_tokens\": 9223372036854775807}}";
	struct provider_reply r;
	bbb_status st;

	(void)state;
	assert_int_equal(provider_anthropic.p_parse(anthropic, strlen(anthropic), &r, &st), 0);
	assert_true(r.r_tokens_in == INT64_MAX);
	assert_int_equal(r.r_tokens_out, 0);
	provider_reply_free(&r);
	assert_int_equal(provider_openai.p_parse(openai, strlen(openai), &r, &st), 0);
	assert_int_equal(r.r_tokens_in, 0);
	assert_true(r.r_tokens_out == INT64_MAX);
	provider_reply_free(&r);
}

/* Cache counts are part of the input count: whatever a reply says, together
 * they are never more than it (and never negative). */
static void cache_counts_never_exceed_the_input_count(void **state)
{
	static const struct {
		const struct provider_ops *ops;
		const char *body;
		int64_t in, read, write;
	} rows[] = {
		{&provider_openai,
		 "{\"choices\": [{\"message\": {\"content\": \"x\"}}], \"usage\": {\"prompt_tokens\": 10,"
		 " \"prompt_tokens_details\": {\"cached_tokens\": 25}}}",
		 10, 10, 0},
		{&provider_openai,
		 "{\"choices\": [{\"message\": {\"content\": \"x\"}}], \"usage\": {\"prompt_tokens\": 10,"
		 " \"prompt_tokens_details\": {\"cached_tokens\": -4}}}",
		 10, 0, 0},
		{&provider_openai,
		 "{\"choices\": [{\"message\": {\"content\": \"x\"}}], \"usage\": {\"prompt_tokens\": 10,"
		 " \"prompt_tokens_details\": [7]}}",
		 10, 0, 0},
		{&provider_anthropic,
		 "{\"content\": [], \"usage\": {\"input_tokens\": 5, \"cache_creation_input_tokens\": -9,"
		 " \"cache_read_input_tokens\": 4}}",
		 9, 4, 0},
		/* The input sum saturates: the cache counts are cut to what it holds. */
		{&provider_anthropic,
		 "{\"content\": [], \"usage\": {\"input_tokens\": 1, \"cache_creation_input_tokens\": "
		 "9223372036854775807, \"cache_read_input_tokens\": 9223372036854775807}}",
		 INT64_MAX, INT64_MAX, 0},
		{&provider_anthropic,
		 "{\"content\": [], \"usage\": {\"input_tokens\": 9223372036854775807, "
		 "\"cache_creation_input_tokens\": 9223372036854775807, \"cache_read_input_tokens\": 2}}",
		 INT64_MAX, 2, INT64_MAX - 2},
	};
	struct provider_reply r;
	bbb_status st;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(rows[i].ops->p_parse(rows[i].body, strlen(rows[i].body), &r, &st), 0);
		assert_true(r.r_tokens_in == rows[i].in);
		assert_true(r.r_cache_read_tokens == rows[i].read);
		assert_true(r.r_cache_write_tokens == rows[i].write);
		provider_reply_free(&r);
	}
}

static void malformed_bodies_are_protocol_errors(void **state)
{
	static const char *const anthropic_bad[] = {
		"{\"id\": \"broken\", \"content\": [{\"type\": \"text\", \"te",
		"",
		"[]",
		"{\"type\": \"message\"}",
		"{\"content\": \"text\"}",
		"{\"content\": [{\"type\": \"text\"}]}",
		"{\"content\": [{\"type\": \"tool_use\", \"input\": {}}]}",
		"{\"content\": [42]}",
	};
	static const char *const openai_bad[] = {
		"{\"choices\": [{\"message\": {\"content\": \"x\"",
		"null",
		"{\"choices\": []}",
		"{\"choices\": [{\"text\": \"legacy\"}]}",
		"{\"choices\": [{\"message\": {\"content\": 5}}]}",
		"{\"choices\": [{\"message\": {\"tool_calls\": [{\"function\": {}}]}}]}",
	};
	struct provider_reply r;
	bbb_status st;

	(void)state;
	for (size_t i = 0; i < sizeof(anthropic_bad) / sizeof(anthropic_bad[0]); i++) {
		status_clear(&st);
		if (provider_anthropic.p_parse(anthropic_bad[i], strlen(anthropic_bad[i]), &r, &st) != -1)
			fail_msg("anthropic accepted: %s", anthropic_bad[i]);
		assert_string_equal(st.reason, "LLM_PROTOCOL_ERROR");
		assert_null(r.r_text); /* nothing left behind */
		assert_int_equal(r.r_n_calls, 0);
	}
	for (size_t i = 0; i < sizeof(openai_bad) / sizeof(openai_bad[0]); i++) {
		status_clear(&st);
		if (provider_openai.p_parse(openai_bad[i], strlen(openai_bad[i]), &r, &st) != -1)
			fail_msg("openai accepted: %s", openai_bad[i]);
		assert_string_equal(st.reason, "LLM_PROTOCOL_ERROR");
		assert_null(r.r_text);
	}
}

static void parsed_reply_feeds_the_next_request(void **state)
{
	const char *reply = "{\"content\": [{\"type\": \"tool_use\", \"id\": \"toolu_9\", \"name\": \"search_files\","
			    " \"input\": {\"query\": \"TODO\"}}], \"stop_reason\": \"tool_use\"}";
	struct provider_request req = {"claude-sonnet-4", 0, NULL, NULL, 0, PROVIDER_TOKEN_PARAM_AUTO};
	struct provider_http_request http;
	struct provider_reply r;
	struct provider_conv c;
	json_t *body;
	bbb_status st;

	(void)state;
	provider_conv_init(&c);
	provider_conv_add_user(&c, "find todos", &st);
	assert_int_equal(provider_anthropic.p_parse(reply, strlen(reply), &r, &st), 0);
	assert_int_equal(provider_conv_add_reply(&c, &r, &st), 0);
	provider_reply_free(&r);
	assert_int_equal(provider_conv_add_tool_result(&c, "toolu_9", "src/a.c:3: TODO x", 0, &st), 0);
	req.pr_conv = &c;
	assert_int_equal(provider_anthropic.p_build(NULL, &req, &http, &st), 0);
	body = body_of(&http);
	assert_json_equal(
		json_object_get(body, "messages"),
		"[{\"role\": \"user\", \"content\": \"find todos\"},"
		" {\"role\": \"assistant\", \"content\": [{\"type\": \"tool_use\", \"id\": \"toolu_9\","
		"   \"name\": \"search_files\", \"input\": {\"query\": \"TODO\"}}]},"
		" {\"role\": \"user\", \"content\": [{\"type\": \"tool_result\", \"tool_use_id\": \"toolu_9\","
		"   \"content\": \"src/a.c:3: TODO x\"}]}]");
	json_decref(body);
	provider_http_request_free(&http);
	provider_conv_free(&c);
}

static void echo_answers_the_last_user_text_deterministically(void **state)
{
	struct provider_request req = {"echo-1", 0, NULL, NULL, 0, PROVIDER_TOKEN_PARAM_AUTO};
	struct provider_reply a, b;
	struct provider_conv c;
	bbb_status st;

	(void)state;
	provider_conv_init(&c);
	provider_conv_set_system(&c, "be brief", &st);
	provider_conv_add_user(&c, "hello  big\tworld", &st);
	req.pr_conv = &c;
	assert_ptr_equal(provider_find("echo")->p_answer, provider_echo_answer);
	assert_null(provider_echo.p_build);
	assert_int_equal(provider_echo_answer(&req, &a, &st), 0);
	assert_int_equal(provider_echo_answer(&req, &b, &st), 0);
	assert_string_equal(a.r_text, "echo: hello  big\tworld");
	assert_string_equal(a.r_text, b.r_text);
	assert_int_equal(a.r_n_calls, 0);
	assert_int_equal(a.r_tokens_in, 5); /* "be brief" + "hello big world" */
	assert_int_equal(a.r_tokens_out, 4); /* "echo:" "hello" "big" "world" */
	assert_int_equal(a.r_stop, PROVIDER_STOP_END);
	assert_string_equal(a.r_model, "echo-1");
	provider_reply_free(&a);
	provider_reply_free(&b);
	provider_conv_free(&c);
}

static void echo_tool_lines_become_tool_calls(void **state)
{
	struct provider_request req = {"echo", 0, NULL, NULL, 0, PROVIDER_TOKEN_PARAM_AUTO};
	struct provider_reply r;
	struct provider_conv c;
	bbb_status st;

	(void)state;
	provider_conv_init(&c);
	provider_conv_add_user(&c, "#tool read_file {\"path\": \"notes.txt\"}\r\n#tool finish_task\nthen some prose",
			       &st);
	req.pr_conv = &c;
	assert_int_equal(provider_echo_answer(&req, &r, &st), 0);
	assert_int_equal(r.r_n_calls, 2);
	assert_string_equal(r.r_calls[0].tc_id, "echo_1_1");
	assert_string_equal(r.r_calls[0].tc_name, "read_file");
	assert_string_equal(r.r_calls[0].tc_arguments, "{\"path\":\"notes.txt\"}");
	assert_string_equal(r.r_calls[1].tc_id, "echo_1_2");
	assert_string_equal(r.r_calls[1].tc_name, "finish_task");
	assert_string_equal(r.r_calls[1].tc_arguments, "{}");
	assert_string_equal(r.r_text, "");
	assert_int_equal(r.r_stop, PROVIDER_STOP_TOOL_USE);
	assert_int_equal(r.r_tokens_out, 2);
	/* The loop answers the calls; echo then echoes the last result, on turn 2. */
	assert_int_equal(provider_conv_add_reply(&c, &r, &st), 0);
	provider_reply_free(&r);
	provider_conv_add_tool_result(&c, "echo_1_1", "remember the milk", 0, &st);
	provider_conv_add_tool_result(&c, "echo_1_2", "task finished", 0, &st);
	assert_int_equal(provider_echo_answer(&req, &r, &st), 0);
	assert_int_equal(r.r_n_calls, 0);
	assert_string_equal(r.r_text, "echo: task finished");
	provider_reply_free(&r);
	provider_conv_add_user(&c, "#tool list_path", &st);
	assert_int_equal(provider_echo_answer(&req, &r, &st), 0);
	assert_string_equal(r.r_calls[0].tc_id, "echo_2_1");
	provider_reply_free(&r);
	provider_conv_free(&c);
}

static void echo_bad_tool_line_is_answered_in_words(void **state)
{
	static const char *const bad[] = {"#tool read_file [1, 2]", "#tool read_file {broken", "#tool  "};
	struct provider_request req = {"echo", 0, NULL, NULL, 0, PROVIDER_TOKEN_PARAM_AUTO};
	struct provider_reply r;
	struct provider_conv c;
	bbb_status st;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		provider_conv_init(&c);
		provider_conv_add_user(&c, bad[i], &st);
		req.pr_conv = &c;
		assert_int_equal(provider_echo_answer(&req, &r, &st), 0);
		assert_int_equal(r.r_n_calls, 0);
		assert_int_equal(strncmp(r.r_text, "echo: bad #tool line: ", 22), 0);
		assert_int_equal(r.r_stop, PROVIDER_STOP_END);
		provider_reply_free(&r);
		provider_conv_free(&c);
	}
}

static void tool_set_is_the_seven_spec_tools_with_object_schemas(void **state)
{
	static const char *const names[] = {"read_file",  "list_path",     "search_files", "write_file",
					    "append_log", "request_input", "finish_task"};
	size_t n;
	const struct provider_tool *tools = provider_tools(&n);

	(void)state;
	assert_int_equal(n, 7);
	for (size_t i = 0; i < n; i++) {
		json_error_t err;
		json_t *schema = json_loads(tools[i].t_schema, 0, &err);

		assert_string_equal(tools[i].t_name, names[i]);
		if (schema == NULL)
			fail_msg("%s: schema does not parse: %s", tools[i].t_name, err.text);
		assert_string_equal(json_string_value(json_object_get(schema, "type")), "object");
		assert_true(json_is_object(json_object_get(schema, "properties")));
		assert_true(strlen(tools[i].t_description) > 10);
		json_decref(schema);
		assert_ptr_equal(provider_tool_find(names[i]), &tools[i]);
	}
	assert_null(provider_tool_find("exec"));
	assert_null(provider_tool_find(NULL));
}

static void providers_are_found_by_spec_name(void **state)
{
	(void)state;
	assert_ptr_equal(provider_find("anthropic"), &provider_anthropic);
	assert_ptr_equal(provider_find("openai"), &provider_openai);
	assert_ptr_equal(provider_find("echo"), &provider_echo);
	assert_null(provider_find("gemini"));
	assert_null(provider_find(NULL));
}

static void error_messages_are_extracted_from_both_shapes(void **state)
{
	const char *a = "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}";
	const char *o = "{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\"}}";
	const char *s = "{\"error\":\"model not found\"}";
	char buf[64];

	(void)state;
	assert_int_equal(provider_error_message(a, strlen(a), buf, sizeof(buf)), 0);
	assert_string_equal(buf, "Overloaded");
	assert_int_equal(provider_error_message(o, strlen(o), buf, sizeof(buf)), 0);
	assert_string_equal(buf, "Rate limit reached");
	assert_int_equal(provider_error_message(s, strlen(s), buf, sizeof(buf)), 0);
	assert_string_equal(buf, "model not found");
	assert_int_equal(provider_error_message("<html>502</html>", 16, buf, sizeof(buf)), -1);
	assert_string_equal(buf, "");
}

static void words_are_counted_on_whitespace(void **state)
{
	(void)state;
	assert_int_equal(provider_count_words(NULL), 0);
	assert_int_equal(provider_count_words(""), 0);
	assert_int_equal(provider_count_words("   "), 0);
	assert_int_equal(provider_count_words("one"), 1);
	assert_int_equal(provider_count_words(" one\ttwo\n\nthree "), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(anthropic_request_matches_the_messages_api),
		cmocka_unit_test(anthropic_groups_tool_results_into_one_user_message),
		cmocka_unit_test(openai_request_matches_chat_completions),
		cmocka_unit_test(openai_tool_round_trip_uses_tool_messages),
		cmocka_unit_test(assistant_without_text_sends_null_content_to_openai),
		cmocka_unit_test(anthropic_leaves_out_whitespace_only_text),
		cmocka_unit_test(openai_token_limit_member_is_chosen_by_model_family),
		cmocka_unit_test(token_limit_param_text_parses_to_the_enum),
		cmocka_unit_test(endpoints_are_the_given_one_else_the_public_api),
		cmocka_unit_test(bad_requests_are_refused),
		cmocka_unit_test(anthropic_reply_with_text_tool_use_and_usage_is_parsed),
		cmocka_unit_test(anthropic_stop_reasons_map_to_neutral_stops),
		cmocka_unit_test(openai_reply_with_tool_calls_and_usage_is_parsed),
		cmocka_unit_test(openai_compatible_variants_are_accepted),
		cmocka_unit_test(token_counts_saturate_and_are_never_negative),
		cmocka_unit_test(cache_counts_never_exceed_the_input_count),
		cmocka_unit_test(malformed_bodies_are_protocol_errors),
		cmocka_unit_test(parsed_reply_feeds_the_next_request),
		cmocka_unit_test(echo_answers_the_last_user_text_deterministically),
		cmocka_unit_test(echo_tool_lines_become_tool_calls),
		cmocka_unit_test(echo_bad_tool_line_is_answered_in_words),
		cmocka_unit_test(tool_set_is_the_seven_spec_tools_with_object_schemas),
		cmocka_unit_test(providers_are_found_by_spec_name),
		cmocka_unit_test(error_messages_are_extracted_from_both_shapes),
		cmocka_unit_test(words_are_counted_on_whitespace),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
