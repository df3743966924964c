/* Structured logging to stderr (JSON lines by default), with redaction. */
#include "common/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/redact.h"
#include "common/utf8.h"
#include "common/xalloc.h"

static enum log_level log_min = LOG_INFO;
static int log_text;

/* A message longer than this is cut (after redaction). */
#define LOG_MSG_MAX 2047

static const char *const log_level_names[] = {"debug", "info", "warning", "error"};

void log_configure(enum log_level min, int text)
{
	log_min = min;
	log_text = text;
}

void log_at(enum log_level level, const char *logger, const struct log_ctx *ctx, const char *fmt, ...)
{
	char ts[40];
	char *full, *msg, *line;
	va_list ap;

	if (level < log_min)
		return;
	va_start(ap, fmt);
	full = xvasprintf(fmt, ap);
	va_end(ap);
	/* Redact the whole text before cutting it: a secret cut in half would
	 * no longer match its configured value. */
	msg = redact_dup(full);
	free(full);
	msg[utf8_cut(msg, strnlen(msg, LOG_MSG_MAX))] = '\0';
	clock_format_rfc3339(clock_now_ms(), ts, sizeof(ts));

	if (log_text) {
		line = xasprintf("%s %-7s %s: %s\n", ts, log_level_names[level], logger, msg);
	} else {
		json_t *o = json_object();
		json_object_set_new(o, "ts", json_string(ts));
		json_object_set_new(o, "level", json_string(log_level_names[level]));
		json_object_set_new(o, "logger", json_string(logger));
		json_object_set_new(o, "msg", json_string(msg));
		if (ctx != NULL && ctx->trace_id != NULL && ctx->trace_id[0] != '\0')
			json_object_set_new(o, "trace_id", json_string(ctx->trace_id));
		if (ctx != NULL && ctx->task_id > 0)
			json_object_set_new(o, "task_id", json_integer(ctx->task_id));
		if (ctx != NULL && ctx->run_id > 0)
			json_object_set_new(o, "run_id", json_integer(ctx->run_id));
		char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(o);
		if (s == NULL) {
			free(msg);
			return;
		}
		line = xasprintf("%s\n", s);
		free(s);
	}
	free(msg);
	if (write(STDERR_FILENO, line, strlen(line)) < 0) {
		/* Nowhere left to report a failed log write. */
	}
	free(line);
}
