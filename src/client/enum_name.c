/*
 * Enum names of the public API (bbb_enum_name, bbb_enum_from_name in
 * <beebeebrain/client.h>): the short texts of common/enum_text.h, which the
 * CLI and the database use too, so a client and the CLI spell them alike.
 */
#include <beebeebrain/client.h>

#include "common/enum_text.h"

const char *bbb_enum_name(const ProtobufCEnumDescriptor *d, int value, char *buf, size_t n)
{
	if (d == NULL || buf == NULL || n == 0)
		return NULL;
	return enum_text(d, value, buf, n);
}

int bbb_enum_from_name(const ProtobufCEnumDescriptor *d, const char *name, int *value)
{
	if (d == NULL || name == NULL || value == NULL)
		return -1;
	return enum_from_text(d, name, value);
}
