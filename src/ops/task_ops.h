/*
 * Operations on tasks, runs and inbox items that more than one service runs
 * inside its write transaction (TaskService, ToolService, InboxService).
 * Each one checks the domain rule, changes the rows and writes the event
 * that describes the change in the same transaction (docs/events.md), so a
 * caller never has to remember which event goes with which change.
 *
 * All of them run on the writer thread (inside a store_write function) and
 * allocate from the context's arena.
 */
#ifndef BBB_TASK_OPS_H
#define BBB_TASK_OPS_H

#include "store/db.h"

#include "beebeebrain/v1/common.pb-c.h"
#include "common/arena.h"
#include "domain/run_rules.h"
#include "domain/task_state.h"
#include <beebeebrain/status.h>

struct taskop_ctx {
	struct db *o_db;
	struct arena *o_arena;
	const char *o_trace_id;
	const char *o_actor; /* who asked: the request's actor, "agent", a resolver */
	/* The call timeout stored on a run that asks for none: the server's
	 * configured default (1..RUN_MAX_TIMEOUT_S); needed by taskop_queue_run. */
	int o_run_timeout_s;
};

/* Project id 0 means the project named "default": resolves it, or checks that
 * a given id exists (PROJECT_NOT_FOUND). A violation on project_id when 0 is
 * given and there is no "default". Works on any connection. */
int taskop_resolve_project(struct db *db, int64_t *project_id, bbb_status *st);

/* Moves t to `to` if the task state machine allows it (INVALID_TASK_TRANSITION
 * otherwise), saves it (version + 1) and writes task.status.changed. Moving to
 * the state it is in is a no-op that writes nothing. A task that becomes
 * cancelled has its active runs cancelled too. */
int taskop_set_status(const struct taskop_ctx *c, Beebeebrain__V1__Task *t, task_status to, bbb_status *st);

/* An operator command (pause, resume, retry, cancel) on one task, with its
 * task.intervention.audit event whether applied or refused. A refusal (task
 * not found, TASK_VERSION_CONFLICT when expected_version is not 0 and differs,
 * INVALID_TASK_COMMAND, INVALID_TASK_TRANSITION) is reported in *refusal and
 * the function still returns 0, so that the audit commits; -1 (with *st) only
 * when the transaction must roll back. *out is the task after the command
 * (NULL when it does not exist). project_id other than 0 refuses a task of
 * another project as TASK_NOT_FOUND. *from (when not NULL) is its status
 * before the command (unspecified when it does not exist). */
int taskop_command(const struct taskop_ctx *c, task_command cmd, int64_t task_id, int64_t expected_version,
		   int64_t project_id, Beebeebrain__V1__Task **out, task_status *from_out, bbb_status *refusal,
		   bbb_status *st);

/* Moves run r to `to` if the run state machine allows it, stamps ended_at on
 * a final state, saves it and writes run.status.changed. */
int taskop_run_set_status(const struct taskop_ctx *c, int64_t project_id, Beebeebrain__V1__TaskRun *r, run_status to,
			  const char *error_code, const char *error_message, bbb_status *st);

/* Cancels every active run of the task (error_code names why). */
int taskop_cancel_active_runs(const struct taskop_ctx *c, const Beebeebrain__V1__Task *t, const char *error_code,
			      bbb_status *st);

/* RunTask: returns the run holding rq's idempotency key when it is one of
 * this task's, else queues a new run (attempt = next ordinal; provider and
 * model from rq or the assignee agent) with run.status.changed and moves the
 * task to running. TASK_NOT_FOUND, IDEMPOTENCY_KEY_CONFLICT,
 * TASK_RUN_ALREADY_ACTIVE, INVALID_TASK_TRANSITION, or a violation on
 * provider. *task_out (may be NULL) gets the task after the call. */
int taskop_queue_run(const struct taskop_ctx *c, int64_t task_id, const struct run_request *rq,
		     Beebeebrain__V1__TaskRun **run_out, Beebeebrain__V1__Task **task_out, bbb_status *st);

/* Inserts an open inbox item and writes inbox.item.created. */
int taskop_inbox_create(const struct taskop_ctx *c, Beebeebrain__V1__InboxItem *it, bbb_status *st);
/* Closes an open item (resolver, user input) and writes inbox.item.closed. */
int taskop_inbox_close(const struct taskop_ctx *c, Beebeebrain__V1__InboxItem *it, const char *resolver,
		       const char *user_input, bbb_status *st);

#endif
