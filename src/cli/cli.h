/*
 * The command-line tool: shared machinery for the command groups.
 *
 * Every command is a function `int cmd_x(struct cli *cli, int argc, char **argv)`
 * returning the process exit status of docs/cli.md: 0 success, 1 an error
 * answered by the server, 2 a usage error, 3 the server could not be reached,
 * 4 (triage only) an incident is open.
 * Commands parse their arguments with cli_parse against a spec of the options
 * they accept, call the server through the C client library only, and print
 * either a compact table or, with `-o json`, the response message in the
 * proto3 JSON mapping.
 */
#ifndef BBB_CLI_H
#define BBB_CLI_H

#include <stddef.h>
#include <stdint.h>

#include <beebeebrain/client.h>

/* CLI_INCIDENT: `triage` found something that pages (verdict incident). */
enum { CLI_OK = 0, CLI_SERVER_ERROR = 1, CLI_USAGE = 2, CLI_UNREACHABLE = 3, CLI_INCIDENT = 4 };

#define CLI_MAX_ARGS 64

struct cli {
	const char *c_rpc_url; /* --rpc, else $BEEBEEBRAIN_RPC_URL, else the default */
	int c_json; /* -o json */
	const char *c_usage; /* usage line of the running command, for errors */
	bbb_client *c_client;
};

/* Parsed arguments of one command. */
struct cli_args {
	const char *a_pos[CLI_MAX_ARGS];
	int a_npos;
	struct {
		const char *name; /* points into argv: "--title" or "--title=x" */
		size_t name_len; /* length of the name part */
		const char *value; /* NULL for a flag */
	} a_opt[CLI_MAX_ARGS];
	int a_nopt;
};

/* Parses argv against `spec`, a space-separated list of accepted options:
 * "--title=" takes a value, "--wait" is a flag. "--name value" and
 * "--name=value" are both accepted. Prints a usage error and returns -1 on an
 * unknown option, a missing value, or more than max_pos positionals. */
int cli_parse(struct cli *cli, int argc, char **argv, const char *spec, int max_pos, struct cli_args *out);
/* True when option i is `name`. */
int cli_opt_is(const struct cli_args *a, int i, const char *name);
/* The last value of an option, or NULL. */
const char *cli_opt(const struct cli_args *a, const char *name);
int cli_flag(const struct cli_args *a, const char *name);
/* Option or positional parsed as a positive id / integer / enum / time; on a
 * bad value prints a usage error and returns -1. Absent options leave *out. */
int cli_opt_int64(struct cli *cli, const struct cli_args *a, const char *name, int64_t *out);
int cli_opt_int32(struct cli *cli, const struct cli_args *a, const char *name, int32_t *out);
int cli_opt_enum(struct cli *cli, const struct cli_args *a, const char *name, const ProtobufCEnumDescriptor *d,
		 int *out);
int cli_opt_time(struct cli *cli, const struct cli_args *a, const char *name, int64_t *out_ms);
int cli_pos_id(struct cli *cli, const struct cli_args *a, int i, const char *what, int64_t *out);

/* Prints "error: INVALID_ARGUMENT USAGE: <msg>" and the usage line; returns 2. */
int cli_usage_error(struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reports a failed call as docs/cli.md says; returns the exit status. */
int cli_report(const bbb_status *st);

/* The client, opened on first use. NULL with the error reported (exit code in
 * *rc) when the server cannot be reached. */
bbb_client *cli_client(struct cli *cli, int *rc);

/* Output of a response: JSON with -o json, else `print_human(msg)`; frees it. */
int cli_output(struct cli *cli, ProtobufCMessage *resp, void (*print_human)(const ProtobufCMessage *msg));
/* The end of most commands: reports a failed call (rc != 0, exit status as
 * cli_report), else outputs resp as cli_output does. */
int cli_done(struct cli *cli, int rc, const bbb_status *st, ProtobufCMessage *resp,
	     void (*print_human)(const ProtobufCMessage *msg));
/* Parses a comma-separated list of positive ids ("1,2,3") into out (at most
 * max); a usage error and -1 on anything else. */
int cli_parse_id_list(struct cli *cli, const char *name, const char *text, int64_t *out, size_t max, size_t *n);
/* Human output helpers, generic over descriptors. `cols` is a comma-separated
 * list of field names; enum values print as their short text. */
void cli_print_table(ProtobufCMessage *const *rows, size_t n, const char *cols);
void cli_print_fields(const ProtobufCMessage *m);

/* Whole pages (cli_pages.c). A reply stops early when its rows are big; a
 * command that asked for N rows calls again from where it stopped.
 * cli_list_pages calls `method` (a List method: request `limit` and
 * `page_token`, reply rows and `next_page_token`) until the limit given in
 * req (else `dflt`) is reached or no page follows; the rows of every page end
 * up in *resp, with the last page's token. req is left as it was. 0, or -1
 * with *st filled and *resp NULL. */
int cli_list_pages(bbb_client *c, const ProtobufCServiceDescriptor *svc, const char *method, ProtobufCMessage *req,
		   int32_t dflt, ProtobufCMessage **resp, bbb_status *st);
/* Rows (the repeated message field) of a list reply. */
size_t cli_rows_n(const ProtobufCMessage *m);
/* Moves the rows of `from` behind those of `into` (same message type). */
void cli_take_rows(ProtobufCMessage *into, ProtobufCMessage *from);

/* Servers on the database (cli_servers.c), for `ready` and `triage`. */
struct Beebeebrain__V1__Server;
/* "45s ago", "12m05s ago", "3h20m ago", "2d03h ago"; "-" when then_ms is 0.
 * Returns buf. */
const char *cli_ago(char *buf, size_t n, int64_t now_ms, int64_t then_ms);
/* Text from a server, control characters as '?'. */
void cli_put_text(const char *s);
/* One line per server: id, alive | stopped | DEAD, pid, version, latest
 * heartbeat (before now_ms), address, "(this server)". */
void cli_print_servers(struct Beebeebrain__V1__Server *const *servers, size_t n, int64_t now_ms);

/* A subcommand of a group ("task create"): its options and positionals
 * (the subcommand's own name is positional 0). */
struct cli_sub {
	const char *name;
	const char *spec;
	int max_pos;
	int (*fn)(struct cli *cli, const struct cli_args *a);
};
/* Runs the subcommand named by the first positional; --help anywhere prints
 * `usage` and returns 0. */
int cli_run_sub(struct cli *cli, int argc, char **argv, const struct cli_sub *subs, size_t n, const char *usage);

/* The schema compiled into the binary (cli_schema.c), for call and describe.
 * Lists point into static storage; names are as a user types them: a full
 * name ("beebeebrain.v1.TaskService", an optional leading '.') or the last
 * part ("TaskService"). */
size_t cli_schema_services(const ProtobufCServiceDescriptor *const **out);
/* Every message and enum a method, the envelope or the event stream uses. */
size_t cli_schema_messages(const ProtobufCMessageDescriptor *const **out);
size_t cli_schema_enums(const ProtobufCEnumDescriptor *const **out);
/* NULL when there is no such service / message / enum. */
const ProtobufCServiceDescriptor *cli_schema_service(const char *name, size_t len);
const ProtobufCMessageDescriptor *cli_schema_message(const char *name);
const ProtobufCEnumDescriptor *cli_schema_enum(const char *name);
/* Splits "SERVICE/METHOD" (also "/SERVICE/METHOD" and "SERVICE.METHOD") into
 * its service and the method's name (pointing into text, not checked); -1
 * when there is no separator or no such service. */
int cli_schema_method(const char *text, const ProtobufCServiceDescriptor **svc, const char **method);
#define CLI_SCHEMA_MAX_SUGGEST 8
/* The candidates close to `name` (edit distance, case ignored, or one inside
 * the other), closest first, into out[CLI_SCHEMA_MAX_SUGGEST]; their count. */
size_t cli_schema_close(const char *name, const char *const *cands, size_t n, const char **out);
/* A usage error (exit 2) for an unknown `what` named `name`, listing the
 * close candidates, else all of them when `all` is set. */
int cli_schema_unknown(struct cli *cli, const char *what, const char *name, const char *const *cands, size_t n,
		       int all);
/* Finds the method named by "SERVICE/METHOD" (forms as cli_schema_method);
 * else a usage error naming the close matches, and -1. */
int cli_schema_find_method(struct cli *cli, const char *text, const ProtobufCServiceDescriptor **svc,
			   const ProtobufCMethodDescriptor **method);
/* The FileDescriptorSet of proto/ serialized, embedded at build time
 * (descriptor_set.c, generated); length 0 when protoc was not found. */
extern const unsigned char cli_descriptor_set[];
extern const size_t cli_descriptor_set_len;

/* Command groups. */
int cmd_serve(struct cli *cli, int argc, char **argv);
int cmd_health(struct cli *cli, int argc, char **argv);
int cmd_ready(struct cli *cli, int argc, char **argv);
int cmd_project(struct cli *cli, int argc, char **argv);
int cmd_task(struct cli *cli, int argc, char **argv);
int cmd_migrate(struct cli *cli, int argc, char **argv);
int cmd_backup(struct cli *cli, int argc, char **argv);
int cmd_restore(struct cli *cli, int argc, char **argv);
int cmd_events(struct cli *cli, int argc, char **argv);
int cmd_agent(struct cli *cli, int argc, char **argv);
int cmd_run(struct cli *cli, int argc, char **argv);
int cmd_tool(struct cli *cli, int argc, char **argv);
int cmd_inbox(struct cli *cli, int argc, char **argv);
int cmd_logs(struct cli *cli, int argc, char **argv);
int cmd_metrics(struct cli *cli, int argc, char **argv);
int cmd_alerts(struct cli *cli, int argc, char **argv);
int cmd_runtime(struct cli *cli, int argc, char **argv);
int cmd_admin(struct cli *cli, int argc, char **argv);
int cmd_triage(struct cli *cli, int argc, char **argv);
int cmd_call(struct cli *cli, int argc, char **argv);
int cmd_describe(struct cli *cli, int argc, char **argv);

#endif
