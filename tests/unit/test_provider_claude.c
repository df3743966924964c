/*
 * runtime/provider_claude: the claude_code provider's command line (flags,
 * tool mapping, system prompt, the prompt after "--", the limits of one
 * argument), its environment (only what it is given, never BEEBEEBRAIN_*),
 * the reading of stream-json lines (documented shapes, unknown ones,
 * refused lines, hostile numbers), and the judgement of how a process ended.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/redact.h"
#include "common/status.h"
#include "runtime/provider.h"
#include "runtime/provider_claude.h"

static struct provider_conv conv;

static int setup_conv(void **state)
{
	bbb_status st;

	(void)state;
	provider_conv_init(&conv);
	provider_conv_add_user(&conv, "fix the bug", &st);
	return 0;
}

static int free_conv(void **state)
{
	(void)state;
	provider_conv_free(&conv);
	return 0;
}

/* The index of arg in argv, or -1. */
static int arg_at(char **argv, const char *arg)
{
	for (int i = 0; argv[i] != NULL; i++)
		if (strcmp(argv[i], arg) == 0)
			return i;
	return -1;
}

static int argc_of(char **argv)
{
	int n = 0;

	while (argv[n] != NULL)
		n++;
	return n;
}

/* The value after a flag. */
static const char *flag_value(char **argv, const char *flag)
{
	int i = arg_at(argv, flag);

	assert_true(i >= 0);
	assert_non_null(argv[i + 1]);
	return argv[i + 1];
}

/* 1 when the comma-separated list holds item. */
static int list_has(const char *list, const char *item)
{
	size_t n = strlen(item);

	for (const char *p = list; p != NULL && *p != '\0';) {
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
		if (len == n && strncmp(p, item, n) == 0)
			return 1;
		p = end != NULL ? end + 1 : NULL;
	}
	return 0;
}

static void build(const struct provider_claude_settings *s, const char *const *tools, size_t n_tools, int max_turns,
		  struct provider_command *cmd)
{
	struct provider_request req = {
		.pr_model = "sonnet", .pr_conv = &conv, .pr_tools = tools, .pr_n_tools = n_tools};
	bbb_status st;

	status_clear(&st);
	if (provider_claude_command(s, &req, max_turns, cmd, &st) != 0)
		fail_msg("provider_claude_command: %s", st.message);
}

/* ---- the command ------------------------------------------------------------------- */

static void command_runs_headless_stream_json_with_the_model_turns_and_prompt_last(void **state)
{
	struct provider_claude_settings s = {0};
	struct provider_command cmd;
	char **a;

	(void)state;
	build(&s, NULL, 0, 8, &cmd);
	a = cmd.cmd_argv;
	assert_string_equal(cmd.cmd_program, "claude");
	assert_string_equal(a[0], "claude");
	assert_true(arg_at(a, "-p") > 0);
	assert_string_equal(flag_value(a, "--output-format"), "stream-json");
	assert_true(arg_at(a, "--verbose") > 0);
	assert_string_equal(flag_value(a, "--model"), "sonnet");
	assert_string_equal(flag_value(a, "--max-turns"), "8");
	assert_int_equal(arg_at(a, "--append-system-prompt"), -1); /* none in the conversation */
	assert_int_equal(arg_at(a, "--settings"), -1);
	assert_int_equal(arg_at(a, "--dangerously-skip-permissions"), -1);
	int n = argc_of(a);
	assert_string_equal(a[n - 2], "--");
	assert_string_equal(a[n - 1], "fix the bug");
	provider_command_free(&cmd);
	provider_command_free(&cmd); /* a freed command is a zeroed one */
}

static void system_prompt_settings_and_program_are_passed(void **state)
{
	struct provider_claude_settings s = {"/opt/claude/bin/claude", "/etc/bbb/claude.json", NULL};
	struct provider_command cmd;
	bbb_status st;

	(void)state;
	provider_conv_set_system(&conv, "You are careful.", &st);
	build(&s, NULL, 0, 0, &cmd);
	assert_string_equal(cmd.cmd_program, "/opt/claude/bin/claude");
	assert_string_equal(flag_value(cmd.cmd_argv, "--append-system-prompt"), "You are careful.");
	assert_string_equal(flag_value(cmd.cmd_argv, "--settings"), "/etc/bbb/claude.json");
	assert_int_equal(arg_at(cmd.cmd_argv, "--max-turns"), -1); /* 0: the CLI's default */
	provider_command_free(&cmd);
}

static void a_prompt_that_looks_like_an_option_stays_the_prompt(void **state)
{
	struct provider_claude_settings s = {0};
	struct provider_command cmd;
	struct provider_conv c;
	bbb_status st;
	struct provider_request req = {.pr_model = "sonnet", .pr_conv = &c};

	(void)state;
	provider_conv_init(&c);
	provider_conv_add_user(&c, "--dangerously-skip-permissions", &st);
	assert_int_equal(provider_claude_command(&s, &req, 1, &cmd, &st), 0);
	int n = argc_of(cmd.cmd_argv);
	assert_string_equal(cmd.cmd_argv[n - 2], "--");
	assert_string_equal(cmd.cmd_argv[n - 1], "--dangerously-skip-permissions");
	assert_int_equal(arg_at(cmd.cmd_argv, "--dangerously-skip-permissions"), n - 1);
	provider_command_free(&cmd);
	provider_conv_free(&c);
}

static void a_prompt_longer_than_one_argument_is_refused(void **state)
{
	struct provider_claude_settings s = {0};
	struct provider_command cmd;
	struct provider_conv c;
	struct provider_request req = {.pr_model = "sonnet", .pr_conv = &c};
	char *big = malloc(PROVIDER_CLAUDE_ARG_MAX + 2);
	bbb_status st;

	(void)state;
	memset(big, 'a', PROVIDER_CLAUDE_ARG_MAX + 1);
	big[PROVIDER_CLAUDE_ARG_MAX + 1] = '\0';
	provider_conv_init(&c);
	provider_conv_add_user(&c, big, &st);
	status_clear(&st);
	assert_int_equal(provider_claude_command(&s, &req, 1, &cmd, &st), -1);
	assert_string_equal(st.reason, "VALIDATION_ERROR");
	assert_non_null(strstr(st.message, "one command-line argument"));
	assert_null(cmd.cmd_argv);
	provider_conv_free(&c);
	/* Exactly at the limit it goes. */
	big[PROVIDER_CLAUDE_ARG_MAX] = '\0';
	provider_conv_init(&c);
	provider_conv_add_user(&c, big, &st);
	assert_int_equal(provider_claude_command(&s, &req, 1, &cmd, &st), 0);
	provider_command_free(&cmd);
	provider_conv_free(&c);
	free(big);
}

static void a_request_without_model_or_prompt_is_refused(void **state)
{
	struct provider_claude_settings s = {0};
	struct provider_command cmd;
	struct provider_conv empty;
	struct provider_request req = {.pr_model = "", .pr_conv = &conv};
	bbb_status st;

	(void)state;
	status_clear(&st);
	assert_int_equal(provider_claude_command(&s, &req, 1, &cmd, &st), -1);
	assert_string_equal(st.reason, "VALIDATION_ERROR");
	provider_conv_init(&empty);
	req.pr_model = "sonnet";
	req.pr_conv = &empty;
	assert_int_equal(provider_claude_command(&s, &req, 1, &cmd, &st), -1);
}

static void all_tools_map_to_claude_code_tools_without_a_shell(void **state)
{
	static const char *const ours[] = {"read_file",  "list_path",     "search_files", "write_file",
					   "append_log", "request_input", "finish_task"};
	struct provider_claude_settings s = {0};
	struct provider_command cmd;
	const char *allowed, *denied;

	(void)state;
	build(&s, ours, 7, 8, &cmd);
	allowed = flag_value(cmd.cmd_argv, "--allowedTools");
	denied = flag_value(cmd.cmd_argv, "--disallowedTools");
	for (const char *const *t =
		     (const char *const[]){"Read", "LS", "Glob", "Grep", "Write", "Edit", "MultiEdit", NULL};
	     *t != NULL; t++)
		if (!list_has(allowed, *t))
			fail_msg("%s is not allowed: %s", *t, allowed);
	for (const char *const *t = (const char *const[]){"Bash", "WebFetch", "WebSearch", "Task", NULL}; *t != NULL;
	     t++) {
		assert_false(list_has(allowed, *t));
		if (!list_has(denied, *t))
			fail_msg("%s is not denied: %s", *t, denied);
	}
	/* The secret names and the CLI's own project settings, whatever is allowed. */
	assert_true(list_has(denied, "Read(**/.env*)"));
	assert_true(list_has(denied, "Edit(**/*.pem)"));
	assert_true(list_has(denied, "Edit(./.claude/**)"));
	provider_command_free(&cmd);
}

static void a_short_tool_list_allows_only_its_tools(void **state)
{
	static const char *const ours[] = {"read_file", "finish_task"};
	struct provider_claude_settings s = {0};
	struct provider_command cmd;

	(void)state;
	build(&s, ours, 2, 8, &cmd);
	assert_string_equal(flag_value(cmd.cmd_argv, "--allowedTools"), "Read,NotebookRead");
	const char *denied = flag_value(cmd.cmd_argv, "--disallowedTools");
	assert_true(list_has(denied, "Write"));
	assert_true(list_has(denied, "Grep"));
	assert_true(list_has(denied, "Bash"));
	provider_command_free(&cmd);
}

static void the_shell_is_there_only_when_the_agent_lists_it(void **state)
{
	static const char *const ours[] = {"write_file", PROVIDER_CLAUDE_SHELL_TOOL};
	struct provider_claude_settings s = {0};
	struct provider_command cmd;

	(void)state;
	build(&s, ours, 2, 8, &cmd);
	const char *allowed = flag_value(cmd.cmd_argv, "--allowedTools");
	assert_true(list_has(allowed, "Bash"));
	assert_true(list_has(allowed, "Write"));
	assert_false(list_has(flag_value(cmd.cmd_argv, "--disallowedTools"), "Bash"));
	assert_null(provider_claude_tools_of("finish_task"));
	assert_null(provider_claude_tools_of("no_such_tool"));
	provider_command_free(&cmd);
}

static void the_environment_is_what_it_is_given_without_our_settings(void **state)
{
	static const char *const env[] = {"PATH=/usr/bin:/bin",
					  "HOME=/home/bbb",
					  "ANTHROPIC_API_KEY=sk-ant-x",
					  "BEEBEEBRAIN_API_KEY=never",
					  "BEEBEEBRAIN_DB=/x",
					  "NOEQUALS",
					  NULL};
	struct provider_claude_settings s = {NULL, NULL, env};
	struct provider_command cmd;
	char **e;

	(void)state;
	build(&s, NULL, 0, 8, &cmd);
	e = cmd.cmd_envp;
	assert_int_equal(argc_of(e), 4);
	assert_string_equal(e[0], "PATH=/usr/bin:/bin");
	assert_string_equal(e[1], "HOME=/home/bbb");
	assert_string_equal(e[2], "ANTHROPIC_API_KEY=sk-ant-x");
	assert_string_equal(e[3], "DISABLE_AUTOUPDATER=1");
	provider_command_free(&cmd);
}

/* ---- the stream ---------------------------------------------------------------------- */

static int feed(struct provider_claude_stream *s, const char *line)
{
	bbb_status st;

	status_clear(&st);
	return provider_claude_line(s, line, strlen(line), &st);
}

static const char init_line[] =
	"{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"sess-1\",\"model\":\"claude-sonnet-4-5\","
	"\"tools\":[\"Read\",\"Write\"],\"cwd\":\"/w\",\"permissionMode\":\"default\"}";
static const char tool_line[] =
	"{\"type\":\"assistant\",\"session_id\":\"sess-1\",\"message\":{\"role\":\"assistant\",\"content\":["
	"{\"type\":\"text\",\"text\":\"writing\"},{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"Write\","
	"\"input\":{}},{\"type\":\"tool_use\",\"id\":\"t2\",\"name\":\"Read\",\"input\":{}}]}}";
static const char user_line[] = "{\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":[{\"type\":"
				"\"tool_result\",\"tool_use_id\":\"t1\",\"content\":\"ok\"}]}}";
static const char success_line[] =
	"{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"num_turns\":3,\"result\":\"All done.\","
	"\"session_id\":\"sess-1\",\"total_cost_usd\":0.012345,\"usage\":{\"input_tokens\":100,"
	"\"cache_creation_input_tokens\":5,\"cache_read_input_tokens\":7,\"output_tokens\":20}}";

static void a_successful_session_gives_the_answer_usage_and_cost(void **state)
{
	struct provider_claude_stream s = {0};
	struct provider_reply r;
	struct retry_class cls;
	char *message = NULL, *summary;

	(void)state;
	assert_int_equal(feed(&s, init_line), 0);
	assert_int_equal(feed(&s, tool_line), 0);
	assert_int_equal(feed(&s, user_line), 0);
	assert_int_equal(feed(&s, ""), 0); /* blank lines are skipped */
	assert_int_equal(feed(&s, "  \t"), 0);
	assert_int_equal(feed(&s, "{\"type\":\"stream_event\",\"event\":{}}"), 0); /* unknown: ignored */
	assert_int_equal(feed(&s, success_line), 0);
	assert_int_equal(s.cs_lines, 5);
	assert_int_equal(provider_claude_judge(&s, 0, 0, "", &r, &cls, &message), 0);
	assert_null(message);
	assert_string_equal(r.r_text, "All done.");
	assert_int_equal(r.r_tokens_in, 112);
	assert_int_equal(r.r_tokens_out, 20);
	assert_int_equal(r.r_cache_write_tokens, 5); /* part of r_tokens_in */
	assert_int_equal(r.r_cache_read_tokens, 7);
	assert_int_equal(r.r_n_calls, 0);
	assert_int_equal(r.r_stop, PROVIDER_STOP_END);
	assert_string_equal(r.r_model, "claude-sonnet-4-5");
	assert_int_equal(r.r_cost_reported, 1);
	assert_int_equal(r.r_cost_usd_micros, 12345);
	summary = provider_claude_summary(&s);
	assert_string_equal(summary, "claude_code session sess-1: success, 3 turn(s), 2 tool use(s): Write 1, Read 1; "
				     "cost $0.012345");
	free(summary);
	provider_reply_free(&r);
	provider_claude_stream_free(&s);
	provider_claude_stream_free(&s);
}

static void the_answer_stands_even_if_the_exit_status_is_not_zero(void **state)
{
	struct provider_claude_stream s = {0};
	struct provider_reply r;
	struct retry_class cls;
	char *message = NULL;

	(void)state;
	assert_int_equal(feed(&s, success_line), 0);
	assert_int_equal(provider_claude_judge(&s, 1, 0, "warning", &r, &cls, &message), 0);
	provider_reply_free(&r);
	provider_claude_stream_free(&s);
}

static void lines_that_are_not_json_objects_are_protocol_errors(void **state)
{
	static const char *const bad[] = {"this is not JSON", "[1,2,3]", "\"a string\"", "{\"type\":\"result\"",
					  "{\"a\":1}{\"b\":2}"};
	bbb_status st;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct provider_claude_stream s = {0};
		status_clear(&st);
		assert_int_equal(provider_claude_line(&s, bad[i], strlen(bad[i]), &st), -1);
		assert_string_equal(st.reason, "LLM_PROTOCOL_ERROR");
		assert_true(strlen(s.cs_refused) > 0);
		provider_claude_stream_free(&s);
	}
}

static void a_refused_line_is_quoted_printable_and_short(void **state)
{
	struct provider_claude_stream s = {0};
	char line[300];
	bbb_status st;

	(void)state;
	memset(line, 'z', sizeof(line));
	line[0] = '\x1b';
	status_clear(&st);
	assert_int_equal(provider_claude_line(&s, line, sizeof(line), &st), -1); /* not NUL-ended either */
	assert_non_null(strstr(s.cs_refused, "line 1 starts \"?zzz"));
	assert_non_null(strstr(s.cs_refused, "...)"));
	assert_true(strlen(s.cs_refused) < sizeof(s.cs_refused));
	provider_claude_stream_free(&s);
}

static void a_cost_that_is_no_amount_is_not_reported(void **state)
{
	static const char *const lines[] = {
		"{\"type\":\"result\",\"subtype\":\"success\",\"result\":\"x\",\"total_cost_usd\":-1}",
		"{\"type\":\"result\",\"subtype\":\"success\",\"result\":\"x\",\"total_cost_usd\":\"0.5\"}",
		"{\"type\":\"result\",\"subtype\":\"success\",\"result\":\"x\",\"total_cost_usd\":1e300}",
		"{\"type\":\"result\",\"subtype\":\"success\",\"result\":\"x\"}",
		"{\"type\":\"result\",\"subtype\":\"success\",\"result\":\"x\",\"usage\":{\"input_tokens\":-5,"
		"\"output_tokens\":\"9\"}}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct provider_claude_stream s = {0};
		struct provider_reply r;
		struct retry_class cls;
		char *message = NULL;

		assert_int_equal(feed(&s, lines[i]), 0);
		assert_int_equal(provider_claude_judge(&s, 0, 0, "", &r, &cls, &message), 0);
		assert_int_equal(r.r_cost_reported, 0);
		assert_int_equal(r.r_tokens_in, 0);
		assert_int_equal(r.r_tokens_out, 0);
		provider_reply_free(&r);
		provider_claude_stream_free(&s);
	}
}

/* The verdict on a stream that ended with this result line. */
static char *verdict(const char *line, int exit_code, int sig, const char *err, struct retry_class *cls)
{
	struct provider_claude_stream s = {0};
	struct provider_reply r;
	char *message = NULL;

	if (line != NULL)
		assert_int_equal(feed(&s, line), 0);
	assert_int_equal(provider_claude_judge(&s, exit_code, sig, err, &r, cls, &message), -1);
	assert_non_null(message);
	assert_null(r.r_text);
	provider_claude_stream_free(&s);
	return message;
}

static void error_results_fail_the_run_with_the_clis_words(void **state)
{
	struct retry_class cls;
	char *m;

	(void)state;
	m = verdict("{\"type\":\"result\",\"subtype\":\"error_max_turns\",\"is_error\":false,\"num_turns\":8}", 0, 0,
		    "", &cls);
	assert_string_equal(cls.rc_code, "MAX_TURNS_EXCEEDED");
	assert_int_equal(cls.rc_verdict, RETRY_FINAL);
	assert_non_null(strstr(m, "all its turns (8)"));
	free(m);

	m = verdict("{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":true,\"result\":\"API Error: 401 "
		    "{\\\"type\\\":\\\"error\\\",\\\"error\\\":{\\\"message\\\":\\\"invalid x-api-key\\\"}}\"}",
		    0, 0, "", &cls);
	assert_string_equal(cls.rc_code, "LLM_AUTHENTICATION_FAILED");
	assert_int_equal(cls.rc_verdict, RETRY_FINAL);
	assert_non_null(strstr(m, "invalid x-api-key"));
	free(m);

	/* The CLI already retried: an overloaded API is the run's error, not retried again. */
	m = verdict("{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":true,\"result\":\"API Error: 529 "
		    "Overloaded\"}",
		    1, 0, "", &cls);
	assert_string_equal(cls.rc_code, "LLM_PROVIDER_UNAVAILABLE");
	assert_int_equal(cls.rc_verdict, RETRY_FINAL);
	free(m);

	m = verdict("{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":true,\"result\":\"Invalid API key "
		    "\\u00b7 Please run /login\"}",
		    1, 0, "", &cls);
	assert_string_equal(cls.rc_code, "LLM_AUTHENTICATION_FAILED");
	free(m);

	m = verdict("{\"type\":\"result\",\"subtype\":\"error_during_execution\",\"is_error\":true,"
		    "\"errors\":[\"Credit balance is too low\"]}",
		    1, 0, "", &cls);
	assert_string_equal(cls.rc_code, "LLM_PROVIDER_ERROR");
	assert_int_equal(cls.rc_verdict, RETRY_FINAL);
	assert_non_null(strstr(m, "(error_during_execution): Credit balance is too low"));
	free(m);

	m = verdict("{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":true,\"result\":\"Prompt is too "
		    "long\"}",
		    1, 0, "", &cls);
	assert_string_equal(cls.rc_code, "LLM_CONTEXT_LIMIT_EXCEEDED");
	free(m);
}

static void the_clis_words_are_redacted_and_cut(void **state)
{
	char line[8192];
	struct retry_class cls;
	char *m;

	(void)state;
	snprintf(line, sizeof(line),
		 "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":true,\"result\":\"failed with "
		 "api_key=sk-ant-api03-abcdefghijklmnopqrstuvwx and %06000d\"}",
		 0);
	m = verdict(line, 1, 0, "", &cls);
	assert_null(strstr(m, "sk-ant-api03"));
	assert_non_null(strstr(m, REDACT_MARK));
	assert_true(strlen(m) < 2200);
	assert_non_null(strstr(m, "..."));
	free(m);
}

static void a_process_that_ends_without_a_result(void **state)
{
	struct retry_class cls;
	char *m;

	(void)state;
	m = verdict(init_line, 0, 0, "", &cls);
	assert_string_equal(cls.rc_code, "LLM_PROTOCOL_ERROR");
	assert_int_equal(cls.rc_verdict, RETRY_RETRYABLE_ONCE);
	free(m);

	m = verdict(init_line, 3, 0, "noise\nboom: it broke\n\n", &cls);
	assert_string_equal(cls.rc_code, "LLM_PROVIDER_UNAVAILABLE");
	assert_int_equal(cls.rc_verdict, RETRY_RETRYABLE);
	assert_string_equal(m, "the claude CLI exited with status 3 without a result line: noise\nboom: it broke");
	free(m);

	m = verdict(NULL, -1, 9, "", &cls);
	assert_string_equal(cls.rc_code, "LLM_PROVIDER_UNAVAILABLE");
	assert_string_equal(m, "the claude CLI was killed by signal 9 without a result line");
	free(m);

	/* Hostile stderr: invalid UTF-8, a secret, and more than is shown. */
	char err[3000];
	memset(err, 'e', sizeof(err));
	memcpy(err + 2900, "\xff\xfe token=abcdef123456789 end", 28);
	err[sizeof(err) - 1] = '\0';
	m = verdict(NULL, 2, 0, err, &cls);
	assert_null(strstr(m, "abcdef123456789"));
	assert_non_null(strstr(m, " end"));
	assert_true(strlen(m) < 1000);
	free(m);
}

static void the_last_result_line_counts_whole(void **state)
{
	struct provider_claude_stream s = {0};
	struct provider_reply r;
	struct retry_class cls;
	char *message = NULL;

	(void)state;
	assert_int_equal(feed(&s, "{\"type\":\"result\",\"subtype\":\"error_during_execution\",\"is_error\":true,"
				  "\"errors\":[\"first\"]}"),
			 0);
	assert_int_equal(feed(&s, success_line), 0);
	assert_int_equal(provider_claude_judge(&s, 0, 0, "", &r, &cls, &message), 0);
	assert_null(s.cs_error);
	provider_reply_free(&r);
	provider_claude_stream_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(command_runs_headless_stream_json_with_the_model_turns_and_prompt_last,
						setup_conv, free_conv),
		cmocka_unit_test_setup_teardown(system_prompt_settings_and_program_are_passed, setup_conv, free_conv),
		cmocka_unit_test(a_prompt_that_looks_like_an_option_stays_the_prompt),
		cmocka_unit_test(a_prompt_longer_than_one_argument_is_refused),
		cmocka_unit_test_setup_teardown(a_request_without_model_or_prompt_is_refused, setup_conv, free_conv),
		cmocka_unit_test_setup_teardown(all_tools_map_to_claude_code_tools_without_a_shell, setup_conv,
						free_conv),
		cmocka_unit_test_setup_teardown(a_short_tool_list_allows_only_its_tools, setup_conv, free_conv),
		cmocka_unit_test_setup_teardown(the_shell_is_there_only_when_the_agent_lists_it, setup_conv, free_conv),
		cmocka_unit_test_setup_teardown(the_environment_is_what_it_is_given_without_our_settings, setup_conv,
						free_conv),
		cmocka_unit_test(a_successful_session_gives_the_answer_usage_and_cost),
		cmocka_unit_test(the_answer_stands_even_if_the_exit_status_is_not_zero),
		cmocka_unit_test(lines_that_are_not_json_objects_are_protocol_errors),
		cmocka_unit_test(a_refused_line_is_quoted_printable_and_short),
		cmocka_unit_test(a_cost_that_is_no_amount_is_not_reported),
		cmocka_unit_test(error_results_fail_the_run_with_the_clis_words),
		cmocka_unit_test(the_clis_words_are_redacted_and_cut),
		cmocka_unit_test(a_process_that_ends_without_a_result),
		cmocka_unit_test(the_last_result_line_counts_whole),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
