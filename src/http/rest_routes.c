/*
 * The original backend's REST routes as data (see rest.h): for each, the
 * RPC it maps to, where each of the original's inputs comes from and which
 * request field it fills, and the shape of the answer. Ranges and defaults
 * written here are the original's for its query parameters; every other
 * rule is the RPC handler's.
 *
 * Order matters only where two patterns match the same path:
 * /api/v1/tasks/broadcast/{command} comes before /api/v1/tasks/{id}/...
 */
#include "http/rest.h"

#define SVC(s, m) "/beebeebrain.v1." s "/" m
#define PATH(name, field)                                                                                              \
	{                                                                                                              \
		REST_PATH, name, field, 0, 0, 0, NULL                                                                  \
	}
#define QUERY(name, field)                                                                                             \
	{                                                                                                              \
		REST_QUERY, name, field, 0, 0, 0, NULL                                                                 \
	}
#define QUERY_RANGE(name, field, lo, hi, dflt)                                                                         \
	{                                                                                                              \
		REST_QUERY, name, field, 0, lo, hi, dflt                                                               \
	}
#define BODY(name, field)                                                                                              \
	{                                                                                                              \
		REST_BODY, name, field, 0, 0, 0, NULL                                                                  \
	}
#define BODY_F(name, field, flags)                                                                                     \
	{                                                                                                              \
		REST_BODY, name, field, flags, 0, 0, NULL                                                              \
	}
#define BODY_DEFAULT(name, field, dflt)                                                                                \
	{                                                                                                              \
		REST_BODY, name, field, 0, 0, 0, dflt                                                                  \
	}
#define END                                                                                                            \
	{                                                                                                              \
		0, NULL, NULL, 0, 0, 0, NULL                                                                           \
	}
/* The paging of the original's lists: limit 1..max (default dflt), offset >= 0. */
#define PAGE(max, dflt) QUERY_RANGE("limit", "limit", 1, max, dflt), QUERY_RANGE("offset", "offset", 0, 1000000000, "0")

/* ---- projects (the original had none: its database held project 1) */

static const struct rest_param project_list[] = {PAGE(100, "50"), END};
static const struct rest_param project_create[] = {
	BODY_F("name", "name", RP_REQUIRED),
	BODY_F("root_path", "root_path", RP_REQUIRED),
	END,
};
static const struct rest_param project_get[] = {PATH("project_id", "project_id"), END};

/* ---- agents */

static const struct rest_param agent_list[] = {
	QUERY("project_id", "project_id"),
	QUERY("status", "status"),
	PAGE(100, "50"),
	END,
};
#define AGENT_FIELDS                                                                                                   \
	BODY("name", "name"), BODY("role", "role"), BODY("model_provider", "model_provider"),                          \
		BODY("model_name", "model_name"), BODY("initial_persona_prompt", "persona_prompt"),                    \
		BODY("enabled_tools_json", "enabled_tools"), BODY("status", "status"),                                 \
		BODY("max_concurrency", "max_concurrency"), BODY("max_output_tokens", "max_output_tokens"),            \
		BODY("token_limit_param", "token_limit_param")
static const struct rest_param agent_create[] = {
	BODY_F("project_id", "project_id", RP_REQUIRED),
	AGENT_FIELDS,
	END,
};
static const struct rest_param agent_get[] = {PATH("agent_id", "agent_id"), END};
static const struct rest_param agent_update[] = {
	PATH("agent_id", "agent_id"),
	AGENT_FIELDS,
	END,
};

/* ---- tasks */

static const struct rest_param task_list[] = {
	QUERY("project_id", "project_id"),
	QUERY("status", "status"),
	QUERY("assignee_agent_id", "assignee_agent_id"),
	PAGE(100, "50"),
	END,
};
static const struct rest_param task_create[] = {
	BODY_F("project_id", "project_id", RP_REQUIRED),
	BODY_F("title", "title", RP_REQUIRED),
	BODY("description", "description"),
	BODY("status", "status"),
	BODY("priority", "priority"),
	BODY("assignee_agent_id", "assignee_agent_id"),
	BODY("parent_task_id", "parent_task_id"),
	BODY_F("due_at", "due_at_ms", RP_TIME),
	BODY_F("trace_id", NULL, RP_TRACE),
	BODY("actor", NULL),
	BODY("run_id", NULL),
	END,
};
static const struct rest_param task_get[] = {PATH("task_id", "task_id"), END};
static const struct rest_param task_update[] = {
	PATH("task_id", "task_id"),
	BODY("title", "title"),
	BODY("description", "description"),
	BODY("status", "status"),
	BODY("priority", "priority"),
	BODY("assignee_agent_id", "assignee_agent_id"),
	BODY("parent_task_id", "parent_task_id"),
	BODY_F("due_at", "due_at_ms", RP_TIME),
	BODY_F("expected_version", "expected_version", RP_NO_MASK),
	BODY_F("actor", "actor", RP_NO_MASK),
	BODY_F("trace_id", NULL, RP_TRACE),
	END,
};
static const struct rest_param task_command[] = {
	PATH("task_id", "task_id"), BODY("expected_version", "expected_version"),
	BODY("actor", "actor"),     BODY_F("trace_id", "trace_id", RP_TRACE),
	BODY("run_id", NULL),       END,
};
static const struct rest_param task_broadcast[] = {
	PATH("command", "command"),
	BODY_F("project_id", "project_id", RP_REQUIRED),
	BODY("task_ids", "task_ids"),
	BODY("status", "status"),
	BODY("limit", "limit"),
	BODY_F("expected_version", "expected_versions", RP_PER_ID),
	BODY("actor", "actor"),
	BODY_F("trace_id", NULL, RP_TRACE),
	END,
};
static const struct rest_param task_run[] = {
	PATH("task_id", "task_id"),
	BODY("prompt", "prompt"),
	BODY("provider", "provider"),
	BODY("model", "model"),
	BODY("system_prompt", "system_prompt"),
	BODY("session_id", NULL),
	BODY("idempotency_key", "idempotency_key"),
	BODY("max_turns", "max_turns"),
	BODY("timeout_seconds", "timeout_seconds"),
	BODY("max_output_tokens", "max_output_tokens"),
	BODY_F("trace_id", NULL, RP_TRACE),
	BODY("actor", NULL),
	END,
};

/* ---- tools */

#define TOOL_COMMON                                                                                                    \
	BODY_F("task_id", "task_id", RP_REQUIRED), BODY_F("idempotency_key", "idempotency_key", RP_REQUIRED),          \
		BODY("run_id", "run_id"), BODY_F("trace_id", NULL, RP_TRACE), BODY("actor", NULL)
static const struct rest_param tool_finish[] = {TOOL_COMMON, END};
static const struct rest_param tool_block[] = {TOOL_COMMON, BODY("reason", "reason"), END};
static const struct rest_param tool_input[] = {TOOL_COMMON, BODY("title", "title"), BODY("content", "content"), END};

/* ---- inbox, logs, metrics */

static const struct rest_param inbox_list[] = {
	QUERY("project_id", "project_id"),
	QUERY("item_type", "item_type"),
	QUERY("status", "status"),
	PAGE(100, "50"),
	END,
};
static const struct rest_param inbox_close[] = {
	PATH("item_id", "item_id"),
	BODY("user_input", "user_input"),
	BODY_DEFAULT("resolver", "resolver", "user"),
	BODY("expected_version", "expected_version"),
	BODY_F("trace_id", NULL, RP_TRACE),
	END,
};
static const struct rest_param log_list[] = {
	QUERY("project_id", "project_id"),
	QUERY("task_id", "task_id"),
	QUERY("run_id", "run_id"),
	QUERY("level", "level"),
	PAGE(200, "50"),
	END,
};
static const struct rest_param runs_summary[] = {
	QUERY("project_id", "project_id"),
	{REST_QUERY, "started_from", "from_ms", RP_TIME, 0, 0, NULL},
	{REST_QUERY, "started_to", "to_ms", RP_TIME, 0, 0, NULL},
	END,
};
static const struct rest_param usage_daily[] = {
	QUERY("provider", "provider"),
	QUERY("model_name", "model"),
	QUERY("date_from", "from_date"),
	QUERY("date_to", "to_date"),
	PAGE(365, "90"),
	END,
};

/* Where our refusal is named otherwise by the original. */
static const struct rest_remap task_create_as[] = {
	{"TASK_NOT_FOUND", NULL, "INVALID_TASK_DEPENDENCY"}, /* the parent */
	{"VALIDATION_ERROR", "status", "INVALID_TASK_TRANSITION"}, /* an initial status other than todo */
	{NULL, NULL, NULL},
};
static const struct rest_remap task_run_as[] = {
	{"VALIDATION_ERROR", "provider", "INVALID_ASSIGNEE"}, /* no assignee to take the provider from */
	{NULL, NULL, NULL},
};

const struct rest_route rest_routes[] = {
	{"GET", "/api/v1/projects", SVC("ProjectService", "ListProjects"), 200, 0, RS_LIST, "projects", project_list,
	 NULL},
	{"POST", "/api/v1/projects", SVC("ProjectService", "CreateProject"), 201, 0, RS_ONE, "project", project_create,
	 NULL},
	{"GET", "/api/v1/projects/{id}", SVC("ProjectService", "GetProject"), 200, 0, RS_ONE, "project", project_get,
	 NULL},

	{"GET", "/api/v1/agents", SVC("AgentService", "ListAgents"), 200, 0, RS_LIST, "agents", agent_list, NULL},
	{"POST", "/api/v1/agents", SVC("AgentService", "CreateAgent"), 201, 0, RS_ONE, "agent", agent_create, NULL},
	{"GET", "/api/v1/agents/{id}", SVC("AgentService", "GetAgent"), 200, 0, RS_ONE, "agent", agent_get, NULL},
	{"PATCH", "/api/v1/agents/{id}", SVC("AgentService", "UpdateAgent"), 200, RT_MASK, RS_ONE, "agent",
	 agent_update, NULL},
	{"DELETE", "/api/v1/agents/{id}", SVC("AgentService", "DeleteAgent"), 204, 0, RS_EMPTY, NULL, agent_get, NULL},

	{"GET", "/api/v1/tasks", SVC("TaskService", "ListTasks"), 200, 0, RS_LIST, "tasks", task_list, NULL},
	{"POST", "/api/v1/tasks", SVC("TaskService", "CreateTask"), 201, 0, RS_ONE, "task", task_create,
	 task_create_as},
	{"POST", "/api/v1/tasks/broadcast/{command}", SVC("TaskService", "BroadcastCommand"), 200,
	 RT_BODY_REQUIRED | RT_RUNNING_BY_DEFAULT, RS_BROADCAST, NULL, task_broadcast, NULL},
	{"GET", "/api/v1/tasks/{id}", SVC("TaskService", "GetTask"), 200, 0, RS_ONE, "task", task_get, NULL},
	{"PATCH", "/api/v1/tasks/{id}", SVC("TaskService", "UpdateTask"), 200, RT_MASK, RS_ONE, "task", task_update,
	 NULL},
	{"DELETE", "/api/v1/tasks/{id}", SVC("TaskService", "DeleteTask"), 204, 0, RS_EMPTY, NULL, task_get, NULL},
	{"POST", "/api/v1/tasks/{id}/pause", SVC("TaskService", "PauseTask"), 200, RT_BODY_REQUIRED, RS_ONE, "task",
	 task_command, NULL},
	{"POST", "/api/v1/tasks/{id}/resume", SVC("TaskService", "ResumeTask"), 200, RT_BODY_REQUIRED, RS_ONE, "task",
	 task_command, NULL},
	{"POST", "/api/v1/tasks/{id}/retry", SVC("TaskService", "RetryTask"), 200, RT_BODY_REQUIRED, RS_ONE, "task",
	 task_command, NULL},
	{"POST", "/api/v1/tasks/{id}/cancel", SVC("TaskService", "CancelTask"), 200, RT_BODY_REQUIRED, RS_ONE, "task",
	 task_command, NULL},
	{"POST", "/api/v1/tasks/{id}/run", SVC("TaskService", "RunTask"), 200, RT_WAIT, RS_ONE, "run", task_run,
	 task_run_as},

	{"POST", "/api/v1/tools/finish_task", SVC("ToolService", "FinishTask"), 200, RT_BODY_REQUIRED, RS_TOOL, NULL,
	 tool_finish, NULL},
	{"POST", "/api/v1/tools/block_task", SVC("ToolService", "BlockTask"), 200, RT_BODY_REQUIRED, RS_TOOL, NULL,
	 tool_block, NULL},
	{"POST", "/api/v1/tools/request_input", SVC("ToolService", "RequestInput"), 200, RT_BODY_REQUIRED, RS_TOOL,
	 NULL, tool_input, NULL},

	{"GET", "/api/v1/inbox", SVC("InboxService", "ListItems"), 200, 0, RS_LIST, "items", inbox_list, NULL},
	{"POST", "/api/v1/inbox/{id}/close", SVC("InboxService", "CloseItem"), 200, 0, RS_ONE, "item", inbox_close,
	 NULL},

	{"GET", "/api/v1/logs", SVC("LogService", "QueryLogs"), 200, 0, RS_LIST, "lines", log_list, NULL},

	{"GET", "/api/v1/metrics/runs-summary", SVC("MetricsService", "RunsSummary"), 200, 0, RS_RUNS_SUMMARY, NULL,
	 runs_summary, NULL},
	{"GET", "/api/v1/metrics/usage-daily", SVC("MetricsService", "UsageDaily"), 200, 0, RS_LIST, "days",
	 usage_daily, NULL},
};

const size_t rest_n_routes = sizeof(rest_routes) / sizeof(rest_routes[0]);
