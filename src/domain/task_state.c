/* Task and run state machines as bit tables (see task_state.h). */
#include "domain/task_state.h"

#include "common/status.h"

#define T(x) BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_##x
#define R(x) BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_##x
#define C(x) BEEBEEBRAIN__V1__TASK_COMMAND__TASK_COMMAND_##x
#define BIT(x) (1u << (x))

#define N_TASK_STATES 8
#define N_RUN_STATES 8

/* task_edges[from] is the set of states `from` may move to. */
static const unsigned task_edges[N_TASK_STATES] = {
	[T(TODO)] = BIT(T(RUNNING)) | BIT(T(BLOCKED)) | BIT(T(CANCELLED)),
	[T(RUNNING)] = BIT(T(REVIEW)) | BIT(T(BLOCKED)) | BIT(T(FAILED)) | BIT(T(CANCELLED)),
	[T(REVIEW)] = BIT(T(RUNNING)) | BIT(T(DONE)) | BIT(T(BLOCKED)) | BIT(T(FAILED)) | BIT(T(CANCELLED)),
	[T(BLOCKED)] = BIT(T(TODO)) | BIT(T(RUNNING)) | BIT(T(CANCELLED)),
	[T(FAILED)] = BIT(T(TODO)) | BIT(T(RUNNING)) | BIT(T(CANCELLED)),
	[T(CANCELLED)] = BIT(T(TODO)),
	[T(DONE)] = 0,
};

static const unsigned run_edges[N_RUN_STATES] = {
	[R(QUEUED)] = BIT(R(RUNNING)) | BIT(R(CANCELLED)),
	[R(RUNNING)] =
		BIT(R(SUCCEEDED)) | BIT(R(FAILED)) | BIT(R(RETRY_SCHEDULED)) | BIT(R(INTERRUPTED)) | BIT(R(CANCELLED)),
	[R(RETRY_SCHEDULED)] = BIT(R(RUNNING)) | BIT(R(CANCELLED)),
	[R(INTERRUPTED)] = BIT(R(RUNNING)) | BIT(R(FAILED)) | BIT(R(CANCELLED)),
};

static const struct {
	unsigned sources;
	task_status target;
	const char *name;
} task_commands[] = {
	[C(PAUSE)] = {BIT(T(RUNNING)), T(BLOCKED), "pause"},
	[C(RESUME)] = {BIT(T(BLOCKED)), T(RUNNING), "resume"},
	[C(RETRY)] = {BIT(T(FAILED)) | BIT(T(CANCELLED)), T(TODO), "retry"},
	[C(CANCEL)] = {BIT(T(TODO)) | BIT(T(RUNNING)) | BIT(T(REVIEW)) | BIT(T(BLOCKED)) | BIT(T(FAILED)), T(CANCELLED),
		       "cancel"},
};

static const char *const task_names[N_TASK_STATES] = {"unspecified", "todo",    "running", "review",
						      "done",        "blocked", "failed",  "cancelled"};
static const char *const run_names[N_RUN_STATES] = {"unspecified", "queued",          "running",     "succeeded",
						    "failed",      "retry_scheduled", "interrupted", "cancelled"};

static int task_valid(task_status s)
{
	return s > 0 && s < N_TASK_STATES;
}

static int run_valid(run_status s)
{
	return s > 0 && s < N_RUN_STATES;
}

const char *task_status_name(task_status s)
{
	return (unsigned)s < N_TASK_STATES ? task_names[s] : "unknown";
}

const char *run_status_name(run_status s)
{
	return (unsigned)s < N_RUN_STATES ? run_names[s] : "unknown";
}

const char *task_command_name(task_command c)
{
	return c > 0 && (unsigned)c < sizeof(task_commands) / sizeof(task_commands[0]) ? task_commands[c].name
										       : "unknown";
}

int task_transition_allowed(task_status from, task_status to)
{
	if (!task_valid(from) || !task_valid(to))
		return 0;
	return from == to || (task_edges[from] & BIT(to)) != 0;
}

int task_transition_check(task_status from, task_status to, bbb_status *st)
{
	if (task_transition_allowed(from, to))
		return 0;
	return status_fail(st, "INVALID_TASK_TRANSITION", "a %s task cannot become %s", task_status_name(from),
			   task_status_name(to));
}

int task_command_target(task_command cmd, task_status from, task_status *to, bbb_status *st)
{
	if (cmd <= 0 || (unsigned)cmd >= sizeof(task_commands) / sizeof(task_commands[0]))
		return status_fail(st, "INVALID_TASK_COMMAND", "unknown task command %d", (int)cmd);
	if (!task_valid(from) || !(task_commands[cmd].sources & BIT(from)))
		return status_fail(st, "INVALID_TASK_TRANSITION", "cannot %s a %s task", task_commands[cmd].name,
				   task_status_name(from));
	*to = task_commands[cmd].target;
	return 0;
}

int run_transition_allowed(run_status from, run_status to)
{
	if (!run_valid(from) || !run_valid(to))
		return 0;
	return from == to || (run_edges[from] & BIT(to)) != 0;
}

int run_transition_check(run_status from, run_status to, bbb_status *st)
{
	if (run_transition_allowed(from, to))
		return 0;
	return status_fail(st, "INVALID_TASK_TRANSITION", "a %s run cannot become %s", run_status_name(from),
			   run_status_name(to));
}

int run_is_active(run_status s)
{
	return s == R(QUEUED) || s == R(RUNNING) || s == R(RETRY_SCHEDULED) || s == R(INTERRUPTED);
}

int run_is_final(run_status s)
{
	return s == R(SUCCEEDED) || s == R(FAILED) || s == R(CANCELLED);
}

task_status task_status_after_run(run_status outcome)
{
	switch (outcome) {
	case R(SUCCEEDED):
		return T(REVIEW);
	case R(FAILED):
		return T(FAILED);
	case R(CANCELLED):
		return T(CANCELLED);
	case R(INTERRUPTED):
		return T(BLOCKED);
	default:
		return T(UNSPECIFIED);
	}
}
