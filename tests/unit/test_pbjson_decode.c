/*
 * pbjson_decode: proto3 JSON into protobuf-c messages. Every request and
 * response of every service, filled with non-default values, goes through
 * encode -> decode -> pack and must pack to the bytes it started as. A
 * hand-written descriptor (struct every) has the field types our schemas do
 * not (unsigned and fixed 64-bit ints, floats, doubles, repeated bytes and
 * messages, a scalar oneof) and nests in itself, for the depth limit. Then
 * each rule of the mapping with the input it must refuse, and hostile text.
 * Failures decode with malloc's allocator, so ASan sees anything left behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "beebeebrain/v1/common.pb-c.h"
#include "beebeebrain/v1/events.pb-c.h"
#include "beebeebrain/v1/task.pb-c.h"
#include "common/arena.h"
#include "common/pbjson.h"
#include "common/xalloc.h"
#include "services/services.h"

/* ---- a descriptor with every field type ---- */

struct every {
	ProtobufCMessage base;
	int32_t small_int;
	int32_t zig_zag32;
	int32_t fixed_s32;
	uint32_t small_uint;
	uint32_t fixed_u32;
	int64_t big_int;
	int64_t zig_zag64;
	int64_t fixed_s64;
	uint64_t big_uint;
	uint64_t fixed_u64;
	float single;
	double real;
	protobuf_c_boolean flag;
	char *text;
	ProtobufCBinaryData blob;
	int status;
	struct every *child;
	size_t n_ids;
	int64_t *ids;
	size_t n_names;
	char **names;
	size_t n_blobs;
	ProtobufCBinaryData *blobs;
	size_t n_children;
	struct every **children;
	uint32_t pick_case;
	union {
		int32_t pick_num;
		char *pick_text;
	};
	size_t n_singles;
	float *singles;
};

extern const ProtobufCMessageDescriptor every_descriptor;

static void every_init(ProtobufCMessage *m)
{
	static const struct every init = {
		.base = PROTOBUF_C_MESSAGE_INIT(&every_descriptor),
		.text = (char *)protobuf_c_empty_string,
	};

	*(struct every *)m = init;
}

#define EVERY_FIELD(fname, fid, flabel, ftype, member)                                                                 \
	{                                                                                                              \
		.name = fname, .id = fid, .label = PROTOBUF_C_LABEL_##flabel, .type = PROTOBUF_C_TYPE_##ftype,         \
		.offset = offsetof(struct every, member)                                                               \
	}
#define EVERY_REPEATED(fname, fid, ftype, member)                                                                      \
	{                                                                                                              \
		.name = fname, .id = fid, .label = PROTOBUF_C_LABEL_REPEATED, .type = PROTOBUF_C_TYPE_##ftype,         \
		.quantifier_offset = offsetof(struct every, n_##member), .offset = offsetof(struct every, member)      \
	}

static ProtobufCFieldDescriptor every_fields[] = {
	EVERY_FIELD("small_int", 1, NONE, INT32, small_int),
	EVERY_FIELD("zig_zag32", 2, NONE, SINT32, zig_zag32),
	EVERY_FIELD("fixed_s32", 3, NONE, SFIXED32, fixed_s32),
	EVERY_FIELD("small_uint", 4, NONE, UINT32, small_uint),
	EVERY_FIELD("fixed_u32", 5, NONE, FIXED32, fixed_u32),
	EVERY_FIELD("big_int", 6, NONE, INT64, big_int),
	EVERY_FIELD("zig_zag64", 7, NONE, SINT64, zig_zag64),
	EVERY_FIELD("fixed_s64", 8, NONE, SFIXED64, fixed_s64),
	EVERY_FIELD("big_uint", 9, NONE, UINT64, big_uint),
	EVERY_FIELD("fixed_u64", 10, NONE, FIXED64, fixed_u64),
	EVERY_FIELD("single", 11, NONE, FLOAT, single),
	EVERY_FIELD("real", 12, NONE, DOUBLE, real),
	EVERY_FIELD("flag", 13, NONE, BOOL, flag),
	EVERY_FIELD("text", 14, NONE, STRING, text),
	EVERY_FIELD("blob", 15, NONE, BYTES, blob),
	EVERY_FIELD("status", 16, NONE, ENUM, status),
	EVERY_FIELD("child", 17, NONE, MESSAGE, child),
	EVERY_REPEATED("ids", 18, INT64, ids),
	EVERY_REPEATED("names", 19, STRING, names),
	EVERY_REPEATED("blobs", 20, BYTES, blobs),
	EVERY_REPEATED("children", 21, MESSAGE, children),
	{.name = "pick_num",
	 .id = 22,
	 .label = PROTOBUF_C_LABEL_NONE,
	 .type = PROTOBUF_C_TYPE_INT32,
	 .quantifier_offset = offsetof(struct every, pick_case),
	 .offset = offsetof(struct every, pick_num),
	 .flags = PROTOBUF_C_FIELD_FLAG_ONEOF},
	{.name = "pick_text",
	 .id = 23,
	 .label = PROTOBUF_C_LABEL_NONE,
	 .type = PROTOBUF_C_TYPE_STRING,
	 .quantifier_offset = offsetof(struct every, pick_case),
	 .offset = offsetof(struct every, pick_text),
	 .flags = PROTOBUF_C_FIELD_FLAG_ONEOF},
	EVERY_REPEATED("singles", 24, FLOAT, singles),
};

#define EVERY_N_FIELDS (sizeof(every_fields) / sizeof(every_fields[0]))

static unsigned every_by_name[EVERY_N_FIELDS];
static const ProtobufCIntRange every_ranges[] = {{1, 0}, {0, EVERY_N_FIELDS}};

const ProtobufCMessageDescriptor every_descriptor = {
	.magic = PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC,
	.name = "pbjtest.Every",
	.short_name = "Every",
	.c_name = "Every",
	.package_name = "pbjtest",
	.sizeof_message = sizeof(struct every),
	.n_fields = EVERY_N_FIELDS,
	.fields = every_fields,
	.fields_sorted_by_name = every_by_name,
	.n_field_ranges = 1,
	.field_ranges = every_ranges,
	.message_init = every_init,
};

static int every_name_cmp(const void *a, const void *b)
{
	return strcmp(every_fields[*(const unsigned *)a].name, every_fields[*(const unsigned *)b].name);
}

/* What the table above leaves out: the enum's and messages' descriptors,
 * the strings' default, the index by name. */
static void every_setup(void)
{
	for (unsigned i = 0; i < EVERY_N_FIELDS; i++) {
		every_by_name[i] = i;
		if (every_fields[i].type == PROTOBUF_C_TYPE_ENUM)
			every_fields[i].descriptor = &beebeebrain__v1__task_status__descriptor;
		if (every_fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
			every_fields[i].descriptor = &every_descriptor;
		if (every_fields[i].type == PROTOBUF_C_TYPE_STRING && every_fields[i].label == PROTOBUF_C_LABEL_NONE &&
		    !(every_fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
			every_fields[i].default_value = &protobuf_c_empty_string;
	}
	qsort(every_by_name, EVERY_N_FIELDS, sizeof(every_by_name[0]), every_name_cmp);
}

/* ---- helpers ---- */

static ProtobufCMessage *decode(const ProtobufCMessageDescriptor *desc, const char *json)
{
	ProtobufCMessage *m = NULL;
	bbb_status st = {0};

	if (pbjson_decode(desc, json, strlen(json), NULL, &m, &st) != 0)
		fail_msg("decode of %s failed: %s %s: %s (%s)", json, st.reason, st.message,
			 st.n_violations > 0 ? st.violations[0].field : "",
			 st.n_violations > 0 ? st.violations[0].description : "");
	assert_non_null(m);
	return m;
}

static struct every *decode_every(const char *json)
{
	return (struct every *)decode(&every_descriptor, json);
}

static void free_message(void *m)
{
	protobuf_c_message_free_unpacked(m, NULL);
}

static bbb_status refuse_n(const ProtobufCMessageDescriptor *desc, const char *json, size_t len, const char *reason)
{
	ProtobufCMessage *m = (ProtobufCMessage *)&m;
	bbb_status st = {0};

	if (pbjson_decode(desc, json, len, NULL, &m, &st) == 0)
		fail_msg("decode of %.200s succeeded", json);
	assert_null(m);
	assert_string_equal(st.reason, reason);
	assert_int_not_equal(st.code, BBB_OK);
	return st;
}

static void expect_malformed(const ProtobufCMessageDescriptor *desc, const char *json)
{
	refuse_n(desc, json, strlen(json), "MALFORMED_REQUEST");
}

/* A VALIDATION_ERROR with one violation on field; its description holds why. */
static void expect_violation(const ProtobufCMessageDescriptor *desc, const char *json, const char *field,
			     const char *why)
{
	bbb_status st = refuse_n(desc, json, strlen(json), "VALIDATION_ERROR");

	assert_int_equal(st.code, BBB_INVALID_ARGUMENT);
	assert_int_equal(st.n_violations, 1);
	assert_string_equal(st.violations[0].field, field);
	if (strstr(st.violations[0].description, why) == NULL)
		fail_msg("description '%s' does not say '%s'", st.violations[0].description, why);
	assert_non_null(strstr(st.message, field));
}

static void expect_every_violation(const char *json, const char *field, const char *why)
{
	expect_violation(&every_descriptor, json, field, why);
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
	uint8_t *buf;

	*len = protobuf_c_message_get_packed_size(m);
	buf = xmalloc(*len + 1);
	assert_int_equal(protobuf_c_message_pack(m, buf), *len);
	return buf;
}

/* encode -> decode (malloc's allocator and an arena) -> pack gives m's bytes. */
static void expect_round_trip(const ProtobufCMessage *m)
{
	char *json = pbjson_dumps(m, 0);
	size_t want_len, got_len;
	uint8_t *want = pack(m, &want_len), *got;
	ProtobufCMessage *back = NULL;
	struct arena a;
	bbb_status st = {0};

	assert_non_null(json);
	if (pbjson_decode(m->descriptor, json, strlen(json), NULL, &back, &st) != 0)
		fail_msg("%s: %s does not decode: %s %s", m->descriptor->name, json, st.reason, st.message);
	got = pack(back, &got_len);
	if (got_len != want_len || memcmp(got, want, want_len) != 0)
		fail_msg("%s: %s packs to other bytes", m->descriptor->name, json);
	free(got);
	protobuf_c_message_free_unpacked(back, NULL);

	arena_init(&a);
	assert_int_equal(pbjson_decode(m->descriptor, json, strlen(json), &a.a_pb, &back, &st), 0);
	got = pack(back, &got_len);
	assert_memory_equal(got, want, want_len);
	assert_int_equal(got_len, want_len);
	free(got);
	arena_reset(&a);
	free(want);
	free(json);
}

/* ---- filling any message with non-default values ---- */

static const char *const fill_texts[] = {"caf\xc3\xa9 \xe2\x9c\x93 \"q\" \\ \n\t\x01", "\xf0\x9f\x98\x80", "x"};
static const uint8_t fill_bytes[] = {0x00, 0xff, 0xfb, 0xef, 0x3e, 0x3f, 0x80};

static void fill_value(struct arena *a, const ProtobufCFieldDescriptor *f, void *dst, unsigned k, int depth);

static void fill_message(struct arena *a, ProtobufCMessage *m, int depth)
{
	const ProtobufCMessageDescriptor *md = m->descriptor;

	for (unsigned i = 0; i < md->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &md->fields[i];
		char *dst = (char *)m + f->offset;

		if (f->type == PROTOBUF_C_TYPE_MESSAGE && depth >= 4)
			continue;
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			uint32_t *c = (uint32_t *)((char *)m + f->quantifier_offset);
			if (*c != 0)
				continue; /* the first member of each oneof */
			*c = f->id;
		}
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t size = f->type == PROTOBUF_C_TYPE_BYTES ? sizeof(ProtobufCBinaryData) : 8;
			char *arr = arena_alloc(a, 2 * size);

			*(size_t *)((char *)m + f->quantifier_offset) = 2;
			*(void **)dst = arr;
			if (f->type == PROTOBUF_C_TYPE_BOOL || f->type == PROTOBUF_C_TYPE_ENUM ||
			    f->type == PROTOBUF_C_TYPE_INT32 || f->type == PROTOBUF_C_TYPE_UINT32 ||
			    f->type == PROTOBUF_C_TYPE_SINT32 || f->type == PROTOBUF_C_TYPE_SFIXED32 ||
			    f->type == PROTOBUF_C_TYPE_FIXED32 || f->type == PROTOBUF_C_TYPE_FLOAT)
				size = 4;
			fill_value(a, f, arr, f->id, depth);
			fill_value(a, f, arr + size, f->id + 1, depth);
		} else {
			fill_value(a, f, dst, f->id, depth);
		}
	}
}

/* Values that would be rounded through a double, cut at 32 bits or
 * confused between fields. */
static void fill_value(struct arena *a, const ProtobufCFieldDescriptor *f, void *dst, unsigned k, int depth)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		*(int32_t *)dst = k % 2 ? INT32_MIN + (int32_t)k : INT32_MAX - (int32_t)k;
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		*(uint32_t *)dst = UINT32_MAX - k;
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		*(int64_t *)dst = k % 2 ? INT64_MIN + k : (INT64_C(1) << 53) + 1 + k;
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		*(uint64_t *)dst = UINT64_MAX - k;
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		*(float *)dst = k % 2 ? FLT_MAX : 0.1f * (float)k;
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		*(double *)dst = k % 2 ? -DBL_MAX : 1.0 / (double)k + 5e-324;
		break;
	case PROTOBUF_C_TYPE_BOOL:
		*(protobuf_c_boolean *)dst = 1;
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *e = f->descriptor;
		*(int32_t *)dst = e->values[e->n_values - 1].value;
		break;
	}
	case PROTOBUF_C_TYPE_STRING:
		*(char **)dst = arena_strdup(a, fill_texts[k % 3]);
		break;
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData *b = dst;
		b->len = sizeof(fill_bytes) - k % 3;
		b->data = arena_alloc(a, b->len);
		memcpy(b->data, fill_bytes, b->len);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		ProtobufCMessage *sub = arena_message(a, f->descriptor);
		fill_message(a, sub, depth + 1);
		*(ProtobufCMessage **)dst = sub;
		break;
	}
	}
}

/* ---- round trips ---- */

static void every_request_and_response_round_trips_through_json(void **state)
{
	size_t methods = 0;

	(void)state;
	for (size_t s = 0; s < services_count; s++) {
		const ProtobufCServiceDescriptor *sd = services_all[s]->s_desc;

		for (unsigned i = 0; i < sd->n_methods; i++) {
			const ProtobufCMessageDescriptor *types[] = {sd->methods[i].input, sd->methods[i].output};

			for (int t = 0; t < 2; t++) {
				struct arena a;
				ProtobufCMessage *m;

				arena_init(&a);
				m = arena_message(&a, types[t]);
				expect_round_trip(m); /* empty */
				fill_message(&a, m, 0);
				expect_round_trip(m);
				arena_reset(&a);
			}
			methods++;
		}
	}
	assert_true(methods > 40);
}

static void event_with_each_payload_round_trips(void **state)
{
	const ProtobufCMessageDescriptor *ev = &beebeebrain__v1__event__descriptor;

	(void)state;
	for (unsigned i = 0; i < ev->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &ev->fields[i];
		struct arena a;
		ProtobufCMessage *m;

		if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
			continue;
		arena_init(&a);
		m = arena_message(&a, ev);
		*(uint32_t *)((char *)m + f->quantifier_offset) = f->id;
		fill_value(&a, f, (char *)m + f->offset, f->id, 0);
		expect_round_trip(m);
		arena_reset(&a);
	}
}

static void every_field_type_round_trips_through_json(void **state)
{
	struct arena a;
	struct every *m;

	(void)state;
	arena_init(&a);
	m = (struct every *)arena_message(&a, &every_descriptor);
	fill_message(&a, &m->base, 0);
	expect_round_trip(&m->base);
	m->single = -FLT_MIN / 4; /* a subnormal */
	m->real = 5e-324;
	m->big_uint = UINT64_MAX;
	m->big_int = INT64_MIN;
	m->pick_case = 23;
	m->pick_text = arena_strdup(&a, "chosen");
	expect_round_trip(&m->base);
	m->single = NAN;
	m->real = -INFINITY;
	expect_round_trip(&m->base);
	arena_reset(&a);
}

/* ---- names ---- */

static void json_names_are_accepted_beside_proto_names(void **state)
{
	Beebeebrain__V1__CreateTaskRequest *r;
	struct every *e;

	(void)state;
	r = (Beebeebrain__V1__CreateTaskRequest *)decode(
		&beebeebrain__v1__create_task_request__descriptor,
		"{\"projectId\":\"7\",\"title\":\"t\",\"assignee_agent_id\":3,\"dueAtMs\":1700000000000}");
	assert_int_equal(r->project_id, 7);
	assert_string_equal(r->title, "t");
	assert_int_equal(r->assignee_agent_id, 3);
	assert_int_equal(r->due_at_ms, INT64_C(1700000000000));
	free_message(r);
	e = decode_every("{\"zigZag32\":-5,\"fixedU64\":\"18446744073709551615\",\"pickText\":\"p\"}");
	assert_int_equal(e->zig_zag32, -5);
	assert_true(e->fixed_u64 == UINT64_MAX);
	assert_int_equal(e->pick_case, 23);
	assert_string_equal(e->pick_text, "p");
	free_message(e);
}

static void unknown_field_is_refused_with_its_path(void **state)
{
	(void)state;
	expect_violation(&beebeebrain__v1__create_task_request__descriptor, "{\"title\":\"t\",\"titel\":\"t\"}",
			 "titel", "unknown field");
	expect_violation(&beebeebrain__v1__get_task_response__descriptor, "{\"task\":{\"id\":\"1\",\"colour\":1}}",
			 "task.colour", "unknown field");
	expect_violation(&beebeebrain__v1__create_task_request__descriptor, "{\"ProjectId\":1}", "ProjectId",
			 "unknown field");
	expect_violation(&beebeebrain__v1__create_task_request__descriptor, "{\"project_Id\":1}", "project_Id",
			 "unknown field");
}

static void same_field_twice_is_refused_under_either_name(void **state)
{
	const ProtobufCMessageDescriptor *d = &beebeebrain__v1__create_task_request__descriptor;

	(void)state;
	expect_violation(d, "{\"title\":\"a\",\"title\":\"b\"}", "title", "given twice");
	expect_violation(d, "{\"project_id\":1,\"projectId\":1}", "project_id", "given twice");
	expect_violation(d, "{\"dueAtMs\":1,\"due_at_ms\":null}", "due_at_ms", "given twice");
	expect_every_violation("{\"child\":{\"names\":[],\"names\":[]}}", "child.names", "given twice");
}

/* ---- integers ---- */

static void int64_is_exact_as_string_or_number(void **state)
{
	struct every *e;

	(void)state;
	e = decode_every(
		"{\"big_int\":\"9007199254740993\",\"zig_zag64\":9007199254740993,"
		"\"fixed_s64\":\"-9223372036854775808\",\"big_uint\":18446744073709551615,"
		"\"ids\":[\"9223372036854775807\",-9223372036854775808,\"-0\",1e3,\"2.50e1\",1000000000000000000.0]}");
	assert_true(e->big_int == (INT64_C(1) << 53) + 1);
	assert_true(e->zig_zag64 == (INT64_C(1) << 53) + 1);
	assert_true(e->fixed_s64 == INT64_MIN);
	assert_true(e->big_uint == UINT64_MAX);
	assert_int_equal(e->n_ids, 6);
	assert_true(e->ids[0] == INT64_MAX);
	assert_true(e->ids[1] == INT64_MIN);
	assert_true(e->ids[2] == 0);
	assert_true(e->ids[3] == 1000);
	assert_true(e->ids[4] == 25);
	assert_true(e->ids[5] == INT64_C(1000000000000000000));
	free_message(e);
}

static void integers_out_of_range_or_with_fractions_are_refused(void **state)
{
	(void)state;
	expect_every_violation("{\"big_int\":\"9223372036854775808\"}", "big_int", "out of range");
	expect_every_violation("{\"big_int\":-9223372036854775809}", "big_int", "out of range");
	expect_every_violation("{\"big_uint\":18446744073709551616}", "big_uint", "out of range");
	expect_every_violation("{\"big_uint\":\"-1\"}", "big_uint", "out of range");
	expect_every_violation("{\"small_int\":2147483648}", "small_int", "out of range");
	expect_every_violation("{\"small_int\":\"-2147483649\"}", "small_int", "out of range");
	expect_every_violation("{\"small_uint\":4294967296}", "small_uint", "out of range");
	expect_every_violation("{\"fixed_u32\":-1}", "fixed_u32", "out of range");
	expect_every_violation("{\"small_int\":1e400}", "small_int", "out of range");
	expect_every_violation("{\"big_int\":1.5}", "big_int", "fraction");
	expect_every_violation("{\"small_int\":1e-400}", "small_int", "fraction");
	expect_every_violation("{\"big_int\":\"12 \"}", "big_int", "not a number");
	expect_every_violation("{\"big_int\":\"0x10\"}", "big_int", "not a number");
	expect_every_violation("{\"big_int\":\"\"}", "big_int", "not a number");
	expect_every_violation("{\"small_int\":true}", "small_int", "expected a number");
	expect_every_violation("{\"ids\":[1,\"x\"]}", "ids[1]", "not a number");
}

static void int32_accepts_numbers_and_strings(void **state)
{
	struct every *e;

	(void)state;
	e = decode_every("{\"small_int\":-2147483648,\"zig_zag32\":\"2147483647\",\"fixed_s32\":-0,"
			 "\"small_uint\":\"4294967295\",\"fixed_u32\":4.0}");
	assert_int_equal(e->small_int, INT32_MIN);
	assert_int_equal(e->zig_zag32, INT32_MAX);
	assert_int_equal(e->fixed_s32, 0);
	assert_true(e->small_uint == UINT32_MAX);
	assert_int_equal(e->fixed_u32, 4);
	free_message(e);
}

/* ---- reals, bools ---- */

static void floats_and_doubles_accept_numbers_strings_and_specials(void **state)
{
	struct every *e;

	(void)state;
	e = decode_every("{\"single\":3.4028235e38,\"real\":\"-0\",\"singles\":[\"NaN\",\"Infinity\",\"-Infinity\","
			 "1e-400,\"0.1\",-1.5E+2]}");
	assert_true(e->single == FLT_MAX);
	assert_true(e->real == 0 && signbit(e->real));
	assert_int_equal(e->n_singles, 6);
	assert_true(isnan(e->singles[0]));
	assert_true(isinf(e->singles[1]) && e->singles[1] > 0);
	assert_true(isinf(e->singles[2]) && e->singles[2] < 0);
	assert_true(e->singles[3] == 0);
	assert_true(e->singles[4] == 0.1f);
	assert_true(e->singles[5] == -150.0f);
	free_message(e);
	e = decode_every("{\"real\":1.7976931348623157e308}");
	assert_true(e->real == DBL_MAX);
	free_message(e);
}

static void reals_out_of_range_or_misspelt_are_refused(void **state)
{
	(void)state;
	expect_every_violation("{\"real\":1e400}", "real", "out of range");
	expect_every_violation("{\"real\":\"-1e400\"}", "real", "out of range");
	expect_every_violation("{\"single\":3.5e38}", "single", "out of range");
	expect_every_violation("{\"real\":\"nan\"}", "real", "not one");
	expect_every_violation("{\"real\":true}", "real", "expected a number");
	expect_every_violation("{\"real\":\"Inf\"}", "real", "not one");
	expect_every_violation("{\"real\":[1]}", "real", "expected a number");
	expect_malformed(&every_descriptor, "{\"real\":NaN}");
	expect_malformed(&every_descriptor, "{\"real\":-Infinity}");
	expect_malformed(&every_descriptor, "{\"real\":.5}");
	expect_malformed(&every_descriptor, "{\"real\":1.}");
	expect_malformed(&every_descriptor, "{\"real\":+1}");
	expect_malformed(&every_descriptor, "{\"real\":01}");
	expect_malformed(&every_descriptor, "{\"real\":1e}");
}

static void bools_are_true_or_false_only(void **state)
{
	struct every *e;

	(void)state;
	e = decode_every("{\"flag\":true}");
	assert_true(e->flag);
	free_message(e);
	expect_every_violation("{\"flag\":\"true\"}", "flag", "true or false");
	expect_every_violation("{\"flag\":1}", "flag", "true or false");
	expect_malformed(&every_descriptor, "{\"flag\":tru}");
	expect_malformed(&every_descriptor, "{\"flag\":True}");
}

/* ---- strings, bytes, enums ---- */

static void strings_unescape_to_utf8(void **state)
{
	struct every *e;

	(void)state;
	e = decode_every("{\"text\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\u2713\\ud83d\\ude00 \xc3\xa9\","
			 "\"names\":[\"\",\"x\"]}");
	assert_string_equal(e->text, "a\"b\\c/d\b\f\n\r\t\xc3\xa9\xe2\x9c\x93\xf0\x9f\x98\x80 \xc3\xa9");
	assert_int_equal(e->n_names, 2);
	assert_string_equal(e->names[0], "");
	free_message(e);
}

static void strings_that_are_not_utf8_text_are_refused(void **state)
{
	static const char raw_nul[] = "{\"text\":\"a\0b\"}", nul_after[] = "{\"text\":\"ab\"}\0";

	(void)state;
	expect_every_violation("{\"text\":\"caf\xe9\"}", "text", "not valid UTF-8");
	expect_every_violation("{\"names\":[\"ok\",\"\xc0\xaf\"]}", "names[1]", "not valid UTF-8");
	expect_every_violation("{\"text\":\"\xed\xa0\x80\"}", "text", "not valid UTF-8");
	expect_every_violation("{\"text\":\"a\\u0000b\"}", "text", "NUL");
	expect_every_violation("{\"text\":5}", "text", "expected a string");
	expect_every_violation("{\"text\":{}}", "text", "expected a string");
	expect_malformed(&every_descriptor, "{\"text\":\"\\ud800\"}");
	expect_malformed(&every_descriptor, "{\"text\":\"\\udc00x\"}");
	expect_malformed(&every_descriptor, "{\"text\":\"\\ud800\\u0041\"}");
	expect_malformed(&every_descriptor, "{\"text\":\"\\u12\"}");
	expect_malformed(&every_descriptor, "{\"text\":\"\\x41\"}");
	expect_malformed(&every_descriptor, "{\"text\":\"tab\there\"}");
	expect_malformed(&every_descriptor, "{\"text\":\"open}");
	refuse_n(&every_descriptor, raw_nul, sizeof(raw_nul) - 1, "MALFORMED_REQUEST");
	refuse_n(&every_descriptor, nul_after, sizeof(nul_after) - 1, "MALFORMED_REQUEST");
}

static void bytes_accept_both_base64_alphabets_with_or_without_padding(void **state)
{
	static const char *const forms[] = {"+/8=", "-_8=", "+/8", "-_8"};
	struct every *e;

	(void)state;
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		char json[64];

		snprintf(json, sizeof(json), "{\"blob\":\"%s\",\"blobs\":[\"\",\"YQ\",\"YWI=\"]}", forms[i]);
		e = decode_every(json);
		assert_int_equal(e->blob.len, 2);
		assert_memory_equal(e->blob.data, "\xfb\xff", 2);
		assert_int_equal(e->n_blobs, 3);
		assert_int_equal(e->blobs[0].len, 0);
		assert_int_equal(e->blobs[1].len, 1);
		assert_memory_equal(e->blobs[2].data, "ab", 2);
		free_message(e);
	}
	expect_every_violation("{\"blob\":\"YW*=\"}", "blob", "not base64");
	expect_every_violation("{\"blob\":\"Y\"}", "blob", "length or padding");
	expect_every_violation("{\"blob\":\"YQ=\"}", "blob", "length or padding");
	expect_every_violation("{\"blob\":\"YQ===\"}", "blob", "padding");
	expect_every_violation("{\"blob\":\"Y Q=\"}", "blob", "not base64");
	expect_every_violation("{\"blobs\":[\"YQ\",\"=YQ=\"]}", "blobs[1]", "not base64");
	expect_every_violation("{\"blob\":[1]}", "blob", "base64 string");
}

static void enums_are_names_or_numbers(void **state)
{
	struct every *e;

	(void)state;
	e = decode_every("{\"status\":\"TASK_STATUS_REVIEW\"}");
	assert_int_equal(e->status, BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_REVIEW);
	free_message(e);
	e = decode_every("{\"status\":2}");
	assert_int_equal(e->status, 2);
	free_message(e);
	e = decode_every("{\"status\":999}"); /* open enum: kept, and written back as a number */
	assert_int_equal(e->status, 999);
	free_message(e);
	expect_every_violation("{\"status\":\"TASK_STATUS_NOPE\"}", "status",
			       "not a value of beebeebrain.v1.TaskStatus");
	expect_every_violation("{\"status\":\"task_status_todo\"}", "status", "not a value");
	expect_every_violation("{\"status\":\"2\"}", "status", "not a value");
	expect_every_violation("{\"status\":2147483648}", "status", "out of range");
	expect_every_violation("{\"status\":true}", "status", "expected a number");
}

/* ---- messages, repeated, null, oneof ---- */

static void nested_messages_and_repeated_fields_decode(void **state)
{
	struct every *e;

	(void)state;
	e = decode_every(
		"{\"child\":{\"text\":\"c\",\"child\":{\"small_int\":3}},\"children\":[{},{\"ids\":[\"1\",2]}],"
		"\"names\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}");
	assert_string_equal(e->child->text, "c");
	assert_int_equal(e->child->child->small_int, 3);
	assert_null(e->child->child->child);
	assert_int_equal(e->n_children, 2);
	assert_int_equal(e->children[1]->n_ids, 2);
	assert_true(e->children[1]->ids[1] == 2);
	assert_int_equal(e->n_names, 5);
	assert_string_equal(e->names[4], "e");
	free_message(e);
}

static void wrong_json_types_are_refused_with_the_path(void **state)
{
	(void)state;
	expect_violation(&beebeebrain__v1__get_task_response__descriptor, "{\"task\":{\"title\":5}}", "task.title",
			 "expected a string");
	expect_violation(&beebeebrain__v1__get_task_response__descriptor, "{\"task\":[]}", "task",
			 "expected an object");
	expect_violation(&beebeebrain__v1__broadcast_command_request__descriptor, "{\"task_ids\":5}", "task_ids",
			 "expected an array");
	expect_violation(&beebeebrain__v1__broadcast_command_request__descriptor, "{\"taskIds\":[1,{}]}", "task_ids[1]",
			 "expected a number");
	expect_every_violation("{\"children\":[{},{\"child\":{\"names\":[\"a\",7]}}]}", "children[1].child.names[1]",
			       "expected a string");
	expect_every_violation("{\"children\":[{},[]]}", "children[1]", "expected an object");
}

static void null_means_the_default(void **state)
{
	struct every *e;

	(void)state;
	e = decode_every("{\"small_int\":null,\"text\":null,\"blob\":null,\"child\":null,\"ids\":null,\"status\":null,"
			 "\"pick_num\":null,\"pick_text\":\"t\",\"single\":null,\"flag\":null}");
	assert_int_equal(e->small_int, 0);
	assert_string_equal(e->text, "");
	assert_int_equal(e->blob.len, 0);
	assert_null(e->child);
	assert_int_equal(e->n_ids, 0);
	assert_int_equal(e->pick_case, 23);
	assert_string_equal(e->pick_text, "t");
	free_message(e);
	expect_every_violation("{\"ids\":[1,null]}", "ids[1]", "null is not an element");
	expect_every_violation("{\"children\":[null]}", "children[0]", "null is not an element");
}

static void a_second_oneof_member_is_refused(void **state)
{
	(void)state;
	expect_every_violation("{\"pick_num\":1,\"pick_text\":\"t\"}", "pick_text", "oneof");
	expect_every_violation("{\"pickText\":\"t\",\"pickNum\":0}", "pick_num", "oneof");
	expect_violation(&beebeebrain__v1__event__descriptor, "{\"task_status_changed\":{},\"alert\":{}}", "alert",
			 "oneof");
}

/* ---- limits and hostile text ---- */

/* `levels` objects, each but the last holding the next as open (e.g.
 * "{\"child\":") and closing it with close ("}" or "]}"). */
static char *nested(int levels, const char *open, const char *close)
{
	size_t no = strlen(open), nc = strlen(close), used = 0;
	char *s = xmalloc((size_t)levels * (no + nc + 2) + 1);

	for (int i = 1; i < levels; i++) {
		memcpy(s + used, open, no);
		used += no;
	}
	s[used++] = '{';
	s[used++] = '}';
	for (int i = 1; i < levels; i++) {
		memcpy(s + used, close, nc);
		used += nc;
	}
	s[used] = '\0';
	return s;
}

/* The violation of text nested one level too deep; its path starts with
 * prefix (the field holds the first 63 bytes of the path). */
static void expect_too_deep(const char *text, const char *prefix)
{
	bbb_status st = refuse_n(&every_descriptor, text, strlen(text), "VALIDATION_ERROR");

	assert_non_null(strstr(st.violations[0].description, "deeper than 32 levels"));
	assert_int_equal(strncmp(st.violations[0].field, prefix, strlen(prefix)), 0);
}

static void nesting_deeper_than_32_is_refused(void **state)
{
	char *ok = nested(PBJSON_MAX_DEPTH, "{\"child\":", "}");
	char *deep = nested(PBJSON_MAX_DEPTH + 1, "{\"child\":", "}");
	/* an array is a level too: 16 objects in 15 arrays are 31 levels, 17 in 16 are 33 */
	char *ok_lists = nested(16, "{\"children\":[", "]}"), *deep_lists = nested(17, "{\"children\":[", "]}");
	struct every *e = decode_every(ok);
	int levels = 0;

	(void)state;
	for (struct every *c = e; c != NULL; c = c->child)
		levels++;
	assert_int_equal(levels, PBJSON_MAX_DEPTH);
	free_message(e);
	free_message(decode_every(ok_lists));
	expect_too_deep(deep, "child.child.child.child");
	expect_too_deep(deep_lists, "children[0].children[0].children[0]");
	free(deep_lists);
	free(ok_lists);
	free(deep);
	free(ok);
}

static void input_over_the_request_limit_is_refused(void **state)
{
	size_t n = BBB_REQUEST_MAX_BYTES + 1;
	char *big = xmalloc(n);
	ProtobufCMessage *m = NULL;
	bbb_status st = {0};

	(void)state;
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 2] = '}';
	assert_int_equal(pbjson_decode(&every_descriptor, big, n, NULL, &m, &st), -1);
	assert_null(m);
	assert_string_equal(st.reason, "MESSAGE_TOO_LARGE");
	assert_int_equal(st.code, BBB_RESOURCE_EXHAUSTED);
	/* one byte less is within the limit */
	assert_int_equal(pbjson_decode(&every_descriptor, big, n - 1, NULL, &m, &st), 0);
	free_message(m);
	free(big);
}

static void more_than_65536_values_are_refused(void **state)
{
	size_t count = 65537, n = count * 2 + 16, used = 0;
	char *s = xmalloc(n);

	(void)state;
	memcpy(s, "{\"ids\":[", 8);
	used = 8;
	for (size_t i = 0; i < count; i++) {
		s[used++] = '0';
		s[used++] = ',';
	}
	memcpy(s + used - 1, "]}", 3);
	expect_malformed(&every_descriptor, s);
	/* 65535 elements and the field itself are within the limit */
	memcpy(s + 8 + 2 * 65535 - 1, "]}", 3);
	free_message(decode_every(s));
	free(s);
}

static void text_that_is_not_json_is_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"   ",
		"[]",
		"null",
		"\"x\"",
		"{",
		"{\"title\"}",
		"{\"title\":}",
		"{\"title\":\"t\",}",
		"{\"title\":\"t\"} {}",
		"{\"title\":\"t\" \"description\":\"d\"}",
		"{title:\"t\"}",
		"{'title':'t'}",
		"{\"title\":\"t\"} // comment",
		"/* c */ {}",
		"{\"project_id\":01}",
		"{\"project_id\":-}",
		"{\"project_id\":1 2}",
		"\xef\xbb\xbf{}",
		"{\"ti\xfftle\":1}",
		"{\"t\\u0000\":1}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_malformed(&beebeebrain__v1__create_task_request__descriptor, bad[i]);
	expect_malformed(&beebeebrain__v1__broadcast_command_request__descriptor, "{\"task_ids\":[1,]}");
	expect_malformed(&beebeebrain__v1__broadcast_command_request__descriptor, "{\"task_ids\":[1 2]}");
	expect_malformed(&beebeebrain__v1__broadcast_command_request__descriptor, "{\"task_ids\":[1");
}

static void whitespace_and_empty_objects_are_fine(void **state)
{
	Beebeebrain__V1__CreateTaskRequest *r;

	(void)state;
	r = (Beebeebrain__V1__CreateTaskRequest *)decode(&beebeebrain__v1__create_task_request__descriptor,
							 " \t\r\n{ \"title\" :\n\"t\" , \"priority\" : 2 }\n ");
	assert_string_equal(r->title, "t");
	assert_int_equal(r->priority, 2);
	free_message(r);
	free_message(decode(&beebeebrain__v1__create_task_request__descriptor, "{}"));
	free_message(decode_every("{\"ids\":[],\"children\":[ ],\"child\":{ }}"));
}

static void a_failure_late_in_a_full_message_frees_everything(void **state)
{
	(void)state;
	/* ASan's leak check is the assertion: strings, bytes, arrays and
	 * sub-messages decoded before the fault are all released. */
	expect_every_violation("{\"text\":\"t\",\"blob\":\"YWJj\",\"names\":[\"a\",\"b\",\"c\",\"d\",\"e\"],"
			       "\"blobs\":[\"YQ\"],\"child\":{\"text\":\"c\",\"children\":[{\"text\":\"x\"}]},"
			       "\"pick_text\":\"p\",\"children\":[{\"names\":[\"n\"]},{\"child\":{\"big_int\":1.5}}]}",
			       "children[1].child.big_int", "fraction");
	expect_every_violation("{\"child\":{\"child\":{\"text\":\"deep\",\"blob\":\"Y\"}}}", "child.child.blob",
			       "padding");
	expect_malformed(&every_descriptor, "{\"names\":[\"a\",\"b\"],\"children\":[{\"text\":\"x\"},{\"text\":\"y\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_request_and_response_round_trips_through_json),
		cmocka_unit_test(event_with_each_payload_round_trips),
		cmocka_unit_test(every_field_type_round_trips_through_json),
		cmocka_unit_test(json_names_are_accepted_beside_proto_names),
		cmocka_unit_test(unknown_field_is_refused_with_its_path),
		cmocka_unit_test(same_field_twice_is_refused_under_either_name),
		cmocka_unit_test(int64_is_exact_as_string_or_number),
		cmocka_unit_test(integers_out_of_range_or_with_fractions_are_refused),
		cmocka_unit_test(int32_accepts_numbers_and_strings),
		cmocka_unit_test(floats_and_doubles_accept_numbers_strings_and_specials),
		cmocka_unit_test(reals_out_of_range_or_misspelt_are_refused),
		cmocka_unit_test(bools_are_true_or_false_only),
		cmocka_unit_test(strings_unescape_to_utf8),
		cmocka_unit_test(strings_that_are_not_utf8_text_are_refused),
		cmocka_unit_test(bytes_accept_both_base64_alphabets_with_or_without_padding),
		cmocka_unit_test(enums_are_names_or_numbers),
		cmocka_unit_test(nested_messages_and_repeated_fields_decode),
		cmocka_unit_test(wrong_json_types_are_refused_with_the_path),
		cmocka_unit_test(null_means_the_default),
		cmocka_unit_test(a_second_oneof_member_is_refused),
		cmocka_unit_test(nesting_deeper_than_32_is_refused),
		cmocka_unit_test(input_over_the_request_limit_is_refused),
		cmocka_unit_test(more_than_65536_values_are_refused),
		cmocka_unit_test(text_that_is_not_json_is_malformed),
		cmocka_unit_test(whitespace_and_empty_objects_are_fine),
		cmocka_unit_test(a_failure_late_in_a_full_message_frees_everything),
	};

	every_setup();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
