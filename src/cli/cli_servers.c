/*
 * The servers on the database as `ready` and `triage` print them: one line
 * each, its state first (alive, stopped, or DEAD: silent without a clean
 * stop, the one an operator must look at), then what tells it apart.
 */
#include <stdio.h>

#include "beebeebrain/v1/common.pb-c.h"
#include "cli/cli.h"

const char *cli_ago(char *buf, size_t n, int64_t now_ms, int64_t then_ms)
{
	int64_t s = now_ms > then_ms ? (now_ms - then_ms) / 1000 : 0;

	if (then_ms == 0)
		snprintf(buf, n, "-");
	else if (s < 60)
		snprintf(buf, n, "%llds ago", (long long)s);
	else if (s < 3600)
		snprintf(buf, n, "%lldm%02llds ago", (long long)(s / 60), (long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, n, "%lldh%02lldm ago", (long long)(s / 3600), (long long)(s % 3600 / 60));
	else
		snprintf(buf, n, "%lldd%02lldh ago", (long long)(s / 86400), (long long)(s % 86400 / 3600));
	return buf;
}

void cli_put_text(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		putchar((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
}

void cli_print_servers(Beebeebrain__V1__Server *const *servers, size_t n, int64_t now_ms)
{
	char ago[32];

	for (size_t i = 0; i < n; i++) {
		const Beebeebrain__V1__Server *s = servers[i];

		printf("  ");
		cli_put_text(s->id);
		printf(" %-7s pid %d ", s->alive ? "alive" : s->stopped_at_ms != 0 ? "stopped" : "DEAD", s->pid);
		cli_put_text(s->version);
		printf(" heartbeat %s ", cli_ago(ago, sizeof(ago), now_ms, s->heartbeat_at_ms));
		cli_put_text(s->address);
		printf("%s\n", s->this_server ? " (this server)" : "");
	}
}
