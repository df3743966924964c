/*
 * Agents: rows <-> Beebeebrain__V1__Agent. enabled_tools is stored as one
 * comma-separated text (tool names never contain a comma); status as its
 * short text.
 */
#include "store/agent_store.h"

#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/enum_text.h"
#include "common/status.h"
#include "store/store.h"

#define AGENT_COLS                                                                                                     \
	"id, project_id, name, role, model_provider, model_name, persona_prompt, enabled_tools, status, "              \
	"max_concurrency, created_at, updated_at, version, token_limit_param, max_output_tokens"

static void agent_split_tools(struct arena *a, const char *text, Beebeebrain__V1__Agent *ag)
{
	size_t cap = 1;
	char *copy, *tok, *save = NULL;

	ag->n_enabled_tools = 0;
	if (text == NULL || text[0] == '\0')
		return;
	for (const char *p = text; *p != '\0'; p++)
		cap += *p == ',';
	ag->enabled_tools = arena_alloc(a, sizeof(char *) * cap);
	copy = arena_strdup(a, text);
	for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save))
		ag->enabled_tools[ag->n_enabled_tools++] = tok;
}

static char *agent_join_tools(struct arena *a, const Beebeebrain__V1__Agent *ag)
{
	size_t len = 1;
	char *s;

	for (size_t i = 0; i < ag->n_enabled_tools; i++)
		len += strlen(ag->enabled_tools[i]) + 1;
	s = arena_alloc(a, len);
	for (size_t i = 0; i < ag->n_enabled_tools; i++) {
		if (i > 0)
			strcat(s, ",");
		strcat(s, ag->enabled_tools[i]);
	}
	return s;
}

static void *agent_row(struct db_stmt *stmt, struct arena *a)
{
	Beebeebrain__V1__Agent *ag = (Beebeebrain__V1__Agent *)arena_message(a, &beebeebrain__v1__agent__descriptor);
	int status = 0;

	ag->id = db_col_i64(stmt, 0);
	ag->project_id = db_col_i64(stmt, 1);
	ag->name = store_col_text(a, stmt, 2);
	ag->role = store_col_text(a, stmt, 3);
	ag->model_provider = store_col_text(a, stmt, 4);
	ag->model_name = store_col_text(a, stmt, 5);
	ag->persona_prompt = store_col_text(a, stmt, 6);
	agent_split_tools(a, db_col_text(stmt, 7), ag);
	enum_from_text(&beebeebrain__v1__agent_status__descriptor, db_col_text(stmt, 8), &status);
	ag->status = (Beebeebrain__V1__AgentStatus)status;
	ag->max_concurrency = db_col_int(stmt, 9);
	ag->created_at_ms = db_col_i64(stmt, 10);
	ag->updated_at_ms = db_col_i64(stmt, 11);
	ag->version = db_col_i64(stmt, 12);
	ag->token_limit_param = store_col_text(a, stmt, 13);
	ag->max_output_tokens = db_col_int(stmt, 14);
	return ag;
}

/* A UNIQUE failure on an agent row can only be (project_id, name). */
static int agent_fail(bbb_status *st, struct db *db, int rc, const Beebeebrain__V1__Agent *ag, const char *what)
{
	store_fail(st, db, rc, what);
	if (strcmp(st->reason, "RESOURCE_CONFLICT") == 0)
		snprintf(st->message, sizeof(st->message), "project %lld already has an agent named '%.200s'",
			 (long long)ag->project_id, ag->name);
	return -1;
}

int store_agent_insert(struct db *db, Beebeebrain__V1__Agent *ag, bbb_status *st)
{
	struct arena a;
	struct db_stmt *stmt;
	char status[32];
	int rc;

	if (store_prepare(db,
			  "INSERT INTO agents (project_id, name, role, model_provider, model_name, persona_prompt, "
			  "enabled_tools, status, max_concurrency, created_at, updated_at, version, token_limit_param, "
			  "max_output_tokens) "
			  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?) RETURNING id",
			  &stmt, st) != 0)
		return -1;
	arena_init(&a);
	ag->created_at_ms = ag->updated_at_ms = clock_now_ms();
	ag->version = 1;
	enum_text(&beebeebrain__v1__agent_status__descriptor, ag->status, status, sizeof(status));
	db_bind_i64(stmt, 1, ag->project_id);
	db_bind_text(stmt, 2, ag->name);
	db_bind_text(stmt, 3, ag->role);
	db_bind_text(stmt, 4, ag->model_provider);
	db_bind_text(stmt, 5, ag->model_name);
	store_bind_free_text(stmt, 6, ag->persona_prompt);
	db_bind_text_copy(stmt, 7, agent_join_tools(&a, ag));
	db_bind_text(stmt, 8, status);
	db_bind_i64(stmt, 9, ag->max_concurrency);
	db_bind_i64(stmt, 10, ag->created_at_ms);
	db_bind_i64(stmt, 11, ag->updated_at_ms);
	db_bind_text(stmt, 12, ag->token_limit_param);
	db_bind_i64(stmt, 13, ag->max_output_tokens);
	rc = store_step_insert(stmt, &ag->id);
	store_release(stmt);
	arena_reset(&a);
	if (rc != DB_DONE)
		return agent_fail(st, db, rc, ag, "insert agent");
	return 0;
}

int store_agent_get(struct db *db, int64_t id, struct arena *a, Beebeebrain__V1__Agent **out, bbb_status *st)
{
	return store_get_by_id(db, "SELECT " AGENT_COLS " FROM agents WHERE id = ?", id, agent_row, a, (void **)out,
			       "AGENT_NOT_FOUND", "agent", st);
}

int store_agent_list(struct db *db, int64_t project_id, int status, int64_t after_id, int limit, int offset,
		     struct arena *a, Beebeebrain__V1__Agent ***out, size_t *n, int *more, bbb_status *st)
{
	struct db_stmt *stmt;
	char status_text[32] = "";

	if (store_prepare(db,
			  "SELECT " AGENT_COLS " FROM agents WHERE id > ?1 AND (?2 = 0 OR project_id = ?2) "
			  "AND (?3 = '' OR status = ?3) ORDER BY id LIMIT ?4 OFFSET ?5",
			  &stmt, st) != 0)
		return -1;
	if (status != 0)
		enum_text(&beebeebrain__v1__agent_status__descriptor, status, status_text, sizeof(status_text));
	db_bind_i64(stmt, 1, after_id);
	db_bind_i64(stmt, 2, project_id);
	db_bind_text(stmt, 3, status_text);
	db_bind_i64(stmt, 4, limit + 1);
	db_bind_i64(stmt, 5, offset);
	return store_collect(db, stmt, limit, agent_row, a, (void ***)out, n, more, "list agents", st);
}

int store_agent_save(struct db *db, Beebeebrain__V1__Agent *ag, bbb_status *st)
{
	struct arena a;
	struct db_stmt *stmt;
	char status[32];
	int64_t now = clock_now_ms();
	int rc;

	if (store_prepare(
		    db,
		    "UPDATE agents SET name = ?, role = ?, model_provider = ?, model_name = ?, persona_prompt = ?, "
		    "enabled_tools = ?, status = ?, max_concurrency = ?, updated_at = ?, version = version + 1, "
		    "token_limit_param = ?12, max_output_tokens = ?13 WHERE id = ?10 AND version = ?11",
		    &stmt, st) != 0)
		return -1;
	arena_init(&a);
	enum_text(&beebeebrain__v1__agent_status__descriptor, ag->status, status, sizeof(status));
	db_bind_text(stmt, 1, ag->name);
	db_bind_text(stmt, 2, ag->role);
	db_bind_text(stmt, 3, ag->model_provider);
	db_bind_text(stmt, 4, ag->model_name);
	store_bind_free_text(stmt, 5, ag->persona_prompt);
	db_bind_text_copy(stmt, 6, agent_join_tools(&a, ag));
	db_bind_text(stmt, 7, status);
	db_bind_i64(stmt, 8, ag->max_concurrency);
	db_bind_i64(stmt, 9, now);
	db_bind_i64(stmt, 10, ag->id);
	db_bind_i64(stmt, 11, ag->version);
	db_bind_text(stmt, 12, ag->token_limit_param);
	db_bind_i64(stmt, 13, ag->max_output_tokens);
	rc = db_step(stmt);
	store_release(stmt);
	arena_reset(&a);
	if (rc != DB_DONE)
		return agent_fail(st, db, rc, ag, "update agent");
	if (db_changes(db) == 0)
		return status_fail(st, "TASK_VERSION_CONFLICT", "agent %lld changed since version %lld was read",
				   (long long)ag->id, (long long)ag->version);
	ag->version++;
	ag->updated_at_ms = now;
	return 0;
}

static int agent_exec(struct db *db, const char *sql, int64_t id, int64_t now, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	if (store_prepare(db, sql, &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, id);
	db_bind_i64(stmt, 2, now); /* when sql has ?2: otherwise a failed bind that changes nothing */
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "delete agent");
	return db_changes(db);
}

int store_agent_delete(struct db *db, int64_t id, int *unassigned, bbb_status *st)
{
	int64_t now = clock_now_ms();
	int n;

	n = agent_exec(db,
		       "UPDATE tasks SET assignee_agent_id = NULL, updated_at = ?2, version = version + 1 "
		       "WHERE assignee_agent_id = ?1",
		       id, now, st);
	if (n < 0)
		return -1;
	*unassigned = n;
	if (agent_exec(db, "UPDATE task_runs SET agent_id = NULL, version = version + 1 WHERE agent_id = ?1", id, now,
		       st) < 0)
		return -1;
	n = agent_exec(db, "DELETE FROM agents WHERE id = ?1", id, now, st);
	if (n < 0)
		return -1;
	if (n == 0)
		return status_fail(st, "AGENT_NOT_FOUND", "agent %lld does not exist", (long long)id);
	return 0;
}
