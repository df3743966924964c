/*
 * BeeBeeBrain C client library.
 *
 * A bbb_client holds one nng req socket dialled to a server's RPC URL. Every
 * RPC method has a typed function, generated from the protobuf-c service
 * descriptors into <beebeebrain/client_api.h>:
 *
 *     int bbb_<service>_<method>(bbb_client *c, const <Request> *req,
 *                                <Response> **resp, bbb_status *st);
 *
 * e.g. bbb_task_get_task(c, &req, &resp, &st). All of them go through
 * bbb_call(), which wraps the request in an RpcRequest envelope, sends it and
 * unpacks the RpcResponse.
 *
 * Return value: 0 on success (*resp set, free it with bbb_free()), -1 on
 * failure (*resp NULL). *st is filled either way: on success code 0 and the
 * trace id. A failure is either an answer of the server (st->code,
 * st->reason, st->message and st->violations: docs/protocol.md, Errors) or a local
 * one:
 *   UNAVAILABLE        SERVER_UNREACHABLE  no server at open; no connection to
 *                                          send on within the timeout (nothing
 *                                          was sent); or the connection dropped
 *                                          while waiting for the reply (the
 *                                          request is not sent again: no call
 *                                          runs twice by accident)
 *   DEADLINE_EXCEEDED  DEADLINE_EXCEEDED   sent, but no reply within the timeout
 *                                          (plus a short grace for the server's
 *                                          own DEADLINE_EXCEEDED answer)
 *   RESOURCE_EXHAUSTED MESSAGE_TOO_LARGE   the RpcRequest envelope would be over
 *                                          BBB_REQUEST_MAX_BYTES (nothing was
 *                                          sent: the server would close the
 *                                          connection without an answer)
 *   INVALID_ARGUMENT   MALFORMED_REQUEST   req is not of the method's input type
 *   UNIMPLEMENTED      UNKNOWN_METHOD      no such method in the service
 *   INTERNAL           MALFORMED_RESPONSE  the reply does not decode
 * Branch on st->code and st->reason, never on st->message.
 *
 * Thread safety: one bbb_client may be used by several threads at once; each
 * call uses its own nng context. Only bbb_client_close must not overlap any
 * other use of the client.
 */
#ifndef BEEBEEBRAIN_CLIENT_H
#define BEEBEEBRAIN_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include <beebeebrain/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/* True when the call failed because the server could not be reached. */
int bbb_status_unreachable(const bbb_status *st);

typedef struct bbb_client bbb_client;

struct bbb_client_options {
	const char *url; /* NULL: $BEEBEEBRAIN_RPC_URL, else tcp://127.0.0.1:7420 */
	const char *api_key; /* NULL: $BEEBEEBRAIN_API_KEY, else none */
	uint32_t timeout_ms; /* per call, client side and sent to the server; 0: 30000 */
};

/* Opens a client and dials the server once, synchronously. Returns NULL with
 * *st filled (SERVER_UNREACHABLE, the message naming the URL and the cause)
 * when the server cannot be reached or the URL is not valid. Once connected,
 * a lost connection is redialled in the background. opts may be NULL. */
bbb_client *bbb_client_open(const struct bbb_client_options *opts, bbb_status *st);
void bbb_client_close(bbb_client *c);
/* Changes the per-call timeout for later calls; 0 restores the default. */
void bbb_client_set_timeout(bbb_client *c, uint32_t timeout_ms);
/* Trace id sent with the next calls: at most 64 characters of
 * [A-Za-z0-9._:-] (the server refuses others with a violation on trace_id;
 * longer ones are cut here); NULL or "" lets the server make one. The id the server used comes back in st->trace_id. */
void bbb_client_set_trace_id(bbb_client *c, const char *trace_id);

/* The generic call under every typed function. `method` is the method's short
 * name within `service` ("GetTask"); `req` must be of the method's input type.
 * On success *resp is a message of the output type, freed with bbb_free(). */
int bbb_call(bbb_client *c, const ProtobufCServiceDescriptor *service, const char *method, const ProtobufCMessage *req,
	     ProtobufCMessage **resp, bbb_status *st);

/* Frees a response returned by any call (NULL is allowed). */
void bbb_free(void *resp);

#ifdef __cplusplus
}
#endif

#include <beebeebrain/client_api.h>

#endif
