/*
 * The claude_code provider: the command line, the reading of the CLI's
 * stream-json output, and the judgement of how a process ended (contract in
 * provider_claude.h). No I/O.
 */
#include "runtime/provider_claude.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/dbuf.h"
#include "common/redact.h"
#include "common/status.h"
#include "common/utf8.h"
#include "common/xalloc.h"
#include "runtime/provider_internal.h"

#define CLAUDE_MESSAGE_MAX 2000 /* of the CLI's words in a run's error message */
#define CLAUDE_STDERR_SHOWN 800

const struct provider_ops provider_claude_code = {
	.p_name = "claude_code",
	.p_process = 1,
};

/* ---- tools ------------------------------------------------------------------- */

static const char *const claude_read[] = {"Read", "NotebookRead", NULL};
static const char *const claude_list[] = {"LS", "Glob", NULL};
static const char *const claude_search[] = {"Grep", "Glob", NULL};
static const char *const claude_write[] = {"Write", "Edit", "MultiEdit", "NotebookEdit", NULL};
static const char *const claude_shell[] = {"Bash", "BashOutput", "KillShell", NULL};

static const struct {
	const char *cm_agent_tool;
	const char *const *cm_claude;
} claude_map[] = {
	{"read_file", claude_read},
	{"list_path", claude_list},
	{"search_files", claude_search},
	{"write_file", claude_write},
	{PROVIDER_CLAUDE_SHELL_TOOL, claude_shell},
};

/* Every tool of the CLI we deny unless the agent's list maps to it. */
static const char *const claude_known[] = {
	"Read",         "NotebookRead", "LS",         "Glob",      "Grep",     "Write",     "Edit", "MultiEdit",
	"NotebookEdit", "Bash",         "BashOutput", "KillShell", "WebFetch", "WebSearch", "Task", "SlashCommand",
};

/* Deny rules by path (gitignore patterns from the working directory): the
 * workspace gateway's secret names, for reading and editing; and the CLI's
 * own project settings, whose hooks would run commands at the next start. */
static const char *const claude_secret_patterns[] = {
	"**/.env*", "**/id_rsa*", "**/id_ed25519*", "**/*.pem",   "**/*.key",
	"**/*.p12", "**/*.pfx",   "**/*secret*",    "**/*token*",
};

const char *const *provider_claude_tools_of(const char *agent_tool)
{
	for (size_t i = 0; agent_tool != NULL && i < sizeof(claude_map) / sizeof(claude_map[0]); i++)
		if (strcmp(claude_map[i].cm_agent_tool, agent_tool) == 0)
			return claude_map[i].cm_claude;
	return NULL;
}

static int claude_allowed(const struct provider_request *req, const char *claude_tool)
{
	for (size_t i = 0; i < req->pr_n_tools; i++) {
		const char *const *m = provider_claude_tools_of(req->pr_tools[i]);
		for (size_t j = 0; m != NULL && m[j] != NULL; j++)
			if (strcmp(m[j], claude_tool) == 0)
				return 1;
	}
	return 0;
}

/* "--allowedTools" and "--disallowedTools" values; malloc'd. */
static void claude_tool_lists(const struct provider_request *req, char **allowed, char **denied)
{
	struct dbuf a, d;

	dbuf_init(&a, 4096);
	dbuf_init(&d, 4096);
	for (size_t i = 0; i < sizeof(claude_known) / sizeof(claude_known[0]); i++) {
		struct dbuf *b = claude_allowed(req, claude_known[i]) ? &a : &d;
		dbuf_printf(b, "%s%s", dbuf_len(b) > 0 ? "," : "", claude_known[i]);
	}
	dbuf_printf(&d, ",Edit(./.claude/**)");
	for (size_t i = 0; i < sizeof(claude_secret_patterns) / sizeof(claude_secret_patterns[0]); i++)
		dbuf_printf(&d, ",Read(%s),Edit(%s)", claude_secret_patterns[i], claude_secret_patterns[i]);
	*allowed = dbuf_take(&a);
	*denied = dbuf_take(&d);
}

/* ---- the command ------------------------------------------------------------------- */

void provider_command_free(struct provider_command *c)
{
	for (size_t i = 0; c->cmd_argv != NULL && c->cmd_argv[i] != NULL; i++)
		free(c->cmd_argv[i]);
	for (size_t i = 0; c->cmd_envp != NULL && c->cmd_envp[i] != NULL; i++)
		free(c->cmd_envp[i]);
	free(c->cmd_argv);
	free(c->cmd_envp);
	free(c->cmd_program);
	memset(c, 0, sizeof(*c));
}

static void claude_push(char ***v, size_t *n, char *s)
{
	*v = xrealloc(*v, (*n + 2) * sizeof(**v));
	(*v)[(*n)++] = s;
	(*v)[*n] = NULL;
}

static const char *claude_prompt(const struct provider_conv *c)
{
	for (size_t i = 0; c != NULL && i < c->c_n; i++)
		if (c->c_msgs[i].m_role == PROVIDER_ROLE_USER)
			return c->c_msgs[i].m_text;
	return NULL;
}

static void claude_env(const struct provider_claude_settings *s, struct provider_command *out)
{
	size_t n = 0;
	int have_updater = 0;

	for (size_t i = 0; s->cs_env != NULL && s->cs_env[i] != NULL; i++) {
		const char *e = s->cs_env[i];
		/* Our own settings (the API key above all) never reach the CLI. */
		if (strncmp(e, "BEEBEEBRAIN_", 12) == 0 || strchr(e, '=') == NULL)
			continue;
		have_updater |= strncmp(e, "DISABLE_AUTOUPDATER=", 20) == 0;
		claude_push(&out->cmd_envp, &n, xstrdup(e));
	}
	/* A server's tools do not update themselves in the middle of a run. */
	if (!have_updater)
		claude_push(&out->cmd_envp, &n, xstrdup("DISABLE_AUTOUPDATER=1"));
}

int provider_claude_command(const struct provider_claude_settings *s, const struct provider_request *req, int max_turns,
			    struct provider_command *out, bbb_status *st)
{
	const char *prompt = claude_prompt(req->pr_conv);
	const char *system = req->pr_conv != NULL ? req->pr_conv->c_system : NULL;
	char *allowed, *denied;
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	if (req->pr_model == NULL || req->pr_model[0] == '\0')
		return status_fail(st, "VALIDATION_ERROR", "claude_code: a model is required");
	if (prompt == NULL || prompt[0] == '\0')
		return status_fail(st, "VALIDATION_ERROR", "claude_code: the conversation has no prompt");
	if (strlen(prompt) > PROVIDER_CLAUDE_ARG_MAX)
		return status_fail(st, "VALIDATION_ERROR",
				   "claude_code: the prompt (%zu bytes) is longer than the %d bytes one command-line "
				   "argument may hold",
				   strlen(prompt), PROVIDER_CLAUDE_ARG_MAX);
	if (system != NULL && strlen(system) > PROVIDER_CLAUDE_ARG_MAX)
		return status_fail(st, "VALIDATION_ERROR",
				   "claude_code: the system prompt (%zu bytes) is longer than the %d bytes one "
				   "command-line argument may hold",
				   strlen(system), PROVIDER_CLAUDE_ARG_MAX);
	out->cmd_program = xstrdup(provider_pick(s->cs_cli, PROVIDER_CLAUDE_DEFAULT_CLI));
	claude_push(&out->cmd_argv, &n, xstrdup(out->cmd_program));
	claude_push(&out->cmd_argv, &n, xstrdup("-p"));
	claude_push(&out->cmd_argv, &n, xstrdup("--output-format"));
	claude_push(&out->cmd_argv, &n, xstrdup("stream-json"));
	claude_push(&out->cmd_argv, &n, xstrdup("--verbose"));
	claude_push(&out->cmd_argv, &n, xstrdup("--model"));
	claude_push(&out->cmd_argv, &n, xstrdup(req->pr_model));
	if (max_turns > 0) {
		claude_push(&out->cmd_argv, &n, xstrdup("--max-turns"));
		claude_push(&out->cmd_argv, &n, xasprintf("%d", max_turns));
	}
	if (system != NULL && system[0] != '\0') {
		claude_push(&out->cmd_argv, &n, xstrdup("--append-system-prompt"));
		claude_push(&out->cmd_argv, &n, xstrdup(system));
	}
	claude_tool_lists(req, &allowed, &denied);
	claude_push(&out->cmd_argv, &n, xstrdup("--allowedTools"));
	claude_push(&out->cmd_argv, &n, allowed);
	claude_push(&out->cmd_argv, &n, xstrdup("--disallowedTools"));
	claude_push(&out->cmd_argv, &n, denied);
	if (s->cs_settings != NULL && s->cs_settings[0] != '\0') {
		claude_push(&out->cmd_argv, &n, xstrdup("--settings"));
		claude_push(&out->cmd_argv, &n, xstrdup(s->cs_settings));
	}
	claude_push(&out->cmd_argv, &n, xstrdup("--"));
	claude_push(&out->cmd_argv, &n, xstrdup(prompt));
	claude_env(s, out);
	return 0;
}

/* ---- the stream ------------------------------------------------------------------- */

void provider_claude_stream_free(struct provider_claude_stream *s)
{
	free(s->cs_session_id);
	free(s->cs_model);
	free(s->cs_subtype);
	free(s->cs_result);
	free(s->cs_error);
	memset(s, 0, sizeof(*s));
}

static void claude_set(char **dst, const char *v)
{
	if (v == NULL)
		return;
	free(*dst);
	*dst = provider_strdup(v);
}

static void claude_count_tool(struct provider_claude_stream *s, const char *name)
{
	s->cs_tool_uses++;
	if (name == NULL)
		return;
	for (int i = 0; i < PROVIDER_CLAUDE_TOOL_KINDS; i++) {
		if (s->cs_tools[i].tk_count > 0 && strcmp(s->cs_tools[i].tk_name, name) == 0) {
			s->cs_tools[i].tk_count++;
			return;
		}
		if (s->cs_tools[i].tk_count == 0) {
			snprintf(s->cs_tools[i].tk_name, sizeof(s->cs_tools[i].tk_name), "%s", name);
			utf8_trim(s->cs_tools[i].tk_name);
			s->cs_tools[i].tk_count = 1;
			return;
		}
	}
}

static void claude_assistant(struct provider_claude_stream *s, const json_t *root)
{
	json_t *content = json_object_get(json_object_get(root, "message"), "content");
	size_t i;
	json_t *block;

	json_array_foreach(content, i, block)
	{
		const char *type = provider_jstr(block, "type");
		if (type != NULL && strcmp(type, "tool_use") == 0)
			claude_count_tool(s, provider_jstr(block, "name"));
	}
}

/* total_cost_usd in micro-dollars; a value that is not a sane amount counts
 * as not reported. */
static void claude_cost(struct provider_claude_stream *s, const json_t *v)
{
	double usd;

	if (!json_is_number(v))
		return;
	usd = json_number_value(v);
	if (!isfinite(usd) || usd < 0 || usd > 1e9)
		return;
	s->cs_cost_micros = llround(usd * 1e6);
	s->cs_have_cost = 1;
}

static void claude_result(struct provider_claude_stream *s, const json_t *root)
{
	const json_t *usage = json_object_get(root, "usage");
	const json_t *errors = json_object_get(root, "errors");

	/* The last result line counts, whole: nothing of an earlier one stays. */
	free(s->cs_subtype);
	free(s->cs_result);
	free(s->cs_error);
	s->cs_subtype = s->cs_result = s->cs_error = NULL;
	s->cs_have_result = 1;
	claude_set(&s->cs_subtype, provider_jstr(root, "subtype"));
	s->cs_is_error = json_is_true(json_object_get(root, "is_error"));
	s->cs_num_turns = provider_jcount(root, "num_turns");
	claude_set(&s->cs_result, provider_jstr(root, "result"));
	if (json_is_array(errors) && json_array_size(errors) > 0)
		claude_set(&s->cs_error, json_string_value(json_array_get(errors, 0)));
	claude_set(&s->cs_session_id, provider_jstr(root, "session_id"));
	s->cs_tokens_in = provider_jcount(usage, "input_tokens");
	s->cs_tokens_out = provider_jcount(usage, "output_tokens");
	s->cs_cache_write = provider_jcount(usage, "cache_creation_input_tokens");
	s->cs_cache_read = provider_jcount(usage, "cache_read_input_tokens");
	s->cs_have_cost = 0;
	claude_cost(s, json_object_get(root, "total_cost_usd"));
}

/* The start of a refused line, printable, for the run's error message. */
static void claude_refuse(struct provider_claude_stream *s, const char *why, const char *line, size_t len)
{
	char shown[64];
	size_t n = len < sizeof(shown) - 1 ? len : sizeof(shown) - 1;

	for (size_t i = 0; i < n; i++)
		shown[i] = (unsigned char)line[i] < 0x20 || (unsigned char)line[i] >= 0x7f ? '?' : line[i];
	shown[n] = '\0';
	snprintf(s->cs_refused, sizeof(s->cs_refused), "%s (line %d starts \"%s\"%s)", why, s->cs_lines + 1, shown,
		 len > n ? "..." : "");
}

int provider_claude_line(struct provider_claude_stream *s, const char *line, size_t len, bbb_status *st)
{
	json_t *root;
	const char *type;
	size_t i = 0;

	while (i < len && isspace((unsigned char)line[i]))
		i++;
	if (i == len)
		return 0;
	root = json_loadb(line, len, 0, NULL);
	if (!json_is_object(root)) {
		json_decref(root);
		claude_refuse(s,
			      root == NULL ? "a line of output is not JSON" : "a line of output is not a JSON object",
			      line, len);
		return provider_protocol_error(st, "claude_code: %s", s->cs_refused);
	}
	s->cs_lines++;
	type = provider_jstr(root, "type");
	if (type != NULL && strcmp(type, "system") == 0) {
		claude_set(&s->cs_session_id, provider_jstr(root, "session_id"));
		claude_set(&s->cs_model, provider_jstr(root, "model"));
	} else if (type != NULL && strcmp(type, "assistant") == 0) {
		claude_assistant(s, root);
	} else if (type != NULL && strcmp(type, "result") == 0) {
		claude_result(s, root);
	}
	json_decref(root);
	return 0;
}

/* ---- how it ended ---------------------------------------------------------------- */

static int claude_has(const char *text, const char *needle)
{
	size_t n = strlen(needle);

	for (; text != NULL && *text != '\0'; text++)
		if (strncasecmp(text, needle, n) == 0)
			return 1;
	return 0;
}

/* The code of an error the CLI reported (table in provider_claude.h). */
static const char *claude_error_code(const char *text)
{
	const char *api = text != NULL ? strstr(text, "API Error: ") : NULL;

	if (api != NULL) {
		int status = atoi(api + 11);
		struct retry_attempt ra = {.ra_http_status = status, .ra_body = text, .ra_body_len = strlen(text)};
		struct retry_class cls;

		if (status >= 400 && status <= 599) {
			retry_classify(&ra, &cls);
			if (cls.rc_code != NULL)
				return cls.rc_code;
		}
	}
	if (claude_has(text, "prompt is too long"))
		return "LLM_CONTEXT_LIMIT_EXCEEDED";
	if (claude_has(text, "invalid api key") || claude_has(text, "/login") || claude_has(text, "authentication") ||
	    claude_has(text, "oauth token"))
		return "LLM_AUTHENTICATION_FAILED";
	return "LLM_PROVIDER_ERROR";
}

/* The CLI's words (hostile text): made UTF-8, redacted, cut to fit a run's
 * error message, after prefix. */
static char *claude_words(const char *prefix, const char *text)
{
	char *valid = provider_strdup(text), *red = redact_alloc(valid);
	const char *t = red != NULL ? red : valid;
	size_t n = utf8_cut(t, strnlen(t, CLAUDE_MESSAGE_MAX));
	char *out = xasprintf("%s%s%.*s%s", prefix, n > 0 ? ": " : "", (int)n, t, t[n] != '\0' ? "..." : "");

	free(red);
	free(valid);
	return out;
}

static int claude_fail(struct retry_class *cls, const char *code, enum retry_verdict v, char **message, char *text)
{
	cls->rc_code = code;
	cls->rc_verdict = v;
	*message = text;
	return -1;
}

static int claude_judge_result(const struct provider_claude_stream *s, struct provider_reply *reply,
			       struct retry_class *cls, char **message)
{
	const char *subtype = s->cs_subtype != NULL ? s->cs_subtype : "";
	const char *words = s->cs_result != NULL && s->cs_result[0] != '\0' ? s->cs_result : s->cs_error;
	bbb_status st;

	if (strcmp(subtype, "error_max_turns") == 0)
		return claude_fail(cls, "MAX_TURNS_EXCEEDED", RETRY_FINAL, message,
				   xasprintf("the claude CLI used all its turns (%lld) without finishing",
					     (long long)s->cs_num_turns));
	if (s->cs_is_error || strcmp(subtype, "success") != 0) {
		char *prefix = xasprintf("the claude CLI reported an error (%s)", subtype[0] ? subtype : "no subtype");
		char *text = claude_words(prefix, words);
		free(prefix);
		return claude_fail(cls, claude_error_code(words), RETRY_FINAL, message, text);
	}
	status_clear(&st);
	provider_reply_append_text(reply, s->cs_result != NULL ? s->cs_result : "", &st);
	reply->r_tokens_in =
		provider_count_add(provider_count_add(s->cs_tokens_in, s->cs_cache_write), s->cs_cache_read);
	reply->r_tokens_out = s->cs_tokens_out;
	reply->r_cache_read_tokens = s->cs_cache_read;
	reply->r_cache_write_tokens = s->cs_cache_write;
	reply->r_stop = PROVIDER_STOP_END;
	reply->r_stop_reason = xstrdup(subtype);
	claude_set(&reply->r_model, s->cs_model);
	reply->r_cost_reported = s->cs_have_cost;
	reply->r_cost_usd_micros = s->cs_have_cost ? s->cs_cost_micros : 0;
	provider_reply_finish(reply, &st);
	return 0;
}

int provider_claude_judge(const struct provider_claude_stream *s, int exit_code, int term_signal,
			  const char *stderr_tail, struct provider_reply *reply, struct retry_class *cls,
			  char **message)
{
	char how[64];
	const char *tail = stderr_tail != NULL ? stderr_tail : "";
	size_t len = strlen(tail), start;
	char *prefix, *text, *cut;

	memset(reply, 0, sizeof(*reply));
	*message = NULL;
	if (s->cs_have_result)
		return claude_judge_result(s, reply, cls, message);
	if (exit_code == 0)
		return claude_fail(cls, "LLM_PROTOCOL_ERROR", RETRY_RETRYABLE_ONCE, message,
				   xstrdup("the claude CLI exited with status 0 without a result line"));
	if (term_signal > 0)
		snprintf(how, sizeof(how), "was killed by signal %d", term_signal);
	else
		snprintf(how, sizeof(how), "exited with status %d", exit_code);
	/* The end of stderr says why: its last part, from a character boundary. */
	while (len > 0 && isspace((unsigned char)tail[len - 1]))
		len--;
	start = len > CLAUDE_STDERR_SHOWN ? len - CLAUDE_STDERR_SHOWN : 0;
	while (start < len && ((unsigned char)tail[start] & 0xc0) == 0x80)
		start++;
	cut = xstrndup(tail + start, len - start);
	prefix = xasprintf("the claude CLI %s without a result line", how);
	text = claude_words(prefix, cut);
	free(prefix);
	free(cut);
	return claude_fail(cls, "LLM_PROVIDER_UNAVAILABLE", RETRY_RETRYABLE, message, text);
}

char *provider_claude_summary(const struct provider_claude_stream *s)
{
	struct dbuf b;

	dbuf_init(&b, 1024);
	dbuf_printf(&b, "claude_code session %s: ", s->cs_session_id != NULL ? s->cs_session_id : "(none)");
	if (s->cs_have_result)
		dbuf_printf(&b, "%s%s, %lld turn(s)", s->cs_subtype != NULL ? s->cs_subtype : "result",
			    s->cs_is_error ? " (is_error)" : "", (long long)s->cs_num_turns);
	else
		dbuf_printf(&b, "no result after %d line(s)", s->cs_lines);
	dbuf_printf(&b, ", %d tool use(s)", s->cs_tool_uses);
	for (int i = 0; i < PROVIDER_CLAUDE_TOOL_KINDS && s->cs_tools[i].tk_count > 0; i++)
		dbuf_printf(&b, "%s%s %d", i == 0 ? ": " : ", ", s->cs_tools[i].tk_name, s->cs_tools[i].tk_count);
	if (s->cs_have_cost)
		dbuf_printf(&b, "; cost $%lld.%06lld", (long long)(s->cs_cost_micros / 1000000),
			    (long long)(s->cs_cost_micros % 1000000));
	return dbuf_take(&b);
}
