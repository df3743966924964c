/*
 * pbjson: proto3 JSON as json_format.MessageToJson(m,
 * preserving_proto_field_name=True) writes it. The expected strings were
 * checked against Python's json_format for the same messages. Most cases use
 * the real generated messages; a small hand-written descriptor (struct sample)
 * covers what our schemas do not have: floats, doubles, proto2 optionals and
 * scalar oneof members.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "beebeebrain/v1/common.pb-c.h"
#include "beebeebrain/v1/events.pb-c.h"
#include "beebeebrain/v1/rpc.pb-c.h"
#include "beebeebrain/v1/task.pb-c.h"
#include "common/pbjson.h"

static void expect_json(const ProtobufCMessage *m, int flags, const char *expected)
{
	char *s = pbjson_dumps(m, flags);

	assert_non_null(s);
	assert_string_equal(s, expected);
	free(s);
}

static void expect_compact(const ProtobufCMessage *m, const char *expected)
{
	expect_json(m, 0, expected);
}

static void empty_message_is_an_empty_object(void **state)
{
	Beebeebrain__V1__Task task = BEEBEEBRAIN__V1__TASK__INIT;

	(void)state;
	expect_compact(&task.base, "{}");
}

static void int64_fields_are_json_strings(void **state)
{
	Beebeebrain__V1__Task task = BEEBEEBRAIN__V1__TASK__INIT;

	(void)state;
	task.id = 12;
	task.project_id = -3;
	task.due_at_ms = INT64_MAX;
	expect_compact(&task.base, "{\"id\":\"12\",\"project_id\":\"-3\",\"due_at_ms\":\"9223372036854775807\"}");
}

static void int32_fields_are_json_numbers(void **state)
{
	Beebeebrain__V1__Task task = BEEBEEBRAIN__V1__TASK__INIT;
	Beebeebrain__V1__RpcRequest req = BEEBEEBRAIN__V1__RPC_REQUEST__INIT;
	Beebeebrain__V1__RpcResponse resp = BEEBEEBRAIN__V1__RPC_RESPONSE__INIT;

	(void)state;
	task.priority = 3;
	expect_compact(&task.base, "{\"priority\":3}");
	req.timeout_ms = UINT32_MAX;
	expect_compact(&req.base, "{\"timeout_ms\":4294967295}");
	resp.code = -1;
	expect_compact(&resp.base, "{\"code\":-1}");
}

static void scalar_fields_holding_defaults_are_omitted(void **state)
{
	Beebeebrain__V1__Task task = BEEBEEBRAIN__V1__TASK__INIT;

	(void)state;
	task.id = 1;
	task.title = "";
	task.description = NULL;
	task.status = BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_UNSPECIFIED;
	task.priority = 0;
	task.version = 0;
	expect_compact(&task.base, "{\"id\":\"1\"}");
}

static void keys_follow_field_number_order(void **state)
{
	Beebeebrain__V1__Task task = BEEBEEBRAIN__V1__TASK__INIT;

	(void)state;
	task.version = 5;
	task.id = 7;
	task.updated_at_ms = 1690000000500;
	task.project_id = 1;
	task.title = "Write docs";
	task.description = "all of them";
	task.status = BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_RUNNING;
	task.priority = 2;
	task.assignee_agent_id = 3;
	task.parent_task_id = 4;
	task.due_at_ms = 1700000000000;
	task.created_at_ms = 1690000000000;
	expect_compact(&task.base,
		       "{\"id\":\"7\",\"project_id\":\"1\",\"title\":\"Write docs\","
		       "\"description\":\"all of them\",\"status\":\"TASK_STATUS_RUNNING\",\"priority\":2,"
		       "\"assignee_agent_id\":\"3\",\"parent_task_id\":\"4\",\"due_at_ms\":\"1700000000000\","
		       "\"created_at_ms\":\"1690000000000\",\"updated_at_ms\":\"1690000000500\","
		       "\"version\":\"5\"}");
}

static void bool_fields_are_json_booleans(void **state)
{
	Beebeebrain__V1__ToolCommandAudit audit = BEEBEEBRAIN__V1__TOOL_COMMAND_AUDIT__INIT;

	(void)state;
	audit.tool = "write_file";
	audit.idempotency_hit = 1;
	expect_compact(&audit.base, "{\"tool\":\"write_file\",\"idempotency_hit\":true}");
	audit.idempotency_hit = 0;
	expect_compact(&audit.base, "{\"tool\":\"write_file\"}");
}

static void enum_fields_are_written_as_value_names(void **state)
{
	Beebeebrain__V1__Task task = BEEBEEBRAIN__V1__TASK__INIT;

	(void)state;
	task.status = BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_TODO;
	expect_compact(&task.base, "{\"status\":\"TASK_STATUS_TODO\"}");
}

static void enum_number_outside_the_enum_is_written_as_a_number(void **state)
{
	Beebeebrain__V1__Task task = BEEBEEBRAIN__V1__TASK__INIT;

	(void)state;
	task.status = (Beebeebrain__V1__TaskStatus)42;
	expect_compact(&task.base, "{\"status\":42}");
}

static void strings_are_json_escaped_and_stay_utf8(void **state)
{
	Beebeebrain__V1__Task task = BEEBEEBRAIN__V1__TASK__INIT;

	(void)state;
	task.title = "say \"hi\"\\\n\tgr\303\274\303\237e/";
	expect_compact(&task.base, "{\"title\":\"say \\\"hi\\\"\\\\\\n\\tgr\303\274\303\237e/\"}");
}

static void string_that_is_not_utf8_fails_the_encoding(void **state)
{
	Beebeebrain__V1__Task task = BEEBEEBRAIN__V1__TASK__INIT;

	(void)state;
	task.title = "bad \xff byte";
	assert_null(pbjson_encode(&task.base));
	assert_null(pbjson_dumps(&task.base, 0));
}

static void bytes_are_standard_base64_with_padding(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		const char *json;
	} cases[] = {
		{"\x00\x01\xff", 3, "{\"payload\":\"AAH/\"}"}, /* whole groups of three: no padding */
		{"\x00", 1, "{\"payload\":\"AA==\"}"}, /* one byte left: two pads */
		{"\x00\x01", 2, "{\"payload\":\"AAE=\"}"}, /* two bytes left: one pad */
		{"\xfb\xff\xbf", 3, "{\"payload\":\"+/+/\"}"}, /* the standard alphabet, not the URL one */
		{"hello", 5, "{\"payload\":\"aGVsbG8=\"}"}, /* text, five bytes */
		{"hello!", 6, "{\"payload\":\"aGVsbG8h\"}"}, /* text, six bytes */
	};
	Beebeebrain__V1__RpcResponse resp = BEEBEEBRAIN__V1__RPC_RESPONSE__INIT;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		resp.payload.data = (uint8_t *)cases[i].in;
		resp.payload.len = cases[i].len;
		expect_compact(&resp.base, cases[i].json);
	}
}

static void empty_bytes_are_omitted(void **state)
{
	Beebeebrain__V1__RpcResponse resp = BEEBEEBRAIN__V1__RPC_RESPONSE__INIT;

	(void)state;
	resp.payload.data = (uint8_t *)"ignored";
	resp.payload.len = 0;
	expect_compact(&resp.base, "{}");
}

static void repeated_sub_messages_become_an_array_of_objects(void **state)
{
	Beebeebrain__V1__FieldViolation v1 = BEEBEEBRAIN__V1__FIELD_VIOLATION__INIT;
	Beebeebrain__V1__FieldViolation v2 = BEEBEEBRAIN__V1__FIELD_VIOLATION__INIT;
	Beebeebrain__V1__FieldViolation *violations[] = {&v1, &v2};
	Beebeebrain__V1__RpcResponse resp = BEEBEEBRAIN__V1__RPC_RESPONSE__INIT;

	(void)state;
	v1.field = "title";
	v1.description = "must not be empty";
	v2.field = "priority";
	resp.code = 3;
	resp.reason = "VALIDATION_ERROR";
	resp.message = "invalid request: 2 field(s)";
	resp.n_violations = 2;
	resp.violations = violations;
	resp.payload.data = (uint8_t *)"\x08\x01";
	resp.payload.len = 2;
	resp.trace_id = "t-1";
	expect_compact(&resp.base,
		       "{\"code\":3,\"reason\":\"VALIDATION_ERROR\",\"message\":\"invalid request: 2 field(s)\","
		       "\"violations\":[{\"field\":\"title\",\"description\":\"must not be empty\"},"
		       "{\"field\":\"priority\"}],\"payload\":\"CAE=\",\"trace_id\":\"t-1\"}");
}

static void empty_repeated_fields_are_omitted(void **state)
{
	Beebeebrain__V1__FieldViolation v = BEEBEEBRAIN__V1__FIELD_VIOLATION__INIT;
	Beebeebrain__V1__FieldViolation *violations[] = {&v};
	Beebeebrain__V1__RpcResponse resp = BEEBEEBRAIN__V1__RPC_RESPONSE__INIT;

	(void)state;
	resp.n_violations = 0;
	resp.violations = violations;
	expect_compact(&resp.base, "{}");
}

static void repeated_scalars_keep_every_element_even_defaults(void **state)
{
	int64_t ids[] = {0, 7, -1};
	char *mask[] = {"title", ""};
	Beebeebrain__V1__BroadcastCommandRequest bc = BEEBEEBRAIN__V1__BROADCAST_COMMAND_REQUEST__INIT;
	Beebeebrain__V1__UpdateTaskRequest up = BEEBEEBRAIN__V1__UPDATE_TASK_REQUEST__INIT;

	(void)state;
	bc.command = BEEBEEBRAIN__V1__TASK_COMMAND__TASK_COMMAND_PAUSE;
	bc.n_task_ids = 3;
	bc.task_ids = ids;
	expect_compact(&bc.base, "{\"command\":\"TASK_COMMAND_PAUSE\",\"task_ids\":[\"0\",\"7\",\"-1\"]}");
	up.task_id = 9;
	up.n_update_mask = 2;
	up.update_mask = mask;
	expect_compact(&up.base, "{\"task_id\":\"9\",\"update_mask\":[\"title\",\"\"]}");
}

static void null_sub_message_is_omitted(void **state)
{
	Beebeebrain__V1__GetTaskResponse resp = BEEBEEBRAIN__V1__GET_TASK_RESPONSE__INIT;

	(void)state;
	resp.task = NULL;
	expect_compact(&resp.base, "{}");
}

static void sub_message_holding_defaults_is_an_empty_object(void **state)
{
	Beebeebrain__V1__Task task = BEEBEEBRAIN__V1__TASK__INIT;
	Beebeebrain__V1__GetTaskResponse resp = BEEBEEBRAIN__V1__GET_TASK_RESPONSE__INIT;

	(void)state;
	resp.task = &task;
	expect_compact(&resp.base, "{\"task\":{}}");
}

static void list_response_nests_each_task(void **state)
{
	Beebeebrain__V1__Task t1 = BEEBEEBRAIN__V1__TASK__INIT;
	Beebeebrain__V1__Task t2 = BEEBEEBRAIN__V1__TASK__INIT;
	Beebeebrain__V1__Task *tasks[] = {&t1, &t2};
	Beebeebrain__V1__ListTasksResponse resp = BEEBEEBRAIN__V1__LIST_TASKS_RESPONSE__INIT;

	(void)state;
	t1.id = 1;
	t1.title = "a";
	t1.status = BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_DONE;
	t2.id = 2;
	t2.title = "b";
	t2.status = BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_BLOCKED;
	t2.priority = 5;
	resp.n_tasks = 2;
	resp.tasks = tasks;
	resp.next_page_token = "cursor-2";
	expect_compact(&resp.base, "{\"tasks\":[{\"id\":\"1\",\"title\":\"a\",\"status\":\"TASK_STATUS_DONE\"},"
				   "{\"id\":\"2\",\"title\":\"b\",\"status\":\"TASK_STATUS_BLOCKED\",\"priority\":5}],"
				   "\"next_page_token\":\"cursor-2\"}");
}

static void oneof_member_is_written_when_it_is_the_set_case(void **state)
{
	Beebeebrain__V1__Heartbeat hb = BEEBEEBRAIN__V1__HEARTBEAT__INIT;
	Beebeebrain__V1__Event ev = BEEBEEBRAIN__V1__EVENT__INIT;

	(void)state;
	hb.head_id = 5;
	ev.id = 6;
	ev.event_type = "sys.heartbeat";
	ev.created_at_ms = 1700000000000;
	ev.payload_case = BEEBEEBRAIN__V1__EVENT__PAYLOAD_HEARTBEAT;
	ev.heartbeat = &hb;
	expect_compact(&ev.base, "{\"id\":\"6\",\"event_type\":\"sys.heartbeat\",\"created_at_ms\":\"1700000000000\","
				 "\"heartbeat\":{\"head_id\":\"5\"}}");
}

static void oneof_member_holding_defaults_is_still_written(void **state)
{
	Beebeebrain__V1__Heartbeat hb = BEEBEEBRAIN__V1__HEARTBEAT__INIT;
	Beebeebrain__V1__Event ev = BEEBEEBRAIN__V1__EVENT__INIT;

	(void)state;
	ev.payload_case = BEEBEEBRAIN__V1__EVENT__PAYLOAD_HEARTBEAT;
	ev.heartbeat = &hb;
	expect_compact(&ev.base, "{\"heartbeat\":{}}");
}

static void oneof_member_that_is_not_the_set_case_is_omitted(void **state)
{
	Beebeebrain__V1__Heartbeat hb = BEEBEEBRAIN__V1__HEARTBEAT__INIT;
	Beebeebrain__V1__Event ev = BEEBEEBRAIN__V1__EVENT__INIT;

	(void)state;
	hb.head_id = 5;
	ev.id = 1;
	ev.payload_case = BEEBEEBRAIN__V1__EVENT__PAYLOAD__NOT_SET;
	ev.heartbeat = &hb;
	expect_compact(&ev.base, "{\"id\":\"1\"}");
}

static void pretty_flag_indents_by_two_spaces(void **state)
{
	Beebeebrain__V1__TaskStatusChanged tsc = BEEBEEBRAIN__V1__TASK_STATUS_CHANGED__INIT;
	Beebeebrain__V1__Event ev = BEEBEEBRAIN__V1__EVENT__INIT;

	(void)state;
	tsc.task_id = 7;
	tsc.from_status = BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_TODO;
	tsc.to_status = BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_RUNNING;
	tsc.actor = "cli";
	tsc.version = 2;
	ev.id = 42;
	ev.project_id = 1;
	ev.event_type = "task.status.changed";
	ev.task_id = 7;
	ev.trace_id = "abc";
	ev.created_at_ms = 1700000000000;
	ev.payload_case = BEEBEEBRAIN__V1__EVENT__PAYLOAD_TASK_STATUS_CHANGED;
	ev.task_status_changed = &tsc;
	expect_json(&ev.base, PBJSON_PRETTY,
		    "{\n"
		    "  \"id\": \"42\",\n"
		    "  \"project_id\": \"1\",\n"
		    "  \"event_type\": \"task.status.changed\",\n"
		    "  \"task_id\": \"7\",\n"
		    "  \"trace_id\": \"abc\",\n"
		    "  \"created_at_ms\": \"1700000000000\",\n"
		    "  \"task_status_changed\": {\n"
		    "    \"task_id\": \"7\",\n"
		    "    \"from_status\": \"TASK_STATUS_TODO\",\n"
		    "    \"to_status\": \"TASK_STATUS_RUNNING\",\n"
		    "    \"actor\": \"cli\",\n"
		    "    \"version\": \"2\"\n"
		    "  }\n"
		    "}");
}

static void pretty_lists_put_each_element_on_its_own_line(void **state)
{
	Beebeebrain__V1__Task t1 = BEEBEEBRAIN__V1__TASK__INIT;
	Beebeebrain__V1__Task *tasks[] = {&t1};
	Beebeebrain__V1__ListTasksResponse resp = BEEBEEBRAIN__V1__LIST_TASKS_RESPONSE__INIT;

	(void)state;
	t1.id = 1;
	resp.n_tasks = 1;
	resp.tasks = tasks;
	expect_json(&resp.base, PBJSON_PRETTY,
		    "{\n"
		    "  \"tasks\": [\n"
		    "    {\n"
		    "      \"id\": \"1\"\n"
		    "    }\n"
		    "  ]\n"
		    "}");
}

static void encode_returns_an_object_the_caller_owns(void **state)
{
	Beebeebrain__V1__Task task = BEEBEEBRAIN__V1__TASK__INIT;
	json_t *j;

	(void)state;
	task.id = 3;
	task.title = "x";
	j = pbjson_encode(&task.base);
	assert_non_null(j);
	assert_true(json_is_object(j));
	assert_int_equal(json_object_size(j), 2);
	assert_string_equal(json_string_value(json_object_get(j, "id")), "3");
	assert_string_equal(json_string_value(json_object_get(j, "title")), "x");
	json_decref(j);
	assert_null(pbjson_encode(NULL));
}

/*
 * A hand-written descriptor for kinds of fields our schemas lack; it mirrors
 * what protoc-c generates for
 *   double d = 1; float f = 2; optional bool ob = 3; optional string os = 4;
 *   oneof choice { int32 ci = 5; string cs = 6; } repeated double rd = 7;
 *   repeated bool rb = 8; uint64 u64 = 9;
 * with d, f, u64 proto3 fields and ob, os proto2 optionals.
 */
struct sample {
	ProtobufCMessage base;
	double d;
	float f;
	protobuf_c_boolean has_ob;
	protobuf_c_boolean ob;
	char *os;
	uint32_t choice_case;
	union {
		int32_t ci;
		char *cs;
	};
	size_t n_rd;
	double *rd;
	size_t n_rb;
	protobuf_c_boolean *rb;
	uint64_t u64;
};

static const ProtobufCFieldDescriptor sample_fields[] = {
	{.name = "d",
	 .id = 1,
	 .label = PROTOBUF_C_LABEL_NONE,
	 .type = PROTOBUF_C_TYPE_DOUBLE,
	 .offset = offsetof(struct sample, d)},
	{.name = "f",
	 .id = 2,
	 .label = PROTOBUF_C_LABEL_NONE,
	 .type = PROTOBUF_C_TYPE_FLOAT,
	 .offset = offsetof(struct sample, f)},
	{.name = "ob",
	 .id = 3,
	 .label = PROTOBUF_C_LABEL_OPTIONAL,
	 .type = PROTOBUF_C_TYPE_BOOL,
	 .quantifier_offset = offsetof(struct sample, has_ob),
	 .offset = offsetof(struct sample, ob)},
	{.name = "os",
	 .id = 4,
	 .label = PROTOBUF_C_LABEL_OPTIONAL,
	 .type = PROTOBUF_C_TYPE_STRING,
	 .offset = offsetof(struct sample, os)},
	{.name = "ci",
	 .id = 5,
	 .label = PROTOBUF_C_LABEL_NONE,
	 .type = PROTOBUF_C_TYPE_INT32,
	 .quantifier_offset = offsetof(struct sample, choice_case),
	 .offset = offsetof(struct sample, ci),
	 .flags = PROTOBUF_C_FIELD_FLAG_ONEOF},
	{.name = "cs",
	 .id = 6,
	 .label = PROTOBUF_C_LABEL_NONE,
	 .type = PROTOBUF_C_TYPE_STRING,
	 .quantifier_offset = offsetof(struct sample, choice_case),
	 .offset = offsetof(struct sample, cs),
	 .flags = PROTOBUF_C_FIELD_FLAG_ONEOF},
	{.name = "rd",
	 .id = 7,
	 .label = PROTOBUF_C_LABEL_REPEATED,
	 .type = PROTOBUF_C_TYPE_DOUBLE,
	 .quantifier_offset = offsetof(struct sample, n_rd),
	 .offset = offsetof(struct sample, rd)},
	{.name = "rb",
	 .id = 8,
	 .label = PROTOBUF_C_LABEL_REPEATED,
	 .type = PROTOBUF_C_TYPE_BOOL,
	 .quantifier_offset = offsetof(struct sample, n_rb),
	 .offset = offsetof(struct sample, rb)},
	{.name = "u64",
	 .id = 9,
	 .label = PROTOBUF_C_LABEL_NONE,
	 .type = PROTOBUF_C_TYPE_UINT64,
	 .offset = offsetof(struct sample, u64)},
};

static const ProtobufCMessageDescriptor sample_descriptor = {
	.magic = PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC,
	.name = "pbjtest.Sample",
	.short_name = "Sample",
	.c_name = "Sample",
	.package_name = "pbjtest",
	.sizeof_message = sizeof(struct sample),
	.n_fields = sizeof(sample_fields) / sizeof(sample_fields[0]),
	.fields = sample_fields,
};

static struct sample sample_init(void)
{
	struct sample s = {.base = PROTOBUF_C_MESSAGE_INIT(&sample_descriptor)};

	return s;
}

static void floats_and_doubles_are_numbers_in_their_shortest_form(void **state)
{
	struct sample s = sample_init();

	(void)state;
	s.d = 0.1;
	s.f = 0.1f;
	expect_compact(&s.base, "{\"d\":0.1,\"f\":0.1}");
	s.d = 10.0;
	s.f = 2.5f;
	expect_compact(&s.base, "{\"d\":10.0,\"f\":2.5}");
	s.d = 123456789.25;
	s.f = 0;
	expect_compact(&s.base, "{\"d\":123456789.25}");
}

static void non_finite_reals_are_strings(void **state)
{
	double rd[] = {NAN, INFINITY, -INFINITY, -1.5};
	struct sample s = sample_init();

	(void)state;
	s.f = NAN;
	s.n_rd = 4;
	s.rd = rd;
	expect_compact(&s.base, "{\"f\":\"NaN\",\"rd\":[\"NaN\",\"Infinity\",\"-Infinity\",-1.5]}");
}

static void uint64_fields_are_json_strings(void **state)
{
	struct sample s = sample_init();

	(void)state;
	s.u64 = UINT64_MAX;
	expect_compact(&s.base, "{\"u64\":\"18446744073709551615\"}");
}

static void proto2_optionals_are_written_when_present_even_if_default(void **state)
{
	struct sample s = sample_init();

	(void)state;
	s.ob = 1;
	s.os = NULL;
	expect_compact(&s.base, "{}");
	s.has_ob = 1;
	s.ob = 0;
	s.os = "";
	expect_compact(&s.base, "{\"ob\":false,\"os\":\"\"}");
}

static void oneof_scalar_member_holding_default_is_still_written(void **state)
{
	struct sample s = sample_init();

	(void)state;
	s.choice_case = 5;
	s.ci = 0;
	expect_compact(&s.base, "{\"ci\":0}");
	s.choice_case = 6;
	s.cs = "";
	expect_compact(&s.base, "{\"cs\":\"\"}");
}

static void repeated_bools_keep_false_elements(void **state)
{
	protobuf_c_boolean rb[] = {1, 0};
	struct sample s = sample_init();

	(void)state;
	s.n_rb = 2;
	s.rb = rb;
	expect_compact(&s.base, "{\"rb\":[true,false]}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(empty_message_is_an_empty_object),
		cmocka_unit_test(int64_fields_are_json_strings),
		cmocka_unit_test(int32_fields_are_json_numbers),
		cmocka_unit_test(scalar_fields_holding_defaults_are_omitted),
		cmocka_unit_test(keys_follow_field_number_order),
		cmocka_unit_test(bool_fields_are_json_booleans),
		cmocka_unit_test(enum_fields_are_written_as_value_names),
		cmocka_unit_test(enum_number_outside_the_enum_is_written_as_a_number),
		cmocka_unit_test(strings_are_json_escaped_and_stay_utf8),
		cmocka_unit_test(string_that_is_not_utf8_fails_the_encoding),
		cmocka_unit_test(bytes_are_standard_base64_with_padding),
		cmocka_unit_test(empty_bytes_are_omitted),
		cmocka_unit_test(repeated_sub_messages_become_an_array_of_objects),
		cmocka_unit_test(empty_repeated_fields_are_omitted),
		cmocka_unit_test(repeated_scalars_keep_every_element_even_defaults),
		cmocka_unit_test(null_sub_message_is_omitted),
		cmocka_unit_test(sub_message_holding_defaults_is_an_empty_object),
		cmocka_unit_test(list_response_nests_each_task),
		cmocka_unit_test(oneof_member_is_written_when_it_is_the_set_case),
		cmocka_unit_test(oneof_member_holding_defaults_is_still_written),
		cmocka_unit_test(oneof_member_that_is_not_the_set_case_is_omitted),
		cmocka_unit_test(pretty_flag_indents_by_two_spaces),
		cmocka_unit_test(pretty_lists_put_each_element_on_its_own_line),
		cmocka_unit_test(encode_returns_an_object_the_caller_owns),
		cmocka_unit_test(floats_and_doubles_are_numbers_in_their_shortest_form),
		cmocka_unit_test(non_finite_reals_are_strings),
		cmocka_unit_test(uint64_fields_are_json_strings),
		cmocka_unit_test(proto2_optionals_are_written_when_present_even_if_default),
		cmocka_unit_test(oneof_scalar_member_holding_default_is_still_written),
		cmocka_unit_test(repeated_bools_keep_false_elements),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
