/*
 * beebeebrain events: replay the event log, or follow it live.
 * Without --follow: a Replay (followed from where it stopped while a reply cut
 * short by size says `more`, up to what was asked for), printed as one
 * document (-o json) or a table. With --follow: a lossless subscriber (include/beebeebrain/subscriber.h)
 * prints every event exactly once, in id order, one JSON object per line with
 * -o json (flushed per event), until SIGINT or SIGTERM.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <beebeebrain/subscriber.h>

#include "beebeebrain/v1/event.pb-c.h"
#include "cli/cli.h"
#include "common/clock.h"
#include "common/pbjson.h"

static const char events_usage[] =
	"beebeebrain events [--replay-last N] [--after ID] [--type PREFIX] [--project ID] [--follow]\n"
	"                   [--events URL] [--rpc URL] [-o json]\n"
	"  --replay-last N  the last N matching events (1..1000)\n"
	"  --after ID       events after this id (resume from a saved id)\n"
	"  --type PREFIX    only event types starting with PREFIX (alert. run. task. ...)\n"
	"  --project ID     only events of this project\n"
	"  --follow         keep printing new events until interrupted (exactly once, in id order)\n"
	"  --events URL     pub URL (env BEEBEEBRAIN_EVENTS_URL; default: asked from the server)\n"
	"Without --follow, --replay-last or --after, the last 50 events are shown.";

/* What one Replay{after_id} returns at most without a limit. */
#define EVENTS_REPLAY_MAX 1000

static volatile sig_atomic_t events_stop;

static void events_on_signal(int sig)
{
	(void)sig;
	events_stop = 1;
}

/* One line for humans: id, time, type, ids, then the payload as JSON. */
static void events_print_line(const Beebeebrain__V1__Event *ev)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field(ev->base.descriptor, (unsigned)ev->payload_case);
	char ts[40], *json = NULL;

	clock_format_rfc3339(ev->created_at_ms, ts, sizeof(ts));
	if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE)
		json = pbjson_dumps(*(ProtobufCMessage *const *)((const char *)ev + f->offset), 0);
	printf("%-6lld %s  %-24s", (long long)ev->id, ts, ev->event_type);
	if (ev->task_id != 0)
		printf(" task=%lld", (long long)ev->task_id);
	if (ev->run_id != 0)
		printf(" run=%lld", (long long)ev->run_id);
	if (json != NULL)
		printf("  %s", json);
	putchar('\n');
	free(json);
}

static void events_print_replay(const ProtobufCMessage *m)
{
	const Beebeebrain__V1__ReplayResponse *r = (const void *)m;

	for (size_t i = 0; i < r->n_events; i++)
		events_print_line(r->events[i]);
	printf("(%zu event(s); head id %lld%s)\n", r->n_events, (long long)r->head_id, r->more ? "; more follow" : "");
}

/* Replay as the user asked for it: a reply that stopped early for its size
 * (`more` before `want` events) is followed from its last event, asking for
 * the rest, and the events end up in *resp. */
static int events_replay(bbb_client *c, const Beebeebrain__V1__ReplayRequest *req, size_t want,
			 Beebeebrain__V1__ReplayResponse **resp, bbb_status *st)
{
	size_t got;

	if (bbb_event_replay(c, req, resp, st) != 0)
		return -1;
	got = (*resp)->n_events;
	while ((*resp)->more && got > 0 && got < want) {
		Beebeebrain__V1__ReplayRequest next = *req;
		Beebeebrain__V1__ReplayResponse *page;
		size_t n;

		next.last_n = 0;
		next.after_id = (*resp)->events[got - 1]->id;
		next.limit = (int32_t)(want - got);
		if (bbb_event_replay(c, &next, &page, st) != 0) {
			bbb_free(*resp);
			*resp = NULL;
			return -1;
		}
		n = page->n_events;
		cli_take_rows(&(*resp)->base, &page->base);
		(*resp)->head_id = page->head_id;
		(*resp)->more = page->more;
		bbb_free(page);
		if (n == 0)
			break;
		got += n;
	}
	return 0;
}

static int events_follow(struct cli *cli, bbb_client *c, const struct cli_args *a, int64_t after, int32_t last)
{
	struct bbb_subscriber_options o = {.client = c};
	Beebeebrain__V1__Event *ev;
	bbb_subscriber *s;
	bbb_status st;
	struct sigaction sa;
	int rc;

	o.events_url = cli_opt(a, "--events");
	o.after_id = after;
	o.replay_last = last;
	o.from_head = after == 0 && last == 0;
	o.type_prefix = cli_opt(a, "--type");
	if (cli_opt_int64(cli, a, "--project", &o.project_id) != 0)
		return CLI_USAGE;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = events_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if ((s = bbb_subscriber_open(&o, &st)) == NULL)
		return cli_report(&st);
	while (!events_stop) {
		rc = bbb_subscriber_next(s, 200, &ev, &st);
		if (rc < 0) {
			bbb_subscriber_close(s);
			return cli_report(&st);
		}
		if (rc == 0)
			continue;
		if (cli->c_json) {
			char *json = pbjson_dumps(&ev->base, 0);
			printf("%s\n", json != NULL ? json : "{}");
			free(json);
		} else {
			events_print_line(ev);
		}
		fflush(stdout);
		bbb_free(ev);
	}
	bbb_subscriber_close(s);
	return CLI_OK;
}

int cmd_events(struct cli *cli, int argc, char **argv)
{
	Beebeebrain__V1__ReplayRequest req = BEEBEEBRAIN__V1__REPLAY_REQUEST__INIT;
	Beebeebrain__V1__ReplayResponse *resp;
	struct cli_args a;
	int64_t after = 0;
	int32_t last = 0;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	cli->c_usage = events_usage;
	if (cli_parse(cli, argc, argv, "--replay-last= --after= --type= --project= --follow --events= --help", 0, &a) !=
	    0)
		return CLI_USAGE;
	if (cli_flag(&a, "--help"))
		return printf("usage: %s\n", events_usage), CLI_OK;
	if (cli_opt_int32(cli, &a, "--replay-last", &last) != 0 || cli_opt_int64(cli, &a, "--after", &after) != 0 ||
	    cli_opt_int64(cli, &a, "--project", &req.project_id) != 0)
		return CLI_USAGE;
	if (cli_opt(&a, "--replay-last") != NULL && (last < 1 || last > 1000))
		return cli_usage_error(cli, "--replay-last must be 1..1000");
	if (after < 0)
		return cli_usage_error(cli, "--after must be >= 0");
	if (last > 0 && cli_opt(&a, "--after") != NULL)
		return cli_usage_error(cli, "give --replay-last or --after, not both");
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	if (cli_flag(&a, "--follow"))
		return events_follow(cli, c, &a, after, last);
	req.after_id = after;
	req.last_n = last > 0 || cli_opt(&a, "--after") != NULL ? last : 50;
	if (cli_opt(&a, "--type") != NULL)
		req.type_prefix = (char *)cli_opt(&a, "--type");
	if (events_replay(c, &req, req.last_n > 0 ? (size_t)req.last_n : EVENTS_REPLAY_MAX, &resp, &st) != 0)
		return cli_report(&st);
	return cli_output(cli, &resp->base, events_print_replay);
}
