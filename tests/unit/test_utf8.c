/* common/utf8: validation, cutting and repair of untrusted text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/arena.h"
#include "common/utf8.h"

#define V(s) utf8_valid((s), sizeof(s) - 1)

static void well_formed_text_is_valid(void **state)
{
	(void)state;
	assert_true(V(""));
	assert_true(V("plain ascii, long enough to take the 8-byte path twice"));
	assert_true(V("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x9d"));
	assert_true(V("\xf4\x8f\xbf\xbf")); /* U+10FFFF */
	assert_true(V("a\0b"));
}

static void malformed_text_is_found_where_it_starts(void **state)
{
	(void)state;
	assert_false(V("\x80"));
	assert_false(V("\xc0\xaf")); /* overlong '/' */
	assert_false(V("\xe0\x80\xaf")); /* overlong */
	assert_false(V("\xed\xa0\x80")); /* surrogate */
	assert_false(V("\xf4\x90\x80\x80")); /* above U+10FFFF */
	assert_false(V("\xf5\x80\x80\x80"));
	assert_false(V("\xff"));
	assert_false(V("ab\xe2\x82")); /* cut short */
	assert_int_equal(utf8_valid_prefix("abcdefghij\xe2\x82", 12), 10);
}

static void cutting_backs_up_to_a_character_start(void **state)
{
	const char *s = "ab\xf0\x9f\x90\x9d"
			"cd";

	(void)state;
	assert_int_equal(utf8_cut(s, 2), 2);
	assert_int_equal(utf8_cut(s, 3), 2);
	assert_int_equal(utf8_cut(s, 4), 2);
	assert_int_equal(utf8_cut(s, 5), 2);
	assert_int_equal(utf8_cut(s, 6), 6);
	assert_int_equal(utf8_cut(s, 8), 8);
	/* A run of stray continuation bytes is not a character to protect. */
	assert_int_equal(utf8_cut("a\x80\x80\x80\x80"
				  "b",
				  4),
			 4);
}

static void a_character_cut_at_the_end_is_dropped(void **state)
{
	char buf[16];

	(void)state;
	assert_int_equal(utf8_complete("ab\xe2\x82", 4), 2);
	assert_int_equal(utf8_complete("ab\xe2", 3), 2);
	assert_int_equal(utf8_complete("ab\xe2\x82\xac", 5), 5);
	assert_int_equal(utf8_complete("\xf0\x9f\x90", 3), 0);
	assert_int_equal(utf8_complete("ab", 2), 2);
	assert_int_equal(utf8_complete("a\x80\x80", 3), 3); /* stray bytes are not a cut character */
	/* What snprintf leaves when a 4-byte buffer ends inside "ab\xc3\xa9". */
	memcpy(buf, "ab\xc3", 4);
	utf8_trim(buf);
	assert_string_equal(buf, "ab");
}

static void repair_replaces_each_bad_byte(void **state)
{
	struct arena a;
	size_t n;
	char *s, *m;

	(void)state;
	arena_init(&a);
	s = utf8_repair(&a,
			"ok\xff"
			"x\xe2\x82",
			6, &n);
	assert_string_equal(s, "ok\xef\xbf\xbdx\xef\xbf\xbd\xef\xbf\xbd");
	assert_int_equal(n, strlen(s));
	assert_true(utf8_valid(s, n));
	s = utf8_repair(&a, "caf\xc3\xa9", 5, NULL);
	assert_string_equal(s, "caf\xc3\xa9");
	arena_reset(&a);
	m = utf8_repair(NULL, "\xc0", 1, NULL);
	assert_string_equal(m, "\xef\xbf\xbd");
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(well_formed_text_is_valid),
		cmocka_unit_test(malformed_text_is_found_where_it_starts),
		cmocka_unit_test(cutting_backs_up_to_a_character_start),
		cmocka_unit_test(a_character_cut_at_the_end_is_dropped),
		cmocka_unit_test(repair_replaces_each_bad_byte),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
