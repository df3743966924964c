/*
 * Fault injection for drills: another connection takes SQLite's write lock
 * and holds it, as a stuck process would (mode db_lock, docs/runtime.md),
 * until its time is up or the faults are cleared (AdminService/ClearFaults).
 */
#ifndef BBB_FAULT_LOCK_H
#define BBB_FAULT_LOCK_H

#include <beebeebrain/status.h>

/* Takes the write lock on `path` (waiting up to 5 s for it) and returns once
 * it is held; a background thread releases it after duration_ms, or earlier
 * when store_fault_release_all stops it. */
int store_fault_hold_lock(const char *path, int duration_ms, bbb_status *st);

/* Stops every injected lock now and waits (up to wait_ms) until each has
 * let go of it. Returns how many were held when it was called. Any thread. */
int store_fault_release_all(int wait_ms);

#endif
