/*
 * beebeebrain describe [SERVICE[/METHOD]|MESSAGE] [--descriptor-set-out FILE]:
 * the schema compiled into the binary, from the protobuf-c descriptors.
 *
 * Text output reads like the .proto (grpcurl's describe is the model); -o json
 * gives the same facts with the field names and enum spellings of
 * google/protobuf/descriptor.proto (ServiceDescriptorProto, DescriptorProto,
 * FieldDescriptorProto: "label": "LABEL_REPEATED", "type": "TYPE_INT64"), so
 * a program can read either this or a FileDescriptorSet.
 *
 * protobuf-c keeps no file descriptors, comments or oneof names at run time;
 * the complete schema is the FileDescriptorSet that protoc writes at build
 * time, embedded in the binary and written out by --descriptor-set-out. The
 * oneof names are read from it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "common/xalloc.h"

static const char describe_usage[] = "beebeebrain describe [SERVICE[/METHOD]|MESSAGE] [--descriptor-set-out FILE]";

static const char describe_help[] =
	"Prints the API's schema as compiled into this binary.\n"
	"  (nothing)         every service and its methods\n"
	"  SERVICE           its methods, each with its request and response message\n"
	"  SERVICE/METHOD    the method and both of its messages\n"
	"  MESSAGE or ENUM   its fields (type, name, number, JSON name) or values, like the .proto\n"
	"Names are short (TaskService, Task) or full (beebeebrain.v1.TaskService). -o json prints the\n"
	"same as JSON in the shape of google/protobuf/descriptor.proto (DescriptorProto ...).\n"
	"  --descriptor-set-out FILE  write a serialized google.protobuf.FileDescriptorSet of every\n"
	"                    .proto file (with their comments), for grpcurl, buf and the like";

/* protobuf-c's types, in descriptor.proto's names and .proto's spellings. */
static const char *describe_type_enum(ProtobufCType t)
{
	static const char *const names[] = {
		[PROTOBUF_C_TYPE_INT32] = "TYPE_INT32",       [PROTOBUF_C_TYPE_SINT32] = "TYPE_SINT32",
		[PROTOBUF_C_TYPE_SFIXED32] = "TYPE_SFIXED32", [PROTOBUF_C_TYPE_INT64] = "TYPE_INT64",
		[PROTOBUF_C_TYPE_SINT64] = "TYPE_SINT64",     [PROTOBUF_C_TYPE_SFIXED64] = "TYPE_SFIXED64",
		[PROTOBUF_C_TYPE_UINT32] = "TYPE_UINT32",     [PROTOBUF_C_TYPE_FIXED32] = "TYPE_FIXED32",
		[PROTOBUF_C_TYPE_UINT64] = "TYPE_UINT64",     [PROTOBUF_C_TYPE_FIXED64] = "TYPE_FIXED64",
		[PROTOBUF_C_TYPE_FLOAT] = "TYPE_FLOAT",       [PROTOBUF_C_TYPE_DOUBLE] = "TYPE_DOUBLE",
		[PROTOBUF_C_TYPE_BOOL] = "TYPE_BOOL",         [PROTOBUF_C_TYPE_ENUM] = "TYPE_ENUM",
		[PROTOBUF_C_TYPE_STRING] = "TYPE_STRING",     [PROTOBUF_C_TYPE_BYTES] = "TYPE_BYTES",
		[PROTOBUF_C_TYPE_MESSAGE] = "TYPE_MESSAGE",
	};

	return (unsigned)t < sizeof(names) / sizeof(names[0]) && names[t] != NULL ? names[t] : "TYPE_UNKNOWN";
}

static const char *describe_label_enum(ProtobufCLabel l)
{
	switch (l) {
	case PROTOBUF_C_LABEL_REQUIRED:
		return "LABEL_REQUIRED";
	case PROTOBUF_C_LABEL_REPEATED:
		return "LABEL_REPEATED";
	default: /* proto3 singular (NONE) and proto2 optional */
		return "LABEL_OPTIONAL";
	}
}

/* The full name of a message or enum field's type, with protoc's leading '.'. */
static const char *describe_type_name(const ProtobufCFieldDescriptor *f)
{
	if (f->type == PROTOBUF_C_TYPE_MESSAGE)
		return ((const ProtobufCMessageDescriptor *)f->descriptor)->name;
	if (f->type == PROTOBUF_C_TYPE_ENUM)
		return ((const ProtobufCEnumDescriptor *)f->descriptor)->name;
	return NULL;
}

/* protoc's json_name: each '_' dropped and the letter after it upper-cased. */
static void describe_json_name(const char *name, char *out, size_t n)
{
	size_t len = 0;
	int upper = 0;

	for (; *name != '\0' && len + 1 < n; name++) {
		if (*name == '_') {
			upper = 1;
			continue;
		}
		out[len++] = upper && *name >= 'a' && *name <= 'z' ? (char)(*name - 32) : *name;
		upper = 0;
	}
	out[len] = '\0';
}

/* The oneof a field belongs to, numbered from 0 in the order the message's
 * oneofs first appear (descriptor.proto's oneof_index); -1 for none. protobuf-c
 * marks oneof members with a flag and gives all members of one oneof the same
 * quantifier_offset (its case field). */
static int describe_oneof_index(const ProtobufCMessageDescriptor *m, unsigned field)
{
	int index = -1;

	if (!(m->fields[field].flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
		return -1;
	for (unsigned i = 0; i <= field; i++) {
		int first = 1;
		if (!(m->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
			continue;
		for (unsigned j = 0; j < i; j++)
			if ((m->fields[j].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
			    m->fields[j].quantifier_offset == m->fields[i].quantifier_offset)
				first = 0;
		if (first)
			index++;
	}
	return index;
}

static const char *describe_scalar(ProtobufCType t)
{
	static char lower[32];
	const char *e = describe_type_enum(t) + 5; /* after "TYPE_" */
	size_t i = 0;

	for (; e[i] != '\0' && i + 1 < sizeof(lower); i++)
		lower[i] = (char)(e[i] >= 'A' && e[i] <= 'Z' ? e[i] + 32 : e[i]);
	lower[i] = '\0';
	return lower;
}

/* ---- oneof names, from the embedded descriptor set
 * protobuf-c's descriptors do not keep them; the set protoc wrote does. A
 * minimal reader of the protobuf wire format walks FileDescriptorSet.file (1)
 * -> FileDescriptorProto.package (2), message_type (4) -> DescriptorProto.name
 * (1), nested_type (3), oneof_decl (8) -> OneofDescriptorProto.name (1). */

#define DESCRIBE_MAX_ONEOFS 16

struct describe_oneofs {
	size_t do_n;
	struct {
		const char *name; /* not NUL-terminated: points into the set */
		size_t len;
	} do_names[DESCRIBE_MAX_ONEOFS];
};

struct describe_wire {
	const unsigned char *w_p, *w_end;
};

static int describe_varint(struct describe_wire *w, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64 && w->w_p < w->w_end; shift += 7) {
		unsigned char b = *w->w_p++;
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return 0;
	}
	return -1;
}

/* The next field: its number, and for a length-delimited one its bytes in
 * *sub; other wire types are skipped (*sub empty). -1 at the end or on bad
 * input. */
static int describe_next(struct describe_wire *w, uint32_t *num, struct describe_wire *sub)
{
	uint64_t key, v;

	if (w->w_p >= w->w_end || describe_varint(w, &key) != 0)
		return -1;
	*num = (uint32_t)(key >> 3);
	sub->w_p = sub->w_end = w->w_p;
	switch (key & 7) {
	case 0:
		return describe_varint(w, &v);
	case 1:
	case 5: {
		size_t n = (key & 7) == 1 ? 8 : 4;
		if ((size_t)(w->w_end - w->w_p) < n)
			return -1;
		w->w_p += n;
		return 0;
	}
	case 2:
		if (describe_varint(w, &v) != 0 || v > (uint64_t)(w->w_end - w->w_p))
			return -1;
		sub->w_p = w->w_p;
		sub->w_end = w->w_p + v;
		w->w_p += v;
		return 0;
	default:
		return -1;
	}
}

/* Looks for the message `full` among the DescriptorProtos in `msg` (one
 * DescriptorProto) whose full name is prefix + "." + its name. */
static int describe_find_oneofs(struct describe_wire msg, const char *prefix, size_t prefix_len, const char *full,
				struct describe_oneofs *out)
{
	struct describe_wire w = msg, f;
	const unsigned char *name = NULL;
	size_t name_len = 0, full_len = strlen(full);
	uint32_t num;
	int match;

	while (describe_next(&w, &num, &f) == 0)
		if (num == 1) {
			name = f.w_p;
			name_len = (size_t)(f.w_end - f.w_p);
		}
	if (name == NULL)
		return 0;
	match = full_len == prefix_len + 1 + name_len && strncmp(full, prefix, prefix_len) == 0 &&
		full[prefix_len] == '.' && memcmp(full + prefix_len + 1, name, name_len) == 0;
	w = msg;
	while (describe_next(&w, &num, &f) == 0) {
		if (match && num == 8 && out->do_n < DESCRIBE_MAX_ONEOFS) {
			struct describe_wire o = f, n;
			while (describe_next(&o, &num, &n) == 0)
				if (num == 1) {
					out->do_names[out->do_n].name = (const char *)n.w_p;
					out->do_names[out->do_n].len = (size_t)(n.w_end - n.w_p);
					out->do_n++;
				}
		} else if (!match && num == 3 && full_len > prefix_len + 1 + name_len &&
			   full[prefix_len + 1 + name_len] == '.' &&
			   memcmp(full + prefix_len + 1, name, name_len) == 0) {
			if (describe_find_oneofs(f, full, prefix_len + 1 + name_len, full, out))
				return 1;
		}
	}
	return match;
}

/* The oneof names of message `full`, in declaration order (oneof_index). */
static void describe_oneof_names(const char *full, struct describe_oneofs *out)
{
	struct describe_wire set = {cli_descriptor_set, cli_descriptor_set + cli_descriptor_set_len}, file, f;
	uint32_t num;

	out->do_n = 0;
	while (describe_next(&set, &num, &file) == 0) {
		struct describe_wire w = file;
		const char *pkg = "";
		size_t pkg_len = 0;
		if (num != 1)
			continue;
		while (describe_next(&w, &num, &f) == 0)
			if (num == 2) {
				pkg = (const char *)f.w_p;
				pkg_len = (size_t)(f.w_end - f.w_p);
			}
		w = file;
		while (describe_next(&w, &num, &f) == 0)
			if (num == 4 && describe_find_oneofs(f, pkg, pkg_len, full, out))
				return;
	}
}

/* ---- text */

static void describe_print_field(const ProtobufCFieldDescriptor *f, const char *indent)
{
	char json_name[128];
	const char *type = describe_type_name(f);

	describe_json_name(f->name, json_name, sizeof(json_name));
	printf("%s%s%s%s %s = %u [json_name = \"%s\"];\n", indent,
	       f->label == PROTOBUF_C_LABEL_REPEATED ? "repeated " : "", type != NULL ? "." : "",
	       type != NULL ? type : describe_scalar(f->type), f->name, f->id, json_name);
}

static void describe_print_message(const ProtobufCMessageDescriptor *m)
{
	struct describe_oneofs oneofs;

	describe_oneof_names(m->name, &oneofs);
	printf("message %s {\n", m->short_name);
	for (unsigned i = 0; i < m->n_fields; i++) {
		int oneof = describe_oneof_index(m, i);
		if (oneof < 0) {
			describe_print_field(&m->fields[i], "  ");
			continue;
		}
		/* Members of one oneof are contiguous in field order in our protos. */
		if (i == 0 || describe_oneof_index(m, i - 1) != oneof) {
			if ((size_t)oneof < oneofs.do_n)
				printf("  oneof %.*s {\n", (int)oneofs.do_names[oneof].len,
				       oneofs.do_names[oneof].name);
			else /* a binary built without protoc */
				printf("  oneof oneof_%d {\n", oneof);
		}
		describe_print_field(&m->fields[i], "    ");
		if (i + 1 == m->n_fields || describe_oneof_index(m, i + 1) != oneof)
			printf("  }\n");
	}
	printf("}\n");
}

static void describe_print_enum(const ProtobufCEnumDescriptor *e)
{
	printf("enum %s {\n", e->short_name);
	for (unsigned i = 0; i < e->n_values; i++)
		printf("  %s = %d;\n", e->values[i].name, e->values[i].value);
	printf("}\n");
}

static void describe_print_rpc(const ProtobufCMethodDescriptor *m, const char *indent)
{
	printf("%srpc %s(.%s) returns (.%s);\n", indent, m->name, m->input->name, m->output->name);
}

static void describe_print_service(const ProtobufCServiceDescriptor *s)
{
	printf("service %s {\n", s->short_name);
	for (unsigned i = 0; i < s->n_methods; i++)
		describe_print_rpc(&s->methods[i], "  ");
	printf("}\n");
}

/* ---- JSON: descriptor.proto's shapes, with a full_name where it helps */

static json_t *describe_json_field(const ProtobufCMessageDescriptor *m, unsigned i)
{
	const ProtobufCFieldDescriptor *f = &m->fields[i];
	const char *type = describe_type_name(f);
	char json_name[128];
	int oneof = describe_oneof_index(m, i);
	json_t *o;

	describe_json_name(f->name, json_name, sizeof(json_name));
	o = json_pack("{s:s, s:i, s:s, s:s}", "name", f->name, "number", (int)f->id, "label",
		      describe_label_enum(f->label), "type", describe_type_enum(f->type));
	if (type != NULL)
		json_object_set_new(o, "type_name", json_sprintf(".%s", type));
	json_object_set_new(o, "json_name", json_string(json_name));
	if (oneof >= 0)
		json_object_set_new(o, "oneof_index", json_integer(oneof));
	return o;
}

static json_t *describe_json_message(const ProtobufCMessageDescriptor *m)
{
	json_t *fields = json_array(), *o;
	struct describe_oneofs oneofs;

	for (unsigned i = 0; i < m->n_fields; i++)
		json_array_append_new(fields, describe_json_field(m, i));
	o = json_pack("{s:s, s:s, s:o}", "name", m->short_name, "full_name", m->name, "field", fields);
	describe_oneof_names(m->name, &oneofs);
	if (oneofs.do_n > 0) {
		json_t *decl = json_array();
		for (size_t i = 0; i < oneofs.do_n; i++)
			json_array_append_new(
				decl, json_pack("{s:s%}", "name", oneofs.do_names[i].name, oneofs.do_names[i].len));
		json_object_set_new(o, "oneof_decl", decl);
	}
	return o;
}

static json_t *describe_json_enum(const ProtobufCEnumDescriptor *e)
{
	json_t *values = json_array();

	for (unsigned i = 0; i < e->n_values; i++)
		json_array_append_new(values,
				      json_pack("{s:s, s:i}", "name", e->values[i].name, "number", e->values[i].value));
	return json_pack("{s:s, s:s, s:o}", "name", e->short_name, "full_name", e->name, "value", values);
}

static json_t *describe_json_rpc(const ProtobufCMethodDescriptor *m)
{
	json_t *o = json_pack("{s:s}", "name", m->name);

	json_object_set_new(o, "input_type", json_sprintf(".%s", m->input->name));
	json_object_set_new(o, "output_type", json_sprintf(".%s", m->output->name));
	return o;
}

static json_t *describe_json_service(const ProtobufCServiceDescriptor *s)
{
	json_t *methods = json_array();

	for (unsigned i = 0; i < s->n_methods; i++)
		json_array_append_new(methods, describe_json_rpc(&s->methods[i]));
	return json_pack("{s:s, s:s, s:o}", "name", s->short_name, "full_name", s->name, "method", methods);
}

static int describe_emit(json_t *o)
{
	char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	json_decref(o);
	if (s == NULL)
		return CLI_SERVER_ERROR;
	printf("%s\n", s);
	free(s);
	return fflush(stdout) == 0 ? CLI_OK : CLI_SERVER_ERROR;
}

/* ---- what to describe */

static int describe_all(struct cli *cli)
{
	const ProtobufCServiceDescriptor *const *svcs;
	size_t n = cli_schema_services(&svcs);
	json_t *list;

	if (!cli->c_json) {
		for (size_t s = 0; s < n; s++) {
			printf("%s\n", svcs[s]->name);
			for (unsigned m = 0; m < svcs[s]->n_methods; m++)
				printf("  %s\n", svcs[s]->methods[m].name);
		}
		return fflush(stdout) == 0 ? CLI_OK : CLI_SERVER_ERROR;
	}
	list = json_array();
	for (size_t s = 0; s < n; s++)
		json_array_append_new(list, describe_json_service(svcs[s]));
	return describe_emit(json_pack("{s:o}", "service", list));
}

static int describe_method(struct cli *cli, const ProtobufCServiceDescriptor *s, const ProtobufCMethodDescriptor *m)
{
	if (cli->c_json)
		return describe_emit(json_pack("{s:s, s:o, s:o, s:o}", "service", s->name, "method",
					       describe_json_rpc(m), "input", describe_json_message(m->input), "output",
					       describe_json_message(m->output)));
	printf("%s.%s is a method:\n", s->name, m->name);
	describe_print_rpc(m, "");
	printf("\n%s is a message:\n", m->input->name);
	describe_print_message(m->input);
	printf("\n%s is a message:\n", m->output->name);
	describe_print_message(m->output);
	return fflush(stdout) == 0 ? CLI_OK : CLI_SERVER_ERROR;
}

/* Everything a name can be, as a user types it, for the close matches. */
static int describe_unknown(struct cli *cli, const char *name)
{
	const ProtobufCServiceDescriptor *const *svcs;
	const ProtobufCMessageDescriptor *const *msgs;
	const ProtobufCEnumDescriptor *const *enums;
	size_t ns = cli_schema_services(&svcs), nm = cli_schema_messages(&msgs), ne = cli_schema_enums(&enums), n = 0;
	const char **cands = xcalloc(ns + nm + ne, sizeof(*cands));
	int rc;

	for (size_t i = 0; i < ns; i++)
		cands[n++] = svcs[i]->short_name;
	for (size_t i = 0; i < nm; i++)
		cands[n++] = msgs[i]->short_name;
	for (size_t i = 0; i < ne; i++)
		cands[n++] = enums[i]->short_name;
	rc = cli_schema_unknown(cli, "service, method, message or enum", name, cands, n, 0);
	free(cands);
	return rc;
}

static int describe_name(struct cli *cli, const char *name)
{
	const ProtobufCServiceDescriptor *s = cli_schema_service(name, strlen(name));
	const ProtobufCMessageDescriptor *m;
	const ProtobufCMethodDescriptor *rpc;
	const ProtobufCEnumDescriptor *e;
	const char *method_name;

	if (s != NULL) {
		if (cli->c_json)
			return describe_emit(describe_json_service(s));
		printf("%s is a service:\n", s->name);
		describe_print_service(s);
		return fflush(stdout) == 0 ? CLI_OK : CLI_SERVER_ERROR;
	}
	if ((m = cli_schema_message(name)) != NULL) {
		if (cli->c_json)
			return describe_emit(describe_json_message(m));
		printf("%s is a message:\n", m->name);
		describe_print_message(m);
		return fflush(stdout) == 0 ? CLI_OK : CLI_SERVER_ERROR;
	}
	if ((e = cli_schema_enum(name)) != NULL) {
		if (cli->c_json)
			return describe_emit(describe_json_enum(e));
		printf("%s is an enum:\n", e->name);
		describe_print_enum(e);
		return fflush(stdout) == 0 ? CLI_OK : CLI_SERVER_ERROR;
	}
	if (strchr(name, '/') != NULL || cli_schema_method(name, &s, &method_name) == 0) {
		if (cli_schema_find_method(cli, name, &s, &rpc) != 0)
			return CLI_USAGE;
		return describe_method(cli, s, rpc);
	}
	return describe_unknown(cli, name);
}

static int describe_write_set(struct cli *cli, const char *path)
{
	FILE *f;

	if (cli_descriptor_set_len == 0)
		return cli_usage_error(cli, "this binary was built without protoc: it holds no descriptor set");
	f = fopen(path, "wb");
	if (f == NULL)
		return cli_usage_error(cli, "cannot write %s: %s", path, strerror(errno));
	if (fwrite(cli_descriptor_set, 1, cli_descriptor_set_len, f) != cli_descriptor_set_len) {
		int err = errno;
		fclose(f);
		return cli_usage_error(cli, "cannot write %s: %s", path, strerror(err));
	}
	if (fclose(f) != 0)
		return cli_usage_error(cli, "cannot write %s: %s", path, strerror(errno));
	return CLI_OK;
}

int cmd_describe(struct cli *cli, int argc, char **argv)
{
	struct cli_args a;
	const char *out;
	int rc;

	cli->c_usage = describe_usage;
	if (cli_parse(cli, argc, argv, "--help --descriptor-set-out=", 1, &a) != 0)
		return CLI_USAGE;
	if (cli_flag(&a, "--help"))
		return printf("usage: %s\n%s\n", describe_usage, describe_help), CLI_OK;
	out = cli_opt(&a, "--descriptor-set-out");
	if (out != NULL) {
		if ((rc = describe_write_set(cli, out)) != CLI_OK)
			return rc;
		if (a.a_npos == 0)
			return CLI_OK;
	}
	if (a.a_npos == 0)
		return describe_all(cli);
	return describe_name(cli, a.a_pos[0]);
}
