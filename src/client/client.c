/*
 * The C client library behind <beebeebrain/client.h>.
 *
 * A bbb_client is one nng req0 socket with one dialer. Every call, typed or
 * generic, ends in bbb_call(), which
 *   1. finds the method in the service's protobuf-c descriptor and checks that
 *      the request is of the method's input type (a wrong type is refused here,
 *      before anything reaches the wire);
 *   2. wraps the packed request in an RpcRequest envelope (rpc.proto) with the
 *      method's gRPC full name, timeout_ms, api_key, trace_id and request_id
 *      (the caller's from bbb_call_opts, else a fresh random one), and refuses an envelope over BBB_REQUEST_MAX_BYTES
 *      (the server would drop the connection without a word);
 *   3. sends it and waits for the reply on an nng context of its own, then
 *      copies the RpcResponse into the bbb_status and, on code 0, unpacks the
 *      payload as the method's output type.
 * The typed functions of <beebeebrain/client_api.h> are generated one-liners
 * over bbb_call() (gen_client_api.c), so no method is marshalled by hand.
 *
 * bbb_call_async() takes steps 1 and 2 the same way (client_prepare) and then
 * lets an aio callback drive step 3: send, then receive, then unpack and call
 * the caller's callback, all on nng's threads. Its per-call records (an aio and
 * a context each) are kept on a free list and reused, because an aio may not
 * be freed from its own callback; bbb_client_close frees them.
 *
 * nng 1.5.2 decisions:
 *   - REQ resend is off (NNG_OPT_REQ_RESENDTIME infinite). req0 would send a
 *     request again after 60 s, and again when its connection drops, so a
 *     call could run twice (docs/protocol.md, Request ids). A dropped connection
 *     fails the call with UNAVAILABLE instead; retrying is the caller's choice.
 *     Contexts copy the resend time when opened, so it is set before any.
 *   - One context and one aio per call, so concurrent calls on one client
 *     never share request state. Send, wait, then receive, wait (or, for an
 *     asynchronous call, start the receive from the send's callback): a send
 *     and a receive are never pending together on one context (a cancel
 *     crash).
 *   - Closing with asynchronous calls in flight refuses new ones and waits
 *     for those in flight to end (each has its deadline), then stops every
 *     aio, closes the contexts and the socket, and frees the aios. It does not
 *     cancel them: closing a req socket while a reply is arriving can hang
 *     nng_close for ever in 1.5.2 (the reaper waits for the pipe's receive,
 *     whose cancellation is lost when the transport's own receive was closed
 *     first; fixed upstream in 1.9.0), and replies to cancelled requests
 *     would be arriving right then. Waiting leaves the connection quiet.
 *   - One deadline per call, timeout_ms plus a small margin, shared by the send
 *     and the receive. A req0 send completes only when a connection takes the
 *     request, so it waits while none is up (nng redials by itself after the
 *     first dial); a send that times out sent nothing and is reported as
 *     SERVER_UNREACHABLE, a receive that times out as DEADLINE_EXCEEDED.
 *   - The first dial is synchronous, so that a server that is not there is
 *     reported by bbb_client_open at once rather than by a call's timeout.
 *
 * Memory: a response is unpacked with protobuf-c's default allocator and freed
 * by bbb_free(); everything else a call allocates is freed before it returns.
 * The settings a caller may change (timeout, trace id) sit behind c_lock and
 * are copied at the start of each call.
 */
#include <beebeebrain/client.h>

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include <beebeebrain/v1/rpc.pb-c.h>

#include "client/client_tls.h"
#include "common/xalloc.h"

#define CLIENT_DEFAULT_URL "tcp://127.0.0.1:7420"
#define CLIENT_DEFAULT_TIMEOUT_MS 30000u
/* Replies (task lists, logs) can be big; the server bounds requests itself. */
#define CLIENT_RECV_MAX ((size_t)64 << 20)
/* Waited past timeout_ms, so that the server's own DEADLINE_EXCEEDED reply
 * (sent when timeout_ms runs out there) still arrives, with its trace id. */
#define CLIENT_DEADLINE_MARGIN_MS 500
#define CLIENT_REQUEST_ID_BYTES 16
/* Trace ids are kept only as long as bbb_status can echo them. */
#define CLIENT_TRACE_ID_MAX 65 /* 64 characters, as the server accepts */

struct client_call;

struct bbb_client {
	nng_socket c_sock;
	char *c_url;
	char *c_api_key; /* NULL: none */
	pthread_mutex_t c_lock; /* guards c_timeout_ms and c_trace_id */
	uint32_t c_timeout_ms;
	char c_trace_id[CLIENT_TRACE_ID_MAX]; /* "": the server makes one */

	/* Asynchronous calls: everything below is guarded by c_async_lock. */
	pthread_mutex_t c_async_lock;
	pthread_cond_t c_async_cv; /* c_in_flight fell to 0 */
	struct client_call *c_calls; /* every record made, until close */
	struct client_call *c_free; /* the idle ones, reused first */
	unsigned c_in_flight; /* taken for a call whose callback has not returned */
	int c_closing; /* bbb_client_close has begun: no call starts */
};

/*
 * One asynchronous call in flight: an aio whose callback drives the call
 * (send, then receive, then the caller's callback) and a REQ context of its
 * own. A record outlives its call: once the caller's callback has returned it
 * goes back to c_free for the next call, aio and context included (a REQ
 * context starts afresh with every send), and it is freed only by
 * bbb_client_close, outside any callback, as nng wants aios freed.
 *
 * Fields: cc_client, cc_aio, cc_ctx and cc_next are set once when the record
 * is made. The call's fields (cc_method to cc_sent) belong to bbb_call_async
 * until it starts the send, then to the aio callback. cc_next_free is guarded
 * by c_async_lock.
 */
struct client_call {
	bbb_client *cc_client;
	nng_aio *cc_aio;
	nng_ctx cc_ctx;
	struct client_call *cc_next; /* c_calls */
	const ProtobufCMethodDescriptor *cc_method;
	bbb_call_cb cc_cb;
	void *cc_arg;
	uint64_t cc_deadline_ms; /* CLOCK_MONOTONIC, send and receive together */
	uint32_t cc_timeout_ms;
	int cc_sent; /* the send completed: the aio now carries the receive */
	struct client_call *cc_next_free; /* c_free */
};

/* Set while this thread runs a caller's callback: the contracts of
 * bbb_client_drain and bbb_client_close forbid them there (a deadlock). */
static _Thread_local int client_in_callback;

/* What one call uses: the client's changeable settings, copied under c_lock,
 * with the call's own options over them. */
struct client_settings {
	uint32_t cs_timeout_ms;
	char cs_trace_id[CLIENT_TRACE_ID_MAX];
	char cs_request_id[BBB_REQUEST_ID_MAX + 1]; /* "": make a fresh one */
};

int bbb_status_unreachable(const bbb_status *st)
{
	return st != NULL && st->code == BBB_UNAVAILABLE && strcmp(st->reason, "SERVER_UNREACHABLE") == 0;
}

void bbb_free(void *resp)
{
	if (resp != NULL)
		protobuf_c_message_free_unpacked(resp, NULL);
}

static void client_status_reset(bbb_status *st)
{
	st->code = BBB_OK;
	st->reason[0] = '\0';
	st->message[0] = '\0';
	st->trace_id[0] = '\0';
	st->n_violations = 0;
}

/* Sets a locally made failure; keeps a trace id already copied from a reply.
 * Returns -1. */
static int client_fail(bbb_status *st, int code, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int client_fail(bbb_status *st, int code, const char *reason, const char *fmt, ...)
{
	va_list ap;

	st->code = code;
	snprintf(st->reason, sizeof(st->reason), "%s", reason);
	va_start(ap, fmt);
	vsnprintf(st->message, sizeof(st->message), fmt, ap);
	va_end(ap);
	return -1;
}

/* An nng failure while talking to the server, as client.h promises: waiting
 * too long for the reply is DEADLINE_EXCEEDED; anything else, including
 * waiting too long for a connection to send on, is SERVER_UNREACHABLE. */
static int client_fail_nng(const bbb_client *c, bbb_status *st, int rv, int sent, uint32_t timeout_ms)
{
	if (rv == NNG_ETIMEDOUT && sent)
		return client_fail(st, BBB_DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED", "call to %s: no reply within %u ms",
				   c->c_url, (unsigned)timeout_ms);
	if (rv == NNG_ETIMEDOUT)
		return client_fail(st, BBB_UNAVAILABLE, "SERVER_UNREACHABLE",
				   "call to %s: no connection within %u ms (the request was not sent)", c->c_url,
				   (unsigned)timeout_ms);
	return client_fail(st, BBB_UNAVAILABLE, "SERVER_UNREACHABLE", "call to %s: %s", c->c_url, nng_strerror(rv));
}

/* An environment variable, NULL when unset or empty. */
static const char *client_env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

static void client_async_stop(bbb_client *c);
static void client_async_free(bbb_client *c);

/* nng 1.5 order: stop every aio and close the contexts (client_async_stop),
 * close the socket, then free the aios. */
static void client_destroy(bbb_client *c)
{
	client_async_stop(c);
	if (nng_socket_id(c->c_sock) > 0)
		nng_close(c->c_sock);
	client_async_free(c);
	pthread_cond_destroy(&c->c_async_cv);
	pthread_mutex_destroy(&c->c_async_lock);
	pthread_mutex_destroy(&c->c_lock);
	free(c->c_url);
	free(c->c_api_key);
	free(c);
}

/* Opens the req socket (resend off) and dials c_url once, synchronously. */
static int client_connect(bbb_client *c, bbb_status *st)
{
	nng_dialer d;
	char why[256];
	int rv;

	if ((rv = nng_req0_open(&c->c_sock)) != 0)
		return client_fail(st, BBB_INTERNAL, "INTERNAL_ERROR", "nng_req0_open: %s", nng_strerror(rv));
	rv = nng_socket_set_ms(c->c_sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	if (rv != 0)
		return client_fail(st, BBB_INTERNAL, "INTERNAL_ERROR", "turning REQ resend off: %s", nng_strerror(rv));
	/* A bad URL is reported like an absent server: either way there is
	 * nobody to talk to, and the message names the URL and the cause. */
	if ((rv = nng_dialer_create(&d, c->c_sock, c->c_url)) != 0)
		return client_fail(st, BBB_UNAVAILABLE, "SERVER_UNREACHABLE", "cannot reach %s: %s", c->c_url,
				   nng_strerror(rv));
	if ((rv = nng_dialer_set_size(d, NNG_OPT_RECVMAXSZ, CLIENT_RECV_MAX)) != 0)
		return client_fail(st, BBB_INTERNAL, "INTERNAL_ERROR", "setting the reply size limit: %s",
				   nng_strerror(rv));
	if (client_tls_dialer(d, c->c_url, why, sizeof(why)) != 0)
		return client_fail(st, BBB_UNAVAILABLE, "SERVER_UNREACHABLE", "cannot reach %s: %s", c->c_url, why);
	if ((rv = nng_dialer_start(d, 0)) != 0)
		return client_fail(st, BBB_UNAVAILABLE, "SERVER_UNREACHABLE", "cannot reach %s: %s", c->c_url,
				   nng_strerror(rv));
	return 0;
}

/* c's mutexes and condition variable; -1 (none left made) on failure. */
static int client_locks_init(bbb_client *c)
{
	if (pthread_mutex_init(&c->c_lock, NULL) != 0)
		return -1;
	if (pthread_mutex_init(&c->c_async_lock, NULL) != 0)
		goto fail_lock;
	if (pthread_cond_init(&c->c_async_cv, NULL) != 0)
		goto fail_async_lock;
	return 0;
fail_async_lock:
	pthread_mutex_destroy(&c->c_async_lock);
fail_lock:
	pthread_mutex_destroy(&c->c_lock);
	return -1;
}

bbb_client *bbb_client_open(const struct bbb_client_options *opts, bbb_status *st)
{
	bbb_status scratch;
	bbb_client *c;
	const char *url = opts != NULL ? opts->url : NULL;
	const char *key = opts != NULL ? opts->api_key : NULL;

	if (st == NULL)
		st = &scratch;
	client_status_reset(st);
	if (url == NULL || url[0] == '\0')
		url = client_env("BEEBEEBRAIN_RPC_URL");
	if (url == NULL)
		url = CLIENT_DEFAULT_URL;
	if (key == NULL)
		key = client_env("BEEBEEBRAIN_API_KEY");

	c = xcalloc(1, sizeof(*c));
	if (client_locks_init(c) != 0) {
		free(c);
		client_fail(st, BBB_INTERNAL, "INTERNAL_ERROR", "pthread_mutex_init or pthread_cond_init failed");
		return NULL;
	}
	c->c_timeout_ms = opts != NULL && opts->timeout_ms > 0 ? opts->timeout_ms : CLIENT_DEFAULT_TIMEOUT_MS;
	c->c_url = xstrdup(url);
	c->c_api_key = key != NULL && key[0] != '\0' ? xstrdup(key) : NULL;
	if (client_connect(c, st) != 0)
		goto fail;
	return c;

fail:
	client_destroy(c);
	return NULL;
}

void bbb_client_close(bbb_client *c)
{
	assert(!client_in_callback);
	if (c != NULL)
		client_destroy(c);
}

void bbb_client_set_timeout(bbb_client *c, uint32_t timeout_ms)
{
	pthread_mutex_lock(&c->c_lock);
	c->c_timeout_ms = timeout_ms > 0 ? timeout_ms : CLIENT_DEFAULT_TIMEOUT_MS;
	pthread_mutex_unlock(&c->c_lock);
}

void bbb_client_set_trace_id(bbb_client *c, const char *trace_id)
{
	pthread_mutex_lock(&c->c_lock);
	snprintf(c->c_trace_id, sizeof(c->c_trace_id), "%s", trace_id != NULL ? trace_id : "");
	pthread_mutex_unlock(&c->c_lock);
}

/* The settings of one call: the client's, then opts (may be NULL) over them.
 * A request_id too long for the server is refused here, with the violation
 * the server would give, rather than cut: a cut id could match another. */
static int client_settings_copy(bbb_client *c, const bbb_call_opts *opts, struct client_settings *cs, bbb_status *st)
{
	pthread_mutex_lock(&c->c_lock);
	cs->cs_timeout_ms = c->c_timeout_ms;
	memcpy(cs->cs_trace_id, c->c_trace_id, sizeof(cs->cs_trace_id));
	pthread_mutex_unlock(&c->c_lock);
	cs->cs_request_id[0] = '\0';
	if (opts == NULL)
		return 0;
	if (opts->timeout_ms > 0)
		cs->cs_timeout_ms = opts->timeout_ms;
	if (opts->trace_id != NULL)
		snprintf(cs->cs_trace_id, sizeof(cs->cs_trace_id), "%s", opts->trace_id);
	if (opts->request_id != NULL) {
		if (strlen(opts->request_id) > BBB_REQUEST_ID_MAX) {
			client_fail(st, BBB_INVALID_ARGUMENT, "VALIDATION_ERROR", "request_id is over %d characters",
				    BBB_REQUEST_ID_MAX);
			snprintf(st->violations[0].field, sizeof(st->violations[0].field), "request_id");
			snprintf(st->violations[0].description, sizeof(st->violations[0].description),
				 "must be at most %d characters", BBB_REQUEST_ID_MAX);
			st->n_violations = 1;
			return -1;
		}
		memcpy(cs->cs_request_id, opts->request_id, strlen(opts->request_id) + 1);
	}
	return 0;
}

static int client_urandom(unsigned char *buf, size_t n)
{
	ssize_t got;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	got = read(fd, buf, n);
	close(fd);
	return got == (ssize_t)n ? 0 : -1;
}

/* A fresh request_id: 32 lower-case hex digits from the kernel's CSPRNG.
 * Collisions must not happen (the server answers a repeated id from its
 * reply cache), so there is no weak fallback: no randomness, no call. */
int bbb_request_id_new(char out[BBB_REQUEST_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[CLIENT_REQUEST_ID_BYTES];

	_Static_assert(2 * CLIENT_REQUEST_ID_BYTES == BBB_REQUEST_ID_LEN, "request id length");
	out[0] = '\0';
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw) && client_urandom(raw, sizeof(raw)) != 0)
		return -1;
	for (size_t i = 0; i < sizeof(raw); i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 0xf];
	}
	out[2 * sizeof(raw)] = '\0';
	return 0;
}

/* Builds the request message: req packed into an RpcRequest for method m of
 * service. On success *out is an nng message owned by the caller. */
static int client_pack_request(const bbb_client *c, const ProtobufCServiceDescriptor *service,
			       const ProtobufCMethodDescriptor *m, const ProtobufCMessage *req,
			       struct client_settings *cs, nng_msg **out, bbb_status *st)
{
	Beebeebrain__V1__RpcRequest env = BEEBEEBRAIN__V1__RPC_REQUEST__INIT;
	char full_name[512], request_id[BBB_REQUEST_ID_LEN + 1];
	uint8_t *payload;
	size_t len;
	nng_msg *msg;
	int rv;

	*out = NULL;
	if ((size_t)snprintf(full_name, sizeof(full_name), "/%s/%s", service->name, m->name) >= sizeof(full_name))
		return client_fail(st, BBB_INVALID_ARGUMENT, "MALFORMED_REQUEST", "method name too long: %s", m->name);
	if (cs->cs_request_id[0] == '\0' && bbb_request_id_new(request_id) != 0)
		return client_fail(st, BBB_INTERNAL, "INTERNAL_ERROR", "no randomness for a request_id: %s",
				   strerror(errno));

	len = protobuf_c_message_get_packed_size(req);
	payload = xmalloc(len > 0 ? len : 1);
	protobuf_c_message_pack(req, payload);

	env.method = full_name;
	env.payload.data = payload;
	env.payload.len = len;
	env.timeout_ms = cs->cs_timeout_ms;
	if (c->c_api_key != NULL)
		env.api_key = c->c_api_key;
	if (cs->cs_trace_id[0] != '\0')
		env.trace_id = cs->cs_trace_id;
	env.request_id = cs->cs_request_id[0] != '\0' ? cs->cs_request_id : request_id;

	len = protobuf_c_message_get_packed_size(&env.base);
	if (len > BBB_REQUEST_MAX_BYTES) {
		free(payload);
		return client_fail(st, BBB_RESOURCE_EXHAUSTED, "MESSAGE_TOO_LARGE",
				   "the request to /%s/%s is %zu bytes, over the %zu bytes a server accepts",
				   service->name, m->name, len, BBB_REQUEST_MAX_BYTES);
	}
	if ((rv = nng_msg_alloc(&msg, len)) != 0) {
		free(payload);
		return client_fail(st, BBB_INTERNAL, "INTERNAL_ERROR", "nng_msg_alloc(%zu): %s", len, nng_strerror(rv));
	}
	protobuf_c_message_pack(&env.base, nng_msg_body(msg));
	free(payload);
	*out = msg;
	return 0;
}

static uint64_t client_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Milliseconds left until deadline as an aio timeout: at least 1 (0 would
 * mean "fail unless already done"), at most what nng_duration holds. */
static nng_duration client_left_ms(uint64_t deadline)
{
	uint64_t now = client_now_ms();

	if (now >= deadline)
		return 1;
	return deadline - now > INT32_MAX ? INT32_MAX : (nng_duration)(deadline - now);
}

/* Sends msg (always consumed) and waits for the reply on a context of its own.
 * On success *reply is the reply message, owned by the caller. */
static int client_exchange(bbb_client *c, nng_msg *msg, uint32_t timeout_ms, nng_msg **reply, bbb_status *st)
{
	uint64_t deadline = client_now_ms() + timeout_ms + CLIENT_DEADLINE_MARGIN_MS;
	nng_aio *aio;
	nng_ctx ctx;
	int rv, sent = 0;

	*reply = NULL;
	if ((rv = nng_aio_alloc(&aio, NULL, NULL)) != 0) {
		nng_msg_free(msg);
		return client_fail(st, BBB_INTERNAL, "INTERNAL_ERROR", "nng_aio_alloc: %s", nng_strerror(rv));
	}
	if ((rv = nng_ctx_open(&ctx, c->c_sock)) != 0) {
		nng_msg_free(msg);
		nng_aio_free(aio);
		return client_fail_nng(c, st, rv, 0, timeout_ms);
	}

	nng_aio_set_timeout(aio, client_left_ms(deadline));
	nng_aio_set_msg(aio, msg);
	nng_ctx_send(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0) {
		/* A failed send leaves the message with us. req0 completes a
		 * send only once a connection has taken the request, so a send
		 * that timed out waited for a connection and sent nothing. */
		nng_msg_free(nng_aio_get_msg(aio));
		goto done;
	}
	sent = 1;

	nng_aio_set_timeout(aio, client_left_ms(deadline));
	nng_ctx_recv(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) == 0)
		*reply = nng_aio_get_msg(aio);

done:
	/* The aio is idle here; stop anyway before closing, as nng 1.5 wants. */
	nng_aio_stop(aio);
	nng_ctx_close(ctx);
	nng_aio_free(aio);
	if (rv != 0)
		return client_fail_nng(c, st, rv, sent, timeout_ms);
	return 0;
}

static void client_copy_violations(bbb_status *st, const Beebeebrain__V1__RpcResponse *env)
{
	size_t n = env->n_violations < BBB_MAX_VIOLATIONS ? env->n_violations : BBB_MAX_VIOLATIONS;

	for (size_t i = 0; i < n; i++) {
		struct bbb_violation *v = &st->violations[i];

		snprintf(v->field, sizeof(v->field), "%s", env->violations[i]->field);
		snprintf(v->description, sizeof(v->description), "%s", env->violations[i]->description);
	}
	st->n_violations = (int)n;
}

/* Copies the RpcResponse in reply into *st and, on code 0, unpacks its payload
 * as m's output type into *resp. */
static int client_unpack_reply(const bbb_client *c, nng_msg *reply, const ProtobufCMethodDescriptor *m,
			       ProtobufCMessage **resp, bbb_status *st)
{
	Beebeebrain__V1__RpcResponse *env;
	int rv = -1;

	env = beebeebrain__v1__rpc_response__unpack(NULL, nng_msg_len(reply), nng_msg_body(reply));
	if (env == NULL)
		return client_fail(st, BBB_INTERNAL, "MALFORMED_RESPONSE",
				   "the reply from %s to %s is not an RpcResponse (%zu bytes)", c->c_url, m->name,
				   nng_msg_len(reply));

	st->code = env->code;
	snprintf(st->reason, sizeof(st->reason), "%s", env->reason);
	snprintf(st->message, sizeof(st->message), "%s", env->message);
	snprintf(st->trace_id, sizeof(st->trace_id), "%s", env->trace_id);
	client_copy_violations(st, env);
	if (env->code != BBB_OK)
		goto out;

	*resp = protobuf_c_message_unpack(m->output, NULL, env->payload.len, env->payload.data);
	if (*resp == NULL) {
		client_fail(st, BBB_INTERNAL, "MALFORMED_RESPONSE",
			    "the payload from %s for %s is not a %s (%zu bytes)", c->c_url, m->name, m->output->name,
			    env->payload.len);
		goto out;
	}
	rv = 0;
out:
	protobuf_c_message_free_unpacked(&env->base, NULL);
	return rv;
}

/* The steps every call takes before anything reaches the wire, synchronous or
 * not: find `method` in `service`, check that req is of its input type, copy
 * the settings (opts over the client's) and pack the envelope. On success *m
 * is the method, *cs its settings and *msg the request, owned by the caller. */
static int client_prepare(bbb_client *c, const ProtobufCServiceDescriptor *service, const char *method,
			  const ProtobufCMessage *req, const bbb_call_opts *opts, const ProtobufCMethodDescriptor **m,
			  struct client_settings *cs, nng_msg **msg, bbb_status *st)
{
	memset(cs, 0, sizeof(*cs));
	*msg = NULL;
	*m = protobuf_c_service_descriptor_get_method_by_name(service, method);
	if (*m == NULL)
		return client_fail(st, BBB_UNIMPLEMENTED, "UNKNOWN_METHOD", "%s has no method %s", service->name,
				   method);
	if (req == NULL || req->descriptor != (*m)->input)
		return client_fail(st, BBB_INVALID_ARGUMENT, "MALFORMED_REQUEST", "/%s/%s takes a %s, not a %s",
				   service->name, (*m)->name, (*m)->input->name,
				   req != NULL ? req->descriptor->name : "NULL request");
	if (client_settings_copy(c, opts, cs, st) != 0)
		return -1;
	return client_pack_request(c, service, *m, req, cs, msg, st);
}

int bbb_call(bbb_client *c, const ProtobufCServiceDescriptor *service, const char *method, const ProtobufCMessage *req,
	     ProtobufCMessage **resp, bbb_status *st)
{
	return bbb_call_ex(c, service, method, req, resp, NULL, st);
}

int bbb_call_ex(bbb_client *c, const ProtobufCServiceDescriptor *service, const char *method,
		const ProtobufCMessage *req, ProtobufCMessage **resp, const bbb_call_opts *opts, bbb_status *st)
{
	const ProtobufCMethodDescriptor *m;
	struct client_settings cs;
	bbb_status scratch;
	nng_msg *msg, *reply;
	int rv;

	if (st == NULL)
		st = &scratch;
	client_status_reset(st);
	if (resp != NULL)
		*resp = NULL;
	if (c == NULL || service == NULL || method == NULL || resp == NULL)
		return client_fail(st, BBB_INVALID_ARGUMENT, "MALFORMED_REQUEST",
				   "bbb_call_ex needs a client, a service, a method and a place for the response");
	if (client_prepare(c, service, method, req, opts, &m, &cs, &msg, st) != 0)
		return -1;
	if (client_exchange(c, msg, cs.cs_timeout_ms, &reply, st) != 0)
		return -1;
	rv = client_unpack_reply(c, reply, m, resp, st);
	nng_msg_free(reply);
	return rv;
}

/* ---- asynchronous calls ------------------------------------------------ */

/* Ends cc's call: turns the aio's outcome rv into a status (and a response),
 * runs the caller's callback, and puts the record back on c_free. The last
 * thing done with cc: once it is on c_free another thread may take it. */
static void client_call_end(struct client_call *cc, int rv)
{
	bbb_client *c = cc->cc_client;
	nng_msg *msg = nng_aio_get_msg(cc->cc_aio);
	ProtobufCMessage *resp = NULL;
	bbb_status st;

	/* A reply, or after a failed send the request given back. */
	nng_aio_set_msg(cc->cc_aio, NULL);
	client_status_reset(&st);
	if (rv == 0)
		client_unpack_reply(c, msg, cc->cc_method, &resp, &st);
	else
		client_fail_nng(c, &st, rv, cc->cc_sent, cc->cc_timeout_ms);
	if (msg != NULL)
		nng_msg_free(msg);

	client_in_callback = 1;
	cc->cc_cb(cc->cc_arg, &st, resp);
	client_in_callback = 0;

	pthread_mutex_lock(&c->c_async_lock);
	cc->cc_next_free = c->c_free;
	c->c_free = cc;
	if (--c->c_in_flight == 0)
		pthread_cond_broadcast(&c->c_async_cv);
	pthread_mutex_unlock(&c->c_async_lock);
}

/* The aio callback, on an nng thread: the send completed (start the receive)
 * or the call is over. The receive starts only once the send is done: a send
 * and a receive are never pending together on one REQ context. */
static void client_call_cb(void *arg)
{
	struct client_call *cc = arg;
	int rv = nng_aio_result(cc->cc_aio);

	if (rv == 0 && !cc->cc_sent) {
		cc->cc_sent = 1;
		nng_aio_set_timeout(cc->cc_aio, client_left_ms(cc->cc_deadline_ms));
		nng_ctx_recv(cc->cc_ctx, cc->cc_aio);
		return;
	}
	client_call_end(cc, rv);
}

/* A new record on c's socket, or NULL with *st filled. */
static struct client_call *client_call_new(bbb_client *c, uint32_t timeout_ms, bbb_status *st)
{
	struct client_call *cc = xcalloc(1, sizeof(*cc));
	int rv;

	cc->cc_client = c;
	if ((rv = nng_aio_alloc(&cc->cc_aio, client_call_cb, cc)) != 0) {
		free(cc);
		client_fail(st, BBB_INTERNAL, "INTERNAL_ERROR", "nng_aio_alloc: %s", nng_strerror(rv));
		return NULL;
	}
	if ((rv = nng_ctx_open(&cc->cc_ctx, c->c_sock)) != 0) {
		nng_aio_free(cc->cc_aio);
		free(cc);
		client_fail_nng(c, st, rv, 0, timeout_ms);
		return NULL;
	}
	return cc;
}

/* A record for a new call: an idle one, else a new one. Counts the call in
 * flight; NULL with *st filled when c is closing or nng fails. */
static struct client_call *client_call_take(bbb_client *c, uint32_t timeout_ms, bbb_status *st)
{
	struct client_call *cc;

	pthread_mutex_lock(&c->c_async_lock);
	if (c->c_closing) {
		pthread_mutex_unlock(&c->c_async_lock);
		client_fail(st, BBB_CANCELLED, "CLIENT_CLOSED", "call to %s: the client is being closed", c->c_url);
		return NULL;
	}
	if ((cc = c->c_free) != NULL)
		c->c_free = cc->cc_next_free;
	c->c_in_flight++;
	pthread_mutex_unlock(&c->c_async_lock);
	if (cc != NULL)
		return cc;

	cc = client_call_new(c, timeout_ms, st);
	pthread_mutex_lock(&c->c_async_lock);
	if (cc != NULL) {
		/* Known to close from now on: it walks c_calls only once
		 * c_in_flight, which counts this call, has fallen to 0. */
		cc->cc_next = c->c_calls;
		c->c_calls = cc;
	} else if (--c->c_in_flight == 0) {
		pthread_cond_broadcast(&c->c_async_cv);
	}
	pthread_mutex_unlock(&c->c_async_lock);
	return cc;
}

int bbb_call_async(bbb_client *c, const ProtobufCServiceDescriptor *service, const char *method,
		   const ProtobufCMessage *req, const bbb_call_opts *opts, bbb_call_cb cb, void *arg, bbb_status *st)
{
	const ProtobufCMethodDescriptor *m;
	struct client_settings cs;
	struct client_call *cc;
	bbb_status scratch;
	nng_msg *msg;

	if (st == NULL)
		st = &scratch;
	client_status_reset(st);
	if (c == NULL || service == NULL || method == NULL || cb == NULL)
		return client_fail(st, BBB_INVALID_ARGUMENT, "MALFORMED_REQUEST",
				   "bbb_call_async needs a client, a service, a method and a callback");
	if (client_prepare(c, service, method, req, opts, &m, &cs, &msg, st) != 0)
		return -1;
	if ((cc = client_call_take(c, cs.cs_timeout_ms, st)) == NULL) {
		nng_msg_free(msg);
		return -1;
	}
	cc->cc_method = m;
	cc->cc_cb = cb;
	cc->cc_arg = arg;
	cc->cc_timeout_ms = cs.cs_timeout_ms;
	cc->cc_deadline_ms = client_now_ms() + cs.cs_timeout_ms + CLIENT_DEADLINE_MARGIN_MS;
	cc->cc_sent = 0;
	nng_aio_set_timeout(cc->cc_aio, client_left_ms(cc->cc_deadline_ms));
	nng_aio_set_msg(cc->cc_aio, msg);
	/* From here the record is the callback's: it may already be back on
	 * c_free, so cc is not touched again. */
	nng_ctx_send(cc->cc_ctx, cc->cc_aio);
	return 0;
}

void bbb_client_drain(bbb_client *c)
{
	assert(!client_in_callback);
	pthread_mutex_lock(&c->c_async_lock);
	while (c->c_in_flight > 0)
		pthread_cond_wait(&c->c_async_cv, &c->c_async_lock);
	pthread_mutex_unlock(&c->c_async_lock);
}

/* The first half of closing: no call starts any more, every call in flight
 * ends (answered, or failed at its deadline) and its callback returns; then
 * every aio is stopped (none has an operation left) and every context
 * closed. */
static void client_async_stop(bbb_client *c)
{
	pthread_mutex_lock(&c->c_async_lock);
	c->c_closing = 1;
	while (c->c_in_flight > 0)
		pthread_cond_wait(&c->c_async_cv, &c->c_async_lock);
	pthread_mutex_unlock(&c->c_async_lock);

	/* c_calls no longer changes. A callback may still be returning:
	 * nng_aio_stop waits for it. */
	for (struct client_call *cc = c->c_calls; cc != NULL; cc = cc->cc_next)
		nng_aio_stop(cc->cc_aio);
	for (struct client_call *cc = c->c_calls; cc != NULL; cc = cc->cc_next)
		nng_ctx_close(cc->cc_ctx);
}

/* The second half, after the socket is closed: free the records. */
static void client_async_free(bbb_client *c)
{
	struct client_call *cc = c->c_calls, *next;

	for (; cc != NULL; cc = next) {
		next = cc->cc_next;
		nng_aio_free(cc->cc_aio);
		free(cc);
	}
	c->c_calls = NULL;
	c->c_free = NULL;
}
