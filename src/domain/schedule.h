/*
 * Which calls the dispatcher starts now (docs/runtime.md). Pure: the
 * dispatcher lists the candidates and describes what is in flight and what
 * each endpoint's breaker admits; this chooses, and the dispatcher then
 * makes the calls.
 *
 * Candidates are of three kinds, taken in this order, and in the given
 * order within a kind (the dispatcher lists due runs by task priority, then
 * age):
 *   TURN    the next turn of a conversation, never held by a breaker;
 *   PARKED  a next turn its endpoint's breaker held (work the breaker
 *           holds is let go gradually: see breaker.h);
 *   DUE     a run to start (queued, retry_scheduled whose time came,
 *           interrupted of a running task).
 * A conversation in the middle of its work goes before new work.
 *
 * Limits:
 *   - global: at most max_in_flight calls in flight. Only calls count: a
 *     parked turn waits for its breaker without a call and holds no slot, so
 *     an endpoint that is down cannot starve the others;
 *   - per agent: at most the agent's max_concurrency runs at once. Every run
 *     the dispatcher holds in memory counts, calling or waiting (a parked
 *     conversation is still a running run of its agent); TURN and PARKED
 *     candidates are such runs already, DUE runs need a free agent slot. A
 *     run without an agent has no agent limit. An agent at its limit is
 *     skipped, not waited for: later candidates of other agents still go;
 *   - per endpoint: a gate says how many calls its breaker admits now, and
 *     how many of them may be held work (PARKED and DUE); see
 *     breaker_capacity and breaker_held_capacity. A candidate without a gate
 *     (the echo provider) is not limited.
 * A DUE run the dispatcher already holds (in memory) is never started again.
 */
#ifndef BBB_SCHEDULE_H
#define BBB_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

enum schedule_kind { SCHEDULE_TURN = 0, SCHEDULE_PARKED, SCHEDULE_DUE };

struct schedule_candidate {
	int64_t sc_run_id;
	int64_t sc_agent_id; /* 0: no agent */
	int sc_agent_limit; /* the agent's max_concurrency (DUE only) */
	int sc_gate; /* index into the gates; -1: none */
	enum schedule_kind sc_kind;
};

/* What one endpoint admits now; SIZE_MAX: no limit. */
struct schedule_gate {
	size_t sg_calls; /* calls of any kind */
	size_t sg_held; /* of those, PARKED and DUE ones */
};

/* A run the dispatcher holds in memory, calling or waiting. */
struct schedule_busy {
	int64_t sb_run_id;
	int64_t sb_agent_id; /* 0: no agent */
};

struct schedule_input {
	int si_max_in_flight;
	int si_calls_in_flight; /* calls in flight now (not parked or waiting runs) */
	const struct schedule_busy *si_busy;
	size_t si_n_busy;
	struct schedule_gate *si_gates; /* consumed by the choice */
	size_t si_n_gates;
};

/* Chooses among c[0..n) (rules above): writes the indices of the chosen
 * candidates to chosen (room for n) in the order they were chosen, and
 * returns how many. Each choice takes what it uses from in->si_gates. */
size_t schedule_choose(struct schedule_input *in, const struct schedule_candidate *c, size_t n, size_t *chosen);

#endif
