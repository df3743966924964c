/*
 * Building bbb_status values inside the server. A failure is named by its
 * stable reason (docs/protocol.md, Errors); the canonical code follows from the reason,
 * so no call site can pair a reason with the wrong code.
 */
#ifndef BBB_STATUS_H
#define BBB_STATUS_H

#include <beebeebrain/status.h>

void status_clear(bbb_status *st);
/* Canonical code of a reason of status.c's table; BBB_INTERNAL for unknown ones. */
int status_code_of_reason(const char *reason);
/* Sets reason, its code and a formatted message (dropping any violations
 * collected before: a status has one reason). Returns -1, so that
 * `return status_fail(st, "TASK_NOT_FOUND", "task %lld", id);` reads well. */
int status_fail(bbb_status *st, const char *reason, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Adds a field violation and makes the status INVALID_ARGUMENT VALIDATION_ERROR
 * ("invalid request: N field(s)"). Returns -1. */
int status_violation(bbb_status *st, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
