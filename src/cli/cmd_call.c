/*
 * beebeebrain call SERVICE/METHOD ['{json}']: any method, with the request
 * written in the proto3 JSON mapping (our own grpcurl).
 *
 * The method is found in the service descriptors compiled into the binary,
 * the JSON is decoded into its input message with pbjson_decode before
 * anything is sent (a bad request is a usage error, exit 2, naming the field
 * path), the call goes through bbb_call like every typed command, and the
 * reply is printed as proto3 JSON, as `-o json` prints it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/pbjson.h"
#include "common/xalloc.h"

static const char call_usage[] = "beebeebrain call SERVICE/METHOD ['{json}'] [--request-id ID]";

static const char call_help[] =
	"Calls any RPC method with a request written in the proto3 JSON mapping and prints the\n"
	"response the same way (as -o json prints it).\n"
	"  SERVICE   short (TaskService) or full (beebeebrain.v1.TaskService); METHOD as in the .proto\n"
	"            (GetTask). `beebeebrain describe` lists them, `describe SERVICE/METHOD` shows the\n"
	"            request and response messages.\n"
	"  JSON      the request: keys are the .proto field names or their lowerCamelCase JSON names,\n"
	"            64-bit integers may be strings (\"12\"), enums a value's name or number, bytes\n"
	"            base64. Unknown fields are refused. Left out or `-`: read from stdin; an empty\n"
	"            stdin (or a terminal) is the empty request {}.\n"
	"  --request-id ID  the call's idempotency key (1..128 characters): a write repeated with the\n"
	"            same ID within the server's reply-cache window gets the first answer instead of\n"
	"            running again, so a call that timed out or found the server unreachable can be\n"
	"            retried safely. Default: a fresh id per call.\n"
	"A request that does not decode is refused before anything is sent (exit 2, the field path\n"
	"named); so is an unknown service or method (exit 2, the close matches listed). Errors from the\n"
	"server print as for every command (exit 1).\n"
	"example: beebeebrain call TaskService/GetTask '{\"task_id\": \"1\"}'\n"
	"         echo '{}' | beebeebrain call beebeebrain.v1.HealthService/Check";

/* Reads all of stdin, at most BBB_REQUEST_MAX_BYTES + 1 bytes (one more
 * than the decoder takes, so that it refuses the rest as too large). */
static char *call_read_stdin(size_t *len)
{
	size_t cap = 4096, max = BBB_REQUEST_MAX_BYTES + 1;
	char *buf = xmalloc(cap);

	*len = 0;
	while (*len < max) {
		size_t got;
		if (*len == cap) {
			cap = cap * 2 < max ? cap * 2 : max;
			buf = xrealloc(buf, cap);
		}
		got = fread(buf + *len, 1, cap - *len, stdin);
		if (got == 0)
			break;
		*len += got;
	}
	return buf;
}

static int call_blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
			return 0;
	return 1;
}

/* A request that does not decode: the decoder's status, as a usage error. */
static int call_bad_request(const bbb_status *st)
{
	fprintf(stderr, "error: %s %s: %s\n", bbb_code_name(st->code), st->reason, st->message);
	for (int i = 0; i < st->n_violations; i++)
		fprintf(stderr, "  %s: %s\n", st->violations[i].field, st->violations[i].description);
	fprintf(stderr, "usage: %s\n", call_usage);
	return CLI_USAGE;
}

static int call_send(struct cli *cli, const ProtobufCServiceDescriptor *svc, const ProtobufCMethodDescriptor *method,
		     const ProtobufCMessage *req, const char *request_id)
{
	const bbb_call_opts opts = {.request_id = request_id};
	ProtobufCMessage *resp = NULL;
	bbb_status st;
	bbb_client *c;
	char *text;
	int rc = 0;

	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	if (bbb_call_ex(c, svc, method->name, req, &resp, &opts, &st) != 0)
		return cli_report(&st);
	text = pbjson_dumps(resp, PBJSON_PRETTY);
	bbb_free(resp);
	if (text == NULL) {
		fprintf(stderr,
			"error: INTERNAL MALFORMED_RESPONSE: the reply of %s/%s has no JSON form (a string "
			"that is not UTF-8)\n",
			svc->name, method->name);
		return CLI_SERVER_ERROR;
	}
	printf("%s\n", text);
	free(text);
	return fflush(stdout) == 0 ? CLI_OK : CLI_SERVER_ERROR;
}

int cmd_call(struct cli *cli, int argc, char **argv)
{
	const ProtobufCServiceDescriptor *svc;
	const ProtobufCMethodDescriptor *method;
	ProtobufCMessage *req = NULL;
	struct cli_args a;
	char *input = NULL;
	const char *json;
	size_t len;
	bbb_status st;
	int rc;

	cli->c_usage = call_usage;
	if (cli_parse(cli, argc, argv, "--help --request-id=", 2, &a) != 0)
		return CLI_USAGE;
	if (cli_flag(&a, "--help"))
		return printf("usage: %s\n%s\n", call_usage, call_help), CLI_OK;
	if (a.a_npos < 1)
		return cli_usage_error(cli, "missing SERVICE/METHOD (beebeebrain describe lists them)");
	if (cli_schema_find_method(cli, a.a_pos[0], &svc, &method) != 0)
		return CLI_USAGE;
	if (a.a_npos == 2 && strcmp(a.a_pos[1], "-") != 0) {
		json = a.a_pos[1];
		len = strlen(json);
	} else if (a.a_npos == 1 && isatty(STDIN_FILENO)) {
		json = "{}";
		len = 2;
	} else {
		input = call_read_stdin(&len);
		json = input;
	}
	if (call_blank(json, len)) {
		json = "{}";
		len = 2;
	}
	if (pbjson_decode(method->input, json, len, NULL, &req, &st) != 0) {
		free(input);
		return call_bad_request(&st);
	}
	free(input);
	rc = call_send(cli, svc, method, req, cli_opt(&a, "--request-id"));
	protobuf_c_message_free_unpacked(req, NULL);
	return rc;
}
