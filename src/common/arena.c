/* Arena allocator: blocks of at least 16 KiB, bump allocation, freed at once. */
#include "common/arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

#define ARENA_BLOCK_MIN (16 * 1024)

/* Under AddressSanitizer the part of a block not handed out is poisoned: a
 * read past an allocation, or through a pointer kept across arena_recycle,
 * is reported instead of reading what the next call left there. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define ARENA_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define ARENA_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define ARENA_POISON(p, n) ((void)(p), (void)(n))
#define ARENA_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

struct arena_block {
	struct arena_block *b_next;
	size_t b_size;
	size_t b_used;
	max_align_t b_data[];
};

static void *arena_pb_alloc(void *data, size_t size)
{
	return arena_alloc(data, size);
}

static void arena_pb_free(void *data, void *ptr)
{
	(void)data;
	(void)ptr;
}

void arena_init(struct arena *a)
{
	a->a_head = NULL;
	a->a_pb.alloc = arena_pb_alloc;
	a->a_pb.free = arena_pb_free;
	a->a_pb.allocator_data = a;
}

void arena_reset(struct arena *a)
{
	struct arena_block *b = a->a_head;

	while (b != NULL) {
		struct arena_block *next = b->b_next;
		ARENA_UNPOISON(b->b_data, b->b_size);
		free(b);
		b = next;
	}
	a->a_head = NULL;
}

void arena_recycle(struct arena *a)
{
	struct arena_block *keep = NULL, *b = a->a_head;

	while (b != NULL) {
		struct arena_block *next = b->b_next;
		if (keep == NULL && b->b_size == ARENA_BLOCK_MIN) {
			keep = b;
		} else {
			ARENA_UNPOISON(b->b_data, b->b_size);
			free(b);
		}
		b = next;
	}
	if (keep != NULL) {
		keep->b_used = 0;
		keep->b_next = NULL;
		ARENA_POISON(keep->b_data, keep->b_size);
	}
	a->a_head = keep;
}

void *arena_alloc(struct arena *a, size_t size)
{
	const size_t align = _Alignof(max_align_t);
	struct arena_block *b = a->a_head;
	void *p;

	size = (size + align - 1) & ~(align - 1);
	if (size == 0)
		size = align;
	if (b == NULL || b->b_size - b->b_used < size) {
		size_t cap = size > ARENA_BLOCK_MIN ? size : ARENA_BLOCK_MIN;
		b = xmalloc(sizeof(*b) + cap);
		b->b_size = cap;
		b->b_used = 0;
		b->b_next = a->a_head;
		a->a_head = b;
		ARENA_POISON(b->b_data, cap);
	}
	p = (char *)b->b_data + b->b_used;
	b->b_used += size;
	ARENA_UNPOISON(p, size);
	memset(p, 0, size);
	return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *p;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	p = arena_alloc(a, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

ProtobufCMessage *arena_message(struct arena *a, const ProtobufCMessageDescriptor *desc)
{
	ProtobufCMessage *m = arena_alloc(a, desc->sizeof_message);

	protobuf_c_message_init(desc, m);
	return m;
}
