/*
 * The per-connection statement cache behind store_prepare and store_release
 * (store.h). Internal to the store: db_wrap (db_driver.h) gives every
 * connection one, db_close frees it.
 */
#ifndef BBB_STMT_CACHE_H
#define BBB_STMT_CACHE_H

struct db;
struct stmt_cache;

struct stmt_cache *stmt_cache_new(void);
/* Finalizes every statement the cache of db holds (lent ones too: the
 * connection is going away) and frees it. */
void stmt_cache_free(struct db *db);

/* How many statements db's cache holds prepared right now (lent or idle).
 * For tests. */
unsigned stmt_cache_count(struct db *db);

#endif
