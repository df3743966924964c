/*
 * The Connect protocol's unary calls and server streams
 * (connectrpc.com/docs/protocol), the parts that need no connection: the
 * envelopes of a stream and its end-of-stream message, which codec a Content-Type names, the
 * Connect-Timeout-Ms header, the code names and HTTP statuses of errors, the
 * error body, and the API key a request shows. Pure functions over strings
 * and messages, unit-tested in tests/unit/test_connect.c; http_server.c does
 * the I/O.
 *
 * An error body carries our RpcResponse as its one detail: the same code,
 * reason, message, violations and trace id an nng client gets
 * (docs/protocol.md, "Connect unary calls").
 */
#ifndef BBB_HTTP_CONNECT_H
#define BBB_HTTP_CONNECT_H

#include <stddef.h>
#include <stdint.h>

#include "beebeebrain/v1/rpc.pb-c.h"

enum connect_codec {
	CONNECT_CODEC_UNKNOWN = 0, /* absent or another media type: 415 */
	CONNECT_CODEC_PROTO, /* application/proto */
	CONNECT_CODEC_JSON, /* application/json, with or without a charset=utf-8 parameter */
};

/* The codec of a Content-Type header value (NULL: absent). */
enum connect_codec connect_codec_of(const char *content_type);
/* The codec of a streaming call's Content-Type: application/connect+proto or
 * application/connect+json. */
enum connect_codec connect_stream_codec_of(const char *content_type);

/* Envelope flags of a stream message. */
#define CONNECT_FLAG_COMPRESSED 0x01
#define CONNECT_FLAG_END_STREAM 0x02
#define CONNECT_ENVELOPE_HEADER 5
/* Writes the 5-byte envelope header (flags, big-endian length) to out. */
void connect_envelope_header(uint8_t out[CONNECT_ENVELOPE_HEADER], uint8_t flags, uint32_t len);
/* A request body of exactly one uncompressed message envelope: 0 with the
 * message in *msg (points into body) and *msg_len; -1 otherwise (several,
 * none, a truncated one, or the compressed flag). */
int connect_unenvelope(const uint8_t *body, size_t len, const uint8_t **msg, size_t *msg_len);
/* The end-of-stream message's JSON: "{}" when err is NULL, else
 * {"error":<connect_error_json of err>}. malloc'd; its length in *len. */
char *connect_end_stream_json(const Beebeebrain__V1__RpcResponse *err, size_t *len);

/* Connect-Timeout-Ms: 1 to 10 ASCII digits, more than 0. 0 and *ms (clamped
 * to UINT32_MAX, the envelope's field) when valid; -1 otherwise. */
int connect_parse_timeout(const char *value, uint32_t *ms);

/* Connect's lower-case name of a gRPC code number ("invalid_argument");
 * "unknown" for a number Connect does not define. */
const char *connect_code_name(int code);

/* The HTTP status of an error, by Connect's table, except: UNKNOWN_METHOD is
 * 404 (a path that names no method, as Connect routers answer; clients read
 * it as unimplemented) and MESSAGE_TOO_LARGE is 413. */
int connect_http_status(int code, const char *reason);

/* The Connect error JSON of a failed call:
 *   {"code":"not_found","message":"...","details":[{"type":"beebeebrain.v1.RpcResponse",
 *    "value":"<unpadded base64 of the packed RpcResponse, payload left out>","debug":{...}}]}
 * malloc'd (the caller frees it), its length in *len. */
char *connect_error_json(const Beebeebrain__V1__RpcResponse *resp, size_t *len);

/* Standard base64 without padding, as Connect sends binary values.
 * malloc'd and NUL-terminated. */
char *connect_base64(const uint8_t *data, size_t len);

/* The API key of a request: the token of `Authorization: Bearer TOKEN`
 * (scheme case-insensitive) when that header is given, else X-API-Key.
 * Points into the arguments; "" when neither names one. */
const char *connect_api_key(const char *authorization, const char *x_api_key);

#endif
