/* common/dbuf: the bounded growing buffer every accumulated string uses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/dbuf.h"
#include "common/utf8.h"

static void appends_within_the_limit_are_kept_whole(void **state)
{
	struct dbuf b;

	(void)state;
	dbuf_init(&b, 64);
	assert_int_equal(dbuf_addstr(&b, "a.txt:1: "), 0);
	assert_int_equal(dbuf_printf(&b, "%s=%d", "n", 42), 0);
	assert_string_equal(dbuf_str(&b), "a.txt:1: n=42");
	assert_int_equal(dbuf_len(&b), 13);
	assert_false(b.db_truncated);
	dbuf_free(&b);
	assert_string_equal(dbuf_str(&b), "");
}

static void an_append_past_the_limit_keeps_what_fits_and_sticks(void **state)
{
	struct dbuf b;

	(void)state;
	dbuf_init(&b, 10);
	assert_int_equal(dbuf_addstr(&b, "0123456"), 0);
	assert_int_equal(dbuf_addstr(&b, "789abc"), -1);
	assert_string_equal(dbuf_str(&b), "0123456789");
	assert_true(b.db_truncated);
	/* Once cut, nothing more is taken, even what would fit. */
	dbuf_free(&b);
	dbuf_init(&b, 4);
	assert_int_equal(dbuf_addstr(&b, "abcdef"), -1);
	assert_int_equal(dbuf_addstr(&b, ""), -1);
	assert_string_equal(dbuf_str(&b), "abcd");
	dbuf_free(&b);
}

static void many_long_lines_never_write_past_the_buffer(void **state)
{
	/* The shape of the old search_files overflow: 50 matches whose paths are
	 * longer than the per-line budget the old code assumed. */
	char path[700];
	struct dbuf b;
	int stopped = 0;

	(void)state;
	memset(path, 'd', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	dbuf_init(&b, 16 * 1024);
	for (int i = 0; i < 50; i++)
		if (dbuf_printf(&b, "%s/f%d.txt:%d: %s\n", path, i, i + 1, "needle") != 0) {
			stopped = i;
			break;
		}
	assert_true(stopped > 0);
	assert_int_equal(dbuf_len(&b), 16 * 1024);
	assert_int_equal(strlen(dbuf_str(&b)), 16 * 1024);
	dbuf_free(&b);
}

static void a_cut_never_splits_a_character(void **state)
{
	struct dbuf b;

	(void)state;
	dbuf_init(&b, 5);
	/* "ab" + U+20AC (3 bytes) + "c": the euro sign would end at byte 5,
	 * the c does not fit. */
	assert_int_equal(dbuf_addstr(&b, "ab\xe2\x82\xac"
					 "c"),
			 -1);
	assert_string_equal(dbuf_str(&b), "ab\xe2\x82\xac");
	dbuf_free(&b);
	dbuf_init(&b, 4);
	assert_int_equal(dbuf_addstr(&b, "ab\xe2\x82\xac"), -1);
	assert_string_equal(dbuf_str(&b), "ab");
	assert_true(utf8_valid(dbuf_str(&b), dbuf_len(&b)));
	dbuf_free(&b);
}

static void a_truncated_text_says_so(void **state)
{
	struct dbuf b;
	char *s;

	(void)state;
	dbuf_init(&b, 8);
	assert_int_equal(dbuf_addstr(&b, "0123456789"), -1);
	s = dbuf_take_marked(&b);
	assert_string_equal(s, "01234567\n[... truncated: the output exceeded 8 bytes]");
	free(s);
	/* The buffer is usable again after a take. */
	assert_int_equal(dbuf_addstr(&b, "ok"), 0);
	s = dbuf_take_marked(&b);
	assert_string_equal(s, "ok");
	free(s);
	s = dbuf_take(&b);
	assert_string_equal(s, "");
	free(s);
}

static void a_long_printf_is_formatted_whole(void **state)
{
	char big[1000];
	struct dbuf b;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	dbuf_init(&b, 4096);
	assert_int_equal(dbuf_printf(&b, "[%s]", big), 0);
	assert_int_equal(dbuf_len(&b), 1001);
	assert_int_equal(dbuf_str(&b)[1000], ']');
	dbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(appends_within_the_limit_are_kept_whole),
		cmocka_unit_test(an_append_past_the_limit_keeps_what_fits_and_sticks),
		cmocka_unit_test(many_long_lines_never_write_past_the_buffer),
		cmocka_unit_test(a_cut_never_splits_a_character),
		cmocka_unit_test(a_truncated_text_says_so),
		cmocka_unit_test(a_long_printf_is_formatted_whole),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
