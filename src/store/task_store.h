/* Tasks table. Messages returned are allocated from the given arena. */
#ifndef BBB_TASK_STORE_H
#define BBB_TASK_STORE_H

#include <sqlite3.h>

#include "beebeebrain/v1/common.pb-c.h"
#include "common/arena.h"
#include <beebeebrain/client.h>

struct task_filter {
	int64_t tf_project_id; /* 0 = any */
	int tf_status; /* Beebeebrain__V1__TaskStatus; 0 = any */
	int64_t tf_assignee_id; /* 0 = any */
};

/* Inserts t (project_id, title, description, status, priority, assignee,
 * parent, due); sets id, times and version 1. */
int store_task_insert(sqlite3 *db, Beebeebrain__V1__Task *t, bbb_status *st);
/* TASK_NOT_FOUND when absent. */
int store_task_get(sqlite3 *db, int64_t id, struct arena *a, Beebeebrain__V1__Task **out, bbb_status *st);
/* Up to `limit` tasks with id > after_id matching f, ascending by id. */
int store_task_list(sqlite3 *db, const struct task_filter *f, int64_t after_id, int limit, struct arena *a,
		    Beebeebrain__V1__Task ***out, size_t *n, int *more, bbb_status *st);

/* The project of agent `id`: 0 and AGENT_NOT_FOUND when there is none. */
int store_agent_project(sqlite3 *db, int64_t id, int64_t *project_id, bbb_status *st);

#endif
