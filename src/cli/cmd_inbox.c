/* beebeebrain inbox list|get|note|close (docs/cli.md). */
#include <stdio.h>

#include "beebeebrain/v1/inbox.pb-c.h"
#include "cli/cli.h"
#include "common/enum_text.h"

static const char inbox_usage[] =
	"beebeebrain inbox list [--project ID] [--status open|closed] [--type T] [--limit N] [--page-token T]\n"
	"       beebeebrain inbox get ID\n"
	"       beebeebrain inbox note --project ID --title TITLE --content TEXT\n"
	"       beebeebrain inbox close ID [--input TEXT] [--resolver NAME] [--expected-version V]\n"
	"--project may be left out while a project named 'default' exists; `inbox list` without it lists all.\n"
	"types: await_user_input|task_completed|incident|operator_note. Newest first.\n"
	"close: an await_user_input item needs --input; when its task is blocked the input goes to a new run.\n"
	"  Closing a task_completed item of a task in review marks the task done.";

static void inbox_print_one(const ProtobufCMessage *m)
{
	/* Get and Create responses hold one `item`. */
	const Beebeebrain__V1__GetItemResponse *r = (const void *)m;

	cli_print_fields(&r->item->base);
}

static void inbox_print_closed(const ProtobufCMessage *m)
{
	const Beebeebrain__V1__CloseItemResponse *r = (const void *)m;
	char status[32];

	cli_print_fields(&r->item->base);
	if (r->task != NULL)
		printf("task %lld is now %s\n", (long long)r->task->id,
		       enum_text(&beebeebrain__v1__task_status__descriptor, r->task->status, status, sizeof(status)));
	if (r->run != NULL)
		printf("queued run %lld with the input\n", (long long)r->run->id);
}

static void inbox_print_list(const ProtobufCMessage *m)
{
	const Beebeebrain__V1__ListItemsResponse *r = (const void *)m;

	cli_print_table((ProtobufCMessage *const *)r->items, r->n_items,
			"id,status,item_type,source_type,source_id,project_id,created_at_ms,title");
	if (r->next_page_token[0] != '\0')
		printf("next page: --page-token %s\n", r->next_page_token);
}

static int inbox_list(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__ListItemsRequest req = BEEBEEBRAIN__V1__LIST_ITEMS_REQUEST__INIT;
	Beebeebrain__V1__ListItemsResponse *resp = NULL;
	int status = 0, type = 0;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (cli_opt_int64(cli, a, "--project", &req.project_id) != 0 ||
	    cli_opt_enum(cli, a, "--status", &beebeebrain__v1__inbox_status__descriptor, &status) != 0 ||
	    cli_opt_enum(cli, a, "--type", &beebeebrain__v1__inbox_item_type__descriptor, &type) != 0 ||
	    cli_opt_int32(cli, a, "--limit", &req.limit) != 0)
		return CLI_USAGE;
	req.status = (Beebeebrain__V1__InboxStatus)status;
	req.item_type = (Beebeebrain__V1__InboxItemType)type;
	if (cli_opt(a, "--page-token") != NULL)
		req.page_token = (char *)cli_opt(a, "--page-token");
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	rc = cli_list_pages(c, &beebeebrain__v1__inbox_service__descriptor, "ListItems", &req.base, 50,
			    (ProtobufCMessage **)&resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, inbox_print_list);
}

static int inbox_get(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__GetItemRequest req = BEEBEEBRAIN__V1__GET_ITEM_REQUEST__INIT;
	Beebeebrain__V1__GetItemResponse *resp = NULL;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (cli_pos_id(cli, a, 1, "item ID", &req.item_id) != 0)
		return CLI_USAGE;
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	rc = bbb_inbox_get_item(c, &req, &resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, inbox_print_one);
}

static int inbox_note(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__CreateItemRequest req = BEEBEEBRAIN__V1__CREATE_ITEM_REQUEST__INIT;
	Beebeebrain__V1__CreateItemResponse *resp = NULL;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (cli_opt(a, "--title") == NULL || cli_opt(a, "--content") == NULL)
		return cli_usage_error(cli, "inbox note needs --title TITLE and --content TEXT");
	if (cli_opt_int64(cli, a, "--project", &req.project_id) != 0)
		return CLI_USAGE;
	req.title = (char *)cli_opt(a, "--title");
	req.content = (char *)cli_opt(a, "--content");
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	rc = bbb_inbox_create_item(c, &req, &resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, inbox_print_one);
}

static int inbox_close(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__CloseItemRequest req = BEEBEEBRAIN__V1__CLOSE_ITEM_REQUEST__INIT;
	Beebeebrain__V1__CloseItemResponse *resp = NULL;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (cli_pos_id(cli, a, 1, "item ID", &req.item_id) != 0 ||
	    cli_opt_int64(cli, a, "--expected-version", &req.expected_version) != 0)
		return CLI_USAGE;
	if (cli_opt(a, "--input") != NULL)
		req.user_input = (char *)cli_opt(a, "--input");
	if (cli_opt(a, "--resolver") != NULL)
		req.resolver = (char *)cli_opt(a, "--resolver");
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	rc = bbb_inbox_close_item(c, &req, &resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, inbox_print_closed);
}

int cmd_inbox(struct cli *cli, int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{"list", "--project= --status= --type= --limit= --page-token=", 0, inbox_list},
		{"get", "", 1, inbox_get},
		{"note", "--project= --title= --content=", 0, inbox_note},
		{"close", "--input= --resolver= --expected-version=", 1, inbox_close},
	};

	return cli_run_sub(cli, argc, argv, subs, sizeof(subs) / sizeof(subs[0]), inbox_usage);
}
