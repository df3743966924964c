/*
 * The security audit trail (docs/security.md): security.audit.allowed and
 * security.audit.denied events, payload SecurityAudit.
 *
 * Allowed: one event per mutating call that succeeded. A call that changes
 * rows appends it with emit_security_audit_allowed (events/emit.h) inside its
 * own write transaction (the services' write path, services/audit.c), so the
 * change and its audit commit or roll back together. A call that changes no row (Backup, InjectFault)
 * hands its row to the audit_trail, whose job writes it (on the thread it
 * shares with event retention, common/job_thread.h).
 *
 * Denied: refused calls are counted by the audit_trail (domain/audit_window.h
 * decides what falls due) and written by its job: the first refusal of a
 * (peer host, reason) promptly, the rest of its window as one row with a
 * count. A flood of refused calls costs a few rows, and no reply waits for
 * the database. Rows the database refused (DB_LOCKED) are tried again.
 */
#ifndef BBB_AUDIT_H
#define BBB_AUDIT_H

#include "store/db.h"
#include <stdint.h>

#include <beebeebrain/status.h>

struct store;
struct job_thread;

#define AUDIT_DENIAL_WINDOW_MS (60 * 1000)

/* One audit row. */
struct audit_entry {
	const char *ae_actor;
	const char *ae_action; /* "TaskService/PauseTask" */
	const char *ae_resource; /* "task/12" */
	const char *ae_reason;
	const char *ae_peer;
	int64_t ae_count;
	int64_t ae_first_at_ms;
	int64_t ae_last_at_ms;
	const char *ae_trace_id;
};

/* The short form of a full method name: "/beebeebrain.v1.TaskService/PauseTask"
 * -> "TaskService/PauseTask" (a pointer into `method`). */
const char *audit_action(const char *method);

struct audit_trail;

/* Adds the job that writes to s to jt (which must outlive the trail);
 * window_ms 0 is the default. */
int audit_trail_start(struct audit_trail **out, struct store *s, int64_t window_ms, struct job_thread *jt,
		      bbb_status *st);
/* Counts one refused call (any thread; does not wait for the database). peer
 * is the address as the transport gives it; refusal names the reason. */
void audit_trail_denied(struct audit_trail *at, const char *method, const char *peer, const bbb_status *refusal);
/* Queues a row (copied) for the job to write soon (any thread). */
void audit_trail_post(struct audit_trail *at, int allowed, const struct audit_entry *e);
/* Takes the job off its thread and writes every row and count still pending
 * on the calling thread. Call it
 * once no call can come any more, before the store closes. NULL is allowed. */
void audit_trail_stop(struct audit_trail *at);

#endif
