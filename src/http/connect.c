/* Connect unary calls: codecs, timeouts, error codes and bodies (see connect.h). */
#include "http/connect.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <beebeebrain/status.h>

#include "common/pbjson.h"
#include "common/xalloc.h"

/* A media type equal to `want`, ignoring case and any ";parameters" after it. */
static int connect_media_is(const char *ct, const char *want)
{
	size_t n = strlen(want);

	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, want, n) != 0)
		return 0;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

enum connect_codec connect_codec_of(const char *content_type)
{
	if (content_type == NULL)
		return CONNECT_CODEC_UNKNOWN;
	if (connect_media_is(content_type, "application/proto"))
		return CONNECT_CODEC_PROTO;
	if (connect_media_is(content_type, "application/json"))
		return CONNECT_CODEC_JSON;
	return CONNECT_CODEC_UNKNOWN;
}

enum connect_codec connect_stream_codec_of(const char *content_type)
{
	if (content_type == NULL)
		return CONNECT_CODEC_UNKNOWN;
	if (connect_media_is(content_type, "application/connect+proto"))
		return CONNECT_CODEC_PROTO;
	if (connect_media_is(content_type, "application/connect+json"))
		return CONNECT_CODEC_JSON;
	return CONNECT_CODEC_UNKNOWN;
}

void connect_envelope_header(uint8_t out[CONNECT_ENVELOPE_HEADER], uint8_t flags, uint32_t len)
{
	out[0] = flags;
	out[1] = (uint8_t)(len >> 24);
	out[2] = (uint8_t)(len >> 16);
	out[3] = (uint8_t)(len >> 8);
	out[4] = (uint8_t)len;
}

int connect_unenvelope(const uint8_t *body, size_t len, const uint8_t **msg, size_t *msg_len)
{
	size_t n;

	if (len < CONNECT_ENVELOPE_HEADER || (body[0] & ~CONNECT_FLAG_END_STREAM) != 0 || body[0] != 0)
		return -1;
	n = ((size_t)body[1] << 24) | ((size_t)body[2] << 16) | ((size_t)body[3] << 8) | body[4];
	if (n != len - CONNECT_ENVELOPE_HEADER)
		return -1;
	*msg = body + CONNECT_ENVELOPE_HEADER;
	*msg_len = n;
	return 0;
}

char *connect_end_stream_json(const Beebeebrain__V1__RpcResponse *err, size_t *len)
{
	char *e, *text;
	size_t n;

	if (err == NULL) {
		*len = 2;
		return xstrdup("{}");
	}
	e = connect_error_json(err, &n);
	text = xasprintf("{\"error\":%s}", e);
	free(e);
	*len = strlen(text);
	return text;
}

int connect_parse_timeout(const char *value, uint32_t *ms)
{
	uint64_t n = 0;
	size_t len;

	if (value == NULL || (len = strlen(value)) == 0 || len > 10)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (value[i] < '0' || value[i] > '9')
			return -1;
		n = n * 10 + (uint64_t)(value[i] - '0');
	}
	if (n == 0)
		return -1;
	*ms = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	return 0;
}

const char *connect_code_name(int code)
{
	switch (code) {
	case BBB_CANCELLED:
		return "canceled";
	case BBB_INVALID_ARGUMENT:
		return "invalid_argument";
	case BBB_DEADLINE_EXCEEDED:
		return "deadline_exceeded";
	case BBB_NOT_FOUND:
		return "not_found";
	case BBB_ALREADY_EXISTS:
		return "already_exists";
	case BBB_PERMISSION_DENIED:
		return "permission_denied";
	case BBB_RESOURCE_EXHAUSTED:
		return "resource_exhausted";
	case BBB_FAILED_PRECONDITION:
		return "failed_precondition";
	case BBB_ABORTED:
		return "aborted";
	case BBB_OUT_OF_RANGE:
		return "out_of_range";
	case BBB_UNIMPLEMENTED:
		return "unimplemented";
	case BBB_INTERNAL:
		return "internal";
	case BBB_UNAVAILABLE:
		return "unavailable";
	case 15:
		return "data_loss";
	case BBB_UNAUTHENTICATED:
		return "unauthenticated";
	default:
		return "unknown";
	}
}

int connect_http_status(int code, const char *reason)
{
	if (reason != NULL && strcmp(reason, "UNKNOWN_METHOD") == 0)
		return 404;
	if (reason != NULL && strcmp(reason, "MESSAGE_TOO_LARGE") == 0)
		return 413;
	switch (code) {
	case BBB_OK:
		return 200;
	case BBB_CANCELLED:
		return 499;
	case BBB_INVALID_ARGUMENT:
	case BBB_FAILED_PRECONDITION:
	case BBB_OUT_OF_RANGE:
		return 400;
	case BBB_DEADLINE_EXCEEDED:
		return 504;
	case BBB_NOT_FOUND:
		return 404;
	case BBB_ALREADY_EXISTS:
	case BBB_ABORTED:
		return 409;
	case BBB_PERMISSION_DENIED:
		return 403;
	case BBB_RESOURCE_EXHAUSTED:
		return 429;
	case BBB_UNIMPLEMENTED:
		return 501;
	case BBB_UNAVAILABLE:
		return 503;
	case BBB_UNAUTHENTICATED:
		return 401;
	default:
		return 500;
	}
}

char *connect_base64(const uint8_t *data, size_t len)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = xmalloc(len / 3 * 4 + 4 + 1);
	size_t o = 0, i = 0;

	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
		out[o++] = abc[v >> 18 & 63];
		out[o++] = abc[v >> 12 & 63];
		out[o++] = abc[v >> 6 & 63];
		out[o++] = abc[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)data[i] << 16;
		out[o++] = abc[v >> 18 & 63];
		out[o++] = abc[v >> 12 & 63];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8;
		out[o++] = abc[v >> 18 & 63];
		out[o++] = abc[v >> 12 & 63];
		out[o++] = abc[v >> 6 & 63];
	}
	out[o] = '\0';
	return out;
}

char *connect_error_json(const Beebeebrain__V1__RpcResponse *resp, size_t *len)
{
	Beebeebrain__V1__RpcResponse detail = *resp;
	json_t *o = json_object(), *d = json_object(), *debug;
	uint8_t *packed;
	size_t n;
	char *b64, *text;

	/* The detail is the envelope an nng client would get, without payload. */
	detail.payload.data = NULL;
	detail.payload.len = 0;
	n = protobuf_c_message_get_packed_size(&detail.base);
	packed = xmalloc(n + 1);
	protobuf_c_message_pack(&detail.base, packed);
	b64 = connect_base64(packed, n);
	free(packed);

	json_object_set_new(o, "code", json_string(connect_code_name(resp->code)));
	if (resp->message != NULL && resp->message[0] != '\0')
		json_object_set_new(o, "message", json_string(resp->message));
	json_object_set_new(d, "type", json_string("beebeebrain.v1.RpcResponse"));
	json_object_set_new(d, "value", json_string(b64));
	free(b64);
	/* Strings the dispatcher packed are UTF-8 already (pbtext_repair_copy);
	 * a detail that does not encode is left without its debug form. */
	if ((debug = pbjson_encode(&detail.base)) != NULL)
		json_object_set_new(d, "debug", debug);
	json_object_set_new(o, "details", json_pack("[o]", d));
	text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (text == NULL) {
		/* Only a message that is not UTF-8 gets here: say the code alone. */
		text = xasprintf("{\"code\":\"%s\"}", connect_code_name(resp->code));
	}
	*len = strlen(text);
	return text;
}

const char *connect_api_key(const char *authorization, const char *x_api_key)
{
	if (authorization != NULL) {
		while (*authorization == ' ')
			authorization++;
		if (strncasecmp(authorization, "Bearer ", 7) == 0) {
			authorization += 7;
			while (*authorization == ' ')
				authorization++;
			return authorization;
		}
	}
	return x_api_key != NULL ? x_api_key : "";
}
