/* The reason -> code table, and bbb_status builders. docs/protocol.md (Errors)
 * lists the same reasons for users: keep the two in step. */
#include "common/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/redact.h"
#include "common/utf8.h"
#include "common/xalloc.h"

static const struct {
	const char *reason;
	int code;
} status_reasons[] = {
	{"PROJECT_NOT_FOUND", BBB_NOT_FOUND},
	{"AGENT_NOT_FOUND", BBB_NOT_FOUND},
	{"TASK_NOT_FOUND", BBB_NOT_FOUND},
	{"TASK_RUN_NOT_FOUND", BBB_NOT_FOUND},
	{"INBOX_ITEM_NOT_FOUND", BBB_NOT_FOUND},
	{"ALERT_NOT_FOUND", BBB_NOT_FOUND},
	{"ENDPOINT_NOT_FOUND", BBB_NOT_FOUND},
	{"VALIDATION_ERROR", BBB_INVALID_ARGUMENT},
	{"MALFORMED_REQUEST", BBB_INVALID_ARGUMENT},
	{"INVALID_ASSIGNEE", BBB_INVALID_ARGUMENT},
	{"INVALID_TASK_DEPENDENCY", BBB_INVALID_ARGUMENT},
	{"INVALID_LLM_PROVIDER", BBB_INVALID_ARGUMENT},
	{"USER_INPUT_REQUIRED", BBB_INVALID_ARGUMENT},
	{"INVALID_PAGE_TOKEN", BBB_INVALID_ARGUMENT},
	{"INVALID_TASK_TRANSITION", BBB_FAILED_PRECONDITION},
	{"INVALID_TASK_COMMAND", BBB_FAILED_PRECONDITION},
	{"TASK_HAS_DEPENDENTS", BBB_FAILED_PRECONDITION},
	{"DB_ENGINE_UNSUPPORTED", BBB_FAILED_PRECONDITION},
	{"INBOX_ITEM_ALREADY_CLOSED", BBB_FAILED_PRECONDITION},
	{"TASK_RUN_ALREADY_ACTIVE", BBB_FAILED_PRECONDITION},
	{"ALERT_ALREADY_RESOLVED", BBB_FAILED_PRECONDITION},
	{"SCHEMA_MISMATCH", BBB_FAILED_PRECONDITION},
	{"DB_IN_USE", BBB_FAILED_PRECONDITION},
	{"SCHEMA_HELD", BBB_FAILED_PRECONDITION},
	{"DB_READ_ONLY", BBB_FAILED_PRECONDITION},
	{"DB_CORRUPT", BBB_FAILED_PRECONDITION},
	{"LLM_PROVIDER_NOT_FOUND", BBB_FAILED_PRECONDITION}, /* a run's error: the claude_code CLI cannot be run */
	{"TASK_VERSION_CONFLICT", BBB_ABORTED},
	{"RESOURCE_CONFLICT", BBB_ALREADY_EXISTS},
	{"IDEMPOTENCY_KEY_CONFLICT", BBB_ALREADY_EXISTS},
	{"UNAUTHORIZED", BBB_UNAUTHENTICATED},
	{"FORBIDDEN", BBB_PERMISSION_DENIED},
	{"WORKSPACE_PATH_DENIED", BBB_PERMISSION_DENIED},
	{"WORKSPACE_PERMISSION_DENIED", BBB_PERMISSION_DENIED},
	{"DB_LOCKED", BBB_UNAVAILABLE},
	{"DB_UNAVAILABLE", BBB_UNAVAILABLE},
	{"LLM_PROVIDER_UNAVAILABLE", BBB_UNAVAILABLE},
	{"SHUTTING_DOWN", BBB_UNAVAILABLE},
	{"MESSAGE_TOO_LARGE", BBB_RESOURCE_EXHAUSTED},
	/* A run's error (never an RPC's): the model's answer hit the output limit
	 * on the run's last turn. */
	{"LLM_OUTPUT_TRUNCATED", BBB_RESOURCE_EXHAUSTED},
	{"OVERLOADED", BBB_RESOURCE_EXHAUSTED},
	{"DISK_FULL", BBB_RESOURCE_EXHAUSTED},
	{"EVENTS_PRUNED", BBB_OUT_OF_RANGE},
	{"DEADLINE_EXCEEDED", BBB_DEADLINE_EXCEEDED},
	{"UNKNOWN_METHOD", BBB_UNIMPLEMENTED},
	{"STREAMING_NOT_SUPPORTED", BBB_UNIMPLEMENTED}, /* a streaming method over nng */
	{"INTERNAL_ERROR", BBB_INTERNAL},
	{"LLM_PROVIDER_ERROR", BBB_INTERNAL}, /* a run's error: the provider reported one of its own */
	{"BACKUP_FAILED", BBB_INTERNAL},
};

void status_clear(bbb_status *st)
{
	st->code = BBB_OK;
	st->reason[0] = '\0';
	st->message[0] = '\0';
	st->n_violations = 0;
}

int status_code_of_reason(const char *reason)
{
	for (size_t i = 0; i < sizeof(status_reasons) / sizeof(status_reasons[0]); i++)
		if (strcmp(status_reasons[i].reason, reason) == 0)
			return status_reasons[i].code;
	return BBB_INTERNAL;
}

/* Formats into dst[cap]: redacted first (a message may quote hostile text:
 * a provider's answer, a client's value), then cut on a UTF-8 boundary. */
__attribute__((format(printf, 3, 0))) static void status_format(char *dst, size_t cap, const char *fmt, va_list ap)
{
	char *full = xvasprintf(fmt, ap), *text = redact_dup(full);
	size_t n = utf8_cut(text, strnlen(text, cap - 1));

	memcpy(dst, text, n);
	dst[n] = '\0';
	free(text);
	free(full);
}

int status_fail(bbb_status *st, const char *reason, const char *fmt, ...)
{
	va_list ap;

	st->code = status_code_of_reason(reason);
	st->n_violations = 0; /* one reason per status: violations belong to VALIDATION_ERROR */
	snprintf(st->reason, sizeof(st->reason), "%s", reason);
	va_start(ap, fmt);
	status_format(st->message, sizeof(st->message), fmt, ap);
	va_end(ap);
	return -1;
}

int status_violation(bbb_status *st, const char *field, const char *fmt, ...)
{
	va_list ap;
	struct bbb_violation *v;

	if (st->n_violations < BBB_MAX_VIOLATIONS) {
		v = &st->violations[st->n_violations++];
		snprintf(v->field, sizeof(v->field), "%s", field);
		utf8_trim(v->field);
		va_start(ap, fmt);
		status_format(v->description, sizeof(v->description), fmt, ap);
		va_end(ap);
	}
	st->code = BBB_INVALID_ARGUMENT;
	snprintf(st->reason, sizeof(st->reason), "VALIDATION_ERROR");
	snprintf(st->message, sizeof(st->message), "invalid request: %d field(s): %s%s", st->n_violations,
		 st->violations[0].field, st->n_violations > 1 ? ", ..." : "");
	return -1;
}
