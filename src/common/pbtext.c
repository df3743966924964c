/* UTF-8 rules for protobuf strings, by descriptor (see pbtext.h). */
#include "common/pbtext.h"

#include <stdio.h>
#include <string.h>

#include "common/arena.h"
#include "common/utf8.h"

/* Our schemas are not recursive, so real messages are shallow; the bound
 * only keeps a hostile descriptor walk finite. */
#define PBTEXT_MAX_DEPTH 32

/* Reads a varint at p (n bytes left): its length, or 0 when malformed. */
static size_t pbtext_varint(const uint8_t *p, size_t n, uint64_t *v)
{
	uint64_t x = 0;

	for (size_t i = 0; i < n && i < 10; i++) {
		x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if ((p[i] & 0x80) == 0) {
			*v = x;
			return i + 1;
		}
	}
	return 0;
}

/* Appends ".name" (or "name" at the top) to path at *used. */
static void pbtext_path_push(char *path, size_t n, size_t used, const char *name)
{
	if (used < n)
		snprintf(path + used, n - used, "%s%s", used > 0 ? "." : "", name);
}

struct pbtext_count {
	size_t pc_fields;
	size_t pc_unknown;
};

static enum pbtext_wire pbtext_walk(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len, int depth,
				    char *path, size_t n, struct pbtext_count *c)
{
	size_t off = 0, used = strnlen(path, n);

	while (off < len) {
		uint64_t tag, l;
		size_t k = pbtext_varint(p + off, len - off, &tag);
		const ProtobufCFieldDescriptor *f;
		enum pbtext_wire rc;

		if (k == 0)
			return PBTEXT_OK;
		off += k;
		f = tag >> 3 <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(desc, (unsigned)(tag >> 3)) : NULL;
		c->pc_unknown += f == NULL;
		if (++c->pc_fields > PBTEXT_MAX_FIELDS || c->pc_unknown > PBTEXT_MAX_UNKNOWN)
			return PBTEXT_TOO_MANY_FIELDS;
		switch (tag & 7) {
		case 0:
			if ((k = pbtext_varint(p + off, len - off, &l)) == 0)
				return PBTEXT_OK;
			off += k;
			continue;
		case 1:
		case 5:
			off += (tag & 7) == 1 ? 8 : 4;
			continue;
		case 2:
			break;
		default:
			return PBTEXT_OK; /* groups and junk: the decoder's to refuse */
		}
		if ((k = pbtext_varint(p + off, len - off, &l)) == 0 || l > len - off - k)
			return PBTEXT_OK;
		off += k;
		if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING &&
		    (!utf8_valid((const char *)p + off, l) || memchr(p + off, '\0', l) != NULL)) {
			pbtext_path_push(path, n, used, f->name);
			return PBTEXT_BAD_STRING;
		}
		if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE && depth < PBTEXT_MAX_DEPTH) {
			pbtext_path_push(path, n, used, f->name);
			if ((rc = pbtext_walk(f->descriptor, p + off, l, depth + 1, path, n, c)) != PBTEXT_OK)
				return rc;
			if (used < n)
				path[used] = '\0';
		}
		off += l;
	}
	return PBTEXT_OK;
}

enum pbtext_wire pbtext_check_wire(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len, char *path,
				   size_t n)
{
	struct pbtext_count c = {0, 0};

	if (n > 0)
		path[0] = '\0';
	return pbtext_walk(desc, data, len, 0, path, n, &c);
}

/* Calls fn on every string slot (char **) and every sub-message of m. */
static int pbtext_each(ProtobufCMessage *m, int depth, int (*fn)(char **s, void *arg), void *arg)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char *slot = (char *)m + f->offset;
		size_t count = 1;

		if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			uint32_t which = *(const uint32_t *)((const char *)m + f->quantifier_offset);
			if (which != f->id)
				continue;
		}
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			count = *(const size_t *)((const char *)m + f->quantifier_offset);
			slot = count > 0 ? *(char **)slot : NULL;
		}
		for (size_t k = 0; k < count && slot != NULL; k++) {
			void **item = (void **)slot + k;
			if (*item == NULL)
				continue;
			if (f->type == PROTOBUF_C_TYPE_STRING) {
				if (fn((char **)item, arg) != 0)
					return -1;
			} else if (depth < PBTEXT_MAX_DEPTH && pbtext_each(*item, depth + 1, fn, arg) != 0) {
				return -1;
			}
		}
	}
	return 0;
}

static int pbtext_is_bad(char **s, void *arg)
{
	(void)arg;
	return utf8_valid(*s, strlen(*s)) ? 0 : -1;
}

int pbtext_valid(const ProtobufCMessage *m)
{
	return pbtext_each((ProtobufCMessage *)m, 0, pbtext_is_bad, NULL) == 0;
}

static ProtobufCMessage *pbtext_copy(const ProtobufCMessage *m, struct arena *a, int depth);

/* Repairs one string or sub-message slot of a copy. */
static void pbtext_fix_slot(const ProtobufCFieldDescriptor *f, void **slot, struct arena *a, int depth)
{
	if (*slot == NULL)
		return;
	if (f->type == PROTOBUF_C_TYPE_STRING) {
		size_t n = strlen(*slot);
		if (!utf8_valid(*slot, n))
			*slot = utf8_repair(a, *slot, n, NULL);
	} else if (depth < PBTEXT_MAX_DEPTH && !pbtext_valid(*slot)) {
		*slot = pbtext_copy(*slot, a, depth + 1);
	}
}

/* A shallow copy of m from the arena in which every invalid string is
 * repaired and every sub-message holding one is copied the same way; valid
 * parts (and unknown fields) are shared with m. Made by walking the
 * descriptor rather than by pack and unpack: protobuf-c 1.4 unpacks some
 * bytes (a field number 0 spelled in two bytes) that it refuses once packed
 * again, and such a message must be repaired too. */
static ProtobufCMessage *pbtext_copy(const ProtobufCMessage *m, struct arena *a, int depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	ProtobufCMessage *copy = arena_alloc(a, d->sizeof_message);

	memcpy(copy, m, d->sizeof_message);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		void **slot = (void **)((char *)copy + f->offset);
		size_t count = 1;

		if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)((const char *)m + f->quantifier_offset) != f->id)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			count = *(const size_t *)((const char *)m + f->quantifier_offset);
			if (count == 0 || *slot == NULL)
				continue;
			void **items = arena_alloc(a, count * sizeof(*items));
			memcpy(items, *slot, count * sizeof(*items));
			*slot = items;
			slot = items;
		}
		for (size_t k = 0; k < count; k++)
			pbtext_fix_slot(f, &slot[k], a, depth);
	}
	return copy;
}

const ProtobufCMessage *pbtext_repair_copy(const ProtobufCMessage *m, struct arena *a)
{
	return pbtext_valid(m) ? m : pbtext_copy(m, a, 0);
}
