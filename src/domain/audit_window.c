/* Aggregation of refused calls (see audit_window.h). */
#include "domain/audit_window.h"

#include <stdio.h>
#include <string.h>

void audit_window_init(struct audit_window *w, int64_t window_ms)
{
	memset(w, 0, sizeof(*w));
	w->aw_window_ms = window_ms;
}

static struct audit_window_key *audit_window_find(struct audit_window *w, const char *peer, const char *reason)
{
	for (size_t i = 0; i < AUDIT_WINDOW_KEYS; i++) {
		struct audit_window_key *k = &w->aw_keys[i];
		if (k->k_used && strcmp(k->k_counted.ad_peer, peer) == 0 && strcmp(k->k_counted.ad_reason, reason) == 0)
			return k;
	}
	return NULL;
}

static size_t audit_window_used(const struct audit_window *w)
{
	size_t n = 0;

	for (size_t i = 0; i < AUDIT_WINDOW_KEYS; i++)
		n += w->aw_keys[i].k_used != 0;
	return n;
}

static struct audit_window_key *audit_window_free_slot(struct audit_window *w)
{
	for (size_t i = 0; i < AUDIT_WINDOW_KEYS; i++)
		if (!w->aw_keys[i].k_used)
			return &w->aw_keys[i];
	return NULL;
}

/* The key of (peer, reason), made when missing: under "*" once the table is
 * nearly full; any "*" key when it is completely full (never in practice:
 * that takes more distinct reasons than there are spare slots). */
static struct audit_window_key *audit_window_key_for(struct audit_window *w, const char *peer, const char *reason,
						     int64_t now_ms)
{
	struct audit_window_key *k = audit_window_find(w, peer, reason);

	if (k != NULL)
		return k;
	if (audit_window_used(w) >= AUDIT_WINDOW_KEYS - AUDIT_WINDOW_SPARE) {
		peer = "*";
		if ((k = audit_window_find(w, peer, reason)) != NULL)
			return k;
	}
	if ((k = audit_window_free_slot(w)) == NULL) {
		for (size_t i = 0; i < AUDIT_WINDOW_KEYS; i++)
			if (strcmp(w->aw_keys[i].k_counted.ad_peer, "*") == 0)
				return &w->aw_keys[i];
		return &w->aw_keys[0];
	}
	memset(k, 0, sizeof(*k));
	k->k_used = 1;
	snprintf(k->k_counted.ad_peer, sizeof(k->k_counted.ad_peer), "%s", peer);
	snprintf(k->k_counted.ad_reason, sizeof(k->k_counted.ad_reason), "%s", reason);
	/* A new key's first refusal is due at once. */
	k->k_written_ms = now_ms - w->aw_window_ms;
	return k;
}

static int audit_window_is_due(const struct audit_window *w, const struct audit_window_key *k, int64_t now_ms)
{
	/* A clock that went back does not hold a count for longer than a window. */
	return now_ms == INT64_MAX || now_ms < k->k_written_ms || now_ms - k->k_written_ms >= w->aw_window_ms;
}

int audit_window_note(struct audit_window *w, const char *peer, const char *reason, const char *action, int64_t now_ms)
{
	struct audit_window_key *k = audit_window_key_for(w, peer, reason, now_ms);
	struct audit_denial *c = &k->k_counted;

	if (c->ad_count == 0) {
		c->ad_first_ms = now_ms;
		snprintf(c->ad_action, sizeof(c->ad_action), "%s", action);
	} else if (strcmp(c->ad_action, action) != 0) {
		snprintf(c->ad_action, sizeof(c->ad_action), "*");
	}
	c->ad_count++;
	c->ad_last_ms = now_ms;
	return c->ad_count == 1 && audit_window_is_due(w, k, now_ms);
}

size_t audit_window_due(struct audit_window *w, int64_t now_ms, struct audit_denial *rows, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < AUDIT_WINDOW_KEYS && n < max; i++) {
		struct audit_window_key *k = &w->aw_keys[i];

		if (!k->k_used || !audit_window_is_due(w, k, now_ms))
			continue;
		if (k->k_counted.ad_count == 0) {
			k->k_used = 0;
			continue;
		}
		rows[n++] = k->k_counted;
		k->k_counted.ad_count = 0;
		k->k_counted.ad_action[0] = '\0';
		if (now_ms != INT64_MAX)
			k->k_written_ms = now_ms;
	}
	return n;
}

int64_t audit_window_next_due(const struct audit_window *w)
{
	int64_t next = INT64_MAX;

	for (size_t i = 0; i < AUDIT_WINDOW_KEYS; i++) {
		const struct audit_window_key *k = &w->aw_keys[i];
		if (k->k_used && k->k_counted.ad_count > 0 && k->k_written_ms + w->aw_window_ms < next)
			next = k->k_written_ms + w->aw_window_ms;
	}
	return next;
}

void audit_peer_host(const char *peer, char *out, size_t n)
{
	const char *colon = peer != NULL ? strrchr(peer, ':') : NULL;
	size_t len;

	if (peer == NULL || peer[0] == '\0') {
		snprintf(out, n, "unknown");
		return;
	}
	len = strlen(peer);
	/* "host:port" or "[v6]:port"; a bare v6 address or a name keeps its colons. */
	if (colon != NULL && colon[1] != '\0' && strspn(colon + 1, "0123456789") == strlen(colon + 1) &&
	    (peer[0] != '[' || colon[-1] == ']') && (peer[0] == '[' || strchr(peer, ':') == colon))
		len = (size_t)(colon - peer);
	snprintf(out, n, "%.*s", (int)len, peer);
}
