/*
 * beebeebrain logs: query run log lines (newest first), or `logs append` one.
 * Unlike other groups the query needs no subcommand word, so this file
 * dispatches by hand: `logs append ...` appends, anything else queries.
 */
#include <stdio.h>
#include <string.h>

#include "beebeebrain/v1/log.pb-c.h"
#include "cli/cli.h"

static const char logs_usage[] =
	"beebeebrain logs [--project ID] [--task ID] [--run ID] [--level L] [--limit N] [--page-token T]\n"
	"       beebeebrain logs append --run ID [--level L] [--source NAME] MESSAGE\n"
	"levels: debug|info|warning|error (--level of a query is the minimum shown). Newest first; --limit up to 200.";

static void logs_print_list(const ProtobufCMessage *m)
{
	const Beebeebrain__V1__QueryLogsResponse *r = (const void *)m;

	cli_print_table((ProtobufCMessage *const *)r->lines, r->n_lines,
			"id,created_at_ms,level,project_id,task_id,run_id,source,message");
	if (r->next_page_token[0] != '\0')
		printf("next page: --page-token %s\n", r->next_page_token);
}

static void logs_print_line(const ProtobufCMessage *m)
{
	const Beebeebrain__V1__AppendLogResponse *r = (const void *)m;

	cli_print_fields(&r->line->base);
}

static int logs_query(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__QueryLogsRequest req = BEEBEEBRAIN__V1__QUERY_LOGS_REQUEST__INIT;
	Beebeebrain__V1__QueryLogsResponse *resp = NULL;
	int level = 0;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (cli_opt_int64(cli, a, "--project", &req.project_id) != 0 ||
	    cli_opt_int64(cli, a, "--task", &req.task_id) != 0 || cli_opt_int64(cli, a, "--run", &req.run_id) != 0 ||
	    cli_opt_enum(cli, a, "--level", &beebeebrain__v1__log_level__descriptor, &level) != 0 ||
	    cli_opt_int32(cli, a, "--limit", &req.limit) != 0)
		return CLI_USAGE;
	req.min_level = (Beebeebrain__V1__LogLevel)level;
	if (cli_opt(a, "--page-token") != NULL)
		req.page_token = (char *)cli_opt(a, "--page-token");
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	rc = cli_list_pages(c, &beebeebrain__v1__log_service__descriptor, "QueryLogs", &req.base, 50,
			    (ProtobufCMessage **)&resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, logs_print_list);
}

static int logs_append(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__AppendLogRequest req = BEEBEEBRAIN__V1__APPEND_LOG_REQUEST__INIT;
	Beebeebrain__V1__AppendLogResponse *resp = NULL;
	int level = 0;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (cli_opt_int64(cli, a, "--run", &req.run_id) != 0 ||
	    cli_opt_enum(cli, a, "--level", &beebeebrain__v1__log_level__descriptor, &level) != 0)
		return CLI_USAGE;
	if (req.run_id < 1)
		return cli_usage_error(cli, "logs append needs --run ID");
	if (a->a_npos != 2)
		return cli_usage_error(cli, "logs append needs one MESSAGE (quote it)");
	req.level = (Beebeebrain__V1__LogLevel)level;
	req.message = (char *)a->a_pos[1];
	if (cli_opt(a, "--source") != NULL)
		req.source = (char *)cli_opt(a, "--source");
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	rc = bbb_log_append_log(c, &req, &resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, logs_print_line);
}

int cmd_logs(struct cli *cli, int argc, char **argv)
{
	struct cli_args a;

	cli->c_usage = logs_usage;
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return printf("usage: %s\n", logs_usage), CLI_OK;
	if (argc > 0 && strcmp(argv[0], "append") == 0) {
		if (cli_parse(cli, argc, argv, "--run= --level= --source=", 2, &a) != 0)
			return CLI_USAGE;
		return logs_append(cli, &a);
	}
	if (cli_parse(cli, argc, argv, "--project= --task= --run= --level= --limit= --page-token=", 0, &a) != 0)
		return CLI_USAGE;
	return logs_query(cli, &a);
}
