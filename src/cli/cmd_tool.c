/*
 * beebeebrain tool finish-task|block-task|request-input: the ToolService
 * calls an agent makes, from the command line (for scripts, drills and
 * operators acting for an agent). --key is the idempotency key.
 */
#include <stdio.h>

#include "beebeebrain/v1/tool.pb-c.h"
#include "cli/cli.h"

static const char tool_usage[] =
	"beebeebrain tool finish-task ID --key K [--run RUN_ID]\n"
	"       beebeebrain tool block-task ID --key K [--reason TEXT] [--run RUN_ID]\n"
	"       beebeebrain tool request-input ID --key K --title TITLE --content TEXT [--run RUN_ID]\n"
	"A repeated --key returns the first result again (idempotency_hit) and changes nothing.";

static void tool_print_task(const ProtobufCMessage *m)
{
	/* FinishTask and BlockTask responses: task, idempotency_hit. */
	const Beebeebrain__V1__FinishTaskResponse *r = (const void *)m;

	cli_print_fields(&r->task->base);
	printf("%-18s %s\n", "idempotency_hit", r->idempotency_hit ? "true" : "false");
}

static void tool_print_input(const ProtobufCMessage *m)
{
	const Beebeebrain__V1__RequestInputResponse *r = (const void *)m;

	cli_print_fields(&r->task->base);
	printf("\ninbox item:\n");
	cli_print_fields(&r->item->base);
	printf("%-18s %s\n", "idempotency_hit", r->idempotency_hit ? "true" : "false");
}

/* ID, --key and --run: what every tool call has. */
static int tool_common(struct cli *cli, const struct cli_args *a, int64_t *task_id, char **key, int64_t *run_id)
{
	if (cli_pos_id(cli, a, 1, "task ID", task_id) != 0 || cli_opt_int64(cli, a, "--run", run_id) != 0)
		return -1;
	if (cli_opt(a, "--key") == NULL)
		return cli_usage_error(cli, "%s needs --key K (the idempotency key)", a->a_pos[0]), -1;
	*key = (char *)cli_opt(a, "--key");
	return 0;
}

static int tool_finish(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__FinishTaskRequest req = BEEBEEBRAIN__V1__FINISH_TASK_REQUEST__INIT;
	Beebeebrain__V1__FinishTaskResponse *resp = NULL;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (tool_common(cli, a, &req.task_id, &req.idempotency_key, &req.run_id) != 0)
		return CLI_USAGE;
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	rc = bbb_tool_finish_task(c, &req, &resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, tool_print_task);
}

static int tool_block(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__BlockTaskRequest req = BEEBEEBRAIN__V1__BLOCK_TASK_REQUEST__INIT;
	Beebeebrain__V1__BlockTaskResponse *resp = NULL;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (tool_common(cli, a, &req.task_id, &req.idempotency_key, &req.run_id) != 0)
		return CLI_USAGE;
	if (cli_opt(a, "--reason") != NULL)
		req.reason = (char *)cli_opt(a, "--reason");
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	rc = bbb_tool_block_task(c, &req, &resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, tool_print_task);
}

static int tool_request_input(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__RequestInputRequest req = BEEBEEBRAIN__V1__REQUEST_INPUT_REQUEST__INIT;
	Beebeebrain__V1__RequestInputResponse *resp = NULL;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (tool_common(cli, a, &req.task_id, &req.idempotency_key, &req.run_id) != 0)
		return CLI_USAGE;
	if (cli_opt(a, "--title") == NULL || cli_opt(a, "--content") == NULL)
		return cli_usage_error(cli, "request-input needs --title TITLE and --content TEXT");
	req.title = (char *)cli_opt(a, "--title");
	req.content = (char *)cli_opt(a, "--content");
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	rc = bbb_tool_request_input(c, &req, &resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, tool_print_input);
}

int cmd_tool(struct cli *cli, int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{"finish-task", "--key= --run=", 1, tool_finish},
		{"block-task", "--key= --reason= --run=", 1, tool_block},
		{"request-input", "--key= --title= --content= --run=", 1, tool_request_input},
	};

	return cli_run_sub(cli, argc, argv, subs, sizeof(subs) / sizeof(subs[0]), tool_usage);
}
