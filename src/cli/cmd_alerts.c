/* beebeebrain alerts list|ack|resolve (EventService ListAlerts, AckAlert, ResolveAlert). */
#include <stdio.h>

#include "beebeebrain/v1/event.pb-c.h"
#include "cli/cli.h"

static const char alerts_usage[] =
	"beebeebrain alerts list [--status open|resolved] [--code C] [--project ID] [--limit N] [--page-token T]\n"
	"       beebeebrain alerts ack ID [--note T] [--actor NAME]\n"
	"       beebeebrain alerts resolve ID [--note T] [--actor NAME]\n"
	"list: newest first, open and resolved unless --status; --project ID only that project's alerts\n"
	"  (alerts about the whole server, such as DB_LOCKED, have project 0).\n"
	"ack: an operator is on it; the alert stays open until its cause is gone, and a repeat of its cause\n"
	"  still counts on it. Acknowledging again changes nothing.\n"
	"resolve: closes an open alert now; if its cause is still there, the next detection raises a new one.\n"
	"Both refuse an alert that is already resolved (ALERT_ALREADY_RESOLVED) and are audited with --actor.";

static void alerts_print_list(const ProtobufCMessage *m)
{
	const Beebeebrain__V1__ListAlertsResponse *r = (const void *)m;

	cli_print_table((ProtobufCMessage *const *)r->alerts, r->n_alerts,
			"id,status,severity,code,raise_count,first_raised_at_ms,last_raised_at_ms,acked_by,project_id,"
			"title");
	if (r->next_page_token[0] != '\0')
		printf("next page: --page-token %s\n", r->next_page_token);
}

static void alerts_print_one(const ProtobufCMessage *m)
{
	/* AckAlert and ResolveAlert responses hold one `alert`. */
	const Beebeebrain__V1__AckAlertResponse *r = (const void *)m;

	cli_print_fields(&r->alert->base);
}

static int alerts_list(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__ListAlertsRequest req = BEEBEEBRAIN__V1__LIST_ALERTS_REQUEST__INIT;
	Beebeebrain__V1__ListAlertsResponse *resp = NULL;
	int status = 0;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (cli_opt_enum(cli, a, "--status", &beebeebrain__v1__alert_status__descriptor, &status) != 0 ||
	    cli_opt_int64(cli, a, "--project", &req.project_id) != 0 ||
	    cli_opt_int32(cli, a, "--limit", &req.limit) != 0)
		return CLI_USAGE;
	req.status = (Beebeebrain__V1__AlertStatus)status;
	if (cli_opt(a, "--code") != NULL)
		req.code = (char *)cli_opt(a, "--code");
	if (cli_opt(a, "--page-token") != NULL)
		req.page_token = (char *)cli_opt(a, "--page-token");
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	rc = cli_list_pages(c, &beebeebrain__v1__event_service__descriptor, "ListAlerts", &req.base, 50,
			    (ProtobufCMessage **)&resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, alerts_print_list);
}

/* AckAlert and ResolveAlert take the same arguments: ID [--note T] [--actor NAME]. */
static int alerts_target(struct cli *cli, const struct cli_args *a, int64_t *alert_id, char **note, char **actor)
{
	if (cli_pos_id(cli, a, 1, "alert ID", alert_id) != 0)
		return -1;
	if (cli_opt(a, "--note") != NULL)
		*note = (char *)cli_opt(a, "--note");
	if (cli_opt(a, "--actor") != NULL)
		*actor = (char *)cli_opt(a, "--actor");
	return 0;
}

static int alerts_ack(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__AckAlertRequest req = BEEBEEBRAIN__V1__ACK_ALERT_REQUEST__INIT;
	Beebeebrain__V1__AckAlertResponse *resp = NULL;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (alerts_target(cli, a, &req.alert_id, &req.note, &req.actor) != 0)
		return CLI_USAGE;
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	rc = bbb_event_ack_alert(c, &req, &resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, alerts_print_one);
}

static int alerts_resolve(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__ResolveAlertRequest req = BEEBEEBRAIN__V1__RESOLVE_ALERT_REQUEST__INIT;
	Beebeebrain__V1__ResolveAlertResponse *resp = NULL;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (alerts_target(cli, a, &req.alert_id, &req.note, &req.actor) != 0)
		return CLI_USAGE;
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	rc = bbb_event_resolve_alert(c, &req, &resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, alerts_print_one);
}

int cmd_alerts(struct cli *cli, int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{"list", "--status= --code= --project= --limit= --page-token=", 0, alerts_list},
		{"ack", "--note= --actor=", 1, alerts_ack},
		{"resolve", "--note= --actor=", 1, alerts_resolve},
	};

	return cli_run_sub(cli, argc, argv, subs, sizeof(subs) / sizeof(subs[0]), alerts_usage);
}
