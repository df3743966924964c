/*
 * proto3 `string` fields hold UTF-8 text, and protobuf-c 1.4 checks neither
 * direction: it unpacks any bytes (cutting a string at its first NUL, which
 * is how "KEY\0junk" once passed as KEY) and packs any bytes (which Python's
 * and Go's decoders then refuse, whole message and all). These walk messages
 * by their descriptors so that one rule covers every field of every method:
 *
 *   in   pbtext_check_wire refuses a request whose strings are not valid
 *        UTF-8 or hold a NUL, or that would cost too much to decode, before
 *        it is unpacked;
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

/* What pbtext_check_wire found. */
enum pbtext_wire {
	PBTEXT_OK = 0,
	PBTEXT_BAD_STRING = -1, /* a string is not UTF-8 or holds a NUL; path names it */
	PBTEXT_TOO_MANY_FIELDS = -2, /* more than PBTEXT_MAX_FIELDS fields, or PBTEXT_MAX_UNKNOWN unknown ones */
};

/* protobuf-c allocates per field occurrence (an unknown 2-byte field costs
 * about 40 bytes decoded; an empty sub-message its whole struct), so the
 * count of fields, not the byte size, bounds what a request costs to
 * decode. No request of ours needs more than a few hundred. */
#define PBTEXT_MAX_FIELDS 65536
#define PBTEXT_MAX_UNKNOWN 256

/* Walks the wire bytes of a `desc` message, sub-messages included: every
 * string field (known to desc) must be valid UTF-8 without NUL bytes (else
 * PBTEXT_BAD_STRING with the field's dotted path, "task.title", in path of n
 * bytes), and the field counts must stay within the limits above. Bytes
 * that do not parse are left to the decoder: PBTEXT_OK here. */
enum pbtext_wire pbtext_check_wire(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len, char *path,
				   size_t n);

/* 1 when every string of m (sub-messages included) is valid UTF-8. */
int pbtext_valid(const ProtobufCMessage *m);

/* m itself when every string is valid; else a copy of m from the arena in
 * which each invalid string is repaired (common/utf8.h utf8_repair). m is
 * never written to (its strings may be literals, its parts shared). */
const ProtobufCMessage *pbtext_repair_copy(const ProtobufCMessage *m, struct arena *a);

#endif
