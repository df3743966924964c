/*
 * gen_client_api: writes the typed client API from the protobuf-c service
 * descriptors. A build-time host tool, run as
 *
 *     gen_client_api OUT_H OUT_C
 *
 * OUT_H (<beebeebrain/client_api.h>) declares one function per RPC method,
 *
 *     int bbb_<service>_<method>(bbb_client *c, const <Input> *req,
 *                                <Output> **resp, bbb_status *st);
 *
 * and OUT_C defines each as a single call to bbb_call() with the service's
 * descriptor and the method's name: the envelope, the packing and the error
 * mapping live once, in client.c, and no method is marshalled by hand. Each
 * method also gets an _ex variant taking per-call options (bbb_call_ex()).
 *
 * Every enum a message of some method uses (walking the input and output
 * messages, nested ones included) gets two helpers with its short names, the
 * text the CLI and the database use (common/enum_text.h):
 *
 *     const char *bbb_task_status_name(Beebeebrain__V1__TaskStatus value);
 *     int bbb_task_status_from_name(const char *name, Beebeebrain__V1__TaskStatus *value);
 *
 * The name tables are written out as literals, so the helpers need no state.
 *
 * Names: <service> is the proto service name without its "Service" suffix and
 * <method> the method name, both in snake_case, with an acronym kept as one
 * word (HealthService.Check -> bbb_health_check, AdminService.MigrationStatus
 * -> bbb_admin_migration_status, a GetLLMConfig would give get_llm_config).
 * The C types are the messages' protobuf-c c_names.
 *
 * The services come from <beebeebrain/services.def>, which CMake derives from
 * the `service` declarations in the .proto files, so a new service needs no
 * change here. Each output is written to a temporary file and renamed into
 * place, so a failed run never leaves a half-written file that looks current.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <beebeebrain/services_includes.h>

#include "common/enum_text.h"

struct gen_service {
	const char *gs_stem; /* .proto file name without extension */
	const ProtobufCServiceDescriptor *gs_desc;
	const char *gs_symbol; /* C name of gs_desc */
};

static const struct gen_service gen_services[] = {
#define BBB_SERVICE(stem, Name, desc) {#stem, &(desc), #desc},
#include <beebeebrain/services.def>
};

#define GEN_N_SERVICES (sizeof(gen_services) / sizeof(gen_services[0]))
#define GEN_NAME_MAX 256
/* Same limit as .clang-format's ColumnLimit. */
#define GEN_COLUMNS 120

static const char gen_tabs[] = "\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t";

/*
 * CamelCase -> snake_case into out[n]: "_" before an upper-case letter that
 * follows a lower-case letter or digit, or that starts a word after an
 * acronym ("LLMConfig" -> "llm_config"). Returns -1 when it does not fit.
 */
static int gen_snake(const char *in, char *out, size_t n)
{
	size_t len = 0;

	for (size_t i = 0; in[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)in[i];
		unsigned char prev = i > 0 ? (unsigned char)in[i - 1] : 0;
		unsigned char next = (unsigned char)in[i + 1];
		int word_start =
			isupper(ch) && i > 0 && (islower(prev) || isdigit(prev) || (isupper(prev) && islower(next)));

		if (len + 2 >= n)
			return -1;
		if (word_start)
			out[len++] = '_';
		out[len++] = (char)tolower(ch);
	}
	out[len] = '\0';
	return 0;
}

/* Service name for the API: short_name minus a trailing "Service", snake_case. */
static int gen_service_name(const ProtobufCServiceDescriptor *sd, char *out, size_t n)
{
	char base[GEN_NAME_MAX];
	size_t len = strlen(sd->short_name);
	const size_t suffix = strlen("Service");

	if (len >= sizeof(base))
		return -1;
	memcpy(base, sd->short_name, len + 1);
	if (len > suffix && strcmp(base + len - suffix, "Service") == 0)
		base[len - suffix] = '\0';
	return gen_snake(base, out, n);
}

/*
 * Writes "<head>(<params>)" where params are separated by ", ", on one line
 * when it fits, else breaking between parameters with continuation lines
 * aligned after the open parenthesis, in tabs then spaces: what clang-format
 * does with the repository's .clang-format. indent is tabs only.
 */
static void gen_call_shape(FILE *f, const char *indent, const char *head, const char *const *params, size_t n_params,
			   const char *tail)
{
	size_t col = strlen(indent) * 8 + strlen(head) + 1;
	size_t align = col;

	fprintf(f, "%s%s(", indent, head);
	for (size_t i = 0; i < n_params; i++) {
		size_t w = strlen(params[i]) + (i + 1 < n_params ? 1 : strlen(tail) + 1);

		if (i > 0) {
			if (col + 1 + w > GEN_COLUMNS) {
				fprintf(f, "\n%.*s%*s", (int)(align / 8), gen_tabs, (int)(align % 8), "");
				col = align;
			} else {
				fputc(' ', f);
				col++;
			}
		}
		fprintf(f, "%s%s", params[i], i + 1 < n_params ? "," : "");
		col += w;
	}
	fprintf(f, ")%s\n", tail);
}

/* The prototype of fn; with_opts adds the per-call options parameter. */
static void gen_prototype(FILE *f, const char *fn, const ProtobufCMethodDescriptor *m, int with_opts, const char *tail)
{
	char head[2 * GEN_NAME_MAX + 16], req[GEN_NAME_MAX + 16], resp[GEN_NAME_MAX + 16];
	const char *params[5] = {"bbb_client *c", req, resp, "bbb_status *st", NULL};

	snprintf(head, sizeof(head), "int %s", fn);
	snprintf(req, sizeof(req), "const %s *req", m->input->c_name);
	snprintf(resp, sizeof(resp), "%s **resp", m->output->c_name);
	if (with_opts) {
		params[3] = "const bbb_call_opts *opts";
		params[4] = "bbb_status *st";
	}
	gen_call_shape(f, "", head, params, with_opts ? 5 : 4, tail);
}

static void gen_header_start(FILE *h)
{
	fputs("/*\n"
	      " * GENERATED by gen_client_api from the protobuf-c service descriptors; do not\n"
	      " * edit: add or change RPC methods in the .proto files.\n"
	      " *\n"
	      " * The typed client API: one function per RPC method, each a thin wrapper of\n"
	      " * bbb_call() with the contract documented in <beebeebrain/client.h>: returns 0\n"
	      " * and sets *resp (free it with bbb_free()), or returns -1 with *resp NULL and\n"
	      " * *st filled. `req` must not be NULL. Any thread may call them. The _ex\n"
	      " * variant of each takes per-call options (bbb_call_ex(); opts may be NULL).\n"
	      " *\n"
	      " * Then, for every enum the messages use, its short names (\"todo\" for\n"
	      " * TASK_STATUS_TODO, \"unspecified\" for 0), as the CLI prints them:\n"
	      " *   bbb_<enum>_name(value)  the name, a static string; NULL for a value\n"
	      " *                           this build does not know (a newer server)\n"
	      " *   bbb_<enum>_from_name(name, &value)  0 and *value set for the short\n"
	      " *                           name in any case or the full value name\n"
	      " *                           (\"TASK_STATUS_TODO\"); -1 otherwise, *value\n"
	      " *                           untouched. 0 (UNSPECIFIED) is never parsed.\n"
	      " *\n"
	      " * Do not include this file directly: <beebeebrain/client.h> includes it at its\n"
	      " * end, after declaring bbb_client, bbb_status and bbb_call().\n"
	      " */\n"
	      "#ifndef BEEBEEBRAIN_CLIENT_API_H\n"
	      "#define BEEBEEBRAIN_CLIENT_API_H\n"
	      "\n",
	      h);
	for (size_t i = 0; i < GEN_N_SERVICES; i++) {
		size_t j = 0;

		while (j < i && strcmp(gen_services[j].gs_stem, gen_services[i].gs_stem) != 0)
			j++;
		if (j == i)
			fprintf(h, "#include <beebeebrain/v1/%s.pb-c.h>\n", gen_services[i].gs_stem);
	}
	fputs("\n"
	      "#ifdef __cplusplus\n"
	      "extern \"C\" {\n"
	      "#endif\n",
	      h);
}

static void gen_header_end(FILE *h)
{
	fputs("\n"
	      "#ifdef __cplusplus\n"
	      "}\n"
	      "#endif\n"
	      "\n"
	      "#endif\n",
	      h);
}

static void gen_source_start(FILE *c)
{
	fputs("/*\n"
	      " * GENERATED by gen_client_api from the protobuf-c service descriptors; do not\n"
	      " * edit. Every typed function is one bbb_call() (src/client/client.c).\n"
	      " */\n"
	      "#include <beebeebrain/client.h>\n",
	      c);
}

static void gen_method(FILE *h, FILE *c, const struct gen_service *gs, const char *svc,
		       const ProtobufCMethodDescriptor *m, const char *meth)
{
	char fn[2 * GEN_NAME_MAX + 8], desc[GEN_NAME_MAX + 8], name[GEN_NAME_MAX + 8];
	const char *args[6] = {"c", desc, name, "req ? &req->base : NULL", "(ProtobufCMessage **)resp", "st"};
	const char *args_ex[7] = {"c",    desc, name, "req ? &req->base : NULL", "(ProtobufCMessage **)resp",
				  "opts", "st"};
	char fn_ex[sizeof(fn) + 4];

	snprintf(fn, sizeof(fn), "bbb_%s_%s", svc, meth);
	snprintf(fn_ex, sizeof(fn_ex), "%s_ex", fn);
	snprintf(desc, sizeof(desc), "&%s", gs->gs_symbol);
	snprintf(name, sizeof(name), "\"%s\"", m->name);

	fprintf(h, "/* /%s/%s */\n", gs->gs_desc->name, m->name);
	gen_prototype(h, fn, m, 0, ";");
	gen_prototype(h, fn_ex, m, 1, ";");

	fprintf(c, "\n/* /%s/%s */\n", gs->gs_desc->name, m->name);
	gen_prototype(c, fn, m, 0, "");
	fputs("{\n", c);
	gen_call_shape(c, "\t", "return bbb_call", args, 6, ";");
	fputs("}\n\n", c);
	gen_prototype(c, fn_ex, m, 1, "");
	fputs("{\n", c);
	gen_call_shape(c, "\t", "return bbb_call_ex", args_ex, 7, ";");
	fputs("}\n", c);
}

/* ---- enum helpers */

#define GEN_MAX_ENUMS 256
#define GEN_MAX_MESSAGES 1024

struct gen_seen {
	const ProtobufCEnumDescriptor *gn_enums[GEN_MAX_ENUMS];
	size_t gn_n_enums;
	const ProtobufCMessageDescriptor *gn_msgs[GEN_MAX_MESSAGES];
	size_t gn_n_msgs;
};

/* Collects the enums of md's fields, and of the messages they hold, once
 * each, in the order first met. -1 when a table is full. */
static int gen_collect(struct gen_seen *g, const ProtobufCMessageDescriptor *md)
{
	for (size_t i = 0; i < g->gn_n_msgs; i++)
		if (g->gn_msgs[i] == md)
			return 0;
	if (g->gn_n_msgs == GEN_MAX_MESSAGES)
		return -1;
	g->gn_msgs[g->gn_n_msgs++] = md;
	for (unsigned i = 0; i < md->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &md->fields[i];
		size_t j = 0;

		if (fd->type == PROTOBUF_C_TYPE_MESSAGE && gen_collect(g, fd->descriptor) != 0)
			return -1;
		if (fd->type != PROTOBUF_C_TYPE_ENUM)
			continue;
		while (j < g->gn_n_enums && g->gn_enums[j] != fd->descriptor)
			j++;
		if (j < g->gn_n_enums)
			continue;
		if (g->gn_n_enums == GEN_MAX_ENUMS)
			return -1;
		g->gn_enums[g->gn_n_enums++] = fd->descriptor;
	}
	return 0;
}

/* The C symbol of an enum's descriptor, from its c_name as protoc-c writes it
 * ("Beebeebrain__V1__TaskStatus" -> "beebeebrain__v1__task_status__descriptor"). */
static int gen_enum_symbol(const ProtobufCEnumDescriptor *ed, char *out, size_t n)
{
	size_t len = 0;
	int was_upper = 1;

	for (const char *p = ed->c_name; *p != '\0'; p++) {
		unsigned char ch = (unsigned char)*p;

		if (len + 2 >= n)
			return -1;
		if (isupper(ch)) {
			if (!was_upper)
				out[len++] = '_';
			out[len++] = (char)tolower(ch);
			was_upper = 1;
		} else {
			/* "__" separates the package parts: no extra '_' after it. */
			out[len++] = (char)ch;
			was_upper = ch == '_';
		}
	}
	if ((size_t)snprintf(out + len, n - len, "__descriptor") >= n - len)
		return -1;
	return 0;
}

static int gen_enum(FILE *h, FILE *c, const ProtobufCEnumDescriptor *ed)
{
	char fn[GEN_NAME_MAX], sym[GEN_NAME_MAX], text[GEN_NAME_MAX];

	if (gen_snake(ed->short_name, fn, sizeof(fn)) != 0 || gen_enum_symbol(ed, sym, sizeof(sym)) != 0) {
		fprintf(stderr, "gen_client_api: enum name too long: %s\n", ed->name);
		return -1;
	}
	fprintf(h, "\n/* %s */\n", ed->name);
	fprintf(h, "const char *bbb_%s_name(%s value);\n", fn, ed->c_name);
	fprintf(h, "int bbb_%s_from_name(const char *name, %s *value);\n", fn, ed->c_name);

	fprintf(c, "\nconst char *bbb_%s_name(%s value)\n{\n\tswitch ((int)value) {\n", fn, ed->c_name);
	for (unsigned i = 0; i < ed->n_values; i++) {
		const ProtobufCEnumValue *v = &ed->values[i];
		unsigned k = 0;

		/* An alias repeats a number: the first name wins. */
		while (k < i && ed->values[k].value != v->value)
			k++;
		if (k < i)
			continue;
		if (enum_text(ed, v->value, text, sizeof(text)) == NULL) {
			fprintf(stderr, "gen_client_api: no short name for %s.%s\n", ed->name, v->name);
			return -1;
		}
		fprintf(c, "\tcase %d:\n\t\treturn \"%s\";\n", v->value, text);
	}
	fputs("\tdefault:\n\t\treturn NULL;\n\t}\n}\n", c);
	fprintf(c, "\nint bbb_%s_from_name(const char *name, %s *value)\n{\n", fn, ed->c_name);
	fputs("\tint v;\n\n", c);
	fprintf(c, "\tif (bbb_enum_from_name(&%s, name, &v) != 0)\n\t\treturn -1;\n", sym);
	fprintf(c, "\t*value = (%s)v;\n\treturn 0;\n}\n", ed->c_name);
	return 0;
}

static int gen_enums(FILE *h, FILE *c)
{
	static struct gen_seen g;

	for (size_t i = 0; i < GEN_N_SERVICES; i++) {
		const ProtobufCServiceDescriptor *sd = gen_services[i].gs_desc;

		for (unsigned j = 0; j < sd->n_methods; j++)
			if (gen_collect(&g, sd->methods[j].input) != 0 || gen_collect(&g, sd->methods[j].output) != 0) {
				fprintf(stderr, "gen_client_api: too many messages or enums\n");
				return -1;
			}
	}
	fputs("\n/* Enum names */\n", h);
	for (size_t i = 0; i < g.gn_n_enums; i++)
		if (gen_enum(h, c, g.gn_enums[i]) != 0)
			return -1;
	return 0;
}

/* Server-streaming methods. protoc-c 1.4.1 drops the `stream` keyword (its
 * method descriptor has only a name, an input and an output), so they are
 * named here. They stream over HTTP (Connect) only; over nng the server
 * answers STREAMING_NOT_SUPPORTED, so the client gets no function for them. */
static const char *const gen_streaming[] = {"beebeebrain.v1.EventService.Subscribe"};

static int gen_is_streaming(const ProtobufCServiceDescriptor *sd, const ProtobufCMethodDescriptor *m)
{
	char full[2 * GEN_NAME_MAX + 2];

	snprintf(full, sizeof(full), "%s.%s", sd->name, m->name);
	for (size_t i = 0; i < sizeof(gen_streaming) / sizeof(gen_streaming[0]); i++)
		if (strcmp(full, gen_streaming[i]) == 0)
			return 1;
	return 0;
}

static int gen_all(FILE *h, FILE *c)
{
	char svc[GEN_NAME_MAX], meth[GEN_NAME_MAX];

	gen_header_start(h);
	gen_source_start(c);
	for (size_t i = 0; i < GEN_N_SERVICES; i++) {
		const struct gen_service *gs = &gen_services[i];
		const ProtobufCServiceDescriptor *sd = gs->gs_desc;

		if (sd->magic != PROTOBUF_C__SERVICE_DESCRIPTOR_MAGIC || gen_service_name(sd, svc, sizeof(svc)) != 0) {
			fprintf(stderr, "gen_client_api: bad service descriptor %s\n", gs->gs_symbol);
			return -1;
		}
		fprintf(h, "\n/* %s (%s.proto) */\n\n", sd->name, gs->gs_stem);
		for (unsigned j = 0; j < sd->n_methods; j++) {
			const ProtobufCMethodDescriptor *m = &sd->methods[j];

			if (gen_is_streaming(sd, m))
				continue;
			if (gen_snake(m->name, meth, sizeof(meth)) != 0) {
				fprintf(stderr, "gen_client_api: method name too long: %s.%s\n", sd->name, m->name);
				return -1;
			}
			gen_method(h, c, gs, svc, m, meth);
		}
	}
	if (gen_enums(h, c) != 0)
		return -1;
	gen_header_end(h);
	return 0;
}

static FILE *gen_open_tmp(const char *path, char *tmp, size_t n)
{
	FILE *f;

	if ((size_t)snprintf(tmp, n, "%s.tmp", path) >= n) {
		fprintf(stderr, "gen_client_api: path too long: %s\n", path);
		return NULL;
	}
	f = fopen(tmp, "w");
	if (f == NULL)
		fprintf(stderr, "gen_client_api: %s: %s\n", tmp, strerror(errno));
	return f;
}

/* Closes f and renames tmp to path; on any failure removes tmp. */
static int gen_commit(FILE *f, const char *tmp, const char *path)
{
	int failed = ferror(f);

	if (fclose(f) != 0 || failed) {
		fprintf(stderr, "gen_client_api: writing %s failed\n", tmp);
		remove(tmp);
		return -1;
	}
	if (rename(tmp, path) != 0) {
		fprintf(stderr, "gen_client_api: rename %s -> %s: %s\n", tmp, path, strerror(errno));
		remove(tmp);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char tmp_h[4096], tmp_c[4096];
	FILE *h, *c;

	if (argc != 3) {
		fprintf(stderr, "usage: %s OUT_H OUT_C\n", argv[0]);
		return 2;
	}
	h = gen_open_tmp(argv[1], tmp_h, sizeof(tmp_h));
	if (h == NULL)
		return 1;
	c = gen_open_tmp(argv[2], tmp_c, sizeof(tmp_c));
	if (c == NULL) {
		fclose(h);
		remove(tmp_h);
		return 1;
	}
	if (gen_all(h, c) != 0) {
		fclose(h);
		fclose(c);
		remove(tmp_h);
		remove(tmp_c);
		return 1;
	}
	if (gen_commit(h, tmp_h, argv[1]) != 0) {
		fclose(c);
		remove(tmp_c);
		return 1;
	}
	return gen_commit(c, tmp_c, argv[2]) != 0 ? 1 : 0;
}
