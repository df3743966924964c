/*
 * The schema compiled into the binary, for `call` and `describe`: every RPC
 * service (the X-macro list services.def, derived from the .proto files),
 * every message and enum reachable from their methods or from the envelope
 * (RpcRequest, RpcResponse) and the event stream (Event), and lookups by the
 * names a user types, with close matches when a name is not there.
 *
 * protobuf-c keeps no registry of messages, so the registry is a walk over
 * the descriptors, built once on first use (the CLI is one thread).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <beebeebrain/services_includes.h>

#include "beebeebrain/v1/events.pb-c.h"
#include "beebeebrain/v1/rpc.pb-c.h"
#include "cli/cli.h"
#include "common/dbuf.h"
#include "common/xalloc.h"

static const ProtobufCServiceDescriptor *const schema_services[] = {
#define BBB_SERVICE(stem, Name, desc) &(desc),
#include <beebeebrain/services.def>
};

#define SCHEMA_MAX_TYPES 1024

static struct {
	int sc_built;
	const ProtobufCMessageDescriptor *sc_msgs[SCHEMA_MAX_TYPES];
	size_t sc_n_msgs;
	const ProtobufCEnumDescriptor *sc_enums[SCHEMA_MAX_TYPES];
	size_t sc_n_enums;
} schema;

size_t cli_schema_services(const ProtobufCServiceDescriptor *const **out)
{
	*out = schema_services;
	return sizeof(schema_services) / sizeof(schema_services[0]);
}

static void schema_add_enum(const ProtobufCEnumDescriptor *e)
{
	for (size_t i = 0; i < schema.sc_n_enums; i++)
		if (schema.sc_enums[i] == e)
			return;
	if (schema.sc_n_enums < SCHEMA_MAX_TYPES)
		schema.sc_enums[schema.sc_n_enums++] = e;
}

static void schema_add_msg(const ProtobufCMessageDescriptor *m)
{
	for (size_t i = 0; i < schema.sc_n_msgs; i++)
		if (schema.sc_msgs[i] == m)
			return;
	if (schema.sc_n_msgs == SCHEMA_MAX_TYPES)
		return;
	schema.sc_msgs[schema.sc_n_msgs++] = m;
	for (unsigned i = 0; i < m->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &m->fields[i];
		if (f->type == PROTOBUF_C_TYPE_MESSAGE)
			schema_add_msg(f->descriptor);
		else if (f->type == PROTOBUF_C_TYPE_ENUM)
			schema_add_enum(f->descriptor);
	}
}

static void schema_build(void)
{
	const ProtobufCServiceDescriptor *const *svcs;
	size_t n = cli_schema_services(&svcs);

	if (schema.sc_built)
		return;
	schema.sc_built = 1;
	for (size_t s = 0; s < n; s++)
		for (unsigned m = 0; m < svcs[s]->n_methods; m++) {
			schema_add_msg(svcs[s]->methods[m].input);
			schema_add_msg(svcs[s]->methods[m].output);
		}
	/* Messages no method takes or returns, but clients meet. */
	schema_add_msg(&beebeebrain__v1__rpc_request__descriptor);
	schema_add_msg(&beebeebrain__v1__rpc_response__descriptor);
	schema_add_msg(&beebeebrain__v1__event__descriptor);
}

size_t cli_schema_messages(const ProtobufCMessageDescriptor *const **out)
{
	schema_build();
	*out = schema.sc_msgs;
	return schema.sc_n_msgs;
}

size_t cli_schema_enums(const ProtobufCEnumDescriptor *const **out)
{
	schema_build();
	*out = schema.sc_enums;
	return schema.sc_n_enums;
}

/* True when `name` (len bytes, an optional leading '.') is the full name
 * `full` ("beebeebrain.v1.Task") or its last part `short_name`. */
static int schema_name_is(const char *name, size_t len, const char *full, const char *short_name)
{
	if (len > 0 && name[0] == '.') {
		name++;
		len--;
	}
	return (strlen(full) == len && strncmp(name, full, len) == 0) ||
	       (strlen(short_name) == len && strncmp(name, short_name, len) == 0);
}

const ProtobufCServiceDescriptor *cli_schema_service(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(schema_services) / sizeof(schema_services[0]); i++)
		if (schema_name_is(name, len, schema_services[i]->name, schema_services[i]->short_name))
			return schema_services[i];
	return NULL;
}

const ProtobufCMessageDescriptor *cli_schema_message(const char *name)
{
	schema_build();
	for (size_t i = 0; i < schema.sc_n_msgs; i++)
		if (schema_name_is(name, strlen(name), schema.sc_msgs[i]->name, schema.sc_msgs[i]->short_name))
			return schema.sc_msgs[i];
	return NULL;
}

const ProtobufCEnumDescriptor *cli_schema_enum(const char *name)
{
	schema_build();
	for (size_t i = 0; i < schema.sc_n_enums; i++)
		if (schema_name_is(name, strlen(name), schema.sc_enums[i]->name, schema.sc_enums[i]->short_name))
			return schema.sc_enums[i];
	return NULL;
}

int cli_schema_method(const char *text, const ProtobufCServiceDescriptor **svc, const char **method)
{
	const char *sep;

	if (text[0] == '/')
		text++;
	sep = strrchr(text, '/');
	if (sep == NULL)
		sep = strrchr(text, '.'); /* grpcurl's Service.Method */
	if (sep == NULL)
		return -1;
	*svc = cli_schema_service(text, (size_t)(sep - text));
	*method = sep + 1;
	return *svc != NULL ? 0 : -1;
}

#define SCHEMA_NAME_MAX 128

/* Case-insensitive edit distance of two names (cut at SCHEMA_NAME_MAX). */
static size_t schema_distance(const char *a, const char *b)
{
	size_t la = strnlen(a, SCHEMA_NAME_MAX), lb = strnlen(b, SCHEMA_NAME_MAX);
	size_t row[SCHEMA_NAME_MAX + 1];

	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
			size_t best = diag + cost;
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* Case-insensitive: is the shorter of a and b (3 characters or more) inside the other? */
static int schema_contains(const char *a, const char *b)
{
	const char *hay = strlen(a) >= strlen(b) ? a : b, *needle = hay == a ? b : a;
	size_t n = strlen(needle);

	if (n < 3)
		return 0;
	for (; *hay != '\0'; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return 1;
	return 0;
}

size_t cli_schema_close(const char *name, const char *const *cands, size_t n, const char **out)
{
	size_t found = 0, len = strlen(name);
	const char *dot = strrchr(name, '.');

	/* "beebeebrain.v1.Tsk" is compared as "Tsk": candidates are short names. */
	if (dot != NULL && dot[1] != '\0')
		name = dot + 1, len = strlen(name);
	for (size_t limit = 0; limit <= 3 && found < CLI_SCHEMA_MAX_SUGGEST; limit++)
		for (size_t i = 0; i < n && found < CLI_SCHEMA_MAX_SUGGEST; i++) {
			size_t d = schema_distance(name, cands[i]);
			size_t longest = len > strlen(cands[i]) ? len : strlen(cands[i]);
			int close = d * 3 <= longest || schema_contains(name, cands[i]);
			/* Each candidate once: at the first limit it passes. */
			size_t rank = close ? (d < 3 ? d : 3) : 4;
			if (rank == limit)
				out[found++] = cands[i];
		}
	return found;
}

int cli_schema_unknown(struct cli *cli, const char *what, const char *name, const char *const *cands, size_t n, int all)
{
	const char *close[CLI_SCHEMA_MAX_SUGGEST];
	size_t found = cli_schema_close(name, cands, n, close);
	struct dbuf b;
	int rc;

	dbuf_init(&b, 4096);
	for (size_t i = 0; i < found; i++)
		(void)dbuf_printf(&b, "%s%s", i ? ", " : "", close[i]);
	if (found > 0) {
		rc = cli_usage_error(cli, "unknown %s '%s'; close matches: %s", what, name, dbuf_str(&b));
	} else if (all) {
		for (size_t i = 0; i < n; i++)
			(void)dbuf_printf(&b, "%s%s", i ? ", " : "", cands[i]);
		rc = cli_usage_error(cli, "unknown %s '%s'; known: %s", what, name, dbuf_str(&b));
	} else {
		rc = cli_usage_error(cli, "unknown %s '%s' (beebeebrain describe lists them)", what, name);
	}
	dbuf_free(&b);
	return rc;
}

static int schema_unknown_service(struct cli *cli, const char *name, size_t len)
{
	const ProtobufCServiceDescriptor *const *svcs;
	size_t n = cli_schema_services(&svcs);
	const char **cands = xcalloc(n, sizeof(*cands));
	char *copy = xstrndup(name, len);
	int rc;

	for (size_t i = 0; i < n; i++)
		cands[i] = svcs[i]->short_name;
	rc = cli_schema_unknown(cli, "service", copy, cands, n, 1);
	free(copy);
	free(cands);
	return rc;
}

int cli_schema_find_method(struct cli *cli, const char *text, const ProtobufCServiceDescriptor **svc,
			   const ProtobufCMethodDescriptor **method)
{
	const char *name, *sep;
	const char *cands[256];
	size_t n;

	if (cli_schema_method(text, svc, &name) != 0) {
		const char *t = text[0] == '/' ? text + 1 : text;
		sep = strrchr(t, '/');
		if (sep == NULL && cli_schema_service(t, strlen(t)) != NULL)
			return cli_usage_error(cli, "'%s' is a service: name a method too, as SERVICE/METHOD", t), -1;
		if (sep == NULL)
			sep = strrchr(t, '.');
		return schema_unknown_service(cli, t, sep != NULL ? (size_t)(sep - t) : strlen(t)), -1;
	}
	*method = protobuf_c_service_descriptor_get_method_by_name(*svc, name);
	if (*method != NULL)
		return 0;
	n = (*svc)->n_methods < 256 ? (*svc)->n_methods : 256;
	for (size_t i = 0; i < n; i++)
		cands[i] = (*svc)->methods[i].name;
	if (name[0] == '\0')
		return cli_usage_error(cli, "missing METHOD after '%s/'", (*svc)->short_name), -1;
	return cli_schema_unknown(cli, "method", name, cands, n, 1), -1;
}
