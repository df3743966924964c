/*
 * Fault injection for drills: another connection takes SQLite's write lock
 * and holds it, as a stuck process would (mode db_lock, docs/runtime.md).
 */
#ifndef BBB_FAULT_LOCK_H
#define BBB_FAULT_LOCK_H

#include <beebeebrain/status.h>

/* Takes the write lock on `path` (waiting up to 5 s for it) and returns once
 * it is held; a background thread releases it after duration_ms. */
int store_fault_hold_lock(const char *path, int duration_ms, bbb_status *st);

#endif
