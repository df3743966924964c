#!/usr/bin/env bash
# Rollback with a backup first: scripts/rollback_with_backup.sh [DB_PATH] [TARGET]
#
#   1. a consistent backup of DB_PATH (through the server when one holds the
#      database, else straight from the file), checked with integrity_check;
#   2. `beebeebrain migrate down` to schema version TARGET (default: one below
#      the current one). This step is offline: stop the server first.
#      SKIP_DOWNGRADE=1 stops after the backup;
#   3. verifies the schema version and prints the backup and what to do next.
#
# The downgrade holds the schema: a `serve` newer than TARGET refuses to start
# on it (SCHEMA_HELD) until `beebeebrain migrate up` or `serve --migrate`, so
# the rollback is not undone by the next start.
#
# DB_PATH is a SQLite file: a PostgreSQL database (postgres://... or
# keyword=value) is refused, as `beebeebrain backup` refuses it; back it up with
# pg_dump and run `beebeebrain migrate down` with the servers stopped
# (docs/runbook.md, section 7).
#
# DB_PATH defaults to $BEEBEEBRAIN_DB, else ./beebeebrain.db. The binary is
# $BEEBEEBRAIN_BIN, else `beebeebrain` on PATH, else the one in build/.
# Exit status: 0 done, 1 a step failed (the message says which; a backup
# already taken is named), 2 usage error.
set -uo pipefail

usage() {
	echo "usage: $0 [DB_PATH] [TARGET]   (SKIP_DOWNGRADE=1 skips the downgrade)" >&2
	exit 2
}

[ $# -le 2 ] || usage
case "${1:-}" in -h | --help) usage ;; esac
DB="${1:-${BEEBEEBRAIN_DB:-./beebeebrain.db}}"
TARGET="${2:-}"
if [ -n "$TARGET" ] && ! [[ "$TARGET" =~ ^[0-9]{1,6}$ ]]; then
	echo "error: TARGET must be a schema version (a number), not '$TARGET'" >&2
	usage
fi

BIN="${BEEBEEBRAIN_BIN:-}"
if [ -z "$BIN" ]; then
	here="$(cd "$(dirname "$0")/.." && pwd)"
	if command -v beebeebrain >/dev/null 2>&1; then
		BIN="$(command -v beebeebrain)"
	elif [ -x "$here/build/beebeebrain" ]; then
		BIN="$here/build/beebeebrain"
	else
		echo "error: no beebeebrain binary: set BEEBEEBRAIN_BIN or put it on PATH" >&2
		exit 1
	fi
fi

# The value of a top-level JSON member (number or string) of the CLI's -o json
# output; proto3 JSON leaves out zero values, hence the default.
json_field() { # NAME DEFAULT < json
	local v
	v="$(sed -n "s/^  \"$1\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}\$/\1/p" | head -n 1)"
	echo "${v:-$2}"
}

schema_version() {
	local out
	out="$("$BIN" -o json migrate status --db "$DB")" || return 1
	json_field current_version 0 <<<"$out"
}

# The applied versions, ascending, one a line (from the status table: VERSION
# NAME APPLIED ...). Versions need not be contiguous.
applied_versions() {
	"$BIN" migrate status --db "$DB" | awk '$1 ~ /^[0-9]+$/ && $3 == "true" { print $1 }'
}

# The server's rule (docs/scale-out.md): a libpq URI or keyword=value string
# is PostgreSQL. Not echoed: a URI may hold a password.
if [[ "$DB" =~ ^postgres(ql)?:// || "$DB" =~ ^[a-z_]+= ]]; then
	echo "error: DB_PATH names a PostgreSQL database; this script copies SQLite files. Back it up with" \
		"\`pg_dump -Fc\`, stop the servers, then run \`$BIN migrate down N --db ...\` (docs/runbook.md," \
		"section 7); nothing was changed" >&2
	exit 1
fi

if [ ! -e "$DB" ]; then
	echo "error: database $DB does not exist" >&2
	exit 1
fi

echo "== 1/3 backup of $DB"
if ! backup_json="$("$BIN" -o json backup --db "$DB")"; then
	echo "error: the backup failed; nothing was changed" >&2
	exit 1
fi
BACKUP="$(json_field path "" <<<"$backup_json")"
SIZE="$(json_field size_bytes 0 <<<"$backup_json")"
INTEGRITY="$(json_field integrity "" <<<"$backup_json")"
echo "backup: $BACKUP ($SIZE bytes, integrity $INTEGRITY)"
if [ "$INTEGRITY" != "ok" ] || [ ! -s "$BACKUP" ]; then
	echo "error: the backup $BACKUP did not pass its integrity check; nothing was changed" >&2
	exit 1
fi

if ! CURRENT="$(schema_version)"; then
	echo "error: cannot read the schema version of $DB; the backup is $BACKUP" >&2
	exit 1
fi
if ! APPLIED="$(applied_versions)"; then
	echo "error: cannot list the migrations of $DB; the backup is $BACKUP" >&2
	exit 1
fi
# Default: the version one `migrate down` leaves (the second highest applied).
if [ -z "$TARGET" ]; then
	TARGET="$(tail -n 2 <<<"$APPLIED" | head -n 1)"
	[ "$(grep -c . <<<"$APPLIED")" -ge 2 ] || TARGET=0
fi

if [ "${SKIP_DOWNGRADE:-0}" = "1" ]; then
	echo "== 2/3 downgrade skipped (SKIP_DOWNGRADE=1): schema version stays $CURRENT"
	echo "== 3/3 result"
	echo "backup: $BACKUP"
	echo "next: to roll the data back, stop the server and run: $BIN restore $BACKUP --db $DB"
	exit 0
fi

if [ "$TARGET" -ge "$CURRENT" ]; then
	echo "error: schema version of $DB is $CURRENT; TARGET $TARGET is not below it (nothing to downgrade); the backup is $BACKUP" >&2
	exit 1
fi

STEPS="$(awk -v t="$TARGET" '$1 > t' <<<"$APPLIED" | grep -c .)"
echo "== 2/3 downgrade $DB from schema version $CURRENT to $TARGET ($STEPS migration(s) to revert)"
if ! "$BIN" migrate down "$STEPS" --db "$DB"; then
	echo "error: the downgrade failed (a server holding the database must be stopped first); the backup is $BACKUP" >&2
	exit 1
fi

echo "== 3/3 verify"
# TARGET need not be a version of its own: nothing above it may be left.
if ! NOW="$(schema_version)" || [ "$NOW" -gt "$TARGET" ]; then
	echo "error: schema version of $DB is ${NOW:-unknown}, expected $TARGET or below; the backup is $BACKUP" >&2
	exit 1
fi
echo "schema version $NOW (held: a newer serve refuses to start on it until told to migrate)"
echo "backup: $BACKUP"
echo "next: start the binary that matches schema version $NOW, or go forward again with"
echo "      $BIN migrate up --db $DB   (or: serve --migrate)"
echo "      to return to the data as it was before the rollback: $BIN restore $BACKUP --db $DB"
