/* rpc_dispatch: envelope in, envelope out, over a test table bound to real descriptors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "beebeebrain/v1/health.pb-c.h"
#include "beebeebrain/v1/project.pb-c.h"
#include "beebeebrain/v1/rpc.pb-c.h"
#include "common/status.h"
#include "rpc/dispatch.h"

static int create_calls;

static int fake_check(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	Beebeebrain__V1__CheckResponse *r = (void *)out;

	(void)in;
	(void)st;
	r->status = "ok";
	r->env = arena_strdup(call->c_arena, call->c_trace_id);
	return 0;
}

static int fake_create(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__CreateProjectRequest *req = (const void *)in;
	Beebeebrain__V1__CreateProjectResponse *r = (void *)out;

	create_calls++;
	if (strcmp(req->name, "forbidden") == 0)
		return status_fail(st, "FORBIDDEN", "not for you");
	if (req->name[0] == '\0')
		status_violation(st, "name", "is required");
	if (req->root_path[0] == '\0')
		status_violation(st, "root_path", "is required");
	if (st->code != BBB_OK)
		return -1;
	r->project = (void *)arena_message(call->c_arena, &beebeebrain__v1__project__descriptor);
	r->project->id = create_calls;
	r->project->name = req->name;
	return 0;
}

static const struct rpc_method health_methods[] = {{"Check", fake_check, RPC_READ}};
static const struct rpc_service health = {&beebeebrain__v1__health_service__descriptor, health_methods, 1, 1};
static const struct rpc_method project_methods[] = {{"CreateProject", fake_create, RPC_MUTATES}};
static const struct rpc_service project = {&beebeebrain__v1__project_service__descriptor, project_methods, 1, 0};
static const struct rpc_service *const services[] = {&health, &project};

static int denied_calls, allowed_calls, allowed_key_checked;
static char denied_reason[48], denied_method[128], allowed_method[128];

static void on_denied(void *env, const struct rpc_call *call, const bbb_status *st)
{
	(void)env;
	snprintf(denied_reason, sizeof(denied_reason), "%s", st->reason);
	snprintf(denied_method, sizeof(denied_method), "%s", call->c_method);
	denied_calls++;
}

static void on_allowed(void *env, struct rpc_call *call)
{
	(void)env;
	snprintf(allowed_method, sizeof(allowed_method), "%s", call->c_method);
	allowed_key_checked = call->c_key_checked;
	assert_non_null(call->c_request);
	allowed_calls++;
}

/* Sends an envelope through a dispatcher, returns the unpacked reply. */
static Beebeebrain__V1__RpcResponse *roundtrip(struct rpc_dispatcher *d, Beebeebrain__V1__RpcRequest *req)
{
	size_t len = beebeebrain__v1__rpc_request__get_packed_size(req), out_len;
	uint8_t *buf = malloc(len + 1), *out;
	Beebeebrain__V1__RpcResponse *resp;

	beebeebrain__v1__rpc_request__pack(req, buf);
	rpc_dispatch(d, NULL, buf, len, &out, &out_len);
	resp = beebeebrain__v1__rpc_response__unpack(NULL, out_len, out);
	assert_non_null(resp);
	free(buf);
	free(out);
	return resp;
}

static Beebeebrain__V1__RpcResponse *call_create(struct rpc_dispatcher *d, const char *name, const char *request_id,
						 const char *key)
{
	Beebeebrain__V1__RpcRequest req = BEEBEEBRAIN__V1__RPC_REQUEST__INIT;
	Beebeebrain__V1__CreateProjectRequest cp = BEEBEEBRAIN__V1__CREATE_PROJECT_REQUEST__INIT;
	Beebeebrain__V1__RpcResponse *resp;
	uint8_t payload[256];

	cp.name = (char *)name;
	cp.root_path = "/tmp";
	req.method = "/beebeebrain.v1.ProjectService/CreateProject";
	req.payload.len = beebeebrain__v1__create_project_request__pack(&cp, payload);
	req.payload.data = payload;
	req.request_id = (char *)request_id;
	req.api_key = (char *)key;
	resp = roundtrip(d, &req);
	return resp;
}

static void known_method_is_dispatched_and_packed(void **state)
{
	struct rpc_dispatcher *d = rpc_dispatcher_new(services, 2, NULL, NULL);
	Beebeebrain__V1__RpcRequest req = BEEBEEBRAIN__V1__RPC_REQUEST__INIT;
	Beebeebrain__V1__RpcResponse *resp;
	Beebeebrain__V1__CheckResponse *check;

	(void)state;
	req.method = "/beebeebrain.v1.HealthService/Check";
	req.trace_id = "trace-given";
	resp = roundtrip(d, &req);
	assert_int_equal(resp->code, 0);
	assert_string_equal(resp->trace_id, "trace-given");
	check = beebeebrain__v1__check_response__unpack(NULL, resp->payload.len, resp->payload.data);
	assert_non_null(check);
	assert_string_equal(check->status, "ok");
	assert_string_equal(check->env, "trace-given"); /* the handler saw the caller's trace id */
	beebeebrain__v1__check_response__free_unpacked(check, NULL);
	beebeebrain__v1__rpc_response__free_unpacked(resp, NULL);
	rpc_dispatcher_free(d);
}

static void missing_trace_id_gets_a_generated_one(void **state)
{
	struct rpc_dispatcher *d = rpc_dispatcher_new(services, 2, NULL, NULL);
	Beebeebrain__V1__RpcRequest req = BEEBEEBRAIN__V1__RPC_REQUEST__INIT;
	Beebeebrain__V1__RpcResponse *resp;

	(void)state;
	req.method = "/beebeebrain.v1.HealthService/Check";
	resp = roundtrip(d, &req);
	assert_int_equal(strlen(resp->trace_id), strlen("trace-") + 16);
	assert_memory_equal(resp->trace_id, "trace-", 6);
	assert_int_equal(strspn(resp->trace_id + 6, "0123456789abcdef"), 16);
	beebeebrain__v1__rpc_response__free_unpacked(resp, NULL);
	rpc_dispatcher_free(d);
}

static void unknown_method_is_unimplemented(void **state)
{
	struct rpc_dispatcher *d = rpc_dispatcher_new(services, 2, NULL, NULL);
	const char *names[] = {
		"/beebeebrain.v1.HealthService/Nope", "/beebeebrain.v1.NoService/Check", "", "x", "/", "//",
		"/beebeebrain.v1.HealthService/"};

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		Beebeebrain__V1__RpcRequest req = BEEBEEBRAIN__V1__RPC_REQUEST__INIT;
		Beebeebrain__V1__RpcResponse *resp;
		req.method = (char *)names[i];
		resp = roundtrip(d, &req);
		assert_int_equal(resp->code, BBB_UNIMPLEMENTED);
		assert_string_equal(resp->reason, "UNKNOWN_METHOD");
		beebeebrain__v1__rpc_response__free_unpacked(resp, NULL);
	}
	rpc_dispatcher_free(d);
}

/* Whether a packed envelope calling `method` (len bytes) is a read that never waits. */
static int never_waits(struct rpc_dispatcher *d, const char *method, size_t len)
{
	Beebeebrain__V1__RpcRequest req = BEEBEEBRAIN__V1__RPC_REQUEST__INIT;
	uint8_t buf[256];
	size_t n;

	req.method = "";
	n = beebeebrain__v1__rpc_request__pack(&req, buf);
	buf[n++] = 0x0a; /* field 1, length-delimited: the method's bytes as given, NULs included */
	buf[n++] = (uint8_t)len;
	memcpy(buf + n, method, len);
	return rpc_request_never_waits(d, buf, n + len);
}

static void only_a_read_with_a_handler_named_exactly_never_waits(void **state)
{
	struct rpc_dispatcher *d = rpc_dispatcher_new(services, 2, NULL, NULL);
	const char check[] = "/beebeebrain.v1.HealthService/Check";
	const char create[] = "/beebeebrain.v1.ProjectService/CreateProject";
	const char ready[] = "/beebeebrain.v1.HealthService/Ready";
	const char cut[] = "/beebeebrain.v1.HealthService/Check\0junk";

	(void)state;
	assert_int_equal(never_waits(d, check, strlen(check)), 1);
	assert_int_equal(never_waits(d, create, strlen(create)), 0); /* mutates */
	assert_int_equal(never_waits(d, ready, strlen(ready)), 0); /* declared, no handler here */
	assert_int_equal(never_waits(d, check, strlen(check) - 1), 0);
	assert_int_equal(never_waits(d, cut, sizeof(cut) - 1), 0);
	assert_int_equal(never_waits(d, check + 1, strlen(check) - 1), 0);
	assert_int_equal(rpc_request_never_waits(d, (const uint8_t *)"\xff", 1), 0);
	rpc_dispatcher_free(d);
}

static void declared_method_without_handler_is_unimplemented(void **state)
{
	struct rpc_dispatcher *d = rpc_dispatcher_new(services, 2, NULL, NULL);
	Beebeebrain__V1__RpcRequest req = BEEBEEBRAIN__V1__RPC_REQUEST__INIT;
	Beebeebrain__V1__RpcResponse *resp;

	(void)state;
	req.method = "/beebeebrain.v1.HealthService/Ready";
	resp = roundtrip(d, &req);
	assert_int_equal(resp->code, BBB_UNIMPLEMENTED);
	assert_string_equal(resp->reason, "UNKNOWN_METHOD");
	beebeebrain__v1__rpc_response__free_unpacked(resp, NULL);
	rpc_dispatcher_free(d);
}

static void garbage_envelope_is_malformed_request(void **state)
{
	struct rpc_dispatcher *d = rpc_dispatcher_new(services, 2, NULL, NULL);
	uint8_t garbage[64];
	uint8_t *out;
	size_t out_len;
	unsigned seed = 7;

	(void)state;
	for (int round = 0; round < 200; round++) {
		Beebeebrain__V1__RpcResponse *resp;
		size_t len = (size_t)(rand_r(&seed) % (int)sizeof(garbage));
		for (size_t i = 0; i < len; i++)
			garbage[i] = (uint8_t)rand_r(&seed);
		rpc_dispatch(d, NULL, garbage, len, &out, &out_len);
		resp = beebeebrain__v1__rpc_response__unpack(NULL, out_len, out);
		assert_non_null(resp);
		/* Either the bytes were not an envelope, or they named no method. */
		assert_true(resp->code == BBB_INVALID_ARGUMENT || resp->code == BBB_UNIMPLEMENTED);
		beebeebrain__v1__rpc_response__free_unpacked(resp, NULL);
		free(out);
	}
	rpc_dispatcher_free(d);
}

static void payload_that_does_not_decode_is_malformed_request(void **state)
{
	struct rpc_dispatcher *d = rpc_dispatcher_new(services, 2, NULL, NULL);
	Beebeebrain__V1__RpcRequest req = BEEBEEBRAIN__V1__RPC_REQUEST__INIT;
	Beebeebrain__V1__RpcResponse *resp;
	uint8_t bad[] = {0x0a, 0x7f, 'x'}; /* field 1, length 127, 1 byte of data */

	(void)state;
	req.method = "/beebeebrain.v1.ProjectService/CreateProject";
	req.payload.data = bad;
	req.payload.len = sizeof(bad);
	resp = roundtrip(d, &req);
	assert_int_equal(resp->code, BBB_INVALID_ARGUMENT);
	assert_string_equal(resp->reason, "MALFORMED_REQUEST");
	beebeebrain__v1__rpc_response__free_unpacked(resp, NULL);
	rpc_dispatcher_free(d);
}

static void violations_reach_the_client_field_by_field(void **state)
{
	struct rpc_dispatcher *d = rpc_dispatcher_new(services, 2, NULL, NULL);
	Beebeebrain__V1__RpcRequest req = BEEBEEBRAIN__V1__RPC_REQUEST__INIT;
	Beebeebrain__V1__RpcResponse *resp;

	(void)state;
	req.method = "/beebeebrain.v1.ProjectService/CreateProject"; /* empty payload: both fields missing */
	resp = roundtrip(d, &req);
	assert_int_equal(resp->code, BBB_INVALID_ARGUMENT);
	assert_string_equal(resp->reason, "VALIDATION_ERROR");
	assert_int_equal(resp->n_violations, 2);
	assert_string_equal(resp->violations[0]->field, "name");
	assert_string_equal(resp->violations[1]->field, "root_path");
	assert_int_equal(resp->payload.len, 0);
	beebeebrain__v1__rpc_response__free_unpacked(resp, NULL);
	rpc_dispatcher_free(d);
}

static void repeated_request_id_of_mutating_call_runs_once(void **state)
{
	struct rpc_dispatcher *d = rpc_dispatcher_new(services, 2, NULL, NULL);
	Beebeebrain__V1__RpcResponse *a, *b, *c;

	(void)state;
	create_calls = 0;
	a = call_create(d, "p", "req-1", "");
	b = call_create(d, "p", "req-1", "");
	c = call_create(d, "p", "req-2", "");
	assert_int_equal(create_calls, 2);
	assert_int_equal(a->payload.len, b->payload.len);
	assert_memory_equal(a->payload.data, b->payload.data, a->payload.len);
	assert_string_equal(a->trace_id, b->trace_id);
	assert_false(c->payload.len == a->payload.len && memcmp(c->payload.data, a->payload.data, a->payload.len) == 0);
	beebeebrain__v1__rpc_response__free_unpacked(a, NULL);
	beebeebrain__v1__rpc_response__free_unpacked(b, NULL);
	beebeebrain__v1__rpc_response__free_unpacked(c, NULL);
	rpc_dispatcher_free(d);
}

static int flaky_calls;

/* Fails as a locked database would the first time, then succeeds. */
static int fake_flaky(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	(void)call;
	(void)in;
	(void)out;
	if (flaky_calls++ == 0)
		return status_fail(st, "DB_LOCKED", "locked");
	return 0;
}

static void call_that_did_not_run_is_not_cached_and_runs_on_retry(void **state)
{
	static const struct rpc_method flaky_methods[] = {{"CreateProject", fake_flaky, RPC_MUTATES}};
	static const struct rpc_service flaky = {&beebeebrain__v1__project_service__descriptor, flaky_methods, 1, 0};
	const struct rpc_service *const svcs[] = {&flaky};
	struct rpc_dispatcher *d = rpc_dispatcher_new(svcs, 1, NULL, NULL);
	Beebeebrain__V1__RpcResponse *a, *b, *c;

	(void)state;
	flaky_calls = 0;
	a = call_create(d, "p", "same-id", "");
	b = call_create(d, "p", "same-id", "");
	c = call_create(d, "p", "same-id", "");
	assert_string_equal(a->reason, "DB_LOCKED");
	assert_int_equal(b->code, 0);
	assert_int_equal(c->code, 0);
	assert_int_equal(flaky_calls, 2); /* the retry ran; its success was cached */
	beebeebrain__v1__rpc_response__free_unpacked(a, NULL);
	beebeebrain__v1__rpc_response__free_unpacked(b, NULL);
	beebeebrain__v1__rpc_response__free_unpacked(c, NULL);
	rpc_dispatcher_free(d);
}

static void long_request_ids_are_compared_whole(void **state)
{
	struct rpc_dispatcher *d = rpc_dispatcher_new(services, 2, NULL, NULL);
	char id_a[129], id_b[129];
	Beebeebrain__V1__RpcResponse *a, *b, *too_long;
	char long_id[130];

	(void)state;
	create_calls = 0;
	memset(id_a, 'x', 128);
	id_a[128] = '\0';
	memcpy(id_b, id_a, sizeof(id_b));
	id_b[127] = 'y';
	a = call_create(d, "p", id_a, "");
	b = call_create(d, "p", id_b, "");
	assert_int_equal(create_calls, 2);
	memset(long_id, 'z', 129);
	long_id[129] = '\0';
	too_long = call_create(d, "p", long_id, "");
	assert_int_equal(too_long->code, BBB_INVALID_ARGUMENT);
	assert_string_equal(too_long->violations[0]->field, "request_id");
	assert_int_equal(create_calls, 2);
	beebeebrain__v1__rpc_response__free_unpacked(a, NULL);
	beebeebrain__v1__rpc_response__free_unpacked(b, NULL);
	beebeebrain__v1__rpc_response__free_unpacked(too_long, NULL);
	rpc_dispatcher_free(d);
}

static void api_key_is_required_except_for_health(void **state)
{
	struct rpc_dispatcher *d = rpc_dispatcher_new(services, 2, "s3cret", NULL);
	Beebeebrain__V1__RpcRequest req = BEEBEEBRAIN__V1__RPC_REQUEST__INIT;
	Beebeebrain__V1__RpcResponse *resp;

	(void)state;
	denied_calls = 0;
	rpc_dispatcher_set_denied_hook(d, on_denied);
	resp = call_create(d, "p", "", "");
	assert_int_equal(resp->code, BBB_UNAUTHENTICATED);
	assert_string_equal(resp->reason, "UNAUTHORIZED");
	beebeebrain__v1__rpc_response__free_unpacked(resp, NULL);
	resp = call_create(d, "p", "", "s3cre");
	assert_int_equal(resp->code, BBB_UNAUTHENTICATED);
	beebeebrain__v1__rpc_response__free_unpacked(resp, NULL);
	assert_int_equal(denied_calls, 2);
	resp = call_create(d, "p", "", "s3cret");
	assert_int_equal(resp->code, 0);
	beebeebrain__v1__rpc_response__free_unpacked(resp, NULL);
	req.method = "/beebeebrain.v1.HealthService/Check";
	resp = roundtrip(d, &req);
	assert_int_equal(resp->code, 0);
	beebeebrain__v1__rpc_response__free_unpacked(resp, NULL);
	rpc_dispatcher_free(d);
}

static void refusals_go_to_the_denied_hook_with_their_reason(void **state)
{
	struct rpc_dispatcher *d = rpc_dispatcher_new(services, 2, "s3cret-key", NULL);
	Beebeebrain__V1__RpcResponse *resp;

	(void)state;
	denied_calls = allowed_calls = 0;
	rpc_dispatcher_set_denied_hook(d, on_denied);
	rpc_dispatcher_set_allowed_hook(d, on_allowed);
	resp = call_create(d, "p", "", "wrong");
	assert_int_equal(resp->code, BBB_UNAUTHENTICATED);
	beebeebrain__v1__rpc_response__free_unpacked(resp, NULL);
	assert_int_equal(denied_calls, 1);
	assert_string_equal(denied_reason, "UNAUTHORIZED");
	assert_string_equal(denied_method, "/beebeebrain.v1.ProjectService/CreateProject");
	resp = call_create(d, "forbidden", "", "s3cret-key");
	assert_int_equal(resp->code, BBB_PERMISSION_DENIED);
	beebeebrain__v1__rpc_response__free_unpacked(resp, NULL);
	assert_int_equal(denied_calls, 2);
	assert_string_equal(denied_reason, "FORBIDDEN");
	assert_int_equal(allowed_calls, 0);
	rpc_dispatcher_free(d);
}

static void a_mutating_call_that_succeeds_goes_to_the_allowed_hook_and_a_read_does_not(void **state)
{
	struct rpc_dispatcher *d = rpc_dispatcher_new(services, 2, "s3cret-key", NULL);
	Beebeebrain__V1__RpcRequest req = BEEBEEBRAIN__V1__RPC_REQUEST__INIT;
	Beebeebrain__V1__RpcResponse *resp;

	(void)state;
	denied_calls = allowed_calls = 0;
	rpc_dispatcher_set_denied_hook(d, on_denied);
	rpc_dispatcher_set_allowed_hook(d, on_allowed);
	resp = call_create(d, "p", "", "s3cret-key");
	assert_int_equal(resp->code, 0);
	beebeebrain__v1__rpc_response__free_unpacked(resp, NULL);
	assert_int_equal(allowed_calls, 1);
	assert_int_equal(allowed_key_checked, 1);
	assert_string_equal(allowed_method, "/beebeebrain.v1.ProjectService/CreateProject");
	resp = call_create(d, "", "", "s3cret-key"); /* refused by validation: nothing changed */
	assert_int_equal(resp->code, BBB_INVALID_ARGUMENT);
	beebeebrain__v1__rpc_response__free_unpacked(resp, NULL);
	req.method = "/beebeebrain.v1.HealthService/Check";
	resp = roundtrip(d, &req);
	assert_int_equal(resp->code, 0);
	beebeebrain__v1__rpc_response__free_unpacked(resp, NULL);
	assert_int_equal(allowed_calls, 1);
	assert_int_equal(denied_calls, 0);
	rpc_dispatcher_free(d);
}

static void the_reply_of_a_mutating_call_is_redacted(void **state)
{
	struct rpc_dispatcher *d = rpc_dispatcher_new(services, 2, NULL, NULL);
	Beebeebrain__V1__RpcResponse *resp = call_create(d, "p api_key=abc123", "", "");
	Beebeebrain__V1__CreateProjectResponse *r;

	(void)state;
	assert_int_equal(resp->code, 0);
	r = beebeebrain__v1__create_project_response__unpack(NULL, resp->payload.len, resp->payload.data);
	assert_non_null(r);
	assert_string_equal(r->project->name, "p api_key=[REDACTED]");
	beebeebrain__v1__create_project_response__free_unpacked(r, NULL);
	beebeebrain__v1__rpc_response__free_unpacked(resp, NULL);
	rpc_dispatcher_free(d);
}

static void reasons_map_to_their_canonical_codes(void **state)
{
	(void)state;
	assert_int_equal(status_code_of_reason("TASK_NOT_FOUND"), BBB_NOT_FOUND);
	assert_int_equal(status_code_of_reason("TASK_VERSION_CONFLICT"), BBB_ABORTED);
	assert_int_equal(status_code_of_reason("INVALID_TASK_TRANSITION"), BBB_FAILED_PRECONDITION);
	assert_int_equal(status_code_of_reason("IDEMPOTENCY_KEY_CONFLICT"), BBB_ALREADY_EXISTS);
	assert_int_equal(status_code_of_reason("UNAUTHORIZED"), BBB_UNAUTHENTICATED);
	assert_int_equal(status_code_of_reason("WORKSPACE_PATH_DENIED"), BBB_PERMISSION_DENIED);
	assert_int_equal(status_code_of_reason("DB_LOCKED"), BBB_UNAVAILABLE);
	assert_int_equal(status_code_of_reason("OVERLOADED"), BBB_RESOURCE_EXHAUSTED);
	assert_int_equal(status_code_of_reason("EVENTS_PRUNED"), BBB_OUT_OF_RANGE);
	assert_int_equal(status_code_of_reason("UNKNOWN_METHOD"), BBB_UNIMPLEMENTED);
	assert_int_equal(status_code_of_reason("NO_SUCH_REASON"), BBB_INTERNAL);
	assert_string_equal(bbb_code_name(BBB_FAILED_PRECONDITION), "FAILED_PRECONDITION");
	assert_string_equal(bbb_code_name(BBB_UNAUTHENTICATED), "UNAUTHENTICATED");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(known_method_is_dispatched_and_packed),
		cmocka_unit_test(missing_trace_id_gets_a_generated_one),
		cmocka_unit_test(unknown_method_is_unimplemented),
		cmocka_unit_test(only_a_read_with_a_handler_named_exactly_never_waits),
		cmocka_unit_test(declared_method_without_handler_is_unimplemented),
		cmocka_unit_test(garbage_envelope_is_malformed_request),
		cmocka_unit_test(payload_that_does_not_decode_is_malformed_request),
		cmocka_unit_test(violations_reach_the_client_field_by_field),
		cmocka_unit_test(repeated_request_id_of_mutating_call_runs_once),
		cmocka_unit_test(call_that_did_not_run_is_not_cached_and_runs_on_retry),
		cmocka_unit_test(long_request_ids_are_compared_whole),
		cmocka_unit_test(api_key_is_required_except_for_health),
		cmocka_unit_test(refusals_go_to_the_denied_hook_with_their_reason),
		cmocka_unit_test(a_mutating_call_that_succeeds_goes_to_the_allowed_hook_and_a_read_does_not),
		cmocka_unit_test(the_reply_of_a_mutating_call_is_redacted),
		cmocka_unit_test(reasons_map_to_their_canonical_codes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
