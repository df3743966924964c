/*
 * The REST mechanism (see rest.h): routing by pattern, the inputs of a route
 * turned into the request message's proto3 JSON (decoded by pbjson_decode,
 * as a Connect JSON body is), and replies rendered in the original's JSON.
 * The routes themselves are data, in rest_routes.c.
 *
 * Inputs are converted by the type of the request field they fill, read from
 * the method's descriptor: an integer field takes a JSON integer (or, from
 * the path and the query, digits), an enum field its short lower-case text
 * ("running"), a string field a string, a repeated field an array, and an
 * RP_TIME field ISO-8601 text. The messages of refusals follow the original
 * ("Field required", "Input should be a valid integer").
 */
#include "http/rest.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/enum_text.h"
#include "common/pbjson.h"
#include "common/xalloc.h"
#include "http/sse.h"

/* ---- routing */

/* The next segment of a path: its start in *seg, its length returned; the
 * path moves past it. -1 at the end. */
static int rest_next_segment(const char **path, const char **seg)
{
	const char *p = *path;
	size_t n;

	if (*p != '/')
		return -1;
	p++;
	n = strcspn(p, "/");
	*seg = p;
	*path = p + n;
	return (int)n;
}

/* Whether path matches pattern; the captures go into caps. */
static int rest_path_matches(const char *pattern, const char *path, char caps[][128])
{
	const char *pp = pattern, *up = path, *ps, *us;
	int pn, un, k = 0;

	for (;;) {
		pn = rest_next_segment(&pp, &ps);
		un = rest_next_segment(&up, &us);
		if (pn < 0 || un < 0)
			return pn < 0 && un < 0 && *up == '\0';
		if (ps[0] == '{') {
			if (un == 0 || un >= 128 || k >= REST_CAPS_MAX)
				return 0;
			memcpy(caps[k], us, (size_t)un);
			caps[k++][un] = '\0';
			continue;
		}
		if (pn != un || strncmp(ps, us, (size_t)pn) != 0)
			return 0;
	}
}

static void rest_allow_add(struct rest_match *m, const char *method)
{
	size_t len = strlen(m->m_allow);

	if (strstr(m->m_allow, method) != NULL)
		return;
	snprintf(m->m_allow + len, sizeof(m->m_allow) - len, "%s%s", len > 0 ? ", " : "", method);
}

int rest_match_route(const struct rest_route *routes, size_t n, const char *method, const char *path,
		     struct rest_match *m)
{
	char caps[REST_CAPS_MAX][128];
	const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;

	memset(m, 0, sizeof(*m));
	m->m_status = 404;
	for (size_t i = 0; i < n; i++) {
		if (!rest_path_matches(routes[i].rt_pattern, path, caps))
			continue;
		if (strcmp(routes[i].rt_method, want) != 0) {
			m->m_status = 405;
			rest_allow_add(m, routes[i].rt_method);
			continue;
		}
		m->m_route = &routes[i];
		m->m_status = 200;
		memcpy(m->m_caps, caps, sizeof(caps));
		m->m_allow[0] = '\0';
		return 200;
	}
	return m->m_status;
}

/* ---- times and money */

const char *rest_iso_time(int64_t ms, char *buf, size_t n)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	return buf;
}

/* Reads exactly `digits` digits at *p into *v. */
static int rest_digits(const char **p, int digits, int *v)
{
	*v = 0;
	for (int i = 0; i < digits; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		*v = *v * 10 + ((*p)[i] - '0');
	}
	*p += digits;
	return 0;
}

/* The zone at p ("", "Z", "+hh:mm", "-hh:mm", "+hhmm") as seconds east. */
static int rest_zone(const char *p, long *east)
{
	int h, m, sign;

	*east = 0;
	if (*p == '\0' || ((*p == 'Z' || *p == 'z') && p[1] == '\0'))
		return 0;
	if (*p != '+' && *p != '-')
		return -1;
	sign = *p++ == '-' ? -1 : 1;
	if (rest_digits(&p, 2, &h) != 0)
		return -1;
	if (*p == ':')
		p++;
	if (rest_digits(&p, 2, &m) != 0 || *p != '\0' || h > 23 || m > 59)
		return -1;
	*east = sign * (h * 3600L + m * 60L);
	return 0;
}

int rest_parse_time(const char *s, int64_t *ms)
{
	struct tm tm = {0};
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0;
	long east = 0;

	if (rest_digits(&p, 4, &y) != 0 || *p++ != '-' || rest_digits(&p, 2, &mo) != 0 || *p++ != '-' ||
	    rest_digits(&p, 2, &d) != 0)
		return -1;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (rest_digits(&p, 2, &h) != 0 || *p++ != ':' || rest_digits(&p, 2, &mi) != 0)
			return -1;
		if (*p == ':' && (p++, rest_digits(&p, 2, &sec) != 0))
			return -1;
		if (*p == '.') {
			int scale = 100;
			p++;
			if (*p < '0' || *p > '9')
				return -1;
			for (; *p >= '0' && *p <= '9'; p++, scale /= 10)
				frac += scale > 0 ? (*p - '0') * scale : 0;
		}
		if (rest_zone(p, &east) != 0)
			return -1;
	} else if (*p != '\0') {
		return -1;
	}
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*ms = ((int64_t)timegm(&tm) - east) * 1000 + frac;
	return 0;
}

const char *rest_usd(int64_t micros, char *buf, size_t n)
{
	uint64_t a = micros < 0 ? (uint64_t)0 - (uint64_t)micros : (uint64_t)micros;
	char frac[8];
	int len;

	snprintf(frac, sizeof(frac), "%06" PRIu64, a % 1000000);
	for (len = 6; len > 0 && frac[len - 1] == '0'; len--)
		frac[len - 1] = '\0';
	snprintf(buf, n, "%s%" PRIu64 "%s%s", micros < 0 ? "-" : "", a / 1000000, len > 0 ? "." : "", frac);
	return buf;
}

/* ---- requests: one input into the JSON of its field */

/* Appends an issue to st (a VALIDATION_ERROR); p_name NULL: the body. */
static void rest_issue(bbb_status *st, const struct rest_param *p, const char *msg)
{
	static const char *const src[] = {"", "path", "query", "body"};
	char field[96];

	if (p->p_name == NULL)
		snprintf(field, sizeof(field), "body");
	else
		snprintf(field, sizeof(field), "%s.%s", src[p->p_src], p->p_name);
	status_violation(st, field, "%s", msg);
}

/* Text (from the path, the query or a default) as a 64-bit integer. */
static int rest_text_int(const char *s, int64_t *v)
{
	char *end;

	errno = 0;
	if (s[0] == '\0' || (s[0] != '-' && (s[0] < '0' || s[0] > '9')))
		return -1;
	*v = strtoll(s, &end, 10);
	return errno != 0 || *end != '\0' ? -1 : 0;
}

static int rest_is_int_type(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return 1;
	default:
		return 0;
	}
}

/* One scalar value: text (path, query, default) or j (body). The field's
 * JSON in *out, or an issue in st. */
static int rest_scalar(const struct rest_param *p, const ProtobufCFieldDescriptor *f, const char *text, const json_t *j,
		       json_t **out, bbb_status *st)
{
	char choices[200], msg[256];
	int64_t v;
	int e;

	if (j != NULL && json_is_string(j))
		text = json_string_value(j);
	if (p->p_flags & RP_TIME) {
		if (text == NULL || rest_parse_time(text, &v) != 0)
			return rest_issue(st, p, "Input should be a valid datetime"), -1;
		*out = json_integer(v);
		return 0;
	}
	if (rest_is_int_type(f->type)) {
		if (j != NULL && json_is_integer(j))
			v = json_integer_value(j);
		else if (text == NULL || rest_text_int(text, &v) != 0)
			return rest_issue(st, p, "Input should be a valid integer"), -1;
		if (p->p_max > 0 && v < p->p_min) {
			snprintf(msg, sizeof(msg), "Input should be greater than or equal to %d", p->p_min);
			return rest_issue(st, p, msg), -1;
		}
		if (p->p_max > 0 && v > p->p_max) {
			snprintf(msg, sizeof(msg), "Input should be less than or equal to %d", p->p_max);
			return rest_issue(st, p, msg), -1;
		}
		*out = json_integer(v);
		return 0;
	}
	switch (f->type) {
	case PROTOBUF_C_TYPE_ENUM:
		if (text == NULL || enum_from_text(f->descriptor, text, &e) != 0) {
			snprintf(msg, sizeof(msg), "Input should be one of: %s",
				 enum_choices(f->descriptor, choices, sizeof(choices)) != NULL ? choices : "?");
			return rest_issue(st, p, msg), -1;
		}
		*out = json_integer(e);
		return 0;
	case PROTOBUF_C_TYPE_BOOL:
		if (j != NULL && json_is_boolean(j))
			*out = json_boolean(json_is_true(j));
		else if (j == NULL && text != NULL && (strcmp(text, "true") == 0 || strcmp(text, "false") == 0))
			*out = json_boolean(text[0] == 't');
		else
			return rest_issue(st, p, "Input should be a valid boolean"), -1;
		return 0;
	case PROTOBUF_C_TYPE_STRING:
		if (text == NULL)
			return rest_issue(st, p, "Input should be a valid string"), -1;
		*out = json_string(text);
		return *out != NULL ? 0 : (rest_issue(st, p, "Input should be valid UTF-8"), -1);
	default:
		return rest_issue(st, p, "Input is not supported here"), -1;
	}
}

/* The value of one input for field f (repeated fields take an array, or
 * with RP_PER_ID one value repeated n_ids times). */
static int rest_value(const struct rest_param *p, const ProtobufCFieldDescriptor *f, const char *text, const json_t *j,
		      size_t n_ids, json_t **out, bbb_status *st)
{
	json_t *arr, *one;
	size_t i;
	const json_t *el;

	if (f->label != PROTOBUF_C_LABEL_REPEATED)
		return rest_scalar(p, f, text, j, out, st);
	if (p->p_flags & RP_PER_ID) {
		if (rest_scalar(p, f, text, j, &one, st) != 0)
			return -1;
		arr = json_array();
		for (i = 0; i < n_ids; i++)
			json_array_append(arr, one);
		json_decref(one);
		*out = arr;
		return 0;
	}
	if (j == NULL || !json_is_array(j))
		return rest_issue(st, p, "Input should be a valid list"), -1;
	arr = json_array();
	json_array_foreach(j, i, el)
	{
		if (rest_scalar(p, f, NULL, el, &one, st) != 0) {
			json_decref(arr);
			return -1;
		}
		json_array_append_new(arr, one);
	}
	*out = arr;
	return 0;
}

/* Where an input is: its text (path, query) or its JSON (body); both NULL
 * when not given. *null when the body gives it as null. */
static void rest_find(const struct rest_match *m, const struct rest_param *p, int path_i, const json_t *query,
		      const json_t *body, const char **text, const json_t **j, int *null)
{
	*text = NULL;
	*j = NULL;
	*null = 0;
	if (p->p_src == REST_PATH && path_i < REST_CAPS_MAX)
		*text = m->m_caps[path_i];
	else if (p->p_src == REST_QUERY && query != NULL)
		*text = json_string_value(json_object_get(query, p->p_name));
	else if (p->p_src == REST_BODY && body != NULL) {
		*j = json_object_get(body, p->p_name);
		if (*j != NULL && json_is_null(*j)) {
			*j = NULL;
			*null = 1;
		}
	}
}

/* The body as a JSON object (NULL: none); -1 with the issue in st. */
static int rest_body(const struct rest_route *rt, const char *body, size_t len, json_t **out, bbb_status *st)
{
	static const struct rest_param whole = {REST_BODY, "0", NULL, 0, 0, 0, NULL};
	static const struct rest_param missing = {REST_BODY, NULL, NULL, 0, 0, 0, NULL};
	json_error_t err;

	*out = NULL;
	if (len == 0) {
		if (!(rt->rt_flags & RT_BODY_REQUIRED))
			return 0;
		return rest_issue(st, &missing, "Field required"), -1;
	}
	*out = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
	if (*out == NULL)
		return rest_issue(st, &whole, "JSON decode error"), -1;
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return rest_issue(st, &missing, "Input should be a valid dictionary or object to extract fields from"),
		       -1;
	}
	return 0;
}

/* One input into obj (and the mask); issues go to st. */
static void rest_input(const struct rest_match *m, const struct rest_param *p, int path_i,
		       const ProtobufCMessageDescriptor *input, const json_t *query, const json_t *body, json_t *obj,
		       json_t *mask, char *trace, size_t n, bbb_status *st)
{
	const ProtobufCFieldDescriptor *f;
	const char *text;
	const json_t *j;
	json_t *v = NULL;
	int null;

	rest_find(m, p, path_i, query, body, &text, &j, &null);
	if (text == NULL && j == NULL && !null && p->p_dflt != NULL)
		text = p->p_dflt;
	if (text == NULL && j == NULL) {
		if (p->p_flags & RP_REQUIRED)
			rest_issue(st, p, "Field required");
		else if (null && mask != NULL && p->p_field != NULL && !(p->p_flags & RP_NO_MASK))
			json_array_append_new(mask, json_string(p->p_field));
		return;
	}
	if ((p->p_flags & RP_TRACE) && j != NULL && json_is_string(j))
		snprintf(trace, n, "%s", json_string_value(j));
	if (p->p_field == NULL)
		return;
	f = protobuf_c_message_descriptor_get_field_by_name(input, p->p_field);
	if (f == NULL)
		return;
	if (rest_value(p, f, text, j, json_array_size(json_object_get(obj, "task_ids")), &v, st) != 0)
		return;
	json_object_set_new(obj, p->p_field, v);
	if (mask != NULL && p->p_src == REST_BODY && !(p->p_flags & RP_NO_MASK))
		json_array_append_new(mask, json_string(p->p_field));
}

json_t *rest_request_json(const struct rest_match *m, const ProtobufCMessageDescriptor *input, const json_t *query,
			  const char *body, size_t body_len, char *trace, size_t n, bbb_status *st)
{
	const struct rest_route *rt = m->m_route;
	json_t *obj, *mask = NULL, *b = NULL;
	int path_i = 0;

	status_clear(st);
	if (rest_body(rt, body, body_len, &b, st) != 0)
		return NULL;
	obj = json_object();
	if (rt->rt_flags & RT_MASK)
		mask = json_array();
	for (const struct rest_param *p = rt->rt_params; p != NULL && p->p_src != 0; p++) {
		rest_input(m, p, path_i, input, query, b, obj, mask, trace, n, st);
		if (p->p_src == REST_PATH)
			path_i++;
	}
	if (rt->rt_flags & RT_WAIT)
		json_object_set_new(obj, "wait", json_true());
	if ((rt->rt_flags & RT_RUNNING_BY_DEFAULT) && json_object_get(obj, "task_ids") == NULL &&
	    json_object_get(obj, "status") == NULL)
		json_object_set_new(obj, "status", json_string("TASK_STATUS_RUNNING"));
	if (mask != NULL)
		json_object_set_new(obj, "update_mask", mask);
	json_decref(b);
	if (st->code != BBB_OK) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/* ---- answers: errors */

static const struct {
	const char *reason;
	int status;
	const char *as; /* the original's name, NULL: the same */
} rest_reasons[] = {
	{"VALIDATION_ERROR", 422, NULL},
	{"MALFORMED_REQUEST", 422, "VALIDATION_ERROR"},
	{"INVALID_PAGE_TOKEN", 422, "VALIDATION_ERROR"},
	{"INVALID_TASK_TRANSITION", 422, NULL},
	{"INVALID_TASK_COMMAND", 422, NULL},
	{"TASK_HAS_DEPENDENTS", 409, NULL},
	{"INBOX_ITEM_ALREADY_CLOSED", 409, NULL},
	{"TASK_RUN_ALREADY_ACTIVE", 409, NULL},
	{"IDEMPOTENCY_KEY_CONFLICT", 409, "RESOURCE_CONFLICT"},
	{"LLM_AUTHENTICATION_FAILED", 401, NULL},
	{"MESSAGE_TOO_LARGE", 413, NULL},
};

static const struct {
	int code;
	int status;
} rest_codes[] = {
	{BBB_INVALID_ARGUMENT, 422},  {BBB_NOT_FOUND, 404},           {BBB_ALREADY_EXISTS, 409},
	{BBB_ABORTED, 409},           {BBB_FAILED_PRECONDITION, 409}, {BBB_UNAUTHENTICATED, 401},
	{BBB_PERMISSION_DENIED, 403}, {BBB_UNAVAILABLE, 503},         {BBB_RESOURCE_EXHAUSTED, 429},
	{BBB_DEADLINE_EXCEEDED, 504}, {BBB_OUT_OF_RANGE, 422},        {BBB_UNIMPLEMENTED, 501},
};

int rest_http_status(int code, const char *reason)
{
	for (size_t i = 0; i < sizeof(rest_reasons) / sizeof(rest_reasons[0]); i++)
		if (strcmp(rest_reasons[i].reason, reason) == 0)
			return rest_reasons[i].status;
	for (size_t i = 0; i < sizeof(rest_codes) / sizeof(rest_codes[0]); i++)
		if (rest_codes[i].code == code)
			return rest_codes[i].status;
	return 500;
}

static const char *rest_reason_name(const char *reason)
{
	for (size_t i = 0; i < sizeof(rest_reasons) / sizeof(rest_reasons[0]); i++)
		if (strcmp(rest_reasons[i].reason, reason) == 0 && rest_reasons[i].as != NULL)
			return rest_reasons[i].as;
	return reason;
}

/* A violation's field as the original named it: already "body."-style, or
 * the input that fills that request field, or "body.<field>". */
static char *rest_issue_field(const struct rest_route *rt, const char *field)
{
	static const char *const src[] = {"", "path", "query", "body"};

	if (strncmp(field, "body", 4) == 0 || strncmp(field, "query.", 6) == 0 || strncmp(field, "path.", 5) == 0)
		return xstrdup(field);
	if (strcmp(field, "update_mask") == 0)
		return xstrdup("body");
	for (const struct rest_param *p = rt != NULL ? rt->rt_params : NULL; p != NULL && p->p_src != 0; p++)
		if (p->p_field != NULL && strcmp(p->p_field, field) == 0)
			return xasprintf("%s.%s", src[p->p_src], p->p_name);
	return xasprintf("body.%s", field);
}

char *rest_error_json(const struct rest_route *rt, const Beebeebrain__V1__RpcResponse *resp)
{
	size_t n = resp->n_violations;
	struct sse_issue *issues = xcalloc(n > 0 ? n : 1, sizeof(*issues));
	char **fields = xcalloc(n > 0 ? n : 1, sizeof(*fields));
	char *text;

	for (size_t i = 0; i < n; i++) {
		fields[i] = rest_issue_field(rt, resp->violations[i]->field);
		issues[i] = (struct sse_issue){fields[i], resp->violations[i]->description};
	}
	text = sse_error_json(rest_reason_name(resp->reason), resp->message, issues, n);
	for (size_t i = 0; i < n; i++)
		free(fields[i]);
	free(fields);
	free(issues);
	return text;
}

/* ---- answers: messages */

/* Extra names a field is written under as well, for the original's names. */
static const struct {
	const char *message, *field, *also;
} rest_aliases[] = {
	{"beebeebrain.v1.Agent", "persona_prompt", "initial_persona_prompt"},
	{"beebeebrain.v1.Agent", "enabled_tools", "enabled_tools_json"},
	{"beebeebrain.v1.LogLine", "id", "sequence"},
};

static int rest_ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);

	return n >= t && strcmp(s + n - t, tail) == 0;
}

static int64_t rest_int_at(const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return *(const int64_t *)p;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return (int64_t) * (const uint64_t *)p;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return *(const uint32_t *)p;
	default:
		return *(const int32_t *)p;
	}
}

/* One value of field f at p, named `name`. */
static json_t *rest_value_json(const ProtobufCFieldDescriptor *f, const void *p)
{
	char buf[48];

	if (rest_is_int_type(f->type)) {
		int64_t v = rest_int_at(f, p);
		if (rest_ends_with(f->name, "_at_ms"))
			return v != 0 ? json_string(rest_iso_time(v, buf, sizeof(buf))) : json_null();
		if (rest_ends_with(f->name, "_usd_micros"))
			return json_string(rest_usd(v, buf, sizeof(buf)));
		if (rest_ends_with(f->name, "_id") && v == 0)
			return json_null();
		return json_integer(v);
	}
	switch (f->type) {
	case PROTOBUF_C_TYPE_ENUM: {
		int e = *(const int *)p;
		const char *t = e != 0 ? enum_text(f->descriptor, e, buf, sizeof(buf)) : NULL;
		return t != NULL ? json_string(t) : json_null();
	}
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_FLOAT:
		return json_real(*(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE:
		return json_real(*(const double *)p);
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		return json_string(s != NULL ? s : "");
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *m = *(const ProtobufCMessage *const *)p;
		return m != NULL ? rest_message_json(m) : json_null();
	}
	default:
		return json_null();
	}
}

/* The key of field f: *_at_ms and *_usd_micros lose their unit. */
static void rest_key(const ProtobufCFieldDescriptor *f, char *buf, size_t n)
{
	size_t len = strlen(f->name);

	if (rest_ends_with(f->name, "_at_ms"))
		len -= 3;
	else if (rest_ends_with(f->name, "_usd_micros"))
		len -= 7;
	snprintf(buf, n, "%.*s", (int)len, f->name);
}

static json_t *rest_field_json(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *)m + f->offset;
	size_t n, size;
	json_t *arr;

	if (f->label != PROTOBUF_C_LABEL_REPEATED)
		return rest_value_json(f, base);
	n = *(const size_t *)((const char *)m + f->quantifier_offset);
	size = pbjson_element_size(f->type);
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, rest_value_json(f, *(const char *const *)base + i * size));
	return arr;
}

json_t *rest_message_json(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	json_t *obj = json_object();
	char key[80];

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->type == PROTOBUF_C_TYPE_BYTES)
			continue;
		rest_key(f, key, sizeof(key));
		json_object_set_new(obj, key, rest_field_json(m, f));
		for (size_t k = 0; k < sizeof(rest_aliases) / sizeof(rest_aliases[0]); k++)
			if (strcmp(rest_aliases[k].message, d->name) == 0 &&
			    strcmp(rest_aliases[k].field, f->name) == 0)
				json_object_set(obj, rest_aliases[k].also, json_object_get(obj, key));
	}
	return obj;
}

/* The field `name` of m rendered (a new reference; null when m has none). */
static json_t *rest_get(const ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *f =
		m != NULL ? protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name) : NULL;

	return f != NULL ? rest_field_json(m, f) : json_null();
}

/* The sub-message `name` of m; NULL when unset. */
static const ProtobufCMessage *rest_sub(const ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);

	if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE || f->label == PROTOBUF_C_LABEL_REPEATED)
		return NULL;
	return *(const ProtobufCMessage *const *)((const char *)m + f->offset);
}

/* A json_integer value, 0 for anything else. */
static int64_t rest_int(json_t *v)
{
	int64_t n = json_is_integer(v) ? json_integer_value(v) : 0;

	json_decref(v);
	return n;
}

static json_t *rest_tool_json(const struct rest_match *m, const ProtobufCMessage *req, const ProtobufCMessage *out)
{
	const ProtobufCMessage *task = rest_sub(out, "task"), *item = rest_sub(out, "item");
	const char *tool = strrchr(m->m_route->rt_pattern, '/') + 1;

	return json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "tool", tool, "task_id", rest_get(task, "id"),
			 "task_status", rest_get(task, "status"), "task_version", rest_get(task, "version"),
			 "idempotency_key", rest_get(req, "idempotency_key"), "idempotency_hit",
			 rest_get(out, "idempotency_hit"), "inbox_item_id",
			 item != NULL ? rest_get(item, "id") : json_null());
}

static json_t *rest_broadcast_json(const struct rest_match *m, const ProtobufCMessage *req, const ProtobufCMessage *out)
{
	json_t *items = rest_get(out, "results"), *status = rest_get(req, "status"), *ids = rest_get(req, "task_ids"),
	       *it;
	int64_t failed = rest_int(rest_get(out, "rejected")) + rest_int(rest_get(out, "conflict"));
	size_t i, n_ids = json_array_size(ids);

	json_decref(ids);
	if (n_ids > 0) {
		json_decref(status);
		status = json_null();
	}
	json_array_foreach(items, i, it)
	{
		json_t *reason = json_object_get(it, "reason"), *msg = json_object_get(it, "message");
		json_object_set(it, "error_code", json_string_length(reason) > 0 ? reason : json_null());
		json_object_set(it, "error_message", json_string_length(msg) > 0 ? msg : json_null());
	}
	return json_pack("{s:s, s:o, s:o, s:I, s:o, s:I, s:o}", "command", m->m_caps[0], "project_id",
			 rest_get(req, "project_id"), "status_filter", status, "total_targets",
			 (json_int_t)json_array_size(items), "applied_count", rest_get(out, "applied"), "failed_count",
			 (json_int_t)failed, "items", items);
}

static json_t *rest_summary_json(const ProtobufCMessage *out)
{
	json_t *obj = rest_message_json(out), *by = json_object_get(obj, "by_status"), *it;
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(out->descriptor, "by_status");
	const ProtobufCEnumDescriptor *ed =
		protobuf_c_message_descriptor_get_field_by_name(f->descriptor, "status")->descriptor;
	char key[64], text[40];
	size_t i;
	int64_t ended = json_integer_value(json_object_get(obj, "ended"));

	for (unsigned v = 1; v < ed->n_values; v++)
		if (enum_text(ed, ed->values[v].value, text, sizeof(text)) != NULL) {
			snprintf(key, sizeof(key), "%s_runs", text);
			json_object_set_new(obj, key, json_integer(0));
		}
	json_array_foreach(by, i, it)
	{
		snprintf(key, sizeof(key), "%s_runs", json_string_value(json_object_get(it, "status")));
		json_object_set(obj, key, json_object_get(it, "count"));
	}
	json_object_set(obj, "total_runs", json_object_get(obj, "total"));
	json_object_set(obj, "total_token_in", json_object_get(obj, "token_in"));
	json_object_set(obj, "total_token_out", json_object_get(obj, "token_out"));
	json_object_set(obj, "total_cost_usd", json_object_get(obj, "cost_usd"));
	json_object_set_new(
		obj, "avg_duration_seconds",
		ended > 0 ? json_real((double)json_integer_value(json_object_get(obj, "avg_duration_ms")) / 1000.0)
			  : json_null());
	json_object_set_new(
		obj, "max_duration_seconds",
		ended > 0 ? json_real((double)json_integer_value(json_object_get(obj, "max_duration_ms")) / 1000.0)
			  : json_null());
	return obj;
}

char *rest_answer_json(const struct rest_match *m, const ProtobufCMessage *req, const ProtobufCMessage *out)
{
	const struct rest_route *rt = m->m_route;
	json_t *j = NULL;
	char *text;

	switch (rt->rt_shape) {
	case RS_EMPTY:
		return NULL;
	case RS_ONE:
	case RS_LIST:
		j = rest_get(out, rt->rt_pick);
		break;
	case RS_TOOL:
		j = rest_tool_json(m, req, out);
		break;
	case RS_BROADCAST:
		j = rest_broadcast_json(m, req, out);
		break;
	case RS_RUNS_SUMMARY:
		j = rest_summary_json(out);
		break;
	}
	if (j == NULL)
		return NULL;
	text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(12));
	json_decref(j);
	return text;
}

/* ---- one request */

struct rest_call {
	struct rest_match c_m;
	json_t *c_query;
	json_t *c_bad_query; /* names of the route's query inputs sent as no UTF-8 */
	ProtobufCMessage *c_req; /* the request built, for the answer */
	char c_trace[80];
};

struct rest_call *rest_call_new(const struct rest_match *m)
{
	struct rest_call *c = xcalloc(1, sizeof(*c));

	c->c_m = *m;
	c->c_query = json_object();
	c->c_bad_query = json_array();
	return c;
}

/* Whether the route takes a query input named key. */
static int rest_takes_query(const struct rest_route *rt, const char *key)
{
	for (const struct rest_param *p = rt->rt_params; p != NULL && p->p_src != 0; p++)
		if (p->p_src == REST_QUERY && strcmp(p->p_name, key) == 0)
			return 1;
	return 0;
}

void rest_call_query(struct rest_call *c, const char *key, const char *value)
{
	json_t *v;

	if (value == NULL || json_object_get(c->c_query, key) != NULL)
		return;
	if ((v = json_string(value)) != NULL) {
		json_object_set_new(c->c_query, key, v);
		return;
	}
	/* Not UTF-8: refused when it is one of the route's inputs (dropping it
	 * would widen a filter), ignored like any unknown parameter otherwise. */
	if (rest_takes_query(c->c_m.m_route, key))
		json_array_append_new(c->c_bad_query, json_string(key));
}

const char *rest_call_rpc(const struct rest_call *c)
{
	return c->c_m.m_route->rt_rpc;
}

const char *rest_call_trace(const struct rest_call *c)
{
	return c->c_trace;
}

int rest_call_payload(struct rest_call *c, const ProtobufCMethodDescriptor *md, const uint8_t *body, size_t len,
		      uint8_t **packed, size_t *packed_len, bbb_status *st)
{
	json_t *obj;
	char *text;
	int rc;

	*packed = NULL;
	*packed_len = 0;
	if (json_array_size(c->c_bad_query) > 0) {
		size_t i;
		json_t *name;
		char field[96];

		status_clear(st);
		json_array_foreach(c->c_bad_query, i, name)
		{
			snprintf(field, sizeof(field), "query.%s", json_string_value(name));
			status_violation(st, field, "Input should be a valid string");
		}
		return -1;
	}
	obj = rest_request_json(&c->c_m, md->input, c->c_query, (const char *)body, len, c->c_trace, sizeof(c->c_trace),
				st);
	if (obj == NULL)
		return -1;
	text = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (text == NULL)
		return status_fail(st, "VALIDATION_ERROR", "the request does not encode");
	rc = pbjson_decode(md->input, text, strlen(text), NULL, &c->c_req, st);
	free(text);
	if (rc != 0)
		return -1;
	*packed_len = protobuf_c_message_get_packed_size(c->c_req);
	*packed = xmalloc(*packed_len + 1);
	protobuf_c_message_pack(c->c_req, *packed);
	return 0;
}

const char *rest_remap_reason(const struct rest_route *rt, const Beebeebrain__V1__RpcResponse *resp)
{
	for (const struct rest_remap *r = rt->rt_remaps; r != NULL && r->r_from != NULL; r++) {
		if (strcmp(resp->reason, r->r_from) != 0)
			continue;
		if (r->r_field == NULL ||
		    (resp->n_violations == 1 && strcmp(resp->violations[0]->field, r->r_field) == 0))
			return r->r_to;
	}
	return NULL;
}

char *rest_call_answer(struct rest_call *c, const ProtobufCMethodDescriptor *md,
		       const Beebeebrain__V1__RpcResponse *resp, int *status, size_t *len)
{
	ProtobufCMessage *out;
	char *text;

	*len = 0;
	if (resp->code != 0 || md == NULL) {
		const struct rest_route *rt = c->c_m.m_route;
		Beebeebrain__V1__RpcResponse e = *resp;
		const char *as = rest_remap_reason(rt, resp);
		if (as != NULL) {
			e.reason = (char *)as;
			e.code = status_code_of_reason(as);
		}
		*status = rest_http_status(e.code, e.reason);
		text = rest_error_json(rt, &e);
		*len = strlen(text);
		return text;
	}
	*status = c->c_m.m_route->rt_status;
	if (c->c_m.m_route->rt_shape == RS_EMPTY)
		return NULL;
	out = protobuf_c_message_unpack(md->output, NULL, resp->payload.len, resp->payload.data);
	text = out != NULL ? rest_answer_json(&c->c_m, c->c_req, out) : NULL;
	protobuf_c_message_free_unpacked(out, NULL);
	if (text == NULL) {
		*status = 500;
		text = xstrdup("{\"error\":{\"code\":\"INTERNAL_ERROR\",\"message\":\"the reply does not encode as "
			       "JSON\",\"issues\":[]}}");
	}
	*len = strlen(text);
	return text;
}

void rest_call_free(struct rest_call *c)
{
	if (c == NULL)
		return;
	json_decref(c->c_query);
	json_decref(c->c_bad_query);
	if (c->c_req != NULL)
		protobuf_c_message_free_unpacked(c->c_req, NULL);
	free(c);
}
