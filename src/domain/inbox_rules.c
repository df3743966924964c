/* Inbox rules (see inbox_rules.h). */
#include "domain/inbox_rules.h"

#include "common/status.h"

#define I(x) BEEBEEBRAIN__V1__INBOX_ITEM_TYPE__INBOX_ITEM_TYPE_##x

static int inbox_blank(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return 0;
	return 1;
}

int inbox_close_check(inbox_item_type type, inbox_status status, const char *user_input, bbb_status *st)
{
	if (status == BEEBEEBRAIN__V1__INBOX_STATUS__INBOX_STATUS_CLOSED)
		return status_fail(st, "INBOX_ITEM_ALREADY_CLOSED", "the item is closed already");
	if (type == I(AWAIT_USER_INPUT) && inbox_blank(user_input))
		return status_fail(
			st, "USER_INPUT_REQUIRED",
			"user_input is required: an await_user_input item is closed with the input it asks for");
	return 0;
}

enum inbox_close_effect inbox_close_effect(inbox_item_type type, inbox_source source, task_status task)
{
	if (source != BEEBEEBRAIN__V1__SOURCE_TYPE__SOURCE_TYPE_TASK)
		return INBOX_CLOSE_ONLY;
	if (type == I(AWAIT_USER_INPUT) && task == BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_BLOCKED)
		return INBOX_CLOSE_INPUT_TO_RUN;
	if (type == I(TASK_COMPLETED) && task == BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_REVIEW)
		return INBOX_CLOSE_TASK_DONE;
	return INBOX_CLOSE_ONLY;
}
