/*
 * Short enum texts. The prefix is worked out from the descriptor; each
 * thread remembers it for the last few descriptors it parsed (the store
 * parses a status on every row it reads), so the functions share no state
 * and are safe from any thread.
 */
#include "common/enum_text.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

static const char ENUM_TEXT_UNSPECIFIED[] = "UNSPECIFIED";

/* True when every value name is `prefix` (len bytes) plus at least one more
 * character. */
static bool enum_text_all_extend(const ProtobufCEnumDescriptor *d, const char *prefix, size_t len)
{
	for (unsigned i = 0; i < d->n_values; i++) {
		const char *name = d->values[i].name;

		if (strncmp(name, prefix, len) != 0 || name[len] == '\0')
			return false;
	}
	return true;
}

/* The longest common prefix of all value names, cut back to end at a '_' and
 * to leave every name a non-empty rest; 0 when there is none. */
static size_t enum_text_common_prefix(const ProtobufCEnumDescriptor *d)
{
	const char *first = d->values[0].name;
	size_t common = strlen(first), shortest = common, limit;

	for (unsigned i = 1; i < d->n_values; i++) {
		const char *name = d->values[i].name;
		size_t k = 0;

		while (k < common && first[k] == name[k])
			k++;
		common = k;
		if (strlen(name) < shortest)
			shortest = strlen(name);
	}
	limit = common < shortest ? common : shortest - 1;
	while (limit > 0 && first[limit - 1] != '_')
		limit--;
	return limit;
}

/* Length of the prefix shared by all value names ("TASK_STATUS_" -> 12). */
static size_t enum_text_prefix_len(const ProtobufCEnumDescriptor *d)
{
	const ProtobufCEnumValue *zero = protobuf_c_enum_descriptor_get_value(d, 0);
	size_t ulen = sizeof(ENUM_TEXT_UNSPECIFIED) - 1;

	if (d->n_values == 0)
		return 0;
	if (zero) {
		size_t len = strlen(zero->name);

		if (len >= ulen && strcmp(zero->name + len - ulen, ENUM_TEXT_UNSPECIFIED) == 0 &&
		    enum_text_all_extend(d, zero->name, len - ulen))
			return len - ulen;
	}
	return enum_text_common_prefix(d);
}

#define ENUM_TEXT_MEMO 4

/* enum_text_prefix_len, remembered per thread for the last descriptors
 * (descriptors are generated constants: a pointer names one for good). */
static size_t enum_text_prefix_len_memo(const ProtobufCEnumDescriptor *d)
{
	static _Thread_local struct {
		const ProtobufCEnumDescriptor *m_desc;
		size_t m_len;
	} memo[ENUM_TEXT_MEMO];
	static _Thread_local unsigned next;
	unsigned i;

	for (i = 0; i < ENUM_TEXT_MEMO; i++)
		if (memo[i].m_desc == d)
			return memo[i].m_len;
	i = next++ % ENUM_TEXT_MEMO;
	memo[i].m_desc = d;
	memo[i].m_len = enum_text_prefix_len(d);
	return memo[i].m_len;
}

/* strcasecmp(a, b) == 0, stopping at the first difference: the names
 * compared with a text mostly differ in their first characters, where
 * strcasecmp's set-up costs more than the comparison. */
static bool enum_text_equal(const char *a, const char *b)
{
	while (*a != '\0' && tolower((unsigned char)*a) == tolower((unsigned char)*b)) {
		a++;
		b++;
	}
	return tolower((unsigned char)*a) == tolower((unsigned char)*b);
}

/* The part of `name` after the prefix; an alias without it is kept whole. */
static const char *enum_text_rest(const ProtobufCEnumDescriptor *d, const char *name, size_t prefix_len)
{
	if (prefix_len > 0 && strncmp(name, d->values[0].name, prefix_len) == 0 && name[prefix_len] != '\0')
		return name + prefix_len;
	return name;
}

/* Appends s lower-cased at buf + *used; -1 when it does not fit in n bytes. */
static int enum_text_append_lower(char *buf, size_t n, size_t *used, const char *s)
{
	size_t len = strlen(s);

	if (*used + len >= n)
		return -1;
	for (size_t i = 0; i < len; i++)
		buf[*used + i] = (char)tolower((unsigned char)s[i]);
	*used += len;
	buf[*used] = '\0';
	return 0;
}

const char *enum_text(const ProtobufCEnumDescriptor *d, int value, char *buf, size_t n)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, value);
	size_t used = 0;

	if (!v)
		return NULL;
	if (enum_text_append_lower(buf, n, &used, enum_text_rest(d, v->name, enum_text_prefix_len(d))) != 0)
		return NULL;
	return buf;
}

int enum_from_text(const ProtobufCEnumDescriptor *d, const char *text, int *value)
{
	size_t prefix_len;

	if (!text || *text == '\0')
		return -1;
	prefix_len = enum_text_prefix_len_memo(d);
	/* values_by_name also holds aliases, which should parse too. */
	for (unsigned i = 0; i < d->n_value_names; i++) {
		const char *name = d->values_by_name[i].name;
		int v = d->values[d->values_by_name[i].index].value;

		if (v == 0)
			continue;
		if (enum_text_equal(text, enum_text_rest(d, name, prefix_len)) || enum_text_equal(text, name)) {
			*value = v;
			return 0;
		}
	}
	return -1;
}

char *enum_choices(const ProtobufCEnumDescriptor *d, char *buf, size_t n)
{
	size_t prefix_len = enum_text_prefix_len(d), used = 0;

	if (n == 0)
		return NULL;
	buf[0] = '\0';
	for (unsigned i = 0; i < d->n_values; i++) {
		const ProtobufCEnumValue *v = &d->values[i];

		if (v->value == 0)
			continue;
		if (used > 0 && enum_text_append_lower(buf, n, &used, "|") != 0)
			return NULL;
		if (enum_text_append_lower(buf, n, &used, enum_text_rest(d, v->name, prefix_len)) != 0)
			return NULL;
	}
	return buf;
}
