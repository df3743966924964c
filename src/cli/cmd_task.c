/*
 * beebeebrain task: create|get|list|update|delete, the operator commands
 * pause|resume|retry|cancel, broadcast, deps add|remove, ready and run
 * (docs/cli.md). Each subcommand builds its request, calls the typed
 * client function and prints the response (-o json: proto3 JSON).
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "beebeebrain/v1/task.pb-c.h"
#include "cli/cli.h"
#include "common/enum_text.h"

static const char task_usage[] =
	"beebeebrain task create --project ID --title TITLE [--description TEXT] [--priority 1-5]\n"
	"                        [--assignee AGENT_ID] [--parent TASK_ID] [--due-at RFC3339]\n"
	"       beebeebrain task get ID\n"
	"       beebeebrain task list [--project ID] [--status S] [--assignee ID] [--limit N] [--page-token T]\n"
	"       beebeebrain task update ID [--title T] [--description D] [--status S] [--priority N]\n"
	"                        [--assignee ID] [--due-at RFC3339] [--expected-version V] [--actor NAME]\n"
	"       beebeebrain task delete ID [--expected-version V]\n"
	"       beebeebrain task pause|resume|retry|cancel ID [--expected-version V] [--actor NAME]\n"
	"       beebeebrain task broadcast pause|resume|retry|cancel --project ID [--ids 1,2,3] [--status S]\n"
	"                        [--limit N] [--expected-versions V1,V2,V3] [--actor NAME]\n"
	"       beebeebrain task deps add ID --on OTHER_ID [--type finish_to_start]\n"
	"       beebeebrain task deps remove ID --on OTHER_ID\n"
	"       beebeebrain task ready --project ID [--limit N] [--page-token T]\n"
	"       beebeebrain task run ID --prompt TEXT [--provider P] [--model M] [--system TEXT] [--max-turns N]\n"
	"                        [--timeout S] [--max-output-tokens N] [--idempotency-key K] [--wait]\n"
	"--project may be left out while a project named 'default' exists; `task list` without it lists all.\n"
	"update: --assignee 0 unassigns; only the options given are changed.\n"
	"broadcast: without --ids and --status, selects the tasks the command applies to (pause: running,\n"
	"  resume: blocked, retry: failed|cancelled, cancel: every unfinished task), at most --limit (200).\n"
	"statuses: todo|running|review|done|blocked|failed|cancelled\n"
	"dependency types: finish_to_start|start_to_start|finish_to_finish|start_to_finish";

#define TASK_COLUMNS "id,status,priority,assignee_agent_id,project_id,version,title"

static void task_print_one(const ProtobufCMessage *m)
{
	/* Every response printed here holds one `task` as its first field. */
	const Beebeebrain__V1__GetTaskResponse *r = (const void *)m;

	if (r->task != NULL)
		cli_print_fields(&r->task->base);
}

static void task_print_list(const ProtobufCMessage *m)
{
	const Beebeebrain__V1__ListTasksResponse *r = (const void *)m;

	cli_print_table((ProtobufCMessage *const *)r->tasks, r->n_tasks, TASK_COLUMNS);
	if (r->next_page_token[0] != '\0')
		printf("next page: --page-token %s\n", r->next_page_token);
}

static void task_print_ready(const ProtobufCMessage *m)
{
	const Beebeebrain__V1__ListReadyTasksResponse *r = (const void *)m;

	cli_print_table((ProtobufCMessage *const *)r->tasks, r->n_tasks, TASK_COLUMNS);
	if (r->next_page_token[0] != '\0')
		printf("next page: --page-token %s\n", r->next_page_token);
}

static void task_print_ok(const ProtobufCMessage *m)
{
	(void)m;
	printf("ok\n");
}

static void task_print_broadcast(const ProtobufCMessage *m)
{
	const Beebeebrain__V1__BroadcastCommandResponse *r = (const void *)m;

	cli_print_table((ProtobufCMessage *const *)r->results, r->n_results, "task_id,outcome,reason,message");
	printf("applied %d, rejected %d, conflict %d\n", r->applied, r->rejected, r->conflict);
}

static void task_print_dependency(const ProtobufCMessage *m)
{
	const Beebeebrain__V1__AddDependencyResponse *r = (const void *)m;

	cli_print_fields(&r->dependency->base);
}

static void task_print_run(const ProtobufCMessage *m)
{
	const Beebeebrain__V1__RunTaskResponse *r = (const void *)m;

	cli_print_fields(&r->run->base);
}

static int task_create(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__CreateTaskRequest req = BEEBEEBRAIN__V1__CREATE_TASK_REQUEST__INIT;
	Beebeebrain__V1__CreateTaskResponse *resp = NULL;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (cli_opt(a, "--title") == NULL)
		return cli_usage_error(cli, "task create needs --title TITLE");
	if (cli_opt_int64(cli, a, "--project", &req.project_id) != 0 ||
	    cli_opt_int32(cli, a, "--priority", &req.priority) != 0 ||
	    cli_opt_int64(cli, a, "--assignee", &req.assignee_agent_id) != 0 ||
	    cli_opt_int64(cli, a, "--parent", &req.parent_task_id) != 0 ||
	    cli_opt_time(cli, a, "--due-at", &req.due_at_ms) != 0)
		return CLI_USAGE;
	req.title = (char *)cli_opt(a, "--title");
	if (cli_opt(a, "--description") != NULL)
		req.description = (char *)cli_opt(a, "--description");
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	rc = bbb_task_create_task(c, &req, &resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, task_print_one);
}

static int task_get(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__GetTaskRequest req = BEEBEEBRAIN__V1__GET_TASK_REQUEST__INIT;
	Beebeebrain__V1__GetTaskResponse *resp = NULL;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (cli_pos_id(cli, a, 1, "task ID", &req.task_id) != 0)
		return CLI_USAGE;
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	rc = bbb_task_get_task(c, &req, &resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, task_print_one);
}

static int task_list(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__ListTasksRequest req = BEEBEEBRAIN__V1__LIST_TASKS_REQUEST__INIT;
	Beebeebrain__V1__ListTasksResponse *resp = NULL;
	int status = 0;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (cli_opt_int64(cli, a, "--project", &req.project_id) != 0 ||
	    cli_opt_enum(cli, a, "--status", &beebeebrain__v1__task_status__descriptor, &status) != 0 ||
	    cli_opt_int64(cli, a, "--assignee", &req.assignee_agent_id) != 0 ||
	    cli_opt_int32(cli, a, "--limit", &req.limit) != 0)
		return CLI_USAGE;
	req.status = (Beebeebrain__V1__TaskStatus)status;
	if (cli_opt(a, "--page-token") != NULL)
		req.page_token = (char *)cli_opt(a, "--page-token");
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	rc = cli_list_pages(c, &beebeebrain__v1__task_service__descriptor, "ListTasks", &req.base, 50,
			    (ProtobufCMessage **)&resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, task_print_list);
}

static int task_update(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__UpdateTaskRequest req = BEEBEEBRAIN__V1__UPDATE_TASK_REQUEST__INIT;
	Beebeebrain__V1__UpdateTaskResponse *resp = NULL;
	/* Option -> update_mask name; only options given are sent in the mask. */
	static const char *const fields[][2] = {
		{"--title", "title"},       {"--description", "description"},    {"--status", "status"},
		{"--priority", "priority"}, {"--assignee", "assignee_agent_id"}, {"--due-at", "due_at_ms"},
	};
	char *mask[sizeof(fields) / sizeof(fields[0])];
	int status = 0;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (cli_pos_id(cli, a, 1, "task ID", &req.task_id) != 0 ||
	    cli_opt_enum(cli, a, "--status", &beebeebrain__v1__task_status__descriptor, &status) != 0 ||
	    cli_opt_int32(cli, a, "--priority", &req.priority) != 0 ||
	    cli_opt_int64(cli, a, "--assignee", &req.assignee_agent_id) != 0 ||
	    cli_opt_time(cli, a, "--due-at", &req.due_at_ms) != 0 ||
	    cli_opt_int64(cli, a, "--expected-version", &req.expected_version) != 0)
		return CLI_USAGE;
	req.status = (Beebeebrain__V1__TaskStatus)status;
	if (cli_opt(a, "--title") != NULL)
		req.title = (char *)cli_opt(a, "--title");
	if (cli_opt(a, "--description") != NULL)
		req.description = (char *)cli_opt(a, "--description");
	if (cli_opt(a, "--actor") != NULL)
		req.actor = (char *)cli_opt(a, "--actor");
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (cli_opt(a, fields[i][0]) != NULL)
			mask[req.n_update_mask++] = (char *)fields[i][1];
	if (req.n_update_mask == 0)
		return cli_usage_error(cli, "task update needs at least one of --title, --description, --status, "
					    "--priority, --assignee, --due-at");
	req.update_mask = mask;
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	rc = bbb_task_update_task(c, &req, &resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, task_print_one);
}

static int task_delete(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__DeleteTaskRequest req = BEEBEEBRAIN__V1__DELETE_TASK_REQUEST__INIT;
	Beebeebrain__V1__DeleteTaskResponse *resp = NULL;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (cli_pos_id(cli, a, 1, "task ID", &req.task_id) != 0 ||
	    cli_opt_int64(cli, a, "--expected-version", &req.expected_version) != 0)
		return CLI_USAGE;
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	rc = bbb_task_delete_task(c, &req, &resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, task_print_ok);
}

/* pause, resume, retry and cancel: the same arguments, four methods. */
static int task_command(struct cli *cli, const struct cli_args *a)
{
	const char *cmd = a->a_pos[0];
	/* The four requests share one layout: task_id, expected_version, actor, trace_id. */
	Beebeebrain__V1__PauseTaskRequest req = BEEBEEBRAIN__V1__PAUSE_TASK_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (cli_pos_id(cli, a, 1, "task ID", &req.task_id) != 0 ||
	    cli_opt_int64(cli, a, "--expected-version", &req.expected_version) != 0)
		return CLI_USAGE;
	if (cli_opt(a, "--actor") != NULL)
		req.actor = (char *)cli_opt(a, "--actor");
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	if (strcmp(cmd, "pause") == 0) {
		Beebeebrain__V1__PauseTaskResponse *r = NULL;
		rc = bbb_task_pause_task(c, &req, &r, &st);
		resp = (ProtobufCMessage *)r;
	} else if (strcmp(cmd, "resume") == 0) {
		Beebeebrain__V1__ResumeTaskRequest q = BEEBEEBRAIN__V1__RESUME_TASK_REQUEST__INIT;
		Beebeebrain__V1__ResumeTaskResponse *r = NULL;
		q.task_id = req.task_id;
		q.expected_version = req.expected_version;
		q.actor = req.actor;
		rc = bbb_task_resume_task(c, &q, &r, &st);
		resp = (ProtobufCMessage *)r;
	} else if (strcmp(cmd, "retry") == 0) {
		Beebeebrain__V1__RetryTaskRequest q = BEEBEEBRAIN__V1__RETRY_TASK_REQUEST__INIT;
		Beebeebrain__V1__RetryTaskResponse *r = NULL;
		q.task_id = req.task_id;
		q.expected_version = req.expected_version;
		q.actor = req.actor;
		rc = bbb_task_retry_task(c, &q, &r, &st);
		resp = (ProtobufCMessage *)r;
	} else {
		Beebeebrain__V1__CancelTaskRequest q = BEEBEEBRAIN__V1__CANCEL_TASK_REQUEST__INIT;
		Beebeebrain__V1__CancelTaskResponse *r = NULL;
		q.task_id = req.task_id;
		q.expected_version = req.expected_version;
		q.actor = req.actor;
		rc = bbb_task_cancel_task(c, &q, &r, &st);
		resp = (ProtobufCMessage *)r;
	}
	return cli_done(cli, rc, &st, resp, task_print_one);
}

static int task_broadcast(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__BroadcastCommandRequest req = BEEBEEBRAIN__V1__BROADCAST_COMMAND_REQUEST__INIT;
	Beebeebrain__V1__BroadcastCommandResponse *resp = NULL;
	int64_t ids[200], versions[200];
	int cmd = 0, status = 0;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (a->a_npos < 2)
		return cli_usage_error(cli, "task broadcast needs a command: pause, resume, retry or cancel");
	if (enum_from_text(&beebeebrain__v1__task_command__descriptor, a->a_pos[1], &cmd) != 0)
		return cli_usage_error(cli, "unknown broadcast command '%s' (pause, resume, retry or cancel)",
				       a->a_pos[1]);
	req.command = (Beebeebrain__V1__TaskCommand)cmd;
	if (cli_opt_int64(cli, a, "--project", &req.project_id) != 0 ||
	    cli_opt_enum(cli, a, "--status", &beebeebrain__v1__task_status__descriptor, &status) != 0 ||
	    cli_opt_int32(cli, a, "--limit", &req.limit) != 0)
		return CLI_USAGE;
	req.status = (Beebeebrain__V1__TaskStatus)status;
	if (cli_opt(a, "--ids") != NULL) {
		if (cli_parse_id_list(cli, "--ids", cli_opt(a, "--ids"), ids, 200, &req.n_task_ids) != 0)
			return CLI_USAGE;
		req.task_ids = ids;
	}
	if (cli_opt(a, "--expected-versions") != NULL) {
		if (cli_parse_id_list(cli, "--expected-versions", cli_opt(a, "--expected-versions"), versions, 200,
				      &req.n_expected_versions) != 0)
			return CLI_USAGE;
		req.expected_versions = versions;
	}
	if (cli_opt(a, "--actor") != NULL)
		req.actor = (char *)cli_opt(a, "--actor");
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	rc = bbb_task_broadcast_command(c, &req, &resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, task_print_broadcast);
}

static int task_deps(struct cli *cli, const struct cli_args *a)
{
	const char *sub = a->a_npos > 1 ? a->a_pos[1] : "";
	int64_t task_id, on = 0;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (strcmp(sub, "add") != 0 && strcmp(sub, "remove") != 0)
		return cli_usage_error(cli, "task deps needs add or remove");
	if (cli_pos_id(cli, a, 2, "task ID", &task_id) != 0 || cli_opt_int64(cli, a, "--on", &on) != 0)
		return CLI_USAGE;
	if (on < 1)
		return cli_usage_error(cli, "task deps %s needs --on OTHER_ID", sub);
	if (strcmp(sub, "add") == 0) {
		Beebeebrain__V1__AddDependencyRequest req = BEEBEEBRAIN__V1__ADD_DEPENDENCY_REQUEST__INIT;
		Beebeebrain__V1__AddDependencyResponse *resp = NULL;
		int type = 0;

		if (cli_opt_enum(cli, a, "--type", &beebeebrain__v1__dependency_type__descriptor, &type) != 0)
			return CLI_USAGE;
		req.task_id = task_id;
		req.depends_on_task_id = on;
		req.dependency_type = (Beebeebrain__V1__DependencyType)type;
		if ((c = cli_client(cli, &rc)) == NULL)
			return rc;
		rc = bbb_task_add_dependency(c, &req, &resp, &st);
		return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, task_print_dependency);
	} else {
		Beebeebrain__V1__RemoveDependencyRequest req = BEEBEEBRAIN__V1__REMOVE_DEPENDENCY_REQUEST__INIT;
		Beebeebrain__V1__RemoveDependencyResponse *resp = NULL;

		if (cli_opt(a, "--type") != NULL)
			return cli_usage_error(cli, "task deps remove takes no --type");
		req.task_id = task_id;
		req.depends_on_task_id = on;
		if ((c = cli_client(cli, &rc)) == NULL)
			return rc;
		rc = bbb_task_remove_dependency(c, &req, &resp, &st);
		return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, task_print_ok);
	}
}

static int task_ready(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__ListReadyTasksRequest req = BEEBEEBRAIN__V1__LIST_READY_TASKS_REQUEST__INIT;
	Beebeebrain__V1__ListReadyTasksResponse *resp = NULL;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (cli_opt_int64(cli, a, "--project", &req.project_id) != 0 ||
	    cli_opt_int32(cli, a, "--limit", &req.limit) != 0)
		return CLI_USAGE;
	if (cli_opt(a, "--page-token") != NULL)
		req.page_token = (char *)cli_opt(a, "--page-token");
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	rc = cli_list_pages(c, &beebeebrain__v1__task_service__descriptor, "ListReadyTasks", &req.base, 50,
			    (ProtobufCMessage **)&resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, task_print_ready);
}

static int task_run(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__RunTaskRequest req = BEEBEEBRAIN__V1__RUN_TASK_REQUEST__INIT;
	Beebeebrain__V1__RunTaskResponse *resp = NULL;
	static const struct {
		const char *opt;
		size_t off;
	} texts[] = {
		{"--prompt", offsetof(Beebeebrain__V1__RunTaskRequest, prompt)},
		{"--provider", offsetof(Beebeebrain__V1__RunTaskRequest, provider)},
		{"--model", offsetof(Beebeebrain__V1__RunTaskRequest, model)},
		{"--system", offsetof(Beebeebrain__V1__RunTaskRequest, system_prompt)},
		{"--idempotency-key", offsetof(Beebeebrain__V1__RunTaskRequest, idempotency_key)},
	};
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (cli_pos_id(cli, a, 1, "task ID", &req.task_id) != 0 ||
	    cli_opt_int32(cli, a, "--max-turns", &req.max_turns) != 0 ||
	    cli_opt_int32(cli, a, "--timeout", &req.timeout_seconds) != 0 ||
	    cli_opt_int32(cli, a, "--max-output-tokens", &req.max_output_tokens) != 0)
		return CLI_USAGE;
	if (cli_opt(a, "--prompt") == NULL)
		return cli_usage_error(cli, "task run needs --prompt TEXT");
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (cli_opt(a, texts[i].opt) != NULL)
			*(char **)((char *)&req + texts[i].off) = (char *)cli_opt(a, texts[i].opt);
	req.wait = cli_flag(a, "--wait");
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	/* The server answers a waiting call when the run is final, or after 10
	 * minutes with the run as it is: wait a little longer than that. */
	if (req.wait)
		bbb_client_set_timeout(c, 11 * 60 * 1000);
	rc = bbb_task_run_task(c, &req, &resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, task_print_run);
}

int cmd_task(struct cli *cli, int argc, char **argv)
{
	static const char cmd_opts[] = "--expected-version= --actor=";
	static const struct cli_sub subs[] = {
		{"create", "--project= --title= --description= --priority= --assignee= --parent= --due-at=", 0,
		 task_create},
		{"get", "", 1, task_get},
		{"list", "--project= --status= --assignee= --limit= --page-token=", 0, task_list},
		{"update",
		 "--title= --description= --status= --priority= --assignee= --due-at= --expected-version= --actor=", 1,
		 task_update},
		{"delete", "--expected-version=", 1, task_delete},
		{"pause", cmd_opts, 1, task_command},
		{"resume", cmd_opts, 1, task_command},
		{"retry", cmd_opts, 1, task_command},
		{"cancel", cmd_opts, 1, task_command},
		{"broadcast", "--project= --ids= --status= --limit= --expected-versions= --actor=", 1, task_broadcast},
		{"deps", "--on= --type=", 2, task_deps},
		{"ready", "--project= --limit= --page-token=", 0, task_ready},
		{"run",
		 "--prompt= --provider= --model= --system= --max-turns= --timeout= --max-output-tokens= "
		 "--idempotency-key= --wait",
		 1, task_run},
	};

	return cli_run_sub(cli, argc, argv, subs, sizeof(subs) / sizeof(subs[0]), task_usage);
}
