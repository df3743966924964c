/*
 * update_mask: presence for partial updates. protobuf-c 1.4 has no proto3
 * `optional`, so UpdateTask and UpdateAgent carry the new values plus the
 * names of the fields to change (docs/protocol.md, Conventions). Pure: no I/O.
 */
#ifndef BBB_UPDATE_MASK_H
#define BBB_UPDATE_MASK_H

#include <stddef.h>

#include <beebeebrain/status.h>

/* Checks `mask` (n names) against `allowed` (n_allowed names, at most 32):
 * at least one name, each one allowed, none twice. Sets bit i of *bits for
 * each allowed[i] named. Every offending entry is a violation on
 * "update_mask"; returns 0 or -1. */
int update_mask_parse(bbb_status *st, char *const *mask, size_t n, const char *const *allowed, size_t n_allowed,
		      unsigned *bits);

#endif
