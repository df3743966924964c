/*
 * bbb_code_name (include/beebeebrain/status.h): the public name of a
 * canonical code. In bbb_base, apart from status.c's reason table, because
 * the client library exports it and links nothing else of common.
 */
#include <beebeebrain/status.h>

static const char *const status_code_names[] = {
	[BBB_OK] = "OK",
	[BBB_CANCELLED] = "CANCELLED",
	[BBB_UNKNOWN] = "UNKNOWN",
	[BBB_INVALID_ARGUMENT] = "INVALID_ARGUMENT",
	[BBB_DEADLINE_EXCEEDED] = "DEADLINE_EXCEEDED",
	[BBB_NOT_FOUND] = "NOT_FOUND",
	[BBB_ALREADY_EXISTS] = "ALREADY_EXISTS",
	[BBB_PERMISSION_DENIED] = "PERMISSION_DENIED",
	[BBB_RESOURCE_EXHAUSTED] = "RESOURCE_EXHAUSTED",
	[BBB_FAILED_PRECONDITION] = "FAILED_PRECONDITION",
	[BBB_ABORTED] = "ABORTED",
	[BBB_OUT_OF_RANGE] = "OUT_OF_RANGE",
	[BBB_UNIMPLEMENTED] = "UNIMPLEMENTED",
	[BBB_INTERNAL] = "INTERNAL",
	[BBB_UNAVAILABLE] = "UNAVAILABLE",
	[15] = "DATA_LOSS", /* canonical, though no reason of ours uses it */
	[BBB_UNAUTHENTICATED] = "UNAUTHENTICATED",
};

const char *bbb_code_name(int code)
{
	size_t n = sizeof(status_code_names) / sizeof(status_code_names[0]);

	if (code < 0 || (size_t)code >= n)
		return "UNKNOWN";
	return status_code_names[code];
}
