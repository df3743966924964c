/*
 * Server logs: one JSON object per line on stderr
 *   {"ts":"...","level":"info","logger":"rpc","msg":"...","trace_id":"...","task_id":1,"run_id":2}
 * or a plain text line (log_configure). Messages are redacted before they are
 * written. Thread-safe: a line is written with one write(2).
 */
#ifndef BBB_LOG_H
#define BBB_LOG_H

#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERROR };

/* Sets the least severe level written (default LOG_INFO) and the format
 * (text 0: JSON, the default; 1: plain text), as the server's configuration
 * says. Call once at start, before any thread logs. */
void log_configure(enum log_level min, int text);

struct log_ctx {
	const char *trace_id;
	int64_t task_id;
	int64_t run_id;
};

void log_at(enum log_level level, const char *logger, const struct log_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* As log_at, with members of its own on the line: `fields` is a jansson
 * object (json_t *) whose members follow the standard ones in the JSON line
 * (a member named like one of them is dropped), or follow the message as
 * key=value in the text format. String members are redacted like the
 * message. The call takes the reference (json_decref); NULL: none. */
struct json_t;
void log_fields_at(enum log_level level, const char *logger, const struct log_ctx *ctx, struct json_t *fields,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define log_debug(logger, ...) log_at(LOG_DEBUG, logger, NULL, __VA_ARGS__)
#define log_info(logger, ...) log_at(LOG_INFO, logger, NULL, __VA_ARGS__)
#define log_warn(logger, ...) log_at(LOG_WARNING, logger, NULL, __VA_ARGS__)
#define log_error(logger, ...) log_at(LOG_ERROR, logger, NULL, __VA_ARGS__)

#endif
