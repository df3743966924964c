#!/usr/bin/env bash
# Runs a command inside a throw-away PostgreSQL cluster and removes the cluster
# afterwards, whatever the command did; its exit status is passed through.
#   tests/pg/with_cluster.sh CMD [ARGS...]
# CMD sees PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE (libpq, psql and
# psycopg2 read them), so an empty connection string reaches the cluster.
#
# The cluster is initdb's in a private temp dir and listens on a Unix socket
# in that dir only, never on TCP: clusters of tests run side by side
# (ctest -j) cannot collide on a port, and none touches Debian's own "main"
# cluster. (pg_virtualenv probes for a free port and then starts the server;
# two started at once can pick the same one.) The postmaster is this script's
# child, not a daemon, so a runner that kills the test's process tree kills
# the server too. As root the server runs as the postgres user (it refuses
# root). Locale C and UTF8: text compares by bytes, like SQLite's BINARY.
# fsync off: the data is thrown away.
set -euo pipefail

if [[ $# -eq 0 ]]; then
  echo "usage: tests/pg/with_cluster.sh CMD [ARGS...]" >&2
  exit 2
fi

# The server binaries: pg_config's bindir (Debian's libpq-dev), else the
# newest /usr/lib/postgresql/<version>/bin.
bindir=$(pg_config --bindir 2>/dev/null || true)
if [[ ! -x "$bindir/initdb" ]]; then
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
fi
if [[ ! -x "$bindir/initdb" ]]; then
  echo "with_cluster: no PostgreSQL server binaries (initdb); run scripts/install-deps.sh" >&2
  exit 2
fi

as_owner=()
if [[ $(id -u) -eq 0 ]]; then
  as_owner=(setpriv --reuid=postgres --regid=postgres --init-groups --)
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/bbb-pg.XXXXXX")
pgpid=
cmdpid=

cleanup() {
  local rc=$?

  trap - EXIT INT TERM HUP
  if [[ -n "$cmdpid" ]] && kill -0 "$cmdpid" 2>/dev/null; then
    kill -TERM "$cmdpid" 2>/dev/null || true
    wait "$cmdpid" 2>/dev/null || true
  fi
  if [[ -n "$pgpid" ]]; then
    # SIGINT: fast shutdown (open sessions are ended, nothing waits for them).
    kill -INT "$pgpid" 2>/dev/null || true
    wait "$pgpid" 2>/dev/null || true
  fi
  rm -rf "$dir"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# The socket and data live in $dir; as root it belongs to the server's user.
if [[ ${#as_owner[@]} -gt 0 ]]; then
  chown postgres:postgres "$dir"
fi
password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$password" >"$dir/pwfile"
(cd "$dir" && "${as_owner[@]}" "$bindir/initdb" --pgdata="$dir/data" --username=postgres --pwfile="$dir/pwfile" \
  --auth=scram-sha-256 --encoding=UTF8 --locale=C --no-sync --no-instructions >"$dir/initdb.log" 2>&1) || {
  cat "$dir/initdb.log" >&2
  exit 2
}
rm -f "$dir/pwfile"

"${as_owner[@]}" "$bindir/postgres" -D "$dir/data" -k "$dir" -p 5432 -c listen_addresses= -c fsync=off \
  -c synchronous_commit=off -c full_page_writes=off -c logging_collector=off >"$dir/server.log" 2>&1 &
pgpid=$!

export PGHOST="$dir" PGPORT=5432 PGUSER=postgres PGPASSWORD="$password" PGDATABASE=postgres
unset PGHOSTADDR PGSERVICE PGSERVICEFILE PGPASSFILE PGOPTIONS PGSSLMODE PGCONNECT_TIMEOUT

# Ready when it accepts connections; a server that exits instead has failed.
for ((i = 0; ; i++)); do
  if "$bindir/pg_isready" -q; then
    break
  fi
  if ! kill -0 "$pgpid" 2>/dev/null || [[ $i -ge 600 ]]; then
    echo "with_cluster: the server did not start:" >&2
    cat "$dir/server.log" >&2
    exit 2
  fi
  sleep 0.05
done

# CMD runs in the background so that a signal to this script runs the
# cleanup at once (bash defers traps until a foreground child returns).
rc=0
"$@" <&0 &
cmdpid=$!
wait "$cmdpid" || rc=$?
cmdpid=
if [[ $rc -ne 0 ]]; then
  echo "with_cluster: $1 exited with status $rc; the server's log ends with:" >&2
  tail -n 40 "$dir/server.log" >&2
fi
exit "$rc"
