/* Argument parsing, error reporting and output shared by every command. */
#include "cli/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/dbuf.h"
#include "common/enum_text.h"
#include "common/pbjson.h"

int cli_usage_error(struct cli *cli, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "error: INVALID_ARGUMENT USAGE: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	if (cli->c_usage != NULL)
		fprintf(stderr, "usage: %s\n", cli->c_usage);
	return CLI_USAGE;
}

int cli_report(const bbb_status *st)
{
	fprintf(stderr, "error: %s %s: %s\n", bbb_code_name(st->code), st->reason, st->message);
	for (int i = 0; i < st->n_violations; i++)
		fprintf(stderr, "  %s: %s\n", st->violations[i].field, st->violations[i].description);
	return bbb_status_unreachable(st) ? CLI_UNREACHABLE : CLI_SERVER_ERROR;
}

/* Finds `name` in spec; *takes_value tells whether it is "name=". */
static int cli_spec_find(const char *spec, const char *name, size_t len, int *takes_value)
{
	const char *p = spec;

	while (p != NULL && *p != '\0') {
		const char *end = strchr(p, ' ');
		size_t l = end != NULL ? (size_t)(end - p) : strlen(p);
		int val = l > 0 && p[l - 1] == '=';
		if ((val ? l - 1 : l) == len && strncmp(p, name, len) == 0) {
			*takes_value = val;
			return 1;
		}
		p = end != NULL ? end + 1 : NULL;
	}
	return 0;
}

int cli_parse(struct cli *cli, int argc, char **argv, const char *spec, int max_pos, struct cli_args *out)
{
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i], *eq, *value = NULL;
		size_t len;
		int takes_value;

		if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
			if (out->a_npos >= max_pos || out->a_npos >= CLI_MAX_ARGS)
				return cli_usage_error(cli, "unexpected argument '%s'", arg), -1;
			out->a_pos[out->a_npos++] = arg;
			continue;
		}
		eq = strchr(arg, '=');
		len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
		if (!cli_spec_find(spec, arg, len, &takes_value))
			return cli_usage_error(cli, "unknown option '%.*s'", (int)len, arg), -1;
		if (takes_value) {
			if (eq != NULL)
				value = eq + 1;
			else if (i + 1 < argc)
				value = argv[++i];
			else
				return cli_usage_error(cli, "option '%s' needs a value", arg), -1;
		} else if (eq != NULL) {
			return cli_usage_error(cli, "option '%.*s' takes no value", (int)len, arg), -1;
		}
		if (out->a_nopt >= CLI_MAX_ARGS)
			return cli_usage_error(cli, "too many options"), -1;
		out->a_opt[out->a_nopt].name = arg;
		out->a_opt[out->a_nopt].name_len = len;
		out->a_opt[out->a_nopt].value = value;
		out->a_nopt++;
	}
	return 0;
}

int cli_opt_is(const struct cli_args *a, int i, const char *name)
{
	return strlen(name) == a->a_opt[i].name_len && strncmp(a->a_opt[i].name, name, a->a_opt[i].name_len) == 0;
}

const char *cli_opt(const struct cli_args *a, const char *name)
{
	for (int i = a->a_nopt - 1; i >= 0; i--)
		if (cli_opt_is(a, i, name))
			return a->a_opt[i].value;
	return NULL;
}

int cli_flag(const struct cli_args *a, const char *name)
{
	for (int i = 0; i < a->a_nopt; i++)
		if (cli_opt_is(a, i, name))
			return 1;
	return 0;
}

static int cli_parse_int64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (s[0] == '\0' || *end != '\0' || errno != 0)
		return -1;
	*out = v;
	return 0;
}

int cli_opt_int64(struct cli *cli, const struct cli_args *a, const char *name, int64_t *out)
{
	const char *v = cli_opt(a, name);

	if (v == NULL)
		return 0;
	if (cli_parse_int64(v, out) != 0)
		return cli_usage_error(cli, "%s needs an integer, got '%s'", name, v), -1;
	return 0;
}

int cli_opt_int32(struct cli *cli, const struct cli_args *a, const char *name, int32_t *out)
{
	int64_t v = *out;

	if (cli_opt_int64(cli, a, name, &v) != 0)
		return -1;
	if (v < INT32_MIN || v > INT32_MAX)
		return cli_usage_error(cli, "%s is out of range: %" PRId64, name, v), -1;
	*out = (int32_t)v;
	return 0;
}

int cli_opt_enum(struct cli *cli, const struct cli_args *a, const char *name, const ProtobufCEnumDescriptor *d,
		 int *out)
{
	const char *v = cli_opt(a, name);
	char choices[512];

	if (v == NULL)
		return 0;
	if (enum_from_text(d, v, out) != 0)
		return cli_usage_error(cli, "%s must be one of %s, got '%s'", name,
				       enum_choices(d, choices, sizeof(choices)), v),
		       -1;
	return 0;
}

int cli_opt_time(struct cli *cli, const struct cli_args *a, const char *name, int64_t *out_ms)
{
	const char *v = cli_opt(a, name);

	if (v == NULL)
		return 0;
	if (clock_parse_rfc3339(v, out_ms) != 0)
		return cli_usage_error(cli, "%s needs an RFC 3339 time like 2026-12-01T09:00:00Z, got '%s'", name, v),
		       -1;
	return 0;
}

int cli_pos_id(struct cli *cli, const struct cli_args *a, int i, const char *what, int64_t *out)
{
	if (i >= a->a_npos)
		return cli_usage_error(cli, "missing %s", what), -1;
	if (cli_parse_int64(a->a_pos[i], out) != 0 || *out < 1)
		return cli_usage_error(cli, "%s must be a positive integer, got '%s'", what, a->a_pos[i]), -1;
	return 0;
}

bbb_client *cli_client(struct cli *cli, int *rc)
{
	struct bbb_client_options o = {.url = cli->c_rpc_url};
	bbb_status st;

	if (cli->c_client == NULL) {
		cli->c_client = bbb_client_open(&o, &st);
		if (cli->c_client == NULL)
			*rc = cli_report(&st);
	}
	return cli->c_client;
}

int cli_output(struct cli *cli, ProtobufCMessage *resp, void (*print_human)(const ProtobufCMessage *msg))
{
	if (cli->c_json) {
		char *s = pbjson_dumps(resp, PBJSON_PRETTY);
		if (s != NULL)
			printf("%s\n", s);
		free(s);
	} else {
		print_human(resp);
	}
	bbb_free(resp);
	return fflush(stdout) == 0 ? CLI_OK : CLI_SERVER_ERROR;
}

/* One field's value as text for humans, into buf. */
static void cli_field_text(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, char *buf, size_t n)
{
	const void *p = (const char *)m + f->offset;
	size_t len = strlen(f->name);

	buf[0] = '\0';
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t count = *(const size_t *)((const char *)m + f->quantifier_offset);
		if (f->type == PROTOBUF_C_TYPE_STRING) {
			char *const *v = *(char *const *const *)p;
			struct dbuf b;
			dbuf_init(&b, n - 1);
			for (size_t i = 0; i < count; i++)
				if (dbuf_printf(&b, "%s%s", i ? "," : "", v[i]) != 0)
					break;
			memcpy(buf, dbuf_str(&b), dbuf_len(&b) + 1);
			dbuf_free(&b);
		} else {
			snprintf(buf, n, "[%zu]", count);
		}
		return;
	}
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		if (len > 6 && strcmp(f->name + len - 6, "_at_ms") == 0) {
			int64_t v = *(const int64_t *)p;
			if (v == 0)
				snprintf(buf, n, "-");
			else
				clock_format_rfc3339(v, buf, n);
		} else {
			snprintf(buf, n, "%" PRId64, *(const int64_t *)p);
		}
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		snprintf(buf, n, "%" PRIu64, *(const uint64_t *)p);
		break;
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		snprintf(buf, n, "%" PRId32, *(const int32_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		snprintf(buf, n, "%" PRIu32, *(const uint32_t *)p);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		snprintf(buf, n, "%s", *(const protobuf_c_boolean *)p ? "true" : "false");
		break;
	case PROTOBUF_C_TYPE_ENUM:
		if (enum_text(f->descriptor, *(const int *)p, buf, n) == NULL)
			snprintf(buf, n, "%d", *(const int *)p);
		break;
	case PROTOBUF_C_TYPE_STRING:
		snprintf(buf, n, "%s", *(char *const *)p != NULL ? *(char *const *)p : "");
		break;
	case PROTOBUF_C_TYPE_BYTES:
		snprintf(buf, n, "<%zu bytes>", ((const ProtobufCBinaryData *)p)->len);
		break;
	default:
		snprintf(buf, n, "...");
		break;
	}
}

#define CLI_COL_MAX 16
#define CLI_CELL_MAX 48

void cli_print_table(ProtobufCMessage *const *rows, size_t n, const char *cols)
{
	const ProtobufCFieldDescriptor *f[CLI_COL_MAX];
	size_t width[CLI_COL_MAX];
	char buf[CLI_CELL_MAX + 1], names[512], *save = NULL, *tok;
	int ncol = 0;

	if (n == 0) {
		printf("(none)\n");
		return;
	}
	snprintf(names, sizeof(names), "%s", cols);
	for (tok = strtok_r(names, ",", &save); tok != NULL && ncol < CLI_COL_MAX; tok = strtok_r(NULL, ",", &save)) {
		f[ncol] = protobuf_c_message_descriptor_get_field_by_name(rows[0]->descriptor, tok);
		if (f[ncol] == NULL)
			continue;
		width[ncol] = strlen(tok);
		ncol++;
	}
	for (size_t r = 0; r < n; r++)
		for (int c = 0; c < ncol; c++) {
			cli_field_text(rows[r], f[c], buf, sizeof(buf));
			if (strlen(buf) > width[c])
				width[c] = strlen(buf);
		}
	for (int c = 0; c < ncol; c++) {
		for (const char *p = f[c]->name; *p != '\0'; p++)
			putchar(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		printf("%*s", c + 1 < ncol ? (int)(width[c] - strlen(f[c]->name) + 2) : 0, "");
	}
	putchar('\n');
	for (size_t r = 0; r < n; r++) {
		for (int c = 0; c < ncol; c++) {
			cli_field_text(rows[r], f[c], buf, sizeof(buf));
			printf("%-*s", c + 1 < ncol ? (int)width[c] + 2 : 0, buf);
		}
		putchar('\n');
	}
}

void cli_print_fields(const ProtobufCMessage *m)
{
	char buf[4096];

	for (unsigned i = 0; i < m->descriptor->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &m->descriptor->fields[i];
		if (f->type == PROTOBUF_C_TYPE_MESSAGE && f->label != PROTOBUF_C_LABEL_REPEATED) {
			const ProtobufCMessage *sub = *(ProtobufCMessage *const *)((const char *)m + f->offset);
			if (sub != NULL)
				cli_print_fields(sub);
			continue;
		}
		cli_field_text(m, f, buf, sizeof(buf));
		printf("%-18s %s\n", f->name, buf);
	}
}

int cli_run_sub(struct cli *cli, int argc, char **argv, const struct cli_sub *subs, size_t n, const char *usage)
{
	const char *name = NULL;
	struct cli_args a;

	cli->c_usage = usage;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return printf("usage: %s\n", usage), CLI_OK;
		if (name == NULL && argv[i][0] != '-')
			name = argv[i];
	}
	if (name == NULL)
		return cli_usage_error(cli, "missing subcommand");
	for (size_t i = 0; i < n; i++) {
		if (strcmp(name, subs[i].name) != 0)
			continue;
		if (cli_parse(cli, argc, argv, subs[i].spec, subs[i].max_pos + 1, &a) != 0)
			return CLI_USAGE;
		return subs[i].fn(cli, &a);
	}
	return cli_usage_error(cli, "unknown subcommand '%s'", name);
}

int cli_done(struct cli *cli, int rc, const bbb_status *st, ProtobufCMessage *resp,
	     void (*print_human)(const ProtobufCMessage *msg))
{
	if (rc != 0)
		return cli_report(st);
	return cli_output(cli, resp, print_human);
}

int cli_parse_id_list(struct cli *cli, const char *name, const char *text, int64_t *out, size_t max, size_t *n)
{
	const char *p = text;

	*n = 0;
	while (*p != '\0') {
		char *end;
		long long v;

		errno = 0;
		v = strtoll(p, &end, 10);
		if (end == p || errno != 0 || v < 1 || (*end != ',' && *end != '\0'))
			return cli_usage_error(cli, "%s needs positive ids separated by commas, got '%s'", name, text),
			       -1;
		if (*n == max)
			return cli_usage_error(cli, "%s takes at most %zu ids", name, max), -1;
		out[(*n)++] = v;
		p = *end == ',' ? end + 1 : end;
	}
	if (*n == 0)
		return cli_usage_error(cli, "%s needs at least one id", name), -1;
	return 0;
}
