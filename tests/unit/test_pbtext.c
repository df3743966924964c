/* common/pbtext: the UTF-8 rule for every string field, in and out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "beebeebrain/v1/rpc.pb-c.h"
#include "beebeebrain/v1/task.pb-c.h"
#include "common/arena.h"
#include "common/pbtext.h"

/* One length-delimited field, by hand (protobuf-c would pack any bytes too,
 * but this keeps the test independent of what it tests). */
static size_t put_field(uint8_t *p, unsigned field, const void *data, size_t len)
{
	p[0] = (uint8_t)(field << 3 | 2);
	p[1] = (uint8_t)len; /* short fields only */
	memcpy(p + 2, data, len);
	return len + 2;
}

static void valid_strings_pass_the_wire_check(void **state)
{
	uint8_t buf[128];
	char path[64];
	size_t n = 0;

	(void)state;
	n += put_field(buf + n, 2, "caf\xc3\xa9", 5);
	n += put_field(buf + n, 3, "", 0);
	assert_int_equal(
		pbtext_check_wire(&beebeebrain__v1__create_task_request__descriptor, buf, n, path, sizeof(path)), 0);
	assert_string_equal(path, "");
}

static void a_bad_string_is_named_by_its_field(void **state)
{
	uint8_t buf[128];
	char path[64];
	size_t n;

	(void)state;
	n = put_field(buf, 2, "caf\xe9", 4);
	assert_int_equal(
		pbtext_check_wire(&beebeebrain__v1__create_task_request__descriptor, buf, n, path, sizeof(path)), -1);
	assert_string_equal(path, "title");
	n = put_field(buf, 3, "a\0b", 3);
	assert_int_equal(
		pbtext_check_wire(&beebeebrain__v1__create_task_request__descriptor, buf, n, path, sizeof(path)), -1);
	assert_string_equal(path, "description");
}

static void an_api_key_with_a_nul_is_found_in_the_envelope(void **state)
{
	uint8_t buf[128];
	char path[64];
	size_t n = 0;

	(void)state;
	n += put_field(buf + n, 1, "/x/y", 4);
	n += put_field(buf + n, 4, "KEY\0junk", 8);
	assert_int_equal(pbtext_check_wire(&beebeebrain__v1__rpc_request__descriptor, buf, n, path, sizeof(path)), -1);
	assert_string_equal(path, "api_key");
	/* bytes fields may hold anything */
	n = put_field(buf, 2, "\0\xff", 2);
	assert_int_equal(pbtext_check_wire(&beebeebrain__v1__rpc_request__descriptor, buf, n, path, sizeof(path)), 0);
}

static void strings_in_sub_messages_are_checked_with_their_path(void **state)
{
	uint8_t inner[64], buf[128];
	char path[64];
	size_t ni, n;

	(void)state;
	ni = put_field(inner, 3, "\xc3", 1); /* Task.title */
	n = put_field(buf, 1, inner, ni); /* GetTaskResponse.task */
	assert_int_equal(pbtext_check_wire(&beebeebrain__v1__get_task_response__descriptor, buf, n, path, sizeof(path)),
			 -1);
	assert_string_equal(path, "task.title");
}

static void truncated_wire_bytes_are_left_to_the_decoder(void **state)
{
	const uint8_t junk[] = {0x12, 0x7f, 'a'}; /* says 127 bytes, has 1 */
	char path[64];

	(void)state;
	assert_int_equal(pbtext_check_wire(&beebeebrain__v1__create_task_request__descriptor, junk, sizeof(junk), path,
					   sizeof(path)),
			 0);
}

static void requests_that_cost_too_much_to_decode_are_counted_out(void **state)
{
	static uint8_t buf[2 * (PBTEXT_MAX_FIELDS + 2)];
	char path[64];
	size_t n = 0;

	(void)state;
	/* Unknown varint fields (number 99 is in no message): 2 bytes each on the wire, ~40 decoded. */
	for (int i = 0; i <= PBTEXT_MAX_UNKNOWN; i++) {
		buf[n++] = 0x98;
		buf[n++] = 0x06;
		buf[n++] = 0x01;
	}
	assert_int_equal(
		pbtext_check_wire(&beebeebrain__v1__create_task_request__descriptor, buf, n, path, sizeof(path)),
		PBTEXT_TOO_MANY_FIELDS);
	assert_int_equal(
		pbtext_check_wire(&beebeebrain__v1__create_task_request__descriptor, buf, n - 3, path, sizeof(path)),
		PBTEXT_OK);
	/* Known fields too, past the total. */
	n = 0;
	for (int i = 0; i <= PBTEXT_MAX_FIELDS; i++) {
		buf[n++] = 0x20; /* priority, varint */
		buf[n++] = 0x01;
	}
	assert_int_equal(
		pbtext_check_wire(&beebeebrain__v1__create_task_request__descriptor, buf, n, path, sizeof(path)),
		PBTEXT_TOO_MANY_FIELDS);
}

static void a_reply_with_bad_text_is_repaired_in_a_copy(void **state)
{
	Beebeebrain__V1__Task task = BEEBEEBRAIN__V1__TASK__INIT, *tp = &task;
	Beebeebrain__V1__ListTasksResponse resp = BEEBEEBRAIN__V1__LIST_TASKS_RESPONSE__INIT;
	const Beebeebrain__V1__ListTasksResponse *fixed;
	struct arena a;

	(void)state;
	arena_init(&a);
	task.title = "ok";
	task.description = "cut \xc3";
	resp.n_tasks = 1;
	resp.tasks = &tp;
	assert_false(pbtext_valid(&resp.base));
	fixed = (const void *)pbtext_repair_copy(&resp.base, &a);
	assert_ptr_not_equal(fixed, &resp);
	assert_string_equal(fixed->tasks[0]->description, "cut \xef\xbf\xbd");
	assert_string_equal(fixed->tasks[0]->title, "ok");
	assert_string_equal(task.description, "cut \xc3"); /* the original is untouched */
	task.description = "fine";
	assert_true(pbtext_valid(&resp.base));
	assert_ptr_equal(pbtext_repair_copy(&resp.base, &a), &resp.base);
	arena_reset(&a);
}

/* protobuf-c 1.4 takes a field number 0 spelled in two bytes as an unknown
 * field, and refuses it once repacked in one byte: a repair that goes through
 * pack and unpack could not copy such a message and kept the bad text. */
static void a_message_with_an_unknown_field_zero_is_repaired_too(void **state)
{
	/* field 0 (a two-byte tag) of length 0, then message (field 3) "cut\xc3" */
	static const uint8_t wire[] = {0x82, 0x00, 0x00, 0x1a, 0x04, 'c', 'u', 't', 0xc3};
	Beebeebrain__V1__RpcResponse *resp = beebeebrain__v1__rpc_response__unpack(NULL, sizeof(wire), wire);
	const Beebeebrain__V1__RpcResponse *fixed;
	struct arena a;

	(void)state;
	assert_non_null(resp);
	assert_int_equal(resp->base.n_unknown_fields, 1);
	arena_init(&a);
	fixed = (const void *)pbtext_repair_copy(&resp->base, &a);
	assert_true(pbtext_valid(&fixed->base));
	assert_string_equal(fixed->message, "cut\xef\xbf\xbd");
	assert_string_equal(resp->message, "cut\xc3");
	arena_reset(&a);
	beebeebrain__v1__rpc_response__free_unpacked(resp, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_strings_pass_the_wire_check),
		cmocka_unit_test(a_bad_string_is_named_by_its_field),
		cmocka_unit_test(an_api_key_with_a_nul_is_found_in_the_envelope),
		cmocka_unit_test(strings_in_sub_messages_are_checked_with_their_path),
		cmocka_unit_test(truncated_wire_bytes_are_left_to_the_decoder),
		cmocka_unit_test(requests_that_cost_too_much_to_decode_are_counted_out),
		cmocka_unit_test(a_reply_with_bad_text_is_repaired_in_a_copy),
		cmocka_unit_test(a_message_with_an_unknown_field_zero_is_repaired_too),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
