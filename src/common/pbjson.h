/*
 * Proto3 JSON for any protobuf-c message, driven by its descriptor and built
 * on jansson. The mapping is Google's, as json_format.MessageToJson(m,
 * preserving_proto_field_name=True) prints it:
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

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

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

#endif
