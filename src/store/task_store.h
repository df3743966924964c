/* Tasks table. Messages returned are allocated from the given arena. */
#ifndef BBB_TASK_STORE_H
#define BBB_TASK_STORE_H

#include "store/db.h"

#include "beebeebrain/v1/common.pb-c.h"
#include "common/arena.h"
#include "domain/task_state.h"
#include <beebeebrain/status.h>

struct task_filter {
	int64_t tf_project_id; /* 0 = any */
	int tf_status; /* Beebeebrain__V1__TaskStatus; 0 = any */
	int64_t tf_assignee_id; /* 0 = any */
	int tf_offset; /* rows to skip first */
};

/* Inserts t (project_id, title, description, status, priority, assignee,
 * parent, due); sets id, times and version 1. */
int store_task_insert(struct db *db, Beebeebrain__V1__Task *t, bbb_status *st);
/* TASK_NOT_FOUND when absent. */
int store_task_get(struct db *db, int64_t id, struct arena *a, Beebeebrain__V1__Task **out, bbb_status *st);
/* Up to `limit` tasks with id > after_id matching f, ascending by id. */
int store_task_list(struct db *db, const struct task_filter *f, int64_t after_id, int limit, struct arena *a,
		    Beebeebrain__V1__Task ***out, size_t *n, int *more, bbb_status *st);

/* Writes t's mutable fields (title, description, status, priority, assignee,
 * due) where the row still has version t->version, then sets t->version to
 * the new version (+1) and t->updated_at_ms. TASK_VERSION_CONFLICT when the
 * row changed meanwhile, TASK_NOT_FOUND when it is gone. */
int store_task_save(struct db *db, Beebeebrain__V1__Task *t, bbb_status *st);
/* Deletes the task (its runs and dependency edges go with it). */
int store_task_delete(struct db *db, int64_t id, bbb_status *st);
/* Number of tasks whose parent is `id` and of tasks that depend on it. */
int store_task_dependents(struct db *db, int64_t id, int64_t *children, int64_t *dependents, bbb_status *st);
/* Ids of up to `limit` tasks of the project whose status is in `status_bits`
 * (1 << TaskStatus), ascending; *ids is an arena array. */
int store_task_select(struct db *db, int64_t project_id, unsigned status_bits, int limit, struct arena *a,
		      int64_t **ids, size_t *n, bbb_status *st);

/* A todo task's readiness inputs (the row itself is read only when kept). */
struct task_readiness {
	task_status tr_status;
	task_status tr_parent; /* the parent's status, 0 when there is no parent */
	task_status *tr_deps; /* status of each task it depends on */
	size_t tr_n_deps;
};
/* The order of the todo walk: priority, created_at, id. */
enum { TASK_WALK_KEY = 3 };
/* Walks the todo tasks of a project by priority, then age (created_at, id),
 * after the task whose sort key is `after` (NULL: from the start), and
 * collects up to `limit` of those `keep` accepts, at most one page of bytes
 * (STORE_PAGE_BYTES, store.h). *more says whether another one would have
 * been kept; the next page starts after the last task's key. */
int store_task_todo_walk(struct db *db, int64_t project_id, int (*keep)(const struct task_readiness *r),
			 const int64_t *after, int limit, struct arena *a, Beebeebrain__V1__Task ***out, size_t *n,
			 int *more, bbb_status *st);
/* The todo walk's sort key of t (TASK_WALK_KEY values). */
void store_task_walk_key(const Beebeebrain__V1__Task *t, int64_t *key);

/* The project of agent `id`: 0 and AGENT_NOT_FOUND when there is none. */
int store_agent_project(struct db *db, int64_t id, int64_t *project_id, bbb_status *st);

/* A todo task --autorun may queue a run for. */
struct store_ready_task {
	int64_t rt_task_id;
	const char *rt_title;
	const char *rt_description;
};
/* Todo tasks with an assignee whose dependencies and parent are done, by
 * priority then age; at most `limit`. */
int store_task_autorun_ready(struct db *db, int limit, struct arena *a, struct store_ready_task **out, size_t *n,
			     bbb_status *st);

#endif
