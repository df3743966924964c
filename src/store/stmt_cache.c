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
 * release.
 *
 * Finding a connection's cache: SQLite 3.40 has no user-data slot on a
 * connection, so caches sit in a registry keyed by the sqlite3 pointer,
 * under a mutex. The hot path does not take it: each thread remembers the
 * last connection it looked up (a connection is used by one thread at a time,
 * and a thread mostly uses one), valid while the registry's generation has not
 * moved. Every attach and detach bumps the generation, so a memo can never
 * name a closed connection, or a new one that reuses a closed one's address.
 *
 * Statements in the cache are always reset and unbound, so they hold no read
 * snapshot and no lock: schema changes (migrations), backups and checkpoints
 * on the connection see no active statement. A schema change makes SQLite
 * prepare a cached statement again on its next step. A statement whose last
 * step failed is finalized on release rather than kept, and prepared afresh
 * on next use.
 */
#include "store/stmt_cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "store/store.h"

#define STMT_SLOTS 512 /* a power of two, twice STMT_MAX: probes stay short */
#define STMT_MAX 256 /* texts per connection; the store has about 150 */
#define STMT_LENT_MAX 16 /* statements lent at once per connection; deeper nesting prepares afresh */
#define STMT_BY_ADDR 256 /* the address memo's entries: 2^8, indexed by 8 bits of a hash */

struct stmt_slot {
	char *ss_sql; /* our copy of the text; NULL: free slot */
	uint32_t ss_hash;
	int ss_lent; /* handed out by store_prepare, not yet released */
	sqlite3_stmt *ss_stmt; /* NULL: not prepared (yet, or again after a failure) */
};

struct stmt_cache {
	sqlite3 *sc_db;
	struct stmt_cache *sc_next; /* registry list, under stmt_registry_mu */
	/* Everything below belongs to the thread using sc_db. */
	unsigned sc_texts; /* slots holding a text */
	unsigned sc_n_lent;
	struct stmt_slot *sc_lent[STMT_LENT_MAX]; /* slots lent out, most recent last */
	struct stmt_slot *sc_by_addr[STMT_BY_ADDR]; /* the slot last found for a text at that address, or NULL */
	struct stmt_slot sc_slots[STMT_SLOTS];
};

static pthread_mutex_t stmt_registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct stmt_cache *stmt_registry; /* under stmt_registry_mu */
/* Written under stmt_registry_mu, read without it. */
static _Atomic uint64_t stmt_registry_gen;

/* The calling thread's last lookup: m_cache is db's cache (NULL: none) as
 * long as the generation is still m_gen. */
static _Thread_local struct {
	sqlite3 *m_db;
	struct stmt_cache *m_cache;
	uint64_t m_gen;
} stmt_memo;

static struct stmt_cache *stmt_cache_of(sqlite3 *db)
{
	struct stmt_cache *c;

	if (stmt_memo.m_db == db && stmt_memo.m_gen == atomic_load_explicit(&stmt_registry_gen, memory_order_acquire))
		return stmt_memo.m_cache;
	pthread_mutex_lock(&stmt_registry_mu);
	for (c = stmt_registry; c != NULL && c->sc_db != db; c = c->sc_next)
		;
	stmt_memo.m_db = db;
	stmt_memo.m_cache = c;
	stmt_memo.m_gen = atomic_load_explicit(&stmt_registry_gen, memory_order_relaxed);
	pthread_mutex_unlock(&stmt_registry_mu);
	return c;
}

void stmt_cache_attach(sqlite3 *db)
{
	struct stmt_cache *c = xcalloc(1, sizeof(*c));

	c->sc_db = db;
	pthread_mutex_lock(&stmt_registry_mu);
	c->sc_next = stmt_registry;
	stmt_registry = c;
	atomic_fetch_add_explicit(&stmt_registry_gen, 1, memory_order_release);
	pthread_mutex_unlock(&stmt_registry_mu);
}

void stmt_cache_detach(sqlite3 *db)
{
	struct stmt_cache **pc, *c;

	pthread_mutex_lock(&stmt_registry_mu);
	for (pc = &stmt_registry; *pc != NULL && (*pc)->sc_db != db; pc = &(*pc)->sc_next)
		;
	c = *pc;
	if (c != NULL)
		*pc = c->sc_next;
	atomic_fetch_add_explicit(&stmt_registry_gen, 1, memory_order_release);
	pthread_mutex_unlock(&stmt_registry_mu);
	if (c == NULL)
		return;
	for (size_t i = 0; i < STMT_SLOTS; i++) {
		sqlite3_finalize(c->sc_slots[i].ss_stmt);
		free(c->sc_slots[i].ss_sql);
	}
	free(c);
}

unsigned stmt_cache_count(sqlite3 *db)
{
	struct stmt_cache *c = stmt_cache_of(db);
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

int store_prepare_once(sqlite3 *db, const char *sql, sqlite3_stmt **stmt, bbb_status *st)
{
	int rc = sqlite3_prepare_v2(db, sql, -1, stmt, NULL);

	if (rc != SQLITE_OK)
		return store_fail(st, db, rc, "prepare");
	return 0;
}

int store_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **stmt, bbb_status *st)
{
	struct stmt_cache *c = stmt_cache_of(db);
	struct stmt_slot *slot;
	int rc;

	if (c == NULL || c->sc_n_lent == STMT_LENT_MAX || (slot = stmt_cache_slot(c, sql)) == NULL || slot->ss_lent)
		return store_prepare_once(db, sql, stmt, st);
	if (slot->ss_stmt == NULL) {
		rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &slot->ss_stmt, NULL);
		if (rc != SQLITE_OK) {
			*stmt = NULL;
			return store_fail(st, db, rc, "prepare");
		}
	}
	slot->ss_lent = 1;
	c->sc_lent[c->sc_n_lent++] = slot;
	*stmt = slot->ss_stmt;
	return 0;
}

/* Takes stmt off c's lent list: its slot, or NULL when c did not lend it. */
static struct stmt_slot *stmt_cache_unlend(struct stmt_cache *c, sqlite3_stmt *stmt)
{
	for (unsigned i = c->sc_n_lent; i-- > 0;) {
		struct stmt_slot *slot = c->sc_lent[i];

		if (slot->ss_stmt != stmt)
			continue;
		c->sc_n_lent--;
		memmove(&c->sc_lent[i], &c->sc_lent[i + 1], (c->sc_n_lent - i) * sizeof(c->sc_lent[0]));
		return slot;
	}
	return NULL;
}

void store_release(sqlite3_stmt *stmt)
{
	struct stmt_cache *c;
	struct stmt_slot *slot;

	if (stmt == NULL)
		return;
	c = stmt_cache_of(sqlite3_db_handle(stmt));
	slot = c != NULL ? stmt_cache_unlend(c, stmt) : NULL;
	if (slot == NULL) {
		sqlite3_finalize(stmt);
		return;
	}
	slot->ss_lent = 0;
	/* reset reports the last step's error (and leaves it on the
	 * connection for store_fail, as finalize did). */
	if (sqlite3_reset(stmt) != SQLITE_OK) {
		sqlite3_finalize(stmt);
		slot->ss_stmt = NULL;
		return;
	}
	sqlite3_clear_bindings(stmt);
}
