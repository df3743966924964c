/*
 * A bump allocator for one RPC call: the unpacked request, the response and
 * every string a handler makes live in one arena and go away together when the
 * call ends. Nothing allocated from an arena is freed on its own.
 */
#ifndef BBB_ARENA_H
#define BBB_ARENA_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

struct arena_block;

struct arena {
	struct arena_block *a_head;
	ProtobufCAllocator a_pb; /* protobuf-c allocator drawing from this arena */
};

void arena_init(struct arena *a);
/* Frees every block; the arena can be used again. */
void arena_reset(struct arena *a);
/* Frees every block but one of the minimum size, which is kept empty for
 * the next allocations: an arena used call after call (one per thread)
 * then costs no malloc per call. What was allocated is gone as with
 * arena_reset; arena_reset frees the kept block too. */
void arena_recycle(struct arena *a);
/* Zeroed memory, aligned for any type. Aborts when out of memory. */
void *arena_alloc(struct arena *a, size_t size);
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A message of type `desc`, initialised with its defaults. */
ProtobufCMessage *arena_message(struct arena *a, const ProtobufCMessageDescriptor *desc);

#endif
