/* BroadcastCommand rules (see broadcast.h). */
#include "domain/broadcast.h"

#include <string.h>

#include "common/status.h"

int broadcast_check(bbb_status *st, task_command cmd, int64_t *ids, int64_t *versions, size_t n_ids, size_t n_versions,
		    int32_t limit, size_t *n_out, int *limit_out)
{
	int bad = 0;
	size_t n = 0;

	if (cmd <= 0 || cmd > BEEBEEBRAIN__V1__TASK_COMMAND__TASK_COMMAND_CANCEL)
		bad = status_violation(st, "command", "must be pause, resume, retry or cancel");
	if (n_ids > BROADCAST_MAX)
		bad = status_violation(st, "task_ids", "at most %d tasks, got %zu", BROADCAST_MAX, n_ids);
	for (size_t i = 0; i < n_ids && i < BROADCAST_MAX + 1; i++)
		if (ids[i] < 1) {
			bad = status_violation(st, "task_ids", "entry %zu is not a task id: %lld", i,
					       (long long)ids[i]);
			break;
		}
	if (n_versions != 0 && n_versions != n_ids)
		bad = status_violation(st, "expected_versions", "must be empty or one per task id (%zu), got %zu",
				       n_ids, n_versions);
	for (size_t i = 0; i < n_versions; i++)
		if (versions[i] < 0) {
			bad = status_violation(st, "expected_versions", "entry %zu is negative", i);
			break;
		}
	if (limit != 0 && (limit < 1 || limit > BROADCAST_MAX))
		bad = status_violation(st, "limit", "must be 1..%d, got %d", BROADCAST_MAX, (int)limit);
	if (bad)
		return -1;
	for (size_t i = 0; i < n_ids; i++) {
		size_t j;
		for (j = 0; j < n && ids[j] != ids[i]; j++)
			;
		if (j < n)
			continue;
		ids[n] = ids[i];
		if (n_versions != 0)
			versions[n] = versions[i];
		n++;
	}
	*n_out = n;
	*limit_out = limit != 0 ? limit : BROADCAST_MAX;
	return 0;
}

unsigned broadcast_default_statuses(task_command cmd)
{
	unsigned bits = 0;
	bbb_status st;

	for (int s = BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_TODO;
	     s <= BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_CANCELLED; s++) {
		task_status to;
		if (task_command_target(cmd, (task_status)s, &to, &st) == 0)
			bits |= 1u << s;
	}
	return bits;
}

const char *broadcast_outcome(const bbb_status *refusal)
{
	if (refusal->code == BBB_OK)
		return "applied";
	if (strcmp(refusal->reason, "TASK_VERSION_CONFLICT") == 0)
		return "conflict";
	return "rejected";
}
