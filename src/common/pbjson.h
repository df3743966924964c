/*
 * Proto3 JSON for any protobuf-c message, driven by its descriptor: the
 * encoder (pbjson.c, built on jansson) and the decoder (pbjson_decode.c, a
 * parser of its own). The encoder's mapping is Google's, as
 * json_format.MessageToJson(m, preserving_proto_field_name=True) prints it:
 *
 *   key           the field name as written in the .proto (snake_case),
 *                 objects keep field-number order
 *   64-bit ints   strings ("12"); 32-bit ints are numbers
 *   float/double  numbers; NaN, Infinity, -Infinity as strings
 *   bytes         standard base64 with padding
 *   enum          the value's name ("TASK_STATUS_TODO"); a number the enum
 *                 does not know stays a number
 *   message       object; a NULL pointer is left out
 *   repeated      array; an empty one is left out
 *
 * Proto3 fields (no presence) holding their default value are left out; a
 * oneof member is written exactly when it is the set case, default or not;
 * proto2 optional fields are written when present (has_* or a non-NULL,
 * non-default pointer).
 *
 * Not handled, because no BeeBeeBrain schema uses them: map fields (they come
 * out as arrays of {"key", "value"} objects) and the well-known types with a
 * special JSON form (Timestamp, Duration, Any, wrappers, Struct).
 */
#ifndef BBB_PBJSON_H
#define BBB_PBJSON_H

#include <stddef.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "common/status.h"

/* pbjson_dumps flag: indent by 2 spaces, one member per line. */
#define PBJSON_PRETTY 0x1

/* The message as a JSON object; a new reference the caller json_decref()s.
 * NULL when memory runs out or a string field is not valid UTF-8. */
json_t *pbjson_encode(const ProtobufCMessage *m);

/* The message as JSON text: compact ({"id":"1","title":"x"}) or, with
 * PBJSON_PRETTY, indented as MessageToJson prints it. No trailing newline;
 * non-ASCII text stays UTF-8 (MessageToJson's ensure_ascii=False); reals in
 * exponent form are spelled as jansson does ("1e16", not "1e+16").
 * A malloc'd string the caller free()s; NULL as for pbjson_encode. */
char *pbjson_dumps(const ProtobufCMessage *m, int flags);

/*
 * The decoder reads what the encoder writes and what the proto3 JSON mapping
 * (protobuf.dev, "JSON Mapping") lets other clients write:
 *
 *   key           the .proto name ("due_at_ms") or its lowerCamelCase JSON
 *                 name ("dueAtMs"); a field given twice, under either name,
 *                 is refused, as is a key no field has
 *   64-bit ints   strings or numbers, exact: digits are never read through a
 *                 double, so "9007199254740993" stays 2^53+1
 *   32-bit ints   numbers or strings; for every integer a number may have a
 *                 fraction or exponent when its value is whole ("1e3", "2.0"),
 *                 a string holds the same JSON number syntax (no spaces),
 *                 and the value must fit the field's type
 *   float/double  numbers, strings holding one, "NaN", "Infinity",
 *                 "-Infinity"; a finite number too large for the type
 *                 ("1e400") is refused
 *   bool          true, false
 *   string        valid UTF-8 without NUL (also not as "\u0000")
 *   bytes         base64, standard or URL-safe alphabet, padded or not
 *   enum          the value's name, or a number (int32)
 *   message       an object
 *   repeated      an array (null is not an element)
 *   null          any field: its default (no element, no member of a oneof)
 *
 * A oneof with two members set is refused. Not handled, as in the encoder:
 * maps and the well-known types with a JSON form of their own.
 */

/* Objects and arrays nest at most this deep (the request's object is 1). */
#define PBJSON_MAX_DEPTH 32

/* Parses json[0, len) (not NUL-terminated; at most BBB_REQUEST_MAX_BYTES) as
 * a `desc` message. On success *out is the new message and 0 is returned.
 *
 * Memory: the message and every part of it come from alloc: NULL means
 * malloc's (through xmalloc), to be freed with
 * protobuf_c_message_free_unpacked(*out, NULL); an arena's &a->a_pb puts it
 * all in the arena (arena_reset frees it). An allocator must not return NULL
 * (the process aborts if it does, as xmalloc would). On failure *out is NULL
 * and nothing is left allocated outside an arena.
 *
 * On failure -1, and st holds one of:
 *   MESSAGE_TOO_LARGE  len is over BBB_REQUEST_MAX_BYTES;
 *   MALFORMED_REQUEST  the text is not JSON, the top is not an object, or it
 *                      holds more than PBTEXT_MAX_FIELDS fields and elements
 *                      (as for a packed request); the message says where;
 *   VALIDATION_ERROR   JSON that is no `desc` message: one violation whose
 *                      field is the path ("task.title", "task_ids[2]") and
 *                      whose description says why (unknown field, a
 *                      duplicate, wrong type, out of range, not UTF-8 ...,
 *                      deeper than PBJSON_MAX_DEPTH). */
int pbjson_decode(const ProtobufCMessageDescriptor *desc, const char *json, size_t len, ProtobufCAllocator *alloc,
		  ProtobufCMessage **out, bbb_status *st);

/* Bytes per element of a repeated field of this type, as protobuf-c lays
 * its array out (for the encoder and the decoder). */
size_t pbjson_element_size(ProtobufCType type);

#endif
