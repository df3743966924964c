/*
 * Dependency checks and readiness (see task_graph.h). Reachability is a
 * depth-first walk over a copy of the edges sorted by `from`, so each node's
 * outgoing edges are one contiguous run found by binary search; a node is
 * marked visited on the first edge of its run. O(E log E), no hash table.
 */
#include "domain/task_graph.h"

#include <stdlib.h>
#include <string.h>

#include "common/status.h"
#include "common/xalloc.h"

static int task_edge_cmp(const void *a, const void *b)
{
	const struct task_edge *x = a, *y = b;

	if (x->e_from != y->e_from)
		return x->e_from < y->e_from ? -1 : 1;
	return (x->e_to > y->e_to) - (x->e_to < y->e_to);
}

/* Index of the first edge leaving `node` in sorted edges, or n. */
static size_t task_edge_first(const struct task_edge *e, size_t n, int64_t node)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (e[mid].e_from < node)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && e[lo].e_from == node ? lo : n;
}

int task_graph_reaches(const struct task_edge *edges, size_t n, int64_t start, int64_t target)
{
	struct task_edge *e;
	unsigned char *seen;
	int64_t *stack;
	size_t top = 0;
	int found = 0;

	if (start == target)
		return 1;
	if (n == 0)
		return 0;
	e = xmalloc(n * sizeof(*e));
	seen = xcalloc(n, 1);
	stack = xmalloc((n + 1) * sizeof(*stack));
	memcpy(e, edges, n * sizeof(*e));
	qsort(e, n, sizeof(*e), task_edge_cmp);
	/* Each edge pushes at most once (a node's run of edges is walked once),
	 * so the stack never holds more than n + 1 entries. */
	stack[top++] = start;
	while (top > 0) {
		int64_t node = stack[--top];
		size_t i = task_edge_first(e, n, node);

		if (i == n || seen[i])
			continue;
		seen[i] = 1;
		for (; i < n && e[i].e_from == node; i++) {
			size_t next;

			if (e[i].e_to == target) {
				found = 1;
				goto out;
			}
			next = task_edge_first(e, n, e[i].e_to);
			if (next != n && !seen[next])
				stack[top++] = e[i].e_to;
		}
	}
out:
	free(e);
	free(seen);
	free(stack);
	return found;
}

int task_graph_check_new_edge(const struct task_edge *edges, size_t n, int64_t task, int64_t on, bbb_status *st)
{
	if (task == on)
		return status_fail(st, "INVALID_TASK_DEPENDENCY", "task %lld cannot depend on itself", (long long)task);
	for (size_t i = 0; i < n; i++)
		if (edges[i].e_from == task && edges[i].e_to == on)
			return status_fail(st, "INVALID_TASK_DEPENDENCY", "task %lld already depends on task %lld",
					   (long long)task, (long long)on);
	if (task_graph_reaches(edges, n, on, task))
		return status_fail(st, "INVALID_TASK_DEPENDENCY",
				   "task %lld already depends on task %lld (directly or through others): "
				   "the dependency would make a cycle",
				   (long long)on, (long long)task);
	return 0;
}

int task_is_ready(task_status status, task_status parent, const task_status *deps, size_t n_deps)
{
	if (status != BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_TODO)
		return 0;
	if (parent != BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_UNSPECIFIED &&
	    parent != BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_DONE)
		return 0;
	for (size_t i = 0; i < n_deps; i++)
		if (deps[i] != BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_DONE)
			return 0;
	return 1;
}
