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

/* A copy of a string member, redacted; other values as they are. */
static json_t *log_field_value(json_t *v)
{
	char *r;
	json_t *out;

	if (!json_is_string(v))
		return json_incref(v);
	r = redact_dup(json_string_value(v));
	out = json_string(r); /* the value was UTF-8, and redaction keeps it so */
	free(r);
	return out != NULL ? out : json_string("?");
}

static int log_standard_key(const char *key)
{
	static const char *const keys[] = {"ts", "level", "logger", "msg", "trace_id", "task_id", "run_id"};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(key, keys[i]) == 0)
			return 1;
	return 0;
}

/* The extra members in text form: " key=value" each (strings redacted). */
static char *log_fields_text(json_t *fields)
{
	const char *key;
	json_t *v;
	char *out = xstrdup("");

	json_object_foreach(fields, key, v)
	{
		json_t *r = log_field_value(v);
		char *val = json_is_string(r) ? xstrdup(json_string_value(r)) : json_dumps(r, JSON_ENCODE_ANY);
		char *next = xasprintf("%s %s=%s", out, key, val != NULL ? val : "?");

		free(val);
		json_decref(r);
		free(out);
		out = next;
	}
	return out;
}

static void log_write(enum log_level level, const char *logger, const struct log_ctx *ctx, json_t *fields,
		      const char *fmt, va_list ap)
{
	char ts[40];
	char *full, *msg, *line;

	full = xvasprintf(fmt, ap);
	/* Redact the whole text before cutting it: a secret cut in half would
	 * no longer match its configured value. */
	msg = redact_dup(full);
	free(full);
	msg[utf8_cut(msg, strnlen(msg, LOG_MSG_MAX))] = '\0';
	clock_format_rfc3339(clock_now_ms(), ts, sizeof(ts));

	if (log_text) {
		char *extra = fields != NULL ? log_fields_text(fields) : xstrdup("");
		line = xasprintf("%s %-7s %s: %s%s\n", ts, log_level_names[level], logger, msg, extra);
		free(extra);
	} else {
		json_t *o = json_object();
		const char *key;
		json_t *v;
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
		if (fields != NULL)
			json_object_foreach(fields, key, v)
			{
				if (!log_standard_key(key))
					json_object_set_new(o, key, log_field_value(v));
			}
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

void log_at(enum log_level level, const char *logger, const struct log_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	if (level < log_min)
		return;
	va_start(ap, fmt);
	log_write(level, logger, ctx, NULL, fmt, ap);
	va_end(ap);
}

void log_fields_at(enum log_level level, const char *logger, const struct log_ctx *ctx, struct json_t *fields,
		   const char *fmt, ...)
{
	va_list ap;

	if (level >= log_min) {
		va_start(ap, fmt);
		log_write(level, logger, ctx, fields, fmt, ap);
		va_end(ap);
	}
	json_decref(fields);
}
