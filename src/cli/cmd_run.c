/* beebeebrain run get|list: runs of tasks and their provider calls. */
#include <stdio.h>

#include "beebeebrain/v1/task.pb-c.h"
#include "cli/cli.h"

static const char run_usage[] = "beebeebrain run get RUN_ID\n"
				"       beebeebrain run list [--task ID] [--status S] [--limit N] [--page-token T]\n"
				"run statuses: queued|running|succeeded|failed|retry_scheduled|interrupted|cancelled";

static void run_print_one(const ProtobufCMessage *m)
{
	const Beebeebrain__V1__GetRunResponse *r = (const void *)m;

	cli_print_fields(&r->run->base);
	if (r->n_attempts > 0) {
		printf("\nprovider calls:\n");
		cli_print_table(
			(ProtobufCMessage *const *)r->attempts, r->n_attempts,
			"n,started_at_ms,ended_at_ms,http_status,error_code,token_in,token_out,cache_read_tokens,"
			"cache_write_tokens,cost_unknown");
	}
}

static void run_print_list(const ProtobufCMessage *m)
{
	const Beebeebrain__V1__ListRunsResponse *r = (const void *)m;

	cli_print_table((ProtobufCMessage *const *)r->runs, r->n_runs,
			"id,task_id,run_status,attempt,provider,model,idempotency_key,created_at_ms");
	if (r->next_page_token[0] != '\0')
		printf("next page: --page-token %s\n", r->next_page_token);
}

static int run_get(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__GetRunRequest req = BEEBEEBRAIN__V1__GET_RUN_REQUEST__INIT;
	Beebeebrain__V1__GetRunResponse *resp = NULL;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (cli_pos_id(cli, a, 1, "run ID", &req.run_id) != 0)
		return CLI_USAGE;
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	rc = bbb_task_get_run(c, &req, &resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, run_print_one);
}

static int run_list(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__ListRunsRequest req = BEEBEEBRAIN__V1__LIST_RUNS_REQUEST__INIT;
	Beebeebrain__V1__ListRunsResponse *resp = NULL;
	int status = 0;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (cli_opt_int64(cli, a, "--task", &req.task_id) != 0 ||
	    cli_opt_enum(cli, a, "--status", &beebeebrain__v1__run_status__descriptor, &status) != 0 ||
	    cli_opt_int32(cli, a, "--limit", &req.limit) != 0)
		return CLI_USAGE;
	req.status = (Beebeebrain__V1__RunStatus)status;
	if (cli_opt(a, "--page-token") != NULL)
		req.page_token = (char *)cli_opt(a, "--page-token");
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	rc = cli_list_pages(c, &beebeebrain__v1__task_service__descriptor, "ListRuns", &req.base, 50,
			    (ProtobufCMessage **)&resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, run_print_list);
}

int cmd_run(struct cli *cli, int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{"get", "", 1, run_get},
		{"list", "--task= --status= --limit= --page-token=", 0, run_list},
	};

	return cli_run_sub(cli, argc, argv, subs, sizeof(subs) / sizeof(subs[0]), run_usage);
}
