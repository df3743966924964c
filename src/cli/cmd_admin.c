/* beebeebrain admin inject-fault|clear-faults (AdminService InjectFault,
 * ClearFaults): the incident drills' faults, on a server started with
 * --enable-fault-injection. Arguments are checked here first, so a typo is a
 * usage error (exit 2) and never reaches the server. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "beebeebrain/v1/admin.pb-c.h"
#include "cli/cli.h"

#define ADMIN_MAX_COUNT 10000
#define ADMIN_MAX_DURATION_S 600
#define ADMIN_DEFAULT_DURATION_S 10

static const char admin_usage[] =
	"beebeebrain admin inject-fault MODE [--count N] [--duration S]\n"
	"       beebeebrain admin clear-faults\n"
	"Fault injection for incident drills; the server refuses both (FORBIDDEN, exit 1) unless it was started\n"
	"with `serve --enable-fault-injection`.\n"
	"inject-fault MODE arms one fault:\n"
	"  llm_timeout      the next N provider calls time out without calling the provider\n"
	"  llm_transient    the next N provider calls answer 503 without calling the provider\n"
	"  file_permission  the next N workspace writes fail with EACCES\n"
	"  db_lock          another connection holds SQLite's write lock for S seconds\n"
	"  process_restart  the server exits at once without cleaning up, as a crash would\n"
	"  --count N     1..10000 (default 1); llm_timeout, llm_transient and file_permission only\n"
	"  --duration S  seconds, decimals allowed (0.5), over 0 and at most 600 (default 10); db_lock only\n"
	"clear-faults disarms every armed fault that is not used up yet and ends an injected db_lock early;\n"
	"it prints how many were cleared (each armed mode and each lock held counts once).";

static const char *const admin_modes[] = {"llm_timeout", "llm_transient", "file_permission", "db_lock",
					  "process_restart"};

static int admin_mode_known(const char *mode)
{
	for (size_t i = 0; i < sizeof(admin_modes) / sizeof(admin_modes[0]); i++)
		if (strcmp(mode, admin_modes[i]) == 0)
			return 1;
	return 0;
}

static int admin_mode_counts(const char *mode)
{
	return strcmp(mode, "db_lock") != 0 && strcmp(mode, "process_restart") != 0;
}

/* --count: a whole number in 1..ADMIN_MAX_COUNT. */
static int admin_parse_count(struct cli *cli, const char *text, int32_t *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (text[0] == '\0' || *end != '\0' || errno != 0 || v < 1 || v > ADMIN_MAX_COUNT)
		return cli_usage_error(cli, "--count must be a whole number from 1 to %d, got '%s'", ADMIN_MAX_COUNT,
				       text);
	*out = (int32_t)v;
	return 0;
}

/* --duration: seconds (decimals allowed) over 0 and at most ADMIN_MAX_DURATION_S, to whole ms (at least 1). */
static int admin_parse_duration(struct cli *cli, const char *text, int32_t *out_ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(text, &end);
	if (text[0] == '\0' || *end != '\0' || errno != 0 || !(v > 0 && v <= ADMIN_MAX_DURATION_S))
		return cli_usage_error(cli,
				       "--duration must be seconds over 0 and at most %d (e.g. 10 or 0.5), got '%s'",
				       ADMIN_MAX_DURATION_S, text);
	/* !(a && b) and not (!a || !b): NaN fails both comparisons. */
	*out_ms = (int32_t)(v * 1000.0 + 0.5);
	if (*out_ms < 1)
		*out_ms = 1;
	return 0;
}

/* The request being printed, for the human line (the reply is empty). */
static Beebeebrain__V1__InjectFaultRequest admin_injected;

static void admin_print_injected(const ProtobufCMessage *m)
{
	const Beebeebrain__V1__InjectFaultRequest *r = &admin_injected;

	(void)m;
	if (strcmp(r->mode, "db_lock") == 0)
		printf("injected db_lock: the write lock is held for %.3g s (until `beebeebrain admin clear-faults`)\n",
		       r->duration_ms / 1000.0);
	else if (strcmp(r->mode, "process_restart") == 0)
		printf("injected process_restart: the server exits now\n");
	else
		printf("armed %s for the next %d %s\n", r->mode, r->count,
		       strcmp(r->mode, "file_permission") == 0 ? "workspace write(s)" : "provider call(s)");
}

static int admin_inject_fault(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__InjectFaultRequest req = BEEBEEBRAIN__V1__INJECT_FAULT_REQUEST__INIT;
	Beebeebrain__V1__InjectFaultResponse *resp = NULL;
	const char *count = cli_opt(a, "--count"), *duration = cli_opt(a, "--duration");
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (a->a_npos < 2)
		return cli_usage_error(cli, "missing MODE: llm_timeout, llm_transient, file_permission, db_lock or "
					    "process_restart");
	req.mode = (char *)a->a_pos[1];
	if (!admin_mode_known(req.mode))
		return cli_usage_error(cli,
				       "unknown fault mode '%.60s': llm_timeout, llm_transient, file_permission, "
				       "db_lock or process_restart",
				       req.mode);
	if (count != NULL && !admin_mode_counts(req.mode))
		return cli_usage_error(cli, "--count applies to llm_timeout, llm_transient and file_permission, not %s",
				       req.mode);
	if (duration != NULL && strcmp(req.mode, "db_lock") != 0)
		return cli_usage_error(cli, "--duration applies to db_lock only, not %s", req.mode);
	req.count = admin_mode_counts(req.mode) ? 1 : 0;
	if (count != NULL && admin_parse_count(cli, count, &req.count) != 0)
		return CLI_USAGE;
	if (strcmp(req.mode, "db_lock") == 0) {
		req.duration_ms = ADMIN_DEFAULT_DURATION_S * 1000;
		if (duration != NULL && admin_parse_duration(cli, duration, &req.duration_ms) != 0)
			return CLI_USAGE;
	}
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	admin_injected = req;
	rc = bbb_admin_inject_fault(c, &req, &resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, admin_print_injected);
}

static void admin_print_cleared(const ProtobufCMessage *m)
{
	const Beebeebrain__V1__ClearFaultsResponse *r = (const void *)m;

	printf("cleared %d fault(s)\n", r->cleared);
}

static int admin_clear_faults(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__ClearFaultsRequest req = BEEBEEBRAIN__V1__CLEAR_FAULTS_REQUEST__INIT;
	Beebeebrain__V1__ClearFaultsResponse *resp = NULL;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	(void)a;
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	rc = bbb_admin_clear_faults(c, &req, &resp, &st);
	return cli_done(cli, rc, &st, (ProtobufCMessage *)resp, admin_print_cleared);
}

int cmd_admin(struct cli *cli, int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{"inject-fault", "--count= --duration=", 1, admin_inject_fault},
		{"clear-faults", "", 0, admin_clear_faults},
	};

	return cli_run_sub(cli, argc, argv, subs, sizeof(subs) / sizeof(subs[0]), admin_usage);
}
