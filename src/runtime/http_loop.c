/*
 * One thread, one libcurl multi handle, every provider call (contract and
 * threading rules in http_loop.h).
 *
 * Cross-thread traffic is two queues under l_mu: calls submitted and ids to
 * cancel. Other threads only ever append to them and poke curl_multi_wakeup
 * (while still holding l_mu, so that no wakeup can reach a multi handle that
 * http_loop_stop has already cleaned up: stop sets l_stopping under l_mu);
 * the loop thread takes both queues at the top of each turn, so the multi
 * handle, the easy handles and the list of active calls are touched by the
 * loop thread alone and need no lock. Submissions are taken before cancels
 * in the same turn, so a cancel always finds a call submitted before it.
 *
 * A turn:  take queues -> add new calls -> apply cancels -> curl_multi_perform
 *          -> finish completed calls -> curl_multi_poll (sleeps until a socket
 *          is ready, a curl timer fires, or a wakeup; at most 1 s).
 * Stop:    the stopping flag is read together with the queues, so no call can
 *          slip in after the last turn; every call left is called back as
 *          cancelled before the thread ends.
 */
#include "runtime/http_loop.h"

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "common/status.h"
#include "common/xalloc.h"

#define HTTP_DEFAULT_TIMEOUT_MS 90000L
#define HTTP_DEFAULT_MAX_RESPONSE (8u * 1024 * 1024)
#define HTTP_POLL_MS 1000

struct http_call {
	uint64_t c_id;
	CURL *c_easy;
	struct curl_slist *c_headers;
	char *c_url;
	char *c_body; /* NULL for GET */
	size_t c_body_len;
	size_t c_max_response;
	http_done_fn c_done;
	void *c_arg;
	char *c_resp; /* the response body as it arrives */
	size_t c_resp_len;
	size_t c_resp_cap;
	char *c_retry_after;
	int c_too_large;
	int64_t c_added_ms;
	char c_errbuf[CURL_ERROR_SIZE];
	struct http_call *c_next; /* submit queue, then the active list */
	struct http_call *c_prev; /* active list only */
};

struct http_loop {
	CURLM *l_multi;
	pthread_t l_thread;
	pthread_mutex_t l_mu;
	/* under l_mu */
	struct http_call *l_queue_head;
	struct http_call *l_queue_tail;
	uint64_t *l_cancels;
	size_t l_n_cancels;
	size_t l_cap_cancels;
	int l_stopping;
	uint64_t l_next_id;
	/* loop thread only */
	struct http_call *l_active;
	/* any thread */
	atomic_size_t l_pending;
	char l_user_agent[128];
};

static pthread_once_t http_global_once = PTHREAD_ONCE_INIT;
static CURLcode http_global_rc;

static void http_global_init(void)
{
	http_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

const char *http_outcome_name(enum http_outcome o)
{
	switch (o) {
	case HTTP_OUTCOME_OK:
		return "ok";
	case HTTP_OUTCOME_TIMEOUT:
		return "timeout";
	case HTTP_OUTCOME_CONNECTION_FAILED:
		return "connection_failed";
	case HTTP_OUTCOME_CANCELLED:
		return "cancelled";
	case HTTP_OUTCOME_TOO_LARGE:
		return "too_large";
	case HTTP_OUTCOME_LOCAL_ERROR:
		return "local_error";
	}
	return "unknown";
}

/* ---- one call */

static void http_call_free(struct http_call *c)
{
	if (c->c_easy != NULL)
		curl_easy_cleanup(c->c_easy);
	curl_slist_free_all(c->c_headers);
	free(c->c_url);
	free(c->c_body);
	free(c->c_resp);
	free(c->c_retry_after);
	free(c);
}

static size_t http_on_body(char *data, size_t size, size_t nmemb, void *userp)
{
	struct http_call *c = userp;
	size_t n = size * nmemb;

	if (c->c_resp_len + n > c->c_max_response) {
		c->c_too_large = 1;
		return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
	}
	if (c->c_resp_len + n + 1 > c->c_resp_cap) {
		size_t cap = c->c_resp_cap > 0 ? c->c_resp_cap : 4096;
		char *grown;

		while (cap < c->c_resp_len + n + 1)
			cap *= 2;
		grown = xrealloc(c->c_resp, cap);
		c->c_resp = grown;
		c->c_resp_cap = cap;
	}
	memcpy(c->c_resp + c->c_resp_len, data, n);
	c->c_resp_len += n;
	c->c_resp[c->c_resp_len] = '\0';
	return n;
}

static size_t http_on_header(char *line, size_t size, size_t nmemb, void *userp)
{
	static const char name[] = "retry-after:";
	struct http_call *c = userp;
	size_t n = size * nmemb, k = sizeof(name) - 1;

	if (n > k && strncasecmp(line, name, k) == 0) {
		const char *v = line + k;
		size_t len = n - k;

		while (len > 0 && (*v == ' ' || *v == '\t')) {
			v++;
			len--;
		}
		while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
			len--;
		free(c->c_retry_after);
		c->c_retry_after = xstrndup(v, len);
	}
	return n;
}

/* A ready-to-add call: the request copied, the easy handle set up. */
static struct http_call *http_call_new(const struct http_loop *loop, const struct http_request *req, bbb_status *st)
{
	struct http_call *c = xcalloc(1, sizeof(*c));
	long timeout = req->timeout_ms > 0 ? req->timeout_ms : HTTP_DEFAULT_TIMEOUT_MS;
	struct curl_slist *h;

	c->c_max_response = req->max_response_bytes > 0 ? req->max_response_bytes : HTTP_DEFAULT_MAX_RESPONSE;
	c->c_url = xstrdup(req->url);
	c->c_easy = curl_easy_init();
	if (c->c_easy == NULL)
		goto oom;
	if (req->body != NULL) {
		c->c_body = xmalloc(req->body_len + 1);
		memcpy(c->c_body, req->body, req->body_len);
		c->c_body[req->body_len] = '\0';
		c->c_body_len = req->body_len;
	}
	for (size_t i = 0; i < req->n_headers; i++) {
		if ((h = curl_slist_append(c->c_headers, req->headers[i])) == NULL)
			goto oom;
		c->c_headers = h;
	}
	/* No "Expect: 100-continue" round trip before large bodies. */
	if ((h = curl_slist_append(c->c_headers, "Expect:")) == NULL)
		goto oom;
	c->c_headers = h;

	curl_easy_setopt(c->c_easy, CURLOPT_URL, c->c_url);
	curl_easy_setopt(c->c_easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->c_easy, CURLOPT_HTTPHEADER, c->c_headers);
	if (c->c_body != NULL) {
		curl_easy_setopt(c->c_easy, CURLOPT_POST, 1L);
		curl_easy_setopt(c->c_easy, CURLOPT_POSTFIELDS, c->c_body);
		curl_easy_setopt(c->c_easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->c_body_len);
	}
	if (req->fresh_connection) {
		curl_easy_setopt(c->c_easy, CURLOPT_FRESH_CONNECT, 1L);
		curl_easy_setopt(c->c_easy, CURLOPT_FORBID_REUSE, 1L);
	}
	curl_easy_setopt(c->c_easy, CURLOPT_TIMEOUT_MS, timeout);
	curl_easy_setopt(c->c_easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->c_easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c->c_easy, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(c->c_easy, CURLOPT_USERAGENT, loop->l_user_agent);
	curl_easy_setopt(c->c_easy, CURLOPT_WRITEFUNCTION, http_on_body);
	curl_easy_setopt(c->c_easy, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->c_easy, CURLOPT_HEADERFUNCTION, http_on_header);
	curl_easy_setopt(c->c_easy, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(c->c_easy, CURLOPT_ERRORBUFFER, c->c_errbuf);
	curl_easy_setopt(c->c_easy, CURLOPT_PRIVATE, c);
	return c;
oom:
	if (c != NULL)
		http_call_free(c);
	status_fail(st, "INTERNAL_ERROR", "http loop: out of memory");
	return NULL;
}

static enum http_outcome http_outcome_of(const struct http_call *c, CURLcode rc)
{
	switch (rc) {
	case CURLE_OK:
		return HTTP_OUTCOME_OK;
	case CURLE_OPERATION_TIMEDOUT:
		return HTTP_OUTCOME_TIMEOUT;
	case CURLE_WRITE_ERROR:
		return c->c_too_large ? HTTP_OUTCOME_TOO_LARGE : HTTP_OUTCOME_LOCAL_ERROR;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_OUT_OF_MEMORY:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_FAILED_INIT:
	case CURLE_NOT_BUILT_IN:
		return HTTP_OUTCOME_LOCAL_ERROR;
	default:
		return HTTP_OUTCOME_CONNECTION_FAILED;
	}
}

/* ---- the loop thread */

static void http_active_link(struct http_loop *loop, struct http_call *c)
{
	c->c_prev = NULL;
	c->c_next = loop->l_active;
	if (loop->l_active != NULL)
		loop->l_active->c_prev = c;
	loop->l_active = c;
}

static void http_active_unlink(struct http_loop *loop, struct http_call *c)
{
	if (c->c_prev != NULL)
		c->c_prev->c_next = c->c_next;
	else
		loop->l_active = c->c_next;
	if (c->c_next != NULL)
		c->c_next->c_prev = c->c_prev;
	c->c_next = c->c_prev = NULL;
}

/* Ends an active call: out of the multi handle, callback, freed. */
static void http_finish(struct http_loop *loop, struct http_call *c, enum http_outcome outcome, const char *error)
{
	struct http_response r = {
		.id = c->c_id,
		.outcome = outcome,
		.body = c->c_resp != NULL ? c->c_resp : "",
		.body_len = c->c_resp_len,
		.retry_after = c->c_retry_after,
		.error = outcome == HTTP_OUTCOME_OK ? "" : error,
		.elapsed_ms = clock_mono_ms() - c->c_added_ms,
	};

	http_active_unlink(loop, c);
	curl_multi_remove_handle(loop->l_multi, c->c_easy);
	if (outcome == HTTP_OUTCOME_OK)
		curl_easy_getinfo(c->c_easy, CURLINFO_RESPONSE_CODE, &r.status);
	c->c_done(&r, c->c_arg);
	atomic_fetch_sub(&loop->l_pending, 1);
	http_call_free(c);
}

static void http_add_calls(struct http_loop *loop, struct http_call *queue)
{
	while (queue != NULL) {
		struct http_call *c = queue;
		CURLMcode mc;

		queue = c->c_next;
		c->c_added_ms = clock_mono_ms();
		http_active_link(loop, c);
		mc = curl_multi_add_handle(loop->l_multi, c->c_easy);
		if (mc != CURLM_OK)
			http_finish(loop, c, HTTP_OUTCOME_LOCAL_ERROR, curl_multi_strerror(mc));
	}
}

static void http_cancel_ids(struct http_loop *loop, const uint64_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct http_call *c = loop->l_active;

		while (c != NULL && c->c_id != ids[i])
			c = c->c_next;
		if (c != NULL)
			http_finish(loop, c, HTTP_OUTCOME_CANCELLED, "cancelled");
	}
}

static void http_reap(struct http_loop *loop)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(loop->l_multi, &left)) != NULL) {
		struct http_call *c = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c) != CURLE_OK || c == NULL)
			continue;
		http_finish(loop, c, http_outcome_of(c, msg->data.result),
			    c->c_errbuf[0] != '\0' ? c->c_errbuf : curl_easy_strerror(msg->data.result));
	}
}

static void *http_loop_main(void *arg)
{
	struct http_loop *loop = arg;
	int stopping = 0, running;

	pthread_setname_np(pthread_self(), "bbb:llm-http");

	while (!stopping) {
		struct http_call *queue;
		uint64_t *cancels;
		size_t n_cancels;

		pthread_mutex_lock(&loop->l_mu);
		queue = loop->l_queue_head;
		loop->l_queue_head = loop->l_queue_tail = NULL;
		cancels = loop->l_cancels;
		n_cancels = loop->l_n_cancels;
		loop->l_cancels = NULL;
		loop->l_n_cancels = loop->l_cap_cancels = 0;
		stopping = loop->l_stopping;
		pthread_mutex_unlock(&loop->l_mu);

		http_add_calls(loop, queue);
		http_cancel_ids(loop, cancels, n_cancels);
		free(cancels);
		if (stopping)
			break;
		curl_multi_perform(loop->l_multi, &running);
		http_reap(loop);
		curl_multi_poll(loop->l_multi, NULL, 0, HTTP_POLL_MS, NULL);
	}
	while (loop->l_active != NULL)
		http_finish(loop, loop->l_active, HTTP_OUTCOME_CANCELLED, "http loop stopped");
	return NULL;
}

/* ---- the API */

int http_loop_start(const struct http_loop_options *opts, struct http_loop **out, bbb_status *st)
{
	struct http_loop *loop;
	sigset_t all, old;
	int rc;

	*out = NULL;
	pthread_once(&http_global_once, http_global_init);
	if (http_global_rc != CURLE_OK)
		return status_fail(st, "INTERNAL_ERROR", "curl_global_init: %s", curl_easy_strerror(http_global_rc));
	loop = xcalloc(1, sizeof(*loop));
	snprintf(loop->l_user_agent, sizeof(loop->l_user_agent), "%s",
		 opts != NULL && opts->user_agent != NULL ? opts->user_agent : "beebeebrain/" BBB_VERSION);
	loop->l_next_id = 1;
	loop->l_multi = curl_multi_init();
	if (loop->l_multi == NULL) {
		free(loop);
		return status_fail(st, "INTERNAL_ERROR", "curl_multi_init failed");
	}
	pthread_mutex_init(&loop->l_mu, NULL);
	/* Signals belong to the threads that wait for them, never to this one. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&loop->l_thread, NULL, http_loop_main, loop);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		curl_multi_cleanup(loop->l_multi);
		pthread_mutex_destroy(&loop->l_mu);
		free(loop);
		return status_fail(st, "INTERNAL_ERROR", "http loop: pthread_create: %s", strerror(rc));
	}
	*out = loop;
	return 0;
}

int http_loop_stop(struct http_loop *loop)
{
	if (loop == NULL)
		return 0;
	if (pthread_equal(pthread_self(), loop->l_thread))
		return -1;
	pthread_mutex_lock(&loop->l_mu);
	loop->l_stopping = 1;
	curl_multi_wakeup(loop->l_multi);
	pthread_mutex_unlock(&loop->l_mu);
	pthread_join(loop->l_thread, NULL);
	curl_multi_cleanup(loop->l_multi);
	pthread_mutex_destroy(&loop->l_mu);
	free(loop->l_cancels);
	free(loop);
	return 0;
}

uint64_t http_loop_submit(struct http_loop *loop, const struct http_request *req, http_done_fn done, void *arg,
			  bbb_status *st)
{
	struct http_call *c;
	uint64_t id;

	if (req == NULL || req->url == NULL || done == NULL) {
		status_fail(st, "VALIDATION_ERROR", "http loop: a call needs a URL and a callback");
		return 0;
	}
	c = http_call_new(loop, req, st);
	if (c == NULL)
		return 0;
	c->c_done = done;
	c->c_arg = arg;
	pthread_mutex_lock(&loop->l_mu);
	if (loop->l_stopping) {
		pthread_mutex_unlock(&loop->l_mu);
		http_call_free(c);
		status_fail(st, "SHUTTING_DOWN", "http loop: stopping, no new calls");
		return 0;
	}
	id = c->c_id = loop->l_next_id++;
	if (loop->l_queue_tail != NULL)
		loop->l_queue_tail->c_next = c;
	else
		loop->l_queue_head = c;
	loop->l_queue_tail = c;
	atomic_fetch_add(&loop->l_pending, 1);
	curl_multi_wakeup(loop->l_multi);
	pthread_mutex_unlock(&loop->l_mu);
	return id;
}

void http_loop_cancel(struct http_loop *loop, uint64_t id)
{
	pthread_mutex_lock(&loop->l_mu);
	if (loop->l_stopping) { /* stop cancels everything anyway */
		pthread_mutex_unlock(&loop->l_mu);
		return;
	}
	if (loop->l_n_cancels == loop->l_cap_cancels) {
		size_t cap = loop->l_cap_cancels > 0 ? loop->l_cap_cancels * 2 : 16;
		loop->l_cancels = xrealloc(loop->l_cancels, cap * sizeof(*loop->l_cancels));
		loop->l_cap_cancels = cap;
	}
	loop->l_cancels[loop->l_n_cancels++] = id;
	curl_multi_wakeup(loop->l_multi);
	pthread_mutex_unlock(&loop->l_mu);
}

size_t http_loop_pending(const struct http_loop *loop)
{
	return atomic_load(&loop->l_pending);
}
