/*
 * Proto3 JSON encoder over protobuf-c descriptors (see pbjson.h for the
 * mapping). One walk over the descriptor's fields, which protoc-c emits in
 * field-number order: decide whether the field is present, turn its value (or
 * each element of a repeated field) into a jansson value, add it under the
 * field's .proto name.
 *
 * Numbers with a fraction: jansson prints every real of one dump with the
 * same number of significant digits, while Python prints each double as its
 * shortest round-trip form. pbjson_dumps picks the smallest digit count that
 * prints every real of the message exactly and in plain (not exponent) form
 * when Python would, so single values read as Python writes them ("0.1",
 * "10.0"). The text can still differ where the numbers do not: exponents
 * ("1e16" against "1e+16") and, in a message mixing short and 17-digit reals,
 * extra digits on the short ones.
 */
#include "common/pbjson.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

/* Python switches a double to exponent form from 1e16 on. */
#define PBJSON_PLAIN_DIGITS 16
#define PBJSON_MAX_DIGITS 17

static json_t *pbjson_message(const ProtobufCMessage *m);

static const void *pbjson_member(const ProtobufCMessage *m, unsigned offset)
{
	return (const char *)m + offset;
}

static json_t *pbjson_int64(int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return json_string(buf);
}

static json_t *pbjson_uint64(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return json_string(buf);
}

static json_t *pbjson_double(double v)
{
	if (isnan(v))
		return json_string("NaN");
	if (isinf(v))
		return json_string(v > 0 ? "Infinity" : "-Infinity");
	return json_real(v);
}

/* json_format writes a float as the double of its shortest decimal form with
 * at least 6 significant digits that reads back as the same float, so 0.1f
 * becomes 0.1 rather than 0.100000001490116. */
static json_t *pbjson_float(float f)
{
	char buf[32];
	double d = f;

	if (isnan(f) || isinf(f))
		return pbjson_double(f);
	for (int digits = 6; digits <= 9; digits++) {
		snprintf(buf, sizeof(buf), "%.*g", digits, (double)f);
		d = strtod(buf, NULL);
		if ((float)d == f)
			break;
	}
	return json_real(d);
}

static json_t *pbjson_string(const char *s)
{
	return json_string(s ? s : "");
}

static json_t *pbjson_enum(const ProtobufCEnumDescriptor *d, int value)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, value);

	if (!ev)
		return json_integer(value);
	return json_string(ev->name);
}

static json_t *pbjson_base64(const ProtobufCBinaryData *b)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const uint8_t *in = b->data;
	size_t len = b->len, out_len, i, o = 0;
	json_t *j;
	char *out;

	if (len > SIZE_MAX / 4 * 3 - 3)
		return NULL;
	out_len = (len + 2) / 3 * 4;
	out = xmalloc(out_len + 1);
	if (!out)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = alphabet[v >> 18 & 0x3f];
		out[o++] = alphabet[v >> 12 & 0x3f];
		out[o++] = alphabet[v >> 6 & 0x3f];
		out[o++] = alphabet[v & 0x3f];
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
		out[o++] = alphabet[v >> 18 & 0x3f];
		out[o++] = alphabet[v >> 12 & 0x3f];
		out[o++] = i + 1 < len ? alphabet[v >> 6 & 0x3f] : '=';
		out[o++] = '=';
	}
	j = json_stringn(out, o);
	free(out);
	return j;
}

/* The JSON value of one (non-repeated) value of field f stored at v. */
static json_t *pbjson_value(const ProtobufCFieldDescriptor *f, const void *v)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *)v);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *)v);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return pbjson_int64(*(const int64_t *)v);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return pbjson_uint64(*(const uint64_t *)v);
	case PROTOBUF_C_TYPE_FLOAT:
		return pbjson_float(*(const float *)v);
	case PROTOBUF_C_TYPE_DOUBLE:
		return pbjson_double(*(const double *)v);
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)v);
	case PROTOBUF_C_TYPE_ENUM:
		return pbjson_enum(f->descriptor, *(const int32_t *)v);
	case PROTOBUF_C_TYPE_STRING:
		return pbjson_string(*(const char *const *)v);
	case PROTOBUF_C_TYPE_BYTES:
		return pbjson_base64(v);
	case PROTOBUF_C_TYPE_MESSAGE:
		return pbjson_message(*(const ProtobufCMessage *const *)v);
	}
	return NULL;
}

size_t pbjson_element_size(ProtobufCType type)
{
	switch (type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return sizeof(int64_t);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	default:
		return sizeof(int32_t);
	}
}

static json_t *pbjson_array(const ProtobufCFieldDescriptor *f, size_t n, const void *elements)
{
	size_t size = pbjson_element_size(f->type);
	json_t *arr = json_array();

	if (!arr)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (json_array_append_new(arr, pbjson_value(f, (const char *)elements + i * size)) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

/* The proto3 default test, as protobuf-c's packer makes it (so -0.0 counts as
 * a default, like on the wire). */
static bool pbjson_is_default(const ProtobufCFieldDescriptor *f, const void *v)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return *(const uint64_t *)v == 0;
	case PROTOBUF_C_TYPE_FLOAT:
		return *(const float *)v == 0;
	case PROTOBUF_C_TYPE_DOUBLE:
		return *(const double *)v == 0;
	case PROTOBUF_C_TYPE_BOOL:
		return !*(const protobuf_c_boolean *)v;
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(const char *const *)v;
		return !s || *s == '\0';
	}
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)v)->len == 0;
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(const void *const *)v == NULL;
	default:
		return *(const uint32_t *)v == 0;
	}
}

static bool pbjson_is_null_message(const ProtobufCFieldDescriptor *f, const void *v)
{
	return f->type == PROTOBUF_C_TYPE_MESSAGE && *(const void *const *)v == NULL;
}

/* Proto2 presence: a has_* flag, or for strings and messages a pointer that is
 * neither NULL nor the field's default (protobuf-c's "not set"). */
static bool pbjson_optional_is_set(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, const void *v)
{
	if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE) {
		const void *p = *(const void *const *)v;
		return p != NULL && p != f->default_value;
	}
	return *(const protobuf_c_boolean *)pbjson_member(m, f->quantifier_offset);
}

static bool pbjson_is_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const void *v = pbjson_member(m, f->offset);

	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)pbjson_member(m, f->quantifier_offset) == f->id &&
		       !pbjson_is_null_message(f, v);
	switch (f->label) {
	case PROTOBUF_C_LABEL_REQUIRED:
		return !pbjson_is_null_message(f, v);
	case PROTOBUF_C_LABEL_OPTIONAL:
		return pbjson_optional_is_set(m, f, v);
	case PROTOBUF_C_LABEL_REPEATED:
		return *(const size_t *)pbjson_member(m, f->quantifier_offset) > 0;
	case PROTOBUF_C_LABEL_NONE:
		return !pbjson_is_default(f, v);
	}
	return false;
}

static int pbjson_add_field(json_t *obj, const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const void *v = pbjson_member(m, f->offset);
	json_t *value;

	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		value = pbjson_array(f, *(const size_t *)pbjson_member(m, f->quantifier_offset),
				     *(const void *const *)v);
	else
		value = pbjson_value(f, v);
	return json_object_set_new(obj, f->name, value);
}

/* A NULL message (an unset element of a repeated field) reads as empty. */
static json_t *pbjson_message(const ProtobufCMessage *m)
{
	json_t *obj = json_object();

	if (!obj || !m)
		return obj;
	for (unsigned i = 0; i < m->descriptor->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &m->descriptor->fields[i];

		if (!pbjson_is_present(m, f))
			continue;
		if (pbjson_add_field(obj, m, f) != 0) {
			json_decref(obj);
			return NULL;
		}
	}
	return obj;
}

json_t *pbjson_encode(const ProtobufCMessage *m)
{
	if (!m)
		return NULL;
	assert(m->descriptor->magic == PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC);
	return pbjson_message(m);
}

/* Significant digits %g needs to print v the way Python's repr does: enough to
 * read back as v, and below 1e16 enough to keep every integer digit out of
 * exponent form. */
static int pbjson_real_digits(double v)
{
	double a = v < 0 ? -v : v, limit = 10;
	int digits, plain = 1;
	char buf[32];

	for (digits = 1; digits < PBJSON_MAX_DIGITS; digits++) {
		snprintf(buf, sizeof(buf), "%.*g", digits, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	/* Powers of ten up to 1e16 are exact doubles, so the count is too. */
	while (plain < PBJSON_PLAIN_DIGITS && a >= limit) {
		plain++;
		limit *= 10;
	}
	if (a >= limit)
		return digits;
	return digits > plain ? digits : plain;
}

/* The most digits any real in j needs; 0 when there is none. */
static int pbjson_tree_digits(json_t *j)
{
	int max = 0, d;

	if (json_is_real(j))
		return pbjson_real_digits(json_real_value(j));
	for (void *it = json_object_iter(j); it; it = json_object_iter_next(j, it)) {
		d = pbjson_tree_digits(json_object_iter_value(it));
		max = d > max ? d : max;
	}
	for (size_t i = 0; i < json_array_size(j); i++) {
		d = pbjson_tree_digits(json_array_get(j, i));
		max = d > max ? d : max;
	}
	return max;
}

char *pbjson_dumps(const ProtobufCMessage *m, int flags)
{
	json_t *j = pbjson_encode(m);
	size_t jflags = JSON_PRESERVE_ORDER;
	char *s;

	if (!j)
		return NULL;
	jflags |= (flags & PBJSON_PRETTY) ? JSON_INDENT(2) : JSON_COMPACT;
	jflags |= JSON_REAL_PRECISION(pbjson_tree_digits(j));
	s = json_dumps(j, jflags);
	json_decref(j);
	return s;
}
