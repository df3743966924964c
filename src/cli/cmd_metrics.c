/* beebeebrain metrics runs-summary|usage-daily (docs/cli.md). */
#include <stddef.h>
#include <stdio.h>

#include "beebeebrain/v1/metrics.pb-c.h"
#include "cli/cli.h"

static const char metrics_usage[] =
	"beebeebrain metrics runs-summary [--project ID] [--from RFC3339] [--to RFC3339]\n"
	"       beebeebrain metrics usage-daily [--provider P] [--model M] [--from DATE] [--to DATE] [--limit N]\n"
	"                                       [--page-token T]\n"
	"runs-summary: runs that started (or, not started yet, were queued) in [--from, --to); all when left out.\n"
	"usage-daily: provider usage per model and UTC day (DATE is YYYY-MM-DD, both ends included), newest first.\n"
	"Costs leave out calls to models without a price: unpriced_calls counts them, cost_unknown is then true.";

static void metrics_print_summary(const ProtobufCMessage *m)
{
	const Beebeebrain__V1__RunsSummaryResponse *r = (const void *)m;

	cli_print_fields(m);
	printf("\n");
	cli_print_table((ProtobufCMessage *const *)r->by_status, r->n_by_status, "status,count");
}

static void metrics_print_usage(const ProtobufCMessage *m)
{
	const Beebeebrain__V1__UsageDailyResponse *r = (const void *)m;

	cli_print_table(
		(ProtobufCMessage *const *)r->days, r->n_days,
		"date,provider,model_name,request_count,token_in,token_out,cache_read_tokens,cache_write_tokens,"
		"cost_usd_micros,unpriced_calls");
	if (r->next_page_token[0] != '\0')
		printf("next page: --page-token %s\n", r->next_page_token);
}

static int metrics_runs_summary(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__RunsSummaryRequest req = BEEBEEBRAIN__V1__RUNS_SUMMARY_REQUEST__INIT;
	Beebeebrain__V1__RunsSummaryResponse *resp = NULL;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (cli_opt_int64(cli, a, "--project", &req.project_id) != 0 ||
	    cli_opt_time(cli, a, "--from", &req.from_ms) != 0 || cli_opt_time(cli, a, "--to", &req.to_ms) != 0)
		return CLI_USAGE;
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	rc = bbb_metrics_runs_summary(c, &req, &resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, metrics_print_summary);
}

static int metrics_usage_daily(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__UsageDailyRequest req = BEEBEEBRAIN__V1__USAGE_DAILY_REQUEST__INIT;
	Beebeebrain__V1__UsageDailyResponse *resp = NULL;
	static const struct {
		const char *opt;
		size_t off;
	} texts[] = {
		{"--provider", offsetof(Beebeebrain__V1__UsageDailyRequest, provider)},
		{"--model", offsetof(Beebeebrain__V1__UsageDailyRequest, model)},
		{"--from", offsetof(Beebeebrain__V1__UsageDailyRequest, from_date)},
		{"--to", offsetof(Beebeebrain__V1__UsageDailyRequest, to_date)},
		{"--page-token", offsetof(Beebeebrain__V1__UsageDailyRequest, page_token)},
	};
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (cli_opt_int32(cli, a, "--limit", &req.limit) != 0)
		return CLI_USAGE;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (cli_opt(a, texts[i].opt) != NULL)
			*(char **)((char *)&req + texts[i].off) = (char *)cli_opt(a, texts[i].opt);
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	rc = cli_list_pages(c, &beebeebrain__v1__metrics_service__descriptor, "UsageDaily", &req.base, 50,
			    (ProtobufCMessage **)&resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, metrics_print_usage);
}

int cmd_metrics(struct cli *cli, int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{"runs-summary", "--project= --from= --to=", 0, metrics_runs_summary},
		{"usage-daily", "--provider= --model= --from= --to= --limit= --page-token=", 0, metrics_usage_daily},
	};

	return cli_run_sub(cli, argc, argv, subs, sizeof(subs) / sizeof(subs[0]), metrics_usage);
}
