/*
 * The per-connection statement cache behind store_prepare and store_release
 * (store.h). Internal to the store: store_conn_open attaches a cache to every
 * connection it opens and store_conn_close detaches it; a connection opened
 * any other way has none, and store_prepare then prepares afresh each time.
 */
#ifndef BBB_STMT_CACHE_H
#define BBB_STMT_CACHE_H

#include <sqlite3.h>

/* Gives db an empty cache. db must not have one. Any thread. */
void stmt_cache_attach(sqlite3 *db);
/* Finalizes every statement db's cache holds (lent ones too: the connection
 * is going away) and forgets the cache. No-op when db has none. Any thread,
 * but nobody may use db meanwhile. */
void stmt_cache_detach(sqlite3 *db);

/* How many statements db's cache holds prepared right now (lent or idle);
 * 0 when it has no cache. For tests. */
unsigned stmt_cache_count(sqlite3 *db);

#endif
