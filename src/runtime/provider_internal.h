/*
 * Helpers shared by provider.c and the provider_<name>.c files; not for use
 * outside src/runtime/provider*.c. Memory: malloc/free throughout; jansson
 * values follow jansson's reference rules (_new setters steal the value).
 */
#ifndef BBB_PROVIDER_INTERNAL_H
#define BBB_PROVIDER_INTERNAL_H

#include <jansson.h>

#include "common/status.h"
#include "runtime/provider.h"

/* A malloc'd copy made valid UTF-8 (utf8_repair); NULL becomes "". */
char *provider_strdup(const char *s);
/* INTERNAL_ERROR: jansson could not encode a request. Returns -1. */
int provider_json_error(bbb_status *st);
/* LLM_PROTOCOL_ERROR with a message. Returns -1. */
#define provider_protocol_error(st, ...) status_fail((st), "LLM_PROTOCOL_ERROR", __VA_ARGS__)

/* 1 when s is NULL, "" or only ASCII whitespace (what the Anthropic API calls
 * a text block without non-whitespace text). */
int provider_text_blank(const char *s);

/* Checks what every provider needs: a model, a conversation with a message,
 * known tool names. VALIDATION_ERROR otherwise. */
int provider_check_request(const struct provider_request *req, bbb_status *st);

/* obj[key] = v (stolen); sets *err on failure (v NULL included). */
void provider_jset(json_t *obj, const char *key, json_t *v, int *err);
/* arr += v (stolen); sets *err on failure. */
void provider_jpush(json_t *arr, json_t *v, int *err);
/* The tool's schema as a new JSON object. */
json_t *provider_tool_schema(const struct provider_tool *t);
/* Tool-call arguments text as a JSON object: the parsed object, or {} when the
 * text is not one. */
json_t *provider_arguments_object(const char *text);

/* base (trailing '/' dropped) + path into r->hr_url. */
int provider_set_url(struct provider_http_request *r, const char *base, const char *path, bbb_status *st);
/* Appends one "Name: value" header. */
int provider_add_header(struct provider_http_request *r, bbb_status *st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Dumps root (compact) into r->hr_body. Does not take the reference. */
int provider_set_body(struct provider_http_request *r, const json_t *root, bbb_status *st);

/* Resolution of an endpoint member: the value when set (neither NULL nor ""), else dflt. */
const char *provider_pick(const char *value, const char *dflt);

/* Appends text to r->r_text. */
int provider_reply_append_text(struct provider_reply *r, const char *text, bbb_status *st);
/* Appends a tool call (strings copied). */
int provider_reply_add_call(struct provider_reply *r, const char *id, const char *name, const char *arguments,
			    bbb_status *st);
/* Sets r_text/r_stop_reason/r_model to "" where still NULL (a parsed reply
 * never has NULL strings). */
int provider_reply_finish(struct provider_reply *r, bbb_status *st);
/* A count (tokens) from a JSON integer member: 0 when absent, not an
 * integer or negative. */
int64_t provider_jcount(const json_t *obj, const char *key);
/* a + b for counts (>= 0), INT64_MAX when the sum does not fit. */
int64_t provider_count_add(int64_t a, int64_t b);
/* Sets the token counts of r (each >= 0): the cache counts are cut so that
 * together they are never more than tokens_in, whatever the reply said. */
void provider_reply_set_usage(struct provider_reply *r, int64_t tokens_in, int64_t tokens_out, int64_t cache_read,
			      int64_t cache_write);
/* A JSON string member, or NULL. */
const char *provider_jstr(const json_t *obj, const char *key);

#endif
