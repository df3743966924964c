/*
 * The redactor (see redact.h): one left-to-right scan. At each position it
 * tries the configured values, then the keys and token shapes that may start
 * there; a match gives a span to replace, and the scan goes on after it.
 * Nothing is copied before the first match, so text without secrets costs
 * one read and no allocation.
 */
#include "common/redact.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/arena.h"
#include "common/dbuf.h"
#include "common/utf8.h"
#include "common/xalloc.h"

/* ---- configured values ------------------------------------------------- */

struct redact_secret {
	char *rs_value;
	size_t rs_len;
};

/* Entries below redact_n are complete before redact_n is raised past them
 * (release store, acquire load) and never change afterwards, so readers take
 * no lock; writers serialise on redact_mu. */
static struct redact_secret redact_secrets[REDACT_SECRETS_MAX];
static atomic_size_t redact_n;
static pthread_mutex_t redact_mu = PTHREAD_MUTEX_INITIALIZER;

int redact_add_secret(const char *value)
{
	size_t len = value != NULL ? strlen(value) : 0, n;
	int added = 0;

	/* A value inside the mark itself would be found again in redacted text. */
	if (len < REDACT_SECRET_MIN || !utf8_valid(value, len) || strstr(REDACT_MARK, value) != NULL)
		return 0;
	pthread_mutex_lock(&redact_mu);
	n = atomic_load_explicit(&redact_n, memory_order_relaxed);
	for (size_t i = 0; i < n; i++)
		if (strcmp(redact_secrets[i].rs_value, value) == 0)
			goto out;
	if (n == REDACT_SECRETS_MAX)
		goto out;
	redact_secrets[n].rs_value = xstrdup(value);
	redact_secrets[n].rs_len = len;
	atomic_store_explicit(&redact_n, n + 1, memory_order_release);
	added = 1;
out:
	pthread_mutex_unlock(&redact_mu);
	return added;
}

size_t redact_secret_count(void)
{
	return atomic_load_explicit(&redact_n, memory_order_acquire);
}

void redact_forget_secrets(void)
{
	pthread_mutex_lock(&redact_mu);
	for (size_t i = 0; i < atomic_load_explicit(&redact_n, memory_order_relaxed); i++) {
		free(redact_secrets[i].rs_value);
		redact_secrets[i] = (struct redact_secret){0};
	}
	atomic_store_explicit(&redact_n, 0, memory_order_release);
	pthread_mutex_unlock(&redact_mu);
}

/* ---- character classes (ASCII only: no locale) -------------------------- */

static int redact_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A key must not continue a word: "mytoken=" is not "token=". Bytes of
 * multi-byte characters count as letters. */
static int redact_word_char(unsigned char c)
{
	return redact_alnum(c) || c >= 0x80;
}

static int redact_token_char(unsigned char c)
{
	return redact_alnum(c) || c == '-' || c == '_';
}

/* A value without quotes runs until a space, a quote, a bracket or a list
 * separator: "api_key=abc123&x=1" gives "abc123", "token=[REDACTED]" nothing. */
static int redact_value_char(unsigned char c)
{
	if (c >= 0x80)
		return 1;
	if (c <= ' ' || c == 0x7f)
		return 0;
	return strchr("\"'`,;&<>()[]{}\\|", c) == NULL;
}

/* ---- rules ----------------------------------------------------------------- */

/* Longer keys that share a start with shorter ones come first. */
static const char *const redact_keys[] = {
	"password", "passwd",  "passphrase", "secret_key", "secret", "private_key",   "access_key",
	"api_key",  "api-key", "apikey",     "token",      "bearer", "authorization",
};

enum redact_charset { RC_TOKEN, RC_UPPER, RC_ALNUM };

/* Tokens recognised by their prefix: at least sh_min characters of the
 * charset after it, and a token boundary on both sides. */
struct redact_shape {
	const char *sh_prefix;
	size_t sh_min;
	enum redact_charset sh_set;
};

static const struct redact_shape redact_shapes[] = {
	{"sk-", 8, RC_TOKEN},          {"AKIA", 16, RC_UPPER},  {"ASIA", 16, RC_UPPER},  {"ghp_", 20, RC_ALNUM},
	{"gho_", 20, RC_ALNUM},        {"ghu_", 20, RC_ALNUM},  {"ghs_", 20, RC_ALNUM},  {"ghr_", 20, RC_ALNUM},
	{"github_pat_", 20, RC_TOKEN}, {"xoxb-", 10, RC_TOKEN}, {"xoxp-", 10, RC_TOKEN}, {"xoxa-", 10, RC_TOKEN},
	{"xoxr-", 10, RC_TOKEN},       {"xoxs-", 10, RC_TOKEN},
};

static int redact_in_set(unsigned char c, enum redact_charset set)
{
	switch (set) {
	case RC_TOKEN:
		return redact_token_char(c);
	case RC_UPPER:
		return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
	case RC_ALNUM:
		return redact_alnum(c);
	}
	return 0;
}

struct redact_span {
	size_t sp_start, sp_end; /* s[sp_start, sp_end) is replaced */
	const char *sp_with;
};

static const char REDACT_QUOTED[] = "\"" REDACT_MARK "\"";

static size_t redact_skip_blanks(const char *s, size_t n, size_t k)
{
	while (k < n && (s[k] == ' ' || s[k] == '\t'))
		k++;
	return k;
}

/* An Authorization value keeps its scheme: "Basic xyz" -> start of "xyz". */
static size_t redact_skip_scheme(const char *s, size_t n, size_t vs)
{
	size_t k = vs;

	while (k < n && k - vs <= 16 && ((s[k] | 0x20) >= 'a' && (s[k] | 0x20) <= 'z'))
		k++;
	if (k == vs || k >= n || s[k] != ' ')
		return vs;
	k = redact_skip_blanks(s, n, k);
	/* A credential follows (or the mark of one redacted before). */
	return k < n && (redact_value_char((unsigned char)s[k]) || s[k] == '[' ||
			 (s[k] == '"' && k + 1 < n && s[k + 1] == '['))
		       ? k
		       : vs;
}

/* 1 when the word at s[vs] names an HTTP authentication scheme: after any
 * key ("token=Bearer abc"), the credential is what follows it. */
static int redact_scheme_word(const char *s, size_t n, size_t vs)
{
	static const char *const schemes[] = {"bearer ", "basic ", "token ", "digest "};

	for (size_t k = 0; k < sizeof(schemes) / sizeof(schemes[0]); k++) {
		size_t l = strlen(schemes[k]);
		if (n - vs >= l && strncasecmp(s + vs, schemes[k], l) == 0)
			return 1;
	}
	return 0;
}

/* 1 when s[vs, ve) is already the mark: redacting twice changes nothing. */
static int redact_is_mark(const char *s, size_t vs, size_t ve)
{
	return ve - vs == sizeof(REDACT_MARK) - 1 && memcmp(s + vs, REDACT_MARK, ve - vs) == 0;
}

/* The value of a key that ends at s[j]: "=v", ": v", "\": \"v\"", "='v'". */
static int redact_key_value(const char *s, size_t n, size_t j, int scheme, struct redact_span *sp)
{
	size_t k = j, vs, ve;
	int quoted_key = 0;

	if (k < n && (s[k] == '"' || s[k] == '\'')) {
		quoted_key = 1;
		k++;
	}
	k = redact_skip_blanks(s, n, k);
	if (k >= n || (s[k] != '=' && s[k] != ':'))
		return 0;
	k = redact_skip_blanks(s, n, k + 1);
	if (k < n && (s[k] == '"' || s[k] == '\'')) {
		char q = s[k];
		vs = ve = k + 1;
		while (ve < n && s[ve] != q && s[ve] != '\n')
			ve += s[ve] == '\\' && ve + 1 < n && s[ve + 1] == q ? 2 : 1;
		if (scheme || redact_scheme_word(s, ve, vs))
			vs = redact_skip_scheme(s, ve, vs);
		if (ve == vs || redact_is_mark(s, vs, ve))
			return 0;
		*sp = (struct redact_span){vs, ve, REDACT_MARK};
		return 1;
	}
	vs = scheme || redact_scheme_word(s, n, k) ? redact_skip_scheme(s, n, k) : k;
	for (ve = vs; ve < n && redact_value_char((unsigned char)s[ve]); ve++)
		;
	if (ve == vs)
		return 0;
	if (!quoted_key) {
		*sp = (struct redact_span){vs, ve, REDACT_MARK};
		return 1;
	}
	/* JSON: a number stays a value only as a string; literals are no secret. */
	if ((ve - vs == 4 && (memcmp(s + vs, "null", 4) == 0 || memcmp(s + vs, "true", 4) == 0)) ||
	    (ve - vs == 5 && memcmp(s + vs, "false", 5) == 0))
		return 0;
	*sp = (struct redact_span){vs, ve, REDACT_QUOTED};
	return 1;
}

/* "Bearer <token>" anywhere, not only after a key; the token must be long
 * enough to be one ("the bearer of bad news" stays). */
#define REDACT_BEARER_MIN 8

static int redact_bearer(const char *s, size_t n, size_t j, struct redact_span *sp)
{
	size_t vs = redact_skip_blanks(s, n, j), ve;

	if (vs == j)
		return 0;
	for (ve = vs; ve < n && redact_value_char((unsigned char)s[ve]); ve++)
		;
	if (ve - vs < REDACT_BEARER_MIN || redact_is_mark(s, vs, ve))
		return 0;
	*sp = (struct redact_span){vs, ve, REDACT_MARK};
	return 1;
}

static int redact_keys_at(const char *s, size_t n, size_t i, struct redact_span *sp)
{
	for (size_t k = 0; k < sizeof(redact_keys) / sizeof(redact_keys[0]); k++) {
		const char *key = redact_keys[k];
		size_t kl = strlen(key);

		if ((s[i] | 0x20) != key[0] || n - i < kl || strncasecmp(s + i, key, kl) != 0)
			continue;
		if (strcmp(key, "bearer") == 0) {
			if (redact_bearer(s, n, i + kl, sp))
				return 1;
		} else if (redact_key_value(s, n, i + kl, strcmp(key, "authorization") == 0, sp)) {
			return 1;
		}
	}
	return 0;
}

static int redact_shapes_at(const char *s, size_t n, size_t i, struct redact_span *sp)
{
	for (size_t k = 0; k < sizeof(redact_shapes) / sizeof(redact_shapes[0]); k++) {
		const struct redact_shape *sh = &redact_shapes[k];
		size_t pl = strlen(sh->sh_prefix), e;

		if (s[i] != sh->sh_prefix[0] || n - i < pl || memcmp(s + i, sh->sh_prefix, pl) != 0)
			continue;
		for (e = i + pl; e < n && redact_in_set((unsigned char)s[e], sh->sh_set); e++)
			;
		if (e - (i + pl) < sh->sh_min || (e < n && redact_token_char((unsigned char)s[e])))
			continue;
		*sp = (struct redact_span){i, e, REDACT_MARK};
		return 1;
	}
	return 0;
}

/* The longest configured value that starts at s[i]. */
static int redact_secrets_at(const char *s, size_t n, size_t i, size_t count, struct redact_span *sp)
{
	size_t best = 0;

	for (size_t k = 0; k < count; k++) {
		const struct redact_secret *sec = &redact_secrets[k];
		if (s[i] == sec->rs_value[0] && sec->rs_len <= n - i && sec->rs_len > best &&
		    memcmp(s + i, sec->rs_value, sec->rs_len) == 0)
			best = sec->rs_len;
	}
	if (best == 0)
		return 0;
	*sp = (struct redact_span){i, i + best, REDACT_MARK};
	return 1;
}

/* Every rule at s[i] adds its span: a configured value, a key's value, a
 * token's shape. prev is the character before s[i] as the redacted text
 * will read (see redact_alloc). */
static size_t redact_matches_at(const char *s, size_t n, size_t i, size_t secrets, unsigned char prev,
				struct redact_span sp[3])
{
	size_t k = 0;

	if (secrets > 0 && redact_secrets_at(s, n, i, secrets, &sp[k]))
		k++;
	if (!redact_word_char(prev) && redact_keys_at(s, n, i, &sp[k]))
		k++;
	if (!redact_token_char(prev) && redact_shapes_at(s, n, i, &sp[k]))
		k++;
	return k;
}

/* ---- the scan ------------------------------------------------------------- */

static int redact_span_cmp(const void *a, const void *b)
{
	const struct redact_span *x = a, *y = b;

	return x->sp_start < y->sp_start ? -1 : x->sp_start > y->sp_start;
}

/* 1 when s[i] lies inside, or just after, a span found so far: the redacted
 * text will have "]" before it, the end of the mark. */
static int redact_after_mark(const struct redact_span *v, size_t n, size_t i)
{
	for (size_t k = 0; k < n; k++)
		if (v[k].sp_start < i && i <= v[k].sp_end)
			return 1;
	return 0;
}

/*
 * Every rule looks at every position, also inside what another rule has
 * already claimed, and the union of their spans is replaced: a rule that
 * takes too little ("password= secret: x" takes "secret:") cannot hide what
 * another one finds ("x"). Each position is judged as the redacted text will
 * read it, so a second pass finds nothing new in ordinary text (a quote
 * swallowed by a span can leave a later quote unmatched, and a second pass
 * then takes that rest too: more, never less).
 */
char *redact_alloc(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0, nv = 0, cap = 0, copied = 0;
	size_t secrets = atomic_load_explicit(&redact_n, memory_order_acquire);
	struct redact_span *v = NULL;
	struct dbuf out;

	for (size_t i = 0; i < n; i++) {
		struct redact_span found[3];
		unsigned char prev = redact_after_mark(v, nv, i) ? ']' : i > 0 ? (unsigned char)s[i - 1] : ' ';
		size_t k = redact_matches_at(s, n, i, secrets, prev, found);

		if (k == 0)
			continue;
		if (nv + k > cap) {
			cap = cap > 0 ? cap * 2 : 8;
			v = xrealloc(v, cap * sizeof(*v));
		}
		memcpy(v + nv, found, k * sizeof(*v));
		nv += k;
	}
	if (nv == 0)
		return NULL;
	qsort(v, nv, sizeof(*v), redact_span_cmp);
	dbuf_init(&out, SIZE_MAX / 2);
	for (size_t k = 0; k < nv;) {
		struct redact_span m = v[k++];
		/* Overlapping or touching spans become one plain mark (the quoted
		 * form belongs to a lone JSON value). */
		for (; k < nv && v[k].sp_start <= m.sp_end; k++) {
			if (v[k].sp_end > m.sp_end)
				m.sp_end = v[k].sp_end;
			m.sp_with = REDACT_MARK;
		}
		(void)dbuf_add(&out, s + copied, m.sp_start - copied);
		(void)dbuf_addstr(&out, m.sp_with);
		copied = m.sp_end;
	}
	(void)dbuf_add(&out, s + copied, n - copied);
	free(v);
	return dbuf_take(&out);
}

int redact_needed(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;
	size_t secrets = atomic_load_explicit(&redact_n, memory_order_acquire);

	for (size_t i = 0; i < n; i++) {
		struct redact_span found[3];
		if (redact_matches_at(s, n, i, secrets, i > 0 ? (unsigned char)s[i - 1] : ' ', found) > 0)
			return 1;
	}
	return 0;
}

char *redact_dup(const char *s)
{
	char *r = redact_alloc(s);

	return r != NULL ? r : xstrdup(s != NULL ? s : "");
}

const char *redact_text(struct arena *a, const char *s)
{
	char *r = redact_alloc(s), *copy;

	if (r == NULL)
		return s;
	copy = arena_strdup(a, r);
	free(r);
	return copy;
}

/* ---- messages ------------------------------------------------------------- */

/* Our schemas are not recursive; this only bounds a malformed descriptor. */
#define REDACT_MAX_DEPTH 16

static int redact_walk(struct arena *a, ProtobufCMessage *m, int depth);

/* One string or sub-message member. */
static int redact_member(struct arena *a, const ProtobufCFieldDescriptor *f, void *member, int depth)
{
	if (f->type == PROTOBUF_C_TYPE_STRING) {
		char **p = member;
		const char *r;

		if (a == NULL) /* only looking: stop at the first string that needs it */
			return *p != NULL && redact_needed(*p);
		r = *p != NULL ? redact_text(a, *p) : NULL;

		if (r == *p)
			return 0;
		*p = (char *)r;
		return 1;
	}
	ProtobufCMessage *sub = *(ProtobufCMessage **)member;
	return sub != NULL ? redact_walk(a, sub, depth + 1) : 0;
}

static int redact_walk(struct arena *a, ProtobufCMessage *m, int depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	int changed = 0;

	if (depth > REDACT_MAX_DEPTH)
		return 0;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char *base = (char *)m;

		if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		/* Only the member of a oneof that is set holds a value. */
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && *(uint32_t *)(base + f->quantifier_offset) != f->id)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t count = *(size_t *)(base + f->quantifier_offset);
			void **items = *(void ***)(base + f->offset);
			for (size_t k = 0; k < count; k++)
				changed += redact_member(a, f, &items[k], depth);
		} else {
			changed += redact_member(a, f, base + f->offset, depth);
		}
		if (a == NULL && changed > 0)
			return changed;
	}
	return changed;
}

int redact_message(struct arena *a, ProtobufCMessage *m)
{
	return m != NULL ? redact_walk(a, m, 0) : 0;
}

int redact_message_needed(const ProtobufCMessage *m)
{
	/* The same walk, with a NULL arena: it only looks. */
	return m != NULL && redact_walk(NULL, (ProtobufCMessage *)m, 0) > 0;
}
