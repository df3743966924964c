/*
 * The calls of a provider that is a program (claude_code): one run's attempt
 * is one CLI process, started on the process loop (proc_loop.h) with the
 * project's root as its working directory. Its stdout lines are read on the
 * loop's thread into the provider's stream state (provider_claude.h); when
 * it has been reaped, its ending becomes a completion for the dispatcher,
 * like an HTTP call's: the answer, or a classified failure (run_call's
 * rc_class) with the CLI's words, and a line for the run's log.
 *
 *   process ended                  completion
 *   exited: result, success        OK 200 with the reply (text, usage, reported cost)
 *   exited: anything else          the provider's verdict (provider_claude_judge)
 *   timeout                        TIMEOUT (LLM_TIMEOUT, retried)
 *   cancelled (pause, cancel,      CANCELLED (the run's abort reason decides)
 *     shutdown)
 *   a line not JSON, or too long   LLM_PROTOCOL_ERROR (retried once per run)
 *   executable not found           LOCAL_ERROR LLM_PROVIDER_NOT_FOUND (final: nothing ran)
 *   could not be started           LLM_PROVIDER_UNAVAILABLE (retried)
 */
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/status.h"
#include "common/xalloc.h"
#include "runtime/provider_claude.h"
#include "runtime/runtime_internal.h"

/* One process's context, the `arg` of its callbacks: the loop's thread only. */
struct rt_proc_call {
	struct runtime *pa_rt;
	struct rt_run *pa_run;
	struct provider_claude_stream pa_stream;
};

static int agent_proc_line(const char *line, size_t len, void *arg)
{
	struct rt_proc_call *pa = arg;
	bbb_status st;

	status_clear(&st);
	return provider_claude_line(&pa->pa_stream, line, len, &st);
}

static void agent_proc_class(struct rt_completion *c, const char *code, enum retry_verdict v, char *detail)
{
	c->c_have_class = 1;
	c->c_class.rc_code = code;
	c->c_class.rc_verdict = v;
	c->c_detail = detail;
}

/* An exited process: the answer, or the provider's verdict on it. */
static void agent_proc_exited(struct rt_completion *c, const struct rt_proc_call *pa, const struct proc_result *res)
{
	struct provider_reply reply;
	struct retry_class cls;
	char *message;

	if (provider_claude_judge(&pa->pa_stream, res->exit_code, res->term_signal, res->stderr_tail, &reply, &cls,
				  &message) == 0) {
		c->c_status = 200;
		c->c_reply = reply;
		c->c_have_reply = 1;
		return;
	}
	agent_proc_class(c, cls.rc_code, cls.rc_verdict, message);
}

/* On the process loop's thread: the ending as a completion. */
static void agent_proc_done(const struct proc_result *res, void *arg)
{
	struct rt_proc_call *pa = arg;
	struct rt_completion *c = xcalloc(1, sizeof(*c));

	c->c_run = pa->pa_run;
	c->c_outcome = HTTP_OUTCOME_OK;
	c->c_body = xstrdup("");
	c->c_retry_after_ms = -1;
	c->c_ended = clock_now_ms();
	switch (res->outcome) {
	case PROC_OUTCOME_EXITED:
		agent_proc_exited(c, pa, res);
		break;
	case PROC_OUTCOME_TIMEOUT:
		c->c_outcome = HTTP_OUTCOME_TIMEOUT;
		c->c_detail = xasprintf("the claude CLI %s and was killed", res->error);
		break;
	case PROC_OUTCOME_CANCELLED:
		c->c_outcome = HTTP_OUTCOME_CANCELLED;
		break;
	case PROC_OUTCOME_ABORTED:
	case PROC_OUTCOME_LINE_TOO_LONG:
		agent_proc_class(
			c, "LLM_PROTOCOL_ERROR", RETRY_RETRYABLE_ONCE,
			xasprintf("the claude CLI's output was refused: %s",
				  pa->pa_stream.cs_refused[0] != '\0' ? pa->pa_stream.cs_refused : res->error));
		break;
	case PROC_OUTCOME_NOT_FOUND:
		c->c_outcome = HTTP_OUTCOME_LOCAL_ERROR;
		agent_proc_class(c, "LLM_PROVIDER_NOT_FOUND", RETRY_FINAL,
				 xasprintf("the claude CLI cannot be run: %s (BEEBEEBRAIN_CLAUDE_CLI)", res->error));
		break;
	case PROC_OUTCOME_SPAWN_FAILED:
		agent_proc_class(c, "LLM_PROVIDER_UNAVAILABLE", RETRY_RETRYABLE,
				 xasprintf("the claude CLI could not be started: %s", res->error));
		break;
	}
	if (res->pid > 0)
		c->c_log = provider_claude_summary(&pa->pa_stream);
	provider_claude_stream_free(&pa->pa_stream);
	rt_queue_post(&pa->pa_rt->rt_queue, c);
	free(pa);
}

/* Nothing could be started: a local error that says why (the run fails,
 * LLM_INVALID_REQUEST unless a class is given). */
static void agent_proc_not_started(struct runtime *rt, struct rt_run *r, const bbb_status *st)
{
	struct rt_completion *c = xcalloc(1, sizeof(*c));

	c->c_run = r;
	c->c_outcome = HTTP_OUTCOME_LOCAL_ERROR;
	c->c_body = xstrdup("");
	c->c_retry_after_ms = -1;
	c->c_ended = clock_now_ms();
	c->c_detail = xstrdup(st->message);
	r->r_state = RT_RUN_CALLING;
	r->r_http_id = r->r_proc_id = 0;
	rt_queue_post(&rt->rt_queue, c);
}

void agent_spawn(struct runtime *rt, struct rt_run *r, const struct provider_request *req)
{
	const struct runtime_claude *rc = &rt->rt_opt.ro_claude;
	struct provider_claude_settings cs = {rc->rc_cli, rc->rc_settings, rc->rc_env};
	struct provider_command cmd;
	struct rt_proc_call *pa;
	bbb_status st;

	status_clear(&st);
	if (provider_claude_command(&cs, req, r->r_max_turns, &cmd, &st) != 0) {
		agent_proc_not_started(rt, r, &st);
		return;
	}
	struct proc_request pr = {
		.program = cmd.cmd_program,
		.argv = (const char *const *)cmd.cmd_argv,
		.envp = (const char *const *)cmd.cmd_envp,
		.cwd = r->r_root,
		.search_path = rc->rc_search_path,
		.timeout_ms = (long)r->r_timeout_ms,
	};
	pa = xcalloc(1, sizeof(*pa));
	pa->pa_rt = rt;
	pa->pa_run = r;
	r->r_state = RT_RUN_CALLING;
	r->r_http_id = 0;
	r->r_proc_id = proc_loop_submit(rt->rt_proc, &pr, agent_proc_line, agent_proc_done, pa, &st);
	provider_command_free(&cmd);
	if (r->r_proc_id == 0) {
		free(pa);
		agent_proc_not_started(rt, r, &st);
	}
}
