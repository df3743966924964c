/*
 * Proto3 JSON decoder over protobuf-c descriptors (the mapping is in
 * pbjson.h). A recursive-descent JSON parser that writes straight into the
 * message, rather than jansson's tree, for three reasons: numbers are read
 * from their digits (a tree holds a 64-bit integer as a double or refuses
 * one over INT64_MAX), every error knows the field path it happened at, and
 * nesting and memory are bounded by the message, not by the text.
 *
 * The message is freeable at every step: a string, bytes or element is
 * stored only once it is complete, a sub-message is linked in (and a oneof
 * case set) before it is filled, and a repeated field's count is raised
 * with each element. So a failure anywhere ends with one
 * protobuf_c_message_free_unpacked of the top message.
 */
#include "common/pbjson.h"

#include <assert.h>
#include <stdarg.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pbtext.h"
#include "common/utf8.h"
#include "common/xalloc.h"

/* Longer number tokens are refused (the longest exact double needs 767
 * significant digits; nobody writes those by hand). */
#define PBJSON_NUMBER_MAX 800
/* Decimal exponents are clamped here: beyond it every value is out of range. */
#define PBJSON_EXP_CLAMP 100000
/* FLT_MAX plus half its unit in the last place: the first double that
 * rounds to an infinite float (FLT_MAX's mantissa is odd, so a tie does). */
#define PBJSON_FLOAT_LIMIT ((double)FLT_MAX + 0x1p103)

#define PBJSON_STR2(x) #x
#define PBJSON_STR(x) PBJSON_STR2(x)

struct pbjson_dec {
	const char *d_p; /* next byte to read */
	const char *d_start;
	const char *d_end;
	ProtobufCAllocator *d_alloc;
	bbb_status *d_st;
	unsigned d_depth; /* objects and arrays open */
	size_t d_values; /* fields and elements decoded */
	char *d_buf; /* the last string read, NUL-terminated, d_len bytes */
	size_t d_len;
	size_t d_cap;
	char d_path[256]; /* "task.title", "task_ids[2]" */
	size_t d_path_len;
};

/* A JSON number split into its parts (all pointers into the text). */
struct pbjson_num {
	bool n_neg;
	const char *n_int; /* integer digits */
	size_t n_int_len;
	const char *n_frac; /* fraction digits, after '.' */
	size_t n_frac_len;
	long n_exp; /* exponent, clamped to +-PBJSON_EXP_CLAMP */
};

static int pbjson_object(struct pbjson_dec *d, ProtobufCMessage *m);

static void *pbjson_xalloc(void *data, size_t size)
{
	(void)data;
	return xmalloc(size);
}

static void pbjson_xfree(void *data, void *p)
{
	(void)data;
	free(p);
}

/* alloc == NULL: xmalloc, and free() as protobuf-c's default allocator does. */
static ProtobufCAllocator pbjson_default_alloc = {pbjson_xalloc, pbjson_xfree, NULL};

static void *pbjson_alloc(struct pbjson_dec *d, size_t size)
{
	void *p = d->d_alloc->alloc(d->d_alloc->allocator_data, size > 0 ? size : 1);

	if (p == NULL)
		xalloc_oom(size);
	return p;
}

static void pbjson_free(struct pbjson_dec *d, void *p)
{
	if (p != NULL)
		d->d_alloc->free(d->d_alloc->allocator_data, p);
}

/* ---- errors ---- */

/* Text that is not JSON: MALFORMED_REQUEST with the byte offset. */
static int pbjson_syntax(struct pbjson_dec *d, const char *what)
{
	size_t at = (size_t)(d->d_p - d->d_start);

	if (d->d_path_len > 0)
		status_fail(d->d_st, "MALFORMED_REQUEST", "invalid JSON: %s at byte %zu (in %s)", what, at, d->d_path);
	else
		status_fail(d->d_st, "MALFORMED_REQUEST", "invalid JSON: %s at byte %zu", what, at);
	return -1;
}

/* JSON that does not fit the message: a violation at the current path. */
__attribute__((format(printf, 2, 3))) static int pbjson_invalid(struct pbjson_dec *d, const char *fmt, ...)
{
	char text[192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	status_clear(d->d_st);
	status_violation(d->d_st, d->d_path_len > 0 ? d->d_path : "(request)", "%s", text);
	return -1;
}

static bool pbjson_literal(struct pbjson_dec *d, const char *word);

/* A value of the wrong JSON type for the field: a violation when it is a
 * JSON value at all, else text that is not JSON (NaN, 'x', .5). */
static int pbjson_mismatch(struct pbjson_dec *d, const char *expected)
{
	const char *at = d->d_p;
	int c = d->d_p < d->d_end ? (unsigned char)*d->d_p : -1;
	bool value = c == '"' || c == '{' || c == '[' || c == '-' || (c >= '0' && c <= '9') ||
		     pbjson_literal(d, "true") || pbjson_literal(d, "false") || pbjson_literal(d, "null");

	d->d_p = at;
	if (!value)
		return pbjson_syntax(d, "expected a value");
	return pbjson_invalid(d, "expected %s", expected);
}

/* ---- the field path ---- */

static size_t pbjson_path_push(struct pbjson_dec *d, const char *name, size_t n)
{
	size_t old = d->d_path_len, room = sizeof(d->d_path) - old;
	int w = snprintf(d->d_path + old, room, "%s%.*s", old > 0 ? "." : "", (int)n, name);

	d->d_path_len = w < 0 ? old : (size_t)w < room ? old + (size_t)w : sizeof(d->d_path) - 1;
	return old;
}

static size_t pbjson_path_index(struct pbjson_dec *d, size_t i)
{
	size_t old = d->d_path_len, room = sizeof(d->d_path) - old;
	int w = snprintf(d->d_path + old, room, "[%zu]", i);

	d->d_path_len = w < 0 ? old : (size_t)w < room ? old + (size_t)w : sizeof(d->d_path) - 1;
	return old;
}

static void pbjson_path_pop(struct pbjson_dec *d, size_t old)
{
	d->d_path_len = old;
	d->d_path[old] = '\0';
}

/* ---- lexing ---- */

static int pbjson_peek(struct pbjson_dec *d)
{
	while (d->d_p < d->d_end && (*d->d_p == ' ' || *d->d_p == '\t' || *d->d_p == '\n' || *d->d_p == '\r'))
		d->d_p++;
	return d->d_p < d->d_end ? (unsigned char)*d->d_p : -1;
}

static int pbjson_expect(struct pbjson_dec *d, char c, const char *what)
{
	if (pbjson_peek(d) != (unsigned char)c)
		return pbjson_syntax(d, what);
	d->d_p++;
	return 0;
}

static bool pbjson_literal(struct pbjson_dec *d, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(d->d_end - d->d_p) < n || memcmp(d->d_p, word, n) != 0)
		return false;
	d->d_p += n;
	return true;
}

static void pbjson_buf_add(struct pbjson_dec *d, const char *s, size_t n)
{
	if (d->d_cap - d->d_len <= n) {
		while (d->d_cap - d->d_len <= n)
			d->d_cap = d->d_cap > 0 ? 2 * d->d_cap : 256;
		d->d_buf = xrealloc(d->d_buf, d->d_cap);
	}
	memcpy(d->d_buf + d->d_len, s, n);
	d->d_len += n;
	d->d_buf[d->d_len] = '\0';
}

static int pbjson_hex4(const char *p, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];
		unsigned h;

		if (c >= '0' && c <= '9')
			h = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			h = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			h = (unsigned)(c - 'A' + 10);
		else
			return -1;
		v = v << 4 | h;
	}
	*out = v;
	return 0;
}

/* Reads "\uXXXX" (and its low surrogate, for a high one) at d_p, which is
 * past the backslash and the 'u'; appends the code point as UTF-8. */
static int pbjson_unicode_escape(struct pbjson_dec *d)
{
	unsigned cp, lo;
	char out[4];
	size_t n;

	if (d->d_end - d->d_p < 4 || pbjson_hex4(d->d_p, &cp) != 0)
		return pbjson_syntax(d, "bad \\u escape");
	d->d_p += 4;
	if (cp >= 0xDC00 && cp <= 0xDFFF)
		return pbjson_syntax(d, "lone low surrogate in \\u escape");
	if (cp >= 0xD800 && cp <= 0xDBFF) {
		if (d->d_end - d->d_p < 6 || d->d_p[0] != '\\' || d->d_p[1] != 'u' ||
		    pbjson_hex4(d->d_p + 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
			return pbjson_syntax(d, "lone high surrogate in \\u escape");
		d->d_p += 6;
		cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
	}
	if (cp < 0x80) {
		out[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		out[0] = (char)(0xC0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		out[0] = (char)(0xE0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		out[0] = (char)(0xF0 | cp >> 18);
		out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
		out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
		out[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	pbjson_buf_add(d, out, n);
	return 0;
}

static int pbjson_escape(struct pbjson_dec *d)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *hit;

	if (d->d_p == d->d_end)
		return pbjson_syntax(d, "unterminated string");
	if (*d->d_p == 'u') {
		d->d_p++;
		return pbjson_unicode_escape(d);
	}
	hit = *d->d_p != '\0' ? strchr(from, *d->d_p) : NULL;
	if (hit == NULL)
		return pbjson_syntax(d, "bad escape in string");
	pbjson_buf_add(d, &to[hit - from], 1);
	d->d_p++;
	return 0;
}

/* Reads a JSON string at d_p into d_buf/d_len (unescaped; may hold NULs and
 * bytes that are not UTF-8: the caller decides). */
static int pbjson_string(struct pbjson_dec *d)
{
	if (pbjson_expect(d, '"', "expected a string") != 0)
		return -1;
	d->d_len = 0;
	pbjson_buf_add(d, "", 0);
	for (;;) {
		const char *run = d->d_p;

		while (d->d_p < d->d_end && *d->d_p != '"' && *d->d_p != '\\' && (unsigned char)*d->d_p >= 0x20)
			d->d_p++;
		pbjson_buf_add(d, run, (size_t)(d->d_p - run));
		if (d->d_p == d->d_end)
			return pbjson_syntax(d, "unterminated string");
		if (*d->d_p == '"') {
			d->d_p++;
			return 0;
		}
		if ((unsigned char)*d->d_p < 0x20)
			return pbjson_syntax(d, "control character in string");
		d->d_p++;
		if (pbjson_escape(d) != 0)
			return -1;
	}
}

/* The JSON number grammar over s[0, len): -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
 * Returns false when s is not exactly one number. */
static bool pbjson_num_parse(const char *s, size_t len, struct pbjson_num *n)
{
	const char *p = s, *end = s + len;
	bool exp_neg = false;

	memset(n, 0, sizeof(*n));
	if (p < end && *p == '-') {
		n->n_neg = true;
		p++;
	}
	n->n_int = p;
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	n->n_int_len = (size_t)(p - n->n_int);
	if (n->n_int_len == 0 || (n->n_int_len > 1 && n->n_int[0] == '0'))
		return false;
	if (p < end && *p == '.') {
		n->n_frac = ++p;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
		n->n_frac_len = (size_t)(p - n->n_frac);
		if (n->n_frac_len == 0)
			return false;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		const char *digits;

		p++;
		if (p < end && (*p == '+' || *p == '-'))
			exp_neg = *p++ == '-';
		digits = p;
		while (p < end && *p >= '0' && *p <= '9') {
			if (n->n_exp < PBJSON_EXP_CLAMP)
				n->n_exp = n->n_exp * 10 + (*p - '0');
			p++;
		}
		if (p == digits)
			return false;
		if (n->n_exp > PBJSON_EXP_CLAMP)
			n->n_exp = PBJSON_EXP_CLAMP;
		if (exp_neg)
			n->n_exp = -n->n_exp;
	}
	return p == end;
}

/* Digit i of the number's integer digits followed by its fraction digits. */
static int pbjson_num_digit(const struct pbjson_num *n, size_t i)
{
	return i < n->n_int_len ? n->n_int[i] - '0' : n->n_frac[i - n->n_int_len] - '0';
}

/* The number's magnitude as an integer, exactly. -1 when it has a nonzero
 * fraction, -2 when it is over UINT64_MAX. */
static int pbjson_num_integer(const struct pbjson_num *n, uint64_t *mag)
{
	size_t total = n->n_int_len + n->n_frac_len, first = 0, last;
	long long exp10 = (long long)n->n_exp - (long long)n->n_frac_len;
	uint64_t v = 0;

	while (first < total && pbjson_num_digit(n, first) == 0)
		first++;
	*mag = 0;
	if (first == total)
		return 0;
	last = total; /* digits [first, last) then exp10 zeros */
	while (exp10 < 0 && pbjson_num_digit(n, last - 1) == 0) {
		last--;
		exp10++;
	}
	if (exp10 < 0)
		return -1;
	if ((long long)(last - first) + exp10 > 20)
		return -2;
	for (size_t i = first; i < last + (size_t)exp10; i++) {
		unsigned digit = i < last ? (unsigned)pbjson_num_digit(n, i) : 0;

		if (v > (UINT64_MAX - digit) / 10)
			return -2;
		v = v * 10 + digit;
	}
	*mag = v;
	return 0;
}

static bool pbjson_is_number_char(char c)
{
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* The extent of a number token at d_p (validated by the caller). */
static size_t pbjson_number_token(struct pbjson_dec *d)
{
	const char *p = d->d_p;

	while (p < d->d_end && pbjson_is_number_char(*p))
		p++;
	return (size_t)(p - d->d_p);
}

/* ---- scalar values ---- */

/* The text of a number, or of a string holding one, into *n; text is where
 * it lives (d_buf for a string, so valid until the next string). */
static int pbjson_numeric_text(struct pbjson_dec *d, const char **text, size_t *len, bool *quoted)
{
	int c = pbjson_peek(d);

	*text = d->d_p;
	*len = 0;
	*quoted = c == '"';
	if (*quoted) {
		if (pbjson_string(d) != 0)
			return -1;
		*text = d->d_buf;
		*len = d->d_len;
		return 0;
	}
	if (c != '-' && (c < '0' || c > '9'))
		return pbjson_mismatch(d, "a number");
	*text = d->d_p;
	*len = pbjson_number_token(d);
	return 0;
}

/* An integer field's value: sign and magnitude. */
static int pbjson_integer(struct pbjson_dec *d, bool *neg, uint64_t *mag)
{
	struct pbjson_num n;
	const char *text = NULL;
	size_t len = 0;
	bool quoted = false;
	int rc;

	if (pbjson_numeric_text(d, &text, &len, &quoted) != 0)
		return -1;
	if (!pbjson_num_parse(text, len, &n)) {
		if (!quoted)
			return pbjson_syntax(d, "bad number");
		return pbjson_invalid(d, "expected an integer, got a string that is not a number");
	}
	if (!quoted)
		d->d_p += len;
	rc = pbjson_num_integer(&n, mag);
	if (rc == -1)
		return pbjson_invalid(d, "expected an integer, got a fraction");
	if (rc == -2)
		return pbjson_invalid(d, "integer out of range");
	*neg = n.n_neg && *mag != 0;
	return 0;
}

static int pbjson_signed(struct pbjson_dec *d, int64_t min, int64_t max, int64_t *out)
{
	bool neg = false;
	uint64_t mag = 0;

	if (pbjson_integer(d, &neg, &mag) != 0)
		return -1;
	if (neg ? mag > (uint64_t)(-(min + 1)) + 1 : mag > (uint64_t)max)
		return pbjson_invalid(d, "integer out of range (%lld..%lld)", (long long)min, (long long)max);
	*out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
	return 0;
}

static int pbjson_unsigned(struct pbjson_dec *d, uint64_t max, uint64_t *out)
{
	bool neg = false;
	uint64_t mag = 0;

	if (pbjson_integer(d, &neg, &mag) != 0)
		return -1;
	if (neg || mag > max)
		return pbjson_invalid(d, "integer out of range (0..%llu)", (unsigned long long)max);
	*out = mag;
	return 0;
}

static int pbjson_real_special(const char *s, size_t len, double *out)
{
	if (len == 3 && memcmp(s, "NaN", 3) == 0)
		*out = NAN;
	else if (len == 8 && memcmp(s, "Infinity", 8) == 0)
		*out = INFINITY;
	else if (len == 9 && memcmp(s, "-Infinity", 9) == 0)
		*out = -INFINITY;
	else
		return -1;
	return 0;
}

/* A float or double field's value. A float over FLT_MAX that still rounds
 * to it (as printed in 9 digits: 3.4028235e38) is FLT_MAX; from half a unit
 * above it rounds to infinity, and is refused. */
static int pbjson_real(struct pbjson_dec *d, bool single, double *out)
{
	char local[64], *copy;
	struct pbjson_num n;
	const char *text = NULL;
	size_t len = 0;
	bool quoted = false;

	if (pbjson_numeric_text(d, &text, &len, &quoted) != 0)
		return -1;
	if (quoted && pbjson_real_special(text, len, out) == 0)
		return 0;
	if (!pbjson_num_parse(text, len, &n)) {
		if (!quoted)
			return pbjson_syntax(d, "bad number");
		return pbjson_invalid(d, "expected a number, got a string that is not one");
	}
	if (len > PBJSON_NUMBER_MAX)
		return pbjson_invalid(d, "number longer than %d characters", PBJSON_NUMBER_MAX);
	copy = len < sizeof(local) ? local : xmalloc(len + 1);
	memcpy(copy, text, len);
	copy[len] = '\0';
	*out = strtod(copy, NULL);
	if (copy != local)
		free(copy);
	if (!quoted)
		d->d_p += len;
	if (isinf(*out) || (single && fabs(*out) >= PBJSON_FLOAT_LIMIT))
		return pbjson_invalid(d, "number out of range");
	if (single && fabs(*out) > FLT_MAX)
		*out = *out > 0 ? FLT_MAX : -FLT_MAX;
	return 0;
}

static int pbjson_bool(struct pbjson_dec *d, protobuf_c_boolean *out)
{
	pbjson_peek(d);
	if (pbjson_literal(d, "true"))
		*out = 1;
	else if (pbjson_literal(d, "false"))
		*out = 0;
	else
		return pbjson_mismatch(d, "true or false");
	return 0;
}

static int pbjson_enum(struct pbjson_dec *d, const ProtobufCEnumDescriptor *e, int32_t *out)
{
	const ProtobufCEnumValue *v;
	int64_t n = 0;

	if (pbjson_peek(d) != '"') {
		if (pbjson_signed(d, INT32_MIN, INT32_MAX, &n) != 0)
			return -1;
		*out = (int32_t)n;
		return 0;
	}
	if (pbjson_string(d) != 0)
		return -1;
	v = strlen(d->d_buf) == d->d_len ? protobuf_c_enum_descriptor_get_value_by_name(e, d->d_buf) : NULL;
	if (v == NULL)
		return pbjson_invalid(d, "not a value of %s", e->name);
	*out = v->value;
	return 0;
}

/* A string field's value into d_buf: valid UTF-8 without NUL. */
static int pbjson_text(struct pbjson_dec *d)
{
	if (pbjson_peek(d) != '"')
		return pbjson_mismatch(d, "a string");
	if (pbjson_string(d) != 0)
		return -1;
	if (!utf8_valid(d->d_buf, d->d_len))
		return pbjson_invalid(d, "string is not valid UTF-8");
	if (strlen(d->d_buf) != d->d_len)
		return pbjson_invalid(d, "string holds a NUL character");
	return 0;
}

static char *pbjson_text_copy(struct pbjson_dec *d)
{
	char *s = pbjson_alloc(d, d->d_len + 1);

	memcpy(s, d->d_buf, d->d_len + 1);
	return s;
}

static int pbjson_base64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/* A bytes field's value: base64 (either alphabet, padding optional). */
static int pbjson_bytes(struct pbjson_dec *d, ProtobufCBinaryData *out)
{
	size_t n, pad = 0, o = 0;
	uint32_t acc = 0;
	int bits = 0;

	if (pbjson_peek(d) != '"')
		return pbjson_mismatch(d, "a base64 string");
	if (pbjson_string(d) != 0)
		return -1;
	n = d->d_len;
	while (pad < 2 && n > 0 && d->d_buf[n - 1] == '=') {
		n--;
		pad++;
	}
	if ((pad > 0 && (n + pad) % 4 != 0) || n % 4 == 1)
		return pbjson_invalid(d, "bad base64 length or padding");
	out->len = n * 6 / 8;
	out->data = NULL;
	if (out->len == 0)
		return 0;
	out->data = pbjson_alloc(d, out->len);
	for (size_t i = 0; i < n; i++) {
		int v = pbjson_base64_value(d->d_buf[i]);

		if (v < 0) {
			pbjson_free(d, out->data);
			out->data = NULL;
			out->len = 0;
			return pbjson_invalid(d, "not base64");
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out->data[o++] = (uint8_t)(acc >> bits);
		}
	}
	assert(o == out->len);
	return 0;
}

/* ---- fields ---- */

/* One value of field f (an element, for a repeated one) into dst, which has
 * the field's C type. For strings, bytes and messages dst must hold NULL or
 * the default: it is only written when the value is complete. */
static int pbjson_value(struct pbjson_dec *d, const ProtobufCFieldDescriptor *f, void *dst)
{
	int64_t s = 0;
	uint64_t u = 0;
	double r = 0;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		if (pbjson_signed(d, INT32_MIN, INT32_MAX, &s) != 0)
			return -1;
		*(int32_t *)dst = (int32_t)s;
		return 0;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		if (pbjson_unsigned(d, UINT32_MAX, &u) != 0)
			return -1;
		*(uint32_t *)dst = (uint32_t)u;
		return 0;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return pbjson_signed(d, INT64_MIN, INT64_MAX, (int64_t *)dst);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return pbjson_unsigned(d, UINT64_MAX, (uint64_t *)dst);
	case PROTOBUF_C_TYPE_FLOAT:
		if (pbjson_real(d, true, &r) != 0)
			return -1;
		*(float *)dst = (float)r;
		return 0;
	case PROTOBUF_C_TYPE_DOUBLE:
		return pbjson_real(d, false, (double *)dst);
	case PROTOBUF_C_TYPE_BOOL:
		return pbjson_bool(d, (protobuf_c_boolean *)dst);
	case PROTOBUF_C_TYPE_ENUM:
		return pbjson_enum(d, f->descriptor, (int32_t *)dst);
	case PROTOBUF_C_TYPE_STRING:
		if (pbjson_text(d) != 0)
			return -1;
		*(char **)dst = pbjson_text_copy(d);
		return 0;
	case PROTOBUF_C_TYPE_BYTES:
		return pbjson_bytes(d, (ProtobufCBinaryData *)dst);
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessageDescriptor *md = f->descriptor;
		ProtobufCMessage *sub;

		if (pbjson_peek(d) != '{')
			return pbjson_mismatch(d, "an object");
		sub = pbjson_alloc(d, md->sizeof_message);
		protobuf_c_message_init(md, sub);
		*(ProtobufCMessage **)dst = sub;
		return pbjson_object(d, sub);
	}
	}
	return pbjson_invalid(d, "field type %d is not supported", (int)f->type);
}

static int pbjson_count_value(struct pbjson_dec *d)
{
	if (++d->d_values > PBTEXT_MAX_FIELDS)
		return pbjson_syntax(d, "more than " PBJSON_STR(PBTEXT_MAX_FIELDS) " fields and elements");
	return 0;
}

static int pbjson_open(struct pbjson_dec *d)
{
	if (d->d_depth >= PBJSON_MAX_DEPTH)
		return pbjson_invalid(d, "nested deeper than %d levels", PBJSON_MAX_DEPTH);
	d->d_depth++;
	return 0;
}

/* Makes room for one more element in the array at *arr holding n of them
 * (capacity *cap), keeping the message freeable. */
static void pbjson_grow(struct pbjson_dec *d, void **arr, size_t n, size_t *cap, size_t size)
{
	void *bigger;

	if (n < *cap)
		return;
	*cap = *cap > 0 ? 2 * *cap : 4;
	bigger = pbjson_alloc(d, *cap * size);
	if (n > 0)
		memcpy(bigger, *arr, n * size);
	memset((char *)bigger + n * size, 0, (*cap - n) * size);
	pbjson_free(d, *arr);
	*arr = bigger;
}

static int pbjson_repeated(struct pbjson_dec *d, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	size_t *n = (size_t *)((char *)m + f->quantifier_offset), cap = 0, size = pbjson_element_size(f->type);
	void **arr = (void **)((char *)m + f->offset);

	if (pbjson_peek(d) != '[')
		return pbjson_mismatch(d, "an array");
	if (pbjson_open(d) != 0)
		return -1;
	d->d_p++;
	if (pbjson_peek(d) == ']') {
		d->d_p++;
		d->d_depth--;
		return 0;
	}
	for (;;) {
		size_t old = pbjson_path_index(d, *n);
		char *slot;
		int c;

		if (pbjson_count_value(d) != 0)
			return -1;
		if (pbjson_peek(d) == 'n' && pbjson_literal(d, "null"))
			return pbjson_invalid(d, "null is not an element of a repeated field");
		pbjson_grow(d, arr, *n, &cap, size);
		slot = (char *)*arr + *n * size;
		/* A message is linked in (counted) before it is filled; other
		 * values are counted once complete. */
		if (f->type == PROTOBUF_C_TYPE_MESSAGE)
			(*n)++;
		if (pbjson_value(d, f, slot) != 0)
			return -1;
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			(*n)++;
		pbjson_path_pop(d, old);
		c = pbjson_peek(d);
		if (c == ']')
			break;
		if (c != ',')
			return pbjson_syntax(d, "expected ',' or ']'");
		d->d_p++;
		if (pbjson_peek(d) == ']')
			return pbjson_syntax(d, "trailing comma");
	}
	d->d_p++;
	d->d_depth--;
	return 0;
}

/* The member of m's oneof that holds f, when another member is set. */
static bool pbjson_oneof_taken(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	return (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
	       *(const uint32_t *)((const char *)m + f->quantifier_offset) != 0;
}

static int pbjson_field(struct pbjson_dec *d, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	void *dst = (char *)m + f->offset;

	if (pbjson_count_value(d) != 0)
		return -1;
	if (pbjson_peek(d) == 'n' && pbjson_literal(d, "null"))
		return 0;
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return pbjson_repeated(d, m, f);
	if (pbjson_oneof_taken(m, f))
		return pbjson_invalid(d, "a second member of a oneof");
	/* Presence first: a sub-message is linked in before it is filled,
	 * and free_unpacked looks at a oneof member only when it is the case. */
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		*(uint32_t *)((char *)m + f->quantifier_offset) = f->id;
	else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
		 f->type != PROTOBUF_C_TYPE_MESSAGE)
		*(protobuf_c_boolean *)((char *)m + f->quantifier_offset) = 1;
	return pbjson_value(d, f, dst);
}

/* Whether key (n bytes) is name in lowerCamelCase, as protoc makes a
 * json_name: each '_' dropped and the letter after it upper-cased. */
static bool pbjson_is_camel(const char *name, const char *key, size_t n)
{
	bool upper = false;
	size_t j = 0;

	for (; *name != '\0'; name++) {
		char c = *name;

		if (c == '_') {
			upper = true;
			continue;
		}
		if (upper && c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		upper = false;
		if (j == n || key[j] != c)
			return false;
		j++;
	}
	return j == n;
}

/* The index of the field named key (proto name first, then JSON name), or -1. */
static int pbjson_find(const ProtobufCMessageDescriptor *md, const char *key, size_t n)
{
	for (unsigned i = 0; i < md->n_fields; i++)
		if (strlen(md->fields[i].name) == n && memcmp(md->fields[i].name, key, n) == 0)
			return (int)i;
	for (unsigned i = 0; i < md->n_fields; i++)
		if (pbjson_is_camel(md->fields[i].name, key, n))
			return (int)i;
	return -1;
}

/* One "key": value member of an object for message m; seen marks the fields
 * given so far. */
static int pbjson_member(struct pbjson_dec *d, ProtobufCMessage *m, unsigned char *seen)
{
	const ProtobufCMessageDescriptor *md = m->descriptor;
	size_t old;
	int i;

	if (pbjson_peek(d) != '"')
		return pbjson_syntax(d, "expected a key");
	if (pbjson_string(d) != 0)
		return -1;
	if (!utf8_valid(d->d_buf, d->d_len) || strlen(d->d_buf) != d->d_len)
		return pbjson_syntax(d, "a key that is not UTF-8 text");
	i = pbjson_find(md, d->d_buf, d->d_len);
	old = pbjson_path_push(d, i >= 0 ? md->fields[i].name : d->d_buf,
			       i >= 0 ? strlen(md->fields[i].name) : d->d_len);
	if (i < 0)
		return pbjson_invalid(d, "unknown field of %s", md->name);
	if (seen[i])
		return pbjson_invalid(d, "field given twice");
	seen[i] = 1;
	if (pbjson_expect(d, ':', "expected ':'") != 0 || pbjson_field(d, m, &md->fields[i]) != 0)
		return -1;
	pbjson_path_pop(d, old);
	return 0;
}

static int pbjson_object(struct pbjson_dec *d, ProtobufCMessage *m)
{
	unsigned char *seen;
	int rc = -1, c;

	if (pbjson_expect(d, '{', "expected an object") != 0 || pbjson_open(d) != 0)
		return -1;
	if (pbjson_peek(d) == '}') {
		d->d_p++;
		d->d_depth--;
		return 0;
	}
	seen = xcalloc(m->descriptor->n_fields + 1, 1);
	for (;;) {
		if (pbjson_member(d, m, seen) != 0)
			goto out;
		c = pbjson_peek(d);
		if (c == '}')
			break;
		if (c != ',') {
			pbjson_syntax(d, "expected ',' or '}'");
			goto out;
		}
		d->d_p++;
	}
	d->d_p++;
	d->d_depth--;
	rc = 0;
out:
	free(seen);
	return rc;
}

int pbjson_decode(const ProtobufCMessageDescriptor *desc, const char *json, size_t len, ProtobufCAllocator *alloc,
		  ProtobufCMessage **out, bbb_status *st)
{
	struct pbjson_dec d = {.d_p = json, .d_start = json, .d_end = json + len, .d_st = st};
	ProtobufCMessage *m;
	int rc = -1;

	assert(desc->magic == PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC);
	*out = NULL;
	if (len > BBB_REQUEST_MAX_BYTES)
		return status_fail(st, "MESSAGE_TOO_LARGE", "request of %zu bytes is over the limit of %zu", len,
				   BBB_REQUEST_MAX_BYTES);
	d.d_alloc = alloc != NULL ? alloc : &pbjson_default_alloc;
	m = pbjson_alloc(&d, desc->sizeof_message);
	protobuf_c_message_init(desc, m);
	if (pbjson_peek(&d) != '{')
		rc = pbjson_syntax(&d, "the request must be a JSON object");
	else if ((rc = pbjson_object(&d, m)) == 0 && pbjson_peek(&d) != -1)
		rc = pbjson_syntax(&d, "text after the object");
	free(d.d_buf);
	if (rc != 0) {
		protobuf_c_message_free_unpacked(m, d.d_alloc);
		return -1;
	}
	*out = m;
	return 0;
}
