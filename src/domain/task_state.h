/*
 * The task and run state machines (docs/protocol.md, Task states and Run
 * states), as tables. Pure: no I/O.
 *
 * Task:  todo -> running|blocked|cancelled; running -> review|blocked|failed|cancelled;
 *        review -> running|done|blocked|failed|cancelled; blocked -> todo|running|cancelled;
 *        failed -> todo|running|cancelled; cancelled -> todo; done is final. Same state: no-op.
 * Commands: pause running->blocked, resume blocked->running, retry failed|cancelled->todo,
 *        cancel todo|running|review|blocked|failed -> cancelled.
 * Run:   queued -> running|cancelled; running -> succeeded|failed|retry_scheduled|interrupted|cancelled;
 *        retry_scheduled -> running|cancelled; interrupted -> running|failed|cancelled;
 *        succeeded, failed, cancelled are final.
 */
#ifndef BBB_TASK_STATE_H
#define BBB_TASK_STATE_H

#include <beebeebrain/status.h>

#include "beebeebrain/v1/common.pb-c.h"

typedef Beebeebrain__V1__TaskStatus task_status;
typedef Beebeebrain__V1__RunStatus run_status;
typedef Beebeebrain__V1__TaskCommand task_command;

/* 1 when from -> to is an edge of the task machine or from == to (a no-op). */
int task_transition_allowed(task_status from, task_status to);
/* Checks from -> to; FAILED_PRECONDITION INVALID_TASK_TRANSITION naming both. */
int task_transition_check(task_status from, task_status to, bbb_status *st);
/* The state a command moves a task in `from` to. INVALID_TASK_COMMAND for an
 * unknown command, INVALID_TASK_TRANSITION when `from` is not a source of it. */
int task_command_target(task_command cmd, task_status from, task_status *to, bbb_status *st);
/* Short names: "todo", "pause", "queued". */
const char *task_status_name(task_status s);
const char *task_command_name(task_command c);
const char *run_status_name(run_status s);

int run_transition_allowed(run_status from, run_status to);
int run_transition_check(run_status from, run_status to, bbb_status *st);
/* queued, running, retry_scheduled, interrupted. */
int run_is_active(run_status s);
/* succeeded, failed, cancelled. */
int run_is_final(run_status s);
/* The task status a run outcome leads to: succeeded->review, failed->failed,
 * cancelled->cancelled, interrupted->blocked; 0 (unspecified) otherwise. */
task_status task_status_after_run(run_status outcome);

#endif
