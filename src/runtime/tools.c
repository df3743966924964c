/*
 * The agent's tools (contract in tools.h): one table, one handler per tool.
 */
#include "runtime/tools.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "beebeebrain/v1/log.pb-c.h"
#include "common/dbuf.h"
#include "common/status.h"
#include "common/utf8.h"
#include "common/xalloc.h"
#include "workspace/gateway.h"

#define TOOL_FILE_RESULT_MAX (64 * 1024) /* a file, listing or search the model reads */
#define TOOL_NOTE_RESULT_MAX 1024 /* "finished", "wrote N bytes to PATH" */

/* What a handler works with. */
struct tool_ctx {
	const struct tool_run *tc_run;
	json_t *tc_args; /* a JSON object */
	struct gateway *tc_gw; /* the workspace; NULL unless the tool needs it */
	struct tool_effects *tc_fx;
	bbb_status tc_st; /* why a gateway operation failed */
};

/* Writes the result into out; 0, or -1 when the tool failed (out says why). */
typedef int (*tool_handler)(struct tool_ctx *c, struct dbuf *out);

struct tool_def {
	const char *td_name;
	tool_handler td_run;
	int td_needs_gateway;
	size_t td_result_max;
};

static const char *tool_str(const struct tool_ctx *c, const char *key)
{
	json_t *v = json_object_get(c->tc_args, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The "path" argument; dflt when absent or empty. */
static const char *tool_path(const struct tool_ctx *c, const char *dflt)
{
	const char *p = tool_str(c, "path");

	return p != NULL && p[0] != '\0' ? p : dflt;
}

static int tool_gateway_failed(struct tool_ctx *c, struct dbuf *out)
{
	dbuf_printf(out, "%s: %s", c->tc_st.reason, c->tc_st.message);
	return -1;
}

static int tool_read_file(struct tool_ctx *c, struct dbuf *out)
{
	char *data = NULL;
	size_t len = 0;

	if (gateway_read_file(c->tc_gw, tool_path(c, ""), &data, &len, &c->tc_st) != 0)
		return tool_gateway_failed(c, out);
	dbuf_add(out, data, len);
	free(data);
	return 0;
}

static int tool_write_file(struct tool_ctx *c, struct dbuf *out)
{
	const char *path = tool_path(c, ""), *content = tool_str(c, "content");
	size_t len = content != NULL ? strlen(content) : 0;

	if (gateway_write_file(c->tc_gw, path, content != NULL ? content : "", len, &c->tc_st) != 0)
		return tool_gateway_failed(c, out);
	dbuf_printf(out, "wrote %zu bytes to %s", len, path);
	return 0;
}

static int tool_list_path(struct tool_ctx *c, struct dbuf *out)
{
	struct gateway_listing l;

	if (gateway_list(c->tc_gw, tool_path(c, "."), &l, &c->tc_st) != 0)
		return tool_gateway_failed(c, out);
	for (size_t i = 0; i < l.gl_n; i++) {
		const struct gateway_entry *e = &l.gl_entries[i];
		if (dbuf_printf(out, "%s%s\t%lld\n", e->ge_name, e->ge_kind == GATEWAY_KIND_DIR ? "/" : "",
				(long long)e->ge_size) != 0)
			break;
	}
	if (l.gl_n == 0)
		dbuf_addstr(out, "(empty)\n");
	gateway_listing_free(&l);
	return 0;
}

static int tool_search_files(struct tool_ctx *c, struct dbuf *out)
{
	struct gateway_search_result sr;
	const char *query = tool_str(c, "query");

	if (gateway_search(c->tc_gw, tool_path(c, "."), query != NULL ? query : "", 50, &sr, &c->tc_st) != 0)
		return tool_gateway_failed(c, out);
	for (size_t i = 0; i < sr.gs_n; i++) {
		const struct gateway_match *m = &sr.gs_matches[i];
		if (dbuf_printf(out, "%s:%d: %s\n", m->gm_path, m->gm_line, m->gm_text) != 0)
			break;
	}
	if (sr.gs_n == 0)
		dbuf_addstr(out, "no matches\n");
	gateway_search_free(&sr);
	return 0;
}

static int tool_log_level(const char *level)
{
	if (level != NULL && strcmp(level, "debug") == 0)
		return BEEBEEBRAIN__V1__LOG_LEVEL__LOG_LEVEL_DEBUG;
	if (level != NULL && strcmp(level, "warning") == 0)
		return BEEBEEBRAIN__V1__LOG_LEVEL__LOG_LEVEL_WARNING;
	if (level != NULL && strcmp(level, "error") == 0)
		return BEEBEEBRAIN__V1__LOG_LEVEL__LOG_LEVEL_ERROR;
	return BEEBEEBRAIN__V1__LOG_LEVEL__LOG_LEVEL_INFO;
}

static int tool_append_log(struct tool_ctx *c, struct dbuf *out)
{
	const char *msg = tool_str(c, "message");
	struct tool_effects *fx = c->tc_fx;

	if (msg == NULL || msg[0] == '\0') {
		dbuf_addstr(out, "message is required");
		return -1;
	}
	if (fx->te_n_logs >= TOOLS_MAX_LOGS) {
		dbuf_addstr(out, "too many log lines");
		return -1;
	}
	fx->te_logs[fx->te_n_logs].tl_level = tool_log_level(tool_str(c, "level"));
	fx->te_logs[fx->te_n_logs++].tl_message = xstrndup(msg, utf8_cut(msg, strnlen(msg, TOOLS_LOG_MAX)));
	dbuf_addstr(out, "logged");
	return 0;
}

static int tool_request_input(struct tool_ctx *c, struct dbuf *out)
{
	const char *title = tool_str(c, "title"), *content = tool_str(c, "content");

	c->tc_fx->te_end = RUN_TOOLS_INPUT_REQUESTED;
	c->tc_fx->te_input_title = xstrndup(title != NULL && title[0] ? title : "Input needed", 160);
	c->tc_fx->te_input_content = xstrdup(content != NULL ? content : "");
	dbuf_addstr(out, "waiting for the operator's input");
	return 0;
}

static int tool_finish_task(struct tool_ctx *c, struct dbuf *out)
{
	const char *summary = tool_str(c, "summary");

	c->tc_fx->te_end = RUN_TOOLS_FINISHED;
	c->tc_fx->te_output = xstrdup(summary != NULL ? summary : "");
	dbuf_addstr(out, "finished");
	return 0;
}

/* The tool set (docs/runtime.md, the agent loop), in the order provider.c offers it. */
static const struct tool_def tool_table[] = {
	{"read_file", tool_read_file, 1, TOOL_FILE_RESULT_MAX},
	{"list_path", tool_list_path, 1, TOOL_FILE_RESULT_MAX},
	{"search_files", tool_search_files, 1, TOOL_FILE_RESULT_MAX},
	{"write_file", tool_write_file, 1, TOOL_NOTE_RESULT_MAX},
	{"append_log", tool_append_log, 0, TOOL_NOTE_RESULT_MAX},
	{"request_input", tool_request_input, 0, TOOL_NOTE_RESULT_MAX},
	{"finish_task", tool_finish_task, 0, TOOL_NOTE_RESULT_MAX},
};

#define TOOL_COUNT (sizeof(tool_table) / sizeof(tool_table[0]))
_Static_assert(TOOL_COUNT == TOOLS_COUNT, "TOOLS_COUNT must match the table");

size_t tools_names(const char **out, size_t max)
{
	size_t n = 0;

	for (; n < TOOL_COUNT && n < max; n++)
		out[n] = tool_table[n].td_name;
	return n;
}

static const struct tool_def *tool_find(const char *name)
{
	for (size_t i = 0; i < TOOL_COUNT; i++)
		if (name != NULL && strcmp(tool_table[i].td_name, name) == 0)
			return &tool_table[i];
	return NULL;
}

static int tool_enabled(const struct tool_run *run, const char *name)
{
	if (run->tr_n_enabled == 0)
		return 1;
	for (size_t i = 0; i < run->tr_n_enabled; i++)
		if (strcmp(run->tr_enabled[i], name) == 0)
			return 1;
	return 0;
}

/* Finds, checks and runs the tool; 0, or -1 with the reason in out. */
static int tool_dispatch(struct tool_ctx *c, const struct provider_tool_call *call, const struct tool_def *t,
			 struct dbuf *out)
{
	int rc;

	if (c->tc_args == NULL || !json_is_object(c->tc_args)) {
		dbuf_addstr(out, "arguments must be a JSON object");
		return -1;
	}
	if (t == NULL) {
		dbuf_printf(out, "unknown tool %.100s", call->tc_name != NULL ? call->tc_name : "");
		return -1;
	}
	if (!tool_enabled(c->tc_run, t->td_name)) {
		dbuf_printf(out, "tool %s is not enabled for this agent", t->td_name);
		return -1;
	}
	if (t->td_needs_gateway && gateway_open(c->tc_run->tr_root, NULL, &c->tc_gw, &c->tc_st) != 0) {
		dbuf_printf(out, "workspace unavailable: %s", c->tc_st.message);
		return -1;
	}
	rc = t->td_run(c, out);
	gateway_close(c->tc_gw);
	c->tc_gw = NULL;
	return rc;
}

char *tools_call(const struct tool_run *run, const struct provider_tool_call *call, struct tool_effects *fx,
		 int *is_error)
{
	const struct tool_def *t = tool_find(call->tc_name);
	struct tool_ctx c = {.tc_run = run, .tc_fx = fx};
	struct dbuf out;

	status_clear(&c.tc_st);
	dbuf_init(&out, t != NULL ? t->td_result_max : TOOL_NOTE_RESULT_MAX);
	c.tc_args = json_loads(call->tc_arguments != NULL ? call->tc_arguments : "{}", 0, NULL);
	*is_error = tool_dispatch(&c, call, t, &out) != 0;
	if (*is_error && strcmp(c.tc_st.reason, "WORKSPACE_PERMISSION_DENIED") == 0 &&
	    fx->te_end == RUN_TOOLS_CONTINUE) {
		/* The operator must fix it (docs/security.md); the run ends here. */
		fx->te_end = RUN_TOOLS_PERMISSION_DENIED;
		fx->te_denied_path = xstrdup(tool_path(&c, ""));
		fx->te_denied_message = xstrdup(c.tc_st.message);
	}
	json_decref(c.tc_args);
	return dbuf_take_marked(&out);
}

void tool_effects_free(struct tool_effects *fx)
{
	free(fx->te_output);
	free(fx->te_input_title);
	free(fx->te_input_content);
	free(fx->te_denied_path);
	free(fx->te_denied_message);
	for (int i = 0; i < fx->te_n_logs; i++)
		free(fx->te_logs[i].tl_message);
	memset(fx, 0, sizeof(*fx));
}
