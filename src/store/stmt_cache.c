/*
 * Prepared statements, once per connection.
 *
 * Parsing and planning a statement cost about as much as running the small
 * queries the store makes, so every connection from store_conn_open keeps
 * the statements it prepared: store_prepare hands out the one prepared for
 * the same SQL text, store_release resets it, clears its bindings and takes
 * it back. Keys are the text, not the pointer (a caller's buffer can hold
 * another text at the same address next time): an open-addressed table of
 * STMT_SLOTS slots, hashed with FNV-1a and confirmed with strcmp, holding at
 * most STMT_MAX texts; past that, statements are prepared per use as before.
 * Hashing a text costs more than the rest of a lookup, and callers pass the
 * same literal every time: a small table by the text's address remembers
 * the slot last found for it, and a hit is still confirmed with strcmp
 * (which stops at the first difference), so the key stays the text.
 * A statement still lent out (nested iteration over the same query) is not
 * lent twice: the second caller gets a statement of its own, finalized on
 * release. The cache is the connection's (struct db), used by the one thread
 * using the connection: no lock.
 *
 * Statements in the cache are always reset and unbound, so they hold no read
 * snapshot and no lock: schema changes (migrations), backups and checkpoints
 * on the connection see no active statement. A schema change makes SQLite
 * prepare a cached statement again on its next step. A statement whose last
 * step failed is finalized on release rather than kept, and prepared afresh
 * on next use.
 */
#include "store/stmt_cache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "store/db_driver.h"
#include "store/store.h"

#define STMT_SLOTS 512 /* a power of two, twice STMT_MAX: probes stay short */
#define STMT_MAX 256 /* texts per connection; the store has about 150 */
#define STMT_BY_ADDR 256 /* the address memo's entries: 2^8, indexed by 8 bits of a hash */

struct stmt_slot {
	char *ss_sql; /* our copy of the text; NULL: free slot */
	uint32_t ss_hash;
	int ss_lent; /* handed out by store_prepare, not yet released */
	struct db_stmt *ss_stmt; /* NULL: not prepared (yet, or again after a failure) */
};

struct stmt_cache {
	unsigned sc_texts; /* slots holding a text */
	struct stmt_slot *sc_by_addr[STMT_BY_ADDR]; /* the slot last found for a text at that address, or NULL */
	struct stmt_slot sc_slots[STMT_SLOTS];
};

struct stmt_cache *stmt_cache_new(void)
{
	return xcalloc(1, sizeof(struct stmt_cache));
}

static void stmt_free(struct db_stmt *s)
{
	s->ds_db->db_drv->dr_finalize(s->ds_impl);
	free(s);
}

void stmt_cache_free(struct db *db)
{
	struct stmt_cache *c = db->db_cache;

	if (c == NULL)
		return;
	for (size_t i = 0; i < STMT_SLOTS; i++) {
		if (c->sc_slots[i].ss_stmt != NULL)
			stmt_free(c->sc_slots[i].ss_stmt);
		free(c->sc_slots[i].ss_sql);
	}
	free(c);
	db->db_cache = NULL;
}

unsigned stmt_cache_count(struct db *db)
{
	struct stmt_cache *c = db->db_cache;
	unsigned n = 0;

	for (size_t i = 0; c != NULL && i < STMT_SLOTS; i++)
		n += c->sc_slots[i].ss_stmt != NULL;
	return n;
}

static uint32_t stmt_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* The slot of sql's text: the one holding it, else a free one now holding
 * it (not prepared yet). NULL when the cache is full. */
static struct stmt_slot *stmt_cache_slot(struct stmt_cache *c, const char *sql)
{
	uint64_t addr = (uint64_t)(uintptr_t)sql;
	struct stmt_slot **memo = &c->sc_by_addr[(addr * 0x9e3779b97f4a7c15u) >> 56]; /* Fibonacci hashing: 8 bits */
	struct stmt_slot *slot = *memo;
	uint32_t h;

	if (slot != NULL && strcmp(slot->ss_sql, sql) == 0)
		return slot;
	h = stmt_hash(sql);
	for (uint32_t i = h;; i++) {
		slot = &c->sc_slots[i & (STMT_SLOTS - 1)];
		if (slot->ss_sql == NULL)
			break;
		if (slot->ss_hash == h && strcmp(slot->ss_sql, sql) == 0)
			return *memo = slot;
	}
	/* Texts are never removed, so the first free slot ends every probe. */
	if (c->sc_texts == STMT_MAX)
		return NULL;
	c->sc_texts++;
	slot->ss_sql = xstrdup(sql);
	slot->ss_hash = h;
	return *memo = slot;
}

/* A new statement object for sql on db, prepared by the driver. */
static int stmt_new(struct db *db, const char *sql, int keep, struct db_stmt **out, bbb_status *st)
{
	struct db_stmt *s = xcalloc(1, sizeof(*s));
	int rc;

	s->ds_db = db;
	rc = db->db_drv->dr_prepare(db, sql, keep, &s->ds_impl);
	if (rc != DB_OK) {
		free(s);
		*out = NULL;
		store_fail(st, db, rc, "prepare");
		return -1;
	}
	*out = s;
	return 0;
}

int store_prepare_once(struct db *db, const char *sql, struct db_stmt **stmt, bbb_status *st)
{
	return stmt_new(db, sql, 0, stmt, st);
}

int store_prepare(struct db *db, const char *sql, struct db_stmt **stmt, bbb_status *st)
{
	struct stmt_cache *c = db->db_cache;
	struct stmt_slot *slot;

	if (c == NULL || (slot = stmt_cache_slot(c, sql)) == NULL || slot->ss_lent)
		return store_prepare_once(db, sql, stmt, st);
	if (slot->ss_stmt == NULL) {
		struct db_stmt *fresh;

		if (stmt_new(db, sql, 1, &fresh, st) != 0) {
			*stmt = NULL;
			return -1;
		}
		fresh->ds_slot = slot;
		slot->ss_stmt = fresh;
	}
	slot->ss_lent = 1;
	*stmt = slot->ss_stmt;
	return 0;
}

void store_release(struct db_stmt *stmt)
{
	struct stmt_slot *slot;

	if (stmt == NULL)
		return;
	slot = stmt->ds_slot;
	if (slot == NULL) {
		stmt_free(stmt);
		return;
	}
	slot->ss_lent = 0;
	/* reset reports the last step's error (and leaves it on the
	 * connection for store_fail, as finalize did). */
	if (stmt->ds_db->db_drv->dr_reset(stmt->ds_impl) != DB_OK) {
		stmt_free(stmt);
		slot->ss_stmt = NULL;
	}
}
