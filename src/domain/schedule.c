/*
 * The dispatcher's choice of calls to start (contract in schedule.h). Counts
 * are recomputed by scanning: a tick looks at a few hundred candidates at
 * most, and no state outlives the call.
 */
#include "domain/schedule.h"

/* Runs of agent a the dispatcher holds, plus the DUE runs of a chosen so far. */
static int schedule_agent_runs(const struct schedule_input *in, const struct schedule_candidate *c,
			       const size_t *chosen, size_t n_chosen, int64_t agent)
{
	int n = 0;

	for (size_t i = 0; i < in->si_n_busy; i++)
		n += in->si_busy[i].sb_agent_id == agent;
	for (size_t i = 0; i < n_chosen; i++)
		n += c[chosen[i]].sc_kind == SCHEDULE_DUE && c[chosen[i]].sc_agent_id == agent;
	return n;
}

static int schedule_in_memory(const struct schedule_input *in, int64_t run_id)
{
	for (size_t i = 0; i < in->si_n_busy; i++)
		if (in->si_busy[i].sb_run_id == run_id)
			return 1;
	return 0;
}

static void schedule_take(size_t *v)
{
	if (*v != SIZE_MAX)
		(*v)--;
}

/* 1 when the candidate's endpoint admits it now; takes the admission. */
static int schedule_gate_admits(struct schedule_input *in, const struct schedule_candidate *c)
{
	struct schedule_gate *g;
	int held = c->sc_kind != SCHEDULE_TURN;

	if (c->sc_gate < 0 || (size_t)c->sc_gate >= in->si_n_gates)
		return 1;
	g = &in->si_gates[c->sc_gate];
	if (g->sg_calls == 0 || (held && g->sg_held == 0))
		return 0;
	schedule_take(&g->sg_calls);
	if (held)
		schedule_take(&g->sg_held);
	return 1;
}

size_t schedule_choose(struct schedule_input *in, const struct schedule_candidate *c, size_t n, size_t *chosen)
{
	size_t n_chosen = 0;
	int slots = in->si_max_in_flight - in->si_calls_in_flight;

	for (int kind = SCHEDULE_TURN; kind <= SCHEDULE_DUE; kind++) {
		for (size_t i = 0; i < n && slots > 0; i++) {
			const struct schedule_candidate *x = &c[i];

			if ((int)x->sc_kind != kind)
				continue;
			if (kind == SCHEDULE_DUE) {
				if (schedule_in_memory(in, x->sc_run_id))
					continue;
				if (x->sc_agent_id != 0 &&
				    schedule_agent_runs(in, c, chosen, n_chosen, x->sc_agent_id) >= x->sc_agent_limit)
					continue;
			}
			if (!schedule_gate_admits(in, x))
				continue;
			chosen[n_chosen++] = i;
			slots--;
		}
	}
	return n_chosen;
}
