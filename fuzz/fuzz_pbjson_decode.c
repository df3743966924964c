/*
 * fuzz_pbjson_decode: the proto3 JSON decoder (common/pbjson.h,
 * pbjson_decode) on every message type of the API.
 *
 * Input: byte 0 picks a message type among fuzz_messages(), the rest is the
 * JSON text. Checks: a refusal leaves no message and a status whose reason is
 * one of the decoder's three (with its code; VALIDATION_ERROR with one
 * violation naming a field); an accepted text is JSON (jansson parses it,
 * duplicate keys refused) and decodes the same into an arena; the message
 * holds only valid UTF-8, packs, and survives encode -> decode -> pack
 * unchanged. Leaks of either allocator show up through ASan.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/arena.h"
#include "common/pbjson.h"
#include "common/pbtext.h"
#include "common/status.h"
#include "common/utf8.h"
#include "common/xalloc.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *fuzz_pack(const ProtobufCMessage *m, size_t *len)
{
	uint8_t *buf;

	*len = protobuf_c_message_get_packed_size(m);
	buf = xmalloc(*len + 1);
	FUZZ_CHECK(protobuf_c_message_pack(m, buf) == *len, "%s: packed size differs", m->descriptor->name);
	return buf;
}

static void fuzz_check_refusal(const char *type, const ProtobufCMessage *m, const bbb_status *st)
{
	FUZZ_CHECK(m == NULL, "%s: a refusal left a message", type);
	FUZZ_CHECK(strcmp(st->reason, "MALFORMED_REQUEST") == 0 || strcmp(st->reason, "VALIDATION_ERROR") == 0 ||
			   strcmp(st->reason, "MESSAGE_TOO_LARGE") == 0,
		   "%s: unexpected reason %s", type, st->reason);
	FUZZ_CHECK(st->code == status_code_of_reason(st->reason), "%s: code %d for %s", type, st->code, st->reason);
	FUZZ_CHECK(utf8_valid(st->message, strlen(st->message)), "%s: message is not UTF-8", type);
	if (strcmp(st->reason, "VALIDATION_ERROR") == 0)
		FUZZ_CHECK(st->n_violations == 1 && st->violations[0].field[0] != '\0' &&
				   utf8_valid(st->violations[0].field, strlen(st->violations[0].field)),
			   "%s: a validation error without its one named field", type);
}

/* m packs to want (want_len bytes). */
static void fuzz_check_packs_to(const ProtobufCMessage *m, const uint8_t *want, size_t want_len, const char *what)
{
	size_t len;
	uint8_t *got = fuzz_pack(m, &len);

	FUZZ_CHECK(len == want_len && memcmp(got, want, len) == 0, "%s: %s packs differently", m->descriptor->name,
		   what);
	free(got);
}

static void fuzz_check_accepted(const char *text, size_t len, ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *desc = m->descriptor;
	ProtobufCMessage *again = NULL;
	bbb_status st = {0};
	json_error_t jerr;
	struct arena a;
	size_t packed_len;
	uint8_t *packed;
	json_t *j;
	char *json;

	j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	FUZZ_CHECK(j != NULL && json_is_object(j), "%s: accepted text that is not a JSON object: %s", desc->name,
		   jerr.text);
	json_decref(j);
	FUZZ_CHECK(pbtext_valid(m), "%s: decoded text is not UTF-8", desc->name);
	packed = fuzz_pack(m, &packed_len);

	arena_init(&a);
	FUZZ_CHECK(pbjson_decode(desc, text, len, &a.a_pb, &again, &st) == 0, "%s: the arena refused it", desc->name);
	fuzz_check_packs_to(again, packed, packed_len, "the arena's copy");
	arena_reset(&a);

	json = pbjson_dumps(m, 0);
	FUZZ_CHECK(json != NULL, "%s: the decoded message does not encode", desc->name);
	FUZZ_CHECK(pbjson_decode(desc, json, strlen(json), NULL, &again, &st) == 0, "%s: own output refused: %s: %s",
		   desc->name, st.message, json);
	fuzz_check_packs_to(again, packed, packed_len, "encode -> decode");
	protobuf_c_message_free_unpacked(again, NULL);
	free(json);
	free(packed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n_types;
	const ProtobufCMessageDescriptor *const *types = fuzz_messages(&n_types);
	const ProtobufCMessageDescriptor *desc;
	ProtobufCMessage *m = NULL;
	bbb_status st = {0};
	const char *text;

	if (size < 1)
		return 0;
	desc = types[data[0] % n_types];
	text = (const char *)data + 1;
	if (pbjson_decode(desc, text, size - 1, NULL, &m, &st) != 0) {
		fuzz_check_refusal(desc->name, m, &st);
		return 0;
	}
	FUZZ_CHECK(m != NULL && m->descriptor == desc, "%s: success without the message", desc->name);
	fuzz_check_accepted(text, size - 1, m);
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}
