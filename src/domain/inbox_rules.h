/*
 * Inbox rules (docs/protocol.md, Services): when an item may be closed, and what closing
 * it does to the task it is about. Pure.
 *
 *   await_user_input  needs user_input; when its task is blocked, the input
 *                     goes to a new run of the task (blocked -> running)
 *   task_completed    when its task is in review, the task becomes done
 *   others            closing only records who closed it and when
 */
#ifndef BBB_INBOX_RULES_H
#define BBB_INBOX_RULES_H

#include <beebeebrain/status.h>

#include "beebeebrain/v1/common.pb-c.h"
#include "domain/task_state.h"

typedef Beebeebrain__V1__InboxItemType inbox_item_type;
typedef Beebeebrain__V1__InboxStatus inbox_status;
typedef Beebeebrain__V1__SourceType inbox_source;

/* FAILED_PRECONDITION INBOX_ITEM_ALREADY_CLOSED for a closed item;
 * INVALID_ARGUMENT USER_INPUT_REQUIRED for an await_user_input item closed
 * without input (blank counts as none). */
int inbox_close_check(inbox_item_type type, inbox_status status, const char *user_input, bbb_status *st);

enum inbox_close_effect {
	INBOX_CLOSE_ONLY,
	INBOX_CLOSE_INPUT_TO_RUN, /* queue a run of the task with the input */
	INBOX_CLOSE_TASK_DONE, /* review -> done */
};

/* The effect of closing an item of `type` raised by `source` about a task
 * now in `task` (0 when the item is not about a task). */
enum inbox_close_effect inbox_close_effect(inbox_item_type type, inbox_source source, task_status task);

#endif
