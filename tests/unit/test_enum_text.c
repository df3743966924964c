/*
 * enum_text: enum values <-> short lower-case text, over the real generated
 * enums of common.proto and one hand-written enum without an UNSPECIFIED
 * value (the common-prefix fallback).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "beebeebrain/v1/common.pb-c.h"
#include "common/enum_text.h"

static const ProtobufCEnumDescriptor *const all_enums[] = {
	&beebeebrain__v1__task_status__descriptor,  &beebeebrain__v1__run_status__descriptor,
	&beebeebrain__v1__task_command__descriptor, &beebeebrain__v1__dependency_type__descriptor,
	&beebeebrain__v1__agent_status__descriptor, &beebeebrain__v1__inbox_item_type__descriptor,
	&beebeebrain__v1__inbox_status__descriptor, &beebeebrain__v1__source_type__descriptor,
	&beebeebrain__v1__log_level__descriptor,    &beebeebrain__v1__severity__descriptor,
	&beebeebrain__v1__alert_status__descriptor,
};

/* enum Color { COLOR_RED = 1; COLOR_DARK_BLUE = 2; COLOR_GREEN = 4; }: no
 * value 0, so the prefix comes from the names alone. */
static const ProtobufCEnumValue color_values[] = {
	{"COLOR_RED", "COLOR_RED", 1},
	{"COLOR_DARK_BLUE", "COLOR_DARK_BLUE", 2},
	{"COLOR_GREEN", "COLOR_GREEN", 4},
};
static const ProtobufCEnumValueIndex color_by_name[] = {
	{"COLOR_DARK_BLUE", 1},
	{"COLOR_GREEN", 2},
	{"COLOR_RED", 0},
};
static const ProtobufCIntRange color_ranges[] = {{1, 0}, {4, 2}, {0, 3}};
static const ProtobufCEnumDescriptor color_descriptor = {
	.magic = PROTOBUF_C__ENUM_DESCRIPTOR_MAGIC,
	.name = "test.Color",
	.short_name = "Color",
	.c_name = "Color",
	.package_name = "test",
	.n_values = 3,
	.values = color_values,
	.n_value_names = 3,
	.values_by_name = color_by_name,
	.n_value_ranges = 2,
	.value_ranges = color_ranges,
};

static void text_is_the_lower_case_rest_after_the_prefix(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(enum_text(&beebeebrain__v1__task_status__descriptor,
				      BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_TODO, buf, sizeof(buf)),
			    "todo");
	assert_string_equal(enum_text(&beebeebrain__v1__severity__descriptor,
				      BEEBEEBRAIN__V1__SEVERITY__SEVERITY_CRITICAL, buf, sizeof(buf)),
			    "critical");
}

static void multi_word_values_keep_their_underscores(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(enum_text(&beebeebrain__v1__run_status__descriptor,
				      BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_RETRY_SCHEDULED, buf, sizeof(buf)),
			    "retry_scheduled");
	assert_string_equal(enum_text(&beebeebrain__v1__inbox_item_type__descriptor,
				      BEEBEEBRAIN__V1__INBOX_ITEM_TYPE__INBOX_ITEM_TYPE_AWAIT_USER_INPUT, buf,
				      sizeof(buf)),
			    "await_user_input");
}

static void zero_value_reads_unspecified(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(enum_text(&beebeebrain__v1__task_status__descriptor, 0, buf, sizeof(buf)), "unspecified");
}

static void text_returns_the_callers_buffer(void **state)
{
	char buf[32];

	(void)state;
	assert_ptr_equal(enum_text(&beebeebrain__v1__task_status__descriptor, 1, buf, sizeof(buf)), buf);
}

static void value_outside_the_enum_has_no_text(void **state)
{
	char buf[32];

	(void)state;
	assert_null(enum_text(&beebeebrain__v1__task_status__descriptor, 8, buf, sizeof(buf)));
	assert_null(enum_text(&beebeebrain__v1__task_status__descriptor, -1, buf, sizeof(buf)));
}

static void text_that_does_not_fit_the_buffer_gives_null(void **state)
{
	char buf[8];

	(void)state;
	/* "retry_scheduled" needs 16 bytes; "running" exactly 8. */
	assert_null(enum_text(&beebeebrain__v1__run_status__descriptor, 5, buf, sizeof(buf)));
	assert_string_equal(enum_text(&beebeebrain__v1__run_status__descriptor, 2, buf, sizeof(buf)), "running");
	assert_null(enum_text(&beebeebrain__v1__run_status__descriptor, 2, buf, 7));
	assert_null(enum_text(&beebeebrain__v1__run_status__descriptor, 2, buf, 0));
}

static void short_text_is_accepted_in_any_case(void **state)
{
	const char *texts[] = {"todo", "TODO", "ToDo"};
	int v;

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		v = -7;
		assert_int_equal(enum_from_text(&beebeebrain__v1__task_status__descriptor, texts[i], &v), 0);
		assert_int_equal(v, BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_TODO);
	}
	assert_int_equal(enum_from_text(&beebeebrain__v1__run_status__descriptor, "Retry_Scheduled", &v), 0);
	assert_int_equal(v, BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_RETRY_SCHEDULED);
}

static void full_value_name_is_accepted(void **state)
{
	int v = -7;

	(void)state;
	assert_int_equal(enum_from_text(&beebeebrain__v1__task_status__descriptor, "TASK_STATUS_CANCELLED", &v), 0);
	assert_int_equal(v, BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_CANCELLED);
}

static void unspecified_is_refused(void **state)
{
	const char *texts[] = {"unspecified", "UNSPECIFIED", "TASK_STATUS_UNSPECIFIED"};
	int v = -7;

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		assert_int_equal(enum_from_text(&beebeebrain__v1__task_status__descriptor, texts[i], &v), -1);
	assert_int_equal(v, -7);
}

static void unknown_text_is_refused_and_leaves_the_value_alone(void **state)
{
	const char *texts[] = {"", "bogus", "todo ", "status_todo", "TASK_STATUS_", "queued", "1"};
	int v = -7;

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		assert_int_equal(enum_from_text(&beebeebrain__v1__task_status__descriptor, texts[i], &v), -1);
	assert_int_equal(enum_from_text(&beebeebrain__v1__task_status__descriptor, NULL, &v), -1);
	assert_int_equal(v, -7);
}

static void every_value_round_trips_through_its_text(void **state)
{
	char buf[64];

	(void)state;
	for (size_t e = 0; e < sizeof(all_enums) / sizeof(all_enums[0]); e++) {
		const ProtobufCEnumDescriptor *d = all_enums[e];

		for (unsigned i = 0; i < d->n_values; i++) {
			int v = -7;

			if (d->values[i].value == 0)
				continue;
			assert_non_null(enum_text(d, d->values[i].value, buf, sizeof(buf)));
			assert_int_equal(enum_from_text(d, buf, &v), 0);
			assert_int_equal(v, d->values[i].value);
		}
	}
}

static void choices_list_every_value_but_unspecified_in_number_order(void **state)
{
	char buf[128];

	(void)state;
	assert_string_equal(enum_choices(&beebeebrain__v1__task_status__descriptor, buf, sizeof(buf)),
			    "todo|running|review|done|blocked|failed|cancelled");
	assert_string_equal(enum_choices(&beebeebrain__v1__run_status__descriptor, buf, sizeof(buf)),
			    "queued|running|succeeded|failed|retry_scheduled|interrupted|cancelled");
	assert_string_equal(enum_choices(&beebeebrain__v1__dependency_type__descriptor, buf, sizeof(buf)),
			    "finish_to_start|start_to_start|finish_to_finish|start_to_finish");
}

static void choices_that_do_not_fit_the_buffer_give_null(void **state)
{
	char buf[64];

	(void)state;
	/* "active|inactive" needs 16 bytes. */
	assert_null(enum_choices(&beebeebrain__v1__agent_status__descriptor, buf, 15));
	assert_string_equal(enum_choices(&beebeebrain__v1__agent_status__descriptor, buf, 16), "active|inactive");
	assert_null(enum_choices(&beebeebrain__v1__agent_status__descriptor, buf, 0));
}

static void enum_without_unspecified_uses_the_common_prefix(void **state)
{
	char buf[32];
	int v = -7;

	(void)state;
	assert_string_equal(enum_text(&color_descriptor, 2, buf, sizeof(buf)), "dark_blue");
	assert_int_equal(enum_from_text(&color_descriptor, "green", &v), 0);
	assert_int_equal(v, 4);
	assert_int_equal(enum_from_text(&color_descriptor, "COLOR_RED", &v), 0);
	assert_int_equal(v, 1);
	assert_string_equal(enum_choices(&color_descriptor, buf, sizeof(buf)), "red|dark_blue|green");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(text_is_the_lower_case_rest_after_the_prefix),
		cmocka_unit_test(multi_word_values_keep_their_underscores),
		cmocka_unit_test(zero_value_reads_unspecified),
		cmocka_unit_test(text_returns_the_callers_buffer),
		cmocka_unit_test(value_outside_the_enum_has_no_text),
		cmocka_unit_test(text_that_does_not_fit_the_buffer_gives_null),
		cmocka_unit_test(short_text_is_accepted_in_any_case),
		cmocka_unit_test(full_value_name_is_accepted),
		cmocka_unit_test(unspecified_is_refused),
		cmocka_unit_test(unknown_text_is_refused_and_leaves_the_value_alone),
		cmocka_unit_test(every_value_round_trips_through_its_text),
		cmocka_unit_test(choices_list_every_value_but_unspecified_in_number_order),
		cmocka_unit_test(choices_that_do_not_fit_the_buffer_give_null),
		cmocka_unit_test(enum_without_unspecified_uses_the_common_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
