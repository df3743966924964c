#!/usr/bin/env bash
# Style and static checks: clang-format (no changes allowed), clang-tidy
# (.clang-tidy, over the compile database), cppcheck, and for proto/ buf lint
# and buf breaking. Exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh --lint
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null  # generated headers for the analysers

mapfile -t sources < <(git ls-files '*.c' '*.h')
status=0

echo "lint: clang-format (${#sources[@]} files)"
clang-format --dry-run --Werror "${sources[@]}" || status=1

echo "lint: clang-tidy"
mapfile -t units < <(git ls-files 'src/*.c')
clang-tidy -p build --quiet "${units[@]}" 2>/dev/null | grep -E "warning:|error:" && status=1

echo "lint: cppcheck"
cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance --inline-suppr \
  --suppress=missingIncludeSystem -D_GNU_SOURCE -DBBB_VERSION=\"0\" \
  -DPROTOBUF_C_VERSION_NUMBER=1004001 -DPROTOBUF_C_MIN_COMPILER_VERSION=1000000 \
  -I src -I include -I build/gen src || status=1

# The allocation policy (src/common/xalloc.h) and the bounded buffer
# (src/common/dbuf.h): no raw allocation and no `used += snprintf(...)`.
echo "lint: allocation and string-building policy"
if git grep -nE '(^|[^A-Za-z0-9_.>x])(malloc|calloc|realloc|strdup|strndup|v?asprintf)\(' -- 'src/*.c' \
    ':!src/common/xalloc.c' | grep -v '^[^:]*:[0-9]*:\s*\*'; then
  echo "lint: use xmalloc/xcalloc/xrealloc/xstrdup/xstrndup/xasprintf (src/common/xalloc.h)"; status=1
fi
if git grep -nE '\+= *\(?(size_t)?\)? *v?snprintf' -- 'src/*.c'; then
  echo "lint: build strings with src/common/dbuf.h"; status=1
fi

# Layers (README.md, "Where things live"): SQL lives in src/store/ only, and the
# environment is read once, by the server's configuration (src/server/config.c)
# and the client side (src/client/, src/cli/), never by the layers below.
echo "lint: SQL only in src/store/, environment only in config, client and CLI"
if git grep -nE 'sqlite3_(prepare|step|exec|bind)' -- 'src/*.c' ':!src/store/*'; then
  echo "lint: SQL belongs in a named function of src/store/"; status=1
fi
if git grep -nE 'sqlite3_finalize\(' -- 'src/store/*.c' ':!src/store/db_sqlite.c' ':!src/store/migrate.c' \
    ':!src/store/backup.c'; then
  echo "lint: a statement from store_prepare goes back with store_release (the cache keeps it; finalizing leaves a dangling entry)"; status=1
fi
if git grep -nE '(secure_)?getenv\(' -- 'src/*.c' ':!src/server/config.c' ':!src/client/*' ':!src/cli/*'; then
  echo "lint: read settings in src/server/config.c (struct config) and pass them down"; status=1
fi

# The repository stands alone: no file may send its reader to documents the
# users do not have (the team's specification and its sections, its style
# guide and notes). Say it in docs/ and point there. The patterns are
# bracketed so that this script does not match itself. The one exception,
# migrations/0001_init.up.sql, is applied in every database with a checksum of
# its text, comments included, so it cannot change (docs/decisions.md,
# "Migration checksums").
echo "lint: references that resolve inside the repository"
if git grep -nE '[.][.]/shared|(^|[^A-Za-z0-9_])S[P]EC([^A-Za-z0-9_]|$)|STYLE[.]md|NOTES[-]nng|ORIGINAL[-]HTTP' -- \
    ':!migrations/0001_init.up.sql'; then
  echo "lint: these point outside the repository; cite docs/ or the file that defines the rule"; status=1
fi

# The API: every element commented, buf's STANDARD rules (with the exceptions
# buf.yaml lists), and no change that breaks a client of the base commit.
echo "lint: buf lint (proto/, buf.yaml)"
scripts/buf.sh lint || status=1
echo "lint: buf breaking (proto/ against its base, scripts/proto_breaking.sh)"
scripts/proto_breaking.sh || status=1

if [[ $status -eq 0 ]]; then echo "lint: clean"; fi
exit $status
