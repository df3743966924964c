/*
 * Aggregation of refused calls for the audit trail (pure: no I/O, no clock;
 * the caller passes the time and writes the rows).
 *
 * Refused calls are counted per key (peer host, reason). The first refusal of
 * a key falls due at once, so it is written promptly with count 1; the ones
 * after it are counted, and fall due together, as one row carrying their
 * count, when the window (counted from the key's last row) has passed. A key
 * therefore writes at most one row per window, however many calls it
 * refuses: 9,000 refused calls in a minute from one host are two rows. A key
 * whose window passed with nothing counted is forgotten; its next refusal is
 * a first one again.
 *
 * The table is bounded: once it is nearly full, refusals from further peers
 * are counted under the peer "*", so a flood from many addresses costs
 * neither memory nor rows.
 */
#ifndef BBB_AUDIT_WINDOW_H
#define BBB_AUDIT_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#define AUDIT_WINDOW_KEYS 256
#define AUDIT_WINDOW_SPARE 8 /* slots kept for the "*" keys */
#define AUDIT_PEER_MAX 64
#define AUDIT_REASON_MAX 48
#define AUDIT_ACTION_MAX 96

/* One row to write. */
struct audit_denial {
	char ad_peer[AUDIT_PEER_MAX];
	char ad_reason[AUDIT_REASON_MAX];
	char ad_action[AUDIT_ACTION_MAX]; /* the method, "*" when several were refused */
	int64_t ad_count;
	int64_t ad_first_ms; /* first and last refusal counted */
	int64_t ad_last_ms;
};

struct audit_window_key {
	struct audit_denial k_counted; /* not written yet; k_counted.ad_count may be 0 */
	int64_t k_written_ms; /* when the key's last row fell due */
	int k_used;
};

struct audit_window {
	struct audit_window_key aw_keys[AUDIT_WINDOW_KEYS];
	int64_t aw_window_ms;
};

void audit_window_init(struct audit_window *w, int64_t window_ms);

/* Counts one refusal of `action` from `peer` (a host) for `reason` at now_ms.
 * Returns 1 when a row fell due by it (a first refusal: write it now), else 0. */
int audit_window_note(struct audit_window *w, const char *peer, const char *reason, const char *action, int64_t now_ms);

/* Moves the counts that are due at now_ms into rows (at most max of them) and
 * returns how many; INT64_MAX takes every count (at shutdown). Forgets keys
 * whose window passed with nothing counted. */
size_t audit_window_due(struct audit_window *w, int64_t now_ms, struct audit_denial *rows, size_t max);

/* The earliest time a count falls due; INT64_MAX when nothing is counted. */
int64_t audit_window_next_due(const struct audit_window *w);

/* The host of a peer address: "127.0.0.1:50412" -> "127.0.0.1",
 * "[::1]:50412" -> "[::1]", "ipc" -> "ipc", "" -> "unknown". The port changes
 * with every connection, so refusals are counted per host. */
void audit_peer_host(const char *peer, char *out, size_t n);

#endif
