/*
 * Generic dispatch (see dispatch.h). The only place that knows the envelope:
 * services see typed messages, the transport sees bytes.
 */
#include "rpc/dispatch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "beebeebrain/v1/rpc.pb-c.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pbtext.h"
#include "common/redact.h"
#include "common/status.h"
#include "common/xalloc.h"
#include "rpc/reply_cache.h"

#define RPC_REPLY_CACHE_ENTRIES 8192
#define RPC_REPLY_CACHE_BYTES ((size_t)64 << 20)

struct rpc_bound_service {
	const struct rpc_service *b_svc;
};

/* A method one of the services declares, under its full name. */
struct rpc_bound_method {
	const struct rpc_bound_service *bm_svc;
	const ProtobufCMethodDescriptor *bm_md;
	const struct rpc_method *bm_impl; /* NULL: declared, not implemented */
	char *bm_full; /* "/beebeebrain.v1.TaskService/GetTask" */
	size_t bm_full_len;
	uint64_t bm_hash; /* rpc_name_hash of bm_full */
	/* Its series of calls answered OK and of durations, looked up on the
	 * first such call and kept (rpc_record). */
	struct metrics_series *_Atomic bm_ok;
	struct metrics_series *_Atomic bm_duration;
};

struct rpc_dispatcher {
	struct rpc_bound_service *d_services;
	size_t d_n;
	/* Every declared method, found by full name in an open-addressed table
	 * of d_table_size (a power of 2, at least twice d_n_methods) indexes
	 * into d_methods, -1 when empty; read-only once made. */
	struct rpc_bound_method *d_methods;
	size_t d_n_methods;
	int *d_table;
	size_t d_table_size;
	char *d_api_key;
	void *d_env;
	struct reply_cache *d_cache;
	const struct rpc_shared_replies *d_shared; /* NULL: none */
	void *d_shared_arg;
	rpc_denied_hook d_denied;
	rpc_allowed_hook d_allowed;
	struct metrics_family *d_requests; /* {service, method, code} */
	struct metrics_family *d_duration; /* {service, method} */
};

/* Durations from 0.5 ms (a read from the page cache) to a minute (a write
 * queued behind a long group commit, a deadline). */
static const double rpc_duration_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
					     0.25,   0.5,   1,      2.5,   5,    10,    30,   60};
static const char *const rpc_metric_labels[] = {"service", "method", "code"};

/* The dispatcher's families in the process's registry (docs/metrics.md). */
static void rpc_metrics_init(struct rpc_dispatcher *d)
{
	const struct metrics_spec requests = {
		METRICS_COUNTER,
		"beebeebrain_rpc_requests_total",
		"RPC calls answered (over nng and HTTP), by service, method and status code; service and method are "
		"\"unknown\" for a request naming no method the server has.",
		rpc_metric_labels,
		3,
		NULL,
		0};
	const struct metrics_spec duration = {
		METRICS_HISTOGRAM,
		"beebeebrain_rpc_request_duration_seconds",
		"Time from a request's arrival at the dispatcher to its packed reply (a call waiting with RunTask "
		"wait included), by service and method.",
		rpc_metric_labels,
		2,
		rpc_duration_bounds,
		sizeof(rpc_duration_bounds) / sizeof(rpc_duration_bounds[0])};

	d->d_requests = metrics_family(metrics_default(), &requests);
	d->d_duration = metrics_family(metrics_default(), &duration);
}

/* The series of bm's label values (and code's, for the counter) in f,
 * remembered in *memo: a race makes two threads look it up, and both find
 * the same series. */
static struct metrics_series *rpc_series(struct metrics_family *f, struct rpc_bound_method *bm,
					 struct metrics_series *_Atomic *memo, const char *code)
{
	struct metrics_series *se = atomic_load_explicit(memo, memory_order_acquire);
	const char *values[] = {bm->bm_svc->b_svc->s_desc->name, bm->bm_md->name, code};

	if (se == NULL) {
		se = metrics_series_get(f, values);
		atomic_store_explicit(memo, se, memory_order_release);
	}
	return se;
}

/* Counts an answered call of bm (NULL: a request naming no method) and its
 * duration since t0_ns (clock_mono_ns). The series of a method's OK calls
 * and of its durations are looked up once, not per call. */
static void rpc_record(const struct rpc_dispatcher *d, struct rpc_bound_method *bm, int code, int64_t t0_ns)
{
	const char *values[] = {bm != NULL ? bm->bm_svc->b_svc->s_desc->name : "unknown",
				bm != NULL ? bm->bm_md->name : "unknown", bbb_code_name(code)};
	double seconds = (double)(clock_mono_ns() - t0_ns) / 1e9;

	if (bm == NULL) {
		metrics_add(d->d_requests, values, 1);
		metrics_observe(d->d_duration, values, seconds);
		return;
	}
	if (code == BBB_OK)
		metrics_series_add(rpc_series(d->d_requests, bm, &bm->bm_ok, values[2]), 1);
	else
		metrics_add(d->d_requests, values, 1);
	metrics_series_observe(d->d_duration, rpc_series(d->d_duration, bm, &bm->bm_duration, NULL), seconds);
}

/* The status code of a packed RpcResponse (a reply from the cache). */
static int rpc_reply_code(const uint8_t *out, size_t len)
{
	Beebeebrain__V1__RpcResponse *r = beebeebrain__v1__rpc_response__unpack(NULL, len, out);
	int code = r != NULL ? (int)r->code : BBB_INTERNAL;

	beebeebrain__v1__rpc_response__free_unpacked(r, NULL);
	return code;
}

/* FNV-1a over n bytes. */
static uint64_t rpc_name_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* The method named by the n bytes at full ("/<service>/<method>", no NUL
 * needed), or NULL. The first service declaring a name wins, as a scan of
 * the services in order would. */
static struct rpc_bound_method *rpc_lookup(const struct rpc_dispatcher *d, const char *full, size_t n)
{
	uint64_t h = rpc_name_hash(full, n);

	for (size_t i = (size_t)h & (d->d_table_size - 1);; i = (i + 1) & (d->d_table_size - 1)) {
		struct rpc_bound_method *bm;

		if (d->d_table[i] < 0)
			return NULL;
		bm = &d->d_methods[d->d_table[i]];
		if (bm->bm_hash == h && bm->bm_full_len == n && memcmp(bm->bm_full, full, n) == 0)
			return bm;
	}
}

/* Binds every method the services declare, with its handler if any, and
 * fills the name table. */
static void rpc_bind_methods(struct rpc_dispatcher *d)
{
	size_t n = 0;

	for (size_t i = 0; i < d->d_n; i++)
		n += d->d_services[i].b_svc->s_desc->n_methods;
	d->d_methods = xcalloc(n > 0 ? n : 1, sizeof(*d->d_methods));
	for (d->d_table_size = 16; d->d_table_size < 2 * n; d->d_table_size *= 2)
		;
	d->d_table = xmalloc(d->d_table_size * sizeof(*d->d_table));
	for (size_t i = 0; i < d->d_table_size; i++)
		d->d_table[i] = -1;
	for (size_t i = 0; i < d->d_n; i++) {
		const struct rpc_service *svc = d->d_services[i].b_svc;
		struct rpc_bound_method *first = &d->d_methods[d->d_n_methods];

		for (unsigned m = 0; m < svc->s_desc->n_methods; m++) {
			struct rpc_bound_method *bm = &d->d_methods[d->d_n_methods];
			size_t slot;

			bm->bm_svc = &d->d_services[i];
			bm->bm_md = &svc->s_desc->methods[m];
			bm->bm_full = xasprintf("/%s/%s", svc->s_desc->name, bm->bm_md->name);
			bm->bm_full_len = strlen(bm->bm_full);
			bm->bm_hash = rpc_name_hash(bm->bm_full, bm->bm_full_len);
			if (rpc_lookup(d, bm->bm_full, bm->bm_full_len) != NULL) {
				free(bm->bm_full); /* an earlier service declares it: that one answers */
				continue;
			}
			for (slot = (size_t)bm->bm_hash & (d->d_table_size - 1); d->d_table[slot] >= 0;
			     slot = (slot + 1) & (d->d_table_size - 1))
				;
			d->d_table[slot] = (int)d->d_n_methods++;
		}
		for (size_t m = 0; m < svc->s_n_methods; m++) {
			const ProtobufCMethodDescriptor *md =
				protobuf_c_service_descriptor_get_method_by_name(svc->s_desc, svc->s_methods[m].m_name);
			struct rpc_bound_method *bm = first;

			/* A handler for a method the .proto does not declare is a build error in spirit. */
			if (md == NULL) {
				log_error("rpc", "%s has no method %s", svc->s_desc->name, svc->s_methods[m].m_name);
				abort();
			}
			while (bm < &d->d_methods[d->d_n_methods] && bm->bm_md != md)
				bm++;
			if (bm < &d->d_methods[d->d_n_methods])
				bm->bm_impl = &svc->s_methods[m];
		}
	}
}

struct rpc_dispatcher *rpc_dispatcher_new(const struct rpc_service *const *services, size_t n_services,
					  const char *api_key, void *env)
{
	struct rpc_dispatcher *d = xcalloc(1, sizeof(*d));

	d->d_services = xcalloc(n_services, sizeof(*d->d_services));
	d->d_n = n_services;
	d->d_env = env;
	d->d_api_key = api_key != NULL && api_key[0] != '\0' ? xstrdup(api_key) : NULL;
	d->d_cache = reply_cache_new(RPC_REPLY_CACHE_ENTRIES, RPC_REPLY_CACHE_BYTES, RPC_REPLY_CACHE_TTL_MS);
	rpc_metrics_init(d);
	for (size_t i = 0; i < n_services; i++)
		d->d_services[i].b_svc = services[i];
	rpc_bind_methods(d);
	return d;
}

void rpc_dispatcher_free(struct rpc_dispatcher *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->d_n_methods; i++)
		free(d->d_methods[i].bm_full);
	free(d->d_methods);
	free(d->d_table);
	free(d->d_services);
	free(d->d_api_key);
	reply_cache_free(d->d_cache);
	free(d);
}

void rpc_dispatcher_set_denied_hook(struct rpc_dispatcher *d, rpc_denied_hook hook)
{
	d->d_denied = hook;
}

void rpc_dispatcher_set_allowed_hook(struct rpc_dispatcher *d, rpc_allowed_hook hook)
{
	d->d_allowed = hook;
}

void rpc_dispatcher_set_shared_replies(struct rpc_dispatcher *d, const struct rpc_shared_replies *sr, void *arg)
{
	d->d_shared = sr;
	d->d_shared_arg = arg;
}

/* The end of a call whose request_id the caches hold (cache_key in the
 * in-memory one; shared: in the shared one too): its reply stored, or,
 * when it did not run, the id let go. */
static void rpc_cache_end(struct rpc_dispatcher *d, void *worker, const char *cache_key, int shared, const char *method,
			  const char *request_id, int ran, const uint8_t *out, size_t out_len)
{
	if (!ran) {
		reply_cache_abandon(d->d_cache, cache_key);
		if (shared)
			d->d_shared->sr_abandon(d->d_shared_arg, worker, method, request_id);
		return;
	}
	reply_cache_put(d->d_cache, cache_key, out, out_len);
	if (shared)
		d->d_shared->sr_put(d->d_shared_arg, worker, method, request_id, out, out_len);
}

int rpc_call_expired(const struct rpc_call *call)
{
	return call->c_deadline_ms != 0 && clock_mono_ms() > call->c_deadline_ms;
}

static uint64_t rpc_random64(void)
{
	static _Thread_local uint64_t state;

	if (state == 0 && getrandom(&state, sizeof(state), 0) != sizeof(state))
		state = (uint64_t)clock_now_ms() ^ (uint64_t)(uintptr_t)&state;
	state |= 1;
	/* xorshift64* */
	state ^= state >> 12;
	state ^= state << 25;
	state ^= state >> 27;
	return state * 2685821657736338717ull;
}

void rpc_make_trace_id(char *buf, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char id[] = "trace-0123456789abcdef";
	uint64_t r = rpc_random64();

	/* What snprintf("trace-%016" PRIx64) writes, without its cost on
	 * every request that comes without a trace id. */
	for (int i = 0; i < 16; i++)
		id[6 + i] = hex[(r >> (60 - 4 * i)) & 0xf];
	if (n == 0)
		return;
	n = n < sizeof(id) ? n : sizeof(id);
	memcpy(buf, id, n - 1);
	buf[n - 1] = '\0';
}

/* A trace id is stored and logged: 1..64 characters of [A-Za-z0-9._:-]. */
int rpc_trace_id_valid(const char *t)
{
	size_t n = strlen(t);

	return n >= 1 && n <= 64 &&
	       strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-") == n;
}

/* The bound method of a full method name (NULL: none, or full is NULL). */
static struct rpc_bound_method *rpc_find(const struct rpc_dispatcher *d, const char *full)
{
	return full != NULL ? rpc_lookup(d, full, strlen(full)) : NULL;
}

const ProtobufCMethodDescriptor *rpc_dispatcher_method(struct rpc_dispatcher *d, const char *full)
{
	const struct rpc_bound_method *bm = rpc_find(d, full);

	return bm != NULL ? bm->bm_md : NULL;
}

int rpc_dispatcher_streams(struct rpc_dispatcher *d, const char *full)
{
	const struct rpc_bound_method *bm = rpc_find(d, full);

	return bm != NULL && bm->bm_impl != NULL && (bm->bm_impl->m_flags & RPC_STREAMS) != 0;
}

/* Reads a base-128 varint at *p (before end); 0, or -1 when it runs past
 * end or past 10 bytes. */
static int rpc_wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 70 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;
		*v |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0)
			return 0;
	}
	return -1;
}

/* The last field 1 (`method`) of a packed RpcRequest: the one the decoder
 * keeps. 0 with *m set (NULL when there is none), -1 when the bytes are not
 * a sequence of fields. */
static int rpc_wire_method(const uint8_t *in, size_t in_len, const uint8_t **m, size_t *m_len)
{
	const uint8_t *p = in, *end = in + in_len;

	*m = NULL;
	*m_len = 0;
	while (p < end) {
		uint64_t tag, n;

		if (rpc_wire_varint(&p, end, &tag) != 0)
			return -1;
		switch (tag & 7) {
		case 0:
			if (rpc_wire_varint(&p, end, &n) != 0)
				return -1;
			break;
		case 1:
			if ((size_t)(end - p) < 8)
				return -1;
			p += 8;
			break;
		case 2:
			if (rpc_wire_varint(&p, end, &n) != 0 || n > (uint64_t)(end - p))
				return -1;
			if ((tag >> 3) == 1) {
				*m = p;
				*m_len = (size_t)n;
			}
			p += n;
			break;
		case 5:
			if ((size_t)(end - p) < 4)
				return -1;
			p += 4;
			break;
		default:
			return -1; /* groups and reserved types: let the decoder say what it is */
		}
	}
	return 0;
}

int rpc_request_never_waits(struct rpc_dispatcher *d, const uint8_t *in, size_t in_len)
{
	const struct rpc_bound_method *bm;
	const uint8_t *m;
	size_t m_len;

	/* The bytes are compared whole: a name with a NUL in it (which the
	 * decoder would cut) matches no method. */
	if (rpc_wire_method(in, in_len, &m, &m_len) != 0 || m == NULL ||
	    (bm = rpc_lookup(d, (const char *)m, m_len)) == NULL)
		return 0;
	return bm->bm_impl != NULL && (bm->bm_impl->m_flags & (RPC_MUTATES | RPC_STREAMS | RPC_WAITS)) == 0;
}

static int rpc_key_matches(const char *want, const char *got)
{
	size_t lw = strlen(want), lg = strlen(got);
	unsigned char diff = (unsigned char)(lw != lg);

	/* Constant time in the length of the configured key. */
	for (size_t i = 0; i < lw; i++)
		diff |= (unsigned char)(want[i] ^ (i < lg ? got[i] : 0));
	return diff == 0;
}

/* Writes v as a protobuf varint at p; its length in bytes (at most 10). */
static size_t rpc_put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* RpcResponse.payload's field number, from the descriptor. */
static uint32_t rpc_response_payload_field(void)
{
	static _Atomic uint32_t id;
	uint32_t v = atomic_load_explicit(&id, memory_order_relaxed);

	if (v == 0) {
		v = protobuf_c_message_descriptor_get_field_by_name(&beebeebrain__v1__rpc_response__descriptor,
								    "payload")
			    ->id;
		atomic_store_explicit(&id, v, memory_order_relaxed);
	}
	return v;
}

static void rpc_pack_reply(const bbb_status *st, const char *trace_id, const ProtobufCMessage *resp, struct arena *a,
			   uint8_t **out, size_t *out_len)
{
	Beebeebrain__V1__RpcResponse r = BEEBEEBRAIN__V1__RPC_RESPONSE__INIT;
	Beebeebrain__V1__FieldViolation *vs = NULL, **vp = NULL;

	r.code = st->code;
	r.reason = (char *)st->reason;
	r.message = (char *)st->message;
	r.trace_id = (char *)trace_id;
	if (st->n_violations > 0) {
		vs = arena_alloc(a, sizeof(*vs) * (size_t)st->n_violations);
		vp = arena_alloc(a, sizeof(*vp) * (size_t)st->n_violations);
		for (int i = 0; i < st->n_violations; i++) {
			beebeebrain__v1__field_violation__init(&vs[i]);
			vs[i].field = (char *)st->violations[i].field;
			vs[i].description = (char *)st->violations[i].description;
			vp[i] = &vs[i];
		}
		r.n_violations = (size_t)st->n_violations;
		r.violations = vp;
	}
	/* Every string a client decodes must be UTF-8 (common/pbtext.h). */
	const ProtobufCMessage *env = pbtext_repair_copy(&r.base, a);
	size_t env_len = protobuf_c_message_get_packed_size(env), payload_len = 0, head_len = 0;
	uint8_t head[2 * 10];

	/* The response is packed once, straight after the envelope's other
	 * fields, behind the payload field's tag and length, instead of into a
	 * buffer that packing the envelope copies: a field may come in any
	 * order on the wire, and an empty payload is left out, as protobuf-c
	 * leaves out an empty bytes field. */
	if (st->code == BBB_OK && resp != NULL) {
		resp = pbtext_repair_copy(resp, a);
		payload_len = protobuf_c_message_get_packed_size(resp);
	}
	if (payload_len > 0) {
		head_len = rpc_put_varint(head, (uint64_t)rpc_response_payload_field() << 3 | 2); /* length-delimited */
		head_len += rpc_put_varint(head + head_len, payload_len);
	}
	*out_len = env_len + head_len + payload_len;
	*out = xmalloc(*out_len);
	protobuf_c_message_pack(env, *out);
	if (payload_len > 0) {
		memcpy(*out + env_len, head, head_len);
		protobuf_c_message_pack(resp, *out + env_len + head_len);
	}
}

/* Decodes, authorises, finds and runs the handler. Fills st and *resp. */
static void rpc_run(struct rpc_call *call, const Beebeebrain__V1__RpcRequest *req, const ProtobufCMethodDescriptor *md,
		    const struct rpc_method *impl, ProtobufCMessage **resp, bbb_status *st)
{
	ProtobufCMessage *in;
	char field[128];
	int rc;

	if (impl == NULL) {
		status_fail(st, "UNKNOWN_METHOD", "%s is declared but not implemented by this server", req->method);
		return;
	}
	if ((impl->m_flags & RPC_STREAMS) && !call->c_can_stream) {
		status_fail(st, "STREAMING_NOT_SUPPORTED",
			    "%s streams over HTTP (Connect) only; over nng use the pub socket and EventService/Replay",
			    req->method);
		return;
	}
	switch (pbtext_check_wire(md->input, req->payload.data, req->payload.len, field, sizeof(field))) {
	case PBTEXT_OK:
		break;
	case PBTEXT_BAD_STRING:
		status_violation(st, field, "must be valid UTF-8 without NUL characters");
		return;
	case PBTEXT_TOO_MANY_FIELDS:
		status_fail(st, "MALFORMED_REQUEST", "payload holds more than %d fields or %d unknown ones",
			    PBTEXT_MAX_FIELDS, PBTEXT_MAX_UNKNOWN);
		return;
	}
	in = protobuf_c_message_unpack(md->input, &call->c_arena->a_pb, req->payload.len, req->payload.data);
	if (in == NULL) {
		status_fail(st, "MALFORMED_REQUEST", "payload does not decode as %s", md->input->name);
		return;
	}
	*resp = arena_message(call->c_arena, md->output);
	call->c_request = in;
	call->c_flags = impl->m_flags;
	rc = impl->m_fn(call, in, *resp, st);
	if (rc == RPC_DEFERRED && call->c_defer_fn != NULL)
		return;
	if (rc != 0 && st->code == BBB_OK)
		status_fail(st, "INTERNAL_ERROR", "%s failed without a reason", req->method);
	if (st->code == BBB_OK && !(impl->m_flags & RPC_MUTATES) && rpc_call_expired(call))
		status_fail(st, "DEADLINE_EXCEEDED", "the call took longer than its deadline");
}

/* Failures after which the call may be sent again with the same request_id
 * and run: they are not cached. All but one certainly changed nothing: a
 * write refused for a full or read-only disk left nothing (the store's
 * contract) and may well succeed once space is freed. DB_UNAVAILABLE, a
 * PostgreSQL session lost, changed nothing unless it was lost during the
 * COMMIT itself; a stored copy would answer every retry, on any server, with
 * the error of a connection that is gone, so the retry runs (the window is
 * in docs/protocol.md). */
static int rpc_call_did_not_run(const bbb_status *st)
{
	return st->code == BBB_DEADLINE_EXCEEDED || strcmp(st->reason, "DB_LOCKED") == 0 ||
	       strcmp(st->reason, "SHUTTING_DOWN") == 0 || strcmp(st->reason, "OVERLOADED") == 0 ||
	       strcmp(st->reason, "DISK_FULL") == 0 || strcmp(st->reason, "DB_READ_ONLY") == 0 ||
	       strcmp(st->reason, "DB_UNAVAILABLE") == 0;
}

struct rpc_deferred {
	struct rpc_dispatcher *df_d;
	const ProtobufCMessageDescriptor *df_output;
	rpc_poll_fn df_fn;
	void *df_arg;
	char df_trace[72];
	int64_t df_deadline; /* CLOCK_MONOTONIC ms */
	char *df_cache_key; /* NULL: not cached */
	char *df_request_id; /* with df_cache_key */
	int df_shared; /* the shared cache holds it too (d_shared) */
	struct rpc_bound_method *df_method; /* for the metrics */
	int64_t df_t0_ns; /* when the request arrived (clock_mono_ns) */
};

void rpc_call_defer(struct rpc_call *call, rpc_poll_fn fn, const void *arg, size_t arg_len)
{
	void *copy = arena_alloc(call->c_arena, arg_len);

	memcpy(copy, arg, arg_len);
	call->c_defer_fn = fn;
	call->c_defer_arg = copy;
	call->c_defer_len = arg_len;
}

int rpc_deferred_poll(struct rpc_deferred *df, void *worker, int force, uint8_t **out, size_t *out_len)
{
	struct arena a;
	ProtobufCMessage *resp;
	bbb_status st;
	int ready;

	if (!force && clock_mono_ms() >= df->df_deadline)
		force = 1;
	arena_init(&a);
	status_clear(&st);
	resp = arena_message(&a, df->df_output);
	ready = df->df_fn(df->df_arg, worker, &a, resp, force, &st);
	if (!ready && !force) {
		arena_reset(&a);
		return 0;
	}
	rpc_pack_reply(&st, df->df_trace, resp, &a, out, out_len);
	rpc_record(df->df_d, df->df_method, st.code, df->df_t0_ns);
	if (df->df_cache_key != NULL)
		rpc_cache_end(df->df_d, worker, df->df_cache_key, df->df_shared, df->df_method->bm_full,
			      df->df_request_id, 1, *out, *out_len);
	arena_reset(&a);
	return 1;
}

void rpc_deferred_free(struct rpc_deferred *df)
{
	if (df == NULL)
		return;
	free(df->df_arg);
	free(df->df_cache_key);
	free(df->df_request_id);
	free(df);
}

/* Moves a deferred call out of its arena into a rpc_deferred of its own
 * (the caller frees it with rpc_deferred_free); cache_key NULL: the reply is
 * cached by the caller, if at all. */
static struct rpc_deferred *rpc_defer_take(struct rpc_dispatcher *d, const struct rpc_call *call,
					   struct rpc_bound_method *bm, const char *cache_key, const char *request_id,
					   int shared, int64_t t0_ns)
{
	struct rpc_deferred *df = xcalloc(1, sizeof(*df));
	int64_t cap = clock_mono_ms() + RPC_DEFER_MAX_MS;

	df->df_arg = xmalloc(call->c_defer_len);
	memcpy(df->df_arg, call->c_defer_arg, call->c_defer_len);
	df->df_d = d;
	df->df_output = bm->bm_md->output;
	df->df_fn = call->c_defer_fn;
	snprintf(df->df_trace, sizeof(df->df_trace), "%s", call->c_trace_id);
	df->df_deadline = call->c_deadline_ms != 0 && call->c_deadline_ms < cap ? call->c_deadline_ms : cap;
	df->df_cache_key = cache_key != NULL ? xstrdup(cache_key) : NULL;
	df->df_request_id = cache_key != NULL ? xstrdup(request_id) : NULL;
	df->df_shared = cache_key != NULL && shared;
	df->df_method = bm;
	df->df_t0_ns = t0_ns;
	return df;
}

/* What every answered call goes through before its reply is packed: the
 * audit hooks (refusals; mutating calls whose handler wrote no audit of its
 * own) and the redaction of a mutating call's response. */
static void rpc_audit_and_redact(struct rpc_dispatcher *d, struct rpc_call *call, ProtobufCMessage *resp,
				 const bbb_status *st)
{
	if (call->c_method == NULL)
		return;
	if (st->code == BBB_UNAUTHENTICATED || st->code == BBB_PERMISSION_DENIED) {
		if (d->d_denied != NULL)
			d->d_denied(d->d_env, call, st);
		return;
	}
	if (st->code != BBB_OK || !(call->c_flags & RPC_MUTATES))
		return;
	if (resp != NULL)
		redact_message(call->c_arena, resp);
	if (!call->c_audited && d->d_allowed != NULL)
		d->d_allowed(d->d_env, call);
}

/* Each thread's arena for the calls it dispatches, kept between calls with
 * one block (arena_recycle), freed when the thread ends. */
struct rpc_thread_arena {
	struct arena ta_arena;
	int ta_busy; /* a call on this thread uses it (a nested dispatch gets its own) */
};

static pthread_key_t rpc_arena_key;
static pthread_once_t rpc_arena_once = PTHREAD_ONCE_INIT;

static void rpc_arena_free(void *arg)
{
	struct rpc_thread_arena *ta = arg;

	arena_reset(&ta->ta_arena);
	free(ta);
}

static void rpc_arena_key_make(void)
{
	if (pthread_key_create(&rpc_arena_key, rpc_arena_free) != 0)
		abort();
}

/* An empty arena for one call: the thread's own, else (nested, or the
 * thread's cannot be kept) *local, initialised. Give it back with
 * rpc_arena_give. */
static struct arena *rpc_arena_take(struct arena *local)
{
	struct rpc_thread_arena *ta;

	pthread_once(&rpc_arena_once, rpc_arena_key_make);
	ta = pthread_getspecific(rpc_arena_key);
	if (ta == NULL) {
		ta = xcalloc(1, sizeof(*ta));
		arena_init(&ta->ta_arena);
		if (pthread_setspecific(rpc_arena_key, ta) != 0) {
			free(ta);
			ta = NULL;
		}
	}
	if (ta == NULL || ta->ta_busy) {
		arena_init(local);
		return local;
	}
	ta->ta_busy = 1;
	return &ta->ta_arena;
}

/* Frees what the call allocated in a (from rpc_arena_take). */
static void rpc_arena_give(struct arena *a)
{
	struct rpc_thread_arena *ta = pthread_getspecific(rpc_arena_key);

	if (ta != NULL && a == &ta->ta_arena) {
		arena_recycle(a);
		ta->ta_busy = 0;
		return;
	}
	arena_reset(a);
}

/* After a miss of the in-memory cache for cache_key: the shared cache, when
 * there is one. 0: the call runs (*shared: the shared cache holds its id
 * too); 1: answered from it (*out, also kept in memory now); -1: the call
 * must not run, st says why, and the in-memory entry is let go. */
static int rpc_shared_begin(struct rpc_dispatcher *d, void *worker, const Beebeebrain__V1__RpcRequest *req,
			    const char *cache_key, int64_t wait_until, uint8_t **out, size_t *out_len, int *shared,
			    bbb_status *st)
{
	*shared = 0;
	if (d->d_shared == NULL)
		return 0;
	switch (d->d_shared->sr_begin(d->d_shared_arg, worker, req->method, req->request_id, wait_until, out, out_len,
				      st)) {
	case RPC_SHARED_MISS:
		*shared = 1;
		return 0;
	case RPC_SHARED_HIT:
		reply_cache_put(d->d_cache, cache_key, *out, *out_len);
		return 1;
	case RPC_SHARED_BUSY:
		status_fail(st, "OVERLOADED", "an earlier copy of request %.64s is still running on another server",
			    req->request_id);
		break;
	case RPC_SHARED_FAILED:
		if (st->code == BBB_OK)
			status_fail(st, "INTERNAL_ERROR", "the shared reply cache failed without a reason");
		break;
	}
	reply_cache_abandon(d->d_cache, cache_key);
	return -1;
}

void rpc_dispatch(struct rpc_dispatcher *d, void *worker, const uint8_t *in, size_t in_len, uint8_t **out,
		  size_t *out_len)
{
	rpc_dispatch_deferrable(d, worker, NULL, in, in_len, out, out_len, NULL);
}

static void rpc_dispatch_impl(struct rpc_dispatcher *d, void *worker, const char *peer, const uint8_t *in,
			      size_t in_len, const bbb_status *undecodable, int can_stream, uint8_t **out,
			      size_t *out_len, struct rpc_deferred **deferred);

void rpc_dispatch_deferrable(struct rpc_dispatcher *d, void *worker, const char *peer, const uint8_t *in, size_t in_len,
			     uint8_t **out, size_t *out_len, struct rpc_deferred **deferred)
{
	rpc_dispatch_impl(d, worker, peer, in, in_len, NULL, 0, out, out_len, deferred);
}

void rpc_dispatch_stream(struct rpc_dispatcher *d, void *worker, const char *peer, const uint8_t *in, size_t in_len,
			 uint8_t **out, size_t *out_len)
{
	rpc_dispatch_impl(d, worker, peer, in, in_len, NULL, 1, out, out_len, NULL);
}

void rpc_dispatch_undecodable(struct rpc_dispatcher *d, const char *peer, const uint8_t *in, size_t in_len,
			      const bbb_status *why, uint8_t **out, size_t *out_len)
{
	rpc_dispatch_impl(d, NULL, peer, in, in_len, why, 0, out, out_len, NULL);
}

/* The dispatch of one envelope; with `undecodable` set, a request that
 * passes the envelope's checks is answered with it instead of running. */
static void rpc_dispatch_impl(struct rpc_dispatcher *d, void *worker, const char *peer, const uint8_t *in,
			      size_t in_len, const bbb_status *undecodable, int can_stream, uint8_t **out,
			      size_t *out_len, struct rpc_deferred **deferred)
{
	struct arena local, *a = rpc_arena_take(&local);
	Beebeebrain__V1__RpcRequest *req;
	struct rpc_bound_method *bm = NULL;
	const struct rpc_method *impl = NULL;
	ProtobufCMessage *resp = NULL;
	struct rpc_call call = {
		.c_arena = a,
		.c_env = d->d_env,
		.c_worker = worker,
		.c_peer = peer != NULL ? peer : "",
		.c_can_stream = can_stream,
	};
	char trace[32], field[64];
	char *cache_key = NULL;
	bbb_status st;
	int packed = 0, shared = 0;
	int64_t t0_ns = clock_mono_ns();

	if (deferred != NULL)
		*deferred = NULL;
	status_clear(&st);
	/* A string cut at a NUL by the decoder would be checked as something it
	 * is not ("KEY\0junk" as the API key KEY): refuse such envelopes whole. */
	if (pbtext_check_wire(&beebeebrain__v1__rpc_request__descriptor, in, in_len, field, sizeof(field)) !=
	    PBTEXT_OK) {
		rpc_make_trace_id(trace, sizeof(trace));
		if (field[0] != '\0')
			status_fail(&st, "MALFORMED_REQUEST",
				    "request envelope field %s is not valid UTF-8 or holds a NUL", field);
		else
			status_fail(&st, "MALFORMED_REQUEST",
				    "request envelope holds more than %d fields or %d unknown ones", PBTEXT_MAX_FIELDS,
				    PBTEXT_MAX_UNKNOWN);
		rpc_pack_reply(&st, trace, NULL, a, out, out_len);
		rpc_record(d, NULL, st.code, t0_ns);
		rpc_arena_give(a);
		return;
	}
	req = beebeebrain__v1__rpc_request__unpack(&a->a_pb, in_len, in);
	if (req == NULL) {
		rpc_make_trace_id(trace, sizeof(trace));
		status_fail(&st, "MALFORMED_REQUEST", "request is not an RpcRequest envelope (%zu bytes)", in_len);
		rpc_pack_reply(&st, trace, NULL, a, out, out_len);
		rpc_record(d, NULL, st.code, t0_ns);
		rpc_arena_give(a);
		return;
	}
	if (rpc_trace_id_valid(req->trace_id)) {
		call.c_trace_id = req->trace_id;
	} else {
		rpc_make_trace_id(trace, sizeof(trace));
		call.c_trace_id = trace;
		if (req->trace_id[0] != '\0') {
			status_violation(&st, "trace_id", "must be at most 64 characters of [A-Za-z0-9._:-]");
			goto reply;
		}
	}
	call.c_method = req->method;
	if (req->timeout_ms > 0)
		call.c_deadline_ms = t0_ns / 1000000 + req->timeout_ms; /* from its arrival: t0 */

	bm = rpc_find(d, req->method);
	if (bm == NULL) {
		status_fail(&st, "UNKNOWN_METHOD", "unknown method '%.200s'", req->method);
		goto reply;
	}
	impl = bm->bm_impl;
	if (d->d_api_key != NULL && !bm->bm_svc->b_svc->s_public) {
		if (!rpc_key_matches(d->d_api_key, req->api_key)) {
			status_fail(&st, "UNAUTHORIZED", "missing or wrong API key");
			goto reply;
		}
		call.c_key_checked = 1;
	}
	if (undecodable != NULL) {
		st = *undecodable;
		goto reply;
	}
	if (impl != NULL && (impl->m_flags & RPC_MUTATES) && req->request_id[0] != '\0') {
		int64_t wait_until = call.c_deadline_ms != 0 ? call.c_deadline_ms : clock_mono_ms() + 60000;
		if (strlen(req->request_id) > 128) {
			status_violation(&st, "request_id", "must be at most 128 characters");
			goto reply;
		}
		cache_key = arena_printf(a, "%s|%s", req->method, req->request_id);
		switch (reply_cache_begin(d->d_cache, cache_key, wait_until, out, out_len)) {
		case REPLY_CACHE_HIT:
			rpc_record(d, bm, rpc_reply_code(*out, *out_len), t0_ns);
			rpc_arena_give(a);
			return;
		case REPLY_CACHE_BUSY:
			cache_key = NULL;
			status_fail(&st, "OVERLOADED", "an earlier copy of request %.64s is still running",
				    req->request_id);
			goto reply;
		case REPLY_CACHE_MISS:
			break;
		}
		switch (rpc_shared_begin(d, worker, req, cache_key, wait_until, out, out_len, &shared, &st)) {
		case 1:
			rpc_record(d, bm, rpc_reply_code(*out, *out_len), t0_ns);
			rpc_arena_give(a);
			return;
		case -1:
			cache_key = NULL;
			goto reply;
		}
	}
	rpc_run(&call, req, bm->bm_md, impl, &resp, &st);
	if (call.c_defer_fn != NULL) {
		struct rpc_deferred *df = rpc_defer_take(d, &call, bm, deferred != NULL ? cache_key : NULL,
							 req->request_id, shared, t0_ns);
		if (deferred != NULL) {
			/* The reply (and its cache entry) come from rpc_deferred_poll. */
			*deferred = df;
			*out = NULL;
			*out_len = 0;
			rpc_arena_give(a);
			return;
		} else {
			/* Nobody to keep the call waiting: answer with the state now. */
			rpc_deferred_poll(df, worker, 1, out, out_len);
			rpc_deferred_free(df);
			packed = 1;
		}
	}
	if (st.code == BBB_INTERNAL)
		log_at(LOG_ERROR, "rpc", &(struct log_ctx){.trace_id = call.c_trace_id}, "%s: %s %s", req->method,
		       st.reason, st.message);
reply:
	rpc_audit_and_redact(d, &call, packed ? NULL : resp, &st);
	if (!packed) {
		rpc_pack_reply(&st, call.c_trace_id, resp, a, out, out_len);
		/* (a call answered by rpc_deferred_poll was counted there) */
		rpc_record(d, bm, st.code, t0_ns);
	}
	if (cache_key != NULL)
		rpc_cache_end(d, worker, cache_key, shared, req->method, req->request_id, !rpc_call_did_not_run(&st),
			      *out, *out_len);
	rpc_arena_give(a);
}
