/* server_state: named integers kept by the server (events_pruned_through, ...). */
#ifndef BBB_STATE_STORE_H
#define BBB_STATE_STORE_H

#include <sqlite3.h>
#include <stdint.h>

#include <beebeebrain/client.h>

/* The value of key, or dflt when it is not set (or cannot be read). */
int64_t store_state_get(sqlite3 *db, const char *key, int64_t dflt);
/* Sets key to max(current, value). */
int store_state_raise(sqlite3 *db, const char *key, int64_t value, bbb_status *st);

#endif
