/*
 * fuzz_envelope: the envelope's way in and out, on arbitrary bytes.
 *
 * The dispatcher runs pbtext_check_wire over a request's RpcRequest bytes
 * before beebeebrain__v1__rpc_request__unpack, and makes every reply safe
 * with pbtext_repair_copy; clients unpack RpcResponse. The input is taken as
 * both. Checks: no crash or sanitizer report anywhere; the promises of
 * common/pbtext.h (fuzz_pbtext_check: bytes that pass the wire check unpack
 * to valid UTF-8, a repaired copy is valid, repacks and passes the check);
 * and the generated RpcRequest unpacker agrees with the generic one.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "beebeebrain/v1/rpc.pb-c.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ProtobufCMessage *m = fuzz_pbtext_check(&beebeebrain__v1__rpc_request__descriptor, data, size);
	Beebeebrain__V1__RpcRequest *req = beebeebrain__v1__rpc_request__unpack(NULL, size, data);

	FUZZ_CHECK((m != NULL) == (req != NULL), "the generated and the generic unpacker disagree");
	if (req != NULL) {
		/* What the dispatcher reads right after unpacking. */
		FUZZ_CHECK(req->method != NULL && req->api_key != NULL && req->trace_id != NULL &&
				   req->request_id != NULL,
			   "an unpacked envelope has a NULL string");
		FUZZ_CHECK(req->payload.len == 0 || req->payload.data != NULL, "payload of %zu bytes at NULL",
			   req->payload.len);
		beebeebrain__v1__rpc_request__free_unpacked(req, NULL);
	}
	if (m != NULL)
		protobuf_c_message_free_unpacked(m, NULL);

	m = fuzz_pbtext_check(&beebeebrain__v1__rpc_response__descriptor, data, size);
	if (m != NULL)
		protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}
