/*
 * beebeebrain triage (AdminService/Triage): the runbook's fast-triage
 * checklist in one command. Human output is a short report (health, servers, alerts,
 * incidents, awaiting input, runs and retries, breakers, write lock,
 * workspace), then each finding with the next command to type, and the
 * verdict as the last line; -o json prints the TriageResponse. Exit status 4
 * when the verdict is `incident`.
 */
#include <stdio.h>
#include <string.h>

#include "beebeebrain/v1/admin.pb-c.h"
#include "cli/cli.h"
#include "common/enum_text.h"

static const char triage_usage[] =
	"beebeebrain triage [--rpc URL] [-o json]\n"
	"The fast-triage checklist in one command, read from the server in one snapshot: health and readiness,\n"
	"the servers on the database seen in the last day (alive, stopped, or dead: silent without a clean stop),\n"
	"open alerts (code, severity, since when, count), open incident and await_user_input inbox items, runs by\n"
	"status with retry_scheduled and the retries of the last 5 and 60 minutes, each endpoint's breaker and next\n"
	"probe, the write lock (last DB_LOCKED, writer queue depth, last commit), workspace permission failures of\n"
	"the last hour; then each finding, paging ones first, with the next command to type.\n"
	"The last line is the verdict:\n"
	"  incident   something pages: the server is not serving or not ready, a breaker is open or half_open,\n"
	"             an open alert nobody acknowledged, or an open incident item whose alert nobody acknowledged.\n"
	"             Exit status 4.\n"
	"  attention  something needs a look but does not page: acknowledged alerts, await_user_input items,\n"
	"             retry_scheduled runs and retries, permission failures, a server that missed 3 heartbeats\n"
	"             without stopping (its runs wait for another server). Exit status 0.\n"
	"  healthy    nothing to report. Exit status 0.\n"
	"Acknowledging an alert (`beebeebrain alerts ack ID`) stops it paging; it stays open until its cause is gone.";

static void triage_print_health(const Beebeebrain__V1__TriageResponse *r)
{
	printf("health      %s, %s\n", r->healthy ? "serving" : "NOT SERVING", r->ready ? "ready" : "NOT READY");
	for (size_t i = 0; i < r->n_not_ready_reasons; i++) {
		printf("            ");
		cli_put_text(r->not_ready_reasons[i]);
		putchar('\n');
	}
}

static void triage_print_servers(const Beebeebrain__V1__TriageResponse *r)
{
	size_t alive = 0, dead = 0;

	for (size_t i = 0; i < r->n_servers; i++) {
		alive += r->servers[i]->alive;
		dead += !r->servers[i]->alive && r->servers[i]->stopped_at_ms == 0;
	}
	printf("servers     %zu seen in the last day: %zu alive, %zu dead\n", r->n_servers, alive, dead);
	cli_print_servers(r->servers, r->n_servers, r->generated_at_ms);
}

static void triage_print_alerts(const Beebeebrain__V1__TriageResponse *r)
{
	char ago[32], sev[32];

	printf("alerts      %lld open\n", (long long)r->open_alerts_total);
	for (size_t i = 0; i < r->n_open_alerts; i++) {
		const Beebeebrain__V1__Alert *a = r->open_alerts[i];

		if (enum_text(&beebeebrain__v1__severity__descriptor, a->severity, sev, sizeof(sev)) == NULL)
			snprintf(sev, sizeof(sev), "%d", a->severity);
		printf("  #%lld ", (long long)a->id);
		cli_put_text(a->code);
		printf(" %s since %s, raised %d time(s)%s: ", sev,
		       cli_ago(ago, sizeof(ago), r->generated_at_ms, a->first_raised_at_ms), a->raise_count,
		       a->acked_at_ms != 0 ? ", acknowledged" : "");
		cli_put_text(a->title);
		putchar('\n');
	}
}

static void triage_print_items(const char *label, Beebeebrain__V1__InboxItem *const *items, size_t n, int64_t total)
{
	printf("%-11s %lld open\n", label, (long long)total);
	for (size_t i = 0; i < n; i++) {
		printf("  #%lld project %lld: ", (long long)items[i]->id, (long long)items[i]->project_id);
		cli_put_text(items[i]->title);
		putchar('\n');
	}
}

static void triage_print_runs(const Beebeebrain__V1__TriageRuns *runs)
{
	if (runs == NULL)
		return;
	printf("runs       ");
	for (size_t i = 0; i < runs->n_by_status; i++)
		printf(" %s %lld", runs->by_status[i]->status, (long long)runs->by_status[i]->count);
	printf("\nretries     %lld retry_scheduled now; %lld retries in the last 5 min, %lld in the last hour\n",
	       (long long)runs->retry_scheduled, (long long)runs->retries_last_5m, (long long)runs->retries_last_60m);
}

static void triage_print_breakers(const Beebeebrain__V1__TriageResponse *r)
{
	char probe[64];

	if (r->n_endpoints == 0)
		printf("breakers    no endpoint called yet\n");
	else
		printf("breakers    %zu endpoint(s)\n", r->n_endpoints);
	for (size_t i = 0; i < r->n_endpoints; i++) {
		const Beebeebrain__V1__RuntimeEndpoint *e = r->endpoints[i];
		int64_t in_ms = e->next_probe_at_ms - r->generated_at_ms;

		probe[0] = '\0';
		if (e->next_probe_at_ms != 0)
			snprintf(probe, sizeof(probe), ", next probe in %llds",
				 (long long)(in_ms > 0 ? in_ms / 1000 : 0));
		printf("  ");
		cli_put_text(e->provider);
		putchar(' ');
		cli_put_text(e->base_url);
		printf(" %s%s, held %d, in flight %d\n", e->breaker_state[0] != '\0' ? e->breaker_state : "no breaker",
		       probe, e->held_runs, e->in_flight);
	}
}

static void triage_print_write_lock(const Beebeebrain__V1__TriageResponse *r)
{
	const Beebeebrain__V1__TriageWriteLock *w = r->write_lock;
	char ago[32], commit[32];

	if (w == NULL)
		return;
	printf("write lock  last DB_LOCKED %s%s; writer queue %lld; lock failures %lld; last commit %s\n",
	       w->last_db_locked_at_ms != 0 ? cli_ago(ago, sizeof(ago), r->generated_at_ms, w->last_db_locked_at_ms)
					    : "never",
	       w->db_locked_open ? " (alert open)" : "", (long long)w->writer_queue_depth, (long long)w->lock_failures,
	       cli_ago(commit, sizeof(commit), r->generated_at_ms, w->last_commit_at_ms));
}

static void triage_print_workspace(const Beebeebrain__V1__TriageResponse *r)
{
	const Beebeebrain__V1__TriageWorkspace *w = r->workspace;
	char ago[32];

	if (w == NULL)
		return;
	if (w->permission_failures_last_60m == 0) {
		printf("workspace   no permission failures in the last hour\n");
		return;
	}
	printf("workspace   %lld run(s) failed WORKSPACE_PERMISSION_DENIED in the last hour (latest %s; project",
	       (long long)w->permission_failures_last_60m,
	       cli_ago(ago, sizeof(ago), r->generated_at_ms, w->last_failure_at_ms));
	for (size_t i = 0; i < w->n_project_ids; i++)
		printf("%s%lld", i > 0 ? "," : " ", (long long)w->project_ids[i]);
	printf(")\n");
}

static void triage_print(const ProtobufCMessage *m)
{
	const Beebeebrain__V1__TriageResponse *r = (const void *)m;
	char sev[32];

	triage_print_health(r);
	triage_print_servers(r);
	triage_print_alerts(r);
	triage_print_items("incidents", r->open_incidents, r->n_open_incidents, r->open_incidents_total);
	triage_print_items("awaiting", r->awaiting_input, r->n_awaiting_input, r->awaiting_input_total);
	triage_print_runs(r->runs);
	triage_print_breakers(r);
	triage_print_write_lock(r);
	triage_print_workspace(r);
	printf("\nfindings%s\n", r->n_findings == 0 ? ": none" : " (in the order to handle them):");
	for (size_t i = 0; i < r->n_findings; i++) {
		const Beebeebrain__V1__TriageFinding *f = r->findings[i];

		if (enum_text(&beebeebrain__v1__severity__descriptor, f->severity, sev, sizeof(sev)) == NULL)
			snprintf(sev, sizeof(sev), "%d", f->severity);
		printf("  %zu. %s%s %s: ", i + 1, f->pages ? "[PAGES] " : "", f->area, sev);
		cli_put_text(f->summary);
		printf("\n     next: ");
		cli_put_text(f->next_command);
		putchar('\n');
	}
	printf("\nverdict: ");
	cli_put_text(r->verdict_line);
	putchar('\n');
}

int cmd_triage(struct cli *cli, int argc, char **argv)
{
	Beebeebrain__V1__TriageRequest req = BEEBEEBRAIN__V1__TRIAGE_REQUEST__INIT;
	Beebeebrain__V1__TriageResponse *resp;
	struct cli_args a;
	bbb_status st;
	bbb_client *c;
	int rc = 0, incident;

	cli->c_usage = "beebeebrain triage [--rpc URL] [-o json]";
	if (cli_parse(cli, argc, argv, "--help", 0, &a) != 0)
		return CLI_USAGE;
	if (cli_flag(&a, "--help"))
		return printf("usage: %s\n", triage_usage), CLI_OK;
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	if (bbb_admin_triage(c, &req, &resp, &st) != 0)
		return cli_report(&st);
	incident = strcmp(resp->verdict, "incident") == 0;
	rc = cli_output(cli, &resp->base, triage_print);
	return rc != CLI_OK ? rc : incident ? CLI_INCIDENT : CLI_OK;
}
