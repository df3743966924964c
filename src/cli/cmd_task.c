/* beebeebrain task create|get|list */
#include <stdio.h>
#include <string.h>

#include "beebeebrain/v1/task.pb-c.h"
#include "cli/cli.h"

static const char task_usage[] =
	"beebeebrain task create --project ID --title TITLE [--description TEXT] [--priority 1-5]\n"
	"                        [--assignee AGENT_ID] [--parent TASK_ID] [--due-at RFC3339]\n"
	"       beebeebrain task get ID\n"
	"       beebeebrain task list [--project ID] [--status S] [--assignee ID] [--limit N] [--page-token T]\n"
	"--project may be left out while a project named 'default' exists.\n"
	"statuses: todo|running|review|done|blocked|failed|cancelled";

#define TASK_COLUMNS "id,status,priority,assignee_agent_id,project_id,title"

static void task_print_one(const ProtobufCMessage *m)
{
	const Beebeebrain__V1__GetTaskResponse *r = (const void *)m;

	cli_print_fields(&r->task->base);
}

static void task_print_list(const ProtobufCMessage *m)
{
	const Beebeebrain__V1__ListTasksResponse *r = (const void *)m;

	cli_print_table((ProtobufCMessage *const *)r->tasks, r->n_tasks, TASK_COLUMNS);
	if (r->next_page_token[0] != '\0')
		printf("next page: --page-token %s\n", r->next_page_token);
}

static int task_create(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__CreateTaskRequest req = BEEBEEBRAIN__V1__CREATE_TASK_REQUEST__INIT;
	Beebeebrain__V1__CreateTaskResponse *resp;
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
	if (bbb_task_create_task(c, &req, &resp, &st) != 0)
		return cli_report(&st);
	return cli_output(cli, &resp->base, task_print_one);
}

static int task_get(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__GetTaskRequest req = BEEBEEBRAIN__V1__GET_TASK_REQUEST__INIT;
	Beebeebrain__V1__GetTaskResponse *resp;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (cli_pos_id(cli, a, 1, "task ID", &req.task_id) != 0)
		return CLI_USAGE;
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	if (bbb_task_get_task(c, &req, &resp, &st) != 0)
		return cli_report(&st);
	return cli_output(cli, &resp->base, task_print_one);
}

static int task_list(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__ListTasksRequest req = BEEBEEBRAIN__V1__LIST_TASKS_REQUEST__INIT;
	Beebeebrain__V1__ListTasksResponse *resp;
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
	if (bbb_task_list_tasks(c, &req, &resp, &st) != 0)
		return cli_report(&st);
	return cli_output(cli, &resp->base, task_print_list);
}

int cmd_task(struct cli *cli, int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{"create", "--project= --title= --description= --priority= --assignee= --parent= --due-at=", 0,
		 task_create},
		{"get", "", 1, task_get},
		{"list", "--project= --status= --assignee= --limit= --page-token=", 0, task_list},
	};

	return cli_run_sub(cli, argc, argv, subs, sizeof(subs) / sizeof(subs[0]), task_usage);
}
