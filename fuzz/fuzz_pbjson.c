/*
 * fuzz_pbjson: the proto3 JSON encoder (common/pbjson.h) on every message
 * type of the API.
 *
 * Input: byte 0 picks a message type among fuzz_messages() (every type
 * reachable from the services, plus Event and the envelopes), the rest is
 * unpacked as that type. The bytes also go through the common/pbtext.h checks
 * (fuzz_pbtext_check). Checks, for a message that unpacks: pbjson_dumps
 * answers (it may refuse only a message with a string that is not UTF-8);
 * compact and pretty output are valid UTF-8 and parse (jansson) to the same
 * object, which equals pbjson_encode's (every real printed exactly); the
 * decoder (pbjson_decode) reads the compact text back into a message that
 * prints the same text.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/pbjson.h"
#include "common/pbtext.h"
#include "common/utf8.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parses text that pbjson_dumps made: it must be UTF-8 JSON of an object. */
static json_t *fuzz_pbjson_parse(const char *what, const char *type, const char *text)
{
	json_error_t err;
	json_t *v;

	FUZZ_CHECK(utf8_valid(text, strlen(text)), "%s: %s output is not UTF-8", type, what);
	v = json_loads(text, 0, &err);
	FUZZ_CHECK(v != NULL, "%s: %s output does not parse: %s at %d: %s", type, what, err.text, err.position, text);
	FUZZ_CHECK(json_is_object(v), "%s: %s output is not an object", type, what);
	return v;
}

/* pbjson_decode takes what pbjson_dumps wrote, and the result prints the
 * same (unknown fields, which JSON drops, are the only loss). */
static void fuzz_pbjson_decodes_back(const ProtobufCMessageDescriptor *desc, const char *compact)
{
	ProtobufCMessage *back = NULL;
	bbb_status st = {0};
	char *again;

	FUZZ_CHECK(pbjson_decode(desc, compact, strlen(compact), NULL, &back, &st) == 0,
		   "%s: the decoder refuses the encoder's text: %s %s: %s", desc->name, st.reason, st.message, compact);
	again = pbjson_dumps(back, 0);
	FUZZ_CHECK(again != NULL && strcmp(again, compact) == 0, "%s: decoded text prints differently: %s -> %s",
		   desc->name, compact, again ? again : "(null)");
	free(again);
	protobuf_c_message_free_unpacked(back, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n_types;
	const ProtobufCMessageDescriptor *const *types = fuzz_messages(&n_types);
	const ProtobufCMessageDescriptor *desc;
	ProtobufCMessage *m;
	char *compact, *pretty;

	if (size < 1)
		return 0;
	desc = types[data[0] % n_types];
	m = fuzz_pbtext_check(desc, data + 1, size - 1);
	if (m == NULL)
		return 0;
	compact = pbjson_dumps(m, 0);
	pretty = pbjson_dumps(m, PBJSON_PRETTY);
	FUZZ_CHECK((compact == NULL) == (pretty == NULL), "%s: only one of compact and pretty failed", desc->name);
	FUZZ_CHECK(compact != NULL || !pbtext_valid(m), "%s: a valid message has no JSON", desc->name);
	if (compact != NULL) {
		json_t *a = fuzz_pbjson_parse("compact", desc->name, compact);
		json_t *b = fuzz_pbjson_parse("pretty", desc->name, pretty);
		json_t *enc = pbjson_encode(m);

		FUZZ_CHECK(json_equal(a, b), "%s: compact and pretty output differ: %s", desc->name, compact);
		FUZZ_CHECK(enc != NULL && json_equal(a, enc), "%s: the text does not read back as encoded: %s",
			   desc->name, compact);
		fuzz_pbjson_decodes_back(desc, compact);
		json_decref(enc);
		json_decref(b);
		json_decref(a);
	}
	free(pretty);
	free(compact);
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}
