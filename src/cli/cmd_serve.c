/* beebeebrain serve: parses the server's flags and runs it (src/server/). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "server/server.h"

static const char serve_usage[] =
	"beebeebrain serve [--db PATH] [--rpc URL]... [--events URL]... [--workers N] [--autorun]\n"
	"                  [--durability full|normal] [--enable-fault-injection]\n"
	"  --db PATH          SQLite database (env BEEBEEBRAIN_DB, default ./beebeebrain.db)\n"
	"  --rpc URL          RPC listen URL, repeatable (default tcp://127.0.0.1:7420)\n"
	"  --events URL       event publish URL, repeatable (default tcp://127.0.0.1:7421)\n"
	"  --workers N        RPC worker threads (default 2 x cores, at least 4)\n"
	"  --autorun          queue runs for ready tasks with an assignee automatically\n"
	"  --durability D     full: an acknowledged write survives power loss (default); normal: faster\n"
	"  --enable-fault-injection  allow AdminService/InjectFault (drills and tests only)\n"
	"  --event-retention D  keep events this long: 30d (default), 12h, 45m, 90s\n"
	"Stops cleanly on SIGTERM or SIGINT.";

/* "30d", "12h", "45m", "90s" -> milliseconds (> 0). */
static int serve_parse_duration(const char *s, int64_t *ms)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};
	char *end;
	long long n = strtoll(s, &end, 10);

	if (end == s || n <= 0 || n > 36500LL * 24)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].unit) == 0) {
			*ms = n * units[i].ms;
			return 0;
		}
	return -1;
}

int cmd_serve(struct cli *cli, int argc, char **argv)
{
	struct server_config c;
	struct cli_args a;
	const char *v;
	int64_t workers = 0;

	cli->c_usage = serve_usage;
	if (cli_parse(cli, argc, argv,
		      "--db= --rpc= --events= --workers= --autorun --durability= --enable-fault-injection "
		      "--event-retention= --help",
		      0, &a) != 0)
		return CLI_USAGE;
	if (cli_flag(&a, "--help"))
		return printf("usage: %s\n", serve_usage), CLI_OK;
	server_config_defaults(&c);
	if ((v = cli_opt(&a, "--db")) != NULL)
		c.db_path = v;
	for (int i = 0; i < a.a_nopt; i++) {
		int is_rpc = cli_opt_is(&a, i, "--rpc"), is_events = cli_opt_is(&a, i, "--events");
		if (!is_rpc && !is_events)
			continue;
		if ((is_rpc ? c.n_rpc_urls : c.n_event_urls) >= SERVER_MAX_URLS)
			return cli_usage_error(cli, "at most %d URLs per option", SERVER_MAX_URLS);
		if (is_rpc)
			c.rpc_urls[c.n_rpc_urls++] = a.a_opt[i].value;
		else
			c.event_urls[c.n_event_urls++] = a.a_opt[i].value;
	}
	if (cli_opt_int64(cli, &a, "--workers", &workers) != 0)
		return CLI_USAGE;
	if (cli_opt(&a, "--workers") != NULL && (workers < 1 || workers > 1024))
		return cli_usage_error(cli, "--workers must be 1..1024");
	c.workers = (int)workers;
	if ((v = cli_opt(&a, "--durability")) != NULL) {
		if (strcmp(v, "full") != 0 && strcmp(v, "normal") != 0)
			return cli_usage_error(cli, "--durability must be full or normal, got '%s'", v);
		c.durability_full = strcmp(v, "full") == 0;
	}
	if ((v = cli_opt(&a, "--event-retention")) != NULL && serve_parse_duration(v, &c.event_retention_ms) != 0)
		return cli_usage_error(cli, "--event-retention needs a duration like 30d, 12h, 45m or 90s, got '%s'",
				       v);
	c.autorun = cli_flag(&a, "--autorun");
	c.fault_injection = cli_flag(&a, "--enable-fault-injection");
	return server_run(&c);
}
