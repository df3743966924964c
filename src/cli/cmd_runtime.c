/* beebeebrain runtime status (RuntimeService/Status). */
#include <stdio.h>

#include "beebeebrain/v1/runtime.pb-c.h"
#include "cli/cli.h"

static const char runtime_usage[] =
	"beebeebrain runtime status\n"
	"What the dispatcher holds as of its last tick: whether it runs (or is paused), calls in flight against the\n"
	"limit, the runs it holds and those waiting for a breaker, the runs queued and retry_scheduled in the\n"
	"database, and per provider endpoint its breaker (closed|open|half_open; when open, the next probe time),\n"
	"calls in flight and held runs. An endpoint appears once the runtime has called it.";

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

int cmd_runtime(struct cli *cli, int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{"status", "", 0, runtime_status},
	};

	return cli_run_sub(cli, argc, argv, subs, sizeof(subs) / sizeof(subs[0]), runtime_usage);
}
