/*
 * What the runtime's files share. Not API: runtime.h is.
 *
 * struct runtime is cut into parts by who owns them (the threads are the
 * dispatcher, runtime.c's rt_main, the HTTP loop's, http_loop.c, and the
 * process loop's, proc_loop.c; RPC workers only notify, inject faults and post commands):
 *
 *   part           who                                      lock
 *   rt_queue       any thread posts, pokes or commands, the q_mu
 *                  dispatcher takes
 *   rt_runs        the dispatcher only                      none
 *   rt_endpoints   the dispatcher only                      none
 *   rt_storm       the dispatcher only                      none
 *   rt_faults      any thread arms, the dispatcher takes    atomics
 *   rt_snap        the dispatcher publishes, any thread     sn_mu
 *                  copies (runtime_status)
 *   settings       written before the thread starts,        none
 *                  read-only afterwards
 *   dispatcher     the dispatcher only                      none
 *
 * Files, each calling only the ones below it (no cycle):
 *   runtime.c      the dispatcher: start, stop, recovery, pause and cancel,
 *                  scheduling (domain/schedule.h), autorun, the detectors' timer
 *   detectors.c    the detectors and the end of a retry storm
 *   agent_loop.c   a run's calls and what each finished call means for it
 *                  (domain/run_outcome.h), recorded in one transaction per batch
 *   agent_proc.c   the calls of a provider that is a program (claude_code):
 *                  its process on the process loop, its end as a completion
 *   tools.c        the agent's tools, a table (tools.h)
 *   turns.c        a run's conversation as recorded turns and back (turns.h)
 *   runs.c         the run registry; endpoints.c the endpoint registry;
 *                  queue.c the completion queue
 *   runtime_metrics.c  provider calls counted, the snapshot as metrics
 */
#ifndef BBB_RUNTIME_INTERNAL_H
#define BBB_RUNTIME_INTERNAL_H

#include <pthread.h>
#include "store/db.h"
#include <stdatomic.h>

#include "domain/run_outcome.h"
#include "domain/storm.h"
#include "runtime/http_loop.h"
#include "runtime/pricing.h"
#include "runtime/proc_loop.h"
#include "runtime/provider.h"
#include "runtime/runtime.h"
#include "store/run_store.h"
#include "store/turn_store.h"

/* ---- endpoints (endpoints.c): the dispatcher's only ------------------------ */

/* One provider endpoint (provider + base URL) and its breaker. */
struct rt_endpoint {
	char ep_key[300]; /* "anthropic https://api.anthropic.com" */
	char ep_provider[16];
	struct provider_endpoint ep_ep;
	char ep_base_url[256];
	int ep_index; /* 0, 1, ... in the order they were made (the scheduler's gates) */
	int ep_has_breaker; /* 0 for echo: answered in-process, never held */
	struct breaker ep_breaker;
	int ep_open_alert; /* LLM_PROVIDER_UNAVAILABLE raised, incident open */
	int ep_error_alert; /* an LLM_TIMEOUT / LLM_RATE_LIMITED ... alert is open */
	struct rt_endpoint *ep_next;
};

struct rt_endpoints {
	struct rt_endpoint *es_head;
	int es_n;
	struct breaker_config es_breaker; /* every new endpoint's */
	const struct runtime_endpoint *es_settings; /* the options' (runtime.h) */
	size_t es_n_settings;
};

/* The endpoint of a provider ("" is echo), made on first use. */
struct rt_endpoint *rt_endpoint_get(struct rt_endpoints *es, const char *provider);
void rt_endpoints_free(struct rt_endpoints *es);

/* ---- runs (runs.c): the dispatcher's only ---------------------------------- */

enum rt_run_state {
	RT_RUN_CALLING = 0, /* a call is in flight, or its completion is queued */
	RT_RUN_READY, /* its next turn may go: the breaker did not hold it */
	RT_RUN_PARKED, /* its next turn waits for the breaker (held work): no call, no slot */
};

/* A run the dispatcher holds: its conversation and the call it waits for. */
struct rt_run {
	int64_t r_id, r_task_id, r_project_id, r_agent_id;
	char *r_provider, *r_model, *r_root;
	struct provider_conv r_conv;
	char **r_tools; /* enabled tools; none: all */
	size_t r_n_tools;
	int r_turn, r_max_turns, r_retry_count, r_protocol_errors; /* r_turn: the turns recorded, then asked for */
	int r_max_output_tokens;
	char *r_cut_text; /* the answer cut at the output limit so far, whose rest is asked for; NULL: none */
	int r_attempt_n; /* the n of its latest run_attempts row */
	int64_t r_timeout_ms;
	enum provider_token_param r_token_param; /* the agent's choice; AUTO: by model */
	struct rt_endpoint *r_ep;
	enum rt_run_state r_state;
	enum breaker_admit r_admit; /* what the breaker said to its current call */
	uint64_t r_http_id; /* 0 when no HTTP call is in flight */
	uint64_t r_proc_id; /* 0 when no process (claude_code) is running for it */
	int64_t r_call_started; /* wall ms */
	enum run_abort r_abort;
	struct rt_run *r_next;
};

struct rt_runs {
	struct rt_run *rs_head;
	int rs_n;
};

/* A run made from its rows, with its conversation: the run's system prompt
 * or else the agent's persona, the prompt, then the turns it recorded
 * (turns.h; each call without a recorded result gets TURNS_UNKNOWN_RESULT,
 * set in turns for the caller to record). Not yet registered. */
struct rt_run *rt_run_new(const Beebeebrain__V1__TaskRun *run, int64_t project_id, const struct store_run_exec *ex,
			  struct store_turn *turns, size_t n_turns, struct rt_endpoint *ep, int64_t default_timeout_ms);
void rt_run_free(struct rt_run *r);
void rt_runs_add(struct rt_runs *rs, struct rt_run *r);
void rt_runs_remove(struct rt_runs *rs, struct rt_run *r);
struct rt_run *rt_runs_find(const struct rt_runs *rs, int64_t run_id);
/* Runs with a call in flight (RT_RUN_CALLING): what the global limit counts. */
int rt_runs_calling(const struct rt_runs *rs);
/* Parked runs of an endpoint. */
size_t rt_runs_parked(const struct rt_runs *rs, const struct rt_endpoint *ep);

/* ---- the completion queue (queue.c): any thread posts, under q_mu ----------- */

/* A provider call that ended, queued for the dispatcher. */
struct rt_completion {
	struct rt_run *c_run;
	enum http_outcome c_outcome;
	long c_status;
	char *c_body;
	size_t c_len;
	int64_t c_retry_after_ms; /* -1: none */
	int64_t c_ended; /* wall ms */
	struct provider_reply c_reply; /* echo: the answer itself */
	int c_have_reply;
	int c_no_call; /* nothing was sent (a waiting turn was aborted): no attempt, no breaker */
	/* A provider that judges its own calls (claude_code): */
	int c_have_class;
	struct retry_class c_class; /* its verdict on a failed call (run_call.rc_class) */
	char *c_detail; /* what it says about the failure, or NULL */
	char *c_log; /* a line for the run's log about the call, or NULL */
	struct rt_completion *c_next;
};

struct rt_queue {
	pthread_mutex_t q_mu;
	pthread_cond_t q_cv; /* CLOCK_MONOTONIC */
	struct rt_completion *q_head, *q_tail;
	struct rt_command *q_cmd_head, *q_cmd_tail;
	pthread_cond_t q_done_cv; /* CLOCK_MONOTONIC: a command was answered */
	int q_poked; /* a commit since the dispatcher last looked */
	int q_stopping;
};

void rt_queue_init(struct rt_queue *q);
void rt_queue_destroy(struct rt_queue *q);
void rt_queue_post(struct rt_queue *q, struct rt_completion *c);
void rt_queue_poke(struct rt_queue *q);
void rt_queue_stop(struct rt_queue *q);
/* The dispatcher: waits up to wait_ms unless something is queued or poked,
 * then takes every completion (in order); *stopping says whether stop was
 * asked. */
struct rt_completion *rt_queue_take(struct rt_queue *q, int64_t wait_ms, int *stopping);
void rt_completion_free(struct rt_completion *c);
/* Any thread: posts cm (a reference for the dispatcher is taken) and waits
 * until it is answered or deadline_mono_ms passes; 1 when answered. The
 * caller then lets go of its reference with rt_command_put. */
int rt_queue_command(struct rt_queue *q, struct rt_command *cm, int64_t deadline_mono_ms);
/* The dispatcher: takes the commands posted (in order). */
struct rt_command *rt_queue_take_commands(struct rt_queue *q);
/* The dispatcher: cm is answered; wakes its waiter and lets go. */
void rt_command_done(struct rt_queue *q, struct rt_command *cm);
void rt_command_put(struct rt_queue *q, struct rt_command *cm);

/* ---- the runtime ------------------------------------------------------------ */

/* A read of the dispatcher that keeps failing is logged once a minute. */
struct rt_read_log {
	int64_t rl_next_ms; /* monotonic: when the next failure may be logged */
	unsigned rl_failures; /* since the last line */
};

/* A read of the dispatcher (or its lease pass) failed: logged at once, then
 * at most once a minute while it keeps failing. `what` follows "cannot ". */
void rt_read_failed(struct rt_read_log *rl, const char *what, const bbb_status *st);

/* Injected faults (docs/runtime.md, Incident drills): calls left to fail; any thread. */
struct rt_faults {
	atomic_int f_timeout;
	atomic_int f_transient;
};

/* One endpoint as the operator sees it (runtime status, breaker reset). */
struct rt_snap_ep {
	char se_provider[16];
	char se_base_url[256];
	int se_has_breaker;
	enum breaker_state se_state;
	int64_t se_probe_at_ms; /* wall; 0 unless open */
	int se_in_flight, se_parked, se_consecutive, se_opens, se_releasing;
};

/* What the dispatcher holds, published each tick for runtime_status. */
#define RT_SNAP_ENDPOINTS 16
struct rt_snapshot {
	pthread_mutex_t sn_mu;
	int sn_valid;
	int64_t sn_at_ms; /* wall */
	int sn_in_flight, sn_runs, sn_parked;
	int sn_n_endpoints;
	struct rt_snap_ep sn_ep[RT_SNAP_ENDPOINTS];
};

/* An operator's command for the dispatcher (RuntimeService/ResetBreaker): an
 * RPC worker posts it (rt_queue_command) and waits for cm_done; the
 * dispatcher takes it, acts and answers in it. Both hold a reference
 * (cm_refs); whoever lets go last frees it. cm_done, cm_refs and cm_next are
 * under q_mu; the rest is written by the worker before posting and by the
 * dispatcher before cm_done. */
struct rt_command {
	char cm_endpoint[300]; /* a provider name or a base URL */
	char cm_trace_id[72]; /* the RPC's, for the events it writes */
	/* the answer */
	int cm_n; /* endpoints matched */
	int cm_were_open;
	struct rt_snap_ep cm_ep[RT_SNAP_ENDPOINTS];
	int cm_done;
	int cm_refs;
	struct rt_command *cm_next;
};

/* The runtime's recorded metrics (runtime_metrics.c): families of the
 * process's registry, safe from any thread. */
struct rt_metrics {
	struct metrics_family *m_llm_calls; /* {provider, endpoint, outcome} */
	struct metrics_family *m_llm_seconds; /* {provider, endpoint} */
};
void rt_metrics_init(struct rt_metrics *m);
/* Counts a call that was made (not c_no_call) as ro decided it. */
struct run_outcome;
void rt_metrics_call(const struct rt_metrics *m, const struct rt_run *r, const struct rt_completion *c,
		     const struct run_outcome *ro);

struct runtime {
	/* settings: written by runtime_start, read-only afterwards */
	struct store *rt_store;
	struct runtime_options rt_opt;
	struct http_loop *rt_http; /* thread-safe (http_loop.h) */
	struct proc_loop *rt_proc; /* thread-safe (proc_loop.h) */
	struct pricing *rt_pricing; /* read-only */
	struct rt_metrics rt_metrics;
	pthread_t rt_thread;

	struct rt_queue rt_queue; /* any thread, under q_mu */
	struct rt_faults rt_faults; /* any thread, atomics */
	struct rt_snapshot rt_snap; /* the dispatcher writes, any thread reads, under sn_mu */

	/* the dispatcher's only, no lock */
	struct db *rt_db; /* its read connection */
	struct rt_runs rt_runs;
	struct rt_endpoints rt_endpoints;
	struct storm rt_storm;
	int64_t rt_last_event; /* status-change events seen up to here */
	uint64_t rt_rand;
	int64_t rt_next_detect, rt_next_autorun, rt_next_lease; /* monotonic ms */
	struct rt_read_log rt_read_due, rt_read_changes, rt_lease_log;
	/* PostgreSQL: the breakers are shared with the other servers (shared_breakers.c) */
	int rt_shared_breakers;
	int64_t rt_next_breakers; /* monotonic ms: when the shared rows are read next */
	struct rt_read_log rt_breakers_log;
};

/* The dispatcher's random words (backoff jitter, release slots). */
static inline uint64_t rt_random(struct runtime *rt)
{
	return retry_splitmix64(&rt->rt_rand);
}

/* ---- agent_loop.c: the life of a run once it is held ------------------------ */

/* Makes the run's next call now: its breaker admitted it (r_admit); its
 * number and start are set (r_attempt_n, r_call_started). */
void agent_call(struct runtime *rt, struct rt_run *r);
/* Aborts what a run waits for (r_abort is set): its HTTP call, or its
 * waiting turn; the completion comes back like any other. */
void agent_abort(struct runtime *rt, struct rt_run *r);
/* Decides, records (one write transaction) and acts on a batch of
 * completions taken from the queue; finished runs leave the registry. */
void agent_apply_completions(struct runtime *rt, struct rt_completion *list);

/*
 * The calls a pass starts whose provider answers in-process: a batch of
 * their outcomes, in the order of the steps described in agent_loop.c:
 *   agent_batch_new, then agent_call_in_process for each (step 1, decided in
 *   memory);
 *   inside the starts' write transaction (runtime.c), agent_record_started
 *   for each outcome right after its run's start, then agent_batch_record
 *   for the alerts they raise (step 2); agent_batch_lost when that
 *   transaction did not commit;
 *   agent_batch_finish after the commit: tools and their results (a second
 *   transaction, only when tools ran), finished runs leave the registry, the
 *   others wait for their next call (steps 3 and 4). It frees the batch.
 */
struct rt_batch;
struct rt_outcome;
struct taskop_ctx;
struct rt_batch *agent_batch_new(struct runtime *rt);
/* Makes the call of run r, whose start is about to be written (r_attempt_n,
 * r_call_started and r_admit set), now, when its provider answers in-process
 * (echo) and no fault is armed: such a call has no effect outside the
 * process, so it is decided before its start is recorded and both go into
 * one transaction. Returns its outcome (in the batch), or NULL: the call is
 * made after the commit (agent_call). Its metrics and retry-storm note count
 * it as made even if its start is not recorded after all. */
struct rt_outcome *agent_call_in_process(struct rt_batch *b, struct rt_run *r);
/* Step 2, on the writer inside a transaction: the batch's outcomes that are
 * not waiting for a start, each in a savepoint, then the breakers' alerts
 * and the retry storm. -1 only when SQLite rolled the transaction back. */
int agent_batch_record(struct taskop_ctx *c, struct rt_batch *b, bbb_status *st);
/* Step 2 for an in-process outcome whose run's start was just recorded in
 * this transaction. -1 only when SQLite rolled the transaction back. */
int agent_record_started(struct taskop_ctx *c, struct rt_outcome *o, bbb_status *st);
/* The transaction did not commit: nothing of the batch is recorded. */
void agent_batch_lost(struct rt_batch *b);
/* Steps 3 and 4; frees b. */
void agent_batch_finish(struct rt_batch *b);
/* A store_write function (arg: the price table, read at start): resolves the
 * open PRICE_UNKNOWN alerts of models that have a price now. */
int agent_price_alerts_resolve(struct db *db, void *pricing, bbb_status *st);

/* ---- agent_proc.c: calls of a provider that is a program -------------------- */

/* Starts the run's CLI process for this request (r_proc_id set, r_state
 * CALLING); its end comes back as a completion, like an HTTP call's. When
 * nothing can be started (a prompt the command line cannot carry), the
 * completion is a local error that says why. */
void agent_spawn(struct runtime *rt, struct rt_run *r, const struct provider_request *req);

/* An operator's reset of an endpoint's breaker (RuntimeService/ResetBreaker):
 * closes it as a successful probe would (domain breaker_reset); when it was
 * open, resolves its LLM_PROVIDER_UNAVAILABLE alert (resolved by
 * "operator") and closes the incident item, then begins the gradual
 * release of the work it held. 1 when it was open or half-open. */
int agent_breaker_reset(struct runtime *rt, struct rt_endpoint *ep, const char *trace_id);

/* The breaker of ep closed (a probe, a reset, or another server's close):
 * what it held (due runs of the provider, parked turns of the endpoint) goes
 * out over the release window, one slot each. */
void agent_release(struct runtime *rt, struct rt_endpoint *ep, int64_t mono);

/* ---- shared_breakers.c: the breakers of all servers on PostgreSQL ----------- */

/* How often the dispatcher reads the shared rows at least. */
#define RT_BREAKERS_EVERY_MS 1000

/* The dispatcher, each tick: at most once per RT_BREAKERS_EVERY_MS (sooner
 * after rt_breakers_soon), reads the shared breakers and makes each of its
 * own follow its row: open (until the row's time, or while another server's
 * probe is out) or closed (the held work released). Nothing on SQLite. */
void rt_breakers_follow(struct runtime *rt, int64_t mono);
/* Reads the shared rows at the next tick. */
void rt_breakers_soon(struct runtime *rt);
/* How long the probe lease of a call lasts: its timeout and a margin. */
int64_t rt_probe_lease_ms(const struct runtime *rt, const struct rt_run *r);

/* ---- detectors.c ------------------------------------------------------------- */

void rt_detect(struct runtime *rt);

#endif
