/*
 * proto3 `string` fields hold UTF-8 text, and protobuf-c 1.4 checks neither
 * direction: it unpacks any bytes (cutting a string at its first NUL, which
 * is how "KEY\0junk" once passed as KEY) and packs any bytes (which Python's
 * and Go's decoders then refuse, whole message and all). These walk messages
 * by their descriptors so that one rule covers every field of every method:
 *
 *   in   pbtext_check_wire refuses a request whose strings are not valid
 *        UTF-8 or hold a NUL, before it is unpacked;
 *   out  pbtext_repair_copy makes sure a reply or an event carries valid
 *        UTF-8 (each bad byte becomes U+FFFD), whatever the server put in it
 *        (text cut at a byte limit, bytes read from a file or an LLM).
 */
#ifndef BBB_PBTEXT_H
#define BBB_PBTEXT_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

struct arena;

/* Walks the wire bytes of a `desc` message, sub-messages included. 0 when
 * every string field (known to desc) is valid UTF-8 without NUL bytes; -1
 * with the field's dotted path ("task.title") in path (n bytes) otherwise.
 * Bytes that do not parse are left to the decoder: they return 0 here. */
int pbtext_check_wire(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len, char *path, size_t n);

/* 1 when every string of m (sub-messages included) is valid UTF-8. */
int pbtext_valid(const ProtobufCMessage *m);

/* m itself when every string is valid; else a copy of m from the arena in
 * which each invalid string is repaired (common/utf8.h utf8_repair). m is
 * never written to (its strings may be literals, its parts shared). */
const ProtobufCMessage *pbtext_repair_copy(const ProtobufCMessage *m, struct arena *a);

#endif
