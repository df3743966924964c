/* beebeebrain runtime status | runtime breaker reset ENDPOINT (RuntimeService Status, ResetBreaker). */
#include <stdio.h>
#include <string.h>

#include "beebeebrain/v1/runtime.pb-c.h"
#include "cli/cli.h"

static const char runtime_usage[] =
	"beebeebrain runtime status\n"
	"       beebeebrain runtime breaker reset ENDPOINT\n"
	"status: what the dispatcher holds as of its last tick: whether it runs (or is paused), calls in flight\n"
	"against the limit, the runs it holds and those waiting for a breaker, the runs queued and\n"
	"retry_scheduled in the database, and per provider endpoint its breaker (closed|open|half_open; when\n"
	"open, the next probe time), calls in flight and held runs. An endpoint appears once the runtime has\n"
	"called it.\n"
	"breaker reset: for an operator who knows the provider is back. ENDPOINT is a provider name (anthropic,\n"
	"openai, claude_code: each of its endpoints) or a base_url exactly as `runtime status` prints it. Each\n"
	"matched breaker closes as after a successful probe: its held runs are released spread out, its\n"
	"LLM_PROVIDER_UNAVAILABLE alert and incident item are resolved as by \"operator\". Prints each matched\n"
	"endpoint and its state after the reset; resetting a closed breaker changes nothing. No match:\n"
	"ENDPOINT_NOT_FOUND (exit 1).";

static void runtime_print_status(const ProtobufCMessage *m)
{
	const Beebeebrain__V1__RuntimeStatusResponse *r = (const void *)m;

	printf("dispatcher         %s\n", !r->dispatcher_running ? "not running" : r->paused ? "paused" : "running");
	printf("in flight          %d of %d\n", r->in_flight, r->max_in_flight);
	printf("runs held          %d (%d waiting for a breaker)\n", r->runs_held, r->runs_parked);
	printf("runs queued        %d\n", r->runs_queued);
	printf("retry scheduled    %d\n", r->runs_retry_scheduled);
	printf("snapshot_at_ms     %lld\n", (long long)r->snapshot_at_ms);
	cli_print_table((ProtobufCMessage *const *)r->endpoints, r->n_endpoints,
			"provider,base_url,breaker_state,next_probe_at_ms,in_flight,held_runs,consecutive_failures,"
			"opens");
}

static int runtime_status(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__RuntimeStatusRequest req = BEEBEEBRAIN__V1__RUNTIME_STATUS_REQUEST__INIT;
	Beebeebrain__V1__RuntimeStatusResponse *resp = NULL;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	(void)a;
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	rc = bbb_runtime_status(c, &req, &resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, runtime_print_status);
}

static void runtime_print_reset(const ProtobufCMessage *m)
{
	const Beebeebrain__V1__ResetBreakerResponse *r = (const void *)m;

	cli_print_table((ProtobufCMessage *const *)r->endpoints, r->n_endpoints,
			"provider,base_url,breaker_state,in_flight,held_runs,releasing");
	printf("%d of %zu endpoint(s) were open or half_open\n", r->were_open, r->n_endpoints);
}

static int runtime_breaker(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__ResetBreakerRequest req = BEEBEEBRAIN__V1__RESET_BREAKER_REQUEST__INIT;
	Beebeebrain__V1__ResetBreakerResponse *resp = NULL;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (a->a_npos < 2 || strcmp(a->a_pos[1], "reset") != 0)
		return cli_usage_error(cli, "runtime breaker takes one action: reset ENDPOINT");
	if (a->a_npos < 3 || a->a_pos[2][0] == '\0')
		return cli_usage_error(cli, "missing ENDPOINT: a provider name (anthropic, openai, claude_code) or a "
					    "base_url as `beebeebrain runtime status` prints it");
	req.endpoint = (char *)a->a_pos[2];
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	rc = bbb_runtime_reset_breaker(c, &req, &resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, runtime_print_reset);
}

int cmd_runtime(struct cli *cli, int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{"status", "", 0, runtime_status},
		{"breaker", "", 2, runtime_breaker},
	};

	return cli_run_sub(cli, argc, argv, subs, sizeof(subs) / sizeof(subs[0]), runtime_usage);
}
