/*
 * beebeebrain: the server (`serve`) and every client command in one binary.
 * main() strips the global client options (--rpc URL, -o json), finds the
 * command group and hands it the rest. Each group lives in cmd_<group>.c.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/xalloc.h"

static const char cli_overview[] =
	"beebeebrain " BBB_VERSION " - runs a team of LLM agents on a project's tasks\n"
	"\n"
	"usage: beebeebrain [--rpc URL] [-o json] COMMAND [ARGS]\n"
	"\n"
	"server:\n"
	"  serve [--db PATH|URL] [--rpc URL]... [--events URL]... [--workers N] [--autorun]\n"
	"        [--durability full|normal] [--enable-fault-injection] [--migrate]\n"
	"client commands:\n"
	"  health | ready | triage\n"
	"  project create NAME --root PATH | project get ID | project list\n"
	"  task create --project ID --title TITLE [--description TEXT] [--priority 1-5]\n"
	"              [--assignee AGENT_ID] [--parent TASK_ID] [--due-at RFC3339]\n"
	"  task get ID | task list [--project ID] [--status S] [--assignee ID] [--limit N] [--page-token T]\n"
	"  task update ID [--title T] [--description D] [--status S] [--priority N] [--assignee ID]\n"
	"              [--expected-version V] | task delete ID\n"
	"  task pause|resume|retry|cancel ID [--expected-version V] [--actor NAME]\n"
	"  task broadcast pause|resume|retry|cancel --project ID [--ids 1,2,3] [--status S] [--limit N]\n"
	"  task deps add ID --on OTHER_ID [--type finish_to_start] | task deps remove ID --on OTHER_ID\n"
	"  task ready --project ID\n"
	"  task run ID --prompt TEXT [--provider P] [--model M] [--system TEXT] [--max-turns N] [--timeout S]\n"
	"              [--max-output-tokens N] [--idempotency-key K] [--wait]\n"
	"  run get RUN_ID | run list [--task ID] [--status S]\n"
	"  agent create --project ID --name NAME --role ROLE --provider anthropic|openai|claude_code|echo\n"
	"               --model MODEL [--persona TEXT] [--tools a,b] [--max-concurrency N] [--max-output-tokens N]\n"
	"  agent get ID | agent list [--project ID] [--status S] | agent update ID [same flags] | agent delete ID\n"
	"  tool finish-task ID --key K | tool block-task ID --key K [--reason TEXT]\n"
	"  tool request-input ID --key K --title TITLE --content TEXT\n"
	"  inbox list [--project ID] [--status open|closed] [--type T] | inbox get ID\n"
	"  inbox note --project ID --title TITLE --content TEXT | inbox close ID [--input TEXT] [--resolver NAME]\n"
	"  logs [--project ID] [--task ID] [--run ID] [--level L] [--limit N]\n"
	"  logs append --run ID [--level L] MESSAGE\n"
	"  metrics runs-summary [--project ID] [--from RFC3339] [--to RFC3339]\n"
	"  metrics usage-daily [--provider P] [--model M] [--from DATE] [--to DATE]\n"
	"  events [--replay-last N] [--after ID] [--type PREFIX] [--project ID] [--follow] [--events URL]\n"
	"  alerts list [--status open|resolved] [--code C] [--project ID] | alerts ack ID [--note T]\n"
	"  alerts resolve ID [--note T]\n"
	"  runtime status | runtime breaker reset ENDPOINT\n"
	"  admin inject-fault MODE [--count N] [--duration S] | admin clear-faults\n"
	"any method (proto3 JSON in and out) and the schema:\n"
	"  call SERVICE/METHOD ['{json}'] [--request-id ID]\n"
	"  describe [SERVICE[/METHOD]|MESSAGE] [--descriptor-set-out FILE]\n"
	"maintenance (offline unless a server holds the database):\n"
	"  migrate status|up|down [N] [--db PATH|URL]\n"
	"  backup [--out PATH] [--db PATH]\n"
	"  restore FILE [--db PATH]\n"
	"\n"
	"global options:\n"
	"  --rpc URL   server RPC URL (env BEEBEEBRAIN_RPC_URL, default tcp://127.0.0.1:7420)\n"
	"  -o json     print the response as proto3 JSON instead of a table\n"
	"  --help      help of a command: beebeebrain task --help\n"
	"\n"
	"exit status: 0 success, 1 error from the server, 2 usage error, 3 server unreachable,\n"
	"             4 an incident is open (triage)\n";

struct cli_command {
	const char *name;
	int (*fn)(struct cli *cli, int argc, char **argv);
	int takes_rpc; /* the command parses --rpc itself (serve) */
};

/* clang-format off */
static const struct cli_command cli_commands[] = {
	{"serve", cmd_serve, 1},
	{"health", cmd_health, 0},
	{"ready", cmd_ready, 0},
	{"triage", cmd_triage, 0},
	{"project", cmd_project, 0},
	{"task", cmd_task, 0},
	{"agent", cmd_agent, 0},
	{"run", cmd_run, 0},
	{"tool", cmd_tool, 0},
	{"inbox", cmd_inbox, 0},
	{"logs", cmd_logs, 0},
	{"metrics", cmd_metrics, 0},
	{"migrate", cmd_migrate, 0},
	{"backup", cmd_backup, 0},
	{"events", cmd_events, 0},
	{"alerts", cmd_alerts, 0},
	{"runtime", cmd_runtime, 0},
	{"admin", cmd_admin, 0},
	{"call", cmd_call, 0},
	{"describe", cmd_describe, 0},
	{"restore", cmd_restore, 0},
};
/* clang-format on */

/* Removes --rpc URL and -o FORMAT from args (they may stand anywhere). */
static int cli_take_globals(struct cli *cli, int *argc, char **argv, int keep_rpc)
{
	int out = 0;

	for (int i = 0; i < *argc; i++) {
		const char *a = argv[i];
		const char *fmt = NULL;

		if (!keep_rpc && strcmp(a, "--rpc") == 0) {
			if (i + 1 >= *argc)
				return cli_usage_error(cli, "--rpc needs a URL");
			cli->c_rpc_url = argv[++i];
		} else if (!keep_rpc && strncmp(a, "--rpc=", 6) == 0) {
			cli->c_rpc_url = a + 6;
		} else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
			if (i + 1 >= *argc)
				return cli_usage_error(cli, "%s needs a format: json or table", a);
			fmt = argv[++i];
		} else if (strncmp(a, "-o", 2) == 0 && a[2] != '\0' && a[1] == 'o') {
			fmt = a[2] == '=' ? a + 3 : a + 2;
		} else if (strncmp(a, "--output=", 9) == 0) {
			fmt = a + 9;
		} else {
			argv[out++] = argv[i];
			continue;
		}
		if (fmt != NULL) {
			if (strcmp(fmt, "json") == 0)
				cli->c_json = 1;
			else if (strcmp(fmt, "table") == 0)
				cli->c_json = 0;
			else
				return cli_usage_error(cli, "unknown output format '%s' (json or table)", fmt);
		}
	}
	*argc = out;
	return 0;
}

int main(int argc, char **argv)
{
	struct cli cli = {0};
	const struct cli_command *cmd = NULL;
	const char *word = NULL; /* the word where the search for the command stopped */
	int rc;

	/* One allocation policy (common/xalloc.h), jansson's included. */
	json_set_alloc_funcs(xmalloc, free);
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		fputs(cli_overview, argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("beebeebrain %s\n", BBB_VERSION);
		return CLI_OK;
	}
	argc--;
	argv++;
	/* Globals may come before the command too: beebeebrain --rpc URL health. */
	for (int i = 0; i < argc && cmd == NULL; i++) {
		for (size_t c = 0; c < sizeof(cli_commands) / sizeof(cli_commands[0]); c++)
			if (strcmp(argv[i], cli_commands[c].name) == 0) {
				cmd = &cli_commands[c];
				break;
			}
		if (cmd != NULL)
			break;
		word = argv[i];
		if (strcmp(argv[i], "--rpc") != 0 && strcmp(argv[i], "-o") != 0 && strcmp(argv[i], "--output") != 0)
			break; /* not a command, not a global option */
		i++; /* skip the option's value */
	}
	if (cmd == NULL) {
		if (word != NULL && word[0] != '-')
			fprintf(stderr, "error: INVALID_ARGUMENT USAGE: unknown command '%s'\n\n%s", word,
				cli_overview);
		else if (word != NULL && strcmp(word, "--rpc") != 0 && strcmp(word, "-o") != 0 &&
			 strcmp(word, "--output") != 0)
			fprintf(stderr, "error: INVALID_ARGUMENT USAGE: unknown option '%s' before the command\n\n%s",
				word, cli_overview);
		else
			fprintf(stderr, "error: INVALID_ARGUMENT USAGE: no command given\n\n%s", cli_overview);
		return CLI_USAGE;
	}
	if (cli_take_globals(&cli, &argc, argv, cmd->takes_rpc) != 0)
		return CLI_USAGE;
	/* argv[0] is now the command name (globals before it were removed). */
	rc = cmd->fn(&cli, argc - 1, argv + 1);
	if (cli.c_client != NULL)
		bbb_client_close(cli.c_client);
	return rc;
}
