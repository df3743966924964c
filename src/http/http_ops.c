/* /healthz and /readyz bodies from HealthService replies (see http_ops.h). */
#include "http/http_ops.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "beebeebrain/v1/health.pb-c.h"
#include "common/xalloc.h"

static char *http_ops_dump(json_t *o, size_t *len)
{
	char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);

	json_decref(o);
	if (text == NULL)
		text = xstrdup("{\"status\":\"error\"}");
	*len = strlen(text);
	return text;
}

static json_t *http_ops_check(const Beebeebrain__V1__CheckResponse *c)
{
	return json_pack("{s:s?, s:s?, s:s?, s:s?, s:I}", "status", c->status, "service", c->service, "env", c->env,
			 "version", c->version, "uptime_ms", (json_int_t)c->uptime_ms);
}

/* The original answered {"status":"ready","checks":{"configuration":"ok"}}:
 * the configuration was checked before the server started, so it is "ok"
 * here too; every check of Ready follows, "ok" or "failed: <detail>". */
static json_t *http_ops_ready(const Beebeebrain__V1__ReadyResponse *r, int *status)
{
	json_t *checks = json_object();

	json_object_set_new(checks, "configuration", json_string("ok"));
	for (size_t i = 0; i < r->n_checks; i++) {
		const Beebeebrain__V1__ReadyCheck *c = r->checks[i];
		char *v = c->ok ? xstrdup("ok") : xasprintf("failed: %s", c->detail != NULL ? c->detail : "");
		json_t *s = json_string(v);

		json_object_set_new(checks, c->name != NULL ? c->name : "?", s != NULL ? s : json_string("failed"));
		free(v);
	}
	*status = r->ready ? 200 : 503;
	return json_pack("{s:s, s:o}", "status", r->ready ? "ready" : "not_ready", "checks", checks);
}

char *http_ops_body(const Beebeebrain__V1__RpcResponse *resp, int ready, int *status, size_t *len)
{
	const ProtobufCMessageDescriptor *desc =
		ready ? &beebeebrain__v1__ready_response__descriptor : &beebeebrain__v1__check_response__descriptor;
	ProtobufCMessage *m = NULL;
	json_t *o = NULL;

	if (resp->code == 0)
		m = protobuf_c_message_unpack(desc, NULL, resp->payload.len, resp->payload.data);
	if (m == NULL) {
		*status = 503;
		return http_ops_dump(json_pack("{s:s, s:s?, s:s?}", "status", "error", "reason", resp->reason,
					       "message", resp->message),
				     len);
	}
	*status = 200;
	o = ready ? http_ops_ready((const Beebeebrain__V1__ReadyResponse *)m, status)
		  : http_ops_check((const Beebeebrain__V1__CheckResponse *)m);
	protobuf_c_message_free_unpacked(m, NULL);
	return http_ops_dump(o, len);
}
