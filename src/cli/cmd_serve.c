/* beebeebrain serve: reads the configuration (server/config.h) and runs the server (src/server/). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "server/server.h"

extern char **environ;

static const char serve_usage[] =
	"beebeebrain serve [--db PATH|URL] [--rpc URL]... [--events URL]... [--http URL|none]... [--workers N]\n"
	"                  [--tls-cert FILE --tls-key FILE] [--autorun] [--durability full|normal]\n"
	"                  [--enable-fault-injection] [--migrate]";

/* An invalid configuration, as a validation error: one line per setting. */
static int serve_config_error(const bbb_status *st)
{
	fprintf(stderr, "error: %s %s: %s\n", bbb_code_name(st->code), st->reason, st->message);
	for (int i = 0; i < st->n_violations; i++)
		fprintf(stderr, "  %s: %s\n", st->violations[i].field, st->violations[i].description);
	fprintf(stderr, "the settings, their values and defaults: beebeebrain serve --help\n");
	return CLI_USAGE;
}

int cmd_serve(struct cli *cli, int argc, char **argv)
{
	struct config_arg args[CLI_MAX_ARGS];
	char names[CLI_MAX_ARGS][32];
	struct config c;
	struct cli_args a;
	bbb_status st;

	cli->c_usage = serve_usage;
	if (cli_parse(cli, argc, argv,
		      "--db= --rpc= --events= --http= --tls-cert= --tls-key= --workers= --autorun --durability= "
		      "--enable-fault-injection "
		      "--migrate "
		      "--event-retention= --help",
		      0, &a) != 0)
		return CLI_USAGE;
	if (cli_flag(&a, "--help")) {
		char *help = config_help();
		printf("usage: %s\n%s\n", serve_usage, help);
		free(help);
		return CLI_OK;
	}
	/* The flags as given ("--db=x" and "--db x" alike), in order. */
	for (int i = 0; i < a.a_nopt; i++) {
		snprintf(names[i], sizeof(names[i]), "%.*s", (int)a.a_opt[i].name_len, a.a_opt[i].name);
		args[i] = (struct config_arg){names[i], a.a_opt[i].value};
	}
	if (config_load(&c, environ, args, (size_t)a.a_nopt, &st) != 0 || config_check_files(&c, &st) != 0)
		return serve_config_error(&st);
	return server_run(&c);
}
