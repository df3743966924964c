/* beebeebrain agent create|get|list|update|delete (docs/cli.md). */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "beebeebrain/v1/agent.pb-c.h"
#include "cli/cli.h"

#define AGENT_MAX_TOOLS 16

static const char agent_usage[] =
	"beebeebrain agent create --project ID --name NAME --role ROLE --provider anthropic|openai|claude_code|echo "
	"--model MODEL\n"
	"                         [--persona TEXT] [--tools a,b] [--max-concurrency N] [--status active|inactive]\n"
	"                         [--token-limit-param auto|max_tokens|max_completion_tokens]\n"
	"                         [--max-output-tokens N]\n"
	"       beebeebrain agent get ID\n"
	"       beebeebrain agent list [--project ID] [--status active|inactive] [--limit N] [--page-token T]\n"
	"       beebeebrain agent update ID [--name NAME] [--role ROLE] [--provider P] [--model MODEL]\n"
	"                         [--persona TEXT] [--tools a,b] [--max-concurrency N] [--status S]\n"
	"                         [--token-limit-param P] [--max-output-tokens N] [--expected-version V]\n"
	"       beebeebrain agent delete ID [--expected-version V]\n"
	"--project may be left out while a project named 'default' exists; `agent list` without it lists all.\n"
	"update changes only the options given; --tools '' clears the list. delete unassigns the agent's tasks.\n"
	"--token-limit-param: how openai requests send the output limit; auto (the default) chooses by model:\n"
	"max_completion_tokens for o1/o3/o4/gpt-5 models and on api.openai.com, max_tokens elsewhere.\n"
	"tools: read_file,list_path,search_files,write_file,append_log,request_input,finish_task,block_task,\n"
	"shell (claude_code only: Claude Code's Bash; never enabled unless listed)";

static void agent_print_one(const ProtobufCMessage *m)
{
	/* Create, Get and Update responses hold one `agent`. */
	const Beebeebrain__V1__GetAgentResponse *r = (const void *)m;

	cli_print_fields(&r->agent->base);
}

static void agent_print_list(const ProtobufCMessage *m)
{
	const Beebeebrain__V1__ListAgentsResponse *r = (const void *)m;

	cli_print_table((ProtobufCMessage *const *)r->agents, r->n_agents,
			"id,project_id,name,role,model_provider,model_name,status,max_concurrency,version");
	if (r->next_page_token[0] != '\0')
		printf("next page: --page-token %s\n", r->next_page_token);
}

static void agent_print_deleted(const ProtobufCMessage *m)
{
	const Beebeebrain__V1__DeleteAgentResponse *r = (const void *)m;

	printf("deleted; %d task(s) unassigned\n", r->unassigned_tasks);
}

/* Splits "a,b" into tools (pointers into buf, n bytes); "" is an empty list. */
static int agent_split_tools(struct cli *cli, const char *text, char *buf, size_t n, char **tools, size_t *count)
{
	char *save = NULL, *tok;

	*count = 0;
	if (strlen(text) >= n)
		return cli_usage_error(cli, "--tools is too long"), -1;
	strcpy(buf, text);
	for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		if (*count == AGENT_MAX_TOOLS)
			return cli_usage_error(cli, "--tools takes at most %d names", AGENT_MAX_TOOLS), -1;
		tools[(*count)++] = tok;
	}
	return 0;
}

/* The values shared by create and update, and the update_mask naming them. */
struct agent_flags {
	char *af_name, *af_role, *af_provider, *af_model, *af_persona;
	char **af_tools;
	size_t af_n_tools;
	int32_t af_max_concurrency;
	int af_status;
	char *af_token_param;
	int32_t af_max_output_tokens;
	char *af_mask[10];
	size_t af_n_mask;
};

static int agent_read_flags(struct cli *cli, const struct cli_args *a, struct agent_flags *f, char *buf, size_t n,
			    char **tools)
{
	static const struct {
		const char *opt;
		const char *field;
		size_t off;
	} texts[] = {
		{"--name", "name", offsetof(struct agent_flags, af_name)},
		{"--role", "role", offsetof(struct agent_flags, af_role)},
		{"--provider", "model_provider", offsetof(struct agent_flags, af_provider)},
		{"--model", "model_name", offsetof(struct agent_flags, af_model)},
		{"--persona", "persona_prompt", offsetof(struct agent_flags, af_persona)},
	};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		const char *v = cli_opt(a, texts[i].opt);
		*(char **)((char *)f + texts[i].off) = (char *)(v != NULL ? v : "");
		if (v != NULL)
			f->af_mask[f->af_n_mask++] = (char *)texts[i].field;
	}
	if (cli_opt(a, "--tools") != NULL) {
		if (agent_split_tools(cli, cli_opt(a, "--tools"), buf, n, tools, &f->af_n_tools) != 0)
			return -1;
		f->af_tools = tools;
		f->af_mask[f->af_n_mask++] = "enabled_tools";
	}
	if (cli_opt(a, "--max-concurrency") != NULL) {
		if (cli_opt_int32(cli, a, "--max-concurrency", &f->af_max_concurrency) != 0)
			return -1;
		f->af_mask[f->af_n_mask++] = "max_concurrency";
	}
	if (cli_opt(a, "--status") != NULL) {
		if (cli_opt_enum(cli, a, "--status", &beebeebrain__v1__agent_status__descriptor, &f->af_status) != 0)
			return -1;
		f->af_mask[f->af_n_mask++] = "status";
	}
	f->af_token_param = "";
	if (cli_opt(a, "--token-limit-param") != NULL) {
		/* "auto" is the empty value: the runtime chooses by model. */
		if (strcmp(cli_opt(a, "--token-limit-param"), "auto") != 0)
			f->af_token_param = (char *)cli_opt(a, "--token-limit-param");
		f->af_mask[f->af_n_mask++] = "token_limit_param";
	}
	if (cli_opt(a, "--max-output-tokens") != NULL) {
		if (cli_opt_int32(cli, a, "--max-output-tokens", &f->af_max_output_tokens) != 0)
			return -1;
		f->af_mask[f->af_n_mask++] = "max_output_tokens";
	}
	return 0;
}

static int agent_create(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__CreateAgentRequest req = BEEBEEBRAIN__V1__CREATE_AGENT_REQUEST__INIT;
	Beebeebrain__V1__CreateAgentResponse *resp = NULL;
	struct agent_flags f = {0};
	char buf[1024], *tools[AGENT_MAX_TOOLS];
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (cli_opt(a, "--name") == NULL || cli_opt(a, "--role") == NULL || cli_opt(a, "--provider") == NULL ||
	    cli_opt(a, "--model") == NULL)
		return cli_usage_error(cli, "agent create needs --name, --role, --provider and --model");
	if (cli_opt_int64(cli, a, "--project", &req.project_id) != 0 ||
	    agent_read_flags(cli, a, &f, buf, sizeof(buf), tools) != 0)
		return CLI_USAGE;
	req.name = f.af_name;
	req.role = f.af_role;
	req.model_provider = f.af_provider;
	req.model_name = f.af_model;
	req.persona_prompt = f.af_persona;
	req.enabled_tools = f.af_tools;
	req.n_enabled_tools = f.af_n_tools;
	req.max_concurrency = f.af_max_concurrency;
	req.status = (Beebeebrain__V1__AgentStatus)f.af_status;
	req.token_limit_param = f.af_token_param;
	req.max_output_tokens = f.af_max_output_tokens;
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	rc = bbb_agent_create_agent(c, &req, &resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, agent_print_one);
}

static int agent_get(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__GetAgentRequest req = BEEBEEBRAIN__V1__GET_AGENT_REQUEST__INIT;
	Beebeebrain__V1__GetAgentResponse *resp = NULL;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (cli_pos_id(cli, a, 1, "agent ID", &req.agent_id) != 0)
		return CLI_USAGE;
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	rc = bbb_agent_get_agent(c, &req, &resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, agent_print_one);
}

static int agent_list(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__ListAgentsRequest req = BEEBEEBRAIN__V1__LIST_AGENTS_REQUEST__INIT;
	Beebeebrain__V1__ListAgentsResponse *resp = NULL;
	int status = 0;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (cli_opt_int64(cli, a, "--project", &req.project_id) != 0 ||
	    cli_opt_enum(cli, a, "--status", &beebeebrain__v1__agent_status__descriptor, &status) != 0 ||
	    cli_opt_int32(cli, a, "--limit", &req.limit) != 0)
		return CLI_USAGE;
	req.status = (Beebeebrain__V1__AgentStatus)status;
	if (cli_opt(a, "--page-token") != NULL)
		req.page_token = (char *)cli_opt(a, "--page-token");
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	rc = cli_list_pages(c, &beebeebrain__v1__agent_service__descriptor, "ListAgents", &req.base, 50,
			    (ProtobufCMessage **)&resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, agent_print_list);
}

static int agent_update(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__UpdateAgentRequest req = BEEBEEBRAIN__V1__UPDATE_AGENT_REQUEST__INIT;
	Beebeebrain__V1__UpdateAgentResponse *resp = NULL;
	struct agent_flags f = {0};
	char buf[1024], *tools[AGENT_MAX_TOOLS];
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (cli_pos_id(cli, a, 1, "agent ID", &req.agent_id) != 0 ||
	    cli_opt_int64(cli, a, "--expected-version", &req.expected_version) != 0 ||
	    agent_read_flags(cli, a, &f, buf, sizeof(buf), tools) != 0)
		return CLI_USAGE;
	if (f.af_n_mask == 0)
		return cli_usage_error(cli, "agent update needs at least one option to change");
	req.name = f.af_name;
	req.role = f.af_role;
	req.model_provider = f.af_provider;
	req.model_name = f.af_model;
	req.persona_prompt = f.af_persona;
	req.enabled_tools = f.af_tools;
	req.n_enabled_tools = f.af_n_tools;
	req.max_concurrency = f.af_max_concurrency;
	req.status = (Beebeebrain__V1__AgentStatus)f.af_status;
	req.token_limit_param = f.af_token_param;
	req.max_output_tokens = f.af_max_output_tokens;
	req.update_mask = f.af_mask;
	req.n_update_mask = f.af_n_mask;
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	rc = bbb_agent_update_agent(c, &req, &resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, agent_print_one);
}

static int agent_delete(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__DeleteAgentRequest req = BEEBEEBRAIN__V1__DELETE_AGENT_REQUEST__INIT;
	Beebeebrain__V1__DeleteAgentResponse *resp = NULL;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (cli_pos_id(cli, a, 1, "agent ID", &req.agent_id) != 0 ||
	    cli_opt_int64(cli, a, "--expected-version", &req.expected_version) != 0)
		return CLI_USAGE;
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	rc = bbb_agent_delete_agent(c, &req, &resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, agent_print_deleted);
}

int cmd_agent(struct cli *cli, int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{"create",
		 "--project= --name= --role= --provider= --model= --persona= --tools= --max-concurrency= --status= "
		 "--token-limit-param= --max-output-tokens=",
		 0, agent_create},
		{"get", "", 1, agent_get},
		{"list", "--project= --status= --limit= --page-token=", 0, agent_list},
		{"update",
		 "--name= --role= --provider= --model= --persona= --tools= --max-concurrency= --status= "
		 "--token-limit-param= --max-output-tokens= --expected-version=",
		 1, agent_update},
		{"delete", "--expected-version=", 1, agent_delete},
	};

	return cli_run_sub(cli, argc, argv, subs, sizeof(subs) / sizeof(subs[0]), agent_usage);
}
