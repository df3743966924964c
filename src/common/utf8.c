/* UTF-8 validation, cutting and repair (see utf8.h). */
#include "common/utf8.h"

#include <stdint.h>
#include <string.h>

#include "common/arena.h"
#include "common/xalloc.h"

/* Length of the well-formed sequence at s (1..4), or 0 when the bytes there
 * are not one. n is what is left of the text. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
		return n >= 3 && s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
		return n >= 4 && s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80 ? 4 : 0;
	}
	return 0;
}

size_t utf8_valid_prefix(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		size_t k;

		/* ASCII runs, 8 bytes at a time. */
		while (i + 8 <= n) {
			uint64_t w;
			memcpy(&w, p + i, 8);
			if (w & 0x8080808080808080ull)
				break;
			i += 8;
		}
		if (i >= n)
			break;
		if ((k = utf8_seq(p + i, n - i)) == 0)
			return i;
		i += k;
	}
	return n;
}

int utf8_valid(const char *s, size_t n)
{
	return utf8_valid_prefix(s, n) == n;
}

size_t utf8_cut(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t m = n;

	/* Back up over continuation bytes to the start of the character that
	 * would be split, at most 3 bytes. */
	while (m > 0 && n - m < 3 && (p[m] & 0xc0) == 0x80)
		m--;
	if ((p[m] & 0xc0) != 0x80)
		return m;
	return n; /* not a sequence we could split: keep the cut where it was */
}

size_t utf8_complete(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t lead = n, need;

	while (lead > 0 && n - lead < 4 && (p[lead - 1] & 0xc0) == 0x80)
		lead--;
	if (lead == 0 || p[lead - 1] < 0xc0)
		return n; /* ends in ASCII or in stray continuation bytes */
	lead--;
	need = p[lead] >= 0xf0 ? 4 : p[lead] >= 0xe0 ? 3 : 2;
	return n - lead < need ? lead : n;
}

void utf8_trim(char *buf)
{
	buf[utf8_complete(buf, strlen(buf))] = '\0';
}

char *utf8_repair(struct arena *a, const char *s, size_t n, size_t *out_len)
{
	static const char fffd[] = "\xef\xbf\xbd";
	size_t bad = 0, i = 0, o = 0, k;
	char *out;

	for (i = 0; i < n; i += k ? k : 1)
		if ((k = utf8_seq((const unsigned char *)s + i, n - i)) == 0)
			bad++;
	out = a != NULL ? arena_alloc(a, n + 2 * bad + 1) : xmalloc(n + 2 * bad + 1);
	for (i = 0; i < n; i += k ? k : 1) {
		k = utf8_seq((const unsigned char *)s + i, n - i);
		if (k == 0) {
			memcpy(out + o, fffd, 3);
			o += 3;
		} else {
			memcpy(out + o, s + i, k);
			o += k;
		}
	}
	out[o] = '\0';
	if (out_len != NULL)
		*out_len = o;
	return out;
}
