/*
 * Enum values <-> the short lower-case text the database, the CLI and the
 * logs use: TASK_STATUS_TODO <-> "todo", RUN_STATUS_RETRY_SCHEDULED <->
 * "retry_scheduled". Works for any protobuf-c enum; the prefix to drop is the
 * name of the value 0 without its "UNSPECIFIED" ("TASK_STATUS_"), or, for an
 * enum not built that way, the longest common prefix of all names that ends at
 * a '_'.
 */
#ifndef BBB_ENUM_TEXT_H
#define BBB_ENUM_TEXT_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

/* Writes the short text of `value` into buf (n bytes, NUL included) and
 * returns buf; value 0 gives "unspecified". NULL when the enum has no such
 * value or the text does not fit. */
const char *enum_text(const ProtobufCEnumDescriptor *d, int value, char *buf, size_t n);

/* Parses the short text in any case ("todo", "TODO") or the full value name
 * ("TASK_STATUS_TODO"). Returns 0 and sets *value, or -1 (leaving *value
 * alone) for anything else, including the UNSPECIFIED value 0. */
int enum_from_text(const ProtobufCEnumDescriptor *d, const char *text, int *value);

/* Writes the short texts of all values but 0, in number order and joined by
 * '|' ("todo|running|review|..."), into buf (n bytes, NUL included) for usage
 * and error messages. Returns buf, or NULL when the list does not fit. */
char *enum_choices(const ProtobufCEnumDescriptor *d, char *buf, size_t n);

#endif
