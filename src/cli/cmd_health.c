/* beebeebrain health | ready */
#include <stdio.h>

#include "beebeebrain/v1/health.pb-c.h"
#include "cli/cli.h"
#include "common/clock.h"

static void health_print(const ProtobufCMessage *m)
{
	const Beebeebrain__V1__CheckResponse *r = (const void *)m;

	printf("%s %s %s (env %s, up %lld s)\n", r->status, r->service, r->version, r->env,
	       (long long)(r->uptime_ms / 1000));
}

int cmd_health(struct cli *cli, int argc, char **argv)
{
	Beebeebrain__V1__CheckRequest req = BEEBEEBRAIN__V1__CHECK_REQUEST__INIT;
	Beebeebrain__V1__CheckResponse *resp;
	struct cli_args a;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	cli->c_usage = "beebeebrain health [--rpc URL] [-o json]";
	if (cli_parse(cli, argc, argv, "--help", 0, &a) != 0)
		return CLI_USAGE;
	if (cli_flag(&a, "--help"))
		return printf("usage: %s\nLiveness of the server: status, version, uptime.\n", cli->c_usage), CLI_OK;
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	if (bbb_health_check(c, &req, &resp, &st) != 0)
		return cli_report(&st);
	return cli_output(cli, &resp->base, health_print);
}

static void ready_print(const ProtobufCMessage *m)
{
	const Beebeebrain__V1__ReadyResponse *r = (const void *)m;

	printf("%s\n", r->ready ? "ready" : "NOT READY");
	for (size_t i = 0; i < r->n_checks; i++)
		printf("  %-11s %-4s %s\n", r->checks[i]->name, r->checks[i]->ok ? "ok" : "FAIL", r->checks[i]->detail);
	printf("servers (%zu)\n", r->n_servers);
	cli_print_servers(r->servers, r->n_servers, clock_now_ms());
}

int cmd_ready(struct cli *cli, int argc, char **argv)
{
	Beebeebrain__V1__ReadyRequest req = BEEBEEBRAIN__V1__READY_REQUEST__INIT;
	Beebeebrain__V1__ReadyResponse *resp;
	struct cli_args a;
	bbb_status st;
	bbb_client *c;
	int rc = 0, ready;

	cli->c_usage = "beebeebrain ready [--rpc URL] [-o json]";
	if (cli_parse(cli, argc, argv, "--help", 0, &a) != 0)
		return CLI_USAGE;
	if (cli_flag(&a, "--help"))
		return printf("usage: %s\nReadiness checks: database, migrations, writer, workspace, providers.\n"
			      "Exits 1 when any check fails.\n"
			      "Then the servers on the database, newest heartbeat first: alive, stopped, or DEAD\n"
			      "(missed 3 heartbeats without stopping). Shown, not checked: another server's death\n"
			      "does not make this one unready.\n",
			      cli->c_usage),
		       CLI_OK;
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	if (bbb_health_ready(c, &req, &resp, &st) != 0)
		return cli_report(&st);
	ready = resp->ready;
	rc = cli_output(cli, &resp->base, ready_print);
	return rc != CLI_OK ? rc : ready ? CLI_OK : CLI_SERVER_ERROR;
}
