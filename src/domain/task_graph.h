/*
 * The task graph: dependencies between tasks and the readiness rule of
 * ListReadyTasks (docs/protocol.md, Resources). Pure: the store loads the
 * edges and statuses, these functions decide.
 *
 * An edge {from, to} means task `from` depends on task `to`. The graph must
 * stay acyclic: adding from -> to is refused when `to` already reaches `from`.
 */
#ifndef BBB_TASK_GRAPH_H
#define BBB_TASK_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include <beebeebrain/status.h>

#include "domain/task_state.h"

struct task_edge {
	int64_t e_from; /* the dependent task */
	int64_t e_to; /* the task it depends on */
};

/* 1 when a path of edges leads from `start` to `target` (start == target
 * counts), 0 when none does. */
int task_graph_reaches(const struct task_edge *edges, size_t n, int64_t start, int64_t target);

/* Whether `task` may get a dependency on `on`, given the existing edges of
 * the project: INVALID_TASK_DEPENDENCY for a self-edge, a pair that exists
 * already, or an edge that closes a cycle (the message names the cycle's
 * ends). */
int task_graph_check_new_edge(const struct task_edge *edges, size_t n, int64_t task, int64_t on, bbb_status *st);

/* The readiness rule: a todo task whose parent (when it has one) and every
 * task it depends on are done. parent is 0 (unspecified) for no parent. All
 * dependency types gate readiness alike (docs/decisions.md, Dependencies). */
int task_is_ready(task_status status, task_status parent, const task_status *deps, size_t n_deps);

#endif
