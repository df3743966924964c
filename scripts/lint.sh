#!/usr/bin/env bash
# Style and static checks: clang-format (no changes allowed), clang-tidy
# (.clang-tidy, over the compile database), cppcheck. Exits non-zero on any finding.
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

if [[ $status -eq 0 ]]; then echo "lint: clean"; fi
exit $status
