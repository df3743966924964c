/*
 * BeeBeeBrain: errors as values, shared by the client library and the server.
 *
 * A failed call is a bbb_status: the gRPC canonical code the wire carries,
 * a stable UPPER_SNAKE reason (branch on code and reason, never on the
 * message), a message for people, the trace id, and for VALIDATION_ERROR the
 * offending fields. This header has no other dependency, so code that only
 * reports errors does not pull in the generated client API.
 */
#ifndef BEEBEEBRAIN_STATUS_H
#define BEEBEEBRAIN_STATUS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* gRPC canonical codes used on the wire. */
enum bbb_code {
	BBB_OK = 0,
	BBB_CANCELLED = 1,
	BBB_UNKNOWN = 2,
	BBB_INVALID_ARGUMENT = 3,
	BBB_DEADLINE_EXCEEDED = 4,
	BBB_NOT_FOUND = 5,
	BBB_ALREADY_EXISTS = 6,
	BBB_PERMISSION_DENIED = 7,
	BBB_RESOURCE_EXHAUSTED = 8,
	BBB_FAILED_PRECONDITION = 9,
	BBB_ABORTED = 10,
	BBB_OUT_OF_RANGE = 11,
	BBB_UNIMPLEMENTED = 12,
	BBB_INTERNAL = 13,
	BBB_UNAVAILABLE = 14,
	BBB_UNAUTHENTICATED = 16,
};

#define BBB_MAX_VIOLATIONS 16

/* The largest request a server accepts: the packed RpcRequest envelope
 * (method, payload, api key, trace and request ids), 4 MiB. */
#define BBB_REQUEST_MAX_BYTES ((size_t)4 << 20)

struct bbb_violation {
	char field[64];
	char description[192];
};

/* An error as a value: fixed size, nothing to free. */
typedef struct bbb_status {
	int code; /* enum bbb_code */
	char reason[48]; /* UPPER_SNAKE, e.g. "TASK_NOT_FOUND" */
	char message[512];
	char trace_id[72];
	int n_violations;
	struct bbb_violation violations[BBB_MAX_VIOLATIONS];
} bbb_status;

/* Name of a canonical code ("NOT_FOUND"); "UNKNOWN" for others. */
const char *bbb_code_name(int code);

#ifdef __cplusplus
}
#endif

#endif
